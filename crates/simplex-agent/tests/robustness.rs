//! Flow control and recovery: a full queue (`QCONT`), another subscriber taking a queue over
//! (`END`), pending messages across an agent restart, replayed messages, and an invitation
//! to a contact address retried across a restart.

mod common;

use agent_proto::{AgentMsgEnvelope, ClientMessage, ClientMsgEnvelope};
use common::*;
use simplex_agent::sqlite::Locking;
use simplex_agent::store::{SndQueueRecord, Store};
use simplex_agent::{AgentError, Event, MsgIntegrity, MsgReceipt, MsgReceiptStatus, SqliteStore};
use simplex_crypto::{cb_decrypt, cb_encrypt, sha256, CbNonce};
use simplex_encoding::{decode_all, Encode};
use smp_proto::{RcvMsgBody, Response};

/// Bob receives the next message, checks it and acknowledges it; returns its ID.
async fn receive(b: &mut TestAgent, conn: &[u8], body: &[u8]) -> i64 {
    let e = b
        .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
        .await;
    assert_eq!(e.conn_id, conn);
    let Event::Msg { meta, body: got } = e.event else {
        panic!("expected MSG, got {e:?}");
    };
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(body));
    assert_eq!(meta.integrity, MsgIntegrity::Ok);
    b.agent
        .ack_message(conn, meta.msg_id, None)
        .await
        .expect("ack");
    meta.msg_id
}

/// The next event of Bob's (server events skipped) is `A_DUPLICATE` about this message.
async fn duplicate(b: &mut TestAgent, conn: &[u8], msg_id: Option<i64>) {
    let e = b
        .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
        .await;
    assert_eq!(e.conn_id, conn);
    assert_eq!(e.event, Event::Duplicate { msg_id }, "{e:?}");
}

/// The SMP body of a message with its ratchet-encrypted part altered in its last byte (the
/// body, not the header): opened and sealed again with the sender's per-queue secret.
fn tamper(sq: &SndQueueRecord, body: &[u8]) -> Vec<u8> {
    let env: ClientMsgEnvelope = decode_all(body).expect("envelope");
    let plain = cb_decrypt(&sq.e2e_dh_secret, &env.nonce, &env.enc_body).expect("open");
    let cm: ClientMessage = decode_all(&plain).expect("client message");
    let AgentMsgEnvelope::Message {
        agent_version,
        mut enc_agent_message,
    } = decode_all(&cm.body).expect("agent envelope")
    else {
        panic!("not a message envelope")
    };
    let last = enc_agent_message.last_mut().expect("not empty");
    *last ^= 1;
    let cm = ClientMessage {
        header: cm.header,
        body: AgentMsgEnvelope::Message {
            agent_version,
            enc_agent_message,
        }
        .to_bytes(),
    };
    let nonce = CbNonce::random(&mut rand::rngs::OsRng);
    let enc_body = cb_encrypt(
        &sq.e2e_dh_secret,
        &nonce,
        &cm.to_bytes(),
        env.enc_body.len() - 16,
    )
    .expect("seal");
    ClientMsgEnvelope {
        header: env.header,
        nonce,
        enc_body,
    }
    .to_bytes()
}

/// The ratchet-encrypted message inside a message's SMP body.
fn enc_agent_message(sq: &SndQueueRecord, body: &[u8]) -> Vec<u8> {
    let env: ClientMsgEnvelope = decode_all(body).expect("envelope");
    let plain = cb_decrypt(&sq.e2e_dh_secret, &env.nonce, &env.enc_body).expect("open");
    let cm: ClientMessage = decode_all(&plain).expect("client message");
    let AgentMsgEnvelope::Message {
        enc_agent_message, ..
    } = decode_all(&cm.body).expect("agent envelope")
    else {
        panic!("not a message envelope")
    };
    enc_agent_message
}

