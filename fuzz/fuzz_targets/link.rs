//! Connection links as a user pastes them — full (`simplex:/invitation#/?…`, `/contact`,
//! `https://host/…`) and short (`https://host/{i,a,g,c,r}#…`, `simplex:/a#…?h=…`): parsing never
//! panics, and a parsed link prints to a canonical form that parses back to the same value and
//! prints identically. A parsed short link also survives its binary form (scheme aside).
#![no_main]
use agent_proto::{ConnectionLink, ShortLink};
use libfuzzer_sys::fuzz_target;
use simplex_encoding::{decode_all, Encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(link) = ConnectionLink::parse(data) {
        let printed = link.to_string();
        let again = ConnectionLink::parse(printed.as_bytes()).expect("a printed link parses");
        assert_eq!(again, link);
        assert_eq!(again.to_string(), printed);
        if let ConnectionLink::Short(short) = link {
            let back: ShortLink = decode_all(&short.to_bytes()).expect("binary round trip");
            assert_eq!(back.to_simplex_scheme(), short.to_simplex_scheme());
        }
    }
    // Short links in binary form (relay links inside contact link data).
    let _ = decode_all::<ShortLink>(data);
});
