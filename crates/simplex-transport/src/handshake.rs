//! The SMP handshake after TLS (spec § "Transport handshake"; `smpServerHandshake` and
//! `smpClientHandshake` in the reference's `Transport.hs`), and the connections it yields.
//!
//! The server sends its hello block (version range, session ID, and from v7 its certificate
//! chain with a fresh X25519 key signed by the online certificate's key); the client checks
//! the session ID against `tls-unique`, the chain against its pinned identity and the
//! signature against the TLS leaf certificate's key, picks the highest common version and
//! answers with its hello (version, the identity it expects, optionally its own DH key, from
//! v14 whether it is a proxy). A client that negotiated no ALPN is offered only v6 and gets
//! no server key; `smp/1`, `h2` and `http/1.1` all select the full range.
//!
//! From v11, when the client sent its DH key and is not a proxy, both ends encrypt every
//! further block with the secret-box chains of [`crate::sbchain`] (the server sends with the
//! first chain key, the client with the second); the reader and writer of the connection
//! are set up for it here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::SslContext;
use openssl::x509::X509;
use simplex_crypto::{
    dh_x25519, sign, verify, KeyHash, PrivateKeyEd25519, PrivateKeyX25519, PrivateSignKey,
    PublicKeyEd25519, PublicKeyX25519, PublicSignKey,
};
use simplex_encoding::ShortBytes;
use smp_proto::error::{HandshakeError as WireHandshakeError, TransportError as WireError};
use smp_proto::handshake::{
    CertChainPubKey, ClientHello, ClientHelloService, ServerHandshakeResponse, ServerHello,
    ServiceRole, SignatureAlgorithm, SignedKey, SignedPubKey,
};
use smp_proto::version::{
    Version, VersionRange, CLIENT_VERSIONS, DELETED_EVENT_SMP_VERSION, ENCRYPTED_BLOCK_SMP_VERSION,
    LEGACY_SERVER_VERSIONS, PROXY_SERVER_HANDSHAKE_SMP_VERSION, SERVER_VERSIONS,
    SERVICE_CERTS_SMP_VERSION,
};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

use crate::block::{BlockReader, BlockWriter};
use crate::credentials::{cert_fingerprint, ServerCredentials};
use crate::error::{ChainError, HandshakeError, TransportError};
use crate::sbchain::SbChainKey;
use crate::tls::{self, TlsInfo, TlsStream};

/// The default time allowed for TCP connect, TLS and the SMP handshake together.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The reading half of an SMP connection.
pub type SmpReader = BlockReader<ReadHalf<TlsStream>>;
/// The writing half of an SMP connection.
pub type SmpWriter = BlockWriter<WriteHalf<TlsStream>>;

/// What both ends agreed on (`THandleParams` in the reference).
#[derive(Clone)]
pub struct SessionParams {
    /// `tls-unique`, signed into every transmission.
    pub session_id: Vec<u8>,
    /// The negotiated SMP version.
    pub version: Version,
    /// The server's range capped at the negotiated version.
    pub server_versions: VersionRange,
    /// Whether blocks are encrypted inside TLS (v11+, the client sent its key and is not a
    /// proxy).
    pub block_encryption: bool,
}

impl std::fmt::Debug for SessionParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionParams")
            .field("version", &self.version)
            .field("server_versions", &self.server_versions)
            .field("block_encryption", &self.block_encryption)
            .finish_non_exhaustive()
    }
}

/// The server's view of a handshaken connection.
pub struct ServerSession {
    /// Session ID and version.
    pub params: SessionParams,
    /// This session's X25519 key, whose public half was signed into the hello: combined
    /// with queues' X25519 auth keys to verify crypto_box authenticators (from v7).
    pub dh_private: PrivateKeyX25519,
    /// The client's DH key from its hello (from v7; proxies need it for `RFWD`, and from v11
    /// it keys block encryption), if any.
    pub client_dh_key: Option<PublicKeyX25519>,
    /// Whether the client said it is a proxy (v14+).
    pub client_is_proxy: bool,
    /// Whether the client negotiated an ALPN protocol (else this is a legacy v6 session).
    pub alpn: bool,
    /// The service this client connected as (v16), once its record was accepted.
    pub service: Option<PeerService>,
}

