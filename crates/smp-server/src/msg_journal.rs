//! The journal message store (`store_messages = journal` in `[STORE_LOG]`), in the on-disk
//! format of the reference's `Server/MsgStore/Journal.hs`, so that a `messages/` directory
//! written by either server is read by the other. Each queue's undelivered messages live in
//! append-only files; a message is on disk before `SEND` is answered `OK`, so it survives
//! `kill -9`. This module only persists: [`crate::msg_store::MsgStore`] keeps serving from
//! memory and calls it on every change, and start-up loads every queue's pending messages.
//!
//! # The format (the reference's)
//!
//! - **Directory**: `<log dir>/messages/` ([`JOURNAL_DIR`]); a queue's directory is the padded
//!   base64url of its recipient ID split into [`PATH_PARTS`] parts, four of 2 characters and
//!   the rest (`journalMsgStoreDepth`), e.g. `messages/AQ/ID/BA/UG/BwgJ…FhcY/` for the ID bytes
//!   1..=24 ([`queue_dir`]).
//! - **State file** `queue_state.<base64url ID>.log`: one line appended per change,
//!   `write=<id>,<msgPos>,<msgCount>,<bytePos>,<byteCount> read=<id>,<msgPos>,<msgCount>,
//!   <bytePos>,<byteCount> canWrite=<T|F> size=<n>` ([`QueueState`]). Only the last
//!   [`STATE_TAIL_SIZE`] bytes are read; the last line wins, and when it does not parse the one
//!   before it is used. Two bad lines, or a state whose counts disagree, are an error that
//!   stops start-up, as the reference's start-up (which opens every queue when it expires
//!   messages at start, its default) stops on them.
//! - **Journals** `messages.<journal id>.log`, the ID being 12 random bytes in base64url: one
//!   line per message, `<msgId> <ts> flags=<T|F> <body>` or `<msgId> <ts> quota` (base64url
//!   with padding, Unix seconds; lines without `flags=` are read too). Writes go to the write
//!   journal; once it holds [`MAX_MSG_COUNT`] messages while it is also the read journal, a
//!   new write journal is started; a read journal read to its end is deleted and reading goes
//!   on in the write journal (we switch right after the acknowledgement, where the reference
//!   switches when it peeks the next message, which its server does right after it).
//! - **Opening**: a journal longer than its recorded byte position is cut back to it (a write
//!   torn by a crash, never answered `OK`); a missing read or write journal is recovered as the
//!   reference's `openJournals` does. A state file whose tail has more than
//!   [`MAX_STATE_LINES`] lines, or whose last line is bad, is backed up
//!   (`queue_state.<ID>.log.bak` while it is done, taken back at open if a crash left it, then
//!   `queue_state.<ID>.log.<ISO 8601 time>.bak`; [`KEEP_MIN_BACKUPS`] kept, older ones deleted
//!   after [`EXPIRE_BACKUPS_AFTER`]) and a fresh file started with the state line. (Note: the
//!   reference counts the lines of the 512-byte tail only, and a state line is 85-105
//!   bytes, so with its defaults the line limit never triggers a backup; we count the same.)
//! - **Which queues**: only queues of the store log are opened (their directories looked up
//!   by ID, as the reference's `unsafeWithAllMsgQueues` over the loaded queues does); a
//!   directory of an unknown queue is left alone. A deleted queue's directory is removed.
//! - **Emptied queues** keep their directory, state and journal, as the reference's: the
//!   state line says `size=0` and the next message is appended to the same journal (a message
//!   to a queue that is empty now and then costs an append, not a directory tree). Their
//!   journals go as the reference's do: a journal read past is deleted once writing has moved
//!   to a new one; a queue with no message written or read for [`IDLE_INTERVAL`] is closed
//!   at the next expiry run ([`MsgJournal::close_idle`], the reference's `withIdleMsgQueue`
//!   and `rfcs/2024-11-25-journal-expiration.md`), an empty one then losing its journals and
//!   having its state file renamed to a timed backup — what the reference does when it
//!   opens an empty queue to read it, which its expiration does; start-up does the same to
//!   empty queues. Its next message starts a state file and journal in the directory, which
//!   stays until the queue is deleted.
//!
//! Durability: each line is appended with one `write` before the command is answered; there
//! is no `fsync`, as in the reference (its handles are line-buffered) — a process crash loses
//! nothing answered, a power loss may. A write that fails is cut back (both files to their
//! last complete line) and reported: the message store then refuses the message and `SEND` is
//! answered `ERR INTERNAL`. A queue's files stay open while it is among the
//! [`MAX_OPEN_QUEUES`] most recently opened (the reference closes a queue's files once it has
//! been idle for a while); others are opened again when used.
//!
//! # What still differs, and why
//!
//! - **Idle empty queues** lose their journals when the expiry run finds them idle; the
//!   reference only closes them then and deletes the journals when it opens them next (its
//!   next expiration run, a subscription or a message) — the same files, a little earlier.
//!   Empty queues stay in memory (without open files once others are opened) until then.
//! - **Journals that do not parse are rewritten**: a journal line that does not parse, or a
//!   journal shorter than its state says, makes the reference fail on that queue (it cannot
//!   read past the line); we keep the lines that parse, in order, and rewrite the queue's
//!   directory as a fresh journal holding them (in the reference's format).
//! - **Errors**: on a failed write the reference answers `ERR STORE <op>, <recipient ID>,
//!   <exception>`; we answer `ERR INTERNAL` (the sender must not learn the recipient ID or a
//!   server path).
//! - **Start-up** reads every queue's pending messages into memory; the reference opens
//!   journals lazily and reads each message from disk when it delivers it.
//! - **Earlier versions of this server** kept one directory per queue named by the whole ID,
//!   with their own state lines; [`MsgJournal::open`] moves such queues into this layout.
//!
//! Switching servers: the reference reads this directory as it is (`store_messages =
//! journal`), and `smp-server journal export|import|delete` ([`crate::cli::journal`]) move
//! messages between it and the messages log (`smp-server-messages.log`) as the reference's do.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::msg_store::{Message, MessageKind};
use crate::store::EntityId;

