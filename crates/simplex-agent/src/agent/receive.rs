//! Receiving: a queue's `MSG` is decrypted (the server's layer, the per-queue layer,
//! then the ratchet), checked against the previous message (number and hash), stored with
//! the ratchet's new state in one batch, reported, and acknowledged to the server (`ACK`)
//! at once or, for messages and receipts, when the application acknowledges them. A
//! message seen before is recognised by its stored hash.

use std::sync::Arc;

use agent_proto::version::DELIVERY_RCPTS_AGENT_VERSION;
use agent_proto::{
    AMessage, AMessageReceipt, AgentMessage, AgentMsgEnvelope, ClientMessage, ClientMsgEnvelope,
    PrivHeader, SndQAddr,
};
use rand::rngs::OsRng;
use simplex_crypto::{cb_decrypt, dh_x25519, sha256, DhSecretX25519, PublicKeyX25519};
use simplex_encoding::decode_all;
use simplex_ratchet::{Ratchet, RatchetError, SkippedKeys, X448};
use smp_client::{decrypt_message, ClientError};
use smp_proto::{ErrorType, RcvMessage, RcvMsgBody};
use tokio::task::JoinSet;

use super::ack::Unacked;
use super::connect::Confirmation;
use super::one_hop::{self, Careful, Hop, Stored};
use super::state::{self, HelloReceived};
use super::sync::sync_error_of;
use super::{crypto_err, smp_err, Agent, Inner};
use crate::error::{AgentError, StoreError};
use crate::store::*;
use crate::types::*;

/// A connection's ratchet and skipped message keys, as stored when its message arrived.
pub(super) type RatchetKeys = (Option<Ratchet<X448>>, SkippedKeys);

/// What to do with the server's message after processing.
pub(super) enum AckMode {
    Now,
    Later,
}

impl Agent {
    /// As [`Agent::ack_message`] without waiting for it (the reference's
    /// `ackMessageAsync`): the application goes on to its next event while the `ACK` goes
    /// to the relay. A failure is reported as an `ERR` event on the connection. The
    /// message was stored before it was reported, so nothing about durability changes: an
    /// `ACK` lost (say the agent stops first) only means the relay delivers the message
    /// again, and it is handled as one seen before.
    pub fn ack_message_async(&self, conn_id: &[u8], msg_id: i64, receipt: Option<Vec<u8>>) {
        let agent = self.clone();
        let conn_id = conn_id.to_vec();
        tokio::spawn(async move {
            if let Err(e) = agent
                .ack_message(&conn_id, msg_id, receipt.as_deref())
                .await
            {
                agent.inner.emit(conn_id, Event::Err(format!("ACK: {e}")));
            }
        });
    }

    /// Acknowledges a received message (`MSG`) or receipt message (`RCVD`): the server may
    /// deliver the next one. With `receipt`, a delivery receipt carrying that info is sent
    /// to the peer (agent v4+); asking for one on anything but a message is refused
    /// (`Prohibited`) before anything is acknowledged.
    pub async fn ack_message(
        &self,
        conn_id: &[u8],
        msg_id: i64,
        receipt: Option<&[u8]>,
    ) -> Result<(), AgentError> {
        let inner = &self.inner;
        if receipt.is_none() {
            if let Some(u) = inner.take_unacked(conn_id, msg_id) {
                return inner.ack_kept(conn_id, msg_id, u).await;
            }
        }
        // One store hop: read, and marked acknowledged at once when it may be. The relay's
        // copy was stored when it arrived, so marking before the server's `ACK` loses
        // nothing: should that `ACK` not get through, the relay delivers the message again
        // and it is acknowledged then as one seen before (`on_seen_before`).
        let id = conn_id.to_vec();
        let wants_receipt = receipt.is_some();
        let (conn, rqs, msg) = inner
            .db(move |s| {
                let (conn, rqs, msg) = (
                    s.conn(&id)?,
                    s.all_rcv_queues(&id)?,
                    s.rcv_msg(&id, msg_id)?,
                );
                if let (Some(_), Some(m)) = (&conn, &msg) {
                    if !m.acked && (!wants_receipt || m.kind == RcvMsgKind::Message) {
                        s.apply(vec![Write::AckRcvMsg(id, msg_id)])?;
                    }
                }
                Ok((conn, rqs, msg))
            })
            .await?;
        if rqs.is_empty() {
            return Err(AgentError::NoConnection);
        }
        let conn = conn.ok_or(AgentError::NoConnection)?;
        let msg = msg.ok_or(AgentError::Prohibited("no such message"))?;
        if receipt.is_some() && msg.kind != RcvMsgKind::Message {
            return Err(AgentError::Prohibited("receipt not allowed"));
        }
        if msg.acked {
            return Ok(());
        }
        // The queue it came on; a queue a switch has deleted since needs no ACK.
        let rq = match &msg.rcv_id {
            Some(q) => rqs.iter().find(|r| &r.rcv_id == q),
            None => rqs.first(),
        };
        if let Some(rq) = rq {
            match inner.ack_server(rq, &msg.srv_msg_id).await {
                // Deleted by the switch meanwhile.
                Err(AgentError::Smp {
                    error: ClientError::Server(ErrorType::Auth),
                    ..
                }) if rq.switch_status.is_some() => {}
                Ok(()) => {}
                Err(e) => {
                    // Not acknowledged after all: the application may try again.
                    let id = conn_id.to_vec();
                    let body = msg.body.clone();
                    let _ = inner
                        .db(move |s| s.apply(vec![Write::UnackRcvMsg(id, msg_id, body)]))
                        .await;
                    return Err(e);
                }
            }
        }
        let _g = inner.lock.lock().await;
        if let Some(info) = receipt {
            if conn.agent_version >= DELIVERY_RCPTS_AGENT_VERSION.0 {
                let r = AMessageReceipt {
                    agent_msg_id: msg.ext_snd_id,
                    msg_hash: msg.hash.clone(),
                    rcpt_info: info.to_vec(),
                };
                inner
                    .enqueue(conn_id, AMessage::ARcvd(vec![r]), SndMsgKind::Receipt)
                    .await?;
            }
        }
        Ok(())
    }
}

