//! The queue store: every queue's record, indexed by recipient, sender and notifier ID.
//!
//! Semantics of `protocol/simplex-messaging.md` § "SMP queues" and the reference's
//! `Server/QueueStore*`. IDs are chosen by the caller (the server draws them at random);
//! the store only refuses duplicates. Every change is handed to the store log, when there is
//! one, before the call returns (see [`crate::store_log`]).

use std::collections::HashMap;

use crate::store_log::{StoreLogRecord, StoreLogWriter};
use simplex_crypto::{DhSecretX25519, PublicAuthKey};

/// A queue, sender or notifier ID (24 random bytes when the server makes them).
pub type EntityId = Vec<u8>;

/// Whether the sender may secure the queue itself (`SKEY`, v9) or it is a contact queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMode {
    /// `M`: a messaging queue; the sender may secure it with `SKEY`.
    Messaging,
    /// `C`: a contact address queue, never secured by a sender.
    Contact,
}

/// A queue's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueStatus {
    /// `active`.
    Active,
    /// `off`: suspended by the recipient (`OFF`); senders get `ERR AUTH`.
    Off,
    /// `blocked,<info>`: blocked by the operator; the info text is kept as stored.
    Blocked(String),
}

/// Notification credentials of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtfCreds {
    /// The notifier ID.
    pub notifier_id: EntityId,
    /// The notifier's authorization key.
    pub notifier_key: PublicAuthKey,
    /// The DH secret between server and recipient for notification metadata.
    pub rcv_ntf_dh_secret: DhSecretX25519,
    /// A notifier service association (`nsrv=`), kept as stored.
    pub ntf_service: Option<String>,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// The recipient ID (the queue's primary key).
    pub recipient_id: EntityId,
    /// The recipient's authorization keys (one unless updated with `RKEY`).
    pub recipient_keys: Vec<PublicAuthKey>,
    /// The DH secret between server and recipient, for delivered message bodies.
    pub rcv_dh_secret: DhSecretX25519,
    /// The sender ID.
    pub sender_id: EntityId,
    /// The sender's key once the queue is secured.
    pub sender_key: Option<PublicAuthKey>,
    /// The queue mode (`None` for queues made before modes existed).
    pub queue_mode: Option<QueueMode>,
    /// Short-link data (`link_id=… queue_data=…`), kept as stored text.
    pub link: Option<String>,
    /// Notification credentials.
    pub notifier: Option<NtfCreds>,
    /// Status.
    pub status: QueueStatus,
    /// The day (Unix seconds rounded down to a day) the queue was last used.
    pub updated_at: Option<i64>,
    /// A recipient service association (`rsrv=`), kept as stored.
    pub rcv_service: Option<String>,
}

impl QueueRecord {
    /// True when the sender may secure the queue with `SKEY` (messaging mode, unsecured or
    /// same key).
    pub fn sender_can_secure(&self) -> bool {
        self.queue_mode == Some(QueueMode::Messaging)
    }
}

/// Queue store errors (these map to `ERR AUTH` / `ERR INTERNAL` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such queue.
    #[error("no queue")]
    NotFound,
    /// An ID is already in use.
    #[error("duplicate ID")]
    Duplicate,
    /// The queue is already secured with another key.
    #[error("queue already secured")]
    AlreadySecured,
    /// The store log could not be written.
    #[error("store log write failed")]
    Log,
}

/// Which party an ID is looked up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// By recipient ID.
    Recipient,
    /// By sender ID.
    Sender,
    /// By notifier ID.
    Notifier,
}

/// The in-memory queue store, with an optional store log.
#[derive(Debug, Default)]
pub struct QueueStore {
    queues: HashMap<EntityId, QueueRecord>,
    senders: HashMap<EntityId, EntityId>,
    notifiers: HashMap<EntityId, EntityId>,
    log: Option<StoreLogWriter>,
}

impl QueueStore {
    /// An empty store without a log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches a store log; every later change is appended to it.
    pub fn set_log(&mut self, log: StoreLogWriter) {
        self.log = Some(log);
    }

    /// Detaches and returns the store log (to close it).
    pub fn take_log(&mut self) -> Option<StoreLogWriter> {
        self.log.take()
    }

    /// The number of queues.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// True when there are no queues.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// All queues, in no particular order.
    pub fn queues(&self) -> impl Iterator<Item = &QueueRecord> {
        self.queues.values()
    }

    fn write(&mut self, record: &StoreLogRecord) -> Result<(), StoreError> {
        match &mut self.log {
            Some(log) => log.write(record).map_err(|_| StoreError::Log),
            None => Ok(()),
        }
    }

    /// Finds a queue by the ID of a party.
    pub fn find(&self, party: Party, id: &[u8]) -> Option<&QueueRecord> {
        let rid = match party {
            Party::Recipient => return self.queues.get(id),
            Party::Sender => self.senders.get(id)?,
            Party::Notifier => self.notifiers.get(id)?,
        };
        self.queues.get(rid)
    }

    /// The recipient ID of a party's ID.
    pub fn recipient_id(&self, party: Party, id: &[u8]) -> Option<EntityId> {
        self.find(party, id).map(|q| q.recipient_id.clone())
    }

