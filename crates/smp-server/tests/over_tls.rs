//! The relay over real TLS on 127.0.0.1 with real `smp-client` clients: the queue life
//! cycle, takeover, quota, errors, both authorization schemes, batches, bad blocks, and many
//! concurrent clients. The server runs in this process (the binary's tests are in
//! `process.rs`).

mod common;

use common::{connect, ed_key, new_queue, next_event, next_msg, x_key};
use rand::rngs::OsRng;
use rand::RngCore;
use simplex_crypto::{dh_x25519, PrivateKeyX25519};
use simplex_transport::handshake::{connect as raw_connect, ClientTransportConfig};
use smp_client::{ClientCommand, ClientError};
use smp_proto::block::{decode_block, encode_block, BLOCK_SIZE};
use smp_proto::command::{Command, MsgFlags, SubscriptionMode};
use smp_proto::error::{CommandError, ErrorType};
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_proto::transmission::{encode_transmission, RawTransmission};
use smp_server::msg_store::DEFAULT_QUOTA;
use smp_server::testing::TestServer;

fn data(body: &RcvMsgBody) -> &[u8] {
    match body {
        RcvMsgBody::Data { body, .. } => body,
        RcvMsgBody::Quota { .. } => panic!("expected a message, got the quota marker"),
    }
}

const NOTIFY: MsgFlags = MsgFlags { notification: true };
const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

fn server_err(r: Result<impl std::fmt::Debug, ClientError>) -> ErrorType {
    match r {
        Err(ClientError::Server(e)) => e,
        other => panic!("expected ERR from the server, got {other:?}"),
    }
}

