//! Unit tests of the key forms, signatures and agreement.

use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_encoding::decode_all;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

/// Every proper prefix, every extension and every single-bit flip of `der` must be
/// rejected by `parse` (the DER is all fixed prefix plus raw key, so a flip in the
/// prefix must fail; flips in the raw part give another key, which may parse).
fn assert_strict<T>(
    der: &[u8],
    prefix_len: usize,
    parse: impl Fn(&[u8]) -> Result<T, CryptoError>,
) {
    assert!(parse(der).is_ok());
    for n in 0..der.len() {
        assert!(parse(&der[..n]).is_err(), "prefix of {n} bytes accepted");
    }
    let mut longer = der.to_vec();
    longer.push(0);
    assert!(parse(&longer).is_err(), "trailing byte accepted");
    for i in 0..prefix_len {
        for bit in 0..8 {
            let mut bad = der.to_vec();
            bad[i] ^= 1 << bit;
            assert!(
                parse(&bad).is_err(),
                "bit {bit} of byte {i} flipped accepted"
            );
        }
    }
}

#[test]
fn public_ders_round_trip_and_are_strict() {
    let mut rng = rng();
    let ed = PrivateKeyEd25519::generate(&mut rng).public_key();
    let ed448 = PrivateKeyEd448::generate(&mut rng).public_key();
    let x = PrivateKeyX25519::generate(&mut rng).public_key();
    let x448 = PrivateKeyX448::generate(&mut rng).public_key();

    assert_eq!(
        PublicKeyEd25519::from_der(&ed.to_der()).expect("round trip"),
        ed
    );
    assert_eq!(
        PublicKeyEd448::from_der(&ed448.to_der()).expect("round trip"),
        ed448
    );
    assert_eq!(
        PublicKeyX25519::from_der(&x.to_der()).expect("round trip"),
        x
    );
    assert_eq!(
        PublicKeyX448::from_der(&x448.to_der()).expect("round trip"),
        x448
    );
    assert_eq!(ed.to_der().len(), 44);
    assert_eq!(ed448.to_der().len(), 69);
    assert_eq!(x.to_der().len(), 44);
    assert_eq!(x448.to_der().len(), 68);

    assert_strict(&ed.to_der(), 12, PublicKeyEd25519::from_der);
    assert_strict(&ed448.to_der(), 12, PublicKeyEd448::from_der);
    assert_strict(&x.to_der(), 12, PublicKeyX25519::from_der);
    assert_strict(&x448.to_der(), 12, PublicKeyX448::from_der);

    // One algorithm's DER is not another's.
    assert!(PublicKeyX25519::from_der(&ed.to_der()).is_err());
    assert!(PublicKeyEd25519::from_der(&x.to_der()).is_err());
    assert!(PublicSignKey::from_der(&x.to_der()).is_err());
    assert!(PublicDhKey::from_der(&ed448.to_der()).is_err());
    assert!(PublicAuthKey::from_der(&x448.to_der()).is_err());
}

