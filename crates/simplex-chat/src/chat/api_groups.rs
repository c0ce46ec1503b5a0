//! The bot API's groups: the records (`GroupInfo`, `GroupMember`, group chat items) built
//! from the chat database, and the group commands, which run the terminal's own group
//! code (module `group`, `group_link`) and answer with records. When that code refuses
//! (it says why and returns nothing), the words it said become the `commandError`.

use simplex_encoding::string::base64url_encode;

use super::api::{check_user, iso_time, item_meta, ApiResult};
use super::{Chat, Output};
use crate::api::command::ApiCommand;
use crate::api::errors::{ChatError, ChatErrorType, StoreError};
use crate::api::groups::{
    FullGroupPreferences, Group as ApiGroup, GroupInfo, GroupLink as ApiGroupLink, GroupMember,
    GroupMemberSettings, GroupProfile, GroupSummary, InvitedBy,
};
use crate::api::items::{
    AChat, AChatItem, CIContent, CIDirection, CIStatus, ChatInfo, ChatItem, ChatStats, SndProgress,
};
use crate::api::response::ChatResponse;
use crate::api::types::{
    ChatSettings, ComposedMessage, ConnStatus, Connection, CreatedConnLink, LocalProfile,
    MsgContent, VersionRange, CHAT_VERSION_MAX,
};
use crate::command::Command;
use crate::protocol::group::MemberRole;
use crate::store::groups::{Category, Group, GroupItem, GroupLink, Member, Status};
use crate::view::group as gv;

/// What the group code says to a user who has not joined yet.
pub(super) const NOT_JOINED: &str = "you did not join this group yet, use /j to join";

/// What a console function gave (`None`: it refused, saying why in `said`) as the API's
/// answer.
pub(super) fn refused<T>(
    r: Result<Option<T>, super::ChatError>,
    said: Vec<String>,
) -> Result<T, ChatError> {
    match r {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(ChatError::command(if said.is_empty() {
            "refused".to_owned()
        } else {
            said.join("; ")
        })),
        Err(e) => Err(e.into()),
    }
}

/// A member's version range as sent (`1-8`), as a record.
fn v_range(v: Option<&str>) -> VersionRange {
    let mut r = VersionRange::chat();
    if let Some((a, b)) = v.and_then(|v| v.split_once('-')) {
        if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
            r = VersionRange {
                min_version: a,
                max_version: b,
            };
        }
    }
    r
}

impl<O: Output> Chat<O> {
    /// Starts keeping what console code says (for a refusal's words).
    pub(super) fn begin_capture(&mut self) {
        self.capture = Some(Vec::new());
    }

    /// What console code said since [`Self::begin_capture`].
    pub(super) fn end_capture(&mut self) -> Vec<String> {
        self.capture.take().unwrap_or_default()
    }

    /// A member, as the API shows it.
    pub(crate) fn api_member(&self, m: &Member) -> Result<GroupMember, ChatError> {
        let created = iso_time(
            self.store
                .group_created_at(m.group_id)?
                .saturating_mul(1000),
        );
        let invited_by = match (m.category, m.contact_id) {
            (Category::User, _) => InvitedBy::Unknown,
            (Category::Invitee, _) => InvitedBy::User,
            (Category::Host, Some(c)) => InvitedBy::Contact { by_contact_id: c },
            _ => InvitedBy::Unknown,
        };
        let active_conn = m.conn_id.as_ref().map(|conn| Connection {
            conn_id: m.id,
            agent_conn_id: base64url_encode(conn),
            conn_chat_version: CHAT_VERSION_MAX,
            peer_chat_v_range: v_range(m.peer_version.as_deref()),
            conn_level: 0,
            via_group_link: false,
            conn_type: "member",
            conn_status: if m.status == Status::Connected {
                ConnStatus::Ready
            } else {
                ConnStatus::Joined
            },
            contact_conn_initiated: false,
            local_alias: String::new(),
            entity_id: Some(m.id),
            pq_support: false,
            pq_encryption: false,
            auth_err_counter: 0,
            quota_err_counter: 0,
            created_at: created.clone(),
        });
        Ok(GroupMember {
            group_member_id: m.id,
            group_id: m.group_id,
            index_in_group: m.id,
            member_id: m.member_id.clone(),
            member_role: m.role,
            member_category: m.category.as_str(),
            member_status: m.status.as_str(),
            member_settings: GroupMemberSettings {
                show_messages: true,
            },
            blocked_by_admin: false,
            invited_by,
            invited_by_group_member_id: m.invited_by,
            local_display_name: m.name.clone(),
            member_profile: LocalProfile::of(m.id, &m.profile),
            member_contact_id: m.contact_id,
            member_contact_profile_id: m.id,
            active_conn,
            member_chat_v_range: v_range(m.peer_version.as_deref()),
            created_at: created.clone(),
            updated_at: created,
        })
    }

