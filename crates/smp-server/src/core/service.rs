//! Service sessions in the core (SMP v16; the reference's `verifyQueueTransmission`,
//! `subscribeNotifications`, `subscribeServiceNotifications` and its subscriber thread's
//! `CSClient`/`CSService` events).
//!
//! A notifier service (an NTF server with a TLS client certificate) subscribes a queue's
//! notifier with `NSUB` signed by both the notifier key and its session key: the queue is
//! associated with the service (logged as `QUEUE_SERVICE`) and its notifications go to the
//! session the service is subscribed on. After reconnecting, one `NSUBS` subscribes every
//! associated queue (`SOKS n`). A later session of the same service takes the subscription
//! over, and the earlier one gets `ENDS n`. `SUBS` (recipient services) is answered
//! `CMD PROHIBITED`, as the reference does.

use super::{Authorization, ClientId, Cmd, Core, ErrorKind, Outgoing, Reply, Request, Session};
use crate::stats::inc;
use crate::store::{EntityId, Party};
use crate::store_log::{ServiceParty, ServiceRecord};
use rand_core::{CryptoRng, RngCore};
use smp_proto::ServiceRole;
use std::borrow::Cow;

impl Cmd {
    /// The role a service session must have to send this command (`partyClientRole`).
    fn service_role(&self) -> Option<ServiceRole> {
        match self {
            Cmd::Ping => None,
            Cmd::NSub | Cmd::NSubs => Some(ServiceRole::Notifier),
            _ => Some(ServiceRole::Messaging),
        }
    }

    /// Commands that carry a service signature in a service session (`useServiceAuth`).
    fn uses_service_auth(&self) -> bool {
        matches!(self, Cmd::New { .. } | Cmd::Sub | Cmd::NSub)
    }
}

/// The bytes a queue key signs: in a service session, a service-signed command's key signs
/// the service's certificate hash before the transmission, so that another service cannot
/// reuse the signature.
pub(super) fn key_signed_bytes<'a>(session: &Session, req: &'a Request) -> Cow<'a, [u8]> {
    match (&session.service, &req.service_sig) {
        (Some(svc), Some(_)) => {
            let mut b = Vec::with_capacity(32 + req.authorized.len());
            b.extend_from_slice(&svc.cert_hash);
            b.extend_from_slice(&req.authorized);
            Cow::Owned(b)
        }
        _ => Cow::Borrowed(&req.authorized),
    }
}

/// `SUBS`/`NSUBS` are verified with the service's session key alone: a service session, its
/// own ID as the entity, an Ed25519 signature and no service signature.
pub(super) fn verify_service_command(session: &Session, req: &Request) -> bool {
    let Some(svc) = &session.service else {
        return false;
    };
    match (&req.auth, &req.service_sig) {
        (Authorization::Signature(simplex_crypto::Signature::Ed25519(sig)), None) => {
            req.entity_id == svc.id && svc.key.verify(sig, &req.authorized)
        }
        _ => false,
    }
}

impl Core {
    /// The refusals before authorization, in the reference's order: a queue command for an
    /// unknown queue is left to fail as `AUTH`; a service session may only send its role's
    /// commands (`CMD PROHIBITED`); `NEW`, `SUB` and `NSUB` carry a valid service signature
    /// in a service session and none elsewhere, and no other command carries one
    /// (`SERVICE`).
    pub(super) fn service_refusal(&self, session: &Session, req: &Request) -> Option<ErrorKind> {
        if let Some(party) = req.cmd.party() {
            self.queues.recipient_id(party, &req.entity_id)?;
        }
        if let (Some(svc), Some(role)) = (&session.service, req.cmd.service_role()) {
            if svc.role != role {
                return Some(ErrorKind::Prohibited);
            }
        }
        let sig_ok = if req.cmd.uses_service_auth() {
            match (&session.service, &req.service_sig) {
                (Some(svc), Some(sig)) => svc.key.verify(sig, &req.authorized),
                (None, None) => true,
                _ => false,
            }
        } else {
            req.service_sig.is_none()
        };
        (!sig_ok).then_some(ErrorKind::Service)
    }

