//! The network layer: accepts TLS connections, runs the SMP handshake, and drives the
//! [`Core`] for each client (the task structure of the reference's `runClientTransport`).
//!
//! Per client: a receive task (read a block, split the batch, decode each transmission), a
//! process task (looks up keys under the one store lock, verifies signatures and
//! authenticators outside it, then executes under it), and a send task (replies
//! and pushes, batched into 16 KiB blocks), joined by bounded channels. Pushes to a client
//! take an unbounded one for `MSG` and `END` (the core pushes at most one unacknowledged `MSG`
//! and one `END` per subscription) and a bounded one for `NMSG`: when
//! [`MAX_PENDING_NTFS`] notifications already wait for a notifier's connection, the next
//! ones are kept in the core's store and handed on every [`NTF_FLUSH_INTERVAL`], as the
//! reference keeps notifications while a notifier's send queue is full. When
//! one task ends, all end, and one clean-up step drops the client's subscriptions. A
//! semaphore caps connections before `accept`. Shutdown: stop accepting, end every client,
//! wait for them, save messages, close the store log. Nothing logged carries a client
//! address, a queue ID or message content.
//!
//! Private message routing: the receive task hands `PRXY` and `PFWD` to the [`ProxyAgent`] in
//! tasks of their own (at most `client_concurrency` per client; more wait, and so does
//! reading), whose answers join the client's pushes; the process task opens `RFWD`
//! ([`forward`](crate::forward)), runs the forwarded `SEND`/`SKEY` through the core as any
//! other, and seals the answer in `RRES`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use simplex_transport::handshake::SmpListener;
use simplex_transport::ServerCredentials;
use smp_proto::response::Response;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::core::{ClientId, Core, Outgoing, Reply};
use crate::msg_store::MsgNtf;
use crate::proxy::{ProxyAgent, ProxyConfig};
use crate::stats::{Stats, StatsConfig};
use crate::store_log;
use crate::wire;

pub use crate::listeners::Listeners;

mod relay_view;
pub use relay_view::{ClientRow, RelayView, Saved, SocketRow, StatsView};

mod client;
mod forwarded;
mod tasks;
use client::serve_client;
use tasks::{entity_counts, spawn_expiry, spawn_ntf_flush, spawn_stats, start_stats};

/// Disconnecting clients that have no subscriptions and were idle.
#[derive(Debug, Clone, Copy)]
pub struct InactiveClients {
    /// Idle time after which a client without subscriptions is disconnected (seconds).
    pub ttl: i64,
    /// How often to check (seconds).
    pub check_interval: u64,
}

/// How the network layer runs.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The connection cap.
    pub max_connections: usize,
    /// `[INACTIVE_CLIENTS]`, when enabled.
    pub inactive: Option<InactiveClients>,
    /// Where to save messages on shutdown (`None`: not saved).
    pub messages_path: Option<PathBuf>,
    /// Where to save kept notifications on shutdown (`None`: not saved).
    pub ntfs_path: Option<PathBuf>,
    /// The operators' statistics files (none by default).
    pub stats: StatsConfig,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Notifications waiting to be written to one connection, at most; more are kept in the
/// core's store ([`Core::keep_ntf`]).
pub const MAX_PENDING_NTFS: usize = 512;
/// How often kept notifications are handed to their notifiers' connections (the
/// reference's `ntfDeliveryInterval`).
pub const NTF_FLUSH_INTERVAL: Duration = Duration::from_millis(1500);

/// A client's push channels.
struct PushTx {
    /// `MSG`, `END`, proxy answers.
    any: mpsc::UnboundedSender<Box<Wire>>,
    /// `NMSG`.
    ntf: mpsc::Sender<Box<Wire>>,
}

type Pushes = Arc<Mutex<HashMap<ClientId, PushTx>>>;

