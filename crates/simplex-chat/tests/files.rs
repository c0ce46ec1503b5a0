//! Files end to end: an SMP relay process, an XFTP relay process and two `simplex-chat`
//! processes, driven as a person would, printing what the reference prints
//! (`tests/ChatTests/Files.hs`, `testXFTPFileTransfer`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Set in the child's environment: run an XFTP relay there, files in this directory.
const XFTP_ENV: &str = "SIMPLEX_CHAT_TEST_XFTP_DIR";

/// Not a test of its own: the SMP relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// Not a test of its own: the XFTP relay child process, on 127.0.0.1 at any free port;
/// prints its address and serves until killed.
#[tokio::test]
async fn xftp_relay_process() {
    let Some(dir) = std::env::var_os(XFTP_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let creds = simplex_transport::GeneratedCredentials::generate(
        simplex_transport::SignAlgorithm::Ed25519,
        "127.0.0.1",
    )
    .expect("credentials");
    let cfg =
        xftp_server::ServerConfig::new("127.0.0.1:0".parse().expect("addr"), dir.join("files"));
    let server = xftp_server::start(cfg, &creds.server_credentials().expect("creds"))
        .await
        .expect("xftp relay starts");
    println!("XFTP relay: {}", server.address("127.0.0.1"));
    std::future::pending::<()>().await;
}

/// The XFTP relay child and its address.
struct XftpRelay {
    child: std::process::Child,
    address: String,
}

impl Drop for XftpRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_xftp_relay(dir: &Path) -> XftpRelay {
    let mut child = Command::new(std::env::current_exe().expect("test executable"))
        .args([
            "xftp_relay_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(XFTP_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn xftp relay");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("xftp relay printed its address")
            .expect("line");
        // libtest may print `test xftp_relay_process ... ` before it on the same line.
        if let Some((_, a)) = line.split_once("XFTP relay: ") {
            break a.trim().to_owned();
        }
    };
    // Keep the pipe drained so the relay never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    XftpRelay { child, address }
}

#[test]
fn a_5_mib_file_to_a_contact_arrives_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&tmp.path().join("smp"));
    let xftp = start_xftp_relay(tmp.path());
    let xftp_arg = ["--xftp-servers", xftp.address.as_str()];
    let mut alice = new_user_with(
        "alice",
        &prefix(tmp.path(), "alice"),
        Some(&relay.address),
        &xftp_arg,
    );
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let mut bob = new_user_with(
        "bob",
        &prefix(tmp.path(), "bob"),
        Some(&relay.address),
        &["--files-folder", &inbox.to_string_lossy()],
    );
    connect(&mut alice, &mut bob);

    let src = tmp.path().join("x.pdf");
    let mut data = vec![0u8; 5 << 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut data);
    std::fs::write(&src, &data).expect("write");
    // A file of that name is already in the folder: it must stay as it is.
    std::fs::write(inbox.join("x.pdf"), b"keep me").expect("write");

    alice.send(&format!("/f @bob {}", src.display()));
    alice.expect_item(&format!("/f @bob {}", src.display()));
    alice.expect("use /fc 1 to cancel sending");
    bob.expect_item("alice> sends file x.pdf (5.0 MiB / 5242880 bytes)");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    bob.send("/fs 1");
    bob.expect("receiving file 1 (x.pdf) not accepted yet, use /fr 1 to receive file");
    bob.send("/fr 1");
    let saved = inbox.join("x_1.pdf");
    bob.expect(&format!("saving file 1 from alice to {}", saved.display()));
    alice.expect("completed uploading file 1 (x.pdf) for bob");
    bob.expect("started receiving file 1 (x.pdf) from alice");
    bob.expect("completed receiving file 1 (x.pdf) from alice");
    assert!(
        std::fs::read(&saved).expect("saved") == data,
        "the file arrived changed"
    );
    assert_eq!(
        std::fs::read(inbox.join("x.pdf")).expect("kept"),
        b"keep me"
    );

    alice.send("/fs 1");
    alice.expect("sending file 1 (x.pdf) complete");
    bob.send("/fs 1");
    bob.expect(&format!(
        "receiving file 1 (x.pdf) complete, path: {}",
        saved.display()
    ));
    alice.quit();
    bob.quit();
}

