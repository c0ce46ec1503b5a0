//! The application's acknowledgement of messages reported in this run (the `ACK` sent while
//! the store marks the message): the relay deletes the message and delivers the next, the
//! store has it marked, a second acknowledgement changes nothing, an unknown ID is refused,
//! and nothing comes again after a restart.

mod common;

use common::*;
use simplex_agent::sqlite::Locking;
use simplex_agent::store::Store;
use simplex_agent::{AgentError, Event, SqliteStore};

/// Bob's next message (server events skipped): its ID, after checking its body.
async fn got(b: &mut TestAgent, conn: &[u8], body: &[u8]) -> i64 {
    let e = b
        .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
        .await;
    assert_eq!(e.conn_id, conn);
    let Event::Msg { meta, body: got } = e.event else {
        panic!("expected MSG, got {e:?}");
    };
    assert_eq!(got, body);
    meta.msg_id
}

/// A relay that keeps its queues over a restart, Alice and Bob connected, Alice's "one"
/// and "two" sent, and Bob's "one" received (not yet acknowledged).
struct Sent {
    _sdir: tempfile::TempDir,
    srv: PersistentServer,
    dir: tempfile::TempDir,
    a: TestAgent,
    b: TestAgent,
    ab: Vec<u8>,
    ba: Vec<u8>,
    one: i64,
}

async fn sent_two() -> Sent {
    let sdir = tempfile::tempdir().expect("tempdir");
    let srv = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("persistent server");
    let dir = tempfile::tempdir().expect("tempdir");
    let servers = vec![srv.address().clone()];
    let mut a = TestAgent::start(dir.path(), "alice", config(servers.clone())).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(servers)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    for body in [b"one".as_slice(), b"two"] {
        a.agent.send_message(&ab, body).await.expect("send");
    }
    let one = got(&mut b, &ba, b"one").await;
    Sent {
        _sdir: sdir,
        srv,
        dir,
        a,
        b,
        ab,
        ba,
        one,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_are_marked_and_never_come_again() {
    let Sent {
        _sdir,
        srv,
        dir,
        a,
        mut b,
        ab,
        ba,
        one,
    } = sent_two().await;
    let servers = vec![srv.address().clone()];
    // Unknown to the store: refused, and the message stays unacknowledged.
    assert!(matches!(
        b.agent.ack_message(&ba, one + 100, None).await,
        Err(AgentError::Prohibited(_))
    ));
    b.agent.ack_message(&ba, one, None).await.expect("ack");
    // Once more: nothing to do.
    b.agent
        .ack_message(&ba, one, None)
        .await
        .expect("ack again");
    // The relay deleted it and delivered the next.
    let two = got(&mut b, &ba, b"two").await;
    b.agent.ack_message(&ba, two, None).await.expect("ack");
    b.agent.stop().await;
    drop(b);
    let store = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    for id in [one, two] {
        let m = store.rcv_msg(&ba, id).expect("read").expect("stored");
        assert!(m.acked, "message {id} marked acknowledged");
        assert!(
            m.body.is_empty(),
            "message {id}: its body dropped once acknowledged"
        );
    }
    drop(store);
    // After a restart the relay has nothing of them to deliver again: the next event of
    // Bob's is the next message.
    let mut b = TestAgent::start(dir.path(), "bob", config(servers)).await;
    a.agent.send_message(&ab, b"three").await.expect("send");
    let three = got(&mut b, &ba, b"three").await;
    assert!(three > two);
    b.agent.ack_message(&ba, three, None).await.expect("ack");
    a.agent.stop().await;
    b.agent.stop().await;
}

/// An `ACK` that fails (the relay is down) leaves the message unacknowledged in the store,
/// so the application may acknowledge it again once the relay is back; then the next
/// message comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ack_leaves_the_message_unacknowledged() {
    let Sent {
        _sdir,
        mut srv,
        dir,
        a,
        mut b,
        ba,
        one,
        ..
    } = sent_two().await;
    srv.down().await.expect("down");
    assert!(b.agent.ack_message(&ba, one, None).await.is_err());
    let store = SqliteStore::open_with(&dir.path().join("bob.db"), "passphrase", Locking::Shared)
        .expect("open");
    let m = store.rcv_msg(&ba, one).expect("read").expect("stored");
    assert!(!m.acked, "a message whose ACK failed stays unacknowledged");
    assert_eq!(m.body, b"one", "with its body, for the report to come");
    drop(store);
    srv.up().await.expect("up");
    // Bob is back on the relay once his queue is subscribed again.
    loop {
        let e = b.next().await;
        if matches!(e.event, Event::Up(..)) {
            break;
        }
    }
    b.agent.ack_message(&ba, one, None).await.expect("ack");
    // The relay delivered "one" again on the new subscription: reported again when that
    // came before the acknowledgement (the reference's re-notification), never after.
    let two = loop {
        let e = b
            .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
            .await;
        assert_eq!(e.conn_id, ba);
        let Event::Msg { meta, body } = e.event else {
            panic!("expected MSG, got {e:?}");
        };
        if body == b"one" {
            assert_eq!(meta.msg_id, one, "the same message, reported again");
            continue;
        }
        assert_eq!(body, b"two");
        break meta.msg_id;
    };
    b.agent.ack_message(&ba, two, None).await.expect("ack");
    a.agent.stop().await;
    b.agent.stop().await;
}
