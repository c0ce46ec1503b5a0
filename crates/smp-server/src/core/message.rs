//! Messages in the core: `SEND` (storing a message, pushing it to the subscriber and the
//! notifier), `MSG` encryption of a stored message, and message expiry.

use rand_core::{CryptoRng, RngCore};
use simplex_crypto::nacl::{cb_encrypt, CbKey, CbNonce, TAG_LEN};
use simplex_crypto::DhSecretX25519;
use simplex_encoding::{Encode, ShortBytes, UnixTime};
use smp_proto::command::MsgFlags;
use smp_proto::message::{Message as DeliveredMessage, MAX_MESSAGE_LEN};

use crate::msg_store::{Message, MessageKind, MsgNtf, WriteOutcome};
use crate::stats::{add, inc};
use crate::store::{EntityId, Party, QueueStatus};

use super::{
    ClientId, Core, ErrorKind, Outgoing, Reply, Session, NTF_META_PADDED_LEN, RCV_MSG_PADDED_LEN,
};

/// A stored message as `MSG`: the received-message body (`ts`, flags, body), padded, boxed
/// with the queue's DH secret under the message ID. The body is copied once, into the box
/// buffer, and encrypted there in place.
fn encrypt_msg(secret: &DhSecretX25519, msg: &Message) -> Result<Reply, ErrorKind> {
    let nonce = CbNonce::from_slice(&msg.id).map_err(|_| ErrorKind::Internal)?;
    let ts = UnixTime(msg.ts);
    let mut out = Vec::with_capacity(TAG_LEN + RCV_MSG_PADDED_LEN);
    out.extend_from_slice(&[0u8; TAG_LEN]);
    match &msg.kind {
        MessageKind::Message { notification, body } => {
            if body.len() > MAX_MESSAGE_LEN {
                return Err(ErrorKind::LargeMsg);
            }
            // The padding's 2-byte length first, filled in once the content is written.
            out.extend_from_slice(&[0u8; 2]);
            ts.encode(&mut out);
            MsgFlags {
                notification: *notification,
            }
            .encode(&mut out);
            out.push(b' ');
            out.extend_from_slice(body);
            let len = out.len() - TAG_LEN - 2;
            let len16 = u16::try_from(len).map_err(|_| ErrorKind::LargeMsg)?;
            if len + 2 > RCV_MSG_PADDED_LEN {
                return Err(ErrorKind::LargeMsg);
            }
            if let Some(l) = out.get_mut(TAG_LEN..TAG_LEN + 2) {
                l.copy_from_slice(&len16.to_be_bytes());
            }
            out.resize(TAG_LEN + RCV_MSG_PADDED_LEN, b'#');
        }
        MessageKind::Quota => {
            let msg_id = ShortBytes::from_slice(&msg.id).map_err(|_| ErrorKind::Internal)?;
            DeliveredMessage::Quota { msg_id, ts }
                .encode_rcv_body_padded(&mut out)
                .map_err(|_| ErrorKind::LargeMsg)?;
        }
    }
    let (tag, body) = out.split_at_mut(TAG_LEN);
    tag.copy_from_slice(&CbKey::from_dh(secret).seal_in_place(&nonce, body));
    Ok(Reply::Msg {
        msg_id: msg.id.clone(),
        enc_body: out,
    })
}

