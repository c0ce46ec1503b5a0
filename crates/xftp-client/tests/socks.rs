//! Uploads and downloads through a SOCKS5 proxy (`ClientConfig::socks_proxy`, the `xftp`
//! command's `-x` / `--socks-proxy`): relays named by host name reach the proxy as names,
//! each relay with its own username, and a proxy that is down is named in the error.

mod common;

use std::collections::HashSet;

use common::Relay;
use simplex_transport::socks::{SocksAuth, SocksProxy};
use test_support::socks::SocksServer;
use xftp_client::{download, upload, ClientConfig, DownloadOptions, UploadOptions};
use xftp_proto::XftpServer;

fn by_name(s: &xftp_server::RunningServer) -> XftpServer {
    XftpServer::parse_str(s.address("localhost").as_bytes()).expect("address")
}

#[tokio::test]
async fn a_file_through_two_relays_via_the_proxy_by_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (ra, rb) = (
        Relay::new(&tmp.path().join("a")),
        Relay::new(&tmp.path().join("b")),
    );
    let (a, b) = (ra.start(ra.config()).await, rb.start(rb.config()).await);
    let proxy = SocksServer::start().await.expect("socks");
    let config = ClientConfig {
        socks_proxy: Some(SocksProxy {
            addr: proxy.addr(),
            auth: SocksAuth::IsolateByAuth,
        }),
        ..ClientConfig::default()
    };
    let src = tmp.path().join("f.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).expect("write");
    let mut opts = UploadOptions::new(vec![by_name(&a), by_name(&b)], 1, tmp.path().join("w"));
    opts.config = config.clone();
    let sent = upload(&src, &opts, None).await.expect("uploaded");
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).expect("dir");
    let d = DownloadOptions {
        config,
        ..DownloadOptions::default()
    };
    let got = download(&sent.recipients[0], &dir, &d, None)
        .await
        .expect("downloaded");
    assert!(std::fs::read(got).expect("read") == data, "same content");
    let reqs = proxy.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    let ports: HashSet<u16> = [a.addr.port(), b.addr.port()].into();
    for r in &reqs {
        assert!(r.by_name && r.host == "localhost", "{r:?}");
        assert!(ports.contains(&r.port), "{r:?}");
    }
    let names: HashSet<_> = reqs.iter().map(|r| (r.port, r.username.clone())).collect();
    let users: HashSet<_> = names.iter().map(|(_, u)| u.clone()).collect();
    assert_eq!(users.len(), 2, "a username per relay: {names:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_proxy_that_is_down_is_named_in_the_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ra = Relay::new(&tmp.path().join("a"));
    let a = ra.start(ra.config()).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let config = ClientConfig {
        socks_proxy: Some(SocksProxy {
            addr: closed,
            auth: SocksAuth::Null,
        }),
        ..ClientConfig::default()
    };
    let e = xftp_client::XftpClient::connect(&by_name(&a), &config)
        .await
        .expect_err("no proxy")
        .to_string();
    assert!(
        e.contains(&format!("SOCKS proxy {closed} cannot be reached")),
        "{e}"
    );
    a.stop().await;
}
