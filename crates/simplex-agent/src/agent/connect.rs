//! Making connections: invitations and their links (`newConn`), joining them
//! (`joinConn`), the confirmations both ways and their acceptance (`allowConnection`),
//! contact addresses and the invitations sent to them (`REQ`, `acceptContact`).
//! The statuses these steps set are module `state`'s.

use std::sync::Arc;

use agent_proto::version::{
    e2e_enc_conn_info_length, CURRENT_SMP_CLIENT_VERSION, PQDR_AGENT_VERSION,
    SND_AUTH_KEY_AGENT_VERSION, SND_AUTH_KEY_SMP_CLIENT_VERSION, SUPPORTED_AGENT_VERSIONS,
    SUPPORTED_SMP_CLIENT_VERSIONS,
};
use agent_proto::{
    AMessage, AgentMessage, AgentMsgEnvelope, ConnReqUriData, ConnectionRequest, ContactRequest,
    E2EParams, InvitationRequest, PrivHeader, SmpQueueInfo,
};
use rand::rngs::OsRng;
use simplex_crypto::{
    dh_x25519, sha256, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519, PrivateKeyX448,
    PublicAuthKey, PublicKeyX25519,
};
use simplex_encoding::{decode_all, Encode};
use simplex_ratchet::{
    generate_rcv_e2e_params_with, generate_snd_e2e_params_with, pq_x3dh_rcv, pq_x3dh_snd,
    reply_kem, E2ERatchetParamsUri, PqEncryption, PqSupport, Ratchet, RatchetError,
    RatchetVersions, X3dhPrivateKeys, CURRENT_E2E_VERSION, PQ_RATCHET_E2E_VERSION,
    SUPPORTED_E2E_VERSIONS, X448,
};
use smp_proto::command::SubscriptionMode;
use smp_proto::transmission::CORR_ID_SIZE;
use smp_proto::version::AUTH_CMDS_SMP_VERSION;
use smp_proto::{NewQueueReq, QueueMode, QueueReqData, SmpQueueUri};
use smp_proto::{SmpServer, Version};

use super::receive::AckMode;
use super::redundant::{copy_queues, PeerQueue};
use super::routing::{SendFail, SndCommand};
use super::send::seal;
use super::state;
use super::{crypto_err, random_id, smp_err, Agent, Inner};
use crate::error::{AgentError, StoreError};
use crate::store::*;
use crate::types::*;

pub(super) fn is_messaging(mode: Option<QueueMode>) -> bool {
    mode == Some(QueueMode::Messaging)
}

/// Whether the sender secures a queue of `mode` itself (`SKEY`, or `LKEY` for a short
/// invitation) at these SMP client and agent versions.
fn sender_secures(mode: Option<QueueMode>, client_version: u16, agent_version: u16) -> bool {
    is_messaging(mode)
        && client_version >= SND_AUTH_KEY_SMP_CLIENT_VERSION.0
        && agent_version >= SND_AUTH_KEY_AGENT_VERSION.0
}

/// The keys of a new receive queue: the recipient's key, its DH key with the relay and the
/// e2e key the sender's messages are encrypted to.
pub(super) struct NewRcvKeys {
    pub(super) rcv_key: PrivateAuthKey,
    pub(super) dh: PrivateKeyX25519,
    pub(super) e2e: PrivateKeyX25519,
}

impl NewRcvKeys {
    /// For a queue on a relay speaking `relay_version`: see [`auth_key`].
    pub(super) fn generate(relay_version: Version) -> Self {
        NewRcvKeys {
            rcv_key: auth_key(relay_version >= AUTH_CMDS_SMP_VERSION),
            dh: PrivateKeyX25519::generate(&mut OsRng),
            e2e: PrivateKeyX25519::generate(&mut OsRng),
        }
    }
}

/// A new queue key, recipient's or sender's. X25519 where the relay takes authenticators
/// (`cbAuthenticate`, SMP v7+; the reference's `TODO` for its `sndAuthAlg`), Ed25519 where
/// it may not. An authenticator costs one SHA-512 of the command, and with the box key
/// kept per session (`smp-client`) no agreement, where an Ed25519 signature costs two
/// SHA-512 passes (a `SEND` is a 16 KB block) and a scalar multiplication, and its check at
/// the relay another pass and a double one: ~0.1 ms less per message between the two
/// agents and the relay of a conversation. And an authenticator proves nothing to a third
/// party, where a signature would prove who sent a command.
pub(super) fn auth_key(x25519: bool) -> PrivateAuthKey {
    match x25519 {
        true => PrivateAuthKey::X25519(PrivateKeyX25519::generate(&mut OsRng)),
        false => PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng)),
    }
}

