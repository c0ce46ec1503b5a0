//! Round trips of every variant at every version where its encoding differs, truncation of
//! every encoding, pinned layouts, and decoders fed random bytes.

use std::fmt::Debug;

use agent_proto::{
    AMessage, AMessageReceipt, APrivHeader, AgentMessage, AgentMessageType, AgentMsgEnvelope,
    ClientMessage, ClientMsgEnvelope, ConnReqUriData, ConnectionRequest, ContactRequest, E2EParams,
    InvitationRequest, PrivHeader, PubHeader, QueueAdd, QueueKey, SmpConfirmation, SmpQueueInfo,
    SndQAddr,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_crypto::{
    CbNonce, PrivateKeyEd25519, PrivateKeyEd448, PrivateKeyX25519, PrivateKeyX448, PublicAuthKey,
    PublicKeyX25519,
};
use simplex_encoding::{decode_all, Decode, Encode, Reader};
use simplex_ratchet::kem::{KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN};
use simplex_ratchet::{
    E2ERatchetParamsUri, KemCiphertext, KemPublicKey, RKemParams, VersionRangeE2E,
};
use smp_proto::address::{SmpServer, TransportHost};
use smp_proto::keys::KeyHash;
use smp_proto::{QueueMode, SmpQueueUri, Version, VersionRange};

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn server(n: u8) -> SmpServer {
    SmpServer {
        hosts: vec![
            TransportHost::Domain(format!("smp{n}.example.com")),
            TransportHost::Ipv4([10, 0, 0, n]),
        ],
        port: (n % 2 == 0).then_some(5223 + u16::from(n)),
        key_hash: KeyHash::from([n; 32]),
    }
}

fn dh() -> PublicKeyX25519 {
    PrivateKeyX25519::generate(&mut rng()).public_key()
}

fn vr(a: u16, b: u16) -> VersionRange {
    VersionRange::new(Version(a), Version(b)).expect("range")
}

/// Queue URIs whose binary form reads back as the same value: the mode is written only from
/// client version 3 (as a flag) or 4 (as a letter), so other values lose or gain it.
fn queue_uris() -> Vec<SmpQueueUri> {
    let m = Some(QueueMode::Messaging);
    let c = Some(QueueMode::Contact);
    [
        (vr(1, 1), None),
        (vr(1, 4), m),
        (vr(1, 4), None),
        (vr(2, 4), None),
        (vr(3, 4), m),
        (vr(3, 4), c),
        (vr(4, 4), m),
        (vr(4, 4), c),
        (vr(4, 4), None),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (v, mode))| SmpQueueUri {
        client_versions: v,
        server: server(u8::try_from(i).expect("small")),
        sender_id: vec![u8::try_from(i).expect("small"); 24],
        dh_public_key: dh(),
        queue_mode: mode,
    })
    .collect()
}

/// Queue infos at client versions 1 (legacy single-host server) to 4, canonical modes.
fn queue_infos() -> Vec<SmpQueueInfo> {
    let m = Some(QueueMode::Messaging);
    let c = Some(QueueMode::Contact);
    [
        (1, None),
        (2, None),
        (3, m),
        (3, None),
        (4, m),
        (4, c),
        (4, None),
    ]
    .into_iter()
    .map(|(v, mode)| {
        let mut srv = server(v);
        if v == 1 {
            srv.hosts.truncate(1); // the legacy form has one host
        }
        SmpQueueInfo {
            client_version: Version(u16::from(v)),
            server: srv,
            sender_id: vec![v; 24],
            dh_public_key: dh(),
            queue_mode: mode,
        }
    })
    .collect()
}

fn snd_addr(n: u8) -> SndQAddr {
    SndQAddr {
        server: server(n),
        sender_id: vec![n; 24],
    }
}

fn auth_keys() -> Vec<PublicAuthKey> {
    let mut g = rng();
    vec![
        PublicAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut g).public_key()),
        PublicAuthKey::Ed448(PrivateKeyEd448::generate(&mut g).public_key()),
        PublicAuthKey::X25519(PrivateKeyX25519::generate(&mut g).public_key()),
    ]
}

