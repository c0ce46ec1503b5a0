//! What arrives for groups: an invitation over a contact's connection, and the agent's
//! events on member connections, as the reference (`Library/Subscriber.hs`
//! `processGroupMessage`, `introduceToGroup` in `Library/Internal.hs`):
//!
//! 1. The host's `/a` sends `x.grp.inv` (module `group`); the invitee's `/j` joins its
//!    link with `x.grp.acpt`; the host's `CONF` is allowed with `x.grp.mem.info`; on `CON`
//!    both print that the member joined.
//! 2. On the invitee's `CON` the host announces it to every connected member
//!    (`x.grp.mem.new`) and introduces each of them to it (`x.grp.mem.intro`).
//! 3. For each introduction the new member makes an invitation and returns its link
//!    (`x.grp.mem.inv`); the host passes it on (`x.grp.mem.fwd`); the existing member
//!    joins it with `x.grp.mem.info`, allowed with `x.grp.mem.info`; on `CON` both print
//!    the other connected and tell the host (`x.grp.mem.con`).
//! 4. Until then the host (an admin or owner) forwards what either sends
//!    (`x.grp.msg.forward`); receivers drop a message whose ID they already saw from that
//!    author.

use chrono::{Local, SecondsFormat, TimeZone, Utc};
use serde_json::Value;
use simplex_agent::{AgentError, Event, MsgMeta};

use super::group::{group_chat, member_info};
use super::{now_ms, Chat, ChatError, Output};
use crate::api::response::ChatResponse;
use crate::protocol::group::{is_forwarded, GroupEvent, GroupInvitation, MemberInfo, MemberRole};
use crate::protocol::{ChatEvent, ChatMessage, Profile};
use crate::store::groups::{Category, Group, Member, NewGroupItem, NewMember, Status};
use crate::store::Contact;
use crate::view::group as gv;

/// The chat version from which a new member gets the group's history (`batchSendVersion`).
const HISTORY_VERSION: u32 = 5;

/// How many recent messages a new member gets (the reference's 100).
const HISTORY_ITEMS: u32 = 100;

