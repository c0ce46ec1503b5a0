//! The connection state machine: the states a connection and its two queues go through,
//! and the event that moves each. Every status change the agent makes is one of the
//! functions below; the modules that do the I/O (`connect`, `send`, `receive`) call them.
//!
//! A duplex connection, as made by an invitation (the reference's `Agent.hs`: `newConn`,
//! `joinConn`, `smpConfirmation`, `allowConnection`, `helloMsg`, and the delivery of
//! `AM_CONN_INFO`/`AM_HELLO_`). A (the initiator) receives on queue `a`, B (the joiner)
//! on queue `b`; each sends on the other's. `conn` is the connection's status, `rq`/`sq`
//! its receive and send queue's.
//!
//! ```text
//!  A (initiator)                                   B (joiner)
//!  create_connection: conn New, rq(a) New
//!        ── invitation link ──────────────────────▶
//!                                                  join_connection: conn New, rq(b) New,
//!                                                   sq(a) New, or Secured by SKEY
//!                                                   [snd_secured]; confirmation queued
//!                                                  confirmation sent: sq(a) Confirmed
//!        ◀── confirmation (B's queue b, info) ────  [confirmation_sent]
//!  CONF: rq(a) Confirmed [confirmation_received]
//!  allow_connection: KEY on a when B could not
//!   secure it → rq(a) Secured [rcv_secured];
//!   sq(b) New, or Secured by SKEY [snd_secured]
//!  confirmation sent [confirmation_sent]:
//!   A secured b by SKEY → sq(b) Active, conn
//!   Active, CON (no HELLO on this path); else
//!   sq(b) Confirmed
//!        ── confirmation (A's info) ──────────────▶ INFO [conn_info_received]:
//!                                                   A secured b → rq(b) Active,
//!                                                   conn Active, CON; else KEY on b,
//!                                                   rq(b) Secured [rcv_secured], HELLO
//!                                                   queued
//!                                                  HELLO sent: sq(a) Active [hello_sent]
//!        ◀── HELLO ───────────────────────────────
//!  HELLO received: rq(a) Active; HELLO queued
//!   [hello_received]
//!  HELLO sent: sq(b) Active; rq(a) Active →
//!   conn Active, CON [hello_sent]
//!        ── HELLO ───────────────────────────────▶ HELLO received: conn Active, CON
//!                                                   [hello_received]
//! ```
//!
//! Every message received after a confirmation makes its queue `Active`
//! ([`message_received`]). `suspend_connection` turns the receive queue off on its server:
//! rq `Disabled`, conn `Suspended` ([`suspended`]); nothing resumes it yet.
//!
//! A contact address is a connection of kind `Contact` with a receive queue only: an
//! invitation to it is reported as `REQ` and changes nothing. The requester joins the
//! address with a new invitation connection of its own (it is that connection's initiator)
//! whose send queue is, until the invitation is sent, the address's queue; the address's
//! owner accepts by joining that invitation (the joiner above).
//!
//! The ratchet's re-synchronisation (module `sync`; `RatchetSyncState` in the reference's
//! `Agent/Protocol.hs`, rfcs/done/2023-06-08-resync-ratchets.md) is a second state of a
//! connection, reported in `RSYNC`; sending messages is refused in `required`, `started` and
//! `agreed`:
//!
//! ```text
//!  ok / allowed / required ── decryption error ─▶ allowed | required   [sync_error]
//!  allowed / required (or any, forced) ── synchronize_ratchet ─▶ started, keys sent
//!                                                                 [sync_started]
//!  ok / allowed / required ── peer's keys ─▶ agreed, own keys sent     [sync_agreed]
//!  started ── peer's keys ─▶ agreed                                    [sync_agreed]
//!  agreed ── peer's new keys ─▶ required (RATCHET_SYNC)                [sync_conflict]
//!  allowed / required / agreed ── a message decrypts ─▶ ok             [sync_healed]
//! ```
//!
//! In `agreed` the side whose keys hash higher made a sending ratchet and sent `EREADY`; the
//! other answers the first `EREADY` it decrypts with its own.
//!
//! Queue rotation (module `switch`; rfcs/done/2022-08-14-queue-rotation.md, `Agent.hs`
//! `switchConnection`, `qAddMsg`, `qKeyMsg`, `qUseMsg`, the delivery of `QTEST`). A replaces
//! her receive queue R (B's send queue S) with R′ (S′). The switch status is kept with the
//! replaced queue (R, S), the new one names the queue it replaces; `SWITCH` events carry the
//! direction (`Rcv` at A, `Snd` at B) and phase.
//!
//! ```text
//!  A (receiver, QDRcv)                             B (sender, QDSnd)
//!  switch_connection: R switch_started
//!   [rcv_switch_started]; NEW R′ (another relay
//!   when there is one); QADD queued on S,
//!   R sending_qadd, SWITCH Started [qadd_sent]
//!        ── QADD (R′ address, replaces R) ────────▶ S′ made (new keys), QKEY queued on S,
//!                                                   S sending_qkey, SWITCH Started
//!                                                   [qadd_received]
//!                                                  QKEY sent: SWITCH Confirmed [qkey_sent]
//!        ◀── QKEY (R′ with B's e2e key, his key) ──
//!  R′ Confirmed, e2e secret, SWITCH Confirmed
//!   [qkey_received]; KEY on R′; QUSE queued,
//!   R′ Secured, R sending_quse, SWITCH Secured
//!   [rcv_new_secured]
//!        ── QUSE (R′ address) ─────────────────────▶ S′ Secured, QTEST queued on S′ only,
//!                                                   S sending_qtest, SWITCH Secured
//!                                                   [quse_received]; later messages go
//!                                                   to S′
//!                                                  QTEST sent: S deleted here, S′ the send
//!                                                   queue, SWITCH Completed [qtest_sent]
//!        ◀── QTEST on R′ (and all that follows) ──
//!  a message on R′: R received_message, R′
//!   primary [rcv_new_used]; DEL R, R deleted,
//!   SWITCH Completed [rcv_switch_completed]
//! ```
//!
//! `abort_switch` is allowed only in `switch_started` and `sending_qadd` (before B can use
//! R′): R′ is deleted and R's status cleared [rcv_switch_aborted].

