//! Sending: agent messages are ratchet-encrypted and stored as pending (`enqueue`), and
//! each connection's delivery task sends them in order (`SEND`, directly or through a
//! proxy: module `routing`), retrying temporary failures with back-off and waiting for the
//! peer's `A_QCONT` after `ERR QUOTA`; `SENT`, `MERR`, `MWARN` report the outcome.

use std::borrow::Cow;
use std::sync::{Arc, Weak};
use std::time::Duration;

use agent_proto::version::e2e_enc_agent_msg_length;
use agent_proto::{
    AMessage, APrivHeader, AgentMessage, AgentMsgEnvelope, ClientMessage, ClientMsgEnvelope,
    PrivHeader, PubHeader,
};
use rand::rngs::OsRng;
use simplex_crypto::{cb_encrypt, sha256, CbNonce};
use simplex_encoding::Encode;
use simplex_ratchet::{PqSupport, RatchetError, CURRENT_E2E_VERSION};
use smp_proto::MsgFlags;
use smp_proto::Version;
use tokio::sync::Notify;

use super::redundant::copy_queues;
use super::routing::{SendFail, SndCommand};
use super::state;
use super::switch::{delivery_target, send_target};
use super::{crypto_err, Agent, Inner};
use crate::error::{AgentError, StoreError};
use crate::store::*;
use crate::types::*;

/// How long a delivery task with nothing to send waits for a wake-up before it looks again.
const IDLE_WAIT: Duration = Duration::from_secs(300);

/// `e2eEncConfirmationLength`: the padded per-queue plaintext of confirmations and invitations.
pub(super) const E2E_ENC_CONFIRMATION_LENGTH: usize = 15904;
/// `e2eEncMessageLength`: the padded per-queue plaintext of messages.
pub(super) const E2E_ENC_MESSAGE_LENGTH: usize = 16000;

/// The per-queue e2e layer: a boxed [`ClientMessage`] in a [`ClientMsgEnvelope`].
pub(super) fn seal(
    secret: &simplex_crypto::DhSecretX25519,
    version: u16,
    e2e_pub: Option<simplex_crypto::PublicKeyX25519>,
    header: PrivHeader,
    envelope: &AgentMsgEnvelope,
) -> Result<Vec<u8>, AgentError> {
    let msg = ClientMessage {
        header,
        body: envelope.to_bytes(),
    };
    let padded = if e2e_pub.is_some() {
        E2E_ENC_CONFIRMATION_LENGTH
    } else {
        E2E_ENC_MESSAGE_LENGTH
    };
    let nonce = CbNonce::random(&mut OsRng);
    let enc_body = cb_encrypt(secret, &nonce, &msg.to_bytes(), padded).map_err(crypto_err)?;
    Ok(ClientMsgEnvelope {
        header: PubHeader {
            version: Version(version),
            e2e_pub_dh_key: e2e_pub,
        },
        nonce,
        enc_body,
    }
    .to_bytes())
}

impl Agent {
    /// Sends a message; returns its ID, reported again in `SENT` (or `MERR`) and `RCVD`.
    pub async fn send_message(&self, conn_id: &[u8], body: &[u8]) -> Result<i64, AgentError> {
        let inner = &self.inner;
        let _g = inner.lock.lock().await;
        inner
            .enqueue(conn_id, AMessage::AMsg(body.to_vec()), SndMsgKind::Message)
            .await
    }

