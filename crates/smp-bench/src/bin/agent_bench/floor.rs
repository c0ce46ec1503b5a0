//! The burst's floors: the same one-connection burst from a real agent, received by a bare
//! `smp-client` instead of an agent, to show what the chain costs without the receiving
//! agent (and, with `store`, with only a durable insert in its place); and the sender alone.
//!
//! The receive queue is a real agent's: a fresh pair of agents connects, the receiving one
//! stops (its subscription ends with its connection to the relay), and the bare client
//! takes the queue's ID and key from its database. The sending agent does all its usual
//! work (ratchet, per-queue encryption, storing, `SEND`, marking each message sent).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::RngCore;
use simplex_agent::sqlite::{open_database, Locking};
use simplex_agent::store::{ConnId, RcvQueueRecord};
use simplex_agent::{Event, SqliteStore, Store};
use simplex_crypto::{dh_x25519, DhSecretX25519, PrivateAuthKey, PrivateKeyEd25519};
use smp_bench::queue::secured_queue;
use smp_bench::server::cpu_seconds;
use smp_client::{ClientConfig, ServerEvent, SmpClient};
use smp_proto::{MsgFlags, RcvMessage, Response, SmpServer};
use tokio::sync::{mpsc, Semaphore};

use crate::scenarios::{config, connect, next, start, Side, STALL};
use crate::BoxError;

/// Messages the floors' sender may have sent ahead of the bare receiver: under the relay's
/// queue quota (128), so that the sender never waits for an `A_QCONT` no bare receiver sends.
pub(crate) const WINDOW: usize = 100;

/// CPU time (user + system) so far of this process (both agents, the bare receiver, the
/// bench) and of the relay.
#[derive(Clone, Copy, Default)]
pub struct Cpu {
    /// This process, seconds.
    pub bench: f64,
    /// The relay's process, seconds.
    pub relay: f64,
}

impl Cpu {
    /// Now, for this process and the relay `relay_pid`.
    pub fn now(relay_pid: Option<u32>) -> Cpu {
        Cpu {
            bench: cpu_seconds(std::process::id()).unwrap_or(0.0),
            relay: relay_pid.and_then(cpu_seconds).unwrap_or(0.0),
        }
    }

    /// What was used between `self` and `later`, added to `total`.
    fn add_since(self, later: Cpu, total: &mut Cpu) {
        total.bench += later.bench - self.bench;
        total.relay += later.relay - self.relay;
    }

    /// Microseconds per message of what was used since `self`: (this process, the relay).
    pub fn per_msg_since(self, relay_pid: Option<u32>, n: usize) -> Cpu {
        let mut used = Cpu::default();
        self.add_since(Cpu::now(relay_pid), &mut used);
        used.per_msg(n)
    }

    /// Microseconds per message of `n` messages.
    pub fn per_msg(self, n: usize) -> Cpu {
        let n = n.max(1) as f64;
        Cpu {
            bench: self.bench * 1e6 / n,
            relay: self.relay * 1e6 / n,
        }
    }
}

/// A sending agent with one connection whose receive queue the bench now holds.
pub struct FloorPair {
    sender: Side,
    conn: ConnId,
    queue: RcvQueueRecord,
}

impl FloorPair {
    /// Two fresh agents named after `tag`, connected; the receiving one stopped and its
    /// queue read from its database.
    pub async fn make(dir: &Path, server: &SmpServer, tag: &str) -> Result<FloorPair, BoxError> {
        let mut a = start(dir, &format!("{tag}-a"), config(server, false)).await?;
        let b_name = format!("{tag}-b");
        let mut b = start(dir, &b_name, config(server, false)).await?;
        let (ab, ba) = connect(&mut a, &mut b, 1).await?.remove(0);
        b.agent.stop().await;
        // Dropping the agent waits for its store thread to close the database.
        drop(b);
        let store = SqliteStore::open(&dir.join(format!("{b_name}.db")), &b_name)?;
        let queue = store
            .rcv_queue(&ba)?
            .ok_or("the stopped agent has no receive queue")?;
        drop(store);
        Ok(FloorPair {
            sender: a,
            conn: ab,
            queue,
        })
    }

    /// Stops the sending agent.
    pub async fn stop(self) {
        self.sender.agent.stop().await;
    }
}

/// One SQLCipher database with the agent store's settings (`SqliteStore::open`: the key,
/// WAL, `synchronous = NORMAL`, a 16 MiB page cache) and one table of received messages.
pub struct BareStore {
    /// Behind a lock only so that the measuring task may hold it across an `await` on a
    /// worker thread; it is never contended.
    db: std::sync::Mutex<rusqlite::Connection>,
}