    /// A group, as the API shows it.
    pub(crate) fn api_group(&self, g: &Group) -> Result<GroupInfo, ChatError> {
        let created = iso_time(self.store.group_created_at(g.id)?.saturating_mul(1000));
        let me = self.store.membership(g.id)?;
        let current = self.current_members(g.id)?;
        Ok(GroupInfo {
            group_id: g.id,
            use_relays: false,
            local_display_name: g.name.clone(),
            group_profile: GroupProfile {
                display_name: g.profile.display_name.clone(),
                full_name: g.profile.full_name.clone(),
            },
            local_alias: String::new(),
            full_group_preferences: FullGroupPreferences::default(),
            membership: self.api_member(&me)?,
            chat_settings: ChatSettings::default(),
            created_at: created.clone(),
            updated_at: created,
            chat_tags: Vec::new(),
            group_summary: GroupSummary {
                current_members: i64::try_from(current).unwrap_or(i64::MAX),
            },
            members_require_attention: 0,
        })
    }

    /// An item of a group's chat, as the API shows it.
    pub(crate) fn api_group_item(&self, g: &Group, it: &GroupItem) -> Result<AChatItem, ChatError> {
        Ok(AChatItem {
            chat_info: ChatInfo::Group {
                group_info: Box::new(self.api_group(g)?),
            },
            chat_item: self.group_chat_item(it)?,
        })
    }

    fn group_chat_item(&self, it: &GroupItem) -> Result<ChatItem, ChatError> {
        let msg_content = MsgContent::Text {
            text: it.text.clone(),
        };
        let (chat_dir, status, content) = match (it.sent, it.member) {
            (false, Some(id)) => {
                let m = self.store.member_by_id(id)?.ok_or(ChatError::store(
                    StoreError::GroupMemberNotFound {
                        group_member_id: id,
                    },
                ))?;
                (
                    CIDirection::GroupRcv {
                        group_member: Box::new(self.api_member(&m)?),
                    },
                    CIStatus::RcvNew,
                    CIContent::RcvMsgContent { msg_content },
                )
            }
            _ => (
                CIDirection::GroupSnd,
                CIStatus::SndSent {
                    snd_progress: SndProgress::Complete,
                },
                CIContent::SndMsgContent { msg_content },
            ),
        };
        Ok(ChatItem {
            chat_dir,
            meta: item_meta(it.id, it.ts_ms, &it.text, status, it.msg_id.clone()),
            content,
            mentions: serde_json::Map::new(),
            reactions: Vec::new(),
            file: None,
        })
    }

    /// A group's chat with its last `count` items.
    pub(super) fn api_group_chat(&self, g: &Group, count: u32) -> Result<AChat, ChatError> {
        let chat_items = self
            .store
            .last_group_items(g.id, count)?
            .iter()
            .map(|it| self.group_chat_item(it))
            .collect::<Result<_, _>>()?;
        let chat_items = self.with_file_items(
            crate::store::files::FileChat::Group(g.id),
            chat_items,
            count,
        )?;
        Ok(AChat {
            chat_info: ChatInfo::Group {
                group_info: Box::new(self.api_group(g)?),
            },
            chat_items,
            chat_stats: ChatStats::default(),
        })
    }

