//! `log_stats`: the daily line and the counters' backup across a restart.

use std::time::{Duration, Instant};

use simplex_crypto::{sha256, PrivateAuthKey, PrivateKeyEd25519};
use simplex_encoding::ShortBytes;
use simplex_transport::{GeneratedCredentials, SignAlgorithm};
use xftp_client::{ChunkBody, ClientConfig, XftpClient};
use xftp_proto::{FileInfo, XftpServer};
use xftp_server::stats::StatsLogConfig;
use xftp_server::ServerConfig;

#[tokio::test]
async fn daily_line_metrics_and_backup_across_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gen = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "127.0.0.1").expect("creds");
    let creds = gen.server_credentials().expect("creds");
    let mut cfg = ServerConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        tmp.path().join("files"),
    );
    cfg.store_log = Some(tmp.path().join("file-server-store.log"));
    cfg.stats = Some(StatsLogConfig {
        daily: tmp.path().join("file-server-stats.daily.log"),
        backup: tmp.path().join("file-server-stats.log"),
        interval: Duration::from_millis(200),
        start_at: None,
    });
    let metrics = tmp.path().join("xftp-server-metrics.txt");
    cfg.prometheus = Some((metrics.clone(), Duration::from_millis(100)));
    let server = xftp_server::start(cfg.clone(), &creds)
        .await
        .expect("starts");
    let addr = XftpServer::parse_str(server.address("127.0.0.1").as_bytes()).expect("addr");
    let c = XftpClient::connect(&addr, &ClientConfig::default())
        .await
        .expect("connects");
    let spk = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut rand::rngs::OsRng));
    let data = vec![3u8; 65536];
    let info = FileInfo {
        snd_key: spk.public_key(),
        size: 65536,
        digest: ShortBytes::from_slice(&sha256(&data)).expect("digest"),
    };
    let (sid, _) = c
        .create_chunk(&spk, info, vec![spk.public_key()], None)
        .await
        .expect("SIDS");
    c.upload_chunk(&spk, &sid, ChunkBody::Bytes(data.into()))
        .await
        .expect("FPUT");

    let daily = tmp.path().join("file-server-stats.daily.log");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&daily).unwrap_or_default();
        // date, created, recipients, uploaded, ...
        if text.lines().any(|l| l.split(',').nth(1) == Some("1")) {
            let line = text
                .lines()
                .find(|l| l.split(',').nth(1) == Some("1"))
                .unwrap_or_default();
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 13, "{line}");
            assert_eq!(
                (f[2], f[3], f[10], f[11]),
                ("1", "1", "1", "65536"),
                "{line}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no daily line: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&metrics)
        .is_ok_and(|t| t.contains("\nsimplex_xftp_files_count_total 1 "))
    {
        assert!(Instant::now() < deadline, "no metrics file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
    let backup = std::fs::read_to_string(tmp.path().join("file-server-stats.log")).expect("backup");
    assert!(
        backup.contains("\nfilesCount=1\nfilesSize=65536\n"),
        "{backup}"
    );

    let server = xftp_server::start(cfg, &creds).await.expect("restarts");
    assert!(tmp.path().join("file-server-stats.log.bak").exists());
    assert!(!tmp.path().join("file-server-stats.log").exists());
    let s = server.relay.stats.snapshot();
    assert_eq!((s.files_count, s.files_size), (1, 65536));
    server.stop().await;
}
