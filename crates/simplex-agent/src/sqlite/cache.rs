//! Decoded records the store would otherwise read and decode again on every message.
//!
//! - The last committed ratchet state of recently used connections: decoding a stored
//!   state derives its X448 public keys (a scalar multiplication each), which was the
//!   largest single cost of loading a connection for a message.
//! - Connections' rows and their queues: every message sent or received reads them (the
//!   queues' rows hold their keys, decoded again at each read).
//!
//! The caches follow the database, never lead it: the entries a batch of writes touches
//! are dropped before the batch runs and filled again only once it has committed.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

use simplex_crypto::PrivateAuthKey;
use simplex_ratchet::{Ratchet, SkippedDiff, SkippedKeys, X448};
use zeroize::{Zeroize, Zeroizing};

use crate::error::StoreError;
use crate::store::{ConnId, ConnRecord, RcvQueueRecord, SndQueueRecord, Write};

/// Entries kept at most in the ratchets' and the keys' caches; past this one starts again
/// empty.
const MAX_ENTRIES: usize = 4096;

/// Connections whose rows and queues are kept at most: a fan-out's thousand fit. Every
/// delivery worker reads its connection's when the agent starts, so this bounds what an
/// agent with many connections holds after a start (an entry is ~1.5 KB decoded).
const MAX_RECORDS: usize = 1024;

/// A map of decoded values holding at most `MAX`.
struct Bounded<K, V, const MAX: usize> {
    map: RefCell<HashMap<K, V>>,
}

impl<K, V, const MAX: usize> Default for Bounded<K, V, MAX> {
    fn default() -> Self {
        Bounded {
            map: RefCell::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, V: Clone, const MAX: usize> Bounded<K, V, MAX> {
    fn get<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.map.borrow().get(k).cloned()
    }

    fn put(&self, k: K, v: V) {
        let mut map = self.map.borrow_mut();
        if map.len() >= MAX {
            map.clear();
        }
        map.insert(k, v);
    }

    fn remove<Q: Hash + Eq + ?Sized>(&self, k: &Q)
    where
        K: Borrow<Q>,
    {
        self.map.borrow_mut().remove(k);
    }

    fn clear(&self) {
        self.map.borrow_mut().clear();
    }

    /// The cached value, else `read`'s, kept.
    fn get_or_read<Q, E>(&self, k: &Q, read: impl FnOnce() -> Result<V, E>) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(v) = self.get(k) {
            return Ok(v);
        }
        let v = read()?;
        self.put(k.to_owned(), v.clone());
        Ok(v)
    }
}

/// The decoded records of recently used connections: the ratchet, the connection's row,
/// its queues (current and redundant ones apart, as the store reads them).
#[derive(Default)]
pub(super) struct RecordCache {
    ratchets: Bounded<ConnId, Ratchet<X448>, MAX_ENTRIES>,
    conns: Bounded<ConnId, Option<ConnRecord>, MAX_RECORDS>,
    rcv_queues: [Bounded<ConnId, Vec<RcvQueueRecord>, MAX_RECORDS>; 2],
    snd_queues: [Bounded<ConnId, Vec<SndQueueRecord>, MAX_RECORDS>; 2],
    /// The skipped messages' keys (usually none).
    skipped: Bounded<ConnId, SkippedKeys, MAX_RECORDS>,
}

/// What a batch of writes does to the caches once committed.
#[derive(Default)]
pub(super) struct Pending {
    ratchets: Vec<(ConnId, Option<Ratchet<X448>>)>,
    conns: Vec<(ConnId, Option<ConnRecord>)>,
    /// Connections whose skipped keys changed (read again after the commit).
    skipped: Vec<ConnId>,
    /// A queue was written: every connection's queues are read again.
    queues: bool,
}

impl RecordCache {
    /// The cached ratchet of a connection.
    pub(super) fn ratchet(&self, conn_id: &[u8]) -> Option<Ratchet<X448>> {
        self.ratchets.get(conn_id)
    }

    /// Keeps a ratchet read from the database.
    pub(super) fn put_ratchet(&self, conn_id: &[u8], r: &Ratchet<X448>) {
        self.ratchets.put(conn_id.to_vec(), r.clone());
    }

    /// The connection's row, cached or read.
    pub(super) fn conn(
        &self,
        conn_id: &[u8],
        read: impl FnOnce() -> Result<Option<ConnRecord>, StoreError>,
    ) -> Result<Option<ConnRecord>, StoreError> {
        self.conns.get_or_read(conn_id, read)
    }