    /// Sends many messages at once (the reference's `sendMessages`; a group message to each
    /// member): one result per message, in order, each as [`Agent::send_message`]'s.
    ///
    /// All are encrypted and stored in one store call and one transaction, under one hold
    /// of the agent's lock, then each connection's delivery task is woken. A message that
    /// cannot be sent (an unknown connection, one that cannot send yet) fails only its own
    /// entry; the others are stored and their IDs returned only once the transaction has
    /// committed (if that commit fails, every entry fails and none is stored). A connection
    /// may appear more than once: its messages are sent in the order given.
    pub async fn send_messages(
        &self,
        msgs: Vec<(ConnId, Vec<u8>)>,
    ) -> Vec<Result<i64, AgentError>> {
        let inner = &self.inner;
        let n = msgs.len();
        if n == 0 {
            return Vec::new();
        }
        let _g = inner.lock.lock().await;
        let stored = inner
            .store
            .call_grouped(move |s| {
                let out: Vec<_> = msgs
                    .into_iter()
                    .map(|(conn_id, body)| {
                        let kind = SndMsgKind::Message;
                        encrypt_and_store(s, &conn_id, AMessage::AMsg(body), kind)
                            .map(|(id, copies, _)| (conn_id, id, copies))
                    })
                    .collect();
                Ok::<_, AgentError>(out)
            })
            .await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                let e = e.to_string();
                return (0..n)
                    .map(|_| Err(AgentError::Store(StoreError::Batch(e.clone()))))
                    .collect();
            }
        };
        stored
            .into_iter()
            .map(|r| {
                r.map(|(conn_id, id, copies)| {
                    inner.start_worker(&conn_id);
                    inner.start_copy_workers(&copies);
                    id
                })
            })
            .collect()
    }
}

impl Inner {
    /// Stores an agent message for delivery (the caller holds the lock): read, encrypted
    /// and written in one store hop. When it is the connection's next pending message, it
    /// is handed to the delivery task, which then sends it without reading it back.
    pub(super) async fn enqueue(
        self: &Arc<Self>,
        conn_id: &[u8],
        msg: AMessage,
        kind: SndMsgKind,
    ) -> Result<i64, AgentError> {
        let id = conn_id.to_vec();
        let seqs = self.store_seq.clone();
        let (internal_id, copy_queues, handoff) = self
            .db_with(move |s| {
                let (internal_id, copies, sqs) = encrypt_and_store(s, &id, msg, kind)?;
                let handoff = match s.next_pending_snd_msg(&id)? {
                    Some(m) if m.internal_id == internal_id => Some(Handoff {
                        seq: next_seq(&seqs),
                        next: (Some(m), sqs),
                    }),
                    _ => None,
                };
                Ok((internal_id, copies, handoff))
            })
            .await?;
        if let Some(h) = handoff {
            if let Ok(mut st) = self.state.lock() {
                st.handoffs.insert(conn_id.to_vec(), h);
            }
        }
        self.start_worker(conn_id);
        self.start_copy_workers(&copy_queues);
        Ok(internal_id)
    }

