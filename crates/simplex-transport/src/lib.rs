//! The transport layer of SMP: TLS 1.3 through OpenSSL on tokio, server certificate chains,
//! the SMP handshake, and 16,384-byte blocks.
//!
//! Owns everything between a TCP socket and a stream of SMP blocks: the TLS policy
//! ([`tls`]), loading and generating the server's certificates ([`credentials`]), pinning
//! the server identity on the client, `tls-unique` as the session ID, fixed-size blocks
//! ([`block`]) and their encryption from SMP v11 ([`sbchain`]). It does not parse commands or transmissions (that is `smp-proto`) and holds no
//! queue state (that is `smp-server` and `smp-client`). It sits above `smp-proto` and
//! `simplex-crypto` and below the server and the client, and is the only crate that knows
//! about TLS.
//!
//! Spec: `protocol/simplex-messaging.md` § "Transport connection with the SMP server".

pub mod block;
pub mod credentials;
pub mod error;
pub mod handshake;
pub mod http2;
mod pool;
pub mod sbchain;
pub mod socks;
pub mod tls;

pub use block::{
    BlockReader, BlockWriter, BLOCK_SIZE, MAX_BLOCK_CONTENT, MAX_ENCRYPTED_BLOCK_CONTENT,
};
pub use credentials::{GeneratedCredentials, ServerCredentials, SignAlgorithm};
pub use error::{ChainError, HandshakeError, TransportError};
pub use handshake::verify_relay_key;
pub use handshake::{
    connect, connect_host, ClientConnection, ClientSession, ClientTransportConfig,
    ServerConnection, ServerSession, ServerTransport, SessionParams, SmpConnection, SmpListener,
    SocksRoute,
};
pub use sbchain::SbChainKey;
pub use tls::{TlsInfo, TlsStream, ALPN_HTTP1, ALPN_SMP};
