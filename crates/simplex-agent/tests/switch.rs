//! Queue rotation on real relays: a switch started by either side moves the switching
//! side's receive queue to a new queue on the other relay (`QADD`, `QKEY`, `QUSE`, `QTEST`),
//! both sides report `SWITCH` with the reference's phases, messages flow both ways during
//! and after it, and the old queue is deleted on its relay (a direct `SUB` on it gets
//! `ERR AUTH`). Also: abort where the reference allows it and its refusal where it does not,
//! agents restarted mid-switch, and the new queue's relay down when the switch starts.

mod common;

use simplex_agent::sqlite::Locking;
use std::path::Path;

use common::*;
use simplex_agent::store::{RcvQueueRecord, Store};
use simplex_agent::{
    AgentError, ConnectionStats, Event, QueueDirection, RcvSwitchStatus, SndSwitchStatus,
    SqliteStore, SwitchPhase,
};
use smp_client::{ClientConfig, ClientError, SmpClient};
use smp_proto::{ErrorType, SmpServer};

/// What one side saw while [`pump`] ran.
#[derive(Default, Debug)]
struct Log {
    switch: Vec<(QueueDirection, SwitchPhase)>,
    first: Option<ConnectionStats>,
    stats: Option<ConnectionStats>,
    bodies: Vec<Vec<u8>>,
    sent: usize,
    errors: Vec<String>,
}

impl Log {
    fn completed(&self, d: QueueDirection) -> bool {
        self.switch.contains(&(d, SwitchPhase::Completed))
    }
    fn has(&self, d: QueueDirection, p: SwitchPhase) -> bool {
        self.switch.contains(&(d, p))
    }
}

/// Handles one event: a message is acknowledged (so that its queue delivers the next) and
/// logged, as are `SWITCH` and `ERR`.
async fn handle(t: &mut TestAgent, conn: &[u8], e: simplex_agent::AgentEvent, log: &mut Log) {
    match e.event {
        Event::Msg { meta, body } => {
            assert_eq!(e.conn_id, conn);
            assert_eq!(meta.integrity, simplex_agent::MsgIntegrity::Ok, "{body:?}");
            t.agent
                .ack_message(conn, meta.msg_id, None)
                .await
                .expect("ack");
            log.bodies.push(body);
        }
        Event::Switch {
            direction,
            phase,
            stats,
        } => {
            assert_eq!(e.conn_id, conn);
            log.switch.push((direction, phase));
            if log.first.is_none() {
                log.first = Some(stats.clone());
            }
            log.stats = Some(stats);
        }
        Event::Err(s) => log.errors.push(s),
        Event::Sent(_) => log.sent += 1,
        _ => {}
    }
}

/// Runs both agents' events (acknowledging messages) until `done` says so, within [`WAIT`].
async fn pump(
    a: &mut TestAgent,
    a_conn: &[u8],
    b: &mut TestAgent,
    b_conn: &[u8],
    done: impl Fn(&Log, &Log) -> bool,
) -> (Log, Log) {
    let (mut la, mut lb) = (Log::default(), Log::default());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&la, &lb) {
        tokio::select! {
            e = a.events.recv() => {
                let e = e.expect("a's events");
                handle(a, a_conn, e, &mut la).await;
            }
            e = b.events.recv() => {
                let e = e.expect("b's events");
                handle(b, b_conn, e, &mut lb).await;
            }
            _ = tokio::time::sleep_until(deadline) => panic!("not done in time: {la:?} {lb:?}"),
        }
    }
    (la, lb)
}

fn phases(d: QueueDirection) -> Vec<(QueueDirection, SwitchPhase)> {
    [
        SwitchPhase::Started,
        SwitchPhase::Confirmed,
        SwitchPhase::Secured,
        SwitchPhase::Completed,
    ]
    .into_iter()
    .map(|p| (d, p))
    .collect()
}