    /// Starts (or wakes) the delivery task of a connection.
    pub(super) fn start_worker(self: &Arc<Self>, conn_id: &[u8]) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.stopped {
            return;
        }
        if let Some(n) = st.workers.get(conn_id) {
            n.notify_one();
            return;
        }
        let n = Arc::new(Notify::new());
        st.workers.insert(conn_id.to_vec(), n.clone());
        tokio::spawn(delivery_loop(Arc::downgrade(self), conn_id.to_vec(), n));
    }

    /// Wakes the delivery tasks of a connection (its current queue's and its redundant
    /// queues').
    pub(super) fn wake_worker(&self, conn_id: &[u8]) {
        if let Ok(st) = self.state.lock() {
            if let Some(n) = st.workers.get(conn_id) {
                n.notify_one();
            }
            for ((c, _), n) in &st.copy_workers {
                if c == conn_id {
                    n.notify_one();
                }
            }
        }
    }

    /// Sends a pending message once, through a proxy when the configuration says so.
    pub(super) async fn send_pending(
        self: &Arc<Self>,
        sq: &SndQueueRecord,
        m: &SndMsgRecord,
    ) -> Result<(), SendFail> {
        let key = match m.kind {
            SndMsgKind::Confirmation if !sq.sender_can_secure => None,
            SndMsgKind::Invitation => None,
            _ => Some(&sq.snd_key),
        };
        let flags = MsgFlags {
            notification: !matches!(m.kind, SndMsgKind::Receipt),
        };
        let body = smp_body(sq, &m.body).map_err(SendFail::Agent)?;
        let cmd = SndCommand::Send {
            key,
            snd_id: &sq.snd_id,
            flags,
            body: &body,
        };
        self.send_or_proxy(&sq.server, &sq.conn_id, cmd).await?;
        Ok(())
    }

    /// After the server accepted a message: what it changes is read and written in one
    /// store transaction, and in the same store hop the connection's next pending message
    /// and its send queues are read for the delivery task (unless what follows a `QKEY` or
    /// `QTEST` changes the queues; then `None`).
    ///
    /// A message or receipt changes only its own row, in that one hop: it does not wait
    /// for the agent's lock (which orders the steps of work that reads in one hop and
    /// writes in a later one), so the marks of many connections' deliveries that complete
    /// together commit as one batch instead of one by one between the application's sends.
    /// What else writes a sent message's row under the lock writes only its own columns
    /// (`SetSndMsgReceipt`) or means to send it again (a switch moving it to a new queue).
    ///
    /// With `after`, the message read is the next pending one after that message (the one
    /// the delivery task has in flight meanwhile, see `delivery_loop`).
    pub(super) async fn on_sent(
        self: &Arc<Self>,
        m: SndMsgRecord,
        sent_to: &SndQueueRecord,
        after: Option<i64>,
    ) -> Result<Option<Fetched>, AgentError> {
        let guard = match m.kind {
            SndMsgKind::Message | SndMsgKind::Receipt => None,
            _ => Some(self.lock.lock().await),
        };
        let conn_id = m.conn_id.clone();
        let kind = m.kind;
        let to = (sent_to.server.clone(), sent_to.snd_id.clone());
        let prefetch = !matches!(kind, SndMsgKind::QKey | SndMsgKind::QTest);
        let seqs = self.store_seq.clone();
        let work = move |s: &mut dyn Store| {
            let id = m.conn_id.clone();
            let events = store_sent(s, m, &to)?;
            let next = match prefetch {
                true => Some((next_seq(&seqs), read_next(s, &id, after)?)),
                false => None,
            };
            Ok((events, next))
        };
        // A message or receipt lost from the sent mark by a crash is sent again after the
        // restart and recognised by its hash there (`on_seen_before`): its mark commits
        // with the next call (module `store_thread`).
        let (events, next) = match guard {
            None => self.db_lazy(work).await?,
            Some(_) => self.db(work).await?,
        };
        for e in events {
            self.emit(conn_id.clone(), e);
        }
        match kind {
            SndMsgKind::QKey => {
                self.switch_event(&conn_id, state::qkey_sent()).await?;
            }
            SndMsgKind::QTest => self.on_qtest_sent(&conn_id, sent_to).await?,
            _ => {}
        }
        Ok(next)
    }

    /// After a permanent failure to send.
    pub(super) async fn on_send_failed(
        self: &Arc<Self>,
        m: SndMsgRecord,
        e: SendFail,
    ) -> Result<(), AgentError> {
        let _g = self.lock.lock().await;
        let conn_id = m.conn_id.clone();
        let mut failed = m.clone();
        failed.pending = false;
        failed.body = SndBody::none();
        self.db(move |s| s.apply(vec![Write::PutSndMsg(failed)]))
            .await?;
        match m.kind {
            SndMsgKind::Message => self.emit(conn_id, Event::Merr(m.internal_id, e.to_string())),
            // A cover message is nobody's concern.
            SndMsgKind::Noise => {}
            _ => self.emit(conn_id, Event::Err(format!("sending: {e}"))),
        }
        Ok(())
    }
}

