//! Files end to end: an SMP relay process, an XFTP relay process and two `simplex-chat`
//! processes, driven as a person would, printing what the reference prints
//! (`tests/ChatTests/Files.hs`, `testXFTPFileTransfer`).

mod common;

use std::path::Path;

use common::*;

/// Not a test of its own: the SMP relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// Not a test of its own: the XFTP relay child process (see `common::xftp`).
#[tokio::test]
async fn xftp_relay_process() {
    xftp_relay_main().await;
}

/// A test's world: an SMP relay, an XFTP relay and one folder received files go to.
struct Files {
    tmp: tempfile::TempDir,
    relay: Relay,
    xftp: XftpRelay,
    inbox: std::path::PathBuf,
}

impl Files {
    fn new() -> Files {
        let tmp = tempfile::tempdir().expect("tempdir");
        let relay = start_relay(&tmp.path().join("smp"));
        let xftp = start_xftp_relay(tmp.path());
        let inbox = tmp.path().join("inbox");
        std::fs::create_dir_all(&inbox).expect("inbox");
        Files {
            tmp,
            relay,
            xftp,
            inbox,
        }
    }

    /// A new user who sends files through the XFTP relay.
    fn sender(&self, name: &str) -> ChatProc {
        self.user(name, &["--xftp-servers", self.xftp.address.as_str()])
    }

    /// A new user who saves received files in the inbox.
    fn receiver(&self, name: &str) -> ChatProc {
        self.user(name, &["--files-folder", &self.inbox.to_string_lossy()])
    }

    fn user(&self, name: &str, args: &[&str]) -> ChatProc {
        let db = prefix(self.tmp.path(), name);
        new_user_with(name, &db, Some(&self.relay.address), args)
    }
}

#[test]
fn a_5_mib_file_to_a_contact_arrives_whole() {
    let w = Files::new();
    let (tmp, inbox) = (&w.tmp, &w.inbox);
    let mut alice = w.sender("alice");
    let mut bob = w.receiver("bob");
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
    let w = Files::new();
    let (tmp, inbox) = (&w.tmp, &w.inbox);
    let mut alice = w.sender("alice");
    let mut bob = w.receiver("bob");
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
    let w = Files::new();
    let (tmp, inbox) = (&w.tmp, &w.inbox);
    let mut alice = w.sender("alice");
    let mut bob = w.receiver("bob");
    let mut cath = w.receiver("cath");
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

/// Transfers outlive their relay and their chats: an upload that starts while the XFTP
/// relay is down goes on after the sender restarts and the relay is back; a download the
/// receiver accepted while the relay was down completes after the receiver restarts; a file
/// the relay no longer has (its store wiped, as after expiry) is reported as gone.
#[test]
fn transfers_survive_restarts_and_a_lost_file_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&tmp.path().join("smp"));
    let xdir = tmp.path().join("xftp");
    let (xftp, port) = start_persistent_xftp_relay(&xdir, 0);
    let address = xftp.address.clone();
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let inbox_s = inbox.to_string_lossy().into_owned();
    let (alice_db, bob_db) = (prefix(tmp.path(), "alice"), prefix(tmp.path(), "bob"));
    let alice_args = ["--xftp-servers", address.as_str()];
    let bob_args = ["--files-folder", inbox_s.as_str()];
    let mut alice = new_user_with("alice", &alice_db, Some(&relay.address), &alice_args);
    let mut bob = new_user_with("bob", &bob_db, Some(&relay.address), &bob_args);
    connect(&mut alice, &mut bob);
    let restart = |name: &str, db: &Path, args: &[&str]| {
        let mut cmd = chat_command(db, None, None);
        cmd.args(args);
        let mut p = ChatProc::spawn(name, cmd);
        p.wait_for("Current user", |l| {
            l.ends_with(&format!("Current user: {name}"))
        });
        p
    };
    let file = |name: &str, size: usize| {
        let mut data = vec![0u8; size];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut data);
        let path = tmp.path().join(name);
        std::fs::write(&path, &data).expect("write");
        (path, data)
    };

    // 1. The relay is down when Alice sends; she quits and starts again; the relay comes
    //    back: the upload completes and Bob gets the file.
    drop(xftp);
    let (one, one_data) = file("one.bin", 3 << 20);
    alice.send(&format!("/f @bob {}", one.display()));
    alice.expect("use /fc 1 to cancel sending");
    bob.expect_item("alice> sends file one.bin (3.0 MiB / 3145728 bytes)");
    alice.quit();
    let mut alice = restart("alice", &alice_db, &alice_args);
    let (xftp, _) = start_persistent_xftp_relay(&xdir, port);
    alice.expect("completed uploading file 1 (one.bin) for bob");
    bob.send("/fr 1");
    bob.expect("started receiving file 1 (one.bin) from alice");
    bob.expect("completed receiving file 1 (one.bin) from alice");
    assert!(std::fs::read(inbox.join("one.bin")).expect("saved") == one_data);

    // 2. Bob accepts a file while the relay is down and quits; started again, with the
    //    relay back, he receives it.
    let (two, two_data) = file("two.bin", 2 << 20);
    alice.send(&format!("/f @bob {}", two.display()));
    alice.expect("completed uploading file 2 (two.bin) for bob");
    bob.expect("use /fr 2 [<dir>/ | <path>] to receive it");
    drop(xftp);
    bob.send("/fr 2");
    bob.expect("started receiving file 2 (two.bin) from alice");
    bob.send("/fs 2");
    bob.expect("receiving file 2 (two.bin) just started");
    bob.quit();
    let mut bob = restart("bob", &bob_db, &bob_args);
    let (xftp, _) = start_persistent_xftp_relay(&xdir, port);
    bob.expect("started receiving file 2 (two.bin) from alice");
    bob.expect("completed receiving file 2 (two.bin) from alice");
    assert!(std::fs::read(inbox.join("two.bin")).expect("saved") == two_data);

    // 3. The relay loses the file (its store log and files wiped, as after expiry): Bob is
    //    told it is gone.
    let (three, _) = file("three.bin", 1000);
    alice.send(&format!("/f @bob {}", three.display()));
    alice.expect("completed uploading file 3 (three.bin) for bob");
    bob.expect("use /fr 3 [<dir>/ | <path>] to receive it");
    drop(xftp);
    let log = xdir.join("log");
    for e in std::fs::read_dir(&log).expect("log dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).expect("wipe files");
        } else if p.to_string_lossy().ends_with(".log") {
            std::fs::remove_file(&p).expect("wipe store log");
        }
    }
    let _xftp = start_persistent_xftp_relay(&xdir, port);
    bob.send("/fr 3");
    bob.expect("started receiving file 3 (three.bin) from alice");
    bob.expect(
        "error receiving file 3 (three.bin): the file is no longer on the relay (expired or deleted)",
    );
    alice.quit();
    bob.quit();
}

