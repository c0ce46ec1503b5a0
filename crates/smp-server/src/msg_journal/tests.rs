use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use simplex_encoding::string::base64url_encode;

use crate::msg_store::{Message, MessageKind};

use super::*;

fn msg(i: u8) -> Message {
    Message {
        id: vec![i; 24],
        ts: 1_700_000_000 + i64::from(i),
        kind: MessageKind::Message {
            notification: i % 2 == 0,
            body: vec![b'a' + i % 26; usize::from(i) + 1],
        },
    }
}

fn line_len(m: &Message) -> u64 {
    journal_line(m).len() as u64 + 1
}

fn small() -> JournalConfig {
    JournalConfig {
        max_msg_count: 4,
        max_state_lines: 2,
        ..JournalConfig::default()
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn last_state_line(dir: &Path, rid: &[u8]) -> String {
    let text = fs::read_to_string(state_path(dir, rid)).expect("state");
    text.lines().last().expect("a line").to_owned()
}

#[test]
fn directories_split_the_padded_id_in_five_parts() {
    let rid: Vec<u8> = (1..=24).collect();
    assert_eq!(
        queue_dir(Path::new("m"), &rid),
        Path::new("m/AQ/ID/BA/UG/BwgJCgsMDQ4PEBESExQVFhcY")
    );
    // Padding is kept in the last part; a short ID has fewer parts.
    assert_eq!(
        queue_dir(Path::new("m"), &[1, 2, 3, 4, 5]),
        Path::new("m/AQ/ID/BA/U=")
    );
    assert_eq!(queue_dir(Path::new("m"), &[1]), Path::new("m/AQ/=="));
    assert_eq!(
        state_path(Path::new("d"), &rid),
        Path::new("d/queue_state.AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY.log")
    );
    assert_eq!(new_journal_id().len(), 16);
}

#[test]
fn state_lines_round_trip_and_parse_as_the_reference_does() {
    let line =
        "write=AAAAAAAAAAAAAAAA,2,2,200,200 read=BBBBBBBBBBBBBBBB,1,3,90,270 canWrite=F size=4";
    let st = QueueState::parse(line.as_bytes()).expect("parses");
    assert_eq!(st.write.id, "AAAAAAAAAAAAAAAA");
    assert_eq!(
        (
            st.read.msg_pos,
            st.read.msg_count,
            st.read.byte_pos,
            st.read.byte_count
        ),
        (1, 3, 90, 270)
    );
    assert!(!st.can_write);
    assert_eq!(st.size, 4);
    assert!(st.is_valid());
    assert_eq!(st.to_line(), line);
    // Not a state line: trailing text, missing fields, bad flag, signed positions.
    for bad in [
        "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T size=0 ",
        "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T",
        "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=X size=0",
        "write=a,0,0,0,-1 read=a,0,0,0,0 canWrite=T size=0",
        "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T size=-1",
        "write=a,0,0,0 read=a,0,0,0,0 canWrite=T size=0",
    ] {
        assert_eq!(QueueState::parse(bad.as_bytes()), None, "{bad}");
    }
    let plus = QueueState::parse(b"write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T size=+0");
    assert_eq!(plus, Some(QueueState::new("a".into())));
    // Inconsistent: the size disagrees with the positions.
    let mut st = QueueState::new("a".into());
    st.size = 1;
    assert!(!st.is_valid());
}

#[test]
fn message_lines_as_the_reference_writes_and_reads_them() {
    let m = Message {
        id: vec![0; 24],
        ts: 1_700_000_000,
        kind: MessageKind::Message {
            notification: true,
            body: b"hi".to_vec(),
        },
    };
    assert_eq!(
        journal_line(&m),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 1700000000 flags=T aGk="
    );
    assert_eq!(
        parse_journal_line(journal_line(&m).as_bytes()),
        Some(m.clone())
    );
    let q = Message {
        id: vec![0; 24],
        ts: 5,
        kind: MessageKind::Quota,
    };
    assert_eq!(journal_line(&q), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 5 quota");
    assert_eq!(parse_journal_line(journal_line(&q).as_bytes()), Some(q));
    // No flags (older lines), longer flags, unpadded body.
    let plain = parse_journal_line(b"AAAA 7 aGk").expect("no flags");
    assert_eq!(
        plain.kind,
        MessageKind::Message {
            notification: false,
            body: b"hi".to_vec()
        }
    );
    assert!(parse_journal_line(b"AAAA 7 flags=TF aGk=").is_some());
    for bad in [
        &b"AAAA 7 flags=F "[..],
        b"AAAA 7",
        b"AAAA x aGk=",
        b"AAAA 7 aGk= ",
        b" 7 aGk=",
    ] {
        assert_eq!(
            parse_journal_line(bad),
            None,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn appended_messages_survive_reopen_and_the_files_are_the_references() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (vec![1u8; 24], vec![2u8; 24]);
    let (mut j, restored) = MsgJournal::open(dir.path(), [a.clone(), b.clone()]).expect("open");
    assert!(restored.is_empty());
    for i in 0..3 {
        j.append(&a, &msg(i)).expect("append");
    }
    j.append(&b, &msg(9)).expect("append");
    j.consumed(&a, 1).expect("ack");
    j.consumed(&b, 1).expect("ack");
    assert_eq!(j.len(), 2, "an emptied queue's journal is kept");
    let bdir = queue_dir(dir.path(), &b);
    let bid = j.state(&b).expect("state").write.id.clone();
    assert_eq!(files(&bdir).len(), 2, "its journal and state");
    assert!(last_state_line(&bdir, &b).ends_with(" size=0"));
    let adir = queue_dir(dir.path(), &a);
    let id = j.state(&a).expect("state").write.id.clone();
    drop(j);

    assert_eq!(
        files(&adir),
        vec![
            format!("messages.{id}.log"),
            format!("queue_state.{}.log", base64url_encode(&a))
        ]
    );
    let journal = fs::read_to_string(journal_path(&adir, &id)).expect("journal");
    let expected: String = (0..3).map(|i| journal_line(&msg(i)) + "\n").collect();
    assert_eq!(journal, expected);
    let total: u64 = (0..3).map(|i| line_len(&msg(i))).sum();
    let first = line_len(&msg(0));
    let state = fs::read_to_string(state_path(&adir, &a)).expect("state");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!("write={id},1,1,{first},{first} read={id},0,1,0,{first} canWrite=T size=1"),
            format!(
                "write={id},2,2,{s},{s} read={id},0,2,0,{s} canWrite=T size=2",
                s = first + line_len(&msg(1))
            ),
            format!("write={id},3,3,{total},{total} read={id},0,3,0,{total} canWrite=T size=3"),
            format!(
                "write={id},3,3,{total},{total} read={id},1,3,{first},{total} canWrite=T size=2"
            ),
        ]
    );

    let (j, restored) = MsgJournal::open(dir.path(), [a.clone(), b.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a.clone(), vec![msg(1), msg(2)])]);
    // The empty queue at start-up: its journal deleted, its state backed up.
    assert!(!j.contains(&b));
    let bfiles = files(&bdir);
    assert_eq!(bfiles.len(), 1, "{bfiles:?}");
    assert!(!journal_path(&bdir, &bid).exists());
    assert!(bfiles.iter().all(|f| f.ends_with("Z.bak")), "{bfiles:?}");
    assert_eq!(
        j.state(&a).map(QueueState::to_line),
        lines.last().map(|l| (*l).to_owned())
    );
    assert_eq!(state.lines().count(), 4, "nothing written at open");
}

#[test]
fn a_new_write_journal_after_the_limit_and_the_read_one_deleted_when_read_past() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = vec![3u8; 24];
    let (mut j, _) = MsgJournal::open_with(dir.path(), [], small()).expect("open");
    for i in 0..6 {
        j.append(&a, &msg(i)).expect("append");
    }
    let st = j.state(&a).expect("state").clone();
    assert_ne!(st.read.id, st.write.id, "a second journal after 4 messages");
    assert_eq!((st.read.msg_count, st.write.msg_count, st.size), (4, 2, 6));
    let adir = queue_dir(dir.path(), &a);
    assert_eq!(files(&adir).len(), 3);
    // Reopened with two journals: all six, in order.
    drop(j);
    let (mut j, restored) =
        MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
    assert_eq!(restored, vec![(a.clone(), (0..6).map(msg).collect())]);
    j.consumed(&a, 3).expect("ack 3");
    assert!(journal_path(&adir, &st.read.id).exists());
    j.consumed(&a, 1).expect("ack the 4th");
    assert!(
        !journal_path(&adir, &st.read.id).exists(),
        "read journal deleted"
    );
    let now = j.state(&a).expect("state").clone();
    assert_eq!(now.read.id, st.write.id);
    assert_eq!((now.read.msg_pos, now.read.msg_count, now.size), (0, 2, 2));
    assert_eq!(last_state_line(&adir, &a), now.to_line());
    // The write journal is now also the read one: it takes messages up to the limit.
    j.append(&a, &msg(6)).expect("append");
    drop(j);
    let (_, restored) = MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
    assert_eq!(restored, vec![(a, vec![msg(4), msg(5), msg(6)])]);
}

#[test]
fn a_torn_message_is_cut_off_and_the_next_one_follows_the_last_whole_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = vec![4u8; 24];
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    j.append(&a, &msg(1)).expect("append");
    let id = j.state(&a).expect("state").write.id.clone();
    drop(j);
    let adir = queue_dir(dir.path(), &a);
    let path = journal_path(&adir, &id);
    append()
        .open(&path)
        .expect("journal")
        .write_all(b"AAAA 17000")
        .expect("torn");
    let (mut j, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a.clone(), vec![msg(1)])]);
    assert_eq!(
        fs::metadata(&path).expect("journal").len(),
        line_len(&msg(1))
    );
    j.append(&a, &msg(2)).expect("append");
    drop(j);
    let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a, vec![msg(1), msg(2)])]);
}

