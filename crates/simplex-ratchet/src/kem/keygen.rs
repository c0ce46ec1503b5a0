//! sntrup761 key generation, written for speed in safe Rust.
//!
//! The `sntrup761` crate's portable build (its vector code is compiled in only when the
//! whole build targets AVX2) spends ~10 ms on a key pair, nearly all in its two polynomial
//! inversions; a PQ ratchet step makes one key pair per message that turns the
//! conversation's direction. Here the inversions are the constant-time divsteps of the
//! NTRU Prime reference (`R3_recip`, `Rq_recip3` in supercop: 2p − 1 steps over p + 1
//! coefficients), written as straight loops over fixed-size arrays that the compiler
//! vectorises: mod 3 in 8-bit lanes; mod q in 16-bit lanes with Montgomery products, each
//! step scaling the pair (g, r) by 2⁻¹⁶, which the final division by f₀ takes out (the
//! pair (f, v) is always scaled with it). Nothing branches on or indexes by secret data.
//!
//! The key pair is the standard one: public key `Rq_encode(h)` with h = g/(3f), secret key
//! `f ‖ 1/g ‖ pk ‖ ρ ‖ Hash₄(pk)` (1763 bytes), so encapsulation and decapsulation stay
//! with the `sntrup761` crate and the bytes on the wire are any implementation's.

// Every narrowing cast below is of a value already reduced into the target's range (a
// coefficient mod 3 or mod q, a byte of an encoding, a 16-bit half of a product).
#![allow(clippy::cast_possible_truncation)]

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

pub(super) const P: usize = 761;
pub(super) const Q: i32 = 4591;
pub(super) const W: usize = 286;
/// (q − 1) / 2.
pub(super) const Q12: i32 = 2295;
/// q⁻¹ mod 2¹⁶, as a signed 16-bit number.
const QINV: i16 = 15631;
/// An encoded small polynomial (and ρ).
pub(super) const SMALL_BYTES: usize = 191;
/// An encoded public key.
pub(super) const PUBLIC_KEY_BYTES: usize = 1158;
/// An encoded secret key.
pub(super) const SECRET_KEY_BYTES: usize = 1763;

/// A small polynomial (coefficients in {−1, 0, 1}).
pub(super) type Small = Zeroizing<[i8; P]>;

/// The high half of a 16-bit product.
#[inline(always)]
fn mulhi(a: i16, b: i16) -> i16 {
    ((i32::from(a) * i32::from(b)) >> 16) as i16
}

/// a·b·2⁻¹⁶ mod q, in (−q, q) for |a·b| < q·2¹⁵, given `aq` = a·q⁻¹ mod 2¹⁶.
#[inline(always)]
fn mont(a: i16, aq: i16, b: i16) -> i16 {
    let m = aq.wrapping_mul(b);
    mulhi(a, b).wrapping_sub(mulhi(m, Q as i16))
}

/// x mod q in [−(q−1)/2, (q−1)/2] (the remainder by a constant compiles to
/// multiplications: no division instruction, no branch).
#[inline(always)]
pub(super) fn freeze_q(x: i32) -> i32 {
    let r = x.rem_euclid(Q);
    r - (Q & -i32::from(r > Q12))
}

/// a⁻¹ mod q (a^(q−2), the exponent public).
fn recip_q(a: i32) -> i32 {
    let q = i64::from(Q);
    let mut base = i64::from(a).rem_euclid(q);
    let mut r = 1i64;
    let mut e = Q - 2;
    while e > 0 {
        if e & 1 == 1 {
            r = r * base % q;
        }
        base = base * base % q;
        e >>= 1;
    }
    freeze_q(r as i32)
}

/// All ones when `x` is non-zero.
#[inline(always)]
fn nonzero_mask(x: i16) -> i16 {
    let x = i32::from(x);
    (-(((x | -x) >> 31) & 1)) as i16
}

/// x mod 3 in {−1, 0, 1}, for x in [−2, 2].
#[cfg(test)]
#[inline(always)]
fn freeze3(x: i8) -> i8 {
    // ⌊(x + 1)/3⌋ for x + 1 in [−1, 3] is ((x + 1)·11) >> 5.
    let q = (x.wrapping_add(1).wrapping_mul(11)) >> 5;
    x.wrapping_sub(q.wrapping_mul(3))
}

