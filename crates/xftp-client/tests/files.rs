//! Whole files through relays over real TLS and HTTP/2: spread over two relays, kept across
//! a relay restart (store log), expired, and transfers resumed after being stopped.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{address, client, Relay};
use xftp_client::{
    download, upload, ClientConfig, ClientError, DownloadOptions, Progress, UploadOptions,
};
use xftp_proto::{FileDescription, XftpErrorType};
use xftp_server::Expiration;

fn random_file(path: &std::path::Path, size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut data);
    std::fs::write(path, &data).expect("write");
    data
}

#[tokio::test]
async fn a_20_mib_file_through_two_relays_to_two_recipients() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ra, rb) = (
        Relay::new(&tmp.path().join("a")),
        Relay::new(&tmp.path().join("b")),
    );
    let (a, b) = (ra.start(ra.config()).await, rb.start(rb.config()).await);
    let src = tmp.path().join("big.bin");
    let data = random_file(&src, 20 << 20);
    let opts = UploadOptions::new(vec![address(&a), address(&b)], 2, tmp.path().join("work"));
    let sent = upload(&src, &opts, None).await.expect("uploaded");
    assert_eq!(sent.recipients.len(), 2);
    let chunks = sent.sender.chunks.len();
    assert!(chunks >= 5, "4 MiB chunks: {chunks}");
    let (na, nb) = (a.relay.store().len(), b.relay.store().len());
    assert_eq!(na + nb, chunks);
    assert!(na > 0 && nb > 0, "spread over both relays: {na} + {nb}");
    assert!(
        std::fs::read_dir(tmp.path().join("work"))
            .expect("work")
            .next()
            .is_none(),
        "the work files are removed"
    );
    for (i, desc) in sent.recipients.iter().enumerate() {
        // Through the description's text, as a recipient gets it.
        let desc = FileDescription::from_yaml(&desc.to_yaml()).expect("yaml");
        let dir = tmp.path().join(format!("r{i}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let got = download(&desc, &dir, &DownloadOptions::default(), None)
            .await
            .expect("downloaded");
        assert_eq!(got, dir.join("big.bin"), "named from the encrypted header");
        assert!(std::fs::read(&got).expect("file") == data, "same content");
        let names: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
        assert_eq!(names.len(), 1, "no work files left");
    }
    // The sender deletes it everywhere.
    xftp_client::delete(&sent.sender, &ClientConfig::default())
        .await
        .expect("deleted");
    assert_eq!(a.relay.store().len() + b.relay.store().len(), 0);
    let dir = tmp.path().join("late");
    std::fs::create_dir_all(&dir).expect("dir");
    let e = download(&sent.recipients[0], &dir, &DownloadOptions::default(), None).await;
    assert!(
        matches!(e, Err(ClientError::Relay(XftpErrorType::Auth))),
        "{e:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_restarted_relay_keeps_its_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let mut cfg = relay.config();
    cfg.store_log = Some(tmp.path().join("file-server-store.log"));
    let server = relay.start(cfg.clone()).await;
    let src = tmp.path().join("doc.txt");
    let data = random_file(&src, 300_000);
    let opts = UploadOptions::new(vec![address(&server)], 1, tmp.path().join("work"));
    let sent = upload(&src, &opts, None).await.expect("uploaded");
    let chunks = sent.sender.chunks.len();
    let addr = server.addr;
    server.stop().await;

    // The same port again, so the description's address still names it.
    cfg.listen = addr;
    let server = relay.start(cfg).await;
    assert_eq!(
        server.relay.store().len(),
        chunks,
        "restored from the store log"
    );
    assert_eq!(server.relay.stats.snapshot().files_count, chunks as i64);
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).expect("dir");
    let got = download(&sent.recipients[0], &dir, &DownloadOptions::default(), None)
        .await
        .expect("downloaded after restart");
    assert!(std::fs::read(got).expect("file") == data);
    let log = std::fs::read_to_string(tmp.path().join("file-server-store.log")).expect("log");
    assert_eq!(
        log.lines().filter(|l| l.starts_with("FNEW ")).count(),
        chunks,
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.starts_with("FPUT ")).count(),
        chunks,
        "{log}"
    );
    server.stop().await;
}

#[tokio::test]
async fn chunks_expire() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let mut cfg = relay.config();
    cfg.time_precision = 1;
    cfg.expiration = Some(Expiration {
        ttl_secs: 1,
        check_interval: Duration::from_millis(200),
    });
    let server = relay.start(cfg).await;
    let src = tmp.path().join("f.bin");
    random_file(&src, 10_000);
    let opts = UploadOptions::new(vec![address(&server)], 1, tmp.path().join("work"));
    let sent = upload(&src, &opts, None).await.expect("uploaded");
    let c = client(&server).await;
    let r = &sent.recipients[0].chunks[0].replicas[0];
    let out = tmp.path().join("chunk");
    let deadline = Instant::now() + Duration::from_secs(20);
    let e = loop {
        match c
            .download_chunk(
                &r.replica_key,
                &r.replica_id,
                &out,
                sent.recipients[0].chunks[0].chunk_size,
                None,
            )
            .await
        {
            // A body cut off because the chunk expired while it was sent: ask again.
            Ok(()) | Err(ClientError::Http(_)) => {
                assert!(Instant::now() < deadline, "never expired");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => break e,
        }
    };
    assert!(
        matches!(e, ClientError::Relay(XftpErrorType::Auth)),
        "{e:?}"
    );
    // The record goes last (after the body and the counters).
    while !server.relay.store().is_empty() {
        assert!(Instant::now() < deadline, "the record stays");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.relay.stats.snapshot().files_expired, 1);
    assert_eq!(
        std::fs::read_dir(tmp.path().join("files"))
            .expect("dir")
            .count(),
        0
    );
    server.stop().await;
}

