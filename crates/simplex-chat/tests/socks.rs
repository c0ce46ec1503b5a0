//! The chat through a SOCKS5 proxy (`--socks-proxy`, as `-x` with Tor's port): two
//! clients whose relay is named `localhost` connect and talk, every connection to the
//! relay goes through the proxy with the name unresolved, and a proxy that is down leaves a
//! clear error.
//!
//! The relay is this test executable started again as a child process (see `e2e.rs`).

mod common;

use common::*;
use test_support::socks::SocksServer;

/// Not a test of its own: the relay child process.
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

#[test]
fn two_clients_through_a_socks_proxy_send_the_relay_name_unresolved() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = rt.block_on(SocksServer::start()).expect("socks server");
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.replace("127.0.0.1", "localhost");
    let socks = proxy.addr().to_string();
    let args = ["--socks-proxy", socks.as_str()];
    let mut alice = new_user_with("alice", &prefix(dir.path(), "alice"), Some(&srv), &args);
    let mut bob = new_user_with("bob", &prefix(dir.path(), "bob"), Some(&srv), &args);
    alice.send("/c");
    let link = alice.wait_for("the short link", |l| l.starts_with("https://localhost/i#"));
    bob.send(&format!("/c {link}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    alice.send("@bob through the proxy");
    bob.expect_item("alice> through the proxy");
    let reqs = proxy.requests();
    assert!(
        reqs.len() >= 2,
        "both clients connected through it: {reqs:?}"
    );
    for r in &reqs {
        assert!(r.by_name && r.host == "localhost", "{r:?}");
        assert_eq!(r.port, relay.port);
        assert!(r.username.is_some(), "isolated by username: {r:?}");
    }
    alice.quit();
    bob.quit();
}

/// `--privacy maximum` with the proxy named: everything through it, a username per
/// connection (entity isolation), cover messages that neither user sees, and `/privacy`
/// says what is set and by which option.
#[test]
fn maximum_privacy_goes_through_the_proxy_with_noise_unseen() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = rt.block_on(SocksServer::start()).expect("socks server");
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.replace("127.0.0.1", "localhost");
    let socks = proxy.addr().to_string();
    let args = [
        "--privacy",
        "maximum",
        "--socks-proxy",
        socks.as_str(),
        "--noise",
        "0.1",
        "--send-delay",
        "0.2",
    ];
    let mut alice = new_user_with("alice", &prefix(dir.path(), "alice"), Some(&srv), &args);
    let mut bob = new_user_with("bob", &prefix(dir.path(), "bob"), Some(&srv), &args);
    alice.send("/privacy");
    alice.expect("privacy: maximum");
    alice.expect("  private routing: always");
    alice.expect("  transport isolation: entity");
    alice.expect(&format!("  SOCKS proxy: {socks} (set by --socks-proxy)"));
    alice.expect("  noise traffic: 1 message per 0.1 s on average (set by --noise)");
    alice.send("/c");
    let link = alice.wait_for("the short link", |l| l.starts_with("https://localhost/i#"));
    bob.send(&format!("/c {link}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    // Cover messages flow both ways meanwhile; only the real ones are shown.
    for i in 0..3 {
        alice.send(&format!("@bob real {i}"));
        bob.expect_item(&format!("alice> real {i}"));
        bob.send(&format!("@alice answer {i}"));
        alice.expect_item(&format!("bob> answer {i}"));
    }
    let reqs = proxy.requests();
    assert!(
        reqs.iter().all(|r| r.by_name && r.host == "localhost"),
        "{reqs:?}"
    );
    let names: std::collections::HashSet<_> = reqs.iter().map(|r| r.username.clone()).collect();
    assert!(names.len() >= 2, "a username per connection: {names:?}");
    alice.quit();
    bob.quit();
}
