//! The agent-bench scenarios: two agents in this process on SQLite files, one relay.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use simplex_agent::store::ConnId;
use simplex_agent::{Agent, AgentConfig, AgentEvent, Event, SqliteStore};
use smp_bench::server::rss_bytes;
use smp_proto::SmpServer;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::crypto_floor;
use crate::floor::{self, BareStore, Cpu, FloorPair};
use crate::{BoxError, Sizes};

/// A wait for the next event longer than this fails the run.
pub(crate) const STALL: Duration = Duration::from_secs(60);
/// Connections made at once when many are needed.
const BATCH: usize = 50;

pub(crate) struct Side {
    pub(crate) agent: Agent,
    pub(crate) rx: UnboundedReceiver<AgentEvent>,
}

pub(crate) fn config(server: &SmpServer, pq: bool) -> AgentConfig {
    let mut c = AgentConfig::new(vec![server.clone()]);
    c.pq_support = pq;
    c
}

pub(crate) async fn start(dir: &Path, name: &str, config: AgentConfig) -> Result<Side, BoxError> {
    let store = SqliteStore::open(&dir.join(format!("{name}.db")), name)?;
    let (agent, rx) = Agent::start(config, Box::new(store)).await?;
    Ok(Side { agent, rx })
}

pub(crate) async fn next(s: &mut Side) -> Result<AgentEvent, BoxError> {
    match tokio::time::timeout(STALL, s.rx.recv()).await {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err("agent stopped".into()),
        Err(_) => Err("no event for 60 s".into()),
    }
}

/// Makes `k` connections from `a` to `b` (created and joined, then allowed as the
/// confirmations come); returns them once both sides reported `CON` for each.
pub(crate) async fn connect(
    a: &mut Side,
    b: &mut Side,
    k: usize,
) -> Result<Vec<(ConnId, ConnId)>, BoxError> {
    let mut pairs = Vec::with_capacity(k);
    for _ in 0..k {
        let (a_conn, link) = a.agent.create_connection().await?;
        let b_conn = b.agent.join_connection(&link, b"b").await?;
        pairs.push((a_conn, b_conn));
    }
    let (mut con_a, mut con_b) = (0, 0);
    while con_a < k || con_b < k {
        tokio::select! {
            e = next(a) => match e?.event {
                Event::Conf { conf_id, .. } => a.agent.allow_connection(&conf_id, b"a").await?,
                Event::Con => con_a += 1,
                _ => {}
            },
            e = next(b) => if e?.event == Event::Con { con_b += 1 },
        }
    }
    Ok(pairs)
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Median time of `n` connections made one at a time.
async fn connect_times(
    dir: &Path,
    server: &SmpServer,
    pq: bool,
    n: usize,
) -> Result<f64, BoxError> {
    let tag = if pq { "pq" } else { "plain" };
    let mut a = start(dir, &format!("connect-a-{tag}"), config(server, pq)).await?;
    let mut b = start(dir, &format!("connect-b-{tag}"), config(server, pq)).await?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        connect(&mut a, &mut b, 1).await?;
        times.push(t.elapsed());
    }
    a.agent.stop().await;
    b.agent.stop().await;
    Ok(median_ms(times))
}

/// Receives messages on `r` until `n` arrived, acknowledging each (no receipt).
async fn receive(r: &mut Side, n: usize) -> Result<(), BoxError> {
    receive_acking(r, n, false).await
}

/// [`receive`], with `async_ack` acknowledging without waiting (`ack_message_async`).
async fn receive_acking(r: &mut Side, n: usize, async_ack: bool) -> Result<(), BoxError> {
    let mut got = 0;
    while got < n {
        let e = next(r).await?;
        if let Event::Msg { meta, .. } = e.event {
            if async_ack {
                r.agent.ack_message_async(&e.conn_id, meta.msg_id, None);
            } else {
                r.agent.ack_message(&e.conn_id, meta.msg_id, None).await?;
            }
            got += 1;
        }
    }
    Ok(())
}

