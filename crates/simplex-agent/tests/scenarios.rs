//! Longer scenarios: contact addresses, 1,000 messages each way, agent and server restarts,
//! a dropped and a tampered message, delete and suspend.

mod common;

use common::*;
use simplex_agent::sqlite::Locking;
use simplex_agent::store::Store;
use simplex_agent::{Event, MsgIntegrity, MsgReceiptStatus, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_address_request_accept_and_delete() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (addr_id, link) = a.agent.create_contact_address().await.expect("address");
    assert!(link.starts_with("simplex:/contact#/?"), "{link}");
    // Bob asks; Alice gets REQ on the address and accepts; Bob confirms like an invitation.
    let ba = b
        .agent
        .join_connection(&link, b"bob's profile")
        .await
        .expect("join");
    let req = a.next().await;
    assert_eq!(req.conn_id, addr_id);
    let Event::Req { inv_id, conn_info } = req.event else {
        panic!("expected REQ, got {req:?}");
    };
    assert_eq!(conn_info, b"bob's profile");
    let ab = a
        .agent
        .accept_contact(&inv_id, b"alice's profile")
        .await
        .expect("accept");
    let conf = b.next().await;
    assert_eq!(conf.conn_id, ba);
    let Event::Conf {
        conf_id, conn_info, ..
    } = conf.event
    else {
        panic!("expected CONF, got {conf:?}");
    };
    assert_eq!(conn_info, b"alice's profile");
    b.agent
        .allow_connection(&conf_id, b"bob again")
        .await
        .expect("allow");
    let info = a.next().await;
    assert_eq!(
        (info.conn_id, info.event),
        (ab.clone(), Event::Info(b"bob again".to_vec()))
    );
    assert_eq!(a.next().await.event, Event::Con);
    assert_eq!(b.next().await.event, Event::Con);
    // An invitation that is rejected is gone.
    let (_other, _) = (
        b.agent
            .join_connection(&link, b"again")
            .await
            .expect("join"),
        (),
    );
    let req = a.next().await;
    let Event::Req { inv_id, .. } = req.event else {
        panic!("expected REQ, got {req:?}");
    };
    a.agent.reject_contact(&inv_id).await.expect("reject");
    assert!(a.agent.accept_contact(&inv_id, b"x").await.is_err());
    // Deleting the address leaves the contact made through it.
    a.agent
        .delete_connection(&addr_id)
        .await
        .expect("delete address");
    assert!(!a
        .agent
        .connection_ids()
        .await
        .expect("ids")
        .contains(&addr_id));
    exchange(&mut a, &ab, &mut b, &ba, b"still here").await;
    exchange(&mut b, &ba, &mut a, &ab, b"yes").await;
    // A third party cannot use the deleted address.
    let c = TestAgent::start(dir.path(), "carol", config(vec![srv.address().clone()])).await;
    assert!(c.agent.join_connection(&link, b"carol").await.is_err());
    for t in [&a, &b, &c] {
        t.agent.stop().await;
    }
    srv.stop().await.expect("server stopped");
}

