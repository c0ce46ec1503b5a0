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
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use simplex_encoding::string::{base64url_encode, base64url_prefix};

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

/// The directory of a queue's journal: the padded base64url of `rid` in [`PATH_PARTS`] parts,
/// four of 2 characters and the rest (the reference's `msgQueueDirectory`).
pub fn queue_dir(root: &Path, rid: &[u8]) -> PathBuf {
    let id = base64url_encode(rid);
    let mut dir = root.to_path_buf();
    let mut rest = id.as_str();
    for _ in 1..PATH_PARTS {
        if rest.is_empty() {
            break;
        }
        // base64url is ASCII: every index is a character boundary.
        let (seg, r) = rest.split_at(rest.len().min(2));
        dir.push(seg);
        rest = r;
    }
    if !rest.is_empty() {
        dir.push(rest);
    }
    dir
}

/// The state file of a queue in `dir` (`queue_state.<base64url ID>.log`).
pub fn state_path(dir: &Path, rid: &[u8]) -> PathBuf {
    dir.join(format!("{STATE_PREFIX}.{}.log", base64url_encode(rid)))
}

/// A journal file in `dir` (`messages.<journal id>.log`).
pub fn journal_path(dir: &Path, journal_id: &str) -> PathBuf {
    dir.join(format!("{JOURNAL_PREFIX}.{journal_id}.log"))
}

/// A new journal ID: 12 random bytes in base64url (16 characters).
pub fn new_journal_id() -> String {
    base64url_encode(&rand::random::<[u8; 12]>())
}

/// One journal's position in a state line (the reference's `JournalState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPos {
    /// The journal ID (the file is `messages.<id>.log`).
    pub id: String,
    /// Messages read (read journal) or written (write journal).
    pub msg_pos: u64,
    /// Messages in the journal.
    pub msg_count: u64,
    /// Bytes read or written.
    pub byte_pos: u64,
    /// Bytes in the journal.
    pub byte_count: u64,
}

impl JournalPos {
    /// An empty journal.
    pub fn new(id: String) -> JournalPos {
        JournalPos {
            id,
            msg_pos: 0,
            msg_count: 0,
            byte_pos: 0,
            byte_count: 0,
        }
    }

    fn encode(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{},{},{},{},{}",
            self.id, self.msg_pos, self.msg_count, self.byte_pos, self.byte_count
        );
    }

    /// `<id>,<n>,<n>,<n>,<n>` at the start of `s` (the ID runs to the first comma, numbers are
    /// unsigned decimals); returns the rest.
    fn parse(s: &[u8]) -> Option<(JournalPos, &[u8])> {
        let comma = s.iter().position(|&b| b == b',')?;
        let (id, mut rest) = s.split_at(comma);
        let id = std::str::from_utf8(id).ok()?.to_owned();
        let mut n = [0u64; 4];
        for v in &mut n {
            rest = rest.strip_prefix(b",")?;
            let (d, r) = decimal(rest)?;
            *v = d;
            rest = r;
        }
        let [msg_pos, msg_count, byte_pos, byte_count] = n;
        Some((
            JournalPos {
                id,
                msg_pos,
                msg_count,
                byte_pos,
                byte_count,
            },
            rest,
        ))
    }
}

/// The leading decimal digits of `s` (at least one) and the rest.
fn decimal(s: &[u8]) -> Option<(u64, &[u8])> {
    let end = s
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let (d, rest) = s.split_at(end);
    Some((std::str::from_utf8(d).ok()?.parse().ok()?, rest))
}

/// A queue's state, one line of its state file (the reference's `MsgQueueState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueState {
    /// The journal messages are appended to.
    pub write: JournalPos,
    /// The journal messages are read from (the same ID as `write`, or an older journal).
    pub read: JournalPos,
    /// False after the quota marker was written (until the queue is drained).
    pub can_write: bool,
    /// Pending messages (the marker included).
    pub size: u64,
}

impl QueueState {
    /// An empty queue with one journal.
    pub fn new(journal_id: String) -> QueueState {
        QueueState {
            write: JournalPos::new(journal_id.clone()),
            read: JournalPos::new(journal_id),
            can_write: true,
            size: 0,
        }
    }

