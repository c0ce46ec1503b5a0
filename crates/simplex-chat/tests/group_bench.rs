//! Group delivery timing (not run by default): a relay process and N+1 chats in this
//! process (each its own agent and chat database), the members joining through the host's
//! group link one after another until every pair is connected. Then the time from `#team
//! text` to the last member printing it, for a message from the host and from a member.
//!
//! `GROUP_BENCH_N=10 cargo test --release -p simplex-chat --test group_bench -- --ignored
//! --nocapture` (N members besides the host; 10 by default).

mod common;

use std::time::{Duration, Instant};

use common::*;
use simplex_agent::{Agent, AgentConfig, MemoryStore};
use simplex_chat::chat::{Chat, Output};
use simplex_chat::protocol::Profile;
use simplex_chat::store::ChatStore;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Not a test of its own: the relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

type Line = (String, String, Instant);

struct Tx(String, UnboundedSender<Line>);

impl Output for Tx {
    fn lines(&mut self, lines: &[String]) {
        let now = Instant::now();
        for l in lines {
            let _ = self.1.send((self.0.clone(), l.clone(), now));
        }
    }
}

/// A chat running in a task of its own; lines sent in are its input.
async fn spawn_chat(
    name: &str,
    dir: &std::path::Path,
    srv: &str,
    out: UnboundedSender<Line>,
) -> UnboundedSender<String> {
    let store = ChatStore::open(&dir.join(format!("{name}_chat.db")), "").expect("chat db");
    let user = Profile::new(name);
    store.set_user(&user).expect("user");
    let server =
        smp_proto::address::SmpServerWithAuth::parse_str(srv.as_bytes()).expect("relay address");
    let mut config = AgentConfig::with_auth(vec![server]);
    config.pq_support = true;
    let (agent, mut events) = Agent::start(config, Box::new(MemoryStore::new()))
        .await
        .expect("agent");
    let mut chat = Chat::new(agent, store, user, Tx(name.to_owned(), out));
    let (tx, mut rx) = unbounded_channel::<String>();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                l = rx.recv() => match l {
                    Some(l) => { chat.input(&l).await; }
                    None => break,
                },
                e = events.recv() => match e {
                    Some(e) => chat.event(e).await,
                    None => break,
                },
            }
        }
    });
    tx
}

/// Every line printed, as it comes.
struct Lines {
    rx: UnboundedReceiver<Line>,
    seen: Vec<Line>,
}

impl Lines {
    /// Waits until `pred` accepted `n` lines (counted from `from`); the time of the last.
    async fn wait(&mut self, from: usize, n: usize, pred: impl Fn(&Line) -> bool) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let hits: Vec<&Line> = self.seen.iter().skip(from).filter(|l| pred(l)).collect();
            if hits.len() >= n {
                return hits.iter().map(|l| l.2).max().unwrap_or_else(Instant::now);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(l)) => self.seen.push(l),
                _ => panic!("timed out: {} of {n} lines", hits.len()),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing: run by hand"]
async fn group_delivery_timing() {
    let n: usize = std::env::var("GROUP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.clone();
    let (out, rx) = unbounded_channel();
    let mut lines = Lines {
        rx,
        seen: Vec::new(),
    };
    let host = spawn_chat("host", dir.path(), &srv, out.clone()).await;
    host.send("/g team".into()).expect("host");
    host.send("/create link #team".into()).expect("host");
    let at = lines.seen.len();
    lines
        .wait(at, 1, |l| {
            l.0 == "host" && l.1.starts_with("https://127.0.0.1/g#")
        })
        .await;
    let link = lines
        .seen
        .iter()
        .find(|l| l.1.starts_with("https://127.0.0.1/g#"))
        .map(|l| l.1.clone())
        .expect("link");
    let setup = Instant::now();
    let mut members = Vec::new();
    for i in 1..=n {
        let name = format!("m{i}");
        let m = spawn_chat(&name, dir.path(), &srv, out.clone()).await;
        let at = lines.seen.len();
        m.send(format!("/c {link}")).expect("member");
        // Joined, and connected to every member before it (both sides print it).
        let want = 1 + 2 * (i - 1);
        lines
            .wait(at, want, |l| {
                (l.0 == name
                    && (l.1 == "#team: you joined the group" || l.1.starts_with("#team: member ")))
                    || l.1 == format!("#team: new member {name} is connected")
            })
            .await;
        members.push(m);
    }
    let setup = setup.elapsed();
    let mut from_host = Vec::new();
    let mut from_member = Vec::new();
    for round in 0..5 {
        let text = format!("host says {round}");
        let at = lines.seen.len();
        let t0 = Instant::now();
        host.send(format!("#team {text}")).expect("host");
        let want = format!("#team host> {text}");
        let last = lines.wait(at, n, |l| l.1.ends_with(&want)).await;
        from_host.push(last - t0);
        let text = format!("m1 says {round}");
        let at = lines.seen.len();
        let t0 = Instant::now();
        members[0].send(format!("#team {text}")).expect("m1");
        let want = format!("#team m1> {text}");
        let last = lines.wait(at, n, |l| l.1.ends_with(&want)).await;
        from_member.push(last - t0);
    }
    from_host.sort();
    from_member.sort();
    println!(
        "GROUP_BENCH n={n} setup={:.1}s from_host: median {:?} max {:?}; from_member: median {:?} max {:?}",
        setup.as_secs_f64(),
        from_host[2],
        from_host[4],
        from_member[2],
        from_member[4]
    );
}
