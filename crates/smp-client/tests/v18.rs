//! The client at SMP v18 against an in-test responder offering v6–v18 over real TLS:
//! encrypted blocks, the v16 framing, `SOK`, `DELD`, `ERR BLOCKED` with its notice, and the
//! short-link calls, each checked on the responder's side as the reference's relay reads
//! them (credentials, the '0' service-signature marker, the sender ID rule of `NEW`).
//! Our own relay, which still offers v6–v9, is tested with this client in `smp-server`.

use std::sync::Arc;

use rand::rngs::OsRng;
use simplex_crypto::{verify, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519, PublicAuthKey};
use simplex_encoding::{Large, ShortBytes};
use simplex_transport::credentials::{GeneratedCredentials, SignAlgorithm};
use simplex_transport::{ServerConnection, ServerTransport, SmpListener};
use smp_client::{link_corr_id, link_sender_id, ClientConfig, ClientError, SmpClient};
use smp_proto::block::{decode_block, encode_block};
use smp_proto::command::{
    Command, ContactLinkReq, NewNtfCreds, NewQueueReq, QueueLinkData, QueueMode, QueueReqData,
    SubscriptionMode,
};
use smp_proto::error::{BlockingInfo, BlockingReason, ClientNotice, ErrorType};
use smp_proto::queue::ServerNtfCreds;
use smp_proto::response::{QueueIdsKeys, Response};
use smp_proto::transmission::{decode_server_transmission, encode_transmission};
use smp_proto::version::{Version, CLIENT_VERSIONS};
use smp_proto::{SmpServer, TransportHost};
use tokio::sync::mpsc;

const RCV_ID: [u8; 24] = [1; 24];
const LINK_ID: [u8; 24] = [0x4c; 24];

fn link_data() -> QueueLinkData {
    QueueLinkData {
        fixed: Large::new(vec![0xf1; 500]).expect("fits"),
        user: Large::new(vec![0xe2; 3000]).expect("fits"),
    }
}

fn sb(b: &[u8]) -> ShortBytes {
    ShortBytes::from_slice(b).expect("short")
}

/// What the responder saw, for the test to check.
#[derive(Debug)]
struct Seen {
    command: Command,
    /// The transmission carried the v16 "no service signature" marker after its
    /// authorization (checked by decoding it as the reference's server would).
    signed: bool,
}

/// Answers as a v18 relay would, and reports every command it got.
async fn respond(mut conn: ServerConnection, seen: mpsc::UnboundedSender<Seen>) {
    let v = conn.session.params.version;
    let sid = conn.session.params.session_id.clone();
    while let Ok(block) = conn.reader.read_raw().await {
        let ts: Vec<Vec<u8>> = match decode_block(block) {
            Ok(ts) => ts.into_iter().map(<[u8]>::to_vec).collect(),
            Err(_) => return,
        };
        for t in ts {
            let st = decode_server_transmission(v, &sid, &t).expect("a v18 transmission");
            let corr_id = st.raw.corr_id.to_vec();
            let entity = st.raw.entity_id.to_vec();
            let signed = st.authorization.is_some();
            if let Some(smp_proto::Authorization::Signature(sig)) = &st.authorization {
                // The signature covers the session ID and everything after the marker.
                let key = match &st.command {
                    Command::LKey(k) => k.clone(),
                    _ => rcv_key().public_key(),
                };
                let k = key.as_sign_key().expect("an Ed25519 key");
                assert!(
                    verify(&k, sig, &st.raw.authorized(&sid)),
                    "{:?}",
                    st.command
                );
            }
            let reply = match &st.command {
                Command::New(req) => new_queue(req, &corr_id),
                Command::Sub => Response::Sok(None),
                Command::Get => Response::Err(ErrorType::Blocked(BlockingInfo {
                    reason: BlockingReason::Spam,
                    notice: Some(ClientNotice { ttl: Some(86_400) }),
                })),
                Command::LSet { .. } | Command::LDel | Command::Ping => match &st.command {
                    Command::Ping => Response::Pong,
                    _ => Response::Ok,
                },
                Command::LKey(_) | Command::LGet => Response::Lnk {
                    snd_id: sb(&[2; 24]),
                    data: link_data(),
                },
                _ => Response::Err(ErrorType::Auth),
            };
            let _ = seen.send(Seen {
                command: st.command,
                signed,
            });
            let out =
                encode_transmission(v, &sid, &corr_id, &entity, &reply.to_bytes(v)).expect("reply");
            let block = encode_block(&[out]).expect("block");
            conn.writer.write_raw(&block).await.expect("write");
            if matches!(reply, Response::Sok(_)) {
                // The queue is deleted on another connection.
                let push = encode_transmission(v, &sid, b"", &entity, &Response::Deld.to_bytes(v))
                    .expect("push");
                let block = encode_block(&[push]).expect("block");
                conn.writer.write_raw(&block).await.expect("write");
            }
        }
    }
}

