//! XFTP file descriptions and the links that carry them. Parsing never panics; a parsed
//! description prints to YAML that parses again, and after that one normalisation (replicas
//! regrouped by server, as the reference does) printing and parsing are a fixed point. The
//! exception, shared with the reference: an IPv6 host with a port prints without brackets,
//! so `::1:80` reads back as one address; such descriptions are only checked not to panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xftp_proto::description::split_descriptions;
use xftp_proto::uri::decode_web_uri;
use xftp_proto::{FileDescription, FileDescriptionUri};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(fd) = FileDescription::from_yaml(text) {
        let once = FileDescription::from_yaml(&fd.to_yaml()).expect("a printed description parses");
        let ipv6_port = once.chunks.iter().flat_map(|c| &c.replicas).any(|r| {
            r.server.port.is_some()
                && r.server.hosts.iter().any(|h| matches!(h, smp_proto::TransportHost::Ipv6(_)))
        });
        if ipv6_port {
            return;
        }
        let yaml = once.to_yaml();
        let twice = FileDescription::from_yaml(&yaml).expect("parses again");
        assert_eq!(twice, once);
        assert_eq!(twice.to_yaml(), yaml);
        if once.validate().is_ok() && once.party == xftp_proto::FileParty::Recipient {
            let uri = FileDescriptionUri::new(once.clone()).to_uri();
            assert_eq!(FileDescriptionUri::parse(&uri).expect("own link parses").description, once);
        }
    }
    let _ = split_descriptions(text);
    let _ = FileDescriptionUri::parse(text);
    let _ = decode_web_uri(text);
});