/// Messages per second, `n` of 200 bytes one way on one connection; and how many times the
/// sender was told to go on after the queue was full (`QCONT`).
async fn burst(
    a: &mut Side,
    b: &mut Side,
    conn: &[u8],
    n: usize,
) -> Result<(f64, usize), BoxError> {
    let body = [b'x'; 200];
    let sender = a.agent.clone();
    let conn = conn.to_vec();
    let t = Instant::now();
    let sending = tokio::spawn(async move {
        for _ in 0..n {
            sender.send_message(&conn, &body).await?;
        }
        Ok::<(), simplex_agent::AgentError>(())
    });
    receive(b, n).await?;
    sending.await??;
    let secs = t.elapsed().as_secs_f64();
    let mut qcont = 0;
    while let Ok(e) = a.rx.try_recv() {
        if e.event == Event::QCont {
            qcont += 1;
        }
    }
    Ok((n as f64 / secs, qcont))
}

/// Milliseconds per message, alternating direction; each message acknowledged before the
/// reply, or with `async_ack` without waiting for the `ACK`.
async fn pingpong(
    a: &mut Side,
    b: &mut Side,
    (ab, ba): &(ConnId, ConnId),
    rounds: usize,
    async_ack: bool,
) -> Result<f64, BoxError> {
    let body = [b'p'; 200];
    let t = Instant::now();
    for _ in 0..rounds {
        a.agent.send_message(ab, &body).await?;
        receive_acking(b, 1, async_ack).await?;
        b.agent.send_message(ba, &body).await?;
        receive_acking(a, 1, async_ack).await?;
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0 / (2 * rounds) as f64)
}

/// One message to each connection, sent as one batch (`send_messages`): (ms until the
/// batch returned its IDs, until every SENT, until every message arrived). The receiver
/// acknowledges each message before taking the next event, or with `async_ack` without
/// waiting (`ack_message_async`).
async fn fanout(
    a: &mut Side,
    b: &mut Side,
    pairs: &[(ConnId, ConnId)],
    async_ack: bool,
) -> Result<(f64, f64, f64), BoxError> {
    let t = Instant::now();
    // One batch, as a group message goes out (the reference's `sendMessages`).
    let msgs = pairs
        .iter()
        .map(|(ab, _)| (ab.clone(), b"fan-out".to_vec()))
        .collect();
    for r in a.agent.send_messages(msgs).await {
        r?;
    }
    let stored_at = t.elapsed();
    let n = pairs.len();
    // Both sides at once, so that the receiver's acknowledgements do not delay counting
    // the sender's `SENT`s.
    let sending = async {
        let mut sent = 0;
        while sent < n {
            if let Event::Sent(_) = next(a).await?.event {
                sent += 1;
            }
        }
        Ok::<_, BoxError>(t.elapsed())
    };
    let receiving = async {
        let mut got = 0;
        while got < n {
            let e = next(b).await?;
            if let Event::Msg { meta, .. } = e.event {
                if async_ack {
                    b.agent.ack_message_async(&e.conn_id, meta.msg_id, None);
                } else {
                    b.agent.ack_message(&e.conn_id, meta.msg_id, None).await?;
                }
                got += 1;
            }
        }
        Ok::<_, BoxError>(t.elapsed())
    };
    let (sent_at, got_at) = tokio::join!(sending, receiving);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((ms(stored_at), ms(sent_at?), ms(got_at?)))
}

