//! Two agents over real servers: invitation (fast and standard handshake), one and two
//! servers, messages both ways with receipts.

mod common;

use common::*;
use simplex_agent::TransportIsolation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_fast_handshake_one_server() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"hello bob").await;
    exchange(&mut b, &ba, &mut a, &ab, b"hello alice").await;
    exchange(&mut a, &ab, &mut b, &ba, b"how are you").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_standard_handshake_with_hello() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca = config(vec![srv.address().clone()]);
    ca.sender_can_secure = false;
    let mut cb = ca.clone();
    cb.isolation = TransportIsolation::Entity;
    let mut a = TestAgent::start(dir.path(), "alice", ca).await;
    let mut b = TestAgent::start(dir.path(), "bob", cb).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"one").await;
    exchange(&mut b, &ba, &mut a, &ab, b"two").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_over_two_servers() {
    let s1 = TestServer::start(128).await.expect("test server");
    let s2 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![s1.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![s2.address().clone()])).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    exchange(&mut a, &ab, &mut b, &ba, b"via two servers").await;
    exchange(&mut b, &ba, &mut a, &ab, b"and back").await;
    a.agent.stop().await;
    b.agent.stop().await;
    s1.stop().await.expect("server stopped");
    s2.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_with_post_quantum_ratchet() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(vec![srv.address().clone()]);
    c.pq_support = true;
    let mut a = TestAgent::start(dir.path(), "alice", c.clone()).await;
    let mut b = TestAgent::start(dir.path(), "bob", c).await;
    let (ab, ba) = connect(&mut a, &mut b).await;
    for i in 0..3 {
        exchange(&mut a, &ab, &mut b, &ba, format!("pq {i}").as_bytes()).await;
        exchange(&mut b, &ba, &mut a, &ab, format!("pq back {i}").as_bytes()).await;
    }
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}
