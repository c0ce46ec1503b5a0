//! The relay's command semantics as a state machine without I/O (`protocol/simplex-messaging.md`
//! § "SMP commands", v6–v9; the reference's `Server.hs` `verifyTransmission` and
//! `processCommand`).
//!
//! The network layer feeds [`Core::handle`] one client's verified-or-not [`Request`] at a time
//! and routes the returned [`Outgoing`] replies: to the same client (the reply, carrying its
//! correlation ID) and to other clients (pushed `MSG`, `END`, `NMSG`, with an empty one).
//! Time and randomness are passed in. Pushes are bounded without back-pressure: a subscribed
//! queue has at most one unacknowledged `MSG` in flight, and one `END` ends a subscription.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rand_core::{CryptoRng, RngCore};
use simplex_crypto::nacl::CbAuthenticator;
use simplex_crypto::{
    PrivateKeyX25519, PublicAuthKey, PublicKeyEd25519, PublicKeyX25519, Signature,
};
use smp_proto::message::RCV_MSG_BODY_PADDED_LEN;
use smp_proto::ServiceRole;

use crate::msg_store::{MsgStore, NtfStore, DEFAULT_MESSAGE_TTL, DEFAULT_NTF_TTL};
use crate::stats::{inc, Stats};
use crate::store::{EntityId, Party, QueueLink, QueueMode, QueueStatus, QueueStore};

/// A connected client, as the network layer numbers them.
pub type ClientId = u64;

/// Padded size of a delivered message body (`MaxRcvMessageLen` + 2).
pub const RCV_MSG_PADDED_LEN: usize = RCV_MSG_BODY_PADDED_LEN;
/// Padded size of notification metadata.
pub const NTF_META_PADDED_LEN: usize = 128;

/// A client command, decoded from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `NEW`: create a queue.
    New {
        /// The recipient's authorization key (Ed25519/Ed448 or X25519).
        rcv_auth_key: PublicAuthKey,
        /// The recipient's X25519 DH key for delivered message bodies.
        rcv_dh_key: PublicKeyX25519,
        /// The basic-auth password, if given.
        basic_auth: Option<Vec<u8>>,
        /// `S` (subscribe at once) or `C` (only create).
        subscribe: bool,
        /// v9 `sndSecure`: the queue mode asked for (`None` before v9).
        queue_mode: Option<QueueMode>,
        /// v15: the short link asked for with the queue.
        link: Option<Box<NewLink>>,
        /// v17: notifier credentials made with the queue: the notifier's key and the
        /// recipient's DH key for notification metadata.
        ntf: Option<Box<(PublicAuthKey, PublicKeyX25519)>>,
    },
    /// `LSET` (v15): set the queue's link (recipient).
    LSet(Box<QueueLink>),
    /// `LDEL` (v15): delete the queue's link (recipient).
    LDel,
    /// `LKEY` (v15): secure a messaging queue found by its link ID, and read its link.
    LKey(PublicAuthKey),
    /// `LGET` (v15): read a contact queue's link (unsigned).
    LGet,
    /// `RKEY`: replace a contact queue's recipient keys.
    RKey(Vec<PublicAuthKey>),
    /// `SUBS` (v16): subscribe a messaging service's queues (refused with `CMD PROHIBITED`,
    /// as the reference does).
    Subs,
    /// `NSUBS` (v16): subscribe a notification service's queues.
    NSubs,
    /// `SUB`
    Sub,
    /// `KEY`: the recipient secures the queue.
    Key(PublicAuthKey),
    /// `SKEY`: the sender secures the queue (v9).
    SKey(PublicAuthKey),
    /// `SEND`
    Send {
        /// The notification flag.
        notification: bool,
        /// The message body.
        body: Vec<u8>,
    },
    /// `ACK` of a message ID.
    Ack(Vec<u8>),
    /// `GET`
    Get,
    /// `OFF`
    Off,
    /// `DEL`
    Del,
    /// `QUE`
    Que,
    /// `NKEY`
    NKey {
        /// The notifier's authorization key.
        notifier_key: PublicAuthKey,
        /// The recipient's X25519 DH key for notification metadata.
        rcv_ntf_dh_key: PublicKeyX25519,
    },
    /// `NDEL`
    NDel,
    /// `NSUB` (by the notifier)
    NSub,
    /// `PING`
    Ping,
}