/// The burst alone, on a fresh pair of agents.
async fn burst_alone(
    dir: &Path,
    server: &SmpServer,
    relay: Option<u32>,
    n: usize,
    out: &mut Map<String, Value>,
) -> Result<(), BoxError> {
    let mut a = start(dir, "a", config(server, false)).await?;
    let mut b = start(dir, "b", config(server, false)).await?;
    let first = connect(&mut a, &mut b, 1).await?.remove(0);
    eprintln!("burst: {n} messages");
    out.insert("burst_messages".into(), Value::from(n));
    let c = Cpu::now(relay);
    let (rate, qcont) = burst(&mut a, &mut b, &first.0, n).await?;
    record(out, "burst", rate, c.per_msg_since(relay, n));
    out.insert("burst_qcont".into(), Value::from(qcont));
    a.agent.stop().await;
    b.agent.stop().await;
    Ok(())
}

/// The burst's floors (module `floor`): a bare receiver, then one that stores each
/// message, then the sender alone.
async fn floors(
    dir: &Path,
    server: &SmpServer,
    n: usize,
    relay: Option<u32>,
    out: &mut Map<String, Value>,
) -> Result<(), BoxError> {
    eprintln!("burst floors: {n} messages to a bare receiver, then one that stores them");
    let mut p = FloorPair::make(dir, server, "floor").await?;
    let c = Cpu::now(relay);
    let rate = floor::burst(&mut p, server, n, None).await?;
    record(out, "burst_floor", rate, c.per_msg_since(relay, n));
    p.stop().await;
    let mut p = FloorPair::make(dir, server, "floor-store").await?;
    let store = BareStore::create(dir, "floor-store-bare")?;
    let c = Cpu::now(relay);
    let rate = floor::burst(&mut p, server, n, Some(&store)).await?;
    record(out, "burst_floor_store", rate, c.per_msg_since(relay, n));
    p.stop().await;
    drop(store);
    eprintln!("bare chain: {n} messages between two bare clients");
    let c = Cpu::now(relay);
    let rate = floor::bare_chain(server, n).await?;
    record(out, "burst_bare", rate, c.per_msg_since(relay, n));
    eprintln!("crypto floor: {n} messages between two bare clients with ratchets and stores");
    let (rate, cpu) = crypto_floor::crypto_store_burst(server, dir, n, relay).await?;
    record(out, "burst_crypto_floor", rate, cpu);
    eprintln!("sender alone: {n} messages, nobody subscribed");
    let mut p = FloorPair::make(dir, server, "sender").await?;
    let (rate, cpu) = floor::sender_alone(&mut p, server, n, relay).await?;
    record(out, "burst_sender", rate, cpu);
    p.stop().await;
    Ok(())
}

/// `<name>_msgs_per_s`, and the CPU per message of this process (both agents, the bare
/// receiver) and of the relay, `<name>_cpu_us_per_msg` and `<name>_relay_cpu_us_per_msg`.
fn record(out: &mut Map<String, Value>, name: &str, rate: f64, cpu: Cpu) {
    let num = |v: f64| Value::from((v * 100.0).round() / 100.0);
    out.insert(format!("{name}_msgs_per_s"), num(rate));
    out.insert(format!("{name}_cpu_us_per_msg"), num(cpu.bench));
    out.insert(format!("{name}_relay_cpu_us_per_msg"), num(cpu.relay));
}