/// The agent envelope of a prepared message: its ratchet ciphertext, made from the stored
/// key (the same bytes on every call).
pub(super) fn envelope(p: &PreparedBody) -> Result<AgentMsgEnvelope, AgentError> {
    let enc = p.key.encrypt(p.padded_len, &p.plain).map_err(|e| match e {
        RatchetError::MessageTooLarge => AgentError::Large,
        e => crypto_err(e),
    })?;
    Ok(AgentMsgEnvelope::Message {
        agent_version: Version(p.agent_version),
        enc_agent_message: enc,
    })
}

/// The SMP body of a pending message for `sq` as a message stored before
/// [`SndBody::Prepared`] existed held it (for the upgrade test, which makes such rows).
#[doc(hidden)]
pub fn sealed_body(sq: &SndQueueRecord, body: &SndBody) -> Result<Vec<u8>, AgentError> {
    smp_body(sq, body).map(Cow::into_owned)
}

/// The SMP body of a pending message for the queue it goes to.
fn smp_body<'a>(sq: &SndQueueRecord, body: &'a SndBody) -> Result<Cow<'a, [u8]>, AgentError> {
    match body {
        SndBody::Sealed(b) => Ok(Cow::Borrowed(b)),
        SndBody::Prepared(p) => seal(
            &sq.e2e_dh_secret,
            sq.client_version,
            None,
            PrivHeader::Empty,
            &envelope(p)?,
        )
        .map(Cow::Owned),
    }
}

/// Prepares an agent message with the connection's ratchet (the ratchet's step taken, the
/// message's key and encrypted header kept: [`SndBody::Prepared`]) and stores it as pending
/// with the ratchet's new state (and sealed copies for redundant queues), in the store's
/// thread.
/// Returns its internal ID, the redundant queues to wake and the connection's send queues.
fn encrypt_and_store(
    s: &mut dyn Store,
    conn_id: &[u8],
    msg: AMessage,
    kind: SndMsgKind,
) -> Result<(i64, Vec<ConnQueue>, Vec<SndQueueRecord>), AgentError> {
    let (conn, sqs, extra, ratchet) = (
        s.conn(conn_id)?,
        s.snd_queues(conn_id)?,
        s.extra_snd_queues(conn_id)?,
        s.ratchet(conn_id)?,
    );
    let mut conn = conn.ok_or(AgentError::NoConnection)?;
    let (Some((_, queue)), Some(ratchet)) = (send_target(sqs.clone()), ratchet) else {
        return Err(AgentError::Prohibited("connection cannot send yet"));
    };
    if !ratchet.can_send() {
        return Err(AgentError::Prohibited("connection cannot send yet"));
    }
    // Only what re-synchronises the ratchet goes while it is out of step.
    if conn.ratchet_sync.send_prohibited() && kind != SndMsgKind::EReady {
        return Err(AgentError::Prohibited("ratchet is not synchronized"));
    }
    conn.last_internal_id += 1;
    conn.last_snd_id += 1;
    let header = APrivHeader {
        snd_msg_id: conn.last_snd_id,
        prev_msg_hash: conn.last_snd_hash.clone(),
    };
    let plain = AgentMessage::Message {
        header,
        message: msg,
    }
    .to_bytes();
    let hash = sha256(&plain).to_vec();
    let pq = PqSupport(conn.pq_support);
    let padded = e2e_enc_agent_msg_length(Version(conn.agent_version), pq);
    if !simplex_ratchet::can_pad(plain.len(), padded) {
        return Err(AgentError::Large);
    }
    // The ratchet advances now, in this transaction; the message is encrypted with the
    // key it gave at each delivery attempt (the same ciphertext every time).
    let (key, ratchet) = ratchet
        .encrypt_header(None, CURRENT_E2E_VERSION)
        .map_err(crypto_err)?;
    let prepared = PreparedBody {
        plain,
        key,
        padded_len: padded,
        agent_version: conn.agent_version,
    };
    conn.last_snd_hash = hash.clone();
    let internal_id = conn.last_internal_id;
    // Copies for redundant queues are sealed now (only when the connection has them).
    let copies = match extra.is_empty() {
        true => Vec::new(),
        false => Inner::copies(conn_id, internal_id, kind, &envelope(&prepared)?, &extra)?,
    };
    let rec = SndMsgRecord {
        conn_id: conn_id.to_vec(),
        internal_id,
        snd_id: conn.last_snd_id,
        kind,
        hash,
        body: SndBody::Prepared(prepared),
        pending: true,
        receipt: None,
        queue,
    };
    let id = conn_id.to_vec();
    let mut writes = vec![
        Write::PutConn(conn),
        Write::PutRatchet(id, ratchet),
        Write::PutSndMsg(rec),
    ];
    writes.extend(copies);
    let copy_queues = copy_queues(&writes);
    s.apply(writes)?;
    Ok((internal_id, copy_queues, sqs))
}

