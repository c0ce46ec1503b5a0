//! What the bot API sends: responses to commands and events, one tagged union
//! (`ChatResponse` and `ChatEvent` of the reference, which share the `{"resp": …}`
//! envelope), and the envelope itself.

use serde::Serialize;

use super::errors::{AgentErrorType, ChatError};
use super::files::{FileTransferMeta, RcvFileDescr, RcvFileTransfer, SndFileTransfer};
use super::groups::{Group, GroupInfo, GroupLink, GroupMember};
use super::items::{AChat, AChatItem};
use super::types::{
    Contact, CreatedConnLink, PendingContactConnection, Profile, User, UserContactLink,
    UserContactRequest, UserInfo,
};
use crate::protocol::group::MemberRole;

/// The reference release whose bot API this client implements: bot libraries check
/// `versionInfo.version` against the releases they know. Our own version is beside it in
/// [`CoreVersionInfo::simplex_rs_version`].
pub const REFERENCE_CHAT_VERSION: &str = "6.5.4";
/// The simplexmq release of that reference release's protocols.
pub const REFERENCE_SIMPLEXMQ_VERSION: &str = "6.5.5.0";

/// Versions (`CoreVersionInfo`), with ours added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreVersionInfo {
    /// The reference chat release whose API this is.
    pub version: String,
    /// Its simplexmq release.
    pub simplexmq_version: String,
    /// The reference's commit field: here the name and version of this implementation.
    pub simplexmq_commit: String,
    /// This implementation's version (not in the reference: clients ignore it).
    pub simplex_rs_version: String,
}

impl CoreVersionInfo {
    /// Ours.
    pub fn current() -> Self {
        let ours = env!("CARGO_PKG_VERSION");
        CoreVersionInfo {
            version: REFERENCE_CHAT_VERSION.to_owned(),
            simplexmq_version: REFERENCE_SIMPLEXMQ_VERSION.to_owned(),
            simplexmq_commit: format!("simplex-rs {ours}"),
            simplex_rs_version: ours.to_owned(),
        }
    }
}

