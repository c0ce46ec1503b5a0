//! The TLS policy of SMP and the TLS handshake on tokio sockets.
//!
//! Spec: `protocol/simplex-messaging.md` § "TLS transport encryption" and "ALPN to agree
//! handshake version"; the reference's parameters are `defaultSupportedParams` in
//! `Transport.hs`. TLS 1.3 only, `TLS_CHACHA20_POLY1305_SHA256` only, groups X25519/X448,
//! Ed25519/Ed448 signatures, no session tickets and no resumption. ALPN: the server accepts
//! `smp/1`, `h2` and `http/1.1` (the reference's `alpnSupportedSMPHandshakes <> httpALPN`:
//! apps reach preset relays on port 443 offering `http/1.1`), and any of them selects the
//! current handshake.
//!
//! Clients trust no CA: they pin the server's identity certificate (the second one of a chain
//! of 2 to 4) by its SHA-256, and let OpenSSL check the signatures and validity dates of the
//! chain up to its self-signed top.

use std::sync::{Arc, Mutex};

use openssl::ssl::{
    AlpnError, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslRef,
    SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use openssl::x509::X509StoreContextRef;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use simplex_crypto::KeyHash;

use crate::credentials::{cert_fingerprint, ServerCredentials};
use crate::error::{ChainError, TransportError};

/// The ALPN protocol name of the current SMP handshake.
pub const ALPN_SMP: &[u8] = b"smp/1";

/// The ALPN name apps offer to relays on the web port (`httpALPN11`).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The server's ALPN list in wire form, in its order of preference: `smp/1`, `h2`,
/// `http/1.1`.
const SERVER_ALPN_WIRE: &[u8] = b"\x05smp/1\x02h2\x08http/1.1";

/// Protocol names in ALPN wire form (each with a one-byte length); names that are empty or
/// longer than 255 bytes are left out.
fn alpn_wire(names: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        if let Ok(len) = u8::try_from(name.len()) {
            if len > 0 {
                out.push(len);
                out.extend_from_slice(name);
            }
        }
    }
    out
}

/// The only TLS 1.3 cipher suite SMP allows.
pub const CIPHER_SUITE: &str = "TLS_CHACHA20_POLY1305_SHA256";

/// Key exchange groups.
pub const GROUPS: &str = "X25519:X448";

/// Signature algorithms (handshake and certificates).
pub const SIGNATURE_ALGORITHMS: &str = "ed25519:ed448";

/// X.509 error: a self-signed certificate at the top of the peer's chain
/// (`X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN`). Expected: the top is the server's own CA.
const X509_SELF_SIGNED_IN_CHAIN: i32 = 19;
/// X.509 error: the only certificate is self-signed (`X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT`).
const X509_DEPTH_ZERO_SELF_SIGNED: i32 = 18;
/// `X509_V_ERR_INVALID_PURPOSE`.
const X509_INVALID_PURPOSE: i32 = 26;

/// A TLS stream over TCP.
pub type TlsStream = SslStream<TcpStream>;

fn common_policy(b: &mut SslContextBuilder) -> Result<(), TransportError> {
    b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_ciphersuites(CIPHER_SUITE)?;
    b.set_groups_list(GROUPS)?;
    b.set_sigalgs_list(SIGNATURE_ALGORITHMS)?;
    // NO_TICKET alone does not stop TLS 1.3 tickets; num_tickets(0) and no cache do.
    b.set_options(SslOptions::NO_TICKET | SslOptions::NO_RENEGOTIATION);
    b.set_num_tickets(0)?;
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    // Read whatever the socket has, not a record's header and then its body: one read
    // per block instead of two (the readers always try OpenSSL's buffer before waiting).
    b.set_read_ahead(true);
    Ok(())
}

/// A server TLS context with the SMP policy and the given chain and key.
///
/// ALPN: the server selects the first of `smp/1`, `h2`, `http/1.1` that the client offers;
/// a client that offers none of them, or no ALPN at all, gets no ALPN, and the server then
/// uses the legacy v6 handshake.
pub fn server_context(creds: &ServerCredentials) -> Result<SslContext, TransportError> {
    server_context_with_alpn(creds, SERVER_ALPN_WIRE)
}

/// A server TLS context with the SMP policy that selects the first of `alpn_wire` (ALPN wire
/// form: each name with a one-byte length, in the server's order of preference) the client
/// offers, or no ALPN. The XFTP relay offers `xftp/1`, `h2` and `http/1.1`.
pub fn server_context_with_alpn(
    creds: &ServerCredentials,
    alpn_wire: &'static [u8],
) -> Result<SslContext, TransportError> {
    Ok(server_builder(creds, alpn_wire)?.build())
}