impl Agent {
    /// Creates a connection and returns its ID and the invitation link for the peer
    /// (`newConn` with an invitation).
    pub async fn create_connection(&self) -> Result<(ConnId, String), AgentError> {
        let (conn_id, link) = self.inner.new_invitation(None).await?;
        Ok((conn_id, ConnectionRequest::Invitation(link).to_string()))
    }

    /// Joins a connection from a link (`joinConn`). With an invitation link, confirms it
    /// with `conn_info` (the creator gets `CONF`); with a contact link, sends an invitation
    /// with `conn_info` (the address owner gets `REQ`) and waits for its `CONF`. The
    /// invitation is stored before it is sent: a refusal by the address's server fails the
    /// call, a temporary failure leaves it to be retried (also after a restart). A short
    /// contact link is read and checked first ([`Agent::join_connection_link`]).
    pub async fn join_connection(
        &self,
        link: &str,
        conn_info: &[u8],
    ) -> Result<ConnId, AgentError> {
        self.join_connection_link(link, conn_info)
            .await
            .map(|(id, _)| id)
    }

    /// Accepts a confirmation reported by `CONF` with this side's `conn_info`
    /// (`allowConnection`).
    pub async fn allow_connection(
        &self,
        conf_id: &[u8],
        conn_info: &[u8],
    ) -> Result<(), AgentError> {
        self.inner.allow_connection(conf_id, conn_info).await
    }

    /// Creates a contact address and returns its ID and `simplex:/contact` link.
    pub async fn create_contact_address(&self) -> Result<(ConnId, String), AgentError> {
        let inner = &self.inner;
        let server = inner.pick_server()?;
        let conn_id = random_id();
        let conn = ConnRecord::new(
            conn_id.clone(),
            ConnKind::Contact,
            true,
            SUPPORTED_AGENT_VERSIONS.max.0,
        );
        let (rq, uri) = inner.create_rcv_queue(&conn_id, &server, false).await?;
        inner
            .db(move |s| s.apply(vec![Write::PutConn(conn), Write::PutRcvQueue(rq)]))
            .await?;
        let link = ConnectionRequest::Contact(ContactRequest {
            data: ConnReqUriData {
                agent_versions: SUPPORTED_AGENT_VERSIONS,
                smp_queues: vec![uri],
                client_data: None,
            },
        });
        Ok((conn_id, link.to_string()))
    }

    /// Accepts a contact request reported by `REQ`: joins the requester's invitation with
    /// `conn_info`. Returns the new connection's ID.
    pub async fn accept_contact(
        &self,
        inv_id: &[u8],
        conn_info: &[u8],
    ) -> Result<ConnId, AgentError> {
        let id = inv_id.to_vec();
        let inv = self
            .inner
            .db(move |s| s.invitation(&id))
            .await?
            .ok_or(AgentError::NoConfirmation)?;
        let req = ConnectionRequest::parse(inv.conn_req.as_bytes())
            .map_err(|e| AgentError::BadLink(e.to_string()))?;
        let ConnectionRequest::Invitation(req) = req else {
            return Err(AgentError::BadLink("not an invitation".into()));
        };
        let conn_id = self.inner.join_invitation(&req, conn_info, None).await?;
        let id = inv_id.to_vec();
        self.inner
            .db(move |s| s.apply(vec![Write::DeleteInvitation(id)]))
            .await?;
        Ok(conn_id)
    }

    /// Rejects a contact request: forgets it.
    pub async fn reject_contact(&self, inv_id: &[u8]) -> Result<(), AgentError> {
        let id = inv_id.to_vec();
        let found = self
            .inner
            .db({
                let id = id.clone();
                move |s| s.invitation(&id)
            })
            .await?;
        if found.is_none() {
            return Err(AgentError::NoConfirmation);
        }
        self.inner
            .db(move |s| s.apply(vec![Write::DeleteInvitation(id)]))
            .await?;
        Ok(())
    }
}

impl Inner {
    /// `NEW` on `server` for `conn_id`; returns the record and the queue's URI for a link.
    pub(super) async fn create_rcv_queue(
        self: &Arc<Self>,
        conn_id: &[u8],
        server: &SmpServer,
        sender_can_secure: bool,
    ) -> Result<(RcvQueueRecord, SmpQueueUri), AgentError> {
        let version = self.client(server, conn_id).await?.version();
        let keys = NewRcvKeys::generate(version);
        let req = QueueReqData::of_mode(QueueMode::from_sender_can_secure(sender_can_secure));
        let e2e = keys.e2e.public_key();
        let (rq, _) = self
            .create_rcv_queue_with(conn_id, server, keys, req, None)
            .await?;
        let uri = SmpQueueUri {
            client_versions: SUPPORTED_SMP_CLIENT_VERSIONS,
            server: server.clone(),
            sender_id: rq.snd_id.clone(),
            dh_public_key: e2e,
            queue_mode: Some(QueueMode::from_sender_can_secure(rq.sender_can_secure)),
        };
        Ok((rq, uri))
    }