    /// The state line, without its newline.
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(100);
        s.push_str("write=");
        self.write.encode(&mut s);
        s.push_str(" read=");
        self.read.encode(&mut s);
        s.push_str(if self.can_write {
            " canWrite=T size="
        } else {
            " canWrite=F size="
        });
        s.push_str(&self.size.to_string());
        s
    }

    /// Parses a whole state line (without its newline); `None` when it does not parse.
    pub fn parse(line: &[u8]) -> Option<QueueState> {
        let (write, rest) = JournalPos::parse(line.strip_prefix(b"write=")?)?;
        let (read, rest) = JournalPos::parse(rest.strip_prefix(b" read=")?)?;
        let rest = rest.strip_prefix(b" canWrite=")?;
        let (&c, rest) = rest.split_first()?;
        let can_write = match c {
            b'T' => true,
            b'F' => false,
            _ => return None,
        };
        // `size` is a signed decimal in the reference; a negative size is never valid.
        let rest = rest.strip_prefix(b" size=")?;
        let rest = rest.strip_prefix(b"+").unwrap_or(rest);
        let (size, rest) = decimal(rest)?;
        rest.is_empty().then_some(QueueState {
            write,
            read,
            can_write,
            size,
        })
    }

    /// Whether the positions agree with each other (the reference's `validQueueState`).
    pub fn is_valid(&self) -> bool {
        let (r, w) = (&self.read, &self.write);
        let always = r.msg_pos <= r.msg_count
            && r.byte_pos <= r.byte_count
            && w.msg_pos == w.msg_count
            && w.byte_pos == w.byte_count;
        if r.id == w.id {
            always
                && r.msg_pos <= w.msg_pos
                && r.msg_count == w.msg_count
                && r.byte_pos <= w.byte_pos
                && r.byte_count == w.byte_count
                && Some(self.size) == r.msg_count.checked_sub(r.msg_pos)
        } else {
            always && Some(self.size) == (w.msg_count + r.msg_count).checked_sub(r.msg_pos)
        }
    }
}

/// A message's journal line, without its newline: `<msgId> <ts> flags=<T|F> <body>` or
/// `<msgId> <ts> quota`.
pub fn journal_line(msg: &Message) -> String {
    match &msg.kind {
        MessageKind::Message { notification, body } => format!(
            "{} {} flags={} {}",
            base64url_encode(&msg.id),
            msg.ts,
            if *notification { 'T' } else { 'F' },
            base64url_encode(body)
        ),
        MessageKind::Quota => format!("{} {} quota", base64url_encode(&msg.id), msg.ts),
    }
}

/// Parses a journal line (without its newline) as the reference's `strP` for `Message` does:
/// flags are optional, a flags value may carry more characters after `T`/`F`, the body is
/// non-empty base64url.
pub fn parse_journal_line(line: &[u8]) -> Option<Message> {
    let (id, used) = base64url_prefix(line).ok()?;
    let rest = line.get(used..)?.strip_prefix(b" ")?;
    let (neg, rest) = match rest.split_first() {
        Some((b'-', r)) => (true, r),
        Some((b'+', r)) => (false, r),
        _ => (false, rest),
    };
    let (ts, rest) = decimal(rest)?;
    let ts = i64::try_from(ts).ok()?;
    let ts = if neg { -ts } else { ts };
    let rest = rest.strip_prefix(b" ")?;
    if rest == b"quota" {
        return Some(Message {
            id,
            ts,
            kind: MessageKind::Quota,
        });
    }
    let (notification, rest) = match rest.strip_prefix(b"flags=") {
        Some(f) => {
            let (&c, r) = f.split_first()?;
            let notification = match c {
                b'T' => true,
                b'F' => false,
                _ => return None,
            };
            let sp = r.iter().position(|&b| b == b' ')?;
            (notification, r.get(sp + 1..)?)
        }
        None => (false, rest),
    };
    let (body, used) = base64url_prefix(rest).ok()?;
    (used == rest.len()).then_some(Message {
        id,
        ts,
        kind: MessageKind::Message { notification, body },
    })
}

/// `s` split into lines as the reference's `B.lines` does (a final newline ends the last
/// line, it does not start an empty one).
fn lines(s: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = s.split(|&b| b == b'\n').collect();
    if s.is_empty() || s.ends_with(b"\n") {
        v.pop();
    }
    v
}

