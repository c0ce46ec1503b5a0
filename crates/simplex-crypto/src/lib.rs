//! The cryptography of the SimpleX protocols, exactly as the reference uses it
//! (`protocol/simplex-messaging.md` § Cryptographic algorithms; `Crypto.hs` and
//! `Crypto/Lazy.hs` in simplexmq).
//!
//! Owns: Ed25519/Ed448/X25519/X448 keys and their X.509 DER forms ([`keys`]), signatures,
//! X25519 agreement, the NaCl box and the reference's "secret box" ([`nacl`]), the deniable
//! crypto_box authenticator, SHA-256/512, HKDF-SHA512, AES-256-GCM and certificate
//! fingerprints ([`hash`], [`aead`]).
//!
//! Leaves out: certificates and TLS (`simplex-transport`), the double ratchet and PQ KEMs
//! (`simplex-ratchet`), and every wire type that merely carries keys (`smp-proto`).
//!
//! Sits directly above `simplex-encoding`. Does no I/O, reads no clock and draws no
//! randomness of its own: every function that needs randomness takes a caller's RNG.

pub mod error;
pub mod keys;

pub use error::CryptoError;
pub use keys::*;

/// SHA-256 (temporary; moves to the hash module).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