/// A service client as the server knows it after the handshake (`THPeerClientService`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerService {
    /// The service's ID on this server.
    pub service_id: Vec<u8>,
    /// Its role.
    pub role: ServiceRole,
    /// SHA-256 of its identity certificate (the only certificate of a self-signed chain,
    /// else the second): prefixed to what queue keys sign in service-signed commands.
    pub cert_hash: [u8; 32],
    /// Its session key, signed by its TLS certificate: verifies service signatures.
    pub key: PublicKeyEd25519,
}

/// Finds or makes the service ID for a service's role, TLS chain (DER, leaf first) and
/// certificate hash (the reference's `getService` in `smpServerHandshake`); `Err` refuses
/// the service (`HANDSHAKE BAD_SERVICE`).
pub type ServiceLookup =
    dyn Fn(ServiceRole, &[Vec<u8>], &[u8; 32]) -> Result<Vec<u8>, ()> + Send + Sync;

/// A service client's credentials (SMP v16): its role and the TLS chain and key it presents.
#[derive(Debug, Clone)]
pub struct ServiceCredentials {
    /// The role the service connects as.
    pub role: ServiceRole,
    /// The TLS chain (a self-signed certificate, or leaf and CA) and the leaf's key.
    pub creds: Arc<ServerCredentials>,
}

/// A service session as the client knows it (`THClientService`).
#[derive(Debug)]
pub struct ClientService {
    /// The service ID the server gave.
    pub service_id: Vec<u8>,
    /// The role.
    pub role: ServiceRole,
    /// SHA-256 of the identity certificate (see [`PeerService::cert_hash`]).
    pub cert_hash: [u8; 32],
    /// This session's Ed25519 key, signed into the hello: signs service signatures.
    pub key: PrivateKeyEd25519,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("params", &self.params)
            .field("alpn", &self.alpn)
            .field("client_is_proxy", &self.client_is_proxy)
            .finish_non_exhaustive()
    }
}

/// The client's view of a handshaken connection.
#[derive(Debug)]
pub struct ClientSession {
    /// Session ID and version.
    pub params: SessionParams,
    /// The server's session X25519 key (from v7), verified against its certificate: the peer
    /// key for crypto_box authenticators.
    pub server_dh_key: Option<PublicKeyX25519>,
    /// The key of the server's TLS (leaf) certificate.
    pub server_cert_key: PublicSignKey,
    /// The server's certificate chain as DER, leaf first.
    pub server_chain: Vec<Vec<u8>>,
    /// The chain and signed session key of the server's hello (from v7), as received: a
    /// proxy passes it on to its clients in `PKEY`.
    pub server_hello_key: Option<CertChainPubKey>,
    /// The service session, when the client connected with service credentials at v16+.
    pub service: Option<ClientService>,
}

/// A handshaken SMP connection: a block reader and a block writer, usable from two tasks,
/// and what the handshake established.
#[derive(Debug)]
pub struct SmpConnection<S> {
    /// Reads blocks.
    pub reader: SmpReader,
    /// Writes blocks.
    pub writer: SmpWriter,
    /// The session.
    pub session: S,
}

/// A connection accepted by a server.
pub type ServerConnection = SmpConnection<ServerSession>;
/// A connection made by a client.
pub type ClientConnection = SmpConnection<ClientSession>;

fn split(stream: TlsStream) -> (SmpReader, SmpWriter) {
    let (r, w) = tokio::io::split(stream);
    (BlockReader::new(r), BlockWriter::new(w))
}

fn leaf_sign_key(der: &[u8]) -> Result<PublicSignKey, TransportError> {
    let cert = X509::from_der(der)?;
    let spki = cert.public_key()?.public_key_to_der()?;
    PublicSignKey::from_der(&spki).map_err(|_| HandshakeError::BadAuth.into())
}

/// Everything a server needs to accept SMP connections: TLS context, chain, signing key,
/// identity and offered versions.
pub struct ServerTransport {
    ctx: SslContext,
    chain_der: Vec<Vec<u8>>,
    sign_key: PrivateSignKey,
    sign_alg: SignatureAlgorithm,
    identity: KeyHash,
    versions: VersionRange,
    handshake_timeout: Duration,
    services: Option<Arc<ServiceLookup>>,
}

impl std::fmt::Debug for ServerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTransport")
            .field("identity", &self.identity)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

