//! Queue rotation (`switchConnection`, `abortConnectionSwitch`, `qAddMsg`, `qKeyMsg`,
//! `qUseMsg` and the delivery of `QTEST` in the reference's `Agent.hs`;
//! rfcs/done/2022-08-14-queue-rotation.md). The side that switches makes a new receive
//! queue, on another of its relays when it has one, and offers it with `QADD`; the peer
//! answers with its key (`QKEY`), the queue is secured (`KEY`) and announced (`QUSE`), the
//! peer sends `QTEST` on it and from then on uses only it; the first message on the new
//! queue makes the switching side delete the old one. The statuses are module `state`'s;
//! every message is the reference's, in its order, so either side may be the reference.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_proto::version::SUPPORTED_SMP_CLIENT_VERSIONS;
use agent_proto::{AMessage, QueueAdd, QueueKey, SmpQueueInfo, SndQAddr};
use rand::rngs::OsRng;
use rand::RngCore;
use simplex_crypto::{dh_x25519, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519};
use smp_client::ClientError;
use smp_proto::{ErrorType, SmpServer};

use super::state::{self, SwitchStep};
use super::{smp_err, Agent, Inner};
use crate::error::AgentError;
use crate::store::*;
use crate::types::*;

impl Agent {
    /// Starts moving a connection's receive queue to a new queue (`switchConnection`): on a
    /// relay that none of the connection's queues uses when the agent has one, else on one
    /// other than the current queue's. Returns the connection's queues once `QADD` is
    /// queued, and raises `SWITCH Rcv Started`; the rest follows in `SWITCH` events. Refused
    /// (`Prohibited`) while a switch is under way, while the ratchet is being
    /// re-synchronised, and on a connection without both queues. When the new queue cannot
    /// be made (its relay is down, say) the error is returned and the switch stays in
    /// `switch_started`, as the reference leaves it: `abort_switch` then clears it.
    pub async fn switch_connection(&self, conn_id: &[u8]) -> Result<ConnectionStats, AgentError> {
        let inner = &self.inner;
        let _g = inner.lock.lock().await;
        let id = conn_id.to_vec();
        let (conn, rqs, sqs) = inner
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queues(&id)?, s.snd_queues(&id)?)))
            .await?;
        let conn = conn.ok_or(AgentError::NoConnection)?;
        let (Some(mut rq), Some(_), ConnKind::Duplex) =
            (rqs.first().cloned(), sqs.first(), conn.kind)
        else {
            return Err(AgentError::Prohibited("switchConnection: not duplex"));
        };
        if rqs.iter().any(|q| q.switch_status.is_some()) {
            return Err(AgentError::Prohibited(
                "switchConnection: already switching",
            ));
        }
        if conn.ratchet_sync.send_prohibited() {
            return Err(AgentError::Prohibited("switchConnection: send prohibited"));
        }
        state::rcv_switch_started(&mut rq);
        let started = rq.clone();
        inner
            .db(move |s| s.apply(vec![Write::PutRcvQueue(started)]))
            .await?;
        let used: Vec<SmpServer> = rqs
            .iter()
            .map(|q| q.server.clone())
            .chain(sqs.iter().map(|q| q.server.clone()))
            .collect();
        let server = inner.switch_server(&used, &rq.server)?;
        let (mut new, uri) = inner
            .create_rcv_queue(conn_id, &server, inner.config.sender_can_secure)
            .await?;
        let step = state::qadd_sent(&mut rq, &mut new);
        let added = new.clone();
        inner
            .db(move |s| s.apply(vec![Write::PutRcvQueue(added)]))
            .await?;
        let qadd = AMessage::QAdd(vec![QueueAdd {
            queue: uri,
            replaces: Some(SndQAddr {
                server: rq.server.clone(),
                sender_id: rq.snd_id.clone(),
            }),
        }]);
        inner.enqueue(conn_id, qadd, SndMsgKind::QAdd).await?;
        inner
            .db(move |s| s.apply(vec![Write::PutRcvQueue(rq)]))
            .await?;
        inner.switch_event(conn_id, step).await
    }

    /// Stops a switch of the connection's receive queue (`abortConnectionSwitch`): allowed
    /// only in `switch_started` and `sending_qadd`, before the peer can have used the new
    /// queue, which is deleted (on its relay too, when it can be reached now). Refused
    /// (`Prohibited`) in the later states, without a switch, and while the ratchet is being
    /// re-synchronised.
    pub async fn abort_switch(&self, conn_id: &[u8]) -> Result<ConnectionStats, AgentError> {
        let inner = &self.inner;
        let _g = inner.lock.lock().await;
        let id = conn_id.to_vec();
        let (conn, rqs) = inner
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queues(&id)?)))
            .await?;
        let conn = conn.ok_or(AgentError::NoConnection)?;
        if conn.kind != ConnKind::Duplex {
            return Err(AgentError::Prohibited("abortConnectionSwitch: not duplex"));
        }
        let Some(mut rq) = rqs.iter().find(|q| q.switch_status.is_some()).cloned() else {
            return Err(AgentError::Prohibited("abortConnectionSwitch: not allowed"));
        };
        if !rq.switch_status.is_some_and(RcvSwitchStatus::can_abort) {
            return Err(AgentError::Prohibited(
                "abortConnectionSwitch: no rcv queues left",
            ));
        }
        if conn.ratchet_sync.send_prohibited() {
            return Err(AgentError::Prohibited(
                "abortConnectionSwitch: send prohibited",
            ));
        }
        let dropped: Vec<RcvQueueRecord> = rqs
            .iter()
            .filter(|q| q.replaces.as_ref() == Some(&rq.rcv_id))
            .cloned()
            .collect();
        state::rcv_switch_aborted(&mut rq);
        let mut writes: Vec<Write> = dropped
            .iter()
            .map(|q| Write::DeleteRcvQueue(q.conn_id.clone(), q.rcv_id.clone()))
            .collect();
        writes.push(Write::PutRcvQueue(rq.clone()));
        inner.db(move |s| s.apply(writes)).await?;
        for q in &dropped {
            inner.forget_queue(q, &rq);
            // Best effort: a queue left on an unreachable relay expires there.
            if let Ok(client) = inner.client(&q.server, conn_id).await {
                let _ = client.delete(&q.rcv_key, &q.rcv_id).await;
            }
        }
        inner.stats(conn_id).await
    }

    /// A connection's queues (their relays, which is primary, the switch status), its
    /// ratchet's state and whether it supports post-quantum keys: what `/i NAME` shows.
    pub async fn connection_stats(&self, conn_id: &[u8]) -> Result<ConnectionStats, AgentError> {
        self.inner.stats(conn_id).await
    }
}

