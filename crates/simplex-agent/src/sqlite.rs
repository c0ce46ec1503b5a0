//! The [`Store`] in an SQLCipher database: encrypted with a passphrase, schema by numbered
//! migrations.
//!
//! Keys and states are stored in their binary encodings (private keys as DER, the ratchet in
//! its own versioned record); servers as their `smp://` text.

use std::path::Path;

use agent_proto::SmpQueueInfo;
use rusqlite::{params, Connection, Row};
use simplex_crypto::{DhSecretX25519, PrivateKeyX448, PublicAuthKey, PublicKeyX25519};
use simplex_encoding::{decode_all, decode_list, encode_list, Decode, Encode, Reader};
use simplex_ratchet::{
    HeaderKey, KemKeyPair, MessageKey, MsgEncryptKey, Ratchet, SkippedDiff, SkippedKeys, X448,
};
use smp_proto::SmpServer;
use zeroize::Zeroizing;

use crate::error::StoreError;
use crate::store::*;
use crate::types::{MsgReceiptStatus, RatchetSyncState};

/// Pages of write-ahead log that trigger a checkpoint (see `SqliteStore::open`).
const WAL_CHECKPOINT_PAGES: i64 = 4096;

/// The numbered migrations, applied in order; each is recorded in `migrations`.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("m20250101_initial", INITIAL),
    ("m20250102_receipt_status", RECEIPT_STATUS),
    ("m20250103_ratchet_sync", RATCHET_SYNC),
    ("m20250104_switch_status", queues::SWITCH),
    ("m20250105_short_links", links::SHORT_LINKS),
    ("m20250106_redundant_queues", queues::REDUNDANT),
    ("m20250107_inv_short_links", links::INV_SHORT_LINKS),
    ("m20250108_snd_msg_prepared", msg_queries::SND_MSG_PREPARED),
    ("m20250109_ratchet_in_conn", ratchets::RATCHET_IN_CONN),
];

mod apply;
mod cache;
mod kinds;
use kinds::*;
mod links;
mod msg_queries;
use msg_queries::*;
mod open;
pub use open::{open_database, Locking, OpenError};
mod queues;
mod ratchets;

