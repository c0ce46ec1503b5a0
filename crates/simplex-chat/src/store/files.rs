//! File transfers in the chat database: one row per file sent or offered to us (its number
//! is the `1` of `/fr 1`, `/fc 1`, `/fs 1`, shared by both directions as in the
//! reference's `files` table), the shared message ID of the `x.msg.new` that carried the
//! invitation, name, size, path (the source for a sent file, the destination once a
//! received one is accepted) and status; for a received file, the description parts as
//! they arrive; for a sent file, one description per recipient and whether it was sent.
//!
//! XFTP's own state (chunks, replicas, keys) stays in `xftp-client`'s work directory of
//! the transfer, which lets an upload or a download resume after a restart.

use rusqlite::{params, OptionalExtension, Row};

use super::{ChatStore, StoreError};
use crate::protocol::file::FileDescr;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY,
  sent INTEGER NOT NULL, contact_id INTEGER, group_id INTEGER, msg_id TEXT NOT NULL,
  file_name TEXT NOT NULL, file_size INTEGER NOT NULL, path TEXT, status TEXT NOT NULL,
  descr TEXT NOT NULL DEFAULT '', descr_next_part INTEGER NOT NULL DEFAULT 0,
  descr_complete INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
  member_id INTEGER, snd_descr TEXT, caption TEXT);
CREATE INDEX IF NOT EXISTS idx_files_msg ON files (msg_id);
CREATE TABLE IF NOT EXISTS file_recipients (
  file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  contact_id INTEGER, member_id INTEGER, descr TEXT, status TEXT NOT NULL,
  PRIMARY KEY (file_id, contact_id, member_id));
";

/// Databases made before files in groups: the sender member of a received group file.
/// Databases made before a sent file's own description was kept (to delete it from the
/// relays when cancelled). Databases made before a file's caption was kept (the bot API's
/// items show it).
pub(super) fn migrate(db: &rusqlite::Connection) -> Result<(), StoreError> {
    for column in ["member_id INTEGER", "snd_descr TEXT", "caption TEXT"] {
        let name = column.split(' ').next().unwrap_or_default();
        let has: bool = db.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('files') WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?;
        if !has {
            db.execute_batch(&format!("ALTER TABLE files ADD COLUMN {column}"))?;
        }
    }
    Ok(())
}

/// Where a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Sent: uploading to the relays. Received: offered, not accepted.
    New,
    /// Received: accepted (`/fr`), waiting for the whole description or downloading.
    Accepted,
    /// Sent: uploaded and every recipient's description sent. Received: saved.
    Complete,
    /// Cancelled by either side.
    Cancelled,
    /// Failed (the error was shown when it happened).
    Error,
}

impl FileStatus {
    fn as_str(self) -> &'static str {
        match self {
            FileStatus::New => "new",
            FileStatus::Accepted => "accepted",
            FileStatus::Complete => "complete",
            FileStatus::Cancelled => "cancelled",
            FileStatus::Error => "error",
        }
    }

    fn parse(s: &str) -> FileStatus {
        match s {
            "new" => FileStatus::New,
            "accepted" => FileStatus::Accepted,
            "complete" => FileStatus::Complete,
            "cancelled" => FileStatus::Cancelled,
            _ => FileStatus::Error,
        }
    }
}

/// Who a file is with: a contact or a group (by row ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChat {
    /// A direct chat.
    Contact(i64),
    /// A group.
    Group(i64),
}

/// One file transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransfer {
    /// The file's number.
    pub id: i64,
    /// Sent by us.
    pub sent: bool,
    /// The chat it belongs to.
    pub chat: FileChat,
    /// The shared message ID of the invitation.
    pub msg_id: String,
    /// The file's name, as the sender gave it.
    pub file_name: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// The source (sent) or destination (received, once accepted).
    pub path: Option<String>,
    /// Its status.
    pub status: FileStatus,
    /// Received: the description so far.
    pub descr: String,
    /// Received: the number of the next part expected.
    pub descr_next_part: u32,
    /// Received: the last part has arrived.
    pub descr_complete: bool,
    /// Received in a group: the member who sent it (row ID).
    pub member: Option<i64>,
}

