//! Private message routing with real relays: two in-process TLS relays A and B on
//! 127.0.0.1, Alice's agent with only A, Bob's with only B. What shows that a proxy was used
//! is the agent's own account of its transport sessions: the servers it holds a connection
//! to ([`Agent::connected_servers`](simplex_agent::Agent::connected_servers)) and its proxied
//! sessions ([`Agent::proxied_relays`](simplex_agent::Agent::proxied_relays)). Connections
//! stay open once made, so a sender that never shows a connection to the other relay never
//! made one.

mod common;

use common::*;
use simplex_agent::{
    AgentConfig, Event, MsgIntegrity, MsgReceipt, MsgReceiptStatus, SmpProxyFallback, SmpProxyMode,
};
use smp_proto::address::TransportHost;
use smp_proto::version::{Version, VersionRange};
use smp_proto::SmpServer;

fn proxied(servers: Vec<SmpServer>, mode: SmpProxyMode, fallback: SmpProxyFallback) -> AgentConfig {
    let mut c = config(servers);
    c.smp_proxy_mode = mode;
    c.smp_proxy_fallback = fallback;
    c
}

fn is_up_down(e: &Event) -> bool {
    matches!(e, Event::Up(..) | Event::Down(..))
}

/// [`exchange`], letting `UP`/`DOWN` pass (a relay restarted before).
async fn exchange_skipping(
    s: &mut TestAgent,
    s_conn: &[u8],
    r: &mut TestAgent,
    r_conn: &[u8],
    body: &[u8],
) {
    let id = s.agent.send_message(s_conn, body).await.expect("send");
    deliver(s, s_conn, id, r, r_conn, body).await;
}