#[test]
fn a_bad_last_state_line_uses_the_one_before_and_backs_the_file_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = vec![5u8; 24];
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    j.append(&a, &msg(1)).expect("append");
    let good = j.state(&a).expect("state").to_line();
    drop(j);
    let adir = queue_dir(dir.path(), &a);
    let spath = state_path(&adir, &a);
    append()
        .open(&spath)
        .expect("state")
        .write_all(b"write=xyz,1,1\n")
        .expect("bad line");
    // An old backup, beyond the two kept, is removed; a recent one is kept.
    let old = with_suffix(&spath, ".2020-01-01T00:00:00.000000Z.bak");
    let old2 = with_suffix(&spath, ".2020-01-02T00:00:00Z.bak");
    let recent = with_suffix(
        &spath,
        &format!(
            ".{}.bak",
            crate::store_log::iso8601(now_nanos() - 1_000_000_000)
        ),
    );
    for f in [&old, &old2, &recent] {
        fs::write(f, b"x\n").expect("backup");
    }
    let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a.clone(), vec![msg(1)])]);
    assert_eq!(
        fs::read_to_string(&spath).expect("state"),
        format!("{good}\n")
    );
    let names = files(&adir);
    let backups: Vec<&String> = names.iter().filter(|n| n.ends_with(".bak")).collect();
    assert_eq!(backups.len(), 2, "{names:?}");
    assert!(
        !old.exists() && !old2.exists() && recent.exists(),
        "{names:?}"
    );
    let timed = backups
        .iter()
        .find(|n| !recent.ends_with(n.as_str()))
        .expect("new backup");
    assert!(fs::read_to_string(adir.join(timed.as_str()))
        .expect("backup")
        .ends_with("write=xyz,1,1\n"));
}

