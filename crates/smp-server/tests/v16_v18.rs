//! A relay run at v6–v17 and v6–v18 (`TestServer::start_with_versions`; v6–v18 is its
//! default range; service sessions are in `services.rs`) with clients that
//! negotiate v17/v18: what a client without a service gets as from the reference — `SUBS` and
//! `NSUBS` are `ERR SERVICE`, `IDS` with no service — notifier credentials made inside `NEW`
//! (v17), `RKEY` on contact queues, and short links at these versions.

mod common;

use std::time::Duration;

use common::{ed_key, next_event, x_key};
use rand::rngs::OsRng;
use simplex_crypto::{dh_x25519, PrivateKeyX25519};
use simplex_encoding::{Large, ShortBytes};
use smp_client::{link_corr_id, ClientConfig, ClientError, ServerEvent, SmpClient};
use smp_proto::command::{Command, MsgFlags, SubscriptionMode};
use smp_proto::error::ErrorType;
use smp_proto::queue::{ContactLinkReq, NewNtfCreds, NewQueueReq, QueueLinkData, QueueReqData};
use smp_proto::response::Response;
use smp_proto::version::{Version, VersionRange};
use smp_proto::SmpServer;
use smp_server::msg_store::DEFAULT_QUOTA;
use smp_server::testing::TestServer;
use tokio::sync::mpsc;

const NOTIFY: MsgFlags = MsgFlags { notification: true };

async fn connect(server: &SmpServer) -> (SmpClient, mpsc::Receiver<ServerEvent>) {
    let config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };
    SmpClient::connect(server, config).await.expect("connect")
}

fn range(max: u16) -> VersionRange {
    VersionRange::new(Version(6), Version(max)).expect("range")
}

