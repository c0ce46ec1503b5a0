//! Private message routing over real TLS: two relays in this process on 127.0.0.1, one the
//! proxy (A), one the destination (B); a recipient on B, senders through A.

use rand::rngs::OsRng;
use rand::RngCore;
use simplex_crypto::{dh_x25519, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519};
use smp_client::proxy::relay_from_pkey;
use smp_client::{
    decrypt_message, ClientConfig, ClientError, ProxiedRelay, ServerEvent, SmpClient,
};
use smp_proto::command::{Command, MsgFlags, SubscriptionMode};
use smp_proto::error::{
    BrokerErrorType, CommandError, ErrorType, HandshakeError, ProxyError, TransportError,
};
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_proto::{BasicAuth, SmpServer};
use smp_server::core::CoreConfig;
use smp_server::msg_store::{MsgStore, DEFAULT_QUOTA};
use smp_server::testing::TestServer;
use tokio::sync::mpsc;

/// A relay in this process, with `[AUTH] create_password` when given.
async fn relay(password: Option<&str>) -> TestServer {
    let config = CoreConfig {
        create_password: password.map(|p| p.as_bytes().to_vec()),
        ..CoreConfig::default()
    };
    TestServer::start_with(config, MsgStore::new(DEFAULT_QUOTA), 64)
        .await
        .expect("relay")
}

async fn connect(server: &SmpServer) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
    SmpClient::connect(server, ClientConfig::default())
        .await
        .expect("connect")
}

fn ed_key() -> PrivateAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng))
}

fn x_key() -> PrivateAuthKey {
    PrivateAuthKey::X25519(PrivateKeyX25519::generate(&mut OsRng))
}

const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

/// A subscribed queue on a relay, secured by its sender (v9).
struct Queue {
    rcv_key: PrivateAuthKey,
    rcv_id: Vec<u8>,
    snd_id: Vec<u8>,
    dh: simplex_crypto::DhSecretX25519,
}

async fn new_queue(rcv: &SmpClient) -> Queue {
    let rcv_key = ed_key();
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let ids = rcv
        .create_queue(
            &rcv_key,
            &dh.public_key(),
            None,
            SubscriptionMode::Subscribe,
            true,
        )
        .await
        .expect("NEW");
    Queue {
        rcv_key,
        rcv_id: ids.rcv_id.into_vec(),
        snd_id: ids.snd_id.into_vec(),
        dh: dh_x25519(&ids.rcv_public_dh_key, &dh),
    }
}

/// The next message on `q`, decrypted, acknowledged.
async fn receive(rcv: &SmpClient, events: &mut mpsc::Receiver<ServerEvent>, q: &Queue) -> Vec<u8> {
    let ev = events.recv().await.expect("an event");
    assert_eq!(ev.entity_id, q.rcv_id);
    let Response::Msg(m) = ev.response else {
        panic!("expected MSG, got {:?}", ev.response.tag());
    };
    let body = match decrypt_message(&q.dh, &m).expect("decrypts") {
        RcvMsgBody::Data { body, .. } => body,
        RcvMsgBody::Quota { .. } => panic!("quota marker"),
    };
    rcv.ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
        .await
        .expect("ACK");
    body
}

fn server_err<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorType {
    match r {
        Err(ClientError::Server(e)) => e,
        other => panic!("expected ERR, got {other:?}"),
    }
}

fn proxy_err(p: ProxyError) -> ErrorType {
    ErrorType::Proxy(Box::new(p))
}

