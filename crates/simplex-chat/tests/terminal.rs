//! End to end in a pseudo-terminal (`rexpect`): Alice's `simplex-chat` runs its line editor
//! as it does for a person, Bob's is driven over pipes. The prompt shows where a plain line
//! goes; the Up arrow recalls history (also after a restart); Ctrl-L is not sent; a message
//! arriving while Alice types is printed above her line, which is redrawn whole; a pasted
//! line longer than the terminal's line limit is sent whole and one longer than the protocol
//! allows is refused; Ctrl-C and Ctrl-D quit at once and the next start gets what arrived
//! meanwhile; a plain line typed while the prompt showed no chat is not sent to a chat that
//! began meanwhile.
//!
//! The relay is this test executable started again (see `e2e.rs`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use rexpect::process::WaitStatus;
use rexpect::session::{spawn_command, PtySession};

/// Not a test of its own: the relay child process.
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// How long one expected piece of output may take.
const WAIT_MS: u64 = 90_000;

/// Starts Alice's client in a pseudo-terminal.
fn alice_in_pty(db: &Path, server: Option<&str>) -> PtySession {
    let mut cmd = chat_command(db, server, None);
    cmd.env("TERM", "xterm-256color");
    spawn_command(cmd, Some(WAIT_MS)).expect("spawn simplex-chat in a pseudo-terminal")
}

/// Waits (generously: no timing assertion) for the client to exit; it must exit cleanly.
fn wait_exit(p: &PtySession, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match p.process().status() {
            Some(WaitStatus::StillAlive) | None => {}
            Some(WaitStatus::Exited(_, code)) => {
                assert_eq!(code, 0, "{what}: exit code");
                return;
            }
            Some(other) => panic!("{what}: ended with {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still running after 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The next chat item Bob prints from Alice must be `text`.
fn next_from_alice(bob: &mut ChatProc, text: &str) {
    let l = bob.wait_for("a message from alice", |l| l.contains(" alice> "));
    assert!(
        is_item(&l, &format!("alice> {text}")),
        "Bob got {:?}",
        l.chars().take(200).collect::<String>()
    );
}

/// Waits for Alice's own item `@bob <start>…` and the prompt drawn after it: the editor is
/// reading again (raw mode). Input typed earlier would meet the terminal's cooked mode,
/// whose line buffer holds 4,095 bytes.
fn sent_and_prompt(p: &mut PtySession, start: &str) {
    p.exp_regex(&format!(r"\d\d:\d\d @bob {start}"))
        .expect("Alice's item");
    p.exp_string("@bob> ").expect("the next prompt");
}

/// Pastes `text` as a terminal does (bracketed paste) and presses Enter.
fn paste_line(p: &mut PtySession, text: &str) {
    p.send(&format!("\x1b[200~{text}\x1b[201~")).expect("paste");
    p.send("\r").expect("enter");
    p.flush().expect("flush");
}

#[test]
fn the_line_editor_in_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let alice_db = prefix(dir.path(), "alice");
    let mut bob = new_user("bob", &prefix(dir.path(), "bob"), Some(srv), None);

    let mut alice = alice_in_pty(&alice_db, Some(srv));
    alice
        .exp_string("display name: ")
        .expect("asked for a name");
    alice.send_line("alice").expect("name");
    alice.exp_string("Current user: alice").expect("started");
    alice.exp_string("> ").expect("the prompt without a chat");
    alice.send_line("/c").expect("/c");
    let (_, link) = alice
        .exp_regex(r"https://127\.0\.0\.1/i#[^\s\x1b]+")
        .expect("the invitation link");
    bob.send(&format!("/c {link}"));
    alice
        .exp_string("bob: contact is connected")
        .expect("connected");
    bob.expect("alice: contact is connected");

    // The prompt shows where a plain line goes.
    alice.send_line("@bob first").expect("send");
    next_from_alice(&mut bob, "first");
    alice.exp_string("@bob> ").expect("the prompt names Bob");
    // Up arrow: the last line again (not "^[[A" sent as text).
    alice.send("\x1b[A").expect("up");
    alice.send("\r").expect("enter");
    alice.flush().expect("flush");
    next_from_alice(&mut bob, "first");
    // Ctrl-L clears the screen; it is not text.
    alice.send_control('l').expect("ctrl-l");
    alice.send_line("after clearing").expect("send");
    next_from_alice(&mut bob, "after clearing");

    // A message arrives while Alice types: printed above, her line redrawn whole.
    alice.exp_string("@bob> ").expect("prompt");
    alice.send("half ").expect("type");
    alice.flush().expect("flush");
    bob.send("@alice interrupting");
    alice
        .exp_string("bob> interrupting")
        .expect("the message is shown");
    alice
        .exp_string("@bob> half ")
        .expect("the prompt and the half-typed line are redrawn");
    alice.send_line("typed").expect("finish the line");
    next_from_alice(&mut bob, "half typed");
    sent_and_prompt(&mut alice, "half typed");

    // A pasted line past the terminal's 4,095-byte line limit is sent whole; one past the
    // protocol's limit is refused and nothing is sent.
    let long: String = (0..12_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    paste_line(&mut alice, &long);
    next_from_alice(&mut bob, &long);
    sent_and_prompt(&mut alice, "abcdefghij");
    paste_line(&mut alice, &"y".repeat(20_000));
    alice
        .exp_string("message too large (20000 characters): nothing was sent")
        .expect("refused");
    alice.send_line("@bob last before quitting").expect("send");
    next_from_alice(&mut bob, "last before quitting");
    sent_and_prompt(&mut alice, "last before quitting");

    // Ctrl-C quits at once; what Bob sends meanwhile arrives at the next start, and the
    // history (in the chat database) is still there.
    alice.send_control('c').expect("ctrl-c");
    wait_exit(&alice, "Ctrl-C");
    bob.send("@alice sent while you were away");
    bob.expect_item("@alice sent while you were away");
    let mut alice = alice_in_pty(&alice_db, None);
    alice
        .exp_string("bob> sent while you were away")
        .expect("the message that waited");
    // The prompt was "> " (no chat) when Bob's message came: a plain line is not sent to
    // him unseen.
    alice.send_line("typed before looking").expect("send");
    alice
        .exp_string("not sent: no chat was open when you typed it; lines now go to @bob")
        .expect("not sent");
    // History from the earlier run: two lines up.
    alice.send("\x1b[A\x1b[A").expect("up, up");
    alice.send("\r").expect("enter");
    alice.flush().expect("flush");
    next_from_alice(&mut bob, "last before quitting");
    sent_and_prompt(&mut alice, "last before quitting");

    // Ctrl-D on an empty line quits too.
    alice.send_control('d').expect("ctrl-d");
    wait_exit(&alice, "Ctrl-D");
    bob.send("@alice and again");
    bob.expect_item("@alice and again");
    let mut alice = ChatProc::start("alice", &alice_db, None, None);
    alice.expect_item("bob> and again");
    alice.quit();
    bob.quit();
}