impl ServerTransport {
    /// A server transport offering [`SERVER_VERSIONS`] with these credentials.
    pub fn new(creds: &ServerCredentials) -> Result<Self, TransportError> {
        let key_der = creds.private_key_der()?;
        let sign_key = PrivateSignKey::from_der(&key_der)
            .map_err(|e| TransportError::Credentials(format!("server key: {e}")))?;
        let sign_alg = match sign_key {
            PrivateSignKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
            PrivateSignKey::Ed448(_) => SignatureAlgorithm::Ed448,
        };
        let identity = creds.identity()?;
        Ok(ServerTransport {
            ctx: tls::server_context_asking_client_certs(creds)?,
            chain_der: creds.chain_der()?,
            sign_key,
            sign_alg,
            identity,
            versions: SERVER_VERSIONS,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            services: None,
        })
    }

    /// Serves service clients (v16): `lookup` gives a service its ID. Without it a service
    /// record in a hello is refused with `HANDSHAKE BAD_SERVICE`.
    pub fn with_services(mut self, lookup: Arc<ServiceLookup>) -> Self {
        self.services = Some(lookup);
        self
    }

    /// Offers another version range (tests, or a server pinned to older versions).
    pub fn with_versions(mut self, versions: VersionRange) -> Self {
        self.versions = versions;
        self
    }

    /// Sets the time allowed for the TLS and SMP handshakes of one connection.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The server identity (SHA-256 of its CA certificate).
    pub fn identity(&self) -> &KeyHash {
        &self.identity
    }

    /// Runs TLS and the SMP handshake on an accepted socket, within the handshake timeout.
    pub async fn handshake(&self, tcp: TcpStream) -> Result<ServerConnection, TransportError> {
        tokio::time::timeout(self.handshake_timeout, self.handshake_inner(tcp))
            .await
            .map_err(|_| TransportError::Timeout)?
    }

    async fn handshake_inner(&self, tcp: TcpStream) -> Result<ServerConnection, TransportError> {
        let (stream, info) = tls::accept(&self.ctx, tcp).await?;
        let (mut reader, mut writer) = split(stream);
        let session = self.smp_handshake(&info, &mut reader, &mut writer).await?;
        Ok(SmpConnection {
            reader,
            writer,
            session,
        })
    }

    async fn smp_handshake(
        &self,
        info: &TlsInfo,
        reader: &mut SmpReader,
        writer: &mut SmpWriter,
    ) -> Result<ServerSession, TransportError> {
        let alpn = info.has_alpn();
        let versions = if alpn {
            self.versions
        } else {
            LEGACY_SERVER_VERSIONS
        };
        let dh_private = PrivateKeyX25519::generate(&mut rand::rngs::OsRng);
        let signed_key = SignedKey::build(&dh_private.public_key(), self.sign_alg, |bytes| {
            sign(&self.sign_key, bytes)
        })
        .map_err(|e| TransportError::Credentials(e.to_string()))?;
        let hello = ServerHello {
            versions,
            session_id: ShortBytes::from_slice(&info.session_id)
                .map_err(|_| TransportError::BadSession)?,
            cert_key: Some(CertChainPubKey {
                cert_chain: self.chain_der.clone(),
                signed_key,
            }),
        };
        let block = hello.encode_block().map_err(|_| TransportError::LargeMsg)?;
        writer.write_raw(&block).await?;

        let block = reader.read_raw().await?;
        let client = ClientHello::decode_block(block).map_err(|_| HandshakeError::Parse)?;
        if client.key_hash != self.identity {
            return Err(HandshakeError::Identity.into());
        }
        if !versions.contains(client.version) {
            return Err(TransportError::Version);
        }
        let server_versions =
            VersionRange::new(versions.min, client.version).map_err(|_| TransportError::Version)?;
        let service = match &client.client_service {
            Some(svc) if client.version >= SERVICE_CERTS_SMP_VERSION => {
                // The answer goes before block encryption starts, as the reference's.
                let (answer, result) = match self.check_service(info, svc) {
                    Ok(ps) => (
                        ServerHandshakeResponse::ServiceId(
                            ShortBytes::from_slice(&ps.service_id)
                                .map_err(|_| TransportError::LargeMsg)?,
                        ),
                        Ok(ps),
                    ),
                    Err(e) => (
                        ServerHandshakeResponse::Error(WireError::Handshake(match e {
                            HandshakeError::BadAuth => WireHandshakeError::BadAuth,
                            _ => WireHandshakeError::BadService,
                        })),
                        Err(e),
                    ),
                };
                let block = answer
                    .encode_block()
                    .map_err(|_| TransportError::LargeMsg)?;
                writer.write_raw(&block).await?;
                Some(result?)
            }
            _ => None,
        };
        let secret = client.dh_key.as_ref().map(|k| dh_x25519(k, &dh_private));
        let block_encryption = match &secret {
            Some(secret) if uses_block_encryption(client.version, client.proxy_server) => {
                let (snd, rcv) = SbChainKey::init(&info.session_id, secret);
                writer.set_encryption(snd);
                reader.set_encryption(rcv);
                true
            }
            _ => false,
        };
        Ok(ServerSession {
            params: SessionParams {
                session_id: info.session_id.clone(),
                version: client.version,
                server_versions,
                block_encryption,
            },
            dh_private,
            client_dh_key: client.dh_key,
            client_is_proxy: client.proxy_server,
            alpn,
            service,
        })
    }

