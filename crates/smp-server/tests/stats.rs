//! The operators' statistics files of an in-process relay with intervals of a second: the
//! Prometheus file counts a few commands, the backup file carries the counters over a
//! restart, the daily log's line shows them, and no file names a queue.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{connect, ed_key, new_queue};
use simplex_encoding::string::base64url_encode;
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_server::msg_store::DEFAULT_QUOTA;
use smp_server::stats::{DailyLogConfig, PrometheusConfig, StatsConfig};
use smp_server::testing::TestServer;

const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

/// Waits (bounded) until `path` holds text for which `ok` is true; returns that text.
async fn wait_for(path: &Path, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if ok(&text) {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never had the expected content",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn metrics_backup_and_daily_line_count_commands_and_name_no_queue() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daily_path = dir.path().join("smp-server-stats.daily.log");
    let backup = dir.path().join("smp-server-stats.log");
    let metrics = dir.path().join("smp-server-metrics.txt");
    let daily = |interval: u64| DailyLogConfig {
        path: daily_path.clone(),
        backup: backup.clone(),
        interval: Duration::from_secs(interval),
        start_at: None,
    };

    // First run: no daily line during the test, metrics every second.
    let server = TestServer::start_with_stats(
        DEFAULT_QUOTA,
        StatsConfig {
            daily: Some(daily(3600)),
            prometheus: Some(PrometheusConfig {
                path: metrics.clone(),
                interval: Duration::from_secs(1),
            }),
        },
    )
    .await
    .expect("test server");
    let (rcv, _rcv_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::OnlyCreate).await;
    let snd_key = ed_key();
    snd.secure_sender_queue(&snd_key, &q.snd_id)
        .await
        .expect("SKEY");
    for body in [&b"one"[..], b"two"] {
        snd.send_message(Some(&snd_key), &q.snd_id, QUIET, body)
            .await
            .expect("SEND");
    }
    for _ in 0..2 {
        let m = rcv
            .get_message(&q.rcv_key, &q.rcv_id)
            .await
            .expect("GET")
            .expect("a message");
        rcv.ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
            .await
            .expect("ACK");
    }
    assert!(rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .is_none());

    let sample = |text: &str, name: &str| -> Option<i64> {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|v| v.parse().ok())
    };
    let prom = wait_for(&metrics, |t| {
        sample(t, "simplex_smp_messages_notify_get_errors{type=\"nomsg\"}") == Some(1)
    })
    .await;
    for (name, want) in [
        ("simplex_smp_queues_created", 1),
        ("simplex_smp_queues_secured", 1),
        ("simplex_smp_messages_sent", 2),
        ("simplex_smp_messages_received", 2),
        ("simplex_smp_messages_notify_get_sent", 2),
        ("simplex_smp_messages_notify_get_received", 2),
        ("simplex_smp_queues_total1", 1),
        ("simplex_smp_queues_total2", 1),
        ("simplex_smp_messages_total", 0),
    ] {
        assert_eq!(sample(&prom, name), Some(want), "{name}");
    }
    drop((rcv, snd));
    server.stop().await.expect("server stopped");
    let saved = std::fs::read_to_string(&backup).expect("backup saved on shutdown");
    assert!(saved.contains("\nqCreated=1\nqSecured=1\n"), "{saved}");
    assert!(saved.contains("\nmsgSent=2\n"), "{saved}");

    // Second run: the counters come back from the backup (renamed `.bak`) and the first
    // daily line, a second later, shows them.
    let server = TestServer::start_with_stats(
        DEFAULT_QUOTA,
        StatsConfig {
            daily: Some(daily(1)),
            prometheus: None,
        },
    )
    .await
    .expect("test server");
    let log = wait_for(&daily_path, |t| t.lines().next().is_some()).await;
    server.stop().await.expect("server stopped");
    let first = log.lines().next().expect("a line");
    let f: Vec<&str> = first.split(',').collect();
    assert_eq!(f.len(), 96, "{first}");
    // qCreated, qSecured, qDeletedAll, msgSent, msgRecv.
    assert_eq!(&f[1..6], &["1", "1", "0", "2", "2"], "{first}");
    // The queue store of this run is empty: the stored queue count is 0.
    assert_eq!(f[14], "0", "{first}");
    assert!(dir.path().join("smp-server-stats.log.bak").exists());

    // Counts only: no file holds a queue ID or key, raw, base64url or hex.
    let ids = [q.rcv_id.clone(), q.snd_id.clone()];
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        for id in &ids {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            assert!(!text.contains(&base64url_encode(id)), "{}", path.display());
            assert!(!text.to_lowercase().contains(&hex), "{}", path.display());
            assert!(!bytes.windows(id.len()).any(|w| w == id.as_slice()));
        }
        // Every line is a comment, a `key=value` or section line, or numbers.
        for line in text.lines() {
            let ok = line.is_empty()
                || line.starts_with('#')
                || line.ends_with(':')
                || line.starts_with("simplex_smp_")
                || line.split_once('=').is_some()
                || line
                    .split(',')
                    .enumerate()
                    .all(|(i, v)| i == 0 || v.is_empty() || v.parse::<i64>().is_ok());
            assert!(ok, "{}: {line}", path.display());
        }
    }
}
