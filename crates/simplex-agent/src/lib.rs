//! The SimpleX agent: duplex connections made of simplex SMP queues.
//!
//! Owns: connection state and its storage ([`store`], [`sqlite`]: an SQLCipher database
//! with numbered migrations), the handshake that turns an invitation link into two secured
//! queues with a double ratchet over them, message delivery with retries and integrity
//! checks, receipts, subscriptions and reconnection, contact addresses ([`agent`]).
//!
//! Private message routing: with [`SmpProxyMode`] the sender's `SEND` and `SKEY` go through
//! one of the agent's own servers as a proxy (`PRXY`/`PFWD`), with [`SmpProxyFallback`]
//! deciding when they may go directly instead.
//!
//! Ratchet re-synchronisation: a decryption error the reference classifies as a
//! de-synchronisation raises `RSYNC`; [`Agent::synchronize_ratchet`] agrees new ratchet keys.
//!
//! Queue rotation: [`Agent::switch_connection`] moves a connection's receive queue to a new
//! one (on another of the agent's relays when it has one) in the reference's five-step
//! exchange (`QADD`, `QKEY`, `QUSE`, `QTEST`), reported in `SWITCH` events;
//! [`Agent::abort_switch`] stops it while the reference allows; [`Agent::connection_stats`]
//! shows the queues.
//!
//! Leaves out: redundant queues, notifications, short links and
//! files (XFTP). The wire formats are `agent-proto`'s, the
//! ratchet `simplex-ratchet`'s, the SMP connections `smp-client`'s.
//!
//! Sits above `smp-client`, `agent-proto` and `simplex-ratchet`; below a chat client.
//! Spec: `protocol/agent-protocol.md`; the reference's `Agent.hs`.

pub mod error;
pub mod presets;
pub mod sqlite;
pub mod store;

pub use error::{AgentError, StoreError};
pub use sqlite::SqliteStore;
pub use store::{MemoryStore, Store};
pub mod agent;
pub mod types;

pub use agent::{Agent, CreatedLinks, ShortLinkData};
/// The SOCKS5 proxy of [`AgentConfig::socks_proxy`].
pub use simplex_transport::socks::{SocksAuth, SocksError, SocksProxy};
pub use types::{
    AgentConfig, AgentCryptoError, AgentEvent, ConnectionStats, Event, MsgIntegrity, MsgMeta,
    MsgReceipt, MsgReceiptStatus, QueueDirection, RatchetSyncState, RcvQueueInfo, RcvSwitchStatus,
    SmpProxyFallback, SmpProxyMode, SndQueueInfo, SndSwitchStatus, SwitchPhase, TransportIsolation,
};
