//! One connection to a file relay (`Client.hs` in the reference): TLS 1.3 pinned to the
//! relay's fingerprint, HTTP/2, the XFTP handshake, then each command as one `POST` whose
//! body is the command block (and for `FPUT` the chunk), answered by a response block (and
//! for `FGET` the chunk encrypted for this download).
//!
//! Requests are multiplexed: a client is cheap to clone and several commands can be in
//! flight on one connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::{Method, Request};
use simplex_crypto::nacl::{CbKey, CbNonce};
use simplex_crypto::{
    dh_x25519, sign, KeyHash, PrivateAuthKey, PrivateKeyX25519, PublicAuthKey, PublicKeyX25519,
    Sha256Stream,
};
use simplex_transport::http2::{send_all, Body, CONNECTION_WINDOW, MAX_FRAME, STREAM_WINDOW};
use simplex_transport::socks::{self, SocksAuth, SocksCredentials, SocksProxy};
use simplex_transport::TransportError;
use smp_proto::BasicAuth;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xftp_proto::transmission::{command_for_auth, decode_client_block, encode_transmission_block};
use xftp_proto::{
    ChunkDecryptor, FileCommand, FileInfo, FileResponse, Version, VersionRange,
    XftpClientHandshake, XftpServer, XftpServerHandshake, XFTP_ALPN, XFTP_BLOCK_SIZE,
    XFTP_SERVER_VERSIONS,
};

use crate::error::ClientError;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The time allowed to connect (TCP, TLS, handshake).
    pub connect_timeout: Duration,
    /// The time allowed for a command without a chunk.
    pub request_timeout: Duration,
    /// Added to `request_timeout` per MiB of chunk sent or received.
    pub per_mib: Duration,
    /// The versions this client speaks.
    pub versions: VersionRange,
    /// The ALPN names offered (none: a version 1 session without handshake).
    pub alpn: Vec<Vec<u8>>,
    /// Connect through this SOCKS5 proxy (Tor), the relay's host sent to it unresolved;
    /// isolating by username, each relay gets its own (a hash of its address), so Tor
    /// keeps them on separate circuits.
    pub socks_proxy: Option<SocksProxy>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(30),
            per_mib: Duration::from_secs(10),
            versions: XFTP_SERVER_VERSIONS,
            alpn: vec![XFTP_ALPN.to_vec()],
            socks_proxy: None,
        }
    }
}

/// Where a chunk body to upload comes from.
#[derive(Debug, Clone)]
pub enum ChunkBody {
    /// `size` bytes of a file from `offset`.
    File {
        /// The file.
        path: PathBuf,
        /// Where the chunk starts.
        offset: u64,
        /// Its size.
        size: u32,
    },
    /// These bytes.
    Bytes(Bytes),
}

impl ChunkBody {
    fn len(&self) -> u64 {
        match self {
            ChunkBody::File { size, .. } => u64::from(*size),
            ChunkBody::Bytes(b) => b.len() as u64,
        }
    }
}

/// A connection to one relay.
#[derive(Debug, Clone)]
pub struct XftpClient {
    send: SendRequest<Bytes>,
    session_id: Vec<u8>,
    version: Version,
    server_dh_key: Option<PublicKeyX25519>,
    server: XftpServer,
    config: ClientConfig,
}

fn timeout_for(config: &ClientConfig, bytes: u64) -> Duration {
    let mib = u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX);
    config.request_timeout + config.per_mib * mib
}

