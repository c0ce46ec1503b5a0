//! The relay offering v6–v14 (`TestServer::start_with_versions`; its default range stays
//! v6–v9 until the later versions' server duties are all in place): encrypted blocks (v11)
//! carry the whole queue life cycle and the v11 message size, `DELD` (v10) reaches the
//! subscriber and the notifier on other connections (`END` for a v9 client), and private
//! routing works between two such relays (the proxy says so in its hello, v14, and does not
//! encrypt blocks).

mod common;

use std::time::Duration;

use common::{ed_key, new_queue, next_event, next_msg};
use rand::rngs::OsRng;
use simplex_crypto::{PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519};
use smp_client::{ClientConfig, ClientError, ServerEvent, SmpClient};
use smp_proto::command::{Command, MsgFlags, SubscriptionMode};
use smp_proto::error::ErrorType;
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_proto::version::{Version, VersionRange};
use smp_proto::{max_message_length, SmpServer};
use smp_server::msg_store::DEFAULT_QUOTA;
use smp_server::testing::TestServer;
use tokio::sync::mpsc;

const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

fn v6_to_14() -> VersionRange {
    VersionRange::new(Version(6), Version(14)).expect("range")
}

async fn connect_with(
    server: &SmpServer,
    versions: VersionRange,
) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
    let mut config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    config.transport.versions = versions;
    SmpClient::connect(server, config).await.expect("connect")
}

async fn connect(server: &SmpServer) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
    connect_with(server, smp_proto::CLIENT_VERSIONS).await
}

fn body(b: &RcvMsgBody) -> &[u8] {
    match b {
        RcvMsgBody::Data { body, .. } => body,
        RcvMsgBody::Quota { .. } => panic!("quota marker"),
    }
}

#[tokio::test]
async fn encrypted_blocks_carry_the_queue_life_cycle_and_v11_message_size() {
    let server = TestServer::start_with_versions(DEFAULT_QUOTA, v6_to_14())
        .await
        .expect("relay");
    let (rcv, mut events) = connect(server.address()).await;
    let (snd, _e) = connect(server.address()).await;
    assert_eq!(rcv.version(), Version(14));
    assert!(rcv.block_encryption() && snd.block_encryption());
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::Subscribe).await;
    snd.send_message(None, &q.snd_id, QUIET, b"first")
        .await
        .expect("SEND");
    let (id, b) = next_msg(&mut events, &q).await;
    assert_eq!(body(&b), b"first");
    let snd_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    rcv.secure_queue(&q.rcv_key, &q.rcv_id, &snd_key.public_key())
        .await
        .expect("KEY");
    rcv.ack(&q.rcv_key, &q.rcv_id, &id).await.expect("ACK");
    // The largest body v11 allows fills an encrypted block; one byte more is refused.
    let largest = vec![0x42; max_message_length(Version(14))];
    assert_eq!(largest.len(), 16_048);
    snd.send_message(Some(&snd_key), &q.snd_id, QUIET, &largest)
        .await
        .expect("largest SEND");
    let (_, b) = next_msg(&mut events, &q).await;
    assert_eq!(body(&b), &largest[..]);
    let err = snd
        .send_message(Some(&snd_key), &q.snd_id, QUIET, &[0x42; 16_049])
        .await
        .expect_err("one byte more");
    assert!(
        matches!(err, ClientError::Server(ErrorType::LargeMsg)),
        "{err:?}"
    );
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn deld_goes_to_the_subscriber_and_notifier_on_other_connections() {
    let server = TestServer::start_with_versions(DEFAULT_QUOTA, v6_to_14())
        .await
        .expect("relay");
    for (versions, expected) in [
        (smp_proto::CLIENT_VERSIONS, Response::Deld),
        (
            VersionRange::new(Version(6), Version(9)).expect("range"),
            Response::End,
        ),
    ] {
        // The subscriber and the notifier speak `versions`; the deleter is another client.
        let (sub, mut sub_events) = connect_with(server.address(), versions).await;
        let (ntf, mut ntf_events) = connect_with(server.address(), versions).await;
        let (deleter, _d) = connect(server.address()).await;
        let q = new_queue(&sub, ed_key(), SubscriptionMode::Subscribe).await;
        let ntf_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
        let ntf_dh = PrivateKeyX25519::generate(&mut OsRng).public_key();
        let (nid, _) = sub
            .enable_notifications(&q.rcv_key, &q.rcv_id, &ntf_key.public_key(), &ntf_dh)
            .await
            .expect("NID");
        ntf.subscribe_notifications(&ntf_key, &nid)
            .await
            .expect("NSUB");
        deleter.delete(&q.rcv_key, &q.rcv_id).await.expect("DEL");
        let ev = next_event(&mut sub_events).await;
        assert_eq!(
            (ev.entity_id, ev.response),
            (q.rcv_id.clone(), expected.clone())
        );
        let ev = next_event(&mut ntf_events).await;
        assert_eq!((ev.entity_id, ev.response), (nid, expected.clone()));
        // The deleter itself, subscribed, gets only its OK.
        let q2 = new_queue(&deleter, ed_key(), SubscriptionMode::Subscribe).await;
        deleter.delete(&q2.rcv_key, &q2.rcv_id).await.expect("DEL");
    }
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn private_routing_between_v14_relays() {
    let a = TestServer::start_with_versions(DEFAULT_QUOTA, v6_to_14())
        .await
        .expect("relay");
    let b = TestServer::start_with_versions(DEFAULT_QUOTA, v6_to_14())
        .await
        .expect("relay");
    let (rcv, mut events) = connect(b.address()).await;
    let (s, _e) = connect(a.address()).await;
    assert!(s.block_encryption());
    let relay = s.proxy_session(b.address(), None).await.expect("PKEY");
    assert_eq!(relay.version, Version(14));
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::Subscribe).await;
    s.proxy_send(&relay, None, &q.snd_id, QUIET, b"via the proxy")
        .await
        .expect("SEND via proxy");
    let (_, b2) = next_msg(&mut events, &q).await;
    assert_eq!(body(&b2), b"via the proxy");
    // Reading a short link through the proxy needs a v15 relay: refused before sending.
    assert!(matches!(
        s.proxy_get_link(&relay, &[1; 24]).await,
        Err(ClientError::Unsupported(_))
    ));
    a.stop().await.expect("stopped");
    b.stop().await.expect("stopped");
}

