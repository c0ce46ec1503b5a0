//! The TLS layer over real sockets on 127.0.0.1: policy, pinning, ALPN, session IDs,
//! no resumption, blocks both ways.

use std::sync::{Arc, Mutex};

use openssl::ssl::{SslContext, SslMethod, SslSessionCacheMode, SslVersion};
use simplex_transport::credentials::{GeneratedCredentials, ServerCredentials, SignAlgorithm};
use simplex_transport::{tls, BlockReader, BlockWriter, ChainError, TlsInfo, TransportError};
use tokio::net::{TcpListener, TcpStream};

type Server = tokio::task::JoinHandle<Result<(tls::TlsStream, TlsInfo), TransportError>>;

async fn serve_one(creds: &ServerCredentials) -> (std::net::SocketAddr, Server) {
    let ctx = tls::server_context(creds).expect("server context");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tls::accept(&ctx, tcp).await
    });
    (addr, server)
}

async fn connect(
    addr: std::net::SocketAddr,
    alpn: bool,
    pin: simplex_crypto::KeyHash,
) -> Result<(tls::TlsStream, TlsInfo), TransportError> {
    let ctx = tls::client_context(alpn).expect("client context");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tls::connect(&ctx, tcp, &pin).await
}

fn generated(alg: SignAlgorithm) -> ServerCredentials {
    GeneratedCredentials::generate(alg, "localhost")
        .expect("generate")
        .server_credentials()
        .expect("credentials")
}

async fn check_handshake(creds: ServerCredentials) {
    let pin = creds.identity().expect("identity");
    let (addr, server) = serve_one(&creds).await;
    let (client, cinfo) = connect(addr, true, pin).await.expect("client handshake");
    let (server, sinfo) = server.await.expect("join").expect("server handshake");
    assert_eq!(cinfo.session_id.len(), 32);
    assert_eq!(cinfo.session_id, sinfo.session_id);
    assert!(cinfo.has_smp_alpn() && sinfo.has_smp_alpn());
    assert!(!cinfo.resumed && !sinfo.resumed);
    assert_eq!(cinfo.peer_chain, creds.chain_der().expect("der"));
    let ssl = client.ssl();
    assert_eq!(ssl.version2(), Some(SslVersion::TLS1_3));
    assert_eq!(
        ssl.current_cipher()
            .map(|c| c.standard_name().unwrap_or_default().to_owned()),
        Some(tls::CIPHER_SUITE.to_owned())
    );

    // Blocks flow both ways, from split halves.
    let (cr, cw) = tokio::io::split(client);
    let (sr, sw) = tokio::io::split(server);
    let (mut cr, mut cw) = (BlockReader::new(cr), BlockWriter::new(cw));
    let (mut sr, mut sw) = (BlockReader::new(sr), BlockWriter::new(sw));
    let echo = tokio::spawn(async move {
        for _ in 0..3 {
            let block = sr.read_block().await.expect("server read").to_vec();
            sw.write_block(&block).await.expect("server write");
        }
        sr
    });
    for msg in [&b"one"[..], &[0x55; 16_000][..], b""] {
        cw.write_block(msg).await.expect("client write");
        assert_eq!(cr.read_block().await.expect("client read"), msg);
    }
    let mut sr = echo.await.expect("echo");
    cw.shutdown().await.expect("close_notify");
    assert!(matches!(sr.read_block().await, Err(TransportError::Closed)));
}

#[tokio::test]
async fn handshake_with_generated_ed25519_chain() {
    check_handshake(generated(SignAlgorithm::Ed25519)).await;
}

#[tokio::test]
async fn handshake_with_generated_ed448_chain() {
    check_handshake(generated(SignAlgorithm::Ed448)).await;
}

#[tokio::test]
async fn handshake_with_fixture_chain_has_fixture_identity() {
    let (Some(ca), Some(crt), Some(key)) = (
        test_support::fixture("ca.crt", "fixture handshake"),
        test_support::fixture("server.crt", "fixture handshake"),
        test_support::fixture("server.key", "fixture handshake"),
    ) else {
        return;
    };
    let creds = ServerCredentials::load(&ca, &crt, &key).expect("fixture");
    let id = creds.identity().expect("identity");
    assert_eq!(
        id.to_string(),
        "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI="
    );
    check_handshake(creds).await;
}