#[test]
fn only_the_tail_of_a_state_file_is_read_and_an_interrupted_backup_is_taken_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spath = dir.path().join("queue_state.x.log");
    let st = QueueState::new("j".into());
    // Garbage beyond the 512-byte tail does not matter.
    let mut text = vec![b'#'; 2000];
    text.extend_from_slice(format!("\n{}\n", st.to_line()).as_bytes());
    fs::write(with_suffix(&spath, ".bak"), &text).expect("temp backup");
    let (got, backup) = read_queue_state(&spath, &JournalConfig::default()).expect("read");
    assert_eq!(got, Some(st));
    assert!(!backup);
    assert!(spath.exists() && !with_suffix(&spath, ".bak").exists());
    // Two bad lines, or an inconsistent state, are errors; one bad line alone is none.
    fs::write(&spath, b"a\nb\n").expect("state");
    assert!(read_queue_state(&spath, &JournalConfig::default()).is_err());
    fs::write(
        &spath,
        b"write=j,0,0,0,0 read=j,0,0,0,0 canWrite=T size=3\n",
    )
    .expect("state");
    assert!(read_queue_state(&spath, &JournalConfig::default()).is_err());
    fs::write(&spath, b"bad").expect("state");
    assert_eq!(
        read_queue_state(&spath, &JournalConfig::default()).expect("read"),
        (None, true)
    );
    // More lines than the limit in the tail: back up.
    let line = format!("{}\n", QueueState::new("j".into()).to_line());
    fs::write(&spath, line.repeat(3)).expect("state");
    assert!(read_queue_state(&spath, &small()).expect("read").1);
}

