//! Helpers: an in-process SMP server on 127.0.0.1 port 0, agents on SQLite files in a
//! temporary directory, and bounded waits for events.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use simplex_agent::{
    Agent, AgentConfig, AgentEvent, Event, MsgReceipt, MsgReceiptStatus, SqliteStore,
};
use simplex_transport::credentials::{GeneratedCredentials, SignAlgorithm};
use smp_proto::SmpServer;
use smp_server::core::{Core, CoreConfig};
use smp_server::msg_store::MsgStore;
use smp_server::server::{NetConfig, Server};
use smp_server::store::QueueStore;
use tokio::sync::{mpsc, oneshot};

/// Bounds every wait for an event, so that a missing event fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(30);

/// A server running in this process.
pub struct TestServer {
    /// Its address, identity pinned.
    pub address: SmpServer,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server with a per-queue message quota.
    pub async fn start(quota: usize) -> TestServer {
        let creds = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "127.0.0.1")
            .expect("credentials");
        let creds = creds.server_credentials().expect("server credentials");
        let key_hash = creds.identity().expect("identity");
        let net = NetConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            max_connections: 4096,
            inactive: None,
            messages_path: None,
            ntfs_path: None,
        };
        let core = Core::new(
            CoreConfig::default(),
            QueueStore::new(),
            MsgStore::new(quota),
        );
        let server = Server::bind(net, &creds, core).await.expect("bind");
        let port = server.local_addr().expect("local address").port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            address: SmpServer::parse_str(format!("smp://{key_hash}@127.0.0.1:{port}").as_bytes())
                .expect("server address"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await.expect("server task");
        }
    }
}

/// A server whose queues and messages survive a restart on the same port.
pub struct PersistentServer {
    /// Its address.
    pub address: SmpServer,
    creds: simplex_transport::credentials::ServerCredentials,
    dir: std::path::PathBuf,
    port: u16,
    running: Option<TestServer>,
}

impl PersistentServer {
    /// Starts it with its store log and messages in `dir`.
    pub async fn start(dir: &Path) -> PersistentServer {
        let creds = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "127.0.0.1")
            .expect("credentials");
        let creds = creds.server_credentials().expect("server credentials");
        let key_hash = creds.identity().expect("identity");
        let mut s = PersistentServer {
            address: SmpServer::parse_str(
                b"smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@127.0.0.1:1",
            )
            .expect("placeholder"),
            creds,
            dir: dir.to_path_buf(),
            port: 0,
            running: None,
        };
        s.up().await;
        s.address =
            SmpServer::parse_str(format!("smp://{key_hash}@127.0.0.1:{}", s.port).as_bytes())
                .expect("server address");
        s
    }

    /// Starts it again (after [`PersistentServer::down`]).
    pub async fn up(&mut self) {
        let mut queues = QueueStore::new();
        let log = self.dir.join("smp-server-store.log");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let (writer, _) = smp_server::store_log::open_and_compact(
            &log,
            &mut queues,
            i128::try_from(now).expect("time"),
        )
        .expect("store log");
        queues.set_log(writer);
        let mut msgs = MsgStore::new(128);
        let msgs_path = self.dir.join("smp-server-messages.log");
        if msgs_path.exists() {
            smp_server::store_log::restore_messages(&msgs_path, &queues, &mut msgs, None)
                .expect("restore messages");
        }
        let net = NetConfig {
            listen: format!("127.0.0.1:{}", self.port).parse().expect("address"),
            max_connections: 4096,
            inactive: None,
            messages_path: Some(msgs_path),
            ntfs_path: None,
        };
        let core = Core::new(CoreConfig::default(), queues, msgs);
        let server = Server::bind(net, &self.creds, core).await.expect("bind");
        self.port = server.local_addr().expect("local address").port();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        self.running = Some(TestServer {
            address: self.address.clone(),
            stop: Some(stop),
            task: Some(task),
        });
    }

    /// Stops it, saving its messages.
    pub async fn down(&mut self) {
        if let Some(s) = self.running.take() {
            s.stop().await;
        }
    }
}