/// Runs `f` with a progress callback, aborting it once `stop_at` bytes are reported.
async fn interrupted<F, Fut>(stop_at: u64, f: F)
where
    F: FnOnce(Progress) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let notify = Arc::new(tokio::sync::Notify::new());
    let n = notify.clone();
    let progress: Progress = Arc::new(move |done, _| {
        if done >= stop_at {
            n.notify_one();
        }
    });
    let task = tokio::spawn(f(progress));
    notify.notified().await;
    task.abort();
    let _ = task.await;
}

#[tokio::test]
async fn stopped_uploads_and_downloads_resume_from_finished_chunks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let server = relay.start(relay.config()).await;
    let src = tmp.path().join("movie.bin");
    let data = random_file(&src, 12 << 20);
    let mut opts = UploadOptions::new(vec![address(&server)], 1, tmp.path().join("work"));
    opts.parallel = 1;

    let o = opts.clone();
    let s = src.clone();
    interrupted(1, move |p| async move {
        let _ = upload(&s, &o, Some(p)).await;
    })
    .await;
    assert!(
        xftp_client::upload::work_paths(&src, &tmp.path().join("work"))
            .1
            .exists(),
        "state kept"
    );
    let first = Arc::new(AtomicU64::new(u64::MAX));
    let f = first.clone();
    let progress: Progress = Arc::new(move |done, _| {
        let _ = f.compare_exchange(u64::MAX, done, Ordering::SeqCst, Ordering::SeqCst);
    });
    let sent = upload(&src, &opts, Some(progress))
        .await
        .expect("resumed upload");
    let resumed_at = first.load(Ordering::SeqCst);
    assert!(
        resumed_at > 0 && resumed_at < sent.sender.size,
        "resumed at {resumed_at}"
    );
    let uploaded = server.relay.stats.snapshot().files_uploaded;
    assert_eq!(
        usize::try_from(uploaded).expect("count"),
        sent.sender.chunks.len(),
        "no chunk uploaded twice"
    );

    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).expect("dir");
    let desc = sent.recipients[0].clone();
    let dopts = DownloadOptions {
        parallel: 1,
        ..DownloadOptions::default()
    };
    let (d, o, dd) = (desc.clone(), dopts.clone(), dir.clone());
    interrupted(1, move |p| async move {
        let _ = download(&d, &dd, &o, Some(p)).await;
    })
    .await;
    assert!(xftp_client::download::work_dir(&desc, &dir)
        .join("state.json")
        .exists());
    let first = Arc::new(AtomicU64::new(u64::MAX));
    let f = first.clone();
    let progress: Progress = Arc::new(move |done, _| {
        let _ = f.compare_exchange(u64::MAX, done, Ordering::SeqCst, Ordering::SeqCst);
    });
    let downloads_before = server.relay.stats.snapshot().file_downloads;
    let got = download(&desc, &dir, &dopts, Some(progress))
        .await
        .expect("resumed download");
    let resumed_at = first.load(Ordering::SeqCst);
    assert!(
        resumed_at > 0 && resumed_at < desc.size,
        "resumed at {resumed_at}"
    );
    let downloads = server.relay.stats.snapshot().file_downloads - downloads_before;
    assert!(
        usize::try_from(downloads).expect("count") < desc.chunks.len(),
        "{downloads} chunks downloaded again"
    );
    assert!(std::fs::read(got).expect("file") == data);
    server.stop().await;
}

#[tokio::test]
async fn a_redirect_description_leads_to_the_real_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let server = relay.start(relay.config()).await;
    let src = tmp.path().join("photo.jpg");
    let data = random_file(&src, 2 << 20);
    let opts = UploadOptions::new(vec![address(&server)], 1, tmp.path().join("work"));
    let sent = upload(&src, &opts, None).await.expect("uploaded");
    let direct = &sent.recipients[0];
    let redirected = xftp_client::upload_redirect(direct, &opts, None)
        .await
        .expect("description uploaded");
    let short = &redirected.recipients[0];
    assert_eq!(short.redirect.as_ref().map(|r| r.size), Some(direct.size));
    assert!(short.to_yaml().len() < direct.to_yaml().len());
    let short = FileDescription::from_yaml(&short.to_yaml()).expect("yaml");
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).expect("dir");
    let got = download(&short, &dir, &DownloadOptions::default(), None)
        .await
        .expect("followed");
    assert_eq!(got, dir.join("photo.jpg"));
    assert!(std::fs::read(&got).expect("file") == data);
    assert_eq!(
        std::fs::read_dir(&dir).expect("dir").count(),
        1,
        "nothing else left"
    );

    // A redirect whose announced digest differs is refused.
    let mut wrong = redirected.recipients[0].clone();
    if let Some(r) = wrong.redirect.as_mut() {
        r.digest[0] ^= 1;
    }
    let dir = tmp.path().join("in2");
    std::fs::create_dir_all(&dir).expect("dir");
    let e = download(&wrong, &dir, &DownloadOptions::default(), None).await;
    assert!(matches!(e, Err(ClientError::Integrity(_))), "{e:?}");
    server.stop().await;
}