impl Inner {
    pub(super) async fn stats(&self, conn_id: &[u8]) -> Result<ConnectionStats, AgentError> {
        let id = conn_id.to_vec();
        let (conn, rqs, sqs) = self
            .db(move |s| Ok((s.conn(&id)?, s.all_rcv_queues(&id)?, s.all_snd_queues(&id)?)))
            .await?;
        let conn = conn.ok_or(AgentError::NoConnection)?;
        Ok(ConnectionStats {
            agent_version: conn.agent_version,
            rcv_queues: rqs
                .into_iter()
                .map(|q| RcvQueueInfo {
                    server: q.server,
                    primary: q.primary,
                    switch_status: q.switch_status,
                    can_abort_switch: q.switch_status.is_some_and(RcvSwitchStatus::can_abort),
                })
                .collect(),
            snd_queues: sqs
                .into_iter()
                .map(|q| SndQueueInfo {
                    server: q.server,
                    primary: q.primary,
                    switch_status: q.switch_status,
                })
                .collect(),
            ratchet_sync: conn.ratchet_sync,
            pq_support: conn.pq_support,
        })
    }

    /// Raises `SWITCH` with the connection's queues now; returns them.
    pub(super) async fn switch_event(
        &self,
        conn_id: &[u8],
        (direction, phase): SwitchStep,
    ) -> Result<ConnectionStats, AgentError> {
        let stats = self.stats(conn_id).await?;
        self.emit(
            conn_id.to_vec(),
            Event::Switch {
                direction,
                phase,
                stats: stats.clone(),
            },
        );
        Ok(stats)
    }

