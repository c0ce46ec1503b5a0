//! Ratchet re-synchronisation: Alice's database restored from a backup leaves her ratchet
//! behind Bob's; his next message fails to decrypt (`RSYNC required`), sending is refused,
//! `synchronize_ratchet` agrees new ratchets (`RSYNC agreed`, then `ok` once `EREADY`
//! decrypts) and messages flow again both ways. Also: both sides starting at once, and a
//! replayed ratchet-key message ignored by its keys' hash.

mod common;

use simplex_agent::sqlite::Locking;
use std::path::Path;

use common::*;
use simplex_agent::store::Store;
use simplex_agent::{AgentCryptoError, AgentError, Event, RatchetSyncState, SqliteStore};
use smp_proto::{RcvMsgBody, SmpServer};

const FILES: [&str; 3] = ["db", "db-wal", "db-shm"];

/// Copies an agent's database files (the agent stopped) to `<name>.<tag>.*`.
fn backup(dir: &Path, name: &str, tag: &str) {
    for ext in FILES {
        let from = dir.join(format!("{name}.{ext}"));
        if from.exists() {
            std::fs::copy(&from, dir.join(format!("{name}.{tag}.{ext}"))).expect("backup");
        }
    }
}

/// Puts the copy back in place of the agent's database files (the agent stopped).
fn restore(dir: &Path, name: &str, tag: &str) {
    for ext in FILES {
        let to = dir.join(format!("{name}.{ext}"));
        let from = dir.join(format!("{name}.{tag}.{ext}"));
        if to.exists() {
            std::fs::remove_file(&to).expect("remove");
        }
        if from.exists() {
            std::fs::copy(&from, &to).expect("restore");
        }
    }
}

fn server_event(e: &Event) -> bool {
    matches!(e, Event::Up(..) | Event::Down(..))
}

/// `s` sends `body`; `r`'s next event (server events and `SENT` of its own messages aside)
/// is that message, acknowledged. Integrity is not checked: after a restore the sequence numbers of
/// the restored side repeat or skip, as the reference reports them too.
async fn deliver(s: &mut TestAgent, s_conn: &[u8], r: &mut TestAgent, r_conn: &[u8], body: &[u8]) {
    s.agent.send_message(s_conn, body).await.expect("send");
    let e = r
        .next_skip(|e| server_event(e) || matches!(e, Event::Sent(_)))
        .await;
    assert_eq!(e.conn_id, r_conn);
    let Event::Msg { meta, body: got } = e.event else {
        panic!(
            "expected MSG {:?}, got {e:?}",
            String::from_utf8_lossy(body)
        );
    };
    assert_eq!(got, body);
    r.agent
        .ack_message(r_conn, meta.msg_id, None)
        .await
        .expect("ack");
}

/// The next event of `a` on `conn` other than server events and `SENT`: `RSYNC state`.
async fn rsync(a: &mut TestAgent, conn: &[u8], state: RatchetSyncState) {
    let e = a
        .next_skip(|e| server_event(e) || matches!(e, Event::Sent(_)))
        .await;
    assert_eq!(e.conn_id, conn);
    assert_eq!(e.event, Event::Rsync { state, error: None }, "{e:?}");
}

/// Alice and Bob connected (with post-quantum ratchets when `pq`); Alice's database
/// restored to a copy taken before four messages (two ratchet steps each way); Bob's next
/// message fails at Alice. Returns the agents and connection IDs, Alice with `RSYNC
/// required` seen.
async fn diverged(
    srv: &SmpServer,
    dir: &Path,
    pq: bool,
) -> (TestAgent, Vec<u8>, TestAgent, Vec<u8>) {
    let cfg = || {
        let mut c = config(vec![srv.clone()]);
        c.pq_support = pq;
        c
    };
    let mut a = TestAgent::start(dir, "alice", cfg()).await;
    let mut b = TestAgent::start(dir, "bob", cfg()).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut b, &ba, &mut a, &ab, b"hello").await;
    // Alice's last step before the copy is her own message, reported SENT: nothing of hers
    // is left to send (her receipt for Bob's message went before his RCVD came back).
    exchange(&mut a, &ab, &mut b, &ba, b"hi").await;
    a.agent.stop().await;
    drop(a);
    backup(dir, "alice", "backup");
    let mut a = TestAgent::start(dir, "alice", cfg()).await;
    for (i, from_alice) in [true, false, true, false].into_iter().enumerate() {
        let body = format!("after the backup {i}");
        if from_alice {
            exchange(&mut a, &ab, &mut b, &ba, body.as_bytes()).await;
        } else {
            exchange(&mut b, &ba, &mut a, &ab, body.as_bytes()).await;
        }
    }
    a.agent.stop().await;
    drop(a);
    restore(dir, "alice", "backup");
    let mut a = TestAgent::start(dir, "alice", cfg()).await;
    b.agent
        .send_message(&ba, b"lost on Alice")
        .await
        .expect("send");
    let e = a.next_skip(server_event).await;
    assert_eq!(e.conn_id, ab);
    assert_eq!(
        e.event,
        Event::Rsync {
            state: RatchetSyncState::Required,
            error: Some(AgentCryptoError::RatchetHeader)
        },
        "{e:?}"
    );
    assert!(
        matches!(
            a.agent.send_message(&ab, b"refused").await,
            Err(AgentError::Prohibited(_))
        ),
        "sending is refused while re-synchronisation is required"
    );
    (a, ab, b, ba)
}

