//! The agent events of contacts' connections: the handshake's `CONF` and `CON`,
//! messages, and the delivery of sent ones (`SENT`, `RCVD`, `MERR`).

use chrono::Local;
use simplex_agent::{MsgIntegrity, MsgReceiptStatus};

use super::{now_ms, profile_of, Chat, ChatError, Output};
use crate::api::response::ChatResponse;
use crate::protocol::{ChatEvent, ChatMessage, GroupEvent};
use crate::store::{Contact, ItemStatus, PendingKind};
use crate::view;

impl<O: Output> Chat<O> {
    /// `CONF`: the other side confirmed; the contact is made and allowed.
    pub(super) async fn conf_event(
        &mut self,
        conn: Vec<u8>,
        conf_id: Vec<u8>,
        conn_info: Vec<u8>,
    ) -> Result<(), ChatError> {
        let Some(kind) = self.store.pending(&conn)? else {
            return Ok(());
        };
        if let Ok(ChatMessage {
            event:
                ChatEvent::Group(GroupEvent::LinkInv {
                    group_link_invitation,
                }),
            ..
        }) = ChatMessage::decode_one(&conn_info)
        {
            if kind == PendingKind::Request {
                return self
                    .group_link_invitation(&conn, &conf_id, group_link_invitation)
                    .await;
            }
        }
        let Some(profile) = profile_of(&conn_info) else {
            self.say("error: the contact's confirmation has no profile");
            return Ok(());
        };
        let reply = match kind {
            PendingKind::Invitation => self.info(),
            PendingKind::Request => ChatMessage::new(ChatEvent::Ok).to_bytes(),
            PendingKind::Joined => return Ok(()),
        };
        self.store.add_contact(&conn, &profile)?;
        self.agent.allow_connection(&conf_id, &reply).await?;
        Ok(())
    }

    /// `CON`: a contact is connected.
    pub(super) async fn con_event(&mut self, conn: Vec<u8>) -> Result<(), ChatError> {
        if let Some(c) = self.store.contact_by_conn(&conn)? {
            self.store.set_ready(c.id)?;
            if self.last_chat.is_none() {
                self.last_chat = Some(c.name.clone());
            }
            self.say(format!(
                "{}: contact is connected",
                view::full_name(&c.name, &c.profile)
            ));
            let c = crate::store::Contact { ready: true, ..c };
            self.emit_with(|chat| {
                Ok(ChatResponse::ContactConnected {
                    user: chat.api_user(),
                    contact: chat.api_contact(&c)?,
                })
            });
            // A contact accepted automatically gets the address's auto-reply.
            if let Some(text) = self.auto_replies.remove(&c.id) {
                self.send_text(&c, &text).await?;
            }
        }
        Ok(())
    }

    /// `MSG`: the messages of a body, from a contact.
    pub(super) async fn msg_event(
        &mut self,
        conn: Vec<u8>,
        meta: simplex_agent::MsgMeta,
        body: Vec<u8>,
    ) -> Result<(), ChatError> {
        let contact = self.store.contact_by_conn(&conn)?;
        let mut receipt = false;
        let mut deleted = false;
        if let Some(c) = contact.as_ref().filter(|c| !c.deleted) {
            if meta.integrity != MsgIntegrity::Ok {
                self.integrity_error(c, &meta.integrity);
            }
            for m in ChatMessage::decode_all(&body).unwrap_or_default() {
                match m.event {
                    ChatEvent::MsgNew { text } => {
                        receipt = true;
                        let it = self
                            .store
                            .add_item(c.id, false, &text, now_ms(), meta.msg_id)?;
                        self.last_chat = Some(c.name.clone());
                        let lines = view::item(Local::now(), &c.name, &it);
                        self.print(lines);
                        self.emit_item(c, &it, true);
                    }
                    ChatEvent::MsgNewFile(f) => {
                        receipt = true;
                        self.file_invitation(c, m.msg_id.as_deref(), &f)?;
                    }
                    ChatEvent::File(f) => self.file_event(c, f).await?,
                    ChatEvent::Info(p) => self.contact_profile(c, &p)?,
                    ChatEvent::Group(GroupEvent::Inv { group_invitation }) => {
                        receipt = true;
                        self.group_invitation(c, group_invitation)?;
                    }
                    ChatEvent::DirectDel if !deleted => {
                        deleted = true;
                        self.store.set_deleted_by_contact(c.id)?;
                        self.store
                            .add_event_item(c.id, "contact deleted", now_ms())?;
                        if self.last_chat.as_deref() == Some(c.name.as_str()) {
                            self.last_chat = None;
                        }
                        self.say(view::contact_deleted_by_contact(&c.name, &c.profile));
                        let c = crate::store::Contact {
                            deleted: true,
                            ..c.clone()
                        };
                        self.emit_with(|chat| {
                            Ok(ChatResponse::ContactDeletedByContact {
                                user: chat.api_user(),
                                contact: chat.api_contact(&c)?,
                            })
                        });
                    }
                    _ => {}
                }
            }
        }
        let info: &[u8] = b"";
        self.agent
            .ack_message(&conn, meta.msg_id, receipt.then_some(info))
            .await?;
        if deleted {
            // The contact's side is gone: so is ours (messages from it after the
            // notice, if any, are dropped with the queue).
            self.agent.delete_connection(&conn).await?;
        }
        Ok(())
    }

