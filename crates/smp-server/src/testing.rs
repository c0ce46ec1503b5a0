//! An in-process relay for tests, examples and benchmarks (cargo feature `testing`, off in
//! release builds of the relay).
//!
//! [`TestServer`] binds a [`Server`] on `127.0.0.1`, port 0, with freshly generated Ed25519
//! credentials and an in-memory [`Core`], and runs it in a tokio task until
//! [`TestServer::stop`] (or until it is dropped). [`PersistentServer`] keeps its queues (store
//! log) and messages (saved on shutdown) in a directory, so that it can be taken
//! [`down`](PersistentServer::down) and [`up`](PersistentServer::up) again on the same port
//! with the same identity.
//!
//! Every function needs a tokio runtime; failures (binding, a failing store log) are returned
//! as [`std::io::Error`]s for the caller to `expect`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use simplex_transport::credentials::{GeneratedCredentials, ServerCredentials, SignAlgorithm};
use smp_proto::address::TransportHost;
use smp_proto::{KeyHash, SmpServer};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::core::{Core, CoreConfig};
use crate::msg_store::MsgStore;
use crate::server::{NetConfig, Server};
use crate::store::QueueStore;
use crate::store_log;

/// The connection cap of a [`TestServer`] started by [`TestServer::start`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Where a [`PersistentServer`] keeps its store log, inside its directory.
pub const STORE_LOG_FILE: &str = "smp-server-store.log";

/// Where a [`PersistentServer`] saves its messages on shutdown, inside its directory.
pub const MESSAGES_FILE: &str = "smp-server-messages.log";

/// `smp://<key_hash>@127.0.0.1:<port>`: a relay on this machine's loopback address.
pub fn local_address(key_hash: &KeyHash, port: u16) -> SmpServer {
    SmpServer {
        hosts: vec![TransportHost::Ipv4(Ipv4Addr::LOCALHOST.octets())],
        port: Some(port),
        key_hash: key_hash.clone(),
    }
}

/// Fresh Ed25519 credentials for `127.0.0.1`, and their identity (the key hash clients pin).
pub fn generate_credentials() -> io::Result<(ServerCredentials, KeyHash)> {
    let creds = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "127.0.0.1")
        .and_then(|c| c.server_credentials())
        .map_err(io::Error::other)?;
    let key_hash = creds.identity().map_err(io::Error::other)?;
    Ok((creds, key_hash))
}

