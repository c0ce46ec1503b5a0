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

fn nonce(v: &Value) -> CbNonce {
    CbNonce::from_slice(&hex_field(v, "nonce_hex")).expect("24-byte nonce")
}

fn sb_key(v: &Value, field: &str) -> SbKey {
    SbKey::from_slice(&hex_field(v, field)).expect("32-byte key")
}

fn padded_len(v: &Value) -> usize {
    let n = v["padded_len"].as_u64().expect("padded_len is a number");
    usize::try_from(n).expect("padded_len fits usize")
}

fn check_head_and_hash(v: &Value, out: &[u8]) {
    let head = hex_field(v, "out_head_hex");
    assert_eq!(&out[..head.len()], head.as_slice());
    assert_eq!(out.len() as u64, v["out_len"].as_u64().expect("out_len"));
    assert_eq!(sha256(out).to_vec(), hex_field(v, "out_sha256"));
}

#[test]
fn cb_encrypt_with_dh_secret() {
    let Some(cb) = section("crypto_box") else {
        return;
    };
    let v = &cb["cbEncrypt_dh"];
    let secret_bytes: [u8; 32] = hex_field(v, "secret_hex").try_into().expect("32 bytes");
    let secret = DhSecretX25519::from_bytes(secret_bytes);
    let msg = str_field(v, "msg_utf8").as_bytes();
    let out = cb_encrypt(&secret, &nonce(v), msg, padded_len(v)).expect("fits");
    check_head_and_hash(v, &out);
    assert_eq!(cb["cbEncrypt_dh_roundtrip_ok"], Value::Bool(true));
    assert_eq!(cb_decrypt(&secret, &nonce(v), &out).expect("opens"), msg);

    // The same bytes through the caller's-buffer path, after existing content.
    let mut buf = b"prefix".to_vec();
    cb_encrypt_into(&secret, &nonce(v), msg, padded_len(v), &mut buf).expect("fits");
    assert_eq!(&buf[..6], b"prefix");
    assert_eq!(&buf[6..], out.as_slice());

    // And it is crypto_box_easy: secretbox keyed by crypto_box_beforenm = HSalsa20(secret, 0).
    use xsalsa20poly1305::aead::{Aead, KeyInit};
    let k = salsa_beforenm(&secret_bytes);
    let plain = simplex_encoding::pad(msg, padded_len(v)).expect("fits");
    let sodium = xsalsa20poly1305::XSalsa20Poly1305::new((&k).into())
        .encrypt((&nonce(v).0).into(), plain.as_slice())
        .expect("encrypts");
    // Both write tag ‖ ciphertext, as NaCl's `_easy` functions do.
    assert_eq!(sodium, out);
    assert_eq!(
        cb["cbEncrypt_dh_equals_libsodium_crypto_box_easy"],
        Value::Bool(true)
    );
}

/// HSalsa20(secret, 0^16), libsodium's `crypto_box_beforenm`, straight from salsa20.
fn salsa_beforenm(secret: &[u8; 32]) -> [u8; 32] {
    use salsa20::cipher::consts::U10;
    use salsa20::cipher::generic_array::GenericArray;
    salsa20::hsalsa::<U10>(GenericArray::from_slice(secret), &GenericArray::default()).into()
}

#[test]
fn sb_encrypt_with_symmetric_key() {
    let Some(cb) = section("crypto_box") else {
        return;
    };
    let v = &cb["sbEncrypt_key"];
    let key = sb_key(v, "key_hex");
    let msg = str_field(v, "msg_utf8").as_bytes();
    let out = sb_encrypt(&key, &nonce(v), msg, padded_len(v)).expect("fits");
    check_head_and_hash(v, &out);
    assert_eq!(sb_decrypt(&key, &nonce(v), &out).expect("opens"), msg);

    // Not plain secretbox with the key itself.
    use xsalsa20poly1305::aead::{Aead, KeyInit};
    let plain = simplex_encoding::pad(msg, padded_len(v)).expect("fits");
    let plain_box = xsalsa20poly1305::XSalsa20Poly1305::new((&key.0).into())
        .encrypt((&nonce(v).0).into(), plain.as_slice())
        .expect("encrypts");
    assert_eq!(plain_box.len(), out.len());
    assert_ne!(plain_box, out);
    // ...but plain secretbox keyed with HSalsa20(key, 0) is.
    let derived = salsa_beforenm(&key.0);
    let derived_box = xsalsa20poly1305::XSalsa20Poly1305::new((&derived).into())
        .encrypt((&nonce(v).0).into(), plain.as_slice())
        .expect("encrypts");
    assert_eq!(derived_box, out);
    assert_eq!(
        cb["sbEncrypt_equals_crypto_secretbox_easy_with_hsalsa20_key"],
        Value::Bool(true)
    );
    assert_eq!(
        cb["sbEncrypt_equals_plain_crypto_secretbox_easy"],
        Value::Bool(false)
    );
}

#[test]
fn crypto_box_no_pad() {
    let Some(cb) = section("crypto_box") else {
        return;
    };
    let v = &cb["cryptoBox_nopad"];
    let key = sb_key(v, "key_hex");
    let msg = str_field(v, "msg_utf8").as_bytes();
    let out = sb_encrypt_no_pad(&key, &nonce(v), msg);
    assert_eq!(out, hex_field(v, "hex"));
    assert_eq!(
        sb_decrypt_no_pad(&key, &nonce(v), &out).expect("opens"),
        msg
    );
    // The same secret used as a DH secret gives the same box.
    let secret = DhSecretX25519::from_bytes(key.0);
    assert_eq!(cb_encrypt_no_pad(&secret, &nonce(v), msg), out);
    assert_eq!(
        cb_decrypt_no_pad(&secret, &nonce(v), &out).expect("opens"),
        msg
    );
}

