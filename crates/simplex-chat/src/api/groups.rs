//! Groups as the bot API shows them (`GroupInfo`, `GroupMember`, `GroupLink`, `Group`),
//! with the reference's JSON names (`bots/api/TYPES.md`). Roles, categories and statuses
//! are the reference's words, as the chat database keeps them.

use serde::{Deserialize, Serialize};

use super::types::{ChatSettings, Connection, CreatedConnLink, LocalProfile, VersionRange};
use crate::protocol::group::MemberRole;

/// A group's profile as a bot gives it (`GroupProfile`): the name is required; the other
/// fields the reference has (description, image, preferences) are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupProfile {
    /// The group's name.
    pub display_name: String,
    /// Its longer name.
    #[serde(default)]
    pub full_name: String,
}

/// A group feature's state (`GroupPreference`, `RoleGroupPreference`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPreference {
    /// `on` or `off`.
    pub enable: &'static str,
}

const ON: GroupPreference = GroupPreference { enable: "on" };
const OFF: GroupPreference = GroupPreference { enable: "off" };

/// What a group allows (`FullGroupPreferences`): what this client does — messages,
/// files and history for new members; nothing timed, no full deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FullGroupPreferences {
    /// Disappearing messages.
    pub timed_messages: GroupPreference,
    /// Direct messages between members.
    pub direct_messages: GroupPreference,
    /// Deletion for everyone.
    pub full_delete: GroupPreference,
    /// Reactions.
    pub reactions: GroupPreference,
    /// Voice messages.
    pub voice: GroupPreference,
    /// Files.
    pub files: GroupPreference,
    /// SimpleX links.
    pub simplex_links: GroupPreference,
    /// Reports.
    pub reports: GroupPreference,
    /// History for new members.
    pub history: GroupPreference,
    /// Bot commands (none).
    pub commands: Vec<serde_json::Value>,
}

impl Default for FullGroupPreferences {
    fn default() -> Self {
        FullGroupPreferences {
            timed_messages: OFF,
            direct_messages: OFF,
            full_delete: OFF,
            reactions: OFF,
            voice: OFF,
            files: ON,
            simplex_links: ON,
            reports: OFF,
            history: ON,
            commands: Vec::new(),
        }
    }
}

/// A group's counts (`GroupSummary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummary {
    /// Members in the group, this user included.
    pub current_members: i64,
}

/// Who invited a member (`InvitedBy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum InvitedBy {
    /// A contact of the user.
    Contact {
        /// The contact.
        #[serde(rename = "byContactId")]
        by_contact_id: i64,
    },
    /// The user.
    User,
    /// Someone else.
    Unknown,
}

/// A member's settings (`GroupMemberSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMemberSettings {
    /// Its messages are shown.
    pub show_messages: bool,
}

/// A member of a group, or the user's membership (`GroupMember`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMember {
    /// Its row ID (the `groupMemberId` of `/_remove`, `/_member role`).
    pub group_member_id: i64,
    /// The group.
    pub group_id: i64,
    /// Its index in the group (the row ID here).
    pub index_in_group: i64,
    /// The member ID members know it by (base64).
    pub member_id: String,
    /// Its role.
    pub member_role: MemberRole,
    /// How it is related to the user: `user`, `invitee`, `host`, `pre`, `post`.
    pub member_category: &'static str,
    /// Where it is: `invited`, `accepted`, `connected`, `creator`, `left`, ….
    pub member_status: &'static str,
    /// Its settings.
    pub member_settings: GroupMemberSettings,
    /// Blocked by an admin (never here).
    pub blocked_by_admin: bool,
    /// Who invited it.
    pub invited_by: InvitedBy,
    /// The member who invited it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_by_group_member_id: Option<i64>,
    /// Its local name.
    pub local_display_name: String,
    /// Its profile.
    pub member_profile: LocalProfile,
    /// The user's contact it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_contact_id: Option<i64>,
    /// Its profile's ID.
    pub member_contact_profile_id: i64,
    /// Its connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_conn: Option<Connection>,
    /// Its chat versions.
    pub member_chat_v_range: VersionRange,
    /// When it was added.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// A group (`GroupInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInfo {
    /// Its row ID (the `N` of `#N` in commands).
    pub group_id: i64,
    /// Through chat relays (never here).
    pub use_relays: bool,
    /// Its local name.
    pub local_display_name: String,
    /// Its profile.
    pub group_profile: GroupProfile,
    /// The local alias (empty).
    pub local_alias: String,
    /// What it allows.
    pub full_group_preferences: FullGroupPreferences,
    /// The user's membership.
    pub membership: GroupMember,
    /// Its chat's settings.
    pub chat_settings: ChatSettings,
    /// When it was made.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Tags (none).
    pub chat_tags: Vec<i64>,
    /// Its counts.
    pub group_summary: GroupSummary,
    /// Members waiting for review (none).
    pub members_require_attention: i64,
}

/// A group with its members (`Group`), the user's membership not among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The group.
    pub group_info: GroupInfo,
    /// The other members.
    pub members: Vec<GroupMember>,
}

/// A group's link (`GroupLink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLink {
    /// Its ID (the group's here: one link per group).
    pub user_contact_link_id: i64,
    /// The link.
    pub conn_link_contact: CreatedConnLink,
    /// The short link carries data (no short links for group links here).
    pub short_link_data_set: bool,
    /// Large data on the short link.
    pub short_link_large_data_set: bool,
    /// Its ID as members see it (base64url of the connection's).
    pub group_link_id: String,
    /// The role members joining through it get.
    pub accept_member_role: MemberRole,
}
