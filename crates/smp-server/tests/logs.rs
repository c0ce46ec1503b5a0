//! What the relay prints at its most verbose log level: the full queue life cycle against the
//! binary with `RUST_LOG=trace`, stdout and stderr captured, must show no client address or
//! port, no queue or message ID (raw, hex, base64, base64url) and no message content.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{connect, ed_key, new_queue, next_msg, x_key};
use rand::rngs::OsRng;
use simplex_crypto::PrivateKeyX25519;
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_proto::KeyHash;
use smp_server::testing::local_address;

/// The server with both output streams captured to the end.
struct Captured {
    child: Child,
    port: u16,
    fingerprint: String,
    out: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(mut r: impl Read + Send + 'static, out: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let (Ok(mut o), Some(b)) = (out.lock(), buf.get(..n)) {
                o.extend_from_slice(b);
            }
        }
    })
}

fn start(dir: &std::path::Path) -> Captured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(["start", "--port", "0", "--listen", "127.0.0.1"])
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smp-server");
    let out = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    // Owned from here on, so that a failed start still kills and reaps the child.
    let mut cap = Captured {
        child,
        port: 0,
        fingerprint: String::new(),
        out: out.clone(),
        readers: vec![drain(stderr, out.clone())],
    };
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = stdout.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "server exited before printing its port");
        out.lock()
            .expect("capture lock")
            .extend_from_slice(line.as_bytes());
        let l = line.trim_end();
        if let Some(fp) = l.strip_prefix("Fingerprint: ") {
            cap.fingerprint = fp.to_owned();
        }
        if let Some(rest) = l.strip_prefix("Serving SMP protocol on port ") {
            cap.port = rest
                .split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            cap.readers.push(drain(stdout, out));
            return cap;
        }
    }
}

/// Local ports of this process's TCP connections to `port` on 127.0.0.1 (the clients'
/// ports as the server sees them), from `/proc/net/tcp`.
fn client_ports(port: u16) -> Vec<u16> {
    let table = std::fs::read_to_string("/proc/self/net/tcp").expect("/proc/self/net/tcp");
    let server = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace().skip(1);
            let local = f.next()?;
            let remote = f.next()?;
            // Established only: the table is the whole machine's, and an earlier relay that
            // had this port leaves its clients' sockets in TIME_WAIT for a minute.
            let state = f.next()?;
            if remote != server || state != "01" {
                return None;
            }
            let (_, p) = local.split_once(':')?;
            u16::from_str_radix(p, 16).ok()
        })
        .collect()
}

