//! Receiving many connections' messages at once: the relay delivers every waiting message
//! when the receiving agent subscribes, and the agent processes what its reader delivered
//! together as one batch (one hold of its lock, the store calls committed together). Each
//! message stands alone: a bad one among them is reported and acknowledged as it would be
//! alone, every other one is stored, reported and acknowledged.

mod common;

use simplex_agent::sqlite::Locking;
use std::collections::{HashMap, HashSet};

use common::*;
use simplex_agent::store::Store;
use simplex_agent::{Event, MsgIntegrity, SqliteStore};

/// Connections of the test.
const CONNS: usize = 8;
/// The connection that gets a bad message in the first round.
const BAD: usize = 3;

/// Bob's events until `msgs` messages (each acknowledged, without waiting with
/// `async_ack`; bodies by connection) and `errs` errors (connections) arrived; `UP`/`DOWN`
/// skipped, anything else fails.
async fn collect(
    b: &mut TestAgent,
    msgs: usize,
    errs: usize,
    async_ack: bool,
) -> (HashMap<Vec<u8>, (i64, Vec<u8>)>, Vec<Vec<u8>>) {
    let mut got = HashMap::new();
    let mut bad = Vec::new();
    while got.len() < msgs || bad.len() < errs {
        let e = b
            .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
            .await;
        match e.event {
            Event::Msg { meta, body } => {
                assert_eq!(meta.integrity, MsgIntegrity::Ok, "{body:?}");
                if async_ack {
                    b.agent.ack_message_async(&e.conn_id, meta.msg_id, None);
                } else {
                    b.agent
                        .ack_message(&e.conn_id, meta.msg_id, None)
                        .await
                        .expect("ack");
                }
                let before = got.insert(e.conn_id, (meta.msg_id, body));
                assert!(before.is_none(), "one message per connection");
            }
            Event::Err(_) => bad.push(e.conn_id),
            other => panic!("unexpected event {other:?}"),
        }
    }
    (got, bad)
}

/// Bob is away while Alice sends one message to seven of eight connections, as one batch,
/// and a client with Alice's sending key puts garbage in the eighth's queue instead.
/// When Bob's agent starts, the relay delivers all eight at once: the seven messages are
/// reported, stored and acknowledged; the garbage is reported as an error on its
/// connection and acknowledged too. A second message on every connection then arrives
/// (the relay delivers a queue's next message only after the previous one's `ACK`), in
/// sequence (acknowledged without waiting, then a third, which shows those `ACK`s arrived),
/// and what was reported is in Bob's store, marked acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_of_connections_with_one_bad_message() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || config(vec![srv.address().clone()]);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let mut pairs = Vec::new();
    for _ in 0..CONNS {
        pairs.push(connect(&mut a, &mut b).await);
    }
    b.agent.stop().await;
    drop(b);

    // Alice's messages to every connection but the bad one, as one batch.
    let first: Vec<(Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != BAD)
        .map(|(i, (ab, _))| (ab.clone(), format!("first {i}").into_bytes()))
        .collect();
    for r in a.agent.send_messages(first).await {
        r.expect("sent");
    }
    let mut sent = 0;
    while sent < CONNS - 1 {
        if let Event::Sent(_) = a.next().await.event {
            sent += 1;
        }
    }
    // Garbage in the bad connection's queue, sent with Alice's key.
    let astore =
        SqliteStore::open_with(&dir.path().join("alice.db"), "passphrase", Locking::Shared)
            .expect("open");
    let sq = astore
        .snd_queue(&pairs[BAD].0)
        .expect("read")
        .expect("queue");
    drop(astore);
    let (raw, _ev) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    raw.send_message(
        Some(&sq.snd_key),
        &sq.snd_id,
        Default::default(),
        &[7u8; 100],
    )
    .await
    .expect("garbage sent");
    raw.close().await;

    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let (got, bad) = collect(&mut b, CONNS - 1, 1, false).await;
    assert_eq!(
        bad,
        vec![pairs[BAD].1.clone()],
        "the error is the bad one's"
    );
    for (i, (_, ba)) in pairs.iter().enumerate().filter(|(i, _)| *i != BAD) {
        let (_, body) = got.get(ba).expect("every good message");
        assert_eq!(body, format!("first {i}").as_bytes());
    }

    // A second message on every connection, the bad one's included: each queue's first
    // message was acknowledged. These are acknowledged without waiting (`ack_message_async`),
    // and a third message on every connection shows those `ACK`s reached the relay.
    let mut rounds = vec![got];
    for (round, async_ack) in [("second", true), ("third", false)] {
        let msgs: Vec<(Vec<u8>, Vec<u8>)> = pairs
            .iter()
            .enumerate()
            .map(|(i, (ab, _))| (ab.clone(), format!("{round} {i}").into_bytes()))
            .collect();
        for r in a.agent.send_messages(msgs).await {
            r.expect("sent");
        }
        let (again, none) = collect(&mut b, CONNS, 0, async_ack).await;
        assert!(none.is_empty());
        let before = rounds.last().expect("a round before");
        for (i, (_, ba)) in pairs.iter().enumerate() {
            let (id, body) = again.get(ba).expect("every message of the round");
            assert_eq!(body, format!("{round} {i}").as_bytes());
            if let Some((before_id, _)) = before.get(ba) {
                assert!(id > before_id, "in sequence");
            }
        }
        rounds.push(again);
    }
    b.agent.stop().await;
    drop(b);

    // What Bob was told is stored, and marked acknowledged (its body dropped then: the
    // application has it).
    let bstore = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let mut seen = HashSet::new();
    for (conn, (id, _)) in rounds.iter().flatten() {
        let m = bstore.rcv_msg(conn, *id).expect("read").expect("stored");
        assert!(m.acked, "marked acknowledged");
        assert!(m.body.is_empty(), "its body dropped");
        seen.insert((conn.clone(), *id));
    }
    assert_eq!(seen.len(), 3 * CONNS - 1);
    a.agent.stop().await;
    srv.stop().await.expect("server stopped");
}