/// The current receive queue of a connection, read from the agent's database file.
fn stored_rcv_queue(dir: &Path, name: &str, conn: &[u8]) -> RcvQueueRecord {
    let store = SqliteStore::open_with(
        &dir.join(format!("{name}.db")),
        "passphrase",
        Locking::Shared,
    )
    .expect("open store");
    store.rcv_queue(conn).expect("read").expect("rcv queue")
}

/// Waits until an agent's database has no pending message on `conn` (its `QADD` sent).
async fn wait_sent(dir: &Path, name: &str, conn: &[u8]) {
    let store = SqliteStore::open_with(
        &dir.join(format!("{name}.db")),
        "passphrase",
        Locking::Shared,
    )
    .expect("open store");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !store.pending_snd_msgs(conn).expect("read").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "not sent in time");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `SUB` on a queue directly: `ERR AUTH` once it is deleted on its relay.
async fn sub_directly(q: &RcvQueueRecord) -> Result<(), ClientError> {
    let (client, _events) = SmpClient::connect(&q.server, ClientConfig::default())
        .await
        .expect("connect");
    let r = client.subscribe(&q.rcv_key, &q.rcv_id).await;
    client.close().await;
    r
}

/// `s` switches its receive queue on `s_conn`; the peer `p` follows. Messages both ways
/// are sent right after the switch starts and after it ends.
async fn rotate(
    dir: &Path,
    s_name: &str,
    s: &mut TestAgent,
    s_conn: &[u8],
    p: &mut TestAgent,
    p_conn: &[u8],
) {
    let old = stored_rcv_queue(dir, s_name, s_conn);
    let stats = s.agent.switch_connection(s_conn).await.expect("switch");
    assert_eq!(stats.rcv_queues.len(), 2, "{stats:?}");
    assert_eq!(stats.rcv_queues[0].server, old.server);
    assert_eq!(
        stats.rcv_queues[0].switch_status,
        Some(RcvSwitchStatus::SendingQadd)
    );
    assert!(stats.rcv_queues[0].can_abort_switch);
    let new_server = stats.rcv_queues[1].server.clone();
    assert_ne!(
        new_server, old.server,
        "the new queue is on the other relay"
    );
    // A second switch while this one runs is refused.
    assert!(matches!(
        s.agent.switch_connection(s_conn).await,
        Err(AgentError::Prohibited(_))
    ));
    let (mut from_s, mut from_p) = (Vec::new(), Vec::new());
    for i in 0..3 {
        let m = format!("during {i}, from the switching side").into_bytes();
        s.agent.send_message(s_conn, &m).await.expect("send");
        from_s.push(m);
        let m = format!("during {i}, from the peer").into_bytes();
        p.agent.send_message(p_conn, &m).await.expect("send");
        from_p.push(m);
    }
    let (ls, lp) = pump(s, s_conn, p, p_conn, |ls, lp| {
        ls.completed(QueueDirection::Rcv)
            && lp.completed(QueueDirection::Snd)
            && ls.bodies.len() == 3
            && lp.bodies.len() == 3
            && ls.sent == 3
            && lp.sent == 3
    })
    .await;
    assert_eq!(ls.switch, phases(QueueDirection::Rcv), "{ls:?}");
    assert_eq!(lp.switch, phases(QueueDirection::Snd), "{lp:?}");
    // All of them, in order, each with integrity OK (checked as they came).
    assert_eq!(ls.bodies, from_p);
    assert_eq!(lp.bodies, from_s);
    assert!(
        ls.errors.is_empty() && lp.errors.is_empty(),
        "{ls:?} {lp:?}"
    );
    // One queue each way again, the new one.
    let ss = s.agent.connection_stats(s_conn).await.expect("stats");
    assert_eq!(ss.rcv_queues.len(), 1, "{ss:?}");
    assert_eq!(ss.rcv_queues[0].server, new_server);
    assert!(ss.rcv_queues[0].primary);
    assert_eq!(ss.rcv_queues[0].switch_status, None);
    let ps = p.agent.connection_stats(p_conn).await.expect("stats");
    assert_eq!(ps.snd_queues.len(), 1, "{ps:?}");
    assert_eq!(ps.snd_queues[0].server, new_server);
    assert!(ps.snd_queues[0].primary);
    assert_eq!(ps.snd_queues[0].switch_status, None);
    // The old queue is gone from its relay.
    assert!(
        matches!(
            sub_directly(&old).await,
            Err(ClientError::Server(ErrorType::Auth))
        ),
        "the old queue is deleted"
    );
    // Messages flow both ways on the new queues, with receipts.
    exchange(p, p_conn, s, s_conn, b"after, from the peer").await;
    exchange(s, s_conn, p, p_conn, b"after, from the switching side").await;
}

