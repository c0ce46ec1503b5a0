//! Known answers for what changed in SMP v10–v18 (the reference's `Protocol.hs` and
//! `Transport.hs` encoders, written out by hand): `NEW` and `IDS` per version, the events and
//! answers of later versions and their older forms, the v16 service-signature framing, the
//! hello's proxy and service fields, and the server's third handshake block.

use simplex_crypto::{KeyHash, PublicAuthKey};
use simplex_encoding::{decode_all, Encode, Large};
use smp_proto::command::{
    Command, ContactLinkReq, MessagingLinkReq, NewNtfCreds, NewQueueReq, QueueLinkData, QueueMode,
    QueueReqData, SubscriptionMode,
};
use smp_proto::error::{
    BlockingInfo, BlockingReason, ClientNotice, CommandError, ErrorType, HandshakeError,
    TransportError,
};
use smp_proto::handshake::{ClientHello, ClientHelloService, ServerHandshakeResponse, ServiceRole};
use smp_proto::queue::ServerNtfCreds;
use smp_proto::response::{QueueIdsKeys, Response};
use smp_proto::transmission::{decode_server_transmission, RawTransmission, TransmissionForAuth};
use smp_proto::version::Version;

mod common;
use common::*;

/// "NEW " and two X25519 keys (1 + 44 bytes each).
const NEW_KEYS_LEN: usize = 4 + 45 + 45;

fn new_req(queue_req_data: Option<QueueReqData>, ntf: bool) -> NewQueueReq {
    NewQueueReq {
        rcv_auth_key: PublicAuthKey::X25519(x25519(1)),
        rcv_dh_key: x25519(2),
        basic_auth: None,
        sub_mode: SubscriptionMode::Subscribe,
        queue_req_data,
        ntf_creds: ntf.then(|| NewNtfCreds {
            notifier_key: PublicAuthKey::X25519(x25519(3)),
            rcv_ntf_dh_key: x25519(4),
        }),
    }
}

fn small_link() -> QueueLinkData {
    QueueLinkData {
        fixed: Large::new(b"fx".to_vec()).expect("fits"),
        user: Large::new(b"u".to_vec()).expect("fits"),
    }
}

fn tail(cmd: &Command, v: u16) -> Vec<u8> {
    cmd.to_bytes(Version(v))[NEW_KEYS_LEN..].to_vec()
}

#[test]
fn new_carries_queue_data_from_v15_and_ntf_creds_from_v17() {
    let contact = Command::New(Box::new(new_req(
        Some(QueueReqData::Contact(Some(ContactLinkReq {
            link_id: sb(b"L"),
            snd_id: sb(b"S"),
            data: small_link(),
        }))),
        true,
    )));
    // v9–14: the password as Maybe, the mode, "sender can secure" (contact: F).
    assert_eq!(tail(&contact, 14), b"0SF");
    // v15–16: Maybe QueueReqData: '1', 'C', Maybe link: '1', linkId, sndId, Large, Large.
    let link = b"1C1\x01L\x01S\x00\x02fx\x00\x01u";
    assert_eq!(tail(&contact, 15), [&b"0S"[..], link].concat());
    assert_eq!(tail(&contact, 16), tail(&contact, 15));
    // v17+: the notifier credentials follow, as Maybe.
    let creds = [&[b'1'][..], &x25519(3).to_bytes(), &x25519(4).to_bytes()].concat();
    assert_eq!(tail(&contact, 17), [&b"0S"[..], link, &creds].concat());
    let plain = Command::New(Box::new(new_req(
        Some(QueueReqData::Messaging(None)),
        false,
    )));
    assert_eq!(tail(&plain, 9), b"0ST");
    assert_eq!(tail(&plain, 15), b"0S1M0");
    assert_eq!(tail(&plain, 17), b"0S1M00");
    let none = Command::New(Box::new(new_req(None, false)));
    assert_eq!(tail(&none, 15), b"0S0");
    let messaging = Command::New(Box::new(new_req(
        Some(QueueReqData::Messaging(Some(MessagingLinkReq {
            snd_id: sb(b"S"),
            data: small_link(),
        }))),
        false,
    )));
    assert_eq!(tail(&messaging, 16), b"0S1M1\x01S\x00\x02fx\x00\x01u");
    // Decoding gives back what each version carries.
    for v in [15, 16, 17, 18] {
        let bytes = contact.to_bytes(Version(v));
        let Ok(Command::New(back)) = Command::decode(Version(v), &bytes) else {
            panic!("NEW at v{v}")
        };
        assert_eq!(back.queue_mode(), Some(QueueMode::Contact));
        assert_eq!(back.ntf_creds.is_some(), v >= 17, "v{v}");
    }
    let Ok(Command::New(v9)) = Command::decode(Version(9), &contact.to_bytes(Version(9))) else {
        panic!("NEW at v9")
    };
    assert_eq!(v9.queue_req_data, Some(QueueReqData::Contact(None)));
    assert_eq!(v9.ntf_creds, None);
}