fn is_err(r: Result<Response, ClientError>, expected: ErrorType) {
    match r {
        Err(ClientError::Server(e)) if e == expected => {}
        other => panic!("expected ERR {expected:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn new_makes_the_notifier_at_v17_and_v18() {
    for max in [17, 18] {
        let server = TestServer::start_with_versions(DEFAULT_QUOTA, range(max))
            .await
            .expect("relay");
        let (rcv, _e) = connect(server.address()).await;
        let (ntf, mut ntf_events) = connect(server.address()).await;
        assert_eq!(rcv.version(), Version(max));
        let rcv_key = ed_key();
        let dh = PrivateKeyX25519::generate(&mut OsRng);
        let ntf_key = x_key();
        let rcv_ntf_dh = PrivateKeyX25519::generate(&mut OsRng);
        let req = NewQueueReq {
            rcv_auth_key: rcv_key.public_key(),
            rcv_dh_key: dh.public_key(),
            basic_auth: None,
            sub_mode: SubscriptionMode::OnlyCreate,
            queue_req_data: Some(QueueReqData::Messaging(None)),
            ntf_creds: Some(NewNtfCreds {
                notifier_key: ntf_key.public_key(),
                rcv_ntf_dh_key: rcv_ntf_dh.public_key(),
            }),
        };
        let ids = rcv
            .create_queue_with(&rcv_key, req, None)
            .await
            .expect("NEW");
        assert_eq!(ids.service_id, None);
        let creds = ids.server_ntf_creds.clone().expect("IDS with the notifier");
        assert_eq!(creds.notifier_id.len(), 24);
        // NSUB is answered SOK from v16.
        let r = ntf
            .send_command(Some(&ntf_key), creds.notifier_id.as_slice(), Command::NSub)
            .await
            .expect("NSUB");
        assert_eq!(r, Response::Sok(None));
        // ...which the client's call takes as success (a repeated NSUB is answered the same).
        ntf.subscribe_notifications(&ntf_key, creds.notifier_id.as_slice())
            .await
            .expect("subscribe_notifications accepts SOK");
        rcv.send_message(None, ids.snd_id.as_slice(), NOTIFY, b"loud")
            .await
            .expect("SEND");
        let ev = next_event(&mut ntf_events).await;
        assert_eq!(ev.entity_id, creds.notifier_id.as_slice());
        let Response::Nmsg { nonce, enc_meta } = ev.response else {
            panic!("expected NMSG, got {:?}", ev.response.tag());
        };
        // The metadata opens with the secret of the server's key from IDS.
        let secret = dh_x25519(&creds.srv_ntf_dh_key, &rcv_ntf_dh);
        simplex_crypto::cb_decrypt(
            &secret,
            &simplex_crypto::CbNonce(nonce),
            enc_meta.as_slice(),
        )
        .expect("metadata decrypts");
        // Without credentials, no notifier.
        let plain = NewQueueReq {
            rcv_auth_key: rcv_key.public_key(),
            rcv_dh_key: dh.public_key(),
            basic_auth: None,
            sub_mode: SubscriptionMode::OnlyCreate,
            queue_req_data: Some(QueueReqData::Messaging(None)),
            ntf_creds: None,
        };
        let ids = rcv
            .create_queue_with(&rcv_key, plain, None)
            .await
            .expect("NEW");
        assert!(ids.server_ntf_creds.is_none());
        server.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn service_commands_are_refused_and_rkey_and_links_are_served_at_v16_to_v18() {
    for max in [16, 17, 18] {
        let server = TestServer::start_with_versions(DEFAULT_QUOTA, range(max))
            .await
            .expect("relay");
        let (c, _e) = connect(server.address()).await;
        let (reader, _e2) = connect(server.address()).await;
        assert_eq!(c.version(), Version(max));
        // A client without a service: SUBS and NSUBS are ERR SERVICE, as from the reference.
        let key = ed_key();
        is_err(
            c.send_command(Some(&key), &[7; 24], Command::Subs).await,
            ErrorType::Service,
        );
        is_err(
            c.send_command(Some(&key), &[7; 24], Command::NSubs).await,
            ErrorType::Service,
        );
        // A contact queue with a link; RKEY replaces its recipient keys.
        let (corr_id, snd_id) = link_corr_id().expect("ids");
        let rcv_key = ed_key();
        let dh = PrivateKeyX25519::generate(&mut OsRng);
        let link_id = [0x51; 24];
        let data = QueueLinkData {
            fixed: Large::from_slice(b"fixed").expect("fits"),
            user: Large::from_slice(b"user").expect("fits"),
        };
        let req = NewQueueReq {
            rcv_auth_key: rcv_key.public_key(),
            rcv_dh_key: dh.public_key(),
            basic_auth: None,
            sub_mode: SubscriptionMode::Subscribe,
            queue_req_data: Some(QueueReqData::Contact(Some(ContactLinkReq {
                link_id: ShortBytes::from_slice(&link_id).expect("fits"),
                snd_id: ShortBytes::from_slice(&snd_id).expect("fits"),
                data: data.clone(),
            }))),
            ntf_creds: None,
        };
        let ids = c
            .create_queue_with(&rcv_key, req, Some(corr_id))
            .await
            .expect("NEW");
        assert_eq!(
            reader.get_link(&link_id).await.expect("LGET"),
            (snd_id.to_vec(), data)
        );
        let new_key = ed_key();
        let rkey = Command::RKey(vec![new_key.public_key()]);
        let r = c
            .send_command(Some(&rcv_key), ids.rcv_id.as_slice(), rkey)
            .await
            .expect("RKEY");
        assert_eq!(r, Response::Ok);
        is_err(
            c.send_command(Some(&rcv_key), ids.rcv_id.as_slice(), Command::Que)
                .await,
            ErrorType::Auth,
        );
        assert!(c
            .send_command(Some(&new_key), ids.rcv_id.as_slice(), Command::Que)
            .await
            .is_ok());
        server.stop().await.expect("stopped");
    }
}