/// Files through the chat's SOCKS proxy, and a cancelled file deleted from its relay: with
/// `--socks-proxy` both sides reach the XFTP relay through the proxy (never directly); when
/// the sender cancels a file already uploaded, its chunks leave the relay's disk.
#[test]
fn files_go_through_the_socks_proxy_and_a_cancelled_file_leaves_the_relay() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = rt
        .block_on(test_support::socks::SocksServer::start())
        .expect("socks");
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&tmp.path().join("smp"));
    let xftp = start_xftp_relay(tmp.path());
    let xftp_port: u16 = xftp
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let socks = proxy.addr().to_string();
    let inbox_s = inbox.to_string_lossy().into_owned();
    let alice_args = [
        "--xftp-servers",
        xftp.address.as_str(),
        "--socks-proxy",
        socks.as_str(),
    ];
    let bob_args = [
        "--files-folder",
        inbox_s.as_str(),
        "--socks-proxy",
        socks.as_str(),
    ];
    let user = |name: &str, args: &[&str]| {
        new_user_with(name, &prefix(tmp.path(), name), Some(&relay.address), args)
    };
    let mut alice = user("alice", &alice_args);
    let mut bob = user("bob", &bob_args);
    connect(&mut alice, &mut bob);
    let src = tmp.path().join("a.bin");
    std::fs::write(&src, vec![7u8; 100_000]).expect("write");
    alice.send(&format!("/f @bob {}", src.display()));
    alice.expect("completed uploading file 1 (a.bin) for bob");
    bob.expect("use /fr 1 [<dir>/ | <path>] to receive it");
    bob.send("/fr 1");
    bob.expect("completed receiving file 1 (a.bin) from alice");
    let to_xftp = proxy
        .requests()
        .iter()
        .filter(|r| r.port == xftp_port)
        .count();
    assert!(
        to_xftp >= 2,
        "both sides' XFTP connections through the proxy"
    );

    // The relay keeps the chunks of an uploaded file until the sender cancels it.
    let stored = || {
        walk(&tmp.path().join("xftp").join("log").join("files"))
            .into_iter()
            .filter(|p| p.is_file())
            .count()
    };
    let before = stored();
    alice.send(&format!("/f @bob {}", src.display()));
    alice.expect("completed uploading file 2 (a.bin) for bob");
    assert!(stored() > before, "its chunks on the relay");
    alice.send("/fc 2");
    alice.expect("cancelled sending file 2 (a.bin) to bob");
    bob.expect("alice cancelled sending file 2 (a.bin)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stored() > before {
        assert!(
            std::time::Instant::now() < deadline,
            "the cancelled file's chunks were not deleted from the relay"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    alice.quit();
    bob.quit();
}

/// Every path under `dir`, files and folders.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}
