//! Notifier credentials, `NMSG`, and notifications kept for a notifier.

use super::*;

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
    assert_eq!(
        h.reply(&ns, n.req(&notifier_id, Cmd::NSub)),
        Reply::Sok(None)
    );
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
    assert_eq!(out[0].reply, Reply::Sok(None));
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
        Reply::Sok(None)
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
