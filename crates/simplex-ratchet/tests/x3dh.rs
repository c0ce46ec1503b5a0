//! X3DH agreement (`testX3dh`, `testPqX3dh*` in the reference) and the encodings of the
//! parameter records, headers and KEM parameters.

use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_encoding::{decode_all, Decode, Encode, Reader};
use simplex_ratchet::*;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

type Agreement = (RatchetInitParams, Option<KemKeyPair>);

/// `compatibleRatchets`: the same AD, root and header keys; the same KEM shared key and
/// ciphertext (each side holding the other's key) or no KEM on both.
fn assert_compatible(alice: &Agreement, bob: &Agreement) {
    let (a, b) = (&alice.0, &bob.0);
    assert_eq!(a.assoc_data, b.assoc_data);
    assert_eq!(a.ratchet_key, b.ratchet_key);
    assert_eq!(a.snd_hk, b.snd_hk);
    assert_eq!(a.rcv_next_hk, b.rcv_next_hk);
    match (&a.kem_accepted, &b.kem_accepted) {
        (Some(x), Some(y)) => {
            assert_ne!(x.peer_key, y.peer_key);
            assert_eq!(x.shared, y.shared);
            assert_eq!(x.ciphertext, y.ciphertext);
        }
        (None, None) => {}
        _ => panic!("agreements are not compatible"),
    }
}

fn x3dh_same_params<A: DhAlgorithm>(version: VersionE2E) {
    let mut g = rng(u64::from(version));
    let (bob_keys, None, e2e_bob) = generate_snd_e2e_params::<A>(&mut g, version, None) else {
        panic!("no KEM requested")
    };
    let (alice_keys, None, e2e_alice) =
        generate_rcv_e2e_params::<A>(&mut g, version, PqSupport::OFF)
    else {
        panic!("no KEM requested")
    };
    let bob = pq_x3dh_snd(&bob_keys, None, &e2e_alice).expect("bob");
    let alice = pq_x3dh_rcv(&alice_keys, None, &e2e_bob).expect("alice");
    assert_eq!(alice, bob);
    // AD = raw(joining key1) ‖ raw(creating key1).
    let mut ad = A::public_raw(&e2e_bob.key1).to_vec();
    ad.extend_from_slice(A::public_raw(&e2e_alice.key1));
    assert_eq!(alice.0.assoc_data, ad);
    assert!(alice.1.is_none());
}

#[test]
fn x3dh_agrees() {
    for v in [1, 2, 3] {
        x3dh_same_params::<X25519>(v);
        x3dh_same_params::<X448>(v);
    }
}

fn pq_cases<A: DhAlgorithm>() {
    let v = PQ_RATCHET_E2E_VERSION;
    let mut g = rng(20);
    // Proposed in reply only: no shared secret, both sides agree.
    let (ak, None, e2e_a) = generate_rcv_e2e_params::<A>(&mut g, v, PqSupport::OFF) else {
        panic!("no proposal")
    };
    let (bk, bkem, e2e_b) = generate_snd_e2e_params::<A>(&mut g, v, Some(&UseKem::Propose));
    assert!(matches!(bkem, Some(PrivRKemParams::Proposed(_))));
    let bob = pq_x3dh_snd(&bk, bkem.as_ref(), &e2e_a).expect("bob");
    let alice = pq_x3dh_rcv(&ak, None, &e2e_b).expect("alice");
    assert_compatible(&alice, &bob);
    assert!(bob.1.is_some() && alice.1.is_none());

    // Proposed and accepted: the shared secret enters the KDF.
    let (ak, akem, e2e_a) = generate_rcv_e2e_params::<A>(&mut g, v, PqSupport::ON);
    let Some(RKemParams::Proposed(alice_kem)) = &e2e_a.kem else {
        panic!("proposal expected")
    };
    let use_kem = reply_kem(v, e2e_a.kem.as_ref(), PqSupport::ON).expect("reply");
    assert_eq!(use_kem, UseKem::Accept(alice_kem.clone()));
    let (bk, bkem, e2e_b) = generate_snd_e2e_params::<A>(&mut g, v, Some(&use_kem));
    let bob = pq_x3dh_snd(&bk, bkem.as_ref(), &e2e_a).expect("bob");
    let alice = pq_x3dh_rcv(&ak, akem.as_ref(), &e2e_b).expect("alice");
    assert_compatible(&alice, &bob);
    assert!(bob.0.kem_accepted.is_some());
    // Without the KEM share the root key would differ.
    let (no_kem, _) = pq_x3dh_snd(&bk, None, &e2e_a).expect("bob without KEM");
    assert_ne!(no_kem.ratchet_key, bob.0.ratchet_key);

    // Proposal rejected.
    let (ak, akem, e2e_a) = generate_rcv_e2e_params::<A>(&mut g, v, PqSupport::ON);
    let (bk, None, e2e_b) = generate_snd_e2e_params::<A>(&mut g, v, None) else {
        panic!("no KEM")
    };
    let bob = pq_x3dh_snd(&bk, None, &e2e_a).expect("bob");
    let alice = pq_x3dh_rcv(&ak, akem.as_ref(), &e2e_b).expect("alice");
    assert_compatible(&alice, &bob);

    // Proposed again in reply: not an error.
    let (bk, bkem, e2e_b) = generate_snd_e2e_params::<A>(&mut g, v, Some(&UseKem::Propose));
    let bob = pq_x3dh_snd(&bk, bkem.as_ref(), &e2e_a).expect("bob");
    let alice = pq_x3dh_rcv(&ak, akem.as_ref(), &e2e_b).expect("alice");
    assert_compatible(&alice, &bob);

    // Accepted without a proposal: both sides refuse.
    let (ak, None, e2e_a) = generate_rcv_e2e_params::<A>(&mut g, v, PqSupport::OFF) else {
        panic!("no proposal")
    };
    let stray = KemKeyPair::generate(&mut g).public;
    let (bk, bkem, e2e_b) = generate_snd_e2e_params::<A>(&mut g, v, Some(&UseKem::Accept(stray)));
    assert_eq!(
        pq_x3dh_snd(&bk, bkem.as_ref(), &e2e_a).map(|_| ()),
        Err(RatchetError::KemState)
    );
    assert_eq!(
        pq_x3dh_rcv(&ak, None, &e2e_b).map(|_| ()),
        Err(RatchetError::KemState)
    );
}

