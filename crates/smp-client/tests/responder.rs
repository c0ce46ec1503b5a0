//! The client against a minimal in-test responder over real TLS: handshake, authorization,
//! correlation, batching, pushed events, errors, time-outs, closing. (The full protocol is
//! tested against the real server in `smp-server`'s tests.)

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::OsRng;
use simplex_crypto::nacl::{cb_verify, CbAuthenticator, CbNonce};
use simplex_crypto::{
    verify, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519, PublicAuthKey, Signature,
};
use simplex_transport::credentials::{GeneratedCredentials, SignAlgorithm};
use simplex_transport::{ServerConnection, ServerTransport, SmpListener};
use smp_client::{ClientCommand, ClientConfig, ClientError, SmpClient};
use smp_proto::block::{decode_block, encode_block};
use smp_proto::transmission::{encode_transmission, RawTransmission};
use smp_proto::{Command, ErrorType, Response, SmpServer, TransportHost};

/// What the responder does with each command it receives.
#[derive(Clone, Copy)]
enum Mode {
    /// Answer PING with PONG, SUB with OK (after checking the authorization against the
    /// key registered for its entity), GET with ERR AUTH; push END after SUB.
    Normal,
    /// Answer SUB with a message waiting in the queue (`MSG`, its ID the queue's).
    Messages,
    /// Answer nothing.
    Silent,
    /// Close the connection on the first command.
    Hangup,
}

struct Keys {
    sign: Option<PublicAuthKey>,
}

async fn respond(mut conn: ServerConnection, mode: Mode, keys: Keys) {
    let v = conn.session.params.version;
    let sid = conn.session.params.session_id.clone();
    loop {
        let Ok(block) = conn.reader.read_raw().await else {
            return;
        };
        let Ok(ts) = decode_block(block) else {
            return;
        };
        let mut replies = Vec::new();
        let mut pushes = Vec::new();
        for t in ts {
            let raw = RawTransmission::decode(v, t).expect("client transmission");
            let cmd = Command::decode(v, raw.command).expect("client command");
            let reply = match (&cmd, mode) {
                (_, Mode::Silent) => continue,
                (_, Mode::Hangup) => return,
                (Command::Sub, Mode::Messages) => Response::Msg(smp_proto::RcvMessage {
                    msg_id: simplex_encoding::ShortBytes::from_slice(&raw.entity_id[..8])
                        .expect("ID"),
                    enc_body: vec![7; 100],
                }),
                (Command::Ping, _) => {
                    assert!(raw.authorization.is_empty());
                    Response::Pong
                }
                (Command::Sub, _) => {
                    let authorized = raw.authorized(&sid);
                    let ok = match &keys.sign {
                        Some(PublicAuthKey::X25519(k)) => {
                            let auth = CbAuthenticator::from_slice(raw.authorization)
                                .expect("80-byte authenticator");
                            let nonce = CbNonce::from_slice(raw.corr_id).expect("24-byte corr id");
                            cb_verify(k, &conn.session.dh_private, &nonce, &auth, &authorized)
                        }
                        Some(k) => {
                            let sig = Signature::from_bytes(raw.authorization).expect("signature");
                            verify(&k.as_sign_key().expect("sign key"), &sig, &authorized)
                        }
                        None => false,
                    };
                    if ok {
                        pushes.push((raw.entity_id.to_vec(), Response::End));
                        Response::Ok
                    } else {
                        Response::Err(ErrorType::Auth)
                    }
                }
                _ => Response::Err(ErrorType::Auth),
            };
            let bytes =
                encode_transmission(v, &sid, raw.corr_id, raw.entity_id, &reply.to_bytes(v))
                    .expect("reply");
            replies.push(bytes);
        }
        // Answer in reverse order: the client must correlate, not count.
        replies.reverse();
        for chunk in replies.chunks(100) {
            let block = encode_block(chunk).expect("block");
            conn.writer.write_raw(&block).await.expect("write");
        }
        for (entity, push) in pushes {
            let t = encode_transmission(v, &sid, b"", &entity, &push.to_bytes(v)).expect("push");
            let block = encode_block(&[t]).expect("block");
            conn.writer.write_raw(&block).await.expect("write");
        }
    }
}

async fn start(
    mode: Mode,
    keys: Keys,
    config: ClientConfig,
) -> (
    SmpClient,
    tokio::sync::mpsc::Receiver<smp_client::ServerEvent>,
) {
    let creds = GeneratedCredentials::generate(SignAlgorithm::Ed25519, "localhost")
        .expect("gen")
        .server_credentials()
        .expect("creds");
    let transport = Arc::new(ServerTransport::new(&creds).expect("transport"));
    let listener = SmpListener::bind("127.0.0.1:0", transport.clone())
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let conn = listener.accept().await.expect("accept");
        respond(conn, mode, keys).await;
    });
    let server = SmpServer {
        hosts: vec![TransportHost::Ipv4([127, 0, 0, 1])],
        port: Some(port),
        key_hash: transport.identity().clone(),
    };
    SmpClient::connect(&server, config).await.expect("connect")
}

fn ed25519() -> PrivateAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng))
}

#[tokio::test]
async fn ping_pong_and_session() {
    let (client, _events) = start(Mode::Normal, Keys { sign: None }, ClientConfig::default()).await;
    assert_eq!(client.version(), smp_proto::SERVER_VERSIONS.max);
    assert_eq!(client.session_id().len(), 32);
    assert!(client.server_dh_key().is_some());
    client.ping().await.expect("pong");
}