#[test]
fn ids_per_version() {
    let ids = Response::Ids(QueueIdsKeys {
        rcv_id: sb(b"R"),
        snd_id: sb(b"S"),
        rcv_public_dh_key: x25519(4),
        queue_mode: Some(QueueMode::Contact),
        link_id: Some(sb(b"L")),
        service_id: None,
        server_ntf_creds: Some(ServerNtfCreds {
            notifier_id: sb(b"N"),
            srv_ntf_dh_key: x25519(5),
        }),
    });
    let head = [&b"IDS \x01R\x01S"[..], &x25519(4).to_bytes()].concat();
    let at = |v: u16| ids.to_bytes(Version(v))[head.len()..].to_vec();
    assert_eq!(ids.to_bytes(Version(8)), head);
    assert_eq!(at(14), b"F");
    assert_eq!(at(15), b"1C1\x01L");
    assert_eq!(at(16), b"1C1\x01L0");
    let creds = [&b"1\x01N"[..], &x25519(5).to_bytes()].concat();
    assert_eq!(at(17), [&b"1C1\x01L0"[..], &creds].concat());
    // A v15 IDS is not a v17 IDS.
    assert!(Response::decode(Version(17), &ids.to_bytes(Version(15))).is_err());
}

#[test]
fn later_events_have_older_forms() {
    assert_eq!(Response::Deld.to_bytes(Version(9)), b"END");
    assert_eq!(Response::Deld.to_bytes(Version(10)), b"DELD");
    assert_eq!(
        Response::decode(Version(10), b"DELD"),
        Ok(Response::Deld),
        "DELD"
    );
    assert_eq!(Response::Sok(None).to_bytes(Version(15)), b"OK");
    assert_eq!(Response::Sok(None).to_bytes(Version(16)), b"SOK 0");
    assert_eq!(
        Response::Sok(Some(sb(b"svc"))).to_bytes(Version(16)),
        b"SOK 1\x03svc"
    );
    assert_eq!(
        Response::Soks(258).to_bytes(Version(16)),
        b"SOKS \0\0\0\0\0\0\x01\x02"
    );
    assert_eq!(
        Response::Ends(1).to_bytes(Version(16)),
        b"ENDS \0\0\0\0\0\0\0\x01"
    );
    assert_eq!(
        Response::Lnk {
            snd_id: sb(b"S"),
            data: small_link()
        }
        .to_bytes(Version(15)),
        b"LNK \x01S\x00\x02fx\x00\x01u"
    );
    let blocked = Response::Err(ErrorType::Blocked(BlockingInfo {
        reason: BlockingReason::Content,
        notice: Some(ClientNotice { ttl: Some(60) }),
    }));
    assert_eq!(blocked.to_bytes(Version(11)), b"ERR AUTH");
    assert_eq!(blocked.to_bytes(Version(12)), b"ERR BLOCKED reason=content");
    assert_eq!(blocked.to_bytes(Version(17)), b"ERR BLOCKED reason=content");
    assert_eq!(
        blocked.to_bytes(Version(18)),
        b"ERR BLOCKED reason=content,notice={\"ttl\":60}"
    );
    assert_eq!(
        Response::Err(ErrorType::Service).to_bytes(Version(16)),
        b"ERR SERVICE"
    );
}

