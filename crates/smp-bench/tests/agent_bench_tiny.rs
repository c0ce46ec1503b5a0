//! Runs agent-bench end to end with tiny sizes against a real relay process (the relay
//! linked into it), and checks that the JSON report has every figure with a sane value.

use std::process::Command;

use serde_json::Value;

#[test]
fn tiny_agent_bench_reports_every_figure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("agent.json");
    let out = Command::new(env!("CARGO_BIN_EXE_agent-bench"))
        .args(["--server-bin", "self", "--connects", "2", "--burst", "20"])
        .args([
            "--pingpong",
            "3",
            "--fanout",
            "5",
            "--stored",
            "8",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("run agent-bench");
    assert!(
        out.status.success(),
        "agent-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("json written");
    let v: Value = serde_json::from_str(&text).expect("json");
    for k in [
        "connect_ms",
        "connect_pq_ms",
        "burst_msgs_per_s",
        "burst_floor_msgs_per_s",
        "burst_floor_store_msgs_per_s",
        "burst_bare_msgs_per_s",
        "burst_sender_msgs_per_s",
        "fanout_sent_ms",
        "fanout_received_ms",
        "pingpong_ms",
        "pingpong_pq_ms",
        "pingpong_bare_ms",
        "pingpong_async_ack_ms",
        "pingpong_crypto_floor_ms",
        "resubscribe_s",
    ] {
        let x = v.get(k).and_then(Value::as_f64).unwrap_or(-1.0);
        assert!(x > 0.0 && x.is_finite(), "{k} = {x} in {text}");
    }
    assert!(
        v.get("burst_qcont").and_then(Value::as_u64).is_some(),
        "{text}"
    );
    assert_eq!(v.get("fanout_connections"), Some(&Value::from(5)));
    assert_eq!(v.get("stored_connections"), Some(&Value::from(9)));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("ping-pong, per message"), "{table}");
    assert!(
        table.contains("burst to a bare receiver (floor)"),
        "{table}"
    );
}