#[test]
fn private_ders_round_trip_and_are_strict() {
    let mut rng = rng();
    let ed = PrivateKeyEd25519::generate(&mut rng);
    let ed448 = PrivateKeyEd448::generate(&mut rng);
    let x = PrivateKeyX25519::generate(&mut rng);
    let x448 = PrivateKeyX448::generate(&mut rng);

    let back = PrivateKeyEd25519::from_der(&ed.to_der()).expect("round trip");
    assert_eq!(back.public_key(), ed.public_key());
    let back = PrivateKeyEd448::from_der(&ed448.to_der()).expect("round trip");
    assert_eq!(back.public_key(), ed448.public_key());
    let back = PrivateKeyX25519::from_der(&x.to_der()).expect("round trip");
    assert_eq!(back.public_key(), x.public_key());
    let back = PrivateKeyX448::from_der(&x448.to_der()).expect("round trip");
    assert_eq!(back.public_key(), x448.public_key());
    assert_eq!(ed448.to_der().len(), 73);
    assert_eq!(x448.to_der().len(), 72);

    assert_strict(&ed.to_der(), 16, PrivateKeyEd25519::from_der);
    assert_strict(&ed448.to_der(), 16, PrivateKeyEd448::from_der);
    assert_strict(&x.to_der(), 16, PrivateKeyX25519::from_der);
    assert_strict(&x448.to_der(), 16, PrivateKeyX448::from_der);

    // A public DER is not a private one.
    assert!(PrivateKeyEd25519::from_der(&ed.public_key().to_der()).is_err());

    let auth = PrivateAuthKey::from_der(&x.to_der()).expect("X25519 auth key");
    assert_eq!(auth.public_key(), PublicAuthKey::X25519(x.public_key()));
    assert!(auth.as_sign_key().is_none());
    let sign_key = PrivateSignKey::from_der(&ed448.to_der()).expect("Ed448 sign key");
    assert_eq!(
        sign_key.public_key(),
        PublicSignKey::Ed448(ed448.public_key())
    );
    assert!(PrivateSignKey::from_der(&x.to_der()).is_err());
    let dh = PrivateDhKey::from_der(&x448.to_der()).expect("X448 DH key");
    assert_eq!(dh.public_key(), PublicDhKey::X448(x448.public_key()));
}

#[test]
fn ed448_private_der_matches_openssl() {
    let key = PrivateKeyEd448::generate(&mut rng());
    let ossl = key.key.private_key_to_pkcs8().expect("PKCS#8 from OpenSSL");
    assert_eq!(ossl, key.to_der().as_slice());
    let spki = key.key.public_key_to_der().expect("SPKI from OpenSSL");
    assert_eq!(spki, key.public_key().to_der());
    let x = PrivateKeyX448::generate(&mut rng());
    let ossl = x.key.private_key_to_pkcs8().expect("PKCS#8 from OpenSSL");
    assert_eq!(ossl, x.to_der().as_slice());
    assert_eq!(
        x.key.public_key_to_der().expect("SPKI"),
        x.public_key().to_der()
    );
}

#[test]
fn wire_encoding_is_der_in_short_bytes() {
    let mut rng = rng();
    let keys = [
        PublicAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut rng).public_key()),
        PublicAuthKey::Ed448(PrivateKeyEd448::generate(&mut rng).public_key()),
        PublicAuthKey::X25519(PrivateKeyX25519::generate(&mut rng).public_key()),
    ];
    for key in keys {
        let enc = key.to_bytes();
        let der = key.to_der();
        assert_eq!(usize::from(enc[0]), der.len());
        assert_eq!(&enc[1..], der.as_slice());
        assert_eq!(decode_all::<PublicAuthKey>(&enc).expect("round trip"), key);
        for n in 0..enc.len() {
            assert!(decode_all::<PublicAuthKey>(&enc[..n]).is_err());
        }
    }
    let dh = PublicDhKey::X448(PrivateKeyX448::generate(&mut rng).public_key());
    assert_eq!(
        decode_all::<PublicDhKey>(&dh.to_bytes()).expect("round trip"),
        dh
    );
    let ed = PrivateKeyEd25519::generate(&mut rng).public_key();
    assert_eq!(
        decode_all::<PublicKeyEd25519>(&ed.to_bytes()).expect("round trip"),
        ed
    );
    assert!(decode_all::<PublicKeyX25519>(&ed.to_bytes()).is_err());
}

