//! The bot API's side of the controller: commands with structured responses
//! ([`Chat::api_command`]), the records built from the chat database, and events
//! ([`Chat::emit_with`]) for an [`Output`] that takes them.

use chrono::{DateTime, SecondsFormat, Utc};
use simplex_encoding::string::base64url_encode;

use super::connect::ConnectOutcome;
use super::{Chat, Output, SendOutcome};
use crate::api::command::{parse_api, ApiCommand};
use crate::api::errors::{AgentErrorType, ChatError, ChatErrorType, StoreError, TypeOnly};
use crate::api::items::{
    AChat, AChatItem, CIContent, CIDirection, CIMeta, CIStatus, ChatInfo, ChatItem, ChatStats,
    MsgReceiptStatus, RcvDirectEvent, SndError, SndProgress,
};
use crate::api::response::{ChatResponse, CoreVersionInfo};
use crate::api::types::{
    self, AddressSettings, ConnStatus, Connection, ContactStatus, CreatedConnLink, LocalProfile,
    MsgContent, PendingContactConnection, User, UserContactLink, UserContactRequest, UserInfo,
    VersionRange, USER_ID,
};
use crate::command::{parse, Command};
use crate::store::files::FileChat;
use crate::store::{self, ItemStatus};

pub(super) type ApiResult = Result<ChatResponse, ChatError>;

