//! File operations on a queue's directory: reading the state file's tail, appending state
//! lines, creating and removing journals, cutting torn writes back, backing up state files,
//! and reading queues of the earlier one-level layout.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::msg_store::Message;

use super::*;

/// `s` split into lines as the reference's `B.lines` does (a final newline ends the last
/// line, it does not start an empty one).
pub(super) fn lines(s: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = s.split(|&b| b == b'\n').collect();
    if s.is_empty() || s.ends_with(b"\n") {
        v.pop();
    }
    v
}

pub(super) fn now_secs() -> i64 {
    i64::try_from(now_nanos() / 1_000_000_000).unwrap_or(i64::MAX)
}

pub(super) fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0))
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(super) fn append() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    o
}

/// Reads a queue's state file as the reference's `readQueueState`: a `.bak` left by a backup
/// cut short is moved back first; then the last line of the file's tail that parses, and
/// whether the file should be backed up (too many lines, or the last line was bad). An
/// unparsable line before a bad last line, or an inconsistent state, is an error.
pub fn read_queue_state(
    path: &Path,
    cfg: &JournalConfig,
) -> io::Result<(Option<QueueState>, bool)> {
    let temp = with_suffix(path, ".bak");
    if temp.exists() {
        fs::rename(&temp, path)?;
    }
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, false)),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len > cfg.state_tail_size {
        f.seek(SeekFrom::Start(len - cfg.state_tail_size))?;
    }
    let mut tail = Vec::new();
    f.take(cfg.state_tail_size).read_to_end(&mut tail)?;
    let ls = lines(&tail);
    let Some((last, before)) = ls.split_last() else {
        tracing::warn!(path = %path.display(), "message journal: empty queue state");
        return Ok((None, false));
    };
    let (st, backup) = match QueueState::parse(last) {
        Some(st) => (st, ls.len() > cfg.max_state_lines),
        None => match before.last() {
            None => {
                tracing::warn!(path = %path.display(), "message journal: invalid 1-line queue state");
                return Ok((None, true));
            }
            Some(prev) => {
                tracing::warn!(path = %path.display(), "message journal: invalid last line in queue state, using the previous line");
                let st = QueueState::parse(prev).ok_or_else(|| {
                    io::Error::other(format!(
                        "{}: the last two queue state lines do not parse",
                        path.display()
                    ))
                })?;
                (st, true)
            }
        },
    };
    if !st.is_valid() {
        return Err(io::Error::other(format!(
            "{}: inconsistent queue state: {}",
            path.display(),
            st.to_line()
        )));
    }
    Ok((Some(st), backup))
}

/// Appends a state line; a line cut short by a failed write is cut off again.
pub(super) fn append_state(file: &mut File, file_len: &mut u64, st: &QueueState) -> io::Result<()> {
    let mut line = st.to_line();
    line.push('\n');
    if let Err(e) = file.write_all(line.as_bytes()) {
        let _ = file.set_len(*file_len);
        return Err(e);
    }
    *file_len += line.len() as u64;
    Ok(())
}

