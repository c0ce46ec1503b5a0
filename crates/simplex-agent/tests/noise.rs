//! Noise traffic (`AgentConfig::noise_interval`, not in the reference): cover messages go
//! through the relay as messages of the same size as real ones, and neither side's
//! application hears of them; real messages still arrive in order with their integrity
//! intact; `send_delay_max` delays real messages without losing or reordering them.

mod common;

use simplex_agent::sqlite::Locking;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use simplex_agent::store::Store;
use simplex_agent::{Event, MsgIntegrity, SqliteStore};
use smp_proto::{RcvMsgBody, Response};

/// Waits until the relay has accepted `n` more messages than `from`.
async fn relay_accepted(stats: &smp_server::stats::Stats, from: i64, n: i64) {
    tokio::time::timeout(WAIT, async {
        while stats.msg_sent.load(Ordering::Relaxed) < from + n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("cover messages reach the relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cover_messages_are_unseen_by_both_applications_and_sized_as_real_ones() {
    let (srv, stats) = TestServer::start_counting(1000).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca = config(vec![srv.address().clone()]);
    ca.noise_interval = Some(Duration::from_millis(20));
    let mut a = TestAgent::start(dir.path(), "alice", ca).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;

    // Cover messages flow; then real ones: the next events on both sides are about the
    // real messages only, which arrive in order and with their integrity checks passed
    // (the cover messages took sequence numbers in between).
    let base = stats.msg_sent.load(Ordering::Relaxed);
    relay_accepted(&stats, base, 10).await;
    for text in ["one", "two"] {
        let id = a
            .agent
            .send_message(&ab, text.as_bytes())
            .await
            .expect("send");
        let e = a
            .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
            .await;
        assert_eq!(e.event, Event::Sent(id), "Alice hears only of her message");
        relay_accepted(&stats, stats.msg_sent.load(Ordering::Relaxed), 3).await;
        let e = b
            .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
            .await;
        let Event::Msg { meta, body } = e.event else {
            panic!("Bob hears only of real messages: {e:?}");
        };
        assert_eq!(body, text.as_bytes());
        assert_eq!(meta.integrity, MsgIntegrity::Ok);
        b.agent
            .ack_message(&ba, meta.msg_id, None)
            .await
            .expect("ack");
    }

    // What the relay holds for Bob: with Bob's agent stopped, a real message among cover
    // messages, read with Bob's queue keys: every body the sender sent has the same size.
    b.agent.stop().await;
    let store = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let rq = store.rcv_queue(&ba).expect("read").expect("queue");
    drop(store);
    a.agent.send_message(&ab, b"real").await.expect("send");
    let (c, mut events) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    c.subscribe(&rq.rcv_key, &rq.rcv_id)
        .await
        .expect("subscribe");
    let mut sizes = std::collections::BTreeSet::new();
    let mut seen = 0;
    while seen < 8 {
        let ev = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("in time")
            .expect("event");
        let Response::Msg(m) = ev.response else {
            continue;
        };
        let body = smp_client::decrypt_message(&rq.rcv_dh_secret, &m).expect("decrypt");
        if let RcvMsgBody::Data { body, .. } = body {
            sizes.insert(body.len());
            seen += 1;
        }
        c.ack(&rq.rcv_key, &rq.rcv_id, m.msg_id.as_slice())
            .await
            .expect("ack");
    }
    assert_eq!(sizes.len(), 1, "one size for all: {sizes:?}");
    c.close().await;
    a.agent.stop().await;
    srv.stop().await.expect("stopped");
}

/// A random delay before each send changes nothing but the timing: every message arrives,
/// once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delays_keep_order() {
    let srv = TestServer::start(1000).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca = config(vec![srv.address().clone()]);
    ca.send_delay_max = Some(Duration::from_millis(30));
    let mut a = TestAgent::start(dir.path(), "alice", ca).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    for i in 0..10 {
        a.agent
            .send_message(&ab, format!("m{i}").as_bytes())
            .await
            .expect("send");
    }
    for i in 0..10 {
        let e = b
            .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
            .await;
        let Event::Msg { meta, body } = e.event else {
            panic!("{e:?}");
        };
        assert_eq!(body, format!("m{i}").as_bytes());
        b.agent
            .ack_message(&ba, meta.msg_id, None)
            .await
            .expect("ack");
    }
    a.agent.stop().await;
    b.agent.stop().await;
}