/// ISO-8601 UTC with milliseconds, as the reference's times (`2024-01-02T03:04:05.678Z`).
pub fn iso_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl<O: Output> Chat<O> {
    /// Builds a record for the output when it takes records; a failure to build one is
    /// reported as a `chatError` event instead.
    pub(super) fn emit_with(&mut self, f: impl FnOnce(&Self) -> ApiResult) {
        if !self.out.structured() {
            return;
        }
        let r = f(self).unwrap_or_else(|chat_error| ChatResponse::ChatError { chat_error });
        self.out.record(r);
    }

    /// `hostConnected` / `hostDisconnected` for a relay.
    pub(super) fn emit_host(&mut self, up: bool, server: &smp_proto::SmpServer) {
        self.emit_with(|_| {
            let protocol = "smp";
            let transport_host = crate::view::server_hosts(server);
            Ok(if up {
                ChatResponse::HostConnected {
                    protocol,
                    transport_host,
                }
            } else {
                ChatResponse::HostDisconnected {
                    protocol,
                    transport_host,
                }
            })
        });
    }

    /// The user, as the API shows it.
    pub fn api_user(&self) -> User {
        User::of(&self.user)
    }

    /// A contact, as the API shows it.
    pub(crate) fn api_contact(&self, c: &store::Contact) -> Result<types::Contact, ChatError> {
        let created = iso_time(self.store.contact_created_at(c.id)?.saturating_mul(1000));
        let status = if c.deleted {
            ContactStatus::Deleted
        } else {
            ContactStatus::Active
        };
        let conn_status = match (c.deleted, c.ready) {
            (true, _) => ConnStatus::Deleted,
            (false, true) => ConnStatus::Ready,
            (false, false) => ConnStatus::Joined,
        };
        Ok(types::Contact {
            contact_id: c.id,
            local_display_name: c.name.clone(),
            profile: LocalProfile::of(c.id, &c.profile),
            active_conn: Some(Connection {
                conn_id: c.id,
                agent_conn_id: base64url_encode(&c.conn_id),
                conn_chat_version: types::CHAT_VERSION_MAX,
                peer_chat_v_range: VersionRange::chat(),
                conn_level: 0,
                via_group_link: false,
                conn_type: "contact",
                conn_status,
                contact_conn_initiated: false,
                local_alias: String::new(),
                entity_id: Some(c.id),
                pq_support: true,
                pq_encryption: false,
                auth_err_counter: 0,
                quota_err_counter: 0,
                created_at: created.clone(),
            }),
            contact_used: true,
            contact_status: status,
            chat_settings: types::ChatSettings::default(),
            user_preferences: serde_json::Map::new(),
            merged_preferences: types::ContactUserPreferences::default(),
            created_at: created.clone(),
            updated_at: created,
            contact_grp_inv_sent: false,
            chat_tags: Vec::new(),
            chat_deleted: false,
        })
    }

    /// A contact request, as the API shows it.
    pub(crate) fn api_request(
        &self,
        r: &store::ContactRequest,
    ) -> Result<UserContactRequest, ChatError> {
        let now = iso_time(Utc::now().timestamp_millis());
        Ok(UserContactRequest {
            contact_request_id: r.id,
            agent_invitation_id: base64url_encode(&r.inv_id),
            user_contact_link_id: 1,
            c_req_chat_v_range: VersionRange::chat(),
            local_display_name: r.name.clone(),
            profile_id: r.id,
            profile: r.profile.clone(),
            created_at: now.clone(),
            updated_at: now,
            pq_support: true,
        })
    }

    /// An item of a contact's chat, as the API shows it.
    pub(crate) fn api_item(
        &self,
        c: &store::Contact,
        it: &store::ChatItem,
    ) -> Result<AChatItem, ChatError> {
        Ok(AChatItem {
            chat_info: ChatInfo::Direct {
                contact: Box::new(self.api_contact(c)?),
            },
            chat_item: chat_item(it),
        })
    }

    /// Runs a command for the bot API: one response, or `chatCmdError`.
    pub async fn api_command(&mut self, line: &str) -> ChatResponse {
        let r = match parse_api(line) {
            Some(Ok(cmd)) => self.run_api(cmd).await,
            Some(Err(message)) => Err(ChatError::command(message)),
            None => self.api_console(line).await,
        };
        r.unwrap_or_else(ChatResponse::from)
    }

    /// A console command sent through the API: the ones with a structured answer.
    async fn api_console(&mut self, line: &str) -> ApiResult {
        let cmd = parse(line).map_err(|e| ChatError::command(e.to_string()))?;
        let accept = matches!(cmd, Command::Accept(_));
        match cmd {
            Command::Send { name, text } => {
                let c = self.api_contact_by_name(&name)?;
                self.api_send(&c, &[MsgContent::Text { text }]).await
            }
            Command::Accept(name) | Command::Reject(name) => {
                let req = self.store.request_by_name(&name)?.ok_or_else(|| {
                    ChatError::store(StoreError::ContactRequestNotFoundByName {
                        contact_name: name.clone(),
                    })
                })?;
                self.api_accept_reject(req, accept).await
            }
            Command::Contacts => self.run_api(ApiCommand::ListContacts(None)).await,
            Command::Delete(name) => {
                let c = self.api_contact_by_name(&name)?;
                self.run_api(ApiCommand::DeleteChat(c.id)).await
            }
            cmd @ (Command::NewGroup { .. }
            | Command::AddMember { .. }
            | Command::JoinGroup(_)
            | Command::SendGroup { .. }
            | Command::Members(_)
            | Command::Groups
            | Command::Leave(_)
            | Command::RemoveMember { .. }
            | Command::ChangeRole { .. }
            | Command::DeleteGroup(_)
            | Command::UpdateGroupProfile { .. }
            | Command::CreateGroupLink(_)
            | Command::ShowGroupLink(_)
            | Command::DeleteGroupLink(_)
            | Command::SendFile { .. }) => {
                let api = self.api_console_group(cmd)?;
                Box::pin(self.run_api(api)).await
            }
            _ => Err(ChatError::command(format!(
                "not supported in the bot API yet: {}",
                line.split_whitespace().next().unwrap_or_default()
            ))),
        }
    }

    pub(super) fn api_contact_by_name(&self, name: &str) -> Result<store::Contact, ChatError> {
        self.store.contact_by_name(name)?.ok_or_else(|| {
            ChatError::store(StoreError::ContactNotFoundByName {
                contact_name: name.to_owned(),
            })
        })
    }

    pub(super) fn api_contact_by_id(&self, id: i64) -> Result<store::Contact, ChatError> {
        self.store
            .contact_by_id(id)?
            .ok_or(ChatError::store(StoreError::ContactNotFound {
                contact_id: id,
            }))
    }

    /// Runs a parsed API command.
    async fn run_api(&mut self, cmd: ApiCommand) -> ApiResult {
        match cmd {
            c @ (ApiCommand::ShowActiveUser
            | ApiCommand::CreateActiveUser(_)
            | ApiCommand::ListUsers
            | ApiCommand::Version) => self.api_user_command(c),
            c @ (ApiCommand::CreateMyAddress(_)
            | ApiCommand::ShowMyAddress(_)
            | ApiCommand::DeleteMyAddress(_)
            | ApiCommand::SetAddressSettings(..)) => self.api_address_command(c).await,
            c @ (ApiCommand::NewGroup(..)
            | ApiCommand::AddMember { .. }
            | ApiCommand::JoinGroup(_)
            | ApiCommand::MembersRole { .. }
            | ApiCommand::RemoveMembers { .. }
            | ApiCommand::LeaveGroup(_)
            | ApiCommand::ListMembers(_)
            | ApiCommand::ListGroups(_)
            | ApiCommand::UpdateGroupProfile(..)
            | ApiCommand::CreateGroupLink(..)
            | ApiCommand::GroupLinkMemberRole(..)
            | ApiCommand::DeleteGroupLink(_)
            | ApiCommand::GetGroupLink(_)
            | ApiCommand::SendGroupMessages { .. }
            | ApiCommand::GetGroupChat { .. }
            | ApiCommand::DeleteGroup(_)) => self.api_group_command(c).await,
            c @ (ApiCommand::ReceiveFile { .. } | ApiCommand::CancelFile(_)) => {
                self.api_file_command(c).await
            }
            c => self.api_chat_command(c).await,
        }
    }

    /// The user and versions.
    fn api_user_command(&self, cmd: ApiCommand) -> ApiResult {
        let user = self.api_user();
        match cmd {
            ApiCommand::ShowActiveUser => Ok(ChatResponse::ActiveUser { user }),
            ApiCommand::CreateActiveUser(nu) => {
                let name = nu.profile.map(|p| p.display_name).unwrap_or_default();
                Err(if name == self.user.display_name {
                    ChatError::chat(ChatErrorType::UserExists { contact_name: name })
                } else {
                    ChatError::command(format!(
                        "this client has one user, and it exists: {}",
                        self.user.display_name
                    ))
                })
            }
            ApiCommand::ListUsers => Ok(ChatResponse::UsersList {
                users: vec![UserInfo {
                    user,
                    unread_count: 0,
                }],
            }),
            ApiCommand::Version => Ok(ChatResponse::VersionInfo {
                version_info: CoreVersionInfo::current(),
                chat_migrations: Vec::new(),
                agent_migrations: Vec::new(),
            }),
            _ => Err(ChatError::command("not a user command")),
        }
    }

    /// The address.
    async fn api_address_command(&mut self, cmd: ApiCommand) -> ApiResult {
        let user = self.api_user();
        match cmd {
            ApiCommand::CreateMyAddress(u) => {
                check_user(u)?;
                match self.create_address().await? {
                    Some(l) => Ok(ChatResponse::UserContactLinkCreated {
                        user,
                        conn_link_contact: CreatedConnLink {
                            conn_full_link: l.full,
                            conn_short_link: l.short,
                        },
                    }),
                    None => Err(ChatError::store(StoreError::DuplicateContactLink)),
                }
            }
            ApiCommand::ShowMyAddress(u) => {
                check_user(u)?;
                let contact_link = self.api_address().await?;
                Ok(ChatResponse::UserContactLink { user, contact_link })
            }
            ApiCommand::DeleteMyAddress(u) => {
                check_user(u)?;
                if self.delete_address().await? {
                    Ok(ChatResponse::UserContactLinkDeleted { user })
                } else {
                    Err(ChatError::store(StoreError::UserContactLinkNotFound))
                }
            }
            ApiCommand::SetAddressSettings(u, s) => {
                check_user(u)?;
                self.api_address_settings(s).await
            }
            _ => Err(ChatError::command("not an address command")),
        }
    }

    /// Connections, requests, messages and contacts.
    async fn api_chat_command(&mut self, cmd: ApiCommand) -> ApiResult {
        let user = self.api_user();
        let accept = matches!(cmd, ApiCommand::AcceptContact(_));
        match cmd {
            ApiCommand::AddContact(u) => {
                check_user(u)?;
                let (conn_id, l) = self.create_invitation().await?;
                let link = CreatedConnLink {
                    conn_full_link: l.full,
                    conn_short_link: l.short,
                };
                let connection = self.api_pending(&conn_id, Some(link.clone()))?;
                Ok(ChatResponse::Invitation {
                    user,
                    conn_link_invitation: link,
                    connection,
                })
            }
            ApiCommand::Connect(u, link) => {
                check_user(u)?;
                self.api_connect(&link).await
            }
            ApiCommand::ConnectPlan(u, link) => {
                check_user(Some(u))?;
                self.api_connect_plan(&link).await
            }
            ApiCommand::AcceptContact(id) | ApiCommand::RejectContact(id) => {
                let req = self.store.request_by_id(id)?.ok_or(ChatError::store(
                    StoreError::ContactRequestNotFound {
                        contact_request_id: id,
                    },
                ))?;
                self.api_accept_reject(req, accept).await
            }
            ApiCommand::SendMessages {
                contact_id,
                messages,
            } => {
                let c = self.api_contact_by_id(contact_id)?;
                let mut chat_items = Vec::new();
                for m in messages {
                    if m.file_to_send().is_some() {
                        chat_items.push(self.api_send_file_contact(&c, m).await?);
                        continue;
                    }
                    if let ChatResponse::NewChatItems {
                        chat_items: sent, ..
                    } = self.api_send(&c, &[m.msg_content]).await?
                    {
                        chat_items.extend(sent);
                    }
                }
                Ok(ChatResponse::NewChatItems { user, chat_items })
            }
            ApiCommand::ListContacts(u) => {
                check_user(u)?;
                let contacts = self
                    .store
                    .contacts()?
                    .iter()
                    .map(|c| self.api_contact(c))
                    .collect::<Result<_, _>>()?;
                Ok(ChatResponse::ContactsList { user, contacts })
            }
            ApiCommand::GetChat { contact_id, count } => {
                let c = self.api_contact_by_id(contact_id)?;
                let chat = self.api_chat(&c, count)?;
                Ok(ChatResponse::ApiChat { user, chat })
            }
            ApiCommand::GetChats(u) => {
                check_user(u)?;
                let mut chats = Vec::new();
                for c in self.store.contacts()? {
                    chats.push(self.api_chat(&c, 1)?);
                }
                for g in self.store.groups()? {
                    chats.push(self.api_group_chat(&g, 1)?);
                }
                Ok(ChatResponse::ApiChats { user, chats })
            }
            ApiCommand::DeleteChat(id) => {
                let c = self.api_contact_by_id(id)?;
                let contact = self.api_contact(&c)?;
                self.delete_contact(&c).await?;
                if self.last_chat.as_deref() == Some(c.name.as_str()) {
                    self.last_chat = None;
                }
                Ok(ChatResponse::ContactDeleted { user, contact })
            }
            _ => Err(ChatError::command("not a chat command")),
        }
    }
    async fn api_address(&mut self) -> Result<UserContactLink, ChatError> {
        let l = self
            .show_address()
            .await?
            .ok_or(ChatError::store(StoreError::UserContactLinkNotFound))?;
        Ok(UserContactLink {
            user_contact_link_id: 1,
            short_link_data_set: l.short.is_some(),
            conn_link_contact: CreatedConnLink {
                conn_full_link: l.full,
                conn_short_link: l.short,
            },
            short_link_large_data_set: false,
            address_settings: self.address_settings()?,
        })
    }

    async fn api_address_settings(&mut self, s: AddressSettings) -> ApiResult {
        if s.business_address {
            return Err(ChatError::command("business addresses are not supported"));
        }
        if s.auto_accept.as_ref().is_some_and(|a| a.accept_incognito) {
            return Err(ChatError::command("incognito profiles are not supported"));
        }
        if let Some(MsgContent::Text { .. }) | None = &s.auto_reply {
        } else {
            return Err(ChatError::command("the auto-reply can only be text"));
        }
        // The address must exist before its settings are saved.
        self.api_address().await?;
        self.set_address_settings(&s)?;
        let contact_link = self.api_address().await?;
        Ok(ChatResponse::UserContactLinkUpdated {
            user: self.api_user(),
            contact_link,
        })
    }

    async fn api_connect(&mut self, link: &str) -> ApiResult {
        let user = self.api_user();
        match self.connect_link(link).await? {
            ConnectOutcome::SentConfirmation(conn_id) => Ok(ChatResponse::SentConfirmation {
                user,
                connection: self.api_pending(&conn_id, None)?,
                custom_user_profile: None,
            }),
            ConnectOutcome::SentInvitation(conn_id) => Ok(ChatResponse::SentInvitation {
                user,
                connection: self.api_pending(&conn_id, None)?,
                custom_user_profile: None,
            }),
            ConnectOutcome::AlreadyExists(c) => Ok(ChatResponse::ContactAlreadyExists {
                user,
                contact: self.api_contact(&c)?,
            }),
            ConnectOutcome::BadLink => Err(ChatError::chat(ChatErrorType::InvalidConnReq)),
            ConnectOutcome::OwnLink => Err(ChatError::command(
                "this is your own link: you cannot connect to yourself",
            )),
            ConnectOutcome::LinkUsed => Err(link_used()),
        }
    }

    async fn api_accept_reject(&mut self, req: store::ContactRequest, accept: bool) -> ApiResult {
        let user = self.api_user();
        if accept {
            let c = self.accept_request(&req).await?;
            Ok(ChatResponse::AcceptingContactRequest {
                user,
                contact: self.api_contact(&c)?,
            })
        } else {
            let contact_request = self.api_request(&req)?;
            self.reject_request(&req).await?;
            Ok(ChatResponse::ContactRequestRejected {
                user,
                contact_request,
            })
        }
    }

    /// Sends texts to a contact: the sent items.
    async fn api_send(&mut self, c: &store::Contact, contents: &[MsgContent]) -> ApiResult {
        let mut items = Vec::new();
        for content in contents {
            let MsgContent::Text { text } = content else {
                return Err(ChatError::command(
                    "only text messages can be sent through the bot API yet",
                ));
            };
            match self.send_text(c, text).await? {
                SendOutcome::Sent(it) => items.push(self.api_item(c, &it)?),
                SendOutcome::NotReady if c.deleted => {
                    return Err(ChatError::chat(ChatErrorType::ContactNotActive {
                        contact: Box::new(self.api_contact(c)?),
                    }))
                }
                SendOutcome::NotReady => {
                    return Err(ChatError::chat(ChatErrorType::ContactNotReady {
                        contact: Box::new(self.api_contact(c)?),
                    }))
                }
                SendOutcome::TooLarge => {
                    return Err(ChatError::ErrorAgent {
                        agent_error: AgentErrorType::Cmd {
                            cmd_err: TypeOnly { tag: "LARGE" },
                            err_context: "message too large".to_owned(),
                        },
                        agent_conn_id: base64url_encode(&c.conn_id),
                    })
                }
            }
        }
        Ok(ChatResponse::NewChatItems {
            user: self.api_user(),
            chat_items: items,
        })
    }

    fn api_chat(&self, c: &store::Contact, count: u32) -> Result<AChat, ChatError> {
        let items = self.store.last_items(Some(c.id), count)?;
        Ok(AChat {
            chat_info: ChatInfo::Direct {
                contact: Box::new(self.api_contact(c)?),
            },
            chat_items: self.with_file_items(
                FileChat::Contact(c.id),
                items.iter().map(chat_item).collect(),
                count,
            )?,
            chat_stats: ChatStats::default(),
        })
    }

    fn api_pending(
        &self,
        conn_id: &[u8],
        link: Option<CreatedConnLink>,
    ) -> Result<PendingContactConnection, ChatError> {
        let now = iso_time(Utc::now().timestamp_millis());
        let via_contact_uri = link.is_none()
            && self
                .store
                .pending(conn_id)?
                .is_some_and(|k| k == store::PendingKind::Request);
        Ok(PendingContactConnection {
            pcc_conn_id: self.store.pending_row_id(conn_id)?.unwrap_or(0),
            pcc_agent_conn_id: base64url_encode(conn_id),
            pcc_conn_status: if link.is_some() {
                ConnStatus::New
            } else {
                ConnStatus::Joined
            },
            via_contact_uri,
            conn_link_inv: link,
            local_alias: String::new(),
            created_at: now.clone(),
            updated_at: now,
        })
    }
}

