//! TLS 1.3 and HTTP/2 (`runHTTP2Server` and `xftpServerHandshakeV1` in the reference's
//! `Server.hs`): each connection is one TLS session whose `tls-unique` is the XFTP session
//! ID; each request is a `POST` whose body starts with one 16 KiB block.
//!
//! With ALPN `xftp/1` or `http/1.1` (or `h2` when the client sent SNI, as web clients do),
//! the first request runs the handshake: an empty body (or a web hello with a challenge)
//! gets the server handshake block (versions, session ID, the chain and a fresh X25519 key
//! signed by the online key, the signed challenge); the next is the client handshake block
//! (version and the identity it expects), answered with an empty body. Only then are
//! commands served. Without ALPN, commands are served at version 1 with no handshake.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use http::{Method, Request, Response, StatusCode};
use openssl::ssl::{NameType, SslContext};
use simplex_crypto::PrivateKeyX25519;
use simplex_encoding::{Encode, ShortBytes};
use simplex_transport::http2::{send_all, Body, CONNECTION_WINDOW, MAX_FRAME, STREAM_WINDOW};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use xftp_proto::handshake::{identity_proof_bytes, WEB_HANDSHAKE_HEADER, WEB_HELLO_HEADER};
use xftp_proto::{
    ChunkEncryptor, Version, XftpClientHandshake, XftpClientHello, XftpErrorType,
    XftpServerHandshake, HTTP11_ALPN, XFTP_ALPN, XFTP_BLOCK_SIZE,
};

use crate::commands::{process, FileBody, Params};
use crate::relay::Relay;

/// The ALPN names the relay selects, in its order of preference, in wire form.
pub const XFTP_SERVER_ALPN_WIRE: &[u8] = b"\x06xftp/1\x02h2\x08http/1.1";
/// The time allowed for the TLS handshake.
const TLS_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are closed at once (as the SMP relay's limit).
const MAX_CONNECTIONS: usize = 16_384;
/// Requests in flight on one connection (each may buffer up to the stream window).
const MAX_STREAMS: u32 = 64;

/// Where a connection's handshake is.
enum Handshake {
    None,
    Sent(PrivateKeyX25519),
    Accepted(Version, PrivateKeyX25519),
}

struct Session {
    id: Vec<u8>,
    alpn: Option<Vec<u8>>,
    sni: bool,
    /// Answers carry CORS headers: a web client (SNI) of a relay with a web certificate
    /// (the reference's `addCORSHeaders`).
    cors: bool,
    state: Mutex<Handshake>,
}

/// Accepts connections until the task is dropped; each connection runs in a task of the
/// set, so dropping the set closes them all.
pub async fn serve(relay: Arc<Relay>, ctx: SslContext, listener: TcpListener) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((tcp, _)) => {
                if conns.len() >= MAX_CONNECTIONS {
                    tracing::warn!("connection limit reached, a connection was refused");
                    continue;
                }
                conns.spawn(connection(relay.clone(), ctx.clone(), tcp));
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(relay: Arc<Relay>, ctx: SslContext, tcp: TcpStream) {
    let accepted = tokio::time::timeout(TLS_TIMEOUT, simplex_transport::tls::accept(&ctx, tcp));
    let (tls, info) = match accepted.await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let sni = tls.ssl().servername(NameType::HOST_NAME).is_some();
    let built = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .max_concurrent_streams(MAX_STREAMS)
        .handshake::<_, Bytes>(tls)
        .await;
    let mut conn = match built {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("HTTP/2 handshake failed: {e}");
            return;
        }
    };
    let session = Arc::new(Session {
        id: info.session_id.clone(),
        alpn: info.alpn.clone(),
        sni,
        cors: sni && relay.cfg.web_tls.is_some(),
        state: Mutex::new(Handshake::None),
    });
    let inactive = relay.cfg.inactive_clients;
    let check = inactive.map_or(Duration::from_secs(3600), |i| i.check_interval);
    let mut last = Instant::now();
    let mut requests = JoinSet::new();
    loop {
        while requests.try_join_next().is_some() {}
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, respond))) => {
                    last = Instant::now();
                    requests.spawn(request(relay.clone(), session.clone(), req, respond));
                }
                Some(Err(e)) => {
                    tracing::debug!("HTTP/2 connection error: {e}");
                    break;
                }
                None => break,
            },
            _ = tokio::time::sleep(check), if inactive.is_some() => {
                let idle = inactive.is_some_and(|i| last.elapsed() >= i.ttl);
                if idle && requests.is_empty() {
                    break;
                }
            }
        }
    }
}

