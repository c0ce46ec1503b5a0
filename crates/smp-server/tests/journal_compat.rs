//! The journal message store's files against the reference's format, without the reference
//! binary: a `messages/` tree written by hand the way the reference's `Journal.hs` writes it
//! (its byte formats, spelled out here independently of `msg_journal`) is served by our server
//! in order, and the files our server writes are exactly the reference's lines.

mod common;

use std::path::{Path, PathBuf};

use common::{connect, new_queue, start_binary, Queue, Running};
use simplex_encoding::string::base64url_encode;
use smp_client::SmpClient;
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_proto::message::RcvMsgBody;

/// `smp-server init -y` in `dir`, with `store_messages = journal`.
fn init_journal(dir: &Path) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(["init", "-y"])
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("smp-server init");
    assert!(status.success());
    let ini = dir.join("cfg/smp-server.ini");
    let text = std::fs::read_to_string(&ini).expect("ini");
    let text = text.replacen(
        "\nstore_messages = memory\n",
        "\nstore_messages = journal\n",
        1,
    );
    assert!(text.contains("\nstore_messages = journal\n"), "{text}");
    std::fs::write(&ini, text).expect("write ini");
}

/// The queue's directory as the reference's `msgQueueDirectory` makes it (depth 5).
fn ref_queue_dir(dir: &Path, rid: &[u8]) -> PathBuf {
    let id = base64url_encode(rid);
    let (a, rest) = id.split_at(2);
    let (b, rest) = rest.split_at(2);
    let (c, rest) = rest.split_at(2);
    let (d, rest) = rest.split_at(2);
    dir.join("log/messages")
        .join(a)
        .join(b)
        .join(c)
        .join(d)
        .join(rest)
}

fn state_file(qdir: &Path, rid: &[u8]) -> PathBuf {
    qdir.join(format!("queue_state.{}.log", base64url_encode(rid)))
}

fn journal_file(qdir: &Path, jid: &str) -> PathBuf {
    qdir.join(format!("messages.{jid}.log"))
}

/// A message as the reference's journal holds it.
struct RefMsg {
    id: [u8; 24],
    ts: i64,
    notification: Option<bool>,
    body: Vec<u8>,
}

impl RefMsg {
    fn new(ts: i64, notification: Option<bool>, body: &str) -> RefMsg {
        RefMsg {
            id: rand::random(),
            ts,
            notification,
            body: body.as_bytes().to_vec(),
        }
    }

    /// `<msgId> <ts> flags=<T|F> <body>\n` (flags left out as older lines do when `None`).
    fn line(&self) -> String {
        let flags = match self.notification {
            Some(true) => "flags=T ",
            Some(false) => "flags=F ",
            None => "",
        };
        format!(
            "{} {} {flags}{}\n",
            base64url_encode(&self.id),
            self.ts,
            base64url_encode(&self.body)
        )
    }
}

fn journal_text(msgs: &[&RefMsg]) -> String {
    msgs.iter().map(|m| m.line()).collect()
}

fn len(s: &str) -> usize {
    s.len()
}

/// A 16-character journal ID (12 random bytes in base64url).
fn jid() -> String {
    base64url_encode(&rand::random::<[u8; 12]>())
}

/// A message as delivered: its ID, server time, flags and body.
type Got = (Vec<u8>, i64, bool, Vec<u8>);

/// The messages of `q` by `GET`, the first `ack_first` of them acknowledged: it stops at the
/// first one it does not acknowledge (or when the queue is empty).
async fn get_all(client: &SmpClient, q: &Queue, ack_first: usize) -> Vec<Got> {
    let mut out = Vec::new();
    loop {
        let Some(m) = client
            .get_message(&q.rcv_key, &q.rcv_id)
            .await
            .expect("GET")
        else {
            break;
        };
        let id = m.msg_id.as_slice().to_vec();
        match smp_client::decrypt_message(&q.dh_secret, &m).expect("decrypts") {
            RcvMsgBody::Data { ts, flags, body } => {
                out.push((id.clone(), ts.0, flags.notification, body));
            }
            RcvMsgBody::Quota { .. } => panic!("unexpected quota marker"),
        }
        if out.len() > ack_first {
            break;
        }
        client.ack(&q.rcv_key, &q.rcv_id, &id).await.expect("ACK");
    }
    out
}

fn expected(msgs: &[&RefMsg]) -> Vec<Got> {
    msgs.iter()
        .map(|m| {
            (
                m.id.to_vec(),
                m.ts,
                m.notification.unwrap_or(false),
                m.body.clone(),
            )
        })
        .collect()
}

