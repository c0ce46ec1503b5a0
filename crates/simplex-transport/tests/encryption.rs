//! Encrypted transport blocks (SMP v11) and the ALPN rule of the relay: a known answer for
//! the key chain from an independent HKDF derivation, blocks both ways between real TLS
//! peers, tampering, the proxy flag, and which ALPN names select the full version range.
//!
//! The reference has no golden bytes for the chain (`/work/shared/vectors` has no handshake
//! or `sbcInit` section), so the known answer below derives every key with the `hkdf` crate
//! directly, as `Crypto.hs` specifies (`sbcInit`, `sbcHkdf`), and boxes with `sb_encrypt`,
//! which has its own reference vectors in `simplex-crypto`.

use std::sync::Arc;

use hkdf::Hkdf;
use sha2::Sha512;
use simplex_crypto::nacl::{sb_encrypt, CbNonce};
use simplex_crypto::{DhSecretX25519, PrivateKeyX25519, SbKey};
use simplex_transport::credentials::{GeneratedCredentials, SignAlgorithm};
use simplex_transport::{
    connect, BlockReader, BlockWriter, ClientConnection, ClientTransportConfig, ServerConnection,
    ServerTransport, SmpListener, TransportError, BLOCK_SIZE, MAX_ENCRYPTED_BLOCK_CONTENT,
};
use simplex_transport::{SbChainKey, ALPN_HTTP1, ALPN_SMP};
use smp_proto::version::{Version, VersionRange, CLIENT_VERSIONS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `hkdf salt ikm info n` with SHA-512, as the reference defines it.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    Hkdf::<Sha512>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("length within limit");
    out
}

/// The chain of `ck`, stepped independently: (key, nonce) per block.
fn independent_steps(mut ck: Vec<u8>, n: usize) -> Vec<(SbKey, CbNonce)> {
    (0..n)
        .map(|_| {
            let out = hkdf(b"", &ck, b"SimpleXSbChain", 88);
            ck = out[..32].to_vec();
            let key = SbKey::from_slice(&out[32..64]).expect("32 bytes");
            let nonce = CbNonce::from_slice(&out[64..]).expect("24 bytes");
            (key, nonce)
        })
        .collect()
}

#[tokio::test]
async fn chain_and_blocks_match_an_independent_derivation() {
    let session_id = [0x5a; 32];
    let secret = DhSecretX25519::from_bytes(*b"0123456789abcdef0123456789abcdef");
    let init = hkdf(&session_id, secret.as_bytes(), b"SimpleXSbChainInit", 64);
    let (server_snd, server_rcv) = SbChainKey::init(&session_id, &secret);

    // The server's sending chain is the first 32 bytes: what it writes is exactly
    // sbEncrypt(key_i, nonce_i, content padded to 16,368).
    let (a, b) = tokio::io::duplex(4 * BLOCK_SIZE);
    let mut w = BlockWriter::new(a);
    w.set_encryption(server_snd);
    let contents: [&[u8]; 3] = [b"first", b"", &[7u8; MAX_ENCRYPTED_BLOCK_CONTENT]];
    for c in contents {
        w.write_block(c).await.expect("write");
    }
    drop(w);
    let mut wire = Vec::new();
    let mut b = b;
    b.read_to_end(&mut wire).await.expect("read");
    assert_eq!(wire.len(), 3 * BLOCK_SIZE);
    let steps = independent_steps(init[..32].to_vec(), 3);
    for (i, (c, (key, nonce))) in contents.iter().zip(&steps).enumerate() {
        let expected = sb_encrypt(key, nonce, c, BLOCK_SIZE - 16).expect("fits");
        assert_eq!(
            &wire[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE],
            &expected[..],
            "{i}"
        );
    }

    // The receiving chain is the second half: a block the client boxes with it opens.
    let (a, b) = tokio::io::duplex(4 * BLOCK_SIZE);
    let mut r = BlockReader::new(b);
    r.set_encryption(server_rcv);
    let (key, nonce) = &independent_steps(init[32..].to_vec(), 1)[0];
    let mut a = a;
    a.write_all(&sb_encrypt(key, nonce, b"from the client", BLOCK_SIZE - 16).expect("fits"))
        .await
        .expect("write");
    let padded = r.read_raw().await.expect("opens");
    assert_eq!(padded.len(), BLOCK_SIZE - 16);
    assert_eq!(
        simplex_encoding::unpad(padded).expect("unpads"),
        b"from the client"
    );
}

