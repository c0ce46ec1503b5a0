//! The secret-box key chains of encrypted transport blocks (SMP v11; `sbcInit`, `sbcHkdf`
//! in the reference's `Crypto.hs`, `blockEncryption`, `tPutBlock` and `tGetBlock` in its
//! `Transport.hs`).
//!
//! From the X25519 secret of the client's hello key and the server's session key, and the
//! session ID: `HKDF-SHA512(salt = session ID, ikm = secret, info = "SimpleXSbChainInit")`
//! gives 64 bytes, two chain keys. The server sends with the first and receives with the
//! second; the client the other way round. For each block a chain key `ck` gives
//! `HKDF-SHA512(salt = "", ikm = ck, info = "SimpleXSbChain")` = 88 bytes: the next chain key
//! (32), the secret-box key (32) and the nonce (24). The block's content is padded to
//! 16,368 bytes and secret-boxed (`sbEncrypt`: tag ‖ ciphertext), which fills 16,384 bytes.
//!
//! Not used when the client is a proxy (its traffic is already encrypted end to end) or the
//! version is below v11.

use simplex_crypto::nacl::{CbKey, CbNonce};
use simplex_crypto::{hkdf_sha512_into, DhSecretX25519, SbKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::block::BLOCK_SIZE;

/// The padded size of a block's content before it is secret-boxed (the block minus the tag).
pub const ENCRYPTED_PADDED_SIZE: usize = BLOCK_SIZE - TAG_SIZE;
/// The size of a secret-box tag.
pub const TAG_SIZE: usize = 16;

const INIT_INFO: &[u8] = b"SimpleXSbChainInit";
const STEP_INFO: &[u8] = b"SimpleXSbChain";

/// One direction's chain key (`SbChainKey`). Zeroized on drop; Debug prints no bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SbChainKey([u8; 32]);

impl std::fmt::Debug for SbChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SbChainKey(..)")
    }
}

impl SbChainKey {
    /// A chain key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SbChainKey(bytes)
    }

    /// The two chain keys of a session (`sbcInit`): `(ck1, ck2)` from the session ID and the
    /// DH secret. The server sends with `ck1`; the client sends with `ck2`.
    pub fn init(session_id: &[u8], secret: &DhSecretX25519) -> (SbChainKey, SbChainKey) {
        let mut out = zeroize::Zeroizing::new([0u8; 64]);
        // 64 bytes is far below HKDF-SHA512's limit of 255 × 64: the call cannot fail.
        let _ = hkdf_sha512_into(session_id, secret.as_bytes(), INIT_INFO, &mut out[..]);
        let mut ck1 = [0u8; 32];
        let mut ck2 = [0u8; 32];
        ck1.copy_from_slice(&out[..32]);
        ck2.copy_from_slice(&out[32..]);
        (SbChainKey(ck1), SbChainKey(ck2))
    }

    /// One step (`sbcHkdf`): replaces this key with the next one and returns the secret-box
    /// key and nonce for the current block.
    pub fn step(&mut self) -> (SbKey, CbNonce) {
        let mut out = zeroize::Zeroizing::new([0u8; 88]);
        // 88 bytes: within HKDF-SHA512's limit, the call cannot fail.
        let _ = hkdf_sha512_into(b"", &self.0, STEP_INFO, &mut out[..]);
        self.0.copy_from_slice(&out[..32]);
        let mut key = SbKey([0u8; 32]);
        key.0.copy_from_slice(&out[32..64]);
        let mut nonce = CbNonce([0u8; 24]);
        nonce.0.copy_from_slice(&out[64..88]);
        (key, nonce)
    }
}

/// Seals a padded plaintext block in place (the tests' reference for [`seal_block_to`]): `buf` holds 16 bytes of room for the tag and then
/// exactly [`ENCRYPTED_PADDED_SIZE`] bytes; afterwards it is the 16,384-byte encrypted block.
#[cfg(test)]
pub(crate) fn seal_block(chain: &mut SbChainKey, buf: &mut [u8]) {
    let (key, nonce) = chain.step();
    let (tag, body) = buf.split_at_mut(TAG_SIZE);
    let t = CbKey::from_sb_key(&key).seal_in_place(&nonce, body);
    tag.copy_from_slice(&t);
}

