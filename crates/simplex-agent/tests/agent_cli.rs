//! `agent-cli`'s command line, run as a process.

use std::process::{Command, Stdio};

#[test]
fn help_prints_the_commands_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = Command::new(env!("CARGO_BIN_EXE_agent-cli"))
            .arg(flag)
            .stdin(Stdio::null())
            .output()
            .expect("run agent-cli");
        assert!(out.status.success(), "{flag}: exit status {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        for word in [
            "usage: agent-cli",
            "--db PATH",
            "create",
            "join <link> <info>",
            "send <conn> <body>",
            "quit",
        ] {
            assert!(text.contains(word), "{flag}: no {word:?} in {text}");
        }
    }
    // A wrong argument is still an error, with a hint.
    let out = Command::new(env!("CARGO_BIN_EXE_agent-cli"))
        .arg("--nonsense")
        .stdin(Stdio::null())
        .output()
        .expect("run agent-cli");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("agent-cli --help"));
}