impl XftpClient {
    /// Connects to `server` (its first host) and runs the handshake.
    pub async fn connect(server: &XftpServer, config: &ClientConfig) -> Result<Self, ClientError> {
        tokio::time::timeout(config.connect_timeout, Self::connect_inner(server, config))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn connect_inner(
        server: &XftpServer,
        config: &ClientConfig,
    ) -> Result<Self, ClientError> {
        let host = server
            .first_host()
            .ok_or_else(|| ClientError::Invalid("the relay address has no host".into()))?;
        let port: u16 = server
            .port_or_default()
            .parse()
            .map_err(|_| ClientError::Invalid("the relay address has a bad port".into()))?;
        let tcp = match &config.socks_proxy {
            // A relay that cannot be reached is a network error, worth trying again (not
            // a local file error).
            None => TcpStream::connect((host.to_string().as_str(), port))
                .await
                .map_err(|e| ClientError::Transport(TransportError::Io(e)))?,
            Some(p) => {
                let credentials = match &p.auth {
                    SocksAuth::Null => None,
                    SocksAuth::Username { username, password } => Some(SocksCredentials {
                        username: username.as_bytes().to_vec(),
                        password: password.as_bytes().to_vec(),
                    }),
                    SocksAuth::IsolateByAuth => Some(SocksCredentials {
                        username: simplex_encoding::string::base64url_encode(
                            &simplex_crypto::sha256(server.to_string().as_bytes()),
                        )
                        .into_bytes(),
                        password: Vec::new(),
                    }),
                };
                let host = host.to_string();
                socks::connect(p.addr, credentials.as_ref(), &host, port)
                    .await
                    .map_err(|e| ClientError::Transport(TransportError::Socks(e)))?
            }
        };
        let key_hash =
            KeyHash::from_slice(&server.key_hash).map_err(|_| ClientError::WrongFingerprint)?;
        let ctx = simplex_transport::tls::client_context_with_alpn(&config.alpn)?;
        let (tls, info) = simplex_transport::tls::connect(&ctx, tcp, &key_hash).await?;
        let (send, conn) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_frame_size(MAX_FRAME)
            .handshake::<_, Bytes>(tls)
            .await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("XFTP connection ended: {e}");
            }
        });
        let mut client = XftpClient {
            send,
            session_id: info.session_id.clone(),
            version: Version(1),
            server_dh_key: None,
            server: server.clone(),
            config: config.clone(),
        };
        if info.alpn.as_deref() == Some(XFTP_ALPN) {
            client.handshake(&key_hash, &info.peer_chain).await?;
        }
        Ok(client)
    }

    async fn handshake(
        &mut self,
        key_hash: &KeyHash,
        peer_chain: &[Vec<u8>],
    ) -> Result<(), ClientError> {
        let (head, _) = self
            .post(Bytes::new(), None, self.config.request_timeout)
            .await?;
        let hs = XftpServerHandshake::decode_block(&head)
            .map_err(|_| ClientError::Handshake("the server handshake did not parse"))?;
        if hs.session_id.as_slice() != self.session_id.as_slice() {
            return Err(ClientError::Handshake("session ID mismatch"));
        }
        let ours = self.config.versions;
        let max = hs.versions.max.min(ours.max);
        if max < hs.versions.min.max(ours.min) {
            return Err(ClientError::Handshake("no compatible XFTP version"));
        }
        if hs.auth_pub_key.cert_chain.as_slice() != peer_chain {
            return Err(ClientError::Handshake(
                "the handshake's chain is not the TLS chain",
            ));
        }
        let dh = simplex_transport::verify_relay_key(&hs.auth_pub_key, key_hash).map_err(|_| {
            ClientError::Handshake("the server's session key is not signed by its certificate")
        })?;
        let reply = XftpClientHandshake {
            version: max,
            key_hash: key_hash.clone(),
        }
        .encode_block()
        .map_err(|_| ClientError::Handshake("client handshake too large"))?;
        let (head, _) = self
            .post(Bytes::from(reply), None, self.config.request_timeout)
            .await?;
        if !head.is_empty() {
            return Err(ClientError::Handshake("the server refused the handshake"));
        }
        self.version = max;
        self.server_dh_key = Some(dh);
        Ok(())
    }

    /// The relay's address.
    pub fn server(&self) -> &XftpServer {
        &self.server
    }

    /// False once the connection is closed (by either side); sends nothing.
    pub async fn is_open(&self) -> bool {
        self.send.clone().ready().await.is_ok()
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Sends one request: `block`, then `chunk` if any; returns the response's head (up to
    /// one block) and the rest of its body. The response is awaited while the chunk is sent,
    /// so a relay refusing it early (`QUOTA`) is heard at once.
    async fn post(
        &self,
        block: Bytes,
        chunk: Option<ChunkBody>,
        limit: Duration,
    ) -> Result<(Vec<u8>, Body), ClientError> {
        tokio::time::timeout(limit, self.post_inner(block, chunk))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn post_inner(
        &self,
        block: Bytes,
        chunk: Option<ChunkBody>,
    ) -> Result<(Vec<u8>, Body), ClientError> {
        let req = Request::builder()
            .method(Method::POST)
            .uri("https://xftp/")
            .body(())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let mut send = self.send.clone().ready().await?;
        let empty = block.is_empty() && chunk.is_none();
        let (response, mut stream) = send.send_request(req, empty)?;
        let sending = async move {
            if empty {
                return Ok::<(), ClientError>(());
            }
            send_all(&mut stream, block, chunk.is_none()).await?;
            match chunk {
                None => {}
                Some(ChunkBody::Bytes(b)) => send_all(&mut stream, b, true).await?,
                Some(ChunkBody::File { path, offset, size }) => {
                    send_file(&mut stream, &path, offset, size).await?
                }
            }
            Ok(())
        };
        tokio::pin!(sending);
        tokio::pin!(response);
        let resp = tokio::select! {
            r = &mut response => r?,
            s = &mut sending => match response.await {
                Ok(r) => r,
                Err(e) => return Err(s.err().unwrap_or(ClientError::Http(e))),
            },
        };
        let mut body = Body::new(resp.into_body());
        let head = body.read_head(XFTP_BLOCK_SIZE).await?;
        Ok((head, body))
    }

    /// Sends a command authorized by `key` (none for `PING`) on `entity_id`; returns the
    /// response (an `ERR` is [`ClientError::Relay`]) and the rest of the response body.
    pub async fn send_command(
        &self,
        key: Option<&PrivateAuthKey>,
        entity_id: &[u8],
        command: &FileCommand,
        chunk: Option<ChunkBody>,
    ) -> Result<(FileResponse, Body), ClientError> {
        let corr_id: &[u8] = b"";
        let t = command_for_auth(self.version, &self.session_id, corr_id, entity_id, command)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let authorization: Option<Vec<u8>> = match key {
            None => None,
            Some(k) => match k.as_sign_key() {
                Some(sk) => Some(sign(&sk, t.for_auth()).as_bytes().to_vec()),
                None => {
                    let (PrivateAuthKey::X25519(pk), Some(srv)) = (k, &self.server_dh_key) else {
                        return Err(ClientError::Invalid("X25519 keys need a handshake".into()));
                    };
                    let nonce = CbNonce::from_bytes_lenient(corr_id);
                    let a = simplex_crypto::nacl::cb_authenticate(srv, pk, &nonce, t.for_auth());
                    Some(a.0.to_vec())
                }
            },
        };
        let block = encode_transmission_block(&t, authorization.as_deref())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let limit = timeout_for(&self.config, chunk.as_ref().map_or(0, ChunkBody::len));
        let (head, body) = self.post(Bytes::from(block), chunk, limit).await?;
        if head.len() != XFTP_BLOCK_SIZE {
            return Err(ClientError::Response("not a block".into()));
        }
        let t = decode_client_block(self.version, &self.session_id, &head)
            .map_err(|e| ClientError::Response(format!("{e:?}")))?;
        match t.response {
            Ok(FileResponse::Err(e)) => Err(ClientError::Relay(e)),
            Ok(r) => Ok((r, body)),
            Err(e) => Err(ClientError::Response(format!("{e:?}"))),
        }
    }

    /// `FNEW`: registers a chunk; returns its sender ID and one recipient ID per key.
    pub async fn create_chunk(
        &self,
        sender_key: &PrivateAuthKey,
        info: FileInfo,
        rcv_keys: Vec<PublicAuthKey>,
        auth: Option<BasicAuth>,
    ) -> Result<(Vec<u8>, Vec<Vec<u8>>), ClientError> {
        let cmd = FileCommand::New {
            file: info,
            rcv_keys,
            auth,
        };
        match self
            .send_command(Some(sender_key), b"", &cmd, None)
            .await?
            .0
        {
            FileResponse::SndIds {
                sender_id,
                recipient_ids,
            } => Ok((
                sender_id.as_slice().to_vec(),
                recipient_ids
                    .iter()
                    .map(|r| r.as_slice().to_vec())
                    .collect(),
            )),
            r => Err(unexpected(&r)),
        }
    }

    /// `FADD`: adds recipients; returns their IDs.
    pub async fn add_recipients(
        &self,
        sender_key: &PrivateAuthKey,
        sender_id: &[u8],
        rcv_keys: Vec<PublicAuthKey>,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let cmd = FileCommand::Add { rcv_keys };
        match self
            .send_command(Some(sender_key), sender_id, &cmd, None)
            .await?
            .0
        {
            FileResponse::RcvIds(ids) => Ok(ids.iter().map(|r| r.as_slice().to_vec()).collect()),
            r => Err(unexpected(&r)),
        }
    }

    /// `FPUT`: uploads a chunk body.
    pub async fn upload_chunk(
        &self,
        sender_key: &PrivateAuthKey,
        sender_id: &[u8],
        body: ChunkBody,
    ) -> Result<(), ClientError> {
        let r = self
            .send_command(Some(sender_key), sender_id, &FileCommand::Put, Some(body))
            .await?;
        expect_ok(&r.0)
    }

    /// `FGET`: downloads a chunk of `size` bytes to `out`, checking its SHA-256 against
    /// `digest` (when given) and the transfer's tag. A failed download leaves no file.
    pub async fn download_chunk(
        &self,
        recipient_key: &PrivateAuthKey,
        recipient_id: &[u8],
        out: &Path,
        size: u32,
        digest: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let dh = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
        let cmd = FileCommand::Get {
            rcv_dh_key: dh.public_key(),
        };
        let (resp, body) = self
            .send_command(Some(recipient_key), recipient_id, &cmd, None)
            .await?;
        let FileResponse::File { srv_dh_key, nonce } = resp else {
            return Err(unexpected(&resp));
        };
        let key = CbKey::from_dh(&dh_x25519(&srv_dh_key, &dh));
        let limit = timeout_for(&self.config, u64::from(size));
        let received =
            tokio::time::timeout(limit, receive_chunk(body, &key, &nonce, out, size, digest))
                .await
                .unwrap_or(Err(ClientError::Timeout));
        if received.is_err() {
            let _ = tokio::fs::remove_file(out).await;
        }
        received
    }

    /// `FDEL`.
    pub async fn delete_chunk(
        &self,
        sender_key: &PrivateAuthKey,
        sender_id: &[u8],
    ) -> Result<(), ClientError> {
        let r = self
            .send_command(Some(sender_key), sender_id, &FileCommand::Del, None)
            .await?;
        expect_ok(&r.0)
    }

    /// `FACK`.
    pub async fn ack_chunk(
        &self,
        recipient_key: &PrivateAuthKey,
        recipient_id: &[u8],
    ) -> Result<(), ClientError> {
        let r = self
            .send_command(Some(recipient_key), recipient_id, &FileCommand::Ack, None)
            .await?;
        expect_ok(&r.0)
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), ClientError> {
        match self
            .send_command(None, b"", &FileCommand::Ping, None)
            .await?
            .0
        {
            FileResponse::Pong => Ok(()),
            r => Err(unexpected(&r)),
        }
    }
}

fn unexpected(r: &FileResponse) -> ClientError {
    ClientError::Response(String::from_utf8_lossy(r.tag()).into_owned())
}

fn expect_ok(r: &FileResponse) -> Result<(), ClientError> {
    match r {
        FileResponse::Ok => Ok(()),
        r => Err(unexpected(r)),
    }
}

async fn send_file(
    stream: &mut h2::SendStream<Bytes>,
    path: &Path,
    offset: u64,
    size: u32,
) -> Result<(), ClientError> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut left = u64::from(size);
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(1 << 16);
        let mut buf = vec![0u8; n];
        file.read_exact(&mut buf).await?;
        left -= n as u64;
        send_all(stream, Bytes::from(buf), left == 0).await?;
    }
    Ok(())
}