impl Inner {
    pub(super) async fn ack_server(
        self: &Arc<Self>,
        rq: &RcvQueueRecord,
        srv_msg_id: &[u8],
    ) -> Result<(), AgentError> {
        let client = self.client(&rq.server, &rq.conn_id).await?;
        match client.ack(&rq.rcv_key, &rq.rcv_id, srv_msg_id).await {
            Ok(()) | Err(ClientError::Server(ErrorType::NoMsg)) => Ok(()),
            Err(e) => Err(smp_err(&rq.server, e)),
        }
    }

    /// `SUB` again on a queue after `retry_max`: the relay delivers again the message left
    /// unacknowledged after a temporary failure (say `KEY` on a switch's new queue whose
    /// relay is down).
    fn fetch_again_later(self: &Arc<Self>, rq: &RcvQueueRecord) {
        let inner = Arc::downgrade(self);
        let rq = rq.clone();
        let delay = self.config.retry_max;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(inner) = inner.upgrade() else { return };
            if inner.stopped() {
                return;
            }
            if let Ok(client) = inner.client(&rq.server, &rq.conn_id).await {
                let _ = client.subscribe(&rq.rcv_key, &rq.rcv_id).await;
            }
        });
    }

    /// A message from a receive queue (`processSMPTransmission`, `MSG`).
    pub(super) async fn on_msg(
        self: &Arc<Self>,
        conn_id: &[u8],
        rcv_id: &[u8],
        m: RcvMessage,
    ) -> Result<(), AgentError> {
        let g = self.lock.lock().await;
        let processed = self.process_msg(conn_id, rcv_id, m, true).await;
        drop(g);
        match processed? {
            Some(p) => self.finish_msg(p).await,
            None => Ok(()),
        }
    }

    /// Messages that one session's reader delivered together, each on another connection
    /// (the caller's invariant): processed at once under one hold of the agent's lock, so
    /// that their store calls reach the store's thread together and commit in one
    /// transaction (each message's writes still all or nothing, by its savepoint; none
    /// reported before the commit), then their `ACK`s where due. One message going wrong
    /// affects only itself: its error is reported on its connection, as [`Inner::on_msg`]'s
    /// caller does.
    pub(super) async fn on_msgs(self: &Arc<Self>, msgs: Vec<(ConnId, Vec<u8>, RcvMessage)>) {
        let g = self.lock.lock().await;
        let mut processing = JoinSet::new();
        for (conn_id, rcv_id, m) in msgs {
            let inner = self.clone();
            processing.spawn(async move {
                let p = inner.process_msg(&conn_id, &rcv_id, m, false).await;
                (conn_id, p)
            });
        }
        let mut processed = Vec::new();
        while let Some(done) = processing.join_next().await {
            // A task that panicked lost its message, as a panic of `on_msg` would have.
            if let Ok(done) = done {
                processed.push(done);
            }
        }
        drop(g);
        let mut acks = JoinSet::new();
        for (conn_id, p) in processed {
            match p {
                Ok(None) => {}
                Ok(Some(p)) => {
                    let inner = self.clone();
                    acks.spawn(async move {
                        if let Err(e) = inner.finish_msg(p).await {
                            inner.emit(conn_id, Event::Err(e.to_string()));
                        }
                    });
                }
                Err(e) => self.emit(conn_id, Event::Err(e.to_string())),
            }
        }
        while acks.join_next().await.is_some() {}
    }

    /// A message's processing, under the agent's lock: read, decrypted, stored and
    /// reported; `None` when its connection or queue is gone. The common message (see
    /// module `one_hop`) takes one store call, all of it in one go; anything else continues
    /// here from what that call read. Either way, a ratchet step's sending half left
    /// pending is taken right after, in the background, before a reply needs it
    /// ([`Inner::step_ahead`]). `here`: the call may run in this thread when the store's
    /// thread is idle (a message alone; messages that came together go to the thread, to
    /// commit together).
    async fn process_msg(
        self: &Arc<Self>,
        conn_id: &[u8],
        rcv_id: &[u8],
        m: RcvMessage,
        here: bool,
    ) -> Result<Option<Processed>, AgentError> {
        let (id, rid, ratchet_keys) =
            (conn_id.to_vec(), rcv_id.to_vec(), self.ratchet_keys.clone());
        // A message stored in one call is reported once committed, from the thread that ran
        // the call: the application hears of it without a hop back here first.
        let (agent, cid) = (Arc::downgrade(self), conn_id.to_vec());
        let report = move |hop: &mut Hop| {
            if let (Hop::Stored(stored), Some(agent)) = (hop, agent.upgrade()) {
                agent.report_stored(&cid, stored);
            }
        };
        let hop = move |s: &mut dyn Store| one_hop::receive(s, &*ratchet_keys, &id, &rid, m);
        let hop = match here {
            true => Ok(self.store.call_then_here(hop, report).await?),
            false => self.db_then(hop, report).await,
        }?;
        let Careful {
            conn,
            rq,
            sq,
            keys,
            m,
        } = match hop {
            Hop::Gone => return Ok(None),
            Hop::Stored(stored) => {
                if stored.step_pending {
                    self.step_ahead(conn_id);
                }
                return Ok(Some(self.after_one_hop(conn_id, *stored)));
            }
            Hop::Careful(c) => *c,
        };
        let srv_msg_id = m.msg_id.as_slice().to_vec();
        let result = match decrypt_message(&rq.rcv_dh_secret, &m) {
            // Not for this queue's key: acknowledged, and reported.
            Err(e) => Err(smp_err(&rq.server, e)),
            Ok(RcvMsgBody::Quota { .. }) => {
                if sq.is_some() {
                    let addr = SndQAddr {
                        server: rq.server.clone(),
                        sender_id: rq.snd_id.clone(),
                    };
                    let _ = self
                        .enqueue(conn_id, AMessage::AQCont(addr), SndMsgKind::QCont)
                        .await;
                }
                Ok(AckMode::Now)
            }
            Ok(RcvMsgBody::Data { body, .. }) => {
                let done = self
                    .on_data(conn, rq.clone(), sq, &srv_msg_id, &body, keys)
                    .await;
                // A handshake's message may have taken a step too (a no-op when not).
                self.step_ahead(conn_id);
                done
            }
        };
        Ok(Some(Processed {
            rq,
            srv_msg_id,
            result,
        }))
    }

    /// Takes a connection's pending ratchet step, if any, in the store's thread after the
    /// calls already there got their results (`one_hop::complete_ratchet_step`): a step's
    /// sending half costs an X448 agreement that the received message need not wait for,
    /// and that the next encryption (a reply, or a fan-out's send) would otherwise take.
    fn step_ahead(&self, conn_id: &[u8]) {
        let id = conn_id.to_vec();
        self.store
            .submit_lazy(move |s| one_hop::complete_ratchet_step(s, &id));
    }

    /// A message stored in one hop, in the store's thread once committed: kept for the
    /// application's acknowledgement, then reported (as `on_ratchet_message` does after its
    /// write). Its events and what its acknowledgement needs are taken out.
    fn report_stored(&self, conn_id: &[u8], stored: &mut Stored) {
        if let Some((msg_id, u)) = stored.unacked.take() {
            self.keep_unacked(conn_id, msg_id, u);
        }
        for e in std::mem::take(&mut stored.events) {
            self.emit(conn_id.to_vec(), e);
        }
    }

    /// After a message stored in one hop and reported ([`Inner::report_stored`]).
    fn after_one_hop(self: &Arc<Self>, conn_id: &[u8], stored: Stored) -> Processed {
        let Stored {
            rq,
            srv_msg_id,
            ack,
            ..
        } = stored;
        // Its queue replaces no other (module `one_hop`).
        self.after_old_queue_msg(conn_id);
        Processed {
            rq,
            srv_msg_id,
            result: Ok(ack),
        }
    }

    /// After a message's processing, outside the agent's lock: its `ACK` when due now.
    async fn finish_msg(self: &Arc<Self>, p: Processed) -> Result<(), AgentError> {
        let Processed {
            rq,
            srv_msg_id,
            result,
        } = p;
        let acked = match &result {
            Ok(AckMode::Later) => Ok(()),
            // Nothing was stored: the message is processed again when it comes again (after
            // a restart, or fetched again after a while).
            Err(AgentError::Stopped) => Ok(()),
            Err(AgentError::Smp { error, .. }) if error.is_temporary() => {
                self.fetch_again_later(&rq);
                Ok(())
            }
            _ => self.ack_server(&rq, &srv_msg_id).await,
        };
        // An ACK lost with the connection is harmless: the message comes again after
        // resubscribing and is recognised by its stored hash.
        match acked {
            Err(AgentError::Smp { error, .. }) if error.is_temporary() => {}
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        result.map(|_| ())
    }

    /// A message's data: the per-queue layer tells what it is. A confirmation (to a
    /// connection) or an invitation (to an address) carries the sender's e2e key in its
    /// clear header, the queue having no shared secret yet; every later message is boxed
    /// with the secret agreed then and carries a ratchet-encrypted agent message.
    pub(super) async fn on_data(
        self: &Arc<Self>,
        conn: ConnRecord,
        rq: RcvQueueRecord,
        sq: Option<SndQueueRecord>,
        srv_msg_id: &[u8],
        body: &[u8],
        keys: RatchetKeys,
    ) -> Result<AckMode, AgentError> {
        let env: ClientMsgEnvelope =
            decode_all(body).map_err(|_| AgentError::Message("client envelope"))?;
        if let (true, Some(k)) = (rq.extra, env.header.e2e_pub_dh_key) {
            return self.on_extra_queue_key(rq, k, &env).await;
        }
        match (env.header.e2e_pub_dh_key, rq.e2e_dh_secret.clone()) {
            (Some(_), Some(_)) => Ok(AckMode::Now), // a repeated confirmation
            (None, None) => Err(AgentError::Message("no keys")),
            (Some(pub_key), None) => self.on_first_envelope(conn, rq, sq, pub_key, env).await,
            (None, Some(secret)) => match open_message_envelope(&secret, &env)? {
                AgentMsgEnvelope::Message {
                    enc_agent_message, ..
                } => {
                    self.on_ratchet_message(conn, rq, sq, srv_msg_id, enc_agent_message, keys)
                        .await
                }
                AgentMsgEnvelope::RatchetKey { e2e_encryption, .. } => {
                    self.on_ratchet_key(conn, sq, e2e_encryption).await
                }
                _ => Err(AgentError::Message("not a message envelope")),
            },
        }
    }

    /// A confirmation or an invitation: opened with the sender's e2e key from the clear
    /// header, then handed to the handshake (module `connect`).
    async fn on_first_envelope(
        self: &Arc<Self>,
        conn: ConnRecord,
        rq: RcvQueueRecord,
        sq: Option<SndQueueRecord>,
        pub_key: PublicKeyX25519,
        env: ClientMsgEnvelope,
    ) -> Result<AckMode, AgentError> {
        let secret = dh_x25519(&pub_key, &rq.e2e_priv_key);
        let plain = cb_decrypt(&secret, &env.nonce, &env.enc_body).map_err(crypto_err)?;
        let cm: ClientMessage =
            decode_all(&plain).map_err(|_| AgentError::Message("client message"))?;
        let ae: AgentMsgEnvelope =
            decode_all(&cm.body).map_err(|_| AgentError::Message("agent envelope"))?;
        let sender_key = match cm.header {
            PrivHeader::Confirmation(k) => Some(k),
            PrivHeader::Empty => None,
        };
        match (conn.kind, ae) {
            (
                ConnKind::Contact,
                AgentMsgEnvelope::Invitation {
                    conn_req,
                    conn_info,
                    ..
                },
            ) => self.on_invitation(conn.conn_id, conn_req, conn_info).await,
            (
                ConnKind::Duplex,
                AgentMsgEnvelope::Confirmation {
                    agent_version,
                    e2e_encryption,
                    enc_conn_info,
                },
            ) => {
                if conn.status != ConnStatus::New {
                    return Err(AgentError::Message("confirmation in active connection"));
                }
                let conf = Confirmation {
                    e2e_pub_key: pub_key,
                    sender_key,
                    smp_client_version: env.header.version,
                    agent_version,
                    enc_conn_info,
                };
                self.on_confirmation(conn, rq, sq, conf, e2e_encryption)
                    .await
            }
            _ => Err(AgentError::Message("unexpected envelope")),
        }
    }

    /// A ratchet-encrypted agent message: decrypted, checked against the previous one
    /// (number and hash), stored with the ratchet's new state in one batch, then reported.
    async fn on_ratchet_message(
        self: &Arc<Self>,
        mut conn: ConnRecord,
        mut rq: RcvQueueRecord,
        sq: Option<SndQueueRecord>,
        srv_msg_id: &[u8],
        enc_agent_message: Vec<u8>,
        (ratchet, skipped): RatchetKeys,
    ) -> Result<AckMode, AgentError> {
        let conn_id = conn.conn_id.clone();
        let enc_hash = enc_msg_hash(&enc_agent_message);
        let ratchet = ratchet.ok_or(AgentError::Message("no ratchet"))?;
        // Before this message: a receiving ratchet made by re-synchronisation answers EREADY.
        let could_send = ratchet.can_send();
        let d = match ratchet.decrypt_with_keys(
            &skipped,
            &enc_agent_message,
            &mut OsRng,
            &*self.ratchet_keys,
        ) {
            Ok(d) => d,
            Err(e) => {
                // Stored before this hash was of the message's identifying part: the whole
                // message's.
                let hashes = [enc_hash, sha256(&enc_agent_message).to_vec()];
                return self
                    .on_seen_before(conn, &rq.rcv_id, srv_msg_id, hashes, e)
                    .await;
            }
        };
        let AgentMessage::Message { header, message } =
            decode_all(&d.plaintext).map_err(|_| AgentError::Message("agent message"))?
        else {
            return Err(AgentError::Message("not an agent message"));
        };
        if self.defer_on_new_queue(&conn, &rq, header.snd_msg_id) {
            return Ok(AckMode::Later);
        }
        let hash = sha256(&d.plaintext).to_vec();
        let integrity = MsgIntegrity::check(
            conn.last_rcv_ext_id,
            &conn.last_rcv_hash,
            header.snd_msg_id,
            &header.prev_msg_hash,
        );
        let prev_rcv_ext_id = conn.last_rcv_ext_id;
        conn.last_internal_id += 1;
        conn.last_rcv_ext_id = header.snd_msg_id;
        conn.last_rcv_hash = hash.clone();
        let internal_id = conn.last_internal_id;
        // The queue's row is written only when it changes (a page less per message).
        let rq_stored = rq.clone();
        state::message_received(&mut rq);
        let mut r = Received {
            writes: vec![
                Write::PutRatchet(conn_id.clone(), d.ratchet),
                Write::Skipped(conn_id.clone(), d.diff),
            ],
            events: state::sync_healed(&mut conn).into_iter().collect(),
            reply_hello: false,
            reply_ready: false,
            could_send,
            switch: None,
            ack: AckMode::Now,
            record: RcvMsgRecord {
                conn_id: conn_id.clone(),
                internal_id,
                ext_snd_id: header.snd_msg_id,
                hash: hash.clone(),
                enc_hash: enc_hash.clone(),
                srv_msg_id: srv_msg_id.to_vec(),
                rcv_id: Some(rq.rcv_id.clone()),
                body: Vec::new(),
                integrity: integrity.to_string(),
                acked: true,
                kind: RcvMsgKind::Other,
            },
        };
        let meta = MsgMeta {
            msg_id: internal_id,
            snd_msg_id: header.snd_msg_id,
            integrity,
        };
        self.on_agent_message(&mut conn, message, meta, &mut r)
            .await?;
        let Received {
            mut writes,
            events,
            reply_hello,
            reply_ready,
            ack,
            record,
            switch,
            ..
        } = r;
        // `KEY` for a new queue goes before anything is stored (module `switch`).
        let qkey = match &switch {
            Some(AMessage::QKey(keys)) => Some(self.secure_new_queue(&conn_id, keys).await?),
            _ => None,
        };
        let replaced = self.on_new_queue_msg(&mut rq, &mut writes).await?;
        let rq_is_old = rq.replaces.is_none();
        let unacked = (record.kind == RcvMsgKind::Message && !record.acked).then(|| {
            let u = Unacked {
                rq: rq.clone(),
                srv_msg_id: record.srv_msg_id.clone(),
                body: record.body.clone(),
            };
            (record.internal_id, u)
        });
        writes.push(Write::PutRcvMsg(record));
        writes.push(Write::PutConn(conn));
        if rq != rq_stored {
            writes.push(Write::PutRcvQueue(rq));
        }
        self.db(move |s| s.apply(writes)).await?;
        if let Some((msg_id, u)) = unacked {
            self.keep_unacked(&conn_id, msg_id, u);
        }
        if let Some(old) = replaced {
            self.spawn_delete_replaced(conn_id.clone(), old);
        }
        if rq_is_old {
            self.after_old_queue_msg(&conn_id);
        }
        for e in events {
            self.emit(conn_id.clone(), e);
        }
        if reply_hello && sq.is_some() {
            self.enqueue(&conn_id, AMessage::Hello, SndMsgKind::Hello)
                .await?;
        }
        if reply_ready && sq.is_some() {
            let ready = AMessage::EReady(prev_rcv_ext_id);
            self.enqueue(&conn_id, ready, SndMsgKind::EReady).await?;
        }
        match switch {
            Some(AMessage::QAdd(qs)) => self.on_qadd(&conn_id, qs).await?,
            Some(AMessage::QUse(qs)) => self.on_quse(&conn_id, qs).await?,
            _ => {}
        }
        if let Some(done) = qkey {
            self.on_qkey(&conn_id, done).await?;
        }
        Ok(ack)
    }

    /// What an agent message means: `HELLO` moves the handshake on (module `state`),
    /// `A_MSG` and `A_RCVD` are reported and acknowledged by the application, `A_QCONT`
    /// wakes the delivery task.
    async fn on_agent_message(
        self: &Arc<Self>,
        conn: &mut ConnRecord,
        message: AMessage,
        meta: MsgMeta,
        r: &mut Received,
    ) -> Result<(), AgentError> {
        match message {
            AMessage::Hello => {
                r.record.kind = RcvMsgKind::Hello;
                match state::hello_received(conn) {
                    HelloReceived::Reply => r.reply_hello = true,
                    HelloReceived::Connected(e) => r.events.push(e),
                    HelloReceived::Nothing => {}
                }
            }
            AMessage::AMsg(body) => {
                r.record.kind = RcvMsgKind::Message;
                r.record.body = body.clone();
                r.record.acked = false;
                r.events.push(Event::Msg { meta, body });
                r.ack = AckMode::Later;
            }
            AMessage::ARcvd(rcpts) => {
                r.record.kind = RcvMsgKind::Receipt;
                let receipts = self
                    .on_receipts(
                        &conn.conn_id,
                        meta.msg_id,
                        rcpts,
                        &mut r.writes,
                        &mut r.events,
                    )
                    .await?;
                if !receipts.is_empty() {
                    r.record.acked = false;
                    r.events.push(Event::Rcvd { meta, receipts });
                    r.ack = AckMode::Later;
                }
            }
            AMessage::AQCont(_) => {
                r.record.kind = RcvMsgKind::QCont;
                self.wake_worker(&conn.conn_id);
                r.events.push(Event::QCont);
            }
            // The peer's new sending ratchet is in use; a receiving one made here answers.
            AMessage::EReady(_) => r.reply_ready = !r.could_send,
            // Queue rotation, acted on once this message is stored (module `switch`);
            // `QTEST` only tests the new queue.
            m @ (AMessage::QAdd(_) | AMessage::QKey(_) | AMessage::QUse(_)) => {
                if conn.kind != ConnKind::Duplex {
                    return Err(AgentError::Queue("not duplex"));
                }
                r.switch = Some(m);
            }
            AMessage::QTest(_) => {}
        }
        Ok(())
    }

    /// A message the ratchet cannot decrypt because its key is gone: a message seen before.
    /// The server's redelivery of the connection's last message that the application has
    /// not acknowledged yet (its ACK was never sent, say before a restart) is reported
    /// again from the stored copy; its redelivery under the same server ID otherwise (the
    /// application acknowledged it, or it is not the last one) is acknowledged silently
    /// (`getLastMsg`). A copy under another server ID is a replay (or a resend by the
    /// sender): it is acknowledged and reported as `A_DUPLICATE` (silently with redundant
    /// queues, where a moved message repeats a copy), where the reference drops it silently
    /// (`checkRcvMsgHashExists`). A message the ratchet calls a duplicate whose
    /// hash is unknown is reported as `A_DUPLICATE` too, as the reference does
    /// (`checkDuplicateHash`). An unknown message that the ratchets being out of step
    /// explains raises `RSYNC` (module `sync`); any other decryption error is the caller's.
    /// The stored message is looked up by each of `hashes` in turn ([`enc_msg_hash`], then
    /// the whole message's, as earlier versions stored it).
    async fn on_seen_before(
        self: &Arc<Self>,
        conn: ConnRecord,
        rcv_id: &[u8],
        srv_msg_id: &[u8],
        hashes: [Vec<u8>; 2],
        e: RatchetError,
    ) -> Result<AckMode, AgentError> {
        let conn_id = conn.conn_id.clone();
        let id = conn_id.clone();
        let stored = self
            .db(move |s| {
                for h in &hashes {
                    if let Some(r) = s.rcv_msg_by_enc_hash(&id, h)? {
                        return Ok(Some(r));
                    }
                }
                Ok(None)
            })
            .await?;
        match stored {
            Some(r) if r.srv_msg_id == srv_msg_id => {
                if !r.acked && r.internal_id == conn.last_internal_id {
                    self.redeliver(conn_id, r).await
                } else {
                    Ok(AckMode::Now)
                }
            }
            // The same message on the other queue of a switch: the reference sends every
            // message to both queues once the new one is secured.
            Some(r) if r.rcv_id.as_deref().is_some_and(|q| q != rcv_id) => Ok(AckMode::Now),
            // With redundant queues, a message whose copy came here first comes again when
            // its sender moves it here from a queue whose relay died (module `redundant`):
            // dropped silently, as the reference drops every repeat.
            Some(_) if self.redundant() => Ok(AckMode::Now),
            Some(r) => {
                self.emit(
                    conn_id,
                    Event::Duplicate {
                        msg_id: Some(r.internal_id),
                    },
                );
                Ok(AckMode::Now)
            }
            None if matches!(e, RatchetError::DuplicateMessage) => {
                self.emit(conn_id, Event::Duplicate { msg_id: None });
                Ok(AckMode::Now)
            }
            None => match sync_error_of(&e) {
                Some(ce) => {
                    self.on_sync_error(conn, ce).await?;
                    Ok(AckMode::Now)
                }
                None => Err(crypto_err(e)),
            },
        }
    }

    /// Delivery receipts (`A_RCVD`) for messages this side sent, matched in one store hop
    /// ([`match_receipts`]). Returns the receipts to report; the updated sent messages go
    /// into `writes`, receipts for unknown or non-message IDs into `events` as errors.
    async fn on_receipts(
        self: &Arc<Self>,
        conn_id: &[u8],
        internal_id: i64,
        rcpts: Vec<AMessageReceipt>,
        writes: &mut Vec<Write>,
        events: &mut Vec<Event>,
    ) -> Result<Vec<MsgReceipt>, AgentError> {
        let id = conn_id.to_vec();
        let (receipts, w, e) = self
            .db(move |s| {
                let (mut w, mut e) = (Vec::new(), Vec::new());
                let r = match_receipts(s, &id, internal_id, rcpts, &mut w, &mut e)?;
                Ok((r, w, e))
            })
            .await?;
        writes.extend(w);
        events.extend(e);
        Ok(receipts)
    }

    /// Reports again the connection's last received message, which the server delivered
    /// again under the same ID before the application acknowledged it: a message from its
    /// stored copy, receipts from what they recorded.
    pub(super) async fn redeliver(
        self: &Arc<Self>,
        conn_id: ConnId,
        r: RcvMsgRecord,
    ) -> Result<AckMode, AgentError> {
        let meta = MsgMeta {
            msg_id: r.internal_id,
            snd_msg_id: r.ext_snd_id,
            integrity: MsgIntegrity::parse(&r.integrity).unwrap_or(MsgIntegrity::Ok),
        };
        match r.kind {
            RcvMsgKind::Message => {
                self.emit(conn_id, Event::Msg { meta, body: r.body });
                Ok(AckMode::Later)
            }
            RcvMsgKind::Receipt => {
                let id = conn_id.clone();
                let sent = self
                    .db(move |s| s.snd_msgs_by_receipt(&id, r.internal_id))
                    .await?;
                let receipts: Vec<MsgReceipt> = sent
                    .iter()
                    .filter_map(|m| {
                        m.receipt.map(|rc| MsgReceipt {
                            msg_id: m.internal_id,
                            status: rc.status,
                        })
                    })
                    .collect();
                if receipts.is_empty() {
                    return Ok(AckMode::Now);
                }
                self.emit(conn_id, Event::Rcvd { meta, receipts });
                Ok(AckMode::Later)
            }
            _ => Ok(AckMode::Now),
        }
    }
}

