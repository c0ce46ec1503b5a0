//! The web clients' handshake (SNI, ALPN `h2`, the `xftp-web-hello` and `xftp-handshake`
//! headers): the server signs the client's challenge with its online key, and a client
//! that skips the hello gets a padded `SESSION` error (the reference's `testWebHandshake`,
//! `testWebReHandshake`, `testStaleWebSession`).

use bytes::Bytes;
use h2::client::SendRequest;
use http::{Method, Request};
use openssl::ssl::Ssl;
use simplex_crypto::{PublicKeyEd25519, PublicSignKey};
use simplex_encoding::{unpad, Decode, Reader};
use simplex_transport::http2::{send_all, Body};
use simplex_transport::{GeneratedCredentials, SignAlgorithm};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;
use xftp_proto::handshake::{WEB_HANDSHAKE_HEADER, WEB_HELLO_HEADER};
use xftp_proto::transmission::{decode_client_block, encode_signed_command_block};
use xftp_proto::{
    FileCommand, FileResponse, Version, XftpClientHandshake, XftpClientHello, XftpErrorType,
    XftpServerHandshake, XFTP_BLOCK_SIZE,
};
use xftp_server::ServerConfig;

async fn post(send: &SendRequest<Bytes>, header: Option<&str>, body: Vec<u8>) -> Vec<u8> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("https://localhost/");
    if let Some(h) = header {
        req = req.header(h, "1");
    }
    let req = req.body(()).expect("request");
    let mut send = send.clone().ready().await.expect("ready");
    let (resp, mut stream) = send.send_request(req, false).expect("sent");
    send_all(&mut stream, Bytes::from(body), true)
        .await
        .expect("body");
    let resp = resp.await.expect("response");
    let mut body = Body::new(resp.into_body());
    body.read_head(XFTP_BLOCK_SIZE).await.expect("head")
}