/// Hands a push to its client's connection; a notification that does not fit goes back to
/// the core to keep. Called with the core locked, so that kept and new notifications of a
/// notifier stay in order.
fn route_push(pushes: &HashMap<ClientId, PushTx>, core: &mut Core, o: Outgoing) {
    let Some(tx) = pushes.get(&o.client) else {
        return;
    };
    match &o.reply {
        Reply::NMsg {
            nonce,
            enc_meta,
            msg_id,
            ts,
        } => {
            let ntf = MsgNtf {
                msg_id: msg_id.clone(),
                ts: *ts,
                nonce: *nonce,
                enc_meta: enc_meta.clone(),
            };
            let nid = o.entity_id.clone();
            // Behind notifications already kept for this notifier, or when its connection
            // has too many waiting: keep this one too.
            if core.ntf_is_kept(&nid) {
                core.keep_ntf(&nid, ntf);
            } else if let Err(mpsc::error::TrySendError::Full(_)) =
                tx.ntf.try_send(Box::new(Wire::from(o)))
            {
                core.keep_ntf(&nid, ntf);
            }
        }
        _ => {
            let _ = tx.any.send(Box::new(Wire::from(o)));
        }
    }
}

struct Shared {
    core: Mutex<Core>,
    /// The core's counters, for the proxy's events (no core lock needed).
    stats: Arc<Stats>,
    pushes: Pushes,
    next_client: AtomicU64,
    proxy: ProxyAgent,
    /// Connected clients and socket counts, for the control port.
    registry: relay_view::Registry,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the state as it was at the panic; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bound server, ready to run.
pub struct Server {
    listener: SmpListener,
    /// Further ports (`[TRANSPORT] port = 5223,443`), served the same way.
    extra_listeners: Vec<SmpListener>,
    shared: Arc<Shared>,
    config: NetConfig,
    /// The control port, when configured ([`Server::set_control`]).
    control: Option<crate::control::ControlPort>,
    services: crate::listeners::ServiceSlot,
}

impl Server {
    /// Binds the listener (`config.listen`), offering [`smp_proto::SERVER_VERSIONS`].
    pub async fn bind(
        config: NetConfig,
        creds: &ServerCredentials,
        core: Core,
    ) -> std::io::Result<Server> {
        Server::bind_with_versions(config, creds, core, smp_proto::SERVER_VERSIONS).await
    }

    /// Binds the listener offering `versions` to clients that negotiate ALPN (tests of later
    /// versions, before the default range is raised).
    pub async fn bind_with_versions(
        config: NetConfig,
        creds: &ServerCredentials,
        core: Core,
        versions: smp_proto::VersionRange,
    ) -> std::io::Result<Server> {
        let listeners = Listeners::bind_with_versions(&[config.listen], creds, versions).await?;
        Ok(Server::with_listeners(listeners, config, core))
    }

    /// A server on listeners bound beforehand ([`Listeners::bind`]); `config.listen` is not
    /// used.
    pub fn with_listeners(listeners: Listeners, config: NetConfig, core: Core) -> Server {
        let proxy = ProxyAgent::new(ProxyConfig {
            basic_auth: core.create_password().map(<[u8]>::to_vec),
            ..ProxyConfig::default()
        });
        let shared = Arc::new(Shared {
            registry: relay_view::Registry::for_listeners(&listeners),
            stats: core.stats().clone(),
            core: Mutex::new(core),
            pushes: Arc::new(Mutex::new(HashMap::new())),
            next_client: AtomicU64::new(1),
            proxy,
        });
        Server {
            listener: listeners.first,
            extra_listeners: listeners.extra,
            shared,
            config,
            control: None,
            services: listeners.services,
        }
    }

    /// Serves the control port (bound beforehand) while the relay runs. Call before
    /// [`Server::run`].
    pub fn set_control(&mut self, control: crate::control::ControlPort) {
        self.control = Some(control);
    }

    /// Sets how this relay serves as a proxy (by default as the reference: allowed, with
    /// `[AUTH] create_password` as its password). Call before [`Server::run`].
    pub fn set_proxy(&mut self, config: ProxyConfig) {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.proxy = ProxyAgent::new(config);
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr().map_err(std::io::Error::other)
    }

    /// Every bound address, the first one first.
    pub fn local_addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        std::iter::once(&self.listener)
            .chain(&self.extra_listeners)
            .map(|l| l.local_addr().map_err(std::io::Error::other))
            .collect()
    }

