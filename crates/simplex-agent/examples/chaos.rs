//! The reliability claim as a number: two agents exchange messages through relays that are
//! killed, and the run reports what the users would have seen.
//!
//! ```text
//! cargo build --release -p smp-server
//! cargo run --release -p simplex-agent --example chaos -- --relays 3 --redundancy 2 \
//!     --messages 10000 --kill-relay-after 3000 --json out.json
//! ```
//!
//! It starts `--relays` relays as processes (the `smp-server` binary beside this example,
//! or `--smp-server PATH`), in-memory message store, and two agents (SQLite files in a
//! temporary folder) that connect with `--redundancy` queues each way. Then it sends
//! `--messages` messages, alternately from each side, each body its sequence number, and the
//! receivers acknowledge every one. Two kinds of chaos:
//!
//! - `--kill-relay-after N`: after N messages, the relay of the first agent's first receive
//!   queue gets SIGKILL and never comes back;
//! - `--restart-every N`: every N messages a random relay gets SIGKILL and is started again
//!   on the same port and files (its queues survive in the store log; the messages it held
//!   in memory do not).
//!
//! When every message is sent, it waits until all arrive or nothing arrives for `--drain`
//! seconds, and writes `{"sent", "received", "lost", "duplicates_shown",
//! "out_of_order_shown", "seconds"}` (to `--json FILE` and standard output). "Shown" counts
//! what an application was given: a message delivered twice, or after a later one.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use rand::Rng;
use serde::Serialize;
use simplex_agent::{Agent, AgentConfig, AgentEvent, Event, SqliteStore};
use smp_proto::SmpServer;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Parser, Debug)]
#[command(about = "Message loss, duplicates and reordering when relays die")]
struct Args {
    /// Relays to start.
    #[arg(long, default_value_t = 3)]
    relays: usize,
    /// Queues per direction (AgentConfig::redundancy).
    #[arg(long, default_value_t = 1)]
    redundancy: usize,
    /// Messages to send in all, alternately from each side.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Kill (SIGKILL, never restarted) the relay of the first agent's receive queue after
    /// this many messages.
    #[arg(long)]
    kill_relay_after: Option<usize>,
    /// Kill a random relay every this many messages and start it again.
    #[arg(long)]
    restart_every: Option<usize>,
    /// Seconds without a new message before the run gives up waiting for the rest.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// Where to write the JSON report (it is printed too).
    #[arg(long)]
    json: Option<PathBuf>,
    /// The smp-server binary (default: beside this example's folder).
    #[arg(long)]
    smp_server: Option<PathBuf>,
}

/// What the run reports.
#[derive(Serialize, Debug, Default)]
struct Report {
    sent: usize,
    received: usize,
    lost: usize,
    duplicates_shown: usize,
    out_of_order_shown: usize,
    relays_killed: usize,
    seconds: f64,
}

/// A relay process on 127.0.0.1 with its own configuration folder.
struct Relay {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    fingerprint: String,
    child: Option<Child>,
}

impl Relay {
    /// Initialises and starts a relay: store log on (queues survive a kill), messages in
    /// memory only.
    fn start(bin: &Path, dir: PathBuf) -> Result<Relay, String> {
        let status = Command::new(bin)
            .args(["init", "-y"])
            .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
            .env("SMP_SERVER_LOG_PATH", dir.join("log"))
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        if !status.success() {
            return Err(format!("{} init failed", bin.display()));
        }
        let mut r = Relay {
            bin: bin.to_path_buf(),
            dir,
            port: 0,
            fingerprint: String::new(),
            child: None,
        };
        r.spawn()?;
        Ok(r)
    }

    /// Starts the process on the relay's port (0 the first time) and reads its address.
    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(&self.bin)
            .args(["start", "--listen", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .env("SMP_SERVER_CFG_PATH", self.dir.join("cfg"))
            .env("SMP_SERVER_LOG_PATH", self.dir.join("log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(fp) = line.strip_prefix("Fingerprint: ") {
                self.fingerprint = fp.to_owned();
            }
            if let Some(rest) = line.strip_prefix("Serving SMP protocol on port ") {
                let port = rest.split(' ').next().and_then(|p| p.parse().ok());
                self.port = port.ok_or("unreadable port")?;
                // Keep reading (and dropping) its output so it never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                self.child = Some(child);
                return Ok(());
            }
        }
        let _ = child.kill();
        Err("the relay stopped before serving".into())
    }

    fn address(&self) -> Result<SmpServer, String> {
        let text = format!("smp://{}@127.0.0.1:{}", self.fingerprint, self.port);
        SmpServer::parse_str(text.as_bytes()).map_err(|e| e.to_string())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What one side's application was shown.
#[derive(Default)]
struct Shown {
    seen: HashSet<u64>,
    highest: Option<u64>,
    duplicates: usize,
    out_of_order: usize,
}

impl Shown {
    fn record(&mut self, n: u64) {
        if !self.seen.insert(n) {
            self.duplicates += 1;
            return;
        }
        match self.highest {
            Some(h) if n < h => self.out_of_order += 1,
            _ => self.highest = Some(n),
        }
    }
}

/// Acknowledges and records every message an agent receives, until its events end.
async fn receive_all(
    agent: Agent,
    mut rx: UnboundedReceiver<AgentEvent>,
    shown: Arc<Mutex<Shown>>,
) {
    while let Some(e) = rx.recv().await {
        if let Event::Msg { meta, body } = e.event {
            let n = std::str::from_utf8(&body).ok().and_then(|s| s.parse().ok());
            if let (Some(n), Ok(mut s)) = (n, shown.lock()) {
                s.record(n);
            }
            let _ = agent.ack_message(&e.conn_id, meta.msg_id, None).await;
        }
    }
}

async fn wait_for(
    rx: &mut UnboundedReceiver<AgentEvent>,
    what: &str,
    want: impl Fn(&Event) -> bool,
) -> Result<AgentEvent, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(e)) if want(&e.event) => return Ok(e),
            Ok(Some(_)) => {}
            Ok(None) => return Err(format!("agent stopped before {what}")),
            Err(_) => return Err(format!("no {what} in 30 s")),
        }
    }
}

