use rand::rngs::OsRng;
use simplex_crypto::keys::{dh_x25519, DhSecretX25519, PrivateKeyEd25519, PrivateKeyX25519};
use simplex_crypto::nacl::{cb_authenticate_with_key, cb_decrypt_no_pad, CbKey, CbNonce};

use super::*;
use crate::msg_store::{MessageKind, MsgNtf};

struct Party_ {
    sign: PrivateKeyEd25519,
    dh: PrivateKeyX25519,
}

impl Party_ {
    fn new() -> Self {
        Party_ {
            sign: PrivateKeyEd25519::generate(&mut OsRng),
            dh: PrivateKeyX25519::generate(&mut OsRng),
        }
    }
    fn auth_key(&self) -> PublicAuthKey {
        PublicAuthKey::Ed25519(self.sign.public_key())
    }
    fn dh_pub(&self) -> PublicKeyX25519 {
        self.dh.public_key()
    }
    fn req(&self, entity: &[u8], cmd: Cmd) -> Request {
        let corr_id = vec![rand::random::<u8>(); 24];
        let authorized = [corr_id.as_slice(), entity, format!("{cmd:?}").as_bytes()].concat();
        let auth = Authorization::Signature(Signature::Ed25519(self.sign.sign(&authorized)));
        Request {
            corr_id,
            entity_id: entity.to_vec(),
            auth,
            authorized,
            service_sig: false,
            cmd,
        }
    }
}

fn unsigned(entity: &[u8], cmd: Cmd) -> Request {
    Request {
        corr_id: vec![1; 24],
        entity_id: entity.to_vec(),
        auth: Authorization::None,
        authorized: vec![],
        service_sig: false,
        cmd,
    }
}

fn session(client: ClientId) -> Session {
    Session {
        client,
        version: 9,
        server_dh_key: Some(PrivateKeyX25519::generate(&mut OsRng)),
    }
}

struct Harness {
    core: Core,
    now: i64,
}

impl Harness {
    fn new() -> Self {
        Self::with(CoreConfig::default(), 128)
    }
    fn with(config: CoreConfig, quota: usize) -> Self {
        Harness {
            core: Core::new(config, QueueStore::new(), MsgStore::new(quota)),
            now: 1_700_000_000,
        }
    }
    fn run(&mut self, s: &Session, req: Request) -> Vec<Outgoing> {
        self.core.handle(&mut OsRng, self.now, s, req)
    }
    fn reply(&mut self, s: &Session, req: Request) -> Reply {
        self.run(s, req).remove(0).reply
    }
    /// Creates a queue; returns (rcv_id, snd_id, secret for bodies).
    fn new_queue(
        &mut self,
        s: &Session,
        r: &Party_,
        subscribe: bool,
        mode: Option<QueueMode>,
    ) -> (EntityId, EntityId, DhSecretX25519) {
        let cmd = Cmd::New {
            rcv_auth_key: r.auth_key(),
            rcv_dh_key: r.dh_pub(),
            basic_auth: None,
            subscribe,
            queue_mode: mode,
            link: None,
            ntf: None,
        };
        match self.reply(s, r.req(b"", cmd)) {
            Reply::Ids {
                rcv_id,
                snd_id,
                srv_dh_key,
                ..
            } => (rcv_id, snd_id, dh_x25519(&srv_dh_key, &r.dh)),
            other => panic!("expected IDS, got {other:?}"),
        }
    }
}

fn send(body: &[u8]) -> Cmd {
    Cmd::Send {
        notification: false,
        body: body.to_vec(),
    }
}

/// Decrypts a MSG body: (timestamp, flag, body) or the quota marker.
fn open_msg(secret: &DhSecretX25519, reply: &Reply) -> (Vec<u8>, Vec<u8>) {
    let Reply::Msg { msg_id, enc_body } = reply else {
        panic!("expected MSG, got {reply:?}")
    };
    let nonce = CbNonce::from_slice(msg_id).expect("24");
    let padded =
        cb_decrypt_no_pad(secret, &nonce, enc_body).expect("decrypts with the queue secret");
    assert_eq!(padded.len(), RCV_MSG_PADDED_LEN);
    let plain = simplex_encoding::unpad(&padded).expect("unpad").to_vec();
    (msg_id.clone(), plain)
}

fn body_of(plain: &[u8]) -> &[u8] {
    plain.get(10..).expect("8-byte time, flag, space")
}

