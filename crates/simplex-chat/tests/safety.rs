//! End to end, over pipes: what must never leave or be half-served. Lines in the
//! reference's syntax that this client lacks are not sent; a message too long for the
//! protocol is refused whole; QR codes fit 80 columns with the link after them; a second
//! client on the same database is refused; `/c` of our own link is refused; a contact asking
//! again through our address is recognised; errors are in words a user understands.
//!
//! The relay is this test executable started again (see `e2e.rs`).

mod common;

use std::process::Stdio;

use common::*;

/// Not a test of its own: the relay child process.
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// Alice and Bob, connected through an invitation; returns Alice's invitation link.
fn connected(alice: &mut ChatProc, bob: &mut ChatProc) -> String {
    alice.send("/c");
    let (link, _) = read_invitation(alice);
    bob.send(&format!("/c {link}"));
    bob.expect("confirmation sent!");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    link
}

/// The next chat item Bob prints from Alice must be `text`.
fn next_from_alice(bob: &mut ChatProc, text: &str) {
    let l = bob.wait_for("a message from alice", |l| l.contains(" alice> "));
    assert!(is_item(&l, &format!("alice> {text}")), "Bob got {l:?}");
}

#[test]
fn lines_in_syntax_we_lack_are_never_sent_and_long_messages_are_refused_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(srv), None);
    connected(&mut alice, &mut bob);
    alice.send("@bob hi");
    next_from_alice(&mut bob, "hi");

    // Bob is the last chat: none of these may reach him.
    for (line, answer) in [
        ("#team hi", "no group #team"),
        ("> @bob (hi) reply", "replies: not supported yet"),
        ("! 1 edited", "message editing: not supported yet"),
        ("\\ 1", "message deletion: not supported yet"),
        ("+1", "reactions: not supported yet"),
        ("/f …", "/f: not supported yet"),
        ("/set voice no", "/set: not supported yet"),
        ("@bob <- @carol hi", "forwarding: not supported yet"),
    ] {
        alice.send(line);
        alice.expect(answer);
    }
    alice.send("plain text continues the chat");
    next_from_alice(&mut bob, "plain text continues the chat");

    // Longer than a terminal line (4,095 bytes), within the protocol: arrives whole.
    let long: String = (0..12_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    alice.send(&format!("@bob {long}"));
    next_from_alice(&mut bob, &long);
    // Longer than the protocol allows: refused, nothing sent; the next message arrives
    // with no gap (no integrity error at Bob).
    let too_long = "x".repeat(20_000);
    alice.send(&format!("@bob {too_long}"));
    alice.wait_for("the refusal", |l| {
        l.starts_with("message too large (20000 characters): nothing was sent")
    });
    alice.send("@bob after the long one");
    next_from_alice(&mut bob, "after the long one");
    assert!(
        !bob.seen
            .iter()
            .any(|l| l.contains("skipped message") || l.contains("unexpected message")),
        "no integrity error: {:?}",
        bob.text_seen()
    );
    alice.quit();
    bob.quit();
}

#[test]
fn own_links_used_links_existing_contacts_locks_and_unreachable_servers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.clone();
    let alice_db = prefix(dir.path(), "alice");
    let mut alice = new_user("alice", &alice_db, Some(&srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(&srv), None);

    // A second client on Alice's database is refused; the first goes on.
    let out = chat_command(&alice_db, None, None)
        .stdin(Stdio::null())
        .output()
        .expect("run a second simplex-chat");
    assert_eq!(out.status.code(), Some(1), "refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database is in use by another simplex-chat process"),
        "stderr: {err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "nothing half-served"
    );

    // Our own invitation and address are refused.
    alice.send("/c");
    let (inv, full_inv) = read_invitation(&mut alice);
    alice.send(&format!("/c {inv}"));
    alice.expect("you cannot connect to yourself");
    alice.send(&format!("/c {full_inv}"));
    alice.expect("you cannot connect to yourself");
    alice.send("/ad");
    let (address, full_address) = read_address(&mut alice, "Your new chat address is created!");
    alice.send(&format!("/c {address}"));
    alice.expect("you cannot connect to yourself");
    alice.send(&format!("/c {full_address}"));
    alice.expect("you cannot connect to yourself");

    // Bob uses the invitation; Carol cannot use it again.
    bob.send(&format!("/c {inv}"));
    bob.expect("confirmation sent!");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    let carol_db = prefix(dir.path(), "carol");
    let mut carol = new_user("carol", &carol_db, Some(&srv), None);
    carol.send(&format!("/c {inv}"));
    carol.expect("this link was already used or deleted");
    carol.send(&format!("/c {full_inv}"));
    carol.expect("this link was already used or deleted");

    // Carol asks twice through the address before Alice accepts: one request.
    carol.send(&format!("/c {address}"));
    carol.expect("connection request sent!");
    alice.expect("carol wants to connect to you!");
    carol.send(&format!("/c {address}"));
    carol.expect("connection request sent!");
    alice.expect("carol wants to connect to you!");
    alice.expect("to accept: /ac carol");
    alice.send("/ac carol");
    alice.expect("carol: accepting contact request...");
    alice.expect("carol: contact is connected");
    carol.expect("alice: contact is connected");
    // Carol is Alice's contact once (no carol_1 request left over).
    alice.send("/ac carol_1");
    alice.expect("no contact request from carol_1");
    // Asking again: the requester knows the contact exists...
    carol.send(&format!("/c {address}"));
    carol.expect("contact address: known contact alice");
    carol.expect("use @alice <message> to send messages");
    // ... and a request with Carol's request ID (as her client repeats a request that
    // crossed the acceptance) is recognised by Alice as Carol. Dave's client is given
    // Carol's request ID as if he had asked before.
    let carol_chat = rusqlite::Connection::open(format!("{}_chat.db", carol_db.display()))
        .expect("carol's chat database");
    let req_id: String = carol_chat
        .query_row(
            "SELECT xcontact_id FROM contacts WHERE local_name = 'alice'",
            [],
            |r| r.get(0),
        )
        .expect("carol's request ID is kept with the contact");
    let dave_db = prefix(dir.path(), "dave");
    let mut dave = new_user("dave", &dave_db, Some(&srv), None);
    rusqlite::Connection::open(format!("{}_chat.db", dave_db.display()))
        .expect("dave's chat database")
        .execute(
            "INSERT INTO pending_conns (conn_id, kind, link, xcontact_id)
             VALUES (x'00', 'req', ?1, ?2)",
            [&address, &req_id],
        )
        .expect("an earlier request");
    dave.send(&format!("/c {address}"));
    dave.expect("connection request sent!");
    alice.expect(
        "carol: sent you a duplicate contact request, but you are already connected, no action needed",
    );
    alice.send("/ac dave");
    alice.expect("no contact request from dave");

    // An invalid link's hint names a command that exists.
    bob.send("/c https://simplex.chat/invitation#/?v=2-7&smp=nonsense");
    bob.expect("Please ask your contact to check /version and update if needed.");
    bob.send("/version");
    bob.wait_for("the version", |l| l.starts_with("SimpleX Chat v"));

    // The relay is gone: a new invitation cannot be made, and the user is told why.
    let port = relay.port;
    drop(relay);
    bob.wait_for("the disconnection", |l| {
        l.starts_with("server disconnected")
    });
    bob.send("/c");
    bob.expect(&format!(
        "cannot reach 127.0.0.1:{port}: the server is not running or not reachable"
    ));
    for p in [alice, bob, carol, dave] {
        p.quit();
    }
}
