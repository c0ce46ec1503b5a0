//! sntrup761 encapsulation and decapsulation, written for speed in safe Rust.
//!
//! The `sntrup761` crate's portable build multiplies polynomials with a scalar loop that
//! reduces every coefficient as it goes (~0.6 ms an encapsulation, ~1.7 ms a decapsulation
//! here); a PQ ratchet step does one of each per message that turns the conversation's
//! direction. Here the products are module `keygen`'s (32-bit sums the compiler vectorises,
//! one reduction at the end), and the rest is the NTRU Prime reference's `Encap`/`Decap`
//! (supercop sntrup761): same bytes, same implicit rejection (a ciphertext not made for the
//! key gives Hash(0 ‖ Hash(3 ‖ ρ) ‖ c)). Nothing branches on or indexes by secret data; the
//! public key and the ciphertext are decoded with ordinary division (they are public).

// Every narrowing cast below is of a value already reduced into the target's range (a
// coefficient mod 3 or mod q, a number below its 14-bit radix, a mask of 0 or −1).
#![allow(clippy::cast_possible_truncation)]

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::keygen::{
    encode, freeze_q, random_short, rq_mult_small, small_encode, Small, P, PUBLIC_KEY_BYTES, Q,
    Q12, SECRET_KEY_BYTES, SMALL_BYTES, W,
};

/// A rounded polynomial's encoding.
const ROUNDED_BYTES: usize = 1007;
/// A ciphertext: the rounded polynomial and the confirmation hash.
pub(super) const CIPHERTEXT_BYTES: usize = ROUNDED_BYTES + 32;
/// The range of a rounded coefficient's code, (q + 2) / 3.
const ROUNDED_M: u16 = 1531;

/// The first 32 bytes of SHA-512(prefix ‖ parts).
fn hash(prefix: u8, parts: &[&[u8]]) -> [u8; 32] {
    let mut input = Zeroizing::new(vec![prefix]);
    for p in parts {
        input.extend_from_slice(p);
    }
    let digest = simplex_crypto::sha512(&input);
    let mut out = [0u8; 32];
    out.copy_from_slice(&digest[..32]);
    out
}

/// The reference's mixed-radix decoding (the inverse of `keygen::encode`), of public bytes:
/// `len` numbers in [0, m).
fn decode(s: &[u8], m: &[u16]) -> Vec<u16> {
    let byte = |i: usize| u32::from(s.get(i).copied().unwrap_or(0));
    if let [m0] = m {
        return vec![match *m0 {
            1 => 0,
            m0 if m0 <= 256 => (byte(0) % u32::from(m0)) as u16,
            m0 => ((byte(0) + (byte(1) << 8)) % u32::from(m0)) as u16,
        }];
    }
    let mut m2 = Vec::with_capacity(m.len().div_ceil(2));
    let mut bottom = Vec::with_capacity(m.len() / 2);
    let mut at = 0;
    for pair in m.chunks(2) {
        match pair {
            [a, b] => {
                let mm = u32::from(*a) * u32::from(*b);
                if mm > 256 * 16383 {
                    bottom.push((256 * 256, byte(at) + 256 * byte(at + 1)));
                    at += 2;
                    m2.push((mm.div_ceil(256).div_ceil(256)) as u16);
                } else if mm >= 16384 {
                    bottom.push((256, byte(at)));
                    at += 1;
                    m2.push(mm.div_ceil(256) as u16);
                } else {
                    bottom.push((1, 0));
                    m2.push(mm as u16);
                }
            }
            [a] => m2.push(*a),
            _ => {}
        }
    }
    let r2 = decode(s.get(at..).unwrap_or(&[]), &m2);
    let mut out = Vec::with_capacity(m.len());
    for (i, pair) in m.chunks(2).enumerate() {
        let top = u32::from(r2.get(i).copied().unwrap_or(0));
        match (pair, bottom.get(i)) {
            ([a, b], Some(&(t, r))) => {
                let r = r + t * top;
                out.push((r % u32::from(*a)) as u16);
                // Reduced again only for invalid input.
                out.push(((r / u32::from(*a)) % u32::from(*b)) as u16);
            }
            _ => out.push(top as u16),
        }
    }
    out
}

/// A public key's polynomial h (coefficients in [−(q−1)/2, (q−1)/2]).
fn rq_decode(pk: &[u8]) -> [i16; P] {
    let r = decode(pk, &[Q as u16; P]);
    core::array::from_fn(|i| (i32::from(r[i]) - Q12) as i16)
}

/// A ciphertext's rounded polynomial.
fn rounded_decode(c: &[u8]) -> [i16; P] {
    let r = decode(c, &[ROUNDED_M; P]);
    core::array::from_fn(|i| (i32::from(r[i]) * 3 - Q12) as i16)
}

