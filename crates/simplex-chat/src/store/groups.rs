//! Groups in the chat database: the groups and their profiles, the members (this user's
//! own membership among them, category `user`) with their IDs, roles, categories,
//! statuses and agent connections, the host's introductions (which pairs of members it
//! forwards between until they are connected), the message IDs seen per author (for
//! de-duplicating forwarded copies) and the group's chat items. The reference's tables
//! (`groups`, `group_members`, `group_member_intros`, `chat_items`) in a smaller form.

use rusqlite::{params, OptionalExtension, Row};

use super::{ChatStore, StoreError};
use crate::protocol::group::{GroupProfile, MemberId, MemberRole};
use crate::protocol::Profile;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS groups (id INTEGER PRIMARY KEY,
  local_name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, full_name TEXT NOT NULL,
  inv_conn_req TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS group_members (id INTEGER PRIMARY KEY,
  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  member_id TEXT NOT NULL, role TEXT NOT NULL, category TEXT NOT NULL, status TEXT NOT NULL,
  local_name TEXT NOT NULL, display_name TEXT NOT NULL, full_name TEXT NOT NULL,
  conn_id BLOB UNIQUE, contact_id INTEGER, invited_by INTEGER, peer_version TEXT,
  UNIQUE (group_id, member_id));
CREATE INDEX IF NOT EXISTS idx_group_members_group ON group_members (group_id);
CREATE TABLE IF NOT EXISTS group_intros (
  re_member INTEGER NOT NULL REFERENCES group_members (id) ON DELETE CASCADE,
  to_member INTEGER NOT NULL REFERENCES group_members (id) ON DELETE CASCADE,
  status TEXT NOT NULL, PRIMARY KEY (re_member, to_member));
CREATE TABLE IF NOT EXISTS group_msgs_seen (
  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  member_id TEXT NOT NULL, msg_id TEXT NOT NULL, PRIMARY KEY (group_id, member_id, msg_id));
CREATE TABLE IF NOT EXISTS group_items (id INTEGER PRIMARY KEY,
  group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  member INTEGER, sent INTEGER NOT NULL, text TEXT NOT NULL, ts_ms INTEGER NOT NULL,
  fwd INTEGER NOT NULL DEFAULT 0, msg_id TEXT);
CREATE INDEX IF NOT EXISTS idx_group_items_group ON group_items (group_id, id);
CREATE TABLE IF NOT EXISTS group_links (
  group_id INTEGER PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
  conn_id BLOB NOT NULL UNIQUE, link TEXT NOT NULL, role TEXT NOT NULL);
";

/// Adds the columns a database made by an earlier build of this module lacks.
pub(super) fn migrate(db: &rusqlite::Connection) -> Result<(), StoreError> {
    for (column, decl) in [("fwd", "INTEGER NOT NULL DEFAULT 0"), ("msg_id", "TEXT")] {
        let has: bool = db.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('group_items') WHERE name = ?1",
            [column],
            |r| r.get(0),
        )?;
        if !has {
            db.execute_batch(&format!(
                "ALTER TABLE group_items ADD COLUMN {column} {decl}"
            ))?;
        }
    }
    Ok(())
}

/// A group's link: an address whose requests join the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLink {
    /// The group's row ID.
    pub group_id: i64,
    /// The address's agent connection.
    pub conn_id: Vec<u8>,
    /// The full link.
    pub link: String,
    /// The role members joining through it get.
    pub role: MemberRole,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Row ID.
    pub id: i64,
    /// The unique local name used in commands (`team`, `team_1`, …).
    pub name: String,
    /// The group's profile.
    pub profile: GroupProfile,
    /// The invitation link of a group we are invited to and have not joined yet.
    pub inv_conn_req: Option<String>,
}

/// How a member is related to this user (`GroupMemberCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// This user's own membership.
    User,
    /// A member this user invited (we are its host).
    Invitee,
    /// The member who invited this user.
    Host,
    /// A member who was in the group before this user joined (introduced to us).
    Pre,
    /// A member who joined after this user (announced to us).
    Post,
}

