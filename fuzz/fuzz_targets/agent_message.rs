//! Everything an agent decodes from a peer after the server layer: the per-queue envelope and
//! message, the agent envelope, the agent message and its body, queue information. The first
//! byte picks the type. Decoding never panics, and encoding is canonical: what decodes
//! re-encodes to bytes that decode and re-encode to the same bytes. (Equality of values is too
//! strict here: as in the reference, a decoder may read an optional field, e.g. a queue mode,
//! that the encoder omits at the queue's client version.)
#![no_main]
use agent_proto::{
    AMessage, AgentMessage, AgentMsgEnvelope, ClientMessage, ClientMsgEnvelope, SmpQueueInfo,
};
use libfuzzer_sys::fuzz_target;
use simplex_encoding::{decode_all, Decode, Encode};

fn check<T: Decode + Encode>(bytes: &[u8]) {
    if let Ok(v) = decode_all::<T>(bytes) {
        let canonical = v.to_bytes();
        let again = decode_all::<T>(&canonical).expect("an encoded value decodes");
        assert_eq!(again.to_bytes(), canonical);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => check::<ClientMsgEnvelope>(body),
        1 => check::<ClientMessage>(body),
        2 => check::<AgentMsgEnvelope>(body),
        3 => check::<AgentMessage>(body),
        4 => check::<AMessage>(body),
        _ => check::<SmpQueueInfo>(body),
    }
});
