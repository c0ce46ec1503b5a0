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
//! ([`forward`]), runs the forwarded `SEND`/`SKEY` through the core as any other, and seals
//! the answer in `RRES`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use simplex_crypto::{dh_x25519, DhSecretX25519};
use simplex_transport::handshake::{ServerConnection, SmpListener, SmpReader, SmpWriter};
use simplex_transport::ServerCredentials;
use smp_proto::block::{batch_transmissions, decode_block};
use smp_proto::command::Command;
use smp_proto::error::{CommandError, ErrorType};
use smp_proto::response::Response;
use smp_proto::transmission::{decode_server_transmission, encode_transmission};
use smp_proto::version::Version;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use crate::core::{AuthCheck, AuthKeyCache, ClientId, Core, Outgoing, Reply, Request, Session};
use crate::forward::{self, Opened};
use crate::msg_store::MsgNtf;
use crate::proxy::{ProxyAgent, ProxyConfig};
use crate::stats::{self, inc, EntityCounts, Stats, StatsConfig, StatsData};
use crate::store_log;
use crate::wire;

pub use crate::listeners::Listeners;

mod relay_view;
pub use relay_view::{ClientRow, RelayView, Saved, SocketRow, StatsView};

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
        } = self;
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

/// The store's counts for the statistics.
fn entity_counts(core: &Core) -> EntityCounts {
    EntityCounts {
        queues: i64::try_from(core.queues.len()).unwrap_or(i64::MAX),
        notifiers: i64::try_from(core.queues.notifier_count()).unwrap_or(i64::MAX),
    }
}

/// At start: the counters of the backup file, when there is one (it is then renamed to
/// `.bak`, as the reference does; a file that cannot be read refuses the start), and the
/// stored queue, message and notification counts.
fn start_stats(shared: &Shared, config: &StatsConfig) -> std::io::Result<Arc<Stats>> {
    let core = lock(&shared.core);
    let stats = core.stats().clone();
    if let Some(daily) = &config.daily {
        if daily.backup.exists() {
            let text = std::fs::read_to_string(&daily.backup)?;
            let d = StatsData::decode_backup(&text).map_err(std::io::Error::other)?;
            stats.set(&d);
            let mut bak = daily.backup.clone().into_os_string();
            bak.push(".bak");
            std::fs::rename(&daily.backup, bak)?;
            println!("server stats restored from {}", daily.backup.display());
        }
    }
    stats.start(chrono::Utc::now());
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let counts = entity_counts(&core);
    stats.q_count.store(counts.queues, Ordering::Relaxed);
    stats
        .msg_count
        .store(as_i64(core.msgs.total()), Ordering::Relaxed);
    stats
        .ntf_count
        .store(as_i64(core.ntfs.total()), Ordering::Relaxed);
    Ok(stats)
}

/// The daily log and the Prometheus file writers, as configured.
fn spawn_stats(
    shared: &Arc<Shared>,
    config: &StatsConfig,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(daily) = config.daily.clone() {
        println!("server stats log enabled: {}", daily.path.display());
        let shared = shared.clone();
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut delay = match daily.start_at {
                Some(at) => stats::first_delay(chrono::Utc::now(), at),
                None => daily.interval,
            };
            loop {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
                delay = daily.interval;
                let now = chrono::Utc::now();
                let (d, counts) = {
                    let core = lock(&shared.core);
                    (core.stats().take(now), entity_counts(&core))
                };
                let line = stats::daily_line(&d, now, counts);
                let written = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&daily.path)
                    .and_then(|mut f| {
                        use std::io::Write;
                        writeln!(f, "{line}")
                    });
                if let Err(e) = written {
                    tracing::error!(error = %e, "writing the stats log failed");
                }
            }
        }));
    }
    if let Some(prom) = config.prometheus.clone() {
        println!(
            "Prometheus metrics saved every {} seconds to {}",
            prom.interval.as_secs(),
            prom.path.display()
        );
        let shared = shared.clone();
        let mut stop = stop;
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(prom.interval) => {}
                    _ = stop.changed() => return,
                }
                let now = chrono::Utc::now();
                let (d, counts) = {
                    let core = lock(&shared.core);
                    (core.stats().snapshot(), entity_counts(&core))
                };
                let text = stats::prometheus_text(&d, counts, now);
                if let Err(e) = std::fs::write(&prom.path, text) {
                    tracing::error!(error = %e, "writing the metrics file failed");
                }
            }
        }));
    }
    tasks
}

