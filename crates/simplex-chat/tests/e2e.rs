//! End to end: a relay process and `simplex-chat` processes with their own databases, driven
//! over stdin/stdout as a person would: connect through `/c` and through `/ad` + `/ac`,
//! messages both ways with receipts, a restart with a message that waited for it, history
//! with delivery marks, late sends and failed deliveries, deleting a contact (who is told),
//! encrypted databases and a wrong passphrase.
//!
//! The relay is this test executable started again as a child process that runs the
//! `smp-server start` command line (the `relay_process` test below does that only when the
//! parent sets [`RELAY_ENV`]): a real server process, without depending on the build order
//! of another package's binary.

mod common;

use simplex_agent::sqlite::Locking;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use simplex_agent::Store;

/// Not a test of its own: the relay child process (see the module docs).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}
/// On a relay without short links (SMP v14) `/c` and `/ad` print the full links as before
/// (no "old clients" line), and they work.
#[test]
fn a_relay_without_short_links_gets_full_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay_up_to(&dir.path().join("relay"), 14);
    let srv = relay.address.as_str();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(srv), None);
    alice.send("/c");
    alice.expect("pass this invitation link to your contact (via another channel):");
    alice.expect("");
    let link = read_link(
        &mut alice,
        "https://simplex.chat/invitation#/?",
        "and ask them to connect: /c <invitation_link_above>",
    );
    bob.send(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    alice.send("@bob over v14");
    bob.expect_item("alice> over v14");
    alice.send("/ad");
    alice.expect("Your new chat address is created!");
    alice.expect("");
    read_link(
        &mut alice,
        "https://simplex.chat/contact#/?",
        "to delete it: /da (accepted contacts will remain connected)",
    );
    alice.send("/contacts");
    alice.expect("bob");
    assert!(
        !alice.seen.iter().any(|l| l.contains("for old clients")),
        "no short link, no line for old clients: {:?}",
        alice.text_seen()
    );
}

/// The profile in the address's short link data, read as another client would (an agent in
/// this process, `LGET` and the link data's checks).
fn address_link_profile(relay: &str, short: &str) -> serde_json::Value {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let server = smp_proto::address::SmpServerWithAuth::parse_str(relay.as_bytes())
            .expect("relay address");
        let config = simplex_agent::AgentConfig::with_auth(vec![server]);
        let (agent, _events) =
            simplex_agent::Agent::start(config, Box::new(simplex_agent::MemoryStore::new()))
                .await
                .expect("agent");
        let data = agent.get_short_link_data(short).await.expect("link data");
        agent.stop().await;
        let v: serde_json::Value = serde_json::from_slice(&data.user_data).expect("JSON");
        v
    })
}

/// The address's short link carries the owner's profile (`ContactShortLinkData`), and a
/// profile change replaces it there (`LSET`).
#[test]
fn the_address_link_data_follows_the_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(srv), None);
    alice.send("/ad");
    let (short, _) = read_address(&mut alice, "Your new chat address is created!");
    let v = address_link_profile(srv, &short);
    assert_eq!(v["profile"]["displayName"], "alice", "{v}");
    assert_eq!(v["business"], false, "{v}");
    alice.send("/p alicia");
    alice.expect("user profile is changed to alicia (your 0 contacts are notified)");
    let v = address_link_profile(srv, &short);
    assert_eq!(v["profile"]["displayName"], "alicia", "{v}");
}

