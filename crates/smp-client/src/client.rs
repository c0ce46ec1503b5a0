//! One connection to one SMP server (the reference's `Client.hs`, our own shape).
//!
//! A receive task reads blocks, splits each batch and routes every transmission by its
//! correlation ID: to the oneshot of the command that waits for it, or, with an empty
//! correlation ID (`MSG`, `END`, `NMSG`, ...), to the event channel. Commands are written by
//! the caller's task under a lock on the writing half; a ping task keeps the connection
//! alive and closes it after repeated timeouts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rand::RngCore;
use simplex_crypto::nacl::{cb_decrypt, CbNonce};
use simplex_crypto::{
    dh_x25519, sign, DhSecretX25519, PrivateAuthKey, PrivateKeyX25519, PublicAuthKey,
    PublicKeyX25519,
};
use simplex_encoding::{decode_all, Large, ShortBytes};
use simplex_transport::handshake::{
    self, ClientTransportConfig, SessionParams, SmpReader, SmpWriter,
};
use simplex_transport::TransportError;
use smp_proto::address::SmpServer;
use smp_proto::block::decode_block;
use smp_proto::block::{plan_batches, BatchItem, MAX_TRANSMISSION_SIZE};
use smp_proto::command::{
    Command, MsgFlags, NewQueueReq, QueueMode, QueueReqData, SubscriptionMode,
};
use smp_proto::error::ProtoError;
use smp_proto::handshake::CertChainPubKey;
use smp_proto::message::{RcvMessage, RcvMsgBody};
use smp_proto::response::{QueueIdsKeys, QueueInfo, Response};
use smp_proto::transmission::{RawTransmission, TransmissionForAuth, CORR_ID_SIZE};
use smp_proto::version::Version;
use smp_proto::version::VersionRange;
use smp_proto::BasicAuth;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::error::ClientError;

/// How a client connects and how long it waits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TLS and handshake settings (versions, ALPN, handshake timeout). The default offers
    /// v6–v18 with ALPN `smp/1`; [`SmpClient::connect_as_proxy`] sets the proxy flag itself.
    pub transport: ClientTransportConfig,
    /// How long a command waits for its response.
    pub command_timeout: Duration,
    /// Interval between keep-alive `PING`s; zero disables them.
    pub ping_interval: Duration,
    /// Consecutive unanswered `PING`s after which the connection is closed.
    pub ping_count: u32,
    /// Capacity of the event channel (pushed `MSG`, `END`, ...).
    pub event_capacity: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            transport: ClientTransportConfig::default(),
            // The reference's background timeout.
            command_timeout: Duration::from_secs(30),
            // The reference pings every 10 minutes and gives up after 3 misses.
            ping_interval: Duration::from_secs(600),
            ping_count: 3,
            event_capacity: 1024,
        }
    }
}

/// A transmission the server pushed without a correlation ID, or a message that arrived as
/// the answer to `SUB`/`ACK` (which the reference also routes to the event stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    /// The queue (or other entity) it is about.
    pub entity_id: Vec<u8>,
    /// What the server sent (`MSG`, `END`, `NMSG`, ...).
    pub response: Response,
}

/// One command of a batch.
#[derive(Debug, Clone)]
pub struct ClientCommand<'a> {
    /// The key that authorizes it (`None` for `PING` and for `SEND` to an unsecured queue).
    pub key: Option<&'a PrivateAuthKey>,
    /// The queue ID (empty for `NEW` and `PING`).
    pub entity_id: &'a [u8],
    /// The command.
    pub command: Command,
}

struct Pending {
    entity_id: Vec<u8>,
    /// A `MSG` answering it is an event (`SUB`, `ACK`), handed on by the reader itself.
    msg_is_event: bool,
    reply: oneshot::Sender<Result<Response, ClientError>>,
}