fn spawn_expiry(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(7200)) => {}
                _ = stop.changed() => return,
            }
            let (n, ntfs) = {
                let mut core = lock(&shared.core);
                (core.expire_messages(now()), core.expire_ntfs(now()))
            };
            tracing::info!(expired = n, expired_ntfs = ntfs, "expired messages");
        }
    })
}

/// Every [`NTF_FLUSH_INTERVAL`], hands kept notifications to their notifiers' connections
/// (those that still do not fit are kept again, in order).
fn spawn_ntf_flush(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(NTF_FLUSH_INTERVAL) => {}
                _ = stop.changed() => return,
            }
            let mut core = lock(&shared.core);
            let kept = core.take_kept_ntfs();
            if kept.is_empty() {
                continue;
            }
            let pushes = lock(&shared.pushes);
            for (client, nid, ntfs) in kept {
                for ntf in ntfs {
                    let o = Outgoing {
                        client,
                        corr_id: Vec::new(),
                        entity_id: nid.clone(),
                        reply: Reply::from(ntf),
                    };
                    route_push(&pushes, &mut core, o);
                }
            }
        }
    })
}

enum Incoming {
    Requests(Vec<Item>),
}

/// One received transmission on its way to the process task.
// Requests are by far the most common item; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Item {
    /// A command for the core.
    Req(Request),
    /// `RFWD`: its correlation ID and encrypted body.
    Fwd { corr_id: Vec<u8>, enc: Vec<u8> },
    /// Answered already (refused).
    Done(Box<Wire>),
}

async fn serve_client(
    conn: ServerConnection,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    inactive: Option<InactiveClients>,
) {
    let ServerConnection {
        reader,
        writer,
        session,
    } = conn;
    let client = shared.next_client.fetch_add(1, Ordering::Relaxed);
    let version = session.params.version;
    let session_id = session.params.session_id.clone();
    let fwd_secret = session
        .client_dh_key
        .as_ref()
        .map(|k| dh_x25519(k, &session.dh_private));
    let core_session = Session {
        client,
        version: version.0,
        server_dh_key: Some(session.dh_private),
    };
    let (cmd_tx, cmd_rx) = mpsc::channel::<Incoming>(64);
    let (reply_tx, reply_rx) = mpsc::channel::<Vec<Wire>>(64);
    // Channels allocate slots in blocks of 32 up front: boxed, an idle client's two push
    // channels hold 2 × 32 pointers rather than 2 × 32 transmissions (~8 KB each).
    let (push_tx, push_rx) = mpsc::unbounded_channel::<Box<Wire>>();
    let (ntf_tx, ntf_rx) = mpsc::channel::<Box<Wire>>(MAX_PENDING_NTFS);
    lock(&shared.pushes).insert(
        client,
        PushTx {
            any: push_tx.clone(),
            ntf: ntf_tx,
        },
    );
    let active = Arc::new(AtomicI64::new(now()));
    shared
        .registry
        .client_connected(client, &session_id, active.clone());
    tracing::debug!("client connected");
    tokio::select! {
        () = receive(reader, version, session_id.clone(), cmd_tx, active.clone(), shared.clone(), push_tx) => {}
        () = process(cmd_rx, reply_tx, shared.clone(), core_session, session_id.clone(), fwd_secret) => {}
        () = send(writer, version, session_id, reply_rx, push_rx, ntf_rx, active.clone()) => {}
        () = idle(inactive, active, shared.clone(), client) => {}
        _ = stop.changed() => {}
    }
    // The one clean-up step.
    lock(&shared.pushes).remove(&client);
    lock(&shared.core).client_gone(client);
    shared.registry.client_gone(client);
    tracing::debug!("client disconnected");
}

