//! The journal store with queues that empty and fill again: an emptied queue keeps its
//! directory, state and journal (as the reference's), so the next message is an append; its
//! journal is removed and its state backed up only when it is idle or at start-up.
//!
//! `cargo test -p smp-server --release --test journal_idle -- --nocapture` also prints what a
//! message costs on an idle and on a busy queue (no timing is asserted).

use std::path::Path;
use std::time::Instant;

use smp_server::msg_journal::{queue_dir, state_path, JournalConfig, MsgJournal, QueueState};
use smp_server::msg_store::{Message, MessageKind, MsgStore, WriteOutcome};

fn msg(i: u32) -> Message {
    let mut id = vec![0u8; 24];
    id[..4].copy_from_slice(&i.to_be_bytes());
    Message {
        id,
        ts: 1_700_000_000 + i64::from(i),
        kind: MessageKind::Message {
            notification: false,
            body: vec![b'x'; 200],
        },
    }
}

fn rid(i: u32) -> Vec<u8> {
    let mut r = vec![7u8; 24];
    r[..4].copy_from_slice(&i.to_be_bytes());
    r
}

/// Microseconds per call of `f` over `n` calls.
fn per_call(n: u32, mut f: impl FnMut(u32)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// What a message costs (append, then acknowledgement) on queues that are empty before each
/// message, against a queue that always has messages pending. Printed, not asserted; the
/// messages all arrive.
#[test]
fn cost_of_a_message_to_an_idle_and_to_a_busy_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("messages");
    let (mut j, _) = MsgJournal::open(&root, []).expect("open");
    let queues = 200u32;
    let rounds = 5u32;
    // Each queue gets its first message (its directory is made), then it is emptied.
    let first = per_call(queues, |q| j.append(&rid(q), &msg(q)).expect("append"));
    for q in 0..queues {
        j.consumed(&rid(q), 1).expect("ack");
    }
    let (mut append, mut ack) = (0.0, 0.0);
    for r in 1..=rounds {
        append += per_call(queues, |q| {
            j.append(&rid(q), &msg(r * queues + q)).expect("append")
        });
        ack += per_call(queues, |q| j.consumed(&rid(q), 1).expect("ack"));
    }
    let (append, ack) = (append / f64::from(rounds), ack / f64::from(rounds));

    let busy = rid(u32::MAX);
    for i in 0..10 {
        j.append(&busy, &msg(i)).expect("append");
    }
    let n = 2000;
    let busy_append = per_call(n, |i| j.append(&busy, &msg(10 + i)).expect("append"));
    let busy_ack = per_call(n, |_| j.consumed(&busy, 1).expect("ack"));
    // Idle queues whose files were closed (more queues than kept open): each message opens
    // the queue's state, starts a new journal and deletes the old one.
    let other = dir.path().join("closed");
    let cfg = JournalConfig {
        max_open_queues: 16,
        ..JournalConfig::default()
    };
    let (mut k, _) = MsgJournal::open_with(&other, [], cfg).expect("open");
    for q in 0..queues {
        k.append(&rid(q), &msg(q)).expect("append");
        k.consumed(&rid(q), 1).expect("ack");
    }
    let reopen = per_call(queues, |q| {
        k.append(&rid(q), &msg(queues + q)).expect("append")
    });
    println!(
        "journal cost per message, us: first message {first:.1}; idle queue append {append:.1} + ack {ack:.1}; \
         idle queue with closed files append {reopen:.1}; busy queue append {busy_append:.1} + ack {busy_ack:.1}"
    );
    drop(j);
    let (_, restored) =
        MsgJournal::open(&root, (0..queues).map(rid).chain([busy.clone()])).expect("reopen");
    assert_eq!(restored.len(), 1, "only the busy queue has messages");
    assert_eq!(restored.first().map(|(_, m)| m.len()), Some(10));
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn last_state(dir: &Path, rid: &[u8]) -> QueueState {
    let text = std::fs::read_to_string(state_path(dir, rid)).expect("state");
    QueueState::parse(text.lines().last().expect("a line").as_bytes()).expect("parses")
}

fn journals(dir: &Path) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|f| f.starts_with("messages."))
        .collect()
}

fn inode(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).expect("directory").ino()
}

#[test]
fn an_emptied_queue_keeps_its_files_and_the_next_message_is_appended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    let a = rid(1);
    j.append(&a, &msg(1)).expect("append");
    j.consumed(&a, 1).expect("ack");
    let qdir = queue_dir(dir.path(), &a);
    let (ino, names) = (inode(&qdir), files(&qdir));
    let st = last_state(&qdir, &a);
    assert_eq!((st.size, st.read.msg_pos, st.write.msg_pos), (0, 1, 1));
    assert_eq!(names.len(), 2, "the journal and the state: {names:?}");
    for i in 2..5 {
        j.append(&a, &msg(i)).expect("append");
        j.consumed(&a, 1).expect("ack");
    }
    j.append(&a, &msg(5)).expect("append");
    assert_eq!(inode(&qdir), ino, "the same directory");
    assert_eq!(files(&qdir), names, "the same files");
    let now = last_state(&qdir, &a);
    assert_eq!(now.write.id, st.write.id, "the same journal");
    assert_eq!((now.size, now.read.msg_pos, now.write.msg_pos), (1, 4, 5));
    drop(j);
    let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a, vec![msg(5)])]);
}

