//! The file commands, as the reference's `chatCommandP` parses them: `/f`/`/file` with
//! `@contact` or `#group` and a path (the rest of the line), `/fr`/`/freceive` with a number
//! and an optional path, `/fc`/`/fcancel` and `/fs`/`/fstatus` with a number. Receive
//! options (`inline=`, `encrypt=`, `approved_relays=`) are not supported.

use super::{Command, ParseError};

/// The rest of `line` after one of `words` and a space.
fn after<'a>(line: &'a str, words: &[&str]) -> Option<&'a str> {
    words
        .iter()
        .find_map(|w| line.strip_prefix(w)?.strip_prefix(' '))
}

fn file_no(s: &str) -> Option<i64> {
    s.parse().ok().filter(|n| *n > 0)
}

/// A file command; `None` when the line is none (other parsers go on).
pub(super) fn parse(line: &str) -> Option<Result<Command, ParseError>> {
    let bad = || Some(Err(ParseError(line.to_owned())));
    if let Some(rest) = after(line, &["/f", "/file"]) {
        let rest = rest.trim_start();
        // Without a path the line is the reference's form we cannot take: named as such.
        let (to, path) = rest.split_once(' ')?;
        let path = path.trim();
        // A name without a prefix is a contact's, as the reference's `chatNameP'`.
        let to = if to.starts_with(['@', '#']) {
            to.to_owned()
        } else {
            format!("@{to}")
        };
        if to.len() < 2 || path.is_empty() {
            return bad();
        }
        return Some(Ok(Command::SendFile {
            to,
            path: path.to_owned(),
        }));
    }
    if let Some(rest) = after(line, &["/fr", "/freceive"]) {
        let rest = rest.trim();
        let (no, path) = match rest.split_once(' ') {
            Some((n, p)) => (n, Some(p.trim())),
            None => (rest, None),
        };
        if path.is_some_and(|p| p.contains('=')) {
            return Some(Ok(Command::Unsupported("/fr options".to_owned())));
        }
        return match file_no(no) {
            Some(id) => Some(Ok(Command::ReceiveFile {
                id,
                path: path.filter(|p| !p.is_empty()).map(str::to_owned),
            })),
            None => bad(),
        };
    }
    for (words, make) in [
        (
            &["/fc", "/fcancel"],
            Command::CancelFile as fn(i64) -> Command,
        ),
        (&["/fs", "/fstatus"], Command::FileStatus),
    ] {
        if let Some(rest) = after(line, words) {
            return match file_no(rest.trim()) {
                Some(id) => Some(Ok(make(id))),
                None => bad(),
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse as parse_line;
    use super::*;

    #[test]
    fn file_commands_parse_as_the_references() {
        assert_eq!(
            parse_line("/f @bob ./tests/fixtures/test.pdf"),
            Ok(Command::SendFile {
                to: "@bob".into(),
                path: "./tests/fixtures/test.pdf".into()
            })
        );
        assert_eq!(
            parse_line("/file #team my file.txt"),
            Ok(Command::SendFile {
                to: "#team".into(),
                path: "my file.txt".into()
            })
        );
        assert_eq!(
            parse_line("/fr 1 ./tests/tmp"),
            Ok(Command::ReceiveFile {
                id: 1,
                path: Some("./tests/tmp".into())
            })
        );
        assert_eq!(
            parse_line("/freceive 12"),
            Ok(Command::ReceiveFile { id: 12, path: None })
        );
        assert_eq!(parse_line("/fc 1"), Ok(Command::CancelFile(1)));
        assert_eq!(parse_line("/fcancel 2"), Ok(Command::CancelFile(2)));
        assert_eq!(parse_line("/fs 3"), Ok(Command::FileStatus(3)));
        assert_eq!(parse_line("/fstatus 3"), Ok(Command::FileStatus(3)));
        assert!(matches!(
            parse_line("/fr 1 inline=on"),
            Ok(Command::Unsupported(_))
        ));
        assert_eq!(
            parse_line("/f bob x"),
            Ok(Command::SendFile {
                to: "@bob".into(),
                path: "x".into()
            })
        );
        assert_eq!(parse_line("/f …"), Ok(Command::Unsupported("/f".into())));
        for bad in ["/f @ x", "/fr x", "/fc 0", "/fs -1"] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
