//! The bot API's files: a file sent with a message (`/_send … json [{"filePath": …,
//! "msgContent": {"type": "file", …}}]`), `/freceive`, `/fcancel`, the `file` of chat
//! items (`CIFile`) and the file events. The transfers are module `files`'s.
//!
//! Files are not items of the chat's history in this client's database: the item a file
//! event or response carries is made from the file's record, with the file's number,
//! negated, as its `itemId` (so that it never names a stored item); a chat read through
//! the API (`/_get chat`) has them among its messages, in time order.

use simplex_encoding::string::base64url_encode;

use super::api::{item_meta, ApiResult};
use super::api_groups::refused;
use super::{Chat, Output};
use crate::api::command::ApiCommand;
use crate::api::errors::{AgentErrorType, ChatError, ChatErrorType, StoreError};
use crate::api::files::{
    CIFile, CIFileStatus, FileError, FileInvitation, FileStatus as ApiFileStatus, FileTransferMeta,
    LocalFile, RcvFileDescr, RcvFileStatus, RcvFileTransfer, SndFileTransfer, CHUNK_SIZE,
};
use crate::api::items::{
    AChatItem, CIContent, CIDirection, CIStatus, ChatInfo, ChatItem, SndProgress,
};
use crate::api::response::ChatResponse;
use crate::api::types::{ComposedMessage, MsgContent};
use crate::store::files::{FileChat, FileStatus, FileTransfer};
use crate::store::groups::Group;
use crate::store::Contact;

impl<O: Output> Chat<O> {
    /// A file's state as an item shows it.
    fn ci_file(&self, f: &FileTransfer) -> CIFile {
        let progress = self.files.done_of(f.id);
        let failed = || FileError::Other {
            file_error: "the transfer failed".to_owned(),
        };
        let file_status = match (f.sent, f.status, progress) {
            (true, FileStatus::New, Some((done, total))) => CIFileStatus::SndTransfer {
                snd_progress: done,
                snd_total: total,
            },
            (true, FileStatus::New | FileStatus::Accepted, _) => CIFileStatus::SndStored,
            (true, FileStatus::Complete, _) => CIFileStatus::SndComplete,
            (true, FileStatus::Cancelled, _) => CIFileStatus::SndCancelled,
            (true, FileStatus::Error, _) => CIFileStatus::SndError {
                snd_file_error: failed(),
            },
            (false, FileStatus::New, _) => CIFileStatus::RcvInvitation,
            (false, FileStatus::Accepted, Some((done, total))) => CIFileStatus::RcvTransfer {
                rcv_progress: done,
                rcv_total: total,
            },
            (false, FileStatus::Accepted, None) => CIFileStatus::RcvAccepted,
            (false, FileStatus::Complete, _) => CIFileStatus::RcvComplete,
            (false, FileStatus::Cancelled, _) => CIFileStatus::RcvCancelled,
            (false, FileStatus::Error, _) => CIFileStatus::RcvError {
                rcv_file_error: failed(),
            },
        };
        CIFile {
            file_id: f.id,
            file_name: f.file_name.clone(),
            file_size: f.file_size,
            file_source: f.path.clone().map(|file_path| LocalFile { file_path }),
            file_status,
            file_protocol: "xftp",
        }
    }

    /// A chat's last `count` items with its files' items among them, in time order.
    pub(crate) fn with_file_items(
        &self,
        chat: FileChat,
        mut items: Vec<ChatItem>,
        count: u32,
    ) -> Result<Vec<ChatItem>, ChatError> {
        for f in self.store.chat_files(chat, count)? {
            items.push(self.api_file_item(&f)?.chat_item);
        }
        // ISO-8601 times of one form: ordered as text. The sort is stable: an item and a
        // file of the same millisecond keep their order.
        items.sort_by(|a, b| a.meta.item_ts.cmp(&b.meta.item_ts));
        let extra = items.len().saturating_sub(count as usize);
        items.drain(..extra);
        Ok(items)
    }

