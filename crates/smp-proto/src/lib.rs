//! The SimpleX Messaging Protocol (SMP) v6–v18 as bytes: the sans-I/O core shared by the
//! relay and the client, byte-exact with the reference implementation (simplexmq).
//!
//! Owns:
//! - [`version`]: versions, ranges, negotiation and the per-version constants;
//! - [`command`] and [`response`]: every command and response of v6–v18, encoded and parsed
//!   for a negotiated version; [`queue`]: `NEW`'s parameters and the queue parts of `IDS`
//!   and `LNK` (modes, short-link data, notifier credentials); [`queue_info`]: `INFO`'s JSON;
//!   [`error`]: the `ERR` error types and this crate's local error;
//! - [`message`]: stored messages and the recipient's plaintext framing used to build `MSG`;
//! - [`transmission`]: the transmission layout and the exact bytes an authorization covers;
//! - [`block`]: 16 KiB blocks, batching and splitting;
//! - [`handshake`]: the server and client hello records, and the server's third block for
//!   service clients (v16);
//! - [`address`]: `smp://` server addresses and queue URIs;
//! - [`proxy`]: the records inside `PFWD`/`RFWD` and `RRES`/`PRES` (private message routing).
//!
//! Leaves out: all I/O, clocks and randomness (IDs, nonces and timestamps are passed in),
//! cryptography (keys come from `simplex-crypto`; signatures and authenticators are checked by
//! the server), TLS (`simplex-transport`), and queue semantics (`smp-server`).
//!
//! Sits above `simplex-encoding` and `simplex-crypto`, below `simplex-transport`,
//! `smp-client` and `smp-server`. Every decoder returns an error on any input, never panics.

pub mod address;
pub mod block;
pub mod command;
pub mod error;
pub mod handshake;
pub mod keys;
pub mod message;
pub mod proxy;
pub mod queue;
pub mod queue_info;
pub mod response;
pub mod transmission;
pub mod version;

pub use address::{
    update_smp_server_hosts, BasicAuth, SmpQueueUri, SmpServer, SmpServerWithAuth, TransportHost,
};
pub use block::{
    batch_transmissions, decode_block, decode_block_transmissions, encode_block, BLOCK_SIZE,
};
pub use command::{Command, MsgFlags, Party};
pub use error::{
    BlockingInfo, BrokerErrorType, CommandError, ErrorType, ProtoError, ProxyError, TransportError,
};
pub use handshake::{
    CertChainPubKey, ClientHello, ClientHelloService, ServerHandshakeResponse, ServerHello,
    ServiceRole, SignedKey, SignedPubKey,
};
pub use keys::KeyHash;
pub use message::{Message, RcvMessage, RcvMsgBody};
pub use queue::{
    ContactLinkReq, MessagingLinkReq, NewNtfCreds, NewQueueReq, QueueLinkData, QueueMode,
    QueueReqData, ServerNtfCreds, SubscriptionMode,
};
pub use response::{QueueIdsKeys, QueueInfo, Response};
pub use transmission::{
    decode_client_transmission, decode_server_transmission, Authorization, ClientTransmission,
    RawTransmission, TransmissionForAuth,
};
pub use version::{max_message_length, Version, VersionRange, CLIENT_VERSIONS, SERVER_VERSIONS};