#[test]
fn an_emptied_queue_whose_files_were_closed_opens_them_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = JournalConfig {
        max_open_queues: 1,
        ..JournalConfig::default()
    };
    let (mut j, _) = MsgJournal::open_with(dir.path(), [], cfg).expect("open");
    let (a, b) = (rid(1), rid(2));
    j.append(&a, &msg(1)).expect("append");
    j.consumed(&a, 1).expect("ack");
    let qdir = queue_dir(dir.path(), &a);
    let (ino, names, old) = (inode(&qdir), files(&qdir), last_state(&qdir, &a));
    // Another queue's files are opened: the empty queue's are closed, it stays in memory.
    j.append(&b, &msg(2)).expect("append");
    assert!(j.contains(&a) && j.contains(&b));
    assert_eq!(j.open_queues(), 1);
    // Its next message is appended to its journal.
    j.append(&a, &msg(3)).expect("append");
    assert_eq!(j.open_queues(), 1);
    assert_eq!((inode(&qdir), files(&qdir)), (ino, names));
    let now = last_state(&qdir, &a);
    assert_eq!(now.write.id, old.write.id);
    assert_eq!((now.size, now.read.msg_pos, now.write.msg_pos), (1, 1, 2));
    drop(j);
    let (_, mut restored) = MsgJournal::open(dir.path(), [a.clone(), b.clone()]).expect("reopen");
    restored.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(restored, vec![(a, vec![msg(3)]), (b, vec![msg(2)])]);
}

#[test]
fn a_state_left_in_the_directory_of_a_queue_not_in_memory_is_continued_with_a_new_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = rid(1);
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    j.append(&a, &msg(1)).expect("append");
    j.consumed(&a, 1).expect("ack");
    let qdir = queue_dir(dir.path(), &a);
    let old = last_state(&qdir, &a);
    drop(j);
    // Opened without the queue (as the journal commands do): its files are left as they are.
    let (mut j, restored) = MsgJournal::open(dir.path(), []).expect("open");
    assert!(restored.is_empty());
    let ino = inode(&qdir);
    // Its next message: a new journal in the same directory, the old one deleted, the state
    // file continued with the new journal's empty state, then the message (the reference's
    // `openMsgQueue` for a write of an empty queue).
    j.append(&a, &msg(3)).expect("append");
    assert_eq!(inode(&qdir), ino);
    let now = last_state(&qdir, &a);
    assert_ne!(now.write.id, old.write.id);
    assert_eq!(
        journals(&qdir),
        vec![format!("messages.{}.log", now.write.id)]
    );
    let text = std::fs::read_to_string(state_path(&qdir, &a)).expect("state");
    let lines: Vec<&str> = text.lines().collect();
    let fresh = QueueState::new(now.write.id.clone()).to_line();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines.get(2), Some(&fresh.as_str()));
    assert_eq!((now.size, now.read.msg_pos), (1, 0));
    drop(j);
    let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a, vec![msg(3)])]);
}

#[test]
fn idle_queues_are_closed_when_messages_expire_and_an_empty_ones_journal_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = JournalConfig {
        idle_interval: 0,
        ..JournalConfig::default()
    };
    let (journal, _) = MsgJournal::open_with(dir.path(), [], cfg.clone()).expect("open");
    let mut store = MsgStore::new(128);
    store.set_journal(journal);
    let (a, c) = (rid(1), rid(3));
    for m in [msg(1), msg(2)] {
        assert!(matches!(store.write(&a, m), WriteOutcome::Stored { .. }));
    }
    assert!(matches!(
        store.write(&c, msg(9)),
        WriteOutcome::Stored { .. }
    ));
    // Old messages expire: queue a is left empty, c keeps its message (a later one).
    assert_eq!(store.expire_all(1_700_000_003), 2);
    let j = store.journal_mut().expect("journal");
    assert!(!j.contains(&a), "closed");
    assert!(
        j.contains(&c),
        "a queue with messages stays, its files closed"
    );
    assert_eq!(j.open_queues(), 0);
    let adir = queue_dir(dir.path(), &a);
    let names = files(&adir);
    assert_eq!(names.len(), 1, "only the state backup: {names:?}");
    assert!(names.iter().all(|n| n.ends_with("Z.bak")), "{names:?}");
    // The next message starts a state file and a journal in the directory.
    assert!(matches!(
        store.write(&a, msg(20)),
        WriteOutcome::Stored { was_empty: true }
    ));
    assert!(matches!(
        store.write(&c, msg(21)),
        WriteOutcome::Stored { .. }
    ));
    let st = last_state(&adir, &a);
    assert_eq!(st.size, 1);
    let text = std::fs::read_to_string(state_path(&adir, &a)).expect("state");
    assert_eq!(text.lines().count(), 1, "{text}");
    drop(store);
    let (_, mut restored) =
        MsgJournal::open_with(dir.path(), [a.clone(), c.clone()], cfg).expect("reopen");
    restored.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        restored,
        vec![(a, vec![msg(20)]), (c, vec![msg(9), msg(21)])]
    );
}