    /// The item of a file, with its chat (see the module's docs for its ID).
    pub(crate) fn api_file_item(&self, f: &FileTransfer) -> Result<AChatItem, ChatError> {
        let caption = self.store.file_caption(f.id)?;
        let msg_content = MsgContent::File {
            text: caption.clone(),
        };
        let (chat_info, chat_dir) = match f.chat {
            FileChat::Contact(id) => {
                let c = self.api_contact_by_id(id)?;
                let info = ChatInfo::Direct {
                    contact: Box::new(self.api_contact(&c)?),
                };
                let dir = if f.sent {
                    CIDirection::DirectSnd
                } else {
                    CIDirection::DirectRcv
                };
                (info, dir)
            }
            FileChat::Group(id) => {
                let g = self.api_group_by_id(id)?;
                let info = ChatInfo::Group {
                    group_info: Box::new(self.api_group(&g)?),
                };
                let author = match f.member {
                    Some(m) if !f.sent => self.store.member_by_id(m)?,
                    _ => None,
                };
                let dir = match author {
                    Some(m) => CIDirection::GroupRcv {
                        group_member: Box::new(self.api_member(&m)?),
                    },
                    None => CIDirection::GroupSnd,
                };
                (info, dir)
            }
        };
        let (status, content) = if f.sent {
            let status = CIStatus::SndSent {
                snd_progress: SndProgress::Complete,
            };
            (status, CIContent::SndMsgContent { msg_content })
        } else {
            (CIStatus::RcvNew, CIContent::RcvMsgContent { msg_content })
        };
        let ts = self.store.file_created_at(f.id)?.saturating_mul(1000);
        Ok(AChatItem {
            chat_info,
            chat_item: ChatItem {
                chat_dir,
                meta: item_meta(-f.id, ts, &caption, status, Some(f.msg_id.clone())),
                content,
                mentions: serde_json::Map::new(),
                reactions: Vec::new(),
                file: Some(self.ci_file(f)),
            },
        })
    }

    /// A sent file (`FileTransferMeta`).
    pub(crate) fn api_file_meta(f: &FileTransfer) -> FileTransferMeta {
        FileTransferMeta {
            file_id: f.id,
            file_name: f.file_name.clone(),
            file_path: f.path.clone().unwrap_or_default(),
            file_size: f.file_size,
            chunk_size: CHUNK_SIZE,
            cancelled: f.status == FileStatus::Cancelled,
        }
    }

    /// A received file (`RcvFileTransfer`).
    pub(crate) fn api_rcv_transfer(&self, f: &FileTransfer) -> RcvFileTransfer {
        let path = f.path.clone();
        let file_status = match (f.status, path) {
            (FileStatus::Cancelled, p) => RcvFileStatus::Cancelled { file_path: p },
            (FileStatus::Complete, Some(p)) => RcvFileStatus::Complete { file_path: p },
            (FileStatus::Accepted | FileStatus::Error, Some(p)) => {
                RcvFileStatus::Accepted { file_path: p }
            }
            _ => RcvFileStatus::New,
        };
        RcvFileTransfer {
            file_id: f.id,
            file_invitation: FileInvitation {
                file_name: f.file_name.clone(),
                file_size: f.file_size,
            },
            file_status,
            sender_display_name: self.sender_name(f),
            chunk_size: CHUNK_SIZE,
            cancelled: f.status == FileStatus::Cancelled,
            grp_member_id: f.member,
        }
    }

    /// A sent file's recipients (`SndFileTransfer` each).
    fn api_snd_transfers(&self, f: &FileTransfer) -> Result<Vec<SndFileTransfer>, ChatError> {
        let mut out = Vec::new();
        for (contact, member, _, sent) in self.store.file_recipients(f.id)? {
            let (name, conn, id) = match (contact, member) {
                (Some(c), _) => match self.store.contact_by_id(c)? {
                    Some(c) => (c.name, Some(c.conn_id), c.id),
                    None => continue,
                },
                (None, Some(m)) => match self.store.member_by_id(m)? {
                    Some(m) => (m.name, m.conn_id, m.id),
                    None => continue,
                },
                (None, None) => continue,
            };
            let file_status = match f.status {
                FileStatus::Cancelled => ApiFileStatus::Cancelled,
                _ if sent => ApiFileStatus::Complete,
                _ => ApiFileStatus::New,
            };
            out.push(SndFileTransfer {
                file_id: f.id,
                file_name: f.file_name.clone(),
                file_path: f.path.clone().unwrap_or_default(),
                file_size: f.file_size,
                chunk_size: CHUNK_SIZE,
                recipient_display_name: name,
                conn_id: id,
                agent_conn_id: conn.map(|c| base64url_encode(&c)).unwrap_or_default(),
                group_member_id: member,
                file_status,
            });
        }
        Ok(out)
    }

