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
use simplex_crypto::nacl::{
    cb_encrypt, cb_verify, cb_verify_with_key, CbAuthenticator, CbKey, CbNonce, TAG_LEN,
};
use simplex_crypto::{
    dh_x25519, verify, DhSecretX25519, PrivateKeyX25519, PublicAuthKey, PublicKeyEd25519,
    PublicKeyX25519, PublicSignKey, Signature,
};
use simplex_encoding::{Encode, ShortBytes, UnixTime};
use smp_proto::command::MsgFlags;
use smp_proto::message::{Message as DeliveredMessage, MAX_MESSAGE_LEN, RCV_MSG_BODY_PADDED_LEN};

use crate::msg_store::{
    Message, MessageKind, MsgNtf, MsgStore, NtfStore, WriteOutcome, DEFAULT_MESSAGE_TTL,
    DEFAULT_NTF_TTL,
};
use crate::stats::{add, inc, Stats};
use crate::store::{
    EntityId, NtfCreds, Party, QueueMode, QueueRecord, QueueStatus, QueueStore, StoreError,
};

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
    },
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

impl Cmd {
    fn party(&self) -> Option<Party> {
        match self {
            Cmd::New { .. } | Cmd::Ping => None,
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
    },
    /// `OK`
    Ok,
    /// `SOK` without a service: `SUB`/`NSUB` succeeded (sent as `OK` before v16).
    Sok,
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
}

/// A stored message as `MSG`: the received-message body (`ts`, flags, body), padded, boxed
/// with the queue's DH secret under the message ID. The body is copied once, into the box
/// buffer, and encrypted there in place.
fn encrypt_msg(secret: &DhSecretX25519, msg: &Message) -> Result<Reply, ErrorKind> {
    let nonce = CbNonce::from_slice(&msg.id).map_err(|_| ErrorKind::Internal)?;
    let ts = UnixTime(msg.ts);
    let mut out = Vec::with_capacity(TAG_LEN + RCV_MSG_PADDED_LEN);
    out.extend_from_slice(&[0u8; TAG_LEN]);
    match &msg.kind {
        MessageKind::Message { notification, body } => {
            if body.len() > MAX_MESSAGE_LEN {
                return Err(ErrorKind::LargeMsg);
            }
            // The padding's 2-byte length first, filled in once the content is written.
            out.extend_from_slice(&[0u8; 2]);
            ts.encode(&mut out);
            MsgFlags {
                notification: *notification,
            }
            .encode(&mut out);
            out.push(b' ');
            out.extend_from_slice(body);
            let len = out.len() - TAG_LEN - 2;
            let len16 = u16::try_from(len).map_err(|_| ErrorKind::LargeMsg)?;
            if len + 2 > RCV_MSG_PADDED_LEN {
                return Err(ErrorKind::LargeMsg);
            }
            if let Some(l) = out.get_mut(TAG_LEN..TAG_LEN + 2) {
                l.copy_from_slice(&len16.to_be_bytes());
            }
            out.resize(TAG_LEN + RCV_MSG_PADDED_LEN, b'#');
        }
        MessageKind::Quota => {
            let msg_id = ShortBytes::from_slice(&msg.id).map_err(|_| ErrorKind::Internal)?;
            DeliveredMessage::Quota { msg_id, ts }
                .encode_rcv_body_padded(&mut out)
                .map_err(|_| ErrorKind::LargeMsg)?;
        }
    }
    let (tag, body) = out.split_at_mut(TAG_LEN);
    tag.copy_from_slice(&CbKey::from_dh(secret).seal_in_place(&nonce, body));
    Ok(Reply::Msg {
        msg_id: msg.id.clone(),
        enc_body: out,
    })
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
    /// Subscribed notifiers with notifications kept in `ntfs` because their connection was
    /// backed up: new ones join those (in order) until [`Core::take_kept_ntfs`] hands them on.
    ntf_kept: HashSet<EntityId>,
    clients: HashMap<ClientId, ClientState>,
    /// Operators' counters (no clock, no I/O here: the network layer writes them out).
    stats: Arc<Stats>,
}

impl From<MsgNtf> for Reply {
    /// The `NMSG` of a notification.
    fn from(ntf: MsgNtf) -> Reply {
        Reply::NMsg {
            nonce: ntf.nonce,
            enc_meta: ntf.enc_meta,
            msg_id: ntf.msg_id,
            ts: ntf.ts,
        }
    }
}

/// A valid Ed25519 public key to verify against when the queue or key is missing, so the
/// failure takes the same time (the base point's encoding).
const DUMMY_ED25519: [u8; 32] = [
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
];

/// The X25519 public key verified against when the queue or key is missing: X25519 costs
/// the same for every public key, so a fixed one (the base point, `u = 9`) makes `ERR AUTH`
/// cost what a real key costs, without deriving a dummy public key per command.
const DUMMY_X25519: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 9;
    k
};