impl BareStore {
    /// Creates the file `name`.db in `dir`, encrypted with `name` as the agents' are.
    pub fn create(dir: &Path, name: &str) -> Result<BareStore, BoxError> {
        let db = open_database(&dir.join(format!("{name}.db")), name, Locking::Exclusive)?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.pragma_update(None, "cache_size", -16384)?;
        db.execute_batch(
            "CREATE TABLE rcv_msgs (id INTEGER PRIMARY KEY, srv_msg_id BLOB NOT NULL, \
             ts INTEGER NOT NULL, body BLOB NOT NULL); \
             CREATE UNIQUE INDEX idx_rcv_msgs_srv ON rcv_msgs (srv_msg_id);",
        )?;
        Ok(BareStore {
            db: std::sync::Mutex::new(db),
        })
    }

    /// One insert committed on its own (autocommit): the relay's message ID, a time and 200
    /// bytes of the message (the size of the burst's bodies; ciphertext, as nothing is
    /// decrypted here).
    fn insert(&self, m: &RcvMessage, ts: i64) -> Result<(), BoxError> {
        let body = &m.enc_body[..m.enc_body.len().min(200)];
        let db = self.db.lock().map_err(|_| "bare store lock poisoned")?;
        db.prepare_cached("INSERT INTO rcv_msgs (srv_msg_id, ts, body) VALUES (?1, ?2, ?3)")?
            .execute((m.msg_id.as_slice(), ts, body))?;
        Ok(())
    }
}

