//! Sessions and subscriptions: one SMP client per session (per server, or per server and
//! connection with connection isolation), a task per session reading its pushed events
//! (`MSG`, `END`), `DOWN` when the connection closes, and reconnection with back-off that
//! subscribes the session's queues again (`UP`).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use simplex_crypto::{sha256, PrivateAuthKey};
use simplex_encoding::string::base64url_encode;
use simplex_transport::socks::{SocksAuth, SocksCredentials};
use simplex_transport::SocksRoute;
use smp_client::hosts::hosts_by_mode;
use smp_client::{ServerEvent, SmpClient};
use smp_proto::SmpServer;
use smp_proto::{RcvMessage, Response};
use tokio::sync::mpsc;

use super::{smp_err, Agent, BoxFuture, Inner, SessKey};

/// Pushed events of one session handled as one batch at most.
const RECV_BATCH: usize = 64;
use crate::error::AgentError;
use crate::store::*;
use crate::types::*;

impl Agent {
    /// Subscribes the connections' receive queues again (after `END`, or to retry).
    pub async fn subscribe_connections(&self, conn_ids: &[ConnId]) -> Result<(), AgentError> {
        let inner = &self.inner;
        let ids = conn_ids.to_vec();
        let rqs = inner
            .db(move |s| {
                let mut out = Vec::new();
                for id in &ids {
                    out.extend(s.all_rcv_queues(id)?);
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
}

impl Inner {
    pub(super) fn index_queue(&self, rq: &RcvQueueRecord) {
        if let Ok(mut st) = self.state.lock() {
            st.queues.insert(
                (rq.server.to_string(), rq.rcv_id.clone()),
                rq.conn_id.clone(),
            );
        }
    }

    pub(super) fn subscribed(&self, key: &SessKey, conn_id: &[u8]) {
        if let Ok(mut st) = self.state.lock() {
            st.subs
                .entry(key.clone())
                .or_default()
                .insert(conn_id.to_vec());
        }
    }

    pub(super) fn unsubscribed(&self, rq: &RcvQueueRecord) {
        let key = self.sess_key(&rq.server, &rq.conn_id);
        if let Ok(mut st) = self.state.lock() {
            if let Some(s) = st.subs.get_mut(&key) {
                s.remove(&rq.conn_id);
            }
        }
    }

    /// The session's client, connecting (and starting its event task) when there is none.
    pub(super) async fn client(
        self: &Arc<Self>,
        server: &SmpServer,
        conn_id: &[u8],
    ) -> Result<SmpClient, AgentError> {
        let key = self.sess_key(server, conn_id);
        self.client_for(&key, server).await
    }

    /// The SOCKS5 proxy and credentials of a transport session (`clientSocksCredentials`):
    /// isolating by username, a hash of what the isolation mode separates (the user alone;
    /// or the agent's run; or the run and the relay; or those and the connection), so Tor
    /// opens a circuit per such session.
    fn socks_route(&self, key: &SessKey) -> Option<SocksRoute> {
        let p = self.config.socks_proxy.as_ref()?;
        let credentials = match &p.auth {
            SocksAuth::Null => None,
            SocksAuth::Username { username, password } => Some(SocksCredentials {
                username: username.as_bytes().to_vec(),
                password: password.as_bytes().to_vec(),
            }),
            SocksAuth::IsolateByAuth => {
                let run = self.started_at;
                let what = match (self.config.isolation, &key.1) {
                    (TransportIsolation::User, _) => "1".to_string(),
                    (TransportIsolation::Session, _) => format!("1:{run}"),
                    (TransportIsolation::Server, _) | (TransportIsolation::Entity, None) => {
                        format!("1:{run}@{}", key.0)
                    }
                    (TransportIsolation::Entity, Some(conn)) => {
                        format!("1:{run}@{}/{}", key.0, base64url_encode(conn))
                    }
                };
                Some(SocksCredentials {
                    username: base64url_encode(&sha256(what.as_bytes())).into_bytes(),
                    password: Vec::new(),
                })
            }
        };
        Some(SocksRoute {
            proxy: p.addr,
            credentials,
        })
    }

    /// Connects a transport session: the relay's hosts in the host mode's order (only the
    /// preferred kind when it is required), each through the SOCKS proxy when the SOCKS mode
    /// says so.
    async fn connect_session(
        &self,
        key: &SessKey,
        server: &SmpServer,
    ) -> Result<(SmpClient, mpsc::Receiver<ServerEvent>), AgentError> {
        let c = &self.config;
        let socks = self.socks_route(key);
        let onion_first = c.host_mode.prefers_onion(socks.is_some());
        let has_onion = server.hosts.iter().any(smp_client::hosts::is_onion);
        let required = c.required_host_mode || (c.onion_where_present && has_onion && onion_first);
        let hosts = hosts_by_mode(server, onion_first, required);
        let mut last = AgentError::IncompatibleHost(server.to_string());
        for one in hosts {
            let mut config = c.client.clone();
            config.transport.socks = socks
                .clone()
                .filter(|_| one.hosts.first().is_some_and(|h| c.socks_mode.proxies(h)));
            match SmpClient::connect(&one, config).await {
                Ok(connected) => return Ok(connected),
                Err(e) => last = smp_err(server, e),
            }
        }
        Err(last)
    }

    /// Boxed with an explicit `Send` bound: the session task it spawns calls back into it.
    pub(super) fn client_for<'a>(
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
            let (client, events) = self.connect_session(key, server).await?;
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

    pub(super) async fn subscribe_queues(
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

    pub(super) fn spawn_reconnect(
        self: &Arc<Self>,
        key: SessKey,
        server: SmpServer,
        conns: Vec<ConnId>,
    ) {
        self.session_down(&key);
        if let Ok(mut st) = self.state.lock() {
            if !st.reconnecting.insert(key.clone()) {
                return;
            }
        }
        tokio::spawn(reconnect_loop(Arc::downgrade(self), key, server, conns));
    }

    /// Events a session's reader delivered together, in order: consecutive `MSG`s on
    /// distinct connections are processed as one batch ([`Inner::on_msgs`]); a second
    /// message of a connection already in the batch, or any other event, waits for the
    /// batch before it, so that each connection's messages are handled in order.
    async fn on_server_events(
        self: &Arc<Self>,
        key: &SessKey,
        server: &SmpServer,
        events: Vec<ServerEvent>,
    ) {
        let mut msgs: Vec<(ConnId, Vec<u8>, RcvMessage)> = Vec::new();
        for ev in events {
            let Some(conn_id) = self.queue_conn(server, &ev.entity_id) else {
                continue;
            };
            match ev.response {
                Response::Msg(m) => {
                    if msgs.iter().any(|(c, ..)| *c == conn_id) {
                        self.on_msg_batch(std::mem::take(&mut msgs)).await;
                    }
                    msgs.push((conn_id, ev.entity_id, m));
                }
                other => {
                    self.on_msg_batch(std::mem::take(&mut msgs)).await;
                    self.on_server_event(key, conn_id, other);
                }
            }
        }
        self.on_msg_batch(msgs).await;
    }

    /// The connection of a receive queue of this agent's.
    fn queue_conn(&self, server: &SmpServer, rcv_id: &[u8]) -> Option<ConnId> {
        let st = self.state.lock().ok()?;
        st.queues
            .get(&(server.to_string(), rcv_id.to_vec()))
            .cloned()
    }

    /// Messages on distinct connections: one alone as before, more as one batch.
    async fn on_msg_batch(self: &Arc<Self>, mut msgs: Vec<(ConnId, Vec<u8>, RcvMessage)>) {
        if msgs.len() > 1 {
            return self.on_msgs(msgs).await;
        }
        if let Some((conn_id, rcv_id, m)) = msgs.pop() {
            if let Err(e) = self.on_msg(&conn_id, &rcv_id, m).await {
                self.emit(conn_id, Event::Err(e.to_string()));
            }
        }
    }

    /// A pushed event other than `MSG`.
    fn on_server_event(self: &Arc<Self>, key: &SessKey, conn_id: ConnId, response: Response) {
        if let Response::End = response {
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
    }
}

/// Reads one session's pushed events until the connection closes, then reports `DOWN`
/// and reconnects.
pub(super) async fn session_loop(
    inner: Weak<Inner>,
    key: SessKey,
    server: SmpServer,
    client: SmpClient,
    mut events: mpsc::Receiver<ServerEvent>,
) {
    // The stream ends when the connection closes.
    while let Some(ev) = events.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        // With it, what else the reader has delivered meanwhile (a fan-out's messages
        // arrive together): handled as one batch.
        let mut batch = vec![ev];
        while batch.len() < RECV_BATCH {
            match events.try_recv() {
                Ok(ev) => batch.push(ev),
                Err(_) => break,
            }
        }
        inner.on_server_events(&key, &server, batch).await;
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
pub(super) async fn reconnect_loop(
    inner: Weak<Inner>,
    key: SessKey,
    server: SmpServer,
    conns: Vec<ConnId>,
) {
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
        let srv = server.clone();
        let rqs = match inner
            .db(move |s| {
                let mut out = Vec::new();
                for id in &ids {
                    let Some(c) = s.conn(id)? else { continue };
                    for q in s.all_rcv_queues(id)? {
                        if c.status != ConnStatus::Suspended
                            && q.status != QueueStatus::Disabled
                            && q.server == srv
                        {
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
        if rqs.is_empty() {
            // Nothing left to receive there (the queues were deleted or moved to another
            // relay): stop trying a relay that may never come back.
            if let Ok(mut st) = inner.state.lock() {
                st.reconnecting.remove(&key);
            }
            inner.session_up(&key);
            return;
        }
        match inner.subscribe_queues(&key, &server, &rqs).await {
            Ok(()) => {
                if let Ok(mut st) = inner.state.lock() {
                    st.reconnecting.remove(&key);
                }
                inner.session_up(&key);
                let mut up: Vec<ConnId> = rqs.iter().map(|q| q.conn_id.clone()).collect();
                up.dedup();
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
