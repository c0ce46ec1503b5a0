//! Queue commands in the core: `NEW` (creating a queue) and the commands on an existing
//! queue by its recipient, sender or notifier.

use rand_core::{CryptoRng, RngCore};
use simplex_crypto::{dh_x25519, PrivateKeyX25519};

use crate::msg_store::{Message, MessageKind};
use crate::stats::{add, inc};
use crate::store::{
    EntityId, NtfCreds, Party, QueueLink, QueueMode, QueueRecord, QueueStatus, StoreError,
};

use super::{
    link_reply, sender_id_matches, Cmd, Core, ErrorKind, NewQueue, Outgoing, QueueInfo, Reply,
    Request, Session, Sub,
};

impl Core {
    // Over ~100 lines: the steps of `NEW` in order (ID rules, link, notifier, store, subscribe,
    // reply), each short; splitting them would pass most of the queue around.
    pub(super) fn create_queue<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        corr_id: &[u8],
        new: NewQueue,
        out: &mut Vec<Outgoing>,
    ) -> Result<Reply, ErrorKind> {
        let NewQueue {
            rcv_auth_key,
            rcv_dh_key,
            subscribe,
            queue_mode,
            link,
            ntf,
        } = new;
        // IDs chosen by the client: the sender ID must be derived from the correlation ID, so
        // that creating a queue cannot tell whether some other queue's ID exists.
        if let Some(l) = &link {
            if !sender_id_matches(corr_id, &l.snd_id) {
                return Err(ErrorKind::Prohibited);
            }
        }
        let client_ids = link.is_some();
        let ours = PrivateKeyX25519::generate(rng);
        let rcv_dh_secret = dh_x25519(&rcv_dh_key, &ours);
        // v17: the notifier with the queue, with its own server DH key.
        let ntf_keys = ntf.map(|(notifier_key, rcv_ntf_dh_key)| {
            let srv = PrivateKeyX25519::generate(rng);
            (
                notifier_key,
                dh_x25519(&rcv_ntf_dh_key, &srv),
                srv.public_key(),
            )
        });
        for _ in 0..3 {
            let rcv_id = self.random_id(rng);
            let (snd_id, link) = match &link {
                Some(l) => {
                    let link_id = match &l.link_id {
                        Some(id) => id.clone(),
                        None => self.random_id(rng),
                    };
                    let ql = QueueLink {
                        link_id,
                        fixed: l.fixed.clone(),
                        user: l.user.clone(),
                    };
                    (l.snd_id.clone(), Some(ql))
                }
                None => (self.random_id(rng), None),
            };
            let link_id = link.as_ref().map(|l| l.link_id.clone());
            let notifier = ntf_keys.as_ref().map(|(key, secret, _)| NtfCreds {
                notifier_id: self.random_id(rng),
                notifier_key: key.clone(),
                rcv_ntf_dh_secret: secret.clone(),
                ntf_service: None,
            });
            let ntf_reply = notifier
                .as_ref()
                .zip(ntf_keys.as_ref())
                .map(|(n, (_, _, srv_pub))| (n.notifier_id.clone(), *srv_pub));
            let record = QueueRecord {
                recipient_id: rcv_id.clone(),
                recipient_keys: vec![rcv_auth_key.clone()],
                rcv_dh_secret: rcv_dh_secret.clone(),
                sender_id: snd_id.clone(),
                sender_key: None,
                queue_mode,
                link,
                notifier,
                status: QueueStatus::Active,
                updated_at: Some(now - now.rem_euclid(86_400)),
                rcv_service: session.service.as_ref().map(|s| s.id.clone()),
            };
            match self.queues.add(record) {
                Ok(()) => {
                    inc(&self.stats.q_created);
                    inc(&self.stats.q_count);
                    if ntf_reply.is_some() {
                        inc(&self.stats.ntf_new_created);
                    }
                    if subscribe {
                        self.subscribe(session.client, &rcv_id, out);
                    }
                    let srv_dh_key = ours.public_key();
                    return Ok(Reply::Ids {
                        rcv_id,
                        snd_id,
                        srv_dh_key,
                        queue_mode,
                        link_id,
                        ntf: ntf_reply,
                        service_id: session.service.as_ref().map(|s| s.id.clone()),
                    });
                }
                // No retry with IDs the client chose.
                Err(StoreError::Duplicate | StoreError::IdLength) if client_ids => {
                    return Err(ErrorKind::Auth)
                }
                Err(StoreError::Duplicate) => continue,
                Err(_) => return Err(ErrorKind::Internal),
            }
        }
        Err(ErrorKind::Internal)
    }

    // Over ~100 lines: one match arm per command on an existing queue, each short; the match
    // is the dispatch table.
    pub(super) fn queue_command<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        rid: &EntityId,
        req: &mut Request,
        out: &mut Vec<Outgoing>,
    ) -> Result<Reply, ErrorKind> {
        let client = session.client;
        let push = |reply: Reply| Outgoing {
            client,
            corr_id: Vec::new(),
            entity_id: rid.clone(),
            reply,
        };
        match &mut req.cmd {
            Cmd::Sub => {
                let existing = self
                    .clients
                    .get(&client)
                    .and_then(|c| c.subs.get(rid))
                    .map(|s| s.get);
                match existing {
                    Some(true) => {
                        inc(&self.stats.q_sub_prohibited);
                        return Err(ErrorKind::Prohibited);
                    }
                    Some(false) => {
                        inc(&self.stats.q_sub_duplicate);
                        if let Some(s) = self
                            .clients
                            .get_mut(&client)
                            .and_then(|c| c.subs.get_mut(rid))
                        {
                            s.delivered = None;
                        }
                    }
                    None => self.subscribe(client, rid, out),
                }
                if let Some(msg) = self.deliver_first(client, rid)? {
                    if existing.is_none() {
                        inc(&self.stats.q_sub);
                    }
                    out.push(push(msg));
                }
                Ok(Reply::Sok(session.service.as_ref().map(|s| s.id.clone())))
            }
            Cmd::Get => {
                let state = self.clients.entry(client).or_default();
                let mut again = false;
                match state.subs.get_mut(rid) {
                    Some(s) if !s.get => {
                        inc(&self.stats.msg_get_prohibited);
                        return Err(ErrorKind::Prohibited);
                    }
                    Some(s) => again = s.delivered.take().is_some(),
                    None => {
                        state.subs.insert(
                            rid.clone(),
                            Sub {
                                get: true,
                                delivered: None,
                            },
                        );
                    }
                }
                match self.deliver_first(client, rid)? {
                    Some(msg) => {
                        inc(if again {
                            &self.stats.msg_get_duplicate
                        } else {
                            &self.stats.msg_get
                        });
                        Ok(msg)
                    }
                    None => {
                        inc(&self.stats.msg_get_no_msg);
                        Ok(Reply::Ok)
                    }
                }
            }
            Cmd::Ack(msg_id) => {
                let Some(sub) = self
                    .clients
                    .get_mut(&client)
                    .and_then(|c| c.subs.get_mut(rid))
                else {
                    return Err(ErrorKind::NoMsg);
                };
                // An empty ID matches the delivered message, but only the ID sent is
                // deleted: with an empty one nothing is, and the first message is sent again
                // (the reference compares the ACK's own ID with the queue's first message).
                match &sub.delivered {
                    Some(d) if d == msg_id || msg_id.is_empty() => {}
                    _ => return Err(ErrorKind::NoMsg),
                }
                sub.delivered = None;
                let get = sub.get;
                if let Some(Message {
                    kind: MessageKind::Message { notification, .. },
                    ..
                }) = self.msgs.delete_first(rid, msg_id)
                {
                    inc(&self.stats.msg_recv);
                    if get {
                        inc(&self.stats.msg_recv_get);
                    }
                    if notification {
                        inc(&self.stats.msg_recv_ntf);
                    }
                    add(&self.stats.msg_count, -1);
                }
                if get {
                    return Ok(Reply::Ok);
                }
                Ok(self.deliver_first(client, rid)?.unwrap_or(Reply::Ok))
            }
            Cmd::Key(k) => match self.queues.secure(rid, k.clone()) {
                Ok(()) => {
                    inc(&self.stats.q_secured);
                    Ok(Reply::Ok)
                }
                Err(StoreError::AlreadySecured) => Err(ErrorKind::Auth),
                Err(_) => Err(ErrorKind::Internal),
            },
            Cmd::SKey(k) => {
                let q = self
                    .queues
                    .find(Party::Recipient, rid)
                    .ok_or(ErrorKind::Auth)?;
                if !q.sender_can_secure() {
                    return Err(ErrorKind::Auth);
                }
                match self.queues.secure(rid, k.clone()) {
                    Ok(()) => {
                        inc(&self.stats.q_secured);
                        Ok(Reply::Ok)
                    }
                    Err(StoreError::AlreadySecured) => Err(ErrorKind::Auth),
                    Err(_) => Err(ErrorKind::Internal),
                }
            }
            Cmd::LKey(k) => {
                let k = k.clone();
                self.secure_by_link(rid, &k)
            }
            Cmd::LGet => {
                let q = self
                    .queues
                    .find(Party::Recipient, rid)
                    .ok_or(ErrorKind::Auth)?;
                if !q.is_contact() {
                    return Err(ErrorKind::Auth);
                }
                Ok(link_reply(q))
            }
            Cmd::LSet(link) => {
                let link = (**link).clone();
                self.set_link(rid, &link)
            }
            Cmd::LDel => {
                self.queues
                    .delete_link(rid)
                    .map_err(|_| ErrorKind::Internal)?;
                Ok(Reply::Ok)
            }
            Cmd::Send { notification, body } => {
                let notification = *notification;
                let body = std::mem::take(body);
                self.send(rng, now, session, rid, notification, body, out)
            }
            Cmd::Off => {
                self.queues.suspend(rid).map_err(|_| ErrorKind::Internal)?;
                Ok(Reply::Ok)
            }
            Cmd::Del => {
                let q = self.queues.delete(rid).map_err(|_| ErrorKind::Internal)?;
                inc(&self.stats.q_deleted_all);
                inc(if q.sender_key.is_none() {
                    &self.stats.q_deleted_new
                } else {
                    &self.stats.q_deleted_secured
                });
                add(&self.stats.q_count, -1);
                let gone = self.msgs.delete_queue(rid);
                self.count_msgs_gone(gone, false);
                if let Some(c) = self.clients.get_mut(&client) {
                    c.subs.remove(rid);
                }
                if let Some(sub) = self.subscribers.remove(rid) {
                    if let Some(c) = self.clients.get_mut(&sub) {
                        c.subs.remove(rid);
                    }
                    // DELD to a subscriber on another connection (END before v10).
                    if sub != client {
                        self.count_end();
                        out.push(Outgoing {
                            client: sub,
                            corr_id: Vec::new(),
                            entity_id: rid.clone(),
                            reply: Reply::Deld,
                        });
                    }
                }
                if let Some(n) = q.notifier {
                    self.drop_notifier(&n.notifier_id, n.ntf_service.as_deref(), client, out);
                }
                Ok(Reply::Ok)
            }
            Cmd::RKey(keys) => {
                let q = self
                    .queues
                    .find(Party::Recipient, rid)
                    .ok_or(ErrorKind::Auth)?;
                if q.queue_mode != Some(QueueMode::Contact) {
                    return Err(ErrorKind::Auth);
                }
                let keys = keys.clone();
                self.queues
                    .update_keys(rid, keys)
                    .map_err(|_| ErrorKind::Internal)?;
                Ok(Reply::Ok)
            }
            Cmd::Que => {
                let q = self
                    .queues
                    .find(Party::Recipient, rid)
                    .ok_or(ErrorKind::Auth)?;
                let sub = self
                    .clients
                    .get(&client)
                    .and_then(|c| c.subs.get(rid))
                    .map(|s| (s.get, s.delivered.clone()));
                Ok(Reply::Info(QueueInfo {
                    secured: q.sender_key.is_some(),
                    notifier: q.notifier.is_some(),
                    sub,
                    size: self.msgs.size(rid),
                    first: self
                        .msgs
                        .peek(rid)
                        .map(|m| (m.id.clone(), m.ts, m.kind == MessageKind::Quota)),
                }))
            }
            Cmd::NKey {
                notifier_key,
                rcv_ntf_dh_key,
            } => {
                let prev_service = self.ntf_service_of(rid);
                let ours = PrivateKeyX25519::generate(rng);
                let secret = dh_x25519(rcv_ntf_dh_key, &ours);
                let srv_ntf_dh_key = ours.public_key();
                for _ in 0..3 {
                    let notifier_id = self.random_id(rng);
                    let creds = NtfCreds {
                        notifier_id: notifier_id.clone(),
                        notifier_key: notifier_key.clone(),
                        rcv_ntf_dh_secret: secret.clone(),
                        ntf_service: None,
                    };
                    match self.queues.add_notifier(rid, creds) {
                        Ok(old) => {
                            inc(&self.stats.ntf_created);
                            if let Some(old) = old {
                                self.drop_notifier(&old, prev_service.as_deref(), client, out);
                            }
                            return Ok(Reply::Nid {
                                notifier_id,
                                srv_ntf_dh_key,
                            });
                        }
                        Err(StoreError::Duplicate) => continue,
                        Err(_) => return Err(ErrorKind::Internal),
                    }
                }
                Err(ErrorKind::Internal)
            }
            Cmd::NDel => {
                let prev_service = self.ntf_service_of(rid);
                if let Some(old) = self
                    .queues
                    .delete_notifier(rid)
                    .map_err(|_| ErrorKind::Internal)?
                {
                    inc(&self.stats.ntf_deleted);
                    self.drop_notifier(&old, prev_service.as_deref(), client, out);
                }
                Ok(Reply::Ok)
            }
            Cmd::NSub => {
                let nid = req.entity_id.clone();
                let prev_service = self.ntf_service_of(rid);
                if session.service.is_some() {
                    return self.service_nsub(session, rid, &nid, prev_service, out);
                }
                if let Some(p) = &prev_service {
                    self.dissociate_ntf_service(rid, &nid, p, client, out)?;
                }
                let prev = self.ntf_subscribers.insert(nid.clone(), client);
                inc(if prev == Some(client) {
                    &self.stats.ntf_sub_duplicate
                } else {
                    &self.stats.ntf_sub
                });
                if let Some(prev) = prev {
                    if prev != client {
                        self.count_end();
                        if let Some(c) = self.clients.get_mut(&prev) {
                            c.ntf_subs.remove(&nid);
                        }
                        out.push(Outgoing {
                            client: prev,
                            corr_id: Vec::new(),
                            entity_id: nid.clone(),
                            reply: Reply::End,
                        });
                    }
                }
                // Notifications kept while no notifier was subscribed, oldest first.
                self.push_kept_ntfs(client, &nid, out);
                self.clients.entry(client).or_default().ntf_subs.insert(nid);
                Ok(Reply::Sok(None))
            }
            Cmd::New { .. } | Cmd::Ping | Cmd::Subs | Cmd::NSubs => Err(ErrorKind::Internal),
        }
    }

    /// The notifier service the queue's notifier is associated with, if any.
    fn ntf_service_of(&self, rid: &[u8]) -> Option<EntityId> {
        self.queues
            .find_meta(Party::Recipient, rid)
            .and_then(|(q, _)| q.notifier)
            .and_then(|n| n.ntf_service)
    }
}
