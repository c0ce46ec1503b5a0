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
            service_sig: None,
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
        service_sig: None,
        cmd,
    }
}

fn session(client: ClientId) -> Session {
    Session {
        service: None,
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
    assert_eq!(out[0].reply, Reply::Sok(None));
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
    assert_eq!(out[0].reply, Reply::Sok(None));
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
        service_sig: None,
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
    assert_eq!(
        h.reply(&s, req(&rcv_id, Cmd::Sub, &secret)),
        Reply::Sok(None)
    );
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
    assert_eq!(h.reply(&s2, r.req(&rid, Cmd::Sub)), Reply::Sok(None));
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

mod ntf;
mod reference;
