//! Inversion in R3 = Z₃[x]/(xᵖ − x − 1) on bitsliced polynomials.
//!
//! The same constant-time divsteps as `keygen`'s inversion mod q (2p − 1 steps over p + 1
//! coefficients), but each polynomial mod 3 is two bit planes of 64-bit words: coefficient i
//! is bit i of `nz` (non-zero) and of `neg` (it is −1); a zero coefficient has both bits
//! clear. A step then touches 12 words per plane instead of 762 bytes, with a handful of
//! logic operations per word and no multiplication. Nothing branches on or indexes by
//! secret data; which words a step touches depends on the step's number only.

// The narrowing casts below are of single bits (a coefficient's bit, 0 or 1).
#![allow(clippy::cast_possible_truncation)]

use zeroize::Zeroizing;

use super::keygen::{divstep, vr_len, Small, P};

/// Words of a plane: p + 1 coefficients.
const WORDS: usize = (P + 1).div_ceil(64);
/// The valid bits of the last word.
const TOP_MASK: u64 = (1u64 << ((P + 1) - 64 * (WORDS - 1))) - 1;

type Plane = Zeroizing<[u64; WORDS]>;

/// A bitsliced polynomial mod 3.
struct Poly3 {
    nz: Plane,
    neg: Plane,
}

impl Poly3 {
    fn zero() -> Self {
        Poly3 {
            nz: Zeroizing::new([0; WORDS]),
            neg: Zeroizing::new([0; WORDS]),
        }
    }

    fn set(&mut self, i: usize, c: i8) {
        let (w, b) = (i / 64, i % 64);
        // Read bitwise, for c in {−1, 0, 1}: bit 0 is set for ±1, bit 7 for −1.
        let nz = u64::from(c as u8 & 1);
        let neg = u64::from(c as u8 >> 7);
        self.nz[w] = (self.nz[w] & !(1 << b)) | (nz << b);
        self.neg[w] = (self.neg[w] & !(1 << b)) | (neg << b);
    }

    fn get(&self, i: usize) -> i8 {
        let (w, b) = (i / 64, i % 64);
        let nz = ((self.nz[w] >> b) & 1) as i8;
        let neg = ((self.neg[w] >> b) & 1) as i8;
        // 0, 1 or −1: nz·(1 − 2·neg).
        nz - 2 * (nz & neg)
    }
}

/// Swaps the first `n` words of two polynomials where `mask` is all ones.
#[inline(always)]
fn cswap(a: &mut Poly3, b: &mut Poly3, mask: u64, n: usize) {
    for (x, y) in a.nz[..n].iter_mut().zip(b.nz[..n].iter_mut()) {
        let t = mask & (*x ^ *y);
        *x ^= t;
        *y ^= t;
    }
    for (x, y) in a.neg[..n].iter_mut().zip(b.neg[..n].iter_mut()) {
        let t = mask & (*x ^ *y);
        *x ^= t;
        *y ^= t;
    }
}

/// y ← y + c·x on the first `n` words, for c = 0 (`zero` all ones), else 1 or −1 (`flip` all
/// ones for −1).
#[inline(always)]
fn add_scaled(y: &mut Poly3, x: &Poly3, keep: u64, flip: u64, n: usize) {
    for (((yn, ys), xn), xs) in y.nz[..n]
        .iter_mut()
        .zip(y.neg[..n].iter_mut())
        .zip(x.nz[..n].iter())
        .zip(x.neg[..n].iter())
    {
        let (a1, s1) = (*yn, *ys);
        let a2 = *xn & keep;
        let s2 = (*xs ^ flip) & a2;
        // Sums: a + 0 = a; a + a = −a (1 + 1 = −1 and −1 − 1 = 1 mod 3); a + (−a) = 0.
        let both = a1 & a2;
        let nz = (a1 ^ a2) | (both & !(s1 ^ s2));
        let neg = ((a2 & !a1 & s2) | (a1 & (s1 ^ a2))) & nz;
        *yn = nz;
        *ys = neg;
    }
}

/// Multiplies by x, keeping p + 1 coefficients.
fn shift_up(p: &mut Poly3) {
    for plane in [&mut p.nz, &mut p.neg] {
        let mut carry = 0;
        for w in plane.iter_mut() {
            let next = *w >> 63;
            *w = (*w << 1) | carry;
            carry = next;
        }
        plane[WORDS - 1] &= TOP_MASK;
    }
}

/// Divides by x (the constant coefficient, zero by then, drops out).
fn shift_down(p: &mut Poly3) {
    for plane in [&mut p.nz, &mut p.neg] {
        for i in 0..WORDS {
            let hi = if i + 1 < WORDS { plane[i + 1] << 63 } else { 0 };
            plane[i] = (plane[i] >> 1) | hi;
        }
    }
}

/// 1/s in R3, or `None` when s is not invertible there.
pub(super) fn r3_recip(s: &[i8; P]) -> Option<Small> {
    let (mut f, mut g, mut v, mut r) = (Poly3::zero(), Poly3::zero(), Poly3::zero(), Poly3::zero());
    r.set(0, 1);
    f.set(0, 1);
    f.set(P - 1, -1);
    f.set(P, -1);
    for (i, si) in s.iter().rev().enumerate() {
        g.set(i, *si);
    }
    let mut delta: i16 = 1;
    for i in 0..(2 * P - 1) {
        shift_up(&mut v);
        let n = vr_len(i).div_ceil(64);
        let (f0n, f0s) = (f.nz[0] & 1, f.neg[0] & 1);
        let (g0n, g0s) = (g.nz[0] & 1, g.neg[0] & 1);
        // −g₀·f₀ makes g₀ zero (f₀ = ±1): non-zero when g₀ is, −1 when their signs agree.
        let keep = 0u64.wrapping_sub(g0n & f0n);
        let flip = 0u64.wrapping_sub(!(g0s ^ f0s) & 1);
        let (swap, d) = divstep(delta, g0n as i16);
        delta = d;
        let swap = i64::from(swap) as u64;
        cswap(&mut f, &mut g, swap, WORDS);
        cswap(&mut v, &mut r, swap, n);
        add_scaled(&mut g, &f, keep, flip, WORDS);
        add_scaled(&mut r, &v, keep, flip, n);
        shift_down(&mut g);
    }
    let sign = f.get(0);
    let mut out = Zeroizing::new([0i8; P]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = sign * v.get(P - 1 - j);
    }
    (delta == 0).then_some(out)
}
