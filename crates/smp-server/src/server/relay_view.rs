//! What the control port ([`crate::control`]) reads from a running relay, and the two things
//! it may ask of it (delete a queue, save the state): a [`RelayView`] over the server's
//! shared state, and the [`Registry`] of connected clients and accepted sockets that the
//! network layer keeps for it. Nothing here is logged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::{entity_counts, lock, now, route_push, Listeners, NetConfig, Shared};
use crate::core::{ClientId, SubscriberCounts};
use crate::stats::{EntityCounts, StatsData};
use crate::store::{Party, QueueRecord, QueueStatus, StoreError};
use crate::store_log;

/// A connected client, as `clients` lists it.
struct ClientEntry {
    session_id: Vec<u8>,
    created_at: i64,
    /// The last time it sent or was sent a block (Unix seconds).
    active: Arc<AtomicI64>,
}

/// Connected clients and per-port socket counts, kept by the network layer.
pub(super) struct Registry {
    clients: Mutex<HashMap<ClientId, ClientEntry>>,
    /// (port, accepted, closed), in the order the ports are served.
    sockets: Mutex<Vec<(u16, u64, u64)>>,
}

impl Registry {
    /// Counting sockets for each listener's port.
    pub(super) fn for_listeners(listeners: &Listeners) -> Registry {
        let sockets = std::iter::once(&listeners.first)
            .chain(&listeners.extra)
            .filter_map(|l| l.local_addr().ok().map(|a| (a.port(), 0, 0)))
            .collect();
        Registry {
            clients: Mutex::new(HashMap::new()),
            sockets: Mutex::new(sockets),
        }
    }

    pub(super) fn client_connected(
        &self,
        client: ClientId,
        session_id: &[u8],
        active: Arc<AtomicI64>,
    ) {
        let entry = ClientEntry {
            session_id: session_id.to_vec(),
            created_at: now(),
            active,
        };
        lock(&self.clients).insert(client, entry);
    }

    pub(super) fn client_gone(&self, client: ClientId) {
        lock(&self.clients).remove(&client);
    }

    fn socket_event(&self, port: u16, closed: bool) {
        let mut sockets = lock(&self.sockets);
        let i = match sockets.iter().position(|s| s.0 == port) {
            Some(i) => i,
            None => {
                sockets.push((port, 0, 0));
                sockets.len() - 1
            }
        };
        if closed {
            sockets[i].2 += 1;
        } else {
            sockets[i].1 += 1;
        }
    }
}

/// An accepted connection, counted as closed when dropped.
pub(super) struct SocketGuard {
    shared: Arc<Shared>,
    port: u16,
}

impl SocketGuard {
    pub(super) fn accepted(shared: &Arc<Shared>, tcp: &tokio::net::TcpStream) -> SocketGuard {
        let port = tcp.local_addr().map_or(0, |a| a.port());
        shared.registry.socket_event(port, false);
        SocketGuard {
            shared: shared.clone(),
            port,
        }
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.shared.registry.socket_event(self.port, true);
    }
}

/// A connected client (`clients`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// The relay's number for it.
    pub id: ClientId,
    /// The TLS session ID.
    pub session_id: Vec<u8>,
    /// When it connected (Unix seconds).
    pub created_at: i64,
    /// When it last sent or was sent a block (Unix seconds).
    pub active_at: i64,
    /// Its queue subscriptions.
    pub subscriptions: usize,
}

/// One port's sockets (`sockets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketRow {
    /// The port.
    pub port: u16,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections closed.
    pub closed: u64,
}

/// The counters and counts `stats` prints.
#[derive(Debug, Clone)]
pub struct StatsView {
    /// The counters.
    pub data: StatsData,
    /// The store's counts.
    pub counts: EntityCounts,
    /// The notifications kept in the store.
    pub ntfs_stored: usize,
}

/// Where `save` writes (the files of a shutdown).
#[derive(Debug, Clone, Default)]
struct SavePaths {
    messages: Option<PathBuf>,
    ntfs: Option<PathBuf>,
    stats_backup: Option<PathBuf>,
}

/// What `save` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Saved {
    /// Messages saved (`None`: messages are not saved to a file in this mode).
    pub messages: Option<usize>,
    /// Notifications saved (`None`: not saved).
    pub ntfs: Option<usize>,
}

/// The control port's handle on a running relay.
#[derive(Clone)]
pub struct RelayView {
    shared: Arc<Shared>,
    save: SavePaths,
}

