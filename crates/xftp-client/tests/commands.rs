//! Every XFTP command and error against a relay over real TLS and HTTP/2 (the reference's
//! `XFTPServerTests`).

mod common;

use bytes::Bytes;
use common::{address, chunk, client, key, Relay};
use smp_proto::BasicAuth;
use xftp_client::{ChunkBody, ClientConfig, ClientError, XftpClient};
use xftp_proto::{FileCommand, XftpErrorType};

const CHUNK: u32 = 64 * 1024;

fn relay_err(r: Result<impl std::fmt::Debug, ClientError>) -> XftpErrorType {
    match r {
        Err(ClientError::Relay(e)) => e,
        other => panic!("expected a relay error, got {other:?}"),
    }
}

#[tokio::test]
async fn chunk_created_uploaded_downloaded_by_recipients_acked_and_deleted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let server = relay.start(relay.config()).await;
    let c = client(&server).await;
    assert_eq!(
        c.version(),
        xftp_proto::Version(3),
        "handshake negotiated v3"
    );
    c.ping().await.expect("PONG");

    let (spk, rpk1, rpk2) = (key(), key(), key());
    let (data, info) = chunk(CHUNK, &spk);
    let (sid, rids) = c
        .create_chunk(&spk, info, vec![rpk1.public_key()], None)
        .await
        .expect("SIDS");
    assert_eq!((sid.len(), rids.len()), (16, 1));
    // Not uploaded yet.
    let out = tmp.path().join("out");
    let e = c.download_chunk(&rpk1, &rids[0], &out, CHUNK, None).await;
    assert_eq!(relay_err(e), XftpErrorType::NoFile);

    c.upload_chunk(&spk, &sid, ChunkBody::Bytes(data.clone()))
        .await
        .expect("FPUT");
    let digest = simplex_crypto::sha256(&data);
    c.download_chunk(&rpk1, &rids[0], &out, CHUNK, Some(&digest))
        .await
        .expect("FGET");
    assert_eq!(std::fs::read(&out).expect("chunk"), data.to_vec());

    // A recipient added later, on another connection.
    let rid2 = c
        .add_recipients(&spk, &sid, vec![rpk2.public_key()])
        .await
        .expect("RIDS");
    let c2 = client(&server).await;
    c2.download_chunk(&rpk2, &rid2[0], &out, CHUNK, Some(&digest))
        .await
        .expect("FGET by the added recipient");

    // Acknowledged: that recipient is gone, the other one stays.
    c.ack_chunk(&rpk1, &rids[0]).await.expect("FACK");
    let e = c.download_chunk(&rpk1, &rids[0], &out, CHUNK, None).await;
    assert_eq!(relay_err(e), XftpErrorType::Auth);
    c2.download_chunk(&rpk2, &rid2[0], &out, CHUNK, None)
        .await
        .expect("the other recipient still downloads");

    // Deleted: gone for everyone, and from disk.
    assert_eq!(
        std::fs::read_dir(tmp.path().join("files"))
            .expect("dir")
            .count(),
        1
    );
    c.delete_chunk(&spk, &sid).await.expect("FDEL");
    let e = c2.download_chunk(&rpk2, &rid2[0], &out, CHUNK, None).await;
    assert_eq!(relay_err(e), XftpErrorType::Auth);
    assert_eq!(
        relay_err(c.delete_chunk(&spk, &sid).await),
        XftpErrorType::Auth
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("files"))
            .expect("dir")
            .count(),
        0
    );
    let stats = server.relay.stats.snapshot();
    assert_eq!(
        (
            stats.files_created,
            stats.files_uploaded,
            stats.files_deleted,
            stats.file_download_acks
        ),
        (1, 1, 1, 1)
    );
    server.stop().await;
}

