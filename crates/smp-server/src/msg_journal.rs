//! The journal message store (`store_messages = journal` in `[STORE_LOG]`), after the
//! reference's `Server/MsgStore/Journal.hs`: each queue's undelivered messages live in
//! append-only files, so a message the server answered `OK` to survives `kill -9`.
//!
//! Layout, under `<log dir>/messages/`, one directory per queue named by the base64url of
//! its recipient ID:
//! - `messages.<journal id>.log`: one line per stored message (the messages-file line of
//!   [`crate::store_log::message_line`]), appended before `SEND` is answered;
//! - `queue_state.<queue>.log`: an append-only log of the queue's state, one line per
//!   change, `write=<journal id>,<lines written> read=<journal id>,<lines read>
//!   size=<pending>` (the reference's line carries byte positions too); the last line
//!   that parses wins.
//!
//! Acknowledged (and expired) messages advance the read count; a fully read queue's files
//! are removed, and a journal with [`COMPACT_AFTER`] read lines, or any journal at start-up,
//! is rewritten with only its pending messages. A line cut short by a crash is ignored: it
//! was never answered `OK`. This module only persists; [`crate::msg_store::MsgStore`] keeps
//! serving from memory and calls it on every change.
//!
//! A write that fails is cut back (both files to their last complete line) and reported: the
//! message store then refuses the message and `SEND` is answered `ERR INTERNAL`.
//!
//! # Not the reference's format
//!
//! The two servers cannot share a `messages/` directory. What differs (reference:
//! `Server/MsgStore/Journal.hs`, constants in `Server/Env/STM.hs`):
//!
//! - **Directory**: the reference splits the padded base64url recipient ID into 5 parts
//!   (`journalMsgStoreDepth`): four of 2 characters, then the rest, e.g.
//!   `messages/AQ/ID/BA/UG/BwgJ...FhcY/` for the ID bytes 1..=24; ours is one level,
//!   `messages/<whole ID>/`.
//!   [`MsgJournal::open`] refuses a tree with 2-character directories instead of deleting it.
//! - **State file name**: the same, `queue_state.<base64url ID>.log`; the reference also keeps
//!   backups `queue_state.<ID>.log.<ISO 8601 time>.bak` (and a `.log.bak` mid-backup) when the
//!   file passes 16 lines (`maxJournalStateLines`), 2 kept at least, expired after 14 days.
//! - **State line**: reference `write=<id>,<msgPos>,<msgCount>,<bytePos>,<byteCount>
//!   read=<id>,<msgPos>,<msgCount>,<bytePos>,<byteCount> canWrite=<T|F> size=<n>`: read and
//!   write journals may differ, positions are counted in messages *and bytes*, the reader
//!   seeks to `bytePos`, only the last 512 bytes of the file are read (`stateTailSize`), and
//!   the previous line is used only when the last one does not parse. Ours is
//!   `write=<id>,<lines> read=<id>,<lines> size=<n>`, one journal per queue, lines counted,
//!   no byte positions, no `canWrite` (the quota marker in the journal restores it).
//! - **Journal ID**: reference 12 random bytes in base64url (16 characters); ours 16 hex
//!   digits. The file name `messages.<id>.log` is the same.
//! - **Message line**: reference `<msgId> <ts> flags=<T|F> <body>` or `<msgId> <ts> quota`
//!   (base64url with padding, seconds); ours is the messages-log line with `v3 <rid> ` in
//!   front of the same fields.
//! - **Journal switching**: the reference starts a new write journal after 256 messages
//!   (`maxJournalMsgCount`) and deletes the read journal once it is read past; ours rewrites
//!   the journal after 256 reads and at every start-up ([`COMPACT_AFTER`]).
//! - **Start-up**: the reference opens a queue's journal lazily on first use and truncates a
//!   journal longer than its recorded `bytePos` (a torn write); ours reads every journal at
//!   start-up, keeps only whole parsable lines, and rewrites it.
//! - **Errors**: on a failed write the reference answers `ERR STORE <op>, <recipient ID>,
//!   <exception>`; we answer `ERR INTERNAL` (the sender must not learn the recipient ID or a
//!   server path).
//!
//! Switching servers goes through the messages log (`smp-server-messages.log`), whose lines
//! both servers read and write alike: the reference's `smp-server journal export` writes it,
//! and this server imports it into its journal at start (`store_messages = journal`) or loads
//! it in memory mode. The other way there is no export yet: this server's memory mode does not
//! read the journal, so the journal's pending messages cannot reach the reference's
//! `smp-server journal import` (a `journal export` subcommand here is what is missing).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use simplex_encoding::string::{base64url_decode, base64url_encode};

