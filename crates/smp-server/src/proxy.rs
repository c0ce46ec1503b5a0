//! The proxy's side of private message routing (`PRXY`, `PFWD`; the proxy part of
//! `processCommand` in the reference's `Server.hs` and its `SMPClientAgent`).
//!
//! One [`ProxyAgent`] per relay holds at most one connection per destination relay, shared by
//! all clients (the spec demands it, so that the destination cannot tell clients apart), made
//! with a DH key in the hello so the proxy layer can be encrypted. A dropped connection is
//! replaced at the next `PRXY`; its session ID is then unknown (`ERR PROXY NO_SESSION`), and
//! clients ask again. Answers are the reference's: `PKEY` with the destination's session ID,
//! its version range within 8..=17, and the chain and signed key of its hello; `PRES` with
//! the destination's response to the forwarded command; or `ERR PROXY ...`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simplex_crypto::PublicKeyX25519;
use simplex_encoding::ShortBytes;
use simplex_transport::socks::SocksProxy;
use simplex_transport::SocksRoute;
use smp_client::{ClientConfig, ClientError, SmpClient};
use smp_proto::address::SmpServer;
use smp_proto::error::{BrokerErrorType, ErrorType, NetworkError, ProxyError, TransportError};
use smp_proto::proxy::PROXIED_RELAY_VERSIONS;
use smp_proto::response::Response;
use smp_proto::version::{Version, SENDING_PROXY_SMP_VERSION};

/// The reference's default limit of proxy commands one client may have in progress
/// (`[PROXY] client_concurrency`).
pub const DEFAULT_CLIENT_CONCURRENCY: usize = 32;

/// How the proxy role runs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Whether `PRXY` is served at all (the reference always serves it).
    pub allowed: bool,
    /// The password `PRXY` must carry (the reference uses `[AUTH] create_password`).
    pub basic_auth: Option<Vec<u8>>,
    /// Proxy commands one client may have in progress; more wait (`[PROXY]
    /// client_concurrency`).
    pub client_concurrency: usize,
    /// How connections to destination relays are made.
    pub client: ClientConfig,
    /// `[PROXY] socks_proxy`: the SOCKS5 proxy for connections to destination relays.
    pub socks_proxy: Option<SocksProxy>,
    /// `[PROXY] socks_mode`: through the SOCKS proxy to every destination, or only to
    /// `.onion` hosts (the default).
    pub socks_mode: SocksMode,
    /// `[PROXY] host_mode`: which of a destination's hosts to try first.
    pub host_mode: HostMode,
    /// `[PROXY] required_host_mode`: try only hosts of that kind.
    pub required_host_mode: bool,
}

/// The host and SOCKS modes, shared with the client side.
pub use smp_client::hosts::{hosts_by_mode, HostMode, SocksMode};

