//! The records of the bot API, declared once with the reference's JSON names
//! (`bots/api/TYPES.md`): records use the Haskell field names (camelCase, a trailing `_`
//! kept where the reference has one), sums are tagged with `"type"`, and absent optional
//! fields are left out, never `null`.
//!
//! Only what this client has is filled in; fields for features it lacks carry the
//! reference's neutral values (no tags, no custom data, default preferences).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::protocol::{ChatPeerType, Profile};

/// The chat protocol versions we speak, as the API reports them (`1-8`, see
/// [`crate::protocol::CHAT_VERSION_RANGE`]).
pub const CHAT_VERSION_MIN: u32 = 1;
/// The highest chat protocol version we speak.
pub const CHAT_VERSION_MAX: u32 = 8;

/// A version range (`VersionRange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionRange {
    /// The lowest.
    pub min_version: u32,
    /// The highest.
    pub max_version: u32,
}

impl VersionRange {
    /// Our chat protocol range.
    pub fn chat() -> Self {
        VersionRange {
            min_version: CHAT_VERSION_MIN,
            max_version: CHAT_VERSION_MAX,
        }
    }
}

/// A profile with its local ID and alias (`LocalProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalProfile {
    /// The profile's row ID.
    pub profile_id: i64,
    /// The display name.
    pub display_name: String,
    /// The full name (possibly empty).
    pub full_name: String,
    /// A bot's or a person's profile, when the profile says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_type: Option<ChatPeerType>,
    /// The local alias (always empty here).
    pub local_alias: String,
}

impl LocalProfile {
    /// The local form of a profile.
    pub fn of(profile_id: i64, p: &Profile) -> Self {
        LocalProfile {
            profile_id,
            display_name: p.display_name.clone(),
            full_name: p.full_name.clone(),
            peer_type: p.peer_type,
            local_alias: String::new(),
        }
    }
}

/// Whether a feature is allowed (`FeatureAllowed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureAllowed {
    /// Always, whatever the other side says.
    Always,
    /// If the other side allows it too.
    Yes,
    /// No.
    No,
}

/// A feature preference (`SimplePreference`; with `ttl` for `TimedMessagesPreference`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preference {
    /// Allowed or not.
    pub allow: FeatureAllowed,
    /// Timed messages only: their time to live, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

fn pref(allow: FeatureAllowed) -> Preference {
    Preference { allow, ttl: None }
}

/// The features of a chat, in the reference's order, with its defaults for a new user
/// (`defaultChatPrefs`): what contacts who see no preferences in our profile assume.
const FEATURES: [(&str, FeatureAllowed); 7] = [
    ("timedMessages", FeatureAllowed::Yes),
    ("fullDelete", FeatureAllowed::No),
    ("reactions", FeatureAllowed::Yes),
    ("voice", FeatureAllowed::Yes),
    ("files", FeatureAllowed::Always),
    ("calls", FeatureAllowed::Yes),
    ("sessions", FeatureAllowed::No),
];

/// A user's preferences, all of them set (`FullPreferences`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FullPreferences {
    /// Timed (disappearing) messages.
    pub timed_messages: Preference,
    /// Deleting messages for everyone.
    pub full_delete: Preference,
    /// Reactions.
    pub reactions: Preference,
    /// Voice messages.
    pub voice: Preference,
    /// Files.
    pub files: Preference,
    /// Calls.
    pub calls: Preference,
    /// Sessions.
    pub sessions: Preference,
    /// A bot's commands (none).
    pub commands: Vec<Value>,
}

impl Default for FullPreferences {
    fn default() -> Self {
        let [t, d, r, v, f, c, s] = FEATURES.map(|(_, a)| pref(a));
        FullPreferences {
            timed_messages: t,
            full_delete: d,
            reactions: r,
            voice: v,
            files: f,
            calls: c,
            sessions: s,
            commands: Vec::new(),
        }
    }
}

