//! Every relay connection through a SOCKS5 proxy (`AgentConfig::socks_proxy`, the chat's
//! `-x` / `--socks-proxy`): relays named by host name reach the proxy as names (no local
//! look-up), messages flow, usernames isolate sessions as the isolation mode says (the
//! reference's `user`, `session`, `server`, `entity`), a relay's onion host is used as the
//! host mode says, and a proxy that is down gives a clear error.

mod common;

use std::collections::HashSet;

use common::*;
use simplex_agent::{AgentConfig, AgentError, TransportIsolation};
use simplex_transport::socks::{SocksAuth, SocksProxy};
use smp_client::hosts::{HostMode, SocksMode};
use smp_proto::SmpServer;
use test_support::socks::SocksServer;

/// The relay's address with the host name `localhost` instead of its IP address.
fn by_name(s: &TestServer) -> SmpServer {
    let text = s.address().to_string().replace("127.0.0.1", "localhost");
    SmpServer::parse_str(text.as_bytes()).expect("address")
}

fn through(proxy: &SocksServer, servers: Vec<SmpServer>, iso: TransportIsolation) -> AgentConfig {
    let mut c = config(servers);
    c.isolation = iso;
    c.socks_proxy = Some(SocksProxy {
        addr: proxy.addr(),
        auth: SocksAuth::IsolateByAuth,
    });
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_relay_connection_goes_through_the_proxy_by_name() {
    let s1 = TestServer::start(100).await.expect("server");
    let s2 = TestServer::start(100).await.expect("server");
    let proxy = SocksServer::start().await.expect("socks");
    let dir = tempfile::tempdir().expect("tempdir");
    let servers = vec![by_name(&s1), by_name(&s2)];
    let iso = TransportIsolation::User;
    let mut a = TestAgent::start(dir.path(), "alice", through(&proxy, servers.clone(), iso)).await;
    let mut b = TestAgent::start(dir.path(), "bob", through(&proxy, servers, iso)).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"hi through the proxy").await;
    exchange(&mut b, &ba, &mut a, &ab, b"and back").await;
    let reqs = proxy.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    let ports: HashSet<u16> = [s1.port(), s2.port()].into();
    for r in &reqs {
        assert!(r.by_name && r.host == "localhost", "sent as a name: {r:?}");
        assert!(ports.contains(&r.port), "{r:?}");
    }
    // One username for every session (the reference's TSMUser), sent with each.
    let names: HashSet<_> = reqs.iter().map(|r| r.username.clone()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names.iter().all(Option::is_some));
    a.agent.stop().await;
    b.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_isolation_gives_each_connection_its_own_username() {
    let s1 = TestServer::start(100).await.expect("server");
    let proxy = SocksServer::start().await.expect("socks");
    let dir = tempfile::tempdir().expect("tempdir");
    let iso = TransportIsolation::Entity;
    let cfg = || through(&proxy, vec![by_name(&s1)], iso);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    let (ac, ca) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"one").await;
    exchange(&mut a, &ac, &mut b, &ca, b"two").await;
    let names: HashSet<_> = proxy.requests().into_iter().map(|r| r.username).collect();
    // Four connections' ends (two per agent), each its own session and username.
    assert!(names.len() >= 4, "{names:?}");
    a.agent.stop().await;
    b.agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_is_down_is_named_in_the_error() {
    let s1 = TestServer::start(100).await.expect("server");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(vec![by_name(&s1)]);
    c.socks_proxy = Some(SocksProxy {
        addr: closed,
        auth: SocksAuth::IsolateByAuth,
    });
    let a = TestAgent::start(dir.path(), "alice", c).await;
    let e = a.agent.create_connection().await.expect_err("no proxy");
    let text = e.to_string();
    assert!(
        text.contains(&format!("SOCKS proxy {closed} cannot be reached")),
        "{text}"
    );
    a.agent.stop().await;
}

/// The usernames the proxy saw, as a set.
fn usernames(proxy: &SocksServer) -> HashSet<Option<String>> {
    proxy.requests().into_iter().map(|r| r.username).collect()
}

/// `session` (the default): one username for every relay in one run of the agent, another
/// in the next run; `user`: the same across runs; `server`: one per relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_user_and_server_isolation_usernames() {
    let s1 = TestServer::start(100).await.expect("server");
    let s2 = TestServer::start(100).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let servers = vec![by_name(&s1), by_name(&s2)];
    // Two runs of one agent in each mode; each run makes a queue on both relays.
    let mut per_run = Vec::new();
    for iso in [
        TransportIsolation::Session,
        TransportIsolation::User,
        TransportIsolation::Server,
    ] {
        let mut runs = Vec::new();
        for run in 0..2 {
            let proxy = SocksServer::start().await.expect("socks");
            let cfg = through(&proxy, servers.clone(), iso);
            let name = format!("{iso}-{run}");
            let a = TestAgent::start(dir.path(), &name, cfg).await;
            // Queues are made on a relay chosen at random: make enough to touch both.
            let mut ports = HashSet::new();
            for _ in 0..40 {
                a.agent.create_connection().await.expect("invitation");
                ports = proxy.requests().iter().map(|r| r.port).collect();
                if ports.len() == 2 {
                    break;
                }
            }
            assert_eq!(ports.len(), 2, "both relays used");
            runs.push(usernames(&proxy));
            a.agent.stop().await;
        }
        per_run.push((iso, runs));
    }
    for (iso, runs) in &per_run {
        let per_relay = if *iso == TransportIsolation::Server {
            2
        } else {
            1
        };
        for r in runs {
            assert_eq!(r.len(), per_relay, "{iso}: {r:?}");
            assert!(r.iter().all(Option::is_some), "{iso}: {r:?}");
        }
        let same_across_runs = runs[0] == runs[1];
        assert_eq!(same_across_runs, *iso == TransportIsolation::User, "{iso}");
    }
    // The modes never share a username with each other within a run's relay sessions.
    assert_ne!(per_run[0].1[0], per_run[1].1[0]);
}