    /// The connection's receive queues (`extra`: the redundant ones), cached or read.
    pub(super) fn rcv_queues(
        &self,
        conn_id: &[u8],
        extra: bool,
        read: impl FnOnce() -> Result<Vec<RcvQueueRecord>, StoreError>,
    ) -> Result<Vec<RcvQueueRecord>, StoreError> {
        self.rcv_queues[usize::from(extra)].get_or_read(conn_id, read)
    }

    /// The connection's send queues (`extra`: the redundant ones), cached or read.
    pub(super) fn snd_queues(
        &self,
        conn_id: &[u8],
        extra: bool,
        read: impl FnOnce() -> Result<Vec<SndQueueRecord>, StoreError>,
    ) -> Result<Vec<SndQueueRecord>, StoreError> {
        self.snd_queues[usize::from(extra)].get_or_read(conn_id, read)
    }

    /// The connection's skipped messages' keys, cached or read.
    pub(super) fn skipped(
        &self,
        conn_id: &[u8],
        read: impl FnOnce() -> Result<SkippedKeys, StoreError>,
    ) -> Result<SkippedKeys, StoreError> {
        self.skipped.get_or_read(conn_id, read)
    }

    /// Forgets everything (a batch that the caches followed was rolled back).
    pub(super) fn clear(&self) {
        self.ratchets.clear();
        self.conns.clear();
        self.skipped.clear();
        self.clear_queues();
    }

    fn clear_queues(&self) {
        for c in &self.rcv_queues {
            c.clear();
        }
        for c in &self.snd_queues {
            c.clear();
        }
    }

    /// Drops the entries `writes` change, returning what to store once they committed.
    ///
    /// A connection's row is written whole (`PutConn`), so what is written is what a read
    /// gives. Queue writes are rare (a new queue, a switch's step, a deletion) and may
    /// replace another connection's row (`INSERT OR REPLACE` on a relay's queue ID): they
    /// drop every connection's queues. A deleted connection takes its queues with it.
    pub(super) fn before(&self, writes: &[Write]) -> Pending {
        let mut p = Pending::default();
        for w in writes {
            match w {
                Write::PutRatchet(id, r) => p.ratchets.push((id.clone(), Some(r.clone()))),
                Write::PutX3dh(id, _) => p.ratchets.push((id.clone(), None)),
                Write::PutConn(c) => p.conns.push((c.conn_id.clone(), Some(c.clone()))),
                // `NoChange`, most messages' diff, writes nothing.
                Write::Skipped(id, d) if *d != SkippedDiff::NoChange => p.skipped.push(id.clone()),
                Write::DeleteConn(id) => {
                    p.ratchets.push((id.clone(), None));
                    p.conns.push((id.clone(), None));
                    p.skipped.push(id.clone());
                    p.queues = true;
                }
                Write::PutRcvQueue(_)
                | Write::DeleteRcvQueue(..)
                | Write::PutSndQueue(_)
                | Write::DeleteSndQueue(_)
                | Write::DeleteSndQueueId(..) => p.queues = true,
                _ => {}
            }
        }
        for (id, _) in &p.ratchets {
            self.ratchets.remove(id);
        }
        for (id, _) in &p.conns {
            self.conns.remove(id);
        }
        for id in &p.skipped {
            self.skipped.remove(id);
        }
        if p.queues {
            self.clear_queues();
        }
        p
    }