    /// Checks a service record against the TLS client chain (the reference's
    /// `getClientService`): the same chain, a session key signed by its leaf, then its ID.
    fn check_service(
        &self,
        info: &TlsInfo,
        svc: &ClientHelloService,
    ) -> Result<PeerService, HandshakeError> {
        let chain = &svc.cert_key.cert_chain;
        if info.peer_chain != *chain {
            return Err(HandshakeError::BadAuth);
        }
        let (leaf, id) = match chain.as_slice() {
            [cert] => (cert, cert),
            [leaf, id, ..] if chain.len() <= 4 => (leaf, id),
            _ => return Err(HandshakeError::BadAuth),
        };
        let leaf_key = leaf_sign_key(leaf).map_err(|_| HandshakeError::BadAuth)?;
        let sk = &svc.cert_key.signed_key;
        let SignedPubKey::Ed25519(key) = sk.signed_key() else {
            return Err(HandshakeError::BadAuth);
        };
        if !verify(&leaf_key, sk.signature(), sk.signed_bytes()) {
            return Err(HandshakeError::BadAuth);
        }
        let cert_hash = openssl::sha::sha256(id);
        let lookup = self.services.as_ref().ok_or(HandshakeError::BadService)?;
        let service_id =
            lookup(svc.role, chain, &cert_hash).map_err(|()| HandshakeError::BadService)?;
        Ok(PeerService {
            service_id,
            role: svc.role,
            cert_hash,
            key,
        })
    }
}

/// A TCP listener whose connections go through [`ServerTransport::handshake`].
#[derive(Debug)]
pub struct SmpListener {
    tcp: TcpListener,
    transport: Arc<ServerTransport>,
}

