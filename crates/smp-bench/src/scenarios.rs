//! The load scenarios over real TLS clients: throughput and latency with pairs of a sender
//! and a subscribed recipient, mass queue creation, restart, idle clients.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use simplex_crypto::{
    dh_x25519, DhSecretX25519, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519,
};
use smp_client::{
    decrypt_message, ClientCommand, ClientConfig, ClientError, ServerEvent, SmpClient,
};
use smp_proto::command::{
    Command, MsgFlags, NewQueueReq, QueueMode, QueueReqData, SubscriptionMode,
};
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_proto::{max_message_length, SmpServer};
use tokio::sync::{mpsc, Semaphore};

use smp_bench::queue::secured_queue;
use smp_bench::server::{cpu_seconds, rss_bytes};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Messages a sender may have in flight before its recipient received them (well under the
/// relay's per-queue quota of 128).
const WINDOW: usize = 8;

/// The highest SMP version the benchmark's clients offer (`--client-max-version`; the
/// default is the client's whole range, 6–18). Below 11 the relay does not encrypt blocks.
pub static CLIENT_MAX_VERSION: std::sync::OnceLock<u16> = std::sync::OnceLock::new();

/// A client configuration for benchmarking: no keep-alive pings, long waits, deep event
/// channel, versions capped by [`CLIENT_MAX_VERSION`].
pub fn client_config() -> ClientConfig {
    let mut config = ClientConfig {
        command_timeout: Duration::from_secs(300),
        ping_interval: Duration::ZERO,
        event_capacity: 4096,
        ..ClientConfig::default()
    };
    if let Some(&max) = CLIENT_MAX_VERSION.get() {
        let v = &mut config.transport.versions;
        v.max = v.max.min(smp_proto::Version(max)).max(v.min);
    }
    config
}

/// Connects, retrying for up to `patience` (a restarting server may refuse at first).
pub async fn connect(
    server: &SmpServer,
    patience: Duration,
) -> Result<(SmpClient, mpsc::Receiver<ServerEvent>), ClientError> {
    let start = Instant::now();
    loop {
        match SmpClient::connect(server, client_config()).await {
            Ok(c) => return Ok(c),
            Err(e) if start.elapsed() >= patience => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

fn x_key() -> PrivateAuthKey {
    PrivateAuthKey::X25519(PrivateKeyX25519::generate(&mut OsRng))
}

/// A sender and a recipient on their own connections around one secured queue.
pub struct Pair {
    rcv: SmpClient,
    rcv_events: mpsc::Receiver<ServerEvent>,
    snd: SmpClient,
    rcv_key: PrivateAuthKey,
    snd_key: PrivateAuthKey,
    rcv_id: Vec<u8>,
    snd_id: Vec<u8>,
    dh_secret: DhSecretX25519,
}

impl Pair {
    /// The sender's session: its SMP version, and whether its blocks are encrypted (v11+).
    pub fn session(&self) -> (u16, bool) {
        (self.snd.version().0, self.snd.block_encryption())
    }
}

async fn make_pair(server: SmpServer) -> Result<Pair, BoxError> {
    let (rcv, rcv_events) = connect(&server, Duration::from_secs(10)).await?;
    let (snd, _snd_events) = connect(&server, Duration::from_secs(10)).await?;
    // Crypto_box authenticators (X25519): the relay's SHA-512 over each transmission.
    let rcv_key = x_key();
    let snd_key = x_key();
    let (ids, dh) = secured_queue(&rcv, &rcv_key, &snd_key).await?;
    let rcv_id = ids.rcv_id.as_slice().to_vec();
    Ok(Pair {
        dh_secret: dh_x25519(&ids.rcv_public_dh_key, &dh),
        rcv,
        rcv_events,
        snd,
        rcv_key,
        snd_key,
        rcv_id,
        snd_id: ids.snd_id.as_slice().to_vec(),
    })
}

/// `n` pairs, set up concurrently.
pub async fn make_pairs(server: &SmpServer, n: usize) -> Result<Vec<Pair>, BoxError> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(make_pair(server.clone()));
    }
    let mut pairs = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        pairs.push(r??);
    }
    Ok(pairs)
}

/// What one timed phase measured.
#[derive(Debug, Clone, Default)]
pub struct PhaseResult {
    /// Messages delivered to recipients during the measured window.
    pub delivered: u64,
    /// The window's length.
    pub wall_s: f64,
    /// The relay's CPU seconds in the window (when it is our child).
    pub server_cpu_s: Option<f64>,
    /// SEND or ACK errors.
    pub errors: u64,
    /// Latencies from SEND to MSG arrival, in microseconds, sorted (latency phase only).
    pub latencies_us: Vec<u64>,
}

impl PhaseResult {
    /// Delivered messages per second.
    pub fn msgs_per_s(&self) -> f64 {
        self.delivered as f64 / self.wall_s.max(1e-9)
    }

    /// The `q` quantile of the latencies, in milliseconds.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        // Nearest rank: the smallest sample with at least a fraction `q` at or below it.
        let mut i = 0;
        while i + 1 < n && ((i + 1) as f64) < q * n as f64 {
            i += 1;
        }
        self.latencies_us.get(i).map(|us| *us as f64 / 1000.0)
    }
}

