//! `smp-server journal import|export|delete`: the messages a memory-mode server saved move into
//! the journal, are served from it, are exported back to the messages log and served in memory
//! mode again; each command's refusals and confirmations; `start` refusing messages on disk that
//! the configured store would not serve.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{connect, new_queue, start_binary, start_binary_with, Queue};
use simplex_encoding::string::{base64url_decode, base64url_encode};
use smp_client::SmpClient;
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_proto::message::RcvMsgBody;

/// What a `smp-server journal ...` run printed and whether it succeeded.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `smp-server journal <args>` in `dir`, typing `input` at the prompt.
fn journal(dir: &Path, args: &[&str], input: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .arg("journal")
        .args(args)
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smp-server journal");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("type the answer");
    let out = child.wait_with_output().expect("wait");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn set_store_messages(dir: &Path, mode: &str) {
    let ini = dir.join("cfg/smp-server.ini");
    let text = std::fs::read_to_string(&ini).expect("ini");
    let text = text
        .replace("\nstore_messages = memory\n", "\nstore_messages = X\n")
        .replace("\nstore_messages = journal\n", "\nstore_messages = X\n")
        .replace(
            "\nstore_messages = X\n",
            &format!("\nstore_messages = {mode}\n"),
        );
    assert!(
        text.contains(&format!("\nstore_messages = {mode}\n")),
        "{text}"
    );
    std::fs::write(&ini, text).expect("write ini");
}

/// `GET`s every message of `q`, acknowledging the first `ack` of them; returns the bodies.
async fn get_bodies(client: &SmpClient, q: &Queue, ack: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(m) = client
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
    {
        match smp_client::decrypt_message(&q.dh_secret, &m).expect("decrypts") {
            RcvMsgBody::Data { body, .. } => out.push(body),
            RcvMsgBody::Quota { .. } => panic!("unexpected quota marker"),
        }
        if out.len() > ack {
            break;
        }
        client
            .ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
            .await
            .expect("ACK");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_serve_export_delete_and_back_to_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let log = dir.join("log");
    let (file, jdir) = (log.join("smp-server-messages.log"), log.join("messages"));

    // A memory-mode server saves three undelivered messages at shutdown.
    let mut s = start_binary(dir);
    let (alice, _a) = connect(&s.address()).await;
    let (bob, _b) = connect(&s.address()).await;
    let q = new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await;
    let flags = MsgFlags {
        notification: false,
    };
    for body in ["m1", "m2", "m3"] {
        bob.send_message(None, &q.snd_id, flags, body.as_bytes())
            .await
            .expect("SEND");
    }
    alice.close().await;
    bob.close().await;
    s.terminate();
    assert!(file.exists());

    let r = journal(dir, &["delete"], "Y\n");
    assert!(
        !r.ok && r.stderr.contains("directory does not exist"),
        "{}",
        r.stderr
    );
    let r = journal(dir, &["export"], "Y\n");
    assert!(
        !r.ok && r.stderr.contains("file already exists"),
        "{}",
        r.stderr
    );

    // Import: anything but `Y` refuses.
    let r = journal(dir, &["import"], "y\n");
    assert!(!r.ok, "refused");
    assert!(
        r.stdout.contains("will be imported to journal directory"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Continue (Y/n): "), "{}", r.stdout);
    assert!(r.stderr.contains("Messages not imported"), "{}", r.stderr);
    assert!(file.exists() && !jdir.exists());
    let r = journal(dir, &["import"], "Y\n");
    assert!(r.ok, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Import completed"), "{}", r.stdout);
    assert!(r.stdout.contains("Messages stored: 3"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("store_messages set to `memory`, update it to `journal` in INI file"),
        "{}",
        r.stdout
    );
    assert!(!file.exists(), "moved away");
    assert!(log.join("smp-server-messages.log.bak").exists());
    let id = base64url_encode(&q.rcv_id);
    let qdir = [&id[0..2], &id[2..4], &id[4..6], &id[6..8], &id[8..]]
        .iter()
        .fold(jdir.clone(), |p, part| p.join(part));
    let state = std::fs::read_to_string(qdir.join(format!("queue_state.{id}.log")))
        .expect("a state file in the reference's place");
    assert!(state.trim_end().ends_with("canWrite=T size=3"), "{state}");
    let r = journal(dir, &["import"], "Y\n");
    assert!(
        !r.ok && r.stderr.contains("directory already exists"),
        "{}",
        r.stderr
    );

    // Served from the journal: one acknowledged.
    set_store_messages(dir, "journal");
    let mut s = start_binary(dir);
    let (alice, _a) = connect(&s.address()).await;
    assert_eq!(
        get_bodies(&alice, &q, 1).await,
        vec![b"m1".to_vec(), b"m2".to_vec()]
    );
    alice.close().await;
    s.terminate();

    // Export: the two pending messages, as messages log lines; the journal stays.
    let r = journal(dir, &["export", "-y"], "");
    assert!(r.ok, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Export completed"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("store_messages set to `journal`, update it to `memory` in INI file"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(&file).expect("messages log");
    let bodies: Vec<Vec<u8>> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 6, "{l}");
            assert_eq!((f[0], f[1], f[4]), ("v3", id.as_str(), "flags=F"), "{l}");
            base64url_decode(f[5].as_bytes()).expect("body")
        })
        .collect();
    assert_eq!(bodies, vec![b"m2".to_vec(), b"m3".to_vec()]);
    assert!(jdir.exists());
    let r = journal(dir, &["import"], "Y\n");
    assert!(!r.ok && r.stderr.contains("are present"), "{}", r.stderr);

    // Delete: refused, then done.
    let r = journal(dir, &["delete"], "no\n");
    assert!(
        !r.ok && r.stderr.contains("Messages NOT deleted"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("THIS CANNOT BE UNDONE!"), "{}", r.stdout);
    assert!(jdir.exists());
    let r = journal(dir, &["delete"], "Y\n");
    assert!(r.ok, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Deleted all messages in journal"),
        "{}",
        r.stdout
    );
    assert!(!jdir.exists());

    // Memory mode serves the exported messages.
    set_store_messages(dir, "memory");
    let s = start_binary(dir);
    let (alice, _a) = connect(&s.address()).await;
    assert_eq!(
        get_bodies(&alice, &q, usize::MAX).await,
        vec![b"m2".to_vec(), b"m3".to_vec()]
    );
    alice.close().await;
    drop(s);
}

/// Runs `smp-server start` in `dir`, expecting it to refuse: it must exit (not serve) within
/// 20 seconds.
fn start_refused(dir: &Path) -> Run {
    start_refused_with(dir, &[])
}

/// [`start_refused`] with more arguments for `start`.
fn start_refused_with(dir: &Path, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(["start", "--port", "0", "--listen", "127.0.0.1"])
        .args(args)
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn smp-server start");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "the server started instead of refusing: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` with its contents.
fn tree(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("file");
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_refuses_messages_the_configured_store_would_not_serve() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let log = dir.join("log");
    let (file, jdir) = (log.join("smp-server-messages.log"), log.join("messages"));
    let flags = MsgFlags {
        notification: false,
    };
    let mut s = start_binary(dir);
    set_store_messages(dir, "journal");
    s.terminate();
    // A memory-mode run saves its messages log even with no message: journal mode refuses it
    // until it is imported (or removed).
    assert!(file.exists());
    let r = start_refused(dir);
    assert!(
        !r.ok && r.stderr.contains("file present."),
        "{} {}",
        r.stdout,
        r.stderr
    );
    std::fs::remove_file(&file).expect("remove the empty messages log");

    // The journal holds j1 for a queue.
    let mut s = start_binary(dir);
    assert!(
        s.printed
            .iter()
            .any(|l| l.contains("store_messages is `journal`, ")
                && l.ends_with(" directory will be created.")),
        "{:?}",
        s.printed
    );
    let (alice, _a) = connect(&s.address()).await;
    let (bob, _b) = connect(&s.address()).await;
    let q = new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await;
    bob.send_message(None, &q.snd_id, flags, b"j1")
        .await
        .expect("SEND");
    alice.close().await;
    bob.close().await;
    s.terminate();
    let files = tree(&jdir);
    assert!(!files.is_empty());

    // Memory mode with the journal directory: refused, the journal untouched.
    set_store_messages(dir, "memory");
    let r = start_refused(dir);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("Error: store_messages is `memory` with ")
            && r.stderr.contains("messages directory present.")
            && r.stderr
                .contains("use `smp-server journal export` to migrate"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    assert!(!r.stdout.contains("Serving"), "{}", r.stdout);
    assert_eq!(tree(&jdir), files);
    assert!(!file.exists());

    // Both present (after an export): refused in either mode.
    let r = journal(dir, &["export", "-y"], "");
    assert!(r.ok, "{} {}", r.stdout, r.stderr);
    let exported = std::fs::read(&file).expect("messages log");
    for mode in ["memory", "journal"] {
        set_store_messages(dir, mode);
        let r = start_refused(dir);
        assert!(
            !r.ok
                && r.stderr.contains("Error: both ")
                && r.stderr.contains("Configure memory storage."),
            "{mode}: {} {}",
            r.stdout,
            r.stderr
        );
    }

    // Journal mode with the messages log only: refused, the log untouched.
    let r = journal(dir, &["delete", "-y"], "");
    assert!(r.ok, "{} {}", r.stdout, r.stderr);
    let r = start_refused(dir);
    assert!(
        !r.ok
            && r.stderr
                .contains("Error: store_messages is `journal` with ")
            && r.stderr.contains("smp-server-messages.log file present.")
            && r.stderr
                .contains("use `smp-server journal import` to migrate"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    assert_eq!(std::fs::read(&file).expect("messages log"), exported);
    assert!(!jdir.exists());

    // As advised: imported, then served from the journal.
    let r = journal(dir, &["import", "-y"], "");
    assert!(r.ok, "{} {}", r.stdout, r.stderr);
    let s = start_binary(dir);
    let (alice, _a) = connect(&s.address()).await;
    assert_eq!(
        get_bodies(&alice, &q, usize::MAX).await,
        vec![b"j1".to_vec()]
    );
    alice.close().await;
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_log_with_an_unknown_queue_or_a_bad_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let log = dir.join("log");
    let (file, jdir) = (log.join("smp-server-messages.log"), log.join("messages"));
    let mut s = start_binary(dir);
    let (alice, _a) = connect(&s.address()).await;
    let (bob, _b) = connect(&s.address()).await;
    let q = new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await;
    let flags = MsgFlags {
        notification: false,
    };
    for body in ["m1", "m2"] {
        bob.send_message(None, &q.snd_id, flags, body.as_bytes())
            .await
            .expect("SEND");
    }
    alice.close().await;
    bob.close().await;
    s.terminate();
    let good = std::fs::read_to_string(&file).expect("messages log");
    let first = good.lines().next().expect("a line");

    // A message of a queue the store log does not have, between the two good ones.
    let unknown = [0xEEu8; 24];
    let id = base64url_encode(&q.rcv_id);
    let other = first.replacen(&id, &base64url_encode(&unknown), 1);
    assert_ne!(other, first);
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(1, &other);
    let bad = lines.join("\n") + "\n";
    std::fs::write(&file, &bad).expect("write");
    let r = journal(dir, &["import", "-y"], "");
    assert!(!r.ok, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("line 2: queue 7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Messages not imported."), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&file).expect("log"),
        bad,
        "unchanged"
    );
    assert!(!jdir.exists(), "no journal written");
    assert!(!log.join("smp-server-messages.log.bak").exists());

    // A line that does not parse.
    std::fs::write(&file, format!("{good}v3 garbage\n")).expect("write");
    let r = journal(dir, &["import", "-y"], "");
    assert!(!r.ok, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("line 3: parsing error") && r.stderr.contains("v3 garbage"),
        "{}",
        r.stderr
    );
    assert!(!jdir.exists());

    // The good log is imported.
    std::fs::write(&file, &good).expect("write");
    let r = journal(dir, &["import", "-y"], "");
    assert!(r.ok, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Messages stored: 2"), "{}", r.stdout);
    set_store_messages(dir, "journal");
    let s = start_binary(dir);
    let (alice, _a) = connect(&s.address()).await;
    assert_eq!(
        get_bodies(&alice, &q, usize::MAX).await,
        vec![b"m1".to_vec(), b"m2".to_vec()]
    );
    alice.close().await;
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_start_refuses_saved_messages_of_unknown_queues_unless_told_to_skip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = dir.join("log").join("smp-server-messages.log");
    let mut s = start_binary(dir);
    let (alice, _a) = connect(&s.address()).await;
    let (bob, _b) = connect(&s.address()).await;
    let q = new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await;
    let flags = MsgFlags {
        notification: false,
    };
    for body in ["m1", "m2"] {
        bob.send_message(None, &q.snd_id, flags, body.as_bytes())
            .await
            .expect("SEND");
    }
    alice.close().await;
    bob.close().await;
    s.terminate();
    let good = std::fs::read_to_string(&file).expect("messages log");
    let first = good.lines().next().expect("a line").to_owned();

    // A message of a queue the store log does not have, between the two good ones.
    let unknown = [0xEEu8; 24];
    let id = base64url_encode(&q.rcv_id);
    let other = first.replacen(&id, &base64url_encode(&unknown), 1);
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(1, &other);
    let with_unknown = lines.join("\n") + "\n";
    std::fs::write(&file, &with_unknown).expect("write");
    let r = start_refused(dir);
    assert!(!r.ok, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("line 2: the queue does not exist, start with --skip-warnings"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains(&base64url_encode(&unknown)) && !r.stderr.contains("7u7u7u7u"),
        "no queue ID in the output: {}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("log"),
        with_unknown,
        "unchanged"
    );

    // A line that does not parse before the end refuses even with --skip-warnings.
    let mut broken: Vec<&str> = good.lines().collect();
    broken.insert(1, "v3 not a message");
    std::fs::write(&file, broken.join("\n") + "\n").expect("write");
    let r = start_refused_with(dir, &["--skip-warnings"]);
    assert!(!r.ok);
    assert!(r.stderr.contains("line 2: parsing error"), "{}", r.stderr);

    // Told to skip: the unknown queue's message is dropped, the others are served.
    std::fs::write(&file, &with_unknown).expect("write");
    let s = start_binary_with(dir, &["--skip-warnings"]);
    let (alice, _a) = connect(&s.address()).await;
    assert_eq!(
        get_bodies(&alice, &q, usize::MAX).await,
        vec![b"m1".to_vec(), b"m2".to_vec()]
    );
    alice.close().await;
    drop(s);
}
