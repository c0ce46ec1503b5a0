//! `smp-bench`: what the relay costs an operator per message, per queue, per connected client
//! and per restart, measured over real TLS on loopback.
//!
//! Owns the benchmark tool only: it starts the `smp-server` binary (or the relay linked into
//! itself, or targets a given `smp://` address), drives it with `smp-client` connections and
//! reads the relay's CPU time and memory from `/proc`. It changes nothing in the relay. It
//! sits at the top of the workspace, above `smp-server`, `smp-client` and `simplex-crypto`.
//!
//! Scenarios: `limit` (the crypto floor of one message), `throughput`, `latency` (at half the
//! measured rate), `queues` (memory and store log per idle queue), `restart` (time until all
//! queues answer `SUB` again), `auth timing` (`ERR AUTH` on an existing queue against a
//! missing queue ID: the same time, or queue IDs can be probed), `clients` (memory per idle
//! connection).

mod auth_timing;
mod limit;
mod scenarios;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use smp_proto::SmpServer;

use crate::scenarios::PhaseResult;
use smp_bench::server::{serve_as_relay, ServerBin, ServerProc, SERVE_ENV};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "smp-bench",
    version,
    about = "Benchmark of the SMP relay (simplex-rs)"
)]
struct Args {
    /// The relay binary to start (default: `smp-server` next to this executable, else the
    /// relay linked into smp-bench; `self` forces the latter).
    #[arg(long)]
    server_bin: Option<String>,
    /// Benchmark a running relay at this `smp://` address instead (no CPU, memory, store
    /// log or restart figures).
    #[arg(long)]
    server: Option<String>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Small sizes: the whole run in about a minute (100,000 queues, 1,000 clients).
    #[arg(long)]
    quick: bool,
    /// Sender/recipient pairs (one queue each).
    #[arg(long)]
    pairs: Option<usize>,
    /// Measured seconds of the throughput and latency phases (each).
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds of warm-up before each measured phase.
    #[arg(long)]
    warmup: Option<f64>,
    /// Idle queues to create.
    #[arg(long)]
    queues: Option<usize>,
    /// Idle clients to connect.
    #[arg(long)]
    clients: Option<usize>,
    /// Connections that create the queues.
    #[arg(long, default_value_t = 32)]
    queue_connections: usize,
    /// `NEW` commands per batch (sent in as few blocks as they fit).
    #[arg(long, default_value_t = 200)]
    batch: usize,
    /// Seconds spent timing each crypto primitive of the limit.
    #[arg(long)]
    limit_seconds: Option<f64>,
    /// Only run the throughput and latency phases (for profiling the relay).
    #[arg(long)]
    only_throughput: bool,
    /// Only run the auth timing scenario (`ERR AUTH` on existing and missing queues).
    #[arg(long)]
    only_auth_timing: bool,
    /// Samples of each of the four kinds of the auth timing scenario.
    #[arg(long)]
    auth_samples: Option<usize>,
    /// The highest SMP version the clients offer (e.g. 10: no block encryption, which
    /// starts at 11); by default the client's whole range, 6–18.
    #[arg(long)]
    client_max_version: Option<u16>,
}

/// Sizes after defaults and `--quick`.
struct Plan {
    pairs: usize,
    duration: Duration,
    warmup: Duration,
    queues: usize,
    clients: usize,
    limit_budget: Duration,
    auth_samples: usize,
}

impl Plan {
    fn from(a: &Args) -> Plan {
        let (pairs, duration, warmup, queues, clients, limit, auth) = if a.quick {
            (64, 4.0, 1.0, 100_000, 1_000, 0.2, 5_000)
        } else {
            (64, 20.0, 3.0, 1_000_000, 10_000, 1.0, 20_000)
        };
        Plan {
            pairs: a.pairs.unwrap_or(pairs).max(1),
            duration: Duration::from_secs_f64(a.duration.unwrap_or(duration).max(0.1)),
            warmup: Duration::from_secs_f64(a.warmup.unwrap_or(warmup).max(0.0)),
            queues: a.queues.unwrap_or(queues).max(1),
            clients: a.clients.unwrap_or(clients),
            limit_budget: Duration::from_secs_f64(a.limit_seconds.unwrap_or(limit).max(0.001)),
            auth_samples: a.auth_samples.unwrap_or(auth).max(1),
        }
    }
}

