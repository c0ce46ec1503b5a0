//! Groups end to end: a relay process and `simplex-chat` processes, driven as a person
//! would, printing what the reference prints on each side (`tests/ChatTests/Groups.hs`).

mod common;

use common::*;

/// Not a test of its own: the relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// A group message from another member: come directly, or first through the host's
/// forwarding (then marked ` [>>]`, as the reference prints it).
fn expect_msg(p: &mut ChatProc, rest: &str) {
    let fwd = format!("{rest} [>>]");
    p.wait_for(&format!("HH:MM {rest:?}, maybe forwarded"), |l| {
        is_item(l, rest) || is_item(l, &fwd)
    });
}

/// [`expect_msg`] for [`ChatProc::expect_all`].
fn msg_line(rest: &str) -> Wanted {
    let (r, f) = (rest.to_owned(), format!("{rest} [>>]"));
    (
        format!("HH:MM {rest:?}, maybe forwarded"),
        Box::new(move |l| is_item(l, &r) || is_item(l, &f)),
    )
}

/// A group of three (the reference's `createGroup3`): alice creates it and invites bob,
/// then cath; bob and cath are introduced and connect directly; every member's message
/// reaches both others. Before bob and cath are connected, a message between them is
/// forwarded by alice and printed once.
#[test]
fn a_group_of_three_every_message_reaches_everyone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    group_of_three(&mut alice, &mut bob, &mut cath);

    alice.send("#team hello");
    alice.expect_item("#team hello");
    bob.expect_item("#team alice> hello");
    cath.expect_item("#team alice> hello");
    bob.send("#team hi there");
    bob.expect_item("#team hi there");
    alice.expect_item("#team bob> hi there");
    expect_msg(&mut cath, "#team bob> hi there");
    cath.send("#team hey team");
    cath.expect_item("#team hey team");
    alice.expect_item("#team cath> hey team");
    expect_msg(&mut bob, "#team cath> hey team");
    // A plain line goes to the group last written to.
    cath.send("and more");
    cath.expect_item("#team and more");
    alice.expect_item("#team cath> and more");
    expect_msg(&mut bob, "#team cath> and more");

    // Nothing was printed twice: the forwarded copies (if any came) were dropped.
    for p in [&alice, &bob, &cath] {
        for text in ["hello", "hi there", "hey team", "and more"] {
            let n = p
                .seen
                .iter()
                .filter(|l| l.contains(&format!("> {text}")))
                .count();
            assert!(n <= 1, "{}: {text:?} printed {n} times", p.name);
        }
    }

    alice.send("/gs");
    alice.expect("#team (3 members)");
    alice.send("/tail #team 3");
    alice.expect_item("#team bob> hi there");
    alice.expect_item("#team cath> hey team");
    alice.expect_item("#team cath> and more");
    bob.send("/tail #team 1");
    expect_msg(&mut bob, "#team cath> and more");
    alice.send("/ms team");
    alice.expect_all(vec![
        exact("alice: owner, you, created group"),
        exact("bob: admin, invited, connected"),
        exact("cath: member, invited, connected"),
    ]);
    alice.send("/i #team bob");
    alice.expect("group ID: 1");
    alice.wait_for("the member's row", |l| l.starts_with("member ID: "));
    alice.expect("receiving messages via: 127.0.0.1");
    alice.expect("sending messages via: 127.0.0.1");
    alice.expect("peer chat protocol version range: (1, 8)");
    bob.send("/ms team");
    bob.expect_all(vec![
        exact("bob: admin, you, connected"),
        exact("alice: owner, host, connected"),
        exact("cath: member, connected"),
    ]);
}

/// bob is offline while cath joins: cath's message reaches bob through alice's forwarding
/// when bob is back (restarted), and bob and cath then connect directly.
#[test]
fn an_offline_member_gets_forwarded_messages_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    create_team(&mut alice);
    add_and_join(&mut alice, &mut bob, "member");
    bob.quit();
    add_and_join(&mut alice, &mut cath, "member");
    cath.send("#team while bob is away");
    cath.expect_item("#team while bob is away");
    alice.expect_item("#team cath> while bob is away");

    let mut bob = ChatProc::start("bob", &prefix(dir.path(), "bob"), Some(srv), None);
    bob.expect_all(vec![
        exact("#team: alice added cath to the group (connecting...)"),
        item_line("", "#team cath> while bob is away [>>]"),
        exact("#team: new member cath is connected"),
    ]);
    cath.expect("#team: member bob is connected");
    bob.send("#team back");
    bob.expect_item("#team back");
    alice.expect_item("#team bob> back");
    expect_msg(&mut cath, "#team bob> back");
    cath.send("#team welcome back");
    expect_msg(&mut bob, "#team cath> welcome back");
    alice.expect_item("#team cath> welcome back");
    let n = bob
        .seen
        .iter()
        .filter(|l| l.contains("cath> while bob is away"))
        .count();
    assert_eq!(
        n,
        1,
        "the forwarded message is printed once: {:?}",
        bob.text_seen()
    );
}

