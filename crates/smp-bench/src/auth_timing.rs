//! Timing uniformity of `ERR AUTH`: does the relay answer a badly authorized command on an
//! existing queue in the same time as on a queue ID that does not exist? If not, anyone can
//! probe which queue IDs exist.
//!
//! The owner creates two queues over an ordinary client: one with an Ed25519 recipient key,
//! one with an X25519 recipient key. A second, raw connection (the handshake of
//! `simplex-transport`, no `smp-client`) then sends `SUB` signed with a wrong Ed25519 key,
//! and `SUB` with a crypto_box authenticator of a wrong X25519 key, each to the existing
//! queue of that key type and to random missing queue IDs. Every transmission is encoded and
//! authorized before the clock starts, so a sample is only the write of one block, the
//! relay's work and the read of its answer. The four kinds run in a fresh random order in
//! every round, so any drift of the machine falls on all of them alike.

use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::RngCore;
use simplex_crypto::nacl::{cb_authenticate, CbNonce};
use simplex_crypto::{PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519, PublicKeyX25519};
use simplex_encoding::Large;
use simplex_transport::handshake::{self, ClientConnection};
use smp_proto::block::decode_block;
use smp_proto::command::{Command, SubscriptionMode};
use smp_proto::error::ErrorType;
use smp_proto::response::Response;
use smp_proto::transmission::{RawTransmission, TransmissionForAuth, CORR_ID_SIZE};
use smp_proto::SmpServer;

use crate::scenarios::{client_config, connect};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Distinct prepared transmissions per kind, used in turn.
const POOL: usize = 64;

/// Length of the relay's queue IDs.
const ID_LEN: usize = 24;

/// Medians of one key type, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct KindMedians {
    /// `ERR AUTH` on the existing queue.
    pub existing_us: f64,
    /// `ERR AUTH` on a missing queue ID.
    pub missing_us: f64,
}

impl KindMedians {
    /// median(missing) ÷ median(existing).
    pub fn ratio(&self) -> f64 {
        self.missing_us / self.existing_us.max(1e-9)
    }
}

/// What the scenario measured.
#[derive(Debug, Clone)]
pub struct AuthTiming {
    /// Samples of each of the four kinds.
    pub samples: usize,
    /// `SUB` signed with a wrong Ed25519 key.
    pub ed25519: KindMedians,
    /// `SUB` with the authenticator of a wrong X25519 key.
    pub x25519: KindMedians,
}

impl AuthTiming {
    /// The ratio of the two key types farthest from 1: what an attacker would use.
    pub fn worst_ratio(&self) -> f64 {
        let (a, b) = (self.ed25519.ratio(), self.x25519.ratio());
        if (a - 1.0).abs() >= (b - 1.0).abs() {
            a
        } else {
            b
        }
    }
}

/// The median of `xs` (sorted in place), in microseconds.
pub fn median_us(xs: &mut [Duration]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable();
    let n = xs.len();
    let mid = |i: usize| xs.get(i).map(|d| d.as_secs_f64() * 1e6);
    if n % 2 == 1 {
        mid(n / 2)
    } else {
        Some((mid(n / 2 - 1)? + mid(n / 2)?) / 2.0)
    }
}

/// Encodes `SUB` to `entity_id` authorized by `key` on the probe's session.
fn prepared_sub(
    conn: &ClientConnection,
    key: &PrivateAuthKey,
    entity_id: &[u8],
) -> Result<(Vec<u8>, [u8; CORR_ID_SIZE]), BoxError> {
    let params = &conn.session.params;
    let v = params.version;
    let mut corr_id = [0u8; CORR_ID_SIZE];
    OsRng.fill_bytes(&mut corr_id);
    let body = Command::Sub.to_bytes(v);
    let tfa = TransmissionForAuth::new(v, &params.session_id, &corr_id, entity_id, &body)?;
    let auth = match key {
        PrivateAuthKey::X25519(own) => {
            let server: &PublicKeyX25519 = conn
                .session
                .server_dh_key
                .as_ref()
                .ok_or("the relay sent no session key for authenticators")?;
            cb_authenticate(server, own, &CbNonce(corr_id), tfa.for_auth())
                .as_bytes()
                .to_vec()
        }
        _ => {
            let k = key.as_sign_key().ok_or("not a signing key")?;
            simplex_crypto::sign(&k, tfa.for_auth()).as_bytes().to_vec()
        }
    };
    Ok((tfa.encode(Some(&auth))?, corr_id))
}

