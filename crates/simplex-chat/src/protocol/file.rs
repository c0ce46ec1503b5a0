//! The file messages of the chat protocol, declared once with serde in the reference's JSON
//! (`Protocol.hs`: `FileInvitation`, `FileDescr`, `MsgContent`; `appJsonToCM`):
//! - `x.msg.new` whose params carry a `file` next to `content`: the invitation. A file sent
//!   through XFTP has `fileName`, `fileSize` and an empty first description part
//!   (`{"fileDescrText":"","fileDescrPartNo":0,"fileDescrComplete":false}`); `fileDigest`,
//!   `fileConnReq` (old SMP file connections) and `fileInline` (`offer`/`sent`) are optional
//!   and omitted when absent, as the reference omits them.
//! - `x.msg.file.descr {msgId, fileDescr}`: one part of the recipient's XFTP description,
//!   at most [`DESCR_PART_CHARS`] characters, numbered from 1 (the invitation's empty
//!   part is 0), the last one `complete`.
//! - `x.file.cancel {msgId}`: the sender cancelled the file of that message, or the
//!   recipient cancelled receiving it.
//!
//! `msgId` is the shared message ID of the `x.msg.new` that carried the invitation.

use serde::{Deserialize, Serialize};

/// The largest description part sent in one `x.msg.file.descr` (`xftpDescrPartSize`), in
/// characters.
pub const DESCR_PART_CHARS: usize = 14_000;

/// The content of an `x.msg.new` that carries a file (`MsgContent`): its type decides how
/// apps show it. Other content types with a file are kept as [`FileContent::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FileContent {
    /// `{"type":"file","text":…}`: a document (what `/f` sends, with empty text).
    File {
        /// The caption.
        #[serde(default)]
        text: String,
    },
    /// `{"type":"image","text":…,"image":…}`: a picture with its preview (a data URI).
    Image {
        /// The caption.
        #[serde(default)]
        text: String,
        /// The preview, `data:image/jpg;base64,…`.
        image: String,
    },
    /// `{"type":"voice","text":…,"duration":…}`: a voice message of `duration` seconds.
    Voice {
        /// The caption.
        #[serde(default)]
        text: String,
        /// Its length in seconds.
        duration: i64,
    },
    /// `{"type":"video","text":…,"image":…,"duration":…}`: a video with its preview.
    Video {
        /// The caption.
        #[serde(default)]
        text: String,
        /// The preview, a data URI.
        image: String,
        /// Its length in seconds.
        duration: i64,
    },
    /// Any other content type with a file (`text`, `link`, …): the text is not kept.
    #[serde(other)]
    Other,
}

impl FileContent {
    /// The caption, empty when there is none.
    pub fn text(&self) -> &str {
        match self {
            FileContent::File { text }
            | FileContent::Image { text, .. }
            | FileContent::Voice { text, .. }
            | FileContent::Video { text, .. } => text,
            FileContent::Other => "",
        }
    }
}

/// How an old-style inline file is sent (`InlineFileMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InlineFileMode {
    /// Sent inline once the recipient accepts.
    Offer,
    /// Sent inline right after the invitation, without acceptance.
    Sent,
}

/// One part of an XFTP file description (`FileDescr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDescr {
    /// This part's text: a slice of the description's YAML.
    pub file_descr_text: String,
    /// The part's number, from 0.
    pub file_descr_part_no: u32,
    /// Whether this is the last part.
    pub file_descr_complete: bool,
}

impl FileDescr {
    /// The empty first part an invitation carries before the upload is done.
    pub fn pending() -> Self {
        FileDescr {
            file_descr_text: String::new(),
            file_descr_part_no: 0,
            file_descr_complete: false,
        }
    }

    /// A whole description cut into parts of at most [`DESCR_PART_CHARS`] characters (never
    /// inside a character), numbered from 1 after the invitation's part 0 (as the
    /// reference's `splitFileDescr`), the last one complete; one empty complete part for an
    /// empty text.
    pub fn parts(text: &str) -> Vec<FileDescr> {
        let mut chunks = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let end = rest
                .char_indices()
                .nth(DESCR_PART_CHARS)
                .map_or(rest.len(), |(i, _)| i);
            let (head, tail) = rest.split_at(end);
            chunks.push(head);
            rest = tail;
        }
        if chunks.is_empty() {
            chunks.push("");
        }
        let last = chunks.len() - 1;
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, t)| FileDescr {
                file_descr_text: t.to_owned(),
                file_descr_part_no: u32::try_from(i + 1).unwrap_or(u32::MAX),
                file_descr_complete: i == last,
            })
            .collect()
    }
}

/// A file offered with a message (`FileInvitation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInvitation {
    /// The file's name, as the sender had it (no directories).
    pub file_name: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// The digest of the whole file (base64url), when the sender gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_digest: Option<String>,
    /// The link of an old-style SMP file connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_conn_req: Option<String>,
    /// An old-style inline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_inline: Option<InlineFileMode>,
    /// The first part of the XFTP description (empty when sent before the upload ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_descr: Option<FileDescr>,
}

impl FileInvitation {
    /// The invitation of a file sent through XFTP (`xftpFileInvitation`): name, size and
    /// an empty first description part.
    pub fn xftp(file_name: &str, file_size: u64) -> Self {
        FileInvitation {
            file_name: file_name.to_owned(),
            file_size,
            file_digest: None,
            file_conn_req: None,
            file_inline: None,
            file_descr: Some(FileDescr::pending()),
        }
    }
}

/// The params of an `x.msg.new` with a file: `{"content":…,"file":…}` (quotes, mentions,
/// time-to-live and the like are accepted and dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgNewFile {
    /// The message's content.
    pub content: FileContent,
    /// The file.
    pub file: FileInvitation,
}

/// The file events other than the invitation, as `{"event":…,"params":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "params")]
pub enum FileEvent {
    /// `x.msg.file.descr`: a part of the recipient's description.
    #[serde(rename = "x.msg.file.descr", rename_all = "camelCase")]
    Descr {
        /// The shared ID of the message with the invitation.
        msg_id: String,
        /// The part.
        file_descr: FileDescr,
    },
    /// `x.file.cancel`: the file of that message is cancelled.
    #[serde(rename = "x.file.cancel", rename_all = "camelCase")]
    Cancel {
        /// The shared ID of the message with the invitation.
        msg_id: String,
    },
}

impl FileEvent {
    /// The event names, for dispatch.
    pub const NAMES: [&'static str; 2] = ["x.msg.file.descr", "x.file.cancel"];

    /// This event's name.
    pub fn name(&self) -> &'static str {
        match self {
            FileEvent::Descr { .. } => Self::NAMES[0],
            FileEvent::Cancel { .. } => Self::NAMES[1],
        }
    }
}
