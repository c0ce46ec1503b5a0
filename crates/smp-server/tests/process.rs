//! Process-level tests: the built binary on a temporary configuration directory, real TLS on
//! 127.0.0.1, real `smp-client` clients: restart with the store log and saved messages,
//! `kill -9`, and the reference's fixture certificates.

mod common;

use common::{connect, ed_key, new_queue, next_msg, start_binary};
use rand::rngs::OsRng;
use simplex_crypto::{dh_x25519, PrivateKeyX25519};
use simplex_transport::handshake::{connect as raw_connect, ClientTransportConfig};
use smp_client::ClientError;
use smp_proto::block::{decode_block, encode_block};
use smp_proto::command::{Command as Cmd, MsgFlags, SubscriptionMode};
use smp_proto::error::ErrorType;
use smp_proto::keys::parse_key_hash;
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_proto::transmission::{encode_transmission, RawTransmission};

const QUIET: MsgFlags = MsgFlags {
    notification: false,
};
const NOTIFY: MsgFlags = MsgFlags { notification: true };

fn body(b: &RcvMsgBody) -> &[u8] {
    match b {
        RcvMsgBody::Data { body, .. } => body,
        RcvMsgBody::Quota { .. } => panic!("expected a message"),
    }
}

#[tokio::test]
async fn start_with_no_config_initializes_then_answers_ping_and_bad_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_binary(dir.path());
    assert!(dir.path().join("cfg/smp-server.ini").exists());
    assert!(dir.path().join("cfg/fingerprint").exists());
    let kh = parse_key_hash(s.fingerprint.as_bytes()).expect("fingerprint parses");
    let mut conn = raw_connect(
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
    assert_eq!(
        Response::decode(v, t.command).expect("response"),
        Response::Err(ErrorType::Block)
    );
}

#[tokio::test]
async fn graceful_restart_restores_queues_and_undelivered_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = start_binary(dir.path());
    let address = s.address();
    let (rcv, mut rcv_events) = connect(&address).await;
    let (snd, _snd_events) = connect(&address).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::Subscribe).await;
    let snd_key = ed_key();
    rcv.secure_queue(&q.rcv_key, &q.rcv_id, &snd_key.public_key())
        .await
        .expect("KEY");
    // A notifier that has not subscribed yet.
    let ntf_key = ed_key();
    let rcv_ntf_dh = PrivateKeyX25519::generate(&mut OsRng);
    let (nid, srv_ntf_dh) = rcv
        .enable_notifications(
            &q.rcv_key,
            &q.rcv_id,
            &ntf_key.public_key(),
            &rcv_ntf_dh.public_key(),
        )
        .await
        .expect("NKEY");
    for (b, flags) in [
        (&b"delivered, not acknowledged"[..], QUIET),
        (b"waiting", NOTIFY),
    ] {
        snd.send_message(Some(&snd_key), &q.snd_id, flags, b)
            .await
            .expect("SEND");
    }
    let (_, first) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(body(&first), b"delivered, not acknowledged");
    // A second queue, deleted before the restart, stays deleted.
    let gone = new_queue(&rcv, ed_key(), SubscriptionMode::OnlyCreate).await;
    rcv.delete(&gone.rcv_key, &gone.rcv_id).await.expect("DEL");
    rcv.close().await;
    snd.close().await;

    let rest = s.terminate();
    assert!(rest.contains("messages saved: 2"), "printed: {rest}");
    assert!(rest.contains("notifications saved: 1"), "printed: {rest}");
    assert!(dir.path().join("log/smp-server-store.log").exists());

    let s2 = start_binary(dir.path());
    assert_eq!(s2.fingerprint, s.fingerprint, "same identity after restart");
    assert!(
        s2.printed
            .iter()
            .any(|l| l.contains("messages restored: 2"))
            && s2
                .printed
                .iter()
                .any(|l| l.contains("notifications restored: 1")),
        "printed: {:?}",
        s2.printed
    );
    let address = s2.address();
    let (rcv, mut rcv_events) = connect(&address).await;
    let (snd, _snd_events) = connect(&address).await;
    rcv.subscribe(&q.rcv_key, &q.rcv_id)
        .await
        .expect("SUB after restart");
    let (id1, first) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(body(&first), b"delivered, not acknowledged");
    rcv.ack(&q.rcv_key, &q.rcv_id, &id1).await.expect("ACK");
    let (id2, second) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(body(&second), b"waiting");
    // The kept notification of the second message survived the restart.
    let (ntf, mut ntf_events) = connect(&address).await;
    ntf.subscribe_notifications(&ntf_key, &nid)
        .await
        .expect("NSUB after restart");
    let ev = common::next_event(&mut ntf_events).await;
    let Response::Nmsg { nonce, enc_meta } = ev.response else {
        panic!("expected NMSG");
    };
    let meta = simplex_crypto::cb_decrypt(
        &dh_x25519(&srv_ntf_dh, &rcv_ntf_dh),
        &simplex_crypto::CbNonce(nonce),
        enc_meta.as_slice(),
    )
    .expect("metadata decrypts");
    assert_eq!(meta.get(1..25), Some(id2.as_slice()));
    rcv.ack(&q.rcv_key, &q.rcv_id, &id2).await.expect("ACK");
    // Still secured by the same sender key.
    assert!(matches!(
        snd.send_message(None, &q.snd_id, QUIET, b"x").await,
        Err(ClientError::Server(ErrorType::Auth))
    ));
    snd.send_message(Some(&snd_key), &q.snd_id, QUIET, b"after")
        .await
        .expect("SEND after restart");
    let (_, third) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(body(&third), b"after");
    assert!(matches!(
        rcv.subscribe(&gone.rcv_key, &gone.rcv_id).await,
        Err(ClientError::Server(ErrorType::Auth))
    ));
}