/// Sends one prepared transmission in a block of its own and waits for the answer; returns
/// the time from the write to the arrival of the answer, and whether it was `ERR AUTH` to
/// this correlation ID.
async fn probe(
    conn: &mut ClientConnection,
    t: &[u8],
    corr_id: &[u8],
) -> Result<(Duration, bool), BoxError> {
    let v = conn.session.params.version;
    let t0 = Instant::now();
    conn.writer
        .write_with(|buf| {
            buf.push(1);
            let _ = Large::encode_slice(t, buf);
        })
        .await?;
    let block = conn.reader.read_raw().await?;
    let elapsed = t0.elapsed();
    let ok = decode_block(block)
        .ok()
        .and_then(|ts| ts.into_iter().next())
        .and_then(|t| RawTransmission::decode(v, t).ok())
        .is_some_and(|raw| {
            raw.corr_id == corr_id
                && matches!(
                    Response::decode(v, raw.command),
                    Ok(Response::Err(ErrorType::Auth))
                )
        });
    Ok((elapsed, ok))
}

/// Runs the scenario: `warmup` rounds discarded, then `samples` rounds of the four kinds.
pub async fn measure(
    server: &SmpServer,
    samples: usize,
    warmup: usize,
) -> Result<AuthTiming, BoxError> {
    // The owner's two queues.
    let (owner, _events) = connect(server, Duration::from_secs(10)).await?;
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let ed_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    let x_key = PrivateAuthKey::X25519(PrivateKeyX25519::generate(&mut OsRng));
    let mut existing = Vec::new();
    for key in [&ed_key, &x_key] {
        let ids = owner
            .create_queue(
                key,
                &dh.public_key(),
                None,
                SubscriptionMode::OnlyCreate,
                false,
            )
            .await?;
        existing.push(ids.rcv_id.as_slice().to_vec());
    }
    let (Some(ed_queue), Some(x_queue)) = (existing.first(), existing.get(1)) else {
        return Err("queues were not created".into());
    };

    // The prober: another session, with keys the queues do not know.
    let host = server
        .hosts
        .first()
        .ok_or("the address has no host")?
        .to_string();
    let port = server.port_or_default();
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut conn = handshake::connect(
        addr.as_str(),
        &server.key_hash,
        &client_config().transport,
        None,
    )
    .await?;
    let wrong_ed = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    let wrong_x = PrivateAuthKey::X25519(PrivateKeyX25519::generate(&mut OsRng));

    // Kinds: 0 Ed25519 existing, 1 Ed25519 missing, 2 X25519 existing, 3 X25519 missing.
    let mut pools: Vec<Vec<(Vec<u8>, [u8; CORR_ID_SIZE])>> = Vec::with_capacity(4);
    for (key, queue) in [
        (&wrong_ed, Some(ed_queue)),
        (&wrong_ed, None),
        (&wrong_x, Some(x_queue)),
        (&wrong_x, None),
    ] {
        let mut pool = Vec::with_capacity(POOL);
        for _ in 0..POOL {
            let id = match queue {
                Some(q) => q.clone(),
                None => {
                    let mut id = vec![0u8; ID_LEN];
                    OsRng.fill_bytes(&mut id);
                    id
                }
            };
            pool.push(prepared_sub(&conn, key, &id)?);
        }
        pools.push(pool);
    }

    let mut times: Vec<Vec<Duration>> = (0..4).map(|_| Vec::with_capacity(samples)).collect();
    let mut order = [0usize, 1, 2, 3];
    let mut rng = rand::thread_rng();
    for round in 0..warmup.saturating_add(samples) {
        order.shuffle(&mut rng);
        for &kind in &order {
            let Some((t, corr_id)) = pools.get(kind).and_then(|p| p.get(round % POOL)) else {
                continue;
            };
            let (dt, auth) = probe(&mut conn, t, corr_id).await?;
            if !auth {
                return Err(format!("kind {kind}: the relay did not answer ERR AUTH").into());
            }
            if round >= warmup {
                if let Some(v) = times.get_mut(kind) {
                    v.push(dt);
                }
            }
        }
    }
    owner.close().await;

    let mut med = times.iter_mut().map(|v| median_us(v));
    let mut next = || med.next().flatten().ok_or("no samples");
    let ed25519 = KindMedians {
        existing_us: next()?,
        missing_us: next()?,
    };
    let x25519 = KindMedians {
        existing_us: next()?,
        missing_us: next()?,
    };
    Ok(AuthTiming {
        samples,
        ed25519,
        x25519,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let us = |x: u64| Duration::from_micros(x);
        assert_eq!(median_us(&mut []), None);
        assert_eq!(median_us(&mut [us(5), us(1), us(3)]), Some(3.0));
        assert_eq!(median_us(&mut [us(4), us(1), us(2), us(10)]), Some(3.0));
    }

    #[test]
    fn worst_ratio_is_the_farthest_from_one() {
        let t = AuthTiming {
            samples: 1,
            ed25519: KindMedians {
                existing_us: 100.0,
                missing_us: 98.0,
            },
            x25519: KindMedians {
                existing_us: 100.0,
                missing_us: 104.0,
            },
        };
        assert!((t.worst_ratio() - 1.04).abs() < 1e-12);
        assert!((t.ed25519.ratio() - 0.98).abs() < 1e-12);
    }
}