#[test]
fn life_cycle_send_sub_msg_ack_next_only_after_ack() {
    let mut h = Harness::new();
    let (s1, s2) = (session(1), session(2));
    let r = Party_::new();
    let (rid, sid, secret) = h.new_queue(&s1, &r, false, None);
    assert_eq!(h.reply(&s2, unsigned(&sid, send(b"one"))), Reply::Ok);
    assert_eq!(h.reply(&s2, unsigned(&sid, send(b"two"))), Reply::Ok);
    let out = h.run(&s1, r.req(&rid, Cmd::Sub));
    assert_eq!(out.len(), 2, "OK then the first MSG");
    assert_eq!(out[0].reply, Reply::Sok);
    let (id1, plain) = open_msg(&secret, &out[1].reply);
    assert_eq!(body_of(&plain), b"one");
    assert_eq!(&plain[8..10], b"F ");
    assert_eq!(
        h.reply(&s1, r.req(&rid, Cmd::Ack(vec![9; 24]))),
        Reply::Err(ErrorKind::NoMsg)
    );
    let next = h.reply(&s1, r.req(&rid, Cmd::Ack(id1.clone())));
    let (id2, plain) = open_msg(&secret, &next);
    assert_eq!(body_of(&plain), b"two");
    assert_eq!(
        h.reply(&s1, r.req(&rid, Cmd::Ack(id1))),
        Reply::Err(ErrorKind::NoMsg),
        "already acknowledged"
    );
    assert_eq!(h.reply(&s1, r.req(&rid, Cmd::Ack(id2))), Reply::Ok);
    // An idle subscriber gets a new message pushed at once.
    let out = h.run(&s2, unsigned(&sid, send(b"three")));
    assert_eq!(out[0].reply, Reply::Ok);
    assert_eq!(out[1].client, 1);
    assert!(out[1].corr_id.is_empty());
    assert_eq!(body_of(&open_msg(&secret, &out[1].reply).1), b"three");
    // While it is unacknowledged, the next one is not pushed.
    assert_eq!(h.run(&s2, unsigned(&sid, send(b"four"))).len(), 1);
}

#[test]
fn takeover_sends_end_to_previous_subscriber() {
    let mut h = Harness::new();
    let r = Party_::new();
    let (rid, sid, _) = h.new_queue(&session(1), &r, true, None);
    let out = h.run(&session(2), r.req(&rid, Cmd::Sub));
    assert_eq!(out[0].reply, Reply::Sok);
    assert_eq!(
        out[1],
        Outgoing {
            client: 1,
            corr_id: vec![],
            entity_id: rid.clone(),
            reply: Reply::End
        }
    );
    let out = h.run(&session(3), unsigned(&sid, send(b"x")));
    assert_eq!(out[1].client, 2, "the new subscriber gets the message");
    h.core.client_gone(2);
    assert_eq!(h.core.subscription_count(), 0);
}

#[test]
fn quota_then_marker_after_last_message() {
    let mut h = Harness::with(CoreConfig::default(), 2);
    let r = Party_::new();
    let s = session(1);
    let (rid, sid, secret) = h.new_queue(&s, &r, false, None);
    assert_eq!(h.reply(&s, unsigned(&sid, send(b"1"))), Reply::Ok);
    assert_eq!(h.reply(&s, unsigned(&sid, send(b"2"))), Reply::Ok);
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"3"))),
        Reply::Err(ErrorKind::Quota)
    );
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"4"))),
        Reply::Err(ErrorKind::Quota)
    );
    let out = h.run(&s, r.req(&rid, Cmd::Sub));
    let (id, _) = open_msg(&secret, &out[1].reply);
    let m2 = h.reply(&s, r.req(&rid, Cmd::Ack(id)));
    let (id, plain) = open_msg(&secret, &m2);
    assert_eq!(body_of(&plain), b"2");
    let marker = h.reply(&s, r.req(&rid, Cmd::Ack(id)));
    let (id, plain) = open_msg(&secret, &marker);
    assert!(
        plain.starts_with(b"QUOTA "),
        "quota marker after the last message"
    );
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Ack(id))), Reply::Ok);
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"5"))),
        Reply::Ok,
        "accepted again once drained"
    );
}

#[test]
fn key_secures_and_unauthorized_send_is_refused() {
    let mut h = Harness::new();
    let (r, snd) = (Party_::new(), Party_::new());
    let s = session(1);
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    assert_eq!(
        h.reply(&s, snd.req(&sid, send(b"signed before secured"))),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Key(snd.auth_key()))),
        Reply::Ok
    );
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"x"))),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(h.reply(&s, snd.req(&sid, send(b"x"))), Reply::Ok);
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Key(Party_::new().auth_key()))),
        Reply::Err(ErrorKind::Auth)
    );
}