use crate::msg_store::Message;
use crate::store::EntityId;
use crate::store_log::{message_line, parse_message_line};

/// The journal directory's name inside the log directory.
pub const JOURNAL_DIR: &str = "messages";
/// Read lines after which a queue's journal is rewritten without them.
pub const COMPACT_AFTER: u64 = 256;

#[derive(Debug)]
struct QueueJournal {
    dir: PathBuf,
    journal_id: String,
    messages: File,
    state: File,
    /// Bytes in `messages` and `state` after the last complete write (a failed write is cut
    /// back to these).
    messages_len: u64,
    state_len: u64,
    written: u64,
    read: u64,
}

/// Each queue's pending messages, in order, as found at start-up.
pub type Restored = Vec<(EntityId, Vec<Message>)>;

/// The journals of all queues with undelivered messages.
#[derive(Debug)]
pub struct MsgJournal {
    root: PathBuf,
    queues: HashMap<EntityId, QueueJournal>,
}

fn new_journal_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn state_path(dir: &Path, rid: &[u8]) -> PathBuf {
    dir.join(format!("queue_state.{}.log", base64url_encode(rid)))
}

fn messages_path(dir: &Path, journal_id: &str) -> PathBuf {
    dir.join(format!("messages.{journal_id}.log"))
}

fn append() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    o
}

/// A parsed state line: journal ID, lines written, lines read.
fn parse_state(line: &str) -> Option<(String, u64, u64)> {
    let mut parts = line.split(' ');
    let w = parts.next()?.strip_prefix("write=")?;
    let r = parts.next()?.strip_prefix("read=")?;
    let (wj, written) = w.split_once(',')?;
    let (rj, read) = r.split_once(',')?;
    if wj != rj {
        return None;
    }
    Some((wj.to_owned(), written.parse().ok()?, read.parse().ok()?))
}

impl QueueJournal {
    /// Starts a fresh journal in `dir` holding `msgs`.
    fn create(dir: PathBuf, rid: &[u8], msgs: &[Message]) -> io::Result<QueueJournal> {
        fs::create_dir_all(&dir)?;
        let journal_id = new_journal_id();
        let mut text = String::new();
        for m in msgs {
            text.push_str(&message_line(rid, m));
            text.push('\n');
        }
        let mut messages = append().open(messages_path(&dir, &journal_id))?;
        messages.write_all(text.as_bytes())?;
        let messages_len = messages.metadata()?.len();
        let state = append().open(state_path(&dir, rid))?;
        let state_len = state.metadata()?.len();
        let mut q = QueueJournal {
            dir,
            journal_id,
            messages,
            state,
            messages_len,
            state_len,
            written: u64::try_from(msgs.len()).unwrap_or(u64::MAX),
            read: 0,
        };
        q.save_state()?;
        Ok(q)
    }

    fn save_state(&mut self) -> io::Result<()> {
        let line = format!(
            "write={j},{w} read={j},{r} size={s}\n",
            j = self.journal_id,
            w = self.written,
            r = self.read,
            s = self.written.saturating_sub(self.read)
        );
        if let Err(e) = self.state.write_all(line.as_bytes()) {
            // A torn state line would glue itself to the next one; cut it off.
            let _ = self.state.set_len(self.state_len);
            return Err(e);
        }
        self.state_len += line.len() as u64;
        Ok(())
    }

