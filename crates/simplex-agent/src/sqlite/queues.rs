//! The queues of a connection in SQLite: a connection has one receive and one send queue,
//! and a second of each while a switch replaces it (queue rotation), so the tables are keyed
//! by connection and queue ID, with the reference's `rcv_primary`/`snd_primary`,
//! `replace_*_queue_id` (here the replaced queue's recipient or sender ID) and
//! `switch_status` columns.

use std::cmp::Ordering;

use rusqlite::{params, Connection, Row, Rows};
use simplex_crypto::{PrivateKeyX25519, PublicKeyX25519};
use simplex_encoding::Encode;
use zeroize::Zeroizing;

use super::cache::AuthKeyCache;
use super::{
    col, corrupt, dec, msg_kind_parse, msg_kind_text, queue_status_parse, queue_status_text,
    secret_parse, server_parse, server_text, SqliteStore,
};
use crate::error::StoreError;
use crate::store::{ConnQueue, LoadedConn, RcvQueueRecord, SndCopyRecord, SndQueueRecord, Store};
use crate::types::{RcvSwitchStatus, SndSwitchStatus};

/// Queue rotation: the queue tables keyed by connection and queue ID (two of each kind
/// during a switch), each queue with whether it is primary, the queue it replaces and the
/// switch replacing it, and each receive queue with when it was made (a queue of an older
/// database counts from the upgrade); sent messages with the send queue they are encrypted for when it
/// is not the current one; received messages with the queue they came on.
pub(super) const SWITCH: &str = "
CREATE TABLE rcv_queues_v2 (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  server TEXT NOT NULL,
  rcv_id BLOB NOT NULL,
  rcv_private_key BLOB NOT NULL,
  rcv_dh_secret BLOB NOT NULL,
  e2e_priv_key BLOB NOT NULL,
  e2e_dh_secret BLOB,
  snd_id BLOB NOT NULL,
  sender_can_secure INTEGER NOT NULL,
  status TEXT NOT NULL,
  smp_client_version INTEGER NOT NULL,
  rcv_primary INTEGER NOT NULL,
  replace_rcv_queue_id BLOB,
  switch_status TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (conn_id, rcv_id),
  UNIQUE (server, rcv_id)
) WITHOUT ROWID;
INSERT INTO rcv_queues_v2 SELECT conn_id, server, rcv_id, rcv_private_key, rcv_dh_secret,
  e2e_priv_key, e2e_dh_secret, snd_id, sender_can_secure, status, smp_client_version, 1, NULL, NULL,
  CAST(strftime('%s','now') AS INTEGER)
  FROM rcv_queues;
DROP TABLE rcv_queues;
ALTER TABLE rcv_queues_v2 RENAME TO rcv_queues;
CREATE TABLE snd_queues_v2 (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  server TEXT NOT NULL,
  snd_id BLOB NOT NULL,
  snd_private_key BLOB NOT NULL,
  e2e_pub_key BLOB NOT NULL,
  e2e_dh_secret BLOB NOT NULL,
  sender_can_secure INTEGER NOT NULL,
  status TEXT NOT NULL,
  smp_client_version INTEGER NOT NULL,
  snd_primary INTEGER NOT NULL,
  replace_snd_queue_id BLOB,
  switch_status TEXT,
  PRIMARY KEY (conn_id, snd_id)
) WITHOUT ROWID;
INSERT INTO snd_queues_v2 SELECT conn_id, server, snd_id, snd_private_key, e2e_pub_key,
  e2e_dh_secret, sender_can_secure, status, smp_client_version, 1, NULL, NULL
  FROM snd_queues;
DROP TABLE snd_queues;
ALTER TABLE snd_queues_v2 RENAME TO snd_queues;
ALTER TABLE snd_messages ADD COLUMN snd_queue_id BLOB;
ALTER TABLE rcv_messages ADD COLUMN rcv_queue_id BLOB;
";