#[tokio::test]
async fn queue_life_cycle_with_key() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (rcv, mut rcv_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::Subscribe).await;
    assert_eq!(q.rcv_id.len(), 24);
    assert_eq!(q.snd_id.len(), 24);
    assert_ne!(q.rcv_id, q.snd_id);

    // Before KEY the sender sends without authorization.
    snd.send_message(None, &q.snd_id, NOTIFY, b"first")
        .await
        .expect("SEND to an unsecured queue");
    let (id1, body1) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(data(&body1), b"first");
    assert!(matches!(body1, RcvMsgBody::Data { flags, .. } if flags.notification));

    // KEY: from now on the sender must sign.
    let snd_key = ed_key();
    rcv.secure_queue(&q.rcv_key, &q.rcv_id, &snd_key.public_key())
        .await
        .expect("KEY");
    assert_eq!(
        server_err(snd.send_message(None, &q.snd_id, QUIET, b"x").await),
        ErrorType::Auth
    );
    assert_eq!(
        server_err(
            snd.send_message(Some(&ed_key()), &q.snd_id, QUIET, b"x")
                .await
        ),
        ErrorType::Auth
    );
    // A second KEY is refused.
    assert_eq!(
        server_err(
            rcv.secure_queue(&q.rcv_key, &q.rcv_id, &ed_key().public_key())
                .await
        ),
        ErrorType::Auth
    );
    snd.send_message(Some(&snd_key), &q.snd_id, QUIET, b"second")
        .await
        .expect("signed SEND");
    snd.send_message(Some(&snd_key), &q.snd_id, QUIET, b"third")
        .await
        .expect("signed SEND");

    // The first is not acknowledged yet: wrong ACK, then ACK brings the next.
    let mut wrong = vec![0u8; 24];
    OsRng.fill_bytes(&mut wrong);
    assert_eq!(
        server_err(rcv.ack(&q.rcv_key, &q.rcv_id, &wrong).await),
        ErrorType::NoMsg
    );
    rcv.ack(&q.rcv_key, &q.rcv_id, &id1).await.expect("ACK 1");
    let (id2, body2) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(data(&body2), b"second");
    assert!(matches!(body2, RcvMsgBody::Data { flags, .. } if !flags.notification));
    assert_ne!(id1, id2);
    // ACK of an already acknowledged message.
    assert_eq!(
        server_err(rcv.ack(&q.rcv_key, &q.rcv_id, &id1).await),
        ErrorType::NoMsg
    );
    rcv.ack(&q.rcv_key, &q.rcv_id, &id2).await.expect("ACK 2");
    let (id3, body3) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(data(&body3), b"third");

    // QUE shows the delivered message.
    let info = rcv.queue_info(&q.rcv_key, &q.rcv_id).await.expect("QUE");
    assert!(info.has_sender);
    assert_eq!(info.size, 1);
    rcv.ack(&q.rcv_key, &q.rcv_id, &id3).await.expect("ACK 3");
    let info = rcv.queue_info(&q.rcv_key, &q.rcv_id).await.expect("QUE");
    assert_eq!(info.size, 0);
    assert!(info.msg.is_none());

    // GET is prohibited on the subscribed connection; another connection may GET.
    assert_eq!(
        server_err(rcv.get_message(&q.rcv_key, &q.rcv_id).await),
        ErrorType::Cmd(CommandError::Prohibited)
    );
    let (getter, _getter_events) = connect(server.address()).await;
    assert!(getter
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET on an empty queue")
        .is_none());

    // OFF: no more messages accepted.
    rcv.suspend(&q.rcv_key, &q.rcv_id).await.expect("OFF");
    assert_eq!(
        server_err(
            snd.send_message(Some(&snd_key), &q.snd_id, QUIET, b"late")
                .await
        ),
        ErrorType::Auth
    );
    // DEL: the queue is gone for everyone.
    rcv.delete(&q.rcv_key, &q.rcv_id).await.expect("DEL");
    assert_eq!(
        server_err(rcv.subscribe(&q.rcv_key, &q.rcv_id).await),
        ErrorType::Auth
    );
    assert_eq!(
        server_err(
            snd.send_message(Some(&snd_key), &q.snd_id, QUIET, b"gone")
                .await
        ),
        ErrorType::Auth
    );
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn get_ack_and_sender_secured_queue() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (rcv, _rcv_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::OnlyCreate).await;
    // SKEY (v9): the sender secures the queue itself, then a second key is refused.
    let snd_key = ed_key();
    snd.secure_sender_queue(&snd_key, &q.snd_id)
        .await
        .expect("SKEY");
    assert_eq!(
        server_err(snd.secure_sender_queue(&ed_key(), &q.snd_id).await),
        ErrorType::Auth
    );
    for body in [&b"one"[..], b"two"] {
        snd.send_message(Some(&snd_key), &q.snd_id, QUIET, body)
            .await
            .expect("SEND");
    }
    let m1 = rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("a message");
    let b1 = smp_client::decrypt_message(&q.dh_secret, &m1).expect("decrypt");
    assert_eq!(data(&b1), b"one");
    // GET again before ACK returns the same message.
    let again = rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("a message");
    assert_eq!(again.msg_id, m1.msg_id);
    rcv.ack(&q.rcv_key, &q.rcv_id, m1.msg_id.as_slice())
        .await
        .expect("ACK after GET");
    let m2 = rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("a message");
    let b2 = smp_client::decrypt_message(&q.dh_secret, &m2).expect("decrypt");
    assert_eq!(data(&b2), b"two");
    // SUB on a connection that used GET for this queue is prohibited.
    assert_eq!(
        server_err(rcv.subscribe(&q.rcv_key, &q.rcv_id).await),
        ErrorType::Cmd(CommandError::Prohibited)
    );
    rcv.ack(&q.rcv_key, &q.rcv_id, m2.msg_id.as_slice())
        .await
        .expect("ACK");
    assert!(rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .is_none());
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn x25519_keys_authorize_with_authenticators() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (rcv, mut rcv_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    assert!(rcv.version().0 >= 7, "authenticators need v7");
    let q = new_queue(&rcv, x_key(), SubscriptionMode::Subscribe).await;
    let snd_key = x_key();
    rcv.secure_queue(&q.rcv_key, &q.rcv_id, &snd_key.public_key())
        .await
        .expect("KEY authorized by an authenticator");
    snd.send_message(Some(&snd_key), &q.snd_id, QUIET, b"boxed auth")
        .await
        .expect("SEND authorized by an authenticator");
    let (id, body) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(data(&body), b"boxed auth");
    rcv.ack(&q.rcv_key, &q.rcv_id, &id).await.expect("ACK");
    // Another X25519 key, and an Ed25519 key, are refused.
    assert_eq!(
        server_err(
            snd.send_message(Some(&x_key()), &q.snd_id, QUIET, b"x")
                .await
        ),
        ErrorType::Auth
    );
    assert_eq!(
        server_err(rcv.queue_info(&ed_key(), &q.rcv_id).await),
        ErrorType::Auth
    );
    assert_eq!(
        server_err(rcv.queue_info(&x_key(), &q.rcv_id).await),
        ErrorType::Auth
    );
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn auth_errors_for_missing_queues_and_wrong_keys() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (c, _events) = connect(server.address()).await;
    let mut missing = vec![0u8; 24];
    OsRng.fill_bytes(&mut missing);
    for key in [ed_key(), x_key()] {
        assert_eq!(
            server_err(c.subscribe(&key, &missing).await),
            ErrorType::Auth
        );
        assert_eq!(
            server_err(c.send_message(Some(&key), &missing, QUIET, b"m").await),
            ErrorType::Auth
        );
    }
    assert_eq!(
        server_err(c.send_message(None, &missing, QUIET, b"m").await),
        ErrorType::Auth
    );
    let q = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    // The recipient ID is not a sender ID, and the wrong key does not open the queue.
    assert_eq!(
        server_err(c.send_message(None, &q.rcv_id, QUIET, b"m").await),
        ErrorType::Auth
    );
    assert_eq!(
        server_err(c.subscribe(&ed_key(), &q.rcv_id).await),
        ErrorType::Auth
    );
    assert_eq!(
        server_err(c.delete(&ed_key(), &q.rcv_id).await),
        ErrorType::Auth
    );
    // A recipient command by sender ID.
    assert_eq!(
        server_err(c.subscribe(&q.rcv_key, &q.snd_id).await),
        ErrorType::Auth
    );
    c.subscribe(&q.rcv_key, &q.rcv_id).await.expect("SUB");
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn second_subscriber_takes_over_and_first_gets_end() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (first, mut first_events) = connect(server.address()).await;
    let (second, mut second_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    let q = new_queue(&first, ed_key(), SubscriptionMode::Subscribe).await;
    second
        .subscribe(&q.rcv_key, &q.rcv_id)
        .await
        .expect("SUB from another connection");
    let ev = next_event(&mut first_events).await;
    assert_eq!(ev.entity_id, q.rcv_id);
    assert_eq!(ev.response, Response::End);
    // Messages now go to the second connection.
    snd.send_message(None, &q.snd_id, QUIET, b"to the new one")
        .await
        .expect("SEND");
    let (_, body) = next_msg(&mut second_events, &q).await;
    assert_eq!(data(&body), b"to the new one");
    // The first can take it back; the second then gets END and the message is re-delivered.
    first.subscribe(&q.rcv_key, &q.rcv_id).await.expect("SUB");
    let ev = next_event(&mut second_events).await;
    assert_eq!(ev.response, Response::End);
    let (_, body) = next_msg(&mut first_events, &q).await;
    assert_eq!(data(&body), b"to the new one");
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn quota_refuses_then_marker_follows_the_last_message() {
    const QUOTA: usize = 4;
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (rcv, mut rcv_events) = connect(server.address()).await;
    let (snd, _snd_events) = connect(server.address()).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::Subscribe).await;
    for i in 0..QUOTA {
        snd.send_message(None, &q.snd_id, QUIET, format!("m{i}").as_bytes())
            .await
            .expect("SEND within the quota");
    }
    for _ in 0..2 {
        assert_eq!(
            server_err(snd.send_message(None, &q.snd_id, QUIET, b"over").await),
            ErrorType::Quota
        );
    }
    for i in 0..QUOTA {
        let (id, body) = next_msg(&mut rcv_events, &q).await;
        assert_eq!(data(&body), format!("m{i}").as_bytes());
        rcv.ack(&q.rcv_key, &q.rcv_id, &id).await.expect("ACK");
    }
    // The marker comes after the last message; until it is acknowledged, sends are refused.
    let (marker, body) = next_msg(&mut rcv_events, &q).await;
    assert!(matches!(body, RcvMsgBody::Quota { .. }), "quota marker");
    assert_eq!(
        server_err(snd.send_message(None, &q.snd_id, QUIET, b"still").await),
        ErrorType::Quota
    );
    rcv.ack(&q.rcv_key, &q.rcv_id, &marker)
        .await
        .expect("ACK the marker");
    snd.send_message(None, &q.snd_id, QUIET, b"again")
        .await
        .expect("SEND after the queue drained");
    let (_, body) = next_msg(&mut rcv_events, &q).await;
    assert_eq!(data(&body), b"again");
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn notifier_gets_nmsg_for_notified_messages() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (rcv, _rcv_events) = connect(server.address()).await;
    let (ntf, mut ntf_events) = connect(server.address()).await;
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
    rcv.send_message(None, &q.snd_id, QUIET, b"silent")
        .await
        .expect("SEND");
    rcv.send_message(None, &q.snd_id, NOTIFY, b"loud")
        .await
        .expect("SEND");
    let ev = next_event(&mut ntf_events).await;
    assert_eq!(ev.entity_id, nid);
    let Response::Nmsg { nonce, enc_meta } = ev.response else {
        panic!("expected NMSG");
    };
    // The metadata opens with the recipient's notification secret: message ID and time.
    let secret = dh_x25519(&srv_ntf_dh, &rcv_ntf_dh);
    let meta = simplex_crypto::cb_decrypt(
        &secret,
        &simplex_crypto::CbNonce(nonce),
        enc_meta.as_slice(),
    )
    .expect("metadata decrypts");
    let m = rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("first");
    rcv.ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
        .await
        .expect("ACK");
    let loud = rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("second");
    assert_eq!(meta.first(), Some(&24));
    assert_eq!(meta.get(1..25), Some(loud.msg_id.as_slice()));
    assert_eq!(meta.len(), 33);
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn many_commands_in_one_batch() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (c, mut events) = connect(server.address()).await;
    let queues = [
        new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await,
        new_queue(&c, x_key(), SubscriptionMode::OnlyCreate).await,
    ];
    let mut cmds = Vec::new();
    for i in 0..200 {
        let cmd = match i % 4 {
            0 => ClientCommand {
                key: None,
                entity_id: &[],
                command: Command::Ping,
            },
            1 | 2 => {
                let q = &queues[i % 2];
                ClientCommand {
                    key: None,
                    entity_id: &q.snd_id,
                    command: Command::Send {
                        flags: QUIET,
                        body: format!("b{i}").into_bytes(),
                    },
                }
            }
            _ => {
                let q = &queues[i % 2];
                ClientCommand {
                    key: Some(&q.rcv_key),
                    entity_id: &q.rcv_id,
                    command: Command::Que,
                }
            }
        };
        cmds.push(cmd);
    }
    let results = c.send_batch(cmds).await;
    assert_eq!(results.len(), 200);
    for (i, r) in results.into_iter().enumerate() {
        let r = r.expect("every command answered");
        match i % 4 {
            0 => assert_eq!(r, Response::Pong),
            1 | 2 => assert_eq!(r, Response::Ok),
            _ => assert!(matches!(r, Response::Info(_))),
        }
    }
    // 50 messages landed in each queue, in order.
    let subs = [
        (&queues[0].rcv_id[..], &queues[0].rcv_key),
        (&queues[1].rcv_id[..], &queues[1].rcv_key),
    ];
    for r in c.subscribe_many(&subs).await {
        r.expect("SUB");
    }
    let mut firsts = Vec::new();
    for _ in 0..2 {
        let ev = next_event(&mut events).await;
        let q = queues
            .iter()
            .find(|q| q.rcv_id == ev.entity_id)
            .expect("a known queue");
        let Response::Msg(m) = ev.response else {
            panic!("expected MSG");
        };
        let body = smp_client::decrypt_message(&q.dh_secret, &m).expect("decrypt");
        firsts.push(data(&body).to_vec());
    }
    firsts.sort();
    assert_eq!(firsts, vec![b"b1".to_vec(), b"b2".to_vec()]);
    for q in &queues {
        let info = c.queue_info(&q.rcv_key, &q.rcv_id).await.expect("QUE");
        assert_eq!(info.size, 50);
    }
    server.stop().await.expect("server stopped");
}

/// One transmission's response from a raw block: (corrId, response).
fn responses(v: smp_proto::version::Version, block: &[u8]) -> Vec<(Vec<u8>, Response)> {
    decode_block(block)
        .expect("server block")
        .into_iter()
        .map(|t| {
            let raw = RawTransmission::decode(v, t).expect("transmission");
            (
                raw.corr_id.to_vec(),
                Response::decode(v, raw.command).expect("response"),
            )
        })
        .collect()
}

#[tokio::test]
async fn bad_blocks_get_errors_while_others_keep_working() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (good, mut good_events) = connect(server.address()).await;
    let q = new_queue(&good, ed_key(), SubscriptionMode::Subscribe).await;
    let mut bad = raw_connect(
        ("127.0.0.1", server.port()),
        server.key_hash(),
        &ClientTransportConfig::default(),
        None,
    )
    .await
    .expect("handshake");
    let v = bad.session.params.version;
    let sid = bad.session.params.session_id.clone();
    let ping =
        encode_transmission(v, &sid, &[1; 24], b"", &Command::Ping.to_bytes(v)).expect("encode");

    // Garbage.
    bad.writer
        .write_raw(&[0xff; BLOCK_SIZE])
        .await
        .expect("write");
    let r = responses(v, bad.reader.read_raw().await.expect("read"));
    assert_eq!(r, vec![(vec![], Response::Err(ErrorType::Block))]);

    // Oversized: the content length is more than a block holds.
    let mut oversized = vec![b'#'; BLOCK_SIZE];
    oversized[0] = 0x40;
    oversized[1] = 0x00;
    bad.writer.write_raw(&oversized).await.expect("write");
    let r = responses(v, bad.reader.read_raw().await.expect("read"));
    assert_eq!(r, vec![(vec![], Response::Err(ErrorType::Block))]);

    // Truncated: a batch that says two transmissions but holds one, cut short.
    let mut content = vec![2u8];
    content.extend_from_slice(&u16::try_from(ping.len()).expect("len").to_be_bytes());
    content.extend_from_slice(&ping[..ping.len() - 3]);
    let mut truncated = Vec::new();
    truncated.extend_from_slice(&u16::try_from(content.len()).expect("len").to_be_bytes());
    truncated.extend_from_slice(&content);
    truncated.resize(BLOCK_SIZE, b'#');
    bad.writer.write_raw(&truncated).await.expect("write");
    let r = responses(v, bad.reader.read_raw().await.expect("read"));
    assert_eq!(r, vec![(vec![], Response::Err(ErrorType::Block))]);

    // A well-formed block whose command is cut short: ERR CMD SYNTAX for that corrId.
    let cut = encode_transmission(v, &sid, &[2; 24], b"", b"SEND T").expect("encode");
    let unknown = encode_transmission(v, &sid, &[3; 24], b"", b"HELLO").expect("encode");
    bad.writer
        .write_raw(&encode_block(&[cut, unknown, ping.clone()]).expect("block"))
        .await
        .expect("write");
    let r = responses(v, bad.reader.read_raw().await.expect("read"));
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].0, vec![2; 24]);
    assert!(
        matches!(r[0].1, Response::Err(ErrorType::Cmd(_))),
        "{:?}",
        r[0].1
    );
    assert_eq!(
        r[1],
        (
            vec![3; 24],
            Response::Err(ErrorType::Cmd(CommandError::Unknown))
        )
    );
    assert_eq!(r[2], (vec![1; 24], Response::Pong));

    // The good client is unaffected and the bad one still answers.
    good.ping().await.expect("PING");
    good.send_message(None, &q.snd_id, QUIET, b"fine")
        .await
        .expect("SEND");
    let (_, body) = next_msg(&mut good_events, &q).await;
    assert_eq!(data(&body), b"fine");
    bad.writer
        .write_raw(&encode_block(&[ping]).expect("block"))
        .await
        .expect("write");
    let r = responses(v, bad.reader.read_raw().await.expect("read"));
    assert_eq!(r, vec![(vec![1; 24], Response::Pong)]);
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn wrong_fingerprint_is_refused() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let other: smp_proto::KeyHash = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI="
        .parse()
        .expect("key hash");
    let wrong = smp_server::testing::local_address(&other, server.port());
    let r = smp_client::SmpClient::connect(&wrong, smp_client::ClientConfig::default()).await;
    assert!(
        matches!(r, Err(ClientError::Transport(_))),
        "a client pinned to another identity is refused"
    );
    let (c, _events) = connect(server.address()).await;
    c.ping().await.expect("the right pin works");
    server.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_clients() {
    const CLIENTS: usize = 1000;
    // Each client is two sockets in this process (its own and the server's side).
    let limit =
        rlimit::increase_nofile_limit(4 * CLIENTS as u64 + 256).expect("raise RLIMIT_NOFILE");
    assert!(
        limit >= 2 * CLIENTS as u64 + 64,
        "RLIMIT_NOFILE {limit} is too low"
    );
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let address = server.address().clone();
        tasks.spawn(async move {
            let (c, _events) = connect(&address).await;
            if i % 2 == 0 {
                c.ping().await.expect("PING");
            } else {
                let q = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
                c.send_message(None, &q.snd_id, QUIET, b"hi")
                    .await
                    .expect("SEND");
            }
            c
        });
    }
    let mut clients = Vec::with_capacity(CLIENTS);
    while let Some(r) = tasks.join_next().await {
        clients.push(r.expect("client task"));
    }
    assert_eq!(clients.len(), CLIENTS);
    // All still connected at once: one more round of PINGs on every connection.
    let mut pings = tokio::task::JoinSet::new();
    for c in clients {
        pings.spawn(async move { c.ping().await });
    }
    while let Some(r) = pings.join_next().await {
        r.expect("ping task").expect("PING");
    }
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn largest_message_is_delivered_and_one_more_byte_is_refused() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (c, mut events) = connect(server.address()).await;
    let q = new_queue(&c, ed_key(), SubscriptionMode::Subscribe).await;
    let max = smp_proto::version::max_message_length(c.version());
    let big: Vec<u8> = (0..max)
        .map(|i| u8::try_from(i % 251).expect("below 251"))
        .collect();
    c.send_message(None, &q.snd_id, QUIET, &big)
        .await
        .expect("SEND of the largest body");
    let (_, body) = next_msg(&mut events, &q).await;
    assert_eq!(data(&body), big.as_slice());
    let mut too_big = big;
    too_big.push(0);
    assert_eq!(
        server_err(c.send_message(None, &q.snd_id, QUIET, &too_big).await),
        ErrorType::LargeMsg
    );
    server.stop().await.expect("server stopped");
}