    fn api_group_link(&self, l: &GroupLink, short: Option<String>) -> ApiGroupLink {
        ApiGroupLink {
            user_contact_link_id: l.group_id,
            conn_link_contact: CreatedConnLink {
                conn_full_link: l.link.clone(),
                conn_short_link: short,
            },
            short_link_data_set: false,
            short_link_large_data_set: false,
            group_link_id: base64url_encode(&l.conn_id),
            accept_member_role: l.role,
        }
    }

    /// What a group command's refusal is in the reference's terms: the role it lacks
    /// (`groupUserRole`), not joined yet (`groupNotJoined`), else the console's words.
    fn group_refused<T>(
        &self,
        g: &Group,
        r: Result<Option<T>, super::ChatError>,
        said: Vec<String>,
    ) -> Result<T, ChatError> {
        if let Ok(None) = &r {
            let said_it = |line: String| said.contains(&line);
            for role in [MemberRole::Member, MemberRole::Admin, MemberRole::Owner] {
                if said_it(gv::insufficient(g, role)) {
                    return Err(ChatError::chat(ChatErrorType::GroupUserRole {
                        group_info: Box::new(self.api_group(g)?),
                        required_role: role,
                    }));
                }
            }
            if said_it(gv::says(g, NOT_JOINED)) {
                return Err(ChatError::chat(ChatErrorType::GroupNotJoined {
                    group_info: Box::new(self.api_group(g)?),
                }));
            }
        }
        refused(r, said)
    }

    /// The group with this ID, or `groupNotFound`.
    pub(super) fn api_group_by_id(&self, id: i64) -> Result<Group, ChatError> {
        self.store
            .group_by_id(id)?
            .ok_or(ChatError::store(StoreError::GroupNotFound { group_id: id }))
    }

    /// The group with this local name, or `groupNotFoundByName`.
    pub(super) fn api_group_by_name(&self, name: &str) -> Result<Group, ChatError> {
        self.store.group_by_name(name)?.ok_or_else(|| {
            ChatError::store(StoreError::GroupNotFoundByName {
                group_name: name.to_owned(),
            })
        })
    }

    /// A member of this group by ID, or `groupMemberNotFound`.
    fn api_member_by_id(&self, g: &Group, id: i64) -> Result<Member, ChatError> {
        self.store
            .member_by_id(id)?
            .filter(|m| m.group_id == g.id && m.category != Category::User)
            .ok_or(ChatError::store(StoreError::GroupMemberNotFound {
                group_member_id: id,
            }))
    }

    /// A member of this group by local name, or `groupMemberNameNotFound`.
    pub(super) fn api_member_by_name(&self, g: &Group, name: &str) -> Result<Member, ChatError> {
        self.store.member_by_name(g.id, name)?.ok_or_else(|| {
            ChatError::store(StoreError::GroupMemberNameNotFound {
                group_id: g.id,
                group_member_name: name.to_owned(),
            })
        })
    }

    fn reload_member(&self, m: Member) -> Result<Member, ChatError> {
        Ok(self.store.member_by_id(m.id)?.unwrap_or(m))
    }

