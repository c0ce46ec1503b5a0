//! What the end-to-end tests share: a relay process, `simplex-chat` processes driven over
//! pipes, and the predicates for the lines they print.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use clap::Parser;

pub mod groups;
pub mod ws;
pub mod xftp;
#[allow(unused_imports)]
pub use groups::*;
#[allow(unused_imports)]
pub use xftp::*;

/// Set in the child's environment: run the relay there.
pub const RELAY_ENV: &str = "SIMPLEX_CHAT_TEST_RELAY";
/// The port the relay child listens on (0, the default: any free port).
pub const RELAY_PORT_ENV: &str = "SIMPLEX_CHAT_TEST_RELAY_PORT";
/// Set in the child's environment: the highest SMP version the relay offers (an in-memory
/// relay from `smp_server::testing`; unset: the `smp-server start` command line).
pub const RELAY_MAX_VERSION_ENV: &str = "SIMPLEX_CHAT_TEST_RELAY_MAX_VERSION";
/// How long any one expected line may take before the test fails.
pub const LINE_WAIT: Duration = Duration::from_secs(90);

/// The body of the relay child process: each test executable has a `relay_process` test
/// that calls it (see the module docs).
pub async fn relay_main() {
    if std::env::var_os(RELAY_ENV).is_none() {
        return;
    }
    if let Some(max) = std::env::var(RELAY_MAX_VERSION_ENV)
        .ok()
        .and_then(|v| v.parse::<u16>().ok())
    {
        use smp_proto::version::{Version, VersionRange};
        let range = VersionRange::new(Version(6), Version(max)).expect("version range");
        let srv = smp_server::testing::TestServer::start_with_versions(128, range)
            .await
            .expect("relay");
        println!("Relay address: {}", srv.address());
        println!("Serving SMP protocol on port {}", srv.port());
        // Serves until the parent kills this process.
        std::future::pending::<()>().await;
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

pub struct Relay {
    pub child: Child,
    pub address: String,
    pub port: u16,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_relay(dir: &Path) -> Relay {
    start_relay_on(dir, 0)
}

/// Starts the relay on `port` (0: any free port) with its configuration and logs in `dir`.
pub fn start_relay_on(dir: &Path, port: u16) -> Relay {
    spawn_relay(dir, port, None)
}

/// Starts a relay (in memory, any free port) that offers SMP versions up to `max` only.
pub fn start_relay_up_to(dir: &Path, max: u16) -> Relay {
    spawn_relay(dir, 0, Some(max))
}

fn spawn_relay(dir: &Path, port: u16, max_version: Option<u16>) -> Relay {
    let mut cmd = Command::new(std::env::current_exe().expect("test executable"));
    if let Some(max) = max_version {
        cmd.env(RELAY_MAX_VERSION_ENV, max.to_string());
    }
    let child = cmd
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
    let mut address = None;
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
        // (After libtest's `test relay_process ... ` on the same line.)
        if let Some((_, a)) = l.split_once("Relay address: ") {
            address = Some(a.to_owned());
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
            relay.address = address.unwrap_or_else(|| {
                let fp = fingerprint.expect("fingerprint printed before the port");
                format!("smp://{fp}@127.0.0.1:{port}")
            });
            relay.port = port;
            return relay;
        }
        printed.push(l);
    }
}

/// A line to wait for: what it stands for, and the predicate that recognises it.
pub type Wanted = (String, Box<dyn Fn(&str) -> bool>);

/// A chat process: its input and the lines it prints.
pub struct ChatProc {
    pub name: String,
    pub child: Child,
    pub stdin: ChildStdin,
    pub lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Drop for ChatProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chat_command(prefix: &Path, server: Option<&str>, key: Option<&str>) -> Command {
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
    pub fn start(name: &str, prefix: &Path, server: Option<&str>, key: Option<&str>) -> ChatProc {
        Self::spawn(name, chat_command(prefix, server, key))
    }

    /// Starts the chat as `cmd` says.
    pub fn spawn(name: &str, mut cmd: Command) -> ChatProc {
        let mut child = cmd
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

    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to simplex-chat");
        self.stdin.flush().expect("flush");
    }

    /// Waits for a line that `pred` accepts and returns it.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
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
    pub fn text_seen(&self) -> Vec<&String> {
        self.seen.iter().filter(|l| !is_qr(l)).collect()
    }

    /// Waits for this exact line.
    pub fn expect(&mut self, line: &str) {
        self.wait_for(&format!("{line:?}"), |l| l == line);
    }

    /// Waits for a chat item line: `HH:MM <rest>` (or `MM-DD <rest>`).
    pub fn expect_item(&mut self, rest: &str) -> String {
        self.wait_for(&format!("HH:MM {rest:?}"), |l| is_item(l, rest))
    }

    /// Waits for the receipt of a sent item: `⩗ HH:MM <rest>`.
    pub fn expect_receipt(&mut self, rest: &str) {
        self.expect_marked("⩗", rest);
    }

    /// Waits for a sent item with a status mark: `<mark> HH:MM <rest>`.
    pub fn expect_marked(&mut self, mark: &str, rest: &str) {
        self.wait_for(&format!("{mark} HH:MM {rest:?}"), |l| {
            is_marked(l, mark, rest)
        });
    }

    /// Waits until every one of these lines was printed, in any order (each a predicate
    /// and what it stands for).
    pub fn expect_all(&mut self, mut wanted: Vec<Wanted>) {
        while !wanted.is_empty() {
            let what: Vec<&str> = wanted.iter().map(|(w, _)| w.as_str()).collect();
            let what = what.join(" and ");
            let line = self.wait_for(&what, |l| wanted.iter().any(|(_, p)| p(l)));
            wanted.retain(|(_, p)| !p(&line));
        }
    }

    /// Sends `/q` and waits for the process to end.
    pub fn quit(mut self) {
        self.send("/q");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{} exited with {status}", self.name);
    }
}

/// A line of a QR code drawn with half blocks.
pub fn is_qr(l: &str) -> bool {
    !l.is_empty() && l.chars().all(|c| " ▀▄█▘▝▖▗▌▐▚▞▛▜▙▟".contains(c))
}

/// `HH:MM rest` or `MM-DD rest`.
pub fn is_item(line: &str, rest: &str) -> bool {
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
pub fn is_marked(line: &str, mark: &str, rest: &str) -> bool {
    line.strip_prefix(mark)
        .and_then(|l| l.strip_prefix(' '))
        .is_some_and(|l| is_item(l, rest))
}

/// A predicate for [`ChatProc::expect_all`]: the exact line.
pub fn exact(line: &str) -> Wanted {
    let l = line.to_owned();
    (format!("{line:?}"), Box::new(move |x| x == l))
}

/// A predicate for [`ChatProc::expect_all`]: a chat item, marked or not (`""`).
pub fn item_line(mark: &str, rest: &str) -> Wanted {
    let (m, r) = (mark.to_owned(), rest.to_owned());
    let what = format!("{mark} HH:MM {rest:?}");
    if mark.is_empty() {
        (what, Box::new(move |l| is_item(l, &r)))
    } else {
        (what, Box::new(move |l| is_marked(l, &m, &r)))
    }
}

/// Starts a new user: answers the display name prompt.
pub fn new_user(name: &str, prefix: &Path, server: Option<&str>, key: Option<&str>) -> ChatProc {
    named(ChatProc::start(name, prefix, server, key), name)
}

/// [`new_user`] with more command-line arguments.
pub fn new_user_with(name: &str, prefix: &Path, server: Option<&str>, args: &[&str]) -> ChatProc {
    let mut cmd = chat_command(prefix, server, None);
    cmd.args(args);
    named(ChatProc::spawn(name, cmd), name)
}

fn named(mut p: ChatProc, name: &str) -> ChatProc {
    p.wait_for("asking for the display name", |l| {
        l == "It is only stored on your device and you can change it later."
    });
    p.send(name);
    p.wait_for("Current user", |l| {
        l.ends_with(&format!("Current user: {name}"))
    });
    p
}

pub fn prefix(dir: &Path, name: &str) -> PathBuf {
    dir.join(name).join("simplex_v1")
}

/// The line in place of a QR code too wide for 80 columns (a post-quantum invitation's).
pub const QR_TOO_WIDE: &str = "(no QR code: this link is too long for a code that fits 80 columns)";

/// Reads the link block: the QR code (no wider than 80 columns) or, for a link too long
/// for one, [`QR_TOO_WIDE`], then the link, then the reference's hints up to `last_hint`.
pub fn read_link(p: &mut ChatProc, scheme_path: &str, last_hint: &str) -> String {
    let first = p.wait_for("the QR code", |l| !l.is_empty());
    if first == QR_TOO_WIDE {
        p.expect("");
        return read_link_rest(p, scheme_path, last_hint);
    }
    assert!(is_qr(&first), "a QR code comes before the link: {first:?}");
    let mut rows = vec![first];
    loop {
        let l = p.wait_for("the end of the QR code", |_| true);
        if l.is_empty() {
            break;
        }
        assert!(is_qr(&l), "QR code line: {l:?}");
        rows.push(l);
    }
    for r in &rows {
        let w = r.chars().count();
        assert!(w <= 80, "a QR code line of {w} columns does not fit 80");
    }
    read_link_rest(p, scheme_path, last_hint)
}

fn read_link_rest(p: &mut ChatProc, scheme_path: &str, last_hint: &str) -> String {
    let link = p.wait_for("a link", |l| !l.is_empty());
    assert!(
        link.starts_with(scheme_path),
        "the link follows the QR code: {link:?}"
    );
    p.expect("");
    p.wait_for(&format!("{last_hint:?}"), |l| l == last_hint);
    link
}

/// `/i NAME` of a contact on the test relay (127.0.0.1) with a post-quantum connection: the
/// reference's lines (`viewContactInfo`) that we show.
pub fn expect_pq_info(p: &mut ChatProc, name: &str, contact_id: i64) {
    p.send(&format!("/i {name}"));
    p.expect(&format!("contact ID: {contact_id}"));
    p.expect("receiving messages via: 127.0.0.1");
    p.expect("sending messages via: 127.0.0.1");
    p.expect("you've shared main profile with this contact");
    p.expect("quantum resistant end-to-end encryption");
}

/// How a short invitation link on the test relay begins (the relay's host; its port and key
/// hash follow in `?p=…&c=…`, as the reference writes a relay that is not a preset one).
pub const SHORT_INVITATION: &str = "https://127.0.0.1/i#";
/// How a short address link on the test relay begins.
pub const SHORT_ADDRESS: &str = "https://127.0.0.1/a#";

/// Reads `/c`'s output on a relay with short links: the full link for old clients, the
/// intro (the reference's trailing space is trimmed by the line reader), the short link
/// (with its QR code) and the hint. Returns both links, short first.
pub fn read_invitation(p: &mut ChatProc) -> (String, String) {
    let full = read_old_clients_link(
        p,
        "The invitation link for old clients: ",
        "https://simplex.chat/invitation#/?",
    );
    p.expect("pass this invitation link to your contact (via another channel):");
    p.expect("");
    let short = read_link(
        p,
        SHORT_INVITATION,
        "and ask them to connect: /c <invitation_link_above>",
    );
    (short, full)
}

/// Reads `/ad`'s or `/sa`'s output (whose first line of the block is `intro`), as
/// [`read_invitation`].
pub fn read_address(p: &mut ChatProc, intro: &str) -> (String, String) {
    let full = read_old_clients_link(
        p,
        "The contact link for old clients: ",
        "https://simplex.chat/contact#/?",
    );
    p.expect(intro);
    p.expect("");
    let short = read_link(
        p,
        SHORT_ADDRESS,
        "to delete it: /da (accepted contacts will remain connected)",
    );
    (short, full)
}

fn read_old_clients_link(p: &mut ChatProc, intro: &str, full_prefix: &str) -> String {
    let l = p.wait_for(&format!("{intro:?}"), |l| l.starts_with(intro));
    let full = l.strip_prefix(intro).unwrap_or_default();
    assert!(full.starts_with(full_prefix), "a full link: {full:?}");
    full.to_owned()
}
