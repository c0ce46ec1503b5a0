//! End to end: a relay process and `simplex-chat` processes with their own databases, driven
//! over stdin/stdout as a person would: connect through `/c` and through `/ad` + `/ac`,
//! messages both ways with receipts, a restart with a message that waited for it, history
//! with delivery marks, late sends and failed deliveries, deleting a contact (who is told),
//! encrypted databases and a wrong passphrase.
//!
//! The relay is this test executable started again as a child process that runs the
//! `smp-server start` command line (the `relay_process` test below does that only when the
//! parent sets [`RELAY_ENV`]): a real server process, without depending on the build order
//! of another package's binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use clap::Parser;
use simplex_agent::Store;

/// Set in the child's environment: run the relay there.
const RELAY_ENV: &str = "SIMPLEX_CHAT_TEST_RELAY";
/// The port the relay child listens on (0, the default: any free port).
const RELAY_PORT_ENV: &str = "SIMPLEX_CHAT_TEST_RELAY_PORT";
/// How long any one expected line may take before the test fails.
const LINE_WAIT: Duration = Duration::from_secs(90);

/// Not a test of its own: the body of the relay child process (see the module docs).
#[tokio::test]
async fn relay_process() {
    if std::env::var_os(RELAY_ENV).is_none() {
        return;
    }
    let port = std::env::var(RELAY_PORT_ENV).unwrap_or_else(|_| "0".to_owned());
    let cli = smp_server::cli::Cli::parse_from([
        "smp-server",
        "start",
        "--port",
        &port,
        "--listen",
        "127.0.0.1",
    ]);
    if let Err(e) = smp_server::cli::main(cli).await {
        panic!("relay failed: {e}");
    }
}

struct Relay {
    child: Child,
    address: String,
    port: u16,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_relay(dir: &Path) -> Relay {
    start_relay_on(dir, 0)
}

/// Starts the relay on `port` (0: any free port) with its configuration and logs in `dir`.
fn start_relay_on(dir: &Path, port: u16) -> Relay {
    let child = Command::new(std::env::current_exe().expect("test executable"))
        .args([
            "relay_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RELAY_ENV, "1")
        .env(RELAY_PORT_ENV, port.to_string())
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the relay");
    // Owned by the guard at once: killed and reaped on every path.
    let mut relay = Relay {
        child,
        address: String::new(),
        port: 0,
    };
    let mut reader = BufReader::new(relay.child.stdout.take().expect("relay stdout"));
    let mut fingerprint = None;
    let mut printed = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read relay stdout") == 0 {
            panic!("relay ended before printing its port: {printed:?}");
        }
        let l = line.trim_end().to_owned();
        if let Some(fp) = l.strip_prefix("Fingerprint: ") {
            fingerprint = Some(fp.to_owned());
        }
        if let Some(rest) = l.strip_prefix("Serving SMP protocol on port ") {
            let port: u16 = rest
                .split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port number");
            // Keep draining its output so that it never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = reader.read_to_end(&mut sink);
            });
            let fp = fingerprint.expect("fingerprint printed before the port");
            relay.address = format!("smp://{fp}@127.0.0.1:{port}");
            relay.port = port;
            return relay;
        }
        printed.push(l);
    }
}

/// A line to wait for: what it stands for, and the predicate that recognises it.
type Wanted = (String, Box<dyn Fn(&str) -> bool>);