/// Box keys (HSalsa20 of the X25519 agreement with the session key) of the X25519 auth keys
/// that authorized a command on this session, so that repeated `SEND`/`ACK` skip the
/// agreement.
///
/// Only keys that verified are kept: a hit means this session already proved it holds the
/// key's secret, so the shorter time tells the client nothing it does not know. A missing
/// queue, a wrong key or any first use costs the full agreement, as without the cache. The
/// session key is fixed for a session, so the public auth key alone identifies the box key.
#[derive(Debug, Default)]
pub struct AuthKeyCache {
    keys: HashMap<[u8; 32], CbKey>,
}

/// Keys kept per session at most; the cache is emptied when it fills (a client with more
/// active queues than this pays the agreement again, never more memory).
const AUTH_KEY_CACHE_MAX: usize = 4096;

impl AuthKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys kept.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is kept.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn verify_with(
    key: Option<&PublicAuthKey>,
    session: &Session,
    req: &Request,
    cache: Option<&mut AuthKeyCache>,
) -> bool {
    match &req.auth {
        Authorization::None => false,
        Authorization::Signature(sig) => match key.and_then(PublicAuthKey::as_sign_key) {
            Some(k) => verify(&k, sig, &req.authorized),
            None => {
                if let Ok(k) = PublicKeyEd25519::from_raw(&DUMMY_ED25519) {
                    let _ = verify(&PublicSignKey::Ed25519(k), sig, &req.authorized);
                }
                false
            }
        },
        Authorization::Authenticator(a) => {
            let (Some(srv), Ok(nonce)) =
                (&session.server_dh_key, CbNonce::from_slice(&req.corr_id))
            else {
                return false;
            };
            let real = match key {
                Some(PublicAuthKey::X25519(k)) => Some(k),
                _ => None,
            };
            let Some(real) = real else {
                if let Ok(dummy) = PublicKeyX25519::from_raw(&DUMMY_X25519) {
                    let _ = cb_verify(&dummy, srv, &nonce, a, &req.authorized);
                }
                return false;
            };
            let mut raw = [0u8; 32];
            raw.copy_from_slice(real.as_raw());
            if let Some(k) = cache.as_deref().and_then(|c| c.keys.get(&raw)) {
                return cb_verify_with_key(k, &nonce, a, &req.authorized);
            }
            let cb_key = CbKey::from_dh(&dh_x25519(real, srv));
            let ok = cb_verify_with_key(&cb_key, &nonce, a, &req.authorized);
            if let (true, Some(c)) = (ok, cache) {
                if c.keys.len() >= AUTH_KEY_CACHE_MAX {
                    c.keys.clear();
                }
                c.keys.insert(raw, cb_key);
            }
            ok
        }
    }
}

/// The keys a request's authorization is checked against ([`Core::auth_check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    /// No authorization needed (`PING`).
    Nothing,
    /// Must carry no authorization (`SEND` to a queue not secured yet).
    Unsigned,
    /// Must be authorized by one of these keys; none (a missing queue, a refused `SKEY`)
    /// fails after verifying against a dummy key, so that `ERR AUTH` costs the same.
    Keys(Vec<PublicAuthKey>),
}

impl AuthCheck {
    /// Verifies the request against the keys (the costly part; needs no store).
    pub fn verify(&self, session: &Session, req: &Request) -> bool {
        self.verify_inner(session, req, None)
    }

