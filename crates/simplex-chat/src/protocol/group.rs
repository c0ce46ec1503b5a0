//! The group events of the chat protocol (`x.grp.*`), declared once with serde in the
//! reference's JSON (`Protocol.hs` `appJsonToCM`/`chatToAppMessage`, types in `Types.hs`):
//! `{"event":"x.grp.…","params":{…}}` is serde's adjacently tagged enum. Optional fields
//! the reference omits when absent are omitted here too; fields this client does not use
//! (`business`, `groupSize`, `memberRestrictions`, `scope`, …) are accepted and ignored,
//! except where a message we forward must keep them (forwarded messages are passed on as
//! the JSON they came in, see [`GroupEvent::MsgForward`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Profile;

/// A member's role (`GroupMemberRole`), lowest first: the order is the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Receives only.
    Observer,
    /// Sends messages, no files (unused by this client, understood).
    Author,
    /// Sends messages.
    Member,
    /// Moderates messages.
    Moderator,
    /// Adds and removes members, changes roles up to its own.
    Admin,
    /// All of an admin's rights, deletes the group, changes the profile.
    Owner,
}

impl MemberRole {
    /// The reference's word (`strEncode`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Observer => "observer",
            MemberRole::Author => "author",
            MemberRole::Member => "member",
            MemberRole::Moderator => "moderator",
            MemberRole::Admin => "admin",
            MemberRole::Owner => "owner",
        }
    }

    /// Parses the reference's word.
    pub fn parse(s: &str) -> Option<MemberRole> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// A member ID (`MemberId`): base64url of random bytes (12 when we make one), shared by all
/// members. Kept as the text it came in (the reference pads it: `AQIDBA==`).
pub type MemberId = String;

/// A member's ID and role (`MemberIdRole`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberIdRole {
    /// The member's ID.
    pub member_id: MemberId,
    /// The member's role.
    pub member_role: MemberRole,
}

/// A group's profile (`GroupProfile`). Image, description and preferences are left out
/// (the reference treats absent preferences as its defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupProfile {
    /// The group's name, as members address it (`#team`).
    pub display_name: String,
    /// An optional longer name.
    #[serde(default)]
    pub full_name: String,
}

/// An invitation to a group sent to a contact (`GroupInvitation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInvitation {
    /// The inviting member.
    pub from_member: MemberIdRole,
    /// The invited member: its ID and the role it is invited as.
    pub invited_member: MemberIdRole,
    /// The invitation link of the member connection to join.
    pub conn_request: String,
    /// The group's profile.
    pub group_profile: GroupProfile,
    /// Present when the invitation answers a join through a group link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_link_id: Option<String>,
    /// How many members the group has (v≥? apps show it; optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<i64>,
}

/// What one member tells others about another (`MemberInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    /// The member's ID.
    pub member_id: MemberId,
    /// The member's role.
    pub member_role: MemberRole,
    /// The member's chat version range (`"1-8"`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
    /// The member's profile.
    pub profile: Profile,
}

/// The links a new member makes for an existing one (`IntroInvitation`); the direct link
/// is absent since chat version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntroInvitation {
    /// The invitation link of the member connection.
    pub group_conn_req: String,
    /// A link for a direct contact (old clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_conn_req: Option<String>,
}

/// The host's answer to a join through a group link (`GroupLinkInvitation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLinkInvitation {
    /// The host.
    pub from_member: MemberIdRole,
    /// The host's display name.
    pub from_member_name: String,
    /// The joining member: its ID and role.
    pub invited_member: MemberIdRole,
    /// The group's profile.
    pub group_profile: GroupProfile,
    /// How many members the group has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_size: Option<i64>,
}

/// What a group link's short link data carries (`GroupShortLinkData`): the group's
/// profile, shown before joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupShortLinkData {
    /// The group's profile.
    pub group_profile: GroupProfile,
}