/// [`server_context_with_alpn`], with `sni` (another context, say with a web certificate a
/// browser accepts) for the connections whose client names a host (SNI), as the
/// reference's XFTP relay serves its `[WEB]` certificate to web clients.
///
/// Both contexts then take the reference's HTTPS parameters (`defaultSupportedParamsHTTPS`):
/// AES-GCM besides ChaCha20-Poly1305, P-521 and FFDHE groups besides X25519/X448, and ECDSA
/// and RSA signatures besides EdDSA — a browser's certificate is ECDSA or RSA.
pub fn server_context_with_sni(
    creds: &ServerCredentials,
    alpn_wire: &'static [u8],
    sni: &ServerCredentials,
) -> Result<SslContext, TransportError> {
    let mut web = server_builder(sni, alpn_wire)?;
    https_policy(&mut web)?;
    let web = web.build();
    let mut b = server_builder(creds, alpn_wire)?;
    https_policy(&mut b)?;
    b.set_servername_callback(move |ssl, _alert| {
        if ssl.servername(openssl::ssl::NameType::HOST_NAME).is_some() {
            ssl.set_ssl_context(&web)
                .map_err(|_| openssl::ssl::SniError::ALERT_FATAL)?;
        }
        Ok(())
    });
    Ok(b.build())
}

/// The reference's `defaultSupportedParamsHTTPS`, for a relay that also serves browsers.
/// A server context that asks every client for a certificate, which only service clients
/// send (SMP v16: the reference's `askClientCert`, `[TRANSPORT] accept_service_credentials`,
/// on by default). A chain of one self-signed certificate, or of 2 to 4 ending in a
/// self-signed CA, is accepted when it verifies (signatures and dates); a client without a
/// certificate is accepted too. The chain is in [`TlsInfo::peer_chain`] after [`accept`].
pub fn server_context_asking_client_certs(
    creds: &ServerCredentials,
) -> Result<SslContext, TransportError> {
    let mut b = server_builder(creds, SERVER_ALPN_WIRE)?;
    b.set_verify_callback(SslVerifyMode::PEER, |preverify_ok, ctx| {
        let chain_len = ctx.chain().map_or(0, |c| c.len());
        if chain_len > 4 {
            return false;
        }
        if preverify_ok {
            return true;
        }
        let err = ctx.error().as_raw();
        let depth = ctx.error_depth() as usize;
        // No trust store: the chain's own self-signed root is the anchor, as the reference
        // validates a service chain against its last (or only) certificate; nor does it
        // check key usage purposes (a service may present its server certificate).
        (err == X509_DEPTH_ZERO_SELF_SIGNED && chain_len == 1)
            || (err == X509_SELF_SIGNED_IN_CHAIN && depth + 1 == chain_len)
            || err == X509_INVALID_PURPOSE
    });
    Ok(b.build())
}

/// A client context that presents `creds` (chain and key) when the server asks for a
/// certificate: a service client's TLS credentials (SMP v16).
pub fn client_context_with_cert(
    alpn: &[Vec<u8>],
    creds: &ServerCredentials,
) -> Result<SslContext, TransportError> {
    let mut b = SslContext::builder(SslMethod::tls_client())?;
    common_policy(&mut b)?;
    let wire = alpn_wire(alpn);
    if !wire.is_empty() {
        b.set_alpn_protos(&wire)?;
    }
    let (leaf, rest) = creds
        .chain()
        .split_first()
        .ok_or_else(|| TransportError::Credentials("empty chain".into()))?;
    b.set_certificate(leaf)?;
    for cert in rest {
        b.add_extra_chain_cert(cert.clone())?;
    }
    b.set_private_key(creds.private_key())?;
    b.check_private_key()?;
    Ok(b.build())
}

fn https_policy(b: &mut SslContextBuilder) -> Result<(), TransportError> {
    b.set_ciphersuites(
        "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
    )?;
    b.set_groups_list("X25519:X448:P-521:ffdhe4096:ffdhe6144:ffdhe8192")?;
    b.set_sigalgs_list(
        "ed448:ed25519:ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:rsa_pss_rsae_sha512:\
         rsa_pss_rsae_sha384:rsa_pss_rsae_sha256:RSA+SHA512:RSA+SHA384:RSA+SHA256",
    )?;
    Ok(())
}