async fn two_relays() -> (TestServer, TestServer, Vec<SmpServer>) {
    let s1 = TestServer::start(128).await.expect("relay 1");
    let s2 = TestServer::start(128).await.expect("relay 2");
    let servers = vec![s1.address().clone(), s2.address().clone()];
    (s1, s2, servers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_started_by_the_initiator_moves_its_queue_to_the_other_relay() {
    let (_s1, _s2, servers) = two_relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = TestAgent::start(dir.path(), "alice", config(servers.clone())).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(servers)).await;
    let (a, b) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a, &mut bob, &b, b"hello").await;
    rotate(dir.path(), "alice", &mut alice, &a, &mut bob, &b).await;
    // And again: a switch after a switch.
    rotate(dir.path(), "alice", &mut alice, &a, &mut bob, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_started_by_the_joiner_moves_its_queue_to_the_other_relay() {
    let (_s1, _s2, servers) = two_relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = TestAgent::start(dir.path(), "alice", config(servers.clone())).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(servers)).await;
    let (a, b) = connect(&mut alice, &mut bob).await;
    exchange(&mut bob, &b, &mut alice, &a, b"hello").await;
    rotate(dir.path(), "bob", &mut bob, &b, &mut alice, &a).await;
    // Then the other side switches too.
    rotate(dir.path(), "alice", &mut alice, &a, &mut bob, &b).await;
}

/// Abort right after the start is allowed (`sending_qadd`): the new queue is gone and the
/// peer's `QKEY` for it is refused; messages flow. In a new switch, with each side stopped
/// and restarted in turn (so that the steps are deterministic), abort is refused once the
/// queue is secured (`sending_quse`), and the switch completes when the peer restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_where_allowed_refused_after_secured_and_peer_restarted_mid_switch() {
    let (_s1, _s2, servers) = two_relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = TestAgent::start(dir.path(), "alice", config(servers.clone())).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(servers.clone())).await;
    let (a, b) = connect(&mut alice, &mut bob).await;
    assert!(matches!(
        alice.agent.abort_switch(&a).await,
        Err(AgentError::Prohibited(_))
    ));

    // Bob is stopped, so that the switch stays in sending_qadd until the abort.
    bob.agent.stop().await;
    drop(bob);
    let started = alice.agent.switch_connection(&a).await.expect("switch");
    let new_queue = started.rcv_queues[1].server.clone();
    let stats = alice.agent.abort_switch(&a).await.expect("abort");
    assert_eq!(stats.rcv_queues.len(), 1, "{stats:?}");
    assert_ne!(stats.rcv_queues[0].server, new_queue);
    assert_eq!(stats.rcv_queues[0].switch_status, None);
    let mut bob = TestAgent::start(dir.path(), "bob", config(servers.clone())).await;
    // Bob got QADD and answers QKEY, which Alice refuses (no such queue any more).
    let (la, lb) = pump(&mut alice, &a, &mut bob, &b, |la, lb| {
        !la.errors.is_empty() && lb.has(QueueDirection::Snd, SwitchPhase::Confirmed)
    })
    .await;
    assert_eq!(la.switch, vec![(QueueDirection::Rcv, SwitchPhase::Started)]);
    assert!(la.errors[0].contains("QKEY"), "{la:?}");
    assert_eq!(
        lb.stats.expect("stats").snd_queues[0].switch_status,
        Some(SndSwitchStatus::SendingQkey)
    );
    exchange(&mut alice, &a, &mut bob, &b, b"after the abort").await;
    exchange(&mut bob, &b, &mut alice, &a, b"after the abort, back").await;

    // A new switch, one side running at a time, so that Alice stops in sending_quse: Alice
    // sends QADD (Bob stopped); Bob answers QKEY (Alice stopped); Alice secures the new
    // queue and sends QUSE (Bob stopped).
    bob.agent.stop().await;
    drop(bob);
    alice.agent.switch_connection(&a).await.expect("switch");
    wait_sent(dir.path(), "alice", &a).await;
    alice.agent.stop().await;
    drop(alice);
    let mut bob = TestAgent::start(dir.path(), "bob", config(servers.clone())).await;
    loop {
        let e = bob.next().await;
        if let Event::Switch {
            phase: SwitchPhase::Confirmed,
            ..
        } = e.event
        {
            break;
        }
    }
    bob.agent.stop().await;
    drop(bob);
    let mut alice = TestAgent::start(dir.path(), "alice", config(servers.clone())).await;
    let secured = loop {
        let e = alice.next().await;
        if let Event::Switch {
            phase: SwitchPhase::Secured,
            stats,
            ..
        } = e.event
        {
            break stats;
        }
    };
    assert_eq!(
        secured.rcv_queues[0].switch_status,
        Some(RcvSwitchStatus::SendingQuse)
    );
    assert!(!secured.rcv_queues[0].can_abort_switch);
    assert!(matches!(
        alice.agent.abort_switch(&a).await,
        Err(AgentError::Prohibited(_))
    ));
    let old = stored_rcv_queue(dir.path(), "alice", &a);

    let mut bob = TestAgent::start(dir.path(), "bob", config(servers)).await;
    let (la, lb) = pump(&mut alice, &a, &mut bob, &b, |la, lb| {
        la.completed(QueueDirection::Rcv) && lb.completed(QueueDirection::Snd)
    })
    .await;
    assert_eq!(
        la.switch,
        vec![(QueueDirection::Rcv, SwitchPhase::Completed)]
    );
    assert_eq!(
        lb.switch,
        vec![
            (QueueDirection::Snd, SwitchPhase::Secured),
            (QueueDirection::Snd, SwitchPhase::Completed)
        ]
    );
    assert!(matches!(
        sub_directly(&old).await,
        Err(ClientError::Server(ErrorType::Auth))
    ));
    exchange(&mut alice, &a, &mut bob, &b, b"after the restart").await;
    exchange(&mut bob, &b, &mut alice, &a, b"after the restart, back").await;
}

