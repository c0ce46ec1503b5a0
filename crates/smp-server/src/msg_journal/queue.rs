//! One queue's journal files through their lifecycle: opened for writing, loaded at start-up
//! (recovered or rewritten when they disagree with the state), appended to, consumed, and
//! switched from a read-past journal to the write journal.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

use crate::msg_store::{Message, MessageKind};

use super::*;

/// A queue's open files.
#[derive(Debug)]
pub(super) struct Handles {
    pub(super) state: File,
    /// The write journal (also the read journal while their IDs are equal).
    pub(super) write: File,
}

#[derive(Debug)]
pub(super) struct QueueJournal {
    pub(super) dir: PathBuf,
    pub(super) state_path: PathBuf,
    pub(super) st: QueueState,
    /// Bytes in the state file after the last complete line.
    state_len: u64,
    /// Open while the queue is among the most recently used ([`JournalConfig::max_open_queues`]).
    pub(super) handles: Option<Handles>,
    /// When `handles` were opened (an entry of [`MsgJournal`]'s open list).
    pub(super) opened: u64,
    /// Line lengths (newline included) of the pending messages, oldest first.
    lens: VecDeque<u64>,
    /// When a message was last written or read (Unix seconds).
    pub(super) active_at: i64,
}

impl QueueJournal {
    /// Opens a queue that is not in memory for writing, as the reference's `getMsgQueue` for
    /// a write: a missing directory is created; in an existing one a new journal is started
    /// (after [`MsgJournal::close_idle`] or start-up there is no state file; when there is
    /// one, a state line naming the new journal is appended, after a backup when the state
    /// file asks for it, and the old journals are deleted). No directory is made or removed
    /// for a queue that had messages before.
    pub(super) fn open_for_write(
        dir: PathBuf,
        rid: &[u8],
        cfg: &JournalConfig,
    ) -> io::Result<QueueJournal> {
        let spath = state_path(&dir, rid);
        let (old, backup) = if dir.is_dir() {
            read_queue_state(&spath, cfg).unwrap_or_else(|e| {
                // Memory holds no message of this queue: nothing of it can be lost.
                tracing::warn!(error = %e, "message journal: unreadable state of an empty queue, backed up");
                (None, true)
            })
        } else {
            fs::create_dir_all(&dir)?;
            (None, false)
        };
        if let Some(st) = old.as_ref().filter(|st| st.size > 0) {
            tracing::warn!(dir = %dir.display(), size = st.size, "message journal: messages of a queue not loaded at start-up, discarded");
        }
        if backup && spath.exists() {
            backup_queue_state(&dir, &spath, &spath, cfg)?;
        }
        let (id, write) = create_journal(&dir)?;
        let mut q = QueueJournal {
            state_path: spath,
            st: QueueState::new(id),
            state_len: 0,
            handles: None,
            opened: 0,
            lens: VecDeque::new(),
            active_at: now_secs(),
            dir,
        };
        let result = (|| {
            let mut state = append().open(&q.state_path)?;
            q.state_len = state.metadata()?.len();
            if old.is_some() {
                append_state(&mut state, &mut q.state_len, &q.st)?;
            }
            Ok(state)
        })();
        let state = match result {
            Ok(state) => state,
            Err(e) => {
                drop(write);
                remove_journal(&q.dir, &q.st.write.id);
                return Err(e);
            }
        };
        if let Some(st) = &old {
            for id in [&st.read.id, &st.write.id] {
                if *id != q.st.write.id {
                    remove_journal(&q.dir, id);
                }
            }
        }
        q.handles = Some(Handles { state, write });
        Ok(q)
    }

    /// The queue's files, opened again if they were closed.
    fn handles(&mut self) -> io::Result<&mut Handles> {
        if self.handles.is_none() {
            let state = append().open(&self.state_path)?;
            let write = append().open(journal_path(&self.dir, &self.st.write.id))?;
            self.handles = Some(Handles { state, write });
        }
        self.handles
            .as_mut()
            .ok_or_else(|| io::Error::other("journal handles"))
    }