struct Shared {
    base: Instant,
    stop: AtomicBool,
    measuring: AtomicBool,
    delivered: AtomicU64,
    errors: AtomicU64,
    latencies: Mutex<Vec<u64>>,
}

fn micros_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_micros()).unwrap_or(u64::MAX)
}

async fn sender(
    shared: Arc<Shared>,
    window: Arc<Semaphore>,
    snd: SmpClient,
    snd_key: PrivateAuthKey,
    snd_id: Vec<u8>,
    pace: Option<(Duration, Duration)>,
) -> (SmpClient, PrivateAuthKey, Vec<u8>) {
    let max = max_message_length(snd.version());
    let mut body = vec![0x61u8; max];
    let flags = MsgFlags {
        notification: false,
    };
    let mut tick = pace.map(|(i, phase)| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + phase, i);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    while !shared.stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(100), window.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            Ok(Err(_)) => break,
            Err(_) => continue,
        }
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let now = micros_since(shared.base);
        if let Some(stamp) = body.get_mut(..8) {
            stamp.copy_from_slice(&now.to_le_bytes());
        }
        match snd
            .send_message(Some(&snd_key), &snd_id, flags, &body)
            .await
        {
            Ok(()) => {}
            Err(ClientError::Closed) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Err(_) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                // The message never arrives: give its slot back.
                window.add_permits(1);
            }
        }
    }
    (snd, snd_key, snd_id)
}

struct Receiving {
    rcv: SmpClient,
    events: mpsc::Receiver<ServerEvent>,
    key: PrivateAuthKey,
    id: Vec<u8>,
    secret: DhSecretX25519,
}