/// The switching side stopped right after the switch started: after its restart (both
/// queues subscribed again from its database, `QADD` sent if it was not) the switch
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_side_restarted_mid_switch_completes_it() {
    let (_s1, _s2, servers) = two_relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = TestAgent::start(dir.path(), "alice", config(servers.clone())).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(servers.clone())).await;
    let (a, b) = connect(&mut alice, &mut bob).await;
    let old = stored_rcv_queue(dir.path(), "alice", &a);
    alice.agent.switch_connection(&a).await.expect("switch");
    // Alice stops at once: her QADD may or may not have gone out.
    alice.agent.stop().await;
    drop(alice);
    let mut alice = TestAgent::start(dir.path(), "alice", config(servers)).await;
    let (la, lb) = pump(&mut alice, &a, &mut bob, &b, |la, lb| {
        la.completed(QueueDirection::Rcv) && lb.completed(QueueDirection::Snd)
    })
    .await;
    // The steps after the restart, in order, ending with the old queue deleted.
    assert!(phases(QueueDirection::Rcv).ends_with(&la.switch), "{la:?}");
    assert_eq!(lb.switch, phases(QueueDirection::Snd));
    assert!(matches!(
        sub_directly(&old).await,
        Err(ClientError::Server(ErrorType::Auth))
    ));
    exchange(&mut alice, &a, &mut bob, &b, b"after the restart").await;
    exchange(&mut bob, &b, &mut alice, &a, b"after the restart, back").await;
}

