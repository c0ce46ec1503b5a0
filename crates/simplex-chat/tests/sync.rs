//! Ratchet re-synchronisation end to end, as the reference's `testSyncRatchet`: Bob's
//! databases are put back to a copy taken before four messages, so his ratchet with Alice
//! is behind hers. Alice's next message fails to decrypt: Bob is told the connection is out
//! of sync and how to fix it, and can send nothing; `/sync alice` agrees new ratchets and
//! both sides print the reference's lines; then messages flow again, and `/tail` keeps the
//! events as items.
//!
//! The relay is this test executable started again as a child process (see `e2e.rs`).

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Not a test of its own: the relay child process.
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// The database files of a client with this prefix (each may be absent).
fn db_files(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for db in ["_chat.db", "_agent.db"] {
        for ext in ["", "-wal", "-shm"] {
            out.push(PathBuf::from(format!("{}{db}{ext}", prefix.display())));
        }
    }
    out
}

/// Copies the client's database files (the client stopped) into `to`.
fn backup(prefix: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("backup dir");
    for f in db_files(prefix) {
        if f.exists() {
            let name = f.file_name().expect("file name");
            std::fs::copy(&f, to.join(name)).expect("backup");
        }
    }
}

/// Puts the copy back in place of the client's database files (the client stopped).
fn restore(prefix: &Path, from: &Path) {
    for f in db_files(prefix) {
        let name = f.file_name().expect("file name");
        let saved = from.join(name);
        if saved.exists() {
            std::fs::copy(&saved, &f).expect("restore");
        } else if f.exists() {
            std::fs::remove_file(&f).expect("remove a newer WAL file");
        }
    }
}

#[test]
fn a_restored_database_is_out_of_sync_until_sync_then_messages_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let srv = relay.address.as_str();
    let alice_db = prefix(dir.path(), "alice");
    let bob_db = prefix(dir.path(), "bob");
    let saved = dir.path().join("bob-backup");

    let mut alice = new_user("alice", &alice_db, Some(srv), None);
    let mut bob = new_user("bob", &bob_db, Some(srv), None);
    alice.send("/c");
    let (link, _) = read_invitation(&mut alice);
    // Bob pastes it in the `simplex:` form, which names the relay's host in `h=`.
    let rest = link.strip_prefix(SHORT_INVITATION).expect("a short link");
    let (fragment, query) = rest.split_once('?').expect("a query");
    let link = format!("simplex:/i#{fragment}?h=127.0.0.1&{query}");
    bob.send(&format!("/c {link}"));
    alice.expect("bob: contact is connected");
    bob.expect("alice: contact is connected");
    alice.send("@bob hi");
    bob.expect_item("alice> hi");
    alice.expect_receipt("@bob hi");
    bob.send("@alice hey");
    alice.expect_item("bob> hey");
    bob.expect_receipt("@alice hey");
    bob.quit();
    backup(&bob_db, &saved);

    // Four messages move both ratchets on.
    let mut bob = ChatProc::start("bob", &bob_db, None, None);
    for (from, to, n) in [("alice", "bob", "1"), ("bob", "alice", "2")]
        .into_iter()
        .chain([("alice", "bob", "3"), ("bob", "alice", "4")])
    {
        let (s, r) = if from == "alice" {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        s.send(&format!("@{to} {n}"));
        r.expect_item(&format!("{from}> {n}"));
        s.expect_receipt(&format!("@{to} {n}"));
    }
    bob.quit();

    // Bob is back on the old copy.
    restore(&bob_db, &saved);
    let mut bob = ChatProc::start("bob", &bob_db, None, None);
    bob.send("/sync alice");
    bob.expect("error: command is prohibited");
    alice.send("@bob 5");
    alice.expect_item("@bob 5");
    bob.expect("alice: decryption error (connection out of sync), synchronization required");
    bob.expect("use /sync alice to synchronize");
    bob.send("@alice 6");
    bob.expect("error: command is prohibited");

    bob.send("/sync alice");
    bob.expect("connection synchronization started");
    alice.expect("bob: connection synchronization agreed");
    bob.expect("alice: connection synchronization agreed");
    alice.expect("bob: connection synchronized");
    bob.expect("alice: connection synchronized");

    alice.send("@bob hello again");
    bob.expect_item("alice> hello again");
    alice.expect_receipt("@bob hello again");
    bob.send("@alice received!");
    alice.expect_item("bob> received!");
    bob.expect_receipt("@alice received!");

    bob.send("/tail @alice 6");
    bob.expect_item("alice> decryption error, possibly due to the device change (header)");
    bob.expect_item("@alice connection synchronization started");
    bob.expect_item("alice> connection synchronization agreed");
    bob.expect_item("alice> connection synchronized");
    bob.expect_item("alice> hello again");
    bob.expect_marked("⩗", "@alice received!");
    alice.send("/tail @bob 4");
    alice.expect_item("bob> connection synchronization agreed");
    alice.expect_item("bob> connection synchronized");
    alice.expect_marked("⩗", "@bob hello again");
    alice.expect_item("bob> received!");
    bob.quit();
    alice.quit();
}
