//! Runs the benchmark end to end with tiny sizes against a real relay process (the relay
//! linked into smp-bench), and checks that the JSON report has every key with sane values.

use std::process::Command;

use serde_json::Value;

fn f(v: &Value, k: &str) -> f64 {
    v.get(k)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{k} is a number in {v}"))
}

#[test]
fn tiny_run_reports_every_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_smp-bench"))
        .args([
            "--server-bin",
            "self",
            "--pairs",
            "3",
            "--duration",
            "1",
            "--warmup",
            "0.3",
            "--queues",
            "10",
            "--queue-connections",
            "2",
            "--batch",
            "4",
            "--clients",
            "5",
            "--limit-seconds",
            "0.02",
            "--auth-samples",
            "50",
            "--json",
        ])
        .arg(&json)
        .output()
        .expect("run smp-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "smp-bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| throughput"), "table printed: {stdout}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");

    for k in [
        "limit_us_per_msg",
        "limit_msgs_per_s_per_core",
        "msgs_per_s",
        "server_cpu_s_per_msg",
        "ratio",
        "restart_s",
    ] {
        let x = f(&v, k);
        assert!(x > 0.0 && x.is_finite(), "{k} = {x}");
    }
    let limit = f(&v, "limit_us_per_msg");
    assert!(
        (f(&v, "limit_msgs_per_s_per_core") * limit - 1e6).abs() < 1.0,
        "msg/s per core is the inverse of µs per message"
    );
    // The relay cannot spend less CPU on a message than the crypto it has to do... unless
    // the CPU clock's 10 ms ticks round a 1 s run down; the ratio stays within reason.
    assert!(f(&v, "ratio") < 10.0, "ratio {}", f(&v, "ratio"));

    let lat = v.get("latency_ms").expect("latency_ms");
    let (p50, p99, p999) = (f(lat, "p50"), f(lat, "p99"), f(lat, "p999"));
    assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{lat}");

    assert_eq!(v.get("queues").and_then(Value::as_u64), Some(10));
    assert_eq!(v.get("clients").and_then(Value::as_u64), Some(5));
    // Memory deltas can be zero or negative for so few; they must be present as numbers.
    f(&v, "rss_bytes_per_queue");
    f(&v, "rss_bytes_per_client");
    // Ten NEW lines at least.
    assert!(f(&v, "store_log_bytes") > 10.0 * 50.0, "{v}");
    let sample = v.get("restart_sub_sample").expect("sample");
    assert_eq!(
        sample.get("ok"),
        sample.get("of"),
        "every sampled queue subscribes"
    );
    assert_eq!(sample.get("of").and_then(Value::as_u64), Some(10));
    // ERR AUTH timing: a number from medians of every kind (50 samples are too few for the
    // 5 % goal on a busy machine; only the shape is checked here).
    let ratio = f(&v, "auth_timing_ratio");
    assert!(
        ratio > 0.0 && ratio.is_finite(),
        "auth_timing_ratio {ratio}"
    );
    assert!(
        stdout.contains("| auth timing ratio"),
        "table row: {stdout}"
    );
    let auth = v.get("auth_timing").expect("auth_timing");
    assert_eq!(
        auth.get("samples_per_kind").and_then(Value::as_u64),
        Some(50)
    );
    for kind in ["ed25519", "x25519"] {
        let k = auth.get(kind).expect("kind");
        let (e, m) = (f(k, "existing_us_median"), f(k, "missing_us_median"));
        assert!(e > 0.0 && m > 0.0, "{kind}: {k}");
        assert!((f(k, "ratio") - m / e).abs() < 1e-9, "{kind}: {k}");
    }
}