#[tokio::test]
async fn a_tampered_block_is_refused_and_content_over_16366_bytes_is_not_sent() {
    let secret = DhSecretX25519::from_bytes([3; 32]);
    let (snd, _) = SbChainKey::init(b"sid", &secret);
    let (peer_snd, _) = SbChainKey::init(b"sid", &secret);
    let (a, b) = tokio::io::duplex(4 * BLOCK_SIZE);
    let mut w = BlockWriter::new(a);
    w.set_encryption(snd);
    assert_eq!(w.max_content(), MAX_ENCRYPTED_BLOCK_CONTENT);
    assert!(matches!(
        w.write_block(&[0u8; MAX_ENCRYPTED_BLOCK_CONTENT + 1]).await,
        Err(TransportError::LargeMsg)
    ));
    // A padded 16,384-byte block whose content only fits unencrypted.
    let full =
        simplex_encoding::pad(&[1u8; MAX_ENCRYPTED_BLOCK_CONTENT + 1], BLOCK_SIZE).expect("pads");
    assert!(matches!(
        w.write_raw(&full).await,
        Err(TransportError::LargeMsg)
    ));
    let fits = simplex_encoding::pad(b"ok", BLOCK_SIZE).expect("pads");
    w.write_raw(&fits).await.expect("write");
    drop(w);
    let mut wire = Vec::new();
    let mut b = b;
    b.read_to_end(&mut wire).await.expect("read");
    assert_eq!(wire.len(), BLOCK_SIZE, "only one block was written");
    for flip in [0, 16, BLOCK_SIZE - 1] {
        let mut tampered = wire.clone();
        tampered[flip] ^= 1;
        let (mut x, y) = tokio::io::duplex(4 * BLOCK_SIZE);
        x.write_all(&tampered).await.expect("write");
        let mut r = BlockReader::new(y);
        r.set_encryption(peer_snd.clone());
        assert!(
            matches!(r.read_raw().await, Err(TransportError::BlockDecrypt)),
            "flip at {flip}"
        );
    }
    let (mut x, y) = tokio::io::duplex(4 * BLOCK_SIZE);
    x.write_all(&wire).await.expect("write");
    let mut r = BlockReader::new(y);
    r.set_encryption(peer_snd);
    assert_eq!(
        simplex_encoding::unpad(r.read_raw().await.expect("opens")).expect("unpads"),
        b"ok"
    );
}

struct Pair {
    client: ClientConnection,
    server: ServerConnection,
}

async fn pair(
    server_versions: VersionRange,
    config: ClientTransportConfig,
    client_key: Option<&PrivateKeyX25519>,
) -> Pair {
    let creds = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "localhost")
        .expect("generate")
        .server_credentials()
        .expect("credentials");
    let transport = ServerTransport::new(&creds)
        .expect("transport")
        .with_versions(server_versions);
    let identity = *transport.identity();
    let listener = SmpListener::bind("127.0.0.1:0", Arc::new(transport))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = tokio::spawn(async move { listener.accept().await });
    let client = connect(addr, &identity, &config, client_key)
        .await
        .expect("client handshake");
    let server = accepted.await.expect("join").expect("server handshake");
    Pair { client, server }
}

fn full_range() -> VersionRange {
    CLIENT_VERSIONS
}

/// Blocks flow both ways, several in a row (the chains advance in step).
async fn exchange(p: &mut Pair) {
    for i in 0..3u8 {
        let msg = vec![i; 100 + usize::from(i)];
        p.client
            .writer
            .write_block(&msg)
            .await
            .expect("client write");
        let got = p.server.reader.read_raw().await.expect("server read");
        assert_eq!(simplex_encoding::unpad(got).expect("unpads"), &msg[..]);
        p.server
            .writer
            .write_block(&msg)
            .await
            .expect("server write");
        let got = p.client.reader.read_raw().await.expect("client read");
        assert_eq!(simplex_encoding::unpad(got).expect("unpads"), &msg[..]);
    }
    // A batch built as 16,384 bytes by smp-proto is sent through `write_raw` too.
    let block = smp_proto::encode_block(&[b"PING-ish"]).expect("fits");
    p.server.writer.write_raw(&block).await.expect("write raw");
    let got = p.client.reader.read_raw().await.expect("read");
    assert_eq!(
        smp_proto::decode_block(got).expect("splits"),
        vec![&b"PING-ish"[..]]
    );
}

#[tokio::test]
async fn a_v18_client_with_its_key_encrypts_blocks_both_ways() {
    let key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
    let mut p = pair(full_range(), ClientTransportConfig::default(), Some(&key)).await;
    assert_eq!(p.client.session.params.version, Version(18));
    assert_eq!(p.server.session.params.version, Version(18));
    assert!(p.client.session.params.block_encryption);
    assert!(p.server.session.params.block_encryption);
    assert!(p.client.writer.is_encrypted() && p.client.reader.is_encrypted());
    assert!(p.server.writer.is_encrypted() && p.server.reader.is_encrypted());
    assert_eq!(p.server.session.client_dh_key, Some(key.public_key()));
    assert!(!p.server.session.client_is_proxy);
    exchange(&mut p).await;
}