    /// Serves until `shutdown` resolves; then drains clients, saves messages and closes the
    /// store log.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let Server {
            listener,
            extra_listeners,
            shared,
            config,
            control,
            services,
        } = self;
        let weak = Arc::downgrade(&shared);
        let _ = services.set(Arc::new(
            move |role: smp_proto::ServiceRole, chain: &[Vec<u8>], hash: &[u8; 32]| {
                let shared = weak.upgrade().ok_or(())?;
                let mut core = lock(&shared.core);
                core.service_id_for(&mut rand::thread_rng(), now(), role, chain, hash)
                    .map_err(drop)
            },
        ));
        // Further ports accept in their own tasks and hand connections to this loop, so every
        // connection goes through the same cap, handshake and shutdown.
        let (extra_tx, mut extra_rx) = mpsc::channel::<tokio::net::TcpStream>(64);
        let mut acceptors = JoinSet::new();
        for l in extra_listeners {
            let tx = extra_tx.clone();
            acceptors.spawn(async move {
                loop {
                    if let Ok((tcp, _addr)) = l.accept_tcp().await {
                        if tx.send(tcp).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        let limit = Arc::new(Semaphore::new(config.max_connections));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut clients = JoinSet::new();
        let stats = start_stats(&shared, &config.stats)?;
        let stats_tasks = spawn_stats(&shared, &config.stats, stop_rx.clone());
        let expiry = spawn_expiry(shared.clone(), stop_rx.clone());
        let ntf_flush = spawn_ntf_flush(shared.clone(), stop_rx.clone());
        let control = control.map(|c| {
            let view = RelayView::new(shared.clone(), &config);
            tokio::spawn(c.serve(view, stop_rx.clone()))
        });
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                () = &mut shutdown => break,
            };
            let tcp = tokio::select! {
                r = listener.accept_tcp() => r.ok().map(|(tcp, _addr)| tcp),
                Some(tcp) = extra_rx.recv() => Some(tcp),
                () = &mut shutdown => break,
            };
            while clients.try_join_next().is_some() {}
            let Some(tcp) = tcp else { continue };
            let transport = listener.transport().clone();
            let shared = shared.clone();
            let stop = stop_rx.clone();
            let inactive = config.inactive;
            let socket = relay_view::SocketGuard::accepted(&shared, &tcp);
            clients.spawn(async move {
                let _permit = permit;
                let _socket = socket;
                let _ = tcp.set_nodelay(true);
                match transport.handshake(tcp).await {
                    Ok(conn) => serve_client(conn, shared, stop, inactive).await,
                    Err(e) => tracing::debug!(error = %e, "handshake failed"),
                }
            });
        }
        acceptors.abort_all();
        drop(extra_tx);
        tracing::info!("stopping: no new connections, ending clients");
        let _ = stop_tx.send(true);
        while clients.join_next().await.is_some() {}
        expiry.abort();
        ntf_flush.abort();
        if let Some(c) = control {
            // Its sessions end with it, before the final save.
            c.abort();
            let _ = c.await;
        }
        for t in stats_tasks {
            t.abort();
        }
        shared.proxy.close().await;
        let mut core = lock(&shared.core);
        if let Some(path) = &config.messages_path {
            match store_log::save_messages(path, &core.msgs) {
                Ok(n) => println!("messages saved: {n}"),
                Err(e) => tracing::error!(error = %e, "saving messages failed"),
            }
        }
        if let Some(path) = &config.ntfs_path {
            match store_log::save_ntfs(path, &core.ntfs) {
                Ok(n) => println!("notifications saved: {n}"),
                Err(e) => tracing::error!(error = %e, "saving notifications failed"),
            }
        }
        if let Some(log) = core.queues.take_log() {
            log.close()?;
        }
        if let Some(daily) = &config.stats.daily {
            match std::fs::write(&daily.backup, stats.snapshot().encode_backup()) {
                Ok(()) => println!("server stats saved to {}", daily.backup.display()),
                Err(e) => tracing::error!(error = %e, "saving server stats failed"),
            }
        }
        Ok(())
    }
}

/// A transmission to write: correlation ID, entity ID, response.
struct Wire {
    corr_id: Vec<u8>,
    entity_id: Vec<u8>,
    resp: Response,
}

impl From<Outgoing> for Wire {
    fn from(o: Outgoing) -> Wire {
        Wire {
            corr_id: o.corr_id,
            entity_id: o.entity_id,
            resp: wire::response(o.reply),
        }
    }
}