/// The receiving half of [`exchange_skipping`]: `r` gets message `id` and sends a receipt,
/// `s` gets `SENT` and `RCVD`.
async fn deliver(
    s: &mut TestAgent,
    s_conn: &[u8],
    id: i64,
    r: &mut TestAgent,
    r_conn: &[u8],
    body: &[u8],
) {
    let msg = r.next_skip(is_up_down).await;
    assert_eq!(msg.conn_id, r_conn);
    let Event::Msg { meta, body: got } = msg.event else {
        panic!("expected MSG, got {msg:?}");
    };
    assert_eq!(got, body);
    assert_eq!(meta.integrity, MsgIntegrity::Ok);
    r.agent
        .ack_message(r_conn, meta.msg_id, Some(b""))
        .await
        .expect("ack");
    let mut sent = false;
    let mut rcvd = false;
    while !(sent && rcvd) {
        let e = s.next_skip(is_up_down).await;
        assert_eq!(e.conn_id, s_conn, "{e:?}");
        match e.event {
            Event::Sent(m) if m == id => sent = true,
            Event::Rcvd { meta, receipts } => {
                assert_eq!(
                    receipts,
                    vec![MsgReceipt {
                        msg_id: id,
                        status: MsgReceiptStatus::Ok
                    }]
                );
                s.agent
                    .ack_message(s_conn, meta.msg_id, None)
                    .await
                    .expect("ack the receipt");
                rcvd = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Checks that `agent` holds connections to `only` and proxied sessions `relays`.
async fn assert_sessions(agent: &TestAgent, only: &SmpServer, relays: &[(&SmpServer, &SmpServer)]) {
    assert_eq!(agent.agent.connected_servers().await, vec![only.clone()]);
    let want: Vec<(SmpServer, SmpServer)> = relays
        .iter()
        .map(|(p, r)| ((*p).clone(), (*r).clone()))
        .collect();
    assert_eq!(agent.agent.proxied_relays().await, want);
}

#[tokio::test]
async fn always_messages_flow_both_ways_through_proxies() {
    let a = TestServer::start(128).await.expect("relay A");
    let b = TestServer::start(128).await.expect("relay B");
    let dir = tempfile::tempdir().expect("tempdir");
    let (always, no) = (SmpProxyMode::Always, SmpProxyFallback::Prohibit);
    let mut alice = TestAgent::start(
        dir.path(),
        "alice",
        proxied(vec![a.address().clone()], always, no),
    )
    .await;
    let mut bob = TestAgent::start(
        dir.path(),
        "bob",
        proxied(vec![b.address().clone()], always, no),
    )
    .await;
    // The fast handshake: Bob's SKEY on Alice's queue and his confirmation go through B,
    // Alice's SKEY on Bob's reply queue through A.
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    for i in 0..3 {
        exchange(
            &mut alice,
            &a_id,
            &mut bob,
            &b_id,
            format!("to bob {i}").as_bytes(),
        )
        .await;
        exchange(
            &mut bob,
            &b_id,
            &mut alice,
            &a_id,
            format!("to alice {i}").as_bytes(),
        )
        .await;
    }
    // Neither sender ever connected to the other's relay; one proxied session each.
    assert_sessions(&alice, a.address(), &[(a.address(), b.address())]).await;
    assert_sessions(&bob, b.address(), &[(b.address(), a.address())]).await;
    alice.agent.stop().await;
    bob.agent.stop().await;
}

#[tokio::test]
async fn never_connects_directly() {
    let a = TestServer::start(128).await.expect("relay A");
    let b = TestServer::start(128).await.expect("relay B");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = TestAgent::start(dir.path(), "alice", config(vec![a.address().clone()])).await;
    let mut bob = TestAgent::start(dir.path(), "bob", config(vec![b.address().clone()])).await;
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"direct").await;
    // The default (never): the sender connects to the recipient's relay itself.
    let both = {
        let mut v = vec![a.address().clone(), b.address().clone()];
        v.sort_by_key(|s| s.to_string());
        v
    };
    assert_eq!(alice.agent.connected_servers().await, both);
    assert!(alice.agent.proxied_relays().await.is_empty());
    alice.agent.stop().await;
    bob.agent.stop().await;
}

/// `b`'s address with `localhost` as its host: the same relay, on a host no 127.0.0.1
/// address matches.
fn as_localhost(s: &SmpServer) -> SmpServer {
    SmpServer {
        hosts: vec![TransportHost::Domain("localhost".into())],
        ..s.clone()
    }
}

#[tokio::test]
async fn unknown_proxies_only_to_relays_on_unknown_hosts() {
    let a = TestServer::start(128).await.expect("relay A");
    let b = TestServer::start(128).await.expect("relay B");
    let c = TestServer::start(128).await.expect("relay C");
    let b_local = as_localhost(b.address());
    let dir = tempfile::tempdir().expect("tempdir");
    let (unknown, no) = (SmpProxyMode::Unknown, SmpProxyFallback::Prohibit);
    let mut alice = TestAgent::start(
        dir.path(),
        "alice",
        proxied(vec![a.address().clone()], unknown, no),
    )
    .await;
    let mut bob = TestAgent::start(
        dir.path(),
        "bob",
        proxied(vec![b_local.clone()], unknown, no),
    )
    .await;
    let mut carol = TestAgent::start(
        dir.path(),
        "carol",
        proxied(vec![c.address().clone()], unknown, no),
    )
    .await;
    // Bob's relay is on a host none of Alice's servers has, and hers on none of his: both
    // send through their own relay.
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"to bob").await;
    exchange(&mut bob, &b_id, &mut alice, &a_id, b"to alice").await;
    assert_sessions(&alice, a.address(), &[(a.address(), &b_local)]).await;
    assert_sessions(&bob, &b_local, &[(&b_local, a.address())]).await;
    // Carol's relay C is on 127.0.0.1 as Alice's: known by host (ports and identities are
    // not compared, as in the reference), so Alice and Carol send directly.
    let (a2, c_id) = connect(&mut alice, &mut carol).await;
    exchange(&mut alice, &a2, &mut carol, &c_id, b"to carol").await;
    let mut want = vec![a.address().clone(), c.address().clone()];
    want.sort_by_key(|s| s.to_string());
    assert_eq!(alice.agent.connected_servers().await, want);
    assert_eq!(
        alice.agent.proxied_relays().await,
        vec![(a.address().clone(), b_local.clone())]
    );
    alice.agent.stop().await;
    bob.agent.stop().await;
    carol.agent.stop().await;
}

/// Alice's proxy (her own relay A) goes down while Bob's relay B stays up: her message to
/// Bob waits and goes through A once it is back. With either fallback setting: as in the
/// reference, an unreachable proxy is not a reason to connect directly (only a proxy or
/// relay that cannot serve the command is).
async fn proxy_down_then_back(fallback: SmpProxyFallback) {
    let sdir = tempfile::tempdir().expect("tempdir");
    let mut a = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("relay A");
    let b = TestServer::start(128).await.expect("relay B");
    let dir = tempfile::tempdir().expect("tempdir");
    let always = SmpProxyMode::Always;
    let mut alice = TestAgent::start(
        dir.path(),
        "alice",
        proxied(vec![a.address().clone()], always, fallback),
    )
    .await;
    let mut bob = TestAgent::start(
        dir.path(),
        "bob",
        proxied(vec![b.address().clone()], always, fallback),
    )
    .await;
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"before").await;

    a.down().await.expect("relay A down");
    let down = alice.next().await;
    assert!(
        matches!(&down.event, Event::Down(s, c) if s == a.address() && c == &vec![a_id.clone()]),
        "{down:?}"
    );
    let id = alice
        .agent
        .send_message(&a_id, b"while the proxy is down")
        .await
        .expect("send is stored");
    a.up().await.expect("relay A up");
    deliver(
        &mut alice,
        &a_id,
        id,
        &mut bob,
        &b_id,
        b"while the proxy is down",
    )
    .await;
    exchange_skipping(&mut bob, &b_id, &mut alice, &a_id, b"and back").await;
    // No direct connection to B was ever made; the proxied session is a new one over the
    // new connection to A.
    assert_sessions(&alice, a.address(), &[(a.address(), b.address())]).await;
    alice.agent.stop().await;
    bob.agent.stop().await;
    a.down().await.expect("relay A down");
}

#[tokio::test]
async fn proxy_down_prohibit_waits_for_the_proxy() {
    proxy_down_then_back(SmpProxyFallback::Prohibit).await;
}

#[tokio::test]
async fn proxy_down_allow_waits_for_the_proxy_too() {
    proxy_down_then_back(SmpProxyFallback::Allow).await;
}

/// Alice's agent speaks SMP up to v7 only, below private routing (v8): her proxy cannot
/// serve her (`TRANSPORT VERSION`, a host error). With fallback `yes` her messages go
/// directly to Bob's relay.
#[tokio::test]
async fn proxy_without_routing_allow_goes_directly() {
    let a = TestServer::start(128).await.expect("relay A");
    let b = TestServer::start(128).await.expect("relay B");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ac = proxied(
        vec![a.address().clone()],
        SmpProxyMode::Always,
        SmpProxyFallback::Allow,
    );
    ac.client.transport.versions = VersionRange {
        min: Version(6),
        max: Version(7),
    };
    // SKEY needs v9: the standard handshake on both sides.
    ac.sender_can_secure = false;
    let mut bc = proxied(
        vec![b.address().clone()],
        SmpProxyMode::Always,
        SmpProxyFallback::Prohibit,
    );
    bc.sender_can_secure = false;
    let mut alice = TestAgent::start(dir.path(), "alice", ac).await;
    let mut bob = TestAgent::start(dir.path(), "bob", bc).await;
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"to bob, directly").await;
    exchange(&mut bob, &b_id, &mut alice, &a_id, b"to alice, proxied").await;
    let mut both = vec![a.address().clone(), b.address().clone()];
    both.sort_by_key(|s| s.to_string());
    assert_eq!(alice.agent.connected_servers().await, both);
    assert!(alice.agent.proxied_relays().await.is_empty());
    // Bob's side is unaffected: through his relay B to A.
    assert_sessions(&bob, b.address(), &[(b.address(), a.address())]).await;
    alice.agent.stop().await;
    bob.agent.stop().await;
}