use agent_proto::version::RATCHET_SYNC_AGENT_VERSION;

use crate::store::{ConnRecord, ConnStatus, QueueStatus, RcvQueueRecord, SndQueueRecord};
use crate::types::{
    AgentCryptoError, Event, QueueDirection, RatchetSyncState, RcvSwitchStatus, SndSwitchStatus,
    SwitchPhase,
};
use simplex_crypto::DhSecretX25519;

/// The sender secured the queue with `SKEY` before its first message.
pub(super) fn snd_secured(sq: &mut SndQueueRecord) {
    sq.status = QueueStatus::Secured;
}

/// The recipient secured its queue with `KEY` and the sender's key from a confirmation.
pub(super) fn rcv_secured(rq: &mut RcvQueueRecord) {
    rq.status = QueueStatus::Secured;
}

/// The initiator got the joiner's confirmation (`CONF`), kept until the application
/// allows it.
pub(super) fn confirmation_received(rq: &mut RcvQueueRecord) {
    rq.status = QueueStatus::Confirmed;
}

/// The joiner got the initiator's conn info (`INFO`) on a queue the initiator secured
/// itself (no sender key in the confirmation): the connection is made, without `HELLO`.
/// (With a sender key the joiner secures the queue and sends `HELLO` instead.)
pub(super) fn conn_info_received(conn: &mut ConnRecord, rq: &mut RcvQueueRecord) -> Event {
    rq.status = QueueStatus::Active;
    conn.status = ConnStatus::Active;
    Event::Con
}

/// The server accepted this side's confirmation. The initiator's, on a queue it secured
/// with `SKEY`, completes the connection; otherwise the queue waits for `HELLO`.
pub(super) fn confirmation_sent(conn: &mut ConnRecord, sq: &mut SndQueueRecord) -> Option<Event> {
    if conn.initiator && sq.sender_can_secure {
        sq.status = QueueStatus::Active;
        conn.status = ConnStatus::Active;
        Some(Event::Con)
    } else {
        sq.status = QueueStatus::Confirmed;
        None
    }
}

