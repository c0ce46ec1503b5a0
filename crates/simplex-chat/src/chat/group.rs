//! Group commands: create, invite, join, send, list, leave, remove, change roles, delete,
//! history. What members receive is in [`super::group_events`].
//!
//! A group is a set of pairwise member connections (the reference's design): a message is
//! one agent send per connected member; members not yet connected to each other get each
//! other's messages through the host's forwarding (`x.grp.msg.forward`) until they are.
//!
//! Each command returns what it made or changed, or `None` when it refused (having said
//! why): the terminal ignores it, the bot API answers with it (module `api_groups`).

use chrono::Local;
use simplex_agent::AgentError;

use super::{now_ms, Chat, ChatError, Output};
use crate::command::Command;
use crate::protocol::group::{
    GroupEvent, GroupInvitation, GroupProfile, MemberIdRole, MemberInfo, MemberRole,
};
use crate::protocol::{new_msg_id, ChatEvent, ChatMessage};
use crate::store::groups::{Category, Group, GroupItem, Member, NewGroupItem, NewMember, Status};
use crate::view;
use crate::view::group as gv;

/// The chat a plain line goes to when it is a group: `#team`.
pub(crate) fn group_chat(name: &str) -> String {
    format!("#{name}")
}

/// What a member tells others about itself or another (`memberInfo`). The version range
/// is the one its connection info or messages named; without one (not expected: every
/// member connection starts with connection info) ours is given, as the reference's
/// members refuse an introduction without a range.
pub(super) fn member_info(m: &Member) -> MemberInfo {
    MemberInfo {
        member_id: m.member_id.clone(),
        member_role: m.role,
        v: Some(
            m.peer_version
                .clone()
                .unwrap_or_else(|| crate::protocol::CHAT_VERSION_RANGE.to_owned()),
        ),
        profile: m.profile.clone(),
    }
}