impl GroupShortLinkData {
    /// Its JSON, as the link's user data.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A group event: `event` and `params` of a chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "params")]
pub enum GroupEvent {
    /// `x.grp.inv`: an invitation, over the contact's connection.
    #[serde(rename = "x.grp.inv", rename_all = "camelCase")]
    Inv {
        /// The invitation.
        group_invitation: GroupInvitation,
    },
    /// `x.grp.acpt`: the connection info of the invitee's join.
    #[serde(rename = "x.grp.acpt", rename_all = "camelCase")]
    Acpt {
        /// The invitee's member ID.
        member_id: MemberId,
    },
    /// `x.grp.link.inv`: the host's connection info when accepting a group link join.
    #[serde(rename = "x.grp.link.inv", rename_all = "camelCase")]
    LinkInv {
        /// The invitation.
        group_link_invitation: GroupLinkInvitation,
    },
    /// `x.grp.link.mem`: the host's profile, after a group link join connected.
    #[serde(rename = "x.grp.link.mem")]
    LinkMem {
        /// The host's profile.
        profile: Profile,
    },
    /// `x.grp.mem.new`: the host announces a new member to the others.
    #[serde(rename = "x.grp.mem.new", rename_all = "camelCase")]
    MemNew {
        /// The new member.
        member_info: MemberInfo,
        /// A support scope (knocking, v15): ignored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<Value>,
    },
    /// `x.grp.mem.intro`: the host introduces an existing member to the new one.
    #[serde(rename = "x.grp.mem.intro", rename_all = "camelCase")]
    MemIntro {
        /// The existing member.
        member_info: MemberInfo,
        /// Restrictions of that member (`blocked`): ignored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member_restrictions: Option<Value>,
    },
    /// `x.grp.mem.inv`: the new member's link for an introduced member, to the host.
    #[serde(rename = "x.grp.mem.inv", rename_all = "camelCase")]
    MemInv {
        /// The introduced (existing) member.
        member_id: MemberId,
        /// The link.
        member_intro: IntroInvitation,
    },
    /// `x.grp.mem.fwd`: the host passes that link on to the existing member.
    #[serde(rename = "x.grp.mem.fwd", rename_all = "camelCase")]
    MemFwd {
        /// The new member.
        member_info: MemberInfo,
        /// Its link.
        member_intro: IntroInvitation,
    },
    /// `x.grp.mem.info`: the connection info of a member connection's handshake.
    #[serde(rename = "x.grp.mem.info", rename_all = "camelCase")]
    MemInfo {
        /// The sender's member ID.
        member_id: MemberId,
        /// The sender's profile.
        profile: Profile,
    },
    /// `x.grp.mem.role`: a member's role changed.
    #[serde(rename = "x.grp.mem.role", rename_all = "camelCase")]
    MemRole {
        /// The member.
        member_id: MemberId,
        /// The new role.
        role: MemberRole,
    },
    /// `x.grp.mem.con`: two introduced members connected; the host stops forwarding.
    #[serde(rename = "x.grp.mem.con", rename_all = "camelCase")]
    MemCon {
        /// The member the sender connected to.
        member_id: MemberId,
    },
    /// `x.grp.mem.del`: a member was removed.
    #[serde(rename = "x.grp.mem.del", rename_all = "camelCase")]
    MemDel {
        /// The removed member.
        member_id: MemberId,
        /// Its messages are to be deleted too (sent only when true).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        messages: Option<bool>,
    },
    /// `x.grp.leave`: the sender left.
    #[serde(rename = "x.grp.leave")]
    Leave {},
    /// `x.grp.del`: the sender (an owner) deleted the group.
    #[serde(rename = "x.grp.del")]
    Del {},
    /// `x.grp.info`: the group's profile changed.
    #[serde(rename = "x.grp.info", rename_all = "camelCase")]
    Info {
        /// The new profile.
        group_profile: GroupProfile,
    },
    /// `x.grp.msg.forward`: a message of another member, passed on by the host until the
    /// two are connected. `msg` is the forwarded message's JSON object, kept as it came.
    #[serde(rename = "x.grp.msg.forward", rename_all = "camelCase")]
    MsgForward {
        /// The author's member ID (absent in channels).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member_id: Option<MemberId>,
        /// The author's display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member_name: Option<String>,
        /// When the host received it (ISO 8601, UTC).
        msg_ts: String,
        /// The message.
        msg: Value,
    },
}

impl GroupEvent {
    /// The event's name (`x.grp.…`).
    pub fn name(&self) -> &'static str {
        match self {
            GroupEvent::Inv { .. } => "x.grp.inv",
            GroupEvent::Acpt { .. } => "x.grp.acpt",
            GroupEvent::LinkInv { .. } => "x.grp.link.inv",
            GroupEvent::LinkMem { .. } => "x.grp.link.mem",
            GroupEvent::MemNew { .. } => "x.grp.mem.new",
            GroupEvent::MemIntro { .. } => "x.grp.mem.intro",
            GroupEvent::MemInv { .. } => "x.grp.mem.inv",
            GroupEvent::MemFwd { .. } => "x.grp.mem.fwd",
            GroupEvent::MemInfo { .. } => "x.grp.mem.info",
            GroupEvent::MemRole { .. } => "x.grp.mem.role",
            GroupEvent::MemCon { .. } => "x.grp.mem.con",
            GroupEvent::MemDel { .. } => "x.grp.mem.del",
            GroupEvent::Leave {} => "x.grp.leave",
            GroupEvent::Del {} => "x.grp.del",
            GroupEvent::Info { .. } => "x.grp.info",
            GroupEvent::MsgForward { .. } => "x.grp.msg.forward",
        }
    }

    /// The event names declared here.
    pub const NAMES: &'static [&'static str] = &[
        "x.grp.inv",
        "x.grp.acpt",
        "x.grp.link.inv",
        "x.grp.link.mem",
        "x.grp.mem.new",
        "x.grp.mem.intro",
        "x.grp.mem.inv",
        "x.grp.mem.fwd",
        "x.grp.mem.info",
        "x.grp.mem.role",
        "x.grp.mem.con",
        "x.grp.mem.del",
        "x.grp.leave",
        "x.grp.del",
        "x.grp.info",
        "x.grp.msg.forward",
    ];
}

/// Whether the host forwards an event of this name to members not yet connected to its
/// author (`isForwardedGroupMsg`): content and profile messages and the group changes.
pub fn is_forwarded(event: &str) -> bool {
    matches!(
        event,
        "x.msg.new"
            | "x.msg.file.descr"
            | "x.msg.update"
            | "x.msg.del"
            | "x.msg.react"
            | "x.file.cancel"
            | "x.info"
            | "x.grp.mem.new"
            | "x.grp.mem.role"
            | "x.grp.mem.restrict"
            | "x.grp.mem.del"
            | "x.grp.leave"
            | "x.grp.del"
            | "x.grp.info"
            | "x.grp.prefs"
    )
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