fn server_builder(
    creds: &ServerCredentials,
    alpn_wire: &'static [u8],
) -> Result<openssl::ssl::SslContextBuilder, TransportError> {
    let mut b = SslContext::builder(SslMethod::tls_server())?;
    common_policy(&mut b)?;
    let (leaf, rest) = creds
        .chain()
        .split_first()
        .ok_or_else(|| TransportError::Credentials("empty chain".into()))?;
    b.set_certificate(leaf)?;
    for cert in rest {
        b.add_extra_chain_cert(cert.clone())?;
    }
    b.set_private_key(creds.private_key())?;
    b.check_private_key()?;
    b.set_verify(SslVerifyMode::NONE);
    // Free the TLS record buffers of idle connections (about 34 KB each).
    b.set_mode(SslMode::RELEASE_BUFFERS);
    b.set_alpn_select_callback(|_ssl, offered| {
        openssl::ssl::select_next_proto(alpn_wire, offered).ok_or(AlpnError::NOACK)
    });
    Ok(b)
}

/// A client TLS context with the SMP policy. `offer_alpn = false` makes a legacy client
/// (the server then answers with the v6 handshake); normal clients offer `smp/1`.
///
/// Certificate pinning is per connection (see [`connect`]).
pub fn client_context(offer_alpn: bool) -> Result<SslContext, TransportError> {
    let alpn = if offer_alpn {
        vec![ALPN_SMP.to_vec()]
    } else {
        Vec::new()
    };
    client_context_with_alpn(&alpn)
}

/// A client TLS context offering these ALPN names (none when empty).
pub fn client_context_with_alpn(alpn: &[Vec<u8>]) -> Result<SslContext, TransportError> {
    let mut b = SslContext::builder(SslMethod::tls_client())?;
    common_policy(&mut b)?;
    let wire = alpn_wire(alpn);
    if !wire.is_empty() {
        b.set_alpn_protos(&wire)?;
    }
    Ok(b.build())
}

/// What the TLS handshake established.
#[derive(Clone)]
pub struct TlsInfo {
    /// `tls-unique`: the client's Finished verify data (32 bytes with SHA-256).
    pub session_id: Vec<u8>,
    /// The negotiated ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The peer's certificates as DER, leaf first (client side; empty on the server).
    pub peer_chain: Vec<Vec<u8>>,
    /// Whether the session was resumed (always false under the SMP policy).
    pub resumed: bool,
}

impl std::fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsInfo")
            .field("alpn", &self.alpn.as_deref().map(String::from_utf8_lossy))
            .field("peer_chain_len", &self.peer_chain.len())
            .field("resumed", &self.resumed)
            .finish_non_exhaustive()
    }
}

impl TlsInfo {
    /// True when the client confirmed `smp/1`.
    pub fn has_smp_alpn(&self) -> bool {
        self.alpn.as_deref() == Some(ALPN_SMP)
    }

    /// True when any ALPN protocol was negotiated (`smp/1`, `h2` or `http/1.1`): the server
    /// then offers its full version range.
    pub fn has_alpn(&self) -> bool {
        self.alpn.is_some()
    }
}

/// The outcome of the pinning callback, kept so a refused handshake reports why.
type PinOutcome = Arc<Mutex<Option<ChainError>>>;

fn record(outcome: &PinOutcome, e: ChainError) {
    if let Ok(mut slot) = outcome.lock() {
        slot.get_or_insert(e);
    }
}

fn pin_callback(
    pin: [u8; 32],
    outcome: PinOutcome,
) -> impl Fn(bool, &mut X509StoreContextRef) -> bool + Send + Sync + 'static {
    move |preverify_ok, ctx| {
        let depth = ctx.error_depth() as usize;
        let chain_len = ctx.chain().map_or(0, |c| c.len());
        if !preverify_ok {
            // Read the error only when OpenSSL reports one.
            let err = ctx.error().as_raw();
            let at_top = chain_len >= 2 && depth + 1 == chain_len;
            if err == X509_SELF_SIGNED_IN_CHAIN && at_top && chain_len <= 4 {
                // The server's own self-signed CA: trusted through the pin checked below.
                return true;
            }
            let e = match err {
                X509_DEPTH_ZERO_SELF_SIGNED => ChainError::Length(1),
                _ => ChainError::Verify(err),
            };
            record(&outcome, e);
            return false;
        }
        if depth != 0 {
            return true;
        }
        // The last call, for the leaf: the whole chain verified; now the pin.
        let Some(chain) = ctx.chain() else {
            record(&outcome, ChainError::Missing);
            return false;
        };
        if !(2..=4).contains(&chain.len()) {
            record(&outcome, ChainError::Length(chain.len()));
            return false;
        }
        let matches = chain
            .get(1)
            .and_then(|id| cert_fingerprint(id).ok())
            .is_some_and(|fp| fp == pin);
        if !matches {
            record(&outcome, ChainError::Fingerprint);
        }
        matches
    }
}