#[tokio::test]
async fn skey_and_send_through_a_proxy_arrive_and_one_session_serves_two_senders() {
    let a = relay(None).await;
    let b = relay(None).await;
    let (rcv, mut events) = connect(b.address()).await;
    let (s1, _e1) = connect(a.address()).await;
    let (s2, _e2) = connect(a.address()).await;

    let relay1 = s1
        .proxy_session(b.address(), None)
        .await
        .expect("PRXY -> PKEY");
    // The highest both offer, capped for proxied relays at v17 (`proxiedSMPRelayVersion`).
    assert_eq!(
        relay1.version,
        smp_proto::SERVER_VERSIONS
            .max
            .min(smp_proto::proxy::PROXIED_RELAY_VERSIONS.max),
        "our relays agree on their highest version through the proxy"
    );
    let relay2 = s2
        .proxy_session(b.address(), None)
        .await
        .expect("PRXY again");
    assert_eq!(
        relay1.session_id, relay2.session_id,
        "the proxy reuses its one session with the destination"
    );
    assert_eq!(relay1.server_key, relay2.server_key);

    // Two queues, secured through the proxy with each kind of sender key.
    for (sender, relay, snd_key) in [(&s1, &relay1, ed_key()), (&s2, &relay2, x_key())] {
        let q = new_queue(&rcv).await;
        // Before SKEY: an unsigned SEND through the proxy.
        sender
            .proxy_send(relay, None, &q.snd_id, QUIET, b"unsigned")
            .await
            .expect("unsigned SEND via proxy");
        assert_eq!(receive(&rcv, &mut events, &q).await, b"unsigned");
        sender
            .proxy_secure(relay, &snd_key, &q.snd_id)
            .await
            .expect("SKEY via proxy");
        sender
            .proxy_send(relay, Some(&snd_key), &q.snd_id, QUIET, b"hello via proxy")
            .await
            .expect("SEND via proxy");
        assert_eq!(receive(&rcv, &mut events, &q).await, b"hello via proxy");
        // The destination's own errors come back through both layers.
        assert_eq!(
            server_err(sender.proxy_send(relay, None, &q.snd_id, QUIET, b"x").await),
            ErrorType::Auth
        );
        assert_eq!(
            server_err(
                sender
                    .proxy_send(relay, Some(&ed_key()), &q.snd_id, QUIET, b"x")
                    .await
            ),
            ErrorType::Auth
        );
        // Only sender commands may be forwarded.
        assert_eq!(
            server_err(
                sender
                    .proxy_command(relay, Some(&q.rcv_key), &q.rcv_id, Command::Sub)
                    .await
            ),
            ErrorType::Cmd(CommandError::Prohibited)
        );
    }
    a.stop().await.expect("relay stopped");
    b.stop().await.expect("relay stopped");
}

#[tokio::test]
async fn a_pkey_for_another_relay_is_refused_and_a_wrong_fingerprint_cannot_connect() {
    let a = relay(None).await;
    let b = relay(None).await;
    let c = relay(None).await;
    let (s, _e) = connect(a.address()).await;
    // A proxy answering PRXY for B with C's session: the client refuses the PKEY.
    let pkey = s
        .send_command(
            None,
            &[],
            Command::Prxy {
                server: c.address().clone(),
                basic_auth: None,
            },
        )
        .await
        .expect("PKEY for C");
    assert!(matches!(pkey, Response::Pkey { .. }));
    let identity = proxy_err(ProxyError::Broker(BrokerErrorType::Transport(
        TransportError::Handshake(HandshakeError::Identity),
    )));
    assert_eq!(
        server_err(relay_from_pkey(b.address(), None, pkey.clone())),
        identity
    );
    relay_from_pkey(c.address(), None, pkey).expect("valid for C");
    // B's host and port with C's fingerprint: the proxy cannot connect (TLS pin).
    let wrong = SmpServer {
        key_hash: c.key_hash().clone(),
        ..b.address().clone()
    };
    let e = server_err(s.proxy_session(&wrong, None).await);
    assert!(
        matches!(&e, ErrorType::Proxy(p) if matches!(**p, ProxyError::Broker(BrokerErrorType::Network(_)))),
        "{e:?}"
    );
    a.stop().await.expect("relay stopped");
    b.stop().await.expect("relay stopped");
    c.stop().await.expect("relay stopped");
}

#[tokio::test]
async fn destination_down_is_a_proxy_error_and_basic_auth_is_checked() {
    let a = relay(Some("secret")).await;
    let b = relay(None).await;
    let (s, _e) = connect(a.address()).await;
    let auth = |p: &str| Some(BasicAuth::new(p.as_bytes()).expect("password"));
    assert_eq!(
        server_err(s.proxy_session(b.address(), None).await),
        proxy_err(ProxyError::BasicAuth)
    );
    assert_eq!(
        server_err(s.proxy_session(b.address(), auth("wrong")).await),
        proxy_err(ProxyError::BasicAuth)
    );
    let relay = s
        .proxy_session(b.address(), auth("secret"))
        .await
        .expect("the right password");
    let (rcv, _events) = connect(b.address()).await;
    let q = new_queue(&rcv).await;
    drop(rcv);
    let b_address = b.address().clone();
    b.stop().await.expect("relay stopped");
    // The destination is gone: forwarding fails with a proxy error, and so does a new PRXY.
    let e = server_err(s.proxy_send(&relay, None, &q.snd_id, QUIET, b"x").await);
    assert!(matches!(e, ErrorType::Proxy(_)), "{e:?}");
    let e = server_err(s.proxy_session(&b_address, auth("secret")).await);
    assert!(
        matches!(&e, ErrorType::Proxy(p) if matches!(**p, ProxyError::Broker(BrokerErrorType::Network(_)))),
        "{e:?}"
    );
    s.ping().await.expect("the proxy keeps serving");
    a.stop().await.expect("relay stopped");
}