#[test]
fn sender_and_recipient_cancel() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&tmp.path().join("smp"));
    let xftp = start_xftp_relay(tmp.path());
    let xftp_arg = ["--xftp-servers", xftp.address.as_str()];
    let mut alice = new_user_with(
        "alice",
        &prefix(tmp.path(), "alice"),
        Some(&relay.address),
        &xftp_arg,
    );
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let inbox_arg = ["--files-folder", &*inbox.to_string_lossy()].map(str::to_owned);
    let inbox_arg: Vec<&str> = inbox_arg.iter().map(String::as_str).collect();
    let mut bob = new_user_with(
        "bob",
        &prefix(tmp.path(), "bob"),
        Some(&relay.address),
        &inbox_arg,
    );
    connect(&mut alice, &mut bob);
    let src = tmp.path().join("a.txt");
    std::fs::write(&src, b"hello file").expect("write");

    // The sender cancels: the recipient is told and cannot receive it any more.
    alice.send(&format!("/f @bob {}", src.display()));
    alice.expect("use /fc 1 to cancel sending");
    bob.expect_item("alice> sends file a.txt (10 bytes / 10 bytes)");
    alice.send("/fc 1");
    alice.expect("cancelled sending file 1 (a.txt) to bob");
    bob.expect("alice cancelled sending file 1 (a.txt)");
    bob.send("/fr 1");
    bob.expect("file cancelled: a.txt");
    bob.send("/fs 1");
    bob.expect("receiving file 1 (a.txt) cancelled");
    alice.send("/fs 1");
    alice.expect("sending file 1 (a.txt) cancelled");

    // The recipient cancels the second one: the sender is told.
    alice.send(&format!("/f @bob {}", src.display()));
    alice.expect("use /fc 2 to cancel sending");
    bob.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    // After the upload: the sender still hears of it.
    alice.expect("completed uploading file 2 (a.txt) for bob");
    bob.send("/fc 2");
    bob.expect("cancelled receiving file 2 (a.txt) from alice");
    alice.expect("bob cancelled receiving file 2 (a.txt)");
    assert!(
        !inbox.join("a.txt").exists(),
        "nothing is saved for a cancelled file"
    );
    alice.quit();
    bob.quit();
}

/// `testXFTPGroupFileTransfer`: a file to a group of three is offered to both members, each
/// receives it whole (into one folder: the second copy gets a free name), the sender hears
/// of the upload once for the group; then the sender cancels a second file and both
/// members are told.
#[test]
fn a_file_to_a_group_of_three() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&tmp.path().join("smp"));
    let xftp = start_xftp_relay(tmp.path());
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let inbox_s = inbox.to_string_lossy().into_owned();
    let user = |name: &str, args: &[&str]| {
        new_user_with(name, &prefix(tmp.path(), name), Some(&relay.address), args)
    };
    let mut alice = user("alice", &["--xftp-servers", xftp.address.as_str()]);
    let mut bob = user("bob", &["--files-folder", &inbox_s]);
    let mut cath = user("cath", &["--files-folder", &inbox_s]);
    connect(&mut alice, &mut bob);
    connect(&mut alice, &mut cath);
    group_of_three(&mut alice, &mut bob, &mut cath);

    let src = tmp.path().join("test.pdf");
    let mut data = vec![0u8; 272_376];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut data);
    std::fs::write(&src, &data).expect("write");
    alice.send(&format!("/f #team {}", src.display()));
    alice.expect_item(&format!("/f #team {}", src.display()));
    alice.expect("use /fc 1 to cancel sending");
    for m in [&mut bob, &mut cath] {
        m.expect_item("#team alice> sends file test.pdf (266.0 KiB / 272376 bytes)");
        m.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    }
    alice.expect("completed uploading file 1 (test.pdf) for #team");
    bob.send("/fr 1");
    bob.expect(&format!(
        "saving file 1 from alice to {}",
        inbox.join("test.pdf").display()
    ));
    bob.expect("started receiving file 1 (test.pdf) from alice");
    bob.expect("completed receiving file 1 (test.pdf) from alice");
    cath.send("/fr 1");
    cath.expect(&format!(
        "saving file 1 from alice to {}",
        inbox.join("test_1.pdf").display()
    ));
    cath.expect("started receiving file 1 (test.pdf) from alice");
    cath.expect("completed receiving file 1 (test.pdf) from alice");
    for name in ["test.pdf", "test_1.pdf"] {
        assert!(
            std::fs::read(inbox.join(name)).expect("saved") == data,
            "{name} arrived changed"
        );
    }

    // The sender cancels a second file: both members are told, neither can take it.
    alice.send(&format!("/f #team {}", src.display()));
    alice.expect("use /fc 2 to cancel sending");
    for m in [&mut bob, &mut cath] {
        m.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    }
    alice.send("/fc 2");
    alice.expect("cancelled sending file 2 (test.pdf)");
    for m in [&mut bob, &mut cath] {
        m.expect("alice cancelled sending file 2 (test.pdf)");
        m.send("/fr 2");
        m.expect("file cancelled: test.pdf");
    }
    alice.quit();
    bob.quit();
    cath.quit();
}
