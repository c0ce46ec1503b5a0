//! Symmetric ratchet keys: root, chain, header and message keys (`RatchetKey`, `HeaderKey`,
//! `MessageKey` in `Crypto/Ratchet.hs`), and the reference's KDFs over them.

use std::fmt;

use simplex_crypto::hkdf_sha512;
use simplex_encoding::{Decode, DecodeError, Encode, Reader};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::RatchetError;

/// A 32-byte secret: a root, chain or header key. Zeroized on drop; Debug prints no bytes.
///
/// Ordered by its bytes so that header keys can index the skipped-key map as in the reference.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Zeroize, ZeroizeOnDrop)]
pub struct Key32(pub(crate) [u8; 32]);

impl Key32 {
    /// From 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key32(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn from_slice(s: &[u8]) -> Self {
        let mut k = [0u8; 32];
        k.copy_from_slice(s);
        Key32(k)
    }
}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(..)")
    }
}

/// A one-byte-length string (as `Key` and `RatchetKey` are encoded).
impl Encode for Key32 {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl Decode for Key32 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Key32(r.read()?))
    }
}

/// A header key (`HeaderKey`).
pub type HeaderKey = Key32;

/// A message key and its 16-byte IV (`MessageKey`).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MessageKey {
    /// The AES-256 key.
    pub(crate) key: [u8; 32],
    /// The 16-byte GCM IV.
    pub(crate) iv: [u8; 16],
}

impl MessageKey {
    /// From a key and an IV.
    pub fn new(key: [u8; 32], iv: [u8; 16]) -> Self {
        MessageKey { key, iv }
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(..)")
    }
}

/// The key as a one-byte-length string, then the 16 IV bytes with no length.
impl Encode for MessageKey {
    fn encode(&self, out: &mut Vec<u8>) {
        self.key.encode(out);
        out.extend_from_slice(&self.iv);
    }
}

impl Decode for MessageKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let key = r.read()?;
        let iv = r.array()?;
        Ok(MessageKey { key, iv })
    }
}

/// `hkdf3`: 96 bytes of HKDF-SHA512 split in three 32-byte keys.
fn hkdf3(salt: &[u8], ikm: &[u8], info: &[u8]) -> Result<(Key32, Key32, Key32), RatchetError> {
    let out = hkdf_sha512(salt, ikm, info, 96)?;
    Ok((
        Key32::from_slice(&out[..32]),
        Key32::from_slice(&out[32..64]),
        Key32::from_slice(&out[64..96]),
    ))
}

/// The X3DH KDF: 64 zero bytes of salt, info `SimpleXX3DH`. Returns (header key, next header
/// key, shared root key).
pub(crate) fn x3dh_kdf(dhs: &[u8]) -> Result<(Key32, Key32, Key32), RatchetError> {
    hkdf3(&[0u8; 64], dhs, b"SimpleXX3DH")
}

/// `rootKdf`: salt = root key, input = DH output ‖ optional KEM shared key, info
/// `SimpleXRootRatchet`. Returns (root key, chain key, next header key).
pub(crate) fn root_kdf(rk: &Key32, ikm: &[u8]) -> Result<(Key32, Key32, Key32), RatchetError> {
    hkdf3(&rk.0, ikm, b"SimpleXRootRatchet")
}

/// `chainKdf`: empty salt, input = chain key, info `SimpleXChainRatchet`. Returns (next chain
/// key, message key with its IV, header IV).
pub(crate) fn chain_kdf(ck: &Key32) -> Result<(Key32, MessageKey, [u8; 16]), RatchetError> {
    let (ck2, mk, ivs) = hkdf3(b"", &ck.0, b"SimpleXChainRatchet")?;
    let mut iv = [0u8; 16];
    let mut header_iv = [0u8; 16];
    iv.copy_from_slice(&ivs.0[..16]);
    header_iv.copy_from_slice(&ivs.0[16..]);
    Ok((ck2, MessageKey { key: mk.0, iv }, header_iv))
}
