//! The chunk records (`Server/Store.hs`, the in-memory store): each chunk by its sender ID
//! with its size, digest, sender key, creation time, status, the path of its uploaded body,
//! and its recipients (ID → sender ID and key). No I/O here; the caller logs every change
//! to the store log and owns the files on disk.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use simplex_crypto::PublicAuthKey;
use xftp_proto::{FileInfo, FileParty, XftpErrorType};

/// A chunk's status (`ServerEntityStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// `active`.
    Active,
    /// `blocked,<info>`: the blocking info as its text (`reason=spam[,notice=…]`).
    Blocked(String),
    /// `off`.
    Off,
}

/// One chunk.
#[derive(Debug, Clone)]
pub struct FileRec {
    /// Its sender ID.
    pub sender_id: Vec<u8>,
    /// Its size, digest and sender key.
    pub info: FileInfo,
    /// Where its body is, once uploaded.
    pub path: Option<PathBuf>,
    /// Its recipients' IDs.
    pub recipients: HashSet<Vec<u8>>,
    /// Creation time, Unix seconds rounded down to the store's precision.
    pub created_at: i64,
    /// Status.
    pub status: FileStatus,
}

/// All chunks and recipients, and the storage taken by uploaded bodies.
#[derive(Debug, Default)]
pub struct FileStore {
    files: HashMap<Vec<u8>, FileRec>,
    recipients: HashMap<Vec<u8>, (Vec<u8>, PublicAuthKey)>,
    used: u64,
}

impl FileStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk; `DUPLICATE_` when the ID is taken.
    pub fn add_file(
        &mut self,
        sender_id: &[u8],
        info: FileInfo,
        created_at: i64,
        status: FileStatus,
    ) -> Result<(), XftpErrorType> {
        if self.files.contains_key(sender_id) || self.recipients.contains_key(sender_id) {
            return Err(XftpErrorType::Duplicate);
        }
        self.files.insert(
            sender_id.to_vec(),
            FileRec {
                sender_id: sender_id.to_vec(),
                info,
                path: None,
                recipients: HashSet::new(),
                created_at,
                status,
            },
        );
        Ok(())
    }

    /// Records the uploaded body's path; `AUTH` when the chunk is missing, not active or
    /// already uploaded.
    pub fn set_path(&mut self, sender_id: &[u8], path: PathBuf) -> Result<(), XftpErrorType> {
        let f = self.files.get_mut(sender_id).ok_or(XftpErrorType::Auth)?;
        if f.path.is_some() || f.status != FileStatus::Active {
            return Err(XftpErrorType::Auth);
        }
        f.path = Some(path);
        Ok(())
    }

    /// Adds a recipient; `DUPLICATE_` when the ID is taken, `AUTH` when the chunk is missing.
    pub fn add_recipient(
        &mut self,
        sender_id: &[u8],
        recipient_id: &[u8],
        key: PublicAuthKey,
    ) -> Result<(), XftpErrorType> {
        if self.recipients.contains_key(recipient_id) || self.files.contains_key(recipient_id) {
            return Err(XftpErrorType::Duplicate);
        }
        let f = self.files.get_mut(sender_id).ok_or(XftpErrorType::Auth)?;
        f.recipients.insert(recipient_id.to_vec());
        self.recipients
            .insert(recipient_id.to_vec(), (sender_id.to_vec(), key));
        Ok(())
    }

    /// Removes a chunk and its recipients, returning it; `AUTH` when missing.
    pub fn delete_file(&mut self, sender_id: &[u8]) -> Result<FileRec, XftpErrorType> {
        let f = self.files.remove(sender_id).ok_or(XftpErrorType::Auth)?;
        for r in &f.recipients {
            self.recipients.remove(r);
        }
        if f.path.is_some() {
            self.used = self.used.saturating_sub(u64::from(f.info.size));
        }
        Ok(f)
    }

    /// Marks a chunk blocked, forgetting its body (deleted by the caller); `AUTH` when
    /// missing.
    pub fn block_file(&mut self, sender_id: &[u8], info: String) -> Result<(), XftpErrorType> {
        let f = self.files.get_mut(sender_id).ok_or(XftpErrorType::Auth)?;
        f.status = FileStatus::Blocked(info);
        if f.path.take().is_some() {
            self.used = self.used.saturating_sub(u64::from(f.info.size));
        }
        Ok(())
    }

    /// Removes a recipient (`FACK`); `AUTH` when missing.
    pub fn ack_file(&mut self, recipient_id: &[u8]) -> Result<(), XftpErrorType> {
        let (sender_id, _) = self
            .recipients
            .remove(recipient_id)
            .ok_or(XftpErrorType::Auth)?;
        let f = self.files.get_mut(&sender_id).ok_or(XftpErrorType::Auth)?;
        f.recipients.remove(recipient_id);
        Ok(())
    }

    /// The chunk an ID names for `party`, and the key that must authorize the command.
    pub fn get(&self, party: FileParty, id: &[u8]) -> Option<(&FileRec, PublicAuthKey)> {
        match party {
            FileParty::Sender => {
                let f = self.files.get(id)?;
                Some((f, f.info.snd_key.clone()))
            }
            FileParty::Recipient => {
                let (sender_id, key) = self.recipients.get(id)?;
                Some((self.files.get(sender_id)?, key.clone()))
            }
        }
    }

    /// A chunk by its sender ID.
    pub fn file(&self, sender_id: &[u8]) -> Option<&FileRec> {
        self.files.get(sender_id)
    }

    /// Sender IDs of the chunks created before `old` (`createdAt + precision < old`).
    pub fn expired(&self, old: i64, precision: i64) -> Vec<Vec<u8>> {
        self.files
            .values()
            .filter(|f| f.created_at.saturating_add(precision) < old)
            .map(|f| f.sender_id.clone())
            .collect()
    }

    /// Every chunk (for compacting the store log).
    pub fn files(&self) -> impl Iterator<Item = &FileRec> {
        self.files.values()
    }

    /// A recipient's key.
    pub fn recipient_key(&self, recipient_id: &[u8]) -> Option<&PublicAuthKey> {
        self.recipients.get(recipient_id).map(|(_, k)| k)
    }

    /// Bytes taken by uploaded bodies and uploads in progress.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Reserves `size` bytes for an upload when they fit in `quota` (`None`: no quota).
    pub fn reserve(&mut self, size: u64, quota: Option<u64>) -> bool {
        let after = self.used.saturating_add(size);
        if quota.is_some_and(|q| after > q) {
            return false;
        }
        self.used = after;
        true
    }

    /// Returns the reservation of a failed upload.
    pub fn release(&mut self, size: u64) {
        self.used = self.used.saturating_sub(size);
    }

    /// Sets the used storage from the uploaded bodies (after replaying the store log).
    pub fn recompute_used(&mut self) {
        self.used = self
            .files
            .values()
            .filter(|f| f.path.is_some())
            .map(|f| u64::from(f.info.size))
            .sum();
    }

    /// The number of chunks.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when there are no chunks.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