/// Runs `sql` on Bob's stopped agent's file in `dir`; it must change exactly one row.
fn edit_one_row(dir: &std::path::Path, sql: &str, params: impl rusqlite::Params) {
    let db =
        simplex_agent::sqlite::open_database(&dir.join("bob.db"), "passphrase", Locking::Shared)
            .expect("open");
    assert_eq!(db.execute(sql, params).expect("update"), 1);
}

/// A conversation in which a copy of Alice's message "original" was taken on its way.
struct Copied {
    srv: TestServer,
    dir: tempfile::TempDir,
    a: TestAgent,
    ab: Vec<u8>,
    b: TestAgent,
    ba: Vec<u8>,
    /// Bob's receive queue and Alice's send queue, as stored.
    rq: simplex_agent::store::RcvQueueRecord,
    sq: SndQueueRecord,
    /// The message's SMP body.
    body: Vec<u8>,
    /// Bob's ID of it: he received and acknowledged it after the copy was taken.
    original: i64,
}

/// After a first message, Bob is stopped, and a client with his key reads Alice's next
/// message ("original") without acknowledging it; then Bob starts again, receives it and
/// acknowledges it.
async fn copied_on_its_way() -> Copied {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"first").await;
    b.agent.stop().await;
    drop(b);
    let bstore = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let rq = bstore.rcv_queue(&ba).expect("read").expect("queue");
    drop(bstore);
    let astore =
        SqliteStore::open_with(&dir.path().join("alice.db"), "passphrase", Locking::Shared)
            .expect("open");
    let sq = astore.snd_queue(&ab).expect("read").expect("queue");
    drop(astore);
    let (_, body) = send_and_peek(&mut a, &ab, b"original", srv.address(), &rq).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let original = receive(&mut b, &ba, b"original").await;
    Copied {
        srv,
        dir,
        a,
        ab,
        b,
        ba,
        rq,
        sq,
        body,
        original,
    }
}