const INITIAL: &str = "
CREATE TABLE connections (
  conn_id BLOB PRIMARY KEY,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  initiator INTEGER NOT NULL,
  agent_version INTEGER NOT NULL,
  pq_support INTEGER NOT NULL,
  last_internal_id INTEGER NOT NULL,
  last_snd_id INTEGER NOT NULL,
  last_snd_hash BLOB NOT NULL,
  last_rcv_ext_id INTEGER NOT NULL,
  last_rcv_hash BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE rcv_queues (
  conn_id BLOB PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
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
  UNIQUE (server, rcv_id)
) WITHOUT ROWID;
CREATE TABLE snd_queues (
  conn_id BLOB PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  server TEXT NOT NULL,
  snd_id BLOB NOT NULL,
  snd_private_key BLOB NOT NULL,
  e2e_pub_key BLOB NOT NULL,
  e2e_dh_secret BLOB NOT NULL,
  sender_can_secure INTEGER NOT NULL,
  status TEXT NOT NULL,
  smp_client_version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE ratchets (
  conn_id BLOB PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  x3dh_priv_key_1 BLOB,
  x3dh_priv_key_2 BLOB,
  pq_priv_kem BLOB,
  ratchet_state BLOB
) WITHOUT ROWID;
CREATE TABLE skipped_messages (
  skipped_message_id INTEGER PRIMARY KEY,
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  header_key BLOB NOT NULL,
  msg_n INTEGER NOT NULL,
  msg_key BLOB NOT NULL,
  UNIQUE (conn_id, header_key, msg_n)
);
CREATE TABLE conn_confirmations (
  confirmation_id BLOB PRIMARY KEY,
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  sender_key BLOB,
  e2e_snd_pub_key BLOB NOT NULL,
  smp_reply_queues BLOB NOT NULL,
  smp_client_version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE conn_invitations (
  invitation_id BLOB PRIMARY KEY,
  contact_conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  cr_invitation TEXT NOT NULL,
  recipient_conn_info BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE snd_messages (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  internal_id INTEGER NOT NULL,
  internal_snd_id INTEGER NOT NULL,
  msg_type TEXT NOT NULL,
  internal_hash BLOB NOT NULL,
  msg_body BLOB NOT NULL,
  pending INTEGER NOT NULL,
  PRIMARY KEY (conn_id, internal_id)
) WITHOUT ROWID;
CREATE INDEX idx_snd_messages_pending ON snd_messages (conn_id, pending, internal_id);
CREATE INDEX idx_snd_messages_snd_id ON snd_messages (conn_id, internal_snd_id);
CREATE TABLE rcv_messages (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  internal_id INTEGER NOT NULL,
  external_snd_id INTEGER NOT NULL,
  internal_hash BLOB NOT NULL,
  encrypted_msg_hash BLOB NOT NULL,
  broker_id BLOB NOT NULL,
  msg_body BLOB NOT NULL,
  integrity TEXT NOT NULL,
  user_ack INTEGER NOT NULL,
  PRIMARY KEY (conn_id, internal_id)
) WITHOUT ROWID;
CREATE INDEX idx_rcv_messages_enc_hash ON rcv_messages (conn_id, encrypted_msg_hash);
";

/// The receipt of each sent message (the received message that carried it and whether its
/// hash matched) and the type of each received message.
const RECEIPT_STATUS: &str = "
ALTER TABLE snd_messages ADD COLUMN rcpt_internal_id INTEGER;
ALTER TABLE snd_messages ADD COLUMN rcpt_status TEXT;
CREATE INDEX idx_snd_messages_rcpt ON snd_messages (conn_id, rcpt_internal_id);
ALTER TABLE rcv_messages ADD COLUMN msg_type TEXT NOT NULL DEFAULT 'A_MSG';
";

/// Ratchet re-synchronisation: each connection's state in it, the X3DH keys this side sent
/// (kept apart from the ratchet, which goes on changing meanwhile), and the hashes of the
/// peer's keys processed (`processed_ratchet_key_hashes`).
const RATCHET_SYNC: &str = "
ALTER TABLE connections ADD COLUMN ratchet_sync_state TEXT NOT NULL DEFAULT 'ok';
CREATE TABLE ratchet_sync_keys (
  conn_id BLOB PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  x3dh_priv_key_1 BLOB NOT NULL,
  x3dh_priv_key_2 BLOB NOT NULL,
  pq_priv_kem BLOB
) WITHOUT ROWID;
CREATE TABLE processed_ratchet_key_hashes (
  conn_id BLOB NOT NULL REFERENCES connections ON DELETE CASCADE,
  hash BLOB NOT NULL,
  PRIMARY KEY (conn_id, hash)
) WITHOUT ROWID;
";

/// The store in an SQLCipher database file.
pub struct SqliteStore {
    db: Connection,
    records: cache::RecordCache,
    /// How the file was opened: with [`Locking::Shared`] another connection may write it,
    /// so the caches are checked against SQLite's `data_version` before use.
    locking: Locking,
    /// The `data_version` the caches follow (shared locking only).
    data_version: std::cell::Cell<i64>,
    auth_keys: cache::AuthKeyCache,
    /// Between `begin_batch` and `end_batch`.
    in_batch: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(what)
}

fn dec<T: Decode>(bytes: &[u8], what: &'static str) -> Result<T, StoreError> {
    decode_all(bytes).map_err(|_| corrupt(what))
}

fn server_text(s: &SmpServer) -> String {
    s.to_string()
}

fn server_parse(s: &str) -> Result<SmpServer, StoreError> {
    SmpServer::parse_str(s.as_bytes()).map_err(|_| corrupt("server"))
}

fn secret_parse(b: &[u8]) -> Result<DhSecretX25519, StoreError> {
    let arr: [u8; 32] = b.try_into().map_err(|_| corrupt("DH secret"))?;
    Ok(DhSecretX25519::from_bytes(arr))
}

/// Private X3DH keys (two DER keys and an optional KEM key pair).
fn x3dh_row(row: &Row<'_>) -> Result<X3dhKeys, StoreError> {
    let k1: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 0)?);
    let k2: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 1)?);
    let kem: Option<Vec<u8>> = col(row, 2)?;
    Ok(X3dhKeys {
        key1: PrivateKeyX448::from_der(&k1).map_err(|_| corrupt("x3dh key"))?,
        key2: PrivateKeyX448::from_der(&k2).map_err(|_| corrupt("x3dh key"))?,
        kem: match kem {
            Some(k) => Some(dec::<KemKeyPair>(&Zeroizing::new(k), "KEM key")?),
            None => None,
        },
    })
}