/// The short link `NEW` asks for (v15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    /// The sender ID the client chose (the first 24 bytes of SHA3-384 of the correlation ID).
    pub snd_id: EntityId,
    /// The link ID of a contact queue (the server makes one for a messaging queue).
    pub link_id: Option<EntityId>,
    /// The encrypted fixed data.
    pub fixed: Vec<u8>,
    /// The encrypted user data.
    pub user: Vec<u8>,
}

impl Cmd {
    fn party(&self) -> Option<Party> {
        match self {
            Cmd::New { .. } | Cmd::Ping | Cmd::Subs | Cmd::NSubs => None,
            Cmd::LKey(_) | Cmd::LGet => Some(Party::Link),
            Cmd::SKey(_) | Cmd::Send { .. } => Some(Party::Sender),
            Cmd::NSub => Some(Party::Notifier),
            _ => Some(Party::Recipient),
        }
    }
}

/// How a transmission was authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// No authorization.
    None,
    /// An Ed25519 or Ed448 signature.
    Signature(Signature),
    /// A crypto_box authenticator.
    Authenticator(CbAuthenticator),
}

/// One parsed transmission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The correlation ID (24 bytes; the authenticator's nonce).
    pub corr_id: Vec<u8>,
    /// The entity (queue) ID.
    pub entity_id: EntityId,
    /// The authorization.
    pub auth: Authorization,
    /// The bytes the authorization covers.
    pub authorized: Vec<u8>,
    /// v16: the service signature after the authorization, if any (required of `NEW`,
    /// `SUB` and `NSUB` in a service session, refused elsewhere with `ERR SERVICE`).
    pub service_sig: Option<[u8; 64]>,
    /// The command.
    pub cmd: Cmd,
}

/// Wire error kinds the core produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `AUTH`
    Auth,
    /// `BLOCKED`: the queue is blocked; its blocking info as stored (`reason=spam`...).
    /// Sent as `AUTH` before v12.
    Blocked(String),
    /// `QUOTA`
    Quota,
    /// `NO_MSG`
    NoMsg,
    /// `LARGE_MSG`
    LargeMsg,
    /// `INTERNAL`
    Internal,
    /// `CMD PROHIBITED`
    Prohibited,
    /// `SERVICE` (v16): a service command or signature without a service session.
    Service,
}

/// `INFO` contents (`QUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// Secured by a sender key.
    pub secured: bool,
    /// Has notifier credentials.
    pub notifier: bool,
    /// This client's subscription: `None`, or the message ID delivered and not acknowledged.
    pub sub: Option<(bool, Option<Vec<u8>>)>,
    /// Stored messages.
    pub size: usize,
    /// The first message: ID, time, and whether it is the quota marker.
    pub first: Option<(Vec<u8>, i64, bool)>,
}

impl QueueInfo {
    /// The reference's JSON form.
    pub fn to_json(&self) -> String {
        let b64 = simplex_encoding::string::base64url_encode;
        let mut s = format!("{{\"qiSnd\":{},\"qiNtf\":{}", self.secured, self.notifier);
        if let Some((get, delivered)) = &self.sub {
            s.push_str(&format!(
                ",\"qiSub\":{{\"qSubThread\":\"{}\"",
                if *get { "prohibitSub" } else { "noSub" }
            ));
            if let Some(d) = delivered {
                s.push_str(&format!(",\"qDelivered\":\"{}\"", b64(d)));
            }
            s.push('}');
        }
        s.push_str(&format!(",\"qiSize\":{}", self.size));
        if let Some((id, ts, quota)) = &self.first {
            s.push_str(&format!(
                ",\"qiMsg\":{{\"msgId\":\"{}\",\"msgTs\":\"{}\",\"msgType\":\"{}\"}}",
                b64(id),
                crate::store_log::iso8601(i128::from(*ts) * 1_000_000_000).replace(".000000Z", "Z"),
                if *quota { "quota" } else { "message" }
            ));
        }
        s.push('}');
        s
    }
}

