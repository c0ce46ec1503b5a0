//! Prints the cost of the operations on the server's delivery path. A measurement, not a
//! test: `cargo run --release -p simplex-crypto --example crypto_costs`.

use std::hint::black_box;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use simplex_crypto::*;

fn time(name: &str, iters: u32, mut f: impl FnMut()) {
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let per = start.elapsed() / iters;
    println!("{name:<48} {:>9.2} µs", per.as_secs_f64() * 1e6);
}

fn main() {
    let mut rng = StdRng::seed_from_u64(1);
    let a = PrivateKeyX25519::generate(&mut rng);
    let b = PrivateKeyX25519::generate(&mut rng);
    let secret = dh_x25519(&b.public_key(), &a);
    let key = CbKey::from_dh(&secret);
    let nonce = CbNonce::random(&mut rng);
    let msg = vec![7u8; 16_000];
    let mut out = Vec::with_capacity(16_500);

    time("CbKey::encrypt_into, 16 KiB padded", 2000, || {
        out.clear();
        key.encrypt_into(&nonce, black_box(&msg), 16_384, &mut out)
            .expect("fits");
    });
    let boxed = key.encrypt(&nonce, &msg, 16_384).expect("fits");
    let mut buf = boxed.clone();
    time("CbKey::decrypt_in_place, 16 KiB", 2000, || {
        buf.copy_from_slice(&boxed);
        black_box(key.decrypt_in_place(&nonce, &mut buf).expect("opens"));
    });
    time("cb_encrypt (HSalsa20 each call), 16 KiB", 2000, || {
        black_box(cb_encrypt(&secret, &nonce, &msg, 16_384).expect("fits"));
    });
    time("dh_x25519", 2000, || {
        black_box(dh_x25519(&b.public_key(), &a));
    });
    time("sha512, 16 KiB", 2000, || {
        black_box(sha512(&msg));
    });
    let auth = cb_authenticate(&b.public_key(), &a, &nonce, &msg);
    time(
        "cb_verify, 16 KiB message (DH + SHA-512 + box)",
        2000,
        || {
            assert!(cb_verify(
                &a.public_key(),
                &b,
                &nonce,
                &auth,
                black_box(&msg)
            ));
        },
    );
    let cached = CbKey::from_dh(&dh_x25519(&a.public_key(), &b));
    time(
        "cb_verify_with_key (cached per queue), 16 KiB",
        2000,
        || {
            assert!(cb_verify_with_key(&cached, &nonce, &auth, black_box(&msg)));
        },
    );
    let ed = PrivateSignKey::Ed25519(PrivateKeyEd25519::generate(&mut rng));
    let sig = sign(&ed, &msg);
    time("Ed25519 verify, 16 KiB message", 2000, || {
        assert!(verify(&ed.public_key(), &sig, black_box(&msg)));
    });
    let ed448 = PrivateSignKey::Ed448(PrivateKeyEd448::generate(&mut rng));
    let sig448 = sign(&ed448, b"handshake");
    time("Ed448 sign, 9 bytes", 500, || {
        black_box(sign(&ed448, b"handshake"));
    });
    time("Ed448 verify, 9 bytes", 500, || {
        assert!(verify(&ed448.public_key(), &sig448, b"handshake"));
    });
}
