//! The connection plan (`/_connect plan 1 LINK`, the reference's `connectPlan`): what a
//! link is (one-time invitation, contact address, group link), whether it is this user's
//! own, in progress or already known, and, for a short link, whose it is — read from its
//! link data before anything is sent to its owner. `/c LINK` consults the same plan first
//! and does not go on where the plan says so (a known contact or group, a connection in
//! progress that must not be repeated), printing the plan's lines instead, as the
//! reference's `CEConnectionPlan` does.
//!
//! Reading a one-time invitation's data secures its queue with a sender key the agent
//! keeps for the join that may follow (the reference does the same); nobody else can use
//! the invitation after that.

use simplex_agent::{AgentError, ShortLinkData};

use super::{Chat, ChatError, Output};
use crate::protocol::group::{GroupProfile, GroupShortLinkData};
use crate::protocol::{ContactShortLinkData, Profile};
use crate::store::groups::Group;
use crate::store::Contact;
use crate::view;

/// What a link is and what connecting through it would do (`ConnectionPlan`).
#[derive(Debug, Clone)]
pub enum ConnectionPlan {
    /// A one-time invitation.
    InvitationLink(InvitationLinkPlan),
    /// A contact address.
    ContactAddress(ContactAddressPlan),
    /// A group link.
    GroupLink(GroupLinkPlan),
}

/// The plan of a one-time invitation (`InvitationLinkPlan`).
#[derive(Debug, Clone)]
pub enum InvitationLinkPlan {
    /// Can be joined; the inviter's profile when its short link carries one.
    Ok(Option<Profile>),
    /// The user's own invitation.
    OwnLink,
    /// Joined already, the connection in progress.
    Connecting,
}

/// The plan of a contact address (`ContactAddressPlan`).
#[derive(Debug, Clone)]
pub enum ContactAddressPlan {
    /// A request can be sent; the owner's profile when its short link carries one.
    Ok(Option<Profile>),
    /// The user's own address.
    OwnLink,
    /// A request through it is waiting: asking again repeats the same request.
    ConnectingConfirmReconnect,
    /// The contact made through it.
    Known(Contact),
}

/// The plan of a group link (`GroupLinkPlan`).
#[derive(Debug, Clone)]
pub enum GroupLinkPlan {
    /// A request to join can be sent; the group's profile when its short link carries one.
    Ok(Option<GroupProfile>),
    /// The link of one of the user's groups.
    OwnLink(Group),
    /// A request through it is waiting: asking again repeats the same request.
    ConnectingConfirmReconnect,
    /// The group joined through it.
    Known(Group),
}

impl ConnectionPlan {
    /// Whether `/c LINK` goes on (`connectionPlanProceed`); an own link stops it here (this
    /// client does not connect a user to itself).
    pub fn proceed(&self) -> bool {
        matches!(
            self,
            ConnectionPlan::InvitationLink(InvitationLinkPlan::Ok(_))
                | ConnectionPlan::ContactAddress(
                    ContactAddressPlan::Ok(_) | ContactAddressPlan::ConnectingConfirmReconnect
                )
                | ConnectionPlan::GroupLink(
                    GroupLinkPlan::Ok(_) | GroupLinkPlan::ConnectingConfirmReconnect
                )
        )
    }

    /// Whose link it is, when its short link's data says: `alice (Alice)` or `group #team`.
    pub fn whose(&self) -> Option<String> {
        match self {
            ConnectionPlan::InvitationLink(InvitationLinkPlan::Ok(Some(p)))
            | ConnectionPlan::ContactAddress(ContactAddressPlan::Ok(Some(p))) => {
                Some(view::full_name(&p.display_name, p))
            }
            ConnectionPlan::GroupLink(GroupLinkPlan::Ok(Some(p))) => Some(format!(
                "group {}",
                view::group::full_group(&p.display_name, p)
            )),
            _ => None,
        }
    }