    /// Appends one message line and the new state, or, when either write fails, leaves both
    /// files and the counts as they were (as far as the file system lets us cut them back),
    /// so that the refused message is not restored later and the next line starts clean.
    fn append_line(&mut self, line: &str) -> io::Result<()> {
        let (messages_len, state_len, written) = (self.messages_len, self.state_len, self.written);
        let result = self.messages.write_all(line.as_bytes()).and_then(|()| {
            self.messages_len += line.len() as u64;
            self.written += 1;
            self.save_state()
        });
        if result.is_err() {
            let _ = self.messages.set_len(messages_len);
            let _ = self.state.set_len(state_len);
            self.messages_len = messages_len;
            self.state_len = state_len;
            self.written = written;
        }
        result
    }

    /// The pending messages of the journal in `dir` (read from the files).
    fn load(dir: &Path) -> io::Result<Option<(EntityId, Vec<Message>)>> {
        let mut state = None;
        let mut rid = None;
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(q) = name
                .strip_prefix("queue_state.")
                .and_then(|n| n.strip_suffix(".log"))
            {
                rid = base64url_decode(q.as_bytes()).ok();
                let text = fs::read_to_string(dir.join(name.as_ref()))?;
                // Only whole lines; the last that parses wins.
                state = text
                    .split_inclusive('\n')
                    .filter(|l| l.ends_with('\n'))
                    .filter_map(|l| parse_state(l.trim_end()))
                    .next_back();
            }
        }
        let (Some(rid), Some((journal_id, _, read))) = (rid, state) else {
            return Ok(None);
        };
        let text = match fs::read(messages_path(dir, &journal_id)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let skip = usize::try_from(read).unwrap_or(usize::MAX);
        let msgs = text
            .split_inclusive(|b| *b == b'\n')
            .filter(|l| l.ends_with(b"\n"))
            .skip(skip)
            .filter_map(|l| std::str::from_utf8(l).ok())
            .filter_map(|l| parse_message_line(l.trim_end()).ok())
            .filter(|(r, _)| *r == rid)
            .map(|(_, m)| m)
            .collect();
        Ok(Some((rid, msgs)))
    }
}

impl MsgJournal {
    /// Opens the journal directory `root`, returning each queue's pending messages in order.
    /// Every journal is compacted: rewritten with only its pending messages, or removed.
    pub fn open(root: &Path) -> io::Result<(MsgJournal, Restored)> {
        fs::create_dir_all(root)?;
        let mut journal = MsgJournal {
            root: root.to_path_buf(),
            queues: HashMap::new(),
        };
        let mut restored = Vec::new();
        let mut dirs = Vec::new();
        for entry in fs::read_dir(root)? {
            let dir = entry?.path();
            if dir.is_dir() {
                dirs.push(dir);
            }
        }
        // The reference nests queue directories under 2-character parts of the ID; such a
        // tree holds no journal of ours, and treating it as ours would delete it.
        if let Some(d) = dirs
            .iter()
            .find(|d| d.file_name().is_some_and(|n| n.len() == 2))
        {
            return Err(io::Error::other(format!(
                "{} is a journal directory in the reference server's layout ({} found), which \
                 this server cannot read: export it to the messages log with the reference's \
                 `smp-server journal export` first, then start with it moved away",
                root.display(),
                d.display()
            )));
        }
        for dir in dirs {
            let loaded = QueueJournal::load(&dir)?;
            fs::remove_dir_all(&dir)?;
            if let Some((rid, msgs)) = loaded {
                if !msgs.is_empty() {
                    let q = QueueJournal::create(journal.queue_dir(&rid), &rid, &msgs)?;
                    journal.queues.insert(rid.clone(), q);
                    restored.push((rid, msgs));
                }
            }
        }
        Ok((journal, restored))
    }

    fn queue_dir(&self, rid: &[u8]) -> PathBuf {
        self.root.join(base64url_encode(rid))
    }