/// Reads a row's columns as the error type of the store.
fn col<T: rusqlite::types::FromSql>(row: &Row<'_>, i: usize) -> Result<T, StoreError> {
    Ok(row.get(i)?)
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` with `passphrase` and runs the migrations.
    /// A wrong passphrase gives [`StoreError::WrongPassphrase`]; an empty one opens (or
    /// creates) a plain, unencrypted file.
    /// The agent alone uses the file while the store is open ([`Locking::Exclusive`]).
    pub fn open(path: &Path, passphrase: &str) -> Result<Self, StoreError> {
        Self::open_with(path, passphrase, Locking::Exclusive)
    }

    /// [`SqliteStore::open`] with the given locking: [`Locking::Shared`] lets another
    /// connection read what this one committed (tests do).
    pub fn open_with(path: &Path, passphrase: &str, locking: Locking) -> Result<Self, StoreError> {
        let db = open_database(path, passphrase, locking).map_err(|e| match e {
            OpenError::WrongPassphrase => StoreError::WrongPassphrase,
            OpenError::InUse => StoreError::InUse,
            OpenError::Sqlite(e) => e.into(),
        })?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        // Every statement of the store stays prepared (a few dozen): preparing one costs
        // more than running it.
        db.set_prepared_statement_cache_capacity(256);
        // A larger page cache (16 MiB) than SQLite's default 2 MiB: with SQLCipher every
        // page read from the file is decrypted and its HMAC checked again.
        db.pragma_update(None, "cache_size", -16384)?;
        // Checkpoints every 4,096 pages of log (16 MiB) instead of SQLite's 1,000: a
        // conversation rewrites the same few pages (the connection's row with its ratchet,
        // the index leaves) at every message, and a checkpoint copies each page once however
        // often it was logged: 5-10 % more messages per second in a burst. The log is cut
        // back to 16 MiB once checkpointed.
        db.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        db.pragma_update(None, "journal_size_limit", WAL_CHECKPOINT_PAGES * 4096)?;
        let mut store = SqliteStore {
            db,
            records: cache::RecordCache::default(),
            locking,
            data_version: std::cell::Cell::new(0),
            auth_keys: cache::AuthKeyCache::default(),
            in_batch: false,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The caches of decoded records, emptied first when another connection committed
    /// since they were last used (possible only with [`Locking::Shared`]: SQLite's
    /// `data_version` changes with every commit of another connection).
    fn records(&self) -> Result<&cache::RecordCache, StoreError> {
        if self.locking == Locking::Shared {
            let v: i64 = self
                .db
                .prepare_cached("PRAGMA data_version")?
                .query_row([], |r| r.get(0))?;
            if v != self.data_version.replace(v) {
                self.records.clear();
            }
        }
        Ok(&self.records)
    }

    /// The connection's skipped messages' keys, from the file.
    fn read_skipped(&self, conn_id: &[u8]) -> Result<SkippedKeys, StoreError> {
        let rows = self.query_all(
            "SELECT header_key, msg_n, msg_key FROM skipped_messages WHERE conn_id = ?1",
            params![conn_id],
            |row| {
                let hk: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 0)?);
                let mk: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 2)?);
                Ok((
                    dec::<HeaderKey>(&hk, "header key")?,
                    col::<u32>(row, 1)?,
                    dec::<MessageKey>(&mk, "message key")?,
                ))
            },
        )?;
        let mut keys = SkippedKeys::new();
        for (hk, n, mk) in rows {
            keys.entry(hk).or_default().insert(n, mk);
        }
        Ok(keys)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        self.db.execute_batch(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, ts INTEGER NOT NULL)",
        )?;
        let applied: Vec<String> = {
            let mut st = self
                .db
                .prepare("SELECT name FROM migrations ORDER BY name")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for name in &applied {
            if !MIGRATIONS.iter().any(|(n, _)| n == name) {
                return Err(StoreError::UnknownMigration(name.clone()));
            }
        }
        for (name, sql) in MIGRATIONS {
            if applied.iter().any(|a| a == name) {
                continue;
            }
            let tx = self.db.transaction()?;
            tx.execute_batch(sql)?;
            tx.prepare_cached(
                "INSERT INTO migrations (name, ts) VALUES (?1, strftime('%s','now'))",
            )?
            .execute(params![name])?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The schema as SQL statements, one per table and index, sorted by name (for the
    /// schema test).
    pub fn schema_dump(&self) -> Result<String, StoreError> {
        let mut st = self.db.prepare(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type DESC, name",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = String::new();
        for r in rows {
            out.push_str(r?.trim());
            out.push_str(";\n");
        }
        Ok(out)
    }

    // One arm per kind of write, each a single statement (or loop): long but flat.
    fn write(tx: &Connection, w: Write) -> Result<(), StoreError> {
        match w {
            Write::PutConn(c) => {
                let mut st = tx.prepare_cached(
                    "INSERT INTO connections (conn_id, kind, status, initiator, agent_version, pq_support, last_internal_id, last_snd_id, last_snd_hash, last_rcv_ext_id, last_rcv_hash, ratchet_sync_state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (conn_id) DO UPDATE SET kind = excluded.kind, status = excluded.status, initiator = excluded.initiator,
                       agent_version = excluded.agent_version, pq_support = excluded.pq_support, last_internal_id = excluded.last_internal_id,
                       last_snd_id = excluded.last_snd_id, last_snd_hash = excluded.last_snd_hash, last_rcv_ext_id = excluded.last_rcv_ext_id,
                       last_rcv_hash = excluded.last_rcv_hash, ratchet_sync_state = excluded.ratchet_sync_state"
                    )?;
                ratchets::bind_conn(&mut st, &c)?;
                st.raw_execute()?;
            }
            Write::DeleteConn(id) => {
                tx.prepare_cached("DELETE FROM connections WHERE conn_id = ?1")?
                    .execute(params![id])?;
            }
            Write::PutRcvQueue(q) => queues::put_rcv_queue(tx, q)?,
            Write::DeleteRcvQueue(id, rcv_id) => {
                tx.prepare_cached("DELETE FROM rcv_queues WHERE conn_id = ?1 AND rcv_id = ?2")?
                    .execute(params![id, rcv_id])?;
            }
            Write::PutSndQueue(q) => queues::put_snd_queue(tx, q)?,
            Write::DeleteSndQueueId(id, snd_id) => {
                tx.prepare_cached("DELETE FROM snd_queues WHERE conn_id = ?1 AND snd_id = ?2")?
                    .execute(params![id, snd_id])?;
            }
            Write::PutX3dh(id, k) => ratchets::put_x3dh(tx, &id, &k)?,
            Write::PutRatchet(id, r) => ratchets::put_ratchet(tx, &id, &r)?,
            Write::Skipped(id, diff) => match diff {
                SkippedDiff::NoChange => {}
                SkippedDiff::Remove(hk, n) => {
                    tx.prepare_cached(
                        "DELETE FROM skipped_messages WHERE conn_id = ?1 AND header_key = ?2 AND msg_n = ?3"
                        )?.execute(
                        params![id, hk.to_bytes(), n],
                    )?;
                }
                SkippedDiff::Add(keys) => {
                    let mut st = tx.prepare_cached(
                        "INSERT OR IGNORE INTO skipped_messages (conn_id, header_key, msg_n, msg_key) VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for (hk, mks) in &keys {
                        let hk = Zeroizing::new(hk.to_bytes());
                        for (n, mk) in mks {
                            let mk = Zeroizing::new(mk.to_bytes());
                            st.execute(params![id, &hk[..], n, &mk[..]])?;
                        }
                    }
                }
            },
            Write::PutConfirmation(c) => {
                let mut queues = Vec::new();
                encode_list(&c.reply_queues, &mut queues).map_err(|_| corrupt("reply queues"))?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO conn_confirmations (confirmation_id, conn_id, sender_key, e2e_snd_pub_key, smp_reply_queues, smp_client_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                    )?.execute(
                    params![
                        c.conf_id,
                        c.conn_id,
                        c.sender_key.as_ref().map(Encode::to_bytes),
                        c.e2e_pub_key.to_bytes(),
                        queues,
                        c.smp_client_version
                    ],
                )?;
            }
            Write::DeleteConfirmation(id) => {
                tx.prepare_cached("DELETE FROM conn_confirmations WHERE confirmation_id = ?1")?
                    .execute(params![id])?;
            }
            Write::PutInvitation(i) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO conn_invitations (invitation_id, contact_conn_id, cr_invitation, recipient_conn_info) VALUES (?1, ?2, ?3, ?4)"
                    )?.execute(
                    params![i.inv_id, i.contact_conn_id, i.conn_req, i.conn_info],
                )?;
            }
            Write::DeleteInvitation(id) => {
                tx.prepare_cached("DELETE FROM conn_invitations WHERE invitation_id = ?1")?
                    .execute(params![id])?;
            }
            Write::PutSndMsg(m) => {
                let (body, key, padded_len, agent_version) = match m.body {
                    SndBody::Sealed(b) => (b, None, None, None),
                    SndBody::Prepared(p) => (
                        p.plain,
                        Some(p.key.to_bytes()),
                        Some(p.padded_len),
                        Some(p.agent_version),
                    ),
                };
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO snd_messages (conn_id, internal_id, internal_snd_id, msg_type, internal_hash, msg_body, pending, rcpt_internal_id, rcpt_status, snd_queue_id, msg_encrypt_key, padded_msg_len, msg_agent_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                    )?.execute(
                    params![
                        m.conn_id,
                        m.internal_id,
                        m.snd_id,
                        msg_kind_text(m.kind),
                        m.hash,
                        body,
                        m.pending,
                        m.receipt.map(|r| r.rcv_msg_id),
                        m.receipt.map(|r| r.status.as_str()),
                        m.queue,
                        key,
                        padded_len,
                        agent_version
                    ],
                )?;
            }
            Write::DeleteSndMsg(id, n) => {
                tx.prepare_cached(
                    "DELETE FROM snd_messages WHERE conn_id = ?1 AND internal_id = ?2",
                )?
                .execute(params![id, n])?;
            }
            Write::PutSndCopy(c) => queues::put_snd_copy(tx, c)?,
            Write::DeleteSndCopy(id, queue, n) => queues::delete_snd_copy(tx, &id, &queue, n)?,
            Write::DeleteSndQueue(id) => {
                tx.prepare_cached("DELETE FROM snd_queues WHERE conn_id = ?1")?
                    .execute(params![id])?;
            }
            Write::PutRcvMsg(m) => {
                let r = tx.prepare_cached(
                    "INSERT INTO rcv_messages (conn_id, internal_id, external_snd_id, internal_hash, encrypted_msg_hash, broker_id, msg_body, integrity, user_ack, msg_type, rcv_queue_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    )?.execute(
                    params![
                        m.conn_id,
                        m.internal_id,
                        m.ext_snd_id,
                        m.hash,
                        m.enc_hash,
                        m.srv_msg_id,
                        m.body,
                        m.integrity,
                        m.acked,
                        rcv_kind_text(m.kind),
                        m.rcv_id
                    ],
                );
                match r {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        return Err(StoreError::Duplicate)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Write::MarkSndMsgSent(id, n) => {
                // Only what changes: the row's other columns and two of its indexes stay.
                tx.prepare_cached(
                    "UPDATE snd_messages SET pending = 0, msg_body = x'', msg_encrypt_key = NULL, padded_msg_len = NULL, msg_agent_version = NULL WHERE conn_id = ?1 AND internal_id = ?2",
                )?
                .execute(params![id, n])?;
            }
            Write::SetSndMsgReceipt(id, n, r) => {
                tx.prepare_cached(
                    "UPDATE snd_messages SET rcpt_internal_id = ?3, rcpt_status = ?4 WHERE conn_id = ?1 AND internal_id = ?2",
                )?
                .execute(params![id, n, r.rcv_msg_id, r.status.as_str()])?;
            }
            Write::AckRcvMsg(id, n) => {
                tx.prepare_cached(
                    "UPDATE rcv_messages SET user_ack = 1, msg_body = x'' WHERE conn_id = ?1 AND internal_id = ?2",
                )?
                .execute(params![id, n])?;
            }
            Write::UnackRcvMsg(id, n, body) => {
                tx.prepare_cached(
                    "UPDATE rcv_messages SET user_ack = 0, msg_body = ?3 WHERE conn_id = ?1 AND internal_id = ?2",
                )?
                .execute(params![id, n, body])?;
            }
            Write::PutSyncKeys(id, k) => {
                let k1 = k.key1.to_der();
                let k2 = k.key2.to_der();
                let kem = k.kem.as_ref().map(|kp| Zeroizing::new(kp.to_bytes()));
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO ratchet_sync_keys (conn_id, x3dh_priv_key_1, x3dh_priv_key_2, pq_priv_kem) VALUES (?1, ?2, ?3, ?4)"
                    )?.execute(
                    params![id, &k1[..], &k2[..], kem.as_ref().map(|k| &k[..])],
                )?;
            }
            Write::DeleteSyncKeys(id) => {
                tx.prepare_cached("DELETE FROM ratchet_sync_keys WHERE conn_id = ?1")?
                    .execute(params![id])?;
            }
            Write::AddRatchetKeyHash(id, h) => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO processed_ratchet_key_hashes (conn_id, hash) VALUES (?1, ?2)"
                    )?.execute(
                    params![id, h],
                )?;
            }
            Write::PutShortLink(l) => links::put_short_link(tx, l)?,
            Write::PutInvShortLink(l) => links::put_inv_short_link(tx, l)?,
            Write::DeleteInvShortLink(link_id) => {
                tx.prepare_cached("DELETE FROM inv_short_links WHERE link_id = ?1")?
                    .execute(params![link_id])?;
            }
            Write::DeleteShortLink(id) => {
                tx.prepare_cached("DELETE FROM short_links WHERE conn_id = ?1")?
                    .execute(params![id])?;
            }
        }
        Ok(())
    }

    fn conn_row(row: &Row<'_>) -> Result<ConnRecord, StoreError> {
        let kind = match col::<String>(row, 1)?.as_str() {
            "duplex" => ConnKind::Duplex,
            "contact" => ConnKind::Contact,
            _ => return Err(corrupt("connection kind")),
        };
        let status = match col::<String>(row, 2)?.as_str() {
            "new" => ConnStatus::New,
            "active" => ConnStatus::Active,
            "suspended" => ConnStatus::Suspended,
            _ => return Err(corrupt("connection status")),
        };
        Ok(ConnRecord {
            conn_id: col(row, 0)?,
            kind,
            status,
            initiator: col(row, 3)?,
            agent_version: col(row, 4)?,
            pq_support: col(row, 5)?,
            last_internal_id: col(row, 6)?,
            last_snd_id: col(row, 7)?,
            last_snd_hash: col(row, 8)?,
            last_rcv_ext_id: col(row, 9)?,
            last_rcv_hash: col(row, 10)?,
            ratchet_sync: RatchetSyncState::parse(&col::<String>(row, 11)?)
                .ok_or(corrupt("ratchet sync state"))?,
        })
    }

    fn snd_msg_row(row: &Row<'_>) -> Result<SndMsgRecord, StoreError> {
        Ok(SndMsgRecord {
            conn_id: col(row, 0)?,
            internal_id: col(row, 1)?,
            snd_id: col(row, 2)?,
            kind: msg_kind_parse(&col::<String>(row, 3)?)?,
            hash: col(row, 4)?,
            body: match col::<Option<Vec<u8>>>(row, 10)? {
                None => SndBody::Sealed(col(row, 5)?),
                Some(key) => SndBody::Prepared(PreparedBody {
                    plain: col(row, 5)?,
                    key: decode_all::<MsgEncryptKey>(&key).map_err(|_| corrupt("message key"))?,
                    padded_len: col(row, 11)?,
                    agent_version: col(row, 12)?,
                }),
            },
            pending: col(row, 6)?,
            receipt: match (col::<Option<i64>>(row, 7)?, col::<Option<String>>(row, 8)?) {
                (Some(rcv_msg_id), Some(status)) => Some(SndMsgReceipt {
                    rcv_msg_id,
                    status: MsgReceiptStatus::parse(&status).ok_or(corrupt("receipt status"))?,
                }),
                _ => None,
            },
            queue: col(row, 9)?,
        })
    }

    fn rcv_msg_row(row: &Row<'_>) -> Result<RcvMsgRecord, StoreError> {
        Ok(RcvMsgRecord {
            conn_id: col(row, 0)?,
            internal_id: col(row, 1)?,
            ext_snd_id: col(row, 2)?,
            hash: col(row, 3)?,
            enc_hash: col(row, 4)?,
            srv_msg_id: col(row, 5)?,
            body: col(row, 6)?,
            integrity: col(row, 7)?,
            acked: col(row, 8)?,
            kind: rcv_kind_parse(&col::<String>(row, 9)?)?,
            rcv_id: col(row, 10)?,
        })
    }

    fn query_one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut st = self.db.prepare_cached(sql)?;
        let mut rows = st.query(params)?;
        match rows.next()? {
            Some(row) => Ok(Some(f(row)?)),
            None => Ok(None),
        }
    }

    fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl Fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut st = self.db.prepare_cached(sql)?;
        let mut rows = st.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(f(row)?);
        }
        Ok(out)
    }
}

const CONN_COLS: &str = "conn_id, kind, status, initiator, agent_version, pq_support, last_internal_id, last_snd_id, last_snd_hash, last_rcv_ext_id, last_rcv_hash, ratchet_sync_state";

impl Store for SqliteStore {
    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        let pending = self.records.before(&writes);
        // Inside the batch's transaction, committed with the batch.
        apply::all_or_nothing(&self.db, self.in_batch, writes)?;
        self.records.after(pending);
        Ok(())
    }

    fn begin_batch(&mut self) -> Result<(), StoreError> {
        apply::begin_batch(&self.db)?;
        self.in_batch = true;
        Ok(())
    }

    fn end_batch(&mut self) -> Result<(), StoreError> {
        self.in_batch = false;
        if let Err(e) = apply::end_batch(&self.db) {
            // Nothing of the batch stays, nor in the cache, which followed its savepoints.
            self.records.clear();
            return Err(e);
        }
        Ok(())
    }

    fn conn(&self, conn_id: &[u8]) -> Result<Option<ConnRecord>, StoreError> {
        self.records()?.conn(conn_id, || {
            self.query_one(
                &format!("SELECT {CONN_COLS} FROM connections WHERE conn_id = ?1"),
                params![conn_id],
                Self::conn_row,
            )
        })
    }

    fn conns(&self) -> Result<Vec<ConnRecord>, StoreError> {
        self.query_all(
            &format!("SELECT {CONN_COLS} FROM connections ORDER BY conn_id"),
            [],
            Self::conn_row,
        )
    }

    /// Read side by side in connection order (`queues::read_loaded_conns`), not cached: an
    /// agent with 10,000 connections would fill the caches only to empty them again.
    fn load_conns(&self) -> Result<Vec<LoadedConn>, StoreError> {
        self.read_loaded_conns()
    }

    fn rcv_queues(&self, conn_id: &[u8]) -> Result<Vec<RcvQueueRecord>, StoreError> {
        self.records()?
            .rcv_queues(conn_id, false, || self.read_rcv_queues(conn_id, false))
    }

    fn snd_queues(&self, conn_id: &[u8]) -> Result<Vec<SndQueueRecord>, StoreError> {
        self.records()?
            .snd_queues(conn_id, false, || self.read_snd_queues(conn_id, false))
    }

    fn extra_rcv_queues(&self, conn_id: &[u8]) -> Result<Vec<RcvQueueRecord>, StoreError> {
        self.records()?
            .rcv_queues(conn_id, true, || self.read_rcv_queues(conn_id, true))
    }

    fn extra_snd_queues(&self, conn_id: &[u8]) -> Result<Vec<SndQueueRecord>, StoreError> {
        self.records()?
            .snd_queues(conn_id, true, || self.read_snd_queues(conn_id, true))
    }

    fn snd_copies(
        &self,
        conn_id: &[u8],
        queue: &[u8],
        limit: usize,
    ) -> Result<Vec<SndCopyRecord>, StoreError> {
        self.read_snd_copies(conn_id, queue, limit)
    }

    fn snd_copy_queues(&self) -> Result<Vec<ConnQueue>, StoreError> {
        self.read_snd_copy_queues()
    }

    fn x3dh(&self, conn_id: &[u8]) -> Result<Option<X3dhKeys>, StoreError> {
        self.query_one(
            "SELECT x3dh_priv_key_1, x3dh_priv_key_2, pq_priv_kem FROM ratchets WHERE conn_id = ?1 AND x3dh_priv_key_1 IS NOT NULL",
            params![conn_id],
            x3dh_row,
        )
    }

    fn sync_keys(&self, conn_id: &[u8]) -> Result<Option<X3dhKeys>, StoreError> {
        self.query_one(
            "SELECT x3dh_priv_key_1, x3dh_priv_key_2, pq_priv_kem FROM ratchet_sync_keys WHERE conn_id = ?1",
            params![conn_id],
            x3dh_row,
        )
    }

    fn short_link(&self, conn_id: &[u8]) -> Result<Option<ShortLinkRecord>, StoreError> {
        self.query_one(
            links::SELECT_SHORT_LINK,
            params![conn_id],
            links::short_link_row,
        )
    }

    fn inv_short_link(&self, link_id: &[u8]) -> Result<Option<InvShortLinkRecord>, StoreError> {
        let sql = format!("{} WHERE link_id = ?1", links::SELECT_INV_SHORT_LINK);
        self.query_one(&sql, params![link_id], links::inv_short_link_row)
    }

    fn inv_short_link_by_snd_id(
        &self,
        snd_id: &[u8],
    ) -> Result<Option<InvShortLinkRecord>, StoreError> {
        let sql = format!("{} WHERE snd_id = ?1", links::SELECT_INV_SHORT_LINK);
        self.query_one(&sql, params![snd_id], links::inv_short_link_row)
    }

    fn ratchet_key_hash_exists(&self, conn_id: &[u8], hash: &[u8]) -> Result<bool, StoreError> {
        let found = self.query_one(
            "SELECT 1 FROM processed_ratchet_key_hashes WHERE conn_id = ?1 AND hash = ?2",
            params![conn_id, hash],
            |row| col::<i64>(row, 0),
        )?;
        Ok(found.is_some())
    }

    fn ratchet(&self, conn_id: &[u8]) -> Result<Option<Ratchet<X448>>, StoreError> {
        if let Some(r) = self.records()?.ratchet(conn_id) {
            return Ok(Some(r));
        }
        let r = self.query_one(ratchets::SELECT_RATCHET, params![conn_id], |row| {
            let state: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 0)?);
            dec::<Ratchet<X448>>(&state, "ratchet state")
        })?;
        if let Some(r) = &r {
            self.records.put_ratchet(conn_id, r);
        }
        Ok(r)
    }

    fn skipped(&self, conn_id: &[u8]) -> Result<SkippedKeys, StoreError> {
        self.records()?
            .skipped(conn_id, || self.read_skipped(conn_id))
    }

    fn confirmation(&self, conf_id: &[u8]) -> Result<Option<ConfirmationRecord>, StoreError> {
        self.query_one(
            "SELECT confirmation_id, conn_id, sender_key, e2e_snd_pub_key, smp_reply_queues, smp_client_version FROM conn_confirmations WHERE confirmation_id = ?1",
            params![conf_id],
            |row| {
                let sk: Option<Vec<u8>> = col(row, 2)?;
                let queues: Vec<u8> = col(row, 4)?;
                let mut r = Reader::new(&queues);
                let reply_queues: Vec<SmpQueueInfo> =
                    decode_list(&mut r).map_err(|_| corrupt("reply queues"))?;
                Ok(ConfirmationRecord {
                    conf_id: col(row, 0)?,
                    conn_id: col(row, 1)?,
                    sender_key: match sk {
                        Some(k) => Some(dec::<PublicAuthKey>(&k, "sender key")?),
                        None => None,
                    },
                    e2e_pub_key: dec::<PublicKeyX25519>(&col::<Vec<u8>>(row, 3)?, "e2e key")?,
                    reply_queues,
                    smp_client_version: col(row, 5)?,
                })
            },
        )
    }

    fn invitation(&self, inv_id: &[u8]) -> Result<Option<InvitationRecord>, StoreError> {
        self.query_one(
            "SELECT invitation_id, contact_conn_id, cr_invitation, recipient_conn_info FROM conn_invitations WHERE invitation_id = ?1",
            params![inv_id],
            |row| {
                Ok(InvitationRecord {
                    inv_id: col(row, 0)?,
                    contact_conn_id: col(row, 1)?,
                    conn_req: col(row, 2)?,
                    conn_info: col(row, 3)?,
                })
            },
        )
    }

    fn pending_snd_msgs(&self, conn_id: &[u8]) -> Result<Vec<SndMsgRecord>, StoreError> {
        self.query_all(PENDING_SND_MSGS, params![conn_id], Self::snd_msg_row)
    }

    fn next_pending_snd_msg(&self, conn_id: &[u8]) -> Result<Option<SndMsgRecord>, StoreError> {
        let mut v = self.query_all(NEXT_PENDING_SND_MSG, params![conn_id], Self::snd_msg_row)?;
        Ok(v.pop())
    }

    fn next_pending_snd_msg_after(
        &self,
        conn_id: &[u8],
        after: i64,
    ) -> Result<Option<SndMsgRecord>, StoreError> {
        let mut v = self.query_all(
            NEXT_PENDING_SND_MSG_AFTER,
            params![conn_id, after],
            Self::snd_msg_row,
        )?;
        Ok(v.pop())
    }

    fn snd_msg(
        &self,
        conn_id: &[u8],
        internal_id: i64,
    ) -> Result<Option<SndMsgRecord>, StoreError> {
        self.query_one(
            &format!(
                "SELECT {SND_MSG_COLS} FROM snd_messages WHERE conn_id = ?1 AND internal_id = ?2"
            ),
            params![conn_id, internal_id],
            Self::snd_msg_row,
        )
    }

    fn snd_msg_by_snd_id(
        &self,
        conn_id: &[u8],
        snd_id: i64,
    ) -> Result<Option<SndMsgRecord>, StoreError> {
        self.query_one(
            SND_MSG_BY_SND_ID,
            params![conn_id, snd_id],
            Self::snd_msg_row,
        )
    }

    fn rcv_msg(
        &self,
        conn_id: &[u8],
        internal_id: i64,
    ) -> Result<Option<RcvMsgRecord>, StoreError> {
        self.query_one(
            &format!(
                "SELECT {RCV_MSG_COLS} FROM rcv_messages WHERE conn_id = ?1 AND internal_id = ?2"
            ),
            params![conn_id, internal_id],
            Self::rcv_msg_row,
        )
    }

    fn ack_rcv_msg_once(&mut self, conn_id: &[u8], internal_id: i64) -> Result<bool, StoreError> {
        // One statement: all or nothing by itself, in a batch's transaction or not.
        let n = self
            .db
            .prepare_cached(ACK_RCV_MSG_ONCE)?
            .execute(params![conn_id, internal_id])?;
        Ok(n == 1)
    }

    fn rcv_msg_by_enc_hash(
        &self,
        conn_id: &[u8],
        enc_hash: &[u8],
    ) -> Result<Option<RcvMsgRecord>, StoreError> {
        self.query_one(
            RCV_MSG_BY_ENC_HASH,
            params![conn_id, enc_hash],
            Self::rcv_msg_row,
        )
    }

    fn snd_msgs_by_receipt(
        &self,
        conn_id: &[u8],
        rcv_msg_id: i64,
    ) -> Result<Vec<SndMsgRecord>, StoreError> {
        self.query_all(
            SND_MSGS_BY_RECEIPT,
            params![conn_id, rcv_msg_id],
            Self::snd_msg_row,
        )
    }
}