    /// `NEW` with `req` (and, for a queue with link data, the correlation ID its sender ID
    /// comes from); returns the queue's record, indexed and subscribed, and the link ID the
    /// relay made or accepted.
    pub(super) async fn create_rcv_queue_with(
        self: &Arc<Self>,
        conn_id: &[u8],
        server: &SmpServer,
        keys: NewRcvKeys,
        req: QueueReqData,
        corr_id: Option<[u8; CORR_ID_SIZE]>,
    ) -> Result<(RcvQueueRecord, Option<Vec<u8>>), AgentError> {
        let client = self.client(server, conn_id).await?;
        let sender_can_secure = req.mode() == QueueMode::Messaging;
        let new_req = NewQueueReq {
            rcv_auth_key: keys.rcv_key.public_key(),
            rcv_dh_key: keys.dh.public_key(),
            basic_auth: self.config.server_auth.get(server).cloned(),
            sub_mode: SubscriptionMode::Subscribe,
            queue_req_data: Some(req),
            ntf_creds: None,
        };
        let ids = client
            .create_queue_with(&keys.rcv_key, new_req, corr_id)
            .await
            .map_err(|e| smp_err(server, e))?;
        let can_secure = sender_can_secure && is_messaging(ids.queue_mode);
        let rq = RcvQueueRecord {
            conn_id: conn_id.to_vec(),
            server: server.clone(),
            rcv_id: ids.rcv_id.as_slice().to_vec(),
            rcv_key: keys.rcv_key,
            rcv_dh_secret: dh_x25519(&ids.rcv_public_dh_key, &keys.dh),
            e2e_priv_key: keys.e2e,
            e2e_dh_secret: None,
            snd_id: ids.snd_id.as_slice().to_vec(),
            sender_can_secure: can_secure,
            status: QueueStatus::New,
            client_version: CURRENT_SMP_CLIENT_VERSION.0,
            primary: true,
            replaces: None,
            switch_status: None,
            created_at: super::unix_now(),
            extra: false,
        };
        self.index_queue(&rq);
        self.subscribed(&self.sess_key(server, conn_id), conn_id);
        Ok((rq, ids.link_id.map(|l| l.as_slice().to_vec())))
    }

    /// A new connection with a receive queue and X3DH keys (`newConn`).
    pub(super) async fn new_invitation(
        self: &Arc<Self>,
        server: Option<SmpServer>,
    ) -> Result<(ConnId, InvitationRequest), AgentError> {
        let (conn_id, link, _) = self.new_invitation_with(server, None).await?;
        Ok((conn_id, link))
    }

    /// [`Inner::new_invitation`], with a short link carrying `user_data` when it is given
    /// and the relay serves short links.
    pub(super) async fn new_invitation_with(
        self: &Arc<Self>,
        server: Option<SmpServer>,
        user_data: Option<&[u8]>,
    ) -> Result<(ConnId, InvitationRequest, Option<String>), AgentError> {
        let server = match server {
            Some(s) => s,
            None => self.pick_server()?,
        };
        let conn_id = random_id();
        let mut conn = ConnRecord::new(
            conn_id.clone(),
            ConnKind::Duplex,
            true,
            SUPPORTED_AGENT_VERSIONS.max.0,
        );
        conn.pq_support = self.config.pq_support;
        let (keys, kem, params) = generate_rcv_e2e_params_with::<X448>(
            &mut OsRng,
            &*self.ratchet_keys,
            CURRENT_E2E_VERSION,
            PqSupport(self.config.pq_support),
        );
        let e2e = E2ERatchetParamsUri {
            versions: SUPPORTED_E2E_VERSIONS,
            key1: params.key1,
            key2: params.key2,
            kem: params.kem,
        };
        // Further queues (module `redundant`), listed after the first.
        let extra = self.extra_rcv_queues(&conn_id, &server).await;
        let extra_uris: Vec<SmpQueueUri> = extra.iter().map(|(_, u)| u.clone()).collect();
        let (rq, uri, short) = match user_data {
            Some(d) => {
                self.inv_queue_with_link(&conn_id, &server, &e2e, d, &extra_uris)
                    .await?
            }
            None => {
                let (rq, uri) = self
                    .create_rcv_queue(&conn_id, &server, self.config.sender_can_secure)
                    .await?;
                (rq, uri, None)
            }
        };
        let x3dh = X3dhKeys {
            key1: keys.key1,
            key2: keys.key2,
            kem,
        };
        let id = conn_id.clone();
        let mut link = invitation_link(uri, e2e);
        let mut writes = vec![
            Write::PutConn(conn),
            Write::PutRcvQueue(rq),
            Write::PutX3dh(id, x3dh),
        ];
        for (q, uri) in extra {
            writes.push(Write::PutRcvQueue(q));
            link.data.smp_queues.push(uri);
        }
        self.db(move |s| s.apply(writes)).await?;
        Ok((conn_id, link, short))
    }