/// Runs every scenario, adding its figures to `out`.
pub async fn all(
    server: SmpServer,
    relay: Option<u32>,
    sizes: &Sizes,
    out: &mut Map<String, Value>,
) -> Result<(), BoxError> {
    let dir = tempfile::Builder::new().prefix("agent-bench-").tempdir()?;
    let dir = dir.path();
    let num = |v: f64| Value::from((v * 100.0).round() / 100.0);
    if sizes.burst_only {
        return burst_alone(dir, &server, relay, sizes.burst, out).await;
    }

    eprintln!(
        "connect: {} connections, then with post-quantum keys",
        sizes.connects
    );
    out.insert(
        "connect_ms".into(),
        num(connect_times(dir, &server, false, sizes.connects).await?),
    );
    out.insert(
        "connect_pq_ms".into(),
        num(connect_times(dir, &server, true, sizes.connects).await?),
    );

    let mut a = start(dir, "a", config(&server, false)).await?;
    let mut b = start(dir, "b", config(&server, false)).await?;
    let first = connect(&mut a, &mut b, 1).await?.remove(0);
    eprintln!("burst: {} messages", sizes.burst);
    out.insert("burst_messages".into(), Value::from(sizes.burst));
    let c = Cpu::now(relay);
    let (rate, qcont) = burst(&mut a, &mut b, &first.0, sizes.burst).await?;
    record(out, "burst", rate, c.per_msg_since(relay, sizes.burst));
    out.insert("burst_qcont".into(), Value::from(qcont));
    floors(dir, &server, sizes.burst, relay, out).await?;
    eprintln!(
        "ping-pong: {} round trips, then without waiting for ACKs, then with post-quantum keys",
        sizes.pingpong
    );
    out.insert(
        "pingpong_ms".into(),
        num(pingpong(&mut a, &mut b, &first, sizes.pingpong, false).await?),
    );
    out.insert(
        "pingpong_async_ack_ms".into(),
        num(pingpong(&mut a, &mut b, &first, sizes.pingpong, true).await?),
    );
    {
        let mut pa = start(dir, "pq-a", config(&server, true)).await?;
        let mut pb = start(dir, "pq-b", config(&server, true)).await?;
        let pair = connect(&mut pa, &mut pb, 1).await?.remove(0);
        let ms = pingpong(&mut pa, &mut pb, &pair, sizes.pingpong, false).await?;
        out.insert("pingpong_pq_ms".into(), num(ms));
        pa.agent.stop().await;
        pb.agent.stop().await;
    }
    eprintln!(
        "bare ping-pong: {} round trips between two bare clients",
        sizes.pingpong
    );
    out.insert(
        "pingpong_bare_ms".into(),
        num(floor::bare_pingpong(&server, sizes.pingpong).await?),
    );
    eprintln!(
        "crypto floor: {} round trips between two bare clients with ratchets and stores",
        sizes.pingpong
    );
    out.insert(
        "pingpong_crypto_floor_ms".into(),
        num(crypto_floor::crypto_store_pingpong(&server, dir, sizes.pingpong).await?),
    );

    let total = sizes.stored.max(sizes.fanout);
    eprintln!("making {total} connections");
    let mut pairs = Vec::with_capacity(total);
    while pairs.len() < total {
        let k = BATCH.min(total - pairs.len());
        pairs.extend(connect(&mut a, &mut b, k).await?);
    }
    eprintln!(
        "fan-out: one message to each of {} connections",
        sizes.fanout
    );
    let (stored, sent, got) =
        fanout(&mut a, &mut b, &pairs[..sizes.fanout], sizes.async_ack).await?;
    out.insert("fanout_connections".into(), Value::from(sizes.fanout));
    out.insert("fanout_async_ack".into(), Value::Bool(sizes.async_ack));
    out.insert("fanout_stored_ms".into(), num(stored));
    out.insert("fanout_sent_ms".into(), num(sent));
    out.insert("fanout_received_ms".into(), num(got));

    // Bob's agent again, on his database of `stored` + 2 connections.
    let stored = pairs.len() + 1;
    b.agent.stop().await;
    drop(b);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let me = std::process::id();
    let rss0 = rss_bytes(me).unwrap_or(0);
    let t = Instant::now();
    let b = start(dir, "b", config(&server, false)).await?;
    let secs = t.elapsed().as_secs_f64();
    let rss1 = rss_bytes(me).unwrap_or(0);
    eprintln!("restart with {stored} connections: {secs:.2} s");
    out.insert("stored_connections".into(), Value::from(stored));
    out.insert("resubscribe_s".into(), num(secs));
    let per = rss1.saturating_sub(rss0) as f64 / stored as f64;
    out.insert("rss_bytes_per_connection".into(), Value::from(per.round()));
    a.agent.stop().await;
    b.agent.stop().await;
    Ok(())
}
