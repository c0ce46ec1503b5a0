//! Short links (SMP v15) on real relays over TLS, with smp-client's link calls: link data
//! stored with the queue at `NEW`, read by another client with `LGET` (contact queues) or
//! `LKEY` (messaging queues, which it also secures), changed with `LSET` and removed with
//! `LDEL` or by the first message to a secured messaging queue; the sender-ID rule for
//! client-chosen IDs; the store log's `LINK`/`LDELETE` records and the reference's queue
//! record with link data; `LGET`/`LKEY` through a proxy; v9 and v15 clients on one relay.

mod common;

use std::time::Duration;

use common::{ed_key, new_queue, next_msg, Queue};
use rand::rngs::OsRng;
use simplex_crypto::{dh_x25519, PrivateAuthKey, PrivateKeyX25519};
use simplex_encoding::{Large, ShortBytes};
use smp_client::{link_corr_id, ClientConfig, ClientError, ServerEvent, SmpClient};
use smp_proto::command::{MsgFlags, QueueMode, SubscriptionMode};
use smp_proto::error::{CommandError, ErrorType};
use smp_proto::message::RcvMsgBody;
use smp_proto::queue::{
    ContactLinkReq, MessagingLinkReq, NewQueueReq, QueueLinkData, QueueReqData,
};
use smp_proto::response::QueueIdsKeys;
use smp_proto::version::{Version, VersionRange};
use smp_proto::SmpServer;
use smp_server::msg_store::DEFAULT_QUOTA;
use smp_server::testing::{PersistentServer, TestServer};
use tokio::sync::mpsc;

const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

async fn connect_with(
    server: &SmpServer,
    versions: VersionRange,
) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
    let mut config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    config.transport.versions = versions;
    SmpClient::connect(server, config).await.expect("connect")
}

async fn connect(server: &SmpServer) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
    let c = connect_with(server, smp_proto::CLIENT_VERSIONS).await;
    assert!(c.0.version() >= Version(15), "the relay offers v15");
    c
}

fn data(fixed: &[u8], user: &[u8]) -> QueueLinkData {
    QueueLinkData {
        fixed: Large::from_slice(fixed).expect("fits"),
        user: Large::from_slice(user).expect("fits"),
    }
}

fn short(b: &[u8]) -> ShortBytes {
    ShortBytes::from_slice(b).expect("fits")
}

fn is_err(r: Result<impl std::fmt::Debug, ClientError>, expected: ErrorType) {
    match r {
        Err(ClientError::Server(e)) if e == expected => {}
        other => panic!("expected ERR {expected:?}, got {other:?}"),
    }
}

/// A queue made with link data: what `NEW` answered and the queue as its recipient knows it.
struct LinkQueue {
    q: Queue,
    ids: QueueIdsKeys,
}

/// `NEW` with `req_data` built around the sender ID that goes with a fresh correlation ID.
async fn new_link_queue(
    c: &SmpClient,
    req_data: impl FnOnce(ShortBytes) -> QueueReqData,
) -> Result<LinkQueue, ClientError> {
    let (corr_id, snd_id) = link_corr_id().expect("ids");
    new_link_queue_under(c, corr_id, req_data(short(&snd_id))).await
}

async fn new_link_queue_under(
    c: &SmpClient,
    corr_id: [u8; 24],
    req_data: QueueReqData,
) -> Result<LinkQueue, ClientError> {
    let rcv_key = ed_key();
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let req = NewQueueReq {
        rcv_auth_key: rcv_key.public_key(),
        rcv_dh_key: dh.public_key(),
        basic_auth: None,
        sub_mode: SubscriptionMode::Subscribe,
        queue_req_data: Some(req_data),
        ntf_creds: None,
    };
    let ids = c.create_queue_with(&rcv_key, req, Some(corr_id)).await?;
    let q = Queue {
        rcv_key,
        rcv_id: ids.rcv_id.as_slice().to_vec(),
        snd_id: ids.snd_id.as_slice().to_vec(),
        dh_secret: dh_x25519(&ids.rcv_public_dh_key, &dh),
    };
    Ok(LinkQueue { q, ids })
}

