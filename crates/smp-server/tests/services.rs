//! SMP v16 service sessions over real TLS, against the relay at its default range (6–18):
//! a notifier service connecting with a TLS client certificate gets its service ID in the
//! handshake's third block; `NSUB` associates a queue with it (`SOK <service ID>`); after a
//! reconnect `NSUBS` subscribes its queues (`SOKS n`) and the earlier session gets `ENDS n`;
//! the store log keeps the service and its queues across a restart; a certificate known in
//! another role fails the handshake; `SUBS` is `ERR CMD PROHIBITED`, as from the reference.
//! Beside it, a v18 client and a v9 client share the relay.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{connect, ed_key, new_queue, next_event, next_msg};
use rand::rngs::OsRng;
use simplex_crypto::{PrivateAuthKey, PrivateKeyX25519};
use simplex_transport::handshake::ServiceCredentials;
use simplex_transport::{
    GeneratedCredentials, HandshakeError, ServerCredentials, SignAlgorithm, TransportError,
};
use smp_client::{ClientConfig, ClientError, ServerEvent, SmpClient};
use smp_proto::command::{Command, MsgFlags, SubscriptionMode};
use smp_proto::error::{CommandError, ErrorType};
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_proto::version::{Version, VersionRange};
use smp_proto::{ServiceRole, SmpServer};
use smp_server::msg_store::DEFAULT_QUOTA;
use smp_server::testing::{PersistentServer, TestServer, STORE_LOG_FILE};
use tokio::sync::mpsc;

const NOTIFY: MsgFlags = MsgFlags { notification: true };

fn service_creds() -> Arc<ServerCredentials> {
    Arc::new(
        GeneratedCredentials::generate(SignAlgorithm::Ed25519, "ntf service")
            .expect("generate")
            .server_credentials()
            .expect("credentials"),
    )
}

async fn connect_service(
    server: &SmpServer,
    role: ServiceRole,
    creds: &Arc<ServerCredentials>,
) -> Result<(SmpClient, mpsc::Receiver<ServerEvent>), ClientError> {
    let mut config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    config.transport.service = Some(ServiceCredentials {
        role,
        creds: creds.clone(),
    });
    SmpClient::connect(server, config).await
}

fn is_err<T: std::fmt::Debug>(r: Result<T, ClientError>, expected: ErrorType) {
    match r {
        Err(ClientError::Server(e)) if e == expected => {}
        other => panic!("expected ERR {expected:?}, got {other:?}"),
    }
}

/// A queue with notifications on: the recipient's queue and the notifier's key and ID.
async fn queue_with_notifier(rcv: &SmpClient) -> (common::Queue, PrivateAuthKey, Vec<u8>) {
    let q = new_queue(rcv, ed_key(), SubscriptionMode::Subscribe).await;
    let ntf_key = ed_key();
    let ntf_dh = PrivateKeyX25519::generate(&mut OsRng);
    let (nid, _) = rcv
        .enable_notifications(
            &q.rcv_key,
            &q.rcv_id,
            &ntf_key.public_key(),
            &ntf_dh.public_key(),
        )
        .await
        .expect("NKEY");
    (q, ntf_key, nid)
}

/// Sends a notifying message, takes it on the recipient's side, and expects `NMSG` on
/// `ntf_events`.
async fn deliver(
    snd: &SmpClient,
    rcv: &SmpClient,
    rcv_events: &mut mpsc::Receiver<ServerEvent>,
    q: &common::Queue,
    nid: &[u8],
    ntf_events: &mut mpsc::Receiver<ServerEvent>,
) {
    snd.send_message(None, &q.snd_id, NOTIFY, b"hello")
        .await
        .expect("SEND");
    let (msg_id, _) = next_msg(rcv_events, q).await;
    rcv.ack(&q.rcv_key, &q.rcv_id, &msg_id).await.expect("ACK");
    let ev = next_event(ntf_events).await;
    assert_eq!(ev.entity_id, nid, "NMSG for the notifier");
    assert!(
        matches!(ev.response, Response::Nmsg { .. }),
        "{:?}",
        ev.response.tag()
    );
}

/// Nothing arrives on `events` within a short wait (used only after a push that would
/// have come first).
async fn quiet(events: &mut mpsc::Receiver<ServerEvent>) {
    if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(300), events.recv()).await {
        panic!("unexpected {:?}", ev.response.tag());
    }
}

