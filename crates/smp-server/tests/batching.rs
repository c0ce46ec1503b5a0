//! How the relay packs its answers into 16 KiB blocks, read block by block with a raw TLS
//! connection: the answers to one received batch leave together, a `SUB`'s answer and the
//! queue's first message share a block, and an `ACK` is answered by the queue's next message
//! (`MSG` under the `ACK`'s correlation ID, as the reference's `acknowledgeMsg` answers), so
//! acknowledging and receiving the next message costs one block each way. Every block is a
//! batch in the reference's format (count byte, two-byte length per transmission), which the
//! decoder here checks.

mod common;

use common::raw::Raw;
use common::{connect, new_queue};
use rand::rngs::OsRng;
use simplex_crypto::{PrivateAuthKey, PrivateKeyEd25519};
use simplex_encoding::ShortBytes;
use smp_client::decrypt_message;
use smp_proto::command::{Command, MsgFlags, SubscriptionMode};
use smp_proto::error::ErrorType;
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_server::testing::TestServer;

const QUOTA: usize = 16;
const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

fn short(b: &[u8]) -> ShortBytes {
    ShortBytes::from_slice(b).expect("a 24-byte ID")
}

/// The body of a delivered `MSG`, decrypted with the queue's secret.
fn body(q: &common::Queue, resp: &Response) -> (Vec<u8>, Vec<u8>) {
    let Response::Msg(m) = resp else {
        panic!("expected MSG, got {:?}", resp.tag());
    };
    match decrypt_message(&q.dh_secret, m).expect("decrypts") {
        RcvMsgBody::Data { body, .. } => (m.msg_id.as_slice().to_vec(), body),
        other => panic!("expected a message body, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_and_ack_answers_carry_the_next_message_in_the_same_block() {
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, _events) = connect(server.address()).await;
    let key = PrivateKeyEd25519::generate(&mut OsRng);
    let q = new_queue(
        &c,
        PrivateAuthKey::Ed25519(key.clone()),
        SubscriptionMode::OnlyCreate,
    )
    .await;
    for b in [&b"one"[..], b"two"] {
        c.send_message(None, &q.snd_id, QUIET, b)
            .await
            .expect("SEND -> OK");
    }
    let mut raw = Raw::open(server.address()).await;

    // SUB: its answer and the first message, two transmissions in one block.
    let sub = raw.corr();
    let t = raw.tx_cmd(&sub, Some(&key), &q.rcv_id, &Command::Sub);
    let block = raw.round(&[t]).await;
    assert_eq!(block.len(), 2, "SUB's answer and MSG in one block");
    assert_eq!(block[0].0, sub);
    assert!(
        matches!(block[0].2, Response::Ok | Response::Sok(None)),
        "SUB answered, got {:?}",
        block[0].2.tag()
    );
    assert_eq!((block[1].0.as_slice(), &block[1].1), (&b""[..], &q.rcv_id));
    let (id1, b1) = body(&q, &block[1].2);
    assert_eq!(b1, b"one");

    // ACK of the first: the answer is the next message, in the next block.
    let ack = raw.corr();
    let t = raw.tx_cmd(&ack, Some(&key), &q.rcv_id, &Command::Ack(short(&id1)));
    let block = raw.round(&[t]).await;
    assert_eq!(block.len(), 1, "one answer");
    assert_eq!((&block[0].0, &block[0].1), (&ack, &q.rcv_id));
    let (id2, b2) = body(&q, &block[0].2);
    assert_eq!(b2, b"two");

    // ACK of the last and, in the same block, a SEND to the same queue (this connection is
    // both its recipient and a sender): the ACK's OK, the SEND's OK and the new message
    // delivered to the now idle subscription leave in one block, in that order.
    let ack = raw.corr();
    let send = raw.corr();
    let ts = [
        raw.tx_cmd(&ack, Some(&key), &q.rcv_id, &Command::Ack(short(&id2))),
        raw.tx_cmd(
            &send,
            None,
            &q.snd_id,
            &Command::Send {
                flags: QUIET,
                body: b"three".to_vec(),
            },
        ),
    ];
    let block = raw.round(&ts).await;
    assert_eq!(block.len(), 3, "OK, OK and MSG in one block");
    assert_eq!((&block[0].0, &block[0].2), (&ack, &Response::Ok));
    assert_eq!((&block[1].0, &block[1].2), (&send, &Response::Ok));
    assert_eq!((block[2].0.as_slice(), &block[2].1), (&b""[..], &q.rcv_id));
    assert_eq!(body(&q, &block[2].2).1, b"three");
    server.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_one_batch_leave_in_one_block_in_order() {
    let server = TestServer::start(QUOTA).await.expect("test server");
    let mut raw = Raw::open(server.address()).await;
    // 40 commands in one block: PINGs, and ACKs of unknown queues (ERR AUTH) between them.
    let mut ts = Vec::new();
    let mut expected = Vec::new();
    for i in 0..40u8 {
        let corr = raw.corr();
        if i % 4 == 3 {
            let key = PrivateKeyEd25519::generate(&mut OsRng);
            let entity = [i; 24];
            ts.push(raw.tx_cmd(&corr, Some(&key), &entity, &Command::Ack(short(&[1; 24]))));
            expected.push((corr, Response::Err(ErrorType::Auth)));
        } else {
            ts.push(raw.tx_cmd(&corr, None, b"", &Command::Ping));
            expected.push((corr, Response::Pong));
        }
    }
    let block = raw.round(&ts).await;
    let got: Vec<(Vec<u8>, Response)> = block.into_iter().map(|(c, _, r)| (c, r)).collect();
    assert_eq!(got, expected, "all 40 answers, in order, in one block");
    server.stop().await.expect("server stopped");
}