impl Default for ProxyConfig {
    fn default() -> Self {
        let mut client = ClientConfig::default();
        client.transport.handshake_timeout = Duration::from_secs(15);
        ProxyConfig {
            allowed: true,
            basic_auth: None,
            client_concurrency: DEFAULT_CLIENT_CONCURRENCY,
            client,
            socks_proxy: None,
            socks_mode: SocksMode::Onion,
            host_mode: HostMode::Public,
            required_host_mode: false,
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<SmpClient>>>;

/// The proxy's connections to destination relays.
pub struct ProxyAgent {
    config: ProxyConfig,
    relays: Mutex<HashMap<SmpServer, Slot>>,
    sessions: Mutex<HashMap<Vec<u8>, SmpClient>>,
}

impl std::fmt::Debug for ProxyAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyAgent").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn short(s: &str) -> ShortBytes {
    let b = s.as_bytes();
    ShortBytes::from_slice(b.get(..255).unwrap_or(b)).unwrap_or_default()
}

fn broker(e: BrokerErrorType) -> ErrorType {
    ErrorType::Proxy(Box::new(ProxyError::Broker(e)))
}

/// The `ERR` a proxy answers for a failure talking to a destination (`smpProxyError`).
pub fn proxy_error(e: &ClientError) -> ErrorType {
    use simplex_transport::TransportError as T;
    match e {
        ClientError::Server(e) => ErrorType::Proxy(Box::new(ProxyError::Protocol(e.clone()))),
        ClientError::BadResponse(p) => broker(BrokerErrorType::Response(short(&p.to_string()))),
        ClientError::Unexpected(tag) => broker(BrokerErrorType::Unexpected(short(tag))),
        ClientError::Timeout => broker(BrokerErrorType::Timeout),
        ClientError::NoServerAuth => broker(BrokerErrorType::Transport(TransportError::NoAuth)),
        ClientError::NoHost => broker(BrokerErrorType::Host),
        ClientError::Decrypt => ErrorType::Crypto,
        ClientError::Transport(t) => match t {
            T::Version => broker(BrokerErrorType::Transport(TransportError::Version)),
            T::BadSession => broker(BrokerErrorType::Transport(TransportError::Session)),
            T::BadBlock => broker(BrokerErrorType::Transport(TransportError::Block)),
            T::LargeMsg => broker(BrokerErrorType::Transport(TransportError::LargeMsg)),
            T::Handshake(h) => {
                let h = match h {
                    simplex_transport::HandshakeError::Parse => {
                        smp_proto::error::HandshakeError::Parse
                    }
                    simplex_transport::HandshakeError::Identity => {
                        smp_proto::error::HandshakeError::Identity
                    }
                    _ => smp_proto::error::HandshakeError::BadAuth,
                };
                broker(BrokerErrorType::Transport(TransportError::Handshake(h)))
            }
            T::Timeout => broker(BrokerErrorType::Network(NetworkError::Timeout)),
            _ => broker(BrokerErrorType::Network(NetworkError::Failed)),
        },
        ClientError::Closed => broker(BrokerErrorType::Network(NetworkError::Failed)),
        _ => ErrorType::Internal,
    }
}

impl ProxyAgent {
    /// An agent with no connections.
    pub fn new(config: ProxyConfig) -> Self {
        ProxyAgent {
            config,
            relays: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// `PRXY server auth`: the answer (`PKEY` or `ERR`).
    pub async fn prxy(&self, server: &SmpServer, auth: Option<&[u8]>) -> Response {
        let allowed = self.config.allowed
            && self
                .config
                .basic_auth
                .as_deref()
                .is_none_or(|p| auth == Some(p));
        if !allowed {
            return Response::Err(ErrorType::Proxy(Box::new(ProxyError::BasicAuth)));
        }
        match self.relay(server).await {
            Ok(c) => pkey(&c),
            Err(e) => {
                tracing::warn!(error = %e, "proxy: connecting to a destination relay failed");
                Response::Err(proxy_error(&e))
            }
        }
    }

    /// `PFWD` on the session `session_id`: the answer (`PRES` or `ERR`).
    pub async fn pfwd(
        &self,
        session_id: &[u8],
        corr_id: &[u8],
        version: Version,
        key: PublicKeyX25519,
        enc: Vec<u8>,
    ) -> Response {
        let client = lock(&self.sessions).get(session_id).cloned();
        let Some(client) = client.filter(|c| !c.is_closed()) else {
            return Response::Err(ErrorType::Proxy(Box::new(ProxyError::NoSession)));
        };
        if client.version() < SENDING_PROXY_SMP_VERSION {
            return Response::Err(broker(BrokerErrorType::Transport(TransportError::Version)));
        }
        match client.forward(corr_id, version, key, enc).await {
            Ok(r) => Response::Pres(r),
            Err(e) => Response::Err(proxy_error(&e)),
        }
    }

    /// The shared connection to `server`: the one there is, or a new one (one attempt at a
    /// time per server; others wait for it).
    async fn relay(&self, server: &SmpServer) -> Result<SmpClient, ClientError> {
        let slot = lock(&self.relays)
            .entry(server.clone())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        if let Some(old) = slot.take() {
            lock(&self.sessions).remove(old.session_id());
        }
        let c = self.connect(server).await?;
        lock(&self.sessions).insert(c.session_id().to_vec(), c.clone());
        *slot = Some(c.clone());
        Ok(c)
    }

    /// A new connection to `server`: its hosts in the host mode's order, each through the
    /// SOCKS proxy when the SOCKS mode says so (no credentials: the relay's connections are
    /// not a user's to isolate).
    async fn connect(&self, server: &SmpServer) -> Result<SmpClient, ClientError> {
        let c = &self.config;
        let mut last = ClientError::NoHost;
        let onion_first = c.host_mode.prefers_onion(c.socks_proxy.is_some());
        for one in hosts_by_mode(server, onion_first, c.required_host_mode) {
            let mut config = c.client.clone();
            let proxied = one.hosts.first().is_some_and(|h| c.socks_mode.proxies(h));
            config.transport.socks = match &c.socks_proxy {
                Some(p) if proxied => Some(SocksRoute {
                    proxy: p.addr,
                    credentials: None,
                }),
                _ => None,
            };
            // Pushed events are not expected on this connection; dropping the receiver drops
            // them.
            match SmpClient::connect_as_proxy(&one, config).await {
                Ok((client, _events)) => return Ok(client),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Closes every connection to destination relays.
    pub async fn close(&self) {
        let clients: Vec<SmpClient> = lock(&self.sessions).drain().map(|(_, c)| c).collect();
        lock(&self.relays).clear();
        for c in clients {
            c.close().await;
        }
    }
}

/// `PKEY` for a connection, or `ERR PROXY BROKER TRANSPORT ...` when it cannot be used for
/// proxying (`proxyResp`).
fn pkey(c: &SmpClient) -> Response {
    let transport = |e| Response::Err(broker(BrokerErrorType::Transport(e)));
    match c.server_versions().intersect(&PROXIED_RELAY_VERSIONS) {
        Some(versions) if c.version() >= SENDING_PROXY_SMP_VERSION => {
            match (c.server_hello_key(), ShortBytes::from_slice(c.session_id())) {
                (Some(ck), Ok(session_id)) => Response::Pkey {
                    session_id,
                    versions,
                    cert_key: ck.clone(),
                },
                _ => transport(TransportError::NoAuth),
            }
        }
        _ => transport(TransportError::Version),
    }
}
