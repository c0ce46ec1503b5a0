//! What the bot API reads beyond the console's needs: records by ID, creation times and
//! the user's peer type.

use rusqlite::OptionalExtension;

use super::{ChatStore, ContactRequest, StoreError};
use crate::protocol::ChatPeerType;

/// The settings key of the user's peer type (`bot` for a bot's profile).
const USER_PEER_TYPE: &str = "user_peer_type";

impl ChatStore {
    /// When the contact was made, Unix seconds (0 when unknown).
    pub fn contact_created_at(&self, id: i64) -> Result<i64, StoreError> {
        Ok(self
            .db
            .query_row("SELECT created_at FROM contacts WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0))
    }

    /// When the group was made, Unix seconds (0 when unknown).
    pub fn group_created_at(&self, id: i64) -> Result<i64, StoreError> {
        Ok(self
            .db
            .query_row("SELECT created_at FROM groups WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0))
    }

    /// The request with this row ID.
    pub fn request_by_id(&self, id: i64) -> Result<Option<ContactRequest>, StoreError> {
        self.request_where("id = ?1", [id])
    }

    /// The row ID of a pending connection (one not yet a contact).
    pub fn pending_row_id(&self, conn_id: &[u8]) -> Result<Option<i64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT rowid FROM pending_conns WHERE conn_id = ?1",
                [conn_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The user's peer type, when set.
    pub(super) fn user_peer_type(&self) -> Result<Option<ChatPeerType>, StoreError> {
        Ok(match self.setting(USER_PEER_TYPE)?.as_deref() {
            Some("bot") => Some(ChatPeerType::Bot),
            Some("human") => Some(ChatPeerType::Human),
            _ => None,
        })
    }

    /// Saves the user's peer type.
    pub(super) fn set_user_peer_type(&self, t: Option<ChatPeerType>) -> Result<(), StoreError> {
        let v = match t {
            Some(ChatPeerType::Bot) => "bot",
            Some(ChatPeerType::Human) => "human",
            None => "",
        };
        self.set_setting(USER_PEER_TYPE, v)
    }
}
