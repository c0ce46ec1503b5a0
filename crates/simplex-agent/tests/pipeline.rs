//! A run of messages on one connection: the delivery task sends each while the one before
//! it is marked sent (module `send`, `read_ahead`). Every message arrives once, in order,
//! each is reported `SENT` once and in order, and once the agent stopped none is pending.

mod common;

use common::*;
use simplex_agent::sqlite::Locking;
use simplex_agent::store::Store;
use simplex_agent::{Event, MsgIntegrity, SqliteStore};

/// Messages in the run: enough to fill the relay's queue (quota 128) and wait for `QCONT`.
const RUN: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_messages_arrives_in_order_and_is_marked_sent_once() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let servers = vec![srv.address().clone()];
    let mut a = TestAgent::start(dir.path(), "alice", config(servers.clone())).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(servers)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    let mut ids = Vec::new();
    for i in 0..RUN {
        let body = format!("message {i}").into_bytes();
        ids.push(a.agent.send_message(&ab, &body).await.expect("send"));
    }
    let mut last_msg_id = 0;
    for i in 0..RUN {
        let e = b
            .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
            .await;
        assert_eq!(e.conn_id, ba);
        let Event::Msg { meta, body } = e.event else {
            panic!("expected message {i}, got {e:?}");
        };
        assert_eq!(body, format!("message {i}").into_bytes());
        assert_eq!(meta.integrity, MsgIntegrity::Ok, "message {i}");
        assert!(meta.msg_id > last_msg_id);
        last_msg_id = meta.msg_id;
        b.agent
            .ack_message(&ba, meta.msg_id, None)
            .await
            .expect("ack");
    }
    // Alice's SENT events: each message once, in the order sent (QCONT and the like skipped).
    let mut sent = Vec::new();
    while sent.len() < RUN {
        let e = a.next().await;
        if let Event::Sent(id) = e.event {
            assert_eq!(e.conn_id, ab);
            sent.push(id);
        }
    }
    assert_eq!(sent, ids);
    a.agent.stop().await;
    b.agent.stop().await;
    drop(a);
    let store = SqliteStore::open_with(&dir.path().join("alice.db"), "passphrase", Locking::Shared)
        .expect("open");
    let pending = store.pending_snd_msgs(&ab).expect("read");
    assert!(pending.is_empty(), "{} still pending", pending.len());
}
