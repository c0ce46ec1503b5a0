//! This crate's error types.

use simplex_encoding::DecodeError;

/// Why bytes or a link could not be read. Carries no key material and no input bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentProtoError {
    /// Binary or string encoding error of a component (queue URI, key, version range...).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A connection link was malformed: the scheme, path, or a required parameter.
    #[error("invalid connection link: {0}")]
    Link(&'static str),
    /// Short-link data could not be built, opened or verified.
    #[error(transparent)]
    LinkData(#[from] LinkDataError),
}

/// Why short-link data could not be built, opened or verified (the reference's `A_LINK` and
/// `A_MESSAGE` agent errors, and its crypto error). Each check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkDataError {
    /// A part does not fit its padded size (or an owner ID is too long to encode).
    #[error("link data too large")]
    TooLarge,
    /// A part's secret box did not open: wrong key or altered ciphertext.
    #[error("link data decryption error")]
    Decrypt,
    /// A part opened but is not a valid record (or not of the link's mode).
    #[error("invalid link data: {0}")]
    Decode(#[from] DecodeError),
    /// The fixed part's SHA3-256 is not the link key.
    #[error("link data hash")]
    Hash,
    /// The fixed part is not signed by its root key.
    #[error("link data signature")]
    FixedSignature,
    /// The user part is signed by neither the root key nor an owner.
    #[error("user data signature")]
    UserSignature,
    /// The owners of a contact address are not validly authorised.
    #[error(transparent)]
    Owner(#[from] OwnerError),
}

/// Why a contact address's owner list is refused (`validateLinkOwners`). The owner ID is an
/// application's public identifier (a group member ID), printed as unpadded base64url as the
/// reference does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerError {
    /// An owner's key is the root key.
    #[error(
        "owner key for ID {} matches root key",
        crate::short_link::unpadded(owner_id)
    )]
    RootKey {
        /// The owner's ID.
        owner_id: Vec<u8>,
    },
    /// An owner repeats the ID or the key of an earlier one.
    #[error("duplicate owner key or ID {}", crate::short_link::unpadded(owner_id))]
    Duplicate {
        /// The owner's ID.
        owner_id: Vec<u8>,
    },
    /// An owner is authorised by neither the root key nor an earlier owner.
    #[error(
        "invalid authorization of owner ID {}",
        crate::short_link::unpadded(owner_id)
    )]
    Unauthorized {
        /// The owner's ID.
        owner_id: Vec<u8>,
    },
}