/// Redundant queues (`AgentConfig::redundancy`): a connection's further queues on other
/// relays are flagged `extra` in the queue tables (the current and switching queues keep
/// `extra = 0`), and the copies of each sent message for them wait in `snd_message_copies`
/// until their relay accepts them.
pub(super) const REDUNDANT: &str = "
ALTER TABLE rcv_queues ADD COLUMN extra INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snd_queues ADD COLUMN extra INTEGER NOT NULL DEFAULT 0;
CREATE TABLE snd_message_copies (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  snd_queue_id BLOB NOT NULL,
  internal_id INTEGER NOT NULL,
  msg_type TEXT NOT NULL,
  msg_body BLOB NOT NULL,
  PRIMARY KEY (conn_id, snd_queue_id, internal_id)
) WITHOUT ROWID;
";

pub(super) fn put_snd_copy(tx: &Connection, c: SndCopyRecord) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO snd_message_copies (conn_id, snd_queue_id, internal_id, msg_type, msg_body) VALUES (?1, ?2, ?3, ?4, ?5)"
        )?.execute(
        params![c.conn_id, c.queue, c.internal_id, msg_kind_text(c.kind), c.body],
    )?;
    Ok(())
}

pub(super) fn delete_snd_copy(
    tx: &Connection,
    conn_id: &[u8],
    queue: &[u8],
    internal_id: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "DELETE FROM snd_message_copies WHERE conn_id = ?1 AND snd_queue_id = ?2 AND internal_id = ?3"
        )?.execute(
        params![conn_id, queue, internal_id],
    )?;
    Ok(())
}

pub(super) fn put_rcv_queue(tx: &Connection, q: RcvQueueRecord) -> Result<(), StoreError> {
    let key = q.rcv_key.to_der();
    let e2e = q.e2e_priv_key.to_der();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO rcv_queues (conn_id, server, rcv_id, rcv_private_key, rcv_dh_secret, e2e_priv_key, e2e_dh_secret, snd_id, sender_can_secure, status, smp_client_version, rcv_primary, replace_rcv_queue_id, switch_status, created_at, extra)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        )?.execute(
        params![
            q.conn_id,
            server_text(&q.server),
            q.rcv_id,
            &key[..],
            &q.rcv_dh_secret.as_bytes()[..],
            &e2e[..],
            q.e2e_dh_secret.as_ref().map(|s| s.as_bytes().to_vec()),
            q.snd_id,
            q.sender_can_secure,
            queue_status_text(q.status),
            q.client_version,
            q.primary,
            q.replaces,
            q.switch_status.map(RcvSwitchStatus::as_str),
            q.created_at,
            q.extra
        ],
    )?;
    Ok(())
}

/// A queue replacing none (and not redundant) takes the place of the connection's current
/// one.
pub(super) fn put_snd_queue(tx: &Connection, q: SndQueueRecord) -> Result<(), StoreError> {
    if q.replaces.is_none() && !q.extra {
        tx.prepare_cached(
            "DELETE FROM snd_queues WHERE conn_id = ?1 AND replace_snd_queue_id IS NULL AND extra = 0 AND snd_id != ?2"
            )?.execute(
            params![q.conn_id, q.snd_id],
        )?;
    }
    let key = q.snd_key.to_der();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO snd_queues (conn_id, server, snd_id, snd_private_key, e2e_pub_key, e2e_dh_secret, sender_can_secure, status, smp_client_version, snd_primary, replace_snd_queue_id, switch_status, extra)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        )?.execute(
        params![
            q.conn_id,
            server_text(&q.server),
            q.snd_id,
            &key[..],
            q.e2e_pub_key.to_bytes(),
            &q.e2e_dh_secret.as_bytes()[..],
            q.sender_can_secure,
            queue_status_text(q.status),
            q.client_version,
            q.primary,
            q.replaces,
            q.switch_status.map(SndSwitchStatus::as_str),
            q.extra
        ],
    )?;
    Ok(())
}

