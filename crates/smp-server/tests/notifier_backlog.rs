//! A notifier whose connection stops taking what the relay sends: its notifications are
//! kept (not queued without bound, not dropped) and all arrive, in order, once it reads
//! again; the relay keeps serving everyone else meanwhile. The notifier reaches the relay
//! through test-support's `FaultProxy`, which stalls the connection.

mod common;

use std::time::Duration;

use common::{connect, ed_key, new_queue, next_event};
use rand::rngs::OsRng;
use simplex_crypto::{dh_x25519, PrivateKeyX25519};
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_proto::response::Response;
use smp_server::server::{MAX_PENDING_NTFS, NTF_FLUSH_INTERVAL};
use smp_server::testing::TestServer;
use test_support::proxy::FaultProxy;

const NOTIFY: MsgFlags = MsgFlags { notification: true };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_notifier_gets_every_notification_in_order_afterwards() {
    // Well past what the kernel's buffers and the connection's channel hold together.
    let n = 3 * MAX_PENDING_NTFS;
    let server = TestServer::start(n + 10).await.expect("test server");
    let proxy = FaultProxy::start(([127, 0, 0, 1], server.port()).into())
        .await
        .expect("proxy");
    let mut via_proxy = server.address().clone();
    via_proxy.port = Some(proxy.addr().port());

    let (rcv, _rcv_events) = connect(server.address()).await;
    let (ntf, mut ntf_events) = connect(&via_proxy).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::OnlyCreate).await;
    let ntf_key = ed_key();
    let rcv_ntf_dh = PrivateKeyX25519::generate(&mut OsRng);
    let (nid, srv_ntf_dh) = rcv
        .enable_notifications(
            &q.rcv_key,
            &q.rcv_id,
            &ntf_key.public_key(),
            &rcv_ntf_dh.public_key(),
        )
        .await
        .expect("NKEY -> NID");
    ntf.subscribe_notifications(&ntf_key, &nid)
        .await
        .expect("NSUB");

    proxy.stall();
    for i in 0..n {
        rcv.send_message(None, &q.snd_id, NOTIFY, format!("m{i}").as_bytes())
            .await
            .expect("SEND while the notifier is stalled");
    }
    // The relay still answers others at once.
    let (other, _other_events) = connect(server.address()).await;
    other
        .ping()
        .await
        .expect("PING while the notifier is stalled");
    // Long enough for the relay to try handing kept notifications on while still stalled.
    tokio::time::sleep(NTF_FLUSH_INTERVAL * 2).await;
    proxy.resume();

    let secret = dh_x25519(&srv_ntf_dh, &rcv_ntf_dh);
    let mut notified = Vec::with_capacity(n);
    while notified.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(30), next_event(&mut ntf_events))
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} notifications arrived", notified.len()));
        assert_eq!(ev.entity_id, nid);
        let Response::Nmsg { nonce, enc_meta } = ev.response else {
            panic!("expected NMSG, got {:?}", ev.response);
        };
        let meta = simplex_crypto::cb_decrypt(
            &secret,
            &simplex_crypto::CbNonce(nonce),
            enc_meta.as_slice(),
        )
        .expect("metadata decrypts");
        // `NMsgMeta`: the message ID (length-prefixed) and its time.
        notified.push(meta.get(1..25).expect("message ID").to_vec());
    }
    // The queue's messages, in order, are the notified ones, in the same order.
    let mut stored = Vec::with_capacity(n);
    while let Some(m) = rcv.get_message(&q.rcv_key, &q.rcv_id).await.expect("GET") {
        stored.push(m.msg_id.as_slice().to_vec());
        rcv.ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
            .await
            .expect("ACK");
    }
    assert_eq!(stored.len(), n, "every message was stored");
    assert!(notified == stored, "notifications arrived in message order");
    // And no notification twice.
    let extra = tokio::time::timeout(NTF_FLUSH_INTERVAL * 2, next_event(&mut ntf_events)).await;
    assert!(extra.is_err(), "nothing more: {extra:?}");
    server.stop().await.expect("server stopped");
}