#[test]
fn short_link_commands_known_answers_and_credentials() {
    let k = PublicAuthKey::X25519(x25519(1));
    let lset = Command::LSet {
        link_id: sb(b"L"),
        data: small_link(),
    };
    assert_eq!(lset.to_bytes(Version(15)), b"LSET \x01L\x00\x02fx\x00\x01u");
    assert_eq!(
        Command::LKey(k.clone()).to_bytes(Version(15)),
        [&b"LKEY "[..], &k.to_bytes()].concat()
    );
    assert_eq!(
        Command::RKey(vec![k.clone(), k.clone()]).to_bytes(Version(15)),
        [&b"RKEY \x02"[..], &k.to_bytes(), &k.to_bytes()].concat()
    );
    assert!(
        Command::decode(Version(15), b"RKEY \x00").is_err(),
        "empty RKEY"
    );
    for (tag, cmd) in [
        (&b"LDEL"[..], Command::LDel),
        (b"LGET", Command::LGet),
        (b"SUBS", Command::Subs),
        (b"NSUBS", Command::NSubs),
    ] {
        assert_eq!(cmd.to_bytes(Version(16)), tag);
        assert_eq!(Command::decode(Version(16), tag), Ok(cmd));
    }
    let id = [7u8; 24];
    let cmd_err = |e| Err(ErrorType::Cmd(e));
    // LGET: an entity (the link ID) and no authorization.
    assert_eq!(Command::LGet.check_credentials(false, &id), Ok(()));
    assert_eq!(
        Command::LGet.check_credentials(true, &id),
        cmd_err(CommandError::HasAuth)
    );
    assert_eq!(
        Command::LGet.check_credentials(false, &[]),
        cmd_err(CommandError::NoEntity)
    );
    // LKEY, LSET, LDEL, SUBS, NSUBS: both.
    for c in [
        Command::LKey(k),
        lset,
        Command::LDel,
        Command::Subs,
        Command::NSubs,
    ] {
        assert_eq!(c.check_credentials(true, &id), Ok(()), "{c:?}");
        assert_eq!(
            c.check_credentials(false, &id),
            cmd_err(CommandError::NoAuth),
            "{c:?}"
        );
    }
}

#[test]
fn service_signature_follows_a_non_empty_authorization_from_v16() {
    let session = [0x53u8; 32];
    let corr = [1u8; 24];
    let q = [2u8; 24];
    let auth = [9u8; 64];
    let sub = TransmissionForAuth::new(Version(16), &session, &corr, &q, b"SUB").expect("fits");
    let plain = sub.encode(Some(&auth)).expect("fits");
    // authorization, "no service signature", then corrId, entityId, command.
    let expected = [&[64u8][..], &auth, b"0", sub.to_send()].concat();
    assert_eq!(plain, expected);
    let sig = [5u8; 64];
    let signed = sub
        .encode_with_service(Some(&auth), Some(&sig))
        .expect("fits");
    assert_eq!(
        signed,
        [&[64u8][..], &auth, b"1\x40", &sig, sub.to_send()].concat()
    );
    for (bytes, service_sig) in [(&plain, None), (&signed, Some(sig))] {
        let raw = RawTransmission::decode(Version(16), bytes).expect("parses");
        assert_eq!(raw.service_sig, service_sig);
        // The signature is not part of what the authorization covers.
        assert_eq!(&*raw.authorized(&session), sub.for_auth());
        let st = decode_server_transmission(Version(16), &session, bytes).expect("accepted");
        assert_eq!(st.command, Command::Sub);
        // Without the '0'/'1' the transmission does not parse at v16.
        for n in 65..66 {
            assert!(RawTransmission::decode(Version(16), &bytes[..n]).is_err());
        }
    }
    // An unauthorized transmission has nothing after its empty authorization.
    let ping = TransmissionForAuth::new(Version(16), &session, &corr, &[], b"PING").expect("ok");
    let t = ping.encode(None).expect("fits");
    assert_eq!(t[0], 0);
    assert_eq!(&t[1..], ping.to_send());
    assert_eq!(
        decode_server_transmission(Version(16), &session, &t)
            .expect("accepted")
            .command,
        Command::Ping
    );
    // Before v16 no service signature is sent, even when asked for.
    let v15 = TransmissionForAuth::new(Version(15), &session, &corr, &q, b"SUB").expect("fits");
    let t = v15
        .encode_with_service(Some(&auth), Some(&sig))
        .expect("fits");
    assert_eq!(t, [&[64u8][..], &auth, v15.to_send()].concat());
    // A bad Maybe tag or signature length is refused.
    let mut bad = plain.clone();
    bad[65] = b'2';
    assert!(RawTransmission::decode(Version(16), &bad).is_err());
    let short_sig = [&[64u8][..], &auth, b"1\x03abc", sub.to_send()].concat();
    assert!(RawTransmission::decode(Version(16), &short_sig).is_err());
}