impl SmpListener {
    /// Binds `addr` (port 0 picks a free port; see [`SmpListener::local_addr`]).
    pub async fn bind(
        addr: impl ToSocketAddrs,
        transport: Arc<ServerTransport>,
    ) -> Result<Self, TransportError> {
        Ok(SmpListener {
            tcp: TcpListener::bind(addr).await?,
            transport,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        Ok(self.tcp.local_addr()?)
    }

    /// The transport used for handshakes.
    pub fn transport(&self) -> &Arc<ServerTransport> {
        &self.transport
    }

    /// Accepts one TCP connection, without handshaking: a server caps its connections and
    /// then runs [`ServerTransport::handshake`] in the connection's own task, so that a slow
    /// client never holds up `accept`.
    pub async fn accept_tcp(&self) -> Result<(TcpStream, SocketAddr), TransportError> {
        Ok(self.tcp.accept().await?)
    }

    /// Accepts one connection and handshakes it (convenient for tests and simple servers).
    pub async fn accept(&self) -> Result<ServerConnection, TransportError> {
        let (tcp, _) = self.accept_tcp().await?;
        self.transport.handshake(tcp).await
    }
}

/// Whether a session of version `v` encrypts its blocks, given that the client sent its DH
/// key (`blockEncryption`): from v11, unless the client is a proxy.
pub fn uses_block_encryption(v: Version, client_is_proxy: bool) -> bool {
    v >= ENCRYPTED_BLOCK_SMP_VERSION && !client_is_proxy
}

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientTransportConfig {
    /// The versions the client supports.
    pub versions: VersionRange,
    /// The ALPN names to offer: `smp/1` normally, `http/1.1` for a relay's web port; none
    /// makes a legacy client (the server then answers with the v6 handshake).
    pub alpn: Vec<Vec<u8>>,
    /// The client is a proxy connecting to a destination relay (`proxyServer`): said in the
    /// hello from v14, it turns block encryption off; a relay below v14 is then used at
    /// most at v10.
    pub proxy_server: bool,
    /// Time allowed for TCP connect, TLS and the SMP handshake together.
    pub handshake_timeout: Duration,
    /// Connect through this SOCKS5 proxy ([`connect_host`] only): the host goes to it as
    /// given, a name unresolved.
    pub socks: Option<SocksRoute>,
    /// Connect as a service (v16): the TLS client certificate and the hello's service
    /// record; the server's answer gives the session its service ID.
    pub service: Option<ServiceCredentials>,
}

/// A SOCKS5 proxy to connect through and this connection's credentials for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksRoute {
    /// The proxy.
    pub proxy: std::net::SocketAddr,
    /// The credentials (a per-session username isolates Tor circuits), if any.
    pub credentials: Option<crate::socks::SocksCredentials>,
}

impl Default for ClientTransportConfig {
    fn default() -> Self {
        ClientTransportConfig {
            versions: CLIENT_VERSIONS,
            alpn: vec![tls::ALPN_SMP.to_vec()],
            proxy_server: false,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            socks: None,
            service: None,
        }
    }
}

/// Connects to an SMP server at `addr`, pins its identity `key_hash`, and handshakes.
/// The public half of `client_key` is sent in the hello from v7 (`agreeSecret`): from v11 it
/// keys block encryption (unless the config says the client is a proxy), and a proxy uses its
/// secret with the server's key for `RFWD`. `None` sends no key.
pub async fn connect(
    addr: impl ToSocketAddrs,
    key_hash: &KeyHash,
    config: &ClientTransportConfig,
    client_key: Option<&PrivateKeyX25519>,
) -> Result<ClientConnection, TransportError> {
    let work = async {
        let tcp = TcpStream::connect(addr).await?;
        connect_over(tcp, key_hash, config, client_key).await
    };
    tokio::time::timeout(config.handshake_timeout, work)
        .await
        .map_err(|_| TransportError::Timeout)?
}

/// [`connect`] to `host` (a name or an IP address) and `port`, through the configured
/// SOCKS5 proxy when there is one ([`ClientTransportConfig::socks`]: the host is then
/// never resolved here).
pub async fn connect_host(
    host: &str,
    port: u16,
    key_hash: &KeyHash,
    config: &ClientTransportConfig,
    client_key: Option<&PrivateKeyX25519>,
) -> Result<ClientConnection, TransportError> {
    let work = async {
        let tcp = match &config.socks {
            Some(r) => crate::socks::connect(r.proxy, r.credentials.as_ref(), host, port).await?,
            None => TcpStream::connect((host, port)).await?,
        };
        connect_over(tcp, key_hash, config, client_key).await
    };
    tokio::time::timeout(config.handshake_timeout, work)
        .await
        .map_err(|_| TransportError::Timeout)?
}

/// TLS and the SMP handshake on an open TCP connection.
async fn connect_over(
    tcp: TcpStream,
    key_hash: &KeyHash,
    config: &ClientTransportConfig,
    client_key: Option<&PrivateKeyX25519>,
) -> Result<ClientConnection, TransportError> {
    let ctx = match &config.service {
        Some(svc) => tls::client_context_with_cert(&config.alpn, &svc.creds)?,
        None => tls::client_context_with_alpn(&config.alpn)?,
    };
    let (stream, info) = tls::connect(&ctx, tcp, key_hash).await?;
    let (mut reader, mut writer) = split(stream);
    let session = client_handshake(
        &info,
        key_hash,
        config,
        client_key,
        &mut reader,
        &mut writer,
    )
    .await?;
    Ok(SmpConnection {
        reader,
        writer,
        session,
    })
}

/// The client's range for a server offering `server`: a proxy caps itself at v10 with a
/// relay below v14, which cannot hear that it is a proxy and would encrypt its blocks.
fn client_range(config: &ClientTransportConfig, server: &VersionRange) -> VersionRange {
    let mut versions = config.versions;
    if config.proxy_server && server.max < PROXY_SERVER_HANDSHAKE_SMP_VERSION {
        versions.max = versions
            .min
            .max(DELETED_EVENT_SMP_VERSION)
            .min(versions.max);
    }
    versions
}

async fn client_handshake(
    info: &TlsInfo,
    key_hash: &KeyHash,
    config: &ClientTransportConfig,
    client_key: Option<&PrivateKeyX25519>,
    reader: &mut SmpReader,
    writer: &mut SmpWriter,
) -> Result<ClientSession, TransportError> {
    let block = reader.read_raw().await?;
    let hello = ServerHello::decode_block(block).map_err(|_| HandshakeError::Parse)?;
    if hello.session_id.as_slice() != info.session_id.as_slice() {
        return Err(TransportError::BadSession);
    }
    let common = hello
        .versions
        .intersect(&client_range(config, &hello.versions))
        .ok_or(TransportError::Version)?;
    let leaf = info.peer_chain.first().ok_or(ChainError::Missing)?;
    let server_cert_key = leaf_sign_key(leaf)?;
    let server_dh_key = match &hello.cert_key {
        None => None,
        Some(ck) => Some(check_cert_key(ck, key_hash, &server_cert_key)?),
    };
    let version = common.max;
    let service_hello = match &config.service {
        Some(svc) if version >= SERVICE_CERTS_SMP_VERSION => Some(service_hello(svc)?),
        _ => None,
    };
    let reply = ClientHello {
        version,
        key_hash: key_hash.clone(),
        dh_key: client_key.map(PrivateKeyX25519::public_key),
        proxy_server: config.proxy_server,
        client_service: service_hello.as_ref().map(|(hello, _, _)| hello.clone()),
    };
    let block = reply.encode_block().map_err(|_| TransportError::LargeMsg)?;
    writer.write_raw(&block).await?;
    let service = match service_hello {
        None => None,
        Some((hello, cert_hash, key)) => {
            let block = reader.read_raw().await?;
            match ServerHandshakeResponse::decode_block(block) {
                Ok(ServerHandshakeResponse::ServiceId(id)) => Some(ClientService {
                    service_id: id.as_slice().to_vec(),
                    role: hello.role,
                    cert_hash,
                    key,
                }),
                Ok(ServerHandshakeResponse::Error(e)) => {
                    return Err(match e {
                        WireError::Handshake(WireHandshakeError::BadAuth) => {
                            HandshakeError::BadAuth.into()
                        }
                        WireError::Handshake(WireHandshakeError::Parse) => {
                            HandshakeError::Parse.into()
                        }
                        WireError::Handshake(WireHandshakeError::Identity) => {
                            HandshakeError::Identity.into()
                        }
                        WireError::Version => TransportError::Version,
                        _ => HandshakeError::BadService.into(),
                    })
                }
                Err(_) => return Err(HandshakeError::Parse.into()),
            }
        }
    };
    // The server keys its chains from the key it signed into the hello; without that key
    // (below v7) there is nothing to agree on, and no version below v7 encrypts blocks.
    let secret = match (client_key, &server_dh_key) {
        (Some(own), Some(server)) if reply.dh_key.is_some() && version >= Version(7) => {
            Some(dh_x25519(server, own))
        }
        _ => None,
    };
    let block_encryption = match &secret {
        Some(secret) if uses_block_encryption(version, config.proxy_server) => {
            // The server sends with the first chain key and receives with the second.
            let (server_snd, server_rcv) = SbChainKey::init(&info.session_id, secret);
            reader.set_encryption(server_snd);
            writer.set_encryption(server_rcv);
            true
        }
        _ => false,
    };
    Ok(ClientSession {
        params: SessionParams {
            session_id: info.session_id.clone(),
            version,
            server_versions: common,
            block_encryption,
        },
        server_dh_key,
        server_cert_key,
        server_chain: info.peer_chain.clone(),
        server_hello_key: hello.cert_key,
        service,
    })
}

/// The hello's service record: a fresh Ed25519 session key signed by the service's TLS key,
/// with the certificate hash the server will compute and the session key.
fn service_hello(
    svc: &ServiceCredentials,
) -> Result<(ClientHelloService, [u8; 32], PrivateKeyEd25519), TransportError> {
    let bad = |e: &dyn std::fmt::Display| TransportError::Credentials(format!("service: {e}"));
    let key_der = svc.creds.private_key_der()?;
    let sign_key = PrivateSignKey::from_der(&key_der).map_err(|e| bad(&e))?;
    let alg = match sign_key {
        PrivateSignKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
        PrivateSignKey::Ed448(_) => SignatureAlgorithm::Ed448,
    };
    let session_key = PrivateKeyEd25519::generate(&mut rand::rngs::OsRng);
    let signed_key =
        SignedKey::build_key(SignedPubKey::Ed25519(session_key.public_key()), alg, |b| {
            sign(&sign_key, b)
        })
        .map_err(|e| bad(&e))?;
    let chain = svc.creds.chain_der()?;
    let id = match chain.as_slice() {
        [cert] => cert,
        [_, id, ..] => id,
        [] => return Err(bad(&"empty chain")),
    };
    let cert_hash = openssl::sha::sha256(id);
    let hello = ClientHelloService {
        role: svc.role,
        cert_key: CertChainPubKey {
            cert_chain: chain,
            signed_key,
        },
    };
    Ok((hello, cert_hash, session_key))
}

/// The chain in the hello must name the pinned identity (its second certificate), and the
/// session key must be signed by the key of the certificate TLS authenticated.
fn check_cert_key(
    ck: &CertChainPubKey,
    key_hash: &KeyHash,
    tls_leaf_key: &PublicSignKey,
) -> Result<PublicKeyX25519, TransportError> {
    let bad = || TransportError::from(HandshakeError::BadAuth);
    if !(2..=4).contains(&ck.cert_chain.len()) {
        return Err(bad());
    }
    let id_der = ck.cert_chain.get(1).ok_or_else(bad)?;
    let id = X509::from_der(id_der).map_err(|_| bad())?;
    if cert_fingerprint(&id)?.as_slice() != key_hash.as_bytes() {
        return Err(bad());
    }
    let sk = &ck.signed_key;
    if !verify(tls_leaf_key, sk.signature(), sk.signed_bytes()) {
        return Err(bad());
    }
    sk.key().copied().ok_or_else(bad)
}

/// Checks a relay's chain and signed session key as a proxy's client receives them in `PKEY`
/// (the reference's `validateRelay`): a chain of 2 to 4 whose second certificate is the
/// identity `key_hash`, valid (signatures and dates) up to its CA (the identity for a chain of
/// 2, else the last), and a session key signed by the leaf's key. Returns the session key.
pub fn verify_relay_key(
    ck: &CertChainPubKey,
    key_hash: &KeyHash,
) -> Result<PublicKeyX25519, TransportError> {
    let identity = || TransportError::from(HandshakeError::Identity);
    let certs = ck
        .cert_chain
        .iter()
        .map(|der| X509::from_der(der).map_err(|_| identity()))
        .collect::<Result<Vec<_>, _>>()?;
    if !(2..=4).contains(&certs.len()) {
        return Err(identity());
    }
    let (Some(leaf), Some(id), Some(ca)) = (certs.first(), certs.get(1), certs.last()) else {
        return Err(identity());
    };
    if cert_fingerprint(id)?.as_slice() != key_hash.as_bytes() {
        return Err(identity());
    }
    if !chain_valid(leaf, certs.get(1..).unwrap_or_default(), ca)? {
        return Err(identity());
    }
    let leaf_key = leaf_sign_key(ck.cert_chain.first().ok_or_else(identity)?)?;
    let sk = &ck.signed_key;
    if !verify(&leaf_key, sk.signature(), sk.signed_bytes()) {
        return Err(identity());
    }
    sk.key().copied().ok_or_else(identity)
}

/// OpenSSL's verification of `leaf` through `intermediates` up to the trusted `ca`.
fn chain_valid(leaf: &X509, intermediates: &[X509], ca: &X509) -> Result<bool, TransportError> {
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::X509StoreContext;
    let mut store = X509StoreBuilder::new()?;
    store.add_cert(ca.clone())?;
    let store = store.build();
    let mut untrusted = Stack::new()?;
    for c in intermediates {
        untrusted.push(c.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    Ok(ctx.init(&store, leaf, &untrusted, |c| c.verify_cert())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{GeneratedCredentials, SignAlgorithm};

    fn signed_by(
        creds: &ServerCredentials,
        key: &PrivateSignKey,
        alg: SignatureAlgorithm,
    ) -> (CertChainPubKey, PublicKeyX25519) {
        let dh = PrivateKeyX25519::generate(&mut rand::rngs::OsRng).public_key();
        let signed_key = SignedKey::build(&dh, alg, |b| sign(key, b)).expect("build");
        let ck = CertChainPubKey {
            cert_chain: creds.chain_der().expect("der"),
            signed_key,
        };
        (ck, dh)
    }

    fn setup() -> (ServerCredentials, PrivateSignKey, PublicSignKey) {
        let creds = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "x")
            .expect("gen")
            .server_credentials()
            .expect("creds");
        let key = PrivateSignKey::from_der(&creds.private_key_der().expect("der")).expect("key");
        let leaf = leaf_sign_key(&creds.chain_der().expect("der")[0]).expect("leaf key");
        (creds, key, leaf)
    }

    #[test]
    fn relay_key_is_verified_against_the_pinned_identity() {
        let (creds, key, _) = setup();
        let (ck, dh) = signed_by(&creds, &key, SignatureAlgorithm::Ed25519);
        let id = creds.identity().expect("id");
        assert_eq!(verify_relay_key(&ck, &id).expect("valid"), dh);
        let identity = |r: Result<PublicKeyX25519, TransportError>| {
            matches!(r, Err(TransportError::Handshake(HandshakeError::Identity)))
        };
        assert!(identity(verify_relay_key(&ck, &KeyHash::from([1; 32]))));
        let (_, other, _) = setup();
        let (forged, _) = signed_by(&creds, &other, SignatureAlgorithm::Ed25519);
        assert!(identity(verify_relay_key(&forged, &id)));
        // Another server's leaf under this identity: the chain does not verify.
        let (creds2, key2, _) = setup();
        let (ck2, _) = signed_by(&creds2, &key2, SignatureAlgorithm::Ed25519);
        let mut mixed = ck.clone();
        mixed.cert_chain[0] = ck2.cert_chain[0].clone();
        mixed.signed_key = ck2.signed_key.clone();
        assert!(identity(verify_relay_key(&mixed, &id)));
        let mut short = ck;
        short.cert_chain.truncate(1);
        assert!(identity(verify_relay_key(&short, &id)));
    }

    #[test]
    fn key_signed_by_the_leaf_is_accepted() {
        let (creds, key, leaf) = setup();
        let (ck, dh) = signed_by(&creds, &key, SignatureAlgorithm::Ed25519);
        let id = creds.identity().expect("id");
        assert_eq!(check_cert_key(&ck, &id, &leaf).expect("valid"), dh);
    }

    #[test]
    fn key_signed_by_another_key_is_bad_auth() {
        let (creds, _, leaf) = setup();
        let (_, other, _) = setup();
        let (ck, _) = signed_by(&creds, &other, SignatureAlgorithm::Ed25519);
        let id = creds.identity().expect("id");
        let err = check_cert_key(&ck, &id, &leaf).expect_err("wrong signer");
        assert!(matches!(
            err,
            TransportError::Handshake(HandshakeError::BadAuth)
        ));
    }

    #[test]
    fn hello_chain_of_another_identity_is_bad_auth() {
        let (creds, key, leaf) = setup();
        let (ck, _) = signed_by(&creds, &key, SignatureAlgorithm::Ed25519);
        let err = check_cert_key(&ck, &KeyHash::from([1; 32]), &leaf).expect_err("wrong identity");
        assert!(matches!(
            err,
            TransportError::Handshake(HandshakeError::BadAuth)
        ));
        let mut short = ck.clone();
        short.cert_chain.truncate(1);
        let id = creds.identity().expect("id");
        let err = check_cert_key(&short, &id, &leaf).expect_err("chain of one");
        assert!(matches!(
            err,
            TransportError::Handshake(HandshakeError::BadAuth)
        ));
    }
}
