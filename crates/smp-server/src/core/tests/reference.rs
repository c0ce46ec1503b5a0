//! Core tests from an audit of the reference's rules (see below), then counters, `RKEY` and
//! service commands.

use super::*;

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
    assert_eq!(
        h.reply(&s, n.req(&notifier_id, Cmd::NSub)),
        Reply::Sok(None)
    );
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
    assert_eq!(
        h.reply(&s3, n.req(&notifier_id, Cmd::NSub)),
        Reply::Sok(None)
    );
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
    assert_eq!(h.reply(&s3, n.req(&nid2, Cmd::NSub)), Reply::Sok(None));
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
    assert_eq!(h.reply(&s3, n.req(&nid3, Cmd::NSub)), Reply::Sok(None));
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
        req.service_sig = Some([7; 64]);
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
    assert_eq!(h.reply(&s, r.req(&rid, Cmd::Sub)), Reply::Sok(None));
}

/// `verifyQueueTransmission` in a service session: `SUB` carries the service key's
/// signature of the transmission, and the queue key signs the certificate hash before it;
/// without the former, or with a wrong one, it is `SERVICE`; with the queue key over the
/// bare transmission, `AUTH`. Other commands carry none.
#[test]
fn a_service_session_signs_sub_with_both_keys() {
    let mut h = Harness::new();
    let r = Party_::new();
    let plain = session(1);
    let (rid, _, _) = h.new_queue(&plain, &r, false, Some(QueueMode::Messaging));
    let svc_key = simplex_crypto::PrivateKeyEd25519::generate(&mut OsRng);
    let mut s = session(2);
    s.service = Some(crate::core::SessionService {
        id: vec![5; 24],
        role: smp_proto::ServiceRole::Messaging,
        cert_hash: [7; 32],
        key: svc_key.public_key(),
    });
    assert_eq!(
        h.reply(&s, r.req(&rid, Cmd::Sub)),
        Reply::Err(ErrorKind::Service)
    );
    let mut req = r.req(&rid, Cmd::Sub);
    req.service_sig = Some([0; 64]);
    assert_eq!(h.reply(&s, req), Reply::Err(ErrorKind::Service));
    let mut req = r.req(&rid, Cmd::Sub);
    req.service_sig = Some(svc_key.sign(&req.authorized));
    assert_eq!(h.reply(&s, req), Reply::Err(ErrorKind::Auth));
    let mut req = r.req(&rid, Cmd::Sub);
    let signed = [&[7u8; 32][..], &req.authorized].concat();
    req.auth = Authorization::Signature(Signature::Ed25519(r.sign.sign(&signed)));
    req.service_sig = Some(svc_key.sign(&req.authorized));
    assert_eq!(h.reply(&s, req), Reply::Sok(Some(vec![5; 24])));
    let mut req = r.req(&rid, Cmd::Que);
    req.service_sig = Some(svc_key.sign(&req.authorized));
    assert_eq!(h.reply(&s, req), Reply::Err(ErrorKind::Service));
}