/// The user (`User`). This client has one user, ID 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's ID.
    pub user_id: i64,
    /// The agent's user ID: a string in the reference's JSON (`strToJSON`).
    pub agent_user_id: String,
    /// The ID of the user's own contact record.
    pub user_contact_id: i64,
    /// The user's local name.
    pub local_display_name: String,
    /// The profile.
    pub profile: LocalProfile,
    /// The preferences.
    pub full_preferences: FullPreferences,
    /// The active user (always).
    pub active_user: bool,
    /// Its place in the order of activation.
    pub active_order: i64,
    /// Notifications shown.
    pub show_ntfs: bool,
    /// Delivery receipts sent to contacts.
    pub send_rcpts_contacts: bool,
    /// Delivery receipts sent to small groups.
    pub send_rcpts_small_groups: bool,
    /// Contacts with group members accepted automatically.
    pub auto_accept_member_contacts: bool,
    /// A client service user.
    pub client_service: bool,
}

/// The ID of this client's only user.
pub const USER_ID: i64 = 1;

impl User {
    /// The user with this profile.
    pub fn of(p: &Profile) -> Self {
        User {
            user_id: USER_ID,
            agent_user_id: USER_ID.to_string(),
            user_contact_id: 0,
            local_display_name: p.display_name.clone(),
            profile: LocalProfile::of(0, p),
            full_preferences: FullPreferences::default(),
            active_user: true,
            active_order: 1,
            show_ntfs: true,
            send_rcpts_contacts: true,
            send_rcpts_small_groups: true,
            auto_accept_member_contacts: false,
            client_service: false,
        }
    }
}

/// A user with the count of unread items (`UserInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// The user.
    pub user: User,
    /// Unread items (not tracked here: 0).
    pub unread_count: i64,
}

/// A new user's description (`NewUser`), read leniently: a missing boolean is false and
/// unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    /// The profile (the reference asks for one on the terminal when it is missing).
    #[serde(default)]
    pub profile: Option<Profile>,
    /// Back-dated creation (ignored).
    #[serde(default)]
    pub past_timestamp: bool,
    /// A client service user (not supported).
    #[serde(default)]
    pub client_service: bool,
}

/// A link as created: the full one and its short form (`CreatedConnLink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedConnLink {
    /// The full link.
    pub conn_full_link: String,
    /// The short link, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn_short_link: Option<String>,
}

/// What accepting requests through the address does (`AutoAccept`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoAccept {
    /// Accept with an incognito profile (not supported here: always false).
    #[serde(default)]
    pub accept_incognito: bool,
}

/// The address's settings (`AddressSettings`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressSettings {
    /// A business address (not supported here).
    #[serde(default)]
    pub business_address: bool,
    /// Requests are accepted automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_accept: Option<AutoAccept>,
    /// The message sent to a contact accepted automatically, once it is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_reply: Option<MsgContent>,
}

/// The user's address (`UserContactLink`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserContactLink {
    /// Its ID (one address: 1).
    pub user_contact_link_id: i64,
    /// The links.
    pub conn_link_contact: CreatedConnLink,
    /// The short link carries the profile.
    pub short_link_data_set: bool,
    /// The short link carries large data (never here).
    pub short_link_large_data_set: bool,
    /// The settings.
    pub address_settings: AddressSettings,
}

/// Message content (`MsgContent`). Sending supports `text`; the other kinds are read so
/// that a request naming them gets a clear error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum MsgContent {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A file's caption.
    File {
        /// The caption.
        text: String,
    },
    /// A link with its preview.
    Link {
        /// The text.
        text: String,
        /// The preview.
        preview: Value,
    },
    /// An image.
    Image {
        /// The caption.
        text: String,
        /// The image, as a data URI.
        image: String,
    },
}

impl MsgContent {
    /// The text part.
    pub fn text(&self) -> &str {
        match self {
            MsgContent::Text { text }
            | MsgContent::File { text }
            | MsgContent::Link { text, .. }
            | MsgContent::Image { text, .. } => text,
        }
    }
}