/// A server response or push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `IDS`
    Ids {
        /// Recipient ID.
        rcv_id: EntityId,
        /// Sender ID.
        snd_id: EntityId,
        /// The server's X25519 DH public key for this queue.
        srv_dh_key: PublicKeyX25519,
        /// The queue mode (v9 `sndSecure`).
        queue_mode: Option<QueueMode>,
        /// The link ID (v15), when the queue was made with a link.
        link_id: Option<EntityId>,
        /// v17: the notifier ID and the server's DH key for notifications, when `NEW` asked
        /// for notifier credentials.
        ntf: Option<(EntityId, PublicKeyX25519)>,
        /// v16: the service the queue was made by (a service session's `NEW`).
        service_id: Option<EntityId>,
    },
    /// `LNK` (v15): the sender ID and the link data.
    Lnk {
        /// Sender ID.
        snd_id: EntityId,
        /// The encrypted fixed data.
        fixed: Vec<u8>,
        /// The encrypted user data.
        user: Vec<u8>,
    },
    /// `OK`
    Ok,
    /// `SOK`: `SUB`/`NSUB` succeeded, with the session's service, if any (sent as `OK`
    /// before v16).
    Sok(Option<EntityId>),
    /// `SOKS` (v16): `NSUBS` subscribed this many queues.
    Soks(i64),
    /// `ENDS` (v16): this many of the service's queue subscriptions moved to another
    /// session of the service.
    Ends(i64),
    /// `MSG`: message ID and the encrypted, padded body.
    Msg {
        /// Message ID.
        msg_id: Vec<u8>,
        /// crypto_box of the padded received-message body.
        enc_body: Vec<u8>,
    },
    /// `END`: the subscription moved to another client.
    End,
    /// `DELD`: the queue (or its notifier) was deleted by another client (`END` before v10).
    Deld,
    /// `NID`: notifier ID and the server's DH public key for notifications.
    Nid {
        /// Notifier ID.
        notifier_id: EntityId,
        /// Server DH public key.
        srv_ntf_dh_key: PublicKeyX25519,
    },
    /// `NMSG`: nonce and encrypted message metadata (with the message's ID and time, not
    /// sent, so that a notification the notifier's connection cannot take now can be kept:
    /// [`Core::keep_ntf`]).
    NMsg {
        /// Nonce.
        nonce: [u8; 24],
        /// Encrypted `(msgId, msgTs)`.
        enc_meta: Vec<u8>,
        /// The message's ID.
        msg_id: Vec<u8>,
        /// The message's time, Unix seconds.
        ts: i64,
    },
    /// `INFO`
    Info(QueueInfo),
    /// `PONG`
    Pong,
    /// `ERR`
    Err(ErrorKind),
}

/// A reply for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The client to send to.
    pub client: ClientId,
    /// Correlation ID (empty for pushes).
    pub corr_id: Vec<u8>,
    /// Entity ID.
    pub entity_id: EntityId,
    /// The reply.
    pub reply: Reply,
}

/// Per-session facts the core needs.
pub struct Session {
    /// The client.
    pub client: ClientId,
    /// The negotiated SMP version.
    pub version: u16,
    /// The server's X25519 session key (from the handshake), for authenticators.
    pub server_dh_key: Option<PrivateKeyX25519>,
    /// The service this session is (v16), as its handshake established.
    pub service: Option<SessionService>,
}

/// A service session's identity (`THPeerClientService`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionService {
    /// The service ID.
    pub id: EntityId,
    /// The role it connected as.
    pub role: ServiceRole,
    /// SHA-256 of its identity certificate: queue keys sign it before the transmission in
    /// service-signed commands.
    pub cert_hash: [u8; 32],
    /// Its session key: verifies service signatures and `NSUBS`.
    pub key: PublicKeyEd25519,
}