fn now_secs() -> i64 {
    i64::try_from(now_nanos() / 1_000_000_000).unwrap_or(i64::MAX)
}

fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn append() -> OpenOptions {
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
fn append_state(file: &mut File, file_len: &mut u64, st: &QueueState) -> io::Result<()> {
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
fn create_journal(dir: &Path) -> io::Result<(String, File)> {
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
fn remove_queue_dir(dir: &Path, rid: &[u8]) -> io::Result<()> {
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
fn remove_journal(dir: &Path, journal_id: &str) {
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
fn reset_queue_files(
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
enum FileSize {
    Ok,
    /// Shorter than recorded: lines are missing.
    Short,
}

/// Cuts a journal longer than `pos` back to it (a torn write); reports one that is shorter.
fn fix_file_size(path: &Path, pos: u64) -> io::Result<FileSize> {
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
fn read_range(path: &Path, from: u64, to: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.take(to.saturating_sub(from)).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Parses the journal lines of `data`, appending messages and their line lengths (newline
/// included); returns how many lines did not parse.
fn parse_lines(data: &[u8], msgs: &mut Vec<Message>, lens: &mut VecDeque<u64>) -> u64 {
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
fn read_one_level_queue(dir: &Path) -> io::Result<Option<(EntityId, Vec<Message>)>> {
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

/// A queue's open files.
#[derive(Debug)]
struct Handles {
    state: File,
    /// The write journal (also the read journal while their IDs are equal).
    write: File,
}

#[derive(Debug)]
struct QueueJournal {
    dir: PathBuf,
    state_path: PathBuf,
    st: QueueState,
    /// Bytes in the state file after the last complete line.
    state_len: u64,
    /// Open while the queue is among the most recently used ([`JournalConfig::max_open_queues`]).
    handles: Option<Handles>,
    /// When `handles` were opened (an entry of [`MsgJournal`]'s open list).
    opened: u64,
    /// Line lengths (newline included) of the pending messages, oldest first.
    lens: VecDeque<u64>,
    /// When a message was last written or read (Unix seconds).
    active_at: i64,
}

impl QueueJournal {
    /// Opens a queue that is not in memory for writing, as the reference's `getMsgQueue` for
    /// a write: a missing directory is created; in an existing one a new journal is started
    /// (after [`MsgJournal::close_idle`] or start-up there is no state file; when there is
    /// one, a state line naming the new journal is appended, after a backup when the state
    /// file asks for it, and the old journals are deleted). No directory is made or removed
    /// for a queue that had messages before.
    fn open_for_write(dir: PathBuf, rid: &[u8], cfg: &JournalConfig) -> io::Result<QueueJournal> {
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
    fn load(
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
    fn append_line(&mut self, line: &[u8], quota: bool, cfg: &JournalConfig) -> io::Result<()> {
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
    fn consume(&mut self, n: usize) -> io::Result<()> {
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

/// Renames the temporary backup `temp` of the state file `spath` to a timed backup and removes
/// old backups: all but the newest `keep_min_backups`, when older than the expiry.
fn backup_queue_state(
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
mod tests {
    use super::*;

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

    fn line_len(m: &Message) -> u64 {
        journal_line(m).len() as u64 + 1
    }

    fn small() -> JournalConfig {
        JournalConfig {
            max_msg_count: 4,
            max_state_lines: 2,
            ..JournalConfig::default()
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn last_state_line(dir: &Path, rid: &[u8]) -> String {
        let text = fs::read_to_string(state_path(dir, rid)).expect("state");
        text.lines().last().expect("a line").to_owned()
    }

    #[test]
    fn directories_split_the_padded_id_in_five_parts() {
        let rid: Vec<u8> = (1..=24).collect();
        assert_eq!(
            queue_dir(Path::new("m"), &rid),
            Path::new("m/AQ/ID/BA/UG/BwgJCgsMDQ4PEBESExQVFhcY")
        );
        // Padding is kept in the last part; a short ID has fewer parts.
        assert_eq!(
            queue_dir(Path::new("m"), &[1, 2, 3, 4, 5]),
            Path::new("m/AQ/ID/BA/U=")
        );
        assert_eq!(queue_dir(Path::new("m"), &[1]), Path::new("m/AQ/=="));
        assert_eq!(
            state_path(Path::new("d"), &rid),
            Path::new("d/queue_state.AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY.log")
        );
        assert_eq!(new_journal_id().len(), 16);
    }

    #[test]
    fn state_lines_round_trip_and_parse_as_the_reference_does() {
        let line =
            "write=AAAAAAAAAAAAAAAA,2,2,200,200 read=BBBBBBBBBBBBBBBB,1,3,90,270 canWrite=F size=4";
        let st = QueueState::parse(line.as_bytes()).expect("parses");
        assert_eq!(st.write.id, "AAAAAAAAAAAAAAAA");
        assert_eq!(
            (
                st.read.msg_pos,
                st.read.msg_count,
                st.read.byte_pos,
                st.read.byte_count
            ),
            (1, 3, 90, 270)
        );
        assert!(!st.can_write);
        assert_eq!(st.size, 4);
        assert!(st.is_valid());
        assert_eq!(st.to_line(), line);
        // Not a state line: trailing text, missing fields, bad flag, signed positions.
        for bad in [
            "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T size=0 ",
            "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T",
            "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=X size=0",
            "write=a,0,0,0,-1 read=a,0,0,0,0 canWrite=T size=0",
            "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T size=-1",
            "write=a,0,0,0 read=a,0,0,0,0 canWrite=T size=0",
        ] {
            assert_eq!(QueueState::parse(bad.as_bytes()), None, "{bad}");
        }
        let plus = QueueState::parse(b"write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T size=+0");
        assert_eq!(plus, Some(QueueState::new("a".into())));
        // Inconsistent: the size disagrees with the positions.
        let mut st = QueueState::new("a".into());
        st.size = 1;
        assert!(!st.is_valid());
    }

    #[test]
    fn message_lines_as_the_reference_writes_and_reads_them() {
        let m = Message {
            id: vec![0; 24],
            ts: 1_700_000_000,
            kind: MessageKind::Message {
                notification: true,
                body: b"hi".to_vec(),
            },
        };
        assert_eq!(
            journal_line(&m),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1700000000 flags=T aGk="
        );
        assert_eq!(
            parse_journal_line(journal_line(&m).as_bytes()),
            Some(m.clone())
        );
        let q = Message {
            id: vec![0; 24],
            ts: 5,
            kind: MessageKind::Quota,
        };
        assert_eq!(journal_line(&q), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 5 quota");
        assert_eq!(parse_journal_line(journal_line(&q).as_bytes()), Some(q));
        // No flags (older lines), longer flags, unpadded body.
        let plain = parse_journal_line(b"AAAA 7 aGk").expect("no flags");
        assert_eq!(
            plain.kind,
            MessageKind::Message {
                notification: false,
                body: b"hi".to_vec()
            }
        );
        assert!(parse_journal_line(b"AAAA 7 flags=TF aGk=").is_some());
        for bad in [
            &b"AAAA 7 flags=F "[..],
            b"AAAA 7",
            b"AAAA x aGk=",
            b"AAAA 7 aGk= ",
            b" 7 aGk=",
        ] {
            assert_eq!(
                parse_journal_line(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn appended_messages_survive_reopen_and_the_files_are_the_references() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (vec![1u8; 24], vec![2u8; 24]);
        let (mut j, restored) = MsgJournal::open(dir.path(), [a.clone(), b.clone()]).expect("open");
        assert!(restored.is_empty());
        for i in 0..3 {
            j.append(&a, &msg(i)).expect("append");
        }
        j.append(&b, &msg(9)).expect("append");
        j.consumed(&a, 1).expect("ack");
        j.consumed(&b, 1).expect("ack");
        assert_eq!(j.len(), 2, "an emptied queue's journal is kept");
        let bdir = queue_dir(dir.path(), &b);
        let bid = j.state(&b).expect("state").write.id.clone();
        assert_eq!(files(&bdir).len(), 2, "its journal and state");
        assert!(last_state_line(&bdir, &b).ends_with(" size=0"));
        let adir = queue_dir(dir.path(), &a);
        let id = j.state(&a).expect("state").write.id.clone();
        drop(j);

        assert_eq!(
            files(&adir),
            vec![
                format!("messages.{id}.log"),
                format!("queue_state.{}.log", base64url_encode(&a))
            ]
        );
        let journal = fs::read_to_string(journal_path(&adir, &id)).expect("journal");
        let expected: String = (0..3).map(|i| journal_line(&msg(i)) + "\n").collect();
        assert_eq!(journal, expected);
        let total: u64 = (0..3).map(|i| line_len(&msg(i))).sum();
        let first = line_len(&msg(0));
        let state = fs::read_to_string(state_path(&adir, &a)).expect("state");
        let lines: Vec<&str> = state.lines().collect();
        assert_eq!(
            lines,
            vec![
                format!("write={id},1,1,{first},{first} read={id},0,1,0,{first} canWrite=T size=1"),
                format!(
                    "write={id},2,2,{s},{s} read={id},0,2,0,{s} canWrite=T size=2",
                    s = first + line_len(&msg(1))
                ),
                format!("write={id},3,3,{total},{total} read={id},0,3,0,{total} canWrite=T size=3"),
                format!("write={id},3,3,{total},{total} read={id},1,3,{first},{total} canWrite=T size=2"),
            ]
        );

        let (j, restored) = MsgJournal::open(dir.path(), [a.clone(), b.clone()]).expect("reopen");
        assert_eq!(restored, vec![(a.clone(), vec![msg(1), msg(2)])]);
        // The empty queue at start-up: its journal deleted, its state backed up.
        assert!(!j.contains(&b));
        let bfiles = files(&bdir);
        assert_eq!(bfiles.len(), 1, "{bfiles:?}");
        assert!(!journal_path(&bdir, &bid).exists());
        assert!(bfiles.iter().all(|f| f.ends_with("Z.bak")), "{bfiles:?}");
        assert_eq!(
            j.state(&a).map(QueueState::to_line),
            lines.last().map(|l| (*l).to_owned())
        );
        assert_eq!(state.lines().count(), 4, "nothing written at open");
    }

    #[test]
    fn a_new_write_journal_after_the_limit_and_the_read_one_deleted_when_read_past() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = vec![3u8; 24];
        let (mut j, _) = MsgJournal::open_with(dir.path(), [], small()).expect("open");
        for i in 0..6 {
            j.append(&a, &msg(i)).expect("append");
        }
        let st = j.state(&a).expect("state").clone();
        assert_ne!(st.read.id, st.write.id, "a second journal after 4 messages");
        assert_eq!((st.read.msg_count, st.write.msg_count, st.size), (4, 2, 6));
        let adir = queue_dir(dir.path(), &a);
        assert_eq!(files(&adir).len(), 3);
        // Reopened with two journals: all six, in order.
        drop(j);
        let (mut j, restored) =
            MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
        assert_eq!(restored, vec![(a.clone(), (0..6).map(msg).collect())]);
        j.consumed(&a, 3).expect("ack 3");
        assert!(journal_path(&adir, &st.read.id).exists());
        j.consumed(&a, 1).expect("ack the 4th");
        assert!(
            !journal_path(&adir, &st.read.id).exists(),
            "read journal deleted"
        );
        let now = j.state(&a).expect("state").clone();
        assert_eq!(now.read.id, st.write.id);
        assert_eq!((now.read.msg_pos, now.read.msg_count, now.size), (0, 2, 2));
        assert_eq!(last_state_line(&adir, &a), now.to_line());
        // The write journal is now also the read one: it takes messages up to the limit.
        j.append(&a, &msg(6)).expect("append");
        drop(j);
        let (_, restored) =
            MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(4), msg(5), msg(6)])]);
    }

    #[test]
    fn a_torn_message_is_cut_off_and_the_next_one_follows_the_last_whole_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = vec![4u8; 24];
        let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
        j.append(&a, &msg(1)).expect("append");
        let id = j.state(&a).expect("state").write.id.clone();
        drop(j);
        let adir = queue_dir(dir.path(), &a);
        let path = journal_path(&adir, &id);
        append()
            .open(&path)
            .expect("journal")
            .write_all(b"AAAA 17000")
            .expect("torn");
        let (mut j, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
        assert_eq!(restored, vec![(a.clone(), vec![msg(1)])]);
        assert_eq!(
            fs::metadata(&path).expect("journal").len(),
            line_len(&msg(1))
        );
        j.append(&a, &msg(2)).expect("append");
        drop(j);
        let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(1), msg(2)])]);
    }

    #[test]
    fn a_bad_last_state_line_uses_the_one_before_and_backs_the_file_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = vec![5u8; 24];
        let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
        j.append(&a, &msg(1)).expect("append");
        let good = j.state(&a).expect("state").to_line();
        drop(j);
        let adir = queue_dir(dir.path(), &a);
        let spath = state_path(&adir, &a);
        append()
            .open(&spath)
            .expect("state")
            .write_all(b"write=xyz,1,1\n")
            .expect("bad line");
        // An old backup, beyond the two kept, is removed; a recent one is kept.
        let old = with_suffix(&spath, ".2020-01-01T00:00:00.000000Z.bak");
        let old2 = with_suffix(&spath, ".2020-01-02T00:00:00Z.bak");
        let recent = with_suffix(
            &spath,
            &format!(
                ".{}.bak",
                crate::store_log::iso8601(now_nanos() - 1_000_000_000)
            ),
        );
        for f in [&old, &old2, &recent] {
            fs::write(f, b"x\n").expect("backup");
        }
        let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
        assert_eq!(restored, vec![(a.clone(), vec![msg(1)])]);
        assert_eq!(
            fs::read_to_string(&spath).expect("state"),
            format!("{good}\n")
        );
        let names = files(&adir);
        let backups: Vec<&String> = names.iter().filter(|n| n.ends_with(".bak")).collect();
        assert_eq!(backups.len(), 2, "{names:?}");
        assert!(
            !old.exists() && !old2.exists() && recent.exists(),
            "{names:?}"
        );
        let timed = backups
            .iter()
            .find(|n| !recent.ends_with(n.as_str()))
            .expect("new backup");
        assert!(fs::read_to_string(adir.join(timed.as_str()))
            .expect("backup")
            .ends_with("write=xyz,1,1\n"));
    }

    #[test]
    fn only_the_tail_of_a_state_file_is_read_and_an_interrupted_backup_is_taken_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spath = dir.path().join("queue_state.x.log");
        let st = QueueState::new("j".into());
        // Garbage beyond the 512-byte tail does not matter.
        let mut text = vec![b'#'; 2000];
        text.extend_from_slice(format!("\n{}\n", st.to_line()).as_bytes());
        fs::write(with_suffix(&spath, ".bak"), &text).expect("temp backup");
        let (got, backup) = read_queue_state(&spath, &JournalConfig::default()).expect("read");
        assert_eq!(got, Some(st));
        assert!(!backup);
        assert!(spath.exists() && !with_suffix(&spath, ".bak").exists());
        // Two bad lines, or an inconsistent state, are errors; one bad line alone is none.
        fs::write(&spath, b"a\nb\n").expect("state");
        assert!(read_queue_state(&spath, &JournalConfig::default()).is_err());
        fs::write(
            &spath,
            b"write=j,0,0,0,0 read=j,0,0,0,0 canWrite=T size=3\n",
        )
        .expect("state");
        assert!(read_queue_state(&spath, &JournalConfig::default()).is_err());
        fs::write(&spath, b"bad").expect("state");
        assert_eq!(
            read_queue_state(&spath, &JournalConfig::default()).expect("read"),
            (None, true)
        );
        // More lines than the limit in the tail: back up.
        let line = format!("{}\n", QueueState::new("j".into()).to_line());
        fs::write(&spath, line.repeat(3)).expect("state");
        assert!(read_queue_state(&spath, &small()).expect("read").1);
    }

    #[test]
    fn a_missing_read_journal_continues_with_the_write_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = vec![6u8; 24];
        let (mut j, _) = MsgJournal::open_with(dir.path(), [], small()).expect("open");
        for i in 0..6 {
            j.append(&a, &msg(i)).expect("append");
        }
        let st = j.state(&a).expect("state").clone();
        drop(j);
        let adir = queue_dir(dir.path(), &a);
        fs::remove_file(journal_path(&adir, &st.read.id)).expect("remove read journal");
        let (j, restored) =
            MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
        assert_eq!(restored, vec![(a.clone(), vec![msg(4), msg(5)])]);
        let now = j.state(&a).expect("state");
        assert_eq!(now.read.id, st.write.id);
        assert_eq!(
            last_state_line(&adir, &a),
            now.to_line(),
            "recovered state saved"
        );
    }

    #[test]
    fn unknown_queues_are_left_alone_and_unparsable_journals_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, other) = (vec![7u8; 24], vec![8u8; 24]);
        let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
        for i in 0..3 {
            j.append(&a, &msg(i)).expect("append");
        }
        j.append(&other, &msg(9)).expect("append");
        let st = j.state(&a).expect("state").clone();
        drop(j);
        // The middle line is damaged (same length, so positions still agree).
        let adir = queue_dir(dir.path(), &a);
        let path = journal_path(&adir, &st.write.id);
        let mut text = fs::read(&path).expect("journal");
        let at = usize::try_from(line_len(&msg(0))).expect("small");
        if let Some(b) = text.get_mut(at) {
            *b = b' ';
        }
        fs::write(&path, &text).expect("damage");
        let (j, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
        assert_eq!(restored, vec![(a.clone(), vec![msg(0), msg(2)])]);
        assert!(!path.exists(), "rewritten under a new journal ID");
        let now = j.state(&a).expect("state");
        assert_eq!((now.size, now.read.msg_pos), (2, 0));
        assert!(
            queue_dir(dir.path(), &other).is_dir(),
            "not in the store: untouched"
        );
    }

    /// A handle whose every write fails with "no space left on device".
    fn full_device() -> File {
        append().open("/dev/full").expect("/dev/full")
    }

    #[test]
    fn a_failed_append_leaves_nothing_behind_and_the_next_one_starts_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
        let a = vec![9u8; 24];
        j.append(&a, &msg(1)).expect("append");
        let adir = queue_dir(dir.path(), &a);
        let id = j.state(&a).expect("state").write.id.clone();
        let (mpath, spath) = (journal_path(&adir, &id), state_path(&adir, &a));
        let sizes = || {
            (
                fs::metadata(&mpath).expect("messages").len(),
                fs::metadata(&spath).expect("state").len(),
            )
        };
        let before = (sizes(), j.state(&a).cloned());

        // The message file fails.
        let q = j.queues.get_mut(&a).expect("queue");
        let h = q.handles.as_mut().expect("open");
        let good = std::mem::replace(&mut h.write, full_device());
        assert!(
            j.append(&a, &msg(2)).is_err(),
            "the write error is returned"
        );
        let q = j.queues.get_mut(&a).expect("queue");
        q.handles.as_mut().expect("open").write = good;
        assert_eq!((sizes(), j.state(&a).cloned()), before);

        // The state file fails after the message line was written: the line is cut off.
        let q = j.queues.get_mut(&a).expect("queue");
        let h = q.handles.as_mut().expect("open");
        let good = std::mem::replace(&mut h.state, full_device());
        assert!(j.append(&a, &msg(3)).is_err());
        let q = j.queues.get_mut(&a).expect("queue");
        q.handles.as_mut().expect("open").state = good;
        assert_eq!(
            (sizes(), j.state(&a).cloned()),
            before,
            "no message line without its state line"
        );

        j.append(&a, &msg(4)).expect("append after the failures");
        drop(j);
        let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(1), msg(4)])]);
    }

    #[test]
    fn a_failed_append_into_a_new_write_journal_removes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open_with(dir.path(), [], small()).expect("open");
        let a = vec![10u8; 24];
        for i in 0..4 {
            j.append(&a, &msg(i)).expect("append");
        }
        let before = j.state(&a).cloned();
        let q = j.queues.get_mut(&a).expect("queue");
        let h = q.handles.as_mut().expect("open");
        let good = std::mem::replace(&mut h.state, full_device());
        assert!(j.append(&a, &msg(4)).is_err());
        let q = j.queues.get_mut(&a).expect("queue");
        q.handles.as_mut().expect("open").state = good;
        assert_eq!(j.state(&a).cloned(), before);
        assert_eq!(
            files(&queue_dir(dir.path(), &a)).len(),
            2,
            "no second journal left"
        );
        j.append(&a, &msg(5)).expect("append");
        drop(j);
        let (_, restored) =
            MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
        assert_eq!(
            restored,
            vec![(a, vec![msg(0), msg(1), msg(2), msg(3), msg(5)])]
        );
    }

    #[test]
    fn a_journal_that_cannot_be_created_refuses_the_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
        let a = vec![11u8; 24];
        // A file where the queue's directory would go (permissions would not stop root).
        let blocker = queue_dir(dir.path(), &a);
        fs::create_dir_all(blocker.parent().expect("parent")).expect("parents");
        fs::write(&blocker, b"").expect("blocker");
        assert!(j.append(&a, &msg(1)).is_err());
        assert!(!j.contains(&a));
        fs::remove_file(&blocker).expect("unblock");
        j.append(&a, &msg(2)).expect("append");
        drop(j);
        let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
        assert_eq!(restored, vec![(a, vec![msg(2)])]);
    }

    #[test]
    fn queues_of_the_earlier_one_level_layout_are_moved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = vec![13u8; 24];
        let old = dir.path().join(base64url_encode(&a));
        fs::create_dir_all(&old).expect("dir");
        let lines: String = (1..=3)
            .map(|i| crate::store_log::message_line(&a, &msg(i)) + "\n")
            .collect();
        fs::write(old.join("messages.00000000000000ab.log"), lines).expect("journal");
        fs::write(
            state_path(&old, &a),
            "write=00000000000000ab,3 read=00000000000000ab,0 size=3\n\
             write=00000000000000ab,3 read=00000000000000ab,1 size=2\n",
        )
        .expect("state");
        let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("open");
        assert_eq!(restored, vec![(a.clone(), vec![msg(2), msg(3)])]);
        assert!(!old.exists());
        assert!(queue_dir(dir.path(), &a).is_dir());
    }

    #[test]
    fn only_the_most_recently_opened_queues_keep_their_files_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = JournalConfig {
            max_open_queues: 2,
            ..small()
        };
        let (mut j, _) = MsgJournal::open_with(dir.path(), [], cfg.clone()).expect("open");
        let rids: Vec<Vec<u8>> = (20..25u8).map(|i| vec![i; 24]).collect();
        for _ in 0..3 {
            for (k, r) in rids.iter().enumerate() {
                j.append(r, &msg(u8::try_from(k).expect("small")))
                    .expect("append");
                assert!(j.open_queues() <= 2);
            }
        }
        let open = |j: &MsgJournal| {
            rids.iter()
                .filter(|r| j.queues.get(*r).is_some_and(|q| q.handles.is_some()))
                .count()
        };
        assert_eq!(open(&j), 2);
        assert!(j.queues.get(&rids[0]).is_some_and(|q| q.handles.is_none()));
        // A closed queue is opened again to be read and written (across a journal switch).
        j.consumed(&rids[0], 1).expect("ack");
        for k in 0..3 {
            j.append(&rids[0], &msg(30 + k)).expect("append");
        }
        assert_eq!((j.open_queues(), open(&j)), (2, 2));
        j.delete_queue(&rids[0]).expect("delete");
        assert!(j.open_queues() <= 2 && j.open_queues() == open(&j));
        drop(j);
        let (j, mut restored) =
            MsgJournal::open_with(dir.path(), rids.clone(), cfg).expect("reopen");
        restored.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(restored.len(), 4);
        for (k, (r, msgs)) in restored.iter().enumerate() {
            assert_eq!(r, &rids[k + 1]);
            let m = msg(u8::try_from(k + 1).expect("small"));
            assert_eq!(msgs, &vec![m.clone(), m.clone(), m]);
        }
        assert_eq!(j.open_queues(), 2);
    }

    #[test]
    fn a_deleted_queue_loses_its_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
        let a = vec![12u8; 24];
        j.append(&a, &msg(1)).expect("append");
        j.delete_queue(&a).expect("delete");
        assert!(!queue_dir(dir.path(), &a).exists());
        // A left-over directory of a queue without a journal open goes too.
        fs::create_dir_all(queue_dir(dir.path(), &a)).expect("dir");
        j.delete_queue(&a).expect("delete");
        assert!(!queue_dir(dir.path(), &a).exists());
    }
}