/// The CORS headers of every answer to a web client (`corsHeaders`).
const CORS: [(&str, &str); 2] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "*"),
];
/// The answer to a web client's preflight `OPTIONS` (`corsPreflightHeaders`).
const CORS_PREFLIGHT: [(&str, &str); 4] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "*"),
    ("Access-Control-Max-Age", "86400"),
];

fn ok(headers: &[(&str, &str)]) -> Option<Response<()>> {
    let mut b = Response::builder().status(StatusCode::OK);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).ok()
}

fn cors_headers(cors: bool) -> &'static [(&'static str, &'static str)] {
    if cors {
        &CORS
    } else {
        &[]
    }
}

fn respond_empty(respond: &mut SendResponse<Bytes>, cors: bool) {
    if let Some(resp) = ok(cors_headers(cors)) {
        let _ = respond.send_response(resp, true);
    }
}

async fn respond_block(
    respond: &mut SendResponse<Bytes>,
    cors: bool,
    block: Vec<u8>,
    file: Option<FileBody>,
) -> Result<(), h2::Error> {
    let Some(resp) = ok(cors_headers(cors)) else {
        return Ok(());
    };
    let mut stream = respond.send_response(resp, false)?;
    send_all(&mut stream, Bytes::from(block), file.is_none()).await?;
    if let Some(f) = file {
        send_chunk(&mut stream, f).await?;
    }
    Ok(())
}

/// Sends a chunk body encrypted for the recipient, then its tag (`sendEncFile`).
async fn send_chunk(stream: &mut h2::SendStream<Bytes>, f: FileBody) -> Result<(), h2::Error> {
    let cancel = || h2::Error::from(h2::Reason::INTERNAL_ERROR);
    let mut file = tokio::fs::File::open(&f.path).await.map_err(|_| cancel())?;
    let mut enc = ChunkEncryptor::new(&f.key, &f.nonce, u64::from(f.size));
    let mut left = u64::from(f.size);
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(buf.len()).min(buf.len());
        let piece = buf.get_mut(..want).ok_or_else(cancel)?;
        let n = file.read(piece).await.map_err(|_| cancel())?;
        if n == 0 {
            return Err(cancel());
        }
        let mut out = Vec::with_capacity(n);
        enc.push(piece.get(..n).ok_or_else(cancel)?, &mut out)
            .map_err(|_| cancel())?;
        left -= n as u64;
        send_all(stream, Bytes::from(out), false).await?;
    }
    let mut tag = Vec::with_capacity(16);
    enc.finish(&mut tag).map_err(|_| cancel())?;
    send_all(stream, Bytes::from(tag), true).await
}

async fn request(
    relay: Arc<Relay>,
    session: Arc<Session>,
    req: Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let cors = session.cors;
    if req.method() == Method::OPTIONS && cors {
        if let Some(resp) = ok(&CORS_PREFLIGHT) {
            let _ = respond.send_response(resp, true);
        }
        return;
    }
    if req.method() == Method::GET || req.method() == Method::OPTIONS {
        // No static pages.
        respond_empty(&mut respond, cors);
        return;
    }
    let has = |h: &str| session.sni && req.headers().contains_key(h);
    let (web_hello, web_handshake) = (has(WEB_HELLO_HEADER), has(WEB_HANDSHAKE_HEADER));
    let mut body = Body::new(req.into_body());
    let Ok(head) = body.read_head(XFTP_BLOCK_SIZE).await else {
        return;
    };
    let params = match session.alpn.as_deref() {
        None => Params {
            session_id: session.id.clone(),
            version: Version(1),
            server_dh: None,
        },
        Some(a) if a == XFTP_ALPN || a == HTTP11_ALPN || (session.sni && a == b"h2") => {
            let step = handshake(&relay, &session, &head, web_hello, web_handshake);
            match step {
                Step::Respond(bytes) => {
                    let r = if bytes.is_empty() {
                        respond_empty(&mut respond, cors);
                        Ok(())
                    } else {
                        respond_block(&mut respond, cors, bytes, None).await
                    };
                    if let Err(e) = r {
                        tracing::debug!("response failed: {e}");
                    }
                    return;
                }
                Step::Serve(params) => params,
            }
        }
        Some(_) => {
            respond_empty(&mut respond, cors);
            return;
        }
    };
    let (block, file) = process(&relay, &params, &head, &mut body).await;
    if let Err(e) = respond_block(&mut respond, cors, block, file).await {
        tracing::debug!("response failed: {e}");
    }
}