/// Core configuration (from the INI file).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// `[AUTH] new_queues`.
    pub allow_new_queues: bool,
    /// `[AUTH] create_password`.
    pub create_password: Option<Vec<u8>>,
    /// Message expiry in seconds (`None`: never).
    pub message_ttl: Option<i64>,
    /// `[STORE_LOG] expire_messages_on_send`: expire a queue's old messages on each `SEND`
    /// to it (on when the key is absent).
    pub expire_on_send: bool,
    /// Expiry of notifications kept for notifiers, in seconds (`expire_ntfs_hours`).
    pub ntf_ttl: i64,
    /// Queue and message ID length.
    pub id_len: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            allow_new_queues: true,
            create_password: None,
            message_ttl: Some(DEFAULT_MESSAGE_TTL),
            expire_on_send: true,
            ntf_ttl: DEFAULT_NTF_TTL,
            id_len: 24,
        }
    }
}

struct NewQueue {
    rcv_auth_key: PublicAuthKey,
    rcv_dh_key: PublicKeyX25519,
    subscribe: bool,
    queue_mode: Option<QueueMode>,
    link: Option<NewLink>,
    ntf: Option<(PublicAuthKey, PublicKeyX25519)>,
}

#[derive(Debug, Default)]
struct Sub {
    /// True for a `GET` "subscription" (prohibits `SUB` on this connection).
    get: bool,
    delivered: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
struct ClientState {
    subs: HashMap<EntityId, Sub>,
    ntf_subs: HashSet<EntityId>,
    /// A notifier service session: the service's queues subscribed on it (`NSUB`s that
    /// associated a queue, or the count `NSUBS` found).
    ntf_service_subs: i64,
    /// `NSUBS` was done on this session.
    ntf_service_subscribed: bool,
}

/// The relay state.
#[derive(Debug)]
pub struct Core {
    /// Queues.
    pub queues: QueueStore,
    /// Messages.
    pub msgs: MsgStore,
    /// Notifications waiting for their notifier to subscribe, or for its connection to
    /// take them.
    pub ntfs: NtfStore,
    config: CoreConfig,
    subscribers: HashMap<EntityId, ClientId>,
    ntf_subscribers: HashMap<EntityId, ClientId>,
    /// The session each notifier service is subscribed on (its queues' notifications go
    /// there).
    ntf_service_subscribers: HashMap<EntityId, ClientId>,
    /// Subscribed notifiers with notifications kept in `ntfs` because their connection was
    /// backed up: new ones join those (in order) until [`Core::take_kept_ntfs`] hands them on.
    ntf_kept: HashSet<EntityId>,
    clients: HashMap<ClientId, ClientState>,
    /// Operators' counters (no clock, no I/O here: the network layer writes them out).
    stats: Arc<Stats>,
}

impl Core {
    /// A core over (possibly restored) stores.
    pub fn new(config: CoreConfig, queues: QueueStore, msgs: MsgStore) -> Self {
        Core {
            queues,
            msgs,
            ntfs: NtfStore::default(),
            config,
            subscribers: HashMap::new(),
            ntf_subscribers: HashMap::new(),
            ntf_service_subscribers: HashMap::new(),
            ntf_kept: HashSet::new(),
            clients: HashMap::new(),
            stats: Arc::default(),
        }
    }

    /// The operators' counters this core increments (see [`crate::stats`]).
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// `[AUTH] create_password`: the reference also requires it of `PRXY`.
    pub fn create_password(&self) -> Option<&[u8]> {
        self.config.create_password.as_deref()
    }

    /// Handles one transmission; returns the replies and pushes.
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        req: Request,
    ) -> Vec<Outgoing> {
        let verified = self.auth_check(&req).verify(session, &req);
        self.handle_verified(rng, now, session, req, verified)
    }