fn kem_proposed() -> RKemParams {
    RKemParams::Proposed(KemPublicKey::from_bytes(&[7; KEM_PUBLIC_KEY_LEN]).expect("kem key"))
}

fn kem_accepted() -> RKemParams {
    RKemParams::Accepted(
        KemCiphertext::from_bytes(&[9; KEM_CIPHERTEXT_LEN]).expect("kem ct"),
        KemPublicKey::from_bytes(&[8; KEM_PUBLIC_KEY_LEN]).expect("kem key"),
    )
}

/// X3DH parameters: E2E v2 (no KEM field) and v3 with each KEM state.
fn e2e_params() -> Vec<E2EParams> {
    let mut g = rng();
    let k1 = PrivateKeyX448::generate(&mut g).public_key();
    let k2 = PrivateKeyX448::generate(&mut g).public_key();
    let p = |version, kem| E2EParams {
        version,
        key1: k1,
        key2: k2,
        kem,
    };
    vec![
        p(2, None),
        p(3, None),
        p(3, Some(kem_proposed())),
        p(3, Some(kem_accepted())),
    ]
}

fn invitation(kem: Option<RKemParams>, max_e2e: u16) -> InvitationRequest {
    let mut g = rng();
    let k = PrivateKeyX448::generate(&mut g).public_key();
    InvitationRequest {
        data: ConnReqUriData {
            agent_versions: vr(2, 7),
            // Queues with a mode: the binary form reads a queue without one as a contact
            // queue (the reference's patch), so those would not round-trip.
            smp_queues: queue_uris()
                .into_iter()
                .filter(|q| q.queue_mode.is_some())
                .take(3)
                .collect(),
            client_data: Some("{\"a\": \"é\"}".into()),
        },
        e2e: E2ERatchetParamsUri {
            versions: VersionRangeE2E::new(2, max_e2e).expect("range"),
            key1: k,
            key2: k,
            kem,
        },
    }
}

/// Checks the round trip, and that every strict prefix fails to decode — or, for a type
/// ending in a `Tail`, decodes to a value whose encoding is exactly that prefix.
fn check<T: Encode + Decode + PartialEq + Debug>(v: &T, ends_in_tail: bool) {
    let bytes = v.to_bytes();
    let back = decode_all::<T>(&bytes).expect("decodes");
    assert_eq!(&back, v);
    assert_eq!(back.to_bytes(), bytes);
    for n in 0..bytes.len() {
        let prefix = &bytes[..n];
        if let Ok(d) = decode_all::<T>(prefix) {
            assert!(ends_in_tail, "prefix {n} of {v:?} decoded");
            assert_eq!(d.to_bytes(), prefix, "prefix {n} of {v:?}");
        }
    }
}

/// A `Decode` wrapper for the queue-URI binary form (a foreign type here).
#[derive(Debug, PartialEq)]
struct Uri(SmpQueueUri);
impl Encode for Uri {
    fn encode(&self, out: &mut Vec<u8>) {
        agent_proto::encode_queue_uri(&self.0, out)
    }
}
impl Decode for Uri {
    fn decode(r: &mut Reader<'_>) -> Result<Self, simplex_encoding::DecodeError> {
        agent_proto::decode_queue_uri(r).map(Uri)
    }
}

#[test]
fn queue_uris_and_infos_round_trip_at_every_client_version() {
    for q in queue_uris() {
        let bytes = Uri(q.clone()).to_bytes();
        assert_eq!(decode_all::<Uri>(&bytes), Ok(Uri(q.clone())));
        // Every prefix that stops before the optional mode fails; the one that drops only a
        // trailing mode or flag reads as "no mode".
        for n in 0..bytes.len() {
            if let Ok(Uri(d)) = decode_all::<Uri>(&bytes[..n]) {
                assert_eq!(n + 1, bytes.len());
                assert_eq!(d.queue_mode, None);
            }
        }
    }
    for q in queue_infos() {
        // The optional mode at the end behaves like a tail: the prefix without it reads as
        // "no mode", which is written as nothing, so it re-encodes to exactly that prefix.
        check(&q, true);
    }
    for a in [snd_addr(1), snd_addr(2)] {
        check(&a, false);
    }
}