#[test]
fn connect_by_invitation_chat_both_ways_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let alice_db = prefix(dir.path(), "alice");
    let bob_db = prefix(dir.path(), "bob");

    let mut alice = ChatProc::start("alice", &alice_db, Some(srv), None);
    alice.wait_for("the plain database notice", |l| {
        l.starts_with("the databases are not encrypted")
    });
    alice.wait_for("the prompt", |l| {
        l == "It is only stored on your device and you can change it later."
    });
    alice.send("alice");
    alice.wait_for("Current user", |l| l.ends_with("Current user: alice"));
    let mut bob = new_user("bob", &bob_db, Some(srv), Some("bob's secret"));
    assert!(
        !bob.seen.iter().any(|l| l.contains("not encrypted")),
        "no plain database notice with a passphrase: {:?}",
        bob.seen
    );

    alice.send("/c");
    let (link, _) = read_invitation(&mut alice);
    assert!(link.len() < 200, "a short link: {link}");
    bob.send(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    // New contacts are post-quantum by default, on both sides.
    expect_pq_info(&mut alice, "bob", 1);
    expect_pq_info(&mut bob, "alice", 1);

    alice.send("@bob hello bob");
    alice.expect_item("@bob hello bob");
    bob.expect_item("alice> hello bob");
    alice.expect_receipt("@bob hello bob");
    bob.send("@alice hi alice");
    bob.expect_item("@alice hi alice");
    alice.expect_item("bob> hi alice");
    bob.expect_receipt("@alice hi alice");
    // A line without a command continues the last chat.
    bob.send("and more");
    bob.expect_item("@alice and more");
    alice.expect_item("bob> and more");
    bob.expect_receipt("@alice and more");

    // Bob goes away; a message sent meanwhile arrives when he is back (the server and the
    // passphrase come from his saved settings and the environment).
    bob.quit();
    alice.send("@bob while you were away");
    alice.expect_item("@bob while you were away");
    let mut bob = ChatProc::start("bob", &bob_db, None, Some("bob's secret"));
    bob.expect_item("alice> while you were away");
    alice.expect_receipt("@bob while you were away");
    bob.send("@alice back");
    alice.expect_item("bob> back");
    bob.expect_receipt("@alice back");

    bob.send("/contacts");
    bob.expect("alice");
    // History marks sent items with their delivery status; received ones are unmarked.
    bob.send("/tail @alice 4");
    bob.expect_marked("⩗", "@alice hi alice");
    bob.expect_marked("⩗", "@alice and more");
    bob.expect_item("alice> while you were away");
    bob.expect_marked("⩗", "@alice back");
    bob.quit();

    // A wrong passphrase is a clear error, and so is none for an encrypted database.
    for key in [Some("wrong"), None] {
        let out = chat_command(&bob_db, None, key)
            .stdin(Stdio::null())
            .output()
            .expect("run simplex-chat");
        assert!(!out.status.success(), "a wrong passphrase fails");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("wrong passphrase or invalid database file"),
            "stderr: {err}"
        );
    }
    let chat_db = std::fs::read(PathBuf::from(format!("{}_chat.db", bob_db.display())))
        .expect("bob's chat database");
    assert!(!chat_db.starts_with(b"SQLite format 3"), "encrypted");
    let agent_db = std::fs::read(PathBuf::from(format!("{}_agent.db", bob_db.display())))
        .expect("bob's agent database");
    assert!(!agent_db.starts_with(b"SQLite format 3"), "encrypted");
    alice.quit();
    let alice_chat = std::fs::read(PathBuf::from(format!("{}_chat.db", alice_db.display())))
        .expect("alice's chat database");
    assert!(
        alice_chat.starts_with(b"SQLite format 3"),
        "plain without a key"
    );
    let alice_agent = std::fs::read(PathBuf::from(format!("{}_agent.db", alice_db.display())))
        .expect("alice's agent database");
    assert!(
        alice_agent.starts_with(b"SQLite format 3"),
        "plain without a key"
    );
}

