//! The key material the server keeps per queue, in the forms the store log prints.
//!
//! Public keys are kept as their X.509 `SubjectPublicKeyInfo` DER (what the store log and the
//! wire carry, base64url-printed in the log); DH secrets as their raw bytes. Parsing here is
//! only of the fixed-prefix DER forms of the four algorithms SMP uses.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The algorithms a queue key may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// Ed25519 signing key (32 bytes).
    Ed25519,
    /// Ed448 signing key (57 bytes).
    Ed448,
    /// X25519 key: a DH key, or an authorization key for crypto_box authenticators (32 bytes).
    X25519,
    /// X448 DH key (56 bytes).
    X448,
}

impl KeyAlgorithm {
    /// The DER prefix before the raw key bytes.
    fn der_prefix(self) -> &'static [u8] {
        match self {
            KeyAlgorithm::Ed25519 => &[
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ],
            KeyAlgorithm::X25519 => &[
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
            ],
            KeyAlgorithm::Ed448 => &[
                0x30, 0x43, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x03, 0x3a, 0x00,
            ],
            KeyAlgorithm::X448 => &[
                0x30, 0x42, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f, 0x03, 0x39, 0x00,
            ],
        }
    }

    /// Raw key length.
    pub fn key_len(self) -> usize {
        match self {
            KeyAlgorithm::Ed25519 | KeyAlgorithm::X25519 => 32,
            KeyAlgorithm::Ed448 => 57,
            KeyAlgorithm::X448 => 56,
        }
    }

    const ALL: [KeyAlgorithm; 4] = [
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::X25519,
        KeyAlgorithm::Ed448,
        KeyAlgorithm::X448,
    ];
}

/// A public key: algorithm and raw bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
    /// The raw key bytes (length per algorithm).
    pub raw: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({:?})", self.algorithm)
    }
}

/// A key's DER did not parse as one of the four algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unsupported or malformed public key DER")]
pub struct BadKey;

impl PublicKey {
    /// An Ed25519 public key.
    pub fn ed25519(raw: [u8; 32]) -> Self {
        PublicKey {
            algorithm: KeyAlgorithm::Ed25519,
            raw: raw.to_vec(),
        }
    }

    /// An X25519 public key.
    pub fn x25519(raw: [u8; 32]) -> Self {
        PublicKey {
            algorithm: KeyAlgorithm::X25519,
            raw: raw.to_vec(),
        }
    }

    /// Parses `SubjectPublicKeyInfo` DER.
    pub fn from_der(der: &[u8]) -> Result<Self, BadKey> {
        for algorithm in KeyAlgorithm::ALL {
            if let Some(raw) = der.strip_prefix(algorithm.der_prefix()) {
                if raw.len() == algorithm.key_len() {
                    return Ok(PublicKey {
                        algorithm,
                        raw: raw.to_vec(),
                    });
                }
            }
        }
        Err(BadKey)
    }

    /// The `SubjectPublicKeyInfo` DER.
    pub fn to_der(&self) -> Vec<u8> {
        let mut out = self.algorithm.der_prefix().to_vec();
        out.extend_from_slice(&self.raw);
        out
    }

    /// The raw bytes as a 32-byte array, for the 25519 algorithms.
    pub fn raw32(&self) -> Option<[u8; 32]> {
        self.raw.as_slice().try_into().ok()
    }
}

/// A DH shared secret (X25519: 32 bytes; X448: 56), zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DhSecret(Vec<u8>);

impl fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhSecret(..)")
    }
}

impl DhSecret {
    /// Wraps raw secret bytes (32 or 56 bytes).
    pub fn new(raw: Vec<u8>) -> Result<Self, BadKey> {
        if raw.len() == 32 || raw.len() == 56 {
            Ok(DhSecret(raw))
        } else {
            Err(BadKey)
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The X25519 secret, when it is one.
    pub fn x25519(&self) -> Option<[u8; 32]> {
        self.0.as_slice().try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_round_trip_and_rejects() {
        for (alg, len) in [
            (KeyAlgorithm::Ed25519, 32),
            (KeyAlgorithm::X25519, 32),
            (KeyAlgorithm::Ed448, 57),
            (KeyAlgorithm::X448, 56),
        ] {
            let k = PublicKey {
                algorithm: alg,
                raw: vec![7; len],
            };
            let der = k.to_der();
            assert_eq!(PublicKey::from_der(&der), Ok(k));
            assert_eq!(PublicKey::from_der(&der[..der.len() - 1]), Err(BadKey));
        }
        assert_eq!(PublicKey::from_der(b""), Err(BadKey));
        assert!(DhSecret::new(vec![1; 31]).is_err());
        assert_eq!(
            format!("{:?}", DhSecret::new(vec![1; 32]).expect("32 bytes")),
            "DhSecret(..)"
        );
    }
}
