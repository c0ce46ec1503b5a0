//! Notifications in the core: `NMSG` of a stored notification, notifications kept while
//! their notifier's connection is backed up, their expiry, and removing a notifier.

use super::{ClientId, Core, Outgoing, Reply};
use crate::msg_store::MsgNtf;
use crate::stats::{add, inc};
use crate::store::{EntityId, Party};

impl From<MsgNtf> for Reply {
    /// The `NMSG` of a notification.
    fn from(ntf: MsgNtf) -> Reply {
        Reply::NMsg {
            nonce: ntf.nonce,
            enc_meta: ntf.enc_meta,
            msg_id: ntf.msg_id,
            ts: ntf.ts,
        }
    }
}

impl Core {
    /// Keeps a notification that its notifier's connection could not take (too many
    /// waiting to be written): it goes out with [`Core::take_kept_ntfs`], or at the next
    /// `NSUB`, and later notifications of that notifier queue up behind it. The reference
    /// likewise keeps notifications in its store while a notifier's send queue is full.
    /// Dropped if the notifier is gone.
    pub fn keep_ntf(&mut self, nid: &[u8], ntf: MsgNtf) {
        if self.queues.recipient_id(Party::Notifier, nid).is_none() {
            return;
        }
        self.ntfs.store(nid, ntf);
        inc(&self.stats.ntf_count);
        // It was counted as delivered when it was handed on (pushed at `SEND`, or taken by
        // `take_kept_ntfs`); it will be again when it goes out.
        add(&self.stats.msg_ntfs, -1);
        if self.ntf_target_of(nid).is_some() {
            self.ntf_kept.insert(nid.to_vec());
        }
    }

    /// True while notifications are kept for this subscribed notifier (new ones must queue
    /// behind them).
    pub fn ntf_is_kept(&self, nid: &[u8]) -> bool {
        self.ntf_kept.contains(nid)
    }

    /// The kept notifications of subscribed notifiers (see [`Core::keep_ntf`]), oldest first,
    /// with the client to push them to; they are no longer kept. Run periodically.
    pub fn take_kept_ntfs(&mut self) -> Vec<(ClientId, EntityId, Vec<MsgNtf>)> {
        let mut out = Vec::new();
        for nid in std::mem::take(&mut self.ntf_kept) {
            if let Some(client) = self.ntf_target_of(&nid) {
                let ntfs = self.ntfs.take(&nid);
                if !ntfs.is_empty() {
                    self.count_ntfs_delivered(ntfs.len());
                    out.push((client, nid, ntfs));
                }
            }
        }
        out
    }

    /// Expires notifications kept longer than the notification TTL.
    pub fn expire_ntfs(&mut self, now: i64) -> usize {
        let n = self.ntfs.expire(now - self.config.ntf_ttl);
        let n64 = i64::try_from(n).unwrap_or(i64::MAX);
        add(&self.stats.msg_ntf_expired, n64);
        add(&self.stats.ntf_count, -n64);
        n
    }

    /// Kept notifications handed to their notifier's connection.
    pub(super) fn count_ntfs_delivered(&self, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        add(&self.stats.msg_ntfs, n);
        inc(&self.stats.msg_ntfs_b);
        add(&self.stats.ntf_count, -n);
    }

    /// The notifier is removed (by `by`): its subscription and kept notifications go, and a
    /// notifier subscribed on another connection, or its service's session, gets `DELD`
    /// (sent as `END` before v10).
    pub(super) fn drop_notifier(
        &mut self,
        nid: &[u8],
        service: Option<&[u8]>,
        by: ClientId,
        out: &mut Vec<Outgoing>,
    ) {
        if let Some(sid) = service {
            self.end_service_queue(sid, nid, by, Reply::Deld, out);
        }
        let dropped = self.ntfs.delete(nid);
        add(
            &self.stats.ntf_count,
            -i64::try_from(dropped).unwrap_or(i64::MAX),
        );
        self.ntf_kept.remove(nid);
        if let Some(c) = self.ntf_subscribers.remove(nid) {
            if let Some(state) = self.clients.get_mut(&c) {
                state.ntf_subs.remove(nid);
            }
            if c != by {
                self.count_end();
                out.push(Outgoing {
                    client: c,
                    corr_id: Vec::new(),
                    entity_id: nid.to_vec(),
                    reply: Reply::Deld,
                });
            }
        }
    }
}
