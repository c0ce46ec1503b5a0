//! The message store: a FIFO of messages per queue, with the quota and expiry of the
//! reference (`Server/MsgStore/STM.hs`, defaults in `Server/Env/STM.hs`).
//!
//! When a queue holds `quota` messages, the next `SEND` stores a quota marker instead and is
//! refused; later sends are refused until the recipient has drained the queue (marker
//! included), so the recipient learns that messages were lost.

use std::collections::{HashMap, VecDeque};

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
        q.can_write = q.messages.len() < self.quota;
        if q.can_write {
            q.messages.push_back(msg);
            WriteOutcome::Stored { was_empty }
        } else {
            q.messages.push_back(Message {
                id: msg.id,
                ts: msg.ts,
                kind: MessageKind::Quota,
            });
            WriteOutcome::Quota
        }
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

    /// The first message of a queue.
    pub fn peek(&self, rid: &[u8]) -> Option<&Message> {
        self.queues.get(rid)?.messages.front()
    }

    /// Deletes the first message when its ID is `msg_id`; returns it.
    pub fn delete_first(&mut self, rid: &[u8], msg_id: &[u8]) -> Option<Message> {
        let q = self.queues.get_mut(rid)?;
        if q.messages.front().is_some_and(|m| m.id == msg_id) {
            q.messages.pop_front()
        } else {
            None
        }
    }

    /// The number of stored messages (the marker included).
    pub fn size(&self, rid: &[u8]) -> usize {
        self.queues.get(rid).map_or(0, |q| q.messages.len())
    }

    /// Drops a queue's messages; returns how many there were.
    pub fn delete_queue(&mut self, rid: &[u8]) -> usize {
        self.queues.remove(rid).map_or(0, |q| q.messages.len())
    }

    /// Deletes messages received before `before` (Unix seconds) from the head of one queue.
    pub fn expire(&mut self, rid: &[u8], before: i64) -> usize {
        let Some(q) = self.queues.get_mut(rid) else {
            return 0;
        };
        let mut n = 0;
        while q.messages.front().is_some_and(|m| m.ts < before) {
            q.messages.pop_front();
            n += 1;
        }
        n
    }

    /// Expires every queue; returns the number of messages deleted.
    pub fn expire_all(&mut self, before: i64) -> usize {
        let ids: Vec<EntityId> = self.queues.keys().cloned().collect();
        ids.iter().map(|rid| self.expire(rid, before)).sum()
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
}