/// Commands name the user by ID: this client's only user is 1.
/// A one-time link used already (or deleted): the relay's `AUTH`, as the reference reports it.
pub(super) fn link_used() -> ChatError {
    ChatError::ErrorAgent {
        agent_error: AgentErrorType::Smp {
            server_address: String::new(),
            smp_err: TypeOnly { tag: "AUTH" },
        },
        agent_conn_id: String::new(),
    }
}

pub(super) fn check_user(u: Option<i64>) -> Result<(), ChatError> {
    match u {
        Some(id) if id != USER_ID => {
            Err(ChatError::store(StoreError::UserNotFound { user_id: id }))
        }
        _ => Ok(()),
    }
}

/// An item of a contact's chat.
fn chat_item(it: &store::ChatItem) -> ChatItem {
    let text = MsgContent::Text {
        text: it.text.clone(),
    };
    let complete = SndProgress::Complete;
    let (status, content) = match (it.sent, it.status) {
        (false, ItemStatus::Event) => (
            CIStatus::RcvNew,
            CIContent::RcvDirectEvent {
                rcv_direct_event: RcvDirectEvent::ContactDeleted,
            },
        ),
        (false, _) => (
            CIStatus::RcvNew,
            CIContent::RcvMsgContent { msg_content: text },
        ),
        (true, s) => {
            let status = match s {
                ItemStatus::New => CIStatus::SndNew,
                ItemStatus::Rcvd => CIStatus::SndRcvd {
                    msg_rcpt_status: MsgReceiptStatus::Ok,
                    snd_progress: complete,
                },
                ItemStatus::RcvdBadHash => CIStatus::SndRcvd {
                    msg_rcpt_status: MsgReceiptStatus::BadMsgHash,
                    snd_progress: complete,
                },
                ItemStatus::Error => CIStatus::SndError {
                    agent_error: SndError::Other {
                        snd_error: "delivery failed".to_owned(),
                    },
                },
                _ => CIStatus::SndSent {
                    snd_progress: complete,
                },
            };
            (status, CIContent::SndMsgContent { msg_content: text })
        }
    };
    ChatItem {
        chat_dir: if it.sent {
            CIDirection::DirectSnd
        } else {
            CIDirection::DirectRcv
        },
        meta: item_meta(it.id, it.ts_ms, &it.text, status, None),
        content,
        mentions: serde_json::Map::new(),
        reactions: Vec::new(),
        file: None,
    }
}

/// An item's facts (`CIMeta`).
pub(super) fn item_meta(
    id: i64,
    ts_ms: i64,
    text: &str,
    status: CIStatus,
    shared_msg_id: Option<String>,
) -> CIMeta {
    let ts = iso_time(ts_ms);
    CIMeta {
        item_id: id,
        item_ts: ts.clone(),
        item_text: text.to_owned(),
        item_status: status,
        item_shared_msg_id: shared_msg_id,
        item_edited: false,
        user_mention: false,
        deletable: false,
        editable: false,
        show_group_as_sender: false,
        created_at: ts.clone(),
        updated_at: ts,
    }
}