    /// A fresh journal holding `msgs` (used to repair a journal that does not parse).
    fn rewrite(
        dir: PathBuf,
        rid: &[u8],
        msgs: &[Message],
        cfg: &JournalConfig,
    ) -> io::Result<QueueJournal> {
        remove_queue_dir(&dir, rid)?;
        let mut q = QueueJournal::open_for_write(dir, rid, cfg)?;
        let mut text = String::new();
        for m in msgs {
            let start = text.len();
            text.push_str(&journal_line(m));
            text.push('\n');
            q.lens.push_back((text.len() - start) as u64);
        }
        q.handles()?.write.write_all(text.as_bytes())?;
        let (n, bytes) = (msgs.len() as u64, text.len() as u64);
        q.st.write = JournalPos {
            msg_pos: n,
            msg_count: n,
            byte_pos: bytes,
            byte_count: bytes,
            ..q.st.write
        };
        q.st.read.msg_count = n;
        q.st.read.byte_count = bytes;
        q.st.size = n;
        q.st.can_write = !msgs.last().is_some_and(|m| m.kind == MessageKind::Quota);
        let h = q
            .handles
            .as_mut()
            .ok_or_else(|| io::Error::other("journal handles"))?;
        append_state(&mut h.state, &mut q.state_len, &q.st)?;
        Ok(q)
    }

    /// Opens the journal of a queue whose directory exists, returning it and its pending
    /// messages; `None` when the queue has none (its journals are then deleted and its state
    /// backed up, as the reference does when it opens an empty queue at start-up).
    // Over ~100 lines: the recovery cases of the reference's `openJournals` in order (state,
    // missing journals, torn writes, unparsable lines), which share the open files and state.
    pub(super) fn load(
        dir: PathBuf,
        rid: &[u8],
        cfg: &JournalConfig,
    ) -> io::Result<Option<(QueueJournal, Vec<Message>)>> {
        let spath = state_path(&dir, rid);
        let (st, backup) = read_queue_state(&spath, cfg)?;
        let mut st = match st {
            Some(st) if st.size > 0 => st,
            st => {
                reset_queue_files(&dir, &spath, st.as_ref(), backup, cfg)?;
                return Ok(None);
            }
        };
        let loaded = st.clone();
        let rpath = journal_path(&dir, &st.read.id);
        let wpath = journal_path(&dir, &st.write.id);
        let same = st.read.id == st.write.id;
        let mut short = false;
        // Missing journals are recovered as the reference's `openJournals` does.
        if !rpath.exists() {
            if same || !wpath.exists() {
                tracing::error!(dir = %dir.display(), "message journal: no journal file, queue emptied");
                reset_queue_files(&dir, &spath, Some(&st), true, cfg)?;
                return Ok(None);
            }
            tracing::error!(dir = %dir.display(), "message journal: no read journal, reading the write journal");
            st.read = JournalPos {
                msg_pos: 0,
                byte_pos: 0,
                ..st.write.clone()
            };
            st.size = st.write.msg_count;
            short |= matches!(fix_file_size(&wpath, st.write.byte_pos)?, FileSize::Short);
        } else if same {
            short |= matches!(fix_file_size(&rpath, st.write.byte_pos)?, FileSize::Short);
        } else {
            short |= matches!(fix_file_size(&rpath, st.read.byte_count)?, FileSize::Short);
            if wpath.exists() {
                short |= matches!(fix_file_size(&wpath, st.write.byte_pos)?, FileSize::Short);
            } else {
                tracing::error!(dir = %dir.display(), "message journal: no write journal, writing to the read journal");
                st.write = JournalPos {
                    msg_pos: st.read.msg_count,
                    byte_pos: st.read.byte_count,
                    ..st.read.clone()
                };
                st.size = st.read.msg_count - st.read.msg_pos;
            }
        }
        let same = st.read.id == st.write.id;
        let mut msgs = Vec::new();
        let mut lens = VecDeque::new();
        let mut bad = 0;
        if !short {
            let rpath = journal_path(&dir, &st.read.id);
            let end = if same {
                st.write.byte_pos
            } else {
                st.read.byte_count
            };
            bad += parse_lines(
                &read_range(&rpath, st.read.byte_pos, end)?,
                &mut msgs,
                &mut lens,
            );
            if !same {
                let wpath = journal_path(&dir, &st.write.id);
                bad += parse_lines(
                    &read_range(&wpath, 0, st.write.byte_pos)?,
                    &mut msgs,
                    &mut lens,
                );
            }
        }
        if short || bad > 0 || msgs.len() as u64 != st.size {
            tracing::warn!(
                dir = %dir.display(),
                bad,
                found = msgs.len(),
                expected = st.size,
                "message journal: journal does not match its state, rewritten with the messages that parse"
            );
            if msgs.is_empty() {
                reset_queue_files(&dir, &spath, Some(&st), true, cfg)?;
                return Ok(None);
            }
            let q = QueueJournal::rewrite(dir, rid, &msgs, cfg)?;
            return Ok(Some((q, msgs)));
        }
        let (state, state_len) = if backup {
            let temp = with_suffix(&spath, ".bak");
            fs::rename(&spath, &temp)?;
            let mut f = append().open(&spath)?;
            let mut len = 0;
            append_state(&mut f, &mut len, &st)?;
            backup_queue_state(&dir, &spath, &temp, cfg)?;
            (f, len)
        } else {
            let mut f = append().open(&spath)?;
            let mut len = f.metadata()?.len();
            if st != loaded {
                append_state(&mut f, &mut len, &st)?;
            }
            (f, len)
        };
        let write = append().open(journal_path(&dir, &st.write.id))?;
        Ok(Some((
            QueueJournal {
                dir,
                state_path: spath,
                st,
                state_len,
                handles: Some(Handles { state, write }),
                opened: 0,
                lens,
                active_at: now_secs(),
            },
            msgs,
        )))
    }

