//! `smp-server journal import|export|delete`, and the check of the messages log that `start`
//! shares.

use std::fs;
use std::path::Path;

use super::lock::ConfigLock;
use super::prompt::confirm;
use super::settings::Settings;
use super::{fail, Ini, JournalCommand, Paths, INI_FILE, MESSAGES_FILE, STORE_LOG_FILE};
use crate::msg_store::MsgStore;
use crate::store::QueueStore;
use crate::store_log;

/// Who checks the messages log ([`check_messages_log`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LogCheck {
    /// `journal import`: every problem refuses.
    Import,
    /// `start` in memory mode: a line cut short at the end of the file or a message of a
    /// queue that no longer exists refuses unless `--skip-warnings` (then it is said and
    /// the line skipped); a bad line before the end always refuses. No queue IDs are printed
    /// (start output goes to the service's log): the line number says where.
    Start { skip_warnings: bool },
}

/// Checks every line of the messages log before it is loaded: as the reference's
/// `importMessages`, which exits on a line that does not parse and, without
/// `--skip-warnings`, on a message of a queue the store log does not have or a bad last line.
/// The reference exits part way (for `journal import`, with the journal directory half
/// written, so that a second import refuses because the directory exists); checking first
/// leaves nothing to clean up, and the log is untouched.
pub(super) fn check_messages_log(
    file: &Path,
    queues: &QueueStore,
    check: LogCheck,
) -> std::io::Result<()> {
    use base64::Engine as _;
    use std::io::BufRead as _;
    let reader = std::io::BufReader::new(fs::File::open(file)?);
    let mut lines = reader.split(b'\n').enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let last = lines.peek().is_none();
        let parsed = std::str::from_utf8(&line)
            .map_err(|e| e.to_string())
            .and_then(|l| store_log::parse_message_line(l).map_err(|e| e.to_string()));
        let what = match parsed {
            Ok((rid, _)) if queues.find(crate::store::Party::Recipient, &rid).is_none() => {
                match check {
                    LogCheck::Import => {
                        let id = base64::engine::general_purpose::STANDARD.encode(&rid);
                        format!("queue {id} does not exist")
                    }
                    LogCheck::Start { .. } => "the queue does not exist".to_owned(),
                }
            }
            Ok(_) => continue,
            Err(e) => match check {
                LogCheck::Import => {
                    let start =
                        String::from_utf8_lossy(line.get(..100).unwrap_or(&line)).into_owned();
                    format!("parsing error ({e}): {start}")
                }
                LogCheck::Start { .. } if !last => {
                    return Err(fail(format!(
                        "error restoring messages: {} line {}: parsing error ({e})",
                        file.display(),
                        n + 1
                    )));
                }
                LogCheck::Start { .. } => format!("parsing error ({e})"),
            },
        };
        match check {
            LogCheck::Import => {
                return Err(fail(format!(
                    "error restoring messages: {} line {}: {what}\nMessages not imported.",
                    file.display(),
                    n + 1
                )))
            }
            LogCheck::Start {
                skip_warnings: true,
            } => eprintln!(
                "warning restoring messages: {} line {}: {what} (skipped: --skip-warnings)",
                file.display(),
                n + 1
            ),
            LogCheck::Start {
                skip_warnings: false,
            } => {
                return Err(fail(format!(
                    "warning restoring messages: {} line {}: {what}, start with --skip-warnings option to ignore this error",
                    file.display(),
                    n + 1
                )))
            }
        }
    }
    Ok(())
}