#[test]
fn connect_through_an_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let alice_db = prefix(dir.path(), "alice");
    let mut alice = new_user("alice", &alice_db, Some(srv), None);
    let bob_db = prefix(dir.path(), "bob");
    let mut bob = new_user("bob", &bob_db, Some(srv), None);

    alice.send("/sa");
    alice.expect("no chat address, to create: /ad");
    alice.send("/ad");
    let (address, full_address) = read_address(&mut alice, "Your new chat address is created!");
    bob.send(&format!("/c {address}"));
    bob.expect("connection request sent!");
    alice.expect("bob wants to connect to you!");
    alice.expect("to accept: /ac bob");
    alice.expect("to reject: /rc bob (the sender will NOT be notified)");
    // A request to reject first.
    let mut carol = new_user("carol", &prefix(dir.path(), "carol"), Some(srv), None);
    // Carol uses the full link (as a client without short links would).
    carol.send(&format!("/c {full_address}"));
    carol.expect("connection request sent!");
    alice.expect("carol wants to connect to you!");
    alice.expect("to accept: /ac carol");
    alice.send("/rc carol");
    alice.expect("carol: contact request rejected");
    alice.send("/ac carol");
    alice.expect("no contact request from carol");
    carol.quit();

    alice.send("/ac bob");
    alice.expect("bob: accepting contact request...");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    expect_pq_info(&mut alice, "bob", 1);
    expect_pq_info(&mut bob, "alice", 1);

    bob.send("@alice hello through your address");
    alice.expect_item("bob> hello through your address");
    bob.expect_receipt("@alice hello through your address");
    alice.send("@bob welcome");
    bob.expect_item("alice> welcome");

    alice.send("/sa");
    let shown = read_address(&mut alice, "Your chat address:");
    assert_eq!(shown, (address, full_address));
    alice.send("/da");
    alice.expect("Your chat address is deleted - accepted contacts will remain connected.");
    alice.expect("To create a new chat address use /ad");
    alice.send("@bob still here");
    bob.expect_item("alice> still here");

    // A profile change reaches the contact.
    bob.send("/p robert");
    bob.expect("user profile is changed to robert (your 1 contacts are notified)");
    alice.expect("contact bob changed to robert");
    alice.expect("use @robert <message> to send messages");

    alice.quit();
    // One command with -e: the contact list from the saved database.
    let out = chat_command(&alice_db, None, None)
        .args(["-e", "/contacts", "-t", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("run simplex-chat -e");
    assert!(out.status.success(), "-e exits cleanly");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.lines().any(|l| l == "robert"),
        "contacts printed: {printed}"
    );

    // Deleting a contact tells it (x.direct.del): Bob's client marks Alice deleted, keeps
    // the history with a "contact deleted" item, and refuses to send until he deletes her.
    let mut alice = ChatProc::start("alice", &alice_db, None, None);
    alice.send("/d robert");
    alice.expect("robert: contact is deleted");
    bob.expect("alice deleted contact with you");
    alice.send("@robert anyone?");
    alice.expect("no contact robert");
    bob.send("@alice are you there?");
    bob.expect("alice: not ready");
    bob.send("/tail @alice 2");
    bob.expect_item("alice> still here");
    bob.expect_item("alice> contact deleted");
    bob.send("/contacts");
    bob.expect("alice");
    bob.send("/d alice");
    bob.expect("alice: contact is deleted");
    bob.send("@alice hello?");
    bob.expect("no contact alice");
    // Alice's connection goes once the relay has accepted the notice.
    wait_until_no_pending_deletions(&alice_db);
    alice.quit();
    bob.quit();
    for db in [&alice_db, &bob_db] {
        let path = PathBuf::from(format!("{}_agent.db", db.display()));
        let conns = simplex_agent::SqliteStore::open_with(&path, "", Locking::Shared)
            .expect("agent database")
            .conns()
            .expect("connections");
        assert!(
            conns.is_empty(),
            "{}: no connection left: {conns:?}",
            path.display()
        );
    }
}