/// Creates a new, empty journal file in `dir`; returns its ID and an appending handle.
pub(super) fn create_journal(dir: &Path) -> io::Result<(String, File)> {
    loop {
        let id = new_journal_id();
        match OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(journal_path(dir, &id))
        {
            Ok(f) => return Ok((id, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes a queue's directory: its state file first, so that a crash part way leaves no
/// state pointing at a half-removed journal.
pub(super) fn remove_queue_dir(dir: &Path, rid: &[u8]) -> io::Result<()> {
    match fs::remove_file(state_path(dir, rid)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes a journal file if it is there (errors are logged: a left-over journal is only
/// wasted space, the state no longer names it).
pub(super) fn remove_journal(dir: &Path, journal_id: &str) {
    let path = journal_path(dir, journal_id);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            tracing::error!(path = %path.display(), error = %e, "message journal: remove journal");
        }
        _ => {}
    }
}

/// What the reference does with an empty queue's files when it opens the queue for reading
/// (at start-up, or when an idle queue is expired): the journals of `st` are deleted and the
/// state file is renamed to a timed backup. The directory stays; without a state file the
/// queue is empty, and its next message starts a new state file and journal in it.
pub(super) fn reset_queue_files(
    dir: &Path,
    spath: &Path,
    st: Option<&QueueState>,
    backup: bool,
    cfg: &JournalConfig,
) -> io::Result<()> {
    if let Some(st) = st {
        remove_journal(dir, &st.read.id);
        if st.write.id != st.read.id {
            remove_journal(dir, &st.write.id);
        }
    }
    if (st.is_some() || backup) && spath.exists() {
        backup_queue_state(dir, spath, spath, cfg)?;
    }
    Ok(())
}

/// What checking a journal's length against its recorded end found.
pub(super) enum FileSize {
    Ok,
    /// Shorter than recorded: lines are missing.
    Short,
}

/// Cuts a journal longer than `pos` back to it (a torn write); reports one that is shorter.
pub(super) fn fix_file_size(path: &Path, pos: u64) -> io::Result<FileSize> {
    let f = OpenOptions::new().write(true).open(path)?;
    let len = f.metadata()?.len();
    if len > pos {
        tracing::warn!(path = %path.display(), len, pos, "message journal: file longer than its state, truncating");
        f.set_len(pos)?;
    } else if len < pos {
        tracing::warn!(path = %path.display(), len, pos, "message journal: file shorter than its state");
        return Ok(FileSize::Short);
    }
    Ok(FileSize::Ok)
}

/// The bytes `from..to` of a journal.
pub(super) fn read_range(path: &Path, from: u64, to: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.take(to.saturating_sub(from)).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Parses the journal lines of `data`, appending messages and their line lengths (newline
/// included); returns how many lines did not parse.
pub(super) fn parse_lines(data: &[u8], msgs: &mut Vec<Message>, lens: &mut VecDeque<u64>) -> u64 {
    let mut bad = 0;
    for l in lines(data) {
        match parse_journal_line(l) {
            Some(m) => {
                msgs.push(m);
                lens.push_back(l.len() as u64 + 1);
            }
            None => bad += 1,
        }
    }
    bad
}

/// A queue directory of the one-level layout of earlier versions: its recipient ID and
/// pending messages; `None` when it is not one.
pub(super) fn read_one_level_queue(dir: &Path) -> io::Result<Option<(EntityId, Vec<Message>)>> {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    let Ok(rid) = simplex_encoding::string::base64url_decode(name.as_bytes()) else {
        return Ok(None);
    };
    let text = match fs::read(state_path(dir, &rid)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let state = text
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"))
        .filter_map(|l| {
            let l = std::str::from_utf8(l).ok()?.trim_end();
            let mut parts = l.split(' ');
            let (wj, _) = parts.next()?.strip_prefix("write=")?.split_once(',')?;
            let (rj, read) = parts.next()?.strip_prefix("read=")?.split_once(',')?;
            parts.next()?.strip_prefix("size=")?;
            (wj == rj).then(|| (wj.to_owned(), read.parse::<usize>().ok()))
        })
        .next_back();
    let Some((journal_id, Some(read))) = state else {
        return Ok(None);
    };
    let text = match fs::read(journal_path(dir, &journal_id)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some((rid, Vec::new()))),
        Err(e) => return Err(e),
    };
    let msgs = text
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"))
        .skip(read)
        .filter_map(|l| std::str::from_utf8(l).ok())
        .filter_map(|l| crate::store_log::parse_message_line(l.trim_end()).ok())
        .filter(|(r, _)| *r == rid)
        .map(|(_, m)| m)
        .collect();
    Ok(Some((rid, msgs)))
}

/// Renames the temporary backup `temp` of the state file `spath` to a timed backup and removes
/// old backups: all but the newest `keep_min_backups`, when older than the expiry.
pub(super) fn backup_queue_state(
    dir: &Path,
    spath: &Path,
    temp: &Path,
    cfg: &JournalConfig,
) -> io::Result<()> {
    let now = now_nanos();
    let stamp = crate::store_log::iso8601(now);
    fs::rename(temp, with_suffix(spath, &format!(".{stamp}.bak")))?;
    let Some(name) = spath.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    let prefix = format!("{name}.");
    let mut times: Vec<(i128, PathBuf)> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name();
            let t = file
                .to_str()?
                .strip_prefix(&prefix)?
                .strip_suffix(".bak")
                .and_then(crate::store_log::parse_iso8601)?;
            Some((t, e.path()))
        })
        .collect();
    times.sort();
    let expired = now - i128::from(cfg.expire_backups_after) * 1_000_000_000;
    let removable = times.len().saturating_sub(cfg.keep_min_backups);
    for (t, p) in times.into_iter().take(removable) {
        if t < expired {
            if let Err(e) = fs::remove_file(&p) {
                tracing::error!(path = %p.display(), error = %e, "message journal: remove backup");
            }
        }
    }
    Ok(())
}