#[tokio::test]
async fn a_block_with_the_wrong_key_fails_and_the_peer_closes() {
    let key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
    let mut p = pair(full_range(), ClientTransportConfig::default(), Some(&key)).await;
    p.client.writer.write_block(b"good").await.expect("write");
    // The next block is sealed with a key that is not the chain's: as if altered in transit.
    p.client
        .writer
        .set_encryption(SbChainKey::from_bytes([9; 32]));
    p.client.writer.write_block(b"forged").await.expect("write");
    let server = tokio::spawn(async move {
        let mut s = p.server;
        let first = s.reader.read_raw().await.map(|b| b.to_vec());
        let second = s.reader.read_raw().await.map(|_| ());
        // Like the relay: a read error ends the connection.
        drop(s);
        (first, second)
    });
    let (first, second) = server.await.expect("join");
    assert_eq!(
        simplex_encoding::unpad(&first.expect("first block")).expect("unpads"),
        b"good"
    );
    assert!(matches!(second, Err(TransportError::BlockDecrypt)));
    assert!(matches!(
        p.client.reader.read_raw().await,
        Err(TransportError::Closed)
    ));
}

#[tokio::test]
async fn a_proxy_client_does_not_encrypt_blocks() {
    let key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
    let config = ClientTransportConfig {
        proxy_server: true,
        ..ClientTransportConfig::default()
    };
    let mut p = pair(full_range(), config.clone(), Some(&key)).await;
    assert_eq!(p.client.session.params.version, Version(18));
    assert!(p.server.session.client_is_proxy);
    assert!(!p.client.session.params.block_encryption);
    assert!(!p.server.session.params.block_encryption);
    assert!(!p.server.reader.is_encrypted() && !p.client.writer.is_encrypted());
    exchange(&mut p).await;
    // A relay below v14 cannot hear the flag: the proxy stays at v10, below encryption.
    let v12 = VersionRange::new(Version(6), Version(12)).expect("range");
    let mut p = pair(v12, config, Some(&key)).await;
    assert_eq!(p.client.session.params.version, Version(10));
    assert!(!p.server.session.params.block_encryption);
    exchange(&mut p).await;
}

#[tokio::test]
async fn no_key_or_a_v9_relay_means_no_encryption() {
    let key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
    let mut p = pair(full_range(), ClientTransportConfig::default(), None).await;
    assert_eq!(p.client.session.params.version, Version(18));
    assert!(!p.client.session.params.block_encryption);
    assert!(!p.server.session.params.block_encryption);
    exchange(&mut p).await;
    // A v6–v9 relay: the 6–18 client negotiates down to v9.
    let mut p = pair(
        VersionRange::new(Version(6), Version(9)).expect("range"),
        ClientTransportConfig::default(),
        Some(&key),
    )
    .await;
    assert_eq!(p.client.session.params.version, Version(9));
    assert_eq!(p.server.session.params.version, Version(9));
    assert!(!p.server.session.params.block_encryption);
    assert_eq!(p.server.session.client_dh_key, Some(key.public_key()));
    exchange(&mut p).await;
}

#[tokio::test]
async fn any_alpn_the_relay_knows_selects_the_full_range_and_none_is_v6() {
    let key = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
    for alpn in [
        vec![ALPN_SMP.to_vec()],
        vec![ALPN_HTTP1.to_vec()],
        vec![b"h2".to_vec()],
        vec![b"spdy/1".to_vec(), ALPN_HTTP1.to_vec()],
    ] {
        let config = ClientTransportConfig {
            alpn: alpn.clone(),
            ..ClientTransportConfig::default()
        };
        let mut p = pair(full_range(), config, Some(&key)).await;
        assert!(p.server.session.alpn, "{alpn:?}");
        assert_eq!(p.client.session.params.version, Version(18), "{alpn:?}");
        assert!(p.server.session.params.block_encryption, "{alpn:?}");
        exchange(&mut p).await;
    }
    for alpn in [Vec::new(), vec![b"spdy/1".to_vec()]] {
        let config = ClientTransportConfig {
            alpn: alpn.clone(),
            ..ClientTransportConfig::default()
        };
        let mut p = pair(full_range(), config, Some(&key)).await;
        assert!(!p.server.session.alpn, "{alpn:?}");
        assert_eq!(p.client.session.params.version, Version(6), "{alpn:?}");
        assert_eq!(p.client.session.server_dh_key, None);
        assert!(!p.server.session.params.block_encryption);
        exchange(&mut p).await;
    }
}