    /// One recipient's transfer of a sent file, for `sndFileRcvCancelled`.
    pub(super) fn api_snd_transfer_to(
        &self,
        f: &FileTransfer,
        contact: &Contact,
    ) -> Result<SndFileTransfer, ChatError> {
        self.api_snd_transfers(f)?
            .into_iter()
            .find(|t| t.group_member_id.is_none() && t.conn_id == contact.id)
            .ok_or(ChatError::store(StoreError::FileNotFound { file_id: f.id }))
    }

    /// A file sent to a contact: its item.
    pub(super) async fn api_send_file_contact(
        &mut self,
        c: &Contact,
        m: ComposedMessage,
    ) -> Result<AChatItem, ChatError> {
        let to = format!("@{}", c.name);
        self.api_send_file(&to, m).await
    }

    /// A file sent to a group: its item.
    pub(super) async fn api_send_file_group(
        &mut self,
        g: &Group,
        m: ComposedMessage,
    ) -> Result<AChatItem, ChatError> {
        let to = format!("#{}", g.name);
        self.api_send_file(&to, m).await
    }

    async fn api_send_file(
        &mut self,
        to: &str,
        m: ComposedMessage,
    ) -> Result<AChatItem, ChatError> {
        let path = m.file_to_send().unwrap_or_default().to_owned();
        if m.file_source
            .as_ref()
            .is_some_and(|s| s.crypto_args.is_some())
        {
            return Err(ChatError::command(
                "encrypted local files are not supported",
            ));
        }
        if !std::path::Path::new(&path).is_file() {
            return Err(ChatError::chat(ChatErrorType::FileNotFound {
                message: path,
            }));
        }
        let caption = match &m.msg_content {
            MsgContent::File { text } => text.clone(),
            other => other.text().to_owned(),
        };
        self.begin_capture();
        let r = self.send_file(to, &path, &caption).await;
        let f = refused(r, self.end_capture())?;
        self.api_file_item(&f)
    }

    /// `/freceive`, `/fcancel`.
    pub(super) async fn api_file_command(&mut self, cmd: ApiCommand) -> ApiResult {
        let user = self.api_user();
        match cmd {
            ApiCommand::ReceiveFile { file_id, path } => {
                let f = self.api_file(file_id)?;
                if f.sent {
                    return Err(ChatError::store(StoreError::FileNotFound { file_id }));
                }
                if f.status == FileStatus::Cancelled {
                    return Ok(ChatResponse::RcvFileAcceptedSndCancelled {
                        user,
                        rcv_file_transfer: self.api_rcv_transfer(&f),
                    });
                }
                if f.status != FileStatus::New {
                    return Err(ChatError::chat(ChatErrorType::FileAlreadyReceiving {
                        message: f.file_name,
                    }));
                }
                self.begin_capture();
                let r = self.receive_file(file_id, path.as_deref());
                let f = refused(r, self.end_capture())?;
                Ok(ChatResponse::RcvFileAccepted {
                    user,
                    chat_item: self.api_file_item(&f)?,
                })
            }
            ApiCommand::CancelFile(file_id) => {
                self.api_file(file_id)?;
                self.begin_capture();
                let r = self.cancel_file(file_id).await;
                let said = self.end_capture();
                let f = match r {
                    Ok(Some(f)) => f,
                    Ok(None) => {
                        return Err(ChatError::chat(ChatErrorType::FileCancel {
                            file_id,
                            message: said.join("; "),
                        }))
                    }
                    Err(e) => return Err(e.into()),
                };
                let chat_item = self.api_file_item(&f).ok();
                Ok(if f.sent {
                    ChatResponse::SndFileCancelled {
                        user,
                        chat_item,
                        file_transfer_meta: Self::api_file_meta(&f),
                        snd_file_transfers: self.api_snd_transfers(&f)?,
                    }
                } else {
                    ChatResponse::RcvFileCancelled {
                        user,
                        chat_item,
                        rcv_file_transfer: self.api_rcv_transfer(&f),
                    }
                })
            }
            _ => Err(ChatError::command("not a file command")),
        }
    }

