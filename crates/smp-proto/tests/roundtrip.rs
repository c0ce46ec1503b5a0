//! Every command, response, transmission, block and handshake record: round trips at every
//! version where the encoding differs, truncation, known answers, and random input.

use proptest::prelude::*;
use simplex_crypto::{KeyHash, PrivateKeyEd448, PublicAuthKey, Signature};
use simplex_encoding::{pad, Encode};
use smp_proto::address::{BasicAuth, SmpServer, TransportHost};
use smp_proto::block::{plan_batches, BatchItem, BATCH_BODY_SIZE, MAX_TRANSMISSION_SIZE};
use smp_proto::command::{
    Command, MsgFlags, NewQueueReq, QueueMode, QueueReqData, SubscriptionMode,
};
use smp_proto::error::{CommandError, ErrorType, ProtoError};
use smp_proto::handshake::{
    CertChainPubKey, ClientHello, ServerHello, SignatureAlgorithm, SignedKey, SignedPubKey,
};
use smp_proto::response::{QueueIdsKeys, Response};
use smp_proto::transmission::{
    decode_server_transmission, encode_transmission, Authorization, RawTransmission,
    TransmissionForAuth,
};
use smp_proto::version::{Version, VersionRange};

mod common;
use common::*;
use smp_proto::{batch_transmissions, decode_block, decode_block_transmissions, encode_block};

/// Encode → decode → encode is the identity, and each prefix either fails or is a shorter
/// valid value that encodes to exactly itself (commands with a free-form tail).
fn check_bytes<T: std::fmt::Debug>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, ProtoError>,
    encode: impl Fn(&T) -> Vec<u8>,
) {
    let back =
        decode(bytes).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(bytes)));
    assert_eq!(encode(&back), bytes);
    for n in 0..bytes.len() {
        if let Ok(v) = decode(&bytes[..n]) {
            assert_eq!(encode(&v), &bytes[..n], "prefix {n} decoded as {v:?}");
        }
    }
}

#[test]
fn every_command_round_trips_at_every_version() {
    for v in VERSIONS {
        for c in all_commands() {
            let bytes = c.to_bytes(v);
            check_bytes(&bytes, |b| Command::decode(v, b), |c| c.to_bytes(v));
        }
    }
}

#[test]
fn every_response_round_trips_at_every_version() {
    for v in VERSIONS {
        for r in all_responses() {
            let bytes = r.to_bytes(v);
            check_bytes(&bytes, |b| Response::decode(v, b), |r| r.to_bytes(v));
        }
    }
}