/// Each coefficient to the nearest multiple of 3 (the reference's `Round`).
fn round3(h: &mut [i16; P]) {
    for x in h.iter_mut() {
        let inner = 21846 * (i32::from(*x) + Q12);
        *x = (((inner + 32768) >> 16) * 3 - Q12) as i16;
    }
}

/// A rounded polynomial's encoding.
fn rounded_encode(h: &[i16; P]) -> Vec<u8> {
    let r: Zeroizing<Vec<u16>> = Zeroizing::new(
        h.iter()
            .map(|&x| (((i32::from(x) + Q12) * 10923) >> 15) as u16)
            .collect(),
    );
    let mut out = Vec::with_capacity(ROUNDED_BYTES);
    encode(&mut out, &r, &[ROUNDED_M; P]);
    out
}

/// A small polynomial from its encoding (four coefficients a byte).
fn small_decode(s: &[u8]) -> Small {
    let mut f = Zeroizing::new([0i8; P]);
    for (i, fi) in f.iter_mut().enumerate() {
        let b = s.get(i / 4).copied().unwrap_or(0);
        *fi = ((b >> (2 * (i % 4))) & 3) as i8 - 1;
    }
    f
}

/// x mod 3 in {−1, 0, 1}, without a branch.
#[inline(always)]
fn freeze3(x: i32) -> i8 {
    let r = x.rem_euclid(3);
    (r - (3 & -i32::from(r > 1))) as i8
}

/// f·g in R3 (both small).
fn r3_mult(f: &[i8; P], g: &[i8; P]) -> Small {
    let g16: [i16; P] = core::array::from_fn(|j| i16::from(g[j]));
    // Sums of at most p products of ±1: 16 bits suffice, three times over after folding.
    let mut fg = Zeroizing::new([0i16; 2 * P - 1]);
    for (i, &fi) in f.iter().enumerate() {
        let fi = i16::from(fi);
        for (acc, &gj) in fg[i..i + P].iter_mut().zip(g16.iter()) {
            *acc += fi * gj;
        }
    }
    // xᵖ = x + 1.
    for i in (P..2 * P - 1).rev() {
        fg[i - P] += fg[i];
        fg[i - P + 1] += fg[i];
    }
    let mut h = Zeroizing::new([0i8; P]);
    for (hi, &x) in h.iter_mut().zip(fg.iter()) {
        *hi = freeze3(i32::from(x));
    }
    h
}

/// 0 when the polynomial has exactly w non-zero coefficients, −1 otherwise.
fn weight_mask(r: &[i8; P]) -> i32 {
    let weight: i32 = r.iter().map(|&x| i32::from(x & 1)).sum();
    let d = weight ^ W as i32;
    // −1 exactly when d ≠ 0 (|d| < 2¹⁵).
    (-d | d) >> 31
}

/// 0 when the byte strings are equal, −1 otherwise (they have the same length).
fn diff_mask(a: &[u8], b: &[u8]) -> i32 {
    let d = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    (i32::from(d) - 1) >> 8 ^ -1
}

/// The ciphertext and session key for the small polynomial r (the reference's `Hide` and
/// the session hash of a valid ciphertext).
fn hide(r: &[i8; P], pk: &[u8], cache: &[u8; 32]) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
    let mut c = rq_mult_small(&rq_decode(pk), r);
    round3(&mut c);
    let mut r_enc = Zeroizing::new(Vec::with_capacity(SMALL_BYTES));
    small_encode(r, &mut r_enc);
    let mut ct = rounded_encode(&c);
    let confirm = hash(2, &[&hash(3, &[&r_enc]), cache]);
    ct.extend_from_slice(&confirm);
    (ct, r_enc)
}

/// A ciphertext and its shared key for this public key, from the caller's RNG.
pub(super) fn encapsulate(
    pk: &[u8],
    rng: &mut (impl CryptoRng + RngCore),
) -> (Vec<u8>, Zeroizing<[u8; 32]>) {
    let r = random_short(rng);
    let cache = hash(4, &[pk]);
    let (ct, r_enc) = hide(&r, pk, &cache);
    let k = Zeroizing::new(hash(1, &[&hash(3, &[&r_enc]), &ct]));
    (ct, k)
}