#[allow(clippy::too_many_arguments)]
async fn receive(
    mut reader: SmpReader,
    version: Version,
    session_id: Vec<u8>,
    cmd_tx: mpsc::Sender<Incoming>,
    active: Arc<AtomicI64>,
    shared: Arc<Shared>,
    push_tx: mpsc::UnboundedSender<Box<Wire>>,
) {
    // Proxy commands in progress; they end with this task (when the client goes).
    let mut proxied = JoinSet::new();
    let limit = Arc::new(Semaphore::new(
        shared.proxy.config().client_concurrency.max(1),
    ));
    let err = |corr_id: Vec<u8>, entity_id: Vec<u8>, e: ErrorType| {
        Box::new(Wire {
            corr_id,
            entity_id,
            resp: Response::Err(e),
        })
    };
    loop {
        let Ok(block) = reader.read_raw().await else {
            return;
        };
        active.store(now(), Ordering::Relaxed);
        while proxied.try_join_next().is_some() {}
        let mut batch = Vec::new();
        match decode_block(block) {
            Ok(ts) => {
                for t in ts {
                    let st = match decode_server_transmission(version, &session_id, t) {
                        Ok(st) => st,
                        Err(te) => {
                            batch.push(Item::Done(err(te.corr_id, te.entity_id, te.error)));
                            continue;
                        }
                    };
                    match st.command {
                        Command::Rfwd(enc) => {
                            inc(&shared.stats.p_msg_fwds_recv);
                            batch.push(Item::Fwd {
                                corr_id: st.raw.corr_id.to_vec(),
                                enc,
                            })
                        }
                        cmd @ (Command::Prxy { .. } | Command::Pfwd { .. }) => {
                            let Ok(permit) = limit.clone().acquire_owned().await else {
                                return;
                            };
                            let corr_id = st.raw.corr_id.to_vec();
                            let entity_id = st.raw.entity_id.to_vec();
                            let shared = shared.clone();
                            let push_tx = push_tx.clone();
                            proxied.spawn(async move {
                                let _permit = permit;
                                let resp = proxy_command(
                                    &shared.proxy,
                                    &shared.stats,
                                    &corr_id,
                                    &entity_id,
                                    cmd,
                                )
                                .await;
                                let _ = push_tx.send(Box::new(Wire {
                                    corr_id,
                                    entity_id,
                                    resp,
                                }));
                            });
                        }
                        _ => batch.push(match wire::request(st, &session_id) {
                            Ok(req) => Item::Req(req),
                            Err((c, e, t)) => Item::Done(err(c, e, t)),
                        }),
                    }
                }
            }
            Err(_) => batch.push(Item::Done(err(Vec::new(), Vec::new(), ErrorType::Block))),
        }
        if batch.is_empty() {
            continue;
        }
        if cmd_tx.send(Incoming::Requests(batch)).await.is_err() {
            return;
        }
    }
}

/// `PRXY` or `PFWD`, answered by the proxy agent.
async fn proxy_command(
    proxy: &ProxyAgent,
    stats: &Stats,
    corr_id: &[u8],
    entity_id: &[u8],
    cmd: Command,
) -> Response {
    use smp_proto::error::{BrokerErrorType, ProxyError, TransportError};
    // As the reference: a version mismatch is a compatibility error, a failed connection
    // (or, for `PFWD`, no session) a connection error, an `ERR` of the destination relay a
    // success. Whether the destination is this relay itself (the `own` counters) is not
    // known here: those stay 0.
    let compat = |e: &ErrorType| {
        matches!(e, ErrorType::Proxy(p) if matches!(**p,
            ProxyError::Broker(BrokerErrorType::Transport(TransportError::Version))))
    };
    match cmd {
        Command::Prxy { server, basic_auth } => {
            let r = proxy
                .prxy(
                    &server,
                    basic_auth.as_ref().map(smp_proto::BasicAuth::as_bytes),
                )
                .await;
            let basic_auth_failed = matches!(&r, Response::Err(ErrorType::Proxy(p))
                if matches!(**p, ProxyError::BasicAuth));
            if !basic_auth_failed {
                inc(&stats.p_relays_requests);
                inc(match &r {
                    Response::Err(e) if compat(e) => &stats.p_relays_errors_compat,
                    Response::Err(ErrorType::Proxy(p))
                        if matches!(
                            **p,
                            ProxyError::Broker(
                                BrokerErrorType::Network(_)
                                    | BrokerErrorType::Timeout
                                    | BrokerErrorType::Host
                            )
                        ) =>
                    {
                        &stats.p_relays_errors_connect
                    }
                    Response::Err(_) => &stats.p_relays_errors_other,
                    _ => &stats.p_relays_successes,
                });
            }
            r
        }
        Command::Pfwd {
            version,
            dh_key,
            enc_transmission,
        } => {
            let r = proxy
                .pfwd(entity_id, corr_id, version, dh_key, enc_transmission)
                .await;
            inc(&stats.p_msg_fwds_requests);
            inc(match &r {
                Response::Err(e) if compat(e) => &stats.p_msg_fwds_errors_compat,
                Response::Err(ErrorType::Proxy(p)) => match **p {
                    ProxyError::NoSession => &stats.p_msg_fwds_errors_connect,
                    ProxyError::Protocol(_) => &stats.p_msg_fwds_successes,
                    _ => &stats.p_msg_fwds_errors_other,
                },
                Response::Err(_) => &stats.p_msg_fwds_errors_other,
                _ => &stats.p_msg_fwds_successes,
            });
            r
        }
        _ => Response::Err(ErrorType::Internal),
    }
}