#[tokio::test]
async fn wrong_fingerprint_is_refused() {
    let creds = generated(SignAlgorithm::Ed25519);
    let mut fp = creds
        .identity()
        .expect("identity")
        .fingerprint()
        .expect("32 bytes");
    fp[0] ^= 1;
    let (addr, server) = serve_one(&creds).await;
    let err = connect(addr, true, fp.into()).await.expect_err("wrong pin");
    assert!(
        matches!(err, TransportError::Chain(ChainError::Fingerprint)),
        "{err:?}"
    );
    assert!(server.await.expect("join").is_err());
}

#[tokio::test]
async fn key_hash_of_another_length_is_refused() {
    // A key hash is any byte string (the reference's test relays use 4 bytes, short links to
    // preset relays none); only a 32-byte one can match a certificate.
    let creds = generated(SignAlgorithm::Ed25519);
    let id = creds.identity().expect("identity");
    for short in [&id.as_bytes()[..4], &[][..]] {
        let pin = simplex_crypto::KeyHash::from_slice(short).expect("key hash");
        let (addr, server) = serve_one(&creds).await;
        let err = connect(addr, true, pin).await.expect_err("short pin");
        assert!(
            matches!(err, TransportError::Chain(ChainError::Fingerprint)),
            "{err:?}"
        );
        assert!(server.await.expect("join").is_err());
    }
}

#[tokio::test]
async fn chain_of_another_server_is_refused() {
    // Pinning the right CA but the server presents a leaf signed by another CA.
    let a = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "a").expect("a");
    let b = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "b").expect("b");
    let mut chain = openssl::x509::X509::stack_from_pem(&b.server_cert_pem).expect("leaf");
    chain.extend(openssl::x509::X509::stack_from_pem(&a.ca_cert_pem).expect("ca"));
    let key = openssl::pkey::PKey::private_key_from_pem(&b.server_key_pem).expect("key");
    let creds = ServerCredentials::new(chain, key).expect("mixed chain");
    let (addr, _server) = serve_one(&creds).await;
    let err = connect(addr, true, a.fingerprint)
        .await
        .expect_err("bad chain");
    assert!(
        matches!(err, TransportError::Chain(ChainError::Verify(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_without_alpn_gets_no_alpn() {
    let creds = generated(SignAlgorithm::Ed448);
    let pin = creds.identity().expect("identity");
    let (addr, server) = serve_one(&creds).await;
    let (_client, cinfo) = connect(addr, false, pin).await.expect("client");
    let (_server, sinfo) = server.await.expect("join").expect("server");
    assert_eq!(cinfo.alpn, None);
    assert_eq!(sinfo.alpn, None);
    assert!(!sinfo.has_smp_alpn());
    assert_eq!(cinfo.session_id, sinfo.session_id);
}

#[tokio::test]
async fn second_connection_does_not_resume() {
    let creds = generated(SignAlgorithm::Ed25519);
    let server_ctx = tls::server_context(&creds).expect("server context");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut infos = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.expect("accept");
            let (mut s, info) = tls::accept(&server_ctx, tcp).await.expect("accept tls");
            // Let the client see any ticket the server might send after the handshake.
            use tokio::io::AsyncWriteExt;
            s.write_all(b"x").await.expect("write");
            s.shutdown().await.expect("shutdown");
            infos.push(info);
        }
        infos
    });

    // A client that would resume if it could: client session cache on, sessions collected.
    let sessions = Arc::new(Mutex::new(Vec::new()));
    let mut b = SslContext::builder(SslMethod::tls_client()).expect("builder");
    b.set_min_proto_version(Some(SslVersion::TLS1_3))
        .expect("min");
    b.set_ciphersuites(tls::CIPHER_SUITE).expect("suite");
    b.set_session_cache_mode(SslSessionCacheMode::CLIENT);
    let seen = sessions.clone();
    b.set_new_session_callback(move |_ssl, session| {
        seen.lock().expect("lock").push(session);
    });
    b.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let ctx = b.build();
    for _ in 0..2 {
        // Resuming needs a ticket: `set_session` is `unsafe` in the openssl crate, so the
        // test checks the cause instead (no ticket ever reaches the client) and the effect.
        let ssl = openssl::ssl::Ssl::new(&ctx).expect("ssl");
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).expect("stream");
        std::pin::Pin::new(&mut stream)
            .connect()
            .await
            .expect("connect tls");
        let mut buf = Vec::new();
        use tokio::io::AsyncReadExt;
        let _ = stream.read_to_end(&mut buf).await;
        assert!(!stream.ssl().session_reused());
    }
    for info in server.await.expect("join") {
        assert!(!info.resumed);
    }
    assert!(
        sessions.lock().expect("lock").is_empty(),
        "the server issued a session ticket"
    );
}