    /// Appends a stored message (or quota marker) to its queue's journal. On an error the
    /// message is not in the journal (the caller must not keep or acknowledge it).
    pub fn append(&mut self, rid: &[u8], msg: &Message) -> io::Result<()> {
        if !self.queues.contains_key(rid) {
            let q = QueueJournal::create(self.queue_dir(rid), rid, &[])?;
            self.queues.insert(rid.to_vec(), q);
        }
        let Some(q) = self.queues.get_mut(rid) else {
            return Ok(());
        };
        let mut line = message_line(rid, msg);
        line.push('\n');
        q.append_line(&line)
    }

    /// Records that the first `n` pending messages of a queue were removed (acknowledged or
    /// expired); `pending` are the ones left, for compaction.
    pub fn consumed(&mut self, rid: &[u8], n: usize, pending: &[&Message]) -> io::Result<()> {
        let Some(q) = self.queues.get_mut(rid) else {
            return Ok(());
        };
        q.read += u64::try_from(n).unwrap_or(u64::MAX);
        if q.read >= q.written {
            return self.delete_queue(rid);
        }
        if q.read >= COMPACT_AFTER {
            let owned: Vec<Message> = pending.iter().map(|m| (*m).clone()).collect();
            let dir = q.dir.clone();
            self.queues.remove(rid);
            fs::remove_dir_all(&dir)?;
            let q = QueueJournal::create(dir, rid, &owned)?;
            self.queues.insert(rid.to_vec(), q);
            return Ok(());
        }
        q.save_state()
    }

