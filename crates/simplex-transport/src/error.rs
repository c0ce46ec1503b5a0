//! The transport's errors, grouped by whose fault they are.

use std::io;

/// Why a certificate chain was refused by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The server sent fewer than 2 or more than 4 certificates.
    #[error("the server sent {0} certificates, 2 to 4 are accepted")]
    Length(usize),
    /// The identity certificate's SHA-256 is not the pinned key hash.
    #[error("the server's identity certificate does not match the pinned fingerprint")]
    Fingerprint,
    /// OpenSSL's chain verification failed for another reason (signature, validity dates, ...).
    #[error("certificate chain verification failed (X509 error {0})")]
    Verify(i32),
    /// The server sent no certificate chain at all.
    #[error("the server sent no certificate chain")]
    Missing,
}

/// An error of the SMP handshake records, as the reference groups them (`HandshakeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A hello block did not parse (`PARSE`).
    #[error("handshake block did not parse")]
    Parse,
    /// The client's key hash is not this server's identity, or the server's certificates do not
    /// match the pinned identity (`IDENTITY`).
    #[error("server identity mismatch")]
    Identity,
    /// The signed session key did not verify with the server certificate's key (`BAD_AUTH`).
    #[error("signed server key did not verify")]
    BadAuth,
    /// The service record of the client's hello could not be used (`BAD_SERVICE`, v16).
    #[error("service record refused")]
    BadService,
}

/// Everything that can go wrong below the SMP command layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    // --- the peer's fault ---
    /// The server's certificate chain was refused.
    #[error("certificate chain refused: {0}")]
    Chain(#[from] ChainError),
    /// The SMP handshake failed.
    #[error("SMP handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// No common SMP version (`VERSION`).
    #[error("no compatible SMP version")]
    Version,
    /// The session ID in the server's hello is not the TLS channel binding (`SESSION`).
    #[error("session ID mismatch")]
    BadSession,
    /// A block was not 16,384 bytes or its padding was wrong (`BLOCK`).
    #[error("bad transport block")]
    BadBlock,
    /// An encrypted block did not authenticate (v11 block encryption): the connection is
    /// closed.
    #[error("encrypted block did not authenticate")]
    BlockDecrypt,
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Closed,
    /// The TLS handshake failed (protocol version, cipher, group, ALPN...).
    #[error("TLS: {0}")]
    Tls(String),

    // --- the caller's fault ---
    /// A message does not fit in one block (`LARGE_MSG`).
    #[error("message does not fit in a transport block")]
    LargeMsg,
    /// Credentials could not be loaded, parsed or generated.
    #[error("credentials: {0}")]
    Credentials(String),

    // --- the environment's fault ---
    /// The TLS or SMP handshake did not finish in time.
    #[error("handshake timed out")]
    Timeout,
    /// A socket or file error.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// The SOCKS5 proxy could not be used or could not connect.
    #[error("{0}")]
    Socks(#[from] crate::socks::SocksError),
}

impl From<openssl::error::ErrorStack> for TransportError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        TransportError::Tls(e.to_string())
    }
}

/// Maps a read error to [`TransportError::Closed`] when it is an end of stream.
pub(crate) fn read_error(e: io::Error) -> TransportError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => TransportError::Closed,
        _ => TransportError::Io(e),
    }
}