/// The next `MSG` of queue `rcv_id` among the relay's pushed events.
pub(crate) async fn next_msg(
    events: &mut mpsc::Receiver<ServerEvent>,
    rcv_id: &[u8],
) -> Result<RcvMessage, BoxError> {
    loop {
        let e = tokio::time::timeout(STALL, events.recv())
            .await
            .map_err(|_| "no message for 60 s")?
            .ok_or("the relay closed the bare receiver's connection")?;
        if let Response::Msg(m) = e.response {
            if e.entity_id == rcv_id {
                return Ok(m);
            }
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Messages per second, `n` of 200 bytes from the pair's agent to the bare receiver, which
/// acknowledges each `MSG` as soon as it arrived (after inserting it into `store`, when
/// given). The sender stays at most [`WINDOW`] messages ahead.
pub async fn burst(
    pair: &mut FloorPair,
    server: &SmpServer,
    n: usize,
    store: Option<&BareStore>,
) -> Result<f64, BoxError> {
    let (client, mut events) = SmpClient::connect(server, ClientConfig::default()).await?;
    let q = &pair.queue;
    client.subscribe(&q.rcv_key, &q.rcv_id).await?;
    let window = Arc::new(Semaphore::new(WINDOW));
    let permits = window.clone();
    let sender = pair.sender.agent.clone();
    let conn = pair.conn.clone();
    let body = [b'x'; 200];
    let t = Instant::now();
    let sending = tokio::spawn(async move {
        for _ in 0..n {
            permits.acquire().await?.forget();
            sender.send_message(&conn, &body).await?;
        }
        Ok::<(), BoxError>(())
    });
    for _ in 0..n {
        let m = next_msg(&mut events, &q.rcv_id).await?;
        if let Some(s) = store {
            s.insert(&m, now_secs())?;
        }
        client
            .ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
            .await?;
        window.add_permits(1);
    }
    sending.await??;
    let secs = t.elapsed().as_secs_f64();
    client.close().await;
    while pair.sender.rx.try_recv().is_ok() {}
    Ok(n as f64 / secs)
}

/// Messages per second the pair's agent stores and delivers (until each `SENT`) while
/// nobody is subscribed to the queue: `n` messages in rounds of [`WINDOW`] (the relay keeps
/// at most 128 per queue), each round taken off the queue afterwards by `GET` and `ACK`,
/// untimed.
/// Also returns the CPU used per message in the timed rounds (µs).
pub async fn sender_alone(
    pair: &mut FloorPair,
    server: &SmpServer,
    n: usize,
    relay_pid: Option<u32>,
) -> Result<(f64, Cpu), BoxError> {
    let (drain, _events) = SmpClient::connect(server, ClientConfig::default()).await?;
    let q = pair.queue.clone();
    let body = [b's'; 200];
    let mut busy = Duration::ZERO;
    let mut cpu = Cpu::default();
    let mut done = 0;
    while done < n {
        let k = WINDOW.min(n - done);
        let c = Cpu::now(relay_pid);
        let t = Instant::now();
        for _ in 0..k {
            pair.sender.agent.send_message(&pair.conn, &body).await?;
        }
        let mut sent = 0;
        while sent < k {
            if let Event::Sent(_) = next(&mut pair.sender).await?.event {
                sent += 1;
            }
        }
        busy += t.elapsed();
        c.add_since(Cpu::now(relay_pid), &mut cpu);
        for _ in 0..k {
            let m = drain
                .get_message(&q.rcv_key, &q.rcv_id)
                .await?
                .ok_or("a message sent is not in the queue")?;
            drain
                .ack(&q.rcv_key, &q.rcv_id, m.msg_id.as_slice())
                .await?;
        }
        done += k;
    }
    drain.close().await;
    Ok((n as f64 / busy.as_secs_f64().max(1e-9), cpu.per_msg(n)))
}

/// Messages per second between two bare clients, no agent at all: a queue made by `NEW`
/// (subscribed), secured with a sender key (`KEY`) as an agent's is, then `n` signed `SEND`s
/// of a 16,000-byte body (an agent's message block is that size) from another connection,
/// each `MSG` acknowledged at once; the sender at most [`WINDOW`] ahead. The chain's floor
/// of the relay and the transport alone.
pub async fn bare_chain(server: &SmpServer, n: usize) -> Result<f64, BoxError> {
    let (rcv, mut events) = SmpClient::connect(server, ClientConfig::default()).await?;
    let (snd, _snd_events) = SmpClient::connect(server, ClientConfig::default()).await?;
    let BareQueue {
        rcv_key,
        rcv_id,
        snd_key,
        snd_id,
        ..
    } = BareQueue::new(&rcv).await?;
    let window = Arc::new(Semaphore::new(WINDOW));
    let permits = window.clone();
    let mut body = vec![0u8; 16_000];
    OsRng.fill_bytes(&mut body);
    let t = Instant::now();
    let sending = tokio::spawn(async move {
        let flags = MsgFlags {
            notification: false,
        };
        for _ in 0..n {
            permits.acquire().await?.forget();
            snd.send_message(Some(&snd_key), &snd_id, flags, &body)
                .await?;
        }
        snd.close().await;
        Ok::<(), BoxError>(())
    });
    for _ in 0..n {
        let m = next_msg(&mut events, &rcv_id).await?;
        rcv.ack(&rcv_key, &rcv_id, m.msg_id.as_slice()).await?;
        window.add_permits(1);
    }
    sending.await??;
    let secs = t.elapsed().as_secs_f64();
    rcv.close().await;
    Ok(n as f64 / secs)
}

/// A queue made by `NEW` on a bare client (subscribed) and secured with a sender key
/// (`KEY`), as an agent's receive queue is.
pub(crate) struct BareQueue {
    pub(crate) rcv_key: PrivateAuthKey,
    pub(crate) rcv_id: Vec<u8>,
    pub(crate) snd_key: PrivateAuthKey,
    pub(crate) snd_id: Vec<u8>,
    /// The server-to-recipient box's secret.
    pub(crate) dh: DhSecretX25519,
}

impl BareQueue {
    pub(crate) async fn new(rcv: &SmpClient) -> Result<BareQueue, BoxError> {
        let rcv_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
        let snd_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
        let (ids, dh) = secured_queue(rcv, &rcv_key, &snd_key).await?;
        Ok(BareQueue {
            rcv_key,
            rcv_id: ids.rcv_id.as_slice().to_vec(),
            snd_key,
            snd_id: ids.snd_id.as_slice().to_vec(),
            dh: dh_x25519(&ids.rcv_public_dh_key, &dh),
        })
    }
}

/// Milliseconds per message of a ping-pong between two bare clients, no agent at all: each
/// has a queue of its own (as `bare_chain`'s) and sends to the other's; per message a signed
/// `SEND` of a 16,000-byte body and its `OK`, the `MSG`, its `ACK` and `OK`, then the reply
/// the other way. The relay's and the transport's share of an agent's `pingpong_ms`: the
/// ping-pong's floor on this machine.
pub async fn bare_pingpong(server: &SmpServer, rounds: usize) -> Result<f64, BoxError> {
    let (a, mut a_events) = SmpClient::connect(server, ClientConfig::default()).await?;
    let (b, mut b_events) = SmpClient::connect(server, ClientConfig::default()).await?;
    let (qa, qb) = (BareQueue::new(&a).await?, BareQueue::new(&b).await?);
    let mut body = vec![0u8; 16_000];
    OsRng.fill_bytes(&mut body);
    let flags = MsgFlags {
        notification: false,
    };
    let t = Instant::now();
    for _ in 0..rounds {
        a.send_message(Some(&qb.snd_key), &qb.snd_id, flags, &body)
            .await?;
        let m = next_msg(&mut b_events, &qb.rcv_id).await?;
        b.ack(&qb.rcv_key, &qb.rcv_id, m.msg_id.as_slice()).await?;
        b.send_message(Some(&qa.snd_key), &qa.snd_id, flags, &body)
            .await?;
        let m = next_msg(&mut a_events, &qa.rcv_id).await?;
        a.ack(&qa.rcv_key, &qa.rcv_id, m.msg_id.as_slice()).await?;
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / (2 * rounds) as f64;
    a.close().await;
    b.close().await;
    Ok(ms)
}