impl Core {
    /// Messages expired or deleted from the store.
    pub(super) fn count_msgs_gone(&self, n: usize, expired: bool) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if expired {
            add(&self.stats.msg_expired, n);
        }
        add(&self.stats.msg_count, -n);
    }

    /// Expires old messages in every queue.
    pub fn expire_messages(&mut self, now: i64) -> usize {
        let n = match self.config.message_ttl {
            Some(ttl) => self.msgs.expire_all(now - ttl),
            None => 0,
        };
        self.count_msgs_gone(n, true);
        n
    }

    /// The first message as `MSG` (and marks it delivered on `client`'s subscription).
    pub(super) fn deliver_first(
        &mut self,
        client: ClientId,
        rid: &[u8],
    ) -> Result<Option<Reply>, ErrorKind> {
        let Some(msg) = self.msgs.peek(rid) else {
            return Ok(None);
        };
        let secret = self.queues.rcv_dh_secret(rid).ok_or(ErrorKind::Auth)?;
        let reply = encrypt_msg(secret, msg)?;
        let id = msg.id.clone();
        if let Some(sub) = self
            .clients
            .get_mut(&client)
            .and_then(|c| c.subs.get_mut(rid))
        {
            sub.delivered = Some(id);
        }
        Ok(Some(reply))
    }

    // Over ~100 lines: `SEND` in order (checks, store, push to the subscriber, notification),
    // each step short and sharing the queue's state.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        now: i64,
        session: &Session,
        rid: &EntityId,
        notification: bool,
        body: Vec<u8>,
        out: &mut Vec<Outgoing>,
    ) -> Result<Reply, ErrorKind> {
        if body.len() > smp_proto::max_message_length(smp_proto::Version(session.version)) {
            inc(&self.stats.msg_sent_large);
            return Err(ErrorKind::LargeMsg);
        }
        let (q, has_link) = self
            .queues
            .find_meta(Party::Recipient, rid)
            .ok_or(ErrorKind::Auth)?;
        match q.status {
            QueueStatus::Active => {}
            QueueStatus::Blocked(info) => {
                inc(&self.stats.msg_sent_block);
                return Err(ErrorKind::Blocked(info.clone()));
            }
            _ => {
                inc(&self.stats.msg_sent_auth);
                return Err(ErrorKind::Auth);
            }
        }
        // The first message to a secured messaging queue ends its link: the invitation
        // has been accepted.
        if has_link && q.is_secured_messaging() {
            self.queues
                .delete_link(rid)
                .map_err(|_| ErrorKind::Internal)?;
        }
        let notifier = q.notifier.as_ref().map(|n| {
            (
                n.notifier_id.clone(),
                n.rcv_ntf_dh_secret.clone(),
                n.ntf_service.clone(),
            )
        });
        if let (Some(ttl), true) = (self.config.message_ttl, self.config.expire_on_send) {
            let n = self.msgs.expire(rid, now - ttl);
            self.count_msgs_gone(n, true);
        }
        let msg_id = self.random_id(rng);
        let msg = Message {
            id: msg_id.clone(),
            ts: now,
            kind: MessageKind::Message { notification, body },
        };
        match self.msgs.write(rid, msg) {
            WriteOutcome::Quota => {
                inc(&self.stats.msg_sent_quota);
                Err(ErrorKind::Quota)
            }
            WriteOutcome::Failed => Err(ErrorKind::Internal),
            WriteOutcome::Stored { was_empty } => {
                inc(&self.stats.msg_sent);
                inc(&self.stats.msg_count);
                if notification {
                    inc(&self.stats.msg_sent_ntf);
                }
                if was_empty {
                    if let Some(&sub) = self.subscribers.get(rid) {
                        let idle = self
                            .clients
                            .get(&sub)
                            .and_then(|c| c.subs.get(rid))
                            .is_some_and(|s| !s.get && s.delivered.is_none());
                        if idle {
                            if let Some(reply) = self.deliver_first(sub, rid)? {
                                out.push(Outgoing {
                                    client: sub,
                                    corr_id: Vec::new(),
                                    entity_id: rid.clone(),
                                    reply,
                                });
                            }
                        }
                    }
                }
                if notification {
                    if let Some((nid, secret, service)) = notifier {
                        if let Ok(short_id) = ShortBytes::from_slice(&msg_id) {
                            let mut nonce = [0u8; 24];
                            rng.fill_bytes(&mut nonce);
                            // `NMsgMeta`: the message ID and its time.
                            let meta = (short_id, UnixTime(now)).to_bytes();
                            if let Ok(enc_meta) =
                                cb_encrypt(&secret, &CbNonce(nonce), &meta, NTF_META_PADDED_LEN)
                            {
                                let ntf = MsgNtf {
                                    msg_id,
                                    ts: now,
                                    nonce,
                                    enc_meta,
                                };
                                // A subscribed notifier gets it now, unless earlier ones
                                // are kept for it; otherwise it waits for `NSUB` (the
                                // reference keeps every one and flushes them to subscribed
                                // notifiers every 1.5 seconds).
                                match self.ntf_target(&nid, service.as_deref()) {
                                    Some(ntf_client) if !self.ntf_kept.contains(&nid) => {
                                        inc(&self.stats.msg_ntfs);
                                        inc(&self.stats.msg_ntfs_b);
                                        out.push(Outgoing {
                                            client: ntf_client,
                                            corr_id: Vec::new(),
                                            entity_id: nid,
                                            reply: Reply::from(ntf),
                                        })
                                    }
                                    _ => {
                                        inc(&self.stats.ntf_count);
                                        self.ntfs.store(&nid, ntf);
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(Reply::Ok)
            }
        }
    }
}