#[test]
fn skey_only_for_messaging_queues() {
    let mut h = Harness::new();
    let (r, snd) = (Party_::new(), Party_::new());
    let s = session(1);
    let (_, sid, _) = h.new_queue(&s, &r, false, Some(QueueMode::Messaging));
    assert_eq!(
        h.reply(&s, snd.req(&sid, Cmd::SKey(snd.auth_key()))),
        Reply::Ok
    );
    assert_eq!(
        h.reply(&s, snd.req(&sid, Cmd::SKey(snd.auth_key()))),
        Reply::Ok,
        "retry with the same key"
    );
    let other = Party_::new();
    assert_eq!(
        h.reply(&s, other.req(&sid, Cmd::SKey(other.auth_key()))),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(h.reply(&s, snd.req(&sid, send(b"x"))), Reply::Ok);
    let (_, sid2, _) = h.new_queue(&s, &r, false, Some(QueueMode::Contact));
    assert_eq!(
        h.reply(&s, snd.req(&sid2, Cmd::SKey(snd.auth_key()))),
        Reply::Err(ErrorKind::Auth)
    );
}

#[test]
fn auth_errors_for_missing_queue_and_wrong_key() {
    let mut h = Harness::new();
    let (r, other) = (Party_::new(), Party_::new());
    let s = session(1);
    let (rid, _, _) = h.new_queue(&s, &r, false, None);
    assert_eq!(
        h.reply(&s, r.req(&[7; 24], Cmd::Sub)),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(
        h.reply(&s, other.req(&rid, Cmd::Sub)),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(
        h.reply(&s, unsigned(&rid, Cmd::Sub)),
        Reply::Err(ErrorKind::Auth)
    );
    // NEW signed with a key other than the one it carries.
    let cmd = Cmd::New {
        rcv_auth_key: other.auth_key(),
        rcv_dh_key: r.dh_pub(),
        basic_auth: None,
        subscribe: false,
        queue_mode: None,
        link: None,
        ntf: None,
    };
    assert_eq!(h.reply(&s, r.req(b"", cmd)), Reply::Err(ErrorKind::Auth));
}

/// A request with a crypto_box authenticator made with the box key of `key` (a DH secret
/// with the session key), under a correlation ID of 24 bytes `corr`.
fn authenticated(corr: u8, entity: &[u8], cmd: Cmd, key: &[u8; 32]) -> Request {
    let corr_id = vec![corr; 24];
    let authorized = [entity, b"|cmd"].concat();
    let nonce = CbNonce::from_slice(&corr_id).expect("24");
    let a = cb_authenticate_with_key(&CbKey::from_secret(key), &nonce, &authorized);
    Request {
        corr_id,
        entity_id: entity.to_vec(),
        auth: Authorization::Authenticator(a),
        authorized,
        service_sig: false,
        cmd,
    }
}

#[test]
fn authenticator_scheme_with_x25519_recipient_key() {
    let mut h = Harness::new();
    let s = session(1);
    let srv_pub = s.server_dh_key.as_ref().expect("session key").public_key();
    let auth_key = PrivateKeyX25519::generate(&mut OsRng);
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let secret = *dh_x25519(&srv_pub, &auth_key).as_bytes();
    let req = |entity: &[u8], cmd: Cmd, key: &[u8; 32]| authenticated(5, entity, cmd, key);
    let cmd = Cmd::New {
        rcv_auth_key: PublicAuthKey::X25519(auth_key.public_key()),
        rcv_dh_key: dh.public_key(),
        basic_auth: None,
        subscribe: false,
        queue_mode: None,
        link: None,
        ntf: None,
    };
    let Reply::Ids { rcv_id, .. } = h.reply(&s, req(b"", cmd, &secret)) else {
        panic!("IDS expected")
    };
    assert_eq!(h.reply(&s, req(&rcv_id, Cmd::Sub, &secret)), Reply::Sok);
    assert_eq!(
        h.reply(&s, req(&rcv_id, Cmd::Que, &[1; 32])),
        Reply::Err(ErrorKind::Auth)
    );
    // The same authenticator under another session's server key fails.
    assert_eq!(
        h.reply(&session(2), req(&rcv_id, Cmd::Que, &secret)),
        Reply::Err(ErrorKind::Auth)
    );
}

#[test]
fn get_then_sub_prohibited_and_ack_after_get() {
    let mut h = Harness::new();
    let r = Party_::new();
    let s = session(1);
    let (rid, sid, secret) = h.new_queue(&s, &r, false, None);
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Get)), Reply::Ok, "empty queue");
    h.reply(&s, unsigned(&sid, send(b"g")));
    let m = h.reply(&s, r.req(&rid, Cmd::Get));
    let (id, plain) = open_msg(&secret, &m);
    assert_eq!(body_of(&plain), b"g");
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Sub)),
        Reply::Err(ErrorKind::Prohibited)
    );
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Ack(id))), Reply::Ok);
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Get)), Reply::Ok);
    let s2 = session(2);
    assert_eq!(h.reply(&s2, r.req(&rid, Cmd::Sub)), Reply::Sok);
    assert_eq!(
        h.reply(&s2, r.req(&rid, Cmd::Get)),
        Reply::Err(ErrorKind::Prohibited)
    );
}

#[test]
fn off_and_del() {
    let mut h = Harness::new();
    let r = Party_::new();
    let s = session(1);
    let (rid, sid, _) = h.new_queue(&s, &r, true, None);
    h.reply(&s, unsigned(&sid, send(b"a")));
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Off)), Reply::Ok);
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"b"))),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Del)), Reply::Ok);
    assert_eq!(h.core.msgs.size(&rid), 0, "undelivered messages gone");
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Sub)),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"c"))),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(h.core.subscription_count(), 0);
}

#[test]
fn que_reports_info() {
    let mut h = Harness::new();
    let r = Party_::new();
    let s = session(1);
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    h.reply(&s, unsigned(&sid, send(b"a")));
    let Reply::Info(info) = h.reply(&s, r.req(&rid, Cmd::Que)) else {
        panic!("INFO expected")
    };
    assert_eq!(
        (info.secured, info.notifier, info.size, info.sub.is_none()),
        (false, false, 1, true)
    );
    let json = info.to_json();
    assert!(
        json.starts_with("{\"qiSnd\":false,\"qiNtf\":false,\"qiSize\":1,\"qiMsg\":{"),
        "{json}"
    );
}