#[tokio::test]
async fn tampered_forwarding_is_refused_and_both_relays_keep_serving() {
    let a = relay(None).await;
    let b = relay(None).await;
    let (rcv, mut events) = connect(b.address()).await;
    let (s, _e) = connect(a.address()).await;
    let relay = s.proxy_session(b.address(), None).await.expect("PKEY");
    let q = new_queue(&rcv).await;

    // PFWD whose client layer was tampered with: the destination cannot open it.
    let mut junk = vec![0u8; 16_242];
    OsRng.fill_bytes(&mut junk);
    let pfwd = Command::Pfwd {
        version: relay.version,
        dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        enc_transmission: junk,
    };
    assert_eq!(
        server_err(s.send_command(None, &relay.session_id, pfwd).await),
        proxy_err(ProxyError::Protocol(ErrorType::Crypto))
    );
    // A session the proxy does not have.
    let unknown = ProxiedRelay {
        session_id: vec![7; 32],
        ..relay.clone()
    };
    assert_eq!(
        server_err(s.proxy_send(&unknown, None, &q.snd_id, QUIET, b"x").await),
        proxy_err(ProxyError::NoSession)
    );
    // A session key that is not the destination's: the client's layer does not open there.
    let forged = ProxiedRelay {
        server_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        ..relay.clone()
    };
    assert_eq!(
        server_err(s.proxy_send(&forged, None, &q.snd_id, QUIET, b"x").await),
        proxy_err(ProxyError::Protocol(ErrorType::Crypto))
    );
    // RFWD from a client whose hello carried no DH key: no session secret to open it with.
    let conn = simplex_transport::handshake::connect(
        ("127.0.0.1", b.address().port_or_default()),
        &b.address().key_hash,
        &ClientConfig::default().transport,
        None,
    )
    .await
    .expect("handshake without a key");
    let (direct, _d) = SmpClient::start(conn, ClientConfig::default());
    assert_eq!(
        server_err(
            direct
                .send_command(None, &[], Command::Rfwd(vec![1; 100]))
                .await
        ),
        proxy_err(ProxyError::Broker(BrokerErrorType::Transport(
            TransportError::NoAuth
        )))
    );
    // RFWD from an ordinary client (its hello carries a key, as the reference's clients'
    // do): the junk does not open with that session's secret, as in the reference.
    let (keyed, _k) = connect(b.address()).await;
    assert_eq!(
        server_err(
            keyed
                .send_command(None, &[], Command::Rfwd(vec![1; 100]))
                .await
        ),
        ErrorType::Crypto
    );
    // Both keep serving.
    s.proxy_send(&relay, None, &q.snd_id, QUIET, b"still here")
        .await
        .expect("SEND via proxy after the errors");
    assert_eq!(receive(&rcv, &mut events, &q).await, b"still here");
    direct.ping().await.expect("destination serves");
    s.ping().await.expect("proxy serves");
    a.stop().await.expect("relay stopped");
    b.stop().await.expect("relay stopped");
}

/// The relay's own address with the host name `localhost`.
fn by_name(s: &TestServer) -> SmpServer {
    let text = s.address().to_string().replace("127.0.0.1", "localhost");
    SmpServer::parse_str(text.as_bytes()).expect("address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_reaches_destinations_through_its_socks_proxy_as_configured() {
    use smp_server::proxy::{ProxyConfig, SocksMode};
    use test_support::socks::SocksServer;
    let socks = SocksServer::start().await.expect("socks");
    let b = relay(None).await;
    let proxy_with = |mode| ProxyConfig {
        socks_proxy: Some(simplex_transport::socks::SocksProxy {
            addr: socks.addr(),
            auth: simplex_transport::socks::SocksAuth::Null,
        }),
        socks_mode: mode,
        ..ProxyConfig::default()
    };
    // `always`: a public destination goes through the SOCKS proxy, by name.
    let a = TestServer::start_with_proxy(proxy_with(SocksMode::Always))
        .await
        .expect("proxy relay");
    let (s, _) = connect(a.address()).await;
    s.proxy_session(&by_name(&b), None).await.expect("PKEY");
    let reqs = socks.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].host.as_str(), reqs[0].by_name),
        ("localhost", true)
    );
    assert_eq!((reqs[0].port, reqs[0].username.clone()), (b.port(), None));
    // `onion` (the default): only .onion hosts would; a public one is reached directly.
    let a2 = TestServer::start_with_proxy(proxy_with(SocksMode::Onion))
        .await
        .expect("proxy relay");
    let (s2, _) = connect(a2.address()).await;
    s2.proxy_session(&by_name(&b), None).await.expect("PKEY");
    assert_eq!(socks.requests().len(), 1, "no new SOCKS connection");
}