#[test]
fn only_commands_with_a_free_tail_have_valid_prefixes() {
    for v in VERSIONS {
        for c in all_commands() {
            let bytes = c.to_bytes(v);
            let tail_command = matches!(
                c,
                Command::Send { .. } | Command::Pfwd { .. } | Command::Rfwd(_)
            );
            for n in 0..bytes.len() {
                if let Ok(p) = Command::decode(v, &bytes[..n]) {
                    // `SUB` and `NSUB` are prefixes of the tags `SUBS` and `NSUBS`.
                    let shorter_tag = matches!(
                        (&c, &p),
                        (Command::Subs, Command::Sub) | (Command::NSubs, Command::NSub)
                    );
                    assert!(
                        tail_command || shorter_tag,
                        "prefix {n} of {c:?} decoded at {v:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn new_differs_at_v9() {
    let req = NewQueueReq {
        rcv_auth_key: PublicAuthKey::X25519(x25519(1)),
        rcv_dh_key: x25519(2),
        basic_auth: Some(BasicAuth::new(b"pw").expect("ok")),
        sub_mode: SubscriptionMode::Subscribe,
        queue_req_data: Some(QueueReqData::Messaging(None)),
        ntf_creds: None,
    };
    let cmd = Command::New(Box::new(req.clone()));
    let v8 = cmd.to_bytes(Version(8));
    let v9 = cmd.to_bytes(Version(9));
    let keys_len = 4 + 45 + 45; // "NEW " + two X25519 keys (1 + 44 bytes each)
    assert_eq!(&v8[keys_len..], b"A\x02pwS");
    assert_eq!(&v9[keys_len..], b"1\x02pwST");
    // Before v9 the mode is not sent and decodes as absent.
    let Command::New(back) = Command::decode(Version(8), &v8).expect("decodes") else {
        panic!("not NEW")
    };
    assert_eq!(back.queue_req_data, None);
    assert_eq!(Command::decode(Version(9), &v9), Ok(cmd));
    // A v9 NEW is not a v8 NEW.
    assert!(Command::decode(Version(8), &v9).is_err());
}

#[test]
fn ids_differs_at_v9_and_blocked_is_auth() {
    let ids = Response::Ids(QueueIdsKeys {
        rcv_id: sb(&[1; 24]),
        snd_id: sb(&[2; 24]),
        rcv_public_dh_key: x25519(4),
        queue_mode: Some(QueueMode::Messaging),
        link_id: None,
        service_id: None,
        server_ntf_creds: None,
    });
    let v8 = ids.to_bytes(Version(8));
    let v9 = ids.to_bytes(Version(9));
    assert_eq!(v9.len(), v8.len() + 1);
    assert_eq!(v9.last(), Some(&b'T'));
    let blocked = Response::Err(ErrorType::Blocked(smp_proto::BlockingInfo {
        reason: smp_proto::error::BlockingReason::Spam,
        notice: None,
    }));
    assert_eq!(blocked.to_bytes(Version(9)), b"ERR AUTH");
}

#[test]
fn command_errors_map_to_err_cmd() {
    let unknown = Command::decode(Version(9), b"WHAT").expect_err("unknown");
    assert_eq!(
        ErrorType::from(&unknown),
        ErrorType::Cmd(CommandError::Unknown)
    );
    for bad in [&b"PING "[..], b"SUB x", b"SEND T", b"ACK", b"KEY \x05abc"] {
        let e = Command::decode(Version(9), bad).expect_err("syntax");
        assert_eq!(
            ErrorType::from(&e),
            ErrorType::Cmd(CommandError::Syntax),
            "{bad:?}"
        );
    }
}

#[test]
fn credentials_are_checked_like_the_reference() {
    let id = [1u8; 24];
    let cmd_err = |e| Err(ErrorType::Cmd(e));
    assert_eq!(Command::Ping.check_credentials(false, &[]), Ok(()));
    assert_eq!(
        Command::Ping.check_credentials(false, &id),
        cmd_err(CommandError::HasAuth)
    );
    assert_eq!(
        Command::Sub.check_credentials(false, &id),
        cmd_err(CommandError::NoAuth)
    );
    assert_eq!(Command::Sub.check_credentials(true, &id), Ok(()));
    let send = Command::Send {
        flags: MsgFlags::default(),
        body: vec![],
    };
    assert_eq!(send.check_credentials(false, &id), Ok(()));
    assert_eq!(
        send.check_credentials(true, &[]),
        cmd_err(CommandError::NoEntity)
    );
    let new = all_commands().remove(0);
    assert_eq!(
        new.check_credentials(false, &[]),
        cmd_err(CommandError::NoAuth)
    );
    assert_eq!(
        new.check_credentials(true, &id),
        cmd_err(CommandError::HasAuth)
    );
    assert_eq!(new.check_credentials(true, &[]), Ok(()));
}

#[test]
fn ping_transmission_known_answer() {
    let corr = [0x63u8; 24];
    let session = [0x53u8; 32];
    // v7+: empty authorization, no session ID, corrId, empty entity, "PING".
    let t = encode_transmission(Version(9), &session, &corr, &[], b"PING").expect("fits");
    let mut expected = vec![0, 24];
    expected.extend_from_slice(&corr);
    expected.push(0);
    expected.extend_from_slice(b"PING");
    assert_eq!(t, expected);
    // v6: the session ID is sent.
    let t6 = encode_transmission(Version(6), &session, &corr, &[], b"PING").expect("fits");
    let mut expected6 = vec![0, 32];
    expected6.extend_from_slice(&session);
    expected6.extend_from_slice(&expected[1..]);
    assert_eq!(t6, expected6);
    // The block: one transmission of 31 bytes.
    let block = encode_block(&[&t]).expect("fits");
    assert_eq!(block.len(), 16384);
    assert_eq!(&block[..5], &[0, 34, 1, 0, 31]);
    assert_eq!(&block[5..36], &t[..]);
    assert!(block[36..].iter().all(|&b| b == b'#'));
}

#[test]
fn authorized_bytes_include_the_session_id() {
    let session = [0x53u8; 32];
    let corr = [1u8; 24];
    let q = [2u8; 24];
    for v in VERSIONS {
        let cmd = Command::Sub.to_bytes(v);
        let tfa = TransmissionForAuth::new(v, &session, &corr, &q, &cmd).expect("fits");
        let sig = Signature::Ed25519(ed25519().sign(tfa.for_auth()));
        let sent = tfa.encode(Some(sig.as_bytes())).expect("fits");
        let raw = RawTransmission::decode(v, &sent).expect("parses");
        assert_eq!(&*raw.authorized(&session), tfa.for_auth(), "{v:?}");
        assert_eq!(raw.authorized(&session)[0], 32);
        let st = decode_server_transmission(v, &session, &sent).expect("accepted");
        assert_eq!(st.command, Command::Sub);
        assert_eq!(st.authorization, Some(Authorization::Signature(sig)));
        assert_eq!(st.raw.entity_id, &q);
        // Wrong session: SESSION at v6 (sent), not detectable from v7 (only signed).
        let other = decode_server_transmission(v, &[0u8; 32], &sent);
        if v < Version(7) {
            assert_eq!(other.expect_err("session").error, ErrorType::Session);
        } else {
            assert!(other.is_ok());
        }
    }
}

#[test]
fn server_decoding_errors_carry_ids() {
    let v = Version(9);
    let corr = [1u8; 24];
    let q = [2u8; 24];
    // Authorization of a bad size: BLOCK, with the corrId but no entity.
    let tfa = TransmissionForAuth::new(v, b"s", &corr, &q, b"SUB").expect("fits");
    let e = decode_server_transmission(v, b"s", &tfa.encode(Some(&[0; 10])).expect("fits"))
        .expect_err("bad auth");
    assert_eq!(
        (e.error, e.corr_id.as_slice(), e.entity_id.len()),
        (ErrorType::Block, &corr[..], 0)
    );
    // Unknown command: CMD UNKNOWN with both IDs.
    let tfa = TransmissionForAuth::new(v, b"s", &corr, &q, b"NOPE").expect("fits");
    let e = decode_server_transmission(v, b"s", &tfa.encode(None).expect("fits")).expect_err("x");
    assert_eq!(e.error, ErrorType::Cmd(CommandError::Unknown));
    assert_eq!(e.entity_id, q);
    // Missing authorization: CMD NO_AUTH.
    let e = decode_server_transmission(
        v,
        b"s",
        &TransmissionForAuth::new(v, b"s", &corr, &q, b"SUB")
            .expect("ok")
            .encode(None)
            .expect("ok"),
    )
    .expect_err("no auth");
    assert_eq!(e.error, ErrorType::Cmd(CommandError::NoAuth));
    // Unparseable transmission: BLOCK with empty IDs.
    let e = decode_server_transmission(v, b"s", &[0, 24, 1]).expect_err("short");
    assert_eq!((e.error, e.corr_id.len()), (ErrorType::Block, 0));
}

#[test]
fn one_bad_transmission_does_not_drop_the_others() {
    let v = Version(9);
    let good = encode_transmission(v, b"s", &[1; 24], &[], b"PING").expect("ok");
    let bad = vec![0u8, 30, 1];
    let block = encode_block(&[&good, &bad, &good]).expect("fits");
    let ts = decode_block_transmissions(v, &block).expect("block splits");
    assert_eq!(ts.len(), 3);
    assert!(ts[0].is_ok() && ts[1].is_err() && ts[2].is_ok());
    // A block that does not split is one error.
    let mut broken = block.clone();
    broken[2] = 4; // claims four transmissions
    assert!(decode_block(&broken).is_err());
    assert!(
        decode_block(&pad(&[0], 16384).expect("pads")).is_err(),
        "zero count"
    );
    assert!(decode_block(&[0; 3]).is_err());
}

#[test]
fn batching_matches_the_reference() {
    // Fill from the end: with room for two per block, [a, b, c] -> [a], [b, c].
    let half = BATCH_BODY_SIZE / 2 - 2;
    assert_eq!(
        plan_batches(&[half, half, half]),
        vec![BatchItem::Block(0..1), BatchItem::Block(1..3)]
    );
    // The largest single transmission fits; one byte more does not.
    assert_eq!(
        plan_batches(&[MAX_TRANSMISSION_SIZE]),
        vec![BatchItem::Block(0..1)]
    );
    assert_eq!(
        plan_batches(&[10, MAX_TRANSMISSION_SIZE + 1, 10]),
        vec![
            BatchItem::Block(0..1),
            BatchItem::TooLarge(1),
            BatchItem::Block(2..3)
        ]
    );
    // At most 255 per block.
    let many = vec![1usize; 300];
    assert_eq!(
        plan_batches(&many),
        vec![BatchItem::Block(0..45), BatchItem::Block(45..300)]
    );
    // Tiny PINGs: 31 bytes + 2, 255 per block.
    let ping = encode_transmission(Version(9), b"s", &[1; 24], &[], b"PING").expect("ok");
    let batches = batch_transmissions(&vec![ping.clone(); 600]);
    assert_eq!(batches.len(), 3);
    let sizes: Vec<usize> = batches
        .iter()
        .map(|b| b.as_ref().expect("fits").range.len())
        .collect();
    assert_eq!(sizes, vec![90, 255, 255]);
    for b in &batches {
        let b = b.as_ref().expect("fits");
        assert_eq!(b.block.len(), 16384);
        assert_eq!(decode_block(&b.block).expect("splits").len(), b.range.len());
    }
    let big = vec![0u8; MAX_TRANSMISSION_SIZE + 1];
    assert!(matches!(
        batch_transmissions(&[big]).as_slice(),
        [Err((0, ProtoError::TooLarge { .. }))]
    ));
}

#[test]
fn largest_send_fits_in_a_block_at_each_version() {
    for v in VERSIONS {
        let body = vec![0u8; smp_proto::max_message_length(v)];
        let cmd = Command::Send {
            flags: MsgFlags::default(),
            body,
        }
        .to_bytes(v);
        let tfa = TransmissionForAuth::new(v, &[0; 32], &[1; 24], &[2; 24], &cmd).expect("ok");
        let t = tfa.encode(Some(&[0; 114])).expect("ok");
        assert!(t.len() <= MAX_TRANSMISSION_SIZE, "{v:?}: {}", t.len());
    }
}

#[test]
fn handshake_records_round_trip() {
    let session = sb(&[0x55; 32]);
    for alpn in [true, false] {
        let hello = ServerHello::for_alpn(alpn, session.clone(), cert_key());
        let block = hello.encode_block().expect("fits");
        assert_eq!(block.len(), 16384);
        assert_eq!(ServerHello::decode_block(&block).expect("decodes"), hello);
        let bytes = hello.to_bytes();
        for n in 0..bytes.len() {
            // Legacy: after the session ID nothing is read, so only shorter prefixes fail.
            if let Ok(h) = ServerHello::decode(&bytes[..n]) {
                assert!(h.cert_key.is_none() && n == 4 + 33, "prefix {n}");
            }
        }
        // Extra bytes are ignored.
        let mut extended = bytes.clone();
        extended.extend_from_slice(b"future");
        assert_eq!(ServerHello::decode(&extended).expect("decodes"), hello);
    }
    let legacy = ServerHello::for_alpn(false, session, cert_key());
    assert_eq!(
        legacy.to_bytes(),
        [&[0u8, 6, 0, 6, 32][..], &[0x55; 32]].concat()
    );
    let services = [
        None,
        Some(smp_proto::ClientHelloService {
            role: smp_proto::ServiceRole::Messaging,
            cert_key: cert_key(),
        }),
    ];
    for v in VERSIONS {
        for dh_key in [None, Some(x25519(3))] {
            for proxy_server in [false, true] {
                for client_service in services.clone() {
                    let hello = ClientHello {
                        version: v,
                        key_hash: KeyHash::from([1; 32]),
                        dh_key,
                        proxy_server,
                        client_service,
                    };
                    check_client_hello(&hello);
                }
            }
        }
    }
}

/// A client hello decodes to the fields its version carries, and (from v14, where a field
/// always follows the optional key) no proper prefix decodes.
fn check_client_hello(hello: &ClientHello) {
    let v = hello.version;
    let bytes = hello.to_bytes();
    let back = ClientHello::decode(&bytes).expect("decodes");
    let expected = ClientHello {
        dh_key: hello.dh_key.filter(|_| v >= Version(7)),
        proxy_server: hello.proxy_server && v >= Version(14),
        client_service: hello.client_service.clone().filter(|_| v >= Version(16)),
        ..hello.clone()
    };
    assert_eq!(back, expected);
    let checked = if v >= Version(14) { bytes.len() } else { 35 };
    for n in 0..checked {
        assert!(
            ClientHello::decode(&bytes[..n]).is_err(),
            "{v:?} prefix {n}"
        );
    }
}

#[test]
fn signed_key_is_wrapped_spki() {
    let sk = signed_key();
    let signed = sk.signed_bytes();
    assert_eq!(signed.len(), 46);
    assert_eq!(&signed[..2], &[0x30, 0x2c]);
    assert_eq!(&signed[2..], &x25519(9).to_der()[..]);
    assert_eq!(&sk.der()[..2], &[0x30, 0x78]);
    assert_eq!(SignedKey::from_der(sk.der()).expect("parses"), sk);
    for n in 0..sk.der().len() {
        assert!(SignedKey::from_der(&sk.der()[..n]).is_err());
    }
    let ed448 = PrivateKeyEd448::from_raw(&[3; 57]).expect("raw");
    let sk448 = SignedKey::build(&x25519(9), SignatureAlgorithm::Ed448, |m| {
        Signature::Ed448(ed448.sign(m))
    })
    .expect("builds");
    assert_eq!(&sk448.der()[..3], &[0x30, 0x81, 0xaa]);
    assert_eq!(SignedKey::from_der(sk448.der()).expect("parses"), sk448);
    assert!(
        SignedKey::build(&x25519(9), SignatureAlgorithm::Ed448, |m| {
            Signature::Ed25519(ed25519().sign(m))
        })
        .is_err()
    );
}

/// A service's hello signs an Ed25519 session key (v16): the same wrapping, parsed back as
/// an Ed25519 key, and not taken for an X25519 one.
#[test]
fn signed_ed25519_key_of_a_service_round_trips() {
    let session = ed25519().public_key();
    let k = ed25519();
    let sk = SignedKey::build_key(
        SignedPubKey::Ed25519(session),
        SignatureAlgorithm::Ed25519,
        |m| Signature::Ed25519(k.sign(m)),
    )
    .expect("builds");
    assert_eq!(&sk.signed_bytes()[..2], &[0x30, 0x2c]);
    assert_eq!(&sk.signed_bytes()[2..], &session.to_der()[..]);
    let back = SignedKey::from_der(sk.der()).expect("parses");
    assert_eq!(back.signed_key(), SignedPubKey::Ed25519(session));
    assert_eq!(back.key(), None);
    assert_eq!(signed_key().key(), Some(&x25519(9)));
    for n in 0..sk.der().len() {
        assert!(SignedKey::from_der(&sk.der()[..n]).is_err());
    }
}

#[test]
fn signed_key_matches_reference_vector() {
    let Some(v) = test_support::reference_vectors("signed_key_matches_reference_vector") else {
        return;
    };
    for name in ["server_handshake_ed25519", "server_handshake_ed448"] {
        let h = &v["xftp_handshake"][name];
        let der = test_support::hex_field(h, "signedKey_der_hex");
        let sk = SignedKey::from_der(&der).expect("reference signed key parses");
        assert_eq!(
            sk.signed_bytes(),
            test_support::hex_field(h, "signedKey_object_raw_hex")
        );
        assert_eq!(
            sk.key().expect("an X25519 key").as_raw(),
            test_support::hex_field(h, "dh_pub_hex")
        );
        assert_eq!(sk.der(), &der[..]);
    }
}

#[test]
fn version_range_known_answers() {
    let r = VersionRange::new(Version(6), Version(9)).expect("valid");
    assert_eq!(r.to_string(), "6-9");
    assert_eq!(r.to_bytes(), [0, 6, 0, 9]);
}

fn any_version() -> impl Strategy<Value = Version> {
    (0u16..20).prop_map(Version)
}

proptest! {
    #[test]
    fn random_bytes_never_panic(v in any_version(), bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Command::decode(v, &bytes);
        let _ = Response::decode(v, &bytes);
        let _ = RawTransmission::decode(v, &bytes);
        let _ = decode_server_transmission(v, b"session", &bytes);
        let _ = decode_block(&bytes);
        let _ = ServerHello::decode(&bytes);
        let _ = ClientHello::decode(&bytes);
        let _ = SignedKey::from_der(&bytes);
        let _ = smp_proto::SmpServerWithAuth::parse_str(&bytes);
        let _ = smp_proto::SmpQueueUri::parse_str(&bytes);
        let _ = simplex_encoding::decode_all::<ErrorType>(&bytes);
        let _ = simplex_encoding::decode_all::<SmpServer>(&bytes);
    }

    #[test]
    fn random_tag_prefixed_bytes_never_panic(
        v in any_version(),
        tag in prop::sample::select(vec!["NEW ", "KEY ", "NKEY ", "ACK ", "SKEY ", "SEND ", "PRXY ", "PFWD ",
            "RKEY ", "LSET ", "LKEY ", "IDS ", "MSG ", "NID ", "NMSG ", "PKEY ", "INFO ", "ERR ",
            "ERR PROXY BROKER ", "LNK ", "SOK ", "SOKS ", "ENDS ", "ERR BLOCKED "]),
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let bytes = [tag.as_bytes(), &rest].concat();
        let _ = Command::decode(v, &bytes);
        let _ = Response::decode(v, &bytes);
    }

    #[test]
    fn random_blocks_never_panic(count in 0u8..5, parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..5)) {
        let mut batch = vec![count];
        for p in &parts {
            batch.extend_from_slice(&u16::try_from(p.len()).expect("small").to_be_bytes());
            batch.extend_from_slice(p);
        }
        if let Ok(block) = pad(&batch, 16384) {
            if let Ok(ts) = decode_block_transmissions(Version(9), &block) {
                prop_assert_eq!(ts.len(), usize::from(count));
            }
        }
    }
}

#[test]
fn queue_uri_round_trips_and_known_answer() {
    use smp_proto::SmpQueueUri;
    let uri = SmpQueueUri {
        client_versions: VersionRange::new(Version(1), Version(4)).expect("valid"),
        server: SmpServer {
            hosts: vec![
                TransportHost::Domain("a.com".into()),
                TransportHost::Domain("b.com".into()),
            ],
            port: None,
            key_hash: KeyHash::from([0; 32]),
        },
        sender_id: vec![1, 2, 3],
        dh_public_key: x25519(9),
        queue_mode: Some(QueueMode::Messaging),
    };
    let s = uri.to_string();
    let dh = simplex_encoding::string::base64url_encode(&x25519(9).to_der()).replace('=', "%3D");
    // min version 1 < 2: legacy form, the first host only, the rest in `srv`.
    assert_eq!(
        s,
        format!(
            "smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@a.com/AQID#/?v=1-4&dh={dh}&q=m&k=s&srv=b.com"
        )
    );
    assert_eq!(SmpQueueUri::parse_str(s.as_bytes()).expect("parses"), uri);
    let modern = SmpQueueUri {
        client_versions: VersionRange::new(Version(2), Version(4)).expect("valid"),
        queue_mode: None,
        ..uri.clone()
    };
    let s = modern.to_string();
    assert!(s.starts_with(
        "smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@a.com,b.com/AQID#/?v=2-4&dh="
    ));
    assert_eq!(
        SmpQueueUri::parse_str(s.as_bytes()).expect("parses"),
        modern
    );
    // `k=s` alone means a messaging queue; v4-only ranges do not write it.
    let k_only = format!(
        "smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@a.com/AQID#/?v=2-3&dh={dh}&k=s"
    );
    assert_eq!(
        SmpQueueUri::parse_str(k_only.as_bytes())
            .expect("parses")
            .queue_mode,
        Some(QueueMode::Messaging)
    );
    let v4 = SmpQueueUri {
        client_versions: VersionRange::single(Version(4)),
        ..uri
    };
    assert!(v4.to_string().ends_with("&q=m"));
    for bad in [
        "smp://AAAA@a.com/AQID#/?dh=x",
        "smp://AAAA@a.com/AQID",
        "ntf://AAAA@a.com/AQID#/?v=1",
    ] {
        assert!(SmpQueueUri::parse_str(bad.as_bytes()).is_err(), "{bad}");
    }
}

fn pem_der(path: &std::path::Path) -> Vec<u8> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM base64")
}

/// The XFTP server handshake carries the same `CertChainPubKey` as SMP's; rebuilding the
/// reference's block from the fixture chain and the vector's signed key must give its hash.
#[test]
fn cert_chain_pub_key_matches_reference_block() {
    let Some(v) = test_support::reference_vectors("cert_chain_pub_key_matches_reference_block")
    else {
        return;
    };
    let h = &v["xftp_handshake"]["server_handshake_ed25519"];
    let (Some(server), Some(ca)) = (
        test_support::fixture("ed25519/server.crt", "cert_chain block"),
        test_support::fixture("ed25519/ca.crt", "cert_chain block"),
    ) else {
        return;
    };
    let signed_key =
        SignedKey::from_der(&test_support::hex_field(h, "signedKey_der_hex")).expect("parses");
    let ck = CertChainPubKey {
        cert_chain: vec![pem_der(&server), pem_der(&ca)],
        signed_key,
    };
    let mut body = Vec::new();
    VersionRange::new(Version(1), Version(3))
        .expect("valid")
        .encode(&mut body);
    sb(&test_support::hex_field(h, "sessionId_hex")).encode(&mut body);
    ck.encode(&mut body);
    // XFTP adds a web identity proof after the fields SMP shares.
    sb(&test_support::hex_field(h, "webIdentityProof_hex")).encode(&mut body);
    let block = pad(&body, 16384).expect("fits");
    let head = test_support::hex_field(&h["server_handshake_block"], "head_hex");
    assert_eq!(&block[..head.len()], &head[..]);
    assert_eq!(
        hex::encode(simplex_crypto::sha256(&block)),
        test_support::str_field(&h["server_handshake_block"], "sha256")
    );
    // And it decodes back from the reference's bytes.
    let mut r = simplex_encoding::Reader::new(&body[4 + 33..]);
    assert_eq!(r.read::<CertChainPubKey>().expect("decodes"), ck);
}

#[test]
fn client_side_decoding() {
    use smp_proto::transmission::decode_client_transmission;
    let corr = [1u8; 24];
    let q = [2u8; 24];
    for v in VERSIONS {
        let ok = encode_transmission(v, b"sess", &corr, &q, &Response::Ok.to_bytes(v)).expect("ok");
        let t = decode_client_transmission(v, b"sess", &ok);
        assert_eq!(
            (t.corr_id.as_slice(), t.entity_id.as_slice(), t.response),
            (&corr[..], &q[..], Ok(Response::Ok))
        );
        let pong = encode_transmission(v, b"sess", &corr, &q, b"PONG").expect("ok");
        assert_eq!(
            decode_client_transmission(v, b"sess", &pong).response,
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
        let other = decode_client_transmission(v, b"other", &ok).response;
        assert_eq!(other.is_err(), v < Version(7));
    }
    assert_eq!(
        decode_client_transmission(Version(9), b"s", &[5]).response,
        Err(ErrorType::Block)
    );
}