/// A relay with a public host (`localhost`) and an onion host, which the test proxy maps
/// to the relay as Tor would.
fn with_onion(s: &TestServer, proxy: &SocksServer) -> SmpServer {
    let onion = "abcdefghij234567abcdefghij234567abcdefghij234567abcdefgh.onion";
    proxy.map_host(onion, ([127, 0, 0, 1], s.port()).into());
    let text = s
        .address()
        .to_string()
        .replace("127.0.0.1", &format!("localhost,{onion}"));
    SmpServer::parse_str(text.as_bytes()).expect("address")
}

/// With a SOCKS proxy the onion host is preferred (the default `onion` host mode) and
/// messages flow through it; `--host-mode public` uses the public host; with SOCKS mode
/// `onion` the public host is reached directly, not through the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_modes_choose_the_onion_or_the_public_host() {
    let s1 = TestServer::start(100).await.expect("server");
    let dir = tempfile::tempdir().expect("tempdir");

    let proxy = SocksServer::start().await.expect("socks");
    let server = with_onion(&s1, &proxy);
    let cfg = || through(&proxy, vec![server.clone()], TransportIsolation::Session);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"over the onion host").await;
    let reqs = proxy.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter().all(|r| r.host.ends_with(".onion") && r.by_name),
        "{reqs:?}"
    );
    a.agent.stop().await;
    b.agent.stop().await;

    let proxy = SocksServer::start().await.expect("socks");
    let server = with_onion(&s1, &proxy);
    let mut c = through(&proxy, vec![server.clone()], TransportIsolation::Session);
    c.host_mode = HostMode::Public;
    let a = TestAgent::start(dir.path(), "carol", c).await;
    a.agent.create_connection().await.expect("invitation");
    let reqs = proxy.requests();
    assert!(
        !reqs.is_empty() && reqs.iter().all(|r| r.host == "localhost"),
        "{reqs:?}"
    );
    a.agent.stop().await;

    let proxy = SocksServer::start().await.expect("socks");
    let server = with_onion(&s1, &proxy);
    let mut c = through(&proxy, vec![server], TransportIsolation::Session);
    c.host_mode = HostMode::Public;
    c.socks_mode = SocksMode::Onion;
    let a = TestAgent::start(dir.path(), "dave", c).await;
    a.agent.create_connection().await.expect("invitation");
    assert_eq!(proxy.requests(), vec![], "the public host directly");
    a.agent.stop().await;
}

/// A required host mode refuses a relay that has no host of that kind, before anything is
/// sent; without a SOCKS proxy the default host mode prefers public hosts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_onion_host_refuses_a_relay_without_one() {
    let s1 = TestServer::start(100).await.expect("server");
    let proxy = SocksServer::start().await.expect("socks");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = through(&proxy, vec![by_name(&s1)], TransportIsolation::Session);
    c.required_host_mode = true;
    let a = TestAgent::start(dir.path(), "alice", c).await;
    let e = a
        .agent
        .create_connection()
        .await
        .expect_err("no onion host");
    assert!(matches!(e, AgentError::IncompatibleHost(_)), "{e:?}");
    assert_eq!(proxy.requests(), vec![], "nothing sent");
    a.agent.stop().await;

    // No proxy: the onion-via-SOCKS default takes the public host.
    let mut c = config(vec![by_name(&s1)]);
    c.required_host_mode = true;
    let a = TestAgent::start(dir.path(), "bob", c).await;
    a.agent.create_connection().await.expect("public host");
    a.agent.stop().await;
}

/// No DNS look-up here: a relay named with a name that cannot resolve (`.invalid`, RFC
/// 2606) is reached through the proxy, which alone knows where it is; without the proxy
/// the same address fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_names_are_resolved_by_the_proxy_only() {
    let s1 = TestServer::start(100).await.expect("server");
    let proxy = SocksServer::start().await.expect("socks");
    proxy.map_host("relay.invalid", ([127, 0, 0, 1], s1.port()).into());
    let text = s1
        .address()
        .to_string()
        .replace("127.0.0.1", "relay.invalid");
    let server = SmpServer::parse_str(text.as_bytes()).expect("address");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = || through(&proxy, vec![server.clone()], TransportIsolation::Session);
    let mut a = TestAgent::start(dir.path(), "alice", cfg()).await;
    let mut b = TestAgent::start(dir.path(), "bob", cfg()).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"no local DNS").await;
    assert!(proxy.requests().iter().all(|r| r.host == "relay.invalid"));
    a.agent.stop().await;
    b.agent.stop().await;

    let c = TestAgent::start(dir.path(), "carol", config(vec![server])).await;
    c.agent
        .create_connection()
        .await
        .expect_err("the name does not resolve here");
    c.agent.stop().await;
}