/// As above with fallback `no`: Alice's confirmation waits (`MWARN`, no connection to B);
/// after a restart with fallback `yes` it goes directly and the connection completes.
#[tokio::test]
async fn proxy_without_routing_prohibit_waits_with_mwarn() {
    let a = TestServer::start(128).await.expect("relay A");
    let b = TestServer::start(128).await.expect("relay B");
    let dir = tempfile::tempdir().expect("tempdir");
    let alice_config = |fallback| {
        let mut c = proxied(vec![a.address().clone()], SmpProxyMode::Always, fallback);
        c.client.transport.versions = VersionRange {
            min: Version(6),
            max: Version(7),
        };
        c.sender_can_secure = false;
        c
    };
    let mut bc = proxied(
        vec![b.address().clone()],
        SmpProxyMode::Always,
        SmpProxyFallback::Prohibit,
    );
    bc.sender_can_secure = false;
    let mut alice = TestAgent::start(
        dir.path(),
        "alice",
        alice_config(SmpProxyFallback::Prohibit),
    )
    .await;
    let mut bob = TestAgent::start(dir.path(), "bob", bc).await;
    let (a_id, link) = alice.agent.create_connection().await.expect("create");
    let b_id = bob
        .agent
        .join_connection(&link, b"bob's info")
        .await
        .expect("join");
    let conf = alice.next().await;
    let Event::Conf { conf_id, .. } = conf.event else {
        panic!("expected CONF, got {conf:?}");
    };
    alice
        .agent
        .allow_connection(&conf_id, b"alice's info")
        .await
        .expect("allow");
    let warn = alice.next().await;
    assert_eq!(warn.conn_id, a_id);
    assert!(matches!(warn.event, Event::Mwarn(..)), "{warn:?}");
    assert_eq!(
        alice.agent.connected_servers().await,
        vec![a.address().clone()]
    );
    assert!(alice.agent.proxied_relays().await.is_empty());
    alice.agent.stop().await;
    drop(alice);

    let mut alice =
        TestAgent::start(dir.path(), "alice", alice_config(SmpProxyFallback::Allow)).await;
    let info = bob.next().await;
    assert_eq!(
        (info.conn_id, info.event),
        (b_id.clone(), Event::Info(b"alice's info".to_vec()))
    );
    let con = bob.next().await;
    assert_eq!((con.conn_id, con.event), (b_id.clone(), Event::Con));
    let con = alice.next().await;
    assert_eq!((con.conn_id, con.event), (a_id.clone(), Event::Con));
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"directly after all").await;
    assert!(alice.agent.connected_servers().await.contains(b.address()));
    alice.agent.stop().await;
    bob.agent.stop().await;
}