impl<O: Output> Chat<O> {
    /// Runs a group command.
    pub(super) async fn group_command(&mut self, cmd: Command) -> Result<(), ChatError> {
        match cmd {
            Command::NewGroup { name, full_name } => {
                self.new_group(&name, &full_name)?;
            }
            Command::AddMember {
                group,
                contact,
                role,
            } => {
                self.add_member(&group, &contact, role).await?;
            }
            Command::JoinGroup(g) => {
                self.join_group(&g).await?;
            }
            Command::SendGroup { group, text } => {
                self.send_group(&group, &text).await?;
            }
            Command::Members(g) => self.list_members(&g)?,
            Command::Groups => self.list_groups()?,
            Command::Leave(g) => {
                self.leave_group(&g).await?;
            }
            Command::RemoveMember { group, member } => {
                self.remove_member(&group, &member).await?;
            }
            Command::ChangeRole {
                group,
                member,
                role,
            } => {
                self.change_role(&group, &member, role).await?;
            }
            Command::DeleteGroup(g) => {
                self.delete_group(&g).await?;
            }
            Command::GroupTail { group, count } => self.group_tail(&group, count)?,
            Command::GroupInfo(g) => self.group_info(&g)?,
            Command::UpdateGroupProfile {
                group,
                name,
                full_name,
            } => {
                self.update_group_profile(&group, name, full_name).await?;
            }
            Command::GroupMemberInfo { group, member } => {
                self.group_member_info(&group, &member).await?
            }
            Command::CreateGroupLink(g) => {
                self.create_group_link(&g, MemberRole::Member).await?;
            }
            Command::ShowGroupLink(g) => {
                self.show_group_link(&g).await?;
            }
            Command::DeleteGroupLink(g) => {
                self.delete_group_link(&g).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The group, or prints `no group #NAME`.
    pub(super) fn group(&mut self, name: &str) -> Result<Option<Group>, ChatError> {
        let g = self.store.group_by_name(name)?;
        if g.is_none() {
            self.say(format!("no group {}", gv::group_ref(name)));
        }
        Ok(g)
    }

    /// Sends a group event to one member; its agent message ID.
    pub(super) async fn send_to_member(
        &mut self,
        m: &Member,
        event: GroupEvent,
    ) -> Result<Option<i64>, ChatError> {
        let Some(conn) = &m.conn_id else {
            return Ok(None);
        };
        let body = ChatMessage::new(ChatEvent::Group(event)).to_bytes();
        Ok(Some(self.agent.send_message(conn, &body).await?))
    }

    /// The members a message to the group goes to: connected, still in.
    pub(super) fn recipients(&self, group_id: i64) -> Result<Vec<Member>, ChatError> {
        Ok(self
            .store
            .members(group_id)?
            .into_iter()
            .filter(|m| m.status == Status::Connected && m.conn_id.is_some())
            .collect())
    }

    /// Sends one body to every connected member in one agent batch send (as the
    /// reference's `sendMessages`: stored together, delivered in the background). Failures
    /// for single members are counted, not fatal; a body too large fails the call.
    pub(super) async fn broadcast(
        &mut self,
        group_id: i64,
        body: &[u8],
    ) -> Result<usize, ChatError> {
        let msgs: Vec<_> = self
            .recipients(group_id)?
            .into_iter()
            .filter_map(|m| m.conn_id)
            .map(|conn| (conn, body.to_vec()))
            .collect();
        let mut failed = 0usize;
        for r in self.agent.send_messages(msgs).await {
            match r {
                Ok(_) => {}
                Err(AgentError::Large) => return Err(AgentError::Large.into()),
                Err(_) => failed = failed.saturating_add(1),
            }
        }
        Ok(failed)
    }

    /// `/g NAME`: a group with this user as its owner.
    pub(super) fn new_group(
        &mut self,
        name: &str,
        full_name: &str,
    ) -> Result<Option<Group>, ChatError> {
        let profile = GroupProfile {
            display_name: name.to_owned(),
            full_name: full_name.to_owned(),
        };
        let g = self.store.create_group(
            &profile,
            &self.user,
            (&new_msg_id(), MemberRole::Owner, Status::Creator),
            None,
        )?;
        self.print(gv::created(&g));
        Ok(Some(g))
    }

    /// `/a GROUP CONTACT ROLE`: a member connection for the contact and `x.grp.inv` to it.
    pub(super) async fn add_member(
        &mut self,
        group: &str,
        contact: &str,
        role: MemberRole,
    ) -> Result<Option<Member>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let Some(c) = self.contact(contact)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if !self.active_member(&g, &me) {
            return Ok(None);
        }
        let required = MemberRole::Admin.max(role);
        if me.role < required {
            self.say(gv::insufficient(&g, required));
            return Ok(None);
        }
        if c.deleted || !c.ready {
            self.say(view::not_ready(&c.name));
            return Ok(None);
        }
        let existing = self
            .store
            .members(g.id)?
            .into_iter()
            .find(|m| m.contact_id == Some(c.id) && m.status.is_current());
        if let Some(m) = existing {
            if m.status == Status::Invited {
                self.print(vec![
                    format!(
                        "{} is already invited to group {}",
                        view::view_name(&c.name),
                        gv::group_ref(&g.name)
                    ),
                    format!(
                        "to re-send invitation: /rm {} {}, /a {} {}",
                        view::view_name(&g.name),
                        view::view_name(&c.name),
                        view::view_name(&g.name),
                        view::view_name(&c.name)
                    ),
                ]);
            } else {
                self.say(gv::already_member(&c.name));
            }
            return Ok(None);
        }
        let (conn_id, link) = self.agent.create_connection().await?;
        let member_id = new_msg_id();
        let m = self.store.add_member(
            g.id,
            &NewMember {
                member_id: &member_id,
                role,
                category: Category::Invitee,
                status: Status::Invited,
                profile: &c.profile,
                contact_id: Some(c.id),
                invited_by: Some(me.id),
                peer_version: None,
            },
        )?;
        self.store.set_member_conn(m.id, Some(&conn_id))?;
        let size = self.current_members(g.id)?;
        let inv = GroupEvent::Inv {
            group_invitation: GroupInvitation {
                from_member: MemberIdRole {
                    member_id: me.member_id.clone(),
                    member_role: me.role,
                },
                invited_member: MemberIdRole {
                    member_id,
                    member_role: role,
                },
                conn_request: link,
                group_profile: g.profile.clone(),
                group_link_id: None,
                group_size: Some(i64::try_from(size).unwrap_or(i64::MAX)),
            },
        };
        let body = ChatMessage::new(ChatEvent::Group(inv)).to_bytes();
        self.agent.send_message(&c.conn_id, &body).await?;
        self.say(gv::sent_invitation(&g, &c.name));
        Ok(Some(m))
    }

    /// How many members are in the group, this user included.
    pub(super) fn current_members(&self, group_id: i64) -> Result<usize, ChatError> {
        let me = self.store.membership(group_id)?;
        let others = self
            .store
            .members(group_id)?
            .into_iter()
            .filter(|m| m.status.is_current())
            .count();
        Ok(others.saturating_add(usize::from(me.status.is_current())))
    }

    /// Whether this user can act in the group; prints why not.
    fn active_member(&mut self, g: &Group, me: &Member) -> bool {
        let why = match me.status {
            Status::Invited => super::api_groups::NOT_JOINED,
            Status::Removed => "you are no longer a member of the group",
            Status::Left => "you left the group",
            Status::GroupDeleted => "the group was deleted",
            _ => return true,
        };
        self.say(gv::says(g, why));
        false
    }

    /// `/j GROUP`: joins the invitation's member connection with `x.grp.acpt`.
    pub(super) async fn join_group(&mut self, group: &str) -> Result<Option<Group>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        let (Some(link), Status::Invited) = (g.inv_conn_req.clone(), me.status) else {
            self.say(gv::says(&g, "you are already a member of the group"));
            return Ok(None);
        };
        let Some(host) = self
            .store
            .members(g.id)?
            .into_iter()
            .find(|m| m.category == Category::Host)
        else {
            self.say(gv::says(&g, "the invitation has no host"));
            return Ok(None);
        };
        let acpt = GroupEvent::Acpt {
            member_id: me.member_id.clone(),
        };
        let info = ChatMessage::new(ChatEvent::Group(acpt)).to_bytes();
        let conn_id = match self.agent.join_connection(&link, &info).await {
            Ok(c) => c,
            Err(AgentError::Smp {
                error: smp_client::ClientError::Server(smp_proto::ErrorType::Auth),
                ..
            }) => {
                self.say(gv::says(&g, "the invitation is no longer valid"));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        self.store.set_member_conn(host.id, Some(&conn_id))?;
        self.store.set_member_status(host.id, Status::Accepted)?;
        self.store.set_member_status(me.id, Status::Accepted)?;
        self.store.clear_group_invitation(g.id)?;
        // The reference prints nothing here; `you joined the group` comes with `CON`.
        Ok(Some(g))
    }

    /// `#GROUP text`.
    pub(super) async fn send_group(
        &mut self,
        group: &str,
        text: &str,
    ) -> Result<Option<GroupItem>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if matches!(
            me.status,
            Status::Removed | Status::Left | Status::GroupDeleted
        ) {
            // The reference's answer (`CECommandError "not current member"`).
            self.say("bad chat command: not current member");
            return Ok(None);
        }
        if !self.active_member(&g, &me) {
            return Ok(None);
        }
        if me.status == Status::Accepted {
            self.say(gv::says(&g, "you are not connected to the group yet"));
            return Ok(None);
        }
        if me.role < MemberRole::Author {
            self.say(gv::says(&g, "you don't have permission to send messages"));
            return Ok(None);
        }
        let msg = ChatMessage::new(ChatEvent::MsgNew {
            text: text.to_owned(),
        });
        let body = msg.to_bytes();
        match self.broadcast(g.id, &body).await {
            Err(ChatError::Agent(AgentError::Large)) => {
                self.say(view::message_too_large(text.chars().count()));
                return Ok(None);
            }
            r => r?,
        };
        let it = self.store.add_group_item(
            g.id,
            NewGroupItem {
                member: None,
                text,
                ts_ms: now_ms(),
                forwarded: false,
                msg_id: msg.msg_id.as_deref(),
            },
        )?;
        self.last_chat = Some(group_chat(&g.name));
        self.print(gv::item(Local::now(), &g, None, &it));
        Ok(Some(it))
    }

    /// `/i #GROUP` (`viewGroupInfo`): its ID and how many are in it, this user included.
    fn group_info(&mut self, group: &str) -> Result<(), ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(());
        };
        let me = usize::from(self.store.membership(g.id)?.status.is_current());
        let others = self.store.members(g.id)?;
        let current = others.iter().filter(|m| m.status.is_current()).count() + me;
        self.print(gv::info(&g, current));
        Ok(())
    }