#[test]
fn sign_and_verify_both_curves() {
    let mut rng = rng();
    for key in [
        PrivateSignKey::Ed25519(PrivateKeyEd25519::generate(&mut rng)),
        PrivateSignKey::Ed448(PrivateKeyEd448::generate(&mut rng)),
    ] {
        let public = key.public_key();
        let sig = sign(&key, b"message");
        assert!(verify(&public, &sig, b"message"));
        assert!(!verify(&public, &sig, b"messagf"));
        let mut bad = sig.as_bytes().to_vec();
        bad[3] ^= 1;
        let bad = Signature::from_bytes(&bad).expect("same length");
        assert!(!verify(&public, &bad, b"message"));
        let sig2 = Signature::from_bytes(sig.as_bytes()).expect("valid length");
        assert_eq!(sig2, sig);
        assert_eq!(
            decode_all::<Signature>(&sig.to_bytes()).expect("round trip"),
            sig
        );
    }
    // A wrong key of the same algorithm, and keys of the other algorithm, fail.
    let a = PrivateSignKey::Ed25519(PrivateKeyEd25519::generate(&mut rng));
    let b = PrivateSignKey::Ed25519(PrivateKeyEd25519::generate(&mut rng));
    let c = PrivateSignKey::Ed448(PrivateKeyEd448::generate(&mut rng));
    let d = PrivateSignKey::Ed448(PrivateKeyEd448::generate(&mut rng));
    assert!(!verify(&b.public_key(), &sign(&a, b"m"), b"m"));
    assert!(!verify(&d.public_key(), &sign(&c, b"m"), b"m"));
    assert!(!verify(&c.public_key(), &sign(&a, b"m"), b"m"));
    assert!(!verify(&a.public_key(), &sign(&c, b"m"), b"m"));
    assert_eq!(sign(&c, b"m").as_bytes().len(), 114);
    assert!(Signature::from_bytes(&[0u8; 65]).is_err());
    assert!(Signature::from_bytes(&[]).is_err());
}

#[test]
fn dh_agrees_both_ways() {
    let mut rng = rng();
    let a = PrivateKeyX25519::generate(&mut rng);
    let b = PrivateKeyX25519::generate(&mut rng);
    assert_eq!(
        dh_x25519(&b.public_key(), &a),
        dh_x25519(&a.public_key(), &b)
    );
    let c = PrivateKeyX25519::generate(&mut rng);
    assert_ne!(
        dh_x25519(&b.public_key(), &a),
        dh_x25519(&c.public_key(), &a)
    );
    let a = PrivateKeyX448::generate(&mut rng);
    let b = PrivateKeyX448::generate(&mut rng);
    let ab = dh_x448(&b.public_key(), &a).expect("valid keys");
    let ba = dh_x448(&a.public_key(), &b).expect("valid keys");
    assert_eq!(ab.as_bytes(), ba.as_bytes());
}

#[test]
fn debug_prints_no_secret_bytes() {
    let seed = [0xabu8; 32];
    let ed = PrivateKeyEd25519::from_raw(&seed).expect("32 bytes");
    let x = PrivateKeyX25519::from_raw(&seed).expect("32 bytes");
    let ed448 = PrivateKeyEd448::from_raw(&[0xab; 57]).expect("57 bytes");
    let x448 = PrivateKeyX448::from_raw(&[0xab; 56]).expect("56 bytes");
    let secret = dh_x25519(&x.public_key(), &x);
    let printed = [
        format!("{ed:?}"),
        format!("{x:?}"),
        format!("{ed448:?}"),
        format!("{x448:?}"),
        format!("{secret:?}"),
        format!("{:?}", PrivateAuthKey::Ed25519(ed.clone())),
        format!("{:?}", PrivateSignKey::Ed448(ed448.clone())),
    ];
    let secret_hex = hex::encode(secret.as_bytes());
    for p in printed {
        assert!(!p.to_lowercase().contains("abab"), "{p}");
        assert!(!p.contains("171, 171"), "{p}");
        assert!(!p.contains(&secret_hex[..8]), "{p}");
    }
    // Public keys do print (hex).
    assert!(format!("{:?}", ed.public_key()).contains(&hex::encode(ed.public_key().as_raw())));
}

#[test]
fn ed25519_non_point_is_accepted_but_verifies_nothing() {
    // y = 2 is not on the curve (as the reference, decoding checks only the length).
    let mut raw = [0u8; 32];
    raw[0] = 2;
    let key = PublicKeyEd25519::from_raw(&raw).expect("any 32 bytes");
    assert!(!key.is_valid_point());
    assert_eq!(
        PublicKeyEd25519::from_der(&key.to_der()).expect("round trip"),
        key
    );
    assert!(!key.verify(&[0u8; 64], b""));
    let good = PrivateKeyEd25519::from_raw(&[1u8; 32])
        .expect("seed")
        .public_key();
    assert!(good.is_valid_point());
}

