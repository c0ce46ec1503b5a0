//! Commands and responses at a version: decoding never panics, and whatever decodes encodes
//! back to something that decodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use smp_proto::{Command, Response};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((v, body)) = common::split_version(data) else {
        return;
    };
    if let Ok(cmd) = Command::decode(v, body) {
        let mut out = Vec::new();
        cmd.encode(v, &mut out);
        let again = Command::decode(v, &out).expect("an encoded command decodes");
        assert_eq!(again, cmd);
    }
    if let Ok(resp) = Response::decode(v, body) {
        let mut out = Vec::new();
        resp.encode(v, &mut out);
        let again = Response::decode(v, &out).expect("an encoded response decodes");
        assert_eq!(again, resp);
    }
});