/// `n` messages from `s` to `r`, all received in order and acknowledged with receipts.
async fn one_way(s: &mut TestAgent, s_conn: &[u8], r: &mut TestAgent, r_conn: &[u8], n: usize) {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            s.agent
                .send_message(s_conn, format!("m{i}").as_bytes())
                .await
                .expect("send"),
        );
    }
    for i in 0..n {
        let e = r.next().await;
        let Event::Msg { meta, body } = e.event else {
            panic!("expected MSG, got {e:?}");
        };
        assert_eq!(body, format!("m{i}").as_bytes());
        assert_eq!(meta.integrity, MsgIntegrity::Ok);
        r.agent
            .ack_message(r_conn, meta.msg_id, Some(b""))
            .await
            .expect("ack");
    }
    let mut sent = std::collections::HashSet::new();
    let mut rcvd = std::collections::HashSet::new();
    while sent.len() < n || rcvd.len() < n {
        match s.next().await.event {
            Event::Sent(id) => assert!(sent.insert(id)),
            Event::Rcvd { meta, receipts } => {
                for r in receipts {
                    assert_eq!(r.status, MsgReceiptStatus::Ok);
                    assert!(rcvd.insert(r.msg_id));
                }
                s.agent
                    .ack_message(s_conn, meta.msg_id, None)
                    .await
                    .expect("ack the receipt");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let ids: std::collections::HashSet<i64> = ids.into_iter().collect();
    assert_eq!(sent, ids);
    assert_eq!(rcvd, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_messages_each_way_in_order_with_receipts() {
    let srv = TestServer::start(2000).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    one_way(&mut a, &ab, &mut b, &ba, 1000).await;
    one_way(&mut b, &ba, &mut a, &ab, 1000).await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// Alice sends while Bob's agent is stopped and restarted twice on the same database, once
/// between receiving and acknowledging: every message arrives, in order, and one that was
/// shown but not acknowledged comes again with the same ID (not as a new message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_mid_stream_loses_nothing() {
    let srv = TestServer::start(256).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    const N: usize = 60;
    let mut next = 0usize;
    let mut seen_ids = std::collections::HashSet::new();
    for i in 0..N {
        a.agent
            .send_message(&ab, format!("m{i}").as_bytes())
            .await
            .expect("send");
        if i == 20 || i == 40 {
            // Receive one without acknowledging, then restart Bob.
            let e = b.next().await;
            let Event::Msg { meta, body } = e.event else {
                panic!("{e:?}")
            };
            assert_eq!(body, format!("m{next}").as_bytes());
            b.agent.stop().await;
            drop(b);
            b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
            let e = b.next().await;
            let Event::Msg { meta: again, body } = e.event else {
                panic!("{e:?}")
            };
            assert_eq!(body, format!("m{next}").as_bytes());
            assert_eq!(again.msg_id, meta.msg_id, "redelivered with the same ID");
            b.agent
                .ack_message(&ba, again.msg_id, None)
                .await
                .expect("ack");
            assert!(seen_ids.insert(again.msg_id));
            next += 1;
        }
    }
    while next < N {
        let e = b.next().await;
        let Event::Msg { meta, body } = e.event else {
            panic!("{e:?}")
        };
        assert_eq!(body, format!("m{next}").as_bytes());
        assert_eq!(meta.integrity, MsgIntegrity::Ok);
        assert!(seen_ids.insert(meta.msg_id), "no new ID for an old message");
        b.agent
            .ack_message(&ba, meta.msg_id, None)
            .await
            .expect("ack");
        next += 1;
    }
    // Alice restarted with messages pending: they are delivered after the restart.
    a.agent.stop().await;
    drop(a);
    {
        // While Alice is down, queue a message in her store by running a short-lived agent
        // with no servers reachable: not possible without a server, so start normally.
    }
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    exchange(&mut a, &ab, &mut b, &ba, b"after restart").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// The server goes away and comes back on the same port with its queues: DOWN, UP, and
/// messages sent while it was down are delivered after it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_down_up_and_retry() {
    let sdir = tempfile::tempdir().expect("tempdir");
    let mut srv = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("persistent server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"before").await;
    srv.down().await.expect("server down");
    for t in [&mut a, &mut b] {
        let e = t.next().await;
        let Event::Down(server, conns) = e.event else {
            panic!("expected DOWN, got {e:?}")
        };
        assert_eq!(&server, srv.address());
        assert_eq!(conns.len(), 1);
    }
    let id = a
        .agent
        .send_message(&ab, b"while down")
        .await
        .expect("send");
    srv.up().await.expect("server up");
    let mut got_up = false;
    let mut got_sent = false;
    while !(got_up && got_sent) {
        match a.next().await.event {
            Event::Up(_, conns) => {
                assert_eq!(conns, vec![ab.clone()]);
                got_up = true;
            }
            Event::Sent(m) => {
                assert_eq!(m, id);
                got_sent = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let e = b.next_skip(|e| matches!(e, Event::Up(..))).await;
    let Event::Msg { meta, body } = e.event else {
        panic!("{e:?}")
    };
    assert_eq!(body, b"while down");
    assert_eq!(meta.integrity, MsgIntegrity::Ok);
    b.agent
        .ack_message(&ba, meta.msg_id, None)
        .await
        .expect("ack");
    exchange(&mut b, &ba, &mut a, &ab, b"after").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.down().await.expect("server down");
}

/// A message taken off the queue by someone else is reported as skipped; a tampered one
/// as an error; the conversation goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_tampered_messages_are_reported() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"first").await;
    b.agent.stop().await;
    drop(b);
    // Someone with Bob's recipient key takes the next message off the queue.
    let store = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let rq = store.rcv_queue(&ba).expect("read").expect("queue");
    drop(store);
    let id1 = a.agent.send_message(&ab, b"dropped").await.expect("send");
    loop {
        if let Event::Sent(m) = a.next().await.event {
            assert_eq!(m, id1);
            break;
        }
    }
    let (thief, _ev) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    let m = thief
        .get_message(&rq.rcv_key, &rq.rcv_id)
        .await
        .expect("get")
        .expect("a message");
    thief
        .ack(&rq.rcv_key, &rq.rcv_id, m.msg_id.as_slice())
        .await
        .expect("ack");
    // A tampered copy of it goes back in: it fails to decrypt and is reported.
    let body = smp_client::decrypt_message(&rq.rcv_dh_secret, &m).expect("decrypt");
    let smp_proto::RcvMsgBody::Data { body, .. } = body else {
        panic!("data")
    };
    let mut tampered = body.clone();
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    let astore =
        SqliteStore::open_with(&dir.path().join("alice.db"), "passphrase", Locking::Shared)
            .expect("open");
    let sq = astore.snd_queue(&ab).expect("read").expect("queue");
    drop(astore);
    thief
        .send_message(Some(&sq.snd_key), &sq.snd_id, Default::default(), &tampered)
        .await
        .expect("send tampered");
    thief.close().await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let e = b.next().await;
    assert_eq!(e.conn_id, ba);
    assert!(matches!(e.event, Event::Err(_)), "tampered: {e:?}");
    a.agent
        .send_message(&ab, b"after the gap")
        .await
        .expect("send");
    let e = b.next().await;
    let Event::Msg { meta, body } = e.event else {
        panic!("{e:?}")
    };
    assert_eq!(body, b"after the gap");
    assert_eq!(
        meta.integrity,
        MsgIntegrity::Skipped {
            from: meta.snd_msg_id - 1,
            to: meta.snd_msg_id - 1
        }
    );
    b.agent
        .ack_message(&ba, meta.msg_id, None)
        .await
        .expect("ack");
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_delete_connections() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    b.agent.suspend_connection(&ba).await.expect("suspend");
    // Alice's message to Bob's suspended queue fails permanently.
    let id = a
        .agent
        .send_message(&ab, b"to a suspended queue")
        .await
        .expect("send");
    let e = a.next().await;
    assert!(matches!(e.event, Event::Merr(m, _) if m == id), "{e:?}");
    b.agent.delete_connection(&ba).await.expect("delete");
    assert!(b.agent.connection_ids().await.expect("ids").is_empty());
    a.agent.delete_connection(&ab).await.expect("delete");
    assert!(a.agent.send_message(&ab, b"x").await.is_err());
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}