/// Stores what a message accepted by the server changes (in the caller's transaction,
/// holding the store): the message no longer pending (its body dropped, the row updated in
/// place) or deleted, and the handshake's step for a confirmation or `HELLO`. Returns the
/// events to report.
fn store_sent(
    s: &mut dyn Store,
    m: SndMsgRecord,
    (to_server, to_snd_id): &(smp_proto::SmpServer, Vec<u8>),
) -> Result<Vec<Event>, crate::error::StoreError> {
    let id = m.conn_id.clone();
    let (Some(mut conn), Some(mut sq)) = (s.conn(&id)?, s.snd_queue(&id)?) else {
        return Ok(Vec::new());
    };
    let mut writes = Vec::new();
    let mut events = Vec::new();
    match m.kind {
        SndMsgKind::Message => {
            // In place: a receipt recorded between the send and now stays.
            events.push(Event::Sent(m.internal_id));
            writes.push(Write::MarkSndMsgSent(id.clone(), m.internal_id));
        }
        _ => writes.push(Write::DeleteSndMsg(id.clone(), m.internal_id)),
    }
    match m.kind {
        SndMsgKind::Confirmation => {
            events.extend(state::confirmation_sent(&mut conn, &mut sq));
            writes.push(Write::PutSndQueue(sq));
            writes.push(Write::PutConn(conn));
        }
        SndMsgKind::Hello => {
            let rq = s.rcv_queue(&id)?;
            events.extend(state::hello_sent(&mut conn, &mut sq, rq.as_ref()));
            writes.push(Write::PutSndQueue(sq));
            writes.push(Write::PutConn(conn));
        }
        // The address's queue served only for the invitation (unless the peer's queue has
        // replaced it meanwhile).
        SndMsgKind::Invitation if &sq.server == to_server && &sq.snd_id == to_snd_id => {
            writes.push(Write::DeleteSndQueue(id));
        }
        _ => {}
    }
    s.apply(writes)?;
    Ok(events)
}

/// A connection's next pending message and its send queues, as read after the last one.
pub(super) type NextPending = (Option<SndMsgRecord>, Vec<SndQueueRecord>);

/// What a store call read for the delivery task, with the call's sequence number.
pub(super) type Fetched = (u64, NextPending);

/// A message `enqueue` stored as its connection's next pending one (none was pending before
/// it), with the send queues read in the same call and that call's sequence number.
///
/// Every store call that reads or writes what the delivery task sends next takes the next
/// number from `Inner::store_seq` inside the store's thread, so the numbers follow the
/// order in which the calls ran. The delivery task remembers the number of what it last
/// read (`seen`) and takes a handoff only when it is newer: the handoff then tells what
/// the store held after everything the task knows of. A handoff older than the task's last
/// read (the task read the message itself meanwhile, say it woke for another reason, or
/// sent it and marked it sent) is dropped, so a message is never sent twice for it; a
/// message is never sent without being stored (the handoff is made after the commit). After
/// a restart nothing is handed off: the task reads the store.
pub(super) struct Handoff {
    seq: u64,
    next: NextPending,
}

