//! The crypto floor of one message, timed with the implementations the server uses:
//! OpenSSL's ChaCha20-Poly1305 for a 16 KiB TLS record in and one out, SHA-512 over the
//! block for the authenticator, and the server-to-recipient box over the padded body.
//!
//! Beside it, the *protocol floor* ([`Floor`]): what the relay cannot avoid per delivered
//! message even with zero overhead of its own — the limit's crypto, plus the TLS crypto of the
//! three more 16 KiB records the protocol makes it handle (`SEND` in, `OK` out, `MSG` out,
//! `ACK` in, `OK` out: every block is padded to 16 KiB), plus the kernel's cost of moving
//! those five records through loopback TCP, timed on a real socket pair. When the clients
//! negotiated SMP v11 or later, every block is also secret-boxed inside TLS with the next key
//! of a chain (`simplex-transport::sbchain`), and the floor adds that for the five blocks
//! ([`measure_block_encryption`]): the reference's relay pays it too.

use std::time::{Duration, Instant};

use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use simplex_crypto::nacl::{cb_encrypt_no_pad, CbNonce};
use simplex_crypto::{dh_x25519, sha512, PrivateKeyX25519};
use smp_proto::block::BLOCK_SIZE;
use smp_proto::message::RCV_MSG_BODY_PADDED_LEN;

/// Microseconds per operation of each part, and the sum.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// One 16 KiB TLS record encrypted (ChaCha20-Poly1305, OpenSSL).
    pub tls_encrypt_us: f64,
    /// One 16 KiB TLS record decrypted and its tag checked.
    pub tls_decrypt_us: f64,
    /// SHA-512 over a 16 KiB block (the crypto_box authenticator's digest).
    pub sha512_us: f64,
    /// The server-to-recipient box over the padded body (XSalsa20-Poly1305).
    pub box_us: f64,
}

impl Limit {
    /// The crypto cost of one delivered message.
    pub fn us_per_msg(&self) -> f64 {
        self.tls_encrypt_us + self.tls_decrypt_us + self.sha512_us + self.box_us
    }

    /// Messages per second one core could carry if crypto were the only cost.
    pub fn msgs_per_s_per_core(&self) -> f64 {
        1e6 / self.us_per_msg()
    }
}

/// Kernel cost of one 16 KiB TLS record through loopback TCP, each end, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    /// `send` of a record (on loopback it includes the receiving side's TCP input
    /// processing, which runs in the sender's context).
    pub send_us: f64,
    /// `recv` of a record (the copy out of the socket), including the calls that found
    /// only part of it.
    pub recv_us: f64,
}

/// Records the relay handles per delivered message: `SEND` and `ACK` in.
pub const RECORDS_IN: f64 = 2.0;
/// Records the relay writes per delivered message: `OK` to `SEND`, `MSG`, `OK` to `ACK`.
pub const RECORDS_OUT: f64 = 3.0;

/// The least CPU the relay can spend on one delivered message (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// The limit's parts.
    pub limit: Limit,
    /// The kernel's part per record.
    pub kernel: Kernel,
    /// v11 block encryption per block (chain step and secret box); 0 when the clients'
    /// sessions do not encrypt blocks.
    pub block_us: f64,
}

impl Floor {
    /// TLS crypto of the five records.
    pub fn tls_us(&self) -> f64 {
        RECORDS_IN * self.limit.tls_decrypt_us + RECORDS_OUT * self.limit.tls_encrypt_us
    }

    /// Kernel CPU of the five records.
    pub fn kernel_us(&self) -> f64 {
        RECORDS_IN * self.kernel.recv_us + RECORDS_OUT * self.kernel.send_us
    }

    /// Block encryption of the five blocks (0 without it).
    pub fn blocks_us(&self) -> f64 {
        (RECORDS_IN + RECORDS_OUT) * self.block_us
    }

    /// The floor per message: TLS and kernel for five records, SHA-512 and the box, and
    /// the five blocks' encryption in sessions that encrypt blocks.
    pub fn us_per_msg(&self) -> f64 {
        self.tls_us()
            + self.kernel_us()
            + self.limit.sha512_us
            + self.limit.box_us
            + self.blocks_us()
    }

    /// The same floor without block encryption (as measured before SMP v11 existed).
    pub fn us_per_msg_unencrypted(&self) -> f64 {
        self.us_per_msg() - self.blocks_us()
    }

    /// The highest `ratio` a relay reaching the floor would score: limit ÷ floor.
    pub fn max_ratio(&self) -> f64 {
        self.limit.us_per_msg() / self.us_per_msg()
    }
}