    /// A send queue to `server`/`sender_id`, secured by this side with `SKEY` when it can.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn new_snd_queue(
        self: &Arc<Self>,
        conn_id: &[u8],
        server: &SmpServer,
        sender_id: &[u8],
        dh_public_key: &simplex_crypto::PublicKeyX25519,
        client_version: u16,
        queue_mode: Option<QueueMode>,
        agent_version: u16,
        secured_with: Option<PrivateAuthKey>,
    ) -> Result<SndQueueRecord, AgentError> {
        let e2e = PrivateKeyX25519::generate(&mut OsRng);
        let can_secure = sender_secures(queue_mode, client_version, agent_version);
        if secured_with.is_some() && !can_secure {
            return Err(AgentError::BadLink(
                "a short invitation to a queue its sender cannot secure".into(),
            ));
        }
        let pre_secured = secured_with.is_some();
        // A queue its sender secures is on a relay of v9 or later (`SKEY`), so one that
        // takes authenticators; otherwise the recipient passes the key to its relay (`KEY`).
        let snd_key = secured_with.unwrap_or_else(|| auth_key(can_secure));
        let mut sq = SndQueueRecord {
            conn_id: conn_id.to_vec(),
            server: server.clone(),
            snd_id: sender_id.to_vec(),
            snd_key,
            e2e_pub_key: e2e.public_key(),
            e2e_dh_secret: dh_x25519(dh_public_key, &e2e),
            sender_can_secure: can_secure,
            status: QueueStatus::New,
            client_version,
            primary: true,
            replaces: None,
            switch_status: None,
            extra: false,
        };
        if pre_secured {
            // Secured already by LKEY when the short link was read (the reference's
            // `newSndQueue` with a key): no SKEY.
            state::snd_secured(&mut sq);
        } else if can_secure {
            let cmd = SndCommand::SKey {
                key: &sq.snd_key,
                snd_id: &sq.snd_id,
            };
            self.send_or_proxy(server, conn_id, cmd)
                .await
                .map_err(SendFail::into_agent_error)?;
            state::snd_secured(&mut sq);
        }
        Ok(sq)
    }

    /// Joins an invitation (`joinConn`): X3DH, the reply queue, the send queue secured when
    /// it can be, and the confirmation stored for delivery.
    /// `snd_key` is the key a short link's `LKEY` secured the queue with already.
    pub(super) async fn join_invitation(
        self: &Arc<Self>,
        inv: &InvitationRequest,
        conn_info: &[u8],
        snd_key: Option<PrivateAuthKey>,
    ) -> Result<ConnId, AgentError> {
        let (agent_v, quri, client_v) = negotiate_link(&inv.data)?;
        if snd_key.is_some() && !sender_secures(quri.queue_mode, client_v.0, agent_v.0) {
            // Refused before the reply queue is made (`new_snd_queue` refuses it too).
            return Err(AgentError::BadLink(
                "a short invitation to a queue its sender cannot secure".into(),
            ));
        }
        let e2e_v = inv
            .e2e
            .versions
            .compatible(&SUPPORTED_E2E_VERSIONS)
            .ok_or(AgentError::Version)?;
        let pq = PqSupport(
            self.config.pq_support
                && agent_v >= PQDR_AGENT_VERSION
                && e2e_v >= PQ_RATCHET_E2E_VERSION,
        );
        let rcv_params = inv.e2e.at_version(e2e_v);
        let use_kem = reply_kem(e2e_v, rcv_params.kem.as_ref(), pq);
        let (keys, priv_kem, snd_params) = generate_snd_e2e_params_with::<X448>(
            &mut OsRng,
            &*self.ratchet_keys,
            e2e_v,
            use_kem.as_ref(),
        );
        let (init, kp) = pq_x3dh_snd(&keys, priv_kem.as_ref(), &rcv_params).map_err(crypto_err)?;
        let versions = RatchetVersions {
            current: e2e_v,
            max_supported: CURRENT_E2E_VERSION,
        };
        let ratchet = Ratchet::<X448>::init_snd(
            versions,
            rcv_params.key2,
            PrivateKeyX448::generate(&mut OsRng),
            init,
            kp,
        )
        .map_err(crypto_err)?;

        let conn_id = random_id();
        let mut conn = ConnRecord::new(conn_id.clone(), ConnKind::Duplex, false, agent_v.0);
        conn.pq_support = pq.0;
        // The reply queue on one of our servers (the reference prefers the link's server
        // when it is one of ours; a random one keeps the queues apart).
        let server = self.pick_server()?;
        let reply_can_secure =
            self.config.sender_can_secure && agent_v >= SND_AUTH_KEY_AGENT_VERSION;
        let (rq, _) = self
            .create_rcv_queue(&conn_id, &server, reply_can_secure)
            .await?;
        let sq = self
            .new_snd_queue(
                &conn_id,
                &quri.server,
                &quri.sender_id,
                &quri.dh_public_key,
                client_v.0,
                quri.queue_mode,
                agent_v.0,
                snd_key,
            )
            .await?;
        let reply_info = |rq: &RcvQueueRecord| SmpQueueInfo {
            client_version: client_v,
            server: rq.server.clone(),
            sender_id: rq.snd_id.clone(),
            dh_public_key: rq.e2e_priv_key.public_key(),
            queue_mode: Some(QueueMode::from_sender_can_secure(rq.sender_can_secure)),
        };
        let mut smp_queues = vec![reply_info(&rq)];
        // The initiator's further queues, when both sides use them (module `redundant`):
        // send queues to them, and further reply queues of this side.
        let peer_extra: Vec<PeerQueue> = match self.redundant() && rq.sender_can_secure {
            true => inv
                .data
                .smp_queues
                .iter()
                .skip(1)
                .filter_map(PeerQueue::from_uri)
                .collect(),
            false => Vec::new(),
        };
        let mut extra_writes = Vec::new();
        if !peer_extra.is_empty() {
            extra_writes = self.extra_snd_queues(&conn_id, peer_extra, agent_v.0).await;
            for (q, _) in self.extra_rcv_queues(&conn_id, &server).await {
                smp_queues.push(reply_info(&q));
                extra_writes.push(Write::PutRcvQueue(q));
            }
        }
        let msg = AgentMessage::ConnInfoReply {
            smp_queues,
            conn_info: conn_info.to_vec(),
        };
        let (rec, ratchet) = confirmation_msg(&mut conn, &ratchet, &sq, &msg, Some(snd_params))?;
        let id = conn_id.clone();
        let mut writes = vec![
            Write::PutConn(conn),
            Write::PutRcvQueue(rq),
            Write::PutSndQueue(sq),
            Write::PutRatchet(id, ratchet),
            Write::PutSndMsg(rec),
        ];
        writes.extend(extra_writes);
        let copy_queues = copy_queues(&writes);
        self.db(move |s| s.apply(writes)).await?;
        self.start_worker(&conn_id);
        self.start_copy_workers(&copy_queues);
        Ok(conn_id)
    }

    /// Joins a contact address: a new invitation, sent to the address's queue encrypted
    /// only per queue (`AgentInvitation`).
    pub(super) async fn join_contact(
        self: &Arc<Self>,
        c: &ContactRequest,
        conn_info: &[u8],
    ) -> Result<ConnId, AgentError> {
        let (agent_v, quri, client_v) = negotiate_link(&c.data)?;
        let (conn_id, inv) = self.new_invitation(None).await?;
        let env = AgentMsgEnvelope::Invitation {
            agent_version: agent_v,
            conn_req: inv,
            conn_info: conn_info.to_vec(),
        };
        let once = PrivateKeyX25519::generate(&mut OsRng);
        let secret = dh_x25519(&quri.dh_public_key, &once);
        let body = seal(
            &secret,
            client_v.0,
            Some(once.public_key()),
            PrivHeader::Empty,
            &env,
        )?;
        // Stored with the address's queue as the connection's send queue until it is sent,
        // so that it is retried (also after a restart) like any pending message.
        let sq = SndQueueRecord {
            conn_id: conn_id.clone(),
            server: quri.server.clone(),
            snd_id: quri.sender_id.clone(),
            snd_key: PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng)),
            e2e_pub_key: once.public_key(),
            e2e_dh_secret: secret,
            sender_can_secure: false,
            status: QueueStatus::New,
            client_version: client_v.0,
            primary: true,
            replaces: None,
            switch_status: None,
            extra: false,
        };
        let id = conn_id.clone();
        let hash = sha256(&body).to_vec();
        let stored_sq = sq.clone();
        let rec = self
            .db(move |s| {
                let mut conn = s.conn(&id)?.ok_or(StoreError::NoConnection)?;
                conn.last_internal_id += 1;
                let rec = SndMsgRecord {
                    conn_id: id,
                    internal_id: conn.last_internal_id,
                    snd_id: 0,
                    kind: SndMsgKind::Invitation,
                    hash,
                    body: SndBody::Sealed(body),
                    pending: true,
                    receipt: None,
                    queue: None,
                };
                s.apply(vec![
                    Write::PutConn(conn),
                    Write::PutSndQueue(stored_sq),
                    Write::PutSndMsg(rec.clone()),
                ])?;
                Ok(rec)
            })
            .await?;
        // Sent at once, as the reference does, so that a refused address fails the call;
        // a temporary failure leaves it to the delivery task.
        match self.send_pending(&sq, &rec).await {
            Ok(()) => {
                self.on_sent(rec, &sq, None).await?;
            }
            Err(e) if e.is_temporary() || e.is_host() || e.is_quota() => {
                self.start_worker(&conn_id)
            }
            Err(e) => {
                let _g = self.lock.lock().await;
                let _ = self.delete_conn(&conn_id).await;
                return Err(e.into_agent_error());
            }
        }
        Ok(conn_id)
    }

    pub(super) async fn allow_connection(
        self: &Arc<Self>,
        conf_id: &[u8],
        conn_info: &[u8],
    ) -> Result<(), AgentError> {
        let _g = self.lock.lock().await;
        let cid = conf_id.to_vec();
        let conf = self
            .db(move |s| s.confirmation(&cid))
            .await?
            .ok_or(AgentError::NoConfirmation)?;
        let id = conf.conn_id.clone();
        let (conn, rq, ratchet) = self
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queue(&id)?, s.ratchet(&id)?)))
            .await?;
        let (Some(mut conn), Some(mut rq), Some(ratchet)) = (conn, rq, ratchet) else {
            return Err(AgentError::NoConnection);
        };
        let reply = conf
            .reply_queues
            .first()
            .ok_or(AgentError::Message("no reply queue"))?;
        if let Some(k) = &conf.sender_key {
            let client = self.client(&rq.server, &rq.conn_id).await?;
            client
                .secure_queue(&rq.rcv_key, &rq.rcv_id, k)
                .await
                .map_err(|e| smp_err(&rq.server, e))?;
            state::rcv_secured(&mut rq);
        }
        let client_v = reply.client_version.min(CURRENT_SMP_CLIENT_VERSION);
        let sq = self
            .new_snd_queue(
                &conn.conn_id,
                &reply.server,
                &reply.sender_id,
                &reply.dh_public_key,
                client_v.0,
                reply.queue_mode,
                conn.agent_version,
                None,
            )
            .await?;
        // The joiner's further reply queues (module `redundant`).
        let extra_writes = match self.redundant() && sq.sender_can_secure {
            true => {
                let peer = conf.reply_queues.iter().skip(1).map(PeerQueue::from_info);
                let (id, v) = (conn.conn_id.clone(), conn.agent_version);
                self.extra_snd_queues(&id, peer.collect(), v).await
            }
            false => Vec::new(),
        };
        let msg = AgentMessage::ConnInfo(conn_info.to_vec());
        let (rec, ratchet) = confirmation_msg(&mut conn, &ratchet, &sq, &msg, None)?;
        let conn_id = conn.conn_id.clone();
        let id = conn_id.clone();
        let mut writes = vec![
            Write::PutConn(conn),
            Write::PutRcvQueue(rq),
            Write::PutSndQueue(sq),
            Write::PutRatchet(id, ratchet),
            Write::PutSndMsg(rec),
            Write::DeleteConfirmation(conf.conf_id),
        ];
        writes.extend(extra_writes);
        let copy_queues = copy_queues(&writes);
        self.db(move |s| s.apply(writes)).await?;
        self.start_worker(&conn_id);
        self.start_copy_workers(&copy_queues);
        Ok(())
    }

    /// An invitation to this address (`AgentInvitation`): kept until the application
    /// accepts or rejects it, and reported as `REQ`.
    pub(super) async fn on_invitation(
        self: &Arc<Self>,
        conn_id: ConnId,
        conn_req: InvitationRequest,
        conn_info: Vec<u8>,
    ) -> Result<AckMode, AgentError> {
        let inv = InvitationRecord {
            inv_id: random_id(),
            contact_conn_id: conn_id.clone(),
            conn_req: ConnectionRequest::Invitation(conn_req).to_string(),
            conn_info: conn_info.clone(),
        };
        let inv_id = inv.inv_id.clone();
        self.db(move |s| s.apply(vec![Write::PutInvitation(inv)]))
            .await?;
        self.emit(conn_id, Event::Req { inv_id, conn_info });
        Ok(AckMode::Now)
    }

    /// A confirmation to a new connection (`smpConfirmation`): from the joiner, its reply
    /// queues and conn info to the initiator; from the initiator, its conn info to the
    /// joiner.
    pub(super) async fn on_confirmation(
        self: &Arc<Self>,
        conn: ConnRecord,
        rq: RcvQueueRecord,
        sq: Option<SndQueueRecord>,
        conf: Confirmation,
        e2e: Option<E2EParams>,
    ) -> Result<AckMode, AgentError> {
        match (conn.initiator, e2e) {
            (true, Some(params)) => self.on_conn_info_reply(conn, rq, conf, params).await,
            (false, None) => self.on_conn_info(conn, rq, sq, conf).await,
            _ => Err(AgentError::Message("confirmation in the wrong state")),
        }
    }

    /// The initiator gets the joiner's confirmation: the ratchet is made from the X3DH
    /// keys kept since the invitation and the joiner's parameters, the conn info decrypted
    /// with it, and the confirmation kept until `allow_connection` (`CONF`).
    async fn on_conn_info_reply(
        self: &Arc<Self>,
        mut conn: ConnRecord,
        mut rq: RcvQueueRecord,
        c: Confirmation,
        params: E2EParams,
    ) -> Result<AckMode, AgentError> {
        let conn_id = conn.conn_id.clone();
        let secret = dh_x25519(&c.e2e_pub_key, &rq.e2e_priv_key);
        if !SUPPORTED_E2E_VERSIONS.contains(params.version) {
            return Err(AgentError::Version);
        }
        let id = conn_id.clone();
        let keys = self
            .db(move |s| s.x3dh(&id))
            .await?
            .ok_or(AgentError::Message("confirmation already processed"))?;
        let x = X3dhPrivateKeys::<X448> {
            key1: keys.key1,
            key2: keys.key2,
        };
        let (init, kp) = pq_x3dh_rcv(&x, keys.kem.as_ref(), &params).map_err(crypto_err)?;
        let pq = PqSupport(
            conn.pq_support
                && c.agent_version >= PQDR_AGENT_VERSION
                && params.version >= PQ_RATCHET_E2E_VERSION,
        );
        let versions = RatchetVersions {
            current: params.version,
            max_supported: CURRENT_E2E_VERSION,
        };
        let ratchet = Ratchet::<X448>::init_rcv(versions, x.key2, init, kp, pq);
        let d = ratchet
            .decrypt_with_keys(
                &Default::default(),
                &c.enc_conn_info,
                &mut OsRng,
                &*self.ratchet_keys,
            )
            .map_err(crypto_err)?;
        let AgentMessage::ConnInfoReply {
            smp_queues,
            conn_info,
        } = decode_all(&d.plaintext).map_err(|_| AgentError::Message("conn info"))?
        else {
            return Err(AgentError::Message("not a conn info reply"));
        };
        conn.agent_version = c.agent_version.0.min(SUPPORTED_AGENT_VERSIONS.max.0);
        conn.pq_support = pq.0;
        conn.last_rcv_ext_id = 1;
        conn.last_rcv_hash = sha256(&d.plaintext).to_vec();
        rq.e2e_dh_secret = Some(secret);
        state::confirmation_received(&mut rq);
        rq.client_version = rq.client_version.min(c.smp_client_version.0);
        let conf = ConfirmationRecord {
            conf_id: random_id(),
            conn_id: conn_id.clone(),
            sender_key: c.sender_key,
            e2e_pub_key: c.e2e_pub_key,
            reply_queues: smp_queues.clone(),
            smp_client_version: c.smp_client_version.0,
        };
        let conf_id = conf.conf_id.clone();
        let conn_id_ev = conn_id.clone();
        self.db(move |s| {
            s.apply(vec![
                Write::PutConn(conn),
                Write::PutRcvQueue(rq),
                Write::PutRatchet(conn_id.clone(), d.ratchet),
                Write::Skipped(conn_id, d.diff),
                Write::PutConfirmation(conf),
            ])
        })
        .await?;
        let servers = smp_queues.iter().map(|q| q.server.clone()).collect();
        self.emit(
            conn_id_ev,
            Event::Conf {
                conf_id,
                servers,
                conn_info,
            },
        );
        Ok(AckMode::Now)
    }

    /// The joiner gets the initiator's conn info (`INFO`), decrypted with the ratchet made
    /// when joining. A queue the initiator could not secure is secured now and `HELLO`
    /// sent; otherwise the connection is made.
    async fn on_conn_info(
        self: &Arc<Self>,
        mut conn: ConnRecord,
        mut rq: RcvQueueRecord,
        sq: Option<SndQueueRecord>,
        c: Confirmation,
    ) -> Result<AckMode, AgentError> {
        let conn_id = conn.conn_id.clone();
        let secret = dh_x25519(&c.e2e_pub_key, &rq.e2e_priv_key);
        let id = conn_id.clone();
        let (ratchet, skipped) = self
            .db(move |s| Ok((s.ratchet(&id)?, s.skipped(&id)?)))
            .await?;
        let ratchet = ratchet.ok_or(AgentError::Message("no ratchet"))?;
        let d = ratchet
            .decrypt_with_keys(&skipped, &c.enc_conn_info, &mut OsRng, &*self.ratchet_keys)
            .map_err(crypto_err)?;
        let AgentMessage::ConnInfo(conn_info) =
            decode_all(&d.plaintext).map_err(|_| AgentError::Message("conn info"))?
        else {
            return Err(AgentError::Message("not conn info"));
        };
        conn.last_rcv_ext_id = 1;
        conn.last_rcv_hash = sha256(&d.plaintext).to_vec();
        rq.e2e_dh_secret = Some(secret);
        rq.client_version = rq.client_version.min(c.smp_client_version.0);
        let mut events = vec![Event::Info(conn_info)];
        let send_hello = match &c.sender_key {
            Some(k) => {
                let client = self.client(&rq.server, &rq.conn_id).await?;
                client
                    .secure_queue(&rq.rcv_key, &rq.rcv_id, k)
                    .await
                    .map_err(|e| smp_err(&rq.server, e))?;
                state::rcv_secured(&mut rq);
                true
            }
            None => {
                events.push(state::conn_info_received(&mut conn, &mut rq));
                false
            }
        };
        let id = conn_id.clone();
        self.db(move |s| {
            s.apply(vec![
                Write::PutConn(conn),
                Write::PutRcvQueue(rq),
                Write::PutRatchet(id.clone(), d.ratchet),
                Write::Skipped(id, d.diff),
            ])
        })
        .await?;
        for e in events {
            self.emit(conn_id.clone(), e);
        }
        if send_hello && sq.is_some() {
            self.enqueue(&conn_id, AMessage::Hello, SndMsgKind::Hello)
                .await?;
        }
        Ok(AckMode::Now)
    }
}