/// Where a member is (`GroupMemberStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Invited, not joined.
    Invited,
    /// Introduced; the link for the connection is being passed on.
    IntroInv,
    /// The invitation was accepted (joined, not connected).
    Accepted,
    /// Announced by the host; not connected to us yet.
    Announced,
    /// Connected.
    Connected,
    /// This user created the group.
    Creator,
    /// Removed from the group.
    Removed,
    /// Left the group.
    Left,
    /// The group was deleted (for this user's membership).
    GroupDeleted,
    /// Known only as the author of a forwarded message (history from a member who left,
    /// the reference's "unknown member record").
    Unknown,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident = $s:literal),* $(,)? }) => {
        impl $t {
            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
        }
    };
}

text_enum!(Category { User = "user", Invitee = "invitee", Host = "host", Pre = "pre", Post = "post" });
text_enum!(Status {
    Invited = "invited",
    IntroInv = "intro-inv",
    Accepted = "accepted",
    Announced = "announced",
    Connected = "connected",
    Creator = "creator",
    Removed = "removed",
    Left = "left",
    GroupDeleted = "deleted",
    Unknown = "unknown",
});

impl Status {
    /// Still in the group (not removed, left or gone with the group).
    pub fn is_current(self) -> bool {
        !matches!(
            self,
            Status::Removed | Status::Left | Status::GroupDeleted | Status::Unknown
        )
    }
}

/// A member of a group (this user's membership too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Row ID.
    pub id: i64,
    /// The group's row ID.
    pub group_id: i64,
    /// The group-wide member ID.
    pub member_id: MemberId,
    /// The role.
    pub role: MemberRole,
    /// How it is related to this user.
    pub category: Category,
    /// Where it is.
    pub status: Status,
    /// The local name (a contact's name when the member is that contact).
    pub name: String,
    /// The member's profile.
    pub profile: Profile,
    /// The agent connection to it, once there is one.
    pub conn_id: Option<Vec<u8>>,
    /// The contact it is, when it is one (invited by us, or our host).
    pub contact_id: Option<i64>,
    /// The row of the member who introduced or invited it.
    pub invited_by: Option<i64>,
    /// Its chat version range, when known (`"1-8"`).
    pub peer_version: Option<String>,
}

/// What a new member row holds.
#[derive(Debug, Clone)]
pub struct NewMember<'a> {
    /// The group-wide member ID.
    pub member_id: &'a str,
    /// The role.
    pub role: MemberRole,
    /// How it is related to this user.
    pub category: Category,
    /// Where it is.
    pub status: Status,
    /// Its profile.
    pub profile: &'a Profile,
    /// The contact it is.
    pub contact_id: Option<i64>,
    /// Who introduced or invited it.
    pub invited_by: Option<i64>,
    /// Its chat version range.
    pub peer_version: Option<&'a str>,
}

/// A message in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupItem {
    /// Row ID.
    pub id: i64,
    /// The author's member row (none for ours).
    pub member: Option<i64>,
    /// Sent by us.
    pub sent: bool,
    /// The text.
    pub text: String,
    /// When, Unix milliseconds.
    pub ts_ms: i64,
    /// It came forwarded by the host (shown with ` [>>]`, as the reference).
    pub forwarded: bool,
    /// The message's shared ID (`msgId`), when it had one.
    pub msg_id: Option<String>,
}

/// A message to add to a group's chat.
#[derive(Debug, Clone, Copy)]
pub struct NewGroupItem<'a> {
    /// The author's member row (none for ours).
    pub member: Option<i64>,
    /// The text.
    pub text: &'a str,
    /// When, Unix milliseconds.
    pub ts_ms: i64,
    /// It came forwarded.
    pub forwarded: bool,
    /// Its shared ID.
    pub msg_id: Option<&'a str>,
}

