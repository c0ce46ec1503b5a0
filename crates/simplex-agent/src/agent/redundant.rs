//! Redundant queues (`AgentConfig::redundancy`, beyond the reference): a connection with
//! several queues in each direction, on different relays, every message sent on each, so a
//! relay that dies or loses a message loses nothing.
//!
//! ```text
//!  A (initiator, redundancy N)                     B (joiner)
//!  create_connection: rq(a1) and N-1 further
//!   receive queues a2.. on other relays (extra)
//!        ── invitation: queues a1, a2, … ─────────▶ (a reference joiner reads a1 only)
//!                                                  join: sq(a1) as always; for each further
//!                                                   queue a send queue secured now by SKEY
//!                                                   (extra; left out if it cannot be) and a
//!                                                   key message queued for it; own further
//!                                                   receive queues b2.. when B's redundancy
//!                                                   is N ≥ 2
//!        ◀── confirmation on a1 (reply queues b1, b2, …)
//!  allow: sq(b1) as always; extra send queues
//!   to b2.. secured by SKEY, key messages queued
//! ```
//!
//! The further queues need no change to the reference's handshake: they ride in the queue
//! lists it already has (an invitation's and a reply's queues), where the reference reads
//! the first, so a reference peer connects and talks over the first queues only. A peer
//! that lists further queues listens on them: that list is the marker that it takes part.
//!
//! The first message on a further queue is a key message: the sender's per-queue e2e key in
//! the clear header (as a confirmation's), an empty body; the receiver derives the queue's
//! secret from it. Then each message is ratchet-encrypted once and boxed for each send
//! queue: the current queue's copy goes through the connection's delivery task as before,
//! each further queue's copies through its own task (`snd_message_copies`), so a relay that
//! is down delays only its own copies. The receiver takes the first copy to arrive; a later
//! copy on another queue fails to decrypt (its ratchet key is used) and is recognised by the
//! hash of its encrypted message and acknowledged without an event (module `receive`).
//! Every queue being FIFO and given the messages in the same order, first copies arrive in
//! order.

use std::sync::{Arc, Weak};
use std::time::Duration;

use agent_proto::{AgentMsgEnvelope, ClientMsgEnvelope, PrivHeader, SmpQueueInfo};
use rand::seq::SliceRandom;
use simplex_crypto::{cb_decrypt, dh_x25519, PublicKeyX25519};
use smp_proto::{MsgFlags, QueueMode, SmpQueueUri, SmpServer, Version};
use tokio::sync::Notify;

use super::receive::AckMode;
use super::routing::SndCommand;
use super::send::seal;
use super::{crypto_err, state, Inner};
use crate::error::AgentError;
use crate::store::*;
use crate::types::Event;

/// The message kinds sent on every queue; the handshake's and a switch's go on their own
/// queue only, but for `QADD`, which may replace a further queue (module `replace`) and must
/// arrive when one relay is down.
pub(super) fn is_copied(kind: SndMsgKind) -> bool {
    matches!(
        kind,
        SndMsgKind::Message
            | SndMsgKind::Receipt
            | SndMsgKind::QCont
            | SndMsgKind::EReady
            | SndMsgKind::QAdd
    )
}

/// A further queue of the peer, as an invitation or a reply lists it.
pub(super) struct PeerQueue {
    pub(super) server: SmpServer,
    pub(super) sender_id: Vec<u8>,
    pub(super) dh_public_key: PublicKeyX25519,
    pub(super) client_version: u16,
    pub(super) queue_mode: Option<QueueMode>,
}

impl PeerQueue {
    pub(super) fn from_uri(uri: &SmpQueueUri) -> Option<PeerQueue> {
        let v = uri
            .client_versions
            .compatible_version(&agent_proto::version::SUPPORTED_SMP_CLIENT_VERSIONS)?;
        Some(PeerQueue::from_info(&SmpQueueInfo::from_uri(uri, v)))
    }

    pub(super) fn from_info(q: &SmpQueueInfo) -> PeerQueue {
        PeerQueue {
            server: q.server.clone(),
            sender_id: q.sender_id.clone(),
            dh_public_key: q.dh_public_key,
            client_version: q.client_version.0,
            queue_mode: q.queue_mode,
        }
    }
}

impl Inner {
    /// Whether new connections get further queues.
    pub(super) fn redundant(&self) -> bool {
        self.config.redundancy > 1 && self.config.sender_can_secure
    }

