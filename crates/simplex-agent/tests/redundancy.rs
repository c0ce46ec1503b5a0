//! Redundant queues (`AgentConfig::redundancy`) on real relays: with 2 queues each way on
//! different relays, a relay that dies mid-stream loses nothing and shows no duplicate; a
//! relay that holds its copies back changes no order; a peer with one queue (as the
//! reference's) still talks both ways; the extra queues and pending copies survive a
//! restart.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::*;
use simplex_agent::{AgentConfig, Event, MsgIntegrity};
use smp_proto::SmpServer;
use smp_server::testing::local_address;
use test_support::proxy::FaultProxy;

fn redundant(servers: Vec<SmpServer>, n: usize) -> AgentConfig {
    let mut c = config(servers);
    c.redundancy = n;
    c
}

/// Three relays, each behind a fault proxy (the agents know the proxies' addresses).
async fn relays() -> (Vec<TestServer>, Vec<FaultProxy>, Vec<SmpServer>) {
    let mut servers = Vec::new();
    let mut proxies = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        let s = TestServer::start(1000).await.expect("server");
        let p = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], s.port())))
            .await
            .expect("proxy");
        addrs.push(local_address(s.key_hash(), p.addr().port()));
        servers.push(s);
        proxies.push(p);
    }
    (servers, proxies, addrs)
}

/// Sends `range` as bodies from `s`.
async fn send(s: &TestAgent, conn: &[u8], range: std::ops::Range<u32>) {
    for i in range {
        s.agent
            .send_message(conn, i.to_string().as_bytes())
            .await
            .expect("send");
    }
}

/// Receives until `want` messages came, acknowledging each; fails on a duplicate, an
/// integrity error or an agent error shown to the application. Returns the bodies.
async fn receive(r: &mut TestAgent, conn: &[u8], want: usize) -> Vec<u32> {
    let mut got = Vec::new();
    while got.len() < want {
        let e = r.next().await;
        match e.event {
            Event::Msg { meta, body } => {
                assert_eq!(e.conn_id, conn);
                assert_eq!(meta.integrity, MsgIntegrity::Ok, "message {body:?}");
                r.agent
                    .ack_message(conn, meta.msg_id, None)
                    .await
                    .expect("ack");
                let n = String::from_utf8(body).expect("utf8");
                got.push(n.parse().expect("number"));
            }
            Event::Duplicate { .. } => panic!("a duplicate shown: {e:?}"),
            Event::Err(s) => panic!("an error shown: {s}"),
            _ => {}
        }
    }
    got
}

/// The relays of a connection's receive and send queues.
async fn queue_servers(t: &TestAgent, conn: &[u8]) -> (Vec<SmpServer>, Vec<SmpServer>) {
    let st = t.agent.connection_stats(conn).await.expect("stats");
    (
        st.rcv_queues.into_iter().map(|q| q.server).collect(),
        st.snd_queues.into_iter().map(|q| q.server).collect(),
    )
}

