//! The key types this crate carries, from `simplex-crypto`, and helpers to read them from
//! their string forms.

use simplex_encoding::string::base64url_decode;
use simplex_encoding::DecodeError;

pub use simplex_crypto::{KeyHash, PublicAuthKey, PublicKeyX25519, PublicSignKey, Signature};

/// Parses a server identity from base64url (with or without padding), as in `smp://`
/// addresses. Any non-empty byte string of at most 255 bytes is accepted, as the reference
/// accepts it; only the TLS identity check needs the 32-byte fingerprint of the server's CA.
pub fn parse_key_hash(s: &[u8]) -> Result<KeyHash, DecodeError> {
    key_hash_from_bytes(&base64url_decode(s)?)
}

/// A server identity from its raw bytes (at most 255).
pub fn key_hash_from_bytes(bytes: &[u8]) -> Result<KeyHash, DecodeError> {
    KeyHash::from_slice(bytes).map_err(|_| DecodeError::Invalid("key hash length"))
}
