//! `/i NAME` (the reference's `viewContactInfo`): the contact's ID, the servers of the
//! queues it receives and sends on, the profile shared, and whether the connection is
//! quantum resistant.
//!
//! The agent has no call that reports a connection's queues and encryption yet (the
//! reference's `getConnectionServers`); they are read from the agent's database through a
//! second, read-only use of it ([`Chat::set_agent_view`]): the agent writes, this only
//! reads, and SQLite's write-ahead log lets both go on at once.

use simplex_agent::Store;

use super::{Chat, ChatError, Output};
use crate::view;

impl<O: Output> Chat<O> {
    /// Gives the chat a reading handle on the agent's database, for `/i`.
    pub fn set_agent_view(&mut self, store: Box<dyn Store>) {
        self.agent_view = Some(store);
    }

    /// `/i NAME`.
    pub(super) fn contact_info(&mut self, name: &str) -> Result<(), ChatError> {
        let Some(c) = self.contact(name)? else {
            return Ok(());
        };
        let mut info = view::ContactInfo {
            contact_id: c.id,
            ..Default::default()
        };
        if let (Some(agent), false) = (&self.agent_view, c.deleted) {
            let read = |e: simplex_agent::StoreError| ChatError::Agent(e.into());
            if let Some(rq) = agent.rcv_queue(&c.conn_id).map_err(read)? {
                info.rcv_servers.push(rq.server);
            }
            if let Some(sq) = agent.snd_queue(&c.conn_id).map_err(read)? {
                info.snd_servers.push(sq.server);
            }
            info.pq = agent
                .conn(&c.conn_id)
                .map_err(read)?
                .is_some_and(|conn| conn.pq_support);
        }
        self.print(view::contact_info(&info));
        Ok(())
    }
}
