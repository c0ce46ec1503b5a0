//! `/i NAME` (the reference's `viewContactInfo`): the contact's ID, the servers of the
//! queues it receives and sends on (two during a switch, with its progress), the profile
//! shared, and whether the connection is quantum resistant.
//!
//! The queues and whether the connection is post-quantum come from the agent
//! (`connection_stats`).

use simplex_agent::AgentError;

use super::{Chat, ChatError, Output};
use crate::view;

impl<O: Output> Chat<O> {
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
                    info.pq = stats.pq_support;
                }
                Err(AgentError::NoConnection) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.print(view::contact_info(&info));
        Ok(())
    }
}

impl<O: Output> Chat<O> {
    /// `/i #GROUP MEMBER` (`viewGroupMemberInfo`): the group's and member's IDs, the queues
    /// of the member connection (or `member not connected`) and the member's chat version
    /// range.
    pub(super) async fn group_member_info(
        &mut self,
        group: &str,
        member: &str,
    ) -> Result<(), ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(());
        };
        let Some(m) = self.member(&g, member)? else {
            return Ok(());
        };
        let mut lines = vec![
            format!("group ID: {}", g.id),
            format!("member ID: {}", m.id),
        ];
        let stats = match &m.conn_id {
            Some(conn) => match self.agent.connection_stats(conn).await {
                Ok(s) => Some(s),
                Err(AgentError::NoConnection) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        match stats {
            Some(s) => {
                let rcv: Vec<String> = s.rcv_queues.iter().map(view::rcv_queue_info).collect();
                let snd: Vec<String> = s.snd_queues.iter().map(view::snd_queue_info).collect();
                if !rcv.is_empty() {
                    lines.push(format!("receiving messages via: {}", rcv.join(", ")));
                }
                if !snd.is_empty() {
                    lines.push(format!("sending messages via: {}", snd.join(", ")));
                }
            }
            None => lines.push("member not connected".to_owned()),
        }
        if let Some((min, max)) = m.peer_version.as_deref().and_then(|v| v.split_once('-')) {
            lines.push(format!("peer chat protocol version range: ({min}, {max})"));
        }
        self.print(lines);
        Ok(())
    }
}
