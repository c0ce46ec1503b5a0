//! The messages and notifications files: saved on shutdown, restored at start, one line per
//! message or notification in the reference's format.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use super::file::with_suffix;
use super::record::{b64, id, Cursor, ParseError};
use crate::msg_store::{Message, MessageKind, MsgNtf, MsgStore, NtfStore};
use crate::store::{EntityId, QueueStore};

/// One line of the messages file: `v3 <rid> <msg id> <ts> flags=<T|F> <body>` or
/// `v3 <rid> <msg id> <ts> quota`.
pub fn message_line(rid: &[u8], msg: &Message) -> String {
    match &msg.kind {
        MessageKind::Message { notification, body } => format!(
            "v3 {} {} {} flags={} {}",
            b64(rid),
            b64(&msg.id),
            msg.ts,
            if *notification { 'T' } else { 'F' },
            b64(body)
        ),
        MessageKind::Quota => format!("v3 {} {} {} quota", b64(rid), b64(&msg.id), msg.ts),
    }
}

/// Parses one line of the messages file.
pub fn parse_message_line(line: &str) -> Result<(EntityId, Message), ParseError> {
    let mut c = Cursor(line);
    if c.token() != "v3" {
        return Err(ParseError("messages file version"));
    }
    let rid = id(c.token())?;
    let msg_id = id(c.token())?;
    let ts: i64 = c.token().parse().map_err(|_| ParseError("timestamp"))?;
    let kind = if c.0 == "quota" {
        MessageKind::Quota
    } else {
        let notification = if c.eat("flags=") {
            c.token().starts_with('T')
        } else {
            false
        };
        let body = if c.0.is_empty() { Vec::new() } else { id(c.0)? };
        MessageKind::Message { notification, body }
    };
    Ok((
        rid,
        Message {
            id: msg_id,
            ts,
            kind,
        },
    ))
}

/// Saves all messages to `path` (truncating it); returns how many.
pub fn save_messages(path: &Path, msgs: &MsgStore) -> io::Result<usize> {
    let mut w = BufWriter::new(File::create(path)?);
    let mut n = 0;
    for (rid, queue) in msgs.all() {
        for m in queue {
            w.write_all(message_line(rid, m).as_bytes())?;
            w.write_all(b"\n")?;
            n += 1;
        }
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(n)
}

/// What restoring messages found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoreStats {
    /// Messages restored.
    pub stored: usize,
    /// Messages dropped as expired.
    pub expired: usize,
    /// Lines for queues that no longer exist, over quota, or unparsable.
    pub skipped: usize,
}

/// Restores messages saved by [`save_messages`] (or the reference) for queues in `queues`,
/// dropping those received before `expire_before`; then renames the file to `.bak`.
pub fn restore_messages(
    path: &Path,
    queues: &QueueStore,
    msgs: &mut MsgStore,
    expire_before: Option<i64>,
) -> io::Result<RestoreStats> {
    let mut stats = RestoreStats::default();
    let reader = BufReader::new(File::open(path)?);
    for line in reader.split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let Ok((rid, msg)) = std::str::from_utf8(&line)
            .map_err(|_| ParseError("utf-8"))
            .and_then(parse_message_line)
        else {
            stats.skipped += 1;
            continue;
        };
        if queues.find(crate::store::Party::Recipient, &rid).is_none() {
            stats.skipped += 1;
        } else if msg.kind != MessageKind::Quota && expire_before.is_some_and(|t| msg.ts < t) {
            stats.expired += 1;
        } else if msgs.restore(&rid, msg) {
            stats.stored += 1;
        } else {
            stats.skipped += 1;
        }
    }
    fs::rename(path, with_suffix(path, ".bak"))?;
    Ok(stats)
}

/// One line of the notifications file (the reference's `NLRv1`):
/// `v1 <notifier id> <msg id> <ts> <nonce> <encrypted metadata>`.
pub fn ntf_line(nid: &[u8], ntf: &MsgNtf) -> String {
    format!(
        "v1 {} {} {} {} {}",
        b64(nid),
        b64(&ntf.msg_id),
        ntf.ts,
        b64(&ntf.nonce),
        b64(&ntf.enc_meta)
    )
}

/// Parses one line of the notifications file.
pub fn parse_ntf_line(line: &str) -> Result<(EntityId, MsgNtf), ParseError> {
    let mut c = Cursor(line);
    if c.token() != "v1" {
        return Err(ParseError("notifications file version"));
    }
    let nid = id(c.token())?;
    let msg_id = id(c.token())?;
    let ts: i64 = c.token().parse().map_err(|_| ParseError("timestamp"))?;
    let nonce: [u8; 24] = id(c.token())?
        .as_slice()
        .try_into()
        .map_err(|_| ParseError("nonce"))?;
    let enc_meta = id(c.token())?;
    if !c.0.is_empty() {
        return Err(ParseError("trailing text"));
    }
    Ok((
        nid,
        MsgNtf {
            msg_id,
            ts,
            nonce,
            enc_meta,
        },
    ))
}

/// Saves the kept notifications to `path` (truncating it); returns how many.
pub fn save_ntfs(path: &Path, ntfs: &NtfStore) -> io::Result<usize> {
    let mut w = BufWriter::new(File::create(path)?);
    let mut n = 0;
    for (nid, list) in ntfs.all() {
        for ntf in list {
            w.write_all(ntf_line(nid, ntf).as_bytes())?;
            w.write_all(b"\n")?;
            n += 1;
        }
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(n)
}

/// Restores notifications saved by [`save_ntfs`] (or the reference), dropping those of
/// messages received before `expire_before`; then renames the file to `.bak`.
pub fn restore_ntfs(
    path: &Path,
    ntfs: &mut NtfStore,
    expire_before: i64,
) -> io::Result<RestoreStats> {
    let mut stats = RestoreStats::default();
    let reader = BufReader::new(File::open(path)?);
    for line in reader.split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(&line)
            .map_err(|_| ParseError("utf-8"))
            .and_then(parse_ntf_line)
        {
            Ok((_, ntf)) if ntf.ts < expire_before => stats.expired += 1,
            Ok((nid, ntf)) => {
                ntfs.store(&nid, ntf);
                stats.stored += 1;
            }
            Err(_) => stats.skipped += 1,
        }
    }
    fs::rename(path, with_suffix(path, ".bak"))?;
    Ok(stats)
}
