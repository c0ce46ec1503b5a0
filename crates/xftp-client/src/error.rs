//! What can go wrong talking to a file relay.

use simplex_transport::{ChainError, TransportError};
use xftp_proto::XftpErrorType;

/// A client error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The relay's certificate does not match the fingerprint in its address.
    #[error("the relay's certificate does not match the fingerprint in its address (wrong fingerprint or a different server)")]
    WrongFingerprint,
    /// TLS or the connection failed.
    #[error("transport: {0}")]
    Transport(TransportError),
    /// HTTP/2 failed.
    #[error("HTTP/2: {0}")]
    Http(#[from] h2::Error),
    /// The handshake failed.
    #[error("XFTP handshake: {0}")]
    Handshake(&'static str),
    /// The relay answered `ERR`.
    #[error("relay error: {}", describe(.0))]
    Relay(XftpErrorType),
    /// The relay's answer did not parse or was not the expected one.
    #[error("unexpected response: {0}")]
    Response(String),
    /// A chunk or the file did not match its digest, or did not decrypt.
    #[error("integrity: {0}")]
    Integrity(&'static str),
    /// The request did not finish in time.
    #[error("request timed out")]
    Timeout,
    /// A local file error.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    /// A description or argument is not usable.
    #[error("{0}")]
    Invalid(String),
}

impl From<TransportError> for ClientError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Chain(ChainError::Fingerprint) => ClientError::WrongFingerprint,
            e => ClientError::Transport(e),
        }
    }
}

impl ClientError {
    /// True for errors worth retrying on a new connection (network, HTTP/2, timeouts).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            ClientError::Transport(_) | ClientError::Http(_) | ClientError::Timeout
        ) || matches!(self, ClientError::Relay(XftpErrorType::Timeout))
    }
}

/// The relay's error with a reason an operator or user understands.
fn describe(e: &XftpErrorType) -> String {
    let why = match e {
        XftpErrorType::Auth => "AUTH (no such file, expired, deleted, or wrong key)",
        XftpErrorType::Quota => "QUOTA (the relay's storage is full)",
        XftpErrorType::Size => "SIZE (wrong chunk size)",
        XftpErrorType::Digest => "DIGEST (the chunk does not match its digest)",
        XftpErrorType::NoFile => "NO_FILE (the chunk was not uploaded yet)",
        XftpErrorType::Blocked(_) => "BLOCKED (the file was blocked by the relay operator)",
        _ => return format!("{e:?}"),
    };
    why.to_owned()
}