/// Alice restored an old database: after Bob's message fails she re-synchronises and
/// messages flow again. A copy of her ratchet-key message replayed to Bob afterwards is
/// ignored (no `RSYNC`, no new keys), by its keys' hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_database_is_resynchronised() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, ab, b, ba) = diverged(srv.address(), dir.path(), false).await;
    // Bob stopped, a client with his key takes a copy of Alice's ratchet-key message
    // without acknowledging it.
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
    assert_eq!(
        a.agent.synchronize_ratchet(&ab, false).await.expect("sync"),
        RatchetSyncState::Started
    );
    assert!(
        matches!(
            a.agent.send_message(&ab, b"refused").await,
            Err(AgentError::Prohibited(_))
        ),
        "sending is refused while re-synchronisation is started"
    );
    let (spy, _ev) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    let m = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(m) = spy.get_message(&rq.rcv_key, &rq.rcv_id).await.expect("get") {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("Alice's ratchet keys reach Bob's queue");
    let RcvMsgBody::Data { body: keys_msg, .. } =
        smp_client::decrypt_message(&rq.rcv_dh_secret, &m).expect("decrypt")
    else {
        panic!("data")
    };
    spy.close().await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    rsync(&mut b, &ba, RatchetSyncState::Agreed).await;
    rsync(&mut a, &ab, RatchetSyncState::Agreed).await;
    rsync(&mut a, &ab, RatchetSyncState::Ok).await;
    rsync(&mut b, &ba, RatchetSyncState::Ok).await;
    deliver(&mut a, &ab, &mut b, &ba, b"in step again").await;
    deliver(&mut b, &ba, &mut a, &ab, b"indeed").await;

    // The same ratchet keys again, twice: Bob ignores them.
    let (replayer, _ev) = smp_client::SmpClient::connect(srv.address(), Default::default())
        .await
        .expect("connect");
    for _ in 0..2 {
        replayer
            .send_message(Some(&sq.snd_key), &sq.snd_id, Default::default(), &keys_msg)
            .await
            .expect("replay");
    }
    replayer.close().await;
    deliver(&mut a, &ab, &mut b, &ba, b"after the replay").await;
    assert_eq!(
        b.agent.ratchet_sync_state(&ba).await.expect("state"),
        RatchetSyncState::Ok
    );
    deliver(&mut b, &ba, &mut a, &ab, b"still in step").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// Both sides start re-synchronising before either gets the other's keys: each uses its
/// own keys with the peer's (no third key message), one sends `EREADY`, and both end in
/// step. Bob, whose ratchet decrypted everything, may start only with `force`. Both offer
/// post-quantum keys (both propose a KEM, as in the reference's renegotiation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_start_at_once() {
    let sdir = tempfile::tempdir().expect("tempdir");
    let mut srv = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("persistent server");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut a, ab, mut b, ba) = diverged(srv.address(), dir.path(), true).await;
    assert!(
        matches!(
            b.agent.synchronize_ratchet(&ba, false).await,
            Err(AgentError::Prohibited(_))
        ),
        "not allowed without a decryption error"
    );
    // The relay is down while both start: neither gets the other's keys before starting.
    srv.down().await.expect("server down");
    assert_eq!(
        a.agent.synchronize_ratchet(&ab, false).await.expect("sync"),
        RatchetSyncState::Started
    );
    assert_eq!(
        b.agent.synchronize_ratchet(&ba, true).await.expect("sync"),
        RatchetSyncState::Started
    );
    srv.up().await.expect("server up");
    rsync(&mut a, &ab, RatchetSyncState::Agreed).await;
    rsync(&mut b, &ba, RatchetSyncState::Agreed).await;
    rsync(&mut a, &ab, RatchetSyncState::Ok).await;
    rsync(&mut b, &ba, RatchetSyncState::Ok).await;
    deliver(&mut a, &ab, &mut b, &ba, b"in step again").await;
    deliver(&mut b, &ba, &mut a, &ab, b"indeed").await;
    deliver(&mut a, &ab, &mut b, &ba, b"and again").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.down().await.expect("server down");
}