    /// [`AuthCheck::verify`] with the session's cache of X25519 box keys (see
    /// [`AuthKeyCache`]): the same answers, without the X25519 agreement for a key that
    /// already verified on this session.
    pub fn verify_cached(
        &self,
        session: &Session,
        req: &Request,
        cache: &mut AuthKeyCache,
    ) -> bool {
        self.verify_inner(session, req, Some(cache))
    }

    fn verify_inner(
        &self,
        session: &Session,
        req: &Request,
        mut cache: Option<&mut AuthKeyCache>,
    ) -> bool {
        match self {
            AuthCheck::Nothing => true,
            AuthCheck::Unsigned => req.auth == Authorization::None,
            AuthCheck::Keys(keys) if keys.is_empty() => {
                verify_with(None, session, req, None);
                false
            }
            AuthCheck::Keys(keys) => {
                // Every key is tried, so that the time does not tell which one matched.
                let mut ok = false;
                for k in keys {
                    ok |= verify_with(Some(k), session, req, cache.as_deref_mut());
                }
                ok
            }
        }
    }
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
            ntf_kept: HashSet::new(),
            clients: HashMap::new(),
            stats: Arc::default(),
        }
    }

    /// The operators' counters this core increments (see [`crate::stats`]).
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Keeps a notification that its notifier's connection could not take (too many
    /// waiting to be written): it goes out with [`Core::take_kept_ntfs`], or at the next
    /// `NSUB`, and later notifications of that notifier queue up behind it. The reference
    /// likewise keeps notifications in its store while a notifier's send queue is full.
    /// Dropped if the notifier is gone.
    pub fn keep_ntf(&mut self, nid: &[u8], ntf: MsgNtf) {
        if self.queues.recipient_id(Party::Notifier, nid).is_none() {
            return;
        }
        self.ntfs.store(nid, ntf);
        inc(&self.stats.ntf_count);
        // It was counted as delivered when it was handed on (pushed at `SEND`, or taken by
        // `take_kept_ntfs`); it will be again when it goes out.
        add(&self.stats.msg_ntfs, -1);
        if self.ntf_subscribers.contains_key(nid) {
            self.ntf_kept.insert(nid.to_vec());
        }
    }

    /// True while notifications are kept for this subscribed notifier (new ones must queue
    /// behind them).
    pub fn ntf_is_kept(&self, nid: &[u8]) -> bool {
        self.ntf_kept.contains(nid)
    }

    /// The kept notifications of subscribed notifiers (see [`Core::keep_ntf`]), oldest first,
    /// with the client to push them to; they are no longer kept. Run periodically.
    pub fn take_kept_ntfs(&mut self) -> Vec<(ClientId, EntityId, Vec<MsgNtf>)> {
        let mut out = Vec::new();
        for nid in std::mem::take(&mut self.ntf_kept) {
            if let Some(&client) = self.ntf_subscribers.get(&nid) {
                let ntfs = self.ntfs.take(&nid);
                if !ntfs.is_empty() {
                    self.count_ntfs_delivered(ntfs.len());
                    out.push((client, nid, ntfs));
                }
            }
        }
        out
    }

    /// `[AUTH] create_password`: the reference also requires it of `PRXY`.
    pub fn create_password(&self) -> Option<&[u8]> {
        self.config.create_password.as_deref()
    }

    /// The number of queue subscriptions (for tests and stats).
    pub fn subscription_count(&self) -> usize {
        self.subscribers.len()
    }

    /// Drops a disconnected client's subscriptions.
    pub fn client_gone(&mut self, client: ClientId) {
        if let Some(state) = self.clients.remove(&client) {
            for rid in state.subs.keys() {
                if self.subscribers.get(rid) == Some(&client) {
                    self.subscribers.remove(rid);
                }
            }
            for nid in &state.ntf_subs {
                if self.ntf_subscribers.get(nid) == Some(&client) {
                    self.ntf_subscribers.remove(nid);
                }
            }
        }
    }

    /// True when the client has no subscriptions (inactive clients without any are dropped).
    pub fn has_subscriptions(&self, client: ClientId) -> bool {
        self.clients
            .get(&client)
            .is_some_and(|c| c.subs.values().any(|s| !s.get) || !c.ntf_subs.is_empty())
    }

    /// Expires notifications kept longer than the notification TTL.
    pub fn expire_ntfs(&mut self, now: i64) -> usize {
        let n = self.ntfs.expire(now - self.config.ntf_ttl);
        let n64 = i64::try_from(n).unwrap_or(i64::MAX);
        add(&self.stats.msg_ntf_expired, n64);
        add(&self.stats.ntf_count, -n64);
        n
    }

    /// Kept notifications handed to their notifier's connection.
    fn count_ntfs_delivered(&self, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        add(&self.stats.msg_ntfs, n);
        inc(&self.stats.msg_ntfs_b);
        add(&self.stats.ntf_count, -n);
    }

    /// Messages expired or deleted from the store.
    fn count_msgs_gone(&self, n: usize, expired: bool) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if expired {
            add(&self.stats.msg_expired, n);
        }
        add(&self.stats.msg_count, -n);
    }

    /// An `END` (or `DELD`) pushed to a subscriber.
    fn count_end(&self) {
        inc(&self.stats.q_sub_end);
        inc(&self.stats.q_sub_end_b);
    }

    /// Expires old messages in every queue.
    pub fn expire_messages(&mut self, now: i64) -> usize {
        let n = match self.config.message_ttl {
            Some(ttl) => self.msgs.expire_all(now - ttl),
            None => 0,
        };
        self.count_msgs_gone(n, true);
        n
    }

    /// What the request's authorization must be checked against: a cheap look-up, to be done
    /// under the store lock, so that the costly [`AuthCheck::verify`] can run outside it (the
    /// reference, too, verifies a whole batch before processing any of it).
    pub fn auth_check(&self, req: &Request) -> AuthCheck {
        let Some(party) = req.cmd.party() else {
            return match &req.cmd {
                Cmd::New { rcv_auth_key, .. } => AuthCheck::Keys(vec![rcv_auth_key.clone()]),
                _ => AuthCheck::Nothing,
            };
        };
        match (&req.cmd, self.queues.find(party, &req.entity_id)) {
            (_, None) => AuthCheck::Keys(Vec::new()),
            (Cmd::Send { .. }, Some(q)) => match &q.sender_key {
                None => AuthCheck::Unsigned,
                Some(k) => AuthCheck::Keys(vec![k.clone()]),
            },
            (Cmd::SKey(k), Some(q)) => {
                let allowed =
                    q.sender_can_secure() && q.sender_key.as_ref().is_none_or(|sk| sk == k);
                AuthCheck::Keys(if allowed { vec![k.clone()] } else { Vec::new() })
            }
            (Cmd::NSub, Some(q)) => AuthCheck::Keys(
                q.notifier
                    .as_ref()
                    .map(|n| n.notifier_key.clone())
                    .into_iter()
                    .collect(),
            ),
            (_, Some(q)) => AuthCheck::Keys(q.recipient_keys.clone()),
        }
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
        let reply = if verified {
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
                ..
            } => {
                let allowed = self.config.allow_new_queues
                    && self
                        .config
                        .create_password
                        .as_ref()
                        .is_none_or(|p| basic_auth.as_ref() == Some(p));
                if allowed {
                    let Cmd::New { rcv_auth_key, .. } = &req.cmd else {
                        return Reply::Err(ErrorKind::Internal);
                    };
                    let new = NewQueue {
                        rcv_auth_key: rcv_auth_key.clone(),
                        rcv_dh_key: *rcv_dh_key,
                        subscribe: *subscribe,
                        queue_mode: *queue_mode,
                    };
                    self.create_queue(rng, now, session, new, out)
                } else {
                    Err(ErrorKind::Auth)
                }
            }
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
                let blocked =
                    self.queues
                        .find(Party::Recipient, &rid)
                        .and_then(|q| match &q.status {
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

    fn create_queue<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        new: NewQueue,
        out: &mut Vec<Outgoing>,
    ) -> Result<Reply, ErrorKind> {
        let NewQueue {
            rcv_auth_key,
            rcv_dh_key,
            subscribe,
            queue_mode,
        } = new;
        let ours = PrivateKeyX25519::generate(rng);
        let rcv_dh_secret = dh_x25519(&rcv_dh_key, &ours);
        for _ in 0..3 {
            let rcv_id = self.random_id(rng);
            let snd_id = self.random_id(rng);
            let record = QueueRecord {
                recipient_id: rcv_id.clone(),
                recipient_keys: vec![rcv_auth_key.clone()],
                rcv_dh_secret: rcv_dh_secret.clone(),
                sender_id: snd_id.clone(),
                sender_key: None,
                queue_mode,
                link: None,
                notifier: None,
                status: QueueStatus::Active,
                updated_at: Some(now - now.rem_euclid(86_400)),
                rcv_service: None,
            };
            match self.queues.add(record) {
                Ok(()) => {
                    inc(&self.stats.q_created);
                    inc(&self.stats.q_count);
                    if subscribe {
                        self.subscribe(session.client, &rcv_id, out);
                    }
                    let srv_dh_key = ours.public_key();
                    return Ok(Reply::Ids {
                        rcv_id,
                        snd_id,
                        srv_dh_key,
                        queue_mode,
                    });
                }
                Err(StoreError::Duplicate) => continue,
                Err(_) => return Err(ErrorKind::Internal),
            }
        }
        Err(ErrorKind::Internal)
    }

    /// Makes this client the queue's subscriber; the previous one gets `END`.
    fn subscribe(&mut self, client: ClientId, rid: &[u8], out: &mut Vec<Outgoing>) {
        if let Some(prev) = self.subscribers.insert(rid.to_vec(), client) {
            if prev != client {
                if let Some(c) = self.clients.get_mut(&prev) {
                    c.subs.remove(rid);
                }
                self.count_end();
                out.push(Outgoing {
                    client: prev,
                    corr_id: Vec::new(),
                    entity_id: rid.to_vec(),
                    reply: Reply::End,
                });
            }
        }
        self.clients
            .entry(client)
            .or_default()
            .subs
            .insert(rid.to_vec(), Sub::default());
    }

    /// The first message as `MSG` (and marks it delivered on `client`'s subscription).
    fn deliver_first(&mut self, client: ClientId, rid: &[u8]) -> Result<Option<Reply>, ErrorKind> {
        let Some(msg) = self.msgs.peek(rid) else {
            return Ok(None);
        };
        let secret = self.queues.rcv_dh_secret(rid).ok_or(ErrorKind::Auth)?;
        let reply = encrypt_msg(secret, msg)?;
        let id = msg.id.clone();
        if let Some(sub) = self
            .clients
            .get_mut(&client)
            .and_then(|c| c.subs.get_mut(rid))
        {
            sub.delivered = Some(id);
        }
        Ok(Some(reply))
    }

    fn queue_command<R: RngCore + CryptoRng>(
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
                Ok(Reply::Sok)
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
                    self.drop_notifier(&n.notifier_id, client, out);
                }
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
                                self.drop_notifier(&old, client, out);
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
                if let Some(old) = self
                    .queues
                    .delete_notifier(rid)
                    .map_err(|_| ErrorKind::Internal)?
                {
                    inc(&self.stats.ntf_deleted);
                    self.drop_notifier(&old, client, out);
                }
                Ok(Reply::Ok)
            }
            Cmd::NSub => {
                let nid = req.entity_id.clone();
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
                self.ntf_kept.remove(&nid);
                let kept = self.ntfs.take(&nid);
                if !kept.is_empty() {
                    self.count_ntfs_delivered(kept.len());
                }
                for ntf in kept {
                    out.push(Outgoing {
                        client,
                        corr_id: Vec::new(),
                        entity_id: nid.clone(),
                        reply: Reply::from(ntf),
                    });
                }
                self.clients.entry(client).or_default().ntf_subs.insert(nid);
                Ok(Reply::Sok)
            }
            Cmd::New { .. } | Cmd::Ping => Err(ErrorKind::Internal),
        }
    }

    /// The notifier is removed (by `by`): its subscription and kept notifications go, and a
    /// notifier subscribed on another connection gets `DELD` (sent as `END` before v10).
    fn drop_notifier(&mut self, nid: &[u8], by: ClientId, out: &mut Vec<Outgoing>) {
        let dropped = self.ntfs.delete(nid);
        add(
            &self.stats.ntf_count,
            -i64::try_from(dropped).unwrap_or(i64::MAX),
        );
        self.ntf_kept.remove(nid);
        if let Some(c) = self.ntf_subscribers.remove(nid) {
            if let Some(state) = self.clients.get_mut(&c) {
                state.ntf_subs.remove(nid);
            }
            if c != by {
                self.count_end();
                out.push(Outgoing {
                    client: c,
                    corr_id: Vec::new(),
                    entity_id: nid.to_vec(),
                    reply: Reply::Deld,
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        rid: &EntityId,
        notification: bool,
        body: Vec<u8>,
        out: &mut Vec<Outgoing>,
    ) -> Result<Reply, ErrorKind> {
        if body.len() > smp_proto::max_message_length(smp_proto::Version(session.version)) {
            inc(&self.stats.msg_sent_large);
            return Err(ErrorKind::LargeMsg);
        }
        let q = self
            .queues
            .find(Party::Recipient, rid)
            .ok_or(ErrorKind::Auth)?;
        match q.status {
            QueueStatus::Active => {}
            QueueStatus::Blocked(info) => {
                inc(&self.stats.msg_sent_block);
                return Err(ErrorKind::Blocked(info.clone()));
            }
            _ => {
                inc(&self.stats.msg_sent_auth);
                return Err(ErrorKind::Auth);
            }
        }
        let notifier = q
            .notifier
            .as_ref()
            .map(|n| (n.notifier_id.clone(), n.rcv_ntf_dh_secret.clone()));
        if let (Some(ttl), true) = (self.config.message_ttl, self.config.expire_on_send) {
            let n = self.msgs.expire(rid, now - ttl);
            self.count_msgs_gone(n, true);
        }
        let msg_id = self.random_id(rng);
        let msg = Message {
            id: msg_id.clone(),
            ts: now,
            kind: MessageKind::Message { notification, body },
        };
        match self.msgs.write(rid, msg) {
            WriteOutcome::Quota => {
                inc(&self.stats.msg_sent_quota);
                Err(ErrorKind::Quota)
            }
            WriteOutcome::Failed => Err(ErrorKind::Internal),
            WriteOutcome::Stored { was_empty } => {
                inc(&self.stats.msg_sent);
                inc(&self.stats.msg_count);
                if notification {
                    inc(&self.stats.msg_sent_ntf);
                }
                if was_empty {
                    if let Some(&sub) = self.subscribers.get(rid) {
                        let idle = self
                            .clients
                            .get(&sub)
                            .and_then(|c| c.subs.get(rid))
                            .is_some_and(|s| !s.get && s.delivered.is_none());
                        if idle {
                            if let Some(reply) = self.deliver_first(sub, rid)? {
                                out.push(Outgoing {
                                    client: sub,
                                    corr_id: Vec::new(),
                                    entity_id: rid.clone(),
                                    reply,
                                });
                            }
                        }
                    }
                }
                if notification {
                    if let Some((nid, secret)) = notifier {
                        if let Ok(short_id) = ShortBytes::from_slice(&msg_id) {
                            let mut nonce = [0u8; 24];
                            rng.fill_bytes(&mut nonce);
                            // `NMsgMeta`: the message ID and its time.
                            let meta = (short_id, UnixTime(now)).to_bytes();
                            if let Ok(enc_meta) =
                                cb_encrypt(&secret, &CbNonce(nonce), &meta, NTF_META_PADDED_LEN)
                            {
                                let ntf = MsgNtf {
                                    msg_id,
                                    ts: now,
                                    nonce,
                                    enc_meta,
                                };
                                // A subscribed notifier gets it now, unless earlier ones
                                // are kept for it; otherwise it waits for `NSUB` (the
                                // reference keeps every one and flushes them to subscribed
                                // notifiers every 1.5 seconds).
                                match self.ntf_subscribers.get(&nid) {
                                    Some(&ntf_client) if !self.ntf_kept.contains(&nid) => {
                                        inc(&self.stats.msg_ntfs);
                                        inc(&self.stats.msg_ntfs_b);
                                        out.push(Outgoing {
                                            client: ntf_client,
                                            corr_id: Vec::new(),
                                            entity_id: nid,
                                            reply: Reply::from(ntf),
                                        })
                                    }
                                    _ => {
                                        inc(&self.stats.ntf_count);
                                        self.ntfs.store(&nid, ntf);
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(Reply::Ok)
            }
        }
    }
}

mod operator;
pub use operator::SubscriberCounts;

#[cfg(test)]
mod tests;