enum Step {
    /// Answer this (empty: an empty body) and stop.
    Respond(Vec<u8>),
    /// Handshake done: serve the command.
    Serve(Params),
}

fn handshake(
    relay: &Relay,
    session: &Session,
    head: &[u8],
    web_hello: bool,
    web_handshake: bool,
) -> Step {
    let mut state = session.state.lock().unwrap_or_else(|e| e.into_inner());
    let result = match &*state {
        Handshake::None if session.sni && !web_hello => Err(XftpErrorType::Session),
        Handshake::None => hello(relay, session, &mut state, head, None),
        Handshake::Sent(pk) if web_hello => {
            let pk = pk.clone();
            hello(relay, session, &mut state, head, Some(pk))
        }
        Handshake::Sent(pk) => {
            let pk = pk.clone();
            client_handshake(relay, &mut state, head, pk)
        }
        Handshake::Accepted(_, pk) if web_hello => {
            let pk = pk.clone();
            hello(relay, session, &mut state, head, Some(pk))
        }
        Handshake::Accepted(_, pk) if web_handshake => {
            let pk = pk.clone();
            client_handshake(relay, &mut state, head, pk)
        }
        Handshake::Accepted(v, pk) => {
            return Step::Serve(Params {
                session_id: session.id.clone(),
                version: *v,
                server_dh: Some(pk.clone()),
            })
        }
    };
    match result {
        Ok(bytes) => Step::Respond(bytes),
        Err(e) => {
            let mut out = Vec::new();
            e.encode(&mut out);
            Step::Respond(simplex_encoding::pad(&out, XFTP_BLOCK_SIZE).unwrap_or_default())
        }
    }
}

fn hello(
    relay: &Relay,
    session: &Session,
    state: &mut Handshake,
    head: &[u8],
    key: Option<PrivateKeyX25519>,
) -> Result<Vec<u8>, XftpErrorType> {
    let challenge = XftpClientHello::from_request_body(head, session.sni)?.web_challenge;
    let pk = match (&*state, key) {
        (Handshake::Sent(pk), _) => pk.clone(),
        (_, Some(pk)) => pk,
        (_, None) => PrivateKeyX25519::generate(&mut rand::rngs::OsRng),
    };
    if !matches!(state, Handshake::Sent(_)) {
        *state = Handshake::Sent(pk.clone());
    }
    let auth_pub_key = relay
        .identity
        .cert_chain_key(&pk)
        .ok_or(XftpErrorType::Internal)?;
    let hs = XftpServerHandshake {
        versions: relay.cfg.versions,
        session_id: ShortBytes::from_slice(&session.id).map_err(|_| XftpErrorType::Internal)?,
        auth_pub_key,
        web_identity_proof: challenge
            .map(|c| relay.identity.sign(&identity_proof_bytes(&c, &session.id))),
    };
    hs.encode_block().map_err(|_| XftpErrorType::Handshake)
}

fn client_handshake(
    relay: &Relay,
    state: &mut Handshake,
    head: &[u8],
    pk: PrivateKeyX25519,
) -> Result<Vec<u8>, XftpErrorType> {
    let hs = XftpClientHandshake::decode_block(head).map_err(|_| XftpErrorType::Handshake)?;
    if hs.key_hash != relay.identity.key_hash || !relay.cfg.versions.contains(hs.version) {
        return Err(XftpErrorType::Handshake);
    }
    *state = Handshake::Accepted(hs.version, pk);
    Ok(Vec::new())
}