/// A request for the core (with what seals its answer when it was forwarded), or an
/// answer already.
type Prepared = Result<(Request, Option<Forwarded>), Box<Wire>>;

/// A forwarded command, opened: the outer correlation ID and what seals the answer.
struct Forwarded {
    corr_id: Vec<u8>,
    opened: Opened,
}

/// Opens `RFWD` and parses the forwarded transmission: the core's request, or the answer
/// already (an `ERR` to `RFWD` itself, or a sealed `ERR` for the forwarded command).
fn open_forwarded(
    session: &Session,
    session_id: &[u8],
    secret: Option<&DhSecretX25519>,
    corr_id: Vec<u8>,
    enc: &[u8],
) -> Result<(Request, Forwarded), Box<Wire>> {
    let outer_err = |corr_id: Vec<u8>, e: ErrorType| {
        Box::new(Wire {
            corr_id,
            entity_id: Vec::new(),
            resp: Response::Err(e),
        })
    };
    let (Some(secret), Some(server_key)) = (secret, session.server_dh_key.as_ref()) else {
        return Err(outer_err(corr_id, forward::no_session_secret()));
    };
    let opened = match forward::open(secret, server_key, &corr_id, enc) {
        Ok(o) => o,
        Err(e) => return Err(outer_err(corr_id, e)),
    };
    let t = match opened.transmission() {
        Ok(t) => t,
        Err(e) => return Err(outer_err(corr_id, e)),
    };
    let fwd = |opened| Forwarded { corr_id, opened };
    let inner = match decode_server_transmission(opened.version, session_id, t) {
        Err(te) => Err((te.corr_id, te.entity_id, te.error)),
        // Only the sender's commands may be forwarded.
        Ok(st) if !matches!(st.command, Command::Send { .. } | Command::SKey(_)) => Err((
            st.raw.corr_id.to_vec(),
            st.raw.entity_id.to_vec(),
            ErrorType::Cmd(CommandError::Prohibited),
        )),
        Ok(st) => wire::request(st, session_id),
    };
    match inner {
        Ok(req) => Ok((req, fwd(opened))),
        Err((c, e, error)) => {
            let f = fwd(opened);
            Err(Box::new(seal_forwarded(
                session_id,
                secret,
                f,
                &c,
                &e,
                &Response::Err(error),
            )))
        }
    }
}

/// The answer to `RFWD`: `RRES` with the forwarded command's response, or `ERR` when it
/// cannot be sealed.
fn seal_forwarded(
    session_id: &[u8],
    secret: &DhSecretX25519,
    f: Forwarded,
    corr_id: &[u8],
    entity_id: &[u8],
    resp: &Response,
) -> Wire {
    let v = f.opened.version;
    let sealed = encode_transmission(v, session_id, corr_id, entity_id, &resp.to_bytes(v))
        .map_err(|_| ErrorType::Block)
        .and_then(|t| f.opened.seal(secret, &t));
    Wire {
        corr_id: f.corr_id,
        entity_id: Vec::new(),
        resp: match sealed {
            Ok(r) => Response::Rres(r),
            Err(e) => Response::Err(e),
        },
    }
}

