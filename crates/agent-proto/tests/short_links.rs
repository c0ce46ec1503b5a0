//! Short links with the strings of the reference's `tests/AgentTests/ConnectionRequestTests.hs`
//! ("should serialize / parse short links", "should shorten / restore short links") and
//! `ShortLinkTests.hs` (its relay links), verbatim: what they parse to, and that they print
//! back identically.

use agent_proto::{
    AgentProtoError, ConnectionLink, ConnectionMode, ContactShortLink, ContactType,
    InvitationShortLink, LinkKey, ShortLink, ShortLinkScheme,
};
use simplex_encoding::{decode_all, Encode};
use smp_proto::address::{SmpServer, TransportHost};
use smp_proto::keys::{parse_key_hash, KeyHash};

const ONION: &str = "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion";
const KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
const LINK_ID: &[u8] = b"0123456789abcdef01234567";

/// `srv`: `smp://1234-w==@smp.simplex.im,<onion>:5223`.
fn srv() -> SmpServer {
    SmpServer {
        hosts: vec![
            TransportHost::Domain("smp.simplex.im".into()),
            TransportHost::Onion(ONION.into()),
        ],
        port: Some(5223),
        key_hash: parse_key_hash(b"1234-w==").expect("key hash"),
    }
}

/// `shortSrv`: only the host.
fn short_srv() -> SmpServer {
    SmpServer {
        hosts: vec![TransportHost::Domain("smp.simplex.im".into())],
        port: None,
        key_hash: KeyHash::empty(),
    }
}

fn contact(scheme: ShortLinkScheme, ct: ContactType, server: SmpServer) -> ShortLink {
    ShortLink::Contact(ContactShortLink {
        scheme,
        contact_type: ct,
        server,
        link_key: LinkKey(*KEY),
    })
}

fn inv(scheme: ShortLinkScheme, server: SmpServer) -> ShortLink {
    ShortLink::Invitation(InvitationShortLink {
        scheme,
        server,
        link_id: LINK_ID.to_vec(),
        link_key: LinkKey(*KEY),
    })
}

/// `a #==# s`: prints as `s`, parses back from it, and survives the binary form.
fn both(l: &ShortLink, s: &str) {
    assert_eq!(l.to_string(), s);
    assert_eq!(ShortLink::parse(s.as_bytes()).as_ref(), Ok(l), "{s}");
    assert_eq!(
        ConnectionLink::parse(s.as_bytes()),
        Ok(ConnectionLink::Short(l.clone()))
    );
    let back: ShortLink = decode_all(&l.to_bytes()).expect("binary");
    assert_eq!(back.to_simplex_scheme(), l.to_simplex_scheme());
}

#[test]
fn short_links_of_the_reference() {
    use ContactType::{Contact, Group};
    use ShortLinkScheme::{Server, Simplex};
    let q = format!("?h={ONION}&p=5223&c=1234-w");
    let qs = format!("?h=smp.simplex.im%2C{ONION}&p=5223&c=1234-w");
    let k = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
    let id = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3";
    both(
        &contact(Server, Contact, srv()),
        &format!("https://smp.simplex.im/a#{k}{q}"),
    );
    both(
        &contact(Server, Group, srv()),
        &format!("https://smp.simplex.im/g#{k}{q}"),
    );
    both(
        &contact(Server, Contact, short_srv()),
        &format!("https://smp.simplex.im/a#{k}"),
    );
    both(
        &inv(Server, srv()),
        &format!("https://smp.simplex.im/i#{id}/{k}{q}"),
    );
    both(
        &inv(Server, short_srv()),
        &format!("https://smp.simplex.im/i#{id}/{k}"),
    );
    both(
        &contact(Simplex, Contact, srv()),
        &format!("simplex:/a#{k}{qs}"),
    );
    both(
        &contact(Simplex, Group, srv()),
        &format!("simplex:/g#{k}{qs}"),
    );
    both(
        &contact(Simplex, Contact, short_srv()),
        &format!("simplex:/a#{k}?h=smp.simplex.im"),
    );
    both(&inv(Simplex, srv()), &format!("simplex:/i#{id}/{k}{qs}"));
    both(
        &inv(Simplex, short_srv()),
        &format!("simplex:/i#{id}/{k}?h=smp.simplex.im"),
    );
    assert_eq!(inv(Server, srv()).mode(), ConnectionMode::Invitation);
    assert_eq!(
        contact(Server, Group, srv()).mode(),
        ConnectionMode::Contact
    );
}

