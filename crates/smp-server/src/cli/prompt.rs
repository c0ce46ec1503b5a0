//! The operator's answers: `Continue (Y/n)` confirmations and `init`'s questions, as the
//! reference's `confirmOrExit`, `onOffPrompt` and `withPrompt`. Each reads one line from any
//! reader and writes to any writer, so that tests drive them in memory; the commands pass
//! stdin and stdout.

use std::io::{BufRead, Write};

use super::fail;

/// Reads one answer line without its line ending; the end of input refuses with `on_eof`
/// (no answer is not a yes).
pub(super) fn read_answer(input: &mut impl BufRead, on_eof: &str) -> std::io::Result<String> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Err(fail(on_eof));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Writes `prompt` without a line ending and reads the answer.
pub(super) fn ask(
    input: &mut impl BufRead,
    out: &mut impl Write,
    prompt: &str,
    on_eof: &str,
) -> std::io::Result<String> {
    write!(out, "{prompt}")?;
    out.flush()?;
    read_answer(input, on_eof)
}

/// Prints `warning` and asks `Continue (Y/n): `; only `Y` goes on, anything else (or no
/// answer) refuses with `refused`. With `yes` the warning is printed and nothing asked.
pub(super) fn confirm_with(
    input: &mut impl BufRead,
    out: &mut impl Write,
    yes: bool,
    warning: &str,
    refused: &str,
) -> std::io::Result<()> {
    if yes {
        writeln!(out, "{warning}")?;
        return Ok(());
    }
    let answer = ask(input, out, &format!("{warning}\nContinue (Y/n): "), refused)?;
    if answer == "Y" {
        Ok(())
    } else {
        Err(fail(refused))
    }
}

/// [`confirm_with`] on stdin and stdout.
pub fn confirm(yes: bool, warning: &str, refused: &str) -> std::io::Result<()> {
    confirm_with(
        &mut std::io::stdin().lock(),
        &mut std::io::stdout(),
        yes,
        warning,
        refused,
    )
}

/// A yes/no question with a default (an empty answer), asked again until answered with
/// `y`, `Y`, `n` or `N`; the end of input refuses with `on_eof`.
pub(super) fn on_off_prompt(
    input: &mut impl BufRead,
    out: &mut impl Write,
    prompt: &str,
    default: bool,
    on_eof: &str,
) -> std::io::Result<bool> {
    let hint = if default { " (Yn): " } else { " (yN): " };
    loop {
        match ask(input, out, &format!("{prompt}{hint}"), on_eof)?.as_str() {
            "" => return Ok(default),
            "y" | "Y" => return Ok(true),
            "n" | "N" => return Ok(false),
            _ => writeln!(out, "Invalid input, please enter 'y' or 'n'")?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirm_answer(typed: &str) -> (bool, String) {
        let mut out = Vec::new();
        let ok = confirm_with(
            &mut typed.as_bytes(),
            &mut out,
            false,
            "WARNING: x",
            "NOT done",
        )
        .map_err(|e| assert_eq!(e.to_string(), "NOT done"))
        .is_ok();
        (ok, String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn only_a_capital_y_confirms() {
        assert_eq!(
            confirm_answer("Y\n"),
            (true, "WARNING: x\nContinue (Y/n): ".into())
        );
        assert!(confirm_answer("Y\r\n").0);
        for no in ["n\n", "y\n", "yes\n", "\n", "", " Y\n"] {
            assert!(!confirm_answer(no).0, "{no:?}");
        }
        let mut out = Vec::new();
        confirm_with(&mut "".as_bytes(), &mut out, true, "WARNING: x", "no").expect("-y");
        assert_eq!(out, b"WARNING: x\n");
    }

    #[test]
    fn yes_no_questions_default_and_ask_again() {
        let mut out = Vec::new();
        let mut input = "maybe\n\n".as_bytes();
        assert!(on_off_prompt(&mut input, &mut out, "Enable it", true, "no").expect("answered"));
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "Enable it (Yn): Invalid input, please enter 'y' or 'n'\nEnable it (Yn): "
        );
        let mut input = "Y\nn\n\n".as_bytes();
        let mut out = Vec::new();
        assert!(on_off_prompt(&mut input, &mut out, "a", false, "no").expect("Y"));
        assert!(!on_off_prompt(&mut input, &mut out, "a", true, "no").expect("n"));
        assert!(!on_off_prompt(&mut input, &mut out, "a", false, "no").expect("default"));
        assert!(
            on_off_prompt(&mut input, &mut out, "a", false, "no").is_err(),
            "end of input"
        );
    }
}