async fn process(
    mut cmd_rx: mpsc::Receiver<Incoming>,
    reply_tx: mpsc::Sender<Vec<Wire>>,
    shared: Arc<Shared>,
    session: Session,
    session_id: Vec<u8>,
    fwd_secret: Option<DhSecretX25519>,
) {
    let mut key_cache = AuthKeyCache::new();
    while let Some(Incoming::Requests(items)) = cmd_rx.recv().await {
        let mut mine = Vec::with_capacity(items.len());
        let mut others = Vec::new();
        // `RFWD` is opened first (outside the lock); its command then goes the same way.
        let batch: Vec<Prepared> = items
            .into_iter()
            .map(|item| match item {
                Item::Req(req) => Ok((req, None)),
                Item::Done(w) => Err(w),
                Item::Fwd { corr_id, enc } => {
                    open_forwarded(&session, &session_id, fwd_secret.as_ref(), corr_id, &enc)
                        .map(|(req, f)| (req, Some(f)))
                }
            })
            .collect();
        let mut sealing = Vec::new();
        // Look up the keys under the lock, verify the whole batch outside it, then execute
        // under the lock again (the reference also verifies a batch before processing it).
        let checks: Vec<Option<AuthCheck>> = {
            let core = lock(&shared.core);
            batch
                .iter()
                .map(|item| item.as_ref().ok().map(|(req, _)| core.auth_check(req)))
                .collect()
        };
        let verified: Vec<bool> = batch
            .iter()
            .zip(&checks)
            .map(|(item, check)| match (item, check) {
                (Ok((req, _)), Some(check)) => check.verify_cached(&session, req, &mut key_cache),
                _ => false,
            })
            .collect();
        drop(checks);
        {
            let mut core = lock(&shared.core);
            let t = now();
            // IDs, nonces and queue keys come from the thread's ChaCha CSPRNG (seeded and
            // reseeded from the OS), as the reference's ChaChaDRG: no system call per message.
            let mut rng = rand::thread_rng();
            for (item, ok) in batch.into_iter().zip(verified) {
                match item {
                    Ok((req, Some(f))) => {
                        // The forwarded command runs at the client's version.
                        let fwd_session = Session {
                            client: session.client,
                            version: f.opened.version.0,
                            server_dh_key: session.server_dh_key.clone(),
                        };
                        let mut outs = core
                            .handle_verified(&mut rng, t, &fwd_session, req, ok)
                            .into_iter();
                        if let Some(reply) = outs.next() {
                            sealing.push((f, reply));
                        }
                        for o in outs {
                            if o.client == session.client {
                                mine.push(Wire::from(o));
                            } else {
                                others.push(o);
                            }
                        }
                    }
                    Ok((req, None)) => {
                        for o in core.handle_verified(&mut rng, t, &session, req, ok) {
                            if o.client == session.client {
                                mine.push(Wire::from(o));
                            } else {
                                others.push(o);
                            }
                        }
                    }
                    Err(o) => mine.push(*o),
                }
            }
            if !others.is_empty() {
                let pushes = lock(&shared.pushes);
                for o in others.drain(..) {
                    route_push(&pushes, &mut core, o);
                }
            }
        }
        if let Some(secret) = fwd_secret.as_ref() {
            for (f, o) in sealing {
                let resp = wire::response(o.reply);
                mine.push(seal_forwarded(
                    &session_id,
                    secret,
                    f,
                    &o.corr_id,
                    &o.entity_id,
                    &resp,
                ));
            }
        }
        if reply_tx.send(mine).await.is_err() {
            return;
        }
    }
}

async fn send(
    mut writer: SmpWriter,
    version: Version,
    session_id: Vec<u8>,
    mut reply_rx: mpsc::Receiver<Vec<Wire>>,
    mut push_rx: mpsc::UnboundedReceiver<Box<Wire>>,
    mut ntf_rx: mpsc::Receiver<Box<Wire>>,
    active: Arc<AtomicI64>,
) {
    loop {
        let mut out: Vec<Wire> = tokio::select! {
            r = reply_rx.recv() => match r { Some(r) => r, None => return },
            p = push_rx.recv() => match p { Some(p) => vec![*p], None => return },
            n = ntf_rx.recv() => match n { Some(n) => vec![*n], None => return },
        };
        while let Ok(more) = reply_rx.try_recv() {
            out.extend(more);
        }
        while let Ok(p) = push_rx.try_recv() {
            out.push(*p);
        }
        while let Ok(n) = ntf_rx.try_recv() {
            out.push(*n);
        }
        let ts: Vec<Vec<u8>> = out
            .into_iter()
            .filter_map(|o| {
                let body = o.resp.to_bytes(version);
                encode_transmission(version, &session_id, &o.corr_id, &o.entity_id, &body).ok()
            })
            .collect();
        for batch in batch_transmissions(&ts) {
            let Ok(batch) = batch else { continue };
            if writer.write_raw(&batch.block).await.is_err() {
                return;
            }
        }
        // Sending counts as activity too (the reference takes the later of the last
        // receive and the last send).
        active.store(now(), Ordering::Relaxed);
    }
}

async fn idle(
    inactive: Option<InactiveClients>,
    active: Arc<AtomicI64>,
    shared: Arc<Shared>,
    client: ClientId,
) {
    let Some(cfg) = inactive else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_secs(cfg.check_interval.max(1))).await;
        let idle_for = now() - active.load(Ordering::Relaxed);
        if idle_for > cfg.ttl && !lock(&shared.core).has_subscriptions(client) {
            tracing::debug!("disconnecting inactive client");
            return;
        }
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