    /// A console group command as the API command it is (names resolved to IDs).
    pub(super) fn api_console_group(&self, cmd: Command) -> Result<ApiCommand, ChatError> {
        let profile = |name: String, full_name: String| GroupProfile {
            display_name: name,
            full_name,
        };
        Ok(match cmd {
            Command::NewGroup { name, full_name } => {
                ApiCommand::NewGroup(None, profile(name, full_name))
            }
            Command::AddMember {
                group,
                contact,
                role,
            } => ApiCommand::AddMember {
                group_id: self.api_group_by_name(&group)?.id,
                contact_id: self.api_contact_by_name(&contact)?.id,
                role,
            },
            Command::JoinGroup(g) => ApiCommand::JoinGroup(self.api_group_by_name(&g)?.id),
            Command::SendGroup { group, text } => ApiCommand::SendGroupMessages {
                group_id: self.api_group_by_name(&group)?.id,
                messages: vec![ComposedMessage::text(text)],
            },
            Command::Members(g) => ApiCommand::ListMembers(self.api_group_by_name(&g)?.id),
            Command::Groups => ApiCommand::ListGroups(None),
            Command::Leave(g) => ApiCommand::LeaveGroup(self.api_group_by_name(&g)?.id),
            Command::RemoveMember { group, member } => {
                let g = self.api_group_by_name(&group)?;
                ApiCommand::RemoveMembers {
                    group_id: g.id,
                    member_ids: vec![self.api_member_by_name(&g, &member)?.id],
                }
            }
            Command::ChangeRole {
                group,
                member,
                role,
            } => {
                let g = self.api_group_by_name(&group)?;
                ApiCommand::MembersRole {
                    group_id: g.id,
                    member_ids: vec![self.api_member_by_name(&g, &member)?.id],
                    role,
                }
            }
            Command::DeleteGroup(g) => ApiCommand::DeleteGroup(self.api_group_by_name(&g)?.id),
            Command::UpdateGroupProfile {
                group,
                name,
                full_name,
            } => ApiCommand::UpdateGroupProfile(
                self.api_group_by_name(&group)?.id,
                profile(name, full_name),
            ),
            Command::CreateGroupLink(g) => {
                ApiCommand::CreateGroupLink(self.api_group_by_name(&g)?.id, MemberRole::Member)
            }
            Command::ShowGroupLink(g) => ApiCommand::GetGroupLink(self.api_group_by_name(&g)?.id),
            Command::DeleteGroupLink(g) => {
                ApiCommand::DeleteGroupLink(self.api_group_by_name(&g)?.id)
            }
            Command::SendFile { to, path } => {
                let messages = vec![ComposedMessage::file(path)];
                match to.strip_prefix('#') {
                    Some(g) => ApiCommand::SendGroupMessages {
                        group_id: self.api_group_by_name(g)?.id,
                        messages,
                    },
                    None => ApiCommand::SendMessages {
                        contact_id: self
                            .api_contact_by_name(to.strip_prefix('@').unwrap_or(&to))?
                            .id,
                        messages,
                    },
                }
            }
            _ => return Err(ChatError::command("not a group command")),
        })
    }