/// The highest version of a version range as sent (`"1-8"`, or one number); 1 when absent
/// or unreadable (the reference's `chatInitialVRange`).
fn max_version(v: Option<&str>) -> u32 {
    v.and_then(|v| v.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

impl<O: Output> Chat<O> {
    /// `x.grp.inv` from a contact: a group this user is invited to (`/j` joins it).
    pub(super) fn group_invitation(
        &mut self,
        c: &Contact,
        inv: GroupInvitation,
    ) -> Result<(), ChatError> {
        // The same invitation again (a retried message) is not a second group.
        for g in self.store.groups()? {
            let me = self.store.membership(g.id)?;
            if me.member_id == inv.invited_member.member_id {
                return Ok(());
            }
        }
        let g = self.store.create_group(
            &inv.group_profile,
            &self.user,
            (
                &inv.invited_member.member_id,
                inv.invited_member.member_role,
                Status::Invited,
            ),
            Some(&inv.conn_request),
        )?;
        self.store.add_member(
            g.id,
            &NewMember {
                member_id: &inv.from_member.member_id,
                role: inv.from_member.member_role,
                category: Category::Host,
                status: Status::Invited,
                profile: &c.profile,
                contact_id: Some(c.id),
                invited_by: None,
                peer_version: None,
            },
        )?;
        self.print(gv::received_invitation(
            &g,
            &c.name,
            inv.invited_member.member_role,
        ));
        self.emit_group(&g, |chat, user, group_info| {
            Ok(ChatResponse::ReceivedGroupInvitation {
                user,
                group_info,
                contact: chat.api_contact(c)?,
                from_member_role: inv.from_member.member_role,
                member_role: inv.invited_member.member_role,
            })
        });
        Ok(())
    }

    /// An agent event on a member connection.
    pub(super) async fn member_event(&mut self, m: Member, e: Event) -> Result<(), ChatError> {
        let Some(g) = self.store.group_by_id(m.group_id)? else {
            return Ok(());
        };
        match e {
            Event::Conf {
                conf_id, conn_info, ..
            } => self.member_conf(&g, &m, &conf_id, &conn_info).await,
            Event::Info(conn_info) => {
                self.record_version(&m, &conn_info)?;
                if let Ok(msg) = ChatMessage::decode_one(&conn_info) {
                    if let ChatEvent::Group(GroupEvent::MemInfo { profile, .. }) = msg.event {
                        self.store.set_member_peer(m.id, None, Some(&profile))?;
                    }
                }
                Ok(())
            }
            Event::Con => self.member_connected(&g, m).await,
            Event::Msg { meta, body } => self.member_msg(&g, m, meta, &body).await,
            Event::Rcvd { meta, .. } => {
                let conn = m.conn_id.clone().unwrap_or_default();
                self.agent.ack_message(&conn, meta.msg_id, None).await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `CONF` on a member connection we made: the invitee's `x.grp.acpt` (we are its
    /// host) or an introduced member's `x.grp.mem.info`; allowed with our
    /// `x.grp.mem.info`.
    async fn member_conf(
        &mut self,
        g: &Group,
        m: &Member,
        conf_id: &[u8],
        conn_info: &[u8],
    ) -> Result<(), ChatError> {
        let Ok(msg) = ChatMessage::decode_one(conn_info) else {
            return Ok(());
        };
        self.record_version(m, conn_info)?;
        let expected = match (&m.category, &msg.event) {
            (Category::Invitee, ChatEvent::Group(GroupEvent::Acpt { member_id })) => {
                member_id == &m.member_id
            }
            (_, ChatEvent::Group(GroupEvent::MemInfo { member_id, profile })) => {
                if member_id == &m.member_id {
                    self.store.set_member_peer(m.id, None, Some(profile))?;
                }
                member_id == &m.member_id
            }
            _ => false,
        };
        if !expected {
            self.say(gv::says(g, "a member's confirmation has a wrong member ID"));
            return Ok(());
        }
        let me = self.store.membership(g.id)?;
        let info = GroupEvent::MemInfo {
            member_id: me.member_id,
            profile: self.user.clone(),
        };
        let reply = ChatMessage::new(ChatEvent::Group(info)).to_bytes();
        self.agent.allow_connection(conf_id, &reply).await?;
        self.store.set_member_status(m.id, Status::Accepted)?;
        Ok(())
    }

    /// Records the chat version range a member's connection info names (`"v"`): the
    /// reference's members refuse an introduction (`x.grp.mem.intro`, `x.grp.mem.fwd`)
    /// whose member has none.
    fn record_version(&mut self, m: &Member, conn_info: &[u8]) -> Result<(), ChatError> {
        let v = ChatMessage::decode_all_raw(conn_info)
            .ok()
            .and_then(|all| all.into_iter().next())
            .and_then(|(_, raw)| raw.get("v").and_then(Value::as_str).map(str::to_owned));
        if let Some(v) = v {
            self.store.set_member_peer(m.id, Some(&v), None)?;
        }
        Ok(())
    }

    /// `CON` on a member connection.
    async fn member_connected(&mut self, g: &Group, m: Member) -> Result<(), ChatError> {
        if !m.status.is_current() {
            return Ok(());
        }
        self.store.set_member_status(m.id, Status::Connected)?;
        let me = self.store.membership(g.id)?;
        match m.category {
            Category::Host => {
                if me.status != Status::Connected && me.status.is_current() {
                    self.store.set_member_status(me.id, Status::Connected)?;
                }
                self.say(gv::says(g, "you joined the group"));
                self.emit_group(g, |chat, user, group_info| {
                    let host = Member {
                        status: Status::Connected,
                        ..m.clone()
                    };
                    Ok(ChatResponse::UserJoinedGroup {
                        user,
                        group_info,
                        host_member: chat.api_member(&host)?,
                    })
                });
                if self.last_chat.is_none() {
                    self.last_chat = Some(group_chat(&g.name));
                }
            }
            Category::Invitee => {
                self.say(gv::says(g, &format!("{} joined the group", gv::member(&m))));
                let m = Member {
                    status: Status::Connected,
                    ..m
                };
                self.emit_group(g, |chat, user, group_info| {
                    Ok(ChatResponse::JoinedGroupMember {
                        user,
                        group_info,
                        member: chat.api_member(&m)?,
                    })
                });
                if m.contact_id.is_none() {
                    // It came through the group link: our profile, as the reference sends it.
                    let mem = GroupEvent::LinkMem {
                        profile: self.user.clone(),
                    };
                    self.send_to_member(&m, mem).await?;
                }
                self.introduce_to_group(g, &m).await?;
            }
            Category::Pre | Category::Post => {
                self.say(gv::connected(g, &m));
                self.emit_group(g, |chat, user, group_info| {
                    Ok(ChatResponse::ConnectedToGroupMember {
                        user,
                        group_info,
                        member: chat.api_member(&m)?,
                    })
                });
                // Tell whoever introduced us that forwarding can stop.
                let host = match m.category {
                    Category::Pre => self
                        .store
                        .members(g.id)?
                        .into_iter()
                        .find(|h| h.category == Category::Host),
                    _ => match m.invited_by {
                        Some(id) => self.store.member_by_id(id)?,
                        None => None,
                    },
                };
                if let Some(h) = host.filter(|h| h.status == Status::Connected) {
                    let con = GroupEvent::MemCon {
                        member_id: m.member_id.clone(),
                    };
                    self.send_to_member(&h, con).await?;
                }
            }
            Category::User => {}
        }
        Ok(())
    }

    /// The host's part when a new member connected (`introduceToGroup`): `x.grp.mem.new`
    /// about it to every connected member, `x.grp.mem.intro` about each of them to it.
    async fn introduce_to_group(&mut self, g: &Group, new: &Member) -> Result<(), ChatError> {
        let others: Vec<Member> = self
            .recipients(g.id)?
            .into_iter()
            .filter(|o| o.id != new.id)
            .collect();
        let announce = GroupEvent::MemNew {
            member_info: member_info(new),
            scope: None,
        };
        let body = ChatMessage::new(ChatEvent::Group(announce)).to_bytes();
        for o in &others {
            if let Some(conn) = &o.conn_id {
                if let Err(e) = self.agent.send_message(conn, &body).await {
                    self.say(e.to_string());
                    continue;
                }
            }
            self.store.add_intro(o.id, new.id)?;
        }
        for o in &others {
            let intro = GroupEvent::MemIntro {
                member_info: member_info(o),
                member_restrictions: None,
            };
            self.send_to_member(new, intro).await?;
        }
        if max_version(new.peer_version.as_deref()) >= HISTORY_VERSION {
            self.send_history(g, new).await?;
        }
        Ok(())
    }

    /// Group history for a new member (chat version 5, the reference's `sendHistory`): the
    /// last [`HISTORY_ITEMS`] messages, each forwarded with its author and time, after the
    /// introductions (so that the authors are known).
    async fn send_history(&mut self, g: &Group, new: &Member) -> Result<(), ChatError> {
        let me = self.store.membership(g.id)?;
        for it in self.store.last_group_items(g.id, HISTORY_ITEMS)? {
            let author = match it.member {
                None => Some(me.clone()),
                Some(id) => self.store.member_by_id(id)?,
            };
            let Some(author) = author.filter(|a| a.id != new.id) else {
                continue;
            };
            let inner = ChatMessage {
                msg_id: Some(
                    it.msg_id
                        .clone()
                        .unwrap_or_else(crate::protocol::new_msg_id),
                ),
                event: ChatEvent::MsgNew { text: it.text },
            };
            let Ok(msg) = serde_json::from_str::<Value>(&inner.to_json()) else {
                continue;
            };
            let msg_ts = Utc
                .timestamp_millis_opt(it.ts_ms)
                .single()
                .unwrap_or_else(Utc::now)
                .to_rfc3339_opts(SecondsFormat::Micros, true);
            let fwd = GroupEvent::MsgForward {
                member_id: Some(author.member_id.clone()),
                member_name: Some(author.profile.display_name.clone()),
                msg_ts,
                msg,
            };
            self.send_to_member(new, fwd).await?;
        }
        Ok(())
    }

    /// `MSG` on a member connection: each message of the body, then what the host passes on.
    async fn member_msg(
        &mut self,
        g: &Group,
        m: Member,
        meta: MsgMeta,
        body: &[u8],
    ) -> Result<(), ChatError> {
        let msgs = ChatMessage::decode_all_raw(body).unwrap_or_default();
        if let Some(v) = msgs
            .first()
            .and_then(|(_, raw)| raw.get("v"))
            .and_then(Value::as_str)
        {
            if m.peer_version.as_deref() != Some(v) {
                self.store.set_member_peer(m.id, Some(v), None)?;
            }
        }
        let me = self.store.membership(g.id)?;
        for (msg, raw) in msgs {
            let name = raw
                .get("event")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let fresh = self.group_message(g, &m, msg, None).await?;
            // A file description is one member's own (module `group_files`): not passed on.
            let own = name == "x.msg.file.descr";
            if fresh && me.role >= MemberRole::Admin && is_forwarded(&name) && !own {
                self.forward(g, &m, raw).await?;
            }
        }
        if let Some(conn) = &m.conn_id {
            // The connection is gone when the message was the member's leaving.
            match self.agent.ack_message(conn, meta.msg_id, None).await {
                Ok(()) | Err(AgentError::NoConnection) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The host passes a member's message on to the members not yet connected to it.
    async fn forward(&mut self, g: &Group, author: &Member, raw: Value) -> Result<(), ChatError> {
        let targets = self.store.forward_targets(author.id)?;
        if targets.is_empty() {
            return Ok(());
        }
        let fwd = GroupEvent::MsgForward {
            member_id: Some(author.member_id.clone()),
            member_name: Some(author.profile.display_name.clone()),
            msg_ts: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            msg: raw,
        };
        let body = ChatMessage::new(ChatEvent::Group(fwd)).to_bytes();
        for t in targets {
            if let Some(conn) = &t.conn_id {
                if let Err(e) = self.agent.send_message(conn, &body).await {
                    self.say(format!("{}: {e}", gv::group_ref(&g.name)));
                }
            }
        }
        Ok(())
    }

    /// One message from `author`, directly or forwarded by the host (`forwarded_at`: the
    /// time the host gave, which the item keeps); false when it was a copy already seen
    /// (not processed, not forwarded again).
    async fn group_message(
        &mut self,
        g: &Group,
        author: &Member,
        msg: ChatMessage,
        forwarded_at: Option<i64>,
    ) -> Result<bool, ChatError> {
        let forwarded = forwarded_at.is_some();
        if let Some(id) = &msg.msg_id {
            if !self.store.first_seen(g.id, &author.member_id, id)? {
                return Ok(false);
            }
        }
        // Nothing from a member who left or was removed counts (a late copy, a forward);
        // an unknown member's forwarded messages do (history).
        if !author.status.is_current() && author.status != Status::Unknown {
            return Ok(true);
        }
        match msg.event {
            ChatEvent::MsgNew { text } => {
                if author.role < MemberRole::Author {
                    return Ok(true);
                }
                let it = self.store.add_group_item(
                    g.id,
                    NewGroupItem {
                        member: Some(author.id),
                        text: &text,
                        ts_ms: forwarded_at.unwrap_or_else(now_ms),
                        forwarded,
                        msg_id: msg.msg_id.as_deref(),
                    },
                )?;
                self.last_chat = Some(group_chat(&g.name));
                self.print(gv::item(Local::now(), g, Some(&author.name), &it));
                self.emit_with(|chat| {
                    Ok(ChatResponse::NewChatItems {
                        user: chat.api_user(),
                        chat_items: vec![chat.api_group_item(g, &it)?],
                    })
                });
            }
            ChatEvent::Info(p) => self.member_profile(author, &p)?,
            ChatEvent::Group(ev) => self.group_event(g, author, ev, forwarded).await?,
            ChatEvent::MsgNewFile(f) => {
                self.group_file_invitation(g, author, msg.msg_id.as_deref(), &f, forwarded)?
            }
            ChatEvent::File(ev) => self.group_file_event(g, author, ev, forwarded)?,
            _ => {}
        }
        Ok(true)
    }

    /// `x.info` in a group (chat version 7): the member's new profile.
    fn member_profile(&mut self, m: &Member, p: &Profile) -> Result<(), ChatError> {
        if m.profile != *p && m.contact_id.is_none() {
            // A contact's new profile comes on its own connection too (module `chat`).
            self.store.update_member_profile(m, p)?;
        }
        Ok(())
    }

    /// A group event from `by` (`forwarded`: it came inside `x.grp.msg.forward`, where only
    /// the events a host forwards are taken).
    async fn group_event(
        &mut self,
        g: &Group,
        by: &Member,
        ev: GroupEvent,
        forwarded: bool,
    ) -> Result<(), ChatError> {
        if forwarded && !is_forwarded(ev.name()) {
            return Ok(());
        }
        match ev {
            GroupEvent::MemNew { member_info, .. } if by.role >= MemberRole::Admin => {
                self.member_announced(g, by, member_info)?
            }
            GroupEvent::MemIntro { member_info, .. } if by.category == Category::Host => {
                self.member_introduced(g, by, member_info).await?
            }
            GroupEvent::MemInv {
                member_id,
                member_intro,
            } if by.category == Category::Invitee => {
                if let Some(re) = self.store.member_by_member_id(g.id, &member_id)? {
                    let fwd = GroupEvent::MemFwd {
                        member_info: member_info(by),
                        member_intro,
                    };
                    self.send_to_member(&re, fwd).await?;
                }
            }
            GroupEvent::MemFwd {
                member_info,
                member_intro,
            } if by.role >= MemberRole::Admin => {
                self.join_forwarded(g, by, member_info, &member_intro.group_conn_req)
                    .await?
            }
            GroupEvent::Info { group_profile } if by.role == MemberRole::Owner => {
                let new = self.store.update_group_profile(g.id, &group_profile)?;
                self.print(gv::updated(g, &new, Some(by)));
                self.emit_group(g, |chat, user, from_group| {
                    Ok(ChatResponse::GroupUpdated {
                        user,
                        from_group,
                        to_group: chat.api_group(&new)?,
                        member: Some(chat.api_member(by)?),
                    })
                });
            }
            GroupEvent::LinkMem { profile } if by.category == Category::Host => {
                self.store.set_member_peer(by.id, None, Some(&profile))?;
            }
            GroupEvent::MemCon { member_id } => {
                if let Some(other) = self.store.member_by_member_id(g.id, &member_id)? {
                    self.store.set_intro_connected(by.id, other.id)?;
                }
            }
            GroupEvent::MemRole { member_id, role } if by.role >= MemberRole::Admin => {
                self.role_changed(g, by, &member_id, role)?
            }
            GroupEvent::MemDel { member_id, .. } if by.role >= MemberRole::Admin => {
                self.member_removed(g, by, &member_id).await?
            }
            GroupEvent::Leave {} => {
                self.store.set_member_status(by.id, Status::Left)?;
                self.close_connection(by).await;
                self.say(gv::says(g, &format!("{} left the group", gv::member(by))));
                self.emit_group(g, |chat, user, group_info| {
                    let m = chat
                        .store
                        .member_by_id(by.id)?
                        .unwrap_or_else(|| by.clone());
                    Ok(ChatResponse::LeftMember {
                        user,
                        group_info,
                        member: chat.api_member(&m)?,
                    })
                });
            }
            GroupEvent::Del {} if by.role == MemberRole::Owner => {
                let me = self.store.membership(g.id)?;
                self.store.set_member_status(me.id, Status::GroupDeleted)?;
                for o in self.store.members(g.id)? {
                    self.close_connection(&o).await;
                }
                self.forget_chat(g);
                self.print(gv::deleted_by(g, by));
                self.emit_group(g, |chat, user, group_info| {
                    Ok(ChatResponse::GroupDeleted {
                        user,
                        group_info,
                        member: chat.api_member(by)?,
                    })
                });
            }
            GroupEvent::MsgForward {
                member_id: Some(author_id),
                msg,
                member_name,
                msg_ts,
            } if by.role >= MemberRole::Admin && !forwarded => {
                let author = match self.store.member_by_member_id(g.id, &author_id)? {
                    Some(a) => a,
                    None => match member_name {
                        Some(name) => self.unknown_member(g, by, &author_id, &name)?,
                        None => return Ok(()),
                    },
                };
                if let Ok(inner) = ChatMessage::from_value(msg) {
                    // Shown at the time the host gives (history keeps its times).
                    let ts = chrono::DateTime::parse_from_rfc3339(&msg_ts)
                        .map_or_else(|_| now_ms(), |t| t.timestamp_millis());
                    let fresh = Box::pin(self.group_message(g, &author, inner, Some(ts))).await?;
                    if !fresh && author.status == Status::Connected {
                        // It came directly too: the host may stop forwarding between us.
                        let con = GroupEvent::MemCon {
                            member_id: author.member_id.clone(),
                        };
                        self.send_to_member(by, con).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The author of a forwarded message we were never introduced to (history from a
    /// member who left): a member record with the name the host gave, as the reference's.
    fn unknown_member(
        &mut self,
        g: &Group,
        by: &Member,
        member_id: &str,
        name: &str,
    ) -> Result<Member, ChatError> {
        self.say(gv::says(
            g,
            &format!(
                "{} forwarded a message from an unknown member, creating unknown member record {}",
                gv::member(by),
                crate::view::view_name(name)
            ),
        ));
        Ok(self.store.add_member(
            g.id,
            &NewMember {
                member_id,
                role: MemberRole::Author,
                category: Category::Pre,
                status: Status::Unknown,
                profile: &Profile::new(name),
                contact_id: None,
                invited_by: Some(by.id),
                peer_version: None,
            },
        )?)
    }

    /// `x.grp.mem.new`: a member who joined after us, announced by the host.
    fn member_announced(
        &mut self,
        g: &Group,
        by: &Member,
        info: MemberInfo,
    ) -> Result<(), ChatError> {
        if self
            .store
            .member_by_member_id(g.id, &info.member_id)?
            .is_some()
        {
            return Ok(());
        }
        let m = self.store.add_member(
            g.id,
            &NewMember {
                member_id: &info.member_id,
                role: info.member_role,
                category: Category::Post,
                status: Status::Announced,
                profile: &info.profile,
                contact_id: None,
                invited_by: Some(by.id),
                peer_version: info.v.as_deref(),
            },
        )?;
        self.say(gv::says(
            g,
            &format!(
                "{} added {} to the group (connecting...)",
                gv::member(by),
                gv::full_member(&m)
            ),
        ));
        self.emit_group(g, |chat, user, group_info| {
            Ok(ChatResponse::JoinedGroupMemberConnecting {
                user,
                group_info,
                host_member: chat.api_member(by)?,
                member: chat.api_member(&m)?,
            })
        });
        Ok(())
    }

    /// `x.grp.mem.intro`: a member who was there before us; we make the invitation for it
    /// and give the link to the host (`x.grp.mem.inv`).
    async fn member_introduced(
        &mut self,
        g: &Group,
        host: &Member,
        info: MemberInfo,
    ) -> Result<(), ChatError> {
        if self
            .store
            .member_by_member_id(g.id, &info.member_id)?
            .is_some()
        {
            return Ok(());
        }
        let (conn_id, link) = self.agent.create_connection().await?;
        let m = self.store.add_member(
            g.id,
            &NewMember {
                member_id: &info.member_id,
                role: info.member_role,
                category: Category::Pre,
                status: Status::IntroInv,
                profile: &info.profile,
                contact_id: None,
                invited_by: Some(host.id),
                peer_version: info.v.as_deref(),
            },
        )?;
        self.store.set_member_conn(m.id, Some(&conn_id))?;
        let inv = GroupEvent::MemInv {
            member_id: info.member_id,
            member_intro: crate::protocol::group::IntroInvitation {
                group_conn_req: link,
                direct_conn_req: None,
            },
        };
        self.send_to_member(host, inv).await?;
        Ok(())
    }

    /// `x.grp.mem.fwd`: the new member's link; we join it with our `x.grp.mem.info`.
    async fn join_forwarded(
        &mut self,
        g: &Group,
        by: &Member,
        info: MemberInfo,
        link: &str,
    ) -> Result<(), ChatError> {
        let m = match self.store.member_by_member_id(g.id, &info.member_id)? {
            Some(m) if m.conn_id.is_some() => return Ok(()),
            Some(m) => m,
            None => self.store.add_member(
                g.id,
                &NewMember {
                    member_id: &info.member_id,
                    role: info.member_role,
                    category: Category::Post,
                    status: Status::Announced,
                    profile: &info.profile,
                    contact_id: None,
                    invited_by: Some(by.id),
                    peer_version: info.v.as_deref(),
                },
            )?,
        };
        let me = self.store.membership(g.id)?;
        let mine = GroupEvent::MemInfo {
            member_id: me.member_id,
            profile: self.user.clone(),
        };
        let conn_info = ChatMessage::new(ChatEvent::Group(mine)).to_bytes();
        let conn_id = self.agent.join_connection(link, &conn_info).await?;
        self.store.set_member_conn(m.id, Some(&conn_id))?;
        self.store.set_member_status(m.id, Status::Accepted)?;
        Ok(())
    }

    /// `x.grp.mem.role`.
    fn role_changed(
        &mut self,
        g: &Group,
        by: &Member,
        member_id: &str,
        role: MemberRole,
    ) -> Result<(), ChatError> {
        let Some(m) = self.store.member_by_member_id(g.id, member_id)? else {
            return Ok(());
        };
        // As the reference: an admin changes roles up to its own, of members up to its own.
        if m.role == role || by.role < m.role || by.role < role {
            return Ok(());
        }
        self.store.set_member_role(m.id, role)?;
        let whose = (m.category != Category::User).then_some(&m);
        self.say(gv::role_changed(g, by, whose, m.role, role));
        self.emit_group(g, |chat, user, group_info| {
            let now = Member { role, ..m.clone() };
            Ok(ChatResponse::MemberRole {
                user,
                group_info,
                by_member: chat.api_member(by)?,
                member: chat.api_member(&now)?,
                from_role: m.role,
                to_role: role,
            })
        });
        Ok(())
    }

    /// `x.grp.mem.del`: a member removed, or this user.
    async fn member_removed(
        &mut self,
        g: &Group,
        by: &Member,
        member_id: &str,
    ) -> Result<(), ChatError> {
        let Some(m) = self.store.member_by_member_id(g.id, member_id)? else {
            return Ok(());
        };
        // Only a member of at least the removed member's role removes it.
        if !m.status.is_current() || by.role < m.role {
            return Ok(());
        }
        self.store.set_member_status(m.id, Status::Removed)?;
        if m.category == Category::User {
            for o in self.store.members(g.id)? {
                self.close_connection(&o).await;
            }
            self.forget_chat(g);
            self.print(vec![
                gv::says(g, &format!("{} removed you from the group", gv::member(by))),
                gv::preserved(g),
            ]);
            self.emit_group(g, |chat, user, group_info| {
                Ok(ChatResponse::DeletedMemberUser {
                    user,
                    group_info,
                    member: chat.api_member(by)?,
                    with_messages: false,
                })
            });
        } else {
            self.close_connection(&m).await;
            self.say(gv::says(
                g,
                &format!(
                    "{} removed {} from the group",
                    gv::member(by),
                    gv::member(&m)
                ),
            ));
            self.emit_group(g, |chat, user, group_info| {
                let removed = Member {
                    status: Status::Removed,
                    conn_id: None,
                    ..m.clone()
                };
                Ok(ChatResponse::DeletedMember {
                    user,
                    group_info,
                    by_member: chat.api_member(by)?,
                    deleted_member: chat.api_member(&removed)?,
                    with_messages: false,
                })
            });
        }
        Ok(())
    }

    /// Deletes a member connection (the member left or was removed, or the group is gone).
    async fn close_connection(&mut self, m: &Member) {
        if let Some(conn) = &m.conn_id {
            if let Err(e) = self.agent.delete_connection(conn).await {
                self.say(crate::view::agent_error(&e));
            }
            let _ = self.store.set_member_conn(m.id, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::max_version;

    #[test]
    fn version_ranges_as_sent() {
        assert_eq!(max_version(Some("1-8")), 8);
        assert_eq!(max_version(Some("1-16")), 16);
        assert_eq!(max_version(Some("4")), 4);
        assert_eq!(max_version(Some("x")), 1);
        assert_eq!(max_version(None), 1);
    }
}