fn contact(link_id: [u8; 24], d: QueueLinkData) -> impl FnOnce(ShortBytes) -> QueueReqData {
    move |snd_id| {
        QueueReqData::Contact(Some(ContactLinkReq {
            link_id: short(&link_id),
            snd_id,
            data: d,
        }))
    }
}

fn messaging(d: QueueLinkData) -> impl FnOnce(ShortBytes) -> QueueReqData {
    move |snd_id| QueueReqData::Messaging(Some(MessagingLinkReq { snd_id, data: d }))
}

fn random_id() -> [u8; 24] {
    use rand::RngCore;
    let mut id = [0u8; 24];
    OsRng.fill_bytes(&mut id);
    id
}

fn body(b: &RcvMsgBody) -> &[u8] {
    match b {
        RcvMsgBody::Data { body, .. } => body,
        RcvMsgBody::Quota { .. } => panic!("quota marker"),
    }
}

#[tokio::test]
async fn contact_link_is_read_updated_and_deleted() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let (rcv, mut events) = connect(server.address()).await;
    let (reader, _e) = connect(server.address()).await;
    let link_id = random_id();
    let lq = new_link_queue(&rcv, contact(link_id, data(b"fixed", b"user 1")))
        .await
        .expect("NEW");
    assert_eq!(lq.ids.queue_mode, Some(QueueMode::Contact));
    assert_eq!(
        lq.ids.link_id.as_ref().map(|l| l.as_slice()),
        Some(&link_id[..])
    );
    // Another client reads it, unsigned, by its link ID.
    let (snd_id, d) = reader.get_link(&link_id).await.expect("LGET");
    assert_eq!(
        (snd_id, d),
        (lq.q.snd_id.clone(), data(b"fixed", b"user 1"))
    );
    // The recipient changes the user data; the fixed data and the link ID may not change.
    rcv.set_link(
        &lq.q.rcv_key,
        &lq.q.rcv_id,
        &link_id,
        data(b"fixed", b"user 2"),
    )
    .await
    .expect("LSET");
    assert_eq!(
        reader.get_link(&link_id).await.expect("LGET").1,
        data(b"fixed", b"user 2")
    );
    is_err(
        rcv.set_link(
            &lq.q.rcv_key,
            &lq.q.rcv_id,
            &link_id,
            data(b"fixed 2", b"u"),
        )
        .await,
        ErrorType::Auth,
    );
    is_err(
        rcv.set_link(
            &lq.q.rcv_key,
            &lq.q.rcv_id,
            &random_id(),
            data(b"fixed", b"u"),
        )
        .await,
        ErrorType::Auth,
    );
    assert_eq!(
        reader.get_link(&link_id).await.expect("LGET").1,
        data(b"fixed", b"user 2"),
        "refused LSETs changed nothing"
    );
    // LSET is the recipient's: another key is refused.
    is_err(
        rcv.set_link(&ed_key(), &lq.q.rcv_id, &link_id, data(b"fixed", b"x"))
            .await,
        ErrorType::Auth,
    );
    // The contact queue takes messages from anyone who read the link.
    reader
        .send_message(None, &lq.q.snd_id, QUIET, b"hello")
        .await
        .expect("SEND");
    let (_, b) = next_msg(&mut events, &lq.q).await;
    assert_eq!(body(&b), b"hello");
    assert!(
        reader.get_link(&link_id).await.is_ok(),
        "a contact link stays"
    );
    rcv.delete_link(&lq.q.rcv_key, &lq.q.rcv_id)
        .await
        .expect("LDEL");
    is_err(reader.get_link(&link_id).await, ErrorType::Auth);
    // LDEL without a link is OK; an unknown link ID is AUTH.
    rcv.delete_link(&lq.q.rcv_key, &lq.q.rcv_id)
        .await
        .expect("LDEL again");
    is_err(reader.get_link(&random_id()).await, ErrorType::Auth);
    // A (messaging) queue made without a link gets one with LSET, read with LKEY.
    let plain = new_queue(&rcv, ed_key(), SubscriptionMode::OnlyCreate).await;
    let link2 = random_id();
    rcv.set_link(&plain.rcv_key, &plain.rcv_id, &link2, data(b"f", b"u"))
        .await
        .expect("LSET on a queue without a link");
    is_err(reader.get_link(&link2).await, ErrorType::Auth);
    assert_eq!(
        reader
            .secure_get_link(&ed_key(), &link2)
            .await
            .expect("LKEY"),
        (plain.snd_id.clone(), data(b"f", b"u"))
    );
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn messaging_link_is_secured_once_and_ends_with_the_first_message() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let (rcv, mut events) = connect(server.address()).await;
    let (snd, _e) = connect(server.address()).await;
    let lq = new_link_queue(&rcv, messaging(data(b"inv fixed", b"inv user")))
        .await
        .expect("NEW");
    assert_eq!(lq.ids.queue_mode, Some(QueueMode::Messaging));
    let link_id = lq.ids.link_id.clone().expect("the relay made a link ID");
    assert_eq!(link_id.len(), 24);
    // LGET is for contact queues only.
    is_err(snd.get_link(&link_id).await, ErrorType::Auth);
    // The recipient may still change the user data while the queue is not secured.
    rcv.set_link(
        &lq.q.rcv_key,
        &lq.q.rcv_id,
        &link_id,
        data(b"inv fixed", b"inv 2"),
    )
    .await
    .expect("LSET before securing");
    let snd_key = ed_key();
    let (snd_id, d) = snd.secure_get_link(&snd_key, &link_id).await.expect("LKEY");
    assert_eq!((&snd_id, &d), (&lq.q.snd_id, &data(b"inv fixed", b"inv 2")));
    // Secured: another sender key is refused, the same one is a retry; unsigned SEND too.
    is_err(
        snd.secure_get_link(&ed_key(), &link_id).await,
        ErrorType::Auth,
    );
    assert!(snd.secure_get_link(&snd_key, &link_id).await.is_ok());
    is_err(
        snd.send_message(None, &snd_id, QUIET, b"unsigned").await,
        ErrorType::Auth,
    );
    is_err(
        rcv.set_link(
            &lq.q.rcv_key,
            &lq.q.rcv_id,
            &link_id,
            data(b"inv fixed", b"x"),
        )
        .await,
        ErrorType::Auth,
    );
    // The first message ends the link: the invitation was accepted.
    snd.send_message(Some(&snd_key), &snd_id, QUIET, b"accepted")
        .await
        .expect("SEND");
    let (_, b) = next_msg(&mut events, &lq.q).await;
    assert_eq!(body(&b), b"accepted");
    is_err(
        snd.secure_get_link(&snd_key, &link_id).await,
        ErrorType::Auth,
    );
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn client_chosen_sender_id_must_come_from_the_correlation_id() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let (c, _e) = connect(server.address()).await;
    let (corr_id, snd_id) = link_corr_id().expect("ids");
    // Any other sender ID is refused.
    let (other_corr, _) = link_corr_id().expect("ids");
    let wrong = QueueReqData::Messaging(Some(MessagingLinkReq {
        snd_id: short(&snd_id),
        data: data(b"f", b"u"),
    }));
    is_err(
        new_link_queue_under(&c, other_corr, wrong)
            .await
            .map(|l| l.ids),
        ErrorType::Cmd(CommandError::Prohibited),
    );
    let lid = random_id();
    let req = |lid: [u8; 24]| {
        QueueReqData::Contact(Some(ContactLinkReq {
            link_id: short(&lid),
            snd_id: short(&snd_id),
            data: data(b"f", b"u"),
        }))
    };
    let first = new_link_queue_under(&c, corr_id, req(lid))
        .await
        .expect("NEW with the derived sender ID");
    assert_eq!(first.q.snd_id, snd_id.to_vec());
    // The same sender ID again is AUTH (no retry with other IDs).
    is_err(
        new_link_queue_under(&c, corr_id, req(random_id()))
            .await
            .map(|l| l.ids),
        ErrorType::Auth,
    );
    // So is a link ID in use.
    is_err(
        new_link_queue(&c, contact(lid, data(b"f", b"u")))
            .await
            .map(|l| l.ids),
        ErrorType::Auth,
    );
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn links_survive_a_restart_through_the_store_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = PersistentServer::start(dir.path(), DEFAULT_QUOTA)
        .await
        .expect("relay");
    let (kept_id, gone_id, lq_kept, inv_link) = {
        let (rcv, _e) = connect(server.address()).await;
        let kept_id = random_id();
        let lq_kept = new_link_queue(&rcv, contact(kept_id, data(b"kept", b"v1")))
            .await
            .expect("NEW");
        rcv.set_link(
            &lq_kept.q.rcv_key,
            &lq_kept.q.rcv_id,
            &kept_id,
            data(b"kept", b"v2"),
        )
        .await
        .expect("LSET");
        let gone_id = random_id();
        let lq_gone = new_link_queue(&rcv, contact(gone_id, data(b"gone", b"u")))
            .await
            .expect("NEW");
        rcv.delete_link(&lq_gone.q.rcv_key, &lq_gone.q.rcv_id)
            .await
            .expect("LDEL");
        let inv = new_link_queue(&rcv, messaging(data(b"inv", b"u")))
            .await
            .expect("NEW");
        let inv_link = inv.ids.link_id.clone().expect("link ID");
        (kept_id, gone_id, lq_kept, inv_link)
    };
    let log = std::fs::read_to_string(dir.path().join("smp-server-store.log")).expect("log");
    assert!(log.lines().any(|l| l.starts_with("LINK ")), "{log}");
    assert!(log.lines().any(|l| l.starts_with("LDELETE ")), "{log}");
    assert!(log.contains(" link_id="), "{log}");
    server.down().await.expect("down");
    server.up().await.expect("up again");
    let (c, _e) = connect(server.address()).await;
    assert_eq!(
        c.get_link(&kept_id).await.expect("LGET after restart"),
        (lq_kept.q.snd_id.clone(), data(b"kept", b"v2"))
    );
    is_err(c.get_link(&gone_id).await, ErrorType::Auth);
    let (_, d) = c
        .secure_get_link(&ed_key(), &inv_link)
        .await
        .expect("LKEY after restart");
    assert_eq!(d, data(b"inv", b"u"));
    // The compacted log still has the links, in the queue records.
    let log = std::fs::read_to_string(dir.path().join("smp-server-store.log")).expect("log");
    assert_eq!(log.matches(" link_id=").count(), 2, "{log}");
    server.down().await.expect("down");
}

