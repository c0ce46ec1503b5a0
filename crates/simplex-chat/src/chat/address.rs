//! The address and the requests that come through it: `/ad`, `/sa`, `/da`, `/ac`, `/rc`,
//! and accepting requests automatically (the bot API's `autoAccept`, with its
//! `autoReply` sent once the contact is connected).

use super::{Chat, ChatError, Output};
use crate::api::response::ChatResponse;
use crate::api::types::AddressSettings;
use crate::command::Command;
use crate::protocol::{ContactShortLinkData, Profile};
use crate::store::{Contact, ContactRequest};
use crate::view;

/// The settings key of the address's settings (JSON `AddressSettings`).
const ADDRESS_SETTINGS: &str = "address_settings";

/// A link as the agent made it: the full one and the short one, if any.
#[derive(Debug, Clone)]
pub struct Links {
    /// The full link.
    pub full: String,
    /// The short link.
    pub short: Option<String>,
}

impl<O: Output> Chat<O> {
    /// The console's address commands.
    pub(super) async fn address_command(&mut self, cmd: Command) -> Result<(), ChatError> {
        let accept = matches!(cmd, Command::Accept(_));
        match cmd {
            Command::CreateAddress => match self.create_address().await? {
                Some(l) => self.print(view::address(
                    "Your new chat address is created!",
                    l.short.as_deref(),
                    &l.full,
                )),
                None => self.say("you already have chat address, to show: /sa"),
            },
            Command::ShowAddress => match self.show_address().await? {
                Some(l) => self.print(view::address(
                    "Your chat address:",
                    l.short.as_deref(),
                    &l.full,
                )),
                None => self.say("no chat address, to create: /ad"),
            },
            Command::DeleteAddress => {
                if self.delete_address().await? {
                    self.print(view::address_deleted());
                } else {
                    self.say("no chat address, to create: /ad");
                }
            }
            Command::Accept(name) | Command::Reject(name) => {
                let Some(req) = self.store.request_by_name(&name)? else {
                    self.say(format!(
                        "no contact request from {}",
                        view::view_name(&name)
                    ));
                    return Ok(());
                };
                if accept {
                    self.accept_request(&req).await?;
                } else {
                    self.reject_request(&req).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Creates the address; `None` when there is one already.
    pub(crate) async fn create_address(&mut self) -> Result<Option<Links>, ChatError> {
        if self.store.address()?.is_some() {
            return Ok(None);
        }
        let data = ContactShortLinkData::of(&self.user).to_bytes();
        let (conn_id, links) = self.agent.create_contact_address_with_link(&data).await?;
        self.store.set_address(&conn_id, &links.full)?;
        Ok(Some(Links {
            full: links.full,
            short: links.short,
        }))
    }

    /// The address's links, if there is one.
    pub(crate) async fn show_address(&mut self) -> Result<Option<Links>, ChatError> {
        match self.store.address()? {
            Some((conn_id, full)) => {
                let short = self.agent.address_short_link(&conn_id).await?;
                Ok(Some(Links { full, short }))
            }
            None => Ok(None),
        }
    }

    /// Deletes the address (and its settings); false when there is none.
    pub(crate) async fn delete_address(&mut self) -> Result<bool, ChatError> {
        let Some((conn_id, _)) = self.store.address()? else {
            return Ok(false);
        };
        self.agent.delete_connection(&conn_id).await?;
        self.store.delete_address()?;
        self.store.set_setting(ADDRESS_SETTINGS, "{}")?;
        Ok(true)
    }

    /// The address's settings (none set: no auto-accept).
    pub(crate) fn address_settings(&self) -> Result<AddressSettings, ChatError> {
        let s = self.store.setting(ADDRESS_SETTINGS)?;
        // A value we wrote; one that does not read (never expected) counts as none.
        Ok(s.and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default())
    }

    /// Saves the address's settings.
    pub(crate) fn set_address_settings(&self, s: &AddressSettings) -> Result<(), ChatError> {
        let json = serde_json::to_string(s).unwrap_or_else(|_| "{}".to_owned());
        self.store.set_setting(ADDRESS_SETTINGS, &json)?;
        Ok(())
    }

    /// Accepts a request: joins the requester's invitation with our profile; the request
    /// becomes a contact, connected when `CON` comes.
    pub(crate) async fn accept_request(
        &mut self,
        req: &ContactRequest,
    ) -> Result<Contact, ChatError> {
        let info = self.info();
        let conn_id = self.agent.accept_contact(&req.inv_id, &info).await?;
        let c = self.store.request_to_contact(req, &conn_id)?;
        self.say(format!(
            "{}: accepting contact request...",
            view::full_name(&c.name, &c.profile)
        ));
        Ok(c)
    }

    /// Rejects a request (the requester is not told).
    pub(crate) async fn reject_request(&mut self, req: &ContactRequest) -> Result<(), ChatError> {
        if let Err(e) = self.agent.reject_contact(&req.inv_id).await {
            self.say(view::agent_error(&e));
        }
        self.store.delete_request(req.id)?;
        self.say(format!(
            "{}: contact request rejected",
            view::view_name(&req.name)
        ));
        Ok(())
    }

    /// A request through the address: from a contact we have (the same request ID), it is
    /// recognised as that contact and dropped; asked again before it was accepted, it
    /// replaces the earlier one; else it is a new request. With auto-accept on, it is
    /// accepted at once.
    pub(super) async fn contact_request(
        &mut self,
        inv_id: &[u8],
        profile: &Profile,
        req_id: Option<&str>,
    ) -> Result<(), ChatError> {
        let mut known = None;
        if let Some(id) = req_id {
            if let Some(c) = self.store.contact_by_xcontact(id)? {
                self.say(format!(
                    "{}: sent you a duplicate contact request, but you are already connected, no action needed",
                    view::full_name(&c.name, &c.profile)
                ));
                // The requester's invitation is of no use: forget it.
                let _ = self.agent.reject_contact(inv_id).await;
                return Ok(());
            }
            known = self.store.request_by_xcontact(id)?;
        }
        let req = match known {
            Some(req) => self.store.update_request(&req, inv_id, profile)?,
            None => {
                let req = self.store.add_request(inv_id, profile)?;
                if let Some(id) = req_id {
                    self.store.set_request_xcontact(req.id, id)?;
                }
                req
            }
        };
        let settings = self.address_settings()?;
        if settings.auto_accept.is_some() {
            let c = self.accept_request(&req).await?;
            if let Some(reply) = settings.auto_reply {
                self.auto_replies.insert(c.id, reply.text().to_owned());
            }
            self.emit_with(|chat| {
                Ok(ChatResponse::AcceptingContactRequest {
                    user: chat.api_user(),
                    contact: chat.api_contact(&c)?,
                })
            });
            return Ok(());
        }
        self.print(view::contact_request(&req.name, &req.profile));
        self.emit_with(|chat| {
            Ok(ChatResponse::ReceivedContactRequest {
                user: chat.api_user(),
                contact_request: chat.api_request(&req)?,
            })
        });
        Ok(())
    }
}