const MEMBER_COLUMNS: &str = "id, group_id, member_id, role, category, status, local_name,
  display_name, full_name, conn_id, contact_id, invited_by, peer_version";

fn member_row(r: &Row<'_>) -> rusqlite::Result<Member> {
    let bad = |i: usize| {
        rusqlite::Error::InvalidColumnType(i, "enum".into(), rusqlite::types::Type::Text)
    };
    let role: String = r.get(3)?;
    let category: String = r.get(4)?;
    let status: String = r.get(5)?;
    Ok(Member {
        id: r.get(0)?,
        group_id: r.get(1)?,
        member_id: r.get(2)?,
        role: MemberRole::parse(&role).ok_or_else(|| bad(3))?,
        category: Category::parse(&category).ok_or_else(|| bad(4))?,
        status: Status::parse(&status).ok_or_else(|| bad(5))?,
        name: r.get(6)?,
        profile: Profile {
            display_name: r.get(7)?,
            full_name: r.get(8)?,
            peer_type: None,
        },
        conn_id: r.get(9)?,
        contact_id: r.get(10)?,
        invited_by: r.get(11)?,
        peer_version: r.get(12)?,
    })
}

fn group_row(r: &Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: r.get(0)?,
        name: r.get(1)?,
        profile: GroupProfile {
            display_name: r.get(2)?,
            full_name: r.get(3)?,
        },
        inv_conn_req: r.get(4)?,
    })
}

const GROUP_COLUMNS: &str = "id, local_name, display_name, full_name, inv_conn_req";

impl ChatStore {
    fn group_name_taken(&self, name: &str) -> Result<bool, StoreError> {
        let n: i64 = self.db.query_row(
            "SELECT count(*) FROM groups WHERE local_name = ?1",
            [name],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// A local name for a group called `display_name`: that name, or with `_1`, `_2`… when
    /// another group (not `except`) has it.
    fn free_group_name(
        &self,
        display_name: &str,
        except: Option<i64>,
    ) -> Result<String, StoreError> {
        let mut name = display_name.to_owned();
        let mut i = 0u32;
        while self.group_name_taken(&name)? && self.group_by_name(&name)?.map(|g| g.id) != except {
            i = i.saturating_add(1);
            name = format!("{display_name}_{i}");
        }
        Ok(name)
    }

    /// A group's new profile (`x.grp.info`, `/gp`): its profile and, when its name changed,
    /// its local name (with a suffix when another group has that name); the group as now.
    pub fn update_group_profile(
        &self,
        group_id: i64,
        p: &GroupProfile,
    ) -> Result<Group, StoreError> {
        let Some(g) = self.group_by_id(group_id)? else {
            return Err(rusqlite::Error::QueryReturnedNoRows.into());
        };
        let local = if g.profile.display_name == p.display_name {
            g.name.clone()
        } else {
            self.free_group_name(&p.display_name, Some(group_id))?
        };
        self.db.execute(
            "UPDATE groups SET local_name = ?2, display_name = ?3, full_name = ?4 WHERE id = ?1",
            params![group_id, local, p.display_name, p.full_name],
        )?;
        Ok(Group {
            name: local,
            profile: p.clone(),
            ..g
        })
    }

    /// Creates a group with this user's membership (`membership`: ID, role, status).
    pub fn create_group(
        &self,
        profile: &GroupProfile,
        user: &Profile,
        membership: (&str, MemberRole, Status),
        inv_conn_req: Option<&str>,
    ) -> Result<Group, StoreError> {
        let name = self.free_group_name(&profile.display_name, None)?;
        self.db.execute(
            "INSERT INTO groups (local_name, display_name, full_name, inv_conn_req, created_at)
             VALUES (?1, ?2, ?3, ?4, strftime('%s','now'))",
            params![name, profile.display_name, profile.full_name, inv_conn_req],
        )?;
        let id = self.db.last_insert_rowid();
        let (member_id, role, status) = membership;
        self.db.execute(
            "INSERT INTO group_members (group_id, member_id, role, category, status, local_name,
               display_name, full_name) VALUES (?1, ?2, ?3, 'user', ?4, ?5, ?5, ?6)",
            params![
                id,
                member_id,
                role.as_str(),
                status.as_str(),
                user.display_name,
                user.full_name
            ],
        )?;
        Ok(Group {
            id,
            name,
            profile: profile.clone(),
            inv_conn_req: inv_conn_req.map(str::to_owned),
        })
    }

    /// The group with this local name.
    pub fn group_by_name(&self, name: &str) -> Result<Option<Group>, StoreError> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE local_name = ?1");
        Ok(self.db.query_row(&sql, [name], group_row).optional()?)
    }

