//! The message store: a FIFO of messages per queue, with the quota and expiry of the
//! reference (`Server/MsgStore/STM.hs`, defaults in `Server/Env/STM.hs`).
//!
//! When a queue holds `quota` messages, the next `SEND` stores a quota marker instead and is
//! refused; later sends are refused until the recipient has drained the queue (marker
//! included), so the recipient learns that messages were lost.
//!
//! Also the notification store ([`NtfStore`], the reference's `Server/NtfStore.hs`): `NMSG`
//! notifications kept for notifiers that are not subscribed.

use std::collections::{HashMap, VecDeque};

use crate::msg_journal::MsgJournal;
use crate::store::EntityId;

/// Messages per queue by default (`msgQueueQuota`).
pub const DEFAULT_QUOTA: usize = 128;
/// Message expiry by default: 21 days, in seconds.
pub const DEFAULT_MESSAGE_TTL: i64 = 21 * 86_400;

/// What a stored message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// A sender's message.
    Message {
        /// The `notification` flag of `SEND`.
        notification: bool,
        /// The body as sent.
        body: Vec<u8>,
    },
    /// The quota marker: messages were refused after this point.
    Quota,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message ID (random, 24 bytes; also the delivery nonce).
    pub id: Vec<u8>,
    /// When the server received it, in Unix seconds.
    pub ts: i64,
    /// Message or quota marker.
    pub kind: MessageKind,
}

/// The result of storing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored; `was_empty` tells whether it is now the first message (to deliver at once).
    Stored {
        /// The queue was empty before.
        was_empty: bool,
    },
    /// Refused: the queue is full (the marker was stored when this is the first refusal).
    Quota,
    /// Refused: the journal could not record it, so nothing was kept (answered `ERR
    /// INTERNAL`: an `OK` would promise a message a crash could lose).
    Failed,
}

#[derive(Debug, Default)]
struct MsgQueue {
    messages: VecDeque<Message>,
    can_write: bool,
}

/// All queues' messages.
#[derive(Debug)]
pub struct MsgStore {
    queues: HashMap<EntityId, MsgQueue>,
    quota: usize,
    /// With `store_messages = journal`: every change is also appended to disk.
    journal: Option<MsgJournal>,
}

impl Default for MsgStore {
    fn default() -> Self {
        Self::new(DEFAULT_QUOTA)
    }
}

impl MsgStore {
    /// An empty store with a per-queue quota.
    pub fn new(quota: usize) -> Self {
        MsgStore {
            queues: HashMap::new(),
            quota,
            journal: None,
        }
    }

    /// Persists every later change to `journal` (messages restored before are not written:
    /// they came from it).
    pub fn set_journal(&mut self, journal: MsgJournal) {
        self.journal = Some(journal);
    }

    /// The journal, when there is one.
    pub fn journal_mut(&mut self) -> Option<&mut MsgJournal> {
        self.journal.as_mut()
    }