/// A queue with a quota of 4: the sender's fifth message gets `ERR QUOTA` and waits; the
/// recipient drains the queue, reaches the quota marker and tells the sender (`A_QCONT`);
/// the sender reports `QCONT` and delivers the rest, all in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_waits_for_qcont_and_delivers_in_order() {
    let (srv, stats) = TestServer::start_counting(4).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    const N: usize = 10;
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(
            a.agent
                .send_message(&ab, format!("q{i}").as_bytes())
                .await
                .expect("send"),
        );
    }
    // Bob acknowledges nothing yet: the server takes four, the fifth is refused.
    let mut sent = Vec::new();
    while sent.len() < 4 {
        match a.next().await.event {
            Event::Sent(m) => sent.push(m),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sent, ids[..4]);
    // Bob starts draining only once the relay has refused the fifth message: an earlier
    // acknowledgement could make room before it is sent, and then no QUOTA would happen.
    let refused = || {
        stats
            .msg_sent_quota
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    tokio::time::timeout(WAIT, async {
        while refused() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the relay refuses the fifth message (QUOTA)");
    // Bob drains; Alice learns the queue has room and sends the rest.
    let mut qcont = 0;
    let mut next = 0;
    while next < N || sent.len() < N {
        tokio::select! {
            e = a.events.recv() => match e.expect("alice's events").event {
                Event::Sent(m) => sent.push(m),
                Event::QCont => qcont += 1,
                other => panic!("unexpected {other:?}"),
            },
            e = b.events.recv(), if next < N => {
                let e = e.expect("bob's events");
                let Event::Msg { meta, body } = e.event else {
                    panic!("expected MSG, got {e:?}");
                };
                assert_eq!(body, format!("q{next}").as_bytes());
                assert_eq!(meta.integrity, MsgIntegrity::Ok);
                b.agent.ack_message(&ba, meta.msg_id, None).await.expect("ack");
                next += 1;
            }
            _ = tokio::time::sleep(WAIT) => panic!("no event in time: {next} received, {} sent", sent.len()),
        }
    }
    assert_eq!(sent, ids, "SENT once each, in order");
    assert!(qcont >= 1, "QCONT reported");
    println!("{N} messages through a queue of 4: QCONT {qcont} time(s)");
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// Another client subscribes Bob's queue: Bob's agent reports `END` and stops receiving;
/// subscribing again takes the queue back (the other client gets `END`) and the message
/// that came meanwhile, unacknowledged by the other client, arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_reports_end_and_resubscribing_takes_it_back() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"before").await;
    let store = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let rq = store.rcv_queue(&ba).expect("read").expect("queue");
    drop(store);
    let (other, mut other_events) =
        smp_client::SmpClient::connect(srv.address(), Default::default())
            .await
            .expect("connect");
    other
        .subscribe(&rq.rcv_key, &rq.rcv_id)
        .await
        .expect("subscribe");
    let e = b.next().await;
    assert_eq!((e.conn_id, e.event), (ba.clone(), Event::End));
    // The next message goes to the other client, which does not acknowledge it.
    let id = a.agent.send_message(&ab, b"meanwhile").await.expect("send");
    assert_eq!(a.next().await.event, Event::Sent(id));
    let ev = tokio::time::timeout(WAIT, other_events.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(ev.entity_id, rq.rcv_id);
    assert!(matches!(ev.response, Response::Msg(_)), "{:?}", ev.response);
    b.agent
        .subscribe_connections(std::slice::from_ref(&ba))
        .await
        .expect("subscribe again");
    let ev = tokio::time::timeout(WAIT, other_events.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(
        (ev.entity_id, ev.response),
        (rq.rcv_id.clone(), Response::End)
    );
    receive(&mut b, &ba, b"meanwhile").await;
    exchange(&mut a, &ab, &mut b, &ba, b"after").await;
    other.close().await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// Messages stored while the server is away stay pending through a restart of the
/// sender's agent and are delivered, in order, after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_messages_are_delivered_after_a_restart() {
    let sdir = tempfile::tempdir().expect("tempdir");
    let mut srv = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("persistent server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    srv.down().await.expect("server down");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            a.agent
                .send_message(&ab, format!("pending {i}").as_bytes())
                .await
                .expect("send"),
        );
    }
    a.agent.stop().await;
    drop(a);
    let store = SqliteStore::open_with(&dir.path().join("alice.db"), "passphrase", Locking::Shared)
        .expect("open");
    let pending = store.pending_snd_msgs(&ab).expect("read");
    drop(store);
    assert_eq!(
        pending.iter().map(|m| m.internal_id).collect::<Vec<_>>(),
        ids,
        "stored as pending"
    );
    srv.up().await.expect("server up");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    for i in 0..3 {
        receive(&mut b, &ba, format!("pending {i}").as_bytes()).await;
    }
    let mut sent = Vec::new();
    while sent.len() < 3 {
        if let Event::Sent(m) = a.next().await.event {
            sent.push(m);
        }
    }
    assert_eq!(sent, ids);
    exchange(&mut b, &ba, &mut a, &ab, b"reply").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.down().await.expect("server down");
}

/// Someone with Alice's sender key sends a message Bob already received again: twice after
/// Bob acknowledged it, once before. Bob's agent acknowledges each copy without delivering
/// it and reports it (`A_DUPLICATE` with the earlier copy's ID; the reference drops these
/// silently); a copy with its body altered after the ratchet header and tag is known by
/// those (the stored hash is of them) and reported as a copy of the original too. The next
/// real message follows with integrity OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_messages_are_reported_and_not_delivered() {
    let Copied {
        srv,
        dir: _dir,
        a,
        ab,
        mut b,
        ba,
        rq,
        sq,
        body,
        original,
    } = copied_on_its_way().await;
    // Two replays, each with its own server message ID, and an altered copy.
    let (replayer, _ev) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    for _ in 0..2 {
        replayer
            .send_message(Some(&sq.snd_key), &sq.snd_id, Default::default(), &body)
            .await
            .expect("replay");
    }
    replayer
        .send_message(
            Some(&sq.snd_key),
            &sq.snd_id,
            Default::default(),
            &tamper(&sq, &body),
        )
        .await
        .expect("altered copy");
    replayer.close().await;
    duplicate(&mut b, &ba, Some(original)).await;
    duplicate(&mut b, &ba, Some(original)).await;
    duplicate(&mut b, &ba, Some(original)).await;
    // The next event of Bob's is the next real message, in sequence.
    a.agent.send_message(&ab, b"next").await.expect("send");
    receive(&mut b, &ba, b"next").await;

    // A replay of a message the application has not acknowledged yet, under another server
    // ID, is reported, not delivered again (only the server's redelivery of the
    // connection's last message, with the same server ID, is).
    a.agent.send_message(&ab, b"second").await.expect("send");
    let e = b.next().await;
    let Event::Msg { meta: second, .. } = e.event else {
        panic!("expected MSG, got {e:?}");
    };
    let (taker, mut taker_events) =
        smp_client::SmpClient::connect(srv.address(), Default::default())
            .await
            .expect("connect");
    taker
        .subscribe(&rq.rcv_key, &rq.rcv_id)
        .await
        .expect("subscribe");
    assert_eq!(b.next().await.event, Event::End);
    let ev = tokio::time::timeout(WAIT, taker_events.recv())
        .await
        .expect("in time")
        .expect("event");
    let Response::Msg(m) = ev.response else {
        panic!("expected MSG, got {:?}", ev.response);
    };
    let RcvMsgBody::Data { body, .. } =
        smp_client::decrypt_message(&rq.rcv_dh_secret, &m).expect("decrypt")
    else {
        panic!("data")
    };
    taker
        .ack(&rq.rcv_key, &rq.rcv_id, m.msg_id.as_slice())
        .await
        .expect("ack");
    taker
        .send_message(Some(&sq.snd_key), &sq.snd_id, Default::default(), &body)
        .await
        .expect("replay");
    let ev = tokio::time::timeout(WAIT, taker_events.recv())
        .await
        .expect("in time")
        .expect("event");
    assert!(matches!(ev.response, Response::Msg(_)), "the replay");
    b.agent
        .subscribe_connections(std::slice::from_ref(&ba))
        .await
        .expect("subscribe again");
    duplicate(&mut b, &ba, Some(second.msg_id)).await;
    a.agent.send_message(&ab, b"third").await.expect("send");
    receive(&mut b, &ba, b"third").await;
    b.agent
        .ack_message(&ba, second.msg_id, None)
        .await
        .expect("ack the second late");
    taker.close().await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// A message stored by an earlier version, whose hash was of the whole ratchet message and
/// not of its header and tag, is still known when a copy comes again: reported as a copy of
/// it, not as an unknown duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_hashed_whole_by_an_earlier_version_is_known_again() {
    let Copied {
        srv,
        dir,
        a,
        ab,
        b,
        ba,
        sq,
        body,
        original,
        ..
    } = copied_on_its_way().await;
    // As an earlier version stored it.
    b.agent.stop().await;
    drop(b);
    let whole = sha256(&enc_agent_message(&sq, &body)).to_vec();
    edit_one_row(
        dir.path(),
        "UPDATE rcv_messages SET encrypted_msg_hash = ?1 WHERE internal_id = ?2",
        rusqlite::params![whole, original],
    );
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (replayer, _ev) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    replayer
        .send_message(Some(&sq.snd_key), &sq.snd_id, Default::default(), &body)
        .await
        .expect("replay");
    replayer.close().await;
    duplicate(&mut b, &ba, Some(original)).await;
    a.agent.send_message(&ab, b"next").await.expect("send");
    receive(&mut b, &ba, b"next").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// Bob joins Alice's contact address while its server is away: the invitation is stored,
/// survives a restart of Bob's agent, and is sent when the server is back; the contact
/// is then made as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_invitation_is_retried_across_a_restart() {
    let sdir = tempfile::tempdir().expect("tempdir");
    let mut srv_a = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("persistent server");
    let srv_b = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv_a.address().clone()])).await;
    let (addr_id, link) = a.agent.create_contact_address().await.expect("address");
    srv_a.down().await.expect("server down");
    let e = a.next().await;
    assert!(matches!(e.event, Event::Down(..)), "{e:?}");
    let b = TestAgent::start(dir.path(), "bob", config(vec![srv_b.address().clone()])).await;
    let ba = b
        .agent
        .join_connection(&link, b"bob's profile")
        .await
        .expect("join while the address's server is away");
    b.agent.stop().await;
    drop(b);
    srv_a.up().await.expect("server up");
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv_b.address().clone()])).await;
    let req = a.next_skip(|e| matches!(e, Event::Up(..))).await;
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
    exchange(&mut a, &ab, &mut b, &ba, b"hello through the address").await;
    exchange(&mut b, &ba, &mut a, &ab, b"hello back").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv_a.down().await.expect("server down");
    srv_b.stop().await.expect("server stopped");
}

