//! Digests, HKDF and certificate fingerprints (`sha256Hash`, `sha512Hash`, `sha3_256`,
//! `sha3_384`, `hkdf`, `KeyHash` in the reference's `Crypto.hs`).

use std::fmt;
use std::str::FromStr;

use simplex_encoding::string::{base64url_decode, base64url_encode};
use simplex_encoding::{Decode, DecodeError, Encode, Reader};
use zeroize::Zeroizing;

use crate::CryptoError;

/// SHA-256 of `bytes` (OpenSSL: about twice as fast as `sha2` here).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(bytes)
}

/// SHA-512 of `bytes` (OpenSSL; the digest inside every crypto_box authenticator).
pub fn sha512(bytes: &[u8]) -> [u8; 64] {
    openssl::sha::sha512(bytes)
}

/// SHA3-256 of `bytes` (the short-link key is the SHA3-256 of the encoded fixed link data).
pub fn sha3_256(bytes: &[u8]) -> [u8; 32] {
    use sha3::Digest as _;
    sha3::Sha3_256::digest(bytes).into()
}

/// SHA3-384 of `bytes` (the first 24 bytes of the SHA3-384 of a `NEW` command's correlation
/// ID are the sender ID of a queue created with its link data).
pub fn sha3_384(bytes: &[u8]) -> [u8; 48] {
    use sha3::Digest as _;
    sha3::Sha3_384::digest(bytes).into()
}

/// HKDF with SHA-512 (the reference's `hkdf` uses SHA-512 for both extract and expand):
/// `out_len` bytes derived from `ikm` with `salt` and `info`. At most 255 × 64 bytes.
pub fn hkdf_sha512(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out_len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; out_len]);
    hkdf_sha512_into(salt, ikm, info, &mut out)?;
    Ok(out)
}

/// [`hkdf_sha512`] filling a caller's buffer.
///
/// HMAC-SHA512 is built here on OpenSSL's SHA-512 (faster than `sha2` on this hardware; the
/// v11 block chain runs one HKDF per 16 KiB block, each way): the keyed inner and outer states
/// are computed once and cloned per use, as RFC 2104 allows. The `hkdf` crate's output is the
/// test's reference.
pub fn hkdf_sha512_into(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    if out.len() > 255 * 64 {
        return Err(CryptoError::HkdfLength(out.len()));
    }
    let prk = Zeroizing::new(HmacSha512::new(salt).mac(&[ikm]));
    let expand = HmacSha512::new(&prk[..]);
    let mut t = Zeroizing::new([0u8; 64]);
    let mut t_len = 0;
    for (i, chunk) in out.chunks_mut(64).enumerate() {
        // At most 255 chunks (checked above): the counter fits in a byte.
        let counter = [u8::try_from(i + 1).unwrap_or(u8::MAX)];
        *t = expand.mac(&[&t[..t_len], info, &counter]);
        t_len = 64;
        chunk.copy_from_slice(&t[..chunk.len()]);
    }
    Ok(())
}

/// HMAC-SHA512 with its key's inner and outer hash states computed once.
struct HmacSha512 {
    inner: openssl::sha::Sha512,
    outer: openssl::sha::Sha512,
}

impl HmacSha512 {
    /// SHA-512's block size: keys are padded (or first hashed) to it.
    const BLOCK: usize = 128;

    fn new(key: &[u8]) -> Self {
        let mut block = Zeroizing::new([0u8; Self::BLOCK]);
        if key.len() > Self::BLOCK {
            block[..64].copy_from_slice(&openssl::sha::sha512(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut pad = Zeroizing::new([0u8; Self::BLOCK]);
        let mut inner = openssl::sha::Sha512::new();
        for (p, k) in pad.iter_mut().zip(block.iter()) {
            *p = k ^ 0x36;
        }
        inner.update(&pad[..]);
        let mut outer = openssl::sha::Sha512::new();
        for (p, k) in pad.iter_mut().zip(block.iter()) {
            *p = k ^ 0x5c;
        }
        outer.update(&pad[..]);
        HmacSha512 { inner, outer }
    }

    /// The MAC of the concatenation of `parts`.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 64] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let inner_digest = Zeroizing::new(inner.finish());
        let mut outer = self.outer.clone();
        outer.update(&inner_digest[..]);
        outer.finish()
    }
}

/// A server identity (`KeyHash`): in a real address the SHA-256 of the DER of the server's
/// offline CA certificate, the `<fingerprint>` of `smp://<fingerprint>@host`.
///
/// As in the reference it is any byte string: the identity of a preset relay is left out of
/// short links (empty), and test addresses carry short ones. Only the TLS identity check
/// requires it to be the 32-byte fingerprint of the server's certificate; any other value
/// never matches. At most 255 bytes (its binary form has a one-byte length).
///
/// Displayed and parsed as base64url (printed with `=` padding, parsed with or without);
/// binary-encoded as a one-byte-length string.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(Vec<u8>);

impl KeyHash {
    /// The longest key hash: its binary form has a one-byte length.
    pub const MAX_LEN: usize = 255;

    /// The fingerprint of a certificate given as DER.
    pub fn of_certificate_der(der: &[u8]) -> Self {
        KeyHash(sha256(der).to_vec())
    }

    /// Any byte string of at most [`KeyHash::MAX_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(CryptoError::InvalidKeyLength {
                what: "key hash",
                expected: Self::MAX_LEN,
                got: bytes.len(),
            });
        }
        Ok(KeyHash(bytes.to_vec()))
    }

    /// The empty key hash, as short links to preset relays carry.
    pub fn empty() -> Self {
        KeyHash(Vec::new())
    }

    /// True for the empty key hash.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The 32 bytes of a certificate fingerprint, or `None` when this key hash is of another
    /// length (and so can name no certificate).
    pub fn fingerprint(&self) -> Option<[u8; 32]> {
        <[u8; 32]>::try_from(self.0.as_slice()).ok()
    }
}

