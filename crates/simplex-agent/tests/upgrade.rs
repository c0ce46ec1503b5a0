//! Pending messages stored before the prepared form (`SndBody::Prepared`, migration
//! `m20250108_snd_msg_prepared`) as whole sealed SMP bodies are delivered after the upgrade.

mod common;

use common::*;
use simplex_agent::sqlite::Locking;
use simplex_agent::store::{SndBody, Store, Write};
use simplex_agent::{Event, MsgIntegrity, SqliteStore};

/// Alice sends two messages while the relay is down and stops; her database is then turned
/// into the previous schema's form (each pending row the 16 KB sealed body, the new columns
/// and the migration's record gone). Started again on it, she delivers both, in order, and
/// Bob reads them as any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_messages_stored_sealed_are_delivered_after_the_upgrade() {
    let sdir = tempfile::tempdir().expect("tempdir");
    let mut srv = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("persistent server");
    let dir = tempfile::tempdir().expect("tempdir");
    let servers = vec![srv.address().clone()];
    let cfg = || config(servers.clone());
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"before").await;
    srv.down().await.expect("server down");
    for t in [&mut a, &mut b] {
        let e = t.next().await;
        assert!(
            matches!(e.event, Event::Down(..)),
            "expected DOWN, got {e:?}"
        );
    }
    let mut ids = Vec::new();
    for body in [b"one".as_slice(), b"two"] {
        ids.push(a.agent.send_message(&ab, body).await.expect("send"));
    }
    a.agent.stop().await;
    drop(a);

    let path = dir.path().join("alice.db");
    {
        let mut store = SqliteStore::open_with(&path, "passphrase", Locking::Shared).expect("open");
        let sq = store.snd_queue(&ab).expect("read").expect("send queue");
        let pending = store.pending_snd_msgs(&ab).expect("read");
        assert_eq!(pending.len(), 2);
        let mut writes = Vec::new();
        for mut m in pending {
            assert!(matches!(m.body, SndBody::Prepared(_)), "stored prepared");
            m.body =
                SndBody::Sealed(simplex_agent::agent::sealed_body(&sq, &m.body).expect("seal"));
            writes.push(Write::PutSndMsg(m));
        }
        store.apply(writes).expect("write");
    }
    {
        let db = simplex_agent::sqlite::open_database(&path, "passphrase", Locking::Shared)
            .expect("open");
        db.execute_batch(
            "ALTER TABLE snd_messages DROP COLUMN msg_encrypt_key;
             ALTER TABLE snd_messages DROP COLUMN padded_msg_len;
             ALTER TABLE snd_messages DROP COLUMN msg_agent_version;
             DELETE FROM migrations WHERE name = 'm20250108_snd_msg_prepared';",
        )
        .expect("previous schema");
        let sizes: Vec<i64> = db
            .prepare(
                "SELECT length(msg_body) FROM snd_messages WHERE pending = 1 ORDER BY internal_id",
            )
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(sizes.len(), 2);
        assert!(
            sizes.iter().all(|&n| n > 15_000),
            "whole sealed blocks: {sizes:?}"
        );
    }

    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    srv.up().await.expect("server up");
    let mut sent = Vec::new();
    while sent.len() < 2 {
        match a.next().await.event {
            Event::Sent(m) => sent.push(m),
            Event::Up(..) | Event::Down(..) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sent, ids);
    for want in [b"one".as_slice(), b"two"] {
        let e = b
            .next_skip(|e| matches!(e, Event::Up(..) | Event::Down(..)))
            .await;
        let Event::Msg { meta, body } = e.event else {
            panic!("{e:?}")
        };
        assert_eq!(body, want);
        assert_eq!(meta.integrity, MsgIntegrity::Ok);
        b.agent
            .ack_message(&ba, meta.msg_id, None)
            .await
            .expect("ack");
    }
    exchange(&mut b, &ba, &mut a, &ab, b"after").await;
    exchange(&mut a, &ab, &mut b, &ba, b"after too").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.down().await.expect("server down");
}