/// An invitation link with one queue.
pub(super) fn invitation_link(
    uri: SmpQueueUri,
    e2e: E2ERatchetParamsUri<X448>,
) -> InvitationRequest {
    InvitationRequest {
        data: ConnReqUriData {
            agent_versions: SUPPORTED_AGENT_VERSIONS,
            smp_queues: vec![uri],
            client_data: None,
        },
        e2e,
    }
}

/// A confirmation's parts outside the ratchet.
pub(super) struct Confirmation {
    /// The sender's e2e key for the queue, from the clear header.
    pub(super) e2e_pub_key: PublicKeyX25519,
    /// The key to secure the queue with, when the sender could not secure it itself.
    pub(super) sender_key: Option<PublicAuthKey>,
    /// The sender's SMP client version, from the clear header.
    pub(super) smp_client_version: Version,
    /// The sender's agent version.
    pub(super) agent_version: Version,
    /// The ratchet-encrypted conn info.
    pub(super) enc_conn_info: Vec<u8>,
}

/// A confirmation (conn info) as a pending message: ratchet-encrypted, in the `C` envelope,
/// boxed for the queue with this side's e2e key in the clear header.
pub(super) fn confirmation_msg(
    conn: &mut ConnRecord,
    ratchet: &Ratchet<X448>,
    sq: &SndQueueRecord,
    msg: &AgentMessage,
    e2e: Option<E2EParams>,
) -> Result<(SndMsgRecord, Ratchet<X448>), AgentError> {
    let plain = msg.to_bytes();
    let hash = sha256(&plain).to_vec();
    conn.last_internal_id += 1;
    conn.last_snd_id += 1;
    conn.last_snd_hash = hash.clone();
    let pq = PqSupport(conn.pq_support);
    let padded = e2e_enc_conn_info_length(Version(conn.agent_version), pq);
    let (enc, ratchet) = ratchet
        .encrypt(
            Some(PqEncryption(pq.0)),
            CURRENT_E2E_VERSION,
            padded,
            &plain,
        )
        .map_err(|e| match e {
            RatchetError::MessageTooLarge => AgentError::Large,
            e => crypto_err(e),
        })?;
    let env = AgentMsgEnvelope::Confirmation {
        agent_version: Version(conn.agent_version),
        e2e_encryption: e2e,
        enc_conn_info: enc,
    };
    let header = if sq.sender_can_secure {
        PrivHeader::Empty
    } else {
        PrivHeader::Confirmation(sq.snd_key.public_key())
    };
    let body = seal(
        &sq.e2e_dh_secret,
        sq.client_version,
        Some(sq.e2e_pub_key),
        header,
        &env,
    )?;
    Ok((
        SndMsgRecord {
            conn_id: conn.conn_id.clone(),
            internal_id: conn.last_internal_id,
            snd_id: conn.last_snd_id,
            kind: SndMsgKind::Confirmation,
            hash,
            body: SndBody::Sealed(body),
            pending: true,
            receipt: None,
            queue: None,
        },
        ratchet,
    ))
}

/// The versions to use with a link's creator and the queue to reach it: the highest agent
/// version both support, the link's first queue, and the highest SMP client version both
/// support for that queue.
pub(super) fn negotiate_link(
    data: &ConnReqUriData,
) -> Result<(Version, &SmpQueueUri, Version), AgentError> {
    let agent_v = data
        .agent_versions
        .compatible_version(&SUPPORTED_AGENT_VERSIONS)
        .ok_or(AgentError::Version)?;
    let quri = data
        .smp_queues
        .first()
        .ok_or(AgentError::BadLink("no queue".into()))?;
    let client_v = quri
        .client_versions
        .compatible_version(&SUPPORTED_SMP_CLIENT_VERSIONS)
        .ok_or(AgentError::Version)?;
    Ok((agent_v, quri, client_v))
}
