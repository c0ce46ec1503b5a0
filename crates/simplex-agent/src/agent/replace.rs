//! Replacing a redundant queue whose relay stays down (`AgentConfig::replace_dead_after`,
//! beyond the reference): its copies would wait forever, and the connection would have one
//! queue fewer than asked. The receiver whose further queue's relay has been unreachable for
//! that long makes a new further queue on a relay the connection does not use and tells the
//! peer with `QADD` naming the queue it replaces (the reference's rotation message, sent on
//! every queue); the peer, finding that the replaced queue is one of its further send queues,
//! secures the new one with `SKEY`, sends its key message and copies there from then on, and
//! forgets the old one (its waiting copies are dropped). No `QKEY`/`QUSE`/`QTEST` are needed:
//! the sender secures further queues itself, and nothing waits on the old queue's order.
//!
//! ```text
//!  A (receiver)                                      B (sender)
//!  further queue a2's relay down for the set time
//!  NEW a3 (extra) on an unused relay; a2 forgotten
//!        ── QADD (a3 replaces a2), on every queue ─▶ SKEY a3, key message, copies → a3;
//!                                                     a2 and its copies dropped
//! ```
//!
//! A queue that is the connection's current one is not replaced this way (its switch needs
//! the full rotation, whose messages go on that queue).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use agent_proto::{AMessage, QueueAdd, SndQAddr};
use rand::seq::SliceRandom;
use smp_proto::{SmpQueueUri, SmpServer};

use super::redundant::{copy_queues, PeerQueue};
use super::Inner;
use crate::error::AgentError;
use crate::store::*;

impl Inner {
    /// `QADD` from the peer naming this side's current send queue of a redundant connection
    /// (the peer replaces its current receive queue that way, see [`replace_loop`]): the new
    /// queue becomes a further one, a further queue whose key message went becomes current,
    /// and the messages still waiting for the old queue go there instead, in order — its own
    /// copies of them (or, for those whose copy left already, nothing more to do). `Ok(false)`
    /// when the connection has no such further queue: a normal switch.
    pub(super) async fn on_current_qadd(
        self: &Arc<Self>,
        conn: &ConnRecord,
        uri: &SmpQueueUri,
        current: &SndQueueRecord,
    ) -> Result<bool, AgentError> {
        let id = conn.conn_id.clone();
        let (extra, pending) = self
            .db(move |s| Ok((s.extra_snd_queues(&id)?, s.pending_snd_msgs(&id)?)))
            .await?;
        if current.switch_status.is_some() {
            return Ok(false);
        }
        let mut candidate = None;
        for q in extra {
            let (id, qid) = (conn.conn_id.clone(), q.snd_id.clone());
            let key_pending = self
                .db(move |s| s.snd_copies(&id, &qid, 1))
                .await?
                .first()
                .is_some_and(|c| c.internal_id == 0);
            if !key_pending {
                candidate = Some(q);
                break;
            }
        }
        let Some(mut next) = candidate else {
            return Ok(false);
        };
        let peer = PeerQueue::from_uri(uri).ok_or(AgentError::Version)?;
        let mut writes = self
            .extra_snd_queues(&conn.conn_id, vec![peer], conn.agent_version)
            .await;
        if writes.is_empty() {
            return Err(AgentError::Queue("QADD: the new queue cannot be secured"));
        }
        let (id, qid) = (conn.conn_id.clone(), next.snd_id.clone());
        let copies = self
            .db(move |s| s.snd_copies(&id, &qid, usize::MAX))
            .await?;
        let mut moved = std::collections::HashSet::new();
        for c in copies.into_iter().filter(|c| c.internal_id > 0) {
            let (id, n) = (conn.conn_id.clone(), c.internal_id);
            let m = self.db(move |s| s.snd_msg(&id, n)).await?;
            let mut m = m.unwrap_or(SndMsgRecord {
                conn_id: conn.conn_id.clone(),
                internal_id: c.internal_id,
                snd_id: 0,
                kind: c.kind,
                hash: Vec::new(),
                body: SndBody::none(),
                pending: true,
                receipt: None,
                queue: None,
            });
            m.body = SndBody::Sealed(c.body);
            m.pending = true;
            m.queue = None;
            moved.insert(c.internal_id);
            writes.push(Write::DeleteSndCopy(
                conn.conn_id.clone(),
                c.queue,
                c.internal_id,
            ));
            writes.push(Write::PutSndMsg(m));
        }
        // What waited for the old queue and has no copy left: its copy went already (or it
        // was for the old queue only).
        for mut m in pending
            .into_iter()
            .filter(|m| !moved.contains(&m.internal_id))
        {
            m.pending = false;
            m.body = SndBody::none();
            writes.push(Write::PutSndMsg(m));
        }
        next.extra = false;
        // The next current queue takes the old one's place (the store drops the old one).
        writes.push(Write::PutSndQueue(next));
        let queues = copy_queues(&writes);
        self.db(move |s| s.apply(writes)).await?;
        self.start_copy_workers(&queues);
        self.wake_worker(&conn.conn_id);
        Ok(true)
    }