#[test]
fn a_missing_read_journal_continues_with_the_write_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = vec![6u8; 24];
    let (mut j, _) = MsgJournal::open_with(dir.path(), [], small()).expect("open");
    for i in 0..6 {
        j.append(&a, &msg(i)).expect("append");
    }
    let st = j.state(&a).expect("state").clone();
    drop(j);
    let adir = queue_dir(dir.path(), &a);
    fs::remove_file(journal_path(&adir, &st.read.id)).expect("remove read journal");
    let (j, restored) = MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
    assert_eq!(restored, vec![(a.clone(), vec![msg(4), msg(5)])]);
    let now = j.state(&a).expect("state");
    assert_eq!(now.read.id, st.write.id);
    assert_eq!(
        last_state_line(&adir, &a),
        now.to_line(),
        "recovered state saved"
    );
}

#[test]
fn unknown_queues_are_left_alone_and_unparsable_journals_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, other) = (vec![7u8; 24], vec![8u8; 24]);
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    for i in 0..3 {
        j.append(&a, &msg(i)).expect("append");
    }
    j.append(&other, &msg(9)).expect("append");
    let st = j.state(&a).expect("state").clone();
    drop(j);
    // The middle line is damaged (same length, so positions still agree).
    let adir = queue_dir(dir.path(), &a);
    let path = journal_path(&adir, &st.write.id);
    let mut text = fs::read(&path).expect("journal");
    let at = usize::try_from(line_len(&msg(0))).expect("small");
    if let Some(b) = text.get_mut(at) {
        *b = b' ';
    }
    fs::write(&path, &text).expect("damage");
    let (j, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a.clone(), vec![msg(0), msg(2)])]);
    assert!(!path.exists(), "rewritten under a new journal ID");
    let now = j.state(&a).expect("state");
    assert_eq!((now.size, now.read.msg_pos), (2, 0));
    assert!(
        queue_dir(dir.path(), &other).is_dir(),
        "not in the store: untouched"
    );
}

/// A handle whose every write fails with "no space left on device".
fn full_device() -> File {
    append().open("/dev/full").expect("/dev/full")
}

#[test]
fn a_failed_append_leaves_nothing_behind_and_the_next_one_starts_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    let a = vec![9u8; 24];
    j.append(&a, &msg(1)).expect("append");
    let adir = queue_dir(dir.path(), &a);
    let id = j.state(&a).expect("state").write.id.clone();
    let (mpath, spath) = (journal_path(&adir, &id), state_path(&adir, &a));
    let sizes = || {
        (
            fs::metadata(&mpath).expect("messages").len(),
            fs::metadata(&spath).expect("state").len(),
        )
    };
    let before = (sizes(), j.state(&a).cloned());

    // The message file fails.
    let q = j.queues.get_mut(&a).expect("queue");
    let h = q.handles.as_mut().expect("open");
    let good = std::mem::replace(&mut h.write, full_device());
    assert!(
        j.append(&a, &msg(2)).is_err(),
        "the write error is returned"
    );
    let q = j.queues.get_mut(&a).expect("queue");
    q.handles.as_mut().expect("open").write = good;
    assert_eq!((sizes(), j.state(&a).cloned()), before);

    // The state file fails after the message line was written: the line is cut off.
    let q = j.queues.get_mut(&a).expect("queue");
    let h = q.handles.as_mut().expect("open");
    let good = std::mem::replace(&mut h.state, full_device());
    assert!(j.append(&a, &msg(3)).is_err());
    let q = j.queues.get_mut(&a).expect("queue");
    q.handles.as_mut().expect("open").state = good;
    assert_eq!(
        (sizes(), j.state(&a).cloned()),
        before,
        "no message line without its state line"
    );

    j.append(&a, &msg(4)).expect("append after the failures");
    drop(j);
    let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a, vec![msg(1), msg(4)])]);
}

#[test]
fn a_failed_append_into_a_new_write_journal_removes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut j, _) = MsgJournal::open_with(dir.path(), [], small()).expect("open");
    let a = vec![10u8; 24];
    for i in 0..4 {
        j.append(&a, &msg(i)).expect("append");
    }
    let before = j.state(&a).cloned();
    let q = j.queues.get_mut(&a).expect("queue");
    let h = q.handles.as_mut().expect("open");
    let good = std::mem::replace(&mut h.state, full_device());
    assert!(j.append(&a, &msg(4)).is_err());
    let q = j.queues.get_mut(&a).expect("queue");
    q.handles.as_mut().expect("open").state = good;
    assert_eq!(j.state(&a).cloned(), before);
    assert_eq!(
        files(&queue_dir(dir.path(), &a)).len(),
        2,
        "no second journal left"
    );
    j.append(&a, &msg(5)).expect("append");
    drop(j);
    let (_, restored) = MsgJournal::open_with(dir.path(), [a.clone()], small()).expect("reopen");
    assert_eq!(
        restored,
        vec![(a, vec![msg(0), msg(1), msg(2), msg(3), msg(5)])]
    );
}

