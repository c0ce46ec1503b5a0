//! End-to-end encryption of SimpleX agents: the reference's X3DH key agreement and double
//! ratchet with header encryption, augmented with the sntrup761 KEM (PQDR,
//! `protocol/pqdr.md`), byte for byte as `Crypto/Ratchet.hs` in simplexmq.
//!
//! Owns: the X3DH parameter records and their encodings ([`x3dh`]), the ratchet state, its
//! message header and envelope formats, encryption and decryption ([`ratchet`]), the E2E
//! versions and PQ switches ([`version`]), the sntrup761 wrapper ([`kem`]) and the KDFs
//! ([`keys`]).
//!
//! Leaves out: the agent envelope around ratchet messages, storage (the state and skipped
//! keys are values with an `Encode`/`Decode` form for the agent to store), and the
//! KEM-hybrid crypto_box of `Crypto/SNTRUP761.hs`.
//!
//! Sits above `simplex-encoding` and `simplex-crypto`, below the agent. Pure: no I/O, no
//! clock; every operation that needs randomness (new DH keys, KEM key pairs and
//! encapsulations) takes the caller's RNG.

pub mod dh;
pub mod error;
pub mod kem;
pub mod keys;
pub mod ratchet;
pub mod source;
pub mod version;
pub mod x3dh;

pub use dh::{DhAlgorithm, X25519, X448};
pub use error::RatchetError;
pub use kem::{KemCiphertext, KemKeyPair, KemPublicKey, KemSecretKey, KemSharedKey};
pub use keys::{HeaderKey, Key32, MessageKey};
pub use ratchet::{
    can_pad, decode_skipped_keys, encode_skipped_keys, full_header_len, full_message_len,
    message_id_part, padded_header_len, Decrypted, MsgEncryptKey, MsgHeader, Ratchet, RatchetKem,
    SkippedDiff, SkippedKeys, MAX_SKIP,
};
pub use source::{InlineKeys, RatchetKeySource};
pub use version::{
    pq_enable_support, PqEncryption, PqSupport, RatchetVersions, VersionE2E, VersionRangeE2E,
    CURRENT_E2E_VERSION, KDF_X3DH_E2E_VERSION, PQ_RATCHET_E2E_VERSION, SUPPORTED_E2E_VERSIONS,
};
pub use x3dh::{
    generate_rcv_e2e_params, generate_rcv_e2e_params_with, generate_snd_e2e_params,
    generate_snd_e2e_params_with, pq_x3dh_rcv, pq_x3dh_snd, reply_kem, E2ERatchetParams,
    E2ERatchetParamsUri, KemAccepted, PrivRKemParams, RKemParams, RatchetInitParams, UseKem,
    X3dhPrivateKeys,
};