/// A connection's next pending message (after the one with internal ID `after`, if
/// given) and its send queues.
fn read_next(s: &dyn Store, id: &[u8], after: Option<i64>) -> Result<NextPending, StoreError> {
    let next = match after {
        Some(after) => s.next_pending_snd_msg_after(id, after)?,
        None => s.next_pending_snd_msg(id)?,
    };
    Ok((next, s.snd_queues(id)?))
}

/// The next sequence number of a store call (in the store's thread).
fn next_seq(seqs: &std::sync::atomic::AtomicU64) -> u64 {
    seqs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

/// A message sent whose `SENT` mark waits to go with the next message's `SEND`.
type Unmarked = Option<Box<(SndMsgRecord, SndQueueRecord)>>;

/// What a connection's delivery task keeps from one message to the next.
#[derive(Default)]
struct Run {
    /// The wait before the next retry, after a temporary failure.
    delay: Option<Duration>,
    /// What `on_sent` read for the next round (saving a store hop per message).
    prefetched: Option<Fetched>,
    /// The sequence number of the last store call read from (see `Handoff`).
    seen: u64,
    /// A message sent whose mark goes with the next `SEND`.
    unmarked: Unmarked,
}

/// Sends a connection's pending messages in order, retrying temporary failures.
///
/// A message or receipt goes while the one sent before it is marked sent and what follows
/// it is read, in one store call ([`read_ahead`]): a burst's chain waits for one store hop
/// less per message. What that call reads cannot be stale: while a message is in flight it
/// is pending, so `enqueue` hands nothing off, and what it reads is after that message. A
/// message a queue switch makes pending again behind one in flight goes once the run ends
/// (the same as when the switch comes just after a read).
pub(super) async fn delivery_loop(inner: Weak<Inner>, conn_id: ConnId, notify: Arc<Notify>) {
    let mut run = Run::default();
    loop {
        // Each round boxed, and within it what sends and marks boxed again while it runs:
        // the task of an idle connection, waiting below, holds a few hundred bytes, not room
        // for the largest round (5,256 bytes when all of it was inline), and an agent that
        // starts, reading for all its connections at once, holds only the reads' room.
        let next = Box::pin(delivery_round(&inner, &conn_id, &notify, &mut run)).await;
        match next {
            Round::Stop => return,
            Round::Again => {}
            Round::Wait(d) => {
                let _ = tokio::time::timeout(d, notify.notified()).await;
            }
            Round::Sleep(d) => tokio::time::sleep(d).await,
        }
    }
}

/// What the delivery task does after a round of [`delivery_round`].
enum Round {
    /// The agent stopped, or this connection's task is no longer wanted.
    Stop,
    /// The next round at once.
    Again,
    /// The next round once woken (a write of a pending message), or after this long.
    Wait(Duration),
    /// The next round after this long.
    Sleep(Duration),
}

/// One round of [`delivery_loop`]: the next pending message sent, or what to wait for.
async fn delivery_round(
    inner: &Weak<Inner>,
    conn_id: &ConnId,
    notify: &Notify,
    run: &mut Run,
) -> Round {
    let Some(agent) = inner.upgrade() else {
        return Round::Stop;
    };
    let handoff = match agent.state.lock() {
        Ok(mut st) if st.workers.contains_key(conn_id) && !st.stopped => {
            Some(st.handoffs.remove(conn_id))
        }
        _ => None,
    };
    let Some(handoff) = handoff else {
        mark(&agent, conn_id, &mut run.unmarked).await;
        return Round::Stop;
    };
    let mut fetched = run.prefetched.take();
    // In a run: what comes next was read after a send (a ping-pong's messages, each
    // the first after a pause, go without the read ahead).
    let mut in_run = fetched.is_some();
    if let Some(h) = handoff {
        if h.seq > fetched.as_ref().map_or(run.seen, |f| f.0) {
            fetched = Some((h.seq, h.next));
            in_run = false;
        }
    }
    let next = match fetched {
        Some(f) => Ok(f),
        None => {
            let (id, seqs) = (conn_id.clone(), agent.store_seq.clone());
            agent
                .db(move |s| Ok((next_seq(&seqs), read_next(s, &id, None)?)))
                .await
        }
    };
    let next = next.map(|(seq, next)| {
        run.seen = run.seen.max(seq);
        next
    });
    let (m, sq) = match next {
        Ok((Some(m), sqs)) if !sqs.is_empty() => match delivery_target(&sqs, &m) {
            Some(sq) => (m, sq),
            None => {
                mark(&agent, conn_id, &mut run.unmarked).await;
                // For a send queue a switch dropped: it cannot be delivered.
                let (id, n) = (m.conn_id.clone(), m.internal_id);
                let _ = agent
                    .db(move |s| s.apply(vec![Write::DeleteSndMsg(id, n)]))
                    .await;
                if m.kind == SndMsgKind::Message {
                    agent.emit(conn_id.clone(), Event::Merr(n, "queue removed".into()));
                }
                return Round::Again;
            }
        },
        // Nothing pending: every write of a pending message wakes this task
        // (`start_worker`), and a wake-up before the wait is kept as a permit, so it
        // sleeps until then; the long timeout only ends the task of an agent dropped
        // without `stop`. (Polling every 5 s cost an agent with 10,000 connections
        // 2,000 store reads a second.)
        Ok((None, _)) => {
            mark(&agent, conn_id, &mut run.unmarked).await;
            return Round::Wait(IDLE_WAIT);
        }
        // A message but no queue to send it on yet: looked at again after a while.
        Ok(_) => {
            mark(&agent, conn_id, &mut run.unmarked).await;
            return Round::Wait(Duration::from_secs(5));
        }
        Err(_) => {
            mark(&agent, conn_id, &mut run.unmarked).await;
            return Round::Sleep(Duration::from_secs(1));
        }
    };
    Box::pin(send_round(agent, conn_id, notify, run, (m, sq), in_run)).await;
    Round::Again
}

/// The part of a round that sends a message, its mark and what follows (boxed by its
/// caller: see [`delivery_loop`]).
async fn send_round(
    agent: Arc<Inner>,
    conn_id: &ConnId,
    notify: &Notify,
    run: &mut Run,
    (m, sq): (SndMsgRecord, SndQueueRecord),
    in_run: bool,
) {
    if let (None, SndMsgKind::Message, Some(max)) = (run.delay, m.kind, agent.config.send_delay_max)
    {
        tokio::time::sleep(super::noise::uniform(max)).await;
    }
    let pipelined = (in_run || run.unmarked.is_some())
        && matches!(m.kind, SndMsgKind::Message | SndMsgKind::Receipt);
    let unmarked = run.unmarked.take();
    let (sent, ahead) = send_next(&agent, conn_id, &m, &sq, pipelined, unmarked).await;
    after_send(agent, conn_id, notify, run, (m, sq), sent, ahead).await;
}

/// A message's `SEND`, `pipelined`: with [`read_ahead`] (the mark of the one sent before
/// it, `unmarked`, and the read of what follows it) at the same time; else after that mark.
async fn send_next(
    agent: &Arc<Inner>,
    conn_id: &ConnId,
    m: &SndMsgRecord,
    sq: &SndQueueRecord,
    pipelined: bool,
    mut unmarked: Unmarked,
) -> (
    Result<(), SendFail>,
    Option<Result<Option<Fetched>, AgentError>>,
) {
    match pipelined {
        true => {
            let ahead = read_ahead(agent, conn_id, unmarked, m.internal_id);
            let (ahead, sent) = tokio::join!(ahead, agent.send_pending(sq, m));
            (sent, Some(ahead))
        }
        false => {
            mark(agent, conn_id, &mut unmarked).await;
            (agent.send_pending(sq, m).await, None)
        }
    }
}

/// After a message's `SEND` (`ahead`: what [`read_ahead`] read meanwhile, if it ran): its
/// mark, or what follows a failure (wait, retry later, or give up on the message).
async fn after_send(
    agent: Arc<Inner>,
    conn_id: &ConnId,
    notify: &Notify,
    run: &mut Run,
    (m, sq): (SndMsgRecord, SndQueueRecord),
    sent: Result<(), SendFail>,
    ahead: Option<Result<Option<Fetched>, AgentError>>,
) {
    match sent {
        Ok(()) => {
            run.delay = None;
            match ahead {
                // The next one is known: this one's mark goes with its `SEND`.
                Some(Ok(Some(f))) if f.1 .0.is_some() => {
                    run.prefetched = Some(f);
                    run.unmarked = Some(Box::new((m, sq)));
                }
                other => {
                    if let Some(Err(e)) = other {
                        agent.emit(conn_id.clone(), Event::Err(e.to_string()));
                    }
                    match agent.on_sent(m, &sq, None).await {
                        Ok(next) => run.prefetched = next,
                        Err(e) => agent.emit(conn_id.clone(), Event::Err(e.to_string())),
                    }
                }
            }
        }
        Err(e) if e.is_quota() => {
            // Wait for A_QCONT from the recipient (or try again after a while).
            drop(agent);
            let _ = tokio::time::timeout(Duration::from_secs(60), notify.notified()).await;
        }
        // The reference retries host errors too (the proxy or relay cannot serve the
        // command: it may once the configuration or the servers change).
        Err(e) if e.is_temporary() || e.is_host() => {
            if e.is_host() {
                agent.emit(conn_id.clone(), Event::Mwarn(m.internal_id, e.to_string()));
            }
            let d = match run.delay {
                None => agent.config.retry_initial,
                Some(d) => (d * 2).min(agent.config.retry_max),
            };
            run.delay = Some(d);
            drop(agent);
            let _ = tokio::time::timeout(d, notify.notified()).await;
        }
        Err(e) => {
            if let Err(e) = agent.on_send_failed(m, e).await {
                agent.emit(conn_id.clone(), Event::Err(e.to_string()));
            }
        }
    }
}

/// The store call that goes with a message's `SEND` (internal ID `in_flight`): the mark of
/// the message sent before it, if any, and the read of what follows it.
async fn read_ahead(
    agent: &Arc<Inner>,
    conn_id: &ConnId,
    before: Unmarked,
    in_flight: i64,
) -> Result<Option<Fetched>, AgentError> {
    match before {
        Some(b) => {
            let (m, sq) = *b;
            agent.on_sent(m, &sq, Some(in_flight)).await
        }
        None => {
            let (id, seqs) = (conn_id.clone(), agent.store_seq.clone());
            agent
                .db(move |s| Ok(Some((next_seq(&seqs), read_next(s, &id, Some(in_flight))?))))
                .await
        }
    }
}

/// Marks the message left unmarked, if any, by itself (what its call reads is dropped).
/// Once the agent stopped, a mark that fails is only lost: the message goes again after a
/// restart and is recognised by its hash.
async fn mark(agent: &Arc<Inner>, conn_id: &ConnId, unmarked: &mut Unmarked) {
    if let Some(b) = unmarked.take() {
        let (m, sq) = *b;
        // Boxed: only a task that has a mark to make holds room for it.
        if let Err(e) = Box::pin(agent.on_sent(m, &sq, None)).await {
            if !agent.stopped() {
                agent.emit(conn_id.clone(), Event::Err(e.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection has a delivery task, idle or not: what its future holds while it
    /// waits is paid per connection (a round's state, boxed, is not).
    #[test]
    fn an_idle_delivery_task_is_small() {
        let task = delivery_loop(Weak::new(), Vec::new(), Arc::new(Notify::new()));
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1024, "the delivery task's future is {size} bytes");
    }
}