#[test]
fn a_journal_that_cannot_be_created_refuses_the_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    let a = vec![11u8; 24];
    // A file where the queue's directory would go (permissions would not stop root).
    let blocker = queue_dir(dir.path(), &a);
    fs::create_dir_all(blocker.parent().expect("parent")).expect("parents");
    fs::write(&blocker, b"").expect("blocker");
    assert!(j.append(&a, &msg(1)).is_err());
    assert!(!j.contains(&a));
    fs::remove_file(&blocker).expect("unblock");
    j.append(&a, &msg(2)).expect("append");
    drop(j);
    let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("reopen");
    assert_eq!(restored, vec![(a, vec![msg(2)])]);
}

#[test]
fn queues_of_the_earlier_one_level_layout_are_moved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = vec![13u8; 24];
    let old = dir.path().join(base64url_encode(&a));
    fs::create_dir_all(&old).expect("dir");
    let lines: String = (1..=3)
        .map(|i| crate::store_log::message_line(&a, &msg(i)) + "\n")
        .collect();
    fs::write(old.join("messages.00000000000000ab.log"), lines).expect("journal");
    fs::write(
        state_path(&old, &a),
        "write=00000000000000ab,3 read=00000000000000ab,0 size=3\n\
         write=00000000000000ab,3 read=00000000000000ab,1 size=2\n",
    )
    .expect("state");
    let (_, restored) = MsgJournal::open(dir.path(), [a.clone()]).expect("open");
    assert_eq!(restored, vec![(a.clone(), vec![msg(2), msg(3)])]);
    assert!(!old.exists());
    assert!(queue_dir(dir.path(), &a).is_dir());
}

#[test]
fn only_the_most_recently_opened_queues_keep_their_files_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = JournalConfig {
        max_open_queues: 2,
        ..small()
    };
    let (mut j, _) = MsgJournal::open_with(dir.path(), [], cfg.clone()).expect("open");
    let rids: Vec<Vec<u8>> = (20..25u8).map(|i| vec![i; 24]).collect();
    for _ in 0..3 {
        for (k, r) in rids.iter().enumerate() {
            j.append(r, &msg(u8::try_from(k).expect("small")))
                .expect("append");
            assert!(j.open_queues() <= 2);
        }
    }
    let open = |j: &MsgJournal| {
        rids.iter()
            .filter(|r| j.queues.get(*r).is_some_and(|q| q.handles.is_some()))
            .count()
    };
    assert_eq!(open(&j), 2);
    assert!(j.queues.get(&rids[0]).is_some_and(|q| q.handles.is_none()));
    // A closed queue is opened again to be read and written (across a journal switch).
    j.consumed(&rids[0], 1).expect("ack");
    for k in 0..3 {
        j.append(&rids[0], &msg(30 + k)).expect("append");
    }
    assert_eq!((j.open_queues(), open(&j)), (2, 2));
    j.delete_queue(&rids[0]).expect("delete");
    assert!(j.open_queues() <= 2 && j.open_queues() == open(&j));
    drop(j);
    let (j, mut restored) = MsgJournal::open_with(dir.path(), rids.clone(), cfg).expect("reopen");
    restored.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(restored.len(), 4);
    for (k, (r, msgs)) in restored.iter().enumerate() {
        assert_eq!(r, &rids[k + 1]);
        let m = msg(u8::try_from(k + 1).expect("small"));
        assert_eq!(msgs, &vec![m.clone(), m.clone(), m]);
    }
    assert_eq!(j.open_queues(), 2);
}

#[test]
fn a_deleted_queue_loses_its_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut j, _) = MsgJournal::open(dir.path(), []).expect("open");
    let a = vec![12u8; 24];
    j.append(&a, &msg(1)).expect("append");
    j.delete_queue(&a).expect("delete");
    assert!(!queue_dir(dir.path(), &a).exists());
    // A left-over directory of a queue without a journal open goes too.
    fs::create_dir_all(queue_dir(dir.path(), &a)).expect("dir");
    j.delete_queue(&a).expect("delete");
    assert!(!queue_dir(dir.path(), &a).exists());
}