/// State shared with the receive task.
pub(crate) struct Shared {
    params: SessionParams,
    server_dh_key: Option<PublicKeyX25519>,
    /// The box keys of commands authorized with X25519 queue keys.
    auth_keys: crate::auth_keys::AuthKeys,
    server_hello_key: Option<CertChainPubKey>,
    /// The secret of this client's hello key and the server's session key (proxies only).
    session_secret: Option<DhSecretX25519>,
    /// The service session (v16), when connected with service credentials.
    pub(crate) service: Option<handshake::ClientService>,
    pending: Mutex<HashMap<Vec<u8>, Pending>>,
    closed: AtomicBool,
    /// Taken (dropped) on close, so that the event stream ends with the connection.
    events: Mutex<Option<mpsc::Sender<ServerEvent>>>,
}

impl Shared {
    /// Marks the connection closed and fails every waiting command.
    fn close(&self) {
        let drained: Vec<Pending> = match self.pending.lock() {
            Ok(mut map) => {
                self.closed.store(true, Ordering::SeqCst);
                map.drain().map(|(_, p)| p).collect()
            }
            Err(_) => return,
        };
        if let Ok(mut events) = self.events.lock() {
            events.take();
        }
        for p in drained {
            let _ = p.reply.send(Err(ClientError::Closed));
        }
    }

    fn register(
        &self,
        corr_id: Vec<u8>,
        entity_id: Vec<u8>,
        msg_is_event: bool,
    ) -> Result<oneshot::Receiver<Result<Response, ClientError>>, ClientError> {
        let (tx, rx) = oneshot::channel();
        let mut map = self.pending.lock().map_err(|_| ClientError::Closed)?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(ClientError::Closed);
        }
        map.insert(
            corr_id,
            Pending {
                entity_id,
                msg_is_event,
                reply: tx,
            },
        );
        Ok(rx)
    }

    /// Pushes an event unless the connection is closed (a dropped receiver only means
    /// nobody listens for events).
    async fn push(&self, event: ServerEvent) {
        if let Some(sender) = self.event_sender() {
            let _ = sender.send(event).await;
        }
    }

    /// Pushes an event if the stream has room at once; else gives it back (`Some`). An
    /// event for a closed connection (or nobody listening) is dropped.
    fn try_push(&self, event: ServerEvent) -> Option<ServerEvent> {
        let sender = self.event_sender()?;
        match sender.try_send(event) {
            Err(mpsc::error::TrySendError::Full(event)) => Some(event),
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => None,
        }
    }

    /// The event stream's sender, while the connection is open.
    fn event_sender(&self) -> Option<mpsc::Sender<ServerEvent>> {
        self.events.lock().ok().and_then(|e| e.clone())
    }

    fn forget(&self, corr_id: &[u8]) {
        if let Ok(mut map) = self.pending.lock() {
            map.remove(corr_id);
        }
    }

    async fn route(&self, transmission: &[u8]) {
        let v = self.params.version;
        let raw = match RawTransmission::decode(v, transmission) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(error = %e, "transmission from server did not parse");
                return;
            }
        };
        let response = Response::decode(v, raw.command);
        if raw.corr_id.is_empty() {
            match response {
                Ok(response) => {
                    let event = ServerEvent {
                        entity_id: raw.entity_id.to_vec(),
                        response,
                    };
                    self.push(event).await;
                }
                Err(e) => tracing::warn!(error = %e, "pushed transmission did not parse"),
            }
            return;
        }
        let pending = match self.pending.lock() {
            Ok(mut map) => map.remove(raw.corr_id),
            Err(_) => None,
        };
        let Some(pending) = pending else {
            tracing::debug!("response to no pending command");
            return;
        };
        let result = match response {
            Err(e) => Err(ClientError::BadResponse(e)),
            Ok(Response::Err(e)) => Err(ClientError::Server(e)),
            Ok(_) if pending.entity_id.as_slice() != raw.entity_id => {
                Err(ClientError::Unexpected("response for another entity ID"))
            }
            // The next message answering `ACK` (or `SUB`) goes to the event stream from
            // here, before the command's caller is woken: the agent starts on it one task
            // switch sooner. Never waiting for room, though: the stream's consumer may itself
            // be waiting for an answer that this task routes. When the stream is full the
            // caller gets the message and hands it on (`ok_or_message`), as before.
            Ok(Response::Msg(m)) if pending.msg_is_event => {
                let event = ServerEvent {
                    entity_id: raw.entity_id.to_vec(),
                    response: Response::Msg(m),
                };
                match self.try_push(event) {
                    None => Ok(Response::Ok),
                    Some(event) => Ok(event.response),
                }
            }
            Ok(r) => Ok(r),
        };
        let _ = pending.reply.send(result);
    }
}