#[tokio::test]
async fn kill_9_keeps_queues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = start_binary(dir.path());
    let address = s.address();
    let (rcv, _rcv_events) = connect(&address).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::OnlyCreate).await;
    let snd_key = ed_key();
    rcv.secure_queue(&q.rcv_key, &q.rcv_id, &snd_key.public_key())
        .await
        .expect("KEY");
    s.kill9();

    let s2 = start_binary(dir.path());
    let (rcv, mut rcv_events) = connect(&s2.address()).await;
    rcv.subscribe(&q.rcv_key, &q.rcv_id)
        .await
        .expect("SUB after kill -9");
    rcv.send_message(Some(&snd_key), &q.snd_id, QUIET, b"survived")
        .await
        .expect("SEND with the sender key from before");
    let (_, m) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(body(&m), b"survived");
}

#[tokio::test]
async fn serves_the_reference_fixture_certificates() {
    let Some(ca) = test_support::fixture("ca.crt", "reference fixture certificates") else {
        return;
    };
    let fixtures = ca.parent().expect("fixtures folder").to_path_buf();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).expect("cfg dir");
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::copy(fixtures.join(f), cfg.join(f)).expect("copy fixture");
    }
    std::fs::write(
        cfg.join(smp_server::cli::INI_FILE),
        smp_server::cli::ini_content("127.0.0.1", None, true, false),
    )
    .expect("ini");
    let s = start_binary(dir.path());
    assert_eq!(
        s.fingerprint,
        "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI="
    );
    let (c, mut events) = connect(&s.address()).await;
    c.ping().await.expect("PING");
    let q = new_queue(&c, ed_key(), SubscriptionMode::Subscribe).await;
    c.send_message(None, &q.snd_id, QUIET, b"fixture")
        .await
        .expect("SEND");
    let (_, m) = next_msg(&mut events, &q).await;
    assert_eq!(body(&m), b"fixture");
    // The fixture's certificates were used, not replaced.
    assert_eq!(
        std::fs::read(cfg.join("ca.crt")).expect("ca.crt"),
        std::fs::read(fixtures.join("ca.crt")).expect("fixture ca.crt")
    );
}

/// The reference's INI lists several ports (`port = 5223,443`): every one is served. Here two
/// free ports (`port = 0,0`), the second answering PING like the first.
#[tokio::test]
async fn serves_every_port_of_the_ini() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("tempdir");
    // Initialise the configuration, then stop. SIGTERM right after the port line must be a
    // graceful stop (exit status 0): the handlers are in place before the port is printed.
    let mut first = start_binary(dir.path());
    let fingerprint = first.fingerprint.clone();
    first.terminate();
    let ini = dir.path().join("cfg/smp-server.ini");
    let text = std::fs::read_to_string(&ini).expect("read ini");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("port = ") {
                "port = 0,0"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&ini, text).expect("write ini");

    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(["start", "--listen", "127.0.0.1"])
        .env("SMP_SERVER_CFG_PATH", dir.path().join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.path().join("log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn smp-server");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ports = Vec::new();
    let mut line = String::new();
    while ports.len() < 2 {
        line.clear();
        if reader.read_line(&mut line).expect("read stdout") == 0 {
            break;
        }
        // The inactive-clients line comes after every port line.
        if line.contains("inactive") {
            break;
        }
        if let Some(rest) = line.strip_prefix("Serving SMP protocol on port ") {
            ports.push(
                rest.split(' ')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                    .expect("port"),
            );
        }
    }
    let _kill_on_exit = KillOnDrop(child);
    assert_eq!(ports.len(), 2, "two ports served: {ports:?}");
    assert_ne!(ports[0], ports[1]);

    let kh = parse_key_hash(fingerprint.as_bytes()).expect("fingerprint parses");
    for port in ports {
        let mut conn = raw_connect(
            ("127.0.0.1", port),
            &kh,
            &ClientTransportConfig::default(),
            None,
        )
        .await
        .expect("handshake");
        let v = conn.session.params.version;
        let sid = conn.session.params.session_id.clone();
        let ping =
            encode_transmission(v, &sid, &[2; 24], b"", &Cmd::Ping.to_bytes(v)).expect("encode");
        conn.writer
            .write_raw(&encode_block(&[ping]).expect("block"))
            .await
            .expect("write");
        let block = conn.reader.read_raw().await.expect("read").to_vec();
        let ts = decode_block(&block).expect("decode block");
        let t = RawTransmission::decode(v, ts[0]).expect("transmission");
        assert_eq!(
            Response::decode(v, t.command).expect("response"),
            Response::Pong,
            "port {port}"
        );
    }
}

/// Kills and reaps the child when the test ends, on every path.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