#[test]
fn lenient_reading_canonical_printing() {
    let k = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
    // The type letter in either case, `/` before `#`, a padded key, parameters in any order,
    // unknown ones ignored, a port with leading zeros.
    for (input, want) in [
        (
            format!("https://smp.simplex.im/A#{k}"),
            format!("https://smp.simplex.im/a#{k}"),
        ),
        (
            format!("https://smp.simplex.im/c/#{k}="),
            format!("https://smp.simplex.im/c#{k}"),
        ),
        (
            format!("simplex:/r#{k}?x=1&c=1234-w==&p=05223&h=smp.simplex.im"),
            format!("simplex:/r#{k}?h=smp.simplex.im&p=5223&c=1234-w"),
        ),
    ] {
        let l = ShortLink::parse(input.as_bytes()).expect(&input);
        assert_eq!(l.to_string(), want);
    }
    let channel = ShortLink::parse(format!("simplex:/C#{k}?h=a.b").as_bytes()).expect("C");
    assert!(matches!(
        channel,
        ShortLink::Contact(ContactShortLink {
            contact_type: ContactType::Channel,
            ..
        })
    ));
}

#[test]
fn malformed_short_links_are_refused() {
    let k = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
    let id = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3";
    for bad in [
        // No server: a `simplex:` link needs `h=`.
        format!("simplex:/a#{k}"),
        format!("simplex:/a#{k}?p=5223"),
        // Unknown type; `I` is not `i`.
        format!("https://smp.simplex.im/x#{k}"),
        format!("https://smp.simplex.im/I#{id}/{k}"),
        // Invitation without its link ID, or without the key.
        format!("https://smp.simplex.im/i#{k}"),
        format!("https://smp.simplex.im/i#{id}/"),
        // A key that is not 32 bytes.
        "https://smp.simplex.im/a#MDEy".to_string(),
        // Trailing characters, a bad port, an empty key hash, another scheme.
        format!("https://smp.simplex.im/a#{k} "),
        format!("https://smp.simplex.im/a#{k}?p=x"),
        format!("https://smp.simplex.im/a#{k}?c="),
        format!("http://smp.simplex.im/a#{k}"),
        format!("https://smp.simplex.im/a{k}"),
        String::new(),
    ] {
        assert!(ShortLink::parse(bad.as_bytes()).is_err(), "{bad}");
        assert!(ConnectionLink::parse(bad.as_bytes()).is_err(), "{bad}");
    }
    // A short-looking link reports the short link's error, not the full link's.
    assert_eq!(
        ConnectionLink::parse(format!("simplex:/a#{k}").as_bytes()),
        Err(AgentProtoError::Link("short link without server"))
    );
}

#[test]
fn binary_form_and_its_truncations() {
    for l in [
        inv(ShortLinkScheme::Server, srv()),
        contact(ShortLinkScheme::Server, ContactType::Relay, short_srv()),
    ] {
        let bytes = l.to_bytes();
        assert_eq!(decode_all::<ShortLink>(&bytes), Ok(l.clone()));
        for n in 0..bytes.len() {
            assert!(decode_all::<ShortLink>(&bytes[..n]).is_err(), "{n}");
        }
    }
    // `'C'`, the type letter, then the server; the scheme is not written.
    let c = contact(ShortLinkScheme::Simplex, ContactType::Group, short_srv());
    let bytes = c.to_bytes();
    assert_eq!(&bytes[..3], b"CG\x01");
    assert_eq!(&bytes[bytes.len() - 33..], &[&[32u8][..], KEY].concat()[..]);
    let ShortLink::Contact(back) = decode_all::<ShortLink>(&bytes).expect("decodes") else {
        panic!("not a contact link");
    };
    assert_eq!(back.scheme, ShortLinkScheme::Server);
    let bad_type = [&b"CX"[..], &bytes[2..]].concat();
    assert!(decode_all::<ShortLink>(&bad_type).is_err());
}