#[tokio::test]
async fn notifier_subscribing_later_gets_the_kept_nmsg() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("test server");
    let (rcv, _rcv_events) = connect(server.address()).await;
    let q = new_queue(&rcv, ed_key(), SubscriptionMode::OnlyCreate).await;
    let ntf_key = x_key();
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
    for b in [&b"early"[..], b"also early"] {
        rcv.send_message(None, &q.snd_id, NOTIFY, b)
            .await
            .expect("SEND");
    }
    let (ntf, mut ntf_events) = connect(server.address()).await;
    ntf.subscribe_notifications(&ntf_key, &nid)
        .await
        .expect("NSUB with an X25519 notifier key");
    let secret = dh_x25519(&srv_ntf_dh, &rcv_ntf_dh);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let ev = next_event(&mut ntf_events).await;
        assert_eq!(ev.entity_id, nid);
        let Response::Nmsg { nonce, enc_meta } = ev.response else {
            panic!("expected NMSG");
        };
        let meta = simplex_crypto::cb_decrypt(
            &secret,
            &simplex_crypto::CbNonce(nonce),
            enc_meta.as_slice(),
        )
        .expect("metadata decrypts");
        seen.push(meta.get(1..25).expect("message ID").to_vec());
    }
    // In the order sent.
    let m = rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("first");
    assert_eq!(seen[0], m.msg_id.as_slice());
    rcv.ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
        .await
        .expect("ACK");
    let m = rcv
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("second");
    assert_eq!(seen[1], m.msg_id.as_slice());
    server.stop().await.expect("server stopped");
}
