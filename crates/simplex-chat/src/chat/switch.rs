//! Queue rotation in the chat (the reference's `/switch NAME`, `/abort switch NAME` and
//! `SWITCH` handling): this side moving the queue it receives on prints `NAME: you started
//! changing address` … `NAME: you changed address`, the contact's side `NAME started
//! changing address for you` … `NAME changed address for you` (the confirmed and secured
//! steps print nothing, as the reference's `viewContactSwitch`); the start and the end are
//! kept as items (`started changing address...`, `you changed address` ours;
//! `started changing address for you...`, `changed address for you` the contact's).

use simplex_agent::{AgentError, QueueDirection, SwitchPhase};

use super::{now_ms, Chat, ChatError, Output};
use crate::view;

impl<O: Output> Chat<O> {
    /// `/switch NAME` (`abort == false`) or `/abort switch NAME`.
    pub(super) async fn switch(&mut self, name: &str, abort: bool) -> Result<(), ChatError> {
        let Some(c) = self.contact(name)? else {
            return Ok(());
        };
        if c.deleted || !c.ready {
            self.say(view::not_ready(&c.name));
            return Ok(());
        }
        let r = if abort {
            self.agent.abort_switch(&c.conn_id).await
        } else {
            self.agent.switch_connection(&c.conn_id).await
        };
        match r {
            Ok(_) => {
                self.say(if abort {
                    "switch aborted"
                } else {
                    "switch started"
                });
                Ok(())
            }
            Err(e @ AgentError::Prohibited(_)) => {
                self.say(view::agent_error(&e));
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `SWITCH`: a step of a queue switch of either side.
    pub(super) fn switch_event(
        &mut self,
        conn: &[u8],
        direction: QueueDirection,
        phase: SwitchPhase,
    ) -> Result<(), ChatError> {
        let Some(c) = self.store.contact_by_conn(conn)? else {
            return Ok(());
        };
        let Some((line, item)) = view::switch_progress(&c.name, direction, phase) else {
            return Ok(());
        };
        match direction {
            QueueDirection::Rcv => self.store.add_sent_event_item(c.id, item, now_ms())?,
            QueueDirection::Snd => self.store.add_event_item(c.id, item, now_ms())?,
        };
        self.say(line);
        Ok(())
    }
}