#[tokio::test]
async fn signed_command_is_verified_and_push_goes_to_events() {
    let key = ed25519();
    let keys = Keys {
        sign: Some(key.public_key()),
    };
    let (client, mut events) = start(Mode::Normal, keys, ClientConfig::default()).await;
    let qid = [5u8; 24];
    client
        .subscribe(&key, &qid)
        .await
        .expect("SUB signed with the right key");
    let event = events.recv().await.expect("pushed END");
    assert_eq!(event.entity_id, qid);
    assert_eq!(event.response, Response::End);
    // Another key: the responder answers ERR AUTH, which is a server error, not a local one.
    let err = client
        .subscribe(&ed25519(), &qid)
        .await
        .expect_err("wrong key");
    assert!(
        matches!(err, ClientError::Server(ErrorType::Auth)),
        "{err:?}"
    );
}

#[tokio::test]
async fn x25519_key_uses_the_session_authenticator() {
    let own = PrivateKeyX25519::generate(&mut OsRng);
    let key = PrivateAuthKey::X25519(own);
    let keys = Keys {
        sign: Some(key.public_key()),
    };
    let (client, _events) = start(Mode::Normal, keys, ClientConfig::default()).await;
    client
        .subscribe(&key, &[9u8; 24])
        .await
        .expect("authenticator verified");
}

#[tokio::test]
async fn batch_of_300_is_correlated() {
    let (client, _events) = start(Mode::Normal, Keys { sign: None }, ClientConfig::default()).await;
    let key = ed25519();
    let ids: Vec<[u8; 24]> = (0..300u16)
        .map(|i| [u8::try_from(i % 256).expect("byte"); 24])
        .collect();
    let cmds = ids
        .iter()
        .enumerate()
        .map(|(i, id)| ClientCommand {
            key: if i % 2 == 0 { None } else { Some(&key) },
            entity_id: if i % 2 == 0 { &[] } else { id },
            command: if i % 2 == 0 {
                Command::Ping
            } else {
                Command::Get
            },
        })
        .collect();
    let results = client.send_batch(cmds).await;
    assert_eq!(results.len(), 300);
    for (i, r) in results.into_iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(r.expect("pong"), Response::Pong);
        } else {
            assert!(
                matches!(r, Err(ClientError::Server(ErrorType::Auth))),
                "{r:?}"
            );
        }
    }
}

#[tokio::test]
async fn unanswered_command_times_out_and_close_fails_pending() {
    let config = ClientConfig {
        command_timeout: Duration::from_millis(200),
        ..ClientConfig::default()
    };
    let (client, _events) = start(Mode::Silent, Keys { sign: None }, config).await;
    let err = client.ping().await.expect_err("no answer");
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    assert!(err.is_temporary());
    client.close().await;
    assert!(client.is_closed());
    let err = client.ping().await.expect_err("closed");
    assert!(matches!(err, ClientError::Closed), "{err:?}");
}

#[tokio::test]
async fn event_stream_ends_when_the_server_hangs_up() {
    let (client, mut events) =
        start(Mode::Hangup, Keys { sign: None }, ClientConfig::default()).await;
    let err = client.ping().await.expect_err("server hung up");
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    // The client handle is still alive, yet the stream ends.
    assert!(events.recv().await.is_none());
    assert!(client.is_closed());
}

#[tokio::test]
async fn event_stream_ends_on_close() {
    let (client, mut events) =
        start(Mode::Normal, Keys { sign: None }, ClientConfig::default()).await;
    let other = client.clone();
    client.close().await;
    assert!(events.recv().await.is_none());
    assert!(other.is_closed());
}

#[tokio::test]
async fn wrong_identity_fails_to_connect() {
    let creds = GeneratedCredentials::generate(SignAlgorithm::Ed448, "localhost")
        .expect("gen")
        .server_credentials()
        .expect("creds");
    let transport = Arc::new(ServerTransport::new(&creds).expect("transport"));
    let listener = SmpListener::bind("127.0.0.1:0", transport)
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { listener.accept().await });
    let server = SmpServer {
        hosts: vec![TransportHost::Ipv4([127, 0, 0, 1])],
        port: Some(port),
        key_hash: simplex_crypto::KeyHash::from([3; 32]),
    };
    let err = SmpClient::connect(&server, ClientConfig::default())
        .await
        .expect_err("identity");
    assert!(
        matches!(
            err,
            ClientError::Transport(simplex_transport::TransportError::Chain(_))
        ),
        "{err:?}"
    );
}

/// A `MSG` answering `SUB` reaches the event stream whether or not the stream has room when
/// it arrives (the reader hands it on at once, or the subscribing task waits for room), and
/// each `SUB` succeeds; with a one-event stream most of them take the second way.
#[tokio::test]
async fn messages_answering_sub_reach_the_events_with_or_without_room() {
    for capacity in [1, 64] {
        let key = ed25519();
        let keys = Keys {
            sign: Some(key.public_key()),
        };
        let config = ClientConfig {
            event_capacity: capacity,
            ..ClientConfig::default()
        };
        let (client, mut events) = start(Mode::Messages, keys, config).await;
        let ids: Vec<[u8; 24]> = (1..=5u8).map(|i| [i; 24]).collect();
        let subscribing = tokio::spawn(async move {
            let queues: Vec<(&[u8], &PrivateAuthKey)> =
                ids.iter().map(|id| (id.as_slice(), &key)).collect();
            client.subscribe_many(&queues).await
        });
        let mut got = Vec::new();
        while got.len() < 5 {
            let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("no stall")
                .expect("event");
            assert!(matches!(e.response, Response::Msg(_)), "{e:?}");
            got.push(e.entity_id[0]);
        }
        got.sort_unstable();
        assert_eq!(got, vec![1, 2, 3, 4, 5], "capacity {capacity}");
        for r in subscribing.await.expect("subscribed") {
            r.expect("SUB answered by MSG is success");
        }
    }
}
