//! The `xftp-server` binary as an operator runs it: `init`, strict `file-server.ini`,
//! `start` (one per configuration, files kept across restarts), `delete`; a client talks to
//! it over real TLS and HTTP/2.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use xftp_client::{download, upload, DownloadOptions, UploadOptions};
use xftp_proto::XftpServer;

fn cmd(cfg: &Path, log: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xftp-server"));
    c.env("XFTP_SERVER_CFG_PATH", cfg)
        .env("XFTP_SERVER_LOG_PATH", log)
        .env("RUST_LOG", "warn");
    c
}

fn run(cfg: &Path, log: &Path, args: &[&str]) -> Output {
    cmd(cfg, log).args(args).output().expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A started relay and the lines it printed up to `Listening on port N...`.
struct Started {
    child: Child,
    lines: Vec<String>,
    port: u16,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(cfg: &Path, log: &Path, port: u16) -> Started {
    let mut child = cmd(cfg, log)
        .args([
            "start",
            "--port",
            &port.to_string(),
            "--listen",
            "127.0.0.1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end even after the test stops listening, so the relay's later lines
        // (`Stopping server...`) never meet a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut started = Started {
        child,
        lines: Vec::new(),
        port: 0,
    };
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            panic!("no `Listening` line; printed: {:?}", started.lines);
        };
        let port = line
            .strip_prefix("Listening on port ")
            .and_then(|r| r.strip_suffix("..."))
            .map(|p| p.parse().expect("port"));
        started.lines.push(line);
        if let Some(port) = port {
            started.port = port;
            return started;
        }
    }
}

fn fingerprint(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("Fingerprint: "))
        .expect("fingerprint printed")
        .to_owned()
}

#[tokio::test]
async fn init_start_restart_and_delete_as_an_operator() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cfg, log) = (tmp.path().join("etc"), tmp.path().join("var"));
    let files = tmp.path().join("files");
    let files_arg = files.to_string_lossy().into_owned();

    let o = run(&cfg, &log, &["init", "-p", &files_arg, "-q", "1gb"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("Server initialized, you can modify configuration in"),
        "{out}"
    );
    assert!(
        out.contains("Run `xftp-server start` to start server."),
        "{out}"
    );
    assert!(out.contains("Server address: xftp://"), "{out}");
    assert!(out.contains("@<hostnames>\n"), "no port when 443: {out}");
    let ini_path = cfg.join("file-server.ini");
    let ini = std::fs::read_to_string(&ini_path).expect("ini");
    for s in [
        "[STORE_LOG]",
        "[AUTH]",
        "[TRANSPORT]",
        "[FILES]",
        "[INACTIVE_CLIENTS]",
    ] {
        assert!(ini.contains(s), "{s} in {ini}");
    }
    assert!(ini.contains("storage_quota = 1gb"), "{ini}");
    let o = run(&cfg, &log, &["init", "-p", &files_arg, "-q", "1gb"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("server is already initialized"),
        "{}",
        text(&o)
    );

    // A typo refuses the start, naming the line.
    std::fs::write(&ini_path, ini.replace("new_files = on", "new_filez = on")).expect("write");
    let o = run(&cfg, &log, &["start", "--port", "0"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("[AUTH] new_filez: unknown key"),
        "{}",
        text(&o)
    );
    std::fs::write(&ini_path, &ini).expect("write");

    let mut s = start(&cfg, &log, 0);
    let fp = fingerprint(&s.lines);
    let all = s.lines.join("\n");
    assert!(
        all.contains(&format!("Server address: xftp://{fp}@<hostnames>")),
        "{all}"
    );
    assert!(all.contains("Store log: "), "{all}");
    assert!(all.contains("expiring files after 2 days"), "{all}");
    assert!(all.contains("Uploading new files allowed."), "{all}");

    // One relay per configuration.
    let o = run(&cfg, &log, &["start", "--port", "0"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("is in use by process"), "{}", text(&o));

    let server = XftpServer::parse_str(format!("xftp://{fp}@127.0.0.1:{}", s.port).as_bytes())
        .expect("address");
    let src = tmp.path().join("hello.txt");
    let data = b"hello from the operator test\n".repeat(5000);
    std::fs::write(&src, &data).expect("write");
    let opts = UploadOptions::new(vec![server], 1, tmp.path().join("work"));
    let sent = upload(&src, &opts, None).await.expect("uploaded");
    assert!(std::fs::read_dir(&files).expect("files").count() > 0);

    // Killed and started again on the same port: the store log keeps the file.
    let port = s.port;
    s.child.kill().expect("kill");
    s.child.wait().expect("wait");
    let mut s = start(&cfg, &log, port);
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).expect("dir");
    let got = download(&sent.recipients[0], &dir, &DownloadOptions::default(), None)
        .await
        .expect("downloaded after restart");
    assert_eq!(std::fs::read(got).expect("file"), data);
    let _ = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status();
    let status = s.child.wait().expect("wait");
    assert!(status.success(), "SIGTERM stops it cleanly: {status:?}");

    let o = run(&cfg, &log, &["delete", "-y"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Deleted configuration and log files"));
    assert!(!ini_path.exists() && !cfg.join("ca.crt").exists());
    let left: Vec<_> = std::fs::read_dir(&log)
        .expect("log dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("file-server-store.log"))
        .collect();
    assert!(
        left.is_empty(),
        "the store log and its backups are deleted: {left:?}"
    );
}

#[tokio::test]
async fn start_without_configuration_initializes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cfg, log) = (tmp.path().join("etc"), tmp.path().join("var"));
    let mut s = start(&cfg, &log, 0);
    let all = s.lines.join("\n");
    assert!(all.contains("No configuration found: initialized"), "{all}");
    assert!(cfg.join("file-server.ini").exists());
    let fp = fingerprint(&s.lines);
    let server = XftpServer::parse_str(format!("xftp://{fp}@127.0.0.1:{}", s.port).as_bytes())
        .expect("address");
    let c = xftp_client::XftpClient::connect(&server, &xftp_client::ClientConfig::default())
        .await
        .expect("connects");
    c.ping().await.expect("PONG");
    s.child.kill().expect("kill");
    s.child.wait().expect("wait");
}

#[test]
fn init_options_shape_the_configuration() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cfg, log) = (tmp.path().join("etc"), tmp.path().join("var"));
    let files = tmp.path().join("files").to_string_lossy().into_owned();
    let o = run(
        &cfg,
        &log,
        &[
            "init",
            "--disable-store-log",
            "-a",
            "ED25519",
            "-n",
            "files.example.com",
            "-p",
            &files,
            "-q",
            "500mb",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("@files.example.com\n"), "{out}");
    let ini = std::fs::read_to_string(cfg.join("file-server.ini")).expect("ini");
    assert!(ini.contains("\nenable = off\n"), "{ini}");
    assert!(ini.contains("\nhost = files.example.com\n"), "{ini}");
    assert!(ini.contains("\nstorage_quota = 500mb\n"), "{ini}");
    let crt = std::fs::read(cfg.join("server.crt")).expect("crt");
    let crt = openssl::x509::X509::from_pem(&crt).expect("pem");
    assert_eq!(
        crt.public_key().expect("key").id(),
        openssl::pkey::Id::ED25519
    );
    for bad in [
        vec!["init", "-p", &files],
        vec!["init", "-p", &files, "-q", "lots"],
        vec!["init", "-p", &files, "-q", "1gb", "-a", "RSA"],
    ] {
        let o = run(&tmp.path().join("etc2"), &log, &bad);
        assert!(!o.status.success(), "{bad:?} refused");
    }
}