    /// True when `id` is used as any party's ID.
    pub fn id_in_use(&self, id: &[u8]) -> bool {
        self.queues.contains_key(id)
            || self.senders.contains_key(id)
            || self.notifiers.contains_key(id)
    }

    /// Adds a queue (logged as `CREATE`).
    pub fn add(&mut self, record: QueueRecord) -> Result<(), StoreError> {
        self.insert(record.clone())?;
        if let Err(e) = self.write(&StoreLogRecord::CreateQueue(Box::new(record.clone()))) {
            self.remove_indexes(&record.recipient_id);
            return Err(e);
        }
        Ok(())
    }

    /// Adds a queue without logging (used when replaying the log).
    pub(crate) fn insert(&mut self, record: QueueRecord) -> Result<(), StoreError> {
        let ids_clash = self.id_in_use(&record.recipient_id)
            || self.id_in_use(&record.sender_id)
            || record.recipient_id == record.sender_id
            || record.notifier.as_ref().is_some_and(|n| {
                self.id_in_use(&n.notifier_id)
                    || n.notifier_id == record.recipient_id
                    || n.notifier_id == record.sender_id
            });
        if ids_clash {
            return Err(StoreError::Duplicate);
        }
        self.senders
            .insert(record.sender_id.clone(), record.recipient_id.clone());
        if let Some(n) = &record.notifier {
            self.notifiers
                .insert(n.notifier_id.clone(), record.recipient_id.clone());
        }
        self.queues.insert(record.recipient_id.clone(), record);
        Ok(())
    }

    fn remove_indexes(&mut self, rid: &[u8]) -> Option<QueueRecord> {
        let q = self.queues.remove(rid)?;
        self.senders.remove(&q.sender_id);
        if let Some(n) = &q.notifier {
            self.notifiers.remove(&n.notifier_id);
        }
        Some(q)
    }

    fn get_mut(&mut self, rid: &[u8]) -> Result<&mut QueueRecord, StoreError> {
        self.queues.get_mut(rid).ok_or(StoreError::NotFound)
    }

    /// Sets the sender key (`KEY` / `SKEY`; logged as `SECURE`). Securing again with the same
    /// key succeeds (a retried `SKEY`); with another key it fails.
    pub fn secure(&mut self, rid: &[u8], key: PublicAuthKey) -> Result<(), StoreError> {
        let q = self.get_mut(rid)?;
        match &q.sender_key {
            Some(k) if *k == key => return Ok(()),
            Some(_) => return Err(StoreError::AlreadySecured),
            None => q.sender_key = Some(key.clone()),
        }
        self.write(&StoreLogRecord::SecureQueue(rid.to_vec(), key))
    }

    /// Adds or replaces notifier credentials (`NKEY`; logged as `NOTIFIER`). Returns the
    /// replaced notifier ID, if any.
    pub fn add_notifier(
        &mut self,
        rid: &[u8],
        creds: NtfCreds,
    ) -> Result<Option<EntityId>, StoreError> {
        if self.id_in_use(&creds.notifier_id) {
            return Err(StoreError::Duplicate);
        }
        let q = self.get_mut(rid)?;
        let old = q.notifier.replace(creds.clone()).map(|n| n.notifier_id);
        if let Some(old) = &old {
            self.notifiers.remove(old);
        }
        self.notifiers
            .insert(creds.notifier_id.clone(), rid.to_vec());
        self.write(&StoreLogRecord::AddNotifier(rid.to_vec(), creds))?;
        Ok(old)
    }

    /// Removes notifier credentials (`NDEL`; logged as `NDELETE`). Returns the removed ID.
    pub fn delete_notifier(&mut self, rid: &[u8]) -> Result<Option<EntityId>, StoreError> {
        let q = self.get_mut(rid)?;
        let Some(old) = q.notifier.take().map(|n| n.notifier_id) else {
            return Ok(None);
        };
        self.notifiers.remove(&old);
        self.write(&StoreLogRecord::DeleteNotifier(rid.to_vec()))?;
        Ok(Some(old))
    }

    /// Suspends the queue (`OFF`; logged as `SUSPEND`).
    pub fn suspend(&mut self, rid: &[u8]) -> Result<(), StoreError> {
        self.get_mut(rid)?.status = QueueStatus::Off;
        self.write(&StoreLogRecord::SuspendQueue(rid.to_vec()))
    }

    /// Records the day the queue was used (logged as `TIME`) when it changed.
    pub fn touch(&mut self, rid: &[u8], day: i64) -> Result<(), StoreError> {
        let q = self.get_mut(rid)?;
        if q.updated_at == Some(day) {
            return Ok(());
        }
        q.updated_at = Some(day);
        self.write(&StoreLogRecord::UpdateTime(rid.to_vec(), day))
    }

    /// Deletes the queue (`DEL`; logged as `DELETE`) and returns it.
    pub fn delete(&mut self, rid: &[u8]) -> Result<QueueRecord, StoreError> {
        let q = self.remove_indexes(rid).ok_or(StoreError::NotFound)?;
        self.write(&StoreLogRecord::DeleteQueue(rid.to_vec()))?;
        Ok(q)
    }

