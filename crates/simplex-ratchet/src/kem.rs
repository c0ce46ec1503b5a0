//! sntrup761, the post-quantum KEM of PQDR (`Crypto/SNTRUP761/Bindings.hs` and
//! `cbits/sntrup761.c` in the reference).
//!
//! The reference binds the supercop-20201130 reference code: public key 1158 bytes, secret key
//! 1763 bytes, ciphertext 1039 bytes, shared key 32 bytes, the shared key being the KEM's own
//! session hash (nothing further is hashed or combined by the bindings). Key pairs
//! (module `keygen`), encapsulation and decapsulation (module `encap`) are our own, in safe
//! Rust and several times faster than the pure-Rust `sntrup761` crate's portable build,
//! whose key types hold the bytes and whose KEM the tests check ours against both ways.
//!
//! On the wire the public key, the ciphertext and (in stored private parameters) the secret
//! key are `Large` (two-byte length); the shared key is a one-byte-length string.

use std::fmt;

mod encap;
mod keygen;
mod r3;

use rand_core::{CryptoRng, RngCore};
use simplex_encoding::{Decode, DecodeError, Encode, Large, Reader};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of an sntrup761 public (encapsulation) key.
pub const KEM_PUBLIC_KEY_LEN: usize = sntrup761::PUBLIC_KEY_SIZE;
/// Length of an sntrup761 secret (decapsulation) key.
pub const KEM_SECRET_KEY_LEN: usize = sntrup761::SECRET_KEY_SIZE;
/// Length of an sntrup761 ciphertext.
pub const KEM_CIPHERTEXT_LEN: usize = sntrup761::CIPHERTEXT_SIZE;
/// Length of the shared key.
pub const KEM_SHARED_KEY_LEN: usize = sntrup761::SHARED_SECRET_SIZE;

/// An sntrup761 encapsulation key (`KEMPublicKey`).
#[derive(Clone, PartialEq, Eq)]
pub struct KemPublicKey(Box<sntrup761::EncapsulationKey>);

/// An sntrup761 decapsulation key (`KEMSecretKey`). Zeroized on drop; Debug prints no bytes.
#[derive(Clone)]
pub struct KemSecretKey(Box<sntrup761::DecapsulationKey>);

/// An sntrup761 ciphertext (`KEMCiphertext`).
#[derive(Clone, PartialEq, Eq)]
pub struct KemCiphertext(Box<sntrup761::Ciphertext>);

/// The 32-byte KEM shared key (`KEMSharedKey`). Zeroized on drop; Debug prints no bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KemSharedKey([u8; KEM_SHARED_KEY_LEN]);

/// A KEM key pair (`KEMKeyPair`): the public key and the secret key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KemKeyPair {
    /// The encapsulation key, sent to the peer.
    pub public: KemPublicKey,
    /// The decapsulation key, kept.
    pub secret: KemSecretKey,
}

impl KemKeyPair {
    /// A new key pair (`sntrup761Keypair`) from the caller's RNG, made by our own faster
    /// key generation (module `keygen`).
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let (pk, sk) = keygen::generate(rng);
        // Invariant: `keygen` makes keys of exactly these lengths, in the standard encoding.
        let pk = sntrup761::EncapsulationKey::try_from(&pk[..]).expect("a 1158-byte public key");
        let sk = sntrup761::DecapsulationKey::try_from(&sk[..]).expect("a 1763-byte secret key");
        KemKeyPair {
            public: KemPublicKey(Box::new(pk)),
            secret: KemSecretKey(Box::new(sk)),
        }
    }
}

impl KemPublicKey {
    /// From exactly [`KEM_PUBLIC_KEY_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        sntrup761::EncapsulationKey::try_from(bytes)
            .ok()
            .map(|k| KemPublicKey(Box::new(k)))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref().as_ref()
    }

    /// Encapsulates a fresh shared key to this public key (`sntrup761Enc`), seeded from the
    /// caller's RNG.
    pub fn encapsulate(
        &self,
        rng: &mut (impl CryptoRng + RngCore),
    ) -> (KemCiphertext, KemSharedKey) {
        let (ct, k) = encap::encapsulate(self.as_bytes(), rng);
        // Invariant: `encap` makes ciphertexts of exactly this length.
        let ct = sntrup761::Ciphertext::try_from(&ct[..]).expect("a 1039-byte ciphertext");
        (KemCiphertext(Box::new(ct)), KemSharedKey(*k))
    }
}