    /// The group with this row ID.
    pub fn group_by_id(&self, id: i64) -> Result<Option<Group>, StoreError> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?1");
        Ok(self.db.query_row(&sql, [id], group_row).optional()?)
    }

    /// Every group, by local name, case-insensitively.
    pub fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let sql =
            format!("SELECT {GROUP_COLUMNS} FROM groups ORDER BY lower(local_name), local_name");
        let mut st = self.db.prepare(&sql)?;
        let rows = st.query_map([], group_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets the invitation link once the invitation is accepted.
    pub fn clear_group_invitation(&self, group_id: i64) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE groups SET inv_conn_req = NULL WHERE id = ?1",
            [group_id],
        )?;
        Ok(())
    }

    /// Deletes a group with its members, introductions and items.
    pub fn delete_group(&self, group_id: i64) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM groups WHERE id = ?1", [group_id])?;
        Ok(())
    }

    fn member_name_for(&self, m: &NewMember<'_>) -> Result<String, StoreError> {
        if let Some(cid) = m.contact_id {
            if let Some(c) = self.contact_by_id(cid)? {
                return Ok(c.name);
            }
        }
        self.unique_name(&m.profile.display_name)
    }

    /// Adds a member (its local name: its contact's, else a name unique among contacts and
    /// members).
    pub fn add_member(&self, group_id: i64, m: &NewMember<'_>) -> Result<Member, StoreError> {
        let name = self.member_name_for(m)?;
        self.db.execute(
            "INSERT INTO group_members (group_id, member_id, role, category, status, local_name,
               display_name, full_name, contact_id, invited_by, peer_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                group_id,
                m.member_id,
                m.role.as_str(),
                m.category.as_str(),
                m.status.as_str(),
                name,
                m.profile.display_name,
                m.profile.full_name,
                m.contact_id,
                m.invited_by,
                m.peer_version
            ],
        )?;
        let id = self.db.last_insert_rowid();
        self.member_where("id = ?1", [id])?
            .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    }

    fn member_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Option<Member>, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM group_members WHERE {cond}");
        Ok(self.db.query_row(&sql, p, member_row).optional()?)
    }

    /// The member on this agent connection.
    pub fn member_by_conn(&self, conn_id: &[u8]) -> Result<Option<Member>, StoreError> {
        self.member_where("conn_id = ?1", [conn_id])
    }

    /// The member row with this ID.
    pub fn member_by_id(&self, id: i64) -> Result<Option<Member>, StoreError> {
        self.member_where("id = ?1", [id])
    }

    /// The member (or membership) with this group-wide ID.
    pub fn member_by_member_id(
        &self,
        group_id: i64,
        member_id: &str,
    ) -> Result<Option<Member>, StoreError> {
        self.member_where(
            "group_id = ?1 AND member_id = ?2",
            params![group_id, member_id],
        )
    }

    /// The member (not this user) with this local name.
    pub fn member_by_name(&self, group_id: i64, name: &str) -> Result<Option<Member>, StoreError> {
        self.member_where(
            "group_id = ?1 AND local_name = ?2 AND category != 'user' ORDER BY id DESC LIMIT 1",
            params![group_id, name],
        )
    }

    /// This user's membership.
    pub fn membership(&self, group_id: i64) -> Result<Member, StoreError> {
        self.member_where("group_id = ?1 AND category = 'user'", [group_id])?
            .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    }

    /// The group's members other than this user, in the order they were added.
    pub fn members(&self, group_id: i64) -> Result<Vec<Member>, StoreError> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM group_members WHERE group_id = ?1 AND category != 'user'
             ORDER BY id"
        );
        let mut st = self.db.prepare(&sql)?;
        let rows = st.query_map([group_id], member_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets a member's agent connection.
    pub fn set_member_conn(&self, id: i64, conn_id: Option<&[u8]>) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE group_members SET conn_id = ?2 WHERE id = ?1",
            params![id, conn_id],
        )?;
        Ok(())
    }

    /// Sets a member's status.
    pub fn set_member_status(&self, id: i64, status: Status) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE group_members SET status = ?2 WHERE id = ?1",
            params![id, status.as_str()],
        )?;
        Ok(())
    }

    /// Sets a member's role.
    pub fn set_member_role(&self, id: i64, role: MemberRole) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE group_members SET role = ?2 WHERE id = ?1",
            params![id, role.as_str()],
        )?;
        Ok(())
    }

    /// Records a member's chat version range and profile as it sent them.
    pub fn set_member_peer(
        &self,
        id: i64,
        version: Option<&str>,
        profile: Option<&Profile>,
    ) -> Result<(), StoreError> {
        if let Some(v) = version {
            self.db.execute(
                "UPDATE group_members SET peer_version = ?2 WHERE id = ?1",
                params![id, v],
            )?;
        }
        if let Some(p) = profile {
            self.db.execute(
                "UPDATE group_members SET display_name = ?2, full_name = ?3 WHERE id = ?1",
                params![id, p.display_name, p.full_name],
            )?;
        }
        Ok(())
    }

    /// A member's new profile (`x.info` in a group); a member that is not a contact takes a
    /// new local name when its display name changed (a contact's follows the contact).
    pub fn update_member_profile(&self, m: &Member, p: &Profile) -> Result<(), StoreError> {
        let name = if m.contact_id.is_some() || p.display_name == m.profile.display_name {
            m.name.clone()
        } else {
            self.unique_name(&p.display_name)?
        };
        self.db.execute(
            "UPDATE group_members SET local_name = ?2, display_name = ?3, full_name = ?4
             WHERE id = ?1",
            params![m.id, name, p.display_name, p.full_name],
        )?;
        Ok(())
    }

    /// This user's new profile in every group's membership row.
    pub fn set_user_in_groups(&self, p: &Profile) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE group_members SET local_name = ?1, display_name = ?1, full_name = ?2
             WHERE category = 'user'",
            params![p.display_name, p.full_name],
        )?;
        Ok(())
    }

    /// Forgets a connection in progress (it became a group's member connection).
    pub fn remove_pending(&self, conn_id: &[u8]) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM pending_conns WHERE conn_id = ?1", [conn_id])?;
        Ok(())
    }

    /// Records a group's link.
    pub fn set_group_link(&self, l: &GroupLink) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT OR REPLACE INTO group_links (group_id, conn_id, link, role) VALUES (?1, ?2, ?3, ?4)",
            params![l.group_id, l.conn_id, l.link, l.role.as_str()],
        )?;
        Ok(())
    }

    fn group_link_where(
        &self,
        cond: &str,
        p: impl rusqlite::Params,
    ) -> Result<Option<GroupLink>, StoreError> {
        let sql = format!("SELECT group_id, conn_id, link, role FROM group_links WHERE {cond}");
        let row = self
            .db
            .query_row(&sql, p, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
            })
            .optional()?;
        Ok(row.map(|(group_id, conn_id, link, role)| GroupLink {
            group_id,
            conn_id,
            link,
            role: MemberRole::parse(&role).unwrap_or(MemberRole::Member),
        }))
    }

    /// A group's link.
    pub fn group_link(&self, group_id: i64) -> Result<Option<GroupLink>, StoreError> {
        self.group_link_where("group_id = ?1", [group_id])
    }

    /// The group link on this agent connection.
    pub fn group_link_by_conn(&self, conn_id: &[u8]) -> Result<Option<GroupLink>, StoreError> {
        self.group_link_where("conn_id = ?1", [conn_id])
    }

    /// Forgets a group's link.
    pub fn delete_group_link(&self, group_id: i64) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM group_links WHERE group_id = ?1", [group_id])?;
        Ok(())
    }

    /// Records that the host introduced `re_member` (already in the group) to `to_member`
    /// (new).
    pub fn add_intro(&self, re_member: i64, to_member: i64) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT OR REPLACE INTO group_intros (re_member, to_member, status) VALUES (?1, ?2, 'new')",
            params![re_member, to_member],
        )?;
        Ok(())
    }

    /// Marks the introduction between two members (either way round) connected: the host
    /// stops forwarding between them. Returns whether there was one.
    pub fn set_intro_connected(&self, a: i64, b: i64) -> Result<bool, StoreError> {
        let n = self.db.execute(
            "UPDATE group_intros SET status = 'con'
             WHERE (re_member = ?1 AND to_member = ?2) OR (re_member = ?2 AND to_member = ?1)",
            params![a, b],
        )?;
        Ok(n > 0)
    }

    /// The members a message from `sender` is forwarded to: those introduced to it or it
    /// to them by this user and not yet connected to it, connected to us, still in.
    pub fn forward_targets(&self, sender: i64) -> Result<Vec<Member>, StoreError> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM group_members WHERE id IN (
               SELECT re_member FROM group_intros WHERE to_member = ?1 AND status != 'con'
               UNION SELECT to_member FROM group_intros WHERE re_member = ?1 AND status != 'con')
             AND status = 'connected' AND conn_id IS NOT NULL ORDER BY id"
        );
        let mut st = self.db.prepare(&sql)?;
        let rows = st.query_map([sender], member_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a message ID from an author; false when it was seen before (a forwarded
    /// copy of a message that also came directly, or the other way round).
    pub fn first_seen(
        &self,
        group_id: i64,
        author: &str,
        msg_id: &str,
    ) -> Result<bool, StoreError> {
        let n = self.db.execute(
            "INSERT OR IGNORE INTO group_msgs_seen (group_id, member_id, msg_id) VALUES (?1, ?2, ?3)",
            params![group_id, author, msg_id],
        )?;
        Ok(n > 0)
    }

    /// Adds a message to a group's chat.
    pub fn add_group_item(
        &self,
        group_id: i64,
        it: NewGroupItem<'_>,
    ) -> Result<GroupItem, StoreError> {
        self.db.execute(
            "INSERT INTO group_items (group_id, member, sent, text, ts_ms, fwd, msg_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                group_id,
                it.member,
                it.member.is_none(),
                it.text,
                it.ts_ms,
                it.forwarded,
                it.msg_id
            ],
        )?;
        Ok(GroupItem {
            id: self.db.last_insert_rowid(),
            member: it.member,
            sent: it.member.is_none(),
            text: it.text.to_owned(),
            ts_ms: it.ts_ms,
            forwarded: it.forwarded,
            msg_id: it.msg_id.map(str::to_owned),
        })
    }

    /// The last `n` items of a group, oldest first.
    pub fn last_group_items(&self, group_id: i64, n: u32) -> Result<Vec<GroupItem>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT id, member, sent, text, ts_ms, fwd, msg_id FROM (SELECT * FROM group_items
               WHERE group_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
        )?;
        let rows = st.query_map(params![group_id, n], |r| {
            Ok(GroupItem {
                id: r.get(0)?,
                member: r.get(1)?,
                sent: r.get(2)?,
                text: r.get(3)?,
                ts_ms: r.get(4)?,
                forwarded: r.get(5)?,
                msg_id: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: &str) -> Profile {
        Profile::new(n)
    }

    fn new_member<'a>(id: &'a str, profile: &'a Profile, contact_id: Option<i64>) -> NewMember<'a> {
        NewMember {
            member_id: id,
            role: MemberRole::Member,
            category: Category::Invitee,
            status: Status::Invited,
            profile,
            contact_id,
            invited_by: None,
            peer_version: None,
        }
    }

    #[test]
    fn groups_members_intros_and_items_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chat.db");
        let team = GroupProfile {
            display_name: "team".into(),
            full_name: String::new(),
        };
        let (gid, bob_row, cath_row) = {
            let s = ChatStore::open(&path, "").expect("open");
            let bob = s.add_contact(b"c1", &p("bob")).expect("contact");
            let g = s
                .create_group(
                    &team,
                    &p("alice"),
                    ("AAAA", MemberRole::Owner, Status::Creator),
                    None,
                )
                .expect("group");
            // A second group of the same name gets a suffix.
            let g2 = s
                .create_group(
                    &team,
                    &p("alice"),
                    ("BBBB", MemberRole::Owner, Status::Creator),
                    None,
                )
                .expect("group 2");
            assert_eq!(g2.name, "team_1");
            let (bobby, bob2) = (p("Bobby"), p("bob"));
            let b = s
                .add_member(g.id, &new_member("m1", &bobby, Some(bob.id)))
                .expect("bob");
            assert_eq!(b.name, "bob", "a contact's member has the contact's name");
            let c = s
                .add_member(g.id, &new_member("m2", &bob2, None))
                .expect("cath");
            assert_eq!(
                c.name, "bob_1",
                "names are unique among contacts and members"
            );
            s.set_member_conn(b.id, Some(b"conn-b")).expect("conn");
            s.set_member_status(b.id, Status::Connected)
                .expect("status");
            s.set_member_conn(c.id, Some(b"conn-c")).expect("conn");
            s.set_member_status(c.id, Status::Connected)
                .expect("status");
            s.add_intro(b.id, c.id).expect("intro");
            let item = |member, text, forwarded| NewGroupItem {
                member,
                text,
                ts_ms: 1,
                forwarded,
                msg_id: Some("m"),
            };
            s.add_group_item(g.id, item(None, "hello", false))
                .expect("item");
            s.add_group_item(g.id, item(Some(b.id), "hi", true))
                .expect("item");
            assert!(s.first_seen(g.id, "m1", "x").expect("seen"));
            (g.id, b.id, c.id)
        };
        let s = ChatStore::open(&path, "").expect("reopen");
        let g = s.group_by_name("team").expect("q").expect("group");
        assert_eq!(g.id, gid);
        let me = s.membership(gid).expect("membership");
        assert_eq!((me.role, me.status), (MemberRole::Owner, Status::Creator));
        let ms = s.members(gid).expect("members");
        assert_eq!(ms.len(), 2);
        let b = s.member_by_conn(b"conn-b").expect("q").expect("bob");
        assert_eq!(b.id, bob_row);
        assert_eq!(
            s.forward_targets(bob_row)
                .expect("targets")
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            vec![cath_row]
        );
        assert_eq!(
            s.forward_targets(cath_row)
                .expect("targets")
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            vec![bob_row]
        );
        assert!(s.set_intro_connected(cath_row, bob_row).expect("con"));
        assert!(s.forward_targets(bob_row).expect("targets").is_empty());
        assert!(!s.first_seen(gid, "m1", "x").expect("seen twice"));
        assert!(s.first_seen(gid, "m2", "x").expect("another author"));
        let items = s.last_group_items(gid, 10).expect("items");
        assert_eq!(
            items
                .iter()
                .map(|i| (i.sent, i.text.as_str()))
                .collect::<Vec<_>>(),
            vec![(true, "hello"), (false, "hi")]
        );
        s.delete_group(gid).expect("delete");
        assert!(s.group_by_name("team").expect("q").is_none());
        assert!(s.member_by_conn(b"conn-b").expect("q").is_none());
    }
}