    /// After the writes committed: their ratchet states and rows, in order (skipped keys
    /// are read again).
    pub(super) fn after(&self, p: Pending) {
        for id in &p.skipped {
            self.skipped.remove(id);
        }
        for (id, r) in p.ratchets {
            match r {
                Some(r) => self.ratchets.put(id, r),
                None => self.ratchets.remove(&id),
            }
        }
        for (id, c) in p.conns {
            match c {
                Some(c) => self.conns.put(id, Some(c)),
                None => self.conns.remove(&id),
            }
        }
    }
}

/// Decoded queue authorization keys by their stored bytes: decoding an Ed25519 key
/// derives its public half (a base-point multiplication), paid on every queue read
/// otherwise. A key depends only on its bytes, so entries never go stale.
#[derive(Default)]
pub(super) struct AuthKeyCache {
    map: RefCell<HashMap<SecretBytes, PrivateAuthKey>>,
}

/// A key's stored bytes, wiped when dropped.
#[derive(PartialEq, Eq, Hash)]
struct SecretBytes(Vec<u8>);

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::borrow::Borrow<[u8]> for SecretBytes {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl AuthKeyCache {
    pub(super) fn decode(&self, der: Zeroizing<Vec<u8>>) -> Result<PrivateAuthKey, StoreError> {
        if let Some(k) = self.map.borrow().get(der.as_slice()) {
            return Ok(k.clone());
        }
        let key = PrivateAuthKey::from_der(&der).map_err(|_| StoreError::Corrupt("auth key"))?;
        let mut map = self.map.borrow_mut();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(SecretBytes(der.to_vec()), key.clone());
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::store::ConnKind;

    /// The connection's row through the cache, the database giving `db`; counts the reads
    /// that reached the database.
    fn conn(
        cache: &RecordCache,
        id: &[u8],
        db: Option<ConnRecord>,
        reads: &Cell<u32>,
    ) -> Option<ConnRecord> {
        let read = || {
            reads.set(reads.get() + 1);
            Ok(db)
        };
        cache.conn(id, read).expect("read")
    }

    /// Rows are read once, follow the committed writes, and a queue write or a rolled
    /// back batch sends the next read to the database again.
    #[test]
    fn records_follow_the_writes() {
        let cache = RecordCache::default();
        let reads = Cell::new(0);
        let (a, b) = (b"a".to_vec(), b"b".to_vec());
        let first = ConnRecord::new(a.clone(), ConnKind::Duplex, true, 7);
        assert_eq!(
            conn(&cache, &a, Some(first.clone()), &reads),
            Some(first.clone())
        );
        assert_eq!(conn(&cache, &a, None, &reads), Some(first.clone()));
        assert_eq!(reads.get(), 1, "read once");

        // While the writes run, the row is not cached; once committed, the row written is.
        let mut next = first.clone();
        next.last_snd_id = 9;
        let pending = cache.before(&[Write::PutConn(next.clone())]);
        assert!(cache.conns.get(a.as_slice()).is_none());
        cache.after(pending);
        assert_eq!(conn(&cache, &a, None, &reads), Some(next));
        assert_eq!(reads.get(), 1, "the row written, not read");

        // A deleted connection is read again (and found missing).
        let pending = cache.before(&[Write::DeleteConn(a.clone())]);
        cache.after(pending);
        assert_eq!(conn(&cache, &a, None, &reads), None);
        assert_eq!(reads.get(), 2);

        // Queues: kept per connection until any connection's queue is written.
        let queue_reads = Cell::new(0);
        let queues_of_b = || {
            let read = || {
                queue_reads.set(queue_reads.get() + 1);
                Ok(Vec::new())
            };
            cache.snd_queues(&b, false, read).expect("read");
        };
        queues_of_b();
        queues_of_b();
        assert_eq!(queue_reads.get(), 1);
        let pending = cache.before(&[Write::DeleteSndQueue(a.clone())]);
        cache.after(pending);
        queues_of_b();
        assert_eq!(queue_reads.get(), 2);

        // Skipped keys: read again after a write of them, not refilled from it.
        let skipped_reads = Cell::new(0);
        let skipped_of_a = || {
            let read = || {
                skipped_reads.set(skipped_reads.get() + 1);
                Ok(SkippedKeys::new())
            };
            cache.skipped(&a, read).expect("read");
        };
        skipped_of_a();
        skipped_of_a();
        assert_eq!(skipped_reads.get(), 1);
        let unchanged = Write::Skipped(a.clone(), SkippedDiff::NoChange);
        let pending = cache.before(&[unchanged]);
        cache.after(pending);
        skipped_of_a();
        assert_eq!(skipped_reads.get(), 1, "nothing written");
        let added = Write::Skipped(a.clone(), SkippedDiff::Add(SkippedKeys::new()));
        let pending = cache.before(&[added]);
        cache.after(pending);
        skipped_of_a();
        assert_eq!(skipped_reads.get(), 2);

        // A rolled back batch: everything is read again.
        cache.clear();
        queues_of_b();
        assert_eq!(queue_reads.get(), 3);
        assert_eq!(conn(&cache, &a, None, &reads), None);
        assert_eq!(reads.get(), 3);
    }
}