/// The new queue's relay is down when the switch starts: `switch_connection` fails with the
/// relay's error and leaves the switch in `switch_started`, as the reference's
/// `switchConnection` does (a second switch is refused, abort is allowed); after the abort
/// and with the relay back, a switch completes on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_relay_down_at_switch_start_fails_cleanly_then_switch_after_abort() {
    let s1 = TestServer::start(128).await.expect("relay 1");
    let dir = tempfile::tempdir().expect("tempdir");
    let s2dir = dir.path().join("relay2");
    std::fs::create_dir(&s2dir).expect("relay dir");
    let mut s2 = PersistentServer::start(&s2dir, 128).await.expect("relay 2");
    let only_s1 = vec![s1.address().clone()];
    let both = vec![s1.address().clone(), s2.address().clone()];
    // Every queue on relay 1 first; then Alice also has relay 2.
    let mut alice = TestAgent::start(dir.path(), "alice", config(only_s1.clone())).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(only_s1)).await;
    let (a, b) = connect(&mut alice, &mut bob).await;
    alice.agent.stop().await;
    drop(alice);
    let mut alice = TestAgent::start(dir.path(), "alice", config(both.clone())).await;
    s2.down().await.expect("relay 2 down");

    let r = alice.agent.switch_connection(&a).await;
    assert!(matches!(r, Err(AgentError::Smp { .. })), "{r:?}");
    let stats = alice.agent.connection_stats(&a).await.expect("stats");
    assert_eq!(stats.rcv_queues.len(), 1, "{stats:?}");
    assert_eq!(
        stats.rcv_queues[0].switch_status,
        Some(RcvSwitchStatus::SwitchStarted)
    );
    assert!(stats.rcv_queues[0].can_abort_switch);
    assert!(matches!(
        alice.agent.switch_connection(&a).await,
        Err(AgentError::Prohibited(_))
    ));
    // Messages still flow meanwhile.
    exchange(&mut bob, &b, &mut alice, &a, b"while relay 2 is down").await;
    let stats = alice.agent.abort_switch(&a).await.expect("abort");
    assert_eq!(stats.rcv_queues[0].switch_status, None);

    s2.up().await.expect("relay 2 up");
    let stats = alice.agent.switch_connection(&a).await.expect("switch");
    assert_eq!(&stats.rcv_queues[1].server, s2.address());
    let (la, lb) = pump(&mut alice, &a, &mut bob, &b, |la, lb| {
        la.completed(QueueDirection::Rcv) && lb.completed(QueueDirection::Snd)
    })
    .await;
    assert_eq!(la.switch, phases(QueueDirection::Rcv));
    assert_eq!(lb.switch, phases(QueueDirection::Snd));
    let stats = alice.agent.connection_stats(&a).await.expect("stats");
    assert_eq!(&stats.rcv_queues[0].server, s2.address());
    exchange(&mut bob, &b, &mut alice, &a, b"via relay 2").await;
    exchange(&mut alice, &a, &mut bob, &b, b"back").await;
}

