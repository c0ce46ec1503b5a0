//! The queue store: every queue's record, indexed by recipient, sender and notifier ID.
//!
//! Semantics of `protocol/simplex-messaging.md` § "SMP queues" and the reference's
//! `Server/QueueStore*`. IDs are chosen by the caller (the server draws them at random);
//! the store only refuses duplicates. Every change is handed to the store log, when there is
//! one, before the call returns (see [`crate::store_log`]).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::store_log::{ServiceParty, StoreLogRecord, StoreLogWriter};

mod services;
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

/// A queue's short link (v15): its link ID and the encrypted link data, stored without being
/// read (`queueData` of the reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLink {
    /// The link ID (chosen by the client for contact queues, by the server for messaging
    /// queues); `LKEY` and `LGET` address the queue by it.
    pub link_id: EntityId,
    /// The encrypted fixed part (set once: `LSET` may not change it).
    pub fixed: Vec<u8>,
    /// The encrypted user part (replaced by `LSET`).
    pub user: Vec<u8>,
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
    /// The notifier service the queue's notifications go to (`nsrv=`, v16).
    pub ntf_service: Option<EntityId>,
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
    /// The short link (v15), if any.
    pub link: Option<QueueLink>,
    /// Notification credentials.
    pub notifier: Option<NtfCreds>,
    /// Status.
    pub status: QueueStatus,
    /// The day (Unix seconds rounded down to a day) the queue was last used.
    pub updated_at: Option<i64>,
    /// The recipient service that made the queue (`rsrv=`, v16).
    pub rcv_service: Option<EntityId>,
}

impl QueueRecord {
    /// True when the sender may secure the queue with `SKEY` (messaging mode, unsecured or
    /// same key).
    pub fn sender_can_secure(&self) -> bool {
        self.queue_mode == Some(QueueMode::Messaging)
    }

    /// A contact queue for `LGET` (the reference's `isContactQueue`): contact mode, or no
    /// mode (queues made before `SKEY`) while unsecured.
    pub fn is_contact(&self) -> bool {
        match self.queue_mode {
            Some(QueueMode::Messaging) => false,
            Some(QueueMode::Contact) => true,
            None => self.sender_key.is_none(),
        }
    }

    /// A messaging queue (or one without a mode) that a sender key secures (the reference's
    /// `isSecuredMsgQueue`): its link data may no longer be set.
    pub fn is_secured_messaging(&self) -> bool {
        self.queue_mode != Some(QueueMode::Contact) && self.sender_key.is_some()
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
    /// A queue or sender ID is not 24 bytes long.
    #[error("queue ID not 24 bytes")]
    IdLength,
    /// A queue without a recipient key.
    #[error("no recipient key")]
    NoKey,
    /// More queues than slots (2^32).
    #[error("store full")]
    Full,
    /// `LSET` with another link ID or other fixed data than the queue's link has.
    #[error("link ID or fixed link data would change")]
    LinkChange,
    /// A service certificate already registered in another role.
    #[error("service certificate of another role")]
    ServiceRole,
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
    /// By link ID (`LKEY`, `LGET`; v15).
    Link,
}

/// The length of queue IDs kept by the store (the reference's and this server's IDs).
pub const ID_LEN: usize = 24;

type Id = [u8; ID_LEN];

fn id_of(id: &[u8]) -> Option<Id> {
    id.try_into().ok()
}

/// What only some queues have, boxed so that an idle queue pays one pointer for all of it.
#[derive(Debug, Clone, Default)]
struct Extra {
    /// Recipient keys after the first (`RKEY`).
    more_keys: Vec<PublicAuthKey>,
    /// Boxed again: most queues with extras have a notifier and no link.
    link: Option<Box<QueueLink>>,
    notifier: Option<NtfCreds>,
    blocked: Option<String>,
    rcv_service: Option<EntityId>,
}

/// A queue as kept in memory: fixed-size IDs and keys inline, the rare parts boxed
/// (about 220 bytes; [`QueueRecord`] is the form the rest of the server sees).
#[derive(Debug, Clone)]
struct Packed {
    rid: Id,
    sid: Id,
    rcv_dh_secret: DhSecretX25519,
    first_key: PublicAuthKey,
    sender_key: Option<PublicAuthKey>,
    /// `i64::MIN` for none.
    updated_at: i64,
    queue_mode: Option<QueueMode>,
    /// 0 active, 1 off, 2 blocked (the info in `extra`).
    status: u8,
    extra: Option<Box<Extra>>,
}

impl Packed {
    fn pack(q: QueueRecord) -> Result<Packed, StoreError> {
        let (Some(rid), Some(sid)) = (id_of(&q.recipient_id), id_of(&q.sender_id)) else {
            return Err(StoreError::IdLength);
        };
        let mut keys = q.recipient_keys.into_iter();
        let first_key = keys.next().ok_or(StoreError::NoKey)?;
        let more_keys: Vec<PublicAuthKey> = keys.collect();
        let (status, blocked) = match q.status {
            QueueStatus::Active => (0, None),
            QueueStatus::Off => (1, None),
            QueueStatus::Blocked(info) => (2, Some(info)),
        };
        let extra = Extra {
            more_keys,
            link: q.link.map(Box::new),
            notifier: q.notifier,
            blocked,
            rcv_service: q.rcv_service,
        };
        let mut p = Packed {
            rid,
            sid,
            rcv_dh_secret: q.rcv_dh_secret,
            first_key,
            sender_key: q.sender_key,
            updated_at: q.updated_at.unwrap_or(i64::MIN),
            queue_mode: q.queue_mode,
            status,
            extra: None,
        };
        p.set_extra(extra);
        Ok(p)
    }