async fn make_queues(s: &Running, n: usize) -> Vec<Queue> {
    let (alice, _events) = connect(&s.address()).await;
    let mut qs = Vec::new();
    for _ in 0..n {
        qs.push(new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await);
    }
    alice.close().await;
    qs
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messages_tree_written_as_the_reference_does_is_served_in_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    init_journal(dir);
    let mut s = start_binary(dir);
    let qs = make_queues(&s, 4).await;
    s.terminate();
    let t = now() - 100;

    // Queue 1: one journal; the first of three messages was read.
    let q1: Vec<RefMsg> = (1..=3)
        .map(|i| RefMsg::new(t + i, Some(i == 2), &format!("q1 m{i}")))
        .collect();
    let j1 = jid();
    let text = journal_text(&[&q1[0], &q1[1], &q1[2]]);
    let (l1, b) = (len(&q1[0].line()), len(&text));
    let d1 = ref_queue_dir(dir, &qs[0].rcv_id);
    std::fs::create_dir_all(&d1).expect("dir");
    std::fs::write(journal_file(&d1, &j1), &text).expect("journal");
    std::fs::write(
        state_file(&d1, &qs[0].rcv_id),
        format!(
            "write={j1},3,3,{b},{b} read={j1},0,3,0,{b} canWrite=T size=3\n\
             write={j1},3,3,{b},{b} read={j1},1,3,{l1},{b} canWrite=T size=2\n"
        ),
    )
    .expect("state");

    // Queue 2: a read journal of three (two read) and a write journal of two, one of them
    // without flags (as older lines are).
    let q2: Vec<RefMsg> = (1..=5)
        .map(|i| {
            RefMsg::new(
                t + i,
                if i == 4 { None } else { Some(false) },
                &format!("q2 m{i}"),
            )
        })
        .collect();
    let (jr, jw) = (jid(), jid());
    let rtext = journal_text(&[&q2[0], &q2[1], &q2[2]]);
    let wtext = journal_text(&[&q2[3], &q2[4]]);
    let read2 = len(&q2[0].line()) + len(&q2[1].line());
    let (br, bw) = (len(&rtext), len(&wtext));
    let d2 = ref_queue_dir(dir, &qs[1].rcv_id);
    std::fs::create_dir_all(&d2).expect("dir");
    std::fs::write(journal_file(&d2, &jr), &rtext).expect("read journal");
    std::fs::write(journal_file(&d2, &jw), &wtext).expect("write journal");
    std::fs::write(
        state_file(&d2, &qs[1].rcv_id),
        format!("write={jw},2,2,{bw},{bw} read={jr},2,3,{read2},{br} canWrite=T size=3\n"),
    )
    .expect("state");

    // Queue 3: a torn last line after two messages (the crash came before its state line).
    let q3: Vec<RefMsg> = (1..=2)
        .map(|i| RefMsg::new(t + i, Some(false), &format!("q3 m{i}")))
        .collect();
    let j3 = jid();
    let text = journal_text(&[&q3[0], &q3[1]]);
    let b3 = len(&text);
    let torn = RefMsg::new(t + 3, Some(false), "q3 torn").line();
    let d3 = ref_queue_dir(dir, &qs[2].rcv_id);
    std::fs::create_dir_all(&d3).expect("dir");
    std::fs::write(
        journal_file(&d3, &j3),
        format!("{text}{}", torn.get(..20).expect("part")),
    )
    .expect("journal");
    std::fs::write(
        state_file(&d3, &qs[2].rcv_id),
        format!("write={j3},2,2,{b3},{b3} read={j3},0,2,0,{b3} canWrite=T size=2\n"),
    )
    .expect("state");

    // Queue 4: the last state line is cut short; the line before it counts (the third
    // message, whose state line was torn, is cut off the journal).
    let q4: Vec<RefMsg> = (1..=3)
        .map(|i| RefMsg::new(t + i, Some(true), &format!("q4 m{i}")))
        .collect();
    let j4 = jid();
    let text = journal_text(&[&q4[0], &q4[1]]);
    let b4 = len(&text);
    let d4 = ref_queue_dir(dir, &qs[3].rcv_id);
    std::fs::create_dir_all(&d4).expect("dir");
    std::fs::write(journal_file(&d4, &j4), format!("{text}{}", q4[2].line())).expect("journal");
    std::fs::write(
        state_file(&d4, &qs[3].rcv_id),
        format!(
            "write={j4},1,1,{l},{l} read={j4},0,1,0,{l} canWrite=T size=1\n\
             write={j4},2,2,{b4},{b4} read={j4},0,2,0,{b4} canWrite=T size=2\n\
             write={j4},3,3,",
            l = len(&q4[0].line())
        ),
    )
    .expect("state");

    // A queue the store log does not know: left alone.
    let unknown_id = [0xEEu8; 24];
    let du = ref_queue_dir(dir, &unknown_id);
    std::fs::create_dir_all(&du).expect("dir");
    let unknown_state = state_file(&du, &unknown_id);
    std::fs::write(
        &unknown_state,
        "write=x,0,0,0,0 read=x,0,0,0,0 canWrite=T size=0\n",
    )
    .expect("state");

    let s = start_binary(dir);
    let printed = s.printed.join("\n");
    assert!(printed.contains("9 messages restored"), "{printed}");
    let (alice, _events) = connect(&s.address()).await;
    let (bob, _bob_events) = connect(&s.address()).await;

    assert_eq!(
        get_all(&alice, &qs[0], usize::MAX).await,
        expected(&[&q1[1], &q1[2]])
    );

    // Queue 2: once the last message of the read journal is acknowledged, that journal goes.
    assert_eq!(get_all(&alice, &qs[1], 0).await, expected(&[&q2[2]]));
    assert!(journal_file(&d2, &jr).exists());
    let m = alice
        .get_message(&qs[1].rcv_key, &qs[1].rcv_id)
        .await
        .expect("GET")
        .expect("the same message again");
    alice
        .ack(&qs[1].rcv_key, &qs[1].rcv_id, m.msg_id.as_slice())
        .await
        .expect("ACK");
    assert!(!journal_file(&d2, &jr).exists(), "read journal deleted");
    let state = std::fs::read_to_string(state_file(&d2, &qs[1].rcv_id)).expect("state");
    assert_eq!(
        state.lines().last(),
        Some(format!("write={jw},2,2,{bw},{bw} read={jw},0,2,0,{bw} canWrite=T size=2").as_str())
    );
    assert_eq!(
        get_all(&alice, &qs[1], usize::MAX).await,
        expected(&[&q2[3], &q2[4]])
    );
    // Emptied: its directory, journal and state stay (the next message is appended).
    let state = std::fs::read_to_string(state_file(&d2, &qs[1].rcv_id)).expect("state");
    assert_eq!(
        state.lines().last(),
        Some(
            format!("write={jw},2,2,{bw},{bw} read={jw},2,2,{bw},{bw} canWrite=T size=0").as_str()
        )
    );
    assert!(journal_file(&d2, &jw).exists());

    // Queue 3: the torn line is gone; a new message follows the last whole one.
    let flags = MsgFlags {
        notification: false,
    };
    bob.send_message(None, &qs[2].snd_id, flags, b"q3 after")
        .await
        .expect("SEND");
    let got = get_all(&alice, &qs[2], usize::MAX).await;
    assert_eq!(got.get(..2), Some(&expected(&[&q3[0], &q3[1]])[..]));
    assert_eq!(got.get(2).map(|g| g.3.as_slice()), Some(&b"q3 after"[..]));
    assert_eq!(got.len(), 3);

    // Queue 4: the two messages of the previous state line; the state file was backed up.
    let backups: Vec<String> = std::fs::read_dir(&d4)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let prefix = format!("queue_state.{}.log.", base64url_encode(&qs[3].rcv_id));
    assert!(
        backups.iter().all(|b| b.starts_with(&prefix)),
        "{backups:?}"
    );
    assert_eq!(
        get_all(&alice, &qs[3], usize::MAX).await,
        expected(&[&q4[0], &q4[1]])
    );

    assert_eq!(
        std::fs::read_to_string(&unknown_state).expect("left alone"),
        "write=x,0,0,0,0 read=x,0,0,0,0 canWrite=T size=0\n"
    );
    alice.close().await;
    bob.close().await;
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_our_server_writes_are_the_references_lines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    init_journal(dir);
    let mut s = start_binary(dir);
    let (alice, _events) = connect(&s.address()).await;
    let (bob, _bob_events) = connect(&s.address()).await;
    let q = new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await;
    let bodies: [&[u8]; 3] = [b"first", b"second message", b"3"];
    for (i, body) in bodies.iter().enumerate() {
        let flags = MsgFlags {
            notification: i == 1,
        };
        bob.send_message(None, &q.snd_id, flags, body)
            .await
            .expect("SEND");
    }
    let first = get_all(&alice, &q, 1).await;
    assert_eq!(first.len(), 2, "one acknowledged, the next one seen");
    alice.close().await;
    bob.close().await;
    s.kill9();

    let qdir = ref_queue_dir(dir, &q.rcv_id);
    let mut names: Vec<String> = std::fs::read_dir(&qdir)
        .expect("queue directory at depth 5")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let state_name = format!("queue_state.{}.log", base64url_encode(&q.rcv_id));
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names.get(1), Some(&state_name));
    let j = names
        .first()
        .and_then(|n| n.strip_prefix("messages."))
        .and_then(|n| n.strip_suffix(".log"))
        .expect("a journal")
        .to_owned();
    assert_eq!(j.len(), 16, "12 bytes in base64url");
    assert!(j
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));

    let journal = std::fs::read_to_string(qdir.join(format!("messages.{j}.log"))).expect("journal");
    let state = std::fs::read_to_string(qdir.join(&state_name)).expect("state");

    // The messages as delivered after a restart (the two not acknowledged).
    let s2 = start_binary(dir);
    let (alice, _events) = connect(&s2.address()).await;
    let rest = get_all(&alice, &q, usize::MAX).await;
    alice.close().await;
    drop(s2);
    let all: Vec<&Got> = first.iter().take(1).chain(rest.iter()).collect();
    assert_eq!(
        all.iter().map(|g| g.3.as_slice()).collect::<Vec<_>>(),
        bodies.to_vec()
    );
    assert_eq!(
        all.get(1).map(|g| g.2),
        Some(true),
        "notification flag kept"
    );
    let lines: Vec<String> = all
        .iter()
        .map(|(id, ts, ntf, body)| {
            format!(
                "{} {ts} flags={} {}\n",
                base64url_encode(id),
                if *ntf { 'T' } else { 'F' },
                base64url_encode(body)
            )
        })
        .collect();
    assert_eq!(journal, lines.concat(), "the reference's message lines");
    let l1 = lines[0].len();
    let l2 = l1 + lines[1].len();
    let l3 = l2 + lines[2].len();
    assert_eq!(
        state.lines().collect::<Vec<_>>(),
        vec![
            format!("write={j},1,1,{l1},{l1} read={j},0,1,0,{l1} canWrite=T size=1"),
            format!("write={j},2,2,{l2},{l2} read={j},0,2,0,{l2} canWrite=T size=2"),
            format!("write={j},3,3,{l3},{l3} read={j},0,3,0,{l3} canWrite=T size=3"),
            format!("write={j},3,3,{l3},{l3} read={j},1,3,{l1},{l3} canWrite=T size=2"),
        ],
        "the reference's state lines, one per change"
    );
    assert!(state.ends_with('\n'));
    // Emptied after the restart: the files stay, the state says so.
    let state = std::fs::read_to_string(qdir.join(&state_name)).expect("state");
    assert_eq!(
        state.lines().last(),
        Some(format!("write={j},3,3,{l3},{l3} read={j},3,3,{l3},{l3} canWrite=T size=0").as_str())
    );
    // At the next start the empty queue's journal is deleted and its state backed up, as the
    // reference does when it opens an empty queue at start-up; the directory stays.
    let s3 = start_binary(dir);
    drop(s3);
    let names: Vec<String> = std::fs::read_dir(&qdir)
        .expect("the directory stays")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(&format!("{state_name}.")) && n.ends_with("Z.bak")),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_queue_switches_journals_and_survives_kill_9() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    init_journal(dir);
    let mut s = start_binary(dir);
    let (alice, _events) = connect(&s.address()).await;
    let (bob, _bob_events) = connect(&s.address()).await;
    let q = new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await;
    let flags = MsgFlags {
        notification: false,
    };
    // 300 messages, never fewer than 10 pending: the write journal is full after 256.
    let mut received = Vec::new();
    for batch in 0..3 {
        for i in 0..100 {
            bob.send_message(
                None,
                &q.snd_id,
                flags,
                format!("m{}", batch * 100 + i).as_bytes(),
            )
            .await
            .expect("SEND");
        }
        let got = get_all(&alice, &q, 90).await;
        assert_eq!(got.len(), 91);
        received.extend(got.into_iter().take(90).map(|g| g.3));
    }
    let qdir = ref_queue_dir(dir, &q.rcv_id);
    let journals = || {
        std::fs::read_dir(&qdir)
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("messages."))
            })
            .count()
    };
    // 270 read: the first journal (256) was read past and deleted.
    assert_eq!(journals(), 1, "the read journal was deleted");
    let state = std::fs::read_to_string(state_file(&qdir, &q.rcv_id)).expect("state");
    let last = state.lines().last().expect("a state line");
    assert!(last.ends_with("canWrite=T size=30"), "{last}");
    alice.close().await;
    bob.close().await;
    s.kill9();

    let s = start_binary(dir);
    let (alice, _events) = connect(&s.address()).await;
    received.extend(
        get_all(&alice, &q, usize::MAX)
            .await
            .into_iter()
            .map(|g| g.3),
    );
    let expected: Vec<Vec<u8>> = (0..300).map(|i| format!("m{i}").into_bytes()).collect();
    assert_eq!(received, expected, "every message once, in order");
    alice.close().await;
    drop(s);
}
