//! Process-level tests: the built binary, real TLS on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use simplex_transport::handshake::{connect, ClientTransportConfig};
use smp_proto::block::{decode_block, encode_block};
use smp_proto::command::Command as Cmd;
use smp_proto::keys::parse_key_hash;
use smp_proto::response::Response;
use smp_proto::transmission::{encode_transmission, RawTransmission};

struct Running {
    child: Child,
    port: u16,
    fingerprint: String,
}

fn start(dir: &std::path::Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(["start", "--port", "0", "--listen", "127.0.0.1"])
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn smp-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut fingerprint = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(fp) = line.strip_prefix("Fingerprint: ") {
            fingerprint = fp.to_owned();
        }
        if let Some(rest) = line.strip_prefix("Serving SMP protocol on port ") {
            let port = rest
                .split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            return Running {
                child,
                port,
                fingerprint,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not print its port");
}

#[tokio::test]
async fn start_with_no_config_initializes_then_answers_ping_and_bad_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = start(dir.path());
    assert!(dir.path().join("cfg/smp-server.ini").exists());
    assert!(dir.path().join("cfg/fingerprint").exists());
    let kh = parse_key_hash(s.fingerprint.as_bytes()).expect("fingerprint parses");
    let mut conn = connect(
        ("127.0.0.1", s.port),
        &kh,
        &ClientTransportConfig::default(),
        None,
    )
    .await
    .expect("handshake");
    let v = conn.session.params.version;
    let sid = conn.session.params.session_id.clone();
    let ping = encode_transmission(v, &sid, &[1; 24], b"", &Cmd::Ping.to_bytes(v)).expect("encode");
    conn.writer
        .write_raw(&encode_block(&[ping]).expect("block"))
        .await
        .expect("write");
    let block = conn.reader.read_raw().await.expect("read").to_vec();
    let ts = decode_block(&block).expect("decode block");
    let t = RawTransmission::decode(v, ts[0]).expect("transmission");
    assert_eq!(t.corr_id, &[1; 24]);
    assert_eq!(
        Response::decode(v, t.command).expect("response"),
        Response::Pong
    );
    // A garbage block gets ERR BLOCK and the connection stays usable.
    conn.writer.write_raw(&[0xff; 16_384]).await.expect("write");
    let block = conn.reader.read_raw().await.expect("read").to_vec();
    let ts = decode_block(&block).expect("decode block");
    let t = RawTransmission::decode(v, ts[0]).expect("transmission");
    assert!(matches!(
        Response::decode(v, t.command).expect("response"),
        Response::Err(_)
    ));
    s.child.kill().expect("kill");
    let _ = s.child.wait();
}