/// Receipts come with their own message ID and are acknowledged like messages: a receipt on
/// a receipt is refused; one not acknowledged yet is reported again after a restart (the
/// server delivers it again under the same ID); a second receipt for a message whose
/// receipt was OK is acknowledged without a report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_acknowledged_by_the_application() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    let id = a.agent.send_message(&ab, b"hello").await.expect("send");
    let e = b.next().await;
    let Event::Msg { meta: got, .. } = e.event else {
        panic!("expected MSG, got {e:?}");
    };
    b.agent
        .ack_message(&ba, got.msg_id, Some(b"info"))
        .await
        .expect("ack with a receipt");
    let expected = vec![MsgReceipt {
        msg_id: id,
        status: MsgReceiptStatus::Ok,
    }];
    let skip = |e: &Event| matches!(e, Event::Up(..) | Event::Down(..) | Event::Sent(_));
    let e = a.next_skip(skip).await;
    assert_eq!(e.conn_id, ab);
    let Event::Rcvd { meta, receipts } = e.event else {
        panic!("expected RCVD, got {e:?}");
    };
    assert_eq!(receipts, expected);
    assert!(meta.msg_id > id, "the receipt's own ID");
    assert_eq!(meta.integrity, MsgIntegrity::Ok);
    assert!(matches!(
        a.agent.ack_message(&ab, meta.msg_id, Some(b"")).await,
        Err(AgentError::Prohibited(_))
    ));
    // Not acknowledged: after a restart the server delivers it again and it is reported
    // again, the same.
    a.agent.stop().await;
    drop(a);
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let e = a.next_skip(skip).await;
    assert_eq!(
        e.event,
        Event::Rcvd {
            meta: meta.clone(),
            receipts: expected
        }
    );
    a.agent
        .ack_message(&ab, meta.msg_id, None)
        .await
        .expect("ack the receipt");
    // Bob's record of the message is made unacknowledged again in his database, and he
    // acknowledges it again with a receipt: Alice acknowledges that one without a report,
    // so her next event is Bob's next message.
    b.agent.stop().await;
    drop(b);
    edit_one_row(
        dir.path(),
        "UPDATE rcv_messages SET user_ack = 0 WHERE internal_id = ?1",
        [got.msg_id],
    );
    let b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    b.agent
        .ack_message(&ba, got.msg_id, Some(b"again"))
        .await
        .expect("the second receipt");
    b.agent.send_message(&ba, b"after").await.expect("send");
    let e = a.next_skip(skip).await;
    let Event::Msg { body, .. } = e.event else {
        panic!("expected MSG, got {e:?}");
    };
    assert_eq!(body, b"after");
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}