/// One divstep's decision: the swap mask (all ones when δ > 0 and g₀ ≠ 0), and the next δ.
#[inline(always)]
pub(super) fn divstep(delta: i16, g0: i16) -> (i16, i16) {
    let swap = ((-delta) >> 15) & nonzero_mask(g0);
    let delta = (delta ^ (swap & (delta ^ -delta))) + 1;
    (swap, delta)
}

/// How many of the low coefficients of v and r step `i` (from 0) of an inversion must touch.
/// r starts as a constant and v as zero; a step multiplies v by x and mixes the two, so
/// before step i both have degree at most i and after it at most i + 1: the rest are zero.
/// The length depends on the step's number only, never on the data.
#[inline(always)]
pub(super) fn vr_len(i: usize) -> usize {
    (i + 2).min(P + 1)
}

/// 1/s in R3 = Z₃[x]/(xᵖ − x − 1), or `None` when s is not invertible there: the divsteps
/// on a coefficient a byte, kept to check module `r3`'s bitsliced inversion against.
#[cfg(test)]
fn r3_recip(s: &[i8; P]) -> Option<Small> {
    let mut f = Zeroizing::new([0i8; P + 1]);
    let mut g = Zeroizing::new([0i8; P + 1]);
    let mut v = Zeroizing::new([0i8; P + 1]);
    let mut r = Zeroizing::new([0i8; P + 1]);
    r[0] = 1;
    f[0] = 1;
    f[P - 1] = -1;
    f[P] = -1;
    for (gi, si) in g[..P].iter_mut().zip(s.iter().rev()) {
        *gi = *si;
    }
    let mut delta: i16 = 1;
    for i in 0..(2 * P - 1) {
        v.copy_within(0..P, 1);
        v[0] = 0;
        let n = vr_len(i);
        // f₀ = ±1, so −g₀·f₀ is what makes g₀ zero; symmetric, so taken before the swap.
        let sign = -(g[0] * f[0]);
        let (swap, d) = divstep(delta, i16::from(g[0]));
        delta = d;
        let swap = swap as i8;
        // sign·x for sign in {−1, 0, 1} without a multiplication.
        let nz = -(sign & 1);
        let neg = sign >> 7;
        for (fi, gi) in f.iter_mut().zip(g.iter_mut()) {
            let t = swap & (*fi ^ *gi);
            *fi ^= t;
            *gi ^= t;
            let sf = ((*fi & nz) ^ neg).wrapping_sub(neg);
            *gi = freeze3(gi.wrapping_add(sf));
        }
        for (vi, ri) in v[..n].iter_mut().zip(r[..n].iter_mut()) {
            let t = swap & (*vi ^ *ri);
            *vi ^= t;
            *ri ^= t;
            let sv = ((*vi & nz) ^ neg).wrapping_sub(neg);
            *ri = freeze3(ri.wrapping_add(sv));
        }
        g.copy_within(1..P + 1, 0);
        g[P] = 0;
    }
    let sign = f[0];
    let mut out = Zeroizing::new([0i8; P]);
    for (o, vi) in out.iter_mut().zip(v[..P].iter().rev()) {
        *o = sign * *vi;
    }
    (delta == 0).then_some(out)
}