/// A response or an event; the tag is the reference's constructor without its `CR` or
/// `CEvt` prefix.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ChatResponse {
    /// The active user.
    ActiveUser {
        /// The user.
        user: User,
    },
    /// All users.
    UsersList {
        /// The users.
        users: Vec<UserInfo>,
    },
    /// The address was created.
    UserContactLinkCreated {
        /// The user.
        user: User,
        /// Its links.
        conn_link_contact: CreatedConnLink,
    },
    /// The address.
    UserContactLink {
        /// The user.
        user: User,
        /// The address.
        contact_link: UserContactLink,
    },
    /// The address's settings changed.
    UserContactLinkUpdated {
        /// The user.
        user: User,
        /// The address.
        contact_link: UserContactLink,
    },
    /// The address was deleted.
    UserContactLinkDeleted {
        /// The user.
        user: User,
    },
    /// A one-time invitation was created.
    Invitation {
        /// The user.
        user: User,
        /// Its links.
        conn_link_invitation: CreatedConnLink,
        /// The connection waiting for the other side.
        connection: PendingContactConnection,
    },
    /// A one-time invitation was joined.
    SentConfirmation {
        /// The user.
        user: User,
        /// The connection.
        connection: PendingContactConnection,
        /// An incognito profile (never here).
        #[serde(skip_serializing_if = "Option::is_none")]
        custom_user_profile: Option<Profile>,
    },
    /// A request was sent to an address.
    SentInvitation {
        /// The user.
        user: User,
        /// The connection.
        connection: PendingContactConnection,
        /// An incognito profile (never here).
        #[serde(skip_serializing_if = "Option::is_none")]
        custom_user_profile: Option<Profile>,
    },
    /// What connecting through a link would do (`/_connect plan`).
    ConnectionPlan {
        /// The user.
        user: User,
        /// The link: the full one (read from a short link's data where it was read, else
        /// the link as given) and the short one given.
        conn_link: CreatedConnLink,
        /// The plan.
        connection_plan: super::plan::ConnectionPlan,
    },
    /// The link is a contact's the user has.
    ContactAlreadyExists {
        /// The user.
        user: User,
        /// The contact.
        contact: Contact,
    },
    /// A request is being accepted (a response to `/_accept`, or an event when requests
    /// are accepted automatically).
    AcceptingContactRequest {
        /// The user.
        user: User,
        /// The new contact.
        contact: Contact,
    },
    /// A request was rejected.
    ContactRequestRejected {
        /// The user.
        user: User,
        /// The request.
        contact_request: UserContactRequest,
    },
    /// New items: sent ones (the response to a send) or received ones (an event).
    NewChatItems {
        /// The user.
        user: User,
        /// The items.
        chat_items: Vec<AChatItem>,
    },
    /// The user's contacts.
    ContactsList {
        /// The user.
        user: User,
        /// The contacts.
        contacts: Vec<Contact>,
    },
    /// A chat with its items.
    ApiChat {
        /// The user.
        user: User,
        /// The chat.
        chat: AChat,
    },
    /// Chats with their last items.
    ApiChats {
        /// The user.
        user: User,
        /// The chats.
        chats: Vec<AChat>,
    },
    /// A contact was deleted.
    ContactDeleted {
        /// The user.
        user: User,
        /// The contact.
        contact: Contact,
    },
    /// Versions.
    VersionInfo {
        /// Ours.
        version_info: CoreVersionInfo,
        /// The chat database's migrations (not listed).
        chat_migrations: Vec<String>,
        /// The agent database's migrations (not listed).
        agent_migrations: Vec<String>,
    },
    /// Done.
    CmdOk {
        /// The user.
        #[serde(rename = "user_", skip_serializing_if = "Option::is_none")]
        user: Option<User>,
    },
    /// A command failed.
    ChatCmdError {
        /// How.
        chat_error: ChatError,
    },
    // Groups: responses.
    /// A group was created.
    GroupCreated {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
    },
    /// A contact was invited to a group.
    SentGroupInvitation {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The contact.
        contact: Contact,
        /// Its membership.
        member: GroupMember,
    },
    /// An invitation was accepted; the user joins once connected (`userJoinedGroup`).
    UserAcceptedGroupSent {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The contact who invited the user.
        #[serde(skip_serializing_if = "Option::is_none")]
        host_contact: Option<Contact>,
    },
    /// Members' role was changed by the user.
    MembersRoleUser {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The members.
        members: Vec<GroupMember>,
        /// Their new role.
        to_role: MemberRole,
        /// Signed messages (never here).
        msg_signed: bool,
    },
    /// The user removed members.
    UserDeletedMembers {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The members.
        members: Vec<GroupMember>,
        /// Their messages were removed too (never here).
        with_messages: bool,
        /// Signed messages (never here).
        msg_signed: bool,
    },
    /// The user left a group.
    LeftMemberUser {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
    },
    /// A group's members.
    GroupMembers {
        /// The user.
        user: User,
        /// The group with its members.
        group: Group,
    },
    /// The user's groups.
    GroupsList {
        /// The user.
        user: User,
        /// The groups.
        groups: Vec<GroupInfo>,
    },
    /// A group's profile changed (a response to `/_group_profile`, or an event when the
    /// owner changed it).
    GroupUpdated {
        /// The user.
        user: User,
        /// The group before.
        from_group: GroupInfo,
        /// The group now.
        to_group: GroupInfo,
        /// The member who changed it (absent when it was the user).
        #[serde(rename = "member_", skip_serializing_if = "Option::is_none")]
        member: Option<GroupMember>,
    },
    /// The user deleted a group.
    GroupDeletedUser {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// Signed messages (never here).
        msg_signed: bool,
        /// Deleted only here (the user was no longer in it).
        local_deletion: bool,
    },
    /// A group link was created.
    GroupLinkCreated {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The link.
        group_link: GroupLink,
    },
    /// A group's link.
    GroupLink {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The link.
        group_link: GroupLink,
    },
    /// A group link was deleted.
    GroupLinkDeleted {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
    },
    // Groups: events.
    /// A contact invited the user to a group.
    ReceivedGroupInvitation {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The contact.
        contact: Contact,
        /// The inviting member's role.
        from_member_role: MemberRole,
        /// The role the user is invited as.
        member_role: MemberRole,
    },
    /// The user joined a group (connected to its host).
    UserJoinedGroup {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The member who invited the user.
        host_member: GroupMember,
    },
    /// A member the user invited (or who came through the group link) joined.
    JoinedGroupMember {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The member.
        member: GroupMember,
    },
    /// A request through the user's group link is being accepted: the requester becomes a
    /// member (the reference's `acceptingGroupJoinRequestMember`, not in its bot docs).
    AcceptingGroupJoinRequestMember {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The new member.
        member: GroupMember,
    },
    /// The host announced a new member, who will connect to the user.
    JoinedGroupMemberConnecting {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The host.
        host_member: GroupMember,
        /// The new member.
        member: GroupMember,
    },
    /// The user is joining a group through its link (the host accepted).
    GroupLinkConnecting {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The host.
        host_member: GroupMember,
    },
    /// The user is connected to another member.
    ConnectedToGroupMember {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The member.
        member: GroupMember,
    },
    /// A member's role (or the user's) was changed by another member.
    MemberRole {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// Who changed it.
        by_member: GroupMember,
        /// Whose.
        member: GroupMember,
        /// The role before.
        from_role: MemberRole,
        /// The role now.
        to_role: MemberRole,
    },
    /// Another member was removed.
    DeletedMember {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// Who removed it.
        by_member: GroupMember,
        /// The member removed.
        deleted_member: GroupMember,
        /// Its messages were removed too (never here).
        with_messages: bool,
    },
    /// The user was removed from a group.
    DeletedMemberUser {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// Who removed the user.
        member: GroupMember,
        /// The user's messages were removed too (never here).
        with_messages: bool,
    },
    /// Another member left.
    LeftMember {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The member.
        member: GroupMember,
    },
    /// The owner deleted the group.
    GroupDeleted {
        /// The user.
        user: User,
        /// The group.
        group_info: GroupInfo,
        /// The owner.
        member: GroupMember,
    },
    // Files: responses.
    /// A file was accepted; it is received when its description is whole.
    RcvFileAccepted {
        /// The user.
        user: User,
        /// Its item.
        chat_item: AChatItem,
    },
    /// A file was accepted, but its sender had cancelled it.
    RcvFileAcceptedSndCancelled {
        /// The user.
        user: User,
        /// The file.
        rcv_file_transfer: RcvFileTransfer,
    },
    /// The user cancelled sending a file.
    SndFileCancelled {
        /// The user.
        user: User,
        /// Its item.
        #[serde(rename = "chatItem_", skip_serializing_if = "Option::is_none")]
        chat_item: Option<AChatItem>,
        /// The file.
        file_transfer_meta: FileTransferMeta,
        /// Its recipients.
        snd_file_transfers: Vec<SndFileTransfer>,
    },
    /// The user cancelled receiving a file.
    RcvFileCancelled {
        /// The user.
        user: User,
        /// Its item.
        #[serde(rename = "chatItem_", skip_serializing_if = "Option::is_none")]
        chat_item: Option<AChatItem>,
        /// The file.
        rcv_file_transfer: RcvFileTransfer,
    },
    // Files: events.
    /// A received file's description is whole: it can be downloaded.
    RcvFileDescrReady {
        /// The user.
        user: User,
        /// Its item.
        chat_item: AChatItem,
        /// The file.
        rcv_file_transfer: RcvFileTransfer,
        /// Its description.
        rcv_file_descr: RcvFileDescr,
    },
    /// A download started.
    RcvFileStart {
        /// The user.
        user: User,
        /// Its item.
        chat_item: AChatItem,
    },
    /// A file was received and saved.
    RcvFileComplete {
        /// The user.
        user: User,
        /// Its item.
        chat_item: AChatItem,
    },
    /// A file was uploaded and described to its recipients.
    #[serde(rename = "sndFileCompleteXFTP")]
    SndFileCompleteXftp {
        /// The user.
        user: User,
        /// Its item.
        chat_item: AChatItem,
        /// The file.
        file_transfer_meta: FileTransferMeta,
    },
    /// The sender cancelled a file.
    RcvFileSndCancelled {
        /// The user.
        user: User,
        /// Its item.
        chat_item: AChatItem,
        /// The file.
        rcv_file_transfer: RcvFileTransfer,
    },
    /// A recipient cancelled receiving a file.
    SndFileRcvCancelled {
        /// The user.
        user: User,
        /// Its item.
        #[serde(rename = "chatItem_", skip_serializing_if = "Option::is_none")]
        chat_item: Option<AChatItem>,
        /// The recipient's transfer.
        snd_file_transfer: SndFileTransfer,
    },
    /// A download failed.
    RcvFileError {
        /// The user.
        user: User,
        /// Its item.
        #[serde(rename = "chatItem_", skip_serializing_if = "Option::is_none")]
        chat_item: Option<AChatItem>,
        /// Why.
        agent_error: AgentErrorType,
        /// The file.
        rcv_file_transfer: RcvFileTransfer,
    },
    /// An upload failed.
    SndFileError {
        /// The user.
        user: User,
        /// Its item.
        #[serde(rename = "chatItem_", skip_serializing_if = "Option::is_none")]
        chat_item: Option<AChatItem>,
        /// The file.
        file_transfer_meta: FileTransferMeta,
        /// Why.
        error_message: String,
    },
    // Events from here on.
    /// A contact is connected.
    ContactConnected {
        /// The user.
        user: User,
        /// The contact.
        contact: Contact,
    },
    /// A request came to the address (when requests are not accepted automatically).
    ReceivedContactRequest {
        /// The user.
        user: User,
        /// The request.
        contact_request: UserContactRequest,
    },
    /// The delivery status of sent items changed.
    ChatItemsStatusesUpdated {
        /// The user.
        user: User,
        /// The items.
        chat_items: Vec<AChatItem>,
    },
    /// A contact deleted the user.
    ContactDeletedByContact {
        /// The user.
        user: User,
        /// The contact.
        contact: Contact,
    },
    /// A relay is connected.
    HostConnected {
        /// `smp`.
        protocol: &'static str,
        /// Its host.
        transport_host: String,
    },
    /// A relay was disconnected.
    HostDisconnected {
        /// `smp`.
        protocol: &'static str,
        /// Its host.
        transport_host: String,
    },
    /// Something failed outside a command.
    ChatError {
        /// How.
        chat_error: ChatError,
    },
}

impl From<ChatError> for ChatResponse {
    fn from(chat_error: ChatError) -> Self {
        ChatResponse::ChatCmdError { chat_error }
    }
}

/// One frame to a client: a response, with the request's `corrId`, or an event, without
/// the key at all (`ChatSrvResponse`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiFrame<'a> {
    /// The request's correlation ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corr_id: Option<&'a str>,
    /// The response or event itself, never wrapped in `Ok`/`Right`.
    pub resp: &'a ChatResponse,
}

impl ApiFrame<'_> {
    /// Its JSON text.
    pub fn to_json(&self) -> String {
        // Records of strings, numbers, booleans and maps with string keys: serialising
        // cannot fail; an empty object would be dropped by clients, never misread.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// A request from a client (`ChatSrvRequest`): both fields required, others ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRequest {
    /// Any string; echoed on the response.
    pub corr_id: String,
    /// A chat command.
    pub cmd: String,
}