    /// Up to `redundancy - 1` further receive queues for a new connection, each on a relay
    /// other than `taken` and each other's; a relay that cannot make one is skipped.
    pub(super) async fn extra_rcv_queues(
        self: &Arc<Self>,
        conn_id: &[u8],
        taken: &SmpServer,
    ) -> Vec<(RcvQueueRecord, SmpQueueUri)> {
        let mut out = Vec::new();
        if !self.redundant() {
            return out;
        }
        let mut servers: Vec<SmpServer> = Vec::new();
        for s in &self.config.servers {
            if s != taken && !servers.contains(s) {
                servers.push(s.clone());
            }
        }
        servers.shuffle(&mut rand::thread_rng());
        for server in servers {
            if out.len() + 1 >= self.config.redundancy {
                break;
            }
            match self.create_rcv_queue(conn_id, &server, true).await {
                Ok((mut rq, uri)) if rq.sender_can_secure => {
                    rq.extra = true;
                    out.push((rq, uri));
                }
                Ok((rq, _)) => self.unsubscribed(&rq),
                Err(e) => tracing::debug!("no further queue on a relay: {e}"),
            }
        }
        out
    }

    /// Send queues to the peer's further queues (all but the first it listed), each secured
    /// now with `SKEY` and given its key message; a queue that cannot be secured (its relay
    /// down, or a queue its sender cannot secure) is left out. Returns the writes to store.
    pub(super) async fn extra_snd_queues(
        self: &Arc<Self>,
        conn_id: &[u8],
        peer: Vec<PeerQueue>,
        agent_version: u16,
    ) -> Vec<Write> {
        let mut writes = Vec::new();
        for q in peer {
            let sq = self
                .new_snd_queue(
                    conn_id,
                    &q.server,
                    &q.sender_id,
                    &q.dh_public_key,
                    q.client_version,
                    q.queue_mode,
                    agent_version,
                    None,
                )
                .await;
            let mut sq = match sq {
                Ok(sq) if sq.sender_can_secure => sq,
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!("a further send queue left out: {e}");
                    continue;
                }
            };
            sq.extra = true;
            let key_msg = AgentMsgEnvelope::Message {
                agent_version: Version(agent_version),
                enc_agent_message: Vec::new(),
            };
            let Ok(body) = seal(
                &sq.e2e_dh_secret,
                sq.client_version,
                Some(sq.e2e_pub_key),
                PrivHeader::Empty,
                &key_msg,
            ) else {
                continue;
            };
            writes.push(Write::PutSndCopy(SndCopyRecord {
                conn_id: conn_id.to_vec(),
                queue: sq.snd_id.clone(),
                internal_id: 0,
                kind: SndMsgKind::Hello,
                body,
            }));
            writes.push(Write::PutSndQueue(sq));
        }
        writes
    }

    /// The copies of a message for the connection's further send queues.
    pub(super) fn copies(
        conn_id: &[u8],
        internal_id: i64,
        kind: SndMsgKind,
        env: &AgentMsgEnvelope,
        extra: &[SndQueueRecord],
    ) -> Result<Vec<Write>, AgentError> {
        if !is_copied(kind) {
            return Ok(Vec::new());
        }
        let mut writes = Vec::new();
        for sq in extra {
            let body = seal(
                &sq.e2e_dh_secret,
                sq.client_version,
                None,
                PrivHeader::Empty,
                env,
            )?;
            writes.push(Write::PutSndCopy(SndCopyRecord {
                conn_id: conn_id.to_vec(),
                queue: sq.snd_id.clone(),
                internal_id,
                kind,
                body,
            }));
        }
        Ok(writes)
    }

    /// A key message on a further receive queue: the queue's secret is made from the
    /// sender's key (a repeated one is only acknowledged).
    pub(super) async fn on_extra_queue_key(
        self: &Arc<Self>,
        mut rq: RcvQueueRecord,
        pub_key: PublicKeyX25519,
        env: &ClientMsgEnvelope,
    ) -> Result<AckMode, AgentError> {
        let secret = dh_x25519(&pub_key, &rq.e2e_priv_key);
        cb_decrypt(&secret, &env.nonce, &env.enc_body).map_err(crypto_err)?;
        if rq.e2e_dh_secret.is_none() {
            rq.e2e_dh_secret = Some(secret);
            state::message_received(&mut rq);
            self.db(move |s| s.apply(vec![Write::PutRcvQueue(rq)]))
                .await?;
        }
        Ok(AckMode::Now)
    }

    /// Starts (or wakes) the delivery task of a further send queue.
    pub(super) fn start_copy_worker(self: &Arc<Self>, conn_id: &[u8], queue: &[u8]) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.stopped {
            return;
        }
        let key = (conn_id.to_vec(), queue.to_vec());
        if let Some(n) = st.copy_workers.get(&key) {
            n.notify_one();
            return;
        }
        let n = Arc::new(Notify::new());
        st.copy_workers.insert(key, n.clone());
        tokio::spawn(copy_loop(
            Arc::downgrade(self),
            conn_id.to_vec(),
            queue.to_vec(),
            n,
        ));
    }

    /// Starts (or wakes) the tasks of the queues of the copies in `writes`, once they are
    /// stored: call with the writes' [`copy_queues`].
    pub(super) fn start_copy_workers(self: &Arc<Self>, queues: &[ConnQueue]) {
        for (c, q) in queues {
            self.start_copy_worker(c, q);
        }
    }
}

