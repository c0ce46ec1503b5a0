//! The ping-pong's floor with the agent's end-to-end cryptography and storage, but no
//! agent: two bare clients, each holding a real X448 double ratchet with header encryption
//! (a DH ratchet step on every message, as in the agents' ping-pong, with X448 keys made
//! before the clock starts, as the agent makes them ahead) and a SQLCipher file with the
//! agent store's settings. Per message the sender encrypts with its ratchet and commits the
//! message with the ratchet's new state, then `SEND`s it (waiting for the `OK`); the
//! receiver opens the server's box, decrypts, commits the message with its new ratchet
//! state, `ACK`s it (waiting for the `OK`) and replies the same way. One task per side does
//! it all: no store thread, no events, no delivery task, so what the agents' `pingpong_ms`
//! spends above this is their own structure.
//!
//! The burst's floor (`crypto_store_burst`) is the same two parties with the messages going
//! one way: the sender encrypts, commits and `SEND`s each in its own task while the receiver
//! opens, decrypts, commits and `ACK`s each, the relay handing over the next `MSG` after the
//! `ACK`, as it does to an agent.
//!
//! It leaves out, so it is a floor and not a copy: the agent envelope, the per-queue
//! crypto_box between sender and recipient (~20-40 us per 16 KiB message here), the
//! acknowledged and sent marks, and the events.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::OsRng;
use rusqlite::Connection;
use simplex_agent::sqlite::{open_database, Locking};
use simplex_crypto::{PrivateAuthKey, PrivateKeyX448};
use simplex_encoding::Encode;
use simplex_ratchet::{
    generate_rcv_e2e_params, generate_snd_e2e_params, pq_x3dh_rcv, pq_x3dh_snd, DhAlgorithm,
    KemKeyPair, PqSupport, Ratchet, RatchetKeySource, RatchetVersions, SkippedKeys,
    CURRENT_E2E_VERSION, X448,
};
use smp_client::{decrypt_message, ClientConfig, SmpClient};
use smp_proto::{MsgFlags, RcvMsgBody, SmpServer};

use crate::floor::{next_msg, BareQueue, Cpu, WINDOW};
use crate::BoxError;

/// The agent's padded length of an agent message inside the ratchet (no PQ).
const PADDED_LEN: usize = 15_840;

/// One side: its client, its queue, its ratchet and its database.
struct Party {
    client: SmpClient,
    events: tokio::sync::mpsc::Receiver<smp_client::ServerEvent>,
    queue: BareQueue,
    ratchet: Ratchet<X448>,
    skipped: SkippedKeys,
    db: Connection,
    keys: ReadyKeys,
}

/// X448 keys made before the run, one per ratchet step.
struct ReadyKeys(RefCell<Vec<PrivateKeyX448>>);

impl RatchetKeySource for ReadyKeys {
    fn take_kem_key_pair(&self) -> Option<KemKeyPair> {
        None
    }
    fn take_x448_key(&self) -> Option<PrivateKeyX448> {
        self.0.borrow_mut().pop()
    }
}

impl Party {
    async fn new(
        server: &SmpServer,
        dir: &Path,
        name: &str,
        ratchet: Ratchet<X448>,
        steps: usize,
    ) -> Result<Party, BoxError> {
        let (client, events) = SmpClient::connect(server, ClientConfig::default()).await?;
        let queue = BareQueue::new(&client).await?;
        let db = open_database(&dir.join(format!("{name}.db")), name, Locking::Exclusive)?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.pragma_update(None, "cache_size", -16384)?;
        db.execute_batch(
            "CREATE TABLE msgs (id INTEGER PRIMARY KEY, body BLOB NOT NULL); \
             CREATE TABLE ratchet (id INTEGER PRIMARY KEY, state BLOB NOT NULL); \
             INSERT INTO ratchet (id, state) VALUES (1, x'');",
        )?;
        Ok(Party {
            client,
            events,
            queue,
            ratchet,
            skipped: SkippedKeys::new(),
            db,
            keys: ReadyKeys(RefCell::new(
                (0..steps)
                    .map(|_| PrivateKeyX448::generate(&mut OsRng))
                    .collect(),
            )),
        })
    }

    /// A message and the ratchet's state after it, committed together.
    fn commit(&self, body: &[u8]) -> Result<(), BoxError> {
        let tx = self.db.unchecked_transaction()?;
        tx.prepare_cached("INSERT INTO msgs (body) VALUES (?1)")?
            .execute([body])?;
        tx.prepare_cached("UPDATE ratchet SET state = ?1 WHERE id = 1")?
            .execute([self.ratchet.to_bytes()])?;
        tx.commit()?;
        Ok(())
    }