    /// `/gp GROUP NAME [FULL NAME]`: the owner renames the group and tells the members
    /// (`x.grp.info`).
    pub(super) async fn update_group_profile(
        &mut self,
        group: &str,
        name: String,
        full_name: String,
    ) -> Result<Option<(Group, Group)>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if !self.active_member(&g, &me) {
            return Ok(None);
        }
        if me.role < MemberRole::Owner {
            self.say(gv::insufficient(&g, MemberRole::Owner));
            return Ok(None);
        }
        let profile = GroupProfile {
            display_name: name,
            full_name,
        };
        let info = GroupEvent::Info {
            group_profile: profile.clone(),
        };
        self.broadcast(g.id, &ChatMessage::new(ChatEvent::Group(info)).to_bytes())
            .await?;
        let new = self.store.update_group_profile(g.id, &profile)?;
        if self.last_chat.as_deref() == Some(group_chat(&g.name).as_str()) {
            self.last_chat = Some(group_chat(&new.name));
        }
        self.print(gv::updated(&g, &new, None));
        Ok(Some((g, new)))
    }

    /// `/ms GROUP`.
    pub(super) fn list_members(&mut self, group: &str) -> Result<(), ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(());
        };
        let me = self.store.membership(g.id)?;
        let others = self.store.members(g.id)?;
        self.print(gv::members(&me, &others));
        Ok(())
    }

    /// `/gs`.
    pub(super) fn list_groups(&mut self) -> Result<(), ChatError> {
        let groups = self.store.groups()?;
        if groups.is_empty() {
            self.print(vec![
                "you have no groups!".into(),
                "to create: /g <name>".into(),
            ]);
            return Ok(());
        }
        let mut lines = Vec::new();
        for g in &groups {
            let me = self.store.membership(g.id)?;
            lines.push(gv::list_line(g, &me, self.current_members(g.id)?));
        }
        self.print(lines);
        Ok(())
    }

    /// Forgets the member connections of a group this user is no longer in, after the
    /// last notice to each has gone (the pending deletions of module `chat`).
    async fn close_member_connections(&mut self, members: &[(Member, Option<i64>)]) {
        for (m, notice) in members {
            let Some(conn) = &m.conn_id else {
                continue;
            };
            let r = match notice {
                Some(msg_id) => self
                    .store
                    .add_pending_deletion(conn, *msg_id)
                    .map_err(ChatError::from),
                None => self
                    .agent
                    .delete_connection(conn)
                    .await
                    .map_err(ChatError::from),
            };
            if let Err(e) = r {
                self.say(e.to_string());
            }
            let _ = self.store.set_member_conn(m.id, None);
        }
    }

    /// Sends a group event to every connected member; each member with the agent's ID of
    /// its copy (`None` when it was not sent).
    async fn tell_all(
        &mut self,
        group_id: i64,
        event: GroupEvent,
    ) -> Result<Vec<(Member, Option<i64>)>, ChatError> {
        let body = ChatMessage::new(ChatEvent::Group(event)).to_bytes();
        let mut out = Vec::new();
        for m in self.store.members(group_id)? {
            let sent = match (&m.conn_id, m.status) {
                (Some(conn), Status::Connected) => self.agent.send_message(conn, &body).await.ok(),
                _ => None,
            };
            out.push((m, sent));
        }
        Ok(out)
    }

    /// `/l GROUP`: `x.grp.leave` to all; the connections close once it has gone.
    pub(super) async fn leave_group(&mut self, group: &str) -> Result<Option<Group>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if !self.active_member(&g, &me) {
            return Ok(None);
        }
        let sent = self.tell_all(g.id, GroupEvent::Leave {}).await?;
        self.store.set_member_status(me.id, Status::Left)?;
        self.close_member_connections(&sent).await;
        self.forget_chat(&g);
        self.print(vec![gv::says(&g, "you left the group"), gv::preserved(&g)]);
        Ok(Some(g))
    }

    /// `/rm GROUP MEMBER`: `x.grp.mem.del` to all (the removed member too).
    pub(super) async fn remove_member(
        &mut self,
        group: &str,
        member: &str,
    ) -> Result<Option<Member>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if !self.active_member(&g, &me) {
            return Ok(None);
        }
        let Some(m) = self.member(&g, member)? else {
            return Ok(None);
        };
        let required = MemberRole::Admin.max(m.role);
        if me.role < required {
            self.say(gv::insufficient(&g, required));
            return Ok(None);
        }
        let del = GroupEvent::MemDel {
            member_id: m.member_id.clone(),
            messages: None,
        };
        let sent = self.tell_all(g.id, del).await?;
        self.store.set_member_status(m.id, Status::Removed)?;
        let removed: Vec<_> = sent.into_iter().filter(|(x, _)| x.id == m.id).collect();
        if removed.is_empty() {
            self.close_member_connections(&[(m.clone(), None)]).await;
        } else {
            self.close_member_connections(&removed).await;
        }
        self.say(gv::says(
            &g,
            &format!("you removed {} from the group", gv::member(&m)),
        ));
        Ok(Some(m))
    }

    /// A current member by local name, or prints why not.
    pub(super) fn member(&mut self, g: &Group, name: &str) -> Result<Option<Member>, ChatError> {
        let m = self
            .store
            .member_by_name(g.id, name)?
            .filter(|m| m.status.is_current());
        if m.is_none() {
            self.say(format!(
                "{} has no member {}",
                gv::group_ref(&g.name),
                view::view_name(name)
            ));
        }
        Ok(m)
    }

    /// `/mr GROUP MEMBER ROLE`: `x.grp.mem.role` to all.
    pub(super) async fn change_role(
        &mut self,
        group: &str,
        member: &str,
        role: MemberRole,
    ) -> Result<Option<Member>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if !self.active_member(&g, &me) {
            return Ok(None);
        }
        let Some(m) = self.member(&g, member)? else {
            return Ok(None);
        };
        if m.role == role {
            self.say(gv::says(&g, "member role did not change"));
            return Ok(None);
        }
        let required = MemberRole::Admin.max(m.role).max(role);
        if me.role < required {
            self.say(gv::insufficient(&g, required));
            return Ok(None);
        }
        let ev = GroupEvent::MemRole {
            member_id: m.member_id.clone(),
            role,
        };
        self.tell_all(g.id, ev).await?;
        self.store.set_member_role(m.id, role)?;
        self.say(gv::role_changed_by_you(&g, &m, role));
        Ok(Some(m))
    }

    /// `/d #GROUP`: an owner deletes the group for all (`x.grp.del`); a group this user is
    /// no longer in (or an invitation) is deleted locally.
    pub(super) async fn delete_group(&mut self, group: &str) -> Result<Option<Group>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        let in_group = !matches!(
            me.status,
            Status::Invited | Status::Removed | Status::Left | Status::GroupDeleted
        );
        if in_group {
            if me.role < MemberRole::Owner {
                self.say(gv::insufficient(&g, MemberRole::Owner));
                return Ok(None);
            }
            let sent = self.tell_all(g.id, GroupEvent::Del {}).await?;
            self.close_member_connections(&sent).await;
        } else {
            let members: Vec<_> = self
                .store
                .members(g.id)?
                .into_iter()
                .map(|m| (m, None))
                .collect();
            self.close_member_connections(&members).await;
        }
        if let Some(l) = self.store.group_link(g.id)? {
            match self.agent.delete_connection(&l.conn_id).await {
                Ok(()) | Err(AgentError::NoConnection) => {}
                Err(e) => self.say(view::agent_error(&e)),
            }
        }
        self.store.delete_group(g.id)?;
        self.forget_chat(&g);
        self.say(gv::says(&g, "you deleted the group"));
        Ok(Some(g))
    }

    /// Plain lines no longer go to a group that is gone.
    pub(super) fn forget_chat(&mut self, g: &Group) {
        if self.last_chat.as_deref() == Some(group_chat(&g.name).as_str()) {
            self.last_chat = None;
        }
    }

    /// `/tail #GROUP [N]`.
    pub(super) fn group_tail(&mut self, group: &str, count: u32) -> Result<(), ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(());
        };
        let now = Local::now();
        let mut lines = Vec::new();
        for it in self.store.last_group_items(g.id, count)? {
            let author = match it.member {
                Some(id) => self.store.member_by_id(id)?.map(|m| m.name),
                None => None,
            };
            let author = match (it.sent, author) {
                (true, _) => None,
                (false, a) => Some(a.unwrap_or_else(|| "?".into())),
            };
            lines.extend(gv::item(now, &g, author.as_deref(), &it));
        }
        self.print(lines);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Profile;

    /// The reference's members make no connection for an introduced member without a
    /// version range (`peerChatVRange` below `groupDirectInvVersion`): ours always has one.
    #[test]
    fn introductions_always_carry_a_version_range() {
        let mut m = Member {
            id: 1,
            group_id: 1,
            member_id: "AQIDBA==".into(),
            role: MemberRole::Member,
            category: Category::Invitee,
            status: Status::Connected,
            name: "bob".into(),
            profile: Profile::new("bob"),
            conn_id: None,
            contact_id: None,
            invited_by: None,
            peer_version: None,
        };
        assert_eq!(member_info(&m).v.as_deref(), Some("1-8"));
        m.peer_version = Some("1-16".into());
        assert_eq!(member_info(&m).v.as_deref(), Some("1-16"));
    }
}