    fn set_extra(&mut self, e: Extra) {
        let empty = e.more_keys.is_empty()
            && e.link.is_none()
            && e.notifier.is_none()
            && e.blocked.is_none()
            && e.rcv_service.is_none();
        self.extra = if empty { None } else { Some(Box::new(e)) };
    }

    /// Changes the boxed part (boxing or unboxing it as needed).
    fn edit_extra<T>(&mut self, f: impl FnOnce(&mut Extra) -> T) -> T {
        let mut e = self.extra.take().map(|b| *b).unwrap_or_default();
        let r = f(&mut e);
        self.set_extra(e);
        r
    }

    fn notifier(&self) -> Option<&NtfCreds> {
        self.extra.as_ref().and_then(|e| e.notifier.as_ref())
    }

    fn link(&self) -> Option<&QueueLink> {
        self.extra.as_ref().and_then(|e| e.link.as_deref())
    }

    fn unpack(&self) -> QueueRecord {
        self.unpack_with(true)
    }

    /// The record, with its link data only when `with_link`.
    fn unpack_with(&self, with_link: bool) -> QueueRecord {
        let extra = self.extra.as_deref();
        let mut recipient_keys = Vec::with_capacity(1);
        recipient_keys.push(self.first_key.clone());
        if let Some(e) = extra {
            recipient_keys.extend(e.more_keys.iter().cloned());
        }
        let status = match (self.status, extra.and_then(|e| e.blocked.as_ref())) {
            (1, _) => QueueStatus::Off,
            (2, Some(info)) => QueueStatus::Blocked(info.clone()),
            (2, None) => QueueStatus::Blocked(String::new()),
            _ => QueueStatus::Active,
        };
        QueueRecord {
            recipient_id: self.rid.to_vec(),
            recipient_keys,
            rcv_dh_secret: self.rcv_dh_secret.clone(),
            sender_id: self.sid.to_vec(),
            sender_key: self.sender_key.clone(),
            queue_mode: self.queue_mode,
            link: extra
                .and_then(|e| e.link.as_deref().cloned())
                .filter(|_| with_link),
            notifier: extra.and_then(|e| e.notifier.clone()),
            status,
            updated_at: (self.updated_at != i64::MIN).then_some(self.updated_at),
            rcv_service: extra.and_then(|e| e.rcv_service.clone()),
        }
    }