#[tokio::test]
async fn a_v18_client_and_a_v9_client_share_the_relay() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let (new, mut new_events) = connect(server.address()).await;
    assert_eq!(new.version(), Version(18), "the relay offers 6-18");
    assert!(new.block_encryption());
    let mut config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    config.transport.versions = VersionRange::new(Version(6), Version(9)).expect("range");
    let (old, mut old_events) = SmpClient::connect(server.address(), config)
        .await
        .expect("v9 client");
    assert_eq!(old.version(), Version(9));
    assert!(!old.block_encryption());
    // Each way: a queue made by one client, written to by the other.
    let q_old = new_queue(&old, ed_key(), SubscriptionMode::Subscribe).await;
    let q_new = new_queue(&new, ed_key(), SubscriptionMode::Subscribe).await;
    new.send_message(None, &q_old.snd_id, MsgFlags::default(), b"to v9")
        .await
        .expect("SEND from v18");
    old.send_message(None, &q_new.snd_id, MsgFlags::default(), b"to v18")
        .await
        .expect("SEND from v9");
    let (_, body) = next_msg(&mut old_events, &q_old).await;
    assert!(matches!(body, RcvMsgBody::Data { body, .. } if body == b"to v9"));
    let (_, body) = next_msg(&mut new_events, &q_new).await;
    assert!(matches!(body, RcvMsgBody::Data { body, .. } if body == b"to v18"));
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_notifier_service_associates_queues_and_a_later_session_takes_them_over() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let (rcv, mut rcv_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    let (q, ntf_key, nid) = queue_with_notifier(&rcv).await;
    let creds = service_creds();
    let (svc1, mut svc1_events) = connect_service(server.address(), ServiceRole::Notifier, &creds)
        .await
        .expect("service session");
    let sid = svc1
        .service_id()
        .expect("a service ID in the handshake")
        .to_vec();
    assert_eq!(sid.len(), 24);
    // NSUB signed by the notifier key and the service key associates the queue.
    let r = svc1
        .subscribe_notifications_as_service(&ntf_key, &nid)
        .await;
    assert_eq!(r.expect("NSUB"), Some(sid.clone()));
    // A retried NSUB is answered the same.
    let r = svc1
        .subscribe_notifications_as_service(&ntf_key, &nid)
        .await;
    assert_eq!(r.expect("NSUB again"), Some(sid.clone()));
    deliver(&snd, &rcv, &mut rcv_events, &q, &nid, &mut svc1_events).await;
    // A second queue, associated too.
    let (q2, ntf_key2, nid2) = queue_with_notifier(&rcv).await;
    svc1.subscribe_notifications_as_service(&ntf_key2, &nid2)
        .await
        .expect("NSUB 2");

    // A later session of the same service: the same ID; NSUBS takes both queues over and
    // the first session is told how many it lost.
    let (svc2, mut svc2_events) = connect_service(server.address(), ServiceRole::Notifier, &creds)
        .await
        .expect("second service session");
    assert_eq!(svc2.service_id(), Some(sid.as_slice()));
    assert_eq!(
        svc2.subscribe_service_notifications().await.expect("NSUBS"),
        2
    );
    let ev = next_event(&mut svc1_events).await;
    assert_eq!(ev.entity_id, sid);
    assert_eq!(ev.response, Response::Ends(2));
    // NSUBS again on the same session: the same count.
    assert_eq!(
        svc2.subscribe_service_notifications().await.expect("NSUBS"),
        2
    );
    deliver(&snd, &rcv, &mut rcv_events, &q2, &nid2, &mut svc2_events).await;
    deliver(&snd, &rcv, &mut rcv_events, &q, &nid, &mut svc2_events).await;
    quiet(&mut svc1_events).await;
    // The recipient deletes a notifier: the service's session gets DELD for it.
    rcv.disable_notifications(&q.rcv_key, &q.rcv_id)
        .await
        .expect("NDEL");
    let ev = next_event(&mut svc2_events).await;
    assert_eq!((ev.entity_id, ev.response), (nid.clone(), Response::Deld));
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn service_roles_and_signatures_are_checked() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let (rcv, _rcv_events) = connect(server.address()).await;
    let (_q, ntf_key, nid) = queue_with_notifier(&rcv).await;
    let msg_creds = service_creds();
    let (msg_svc, _e) = connect_service(server.address(), ServiceRole::Messaging, &msg_creds)
        .await
        .expect("messaging service");
    let msg_sid = msg_svc.service_id().expect("service ID").to_vec();
    // SUBS is not served, as by the reference.
    is_err(
        msg_svc.subscribe_service_queues().await,
        ErrorType::Cmd(CommandError::Prohibited),
    );
    // A notifier's commands are not a messaging service's.
    is_err(
        msg_svc
            .subscribe_notifications_as_service(&ntf_key, &nid)
            .await,
        ErrorType::Cmd(CommandError::Prohibited),
    );
    is_err(
        msg_svc.subscribe_service_notifications().await,
        ErrorType::Cmd(CommandError::Prohibited),
    );
    // A messaging service's NEW (service-signed) makes a queue of the service.
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let key = ed_key();
    let ids = msg_svc
        .create_queue(
            &key,
            &dh.public_key(),
            None,
            SubscriptionMode::Subscribe,
            true,
        )
        .await
        .expect("NEW from a service");
    assert_eq!(
        ids.service_id.as_ref().map(|s| s.as_slice()),
        Some(msg_sid.as_slice())
    );
    // ...but only subscribed.
    is_err(
        msg_svc
            .create_queue(
                &key,
                &dh.public_key(),
                None,
                SubscriptionMode::OnlyCreate,
                true,
            )
            .await,
        ErrorType::Cmd(CommandError::Prohibited),
    );
    // A notifier service may not SUB.
    let ntf_creds = service_creds();
    let (ntf_svc, _e2) = connect_service(server.address(), ServiceRole::Notifier, &ntf_creds)
        .await
        .expect("notifier service");
    is_err(
        ntf_svc.subscribe(&key, ids.rcv_id.as_slice()).await,
        ErrorType::Cmd(CommandError::Prohibited),
    );
    // NSUBS signed with a key that is not the service's: ERR SERVICE.
    let sid = ntf_svc.service_id().expect("service ID").to_vec();
    is_err(
        ntf_svc
            .send_command(Some(&ed_key()), &sid, Command::NSubs)
            .await,
        ErrorType::Service,
    );
    // A client without a service: NSUBS is ERR SERVICE.
    is_err(
        rcv.send_command(Some(&ed_key()), &sid, Command::NSubs)
            .await,
        ErrorType::Service,
    );
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_certificate_known_in_another_role_fails_the_handshake() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let creds = service_creds();
    let (svc, _e) = connect_service(server.address(), ServiceRole::Notifier, &creds)
        .await
        .expect("notifier service");
    assert!(svc.service_id().is_some());
    match connect_service(server.address(), ServiceRole::Messaging, &creds).await {
        Err(ClientError::Transport(TransportError::Handshake(HandshakeError::BadService))) => {}
        other => panic!(
            "expected HANDSHAKE BAD_SERVICE, got {:?}",
            other.map(|_| ())
        ),
    }
    // The relay still serves everyone else.
    let (plain, _e2) = connect(server.address()).await;
    plain.ping().await.expect("PING");
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn services_and_their_queues_survive_a_restart_in_the_store_log() {
    let dir = tempfile::tempdir().expect("dir");
    let mut server = PersistentServer::start(dir.path(), DEFAULT_QUOTA)
        .await
        .expect("relay");
    let creds = service_creds();
    let (q, nid, sid) = {
        let (rcv, _rcv_events) = connect(server.address()).await;
        let (q, ntf_key, nid) = queue_with_notifier(&rcv).await;
        let (svc, _svc_events) = connect_service(server.address(), ServiceRole::Notifier, &creds)
            .await
            .expect("service");
        let sid = svc.service_id().expect("service ID").to_vec();
        svc.subscribe_notifications_as_service(&ntf_key, &nid)
            .await
            .expect("NSUB");
        (q, nid, sid)
    };
    server.down().await.expect("down");
    let log = std::fs::read_to_string(dir.path().join(STORE_LOG_FILE)).expect("store log");
    let b64 = simplex_encoding::string::base64url_encode;
    assert!(
        log.lines().any(|l| l.starts_with(&format!(
            "NEW_SERVICE service_id={} role=N cert=",
            b64(&sid)
        ))),
        "{log}"
    );
    server.up().await.expect("up");
    // Compacted at start: the service first, then the queue with its notifier's service.
    let log = std::fs::read_to_string(dir.path().join(STORE_LOG_FILE)).expect("store log");
    let first = log.lines().next().expect("a line");
    assert!(first.starts_with("NEW_SERVICE "), "{log}");
    assert!(log.contains(&format!(" nsrv={}", b64(&sid))), "{log}");
    let (rcv, mut rcv_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    rcv.subscribe(&q.rcv_key, &q.rcv_id).await.expect("SUB");
    let (svc, mut svc_events) = connect_service(server.address(), ServiceRole::Notifier, &creds)
        .await
        .expect("service after restart");
    assert_eq!(svc.service_id(), Some(sid.as_slice()), "the same service");
    assert_eq!(
        svc.subscribe_service_notifications().await.expect("NSUBS"),
        1
    );
    deliver(&snd, &rcv, &mut rcv_events, &q, &nid, &mut svc_events).await;
    server.down().await.expect("down");
}
