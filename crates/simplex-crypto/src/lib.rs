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

pub mod aead;
pub mod digest_stream;
pub mod error;
pub mod hash;
pub mod keys;
pub mod nacl;

pub use aead::{
    decrypt_aead, decrypt_aead_no_pad, encrypt_aead, encrypt_aead_no_pad, AesKey, AUTH_TAG_LEN,
};
pub use digest_stream::{Sha256Stream, Sha512Stream};
pub use error::CryptoError;
pub use hash::{hkdf_sha512, hkdf_sha512_into, sha256, sha3_256, sha3_384, sha512, KeyHash};
pub use keys::*;
pub use nacl::{
    cb_authenticate, cb_authenticate_with_key, cb_decrypt, cb_decrypt_no_pad, cb_encrypt,
    cb_encrypt_into, cb_encrypt_no_pad, cb_verify, cb_verify_with_key, sb_decrypt,
    sb_decrypt_no_pad, sb_decrypt_tail_tag, sb_encrypt, sb_encrypt_no_pad, sb_encrypt_tail_tag,
    CbAuthenticator, CbKey, CbNonce, SbKey, SbStream,
};
