//! The common received message in one store hop: a message (`A_MSG`) or delivery receipts
//! (`A_RCVD`) in the ratchet of an established connection, on a queue that replaces no
//! other. The store's thread reads the connection, its queues and ratchet, decrypts (the
//! relay's layer, the per-queue layer, the ratchet), checks the message against the
//! previous one and writes it with the ratchet's new state, all in one call, as `enqueue`
//! encrypts and stores in one call for sending. The caller hears of it only once it is
//! committed, then reports it and acknowledges it (module `receive`).
//!
//! Anything else (a confirmation, new ratchet keys, a message the ratchet cannot decrypt:
//! a duplicate, garbage, the ratchets out of step; `HELLO`, `EREADY`, queue rotation, a
//! queue's quota) leaves the store unchanged and goes back with what was read to the
//! careful path (`Inner::process_msg`), which decrypts again and handles it as before.

use agent_proto::{AMessage, AMessageReceipt, AgentMessage, AgentMsgEnvelope, ClientMsgEnvelope};
use rand::rngs::OsRng;
use simplex_crypto::sha256;
use simplex_encoding::decode_all;
use simplex_ratchet::{Decrypted, RatchetKeySource, X448};
use smp_client::decrypt_message;
use smp_proto::{RcvMessage, RcvMsgBody};

use super::ack::Unacked;
use super::receive::{enc_msg_hash, match_receipts, open_message_envelope, AckMode, RatchetKeys};
use super::state;
use crate::error::StoreError;
use crate::store::*;
use crate::types::*;

/// What the store's thread did with a received message.
pub(super) enum Hop {
    /// Its connection or queue is gone.
    Gone,
    /// Stored with the ratchet's step (committed once the caller hears of it).
    Stored(Box<Stored>),
    /// Not the common case: nothing written, what was read goes to the careful path.
    Careful(Box<Careful>),
}

/// What the careful path starts from: the connection, the queue the message came on, the
/// send queue, the ratchet, and the message itself.
pub(super) struct Careful {
    pub conn: ConnRecord,
    pub rq: RcvQueueRecord,
    pub sq: Option<SndQueueRecord>,
    pub keys: RatchetKeys,
    pub m: RcvMessage,
}

/// A message stored in one hop: what is left to do.
pub(super) struct Stored {
    /// The queue it came on, as it was read (for the `ACK`).
    pub rq: RcvQueueRecord,
    /// The relay's ID of it.
    pub srv_msg_id: Vec<u8>,
    /// To report.
    pub events: Vec<Event>,
    /// When the relay's copy is acknowledged.
    pub ack: AckMode,
    /// A message the application acknowledges: its ID and what its `ACK` needs.
    pub unacked: Option<(i64, Unacked)>,
    /// The message took a ratchet step whose sending half is pending
    /// ([`complete_ratchet_step`]).
    pub step_pending: bool,
}

/// The agent messages handled in one hop.
enum Common {
    Msg(Vec<u8>),
    Rcvd(Vec<AMessageReceipt>),
}

/// A decrypted common message.
struct Step {
    enc_hash: Vec<u8>,
    d: Decrypted<X448>,
    snd_msg_id: i64,
    prev_msg_hash: Vec<u8>,
    message: Common,
}

/// Receives `m` from the queue `rcv_id` of `conn_id`, in the store's thread (see the
/// module's documentation).
pub(super) fn receive(
    s: &mut dyn Store,
    ratchet_keys: &dyn RatchetKeySource,
    conn_id: &[u8],
    rcv_id: &[u8],
    m: RcvMessage,
) -> Result<Hop, StoreError> {
    let (conn, rqs, sq, keys) = (
        s.conn(conn_id)?,
        s.all_rcv_queues(conn_id)?,
        s.snd_queue(conn_id)?,
        (s.ratchet(conn_id)?, s.skipped(conn_id)?),
    );
    let rq = rqs.into_iter().find(|q| q.rcv_id == rcv_id);
    let (Some(conn), Some(rq)) = (conn, rq) else {
        return Ok(Hop::Gone);
    };
    match common_message(&rq, &keys, ratchet_keys, &m) {
        Some(step) => store_common(s, conn, rq, &m, step).map(|st| Hop::Stored(Box::new(st))),
        None => Ok(Hop::Careful(Box::new(Careful {
            conn,
            rq,
            sq,
            keys,
            m,
        }))),
    }
}