struct Handle {
    shared: Arc<Shared>,
    writer: tokio::sync::Mutex<SmpWriter>,
    config: ClientConfig,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        self.shared.close();
    }
}

/// A connection to one SMP server. Cheap to clone; the connection closes when the last
/// clone is dropped or on [`SmpClient::close`].
#[derive(Clone)]
pub struct SmpClient {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for SmpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmpClient")
            .field("version", &self.version())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl SmpClient {
    /// Connects to `server` (its first host that answers), checks its identity, runs the
    /// handshake, and starts the receive and ping tasks. Returns the client and the stream
    /// of events the server pushes; the stream ends when the connection closes (even while
    /// clones of the client remain).
    ///
    /// The hello carries a fresh X25519 key (the reference's `agreeSecret`), so that from
    /// v11 the relay encrypts the blocks of this session.
    pub async fn connect(
        server: &SmpServer,
        config: ClientConfig,
    ) -> Result<(SmpClient, mpsc::Receiver<ServerEvent>), ClientError> {
        let key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
        Self::connect_with_key(server, config, Some(&key)).await
    }

    /// [`SmpClient::connect`] as a proxy connects to a destination relay: the hello carries a
    /// fresh X25519 key, and its secret with the relay's session key encrypts `RFWD`/`RRES`
    /// ([`SmpClient::forward`]); from v14 the hello says the client is a proxy, which turns
    /// block encryption off (a relay below v14 is used at most at v10). Fails with
    /// [`ClientError::NoServerAuth`] when the relay sent no session key (before v7).
    pub async fn connect_as_proxy(
        server: &SmpServer,
        mut config: ClientConfig,
    ) -> Result<(SmpClient, mpsc::Receiver<ServerEvent>), ClientError> {
        config.transport.proxy_server = true;
        let key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
        let (client, events) = Self::connect_with_key(server, config, Some(&key)).await?;
        if client.handle.shared.session_secret.is_none() {
            client.close().await;
            return Err(ClientError::NoServerAuth);
        }
        Ok((client, events))
    }

    async fn connect_with_key(
        server: &SmpServer,
        config: ClientConfig,
        hello_key: Option<&PrivateKeyX25519>,
    ) -> Result<(SmpClient, mpsc::Receiver<ServerEvent>), ClientError> {
        let port = server.port_or_default();
        let mut last = ClientError::NoHost;
        for host in &server.hosts {
            let host = host.to_string();
            match handshake::connect_host(
                &host,
                port,
                &server.key_hash,
                &config.transport,
                hello_key,
            )
            .await
            {
                Ok(conn) => return Ok(Self::start_with_key(conn, config, hello_key)),
                Err(e) => last = ClientError::Transport(e),
            }
        }
        Err(last)
    }

    /// Starts a client on an already handshaken connection.
    pub fn start(
        conn: handshake::ClientConnection,
        config: ClientConfig,
    ) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
        Self::start_with_key(conn, config, None)
    }

