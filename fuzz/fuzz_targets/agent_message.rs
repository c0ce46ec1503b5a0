//! Everything an agent decodes from a peer after the server layer: the per-queue envelope and
//! message, the agent envelope, the agent message and its body, queue information. The first
//! byte picks the type. Decoding never panics, and whatever decodes re-encodes to bytes that
//! decode again. Value or byte equality after the round trip is not asserted: the format (the
//! reference's) is ambiguous where an optional queue mode — read by peeking one byte for
//! `M`/`C`/`T`/`F` — is omitted at the queue's client version and the next field starts with one
//! of those letters; the campaign found both cases (kept as seeds). The exact round trips are
//! asserted for every variant in `crates/agent-proto/tests/codec.rs`.
#![no_main]
use agent_proto::{
    AMessage, AgentMessage, AgentMsgEnvelope, ClientMessage, ClientMsgEnvelope, SmpQueueInfo,
};
use libfuzzer_sys::fuzz_target;
use simplex_encoding::{decode_all, Decode, Encode};

fn check<T: Decode + Encode>(bytes: &[u8]) {
    if let Ok(v) = decode_all::<T>(bytes) {
        let again = decode_all::<T>(&v.to_bytes());
        assert!(again.is_ok(), "an encoded value must decode");
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
