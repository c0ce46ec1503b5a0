//! The agent: connections, the handshake, delivery, receiving, subscriptions.
//!
//! One lock serialises every change of connection state (store reads, ratchet steps, store
//! writes), so that the ratchet is never advanced twice from the same state. Each SMP
//! session has a task reading its pushed events until the stream ends with the connection
//! (then `DOWN` and reconnection); each connection with a send queue has a delivery task
//! that sends its stored pending messages in order, with back-off (after `ERR QUOTA` it
//! waits for the peer's `A_QCONT`), directly or through a proxy relay (module `routing`).
//!
//! This module holds the agent's handle and shared state, its start and stop, and
//! suspending and deleting connections. The rest, by concern:
//! - `state`: the connection state machine (its statuses and what moves them);
//! - `connect`: invitations, joining, confirmations, contact addresses;
//! - `send`: storing messages for delivery and the delivery tasks;
//! - `receive`: decryption, integrity, acknowledgement, receipts (`one_hop`: the common
//!   received message read, decrypted and stored in one call of the store's thread);
//! - `subscribe`: sessions, subscriptions, `DOWN`/`UP` and reconnection;
//! - `sync`: ratchet re-synchronisation (new keys both ways, `EREADY`);
//! - `switch`: queue rotation (`QADD`, `QKEY`, `QUSE`, `QTEST`, `SWITCH`);
//! - `routing`: the sender's commands, directly or through a proxy relay.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rand::rngs::OsRng;
use rand::RngCore;
use smp_client::{ClientError, SmpClient};
use smp_proto::ErrorType;
use smp_proto::SmpServer;
use tokio::sync::{mpsc, Notify};

mod connect;
mod key_supply;
mod links;
mod noise;
mod one_hop;
pub use links::{CreatedLinks, ShortLinkData};
mod ack;
mod receive;
mod redundant;
mod replace;
mod routing;
mod send;
#[doc(hidden)]
pub use send::sealed_body;
mod state;
mod store_thread;
mod subscribe;
mod switch;
mod sync;

use crate::error::{AgentError, StoreError};
use crate::store::*;
use crate::types::*;

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
    /// Wake-ups of the delivery tasks of redundant send queues, by (connection, sender ID).
    copy_workers: HashMap<(ConnId, Vec<u8>), Arc<Notify>>,
    /// Sessions being reconnected.
    reconnecting: HashSet<SessKey>,
    /// When each session that is down went down (module `replace`).
    down_since: HashMap<SessKey, std::time::Instant>,
    /// Messages left unacknowledged on the new queue of a switch until the old queue has
    /// delivered the ones before them (module `switch`).
    deferred: HashMap<ConnId, switch::Deferred>,
    /// Messages reported in this run and not yet acknowledged, by (connection, message ID)
    /// (module `ack`).
    unacked: HashMap<(ConnId, i64), ack::Unacked>,
    /// Messages `enqueue` stored as their connection's next pending one, handed to the
    /// delivery task with the store's sequence number of that moment (module `send`).
    handoffs: HashMap<ConnId, send::Handoff>,
    stopped: bool,
}

struct Inner {
    config: AgentConfig,
    /// The store, on its own thread (module `store_thread`).
    store: store_thread::StoreThread,
    events: mpsc::UnboundedSender<AgentEvent>,
    clients: tokio::sync::Mutex<HashMap<SessKey, SmpClient>>,
    lock: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    routing: Mutex<routing::Routing>,
    /// X448 keys and sntrup761 key pairs made ahead of time for ratchet steps and X3DH
    /// (module `key_supply`).
    ratchet_keys: Arc<key_supply::RatchetKeys>,
    /// Numbers the store calls that read or write a connection's pending messages, in the
    /// order the store's thread runs them (module `send`).
    store_seq: Arc<std::sync::atomic::AtomicU64>,
    /// When this agent started (nanoseconds since the epoch): part of per-connection SOCKS
    /// usernames, so a new run uses new Tor circuits.
    started_at: u128,
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

/// The time now in Unix seconds (0 if the clock is before 1970).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
            store: store_thread::StoreThread::start(store)?,
            events,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State::default()),
            routing: Mutex::new(routing::Routing::default()),
            ratchet_keys: Arc::new(key_supply::RatchetKeys::new()),
            store_seq: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        });
        let loaded = inner
            .db(|s| Ok((s.load_conns()?, s.snd_copy_queues()?)))
            .await?;
        let (loaded, copy_queues) = loaded;
        for (conn_id, queue) in &copy_queues {
            inner.start_copy_worker(conn_id, queue);
        }
        let mut to_sub: HashMap<SessKey, (SmpServer, Vec<RcvQueueRecord>)> = HashMap::new();
        for (c, rqs, sq) in &loaded {
            inner.resume_switch(rqs);
            for rq in rqs {
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
        if let (true, Some(after)) = (inner.redundant(), inner.config.replace_dead_after) {
            tokio::spawn(replace::replace_loop(Arc::downgrade(&inner), after));
        }
        if let Some(mean) = inner.config.noise_interval {
            tokio::spawn(noise::noise_loop(Arc::downgrade(&inner), mean));
        }
        if let Some(every) = inner.config.rotate_after {
            tokio::spawn(switch::rotation_loop(Arc::downgrade(&inner), every));
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

    /// Stops the agent: closes its SMP connections, ends its tasks and closes its database.
    /// Stored state stays; calls after this fail.
    pub async fn stop(&self) {
        if let Ok(mut st) = self.inner.state.lock() {
            st.stopped = true;
            for n in st.workers.values().chain(st.copy_workers.values()) {
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
        // What lazy store calls left to commit with a later one (module `store_thread`)
        // is committed now, and the database closed: once `stop` returns, the file holds
        // what the application was told, and another agent or process may open it (the
        // store is opened for one connection alone), even while this agent's tasks end.
        self.inner.store.close().await;
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
            inner.unsubscribed(&rq);
            state::suspended(&mut conn, &mut rq);
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
        let (conn, rqs) = inner
            .db(move |s| Ok((s.conn(&id)?, s.all_rcv_queues(&id)?)))
            .await?;
        conn.ok_or(AgentError::NoConnection)?;
        for rq in rqs {
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
            st.copy_workers.retain(|(c, _), n| {
                if c == conn_id {
                    n.notify_one();
                }
                c != conn_id
            });
            st.unacked.retain(|(c, _), _| c != conn_id);
            st.handoffs.remove(conn_id);
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
        Ok(self.store.call(f).await?)
    }

    /// As [`Inner::db`], for work in the store's thread that fails otherwise too (say
    /// encryption between a read and a write).
    async fn db_with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, AgentError> + Send + 'static,
    ) -> Result<T, AgentError> {
        self.store.call(f).await
    }

    /// As [`Inner::db`], for writes whose loss a restart tolerates: the result before they
    /// are committed, with a later call's (module `store_thread`).
    async fn db_lazy<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, AgentError> {
        Ok(self.store.call_lazy(f).await?)
    }

    /// As [`Inner::db`], `then` running on the result in the store's thread once committed
    /// (module `store_thread`).
    async fn db_then<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
        then: impl FnOnce(&mut T) + Send + 'static,
    ) -> Result<T, AgentError> {
        Ok(self.store.call_then(f, then).await?)
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
            TransportIsolation::Entity => (server.to_string(), Some(conn_id.to_vec())),
            _ => (server.to_string(), None),
        }
    }
}