/// A chat process: its input and the lines it prints.
struct ChatProc {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Drop for ChatProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chat_command(prefix: &Path, server: Option<&str>, key: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simplex-chat"));
    cmd.arg("-d").arg(prefix);
    if let Some(s) = server {
        cmd.args(["-s", s]);
    }
    cmd.env_remove("SIMPLEX_KEY");
    if let Some(k) = key {
        cmd.env("SIMPLEX_KEY", k);
    }
    cmd
}

impl ChatProc {
    fn start(name: &str, prefix: &Path, server: Option<&str>, key: Option<&str>) -> ChatProc {
        let mut child = chat_command(prefix, server, key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn simplex-chat");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let l = String::from_utf8_lossy(&buf).trim_end().to_owned();
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        ChatProc {
            name: name.to_owned(),
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to simplex-chat");
        self.stdin.flush().expect("flush");
    }

    /// Waits for a line that `pred` accepts and returns it.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(LINE_WAIT) {
                Ok(l) => {
                    let hit = pred(&l);
                    self.seen.push(l.clone());
                    if hit {
                        return l;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no line {what} in {LINE_WAIT:?}; printed: {:#?}",
                    self.name,
                    self.text_seen()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: exited before printing {what}; printed: {:#?}",
                    self.name,
                    self.text_seen()
                ),
            }
        }
    }

    /// What was printed, without the QR codes.
    fn text_seen(&self) -> Vec<&String> {
        self.seen.iter().filter(|l| !is_qr(l)).collect()
    }

    /// Waits for this exact line.
    fn expect(&mut self, line: &str) {
        self.wait_for(&format!("{line:?}"), |l| l == line);
    }

    /// Waits for a chat item line: `HH:MM <rest>` (or `MM-DD <rest>`).
    fn expect_item(&mut self, rest: &str) -> String {
        self.wait_for(&format!("HH:MM {rest:?}"), |l| is_item(l, rest))
    }

    /// Waits for the receipt of a sent item: `⩗ HH:MM <rest>`.
    fn expect_receipt(&mut self, rest: &str) {
        self.expect_marked("⩗", rest);
    }

    /// Waits for a sent item with a status mark: `<mark> HH:MM <rest>`.
    fn expect_marked(&mut self, mark: &str, rest: &str) {
        self.wait_for(&format!("{mark} HH:MM {rest:?}"), |l| {
            is_marked(l, mark, rest)
        });
    }

    /// Waits until every one of these lines was printed, in any order (each a predicate
    /// and what it stands for).
    fn expect_all(&mut self, mut wanted: Vec<Wanted>) {
        while !wanted.is_empty() {
            let what: Vec<&str> = wanted.iter().map(|(w, _)| w.as_str()).collect();
            let what = what.join(" and ");
            let line = self.wait_for(&what, |l| wanted.iter().any(|(_, p)| p(l)));
            wanted.retain(|(_, p)| !p(&line));
        }
    }

    /// Sends `/q` and waits for the process to end.
    fn quit(mut self) {
        self.send("/q");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{} exited with {status}", self.name);
    }
}

/// A line of a QR code drawn with half blocks.
fn is_qr(l: &str) -> bool {
    !l.is_empty() && l.chars().all(|c| " ▀▄█".contains(c))
}

/// `HH:MM rest` or `MM-DD rest`.
fn is_item(line: &str, rest: &str) -> bool {
    let b = line.as_bytes();
    line.len() > 6
        && b.get(2).is_some_and(|c| *c == b':' || *c == b'-')
        && [0, 1, 3, 4]
            .iter()
            .all(|i| b.get(*i).is_some_and(u8::is_ascii_digit))
        && line.get(5..6) == Some(" ")
        && line.get(6..) == Some(rest)
}

/// `<mark> HH:MM rest`.
fn is_marked(line: &str, mark: &str, rest: &str) -> bool {
    line.strip_prefix(mark)
        .and_then(|l| l.strip_prefix(' '))
        .is_some_and(|l| is_item(l, rest))
}

/// A predicate for [`ChatProc::expect_all`]: the exact line.
fn exact(line: &str) -> Wanted {
    let l = line.to_owned();
    (format!("{line:?}"), Box::new(move |x| x == l))
}

/// A predicate for [`ChatProc::expect_all`]: a chat item, marked or not (`""`).
fn item_line(mark: &str, rest: &str) -> Wanted {
    let (m, r) = (mark.to_owned(), rest.to_owned());
    let what = format!("{mark} HH:MM {rest:?}");
    if mark.is_empty() {
        (what, Box::new(move |l| is_item(l, &r)))
    } else {
        (what, Box::new(move |l| is_marked(l, &m, &r)))
    }
}

/// Starts a new user: answers the display name prompt.
fn new_user(name: &str, prefix: &Path, server: Option<&str>, key: Option<&str>) -> ChatProc {
    let mut p = ChatProc::start(name, prefix, server, key);
    p.wait_for("asking for the display name", |l| {
        l == "It is only stored on your device and you can change it later."
    });
    p.send(name);
    p.wait_for("Current user", |l| {
        l.ends_with(&format!("Current user: {name}"))
    });
    p
}

fn prefix(dir: &Path, name: &str) -> PathBuf {
    dir.join(name).join("simplex_v1")
}

/// Reads the link block the reference prints and checks that a QR code follows it.
fn read_link(p: &mut ChatProc, scheme_path: &str, last_hint: &str) -> String {
    let link = p.wait_for("a link", |l| l.starts_with(scheme_path));
    p.expect("");
    p.wait_for(&format!("{last_hint:?}"), |l| l == last_hint);
    let qr_first = p.wait_for("the QR code", |l| !l.is_empty());
    assert!(
        is_qr(&qr_first),
        "a QR code is drawn after the link: {qr_first:?}"
    );
    link
}

#[test]
fn connect_by_invitation_chat_both_ways_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let alice_db = prefix(dir.path(), "alice");
    let bob_db = prefix(dir.path(), "bob");

    let mut alice = ChatProc::start("alice", &alice_db, Some(srv), None);
    alice.wait_for("the plain database notice", |l| {
        l.starts_with("the databases are not encrypted")
    });
    alice.wait_for("the prompt", |l| {
        l == "It is only stored on your device and you can change it later."
    });
    alice.send("alice");
    alice.wait_for("Current user", |l| l.ends_with("Current user: alice"));
    let mut bob = new_user("bob", &bob_db, Some(srv), Some("bob's secret"));
    assert!(
        !bob.seen.iter().any(|l| l.contains("not encrypted")),
        "no plain database notice with a passphrase: {:?}",
        bob.seen
    );

    alice.send("/c");
    // (The reference's trailing space is trimmed by the line reader.)
    alice.expect("pass this invitation link to your contact (via another channel):");
    alice.expect("");
    let link = read_link(
        &mut alice,
        "https://simplex.chat/invitation#/?",
        "and ask them to connect: /c <invitation_link_above>",
    );
    bob.send(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");

    alice.send("@bob hello bob");
    alice.expect_item("@bob hello bob");
    bob.expect_item("alice> hello bob");
    alice.expect_receipt("@bob hello bob");
    bob.send("@alice hi alice");
    bob.expect_item("@alice hi alice");
    alice.expect_item("bob> hi alice");
    bob.expect_receipt("@alice hi alice");
    // A line without a command continues the last chat.
    bob.send("and more");
    bob.expect_item("@alice and more");
    alice.expect_item("bob> and more");
    bob.expect_receipt("@alice and more");

    // Bob goes away; a message sent meanwhile arrives when he is back (the server and the
    // passphrase come from his saved settings and the environment).
    bob.quit();
    alice.send("@bob while you were away");
    alice.expect_item("@bob while you were away");
    let mut bob = ChatProc::start("bob", &bob_db, None, Some("bob's secret"));
    bob.expect_item("alice> while you were away");
    alice.expect_receipt("@bob while you were away");
    bob.send("@alice back");
    alice.expect_item("bob> back");
    bob.expect_receipt("@alice back");

    bob.send("/contacts");
    bob.expect("alice");
    // History marks sent items with their delivery status; received ones are unmarked.
    bob.send("/tail @alice 4");
    bob.expect_marked("⩗", "@alice hi alice");
    bob.expect_marked("⩗", "@alice and more");
    bob.expect_item("alice> while you were away");
    bob.expect_marked("⩗", "@alice back");
    bob.quit();

    // A wrong passphrase is a clear error, and so is none for an encrypted database.
    for key in [Some("wrong"), None] {
        let out = chat_command(&bob_db, None, key)
            .stdin(Stdio::null())
            .output()
            .expect("run simplex-chat");
        assert!(!out.status.success(), "a wrong passphrase fails");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("wrong passphrase or invalid database file"),
            "stderr: {err}"
        );
    }
    let chat_db = std::fs::read(PathBuf::from(format!("{}_chat.db", bob_db.display())))
        .expect("bob's chat database");
    assert!(!chat_db.starts_with(b"SQLite format 3"), "encrypted");
    let agent_db = std::fs::read(PathBuf::from(format!("{}_agent.db", bob_db.display())))
        .expect("bob's agent database");
    assert!(!agent_db.starts_with(b"SQLite format 3"), "encrypted");
    alice.quit();
    let alice_chat = std::fs::read(PathBuf::from(format!("{}_chat.db", alice_db.display())))
        .expect("alice's chat database");
    assert!(
        alice_chat.starts_with(b"SQLite format 3"),
        "plain without a key"
    );
    let alice_agent = std::fs::read(PathBuf::from(format!("{}_agent.db", alice_db.display())))
        .expect("alice's agent database");
    assert!(
        alice_agent.starts_with(b"SQLite format 3"),
        "plain without a key"
    );
}

#[test]
fn connect_through_an_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let alice_db = prefix(dir.path(), "alice");
    let mut alice = new_user("alice", &alice_db, Some(srv), None);
    let bob_db = prefix(dir.path(), "bob");
    let mut bob = new_user("bob", &bob_db, Some(srv), None);