#[tokio::test]
async fn auth_is_the_same_for_missing_chunks_and_wrong_keys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let server = relay.start(relay.config()).await;
    let c = client(&server).await;
    let (spk, rpk) = (key(), key());
    let (data, info) = chunk(CHUNK, &spk);
    let (sid, rids) = c
        .create_chunk(&spk, info.clone(), vec![rpk.public_key()], None)
        .await
        .expect("SIDS");
    let out = tmp.path().join("out");
    let other = key();
    // Wrong keys on existing chunks.
    assert_eq!(
        relay_err(
            c.upload_chunk(&other, &sid, ChunkBody::Bytes(data.clone()))
                .await
        ),
        XftpErrorType::Auth
    );
    assert_eq!(
        relay_err(c.delete_chunk(&rpk, &sid).await),
        XftpErrorType::Auth
    );
    assert_eq!(
        relay_err(c.download_chunk(&other, &rids[0], &out, CHUNK, None).await),
        XftpErrorType::Auth
    );
    // A recipient ID used as a sender ID and the reverse.
    assert_eq!(
        relay_err(c.delete_chunk(&spk, &rids[0]).await),
        XftpErrorType::Auth
    );
    assert_eq!(
        relay_err(c.download_chunk(&rpk, &sid, &out, CHUNK, None).await),
        XftpErrorType::Auth
    );
    // IDs that do not exist.
    assert_eq!(
        relay_err(c.delete_chunk(&spk, &[7u8; 16]).await),
        XftpErrorType::Auth
    );
    assert_eq!(
        relay_err(c.ack_chunk(&rpk, &[7u8; 16]).await),
        XftpErrorType::Auth
    );
    // FNEW signed by a key other than the one it registers.
    assert_eq!(
        relay_err(
            c.create_chunk(&other, info, vec![rpk.public_key()], None)
                .await
        ),
        XftpErrorType::Auth
    );
    // Unsigned commands are refused before any look-up.
    let r = c.send_command(None, &sid, &FileCommand::Del, None).await;
    assert!(matches!(relay_err(r), XftpErrorType::Cmd(_)));
    server.stop().await;
}

#[tokio::test]
async fn size_digest_and_quota_are_checked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let mut cfg = relay.config();
    cfg.quota = Some(u64::from(CHUNK) + 1000);
    let server = relay.start(cfg).await;
    let c = client(&server).await;
    let (spk, rpk) = (key(), key());

    // A size that is not a chunk size.
    let (_, mut bad) = chunk(CHUNK, &spk);
    bad.size = 1000;
    let e = c
        .create_chunk(&spk, bad, vec![rpk.public_key()], None)
        .await;
    assert_eq!(relay_err(e), XftpErrorType::Size);

    let (data, info) = chunk(CHUNK, &spk);
    let (sid, _) = c
        .create_chunk(&spk, info, vec![rpk.public_key()], None)
        .await
        .expect("SIDS");
    // Short, long and missing bodies.
    let short = ChunkBody::Bytes(data.slice(..1000));
    assert_eq!(
        relay_err(c.upload_chunk(&spk, &sid, short).await),
        XftpErrorType::Size
    );
    let mut long = data.to_vec();
    long.push(0);
    let long = ChunkBody::Bytes(Bytes::from(long));
    assert_eq!(
        relay_err(c.upload_chunk(&spk, &sid, long).await),
        XftpErrorType::Size
    );
    let none = c
        .send_command(Some(&spk), &sid, &FileCommand::Put, None)
        .await;
    assert_eq!(relay_err(none), XftpErrorType::Size);
    // Wrong content of the right size.
    let mut wrong = data.to_vec();
    wrong[100] ^= 1;
    let wrong = ChunkBody::Bytes(Bytes::from(wrong));
    assert_eq!(
        relay_err(c.upload_chunk(&spk, &sid, wrong).await),
        XftpErrorType::Digest
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("files"))
            .expect("dir")
            .count(),
        0
    );
    // The right content is still accepted, and again (unchanged) when repeated.
    c.upload_chunk(&spk, &sid, ChunkBody::Bytes(data.clone()))
        .await
        .expect("FPUT");
    c.upload_chunk(&spk, &sid, ChunkBody::Bytes(data.clone()))
        .await
        .expect("FPUT repeated");

    // The quota holds one chunk.
    let (data2, info2) = chunk(CHUNK, &spk);
    let (sid2, _) = c
        .create_chunk(&spk, info2, vec![rpk.public_key()], None)
        .await
        .expect("SIDS");
    let e = c
        .upload_chunk(&spk, &sid2, ChunkBody::Bytes(data2.clone()))
        .await;
    assert_eq!(relay_err(e), XftpErrorType::Quota);
    // Deleting the first frees it.
    c.delete_chunk(&spk, &sid).await.expect("FDEL");
    c.upload_chunk(&spk, &sid2, ChunkBody::Bytes(data2))
        .await
        .expect("FPUT after delete");
    server.stop().await;
}

