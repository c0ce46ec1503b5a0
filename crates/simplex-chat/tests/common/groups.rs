//! Groups as the end-to-end tests build them (the reference's `connectUsers`,
//! `createGroup3`).

use super::*;

/// `connectUsers`: `a` invites `b` with `/c`, both see the contact connected.
pub fn connect(a: &mut ChatProc, b: &mut ChatProc) {
    a.send("/c");
    let (link, _) = read_invitation(a);
    b.send(&format!("/c {link}"));
    b.expect("confirmation sent!");
    let (an, bn) = (a.name.clone(), b.name.clone());
    a.expect(&format!("{bn}: contact is connected"));
    b.expect(&format!("{an}: contact is connected"));
}

/// `host` invites `who` (a contact) and `who` joins: the lines on both sides.
pub fn add_and_join(host: &mut ChatProc, who: &mut ChatProc, role: &str) {
    let (hn, wn) = (host.name.clone(), who.name.clone());
    if role == "member" {
        host.send(&format!("/a team {wn}"));
    } else {
        host.send(&format!("/a team {wn} {role}"));
    }
    host.expect(&format!("invitation to join the group #team sent to {wn}"));
    who.expect(&format!(
        "#team: {hn} invites you to join the group as {role}"
    ));
    who.expect("use /j team to accept");
    who.send("/j team");
    host.expect(&format!("#team: {wn} joined the group"));
    who.expect("#team: you joined the group");
}

/// Three users, alice a contact of bob and cath, each in `dir`.
pub fn three_users(dir: &std::path::Path, srv: &str) -> (ChatProc, ChatProc, ChatProc) {
    let mut alice = new_user("alice", &prefix(dir, "alice"), Some(srv), None);
    let mut bob = new_user("bob", &prefix(dir, "bob"), Some(srv), None);
    let mut cath = new_user("cath", &prefix(dir, "cath"), Some(srv), None);
    connect(&mut alice, &mut bob);
    connect(&mut alice, &mut cath);
    (alice, bob, cath)
}

/// alice creates `#team`.
pub fn create_team(alice: &mut ChatProc) {
    alice.send("/g team");
    alice.expect("group #team is created");
    alice.expect("to add members use /a team <name> or /create link #team");
}

/// alice's `/create link #team` on a relay with short links: the short link (`/g#`) and the
/// full one printed above it for old clients.
pub fn create_team_link(alice: &mut ChatProc) -> (String, String) {
    alice.send("/create link #team");
    let old = "The group link for old clients: ";
    let full = alice.wait_for("the full link", |l| l.starts_with(old));
    let full = full.strip_prefix(old).unwrap_or_default().to_owned();
    assert!(
        full.starts_with("https://simplex.chat/contact#/?"),
        "{full}"
    );
    alice.expect("Group link is created!");
    alice.expect("");
    let short = read_link(
        alice,
        "https://127.0.0.1/g#",
        "to delete it: /delete link #team (joined members will remain connected to you)",
    );
    (short, full)
}

/// `createGroup3`: alice's `#team` with bob (admin) and cath, bob and cath connected.
pub fn group_of_three(alice: &mut ChatProc, bob: &mut ChatProc, cath: &mut ChatProc) {
    create_team(alice);
    add_and_join(alice, bob, "admin");
    add_and_join(alice, cath, "member");
    // The introduction, as each side prints it.
    cath.expect("#team: member bob is connected");
    bob.expect("#team: alice added cath to the group (connecting...)");
    bob.expect("#team: new member cath is connected");
}
