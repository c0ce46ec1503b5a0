//! One transmission (authorization, correlation ID, entity ID, command), decoded as the server
//! and as the client would, and the exact authorized bytes computed.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((v, body)) = common::split_version(data) else {
        return;
    };
    let session = [3u8; 32];
    if let Ok(raw) = smp_proto::transmission::RawTransmission::decode(v, body) {
        let _ = raw.authorized(&session);
    }
    let _ = smp_proto::transmission::decode_server_transmission(v, &session, body);
    let _ = smp_proto::transmission::decode_client_transmission(v, &session, body);
});
