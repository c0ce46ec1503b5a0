//! Batch sends (`Agent::send_messages`, the reference's `sendMessages`): one call for
//! messages to many connections, each entry with its own result; what got an ID is stored
//! and delivered, across an agent restart too.

mod common;

use std::collections::HashMap;

use common::*;
use simplex_agent::{AgentError, Event, MsgIntegrity};

/// Receives `n` messages on `r`, acknowledging each; returns the bodies by connection, in
/// the order they arrived.
async fn receive(r: &mut TestAgent, n: usize) -> HashMap<Vec<u8>, Vec<Vec<u8>>> {
    let mut got: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    let mut count = 0;
    while count < n {
        let e = r.next().await;
        match e.event {
            Event::Msg { meta, body } => {
                assert_eq!(meta.integrity, MsgIntegrity::Ok);
                r.agent
                    .ack_message(&e.conn_id, meta.msg_id, None)
                    .await
                    .expect("ack");
                got.entry(e.conn_id).or_default().push(body);
                count += 1;
            }
            Event::Up(..) => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
    got
}

/// Waits for `SENT` of each of `ids` (connection, message ID) on `s`, skipping `UP`.
async fn all_sent(s: &mut TestAgent, ids: &[(Vec<u8>, i64)]) {
    let mut left: Vec<(Vec<u8>, i64)> = ids.to_vec();
    while !left.is_empty() {
        let e = s.next().await;
        match e.event {
            Event::Sent(id) => {
                let at = left
                    .iter()
                    .position(|(c, m)| *c == e.conn_id && *m == id)
                    .unwrap_or_else(|| panic!("SENT of an unexpected message {id}"));
                left.remove(at);
            }
            Event::Up(..) => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// One batch to three connections, one of them deleted and one unknown: those two entries
/// fail alone (`NoConnection`), every other message gets its ID, is `SENT` and arrives in
/// the order of the batch on its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_to_several_connections_fails_only_bad_entries() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || config(vec![srv.address().clone()]);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let mut pairs = Vec::new();
    for _ in 0..3 {
        pairs.push(connect(&mut a, &mut b).await);
    }
    let (gone, _) = pairs.remove(2);
    a.agent.delete_connection(&gone).await.expect("delete");
    let (c0, c1) = (pairs[0].0.clone(), pairs[1].0.clone());
    let batch = vec![
        (c0.clone(), b"zero one".to_vec()),
        (c1.clone(), b"one one".to_vec()),
        (gone.clone(), b"to a deleted connection".to_vec()),
        (b"no such connection".to_vec(), b"to nobody".to_vec()),
        (c0.clone(), b"zero two".to_vec()),
        (c1.clone(), b"one two".to_vec()),
        (c0.clone(), b"zero three".to_vec()),
    ];
    let results = a.agent.send_messages(batch).await;
    assert_eq!(results.len(), 7);
    for i in [2, 3] {
        assert!(
            matches!(results[i], Err(AgentError::NoConnection)),
            "entry {i}: {:?}",
            results[i]
        );
    }
    let id = |i: usize| *results[i].as_ref().expect("sent");
    // IDs grow along each connection, in the batch's order.
    assert!(id(0) < id(4) && id(4) < id(6));
    assert!(id(1) < id(5));
    let sent: Vec<(Vec<u8>, i64)> = [(0, &c0), (1, &c1), (4, &c0), (5, &c1), (6, &c0)]
        .into_iter()
        .map(|(i, c)| (c.clone(), id(i)))
        .collect();
    let got = receive(&mut b, 5).await;
    assert_eq!(
        got.get(&pairs[0].1).expect("first connection's messages"),
        &vec![
            b"zero one".to_vec(),
            b"zero two".to_vec(),
            b"zero three".to_vec()
        ]
    );
    assert_eq!(
        got.get(&pairs[1].1).expect("second connection's messages"),
        &vec![b"one one".to_vec(), b"one two".to_vec()]
    );
    all_sent(&mut a, &sent).await;
    // The connections go on as before, one message at a time.
    exchange(&mut a, &c0, &mut b, &pairs[0].1, b"after the batch").await;
    // An empty batch is nothing.
    assert!(a.agent.send_messages(Vec::new()).await.is_empty());
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// A batch sent while the relay is down is stored: the sending agent is stopped and
/// dropped before any of it is delivered, the relay and the agent start again, and every
/// message arrives, in order, and is reported `SENT` with the ID the batch returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_survives_agent_restart_before_delivery() {
    let sdir = tempfile::tempdir().expect("tempdir");
    let mut srv = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("persistent server");
    let dir = tempfile::tempdir().expect("tempdir");
    let address = srv.address().clone();
    let cfg = || config(vec![address.clone()]);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let mut pairs = Vec::new();
    for _ in 0..3 {
        pairs.push(connect(&mut a, &mut b).await);
    }
    srv.down().await.expect("server down");
    for t in [&mut a, &mut b] {
        let e = t.next().await;
        assert!(matches!(e.event, Event::Down(..)), "{e:?}");
    }
    let mut batch = Vec::new();
    for round in 0..2 {
        for (i, (ab, _)) in pairs.iter().enumerate() {
            batch.push((ab.clone(), format!("message {round} to {i}").into_bytes()));
        }
    }
    let results = a.agent.send_messages(batch.clone()).await;
    let sent: Vec<(Vec<u8>, i64)> = batch
        .iter()
        .zip(&results)
        .map(|((c, _), r)| (c.clone(), *r.as_ref().expect("stored")))
        .collect();
    a.agent.stop().await;
    drop(a);
    srv.up().await.expect("server up");
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let got = receive(&mut b, batch.len()).await;
    for (i, (_, ba)) in pairs.iter().enumerate() {
        let want: Vec<Vec<u8>> = (0..2)
            .map(|round| format!("message {round} to {i}").into_bytes())
            .collect();
        assert_eq!(got.get(ba), Some(&want), "connection {i}");
    }
    all_sent(&mut a, &sent).await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.down().await.expect("server down");
}
