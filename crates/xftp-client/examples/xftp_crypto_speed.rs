//! The machine's limit for XFTP transfers, to compare `xftp send`/`recv` throughput with:
//! the file encryption (secret-box stream, once per file), the transfer encryption of a chunk
//! body (crypto_box stream, once per download, on the relay) and the digests (SHA-256 per
//! chunk, SHA-512 per file), each over 100 MiB in 64 KiB pieces, as the client and relay
//! push them. Prints MiB/s.
//!
//! `cargo run --release -p xftp-client --example xftp_crypto_speed`

use std::time::Instant;

use simplex_crypto::nacl::{CbKey, CbNonce, SbKey};
use simplex_crypto::{Sha256Stream, Sha512Stream};
use xftp_proto::chunks::encrypted_file_sizes;
use xftp_proto::{ChunkEncryptor, FileEncryptor, FileHeader};

const TOTAL: u64 = 100 << 20;
const PIECE: usize = 1 << 16;

fn rate(what: &str, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!("{what:<40} {:>8.1} MiB/s", (TOTAL >> 20) as f64 / secs);
}

fn main() {
    let piece = vec![0x5au8; PIECE];
    let mut out = Vec::with_capacity(PIECE * 2);
    let pieces = TOTAL / PIECE as u64;

    let key = SbKey::random(&mut rand::rngs::OsRng);
    let nonce = CbNonce::random(&mut rand::rngs::OsRng);
    let header = FileHeader {
        file_name: "bench.bin".into(),
        file_extra: None,
    };
    let header_len = header.encode().map_or(0, |h| h.len() as u64);
    let (_, enc_size) = encrypted_file_sizes(header_len + TOTAL);
    let start = Instant::now();
    let Ok(mut enc) = FileEncryptor::new(&key, &nonce, &header, TOTAL, enc_size, &mut out) else {
        eprintln!("encryptor refused the sizes");
        return;
    };
    for _ in 0..pieces {
        out.clear();
        if enc.push(&piece, &mut out).is_err() {
            eprintln!("encryptor refused a piece");
            return;
        }
    }
    out.clear();
    let _ = enc.finish(&mut out);
    rate("file encryption (secretbox stream)", start);

    let cb = CbKey::from_sb_key(&key);
    let start = Instant::now();
    let mut chunk = ChunkEncryptor::new(&cb, &nonce, TOTAL);
    for _ in 0..pieces {
        out.clear();
        let _ = chunk.push(&piece, &mut out);
    }
    rate("chunk transfer encryption (crypto_box)", start);

    let start = Instant::now();
    let mut h = Sha256Stream::new();
    for _ in 0..pieces {
        h.update(&piece);
    }
    let _ = h.finish();
    rate("SHA-256 (chunk digests)", start);

    let start = Instant::now();
    let mut h = Sha512Stream::new();
    for _ in 0..pieces {
        h.update(&piece);
    }
    let _ = h.finish();
    rate("SHA-512 (file digest)", start);
}