#[tokio::test]
async fn sub_and_nsub_answer_sok_from_v16_and_ok_before() {
    // A relay offering v16 only for this check: its other v15–v16 duties are not served.
    let range = VersionRange::new(Version(6), Version(16)).expect("range");
    let server = TestServer::start_with_versions(DEFAULT_QUOTA, range)
        .await
        .expect("relay");
    for (client_max, expected) in [(16, Response::Sok(None)), (14, Response::Ok)] {
        let versions = VersionRange::new(Version(6), Version(client_max)).expect("range");
        let (c, _events) = connect_with(server.address(), versions).await;
        assert_eq!(c.version(), Version(client_max));
        let q = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
        let r = c
            .send_command(Some(&q.rcv_key), &q.rcv_id, Command::Sub)
            .await
            .expect("SUB");
        assert_eq!(r, expected, "SUB at v{client_max}");
        let ntf_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
        let ntf_dh = PrivateKeyX25519::generate(&mut OsRng).public_key();
        let (nid, _) = c
            .enable_notifications(&q.rcv_key, &q.rcv_id, &ntf_key.public_key(), &ntf_dh)
            .await
            .expect("NID");
        let r = c
            .send_command(Some(&ntf_key), &nid, Command::NSub)
            .await
            .expect("NSUB");
        assert_eq!(r, expected, "NSUB at v{client_max}");
    }
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_queue_blocked_in_the_store_log_answers_blocked_from_v12() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = smp_server::testing::PersistentServer::start(dir.path(), DEFAULT_QUOTA)
        .await
        .expect("relay");
    let (c, _e) = connect(server.address()).await;
    let q = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    c.close().await;
    server.down().await.expect("down");
    // The operator blocks the queue (the reference's store-log record).
    let log = dir.path().join(smp_server::testing::STORE_LOG_FILE);
    let mut text = std::fs::read_to_string(&log).expect("store log");
    text.push_str(&format!(
        "BLOCK {} reason=content\n",
        simplex_encoding::string::base64url_encode(&q.rcv_id)
    ));
    std::fs::write(&log, text).expect("append");
    server.up().await.expect("up");
    let blocked = ErrorType::Blocked(smp_proto::error::BlockingInfo {
        reason: smp_proto::error::BlockingReason::Content,
        notice: None,
    });
    for (max, expected) in [(14, blocked), (11, ErrorType::Auth)] {
        let versions = VersionRange::new(Version(6), Version(max)).expect("range");
        let (c, _e) = connect_with(server.address(), versions).await;
        let err = c
            .subscribe(&q.rcv_key, &q.rcv_id)
            .await
            .expect_err("blocked");
        assert!(
            matches!(&err, ClientError::Server(e) if *e == expected),
            "SUB at v{max}: {err:?}"
        );
        let err = c
            .send_message(None, &q.snd_id, QUIET, b"x")
            .await
            .expect_err("blocked");
        assert!(
            matches!(&err, ClientError::Server(e) if *e == expected),
            "SEND at v{max}: {err:?}"
        );
    }
    server.down().await.expect("down");
}
