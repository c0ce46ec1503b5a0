//! Every relay connection through a SOCKS5 proxy (`AgentConfig::socks_proxy`, the chat's
//! `-x` / `--socks-proxy`): relays named by host name reach the proxy as names (no local
//! look-up), messages flow, usernames isolate sessions as the isolation mode says, and a
//! proxy that is down gives a clear error.

mod common;

use std::collections::HashSet;

use common::*;
use simplex_agent::{AgentConfig, TransportIsolation};
use simplex_transport::socks::{SocksAuth, SocksProxy};
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
    let iso = TransportIsolation::Server;
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
    let iso = TransportIsolation::Connection;
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
