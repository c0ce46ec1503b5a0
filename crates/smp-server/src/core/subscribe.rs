//! Queue subscriptions in the core: making a client a queue's subscriber (the previous one
//! gets `END`), and dropping a disconnected client's subscriptions.

use super::{ClientId, Core, Outgoing, Reply, Sub};
use crate::stats::inc;

impl Core {
    /// The number of queue subscriptions (for tests and stats).
    pub fn subscription_count(&self) -> usize {
        self.subscribers.len()
    }

    /// Drops a disconnected client's subscriptions.
    pub fn client_gone(&mut self, client: ClientId) {
        self.service_client_gone(client);
        if let Some(state) = self.clients.remove(&client) {
            for rid in state.subs.keys() {
                if self.subscribers.get(rid) == Some(&client) {
                    self.subscribers.remove(rid);
                }
            }
            for nid in &state.ntf_subs {
                if self.ntf_subscribers.get(nid) == Some(&client) {
                    self.ntf_subscribers.remove(nid);
                }
            }
        }
    }

    /// True when the client has no subscriptions (inactive clients without any are dropped).
    pub fn has_subscriptions(&self, client: ClientId) -> bool {
        self.clients.get(&client).is_some_and(|c| {
            c.subs.values().any(|s| !s.get)
                || !c.ntf_subs.is_empty()
                || c.ntf_service_subs != 0
                || c.ntf_service_subscribed
        })
    }

    /// An `END` (or `DELD`) pushed to a subscriber.
    pub(super) fn count_end(&self) {
        inc(&self.stats.q_sub_end);
        inc(&self.stats.q_sub_end_b);
    }

    /// Makes this client the queue's subscriber; the previous one gets `END`.
    pub(super) fn subscribe(&mut self, client: ClientId, rid: &[u8], out: &mut Vec<Outgoing>) {
        if let Some(prev) = self.subscribers.insert(rid.to_vec(), client) {
            if prev != client {
                if let Some(c) = self.clients.get_mut(&prev) {
                    c.subs.remove(rid);
                }
                self.count_end();
                out.push(Outgoing {
                    client: prev,
                    corr_id: Vec::new(),
                    entity_id: rid.to_vec(),
                    reply: Reply::End,
                });
            }
        }
        self.clients
            .entry(client)
            .or_default()
            .subs
            .insert(rid.to_vec(), Sub::default());
    }
}
