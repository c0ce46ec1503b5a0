//! The agent: connections, the handshake, delivery, receiving, subscriptions.
//!
//! One lock serialises every change of connection state (store reads, ratchet steps, store
//! writes), so that the ratchet is never advanced twice from the same state. Each SMP
//! session has a task reading its pushed events until the stream ends with the connection
//! (then `DOWN` and reconnection); each connection with a send queue has a delivery task
//! that sends its stored pending messages in order, with back-off (after `ERR QUOTA` it
//! waits for the peer's `A_QCONT`), directly or through a proxy relay (module `routing`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use agent_proto::version::{
    e2e_enc_agent_msg_length, e2e_enc_conn_info_length, CURRENT_SMP_CLIENT_VERSION,
    DELIVERY_RCPTS_AGENT_VERSION, PQDR_AGENT_VERSION, SND_AUTH_KEY_AGENT_VERSION,
    SND_AUTH_KEY_SMP_CLIENT_VERSION, SUPPORTED_AGENT_VERSIONS, SUPPORTED_SMP_CLIENT_VERSIONS,
};
use agent_proto::{
    AMessage, AMessageReceipt, APrivHeader, AgentMessage, AgentMsgEnvelope, ClientMessage,
    ClientMsgEnvelope, ConnReqUriData, ConnectionRequest, ContactRequest, E2EParams,
    InvitationRequest, PrivHeader, PubHeader, SmpQueueInfo, SndQAddr,
};
use rand::rngs::OsRng;
use rand::RngCore;
use simplex_crypto::{
    cb_decrypt, cb_encrypt, dh_x25519, sha256, CbNonce, PrivateAuthKey, PrivateKeyEd25519,
    PrivateKeyX25519, PrivateKeyX448,
};
use simplex_encoding::{decode_all, Encode};
use simplex_ratchet::{
    generate_rcv_e2e_params, generate_snd_e2e_params, pq_x3dh_rcv, pq_x3dh_snd, reply_kem,
    E2ERatchetParamsUri, PqEncryption, PqSupport, Ratchet, RatchetError, RatchetVersions,
    X3dhPrivateKeys, CURRENT_E2E_VERSION, PQ_RATCHET_E2E_VERSION, SUPPORTED_E2E_VERSIONS, X448,
};
use smp_client::{decrypt_message, ClientError, ServerEvent, SmpClient};
use smp_proto::command::SubscriptionMode;
use smp_proto::{ErrorType, MsgFlags, QueueMode, RcvMessage, RcvMsgBody, Response, SmpQueueUri};
use smp_proto::{SmpServer, Version};
use tokio::sync::{mpsc, Notify};

mod routing;

use routing::{SendFail, SndCommand};

use crate::error::{AgentError, StoreError};
use crate::store::*;
use crate::types::*;

/// `e2eEncConfirmationLength`: the padded per-queue plaintext of confirmations and invitations.
const E2E_ENC_CONFIRMATION_LENGTH: usize = 15904;
/// `e2eEncMessageLength`: the padded per-queue plaintext of messages.
const E2E_ENC_MESSAGE_LENGTH: usize = 16000;

type SessKey = (String, Option<ConnId>);

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

#[derive(Default)]
struct State {
    /// (server, recipient ID) → connection.
    queues: HashMap<(String, Vec<u8>), ConnId>,
    /// Subscribed connections per session.
    subs: HashMap<SessKey, HashSet<ConnId>>,
    /// Wake-ups of the delivery tasks.
    workers: HashMap<ConnId, Arc<Notify>>,
    /// Sessions being reconnected.
    reconnecting: HashSet<SessKey>,
    stopped: bool,
}

struct Inner {
    config: AgentConfig,
    store: Arc<Mutex<Box<dyn Store>>>,
    events: mpsc::UnboundedSender<AgentEvent>,
    clients: tokio::sync::Mutex<HashMap<SessKey, SmpClient>>,
    lock: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    routing: Mutex<routing::Routing>,
}

/// A running agent. Cheap to clone; [`Agent::stop`] ends it.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").finish_non_exhaustive()
    }
}

fn random_id() -> Vec<u8> {
    let mut id = vec![0u8; 12];
    OsRng.fill_bytes(&mut id);
    id
}

fn smp_err(server: &SmpServer, error: ClientError) -> AgentError {
    AgentError::Smp {
        server: server.to_string(),
        error,
    }
}

fn crypto_err(e: impl std::fmt::Display) -> AgentError {
    AgentError::Crypto(e.to_string())
}

fn is_messaging(mode: Option<QueueMode>) -> bool {
    mode == Some(QueueMode::Messaging)
}

/// The per-queue e2e layer: a boxed [`ClientMessage`] in a [`ClientMsgEnvelope`].
fn seal(
    secret: &simplex_crypto::DhSecretX25519,
    version: u16,
    e2e_pub: Option<simplex_crypto::PublicKeyX25519>,
    header: PrivHeader,
    envelope: &AgentMsgEnvelope,
) -> Result<Vec<u8>, AgentError> {
    let msg = ClientMessage {
        header,
        body: envelope.to_bytes(),
    };
    let padded = if e2e_pub.is_some() {
        E2E_ENC_CONFIRMATION_LENGTH
    } else {
        E2E_ENC_MESSAGE_LENGTH
    };
    let nonce = CbNonce::random(&mut OsRng);
    let enc_body = cb_encrypt(secret, &nonce, &msg.to_bytes(), padded).map_err(crypto_err)?;
    Ok(ClientMsgEnvelope {
        header: PubHeader {
            version: Version(version),
            e2e_pub_dh_key: e2e_pub,
        },
        nonce,
        enc_body,
    }
    .to_bytes())
}

/// What to do with the server's message after processing.
enum AckMode {
    Now,
    Later,
}