/// Times 16 KiB records (as TLS frames them: 5-byte header, 16 KiB, 16-byte tag) through a
/// loopback TCP connection for about `budget`: one thread writes a record into one end and
/// reads it from the other, both sockets non-blocking, so each `send` and `recv` is timed
/// alone and no time is spent waiting (as in the relay, which reads only when epoll says a
/// socket is ready). The figures are those of the fastest batch of 16 records (see
/// [`time_per_call`]). `None` where loopback sockets are not available.
pub fn measure_kernel(budget: Duration) -> Option<Kernel> {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    const RECORD: usize = 5 + BLOCK_SIZE + 16;
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let mut tx = TcpStream::connect(listener.local_addr().ok()?).ok()?;
    let (mut rx, _) = listener.accept().ok()?;
    tx.set_nodelay(true).ok()?;
    tx.set_nonblocking(true).ok()?;
    rx.set_nonblocking(true).ok()?;
    let record = vec![0x17u8; RECORD];
    let mut buf = vec![0u8; RECORD];
    let mut one = |send: &mut Duration, recv: &mut Duration| -> Option<()> {
        let (mut written, mut read) = (0, 0);
        // Bounded: a record that cannot pass in this many turns means a broken socket.
        for _ in 0..10_000 {
            if written < RECORD {
                let t = Instant::now();
                let r = tx.write(&record[written..]);
                *send += t.elapsed();
                match r {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return None,
                }
            }
            let t = Instant::now();
            let r = rx.read(&mut buf[read..]);
            *recv += t.elapsed();
            match r {
                Ok(0) => return None,
                Ok(n) => read += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return None,
            }
            if read == RECORD {
                return Some(());
            }
        }
        None
    };
    let (mut warm_send, mut warm_recv) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..20 {
        one(&mut warm_send, &mut warm_recv)?;
    }
    // The fastest batch of records, as in `time_per_call`.
    const RECORDS: u32 = 16;
    let began = Instant::now();
    let mut best: Option<(Duration, Duration)> = None;
    while began.elapsed() < budget {
        let (mut send, mut recv) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..RECORDS {
            one(&mut send, &mut recv)?;
        }
        if best.is_none_or(|(s, r)| send + recv < s + r) {
            best = Some((send, recv));
        }
    }
    let (send, recv) = best?;
    Some(Kernel {
        send_us: send.as_secs_f64() * 1e6 / f64::from(RECORDS),
        recv_us: recv.as_secs_f64() * 1e6 / f64::from(RECORDS),
    })
}

/// Calls per timed batch of [`time_per_call`].
const BATCH: u64 = 25;

/// Runs `f` repeatedly for about `budget` in batches of [`BATCH`] calls and returns the
/// microseconds per call of the fastest batch. The relay's side of the comparison is CPU
/// time, which does not count time spent waiting for a CPU; on a shared machine a batch
/// that was preempted is slower in wall time only, so the fastest batch is the one that
/// measures the work (the mean swung 88–1,321 µs per message under a load average of 6–9).
fn time_per_call(budget: Duration, mut f: impl FnMut(u64)) -> f64 {
    // Warm caches and the CPU clock first.
    for i in 0..20 {
        f(i);
    }
    let start = Instant::now();
    let mut n: u64 = 0;
    let mut best = f64::INFINITY;
    while start.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..BATCH {
            f(n);
            n += 1;
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
    }
    best
}

fn nonce12(i: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&i.to_be_bytes());
    iv
}