    /// The lines the reference prints for it (`viewConnectionPlan`), with, for a short
    /// link's data, the profile it names (the reference's terminal shows it only in its
    /// test view, as JSON).
    pub fn lines(&self) -> Vec<String> {
        let known = |what: &str, name: String, to: String| {
            vec![
                format!("{what}: known {name}"),
                format!("use {to} <message> to send messages"),
            ]
        };
        match self {
            ConnectionPlan::InvitationLink(p) => match p {
                InvitationLinkPlan::Ok(profile) => ok_lines("invitation link", profile),
                InvitationLinkPlan::OwnLink => vec!["invitation link: own link".into()],
                InvitationLinkPlan::Connecting => vec!["invitation link: connecting".into()],
            },
            ConnectionPlan::ContactAddress(p) => match p {
                ContactAddressPlan::Ok(profile) => ok_lines("contact address", profile),
                ContactAddressPlan::OwnLink => vec!["contact address: own address".into()],
                ContactAddressPlan::ConnectingConfirmReconnect => {
                    vec!["contact address: connecting, allowed to reconnect".into()]
                }
                ContactAddressPlan::Known(c) => known(
                    "contact address",
                    format!("contact {}", view::view_name(&c.name)),
                    view::chat_ref(&c.name),
                ),
            },
            ConnectionPlan::GroupLink(p) => match p {
                GroupLinkPlan::Ok(profile) => {
                    let mut lines = vec!["group link: ok to connect".to_owned()];
                    if let Some(p) = profile {
                        lines.push(format!(
                            "group: {}",
                            view::group::full_group(&p.display_name, p)
                        ));
                    }
                    lines
                }
                GroupLinkPlan::OwnLink(g) => vec![format!(
                    "group link: own link for group {}",
                    view::group::group_ref(&g.name)
                )],
                GroupLinkPlan::ConnectingConfirmReconnect => {
                    vec!["group link: connecting, allowed to reconnect".into()]
                }
                GroupLinkPlan::Known(g) => known(
                    "group link",
                    format!("group {}", view::group::group_ref(&g.name)),
                    view::group::group_ref(&g.name),
                ),
            },
        }
    }
}

fn ok_lines(what: &str, profile: &Option<Profile>) -> Vec<String> {
    let mut lines = vec![format!("{what}: ok to connect")];
    if let Some(p) = profile {
        lines.push(format!("contact: {}", view::full_name(&p.display_name, p)));
    }
    lines
}

/// Why a plan could not be made.
#[derive(Debug)]
pub enum PlanError {
    /// The link does not parse (or its data does not check).
    BadLink,
    /// The invitation was used already, or the link deleted.
    LinkUsed,
}

/// A plan and, for a short link whose data was read, the full link it stands for.
pub type Planned = (ConnectionPlan, Option<String>);

impl<O: Output> Chat<O> {
    /// The plan of `link` (as typed: full or short, either scheme).
    pub(crate) async fn connection_plan(
        &mut self,
        link: &str,
    ) -> Result<Result<ConnectionPlan, PlanError>, ChatError> {
        Ok(self.plan_link(link).await?.map(|(plan, _)| plan))
    }

    /// [`Chat::connection_plan`] with the full link read from a short link's data.
    pub(crate) async fn plan_link(
        &mut self,
        link: &str,
    ) -> Result<Result<Planned, PlanError>, ChatError> {
        let link = view::app_link(link.trim());
        if simplex_agent::Agent::check_link(&link).is_err() {
            return Ok(Err(PlanError::BadLink));
        }
        if view::is_address_link(&link) {
            if let Some((plan, full)) = self.group_link_plan(&link).await? {
                return Ok(Ok((ConnectionPlan::GroupLink(plan), full)));
            }
            return Ok(self
                .address_plan(&link)
                .await?
                .map(|(plan, full)| (ConnectionPlan::ContactAddress(plan), full)));
        }
        let known = if self.store.is_own_invitation(&link)? {
            Some(InvitationLinkPlan::OwnLink)
        } else if self.store.is_joining(&link)? {
            Some(InvitationLinkPlan::Connecting)
        } else {
            None
        };
        if let Some(plan) = known {
            return Ok(Ok((ConnectionPlan::InvitationLink(plan), None)));
        }
        Ok(self.link_data(&link).await?.map(|data| {
            let (profile, full) = contact_data(data);
            (
                ConnectionPlan::InvitationLink(InvitationLinkPlan::Ok(profile)),
                full,
            )
        }))
    }