impl RelayView {
    pub(super) fn new(shared: Arc<Shared>, config: &NetConfig) -> RelayView {
        RelayView {
            shared,
            save: SavePaths {
                messages: config.messages_path.clone(),
                ntfs: config.ntfs_path.clone(),
                stats_backup: config.stats.daily.as_ref().map(|d| d.backup.clone()),
            },
        }
    }

    /// The counters and the store's counts.
    pub fn stats(&self) -> StatsView {
        let core = lock(&self.shared.core);
        StatsView {
            data: core.stats().snapshot(),
            counts: entity_counts(&core),
            ntfs_stored: core.ntfs.total(),
        }
    }

    /// The operators' counters (for counting blocked queues).
    pub fn counters(&self) -> &Arc<crate::stats::Stats> {
        &self.shared.stats
    }

    /// Connected clients, by their number.
    pub fn clients(&self) -> Vec<ClientRow> {
        let entries: Vec<(ClientId, Vec<u8>, i64, i64)> = lock(&self.shared.registry.clients)
            .iter()
            .map(|(id, e)| {
                let active = e.active.load(Ordering::Relaxed);
                (*id, e.session_id.clone(), e.created_at, active)
            })
            .collect();
        let core = lock(&self.shared.core);
        let mut rows: Vec<ClientRow> = entries
            .into_iter()
            .map(|(id, session_id, created_at, active_at)| ClientRow {
                id,
                session_id,
                created_at,
                active_at,
                subscriptions: core.client_subscriptions(id).0,
            })
            .collect();
        rows.sort_by_key(|r| r.id);
        rows
    }

    /// The number of connected clients.
    pub fn client_count(&self) -> usize {
        lock(&self.shared.registry.clients).len()
    }

    /// Accepted and closed connections per served port.
    pub fn sockets(&self) -> Vec<SocketRow> {
        lock(&self.shared.registry.sockets)
            .iter()
            .map(|&(port, accepted, closed)| SocketRow {
                port,
                accepted,
                closed,
            })
            .collect()
    }

    /// Subscriptions and subscribed clients.
    pub fn subscribers(&self) -> SubscriberCounts {
        lock(&self.shared.core).subscriber_counts()
    }

    /// The queue whose sender ID is `sid`.
    pub fn queue_by_sender(&self, sid: &[u8]) -> Option<QueueRecord> {
        lock(&self.shared.core).queues.find(Party::Sender, sid)
    }

    /// Deletes the queue whose sender ID is `sid`; returns how many messages it had.
    pub fn delete_queue(&self, sid: &[u8]) -> Result<usize, StoreError> {
        lock(&self.shared.core).delete_by_operator(sid)
    }

    /// Blocks the queue whose sender ID is `sid` (see [`crate::core::Core::block_by_operator`])
    /// and tells its subscriber; returns its status before.
    pub fn block_queue(&self, sid: &[u8], info: &str) -> Result<QueueStatus, StoreError> {
        let mut core = lock(&self.shared.core);
        let (before, out) = core.block_by_operator(sid, info)?;
        if !out.is_empty() {
            let pushes = lock(&self.shared.pushes);
            for o in out {
                route_push(&pushes, &mut core, o);
            }
        }
        Ok(before)
    }

    /// Unblocks the queue whose sender ID is `sid`; returns its status before.
    pub fn unblock_queue(&self, sid: &[u8]) -> Result<QueueStatus, StoreError> {
        lock(&self.shared.core).unblock_by_operator(sid)
    }

    /// Saves what a shutdown saves, while serving: the messages (in memory mode, with
    /// `restore_messages`), the kept notifications and the statistics backup (with
    /// `log_stats`). The store log is written through on every change already. The files are
    /// written under the core lock, as at shutdown: the relay waits while they are written.
    pub fn save(&self) -> std::io::Result<Saved> {
        let core = lock(&self.shared.core);
        let mut saved = Saved::default();
        if let Some(path) = &self.save.messages {
            saved.messages = Some(store_log::save_messages(path, &core.msgs)?);
        }
        if let Some(path) = &self.save.ntfs {
            saved.ntfs = Some(store_log::save_ntfs(path, &core.ntfs)?);
        }
        if let Some(path) = &self.save.stats_backup {
            std::fs::write(path, core.stats().snapshot().encode_backup())?;
        }
        Ok(saved)
    }
}
