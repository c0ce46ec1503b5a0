//! The records of private message routing a relay or a proxy decodes from its peer once the
//! outer encryption is removed: `FwdTransmission` (inside `RFWD`), `FwdResponse` (inside
//! `RRES`), and the single-transmission batch inside `PFWD`/`PRES` with its transmission.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simplex_encoding::decode_all;
use smp_proto::proxy::{decode_single_batch, FwdResponse, FwdTransmission};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = decode_all::<FwdTransmission>(data);
    let _ = decode_all::<FwdResponse>(data);
    if let Some((v, body)) = common::split_version(data) {
        if let Ok(t) = decode_single_batch(body) {
            let session = [5u8; 32];
            let _ = smp_proto::transmission::decode_server_transmission(v, &session, t);
            let _ = smp_proto::transmission::decode_client_transmission(v, &session, t);
        }
    }
});
