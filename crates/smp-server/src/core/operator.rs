//! What the control port asks of the core (`smp_server::control`): counts of subscriptions
//! and subscribed clients, and deleting a queue by its sender ID as the operator does
//! (the reference's `CPDelete`: the queue, its messages and its notifier go; nobody is told).

use std::collections::BTreeSet;

use super::{ClientId, Core, ErrorKind, Outgoing, Reply};
use crate::stats::{add, inc};
use crate::store::{Party, QueueStatus, StoreError};

/// Subscriptions and the clients holding them, for `server-info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberCounts {
    /// Queue subscriptions (`SUB`).
    pub smp_subs: usize,
    /// The clients holding them.
    pub smp_clients: BTreeSet<ClientId>,
    /// Notifier subscriptions (`NSUB`).
    pub ntf_subs: usize,
    /// The clients holding them.
    pub ntf_clients: BTreeSet<ClientId>,
    /// Clients with at least one queue subscription, counted from the clients' side.
    pub smp_clients_via_clients: BTreeSet<ClientId>,
    /// Queue subscriptions, counted from the clients' side.
    pub smp_subs_via_clients: usize,
    /// Clients with at least one notifier subscription, from the clients' side.
    pub ntf_clients_via_clients: BTreeSet<ClientId>,
    /// Notifier subscriptions, from the clients' side.
    pub ntf_subs_via_clients: usize,
}

impl Core {
    /// A client's queue subscriptions and notifier subscriptions.
    pub fn client_subscriptions(&self, client: ClientId) -> (usize, usize) {
        self.clients
            .get(&client)
            .map_or((0, 0), |c| (c.subs.len(), c.ntf_subs.len()))
    }

    /// Subscriptions and subscribed clients, counted both ways (by queue, by client).
    pub fn subscriber_counts(&self) -> SubscriberCounts {
        let mut c = SubscriberCounts {
            smp_subs: self.subscribers.len(),
            smp_clients: self.subscribers.values().copied().collect(),
            ntf_subs: self.ntf_subscribers.len(),
            ntf_clients: self.ntf_subscribers.values().copied().collect(),
            ..SubscriberCounts::default()
        };
        for (id, state) in &self.clients {
            if !state.subs.is_empty() {
                c.smp_clients_via_clients.insert(*id);
                c.smp_subs_via_clients += state.subs.len();
            }
            if !state.ntf_subs.is_empty() {
                c.ntf_clients_via_clients.insert(*id);
                c.ntf_subs_via_clients += state.ntf_subs.len();
            }
        }
        c
    }

    /// Deletes the queue whose sender ID is `sid`, its messages, its notifier and its kept
    /// notifications (the store log records it); returns how many messages were deleted.
    /// Subscriptions to it are dropped without `END`, as the reference's control port does:
    /// its recipient learns it from `ERR AUTH` at its next command.
    pub fn delete_by_operator(&mut self, sid: &[u8]) -> Result<usize, StoreError> {
        let rid = self
            .queues
            .recipient_id(Party::Sender, sid)
            .ok_or(StoreError::NotFound)?;
        let q = self.queues.delete(&rid)?;
        inc(&self.stats.q_deleted_all);
        inc(if q.sender_key.is_none() {
            &self.stats.q_deleted_new
        } else {
            &self.stats.q_deleted_secured
        });
        add(&self.stats.q_count, -1);
        let gone = self.msgs.delete_queue(&rid);
        self.count_msgs_gone(gone, false);
        if let Some(client) = self.subscribers.remove(&rid) {
            if let Some(state) = self.clients.get_mut(&client) {
                state.subs.remove(&rid);
            }
        }
        if let Some(n) = q.notifier {
            let nid = n.notifier_id;
            let dropped = self.ntfs.delete(&nid);
            add(
                &self.stats.ntf_count,
                -i64::try_from(dropped).unwrap_or(i64::MAX),
            );
            self.ntf_kept.remove(&nid);
            if let Some(client) = self.ntf_subscribers.remove(&nid) {
                if let Some(state) = self.clients.get_mut(&client) {
                    state.ntf_subs.remove(&nid);
                }
            }
        }
        Ok(gone)
    }

    /// Blocks the queue whose sender ID is `sid` with the reference's blocking info text
    /// (the store log records it), unless it is blocked with this info already; returns its
    /// status before, and the `ERR BLOCKED` to push to its subscriber, as the reference's
    /// control port does. Its commands are then refused by the core's status check.
    pub fn block_by_operator(
        &mut self,
        sid: &[u8],
        info: &str,
    ) -> Result<(QueueStatus, Vec<Outgoing>), StoreError> {
        let q = self
            .queues
            .find(Party::Sender, sid)
            .ok_or(StoreError::NotFound)?;
        let rid = q.recipient_id;
        let mut out = Vec::new();
        if !matches!(&q.status, QueueStatus::Blocked(i) if i == info) {
            self.queues.block(&rid, info)?;
            if let Some(&client) = self.subscribers.get(&rid) {
                out.push(Outgoing {
                    client,
                    corr_id: Vec::new(),
                    entity_id: rid,
                    reply: Reply::Err(blocked_error(info)),
                });
            }
        }
        Ok((q.status, out))
    }

    /// Makes the queue whose sender ID is `sid` active again when it is blocked (the store
    /// log records it); returns its status before.
    pub fn unblock_by_operator(&mut self, sid: &[u8]) -> Result<QueueStatus, StoreError> {
        let q = self
            .queues
            .find(Party::Sender, sid)
            .ok_or(StoreError::NotFound)?;
        if matches!(q.status, QueueStatus::Blocked(_)) {
            self.queues.unblock(&q.recipient_id)?;
        }
        Ok(q.status)
    }
}

/// The error a blocked queue's subscriber is told: `ERR BLOCKED <info>` (`ERR AUTH` below
/// v12).
fn blocked_error(info: &str) -> ErrorKind {
    ErrorKind::Blocked(info.to_owned())
}
