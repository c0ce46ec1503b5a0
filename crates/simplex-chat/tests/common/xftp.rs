//! An XFTP relay process for the tests that send files: the test executable run again as
//! `xftp-server start` (its `xftp_relay_process` test calls [`xftp_relay_main`]).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Set in the child's environment: run an XFTP relay there (its configuration, store log
/// and files in this directory).
pub const XFTP_ENV: &str = "SIMPLEX_CHAT_TEST_XFTP_DIR";
/// The port of the relay child (`xftp-server start --port <this>`).
pub const XFTP_PORT_ENV: &str = "SIMPLEX_CHAT_TEST_XFTP_PORT";

/// The body of the XFTP relay child process (each test executable that starts one has an
/// `xftp_relay_process` test that calls it): `xftp-server start` on 127.0.0.1 at
/// the port the parent gives (0: any free one) over the configuration in the directories the
/// parent's environment names; serves until killed.
pub async fn xftp_relay_main() {
    if std::env::var_os(XFTP_ENV).is_none() {
        return;
    }
    use clap::Parser;
    let port = std::env::var(XFTP_PORT_ENV).unwrap_or_else(|_| "0".into());
    let cli = xftp_server::cli::Cli::parse_from([
        "xftp-server",
        "start",
        "--port",
        &port,
        "--listen",
        "127.0.0.1",
    ]);
    if let Err(e) = xftp_server::cli::main(cli).await {
        panic!("xftp relay failed: {e}");
    }
}

/// The XFTP relay child and its address.
pub struct XftpRelay {
    pub child: std::process::Child,
    pub address: String,
}

impl Drop for XftpRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An XFTP relay as an operator runs it (`xftp-server start`, initialized on the first
/// start), its configuration, store log and files under `dir`, on `port` (0: any free
/// one); started again on the same directory and port it is the same relay.
pub fn start_persistent_xftp_relay(dir: &Path, port: u16) -> (XftpRelay, u16) {
    let mut child = Command::new(std::env::current_exe().expect("test executable"))
        .args([
            "xftp_relay_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(XFTP_ENV, dir)
        .env(XFTP_PORT_ENV, port.to_string())
        .env("XFTP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("XFTP_SERVER_LOG_PATH", dir.join("log"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn xftp relay");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let mut fingerprint = None;
    let port = loop {
        let line = lines
            .next()
            .expect("xftp relay printed its port")
            .expect("line");
        if let Some((_, fp)) = line.split_once("Fingerprint: ") {
            fingerprint = Some(fp.trim().to_owned());
        }
        if let Some((_, p)) = line.split_once("Listening on port ") {
            break p
                .trim_end_matches("...")
                .trim()
                .parse::<u16>()
                .expect("port");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let fp = fingerprint.expect("fingerprint printed before the port");
    let address = format!("xftp://{fp}@127.0.0.1:{port}");
    (XftpRelay { child, address }, port)
}

/// A fresh XFTP relay with its directory under `dir`.
pub fn start_xftp_relay(dir: &Path) -> XftpRelay {
    start_persistent_xftp_relay(&dir.join("xftp"), 0).0
}