/// The journal directory's name inside the log directory.
pub const JOURNAL_DIR: &str = "messages";
/// Parts a queue's directory path is split into (`journalMsgStoreDepth`).
pub const PATH_PARTS: usize = 5;
/// Messages after which a new write journal is started (`maxJournalMsgCount`).
pub const MAX_MSG_COUNT: u64 = 256;
/// Lines in the state file's tail above which it is backed up at open
/// (`maxJournalStateLines`).
pub const MAX_STATE_LINES: usize = 16;
/// Bytes read from the end of a state file (`defaultStateTailSize`).
pub const STATE_TAIL_SIZE: u64 = 512;
/// State backups always kept (`keepMinBackups`).
pub const KEEP_MIN_BACKUPS: usize = 2;
/// Seconds after which older state backups are deleted (`expireBackupsAfter`, 14 days).
pub const EXPIRE_BACKUPS_AFTER: i64 = 14 * 86_400;

const STATE_PREFIX: &str = "queue_state";
const JOURNAL_PREFIX: &str = "messages";

/// Queues whose journal files are kept open by default (2 descriptors each).
pub const MAX_OPEN_QUEUES: usize = 256;
/// Seconds without a message written or read after which an empty queue's journal is removed
/// and its state backed up, at the next expiry run (`defaultIdleQueueInterval`, 4 hours).
pub const IDLE_INTERVAL: i64 = 4 * 3600;

/// The journal's limits (the reference's `JournalStoreConfig`); tests make them small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// See [`MAX_MSG_COUNT`].
    pub max_msg_count: u64,
    /// See [`MAX_STATE_LINES`].
    pub max_state_lines: usize,
    /// See [`STATE_TAIL_SIZE`].
    pub state_tail_size: u64,
    /// See [`KEEP_MIN_BACKUPS`].
    pub keep_min_backups: usize,
    /// See [`EXPIRE_BACKUPS_AFTER`].
    pub expire_backups_after: i64,
    /// Queues whose files are kept open (two descriptors each); the least recently opened
    /// ones are closed beyond this and opened again when used.
    pub max_open_queues: usize,
    /// See [`IDLE_INTERVAL`].
    pub idle_interval: i64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            max_msg_count: MAX_MSG_COUNT,
            max_state_lines: MAX_STATE_LINES,
            state_tail_size: STATE_TAIL_SIZE,
            keep_min_backups: KEEP_MIN_BACKUPS,
            expire_backups_after: EXPIRE_BACKUPS_AFTER,
            max_open_queues: MAX_OPEN_QUEUES,
            idle_interval: IDLE_INTERVAL,
        }
    }
}