#[test]
fn notifier_credentials_and_nmsg() {
    let mut h = Harness::new();
    let (r, n) = (Party_::new(), Party_::new());
    let (s, ns) = (session(1), session(2));
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    let rcv_ntf = PrivateKeyX25519::generate(&mut OsRng);
    let cmd = Cmd::NKey {
        notifier_key: n.auth_key(),
        rcv_ntf_dh_key: rcv_ntf.public_key(),
    };
    let Reply::Nid {
        notifier_id,
        srv_ntf_dh_key,
    } = h.reply(&s, r.req(&rid, cmd))
    else {
        panic!("NID expected")
    };
    let ntf_secret = dh_x25519(&srv_ntf_dh_key, &rcv_ntf);
    assert_eq!(
        h.reply(&ns, r.req(&notifier_id, Cmd::NSub)),
        Reply::Err(ErrorKind::Auth),
        "wrong key"
    );
    assert_eq!(h.reply(&ns, n.req(&notifier_id, Cmd::NSub)), Reply::Sok);
    let out = h.run(
        &s,
        unsigned(
            &sid,
            Cmd::Send {
                notification: true,
                body: b"n".to_vec(),
            },
        ),
    );
    let nmsg = out
        .iter()
        .find(|o| o.client == 2)
        .expect("NMSG to the notifier");
    let Reply::NMsg {
        nonce, enc_meta, ..
    } = &nmsg.reply
    else {
        panic!("NMSG expected")
    };
    let meta = cb_decrypt_no_pad(&ntf_secret, &CbNonce(*nonce), enc_meta).expect("decrypts");
    let meta = simplex_encoding::unpad(&meta).expect("unpad");
    assert_eq!(meta.len(), 33);
    assert_eq!(
        h.core.msgs.peek(&rid).map(|m| m.id.clone()),
        Some(meta[1..25].to_vec())
    );
    assert_eq!(
        h.run(&s, unsigned(&sid, send(b"quiet"))).len(),
        1,
        "no NMSG without the flag"
    );
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::NDel)), Reply::Ok);
    assert_eq!(
        h.reply(&ns, n.req(&notifier_id, Cmd::NSub)),
        Reply::Err(ErrorKind::Auth)
    );
}

#[test]
fn create_password_and_new_queues_off() {
    let config = CoreConfig {
        create_password: Some(b"secret".to_vec()),
        ..CoreConfig::default()
    };
    let mut h = Harness::with(config, 128);
    let r = Party_::new();
    let s = session(1);
    let new = |pw: Option<&[u8]>| Cmd::New {
        rcv_auth_key: r.auth_key(),
        rcv_dh_key: r.dh_pub(),
        basic_auth: pw.map(<[u8]>::to_vec),
        subscribe: false,
        queue_mode: None,
        link: None,
        ntf: None,
    };
    assert_eq!(
        h.reply(&s, r.req(b"", new(None))),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(
        h.reply(&s, r.req(b"", new(Some(b"wrong")))),
        Reply::Err(ErrorKind::Auth)
    );
    assert!(matches!(
        h.reply(&s, r.req(b"", new(Some(b"secret")))),
        Reply::Ids { .. }
    ));
    let mut h = Harness::with(
        CoreConfig {
            allow_new_queues: false,
            ..CoreConfig::default()
        },
        128,
    );
    assert_eq!(
        h.reply(&s, r.req(b"", new(None))),
        Reply::Err(ErrorKind::Auth)
    );
}

#[test]
fn large_message_refused() {
    let mut h = Harness::new();
    let r = Party_::new();
    let s = session(1);
    let (_, sid, _) = h.new_queue(&s, &r, false, None);
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(&vec![0; 16_065]))),
        Reply::Err(ErrorKind::LargeMsg)
    );
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(&vec![0; 16_064]))),
        Reply::Ok
    );
}

#[test]
fn verified_outside_the_lock_then_queue_deleted_gives_auth() {
    let mut h = Harness::new();
    let r = Party_::new();
    let s = session(1);
    let (rid, _sid, _secret) = h.new_queue(&s, &r, false, None);
    let req = r.req(&rid, Cmd::Que);
    let check = h.core.auth_check(&req);
    assert!(check.verify(&s, &req), "the recipient's signature verifies");
    assert!(
        !check.verify(&s, &Party_::new().req(&rid, Cmd::Que)),
        "another key does not"
    );
    // The queue goes away between the check and the execution.
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Del)), Reply::Ok);
    let out = h
        .core
        .handle_verified(&mut OsRng, h.now, &s, req.clone(), true);
    assert_eq!(out[0].reply, Reply::Err(ErrorKind::Auth));
    let out = h.core.handle_verified(&mut OsRng, h.now, &s, req, false);
    assert_eq!(out[0].reply, Reply::Err(ErrorKind::Auth));
    assert_eq!(
        h.core.auth_check(&r.req(&rid, Cmd::Sub)),
        AuthCheck::Keys(vec![])
    );
}

