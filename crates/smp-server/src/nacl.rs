//! The two NaCl operations the server's hot path needs: `crypto_box` with a precomputed DH
//! secret (the reference's `cbEncrypt`: HSalsa20 of the secret, then XSalsa20-Poly1305, output
//! tag ‖ ciphertext) and verification of `cbAuthenticate` authenticators (a box of the SHA-512
//! of the authorized bytes, 80 bytes).

use salsa20::cipher::consts::U10;
use sha2::{Digest, Sha512};
use simplex_encoding::pad::pad;
use subtle_free::ct_eq;
use xsalsa20poly1305::aead::{AeadInPlace, KeyInit};
use xsalsa20poly1305::XSalsa20Poly1305;

mod subtle_free {
    /// Constant-time equality of two byte strings of equal length.
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn box_key(dh_secret: &[u8; 32]) -> XSalsa20Poly1305 {
    let k = salsa20::hsalsa::<U10>(dh_secret.into(), &[0u8; 16].into());
    XSalsa20Poly1305::new(&k)
}

/// `crypto_box` of `msg` (no padding): tag ‖ ciphertext.
pub fn cb_encrypt_no_pad(dh_secret: &[u8; 32], nonce: &[u8; 24], msg: &[u8]) -> Vec<u8> {
    let mut buf = msg.to_vec();
    // Invariant: XSalsa20-Poly1305 fails only for inputs beyond 256 GiB.
    let tag = box_key(dh_secret)
        .encrypt_in_place_detached(nonce.into(), b"", &mut buf)
        .expect("message far below the cipher's limit");
    let mut out = Vec::with_capacity(16 + buf.len());
    out.extend_from_slice(&tag);
    out.extend_from_slice(&buf);
    out
}

/// `crypto_box` of `msg` padded to `padded_len` (the reference's `cbEncrypt`); `None` when the
/// message does not fit.
pub fn cb_encrypt(
    dh_secret: &[u8; 32],
    nonce: &[u8; 24],
    msg: &[u8],
    padded_len: usize,
) -> Option<Vec<u8>> {
    let padded = pad(msg, padded_len).ok()?;
    Some(cb_encrypt_no_pad(dh_secret, nonce, &padded))
}

/// Opens a box made by [`cb_encrypt_no_pad`].
pub fn cb_decrypt_no_pad(dh_secret: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
    let (tag, ct) = boxed.split_first_chunk::<16>()?;
    let mut buf = ct.to_vec();
    box_key(dh_secret)
        .decrypt_in_place_detached(nonce.into(), b"", &mut buf, tag.into())
        .ok()?;
    Some(buf)
}

/// Verifies a `cbAuthenticate` authenticator over `authorized` made with the DH secret
/// shared by the key holder and the server, `corr_id` as the nonce.
pub fn cb_verify(
    dh_secret: &[u8; 32],
    nonce: &[u8; 24],
    authenticator: &[u8],
    authorized: &[u8],
) -> bool {
    let hash = Sha512::digest(authorized);
    match cb_decrypt_no_pad(dh_secret, nonce, authenticator) {
        Some(opened) => ct_eq(&opened, &hash),
        None => false,
    }
}

/// Makes an authenticator (for tests and clients).
pub fn cb_authenticate(dh_secret: &[u8; 32], nonce: &[u8; 24], authorized: &[u8]) -> Vec<u8> {
    cb_encrypt_no_pad(dh_secret, nonce, &Sha512::digest(authorized))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_round_trip_and_authenticator() {
        let s = [3u8; 32];
        let n = [4u8; 24];
        let boxed = cb_encrypt(&s, &n, b"hello", 64).expect("fits");
        assert_eq!(boxed.len(), 80);
        let opened = cb_decrypt_no_pad(&s, &n, &boxed).expect("opens");
        assert_eq!(simplex_encoding::unpad(&opened).expect("unpad"), b"hello");
        let a = cb_authenticate(&s, &n, b"data");
        assert_eq!(a.len(), 80);
        assert!(cb_verify(&s, &n, &a, b"data"));
        assert!(!cb_verify(&s, &n, &a, b"datb"));
        assert!(!cb_verify(&[5; 32], &n, &a, b"data"));
        assert!(!cb_verify(&s, &n, &a[..10], b"data"));
    }
}