#[test]
fn pq_x3dh_cases() {
    pq_cases::<X25519>();
    pq_cases::<X448>();
}

#[test]
fn kem_below_version_3_is_ignored() {
    let mut g = rng(21);
    let (_, kem, params) = generate_rcv_e2e_params::<X448>(&mut g, 2, PqSupport::ON);
    assert!(kem.is_none() && params.kem.is_none());
    assert_eq!(reply_kem(2, None, PqSupport::ON), None);
    assert_eq!(reply_kem(3, None, PqSupport::OFF), None);
    assert_eq!(reply_kem(3, None, PqSupport::ON), Some(UseKem::Propose));
}

#[test]
fn e2e_params_encoding_by_version() {
    let mut g = rng(22);
    let (_, _, p2) = generate_rcv_e2e_params::<X25519>(&mut g, 2, PqSupport::ON);
    let b2 = p2.to_bytes();
    // v(2) ‖ 1+44 ‖ 1+44: no KEM field at version 2.
    assert_eq!(b2.len(), 2 + 45 + 45);
    assert_eq!(&b2[..3], &[0, 2, 44]);
    assert_eq!(decode_all::<E2ERatchetParams<X25519>>(&b2).expect("v2"), p2);
    let (_, _, p3) = generate_rcv_e2e_params::<X25519>(&mut g, 3, PqSupport::OFF);
    let b3 = p3.to_bytes();
    assert_eq!(b3.len(), 2 + 45 + 45 + 1);
    assert_eq!(b3.last(), Some(&b'0'));
    let (_, _, p3k) = generate_rcv_e2e_params::<X448>(&mut g, 3, PqSupport::ON);
    let b3k = p3k.to_bytes();
    // v ‖ 1+68 ‖ 1+68 ‖ '1' 'P' ‖ 2+1158.
    assert_eq!(b3k.len(), 2 + 69 + 69 + 2 + 2 + 1158);
    assert_eq!(&b3k[140..144], b"1P\x04\x86");
    assert_eq!(decode_all::<E2ERatchetParams<X448>>(&b3k).expect("v3"), p3k);
    // The other algorithm's keys, truncations and trailing bytes are rejected.
    assert!(decode_all::<E2ERatchetParams<X448>>(&b3).is_err());
    for n in 0..b3k.len() {
        assert!(
            decode_all::<E2ERatchetParams<X448>>(&b3k[..n]).is_err(),
            "{n}"
        );
    }
    let mut extra = b3k.clone();
    extra.push(0);
    assert!(decode_all::<E2ERatchetParams<X448>>(&extra).is_err());
    // An accepted reply.
    let Some(RKemParams::Proposed(k)) = p3k.kem.clone() else {
        panic!("proposal")
    };
    let (_, _, acc) = generate_snd_e2e_params::<X448>(&mut g, 3, Some(&UseKem::Accept(k)));
    let ba = acc.to_bytes();
    assert_eq!(ba.len(), 2 + 69 + 69 + 2 + 2 + 1039 + 2 + 1158);
    assert_eq!(
        decode_all::<E2ERatchetParams<X448>>(&ba).expect("accepted"),
        acc
    );
}

