//! Known-answer tests of connection links and queue URIs, with the strings of the reference's
//! `tests/AgentTests/ConnectionRequestTests.hs` (test data: facts about the format), verbatim,
//! including its 4-byte test server identity `1234-w==` (a key hash is any byte string).

use agent_proto::{
    AgentProtoError, ConnReqUriData, ConnectionRequest, ContactRequest, InvitationRequest,
};
use simplex_crypto::{PublicKeyX25519, PublicKeyX448};
use simplex_encoding::string::{base64url_decode, percent_encode};
use simplex_encoding::{decode_all, Encode};
use simplex_ratchet::{E2ERatchetParamsUri, VersionRangeE2E, X448};
use smp_proto::address::{SmpServer, TransportHost};
use smp_proto::keys::parse_key_hash;
use smp_proto::{QueueMode, SmpQueueUri, Version, VersionRange};

const KH: &str = "1234-w==";
const ONION: &str = "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion";
/// `strEncode testDhKey`.
const DH: &str = "MCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o=";
/// `testE2ERatchetParamsStrUri`, verbatim.
const E2E: &str = "v%3D1%26x3dh%3DMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D%2CMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D";

/// `urlEncode True` of http-types.
fn url(s: &str) -> String {
    let mut out = String::new();
    percent_encode(s.as_bytes(), &mut out);
    out
}

fn vr(min: u16, max: u16) -> VersionRange {
    VersionRange::new(Version(min), Version(max)).expect("range")
}

fn server(onion: bool, port: bool) -> SmpServer {
    let mut hosts = vec![TransportHost::Domain("smp.simplex.im".into())];
    if onion {
        hosts.push(TransportHost::Onion(ONION.into()));
    }
    SmpServer {
        hosts,
        port: port.then_some(5223),
        key_hash: parse_key_hash(KH.as_bytes()).expect("key hash"),
    }
}

fn queue(versions: VersionRange, srv: SmpServer, mode: Option<QueueMode>) -> SmpQueueUri {
    let dh = base64url_decode(DH.as_bytes()).expect("base64");
    SmpQueueUri {
        client_versions: versions,
        server: srv,
        sender_id: vec![223, 142, b'z', 251],
        dh_public_key: PublicKeyX25519::from_der(&dh).expect("X25519 key"),
        queue_mode: mode,
    }
}

const M: Option<QueueMode> = Some(QueueMode::Messaging);

fn queue_str() -> String {
    format!(
        "smp://{KH}@smp.simplex.im:5223/3456-w==#/?v=1-4&dh={}&q=m&k=s&srv={ONION}",
        url(DH)
    )
}
fn queue_str_no_qm() -> String {
    format!(
        "smp://{KH}@smp.simplex.im:5223/3456-w==#/?v=1-4&dh={}&srv={ONION}",
        url(DH)
    )
}
fn queue_str_contact() -> String {
    format!(
        "smp://{KH}@smp.simplex.im:5223/3456-w==#/?v=1-4&dh={}&q=c&srv={ONION}",
        url(DH)
    )
}
fn queue1_str() -> String {
    format!(
        "smp://{KH}@smp.simplex.im:5223/3456-w==#/?v=1-4&dh={}&q=m&k=s",
        url(DH)
    )
}
fn queue_new_str() -> String {
    format!(
        "smp://{KH}@smp.simplex.im,{ONION}:5223/3456-w==#/?v=2-4&dh={}&q=m&k=s",
        url(DH)
    )
}
fn queue_new1_str() -> String {
    format!(
        "smp://{KH}@smp.simplex.im:5223/3456-w==#/?v=2-4&dh={}&q=m&k=s",
        url(DH)
    )
}

/// `a #==# s`: prints as `s` and parses back from it.
fn both(q: &SmpQueueUri, s: &str) {
    assert_eq!(q.to_string(), s);
    parses_to(q, s);
}

/// `a #== s`: parses from `s`.
fn parses_to(q: &SmpQueueUri, s: &str) {
    assert_eq!(SmpQueueUri::parse_str(s.as_bytes()).as_ref(), Ok(q), "{s}");
}