impl Agent {
    /// Starts an agent on `store`: subscribes every stored receive queue and resumes the
    /// delivery of stored pending messages. Returns the handle and the event stream.
    pub async fn start(
        config: AgentConfig,
        store: Box<dyn Store>,
    ) -> Result<(Agent, mpsc::UnboundedReceiver<AgentEvent>), AgentError> {
        let (events, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            config,
            store: Arc::new(Mutex::new(store)),
            events,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
            routing: Mutex::new(routing::Routing::default()),
        });
        let loaded = inner
            .db(|s| {
                let mut out = Vec::new();
                for c in s.conns()? {
                    let rq = s.rcv_queue(&c.conn_id)?;
                    let sq = s.snd_queue(&c.conn_id)?;
                    out.push((c, rq, sq));
                }
                Ok(out)
            })
            .await?;
        let mut to_sub: HashMap<SessKey, (SmpServer, Vec<RcvQueueRecord>)> = HashMap::new();
        for (c, rq, sq) in &loaded {
            if let Some(rq) = rq {
                inner.index_queue(rq);
                if c.status != ConnStatus::Suspended && rq.status != QueueStatus::Disabled {
                    let key = inner.sess_key(&rq.server, &c.conn_id);
                    to_sub
                        .entry(key)
                        .or_insert_with(|| (rq.server.clone(), Vec::new()))
                        .1
                        .push(rq.clone());
                }
            }
            if sq.is_some() {
                inner.start_worker(&c.conn_id);
            }
        }
        for (key, (server, rqs)) in to_sub {
            let conns: Vec<ConnId> = rqs.iter().map(|q| q.conn_id.clone()).collect();
            if inner.subscribe_queues(&key, &server, &rqs).await.is_err() {
                inner.emit(Vec::new(), Event::Down(server.clone(), conns.clone()));
                inner.spawn_reconnect(key, server, conns);
            }
        }
        Ok((Agent { inner }, rx))
    }

    /// Stops the agent: closes its SMP connections and ends its tasks. Stored state stays.
    pub async fn stop(&self) {
        if let Ok(mut st) = self.inner.state.lock() {
            st.stopped = true;
            for n in st.workers.values() {
                n.notify_one();
            }
        }
        let clients: Vec<SmpClient> = self
            .inner
            .clients
            .lock()
            .await
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in clients {
            c.close().await;
        }
    }

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
    /// call, a temporary failure leaves it to be retried (also after a restart).
    pub async fn join_connection(
        &self,
        link: &str,
        conn_info: &[u8],
    ) -> Result<ConnId, AgentError> {
        let req = ConnectionRequest::parse(link.as_bytes())
            .map_err(|e| AgentError::BadLink(e.to_string()))?;
        match req {
            ConnectionRequest::Invitation(inv) => self.inner.join_invitation(&inv, conn_info).await,
            ConnectionRequest::Contact(c) => self.inner.join_contact(&c, conn_info).await,
        }
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
        let conn_id = self.inner.join_invitation(&req, conn_info).await?;
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

    /// Sends a message; returns its ID, reported again in `SENT` (or `MERR`) and `RCVD`.
    pub async fn send_message(&self, conn_id: &[u8], body: &[u8]) -> Result<i64, AgentError> {
        let inner = &self.inner;
        let _g = inner.lock.lock().await;
        inner
            .enqueue(conn_id, AMessage::AMsg(body.to_vec()), SndMsgKind::Message)
            .await
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
        let read = |conn_id: &[u8]| {
            let id = conn_id.to_vec();
            inner.db(move |s| Ok((s.conn(&id)?, s.rcv_queue(&id)?, s.rcv_msg(&id, msg_id)?)))
        };
        // The server's ACK goes without the lock (a repeated ACK is harmless); the state
        // changes are made under it, once.
        let (_, rq, msg) = read(conn_id).await?;
        let rq = rq.ok_or(AgentError::NoConnection)?;
        let msg = msg.ok_or(AgentError::Prohibited("no such message"))?;
        if receipt.is_some() && msg.kind != RcvMsgKind::Message {
            return Err(AgentError::Prohibited("receipt not allowed"));
        }
        if msg.acked {
            return Ok(());
        }
        inner.ack_server(&rq, &msg.srv_msg_id).await?;
        let _g = inner.lock.lock().await;
        let (conn, _, msg) = read(conn_id).await?;
        let conn = conn.ok_or(AgentError::NoConnection)?;
        let msg = msg.ok_or(AgentError::Prohibited("no such message"))?;
        if msg.acked {
            return Ok(());
        }
        let id = conn_id.to_vec();
        inner
            .db(move |s| s.apply(vec![Write::AckRcvMsg(id, msg_id)]))
            .await?;
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

    /// Suspends a connection: its receive queue is turned off on the server (`OFF`).
    pub async fn suspend_connection(&self, conn_id: &[u8]) -> Result<(), AgentError> {
        let inner = &self.inner;
        let _g = inner.lock.lock().await;
        let id = conn_id.to_vec();
        let (conn, rq) = inner
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queue(&id)?)))
            .await?;
        let mut conn = conn.ok_or(AgentError::NoConnection)?;
        if let Some(mut rq) = rq {
            let client = inner.client(&rq.server, &rq.conn_id).await?;
            client
                .suspend(&rq.rcv_key, &rq.rcv_id)
                .await
                .map_err(|e| smp_err(&rq.server, e))?;
            rq.status = QueueStatus::Disabled;
            inner.unsubscribed(&rq);
            conn.status = ConnStatus::Suspended;
            inner
                .db(move |s| s.apply(vec![Write::PutConn(conn), Write::PutRcvQueue(rq)]))
                .await?;
        }
        Ok(())
    }

    /// Deletes a connection (or a contact address): its receive queue is deleted on the
    /// server, then everything stored about it. Connections made through an address stay.
    pub async fn delete_connection(&self, conn_id: &[u8]) -> Result<(), AgentError> {
        let _g = self.inner.lock.lock().await;
        self.inner.delete_conn(conn_id).await
    }

    /// Subscribes the connections' receive queues again (after `END`, or to retry).
    pub async fn subscribe_connections(&self, conn_ids: &[ConnId]) -> Result<(), AgentError> {
        let inner = &self.inner;
        let ids = conn_ids.to_vec();
        let rqs = inner
            .db(move |s| {
                let mut out = Vec::new();
                for id in &ids {
                    if let Some(q) = s.rcv_queue(id)? {
                        out.push(q);
                    }
                }
                Ok(out)
            })
            .await?;
        let mut groups: HashMap<SessKey, (SmpServer, Vec<RcvQueueRecord>)> = HashMap::new();
        for rq in rqs {
            groups
                .entry(inner.sess_key(&rq.server, &rq.conn_id))
                .or_insert_with(|| (rq.server.clone(), Vec::new()))
                .1
                .push(rq);
        }
        for (key, (server, rqs)) in groups {
            inner.subscribe_queues(&key, &server, &rqs).await?;
        }
        Ok(())
    }

    /// The IDs of every stored connection and address.
    pub async fn connection_ids(&self) -> Result<Vec<ConnId>, AgentError> {
        let conns = self.inner.db(|s| s.conns()).await?;
        Ok(conns.into_iter().map(|c| c.conn_id).collect())
    }

    /// The servers this agent holds an open connection to (directly: subscriptions, its own
    /// commands, and as proxies), each once, sorted by address.
    pub async fn connected_servers(&self) -> Vec<SmpServer> {
        let mut out: Vec<SmpServer> = Vec::new();
        for (key, c) in self.inner.clients.lock().await.iter() {
            if c.is_closed() {
                continue;
            }
            if let Ok(s) = SmpServer::parse_str(key.0.as_bytes()) {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out.sort_by_key(|s| s.to_string());
        out
    }

    /// The proxied sessions the agent holds over its open connections: (proxy, relay)
    /// pairs, each once, sorted.
    pub async fn proxied_relays(&self) -> Vec<(SmpServer, SmpServer)> {
        self.inner.proxied_relays().await
    }
}

impl Inner {
    /// Deletes a connection's receive queue on its server, then everything stored about it
    /// (the caller holds the lock).
    async fn delete_conn(self: &Arc<Self>, conn_id: &[u8]) -> Result<(), AgentError> {
        let inner = self;
        let id = conn_id.to_vec();
        let (conn, rq) = inner
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queue(&id)?)))
            .await?;
        conn.ok_or(AgentError::NoConnection)?;
        if let Some(rq) = rq {
            let client = inner.client(&rq.server, &rq.conn_id).await?;
            match client.delete(&rq.rcv_key, &rq.rcv_id).await {
                Ok(()) | Err(ClientError::Server(ErrorType::Auth)) => {}
                Err(e) => return Err(smp_err(&rq.server, e)),
            }
            inner.unsubscribed(&rq);
            if let Ok(mut st) = inner.state.lock() {
                st.queues
                    .remove(&(rq.server.to_string(), rq.rcv_id.clone()));
            }
        }
        if let Ok(mut st) = inner.state.lock() {
            if let Some(n) = st.workers.remove(conn_id) {
                n.notify_one();
            }
        }
        let id = conn_id.to_vec();
        inner
            .db(move |s| s.apply(vec![Write::DeleteConn(id)]))
            .await?;
        Ok(())
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, AgentError> {
        let store = self.store.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut g = store.lock().map_err(|_| StoreError::Task)?;
            f(&mut **g)
        })
        .await
        .map_err(|_| StoreError::Task)?;
        Ok(r?)
    }

    fn emit(&self, conn_id: ConnId, event: Event) {
        let _ = self.events.send(AgentEvent { conn_id, event });
    }

    fn stopped(&self) -> bool {
        self.state.lock().map(|s| s.stopped).unwrap_or(true)
    }

    fn pick_server(&self) -> Result<SmpServer, AgentError> {
        let n = self.config.servers.len();
        if n == 0 {
            return Err(AgentError::NoServers);
        }
        let i = usize::try_from(OsRng.next_u64() % (n as u64)).unwrap_or(0);
        self.config
            .servers
            .get(i)
            .cloned()
            .ok_or(AgentError::NoServers)
    }

    fn sess_key(&self, server: &SmpServer, conn_id: &[u8]) -> SessKey {
        match self.config.isolation {
            TransportIsolation::Server => (server.to_string(), None),
            TransportIsolation::Connection => (server.to_string(), Some(conn_id.to_vec())),
        }
    }

    fn index_queue(&self, rq: &RcvQueueRecord) {
        if let Ok(mut st) = self.state.lock() {
            st.queues.insert(
                (rq.server.to_string(), rq.rcv_id.clone()),
                rq.conn_id.clone(),
            );
        }
    }

    fn subscribed(&self, key: &SessKey, conn_id: &[u8]) {
        if let Ok(mut st) = self.state.lock() {
            st.subs
                .entry(key.clone())
                .or_default()
                .insert(conn_id.to_vec());
        }
    }

    fn unsubscribed(&self, rq: &RcvQueueRecord) {
        let key = self.sess_key(&rq.server, &rq.conn_id);
        if let Ok(mut st) = self.state.lock() {
            if let Some(s) = st.subs.get_mut(&key) {
                s.remove(&rq.conn_id);
            }
        }
    }

    /// The session's client, connecting (and starting its event task) when there is none.
    async fn client(
        self: &Arc<Self>,
        server: &SmpServer,
        conn_id: &[u8],
    ) -> Result<SmpClient, AgentError> {
        let key = self.sess_key(server, conn_id);
        self.client_for(&key, server).await
    }

    /// Boxed with an explicit `Send` bound: the session task it spawns calls back into it.
    fn client_for<'a>(
        self: &'a Arc<Self>,
        key: &'a SessKey,
        server: &'a SmpServer,
    ) -> BoxFuture<'a, Result<SmpClient, AgentError>> {
        Box::pin(async move {
            if self.stopped() {
                return Err(AgentError::Stopped);
            }
            let mut clients = self.clients.lock().await;
            if let Some(c) = clients.get(key) {
                if !c.is_closed() {
                    return Ok(c.clone());
                }
            }
            let (client, events) = SmpClient::connect(server, self.config.client.clone())
                .await
                .map_err(|e| smp_err(server, e))?;
            clients.insert(key.clone(), client.clone());
            tokio::spawn(session_loop(
                Arc::downgrade(self),
                key.clone(),
                server.clone(),
                client.clone(),
                events,
            ));
            Ok(client)
        })
    }

    async fn subscribe_queues(
        self: &Arc<Self>,
        key: &SessKey,
        server: &SmpServer,
        rqs: &[RcvQueueRecord],
    ) -> Result<(), AgentError> {
        let client = self.client_for(key, server).await?;
        let qs: Vec<(&[u8], &PrivateAuthKey)> = rqs
            .iter()
            .map(|q| (q.rcv_id.as_slice(), &q.rcv_key))
            .collect();
        let results = client.subscribe_many(&qs).await;
        for (rq, r) in rqs.iter().zip(results) {
            match r {
                Ok(()) => self.subscribed(key, &rq.conn_id),
                Err(e) if e.is_temporary() => return Err(smp_err(server, e)),
                Err(e) => self.emit(rq.conn_id.clone(), Event::Err(format!("SUB: {e}"))),
            }
        }
        Ok(())
    }

    fn spawn_reconnect(self: &Arc<Self>, key: SessKey, server: SmpServer, conns: Vec<ConnId>) {
        if let Ok(mut st) = self.state.lock() {
            if !st.reconnecting.insert(key.clone()) {
                return;
            }
        }
        tokio::spawn(reconnect_loop(Arc::downgrade(self), key, server, conns));
    }

    /// `NEW` on `server` for `conn_id`; returns the record and the queue's URI for a link.
    async fn create_rcv_queue(
        self: &Arc<Self>,
        conn_id: &[u8],
        server: &SmpServer,
        sender_can_secure: bool,
    ) -> Result<(RcvQueueRecord, SmpQueueUri), AgentError> {
        let client = self.client(server, conn_id).await?;
        let rcv_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
        let dh = PrivateKeyX25519::generate(&mut OsRng);
        let e2e = PrivateKeyX25519::generate(&mut OsRng);
        let ids = client
            .create_queue(
                &rcv_key,
                &dh.public_key(),
                self.config.server_auth.get(server).cloned(),
                SubscriptionMode::Subscribe,
                sender_can_secure,
            )
            .await
            .map_err(|e| smp_err(server, e))?;
        let can_secure = sender_can_secure && is_messaging(ids.queue_mode);
        let rq = RcvQueueRecord {
            conn_id: conn_id.to_vec(),
            server: server.clone(),
            rcv_id: ids.rcv_id.as_slice().to_vec(),
            rcv_key,
            rcv_dh_secret: dh_x25519(&ids.rcv_public_dh_key, &dh),
            e2e_priv_key: e2e.clone(),
            e2e_dh_secret: None,
            snd_id: ids.snd_id.as_slice().to_vec(),
            sender_can_secure: can_secure,
            status: QueueStatus::New,
            client_version: CURRENT_SMP_CLIENT_VERSION.0,
        };
        self.index_queue(&rq);
        self.subscribed(&self.sess_key(server, conn_id), conn_id);
        let uri = SmpQueueUri {
            client_versions: SUPPORTED_SMP_CLIENT_VERSIONS,
            server: server.clone(),
            sender_id: rq.snd_id.clone(),
            dh_public_key: e2e.public_key(),
            queue_mode: Some(QueueMode::from_sender_can_secure(can_secure)),
        };
        Ok((rq, uri))
    }

    /// A new connection with a receive queue and X3DH keys (`newConn`).
    async fn new_invitation(
        self: &Arc<Self>,
        server: Option<SmpServer>,
    ) -> Result<(ConnId, InvitationRequest), AgentError> {
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
        let (rq, uri) = self
            .create_rcv_queue(&conn_id, &server, self.config.sender_can_secure)
            .await?;
        let (keys, kem, params) = generate_rcv_e2e_params::<X448>(
            &mut OsRng,
            CURRENT_E2E_VERSION,
            PqSupport(self.config.pq_support),
        );
        let e2e = E2ERatchetParamsUri {
            versions: SUPPORTED_E2E_VERSIONS,
            key1: params.key1,
            key2: params.key2,
            kem: params.kem,
        };
        let x3dh = X3dhKeys {
            key1: keys.key1,
            key2: keys.key2,
            kem,
        };
        let id = conn_id.clone();
        self.db(move |s| {
            s.apply(vec![
                Write::PutConn(conn),
                Write::PutRcvQueue(rq),
                Write::PutX3dh(id, x3dh),
            ])
        })
        .await?;
        let link = InvitationRequest {
            data: ConnReqUriData {
                agent_versions: SUPPORTED_AGENT_VERSIONS,
                smp_queues: vec![uri],
                client_data: None,
            },
            e2e,
        };
        Ok((conn_id, link))
    }

    /// A send queue to `server`/`sender_id`, secured by this side with `SKEY` when it can.
    #[allow(clippy::too_many_arguments)]
    async fn new_snd_queue(
        self: &Arc<Self>,
        conn_id: &[u8],
        server: &SmpServer,
        sender_id: &[u8],
        dh_public_key: &simplex_crypto::PublicKeyX25519,
        client_version: u16,
        queue_mode: Option<QueueMode>,
        agent_version: u16,
    ) -> Result<SndQueueRecord, AgentError> {
        let e2e = PrivateKeyX25519::generate(&mut OsRng);
        let can_secure = is_messaging(queue_mode)
            && client_version >= SND_AUTH_KEY_SMP_CLIENT_VERSION.0
            && agent_version >= SND_AUTH_KEY_AGENT_VERSION.0;
        let snd_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
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
        };
        if can_secure {
            let cmd = SndCommand::SKey {
                key: &sq.snd_key,
                snd_id: &sq.snd_id,
            };
            self.send_or_proxy(server, conn_id, cmd)
                .await
                .map_err(SendFail::into_agent_error)?;
            sq.status = QueueStatus::Secured;
        }
        Ok(sq)
    }

    /// Joins an invitation (`joinConn`): X3DH, the reply queue, the send queue secured when
    /// it can be, and the confirmation stored for delivery.
    async fn join_invitation(
        self: &Arc<Self>,
        inv: &InvitationRequest,
        conn_info: &[u8],
    ) -> Result<ConnId, AgentError> {
        let (agent_v, quri, client_v) = negotiate_link(&inv.data)?;
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
        let (keys, priv_kem, snd_params) =
            generate_snd_e2e_params::<X448>(&mut OsRng, e2e_v, use_kem.as_ref());
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
            )
            .await?;
        let reply = SmpQueueInfo {
            client_version: client_v,
            server: rq.server.clone(),
            sender_id: rq.snd_id.clone(),
            dh_public_key: rq.e2e_priv_key.public_key(),
            queue_mode: Some(QueueMode::from_sender_can_secure(rq.sender_can_secure)),
        };
        let msg = AgentMessage::ConnInfoReply {
            smp_queues: vec![reply],
            conn_info: conn_info.to_vec(),
        };
        let (rec, ratchet) = confirmation_msg(&mut conn, &ratchet, &sq, &msg, Some(snd_params))?;
        let id = conn_id.clone();
        self.db(move |s| {
            s.apply(vec![
                Write::PutConn(conn),
                Write::PutRcvQueue(rq),
                Write::PutSndQueue(sq),
                Write::PutRatchet(id, ratchet),
                Write::PutSndMsg(rec),
            ])
        })
        .await?;
        self.start_worker(&conn_id);
        Ok(conn_id)
    }

    /// Joins a contact address: a new invitation, sent to the address's queue encrypted
    /// only per queue (`AgentInvitation`).
    async fn join_contact(
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
                    body,
                    pending: true,
                    receipt: None,
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
            Ok(()) => self.on_sent(rec, &sq).await?,
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

    async fn allow_connection(
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
            rq.status = QueueStatus::Secured;
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
            )
            .await?;
        let msg = AgentMessage::ConnInfo(conn_info.to_vec());
        let (rec, ratchet) = confirmation_msg(&mut conn, &ratchet, &sq, &msg, None)?;
        let conn_id = conn.conn_id.clone();
        let id = conn_id.clone();
        self.db(move |s| {
            s.apply(vec![
                Write::PutConn(conn),
                Write::PutRcvQueue(rq),
                Write::PutSndQueue(sq),
                Write::PutRatchet(id, ratchet),
                Write::PutSndMsg(rec),
                Write::DeleteConfirmation(conf.conf_id),
            ])
        })
        .await?;
        self.start_worker(&conn_id);
        Ok(())
    }

    /// Stores an agent message for delivery (the caller holds the lock).
    async fn enqueue(
        self: &Arc<Self>,
        conn_id: &[u8],
        msg: AMessage,
        kind: SndMsgKind,
    ) -> Result<i64, AgentError> {
        let id = conn_id.to_vec();
        let (conn, sq, ratchet) = self
            .db(move |s| Ok((s.conn(&id)?, s.snd_queue(&id)?, s.ratchet(&id)?)))
            .await?;
        let mut conn = conn.ok_or(AgentError::NoConnection)?;
        let (Some(sq), Some(ratchet)) = (sq, ratchet) else {
            return Err(AgentError::Prohibited("connection cannot send yet"));
        };
        if !ratchet.can_send() {
            return Err(AgentError::Prohibited("connection cannot send yet"));
        }
        conn.last_internal_id += 1;
        conn.last_snd_id += 1;
        let header = APrivHeader {
            snd_msg_id: conn.last_snd_id,
            prev_msg_hash: conn.last_snd_hash.clone(),
        };
        let plain = AgentMessage::Message {
            header,
            message: msg,
        }
        .to_bytes();
        let hash = sha256(&plain).to_vec();
        let pq = PqSupport(conn.pq_support);
        let padded = e2e_enc_agent_msg_length(Version(conn.agent_version), pq);
        let (enc, ratchet) = ratchet
            .encrypt(None, CURRENT_E2E_VERSION, padded, &plain)
            .map_err(|e| match e {
                RatchetError::MessageTooLarge => AgentError::Large,
                e => crypto_err(e),
            })?;
        let env = AgentMsgEnvelope::Message {
            agent_version: Version(conn.agent_version),
            enc_agent_message: enc,
        };
        let body = seal(
            &sq.e2e_dh_secret,
            sq.client_version,
            None,
            PrivHeader::Empty,
            &env,
        )?;
        conn.last_snd_hash = hash.clone();
        let internal_id = conn.last_internal_id;
        let rec = SndMsgRecord {
            conn_id: conn_id.to_vec(),
            internal_id,
            snd_id: conn.last_snd_id,
            kind,
            hash,
            body,
            pending: true,
            receipt: None,
        };
        let id = conn_id.to_vec();
        self.db(move |s| {
            s.apply(vec![
                Write::PutConn(conn),
                Write::PutRatchet(id, ratchet),
                Write::PutSndMsg(rec),
            ])
        })
        .await?;
        self.start_worker(conn_id);
        Ok(internal_id)
    }

    /// Starts (or wakes) the delivery task of a connection.
    fn start_worker(self: &Arc<Self>, conn_id: &[u8]) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if st.stopped {
            return;
        }
        if let Some(n) = st.workers.get(conn_id) {
            n.notify_one();
            return;
        }
        let n = Arc::new(Notify::new());
        st.workers.insert(conn_id.to_vec(), n.clone());
        tokio::spawn(delivery_loop(Arc::downgrade(self), conn_id.to_vec(), n));
    }

    fn wake_worker(&self, conn_id: &[u8]) {
        if let Ok(st) = self.state.lock() {
            if let Some(n) = st.workers.get(conn_id) {
                n.notify_one();
            }
        }
    }

    async fn ack_server(
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

    /// Sends a pending message once, through a proxy when the configuration says so.
    async fn send_pending(
        self: &Arc<Self>,
        sq: &SndQueueRecord,
        m: &SndMsgRecord,
    ) -> Result<(), SendFail> {
        let key = match m.kind {
            SndMsgKind::Confirmation if !sq.sender_can_secure => None,
            SndMsgKind::Invitation => None,
            _ => Some(&sq.snd_key),
        };
        let flags = MsgFlags {
            notification: !matches!(m.kind, SndMsgKind::Receipt),
        };
        let cmd = SndCommand::Send {
            key,
            snd_id: &sq.snd_id,
            flags,
            body: &m.body,
        };
        self.send_or_proxy(&sq.server, &sq.conn_id, cmd).await?;
        Ok(())
    }

    /// After the server accepted a message.
    async fn on_sent(
        self: &Arc<Self>,
        m: SndMsgRecord,
        sent_to: &SndQueueRecord,
    ) -> Result<(), AgentError> {
        let _g = self.lock.lock().await;
        let id = m.conn_id.clone();
        let snd_id = m.snd_id;
        let (conn, rq, sq, stored) = self
            .db(move |s| {
                Ok((
                    s.conn(&id)?,
                    s.rcv_queue(&id)?,
                    s.snd_queue(&id)?,
                    s.snd_msg_by_snd_id(&id, snd_id)?,
                ))
            })
            .await?;
        let (Some(mut conn), Some(mut sq)) = (conn, sq) else {
            return Ok(());
        };
        let mut writes = Vec::new();
        let conn_id = m.conn_id.clone();
        let mut events = Vec::new();
        match m.kind {
            SndMsgKind::Message => {
                let mut sent = m.clone();
                sent.pending = false;
                sent.body = Vec::new();
                // A receipt may have been processed between the send and now.
                sent.receipt = stored
                    .filter(|r| r.internal_id == m.internal_id)
                    .and_then(|r| r.receipt);
                writes.push(Write::PutSndMsg(sent));
                events.push(Event::Sent(m.internal_id));
            }
            _ => writes.push(Write::DeleteSndMsg(m.conn_id.clone(), m.internal_id)),
        }
        match m.kind {
            SndMsgKind::Confirmation => {
                if conn.initiator && sq.sender_can_secure {
                    sq.status = QueueStatus::Active;
                    conn.status = ConnStatus::Active;
                    events.push(Event::Con);
                } else {
                    sq.status = QueueStatus::Confirmed;
                }
                writes.push(Write::PutSndQueue(sq));
                writes.push(Write::PutConn(conn));
            }
            SndMsgKind::Hello => {
                sq.status = QueueStatus::Active;
                if conn.initiator && rq.map(|q| q.status) == Some(QueueStatus::Active) {
                    conn.status = ConnStatus::Active;
                    events.push(Event::Con);
                }
                writes.push(Write::PutSndQueue(sq));
                writes.push(Write::PutConn(conn));
            }
            // The address's queue served only for the invitation (unless the peer's queue
            // has replaced it meanwhile).
            SndMsgKind::Invitation
                if sq.server == sent_to.server && sq.snd_id == sent_to.snd_id =>
            {
                writes.push(Write::DeleteSndQueue(m.conn_id.clone()));
            }
            _ => {}
        }
        self.db(move |s| s.apply(writes)).await?;
        for e in events {
            self.emit(conn_id.clone(), e);
        }
        Ok(())
    }

    /// After a permanent failure to send.
    async fn on_send_failed(
        self: &Arc<Self>,
        m: SndMsgRecord,
        e: SendFail,
    ) -> Result<(), AgentError> {
        let _g = self.lock.lock().await;
        let conn_id = m.conn_id.clone();
        let mut failed = m.clone();
        failed.pending = false;
        failed.body = Vec::new();
        self.db(move |s| s.apply(vec![Write::PutSndMsg(failed)]))
            .await?;
        match m.kind {
            SndMsgKind::Message => self.emit(conn_id, Event::Merr(m.internal_id, e.to_string())),
            _ => self.emit(conn_id, Event::Err(format!("sending: {e}"))),
        }
        Ok(())
    }

    async fn on_server_event(self: &Arc<Self>, key: &SessKey, server: &SmpServer, ev: ServerEvent) {
        let conn_id = self.state.lock().ok().and_then(|st| {
            st.queues
                .get(&(server.to_string(), ev.entity_id.clone()))
                .cloned()
        });
        let Some(conn_id) = conn_id else {
            return;
        };
        match ev.response {
            Response::Msg(m) => {
                if let Err(e) = self.on_msg(&conn_id, m).await {
                    self.emit(conn_id, Event::Err(e.to_string()));
                }
            }
            Response::End => {
                let removed = self
                    .state
                    .lock()
                    .ok()
                    .and_then(|mut st| st.subs.get_mut(key).map(|s| s.remove(&conn_id)))
                    .unwrap_or(false);
                if removed {
                    self.emit(conn_id, Event::End);
                }
            }
            _ => {}
        }
    }

    /// A message from a receive queue (`processSMPTransmission`, `MSG`).
    async fn on_msg(self: &Arc<Self>, conn_id: &[u8], m: RcvMessage) -> Result<(), AgentError> {
        let g = self.lock.lock().await;
        let id = conn_id.to_vec();
        let (conn, rq, sq) = self
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queue(&id)?, s.snd_queue(&id)?)))
            .await?;
        let (Some(conn), Some(rq)) = (conn, rq) else {
            return Ok(());
        };
        let srv_msg_id = m.msg_id.as_slice().to_vec();
        let body = match decrypt_message(&rq.rcv_dh_secret, &m) {
            Ok(b) => b,
            Err(e) => {
                drop(g);
                self.ack_server(&rq, &srv_msg_id).await?;
                return Err(smp_err(&rq.server, e));
            }
        };
        let result = match body {
            RcvMsgBody::Quota { .. } => {
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
            RcvMsgBody::Data { body, .. } => {
                self.on_data(conn, rq.clone(), sq, &srv_msg_id, &body).await
            }
        };
        drop(g);
        let acked = match &result {
            Ok(AckMode::Later) => Ok(()),
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

    async fn on_data(
        self: &Arc<Self>,
        mut conn: ConnRecord,
        mut rq: RcvQueueRecord,
        sq: Option<SndQueueRecord>,
        srv_msg_id: &[u8],
        body: &[u8],
    ) -> Result<AckMode, AgentError> {
        let env: ClientMsgEnvelope =
            decode_all(body).map_err(|_| AgentError::Message("client envelope"))?;
        let conn_id = conn.conn_id.clone();
        match (env.header.e2e_pub_dh_key, rq.e2e_dh_secret.clone()) {
            (Some(_), Some(_)) => Ok(AckMode::Now), // a repeated confirmation
            (None, None) => Err(AgentError::Message("no keys")),
            (Some(pub_key), None) => {
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
                    ) => {
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
                        self.on_confirmation(
                            conn,
                            rq,
                            sq,
                            pub_key,
                            sender_key,
                            env.header.version,
                            agent_version,
                            e2e_encryption,
                            &enc_conn_info,
                        )
                        .await
                    }
                    _ => Err(AgentError::Message("unexpected envelope")),
                }
            }
            (None, Some(secret)) => {
                let plain = cb_decrypt(&secret, &env.nonce, &env.enc_body).map_err(crypto_err)?;
                let cm: ClientMessage =
                    decode_all(&plain).map_err(|_| AgentError::Message("client message"))?;
                let AgentMsgEnvelope::Message {
                    enc_agent_message, ..
                } = decode_all(&cm.body).map_err(|_| AgentError::Message("agent envelope"))?
                else {
                    return Err(AgentError::Message("not a message envelope"));
                };
                let enc_hash = sha256(&enc_agent_message).to_vec();
                let id = conn_id.clone();
                let (ratchet, skipped) = self
                    .db(move |s| Ok((s.ratchet(&id)?, s.skipped(&id)?)))
                    .await?;
                let ratchet = ratchet.ok_or(AgentError::Message("no ratchet"))?;
                let d = match ratchet.decrypt(&skipped, &enc_agent_message, &mut OsRng) {
                    Ok(d) => d,
                    Err(e) => {
                        // Its key is gone: a message seen before. The server's redelivery of
                        // the connection's last message that the application has not
                        // acknowledged yet (its ACK was never sent, say before a restart) is
                        // reported again from the stored copy; its redelivery under the same
                        // server ID otherwise (the application acknowledged it, or it is not
                        // the last one) is acknowledged silently (`getLastMsg`). A copy under
                        // another server ID is a replay (or a resend by the sender): it is
                        // acknowledged and reported as `A_DUPLICATE`, where the reference
                        // drops it silently (`checkRcvMsgHashExists`). A message the ratchet
                        // calls a duplicate whose hash is unknown is reported as
                        // `A_DUPLICATE` too, as the reference does (`checkDuplicateHash`).
                        let id = conn_id.clone();
                        let h = enc_hash.clone();
                        let stored = self.db(move |s| s.rcv_msg_by_enc_hash(&id, &h)).await?;
                        return match stored {
                            Some(r) if r.srv_msg_id == srv_msg_id => {
                                if !r.acked && r.internal_id == conn.last_internal_id {
                                    self.redeliver(conn_id, r).await
                                } else {
                                    Ok(AckMode::Now)
                                }
                            }
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
                            None => Err(crypto_err(e)),
                        };
                    }
                };
                let AgentMessage::Message { header, message } =
                    decode_all(&d.plaintext).map_err(|_| AgentError::Message("agent message"))?
                else {
                    return Err(AgentError::Message("not an agent message"));
                };
                let hash = sha256(&d.plaintext).to_vec();
                let integrity = MsgIntegrity::check(
                    conn.last_rcv_ext_id,
                    &conn.last_rcv_hash,
                    header.snd_msg_id,
                    &header.prev_msg_hash,
                );
                conn.last_internal_id += 1;
                conn.last_rcv_ext_id = header.snd_msg_id;
                conn.last_rcv_hash = hash.clone();
                let internal_id = conn.last_internal_id;
                rq.status = QueueStatus::Active;
                let mut writes = vec![
                    Write::PutRatchet(conn_id.clone(), d.ratchet),
                    Write::Skipped(conn_id.clone(), d.diff),
                ];
                let mut events = Vec::new();
                let mut after: Option<AMessage> = None;
                let mut ack = AckMode::Now;
                let mut record = RcvMsgRecord {
                    conn_id: conn_id.clone(),
                    internal_id,
                    ext_snd_id: header.snd_msg_id,
                    hash: hash.clone(),
                    enc_hash: enc_hash.clone(),
                    srv_msg_id: srv_msg_id.to_vec(),
                    body: Vec::new(),
                    integrity: integrity.to_string(),
                    acked: true,
                    kind: RcvMsgKind::Other,
                };
                match message {
                    AMessage::Hello => {
                        record.kind = RcvMsgKind::Hello;
                        if conn.initiator {
                            after = Some(AMessage::Hello);
                        } else if conn.status == ConnStatus::New {
                            conn.status = ConnStatus::Active;
                            events.push(Event::Con);
                        }
                    }
                    AMessage::AMsg(body) => {
                        record.kind = RcvMsgKind::Message;
                        record.body = body.clone();
                        record.acked = false;
                        events.push(Event::Msg {
                            meta: MsgMeta {
                                msg_id: internal_id,
                                snd_msg_id: header.snd_msg_id,
                                integrity,
                            },
                            body,
                        });
                        ack = AckMode::Later;
                    }
                    AMessage::ARcvd(rcpts) => {
                        record.kind = RcvMsgKind::Receipt;
                        let mut receipts = Vec::new();
                        for r in rcpts {
                            let id = conn_id.clone();
                            let sent = self
                                .db(move |s| s.snd_msg_by_snd_id(&id, r.agent_msg_id))
                                .await?;
                            match sent {
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
                                Some(mut sent) => {
                                    let status = if sent.hash == r.msg_hash {
                                        MsgReceiptStatus::Ok
                                    } else {
                                        MsgReceiptStatus::BadMsgHash
                                    };
                                    sent.receipt = Some(SndMsgReceipt {
                                        rcv_msg_id: internal_id,
                                        status,
                                    });
                                    receipts.push(MsgReceipt {
                                        msg_id: sent.internal_id,
                                        status,
                                    });
                                    writes.push(Write::PutSndMsg(sent));
                                }
                            }
                        }
                        if !receipts.is_empty() {
                            record.acked = false;
                            events.push(Event::Rcvd {
                                meta: MsgMeta {
                                    msg_id: internal_id,
                                    snd_msg_id: header.snd_msg_id,
                                    integrity,
                                },
                                receipts,
                            });
                            ack = AckMode::Later;
                        }
                    }
                    AMessage::AQCont(_) => {
                        record.kind = RcvMsgKind::QCont;
                        self.wake_worker(&conn_id);
                        events.push(Event::QCont);
                    }
                    _ => {}
                }
                writes.push(Write::PutRcvMsg(record));
                writes.push(Write::PutConn(conn));
                writes.push(Write::PutRcvQueue(rq));
                self.db(move |s| s.apply(writes)).await?;
                for e in events {
                    self.emit(conn_id.clone(), e);
                }
                if let (Some(msg), Some(_)) = (after, sq) {
                    self.enqueue(&conn_id, msg, SndMsgKind::Hello).await?;
                }
                Ok(ack)
            }
        }
    }

    /// Reports again the connection's last received message, which the server delivered
    /// again under the same ID before the application acknowledged it: a message from its
    /// stored copy, receipts from what they recorded.
    async fn redeliver(
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

    #[allow(clippy::too_many_arguments)]
    async fn on_confirmation(
        self: &Arc<Self>,
        mut conn: ConnRecord,
        mut rq: RcvQueueRecord,
        sq: Option<SndQueueRecord>,
        pub_key: simplex_crypto::PublicKeyX25519,
        sender_key: Option<simplex_crypto::PublicAuthKey>,
        smp_client_version: Version,
        agent_version: Version,
        e2e: Option<E2EParams>,
        enc_conn_info: &[u8],
    ) -> Result<AckMode, AgentError> {
        let conn_id = conn.conn_id.clone();
        let secret = dh_x25519(&pub_key, &rq.e2e_priv_key);
        match (conn.initiator, e2e) {
            (true, Some(params)) => {
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
                        && agent_version >= PQDR_AGENT_VERSION
                        && params.version >= PQ_RATCHET_E2E_VERSION,
                );
                let versions = RatchetVersions {
                    current: params.version,
                    max_supported: CURRENT_E2E_VERSION,
                };
                let ratchet = Ratchet::<X448>::init_rcv(versions, x.key2, init, kp, pq);
                let d = ratchet
                    .decrypt(&Default::default(), enc_conn_info, &mut OsRng)
                    .map_err(crypto_err)?;
                let AgentMessage::ConnInfoReply {
                    smp_queues,
                    conn_info,
                } = decode_all(&d.plaintext).map_err(|_| AgentError::Message("conn info"))?
                else {
                    return Err(AgentError::Message("not a conn info reply"));
                };
                conn.agent_version = agent_version.0.min(SUPPORTED_AGENT_VERSIONS.max.0);
                conn.pq_support = pq.0;
                conn.last_rcv_ext_id = 1;
                conn.last_rcv_hash = sha256(&d.plaintext).to_vec();
                rq.e2e_dh_secret = Some(secret);
                rq.status = QueueStatus::Confirmed;
                rq.client_version = rq.client_version.min(smp_client_version.0);
                let conf = ConfirmationRecord {
                    conf_id: random_id(),
                    conn_id: conn_id.clone(),
                    sender_key,
                    e2e_pub_key: pub_key,
                    reply_queues: smp_queues.clone(),
                    smp_client_version: smp_client_version.0,
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
            (false, None) => {
                let id = conn_id.clone();
                let (ratchet, skipped) = self
                    .db(move |s| Ok((s.ratchet(&id)?, s.skipped(&id)?)))
                    .await?;
                let ratchet = ratchet.ok_or(AgentError::Message("no ratchet"))?;
                let d = ratchet
                    .decrypt(&skipped, enc_conn_info, &mut OsRng)
                    .map_err(crypto_err)?;
                let AgentMessage::ConnInfo(conn_info) =
                    decode_all(&d.plaintext).map_err(|_| AgentError::Message("conn info"))?
                else {
                    return Err(AgentError::Message("not conn info"));
                };
                conn.last_rcv_ext_id = 1;
                conn.last_rcv_hash = sha256(&d.plaintext).to_vec();
                rq.e2e_dh_secret = Some(secret);
                rq.client_version = rq.client_version.min(smp_client_version.0);
                let mut events = vec![Event::Info(conn_info)];
                let send_hello = match &sender_key {
                    Some(k) => {
                        let client = self.client(&rq.server, &rq.conn_id).await?;
                        client
                            .secure_queue(&rq.rcv_key, &rq.rcv_id, k)
                            .await
                            .map_err(|e| smp_err(&rq.server, e))?;
                        rq.status = QueueStatus::Secured;
                        true
                    }
                    None => {
                        rq.status = QueueStatus::Active;
                        conn.status = ConnStatus::Active;
                        events.push(Event::Con);
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
            _ => Err(AgentError::Message("confirmation in the wrong state")),
        }
    }
}

/// A confirmation (conn info) as a pending message: ratchet-encrypted, in the `C` envelope,
/// boxed for the queue with this side's e2e key in the clear header.
fn confirmation_msg(
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
            body,
            pending: true,
            receipt: None,
        },
        ratchet,
    ))
}

/// Reads one session's pushed events until the connection closes, then reports `DOWN`
/// and reconnects.
async fn session_loop(
    inner: Weak<Inner>,
    key: SessKey,
    server: SmpServer,
    client: SmpClient,
    mut events: mpsc::Receiver<ServerEvent>,
) {
    // The stream ends when the connection closes.
    while let Some(ev) = events.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        inner.on_server_event(&key, &server, ev).await;
    }
    let Some(inner) = inner.upgrade() else { return };
    inner.proxy_closed(&key);
    {
        let mut clients = inner.clients.lock().await;
        if clients
            .get(&key)
            .is_some_and(|c| c.session_id() == client.session_id())
        {
            clients.remove(&key);
        }
    }
    if inner.stopped() {
        return;
    }
    let conns: Vec<ConnId> = inner
        .state
        .lock()
        .ok()
        .and_then(|mut st| st.subs.remove(&key))
        .map(|s| {
            let mut v: Vec<ConnId> = s.into_iter().collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    if conns.is_empty() {
        return;
    }
    inner.emit(Vec::new(), Event::Down(server.clone(), conns.clone()));
    inner.spawn_reconnect(key, server, conns);
}

/// Reconnects a session with back-off and subscribes its connections again; `UP` when done.
async fn reconnect_loop(inner: Weak<Inner>, key: SessKey, server: SmpServer, conns: Vec<ConnId>) {
    let mut delay = match inner.upgrade() {
        Some(i) => i.config.retry_initial,
        None => return,
    };
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopped() {
            return;
        }
        let ids = conns.clone();
        let rqs = match inner
            .db(move |s| {
                let mut out = Vec::new();
                for id in &ids {
                    if let (Some(c), Some(q)) = (s.conn(id)?, s.rcv_queue(id)?) {
                        if c.status != ConnStatus::Suspended && q.status != QueueStatus::Disabled {
                            out.push(q);
                        }
                    }
                }
                Ok(out)
            })
            .await
        {
            Ok(r) => r,
            Err(_) => continue,
        };
        match inner.subscribe_queues(&key, &server, &rqs).await {
            Ok(()) => {
                if let Ok(mut st) = inner.state.lock() {
                    st.reconnecting.remove(&key);
                }
                let up: Vec<ConnId> = rqs.iter().map(|q| q.conn_id.clone()).collect();
                inner.emit(Vec::new(), Event::Up(server.clone(), up));
                // Deliveries waiting on this server may go now.
                for c in &conns {
                    inner.wake_worker(c);
                }
                return;
            }
            Err(_) => delay = (delay * 2).min(inner.config.retry_max),
        }
    }
}

/// Sends a connection's pending messages in order, retrying temporary failures.
async fn delivery_loop(inner: Weak<Inner>, conn_id: ConnId, notify: Arc<Notify>) {
    let mut delay: Option<Duration> = None;
    loop {
        let Some(agent) = inner.upgrade() else { return };
        if agent.stopped() {
            return;
        }
        if agent
            .state
            .lock()
            .map(|st| !st.workers.contains_key(&conn_id))
            .unwrap_or(true)
        {
            return;
        }
        let id = conn_id.clone();
        let next = agent
            .db(move |s| {
                Ok((
                    s.pending_snd_msgs(&id)?.into_iter().next(),
                    s.snd_queue(&id)?,
                ))
            })
            .await;
        let (m, sq) = match next {
            Ok((Some(m), Some(sq))) => (m, sq),
            Ok(_) => {
                drop(agent);
                let _ = tokio::time::timeout(Duration::from_secs(5), notify.notified()).await;
                continue;
            }
            Err(_) => {
                drop(agent);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match agent.send_pending(&sq, &m).await {
            Ok(()) => {
                delay = None;
                if let Err(e) = agent.on_sent(m, &sq).await {
                    agent.emit(conn_id.clone(), Event::Err(e.to_string()));
                }
            }
            Err(e) if e.is_quota() => {
                // Wait for A_QCONT from the recipient (or try again after a while).
                drop(agent);
                let _ = tokio::time::timeout(Duration::from_secs(60), notify.notified()).await;
            }
            // The reference retries host errors too (the proxy or relay cannot serve the
            // command: it may once the configuration or the servers change).
            Err(e) if e.is_temporary() || e.is_host() => {
                if e.is_host() {
                    agent.emit(conn_id.clone(), Event::Mwarn(m.internal_id, e.to_string()));
                }
                let d = match delay {
                    None => agent.config.retry_initial,
                    Some(d) => (d * 2).min(agent.config.retry_max),
                };
                delay = Some(d);
                drop(agent);
                let _ = tokio::time::timeout(d, notify.notified()).await;
            }
            Err(e) => {
                if let Err(e) = agent.on_send_failed(m, e).await {
                    agent.emit(conn_id.clone(), Event::Err(e.to_string()));
                }
            }
        }
    }
}

/// The versions to use with a link's creator and the queue to reach it: the highest agent
/// version both support, the link's first queue, and the highest SMP client version both
/// support for that queue.
fn negotiate_link(data: &ConnReqUriData) -> Result<(Version, &SmpQueueUri, Version), AgentError> {
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