#[test]
fn e2e_params_uri_binary_and_text() {
    let mut g = rng(23);
    for support in [PqSupport::OFF, PqSupport::ON] {
        let (_, _, p) = generate_rcv_e2e_params::<X448>(&mut g, 3, support);
        let uri = E2ERatchetParamsUri::<X448> {
            versions: SUPPORTED_E2E_VERSIONS,
            key1: p.key1,
            key2: p.key2,
            kem: p.kem.clone(),
        };
        let b = uri.to_bytes();
        assert_eq!(&b[..4], &[0, 2, 0, 3]);
        assert_eq!(
            decode_all::<E2ERatchetParamsUri<X448>>(&b).expect("binary"),
            uri
        );
        let s = uri.to_str_encoding();
        assert!(s.starts_with("v=2-3&x3dh=MEIwBQYDK2VvAzkA"), "{s}");
        assert_eq!(s.contains("&kem_key="), support.0);
        assert_eq!(
            E2ERatchetParamsUri::<X448>::from_str_encoding(&s).expect("text"),
            uri
        );
        assert_eq!(uri.at_version(3), p);
        // A range below 3 carries no KEM in text.
        let old = E2ERatchetParamsUri::<X448> {
            versions: VersionRangeE2E::new(2, 2).expect("range"),
            ..uri.clone()
        };
        let s = old.to_str_encoding();
        assert!(s.starts_with("v=2&x3dh=") && !s.contains("kem"));
        let back = E2ERatchetParamsUri::<X448>::from_str_encoding(&s).expect("text v2");
        assert!(back.kem.is_none());
    }
    assert!(decode_all::<VersionRangeE2E>(&[0, 3, 0, 2]).is_err());
    assert!(E2ERatchetParamsUri::<X448>::from_str_encoding("v=2-3").is_err());
    assert!(E2ERatchetParamsUri::<X448>::from_str_encoding("v=3-2&x3dh=a,b").is_err());
}

#[test]
fn header_encoding_by_version() {
    let mut g = rng(24);
    let dh = X448::public_key(&X448::generate(&mut g));
    let kp = KemKeyPair::generate(&mut g);
    let (ct, _) = kp.public.encapsulate(&mut g);
    for (v, kem) in [
        (2, None),
        (3, None),
        (3, Some(RKemParams::Proposed(kp.public.clone()))),
        (3, Some(RKemParams::Accepted(ct.clone(), kp.public.clone()))),
    ] {
        let hdr = MsgHeader::<X448> {
            max_version: 3,
            dh,
            kem: kem.clone(),
            pn: 7,
            ns: 0x0102_0304,
        };
        let mut b = Vec::new();
        hdr.encode_at(v, &mut b);
        let kem_len = match &kem {
            _ if v < 3 => 0,
            None => 1,
            Some(RKemParams::Proposed(_)) => 2 + 2 + 1158,
            Some(RKemParams::Accepted(..)) => 2 + 2 + 1039 + 2 + 1158,
        };
        assert_eq!(b.len(), 2 + 69 + kem_len + 8);
        assert_eq!(&b[b.len() - 8..], &[0, 0, 0, 7, 1, 2, 3, 4]);
        // Fits the padded size with its two-byte length.
        assert!(b.len() + 2 <= padded_header_len(v, PqSupport(kem.is_some())));
        // Bytes after the header are allowed (forward compatibility).
        b.extend_from_slice(b"future");
        let back = MsgHeader::<X448>::decode_at(v, &mut Reader::new(&b)).expect("decodes");
        assert_eq!(back.kem, if v < 3 { None } else { kem });
        assert_eq!((back.pn, back.ns, back.dh), (7, 0x0102_0304, dh));
    }
    // KEM params: tags and truncation.
    let p = RKemParams::Accepted(ct, kp.public.clone());
    let b = p.to_bytes();
    assert_eq!(b[0], b'A');
    assert_eq!(decode_all::<RKemParams>(&b).expect("params"), p);
    for n in [0, 1, 3, 1041, b.len() - 1] {
        assert!(decode_all::<RKemParams>(&b[..n]).is_err());
    }
    let mut bad = b.clone();
    bad[0] = b'X';
    assert!(decode_all::<RKemParams>(&bad).is_err());
    // A KEM key of the wrong length is refused.
    let mut short = vec![b'P', 0, 3];
    short.extend_from_slice(&[1, 2, 3]);
    assert!(RKemParams::decode(&mut Reader::new(&short)).is_err());
}