    alice.send("/sa");
    alice.expect("no chat address, to create: /ad");
    alice.send("/ad");
    alice.expect("Your new chat address is created!");
    alice.expect("");
    let address = read_link(
        &mut alice,
        "https://simplex.chat/contact#/?",
        "to delete it: /da (accepted contacts will remain connected)",
    );
    bob.send(&format!("/c {address}"));
    bob.expect("connection request sent!");
    alice.expect("bob wants to connect to you!");
    alice.expect("to accept: /ac bob");
    alice.expect("to reject: /rc bob (the sender will NOT be notified)");
    // A request to reject first.
    let mut carol = new_user("carol", &prefix(dir.path(), "carol"), Some(srv), None);
    carol.send(&format!("/c {address}"));
    carol.expect("connection request sent!");
    alice.expect("carol wants to connect to you!");
    alice.expect("to accept: /ac carol");
    alice.send("/rc carol");
    alice.expect("carol: contact request rejected");
    alice.send("/ac carol");
    alice.expect("no contact request from carol");
    carol.quit();

    alice.send("/ac bob");
    alice.expect("bob: accepting contact request...");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");

    bob.send("@alice hello through your address");
    alice.expect_item("bob> hello through your address");
    bob.expect_receipt("@alice hello through your address");
    alice.send("@bob welcome");
    bob.expect_item("alice> welcome");