async fn recipient(
    shared: Arc<Shared>,
    window: Arc<Semaphore>,
    mut r: Receiving,
    timestamps: bool,
) -> Receiving {
    let mut local = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    loop {
        let stopping = shared.stop.load(Ordering::Relaxed);
        if stopping {
            // Senders have stopped: acknowledge whatever still arrives, then leave an empty
            // queue with nothing unacknowledged behind.
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
        let ev = match tokio::time::timeout(Duration::from_millis(100), r.events.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(_) => continue,
        };
        quiet_since = None;
        let Response::Msg(m) = ev.response else {
            continue;
        };
        let arrived = micros_since(shared.base);
        if shared.measuring.load(Ordering::Relaxed) {
            shared.delivered.fetch_add(1, Ordering::Relaxed);
            if timestamps {
                if let Ok(RcvMsgBody::Data { body, .. }) = decrypt_message(&r.secret, &m) {
                    let sent = body
                        .get(..8)
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .map(u64::from_le_bytes);
                    if let Some(sent) = sent {
                        local.push(arrived.saturating_sub(sent));
                    }
                }
            }
        }
        window.add_permits(1);
        if r.rcv.ack(&r.key, &r.id, m.msg_id.as_slice()).await.is_err() {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Ok(mut all) = shared.latencies.lock() {
        all.extend(local);
    }
    r
}

/// Runs the pairs flat out (`rate` `None`) or at `rate` messages per second in total, for
/// `warmup` and then a measured `duration`; returns the pairs for the next phase.
pub async fn run_phase(
    pairs: Vec<Pair>,
    rate: Option<f64>,
    warmup: Duration,
    duration: Duration,
    pid: Option<u32>,
) -> (Vec<Pair>, PhaseResult) {
    let shared = Arc::new(Shared {
        base: Instant::now(),
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
    });
    let n = pairs.len().max(1);
    let interval = rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(n as f64 / r));
    let mut tasks = Vec::with_capacity(pairs.len());
    for (i, p) in pairs.into_iter().enumerate() {
        let window = Arc::new(Semaphore::new(WINDOW));
        // Sender i starts i/n of an interval late, so the senders together send at an even
        // pace; started together, they would send in bursts of n at once.
        let pace = interval.map(|iv| (iv, iv.mul_f64(i as f64 / n as f64)));
        let s = tokio::spawn(sender(
            shared.clone(),
            window.clone(),
            p.snd,
            p.snd_key,
            p.snd_id,
            pace,
        ));
        let r = tokio::spawn(recipient(
            shared.clone(),
            window,
            Receiving {
                rcv: p.rcv,
                events: p.rcv_events,
                key: p.rcv_key,
                id: p.rcv_id,
                secret: p.dh_secret,
            },
            rate.is_some(),
        ));
        tasks.push((s, r));
    }
    tokio::time::sleep(warmup).await;
    let cpu0 = pid.and_then(cpu_seconds);
    let t0 = Instant::now();
    shared.measuring.store(true, Ordering::SeqCst);
    tokio::time::sleep(duration).await;
    shared.measuring.store(false, Ordering::SeqCst);
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu1 = pid.and_then(cpu_seconds);
    let delivered = shared.delivered.load(Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let mut pairs = Vec::new();
    for (s, r) in tasks {
        if let (Ok((snd, snd_key, snd_id)), Ok(rc)) = (s.await, r.await) {
            pairs.push(Pair {
                rcv: rc.rcv,
                rcv_events: rc.events,
                snd,
                rcv_key: rc.key,
                snd_key,
                rcv_id: rc.id,
                snd_id,
                dh_secret: rc.secret,
            });
        }
    }
    let mut latencies_us = shared
        .latencies
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    latencies_us.sort_unstable();
    let result = PhaseResult {
        delivered,
        wall_s,
        server_cpu_s: cpu0.zip(cpu1).map(|(a, b)| b - a),
        errors: shared.errors.load(Ordering::SeqCst),
        latencies_us,
    };
    (pairs, result)
}

/// Closes every connection of the pairs.
pub async fn close_pairs(pairs: Vec<Pair>) {
    for p in pairs {
        p.rcv.close().await;
        p.snd.close().await;
    }
}

/// The queues one creating connection made, all with its one recipient key.
pub struct Created {
    /// The recipient key of every queue in `ids`.
    pub key: PrivateAuthKey,
    /// Recipient IDs in creation order.
    pub ids: Vec<Vec<u8>>,
}

/// When the latest `IDS` arrived, and which queue it was.
type LastCreated = (Option<Instant>, Option<(usize, usize)>);

/// What the queue scenario produced.
pub struct QueueSet {
    /// Per connection.
    pub created: Vec<Created>,
    /// (connection, index) of the queue whose `IDS` came last.
    pub last: Option<(usize, usize)>,
    /// Seconds the creation took.
    pub elapsed_s: f64,
}

impl QueueSet {
    /// Total queues.
    pub fn len(&self) -> usize {
        self.created.iter().map(|c| c.ids.len()).sum()
    }
}

/// Creates `total` idle queues (`NEW`, only create, no messages) over `conns` connections
/// in batches of `batch`, printing progress.
pub async fn create_queues(
    server: &SmpServer,
    total: usize,
    conns: usize,
    batch: usize,
) -> Result<QueueSet, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let last: Arc<Mutex<LastCreated>> = Arc::new(Mutex::new((None, None)));
    let start = Instant::now();
    let conns = conns.clamp(1, total.max(1));
    let batch = batch.max(1);
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        clients.push(connect(server, Duration::from_secs(10)).await?);
    }
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(5));
            t.tick().await;
            loop {
                t.tick().await;
                let d = done.load(Ordering::Relaxed);
                let s = start.elapsed().as_secs_f64();
                println!(
                    "  queues: {d}/{total} created, {:.0}/s, {s:.0} s",
                    d as f64 / s
                );
            }
        })
    };
    let mut set = tokio::task::JoinSet::new();
    for (w, (client, _events)) in clients.into_iter().enumerate() {
        let next = next.clone();
        let done = done.clone();
        let last = last.clone();
        set.spawn(async move {
            let key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
            let dh = PrivateKeyX25519::generate(&mut OsRng);
            let mut ids: Vec<Vec<u8>> = Vec::new();
            loop {
                let from = next.fetch_add(batch, Ordering::Relaxed);
                if from >= total {
                    break;
                }
                let n = batch.min(total - from);
                let cmds = (0..n)
                    .map(|_| ClientCommand {
                        key: Some(&key),
                        entity_id: &[],
                        command: Command::New(Box::new(NewQueueReq {
                            rcv_auth_key: key.public_key(),
                            rcv_dh_key: dh.public_key(),
                            basic_auth: None,
                            sub_mode: SubscriptionMode::OnlyCreate,
                            queue_req_data: Some(QueueReqData::of_mode(QueueMode::Messaging)),
                            ntf_creds: None,
                        })),
                    })
                    .collect();
                for r in client.send_batch(cmds).await {
                    match r {
                        Ok(Response::Ids(q)) => ids.push(q.rcv_id.as_slice().to_vec()),
                        Ok(other) => {
                            return Err(format!("NEW answered {}", other.tag()).into());
                        }
                        Err(e) => return Err(BoxError::from(e)),
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
                if let Ok(mut l) = last.lock() {
                    let now = Instant::now();
                    if l.0.is_none_or(|t| now >= t) {
                        *l = (Some(now), Some((w, ids.len().saturating_sub(1))));
                    }
                }
            }
            client.close().await;
            Ok::<_, BoxError>((w, Created { key, ids }))
        });
    }
    let mut created: Vec<Option<Created>> = (0..conns).map(|_| None).collect();
    let mut failure = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok((w, c))) => {
                if let Some(slot) = created.get_mut(w) {
                    *slot = Some(c);
                }
            }
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(e.into()),
        }
    }
    progress.abort();
    if let Some(e) = failure {
        return Err(e);
    }
    let last = last.lock().map(|l| l.1).unwrap_or(None);
    Ok(QueueSet {
        created: created.into_iter().flatten().collect(),
        last,
        elapsed_s: start.elapsed().as_secs_f64(),
    })
}