impl KemSecretKey {
    /// From exactly [`KEM_SECRET_KEY_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        sntrup761::DecapsulationKey::try_from(bytes)
            .ok()
            .map(|k| KemSecretKey(Box::new(k)))
    }

    /// The secret key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref().as_ref()
    }

    /// Decapsulates a ciphertext (`sntrup761Dec`). Never fails: a ciphertext that was not made
    /// for this key gives an unrelated pseudorandom key (implicit rejection).
    pub fn decapsulate(&self, ct: &KemCiphertext) -> KemSharedKey {
        KemSharedKey(*encap::decapsulate(self.as_bytes(), ct.as_bytes()))
    }
}

impl KemCiphertext {
    /// From exactly [`KEM_CIPHERTEXT_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        sntrup761::Ciphertext::try_from(bytes)
            .ok()
            .map(|c| KemCiphertext(Box::new(c)))
    }

    /// The ciphertext bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref().as_ref()
    }
}

impl KemSharedKey {
    /// From 32 bytes.
    pub fn from_bytes(bytes: [u8; KEM_SHARED_KEY_LEN]) -> Self {
        KemSharedKey(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; KEM_SHARED_KEY_LEN] {
        &self.0
    }
}

impl PartialEq for KemSecretKey {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.as_bytes().ct_eq(other.as_bytes()))
    }
}
impl Eq for KemSecretKey {}

impl PartialEq for KemSharedKey {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}
impl Eq for KemSharedKey {}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.as_bytes();
        write!(
            f,
            "KemPublicKey({:02x}{:02x}{:02x}{:02x}..)",
            b[0], b[1], b[2], b[3]
        )
    }
}
impl fmt::Debug for KemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.as_bytes();
        write!(
            f,
            "KemCiphertext({:02x}{:02x}{:02x}{:02x}..)",
            b[0], b[1], b[2], b[3]
        )
    }
}
impl fmt::Debug for KemSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemSecretKey(..)")
    }
}
impl fmt::Debug for KemSharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemSharedKey(..)")
    }
}

fn encode_large(bytes: &[u8], out: &mut Vec<u8>) {
    // Invariant: KEM keys and ciphertexts are at most 1763 bytes (< 65536).
    Large::encode_slice(bytes, out).expect("KEM values are shorter than 65536 bytes");
}

/// `Large` bytes.
impl Encode for KemPublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_large(self.as_bytes(), out);
    }
}
impl Decode for KemPublicKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        KemPublicKey::from_bytes(r.large_bytes()?).ok_or(DecodeError::Invalid("KEM public key"))
    }
}

/// `Large` bytes.
impl Encode for KemCiphertext {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_large(self.as_bytes(), out);
    }
}
impl Decode for KemCiphertext {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        KemCiphertext::from_bytes(r.large_bytes()?).ok_or(DecodeError::Invalid("KEM ciphertext"))
    }
}

/// `Large` bytes (stored private parameters only).
impl Encode for KemSecretKey {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_large(self.as_bytes(), out);
    }
}
impl Decode for KemSecretKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        KemSecretKey::from_bytes(r.large_bytes()?).ok_or(DecodeError::Invalid("KEM secret key"))
    }
}

/// A one-byte-length string.
impl Encode for KemSharedKey {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}
impl Decode for KemSharedKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.short_bytes()?;
        let arr = <[u8; KEM_SHARED_KEY_LEN]>::try_from(bytes)
            .map_err(|_| DecodeError::Invalid("KEM shared key"))?;
        Ok(KemSharedKey(arr))
    }
}

/// `(public, secret)` as a tuple: two `Large` strings.
impl Encode for KemKeyPair {
    fn encode(&self, out: &mut Vec<u8>) {
        self.public.encode(out);
        self.secret.encode(out);
    }
}
impl Decode for KemKeyPair {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KemKeyPair {
            public: r.read()?,
            secret: r.read()?,
        })
    }
}
