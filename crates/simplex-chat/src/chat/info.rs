//! `/i NAME` (the reference's `viewContactInfo`): the contact's ID, the servers of the
//! queues it receives and sends on (two during a switch, with its progress), the profile
//! shared, and whether the connection is quantum resistant.
//!
//! The queues come from the agent (`connection_stats`). Whether the connection is post-
//! quantum is not in those yet: it is read from the agent's database through a second,
//! read-only use of it ([`Chat::set_agent_view`]): the agent writes, this only reads, and
//! SQLite's write-ahead log lets both go on at once.

use simplex_agent::{AgentError, Store};

use super::{Chat, ChatError, Output};
use crate::view;

impl<O: Output> Chat<O> {
    /// Gives the chat a reading handle on the agent's database, for `/i`.
    pub fn set_agent_view(&mut self, store: Box<dyn Store>) {
        self.agent_view = Some(store);
    }

    /// `/i NAME`.
    pub(super) async fn contact_info(&mut self, name: &str) -> Result<(), ChatError> {
        let Some(c) = self.contact(name)? else {
            return Ok(());
        };
        let mut info = view::ContactInfo {
            contact_id: c.id,
            ..Default::default()
        };
        if !c.deleted {
            match self.agent.connection_stats(&c.conn_id).await {
                Ok(stats) => {
                    info.rcv_queues = stats.rcv_queues.iter().map(view::rcv_queue_info).collect();
                    info.snd_queues = stats.snd_queues.iter().map(view::snd_queue_info).collect();
                }
                Err(AgentError::NoConnection) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let (Some(agent), false) = (&self.agent_view, c.deleted) {
            let read = |e: simplex_agent::StoreError| ChatError::Agent(e.into());
            info.pq = agent
                .conn(&c.conn_id)
                .map_err(read)?
                .is_some_and(|conn| conn.pq_support);
        }
        self.print(view::contact_info(&info));
        Ok(())
    }
}