    /// The relay for a new receive queue (`getNextSMPServer`): one no queue of the
    /// connection uses, else one other than the current queue's, else any.
    fn switch_server(
        &self,
        used: &[SmpServer],
        current: &SmpServer,
    ) -> Result<SmpServer, AgentError> {
        let all = &self.config.servers;
        let fresh: Vec<&SmpServer> = all.iter().filter(|s| !used.contains(s)).collect();
        let other: Vec<&SmpServer> = all.iter().filter(|s| *s != current).collect();
        let pool = if !fresh.is_empty() { fresh } else { other };
        if pool.is_empty() {
            return self.pick_server();
        }
        let i = usize::try_from(OsRng.next_u64() % (pool.len() as u64)).unwrap_or(0);
        pool.get(i)
            .map(|s| (*s).clone())
            .ok_or(AgentError::NoServers)
    }

    /// Stops routing a dropped receive queue's events; `kept` is the connection's queue
    /// that stays (its session keeps the connection subscribed).
    fn forget_queue(&self, q: &RcvQueueRecord, kept: &RcvQueueRecord) {
        if let Ok(mut st) = self.state.lock() {
            st.queues.remove(&(q.server.to_string(), q.rcv_id.clone()));
        }
        self.unsubscribed(q);
        self.subscribed(&self.sess_key(&kept.server, &kept.conn_id), &kept.conn_id);
    }

