//! The key types this crate carries, from `simplex-crypto`, and the server identity
//! [`KeyHash`].

use std::fmt;

use simplex_encoding::string::{base64url_decode, base64url_encode};
use simplex_encoding::{Decode, DecodeError, Encode, Reader, ShortBytes};

pub use simplex_crypto::{PublicAuthKey, PublicKeyX25519, PublicSignKey, Signature};

/// A server identity: the SHA-256 fingerprint of its offline CA certificate (`KeyHash`).
/// The reference does not check its length on the wire, so neither does this type.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(ShortBytes);

impl KeyHash {
    /// Wraps fingerprint bytes (at most 255).
    pub fn new(bytes: &[u8]) -> Result<Self, simplex_encoding::LengthError> {
        Ok(KeyHash(ShortBytes::from_slice(bytes)?))
    }

    /// The fingerprint bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Parses base64url (with or without padding), as in `smp://` addresses.
    pub fn parse_str(s: &[u8]) -> Result<Self, DecodeError> {
        let bytes = base64url_decode(s)?;
        KeyHash::new(&bytes).map_err(|_| DecodeError::Invalid("key hash length"))
    }
}

/// base64url with padding, as the reference prints it.
impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url_encode(self.as_bytes()))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({self})")
    }
}

impl Encode for KeyHash {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}

impl Decode for KeyHash {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KeyHash(ShortBytes::decode(r)?))
    }
}