    /// [`SmpClient::start`] for a connection whose hello carried the public half of
    /// `hello_key`.
    fn start_with_key(
        conn: handshake::ClientConnection,
        config: ClientConfig,
        hello_key: Option<&PrivateKeyX25519>,
    ) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
        let mut conn = conn;
        let (events, events_rx) = mpsc::channel(config.event_capacity.max(1));
        let session_secret = match (hello_key, &conn.session.server_dh_key) {
            (Some(own), Some(server)) => Some(dh_x25519(server, own)),
            _ => None,
        };
        let shared = Arc::new(Shared {
            params: conn.session.params.clone(),
            server_dh_key: conn.session.server_dh_key,
            auth_keys: Default::default(),
            server_hello_key: conn.session.server_hello_key.clone(),
            session_secret,
            service: conn.session.service.take(),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            events: Mutex::new(Some(events)),
        });
        let handle = Arc::new(Handle {
            shared: shared.clone(),
            writer: tokio::sync::Mutex::new(conn.writer),
            config,
            tasks: Mutex::new(Vec::new()),
        });
        let receive = tokio::spawn(receive_loop(shared, conn.reader));
        let mut tasks = vec![receive.abort_handle()];
        if !handle.config.ping_interval.is_zero() {
            let ping = tokio::spawn(ping_loop(Arc::downgrade(&handle)));
            tasks.push(ping.abort_handle());
        }
        if let Ok(mut slot) = handle.tasks.lock() {
            *slot = tasks;
        }
        (SmpClient { handle }, events_rx)
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The negotiated SMP version.
    pub fn version(&self) -> Version {
        self.handle.shared.params.version
    }

    /// The session ID (`tls-unique`).
    pub fn session_id(&self) -> &[u8] {
        &self.handle.shared.params.session_id
    }

    /// The server's session key for crypto_box authenticators (v7+).
    pub fn server_dh_key(&self) -> Option<&PublicKeyX25519> {
        self.handle.shared.server_dh_key.as_ref()
    }

    /// Whether the blocks of this session are encrypted inside TLS (v11+).
    pub fn block_encryption(&self) -> bool {
        self.handle.shared.params.block_encryption
    }

    /// The server's version range, capped at the negotiated version.
    pub fn server_versions(&self) -> VersionRange {
        self.handle.shared.params.server_versions
    }

    /// The chain and signed session key from the server's hello (v7+).
    pub fn server_hello_key(&self) -> Option<&CertChainPubKey> {
        self.handle.shared.server_hello_key.as_ref()
    }

    /// The secret shared with the server through the hello keys (only for
    /// [`SmpClient::connect_as_proxy`]).
    pub(crate) fn session_secret(&self) -> Option<&DhSecretX25519> {
        self.handle.shared.session_secret.as_ref()
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.handle.shared.closed.load(Ordering::SeqCst)
    }

    /// Closes the connection: pending commands fail with [`ClientError::Closed`].
    pub async fn close(&self) {
        if let Ok(tasks) = self.handle.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        self.handle.shared.close();
        let _ = self.handle.writer.lock().await.shutdown().await;
    }

    /// Sends one command and waits for its response. `ERR` becomes
    /// [`ClientError::Server`].
    pub async fn send_command(
        &self,
        key: Option<&PrivateAuthKey>,
        entity_id: &[u8],
        command: Command,
    ) -> Result<Response, ClientError> {
        let mut results = self
            .send_batch(vec![ClientCommand {
                key,
                entity_id,
                command,
            }])
            .await;
        results.pop().unwrap_or(Err(ClientError::Closed))
    }

    /// Sends commands in as few blocks as they fit in, and waits for all the responses,
    /// returned in the order of the commands.
    pub async fn send_batch(
        &self,
        commands: Vec<ClientCommand<'_>>,
    ) -> Vec<Result<Response, ClientError>> {
        self.send_batch_with(commands, None).await
    }

    /// Sends one unauthorized command with the given correlation ID (the proxy commands use it
    /// as a nonce) and waits for its response.
    pub(crate) async fn send_with_corr_id(
        &self,
        corr_id: [u8; CORR_ID_SIZE],
        entity_id: &[u8],
        command: Command,
    ) -> Result<Response, ClientError> {
        let cmd = ClientCommand {
            key: None,
            entity_id,
            command,
        };
        let mut results = self.send_batch_with(vec![cmd], Some(corr_id)).await;
        results.pop().unwrap_or(Err(ClientError::Closed))
    }