/// An agent with its event stream.
pub struct TestAgent {
    /// The handle.
    pub agent: Agent,
    /// Its events.
    pub events: mpsc::UnboundedReceiver<AgentEvent>,
}

impl TestAgent {
    /// Starts an agent on `dir/name.db` with these servers.
    pub async fn start(dir: &Path, name: &str, config: AgentConfig) -> TestAgent {
        let store =
            SqliteStore::open(&dir.join(format!("{name}.db")), "passphrase").expect("open store");
        let (agent, events) = Agent::start(config, Box::new(store))
            .await
            .expect("start agent");
        TestAgent { agent, events }
    }

    /// The next event, within [`WAIT`].
    pub async fn next(&mut self) -> AgentEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("event in time")
            .expect("event stream open")
    }

    /// The next event that is not `SENT` or `RCVD` (those are checked separately).
    pub async fn next_skip(&mut self, skip: impl Fn(&Event) -> bool) -> AgentEvent {
        loop {
            let e = self.next().await;
            if !skip(&e.event) {
                return e;
            }
        }
    }
}

/// Agent settings on these servers with fast retries.
pub fn config(servers: Vec<SmpServer>) -> AgentConfig {
    let mut c = AgentConfig::new(servers);
    c.retry_initial = Duration::from_millis(100);
    c.retry_max = Duration::from_secs(1);
    c
}

/// Connects `a` and `b` through an invitation; returns (a's conn ID, b's conn ID).
pub async fn connect(a: &mut TestAgent, b: &mut TestAgent) -> (Vec<u8>, Vec<u8>) {
    let (a_id, link) = a.agent.create_connection().await.expect("create");
    let b_id = b
        .agent
        .join_connection(&link, b"bob's info")
        .await
        .expect("join");
    let conf = a.next().await;
    assert_eq!(conf.conn_id, a_id);
    let Event::Conf {
        conf_id, conn_info, ..
    } = conf.event
    else {
        panic!("expected CONF, got {conf:?}");
    };
    assert_eq!(conn_info, b"bob's info");
    a.agent
        .allow_connection(&conf_id, b"alice's info")
        .await
        .expect("allow");
    let info = b.next().await;
    assert_eq!(info.conn_id, b_id);
    assert_eq!(info.event, Event::Info(b"alice's info".to_vec()));
    let con_b = b.next().await;
    assert_eq!(
        (con_b.conn_id.clone(), con_b.event),
        (b_id.clone(), Event::Con)
    );
    let con_a = a.next().await;
    assert_eq!(
        (con_a.conn_id.clone(), con_a.event),
        (a_id.clone(), Event::Con)
    );
    (a_id, b_id)
}

/// Sends `body` from `s` on `s_conn`; `r` gets it on `r_conn`, acknowledges it with a
/// receipt; `s` gets `SENT` and `RCVD` and acknowledges the receipt. Returns the
/// receiver's message ID.
pub async fn exchange(
    s: &mut TestAgent,
    s_conn: &[u8],
    r: &mut TestAgent,
    r_conn: &[u8],
    body: &[u8],
) -> i64 {
    let id = s.agent.send_message(s_conn, body).await.expect("send");
    let msg = r.next().await;
    assert_eq!(msg.conn_id, r_conn);
    let Event::Msg { meta, body: got } = msg.event else {
        panic!("expected MSG, got {msg:?}");
    };
    assert_eq!(got, body);
    assert_eq!(meta.integrity, simplex_agent::MsgIntegrity::Ok);
    r.agent
        .ack_message(r_conn, meta.msg_id, Some(b""))
        .await
        .expect("ack");
    let mut sent = false;
    let mut rcvd = false;
    while !(sent && rcvd) {
        let e = s.next().await;
        assert_eq!(e.conn_id, s_conn, "{e:?}");
        match e.event {
            Event::Sent(m) if m == id => sent = true,
            Event::Rcvd { meta, receipts } => {
                assert_eq!(
                    receipts,
                    vec![MsgReceipt {
                        msg_id: id,
                        status: MsgReceiptStatus::Ok
                    }]
                );
                s.agent
                    .ack_message(s_conn, meta.msg_id, None)
                    .await
                    .expect("ack the receipt");
                rcvd = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    meta.msg_id
}