/// A store log as the reference writes it (`strEncode` of its records: padded base64url,
/// keys as DER, `link_id=` and `queue_data=<fixed> <user>` after `queue_mode=`; `LINK <rid>
/// <link ID> <fixed> <user>`), written by hand and loaded by a relay that then serves the links.
#[tokio::test]
async fn a_reference_store_log_with_links_loads() {
    const RID1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    const SID1: &str = "AgICAgICAgICAgICAgICAgICAgICAgIC";
    const LNK1: &str = "CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsL";
    const RID2: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMD";
    const SID2: &str = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
    const LNK2: &str = "DAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM";
    const ED11: &str = "MCowBQYDK2VwAyEAERERERERERERERERERERERERERERERERERERERERERE=";
    const RDH: &str = "ISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISE=";
    // "fixed-data", "u", "fixed 2", "user 2"
    let log = [
        format!("CREATE rid={RID1} rk={ED11} rdh={RDH} sid={SID1} sk= queue_mode=C link_id={LNK1} queue_data=Zml4ZWQtZGF0YQ== dQ== updated_at=1700006400"),
        format!("CREATE rid={RID2} rk={ED11} rdh={RDH} sid={SID2} sk= queue_mode=C updated_at=1700006400"),
        format!("LINK {RID2} {LNK2} Zml4ZWQgMg== dXNlciAy"),
    ]
    .join("\n")
        + "\n";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("smp-server-store.log"), log).expect("write");
    let mut server = PersistentServer::start(dir.path(), DEFAULT_QUOTA)
        .await
        .expect("relay");
    let (c, _e) = connect(server.address()).await;
    assert_eq!(
        c.get_link(&[0x0b; 24])
            .await
            .expect("LGET of the CREATE link"),
        (vec![2; 24], data(b"fixed-data", b"u"))
    );
    assert_eq!(
        c.get_link(&[0x0c; 24])
            .await
            .expect("LGET of the LINK record"),
        (vec![4; 24], data(b"fixed 2", b"user 2"))
    );
    server.down().await.expect("down");
    // Compacted into the reference's queue record.
    let log = std::fs::read_to_string(dir.path().join("smp-server-store.log")).expect("log");
    let expected = format!(
        "CREATE rid={RID2} rk={ED11} rdh={RDH} sid={SID2} sk= queue_mode=C link_id={LNK2} queue_data=Zml4ZWQgMg== dXNlciAy updated_at=1700006400"
    );
    assert!(
        log.lines().any(|l| l == expected),
        "{expected}\nnot in\n{log}"
    );
}

