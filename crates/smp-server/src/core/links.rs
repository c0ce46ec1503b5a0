//! Short links (v15) and the refusal of service commands (v16) in the core: `LKEY`, `LSET`,
//! the sender-ID rule of client-chosen IDs, and `ERR SERVICE` for a session without a
//! service.

use simplex_crypto::PublicAuthKey;

use super::{Core, ErrorKind, Reply};
use crate::stats::inc;
use crate::store::{Party, QueueLink, QueueRecord, StoreError};

impl Core {
    /// `LKEY`: secures a messaging queue with the sender's key (as `SKEY`) and answers
    /// with its link.
    pub(super) fn secure_by_link(
        &mut self,
        rid: &[u8],
        k: &PublicAuthKey,
    ) -> Result<Reply, ErrorKind> {
        let q = self
            .queues
            .find(Party::Recipient, rid)
            .ok_or(ErrorKind::Auth)?;
        if !q.sender_can_secure() {
            return Err(ErrorKind::Auth);
        }
        match self.queues.secure(rid, k.clone()) {
            Ok(()) => inc(&self.stats.q_secured),
            Err(StoreError::AlreadySecured) => return Err(ErrorKind::Auth),
            Err(_) => return Err(ErrorKind::Internal),
        }
        Ok(link_reply(q))
    }

    /// `LSET`: refused for a secured messaging queue, another link ID or other fixed data.
    pub(super) fn set_link(&mut self, rid: &[u8], link: &QueueLink) -> Result<Reply, ErrorKind> {
        let q = self
            .queues
            .find(Party::Recipient, rid)
            .ok_or(ErrorKind::Auth)?;
        if q.is_secured_messaging() {
            return Err(ErrorKind::Auth);
        }
        match self.queues.set_link(rid, link.clone()) {
            Ok(()) => Ok(Reply::Ok),
            Err(StoreError::LinkChange | StoreError::Duplicate) => Err(ErrorKind::Auth),
            Err(_) => Err(ErrorKind::Internal),
        }
    }
}

/// True when `snd_id` is the first 24 bytes of SHA3-384 of the correlation ID.
pub(super) fn sender_id_matches(corr_id: &[u8], snd_id: &[u8]) -> bool {
    let Ok(corr) = <[u8; 24]>::try_from(corr_id) else {
        return false;
    };
    smp_client::link_sender_id(&corr).is_ok_and(|id| id.as_slice() == snd_id)
}

/// `LNK` with the queue's sender ID and link data (`AUTH` when it has none).
pub(super) fn link_reply(q: QueueRecord) -> Reply {
    match q.link {
        Some(l) => Reply::Lnk {
            snd_id: q.sender_id,
            fixed: l.fixed,
            user: l.user,
        },
        None => Reply::Err(ErrorKind::Auth),
    }
}
