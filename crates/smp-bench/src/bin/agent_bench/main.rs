//! `agent-bench`: what the agent costs, measured through a real relay process (started on a
//! fresh configuration, as `smp-bench` does) and real SQLite files.
//!
//! ```text
//! cargo build --release -p smp-server -p smp-bench
//! target/release/agent-bench [--quick] [--json FILE]
//! ```
//!
//! Figures (all in one process with both agents, so the machine's two cores are shared by
//! the relay and both agents):
//! - `connect_ms`, `connect_pq_ms`: median, invitation created → `CON` on both sides;
//! - `burst_msgs_per_s`: one connection, 200-byte messages one way, each received, stored
//!   and acknowledged;
//! - `burst_floor_msgs_per_s`: the same burst from an agent to a bare `smp-client` that
//!   acknowledges each `MSG` at once (no decryption, no storing): the chain's floor with the
//!   relay and the sending agent in it; `burst_floor_store_msgs_per_s`: the same with one
//!   SQLCipher insert and commit per message before its `ACK`; `burst_bare_msgs_per_s`:
//!   two bare clients, no agent (the relay and the transport alone);
//!   `burst_crypto_floor_msgs_per_s`: two bare clients with a real ratchet and a SQLCipher
//!   commit per message on each side (module `crypto_floor`);
//!   `burst_sender_msgs_per_s`: the sending agent alone (stored and `SENT`), nobody subscribed, in rounds of 100;
//! - `fanout_stored_ms`, `fanout_sent_ms`, `fanout_received_ms`: one message to each of N
//!   connections in one batch send, until the batch returned (all stored), until every
//!   `SENT` and until every message arrived;
//! - `pingpong_ms`, `pingpong_pq_ms`: per message, alternating direction (a ratchet step
//!   every message), each message acknowledged (`ack_message`, waiting for the relay's
//!   `OK`) before the reply; `pingpong_async_ack_ms`: the same acknowledging as the
//!   reference's chat does (`ack_message_async`: the reply does not wait for the `ACK`);
//!   `pingpong_bare_ms`: the same between two bare clients, no agent (the relay's and the
//!   transport's share); `pingpong_crypto_floor_ms`: two bare clients with a real X448
//!   ratchet and a SQLCipher commit per message on each side (module `crypto_floor`: the
//!   agent's work without the agent's structure);
//! - `resubscribe_s`: an agent start with M stored connections until every queue is
//!   subscribed; `rss_bytes_per_connection`: this process's resident memory growth over
//!   that start, per connection.

mod crypto_floor;
mod floor;
mod scenarios;

use std::path::PathBuf;

use clap::Parser;
use serde_json::{Map, Value};
use smp_bench::server::{serve_as_relay, ServerBin, ServerProc, SERVE_ENV};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "agent-bench",
    about = "The agent's figures through a real relay"
)]
struct Args {
    /// The relay binary to start (default: `smp-server` next to this executable, else the
    /// relay linked into this one; `self` forces the latter).
    #[arg(long)]
    server_bin: Option<String>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Small sizes: the whole run in about a minute.
    #[arg(long)]
    quick: bool,
    /// Connections timed one at a time (each kind).
    #[arg(long)]
    connects: Option<usize>,
    /// Messages of the burst.
    #[arg(long)]
    burst: Option<usize>,
    /// Round trips of each ping-pong.
    #[arg(long)]
    pingpong: Option<usize>,
    /// Connections of the fan-out.
    #[arg(long)]
    fanout: Option<usize>,
    /// Connections stored when the agent restarts.
    #[arg(long)]
    stored: Option<usize>,
    /// The fan-out's receiver acknowledges without waiting for each `ACK`
    /// (`ack_message_async`, as the reference's chat does) instead of one at a time.
    #[arg(long)]
    async_ack: bool,
    /// Only the burst, without its floors or the other scenarios: for profiling it (`perf`,
    /// `strace -c`) or timing it alone.
    #[arg(long)]
    burst_only: bool,
}

/// The sizes of a run.
pub struct Sizes {
    /// Connections timed one at a time.
    pub connects: usize,
    /// Messages of the burst.
    pub burst: usize,
    /// Round trips of each ping-pong.
    pub pingpong: usize,
    /// Connections of the fan-out.
    pub fanout: usize,
    /// Connections stored when the agent restarts.
    pub stored: usize,
    /// The fan-out's receiver acknowledges without waiting.
    pub async_ack: bool,
    /// Only the burst.
    pub burst_only: bool,
}

impl Sizes {
    fn of(quick: bool) -> Sizes {
        if quick {
            Sizes {
                connects: 10,
                burst: 2_000,
                pingpong: 50,
                fanout: 200,
                stored: 1_000,
                async_ack: false,
                burst_only: false,
            }
        } else {
            Sizes {
                connects: 20,
                burst: 10_000,
                pingpong: 200,
                fanout: 1_000,
                stored: 10_000,
                async_ack: false,
                burst_only: false,
            }
        }
    }
}