#[tokio::test]
async fn web_clients_handshake_with_a_signed_challenge() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gen = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "localhost").expect("creds");
    let creds = gen.server_credentials().expect("creds");
    let cfg = ServerConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        tmp.path().join("files"),
    );
    let server = xftp_server::start(cfg, &creds).await.expect("starts");

    let ctx = simplex_transport::tls::client_context_with_alpn(&[b"h2".to_vec()]).expect("ctx");
    let mut ssl = Ssl::new(&ctx).expect("ssl");
    ssl.set_hostname("localhost").expect("SNI");
    let tcp = TcpStream::connect(server.addr).await.expect("tcp");
    let mut tls = SslStream::new(ssl, tcp).expect("stream");
    std::pin::Pin::new(&mut tls).connect().await.expect("TLS");
    let mut finished = [0u8; 64];
    let n = tls.ssl().finished(&mut finished);
    let session_id = finished[..n].to_vec();
    let (send, conn) = h2::client::handshake(tls).await.expect("h2");
    tokio::spawn(conn);

    // Without the hello header a web session is refused, with a padded error block.
    let block = post(&send, None, Vec::new()).await;
    assert_eq!(block.len(), XFTP_BLOCK_SIZE);
    let err = XftpErrorType::decode(&mut Reader::new(unpad(&block).expect("padded")));
    assert_eq!(err.expect("error"), XftpErrorType::Session);

    let challenge = [7u8; 32];
    for round in 0..2 {
        // The second round re-handshakes on the same connection.
        let hello = XftpClientHello {
            web_challenge: Some(challenge),
        };
        let block = post(
            &send,
            Some(WEB_HELLO_HEADER),
            hello.encode_block().expect("hello"),
        )
        .await;
        let hs = XftpServerHandshake::decode_block(&block).expect("server handshake");
        assert_eq!(
            hs.session_id.as_slice(),
            session_id.as_slice(),
            "round {round}"
        );
        let leaf = openssl::x509::X509::from_der(&hs.auth_pub_key.cert_chain[0]).expect("leaf");
        let raw = leaf
            .public_key()
            .expect("key")
            .raw_public_key()
            .expect("raw");
        let leaf_key = PublicSignKey::Ed25519(PublicKeyEd25519::from_raw(&raw).expect("ed25519"));
        assert!(
            hs.verify_identity_proof(&challenge, &leaf_key),
            "signed challenge"
        );
        assert!(!hs.verify_identity_proof(&[8u8; 32], &leaf_key));

        let reply = XftpClientHandshake {
            version: Version(3),
            key_hash: server.key_hash.clone(),
        };
        let block = post(
            &send,
            Some(WEB_HANDSHAKE_HEADER),
            reply.encode_block().expect("hs"),
        )
        .await;
        assert!(block.is_empty(), "accepted");

        let ping = encode_signed_command_block(
            Version(3),
            &session_id,
            b"",
            b"",
            &FileCommand::Ping,
            None,
        )
        .expect("ping");
        let block = post(&send, None, ping).await;
        let t = decode_client_block(Version(3), &session_id, &block).expect("response");
        assert_eq!(t.response, Ok(FileResponse::Pong));
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_answered_with_errors_and_the_relay_goes_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gen = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "localhost").expect("creds");
    let creds = gen.server_credentials().expect("creds");
    let cfg = ServerConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        tmp.path().join("files"),
    );
    let server = xftp_server::start(cfg, &creds).await.expect("starts");
    // No ALPN: version 1, no handshake.
    let ctx = simplex_transport::tls::client_context_with_alpn(&[]).expect("ctx");
    let tcp = TcpStream::connect(server.addr).await.expect("tcp");
    let mut tls = SslStream::new(Ssl::new(&ctx).expect("ssl"), tcp).expect("stream");
    std::pin::Pin::new(&mut tls).connect().await.expect("TLS");
    let mut finished = [0u8; 64];
    let n = tls.ssl().finished(&mut finished);
    let session_id = finished[..n].to_vec();
    let (send, conn) = h2::client::handshake(tls).await.expect("h2");
    tokio::spawn(conn);
    let v = Version(1);
    let error_of = |block: &[u8]| {
        assert_eq!(block.len(), XFTP_BLOCK_SIZE);
        decode_client_block(v, &session_id, block)
            .expect("response")
            .response
    };
    let mut noise = vec![0u8; XFTP_BLOCK_SIZE];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut noise);
    for body in [
        noise,
        vec![1u8; 100],
        Vec::new(),
        vec![0u8; XFTP_BLOCK_SIZE * 2],
    ] {
        let block = post(&send, None, body).await;
        assert_eq!(
            error_of(&block),
            Ok(FileResponse::Err(XftpErrorType::Block))
        );
    }
    // A block from another session.
    let ping = encode_signed_command_block(v, b"other session", b"", b"", &FileCommand::Ping, None)
        .expect("ping");
    let block = post(&send, None, ping).await;
    assert_eq!(
        error_of(&block),
        Ok(FileResponse::Err(XftpErrorType::Session))
    );
    let ping = encode_signed_command_block(v, &session_id, b"", b"", &FileCommand::Ping, None)
        .expect("ping");
    let block = post(&send, None, ping).await;
    assert_eq!(error_of(&block), Ok(FileResponse::Pong));
    server.stop().await;
}

/// An HTTP/2 connection with `alpn`, naming `localhost` when `sni`; also the leaf
/// certificate the relay presented.
async fn open(
    addr: std::net::SocketAddr,
    sni: bool,
    alpn: &[u8],
) -> (SendRequest<Bytes>, openssl::x509::X509) {
    let ssl = if sni {
        // As a browser: OpenSSL's defaults (ECDSA/RSA signatures, AES-GCM), a host name.
        let mut b =
            openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls_client()).expect("ctx");
        b.set_verify(openssl::ssl::SslVerifyMode::NONE);
        let mut wire = vec![u8::try_from(alpn.len()).expect("short")];
        wire.extend_from_slice(alpn);
        b.set_alpn_protos(&wire).expect("alpn");
        let mut ssl = Ssl::new(&b.build()).expect("ssl");
        ssl.set_hostname("localhost").expect("SNI");
        ssl
    } else {
        let ctx = simplex_transport::tls::client_context_with_alpn(&[alpn.to_vec()]).expect("ctx");
        Ssl::new(&ctx).expect("ssl")
    };
    let tcp = TcpStream::connect(addr).await.expect("tcp");
    let mut tls = SslStream::new(ssl, tcp).expect("stream");
    std::pin::Pin::new(&mut tls).connect().await.expect("TLS");
    let cert = tls.ssl().peer_certificate().expect("a certificate");
    let (send, conn) = h2::client::handshake(tls).await.expect("h2");
    tokio::spawn(conn);
    (send, cert)
}