/// Waits (reading the plain chat database of a running client) until the connections of
/// deleted contacts are deleted.
fn wait_until_no_pending_deletions(db: &Path) {
    let path = PathBuf::from(format!("{}_chat.db", db.display()));
    let deadline = std::time::Instant::now() + LINE_WAIT;
    loop {
        let db = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the chat database");
        let n: i64 = db
            .query_row("SELECT count(*) FROM pending_deletions", [], |r| r.get(0))
            .expect("count pending deletions");
        if n == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} deletions still pending after {LINE_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_message_sent_while_the_relay_is_down_is_delivered_after_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay_dir = dir.path().join("relay");
    let relay = start_relay(&relay_dir);
    let srv = relay.address.clone();
    let alice_db = prefix(dir.path(), "alice");
    let mut alice = new_user("alice", &alice_db, Some(&srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(&srv), None);
    alice.send("/c");
    let link = alice.wait_for("the link", |l| l.starts_with(SHORT_INVITATION));
    bob.send(&format!("/c {link}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");

    // The relay dies (kill -9); Alice's message waits in her agent's database, and she quits.
    let port = relay.port;
    drop(relay);
    alice.wait_for("the disconnection", |l| {
        l == "server disconnected 127.0.0.1 (@bob)"
    });
    bob.wait_for("the disconnection", |l| {
        l == "server disconnected 127.0.0.1 (@alice)"
    });
    alice.send("@bob sent during the outage");
    alice.expect_item("@bob sent during the outage");
    // Not sent yet: marked as sending in the history.
    alice.send("/tail @bob 1");
    alice.expect_marked("…", "@bob sent during the outage");
    alice.quit();
    // Bob's message waits too, in his running client.
    bob.send("@alice queued by bob");
    bob.expect_item("@alice queued by bob");

    // The relay comes back on the same port with its queues. Bob's client reconnects and
    // sends his message: as it did not go at once, "sent" is shown when it goes.
    let _relay = start_relay_on(&relay_dir, port);
    bob.expect_all(vec![
        exact("server connected 127.0.0.1 (@alice)"),
        item_line("✓", "@alice queued by bob"),
    ]);
    // Alice starts again: her message from the earlier run is sent (shown), then received;
    // Bob's message reaches her.
    let mut alice = ChatProc::start("alice", &alice_db, None, None);
    alice.expect_all(vec![
        item_line("✓", "@bob sent during the outage"),
        item_line("⩗", "@bob sent during the outage"),
        item_line("", "bob> queued by bob"),
    ]);
    bob.expect_all(vec![
        item_line("", "alice> sent during the outage"),
        item_line("⩗", "@alice queued by bob"),
    ]);
    alice.send("/tail @bob 2");
    alice.expect_marked("⩗", "@bob sent during the outage");
    alice.expect_item("bob> queued by bob");
    alice.quit();
    bob.quit();
}

#[test]
fn a_message_to_a_queue_the_relay_lost_is_marked_not_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay_dir = dir.path().join("relay");
    let relay = start_relay(&relay_dir);
    let srv = relay.address.clone();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(&srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(&srv), None);
    alice.send("/c");
    let link = alice.wait_for("the link", |l| l.starts_with(SHORT_INVITATION));
    bob.send(&format!("/c {link}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    alice.send("@bob first");
    bob.expect_item("alice> first");
    alice.expect_receipt("@bob first");

    // The relay restarts with the same identity but without its store: every queue is gone,
    // and the relay refuses the next message to Bob's queue for good (AUTH).
    let port = relay.port;
    drop(relay);
    alice.wait_for("the disconnection", |l| {
        l == "server disconnected 127.0.0.1 (@bob)"
    });
    std::fs::remove_dir_all(relay_dir.join("log")).expect("remove the relay's store");
    let _relay = start_relay_on(&relay_dir, port);
    alice.send("@bob into the void");
    alice.expect_item("@bob into the void");
    alice.expect_marked("✗", "@bob into the void");
    alice.expect(
        "bob: message not delivered: server error: Auth (most likely the connection is deleted)",
    );
    alice.send("/tail @bob 2");
    alice.expect_marked("⩗", "@bob first");
    alice.expect_marked("✗", "@bob into the void");
    alice.quit();
    bob.quit();
}
