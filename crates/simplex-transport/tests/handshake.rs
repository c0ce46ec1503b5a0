//! The SMP handshake over real TLS sockets on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use simplex_crypto::KeyHash;
use simplex_transport::credentials::{GeneratedCredentials, ServerCredentials, SignAlgorithm};
use simplex_transport::{
    connect, tls, ChainError, ClientTransportConfig, HandshakeError, ServerConnection,
    ServerTransport, SmpListener, TransportError,
};
use smp_proto::version::{Version, VersionRange};
use smp_proto::ClientHello;

fn generated(alg: SignAlgorithm) -> ServerCredentials {
    GeneratedCredentials::generate(alg, "localhost")
        .expect("generate")
        .server_credentials()
        .expect("credentials")
}

type Accepted = tokio::task::JoinHandle<Result<ServerConnection, TransportError>>;

async fn listen(transport: ServerTransport) -> (std::net::SocketAddr, Accepted) {
    let listener = SmpListener::bind("127.0.0.1:0", Arc::new(transport))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move { listener.accept().await });
    (addr, task)
}

async fn full_handshake(creds: ServerCredentials) {
    let transport = ServerTransport::new(&creds).expect("transport");
    let identity = transport.identity().clone();
    assert_eq!(identity, creds.identity().expect("identity"));
    let (addr, accepted) = listen(transport).await;
    let mut client = connect(addr, &identity, &ClientTransportConfig::default(), None)
        .await
        .expect("client handshake");
    let mut server = accepted.await.expect("join").expect("server handshake");

    let (c, s) = (&client.session, &server.session);
    assert_eq!(c.params.session_id.len(), 32);
    assert_eq!(c.params.session_id, s.params.session_id);
    assert_eq!(c.params.version, smp_proto::SERVER_VERSIONS.max);
    assert_eq!(s.params.version, smp_proto::SERVER_VERSIONS.max);
    assert!(s.alpn);
    assert_eq!(s.client_dh_key, None);
    // The client got the key the server signed, checked against the TLS certificate.
    assert_eq!(c.server_dh_key.as_ref(), Some(&s.dh_private.public_key()));
    assert_eq!(c.server_chain, creds.chain_der().expect("der"));

    // Blocks flow both ways after the handshake, each half in its own task.
    let (reader, writer) = (&mut server.reader, &mut server.writer);
    let echo = async move {
        let got = reader.read_block().await.expect("server read").to_vec();
        writer.write_block(&got).await.expect("server write");
    };
    let talk = async {
        client
            .writer
            .write_block(b"PING-ish")
            .await
            .expect("client write");
        let got = client
            .reader
            .read_block()
            .await
            .expect("client read")
            .to_vec();
        assert_eq!(got, b"PING-ish");
    };
    tokio::join!(echo, talk);
}

#[tokio::test]
async fn ed25519_handshake_negotiates_the_relay_max_with_signed_key() {
    full_handshake(generated(SignAlgorithm::Ed25519)).await;
}

#[tokio::test]
async fn ed448_handshake_negotiates_the_relay_max_with_signed_key() {
    full_handshake(generated(SignAlgorithm::Ed448)).await;
}

#[tokio::test]
async fn fixture_chain_handshake() {
    let (Some(ca), Some(crt), Some(key)) = (
        test_support::fixture("ca.crt", "fixture SMP handshake"),
        test_support::fixture("server.crt", "fixture SMP handshake"),
        test_support::fixture("server.key", "fixture SMP handshake"),
    ) else {
        return;
    };
    let creds = ServerCredentials::load(&ca, &crt, &key).expect("fixture");
    assert_eq!(
        creds.identity().expect("identity").to_string(),
        "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI="
    );
    full_handshake(creds).await;
}

#[tokio::test]
async fn wrong_identity_is_refused_by_the_client() {
    let transport = ServerTransport::new(&generated(SignAlgorithm::Ed25519)).expect("transport");
    let mut wrong = transport.identity().fingerprint().expect("32 bytes");
    wrong[31] ^= 0x80;
    let wrong = KeyHash::from(wrong);
    let (addr, accepted) = listen(transport).await;
    let err = connect(addr, &wrong, &ClientTransportConfig::default(), None)
        .await
        .expect_err("wrong identity");
    assert!(
        matches!(err, TransportError::Chain(ChainError::Fingerprint)),
        "{err:?}"
    );
    assert!(accepted.await.expect("join").is_err());
}

#[tokio::test]
async fn client_without_alpn_gets_the_v6_handshake() {
    let transport = ServerTransport::new(&generated(SignAlgorithm::Ed448)).expect("transport");
    let identity = transport.identity().clone();
    let (addr, accepted) = listen(transport).await;
    let config = ClientTransportConfig {
        alpn: Vec::new(),
        ..ClientTransportConfig::default()
    };
    let client = connect(addr, &identity, &config, None)
        .await
        .expect("client");
    let server = accepted.await.expect("join").expect("server");
    assert_eq!(client.session.params.version, Version(6));
    assert_eq!(server.session.params.version, Version(6));
    assert!(!server.session.alpn);
    assert_eq!(client.session.server_dh_key, None);
    assert_eq!(
        client.session.params.session_id,
        server.session.params.session_id
    );
}

#[tokio::test]
async fn no_common_version_fails_on_the_client() {
    let transport = ServerTransport::new(&generated(SignAlgorithm::Ed25519))
        .expect("transport")
        .with_versions(VersionRange::new(Version(6), Version(9)).expect("range"));
    let identity = transport.identity().clone();
    let (addr, accepted) = listen(transport).await;
    let config = ClientTransportConfig {
        versions: VersionRange::new(Version(10), Version(12)).expect("range"),
        ..ClientTransportConfig::default()
    };
    let err = connect(addr, &identity, &config, None)
        .await
        .expect_err("no version");
    assert!(matches!(err, TransportError::Version), "{err:?}");
    let server_err = accepted.await.expect("join").expect_err("client left");
    assert!(
        matches!(server_err, TransportError::Closed),
        "{server_err:?}"
    );
}

#[tokio::test]
async fn server_refuses_a_client_hello_for_another_identity() {
    let transport = ServerTransport::new(&generated(SignAlgorithm::Ed25519)).expect("transport");
    let identity = transport.identity().clone();
    let (addr, accepted) = listen(transport).await;
    // A hand-made client: correct TLS pin, but its hello names another server.
    let ctx = tls::client_context(true).expect("ctx");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let (stream, _) = tls::connect(&ctx, tcp, &identity).await.expect("tls");
    let (r, w) = tokio::io::split(stream);
    let mut reader = simplex_transport::BlockReader::new(r);
    let mut writer = simplex_transport::BlockWriter::new(w);
    reader.read_raw().await.expect("server hello");
    let hello = ClientHello {
        version: Version(9),
        key_hash: KeyHash::from([7; 32]),
        dh_key: None,
        proxy_server: false,
        client_service: None,
    };
    writer
        .write_raw(&hello.encode_block().expect("encode"))
        .await
        .expect("write");
    let err = accepted.await.expect("join").expect_err("identity");
    assert!(
        matches!(err, TransportError::Handshake(HandshakeError::Identity)),
        "{err:?}"
    );
}

#[tokio::test]
async fn silent_client_times_out() {
    let transport = ServerTransport::new(&generated(SignAlgorithm::Ed25519))
        .expect("transport")
        .with_handshake_timeout(Duration::from_millis(200));
    let (addr, accepted) = listen(transport).await;
    let _tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let err = accepted.await.expect("join").expect_err("timeout");
    assert!(matches!(err, TransportError::Timeout), "{err:?}");
}