/// The response headers of a request without a body.
async fn headers_of(send: &SendRequest<Bytes>, method: Method) -> http::HeaderMap {
    let req = Request::builder()
        .method(method)
        .uri("https://localhost/")
        .body(())
        .expect("request");
    let mut send = send.clone().ready().await.expect("ready");
    let (resp, _) = send.send_request(req, true).expect("sent");
    resp.await.expect("response").headers().clone()
}

#[tokio::test]
async fn web_clients_get_the_web_certificate_and_cors_headers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gen = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "localhost").expect("creds");
    let creds = gen.server_credentials().expect("creds");
    let web_dir = tmp.path().join("web");
    std::fs::create_dir_all(&web_dir).expect("dir");
    // A web certificate as browsers take them: ECDSA P-256, self-signed here.
    let web_key = openssl::pkey::PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                .expect("curve"),
        )
        .expect("key"),
    )
    .expect("pkey");
    let mut name = openssl::x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "localhost").expect("cn");
    let name = name.build();
    let mut b = openssl::x509::X509::builder().expect("builder");
    b.set_version(2).expect("v3");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&web_key).expect("pubkey");
    let now = openssl::asn1::Asn1Time::days_from_now(0).expect("now");
    let later = openssl::asn1::Asn1Time::days_from_now(30).expect("later");
    b.set_not_before(&now).expect("nb");
    b.set_not_after(&later).expect("na");
    b.sign(&web_key, openssl::hash::MessageDigest::sha256())
        .expect("signed");
    let web_cert = b.build();
    std::fs::write(web_dir.join("web.crt"), web_cert.to_pem().expect("pem")).expect("crt");
    std::fs::write(
        web_dir.join("web.key"),
        web_key.private_key_to_pem_pkcs8().expect("pem"),
    )
    .expect("key");
    let mut cfg = ServerConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        tmp.path().join("files"),
    );
    cfg.web_tls = Some((web_dir.join("web.crt"), web_dir.join("web.key")));
    let server = xftp_server::start(cfg, &creds).await.expect("starts");
    let fp = |c: &openssl::x509::X509Ref| simplex_transport::credentials::cert_fingerprint(c);
    let relay_leaf = fp(&creds.chain()[0]).expect("fp");
    let web_leaf = fp(&web_cert).expect("fp");

    // A web client (SNI, h2): the web certificate, CORS on every answer, the preflight.
    let (send, cert) = open(server.addr, true, b"h2").await;
    assert_eq!(fp(&cert).expect("fp"), web_leaf);
    let pre = headers_of(&send, Method::OPTIONS).await;
    for (k, v) in [
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "POST, OPTIONS"),
        ("access-control-allow-headers", "*"),
        ("access-control-max-age", "86400"),
    ] {
        assert_eq!(pre.get(k).map(|h| h.as_bytes()), Some(v.as_bytes()), "{k}");
    }
    let hello = XftpClientHello {
        web_challenge: Some([9u8; 32]),
    };
    let req = Request::builder()
        .method(Method::POST)
        .uri("https://localhost/")
        .header(WEB_HELLO_HEADER, "1")
        .body(())
        .expect("request");
    let mut s = send.clone().ready().await.expect("ready");
    let (resp, mut stream) = s.send_request(req, false).expect("sent");
    send_all(
        &mut stream,
        Bytes::from(hello.encode_block().expect("hello")),
        true,
    )
    .await
    .expect("body");
    let resp = resp.await.expect("response");
    let h = resp.headers().clone();
    assert_eq!(
        h.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"*"[..])
    );
    assert_eq!(
        h.get("access-control-expose-headers").map(|v| v.as_bytes()),
        Some(&b"*"[..])
    );
    let block = Body::new(resp.into_body())
        .read_head(XFTP_BLOCK_SIZE)
        .await
        .expect("head");
    let hs = XftpServerHandshake::decode_block(&block).expect("server handshake");
    let proved = openssl::x509::X509::from_der(&hs.auth_pub_key.cert_chain[0]).expect("leaf");
    assert_eq!(
        fp(&proved).expect("fp"),
        relay_leaf,
        "the relay's identity, not the web cert"
    );

    // A native client (no SNI): the relay's own certificate and no CORS headers.
    let (send, cert) = open(server.addr, false, b"xftp/1").await;
    assert_eq!(fp(&cert).expect("fp"), relay_leaf);
    let plain = headers_of(&send, Method::OPTIONS).await;
    assert!(plain.get("access-control-allow-origin").is_none());
    server.stop().await;
}