/// `NEW` as the reference checks it: a client-chosen sender ID must be the hash of the
/// correlation ID, else `CMD PROHIBITED`.
fn new_queue(req: &NewQueueReq, corr_id: &[u8]) -> Response {
    let corr: [u8; 24] = corr_id.try_into().expect("24-byte corr id");
    let expected = link_sender_id(&corr).expect("hash");
    let (snd_id, link_id) = match &req.queue_req_data {
        Some(QueueReqData::Contact(Some(l))) => (l.snd_id.clone(), Some(l.link_id.clone())),
        Some(QueueReqData::Messaging(Some(l))) => (l.snd_id.clone(), Some(sb(&LINK_ID))),
        _ => (sb(&[2; 24]), None),
    };
    if link_id.is_some() && snd_id.as_slice() != expected {
        return Response::Err(ErrorType::Cmd(smp_proto::CommandError::Prohibited));
    }
    Response::Ids(QueueIdsKeys {
        rcv_id: sb(&RCV_ID),
        snd_id,
        rcv_public_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        queue_mode: req.queue_mode(),
        link_id,
        service_id: None,
        server_ntf_creds: req.ntf_creds.as_ref().map(|_| ServerNtfCreds {
            notifier_id: sb(&[3; 24]),
            srv_ntf_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        }),
    })
}

/// A fixed recipient key, so the responder can check signatures with it.
fn rcv_key() -> PrivateAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::from_raw(&[7; 32]).expect("seed"))
}

async fn start() -> (
    SmpClient,
    mpsc::Receiver<smp_client::ServerEvent>,
    mpsc::UnboundedReceiver<Seen>,
) {
    let creds = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "localhost")
        .expect("gen")
        .server_credentials()
        .expect("creds");
    let transport = Arc::new(
        ServerTransport::new(&creds)
            .expect("transport")
            .with_versions(CLIENT_VERSIONS),
    );
    let listener = SmpListener::bind("127.0.0.1:0", transport.clone())
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let conn = listener.accept().await.expect("accept");
        assert!(conn.session.params.block_encryption, "relay side encrypted");
        respond(conn, seen_tx).await;
    });
    let server = SmpServer {
        hosts: vec![TransportHost::Ipv4([127, 0, 0, 1])],
        port: Some(port),
        key_hash: *transport.identity(),
    };
    let (client, events) = SmpClient::connect(&server, ClientConfig::default())
        .await
        .expect("connect");
    (client, events, seen)
}