#[test]
fn queue_mode_flags_read_as_the_reference_reads_them() {
    let q = &queue_uris()[4]; // 3-4, messaging
    let mut contact = q.clone();
    contact.queue_mode = Some(QueueMode::Contact);
    let bytes = Uri(contact).to_bytes();
    assert_eq!(bytes.last(), Some(&b'F'));
    let mut none = q.clone();
    none.queue_mode = None;
    // 3-4 without a mode writes "cannot secure", which reads back as a contact queue.
    assert_eq!(
        decode_all::<Uri>(&Uri(none).to_bytes()).map(|u| u.0.queue_mode),
        Ok(Some(QueueMode::Contact))
    );
    // Client version 1-4 writes the flag only for a messaging queue.
    let q = &queue_uris()[1];
    assert_eq!(Uri(q.clone()).to_bytes().last(), Some(&b'T'));
}

#[test]
fn queue_info_layouts() {
    let infos = queue_infos();
    // v1: version, first host, port, key hash (no host list).
    let v1 = infos[0].to_bytes();
    let mut want = vec![0, 1, 16];
    want.extend_from_slice(b"smp1.example.com");
    want.push(0); // odd server number: default port, empty string
    want.push(32);
    want.extend_from_slice(&[1; 32]);
    want.push(24);
    want.extend_from_slice(&[1; 24]);
    assert_eq!(&v1[..want.len()], want.as_slice());
    assert_eq!(v1.len(), want.len() + 45); // DER of the X25519 key behind its length
                                           // v4 messaging: the address then `M`.
    let v4 = infos[4].to_bytes();
    assert_eq!(&v4[..3], &[0, 4, 2]);
    assert_eq!(v4.last(), Some(&b'M'));
    // v3 messaging: the address then `T`; v3 without a mode: nothing.
    assert_eq!(infos[2].to_bytes().last(), Some(&b'T'));
    assert_eq!(infos[3].to_bytes().len() + 1, infos[2].to_bytes().len());
}

#[test]
fn v1_queue_info_of_a_preset_server_gets_its_onion_host() {
    let mut q = queue_infos().remove(0);
    q.server.hosts = vec![TransportHost::Domain("smp8.simplex.im".into())];
    let back = decode_all::<SmpQueueInfo>(&q.to_bytes()).expect("decodes");
    assert_eq!(back.server.hosts.len(), 2);
    assert_eq!(
        back.server.hosts[1].to_string(),
        "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion"
    );
}

fn a_messages() -> Vec<(AMessage, bool)> {
    let uris = queue_uris();
    let mut out = vec![
        (AMessage::Hello, false),
        (AMessage::AMsg(b"hello there".to_vec()), true),
        (AMessage::AMsg(Vec::new()), true),
        (
            AMessage::ARcvd(vec![
                AMessageReceipt {
                    agent_msg_id: 5,
                    msg_hash: vec![1; 32],
                    rcpt_info: b"{}".to_vec(),
                },
                AMessageReceipt {
                    agent_msg_id: -1,
                    msg_hash: Vec::new(),
                    rcpt_info: Vec::new(),
                },
            ]),
            false,
        ),
        (AMessage::AQCont(snd_addr(3)), false),
        (
            AMessage::QAdd(
                uris.iter()
                    .enumerate()
                    .map(|(i, q)| QueueAdd {
                        queue: q.clone(),
                        replaces: (i % 2 == 0).then(|| snd_addr(4)),
                    })
                    .collect(),
            ),
            false,
        ),
        (
            AMessage::QUse(vec![(snd_addr(5), true), (snd_addr(6), false)]),
            false,
        ),
        (AMessage::QTest(vec![snd_addr(7), snd_addr(8)]), false),
        (AMessage::EReady(i64::MAX), false),
    ];
    for (q, k) in queue_infos()
        .into_iter()
        .zip(auth_keys().into_iter().cycle())
    {
        out.push((
            AMessage::QKey(vec![QueueKey {
                queue: q,
                sender_key: k,
            }]),
            false,
        ));
    }
    out
}