#[test]
fn private_kem_params_and_encrypt_keys_round_trip() {
    let mut g = rng(25);
    let kp = KemKeyPair::generate(&mut g);
    let (ct, ss) = kp.public.encapsulate(&mut g);
    assert_eq!(kp.secret.decapsulate(&ct), ss);
    for p in [
        PrivRKemParams::Proposed(kp.clone()),
        PrivRKemParams::Accepted(ct.clone(), ss.clone(), kp.clone()),
    ] {
        let b = p.to_bytes();
        assert_eq!(decode_all::<PrivRKemParams>(&b).expect("round trip"), p);
        assert!(decode_all::<PrivRKemParams>(&b[..b.len() - 1]).is_err());
    }
    // MsgEncryptKey: stored between encrypting the header and the body.
    let (_, mut bob) = {
        let mut g = rng(26);
        let (ak, _, ea) = generate_rcv_e2e_params::<X25519>(&mut g, 3, PqSupport::OFF);
        let (bk, _, _) = generate_snd_e2e_params::<X25519>(&mut g, 3, None);
        let (init, _) = pq_x3dh_snd(&bk, None, &ea).expect("x3dh");
        let vs = RatchetVersions {
            current: 3,
            max_supported: 3,
        };
        let rc = Ratchet::<X25519>::init_snd(
            vs,
            X25519::public_key(&ak.key2),
            X25519::generate(&mut g),
            init,
            None,
        )
        .expect("init");
        ((), rc)
    };
    let (mek, next) = bob.encrypt_header(None, 3).expect("header");
    bob = next;
    let stored = mek.to_bytes();
    let mek2: MsgEncryptKey = decode_all(&stored).expect("decodes");
    assert_eq!(mek2, mek);
    assert_eq!(
        mek.encrypt(100, b"body").expect("enc"),
        mek2.encrypt(100, b"body").expect("enc")
    );
    assert!(bob.can_send());
    assert!(!format!("{mek:?}").contains(&hex::encode(&stored[stored.len() - 8..])));
}

#[test]
fn skipped_diff_apply() {
    let mut keys = SkippedKeys::new();
    let hk = Key32::from_bytes([1; 32]);
    let mk = MessageKey::new([2; 32], [3; 16]);
    let mut add = SkippedKeys::new();
    add.entry(hk.clone()).or_default().insert(5, mk.clone());
    add.entry(hk.clone()).or_default().insert(6, mk.clone());
    SkippedDiff::Add(add).apply(&mut keys);
    assert_eq!(keys[&hk].len(), 2);
    SkippedDiff::Remove(hk.clone(), 5).apply(&mut keys);
    SkippedDiff::Remove(hk.clone(), 9).apply(&mut keys);
    SkippedDiff::NoChange.apply(&mut keys);
    assert_eq!(keys[&hk].len(), 1);
    SkippedDiff::Remove(hk.clone(), 6).apply(&mut keys);
    assert!(keys.is_empty(), "empty header entries are dropped");
    // MessageKey encoding: 1-byte length key, then the raw IV.
    let b = mk.to_bytes();
    assert_eq!(b.len(), 1 + 32 + 16);
    assert_eq!(b[0], 32);
    assert_eq!(decode_all::<MessageKey>(&b).expect("mk"), mk);
}

/// Hands out one given key pair, once.
struct OneKemKey(std::cell::RefCell<Option<KemKeyPair>>);

impl RatchetKeySource for OneKemKey {
    fn take_kem_key_pair(&self) -> Option<KemKeyPair> {
        self.0.borrow_mut().take()
    }
}

#[test]
fn e2e_params_take_a_supplied_kem_key_pair_once() {
    let mut g = StdRng::seed_from_u64(11);
    let given = KemKeyPair::generate(&mut g);
    let keys = OneKemKey(std::cell::RefCell::new(Some(given.clone())));
    let v = CURRENT_E2E_VERSION;
    let (_, kp, params) = generate_rcv_e2e_params_with::<X448>(&mut g, &keys, v, PqSupport::ON);
    assert_eq!(kp.as_ref(), Some(&given));
    assert!(matches!(&params.kem, Some(RKemParams::Proposed(k)) if *k == given.public));
    // The joining side, accepting: the supply is empty now, so its key pair is a new one.
    let use_kem = reply_kem(v, params.kem.as_ref(), PqSupport::ON);
    let (_, priv_kem, _) = generate_snd_e2e_params_with::<X448>(&mut g, &keys, v, use_kem.as_ref());
    match priv_kem {
        Some(PrivRKemParams::Accepted(_, _, kp)) => assert_ne!(kp.public, given.public),
        other => panic!("expected an accepted KEM, got {other:?}"),
    }
}