    /// The peer's `QADD` (`qAddMsg`, the caller holds the lock): a new send queue to the
    /// offered queue, replacing the one named, and `QKEY` with this side's keys for it on the
    /// current queue.
    pub(super) async fn on_qadd(
        self: &Arc<Self>,
        conn_id: &[u8],
        adds: Vec<QueueAdd>,
    ) -> Result<(), AgentError> {
        let id = conn_id.to_vec();
        let (conn, sqs) = self
            .db(move |s| Ok((s.conn(&id)?, s.snd_queues(&id)?)))
            .await?;
        let conn = conn.ok_or(AgentError::NoConnection)?;
        if conn.ratchet_sync.send_prohibited() {
            return Err(AgentError::Queue("ratchet is not synchronized"));
        }
        // A redundant connection's peer replacing its current queue lists the new queue
        // twice, the second time replacing nothing (module `replace`): a switch lists one.
        let replacing_current = matches!(adds.as_slice(),
            [a, b] if b.replaces.is_none() && a.queue == b.queue);
        let Some(add) = adds.into_iter().next() else {
            return Err(AgentError::Queue("QADD: no queue"));
        };
        let Some(replaced) = add.replaces else {
            return Err(AgentError::Queue(
                "adding queue without switching is not supported",
            ));
        };
        let uri = add.queue;
        let client_version = uri
            .client_versions
            .compatible_version(&SUPPORTED_SMP_CLIENT_VERSIONS)
            .ok_or(AgentError::Version)?;
        if sqs
            .iter()
            .any(|q| q.server == uri.server && q.snd_id == uri.sender_id)
        {
            return Err(AgentError::Queue(
                "QADD: queue address is already used in connection",
            ));
        }
        let current = sqs
            .iter()
            .find(|q| q.server == replaced.server && q.snd_id == replaced.sender_id);
        // The current queue of a redundant connection, whose relay the peer gave up on
        // (module `replace`).
        if let Some(cur) = current.filter(|q| replacing_current && q.replaces.is_none()) {
            if self.on_current_qadd(&conn, &uri, cur).await? {
                return Ok(());
            }
        }
        let Some(mut sq) = current.cloned() else {
            // A further (redundant) queue being replaced (module `replace`).
            if self.on_extra_qadd(&conn, &uri, &replaced).await? {
                return Ok(());
            }
            return Err(AgentError::Queue(
                "QADD: replaced queue address is not found in connection",
            ));
        };
        // A new queue of an earlier switch of the same queue gives way.
        let mut writes: Vec<Write> = sqs
            .iter()
            .filter(|q| q.replaces.as_ref() == Some(&sq.snd_id))
            .map(|q| Write::DeleteSndQueueId(q.conn_id.clone(), q.snd_id.clone()))
            .collect();
        let e2e = PrivateKeyX25519::generate(&mut OsRng);
        let mut new = SndQueueRecord {
            conn_id: conn_id.to_vec(),
            server: uri.server.clone(),
            snd_id: uri.sender_id.clone(),
            snd_key: PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng)),
            e2e_pub_key: e2e.public_key(),
            e2e_dh_secret: dh_x25519(&uri.dh_public_key, &e2e),
            sender_can_secure: false,
            status: QueueStatus::New,
            client_version: client_version.0,
            primary: false,
            replaces: None,
            switch_status: None,
            extra: false,
        };
        let step = state::qadd_received(&mut sq, &mut new);
        let qkey = AMessage::QKey(vec![QueueKey {
            queue: SmpQueueInfo {
                dh_public_key: new.e2e_pub_key,
                ..SmpQueueInfo::from_uri(&uri, client_version)
            },
            sender_key: new.snd_key.public_key(),
        }]);
        writes.push(Write::PutSndQueue(new));
        self.db(move |s| s.apply(writes)).await?;
        self.enqueue(conn_id, qkey, SndMsgKind::QKey).await?;
        self.db(move |s| s.apply(vec![Write::PutSndQueue(sq)]))
            .await?;
        self.switch_event(conn_id, step).await?;
        Ok(())
    }

    /// The peer's `QKEY` (`qKeyMsg`, the caller holds the lock), before the message that
    /// carried it is stored: the new receive queue's e2e secret and `KEY` on it with the
    /// peer's key. A failure leaves nothing stored, so that the message, not acknowledged
    /// when the failure is temporary, is processed again when it comes again.
    pub(super) async fn secure_new_queue(
        self: &Arc<Self>,
        conn_id: &[u8],
        keys: &[QueueKey],
    ) -> Result<QKeyDone, AgentError> {
        let id = conn_id.to_vec();
        let (conn, rqs) = self
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queues(&id)?)))
            .await?;
        let conn = conn.ok_or(AgentError::NoConnection)?;
        if conn.ratchet_sync.send_prohibited() {
            return Err(AgentError::Queue("ratchet is not synchronized"));
        }
        let Some(key) = keys.first() else {
            return Err(AgentError::Queue("QKEY: no queue"));
        };
        if !SUPPORTED_SMP_CLIENT_VERSIONS.contains(key.queue.client_version) {
            return Err(AgentError::Version);
        }
        let info = &key.queue;
        let Some(mut new) = rqs
            .iter()
            .find(|q| q.server == info.server && q.snd_id == info.sender_id)
            .cloned()
        else {
            return Err(AgentError::Queue(
                "QKEY: queue address not found in connection",
            ));
        };
        if !matches!(new.status, QueueStatus::New | QueueStatus::Confirmed) {
            return Err(AgentError::Queue("QKEY: queue already secured"));
        }
        let Some(mut rq) = rqs
            .iter()
            .find(|q| Some(&q.rcv_id) == new.replaces.as_ref())
            .cloned()
        else {
            return Err(AgentError::Queue("QKEY: no switching queue found"));
        };
        if rq.switch_status != Some(RcvSwitchStatus::SendingQadd) {
            return Err(AgentError::Queue("QKEY: switch in a wrong state"));
        }
        let secret = dh_x25519(&info.dh_public_key, &new.e2e_priv_key);
        let version = new.client_version.min(info.client_version.0);
        let confirmed = state::qkey_received(&mut new, secret, version);
        let client = self.client(&new.server, conn_id).await?;
        client
            .secure_queue(&new.rcv_key, &new.rcv_id, &key.sender_key)
            .await
            .map_err(|e| smp_err(&new.server, e))?;
        let secured = state::rcv_new_secured(&mut rq, &mut new);
        Ok(QKeyDone {
            rq,
            new,
            steps: [confirmed, secured],
        })
    }

    /// Once the message with `QKEY` is stored: the queues' new statuses, `QUSE`, and
    /// `SWITCH Confirmed` and `Secured`.
    pub(super) async fn on_qkey(
        self: &Arc<Self>,
        conn_id: &[u8],
        done: QKeyDone,
    ) -> Result<(), AgentError> {
        let QKeyDone { rq, new, steps } = done;
        let quse = AMessage::QUse(vec![(
            SndQAddr {
                server: new.server.clone(),
                sender_id: new.snd_id.clone(),
            },
            true,
        )]);
        self.db(move |s| s.apply(vec![Write::PutRcvQueue(new), Write::PutRcvQueue(rq)]))
            .await?;
        self.enqueue(conn_id, quse, SndMsgKind::QUse).await?;
        for step in steps {
            self.switch_event(conn_id, step).await?;
        }
        Ok(())
    }

    /// The peer's `QUSE` (`qUseMsg`, the caller holds the lock): the new send queue is
    /// secured; `QTEST` goes on it, and every message after it.
    pub(super) async fn on_quse(
        self: &Arc<Self>,
        conn_id: &[u8],
        uses: Vec<(SndQAddr, bool)>,
    ) -> Result<(), AgentError> {
        let id = conn_id.to_vec();
        let (conn, sqs) = self
            .db(move |s| Ok((s.conn(&id)?, s.snd_queues(&id)?)))
            .await?;
        let conn = conn.ok_or(AgentError::NoConnection)?;
        if conn.ratchet_sync.send_prohibited() {
            return Err(AgentError::Queue("ratchet is not synchronized"));
        }
        let Some((addr, _primary)) = uses.into_iter().next() else {
            return Err(AgentError::Queue("QUSE: no queue"));
        };
        let Some(mut new) = sqs
            .iter()
            .find(|q| q.server == addr.server && q.snd_id == addr.sender_id && q.replaces.is_some())
            .cloned()
        else {
            return Err(AgentError::Queue(
                "QUSE: switched queue address not found in connection",
            ));
        };
        let Some(mut sq) = sqs
            .iter()
            .find(|q| Some(&q.snd_id) == new.replaces.as_ref())
            .cloned()
        else {
            return Err(AgentError::Queue(
                "QUSE: switching SndQueue not found in connection",
            ));
        };
        if sq.switch_status != Some(SndSwitchStatus::SendingQkey) {
            return Err(AgentError::Queue("QUSE: switch in a wrong state"));
        }
        let step = state::quse_received(&mut sq, &mut new);
        self.db(move |s| s.apply(vec![Write::PutSndQueue(new), Write::PutSndQueue(sq)]))
            .await?;
        // Encrypted for the new queue: the status just written says so.
        self.enqueue(conn_id, AMessage::QTest(vec![addr]), SndMsgKind::QTest)
            .await?;
        self.switch_event(conn_id, step).await?;
        Ok(())
    }

    /// A message decrypted on the new receive queue of a switch (the caller holds the lock):
    /// when the old queue waits for it (`sending_quse`) its status is updated in `writes`,
    /// and the old queue's recipient ID returned for deletion once they are stored.
    pub(super) async fn on_new_queue_msg(
        &self,
        new: &mut RcvQueueRecord,
        writes: &mut Vec<Write>,
    ) -> Result<Option<Vec<u8>>, AgentError> {
        let Some(old_id) = new.replaces.clone() else {
            return Ok(None);
        };
        let id = new.conn_id.clone();
        let rqs = self.db(move |s| s.rcv_queues(&id)).await?;
        let Some(mut rq) = rqs.into_iter().find(|q| q.rcv_id == old_id) else {
            return Ok(None);
        };
        if rq.switch_status != Some(RcvSwitchStatus::SendingQuse) {
            return Ok(None);
        }
        state::rcv_new_used(&mut rq, new);
        writes.push(Write::PutRcvQueue(rq));
        Ok(Some(old_id))
    }

    /// Deletes the old receive queue of a switch whose new queue got a message (`ICQDelete`),
    /// retrying while its relay cannot be reached; then `SWITCH Rcv Completed`.
    pub(super) fn spawn_delete_replaced(self: &Arc<Self>, conn_id: ConnId, rcv_id: Vec<u8>) {
        let inner = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut delay = Duration::ZERO;
            loop {
                tokio::time::sleep(delay).await;
                let Some(inner) = inner.upgrade() else { return };
                if inner.stopped() {
                    return;
                }
                match inner.delete_replaced(&conn_id, &rcv_id).await {
                    Ok(()) => return,
                    Err(AgentError::Smp { error, .. }) if error.is_temporary() => {
                        delay = if delay.is_zero() {
                            inner.config.retry_initial
                        } else {
                            (delay * 2).min(inner.config.retry_max)
                        };
                    }
                    Err(e) => {
                        inner.emit(conn_id.clone(), Event::Err(e.to_string()));
                        return;
                    }
                }
            }
        });
    }

    async fn delete_replaced(
        self: &Arc<Self>,
        conn_id: &[u8],
        rcv_id: &[u8],
    ) -> Result<(), AgentError> {
        let _g = self.lock.lock().await;
        let id = conn_id.to_vec();
        let rqs = self.db(move |s| s.rcv_queues(&id)).await?;
        let Some(rq) = rqs.iter().find(|q| q.rcv_id == rcv_id).cloned() else {
            return Ok(());
        };
        let Some(mut new) = rqs
            .iter()
            .find(|q| q.replaces.as_deref() == Some(rcv_id))
            .cloned()
        else {
            return Ok(());
        };
        if rq.switch_status != Some(RcvSwitchStatus::ReceivedMessage) {
            return Ok(());
        }
        let client = self.client(&rq.server, conn_id).await?;
        let deleted = client.delete(&rq.rcv_key, &rq.rcv_id).await;
        match deleted {
            Ok(()) | Err(ClientError::Server(ErrorType::Auth)) => {}
            Err(e) if e.is_temporary() => return Err(smp_err(&rq.server, e)),
            // The reference completes the switch after a permanent error too.
            Err(e) => self.emit(
                conn_id.to_vec(),
                Event::Err(smp_err(&rq.server, e).to_string()),
            ),
        }
        self.forget_queue(&rq, &new);
        let step = state::rcv_switch_completed(&mut new);
        let writes = vec![
            Write::DeleteRcvQueue(conn_id.to_vec(), rcv_id.to_vec()),
            Write::PutRcvQueue(new),
        ];
        self.db(move |s| s.apply(writes)).await?;
        self.switch_event(conn_id, step).await?;
        Ok(())
    }

    /// After the server accepted `QTEST` on the new send queue (the caller holds the lock):
    /// the old queue and its undelivered messages are dropped, the new one is the
    /// connection's.
    pub(super) async fn on_qtest_sent(
        self: &Arc<Self>,
        conn_id: &[u8],
        sent_to: &SndQueueRecord,
    ) -> Result<(), AgentError> {
        let id = conn_id.to_vec();
        let sqs = self.db(move |s| s.snd_queues(&id)).await?;
        let Some(mut new) = sqs.iter().find(|q| q.snd_id == sent_to.snd_id).cloned() else {
            return Err(AgentError::Queue(
                "sent QTEST: queue not found in connection",
            ));
        };
        let Some(old) = new
            .replaces
            .as_ref()
            .and_then(|r| sqs.iter().find(|q| &q.snd_id == r))
            .cloned()
        else {
            return Err(AgentError::Queue(
                "sent QTEST: queue not in connection or not replacing another queue",
            ));
        };
        let step = state::qtest_sent(&mut new);
        let writes = vec![
            Write::DeleteSndQueueId(conn_id.to_vec(), old.snd_id.clone()),
            Write::PutSndQueue(new),
        ];
        self.db(move |s| s.apply(writes)).await?;
        self.switch_event(conn_id, step).await?;
        Ok(())
    }

    /// Resumes at start what a switch left to do in the background: deleting the old
    /// receive queue once the new one got a message.
    pub(super) fn resume_switch(self: &Arc<Self>, rqs: &[RcvQueueRecord]) {
        for q in rqs {
            if q.switch_status == Some(RcvSwitchStatus::ReceivedMessage) {
                self.spawn_delete_replaced(q.conn_id.clone(), q.rcv_id.clone());
            }
        }
    }
}