    /// Applies one log record while replaying (no logging).
    pub(crate) fn apply(&mut self, record: StoreLogRecord) -> Result<(), StoreError> {
        match record {
            StoreLogRecord::CreateQueue(q) => self.insert(*q),
            StoreLogRecord::SecureQueue(rid, key) => {
                self.get_mut(&rid)?.sender_key = Some(key);
                Ok(())
            }
            StoreLogRecord::UpdateKeys(rid, keys) => {
                self.get_mut(&rid)?.recipient_keys = keys;
                Ok(())
            }
            StoreLogRecord::AddNotifier(rid, creds) => {
                let nid = creds.notifier_id.clone();
                let q = self.get_mut(&rid)?;
                let old = q.notifier.replace(creds).map(|n| n.notifier_id);
                if let Some(old) = old {
                    self.notifiers.remove(&old);
                }
                self.notifiers.insert(nid, rid);
                Ok(())
            }
            StoreLogRecord::DeleteNotifier(rid) => {
                if let Some(n) = self.get_mut(&rid)?.notifier.take() {
                    self.notifiers.remove(&n.notifier_id);
                }
                Ok(())
            }
            StoreLogRecord::SuspendQueue(rid) => {
                self.get_mut(&rid)?.status = QueueStatus::Off;
                Ok(())
            }
            StoreLogRecord::BlockQueue(rid, info) => {
                self.get_mut(&rid)?.status = QueueStatus::Blocked(info);
                Ok(())
            }
            StoreLogRecord::UnblockQueue(rid) => {
                self.get_mut(&rid)?.status = QueueStatus::Active;
                Ok(())
            }
            StoreLogRecord::DeleteQueue(rid) => self
                .remove_indexes(&rid)
                .map(drop)
                .ok_or(StoreError::NotFound),
            StoreLogRecord::UpdateTime(rid, day) => {
                self.get_mut(&rid)?.updated_at = Some(day);
                Ok(())
            }
            StoreLogRecord::CreateLink(rid, link) => {
                self.get_mut(&rid)?.link = Some(link);
                Ok(())
            }
            StoreLogRecord::DeleteLink(rid) => {
                self.get_mut(&rid)?.link = None;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use simplex_crypto::{PublicKeyEd25519, PublicKeyX25519};

    /// An Ed25519 key from 32 repeated bytes (any 32 bytes are accepted, as the reference does).
    pub(crate) fn ed(n: u8) -> PublicAuthKey {
        PublicAuthKey::Ed25519(PublicKeyEd25519::from_raw(&[n; 32]).expect("32 bytes"))
    }

    /// An X25519 key from 32 repeated bytes.
    pub(crate) fn x(n: u8) -> PublicAuthKey {
        PublicAuthKey::X25519(PublicKeyX25519::from_raw(&[n; 32]).expect("32 bytes"))
    }

    pub(crate) fn record(n: u8) -> QueueRecord {
        QueueRecord {
            recipient_id: vec![n; 24],
            recipient_keys: vec![ed(n)],
            rcv_dh_secret: DhSecretX25519::from_bytes([n; 32]),
            sender_id: vec![n.wrapping_add(100); 24],
            sender_key: None,
            queue_mode: Some(QueueMode::Messaging),
            link: None,
            notifier: None,
            status: QueueStatus::Active,
            updated_at: None,
            rcv_service: None,
        }
    }

    #[test]
    fn add_find_secure_delete() {
        let mut s = QueueStore::new();
        let q = record(1);
        s.add(q.clone()).expect("add");
        assert_eq!(s.add(q.clone()), Err(StoreError::Duplicate));
        assert_eq!(s.find(Party::Sender, &q.sender_id), Some(&q));
        assert!(s.find(Party::Sender, &q.recipient_id).is_none());
        let k = ed(9);
        s.secure(&q.recipient_id, k.clone()).expect("secure");
        s.secure(&q.recipient_id, k.clone())
            .expect("same key again");
        assert_eq!(
            s.secure(&q.recipient_id, ed(8)),
            Err(StoreError::AlreadySecured)
        );
        let creds = NtfCreds {
            notifier_id: vec![50; 24],
            notifier_key: x(3),
            rcv_ntf_dh_secret: DhSecretX25519::from_bytes([4; 32]),
            ntf_service: None,
        };
        assert_eq!(s.add_notifier(&q.recipient_id, creds), Ok(None));
        assert!(s.find(Party::Notifier, &[50; 24]).is_some());
        assert_eq!(s.delete_notifier(&q.recipient_id), Ok(Some(vec![50; 24])));
        assert!(s.find(Party::Notifier, &[50; 24]).is_none());
        s.suspend(&q.recipient_id).expect("suspend");
        assert_eq!(
            s.find(Party::Recipient, &q.recipient_id).map(|q| &q.status),
            Some(&QueueStatus::Off)
        );
        s.delete(&q.recipient_id).expect("delete");
        assert!(s.find(Party::Sender, &q.sender_id).is_none());
        assert_eq!(s.delete(&q.recipient_id), Err(StoreError::NotFound));
    }
}
