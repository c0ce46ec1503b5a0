//! The journal's formats: a queue's directory and file names, the state line
//! ([`QueueState`], [`JournalPos`]) and the message line of a journal.

use std::path::{Path, PathBuf};

use simplex_encoding::string::{base64url_encode, base64url_prefix};

use crate::msg_store::{Message, MessageKind};

use super::*;

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
