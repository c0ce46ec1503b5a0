//! Bad input over real TLS: every command cut at every byte, wrong tags, wrong entity IDs,
//! wrong key types, oversize bodies, and batches mixing good and bad transmissions. For each
//! the relay must answer the protocol's error (`tDecodeServer`, `checkCredentials` and the
//! verification in the reference's `Protocol.hs`/`Server.hs`), keep serving the rest of the
//! batch, the same connection and other clients, and never panic.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use common::raw::{Answer, Authorize, Raw};
use common::{connect, new_queue, next_msg};
use rand::rngs::OsRng;
use rand::RngCore;
use simplex_crypto::{
    PrivateAuthKey, PrivateKeyEd25519, PrivateKeyEd448, PrivateKeyX25519, PrivateKeyX448,
};
use smp_proto::command::{Command, MsgFlags, NewQueueReq, SubscriptionMode};
use smp_proto::error::{CommandError, ErrorType};
use smp_proto::message::RcvMsgBody;
use smp_proto::response::Response;
use smp_proto::version::{max_message_length, Version};
use smp_server::testing::TestServer;

const QUOTA: usize = 128;
const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

static PANICS: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// Counts panics on runtime worker threads, where the in-process server's tasks run (the
/// tests are multi-threaded, so the test bodies run on their own threads): a panic that a
/// task boundary caught still fails the test. The test's own assertions do not count.
fn count_panics() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("tokio-runtime-worker"))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

fn assert_no_panics() {
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "something panicked");
}

impl Raw {
    /// Writes the transmissions in one block and reads blocks until `expect` answers came
    /// (pushed `MSG`s, which have no correlation ID, are not expected on this connection).
    async fn exchange(&mut self, ts: &[Vec<u8>], expect: usize) -> Vec<Answer> {
        self.write(ts).await;
        let mut out = Vec::new();
        while out.len() < expect {
            out.extend(self.read().await);
        }
        assert_eq!(out.len(), expect, "no extra answers");
        out
    }

    /// One transmission, one answer, whose correlation ID must be `corr`.
    async fn one(&mut self, t: Vec<u8>, corr: &[u8]) -> Response {
        let mut a = self.exchange(&[t], 1).await;
        let (c, _, r) = a.pop().expect("one answer");
        assert_eq!(c, corr, "answer to this transmission, got {r:?}");
        r
    }

    async fn ping_ok(&mut self) {
        let c = self.corr();
        let t = self.tx(&c, None, b"", &Command::Ping.to_bytes(self.v));
        assert_eq!(
            self.one(t, &c).await,
            Response::Pong,
            "connection still served"
        );
    }
}

fn err(e: CommandError) -> Response {
    Response::Err(ErrorType::Cmd(e))
}

/// A queue made through `smp-client`, with the Ed25519 recipient key kept for raw signing.
struct EdQueue {
    key: PrivateKeyEd25519,
    q: common::Queue,
}

async fn ed_queue(c: &smp_client::SmpClient) -> EdQueue {
    let key = PrivateKeyEd25519::generate(&mut OsRng);
    let q = new_queue(
        c,
        PrivateAuthKey::Ed25519(key.clone()),
        SubscriptionMode::OnlyCreate,
    )
    .await;
    EdQueue { key, q }
}

fn ed_pub() -> simplex_crypto::PublicAuthKey {
    PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng)).public_key()
}

