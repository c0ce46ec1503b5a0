//! The crate's error type.

use simplex_encoding::{DecodeError, PadError};

/// Why a cryptographic operation or a key decoding failed.
///
/// Never carries key material, plaintext or ciphertext, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// DER bytes did not have the exact shape of the expected key type
    /// (wrong prefix, algorithm identifier or length).
    #[error("invalid DER encoding of {what}")]
    InvalidDer {
        /// The key type that was expected.
        what: &'static str,
    },
    /// Raw key bytes had the wrong length.
    #[error("invalid raw {what}: expected {expected} bytes, got {got}")]
    InvalidKeyLength {
        /// The key type that was expected.
        what: &'static str,
        /// The length the key type has.
        expected: usize,
        /// The length offered.
        got: usize,
    },
    /// Raw bytes are not a valid key of the type (for example not a curve point).
    #[error("invalid {0}")]
    InvalidKey(&'static str),
    /// The DER named an algorithm that is not allowed here.
    #[error("key algorithm not allowed for {0}")]
    UnexpectedAlgorithm(&'static str),
    /// A signature had neither the Ed25519 (64) nor the Ed448 (114) length.
    #[error("invalid signature length {0}")]
    InvalidSignatureLength(usize),
    /// A NaCl box or secret box failed to open (`CBDecryptError` in the reference).
    #[error("crypto_box decryption failed")]
    DecryptFailed,
    /// AES-GCM authentication failed (`AESDecryptError`).
    #[error("AES-GCM decryption failed")]
    AeadDecryptFailed,
    /// An IV or nonce had the wrong length.
    #[error("invalid IV length {0}")]
    InvalidIvLength(usize),
    /// The message does not fit the padded size (`CryptoLargeMsgError`).
    #[error("message too large for the padded length")]
    MessageTooLarge,
    /// The decrypted bytes are not a valid padded message (`CryptoInvalidMsgError`).
    #[error("invalid padded message")]
    InvalidPadding,
    /// An HKDF output length was larger than HKDF-SHA512 can produce (255 × 64 bytes).
    #[error("HKDF output length {0} too large")]
    HkdfLength(usize),
    /// The underlying library (OpenSSL) failed unexpectedly.
    #[error("crypto library failure in {0}")]
    Library(&'static str),
    /// Bytes could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl From<PadError> for CryptoError {
    fn from(e: PadError) -> Self {
        match e {
            PadError::TooLarge { .. } => CryptoError::MessageTooLarge,
            _ => CryptoError::InvalidPadding,
        }
    }
}