/// With `rotate_after` the agent switches a receive queue by itself once it is that old;
/// off by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_after_switches_by_itself() {
    assert_eq!(
        simplex_agent::AgentConfig::new(Vec::new()).rotate_after,
        None
    );
    let (_s1, _s2, servers) = two_relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rotating = config(servers.clone());
    rotating.rotate_after = Some(std::time::Duration::from_secs(1));
    let mut alice = TestAgent::start(dir.path(), "alice", rotating).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(servers)).await;
    let (a, b) = connect(&mut alice, &mut bob).await;
    let (la, lb) = pump(&mut alice, &a, &mut bob, &b, |la, lb| {
        la.completed(QueueDirection::Rcv) && lb.completed(QueueDirection::Snd)
    })
    .await;
    assert_eq!(la.switch, phases(QueueDirection::Rcv));
    assert_eq!(lb.switch, phases(QueueDirection::Snd));
    let started = la.first.expect("stats");
    let (old, new) = (&started.rcv_queues[0].server, &started.rcv_queues[1].server);
    assert_ne!(old, new);
    let stats = la.stats.expect("stats");
    assert_eq!(stats.rcv_queues.len(), 1);
    assert_eq!(&stats.rcv_queues[0].server, new);
    // Bob's queue, not rotating, is where it was.
    let bob_stats = bob.agent.connection_stats(&b).await.expect("stats");
    assert_eq!(bob_stats.rcv_queues.len(), 1);
    assert_eq!(lb.stats.expect("stats").rcv_queues, bob_stats.rcv_queues);
}

/// The new queue's relay goes down after the switch started, before the peer's `QKEY`
/// comes: `KEY` on the new queue fails, the message carrying `QKEY` is left unacknowledged
/// and fetched again after a while, and once the relay is back the switch completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_relay_down_when_qkey_comes_then_switch_completes() {
    let s1 = TestServer::start(128).await.expect("relay 1");
    let dir = tempfile::tempdir().expect("tempdir");
    let s2dir = dir.path().join("relay2");
    std::fs::create_dir(&s2dir).expect("relay dir");
    let mut s2 = PersistentServer::start(&s2dir, 128).await.expect("relay 2");
    let only_s1 = vec![s1.address().clone()];
    let both = vec![s1.address().clone(), s2.address().clone()];
    let mut alice = TestAgent::start(dir.path(), "alice", config(only_s1.clone())).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(only_s1.clone())).await;
    let (a, b) = connect(&mut alice, &mut bob).await;
    alice.agent.stop().await;
    drop(alice);
    bob.agent.stop().await;
    drop(bob);
    let mut alice = TestAgent::start(dir.path(), "alice", config(both)).await;
    let stats = alice.agent.switch_connection(&a).await.expect("switch");
    assert_eq!(&stats.rcv_queues[1].server, s2.address());
    wait_sent(dir.path(), "alice", &a).await;
    s2.down().await.expect("relay 2 down");
    let mut bob = TestAgent::start(dir.path(), "bob", config(only_s1)).await;
    // Alice gets QKEY and fails to secure the new queue.
    let (la, _) = pump(&mut alice, &a, &mut bob, &b, |la, lb| {
        lb.has(QueueDirection::Snd, SwitchPhase::Confirmed)
            && la.has(QueueDirection::Rcv, SwitchPhase::Started)
    })
    .await;
    // Time for Alice to get QKEY and try KEY (it cannot succeed while relay 2 is down).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut la = la;
    while let Ok(e) = alice.events.try_recv() {
        handle(&mut alice, &a, e, &mut la).await;
    }
    assert!(!la.has(QueueDirection::Rcv, SwitchPhase::Secured), "{la:?}");
    let stats = alice.agent.connection_stats(&a).await.expect("stats");
    assert_eq!(
        stats.rcv_queues[0].switch_status,
        Some(RcvSwitchStatus::SendingQadd)
    );
    s2.up().await.expect("relay 2 up");
    let (la, lb) = pump(&mut alice, &a, &mut bob, &b, |la, lb| {
        la.completed(QueueDirection::Rcv) && lb.completed(QueueDirection::Snd)
    })
    .await;
    assert!(phases(QueueDirection::Rcv).ends_with(&la.switch), "{la:?}");
    assert!(la.has(QueueDirection::Rcv, SwitchPhase::Secured), "{la:?}");
    assert_eq!(
        lb.switch,
        vec![
            (QueueDirection::Snd, SwitchPhase::Secured),
            (QueueDirection::Snd, SwitchPhase::Completed)
        ]
    );
    exchange(&mut bob, &b, &mut alice, &a, b"via relay 2").await;
    exchange(&mut alice, &a, &mut bob, &b, b"back").await;
}
