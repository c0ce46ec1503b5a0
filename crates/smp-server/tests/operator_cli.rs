//! The operator's commands as the reference has them, with the built binary on temporary
//! directories: `delete` asks and deletes only on `Y`; a bad INI value refuses the start with
//! its file and line and changes nothing; `init` refuses values clients could not use; `-v`;
//! the start banner's line on creating new queues; `start` initialising a missing
//! configuration in one line.

mod common;

use std::path::Path;

use common::{run_binary, start_binary, tree_except};

const LOCK: &str = smp_server::cli::LOCK_FILE;

fn init(dir: &Path) {
    let r = run_binary(dir, &["init", "-y"], "");
    assert!(r.ok, "init: {} {}", r.stdout, r.stderr);
}

#[test]
fn delete_asks_and_deletes_only_on_a_capital_y() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ini = dir.join("cfg/smp-server.ini");
    init(dir);
    let files = tree_except(dir, &[LOCK]);
    for no in ["n\n", "y\n", "\n", ""] {
        let r = run_binary(dir, &["delete"], no);
        assert!(!r.ok, "{no:?} refused");
        assert!(
            r.stdout.starts_with(
                "WARNING: deleting the server will make all queues inaccessible, because the \
                 server identity (certificate fingerprint) will change.\nTHIS CANNOT BE UNDONE!\n\
                 Continue (Y/n): "
            ),
            "{}",
            r.stdout
        );
        assert!(r.stderr.contains("Server NOT deleted"), "{}", r.stderr);
        assert_eq!(tree_except(dir, &[LOCK]), files, "{no:?}: nothing deleted");
    }
    let r = run_binary(dir, &["delete"], "Y\n");
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stdout.contains("Deleted configuration and log files"),
        "{}",
        r.stdout
    );
    assert!(!ini.exists() && !dir.join("cfg/ca.crt").exists());

    // -y: no question.
    init(dir);
    let r = run_binary(dir, &["delete", "-y"], "");
    assert!(r.ok, "{}", r.stderr);
    assert!(!r.stdout.contains("Continue (Y/n)"), "{}", r.stdout);
    assert!(!ini.exists() && !dir.join("cfg/server.key").exists());
    assert!(
        !dir.join("log").join(LOCK).exists(),
        "the lock file goes too"
    );
}

