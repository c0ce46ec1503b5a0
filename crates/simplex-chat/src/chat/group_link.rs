//! Group links (`/create link #team`): an address whose requests join the group, as the
//! reference's (chat version 3, `groupFastLinkJoinVersion`): the joiner sends `x.contact`
//! (our `/c LINK`); the host accepts the request with `x.grp.link.inv` as its connection
//! info, making the joiner a member without a contact; the joiner allows with
//! `x.grp.mem.info`; after `CON` the host sends `x.grp.link.mem` (its profile) and the
//! introductions. The short link is of the group type (`/g#`) and carries the group's
//! profile (`GroupShortLinkData`).

use simplex_agent::AgentError;

use super::{Chat, ChatError, Output};
use crate::api::response::ChatResponse;
use crate::protocol::group::{
    GroupEvent, GroupLinkInvitation, GroupShortLinkData, MemberIdRole, MemberRole,
};
use crate::protocol::{new_msg_id, ChatEvent, ChatMessage, Profile};
use crate::store::groups::{Category, Group, GroupLink, NewMember, Status};
use crate::view::group as gv;

impl<O: Output> Chat<O> {
    /// `/create link #GROUP`.
    pub(super) async fn create_group_link(
        &mut self,
        group: &str,
        role: MemberRole,
    ) -> Result<Option<(Group, GroupLink, Option<String>)>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let me = self.store.membership(g.id)?;
        if me.role < MemberRole::Admin || !me.status.is_current() || me.status == Status::Invited {
            self.say(gv::insufficient(&g, MemberRole::Admin));
            return Ok(None);
        }
        if self.store.group_link(g.id)?.is_some() {
            self.say(format!(
                "you already have link for this group, to show: /show link #{}",
                crate::view::view_name(&g.name)
            ));
            return Ok(None);
        }
        let data = GroupShortLinkData {
            group_profile: g.profile.clone(),
        }
        .to_bytes();
        let (conn_id, links) = self.agent.create_group_link(&data).await?;
        let link = GroupLink {
            group_id: g.id,
            conn_id,
            link: links.full.clone(),
            role,
        };
        self.store.set_group_link(&link)?;
        self.print(gv::link(
            "Group link is created!",
            &g,
            role,
            links.short.as_deref(),
            &links.full,
        ));
        Ok(Some((g, link, links.short)))
    }

    /// `/show link #GROUP`.
    pub(super) async fn show_group_link(
        &mut self,
        group: &str,
    ) -> Result<Option<(Group, GroupLink, Option<String>)>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let Some(l) = self.store.group_link(g.id)? else {
            self.say(no_link(&g.name));
            return Ok(None);
        };
        let short = self.agent.address_short_link(&l.conn_id).await?;
        self.print(gv::link(
            "Group link:",
            &g,
            l.role,
            short.as_deref(),
            &l.link,
        ));
        Ok(Some((g, l, short)))
    }

    /// `/delete link #GROUP`.
    pub(super) async fn delete_group_link(
        &mut self,
        group: &str,
    ) -> Result<Option<Group>, ChatError> {
        let Some(g) = self.group(group)? else {
            return Ok(None);
        };
        let Some(l) = self.store.group_link(g.id)? else {
            self.say(no_link(&g.name));
            return Ok(None);
        };
        match self.agent.delete_connection(&l.conn_id).await {
            Ok(()) | Err(AgentError::NoConnection) => {}
            Err(e) => return Err(e.into()),
        }
        self.store.delete_group_link(g.id)?;
        self.print(gv::link_deleted(&g));
        Ok(Some(g))
    }

    /// A request through a group link (`REQ`): the requester becomes a member; its
    /// invitation is joined with `x.grp.link.inv`.
    pub(super) async fn group_link_request(
        &mut self,
        l: GroupLink,
        inv_id: &[u8],
        profile: Profile,
    ) -> Result<(), ChatError> {
        let Some(g) = self.store.group_by_id(l.group_id)? else {
            return Ok(());
        };
        let me = self.store.membership(g.id)?;
        if me.role < MemberRole::Admin || !me.status.is_current() {
            let _ = self.agent.reject_contact(inv_id).await;
            return Ok(());
        }
        let member_id = new_msg_id();
        let size = self.current_members(g.id)?;
        let inv = GroupEvent::LinkInv {
            group_link_invitation: GroupLinkInvitation {
                from_member: MemberIdRole {
                    member_id: me.member_id.clone(),
                    member_role: me.role,
                },
                from_member_name: self.user.display_name.clone(),
                invited_member: MemberIdRole {
                    member_id: member_id.clone(),
                    member_role: l.role,
                },
                group_profile: g.profile.clone(),
                group_size: Some(i64::try_from(size).unwrap_or(i64::MAX)),
            },
        };
        let info = ChatMessage::new(ChatEvent::Group(inv)).to_bytes();
        let conn_id = self.agent.accept_contact(inv_id, &info).await?;
        // A member without a contact among the invitees: it came through the link (it gets
        // `x.grp.link.mem` when connected).
        let m = self.store.add_member(
            g.id,
            &NewMember {
                member_id: &member_id,
                role: l.role,
                category: Category::Invitee,
                status: Status::Accepted,
                profile: &profile,
                contact_id: None,
                invited_by: Some(me.id),
                peer_version: None,
            },
        )?;
        self.store.set_member_conn(m.id, Some(&conn_id))?;
        self.say(format!(
            "{}: accepting request to join group {}...",
            gv::full_member(&m),
            gv::group_ref(&g.name)
        ));
        self.emit_group(&g, |chat, user, group_info| {
            Ok(
                crate::api::response::ChatResponse::AcceptingGroupJoinRequestMember {
                    user,
                    group_info,
                    member: chat.api_member(&m)?,
                },
            )
        });
        Ok(())
    }

    /// The host's `x.grp.link.inv` in the confirmation of our request through a group
    /// link: the group, its host, our membership; allowed with `x.grp.mem.info`.
    pub(super) async fn group_link_invitation(
        &mut self,
        conn: &[u8],
        conf_id: &[u8],
        inv: GroupLinkInvitation,
    ) -> Result<(), ChatError> {
        let g = self.store.create_group(
            &inv.group_profile,
            &self.user,
            (
                &inv.invited_member.member_id,
                inv.invited_member.member_role,
                Status::Accepted,
            ),
            None,
        )?;
        let host = self.store.add_member(
            g.id,
            &NewMember {
                member_id: &inv.from_member.member_id,
                role: inv.from_member.member_role,
                category: Category::Host,
                status: Status::Accepted,
                profile: &Profile::new(&inv.from_member_name),
                contact_id: None,
                invited_by: None,
                peer_version: None,
            },
        )?;
        self.store.set_member_conn(host.id, Some(conn))?;
        if let Some(link) = self.store.pending_link(conn)? {
            self.store.set_group_via_link(g.id, &link)?;
        }
        self.store.remove_pending(conn)?;
        let mine = GroupEvent::MemInfo {
            member_id: inv.invited_member.member_id,
            profile: self.user.clone(),
        };
        let reply = ChatMessage::new(ChatEvent::Group(mine)).to_bytes();
        self.agent.allow_connection(conf_id, &reply).await?;
        self.say(gv::says(&g, "joining the group..."));
        self.emit_group(&g, |chat, user, group_info| {
            Ok(ChatResponse::GroupLinkConnecting {
                user,
                group_info,
                host_member: chat.api_member(&host)?,
            })
        });
        Ok(())
    }
}

fn no_link(group: &str) -> String {
    format!(
        "no group link, to create: /create link #{}",
        crate::view::view_name(group)
    )
}
