//! Helpers: agents on SQLite files in a temporary directory, bounded waits for events, and
//! the in-process SMP servers of `smp_server::testing` (re-exported).

#![allow(dead_code)]

use simplex_agent::sqlite::Locking;
use std::path::Path;
use std::time::Duration;

use simplex_agent::{
    Agent, AgentConfig, AgentEvent, Event, MsgReceipt, MsgReceiptStatus, SqliteStore,
};
use smp_proto::SmpServer;
// Not every test file uses both.
#[allow(unused_imports)]
pub use smp_server::testing::{PersistentServer, TestServer};
use tokio::sync::mpsc;

/// Bounds every wait for an event, so that a missing event fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(30);

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
        let store = SqliteStore::open_with(
            &dir.join(format!("{name}.db")),
            "passphrase",
            Locking::Shared,
        )
        .expect("open store");
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
    let msg = loop {
        let e = r.next().await;
        if e.conn_id == r_conn {
            break e;
        }
        eprintln!("exchange: skipped an event of another connection: {e:?}");
    };
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
        // Events of the sender's other connections (or of its relay connection, with no
        // connection ID) may come in between under load; they are not this exchange's.
        if e.conn_id != s_conn {
            eprintln!("exchange: skipped an event of another connection: {e:?}");
            continue;
        }
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

/// Sends `text` from `a` on `conn` and waits for its `SENT`; then reads it from the relay with
/// the recipient's queue record `rq` (as a client holding the recipient's key would, the
/// recipient's agent being stopped) without acknowledging it. Returns the message's ID and
/// its SMP body (the relay's layer removed), to replay or alter.
pub async fn send_and_peek(
    a: &mut TestAgent,
    conn: &[u8],
    text: &[u8],
    srv: &SmpServer,
    rq: &simplex_agent::store::RcvQueueRecord,
) -> (i64, Vec<u8>) {
    let id = a.agent.send_message(conn, text).await.expect("send");
    loop {
        if let Event::Sent(m) = a.next().await.event {
            assert_eq!(m, id);
            break;
        }
    }
    let (spy, _ev) = smp_client::SmpClient::connect(srv, Default::default())
        .await
        .expect("connect");
    let m = spy
        .get_message(&rq.rcv_key, &rq.rcv_id)
        .await
        .expect("get")
        .expect("a message");
    let smp_proto::RcvMsgBody::Data { body, .. } =
        smp_client::decrypt_message(&rq.rcv_dh_secret, &m).expect("decrypt")
    else {
        panic!("data")
    };
    spy.close().await;
    (id, body)
}
