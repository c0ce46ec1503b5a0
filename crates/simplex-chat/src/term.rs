//! The line editor of an interactive terminal (`rustyline`): a prompt that shows where a
//! line without a command goes (`@bob> `), history (kept in the chat database by the caller),
//! lines of any length (read in raw mode, not cut at the terminal's 4,095-byte line limit),
//! output printed above the line being typed without disturbing it, and Ctrl-C / Ctrl-D
//! reported as a request to quit.
//!
//! `rustyline` reads blocking, so it runs on a thread of its own: the caller asks for a line
//! with a prompt ([`LineEditor::ask`]) and awaits it ([`LineEditor::next`], cancel-safe, for
//! `select!` with agent events). Output goes through [`TermOutput`] while the editor owns
//! the terminal.

use std::sync::{mpsc, Arc, Mutex};

use rustyline::config::Config;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::chat::Output;
use crate::view;

/// What the editor read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line (without its end).
    Line(String),
    /// Ctrl-C, Ctrl-D on an empty line, or the terminal is gone: quit.
    Quit,
}

/// The prompt for a line that continues `chat`: `@bob> `, `#team> ` for a group (a chat
/// `#team`), or `> ` without a chat.
pub fn prompt(chat: Option<&str>) -> String {
    match chat {
        Some(chat) => format!("{}> ", view::chat_ref(chat)),
        None => "> ".to_owned(),
    }
}

/// The editor thread's handle.
#[derive(Debug)]
pub struct LineEditor {
    prompts: mpsc::Sender<String>,
    lines: UnboundedReceiver<Input>,
}

type Printer = Box<dyn ExternalPrinter + Send>;

/// Prints above the line being edited.
pub struct TermOutput {
    printer: Arc<Mutex<Printer>>,
}

impl std::fmt::Debug for TermOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermOutput").finish_non_exhaustive()
    }
}

impl Output for TermOutput {
    fn lines(&mut self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let mut text = lines.join("\n");
        text.push('\n');
        if let Ok(mut p) = self.printer.lock() {
            let _ = p.print(text);
        }
    }
}

impl LineEditor {
    /// Starts the editor on the terminal with this history (oldest first). Fails when
    /// standard input or output is not a terminal.
    pub fn start(history: &[String]) -> Result<(LineEditor, TermOutput), String> {
        let config = Config::builder()
            .max_history_size(usize::try_from(crate::store::HISTORY_LIMIT).unwrap_or(usize::MAX))
            .map_err(|e| e.to_string())?
            .auto_add_history(false)
            .bracketed_paste(true)
            .build();
        let mut editor: Editor<(), DefaultHistory> =
            Editor::with_config(config).map_err(|e| e.to_string())?;
        for l in history {
            let _ = editor.add_history_entry(l.as_str());
        }
        let printer = editor
            .create_external_printer()
            .map_err(|e| e.to_string())?;
        let (prompt_tx, prompt_rx) = mpsc::channel::<String>();
        let (line_tx, line_rx) = unbounded_channel();
        std::thread::Builder::new()
            .name("line-editor".into())
            .spawn(move || {
                // One line per prompt asked for; ends when the caller drops its handle.
                while let Ok(p) = prompt_rx.recv() {
                    let input = match editor.readline(p.as_str()) {
                        Ok(line) => {
                            if !line.trim().is_empty() {
                                let _ = editor.add_history_entry(line.as_str());
                            }
                            Input::Line(line)
                        }
                        Err(ReadlineError::Interrupted | ReadlineError::Eof) => Input::Quit,
                        Err(_) => Input::Quit,
                    };
                    let quit = input == Input::Quit;
                    if line_tx.send(input).is_err() || quit {
                        break;
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok((
            LineEditor {
                prompts: prompt_tx,
                lines: line_rx,
            },
            TermOutput {
                printer: Arc::new(Mutex::new(Box::new(printer))),
            },
        ))
    }

    /// Asks for the next line, shown with this prompt.
    pub fn ask(&self, prompt: &str) {
        let _ = self.prompts.send(prompt.to_owned());
    }

    /// The line asked for (cancel-safe); `Quit` when the editor is gone.
    pub async fn next(&mut self) -> Input {
        self.lines.recv().await.unwrap_or(Input::Quit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_names_the_chat() {
        assert_eq!(prompt(None), "> ");
        assert_eq!(prompt(Some("bob")), "@bob> ");
        assert_eq!(prompt(Some("bob smith")), "@'bob smith'> ");
        assert_eq!(prompt(Some("#team")), "#team> ");
    }
}
