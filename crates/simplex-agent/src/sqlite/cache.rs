//! Decoded secrets the store would otherwise decode again on every read.
//!
//! The last committed ratchet state of recently used connections, kept decoded: decoding
//! a stored state derives its X448 public keys (a scalar multiplication each), which was
//! the largest single cost of loading a connection for a message.
//!
//! The cache follows the database, never leads it: the entries a batch of writes touches
//! are dropped before the batch runs and filled again only once it has committed.

use std::cell::RefCell;
use std::collections::HashMap;

use simplex_crypto::PrivateAuthKey;
use simplex_ratchet::{Ratchet, X448};
use zeroize::{Zeroize, Zeroizing};

use crate::error::StoreError;
use crate::store::{ConnId, Write};

/// Entries kept at most; past this the cache starts again empty.
const MAX_ENTRIES: usize = 4096;

#[derive(Default)]
pub(super) struct RatchetCache {
    map: RefCell<HashMap<ConnId, Ratchet<X448>>>,
}

/// What a batch of writes does to the cache once committed.
pub(super) type Pending = Vec<(ConnId, Option<Ratchet<X448>>)>;

impl RatchetCache {
    pub(super) fn get(&self, conn_id: &[u8]) -> Option<Ratchet<X448>> {
        self.map.borrow().get(conn_id).cloned()
    }

    pub(super) fn put(&self, conn_id: &[u8], r: &Ratchet<X448>) {
        let mut map = self.map.borrow_mut();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(conn_id.to_vec(), r.clone());
    }

    /// Forgets everything (a batch that the cache followed was rolled back).
    pub(super) fn clear(&self) {
        self.map.borrow_mut().clear();
    }

    /// Drops the entries `writes` change, returning what to store once they committed.
    pub(super) fn before(&self, writes: &[Write]) -> Pending {
        let mut pending = Vec::new();
        for w in writes {
            match w {
                Write::PutRatchet(id, r) => pending.push((id.clone(), Some(r.clone()))),
                Write::PutX3dh(id, _) | Write::DeleteConn(id) => pending.push((id.clone(), None)),
                _ => {}
            }
        }
        let mut map = self.map.borrow_mut();
        for (id, _) in &pending {
            map.remove(id);
        }
        pending
    }

    /// After the writes committed: their ratchet states, in order.
    pub(super) fn after(&self, pending: Pending) {
        for (id, r) in pending {
            match r {
                Some(r) => self.put(&id, &r),
                None => {
                    self.map.borrow_mut().remove(&id);
                }
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