/// What the restart scenario measured.
#[derive(Debug, Clone, Default)]
pub struct RestartResult {
    /// From starting the process until it printed its port.
    pub listen_s: f64,
    /// From starting the process until `SUB` of the last-created queue answered `OK`.
    pub restart_s: f64,
    /// Sampled other queues subscribed, and how many answered `OK`.
    pub sample: usize,
    /// How many of the sample answered `OK`.
    pub sample_ok: usize,
}

/// After the process started (`started` is when the spawn began and `listening` when it
/// printed its port): `SUB` the last-created queue, then a sample of others.
pub async fn subscribe_after_restart(
    server: &SmpServer,
    queues: &QueueSet,
    started: Instant,
    listening: Instant,
    sample: usize,
) -> Result<RestartResult, BoxError> {
    let (client, _events) = connect(server, Duration::from_secs(60)).await?;
    let (w, i) = queues.last.ok_or("no queue was created")?;
    let c = queues.created.get(w).ok_or("no such connection")?;
    let id = c.ids.get(i).ok_or("no such queue")?;
    client.subscribe(&c.key, id).await?;
    let restart_s = started.elapsed().as_secs_f64();
    let mut picks: Vec<(usize, usize)> = queues
        .created
        .iter()
        .enumerate()
        .flat_map(|(w, c)| (0..c.ids.len()).map(move |i| (w, i)))
        .collect();
    picks.shuffle(&mut rand::thread_rng());
    picks.truncate(sample);
    let subs: Vec<(&[u8], &PrivateAuthKey)> = picks
        .iter()
        .filter_map(|(w, i)| {
            let c = queues.created.get(*w)?;
            Some((c.ids.get(*i)?.as_slice(), &c.key))
        })
        .collect();
    let ok = client
        .subscribe_many(&subs)
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count();
    client.close().await;
    Ok(RestartResult {
        listen_s: listening.duration_since(started).as_secs_f64(),
        restart_s,
        sample: subs.len(),
        sample_ok: ok,
    })
}

/// Connects `n` idle clients (at most `parallel` handshakes at once), printing progress.
pub async fn connect_idle(
    server: &SmpServer,
    n: usize,
    parallel: usize,
) -> Result<Vec<(SmpClient, mpsc::Receiver<ServerEvent>)>, BoxError> {
    let gate = Arc::new(Semaphore::new(parallel.max(1)));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let gate = gate.clone();
        let done = done.clone();
        let server = server.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let c = connect(&server, Duration::from_secs(30)).await?;
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            if d % 2000 == 0 {
                println!(
                    "  clients: {d}/{n} connected, {:.0} s",
                    start.elapsed().as_secs_f64()
                );
            }
            Ok::<_, BoxError>(c)
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        out.push(r??);
    }
    Ok(out)
}

/// Resident memory of `pid` after letting it settle.
pub async fn settled_rss(pid: Option<u32>) -> Option<u64> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    pid.and_then(rss_bytes)
}