    /// Appends the queue's last message to the journal; false when that failed.
    fn journal_write(&mut self, rid: &[u8]) -> bool {
        let (Some(j), Some(m)) = (
            self.journal.as_mut(),
            self.queues.get(rid).and_then(|q| q.messages.back()),
        ) else {
            return true;
        };
        match j.append(rid, m) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "message journal: append failed, message refused");
                false
            }
        }
    }

    fn journal_consumed(&mut self, rid: &[u8], n: usize) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        if let Err(e) = j.consumed(rid, n) {
            tracing::error!(error = %e, "message journal: read update failed");
        }
    }

    /// Stores a message (the quota marker takes its ID and time when the queue is full).
    pub fn write(&mut self, rid: &[u8], msg: Message) -> WriteOutcome {
        let q = self.queues.entry(rid.to_vec()).or_insert_with(|| MsgQueue {
            messages: VecDeque::new(),
            can_write: true,
        });
        let was_empty = q.messages.is_empty();
        if !(q.can_write || was_empty) {
            return WriteOutcome::Quota;
        }
        let could_write = q.can_write;
        q.can_write = q.messages.len() < self.quota;
        let outcome = if q.can_write {
            q.messages.push_back(msg);
            WriteOutcome::Stored { was_empty }
        } else {
            q.messages.push_back(Message {
                id: msg.id,
                ts: msg.ts,
                kind: MessageKind::Quota,
            });
            WriteOutcome::Quota
        };
        // On disk before the caller answers OK; if not, as if it never arrived.
        if !self.journal_write(rid) {
            if let Some(q) = self.queues.get_mut(rid) {
                q.messages.pop_back();
                q.can_write = could_write;
                if q.messages.is_empty() {
                    self.queues.remove(rid);
                }
            }
            return WriteOutcome::Failed;
        }
        outcome
    }

    /// Restores a saved message as is (a marker also closes the queue for writing).
    pub fn restore(&mut self, rid: &[u8], msg: Message) -> bool {
        let quota = self.quota;
        let q = self.queues.entry(rid.to_vec()).or_insert_with(|| MsgQueue {
            messages: VecDeque::new(),
            can_write: true,
        });
        if msg.kind == MessageKind::Quota {
            q.can_write = false;
        } else if q.messages.len() >= quota {
            return false;
        }
        q.messages.push_back(msg);
        true
    }

    /// Restores a message read from the journal: as [`MsgStore::restore`], but never refused
    /// for the quota (memory must hold what the journal holds, or acknowledgements would
    /// advance the journal past other messages; the quota applies to the next `SEND`).
    pub fn restore_journaled(&mut self, rid: &[u8], msg: Message) {
        let q = self.queues.entry(rid.to_vec()).or_insert_with(|| MsgQueue {
            messages: VecDeque::new(),
            can_write: true,
        });
        if msg.kind == MessageKind::Quota {
            q.can_write = false;
        }
        q.messages.push_back(msg);
    }

    /// The first message of a queue.
    pub fn peek(&self, rid: &[u8]) -> Option<&Message> {
        self.queues.get(rid)?.messages.front()
    }

    /// Deletes the first message when its ID is `msg_id`; returns it.
    pub fn delete_first(&mut self, rid: &[u8], msg_id: &[u8]) -> Option<Message> {
        let q = self.queues.get_mut(rid)?;
        if q.messages.front().is_some_and(|m| m.id == msg_id) {
            let m = q.messages.pop_front();
            // An emptied queue takes no memory: its entry (and the deque's capacity, up to
            // the quota) goes, and an empty queue accepts the next message as a new one.
            if q.messages.is_empty() {
                self.queues.remove(rid);
            }
            self.journal_consumed(rid, 1);
            m
        } else {
            None
        }
    }

    /// The number of stored messages (the marker included).
    pub fn size(&self, rid: &[u8]) -> usize {
        self.queues.get(rid).map_or(0, |q| q.messages.len())
    }

    /// Drops a queue's messages; returns how many there were (the quota marker is not a
    /// message).
    pub fn delete_queue(&mut self, rid: &[u8]) -> usize {
        if let Some(j) = self.journal.as_mut() {
            if let Err(e) = j.delete_queue(rid) {
                tracing::error!(error = %e, "message journal: delete failed");
            }
        }
        self.queues.remove(rid).map_or(0, |q| {
            q.messages
                .iter()
                .filter(|m| m.kind != MessageKind::Quota)
                .count()
        })
    }

    /// Deletes messages received before `before` (Unix seconds) from the head of one queue.
    /// A quota marker at the head stops it (the marker never expires, as in the reference's
    /// `deleteExpireMsgs_`), so a full queue stays closed until its recipient drains it.
    pub fn expire(&mut self, rid: &[u8], before: i64) -> usize {
        let Some(q) = self.queues.get_mut(rid) else {
            return 0;
        };
        let mut n = 0;
        while q
            .messages
            .front()
            .is_some_and(|m| m.kind != MessageKind::Quota && m.ts < before)
        {
            q.messages.pop_front();
            n += 1;
        }
        if q.messages.is_empty() {
            self.queues.remove(rid);
        }
        if n > 0 {
            self.journal_consumed(rid, n);
        }
        n
    }

    /// Expires every queue; returns the number of messages deleted. With a journal, the
    /// queues idle since the journal's idle interval are closed then, as the reference's
    /// expiration does (an empty one's journal deleted, its state backed up).
    pub fn expire_all(&mut self, before: i64) -> usize {
        let ids: Vec<EntityId> = self.queues.keys().cloned().collect();
        let n = ids.iter().map(|rid| self.expire(rid, before)).sum();
        if let Some(j) = self.journal.as_mut() {
            let closed = j.close_idle();
            if closed > 0 {
                tracing::info!(queues = closed, "message journal: idle empty queues closed");
            }
        }
        n
    }

    /// Every queue with messages, and its messages in order.
    pub fn all(&self) -> impl Iterator<Item = (&EntityId, impl Iterator<Item = &Message>)> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.messages.is_empty())
            .map(|(id, q)| (id, q.messages.iter()))
    }

    /// The total number of stored messages.
    pub fn total(&self) -> usize {
        self.queues.values().map(|q| q.messages.len()).sum()
    }
}