fn rcv_queue_row(row: &Row<'_>, keys: &AuthKeyCache) -> Result<RcvQueueRecord, StoreError> {
    let key: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 3)?);
    let secret: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 4)?);
    let e2e: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 5)?);
    let e2e_secret: Option<Vec<u8>> = col(row, 6)?;
    Ok(RcvQueueRecord {
        conn_id: col(row, 0)?,
        server: server_parse(&col::<String>(row, 1)?)?,
        rcv_id: col(row, 2)?,
        rcv_key: keys.decode(key)?,
        rcv_dh_secret: secret_parse(&secret)?,
        e2e_priv_key: PrivateKeyX25519::from_der(&e2e).map_err(|_| corrupt("e2e key"))?,
        e2e_dh_secret: match e2e_secret {
            Some(s) => Some(secret_parse(&Zeroizing::new(s))?),
            None => None,
        },
        snd_id: col(row, 7)?,
        sender_can_secure: col(row, 8)?,
        status: queue_status_parse(&col::<String>(row, 9)?)?,
        client_version: col(row, 10)?,
        primary: col(row, 11)?,
        replaces: col(row, 12)?,
        switch_status: match col::<Option<String>>(row, 13)? {
            Some(s) => Some(RcvSwitchStatus::parse(&s).ok_or(corrupt("rcv switch status"))?),
            None => None,
        },
        created_at: col(row, 14)?,
        extra: col(row, 15)?,
    })
}

fn snd_queue_row(row: &Row<'_>, keys: &AuthKeyCache) -> Result<SndQueueRecord, StoreError> {
    let key: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 3)?);
    let secret: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 5)?);
    Ok(SndQueueRecord {
        conn_id: col(row, 0)?,
        server: server_parse(&col::<String>(row, 1)?)?,
        snd_id: col(row, 2)?,
        snd_key: keys.decode(key)?,
        e2e_pub_key: dec::<PublicKeyX25519>(&col::<Vec<u8>>(row, 4)?, "e2e key")?,
        e2e_dh_secret: secret_parse(&secret)?,
        sender_can_secure: col(row, 6)?,
        status: queue_status_parse(&col::<String>(row, 7)?)?,
        client_version: col(row, 8)?,
        primary: col(row, 9)?,
        replaces: col(row, 10)?,
        switch_status: match col::<Option<String>>(row, 11)? {
            Some(s) => Some(SndSwitchStatus::parse(&s).ok_or(corrupt("snd switch status"))?),
            None => None,
        },
        extra: col(row, 12)?,
    })
}

/// The receive queues' query without its condition: the columns in the order
/// `rcv_queue_row` reads them.
macro_rules! rcv_queue_cols {
    () => {
        "SELECT conn_id, server, rcv_id, rcv_private_key, rcv_dh_secret, e2e_priv_key, e2e_dh_secret, snd_id, sender_can_secure, status, smp_client_version, rcv_primary, replace_rcv_queue_id, switch_status, created_at, extra FROM rcv_queues"
    };
}

/// The send queues' query without its condition: the columns in the order `snd_queue_row`
/// reads them.
macro_rules! snd_queue_cols {
    () => {
        "SELECT conn_id, server, snd_id, snd_private_key, e2e_pub_key, e2e_dh_secret, sender_can_secure, status, smp_client_version, snd_primary, replace_snd_queue_id, switch_status, extra FROM snd_queues"
    };
}

impl SqliteStore {
    /// Every connection with every receive queue of it and its current send queue
    /// (`Store::load_conns`): the connections and both kinds of queues read in
    /// connection order, side by side, three queries in all instead of three per
    /// connection, and nothing kept in the caches. SQLite orders blobs as Rust orders
    /// byte vectors (bytes compared, then lengths).
    pub(super) fn read_loaded_conns(&self) -> Result<Vec<LoadedConn>, StoreError> {
        let conns = self.conns()?;
        let mut rcv_st = self.db.prepare_cached(concat!(
            rcv_queue_cols!(),
            " ORDER BY conn_id, extra, replace_rcv_queue_id IS NOT NULL, rcv_id"
        ))?;
        let mut snd_st = self.db.prepare_cached(concat!(
            snd_queue_cols!(),
            " WHERE extra = 0 ORDER BY conn_id, replace_snd_queue_id IS NOT NULL, snd_id"
        ))?;
        let mut rcv = Merged::new(rcv_st.query([])?, |r| rcv_queue_row(r, &self.auth_keys))?;
        let mut snd = Merged::new(snd_st.query([])?, |r| snd_queue_row(r, &self.auth_keys))?;
        let mut out = Vec::with_capacity(conns.len());
        for c in conns {
            let rqs = rcv.take_of(&c.conn_id, |q| &q.conn_id)?;
            let sq = snd.take_of(&c.conn_id, |q| &q.conn_id)?.into_iter().next();
            out.push((c, rqs, sq));
        }
        Ok(out)
    }