fn default_smp_server() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/examples/chaos → target/<profile>/smp-server
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target folder")?;
    let bin = dir.join(format!("smp-server{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release -p smp-server) or pass \
             --smp-server PATH",
            bin.display()
        ))
    }
}

async fn run(args: Args) -> Result<Report, String> {
    if args.relays == 0 || args.redundancy == 0 {
        return Err("--relays and --redundancy must be at least 1".into());
    }
    let bin = match &args.smp_server {
        Some(p) => p.clone(),
        None => default_smp_server()?,
    };
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut relays = Vec::new();
    for i in 0..args.relays {
        relays.push(Relay::start(&bin, tmp.path().join(format!("relay{i}")))?);
    }
    let servers = relays
        .iter()
        .map(Relay::address)
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = AgentConfig::new(servers);
    config.redundancy = args.redundancy;
    config.retry_max = Duration::from_secs(2);
    let start = |name: &str| {
        let path = tmp.path().join(format!("{name}.db"));
        let config = config.clone();
        let name = name.to_owned();
        async move {
            let store = SqliteStore::open(&path, &name).map_err(|e| e.to_string())?;
            Agent::start(config, Box::new(store))
                .await
                .map_err(|e| e.to_string())
        }
    };
    let (alice, mut a_rx) = start("alice").await?;
    let (bob, mut b_rx) = start("bob").await?;
    let (a_conn, link) = alice.create_connection().await.map_err(|e| e.to_string())?;
    let b_conn = bob
        .join_connection(&link, b"bob")
        .await
        .map_err(|e| e.to_string())?;
    let conf = wait_for(&mut a_rx, "CONF", |e| matches!(e, Event::Conf { .. })).await?;
    let Event::Conf { conf_id, .. } = conf.event else {
        return Err("expected CONF".into());
    };
    alice
        .allow_connection(&conf_id, b"alice")
        .await
        .map_err(|e| e.to_string())?;
    wait_for(&mut a_rx, "CON at alice", |e| matches!(e, Event::Con)).await?;
    wait_for(&mut b_rx, "CON at bob", |e| matches!(e, Event::Con)).await?;
    let stats = alice
        .connection_stats(&a_conn)
        .await
        .map_err(|e| e.to_string())?;
    let victim_server = stats.rcv_queues.first().map(|q| q.server.clone());

    let at_alice = Arc::new(Mutex::new(Shown::default()));
    let at_bob = Arc::new(Mutex::new(Shown::default()));
    tokio::spawn(receive_all(alice.clone(), a_rx, at_alice.clone()));
    tokio::spawn(receive_all(bob.clone(), b_rx, at_bob.clone()));

    let began = Instant::now();
    let mut killed = 0;
    let mut sent = 0;
    for n in 0..args.messages {
        if Some(n) == args.kill_relay_after {
            let victim = relays
                .iter_mut()
                .find(|r| r.address().ok().as_ref() == victim_server.as_ref());
            if let Some(r) = victim {
                r.kill();
                killed += 1;
            }
        }
        if let Some(every) = args.restart_every.filter(|e| *e > 0) {
            if n > 0 && n % every == 0 {
                let i = rand::thread_rng().gen_range(0..relays.len());
                let r = &mut relays[i];
                r.kill();
                killed += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                r.spawn()?;
            }
        }
        let (agent, conn) = if n % 2 == 0 {
            (&alice, &a_conn)
        } else {
            (&bob, &b_conn)
        };
        // A refusal (not a delivery failure) would be a bug in the agent: stop and say so.
        agent
            .send_message(conn, n.to_string().as_bytes())
            .await
            .map_err(|e| format!("sending message {n}: {e}"))?;
        sent += 1;
    }

    let received = || {
        let a = at_alice.lock().map(|s| s.seen.len()).unwrap_or(0);
        let b = at_bob.lock().map(|s| s.seen.len()).unwrap_or(0);
        a + b
    };
    let mut last = (received(), Instant::now());
    while last.0 < sent && last.1.elapsed() < Duration::from_secs(args.drain) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = received();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let seconds = began.elapsed().as_secs_f64();
    alice.stop().await;
    bob.stop().await;
    let (a, b) = (
        at_alice.lock().map_err(|e| e.to_string())?,
        at_bob.lock().map_err(|e| e.to_string())?,
    );
    let received = a.seen.len() + b.seen.len();
    Ok(Report {
        sent,
        received,
        lost: sent.saturating_sub(received),
        duplicates_shown: a.duplicates + b.duplicates,
        out_of_order_shown: a.out_of_order + b.out_of_order,
        relays_killed: killed,
        seconds: (seconds * 10.0).round() / 10.0,
    })
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let json = args.json.clone();
    match run(args).await {
        Ok(report) => {
            let text = serde_json::to_string(&report).unwrap_or_default();
            println!("{text}");
            if let Some(path) = json {
                if let Err(e) = std::fs::write(&path, format!("{text}\n")) {
                    eprintln!("{}: {e}", path.display());
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::exit(1);
        }
    }
}