    /// Handles one transmission whose authorization was checked (`verified`) with
    /// [`Core::auth_check`] and [`AuthCheck::verify`]; returns the replies and pushes.
    pub fn handle_verified<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        req: Request,
        verified: bool,
    ) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let mut req = req;
        let reply = if let Some(e) = self.service_refusal(session, &req) {
            Reply::Err(e)
        } else if matches!(req.cmd, Cmd::Subs | Cmd::NSubs) && !verified {
            Reply::Err(ErrorKind::Service)
        } else if verified {
            self.process(rng, now, session, &mut req, &mut out)
        } else {
            match req.cmd {
                Cmd::Send { .. } => inc(&self.stats.msg_sent_auth),
                Cmd::Sub => inc(&self.stats.q_sub_auth),
                Cmd::NSub => inc(&self.stats.ntf_sub_auth),
                Cmd::Get => inc(&self.stats.msg_get_auth),
                _ => {}
            }
            Reply::Err(ErrorKind::Auth)
        };
        out.insert(
            0,
            Outgoing {
                client: session.client,
                corr_id: req.corr_id,
                entity_id: req.entity_id,
                reply,
            },
        );
        out
    }

    fn random_id<R: RngCore>(&self, rng: &mut R) -> EntityId {
        let mut id = vec![0u8; self.config.id_len];
        rng.fill_bytes(&mut id);
        id
    }

    fn rid_of(&self, party: Party, id: &[u8]) -> Result<EntityId, ErrorKind> {
        self.queues.recipient_id(party, id).ok_or(ErrorKind::Auth)
    }

    fn process<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        req: &mut Request,
        out: &mut Vec<Outgoing>,
    ) -> Reply {
        let result = match &req.cmd {
            Cmd::Ping => Ok(Reply::Pong),
            Cmd::New {
                rcv_dh_key,
                basic_auth,
                subscribe,
                queue_mode,
                link,
                ntf,
                ..
            } => {
                let allowed = self.config.allow_new_queues
                    && self
                        .config
                        .create_password
                        .as_ref()
                        .is_none_or(|p| basic_auth.as_ref() == Some(p));
                if session.service.is_some() && !*subscribe {
                    // A service's queues are made subscribed (the reference refuses
                    // `SMOnlyCreate` from a service).
                    Err(ErrorKind::Prohibited)
                } else if allowed {
                    let Cmd::New { rcv_auth_key, .. } = &req.cmd else {
                        return Reply::Err(ErrorKind::Internal);
                    };
                    let new = NewQueue {
                        rcv_auth_key: rcv_auth_key.clone(),
                        rcv_dh_key: *rcv_dh_key,
                        subscribe: *subscribe,
                        queue_mode: *queue_mode,
                        link: link.as_deref().cloned(),
                        ntf: ntf.as_deref().cloned(),
                    };
                    self.create_queue(rng, now, session, &req.corr_id, new, out)
                } else {
                    Err(ErrorKind::Auth)
                }
            }
            // Recipient services are not served, as in the reference.
            Cmd::Subs => Err(ErrorKind::Prohibited),
            Cmd::NSubs => self.subscribe_service_ntfs(session, out),
            cmd => {
                let party = cmd.party().unwrap_or(Party::Recipient);
                let rid = match self.rid_of(party, &req.entity_id) {
                    Ok(rid) => rid,
                    Err(e) => return Reply::Err(e),
                };
                // As the reference: OFF, DEL and NSUB act on the queue as it is (no blocked
                // check, no time update); SEND updates the time but checks the size before
                // the status itself; every other command of a blocked queue gets ERR
                // BLOCKED, which is ERR AUTH before v12.
                let direct = matches!(cmd, Cmd::Off | Cmd::Del | Cmd::NSub);
                let checks_status = !direct && !matches!(cmd, Cmd::Send { .. });
                let blocked = self
                    .queues
                    .find_meta(Party::Recipient, &rid)
                    .and_then(|(q, _)| match &q.status {
                        QueueStatus::Blocked(info) => Some(info.clone()),
                        _ => None,
                    });
                if let Some(info) = blocked.filter(|_| checks_status) {
                    return Reply::Err(ErrorKind::Blocked(info));
                }
                let day = now - now.rem_euclid(86_400);
                if !direct && self.queues.touch(&rid, day).is_err() {
                    return Reply::Err(ErrorKind::Internal);
                }
                self.queue_command(rng, now, session, &rid, req, out)
            }
        };
        result.unwrap_or_else(Reply::Err)
    }
}

mod auth;
pub use auth::{AuthCheck, AuthKeyCache};
mod links;
use links::{link_reply, sender_id_matches};
mod message;
mod ntf;
mod operator;
mod queue;
mod service;
mod subscribe;
pub use operator::SubscriberCounts;

#[cfg(test)]
mod tests;