    /// Removes a queue's journal.
    pub fn delete_queue(&mut self, rid: &[u8]) -> io::Result<()> {
        if let Some(q) = self.queues.remove(rid) {
            match fs::remove_dir_all(&q.dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether this queue has a journal.
    pub fn contains(&self, rid: &[u8]) -> bool {
        self.queues.contains_key(rid)
    }

    /// Queues with a journal.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// Whether no queue has a journal.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg_store::MessageKind;

    fn msg(i: u8) -> Message {
        Message {
            id: vec![i; 24],
            ts: 1_700_000_000 + i64::from(i),
            kind: MessageKind::Message {
                notification: i % 2 == 0,
                body: vec![b'a' + i % 26; usize::from(i) + 1],
            },
        }
    }

    #[test]
    fn appended_messages_survive_reopen_and_consumed_ones_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, restored) = MsgJournal::open(dir.path()).expect("open");
        assert!(restored.is_empty());
        let (a, b) = (vec![1u8; 24], vec![2u8; 24]);
        for i in 0..5 {
            j.append(&a, &msg(i)).expect("append");
        }
        j.append(&b, &msg(9)).expect("append");
        let left = [msg(2), msg(3), msg(4)];
        j.consumed(&a, 2, &left.iter().collect::<Vec<_>>())
            .expect("ack");
        j.consumed(&b, 1, &[]).expect("ack");
        assert_eq!(j.len(), 1, "a fully read journal is removed");
        drop(j);
        let (j, mut restored) = MsgJournal::open(dir.path()).expect("reopen");
        restored.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(restored, vec![(a.clone(), left.to_vec())]);
        assert_eq!(j.len(), 1);
        // Start-up compaction: one journal file holding three lines, read count zero.
        let qdir = dir.path().join(base64url_encode(&a));
        let files: Vec<String> = fs::read_dir(&qdir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        let state = fs::read_to_string(state_path(&qdir, &a)).expect("state");
        assert_eq!(state.lines().count(), 1, "{state}");
        assert!(state.ends_with(",0 size=3\n"), "{state}");
    }

    #[test]
    fn a_journal_tree_of_the_reference_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let qdir = dir.path().join("AQ/ID/BA/UG/BwgJCgsMDQ4PEBESExQVFhcY");
        fs::create_dir_all(&qdir).expect("tree");
        let state = qdir.join("queue_state.AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY.log");
        fs::write(
            &state,
            b"write=x,0,0,0,0 read=x,0,0,0,0 canWrite=T size=0\n",
        )
        .expect("state");
        let e = MsgJournal::open(dir.path()).expect_err("the reference's layout");
        assert!(e.to_string().contains("journal export"), "{e}");
        assert!(state.is_file(), "nothing deleted");
    }

    #[test]
    fn torn_lines_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open(dir.path()).expect("open");
        let a = vec![3u8; 24];
        j.append(&a, &msg(1)).expect("append");
        j.append(&a, &msg(2)).expect("append");
        let q = j.queues.get_mut(&a).expect("queue");
        // A crash in the middle of the next message and of a state line.
        q.messages.write_all(b"v3 AAAA").expect("torn message");
        q.state.write_all(b"write=").expect("torn state");
        drop(j);
        let (_, restored) = MsgJournal::open(dir.path()).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(1), msg(2)])]);
    }

    /// A handle whose every write fails with "no space left on device".
    fn full_device() -> File {
        append().open("/dev/full").expect("/dev/full")
    }

    #[test]
    fn a_failed_append_leaves_nothing_behind_and_the_next_one_starts_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open(dir.path()).expect("open");
        let a = vec![5u8; 24];
        j.append(&a, &msg(1)).expect("append");
        let qdir = dir.path().join(base64url_encode(&a));
        let (mpath, spath) = {
            let q = j.queues.get(&a).expect("queue");
            (messages_path(&qdir, &q.journal_id), state_path(&qdir, &a))
        };
        let sizes = || {
            (
                fs::metadata(&mpath).expect("messages").len(),
                fs::metadata(&spath).expect("state").len(),
            )
        };
        let before = sizes();

        // The message file fails.
        let q = j.queues.get_mut(&a).expect("queue");
        let good = std::mem::replace(&mut q.messages, full_device());
        assert!(
            j.append(&a, &msg(2)).is_err(),
            "the write error is returned"
        );
        let q = j.queues.get_mut(&a).expect("queue");
        q.messages = good;
        assert_eq!(q.written, 1, "the refused message is not counted");
        assert_eq!(sizes(), before);

        // The state file fails after the message line was written: the line is cut off.
        let good = std::mem::replace(&mut q.state, full_device());
        assert!(j.append(&a, &msg(3)).is_err());
        let q = j.queues.get_mut(&a).expect("queue");
        q.state = good;
        assert_eq!(q.written, 1);
        assert_eq!(sizes(), before, "no message line without its state line");

        j.append(&a, &msg(4)).expect("append after the failures");
        drop(j);
        let (_, restored) = MsgJournal::open(dir.path()).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(1), msg(4)])]);
    }

    #[test]
    fn a_journal_that_cannot_be_created_refuses_the_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open(dir.path()).expect("open");
        let a = vec![6u8; 24];
        // A file where the queue's directory would go (permissions would not stop root).
        let blocker = dir.path().join(base64url_encode(&a));
        fs::write(&blocker, b"").expect("blocker");
        assert!(j.append(&a, &msg(1)).is_err());
        assert!(!j.contains(&a));
        fs::remove_file(&blocker).expect("unblock");
        j.append(&a, &msg(2)).expect("append");
        drop(j);
        let (_, restored) = MsgJournal::open(dir.path()).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(2)])]);
    }

    #[test]
    fn compaction_after_many_reads_keeps_the_pending_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open(dir.path()).expect("open");
        let a = vec![4u8; 24];
        let all: Vec<Message> = (0..=255u8).map(msg).collect();
        for m in &all {
            j.append(&a, m).expect("append");
        }
        j.append(&a, &msg(7)).expect("one more");
        let mut pending: Vec<Message> = all.clone();
        pending.push(msg(7));
        for k in 1..=COMPACT_AFTER {
            let left: Vec<&Message> = pending
                .iter()
                .skip(usize::try_from(k).expect("k"))
                .collect();
            j.consumed(&a, 1, &left).expect("ack");
        }
        let q = j.queues.get(&a).expect("queue");
        assert_eq!((q.written, q.read), (1, 0), "rewritten with the one left");
        drop(j);
        let (_, restored) = MsgJournal::open(dir.path()).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(7)])]);
    }
}