    alice.send("/sa");
    alice.expect("Your chat address:");
    alice.expect("");
    let shown = read_link(
        &mut alice,
        "https://simplex.chat/contact#/?",
        "to delete it: /da (accepted contacts will remain connected)",
    );
    assert_eq!(shown, address);
    alice.send("/da");
    alice.expect("Your chat address is deleted - accepted contacts will remain connected.");
    alice.expect("To create a new chat address use /ad");
    alice.send("@bob still here");
    bob.expect_item("alice> still here");

    // A profile change reaches the contact.
    bob.send("/p robert");
    bob.expect("user profile is changed to robert (your 1 contacts are notified)");
    alice.expect("contact bob changed to robert");
    alice.expect("use @robert <message> to send messages");

    alice.quit();
    // One command with -e: the contact list from the saved database.
    let out = chat_command(&alice_db, None, None)
        .args(["-e", "/contacts", "-t", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("run simplex-chat -e");
    assert!(out.status.success(), "-e exits cleanly");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.lines().any(|l| l == "robert"),
        "contacts printed: {printed}"
    );

    // Deleting a contact tells it (x.direct.del): Bob's client marks Alice deleted, keeps
    // the history with a "contact deleted" item, and refuses to send until he deletes her.
    let mut alice = ChatProc::start("alice", &alice_db, None, None);
    alice.send("/d robert");
    alice.expect("robert: contact is deleted");
    bob.expect("alice deleted contact with you");
    alice.send("@robert anyone?");
    alice.expect("no contact robert");
    bob.send("@alice are you there?");
    bob.expect("alice: not ready");
    bob.send("/tail @alice 2");
    bob.expect_item("alice> still here");
    bob.expect_item("alice> contact deleted");
    bob.send("/contacts");
    bob.expect("alice");
    bob.send("/d alice");
    bob.expect("alice: contact is deleted");
    bob.send("@alice hello?");
    bob.expect("no contact alice");
    // Alice's connection goes once the relay has accepted the notice.
    wait_until_no_pending_deletions(&alice_db);
    alice.quit();
    bob.quit();
    for db in [&alice_db, &bob_db] {
        let path = PathBuf::from(format!("{}_agent.db", db.display()));
        let conns = simplex_agent::SqliteStore::open(&path, "")
            .expect("agent database")
            .conns()
            .expect("connections");
        assert!(
            conns.is_empty(),
            "{}: no connection left: {conns:?}",
            path.display()
        );
    }
}

/// Waits (reading the plain chat database of a running client) until the connections of
/// deleted contacts are deleted.
fn wait_until_no_pending_deletions(db: &Path) {
    let path = PathBuf::from(format!("{}_chat.db", db.display()));
    let deadline = std::time::Instant::now() + LINE_WAIT;
    loop {
        let db = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the chat database");
        let n: i64 = db
            .query_row("SELECT count(*) FROM pending_deletions", [], |r| r.get(0))
            .expect("count pending deletions");
        if n == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} deletions still pending after {LINE_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_message_sent_while_the_relay_is_down_is_delivered_after_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay_dir = dir.path().join("relay");
    let relay = start_relay(&relay_dir);
    let srv = relay.address.clone();
    let alice_db = prefix(dir.path(), "alice");
    let mut alice = new_user("alice", &alice_db, Some(&srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(&srv), None);
    alice.send("/c");
    let link = alice.wait_for("the link", |l| {
        l.starts_with("https://simplex.chat/invitation")
    });
    bob.send(&format!("/c {link}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");

    // The relay dies (kill -9); Alice's message waits in her agent's database, and she quits.
    let port = relay.port;
    drop(relay);
    alice.wait_for("the disconnection", |l| {
        l == "server disconnected 127.0.0.1 (@bob)"
    });
    bob.wait_for("the disconnection", |l| {
        l == "server disconnected 127.0.0.1 (@alice)"
    });
    alice.send("@bob sent during the outage");
    alice.expect_item("@bob sent during the outage");
    // Not sent yet: marked as sending in the history.
    alice.send("/tail @bob 1");
    alice.expect_marked("…", "@bob sent during the outage");
    alice.quit();
    // Bob's message waits too, in his running client.
    bob.send("@alice queued by bob");
    bob.expect_item("@alice queued by bob");

    // The relay comes back on the same port with its queues. Bob's client reconnects and
    // sends his message: as it did not go at once, "sent" is shown when it goes.
    let _relay = start_relay_on(&relay_dir, port);
    bob.expect_all(vec![
        exact("server connected 127.0.0.1 (@alice)"),
        item_line("✓", "@alice queued by bob"),
    ]);
    // Alice starts again: her message from the earlier run is sent (shown), then received;
    // Bob's message reaches her.
    let mut alice = ChatProc::start("alice", &alice_db, None, None);
    alice.expect_all(vec![
        item_line("✓", "@bob sent during the outage"),
        item_line("⩗", "@bob sent during the outage"),
        item_line("", "bob> queued by bob"),
    ]);
    bob.expect_all(vec![
        item_line("", "alice> sent during the outage"),
        item_line("⩗", "@alice queued by bob"),
    ]);
    alice.send("/tail @bob 2");
    alice.expect_marked("⩗", "@bob sent during the outage");
    alice.expect_item("bob> queued by bob");
    alice.quit();
    bob.quit();
}

#[test]
fn a_message_to_a_queue_the_relay_lost_is_marked_not_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay_dir = dir.path().join("relay");
    let relay = start_relay(&relay_dir);
    let srv = relay.address.clone();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(&srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(&srv), None);
    alice.send("/c");
    let link = alice.wait_for("the link", |l| {
        l.starts_with("https://simplex.chat/invitation")
    });
    bob.send(&format!("/c {link}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    alice.send("@bob first");
    bob.expect_item("alice> first");
    alice.expect_receipt("@bob first");

    // The relay restarts with the same identity but without its store: every queue is gone,
    // and the relay refuses the next message to Bob's queue for good (AUTH).
    let port = relay.port;
    drop(relay);
    alice.wait_for("the disconnection", |l| {
        l == "server disconnected 127.0.0.1 (@bob)"
    });
    std::fs::remove_dir_all(relay_dir.join("log")).expect("remove the relay's store");
    let _relay = start_relay_on(&relay_dir, port);
    alice.send("@bob into the void");
    alice.expect_item("@bob into the void");
    alice.expect_marked("✗", "@bob into the void");
    alice.expect(
        "bob: message not delivered: server error: Auth (most likely the connection is deleted)",
    );
    alice.send("/tail @bob 2");
    alice.expect_marked("⩗", "@bob first");
    alice.expect_marked("✗", "@bob into the void");
    alice.quit();
    bob.quit();
}
