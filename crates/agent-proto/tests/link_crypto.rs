//! Short-link cryptography (the reference's `Crypto/ShortLink.hs`): known answers for the key
//! derivations, and the reference's `tests/AgentTests/ShortLinkTests.hs` as two-party tests —
//! the owner encrypts, the joiner opens with what the printed link carries — with each kind of
//! tampering refused by its own error.

use agent_proto::link_crypto::{
    encrypt_data_with_nonce, FIXED_DATA_PADDED_LEN, USER_DATA_PADDED_LEN,
};
use agent_proto::{
    contact_short_link_kdf, decrypt_link_data, encode_sign_link_data, encode_sign_user_data,
    encrypt_link_data, encrypt_user_data, inv_short_link_kdf, new_owner_auth, sign_owner_auth,
    ConnLinkData, ConnectionMode, ConnectionRequest, ContactShortLink, ContactType,
    EncryptedLinkData, InvitationShortLink, LinkDataError, LinkKey, OwnerAuth, OwnerError,
    ShortLink, ShortLinkScheme, UserConnLinkData, UserContactData, UserLinkData,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_crypto::{sha3_256, CbNonce, PrivateKeyEd25519, SbKey};
use simplex_encoding::Encode;
use smp_proto::{Version, VersionRange};

const CONTACT: &str = "simplex:/contact#/?v=2-7&smp=smp%3A%2F%2F1234-w%3D%3D%40smp.simplex.im%3A5223%2F3456-w%3D%3D%23%2F%3Fv%3D1-4%26dh%3DMCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o%253D%26q%3Dm%26k%3Ds%26srv%3Djjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion";
const INVITATION: &str = "simplex:/invitation#/?v=2-7&smp=smp%3A%2F%2F1234-w%3D%3D%40smp.simplex.im%3A5223%2F3456-w%3D%3D%23%2F%3Fv%3D1-4%26dh%3DMCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o%253D%26q%3Dm%26k%3Ds%26srv%3Djjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion&e2e=v%3D1%26x3dh%3DMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D%2CMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D";
const RELAY1: &str = "https://localhost/a#4AkRDmhf64tdRlN406g8lJRg5OCmhD6ynIhi6glOcCM?p=7001&c=LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI";
const RELAY2: &str = "https://localhost/a#4AkRDmhf64tdRlN406g8lJRg5OCmhD6ynIhi6glOcCM";

fn vr() -> VersionRange {
    VersionRange::new(Version(2), Version(7)).expect("range")
}

fn req(s: &str) -> ConnectionRequest {
    ConnectionRequest::parse(s.as_bytes()).expect("connection link")
}

fn rng(n: u64) -> StdRng {
    StdRng::seed_from_u64(n)
}

fn contact_data(direct: bool, owners: Vec<OwnerAuth>, user: &[u8]) -> UserContactData {
    UserContactData {
        direct,
        owners,
        relays: vec![],
        user_data: UserLinkData(user.to_vec()),
    }
}

// Expected values computed with Python's `cryptography` HKDF (SHA-512, empty salt),
// independently of these crates.
#[test]
fn key_derivations_known_answers() {
    let k = LinkKey(*b"0123456789abcdef0123456789abcdef");
    let (id, sb) = contact_short_link_kdf(&k);
    assert_eq!(
        hex::encode(id),
        "7bb6cac6ddda05661de73a9974926c4d3d30f3dd36e0e365"
    );
    assert_eq!(
        hex::encode(sb.as_bytes()),
        "92f91f61f480698b6edcbc6277359f463f5810065e47253f72657bb8847e0ebe"
    );
    assert_eq!(
        hex::encode(inv_short_link_kdf(&k).as_bytes()),
        "7414e908a26d11b2e23016afa771e45d62bcdd72a14237958069e33f9c2c2319"
    );
}

#[test]
fn link_key_is_the_sha3_of_the_fixed_data_and_parts_are_padded() {
    let root = PrivateKeyEd25519::generate(&mut rng(1));
    let user = UserConnLinkData::Invitation(UserLinkData(b"some user data".to_vec()));
    let (link_key, signed) =
        encode_sign_link_data(&root, vr(), &req(INVITATION), Some(b"entity"), &user);
    // `signature (64, with its length) ‖ encoding`, the key over the encoding alone.
    assert_eq!(signed.fixed[0], 64);
    let (sig, fixed) = signed.fixed[1..].split_at(64);
    assert_eq!(link_key.0, sha3_256(fixed));
    assert!(root.public_key().verify(sig.try_into().expect("64"), fixed));
    assert!(fixed.ends_with(b"\x06entity"));
    let enc =
        encrypt_link_data(&mut rng(2), &inv_short_link_kdf(&link_key), &signed).expect("fits");
    assert_eq!(enc.fixed.len(), 24 + 16 + FIXED_DATA_PADDED_LEN);
    assert_eq!(enc.user.len(), 24 + 16 + USER_DATA_PADDED_LEN);
    assert_eq!((enc.fixed.len(), enc.user.len()), (2048, 13824));
    // Deterministic given the nonce: the nonce leads, then the padded box.
    let nonce = CbNonce([9; 24]);
    let sb = SbKey([5; 32]);
    let a = encrypt_data_with_nonce(&sb, &nonce, FIXED_DATA_PADDED_LEN, b"abc").expect("fits");
    let b = encrypt_data_with_nonce(&sb, &nonce, FIXED_DATA_PADDED_LEN, b"abc").expect("fits");
    assert_eq!(a, b);
    assert_eq!(&a[..24], &[9; 24]);
    assert_eq!(
        simplex_crypto::sb_decrypt(&sb, &nonce, &a[24..]).expect("opens"),
        b"abc"
    );
    // The largest part that fits its padding, and one byte more.
    let max = vec![0u8; USER_DATA_PADDED_LEN - 2];
    assert!(encrypt_user_data(&mut rng(3), &sb, &max).is_ok());
    let over = vec![0u8; USER_DATA_PADDED_LEN - 1];
    assert_eq!(
        encrypt_user_data(&mut rng(3), &sb, &over),
        Err(LinkDataError::TooLarge)
    );
}

/// `testInvShortLink`: the owner creates an invitation's link data; the joiner, holding only
/// the printed link, opens it.
#[test]
fn invitation_two_parties() {
    // Owner.
    let root = PrivateKeyEd25519::generate(&mut rng(10));
    let user = UserConnLinkData::Invitation(UserLinkData(b"some user data".to_vec()));
    let (link_key, signed) = encode_sign_link_data(&root, vr(), &req(INVITATION), None, &user);
    let enc =
        encrypt_link_data(&mut rng(11), &inv_short_link_kdf(&link_key), &signed).expect("fits");
    let server = smp_proto::SmpServer::parse_str(b"smp://1234-w==@smp.simplex.im").expect("srv");
    let printed = ShortLink::Invitation(InvitationShortLink {
        scheme: ShortLinkScheme::Server,
        server,
        link_id: vec![7; 24],
        link_key,
    })
    .to_string();
    // Joiner.
    let link = ShortLink::parse(printed.as_bytes()).expect("printed link parses");
    let k = inv_short_link_kdf(link.link_key());
    let (fixed, data) =
        decrypt_link_data(link.mode(), link.link_key(), &k, &enc).expect("opens and verifies");
    assert_eq!(fixed.conn_req, req(INVITATION));
    assert_eq!(fixed.root_key, root.public_key());
    assert_eq!(fixed.entity_id, None);
    assert_eq!(
        data,
        ConnLinkData {
            agent_versions: vr(),
            data: user
        }
    );
    // Read as a contact link, the same data is refused.
    assert!(matches!(
        decrypt_link_data(ConnectionMode::Contact, link.link_key(), &k, &enc),
        Err(LinkDataError::Decode(_))
    ));
}

struct ContactLink {
    root: PrivateKeyEd25519,
    link_key: LinkKey,
    key: SbKey,
    fixed: Vec<u8>,
}

/// The owner's side of `encryptLink`.
fn contact_link(seed: u64) -> ContactLink {
    let root = PrivateKeyEd25519::generate(&mut rng(seed));
    let user = UserConnLinkData::Contact(contact_data(true, vec![], b"some user data"));
    let (link_key, signed) = encode_sign_link_data(&root, vr(), &req(CONTACT), None, &user);
    let (_, key) = contact_short_link_kdf(&link_key);
    let enc = encrypt_link_data(&mut rng(seed + 1), &key, &signed).expect("fits");
    ContactLink {
        root,
        link_key,
        key,
        fixed: enc.fixed,
    }
}

/// `testEncDec` / `testEncDecFail`: new user data signed by `signer`, opened by the joiner.
fn enc_dec(
    l: &ContactLink,
    signer: &PrivateKeyEd25519,
    data: &UserContactData,
) -> Result<UserContactData, LinkDataError> {
    let signed = encode_sign_user_data(signer, vr(), &UserConnLinkData::Contact(data.clone()));
    let user = encrypt_user_data(&mut rng(99), &l.key, &signed).expect("fits");
    let enc = EncryptedLinkData {
        fixed: l.fixed.clone(),
        user,
    };
    let (fixed, got) = decrypt_link_data(ConnectionMode::Contact, &l.link_key, &l.key, &enc)?;
    assert_eq!(fixed.conn_req, req(CONTACT));
    match got.data {
        UserConnLinkData::Contact(c) => Ok(c),
        UserConnLinkData::Invitation(_) => panic!("invitation data"),
    }
}

/// `testContactShortLink`, `testUpdateContactShortLink`: the joiner finds the link ID and key
/// from the printed link, and reads updated data with relay links.
#[test]
fn contact_two_parties_and_update() {
    let l = contact_link(20);
    let printed = ShortLink::Contact(ContactShortLink {
        scheme: ShortLinkScheme::Simplex,
        contact_type: ContactType::Contact,
        server: smp_proto::SmpServer::parse_str(b"smp://1234-w==@smp.simplex.im").expect("srv"),
        link_key: l.link_key,
    })
    .to_string();
    let link = ShortLink::parse(printed.as_bytes()).expect("parses");
    let (link_id, key) = contact_short_link_kdf(link.link_key());
    assert_eq!(key, l.key);
    assert_eq!(link_id, contact_short_link_kdf(&l.link_key).0);
    let relay = |s: &str| match ShortLink::parse(s.as_bytes()).expect("relay") {
        ShortLink::Contact(c) => c,
        ShortLink::Invitation(_) => panic!("invitation"),
    };
    let updated = UserContactData {
        direct: false,
        owners: vec![],
        relays: vec![relay(RELAY1), relay(RELAY2)],
        user_data: UserLinkData(b"updated user data".to_vec()),
    };
    assert_eq!(enc_dec(&l, &l.root, &updated), Ok(updated));
}

/// `testInvShortLinkBadDataHash`, `testContactShortLinkBadDataHash`,
/// `testContactShortLinkBadSignature`, and altered bytes: each refused with its own error.
#[test]
fn tampering_is_refused_distinctly() {
    let l = contact_link(30);
    let data = contact_data(true, vec![], b"some user data");
    let signed_user =
        encode_sign_user_data(&l.root, vr(), &UserConnLinkData::Contact(data.clone()));
    let enc = EncryptedLinkData {
        fixed: l.fixed.clone(),
        user: encrypt_user_data(&mut rng(31), &l.key, &signed_user).expect("fits"),
    };
    let open = |link_key: &LinkKey, key: &SbKey, enc: &EncryptedLinkData| {
        decrypt_link_data(ConnectionMode::Contact, link_key, key, enc).map(|_| ())
    };
    assert_eq!(open(&l.link_key, &l.key, &enc), Ok(()));

    // Hash: data encrypted under the key of another link key.
    for mode in [ConnectionMode::Contact, ConnectionMode::Invitation] {
        let root = PrivateKeyEd25519::generate(&mut rng(32));
        let (conn_req, user) = match mode {
            ConnectionMode::Contact => (req(CONTACT), UserConnLinkData::Contact(data.clone())),
            ConnectionMode::Invitation => (
                req(INVITATION),
                UserConnLinkData::Invitation(UserLinkData(b"x".to_vec())),
            ),
        };
        let (_, signed) = encode_sign_link_data(&root, vr(), &conn_req, None, &user);
        let other = LinkKey([0x5a; 32]);
        let key = match mode {
            ConnectionMode::Contact => contact_short_link_kdf(&other).1,
            ConnectionMode::Invitation => inv_short_link_kdf(&other),
        };
        let enc = encrypt_link_data(&mut rng(33), &key, &signed).expect("fits");
        assert_eq!(
            decrypt_link_data(mode, &other, &key, &enc).map(|_| ()),
            Err(LinkDataError::Hash)
        );
    }

    // Fixed signature: a signature byte altered before encryption (the hash covers only the
    // record, so it still matches).
    let root = PrivateKeyEd25519::generate(&mut rng(34));
    let user = UserConnLinkData::Contact(data.clone());
    let (link_key, mut signed) = encode_sign_link_data(&root, vr(), &req(CONTACT), None, &user);
    signed.fixed[10] ^= 1;
    let key = contact_short_link_kdf(&link_key).1;
    let bad = encrypt_link_data(&mut rng(35), &key, &signed).expect("fits");
    assert_eq!(
        open(&link_key, &key, &bad),
        Err(LinkDataError::FixedSignature)
    );

    // User signature: signed by a key that is neither the root nor an owner.
    let stranger = PrivateKeyEd25519::generate(&mut rng(36));
    assert_eq!(
        enc_dec(
            &l,
            &stranger,
            &contact_data(true, vec![], b"updated user data")
        ),
        Err(LinkDataError::UserSignature)
    );

    // Ciphertext: any altered byte of either part, or the nonce, fails to open.
    for (part, i) in [(0, 0), (0, 30), (0, 2047), (1, 100), (1, 13823)] {
        let mut t = enc.clone();
        let bytes = if part == 0 { &mut t.fixed } else { &mut t.user };
        bytes[i] ^= 0x01;
        assert_eq!(
            open(&l.link_key, &l.key, &t),
            Err(LinkDataError::Decrypt),
            "part {part} byte {i}"
        );
    }
    // The wrong secret-box key.
    assert_eq!(
        open(&l.link_key, &SbKey([1; 32]), &enc),
        Err(LinkDataError::Decrypt)
    );
    // Shorter than a nonce.
    let mut t = enc.clone();
    t.user.truncate(10);
    assert!(matches!(
        open(&l.link_key, &l.key, &t),
        Err(LinkDataError::Decode(_))
    ));
}

fn auth(g: u64, signer: &PrivateKeyEd25519) -> (PrivateKeyEd25519, OwnerAuth) {
    let mut r = rng(g);
    let id: [u8; 16] = rand::Rng::gen(&mut r);
    new_owner_auth(&mut r, &id, signer).expect("owner ID fits")
}

/// `testContactShortLinkOwner`, `testContactShortLinkManyOwners`.
#[test]
fn owners_may_sign_user_data() {
    let l = contact_link(40);
    let (o1k, o1) = auth(41, &l.root);
    let ud = contact_data(true, vec![o1.clone()], b"updated user data");
    assert_eq!(enc_dec(&l, &l.root, &ud).as_ref(), Ok(&ud));
    assert_eq!(enc_dec(&l, &o1k, &ud).as_ref(), Ok(&ud));
    let wrong = PrivateKeyEd25519::generate(&mut rng(42));
    assert_eq!(enc_dec(&l, &wrong, &ud), Err(LinkDataError::UserSignature));

    let (o2k, o2) = auth(43, &l.root);
    let (o3k, o3) = auth(44, &o1k);
    let (o4k, o4) = auth(45, &o1k);
    let (o5k, o5) = auth(46, &o3k);
    let ud = contact_data(true, vec![o1, o2, o3, o4, o5], b"updated user data");
    for k in [&l.root, &o1k, &o2k, &o3k, &o4k, &o5k] {
        assert_eq!(enc_dec(&l, k, &ud).as_ref(), Ok(&ud));
    }
    assert_eq!(enc_dec(&l, &wrong, &ud), Err(LinkDataError::UserSignature));
}

/// `testContactShortLinkInvalidOwners`, with the reference's messages.
#[test]
fn invalid_owners_are_refused() {
    let l = contact_link(50);
    let ud = |owners: Vec<OwnerAuth>| contact_data(true, owners, b"updated user data");
    let id_str = |o: &OwnerAuth| {
        let s = simplex_encoding::string::base64url_encode(&o.owner_id);
        s.trim_end_matches('=').to_string()
    };
    let fails = |data: UserContactData, signer: &PrivateKeyEd25519, msg: String| {
        let err = enc_dec(&l, signer, &data).expect_err("refused");
        assert!(matches!(err, LinkDataError::Owner(_)), "{err:?}");
        assert_eq!(err.to_string(), msg);
    };
    let (ok, owner) = auth(51, &l.root);
    // An owner with the root key.
    let as_root = OwnerAuth {
        owner_key: l.root.public_key(),
        ..owner.clone()
    };
    let msg = format!("owner key for ID {} matches root key", id_str(&owner));
    fails(ud(vec![as_root.clone()]), &l.root, msg.clone());
    fails(ud(vec![as_root]), &ok, msg);
    // Duplicate ID or key.
    let (o1k, o1) = auth(52, &l.root);
    let same_id = OwnerAuth {
        owner_id: owner.owner_id.clone(),
        ..o1.clone()
    };
    let same_key = OwnerAuth {
        owner_key: owner.owner_key,
        ..o1.clone()
    };
    fails(
        ud(vec![owner.clone(), same_id]),
        &l.root,
        format!("duplicate owner key or ID {}", id_str(&owner)),
    );
    fails(
        ud(vec![owner.clone(), same_key]),
        &l.root,
        format!("duplicate owner key or ID {}", id_str(&o1)),
    );
    // Order: an owner must come after the owner who authorised it.
    let (o2k, o2) = auth(53, &ok);
    let in_order = ud(vec![owner.clone(), o1.clone(), o2.clone()]);
    for k in [&l.root, &ok, &o1k, &o2k] {
        assert_eq!(enc_dec(&l, k, &in_order).as_ref(), Ok(&in_order));
    }
    let also = ud(vec![owner.clone(), o2.clone(), o1.clone()]);
    assert_eq!(enc_dec(&l, &l.root, &also).as_ref(), Ok(&also));
    fails(
        ud(vec![o2.clone(), owner.clone(), o1.clone()]),
        &l.root,
        format!("invalid authorization of owner ID {}", id_str(&o2)),
    );
    // Authorised by a key that is no owner.
    let stranger = PrivateKeyEd25519::generate(&mut rng(54));
    let (_, o3) = auth(55, &stranger);
    let msg = format!("invalid authorization of owner ID {}", id_str(&o3));
    fails(ud(vec![o3.clone()]), &l.root, msg.clone());
    fails(ud(vec![owner, o1, o2, o3.clone()]), &l.root, msg);
    assert!(matches!(
        agent_proto::validate_link_owners(&l.root.public_key(), &[o3]),
        Err(OwnerError::Unauthorized { .. })
    ));
    // An owner ID too long for its authorisation's length byte.
    assert_eq!(
        sign_owner_auth(&l.root, &[1; 145], stranger.public_key()).map(|_| ()),
        Err(LinkDataError::TooLarge)
    );
    let long = sign_owner_auth(&l.root, &[1; 144], stranger.public_key()).expect("fits");
    assert_eq!(long.to_bytes().len(), 256);
}