    /// Appends one message line and the new state, or, when either write fails, leaves both
    /// files and the state as they were (as far as the file system lets us cut them back), so
    /// that the refused message is not restored later and the next line starts clean.
    pub(super) fn append_line(
        &mut self,
        line: &[u8],
        quota: bool,
        cfg: &JournalConfig,
    ) -> io::Result<()> {
        self.handles()?;
        self.active_at = now_secs();
        let before = self.st.clone();
        let len = line.len() as u64;
        // A full journal that is also the read journal: start a new write journal.
        let mut switched = None;
        if self.st.write.id == self.st.read.id && self.st.write.msg_count >= cfg.max_msg_count {
            let (id, f) = create_journal(&self.dir)?;
            self.st.write = JournalPos::new(id);
            switched = Some(f);
        }
        let w = &mut self.st.write;
        w.msg_pos += 1;
        w.msg_count = w.msg_pos;
        w.byte_pos += len;
        w.byte_count = w.byte_pos;
        if self.st.read.id == self.st.write.id {
            self.st.read.msg_count = self.st.write.msg_count;
            self.st.read.byte_count = self.st.write.byte_count;
        }
        self.st.can_write = !quota;
        self.st.size += 1;
        let Some(h) = self.handles.as_mut() else {
            self.st = before;
            return Err(io::Error::other("journal handles"));
        };
        let file = switched.as_mut().unwrap_or(&mut h.write);
        let result = file
            .write_all(line)
            .and_then(|()| append_state(&mut h.state, &mut self.state_len, &self.st));
        match result {
            Ok(()) => {
                if let Some(f) = switched {
                    h.write = f;
                }
                self.lens.push_back(len);
                Ok(())
            }
            Err(e) => {
                match switched {
                    Some(f) => {
                        drop(f);
                        let _ = fs::remove_file(journal_path(&self.dir, &self.st.write.id));
                    }
                    None => {
                        let _ = h.write.set_len(before.write.byte_pos);
                    }
                }
                self.st = before;
                Err(e)
            }
        }
    }

    /// Advances the read position past `n` messages; a read journal read to its end is
    /// deleted (after the state saying so is written) and reading goes on in the write one.
    pub(super) fn consume(&mut self, n: usize) -> io::Result<()> {
        self.handles()?;
        self.active_at = now_secs();
        let mut done = Vec::new();
        for _ in 0..n {
            let Some(len) = self.lens.pop_front() else {
                break;
            };
            self.switch_read(&mut done);
            let r = &mut self.st.read;
            r.msg_pos += 1;
            r.byte_pos += len;
            self.st.size = self.st.size.saturating_sub(1);
        }
        // The reference switches when it peeks the next message, just after the ACK.
        if !self.lens.is_empty() {
            self.switch_read(&mut done);
        }
        let h = self
            .handles
            .as_mut()
            .ok_or_else(|| io::Error::other("journal handles"))?;
        append_state(&mut h.state, &mut self.state_len, &self.st)?;
        for id in done {
            let path = journal_path(&self.dir, &id);
            if let Err(e) = fs::remove_file(&path) {
                tracing::error!(path = %path.display(), error = %e, "message journal: remove read journal");
            }
        }
        Ok(())
    }

    fn switch_read(&mut self, done: &mut Vec<String>) {
        let (r, w) = (&self.st.read, &self.st.write);
        if r.msg_pos >= r.msg_count && r.id != w.id {
            done.push(r.id.clone());
            self.st.read = JournalPos {
                msg_pos: 0,
                byte_pos: 0,
                ..w.clone()
            };
        }
    }
}