/// How long a message on the new queue of a switch waits for the old queue to deliver the
/// messages sent before it; then it is processed anyway (those are lost, or late).
const DEFER_LIMIT: Duration = Duration::from_secs(10);

/// A message on the new receive queue of a switch that came before earlier messages on the
/// old queue (two relays deliver in no common order): it is left unacknowledged, nothing
/// stored, and fetched again (`SUB` once more) after each message from the old queue.
pub(super) struct Deferred {
    since: Instant,
    rq: RcvQueueRecord,
}

impl Inner {
    /// Whether a message with sender ID `snd_msg_id`, decrypted from `rq`, waits: it is on
    /// the new queue of a switch and messages before it have not come yet (on the old queue).
    pub(super) fn defer_on_new_queue(
        self: &Arc<Self>,
        conn: &ConnRecord,
        rq: &RcvQueueRecord,
        snd_msg_id: i64,
    ) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        if rq.replaces.is_none() {
            return false;
        }
        if snd_msg_id <= conn.last_rcv_ext_id.saturating_add(1) {
            st.deferred.remove(&conn.conn_id);
            return false;
        }
        match st.deferred.get(&conn.conn_id) {
            Some(d) if d.since.elapsed() >= DEFER_LIMIT => {
                st.deferred.remove(&conn.conn_id);
                false
            }
            Some(_) => true,
            None => {
                st.deferred.insert(
                    conn.conn_id.clone(),
                    Deferred {
                        since: Instant::now(),
                        rq: rq.clone(),
                    },
                );
                let inner = Arc::downgrade(self);
                let conn_id = conn.conn_id.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(DEFER_LIMIT).await;
                    if let Some(inner) = inner.upgrade() {
                        inner.fetch_deferred(&conn_id).await;
                    }
                });
                true
            }
        }
    }

    /// `SUB` again on the new queue with a deferred message, which the relay then delivers
    /// again (after a message from the old queue, or when the wait is over).
    pub(super) async fn fetch_deferred(self: &Arc<Self>, conn_id: &[u8]) {
        let rq = match self.state.lock() {
            Ok(st) => st.deferred.get(conn_id).map(|d| d.rq.clone()),
            Err(_) => None,
        };
        let Some(rq) = rq else { return };
        if let Ok(client) = self.client(&rq.server, conn_id).await {
            let _ = client.subscribe(&rq.rcv_key, &rq.rcv_id).await;
        }
    }

    /// After a message from a connection's old queue: a deferred one may go now.
    pub(super) fn after_old_queue_msg(self: &Arc<Self>, conn_id: &[u8]) {
        let waiting = self
            .state
            .lock()
            .map(|st| st.deferred.contains_key(conn_id))
            .unwrap_or(false);
        if waiting {
            let inner = self.clone();
            let conn_id = conn_id.to_vec();
            tokio::spawn(async move { inner.fetch_deferred(&conn_id).await });
        }
    }
}

