//! One relay per configuration: a second `smp-server start` (and `journal`, `delete`) on a
//! running relay's configuration is refused before it touches a file, so the running relay
//! keeps its store log; and `start` binds its ports before it reads or changes its stores, so
//! a port in use refuses with nothing changed. The built binary on temporary directories,
//! real clients.

mod common;

use std::path::Path;

use common::{connect, ed_key, new_queue, run_binary, start_binary, tree_except, Queue};
use smp_proto::command::SubscriptionMode;

/// The lock file holds the holder's process ID; it is not part of what must stay unchanged.
const LOCK: &str = smp_server::cli::LOCK_FILE;

/// Subscribes to each queue (the queue must exist, with the same key).
async fn assert_queues_exist(s: &common::Running, queues: &[&Queue]) {
    let (c, _events) = connect(&s.address()).await;
    for q in queues {
        c.subscribe(&q.rcv_key, &q.rcv_id)
            .await
            .expect("SUB: the queue survived the restart");
    }
    c.close().await;
}

fn assert_refused_by_the_lock(r: &common::Run, dir: &Path, command: &str) {
    let log = dir.join("log");
    assert!(!r.ok, "{command} refused");
    let lock = log.join(LOCK);
    assert!(
        r.stderr.starts_with(&format!(
            "Error: log directory {} is in use by process ",
            log.display()
        )) && r.stderr.contains(&format!(
            " (`smp-server start`), which holds the lock {}.",
            lock.display()
        )),
        "{command}: {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_start_is_refused_and_the_running_relay_keeps_its_store_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let mut s = start_binary(dir);
    let (c, _events) = connect(&s.address()).await;
    let q1 = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    let store_log = dir.join("log/smp-server-store.log");
    let before = std::fs::read(&store_log).expect("store log");
    assert!(!before.is_empty());
    let files = tree_except(dir, &[LOCK]);

    // The same command on the same port (the operator's mistake), and on another port.
    let port = s.port.to_string();
    for args in [
        vec!["start", "--port", &port, "--listen", "127.0.0.1"],
        vec!["start", "--port", "0", "--listen", "127.0.0.1"],
    ] {
        let r = run_binary(dir, &args, "");
        assert_refused_by_the_lock(&r, dir, "start");
    }
    // Nor does anything else that changes the files run under it.
    for args in [
        vec!["journal", "export", "-y"],
        vec!["journal", "import", "-y"],
        vec!["journal", "delete", "-y"],
        vec!["delete", "-y"],
    ] {
        let r = run_binary(dir, &args, "Y\n");
        assert_refused_by_the_lock(&r, dir, &args.join(" "));
    }
    assert_eq!(
        std::fs::read(&store_log).expect("store log"),
        before,
        "the store log is byte-identical"
    );
    assert_eq!(tree_except(dir, &[LOCK]), files, "no file changed");

    // The first relay still writes to the store log it opened: a queue created now is there
    // after a restart, with the one from before.
    let q2 = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    c.close().await;
    s.terminate();
    let s2 = start_binary(dir);
    assert_queues_exist(&s2, &[&q1, &q2]).await;
}

/// A port in use (here by a relay of another configuration) refuses the start before the
/// stores are read: the store log is not compacted, renamed or backed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_refuses_the_start_with_nothing_changed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let running = start_binary(&a);

    // Configuration b has a queue and a deleted queue (so that compaction would rewrite it).
    let mut s = start_binary(&b);
    let (c, _events) = connect(&s.address()).await;
    let q = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    let gone = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    c.delete(&gone.rcv_key, &gone.rcv_id).await.expect("DEL");
    c.close().await;
    s.terminate();
    let files = tree_except(&b, &[LOCK]);

    let port = running.port.to_string();
    let r = run_binary(&b, &["start", "--port", &port, "--listen", "127.0.0.1"], "");
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains(&format!("Error: cannot listen on port {port}: "))
            && r.stderr.contains("in use"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stdout.contains("Store log:") && !r.stdout.contains("restored"),
        "nothing read: {}",
        r.stdout
    );
    assert_eq!(tree_except(&b, &[LOCK]), files, "no file changed");

    let s2 = start_binary(&b);
    assert_queues_exist(&s2, &[&q]).await;
}