/// A relay running in this process.
///
/// Dropping it without [`stop`](TestServer::stop) also shuts it down, without waiting.
pub struct TestServer {
    address: SmpServer,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    /// Starts a relay in memory with a per-queue message quota and
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub async fn start(quota: usize) -> io::Result<TestServer> {
        let msgs = MsgStore::new(quota);
        TestServer::start_with(CoreConfig::default(), msgs, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`TestServer::start`], also returning the relay's live counters (a test can wait
    /// for an event it cannot see from the client side, such as a refused `SEND`).
    pub async fn start_counting(
        quota: usize,
    ) -> io::Result<(TestServer, std::sync::Arc<crate::stats::Stats>)> {
        let (creds, key_hash) = generate_credentials()?;
        let core = Core::new(
            CoreConfig::default(),
            QueueStore::new(),
            MsgStore::new(quota),
        );
        let stats = core.stats().clone();
        let server = TestServer::spawn(net_config(0, None), &creds, &key_hash, core).await?;
        Ok((server, stats))
    }

    /// Starts a relay in memory whose proxy role reaches destination relays as `proxy`
    /// says (say, through a SOCKS5 proxy).
    pub async fn start_with_proxy(proxy: crate::proxy::ProxyConfig) -> io::Result<TestServer> {
        let (creds, key_hash) = generate_credentials()?;
        let core = Core::new(
            CoreConfig::default(),
            QueueStore::new(),
            MsgStore::default(),
        );
        let net = net_config(0, None);
        let mut server =
            Server::bind_with_versions(net, &creds, core, smp_proto::SERVER_VERSIONS).await?;
        server.set_proxy(proxy);
        TestServer::run(server, &key_hash)
    }

    /// Starts a relay with these settings (say, a `create_password`), over this message store
    /// (say, one with a journal) and connection cap, with an empty queue store.
    pub async fn start_with(
        config: CoreConfig,
        msgs: MsgStore,
        max_connections: usize,
    ) -> io::Result<TestServer> {
        let (creds, key_hash) = generate_credentials()?;
        let net = NetConfig {
            max_connections,
            ..net_config(0, None)
        };
        let core = Core::new(config, QueueStore::new(), msgs);
        TestServer::spawn(net, &creds, &key_hash, core).await
    }

    /// Starts a relay in memory with a per-queue message quota that writes the operators'
    /// statistics files of `stats` (say, with intervals of a second).
    pub async fn start_with_stats(
        quota: usize,
        stats: crate::stats::StatsConfig,
    ) -> io::Result<TestServer> {
        let (creds, key_hash) = generate_credentials()?;
        let net = NetConfig {
            stats,
            ..net_config(0, None)
        };
        let core = Core::new(
            CoreConfig::default(),
            QueueStore::new(),
            MsgStore::new(quota),
        );
        TestServer::spawn(net, &creds, &key_hash, core).await
    }

    /// Starts a relay in memory with a per-queue message quota, offering `versions` (say,
    /// v6–v14 before the default range is raised).
    pub async fn start_with_versions(
        quota: usize,
        versions: smp_proto::VersionRange,
    ) -> io::Result<TestServer> {
        let (creds, key_hash) = generate_credentials()?;
        let core = Core::new(
            CoreConfig::default(),
            QueueStore::new(),
            MsgStore::new(quota),
        );
        TestServer::spawn_with(net_config(0, None), &creds, &key_hash, core, versions).await
    }

    /// Starts a relay in memory with a per-queue message quota, offering `versions`, and a
    /// control port on 127.0.0.1 (any free port) with `control`'s passwords; returns the
    /// control port's address too.
    pub async fn start_with_control(
        quota: usize,
        versions: smp_proto::VersionRange,
        control: crate::control::ControlConfig,
    ) -> io::Result<(TestServer, SocketAddr)> {
        let (creds, key_hash) = generate_credentials()?;
        let core = Core::new(
            CoreConfig::default(),
            QueueStore::new(),
            MsgStore::new(quota),
        );
        let mut server =
            Server::bind_with_versions(net_config(0, None), &creds, core, versions).await?;
        let cp = crate::control::ControlPort::bind(0, control).await?;
        let cp_addr = cp.local_addr()?;
        server.set_control(cp);
        Ok((TestServer::run(server, &key_hash)?, cp_addr))
    }

    /// Binds `net.listen` and runs the relay in a task.
    async fn spawn(
        net: NetConfig,
        creds: &ServerCredentials,
        key_hash: &KeyHash,
        core: Core,
    ) -> io::Result<TestServer> {
        TestServer::spawn_with(net, creds, key_hash, core, smp_proto::SERVER_VERSIONS).await
    }

    /// [`TestServer::spawn`] offering `versions`.
    async fn spawn_with(
        net: NetConfig,
        creds: &ServerCredentials,
        key_hash: &KeyHash,
        core: Core,
        versions: smp_proto::VersionRange,
    ) -> io::Result<TestServer> {
        let server = Server::bind_with_versions(net, creds, core, versions).await?;
        TestServer::run(server, key_hash)
    }

    /// Runs a bound relay in a task.
    fn run(server: Server, key_hash: &KeyHash) -> io::Result<TestServer> {
        let port = server.local_addr()?.port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        }));
        Ok(TestServer {
            address: local_address(key_hash, port),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Its address, identity pinned: `smp://<key hash>@127.0.0.1:<port>`.
    pub fn address(&self) -> &SmpServer {
        &self.address
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port_or_default()
    }

    /// Its identity, the fingerprint clients pin.
    pub fn key_hash(&self) -> &KeyHash {
        &self.address.key_hash
    }

    /// Stops it and waits until it has drained its clients (and saved its messages, when it
    /// does); returns what the server's run returned, or an error if its task panicked.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

/// A relay whose queues and messages survive a restart on the same port with the same
/// identity: its store log ([`STORE_LOG_FILE`]) and saved messages ([`MESSAGES_FILE`]) are
/// in a directory.
pub struct PersistentServer {
    address: SmpServer,
    creds: ServerCredentials,
    dir: PathBuf,
    quota: usize,
    running: Option<TestServer>,
}

impl PersistentServer {
    /// Starts it over `dir` (which must exist) with a per-queue message quota; a store log
    /// and saved messages already there are restored.
    pub async fn start(dir: &Path, quota: usize) -> io::Result<PersistentServer> {
        let (creds, key_hash) = generate_credentials()?;
        let mut server = PersistentServer {
            address: local_address(&key_hash, 0),
            creds,
            dir: dir.to_path_buf(),
            quota,
            running: None,
        };
        server.up().await?;
        Ok(server)
    }

    /// Its address, identity pinned; the same after [`up`](PersistentServer::up).
    pub fn address(&self) -> &SmpServer {
        &self.address
    }

    /// The port it listens on, also while it is down.
    pub fn port(&self) -> u16 {
        self.address.port_or_default()
    }

    /// Its identity, the fingerprint clients pin.
    pub fn key_hash(&self) -> &KeyHash {
        &self.address.key_hash
    }

    /// The directory with its store log and saved messages.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether it is running.
    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Starts it again after [`down`](PersistentServer::down), on the same port: replays
    /// and compacts the store log and restores the saved messages. Does nothing when it is
    /// up.
    pub async fn up(&mut self) -> io::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let mut queues = QueueStore::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(io::Error::other)?
            .as_nanos();
        let now = i128::try_from(now).map_err(io::Error::other)?;
        let (writer, _) =
            store_log::open_and_compact(&self.dir.join(STORE_LOG_FILE), &mut queues, now)?;
        queues.set_log(writer);
        let mut msgs = MsgStore::new(self.quota);
        let msgs_path = self.dir.join(MESSAGES_FILE);
        if msgs_path.exists() {
            store_log::restore_messages(&msgs_path, &queues, &mut msgs, None)?;
        }
        let net = net_config(self.address.port.unwrap_or(0), Some(msgs_path));
        let core = Core::new(CoreConfig::default(), queues, msgs);
        let running = TestServer::spawn(net, &self.creds, &self.address.key_hash, core).await?;
        self.address = running.address.clone();
        self.running = Some(running);
        Ok(())
    }

    /// Stops it, saving its messages and closing its store log, and waits for that. Does
    /// nothing when it is down.
    pub async fn down(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(running) => running.stop().await,
            None => Ok(()),
        }
    }
}