/// The message decrypted, when it is a common one (`None` for anything the careful path
/// is to handle).
fn common_message(
    rq: &RcvQueueRecord,
    (ratchet, skipped): &RatchetKeys,
    ratchet_keys: &dyn RatchetKeySource,
    m: &RcvMessage,
) -> Option<Step> {
    // A switch's new queue may have to wait for the old one (module `switch`).
    if rq.replaces.is_some() {
        return None;
    }
    let secret = rq.e2e_dh_secret.as_ref()?;
    let RcvMsgBody::Data { body, .. } = decrypt_message(&rq.rcv_dh_secret, m).ok()? else {
        return None;
    };
    let env: ClientMsgEnvelope = decode_all(&body).ok()?;
    if env.header.e2e_pub_dh_key.is_some() {
        return None;
    }
    let AgentMsgEnvelope::Message {
        enc_agent_message, ..
    } = open_message_envelope(secret, &env).ok()?
    else {
        return None;
    };
    let d = ratchet
        .as_ref()?
        .decrypt_with_keys(skipped, &enc_agent_message, &mut OsRng, ratchet_keys)
        .ok()?;
    let AgentMessage::Message { header, message } = decode_all(&d.plaintext).ok()? else {
        return None;
    };
    let message = match message {
        AMessage::AMsg(body) => Common::Msg(body),
        AMessage::ARcvd(rcpts) => Common::Rcvd(rcpts),
        _ => return None,
    };
    Some(Step {
        enc_hash: enc_msg_hash(&enc_agent_message),
        d,
        snd_msg_id: header.snd_msg_id,
        prev_msg_hash: header.prev_msg_hash,
        message,
    })
}

/// Writes a decrypted common message with the ratchet's new state (as
/// `Inner::on_ratchet_message` does for every message): what to report and when to
/// acknowledge it.
fn store_common(
    s: &mut dyn Store,
    mut conn: ConnRecord,
    found: RcvQueueRecord,
    m: &RcvMessage,
    step: Step,
) -> Result<Stored, StoreError> {
    let conn_id = conn.conn_id.clone();
    let hash = sha256(&step.d.plaintext).to_vec();
    let integrity = MsgIntegrity::check(
        conn.last_rcv_ext_id,
        &conn.last_rcv_hash,
        step.snd_msg_id,
        &step.prev_msg_hash,
    );
    conn.last_internal_id += 1;
    conn.last_rcv_ext_id = step.snd_msg_id;
    conn.last_rcv_hash = hash.clone();
    let internal_id = conn.last_internal_id;
    let mut rq = found.clone();
    state::message_received(&mut rq);
    let step_pending = step.d.ratchet.step_pending();
    let mut writes = vec![
        Write::PutRatchet(conn_id.clone(), step.d.ratchet),
        Write::Skipped(conn_id.clone(), step.d.diff),
    ];
    let mut events: Vec<Event> = state::sync_healed(&mut conn).into_iter().collect();
    let meta = MsgMeta {
        msg_id: internal_id,
        snd_msg_id: step.snd_msg_id,
        integrity,
    };
    let mut record = RcvMsgRecord {
        conn_id: conn_id.clone(),
        internal_id,
        ext_snd_id: step.snd_msg_id,
        hash,
        enc_hash: step.enc_hash,
        srv_msg_id: m.msg_id.as_slice().to_vec(),
        rcv_id: Some(rq.rcv_id.clone()),
        body: Vec::new(),
        integrity: meta.integrity.to_string(),
        acked: true,
        kind: RcvMsgKind::Message,
    };
    let mut ack = AckMode::Now;
    match step.message {
        Common::Msg(body) => {
            record.body = body.clone();
            record.acked = false;
            events.push(Event::Msg { meta, body });
            ack = AckMode::Later;
        }
        Common::Rcvd(rcpts) => {
            record.kind = RcvMsgKind::Receipt;
            let receipts =
                match_receipts(s, &conn_id, internal_id, rcpts, &mut writes, &mut events)?;
            if !receipts.is_empty() {
                record.acked = false;
                events.push(Event::Rcvd { meta, receipts });
                ack = AckMode::Later;
            }
        }
    }
    let unacked = (record.kind == RcvMsgKind::Message).then(|| {
        let u = Unacked {
            rq: rq.clone(),
            srv_msg_id: record.srv_msg_id.clone(),
            body: record.body.clone(),
        };
        (internal_id, u)
    });
    writes.push(Write::PutRcvMsg(record));
    writes.push(Write::PutConn(conn));
    // The queue's row is written only when it changes (a page less per message).
    if rq != found {
        writes.push(Write::PutRcvQueue(rq));
    }
    s.apply(writes)?;
    Ok(Stored {
        rq: found,
        srv_msg_id: m.msg_id.as_slice().to_vec(),
        events,
        ack,
        unacked,
        step_pending,
    })
}

/// Takes the sending half of a connection's last ratchet step, if pending
/// (`Ratchet::complete_step`): a message that took a ratchet step stores the state with
/// that half pending, so that the application hears of it one X448 agreement sooner, and
/// this follows while the application reads and acknowledges it, before the reply needs
/// it. Lost (a crash, or never run), the next encryption takes the half itself.
pub(super) fn complete_ratchet_step(s: &mut dyn Store, conn_id: &[u8]) -> Result<(), StoreError> {
    let Some(ratchet) = s.ratchet(conn_id)? else {
        return Ok(());
    };
    match ratchet.complete_step() {
        Ok(Some(done)) => s.apply(vec![Write::PutRatchet(conn_id.to_vec(), done)]),
        // Nothing pending; or the agreement failed, which the next encryption reports.
        Ok(None) | Err(_) => Ok(()),
    }
}