fn num(x: Option<f64>) -> Value {
    x.filter(|v| v.is_finite()).map_or(Value::Null, Value::from)
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.filter(|v| v.is_finite())
        .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn per(delta: Option<(u64, u64)>, n: usize) -> Option<f64> {
    delta.map(|(before, after)| (after as f64 - before as f64) / n.max(1) as f64)
}

/// The relay to measure: the given `--server` address, or a child process started here.
fn target(args: &Args) -> Result<(SmpServer, Option<ServerProc>), BoxError> {
    match &args.server {
        Some(a) => Ok((
            SmpServer::parse_str(a.as_bytes())
                .map_err(|e| format!("bad --server address {a}: {e}"))?,
            None,
        )),
        None => {
            let bin = ServerBin::resolve(args.server_bin.as_deref())?;
            println!("server: {}", bin.describe());
            let p = ServerProc::init_and_start(bin)?;
            println!(
                "  listening on 127.0.0.1:{} ({})",
                p.port,
                p.dir().display()
            );
            let a = p.address()?;
            Ok((a, Some(p)))
        }
    }
}

/// Runs the auth timing scenario and returns its JSON fields (`auth_timing_ratio` and the
/// `auth_timing` details).
async fn auth_phase(address: &SmpServer, samples: usize) -> Result<Vec<(String, Value)>, BoxError> {
    println!(
        "auth timing: {samples} samples of each kind (ERR AUTH, existing vs missing queue)..."
    );
    let warmup = (samples / 10).clamp(1, 1000);
    let t = auth_timing::measure(address, samples, warmup).await?;
    for (name, k) in [
        ("Ed25519 signature", &t.ed25519),
        ("X25519 authenticator", &t.x25519),
    ] {
        println!(
            "  {name}: existing {:.2} µs, missing {:.2} µs (medians), ratio {:.4}",
            k.existing_us,
            k.missing_us,
            k.ratio()
        );
    }
    let kind = |k: &auth_timing::KindMedians| {
        json!({
            "existing_us_median": k.existing_us,
            "missing_us_median": k.missing_us,
            "ratio": num(Some(k.ratio())),
        })
    };
    Ok(vec![
        ("auth_timing_ratio".into(), num(Some(t.worst_ratio()))),
        (
            "auth_timing".into(),
            json!({
                "samples_per_kind": t.samples,
                "command": "SUB",
                "ed25519": kind(&t.ed25519),
                "x25519": kind(&t.x25519),
            }),
        ),
    ])
}

async fn run(args: Args) -> Result<Value, BoxError> {
    let plan = Plan::from(&args);
    let started = Instant::now();
    // Room for the idle clients: one descriptor each, in this process and in the relay (which
    // inherits the limit).
    let want = u64::try_from(plan.clients.saturating_add(1024)).unwrap_or(u64::MAX);
    match rlimit::increase_nofile_limit(want) {
        Ok(got) if got < want => {
            println!("warning: RLIMIT_NOFILE is {got}, {want} wanted; clients may fail")
        }
        Ok(_) => {}
        Err(e) => println!("warning: could not raise RLIMIT_NOFILE: {e}"),
    }

    if args.only_auth_timing {
        let (address, proc) = target(&args)?;
        let mut result = json!({
            "quick": args.quick,
            "server_bin_spawned": proc.is_some(),
        });
        let fields = auth_phase(&address, plan.auth_samples).await?;
        if let Some(obj) = result.as_object_mut() {
            obj.extend(fields);
            obj.insert("total_s".into(), json!(started.elapsed().as_secs_f64()));
        }
        drop(proc);
        return Ok(result);
    }

    println!("limit: timing the crypto of one message...");
    let limit = limit::measure(plan.limit_budget)?;
    println!(
        "  TLS record in {:.2} µs + out {:.2} µs, SHA-512 {:.2} µs, box {:.2} µs = {:.2} µs/msg, {:.0} msg/s per core",
        limit.tls_decrypt_us,
        limit.tls_encrypt_us,
        limit.sha512_us,
        limit.box_us,
        limit.us_per_msg(),
        limit.msgs_per_s_per_core()
    );
    let kernel = limit::measure_kernel(plan.limit_budget);
    let block_us = limit::measure_block_encryption(plan.limit_budget);

    let (address, mut proc) = target(&args)?;

    println!("throughput: {} pairs...", plan.pairs);
    let pairs = scenarios::make_pairs(&address, plan.pairs).await?;
    // Whether the sessions encrypt blocks (v11 and later) decides the floor.
    let (version, encrypted) = pairs.first().map_or((0, false), |p| p.session());
    let floor = kernel.map(|kernel| limit::Floor {
        limit,
        kernel,
        block_us: if encrypted { block_us } else { 0.0 },
    });
    if let Some(f) = &floor {
        println!(
            "  floor: + {:.0} more TLS records ({:.2} µs) + loopback TCP of 5 records (send {:.2} / recv {:.2} µs each) + block encryption of 5 blocks ({:.2} µs, v{}) = {:.2} µs/msg, ratio at most {:.3}",
            limit::RECORDS_IN + limit::RECORDS_OUT - 2.0,
            f.tls_us() - limit.tls_decrypt_us - limit.tls_encrypt_us,
            f.kernel.send_us,
            f.kernel.recv_us,
            f.blocks_us(),
            version,
            f.us_per_msg(),
            f.max_ratio()
        );
    }
    let (pairs, max) =
        scenarios::run_phase(pairs, None, plan.warmup, plan.duration, pid_of(&proc)).await;
    let msgs_per_s = max.msgs_per_s();
    let cpu_per_msg = max.server_cpu_s.map(|c| c / (max.delivered.max(1) as f64));
    let server_cores = max.server_cpu_s.map(|c| c / max.wall_s.max(1e-9));
    let ratio = server_cores
        .filter(|c| *c > 0.0)
        .map(|c| (msgs_per_s / c) / limit.msgs_per_s_per_core());
    println!(
        "  {:.0} msg/s, {} server CPU µs/msg, {} server cores, ratio {} ({} errors)",
        msgs_per_s,
        fmt(cpu_per_msg.map(|c| c * 1e6), 1),
        fmt(server_cores, 2),
        fmt(ratio, 3),
        max.errors
    );

    let rate = msgs_per_s / 2.0;
    println!("latency: at {rate:.0} msg/s...");
    let (pairs, lat) = if rate > 0.0 {
        scenarios::run_phase(pairs, Some(rate), plan.warmup, plan.duration, pid_of(&proc)).await
    } else {
        (pairs, PhaseResult::default())
    };
    scenarios::close_pairs(pairs).await;
    let (p50, p99, p999) = (
        lat.latency_ms(0.5),
        lat.latency_ms(0.99),
        lat.latency_ms(0.999),
    );
    println!(
        "  {} samples at {:.0} msg/s: p50 {} ms, p99 {} ms, p99.9 {} ms",
        lat.latencies_us.len(),
        lat.msgs_per_s(),
        fmt(p50, 3),
        fmt(p99, 3),
        fmt(p999, 3)
    );

    let mut result = json!({
        "limit_us_per_msg": limit.us_per_msg(),
        "limit_msgs_per_s_per_core": limit.msgs_per_s_per_core(),
        "limit_breakdown_us": {
            "tls_record_decrypt": limit.tls_decrypt_us,
            "tls_record_encrypt": limit.tls_encrypt_us,
            "sha512_block": limit.sha512_us,
            "recipient_box": limit.box_us,
        },
        "floor_us_per_msg": num(floor.map(|f| f.us_per_msg())),
        "floor_breakdown_us": floor.map(|f| json!({
            "tls_5_records": f.tls_us(),
            "kernel_5_records": f.kernel_us(),
            "kernel_send_per_record": f.kernel.send_us,
            "kernel_recv_per_record": f.kernel.recv_us,
            "sha512_block": limit.sha512_us,
            "recipient_box": limit.box_us,
            "block_encryption_5_blocks": f.blocks_us(),
            "block_encryption_per_block": block_us,
        })),
        "block_encryption": encrypted,
        "max_ratio": num(floor.map(|f| f.max_ratio())),
        "server_cpu_over_floor": num(floor.zip(cpu_per_msg).map(|(f, c)| c * 1e6 / f.us_per_msg())),
        // Against the floor without block encryption, as measured before SMP v11.
        "floor_unencrypted_us_per_msg": num(floor.map(|f| f.us_per_msg_unencrypted())),
        "server_cpu_over_floor_unencrypted": num(floor.zip(cpu_per_msg).map(|(f, c)| c * 1e6 / f.us_per_msg_unencrypted())),
        "pairs": plan.pairs,
        "duration_s": max.wall_s,
        "msgs_per_s": msgs_per_s,
        "server_cpu_s_per_msg": num(cpu_per_msg),
        "server_cores": num(server_cores),
        "ratio": num(ratio),
        "throughput_errors": max.errors,
        "latency_rate_msgs_per_s": lat.msgs_per_s(),
        "latency_samples": lat.latencies_us.len(),
        "latency_ms": { "p50": num(p50), "p99": num(p99), "p999": num(p999) },
        "auth_timing_ratio": Value::Null,
        "quick": args.quick,
        "server_bin_spawned": proc.is_some(),
    });
    if args.only_throughput {
        return Ok(result);
    }

    println!("queues: creating {}...", plan.queues);
    let before = scenarios::settled_rss(pid_of(&proc)).await;
    let queues =
        scenarios::create_queues(&address, plan.queues, args.queue_connections, args.batch).await?;
    let after = scenarios::settled_rss(pid_of(&proc)).await;
    let n_queues = queues.len();
    let rss_per_queue = per(before.zip(after), n_queues);
    let store_log = proc.as_ref().and_then(ServerProc::store_log_bytes);
    println!(
        "  {n_queues} queues in {:.1} s ({:.0}/s), {} B RSS/queue, store log {} B",
        queues.elapsed_s,
        n_queues as f64 / queues.elapsed_s.max(1e-9),
        fmt(rss_per_queue, 0),
        store_log.map_or("n/a".into(), |b| b.to_string())
    );

    let restart = match proc.as_mut() {
        Some(p) => {
            println!("restart: SIGTERM, start, SUB...");
            p.terminate()?;
            let t0 = Instant::now();
            p.start()?;
            let listening = Instant::now();
            let a = p.address()?;
            let r = scenarios::subscribe_after_restart(&a, &queues, t0, listening, 1000).await?;
            println!(
                "  listening after {:.3} s, SUB of the last queue OK after {:.3} s, sample {}/{} OK",
                r.listen_s, r.restart_s, r.sample_ok, r.sample
            );
            Some((r, a))
        }
        None => None,
    };
    let queues_elapsed = queues.elapsed_s;
    drop(queues);
    let address = restart.as_ref().map_or(address, |(_, a)| a.clone());

    // With the queues of the previous phase in the store, as on a busy relay.
    let auth_fields = auth_phase(&address, plan.auth_samples).await?;

    println!("clients: connecting {} idle clients...", plan.clients);
    let before = scenarios::settled_rss(pid_of(&proc)).await;
    let idle = scenarios::connect_idle(&address, plan.clients, 64).await?;
    let after = scenarios::settled_rss(pid_of(&proc)).await;
    let rss_per_client = per(before.zip(after), idle.len());
    println!(
        "  {} clients, {} B RSS/client",
        idle.len(),
        fmt(rss_per_client, 0)
    );
    let n_clients = idle.len();
    for (c, _) in idle {
        c.close().await;
    }

    if let Some(obj) = result.as_object_mut() {
        obj.insert("queues".into(), json!(n_queues));
        obj.insert("queues_create_s".into(), json!(queues_elapsed));
        obj.insert("rss_bytes_per_queue".into(), num(rss_per_queue));
        obj.insert("store_log_bytes".into(), json!(store_log));
        match &restart {
            Some((r, _)) => {
                obj.insert("restart_s".into(), json!(r.restart_s));
                obj.insert("restart_listen_s".into(), json!(r.listen_s));
                obj.insert(
                    "restart_sub_sample".into(),
                    json!({ "ok": r.sample_ok, "of": r.sample }),
                );
            }
            None => {
                obj.insert("restart_s".into(), Value::Null);
            }
        }
        obj.extend(auth_fields);
        obj.insert("clients".into(), json!(n_clients));
        obj.insert("rss_bytes_per_client".into(), num(rss_per_client));
        obj.insert("total_s".into(), json!(started.elapsed().as_secs_f64()));
    }
    Ok(result)
}

fn pid_of(p: &Option<ServerProc>) -> Option<u32> {
    p.as_ref().and_then(ServerProc::pid)
}

fn print_table(r: &Value) {
    let g = |k: &str| r.get(k).and_then(Value::as_f64);
    let lat = |k: &str| {
        r.get("latency_ms")
            .and_then(|l| l.get(k))
            .and_then(Value::as_f64)
    };
    let auth = |kind: &str, k: &str| {
        r.get("auth_timing")
            .and_then(|a| a.get(kind))
            .and_then(|a| a.get(k))
            .and_then(Value::as_f64)
    };
    // (key whose absence drops the row, name, value, unit)
    let rows: Vec<(&str, &str, String, &str)> = vec![
        (
            "limit_us_per_msg",
            "limit (crypto per message)",
            fmt(g("limit_us_per_msg"), 2),
            "µs/msg",
        ),
        (
            "limit_msgs_per_s_per_core",
            "limit per core",
            fmt(g("limit_msgs_per_s_per_core"), 0),
            "msg/s",
        ),
        (
            "floor_us_per_msg",
            "floor (5 records+kernel+crypto+blocks)",
            fmt(g("floor_us_per_msg"), 2),
            "µs/msg",
        ),
        (
            "max_ratio",
            "ratio at the floor (limit ÷ floor)",
            fmt(g("max_ratio"), 3),
            "",
        ),
        ("msgs_per_s", "throughput", fmt(g("msgs_per_s"), 0), "msg/s"),
        (
            "server_cpu_s_per_msg",
            "server CPU per message",
            fmt(g("server_cpu_s_per_msg").map(|s| s * 1e6), 1),
            "µs",
        ),
        (
            "server_cores",
            "server cores used",
            fmt(g("server_cores"), 2),
            "cores",
        ),
        (
            "ratio",
            "ratio (achieved/core ÷ limit/core)",
            fmt(g("ratio"), 3),
            "",
        ),
        (
            "server_cpu_over_floor",
            "server CPU ÷ floor",
            fmt(g("server_cpu_over_floor"), 2),
            "×",
        ),
        (
            "server_cpu_over_floor_unencrypted",
            "server CPU ÷ unencrypted floor",
            fmt(g("server_cpu_over_floor_unencrypted"), 2),
            "×",
        ),
        ("latency_ms", "latency p50", fmt(lat("p50"), 3), "ms"),
        ("latency_ms", "latency p99", fmt(lat("p99"), 3), "ms"),
        ("latency_ms", "latency p99.9", fmt(lat("p999"), 3), "ms"),
        ("queues", "queues", fmt(g("queues"), 0), ""),
        (
            "rss_bytes_per_queue",
            "RSS per queue",
            fmt(g("rss_bytes_per_queue"), 0),
            "B",
        ),
        (
            "store_log_bytes",
            "store log",
            fmt(g("store_log_bytes"), 0),
            "B",
        ),
        (
            "restart_s",
            "restart until SUB OK",
            fmt(g("restart_s"), 3),
            "s",
        ),
        (
            "auth_timing",
            "ERR AUTH Ed25519 existing (median)",
            fmt(auth("ed25519", "existing_us_median"), 2),
            "µs",
        ),
        (
            "auth_timing",
            "ERR AUTH Ed25519 missing (median)",
            fmt(auth("ed25519", "missing_us_median"), 2),
            "µs",
        ),
        (
            "auth_timing",
            "ERR AUTH X25519 existing (median)",
            fmt(auth("x25519", "existing_us_median"), 2),
            "µs",
        ),
        (
            "auth_timing",
            "ERR AUTH X25519 missing (median)",
            fmt(auth("x25519", "missing_us_median"), 2),
            "µs",
        ),
        (
            "auth_timing_ratio",
            "auth timing ratio (missing ÷ existing)",
            fmt(g("auth_timing_ratio"), 4),
            "",
        ),
        ("clients", "clients", fmt(g("clients"), 0), ""),
        (
            "rss_bytes_per_client",
            "RSS per client",
            fmt(g("rss_bytes_per_client"), 0),
            "B",
        ),
    ];
    println!();
    println!("| {:<38} | {:>14} | {:<6} |", "metric", "value", "unit");
    println!("|{:-<40}|{:->16}|{:-<8}|", "", "", "");
    // Rows of phases that did not run (their key is absent, not null) are left out.
    for (key, name, value, unit) in rows {
        if r.get(key).is_some() {
            println!("| {name:<38} | {value:>14} | {unit:<6} |");
        }
    }
}

fn main() {
    if std::env::var_os(SERVE_ENV).is_some() {
        serve_as_relay();
        return;
    }
    let args = Args::parse();
    if let Some(v) = args.client_max_version {
        let _ = scenarios::CLIENT_MAX_VERSION.set(v);
    }
    let json_path = args.json.clone();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("smp-bench: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(result) => {
            print_table(&result);
            if let Some(path) = json_path {
                let text = serde_json::to_string_pretty(&result).unwrap_or_default();
                if let Err(e) = std::fs::write(&path, text + "\n") {
                    eprintln!("smp-bench: writing {}: {e}", path.display());
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("smp-bench: {e}");
            std::process::exit(1);
        }
    }
}