#[test]
fn notifications_wait_for_a_notifier_that_subscribes_later() {
    let mut h = Harness::new();
    let (r, n) = (Party_::new(), Party_::new());
    let (s, ns) = (session(1), session(2));
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    let rcv_ntf = PrivateKeyX25519::generate(&mut OsRng);
    let cmd = Cmd::NKey {
        notifier_key: n.auth_key(),
        rcv_ntf_dh_key: rcv_ntf.public_key(),
    };
    let Reply::Nid {
        notifier_id,
        srv_ntf_dh_key,
    } = h.reply(&s, r.req(&rid, cmd))
    else {
        panic!("NID expected")
    };
    let ntf_secret = dh_x25519(&srv_ntf_dh_key, &rcv_ntf);
    let notified = |body: &[u8]| Cmd::Send {
        notification: true,
        body: body.to_vec(),
    };
    for b in [&b"a"[..], b"b"] {
        let out = h.run(&s, unsigned(&sid, notified(b)));
        assert_eq!(out.len(), 1, "no notifier subscribed: only the reply");
    }
    h.reply(&s, unsigned(&sid, send(b"quiet")));
    assert_eq!(h.core.ntfs.total(), 2);
    let out = h.run(&ns, n.req(&notifier_id, Cmd::NSub));
    assert_eq!(out[0].reply, Reply::Sok);
    assert_eq!(out.len(), 3, "OK, then the two kept notifications");
    // In the order sent: their metadata names the first two messages.
    let ids: Vec<Vec<u8>> = h
        .core
        .msgs
        .all()
        .flat_map(|(_, q)| q.map(|m| m.id.clone()))
        .collect();
    for (o, id) in out[1..].iter().zip(&ids) {
        assert_eq!(
            (o.client, o.entity_id.as_slice()),
            (2, notifier_id.as_slice())
        );
        assert!(o.corr_id.is_empty(), "pushed");
        let Reply::NMsg {
            nonce, enc_meta, ..
        } = &o.reply
        else {
            panic!("NMSG expected")
        };
        let meta = cb_decrypt_no_pad(&ntf_secret, &CbNonce(*nonce), enc_meta).expect("decrypts");
        let meta = simplex_encoding::unpad(&meta).expect("unpad");
        assert_eq!(meta.get(1..25), Some(id.as_slice()));
    }
    assert_eq!(h.core.ntfs.total(), 0);
    // Kept again when the notifier is gone, and dropped with the queue.
    h.core.client_gone(2);
    h.reply(&s, unsigned(&sid, notified(b"c")));
    assert_eq!(h.core.ntfs.total(), 1);
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Del)), Reply::Ok);
    assert_eq!(h.core.ntfs.total(), 0);
}

#[test]
fn kept_notifications_expire() {
    let mut h = Harness::new();
    let (r, n) = (Party_::new(), Party_::new());
    let s = session(1);
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    let cmd = Cmd::NKey {
        notifier_key: n.auth_key(),
        rcv_ntf_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
    };
    h.reply(&s, r.req(&rid, cmd));
    let notified = Cmd::Send {
        notification: true,
        body: b"x".to_vec(),
    };
    h.reply(&s, unsigned(&sid, notified));
    assert_eq!(h.core.expire_ntfs(h.now + 3600), 0);
    assert_eq!(h.core.expire_ntfs(h.now + 24 * 3600 + 1), 1);
    assert_eq!(h.core.ntfs.total(), 0);
}

// The tests below were derived from the reference's `Server.hs` and `MsgStore/Types.hs`
// (an audit of v9 behaviour the official clients meet); each names the reference rule.

/// `deleteExpireMsgs_` deletes expired messages from the head only while the head is a
/// regular `Message`: a `MessageQuota` at the head stops it, so the marker is never expired
/// and a full queue stays closed to senders until the recipient drains it.
#[test]
fn expiry_stops_at_the_quota_marker() {
    let mut h = Harness::with(CoreConfig::default(), 1);
    let r = Party_::new();
    let s = session(1);
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    assert_eq!(h.reply(&s, unsigned(&sid, send(b"1"))), Reply::Ok);
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"2"))),
        Reply::Err(ErrorKind::Quota),
        "the marker is written"
    );
    assert_eq!(h.core.msgs.size(&rid), 2);
    let later = h.now + DEFAULT_MESSAGE_TTL + 10;
    assert_eq!(h.core.expire_messages(later), 1, "only the message expires");
    assert_eq!(h.core.msgs.size(&rid), 1, "the marker stays");
    assert_eq!(
        h.core.msgs.peek(&rid).map(|m| m.kind.clone()),
        Some(MessageKind::Quota)
    );
    h.now = later;
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"3"))),
        Reply::Err(ErrorKind::Quota),
        "still full: expiry on SEND also stops at the marker"
    );
}

/// `acknowledgeMsg`: an empty message ID matches the delivered message, but the delete
/// (`tryDelPeekMsg` / `tryDelMsg`) compares the empty ID with the first message's ID, so
/// nothing is deleted: a subscriber gets the first message again as the ACK's reply, a GET
/// client gets `OK`.
#[test]
fn ack_with_empty_id_deletes_nothing() {
    let mut h = Harness::new();
    let r = Party_::new();
    let s = session(1);
    let (rid, sid, secret) = h.new_queue(&s, &r, true, None);
    let out = h.run(&s, unsigned(&sid, send(b"a")));
    let (id, _) = open_msg(&secret, &out[1].reply);
    let again = h.reply(&s, r.req(&rid, Cmd::Ack(Vec::new())));
    let (id2, plain) = open_msg(&secret, &again);
    assert_eq!(
        (id2.as_slice(), body_of(&plain)),
        (id.as_slice(), &b"a"[..])
    );
    assert_eq!(h.core.msgs.size(&rid), 1);
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Ack(id))), Reply::Ok);
    assert_eq!(h.core.msgs.size(&rid), 0);

    let s2 = session(2);
    let r2 = Party_::new();
    let (rid2, sid2, _) = h.new_queue(&s2, &r2, false, None);
    h.reply(&s2, unsigned(&sid2, send(b"g")));
    assert!(matches!(
        h.reply(&s2, r2.req(&rid2, Cmd::Get)),
        Reply::Msg { .. }
    ));
    assert_eq!(h.reply(&s2, r2.req(&rid2, Cmd::Ack(Vec::new()))), Reply::Ok);
    assert_eq!(h.core.msgs.size(&rid2), 1, "not deleted");
}