/// Bob's relay B (the destination of Alice's messages) restarts: Alice's proxy A lost its
/// connection to B, so her proxied session is gone there (`ERR PROXY NO_SESSION`, or a
/// network error while B is down); her messages still go through A once B is back.
#[tokio::test]
async fn destination_restart_proxied_session_made_again() {
    let sdir = tempfile::tempdir().expect("tempdir");
    let a = TestServer::start(128).await.expect("relay A");
    let mut b = PersistentServer::start(sdir.path(), 128)
        .await
        .expect("relay B");
    let dir = tempfile::tempdir().expect("tempdir");
    let (always, no) = (SmpProxyMode::Always, SmpProxyFallback::Prohibit);
    let mut alice = TestAgent::start(
        dir.path(),
        "alice",
        proxied(vec![a.address().clone()], always, no),
    )
    .await;
    let mut bob = TestAgent::start(
        dir.path(),
        "bob",
        proxied(vec![b.address().clone()], always, no),
    )
    .await;
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"before").await;
    b.down().await.expect("relay B down");
    let down = bob.next().await;
    assert!(matches!(down.event, Event::Down(..)), "{down:?}");
    b.up().await.expect("relay B up");
    let up = bob.next().await;
    assert!(matches!(up.event, Event::Up(..)), "{up:?}");
    for i in 0..2 {
        exchange_skipping(
            &mut alice,
            &a_id,
            &mut bob,
            &b_id,
            format!("after {i}").as_bytes(),
        )
        .await;
        exchange_skipping(
            &mut bob,
            &b_id,
            &mut alice,
            &a_id,
            format!("back {i}").as_bytes(),
        )
        .await;
    }
    assert_sessions(&alice, a.address(), &[(a.address(), b.address())]).await;
    alice.agent.stop().await;
    bob.agent.stop().await;
    b.down().await.expect("relay B down");
}

