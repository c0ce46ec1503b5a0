//! A client of one SMP server.
//!
//! Owns one connection: connecting to an `smp://` address with its identity pinned, the
//! handshake (through `simplex-transport`), authorizing commands (Ed25519/Ed448 signatures,
//! or from v7 crypto_box authenticators with the server's session key), correlating
//! responses by 24-byte random correlation IDs, batching, routing pushed `MSG`/`END`/`NMSG`
//! to an event stream, keep-alive pings, time-outs, and decrypting delivered messages;
//! private message routing ([`proxy`]): a sender's `PRXY`/`PFWD` through a proxy, a proxy's
//! `RFWD` to a relay; and queue creation with short links and the link commands of v15
//! ([`links`]); a notifier service's session with its TLS client certificate (v16,
//! [`service`]: service-signed `NEW`/`SUB`/`NSUB`, `NSUBS`). It speaks SMP v6–v18 and takes the highest version the relay offers; from v11
//! its hello key makes the relay encrypt the session's blocks.
//! It leaves out everything above one server: reconnection policy, many servers, queue
//! rotation and end-to-end encryption belong to the agent. It sits above `smp-proto` and
//! `simplex-transport`.
//!
//! Spec: `protocol/simplex-messaging.md` § "SMP commands" and "Correlating responses with
//! commands"; the reference's `src/Simplex/Messaging/Client.hs`.

mod auth_keys;
pub mod client;
pub mod error;
pub mod hosts;
pub mod links;
pub mod proxy;
pub mod service;

pub use client::{decrypt_message, ClientCommand, ClientConfig, ServerEvent, SmpClient};
pub use error::ClientError;
pub use links::{link_corr_id, link_sender_id};
pub use proxy::ProxiedRelay;
/// The transport errors inside [`ClientError::Transport`].
pub use simplex_transport::TransportError;
