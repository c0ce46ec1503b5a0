//! A known answer for the whole pipeline (X3DH, the first root and chain steps, header and
//! body encryption and the envelope), computed independently in Python (`cryptography` for
//! X25519 and AES-GCM, `hmac`/`hashlib` for HKDF-SHA512) from the reference's formats.
//!
//! Keys are fixed bytes: the creating side's X3DH keys 0x01.. and 0x02.., the joining side's
//! 0x03.. and 0x04.., and its first ratchet key 0x05..; the message "hello alice" padded to
//! 100 bytes, first message of the joining side, announcing version 3.

use simplex_ratchet::*;

const V2: &str = "7b000219a1cfc1922c57fd697c943935047f09f671b8ca5b67beec9b39d92c28b8bf045889647888\
         453952ff88917cfc43be924881b1acc3025944299dc13533e74b232c06ea824dd19c57ca76d0a639\
         c4dd607b0a72e1ab9ca351ff53086daeeca10957f4ade9e15cac0731866e2106a0f825cf6803f8c0\
         0c48c58af4a14aa29bf7e992f171d2d93a0be41609eaff8d56ae3b60cc89b6e8978d60f11e1b6c82\
         99e5ead4650c4429916ad9edfb5b29896c5a2c302081e015ee98988b56d47db29450aaf26f253258\
         7bca78d3868bdb6160edf62dd9113ba4b9c529d49c3f79422d52e3488902abb6355e29a9a9b1351a";

const V3: &str = "007c000319a1cfc1922c57fd697c943935047f095f782335b5e24bfc697f4ec637fb014d0058896b\
         7888453952ff88917cfc43be924881b1acc3025944299dc13533e74b232c06ea824dd19c57ca76d0\
         a639c4dd607b0a42e1ab9ca351ff532b6daeeca10957f4ade9e15cac0731866e2106a0f825cf6803\
         f8c00c48c58a254b9018a2e093f01ea5a1a370f38eb009eaff8d56ae3b60cc89b6e8978d60f11e1b\
         6c8299e5ead4650c4429916ad9edfb5b29896c5a2c302081e015ee98988b56d47db29450aaf26f25\
         32587bca78d3868bdb6160edf62dd9113ba4b9c529d49c3f79422d52e3488902abb6355e29a9a9b1\
         351a";

fn key(b: u8) -> simplex_crypto::PrivateKeyX25519 {
    simplex_crypto::PrivateKeyX25519::from_raw(&[b; 32]).expect("32 bytes")
}

fn first_message(v: VersionE2E) -> Vec<u8> {
    let alice = X3dhPrivateKeys::<X25519> {
        key1: key(1),
        key2: key(2),
    };
    let bob = X3dhPrivateKeys::<X25519> {
        key1: key(3),
        key2: key(4),
    };
    let alice_params = E2ERatchetParams::<X25519> {
        version: v,
        key1: X25519::public_key(&alice.key1),
        key2: X25519::public_key(&alice.key2),
        kem: None,
    };
    let bob_params = E2ERatchetParams::<X25519> {
        version: v,
        key1: X25519::public_key(&bob.key1),
        key2: X25519::public_key(&bob.key2),
        kem: None,
    };
    let vs = RatchetVersions {
        current: v,
        max_supported: v,
    };
    let (init, _) = pq_x3dh_snd(&bob, None, &alice_params).expect("bob's X3DH");
    let rc = Ratchet::<X25519>::init_snd(vs, X25519::public_key(&alice.key2), key(5), init, None)
        .expect("bob's ratchet");
    let (msg, _) = rc
        .encrypt(None, CURRENT_E2E_VERSION, 100, b"hello alice")
        .expect("encrypts");
    // And the creating side opens it.
    let (init, _) = pq_x3dh_rcv(&alice, None, &bob_params).expect("alice's X3DH");
    let alice_rc = Ratchet::<X25519>::init_rcv(vs, alice.key2.clone(), init, None, PqSupport::OFF);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let d = alice_rc
        .decrypt(&SkippedKeys::new(), &msg, &mut rng)
        .expect("decrypts");
    assert_eq!(d.plaintext, b"hello alice");
    assert_eq!(
        d.ratchet.versions().current,
        v,
        "no upgrade beyond max_supported"
    );
    msg
}

#[test]
fn first_message_matches_independent_computation() {
    assert_eq!(
        hex::encode(first_message(2)),
        V2.replace(char::is_whitespace, "")
    );
    assert_eq!(
        hex::encode(first_message(3)),
        V3.replace(char::is_whitespace, "")
    );
}