/// 1/(3s) in Rq = Z_q[x]/(xᵖ − x − 1), for a non-zero small s (always invertible: q is
/// prime and xᵖ − x − 1 irreducible mod q).
fn rq_recip3(s: &[i8; P]) -> Zeroizing<[i16; P]> {
    let mut f = Zeroizing::new([0i16; P + 1]);
    let mut g = Zeroizing::new([0i16; P + 1]);
    let mut v = Zeroizing::new([0i16; P + 1]);
    let mut r = Zeroizing::new([0i16; P + 1]);
    r[0] = recip_q(3) as i16;
    f[0] = 1;
    f[P - 1] = -1;
    f[P] = -1;
    for (gi, si) in g[..P].iter_mut().zip(s.iter().rev()) {
        *gi = i16::from(*si);
    }
    // The multipliers as arrays rather than scalars: the compiler then keeps the products
    // in 16-bit lanes instead of widening them (three times faster).
    let mut f0s = Zeroizing::new([0i16; P + 1]);
    let mut g0s = Zeroizing::new([0i16; P + 1]);
    let mut delta: i16 = 1;
    for i in 0..(2 * P - 1) {
        v.copy_within(0..P, 1);
        v[0] = 0;
        let n = vr_len(i);
        // Coefficients are kept in (−2q, 2q); only whether g₀ is zero mod q steers a step.
        g[0] = freeze_q(i32::from(g[0])) as i16;
        let (swap, d) = divstep(delta, g[0]);
        delta = d;
        // The constant coefficients after the swap, then the swap and the update in one pass.
        let t0 = swap & (f[0] ^ g[0]);
        let (f0, g0) = (f[0] ^ t0, g[0] ^ t0);
        let (f0q, g0q) = (f0.wrapping_mul(QINV), g0.wrapping_mul(QINV));
        f0s.fill(f0);
        g0s.fill(g0);
        // g ← (f₀·g − g₀·f)·2⁻¹⁶, r ← (f₀·r − g₀·v)·2⁻¹⁶: each term in (−q, q).
        for (((gi, fi), a), b) in g
            .iter_mut()
            .zip(f.iter_mut())
            .zip(f0s.iter())
            .zip(g0s.iter())
        {
            let t = swap & (*fi ^ *gi);
            *fi ^= t;
            *gi = mont(*a, f0q, *gi ^ t).wrapping_sub(mont(*b, g0q, *fi));
        }
        for (((ri, vi), a), b) in r[..n]
            .iter_mut()
            .zip(v[..n].iter_mut())
            .zip(f0s.iter())
            .zip(g0s.iter())
        {
            let t = swap & (*vi ^ *ri);
            *vi ^= t;
            *ri = mont(*a, f0q, *ri ^ t).wrapping_sub(mont(*b, g0q, *vi));
        }
        g.copy_within(1..P + 1, 0);
        g[P] = 0;
    }
    let scale = recip_q(i32::from(f[0]));
    let mut out = Zeroizing::new([0i16; P]);
    for (o, vi) in out.iter_mut().zip(v[..P].iter().rev()) {
        *o = freeze_q(scale * i32::from(*vi)) as i16;
    }
    out
}

/// f·g in Rq, for g small.
pub(super) fn rq_mult_small(f: &[i16; P], g: &[i8; P]) -> [i16; P] {
    let g16: [i16; P] = core::array::from_fn(|j| i16::from(g[j]));
    let mut fg = Zeroizing::new([0i32; 2 * P - 1]);
    for (i, &fi) in f.iter().enumerate() {
        // |fᵢ·gⱼ| ≤ (q−1)/2 fits 16 bits; the sums need 32.
        for (acc, &gj) in fg[i..i + P].iter_mut().zip(g16.iter()) {
            *acc += i32::from(fi.wrapping_mul(gj));
        }
    }
    // xᵖ = x + 1.
    for i in (P..2 * P - 1).rev() {
        fg[i - P] += fg[i];
        fg[i - P + 1] += fg[i];
    }
    let mut h = [0i16; P];
    for (hi, x) in h.iter_mut().zip(fg.iter()) {
        *hi = freeze_q(*x) as i16;
    }
    h
}

/// (min, max) of two numbers without a branch.
#[inline(always)]
fn minmax(a: u32, b: u32) -> (u32, u32) {
    let m = 0u32.wrapping_sub(((u64::from(b).wrapping_sub(u64::from(a))) >> 63) as u32);
    let t = (a ^ b) & m;
    (a ^ t, b ^ t)
}

/// Sorts in ascending order by a sorting network (djbsort's): which elements are compared
/// depends only on the length.
fn sort_u32(x: &mut [u32]) {
    let n = x.len();
    if n < 2 {
        return;
    }
    let mut top = 1;
    while top < n - top {
        top += top;
    }
    let mut p = top;
    while p >= 1 {
        for i in 0..n - p {
            if i & p == 0 {
                (x[i], x[i + p]) = minmax(x[i], x[i + p]);
            }
        }
        // `i` carries on from one q to the next.
        let mut i = 0;
        let mut q = top;
        while q > p {
            while i + q < n {
                if i & p == 0 {
                    let mut a = x[i + p];
                    let mut r = q;
                    while r > p {
                        (a, x[i + r]) = minmax(a, x[i + r]);
                        r >>= 1;
                    }
                    x[i + p] = a;
                }
                i += 1;
            }
            q >>= 1;
        }
        p >>= 1;
    }
}