/// Notifications kept for a notifier by default: 24 hours, in seconds (`expire_ntfs_hours`).
pub const DEFAULT_NTF_TTL: i64 = 24 * 3600;

/// A message notification kept until its notifier subscribes (the reference's `MsgNtf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgNtf {
    /// The message's ID.
    pub msg_id: Vec<u8>,
    /// The message's time, in Unix seconds.
    pub ts: i64,
    /// The nonce of the encrypted metadata.
    pub nonce: [u8; 24],
    /// The encrypted `(msgId, ts)` metadata, as `NMSG` carries it.
    pub enc_meta: Vec<u8>,
}

/// Notifications per notifier ID, oldest first (the reference's `NtfStore`): every
/// notification for a notifier that is not subscribed waits here until it subscribes
/// (`NSUB`), the notifier is removed, or it expires.
#[derive(Debug, Default)]
pub struct NtfStore {
    ntfs: HashMap<EntityId, Vec<MsgNtf>>,
}

impl NtfStore {
    /// Keeps a notification.
    pub fn store(&mut self, nid: &[u8], ntf: MsgNtf) {
        self.ntfs.entry(nid.to_vec()).or_default().push(ntf);
    }

    /// Takes a notifier's notifications, oldest first.
    pub fn take(&mut self, nid: &[u8]) -> Vec<MsgNtf> {
        self.ntfs.remove(nid).unwrap_or_default()
    }

    /// Drops a notifier's notifications; returns how many there were.
    pub fn delete(&mut self, nid: &[u8]) -> usize {
        self.ntfs.remove(nid).map_or(0, |v| v.len())
    }

    /// Drops notifications of messages received before `before` (Unix seconds).
    pub fn expire(&mut self, before: i64) -> usize {
        let mut n = 0;
        self.ntfs.retain(|_, v| {
            let len = v.len();
            v.retain(|ntf| ntf.ts >= before);
            n += len - v.len();
            !v.is_empty()
        });
        n
    }

    /// Every notifier with notifications, and its notifications in order.
    pub fn all(&self) -> impl Iterator<Item = (&EntityId, &[MsgNtf])> {
        self.ntfs.iter().map(|(id, v)| (id, v.as_slice()))
    }

    /// The total number of kept notifications.
    pub fn total(&self) -> usize {
        self.ntfs.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u8, ts: i64) -> Message {
        Message {
            id: vec![n; 24],
            ts,
            kind: MessageKind::Message {
                notification: false,
                body: vec![n],
            },
        }
    }

    #[test]
    fn fifo_and_delete_first() {
        let mut s = MsgStore::default();
        let rid = [1u8; 24];
        assert_eq!(
            s.write(&rid, msg(1, 0)),
            WriteOutcome::Stored { was_empty: true }
        );
        assert_eq!(
            s.write(&rid, msg(2, 0)),
            WriteOutcome::Stored { was_empty: false }
        );
        assert_eq!(s.peek(&rid).map(|m| m.id[0]), Some(1));
        assert!(
            s.delete_first(&rid, &[2; 24]).is_none(),
            "only the first message is deleted"
        );
        assert!(s.delete_first(&rid, &[1; 24]).is_some());
        assert_eq!(s.peek(&rid).map(|m| m.id[0]), Some(2));
        // Drained, the queue holds no entry; expired to empty, neither.
        assert!(s.delete_first(&rid, &[2; 24]).is_some());
        assert_eq!(s.queues.len(), 0);
        s.write(&rid, msg(3, 5));
        assert_eq!(s.expire(&rid, 10), 1);
        assert_eq!(s.queues.len(), 0);
        assert_eq!(
            s.write(&rid, msg(4, 20)),
            WriteOutcome::Stored { was_empty: true }
        );
    }