#[test]
fn a_messages_round_trip_and_truncate() {
    for (m, tail) in a_messages() {
        check(&m, tail);
    }
}

#[test]
fn a_message_layouts() {
    assert_eq!(AMessage::Hello.to_bytes(), b"H");
    assert_eq!(
        AMessage::EReady(258).to_bytes(),
        [b'E', 0, 0, 0, 0, 0, 0, 1, 2]
    );
    assert_eq!(AMessage::AMsg(b"hi".to_vec()).to_bytes(), b"Mhi");
    let rcvd = AMessage::ARcvd(vec![AMessageReceipt {
        agent_msg_id: 1,
        msg_hash: vec![0xAA],
        rcpt_info: b"x".to_vec(),
    }]);
    assert_eq!(
        rcvd.to_bytes(),
        [b'V', 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0xAA, 0, 1, b'x']
    );
    assert!(decode_all::<AMessage>(b"V\x00").is_err(), "empty list");
    assert!(decode_all::<AMessage>(b"QX").is_err());
    let hdr = APrivHeader {
        snd_msg_id: 3,
        prev_msg_hash: vec![0xBB; 2],
    };
    let msg = AgentMessage::Message {
        header: hdr,
        message: AMessage::Hello,
    };
    assert_eq!(
        msg.to_bytes(),
        [b'M', 0, 0, 0, 0, 0, 0, 0, 3, 2, 0xBB, 0xBB, b'H']
    );
    for t in AgentMessageType::ALL {
        check(&t, false);
    }
    assert_eq!(AgentMessageType::of(&msg), AgentMessageType::Hello);
}

fn agent_messages() -> Vec<(AgentMessage, bool)> {
    let mut out = vec![
        (AgentMessage::ConnInfo(b"{\"profile\":1}".to_vec()), true),
        (AgentMessage::RatchetInfo(b"{}".to_vec()), true),
        (
            AgentMessage::ConnInfoReply {
                smp_queues: queue_infos(),
                // JSON, as the chat client sends: a conn info starting with `M`, `C`, `T` or
                // `F` after a queue without a mode would be read as that mode (so does the
                // reference).
                conn_info: b"{\"profile\":2}".to_vec(),
            },
            true,
        ),
    ];
    for (i, (m, tail)) in a_messages().into_iter().enumerate() {
        out.push((
            AgentMessage::Message {
                header: APrivHeader {
                    snd_msg_id: i64::try_from(i).expect("small") + 1,
                    prev_msg_hash: if i == 0 {
                        Vec::new()
                    } else {
                        vec![u8::try_from(i).expect("small"); 32]
                    },
                },
                message: m,
            },
            tail,
        ));
    }
    out
}

#[test]
fn agent_messages_round_trip_and_truncate() {
    for (m, tail) in agent_messages() {
        check(&m, tail);
    }
}