/// A message to send (`ComposedMessage`); `filePath` is the legacy name of `fileSource`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComposedMessage {
    /// A file to send with it.
    #[serde(default)]
    pub file_source: Option<CryptoFile>,
    /// The legacy form of `fileSource`.
    #[serde(default)]
    pub file_path: Option<String>,
    /// A quoted item (not supported).
    #[serde(default)]
    pub quoted_item_id: Option<i64>,
    /// The content.
    pub msg_content: MsgContent,
    /// Mentions (groups; ignored).
    #[serde(default)]
    pub mentions: Map<String, Value>,
}

impl ComposedMessage {
    /// A text (the console's `@name text`, `#group text`).
    pub fn text(text: String) -> Self {
        ComposedMessage {
            file_source: None,
            file_path: None,
            quoted_item_id: None,
            msg_content: MsgContent::Text { text },
            mentions: Map::new(),
        }
    }

    /// A file without a caption (the console's `/f`).
    pub fn file(path: String) -> Self {
        ComposedMessage {
            file_path: Some(path),
            msg_content: MsgContent::File {
                text: String::new(),
            },
            ..ComposedMessage::text(String::new())
        }
    }

    /// The file to send, when there is one.
    pub fn file_to_send(&self) -> Option<&str> {
        self.file_source
            .as_ref()
            .map(|f| f.file_path.as_str())
            .or(self.file_path.as_deref())
    }
}

/// A local file, possibly encrypted (`CryptoFile`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CryptoFile {
    /// Its path.
    pub file_path: String,
    /// Its encryption (not supported).
    #[serde(default)]
    pub crypto_args: Option<Value>,
}

/// The status of a connection (`ConnStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConnStatus {
    /// Created, waiting for the other side.
    #[serde(rename = "new")]
    New,
    /// Joined, waiting for the other side.
    #[serde(rename = "joined")]
    Joined,
    /// Accepted, securing.
    #[serde(rename = "accepted")]
    Accepted,
    /// Can send.
    #[serde(rename = "snd-ready")]
    SndReady,
    /// Ready both ways.
    #[serde(rename = "ready")]
    Ready,
    /// Deleted.
    #[serde(rename = "deleted")]
    Deleted,
}

/// A connection (`Connection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Its ID (the contact's here).
    pub conn_id: i64,
    /// The agent's ID, base64url.
    pub agent_conn_id: String,
    /// The chat version agreed.
    pub conn_chat_version: u32,
    /// The peer's versions.
    pub peer_chat_v_range: VersionRange,
    /// The depth of introductions (0: direct).
    pub conn_level: i64,
    /// Made through a group link.
    pub via_group_link: bool,
    /// What it is for.
    pub conn_type: &'static str,
    /// Its status.
    pub conn_status: ConnStatus,
    /// We began it.
    pub contact_conn_initiated: bool,
    /// The local alias (empty).
    pub local_alias: String,
    /// The entity (contact) it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<i64>,
    /// Post-quantum encryption supported.
    pub pq_support: bool,
    /// Post-quantum encryption in use.
    pub pq_encryption: bool,
    /// Authentication errors counted.
    pub auth_err_counter: i64,
    /// Quota errors counted.
    pub quota_err_counter: i64,
    /// When it was made.
    pub created_at: String,
}

/// A contact's status (`ContactStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContactStatus {
    /// Active.
    Active,
    /// Deleted by the contact.
    Deleted,
    /// Deleted by the user.
    DeletedByUser,
}

/// A chat's settings (`ChatSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSettings {
    /// Which messages notify: `all`.
    pub enable_ntfs: &'static str,
    /// A favourite chat.
    pub favorite: bool,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            enable_ntfs: "all",
            favorite: false,
        }
    }
}

/// Whether a feature is on, each way (`PrefEnabled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefEnabled {
    /// For the user.
    pub for_user: bool,
    /// For the contact.
    pub for_contact: bool,
}