async fn receive_chunk(
    mut body: Body,
    key: &CbKey,
    nonce: &CbNonce,
    out: &Path,
    size: u32,
    digest: Option<&[u8]>,
) -> Result<(), ClientError> {
    let mut dec = ChunkDecryptor::new(key, nonce, u64::from(size));
    let file = tokio::fs::File::create(out).await?;
    let mut file = tokio::io::BufWriter::with_capacity(1 << 16, file);
    let mut hash = Sha256Stream::new();
    let mut plain = Vec::with_capacity(1 << 16);
    loop {
        let piece = body.read(1 << 16).await?;
        if piece.is_empty() {
            break;
        }
        plain.clear();
        dec.push(&piece, &mut plain)
            .map_err(|_| ClientError::Integrity("the chunk is larger than its size"))?;
        hash.update(&plain);
        file.write_all(&plain).await?;
    }
    dec.finish().map_err(|e| match e {
        xftp_proto::XftpError::BadTag => ClientError::Integrity("the chunk did not decrypt"),
        _ => ClientError::Integrity("the chunk is shorter than its size"),
    })?;
    if digest.is_some_and(|d| hash.finish().as_slice() != d) {
        return Err(ClientError::Integrity(
            "the chunk does not match its digest",
        ));
    }
    file.flush().await?;
    file.get_ref().sync_data().await?;
    Ok(())
}