#[tokio::test]
async fn speaks_v18_with_encrypted_blocks_sok_deld_and_blocked() {
    let (client, mut events, mut seen) = start().await;
    assert_eq!(client.version(), Version(18));
    assert!(client.block_encryption());
    client.ping().await.expect("PONG through encrypted blocks");
    let key = rcv_key();
    client
        .subscribe(&key, &RCV_ID)
        .await
        .expect("SOK is success");
    let s = seen.recv().await.expect("SUB seen");
    assert!(matches!(
        s,
        Seen {
            command: Command::Ping,
            signed: false
        }
    ));
    let s = seen.recv().await.expect("SUB seen");
    assert!(s.signed && s.command == Command::Sub);
    let event = events.recv().await.expect("DELD pushed");
    assert_eq!(event.entity_id, RCV_ID);
    assert_eq!(event.response, Response::Deld);
    let err = client
        .get_message(&key, &RCV_ID)
        .await
        .expect_err("blocked");
    assert!(
        matches!(
            &err,
            ClientError::Server(ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Spam,
                notice: Some(ClientNotice { ttl: Some(86_400) }),
            }))
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn short_link_calls() {
    let (client, _events, mut seen) = start().await;
    let key = rcv_key();
    let dh = PrivateKeyX25519::generate(&mut OsRng).public_key();
    // A contact address with its link, under a correlation ID whose hash is the sender ID.
    let (corr_id, snd_id) = link_corr_id().expect("ids");
    let req = NewQueueReq {
        rcv_auth_key: key.public_key(),
        rcv_dh_key: dh,
        basic_auth: None,
        sub_mode: SubscriptionMode::OnlyCreate,
        queue_req_data: Some(QueueReqData::Contact(Some(ContactLinkReq {
            link_id: sb(&LINK_ID),
            snd_id: sb(&snd_id),
            data: link_data(),
        }))),
        ntf_creds: Some(NewNtfCreds {
            notifier_key: PublicAuthKey::X25519(dh),
            rcv_ntf_dh_key: dh,
        }),
    };
    let ids = client
        .create_queue_with(&key, req.clone(), Some(corr_id))
        .await
        .expect("IDS");
    assert_eq!(ids.snd_id.as_slice(), snd_id);
    assert_eq!(
        ids.link_id.as_ref().map(ShortBytes::as_slice),
        Some(&LINK_ID[..])
    );
    assert_eq!(ids.queue_mode, Some(QueueMode::Contact));
    assert!(ids.server_ntf_creds.is_some());
    let s = seen.recv().await.expect("NEW seen");
    assert_eq!(s.command, Command::New(Box::new(req.clone())));
    // Another correlation ID: the sender ID no longer matches and the relay refuses.
    let err = client
        .create_queue_with(&key, req, None)
        .await
        .expect_err("sender ID of another corrId");
    assert!(
        matches!(
            err,
            ClientError::Server(ErrorType::Cmd(smp_proto::CommandError::Prohibited))
        ),
        "{err:?}"
    );
    seen.recv().await.expect("second NEW seen");

    client
        .set_link(&key, &RCV_ID, &LINK_ID, link_data())
        .await
        .expect("LSET");
    let s = seen.recv().await.expect("LSET seen");
    assert!(s.signed);
    assert_eq!(
        s.command,
        Command::LSet {
            link_id: sb(&LINK_ID),
            data: link_data()
        }
    );
    client.delete_link(&key, &RCV_ID).await.expect("LDEL");
    assert_eq!(seen.recv().await.expect("LDEL").command, Command::LDel);

    // A sender secures an invitation's queue through its link.
    let snd_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    let (sender_id, data) = client
        .secure_get_link(&snd_key, &LINK_ID)
        .await
        .expect("LNK");
    assert_eq!(
        (sender_id.as_slice(), &data),
        (&[2u8; 24][..], &link_data())
    );
    let s = seen.recv().await.expect("LKEY seen");
    assert!(s.signed);
    assert_eq!(s.command, Command::LKey(snd_key.public_key()));
    // Anyone reads an address's link data, unsigned.
    let (sender_id, data) = client.get_link(&LINK_ID).await.expect("LNK");
    assert_eq!(
        (sender_id.as_slice(), &data),
        (&[2u8; 24][..], &link_data())
    );
    let s = seen.recv().await.expect("LGET seen");
    assert!(!s.signed && s.command == Command::LGet);
}