/// Roles as the reference: an observer cannot send, a member cannot remove an admin, an
/// owner changes roles; leaving and removal are seen by everyone.
#[test]
fn roles_leaving_and_removal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    group_of_three(&mut alice, &mut bob, &mut cath);

    alice.send("/mr team bob observer");
    alice.expect("#team: you changed the role of bob to observer");
    bob.expect("#team: alice changed your role from admin to observer");
    cath.expect("#team: alice changed the role of bob from admin to observer");
    bob.send("#team hello");
    bob.expect("#team: you don't have permission to send messages");
    bob.send("/rm team cath");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is admin",
    );
    alice.send("/mr team bob admin");
    alice.expect("#team: you changed the role of bob to admin");
    bob.expect("#team: alice changed your role from observer to admin");
    cath.expect("#team: alice changed the role of bob from observer to admin");
    cath.send("/rm team bob");
    cath.expect(
        "#team: you have insufficient permissions for this action, the required role is admin",
    );
    cath.send("/mr team cath owner");
    cath.expect("#team has no member cath");

    // A new profile (chat version 7) reaches the members: bob, not cath's contact, lists
    // her under her new name; so does alice, whose contact she is.
    cath.send("/p catherine");
    cath.wait_for("the profile change", |l| {
        l.starts_with("user profile is changed to catherine")
    });
    alice.expect("contact cath changed to catherine");
    alice.expect("use @catherine <message> to send messages");
    cath.send("#team renamed");
    expect_msg(&mut bob, "#team catherine> renamed");
    bob.send("/ms team");
    bob.expect_all(vec![
        exact("bob: admin, you, connected"),
        exact("alice: owner, host, connected"),
        exact("catherine: member, connected"),
    ]);
    alice.send("/ms team");
    alice.expect_all(vec![
        exact("alice: owner, you, created group"),
        exact("bob: admin, invited, connected"),
        exact("catherine: member, invited, connected"),
    ]);

    cath.send("/l team");
    cath.expect("#team: you left the group");
    cath.expect("use /d #team to delete the group");
    alice.expect("#team: catherine left the group");
    bob.expect("#team: catherine left the group");
    cath.send("/gs");
    cath.expect("#team (you left, delete local copy: /d #team)");

    alice.send("/rm team bob");
    alice.expect("#team: you removed bob from the group");
    bob.expect("#team: alice removed you from the group");
    bob.expect("use /d #team to delete the group");
    bob.send("#team anyone?");
    bob.expect("bad chat command: not current member");
    alice.send("/ms team");
    alice.expect("alice: owner, you, created group");
    alice.send("/gs");
    alice.expect("#team (1 member)");
    bob.send("/d #team");
    bob.expect("#team: you deleted the group");
    bob.send("/gs");
    bob.expect("you have no groups!");
}

/// The owner deletes the group: the others are told and keep a local copy until `/d`.
#[test]
fn the_owner_deletes_the_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    group_of_three(&mut alice, &mut bob, &mut cath);
    bob.send("/d #team");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is owner",
    );
    alice.send("/d #team");
    alice.expect("#team: you deleted the group");
    for p in [&mut bob, &mut cath] {
        p.expect("#team: alice deleted the group");
        p.expect("use /d #team to delete the local copy of the group");
        p.send("/gs");
        p.expect("#team (group deleted, delete local copy: /d #team)");
        p.send("/d #team");
        p.expect("#team: you deleted the group");
    }
    alice.send("/gs");
    alice.expect("you have no groups!");
}

