//! Receiving in one store hop: a message or receipt in an established connection's ratchet
//! is read, decrypted and written by the store's thread in one call. What it stored is
//! there before it is reported, it is acknowledged when due, and what is not the common
//! case (a replayed copy, garbage) still goes the careful way: reported as before and
//! acknowledged, with the next message in sequence after it.

mod common;

use common::*;
use simplex_agent::sqlite::Locking;
use simplex_agent::store::Store;
use simplex_agent::{Event, MsgIntegrity, MsgReceipt, MsgReceiptStatus, SqliteStore};

/// Server events and `SENT` are not what these tests look at.
fn skip(e: &Event) -> bool {
    matches!(e, Event::Up(..) | Event::Down(..) | Event::Sent(_))
}

/// The next message of `b`'s (not acknowledged): its ID, after checking its connection,
/// body and integrity.
async fn next_msg(b: &mut TestAgent, conn: &[u8], body: &[u8]) -> i64 {
    let e = b.next_skip(skip).await;
    assert_eq!(e.conn_id, conn);
    let Event::Msg { meta, body: got } = e.event else {
        panic!("expected MSG, got {e:?}");
    };
    assert_eq!(got, body);
    assert_eq!(meta.integrity, MsgIntegrity::Ok);
    meta.msg_id
}

/// A message is in the store (read from a second connection to the database, which sees
/// only what is committed) as soon as it is reported, not yet marked acknowledged; once
/// the application acknowledges it, the relay delivers the next one and the mark is
/// stored (committed with the agent's next store call: the next message's). A receipt for it arrives at the sender the same way: reported with its status,
/// recorded on the sent message, stored as received and acknowledged by the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn common_messages_are_stored_reported_and_acknowledged() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || config(vec![srv.address().clone()]);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    let bstore = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let astore =
        SqliteStore::open_with(&dir.path().join("alice.db"), "passphrase", Locking::Shared)
            .expect("open");

    let mut last = 0;
    for i in 0..3 {
        let body = format!("one hop {i}").into_bytes();
        let sent = a.agent.send_message(&ab, &body).await.expect("send");
        let id = next_msg(&mut b, &ba, &body).await;
        assert!(id > last, "in sequence");
        if last > 0 {
            let m = bstore.rcv_msg(&ba, last).expect("read").expect("stored");
            assert!(m.acked, "the last one marked acknowledged");
        }
        last = id;
        let m = bstore
            .rcv_msg(&ba, id)
            .expect("read")
            .expect("stored when reported");
        assert_eq!(m.body, body);
        assert!(!m.acked);
        // The last one with a receipt.
        let receipt = (i == 2).then_some(&b"info"[..]);
        b.agent.ack_message(&ba, id, receipt).await.expect("ack");
        if receipt.is_none() {
            continue;
        }
        // With a receipt to send, the mark commits before the call returns.
        let m = bstore.rcv_msg(&ba, id).expect("read").expect("stored");
        assert!(m.acked, "marked acknowledged");
        let e = a.next_skip(skip).await;
        assert_eq!(e.conn_id, ab);
        let Event::Rcvd { meta, receipts } = e.event else {
            panic!("expected RCVD, got {e:?}");
        };
        let ok = MsgReceipt {
            msg_id: sent,
            status: MsgReceiptStatus::Ok,
        };
        assert_eq!(receipts, vec![ok]);
        assert_eq!(meta.integrity, MsgIntegrity::Ok);
        let r = astore
            .rcv_msg(&ab, meta.msg_id)
            .expect("read")
            .expect("stored");
        assert!(!r.acked);
        let s = astore
            .snd_msg(&ab, sent)
            .expect("read")
            .expect("sent message");
        let rc = s.receipt.expect("receipt recorded");
        assert_eq!(
            (rc.rcv_msg_id, rc.status),
            (meta.msg_id, MsgReceiptStatus::Ok)
        );
        a.agent
            .ack_message(&ab, meta.msg_id, None)
            .await
            .expect("ack the receipt");
        let r = astore
            .rcv_msg(&ab, meta.msg_id)
            .expect("read")
            .expect("stored");
        assert!(r.acked);
    }
    // The other way too, after the receipt (each side's ratchet turns).
    a.agent.send_message(&ab, b"after").await.expect("send");
    let id = next_msg(&mut b, &ba, b"after").await;
    b.agent.ack_message(&ba, id, None).await.expect("ack");
    b.agent.send_message(&ba, b"back").await.expect("send");
    let id = next_msg(&mut a, &ab, b"back").await;
    a.agent.ack_message(&ab, id, None).await.expect("ack");
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// Between common messages, a replayed copy of one (under another relay ID: the ratchet
/// cannot decrypt it again) and garbage sent with the sender's key: the copy is reported
/// as `A_DUPLICATE` of the stored message, the garbage as an error, both acknowledged
/// (the next message arrives), and nothing about them is stored as a message: the next
/// real message has the next ID and integrity OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_garbage_take_the_careful_path() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || config(vec![srv.address().clone()]);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"first").await;
    // A copy of the next message's SMP body, read by a client with Bob's key while Bob is
    // stopped (without acknowledging it).
    b.agent.stop().await;
    drop(b);
    let bstore = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let rq = bstore.rcv_queue(&ba).expect("read").expect("queue");
    let astore =
        SqliteStore::open_with(&dir.path().join("alice.db"), "passphrase", Locking::Shared)
            .expect("open");
    let sq = astore.snd_queue(&ab).expect("read").expect("queue");
    let (_, body) = send_and_peek(&mut a, &ab, b"original", srv.address(), &rq).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let original = next_msg(&mut b, &ba, b"original").await;
    b.agent.ack_message(&ba, original, None).await.expect("ack");

    // The copy, then garbage, then a real message.
    let (other, _ev) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    other
        .send_message(Some(&sq.snd_key), &sq.snd_id, Default::default(), &body)
        .await
        .expect("replay");
    other
        .send_message(
            Some(&sq.snd_key),
            &sq.snd_id,
            Default::default(),
            &[9u8; 200],
        )
        .await
        .expect("garbage");
    other.close().await;
    let e = b.next_skip(skip).await;
    assert_eq!(e.conn_id, ba);
    assert_eq!(
        e.event,
        Event::Duplicate {
            msg_id: Some(original)
        }
    );
    let e = b.next_skip(skip).await;
    assert_eq!(e.conn_id, ba);
    assert!(matches!(e.event, Event::Err(_)), "{e:?}");
    a.agent.send_message(&ab, b"next").await.expect("send");
    let next = next_msg(&mut b, &ba, b"next").await;
    assert_eq!(
        next,
        original + 1,
        "nothing stored for the copy or the garbage"
    );
    b.agent.ack_message(&ba, next, None).await.expect("ack");
    a.agent.stop().await;
    b.agent.stop().await;
    // Committed by the time `stop` returns.
    let m = bstore.rcv_msg(&ba, next).expect("read").expect("stored");
    assert!(m.acked);
    srv.stop().await.expect("server stopped");
}
