//! A whole 16 KiB transport block as the server receives it: unpad, split the batch, then
//! decode and check every transmission. Nothing may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((v, body)) = common::split_version(data) else {
        return;
    };
    // Fuzz the content of a block: pad what the fuzzer gives into a real block when it fits,
    // so the mutator spends its time past the length prefix, and also try the raw bytes.
    let mut block = body.to_vec();
    if body.len() <= 16382 {
        if let Ok(padded) = simplex_encoding::pad(body, 16384) {
            block = padded;
        }
    }
    for candidate in [&block[..], body] {
        if let Ok(ts) = smp_proto::block::decode_block(candidate) {
            for t in ts {
                let _ = smp_proto::transmission::decode_server_transmission(v, &[7u8; 32], t);
                let _ = smp_proto::transmission::decode_client_transmission(v, &[7u8; 32], t);
            }
        }
    }
});