    /// `SENT`: the relay accepted a message.
    pub(super) async fn sent_event(&mut self, conn: Vec<u8>, msg_id: i64) -> Result<(), ChatError> {
        if let Some(d) = self.store.pending_deletion(&conn)? {
            if d.msg_id == msg_id {
                self.store.set_deletion_sent(&conn)?;
                self.finish_deletion(&conn).await?;
            }
            return Ok(());
        }
        if let Some(c) = self.store.contact_by_conn(&conn)? {
            let changed =
                self.store
                    .set_sent_status(c.id, msg_id, &[ItemStatus::New], ItemStatus::Sent)?;
            if let Some(it) = changed {
                let late = self.held.remove(&it.id) || it.id <= self.earlier_items;
                if late {
                    let lines = view::marked_item(Local::now(), &c.name, &it);
                    self.print(lines);
                }
                self.emit_item(&c, &it, false);
            }
        }
        Ok(())
    }

    /// `RCVD`: delivery receipts for our messages.
    pub(super) async fn rcvd_event(
        &mut self,
        conn: Vec<u8>,
        meta: simplex_agent::MsgMeta,
        receipts: Vec<simplex_agent::MsgReceipt>,
    ) -> Result<(), ChatError> {
        if let Some(c) = self.store.contact_by_conn(&conn)? {
            for r in receipts {
                let status = if r.status == MsgReceiptStatus::Ok {
                    ItemStatus::Rcvd
                } else {
                    ItemStatus::RcvdBadHash
                };
                let from = [ItemStatus::New, ItemStatus::Sent];
                if let Some(it) = self.store.set_sent_status(c.id, r.msg_id, &from, status)? {
                    self.held.remove(&it.id);
                    let lines = view::marked_item(Local::now(), &c.name, &it);
                    self.print(lines);
                    self.emit_item(&c, &it, false);
                }
            }
        }
        // The receipt is acknowledged like a message (without a receipt of its own).
        self.agent.ack_message(&conn, meta.msg_id, None).await?;
        Ok(())
    }

    /// `MERR`: a message will never be sent.
    pub(super) async fn merr_event(
        &mut self,
        conn: Vec<u8>,
        msg_id: i64,
        err: String,
    ) -> Result<(), ChatError> {
        if let Some(d) = self.store.pending_deletion(&conn)? {
            if d.msg_id == msg_id {
                // The notice will never go: the connection is deleted anyway.
                self.store.set_deletion_sent(&conn)?;
                self.finish_deletion(&conn).await?;
            }
            return Ok(());
        }
        if let Some(c) = self.store.contact_by_conn(&conn)? {
            let from = [ItemStatus::New, ItemStatus::Sent];
            let failed = self
                .store
                .set_sent_status(c.id, msg_id, &from, ItemStatus::Error)?;
            let mut lines = match failed {
                Some(it) => {
                    self.held.remove(&it.id);
                    self.emit_item(&c, &it, false);
                    view::marked_item(Local::now(), &c.name, &it)
                }
                None => Vec::new(),
            };
            lines.push(view::delivery_error(&c.name, &err));
            self.print(lines);
        }
        Ok(())
    }

    /// A new item (`newChatItems`) or a changed status (`chatItemsStatusesUpdated`) for the
    /// bot API.
    fn emit_item(&mut self, c: &Contact, it: &crate::store::ChatItem, new: bool) {
        self.emit_with(|chat| {
            let user = chat.api_user();
            let chat_items = vec![chat.api_item(c, it)?];
            Ok(if new {
                ChatResponse::NewChatItems { user, chat_items }
            } else {
                ChatResponse::ChatItemsStatusesUpdated { user, chat_items }
            })
        });
    }
}