/// The shared key of a ciphertext for this secret key (`f ‖ 1/g ‖ pk ‖ ρ ‖ Hash₄(pk)`):
/// the sender's when the ciphertext is one made for this key, an unrelated one otherwise.
pub(super) fn decapsulate(sk: &[u8], ct: &[u8]) -> Zeroizing<[u8; 32]> {
    debug_assert_eq!((sk.len(), ct.len()), (SECRET_KEY_BYTES, CIPHERTEXT_BYTES));
    let f = small_decode(&sk[..SMALL_BYTES]);
    let ginv = small_decode(&sk[SMALL_BYTES..2 * SMALL_BYTES]);
    let pk = &sk[2 * SMALL_BYTES..2 * SMALL_BYTES + PUBLIC_KEY_BYTES];
    let rho = &sk[2 * SMALL_BYTES + PUBLIC_KEY_BYTES..3 * SMALL_BYTES + PUBLIC_KEY_BYTES];
    let mut cache = [0u8; 32];
    cache.copy_from_slice(&sk[3 * SMALL_BYTES + PUBLIC_KEY_BYTES..]);
    // Decrypt: r = (3·c·f mod q, to R3) / g, or the fixed weight-w polynomial if its
    // weight is wrong.
    let cf = Zeroizing::new(rq_mult_small(&rounded_decode(&ct[..ROUNDED_BYTES]), &f));
    let t3: Small = Zeroizing::new(core::array::from_fn(|i| {
        freeze3(freeze_q(3 * i32::from(cf[i])))
    }));
    let mut r = r3_mult(&t3, &ginv);
    let bad = weight_mask(&r) as i8;
    for (i, ri) in r.iter_mut().enumerate() {
        let default = i8::from(i < W);
        *ri ^= bad & (*ri ^ default);
    }
    // Re-encrypt and compare.
    let (cnew, r_enc) = hide(&r, pk, &cache);
    let mask = diff_mask(ct, &cnew);
    let m = mask as u8;
    let selected: Zeroizing<Vec<u8>> = Zeroizing::new(
        r_enc
            .iter()
            .zip(rho)
            .map(|(&a, &b)| a ^ (m & (a ^ b)))
            .collect(),
    );
    Zeroizing::new(hash((1 + mask) as u8, &[&hash(3, &[&selected]), ct]))
}

#[cfg(test)]
mod tests {
    use super::super::keygen::generate;
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn decoding_inverts_encoding() {
        let mut g = StdRng::seed_from_u64(7);
        for m in [Q as u16, ROUNDED_M] {
            let r: Vec<u16> = (0..P).map(|_| g.gen_range(0..m)).collect();
            let mut bytes = Vec::new();
            encode(&mut bytes, &r, &[m; P]);
            assert_eq!(decode(&bytes, &[m; P]), r);
        }
    }

    #[test]
    fn masks_are_exact() {
        assert_eq!(diff_mask(b"abc", b"abc"), 0);
        assert_eq!(diff_mask(b"abc", b"abd"), -1);
        assert_eq!(diff_mask(&[0, 0], &[0x80, 0]), -1);
        let mut r = [0i8; P];
        assert_eq!(weight_mask(&r), -1);
        for x in r.iter_mut().take(W) {
            *x = -1;
        }
        assert_eq!(weight_mask(&r), 0);
        r[W] = 1;
        assert_eq!(weight_mask(&r), -1);
        for x in -9000..9000 {
            assert_eq!(i32::from(freeze3(x)), (x + 1).rem_euclid(3) - 1);
        }
    }

    /// Both ways with the `sntrup761` crate, and the same implicit rejection of altered
    /// ciphertexts (the crate follows the reference).
    #[test]
    fn agrees_with_the_sntrup761_crate() {
        let mut g = StdRng::seed_from_u64(8);
        for _ in 0..6 {
            let (pk, sk) = generate(&mut g);
            let their_pk = sntrup761::EncapsulationKey::try_from(&pk[..]).expect("public key");
            let their_sk = sntrup761::DecapsulationKey::try_from(&sk[..]).expect("secret key");
            // Ours to theirs.
            let (ct, k) = encapsulate(&pk, &mut g);
            let their_ct = sntrup761::Ciphertext::try_from(&ct[..]).expect("ciphertext");
            assert_eq!(their_sk.decapsulate(&their_ct).as_ref(), &k[..]);
            assert_eq!(&decapsulate(&sk, &ct)[..], &k[..]);
            // Theirs to ours.
            let (their_ct, their_k) = their_pk.encapsulate_deterministic(g.gen());
            assert_eq!(&decapsulate(&sk, their_ct.as_ref())[..], their_k.as_ref());
            // Altered anywhere: both reject alike.
            for _ in 0..8 {
                let mut bad = ct.clone();
                let i = g.gen_range(0..bad.len());
                bad[i] ^= 1 << g.gen_range(0..8);
                let theirs = sntrup761::Ciphertext::try_from(&bad[..]).expect("ciphertext");
                let k_bad = decapsulate(&sk, &bad);
                assert_eq!(&k_bad[..], their_sk.decapsulate(&theirs).as_ref());
                assert_ne!(&k_bad[..], &k[..]);
            }
            // Random bytes (invalid encodings included).
            let junk: Vec<u8> = (0..CIPHERTEXT_BYTES).map(|_| g.gen()).collect();
            let theirs = sntrup761::Ciphertext::try_from(&junk[..]).expect("ciphertext");
            assert_eq!(
                &decapsulate(&sk, &junk)[..],
                their_sk.decapsulate(&theirs).as_ref()
            );
        }
    }
}