/// Measures every part for about `budget` each.
pub fn measure(budget: Duration) -> Result<Limit, openssl::error::ErrorStack> {
    let key = [7u8; 32];
    let record = vec![0x5au8; BLOCK_SIZE];
    let mut out = vec![0u8; BLOCK_SIZE + 64];
    let aad = [0x17u8, 3, 3, 0x40, 0x11];

    let mut enc = CipherCtx::new()?;
    enc.encrypt_init(Some(Cipher::chacha20_poly1305()), Some(&key), None)?;
    let mut failed = None;
    let tls_encrypt_us = time_per_call(budget, |i| {
        let r = (|| {
            enc.encrypt_init(None, None, Some(&nonce12(i)))?;
            enc.cipher_update(&aad, None)?;
            let n = enc.cipher_update(&record, Some(&mut out))?;
            enc.cipher_final(&mut out[n..])?;
            let mut tag = [0u8; 16];
            enc.tag(&mut tag)
        })();
        if let Err(e) = r {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }

    // One sealed record to open again and again.
    let mut sealed = vec![0u8; BLOCK_SIZE + 16];
    let mut tag = [0u8; 16];
    enc.encrypt_init(None, None, Some(&nonce12(0)))?;
    enc.cipher_update(&aad, None)?;
    let n = enc.cipher_update(&record, Some(&mut sealed))?;
    enc.cipher_final(&mut sealed[n..])?;
    enc.tag(&mut tag)?;
    sealed.truncate(BLOCK_SIZE);
    let mut dec = CipherCtx::new()?;
    dec.decrypt_init(Some(Cipher::chacha20_poly1305()), Some(&key), None)?;
    let tls_decrypt_us = time_per_call(budget, |_| {
        let r = (|| {
            dec.decrypt_init(None, None, Some(&nonce12(0)))?;
            dec.set_tag(&tag)?;
            dec.cipher_update(&aad, None)?;
            let n = dec.cipher_update(&sealed, Some(&mut out))?;
            dec.cipher_final(&mut out[n..])
        })();
        if let Err(e) = r {
            failed = Some(e);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }

    let sha512_us = time_per_call(budget, |i| {
        let mut block = [0u8; 8];
        block.copy_from_slice(&i.to_le_bytes());
        let d = sha512(&record);
        std::hint::black_box((d, block));
    });

    let mut rng = rand::rngs::OsRng;
    let a = PrivateKeyX25519::generate(&mut rng);
    let b = PrivateKeyX25519::generate(&mut rng);
    let secret = dh_x25519(&b.public_key(), &a);
    let padded = vec![0x33u8; RCV_MSG_BODY_PADDED_LEN];
    let box_us = time_per_call(budget, |i| {
        let mut n = [0u8; 24];
        n[..8].copy_from_slice(&i.to_le_bytes());
        let c = cb_encrypt_no_pad(&secret, &CbNonce(n), &padded);
        std::hint::black_box(c);
    });

    Ok(Limit {
        tls_encrypt_us,
        tls_decrypt_us,
        sha512_us,
        box_us,
    })
}

/// One 16 KiB block's v11 encryption, in microseconds: the chain's HKDF-SHA512 step and the
/// secret box of the 16,368-byte padded content, as `simplex-transport` seals a block
/// (opening costs the same step and the same XSalsa20-Poly1305 pass).
pub fn measure_block_encryption(budget: Duration) -> f64 {
    use simplex_crypto::nacl::CbKey;
    use simplex_crypto::DhSecretX25519;
    use simplex_transport::sbchain::{SbChainKey, ENCRYPTED_PADDED_SIZE};
    let (mut chain, _) = SbChainKey::init(b"session", &DhSecretX25519::from_bytes([9; 32]));
    let block = vec![0x23u8; ENCRYPTED_PADDED_SIZE];
    let mut sealed = vec![0u8; ENCRYPTED_PADDED_SIZE + 16];
    time_per_call(budget, |_| {
        let (key, nonce) = chain.step();
        // Into a second buffer, as the transport does: the cheapest form (no copy).
        let r = CbKey::from_sb_key(&key).seal_to(&nonce, &block, &mut sealed);
        let _ = std::hint::black_box((r, &sealed));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_costs_something_and_sums() {
        let l = measure(Duration::from_millis(20)).expect("OpenSSL has ChaCha20-Poly1305");
        for part in [l.tls_encrypt_us, l.tls_decrypt_us, l.sha512_us, l.box_us] {
            assert!(part > 0.0 && part.is_finite(), "{l:?}");
        }
        let sum = l.tls_encrypt_us + l.tls_decrypt_us + l.sha512_us + l.box_us;
        assert!((l.us_per_msg() - sum).abs() < 1e-9);
        assert!((l.msgs_per_s_per_core() * l.us_per_msg() - 1e6).abs() < 1e-3);
    }

    #[test]
    fn the_floor_adds_records_and_kernel_to_the_limit() {
        let limit = measure(Duration::from_millis(20)).expect("OpenSSL has ChaCha20-Poly1305");
        let kernel = measure_kernel(Duration::from_millis(50)).expect("loopback TCP on Linux");
        assert!(kernel.send_us > 0.0 && kernel.recv_us > 0.0, "{kernel:?}");
        let floor = Floor {
            limit,
            kernel,
            block_us: 0.0,
        };
        let expected = limit.us_per_msg()
            + limit.tls_decrypt_us
            + 2.0 * limit.tls_encrypt_us
            + 2.0 * kernel.recv_us
            + 3.0 * kernel.send_us;
        assert!((floor.us_per_msg() - expected).abs() < 1e-9);
        assert!(floor.max_ratio() > 0.0 && floor.max_ratio() < 1.0);
        // Block encryption adds five blocks' worth, and only that.
        let block_us = measure_block_encryption(Duration::from_millis(20));
        assert!(block_us > 0.0 && block_us.is_finite());
        let encrypted = Floor { block_us, ..floor };
        assert!((encrypted.us_per_msg() - expected - 5.0 * block_us).abs() < 1e-9);
        assert!((encrypted.us_per_msg_unencrypted() - expected).abs() < 1e-9);
    }
}