    /// `QADD` from the peer naming one of this side's further send queues: the new queue
    /// replaces it (see the module's doc). `Ok(false)` when `old` is not a further queue.
    pub(super) async fn on_extra_qadd(
        self: &Arc<Self>,
        conn: &ConnRecord,
        uri: &SmpQueueUri,
        replaced: &SndQAddr,
    ) -> Result<bool, AgentError> {
        let id = conn.conn_id.clone();
        let extra = self.db(move |s| s.extra_snd_queues(&id)).await?;
        let Some(old) = extra
            .into_iter()
            .find(|q| q.server == replaced.server && q.snd_id == replaced.sender_id)
        else {
            return Ok(false);
        };
        let peer = PeerQueue::from_uri(uri).ok_or(AgentError::Version)?;
        let mut writes = self
            .extra_snd_queues(&conn.conn_id, vec![peer], conn.agent_version)
            .await;
        if writes.is_empty() {
            return Err(AgentError::Queue("QADD: the new queue cannot be secured"));
        }
        writes.push(Write::DeleteSndQueueId(conn.conn_id.clone(), old.snd_id));
        let queues = copy_queues(&writes);
        self.db(move |s| s.apply(writes)).await?;
        self.start_copy_workers(&queues);
        Ok(true)
    }

    /// Replaces the receive queue `old` of `conn_id` (its relay long down) with a new further
    /// one on a relay the connection does not use, and sends `QADD`. When `old` is the
    /// current queue, a further one becomes current in its place.
    async fn replace_rcv_queue(
        self: &Arc<Self>,
        conn_id: &[u8],
        old: RcvQueueRecord,
    ) -> Result<(), AgentError> {
        let _g = self.lock.lock().await;
        let id = conn_id.to_vec();
        let rqs = self.db(move |s| s.all_rcv_queues(&id)).await?;
        let Some(old) = rqs.iter().find(|q| q.rcv_id == old.rcv_id).cloned() else {
            return Ok(());
        };
        let mut promote = None;
        if !old.extra {
            // A further queue that already has its secret takes the current one's place.
            promote = rqs
                .iter()
                .find(|q| q.extra && q.e2e_dh_secret.is_some())
                .cloned();
            if promote.is_none() || old.switch_status.is_some() {
                return Ok(());
            }
        }
        let used: Vec<&SmpServer> = rqs.iter().map(|q| &q.server).collect();
        let mut free: Vec<SmpServer> = self
            .config
            .servers
            .iter()
            .filter(|s| !used.contains(s))
            .cloned()
            .collect();
        free.shuffle(&mut rand::thread_rng());
        for server in free {
            let Ok((mut rq, uri)) = self.create_rcv_queue(conn_id, &server, true).await else {
                continue;
            };
            if !rq.sender_can_secure {
                self.unsubscribed(&rq);
                continue;
            }
            rq.extra = true;
            let add = QueueAdd {
                queue: uri,
                replaces: Some(SndQAddr {
                    server: old.server.clone(),
                    sender_id: old.snd_id.clone(),
                }),
            };
            let (cid, old_id) = (conn_id.to_vec(), old.rcv_id.clone());
            let mut writes = vec![Write::PutRcvQueue(rq), Write::DeleteRcvQueue(cid, old_id)];
            if let Some(mut p) = promote.take() {
                p.extra = false;
                writes.push(Write::PutRcvQueue(p));
            }
            self.db(move |s| s.apply(writes)).await?;
            self.unsubscribed(&old);
            // Replacing the current queue: the new queue listed twice, the second time
            // replacing nothing, tells it from a switch (which lists one).
            let mut adds = vec![add.clone()];
            if !old.extra {
                adds.push(QueueAdd {
                    queue: add.queue,
                    replaces: None,
                });
            }
            self.enqueue(conn_id, AMessage::QAdd(adds), SndMsgKind::QAdd)
                .await?;
            return Ok(());
        }
        Err(AgentError::Queue("no relay for a new further queue"))
    }

    /// Notes that a session went down (the first time since it was last up).
    pub(super) fn session_down(&self, key: &super::SessKey) {
        if let Ok(mut st) = self.state.lock() {
            st.down_since
                .entry(key.clone())
                .or_insert_with(Instant::now);
        }
    }

    /// Notes that a session is up again.
    pub(super) fn session_up(&self, key: &super::SessKey) {
        if let Ok(mut st) = self.state.lock() {
            st.down_since.remove(key);
        }
    }
}

/// Now and then, replaces the further receive queues whose relay has been down for `after`.
pub(super) async fn replace_loop(inner: Weak<Inner>, after: Duration) {
    let period = (after / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopped() {
            return;
        }
        let dead: Vec<super::SessKey> = match inner.state.lock() {
            Ok(st) => st
                .down_since
                .iter()
                .filter(|(_, t)| t.elapsed() >= after)
                .map(|(k, _)| k.clone())
                .collect(),
            Err(_) => continue,
        };
        if dead.is_empty() {
            continue;
        }
        let Ok(conns) = inner.db(|s| s.conns()).await else {
            continue;
        };
        for c in conns {
            if c.kind != ConnKind::Duplex || c.status != ConnStatus::Active {
                continue;
            }
            let id = c.conn_id.clone();
            let Ok((rqs, extra_snd)) = inner
                .db(move |s| Ok((s.all_rcv_queues(&id)?, s.extra_snd_queues(&id)?)))
                .await
            else {
                continue;
            };
            // Only where both sides use further queues (the peer listed some).
            if extra_snd.is_empty() || !rqs.iter().any(|q| q.extra) {
                continue;
            }
            for rq in rqs {
                if dead.contains(&inner.sess_key(&rq.server, &rq.conn_id)) {
                    if let Err(e) = inner.replace_rcv_queue(&c.conn_id, rq).await {
                        tracing::debug!("a queue was not replaced: {e}");
                    }
                }
            }
        }
    }
}