fn check_peer_chain(ssl: &SslRef, pin: &[u8; 32]) -> Result<Vec<Vec<u8>>, TransportError> {
    let chain = ssl.peer_cert_chain().ok_or(ChainError::Missing)?;
    if !(2..=4).contains(&chain.len()) {
        return Err(ChainError::Length(chain.len()).into());
    }
    let id = chain.get(1).ok_or(ChainError::Missing)?;
    if &cert_fingerprint(id)? != pin {
        return Err(ChainError::Fingerprint.into());
    }
    chain.iter().map(|c| Ok(c.to_der()?)).collect()
}

fn handshake_error(e: openssl::ssl::Error, outcome: Option<&PinOutcome>) -> TransportError {
    if let Some(chain_err) = outcome.and_then(|o| o.lock().ok().and_then(|s| *s)) {
        return TransportError::Chain(chain_err);
    }
    if e.ssl_error().is_none() {
        if let Some(io) = e.io_error() {
            return crate::error::read_error(std::io::Error::new(io.kind(), io.to_string()));
        }
        if e.code() == openssl::ssl::ErrorCode::ZERO_RETURN
            || e.code() == openssl::ssl::ErrorCode::SYSCALL
        {
            return TransportError::Closed;
        }
    }
    TransportError::Tls(e.to_string())
}

/// The client's side of the TLS handshake, pinning the server identity `key_hash`. A key hash
/// that is not 32 bytes long can be no certificate's fingerprint: it is refused as a mismatch
/// before any byte is sent.
pub async fn connect(
    ctx: &SslContext,
    tcp: TcpStream,
    key_hash: &KeyHash,
) -> Result<(TlsStream, TlsInfo), TransportError> {
    let key_hash = key_hash.fingerprint().ok_or(ChainError::Fingerprint)?;
    let _ = tcp.set_nodelay(true);
    let mut ssl = Ssl::new(ctx)?;
    let outcome: PinOutcome = Arc::default();
    ssl.set_verify_callback(SslVerifyMode::PEER, pin_callback(key_hash, outcome.clone()));
    let mut stream = SslStream::new(ssl, tcp)?;
    std::pin::Pin::new(&mut stream)
        .connect()
        .await
        .map_err(|e| handshake_error(e, Some(&outcome)))?;
    let ssl = stream.ssl();
    let peer_chain = check_peer_chain(ssl, &key_hash)?;
    let session_id = finished(ssl, false)?;
    let info = TlsInfo {
        session_id,
        alpn: ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
        peer_chain,
        resumed: ssl.session_reused(),
    };
    Ok((stream, info))
}

/// The server's side of the TLS handshake.
pub async fn accept(
    ctx: &SslContext,
    tcp: TcpStream,
) -> Result<(TlsStream, TlsInfo), TransportError> {
    let _ = tcp.set_nodelay(true);
    let ssl = Ssl::new(ctx)?;
    let mut stream = SslStream::new(ssl, tcp)?;
    std::pin::Pin::new(&mut stream)
        .accept()
        .await
        .map_err(|e| handshake_error(e, None))?;
    let ssl = stream.ssl();
    let session_id = finished(ssl, true)?;
    // On the server side OpenSSL's peer chain leaves out the leaf: put it first.
    let mut peer_chain = Vec::new();
    if let Some(leaf) = ssl.peer_certificate() {
        peer_chain.push(leaf.to_der()?);
        if let Some(rest) = ssl.peer_cert_chain() {
            for c in rest {
                let der = c.to_der()?;
                if peer_chain.first() != Some(&der) {
                    peer_chain.push(der);
                }
            }
        }
    }
    let info = TlsInfo {
        session_id,
        alpn: ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
        peer_chain,
        resumed: ssl.session_reused(),
    };
    Ok((stream, info))
}

/// `tls-unique`: the client's Finished message, read by the client as its own and by the
/// server as its peer's.
fn finished(ssl: &SslRef, server: bool) -> Result<Vec<u8>, TransportError> {
    let mut buf = [0u8; 64];
    let n = if server {
        ssl.peer_finished(&mut buf)
    } else {
        ssl.finished(&mut buf)
    };
    match buf.get(..n) {
        Some(id) if n > 0 => Ok(id.to_vec()),
        _ => Err(TransportError::Tls(
            "no Finished message after the handshake".into(),
        )),
    }
}