#[test]
fn url_escapes_like_http_types() {
    assert_eq!(url("=&,;:/#?% +"), "%3D%26%2C%3B%3A%2F%23%3F%25%20%2B");
    assert_eq!(url("az-_.~AZ09"), "az-_.~AZ09");
}

#[test]
fn queue_uris() {
    let queue_v = |v, onion, port, mode| queue(v, server(onion, port), mode);
    let q = queue_v(vr(1, 4), true, true, M);
    both(&q, &queue_str());
    parses_to(
        &q,
        &format!("smp://{KH}@smp.simplex.im:5223/3456-w==#{DH}/?v=1-4&extra_param=abc&srv={ONION}&q=m&k=s"),
    );
    both(&queue_v(vr(1, 4), true, true, None), &queue_str_no_qm());
    both(
        &queue_v(vr(1, 4), true, true, Some(QueueMode::Contact)),
        &queue_str_contact(),
    );
    both(&queue_v(vr(1, 4), false, true, M), &queue1_str());
    let new = queue_v(vr(2, 4), true, true, M);
    both(&new, &queue_new_str());
    parses_to(
        &new,
        &format!("smp://{KH}@smp.simplex.im,{ONION}:5223/3456-w==#/?v=2-4&dh={DH}&q=m&k=s"),
    );
    both(&queue_v(vr(2, 4), false, true, M), &queue_new1_str());
    both(
        &queue_v(vr(2, 4), true, false, M),
        &format!(
            "smp://{KH}@smp.simplex.im,{ONION}/3456-w==#/?v=2-4&dh={}&q=m&k=s",
            url(DH)
        ),
    );
    both(
        &queue_v(vr(2, 4), false, false, M),
        &format!(
            "smp://{KH}@smp.simplex.im/3456-w==#/?v=2-4&dh={}&q=m&k=s",
            url(DH)
        ),
    );
    let v1 = queue_v(vr(1, 1), true, true, None);
    both(
        &v1,
        &format!(
            "smp://{KH}@smp.simplex.im:5223/3456-w==#/?v=1&dh={}&srv={ONION}",
            url(DH)
        ),
    );
    parses_to(
        &v1,
        &format!("smp://{KH}@smp.simplex.im,{ONION}:5223/3456-w==#{DH}"),
    );
    parses_to(
        &v1,
        &format!(
            "smp://{KH}@smp.simplex.im:5223/3456-w==#/?extra_param=abc&v=1&dh={DH}&srv={ONION}"
        ),
    );
    parses_to(
        &v1,
        &format!("smp://{KH}@smp.simplex.im:5223/3456-w==#{DH}/?v=1&extra_param=abc&srv={ONION}"),
    );
    let v1_no_port = queue_v(vr(1, 1), true, false, None);
    both(
        &v1_no_port,
        &format!(
            "smp://{KH}@smp.simplex.im/3456-w==#/?v=1&dh={}&srv={ONION}",
            url(DH)
        ),
    );
    parses_to(
        &v1_no_port,
        &format!(
            "smp://{KH}@smp.simplex.im/3456-w==#/?v=1-1&dh={}&srv={ONION}",
            url(DH)
        ),
    );
    parses_to(
        &v1_no_port,
        &format!("smp://{KH}@smp.simplex.im,{ONION}/3456-w==#{DH}"),
    );
}

fn e2e() -> E2ERatchetParamsUri<X448> {
    let der = base64url_decode(
        b"MEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U=",
    )
    .expect("base64");
    let k = PublicKeyX448::from_der(&der).expect("X448 key");
    E2ERatchetParamsUri {
        versions: VersionRangeE2E::new(1, 1).expect("range"),
        key1: k,
        key2: k,
        kem: None,
    }
}

fn data(versions: VersionRange, queues: Vec<SmpQueueUri>) -> ConnReqUriData {
    ConnReqUriData {
        agent_versions: versions,
        smp_queues: queues,
        client_data: None,
    }
}

fn inv(d: ConnReqUriData) -> ConnectionRequest {
    ConnectionRequest::Invitation(InvitationRequest {
        data: d,
        e2e: e2e(),
    })
}