    pub(crate) async fn send_batch_with(
        &self,
        commands: Vec<ClientCommand<'_>>,
        corr_id: Option<[u8; CORR_ID_SIZE]>,
    ) -> Vec<Result<Response, ClientError>> {
        let shared = &self.handle.shared;
        let mut results: Vec<Option<Result<Response, ClientError>>> =
            Vec::with_capacity(commands.len());
        let mut waiting = Vec::with_capacity(commands.len());
        let mut encoded = Vec::with_capacity(commands.len());
        for (i, cmd) in commands.into_iter().enumerate() {
            results.push(None);
            match self.encode(&cmd, corr_id) {
                Ok((corr_id, t)) => {
                    let msg_is_event = matches!(cmd.command, Command::Sub | Command::Ack(_));
                    match shared.register(corr_id.clone(), cmd.entity_id.to_vec(), msg_is_event) {
                        Ok(rx) => {
                            waiting.push((i, corr_id, rx));
                            encoded.push(t);
                        }
                        Err(e) => results[i] = Some(Err(e)),
                    }
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        if let Err(e) = self.write_batches(&encoded).await {
            // Nothing more will arrive for these; the connection is unusable.
            shared.close();
            tracing::debug!(error = %e, "writing a batch failed");
        }
        let timeout = self.handle.config.command_timeout;
        for (i, corr_id, rx) in waiting {
            let r = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(ClientError::Closed),
                Err(_) => {
                    shared.forget(&corr_id);
                    Err(ClientError::Timeout)
                }
            };
            results[i] = Some(r);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
            .collect()
    }

    /// A fresh correlation ID and the authorized transmission.
    fn encode(
        &self,
        cmd: &ClientCommand<'_>,
        corr_id: Option<[u8; CORR_ID_SIZE]>,
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let params = &self.handle.shared.params;
        let v = params.version;
        let corr_id = corr_id.unwrap_or_else(|| {
            let mut c = [0u8; CORR_ID_SIZE];
            rand::thread_rng().fill_bytes(&mut c);
            c
        });
        let body = cmd.command.to_bytes(v);
        let tfa = TransmissionForAuth::new(v, &params.session_id, &corr_id, cmd.entity_id, &body)
            .map_err(ClientError::Encode)?;
        let (auth, service_sig) = match cmd.key {
            None => (None, None),
            Some(key) => match self.service_signing(&cmd.command) {
                // A service-signed command: the queue key signs the certificate hash and the
                // transmission, the service key the transmission.
                Some(svc) => {
                    let mut t = svc.cert_hash.to_vec();
                    t.extend_from_slice(tfa.for_auth());
                    let auth = self.authorize(key, &corr_id, &t)?;
                    (Some(auth), Some(svc.key.sign(tfa.for_auth())))
                }
                None => (Some(self.authorize(key, &corr_id, tfa.for_auth())?), None),
            },
        };
        let t = tfa
            .encode_with_service(auth.as_deref(), service_sig.as_ref())
            .map_err(ClientError::Encode)?;
        if t.len() > MAX_TRANSMISSION_SIZE {
            return Err(ClientError::Encode(ProtoError::TooLarge {
                len: t.len(),
                max: MAX_TRANSMISSION_SIZE,
            }));
        }
        Ok((corr_id.to_vec(), t))
    }

    /// A signature with an Ed25519/Ed448 key, or from v7 a crypto_box authenticator with an
    /// X25519 key and the server's session key, the correlation ID as nonce.
    fn authorize(
        &self,
        key: &PrivateAuthKey,
        corr_id: &[u8; CORR_ID_SIZE],
        t: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        match key {
            PrivateAuthKey::X25519(own) => {
                let shared = &self.handle.shared;
                let server = shared
                    .server_dh_key
                    .as_ref()
                    .ok_or(ClientError::NoServerAuth)?;
                let auth = shared
                    .auth_keys
                    .authenticate(server, own, &CbNonce(*corr_id), t);
                Ok(auth.as_bytes().to_vec())
            }
            _ => {
                let sign_key = key.as_sign_key().ok_or(ClientError::NoServerAuth)?;
                Ok(sign(&sign_key, t).as_bytes().to_vec())
            }
        }
    }

    /// Writes the transmissions in as few blocks as the reference would use.
    async fn write_batches(&self, transmissions: &[Vec<u8>]) -> Result<(), TransportError> {
        let lens: Vec<usize> = transmissions.iter().map(Vec::len).collect();
        let mut writer = self.handle.writer.lock().await;
        for item in plan_batches(&lens) {
            // Every transmission fits: its size was checked when it was encoded.
            let BatchItem::Block(range) = item else {
                continue;
            };
            let Some(batch) = transmissions.get(range) else {
                continue;
            };
            writer
                .write_with(|buf| {
                    buf.push(u8::try_from(batch.len()).unwrap_or(u8::MAX));
                    for t in batch {
                        let _ = Large::encode_slice(t, buf);
                    }
                })
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn expect_ok(
        &self,
        key: Option<&PrivateAuthKey>,
        entity_id: &[u8],
        command: Command,
    ) -> Result<(), ClientError> {
        match self.send_command(key, entity_id, command).await? {
            Response::Ok => Ok(()),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// The answer to `SUB` or `ACK`: a `MSG` answering them usually went to the event
    /// stream from the reader (`Shared::route`) and arrives here as `OK`; when the stream
    /// was full it arrives here and goes on from this task, which may wait for room. `SOK`
    /// (v16's answer to `SUB`) is success.
    async fn ok_or_message(&self, entity_id: &[u8], r: Response) -> Result<(), ClientError> {
        match r {
            Response::Ok | Response::Sok(_) => Ok(()),
            Response::Msg(m) => {
                let event = ServerEvent {
                    entity_id: entity_id.to_vec(),
                    response: Response::Msg(m),
                };
                self.handle.shared.push(event).await;
                Ok(())
            }
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `PING` → `PONG`.
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self.send_command(None, &[], Command::Ping).await? {
            Response::Pong => Ok(()),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `NEW` → `IDS`: creates a queue authorized by `rcv_key`, with `rcv_dh_key` for the
    /// server-to-recipient encryption. `sender_can_secure` (v9) lets the sender secure it
    /// with `SKEY`. For a queue with a short link or notifier credentials, see
    /// [`SmpClient::create_queue_with`].
    pub async fn create_queue(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_dh_key: &PublicKeyX25519,
        basic_auth: Option<BasicAuth>,
        sub_mode: SubscriptionMode,
        sender_can_secure: bool,
    ) -> Result<QueueIdsKeys, ClientError> {
        let req = NewQueueReq {
            rcv_auth_key: rcv_key.public_key(),
            rcv_dh_key: *rcv_dh_key,
            basic_auth,
            sub_mode,
            queue_req_data: Some(QueueReqData::of_mode(QueueMode::from_sender_can_secure(
                sender_can_secure,
            ))),
            ntf_creds: None,
        };
        self.create_queue_with(rcv_key, req, None).await
    }

    /// `KEY`: the recipient secures the queue with the sender's key.
    pub async fn secure_queue(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
        sender_key: &PublicAuthKey,
    ) -> Result<(), ClientError> {
        self.expect_ok(Some(rcv_key), rcv_id, Command::Key(sender_key.clone()))
            .await
    }

    /// `SKEY` (v9): the sender secures the queue with its own key.
    pub async fn secure_sender_queue(
        &self,
        snd_key: &PrivateAuthKey,
        snd_id: &[u8],
    ) -> Result<(), ClientError> {
        self.expect_ok(Some(snd_key), snd_id, Command::SKey(snd_key.public_key()))
            .await
    }

    /// `SUB`: subscribes this connection to the queue. A message waiting in the queue comes
    /// as an event.
    pub async fn subscribe(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
    ) -> Result<(), ClientError> {
        let r = self
            .send_command(Some(rcv_key), rcv_id, Command::Sub)
            .await?;
        self.ok_or_message(rcv_id, r).await
    }

    /// `SUB` for many queues in batches; one result per queue, in order.
    pub async fn subscribe_many(
        &self,
        queues: &[(&[u8], &PrivateAuthKey)],
    ) -> Vec<Result<(), ClientError>> {
        let cmds = queues
            .iter()
            .map(|(id, key)| ClientCommand {
                key: Some(*key),
                entity_id: id,
                command: Command::Sub,
            })
            .collect();
        let results = self.send_batch(cmds).await;
        let mut out = Vec::with_capacity(results.len());
        for ((id, _), r) in queues.iter().zip(results) {
            out.push(match r {
                Ok(r) => self.ok_or_message(id, r).await,
                Err(e) => Err(e),
            });
        }
        out
    }

    /// `SEND`: sends a message; `snd_key` is `None` before the queue is secured.
    pub async fn send_message(
        &self,
        snd_key: Option<&PrivateAuthKey>,
        snd_id: &[u8],
        flags: MsgFlags,
        body: &[u8],
    ) -> Result<(), ClientError> {
        let cmd = Command::Send {
            flags,
            body: body.to_vec(),
        };
        self.expect_ok(snd_key, snd_id, cmd).await
    }

    /// `ACK`: acknowledges the message with `msg_id`; the next one may come as an event.
    pub async fn ack(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
        msg_id: &[u8],
    ) -> Result<(), ClientError> {
        let msg_id = ShortBytes::from_slice(msg_id)
            .map_err(|e| ClientError::Encode(ProtoError::Length(e)))?;
        let r = self
            .send_command(Some(rcv_key), rcv_id, Command::Ack(msg_id))
            .await?;
        self.ok_or_message(rcv_id, r).await
    }

    /// `GET`: one message without subscribing, or `None` when the queue is empty.
    pub async fn get_message(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
    ) -> Result<Option<RcvMessage>, ClientError> {
        match self
            .send_command(Some(rcv_key), rcv_id, Command::Get)
            .await?
        {
            Response::Msg(m) => Ok(Some(m)),
            Response::Ok => Ok(None),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `OFF`: suspends the queue (no more messages accepted).
    pub async fn suspend(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
    ) -> Result<(), ClientError> {
        self.expect_ok(Some(rcv_key), rcv_id, Command::Off).await
    }

    /// `DEL`: deletes the queue and its messages.
    pub async fn delete(&self, rcv_key: &PrivateAuthKey, rcv_id: &[u8]) -> Result<(), ClientError> {
        self.expect_ok(Some(rcv_key), rcv_id, Command::Del).await
    }

    /// `QUE` → `INFO`: the queue's state.
    pub async fn queue_info(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
    ) -> Result<QueueInfo, ClientError> {
        match self
            .send_command(Some(rcv_key), rcv_id, Command::Que)
            .await?
        {
            Response::Info(info) => Ok(info),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `NKEY` → `NID`: enables notifications; returns the notifier ID and the server's DH key
    /// for notification metadata.
    pub async fn enable_notifications(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
        notifier_key: &PublicAuthKey,
        rcv_ntf_dh_key: &PublicKeyX25519,
    ) -> Result<(Vec<u8>, PublicKeyX25519), ClientError> {
        let cmd = Command::NKey {
            notifier_key: notifier_key.clone(),
            rcv_ntf_dh_key: *rcv_ntf_dh_key,
        };
        match self.send_command(Some(rcv_key), rcv_id, cmd).await? {
            Response::Nid {
                notifier_id,
                rcv_ntf_dh_key,
            } => Ok((notifier_id.into_vec(), rcv_ntf_dh_key)),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `NDEL`: disables notifications.
    pub async fn disable_notifications(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
    ) -> Result<(), ClientError> {
        self.expect_ok(Some(rcv_key), rcv_id, Command::NDel).await
    }

    /// `NSUB`: the notifier subscribes to notifications (`NMSG` events).
    pub async fn subscribe_notifications(
        &self,
        ntf_key: &PrivateAuthKey,
        ntf_id: &[u8],
    ) -> Result<(), ClientError> {
        // From v16 the relay answers `NSUB` with `SOK` (no service), as `SUB`.
        match self
            .send_command(Some(ntf_key), ntf_id, Command::NSub)
            .await?
        {
            Response::Ok | Response::Sok(_) => Ok(()),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }
}

/// Decrypts the body of a received `MSG` with the queue's DH secret (the server's
/// `rcv_public_dh_key` from `IDS` with the recipient's private DH key), the message ID as
/// nonce.
pub fn decrypt_message(
    rcv_dh_secret: &DhSecretX25519,
    msg: &RcvMessage,
) -> Result<RcvMsgBody, ClientError> {
    let nonce = CbNonce::from_bytes_lenient(msg.msg_id.as_slice());
    let plain =
        cb_decrypt(rcv_dh_secret, &nonce, &msg.enc_body).map_err(|_| ClientError::Decrypt)?;
    decode_all::<RcvMsgBody>(&plain).map_err(|e| ClientError::BadResponse(ProtoError::Decode(e)))
}

async fn receive_loop(shared: Arc<Shared>, mut reader: SmpReader) {
    loop {
        let block = match reader.read_raw().await {
            Ok(block) => block,
            Err(TransportError::BadBlock) => {
                tracing::warn!("bad block from server");
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "connection ended");
                break;
            }
        };
        match decode_block(block) {
            Ok(ts) => {
                for t in ts {
                    shared.route(t).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "batch from server did not parse"),
        }
    }
    shared.close();
}

async fn ping_loop(handle: Weak<Handle>) {
    let mut missed = 0u32;
    loop {
        let Some(interval) = handle.upgrade().map(|h| h.config.ping_interval) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(h) = handle.upgrade() else {
            return;
        };
        let client = SmpClient { handle: h };
        match client.ping().await {
            Ok(()) => missed = 0,
            Err(ClientError::Timeout) => {
                missed += 1;
                if missed >= client.handle.config.ping_count.max(1) {
                    tracing::debug!("server did not answer pings; closing");
                    client.handle.shared.close();
                    let _ = client.handle.writer.lock().await.shutdown().await;
                    return;
                }
            }
            Err(ClientError::Closed) => return,
            Err(e) => tracing::debug!(error = %e, "ping failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_crypto::nacl::cb_encrypt_no_pad;
    use simplex_crypto::{dh_x25519, PrivateKeyX25519};
    use simplex_encoding::UnixTime;
    use smp_proto::message::Message;

    #[test]
    fn decrypts_what_a_server_boxes() {
        let rcv = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
        let srv = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
        let msg_id = ShortBytes::from_slice(&[4; 24]).expect("id");
        let m = Message::Data {
            msg_id: msg_id.clone(),
            ts: UnixTime(1_700_000_000),
            flags: MsgFlags { notification: true },
            body: b"hello".to_vec(),
        };
        // As the server does it: padded recipient plaintext, boxed with the message ID.
        let mut padded = Vec::new();
        m.encode_rcv_body_padded(&mut padded).expect("fits");
        let secret_srv = dh_x25519(&rcv.public_key(), &srv);
        let nonce = CbNonce::from_slice(msg_id.as_slice()).expect("nonce");
        let enc_body = cb_encrypt_no_pad(&secret_srv, &nonce, &padded);
        let rcv_msg = RcvMessage { msg_id, enc_body };
        let secret_rcv = dh_x25519(&srv.public_key(), &rcv);
        let body = decrypt_message(&secret_rcv, &rcv_msg).expect("decrypt");
        assert_eq!(body, m.rcv_body());
        let wrong = dh_x25519(
            &srv.public_key(),
            &PrivateKeyX25519::generate(&mut rand::rngs::OsRng),
        );
        assert!(matches!(
            decrypt_message(&wrong, &rcv_msg),
            Err(ClientError::Decrypt)
        ));
    }
}