#[test]
fn sb_encrypt_tail_tag_vector() {
    let Some(cb) = section("crypto_box") else {
        return;
    };
    let v = &cb["sbEncryptTailTag"];
    let key = sb_key(v, "key_hex");
    let msg = str_field(v, "msg_utf8").as_bytes();
    assert_eq!(msg.len() as u64, v["msg_len"].as_u64().expect("msg_len"));
    let padded = v["padded_len"].as_u64().expect("padded_len");
    let out = sb_encrypt_tail_tag(&key, &nonce(v), msg, padded).expect("fits");
    assert_eq!(out, hex_field(v, "hex"));
    assert_eq!(cb["sbEncryptTailTag"]["roundtrip_ok"], Value::Bool(true));
    assert_eq!(
        sb_decrypt_tail_tag(&key, &nonce(v), &out).expect("opens"),
        msg
    );
}

#[test]
fn cb_authenticate_vector() {
    let Some(cb) = section("crypto_box") else {
        return;
    };
    let v = &cb["cbAuthenticate"];
    let peer = PublicKeyX25519::from_raw(&hex_field(v, "peer_pub_hex")).expect("32 bytes");
    let own = PrivateKeyX25519::from_raw(&hex_field(v, "own_priv_hex")).expect("32 bytes");
    let msg = str_field(v, "msg_utf8").as_bytes();
    let auth = cb_authenticate(&peer, &own, &nonce(v), msg);
    assert_eq!(auth.as_bytes().as_slice(), hex_field(v, "hex").as_slice());
    assert_eq!(v["verifies"], Value::Bool(true));
    assert!(cb_verify(&peer, &own, &nonce(v), &auth, msg));
    // The other side verifies with its own private key and this side's public key.
    let Some(keys) = section("keys") else { return };
    let b = PrivateKeyX25519::from_raw(&hex_field(&keys["x25519_B"], "priv_raw_hex"))
        .expect("32 bytes");
    assert_eq!(b.public_key(), peer);
    assert!(cb_verify(&own.public_key(), &b, &nonce(v), &auth, msg));
    assert!(!cb_verify(
        &own.public_key(),
        &b,
        &nonce(v),
        &auth,
        b"authenticate me!"
    ));
    assert!(!cb_verify(
        &own.public_key(),
        &b,
        &nonce(v).reversed(),
        &auth,
        msg
    ));
}

#[test]
fn transport_chunk_vector() {
    let Some(cb) = section("crypto_box") else {
        return;
    };
    let v = &cb["transport_chunk"];
    let secret_bytes: [u8; 32] = hex_field(v, "secret_hex").try_into().expect("32 bytes");
    let secret = DhSecretX25519::from_bytes(secret_bytes);
    let plain = str_field(v, "plain_utf8").as_bytes();
    let expected = hex_field(v, "hex");
    // The XFTP transport chunk form: no padding, tag after the ciphertext.
    let key = CbKey::from_dh(&secret);
    let out = key.encrypt_tail_tag_no_pad(&nonce(v), plain);
    assert_eq!(out, expected);
    assert_eq!(
        key.decrypt_tail_tag_no_pad(&nonce(v), &out).expect("opens"),
        plain
    );
    assert_eq!(v["decrypts"], Value::Bool(true));
}

#[test]
fn fixture_ca_identity() {
    let Some(path) = test_support::fixture("ca.crt", "fixture_ca_identity") else {
        return;
    };
    let pem = std::fs::read(path).expect("read ca.crt");
    let cert = openssl::x509::X509::from_pem(&pem).expect("PEM certificate");
    let der = cert.to_der().expect("DER");
    let hash = KeyHash::of_certificate_der(&der);
    assert_eq!(
        hash.to_string(),
        "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI="
    );
    assert_eq!(
        "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI"
            .parse::<KeyHash>()
            .expect("parses"),
        hash
    );
    // The CA key is Ed448; its public key round-trips through our DER form.
    let spki = cert
        .public_key()
        .expect("key")
        .public_key_to_der()
        .expect("SPKI");
    let key = PublicSignKey::from_der(&spki).expect("Ed448 SPKI");
    assert!(matches!(key, PublicSignKey::Ed448(_)));
    assert_eq!(key.to_der(), spki);
}

/// The XFTP file form: header ‖ content, 8-byte-length padded to `encSize - 16`, tag at the
/// end (`encryptFile` in the reference's `FileTransfer/Crypto.hs`).
#[test]
fn xftp_file_encryption_vector() {
    let Some(v) = section("xftp_file_crypto") else {
        return;
    };
    let key = sb_key(&v, "key_hex");
    let mut plain = hex_field(&v, "header_hex");
    plain.extend_from_slice(str_field(&v, "content_utf8").as_bytes());
    let enc_size = v["encSize"].as_u64().expect("encSize");
    let out = sb_encrypt_tail_tag(&key, &nonce(&v), &plain, enc_size - 16).expect("fits");
    assert_eq!(out.len() as u64, enc_size);
    let head = hex_field(&v, "enc_head_hex");
    assert_eq!(&out[..head.len()], head.as_slice());
    assert_eq!(
        &out[out.len() - 16..],
        hex_field(&v, "enc_tail_tag_hex").as_slice()
    );
    assert_eq!(sha256(&out).to_vec(), hex_field(&v, "enc_sha256"));
    assert_eq!(v["decrypts"], Value::Bool(true));
    assert_eq!(
        sb_decrypt_tail_tag(&key, &nonce(&v), &out).expect("opens"),
        plain
    );
}
