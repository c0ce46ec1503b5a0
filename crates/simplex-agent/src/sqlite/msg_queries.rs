//! The message lookups that must use their secondary index, named with `INDEXED BY`.
//!
//! Without table statistics SQLite's planner prefers the primary key `(conn_id, …)` of the
//! `WITHOUT ROWID` message tables for these queries (it avoids a sort and needs no second
//! lookup) and then reads every message the connection ever sent or received to find one:
//! a delivered message cost a scan of all sent ones before it (measured: ~20 % of the store
//! thread in a 3,000-message burst, growing with the history). The indexes exist in every
//! migrated database (`INITIAL`, `RECEIPT_STATUS`); the test below checks the plans.

/// The columns of a sent message, in the order `snd_msg_row` reads them.
macro_rules! snd_msg_cols {
    () => {
        "conn_id, internal_id, internal_snd_id, msg_type, internal_hash, msg_body, pending, rcpt_internal_id, rcpt_status, snd_queue_id, msg_encrypt_key, padded_msg_len, msg_agent_version"
    };
}

/// The columns of a received message, in the order `rcv_msg_row` reads them.
macro_rules! rcv_msg_cols {
    () => {
        "conn_id, internal_id, external_snd_id, internal_hash, encrypted_msg_hash, broker_id, msg_body, integrity, user_ack, msg_type, rcv_queue_id"
    };
}

/// A pending message stored as its agent message and the ratchet's key for it
/// (`SndBody::Prepared`: `msg_encrypt_key` set, `msg_body` the agent message) instead of
/// the sealed 16 KB block; rows stored before keep `msg_encrypt_key` NULL and are sent as
/// they are. The receipts' index keeps only messages with a receipt (a page less written
/// per message sent; `SND_MSGS_BY_RECEIPT` asks for a receipt's ID, so it still applies).
pub(super) const SND_MSG_PREPARED: &str = "
ALTER TABLE snd_messages ADD COLUMN msg_encrypt_key BLOB;
ALTER TABLE snd_messages ADD COLUMN padded_msg_len INTEGER;
ALTER TABLE snd_messages ADD COLUMN msg_agent_version INTEGER;
DROP INDEX idx_snd_messages_rcpt;
CREATE INDEX idx_snd_messages_rcpt ON snd_messages (conn_id, rcpt_internal_id)
  WHERE rcpt_internal_id IS NOT NULL;
";

pub(super) const SND_MSG_COLS: &str = snd_msg_cols!();

/// A received message marked acknowledged by the application, unless it is already, its
/// body dropped (see `Write::AckRcvMsg`).
pub(super) const ACK_RCV_MSG_ONCE: &str =
    "UPDATE rcv_messages SET user_ack = 1, msg_body = x'' WHERE conn_id = ?1 AND internal_id = ?2 AND user_ack = 0";
pub(super) const RCV_MSG_COLS: &str = rcv_msg_cols!();

/// A connection's pending messages, oldest first.
pub(super) const PENDING_SND_MSGS: &str = concat!(
    "SELECT ",
    snd_msg_cols!(),
    " FROM snd_messages INDEXED BY idx_snd_messages_pending",
    " WHERE conn_id = ?1 AND pending = 1 ORDER BY internal_id"
);

/// A connection's oldest pending message.
pub(super) const NEXT_PENDING_SND_MSG: &str = concat!(
    "SELECT ",
    snd_msg_cols!(),
    " FROM snd_messages INDEXED BY idx_snd_messages_pending",
    " WHERE conn_id = ?1 AND pending = 1 ORDER BY internal_id LIMIT 1"
);

/// A connection's oldest pending message after a given one (the one in flight).
pub(super) const NEXT_PENDING_SND_MSG_AFTER: &str = concat!(
    "SELECT ",
    snd_msg_cols!(),
    " FROM snd_messages INDEXED BY idx_snd_messages_pending",
    " WHERE conn_id = ?1 AND pending = 1 AND internal_id > ?2 ORDER BY internal_id LIMIT 1"
);

/// A sent message by the ID the peer knows it by (a receipt's).
pub(super) const SND_MSG_BY_SND_ID: &str = concat!(
    "SELECT ",
    snd_msg_cols!(),
    " FROM snd_messages INDEXED BY idx_snd_messages_snd_id",
    " WHERE conn_id = ?1 AND internal_snd_id = ?2"
);

/// The sent messages a received receipt message acknowledged.
pub(super) const SND_MSGS_BY_RECEIPT: &str = concat!(
    "SELECT ",
    snd_msg_cols!(),
    " FROM snd_messages INDEXED BY idx_snd_messages_rcpt",
    " WHERE conn_id = ?1 AND rcpt_internal_id = ?2 ORDER BY internal_id"
);

/// A received message by the hash of its encrypted form.
pub(super) const RCV_MSG_BY_ENC_HASH: &str = concat!(
    "SELECT ",
    rcv_msg_cols!(),
    " FROM rcv_messages INDEXED BY idx_rcv_messages_enc_hash",
    " WHERE conn_id = ?1 AND encrypted_msg_hash = ?2"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;

    /// The plan's lines (`EXPLAIN QUERY PLAN`) of a query on a freshly migrated store.
    fn plan(store: &SqliteStore, sql: &str) -> String {
        let mut st = store
            .db
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("the query prepares");
        // The plan does not depend on the values: every parameter bound to NULL.
        let nulls = vec![rusqlite::types::Null; st.parameter_count()];
        let rows = st
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .expect("the plan runs");
        rows.map(|r| r.expect("a plan row"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn message_lookups_search_their_index_not_the_whole_connection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("plans.db"), "").expect("store opens");
        for (sql, index) in [
            (
                PENDING_SND_MSGS,
                "idx_snd_messages_pending (conn_id=? AND pending=?)",
            ),
            (
                NEXT_PENDING_SND_MSG,
                "idx_snd_messages_pending (conn_id=? AND pending=?)",
            ),
            (
                NEXT_PENDING_SND_MSG_AFTER,
                "idx_snd_messages_pending (conn_id=? AND pending=? AND internal_id>?)",
            ),
            (
                SND_MSG_BY_SND_ID,
                "idx_snd_messages_snd_id (conn_id=? AND internal_snd_id=?)",
            ),
            (
                SND_MSGS_BY_RECEIPT,
                "idx_snd_messages_rcpt (conn_id=? AND rcpt_internal_id=?)",
            ),
            (
                RCV_MSG_BY_ENC_HASH,
                "idx_rcv_messages_enc_hash (conn_id=? AND encrypted_msg_hash=?)",
            ),
        ] {
            let p = plan(&store, sql);
            assert!(p.contains(&format!("USING INDEX {index}")), "{sql}:\n{p}");
            // Ordered by the index itself, no sort step.
            assert!(!p.contains("TEMP B-TREE"), "{sql}:\n{p}");
        }
    }
}
