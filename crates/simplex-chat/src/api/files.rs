//! Files as the bot API shows them (`CIFile`, `CIFileStatus`, `FileTransferMeta`,
//! `SndFileTransfer`, `RcvFileTransfer`, `RcvFileDescr`), with the reference's JSON names
//! (`bots/api/TYPES.md`).

use serde::Serialize;

/// The chunk size the reference records for a file (`defaultChunkSize`, bytes); XFTP
/// chooses its own chunks, so it is only reported.
pub const CHUNK_SIZE: u64 = 15_780;

/// Why a transfer failed (`FileError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FileError {
    /// Anything, in words.
    Other {
        /// The words.
        #[serde(rename = "fileError")]
        file_error: String,
    },
}

/// Where a file of a chat item is (`CIFileStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CIFileStatus {
    /// Sent: being uploaded.
    SndStored,
    /// Sent: uploading.
    SndTransfer {
        /// Bytes done.
        snd_progress: u64,
        /// Bytes in all.
        snd_total: u64,
    },
    /// Sent: cancelled.
    SndCancelled,
    /// Sent: uploaded and described to every recipient.
    SndComplete,
    /// Sent: failed.
    SndError {
        /// Why.
        snd_file_error: FileError,
    },
    /// Received: offered, not accepted.
    RcvInvitation,
    /// Received: accepted, not started.
    RcvAccepted,
    /// Received: downloading.
    RcvTransfer {
        /// Bytes done.
        rcv_progress: u64,
        /// Bytes in all.
        rcv_total: u64,
    },
    /// Received: saved.
    RcvComplete,
    /// Received: cancelled.
    RcvCancelled,
    /// Received: failed.
    RcvError {
        /// Why.
        rcv_file_error: FileError,
    },
}

/// A local file (`CryptoFile`; never encrypted here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalFile {
    /// Its path.
    pub file_path: String,
}

/// A file attached to an item (`CIFile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CIFile {
    /// Its ID (`/freceive ID`, `/fcancel ID`).
    pub file_id: i64,
    /// Its name.
    pub file_name: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// Where it is on this device (the source, or where it is saved once accepted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_source: Option<LocalFile>,
    /// Its status.
    pub file_status: CIFileStatus,
    /// How it travels: `xftp`.
    pub file_protocol: &'static str,
}

/// A sent file (`FileTransferMeta`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileTransferMeta {
    /// Its ID.
    pub file_id: i64,
    /// Its name.
    pub file_name: String,
    /// Its source.
    pub file_path: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// See [`CHUNK_SIZE`].
    pub chunk_size: u64,
    /// It was cancelled.
    pub cancelled: bool,
}

/// A sent file's status for one recipient (`FileStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FileStatus {
    /// Not started.
    New,
    /// Accepted.
    Accepted,
    /// Under way.
    Connected,
    /// Done.
    Complete,
    /// Cancelled.
    Cancelled,
}

/// A sent file to one recipient (`SndFileTransfer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SndFileTransfer {
    /// Its ID.
    pub file_id: i64,
    /// Its name.
    pub file_name: String,
    /// Its source.
    pub file_path: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// See [`CHUNK_SIZE`].
    pub chunk_size: u64,
    /// The recipient's name.
    pub recipient_display_name: String,
    /// The recipient's connection (its contact's or member's ID here).
    pub conn_id: i64,
    /// The recipient's agent connection, base64url.
    pub agent_conn_id: String,
    /// The recipient member, in a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_member_id: Option<i64>,
    /// Its status.
    pub file_status: FileStatus,
}

/// The offer of a file (`FileInvitation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInvitation {
    /// Its name.
    pub file_name: String,
    /// Its size in bytes.
    pub file_size: u64,
}

/// A received file's status (`RcvFileStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RcvFileStatus {
    /// Offered.
    New,
    /// Accepted, to be saved here.
    Accepted {
        /// Where.
        #[serde(rename = "filePath")]
        file_path: String,
    },
    /// Saved here.
    Complete {
        /// Where.
        #[serde(rename = "filePath")]
        file_path: String,
    },
    /// Cancelled.
    Cancelled {
        /// Where it was to be saved.
        #[serde(rename = "filePath_", skip_serializing_if = "Option::is_none")]
        file_path: Option<String>,
    },
}

/// A received file (`RcvFileTransfer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RcvFileTransfer {
    /// Its ID.
    pub file_id: i64,
    /// The offer.
    pub file_invitation: FileInvitation,
    /// Its status.
    pub file_status: RcvFileStatus,
    /// The sender's name.
    pub sender_display_name: String,
    /// See [`CHUNK_SIZE`].
    pub chunk_size: u64,
    /// It was cancelled.
    pub cancelled: bool,
    /// The sender member, in a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grp_member_id: Option<i64>,
}

/// A received file's description (`RcvFileDescr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RcvFileDescr {
    /// Its ID (the file's here).
    pub file_descr_id: i64,
    /// The description (YAML).
    pub file_descr_text: String,
    /// The number of the next part expected.
    pub file_descr_part_no: u32,
    /// All parts arrived.
    pub file_descr_complete: bool,
}