/// `expire_messages_on_send` (`expireMessagesOnSend`): when off, SEND does not expire old
/// messages of the queue (the reference's `init` writes `off`; absent, it is on).
#[test]
fn expiry_on_send_follows_the_setting() {
    for (on, expected) in [(true, 1), (false, 2)] {
        let config = CoreConfig {
            expire_on_send: on,
            ..CoreConfig::default()
        };
        let mut h = Harness::with(config, 128);
        let r = Party_::new();
        let s = session(1);
        let (rid, sid, _) = h.new_queue(&s, &r, false, None);
        h.reply(&s, unsigned(&sid, send(b"old")));
        h.now += DEFAULT_MESSAGE_TTL + 10;
        h.reply(&s, unsigned(&sid, send(b"new")));
        assert_eq!(h.core.msgs.size(&rid), expected, "expire_on_send = {on}");
    }
}

/// On a blocked queue the reference refuses recipient commands that go through
/// `withQueue` (`ERR BLOCKED`, sent as `ERR AUTH` before v12), but `OFF`, `DEL` and `NSUB`
/// use the queue directly and succeed, and `SEND` checks `LARGE_MSG` before the status.
#[test]
fn blocked_queue_allows_off_del_nsub_and_checks_send_size_first() {
    let mut h = Harness::new();
    let (r, n) = (Party_::new(), Party_::new());
    let s = session(1);
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    let Reply::Nid { notifier_id, .. } = h.reply(
        &s,
        r.req(
            &rid,
            Cmd::NKey {
                notifier_key: n.auth_key(),
                rcv_ntf_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
            },
        ),
    ) else {
        panic!("NID expected")
    };
    h.core
        .queues
        .apply(crate::store_log::StoreLogRecord::BlockQueue(
            rid.clone(),
            "reason=spam".into(),
        ))
        .expect("blocked");
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Sub)),
        Reply::Err(ErrorKind::Blocked("reason=spam".into()))
    );
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(&[0; 16_065]))),
        Reply::Err(ErrorKind::LargeMsg)
    );
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"x"))),
        Reply::Err(ErrorKind::Blocked("reason=spam".into()))
    );
    assert_eq!(h.reply(&s, n.req(&notifier_id, Cmd::NSub)), Reply::Sok);
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Off)), Reply::Ok);
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Del)), Reply::Ok);
}

/// `delQueueAndMsgs` queues `CSDeleted`: a client subscribed to the deleted queue from another
/// connection gets `DELD`, which is sent as `END` before v10; so does a notifier subscribed
/// from another connection when its credentials go (`DEL`, `NDEL`, or replaced by `NKEY`).
#[test]
fn deletion_ends_other_connections_subscriptions() {
    let mut h = Harness::new();
    let (r, n) = (Party_::new(), Party_::new());
    let (s1, s2, s3) = (session(1), session(2), session(3));
    let (rid, _, _) = h.new_queue(&s1, &r, true, None);
    let nkey = |n: &Party_| Cmd::NKey {
        notifier_key: n.auth_key(),
        rcv_ntf_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
    };
    let Reply::Nid { notifier_id, .. } = h.reply(&s2, r.req(&rid, nkey(&n))) else {
        panic!("NID expected")
    };
    assert_eq!(h.reply(&s3, n.req(&notifier_id, Cmd::NSub)), Reply::Sok);
    // NKEY again (replacing the credentials) ends the notifier's subscription.
    let out = h.run(&s2, r.req(&rid, nkey(&n)));
    let Reply::Nid {
        notifier_id: nid2, ..
    } = out[0].reply.clone()
    else {
        panic!("NID expected")
    };
    // The reference's DELD (CSDeleted), sent as END before v10.
    let end = |client, entity: &[u8]| Outgoing {
        client,
        corr_id: vec![],
        entity_id: entity.to_vec(),
        reply: Reply::Deld,
    };
    assert_eq!(out.get(1), Some(&end(3, &notifier_id)));
    assert_eq!(h.reply(&s3, n.req(&nid2, Cmd::NSub)), Reply::Sok);
    // DEL from another connection: END to the queue's subscriber and to the notifier.
    let out = h.run(&s2, r.req(&rid, Cmd::Del));
    assert_eq!(out[0].reply, Reply::Ok);
    assert!(out.contains(&end(1, &rid)), "{out:?}");
    assert!(out.contains(&end(3, &nid2)), "{out:?}");
    assert_eq!(out.len(), 3);
    // DEL by the subscriber itself: no END to itself.
    let (rid2, _, _) = h.new_queue(&s1, &r, true, None);
    assert_eq!(h.run(&s1, r.req(&rid2, Cmd::Del)).len(), 1);
    // NDEL with a notifier subscribed elsewhere.
    let (rid3, _, _) = h.new_queue(&s1, &r, false, None);
    let Reply::Nid {
        notifier_id: nid3, ..
    } = h.reply(&s1, r.req(&rid3, nkey(&n)))
    else {
        panic!("NID expected")
    };
    assert_eq!(h.reply(&s3, n.req(&nid3, Cmd::NSub)), Reply::Sok);
    let out = h.run(&s1, r.req(&rid3, Cmd::NDel));
    assert_eq!(out.get(1), Some(&end(3, &nid3)));
}