/// The server accepted this side's `HELLO`. The initiator's answers the joiner's, which
/// made its receive queue active: the connection is made.
pub(super) fn hello_sent(
    conn: &mut ConnRecord,
    sq: &mut SndQueueRecord,
    rq: Option<&RcvQueueRecord>,
) -> Option<Event> {
    sq.status = QueueStatus::Active;
    if conn.initiator && rq.map(|q| q.status) == Some(QueueStatus::Active) {
        conn.status = ConnStatus::Active;
        Some(Event::Con)
    } else {
        None
    }
}

/// What a received `HELLO` leads to.
pub(super) enum HelloReceived {
    /// The initiator answers with its own `HELLO`.
    Reply,
    /// The joiner got the initiator's answer: `CON`.
    Connected(Event),
    /// A `HELLO` on a connection made already.
    Nothing,
}

/// A `HELLO` from the peer (`helloMsg`): the joiner's goes first and is answered by the
/// initiator's, which completes the joiner's side.
pub(super) fn hello_received(conn: &mut ConnRecord) -> HelloReceived {
    if conn.initiator {
        HelloReceived::Reply
    } else if conn.status == ConnStatus::New {
        conn.status = ConnStatus::Active;
        HelloReceived::Connected(Event::Con)
    } else {
        HelloReceived::Nothing
    }
}

/// A message after the confirmation went through the queue.
pub(super) fn message_received(rq: &mut RcvQueueRecord) {
    rq.status = QueueStatus::Active;
}

/// The receive queue was turned off on its server (`OFF`).
pub(super) fn suspended(conn: &mut ConnRecord, rq: &mut RcvQueueRecord) {
    rq.status = QueueStatus::Disabled;
    conn.status = ConnStatus::Suspended;
}

/// Whether `synchronize_ratchet` may start without `force` (`ratchetSyncAllowed`): the
/// peer's agent supports it and a decryption error called for it.
pub(super) fn sync_allowed(conn: &ConnRecord) -> bool {
    conn.agent_version >= RATCHET_SYNC_AGENT_VERSION.0
        && matches!(
            conn.ratchet_sync,
            RatchetSyncState::Allowed | RatchetSyncState::Required
        )
}

/// A decryption error the reference classifies as the ratchets being out of step; while
/// re-synchronising (`started`, `agreed`) it changes nothing.
pub(super) fn sync_error(conn: &mut ConnRecord, e: AgentCryptoError) -> Option<Event> {
    match conn.ratchet_sync {
        RatchetSyncState::Ok | RatchetSyncState::Allowed | RatchetSyncState::Required => {
            conn.ratchet_sync = e.sync_state();
            Some(Event::Rsync {
                state: conn.ratchet_sync,
                error: Some(e),
            })
        }
        RatchetSyncState::Started | RatchetSyncState::Agreed => None,
    }
}

/// This side sent new ratchet keys.
pub(super) fn sync_started(conn: &mut ConnRecord) {
    conn.ratchet_sync = RatchetSyncState::Started;
}

/// Both sides' keys are known and the new ratchet made.
pub(super) fn sync_agreed(conn: &mut ConnRecord) -> Event {
    conn.ratchet_sync = RatchetSyncState::Agreed;
    Event::Rsync {
        state: RatchetSyncState::Agreed,
        error: None,
    }
}

/// New keys from the peer after both were agreed: it must start again.
pub(super) fn sync_conflict(conn: &mut ConnRecord) -> Event {
    conn.ratchet_sync = RatchetSyncState::Required;
    Event::Rsync {
        state: RatchetSyncState::Required,
        error: Some(AgentCryptoError::RatchetSync),
    }
}

