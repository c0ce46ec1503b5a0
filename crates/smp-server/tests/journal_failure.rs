//! The journal message store over TLS when a journal write fails: `SEND` is answered
//! `ERR INTERNAL` and the message is not kept (neither delivered nor restored later); the
//! queue works again once the journal can be written.

mod common;

use common::{connect, new_queue};
use smp_client::ClientError;
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_proto::error::ErrorType;
use smp_proto::message::RcvMsgBody;
use smp_server::core::CoreConfig;
use smp_server::msg_journal::{queue_dir, MsgJournal};
use smp_server::msg_store::MsgStore;
use smp_server::testing::TestServer;

#[tokio::test]
async fn send_is_refused_with_internal_when_the_journal_cannot_be_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("messages");
    let (journal, restored) = MsgJournal::open(&root, []).expect("journal");
    assert!(restored.is_empty());
    let mut msgs = MsgStore::new(128);
    msgs.set_journal(journal);

    let server = TestServer::start_with(CoreConfig::default(), msgs, 64)
        .await
        .expect("test server");
    let srv = server.address().clone();

    let (alice, _alice_events) = connect(&srv).await;
    let (bob, _bob_events) = connect(&srv).await;
    let q = new_queue(&alice, common::ed_key(), SubscriptionMode::OnlyCreate).await;
    let flags = MsgFlags {
        notification: false,
    };

    // A file where the queue's journal directory would be created.
    let blocker = queue_dir(&root, &q.rcv_id);
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("parents");
    std::fs::write(&blocker, b"").expect("blocker");
    let r = bob.send_message(None, &q.snd_id, flags, b"refused").await;
    assert!(
        matches!(r, Err(ClientError::Server(ErrorType::Internal))),
        "SEND answered {r:?}"
    );
    let got = alice.get_message(&q.rcv_key, &q.rcv_id).await.expect("GET");
    assert!(got.is_none(), "the refused message was not kept");

    std::fs::remove_file(&blocker).expect("unblock");
    bob.send_message(None, &q.snd_id, flags, b"kept")
        .await
        .expect("SEND OK once the journal can be written");
    let m = alice
        .get_message(&q.rcv_key, &q.rcv_id)
        .await
        .expect("GET")
        .expect("a message");
    match smp_client::decrypt_message(&q.dh_secret, &m).expect("decrypts") {
        RcvMsgBody::Data { body, .. } => assert_eq!(body, b"kept"),
        other => panic!("expected a message, got {other:?}"),
    }

    alice.close().await;
    bob.close().await;
    server.stop().await.expect("server stopped");

    // Only the accepted message is in the journal (delivered, not acknowledged).
    let (_, restored) = MsgJournal::open(&root, [q.rcv_id.clone()]).expect("reopen");
    assert_eq!(restored.len(), 1, "one queue");
    let (rid, list) = restored.first().expect("queue");
    assert_eq!(rid, &q.rcv_id);
    assert_eq!(list.len(), 1, "only the accepted message");
}