#[tokio::test]
async fn links_are_read_and_secured_through_a_proxy() {
    let proxy = TestServer::start(DEFAULT_QUOTA).await.expect("proxy");
    let dest = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let (rcv, mut events) = connect(dest.address()).await;
    let (s, _e) = connect(proxy.address()).await;
    let relay = s.proxy_session(dest.address(), None).await.expect("PKEY");
    assert!(relay.version >= Version(15));
    let link_id = random_id();
    let contact_q = new_link_queue(&rcv, contact(link_id, data(b"addr", b"profile")))
        .await
        .expect("NEW");
    assert_eq!(
        s.proxy_get_link(&relay, &link_id)
            .await
            .expect("LGET via proxy"),
        (contact_q.q.snd_id.clone(), data(b"addr", b"profile"))
    );
    let inv = new_link_queue(&rcv, messaging(data(b"inv", b"user")))
        .await
        .expect("NEW");
    let inv_link = inv.ids.link_id.clone().expect("link ID");
    is_err(s.proxy_get_link(&relay, &inv_link).await, ErrorType::Auth);
    let snd_key = ed_key();
    let (snd_id, d) = s
        .proxy_secure_get_link(&relay, &snd_key, &inv_link)
        .await
        .expect("LKEY via proxy");
    assert_eq!((&snd_id, d), (&inv.q.snd_id, data(b"inv", b"user")));
    is_err(
        s.proxy_secure_get_link(&relay, &ed_key(), &inv_link).await,
        ErrorType::Auth,
    );
    s.proxy_send(&relay, Some(&snd_key), &snd_id, QUIET, b"via the proxy")
        .await
        .expect("SEND via proxy");
    let (_, b) = next_msg(&mut events, &inv.q).await;
    assert_eq!(body(&b), b"via the proxy");
    proxy.stop().await.expect("stopped");
    dest.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_v9_client_and_a_v15_client_share_the_relay() {
    let server = TestServer::start(DEFAULT_QUOTA).await.expect("relay");
    let v6_9 = VersionRange::new(Version(6), Version(9)).expect("range");
    let (old, mut old_events) = connect_with(server.address(), v6_9).await;
    let (new, mut new_events) = connect(server.address()).await;
    assert_eq!(old.version(), Version(9));
    // The v15 client's contact link; the v9 client sends to the sender ID it leads to.
    let link_id = random_id();
    let lq = new_link_queue(&new, contact(link_id, data(b"f", b"u")))
        .await
        .expect("NEW");
    let (snd_id, _) = new.get_link(&link_id).await.expect("LGET");
    old.send_message(None, &snd_id, QUIET, b"from v9")
        .await
        .expect("SEND at v9");
    let (_, b) = next_msg(&mut new_events, &lq.q).await;
    assert_eq!(body(&b), b"from v9");
    // The v9 client's queue, secured by the v15 sender with SKEY.
    let oq = new_queue(&old, ed_key(), SubscriptionMode::Subscribe).await;
    let k: PrivateAuthKey = ed_key();
    new.secure_sender_queue(&k, &oq.snd_id).await.expect("SKEY");
    new.send_message(Some(&k), &oq.snd_id, QUIET, b"from v15")
        .await
        .expect("SEND at v15");
    let (_, b) = next_msg(&mut old_events, &oq).await;
    assert_eq!(body(&b), b"from v15");
    // Link commands at v9 are refused by the client before sending.
    assert!(matches!(
        old.get_link(&link_id).await,
        Err(ClientError::Unsupported(_))
    ));
    server.stop().await.expect("stopped");
}