#[test]
fn shorten_and_restore_as_the_reference() {
    let c = |s: SmpServer| contact(ShortLinkScheme::Server, ContactType::Contact, s);
    let presets = [srv()];
    let srv_onion = SmpServer {
        hosts: vec![TransportHost::Onion(ONION.into())],
        ..srv()
    };
    let srv1 = SmpServer {
        hosts: vec![TransportHost::Domain("smp.simplex.im".into())],
        ..srv()
    };
    let srv2 = SmpServer {
        hosts: vec![TransportHost::Domain("smp2.simplex.im".into())],
        ..srv()
    };
    assert_eq!(c(srv()).shorten(&presets), c(short_srv()));
    // Only the onion host of a preset server: not shortened.
    assert_eq!(c(srv_onion.clone()).shorten(&presets), c(srv_onion));
    // Only the public host of a preset server: shortened.
    assert_eq!(c(srv1.clone()).shorten(&presets), c(short_srv()));
    assert_eq!(c(srv2.clone()).shorten(&presets), c(srv2.clone()));
    assert_eq!(c(short_srv()).restore(&presets), c(srv()));
    // A link with the key hash of the preset's public host is left as it is.
    assert_eq!(c(srv1.clone()).restore(&presets), c(srv1));
    assert_eq!(
        c(short_srv()).restore(std::slice::from_ref(&srv2)),
        c(short_srv())
    );
    assert_eq!(c(srv2.clone()).restore(&presets), c(srv2));

    let preset =
        SmpServer::parse_str(b"smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:7001")
            .expect("preset");
    for (long, short) in [
        (
            "https://localhost/a#4AkRDmhf64tdRlN406g8lJRg5OCmhD6ynIhi6glOcCM?p=7001&c=LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI",
            "https://localhost/a#4AkRDmhf64tdRlN406g8lJRg5OCmhD6ynIhi6glOcCM",
        ),
        (
            "https://localhost/i#tnUaHYp8saREmyEHR93SBpl8ySHBchOt/LJ1ZQUzxH9Udb0jw5wmJACv5o6oe8e7BsX_hUCUMTSY?p=7001&c=LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI",
            "https://localhost/i#tnUaHYp8saREmyEHR93SBpl8ySHBchOt/LJ1ZQUzxH9Udb0jw5wmJACv5o6oe8e7BsX_hUCUMTSY",
        ),
    ] {
        let long_link = ShortLink::parse(long.as_bytes()).expect(long);
        let short_link = ShortLink::parse(short.as_bytes()).expect(short);
        assert_eq!(long_link.to_string(), long);
        assert_eq!(short_link.to_string(), short);
        assert_eq!(long_link.shorten(std::slice::from_ref(&preset)), short_link);
        assert_eq!(short_link.restore(std::slice::from_ref(&preset)), long_link);
        assert_eq!(short_link.server().key_hash, KeyHash::empty());
        assert_eq!(long_link.server(), &preset);
    }
}

mod generated {
    use super::*;
    use proptest::prelude::*;

    fn host() -> impl Strategy<Value = TransportHost> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(TransportHost::Ipv4),
            any::<u128>().prop_map(|a| TransportHost::Ipv6(a.into())),
            "[a-z2-7]{16}".prop_map(|h| TransportHost::Onion(format!("{h}.onion"))),
            // No `.onion` ending: such a name reads as an onion host.
            "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,4}){1,2}".prop_map(TransportHost::Domain),
        ]
    }

    fn server() -> impl Strategy<Value = SmpServer> {
        (
            proptest::collection::vec(host(), 1..4),
            proptest::option::of(any::<u16>()),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(hosts, port, kh)| SmpServer {
                hosts,
                port,
                key_hash: KeyHash::from_slice(&kh).expect("short"),
            })
    }

    fn link() -> impl Strategy<Value = ShortLink> {
        let scheme = prop_oneof![
            Just(ShortLinkScheme::Simplex),
            Just(ShortLinkScheme::Server)
        ];
        let ct = prop_oneof![
            Just(ContactType::Contact),
            Just(ContactType::Channel),
            Just(ContactType::Group),
            Just(ContactType::Relay),
        ];
        let id = proptest::collection::vec(any::<u8>(), 1..40);
        (
            scheme,
            proptest::option::of(ct),
            server(),
            id,
            any::<[u8; 32]>(),
        )
            .prop_map(|(scheme, ct, server, link_id, k)| match ct {
                Some(contact_type) => ShortLink::Contact(ContactShortLink {
                    scheme,
                    contact_type,
                    server,
                    link_key: LinkKey(k),
                }),
                None => ShortLink::Invitation(InvitationShortLink {
                    scheme,
                    server,
                    link_id,
                    link_key: LinkKey(k),
                }),
            })
    }

    proptest! {
        /// Any link prints to a string that parses back to it and prints identically, and
        /// survives its binary form.
        #[test]
        fn print_parse_round_trip(l in link()) {
            let s = l.to_string();
            prop_assert_eq!(ShortLink::parse(s.as_bytes()), Ok(l.clone()));
            let back: ShortLink = decode_all(&l.to_bytes()).expect("binary");
            prop_assert_eq!(back.to_simplex_scheme(), l.to_simplex_scheme());
        }

        /// A link with bytes changed never panics the parser, and what parses is canonical
        /// after one printing.
        #[test]
        fn altered_links_never_panic(l in link(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
            let mut s = l.to_string().into_bytes();
            for (i, b) in edits {
                let i = i % s.len();
                s[i] = b;
            }
            if let Ok(p) = ConnectionLink::parse(&s) {
                let printed = p.to_string();
                let again = ConnectionLink::parse(printed.as_bytes()).expect("printed parses");
                prop_assert_eq!(&again, &p);
                prop_assert_eq!(again.to_string(), printed);
            }
        }
    }
}