/// Where the user's preference for a contact comes from (`ContactUserPref`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ContactUserPref {
    /// Set for this contact.
    Contact {
        /// The preference.
        preference: Preference,
    },
    /// The user's general one.
    User {
        /// The preference.
        preference: Preference,
    },
}

/// One feature between the user and a contact (`ContactUserPreference`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactUserPreference {
    /// Whether it is on.
    pub enabled: PrefEnabled,
    /// The user's preference.
    pub user_preference: ContactUserPref,
    /// The contact's.
    pub contact_preference: Preference,
}

/// All features between the user and a contact (`ContactUserPreferences`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactUserPreferences {
    /// Timed messages.
    pub timed_messages: ContactUserPreference,
    /// Deleting for everyone.
    pub full_delete: ContactUserPreference,
    /// Reactions.
    pub reactions: ContactUserPreference,
    /// Voice messages.
    pub voice: ContactUserPreference,
    /// Files.
    pub files: ContactUserPreference,
    /// Calls.
    pub calls: ContactUserPreference,
    /// Sessions.
    pub sessions: ContactUserPreference,
}

impl Default for ContactUserPreferences {
    /// The merged preferences of a contact whose profile states none (this client neither
    /// sends nor stores preferences): both sides have the defaults.
    fn default() -> Self {
        let [t, d, r, v, f, c, s] = FEATURES.map(|(_, allow)| {
            // Both sides the same: on both ways unless it is `no` (`prefEnabled`).
            let on = allow != FeatureAllowed::No;
            ContactUserPreference {
                enabled: PrefEnabled {
                    for_user: on,
                    for_contact: on,
                },
                user_preference: ContactUserPref::User {
                    preference: pref(allow),
                },
                contact_preference: pref(allow),
            }
        });
        ContactUserPreferences {
            timed_messages: t,
            full_delete: d,
            reactions: r,
            voice: v,
            files: f,
            calls: c,
            sessions: s,
        }
    }
}

/// A contact (`Contact`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Its ID.
    pub contact_id: i64,
    /// Its unique local name.
    pub local_display_name: String,
    /// Its profile.
    pub profile: LocalProfile,
    /// Its connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_conn: Option<Connection>,
    /// Used in a chat.
    pub contact_used: bool,
    /// Its status.
    pub contact_status: ContactStatus,
    /// The chat's settings.
    pub chat_settings: ChatSettings,
    /// The user's preferences for it (none set).
    pub user_preferences: Map<String, Value>,
    /// The preferences in force.
    pub merged_preferences: ContactUserPreferences,
    /// When it was made.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// A group invitation was sent through it.
    pub contact_grp_inv_sent: bool,
    /// Its tags (none).
    pub chat_tags: Vec<i64>,
    /// The chat was deleted (the contact kept).
    pub chat_deleted: bool,
}

/// A connection not yet a contact (`PendingContactConnection`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingContactConnection {
    /// Its ID.
    pub pcc_conn_id: i64,
    /// The agent's ID, base64url.
    pub pcc_agent_conn_id: String,
    /// Its status.
    pub pcc_conn_status: ConnStatus,
    /// Made through an address.
    pub via_contact_uri: bool,
    /// Its invitation link, for one we made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn_link_inv: Option<CreatedConnLink>,
    /// The local alias (empty).
    pub local_alias: String,
    /// When it was made.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// A request received at the address (`UserContactRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserContactRequest {
    /// Its ID (`/_accept ID`).
    pub contact_request_id: i64,
    /// The agent's invitation ID, base64url.
    pub agent_invitation_id: String,
    /// The address it came through.
    #[serde(rename = "userContactLinkId_")]
    pub user_contact_link_id: i64,
    /// The requester's chat versions.
    pub c_req_chat_v_range: VersionRange,
    /// Its unique local name.
    pub local_display_name: String,
    /// The profile's ID.
    pub profile_id: i64,
    /// The requester's profile.
    pub profile: Profile,
    /// When it came.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Post-quantum encryption supported.
    pub pq_support: bool,
}