#[test]
fn client_hello_proxy_flag_and_service_known_answers() {
    let head = [&[0u8, 14, 32][..], &[1u8; 32]].concat();
    let hello = ClientHello {
        version: Version(14),
        key_hash: KeyHash::from([1; 32]),
        dh_key: Some(x25519(3)),
        proxy_server: true,
        client_service: None,
    };
    assert_eq!(
        hello.to_bytes(),
        [&head[..], &x25519(3).to_bytes(), b"T"].concat()
    );
    // No key: the flag follows the key hash directly, and still decodes.
    let no_key = ClientHello {
        dh_key: None,
        proxy_server: false,
        ..hello.clone()
    };
    assert_eq!(no_key.to_bytes(), [&head[..], b"F"].concat());
    assert_eq!(ClientHello::decode(&no_key.to_bytes()), Ok(no_key.clone()));
    // v16: the Maybe service record.
    let v16 = ClientHello {
        version: Version(16),
        ..no_key
    };
    assert_eq!(&v16.to_bytes()[35..], b"F0");
    let service = ClientHello {
        client_service: Some(ClientHelloService {
            role: ServiceRole::Notifier,
            cert_key: cert_key(),
        }),
        ..v16
    };
    let bytes = service.to_bytes();
    assert_eq!(&bytes[35..38], b"F1N");
    assert_eq!(ClientHello::decode(&bytes), Ok(service));
}

#[test]
fn server_handshake_response_round_trips() {
    let ok = ServerHandshakeResponse::ServiceId(sb(b"service-id"));
    assert_eq!(ok.to_bytes(), b"R\x0aservice-id");
    let err = ServerHandshakeResponse::Error(TransportError::Handshake(HandshakeError::BadService));
    assert_eq!(err.to_bytes(), b"EHANDSHAKE BAD_SERVICE");
    for r in [ok, err] {
        let block = r.encode_block().expect("fits");
        assert_eq!(block.len(), 16384);
        assert_eq!(ServerHandshakeResponse::decode_block(&block), Ok(r.clone()));
        let bytes = r.to_bytes();
        assert_eq!(decode_all::<ServerHandshakeResponse>(&bytes), Ok(r.clone()));
        for n in 0..bytes.len() {
            // "EHANDSHAKE BAD_SERVICE" has no shorter valid form; "R" needs its whole ID.
            assert!(
                decode_all::<ServerHandshakeResponse>(&bytes[..n]).is_err(),
                "prefix {n} of {r:?}"
            );
        }
    }
    assert!(decode_all::<ServerHandshakeResponse>(b"X").is_err());
}
