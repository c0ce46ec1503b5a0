//! The client's errors. The server's own `ERR` ([`ErrorType`]) is kept apart from local
//! failures (network, timeouts, bad responses), as the reference's `ProtocolClientError` does.

use simplex_transport::TransportError;
use smp_proto::error::{ErrorType, ProtoError};

/// Why a command did not get the answer it wanted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered `ERR` (`PCEProtocolError`).
    #[error("server error: {0:?}")]
    Server(ErrorType),
    /// The server's response did not parse (`PCEResponseError`).
    #[error("response did not parse: {0}")]
    BadResponse(ProtoError),
    /// The server answered with a response this command does not expect
    /// (`PCEUnexpectedResponse`); carries the response's tag.
    #[error("unexpected response {0}")]
    Unexpected(&'static str),
    /// No response within the command timeout (`PCEResponseTimeout`).
    #[error("response timeout")]
    Timeout,
    /// Connecting, TLS, the handshake or the connection failed (`PCETransportError`,
    /// `PCENetworkError`).
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The connection is closed; pending commands fail with this.
    #[error("connection closed")]
    Closed,
    /// An X25519 key needs the server's session key, which servers send from v7 only
    /// (`TENoServerAuth`).
    #[error("the server sent no session key to authorize with")]
    NoServerAuth,
    /// A service command on a session that is not a service session (`PCEServiceUnavailable`).
    #[error("not a service session")]
    NoService,
    /// The command could not be encoded (too large for a block, or a field too long).
    #[error("command could not be encoded: {0}")]
    Encode(ProtoError),
    /// A received message could not be decrypted.
    #[error("message could not be decrypted")]
    Decrypt,
    /// The negotiated version cannot carry what was asked for (short links below v15,
    /// notifier credentials in `NEW` below v17).
    #[error("not supported at the negotiated version: {0}")]
    Unsupported(&'static str),
    /// The server address has no host.
    #[error("server address has no host")]
    NoHost,
}

impl ClientError {
    /// True for failures that may pass on retry (network, timeout, closed connection), as the
    /// reference's `temporaryClientError`.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            ClientError::Timeout
                | ClientError::Closed
                | ClientError::Transport(
                    TransportError::Io(_) | TransportError::Timeout | TransportError::Closed
                )
        )
    }
}
