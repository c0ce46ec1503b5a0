//! The server and client hello records and the server's third block (v16 services), raw and
//! inside a padded block; what decodes must encode into a block that decodes to the same
//! record.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smp_proto::{ClientHello, ServerHandshakeResponse, ServerHello};

fuzz_target!(|data: &[u8]| {
    if let Ok(hello) = ServerHello::decode(data) {
        if let Ok(block) = hello.encode_block() {
            let again = ServerHello::decode_block(&block).expect("an encoded server hello decodes");
            assert_eq!(again, hello);
        }
    }
    if let Ok(hello) = ClientHello::decode(data) {
        if let Ok(block) = hello.encode_block() {
            let again = ClientHello::decode_block(&block).expect("an encoded client hello decodes");
            assert_eq!(again, hello);
        }
    }
    if let Ok(resp) = ServerHandshakeResponse::decode_block(data) {
        if let Ok(block) = resp.encode_block() {
            let again =
                ServerHandshakeResponse::decode_block(&block).expect("an encoded response decodes");
            assert_eq!(again, resp);
        }
    }
    let _ = ServerHello::decode_block(data);
    let _ = ClientHello::decode_block(data);
});
