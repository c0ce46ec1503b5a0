//! This crate's error type.

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
}
