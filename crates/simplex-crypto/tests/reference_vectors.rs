//! Known-answer tests against the reference vectors (`keys` and `crypto_box` sections) and
//! the reference's test CA certificate.

use serde_json::Value;
use simplex_crypto::*;
use simplex_encoding::{decode_all, Encode};
use test_support::{hex_field, reference_vectors, str_field};

fn section(name: &str) -> Option<Value> {
    reference_vectors(name).map(|v| v[name].clone())
}

#[test]
fn ed25519_keys_der_hash_and_signature() {
    let Some(keys) = section("keys") else { return };
    let v = &keys["ed25519"];
    let seed = hex_field(v, "seed_hex");
    let private = PrivateKeyEd25519::from_raw(&seed).expect("32-byte seed");
    let public = private.public_key();
    assert_eq!(public.as_raw(), hex_field(v, "pub_raw_hex").as_slice());
    assert_eq!(public.to_der(), hex_field(v, "pub_der_hex"));
    assert_eq!(
        simplex_encoding::string::base64url_encode(&public.to_der()),
        str_field(v, "pub_der_base64url")
    );
    assert_eq!(
        private.to_der().as_slice(),
        hex_field(v, "priv_der_hex").as_slice()
    );
    assert_eq!(
        PrivateKeyEd25519::from_der(&hex_field(v, "priv_der_hex")).expect("vector PKCS#8"),
        private
    );
    assert_eq!(
        PublicKeyEd25519::from_der(&hex_field(v, "pub_der_hex")).expect("vector SPKI"),
        public
    );
    assert_eq!(
        sha256(&public.to_der()).to_vec(),
        hex_field(v, "keyHash_sha256_of_pub_der_hex")
    );

    let msg = str_field(v, "sign_msg_utf8").as_bytes();
    let sig = sign(&PrivateSignKey::Ed25519(private.clone()), msg);
    assert_eq!(sig.as_bytes(), hex_field(v, "signature_hex").as_slice());
    let sig = Signature::from_bytes(&hex_field(v, "signature_hex")).expect("64 bytes");
    assert!(verify(&PublicSignKey::Ed25519(public), &sig, msg));
    assert!(!verify(
        &PublicSignKey::Ed25519(public),
        &sig,
        b"other message"
    ));

    // smpEncode of a public key: one-byte length, then the DER.
    let auth = PublicAuthKey::Ed25519(public);
    let enc = auth.to_bytes();
    assert_eq!(enc[0], 44);
    assert_eq!(&enc[1..], hex_field(v, "pub_der_hex").as_slice());
    assert_eq!(decode_all::<PublicAuthKey>(&enc).expect("round trip"), auth);
}

#[test]
fn x25519_keys_and_dh() {
    let Some(keys) = section("keys") else { return };
    let a = &keys["x25519_A"];
    let b = &keys["x25519_B"];
    let priv_a = PrivateKeyX25519::from_raw(&hex_field(a, "priv_raw_hex")).expect("32 bytes");
    let priv_b = PrivateKeyX25519::from_raw(&hex_field(b, "priv_raw_hex")).expect("32 bytes");
    let pub_a = priv_a.public_key();
    let pub_b = priv_b.public_key();
    assert_eq!(pub_a.as_raw(), hex_field(a, "pub_raw_hex").as_slice());
    assert_eq!(pub_b.as_raw(), hex_field(b, "pub_raw_hex").as_slice());
    assert_eq!(pub_a.to_der(), hex_field(a, "pub_der_hex"));
    assert_eq!(pub_b.to_der(), hex_field(b, "pub_der_hex"));
    assert_eq!(
        priv_a.to_der().as_slice(),
        hex_field(a, "priv_der_hex").as_slice()
    );
    assert_eq!(
        PrivateKeyX25519::from_der(&hex_field(a, "priv_der_hex")).expect("vector PKCS#8"),
        priv_a
    );
    assert_eq!(
        PublicDhKey::from_der(&hex_field(b, "pub_der_hex")).expect("vector SPKI"),
        PublicDhKey::X25519(pub_b)
    );
    let expected = hex_field(&keys, "x25519_dh_A_B_hex");
    assert_eq!(
        dh_x25519(&pub_b, &priv_a).as_bytes().as_slice(),
        expected.as_slice()
    );
    assert_eq!(
        dh_x25519(&pub_a, &priv_b).as_bytes().as_slice(),
        expected.as_slice()
    );
    assert_eq!(keys["dh_commutes"], Value::Bool(true));
}

#[test]
fn ed448_der_prefix() {
    let Some(keys) = section("keys") else { return };
    let prefix = hex_field(&keys, "ed448_der_prefix_hex");
    let mut rng = rand::rngs::OsRng;
    let key = PrivateKeyEd448::generate(&mut rng);
    let der = key.public_key().to_der();
    assert_eq!(&der[..prefix.len()], prefix.as_slice());
    assert_eq!(der.len(), prefix.len() + 57);
}
