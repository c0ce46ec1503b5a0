//! The `xftp` command line as a user runs it (a real process) against relays over real TLS
//! and HTTP/2: `send`, `info`, `recv`, `del`, a wrong fingerprint, and a send and a receive
//! killed part way and run again.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{address, Relay};
use tokio::process::Command;

fn xftp() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xftp"));
    c.env("RUST_LOG", "warn").kill_on_drop(true);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn run(args: &[&str]) -> Output {
    xftp().args(args).output().await.expect("runs")
}

fn random_file(path: &Path, size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut data);
    std::fs::write(path, &data).expect("write");
    data
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_info_recv_and_del_through_two_relays() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ra, rb) = (
        Relay::new(&tmp.path().join("a")),
        Relay::new(&tmp.path().join("b")),
    );
    let (a, b) = (ra.start(ra.config()).await, rb.start(rb.config()).await);
    let servers = format!("{};{}", address(&a), address(&b));
    let src = tmp.path().join("report.pdf");
    let data = random_file(&src, 3 << 20);
    let descs = tmp.path().join("descs");
    std::fs::create_dir_all(&descs).expect("dir");

    let o = run(&[
        "send",
        &s(&src),
        &s(&descs),
        "-n",
        "2",
        "-s",
        &servers,
        "--tmp",
        &s(&tmp.path().join("t")),
    ])
    .await;
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let dir = descs.join("report.pdf.xftp");
    assert!(out.contains("File uploaded!"), "{out}");
    assert!(
        out.contains(&format!(
            "Sender file description: {}",
            s(&dir.join("snd.xftp.private"))
        )),
        "{out}"
    );
    assert!(
        out.contains("Pass file descriptions to the recipient(s):"),
        "{out}"
    );
    assert!(
        out.contains(&s(&dir.join("rcv1.xftp"))) && out.contains(&s(&dir.join("rcv2.xftp"))),
        "{out}"
    );
    assert!(out.contains("Web link:\nhttps://127.0.0.1/#"), "{out}");
    let sent_out = out.clone();

    let o = run(&["info", &s(&dir.join("rcv1.xftp"))]).await;
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.starts_with("Recipient file description\nFile download size: "),
        "{out}"
    );
    assert!(out.contains("File server(s):\nxftp://"), "{out}");
    let o = run(&["info", &s(&dir.join("snd.xftp.private"))]).await;
    assert!(
        text(&o).starts_with("Sender file description\n"),
        "{}",
        text(&o)
    );

    let keep = tmp.path().join("rcv2-copy.xftp");
    std::fs::copy(dir.join("rcv2.xftp"), &keep).expect("copy");
    // The first recipient uses the web link printed by `send` (its description's), the
    // second the description file.
    let link = sent_out
        .lines()
        .find(|l| l.starts_with("https://127.0.0.1/#"))
        .expect("web link")
        .to_owned();
    let inbox = tmp.path().join("in1");
    let o = run(&["recv", &link, &s(&inbox), "-y"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read(inbox.join("report.pdf")).expect("file") == data);
    for i in [2] {
        let inbox = tmp.path().join(format!("in{i}"));
        let fd = dir.join(format!("rcv{i}.xftp"));
        let o = run(&["recv", &s(&fd), &s(&inbox), "-y"]).await;
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(
            out.contains(&format!(
                "File downloaded: {}",
                s(&inbox.join("report.pdf"))
            )),
            "{out}"
        );
        assert!(out.contains("is deleted."), "{out}");
        assert!(!fd.exists(), "the used description is deleted");
        assert!(std::fs::read(inbox.join("report.pdf")).expect("file") == data);
    }
    // Each download was acknowledged.
    let acks =
        a.relay.stats.snapshot().file_download_acks + b.relay.stats.snapshot().file_download_acks;
    assert!(acks > 0);

    let o = run(&["del", &s(&dir.join("snd.xftp.private")), "-y"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("File deleted!"), "{}", text(&o));
    assert_eq!(a.relay.store().len() + b.relay.store().len(), 0);
    // rcv2 was acknowledged, and the file is gone anyway.
    let o = run(&["recv", &s(&keep), &s(&tmp.path().join("late")), "-y"]).await;
    assert!(!o.status.success());
    assert!(text(&o).contains("AUTH"), "{}", text(&o));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_fingerprint_and_a_full_relay_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let mut cfg = relay.config();
    cfg.quota = Some(1000);
    let server = relay.start(cfg).await;
    let src = tmp.path().join("a.txt");
    random_file(&src, 1000);
    let mut wrong = address(&server);
    wrong.key_hash = vec![9u8; 32];
    let o = run(&[
        "send",
        &s(&src),
        &s(tmp.path()),
        "-s",
        &wrong.to_string(),
        "-r",
        "1",
    ])
    .await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("does not match the fingerprint"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "send",
        &s(&src),
        &s(tmp.path()),
        "-s",
        &address(&server).to_string(),
    ])
    .await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("QUOTA (the relay's storage is full)"),
        "{}",
        text(&o)
    );
    server.stop().await;
}