    #[test]
    fn quota_marker_after_last_message_then_refusals_until_drained() {
        let mut s = MsgStore::new(3);
        let rid = [1u8; 24];
        for n in 0..3 {
            assert!(matches!(
                s.write(&rid, msg(n, 0)),
                WriteOutcome::Stored { .. }
            ));
        }
        assert_eq!(s.write(&rid, msg(10, 0)), WriteOutcome::Quota);
        assert_eq!(s.size(&rid), 4, "three messages and the marker");
        assert_eq!(s.write(&rid, msg(11, 0)), WriteOutcome::Quota);
        assert_eq!(s.size(&rid), 4, "no second marker");
        for n in 0..3 {
            assert!(s.delete_first(&rid, &[n; 24]).is_some());
        }
        let marker = s.peek(&rid).expect("marker").clone();
        assert_eq!((marker.id, marker.kind), (vec![10; 24], MessageKind::Quota));
        assert_eq!(
            s.write(&rid, msg(12, 0)),
            WriteOutcome::Quota,
            "still refused while the marker is there"
        );
        assert!(s.delete_first(&rid, &[10; 24]).is_some());
        assert_eq!(
            s.write(&rid, msg(13, 0)),
            WriteOutcome::Stored { was_empty: true }
        );
    }

    #[test]
    fn a_message_the_journal_cannot_record_is_refused_and_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (journal, _) = MsgJournal::open(dir.path(), []).expect("journal");
        let mut s = MsgStore::new(1);
        s.set_journal(journal);
        let rid = [7u8; 24];
        // A file where the queue's journal directory would go.
        let blocker = crate::msg_journal::queue_dir(dir.path(), &rid);
        std::fs::create_dir_all(blocker.parent().expect("parent")).expect("parents");
        std::fs::write(&blocker, b"").expect("blocker");
        assert_eq!(s.write(&rid, msg(1, 0)), WriteOutcome::Failed);
        assert_eq!((s.size(&rid), s.total()), (0, 0), "nothing kept");
        std::fs::remove_file(&blocker).expect("unblock");
        assert_eq!(
            s.write(&rid, msg(2, 0)),
            WriteOutcome::Stored { was_empty: true }
        );
        // The quota marker is refused the same way, and the queue stays writable for the
        // marker's next attempt.
        if let Some(j) = s.journal_mut() {
            j.delete_queue(&rid).expect("remove the queue's journal");
        }
        std::fs::write(&blocker, b"").expect("blocker again");
        assert_eq!(s.write(&rid, msg(3, 0)), WriteOutcome::Failed);
        assert_eq!(s.size(&rid), 1, "only the first message");
        std::fs::remove_file(&blocker).expect("unblock");
        assert_eq!(s.write(&rid, msg(4, 0)), WriteOutcome::Quota);
        assert_eq!(s.size(&rid), 2, "the message and the marker");
    }

    #[test]
    fn journaled_messages_are_restored_beyond_the_quota_and_the_next_send_is_refused() {
        let mut s = MsgStore::new(2);
        let rid = [3u8; 24];
        for n in 0..3 {
            s.restore_journaled(&rid, msg(n, 0));
        }
        assert_eq!(s.size(&rid), 3);
        assert_eq!(s.write(&rid, msg(9, 0)), WriteOutcome::Quota);
        assert_eq!(s.size(&rid), 4, "the marker");
    }

    #[test]
    fn expiry_removes_old_head_messages() {
        let mut s = MsgStore::default();
        let rid = [1u8; 24];
        s.write(&rid, msg(1, 100));
        s.write(&rid, msg(2, 200));
        assert_eq!(s.expire_all(150), 1);
        assert_eq!(s.peek(&rid).map(|m| m.ts), Some(200));
        assert_eq!(s.delete_queue(&rid), 1);
        assert_eq!(s.total(), 0);
    }

    fn ntf(n: u8, ts: i64) -> MsgNtf {
        MsgNtf {
            msg_id: vec![n; 24],
            ts,
            nonce: [n; 24],
            enc_meta: vec![n; 144],
        }
    }

    #[test]
    fn notifications_kept_in_order_taken_deleted_and_expired() {
        let mut s = NtfStore::default();
        s.store(&[1; 24], ntf(1, 100));
        s.store(&[1; 24], ntf(2, 200));
        s.store(&[2; 24], ntf(3, 100));
        assert_eq!(s.total(), 3);
        assert_eq!(s.expire(150), 2);
        assert_eq!(s.take(&[1; 24]), vec![ntf(2, 200)]);
        assert!(s.take(&[1; 24]).is_empty());
        s.store(&[2; 24], ntf(4, 300));
        s.store(&[2; 24], ntf(5, 400));
        assert_eq!(
            s.take(&[2; 24]).iter().map(|n| n.ts).collect::<Vec<_>>(),
            vec![300, 400]
        );
        s.store(&[3; 24], ntf(6, 500));
        assert_eq!(s.delete(&[3; 24]), 1);
        assert_eq!(s.total(), 0);
    }
}