#[test]
fn envelopes_round_trip_at_every_version() {
    for v in 2..=7u16 {
        let agent_version = Version(v);
        let mut envs = vec![AgentMsgEnvelope::Message {
            agent_version,
            enc_agent_message: vec![1, 2, 3],
        }];
        envs.push(AgentMsgEnvelope::Confirmation {
            agent_version,
            e2e_encryption: None,
            enc_conn_info: vec![4; 40],
        });
        for p in e2e_params() {
            envs.push(AgentMsgEnvelope::Confirmation {
                agent_version,
                e2e_encryption: Some(p.clone()),
                enc_conn_info: vec![5; 10],
            });
            if !matches!(p.kem, Some(RKemParams::Accepted(..))) {
                envs.push(AgentMsgEnvelope::RatchetKey {
                    agent_version,
                    e2e_encryption: p,
                    info: b"info".to_vec(),
                });
            }
        }
        envs.push(AgentMsgEnvelope::Invitation {
            agent_version,
            conn_req: invitation(None, 2),
            conn_info: b"{\"p\":1}".to_vec(),
        });
        envs.push(AgentMsgEnvelope::Invitation {
            agent_version,
            conn_req: invitation(Some(kem_proposed()), 3),
            conn_info: Vec::new(),
        });
        for e in &envs {
            check(e, true);
            assert_eq!(e.to_bytes()[..2], v.to_be_bytes());
        }
    }
}

#[test]
fn e2e_params_layout_follows_the_e2e_version() {
    let ps = e2e_params();
    // v2: version, two DER keys; v3 adds the Maybe KEM.
    let v2 = ps[0].to_bytes();
    assert_eq!(v2.len(), 2 + 2 * (1 + 68));
    let v3 = ps[1].to_bytes();
    assert_eq!(v3.len(), v2.len() + 1);
    assert_eq!(v3.last(), Some(&b'0'));
}

#[test]
fn accepted_kem_refused_where_the_reference_types_it_proposed() {
    let p = e2e_params().remove(3);
    let env = AgentMsgEnvelope::RatchetKey {
        agent_version: Version(7),
        e2e_encryption: p,
        info: Vec::new(),
    };
    assert!(decode_all::<AgentMsgEnvelope>(&env.to_bytes()).is_err());
    let inv = ConnectionRequest::Invitation(invitation(Some(kem_accepted()), 3));
    assert!(decode_all::<ConnectionRequest>(&inv.to_bytes()).is_err());
    assert!(ConnectionRequest::parse(inv.to_string().as_bytes()).is_err());
}

#[test]
fn invitation_links_with_kem_print_and_parse() {
    for (kem, max) in [(None, 2), (None, 3), (Some(kem_proposed()), 3)] {
        let c = ConnectionRequest::Invitation(invitation(kem, max));
        let s = c.to_string();
        assert!(s.starts_with("simplex:/invitation#/?v=2-7&smp="));
        assert_eq!(ConnectionRequest::parse(s.as_bytes()).as_ref(), Ok(&c));
        check(&c, false);
    }
    let c = ConnectionRequest::Contact(ContactRequest {
        data: invitation(None, 2).data,
    });
    check(&c, false);
}

#[test]
fn client_layer_round_trips() {
    let mut g = rng();
    let key = PrivateKeyX25519::generate(&mut g).public_key();
    for version in 1..=4u16 {
        for k in [None, Some(key)] {
            let h = PubHeader {
                version: Version(version),
                e2e_pub_dh_key: k,
            };
            check(&h, false);
            check(
                &ClientMsgEnvelope {
                    header: h,
                    nonce: CbNonce([3; 24]),
                    enc_body: vec![6; 100],
                },
                true,
            );
        }
    }
    let mut headers = vec![PrivHeader::Empty];
    headers.extend(auth_keys().into_iter().map(PrivHeader::Confirmation));
    for h in headers {
        check(&h, false);
        check(
            &ClientMessage {
                header: h,
                body: b"\x00\x07M...".to_vec(),
            },
            true,
        );
    }
    assert_eq!(PrivHeader::Empty.to_bytes(), b"_");
}

