//! The chat database: the user's profile, contacts, contact requests, the address,
//! connections in progress, chat items and settings, in its own SQLite file (SQLCipher with a
//! passphrase, plain without). The agent's connections live in the agent's database; rows
//! here refer to them by agent connection ID.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use simplex_agent::sqlite::Locking;

use crate::protocol::Profile;

mod api;
pub mod files;
pub mod groups;
mod history;
mod links;

pub use history::HISTORY_LIMIT;

/// A chat database failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The passphrase does not open the database (or the file is not a database).
    #[error("wrong passphrase or invalid database file")]
    WrongPassphrase,
    /// SQLite failed.
    #[error("chat database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database could not be opened for another reason.
    #[error("chat database: {0}")]
    Open(String),
}

/// What a connection in progress is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKind {
    /// We created an invitation (`/c`): the peer's `CONF` carries its profile.
    Invitation,
    /// We joined an invitation: the creator's `INFO` carries its profile.
    Joined,
    /// We sent a request to an address: the owner's `CONF` carries its profile.
    Request,
}

impl PendingKind {
    fn as_str(self) -> &'static str {
        match self {
            PendingKind::Invitation => "inv",
            PendingKind::Joined => "join",
            PendingKind::Request => "req",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "inv" => Some(PendingKind::Invitation),
            "join" => Some(PendingKind::Joined),
            "req" => Some(PendingKind::Request),
            _ => None,
        }
    }
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Row ID.
    pub id: i64,
    /// The unique local name used in commands (`bob`, `bob_1`, …).
    pub name: String,
    /// The contact's profile.
    pub profile: Profile,
    /// The agent connection.
    pub conn_id: Vec<u8>,
    /// `CON` was received.
    pub ready: bool,
    /// The contact deleted us (`x.direct.del`): its connection is gone, its history stays
    /// until `/d`.
    pub deleted: bool,
}

/// A contact request received at the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRequest {
    /// Row ID.
    pub id: i64,
    /// The unique local name used in `/ac` and `/rc`.
    pub name: String,
    /// The requester's profile.
    pub profile: Profile,
    /// The agent's invitation ID.
    pub inv_id: Vec<u8>,
}

/// A message in a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatItem {
    /// Row ID.
    pub id: i64,
    /// The contact's row ID.
    pub contact_id: i64,
    /// Sent by us.
    pub sent: bool,
    /// The text.
    pub text: String,
    /// When it was sent or received, Unix milliseconds.
    pub ts_ms: i64,
    /// The agent's message ID (ours for sent items; 0 for events).
    pub agent_msg_id: i64,
    /// Delivery status of a sent item; what a received item is.
    pub status: ItemStatus,
}

/// Where a sent item is on its way, or what a received item is. Stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// Sent: handed to the agent, not yet accepted by the relay (`new`).
    New,
    /// Sent: the relay accepted it (the agent's `SENT`).
    Sent,
    /// Sent: the contact's receipt came (`RCVD`, hash OK).
    Rcvd,
    /// Sent: the contact's receipt came but reports another message hash.
    RcvdBadHash,
    /// Sent: the agent gave up (`MERR`).
    Error,
    /// Received message.
    Rcv,
    /// Received event shown as an item (`contact deleted`).
    Event,
}

impl ItemStatus {
    fn as_str(self) -> &'static str {
        match self {
            ItemStatus::New => "new",
            ItemStatus::Sent => "sent",
            ItemStatus::Rcvd => "rcvd",
            ItemStatus::RcvdBadHash => "rcvd_bad",
            ItemStatus::Error => "error",
            ItemStatus::Rcv => "rcv",
            ItemStatus::Event => "event",
        }
    }

    fn parse(s: &str) -> ItemStatus {
        match s {
            "new" => ItemStatus::New,
            "sent" => ItemStatus::Sent,
            "rcvd" => ItemStatus::Rcvd,
            "rcvd_bad" => ItemStatus::RcvdBadHash,
            "error" => ItemStatus::Error,
            "event" => ItemStatus::Event,
            _ => ItemStatus::Rcv,
        }
    }
}