/// A message processed under the agent's lock, its `ACK` still to decide.
pub(super) struct Processed {
    /// The queue it came on.
    rq: RcvQueueRecord,
    /// The relay's ID of it.
    srv_msg_id: Vec<u8>,
    /// What processing it gave: when to acknowledge it, or why it failed.
    result: Result<AckMode, AgentError>,
}

/// What one received agent message leads to: written in one batch with the ratchet's new
/// state, then reported.
struct Received {
    /// The ratchet's step, and sent messages updated by receipts.
    writes: Vec<Write>,
    /// To report once written.
    events: Vec<Event>,
    /// The message as stored.
    record: RcvMsgRecord,
    /// When the server's copy is acknowledged.
    ack: AckMode,
    /// Whether this side answers with `HELLO`.
    reply_hello: bool,
    /// Whether this side answers with `EREADY`.
    reply_ready: bool,
    /// Whether the ratchet could send before this message.
    could_send: bool,
    /// A queue rotation message to act on once this one is stored.
    switch: Option<AMessage>,
}

/// Delivery receipts (`A_RCVD`) for messages this side sent, in the store's thread: each is
/// matched to its message by the sender's ID and its hash compared; a receipt already
/// reported `OK` is not reported again. Returns the receipts to report; the updated sent
/// messages go into `writes`, receipts for unknown or non-message IDs into `events` as
/// errors.
pub(super) fn match_receipts(
    s: &mut dyn Store,
    conn_id: &[u8],
    internal_id: i64,
    rcpts: Vec<AMessageReceipt>,
    writes: &mut Vec<Write>,
    events: &mut Vec<Event>,
) -> Result<Vec<MsgReceipt>, StoreError> {
    let mut receipts = Vec::new();
    for r in rcpts {
        match s.snd_msg_by_snd_id(conn_id, r.agent_msg_id)? {
            None => events.push(Event::Err(format!(
                "receipt for an unknown message {}",
                r.agent_msg_id
            ))),
            Some(sent) if sent.kind != SndMsgKind::Message => {
                events.push(Event::Err("receipt: not a message".into()))
            }
            // Reported already.
            Some(SndMsgRecord {
                receipt:
                    Some(SndMsgReceipt {
                        status: MsgReceiptStatus::Ok,
                        ..
                    }),
                ..
            }) => {}
            Some(sent) => {
                let status = if sent.hash == r.msg_hash {
                    MsgReceiptStatus::Ok
                } else {
                    MsgReceiptStatus::BadMsgHash
                };
                let receipt = SndMsgReceipt {
                    rcv_msg_id: internal_id,
                    status,
                };
                receipts.push(MsgReceipt {
                    msg_id: sent.internal_id,
                    status,
                });
                // Only the receipt: the message may have been marked sent meanwhile
                // (`on_sent` does not wait for this connection's lock).
                writes.push(Write::SetSndMsgReceipt(
                    sent.conn_id,
                    sent.internal_id,
                    receipt,
                ));
            }
        }
    }
    Ok(receipts)
}

/// The hash a received ratchet message is known by (`encrypted_msg_hash`), to tell it when
/// it comes again: of its header and its body's authentication tag
/// ([`simplex_ratchet::message_id_part`]), which identify it, not of the whole padded
/// message (~16 KB, ~8 µs of SHA-256 on the receiving chain). Bytes that do not parse as a
/// ratchet message are hashed whole.
pub(super) fn enc_msg_hash(enc_agent_message: &[u8]) -> Vec<u8> {
    let part = simplex_ratchet::message_id_part(enc_agent_message).unwrap_or(enc_agent_message);
    sha256(part).to_vec()
}

/// The per-queue layer of a message after the confirmation: the agent envelope inside (a
/// ratchet-encrypted message, or new ratchet keys).
pub(super) fn open_message_envelope(
    secret: &DhSecretX25519,
    env: &ClientMsgEnvelope,
) -> Result<AgentMsgEnvelope, AgentError> {
    let plain = cb_decrypt(secret, &env.nonce, &env.enc_body).map_err(crypto_err)?;
    let cm: ClientMessage =
        decode_all(&plain).map_err(|_| AgentError::Message("client message"))?;
    decode_all(&cm.body).map_err(|_| AgentError::Message("agent envelope"))
}