#[test]
fn confirmation_from_and_to_parts() {
    let mut g = rng();
    let e2e = PrivateKeyX25519::generate(&mut g).public_key();
    let sender = auth_keys().remove(0);
    for (key, queues) in [
        (Some(sender.clone()), queue_infos()),
        (None, Vec::new()),
        (Some(sender), Vec::new()),
    ] {
        let conf = SmpConfirmation {
            sender_key: key,
            e2e_pub_key: e2e,
            conn_info: b"{}".to_vec(),
            smp_reply_queues: queues,
            smp_client_version: Version(4),
        };
        let (ph, pr, msg) = conf.to_parts();
        // Through the bytes and back.
        let ph = decode_all::<PubHeader>(&ph.to_bytes()).expect("pub header");
        let pr = decode_all::<PrivHeader>(&pr.to_bytes()).expect("priv header");
        let msg = decode_all::<AgentMessage>(&msg.to_bytes()).expect("message");
        assert_eq!(SmpConfirmation::from_parts(&ph, &pr, &msg), Some(conf));
    }
    let no_key = PubHeader {
        version: Version(4),
        e2e_pub_dh_key: None,
    };
    let msg = AgentMessage::ConnInfo(Vec::new());
    assert_eq!(
        SmpConfirmation::from_parts(&no_key, &PrivHeader::Empty, &msg),
        None
    );
}

fn no_panic<T: Decode>(bytes: &[u8]) {
    let _ = decode_all::<T>(bytes);
}

fn all_decoders(bytes: &[u8]) {
    no_panic::<AgentMsgEnvelope>(bytes);
    no_panic::<AgentMessage>(bytes);
    no_panic::<AMessage>(bytes);
    no_panic::<APrivHeader>(bytes);
    no_panic::<AMessageReceipt>(bytes);
    no_panic::<AgentMessageType>(bytes);
    no_panic::<SmpQueueInfo>(bytes);
    no_panic::<SndQAddr>(bytes);
    no_panic::<Uri>(bytes);
    no_panic::<ConnectionRequest>(bytes);
    no_panic::<ConnReqUriData>(bytes);
    no_panic::<PubHeader>(bytes);
    no_panic::<PrivHeader>(bytes);
    no_panic::<ClientMsgEnvelope>(bytes);
    no_panic::<ClientMessage>(bytes);
    let _ = ConnectionRequest::parse(bytes);
    let _ = SmpQueueUri::parse_str(bytes);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        all_decoders(&bytes);
    }

    #[test]
    fn tagged_random_bytes_never_panic(
        tag in proptest::sample::select(vec![
            &b"\x00\x07C"[..], b"\x00\x07M", b"\x00\x07I", b"\x00\x07R", b"M", b"D", b"QA",
            b"QK", b"QU", b"QT", b"QC", b"V", b"K", b"I\x00\x02\x00\x07\x01",
        ]),
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut input = tag.to_vec();
        input.extend_from_slice(&bytes);
        all_decoders(&input);
        let mut m = b"M\x00\x00\x00\x00\x00\x00\x00\x01\x00".to_vec();
        m.extend_from_slice(&input);
        all_decoders(&m);
    }

    #[test]
    fn mutated_encodings_never_panic(
        which in 0usize..64,
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut samples: Vec<Vec<u8>> = agent_messages().into_iter().map(|(m, _)| m.to_bytes()).collect();
        samples.push(ConnectionRequest::Invitation(invitation(Some(kem_proposed()), 3)).to_bytes());
        samples.push(ConnectionRequest::Invitation(invitation(None, 2)).to_string().into_bytes());
        samples.extend(queue_uris().iter().map(|q| q.to_string().into_bytes()));
        let mut s = samples[which % samples.len()].clone();
        if !s.is_empty() {
            let i = pos.index(s.len());
            s[i] = byte;
            s.truncate(cut.index(s.len() + 1));
        }
        all_decoders(&s);
    }
}

#[test]
fn link_data_reads_a_queue_without_mode_as_contact() {
    let mut d = invitation(None, 2).data;
    d.smp_queues = vec![queue_uris().remove(0)]; // v1-1, no mode
    let back = decode_all::<ConnReqUriData>(&d.to_bytes()).expect("decodes");
    assert_eq!(back.smp_queues[0].queue_mode, Some(QueueMode::Contact));
}