    /// Encrypts, stores and sends `body` to the queue `to` (its sender ID and key).
    async fn send(&mut self, to: &(Vec<u8>, PrivateAuthKey), body: &[u8]) -> Result<(), BoxError> {
        let (enc, next) = self
            .ratchet
            .encrypt(None, CURRENT_E2E_VERSION, PADDED_LEN, body)?;
        self.ratchet = next;
        self.commit(body)?;
        let flags = MsgFlags {
            notification: false,
        };
        self.client
            .send_message(Some(&to.1), &to.0, flags, &enc)
            .await?;
        Ok(())
    }

    /// Receives, decrypts, stores and acknowledges the next message.
    async fn receive(&mut self) -> Result<(), BoxError> {
        let m = next_msg(&mut self.events, &self.queue.rcv_id).await?;
        let RcvMsgBody::Data { body: enc, .. } = decrypt_message(&self.queue.dh, &m)? else {
            return Err("not a message".into());
        };
        let d = self
            .ratchet
            .decrypt_with_keys(&self.skipped, &enc, &mut OsRng, &self.keys)?;
        d.diff.apply(&mut self.skipped);
        self.ratchet = d.ratchet;
        self.commit(&d.plaintext)?;
        let q = &self.queue;
        self.client
            .ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
            .await?;
        Ok(())
    }
}

/// A connected pair of ratchets (X3DH, no PQ): (the creating side's, the joining side's).
fn ratchet_pair() -> Result<(Ratchet<X448>, Ratchet<X448>), BoxError> {
    let v = RatchetVersions {
        current: CURRENT_E2E_VERSION,
        max_supported: CURRENT_E2E_VERSION,
    };
    let (a_keys, a_kem, a_params) =
        generate_rcv_e2e_params::<X448>(&mut OsRng, v.current, PqSupport(false));
    let (b_keys, b_kem, b_params) = generate_snd_e2e_params::<X448>(&mut OsRng, v.current, None);
    let (b_init, b_kp) = pq_x3dh_snd(&b_keys, b_kem.as_ref(), &a_params)?;
    let (a_init, a_kp) = pq_x3dh_rcv(&a_keys, a_kem.as_ref(), &b_params)?;
    let b = Ratchet::init_snd(
        v,
        X448::public_key(&a_keys.key2),
        X448::generate(&mut OsRng),
        b_init,
        b_kp,
    )?;
    let a = Ratchet::init_rcv(v, a_keys.key2.clone(), a_init, a_kp, PqSupport(false));
    Ok((a, b))
}

/// Milliseconds per message of the ping-pong described in the module's documentation.
pub async fn crypto_store_pingpong(
    server: &SmpServer,
    dir: &Path,
    rounds: usize,
) -> Result<f64, BoxError> {
    let (ra, rb) = ratchet_pair()?;
    let mut a = Party::new(server, dir, "crypto-floor-a", ra, rounds).await?;
    let mut b = Party::new(server, dir, "crypto-floor-b", rb, rounds).await?;
    let body = [b'p'; 200];
    // The joining side speaks first, as a ratchet that was never sent to cannot send.
    let a_q = (a.queue.snd_id.clone(), a.queue.snd_key.clone());
    let b_q = (b.queue.snd_id.clone(), b.queue.snd_key.clone());
    let t = Instant::now();
    for _ in 0..rounds {
        b.send(&a_q, &body).await?;
        a.receive().await?;
        a.send(&b_q, &body).await?;
        b.receive().await?;
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / (2 * rounds) as f64;
    a.client.close().await;
    b.client.close().await;
    Ok(ms)
}

/// Messages per second of the burst described in the module's documentation: `n` messages
/// of 200 bytes, the sender at most [`WINDOW`] ahead of the receiver (under the relay's
/// queue quota, as no `A_QCONT` would come). Also returns the CPU used per message from the
/// first message on (the parties' setup, two SQLCipher key derivations among it, left out).
pub async fn crypto_store_burst(
    server: &SmpServer,
    dir: &Path,
    n: usize,
    relay_pid: Option<u32>,
) -> Result<(f64, Cpu), BoxError> {
    let (ra, rb) = ratchet_pair()?;
    // The receiving ratchet takes one step, at the first message.
    let mut a = Party::new(server, dir, "crypto-burst-a", ra, 1).await?;
    let mut b = Party::new(server, dir, "crypto-burst-b", rb, 1).await?;
    let a_q = (a.queue.snd_id.clone(), a.queue.snd_key.clone());
    let window = Arc::new(tokio::sync::Semaphore::new(WINDOW));
    let permits = window.clone();
    let c = Cpu::now(relay_pid);
    let t = Instant::now();
    let sending = tokio::spawn(async move {
        let body = [b'c'; 200];
        for _ in 0..n {
            permits.acquire().await?.forget();
            b.send(&a_q, &body).await?;
        }
        b.client.close().await;
        Ok::<(), BoxError>(())
    });
    for _ in 0..n {
        a.receive().await?;
        window.add_permits(1);
    }
    sending.await??;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let cpu = c.per_msg_since(relay_pid, n);
    a.client.close().await;
    Ok((rate, cpu))
}
