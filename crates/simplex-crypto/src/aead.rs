//! AES-256-GCM as the reference uses it (`encryptAEAD` / `decryptAEAD` and the `NoPad`
//! variants in `Crypto.hs`), for the double ratchet and file/WebRTC frames.
//!
//! The ratchet form takes a **16-byte IV** (GCM derives the counter block from it with
//! GHASH, as for any IV that is not 12 bytes), pads the message to a fixed length with a
//! two-byte length prefix, and returns the 16-byte tag separately from the ciphertext. The
//! no-pad form takes a standard 12-byte IV.

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// Length of the GCM authentication tag.
pub const AUTH_TAG_LEN: usize = 16;

type Gcm16 = AesGcm<Aes256, U16>;
type Gcm12 = AesGcm<Aes256, U12>;

/// A 256-bit AES key (`Key`). Zeroized on drop; Debug prints no bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct AesKey(pub [u8; 32]);

impl AesKey {
    /// A random key from the caller's RNG.
    pub fn random(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let mut k = AesKey([0u8; 32]);
        rng.fill_bytes(&mut k.0);
        k
    }
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(..)")
    }
}

/// `encryptAEAD`: pads `msg` to `padded_len`, encrypts with a 16-byte IV and associated data
/// `ad`. Returns `(tag, ciphertext)`; the ciphertext is `padded_len` bytes.
pub fn encrypt_aead(
    key: &AesKey,
    iv: &[u8; 16],
    padded_len: usize,
    ad: &[u8],
    msg: &[u8],
) -> Result<([u8; AUTH_TAG_LEN], Vec<u8>), CryptoError> {
    let mut buf = simplex_encoding::pad(msg, padded_len)?;
    let tag = Gcm16::new((&key.0).into())
        .encrypt_in_place_detached(iv.into(), ad, &mut buf)
        .map_err(|_| CryptoError::Library("AES-GCM encrypt"))?;
    Ok((tag.into(), buf))
}

/// `decryptAEAD`: checks the tag, decrypts with a 16-byte IV and removes the padding.
pub fn decrypt_aead(
    key: &AesKey,
    iv: &[u8; 16],
    ad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; AUTH_TAG_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let mut buf = ciphertext.to_vec();
    Gcm16::new((&key.0).into())
        .decrypt_in_place_detached(iv.into(), ad, &mut buf, tag.into())
        .map_err(|_| CryptoError::AeadDecryptFailed)?;
    let len = simplex_encoding::unpad(&buf)?.len();
    buf.drain(..2);
    buf.truncate(len);
    Ok(buf)
}

/// `encryptAEADNoPad`: encrypts `msg` as is with a standard 12-byte IV. Returns
/// `(tag, ciphertext)`.
pub fn encrypt_aead_no_pad(
    key: &AesKey,
    iv: &[u8; 12],
    ad: &[u8],
    msg: &[u8],
) -> Result<([u8; AUTH_TAG_LEN], Vec<u8>), CryptoError> {
    let mut buf = msg.to_vec();
    let tag = Gcm12::new((&key.0).into())
        .encrypt_in_place_detached(iv.into(), ad, &mut buf)
        .map_err(|_| CryptoError::Library("AES-GCM encrypt"))?;
    Ok((tag.into(), buf))
}

/// `decryptAEADNoPad`: checks the tag and decrypts with a standard 12-byte IV.
pub fn decrypt_aead_no_pad(
    key: &AesKey,
    iv: &[u8; 12],
    ad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; AUTH_TAG_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let mut buf = ciphertext.to_vec();
    Gcm12::new((&key.0).into())
        .decrypt_in_place_detached(iv.into(), ad, &mut buf, tag.into())
        .map_err(|_| CryptoError::AeadDecryptFailed)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::symm::Cipher;

    const KEY: AesKey = AesKey([7u8; 32]);

    #[test]
    fn padded_round_trip_and_layout() {
        let iv = [1u8; 16];
        let (tag, ct) = encrypt_aead(&KEY, &iv, 64, b"ad", b"hello").expect("fits");
        assert_eq!(ct.len(), 64);
        assert_eq!(
            decrypt_aead(&KEY, &iv, b"ad", &ct, &tag).expect("opens"),
            b"hello"
        );
        assert_eq!(
            decrypt_aead(&KEY, &iv, b"ae", &ct, &tag),
            Err(CryptoError::AeadDecryptFailed)
        );
        let mut bad = ct.clone();
        bad[10] ^= 1;
        assert!(decrypt_aead(&KEY, &iv, b"ad", &bad, &tag).is_err());
        let mut bad_tag = tag;
        bad_tag[0] ^= 1;
        assert!(decrypt_aead(&KEY, &iv, b"ad", &ct, &bad_tag).is_err());
        assert_eq!(
            encrypt_aead(&KEY, &iv, 6, b"", b"hello").map(|_| ()),
            Err(CryptoError::MessageTooLarge)
        );
    }

    /// The 16-byte IV form must be standard GCM (IV through GHASH), as cryptonite's
    /// `aes_gcm_init` does for any IV that is not 12 bytes: cross-check with OpenSSL.
    #[test]
    fn sixteen_byte_iv_matches_openssl() {
        let iv: [u8; 16] = core::array::from_fn(|i| u8::try_from(i).unwrap_or(0) * 3);
        let (tag, ct) = encrypt_aead(&KEY, &iv, 100, b"header", b"ratchet body").expect("fits");
        let plain = simplex_encoding::pad(b"ratchet body", 100).expect("fits");
        let mut ossl_tag = [0u8; 16];
        let ossl = openssl::symm::encrypt_aead(
            Cipher::aes_256_gcm(),
            &KEY.0,
            Some(&iv),
            b"header",
            &plain,
            &mut ossl_tag,
        )
        .expect("OpenSSL GCM with a 16-byte IV");
        assert_eq!(ossl, ct);
        assert_eq!(ossl_tag, tag);
    }

    #[test]
    fn no_pad_matches_openssl() {
        let iv = [9u8; 12];
        let (tag, ct) = encrypt_aead_no_pad(&KEY, &iv, b"", b"frame").expect("encrypts");
        let mut ossl_tag = [0u8; 16];
        let ossl = openssl::symm::encrypt_aead(
            Cipher::aes_256_gcm(),
            &KEY.0,
            Some(&iv),
            b"",
            b"frame",
            &mut ossl_tag,
        )
        .expect("OpenSSL GCM");
        assert_eq!((ossl_tag, ossl), (tag, ct.clone()));
        assert_eq!(
            decrypt_aead_no_pad(&KEY, &iv, b"", &ct, &tag).expect("opens"),
            b"frame"
        );
        assert!(decrypt_aead_no_pad(&KEY, &[8u8; 12], b"", &ct, &tag).is_err());
    }
}