/// The new receive queue secured after `QKEY`, to store with the message.
pub(super) struct QKeyDone {
    rq: RcvQueueRecord,
    new: RcvQueueRecord,
    steps: [SwitchStep; 2],
}

/// The send queue a new message is encrypted for, and whether it must be marked as being
/// for that queue: the current one, or, from `QTEST` on, the new queue of a switch.
pub(super) fn send_target(sqs: Vec<SndQueueRecord>) -> Option<(SndQueueRecord, Option<Vec<u8>>)> {
    let mut it = sqs.into_iter();
    let cur = it.next()?;
    if cur.switch_status == Some(SndSwitchStatus::SendingQtest) {
        if let Some(next) = it.find(|q| q.replaces.as_ref() == Some(&cur.snd_id)) {
            let id = next.snd_id.clone();
            return Some((next, Some(id)));
        }
    }
    Some((cur, None))
}

/// The send queue a pending message goes to: the one it is marked for, else the current
/// one. `None` when it is for a queue that is gone.
pub(super) fn delivery_target(sqs: &[SndQueueRecord], m: &SndMsgRecord) -> Option<SndQueueRecord> {
    match &m.queue {
        Some(id) => sqs.iter().find(|q| &q.snd_id == id).cloned(),
        None => sqs.first().cloned(),
    }
}

