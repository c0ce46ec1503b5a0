//! The errors of XFTP: [`XftpErrorType`], sent in `ERR` (`XFTPErrorType` in the reference's
//! `Transport.hs`), and [`XftpError`], this crate's own typed error.

use simplex_encoding::{Decode, DecodeError, Encode, LengthError, PadError, Reader};
use smp_proto::{BlockingInfo, CommandError, ProtoError};

use crate::version::{Version, BLOCKED_FILES_XFTP_VERSION};

/// An error a file relay reports in `ERR`, or a client reports about a transmission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XftpErrorType {
    /// `BLOCK`: malformed block, encoding or authorization size.
    Block,
    /// `SESSION`: the session ID does not match the connection.
    Session,
    /// `HANDSHAKE`: a malformed or unexpected handshake.
    Handshake,
    /// `CMD <error>`: an unknown or malformed command (SMP's command errors).
    Cmd(CommandError),
    /// `AUTH`: a bad authorization, or no such file.
    Auth,
    /// `BLOCKED <info>` (v3+; `AUTH` before): the file was blocked.
    Blocked(BlockingInfo),
    /// `SIZE`: a wrong file or chunk size.
    Size,
    /// `QUOTA`: the storage quota is exhausted.
    Quota,
    /// `DIGEST`: the chunk's digest does not match.
    Digest,
    /// `CRYPTO`: encryption or decryption failed.
    Crypto,
    /// `NO_FILE`: an expected body is missing, or the file is not on the server.
    NoFile,
    /// `HAS_FILE`: an unexpected body.
    HasFile,
    /// `FILE_IO`: a file I/O error.
    FileIo,
    /// `TIMEOUT`: sending or receiving timed out.
    Timeout,
    /// `INTERNAL`: an internal server error.
    Internal,
    /// `DUPLICATE_`: used inside the reference only, never sent; parsed for completeness.
    Duplicate,
}

impl XftpErrorType {
    /// The error as sent at version `v`: `BLOCKED` becomes `AUTH` before v3.
    pub fn for_version(&self, v: Version) -> XftpErrorType {
        match self {
            XftpErrorType::Blocked(_) if v < BLOCKED_FILES_XFTP_VERSION => XftpErrorType::Auth,
            other => other.clone(),
        }
    }

    fn tag(&self) -> &'static [u8] {
        match self {
            XftpErrorType::Block => b"BLOCK",
            XftpErrorType::Session => b"SESSION",
            XftpErrorType::Handshake => b"HANDSHAKE",
            XftpErrorType::Cmd(_) => b"CMD",
            XftpErrorType::Auth => b"AUTH",
            XftpErrorType::Blocked(_) => b"BLOCKED",
            XftpErrorType::Size => b"SIZE",
            XftpErrorType::Quota => b"QUOTA",
            XftpErrorType::Digest => b"DIGEST",
            XftpErrorType::Crypto => b"CRYPTO",
            XftpErrorType::NoFile => b"NO_FILE",
            XftpErrorType::HasFile => b"HAS_FILE",
            XftpErrorType::FileIo => b"FILE_IO",
            XftpErrorType::Timeout => b"TIMEOUT",
            XftpErrorType::Internal => b"INTERNAL",
            XftpErrorType::Duplicate => b"DUPLICATE_",
        }
    }
}

impl Encode for XftpErrorType {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag());
        match self {
            XftpErrorType::Cmd(e) => {
                out.push(b' ');
                e.encode(out);
            }
            XftpErrorType::Blocked(info) => {
                out.push(b' ');
                info.encode(out);
            }
            _ => {}
        }
    }
}

impl Decode for XftpErrorType {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let word = r.take_till(|b| b == b' ');
        Ok(match word {
            b"BLOCK" => XftpErrorType::Block,
            b"SESSION" => XftpErrorType::Session,
            b"HANDSHAKE" => XftpErrorType::Handshake,
            b"CMD" => {
                r.space()?;
                XftpErrorType::Cmd(CommandError::decode(r)?)
            }
            b"AUTH" => XftpErrorType::Auth,
            b"BLOCKED" => {
                r.space()?;
                XftpErrorType::Blocked(BlockingInfo::decode(r)?)
            }
            b"SIZE" => XftpErrorType::Size,
            b"QUOTA" => XftpErrorType::Quota,
            b"DIGEST" => XftpErrorType::Digest,
            b"CRYPTO" => XftpErrorType::Crypto,
            b"NO_FILE" => XftpErrorType::NoFile,
            b"HAS_FILE" => XftpErrorType::HasFile,
            b"FILE_IO" => XftpErrorType::FileIo,
            b"TIMEOUT" => XftpErrorType::Timeout,
            b"INTERNAL" => XftpErrorType::Internal,
            b"DUPLICATE_" => XftpErrorType::Duplicate,
            _ => return Err(DecodeError::InvalidTag { what: "XFTP error" }),
        })
    }
}

/// Why this crate could not decode, build, encrypt or decrypt something. Carries no input
/// bytes, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XftpError {
    /// Peer fault: the bytes are malformed.
    #[error("malformed: {0}")]
    Decode(#[from] DecodeError),
    /// Peer fault: the command or response tag is not known.
    #[error("unknown command or response tag")]
    UnknownTag,
    /// Peer fault: the tag is known but its parameters are malformed.
    #[error("bad syntax: {0}")]
    Syntax(DecodeError),
    /// Peer fault: a block did not unpad or did not hold exactly one transmission.
    #[error("bad block: {0}")]
    Block(&'static str),
    /// Caller fault: a value is too long for its encoding, or a record too large for a block.
    #[error("{0}")]
    Length(#[from] LengthError),
    /// Caller fault: a transmission does not fit in one block.
    #[error("too large for a block")]
    TooLarge,
    /// A file description is not in the reference's format or is inconsistent.
    #[error("invalid file description: {0}")]
    Description(&'static str),
    /// Encrypted data ended early, ran past its declared size, or declared an impossible one.
    #[error("wrong size: {0}")]
    Size(&'static str),
    /// The file header inside an encrypted file did not parse.
    #[error("invalid file header")]
    FileHeader,
    /// The authentication tag of an encrypted file or chunk did not match.
    #[error("authentication tag mismatch")]
    BadTag,
}

impl From<PadError> for XftpError {
    fn from(_: PadError) -> Self {
        XftpError::Block("padding")
    }
}

impl From<ProtoError> for XftpError {
    fn from(e: ProtoError) -> Self {
        match e {
            ProtoError::Decode(d) => XftpError::Decode(d),
            ProtoError::UnknownTag => XftpError::UnknownTag,
            ProtoError::Syntax(d) => XftpError::Syntax(d),
            ProtoError::Length(l) => XftpError::Length(l),
            ProtoError::TooLarge { .. } => XftpError::TooLarge,
            _ => XftpError::Block("transmission"),
        }
    }
}

/// How a local error is reported to a peer (`fromProtocolError` and the transport's mapping).
impl From<&XftpError> for XftpErrorType {
    fn from(e: &XftpError) -> Self {
        match e {
            XftpError::UnknownTag => XftpErrorType::Cmd(CommandError::Unknown),
            XftpError::Syntax(_) => XftpErrorType::Cmd(CommandError::Syntax),
            XftpError::Size(_) => XftpErrorType::Size,
            XftpError::BadTag | XftpError::FileHeader => XftpErrorType::Crypto,
            XftpError::Decode(_)
            | XftpError::Block(_)
            | XftpError::Length(_)
            | XftpError::TooLarge
            | XftpError::Description(_) => XftpErrorType::Block,
        }
    }
}