    /// The session a notifier's notifications go to: its service's, when the queue is
    /// associated with one, else its own subscriber's.
    pub(super) fn ntf_target(&self, nid: &[u8], service: Option<&[u8]>) -> Option<ClientId> {
        match service {
            Some(sid) => self.ntf_service_subscribers.get(sid).copied(),
            None => self.ntf_subscribers.get(nid).copied(),
        }
    }

    /// [`Core::ntf_target`] looking the association up.
    pub(super) fn ntf_target_of(&self, nid: &[u8]) -> Option<ClientId> {
        let service = self
            .queues
            .find_meta(Party::Notifier, nid)
            .and_then(|(q, _)| q.notifier.and_then(|n| n.ntf_service));
        self.ntf_target(nid, service.as_deref())
    }

    /// `NSUB` from a notifier service session: associates the queue with the service (once)
    /// and counts it on this session, which becomes the service's subscribed session.
    pub(super) fn service_nsub(
        &mut self,
        session: &Session,
        rid: &[u8],
        nid: &EntityId,
        prev: Option<EntityId>,
        out: &mut Vec<Outgoing>,
    ) -> Result<Reply, ErrorKind> {
        let Some(svc) = &session.service else {
            return Err(ErrorKind::Internal);
        };
        let client = session.client;
        let sid = svc.id.clone();
        // Counted as the reference's `subscribeNotifications` counts (`ntfServices:*`).
        let counted = self
            .clients
            .get(&client)
            .is_some_and(|c| c.ntf_service_subs != 0);
        if prev.as_ref() == Some(&sid) {
            // A repeated association (a retried `NSUB`).
            if !counted {
                inc(&self.stats.ntf_srv_sub_count);
                inc(&self.stats.ntf_srv_sub_queues);
                self.service_queue_subscribed(client, nid, prev.as_deref(), &sid, out);
            }
            inc(&self.stats.ntf_srv_assoc_duplicate);
        } else {
            self.queues
                .set_queue_service(rid, ServiceParty::Notifier, Some(sid.clone()))
                .map_err(|_| ErrorKind::Internal)?;
            if !counted {
                inc(&self.stats.ntf_srv_sub_count);
            }
            inc(&self.stats.ntf_srv_sub_queues);
            inc(match prev {
                None => &self.stats.ntf_srv_assoc_new,
                Some(_) => &self.stats.ntf_srv_assoc_updated,
            });
            self.service_queue_subscribed(client, nid, prev.as_deref(), &sid, out);
        }
        self.push_kept_ntfs(client, nid, out);
        Ok(Reply::Sok(Some(sid)))
    }

    /// A plain `NSUB` of a queue associated with a service: the association is removed and
    /// the service's session told `END` for the queue.
    pub(super) fn dissociate_ntf_service(
        &mut self,
        rid: &[u8],
        nid: &[u8],
        sid: &[u8],
        client: ClientId,
        out: &mut Vec<Outgoing>,
    ) -> Result<(), ErrorKind> {
        self.queues
            .set_queue_service(rid, ServiceParty::Notifier, None)
            .map_err(|_| ErrorKind::Internal)?;
        inc(&self.stats.ntf_srv_assoc_removed);
        self.end_service_queue(sid, nid, client, Reply::End, out);
        Ok(())
    }

    /// The queue's notifications now go to `client`, the service's session (the reference's
    /// `CSClient qId prevServiceId (Just serviceId)`).
    fn service_queue_subscribed(
        &mut self,
        client: ClientId,
        nid: &[u8],
        prev: Option<&[u8]>,
        sid: &EntityId,
        out: &mut Vec<Outgoing>,
    ) {
        self.clients.entry(client).or_default().ntf_service_subs += 1;
        if let Some(p) = prev.filter(|p| *p != sid.as_slice()) {
            self.end_service_queue(p, nid, client, Reply::End, out);
        }
        // The queue's own subscriber, if any, is ended.
        if let Some(c) = self.ntf_subscribers.remove(nid) {
            if let Some(state) = self.clients.get_mut(&c) {
                state.ntf_subs.remove(nid);
            }
            if c != client {
                self.count_end();
                out.push(push(c, nid.to_vec(), Reply::End));
            }
        }
        self.take_over_service(client, sid, out);
    }