/// A message decrypted: the ratchets are in step again (`resetRatchetSync`). In `started`
/// it may be one sent before the peer got this side's keys: the state stays.
pub(super) fn sync_healed(conn: &mut ConnRecord) -> Option<Event> {
    match conn.ratchet_sync {
        RatchetSyncState::Ok | RatchetSyncState::Started => None,
        RatchetSyncState::Allowed | RatchetSyncState::Required | RatchetSyncState::Agreed => {
            conn.ratchet_sync = RatchetSyncState::Ok;
            Some(Event::Rsync {
                state: RatchetSyncState::Ok,
                error: None,
            })
        }
    }
}

/// A step of a queue switch that the application hears of (`SWITCH`).
pub(super) type SwitchStep = (QueueDirection, SwitchPhase);

/// `switch_connection` on the current receive queue (before the new queue exists).
pub(super) fn rcv_switch_started(rq: &mut RcvQueueRecord) {
    rq.switch_status = Some(RcvSwitchStatus::SwitchStarted);
}

/// The new receive queue exists and `QADD` is queued.
pub(super) fn qadd_sent(rq: &mut RcvQueueRecord, new: &mut RcvQueueRecord) -> SwitchStep {
    new.primary = false;
    new.replaces = Some(rq.rcv_id.clone());
    rq.switch_status = Some(RcvSwitchStatus::SendingQadd);
    (QueueDirection::Rcv, SwitchPhase::Started)
}

/// The peer's `QKEY` for the new receive queue: its e2e secret is known.
pub(super) fn qkey_received(
    new: &mut RcvQueueRecord,
    secret: DhSecretX25519,
    client_version: u16,
) -> SwitchStep {
    new.e2e_dh_secret = Some(secret);
    new.client_version = client_version;
    new.status = QueueStatus::Confirmed;
    (QueueDirection::Rcv, SwitchPhase::Confirmed)
}

/// The new receive queue is secured (`KEY`) and `QUSE` is queued.
pub(super) fn rcv_new_secured(rq: &mut RcvQueueRecord, new: &mut RcvQueueRecord) -> SwitchStep {
    new.status = QueueStatus::Secured;
    rq.switch_status = Some(RcvSwitchStatus::SendingQuse);
    (QueueDirection::Rcv, SwitchPhase::Secured)
}

/// The first message on the new receive queue: the old one is to be deleted.
pub(super) fn rcv_new_used(rq: &mut RcvQueueRecord, new: &mut RcvQueueRecord) {
    rq.switch_status = Some(RcvSwitchStatus::ReceivedMessage);
    rq.primary = false;
    new.primary = true;
}

/// The old receive queue is deleted: the new one is the connection's.
pub(super) fn rcv_switch_completed(new: &mut RcvQueueRecord) -> SwitchStep {
    new.replaces = None;
    new.primary = true;
    (QueueDirection::Rcv, SwitchPhase::Completed)
}

/// `abort_switch`: the new receive queue is dropped.
pub(super) fn rcv_switch_aborted(rq: &mut RcvQueueRecord) {
    rq.switch_status = None;
}

/// The peer's `QADD`: the new send queue is known and `QKEY` queued on the current one.
pub(super) fn qadd_received(sq: &mut SndQueueRecord, new: &mut SndQueueRecord) -> SwitchStep {
    new.primary = false;
    new.replaces = Some(sq.snd_id.clone());
    sq.switch_status = Some(SndSwitchStatus::SendingQkey);
    (QueueDirection::Snd, SwitchPhase::Started)
}

/// `QKEY` went through.
pub(super) fn qkey_sent() -> SwitchStep {
    (QueueDirection::Snd, SwitchPhase::Confirmed)
}

/// The peer's `QUSE`: the new send queue is secured and `QTEST` queued on it.
pub(super) fn quse_received(sq: &mut SndQueueRecord, new: &mut SndQueueRecord) -> SwitchStep {
    new.status = QueueStatus::Secured;
    sq.switch_status = Some(SndSwitchStatus::SendingQtest);
    (QueueDirection::Snd, SwitchPhase::Secured)
}

/// `QTEST` went through the new send queue: it replaces the old one.
pub(super) fn qtest_sent(new: &mut SndQueueRecord) -> SwitchStep {
    new.status = QueueStatus::Active;
    new.replaces = None;
    new.primary = true;
    (QueueDirection::Snd, SwitchPhase::Completed)
}
