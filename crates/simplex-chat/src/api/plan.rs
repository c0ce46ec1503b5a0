//! Connection plans as the bot API shows them (`ConnectionPlan`, `InvitationLinkPlan`,
//! `ContactAddressPlan`, `GroupLinkPlan` of `bots/api/TYPES.md`), the answer to
//! `/_connect plan N LINK` (`connectionPlan`). The plan itself is the chat's
//! (`chat/plan.rs`); these are its JSON forms.

use serde::Serialize;

use super::groups::{GroupInfo, GroupProfile};
use super::types::Contact;
use crate::protocol::ContactShortLinkData;

/// What a link is (`ConnectionPlan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ConnectionPlan {
    /// A one-time invitation.
    InvitationLink {
        /// Its plan.
        invitation_link_plan: InvitationLinkPlan,
    },
    /// A contact address.
    ContactAddress {
        /// Its plan.
        contact_address_plan: ContactAddressPlan,
    },
    /// A group link.
    GroupLink {
        /// Its plan.
        group_link_plan: GroupLinkPlan,
    },
}

/// The plan of a one-time invitation (`InvitationLinkPlan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum InvitationLinkPlan {
    /// Can be joined.
    Ok {
        /// What its short link's data says.
        #[serde(rename = "contactSLinkData_", skip_serializing_if = "Option::is_none")]
        contact_s_link_data: Option<ContactShortLinkData>,
    },
    /// The user's own.
    OwnLink,
    /// Joined, the connection in progress (no contact made yet here).
    Connecting {
        /// The contact, once made.
        #[serde(rename = "contact_", skip_serializing_if = "Option::is_none")]
        contact: Option<Box<Contact>>,
    },
}

/// The plan of a contact address (`ContactAddressPlan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ContactAddressPlan {
    /// A request can be sent.
    Ok {
        /// What its short link's data says.
        #[serde(rename = "contactSLinkData_", skip_serializing_if = "Option::is_none")]
        contact_s_link_data: Option<ContactShortLinkData>,
    },
    /// The user's own.
    OwnLink,
    /// A request through it is waiting; another repeats it.
    ConnectingConfirmReconnect,
    /// The contact made through it.
    Known {
        /// The contact.
        contact: Box<Contact>,
    },
}

/// A group link's short link data (`GroupShortLinkData`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupShortLinkData {
    /// The group's profile.
    pub group_profile: GroupProfile,
}

/// The plan of a group link (`GroupLinkPlan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum GroupLinkPlan {
    /// A request to join can be sent.
    Ok {
        /// What its short link's data says.
        #[serde(rename = "groupSLinkData_", skip_serializing_if = "Option::is_none")]
        group_s_link_data: Option<GroupShortLinkData>,
    },
    /// The link of one of the user's groups.
    OwnLink {
        /// The group.
        #[serde(rename = "groupInfo")]
        group_info: Box<GroupInfo>,
    },
    /// A request through it is waiting; another repeats it.
    ConnectingConfirmReconnect,
    /// The group joined through it.
    Known {
        /// The group.
        #[serde(rename = "groupInfo")]
        group_info: Box<GroupInfo>,
    },
}