/// Opens an encrypted 16,384-byte block in place (the tests' reference for [`open_block_to`]); on success `buf[TAG_SIZE..]` is the padded
/// plaintext. A block that does not authenticate is an error (the chain still advances, as
/// the reference's does).
#[cfg(test)]
pub(crate) fn open_block(chain: &mut SbChainKey, buf: &mut [u8]) -> Result<(), ()> {
    let (key, nonce) = chain.step();
    let (tag, body) = buf.split_first_chunk_mut::<TAG_SIZE>().ok_or(())?;
    CbKey::from_sb_key(&key)
        .open_in_place(&nonce, body, tag)
        .map_err(|_| ())
}

/// Seals a padded plaintext block (exactly [`ENCRYPTED_PADDED_SIZE`] bytes) into `out`
/// (exactly [`BLOCK_SIZE`] bytes: tag ‖ ciphertext), without copying it first.
pub(crate) fn seal_block_to(
    chain: &mut SbChainKey,
    plain: &[u8],
    out: &mut [u8],
) -> Result<(), ()> {
    let (key, nonce) = chain.step();
    CbKey::from_sb_key(&key)
        .seal_to(&nonce, plain, out)
        .map_err(|_| ())
}

/// Opens an encrypted 16,384-byte block into `out` (its [`ENCRYPTED_PADDED_SIZE`]-byte padded
/// plaintext). A block that does not authenticate is an error; the chain advances either way.
pub(crate) fn open_block_to(
    chain: &mut SbChainKey,
    sealed: &[u8],
    out: &mut [u8],
) -> Result<(), ()> {
    let (key, nonce) = chain.step();
    CbKey::from_sb_key(&key)
        .open_to(&nonce, sealed, out)
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_sealed_by_one_chain_opens_with_its_twin_only() {
        let secret = DhSecretX25519::from_bytes([7; 32]);
        let (mut a, _) = SbChainKey::init(b"session", &secret);
        let (mut b, _) = SbChainKey::init(b"session", &secret);
        let mut buf = vec![0u8; BLOCK_SIZE];
        buf[TAG_SIZE..TAG_SIZE + 5].copy_from_slice(b"hello");
        let plain = buf[TAG_SIZE..].to_vec();
        seal_block(&mut a, &mut buf);
        assert_ne!(&buf[TAG_SIZE..], &plain[..]);
        let mut copy = buf.clone();
        open_block(&mut b, &mut copy).expect("opens");
        assert_eq!(&copy[TAG_SIZE..], &plain[..]);
        // The next key of the chain does not open it again.
        assert!(open_block(&mut b, &mut buf.clone()).is_err());
    }

    #[test]
    fn sealing_into_another_buffer_gives_the_in_place_block() {
        let secret = DhSecretX25519::from_bytes([3; 32]);
        // Four copies of one direction's chain: two seal, two open.
        let (mut a, _) = SbChainKey::init(b"session", &secret);
        let (mut b, _) = SbChainKey::init(b"session", &secret);
        let (mut a2, _) = SbChainKey::init(b"session", &secret);
        let (mut b2, _) = SbChainKey::init(b"session", &secret);
        let mut in_place = vec![b'#'; BLOCK_SIZE];
        in_place[TAG_SIZE..TAG_SIZE + 7].copy_from_slice(b"\x00\x05hello");
        let plain = in_place[TAG_SIZE..].to_vec();
        let mut sealed = vec![0u8; BLOCK_SIZE];
        for _ in 0..2 {
            let mut block = in_place.clone();
            seal_block(&mut a, &mut block);
            seal_block_to(&mut b, &plain, &mut sealed).expect("sizes");
            assert_eq!(block, sealed);
            let mut opened = vec![0u8; ENCRYPTED_PADDED_SIZE];
            open_block_to(&mut a2, &sealed, &mut opened).expect("opens");
            assert_eq!(opened, plain);
            open_block(&mut b2, &mut block).expect("opens");
            assert_eq!(&block[TAG_SIZE..], &plain[..]);
        }
        // A tampered block does not open, and leaves the output untouched.
        let (mut c, _) = SbChainKey::init(b"session", &secret);
        let (mut c2, _) = SbChainKey::init(b"session", &secret);
        seal_block_to(&mut c, &plain, &mut sealed).expect("sizes");
        sealed[20] ^= 1;
        let mut opened = vec![0u8; ENCRYPTED_PADDED_SIZE];
        assert!(open_block_to(&mut c2, &sealed, &mut opened).is_err());
        assert!(opened.iter().all(|&x| x == 0));
    }
}