    async fn address_plan(
        &mut self,
        link: &str,
    ) -> Result<Result<(ContactAddressPlan, Option<String>), PlanError>, ChatError> {
        let own = match self.store.address()? {
            Some((conn_id, a)) => {
                view::app_link(&a) == link
                    || self.agent.address_short_link(&conn_id).await?.as_deref() == Some(link)
            }
            None => false,
        };
        let known = if own {
            Some(ContactAddressPlan::OwnLink)
        } else if let Some(c) = self.store.contact_via_link(link)? {
            Some(ContactAddressPlan::Known(c))
        } else if self.store.pending_request_id(link)?.is_some() {
            Some(ContactAddressPlan::ConnectingConfirmReconnect)
        } else {
            None
        };
        if let Some(plan) = known {
            return Ok(Ok((plan, None)));
        }
        Ok(self.link_data(link).await?.map(|data| {
            let (profile, full) = contact_data(data);
            (ContactAddressPlan::Ok(profile), full)
        }))
    }

    /// The plan of a group link: `None` when `link` is not known as one and is not a short
    /// group link (a full group link of another user reads as a contact address).
    async fn group_link_plan(
        &mut self,
        link: &str,
    ) -> Result<Option<(GroupLinkPlan, Option<String>)>, ChatError> {
        for (group_id, conn_id, full) in self.store.group_links()? {
            let short = self.agent.address_short_link(&conn_id).await?;
            if view::app_link(&full) == link || short.as_deref() == Some(link) {
                if let Some(g) = self.store.group_by_id(group_id)? {
                    return Ok(Some((GroupLinkPlan::OwnLink(g), Some(full))));
                }
            }
        }
        if let Some(id) = self.store.group_via_link(link)? {
            if let Some(g) = self.store.group_by_id(id)? {
                return Ok(Some((GroupLinkPlan::Known(g), None)));
            }
        }
        if !is_group_short_link(link) {
            return Ok(None);
        }
        if self.store.pending_request_id(link)?.is_some() {
            return Ok(Some((GroupLinkPlan::ConnectingConfirmReconnect, None)));
        }
        // A group link whose data cannot be read is still a group link: joining it reports
        // the error.
        let data = self.link_data(link).await?.ok().flatten();
        let full = data.as_ref().map(|d| d.full.clone());
        let profile =
            data.and_then(|d| parse::<GroupShortLinkData>(&d.user_data).map(|d| d.group_profile));
        Ok(Some((GroupLinkPlan::Ok(profile), full)))
    }

    /// A short link's data (read and checked by the agent), `None` for a full link.
    async fn link_data(
        &mut self,
        link: &str,
    ) -> Result<Result<Option<ShortLinkData>, PlanError>, ChatError> {
        if !is_short_link(link) {
            return Ok(Ok(None));
        }
        match self.agent.get_short_link_data(link).await {
            Ok(d) => Ok(Ok(Some(d))),
            Err(AgentError::BadLink(_) | AgentError::Link(_)) => Ok(Err(PlanError::BadLink)),
            Err(AgentError::Smp {
                error: smp_client::ClientError::Server(smp_proto::ErrorType::Auth),
                ..
            }) => Ok(Err(PlanError::LinkUsed)),
            Err(e) => Err(e.into()),
        }
    }
}

/// The profile in a contact's short link data, and the full link it stands for.
fn contact_data(data: Option<ShortLinkData>) -> (Option<Profile>, Option<String>) {
    match data {
        Some(d) => (
            parse::<ContactShortLinkData>(&d.user_data).map(|c| c.profile),
            Some(d.full),
        ),
        None => (None, None),
    }
}