fn distinct(s: &[SmpServer]) -> bool {
    s.iter().enumerate().all(|(i, a)| !s[..i].contains(a))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_stream_loses_nothing_and_shows_no_duplicate() {
    let (mut servers, _proxies, addrs) = relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", redundant(addrs.clone(), 2)).await;
    let mut b = TestAgent::start(dir.path(), "bob", redundant(addrs.clone(), 2)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    let (a_rcv, a_snd) = queue_servers(&a, &ab).await;
    let (b_rcv, b_snd) = queue_servers(&b, &ba).await;
    assert_eq!(
        (a_rcv.len(), b_rcv.len()),
        (2, 2),
        "two receive queues each"
    );
    assert!(distinct(&a_rcv) && distinct(&b_rcv), "on different relays");
    assert_eq!(a_snd, b_rcv, "alice sends on every queue of bob's");
    assert_eq!(b_snd, a_rcv);

    send(&a, &ab, 0..10).await;
    assert_eq!(receive(&mut b, &ba, 10).await, (0..10).collect::<Vec<_>>());
    send(&b, &ba, 0..10).await;
    assert_eq!(receive(&mut a, &ab, 10).await, (0..10).collect::<Vec<_>>());

    // The relay of alice's first receive queue dies for good.
    let victim = addrs.iter().position(|s| *s == a_rcv[0]).expect("known");
    servers.remove(victim).stop().await.expect("stop");
    send(&a, &ab, 10..40).await;
    assert_eq!(receive(&mut b, &ba, 30).await, (10..40).collect::<Vec<_>>());
    let mut ids = std::collections::HashSet::new();
    for i in 10..40u32 {
        let id = b.agent.send_message(&ba, i.to_string().as_bytes()).await;
        ids.insert(id.expect("send"));
    }
    assert_eq!(receive(&mut a, &ab, 30).await, (10..40).collect::<Vec<_>>());
    // Bob's current queue to Alice is on the dead relay: each message is still reported
    // sent, when the relay of its other copy took it.
    let mut sent = std::collections::HashSet::new();
    while !ids.is_subset(&sent) {
        if let Event::Sent(id) = b.next().await.event {
            sent.insert(id);
        }
    }
    a.agent.stop().await;
    b.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_held_back_by_one_relay_change_no_order_and_are_dropped() {
    let (_servers, proxies, addrs) = relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", redundant(addrs.clone(), 2)).await;
    let mut b = TestAgent::start(dir.path(), "bob", redundant(addrs.clone(), 2)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    let (b_rcv, _) = queue_servers(&b, &ba).await;
    // The relay of bob's first queue stops delivering (its traffic to the agents waits).
    let slow = addrs.iter().position(|s| *s == b_rcv[0]).expect("known");
    proxies[slow].stall();
    send(&a, &ab, 0..20).await;
    assert_eq!(receive(&mut b, &ba, 20).await, (0..20).collect::<Vec<_>>());
    // Then it delivers its 20 copies: dropped, and the next messages come in order.
    proxies[slow].resume();
    send(&a, &ab, 20..30).await;
    assert_eq!(receive(&mut b, &ba, 10).await, (20..30).collect::<Vec<_>>());
    send(&b, &ba, 0..5).await;
    assert_eq!(receive(&mut a, &ab, 5).await, (0..5).collect::<Vec<_>>());
    a.agent.stop().await;
    b.agent.stop().await;
}

async fn one_sided(initiator_n: usize, joiner_n: usize, dir: &Path, addrs: &[SmpServer]) {
    let mut a = TestAgent::start(dir, "alice", redundant(addrs.to_vec(), initiator_n)).await;
    let mut b = TestAgent::start(dir, "bob", redundant(addrs.to_vec(), joiner_n)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    // Redundancy needs both sides: the one with a single queue (as a reference agent)
    // sends on the first queue only, and gets a single reply queue.
    let (_, a_snd) = queue_servers(&a, &ab).await;
    let (_, b_snd) = queue_servers(&b, &ba).await;
    assert_eq!((a_snd.len(), b_snd.len()), (1, 1));
    for round in 0..3 {
        exchange(&mut a, &ab, &mut b, &ba, format!("a{round}").as_bytes()).await;
        exchange(&mut b, &ba, &mut a, &ab, format!("b{round}").as_bytes()).await;
    }
    a.agent.stop().await;
    b.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_one_queue_still_talks_both_ways() {
    let (_servers, _proxies, addrs) = relays().await;
    let d1 = tempfile::tempdir().expect("tempdir");
    one_sided(2, 1, d1.path(), &addrs).await;
    let d2 = tempfile::tempdir().expect("tempdir");
    one_sided(1, 2, d2.path(), &addrs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_pending_at_a_restart_are_sent_after_it() {
    let (_servers, proxies, addrs) = relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", redundant(addrs.clone(), 2)).await;
    let mut b = TestAgent::start(dir.path(), "bob", redundant(addrs.clone(), 2)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    let (b_rcv, _) = queue_servers(&b, &ba).await;
    // Both of bob's relays refuse alice for a while: her copies wait in her database.
    let idx: Vec<usize> = b_rcv
        .iter()
        .map(|s| addrs.iter().position(|x| x == s).expect("known"))
        .collect();
    for &i in &idx {
        proxies[i].cut();
    }
    send(&a, &ab, 0..10).await;
    a.agent.stop().await;
    drop(a);
    // After the restart only the relay of bob's further queue is back: what arrives came
    // from the stored copies.
    proxies[idx[1]].restore();
    let mut a = TestAgent::start(dir.path(), "alice", redundant(addrs.clone(), 2)).await;
    let (a_rcv, a_snd) = queue_servers(&a, &ab).await;
    assert_eq!((a_rcv.len(), a_snd.len()), (2, 2), "the queues are stored");
    assert_eq!(receive(&mut b, &ba, 10).await, (0..10).collect::<Vec<_>>());
    proxies[idx[0]].restore();
    send(&b, &ba, 0..3).await;
    assert_eq!(receive(&mut a, &ab, 3).await, vec![0, 1, 2]);
    a.agent.stop().await;
    b.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_link_invitation_carries_the_further_queues() {
    let (mut servers, _proxies, addrs) = relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", redundant(addrs.clone(), 2)).await;
    let mut b = TestAgent::start(dir.path(), "bob", redundant(addrs.clone(), 2)).await;
    let (ab, links) = a
        .agent
        .create_connection_with_link(b"alice's card")
        .await
        .expect("invitation");
    let short = links.short.expect("a short link");
    let (ba, data) = b
        .agent
        .join_connection_link(&short, b"bob's info")
        .await
        .expect("join");
    assert_eq!(data.as_deref(), Some(&b"alice's card"[..]));
    let conf = a.next().await;
    let Event::Conf { conf_id, .. } = conf.event else {
        panic!("expected CONF, got {conf:?}");
    };
    a.agent
        .allow_connection(&conf_id, b"alice's info")
        .await
        .expect("allow");
    a.next_skip(|e| *e != Event::Con).await;
    b.next_skip(|e| *e != Event::Con).await;
    let (a_rcv, a_snd) = queue_servers(&a, &ab).await;
    let (b_rcv, b_snd) = queue_servers(&b, &ba).await;
    assert_eq!((a_rcv.len(), b_rcv.len()), (2, 2));
    assert_eq!((a_snd, b_snd), (b_rcv.clone(), a_rcv.clone()));
    // The relay of bob's first queue dies: alice's messages come over the other.
    let victim = addrs.iter().position(|s| *s == b_rcv[0]).expect("known");
    servers.remove(victim).stop().await.expect("stop");
    send(&a, &ab, 0..5).await;
    assert_eq!(receive(&mut b, &ba, 5).await, (0..5).collect::<Vec<_>>());
    a.agent.stop().await;
    b.agent.stop().await;
}

/// Four relays (a spare for new queues) and two agents with redundancy 2 that replace a
/// queue whose relay is down for half a second: (relays, their addresses, the folder, alice,
/// bob).
async fn replacing_pair() -> (
    Vec<Option<TestServer>>,
    Vec<SmpServer>,
    tempfile::TempDir,
    TestAgent,
    TestAgent,
) {
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..4 {
        let s = TestServer::start(1000).await.expect("server");
        addrs.push(s.address().clone());
        servers.push(Some(s));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || {
        let mut c = redundant(addrs.clone(), 2);
        c.replace_dead_after = Some(std::time::Duration::from_millis(500));
        c
    };
    let a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let b = TestAgent::start(dir.path(), "bob", cfg()).await;
    (servers, addrs, dir, a, b)
}

/// Waits (at most 30 s) until alice's receive queues are two, none on `dead`, and bob sends
/// on exactly them; returns them.
async fn wait_replaced(
    a: &TestAgent,
    ab: &[u8],
    b: &TestAgent,
    ba: &[u8],
    dead: &SmpServer,
) -> Vec<SmpServer> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (rcv, _) = queue_servers(a, ab).await;
        let (_, snd) = queue_servers(b, ba).await;
        if rcv.len() == 2 && !rcv.contains(dead) && snd == rcv {
            return rcv;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not replaced: {rcv:?} / {snd:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_further_queue_whose_relay_stays_down_is_replaced_on_another_relay() {
    // Four relays: the connection uses two or three, a spare is there for the new queue.
    let (mut servers, addrs, _dir, mut a, mut b) = replacing_pair().await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    send(&b, &ba, 0..3).await;
    assert_eq!(receive(&mut a, &ab, 3).await, vec![0, 1, 2]);
    let (a_rcv, _) = queue_servers(&a, &ab).await;
    let dead = a_rcv[1].clone();
    let i = addrs.iter().position(|s| *s == dead).expect("known");
    servers[i].take().expect("up").stop().await.expect("stop");
    // Alice replaces her further queue; Bob sends on the new one.
    wait_replaced(&a, &ab, &b, &ba, &dead).await;
    // Then the relay of her current queue dies too: the new queue carries everything.
    let (rcv, _) = queue_servers(&a, &ab).await;
    let j = addrs.iter().position(|s| *s == rcv[0]).expect("known");
    servers[j].take().expect("up").stop().await.expect("stop");
    send(&b, &ba, 3..10).await;
    assert_eq!(receive(&mut a, &ab, 7).await, (3..10).collect::<Vec<_>>());
    a.agent.stop().await;
    b.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_current_queue_whose_relay_stays_down_gives_way_to_a_further_one() {
    let (mut servers, addrs, _dir, mut a, mut b) = replacing_pair().await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    send(&b, &ba, 0..3).await;
    assert_eq!(receive(&mut a, &ab, 3).await, vec![0, 1, 2]);
    let (a_rcv, _) = queue_servers(&a, &ab).await;
    let (dead, other) = (a_rcv[0].clone(), a_rcv[1].clone());
    let i = addrs.iter().position(|s| *s == dead).expect("known");
    servers[i].take().expect("up").stop().await.expect("stop");
    // Messages sent while the current queue is dead wait for it in Bob's agent.
    send(&b, &ba, 3..6).await;
    assert_eq!(receive(&mut a, &ab, 3).await, vec![3, 4, 5]);
    let rcv = wait_replaced(&a, &ab, &b, &ba, &dead).await;
    assert_eq!(rcv[0], other, "the further queue became current");
    // Messages go on, in order, without duplicates shown: then the promoted queue's relay
    // dies too and the new further queue carries them.
    send(&b, &ba, 6..10).await;
    assert_eq!(receive(&mut a, &ab, 4).await, vec![6, 7, 8, 9]);
    let j = addrs.iter().position(|s| *s == other).expect("known");
    servers[j].take().expect("up").stop().await.expect("stop");
    send(&b, &ba, 10..15).await;
    assert_eq!(receive(&mut a, &ab, 5).await, (10..15).collect::<Vec<_>>());
    // And Alice still sends to Bob.
    send(&a, &ab, 0..3).await;
    assert_eq!(receive(&mut b, &ba, 3).await, vec![0, 1, 2]);
    a.agent.stop().await;
    b.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_of_a_redundant_connection_is_still_a_switch() {
    use simplex_agent::{QueueDirection, SwitchPhase};
    let (_servers, _proxies, addrs) = relays().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", redundant(addrs.clone(), 2)).await;
    let mut b = TestAgent::start(dir.path(), "bob", redundant(addrs.clone(), 2)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    a.agent.switch_connection(&ab).await.expect("switch");
    let (mut a_done, mut b_done) = (false, false);
    while !(a_done && b_done) {
        tokio::select! {
            e = a.next() => if let Event::Switch { direction, phase, .. } = e.event {
                a_done |= (direction, phase) == (QueueDirection::Rcv, SwitchPhase::Completed);
            },
            e = b.next() => if let Event::Switch { direction, phase, .. } = e.event {
                b_done |= (direction, phase) == (QueueDirection::Snd, SwitchPhase::Completed);
            },
        }
    }
    send(&b, &ba, 0..3).await;
    assert_eq!(receive(&mut a, &ab, 3).await, vec![0, 1, 2]);
    a.agent.stop().await;
    b.agent.stop().await;
}