/// Every form an identifier could take in a log line.
fn forms(id: &[u8]) -> Vec<Vec<u8>> {
    vec![
        id.to_vec(),
        id.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
        id.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
            .into_bytes(),
        STANDARD.encode(id).into_bytes(),
        STANDARD_NO_PAD.encode(id).into_bytes(),
        URL_SAFE.encode(id).into_bytes(),
        URL_SAFE_NO_PAD.encode(id).into_bytes(),
        format!("{id:?}").into_bytes(),
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `needle` as a number of its own (not inside a longer run of digits).
fn contains_number(hay: &[u8], n: u16) -> bool {
    let needle = n.to_string().into_bytes();
    hay.windows(needle.len()).enumerate().any(|(i, w)| {
        w == needle.as_slice()
            && !(i > 0 && hay.get(i - 1).is_some_and(u8::is_ascii_digit))
            && !hay.get(i + needle.len()).is_some_and(u8::is_ascii_digit)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_output_has_no_addresses_ids_or_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = start(dir.path());
    let startup_len = s.out.lock().expect("capture lock").len();
    let kh: KeyHash = s.fingerprint.parse().expect("fingerprint");
    let server = local_address(&kh, s.port);
    let (rcv, mut rcv_events) = connect(&server).await;
    let (snd, _snd_events) = connect(&server).await;
    let (ntf, mut ntf_events) = connect(&server).await;
    let mut ids: Vec<Vec<u8>> = Vec::new();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut ports = client_ports(s.port);
    assert_eq!(ports.len(), 3, "three client connections seen");

    // A queue the recipient secures (KEY), then one the sender secures (SKEY).
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::Subscribe).await;
    let snd_key = ed_key();
    rcv.secure_queue(&q.rcv_key, &q.rcv_id, &snd_key.public_key())
        .await
        .expect("KEY");
    let q2 = new_queue(&rcv, x_key(), SubscriptionMode::OnlyCreate).await;
    let snd_key2 = x_key();
    snd.secure_sender_queue(&snd_key2, &q2.snd_id)
        .await
        .expect("SKEY");
    ids.extend([
        q.rcv_id.clone(),
        q.snd_id.clone(),
        q2.rcv_id.clone(),
        q2.snd_id.clone(),
    ]);

    // Notifications on the first queue.
    let ntf_key = ed_key();
    let ntf_dh = PrivateKeyX25519::generate(&mut OsRng);
    let (ntf_id, _) = rcv
        .enable_notifications(
            &q.rcv_key,
            &q.rcv_id,
            &ntf_key.public_key(),
            &ntf_dh.public_key(),
        )
        .await
        .expect("NKEY");
    ntf.subscribe_notifications(&ntf_key, &ntf_id)
        .await
        .expect("NSUB");
    ids.push(ntf_id);

    // Messages: pushed with SUB, then fetched with GET, each acknowledged.
    for i in 0..3 {
        let body = format!("the-secret-body-{i}-c0ffee").into_bytes();
        snd.send_message(
            Some(&snd_key),
            &q.snd_id,
            MsgFlags { notification: true },
            &body,
        )
        .await
        .expect("SEND");
        let (msg_id, _) = next_msg(&mut rcv_events, &q).await;
        let _ = tokio::time::timeout(common::EVENT_WAIT, ntf_events.recv())
            .await
            .expect("NMSG");
        rcv.ack(&q.rcv_key, &q.rcv_id, &msg_id).await.expect("ACK");
        ids.push(msg_id);
        bodies.push(body);
    }
    let body = b"the-secret-body-get-c0ffee".to_vec();
    snd.send_message(
        Some(&snd_key2),
        &q2.snd_id,
        MsgFlags {
            notification: false,
        },
        &body,
    )
    .await
    .expect("SEND");
    let m = rcv
        .get_message(&q2.rcv_key, &q2.rcv_id)
        .await
        .expect("GET")
        .expect("a message");
    rcv.ack(&q2.rcv_key, &q2.rcv_id, m.msg_id.as_slice())
        .await
        .expect("ACK");
    ids.push(m.msg_id.as_slice().to_vec());
    bodies.push(body);
    rcv.queue_info(&q.rcv_key, &q.rcv_id).await.expect("QUE");
    rcv.disable_notifications(&q.rcv_key, &q.rcv_id)
        .await
        .expect("NDEL");
    rcv.suspend(&q.rcv_key, &q.rcv_id).await.expect("OFF");
    rcv.delete(&q.rcv_key, &q.rcv_id).await.expect("DEL");
    rcv.delete(&q2.rcv_key, &q2.rcv_id).await.expect("DEL");
    // A failing command too: errors must not carry IDs either.
    assert!(rcv.subscribe(&q.rcv_key, &q.rcv_id).await.is_err());
    ports.extend(client_ports(s.port));
    rcv.close().await;
    snd.close().await;
    ntf.close().await;

    // Stop it and collect everything it printed.
    let status = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = s.child.wait().expect("wait");
    assert!(exit.success(), "server exited with {exit}");
    for r in s.readers.drain(..) {
        r.join().expect("reader thread");
    }
    let out = s.out.lock().expect("capture lock").clone();
    let text = String::from_utf8_lossy(&out);
    // Trace level was on: the server did log while serving.
    let served = out.get(startup_len..).unwrap_or_default();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "verbose logging is on"
    );
    assert!(
        !contains(served, b"127.0.0.1"),
        "a client address was logged:\n{text}"
    );
    for p in ports {
        assert!(
            !contains_number(&out, p),
            "client port {p} was logged:\n{text}"
        );
    }
    for id in &ids {
        for f in forms(id) {
            assert!(
                !contains(&out, &f),
                "an ID was logged as {:?}:\n{text}",
                String::from_utf8_lossy(&f)
            );
        }
    }
    for b in &bodies {
        for f in forms(b) {
            assert!(!contains(&out, &f), "message content was logged:\n{text}");
        }
    }
}