fn contact(d: ConnReqUriData) -> ConnectionRequest {
    ConnectionRequest::Contact(ContactRequest { data: d })
}

fn link_both(c: &ConnectionRequest, s: &str) {
    assert_eq!(c.to_string(), s);
    link_parses_to(c, s);
}

fn link_parses_to(c: &ConnectionRequest, s: &str) {
    assert_eq!(
        ConnectionRequest::parse(s.as_bytes()).as_ref(),
        Ok(c),
        "{s}"
    );
}

/// The binary form round-trips (`smpEncodingTest`).
fn binary_round_trip(c: &ConnectionRequest) {
    let bytes = c.to_bytes();
    assert_eq!(decode_all::<ConnectionRequest>(&bytes).as_ref(), Ok(c));
}

#[test]
fn invitations_and_contact_addresses() {
    let q = || queue(vr(1, 4), server(true, true), M);
    let q_no_qm = queue(vr(1, 4), server(true, true), None);
    let q_contact = queue(vr(1, 4), server(true, true), Some(QueueMode::Contact));
    let q1 = queue(vr(1, 4), server(false, true), M);
    let q_new = || queue(vr(2, 4), server(true, true), M);
    let q_new1 = queue(vr(2, 4), server(false, true), M);
    let all = vr(2, 7);
    let enc = |s: &str| url(s);

    let cr = inv(data(all, vec![q()]));
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&queue_str())
        ),
    );
    link_parses_to(
        &cr,
        &format!(
            "https://simplex.chat/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&queue_str())
        ),
    );
    binary_round_trip(&cr);
    let cr = inv(data(all, vec![q_no_qm]));
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&queue_str_no_qm())
        ),
    );
    let cr = inv(data(all, vec![q1.clone()]));
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&queue1_str())
        ),
    );
    binary_round_trip(&cr);
    let cr = inv(data(all, vec![q(), q()]));
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&format!("{};{}", queue_str(), queue_str()))
        ),
    );
    binary_round_trip(&cr);
    let cr = inv(data(all, vec![q_new()]));
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&queue_new_str())
        ),
    );
    binary_round_trip(&cr);
    let cr = inv(data(all, vec![q_new1.clone()]));
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&queue_new1_str())
        ),
    );
    binary_round_trip(&cr);
    let cr = inv(data(all, vec![q_new(), q_new()]));
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}",
            enc(&format!("{};{}", queue_new_str(), queue_new_str()))
        ),
    );
    binary_round_trip(&cr);
    // An invitation keeps its version range as written, even v1.
    let cr = inv(data(vr(1, 1), vec![q()]));
    link_parses_to(
        &cr,
        &format!(
            "https://simplex.chat/invitation#/?v=1&smp={}&e2e={E2E}",
            enc(&queue_str())
        ),
    );
    let mut d = data(all, vec![q()]);
    d.client_data = Some("{}".into());
    let cr = inv(d);
    link_both(
        &cr,
        &format!(
            "simplex:/invitation#/?v=2-7&smp={}&e2e={E2E}&data={}",
            enc(&queue_str()),
            url("{}")
        ),
    );
    binary_round_trip(&cr);

    let ca = contact(data(all, vec![q()]));
    link_both(
        &ca,
        &format!("simplex:/contact#/?v=2-7&smp={}", enc(&queue_str())),
    );
    link_parses_to(
        &ca,
        &format!(
            "https://simplex.chat/contact#/?v=2-7&smp={}",
            enc(&queue_str())
        ),
    );
    binary_round_trip(&ca);
    binary_round_trip(&contact(data(all, vec![q_contact])));
    let ca = contact(data(all, vec![q(), q()]));
    link_both(
        &ca,
        &format!(
            "simplex:/contact#/?v=2-7&smp={}",
            enc(&format!("{};{}", queue_str(), queue_str()))
        ),
    );
    binary_round_trip(&ca);
    let ca = contact(data(all, vec![q_new()]));
    link_both(
        &ca,
        &format!("simplex:/contact#/?v=2-7&smp={}", enc(&queue_new_str())),
    );
    binary_round_trip(&ca);
    let ca = contact(data(all, vec![q_new(), q_new()]));
    link_both(
        &ca,
        &format!(
            "simplex:/contact#/?v=2-7&smp={}",
            enc(&format!("{};{}", queue_new_str(), queue_new_str()))
        ),
    );
    binary_round_trip(&ca);
    // Contact links are raised to agent v2.
    let ca = contact(data(vr(2, 2), vec![q()]));
    link_both(
        &ca,
        &format!("simplex:/contact#/?v=2&smp={}", enc(&queue_str())),
    );
    for v in ["1", "1-2", "2-2"] {
        link_parses_to(
            &ca,
            &format!(
                "https://simplex.chat/contact#/?v={v}&smp={}",
                enc(&queue_str())
            ),
        );
    }
    binary_round_trip(&ca);
    let mut d = data(all, vec![q()]);
    d.client_data = Some(r#"{"type":"group_link", "group_link_id":"abc"}"#.into());
    let ca = contact(d);
    link_both(
        &ca,
        &format!(
            "simplex:/contact#/?v=2-7&smp={}&data={}",
            enc(&queue_str()),
            url(r#"{"type":"group_link", "group_link_id":"abc"}"#)
        ),
    );
    binary_round_trip(&ca);
    let _ = q1;
}

#[test]
fn lenient_reading_canonical_printing() {
    let q = queue(vr(2, 4), server(false, true), M);
    let canonical = format!("simplex:/contact#/?v=2-7&smp={}", url(&queue_new1_str()));
    let want = contact(data(vr(2, 7), vec![q]));
    // `/` before `#`, an https host with a port, unknown and repeated parameters (first wins),
    // and `;` as a parameter separator.
    for s in [
        format!("simplex:/contact/#/?v=2-7&smp={}", url(&queue_new1_str())),
        format!(
            "https://example.com:8443/contact#/?x=1&v=2-7&smp={}&v=3",
            url(&queue_new1_str())
        ),
        format!(
            "https://simplex.chat/contact#/?x=1;v=2-7;smp={}",
            url(&queue_new1_str())
        ),
    ] {
        let c = ConnectionRequest::parse(s.as_bytes()).expect(&s);
        assert_eq!(c, want);
        assert_eq!(c.to_string(), canonical);
    }
    for bad in [
        format!("simplex:/contact#/?v=2-7&smp={} ", url(&queue_new1_str())),
        // An empty queue after the separator (escaped: a bare `;` separates parameters).
        format!(
            "simplex:/contact#/?v=2-7&smp={}",
            url(&format!("{};", queue_new1_str()))
        ),
        format!("simplex:/contact#/?v=7-2&smp={}", url(&queue_new1_str())),
        format!("simplex:/contact#?v=2-7&smp={}", url(&queue_new1_str())),
        format!("simplex:/group#/?v=2-7&smp={}", url(&queue_new1_str())),
        format!(
            "http://simplex.chat/contact#/?v=2-7&smp={}",
            url(&queue_new1_str())
        ),
        "simplex:/contact#/?v=2-7".to_string(),
        format!("simplex:/invitation#/?v=2-7&smp={}", url(&queue_new1_str())),
    ] {
        assert!(ConnectionRequest::parse(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn a_32_byte_key_hash_works_as_well() {
    let kh = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=";
    let s = format!(
        "smp://{kh}@smp.simplex.im:5223/3456-w==#/?v=1-4&dh={}&q=m&k=s",
        url(DH)
    );
    let q = SmpQueueUri::parse_str(s.as_bytes()).expect("queue URI");
    assert_eq!(q.server.key_hash.as_bytes().len(), 32);
    assert_eq!(q.to_string(), s);
    let link = format!("simplex:/contact#/?v=2-7&smp={}", url(&s));
    let parsed = ConnectionRequest::parse(link.as_bytes()).expect("link");
    assert_eq!(parsed.to_string(), link);
    // An empty key hash is not base64url, in a queue URI as in the reference.
    let empty = s.replace(kh, "");
    assert!(matches!(
        ConnectionRequest::parse(
            format!("simplex:/contact#/?v=2-7&smp={}", url(&empty)).as_bytes()
        ),
        Err(AgentProtoError::Decode(_))
    ));
}
