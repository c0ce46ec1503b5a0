//! The two Diffie-Hellman algorithms a ratchet can use (`DhAlgorithm` in the reference):
//! X25519 and X448. The agent uses X448 for its ratchets; both are supported and tested.

use std::fmt::Debug;

use rand_core::{CryptoRng, RngCore};
use simplex_crypto::{
    dh_x25519, dh_x448, CryptoError, PrivateKeyX25519, PrivateKeyX448, PublicKeyX25519,
    PublicKeyX448,
};
use simplex_encoding::{Decode, Encode};
use zeroize::Zeroizing;

use crate::{RatchetError, RatchetKeySource};

/// A key-agreement algorithm for X3DH and the DH ratchet.
///
/// Public keys travel as their DER in a one-byte-length string (the `Encode` of
/// `simplex-crypto`); the associated data of a ratchet uses their raw bytes.
pub trait DhAlgorithm: Clone + Copy + Debug + PartialEq + Eq + 'static {
    /// The public key type.
    type Public: Clone + Debug + PartialEq + Eq + Encode + Decode;
    /// The private key type (zeroized on drop, Debug prints no bytes).
    type Private: Clone + Debug + PartialEq + Eq;
    /// The algorithm's name, for errors.
    const NAME: &'static str;

    /// A new random private key.
    fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self::Private;
    /// A private key made ahead of time by `keys` when it has one, else a new one.
    fn take_or_generate(
        keys: &dyn RatchetKeySource,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Self::Private;
    /// The public half of a private key.
    fn public_key(private: &Self::Private) -> Self::Public;
    /// The raw public key bytes (`pubKeyBytes`).
    fn public_raw(public: &Self::Public) -> &[u8];
    /// The shared secret's bytes (`dhBytes' (dh' public private)`).
    fn dh(
        public: &Self::Public,
        private: &Self::Private,
    ) -> Result<Zeroizing<Vec<u8>>, RatchetError>;
    /// The PKCS#8 DER of a private key, for the stored state.
    fn private_to_der(private: &Self::Private) -> Zeroizing<Vec<u8>>;
    /// Parses a private key from its PKCS#8 DER.
    fn private_from_der(der: &[u8]) -> Result<Self::Private, CryptoError>;
}

/// X25519 (`'X25519`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X25519;

/// X448 (`'X448`), the algorithm of the agent's ratchets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X448;

impl DhAlgorithm for X25519 {
    type Public = PublicKeyX25519;
    type Private = PrivateKeyX25519;
    const NAME: &'static str = "X25519";

    fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self::Private {
        PrivateKeyX25519::generate(rng)
    }
    fn take_or_generate(
        _keys: &dyn RatchetKeySource,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Self::Private {
        // Sources make X448 keys only: the agent's ratchets are X448.
        PrivateKeyX25519::generate(rng)
    }
    fn public_key(private: &Self::Private) -> Self::Public {
        private.public_key()
    }
    fn public_raw(public: &Self::Public) -> &[u8] {
        public.as_raw()
    }
    fn dh(
        public: &Self::Public,
        private: &Self::Private,
    ) -> Result<Zeroizing<Vec<u8>>, RatchetError> {
        Ok(Zeroizing::new(
            dh_x25519(public, private).as_bytes().to_vec(),
        ))
    }
    fn private_to_der(private: &Self::Private) -> Zeroizing<Vec<u8>> {
        private.to_der()
    }
    fn private_from_der(der: &[u8]) -> Result<Self::Private, CryptoError> {
        PrivateKeyX25519::from_der(der)
    }
}

impl DhAlgorithm for X448 {
    type Public = PublicKeyX448;
    type Private = PrivateKeyX448;
    const NAME: &'static str = "X448";

    fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self::Private {
        PrivateKeyX448::generate(rng)
    }
    fn take_or_generate(
        keys: &dyn RatchetKeySource,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Self::Private {
        keys.take_x448_key()
            .unwrap_or_else(|| PrivateKeyX448::generate(rng))
    }
    fn public_key(private: &Self::Private) -> Self::Public {
        private.public_key()
    }
    fn public_raw(public: &Self::Public) -> &[u8] {
        public.as_raw()
    }
    fn dh(
        public: &Self::Public,
        private: &Self::Private,
    ) -> Result<Zeroizing<Vec<u8>>, RatchetError> {
        let s =
            dh_x448(public, private).map_err(|_| RatchetError::InvalidKey("X448 public key"))?;
        Ok(Zeroizing::new(s.as_bytes().to_vec()))
    }
    fn private_to_der(private: &Self::Private) -> Zeroizing<Vec<u8>> {
        private.to_der()
    }
    fn private_from_der(der: &[u8]) -> Result<Self::Private, CryptoError> {
        PrivateKeyX448::from_der(der)
    }
}