/// Waits until `path` (a state file) contains `needle`.
async fn wait_for(path: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never had {needle}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_send_and_recv_continue_from_finished_chunks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let server = relay.start(relay.config()).await;
    let src = tmp.path().join("video.mp4");
    let data = random_file(&src, 40 << 20);
    let work = tmp.path().join("t");
    let descs = tmp.path().join("descs");
    std::fs::create_dir_all(&descs).expect("dir");
    let addr = address(&server).to_string();
    let args = [
        "send",
        &s(&src),
        &s(&descs),
        "-s",
        &addr,
        "--tmp",
        &s(&work),
    ];

    let mut child = xftp().args(args).spawn().expect("spawns");
    let (_, state) = xftp_client::upload::work_paths(&src, &work);
    wait_for(&state, "\"uploaded\": true").await;
    child.kill().await.expect("killed");
    let uploaded_before = server.relay.stats.snapshot().files_uploaded;
    let o = run(&args).await;
    assert!(o.status.success(), "{}", text(&o));
    let fd = descs.join("video.mp4.xftp/rcv1.xftp");
    let desc = xftp_proto::FileDescription::from_yaml(&std::fs::read_to_string(&fd).expect("fd"))
        .expect("yaml");
    // (The relay may also hold a chunk or two registered just before the kill whose IDs the
    // client never saved: they are never uploaded and expire.)
    let chunks = i64::try_from(desc.chunks.len()).expect("count");
    let uploaded = server.relay.stats.snapshot().files_uploaded;
    assert!(
        uploaded_before > 0 && uploaded_before < chunks,
        "killed part way: {uploaded_before}/{chunks}"
    );
    assert_eq!(uploaded, chunks, "finished chunks were not uploaded again");

    let inbox = tmp.path().join("in");
    let mut child = xftp()
        .args(["recv", &s(&fd), &s(&inbox), "-y"])
        .spawn()
        .expect("spawns");
    let state = xftp_client::download::work_dir(&desc, &inbox).join("state.json");
    wait_for(&state, "\"done\": [").await;
    child.kill().await.expect("killed");
    let before = server.relay.stats.snapshot().file_downloads;
    let o = run(&["recv", &s(&fd), &s(&inbox), "-y"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let again = server.relay.stats.snapshot().file_downloads - before;
    assert!(
        again < chunks,
        "finished chunks were not downloaded again: {again}/{chunks}"
    );
    assert!(std::fs::read(inbox.join("video.mp4")).expect("file") == data);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_relay_that_needs_a_password() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let mut cfg = relay.config();
    cfg.create_password = Some(smp_proto::BasicAuth::new(b"s3cret").expect("password"));
    let server = relay.start(cfg).await;
    let src = tmp.path().join("note.txt");
    random_file(&src, 5000);
    let work = s(&tmp.path().join("t"));
    let plain = address(&server).to_string();
    let o = run(&[
        "send",
        &s(&src),
        &s(tmp.path()),
        "-s",
        &plain,
        "--tmp",
        &work,
        "-r",
        "1",
    ])
    .await;
    assert!(!o.status.success());
    assert!(text(&o).contains("AUTH"), "{}", text(&o));
    let with_pw = plain.replacen('@', ":s3cret@", 1);
    let o = run(&[
        "send",
        &s(&src),
        &s(tmp.path()),
        "-s",
        &with_pw,
        "--tmp",
        &work,
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let rcv = tmp.path().join("note.txt.xftp/rcv1.xftp");
    let desc = std::fs::read_to_string(&rcv).expect("description");
    assert!(
        !desc.contains("s3cret"),
        "the password is not passed to recipients: {desc}"
    );
    let o = run(&["recv", &s(&rcv), &s(&tmp.path().join("in")), "-y"]).await;
    assert!(o.status.success(), "{}", text(&o));
    server.stop().await;
}