#[test]
fn raw_lengths_are_checked() {
    assert!(PublicKeyEd25519::from_raw(&[1; 31]).is_err());
    assert!(PublicKeyX25519::from_raw(&[1; 33]).is_err());
    assert!(PublicKeyEd448::from_raw(&[1; 56]).is_err());
    assert!(PublicKeyX448::from_raw(&[1; 57]).is_err());
    assert!(PrivateKeyEd448::from_raw(&[1; 56]).is_err());
    assert!(PrivateKeyX448::from_raw(&[1; 57]).is_err());
    assert!(PrivateKeyEd25519::from_raw(&[]).is_err());
}

/// A key loaded from its bytes derives its public half on first use: the same public key
/// and the same (deterministic) signatures as the key it was saved from, clones included.
#[test]
fn ed25519_key_loaded_from_bytes_signs_as_the_original() {
    let k = PrivateKeyEd25519::generate(&mut rng());
    let loaded = PrivateKeyEd25519::from_der(&k.to_der()).expect("parses");
    let copy = loaded.clone();
    assert_eq!(loaded, k);
    assert_eq!(copy.sign(b"msg"), k.sign(b"msg"));
    assert_eq!(loaded.public_key(), k.public_key());
    assert!(k.public_key().verify(&loaded.sign(b"msg"), b"msg"));
    assert!(!k.public_key().verify(&loaded.sign(b"msg"), b"other"));
}

/// Signing and verifying with OpenSSL's SHA-512 give the bytes `ed25519-dalek`'s own
/// (`sha2`) signing gives, on a short message and on a 16 KiB one (a `SEND`'s block), and
/// RFC 8032's first test vector.
#[test]
fn ed25519_with_openssl_sha512_signs_as_rfc8032() {
    use ed25519_dalek::{Signer as _, Verifier as _};
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    };
    let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let k = PrivateKeyEd25519::from_raw(&seed).expect("seed");
    assert_eq!(
        k.public_key().as_raw(),
        hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    );
    let sig = k.sign(b"");
    assert_eq!(
        sig.to_vec(),
        hex(concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555",
            "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ))
    );
    assert!(k.public_key().verify(&sig, b""));
    let mut r = rng();
    let block: Vec<u8> = (0..16 * 1024).map(|i| (i % 251) as u8).collect();
    for _ in 0..4 {
        let k = PrivateKeyEd25519::generate(&mut r);
        let dalek = ed25519_dalek::SigningKey::from_bytes(&k.raw_secret());
        for msg in [&b"SUB"[..], &block[..]] {
            let ours = k.sign(msg);
            assert_eq!(ours, dalek.sign(msg).to_bytes());
            let sig = ed25519_dalek::Signature::from_bytes(&ours);
            assert!(dalek.verifying_key().verify(msg, &sig).is_ok());
            assert!(k.public_key().verify(&dalek.sign(msg).to_bytes(), msg));
            let mut other = msg.to_vec();
            other[0] ^= 1;
            assert!(!k.public_key().verify(&ours, &other));
        }
    }
}

/// A key's clones share the signing key made from its seed: the first signature by any of
/// them makes it for all (a store hands out clones of the key it decoded once), and they
/// all sign alike.
#[test]
fn ed25519_clones_share_the_signing_key_made_once() {
    let k = PrivateKeyEd25519::from_raw(&[7u8; 32]).expect("seed");
    let c = k.clone();
    assert!(k.key.get().is_none(), "made on first use only");
    let sig = c.sign(b"SEND");
    assert!(k.key.get().is_some(), "made once, for every clone");
    assert_eq!(k.sign(b"SEND"), sig);
    let fresh = PrivateKeyEd25519::from_raw(&[7u8; 32]).expect("seed");
    assert_eq!(fresh.sign(b"SEND"), sig);
}
