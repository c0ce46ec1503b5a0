//! The control port: roles, `block` (later downloads answer `BLOCKED`) and `delete`.

use simplex_crypto::{sha256, PrivateAuthKey, PrivateKeyEd25519};
use simplex_encoding::string::base64url_encode;
use simplex_encoding::ShortBytes;
use simplex_transport::{GeneratedCredentials, SignAlgorithm};
use smp_server::control::ControlConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use xftp_client::{ChunkBody, ClientConfig, ClientError, XftpClient};
use xftp_proto::{FileInfo, XftpErrorType, XftpServer};
use xftp_server::ServerConfig;

fn key() -> PrivateAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut rand::rngs::OsRng))
}

async fn chunk(c: &XftpClient) -> (PrivateAuthKey, Vec<u8>) {
    let (spk, rpk) = (key(), key());
    let data = vec![9u8; 65536];
    let info = FileInfo {
        snd_key: spk.public_key(),
        size: 65536,
        digest: ShortBytes::from_slice(&sha256(&data)).expect("digest"),
    };
    let (sid, rids) = c
        .create_chunk(&spk, info, vec![rpk.public_key()], None)
        .await
        .expect("SIDS");
    c.upload_chunk(&spk, &sid, ChunkBody::Bytes(data.into()))
        .await
        .expect("FPUT");
    (rpk, rids[0].clone())
}

type Lines = tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>;

async fn ask(lines: &mut Lines, w: &mut tokio::net::tcp::OwnedWriteHalf, cmd: String) -> String {
    w.write_all(format!("{cmd}\n").as_bytes())
        .await
        .expect("write");
    lines.next_line().await.expect("read").unwrap_or_default()
}

#[tokio::test]
async fn operators_block_and_delete_files_through_the_control_port() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let gen = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "127.0.0.1").expect("creds");
    let creds = gen.server_credentials().expect("creds");
    let mut cfg = ServerConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        tmp.path().join("files"),
    );
    cfg.store_log = Some(tmp.path().join("file-server-store.log"));
    cfg.control = Some((
        0,
        ControlConfig {
            admin_password: Some("adm".into()),
            user_password: Some("usr".into()),
            daily_block_quota: 0,
        },
    ));
    let server = xftp_server::start(cfg, &creds).await.expect("starts");
    let addr = XftpServer::parse_str(server.address("127.0.0.1").as_bytes()).expect("addr");
    let c = XftpClient::connect(&addr, &ClientConfig::default())
        .await
        .expect("connects");
    let (rpk1, rid1) = chunk(&c).await;
    let (rpk2, rid2) = chunk(&c).await;

    let tcp = tokio::net::TcpStream::connect(server.control_addr.expect("control port"))
        .await
        .expect("connects");
    let (r, mut w) = tcp.into_split();
    let mut lines = BufReader::new(r).lines();
    assert_eq!(
        lines.next_line().await.expect("read").as_deref(),
        Some("XFTP server control port")
    );
    assert_eq!(
        lines.next_line().await.expect("read").as_deref(),
        Some("'help' for supported commands")
    );
    assert_eq!(
        ask(
            &mut lines,
            &mut w,
            format!("delete {}", base64url_encode(&rid1))
        )
        .await,
        "AUTH"
    );
    assert_eq!(
        ask(&mut lines, &mut w, "auth wrong".into()).await,
        "Current role is CPRNone"
    );
    assert_eq!(
        ask(&mut lines, &mut w, "auth usr".into()).await,
        "Current role is CPRUser"
    );
    assert_eq!(
        ask(&mut lines, &mut w, "auth adm".into()).await,
        "Current role is CPRUser, start new session to change."
    );
    assert_eq!(
        ask(&mut lines, &mut w, "help".into()).await,
        "commands: stats-rts, delete, help, quit"
    );
    assert_eq!(
        ask(
            &mut lines,
            &mut w,
            format!("block {} reason=spam", base64url_encode(&rid1))
        )
        .await,
        "ok"
    );
    assert_eq!(
        ask(
            &mut lines,
            &mut w,
            format!("delete {}", base64url_encode(&rid2))
        )
        .await,
        "ok"
    );
    assert_eq!(
        ask(
            &mut lines,
            &mut w,
            format!("delete {}", base64url_encode(&[1u8; 16]))
        )
        .await,
        "error: AUTH"
    );
    assert!(ask(&mut lines, &mut w, "block AAAA nonsense".into())
        .await
        .starts_with("error: "));

    let out = tmp.path().join("out");
    match c.download_chunk(&rpk1, &rid1, &out, 65536, None).await {
        Err(ClientError::Relay(XftpErrorType::Blocked(info))) => {
            assert_eq!(info.reason, smp_proto::error::BlockingReason::Spam)
        }
        other => panic!("expected BLOCKED, got {other:?}"),
    }
    let e = c.download_chunk(&rpk2, &rid2, &out, 65536, None).await;
    assert!(
        matches!(e, Err(ClientError::Relay(XftpErrorType::Auth))),
        "{e:?}"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("files"))
            .expect("dir")
            .count(),
        0
    );
    let log = std::fs::read_to_string(tmp.path().join("file-server-store.log")).expect("log");
    assert!(
        log.lines()
            .any(|l| l.starts_with("FBLK ") && l.ends_with(" reason=spam")),
        "{log}"
    );
    assert_eq!(server.relay.stats.snapshot().files_blocked, 1);
    server.stop().await;
}