/// A contact deleted with `/d` whose connection waits for `x.direct.del` to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDeletion {
    /// The agent connection.
    pub conn_id: Vec<u8>,
    /// The agent's ID of the `x.direct.del` message.
    pub msg_id: i64,
    /// The relay accepted it: only deleting the connection is left.
    pub sent: bool,
}

/// The open chat database.
pub struct ChatStore {
    db: Connection,
}

impl std::fmt::Debug for ChatStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user (id INTEGER PRIMARY KEY CHECK (id = 1),
  display_name TEXT NOT NULL, full_name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (id INTEGER PRIMARY KEY,
  local_name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, full_name TEXT NOT NULL,
  conn_id BLOB NOT NULL UNIQUE, ready INTEGER NOT NULL, created_at INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS contact_requests (id INTEGER PRIMARY KEY,
  local_name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, full_name TEXT NOT NULL,
  inv_id BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS pending_conns (conn_id BLOB PRIMARY KEY, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS address (id INTEGER PRIMARY KEY CHECK (id = 1),
  conn_id BLOB NOT NULL, link TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chat_items (id INTEGER PRIMARY KEY,
  contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  sent INTEGER NOT NULL, text TEXT NOT NULL, ts_ms INTEGER NOT NULL,
  agent_msg_id INTEGER NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_chat_items_contact ON chat_items (contact_id, id);
CREATE TABLE IF NOT EXISTS pending_deletions (conn_id BLOB PRIMARY KEY,
  msg_id INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0);
";

impl ChatStore {
    /// Opens (or creates) the database at `path`; an empty passphrase means a plain file.
    pub fn open(path: &Path, passphrase: &str) -> Result<ChatStore, StoreError> {
        let db = simplex_agent::sqlite::open_database(path, passphrase, Locking::Shared).map_err(
            |e| match e {
                simplex_agent::sqlite::OpenError::WrongPassphrase => StoreError::WrongPassphrase,
                simplex_agent::sqlite::OpenError::Sqlite(e) => StoreError::Sqlite(e),
                other => StoreError::Open(other.to_string()),
            },
        )?;
        db.execute_batch(SCHEMA)?;
        // Databases made before contacts could be deleted by the contact.
        let has_deleted: bool = db.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('contacts') WHERE name = 'deleted'",
            [],
            |r| r.get(0),
        )?;
        if !has_deleted {
            db.execute_batch("ALTER TABLE contacts ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0")?;
        }
        links::migrate(&db)?;
        db.execute_batch(history::SCHEMA)?;
        db.execute_batch(groups::SCHEMA)?;
        groups::migrate(&db)?;
        links::migrate_groups(&db)?;
        db.execute_batch(files::SCHEMA)?;
        files::migrate(&db)?;
        Ok(ChatStore { db })
    }

    /// A setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Saves a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// The user's profile, if created.
    pub fn user(&self) -> Result<Option<Profile>, StoreError> {
        let peer_type = self.user_peer_type()?;
        Ok(self
            .db
            .query_row(
                "SELECT display_name, full_name FROM user WHERE id = 1",
                [],
                |r| {
                    Ok(Profile {
                        display_name: r.get(0)?,
                        full_name: r.get(1)?,
                        peer_type,
                    })
                },
            )
            .optional()?)
    }

    /// Creates or replaces the user's profile.
    pub fn set_user(&self, p: &Profile) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO user (id, display_name, full_name) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name,
               full_name = excluded.full_name",
            [&p.display_name, &p.full_name],
        )?;
        self.set_user_peer_type(p.peer_type)?;
        Ok(())
    }

    fn name_taken(&self, name: &str) -> Result<bool, StoreError> {
        let n: i64 = self.db.query_row(
            "SELECT (SELECT count(*) FROM contacts WHERE local_name = ?1)
                  + (SELECT count(*) FROM contact_requests WHERE local_name = ?1)
                  + (SELECT count(*) FROM group_members WHERE local_name = ?1
                       AND contact_id IS NULL AND category != 'user')",
            [name],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// A local name for `display_name` not used by a contact, request or group member (not
    /// a contact): the name itself,
    /// else `name_1`, `name_2`, … (as the reference does).
    /// A name that begins with `#` or `@` loses them (such a name could not be typed in a
    /// command, and `#` marks a group where a plain line goes).
    pub fn unique_name(&self, display_name: &str) -> Result<String, StoreError> {
        let display_name = match display_name.trim_start_matches(['#', '@']) {
            "" => "contact",
            n => n,
        };
        if !self.name_taken(display_name)? {
            return Ok(display_name.to_owned());
        }
        let mut i = 1u32;
        loop {
            let candidate = format!("{display_name}_{i}");
            if !self.name_taken(&candidate)? {
                return Ok(candidate);
            }
            i = i.saturating_add(1);
        }
    }

    /// Records a connection in progress.
    pub fn add_pending(&self, conn_id: &[u8], kind: PendingKind) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT OR REPLACE INTO pending_conns (conn_id, kind) VALUES (?1, ?2)",
            params![conn_id, kind.as_str()],
        )?;
        Ok(())
    }

    /// What a connection in progress is for.
    pub fn pending(&self, conn_id: &[u8]) -> Result<Option<PendingKind>, StoreError> {
        let s: Option<String> = self
            .db
            .query_row(
                "SELECT kind FROM pending_conns WHERE conn_id = ?1",
                [conn_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(s.as_deref().and_then(PendingKind::parse))
    }

    /// Turns a connection (pending or accepted through the address) into a contact, under
    /// a unique local name.
    pub fn add_contact(&self, conn_id: &[u8], profile: &Profile) -> Result<Contact, StoreError> {
        let name = self.unique_name(&profile.display_name)?;
        self.db.execute(
            "INSERT INTO contacts (local_name, display_name, full_name, conn_id, ready, created_at)
             VALUES (?1, ?2, ?3, ?4, 0, strftime('%s','now'))",
            params![name, profile.display_name, profile.full_name, conn_id],
        )?;
        let id = self.db.last_insert_rowid();
        self.keep_link(conn_id, id)?;
        self.db.execute(
            "DELETE FROM pending_conns WHERE conn_id = ?1",
            params![conn_id],
        )?;
        Ok(Contact {
            id,
            name,
            profile: profile.clone(),
            conn_id: conn_id.to_vec(),
            ready: false,
            deleted: false,
        })
    }

    fn contact_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Option<Contact>, StoreError> {
        let sql = format!(
            "SELECT id, local_name, display_name, full_name, conn_id, ready, deleted FROM contacts WHERE {cond}"
        );
        Ok(self
            .db
            .query_row(&sql, p, |r| {
                Ok(Contact {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    profile: Profile {
                        display_name: r.get(2)?,
                        full_name: r.get(3)?,
                        peer_type: None,
                    },
                    conn_id: r.get(4)?,
                    ready: r.get(5)?,
                    deleted: r.get(6)?,
                })
            })
            .optional()?)
    }

    /// The contact on this connection.
    pub fn contact_by_conn(&self, conn_id: &[u8]) -> Result<Option<Contact>, StoreError> {
        self.contact_where("conn_id = ?1", [conn_id])
    }

    /// The contact with this local name.
    pub fn contact_by_name(&self, name: &str) -> Result<Option<Contact>, StoreError> {
        self.contact_where("local_name = ?1", [name])
    }

    /// The contact with this row ID.
    pub fn contact_by_id(&self, id: i64) -> Result<Option<Contact>, StoreError> {
        self.contact_where("id = ?1", [id])
    }

    /// Every contact, sorted by local name, case-insensitively.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT id FROM contacts ORDER BY lower(local_name), local_name")?;
        let ids: Vec<i64> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(c) = self.contact_by_id(id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Marks the contact connected.
    pub fn set_ready(&self, id: i64) -> Result<(), StoreError> {
        self.db
            .execute("UPDATE contacts SET ready = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Updates a contact's profile; a new display name gives a new unique local name.
    pub fn update_contact_profile(&self, c: &Contact, p: &Profile) -> Result<Contact, StoreError> {
        let name = if p.display_name == c.profile.display_name {
            c.name.clone()
        } else {
            self.unique_name(&p.display_name)?
        };
        self.db.execute(
            "UPDATE contacts SET local_name = ?1, display_name = ?2, full_name = ?3 WHERE id = ?4",
            params![name, p.display_name, p.full_name, c.id],
        )?;
        // The contact's memberships in groups carry its name.
        self.db.execute(
            "UPDATE group_members SET local_name = ?1, display_name = ?2, full_name = ?3
             WHERE contact_id = ?4",
            params![name, p.display_name, p.full_name, c.id],
        )?;
        Ok(Contact {
            name,
            profile: p.clone(),
            ..c.clone()
        })
    }

    /// Marks the contact deleted by the contact.
    pub fn set_deleted_by_contact(&self, id: i64) -> Result<(), StoreError> {
        self.db
            .execute("UPDATE contacts SET deleted = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Records a deleted contact's connection that waits for `x.direct.del` to be sent.
    pub fn add_pending_deletion(&self, conn_id: &[u8], msg_id: i64) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT OR REPLACE INTO pending_deletions (conn_id, msg_id, sent) VALUES (?1, ?2, 0)",
            params![conn_id, msg_id],
        )?;
        Ok(())
    }

    /// The pending deletion of this connection.
    pub fn pending_deletion(&self, conn_id: &[u8]) -> Result<Option<PendingDeletion>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT conn_id, msg_id, sent FROM pending_deletions WHERE conn_id = ?1",
                [conn_id],
                |r| {
                    Ok(PendingDeletion {
                        conn_id: r.get(0)?,
                        msg_id: r.get(1)?,
                        sent: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Every pending deletion.
    pub fn pending_deletions(&self) -> Result<Vec<PendingDeletion>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT conn_id, msg_id, sent FROM pending_deletions ORDER BY rowid")?;
        let rows = st.query_map([], |r| {
            Ok(PendingDeletion {
                conn_id: r.get(0)?,
                msg_id: r.get(1)?,
                sent: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The `x.direct.del` of this pending deletion was sent (or failed for good).
    pub fn set_deletion_sent(&self, conn_id: &[u8]) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE pending_deletions SET sent = 1 WHERE conn_id = ?1",
            [conn_id],
        )?;
        Ok(())
    }

    /// The connection is deleted: forgets the pending deletion.
    pub fn remove_pending_deletion(&self, conn_id: &[u8]) -> Result<(), StoreError> {
        self.db.execute(
            "DELETE FROM pending_deletions WHERE conn_id = ?1",
            [conn_id],
        )?;
        Ok(())
    }

    /// Deletes a contact and its chat items.
    pub fn delete_contact(&self, id: i64) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM contacts WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Records a contact request under a unique local name.
    pub fn add_request(&self, inv_id: &[u8], p: &Profile) -> Result<ContactRequest, StoreError> {
        let name = self.unique_name(&p.display_name)?;
        self.db.execute(
            "INSERT INTO contact_requests (local_name, display_name, full_name, inv_id)
             VALUES (?1, ?2, ?3, ?4)",
            params![name, p.display_name, p.full_name, inv_id],
        )?;
        Ok(ContactRequest {
            id: self.db.last_insert_rowid(),
            name,
            profile: p.clone(),
            inv_id: inv_id.to_vec(),
        })
    }

    /// The request with this local name.
    pub fn request_by_name(&self, name: &str) -> Result<Option<ContactRequest>, StoreError> {
        self.request_where("local_name = ?1", [name])
    }

    fn request_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Option<ContactRequest>, StoreError> {
        let sql = format!(
            "SELECT id, local_name, display_name, full_name, inv_id FROM contact_requests
             WHERE {cond}"
        );
        Ok(self
            .db
            .query_row(&sql, p, |r| {
                Ok(ContactRequest {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    profile: Profile {
                        display_name: r.get(2)?,
                        full_name: r.get(3)?,
                        peer_type: None,
                    },
                    inv_id: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// Forgets a request.
    pub fn delete_request(&self, id: i64) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM contact_requests WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Accepts a request: the request becomes a contact with the same local name.
    pub fn request_to_contact(
        &self,
        req: &ContactRequest,
        conn_id: &[u8],
    ) -> Result<Contact, StoreError> {
        let tx = self.db.unchecked_transaction()?;
        let xcontact_id: Option<String> = tx.query_row(
            "SELECT xcontact_id FROM contact_requests WHERE id = ?1",
            [req.id],
            |r| r.get(0),
        )?;
        tx.execute("DELETE FROM contact_requests WHERE id = ?1", [req.id])?;
        tx.execute(
            "INSERT INTO contacts (local_name, display_name, full_name, conn_id, ready, created_at,
               xcontact_id)
             VALUES (?1, ?2, ?3, ?4, 0, strftime('%s','now'), ?5)",
            params![
                req.name,
                req.profile.display_name,
                req.profile.full_name,
                conn_id,
                xcontact_id
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Contact {
            id,
            name: req.name.clone(),
            profile: req.profile.clone(),
            conn_id: conn_id.to_vec(),
            ready: false,
            deleted: false,
        })
    }

    /// The address: its agent connection and link.
    pub fn address(&self) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(self
            .db
            .query_row("SELECT conn_id, link FROM address WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Saves the address.
    pub fn set_address(&self, conn_id: &[u8], link: &str) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT OR REPLACE INTO address (id, conn_id, link) VALUES (1, ?1, ?2)",
            params![conn_id, link],
        )?;
        Ok(())
    }

    /// Forgets the address and its pending requests.
    pub fn delete_address(&self) -> Result<(), StoreError> {
        self.db.execute("DELETE FROM address", [])?;
        self.db.execute("DELETE FROM contact_requests", [])?;
        Ok(())
    }

    /// Adds a sent (status `New`) or received (`Rcv`) message; returns it.
    pub fn add_item(
        &self,
        contact_id: i64,
        sent: bool,
        text: &str,
        ts_ms: i64,
        agent_msg_id: i64,
    ) -> Result<ChatItem, StoreError> {
        let status = if sent {
            ItemStatus::New
        } else {
            ItemStatus::Rcv
        };
        self.insert_item(contact_id, sent, text, ts_ms, agent_msg_id, status)
    }

    /// Adds a received event shown as an item (`contact deleted`); returns it.
    pub fn add_event_item(
        &self,
        contact_id: i64,
        text: &str,
        ts_ms: i64,
    ) -> Result<ChatItem, StoreError> {
        self.insert_item(contact_id, false, text, ts_ms, 0, ItemStatus::Event)
    }

    /// Adds an event of this side shown as a sent item (`connection synchronization
    /// started`); returns it.
    pub fn add_sent_event_item(
        &self,
        contact_id: i64,
        text: &str,
        ts_ms: i64,
    ) -> Result<ChatItem, StoreError> {
        self.insert_item(contact_id, true, text, ts_ms, 0, ItemStatus::Event)
    }

    fn insert_item(
        &self,
        contact_id: i64,
        sent: bool,
        text: &str,
        ts_ms: i64,
        agent_msg_id: i64,
        status: ItemStatus,
    ) -> Result<ChatItem, StoreError> {
        self.db.execute(
            "INSERT INTO chat_items (contact_id, sent, text, ts_ms, agent_msg_id, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![contact_id, sent, text, ts_ms, agent_msg_id, status.as_str()],
        )?;
        Ok(ChatItem {
            id: self.db.last_insert_rowid(),
            contact_id,
            sent,
            text: text.to_owned(),
            ts_ms,
            agent_msg_id,
            status,
        })
    }

    /// The highest item row ID (0 without items): items above it are newer.
    pub fn last_item_id(&self) -> Result<i64, StoreError> {
        Ok(self
            .db
            .query_row("SELECT coalesce(max(id), 0) FROM chat_items", [], |r| {
                r.get(0)
            })?)
    }

    /// Moves our item with this agent message ID to `status` if it is in one of `from`;
    /// returns the item when it changed.
    pub fn set_sent_status(
        &self,
        contact_id: i64,
        agent_msg_id: i64,
        from: &[ItemStatus],
        status: ItemStatus,
    ) -> Result<Option<ChatItem>, StoreError> {
        let Some(it) = self
            .items_where(
                "contact_id = ?1 AND sent = 1 AND agent_msg_id = ?2",
                params![contact_id, agent_msg_id],
                1,
            )?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        if !from.contains(&it.status) {
            return Ok(None);
        }
        self.db.execute(
            "UPDATE chat_items SET status = ?1 WHERE id = ?2",
            params![status.as_str(), it.id],
        )?;
        Ok(Some(ChatItem { status, ..it }))
    }

    fn items_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
        limit: u32,
    ) -> Result<Vec<ChatItem>, StoreError> {
        let sql = format!(
            "SELECT id, contact_id, sent, text, ts_ms, agent_msg_id, status FROM chat_items
             WHERE {cond} ORDER BY id DESC LIMIT {limit}"
        );
        let mut st = self.db.prepare(&sql)?;
        let rows = st.query_map(p, |r| {
            Ok(ChatItem {
                id: r.get(0)?,
                contact_id: r.get(1)?,
                sent: r.get(2)?,
                text: r.get(3)?,
                ts_ms: r.get(4)?,
                agent_msg_id: r.get(5)?,
                status: ItemStatus::parse(&r.get::<_, String>(6)?),
            })
        })?;
        let mut items: Vec<ChatItem> = rows.collect::<Result<_, _>>()?;
        items.reverse();
        Ok(items)
    }

    /// The last `n` items of a contact, or of every chat, oldest first.
    pub fn last_items(&self, contact_id: Option<i64>, n: u32) -> Result<Vec<ChatItem>, StoreError> {
        match contact_id {
            Some(id) => self.items_where("contact_id = ?1", [id], n),
            None => self.items_where("1", [], n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_requests_items_and_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ChatStore::open(&dir.path().join("c.db"), "").expect("open");
        assert_eq!(s.user().expect("user"), None);
        s.set_user(&Profile::new("alice")).expect("set user");
        assert_eq!(s.user().expect("user"), Some(Profile::new("alice")));
        s.add_pending(b"c1", PendingKind::Invitation)
            .expect("pending");
        assert_eq!(s.pending(b"c1").expect("p"), Some(PendingKind::Invitation));
        let bob = s.add_contact(b"c1", &Profile::new("bob")).expect("bob");
        assert_eq!(s.pending(b"c1").expect("p"), None);
        assert_eq!(bob.name, "bob");
        let bob2 = s.add_contact(b"c2", &Profile::new("bob")).expect("bob 2");
        assert_eq!(bob2.name, "bob_1");
        let req = s.add_request(b"inv", &Profile::new("bob")).expect("req");
        assert_eq!(req.name, "bob_2");
        let c = s.request_to_contact(&req, b"c3").expect("accept");
        assert_eq!(c.name, "bob_2");
        assert!(s.request_by_name("bob_2").expect("r").is_none());
        let names: Vec<String> = s
            .contacts()
            .expect("list")
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["bob", "bob_1", "bob_2"]);
        s.add_item(bob.id, true, "hi", 1, 7).expect("item");
        s.add_item(bob.id, false, "hello", 2, 3).expect("item");
        s.add_item(bob2.id, true, "other", 3, 7).expect("item");
        let it = s
            .set_sent_status(bob.id, 7, &[ItemStatus::New], ItemStatus::Sent)
            .expect("status")
            .expect("found");
        assert_eq!((it.text.as_str(), it.status), ("hi", ItemStatus::Sent));
        // A late SENT does not undo a receipt; a received item is never updated.
        let it = s
            .set_sent_status(
                bob.id,
                7,
                &[ItemStatus::New, ItemStatus::Sent],
                ItemStatus::Rcvd,
            )
            .expect("status")
            .expect("found");
        assert_eq!(it.status, ItemStatus::Rcvd);
        assert_eq!(
            s.set_sent_status(bob.id, 7, &[ItemStatus::New], ItemStatus::Sent)
                .expect("status"),
            None
        );
        assert_eq!(
            s.set_sent_status(bob.id, 3, &[ItemStatus::New], ItemStatus::Sent)
                .expect("status"),
            None
        );
        assert_eq!(
            s.last_items(Some(bob.id), 1).expect("items")[0].status,
            ItemStatus::Rcv
        );
        let ev = s
            .add_event_item(bob.id, "contact deleted", 4)
            .expect("event");
        assert_eq!(ev.status, ItemStatus::Event);
        assert_eq!(s.last_item_id().expect("max id"), ev.id);
        assert!(!bob.deleted);
        s.set_deleted_by_contact(bob.id).expect("deleted");
        assert!(s.contact_by_id(bob.id).expect("c").expect("bob").deleted);
        s.add_pending_deletion(b"c1", 9).expect("pending");
        assert_eq!(
            s.pending_deletion(b"c1").expect("p"),
            Some(PendingDeletion {
                conn_id: b"c1".to_vec(),
                msg_id: 9,
                sent: false
            })
        );
        s.set_deletion_sent(b"c1").expect("sent");
        assert!(s.pending_deletions().expect("all")[0].sent);
        s.remove_pending_deletion(b"c1").expect("removed");
        assert!(s.pending_deletions().expect("all").is_empty());
        let all = s.last_items(None, 2).expect("items");
        assert_eq!(
            all.iter().map(|i| i.text.as_str()).collect::<Vec<_>>(),
            ["other", "contact deleted"]
        );
        assert_eq!(s.last_items(Some(bob.id), 10).expect("items").len(), 3);
        let renamed = s
            .update_contact_profile(&bob, &Profile::new("robert"))
            .expect("rename");
        assert_eq!(renamed.name, "robert");
        s.delete_contact(bob.id).expect("delete");
        assert_eq!(s.last_items(Some(bob.id), 10).expect("items").len(), 0);
    }

    #[test]
    fn an_older_database_gets_the_deleted_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            let db = Connection::open(&path).expect("open");
            db.execute_batch(
                "CREATE TABLE contacts (id INTEGER PRIMARY KEY,
                   local_name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
                   full_name TEXT NOT NULL, conn_id BLOB NOT NULL UNIQUE,
                   ready INTEGER NOT NULL, created_at INTEGER NOT NULL);
                 INSERT INTO contacts VALUES (1, 'bob', 'bob', '', x'01', 1, 0);",
            )
            .expect("old schema");
        }
        let s = ChatStore::open(&path, "").expect("migrates");
        let bob = s.contact_by_name("bob").expect("c").expect("bob");
        assert!(bob.ready && !bob.deleted);
        drop(s);
        ChatStore::open(&path, "").expect("opens again");
    }

    #[test]
    fn passphrase_encrypts_and_is_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("enc.db");
        {
            let s = ChatStore::open(&path, "secret").expect("open");
            s.set_user(&Profile::new("alice")).expect("user");
        }
        let head = std::fs::read(&path).expect("read");
        assert!(!head.starts_with(b"SQLite format 3"), "encrypted file");
        assert!(matches!(
            ChatStore::open(&path, "wrong"),
            Err(StoreError::WrongPassphrase)
        ));
        assert!(matches!(
            ChatStore::open(&path, ""),
            Err(StoreError::WrongPassphrase)
        ));
        let s = ChatStore::open(&path, "secret").expect("reopen");
        assert_eq!(s.user().expect("user"), Some(Profile::new("alice")));
        let plain = dir.path().join("plain.db");
        ChatStore::open(&plain, "")
            .expect("plain")
            .set_user(&Profile::new("x"))
            .expect("user");
        let head = std::fs::read(&plain).expect("read");
        assert!(head.starts_with(b"SQLite format 3"), "plain file");
    }
}