/// Replaces the line starting with `key = ` in `[section]`; returns its 1-based number.
fn set_ini(ini: &Path, section: &str, key: &str, value: &str) -> usize {
    let text = std::fs::read_to_string(ini).expect("ini");
    let mut current = String::new();
    let mut found = None;
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(n, l)| {
            if let Some(s) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = s.to_owned();
            }
            let is_key =
                l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} = "));
            if current == section && is_key && found.is_none() {
                found = Some(n + 1);
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(ini, lines.join("\n") + "\n").expect("write ini");
    found.unwrap_or_else(|| panic!("[{section}] {key} in the INI"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_ini_value_refuses_the_start_with_its_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // A configuration with a store log that has a queue in it.
    let mut s = start_binary(dir);
    let (c, _events) = common::connect(&s.address()).await;
    common::new_queue(
        &c,
        common::ed_key(),
        smp_proto::command::SubscriptionMode::OnlyCreate,
    )
    .await;
    c.close().await;
    s.terminate();
    let ini = dir.join("cfg/smp-server.ini");
    let good = std::fs::read(&ini).expect("ini");
    let cases: &[(&str, &str, &str, &str)] = &[
        ("TRANSPORT", "port", "abc", "invalid port `abc`"),
        ("TRANSPORT", "port", "5223,", "invalid port ``"),
        (
            "STORE_LOG",
            "enable",
            "maybe",
            "invalid value `maybe`, expected `on` or `off`",
        ),
        (
            "STORE_LOG",
            "enable",
            "On",
            "invalid value `On`, expected `on` or `off`",
        ),
        (
            "STORE_LOG",
            "restore_messages",
            "true",
            "expected `on` or `off`",
        ),
        (
            "STORE_LOG",
            "store_messages",
            "disk",
            "expected `memory` or `journal`",
        ),
        (
            "STORE_LOG",
            "expire_messages_days",
            "3.5",
            "expected a whole number of days",
        ),
        (
            "STORE_LOG",
            "prometheus_interval",
            "often",
            "whole number of seconds",
        ),
        ("AUTH", "new_queues", "yes", "expected `on` or `off`"),
        (
            "TRANSPORT",
            "websockets",
            "on",
            "`on`: websockets are not supported by this server",
        ),
        (
            "AUTH",
            "create_password",
            "pa:ss",
            "'@', ':' and '/' are not allowed",
        ),
        (
            "INACTIVE_CLIENTS",
            "ttl",
            "-5",
            "invalid value `-5`, expected a whole number of seconds, at least 1",
        ),
        ("INACTIVE_CLIENTS", "check_interval", "0", "at least 1"),
    ];
    for (section, key, value, why) in cases {
        std::fs::write(&ini, &good).expect("restore ini");
        let line = set_ini(&ini, section, key, value);
        let files = tree_except(dir, &[LOCK]);
        let r = run_binary(dir, &["start", "--port", "0", "--listen", "127.0.0.1"], "");
        assert!(!r.ok, "{key} = {value}: refused");
        let expected = format!("Error: {}:{line}: [{section}] {key}: ", ini.display());
        assert!(
            r.stderr.starts_with(&expected) && r.stderr.contains(why),
            "{key} = {value}: expected {expected}…{why}, got: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("pa:ss"),
            "the password is not repeated: {}",
            r.stderr
        );
        assert_eq!(
            tree_except(dir, &[LOCK]),
            files,
            "{key} = {value}: nothing changed"
        );
    }
    // The reference's spellings are accepted.
    std::fs::write(&ini, &good).expect("restore ini");
    set_ini(&ini, "STORE_LOG", "enable", "on");
    set_ini(&ini, "INACTIVE_CLIENTS", "disconnect", "off");
    set_ini(&ini, "STORE_LOG", "prometheus_interval", "60");
    let s = start_binary(dir);
    assert!(
        s.printed.iter().any(|l| l.starts_with("Store log: ")),
        "{:?}",
        s.printed
    );
}

#[test]
fn init_refuses_values_clients_cannot_use() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    for (args, why) in [
        (
            &["--password", "pa:ss"][..],
            "'@', ':' and '/' are not allowed",
        ),
        (&["--password", "pa ss"], "without whitespace"),
        (&["--password", "a@b"], "are not allowed"),
        (&["--ip", "not-an-ip"], "not an IP address"),
        (
            &["--fqdn", "smp example.com"],
            "expected a domain name or an IP address",
        ),
        (
            &["--fqdn", "smp.example.com:5223"],
            "expected a domain name",
        ),
        (&["--sign-algorithm", "RSA"], "expected ED25519 or ED448"),
    ] {
        let mut all = vec!["init", "-y"];
        all.extend_from_slice(args);
        let r = run_binary(dir, &all, "");
        assert!(!r.ok, "{args:?} refused");
        assert!(
            r.stderr.contains(args[0]) && r.stderr.contains(why),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!dir.join("cfg").exists(), "{args:?}: nothing written");
    }
    let r = run_binary(
        dir,
        &["init", "-y", "--password", "s3cret", "--ip", "192.0.2.7"],
        "",
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stdout.contains(":s3cret@192.0.2.7\n"),
        "the address clients use: {}",
        r.stdout
    );
}

#[test]
fn version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for flag in ["-v", "--version"] {
        let r = run_binary(tmp.path(), &[flag], "");
        assert!(r.ok, "{}", r.stderr);
        assert_eq!(
            r.stdout.lines().next(),
            Some(format!("SMP server v{} (simplex-rs)", env!("CARGO_PKG_VERSION")).as_str())
        );
    }
}

#[test]
fn start_initializes_in_one_line_and_says_who_may_create_queues() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let mut s = start_binary(dir);
    let init_lines: Vec<&String> = s
        .printed
        .iter()
        .filter(|l| l.contains("initialized"))
        .collect();
    assert_eq!(init_lines.len(), 1, "{:?}", s.printed);
    assert!(
        init_lines[0].starts_with("No configuration found: initialized ")
            && init_lines[0].contains("as `smp-server init -y`"),
        "{:?}",
        s.printed
    );
    assert!(
        !s.printed
            .iter()
            .any(|l| l.contains("Run `smp-server start`")),
        "{:?}",
        s.printed
    );
    let rest = s.terminate();
    assert!(rest.contains("\ncreating new queues allowed\n"), "{rest}");

    let ini = dir.join("cfg/smp-server.ini");
    set_ini(&ini, "AUTH", "create_password", "s3cret");
    let mut s = start_binary(dir);
    assert!(
        s.printed.iter().all(|l| !l.contains("initialized")),
        "{:?}",
        s.printed
    );
    let rest = s.terminate();
    assert!(
        rest.contains("\ncreating new queues requires password\n"),
        "{rest}"
    );

    set_ini(&ini, "AUTH", "new_queues", "off");
    let mut s = start_binary(dir);
    let rest = s.terminate();
    assert!(
        rest.contains("\ncreating new queues NOT allowed\n"),
        "{rest}"
    );
}