    /// Runs a group command of the API.
    // One arm per command, each a call of the console's code and its record: split, they
    // would only pass the same state around.
    pub(super) async fn api_group_command(&mut self, cmd: ApiCommand) -> ApiResult {
        let user = self.api_user();
        match cmd {
            ApiCommand::NewGroup(u, p) => {
                check_user(u)?;
                self.begin_capture();
                let r = self.new_group(&p.display_name, &p.full_name);
                let g = refused(r, self.end_capture())?;
                Ok(ChatResponse::GroupCreated {
                    user,
                    group_info: self.api_group(&g)?,
                })
            }
            ApiCommand::AddMember {
                group_id,
                contact_id,
                role,
            } => {
                let g = self.api_group_by_id(group_id)?;
                let c = self.api_contact_by_id(contact_id)?;
                self.begin_capture();
                let r = self.add_member(&g.name, &c.name, role).await;
                let said = self.end_capture();
                if said.contains(&crate::view::not_ready(&c.name)) {
                    return Err(ChatError::chat(ChatErrorType::ContactNotReady {
                        contact: Box::new(self.api_contact(&c)?),
                    }));
                }
                if said.contains(&gv::already_member(&c.name)) {
                    return Err(ChatError::chat(ChatErrorType::GroupDuplicateMember {
                        contact_name: c.name.clone(),
                    }));
                }
                let m = self.group_refused(&g, r, said)?;
                let m = self.reload_member(m)?;
                Ok(ChatResponse::SentGroupInvitation {
                    user,
                    group_info: self.api_group(&g)?,
                    contact: self.api_contact(&c)?,
                    member: self.api_member(&m)?,
                })
            }
            ApiCommand::JoinGroup(id) => {
                let g = self.api_group_by_id(id)?;
                self.begin_capture();
                let r = self.join_group(&g.name).await;
                let said = self.end_capture();
                self.group_refused(&g, r, said)?;
                let host = self
                    .store
                    .members(g.id)?
                    .into_iter()
                    .find(|m| m.category == Category::Host);
                let host_contact = match host.and_then(|h| h.contact_id) {
                    Some(c) => match self.store.contact_by_id(c)? {
                        Some(c) => Some(self.api_contact(&c)?),
                        None => None,
                    },
                    None => None,
                };
                Ok(ChatResponse::UserAcceptedGroupSent {
                    user,
                    group_info: self.api_group(&g)?,
                    host_contact,
                })
            }
            ApiCommand::MembersRole {
                group_id,
                member_ids,
                role,
            } => {
                let g = self.api_group_by_id(group_id)?;
                let mut members = Vec::new();
                for id in member_ids {
                    let m = self.api_member_by_id(&g, id)?;
                    self.begin_capture();
                    let r = self.change_role(&g.name, &m.name, role).await;
                    let said = self.end_capture();
                    let m = self.group_refused(&g, r, said)?;
                    members.push(self.api_member(&self.reload_member(m)?)?);
                }
                Ok(ChatResponse::MembersRoleUser {
                    user,
                    group_info: self.api_group(&g)?,
                    members,
                    to_role: role,
                    msg_signed: false,
                })
            }
            ApiCommand::RemoveMembers {
                group_id,
                member_ids,
            } => {
                let g = self.api_group_by_id(group_id)?;
                let mut members = Vec::new();
                for id in member_ids {
                    let m = self.api_member_by_id(&g, id)?;
                    self.begin_capture();
                    let r = self.remove_member(&g.name, &m.name).await;
                    let said = self.end_capture();
                    let m = self.group_refused(&g, r, said)?;
                    members.push(self.api_member(&self.reload_member(m)?)?);
                }
                Ok(ChatResponse::UserDeletedMembers {
                    user,
                    group_info: self.api_group(&g)?,
                    members,
                    with_messages: false,
                    msg_signed: false,
                })
            }
            ApiCommand::LeaveGroup(id) => {
                let g = self.api_group_by_id(id)?;
                self.begin_capture();
                let r = self.leave_group(&g.name).await;
                let said = self.end_capture();
                self.group_refused(&g, r, said)?;
                Ok(ChatResponse::LeftMemberUser {
                    user,
                    group_info: self.api_group(&g)?,
                })
            }
            ApiCommand::ListMembers(id) => {
                let g = self.api_group_by_id(id)?;
                let members = self
                    .store
                    .members(g.id)?
                    .iter()
                    .map(|m| self.api_member(m))
                    .collect::<Result<_, _>>()?;
                Ok(ChatResponse::GroupMembers {
                    user,
                    group: ApiGroup {
                        group_info: self.api_group(&g)?,
                        members,
                    },
                })
            }
            ApiCommand::ListGroups(u) => {
                check_user(u)?;
                let groups = self
                    .store
                    .groups()?
                    .iter()
                    .map(|g| self.api_group(g))
                    .collect::<Result<_, _>>()?;
                Ok(ChatResponse::GroupsList { user, groups })
            }
            ApiCommand::UpdateGroupProfile(id, p) => {
                let g = self.api_group_by_id(id)?;
                let from_group = self.api_group(&g)?;
                self.begin_capture();
                let r = self
                    .update_group_profile(&g.name, p.display_name, p.full_name)
                    .await;
                let said = self.end_capture();
                let (_, new) = self.group_refused(&g, r, said)?;
                Ok(ChatResponse::GroupUpdated {
                    user,
                    from_group,
                    to_group: self.api_group(&new)?,
                    member: None,
                })
            }
            ApiCommand::CreateGroupLink(id, role) => {
                let g = self.api_group_by_id(id)?;
                self.begin_capture();
                let r = self.create_group_link(&g.name, role).await;
                let said = self.end_capture();
                let (g, l, short) = self.group_refused(&g, r, said)?;
                Ok(ChatResponse::GroupLinkCreated {
                    user,
                    group_info: self.api_group(&g)?,
                    group_link: self.api_group_link(&l, short),
                })
            }
            ApiCommand::GroupLinkMemberRole(id, role) => {
                self.api_show_group_link(id, Some(role)).await
            }
            ApiCommand::GetGroupLink(id) => self.api_show_group_link(id, None).await,
            ApiCommand::DeleteGroupLink(id) => {
                let g = self.api_group_by_id(id)?;
                if self.store.group_link(g.id)?.is_none() {
                    return Err(ChatError::store(StoreError::GroupLinkNotFound {
                        group_info: Box::new(self.api_group(&g)?),
                    }));
                }
                self.begin_capture();
                let r = self.delete_group_link(&g.name).await;
                let said = self.end_capture();
                self.group_refused(&g, r, said)?;
                Ok(ChatResponse::GroupLinkDeleted {
                    user,
                    group_info: self.api_group(&g)?,
                })
            }
            ApiCommand::SendGroupMessages { group_id, messages } => {
                let g = self.api_group_by_id(group_id)?;
                let mut items = Vec::new();
                for m in messages {
                    if m.file_source.is_some() || m.file_path.is_some() {
                        items.push(self.api_send_file_group(&g, m).await?);
                        continue;
                    }
                    let MsgContent::Text { text } = &m.msg_content else {
                        return Err(ChatError::command(
                            "only text messages and files can be sent through the bot API",
                        ));
                    };
                    self.begin_capture();
                    let r = self.send_group(&g.name, text).await;
                    let said = self.end_capture();
                    let it = self.group_refused(&g, r, said)?;
                    items.push(self.api_group_item(&g, &it)?);
                }
                Ok(ChatResponse::NewChatItems {
                    user,
                    chat_items: items,
                })
            }
            ApiCommand::GetGroupChat { group_id, count } => {
                let g = self.api_group_by_id(group_id)?;
                Ok(ChatResponse::ApiChat {
                    user,
                    chat: self.api_group_chat(&g, count)?,
                })
            }
            ApiCommand::DeleteGroup(id) => {
                let g = self.api_group_by_id(id)?;
                let group_info = self.api_group(&g)?;
                let me = self.store.membership(g.id)?;
                let local_deletion = matches!(
                    me.status,
                    Status::Invited | Status::Removed | Status::Left | Status::GroupDeleted
                );
                self.begin_capture();
                let r = self.delete_group(&g.name).await;
                let said = self.end_capture();
                self.group_refused(&g, r, said)?;
                Ok(ChatResponse::GroupDeletedUser {
                    user,
                    group_info,
                    msg_signed: false,
                    local_deletion,
                })
            }
            _ => Err(ChatError::command("not a group command")),
        }
    }

