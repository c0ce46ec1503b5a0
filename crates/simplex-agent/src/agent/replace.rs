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

    /// Replaces the further receive queue `old` of `conn_id` (its relay long down) with a new
    /// one on a relay the connection does not use, and sends `QADD`.
    async fn replace_extra_rcv_queue(
        self: &Arc<Self>,
        conn_id: &[u8],
        old: RcvQueueRecord,
    ) -> Result<(), AgentError> {
        let _g = self.lock.lock().await;
        let id = conn_id.to_vec();
        let rqs = self.db(move |s| s.all_rcv_queues(&id)).await?;
        if !rqs.iter().any(|q| q.extra && q.rcv_id == old.rcv_id) {
            return Ok(());
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
            self.db(move |s| {
                s.apply(vec![
                    Write::PutRcvQueue(rq),
                    Write::DeleteRcvQueue(cid, old_id),
                ])
            })
            .await?;
            self.unsubscribed(&old);
            self.enqueue(conn_id, AMessage::QAdd(vec![add]), SndMsgKind::QAdd)
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
            let Ok(extra) = inner.db(move |s| s.extra_rcv_queues(&id)).await else {
                continue;
            };
            for rq in extra {
                if dead.contains(&inner.sess_key(&rq.server, &rq.conn_id)) {
                    if let Err(e) = inner.replace_extra_rcv_queue(&c.conn_id, rq).await {
                        tracing::debug!("a further queue was not replaced: {e}");
                    }
                }
            }
        }
    }
}