/// The seed corpus of the `link` and `agent_message` fuzz targets (`fuzz/corpus/<target>/`),
/// made from the variant lists above; `WRITE_FUZZ_SEEDS=1` (re)writes it. Every run checks that
/// each committed seed still decodes, so the corpus follows encoding changes.
#[test]
fn fuzz_seeds_decode() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    for (kem, max) in [(None, 2), (None, 3), (Some(kem_proposed()), 3)] {
        let link = ConnectionRequest::Invitation(invitation(kem, max));
        seeds.push(("link", link.to_string().into_bytes()));
    }
    let contact = ConnectionRequest::Contact(ContactRequest {
        data: invitation(None, 2).data,
    });
    seeds.push(("link", contact.to_string().into_bytes()));
    let tagged = |tag: u8, bytes: Vec<u8>| [&[tag][..], &bytes].concat();
    seeds.push((
        "agent_message",
        tagged(
            0,
            ClientMsgEnvelope {
                header: PubHeader {
                    version: Version(4),
                    e2e_pub_dh_key: Some(dh()),
                },
                nonce: CbNonce([3; 24]),
                enc_body: vec![6; 40],
            }
            .to_bytes(),
        ),
    ));
    seeds.push((
        "agent_message",
        tagged(
            1,
            ClientMessage {
                header: PrivHeader::Empty,
                body: b"body".to_vec(),
            }
            .to_bytes(),
        ),
    ));
    seeds.push((
        "agent_message",
        tagged(
            2,
            AgentMsgEnvelope::Message {
                agent_version: Version(7),
                enc_agent_message: vec![1, 2, 3],
            }
            .to_bytes(),
        ),
    ));
    for (m, _) in agent_messages() {
        seeds.push(("agent_message", tagged(3, m.to_bytes())));
    }
    for (m, _) in a_messages() {
        seeds.push(("agent_message", tagged(4, m.to_bytes())));
    }
    for q in queue_infos() {
        seeds.push(("agent_message", tagged(5, q.to_bytes())));
    }
    // Short links (after the rest, so that earlier seeds keep their numbers).
    for short in [
        "https://smp.simplex.im/a#MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
        "https://smp.simplex.im/i#MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3/MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY?h=jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion&p=5223&c=1234-w",
        "simplex:/g#MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY?h=smp.simplex.im%2C127.0.0.1&p=7001&c=LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI",
    ] {
        seeds.push(("link", short.as_bytes().to_vec()));
    }

    if std::env::var_os("WRITE_FUZZ_SEEDS").is_some() {
        for (i, (target, bytes)) in seeds.iter().enumerate() {
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            std::fs::write(dir.join(format!("seed-{i:03}")), bytes).expect("write seed");
        }
    }

    let mut checked = 0;
    for target in ["link", "agent_message"] {
        let entries = std::fs::read_dir(corpus.join(target))
            .unwrap_or_else(|_| panic!("fuzz/corpus/{target} is missing: WRITE_FUZZ_SEEDS=1"));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
            {
                continue;
            }
            let data = std::fs::read(&path).expect("read seed");
            let ok = if target == "link" {
                agent_proto::ConnectionLink::parse(&data).is_ok()
            } else {
                let (tag, body) = data.split_first().expect("a tag byte");
                match tag % 6 {
                    0 => decode_all::<ClientMsgEnvelope>(body).is_ok(),
                    1 => decode_all::<ClientMessage>(body).is_ok(),
                    2 => decode_all::<AgentMsgEnvelope>(body).is_ok(),
                    3 => decode_all::<AgentMessage>(body).is_ok(),
                    4 => decode_all::<AMessage>(body).is_ok(),
                    _ => decode_all::<SmpQueueInfo>(body).is_ok(),
                }
            };
            assert!(ok, "seed {} no longer decodes", path.display());
            checked += 1;
        }
    }
    assert!(
        checked >= seeds.len(),
        "corpus has {checked} seeds, expected {}",
        seeds.len()
    );
}
