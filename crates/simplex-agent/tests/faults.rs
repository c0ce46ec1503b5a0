//! Part of the `faults` test targets (`cargo test --release --test faults` runs this and the
//! relay's network and server-kill faults in `crates/smp-server/tests/faults.rs`).
//!
//! Agents as separate processes (`agent-cli`) against a relay process: one agent is killed
//! with SIGKILL mid-stream and restarted on the same database, then the other.
//!
//! The relay runs in a child process made from this very test executable: the ignored test
//! `relay_child` turns into `smp-server start --port 0` when its environment variable is set
//! (the relay binary of another crate cannot be named from here).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Set for the relay child: its configuration and log directory.
const RELAY_ENV: &str = "SIMPLEX_AGENT_TEST_RELAY_DIR";
/// Bounds every wait for a line, so that a missing line fails instead of hanging.
const WAIT: Duration = Duration::from_secs(60);

#[test]
#[ignore = "the relay child process of agents_killed_mid_stream_lose_and_repeat_nothing"]
fn relay_child() {
    let Some(dir) = std::env::var_os(RELAY_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let paths = smp_server::cli::Paths {
        cfg: dir.join("cfg"),
        log: dir.join("log"),
    };
    let opts = smp_server::cli::StartOptions {
        port: Some(0),
        listen: Some([127, 0, 0, 1].into()),
        skip_warnings: false,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(smp_server::cli::start(&paths, &opts))
        .expect("relay");
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the relay; returns it and its address.
fn start_relay(dir: &Path) -> (Proc, String) {
    let mut child = Command::new(std::env::current_exe().expect("test executable"))
        .args([
            "relay_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RELAY_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relay");
    let stdout = child.stdout.take().expect("relay stdout");
    let relay = Proc(child);
    let mut reader = BufReader::new(stdout);
    let mut fingerprint = None;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("relay stdout");
        assert!(n > 0, "the relay ended before printing its port");
        let l = line.trim_end();
        if let Some(fp) = l.strip_prefix("Fingerprint: ") {
            fingerprint = Some(fp.to_owned());
        }
        if let Some(rest) = l.strip_prefix("Serving SMP protocol on port ") {
            let port: u16 = rest
                .split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            // Keep reading, so that the relay never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while matches!(reader.read_line(&mut sink), Ok(n) if n > 0) {
                    sink.clear();
                }
            });
            let fp = fingerprint.expect("fingerprint printed before the port");
            return (relay, format!("smp://{fp}@127.0.0.1:{port}"));
        }
    }
}

/// A line from an agent process: which agent, which run of it, the line (`None`: its stdout
/// ended).
struct Line {
    who: char,
    run: u32,
    text: Option<String>,
}

struct AgentProc {
    proc: Proc,
    stdin: ChildStdin,
    run: u32,
}

/// The agent processes and one channel of their output lines.
struct Agents {
    dir: PathBuf,
    server: String,
    tx: mpsc::Sender<Line>,
    rx: mpsc::Receiver<Line>,
    procs: HashMap<char, AgentProc>,
    runs: HashMap<char, u32>,
    /// Lines read by [`Agents::wait`] that it was not waiting for, for [`Agents::next`].
    backlog: std::collections::VecDeque<Line>,
    /// The last lines read, shown when a wait fails.
    history: std::collections::VecDeque<String>,
}

impl Agents {
    fn new(dir: &Path, server: String) -> Agents {
        let (tx, rx) = mpsc::channel();
        Agents {
            dir: dir.to_path_buf(),
            server,
            tx,
            rx,
            procs: HashMap::new(),
            runs: HashMap::new(),
            backlog: Default::default(),
            history: Default::default(),
        }
    }

