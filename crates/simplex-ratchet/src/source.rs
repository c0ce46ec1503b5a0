//! Where a ratchet's new key pairs come from.
//!
//! Every DH ratchet step makes a new X448 key pair, and a PQ one a new sntrup761 key pair as
//! well; X3DH makes two X448 keys (and a KEM key pair with PQ). Making them costs as much as
//! an agreement, on the path of the message that turns a conversation's direction. A
//! [`RatchetKeySource`] can hand out keys made ahead of time, off that path (the agent keeps
//! a supply made by its own threads); [`InlineKeys`] has none, so each is generated from the
//! caller's RNG when needed, as the reference does.

use rand_core::{CryptoRng, RngCore};
use simplex_crypto::PrivateKeyX448;

use crate::kem::KemKeyPair;

/// Keys made ahead of time. Each key is handed out once (moved out), so no two ratchet
/// steps or X3DH exchanges ever share one; `None` means none is ready and the caller
/// generates its own.
pub trait RatchetKeySource {
    /// An sntrup761 key pair never handed out before.
    fn take_kem_key_pair(&self) -> Option<KemKeyPair>;
    /// An X448 private key never handed out before.
    fn take_x448_key(&self) -> Option<PrivateKeyX448> {
        None
    }
}

impl dyn RatchetKeySource + '_ {
    /// A ready KEM key pair, else a new one from `rng`.
    pub fn take_or_generate(&self, rng: &mut (impl CryptoRng + RngCore)) -> KemKeyPair {
        self.take_kem_key_pair()
            .unwrap_or_else(|| KemKeyPair::generate(rng))
    }
}

/// No keys made ahead of time: each is generated when it is needed.
#[derive(Clone, Copy, Debug, Default)]
pub struct InlineKeys;

impl RatchetKeySource for InlineKeys {
    fn take_kem_key_pair(&self) -> Option<KemKeyPair> {
        None
    }
}
