//! Connection links (`simplex:/invitation#/?…`, `/contact`, `https://host/…`) as a user pastes
//! them: parsing never panics, and a parsed link prints to a canonical form that parses back to
//! the same value and prints identically.
#![no_main]
use agent_proto::ConnectionRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(link) = ConnectionRequest::parse(data) {
        let printed = link.to_string();
        let again = ConnectionRequest::parse(printed.as_bytes()).expect("a printed link parses");
        assert_eq!(again, link);
        assert_eq!(again.to_string(), printed);
    }
});
