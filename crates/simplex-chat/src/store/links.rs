//! Which links are ours and which contacts came through an address: refusing `/c` of our
//! own invitation or address, and recognising a contact that asks again through an address
//! (the reference's `xContactId`, `contactReqId` in `x.contact`; its
//! `CRContactAlreadyExists` on the requester's side, `CRContactRequestAlreadyAccepted` on
//! the owner's).
//!
//! Columns: `pending_conns.link` (our invitation's link, or the address we asked through),
//! `pending_conns.short_link` (our invitation's short link, when it has one)
//! and `pending_conns.xcontact_id` (the ID sent with that request, reused when asking
//! again); `contacts.via_link` and `contacts.xcontact_id` (kept from the pending request or
//! from an accepted request); `contact_requests.xcontact_id`; `groups.via_link` (the group
//! link a group was joined through, for the connection plan's "known group").

use rusqlite::{params, OptionalExtension};

use super::{ChatStore, Contact, ContactRequest, StoreError};
use crate::protocol::Profile;

/// Adds the columns of this module to a database made before them.
pub(super) fn migrate(db: &rusqlite::Connection) -> Result<(), StoreError> {
    for (table, column) in [
        ("pending_conns", "link"),
        ("pending_conns", "short_link"),
        ("pending_conns", "xcontact_id"),
        ("contacts", "via_link"),
        ("contacts", "xcontact_id"),
        ("contact_requests", "xcontact_id"),
    ] {
        let has: bool = db.query_row(
            &format!("SELECT count(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
            [column],
            |r| r.get(0),
        )?;
        if !has {
            db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}

/// Adds `groups.via_link` to a database made before it (after the groups table exists).
pub(super) fn migrate_groups(db: &rusqlite::Connection) -> Result<(), StoreError> {
    let has: bool = db.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('groups') WHERE name = 'via_link'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        db.execute_batch("ALTER TABLE groups ADD COLUMN via_link TEXT")?;
    }
    Ok(())
}

impl ChatStore {
    /// Records the link of a connection in progress (our invitation, or the address we
    /// asked through) and the request's ID.
    pub fn set_pending_link(
        &self,
        conn_id: &[u8],
        link: &str,
        xcontact_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE pending_conns SET link = ?2, xcontact_id = ?3 WHERE conn_id = ?1",
            params![conn_id, link, xcontact_id],
        )?;
        Ok(())
    }

    /// Records the short link of our invitation in progress.
    pub fn set_pending_short_link(&self, conn_id: &[u8], short: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE pending_conns SET short_link = ?2 WHERE conn_id = ?1",
            params![conn_id, short],
        )?;
        Ok(())
    }

    /// True when `link` (full or short) is one of our invitations in progress.
    pub fn is_own_invitation(&self, link: &str) -> Result<bool, StoreError> {
        let n: i64 = self.db.query_row(
            "SELECT count(*) FROM pending_conns
             WHERE kind = 'inv' AND (link = ?1 OR short_link = ?1)",
            [link],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// The ID of a request we already sent through this address and that is not accepted
    /// yet: asking again reuses it, so that the owner sees one request.
    pub fn pending_request_id(&self, link: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT xcontact_id FROM pending_conns
                 WHERE kind = 'req' AND link = ?1 AND xcontact_id IS NOT NULL LIMIT 1",
                [link],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Copies what the pending connection knew about its link to the contact made of it.
    pub(super) fn keep_link(&self, conn_id: &[u8], contact_id: i64) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE contacts SET
               via_link = (SELECT link FROM pending_conns WHERE conn_id = ?1 AND kind = 'req'),
               xcontact_id = (SELECT xcontact_id FROM pending_conns
                              WHERE conn_id = ?1 AND kind = 'req')
             WHERE id = ?2",
            params![conn_id, contact_id],
        )?;
        Ok(())
    }

    /// The contact we connected to through this address (not deleted by it).
    pub fn contact_via_link(&self, link: &str) -> Result<Option<Contact>, StoreError> {
        self.contact_where("via_link = ?1 AND deleted = 0", [link])
    }

    /// The contact whose request carried this ID (not deleted by it).
    pub fn contact_by_xcontact(&self, xcontact_id: &str) -> Result<Option<Contact>, StoreError> {
        self.contact_where("xcontact_id = ?1 AND deleted = 0", [xcontact_id])
    }

    /// The request that carried this ID.
    pub fn request_by_xcontact(
        &self,
        xcontact_id: &str,
    ) -> Result<Option<ContactRequest>, StoreError> {
        self.request_where("xcontact_id = ?1", [xcontact_id])
    }

    /// Records the request's ID.
    pub fn set_request_xcontact(&self, id: i64, xcontact_id: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE contact_requests SET xcontact_id = ?2 WHERE id = ?1",
            params![id, xcontact_id],
        )?;
        Ok(())
    }

    /// A request asked again: its new invitation and profile replace the old ones.
    pub fn update_request(
        &self,
        req: &ContactRequest,
        inv_id: &[u8],
        p: &Profile,
    ) -> Result<ContactRequest, StoreError> {
        self.db.execute(
            "UPDATE contact_requests SET inv_id = ?2, display_name = ?3, full_name = ?4
             WHERE id = ?1",
            params![req.id, inv_id, p.display_name, p.full_name],
        )?;
        Ok(ContactRequest {
            inv_id: inv_id.to_vec(),
            profile: p.clone(),
            ..req.clone()
        })
    }

    /// The link a connection in progress was made with or for, if recorded.
    pub fn pending_link(&self, conn_id: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT link FROM pending_conns WHERE conn_id = ?1",
                [conn_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// True when we joined this invitation (full or short, as typed) and the connection is
    /// still in progress.
    pub fn is_joining(&self, link: &str) -> Result<bool, StoreError> {
        let n: i64 = self.db.query_row(
            "SELECT count(*) FROM pending_conns WHERE kind = 'join' AND link = ?1",
            [link],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Records the group link a group was joined through.
    pub fn set_group_via_link(&self, group_id: i64, link: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE groups SET via_link = ?2 WHERE id = ?1",
            params![group_id, link],
        )?;
        Ok(())
    }

    /// The group joined through this group link, if any.
    pub fn group_via_link(&self, link: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT id FROM groups WHERE via_link = ?1 ORDER BY id DESC LIMIT 1",
                [link],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every group link of this user: group row ID, its address connection, its full link.
    pub fn group_links(&self) -> Result<Vec<(i64, Vec<u8>, String)>, StoreError> {
        let mut st = self
            .db
            .prepare("SELECT group_id, conn_id, link FROM group_links")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