    /// A group's link (`/_get link`), with its role changed first (`/_set link role`).
    async fn api_show_group_link(&mut self, id: i64, role: Option<MemberRole>) -> ApiResult {
        let g = self.api_group_by_id(id)?;
        let Some(mut l) = self.store.group_link(g.id)? else {
            return Err(ChatError::store(StoreError::GroupLinkNotFound {
                group_info: Box::new(self.api_group(&g)?),
            }));
        };
        if let Some(role) = role {
            if !matches!(role, MemberRole::Observer | MemberRole::Member) {
                return Err(ChatError::command(
                    "a group link's role is observer or member",
                ));
            }
            l.role = role;
            self.store.set_group_link(&l)?;
        }
        let short = self.agent.address_short_link(&l.conn_id).await?;
        Ok(ChatResponse::GroupLink {
            user: self.api_user(),
            group_info: self.api_group(&g)?,
            group_link: self.api_group_link(&l, short),
        })
    }

    /// Builds and sends a group event for the API, when the output takes records.
    pub(super) fn emit_group(
        &mut self,
        g: &Group,
        f: impl FnOnce(&Self, crate::api::types::User, GroupInfo) -> ApiResult,
    ) {
        self.emit_with(|chat| {
            let group_info = chat.api_group(g)?;
            f(chat, chat.api_user(), group_info)
        });
    }
}