    /// The connection's current (and switching) receive queues, or its redundant ones.
    pub(super) fn read_rcv_queues(
        &self,
        conn_id: &[u8],
        extra: bool,
    ) -> Result<Vec<RcvQueueRecord>, StoreError> {
        self.query_all(
            concat!(
                rcv_queue_cols!(),
                " WHERE conn_id = ?1 AND extra = ?2 ORDER BY replace_rcv_queue_id IS NOT NULL, rcv_id"
            ),
            params![conn_id, extra],
            |row| rcv_queue_row(row, &self.auth_keys),
        )
    }

    /// The connection's current (and switching) send queues, or its redundant ones.
    pub(super) fn read_snd_queues(
        &self,
        conn_id: &[u8],
        extra: bool,
    ) -> Result<Vec<SndQueueRecord>, StoreError> {
        self.query_all(
            concat!(
                snd_queue_cols!(),
                " WHERE conn_id = ?1 AND extra = ?2 ORDER BY replace_snd_queue_id IS NOT NULL, snd_id"
            ),
            params![conn_id, extra],
            |row| snd_queue_row(row, &self.auth_keys),
        )
    }

    pub(super) fn read_snd_copies(
        &self,
        conn_id: &[u8],
        queue: &[u8],
        limit: usize,
    ) -> Result<Vec<SndCopyRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_all(
            "SELECT conn_id, snd_queue_id, internal_id, msg_type, msg_body FROM snd_message_copies
             WHERE conn_id = ?1 AND snd_queue_id = ?2 ORDER BY internal_id LIMIT ?3",
            params![conn_id, queue, limit],
            |row| {
                Ok(SndCopyRecord {
                    conn_id: col(row, 0)?,
                    queue: col(row, 1)?,
                    internal_id: col(row, 2)?,
                    kind: msg_kind_parse(&col::<String>(row, 3)?)?,
                    body: col(row, 4)?,
                })
            },
        )
    }

    pub(super) fn read_snd_copy_queues(&self) -> Result<Vec<ConnQueue>, StoreError> {
        self.query_all(
            "SELECT DISTINCT conn_id, snd_queue_id FROM snd_message_copies ORDER BY conn_id, snd_queue_id",
            params![],
            |row| Ok((col(row, 0)?, col(row, 1)?)),
        )
    }
}

/// Rows ordered by connection, taken one connection at a time.
struct Merged<'s, T, F> {
    rows: Rows<'s>,
    decode: F,
    next: Option<T>,
}

impl<'s, T, F: Fn(&Row<'_>) -> Result<T, StoreError>> Merged<'s, T, F> {
    fn new(mut rows: Rows<'s>, decode: F) -> Result<Self, StoreError> {
        let next = rows.next()?.map(&decode).transpose()?;
        Ok(Merged { rows, decode, next })
    }

    /// The rows of connection `id`, skipping any of connections before it.
    fn take_of(&mut self, id: &[u8], conn_of: impl Fn(&T) -> &[u8]) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        while let Some(row) = self.next.take() {
            match conn_of(&row).cmp(id) {
                Ordering::Greater => {
                    self.next = Some(row);
                    break;
                }
                Ordering::Equal => out.push(row),
                Ordering::Less => {}
            }
            self.next = self.rows.next()?.map(&self.decode).transpose()?;
        }
        Ok(out)
    }
}