/// `smp-server journal import|export|delete`, as the reference's: `import` moves the messages
/// log (`smp-server-messages.log`, renamed to `.bak`) into a new journal directory, `export`
/// writes the journal's pending messages to the messages log (the journal stays), `delete`
/// removes the journal directory. The store log must be enabled and present (the queues).
pub fn journal(paths: &Paths, command: JournalCommand, yes: bool) -> std::io::Result<()> {
    use crate::msg_journal::{MsgJournal, JOURNAL_DIR};
    let ini_path = paths.cfg.join(INI_FILE);
    if !ini_path.exists() {
        return Err(fail(format!(
            "Error: server is not initialized ({} does not exist).\nRun `smp-server init`.",
            ini_path.display()
        )));
    }
    let settings = Settings::from_ini(&Ini::read(&ini_path)?)?;
    let name = match command {
        JournalCommand::Import => "import",
        JournalCommand::Export => "export",
        JournalCommand::Delete => "delete",
    };
    // Held until the command ends: no relay runs on these files meanwhile.
    let _lock = ConfigLock::take(&paths.log, &format!("smp-server journal {name}"))?;
    let dir = paths.log.join(JOURNAL_DIR);
    let file = paths.log.join(MESSAGES_FILE);
    let (dir_exists, file_exists) = (dir.is_dir(), file.exists());
    let (d, f) = (dir.display(), file.display());
    if !settings.store_log {
        return Err(fail("Store log disabled, see `[STORE_LOG] enable`"));
    }
    let store_log = paths.log.join(STORE_LOG_FILE);
    if !store_log.exists() {
        return Err(fail(format!(
            "Store log file {} not found",
            store_log.display()
        )));
    }
    let both = || {
        fail(format!(
            "Error: both {f} file and {d} directory are present.\nConfigure memory storage."
        ))
    };
    let journal_mode = settings.journal_mode;
    let load_queues = || -> std::io::Result<QueueStore> {
        let mut queues = QueueStore::new();
        store_log::replay(&store_log, &mut queues)?;
        Ok(queues)
    };
    match command {
        JournalCommand::Import => {
            if file_exists && dir_exists {
                return Err(both());
            }
            if dir_exists {
                return Err(fail(format!("{d} directory already exists.")));
            }
            if !file_exists {
                return Err(fail(format!("{f} file does not exist.")));
            }
            confirm(
                yes,
                &format!("WARNING: message log file {f} will be imported to journal directory {d}"),
                "Messages not imported",
            )?;
            let queues = load_queues()?;
            check_messages_log(&file, &queues, LogCheck::Import)?;
            let mut msgs = MsgStore::default();
            let stats = store_log::restore_messages(&file, &queues, &mut msgs, None)?;
            let (mut journal, _) = MsgJournal::open(&dir, [])?;
            for (rid, list) in msgs.all() {
                for m in list {
                    journal.append(rid, m)?;
                }
            }
            println!("Import completed");
            println!(
                "Messages stored: {}, skipped: {}, queues: {}",
                stats.stored,
                stats.skipped,
                queues.len()
            );
            println!(
                "{}",
                if journal_mode {
                    "store_messages set to `journal`"
                } else {
                    "store_messages set to `memory`, update it to `journal` in INI file"
                }
            );
        }
        JournalCommand::Export => {
            if file_exists && dir_exists {
                return Err(both());
            }
            if file_exists {
                return Err(fail(format!("{f} file already exists.")));
            }
            confirm(
                yes,
                &format!("WARNING: journal directory {d} will be exported to message log file {f}"),
                "Journal not exported",
            )?;
            let queues = load_queues()?;
            let restored = if dir_exists {
                MsgJournal::open(&dir, queues.queues().map(|q| q.recipient_id))?.1
            } else {
                Vec::new()
            };
            let mut text = String::new();
            let mut n = 0;
            for (rid, list) in &restored {
                for m in list {
                    text.push_str(&store_log::message_line(rid, m));
                    text.push('\n');
                    n += 1;
                }
            }
            fs::write(&file, text)?;
            println!("messages saved: {n}");
            println!("Export completed");
            println!(
                "{}",
                if journal_mode {
                    "store_messages set to `journal`, update it to `memory` in INI file"
                } else {
                    "store_messages set to `memory`, start the server."
                }
            );
        }
        JournalCommand::Delete => {
            if !dir_exists {
                return Err(fail(format!("{d} directory does not exist.")));
            }
            confirm(
                yes,
                &format!(
                    "WARNING: journal directory {d} will be permanently deleted.\nTHIS CANNOT BE UNDONE!"
                ),
                "Messages NOT deleted",
            )?;
            fs::remove_dir_all(&dir)?;
            println!("Deleted all messages in journal {d}");
        }
    }
    Ok(())
}