    /// Makes `client` the service's subscribed session; another one gets `ENDS n` with the
    /// count it had.
    fn take_over_service(&mut self, client: ClientId, sid: &EntityId, out: &mut Vec<Outgoing>) {
        let Some(prev) = self.ntf_service_subscribers.insert(sid.clone(), client) else {
            return;
        };
        if prev == client {
            return;
        }
        if let Some(state) = self.clients.get_mut(&prev) {
            let n = std::mem::take(&mut state.ntf_service_subs);
            state.ntf_service_subscribed = false;
            out.push(push(prev, sid.clone(), Reply::Ends(n)));
        }
    }

    /// The queue left the service (dissociated or its notifier deleted): the service's
    /// session, if it is not `by`, gets `reply` (`END` or `DELD`) for it.
    pub(super) fn end_service_queue(
        &mut self,
        sid: &[u8],
        nid: &[u8],
        by: ClientId,
        reply: Reply,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(&c) = self.ntf_service_subscribers.get(sid) else {
            return;
        };
        if c == by {
            return;
        }
        if let Some(state) = self.clients.get_mut(&c) {
            state.ntf_service_subs = (state.ntf_service_subs - 1).max(0);
        }
        self.count_end();
        out.push(push(c, nid.to_vec(), reply));
    }

    /// `NSUBS`: every queue associated with the service is subscribed on this session
    /// (`SOKS n`; the same count again when already done on it).
    pub(super) fn subscribe_service_ntfs(
        &mut self,
        session: &Session,
        out: &mut Vec<Outgoing>,
    ) -> Result<Reply, ErrorKind> {
        let Some(svc) = &session.service else {
            return Err(ErrorKind::Internal);
        };
        let client = session.client;
        if let Some(state) = self.clients.get(&client) {
            if state.ntf_service_subscribed {
                return Ok(Reply::Soks(state.ntf_service_subs));
            }
        }
        let nids = self
            .queues
            .service_queues(&svc.id, ServiceParty::Notifier)
            .ok_or(ErrorKind::Auth)?;
        let count = i64::try_from(nids.len()).unwrap_or(i64::MAX);
        let state = self.clients.entry(client).or_default();
        state.ntf_service_subscribed = true;
        state.ntf_service_subs = count;
        self.take_over_service(client, &svc.id, out);
        for nid in &nids {
            self.push_kept_ntfs(client, nid, out);
        }
        Ok(Reply::Soks(count))
    }

    /// Notifications kept for the notifier, oldest first, to `client`.
    pub(super) fn push_kept_ntfs(&mut self, client: ClientId, nid: &[u8], out: &mut Vec<Outgoing>) {
        self.ntf_kept.remove(nid);
        let kept = self.ntfs.take(nid);
        if !kept.is_empty() {
            self.count_ntfs_delivered(kept.len());
        }
        for ntf in kept {
            out.push(push(client, nid.to_vec(), Reply::from(ntf)));
        }
    }

    /// A disconnected service session stops being its service's subscribed session.
    pub(super) fn service_client_gone(&mut self, client: ClientId) {
        self.ntf_service_subscribers.retain(|_, c| *c != client);
    }

    /// The ID of the service with this certificate hash, made on its first handshake
    /// (logged as `NEW_SERVICE`): the reference's `getCreateService`. A certificate known in
    /// another role is refused (`HANDSHAKE BAD_SERVICE`).
    pub fn service_id_for<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        role: ServiceRole,
        chain: &[Vec<u8>],
        cert_hash: &[u8; 32],
    ) -> Result<EntityId, crate::store::StoreError> {
        let record = ServiceRecord {
            service_id: self.random_id(rng),
            role,
            cert: chain.to_vec(),
            cert_hash: cert_hash.to_vec(),
            created_at: now - now.rem_euclid(86_400),
        };
        self.queues.get_or_create_service(record)
    }

    /// The number of notifier services with a subscribed session.
    pub fn ntf_service_subscriptions(&self) -> usize {
        self.ntf_service_subscribers.len()
    }
}

fn push(client: ClientId, entity_id: EntityId, reply: Reply) -> Outgoing {
    Outgoing {
        client,
        corr_id: Vec::new(),
        entity_id,
        reply,
    }
}
