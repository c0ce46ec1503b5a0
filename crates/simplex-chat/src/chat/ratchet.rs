//! Ratchet re-synchronisation in the chat (the reference's `RSYNC` handling and
//! `/sync NAME`): the agent's state changes are printed as `NAME: <state>` with the hint
//! to run `/sync NAME` when it is allowed or required, and kept as chat items shown by
//! `/tail` — a decryption error as `decryption error, possibly due to the device change
//! (…)`, the other states by their text; `/sync` adds `connection synchronization started`
//! as an item of ours.

use simplex_agent::{AgentCryptoError, AgentError, RatchetSyncState};

use super::{now_ms, Chat, ChatError, Output};
use crate::view;

impl<O: Output> Chat<O> {
    /// `/sync NAME [force=on]`.
    pub(super) async fn sync_ratchet(&mut self, name: &str, force: bool) -> Result<(), ChatError> {
        let Some(c) = self.contact(name)? else {
            return Ok(());
        };
        if c.deleted || !c.ready {
            self.say(view::not_ready(&c.name));
            return Ok(());
        }
        match self.agent.synchronize_ratchet(&c.conn_id, force).await {
            Ok(_) => {
                let text = view::ratchet_sync_text(RatchetSyncState::Started);
                self.store.add_sent_event_item(c.id, text, now_ms())?;
                self.say(text);
                Ok(())
            }
            Err(e @ AgentError::Prohibited(_)) => {
                self.say(view::agent_error(&e));
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `RSYNC`: the state is printed for the contact; a decryption error is kept as an
    /// item, any other change as an item with the state's text.
    pub(super) fn ratchet_sync_event(
        &mut self,
        conn: &[u8],
        state: RatchetSyncState,
        error: Option<AgentCryptoError>,
    ) -> Result<(), ChatError> {
        let Some(c) = self.store.contact_by_conn(conn)? else {
            return Ok(());
        };
        let item_text = match error {
            Some(e) => view::decryption_error_text(e),
            None => view::ratchet_sync_text(state).to_owned(),
        };
        self.store.add_event_item(c.id, &item_text, now_ms())?;
        self.print(view::ratchet_sync(&c.name, state));
        Ok(())
    }
}
