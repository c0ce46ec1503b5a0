//! Errors of the store and of the agent's API.

use smp_client::ClientError;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The passphrase does not open the database (or the file is not a database).
    #[error("wrong passphrase or not a database")]
    WrongPassphrase,
    /// Another process has the database open.
    #[error("the database is in use by another process")]
    InUse,
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value did not decode.
    #[error("stored value did not decode: {0}")]
    Corrupt(&'static str),
    /// The record refers to a connection that does not exist.
    #[error("no such connection")]
    NoConnection,
    /// The record exists already.
    #[error("duplicate record")]
    Duplicate,
    /// The database was written by a newer version (unknown migrations).
    #[error("database has unknown migration {0}")]
    UnknownMigration(String),
    /// The blocking task running the store call failed.
    #[error("store task failed")]
    Task,
    /// The batch of store calls this one was committed with failed to commit.
    #[error("committing the store's batch failed: {0}")]
    Batch(String),
}

/// An error of an agent API call or reported in an `ERR` event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// Storage failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// An SMP server or the connection to it failed.
    #[error("server {server}: {error}")]
    Smp {
        /// The server's address.
        server: String,
        /// What failed.
        error: ClientError,
    },
    /// The proxy relay refused a command it was to forward to `relay` (the reference's
    /// `PROXY` error: the proxy's own `ERR` to `PFWD`).
    #[error("proxy {proxy} for {relay}: {error:?}")]
    Proxy {
        /// The proxy's address.
        proxy: String,
        /// The address of the relay the command was for.
        relay: String,
        /// The proxy's error.
        error: smp_proto::ErrorType,
    },
    /// No such connection.
    #[error("no such connection")]
    NoConnection,
    /// No such confirmation or invitation.
    #[error("no such confirmation or invitation")]
    NoConfirmation,
    /// The command is not allowed in the connection's state.
    #[error("prohibited: {0}")]
    Prohibited(&'static str),
    /// A queue rotation message does not fit the connection's queues (`A_QUEUE`).
    #[error("queue: {0}")]
    Queue(&'static str),
    /// A link did not parse or is of the wrong kind.
    #[error("bad link: {0}")]
    BadLink(String),
    /// The relay has no host of the kind the required host mode asks for (an onion host,
    /// say): nothing was sent to it.
    #[error("server {0}: no host of the required kind (host mode)")]
    IncompatibleHost(String),
    /// A short link names its relay by host alone (no key hash) and that host is not one of
    /// the agent's preset relays: nothing is sent.
    #[error("short link to a relay that is not preset: {0}")]
    UnknownPresetRelay(String),
    /// A short link's data failed its checks (decryption, hash, signatures, owners) or
    /// could not be made.
    #[error("short link data: {0}")]
    Link(#[from] agent_proto::LinkDataError),
    /// A short link's data holds a link to another queue than the one the short link names
    /// (the reference's `A_LINK "different address"`).
    #[error("short link data: different address")]
    LinkAddress,
    /// No compatible agent, SMP client or e2e version.
    #[error("incompatible version")]
    Version,
    /// Encryption or decryption failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// A message from the peer did not parse or made no sense.
    #[error("bad message: {0}")]
    Message(&'static str),
    /// The message is too large.
    #[error("message too large")]
    Large,
    /// No SMP servers are configured.
    #[error("no SMP servers configured")]
    NoServers,
    /// The agent stopped.
    #[error("agent stopped")]
    Stopped,
}