    /// Starts agent `who` on `dir/<who>.db` and waits for `READY`.
    fn start(&mut self, who: char) {
        let run = {
            let r = self.runs.entry(who).or_insert(0);
            *r += 1;
            *r
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_agent-cli"))
            .arg("--db")
            .arg(self.dir.join(format!("{who}.db")))
            .args(["--server", &self.server])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn agent-cli");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(text) = l else { break };
                if tx
                    .send(Line {
                        who,
                        run,
                        text: Some(text),
                    })
                    .is_err()
                {
                    return;
                }
            }
            let _ = tx.send(Line {
                who,
                run,
                text: None,
            });
        });
        self.procs.insert(
            who,
            AgentProc {
                proc: Proc(child),
                stdin,
                run,
            },
        );
        let ready = self.wait(who, |l| l == "READY");
        assert_eq!(ready, "READY");
    }

    /// Writes a command to a running agent (ignored when it was killed: the pipe is gone).
    fn send(&mut self, who: char, cmd: &str) {
        if let Some(p) = self.procs.get_mut(&who) {
            let _ = writeln!(p.stdin, "{cmd}");
            let _ = p.stdin.flush();
        }
    }

    fn next(&mut self) -> Line {
        match self.backlog.pop_front() {
            Some(l) => l,
            None => self.recv(),
        }
    }

    /// The next line, or `None` when none comes within `wait`.
    fn try_next(&mut self, wait: Duration) -> Option<Line> {
        if let Some(l) = self.backlog.pop_front() {
            return Some(l);
        }
        self.rx.recv_timeout(wait).ok()
    }

    fn recv(&mut self) -> Line {
        match self.rx.recv_timeout(WAIT) {
            Ok(l) => {
                if self.history.len() >= 60 {
                    self.history.pop_front();
                }
                self.history
                    .push_back(format!("{}{} {:?}", l.who, l.run, l.text));
                l
            }
            Err(e) => {
                let h: Vec<&String> = self.history.iter().collect();
                panic!("no line from an agent in time ({e}); the last ones: {h:#?}")
            }
        }
    }

    /// Reads lines until one of `who`'s current run matches; the others stay for
    /// [`Agents::next`].
    fn wait(&mut self, who: char, pred: impl Fn(&str) -> bool) -> String {
        let run = self.runs.get(&who).copied().unwrap_or(0);
        // A line read while waiting for another agent's may be the one (`A`'s `CONF` can
        // come before `B`'s `JOINED`).
        let found = self
            .backlog
            .iter()
            .position(|l| l.who == who && l.run == run && l.text.as_deref().is_some_and(&pred));
        if let Some(text) = found
            .and_then(|i| self.backlog.remove(i))
            .and_then(|l| l.text)
        {
            return text;
        }
        loop {
            let l = self.recv();
            if let (true, true, Some(text)) = (l.who == who, l.run == run, &l.text) {
                assert!(!text.starts_with("CMDERR"), "{who}: {text}");
                if pred(text) {
                    return text.clone();
                }
            }
            self.backlog.push_back(l);
        }
    }

    /// SIGKILL; returns the run that was killed.
    fn kill(&mut self, who: char) -> u32 {
        let mut p = self.procs.remove(&who).expect("running agent");
        p.proc.0.kill().expect("SIGKILL");
        let _ = p.proc.0.wait();
        p.run
    }
}

fn field(line: &str, i: usize) -> &str {
    line.split(' ').nth(i).unwrap_or("")
}

/// What the application on the receiving side saw.
#[derive(Default)]
struct Receiver {
    /// Every `MSG` in arrival order: (run, agent message ID, body, integrity).
    delivered: Vec<(u32, i64, String, String)>,
    /// Agent message ID → body.
    bodies: HashMap<i64, String>,
    /// Bodies whose acknowledgement the agent confirmed (`OK ack`), with the run.
    acked: BTreeMap<String, u32>,
    /// Bodies delivered again after their acknowledgement was confirmed.
    after_ack: Vec<String>,
    /// Acknowledge only this many deliveries (the application is slow).
    ack_limit: Option<usize>,
}

impl Receiver {
    /// Handles one line of the receiving agent; acknowledges every message.
    fn on_line(&mut self, agents: &mut Agents, who: char, run: u32, text: &str) {
        match (field(text, 0), field(text, 2)) {
            ("EV", "MSG") => {
                let conn = field(text, 1).to_owned();
                let id: i64 = field(text, 3).parse().expect("message ID");
                let integrity = field(text, 5).to_owned();
                let body = text.splitn(7, ' ').nth(6).unwrap_or("").to_owned();
                if self.acked.contains_key(&body) {
                    self.after_ack.push(body.clone());
                }
                self.bodies.insert(id, body.clone());
                self.delivered.push((run, id, body, integrity));
                if self.ack_limit.is_none_or(|n| self.delivered.len() <= n) {
                    agents.send(who, &format!("ack {conn} {id}"));
                }
            }
            ("OK", _) if field(text, 1) == "ack" => {
                let id: i64 = field(text, 3).parse().expect("message ID");
                let body = self.bodies.get(&id).expect("acked a delivered message");
                self.acked.entry(body.clone()).or_insert(run);
            }
            _ => {
                assert!(!text.starts_with("CMDERR"), "{who}: {text}");
            }
        }
    }
}