#[test]
fn auth_key_cache_keeps_only_keys_that_verified_and_answers_as_without() {
    let mut h = Harness::new();
    let s = session(1);
    let srv_pub = s.server_dh_key.as_ref().expect("session key").public_key();
    let auth_key = PrivateKeyX25519::generate(&mut OsRng);
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let secret = *dh_x25519(&srv_pub, &auth_key).as_bytes();
    let req = |entity: &[u8], cmd: Cmd, key: &[u8; 32]| authenticated(7, entity, cmd, key);
    let new = Cmd::New {
        rcv_auth_key: PublicAuthKey::X25519(auth_key.public_key()),
        rcv_dh_key: dh.public_key(),
        basic_auth: None,
        subscribe: false,
        queue_mode: None,
        link: None,
        ntf: None,
    };
    let Reply::Ids { rcv_id, .. } = h.reply(&s, req(b"", new, &secret)) else {
        panic!("IDS expected")
    };
    let mut cache = AuthKeyCache::new();
    // A wrong authenticator for the real key, and any for a missing queue: refused, not kept.
    let bad = req(&rcv_id, Cmd::Que, &[1; 32]);
    assert!(!h.core.auth_check(&bad).verify_cached(&s, &bad, &mut cache));
    let missing = req(&[9; 24], Cmd::Que, &secret);
    assert!(!h
        .core
        .auth_check(&missing)
        .verify_cached(&s, &missing, &mut cache));
    assert!(cache.is_empty(), "nothing kept for failures");
    // The right one verifies and is kept; verified again from the cache.
    let good = req(&rcv_id, Cmd::Que, &secret);
    let check = h.core.auth_check(&good);
    assert!(check.verify_cached(&s, &good, &mut cache));
    assert_eq!(cache.len(), 1);
    assert!(check.verify_cached(&s, &good, &mut cache), "from the cache");
    assert_eq!(cache.len(), 1);
    // A cache hit still checks the authenticator.
    assert!(!check.verify_cached(&s, &bad, &mut cache));
    assert!(check.verify(&s, &good), "the same answer without the cache");
}

#[test]
fn notifications_a_backed_up_notifier_cannot_take_are_kept_in_order() {
    let mut h = Harness::new();
    let (r, n) = (Party_::new(), Party_::new());
    let (s, ns) = (session(1), session(2));
    let (rid, sid, _) = h.new_queue(&s, &r, false, None);
    let rcv_ntf = PrivateKeyX25519::generate(&mut OsRng);
    let cmd = Cmd::NKey {
        notifier_key: n.auth_key(),
        rcv_ntf_dh_key: rcv_ntf.public_key(),
    };
    let Reply::Nid { notifier_id, .. } = h.reply(&s, r.req(&rid, cmd)) else {
        panic!("NID expected")
    };
    assert_eq!(
        h.run(&ns, n.req(&notifier_id, Cmd::NSub))[0].reply,
        Reply::Sok
    );
    let notified = |body: &[u8]| Cmd::Send {
        notification: true,
        body: body.to_vec(),
    };
    let pushed = |out: &[Outgoing]| -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|o| match &o.reply {
                Reply::NMsg { msg_id, .. } if o.client == 2 => Some(msg_id.clone()),
                _ => None,
            })
            .collect()
    };
    // The first notification is pushed; say the notifier's connection could not take it.
    let first = h.run(&s, unsigned(&sid, notified(b"1")));
    let Some(Reply::NMsg {
        nonce,
        enc_meta,
        msg_id,
        ts,
    }) = first
        .iter()
        .find(|o| o.client == 2)
        .map(|o| o.reply.clone())
    else {
        panic!("NMSG pushed to the subscribed notifier")
    };
    assert!(!h.core.ntf_is_kept(&notifier_id));
    h.core.keep_ntf(
        &notifier_id,
        MsgNtf {
            msg_id: msg_id.clone(),
            ts,
            nonce,
            enc_meta,
        },
    );
    assert!(h.core.ntf_is_kept(&notifier_id));
    // Later ones queue up behind it instead of overtaking it.
    let second = h.run(&s, unsigned(&sid, notified(b"2")));
    assert!(pushed(&second).is_empty(), "kept, not pushed");
    assert_eq!(h.core.ntfs.total(), 2);
    let kept = h.core.take_kept_ntfs();
    assert_eq!(kept.len(), 1);
    let (client, nid, ntfs) = &kept[0];
    assert_eq!((*client, nid), (2, &notifier_id));
    let ids: Vec<Vec<u8>> = h
        .core
        .msgs
        .all()
        .flat_map(|(_, q)| q.map(|m| m.id.clone()))
        .collect();
    assert_eq!(
        ntfs.iter().map(|n| n.msg_id.clone()).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(ids.first(), Some(&msg_id));
    // Counted as delivered once each, though the first went out, back and out again.
    assert_eq!(h.core.stats().snapshot().msg_ntfs, 2);
    // Handed on: the next one is pushed again.
    assert!(!h.core.ntf_is_kept(&notifier_id));
    assert_eq!(h.core.ntfs.total(), 0);
    let third = h.run(&s, unsigned(&sid, notified(b"3")));
    assert_eq!(pushed(&third).len(), 1);
    // A notification for a notifier that is gone is not kept.
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::NDel)), Reply::Ok);
    h.core.keep_ntf(
        &notifier_id,
        MsgNtf {
            msg_id,
            ts,
            nonce,
            enc_meta: Vec::new(),
        },
    );
    assert_eq!(h.core.ntfs.total(), 0);
    assert!(h.core.take_kept_ntfs().is_empty());
}