/// Listening on `127.0.0.1:port`, no inactivity expiry, no saved notifications.
fn net_config(port: u16, messages_path: Option<PathBuf>) -> NetConfig {
    NetConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        max_connections: DEFAULT_MAX_CONNECTIONS,
        inactive: None,
        messages_path,
        ntfs_path: None,
        stats: crate::stats::StatsConfig::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::rngs::OsRng;
    use simplex_crypto::{dh_x25519, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519};
    use smp_client::{ClientConfig, SmpClient};
    use smp_proto::command::{MsgFlags, SubscriptionMode};
    use smp_proto::message::RcvMsgBody;

    async fn client(server: &SmpServer) -> SmpClient {
        let config = ClientConfig {
            ping_interval: std::time::Duration::ZERO,
            ..ClientConfig::default()
        };
        let (client, _events) = SmpClient::connect(server, config).await.expect("connect");
        client
    }

    #[tokio::test]
    async fn a_persistent_server_comes_up_on_its_port_with_its_queues_and_messages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = PersistentServer::start(dir.path(), 8).await.expect("start");
        let first = server.address().clone();
        assert_ne!(server.port(), 0, "a real port");
        let c = client(server.address()).await;
        let rcv_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
        let dh = PrivateKeyX25519::generate(&mut OsRng);
        let ids = c
            .create_queue(
                &rcv_key,
                &dh.public_key(),
                None,
                SubscriptionMode::OnlyCreate,
                true,
            )
            .await
            .expect("NEW");
        let flags = MsgFlags {
            notification: false,
        };
        c.send_message(None, ids.snd_id.as_slice(), flags, b"kept")
            .await
            .expect("SEND");
        c.close().await;

        server.down().await.expect("down");
        assert!(!server.is_up());
        server.down().await.expect("down again does nothing");
        server.up().await.expect("up");
        assert!(server.is_up());
        assert_eq!(server.address(), &first, "same port and identity");

        let c = client(server.address()).await;
        let m = c
            .get_message(&rcv_key, ids.rcv_id.as_slice())
            .await
            .expect("GET on the restored queue")
            .expect("the saved message");
        let secret = dh_x25519(&ids.rcv_public_dh_key, &dh);
        match smp_client::decrypt_message(&secret, &m).expect("decrypts") {
            RcvMsgBody::Data { body, .. } => assert_eq!(body, b"kept"),
            other => panic!("expected a message, got {other:?}"),
        }
        c.close().await;
        server.down().await.expect("down");
    }

    #[tokio::test]
    async fn a_test_server_listens_where_its_address_says() {
        let server = TestServer::start(8).await.expect("start");
        assert_eq!(
            server.address().hosts,
            vec![TransportHost::Ipv4([127, 0, 0, 1])]
        );
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port())).await;
        assert!(tcp.is_ok(), "accepts TCP on its port");
        drop(tcp);
        server.stop().await.expect("stop");
    }
}