mod files;
mod format;
mod queue;

// The submodules share their crate-private helpers through these globs.
pub use files::read_queue_state;
use files::*;
pub use format::{
    journal_line, journal_path, new_journal_id, parse_journal_line, queue_dir, state_path,
    JournalPos, QueueState,
};
use queue::*;

/// Each queue's pending messages, in order, as found at start-up.
pub type Restored = Vec<(EntityId, Vec<Message>)>;

/// The journals of all queues with undelivered messages.
#[derive(Debug)]
pub struct MsgJournal {
    root: PathBuf,
    cfg: JournalConfig,
    queues: HashMap<EntityId, QueueJournal>,
    /// Queues whose files were opened, oldest first, with the tick of the opening (an entry
    /// whose tick is not the queue's `opened` any more is stale).
    open_list: VecDeque<(EntityId, u64)>,
    /// Queues with open files.
    open_count: usize,
    tick: u64,
}

impl MsgJournal {
    /// Opens the journal directory `root` for the queues `rids` (those of the store log), as
    /// the reference does: each queue's directory is looked up, directories of other queues
    /// are left alone. Returns each queue's pending messages in order.
    pub fn open(
        root: &Path,
        rids: impl IntoIterator<Item = EntityId>,
    ) -> io::Result<(MsgJournal, Restored)> {
        Self::open_with(root, rids, JournalConfig::default())
    }

    /// [`MsgJournal::open`] with other limits.
    pub fn open_with(
        root: &Path,
        rids: impl IntoIterator<Item = EntityId>,
        cfg: JournalConfig,
    ) -> io::Result<(MsgJournal, Restored)> {
        fs::create_dir_all(root)?;
        let mut journal = MsgJournal {
            root: root.to_path_buf(),
            cfg,
            queues: HashMap::new(),
            open_list: VecDeque::new(),
            open_count: 0,
            tick: 0,
        };
        journal.migrate_one_level_layout()?;
        let mut restored = Vec::new();
        for rid in rids {
            let dir = queue_dir(root, &rid);
            if !dir.is_dir() {
                continue;
            }
            if let Some((q, msgs)) = QueueJournal::load(dir, &rid, &journal.cfg)? {
                journal.queues.insert(rid.clone(), q);
                journal.note_opened(&rid, false);
                restored.push((rid, msgs));
            }
        }
        Ok((journal, restored))
    }

