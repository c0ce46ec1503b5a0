//! Connection plans end to end (`/_connect plan 1 LINK`, the reference's
//! `testPlanInvitationLink*`, `testPlanAddress*`, `testPlanGroupLink*`): a relay process and
//! `simplex-chat` processes. A short link's plan names whose link it is, read from its data
//! before anything reaches the owner; `/c` consults the same plan, prints whose link it
//! joins, and stops where the plan says so.

mod common;

use common::*;

/// Not a test of its own: the relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

fn plan(p: &mut ChatProc, link: &str, lines: &[&str]) {
    p.send(&format!("/_connect plan 1 {link}"));
    for l in lines {
        p.expect(l);
    }
}

#[test]
fn invitation_link_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let alice_db = prefix(dir.path(), "alice");
    let mut alice = new_user("alice", &alice_db, Some(srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(srv), None);
    let mut cath = new_user("cath", &prefix(dir.path(), "cath"), Some(srv), None);

    alice.send("/c");
    let (short, full) = read_invitation(&mut alice);
    plan(&mut alice, &short, &["invitation link: own link"]);
    plan(&mut alice, &full, &["invitation link: own link"]);
    // The other scheme of the same full link is the same link.
    let other_scheme = full.replace("https://simplex.chat/", "simplex:/");
    plan(&mut alice, &other_scheme, &["invitation link: own link"]);
    alice.quit();

    // Bob reads whose invitation it is before joining; reading again is allowed (the same
    // sender key secures the queue).
    for _ in 0..2 {
        plan(
            &mut bob,
            &short,
            &["invitation link: ok to connect", "contact: alice"],
        );
    }
    // Nobody else can use it any more.
    plan(
        &mut cath,
        &short,
        &["this link was already used or deleted"],
    );

    bob.send(&format!("/c {short}"));
    bob.expect("connecting to alice");
    bob.expect("confirmation sent!");
    // Alice is away: the connection is in progress; the plan and /c say so.
    plan(&mut bob, &short, &["invitation link: connecting"]);
    bob.send(&format!("/c {short}"));
    bob.expect("invitation link: connecting");

    let mut alice = ChatProc::start("alice", &alice_db, Some(srv), None);
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    alice.send("@bob hi");
    bob.expect_item("alice> hi");
}

#[test]
fn address_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(srv), None);

    alice.send("/ad");
    let (address, full) = read_address(&mut alice, "Your new chat address is created!");
    plan(&mut alice, &address, &["contact address: own address"]);
    plan(&mut alice, &full, &["contact address: own address"]);

    plan(
        &mut bob,
        &address,
        &["contact address: ok to connect", "contact: alice"],
    );
    plan(&mut bob, &full, &["contact address: ok to connect"]);
    plan(
        &mut bob,
        "https://simplex.chat/contact#/?v=2-7&smp=nonsense",
        &["Please ask your contact to check /version and update if needed."],
    );
    bob.send(&format!("/c {address}"));
    bob.expect("connecting to alice");
    bob.expect("connection request sent!");
    alice.expect("bob wants to connect to you!");
    plan(
        &mut bob,
        &address,
        &["contact address: connecting, allowed to reconnect"],
    );
    alice.send("/ac bob");
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");

    let known = [
        "contact address: known contact alice",
        "use @alice <message> to send messages",
    ];
    plan(&mut bob, &address, &known);
    bob.send(&format!("/c {address}"));
    for l in known {
        bob.expect(l);
    }
    bob.send("@alice still one contact");
    alice.expect_item("bob> still one contact");
    bob.send("/contacts");
    bob.expect("alice");
}

#[test]
fn group_link_plans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(srv), None);
    create_team(&mut alice);
    let (link, full) = create_team_link(&mut alice);
    plan(&mut alice, &link, &["group link: own link for group #team"]);
    plan(&mut alice, &full, &["group link: own link for group #team"]);

    plan(
        &mut bob,
        &link,
        &["group link: ok to connect", "group: #team"],
    );
    bob.send(&format!("/c {link}"));
    bob.expect("connecting to group #team");
    bob.expect("connection request sent!");
    alice.expect("#team: bob joined the group");
    bob.expect("#team: you joined the group");

    let known = [
        "group link: known group #team",
        "use #team <message> to send messages",
    ];
    plan(&mut bob, &link, &known);
    bob.send(&format!("/c {link}"));
    for l in known {
        bob.expect(l);
    }
}
