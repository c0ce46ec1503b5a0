//! The SimpleX agent protocol as bytes and strings: the sans-I/O wire layer of duplex
//! connections, byte-exact with the reference implementation (simplexmq), agent versions 2-7.
//!
//! Owns:
//! - [`link`]: connection links (`simplex:/invitation#/?…`, `simplex:/contact#/?…`, and the
//!   `https://host/…` form), parsed as the reference parses them and printed in its canonical
//!   form, and their binary form;
//! - [`envelope`]: agent envelopes (`C`, `M`, `I`, `R`), agent messages, the private header
//!   with the sequential ID and previous hash, and every `AMessage` of v7;
//! - [`client`]: the per-queue e2e layer around an envelope and the confirmation it yields;
//! - [`queue`]: the binary forms of queue addresses inside agent messages;
//! - [`version`]: agent and SMP client versions and the padded payload sizes.
//!
//! Leaves out: all I/O, storage and state (the agent, `simplex-agent`), cryptography (the
//! per-queue crypto_box is `simplex-crypto`'s, the double ratchet `simplex-ratchet`'s), short
//! links and their data. Queue URIs in string form are `smp-proto`'s `SmpQueueUri`.
//!
//! Sits above `simplex-encoding`, `simplex-crypto`, `smp-proto` and `simplex-ratchet`, below
//! the agent. Every decoder returns an error on any input, never panics.

pub mod client;
pub mod envelope;
pub mod error;
pub mod link;
pub mod queue;
pub mod version;

pub use client::{ClientMessage, ClientMsgEnvelope, PrivHeader, PubHeader, SmpConfirmation};
pub use envelope::{
    AMessage, AMessageReceipt, APrivHeader, AgentMessage, AgentMessageType, AgentMsgEnvelope,
    E2EParams, QueueAdd, QueueKey,
};
pub use error::AgentProtoError;
pub use link::{
    ConnReqUriData, ConnectionMode, ConnectionRequest, ContactRequest, InvitationRequest,
};
pub use queue::{decode_queue_uri, encode_queue_uri, SmpQueueInfo, SndQAddr};
pub use version::{e2e_enc_agent_msg_length, e2e_enc_conn_info_length};