/// One relay for both, mode `always`: the only server to proxy through is the destination
/// itself (the reference picks it too when no other is configured); it proxies to itself.
#[tokio::test]
async fn always_with_one_relay_proxies_through_itself() {
    let s = TestServer::start(128).await.expect("relay");
    let dir = tempfile::tempdir().expect("tempdir");
    let (always, no) = (SmpProxyMode::Always, SmpProxyFallback::Prohibit);
    let mut alice = TestAgent::start(
        dir.path(),
        "alice",
        proxied(vec![s.address().clone()], always, no),
    )
    .await;
    let mut bob = TestAgent::start(
        dir.path(),
        "bob",
        proxied(vec![s.address().clone()], always, no),
    )
    .await;
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"to bob").await;
    exchange(&mut bob, &b_id, &mut alice, &a_id, b"to alice").await;
    assert_sessions(&alice, s.address(), &[(s.address(), s.address())]).await;
    alice.agent.stop().await;
    bob.agent.stop().await;
}

/// The proxy is chosen among the sender's servers on hosts the destination does not use
/// (the reference's `getNextServer`): of A (127.0.0.1) and A2 (localhost), A2 for Bob's B
/// on 127.0.0.1, every time.
#[tokio::test]
async fn proxy_chosen_on_another_host() {
    let a = TestServer::start(128).await.expect("relay A");
    let a2 = TestServer::start(128).await.expect("relay A2");
    let b = TestServer::start(128).await.expect("relay B");
    let a2_local = as_localhost(a2.address());
    let dir = tempfile::tempdir().expect("tempdir");
    let (always, no) = (SmpProxyMode::Always, SmpProxyFallback::Prohibit);
    let mut alice = TestAgent::start(
        dir.path(),
        "alice",
        proxied(vec![a.address().clone(), a2_local.clone()], always, no),
    )
    .await;
    let mut bob = TestAgent::start(
        dir.path(),
        "bob",
        proxied(vec![b.address().clone()], always, no),
    )
    .await;
    for i in 0..3 {
        let (a_id, b_id) = connect(&mut alice, &mut bob).await;
        exchange(
            &mut alice,
            &a_id,
            &mut bob,
            &b_id,
            format!("to bob {i}").as_bytes(),
        )
        .await;
    }
    assert_eq!(
        alice.agent.proxied_relays().await,
        vec![(a2_local.clone(), b.address().clone())]
    );
    assert!(!alice.agent.connected_servers().await.contains(b.address()));
    alice.agent.stop().await;
    bob.agent.stop().await;
}

#[tokio::test]
async fn a_password_protected_relay_needs_its_password_for_queues_and_as_proxy() {
    use smp_proto::address::{BasicAuth, SmpServerWithAuth};
    use smp_server::core::CoreConfig;
    use smp_server::msg_store::MsgStore;
    let a = TestServer::start_with(
        CoreConfig {
            create_password: Some(b"open-sesame".to_vec()),
            ..CoreConfig::default()
        },
        MsgStore::new(128),
        smp_server::testing::DEFAULT_MAX_CONNECTIONS,
    )
    .await
    .expect("relay A with a password");
    let b = TestServer::start(128).await.expect("relay B");
    let dir = tempfile::tempdir().expect("tempdir");
    let (always, no) = (SmpProxyMode::Always, SmpProxyFallback::Prohibit);
    let with_password = SmpServerWithAuth {
        server: a.address().clone(),
        auth: Some(BasicAuth::new(b"open-sesame").expect("password")),
    };
    // Without the password Alice cannot make a queue on A.
    let nopass = TestAgent::start(
        dir.path(),
        "carol",
        proxied(vec![a.address().clone()], always, no),
    )
    .await;
    assert!(
        nopass.agent.create_connection().await.is_err(),
        "NEW without the password is refused"
    );
    // With it: her queues are on A, and A proxies her messages to Bob's relay B.
    let mut cfg = AgentConfig::with_auth(vec![with_password]);
    cfg.smp_proxy_mode = always;
    cfg.smp_proxy_fallback = no;
    let mut alice = TestAgent::start(dir.path(), "alice", cfg).await;
    let mut bob = TestAgent::start(
        dir.path(),
        "bob",
        proxied(vec![b.address().clone()], SmpProxyMode::Never, no),
    )
    .await;
    let (a_id, b_id) = connect(&mut alice, &mut bob).await;
    exchange(&mut alice, &a_id, &mut bob, &b_id, b"through A").await;
    exchange(&mut bob, &b_id, &mut alice, &a_id, b"to A").await;
    assert_sessions(&alice, a.address(), &[(a.address(), b.address())]).await;
}