/// A certificate fingerprint.
impl From<[u8; 32]> for KeyHash {
    fn from(bytes: [u8; 32]) -> Self {
        KeyHash(bytes.to_vec())
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url_encode(&self.0))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({self})")
    }
}

/// base64url, which is never empty (the reference's `base64urlP`).
impl FromStr for KeyHash {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = base64url_decode(s.as_bytes())?;
        KeyHash::from_slice(&bytes)
    }
}

/// A one-byte-length string.
impl Encode for KeyHash {
    fn encode(&self, out: &mut Vec<u8>) {
        // Invariant: every constructor keeps the length within MAX_LEN (255).
        out.push(u8::try_from(self.0.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.0.get(..Self::MAX_LEN).unwrap_or(&self.0));
    }
}

impl Decode for KeyHash {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KeyHash(r.short_bytes()?.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_encoding::decode_all;

    // Expected values computed with Python's hmac/hashlib, independently of these crates.
    #[test]
    fn hkdf_sha512_known_answers() {
        let out = hkdf_sha512(b"salt", b"input key material", b"SimpleXSbChainInit", 100)
            .expect("length within limit");
        assert_eq!(
            hex::encode(&out[..]),
            "fa21d394f7b0eb2edefddde88de1e3d3cc105d73629a9534cb0b909db4d8bad5fc6e7d9ac94e39aa\
             c2fb08eb548a9af324bca194460371837a37ccf291522c2e2afa81508dccc338fb7eda9ad538f592\
             6fa7d25012626bae0c7418d9ee14b9091242011f"
        );
        // Empty salt (as in the reference's chain-key step).
        let out = hkdf_sha512(b"", b"ck", b"SimpleXSbChain", 32).expect("length within limit");
        assert_eq!(
            hex::encode(&out[..]),
            "71a0aef45d79ab29651d9f35c4ab83523d18c4f33f82f31491d9d3ea283acfb1"
        );
        assert!(hkdf_sha512(b"", b"ck", b"", 255 * 64).is_ok());
        assert_eq!(
            hkdf_sha512(b"", b"ck", b"", 255 * 64 + 1).map(|_| ()),
            Err(CryptoError::HkdfLength(255 * 64 + 1))
        );
    }

    proptest::proptest! {
        #[test]
        fn hkdf_equals_the_hkdf_crate(salt in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                                      ikm in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
                                      info in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                                      len in 0usize..300) {
            let mut ours = vec![0u8; len];
            hkdf_sha512_into(&salt, &ikm, &info, &mut ours).expect("length within limit");
            let mut theirs = vec![0u8; len];
            hkdf::Hkdf::<sha2::Sha512>::new(Some(&salt), &ikm)
                .expand(&info, &mut theirs)
                .expect("length within limit");
            proptest::prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn digests() {
        assert_eq!(
            hex::encode(&sha512(b"abc")[..16]),
            "ddaf35a193617abacc417349ae204131"
        );
        assert_eq!(sha512(b"abc").as_slice(), {
            use sha2::Digest;
            sha2::Sha512::digest(b"abc").as_slice()
        });
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // FIPS 202 examples (also Python's hashlib.sha3_256 / sha3_384).
        assert_eq!(
            hex::encode(sha3_256(b"abc")),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        assert_eq!(
            hex::encode(sha3_384(b"abc")),
            "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b2\
             98d88cea927ac7f539f1edf228376d25"
        );
    }

    #[test]
    fn key_hash_text_and_binary() {
        let h = KeyHash::of_certificate_der(b"not really a certificate");
        let s = h.to_string();
        assert!(s.ends_with('='));
        assert_eq!(s.parse::<KeyHash>().expect("padded"), h);
        assert_eq!(
            s.trim_end_matches('=')
                .parse::<KeyHash>()
                .expect("unpadded"),
            h
        );
        // Any length is a key hash (the reference's test relays use `1234-w==`, 4 bytes);
        // only the empty string is not base64url.
        assert_eq!(
            "1234-w==".parse::<KeyHash>().map(|k| k.as_bytes().len()),
            Ok(4)
        );
        assert_eq!(
            "1234-w".parse::<KeyHash>().map(|k| k.to_string()),
            Ok("1234-w==".into())
        );
        assert!("".parse::<KeyHash>().is_err());
        assert!("!!!".parse::<KeyHash>().is_err());
        let enc = h.to_bytes();
        assert_eq!(enc.len(), 33);
        assert_eq!(decode_all::<KeyHash>(&enc).expect("round trip"), h);
        assert!(decode_all::<KeyHash>(&enc[..32]).is_err());
        assert_eq!(decode_all::<KeyHash>(&[0]), Ok(KeyHash::empty()));
        assert_eq!(
            decode_all::<KeyHash>(&[3, 1, 2, 3]).map(|k| k.fingerprint()),
            Ok(None)
        );
        assert_eq!(h.fingerprint().map(KeyHash::from), Some(h.clone()));
        assert!(KeyHash::from_slice(&[0; 256]).is_err());
    }
}