/// The (connection, queue) pairs of the copies in `writes`, each once.
pub(super) fn copy_queues(writes: &[Write]) -> Vec<ConnQueue> {
    let mut out: Vec<ConnQueue> = Vec::new();
    for w in writes {
        if let Write::PutSndCopy(c) = w {
            if !out.iter().any(|(a, b)| *a == c.conn_id && *b == c.queue) {
                out.push((c.conn_id.clone(), c.queue.clone()));
            }
        }
    }
    out
}

/// Sends a further queue's copies in order, retrying temporary failures; a copy its relay
/// refuses for good is dropped (the other queues carry the message).
async fn copy_loop(inner: Weak<Inner>, conn_id: Vec<u8>, queue: Vec<u8>, notify: Arc<Notify>) {
    let key = (conn_id.clone(), queue.clone());
    let mut delay: Option<Duration> = None;
    loop {
        let Some(agent) = inner.upgrade() else { return };
        let registered = agent
            .state
            .lock()
            .map(|st| !st.stopped && st.copy_workers.contains_key(&key))
            .unwrap_or(false);
        if !registered {
            return;
        }
        let (id, q) = (conn_id.clone(), queue.clone());
        let next = agent
            .db(move |s| Ok((s.snd_copies(&id, &q, 1)?, s.extra_snd_queues(&id)?)))
            .await;
        let (copy, sq) = match next {
            Ok((copies, sqs)) => {
                let sq = sqs.into_iter().find(|s| s.snd_id == queue);
                match (copies.into_iter().next(), sq) {
                    (Some(c), Some(sq)) => (c, sq),
                    (Some(c), None) => {
                        // The queue is gone: its copies cannot be delivered.
                        drop_copy(&agent, &c).await;
                        continue;
                    }
                    (None, _) => {
                        drop(agent);
                        let wait = Duration::from_secs(5);
                        let _ = tokio::time::timeout(wait, notify.notified()).await;
                        continue;
                    }
                }
            }
            Err(_) => {
                drop(agent);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let cmd = SndCommand::Send {
            key: Some(&sq.snd_key),
            snd_id: &sq.snd_id,
            flags: MsgFlags {
                notification: copy.kind == SndMsgKind::Message,
            },
            body: &copy.body,
        };
        match agent.send_or_proxy(&sq.server, &sq.conn_id, cmd).await {
            Ok(_) => {
                delay = None;
                drop_copy(&agent, &copy).await;
                // The message is on a relay: say so now if its current queue's copy still
                // waits (its relay may be down).
                if copy.kind == SndMsgKind::Message {
                    let (id, n) = (conn_id.clone(), copy.internal_id);
                    let main = agent.db(move |s| s.snd_msg(&id, n)).await;
                    if matches!(main, Ok(Some(m)) if m.pending) {
                        agent.emit(conn_id.clone(), Event::Sent(copy.internal_id));
                    }
                }
            }
            Err(e) if e.is_quota() => {
                drop(agent);
                let _ = tokio::time::timeout(Duration::from_secs(60), notify.notified()).await;
            }
            Err(e) if e.is_temporary() || e.is_host() => {
                let d = match delay {
                    None => agent.config.retry_initial,
                    Some(d) => (d * 2).min(agent.config.retry_max),
                };
                delay = Some(d);
                drop(agent);
                let _ = tokio::time::timeout(d, notify.notified()).await;
            }
            Err(e) => {
                tracing::debug!("a copy refused by its relay: {e}");
                drop_copy(&agent, &copy).await;
            }
        }
    }
}

async fn drop_copy(agent: &Arc<Inner>, c: &SndCopyRecord) {
    let w = Write::DeleteSndCopy(c.conn_id.clone(), c.queue.clone(), c.internal_id);
    let _ = agent.db(move |s| s.apply(vec![w])).await;
}
