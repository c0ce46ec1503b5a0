//! Connecting through a link (`/c LINK`): the outcome is computed once
//! ([`Chat::connect_link`]) and printed by the console or answered by the bot API.

use simplex_agent::AgentError;

use super::plan::{ConnectionPlan, ContactAddressPlan, InvitationLinkPlan, PlanError};
use super::{Chat, ChatError, Output};
use crate::protocol::{ChatEvent, ChatMessage};
use crate::store::{Contact, PendingKind};
use crate::view;

/// What `/c LINK` did.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// The link is the user's own.
    OwnLink,
    /// The link is the address of a contact the user has.
    AlreadyExists(Contact),
    /// A request was sent through an address: the pending connection.
    SentInvitation(Vec<u8>),
    /// A one-time invitation was joined: the pending connection.
    SentConfirmation(Vec<u8>),
    /// The link is not valid.
    BadLink,
    /// The invitation was used already.
    LinkUsed,
}

impl<O: Output> Chat<O> {
    /// `/c LINK`: consults the connection plan, then joins an invitation or asks through an
    /// address (or a group link) and prints what happened. Where the plan says not to go on
    /// (a known contact or group, an invitation being joined), its lines are printed instead,
    /// as the reference's; for a short link that carries a profile, whose link it is.
    pub(super) async fn connect(&mut self, link: &str) -> Result<(), ChatError> {
        let plan = match self.connection_plan(link).await? {
            Ok(plan) => plan,
            Err(e) => {
                self.print(plan_error(e));
                return Ok(());
            }
        };
        if !plan.proceed() {
            match plan {
                ConnectionPlan::InvitationLink(InvitationLinkPlan::OwnLink)
                | ConnectionPlan::ContactAddress(ContactAddressPlan::OwnLink) => {
                    self.say(view::CONNECT_TO_YOURSELF)
                }
                plan => self.print(plan.lines()),
            }
            return Ok(());
        }
        if let Some(whose) = plan.whose() {
            self.say(format!("connecting to {whose}"));
        }
        match self.connect_link(link).await? {
            ConnectOutcome::OwnLink => self.say(view::CONNECT_TO_YOURSELF),
            ConnectOutcome::AlreadyExists(c) => self.say(format!(
                "{}: contact already exists",
                view::full_name(&c.name, &c.profile)
            )),
            ConnectOutcome::SentInvitation(_) => self.say("connection request sent!"),
            ConnectOutcome::SentConfirmation(_) => self.say("confirmation sent!"),
            ConnectOutcome::BadLink => self.print(plan_error(PlanError::BadLink)),
            ConnectOutcome::LinkUsed => self.print(plan_error(PlanError::LinkUsed)),
        }
        Ok(())
    }

    /// `/_connect plan 1 LINK`: prints the plan (`viewConnectionPlan`).
    pub(super) async fn show_connection_plan(&mut self, link: &str) -> Result<(), ChatError> {
        match self.connection_plan(link).await? {
            Ok(plan) => self.print(plan.lines()),
            Err(e) => self.print(plan_error(e)),
        }
        Ok(())
    }

    /// Joins an invitation, or asks through an address. Refuses our own links and an
    /// address of a contact we have; asking again through an address whose request is not
    /// accepted yet repeats the same request ID, so that the owner sees one request.
    pub(crate) async fn connect_link(&mut self, link: &str) -> Result<ConnectOutcome, ChatError> {
        let link = view::app_link(link.trim());
        let own_address = match self.store.address()? {
            Some((conn_id, a)) => {
                view::app_link(&a) == link
                    || self.agent.address_short_link(&conn_id).await?.as_deref()
                        == Some(link.as_str())
            }
            None => false,
        };
        if own_address || self.store.is_own_invitation(&link)? {
            return Ok(ConnectOutcome::OwnLink);
        }
        if view::is_address_link(&link) {
            if let Some(c) = self.store.contact_via_link(&link)? {
                return Ok(ConnectOutcome::AlreadyExists(c));
            }
            let req_id = match self.store.pending_request_id(&link)? {
                Some(id) => id,
                None => crate::protocol::new_msg_id(),
            };
            let info = ChatMessage::new(ChatEvent::Contact {
                profile: self.user.clone(),
                contact_req_id: Some(req_id.clone()),
            })
            .to_bytes();
            let conn_id = match self.join(&link, &info).await? {
                Ok(id) => id,
                Err(o) => return Ok(o),
            };
            self.store.add_pending(&conn_id, PendingKind::Request)?;
            self.store
                .set_pending_link(&conn_id, &link, Some(&req_id))?;
            Ok(ConnectOutcome::SentInvitation(conn_id))
        } else {
            let info = self.info();
            let conn_id = match self.join(&link, &info).await? {
                Ok(id) => id,
                Err(o) => return Ok(o),
            };
            self.store.add_pending(&conn_id, PendingKind::Joined)?;
            // For the plan of the same link while the connection is in progress.
            self.store.set_pending_link(&conn_id, &link, None)?;
            Ok(ConnectOutcome::SentConfirmation(conn_id))
        }
    }

    /// Joins a link: the connection, or why a link that is invalid or used up failed.
    async fn join(
        &mut self,
        link: &str,
        info: &[u8],
    ) -> Result<Result<Vec<u8>, ConnectOutcome>, ChatError> {
        match self.agent.join_connection(link, info).await {
            Ok(conn_id) => Ok(Ok(conn_id)),
            Err(AgentError::BadLink(_)) => Ok(Err(ConnectOutcome::BadLink)),
            Err(AgentError::Smp {
                error: smp_client::ClientError::Server(smp_proto::ErrorType::Auth),
                ..
            }) => Ok(Err(ConnectOutcome::LinkUsed)),
            Err(e) => Err(e.into()),
        }
    }
}

impl<O: Output> Chat<O> {
    /// `/c`: a one-time invitation, with the profile in its short link's data.
    pub(crate) async fn create_invitation(&mut self) -> Result<(Vec<u8>, super::Links), ChatError> {
        let data = crate::protocol::ContactShortLinkData::of(&self.user).to_bytes();
        let (conn_id, links) = self.agent.create_connection_with_link(&data).await?;
        self.store.add_pending(&conn_id, PendingKind::Invitation)?;
        self.store
            .set_pending_link(&conn_id, &view::app_link(&links.full), None)?;
        if let Some(short) = &links.short {
            self.store.set_pending_short_link(&conn_id, short)?;
        }
        Ok((
            conn_id,
            super::Links {
                full: links.full,
                short: links.short,
            },
        ))
    }
}

/// What the terminal says of a link that cannot be used.
fn plan_error(e: PlanError) -> Vec<String> {
    match e {
        PlanError::BadLink => vec![
            String::new(),
            "Connection link is invalid, possibly it was created in a previous version.".into(),
            "Please ask your contact to check /version and update if needed.".into(),
        ],
        PlanError::LinkUsed => vec![view::LINK_USED.to_owned()],
    }
}
