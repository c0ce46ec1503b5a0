//! The chaos example (`examples/chaos.rs`) in a short form, as a newcomer runs it: relay
//! processes, one killed for good mid-stream. With 2 queues each way nothing is lost and
//! nothing shown twice or out of order; with 1 (the reference's way) the loss is visible.
//!
//! `cargo test` builds the example; the `smp-server` binary comes from the workspace's
//! build (`cargo test --workspace`, as CI runs). Without it the test says so and skips.

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize, Debug)]
struct Report {
    sent: usize,
    received: usize,
    lost: usize,
    duplicates_shown: usize,
    out_of_order_shown: usize,
    relays_killed: usize,
}

/// target/<profile>, from this test's own path (target/<profile>/deps/chaos-…).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target folder")
        .to_path_buf()
}

fn run(redundancy: &str) -> Option<Report> {
    let dir = profile_dir();
    let example = dir.join("examples").join("chaos");
    let server = dir.join("smp-server");
    if !example.exists() || !server.exists() {
        eprintln!(
            "NOTICE: chaos test skipped: {} or {} not built (run cargo test --workspace)",
            example.display(),
            server.display()
        );
        return None;
    }
    let out = Command::new(&example)
        .args([
            "--relays",
            "3",
            "--messages",
            "500",
            "--kill-relay-after",
            "200",
        ])
        .args(["--drain", "5", "--redundancy", redundancy])
        .output()
        .expect("run the chaos example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chaos failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("a report line");
    println!("redundancy {redundancy}: {line}");
    Some(serde_json::from_str(line).expect("JSON report"))
}

#[test]
fn chaos_with_two_queues_each_way_loses_nothing_when_a_relay_dies() {
    let Some(r) = run("2") else { return };
    assert_eq!(r.relays_killed, 1);
    assert_eq!((r.sent, r.received, r.lost), (500, 500, 0), "{r:?}");
    assert_eq!((r.duplicates_shown, r.out_of_order_shown), (0, 0), "{r:?}");
}

#[test]
fn chaos_with_one_queue_each_way_shows_the_loss() {
    let Some(r) = run("1") else { return };
    assert_eq!(r.relays_killed, 1);
    // The killed relay held a queue of this connection: what went to it after the kill
    // (and what it held) never arrives.
    assert!(r.lost > 0, "{r:?}");
    assert_eq!(r.sent, r.received + r.lost);
    assert_eq!((r.duplicates_shown, r.out_of_order_shown), (0, 0), "{r:?}");
}
