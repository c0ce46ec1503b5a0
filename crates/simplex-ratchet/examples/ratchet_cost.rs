//! Prints what the ratchet costs on this machine: sntrup761 operations, and one message each
//! way (a DH ratchet step on each side) without and with PQ.
//!
//! `cargo run --release -p simplex-ratchet --example ratchet_cost` (with the argument `keygen
//! N`: only N key pairs, for `perf stat` on a busy machine, where CPU cycles say more than
//! the clock).

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_ratchet::*;

fn time<T>(label: &str, n: u32, mut f: impl FnMut() -> T) {
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(f());
    }
    let per = start.elapsed() / n;
    println!("{label:<40} {per:>12.2?}");
}

fn pair(g: &mut StdRng, pq: bool) -> (Ratchet<X448>, Ratchet<X448>) {
    let v = CURRENT_E2E_VERSION;
    let (ak, akem, ea) = generate_rcv_e2e_params::<X448>(g, v, PqSupport(pq));
    let use_kem = reply_kem(v, ea.kem.as_ref(), PqSupport(pq));
    let (bk, bkem, eb) = generate_snd_e2e_params::<X448>(g, v, use_kem.as_ref());
    let (bi, bkp) = pq_x3dh_snd(&bk, bkem.as_ref(), &ea).expect("x3dh");
    let (ai, akp) = pq_x3dh_rcv(&ak, akem.as_ref(), &eb).expect("x3dh");
    let vs = RatchetVersions {
        current: v,
        max_supported: v,
    };
    let bob = Ratchet::init_snd(vs, X448::public_key(&ak.key2), X448::generate(g), bi, bkp)
        .expect("init");
    let alice = Ratchet::init_rcv(vs, ak.key2.clone(), ai, akp, PqSupport(pq));
    (alice, bob)
}

fn main() {
    let mut g = StdRng::seed_from_u64(1);
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, n] = &args[..] {
        if mode == "keygen" {
            let n: u32 = n.parse().expect("a number of key pairs");
            time("sntrup761 key pair", n, || KemKeyPair::generate(&mut g));
            return;
        }
    }
    let kp = KemKeyPair::generate(&mut g);
    let (ct, _) = kp.public.encapsulate(&mut g);
    time("sntrup761 key pair", 50, || KemKeyPair::generate(&mut g));
    time("sntrup761 encapsulate", 50, || {
        kp.public.encapsulate(&mut g)
    });
    time("sntrup761 decapsulate", 50, || kp.secret.decapsulate(&ct));
    for pq in [false, true] {
        let (alice, bob) = pair(&mut g, pq);
        let skipped = SkippedKeys::new();
        let label = if pq { "PQ" } else { "no PQ" };
        time(&format!("round trip with 2 DH steps ({label})"), 20, || {
            let (m, bob2) = bob.encrypt(None, 3, 15000, b"hello").expect("enc");
            let a = alice.decrypt(&skipped, &m, &mut g).expect("dec");
            let (m2, _) = a.ratchet.encrypt(None, 3, 15000, b"hi").expect("enc");
            bob2.decrypt(&skipped, &m2, &mut g).expect("dec")
        });
        time(&format!("same-chain message ({label})"), 200, || {
            let (m, _) = bob.encrypt(None, 3, 15000, b"hello").expect("enc");
            m
        });
    }
}