/// What the application on the sending side saw: its message IDs and those reported SENT
/// (across runs).
#[derive(Default)]
struct SenderSide {
    msg_ids: BTreeSet<i64>,
    sent: BTreeSet<i64>,
}

/// Handles one line; returns the agent and run whose output ended.
fn handle(
    agents: &mut Agents,
    rcv: &mut Receiver,
    snd: &mut SenderSide,
    l: Line,
) -> Option<(char, u32)> {
    let Some(text) = l.text else {
        return Some((l.who, l.run));
    };
    if std::env::var_os("AGENT_TEST_TRACE").is_some() {
        eprintln!("{}{} {text}", l.who, l.run);
    }
    if l.who == 'B' {
        rcv.on_line(agents, l.who, l.run, &text);
    } else {
        assert!(!text.starts_with("CMDERR"), "A: {text}");
        match (field(&text, 0), field(&text, 2)) {
            ("MSGID", id) => {
                snd.msg_ids.insert(id.parse().expect("ID"));
            }
            ("EV", "SENT") => {
                snd.sent.insert(field(&text, 3).parse().expect("ID"));
            }
            _ => {}
        }
    }
    None
}

#[test]
fn agents_killed_mid_stream_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_relay, server) = start_relay(&dir.path().join("relay"));
    let mut agents = Agents::new(dir.path(), server);
    agents.start('A');
    agents.start('B');

    // Connect: A creates, B joins, A allows, both get CON.
    agents.send('A', "create");
    let created = agents.wait('A', |l| l.starts_with("CREATED "));
    let a_conn = field(&created, 1).to_owned();
    agents.send('B', &format!("join {} bob", field(&created, 2)));
    let joined = agents.wait('B', |l| l.starts_with("JOINED "));
    let b_conn = field(&joined, 1).to_owned();
    let conf = agents.wait('A', |l| l.starts_with(&format!("EV {a_conn} CONF ")));
    agents.send('A', &format!("allow {} alice", field(&conf, 3)));
    let (mut a_con, mut b_con) = (false, false);
    while !(a_con && b_con) {
        let l = agents.next();
        let text = l.text.unwrap_or_default();
        assert!(!text.starts_with("CMDERR"), "{text}");
        a_con |= l.who == 'A' && text == format!("EV {a_conn} CON");
        b_con |= l.who == 'B' && text == format!("EV {b_conn} CON");
    }

    const N: usize = 150;
    let body = |i: usize| format!("message {i:04}");
    let mut rcv = Receiver::default();
    let mut snd = SenderSide::default();
    // 1. A sends the first third; B is killed when its application has acknowledged 20
    // messages and holds the 21st.
    for i in 0..N / 3 {
        agents.send('A', &format!("send {a_conn} {}", body(i)));
    }
    rcv.ack_limit = Some(20);
    while rcv.acked.len() < 20 || rcv.delivered.len() < 21 {
        let l = agents.next();
        handle(&mut agents, &mut rcv, &mut snd, l);
    }
    let b_run = agents.kill('B');
    // Whatever the killed B printed before dying still counts; wait for its end of output.
    loop {
        let l = agents.next();
        if let Some(ended) = handle(&mut agents, &mut rcv, &mut snd, l) {
            if ended == ('B', b_run) {
                break;
            }
        }
    }
    let b_first_run = rcv.delivered.len();
    rcv.ack_limit = None;

    // 2. B is down; A sends the second third and is killed right after the last was
    // accepted for delivery (stored), whether or not the server has it yet.
    for i in N / 3..2 * N / 3 {
        agents.send('A', &format!("send {a_conn} {}", body(i)));
    }
    while snd.msg_ids.len() < 2 * N / 3 {
        let l = agents.next();
        handle(&mut agents, &mut rcv, &mut snd, l);
    }
    let a_run = agents.kill('A');
    loop {
        let l = agents.next();
        if let Some(ended) = handle(&mut agents, &mut rcv, &mut snd, l) {
            if ended == ('A', a_run) {
                break;
            }
        }
    }
    let sent_before_a_kill = snd.sent.len();
    let last_before_kill = snd.sent.last().copied().unwrap_or(0);

    // 3. A restarts and sends the rest; B restarts and receives everything.
    agents.start('A');
    for i in 2 * N / 3..N {
        agents.send('A', &format!("send {a_conn} {}", body(i)));
    }
    agents.start('B');
    // A message seen without a confirmed acknowledgement comes again first if the server
    // did not get its ACK; everything else follows it. Receive until all bodies were seen
    // and those of this run acknowledged.
    let unconfirmed: Vec<i64> = rcv
        .delivered
        .iter()
        .filter(|(run, _, b, _)| *run == b_run && !rcv.acked.contains_key(b))
        .map(|(_, id, _, _)| *id)
        .collect();
    loop {
        let distinct: BTreeSet<&String> = rcv.delivered.iter().map(|(_, _, b, _)| b).collect();
        let open = rcv
            .delivered
            .iter()
            .any(|(run, _, b, _)| *run != b_run && !rcv.acked.contains_key(b));
        if distinct.len() == N && !open {
            break;
        }
        let l = agents.next();
        handle(&mut agents, &mut rcv, &mut snd, l);
    }
    // The application acknowledges what it kept from before the kill and did not get again.
    for id in &unconfirmed {
        if rcv
            .bodies
            .get(id)
            .is_some_and(|b| !rcv.acked.contains_key(b))
        {
            agents.send('B', &format!("ack {b_conn} {id}"));
        }
    }
    while rcv.acked.len() < N {
        let l = agents.next();
        handle(&mut agents, &mut rcv, &mut snd, l);
    }
    // `SENT` is printed after the agent records the server's `OK`: a SIGKILL between the
    // record's commit and the print loses the event (the message itself was accepted and has
    // arrived). A's delivery has one message in flight and, in a run of messages, the
    // previous one's mark going with it (module `send`, `read_ahead`): the events lost can
    // only be those of the (at most) two messages right after the last `SENT` printed before
    // the kill. Wait a while for the rest.
    while snd.sent.len() < N {
        match agents.try_next(Duration::from_secs(10)) {
            Some(l) => {
                handle(&mut agents, &mut rcv, &mut snd, l);
            }
            None => break,
        }
    }
    let missing: Vec<i64> = snd.msg_ids.difference(&snd.sent).copied().collect();
    let may_miss: Vec<i64> = snd
        .msg_ids
        .iter()
        .filter(|id| **id > last_before_kill)
        .take(2)
        .copied()
        .collect();
    assert!(
        missing.iter().all(|id| may_miss.contains(id)),
        "SENT missing for {missing:?}; the last before A's kill was {last_before_kill}"
    );

    // Nothing lost: every body delivered and acknowledged; first deliveries in order.
    let expected: Vec<String> = (0..N).map(body).collect();
    let mut first: Vec<String> = Vec::new();
    for (_, _, b, _) in &rcv.delivered {
        if !first.contains(b) {
            first.push(b.clone());
        }
    }
    assert_eq!(first, expected, "first deliveries in order, none missing");
    assert!(rcv.acked.keys().eq(expected.iter()));
    // Nothing delivered twice to the application after it acknowledged it.
    assert_eq!(rcv.after_ack, Vec::<String>::new());
    let repeated: Vec<&String> = {
        let mut seen = BTreeSet::new();
        rcv.delivered
            .iter()
            .filter(|(_, _, b, _)| !seen.insert(b.clone()))
            .map(|(_, _, b, _)| b)
            .collect()
    };
    // Only messages seen but not yet acknowledged when B died may come again.
    let unconfirmed_bodies: BTreeSet<&String> = unconfirmed
        .iter()
        .filter_map(|id| rcv.bodies.get(id))
        .collect();
    for b in &repeated {
        assert!(unconfirmed_bodies.contains(b), "{b} delivered twice");
    }
    let bad_integrity: Vec<&(u32, i64, String, String)> = rcv
        .delivered
        .iter()
        .filter(|(_, _, _, i)| i != "OK")
        .collect();
    assert_eq!(bad_integrity, Vec::<&(u32, i64, String, String)>::new());
    assert_eq!(snd.msg_ids.len(), N);
    println!(
        "{N} messages: B delivered {b_first_run} before its SIGKILL ({} acknowledged, {} \
         unconfirmed), {} after its restart; {} delivered again (unconfirmed ones), 0 after \
         acknowledgement; A's SENT before its SIGKILL {sent_before_a_kill}, after restart {}",
        rcv.acked.values().filter(|r| **r == b_run).count(),
        unconfirmed.len(),
        rcv.delivered.len() - b_first_run,
        repeated.len(),
        snd.sent.len(),
    );
    agents.send('A', "quit");
    agents.send('B', "quit");
}