/// Five members (all alice's contacts, joining one after another): each new member is
/// introduced to all before it, and every member's message reaches the four others.
#[test]
fn a_group_of_five() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let names = ["alice", "bob", "cath", "dan", "eve"];
    let mut ps: Vec<ChatProc> = names
        .iter()
        .map(|n| new_user(n, &prefix(dir.path(), n), Some(srv), None))
        .collect();
    let (host, rest) = ps.split_first_mut().expect("five");
    for p in rest.iter_mut() {
        connect(host, p);
    }
    create_team(host);
    for i in 0..rest.len() {
        let (before, after) = rest.split_at_mut(i);
        let new = &mut after[0];
        add_and_join(host, new, "member");
        let nn = new.name.clone();
        new.expect_all(
            before
                .iter()
                .map(|b| exact(&format!("#team: member {} is connected", b.name)))
                .collect(),
        );
        for b in before.iter_mut() {
            b.expect(&format!(
                "#team: alice added {nn} to the group (connecting...)"
            ));
            b.expect(&format!("#team: new member {nn} is connected"));
        }
    }
    for i in 0..ps.len() {
        let text = format!("hello from {}", names[i]);
        ps[i].send(&format!("#team {text}"));
        ps[i].expect_item(&format!("#team {text}"));
        for (j, p) in ps.iter_mut().enumerate() {
            if j != i {
                expect_msg(p, &format!("#team {}> {text}", names[i]));
            }
        }
    }
    ps[0].send("/gs");
    ps[0].expect("#team (5 members)");
}

/// The host stops right after the new member joined (its introductions queued, the new
/// member's answers not yet read): after its restart the introduction completes, and a
/// message the new member sent meanwhile reaches the other member.
#[test]
fn the_host_restarts_in_the_middle_of_an_introduction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    create_team(&mut alice);
    add_and_join(&mut alice, &mut bob, "member");
    alice.send("/a team cath");
    alice.expect("invitation to join the group #team sent to cath");
    cath.expect("use /j team to accept");
    cath.send("/j team");
    alice.expect("#team: cath joined the group");
    alice.quit();
    cath.expect("#team: you joined the group");
    cath.send("#team is anyone there?");
    cath.expect_item("#team is anyone there?");

    let mut alice = ChatProc::start("alice", &prefix(dir.path(), "alice"), Some(srv), None);
    alice.expect_item("#team cath> is anyone there?");
    bob.expect("#team: alice added cath to the group (connecting...)");
    bob.expect_all(vec![
        msg_line("#team cath> is anyone there?"),
        exact("#team: new member cath is connected"),
    ]);
    cath.expect("#team: member bob is connected");
    bob.send("#team yes");
    expect_msg(&mut cath, "#team bob> yes");
    alice.expect_item("#team bob> yes");
}

/// Joining through a group link (`/create link #team`, `/c LINK`): two users who are not
/// alice's contacts join, are introduced to each other, and talk in the group.
#[test]
fn joining_through_a_group_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let mut alice = new_user("alice", &prefix(dir.path(), "alice"), Some(srv), None);
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(srv), None);
    let mut cath = new_user("cath", &prefix(dir.path(), "cath"), Some(srv), None);
    create_team(&mut alice);
    alice.send("/show link #team");
    alice.expect("no group link, to create: /create link #team");
    let (link, _) = create_team_link(&mut alice);
    assert!(alice
        .seen
        .iter()
        .any(|l| l
            == "Anybody can connect to you and join group as member with: /c <group_link_above>"));

    bob.send(&format!("/c {link}"));
    bob.expect("connection request sent!");
    alice.expect("bob: accepting request to join group #team...");
    alice.expect("#team: bob joined the group");
    bob.expect("#team: joining the group...");
    bob.expect("#team: you joined the group");

    cath.send(&format!("/c {link}"));
    cath.expect("connection request sent!");
    alice.expect("cath: accepting request to join group #team...");
    alice.expect("#team: cath joined the group");
    cath.expect("#team: joining the group...");
    cath.expect("#team: you joined the group");
    cath.expect("#team: member bob is connected");
    bob.expect("#team: alice added cath to the group (connecting...)");
    bob.expect("#team: new member cath is connected");

    cath.send("#team hi all");
    alice.expect_item("#team cath> hi all");
    expect_msg(&mut bob, "#team cath> hi all");
    bob.send("#team hi cath");
    alice.expect_item("#team bob> hi cath");
    expect_msg(&mut cath, "#team bob> hi cath");
    cath.send("/ms team");
    cath.expect_all(vec![
        exact("cath: member, you, connected"),
        exact("alice: owner, host, connected"),
        exact("bob: member, connected"),
    ]);

    alice.send("/delete link #team");
    alice.expect("Group link is deleted - joined members will remain connected.");
    alice.expect("To create a new group link use /create link #team");
    alice.send("#team still here");
    bob.expect_item("#team alice> still here");
    cath.expect_item("#team alice> still here");
}