fn random_u32s(rng: &mut (impl CryptoRng + RngCore)) -> Zeroizing<Vec<u32>> {
    let mut bytes = Zeroizing::new(vec![0u8; 4 * P]);
    rng.fill_bytes(&mut bytes);
    Zeroizing::new(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// A uniformly random small polynomial.
fn random_small(rng: &mut (impl CryptoRng + RngCore)) -> Small {
    let l = random_u32s(rng);
    let mut g = Zeroizing::new([0i8; P]);
    for (gi, &x) in g.iter_mut().zip(l.iter()) {
        *gi = ((u64::from(x & 0x3fff_ffff) * 3) >> 30) as i8 - 1;
    }
    g
}

/// A random small polynomial with exactly w non-zero coefficients (random ±1 tagged on the
/// first w of random numbers, zero on the rest, put in random order by sorting).
pub(super) fn random_short(rng: &mut (impl CryptoRng + RngCore)) -> Small {
    let mut l = random_u32s(rng);
    for (i, x) in l.iter_mut().enumerate() {
        *x = if i < W { *x & !1 } else { (*x & !3) | 1 };
    }
    sort_u32(&mut l);
    let mut f = Zeroizing::new([0i8; P]);
    for (fi, &x) in f.iter_mut().zip(l.iter()) {
        *fi = (x & 3) as i8 - 1;
    }
    f
}

/// Four coefficients (+1) a byte, the last one alone.
pub(super) fn small_encode(f: &[i8; P], out: &mut Vec<u8>) {
    let mut chunks = f.chunks_exact(4);
    for c in &mut chunks {
        let b = |k: usize| (c[k] + 1) as u8;
        out.push(b(0) | b(1) << 2 | b(2) << 4 | b(3) << 6);
    }
    for &x in chunks.remainder() {
        out.push((x + 1) as u8);
    }
}

/// The reference's mixed-radix encoding of numbers `r[i]` in [0, `m[i]`).
pub(super) fn encode(out: &mut Vec<u8>, r: &[u16], m: &[u16]) {
    if let ([r], [m]) = (r, m) {
        let (mut r, mut m) = (*r, *m);
        while m > 1 {
            out.push(r as u8);
            r >>= 8;
            m = m.div_ceil(256);
        }
        return;
    }
    let half = r.len().div_ceil(2);
    let mut r2 = Vec::with_capacity(half);
    let mut m2 = Vec::with_capacity(half);
    for (rs, ms) in r.chunks(2).zip(m.chunks(2)) {
        match (rs, ms) {
            ([r0, r1], [m0, m1]) => {
                let mut rr = u32::from(*r0) + u32::from(*r1) * u32::from(*m0);
                let mut mm = u32::from(*m1) * u32::from(*m0);
                while mm >= 16384 {
                    out.push(rr as u8);
                    rr >>= 8;
                    mm = mm.div_ceil(256);
                }
                r2.push(rr as u16);
                m2.push(mm as u16);
            }
            _ => {
                r2.extend_from_slice(rs);
                m2.extend_from_slice(ms);
            }
        }
    }
    encode(out, &r2, &m2);
}

/// A key pair (public key, secret key) in the standard encodings, from the caller's RNG.
pub(super) fn generate(rng: &mut (impl CryptoRng + RngCore)) -> (Vec<u8>, Zeroizing<Vec<u8>>) {
    let (g, ginv) = loop {
        let g = random_small(rng);
        if let Some(ginv) = super::r3::r3_recip(&g) {
            break (g, ginv);
        }
    };
    let f = random_short(rng);
    let h = rq_mult_small(&rq_recip3(&f), &g);
    let r: Vec<u16> = h.iter().map(|&x| (i32::from(x) + Q12) as u16).collect();
    let mut pk = Vec::with_capacity(PUBLIC_KEY_BYTES);
    encode(&mut pk, &r, &[Q as u16; P]);
    let mut sk = Zeroizing::new(Vec::with_capacity(SECRET_KEY_BYTES));
    small_encode(&f, &mut sk);
    small_encode(&ginv, &mut sk);
    sk.extend_from_slice(&pk);
    let mut rho = Zeroizing::new([0u8; SMALL_BYTES]);
    rng.fill_bytes(&mut rho[..]);
    sk.extend_from_slice(&rho[..]);
    let mut prefixed = Vec::with_capacity(1 + pk.len());
    prefixed.push(4);
    prefixed.extend_from_slice(&pk);
    sk.extend_from_slice(&simplex_crypto::sha512(&prefixed)[..32]);
    (pk, sk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn sorts_like_the_standard_sort() {
        let mut g = StdRng::seed_from_u64(1);
        for n in [0usize, 1, 2, 3, 5, 17, 100, 761, 1000] {
            for _ in 0..20 {
                let mut v: Vec<u32> = (0..n).map(|_| g.gen()).collect();
                let mut w = v.clone();
                w.sort_unstable();
                sort_u32(&mut v);
                assert_eq!(v, w, "length {n}");
            }
        }
    }

    #[test]
    fn reductions_agree_with_plain_arithmetic() {
        for x in -2i8..=2 {
            assert_eq!(
                i32::from(freeze3(x)),
                (i32::from(x) + 1).rem_euclid(3) - 1,
                "{x}"
            );
        }
        let mut g = StdRng::seed_from_u64(2);
        let r16 = 1i64 << 16;
        // Montgomery products over the range the inversion keeps, (−2q, 2q).
        for _ in 0..100_000 {
            let a: i16 = g.gen_range(-2 * Q + 1..2 * Q) as i16;
            let b: i16 = g.gen_range(-2 * Q + 1..2 * Q) as i16;
            let m = mont(a, a.wrapping_mul(QINV), b);
            assert!(i32::from(m).abs() < Q);
            let lhs = (i64::from(m) * r16).rem_euclid(i64::from(Q));
            let rhs = (i64::from(a) * i64::from(b)).rem_euclid(i64::from(Q));
            assert_eq!(lhs, rhs);
        }
        for a in 1..Q {
            assert_eq!((a * recip_q(a)).rem_euclid(Q), 1);
        }
    }

    #[test]
    fn key_pairs_work_with_the_sntrup761_crate() {
        let mut g = StdRng::seed_from_u64(3);
        for _ in 0..8 {
            let (pk, sk) = generate(&mut g);
            assert_eq!((pk.len(), sk.len()), (PUBLIC_KEY_BYTES, SECRET_KEY_BYTES));
            let pk = sntrup761::EncapsulationKey::try_from(&pk[..]).expect("public key");
            let sk = sntrup761::DecapsulationKey::try_from(&sk[..]).expect("secret key");
            let (ct, ss) = pk.encapsulate_deterministic(g.gen());
            assert_eq!(sk.decapsulate(&ct).as_ref(), ss.as_ref());
        }
    }

    #[test]
    fn the_same_randomness_gives_the_same_key_pair() {
        let a = generate(&mut StdRng::seed_from_u64(4));
        let b = generate(&mut StdRng::seed_from_u64(4));
        let c = generate(&mut StdRng::seed_from_u64(5));
        assert_eq!(a.0, b.0);
        assert_eq!(&a.1[..], &b.1[..]);
        assert_ne!(a.0, c.0);
    }

    #[test]
    fn bitsliced_r3_inversion_agrees_with_the_bytewise_one() {
        let mut g = StdRng::seed_from_u64(7);
        let mut invertible = 0;
        for k in 0..300 {
            let s = match k {
                0 => Zeroizing::new([0i8; P]),
                1 => Zeroizing::new([1i8; P]),
                2 => Zeroizing::new([-1i8; P]),
                3 => random_short(&mut g),
                _ => random_small(&mut g),
            };
            let a = r3_recip(&s);
            let b = super::super::r3::r3_recip(&s);
            assert_eq!(a.as_deref(), b.as_deref(), "input {k}");
            invertible += usize::from(a.is_some());
        }
        // Both outcomes were tried: the zero polynomial has no inverse.
        assert!(invertible > 0 && invertible < 300);
    }

    #[test]
    fn inverses_are_inverses() {
        let mut g = StdRng::seed_from_u64(6);
        let s = random_short(&mut g);
        assert_eq!(s.iter().filter(|&&x| x != 0).count(), W);
        // (1/(3s))·s·3 = 1 in Rq.
        let inv = rq_recip3(&s);
        let prod = rq_mult_small(&inv, &s);
        let mut one = [0i16; P];
        one[0] = freeze_q(recip_q(3)) as i16;
        assert_eq!(prod, one);
        // An invertible small g: (1/g)·g = 1 in R3, checked through Rq's product mod 3.
        let (g, ginv) = loop {
            let g = random_small(&mut g);
            if let Some(i) = super::super::r3::r3_recip(&g) {
                break (g, i);
            }
        };
        let ginv16: [i16; P] = core::array::from_fn(|i| i16::from(ginv[i]));
        let prod = rq_mult_small(&ginv16, &g);
        let mod3: Vec<i32> = prod.iter().map(|&x| i32::from(x).rem_euclid(3)).collect();
        assert_eq!(mod3[0], 1);
        assert!(mod3[1..].iter().all(|&x| x == 0));
    }
}
