//! The application's acknowledgement of a message this agent reported in this run, without
//! a store round trip before the relay's `ACK`.
//!
//! When a message is reported (`MSG`), the queue it came on and the relay's ID of it are
//! kept in memory until the application acknowledges it (at most one per receive queue: the
//! relay delivers the next only after the `ACK`). `ack_message` then sends the `ACK` while
//! the store marks the message in the same moment (one `UPDATE`; the store reads only
//! when nothing was marked, or the `ACK` failed), instead of reading first and sending
//! after: the relay's next message comes one store hop sooner. The outcome is
//! the one of `ack_message`'s general path (which serves everything else: receipts, a
//! message reported before a restart): the message marked acknowledged (unmarked again if
//! the `ACK` fails), `NoConnection` or `Prohibited` when the store no longer has it. The
//! message itself was stored before it was reported, so nothing about durability changes.

use std::sync::Arc;

use smp_client::ClientError;
use smp_proto::ErrorType;

use super::Inner;
use crate::error::AgentError;
use crate::store::*;

/// A reported message not yet acknowledged by the application.
pub(super) struct Unacked {
    /// The queue it came on, as it was then.
    pub rq: RcvQueueRecord,
    /// The relay's ID of it.
    pub srv_msg_id: Vec<u8>,
    /// Its body, stored back should the `ACK` fail (the mark drops it from the store).
    pub body: Vec<u8>,
}

/// What the store says about the message being acknowledged.
enum Marked {
    /// Marked acknowledged now.
    Now,
    /// Acknowledged already.
    Before,
    NoConnection,
    NoMessage,
}

impl Inner {
    /// Remembers a reported message until the application acknowledges it.
    pub(super) fn keep_unacked(&self, conn_id: &[u8], msg_id: i64, u: Unacked) {
        if let Ok(mut st) = self.state.lock() {
            st.unacked.insert((conn_id.to_vec(), msg_id), u);
        }
    }

    /// Takes what was kept for a message, if it was reported in this run.
    pub(super) fn take_unacked(&self, conn_id: &[u8], msg_id: i64) -> Option<Unacked> {
        let mut st = self.state.lock().ok()?;
        st.unacked.remove(&(conn_id.to_vec(), msg_id))
    }

    /// The `ACK` and the store's mark at once (see the module's documentation).
    pub(super) async fn ack_kept(
        self: &Arc<Self>,
        conn_id: &[u8],
        msg_id: i64,
        u: Unacked,
    ) -> Result<(), AgentError> {
        let id = conn_id.to_vec();
        // The message was stored before it was reported; the mark only says the application
        // took it (lost by a crash, the message stays unmarked: the relay, acknowledged,
        // does not deliver it again). It commits with the next call (module `store_thread`).
        // The common case is one write; the reads only say why nothing was marked.
        let mark = self.db_lazy(move |s| {
            if s.ack_rcv_msg_once(&id, msg_id)? {
                return Ok(Marked::Now);
            }
            if s.conn(&id)?.is_none() || s.all_rcv_queues(&id)?.is_empty() {
                return Ok(Marked::NoConnection);
            }
            Ok(match s.rcv_msg(&id, msg_id)? {
                None => Marked::NoMessage,
                Some(_) => Marked::Before,
            })
        });
        // The `ACK` is written first: the relay's next message is what the caller waits for.
        let (acked, marked) = tokio::join!(self.ack_server(&u.rq, &u.srv_msg_id), mark);
        match marked? {
            Marked::Now => {}
            // As the general path: nothing more to do, or nothing to acknowledge.
            Marked::Before => return Ok(()),
            Marked::NoConnection => return Err(AgentError::NoConnection),
            Marked::NoMessage => return Err(AgentError::Prohibited("no such message")),
        }
        let Err(e) = acked else { return Ok(()) };
        // Whether its queue still exists and is being switched, as it is now (when the
        // store cannot say, as a queue in use: the message is unmarked below).
        let (id, rcv_id) = (conn_id.to_vec(), u.rq.rcv_id.clone());
        let queue = self
            .db(move |s| {
                let rqs = s.all_rcv_queues(&id)?;
                Ok(rqs
                    .iter()
                    .find(|r| r.rcv_id == rcv_id)
                    .map(|r| r.switch_status.is_some()))
            })
            .await
            .unwrap_or(Some(false));
        match (queue, e) {
            // The queue is gone (a switch deleted it): it needed no `ACK`.
            (None, _) => Ok(()),
            // Deleted by the switch meanwhile.
            (
                Some(true),
                AgentError::Smp {
                    error: ClientError::Server(ErrorType::Auth),
                    ..
                },
            ) => Ok(()),
            (_, e) => {
                // Not acknowledged after all: the application may try again.
                let id = conn_id.to_vec();
                let body = u.body;
                let _ = self
                    .db(move |s| s.apply(vec![Write::UnackRcvMsg(id, msg_id, body)]))
                    .await;
                Err(e)
            }
        }
    }
}