/// History (chat version 5): a member who joins gets the group's recent messages, each
/// forwarded by the host with its author (` [>>]`), after the introductions.
#[test]
fn a_new_member_gets_the_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    create_team(&mut alice);
    add_and_join(&mut alice, &mut bob, "member");
    alice.send("#team hello");
    bob.expect_item("#team alice> hello");
    bob.send("#team hey!");
    alice.expect_item("#team bob> hey!");
    add_and_join(&mut alice, &mut cath, "admin");
    cath.expect_all(vec![
        item_line("", "#team alice> hello [>>]"),
        item_line("", "#team bob> hey! [>>]"),
        exact("#team: member bob is connected"),
    ]);
    bob.expect("#team: new member cath is connected");
    cath.send("/tail #team");
    cath.expect_item("#team alice> hello [>>]");
    cath.expect_item("#team bob> hey! [>>]");
    cath.send("#team 3");
    alice.expect_item("#team cath> 3");
    expect_msg(&mut bob, "#team cath> 3");
}

/// An admin who is not the group's creator invites its own contact (`testGroup2`): the
/// admin introduces the new member to everyone, and forwards for it until connected.
#[test]
fn an_admin_invites_its_own_contact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    let mut dan = new_user("dan", &prefix(dir.path(), "dan"), Some(srv), None);
    connect(&mut bob, &mut dan);
    group_of_three(&mut alice, &mut bob, &mut cath);
    bob.send("/a team dan");
    bob.expect("invitation to join the group #team sent to dan");
    dan.expect("#team: bob invites you to join the group as member");
    dan.expect("use /j team to accept");
    dan.send("/j team");
    bob.expect("#team: dan joined the group");
    dan.expect("#team: you joined the group");
    dan.expect_all(vec![
        exact("#team: member alice is connected"),
        exact("#team: member cath is connected"),
    ]);
    for p in [&mut alice, &mut cath] {
        p.expect("#team: bob added dan to the group (connecting...)");
        p.expect("#team: new member dan is connected");
    }
    dan.send("#team hello all");
    for p in [&mut alice, &mut bob, &mut cath] {
        expect_msg(p, "#team dan> hello all");
    }
    alice.send("#team welcome dan");
    expect_msg(&mut dan, "#team alice> welcome dan");
    dan.send("/ms team");
    dan.expect_all(vec![
        exact("dan: member, you, connected"),
        exact("bob: admin, host, connected"),
        exact("alice: owner, connected"),
        exact("cath: member, connected"),
    ]);
}

/// History from a member who left: the new member makes an unknown member record for the
/// author, as the reference (`testGroupHistoryUnknownMember`).
#[test]
fn history_from_a_member_who_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), srv);
    create_team(&mut alice);
    add_and_join(&mut alice, &mut bob, "member");
    bob.send("#team hi from bob");
    alice.expect_item("#team bob> hi from bob");
    bob.send("/l team");
    bob.expect("#team: you left the group");
    alice.expect("#team: bob left the group");
    add_and_join(&mut alice, &mut cath, "member");
    cath.expect(
        "#team: alice forwarded a message from an unknown member, creating unknown member record bob",
    );
    cath.expect_item("#team bob> hi from bob [>>]");
    cath.send("/ms team");
    cath.expect_all(vec![
        exact("cath: member, you, connected"),
        exact("alice: owner, host, connected"),
        exact("bob: author, status unknown"),
    ]);
    cath.send("/gs");
    cath.expect("#team (2 members)");
}

/// `testUpdateGroupProfile` and `/i #team`: only the owner renames the group; every member
/// is told (`alice updated group #team:`, `changed to #my_team`) and the new name works;
/// `/i #team` gives the group's ID and its current members.
#[test]
fn the_owner_renames_the_group_and_info_counts_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let (mut alice, mut bob, mut cath) = three_users(dir.path(), &relay.address);
    group_of_three(&mut alice, &mut bob, &mut cath);
    alice.send("/i #team");
    alice.expect("group ID: 1");
    alice.expect("current members: 3");
    bob.send("/gp team my_team");
    bob.expect(
        "#team: you have insufficient permissions for this action, the required role is owner",
    );
    alice.send("/gp team my_team");
    alice.expect("changed to #my_team");
    for m in [&mut bob, &mut cath] {
        m.expect("alice updated group #team:");
        m.expect("changed to #my_team");
    }
    bob.send("#my_team hi");
    expect_msg(&mut alice, "#my_team bob> hi");
    expect_msg(&mut cath, "#my_team bob> hi");
    alice.send("/gp my_team my_team My Team");
    alice.expect("full name changed to: My Team");
    cath.expect("alice updated group #my_team:");
    cath.expect("full name changed to: My Team");
    cath.send("/l my_team");
    cath.expect("#my_team: you left the group");
    alice.expect("#my_team: cath left the group");
    alice.send("/i #my_team");
    alice.expect("current members: 2");
    alice.quit();
    bob.quit();
    cath.quit();
}