/// What adding a description part did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescrPart {
    /// Appended; more parts are to come.
    Added,
    /// Appended and the description is now whole.
    Completed,
    /// Not the part expected next (repeated, out of order, or after the last): ignored.
    Unexpected,
}

const COLUMNS: &str = "id, sent, contact_id, group_id, msg_id, file_name, file_size, path, \
    status, descr, descr_next_part, descr_complete, member_id";

fn transfer(r: &Row<'_>) -> rusqlite::Result<FileTransfer> {
    let contact: Option<i64> = r.get(2)?;
    let group: Option<i64> = r.get(3)?;
    let size: i64 = r.get(6)?;
    let next: i64 = r.get(10)?;
    Ok(FileTransfer {
        id: r.get(0)?,
        sent: r.get(1)?,
        chat: match (contact, group) {
            (_, Some(g)) => FileChat::Group(g),
            (c, None) => FileChat::Contact(c.unwrap_or_default()),
        },
        msg_id: r.get(4)?,
        file_name: r.get(5)?,
        file_size: u64::try_from(size).unwrap_or_default(),
        path: r.get(7)?,
        status: FileStatus::parse(&r.get::<_, String>(8)?),
        descr: r.get(9)?,
        descr_next_part: u32::try_from(next).unwrap_or_default(),
        descr_complete: r.get(11)?,
        member: r.get(12)?,
    })
}