    /// Moves queues kept in the layout of earlier versions of this server into the
    /// reference's: one directory per queue named by its whole base64url ID, a state line
    /// `write=<id>,<lines> read=<id>,<lines> size=<n>` and messages-log lines (`v3 <rid> …`).
    /// The reference's directories have 2-character names and are not touched.
    fn migrate_one_level_layout(&mut self) -> io::Result<()> {
        let mut old = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() && entry.file_name().len() > 2 {
                old.push(entry.path());
            }
        }
        for dir in old {
            let Some((rid, msgs)) = read_one_level_queue(&dir)? else {
                continue;
            };
            fs::remove_dir_all(&dir)?;
            for m in &msgs {
                self.append(&rid, m)?;
            }
            self.forget(&rid);
            tracing::info!(dir = %dir.display(), messages = msgs.len(), "message journal: queue moved to the reference's layout");
        }
        Ok(())
    }

    /// The journal directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Appends a stored message (or quota marker) to its queue's journal. On an error the
    /// message is not in the journal (the caller must not keep or acknowledge it).
    pub fn append(&mut self, rid: &[u8], msg: &Message) -> io::Result<()> {
        let mut line = journal_line(msg);
        line.push('\n');
        let quota = msg.kind == MessageKind::Quota;
        if let Some(q) = self.queues.get_mut(rid) {
            let was_open = q.handles.is_some();
            let r = q.append_line(line.as_bytes(), quota, &self.cfg);
            self.note_opened(rid, was_open);
            return r;
        }
        let mut q = QueueJournal::open_for_write(queue_dir(&self.root, rid), rid, &self.cfg)?;
        // On an error the queue is left empty, its files consistent: it is kept as such.
        let r = q.append_line(line.as_bytes(), quota, &self.cfg);
        self.queues.insert(rid.to_vec(), q);
        self.note_opened(rid, false);
        r
    }

    /// Registers that a queue's files were opened (unless they `were_open` already), closing
    /// the least recently opened queues' files beyond the limit (an empty queue stays in
    /// memory until [`MsgJournal::close_idle`], so that its next message only opens its
    /// files again and its journal is deleted once it stays idle).
    fn note_opened(&mut self, rid: &[u8], was_open: bool) {
        let Some(q) = self.queues.get_mut(rid) else {
            return;
        };
        if was_open || q.handles.is_none() {
            return;
        }
        self.tick += 1;
        q.opened = self.tick;
        self.open_list.push_back((rid.to_vec(), self.tick));
        self.open_count += 1;
        while self.open_count > self.cfg.max_open_queues.max(1) {
            let Some((old, tick)) = self.open_list.pop_front() else {
                break;
            };
            if let Some(q) = self.queues.get_mut(&old) {
                if q.opened == tick && q.handles.take().is_some() {
                    self.open_count -= 1;
                }
            }
        }
        // Entries of queues removed or reopened since pile up; drop them now and then.
        if self.open_list.len() > 2 * self.cfg.max_open_queues + 64 {
            let queues = &self.queues;
            self.open_list.retain(|(id, tick)| {
                queues
                    .get(id)
                    .is_some_and(|q| q.opened == *tick && q.handles.is_some())
            });
        }
    }

    /// Drops a queue's journal from memory (its files stay).
    fn forget(&mut self, rid: &[u8]) -> Option<QueueJournal> {
        let q = self.queues.remove(rid)?;
        if q.handles.is_some() {
            self.open_count -= 1;
        }
        Some(q)
    }

    /// Records that the first `n` pending messages of a queue were removed (acknowledged or
    /// expired). A queue left without messages keeps its files, as the reference's: the
    /// next message is appended to the same journal ([`MsgJournal::close_idle`] and
    /// start-up remove them once it stays empty).
    pub fn consumed(&mut self, rid: &[u8], n: usize) -> io::Result<()> {
        let Some(q) = self.queues.get_mut(rid) else {
            return Ok(());
        };
        let was_open = q.handles.is_some();
        let r = q.consume(n);
        self.note_opened(rid, was_open);
        r
    }

    /// Closes the queues without a message written or read for
    /// [`JournalConfig::idle_interval`], as the reference's message expiration does
    /// (`withIdleMsgQueue`, and `rfcs/2024-11-25-journal-expiration.md`): an empty one has its
    /// journals deleted and its state file backed up (what the reference does when it opens
    /// it next) and is dropped from memory; others only have their files closed. Returns the
    /// number of empty queues closed.
    pub fn close_idle(&mut self) -> usize {
        let before = now_secs().saturating_sub(self.cfg.idle_interval);
        let idle: Vec<EntityId> = self
            .queues
            .iter()
            .filter(|(_, q)| q.active_at <= before)
            .map(|(rid, _)| rid.clone())
            .collect();
        let mut emptied = 0;
        for rid in idle {
            let Some(q) = self.queues.get_mut(&rid) else {
                continue;
            };
            if q.st.size > 0 {
                if q.handles.take().is_some() {
                    self.open_count -= 1;
                }
                continue;
            }
            let Some(q) = self.forget(&rid) else {
                continue;
            };
            drop(q.handles);
            match reset_queue_files(&q.dir, &q.state_path, Some(&q.st), true, &self.cfg) {
                Ok(()) => emptied += 1,
                Err(e) => {
                    tracing::error!(dir = %q.dir.display(), error = %e, "message journal: closing an idle queue");
                }
            }
        }
        emptied
    }

    /// Removes a queue's journal directory (whether or not it has pending messages).
    pub fn delete_queue(&mut self, rid: &[u8]) -> io::Result<()> {
        let dir = match self.forget(rid) {
            Some(q) => q.dir,
            None => queue_dir(&self.root, rid),
        };
        remove_queue_dir(&dir, rid)
    }

    /// Whether this queue has a journal.
    pub fn contains(&self, rid: &[u8]) -> bool {
        self.queues.contains_key(rid)
    }

    /// The state last written for a queue.
    pub fn state(&self, rid: &[u8]) -> Option<&QueueState> {
        self.queues.get(rid).map(|q| &q.st)
    }

    /// Queues whose files are open.
    pub fn open_queues(&self) -> usize {
        self.open_count
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
mod tests;
