//! A connection's ratchet state, kept in its `connections` row.
//!
//! Every message sent or received changes both the connection's counters and hashes
//! (`last_*`) and its ratchet. Stored in separate tables, they were two pages written per
//! commit, each encrypted and authenticated by SQLCipher; in one row they are one. The
//! `ratchets` table keeps only the X3DH keys of an invitation until its ratchet is made.

use rusqlite::{params, Connection};
use simplex_encoding::Encode;
use simplex_ratchet::{Ratchet, X448};
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::store::X3dhKeys;

/// The ratchet states moved into the connections' rows, and out of `ratchets`.
pub(super) const RATCHET_IN_CONN: &str = "
ALTER TABLE connections ADD COLUMN ratchet_state BLOB;
UPDATE connections SET ratchet_state =
  (SELECT r.ratchet_state FROM ratchets r WHERE r.conn_id = connections.conn_id);
DELETE FROM ratchets WHERE x3dh_priv_key_1 IS NULL;
ALTER TABLE ratchets DROP COLUMN ratchet_state;
";

/// The stored ratchet state of a connection, if it has one.
pub(super) const SELECT_RATCHET: &str =
    "SELECT ratchet_state FROM connections WHERE conn_id = ?1 AND ratchet_state IS NOT NULL";

/// The X3DH keys of an invitation: the connection has no ratchet until they are used.
pub(super) fn put_x3dh(db: &Connection, id: &[u8], k: &X3dhKeys) -> Result<(), StoreError> {
    let k1 = k.key1.to_der();
    let k2 = k.key2.to_der();
    let kem = k.kem.as_ref().map(|kp| Zeroizing::new(kp.to_bytes()));
    db.prepare_cached(
        "INSERT OR REPLACE INTO ratchets (conn_id, x3dh_priv_key_1, x3dh_priv_key_2, pq_priv_kem) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, &k1[..], &k2[..], kem.as_ref().map(|k| &k[..])])?;
    set_state(db, id, None)
}

/// The ratchet made or moved on; the X3DH keys it was made from, if any, are dropped.
pub(super) fn put_ratchet(db: &Connection, id: &[u8], r: &Ratchet<X448>) -> Result<(), StoreError> {
    let state = Zeroizing::new(r.to_bytes());
    set_state(db, id, Some(&state[..]))?;
    db.prepare_cached("DELETE FROM ratchets WHERE conn_id = ?1")?
        .execute(params![id])?;
    Ok(())
}

fn set_state(db: &Connection, id: &[u8], state: Option<&[u8]>) -> Result<(), StoreError> {
    let n = db
        .prepare_cached("UPDATE connections SET ratchet_state = ?2 WHERE conn_id = ?1")?
        .execute(params![id, state])?;
    match n {
        0 => Err(StoreError::NoConnection),
        _ => Ok(()),
    }
}