    fn api_file(&self, file_id: i64) -> Result<FileTransfer, ChatError> {
        self.store
            .file(file_id)?
            .ok_or(ChatError::store(StoreError::FileNotFound { file_id }))
    }

    // Events.

    /// A file offered to us: `newChatItems` with its item.
    pub(super) fn emit_file_offer(&mut self, file_id: i64) {
        self.emit_with(|chat| {
            let f = chat.api_file(file_id)?;
            Ok(ChatResponse::NewChatItems {
                user: chat.api_user(),
                chat_items: vec![chat.api_file_item(&f)?],
            })
        });
    }

    /// A received file's description is whole.
    pub(super) fn emit_descr_ready(&mut self, file_id: i64) {
        self.emit_with(|chat| {
            let f = chat.api_file(file_id)?;
            Ok(ChatResponse::RcvFileDescrReady {
                user: chat.api_user(),
                chat_item: chat.api_file_item(&f)?,
                rcv_file_transfer: chat.api_rcv_transfer(&f),
                rcv_file_descr: RcvFileDescr {
                    file_descr_id: f.id,
                    file_descr_text: f.descr.clone(),
                    file_descr_part_no: f.descr_next_part,
                    file_descr_complete: f.descr_complete,
                },
            })
        });
    }

    /// What became of a transfer: `event` chooses the record from the file as now.
    pub(super) fn emit_file(
        &mut self,
        file_id: i64,
        event: impl FnOnce(&Self, crate::api::types::User, FileTransfer) -> ApiResult,
    ) {
        self.emit_with(|chat| {
            let f = chat.api_file(file_id)?;
            event(chat, chat.api_user(), f)
        });
    }

    /// A download started, ended or failed; an upload ended or failed.
    pub(super) fn emit_transfer(&mut self, file_id: i64, error: Option<&str>) {
        self.emit_file(file_id, |chat, user, f| {
            let chat_item = chat.api_file_item(&f)?;
            Ok(match (f.sent, f.status, error) {
                (true, _, Some(e)) => ChatResponse::SndFileError {
                    user,
                    chat_item: Some(chat_item),
                    file_transfer_meta: Self::api_file_meta(&f),
                    error_message: e.to_owned(),
                },
                (true, _, None) => ChatResponse::SndFileCompleteXftp {
                    user,
                    chat_item,
                    file_transfer_meta: Self::api_file_meta(&f),
                },
                (false, _, Some(e)) => ChatResponse::RcvFileError {
                    user,
                    chat_item: Some(chat_item),
                    agent_error: AgentErrorType::Internal {
                        internal_err: e.to_owned(),
                    },
                    rcv_file_transfer: chat.api_rcv_transfer(&f),
                },
                (false, FileStatus::Complete, None) => {
                    ChatResponse::RcvFileComplete { user, chat_item }
                }
                (false, _, None) => ChatResponse::RcvFileStart { user, chat_item },
            })
        });
    }

    /// The sender cancelled a file sent to us.
    pub(super) fn emit_snd_cancelled(&mut self, file_id: i64) {
        self.emit_file(file_id, |chat, user, f| {
            Ok(ChatResponse::RcvFileSndCancelled {
                user,
                chat_item: chat.api_file_item(&f)?,
                rcv_file_transfer: chat.api_rcv_transfer(&f),
            })
        });
    }

    /// A contact cancelled receiving a file we sent.
    pub(super) fn emit_rcv_cancelled(&mut self, file_id: i64, c: &Contact) {
        self.emit_file(file_id, |chat, user, f| {
            Ok(ChatResponse::SndFileRcvCancelled {
                user,
                chat_item: chat.api_file_item(&f).ok(),
                snd_file_transfer: chat.api_snd_transfer_to(&f, c)?,
            })
        });
    }
}