/// Automatic rotation (`AgentConfig::rotate_after`): now and then, every connection whose
/// receive queue is older than `every` (and not switching, the ratchet in step) is switched
/// as by `switch_connection`. A switch that cannot start (the new relay down) is aborted
/// at once, to be tried again later.
pub(super) async fn rotation_loop(inner: std::sync::Weak<Inner>, every: Duration) {
    let period = (every / 2).clamp(Duration::from_millis(100), Duration::from_secs(600));
    let every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopped() {
            return;
        }
        let due = inner
            .db(move |s| {
                let now = super::unix_now();
                let mut due = Vec::new();
                for c in s.conns()? {
                    if c.kind != ConnKind::Duplex
                        || c.status != ConnStatus::Active
                        || c.ratchet_sync != RatchetSyncState::Ok
                    {
                        continue;
                    }
                    let rqs = s.rcv_queues(&c.conn_id)?;
                    if let [rq] = rqs.as_slice() {
                        if rq.switch_status.is_none()
                            && rq.created_at.saturating_add(every) <= now
                            && s.snd_queue(&c.conn_id)?.is_some()
                        {
                            due.push(c.conn_id);
                        }
                    }
                }
                Ok(due)
            })
            .await
            .unwrap_or_default();
        let agent = Agent { inner };
        for conn_id in due {
            if agent.switch_connection(&conn_id).await.is_err() {
                let _ = agent.abort_switch(&conn_id).await;
            }
        }
    }
}