    fn set_status(&mut self, status: QueueStatus) {
        let (tag, info) = match status {
            QueueStatus::Active => (0, None),
            QueueStatus::Off => (1, None),
            QueueStatus::Blocked(info) => (2, Some(info)),
        };
        self.status = tag;
        self.edit_extra(|e| e.blocked = info);
    }
}

/// The ID a table entry stands for: the recipient ID (low bit 0) or the sender ID (1) of
/// the record in slot `entry >> 1`.
fn entry_id(records: &[Option<Packed>], entry: u32) -> Option<&Id> {
    let p = records.get((entry >> 1) as usize)?.as_ref()?;
    Some(if entry & 1 == 0 { &p.rid } else { &p.sid })
}

fn entry_hash(records: &[Option<Packed>], hasher: &RandomState, entry: u32) -> u64 {
    entry_id(records, entry).map_or(0, |id| hasher.hash_one(id.as_slice()))
}

/// The in-memory queue store, with an optional store log.
///
/// Records live in one vector (freed slots reused); one hash table indexes them by recipient
/// and by sender ID: each queue has two entries, its slot number with a bit telling which of
/// its IDs the entry stands for, hashed by that ID as kept in the record. An idle queue costs
/// its packed record and two 4-byte table entries, and whether an ID is in use as either is
/// one probe. Notifier IDs and link IDs (only some queues have them) have maps, so that a
/// queue without either pays nothing for them.
#[derive(Default)]
pub struct QueueStore {
    records: Vec<Option<Packed>>,
    free: Vec<u32>,
    /// `slot << 1` for the recipient ID, `slot << 1 | 1` for the sender ID.
    ids: HashTable<u32>,
    count: usize,
    hasher: RandomState,
    notifiers: HashMap<EntityId, EntityId>,
    /// Link ID → recipient ID.
    links: HashMap<EntityId, EntityId>,
    /// Service clients and their queues (v16).
    services: services::Services,
    log: Option<StoreLogWriter>,
}

impl std::fmt::Debug for QueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueStore")
            .field("queues", &self.len())
            .field("log", &self.log)
            .finish()
    }
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
        self.count
    }

    /// The number of queues with notifier credentials.
    pub fn notifier_count(&self) -> usize {
        self.notifiers.len()
    }

    /// True when there are no queues.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Makes room in the ID index for `additional` more queues (before replaying a log, so
    /// that the table is not rehashed as it grows).
    pub fn reserve(&mut self, additional: usize) {
        let (records, hasher) = (&self.records, &self.hasher);
        self.ids.reserve(additional.saturating_mul(2), |e| {
            entry_hash(records, hasher, *e)
        });
    }

    /// All queues, in no particular order.
    pub fn queues(&self) -> impl Iterator<Item = QueueRecord> + '_ {
        self.records.iter().flatten().map(Packed::unpack)
    }

    fn write(&mut self, record: &StoreLogRecord) -> Result<(), StoreError> {
        match &mut self.log {
            Some(log) => log.write(record).map_err(|_| StoreError::Log),
            None => Ok(()),
        }
    }

    /// The table entry for `id` (as a recipient ID, a sender ID, or either).
    fn entry(&self, id: &[u8], which: Option<u32>) -> Option<u32> {
        let h = self.hasher.hash_one(id);
        let records = &self.records;
        self.ids
            .find(h, |e| {
                which.is_none_or(|w| e & 1 == w) && entry_id(records, *e).is_some_and(|i| i == id)
            })
            .copied()
    }

    fn slot(&self, party: Party, id: &[u8]) -> Option<u32> {
        match party {
            Party::Recipient => self.entry(id, Some(0)).map(|e| e >> 1),
            Party::Sender => self.entry(id, Some(1)).map(|e| e >> 1),
            Party::Notifier => {
                let rid = self.notifiers.get(id)?;
                self.slot(Party::Recipient, rid)
            }
            Party::Link => {
                let rid = self.links.get(id)?;
                self.slot(Party::Recipient, rid)
            }
        }
    }

    fn packed(&self, party: Party, id: &[u8]) -> Option<&Packed> {
        let slot = self.slot(party, id)?;
        self.records.get(slot as usize).and_then(Option::as_ref)
    }

    /// Finds a queue by the ID of a party (a copy of its record).
    pub fn find(&self, party: Party, id: &[u8]) -> Option<QueueRecord> {
        self.packed(party, id).map(Packed::unpack)
    }

    /// A queue's record without its link data (up to kilobytes, which most commands do not
    /// read), and whether it has a link.
    pub fn find_meta(&self, party: Party, id: &[u8]) -> Option<(QueueRecord, bool)> {
        self.packed(party, id)
            .map(|p| (p.unpack_with(false), p.link().is_some()))
    }

    /// The DH secret for the bodies delivered from a queue (without copying the record).
    pub fn rcv_dh_secret(&self, rid: &[u8]) -> Option<&DhSecretX25519> {
        self.packed(Party::Recipient, rid).map(|p| &p.rcv_dh_secret)
    }

    /// The recipient ID of a party's ID.
    pub fn recipient_id(&self, party: Party, id: &[u8]) -> Option<EntityId> {
        self.packed(party, id).map(|p| p.rid.to_vec())
    }

    /// True when `id` is used as any party's ID.
    pub fn id_in_use(&self, id: &[u8]) -> bool {
        self.entry(id, None).is_some() || self.notifiers.contains_key(id)
    }

    /// Adds a queue (logged as `CREATE`).
    pub fn add(&mut self, record: QueueRecord) -> Result<(), StoreError> {
        self.insert(record.clone())?;
        let rid = record.recipient_id.clone();
        if let Err(e) = self.write(&StoreLogRecord::CreateQueue(Box::new(record))) {
            self.remove_indexes(&rid);
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
            })
            || record
                .link
                .as_ref()
                .is_some_and(|l| self.links.contains_key(&l.link_id));
        if ids_clash {
            return Err(StoreError::Duplicate);
        }
        let packed = Packed::pack(record)?;
        if let Some(n) = packed.notifier() {
            self.notifiers
                .insert(n.notifier_id.clone(), packed.rid.to_vec());
            if let Some(sid) = &n.ntf_service {
                self.services
                    .add_queue(ServiceParty::Notifier, sid, &n.notifier_id);
            }
        }
        if let Some(sid) = packed.extra.as_ref().and_then(|e| e.rcv_service.as_ref()) {
            self.services
                .add_queue(ServiceParty::Recipient, sid, &packed.rid);
        }
        if let Some(l) = packed.link() {
            self.links.insert(l.link_id.clone(), packed.rid.to_vec());
        }
        let h_rid = self.hasher.hash_one(packed.rid.as_slice());
        let h_sid = self.hasher.hash_one(packed.sid.as_slice());
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(s) = self.records.get_mut(slot as usize) {
                    *s = Some(packed);
                }
                slot
            }
            None => {
                let slot = u32::try_from(self.records.len())
                    .ok()
                    .filter(|s| *s < u32::MAX >> 1)
                    .ok_or(StoreError::Full)?;
                self.records.push(Some(packed));
                slot
            }
        };
        let (records, hasher) = (&self.records, &self.hasher);
        let rehash = |e: &u32| entry_hash(records, hasher, *e);
        self.ids.insert_unique(h_rid, slot << 1, rehash);
        self.ids.insert_unique(h_sid, slot << 1 | 1, rehash);
        self.count += 1;
        Ok(())
    }

    fn remove_indexes(&mut self, rid: &[u8]) -> Option<Packed> {
        let slot = self.slot(Party::Recipient, rid)?;
        let q = self.records.get_mut(slot as usize)?.take()?;
        let h_rid = self.hasher.hash_one(q.rid.as_slice());
        let h_sid = self.hasher.hash_one(q.sid.as_slice());
        if let Ok(e) = self.ids.find_entry(h_rid, |e| *e == slot << 1) {
            e.remove();
        }
        if let Ok(e) = self.ids.find_entry(h_sid, |e| *e == slot << 1 | 1) {
            e.remove();
        }
        self.free.push(slot);
        self.count -= 1;
        if let Some(n) = q.notifier() {
            self.notifiers.remove(&n.notifier_id);
            self.unindex_ntf_service(n);
        }
        if let Some(sid) = q.extra.as_ref().and_then(|e| e.rcv_service.as_ref()) {
            self.services
                .remove_queue(ServiceParty::Recipient, sid, &q.rid);
        }
        if let Some(l) = q.link() {
            self.links.remove(&l.link_id);
        }
        Some(q)
    }

    /// Drops a removed notifier from its service's queues.
    fn unindex_ntf_service(&mut self, n: &NtfCreds) {
        if let Some(sid) = &n.ntf_service {
            self.services
                .remove_queue(ServiceParty::Notifier, sid, &n.notifier_id);
        }
    }

    fn get_mut(&mut self, rid: &[u8]) -> Result<&mut Packed, StoreError> {
        let slot = self
            .slot(Party::Recipient, rid)
            .ok_or(StoreError::NotFound)?;
        self.records
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .ok_or(StoreError::NotFound)
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
        let old = q.edit_extra(|e| e.notifier.replace(creds.clone()));
        if let Some(old) = &old {
            self.notifiers.remove(&old.notifier_id);
            self.unindex_ntf_service(old);
        }
        let old = old.map(|n| n.notifier_id);
        self.notifiers
            .insert(creds.notifier_id.clone(), rid.to_vec());
        self.write(&StoreLogRecord::AddNotifier(rid.to_vec(), creds))?;
        Ok(old)
    }

    /// Removes notifier credentials (`NDEL`; logged as `NDELETE`). Returns the removed ID.
    pub fn delete_notifier(&mut self, rid: &[u8]) -> Result<Option<EntityId>, StoreError> {
        let q = self.get_mut(rid)?;
        let Some(old) = q.edit_extra(|e| e.notifier.take()) else {
            return Ok(None);
        };
        self.unindex_ntf_service(&old);
        let old = old.notifier_id;
        self.notifiers.remove(&old);
        self.write(&StoreLogRecord::DeleteNotifier(rid.to_vec()))?;
        Ok(Some(old))
    }

    /// Sets the queue's link (`LSET`; logged as `LINK`). Fails with
    /// [`StoreError::LinkChange`] when the queue has a link with another ID or other fixed
    /// data, and with [`StoreError::Duplicate`] when another queue has this link ID.
    pub fn set_link(&mut self, rid: &[u8], link: QueueLink) -> Result<(), StoreError> {
        if self
            .links
            .get(&link.link_id)
            .is_some_and(|owner| owner != rid)
        {
            return Err(StoreError::Duplicate);
        }
        let q = self.get_mut(rid)?;
        if let Some(old) = q.link() {
            if old.link_id != link.link_id || old.fixed != link.fixed {
                return Err(StoreError::LinkChange);
            }
        }
        q.edit_extra(|e| e.link = Some(Box::new(link.clone())));
        self.links.insert(link.link_id.clone(), rid.to_vec());
        self.write(&StoreLogRecord::CreateLink(rid.to_vec(), link))
    }

    /// Deletes the queue's link (`LDEL`, or the first message to a secured messaging queue;
    /// logged as `LDELETE`). Nothing is logged when there was none.
    pub fn delete_link(&mut self, rid: &[u8]) -> Result<(), StoreError> {
        let q = self.get_mut(rid)?;
        let Some(old) = q.edit_extra(|e| e.link.take()) else {
            return Ok(());
        };
        self.links.remove(&old.link_id);
        self.write(&StoreLogRecord::DeleteLink(rid.to_vec()))
    }

    /// Replaces the recipient keys (`RKEY`; logged as `KEYS`).
    pub fn update_keys(&mut self, rid: &[u8], keys: Vec<PublicAuthKey>) -> Result<(), StoreError> {
        let mut it = keys.iter().cloned();
        let first = it.next().ok_or(StoreError::NoKey)?;
        let q = self.get_mut(rid)?;
        q.first_key = first;
        q.edit_extra(|e| e.more_keys = it.collect());
        self.write(&StoreLogRecord::UpdateKeys(rid.to_vec(), keys))
    }

    /// Suspends the queue (`OFF`; logged as `SUSPEND`).
    pub fn suspend(&mut self, rid: &[u8]) -> Result<(), StoreError> {
        self.get_mut(rid)?.set_status(QueueStatus::Off);
        self.write(&StoreLogRecord::SuspendQueue(rid.to_vec()))
    }

    /// Blocks the queue (the control port's `block`; logged as `BLOCK`) with the
    /// reference's blocking info text (`reason=spam[,notice={…}]`).
    pub fn block(&mut self, rid: &[u8], info: &str) -> Result<(), StoreError> {
        self.get_mut(rid)?
            .set_status(QueueStatus::Blocked(info.to_owned()));
        self.write(&StoreLogRecord::BlockQueue(rid.to_vec(), info.to_owned()))
    }

    /// Makes a blocked queue active again (the control port's `unblock`; logged as
    /// `UNBLOCK`).
    pub fn unblock(&mut self, rid: &[u8]) -> Result<(), StoreError> {
        self.get_mut(rid)?.set_status(QueueStatus::Active);
        self.write(&StoreLogRecord::UnblockQueue(rid.to_vec()))
    }

    /// Records the day the queue was used (logged as `TIME`) when it changed.
    pub fn touch(&mut self, rid: &[u8], day: i64) -> Result<(), StoreError> {
        let q = self.get_mut(rid)?;
        if q.updated_at == day {
            return Ok(());
        }
        q.updated_at = day;
        self.write(&StoreLogRecord::UpdateTime(rid.to_vec(), day))
    }

    /// Deletes the queue (`DEL`; logged as `DELETE`) and returns it.
    pub fn delete(&mut self, rid: &[u8]) -> Result<QueueRecord, StoreError> {
        let q = self.remove_indexes(rid).ok_or(StoreError::NotFound)?;
        self.write(&StoreLogRecord::DeleteQueue(rid.to_vec()))?;
        Ok(q.unpack())
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
                let q = self.get_mut(&rid)?;
                let mut keys = keys.into_iter();
                q.first_key = keys.next().ok_or(StoreError::NoKey)?;
                q.edit_extra(|e| e.more_keys = keys.collect());
                Ok(())
            }
            StoreLogRecord::AddNotifier(rid, creds) => {
                let nid = creds.notifier_id.clone();
                let srv = creds.ntf_service.clone();
                let q = self.get_mut(&rid)?;
                let old = q.edit_extra(|e| e.notifier.replace(creds));
                if let Some(old) = old {
                    self.notifiers.remove(&old.notifier_id);
                    self.unindex_ntf_service(&old);
                }
                if let Some(sid) = srv {
                    self.services.add_queue(ServiceParty::Notifier, &sid, &nid);
                }
                self.notifiers.insert(nid, rid);
                Ok(())
            }
            StoreLogRecord::DeleteNotifier(rid) => {
                if let Some(n) = self.get_mut(&rid)?.edit_extra(|e| e.notifier.take()) {
                    self.notifiers.remove(&n.notifier_id);
                    self.unindex_ntf_service(&n);
                }
                Ok(())
            }
            StoreLogRecord::SuspendQueue(rid) => {
                self.get_mut(&rid)?.set_status(QueueStatus::Off);
                Ok(())
            }
            StoreLogRecord::BlockQueue(rid, info) => {
                self.get_mut(&rid)?.set_status(QueueStatus::Blocked(info));
                Ok(())
            }
            StoreLogRecord::UnblockQueue(rid) => {
                self.get_mut(&rid)?.set_status(QueueStatus::Active);
                Ok(())
            }
            StoreLogRecord::DeleteQueue(rid) => self
                .remove_indexes(&rid)
                .map(drop)
                .ok_or(StoreError::NotFound),
            StoreLogRecord::UpdateTime(rid, day) => {
                self.get_mut(&rid)?.updated_at = day;
                Ok(())
            }
            StoreLogRecord::NewService(sr) => self.apply_new_service(sr),
            StoreLogRecord::QueueService(rid, party, sid) => {
                self.assign_service(&rid, party, sid).map(drop)
            }
            StoreLogRecord::CreateLink(rid, link) => {
                let lid = link.link_id.clone();
                let q = self.get_mut(&rid)?;
                if let Some(old) = q.edit_extra(|e| e.link.replace(Box::new(link))) {
                    self.links.remove(&old.link_id);
                }
                self.links.insert(lid, rid);
                Ok(())
            }
            StoreLogRecord::DeleteLink(rid) => {
                if let Some(old) = self.get_mut(&rid)?.edit_extra(|e| e.link.take()) {
                    self.links.remove(&old.link_id);
                }
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
        assert_eq!(s.find(Party::Sender, &q.sender_id), Some(q.clone()));
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
            s.find(Party::Recipient, &q.recipient_id).map(|q| q.status),
            Some(QueueStatus::Off)
        );
        s.delete(&q.recipient_id).expect("delete");
        assert!(s.find(Party::Sender, &q.sender_id).is_none());
        assert_eq!(s.delete(&q.recipient_id), Err(StoreError::NotFound));
    }
}