#[test]
fn stats_count_events_where_they_happen() {
    let mut h = Harness::with(CoreConfig::default(), 1);
    let (r, snd) = (Party_::new(), Party_::new());
    let s = session(1);
    // A queue deleted before it is secured, and one deleted after.
    let (new_rid, _, _) = h.new_queue(&s, &r, false, None);
    let (rid, sid, _) = h.new_queue(&s, &r, true, None);
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Key(snd.auth_key()))),
        Reply::Ok
    );
    // A send without the key, one stored, one over the quota (1).
    assert_eq!(
        h.reply(&s, unsigned(&sid, send(b"x"))),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(h.reply(&s, snd.req(&sid, send(b"x"))), Reply::Ok);
    assert_eq!(
        h.reply(&s, snd.req(&sid, send(b"y"))),
        Reply::Err(ErrorKind::Quota)
    );
    // A second connection takes the subscription over: the first gets END.
    let _ = h.run(&session(2), r.req(&rid, Cmd::Sub));
    let stats = h.core.stats().snapshot();
    assert_eq!((stats.q_created, stats.q_secured, stats.q_count), (2, 1, 2));
    assert_eq!(
        (stats.msg_sent, stats.msg_sent_auth, stats.msg_sent_quota),
        (1, 1, 1)
    );
    assert_eq!((stats.msg_count, stats.q_sub, stats.q_sub_end), (1, 1, 1));
    assert_eq!(h.reply(&s, r.req(&new_rid, Cmd::Del)), Reply::Ok);
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Del)), Reply::Ok);
    let stats = h.core.stats().snapshot();
    assert_eq!(
        (
            stats.q_deleted_all,
            stats.q_deleted_new,
            stats.q_deleted_secured,
            stats.q_count,
            stats.msg_count
        ),
        (2, 1, 1, 0, 0)
    );
}

#[test]
fn rkey_replaces_the_keys_of_contact_queues_only() {
    let mut h = Harness::new();
    let s = session(1);
    let (r, r2) = (Party_::new(), Party_::new());
    let (rid, _, _) = h.new_queue(&s, &r, false, Some(QueueMode::Contact));
    let rkey = Cmd::RKey(vec![r2.auth_key()]);
    assert_eq!(
        h.reply(&s, r2.req(&rid, rkey.clone())),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(h.reply(&s, r.req(&rid, rkey)), Reply::Ok);
    // The new key is the recipient's now; the old one is not.
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Off)),
        Reply::Err(ErrorKind::Auth)
    );
    assert_eq!(h.reply(&s, r2.req(&rid, Cmd::Off)), Reply::Ok);
    let (mid, _, _) = h.new_queue(&s, &r, false, Some(QueueMode::Messaging));
    assert_eq!(
        h.reply(&s, r.req(&mid, Cmd::RKey(vec![r2.auth_key()]))),
        Reply::Err(ErrorKind::Auth)
    );
}

#[test]
fn service_commands_and_signatures_are_refused_without_a_service() {
    let mut h = Harness::new();
    let s = session(1);
    let r = Party_::new();
    let (rid, _, _) = h.new_queue(&s, &r, false, Some(QueueMode::Messaging));
    for cmd in [Cmd::Subs, Cmd::NSubs] {
        assert_eq!(
            h.reply(&s, r.req(b"service", cmd)),
            Reply::Err(ErrorKind::Service)
        );
    }
    let with_sig = |mut req: Request| {
        req.service_sig = true;
        req
    };
    // A queue command with a service signature: SERVICE for a known queue, AUTH otherwise.
    assert_eq!(
        h.reply(&s, with_sig(r.req(&rid, Cmd::Sub))),
        Reply::Err(ErrorKind::Service)
    );
    assert_eq!(
        h.reply(&s, with_sig(r.req(&[9; 24], Cmd::Sub))),
        Reply::Err(ErrorKind::Auth)
    );
    let new = Cmd::New {
        rcv_auth_key: r.auth_key(),
        rcv_dh_key: r.dh_pub(),
        basic_auth: None,
        subscribe: false,
        queue_mode: None,
        link: None,
        ntf: None,
    };
    assert_eq!(
        h.reply(&s, with_sig(r.req(b"", new))),
        Reply::Err(ErrorKind::Service)
    );
    assert_eq!(h.core.queues.len(), 1, "no queue made");
    // Without the signature the same SUB is served.
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Sub)), Reply::Sok);
}
