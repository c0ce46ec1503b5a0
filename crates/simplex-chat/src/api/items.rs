//! Chat items as the bot API shows them (`AChatItem`, `ChatItem`, `CIMeta`, …), with the
//! reference's JSON names (`bots/api/TYPES.md`).

use serde::Serialize;
use serde_json::{Map, Value};

use super::files::CIFile;
use super::groups::{GroupInfo, GroupMember};
use super::types::{Contact, MsgContent, PendingContactConnection, UserContactRequest};

/// Which chat an item is in (`ChatInfo`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ChatInfo {
    /// A contact's chat.
    Direct {
        /// The contact.
        contact: Box<Contact>,
    },
    /// A group's chat.
    Group {
        /// The group.
        #[serde(rename = "groupInfo")]
        group_info: Box<GroupInfo>,
    },
    /// A contact request.
    ContactRequest {
        /// The request.
        #[serde(rename = "contactRequest")]
        contact_request: Box<UserContactRequest>,
    },
    /// A connection not yet a contact.
    ContactConnection {
        /// The connection.
        #[serde(rename = "contactConnection")]
        contact_connection: Box<PendingContactConnection>,
    },
}

/// Who wrote an item (`CIDirection`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum CIDirection {
    /// The user, in a contact's chat.
    DirectSnd,
    /// The contact.
    DirectRcv,
    /// The user, in a group.
    GroupSnd,
    /// A member of a group.
    GroupRcv {
        /// The member.
        #[serde(rename = "groupMember")]
        group_member: Box<GroupMember>,
    },
}

/// Whether the recipient has all of a sent item (`SndCIStatusProgress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SndProgress {
    /// Some recipients (groups).
    Partial,
    /// All.
    Complete,
}

/// What the recipient's receipt says (`MsgReceiptStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MsgReceiptStatus {
    /// The message arrived intact.
    Ok,
    /// The message arrived with another hash.
    BadMsgHash,
}

/// Where an item is (`CIStatus`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum CIStatus {
    /// Sent, not yet accepted by the relay.
    SndNew,
    /// Accepted by the relay.
    SndSent {
        /// Progress.
        #[serde(rename = "sndProgress")]
        snd_progress: SndProgress,
    },
    /// The recipient's receipt came.
    SndRcvd {
        /// What it says.
        #[serde(rename = "msgRcptStatus")]
        msg_rcpt_status: MsgReceiptStatus,
        /// Progress.
        #[serde(rename = "sndProgress")]
        snd_progress: SndProgress,
    },
    /// Delivery failed.
    SndError {
        /// Why (`SndError`).
        #[serde(rename = "agentError")]
        agent_error: SndError,
    },
    /// Received, unread.
    RcvNew,
    /// Received, read.
    RcvRead,
}

/// Why delivery failed (`SndError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SndError {
    /// Any failure, in words.
    Other {
        /// The words.
        #[serde(rename = "sndError")]
        snd_error: String,
    },
}

/// An event shown in a contact's chat (`RcvDirectEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RcvDirectEvent {
    /// The contact deleted us.
    ContactDeleted,
}

/// What an item holds (`CIContent`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum CIContent {
    /// A message the user sent.
    SndMsgContent {
        /// The content.
        #[serde(rename = "msgContent")]
        msg_content: MsgContent,
    },
    /// A message received.
    RcvMsgContent {
        /// The content.
        #[serde(rename = "msgContent")]
        msg_content: MsgContent,
    },
    /// An event in a contact's chat.
    RcvDirectEvent {
        /// The event.
        #[serde(rename = "rcvDirectEvent")]
        rcv_direct_event: RcvDirectEvent,
    },
}

/// An item's facts (`CIMeta`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CIMeta {
    /// Its ID.
    pub item_id: i64,
    /// When it was sent or received.
    pub item_ts: String,
    /// Its text.
    pub item_text: String,
    /// Its status.
    pub item_status: CIStatus,
    /// The ID shared with the other side, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_shared_msg_id: Option<String>,
    /// Edited (never here).
    pub item_edited: bool,
    /// Mentions the user.
    pub user_mention: bool,
    /// Can be deleted.
    pub deletable: bool,
    /// Can be edited.
    pub editable: bool,
    /// Shown as sent by the group.
    pub show_group_as_sender: bool,
    /// When it was made.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// An item of a chat (`ChatItem`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatItem {
    /// Who wrote it.
    pub chat_dir: CIDirection,
    /// Its facts.
    pub meta: CIMeta,
    /// What it holds.
    pub content: CIContent,
    /// Mentions (none).
    pub mentions: Map<String, Value>,
    /// Reactions (none).
    pub reactions: Vec<Value>,
    /// Its file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<CIFile>,
}

/// An item with its chat (`AChatItem`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AChatItem {
    /// The chat.
    pub chat_info: ChatInfo,
    /// The item.
    pub chat_item: ChatItem,
}

/// A chat with items (`AChat`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AChat {
    /// The chat.
    pub chat_info: ChatInfo,
    /// Its items, oldest first.
    pub chat_items: Vec<ChatItem>,
    /// Its counts.
    pub chat_stats: ChatStats,
}

/// A chat's counts (`ChatStats`); unread items are not tracked here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatStats {
    /// Unread items.
    pub unread_count: i64,
    /// Unread mentions.
    pub unread_mentions: i64,
    /// Reports.
    pub reports_count: i64,
    /// The first unread item.
    pub min_unread_item_id: i64,
    /// Marked unread.
    pub unread_chat: bool,
}
