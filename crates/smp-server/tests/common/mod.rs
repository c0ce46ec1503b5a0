//! Helpers shared by the integration tests: the binary with a temporary configuration
//! directory, and clients with fresh keys. The in-process server is
//! `smp_server::testing::TestServer`.

#![allow(dead_code)]

pub mod raw;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::rngs::OsRng;
use simplex_crypto::{
    dh_x25519, DhSecretX25519, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519,
};
use smp_client::{ClientConfig, ServerEvent, SmpClient};
use smp_proto::command::SubscriptionMode;
use smp_proto::response::Response;
use smp_proto::{KeyHash, SmpServer};
use smp_server::testing::local_address;
use tokio::sync::mpsc;

/// Bounds every wait for a pushed event, so that a missing push fails instead of hanging.
pub const EVENT_WAIT: Duration = Duration::from_secs(20);

/// A client with keep-alive pings off.
pub async fn connect(server: &SmpServer) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
    let config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    SmpClient::connect(server, config).await.expect("connect")
}

/// A fresh Ed25519 authorization key.
pub fn ed_key() -> PrivateAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng))
}

/// A fresh X25519 authorization key (crypto_box authenticators).
pub fn x_key() -> PrivateAuthKey {
    PrivateAuthKey::X25519(PrivateKeyX25519::generate(&mut OsRng))
}

/// A queue as its recipient knows it.
pub struct Queue {
    /// Recipient key.
    pub rcv_key: PrivateAuthKey,
    /// Recipient ID.
    pub rcv_id: Vec<u8>,
    /// Sender ID.
    pub snd_id: Vec<u8>,
    /// Secret for decrypting delivered bodies.
    pub dh_secret: DhSecretX25519,
}

/// `NEW` with a fresh DH key.
pub async fn new_queue(
    client: &SmpClient,
    rcv_key: PrivateAuthKey,
    mode: SubscriptionMode,
) -> Queue {
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let ids = client
        .create_queue(&rcv_key, &dh.public_key(), None, mode, true)
        .await
        .expect("NEW -> IDS");
    Queue {
        rcv_key,
        rcv_id: ids.rcv_id.as_slice().to_vec(),
        snd_id: ids.snd_id.as_slice().to_vec(),
        dh_secret: dh_x25519(&ids.rcv_public_dh_key, &dh),
    }
}

/// The next pushed event.
pub async fn next_event(events: &mut mpsc::Receiver<ServerEvent>) -> ServerEvent {
    tokio::time::timeout(EVENT_WAIT, events.recv())
        .await
        .expect("an event within the wait")
        .expect("event channel open")
}

/// The next event, which must be `MSG` for `queue`: its ID and decrypted body.
pub async fn next_msg(
    events: &mut mpsc::Receiver<ServerEvent>,
    queue: &Queue,
) -> (Vec<u8>, smp_proto::message::RcvMsgBody) {
    let ev = next_event(events).await;
    assert_eq!(ev.entity_id, queue.rcv_id, "MSG for this queue");
    let Response::Msg(m) = ev.response else {
        panic!("expected MSG, got {:?}", ev.response.tag());
    };
    let body = smp_client::decrypt_message(&queue.dh_secret, &m).expect("decrypts");
    (m.msg_id.as_slice().to_vec(), body)
}

/// The binary, started on a temporary directory.
pub struct Running {
    /// The child process.
    pub child: Child,
    /// The bound port.
    pub port: u16,
    /// The printed fingerprint.
    pub fingerprint: String,
    /// Everything printed before the port line.
    pub printed: Vec<String>,
    /// What was read past the port line before `stdout` was handed back to `child`.
    buffered: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The server's address.
    pub fn address(&self) -> SmpServer {
        let kh: KeyHash = self.fingerprint.parse().expect("fingerprint");
        local_address(&kh, self.port)
    }

    /// Sends SIGTERM (through `kill`, no `unsafe`) and waits for the exit; returns what the
    /// server printed after the port line.
    pub fn terminate(&mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        std::mem::take(&mut self.buffered) + &self.child.wait_with_output_rest()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

trait RestOutput {
    fn wait_with_output_rest(&mut self) -> String;
}

impl RestOutput for Child {
    fn wait_with_output_rest(&mut self) -> String {
        use std::io::Read;
        let mut rest = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut rest);
        }
        let status = self.wait().expect("wait");
        assert!(status.success(), "server exited with {status}");
        rest
    }
}

/// Starts `smp-server start --port 0` with configuration in `dir/cfg` and logs in `dir/log`.
pub fn start_binary(dir: &Path) -> Running {
    start_binary_with(dir, &[])
}

/// [`start_binary`] with more arguments for `start`.
pub fn start_binary_with(dir: &Path, args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(["start", "--port", "0", "--listen", "127.0.0.1"])
        .args(args)
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn smp-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut fingerprint = String::new();
    let mut printed = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read stdout");
        if n == 0 {
            break;
        }
        let l = line.trim_end().to_owned();
        if let Some(fp) = l.strip_prefix("Fingerprint: ") {
            fingerprint = fp.to_owned();
        }
        if let Some(rest) = l.strip_prefix("Serving SMP protocol on port ") {
            let port = rest
                .split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            // Hand the rest of stdout back to the child handle for `terminate`, keeping what
            // the reader has already buffered.
            let buffered = String::from_utf8_lossy(reader.buffer()).into_owned();
            child.stdout = Some(reader.into_inner());
            return Running {
                child,
                port,
                fingerprint,
                printed,
                buffered,
            };
        }
        printed.push(l);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not print its port; printed: {printed:?}");
}

/// What a finished `smp-server` command printed and how it exited.
pub struct Run {
    /// Exit status 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `smp-server <args>` with `dir/cfg` and `dir/log`, typing `input` (then end of input);
/// it must exit within 20 seconds (a `start` that serves instead of refusing fails here).
pub fn run_binary(dir: &Path, args: &[&str], input: &str) -> Run {
    use std::io::{Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(args)
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smp-server");
    let mut stdin = child.stdin.take().expect("stdin");
    // The command may exit before reading its input.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let mut out = String::new();
            if let Some(mut o) = child.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            let _ = child.wait();
            panic!("smp-server {args:?} did not exit; printed: {out}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` (recursively) with its contents, sorted; `skip` names files left out.
pub fn tree_except(dir: &Path, skip: &[&str]) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if !p.file_name().is_some_and(|n| skip.iter().any(|s| n == *s)) {
                let bytes = std::fs::read(&p).expect("file");
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}