impl ChatStore {
    /// Records a file: sent by us (`path` its source) or offered to us (`path` none).
    pub fn add_file(
        &self,
        sent: bool,
        chat: FileChat,
        msg_id: &str,
        file_name: &str,
        file_size: u64,
        path: Option<&str>,
    ) -> Result<FileTransfer, StoreError> {
        let (contact, group) = match chat {
            FileChat::Contact(c) => (Some(c), None),
            FileChat::Group(g) => (None, Some(g)),
        };
        let size = i64::try_from(file_size).unwrap_or(i64::MAX);
        self.db.execute(
            "INSERT INTO files (sent, contact_id, group_id, msg_id, file_name, file_size, path,
               status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, strftime('%s','now'))",
            params![
                sent,
                contact,
                group,
                msg_id,
                file_name,
                size,
                path,
                FileStatus::New.as_str()
            ],
        )?;
        let id = self.db.last_insert_rowid();
        Ok(self.db.query_row(
            &format!("SELECT {COLUMNS} FROM files WHERE id = ?1"),
            [id],
            transfer,
        )?)
    }

    /// Records the member who sent a file offered to us in a group.
    pub fn set_file_member(&self, id: i64, member: i64) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE files SET member_id = ?2 WHERE id = ?1",
            params![id, member],
        )?;
        Ok(())
    }

    /// Keeps a sent file's own description (YAML), with which it is deleted from the relays.
    pub fn set_snd_descr(&self, id: i64, descr: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE files SET snd_descr = ?2 WHERE id = ?1",
            params![id, descr],
        )?;
        Ok(())
    }

    /// A sent file's own description, once uploaded.
    pub fn snd_descr(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row("SELECT snd_descr FROM files WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .flatten())
    }

    /// Keeps the caption of a file's message.
    pub fn set_file_caption(&self, id: i64, caption: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE files SET caption = ?2 WHERE id = ?1",
            params![id, caption],
        )?;
        Ok(())
    }

    /// When a file was recorded, Unix seconds (0 when unknown).
    pub fn file_created_at(&self, id: i64) -> Result<i64, StoreError> {
        Ok(self
            .db
            .query_row("SELECT created_at FROM files WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0))
    }

    /// The caption of a file's message (empty when none).
    pub fn file_caption(&self, id: i64) -> Result<String, StoreError> {
        Ok(self
            .db
            .query_row("SELECT caption FROM files WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten()
            .unwrap_or_default())
    }

    /// A file by its number.
    pub fn file(&self, id: i64) -> Result<Option<FileTransfer>, StoreError> {
        Ok(self
            .db
            .query_row(
                &format!("SELECT {COLUMNS} FROM files WHERE id = ?1"),
                [id],
                transfer,
            )
            .optional()?)
    }

    /// The file offered to us in a chat with the invitation of this shared message ID.
    pub fn received_file(
        &self,
        chat: FileChat,
        msg_id: &str,
    ) -> Result<Option<FileTransfer>, StoreError> {
        self.file_by_msg(false, chat, msg_id)
    }

    /// The file we sent in a chat with the invitation of this shared message ID.
    pub fn sent_file(
        &self,
        chat: FileChat,
        msg_id: &str,
    ) -> Result<Option<FileTransfer>, StoreError> {
        self.file_by_msg(true, chat, msg_id)
    }

    fn file_by_msg(
        &self,
        sent: bool,
        chat: FileChat,
        msg_id: &str,
    ) -> Result<Option<FileTransfer>, StoreError> {
        let (column, id) = match chat {
            FileChat::Contact(c) => ("contact_id", c),
            FileChat::Group(g) => ("group_id", g),
        };
        Ok(self
            .db
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM files WHERE sent = ?3 AND {column} = ?1 AND msg_id = ?2"
                ),
                params![id, msg_id, sent],
                transfer,
            )
            .optional()?)
    }

    /// The last `count` files of a chat, oldest first.
    pub fn chat_files(&self, chat: FileChat, count: u32) -> Result<Vec<FileTransfer>, StoreError> {
        let (column, id) = match chat {
            FileChat::Contact(c) => ("contact_id", c),
            FileChat::Group(g) => ("group_id", g),
        };
        let mut st = self.db.prepare(&format!(
            "SELECT {COLUMNS} FROM files WHERE {column} = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![id, count], transfer)?;
        let mut files: Vec<FileTransfer> = rows.collect::<Result<_, _>>()?;
        files.reverse();
        Ok(files)
    }

    /// Files not finished (new or accepted), to resume after a restart.
    pub fn unfinished_files(&self) -> Result<Vec<FileTransfer>, StoreError> {
        let mut st = self.db.prepare(&format!(
            "SELECT {COLUMNS} FROM files WHERE status IN ('new', 'accepted') ORDER BY id"
        ))?;
        let rows = st.query_map([], transfer)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets a file's status.
    pub fn set_file_status(&self, id: i64, status: FileStatus) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE files SET status = ?2 WHERE id = ?1",
            params![id, status.as_str()],
        )?;
        Ok(())
    }

    /// Accepts a received file into `path`.
    pub fn accept_file(&self, id: i64, path: &str) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE files SET path = ?2, status = ?3 WHERE id = ?1",
            params![id, path, FileStatus::Accepted.as_str()],
        )?;
        Ok(())
    }

    /// Appends a description part of a received file when it is the one expected next.
    pub fn add_descr_part(&self, id: i64, part: &FileDescr) -> Result<DescrPart, StoreError> {
        let Some(f) = self.file(id)? else {
            return Err(rusqlite::Error::QueryReturnedNoRows.into());
        };
        if f.sent || f.descr_complete || part.file_descr_part_no != f.descr_next_part {
            return Ok(DescrPart::Unexpected);
        }
        self.db.execute(
            "UPDATE files SET descr = descr || ?2, descr_next_part = descr_next_part + 1,
               descr_complete = ?3 WHERE id = ?1",
            params![id, part.file_descr_text, part.file_descr_complete],
        )?;
        Ok(if part.file_descr_complete {
            DescrPart::Completed
        } else {
            DescrPart::Added
        })
    }

    /// Records a sent file's recipient (a contact, or a group member by row ID).
    pub fn add_file_recipient(
        &self,
        file_id: i64,
        contact_id: Option<i64>,
        member_id: Option<i64>,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT OR IGNORE INTO file_recipients (file_id, contact_id, member_id, status)
               VALUES (?1, ?2, ?3, 'new')",
            params![file_id, contact_id, member_id],
        )?;
        Ok(())
    }

    /// A sent file's recipients: (contact, member, description once uploaded, sent).
    #[allow(clippy::type_complexity)]
    pub fn file_recipients(
        &self,
        file_id: i64,
    ) -> Result<Vec<(Option<i64>, Option<i64>, Option<String>, bool)>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT contact_id, member_id, descr, status FROM file_recipients
               WHERE file_id = ?1 ORDER BY rowid",
        )?;
        let rows = st.query_map([file_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, String>(3)? == "sent",
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores the descriptions of an uploaded file, one per recipient in the order of
    /// [`ChatStore::file_recipients`].
    pub fn set_recipient_descrs(&self, file_id: i64, descrs: &[String]) -> Result<(), StoreError> {
        let rowids: Vec<i64> = {
            let mut st = self
                .db
                .prepare("SELECT rowid FROM file_recipients WHERE file_id = ?1 ORDER BY rowid")?;
            let rows = st.query_map([file_id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for (rowid, d) in rowids.iter().zip(descrs) {
            self.db.execute(
                "UPDATE file_recipients SET descr = ?2 WHERE rowid = ?1",
                params![rowid, d],
            )?;
        }
        Ok(())
    }

    /// Marks a recipient's description sent.
    pub fn set_recipient_sent(
        &self,
        file_id: i64,
        contact_id: Option<i64>,
        member_id: Option<i64>,
    ) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE file_recipients SET status = 'sent' WHERE file_id = ?1
               AND contact_id IS ?2 AND member_id IS ?3",
            params![file_id, contact_id, member_id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ChatStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ChatStore::open(&dir.path().join("chat.db"), "").expect("open");
        (dir, s)
    }

    #[test]
    fn received_file_gathers_its_description_in_order() {
        let (_d, s) = store();
        let f = s
            .add_file(false, FileChat::Contact(3), "YWJj", "x.pdf", 272_376, None)
            .expect("add");
        assert_eq!((f.id, f.status, f.sent), (1, FileStatus::New, false));
        assert_eq!(
            s.received_file(FileChat::Contact(3), "YWJj")
                .expect("q")
                .map(|f| f.id),
            Some(1)
        );
        assert_eq!(
            s.received_file(FileChat::Contact(4), "YWJj").expect("q"),
            None
        );
        let part = |no, text: &str, complete| FileDescr {
            file_descr_text: text.into(),
            file_descr_part_no: no,
            file_descr_complete: complete,
        };
        // Out of order: ignored.
        assert_eq!(
            s.add_descr_part(1, &part(1, "b", false)).expect("p"),
            DescrPart::Unexpected
        );
        assert_eq!(
            s.add_descr_part(1, &part(0, "a", false)).expect("p"),
            DescrPart::Added
        );
        // Repeated: ignored.
        assert_eq!(
            s.add_descr_part(1, &part(0, "a", false)).expect("p"),
            DescrPart::Unexpected
        );
        assert_eq!(
            s.add_descr_part(1, &part(1, "b", true)).expect("p"),
            DescrPart::Completed
        );
        assert_eq!(
            s.add_descr_part(1, &part(2, "c", true)).expect("p"),
            DescrPart::Unexpected
        );
        let f = s.file(1).expect("q").expect("there");
        assert_eq!((f.descr.as_str(), f.descr_complete), ("ab", true));
        s.accept_file(1, "/tmp/x.pdf").expect("accept");
        let f = s.file(1).expect("q").expect("there");
        assert_eq!(f.status, FileStatus::Accepted);
        assert_eq!(f.path.as_deref(), Some("/tmp/x.pdf"));
        assert_eq!(s.unfinished_files().expect("q").len(), 1);
        s.set_file_status(1, FileStatus::Complete).expect("done");
        assert!(s.unfinished_files().expect("q").is_empty());
    }

    #[test]
    fn sent_file_keeps_one_description_per_recipient() {
        let (_d, s) = store();
        let f = s
            .add_file(
                true,
                FileChat::Group(1),
                "bmV3",
                "a.bin",
                5,
                Some("/src/a.bin"),
            )
            .expect("add");
        assert_eq!(f.chat, FileChat::Group(1));
        // A sent file never takes description parts.
        let p = FileDescr::pending();
        assert_eq!(
            s.add_descr_part(f.id, &p).expect("p"),
            DescrPart::Unexpected
        );
        s.add_file_recipient(f.id, None, Some(7)).expect("r");
        s.add_file_recipient(f.id, None, Some(8)).expect("r");
        s.set_recipient_descrs(f.id, &["d7".into(), "d8".into()])
            .expect("descrs");
        s.set_recipient_sent(f.id, None, Some(8)).expect("sent");
        assert_eq!(
            s.file_recipients(f.id).expect("q"),
            vec![
                (None, Some(7), Some("d7".into()), false),
                (None, Some(8), Some("d8".into()), true)
            ]
        );
    }
}
