//! Noise traffic (not in the reference): cover messages between contacts, against traffic
//! correlation by a relay or a network observer.
//!
//! A cover message is an agent message like any other: the next message of the
//! connection's double ratchet, padded to the same fixed size, sealed in the per-queue box
//! and sent with `SEND`, so neither the relays nor the network can tell it from a real one.
//! Its content is `QTEST` naming the connection's current send queue: the message a queue
//! switch ends with, which every receiving agent — the reference's too — acknowledges and
//! drops without telling its application (`QTEST _ -> ackDel` in the reference's
//! `Agent.hs`), so a contact on any client is safe to send it to.
//!
//! With [`AgentConfig::noise_interval`](crate::AgentConfig::noise_interval) set, one task
//! sends a cover message to a contact chosen at random among the connected ones, at random
//! times with exponentially distributed gaps of that mean (a Poisson process: the gaps carry
//! no pattern). [`AgentConfig::send_delay_max`](crate::AgentConfig::send_delay_max) adds a
//! uniformly random wait before each real message is sent, so a message's arrival at the
//! relay is not tied to the moment the user sent it.

use std::sync::Weak;
use std::time::Duration;

use agent_proto::{AMessage, SndQAddr};
use rand::rngs::OsRng;
use rand::RngCore;

use super::Inner;
use crate::store::*;

/// A random gap of mean `mean`, exponentially distributed (capped at 20 means).
pub(super) fn exponential(mean: Duration) -> Duration {
    // Uniform in (0, 1]: 53 random bits, never 0.
    let u = ((OsRng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    mean.mul_f64((-u.ln()).min(20.0))
}

/// A uniformly random wait of at most `max`.
pub(super) fn uniform(max: Duration) -> Duration {
    let u = (OsRng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(u)
}

/// Sends cover messages as long as the agent runs.
pub(super) async fn noise_loop(inner: Weak<Inner>, mean: Duration) {
    loop {
        tokio::time::sleep(exponential(mean)).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopped() {
            return;
        }
        let Ok(candidates) = inner.db(connected).await else {
            continue;
        };
        if candidates.is_empty() {
            continue;
        }
        let i = usize::try_from(OsRng.next_u64() % candidates.len() as u64).unwrap_or(0);
        let Some((conn_id, addr)) = candidates.into_iter().nth(i) else {
            continue;
        };
        let _g = inner.lock.lock().await;
        // A connection deleted or gone out of step meanwhile refuses it: nothing to do.
        let _ = inner
            .enqueue(&conn_id, AMessage::QTest(vec![addr]), SndMsgKind::Noise)
            .await;
    }
}

/// The connections a cover message may go to, with their current send queue's address:
/// duplex, connected, the ratchet in step, no queue switch running.
fn connected(s: &mut dyn Store) -> Result<Vec<(ConnId, SndQAddr)>, crate::error::StoreError> {
    let mut out = Vec::new();
    for c in s.conns()? {
        if c.kind != ConnKind::Duplex
            || c.status != ConnStatus::Active
            || c.ratchet_sync != crate::types::RatchetSyncState::Ok
        {
            continue;
        }
        let sqs = s.snd_queues(&c.conn_id)?;
        let [sq] = sqs.as_slice() else { continue };
        if sq.switch_status.is_some() || sq.status != QueueStatus::Active {
            continue;
        }
        let addr = SndQAddr {
            server: sq.server.clone(),
            sender_id: sq.snd_id.clone(),
        };
        out.push((c.conn_id, addr));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_have_the_mean_asked_for() {
        let mean = Duration::from_millis(100);
        let n = 20_000;
        let total: Duration = (0..n).map(|_| exponential(mean)).sum();
        let avg = total / n;
        // The mean of 20,000 exponential samples is within 5% of the true mean with
        // overwhelming probability (standard error 0.7%).
        assert!(
            avg > mean.mul_f64(0.95) && avg < mean.mul_f64(1.05),
            "{avg:?}"
        );
        let max = Duration::from_millis(10);
        assert!((0..1000).all(|_| uniform(max) <= max));
    }
}