async fn run(args: &Args) -> Result<Map<String, Value>, BoxError> {
    let bin = ServerBin::resolve(args.server_bin.as_deref())?;
    eprintln!("relay: {}", bin.describe());
    let relay = ServerProc::init_and_start(bin)?;
    let server = relay.address()?;
    let d = Sizes::of(args.quick);
    let sizes = Sizes {
        connects: args.connects.unwrap_or(d.connects).max(1),
        burst: args.burst.unwrap_or(d.burst),
        pingpong: args.pingpong.unwrap_or(d.pingpong).max(1),
        fanout: args.fanout.unwrap_or(d.fanout),
        stored: args.stored.unwrap_or(d.stored),
        async_ack: args.async_ack,
        burst_only: args.burst_only,
    };
    let mut out = Map::new();
    out.insert("quick".into(), Value::Bool(args.quick));
    scenarios::all(server, relay.pid(), &sizes, &mut out).await?;
    drop(relay);
    Ok(out)
}

fn print_table(r: &Map<String, Value>) {
    let rows = [
        ("connect_ms", "connect (median)", "ms"),
        ("connect_pq_ms", "connect, post-quantum (median)", "ms"),
        (
            "burst_msgs_per_s",
            "burst, one way, each acknowledged",
            "msg/s",
        ),
        (
            "burst_floor_msgs_per_s",
            "burst to a bare receiver (floor)",
            "msg/s",
        ),
        (
            "burst_floor_store_msgs_per_s",
            "burst to a bare receiver that stores",
            "msg/s",
        ),
        (
            "burst_bare_msgs_per_s",
            "burst between bare clients (no agent)",
            "msg/s",
        ),
        (
            "burst_crypto_floor_msgs_per_s",
            "burst, bare clients with ratchet, store",
            "msg/s",
        ),
        (
            "burst_sender_msgs_per_s",
            "sender alone (stored, SENT)",
            "msg/s",
        ),
        ("fanout_stored_ms", "fan-out: all stored (IDs back)", "ms"),
        ("fanout_sent_ms", "fan-out: all SENT", "ms"),
        ("fanout_received_ms", "fan-out: all received", "ms"),
        ("pingpong_ms", "ping-pong, per message", "ms"),
        (
            "pingpong_pq_ms",
            "ping-pong, post-quantum, per message",
            "ms",
        ),
        (
            "pingpong_async_ack_ms",
            "ping-pong, ACK in the background",
            "ms",
        ),
        (
            "pingpong_bare_ms",
            "ping-pong between bare clients (floor)",
            "ms",
        ),
        (
            "pingpong_crypto_floor_ms",
            "ping-pong floor with ratchet and store",
            "ms",
        ),
        ("resubscribe_s", "start with stored connections", "s"),
        (
            "rss_bytes_per_connection",
            "memory per idle connection",
            "B",
        ),
    ];
    println!("| {:<38} | {:>12} | {:<6} |", "metric", "value", "unit");
    println!("|{:-<40}|{:->14}|{:-<8}|", "", "", "");
    for (key, name, unit) in rows {
        if let Some(v) = r.get(key).and_then(Value::as_f64) {
            let shown = if v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            };
            println!("| {name:<38} | {shown:>12} | {unit:<6} |");
        }
    }
    for key in [
        "fanout_connections",
        "fanout_async_ack",
        "stored_connections",
        "burst_messages",
        "burst_qcont",
        "burst_cpu_us_per_msg",
        "burst_relay_cpu_us_per_msg",
        "burst_floor_cpu_us_per_msg",
        "burst_floor_relay_cpu_us_per_msg",
        "burst_floor_store_cpu_us_per_msg",
        "burst_floor_store_relay_cpu_us_per_msg",
        "burst_bare_cpu_us_per_msg",
        "burst_bare_relay_cpu_us_per_msg",
        "burst_crypto_floor_cpu_us_per_msg",
        "burst_crypto_floor_relay_cpu_us_per_msg",
        "burst_sender_cpu_us_per_msg",
        "burst_sender_relay_cpu_us_per_msg",
    ] {
        if let Some(v) = r.get(key) {
            println!("{key}: {v}");
        }
    }
}

fn main() {
    if std::env::var_os(SERVE_ENV).is_some() {
        serve_as_relay();
        return;
    }
    let args = Args::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agent-bench: {e}");
            std::process::exit(1);
        }
    };
    // On a worker thread, as an application's tasks are: the runtime's `block_on` thread is
    // not one of its workers, so every wake-up of the measuring task would be a hop to
    // another thread (~50 us each on this VM), which the agents' own tasks do not pay.
    let spawned = args.clone();
    let result = rt.block_on(async move {
        match tokio::spawn(async move { run(&spawned).await }).await {
            Ok(r) => r,
            Err(e) => Err(e.into()),
        }
    });
    match result {
        Ok(result) => {
            print_table(&result);
            if let Some(path) = &args.json {
                let text = serde_json::to_string_pretty(&result).unwrap_or_default();
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("agent-bench: writing {}: {e}", path.display());
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("agent-bench: {e}");
            std::process::exit(1);
        }
    }
}