#[cfg(test)]
mod packed_tests {
    use super::tests::{ed, record};
    use super::*;

    #[test]
    fn a_queue_without_extras_pays_nothing_for_links() {
        // The link lives in the boxed extras: the packed record stays as it was before links
        // (the relay's per-queue memory is a benchmarked figure).
        assert!(
            std::mem::size_of::<Packed>() <= 224,
            "{}",
            std::mem::size_of::<Packed>()
        );
        let mut s = QueueStore::new();
        s.add(record(1)).expect("add");
        assert!(s.links.is_empty());
        let p = s.packed(Party::Recipient, &[1; 24]).expect("queue");
        assert!(p.extra.is_none());
    }

    #[test]
    fn one_index_for_both_ids_with_slots_reused_after_delete() {
        let mut s = QueueStore::new();
        s.reserve(10);
        let (q1, q2) = (record(1), record(2));
        s.add(q1.clone()).expect("add 1");
        s.add(q2.clone()).expect("add 2");
        assert_eq!(s.len(), 2);
        assert!(s.id_in_use(&q1.recipient_id) && s.id_in_use(&q2.sender_id));
        // A recipient ID is not found as a sender ID, nor the other way round.
        assert!(s.find(Party::Sender, &q1.recipient_id).is_none());
        assert!(s.find(Party::Recipient, &q1.sender_id).is_none());
        // Another queue may use neither ID in either role.
        let mut clash = record(3);
        clash.recipient_id = q2.sender_id.clone();
        assert_eq!(s.add(clash), Err(StoreError::Duplicate));
        let mut short = record(4);
        short.sender_id = vec![4; 16];
        assert_eq!(s.add(short), Err(StoreError::IdLength));
        s.delete(&q1.recipient_id).expect("delete 1");
        assert!(!s.id_in_use(&q1.recipient_id) && !s.id_in_use(&q1.sender_id));
        let mut q5 = record(5);
        q5.recipient_keys = vec![ed(5), ed(6)];
        q5.status = QueueStatus::Blocked("spam".into());
        q5.link = Some(QueueLink {
            link_id: vec![7; 24],
            fixed: b"fixed".to_vec(),
            user: b"user".to_vec(),
        });
        s.add(q5.clone()).expect("add 5 into the freed slot");
        assert_eq!(s.len(), 2);
        assert_eq!(s.find(Party::Sender, &q5.sender_id), Some(q5.clone()));
        assert_eq!(s.find(Party::Sender, &q2.sender_id), Some(q2.clone()));
        let mut all: Vec<QueueRecord> = s.queues().collect();
        all.sort_by(|a, b| a.recipient_id.cmp(&b.recipient_id));
        assert_eq!(all.len(), 2);
        assert_eq!(all.get(1), Some(&q5), "the boxed parts round-trip");
        assert_eq!(
            s.find(Party::Link, &[7; 24]).map(|q| q.recipient_id),
            Some(q5.recipient_id.clone())
        );
        // A link may keep its fixed data and change the user data only.
        let mut link = q5.link.clone().expect("link");
        link.user = b"user 2".to_vec();
        s.set_link(&q5.recipient_id, link.clone())
            .expect("user data");
        let mut other = link.clone();
        other.fixed = b"fixed 2".to_vec();
        assert_eq!(
            s.set_link(&q5.recipient_id, other),
            Err(StoreError::LinkChange)
        );
        other = link.clone();
        other.link_id = vec![8; 24];
        assert_eq!(
            s.set_link(&q5.recipient_id, other),
            Err(StoreError::LinkChange)
        );
        // Another queue may not take the link ID.
        assert_eq!(
            s.set_link(&q2.recipient_id, link.clone()),
            Err(StoreError::Duplicate)
        );
        s.delete_link(&q5.recipient_id).expect("delete link");
        assert!(s.find(Party::Link, &[7; 24]).is_none());
        s.set_link(&q2.recipient_id, link).expect("free again");
        s.delete(&q2.recipient_id).expect("delete 2");
        assert!(
            s.find(Party::Link, &[7; 24]).is_none(),
            "gone with the queue"
        );
    }
}