impl<O: Output> Chat<O> {
    /// `/_connect plan N LINK` for the bot API: `connectionPlan`.
    pub(super) async fn api_connect_plan(&mut self, link: &str) -> super::api::ApiResult {
        use crate::api::plan as json;
        let (plan, full) = match self.plan_link(link).await? {
            Ok(p) => p,
            Err(PlanError::BadLink) => {
                return Err(crate::api::errors::ChatError::chat(
                    crate::api::errors::ChatErrorType::InvalidConnReq,
                ))
            }
            Err(PlanError::LinkUsed) => return Err(super::api::link_used()),
        };
        let contact_data = |p: Option<Profile>| p.map(|p| ContactShortLinkData::of(&p));
        let connection_plan = match plan {
            ConnectionPlan::InvitationLink(p) => json::ConnectionPlan::InvitationLink {
                invitation_link_plan: match p {
                    InvitationLinkPlan::Ok(p) => json::InvitationLinkPlan::Ok {
                        contact_s_link_data: contact_data(p),
                    },
                    InvitationLinkPlan::OwnLink => json::InvitationLinkPlan::OwnLink,
                    InvitationLinkPlan::Connecting => {
                        json::InvitationLinkPlan::Connecting { contact: None }
                    }
                },
            },
            ConnectionPlan::ContactAddress(p) => json::ConnectionPlan::ContactAddress {
                contact_address_plan: match p {
                    ContactAddressPlan::Ok(p) => json::ContactAddressPlan::Ok {
                        contact_s_link_data: contact_data(p),
                    },
                    ContactAddressPlan::OwnLink => json::ContactAddressPlan::OwnLink,
                    ContactAddressPlan::ConnectingConfirmReconnect => {
                        json::ContactAddressPlan::ConnectingConfirmReconnect
                    }
                    ContactAddressPlan::Known(c) => json::ContactAddressPlan::Known {
                        contact: Box::new(self.api_contact(&c)?),
                    },
                },
            },
            ConnectionPlan::GroupLink(p) => json::ConnectionPlan::GroupLink {
                group_link_plan: match p {
                    GroupLinkPlan::Ok(p) => json::GroupLinkPlan::Ok {
                        group_s_link_data: p.map(|p| json::GroupShortLinkData {
                            group_profile: crate::api::groups::GroupProfile {
                                display_name: p.display_name,
                                full_name: p.full_name,
                            },
                        }),
                    },
                    GroupLinkPlan::OwnLink(g) => json::GroupLinkPlan::OwnLink {
                        group_info: Box::new(self.api_group(&g)?),
                    },
                    GroupLinkPlan::ConnectingConfirmReconnect => {
                        json::GroupLinkPlan::ConnectingConfirmReconnect
                    }
                    GroupLinkPlan::Known(g) => json::GroupLinkPlan::Known {
                        group_info: Box::new(self.api_group(&g)?),
                    },
                },
            },
        };
        let link = link.trim().to_owned();
        let conn_link = match full {
            Some(full) => crate::api::types::CreatedConnLink {
                conn_full_link: full,
                conn_short_link: Some(link),
            },
            None => crate::api::types::CreatedConnLink {
                conn_full_link: link,
                conn_short_link: None,
            },
        };
        Ok(crate::api::response::ChatResponse::ConnectionPlan {
            user: self.api_user(),
            conn_link,
            connection_plan,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

/// A short link (`https://host/{i,a,g,c}#…` or `simplex:/{i,a,g,c}#…`), not a full one.
fn is_short_link(link: &str) -> bool {
    short_link_kind(link).is_some()
}

fn is_group_short_link(link: &str) -> bool {
    short_link_kind(link) == Some('g')
}

fn short_link_kind(link: &str) -> Option<char> {
    let path = match link.strip_prefix("simplex:/") {
        Some(path) => path,
        None => link.split_once("://")?.1.split_once('/')?.1,
    };
    let mut chars = path.chars();
    let kind = chars.next()?;
    (chars.next() == Some('#') && "iagc".contains(kind)).then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_links_are_told_from_full_ones() {
        assert_eq!(short_link_kind("https://smp.example/i#abc"), Some('i'));
        assert_eq!(short_link_kind("simplex:/a#abc"), Some('a'));
        assert_eq!(short_link_kind("https://smp.example/g#abc"), Some('g'));
        assert_eq!(short_link_kind("https://simplex.chat/contact#/?v=2"), None);
        assert_eq!(
            short_link_kind("https://simplex.chat/invitation#/?v=2"),
            None
        );
        assert_eq!(short_link_kind("simplex:/invitation#/?v=2"), None);
        assert_eq!(short_link_kind("nonsense"), None);
    }

    #[test]
    fn plans_print_the_reference_lines() {
        let alice = Profile::new("alice");
        assert_eq!(
            ConnectionPlan::InvitationLink(InvitationLinkPlan::Ok(Some(alice))).lines(),
            vec!["invitation link: ok to connect", "contact: alice"]
        );
        assert_eq!(
            ConnectionPlan::ContactAddress(ContactAddressPlan::ConnectingConfirmReconnect).lines(),
            vec!["contact address: connecting, allowed to reconnect"]
        );
        assert!(
            ConnectionPlan::ContactAddress(ContactAddressPlan::ConnectingConfirmReconnect)
                .proceed()
        );
        assert!(!ConnectionPlan::InvitationLink(InvitationLinkPlan::Connecting).proceed());
        assert!(!ConnectionPlan::InvitationLink(InvitationLinkPlan::OwnLink).proceed());
    }
}
