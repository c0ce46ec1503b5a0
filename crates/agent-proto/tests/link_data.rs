//! The records behind a short link (`FixedLinkData`, `ConnLinkData`, `UserContactData`,
//! `UserLinkData`, `OwnerAuth` of the reference's `Agent/Protocol.hs`): their byte layout,
//! round trips, truncations and the room left for later fields.

use agent_proto::{
    ConnLinkData, ConnectionRequest, ContactShortLink, FixedLinkData, OwnerAuth, ShortLink,
    UserConnLinkData, UserContactData, UserLinkData,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_crypto::PrivateKeyEd25519;
use simplex_encoding::{decode_all, Decode, Encode};
use smp_proto::{Version, VersionRange};

/// `contactConnRequest` of the reference's tests (`ConnectionRequestTests.hs:269`).
const CONTACT: &str = "simplex:/contact#/?v=2-7&smp=smp%3A%2F%2F1234-w%3D%3D%40smp.simplex.im%3A5223%2F3456-w%3D%3D%23%2F%3Fv%3D1-4%26dh%3DMCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o%253D%26q%3Dm%26k%3Ds%26srv%3Djjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion";
/// `ShortLinkTests.hs`'s `relayLink1`.
const RELAY1: &str = "https://localhost/a#4AkRDmhf64tdRlN406g8lJRg5OCmhD6ynIhi6glOcCM?p=7001&c=LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI";

fn vr() -> VersionRange {
    VersionRange::new(Version(2), Version(7)).expect("range")
}

fn contact_req() -> ConnectionRequest {
    ConnectionRequest::parse(CONTACT.as_bytes()).expect("contact link")
}

fn relay() -> ContactShortLink {
    match ShortLink::parse(RELAY1.as_bytes()).expect("relay link") {
        ShortLink::Contact(c) => c,
        ShortLink::Invitation(_) => panic!("not a contact link"),
    }
}

fn key(n: u64) -> PrivateKeyEd25519 {
    PrivateKeyEd25519::generate(&mut StdRng::seed_from_u64(n))
}

fn owner(id: &[u8], n: u64) -> OwnerAuth {
    let k = key(n).public_key();
    OwnerAuth {
        owner_id: id.to_vec(),
        owner_key: k,
        auth_sig: key(0).sign(&OwnerAuth::signed_bytes(id, &k)),
    }
}

/// Every proper prefix fails to decode, or at least does not decode to the value.
fn truncations_fail<T: Decode + PartialEq + std::fmt::Debug>(v: &T, bytes: &[u8]) {
    for n in 0..bytes.len() {
        assert_ne!(decode_all::<T>(&bytes[..n]).as_ref(), Ok(v), "prefix {n}");
    }
}

#[test]
fn fixed_data_layout() {
    let root = key(1).public_key();
    let mut fixed = FixedLinkData {
        agent_versions: vr(),
        root_key: root,
        conn_req: contact_req(),
        entity_id: None,
    };
    let bytes = fixed.to_bytes();
    let mut want = vec![0, 2, 0, 7, 44];
    want.extend_from_slice(&root.to_der());
    want.extend_from_slice(&contact_req().to_bytes());
    assert_eq!(bytes, want);
    assert_eq!(decode_all::<FixedLinkData>(&bytes).as_ref(), Ok(&fixed));
    for n in 0..bytes.len() {
        assert!(decode_all::<FixedLinkData>(&bytes[..n]).is_err(), "{n}");
    }
    // The entity ID follows without a `Maybe` tag.
    fixed.entity_id = Some(b"group-1".to_vec());
    let with_id = fixed.to_bytes();
    assert_eq!(&with_id[..bytes.len()], &bytes[..]);
    assert_eq!(&with_id[bytes.len()..], b"\x07group-1");
    assert_eq!(decode_all::<FixedLinkData>(&with_id).as_ref(), Ok(&fixed));
    truncations_fail(&fixed, &with_id);
    // Later fields are ignored.
    let extended = [&with_id[..], b"later"].concat();
    assert_eq!(decode_all::<FixedLinkData>(&extended), Ok(fixed));
}

#[test]
fn user_link_data_switches_to_a_long_length_after_254_bytes() {
    for (len, prefix) in [
        (0, vec![0]),
        (254, vec![254]),
        (255, vec![255, 0, 255]),
        (300, vec![255, 1, 44]),
    ] {
        let d = UserLinkData(vec![b'x'; len]);
        let bytes = d.to_bytes();
        assert_eq!(&bytes[..prefix.len()], &prefix[..], "{len}");
        assert_eq!(bytes.len(), prefix.len() + len);
        assert_eq!(decode_all::<UserLinkData>(&bytes).as_ref(), Ok(&d));
        truncations_fail(&d, &bytes);
    }
}

#[test]
fn owner_auth_is_length_prefixed() {
    let o = owner(b"member", 2);
    let bytes = o.to_bytes();
    assert_eq!(usize::from(bytes[0]), bytes.len() - 1);
    assert_eq!(&bytes[1..8], b"\x06member");
    assert_eq!(bytes[8], 44);
    assert_eq!(&bytes[9..53], &o.owner_key.to_der()[..]);
    assert_eq!(bytes[53], 64);
    assert_eq!(&bytes[54..], &o.auth_sig[..]);
    assert_eq!(decode_all::<OwnerAuth>(&bytes).as_ref(), Ok(&o));
    truncations_fail(&o, &bytes);
    // An extended authorisation: the extra bytes inside its length are ignored.
    let mut ext = bytes.clone();
    ext.extend_from_slice(b"ext");
    ext[0] += 3;
    assert_eq!(decode_all::<OwnerAuth>(&ext), Ok(o));
    // A signature that is not 64 bytes is refused.
    let mut short_sig = bytes[..bytes.len() - 1].to_vec();
    short_sig[0] -= 1;
    short_sig[53] = 63;
    assert!(decode_all::<OwnerAuth>(&short_sig).is_err());
}

#[test]
fn conn_link_data_layout_and_round_trips() {
    let inv = ConnLinkData {
        agent_versions: vr(),
        data: UserConnLinkData::Invitation(UserLinkData(b"some user data".to_vec())),
    };
    let bytes = inv.to_bytes();
    assert_eq!(bytes, b"I\x00\x02\x00\x07\x0esome user data");
    assert_eq!(decode_all::<ConnLinkData>(&bytes).as_ref(), Ok(&inv));
    truncations_fail(&inv, &bytes);

    let contact = ConnLinkData {
        agent_versions: vr(),
        data: UserConnLinkData::Contact(UserContactData {
            direct: false,
            owners: vec![owner(b"o1", 3), owner(b"o2", 4)],
            relays: vec![relay(), relay()],
            user_data: UserLinkData(b"updated user data".to_vec()),
        }),
    };
    let bytes = contact.to_bytes();
    assert_eq!(&bytes[..7], b"C\x00\x02\x00\x07F\x02");
    assert!(bytes.ends_with(b"\x11updated user data"));
    assert_eq!(decode_all::<ConnLinkData>(&bytes).as_ref(), Ok(&contact));
    truncations_fail(&contact, &bytes);

    // Both records ignore later fields.
    for v in [&inv, &contact] {
        let ext = [&v.to_bytes()[..], b"\x01later"].concat();
        assert_eq!(decode_all::<ConnLinkData>(&ext).as_ref(), Ok(v));
    }
    // Without the versions: the form an application gives.
    let user = UserConnLinkData::Contact(UserContactData::default());
    assert_eq!(user.to_bytes(), b"CF\x00\x00\x00");
    assert_eq!(decode_all::<UserConnLinkData>(&user.to_bytes()), Ok(user));
    assert!(decode_all::<ConnLinkData>(b"X\x00\x02\x00\x07\x00").is_err());
    assert!(decode_all::<ConnLinkData>(b"I\x00\x07\x00\x02\x00").is_err());
}