#[tokio::test]
async fn new_files_need_the_password_when_set() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let mut cfg = relay.config();
    cfg.create_password = Some(BasicAuth::new(b"pwd").expect("password"));
    let server = relay.start(cfg).await;
    let c = client(&server).await;
    let (spk, rpk) = (key(), key());
    let (_, info) = chunk(CHUNK, &spk);
    let rk = vec![rpk.public_key()];
    let wrong = BasicAuth::new(b"wrong").expect("password");
    let right = BasicAuth::new(b"pwd").expect("password");
    assert_eq!(
        relay_err(c.create_chunk(&spk, info.clone(), rk.clone(), None).await),
        XftpErrorType::Auth
    );
    assert_eq!(
        relay_err(
            c.create_chunk(&spk, info.clone(), rk.clone(), Some(wrong))
                .await
        ),
        XftpErrorType::Auth
    );
    c.create_chunk(&spk, info.clone(), rk.clone(), Some(right.clone()))
        .await
        .expect("allowed with the password");
    server.stop().await;

    let mut cfg = relay.config();
    cfg.allow_new_files = false;
    cfg.create_password = Some(right.clone());
    let server = relay.start(cfg).await;
    let c = client(&server).await;
    assert_eq!(
        relay_err(
            c.create_chunk(&spk, info.clone(), rk.clone(), Some(right))
                .await
        ),
        XftpErrorType::Auth,
        "new_files = off"
    );
    server.stop().await;

    // A password sent to a relay without one is ignored.
    let server = relay.start(relay.config()).await;
    let c = client(&server).await;
    let any = BasicAuth::new(b"any").expect("password");
    c.create_chunk(&spk, info, rk, Some(any))
        .await
        .expect("allowed");
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_fingerprint_is_refused_before_any_command() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let server = relay.start(relay.config()).await;
    let mut addr = address(&server);
    addr.key_hash = vec![1u8; 32];
    let e = XftpClient::connect(&addr, &ClientConfig::default())
        .await
        .expect_err("refused");
    assert!(matches!(e, ClientError::WrongFingerprint), "{e:?}");
    assert!(e.to_string().contains("fingerprint"), "{e}");
    server.stop().await;
}

#[tokio::test]
async fn without_alpn_commands_run_at_version_1_without_handshake() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let server = relay.start(relay.config()).await;
    let config = ClientConfig {
        alpn: Vec::new(),
        ..ClientConfig::default()
    };
    let c = XftpClient::connect(&address(&server), &config)
        .await
        .expect("connects");
    assert_eq!(c.version(), xftp_proto::Version(1));
    let (spk, rpk) = (key(), key());
    let (data, info) = chunk(CHUNK, &spk);
    let (sid, rids) = c
        .create_chunk(&spk, info, vec![rpk.public_key()], None)
        .await
        .expect("SIDS");
    c.upload_chunk(&spk, &sid, ChunkBody::Bytes(data.clone()))
        .await
        .expect("FPUT");
    let out = tmp.path().join("out");
    c.download_chunk(&rpk, &rids[0], &out, CHUNK, None)
        .await
        .expect("FGET");
    assert_eq!(std::fs::read(&out).expect("chunk"), data.to_vec());
    server.stop().await;
}

#[tokio::test]
async fn idle_clients_are_disconnected_when_configured() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = Relay::new(tmp.path());
    let mut cfg = relay.config();
    cfg.inactive_clients = Some(xftp_server::InactiveClients {
        ttl: std::time::Duration::from_secs(1),
        check_interval: std::time::Duration::from_millis(100),
    });
    let server = relay.start(cfg).await;
    let c = client(&server).await;
    c.ping().await.expect("PONG");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while c.is_open().await {
        assert!(std::time::Instant::now() < deadline, "never disconnected");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(c.ping().await.is_err(), "the connection is closed");
    // Without the setting, an idle client stays.
    server.stop().await;
    let server = relay.start(relay.config()).await;
    let c = client(&server).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(c.is_open().await);
    c.ping().await.expect("PONG");
    server.stop().await;
}
