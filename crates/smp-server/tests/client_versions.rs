//! The v18-capable client against our relay: with a relay offering v6–v9 it negotiates down
//! to v9 (no block encryption), works as before, and refuses the short-link calls its
//! version cannot carry; the relay grants its whole range to ALPN `http/1.1` and `h2` as to
//! `smp/1`, and v6 without ALPN.

mod common;

use std::time::Duration;

use common::{ed_key, new_queue, next_msg};
use rand::rngs::OsRng;
use simplex_crypto::PrivateKeyX25519;
use simplex_encoding::ShortBytes;
use smp_client::{link_corr_id, ClientConfig, ClientError, SmpClient};
use smp_proto::command::{ContactLinkReq, MsgFlags, NewQueueReq, QueueReqData, SubscriptionMode};
use smp_proto::message::RcvMsgBody;
use smp_proto::version::{Version, VersionRange, CLIENT_VERSIONS, SERVER_VERSIONS};
use smp_server::msg_store::DEFAULT_QUOTA;
use smp_server::testing::TestServer;

fn config(alpn: &[&[u8]]) -> ClientConfig {
    let mut c = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    c.transport.alpn = alpn.iter().map(|a| a.to_vec()).collect();
    c
}

/// A message goes from one client to the other through the relay.
async fn round_trip(
    rcv: &SmpClient,
    snd: &SmpClient,
    events: &mut tokio::sync::mpsc::Receiver<smp_client::ServerEvent>,
) {
    let q = new_queue(rcv, ed_key(), SubscriptionMode::Subscribe).await;
    snd.send_message(None, &q.snd_id, MsgFlags::default(), b"hello")
        .await
        .expect("SEND");
    let (_, body) = next_msg(events, &q).await;
    assert!(matches!(body, RcvMsgBody::Data { ref body, .. } if body == b"hello"));
}

#[tokio::test]
async fn the_v18_client_negotiates_down_to_a_v9_relay() {
    assert_eq!(CLIENT_VERSIONS.max, Version(18));
    // Our relay offered 6–9 until its v10+ duties were served; older relays still do.
    let v6_9 = VersionRange::new(Version(6), Version(9)).expect("range");
    let server = TestServer::start_with_versions(DEFAULT_QUOTA, v6_9)
        .await
        .expect("relay");
    let (rcv, mut events) = SmpClient::connect(server.address(), config(&[b"smp/1"]))
        .await
        .expect("connect");
    let (snd, _e) = SmpClient::connect(server.address(), config(&[b"smp/1"]))
        .await
        .expect("connect");
    assert_eq!(rcv.version(), Version(9));
    assert_eq!(rcv.server_versions().max, Version(9));
    assert!(!rcv.block_encryption(), "no block encryption below v11");
    round_trip(&rcv, &snd, &mut events).await;

    // What v9 cannot carry is refused by the client before anything is sent.
    let key = ed_key();
    let dh = PrivateKeyX25519::generate(&mut OsRng).public_key();
    let (corr_id, snd_id) = link_corr_id().expect("ids");
    let short = |b: &[u8]| ShortBytes::from_slice(b).expect("short");
    let req = NewQueueReq {
        rcv_auth_key: key.public_key(),
        rcv_dh_key: dh,
        basic_auth: None,
        sub_mode: SubscriptionMode::OnlyCreate,
        queue_req_data: Some(QueueReqData::Contact(Some(ContactLinkReq {
            link_id: short(&[1; 24]),
            snd_id: short(&snd_id),
            data: Default::default(),
        }))),
        ntf_creds: None,
    };
    fn unsupported<T>(r: Result<T, ClientError>) -> bool {
        matches!(r, Err(ClientError::Unsupported(_)))
    }
    assert!(unsupported(
        rcv.create_queue_with(&key, req, Some(corr_id)).await
    ));
    assert!(unsupported(rcv.get_link(&[1; 24]).await));
    assert!(unsupported(rcv.secure_get_link(&key, &[1; 24]).await));
    assert!(unsupported(rcv.delete_link(&key, &[1; 24]).await));
    rcv.ping().await.expect("still serving");
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn web_alpn_gets_the_full_range_and_no_alpn_gets_v6() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let (rcv, mut events) = SmpClient::connect(server.address(), config(&[alpn]))
            .await
            .expect("connect");
        let (snd, _e) = SmpClient::connect(server.address(), config(&[alpn]))
            .await
            .expect("connect");
        assert_eq!(rcv.version(), SERVER_VERSIONS.max, "{alpn:?}");
        round_trip(&rcv, &snd, &mut events).await;
    }
    let (rcv, mut events) = SmpClient::connect(server.address(), config(&[]))
        .await
        .expect("connect");
    let (snd, _e) = SmpClient::connect(server.address(), config(&[]))
        .await
        .expect("connect");
    assert_eq!(rcv.version(), Version(6));
    assert!(rcv.server_dh_key().is_none());
    round_trip(&rcv, &snd, &mut events).await;
    server.stop().await.expect("stopped");
}
