//! Queue rotation end to end, as the reference's `testSwitchContact` and
//! `testAbortSwitchContact`: Alice has two relays and moves the queue she receives Bob's
//! messages on to the other one with `/switch bob`; both sides print the reference's lines,
//! keep the start and the end as items, and messages flow on. A switch started while Bob is
//! away can be aborted once (`switch aborted`; again, or a second `/switch`, is
//! `error: command is prohibited`); started again, it completes when Bob is back.
//!
//! The relays are this test executable started again as child processes (see `e2e.rs`).

mod common;

use common::*;

/// Not a test of its own: the relay child process.
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

fn connect(alice: &mut ChatProc, bob: &mut ChatProc) {
    alice.send("/c");
    // Bob joins with the full link (as a client without short links would).
    let (_, full) = read_invitation(alice);
    bob.send(&format!("/c {full}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
}

fn chat(alice: &mut ChatProc, bob: &mut ChatProc, n: &str) {
    alice.send(&format!("@bob a{n}"));
    bob.expect_item(&format!("alice> a{n}"));
    alice.expect_receipt(&format!("@bob a{n}"));
    bob.send(&format!("@alice b{n}"));
    alice.expect_item(&format!("bob> b{n}"));
    bob.expect_receipt(&format!("@alice b{n}"));
}

#[test]
fn switch_moves_the_queue_and_both_sides_are_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r1 = start_relay(&dir.path().join("relay1"));
    let r2 = start_relay(&dir.path().join("relay2"));
    // Bob's relay is the first; Alice creates her queues on either.
    let both = format!("{};{}", r1.address, r2.address);
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(&both), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(&r1.address), None);
    connect(&mut alice, &mut bob);
    chat(&mut alice, &mut bob, "1");

    alice.send("/switch bob");
    alice.expect("switch started");
    alice.expect_all(vec![
        exact("bob: you started changing address"),
        exact("bob: you changed address"),
    ]);
    bob.expect("alice started changing address for you");
    bob.expect("alice changed address for you");
    chat(&mut alice, &mut bob, "2");

    alice.send("/tail @bob 4");
    alice.expect_item("@bob started changing address...");
    alice.expect_item("@bob you changed address");
    bob.send("/tail @alice 4");
    bob.expect_item("alice> started changing address for you...");
    bob.expect_item("alice> changed address for you");
    // One queue each way again.
    alice.send("/i bob");
    alice.expect("contact ID: 1");
    alice.expect("receiving messages via: 127.0.0.1");
    alice.expect("sending messages via: 127.0.0.1");
    bob.quit();
    alice.quit();
}

#[test]
fn a_switch_is_aborted_once_and_started_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r1 = start_relay(&dir.path().join("relay1"));
    let r2 = start_relay(&dir.path().join("relay2"));
    let both = format!("{};{}", r1.address, r2.address);
    let bob_db = prefix(dir.path(), "bob");
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(&both), None);
    let mut bob = new_user("bob", &bob_db, Some(&r1.address), None);
    connect(&mut alice, &mut bob);
    bob.quit();

    alice.send("/switch bob");
    alice.expect("switch started");
    alice.expect("bob: you started changing address");
    alice.send("/i bob");
    alice.expect("contact ID: 1");
    alice.wait_for("the queue being switched", |l| {
        l.starts_with("receiving messages via: 127.0.0.1 (switch started, can be aborted)")
    });
    alice.send("/switch bob");
    alice.expect("error: command is prohibited");
    alice.send("/abort switch bob");
    alice.expect("switch aborted");
    alice.send("/abort switch bob");
    alice.expect("error: command is prohibited");

    let mut bob = ChatProc::start("bob", &bob_db, None, None);
    bob.expect("alice started changing address for you");
    alice.send("/switch bob");
    alice.expect("switch started");
    alice.expect_all(vec![
        exact("bob: you started changing address"),
        exact("bob: you changed address"),
    ]);
    bob.expect("alice started changing address for you");
    bob.expect("alice changed address for you");
    chat(&mut alice, &mut bob, "1");
    bob.quit();
    alice.quit();
}
