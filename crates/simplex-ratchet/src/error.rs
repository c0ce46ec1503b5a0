//! The crate's error type.

use simplex_crypto::CryptoError;
use simplex_encoding::{DecodeError, LengthError};

/// Why an X3DH agreement, a ratchet encryption or a decryption failed.
///
/// Mirrors the ratchet variants of the reference's `CryptoError`. Never carries key material
/// or plaintext, so it is safe to log. A failed decryption leaves the ratchet state as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RatchetError {
    /// No header key opened the message header (`CERatchetHeader`): not for this ratchet, a
    /// tampered header, or a message whose skipped key was already used.
    #[error("message header could not be decrypted")]
    Header,
    /// The message envelope or the decrypted header did not parse (`CryptoHeaderError`).
    #[error("invalid message header: {0}")]
    HeaderParse(DecodeError),
    /// The ratchet cannot send yet (no sending chain), or has no receiving chain where one is
    /// needed (`CERatchetState`).
    #[error("ratchet state does not allow this operation")]
    State,
    /// A KEM ciphertext arrived but there is no KEM key to decapsulate it, or the KEM
    /// parameters of an agreement do not fit together (`CERatchetKEMState`).
    #[error("ratchet KEM state does not allow this operation")]
    KemState,
    /// The header asks to skip more than [`MAX_SKIP`](crate::MAX_SKIP) message keys
    /// (`CERatchetTooManySkipped`).
    #[error("too many skipped messages: {0}")]
    TooManySkipped(u32),
    /// The message number is lower than the next expected one and no skipped key matches
    /// (`CERatchetEarlierMessage`).
    #[error("earlier message number, {0} before the expected one")]
    EarlierMessage(u32),
    /// The message number is the one just received (`CERatchetDuplicateMessage`).
    #[error("duplicate message")]
    DuplicateMessage,
    /// The message body failed authentication (`AESDecryptError`).
    #[error("message body could not be decrypted")]
    Decrypt,
    /// The message does not fit the padded length (`CryptoLargeMsgError`).
    #[error("message too large for the padded length")]
    MessageTooLarge,
    /// The decrypted body is not a valid padded message (`CryptoInvalidMsgError`).
    #[error("invalid padded message")]
    InvalidPadding,
    /// A key was rejected by the underlying primitive (for example an X448 low-order point).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// Another cryptographic failure.
    #[error(transparent)]
    Crypto(CryptoError),
}

impl From<CryptoError> for RatchetError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::MessageTooLarge => RatchetError::MessageTooLarge,
            CryptoError::InvalidPadding => RatchetError::InvalidPadding,
            CryptoError::AeadDecryptFailed => RatchetError::Decrypt,
            other => RatchetError::Crypto(other),
        }
    }
}

impl From<LengthError> for RatchetError {
    fn from(_: LengthError) -> Self {
        RatchetError::MessageTooLarge
    }
}