/// Every client command this relay serves, encoded at `v`, with the entity it is sent to
/// and whether it is signed with the recipient's key.
fn all_commands(v: Version, q: &EdQueue) -> Vec<(Command, Vec<u8>, bool)> {
    let new = Command::New(Box::new(NewQueueReq {
        rcv_auth_key: ed_pub(),
        rcv_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        basic_auth: None,
        sub_mode: SubscriptionMode::Subscribe,
        queue_req_data: if v >= smp_proto::version::SND_AUTH_KEY_SMP_VERSION {
            Some(smp_proto::command::QueueReqData::Messaging(None))
        } else {
            None
        },
        ntf_creds: None,
    }));
    let rcv = q.q.rcv_id.clone();
    let snd = q.q.snd_id.clone();
    vec![
        (new, vec![], true),
        (Command::Sub, rcv.clone(), true),
        (Command::Key(ed_pub()), rcv.clone(), true),
        (Command::SKey(ed_pub()), snd.clone(), true),
        (
            Command::NKey {
                notifier_key: ed_pub(),
                rcv_ntf_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
            },
            rcv.clone(),
            true,
        ),
        (Command::NDel, rcv.clone(), true),
        (Command::Get, rcv.clone(), true),
        (
            Command::Ack(simplex_encoding::ShortBytes::from_slice(&[7; 24]).expect("id")),
            rcv.clone(),
            true,
        ),
        (Command::Off, rcv.clone(), true),
        (Command::Del, rcv.clone(), true),
        (Command::Que, rcv.clone(), true),
        (
            Command::Send {
                flags: QUIET,
                body: b"hello".to_vec(),
            },
            snd,
            false,
        ),
        (Command::Ping, vec![], false),
        (Command::NSub, rcv, true),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_cut_at_every_byte_gets_its_error() {
    count_panics();
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, _events) = connect(server.address()).await;
    let q = ed_queue(&c).await;
    let mut raw = Raw::open(server.address()).await;
    let v = raw.v;
    let mut sent_ok = 0i64;
    for (cmd, entity, signed) in all_commands(v, &q) {
        let bytes = cmd.to_bytes(v);
        let tag = cmd.tag();
        let key = signed.then_some(&q.key);
        for cut in 0..bytes.len() {
            let corr = raw.corr();
            let t = raw.tx(&corr, key, &entity, &bytes[..cut]);
            let got = raw.one(t, &corr).await;
            let expected = if cut < tag.len() {
                // No complete tag: `decodeTag` fails.
                err(CommandError::Unknown)
            } else if matches!(cmd, Command::Send { .. }) && cut >= b"SEND T ".len() {
                // The body is the tail of SEND: a shorter body is a valid SEND.
                sent_ok += 1;
                Response::Ok
            } else {
                err(CommandError::Syntax)
            };
            assert_eq!(
                got,
                expected,
                "{tag} cut to {cut} of {} bytes: {:?}",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..cut])
            );
        }
    }
    // The SEND prefixes that were valid landed in the queue, nothing else changed it.
    let info = c.queue_info(&q.q.rcv_key, &q.q.rcv_id).await.expect("QUE");
    assert_eq!(info.size, sent_ok);
    assert!(
        !info.has_sender,
        "no truncated KEY or SKEY secured the queue"
    );
    raw.ping_ok().await;
    c.ping().await.expect("other client served");
    server.stop().await.expect("server stopped");
    assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transmission_cut_at_every_byte_gets_block_or_command_errors() {
    count_panics();
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, mut events) = connect(server.address()).await;
    let q = ed_queue(&c).await;
    let mut raw = Raw::open(server.address()).await;
    let corr = raw.corr();
    let cmd = Command::Que.to_bytes(raw.v);
    let whole = raw.tx(&corr, Some(&q.key), &q.q.rcv_id, &cmd);
    // authorization (1 + 64) ‖ from v16 no service signature ('0') ‖ corrId (1 + 24) ‖
    // entity (1 + 24) ‖ command, from v7.
    let service_marker = usize::from(raw.v >= smp_proto::version::Version(16));
    let header = 1 + 64 + service_marker + 1 + 24 + 1 + q.q.rcv_id.len();
    assert_eq!(whole.len(), header + cmd.len());
    for cut in 0..whole.len() {
        let t = whole[..cut].to_vec();
        let a = raw.exchange(&[t], 1).await;
        let (c_id, e_id, r) = &a[0];
        if cut < header {
            // The fields do not parse: ERR BLOCK with no correlation or entity ID.
            assert_eq!(
                (c_id.as_slice(), e_id.as_slice(), r),
                (&[][..], &[][..], &Response::Err(ErrorType::Block)),
                "cut at {cut}"
            );
        } else {
            assert_eq!(c_id, &corr, "cut at {cut}");
            assert_eq!(e_id, &q.q.rcv_id, "cut at {cut}");
            assert_eq!(r, &err(CommandError::Unknown), "cut at {cut}");
        }
    }
    let a = raw.exchange(&[whole], 1).await;
    assert!(matches!(a[0].2, Response::Info(_)), "the whole one works");
    raw.ping_ok().await;
    c.send_message(None, &q.q.snd_id, QUIET, b"still here")
        .await
        .expect("SEND");
    c.subscribe(&q.q.rcv_key, &q.q.rcv_id).await.ok();
    let (_, body) = next_msg(&mut events, &q.q).await;
    assert!(matches!(body, RcvMsgBody::Data { ref body, .. } if body == b"still here"));
    server.stop().await.expect("server stopped");
    assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tags_are_unknown_and_trailing_bytes_are_syntax() {
    count_panics();
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, _events) = connect(server.address()).await;
    let q = ed_queue(&c).await;
    let mut raw = Raw::open(server.address()).await;
    // The tag ends at the first space only, so "QUE\0" and "DEL\n" are unknown tags.
    let unknown: [&[u8]; 14] = [
        b"",
        b"HELLO",
        b"send",
        b"Sub",
        b"PONG",
        b"OK",
        b"MSG",
        b"IDS",
        b"ERR AUTH",
        b"NEW_",
        b" SUB",
        b"\xff\x00\x01",
        b"QUE\0",
        b"DEL\n",
    ];
    for bad in unknown {
        let corr = raw.corr();
        let t = raw.tx(&corr, Some(&q.key), &q.q.rcv_id, bad);
        assert_eq!(
            raw.one(t, &corr).await,
            err(CommandError::Unknown),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let syntax: [&[u8]; 5] = [b"SUB ", b"SUB x", b"GET GET", b"OFF  ", b"DEL \n"];
    for bad in syntax {
        let corr = raw.corr();
        let t = raw.tx(&corr, Some(&q.key), &q.q.rcv_id, bad);
        assert_eq!(
            raw.one(t, &corr).await,
            err(CommandError::Syntax),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let corr = raw.corr();
    let t = raw.tx(&corr, None, b"", b"PING PONG");
    assert_eq!(raw.one(t, &corr).await, err(CommandError::Syntax));
    // SEND without the space before the body.
    let corr = raw.corr();
    let t = raw.tx(&corr, None, &q.q.snd_id, b"SEND Tbody");
    assert_eq!(raw.one(t, &corr).await, err(CommandError::Syntax));
    raw.ping_ok().await;
    server.stop().await.expect("server stopped");
    assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_entity_ids_and_credentials() {
    count_panics();
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, _events) = connect(server.address()).await;
    let q = ed_queue(&c).await;
    let mut raw = Raw::open(server.address()).await;
    let v = raw.v;
    let mut unknown_id = vec![0u8; 24];
    OsRng.fill_bytes(&mut unknown_id);
    let recipient_cmds = [
        Command::Sub,
        Command::Get,
        Command::Que,
        Command::Off,
        Command::Del,
        Command::NDel,
        Command::Key(ed_pub()),
    ];
    // A queue that does not exist, the sender's ID in place of the recipient's, a short ID.
    for entity in [unknown_id.clone(), q.q.snd_id.clone(), vec![1, 2, 3]] {
        for cmd in &recipient_cmds {
            let corr = raw.corr();
            let t = raw.tx(&corr, Some(&q.key), &entity, &cmd.to_bytes(v));
            assert_eq!(
                raw.one(t, &corr).await,
                Response::Err(ErrorType::Auth),
                "{} to a wrong entity",
                cmd.tag()
            );
        }
        let corr = raw.corr();
        let t = raw.tx(&corr, Some(&q.key), &entity, &Command::NSub.to_bytes(v));
        assert_eq!(raw.one(t, &corr).await, Response::Err(ErrorType::Auth));
    }
    // SEND to a missing queue and to the recipient ID.
    for entity in [unknown_id.clone(), q.q.rcv_id.clone()] {
        let corr = raw.corr();
        let send = Command::Send {
            flags: QUIET,
            body: b"x".to_vec(),
        };
        let t = raw.tx(&corr, None, &entity, &send.to_bytes(v));
        assert_eq!(raw.one(t, &corr).await, Response::Err(ErrorType::Auth));
    }
    // SKEY on the recipient ID.
    let corr = raw.corr();
    let t = raw.tx(
        &corr,
        Some(&q.key),
        &q.q.rcv_id,
        &Command::SKey(ed_pub()).to_bytes(v),
    );
    assert_eq!(raw.one(t, &corr).await, Response::Err(ErrorType::Auth));
    // ACK of a message that is not there.
    let corr = raw.corr();
    let ack = Command::Ack(simplex_encoding::ShortBytes::from_slice(&[9; 24]).expect("id"));
    let t = raw.tx(&corr, Some(&q.key), &q.q.rcv_id, &ack.to_bytes(v));
    assert_eq!(raw.one(t, &corr).await, Response::Err(ErrorType::NoMsg));
    // checkCredentials: entity and authorization present or absent as each command needs.
    let send = Command::Send {
        flags: QUIET,
        body: b"x".to_vec(),
    }
    .to_bytes(v);
    let ping = Command::Ping.to_bytes(v);
    let sub = Command::Sub.to_bytes(v);
    let cases: Vec<(bool, Vec<u8>, Vec<u8>, Response)> = vec![
        (false, vec![], send.clone(), err(CommandError::NoEntity)),
        (true, vec![], send, err(CommandError::NoEntity)),
        (
            false,
            q.q.rcv_id.clone(),
            ping.clone(),
            err(CommandError::HasAuth),
        ),
        (true, vec![], ping, err(CommandError::HasAuth)),
        (
            false,
            q.q.rcv_id.clone(),
            sub.clone(),
            err(CommandError::NoAuth),
        ),
        (true, vec![], sub, err(CommandError::NoAuth)),
        (
            true,
            q.q.rcv_id.clone(),
            all_commands(v, &q)[0].0.to_bytes(v),
            err(CommandError::HasAuth),
        ),
        (
            false,
            vec![],
            all_commands(v, &q)[0].0.to_bytes(v),
            err(CommandError::NoAuth),
        ),
    ];
    for (signed, entity, cmd, expected) in cases {
        let corr = raw.corr();
        let t = raw.tx(&corr, signed.then_some(&q.key), &entity, &cmd);
        assert_eq!(
            raw.one(t, &corr).await,
            expected,
            "{:?} signed={signed} entity={}",
            String::from_utf8_lossy(cmd.get(..4).unwrap_or_default()),
            entity.len()
        );
    }
    // The queue is intact.
    let info = c.queue_info(&q.q.rcv_key, &q.q.rcv_id).await.expect("QUE");
    assert_eq!(info.size, 0);
    raw.ping_ok().await;
    server.stop().await.expect("server stopped");
    assert_no_panics();
}

/// `NEW` at `v` with the DER of the authorization and DH keys replaced.
fn new_with_keys(v: Version, auth_der: &[u8], dh_der: &[u8]) -> Vec<u8> {
    let good = Command::New(Box::new(NewQueueReq {
        rcv_auth_key: ed_pub(),
        rcv_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        basic_auth: None,
        sub_mode: SubscriptionMode::OnlyCreate,
        queue_req_data: if v >= smp_proto::version::SND_AUTH_KEY_SMP_VERSION {
            Some(smp_proto::command::QueueReqData::Messaging(None))
        } else {
            None
        },
        ntf_creds: None,
    }))
    .to_bytes(v);
    // "NEW " ‖ len ‖ auth DER ‖ len ‖ DH DER ‖ rest
    let auth_len = usize::from(good[4]);
    let dh_at = 5 + auth_len;
    let dh_len = usize::from(good[dh_at]);
    let rest = &good[dh_at + 1 + dh_len..];
    let mut out = b"NEW ".to_vec();
    out.push(u8::try_from(auth_der.len()).expect("short"));
    out.extend_from_slice(auth_der);
    out.push(u8::try_from(dh_der.len()).expect("short"));
    out.extend_from_slice(dh_der);
    out.extend_from_slice(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_types() {
    count_panics();
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, _events) = connect(server.address()).await;
    let q = ed_queue(&c).await;
    let mut raw = Raw::open(server.address()).await;
    let v = raw.v;
    let ed = PrivateKeyEd25519::generate(&mut OsRng);
    let ed_der = ed.public_key().to_der();
    let x25519_der = PrivateKeyX25519::generate(&mut OsRng).public_key().to_der();
    let x448_der = PrivateKeyX448::generate(&mut OsRng).public_key().to_der();
    let ed448_der = PrivateKeyEd448::generate(&mut OsRng).public_key().to_der();

    // The control: the replaced layout is right.
    let corr = raw.corr();
    let t = raw.tx(
        &corr,
        Some(&ed),
        b"",
        &new_with_keys(v, &ed_der, &x25519_der),
    );
    assert!(matches!(raw.one(t, &corr).await, Response::Ids(_)));
    // X448 cannot authorize; Ed25519/Ed448 are no DH keys; garbage is no key.
    for (auth, dh) in [
        (&x448_der, &x25519_der),
        (&ed_der, &ed_der),
        (&ed_der, &ed448_der),
        (&ed_der, &x448_der),
        (&x25519_der[..10].to_vec(), &x25519_der),
        (&ed_der, &vec![0x30; 44]),
    ] {
        let corr = raw.corr();
        let t = raw.tx(&corr, Some(&ed), b"", &new_with_keys(v, auth, dh));
        assert_eq!(raw.one(t, &corr).await, err(CommandError::Syntax));
    }
    // KEY with an X448 key.
    let mut key_x448 = b"KEY ".to_vec();
    key_x448.push(u8::try_from(x448_der.len()).expect("short"));
    key_x448.extend_from_slice(&x448_der);
    let corr = raw.corr();
    let t = raw.tx(&corr, Some(&q.key), &q.q.rcv_id, &key_x448);
    assert_eq!(raw.one(t, &corr).await, err(CommandError::Syntax));

    // Authorizations of the wrong kind for the queue's Ed25519 key.
    let que = Command::Que.to_bytes(v);
    let ed448 = PrivateKeyEd448::generate(&mut OsRng);
    let other_ed = PrivateKeyEd25519::generate(&mut OsRng);
    let wrong: [&Authorize<'_>; 4] = [
        &|b: &[u8]| ed448.sign(b).to_vec(),
        &|_: &[u8]| vec![0x55; 80],
        &|b: &[u8]| other_ed.sign(b).to_vec(),
        &|_: &[u8]| vec![0; 64],
    ];
    for f in wrong {
        let corr = raw.corr();
        let t = raw.tx_with(&corr, &q.q.rcv_id, &que, Some(f));
        assert_eq!(raw.one(t, &corr).await, Response::Err(ErrorType::Auth));
    }
    // Authorization bytes of no known length: ERR BLOCK for that correlation ID.
    for len in [1usize, 10, 63, 65, 79, 81, 113, 115, 200] {
        let corr = raw.corr();
        let t = raw.tx_with(&corr, &q.q.rcv_id, &que, Some(&|_: &[u8]| vec![1; len]));
        let a = raw.exchange(&[t], 1).await;
        assert_eq!(
            a[0],
            (corr.clone(), vec![], Response::Err(ErrorType::Block)),
            "authorization of {len} bytes"
        );
    }
    // An X25519-keyed queue refuses an Ed25519 signature.
    let xq = new_queue(
        &c,
        PrivateAuthKey::X25519(PrivateKeyX25519::generate(&mut OsRng)),
        SubscriptionMode::OnlyCreate,
    )
    .await;
    let corr = raw.corr();
    let t = raw.tx(&corr, Some(&q.key), &xq.rcv_id, &que);
    assert_eq!(raw.one(t, &corr).await, Response::Err(ErrorType::Auth));
    c.queue_info(&xq.rcv_key, &xq.rcv_id)
        .await
        .expect("the right key works");
    raw.ping_ok().await;
    server.stop().await.expect("server stopped");
    assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_refused_and_the_largest_accepted() {
    count_panics();
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, _events) = connect(server.address()).await;
    let q = ed_queue(&c).await;
    let mut raw = Raw::open(server.address()).await;
    let v = raw.v;
    let max = max_message_length(v);
    for (len, expected) in [
        (max + 1, Response::Err(ErrorType::LargeMsg)),
        (max, Response::Ok),
    ] {
        let corr = raw.corr();
        let send = Command::Send {
            flags: QUIET,
            body: vec![b'a'; len],
        };
        let t = raw.tx(&corr, None, &q.q.snd_id, &send.to_bytes(v));
        assert_eq!(raw.one(t, &corr).await, expected, "body of {len} bytes");
    }
    // A transmission whose declared field lengths run past the block: ERR BLOCK.
    let corr = raw.corr();
    let mut t = raw.tx(&corr, None, b"", &Command::Ping.to_bytes(v));
    t[0] = 0xff;
    let a = raw.exchange(&[t], 1).await;
    assert_eq!(a[0], (vec![], vec![], Response::Err(ErrorType::Block)));
    let info = c.queue_info(&q.q.rcv_key, &q.q.rcv_id).await.expect("QUE");
    assert_eq!(info.size, 1, "only the largest allowed body was accepted");
    raw.ping_ok().await;
    server.stop().await.expect("server stopped");
    assert_no_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_mixing_good_and_bad_transmissions() {
    count_panics();
    let server = TestServer::start(QUOTA).await.expect("test server");
    let (c, mut events) = connect(server.address()).await;
    let q = ed_queue(&c).await;
    let mut raw = Raw::open(server.address()).await;
    let v = raw.v;
    let send = |body: &[u8]| {
        Command::Send {
            flags: QUIET,
            body: body.to_vec(),
        }
        .to_bytes(v)
    };
    let mut ts = Vec::new();
    let mut expected: Vec<(Vec<u8>, Response)> = Vec::new();
    let mut unknown_id = vec![0u8; 24];
    OsRng.fill_bytes(&mut unknown_id);
    let wrong_key = PrivateKeyEd25519::generate(&mut OsRng);
    for round in 0..8u8 {
        let c1 = raw.corr();
        ts.push(raw.tx(&c1, None, b"", &Command::Ping.to_bytes(v)));
        expected.push((c1, Response::Pong));
        let c2 = raw.corr();
        ts.push(raw.tx(&c2, None, &q.q.snd_id, &send(&[b'0' + round])));
        expected.push((c2, Response::Ok));
        let c3 = raw.corr();
        ts.push(raw.tx(&c3, None, &unknown_id, &send(b"lost")));
        expected.push((c3, Response::Err(ErrorType::Auth)));
        let c4 = raw.corr();
        ts.push(raw.tx(
            &c4,
            Some(&wrong_key),
            &q.q.rcv_id,
            &Command::Que.to_bytes(v),
        ));
        expected.push((c4, Response::Err(ErrorType::Auth)));
        let c5 = raw.corr();
        ts.push(raw.tx(&c5, Some(&q.key), &q.q.rcv_id, b"HELLO"));
        expected.push((c5, err(CommandError::Unknown)));
        let c6 = raw.corr();
        ts.push(raw.tx(&c6, Some(&q.key), &q.q.rcv_id, b"ACK "));
        expected.push((c6, err(CommandError::Syntax)));
        let c7 = raw.corr();
        ts.push(raw.tx(&c7, None, b"", &send(b"x")));
        expected.push((c7, err(CommandError::NoEntity)));
        // Cut inside its correlation ID.
        let c8 = raw.corr();
        let whole = raw.tx(&c8, None, b"", &Command::Ping.to_bytes(v));
        ts.push(whole[..10].to_vec());
        expected.push((vec![], Response::Err(ErrorType::Block)));
    }
    let mut answers = raw.exchange(&ts, ts.len()).await;
    let mut got: Vec<(Vec<u8>, Response)> = answers.drain(..).map(|(c, _, r)| (c, r)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, expected);
    // The eight good SENDs arrived, in order.
    c.subscribe(&q.q.rcv_key, &q.q.rcv_id).await.ok();
    for round in 0..8u8 {
        let (id, body) = next_msg(&mut events, &q.q).await;
        assert!(
            matches!(&body, RcvMsgBody::Data { body, .. } if body == &[b'0' + round]),
            "message {round}"
        );
        c.ack(&q.q.rcv_key, &q.q.rcv_id, &id).await.ok();
    }
    // Another client, new since the bad batch, is served too.
    let (c2, _e2) = connect(server.address()).await;
    c2.ping().await.expect("new client");
    raw.ping_ok().await;
    server.stop().await.expect("server stopped");
    assert_no_panics();
}
