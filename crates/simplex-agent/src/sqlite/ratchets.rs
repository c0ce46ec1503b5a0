//! A connection's ratchet state, kept in its `connections` row.
//!
//! Every message sent or received changes both the connection's counters and hashes
//! (`last_*`) and its ratchet. Stored in separate tables, they were two pages written per
//! commit, each encrypted and authenticated by SQLCipher; in one row they are one. The
//! `ratchets` table keeps only the X3DH keys of an invitation until its ratchet is made.

use rusqlite::{params, Connection, Statement};
use simplex_encoding::Encode;
use simplex_ratchet::{Ratchet, X448};
use zeroize::Zeroizing;

use super::kinds::{conn_status_text, kind_text};
use crate::error::StoreError;
use crate::store::{ConnRecord, Write, X3dhKeys};

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

/// Binds a connection's columns as parameters 1–12 of `st`, in `CONN_COLS` order (its row's
/// writes: `Write::PutConn`, and with its ratchet, [`put_conn_with_ratchet`]).
pub(super) fn bind_conn(st: &mut Statement<'_>, c: &ConnRecord) -> rusqlite::Result<()> {
    st.raw_bind_parameter(1, &c.conn_id)?;
    st.raw_bind_parameter(2, kind_text(c.kind))?;
    st.raw_bind_parameter(3, conn_status_text(c.status))?;
    st.raw_bind_parameter(4, c.initiator)?;
    st.raw_bind_parameter(5, c.agent_version)?;
    st.raw_bind_parameter(6, c.pq_support)?;
    st.raw_bind_parameter(7, c.last_internal_id)?;
    st.raw_bind_parameter(8, c.last_snd_id)?;
    st.raw_bind_parameter(9, &c.last_snd_hash)?;
    st.raw_bind_parameter(10, c.last_rcv_ext_id)?;
    st.raw_bind_parameter(11, &c.last_rcv_hash)?;
    st.raw_bind_parameter(12, c.ratchet_sync.as_str())
}

/// Where a call writes both a connection's row (`PutConn`) and its ratchet (`PutRatchet`),
/// as every message does each way, and nothing else there that the order would matter to
/// (`DeleteConn`, `PutX3dh`): the index of the first of the two, with the other removed
/// from `writes` and the first left as it was.
pub(super) fn paired_at(writes: &mut Vec<Write>) -> Option<(usize, Write)> {
    let conn_at = writes.iter().position(|w| matches!(w, Write::PutConn(_)))?;
    let Write::PutConn(c) = &writes[conn_at] else {
        return None;
    };
    let id = c.conn_id.as_slice();
    let mut ratchet_at = None;
    for (i, w) in writes.iter().enumerate() {
        match w {
            Write::PutRatchet(r, _) if r.as_slice() == id && ratchet_at.is_none() => {
                ratchet_at = Some(i)
            }
            Write::PutRatchet(..) | Write::PutConn(_) if i != conn_at => return None,
            Write::DeleteConn(_) | Write::PutX3dh(..) => return None,
            _ => {}
        }
    }
    let ratchet_at = ratchet_at?;
    let other = writes.remove(conn_at.max(ratchet_at));
    Some((conn_at.min(ratchet_at), other))
}

/// The connection's row and its ratchet in one statement, for an existing row: `false`
/// (nothing written) when there is none.
pub(super) fn put_conn_with_ratchet(
    db: &Connection,
    c: &ConnRecord,
    r: &Ratchet<X448>,
) -> Result<bool, StoreError> {
    let state = Zeroizing::new(r.to_bytes());
    let mut st = db.prepare_cached(
        "UPDATE connections SET kind = ?2, status = ?3, initiator = ?4, agent_version = ?5,
           pq_support = ?6, last_internal_id = ?7, last_snd_id = ?8, last_snd_hash = ?9,
           last_rcv_ext_id = ?10, last_rcv_hash = ?11, ratchet_sync_state = ?12,
           ratchet_state = ?13
         WHERE conn_id = ?1",
    )?;
    bind_conn(&mut st, c)?;
    st.raw_bind_parameter(13, &state[..])?;
    if st.raw_execute()? == 0 {
        return Ok(false);
    }
    db.prepare_cached("DELETE FROM ratchets WHERE conn_id = ?1")?
        .execute(params![c.conn_id])?;
    Ok(true)
}
