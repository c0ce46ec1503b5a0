//! Files through XFTP relays, as the reference's chat sends them (`xftpSndFileTransfer`,
//! `x.msg.file.descr`): `/f @bob PATH` sends the invitation (`x.msg.new` with `file`, an
//! empty description part 0) and uploads in the background; when the upload ends each
//! recipient gets its own description in parts of 14,000 characters. A received invitation
//! is shown with its number; `/fr N [PATH]` accepts it and the download starts once the
//! whole description has arrived. Uploads and downloads run as tasks that report to the
//! chat loop through [`FileDone`]; their XFTP state is in `xftp-client`'s work directories
//! under the configured one, so they resume when started again with the same file.
//!
//! Groups: module `group_files`. The commands return the file they sent, accepted or cancelled
//! (`None` when they refused, having said why), for the bot API (module `api_files`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Local;
use smp_proto::BasicAuth;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use xftp_client::download::unique_path;
use xftp_client::{DownloadOptions, UploadOptions};
use xftp_proto::{FileDescription, XftpServer};

use super::group_files::rounded_fd_count;
use super::{now_ms, Chat, ChatError, Output};
use crate::command::Command;
use crate::protocol::file::{FileContent, FileDescr, FileInvitation};
use crate::protocol::{ChatEvent, ChatMessage, FileEvent, MsgNewFile};
use crate::store::files::{DescrPart, FileChat, FileStatus, FileTransfer};
use crate::store::Contact;
use crate::view;

/// Where files go: the XFTP relays (`--xftp-servers`), the folder received files are saved
/// in by default (`--files-folder`) and the directory of transfers' work files.
#[derive(Debug, Clone, Default)]
pub struct FilesConfig {
    /// The relays uploads go to.
    pub servers: Vec<XftpServer>,
    /// Passwords for new files, by relay address.
    pub auth: HashMap<String, BasicAuth>,
    /// The default folder of received files (the current directory when none).
    pub folder: Option<PathBuf>,
    /// Work files of transfers in progress.
    pub work_dir: PathBuf,
    /// How the relays are reached (timeouts; the SOCKS proxy the chat's own connections
    /// use, so that files do not leave the proxy's protection).
    pub client: xftp_client::ClientConfig,
}

/// What a transfer task reports to the chat loop.
#[derive(Debug)]
pub enum FileDone {
    /// An upload ended: the sender's description and one per recipient (YAML), or the
    /// error.
    Uploaded {
        /// The file's number.
        file_id: i64,
        /// The descriptions or the error.
        result: Result<(String, Vec<String>), String>,
    },
    /// A download ended: where the file was saved, or the error.
    Downloaded {
        /// The file's number.
        file_id: i64,
        /// The saved file or the error.
        result: Result<PathBuf, String>,
    },
}

/// The chat's file state: configuration, the channel tasks report on, running tasks.
#[derive(Debug)]
pub(super) struct Files {
    config: FilesConfig,
    tx: UnboundedSender<FileDone>,
    rx: Option<UnboundedReceiver<FileDone>>,
    tasks: HashMap<i64, tokio::task::JoinHandle<()>>,
    /// Bytes done and in all of each running transfer (its tasks report them).
    progress: Arc<Mutex<HashMap<i64, (u64, u64)>>>,
}

impl Default for Files {
    fn default() -> Self {
        let (tx, rx) = unbounded_channel();
        Files {
            config: FilesConfig::default(),
            tx,
            rx: Some(rx),
            tasks: HashMap::new(),
            progress: Arc::default(),
        }
    }
}

impl Files {
    /// A progress report for a transfer's task that keeps the file's latest figures.
    fn reporter(&self, id: i64) -> xftp_client::Progress {
        let map = self.progress.clone();
        Arc::new(move |done, total| {
            if let Ok(mut m) = map.lock() {
                m.insert(id, (done, total));
            }
        })
    }

    /// Bytes done and in all of a running transfer, once it has moved.
    pub(super) fn done_of(&self, id: i64) -> Option<(u64, u64)> {
        let (done, total) = *self.progress.lock().ok()?.get(&id)?;
        (done > 0).then_some((done, total))
    }

    /// The share of a running transfer done, as the reference shows it: `45% of 5.0 MiB`.
    fn progress_of(&self, id: i64, size: u64) -> Option<String> {
        let (done, total) = *self.progress.lock().ok()?.get(&id)?;
        if done == 0 {
            // Nothing moved yet: "just started", as the reference before its first report.
            return None;
        }
        let pct = done.saturating_mul(100).checked_div(total)?;
        Some(format!("{pct}% of {}", human_size(size)))
    }
}

/// The reference's `humanReadableSize`: bytes below 1 KiB, else one decimal of KiB, MiB
/// or GiB.
pub fn human_size(size: u64) -> String {
    const K: u64 = 1024;
    let one = |unit: u64, name: &str| {
        // Display only: the precision of f64 is ample for a size with one decimal.
        #[allow(clippy::cast_precision_loss)]
        let v = size as f64 / unit as f64;
        format!("{v:.1} {name}")
    };
    match size {
        s if s < K => format!("{s} bytes"),
        s if s < K * K => one(K, "KiB"),
        s if s < K * K * K => one(K * K, "MiB"),
        _ => one(K * K * K, "GiB"),
    }
}

/// A file offered to us as the reference shows it: the message's text if any, then `HH:MM
/// alice> sends file x.pdf (266.0 KiB / 272376 bytes)` (`who`: `alice>` or `#team alice>`;
/// `mark`: ` [>>]` for a forwarded one) and how to receive it.
pub(super) fn offer_lines(who: &str, m: &MsgNewFile, file_id: i64, mark: &str) -> Vec<String> {
    let time = view::msg_time(Local::now(), now_ms());
    let inv = &m.file;
    let mut lines = Vec::new();
    if !m.content.text().is_empty() {
        lines.push(format!("{time} {who} {}{mark}", m.content.text()));
    }
    lines.push(format!(
        "{time} {who} sends file {} ({} / {} bytes){mark}",
        inv.file_name,
        human_size(inv.file_size),
        inv.file_size
    ));
    lines.push(format!("use /fr {file_id} [<dir>/ | <path>] to receive it"));
    lines
}

/// Cancels a running task.
fn stop(files: &mut Files, id: i64) {
    if let Some(t) = files.tasks.remove(&id) {
        t.abort();
    }
    if let Ok(mut m) = files.progress.lock() {
        m.remove(&id);
    }
}

impl<O: Output> Chat<O> {
    /// Sets where files go (before the loop runs; [`Chat::resume_files`] then restarts
    /// unfinished transfers).
    pub fn set_files_config(&mut self, config: FilesConfig) {
        self.files.config = config;
    }

    /// The receiver of transfer reports, to be polled by the loop with agent events and
    /// handed to [`Chat::file_done`]; `None` after the first call.
    pub fn take_file_reports(&mut self) -> Option<UnboundedReceiver<FileDone>> {
        self.files.rx.take()
    }

    /// Restarts the uploads and the accepted downloads an earlier run left unfinished.
    pub fn resume_files(&mut self) {
        let Ok(files) = self.store.unfinished_files() else {
            return;
        };
        for f in files {
            match (f.sent, f.status) {
                (true, FileStatus::New) => self.start_upload(&f),
                (false, FileStatus::Accepted) if f.descr_complete => self.start_download(&f),
                _ => {}
            }
        }
    }

    /// Runs a file command.
    pub(super) async fn file_command(&mut self, cmd: Command) -> Result<(), ChatError> {
        match cmd {
            Command::SendFile { to, path } => self.send_file(&to, &path, "").await.map(drop),
            Command::ReceiveFile { id, path } => self.receive_file(id, path.as_deref()).map(drop),
            Command::CancelFile(id) => self.cancel_file(id).await.map(drop),
            Command::FileStatus(id) => self.file_status(id),
            _ => Ok(()),
        }
    }

    /// The offer of a file to send (`x.msg.new` with its invitation), once relays are
    /// configured and the file is there (with a caption); says why not otherwise.
    pub(super) fn file_offer(
        &mut self,
        path: &str,
        caption: &str,
    ) -> Option<(ChatMessage, String, u64)> {
        if self.files.config.servers.is_empty() {
            self.say(
                "no XFTP servers: start with --xftp-servers xftp://<fingerprint>@<host>[:<port>]",
            );
            return None;
        }
        let size = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => m.len(),
            _ => {
                self.say(format!("file not found: {path}"));
                return None;
            }
        };
        let file_name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let msg = ChatMessage::new(ChatEvent::MsgNewFile(MsgNewFile {
            content: FileContent::File {
                text: caption.to_owned(),
            },
            file: FileInvitation::xftp(&file_name, size),
        }));
        Some((msg, file_name, size))
    }

    /// Records a file whose offer went out (to `to`, printed as the reference echoes `/f`,
    /// and to these recipients: contact or member row IDs), and starts its upload.
    pub(super) fn sent_file(
        &mut self,
        chat: FileChat,
        (msg, file_name, size): (ChatMessage, String, u64),
        path: &str,
        to: &str,
        recipients: &[(Option<i64>, Option<i64>)],
    ) -> Result<FileTransfer, ChatError> {
        let caption = match &msg.event {
            ChatEvent::MsgNewFile(m) => m.content.text().to_owned(),
            _ => String::new(),
        };
        let shared_id = msg.msg_id.unwrap_or_default();
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        let f = self.store.add_file(
            true,
            chat,
            &shared_id,
            &file_name,
            size,
            Some(&abs.to_string_lossy()),
        )?;
        for (contact, member) in recipients {
            self.store.add_file_recipient(f.id, *contact, *member)?;
        }
        if !caption.is_empty() {
            self.store.set_file_caption(f.id, &caption)?;
        }
        self.print(vec![
            format!("{} /f {to} {path}", view::msg_time(Local::now(), now_ms())),
            format!("use /fc {} to cancel sending", f.id),
        ]);
        self.start_upload(&f);
        Ok(f)
    }

    /// `/f @NAME PATH`, `/f #GROUP PATH`: the file sent.
    pub(super) async fn send_file(
        &mut self,
        to: &str,
        path: &str,
        caption: &str,
    ) -> Result<Option<FileTransfer>, ChatError> {
        let Some(name) = to.strip_prefix('@') else {
            let group = to.strip_prefix('#').unwrap_or(to);
            return self.send_group_file(group, path, caption).await;
        };
        let Some(c) = self.contact(name)? else {
            return Ok(None);
        };
        if c.deleted || !c.ready {
            self.say(view::not_ready(&c.name));
            return Ok(None);
        }
        let Some(offer) = self.file_offer(path, caption) else {
            return Ok(None);
        };
        self.agent
            .send_message(&c.conn_id, &offer.0.to_bytes())
            .await?;
        self.last_chat = Some(c.name.clone());
        let to = format!("@{}", view::view_name(&c.name));
        self.sent_file(
            FileChat::Contact(c.id),
            offer,
            path,
            &to,
            &[(Some(c.id), None)],
        )
        .map(Some)
    }

    pub(super) fn start_upload(&mut self, f: &FileTransfer) {
        let Some(path) = f.path.clone() else { return };
        let recipients = self
            .store
            .file_recipients(f.id)
            .map(|r| r.len())
            .unwrap_or(1);
        // As the reference: descriptions for a rounded number of recipients, so that the
        // relays do not learn how many there are.
        let count = rounded_fd_count(i64::try_from(recipients).unwrap_or(i64::MAX));
        let mut opts = UploadOptions::new(
            self.files.config.servers.clone(),
            count,
            self.files.config.work_dir.join(format!("snd-{}", f.id)),
        );
        opts.auth = self.files.config.auth.clone();
        opts.config = self.files.config.client.clone();
        let (tx, file_id) = (self.files.tx.clone(), f.id);
        let progress = self.files.reporter(f.id);
        let task = tokio::spawn(async move {
            let run = || xftp_client::upload(Path::new(&path), &opts, Some(progress.clone()));
            let result = with_retries(run)
                .await
                .map(|u| {
                    let rcv = u.recipients.iter().map(FileDescription::to_yaml).collect();
                    (u.sender.to_yaml(), rcv)
                })
                .map_err(|e| e.to_string());
            let _ = tx.send(FileDone::Uploaded { file_id, result });
        });
        self.files.tasks.insert(f.id, task);
    }

    /// A transfer task ended: sends the descriptions of an upload, reports a download.
    pub async fn file_done(&mut self, done: FileDone) {
        let r = match done {
            FileDone::Uploaded { file_id, result } => self.uploaded(file_id, result).await,
            FileDone::Downloaded { file_id, result } => self.downloaded(file_id, result),
        };
        if let Err(e) = r {
            self.say(e.to_string());
        }
    }

    async fn uploaded(
        &mut self,
        file_id: i64,
        result: Result<(String, Vec<String>), String>,
    ) -> Result<(), ChatError> {
        stop(&mut self.files, file_id);
        let Some(f) = self.store.file(file_id)? else {
            return Ok(());
        };
        if f.status != FileStatus::New {
            return Ok(());
        }
        let descrs = match result {
            Ok((own, d)) => {
                self.store.set_snd_descr(file_id, &own)?;
                d
            }
            Err(e) => {
                self.store.set_file_status(file_id, FileStatus::Error)?;
                self.say(format!(
                    "error uploading file {file_id} ({}): {e}",
                    f.file_name
                ));
                self.emit_transfer(file_id, Some(&e));
                return Ok(());
            }
        };
        self.store.set_recipient_descrs(file_id, &descrs)?;
        if let FileChat::Group(gid) = f.chat {
            self.send_member_descrs(file_id, &f.msg_id).await?;
            self.store.set_file_status(file_id, FileStatus::Complete)?;
            let group = self
                .store
                .group_by_id(gid)?
                .map(|g| g.name)
                .unwrap_or_default();
            self.say(format!(
                "completed uploading file {file_id} ({}) for #{}",
                f.file_name,
                view::view_name(&group)
            ));
            self.emit_transfer(file_id, None);
            return Ok(());
        }
        for (contact, member, descr, sent) in self.store.file_recipients(file_id)? {
            let (Some(cid), Some(descr), false) = (contact, descr, sent) else {
                continue;
            };
            let Some(c) = self.store.contact_by_id(cid)? else {
                continue;
            };
            self.send_descr(&c.conn_id, &f.msg_id, &descr).await?;
            self.store.set_recipient_sent(file_id, contact, member)?;
            self.say(format!(
                "completed uploading file {file_id} ({}) for {}",
                f.file_name,
                view::view_name(&c.name)
            ));
        }
        self.store.set_file_status(file_id, FileStatus::Complete)?;
        self.emit_transfer(file_id, None);
        Ok(())
    }

    /// Sends one recipient's description in parts on its connection.
    pub(super) async fn send_descr(
        &mut self,
        conn: &[u8],
        msg_id: &str,
        descr: &str,
    ) -> Result<(), ChatError> {
        for part in FileDescr::parts(descr) {
            let m = ChatMessage::new(ChatEvent::File(FileEvent::Descr {
                msg_id: msg_id.to_owned(),
                file_descr: part,
            }));
            self.agent.send_message(conn, &m.to_bytes()).await?;
        }
        Ok(())
    }

    /// Deletes a cancelled sent file from its relays, in the background (as the reference's
    /// `xftpDeleteSndFileRemote`): nobody can receive it any more, and it stops taking the
    /// relays' space. A file whose upload never finished has no description to delete it
    /// with; the relays expire its chunks.
    fn delete_from_relays(&mut self, id: i64) {
        let Ok(Some(yaml)) = self.store.snd_descr(id) else {
            return;
        };
        let Ok(desc) = FileDescription::from_yaml_valid(&yaml) else {
            return;
        };
        let config = self.files.config.client.clone();
        tokio::spawn(async move {
            let _ = with_retries(|| xftp_client::delete(&desc, &config)).await;
        });
    }

    /// Stops a file's running transfer, if any.
    pub(super) fn stop_file(&mut self, id: i64) {
        stop(&mut self.files, id);
    }

    /// `x.msg.new` with a file from a contact: recorded and shown with its number.
    pub(super) fn file_invitation(
        &mut self,
        c: &Contact,
        msg_id: Option<&str>,
        m: &MsgNewFile,
    ) -> Result<(), ChatError> {
        let Some(msg_id) = msg_id else { return Ok(()) };
        let inv = &m.file;
        let f = self.store.add_file(
            false,
            FileChat::Contact(c.id),
            msg_id,
            &inv.file_name,
            inv.file_size,
            None,
        )?;
        if let Some(part) = &inv.file_descr {
            self.store.add_descr_part(f.id, part)?;
        }
        if !m.content.text().is_empty() {
            self.store.set_file_caption(f.id, m.content.text())?;
        }
        self.last_chat = Some(c.name.clone());
        let who = format!("{}>", view::view_name(&c.name));
        self.print(offer_lines(&who, m, f.id, ""));
        self.emit_file_offer(f.id);
        Ok(())
    }

    /// `x.msg.file.descr` or `x.file.cancel` from a contact.
    pub(super) async fn file_event(&mut self, c: &Contact, ev: FileEvent) -> Result<(), ChatError> {
        match ev {
            FileEvent::Descr { msg_id, file_descr } => {
                let Some(f) = self.store.received_file(FileChat::Contact(c.id), &msg_id)? else {
                    return Ok(());
                };
                self.descr_part(&f, &file_descr)?;
            }
            FileEvent::Cancel { msg_id } => {
                // Either the sender cancelled a file sent to us, or the recipient one we sent.
                let received = self.store.received_file(FileChat::Contact(c.id), &msg_id)?;
                let f = match received {
                    Some(f) => Some(f),
                    None => self.store.sent_file(FileChat::Contact(c.id), &msg_id)?,
                };
                // A sent file may be cancelled by its recipient after the upload completed;
                // a received file already saved stays so.
                let Some(f) = f.filter(|f| {
                    f.status != FileStatus::Cancelled
                        && (f.sent || f.status != FileStatus::Complete)
                }) else {
                    return Ok(());
                };
                stop(&mut self.files, f.id);
                self.store.set_file_status(f.id, FileStatus::Cancelled)?;
                let who = view::view_name(&c.name);
                self.say(if f.sent {
                    format!("{who} cancelled receiving file {} ({})", f.id, f.file_name)
                } else {
                    format!("{who} cancelled sending file {} ({})", f.id, f.file_name)
                });
                if f.sent {
                    self.emit_rcv_cancelled(f.id, c);
                } else {
                    self.emit_snd_cancelled(f.id);
                }
            }
        }
        Ok(())
    }

    /// A part of a received file's description: when it completes the description, the
    /// file is ready (and its download starts if it was accepted).
    pub(super) fn descr_part(
        &mut self,
        f: &FileTransfer,
        part: &FileDescr,
    ) -> Result<(), ChatError> {
        if self.store.add_descr_part(f.id, part)? != DescrPart::Completed {
            return Ok(());
        }
        self.emit_descr_ready(f.id);
        if f.status == FileStatus::Accepted {
            if let Some(f) = self.store.file(f.id)? {
                self.start_download(&f);
            }
        }
        Ok(())
    }

    pub(super) fn sender_name(&self, f: &FileTransfer) -> String {
        match f.chat {
            FileChat::Contact(id) => self
                .store
                .contact_by_id(id)
                .ok()
                .flatten()
                .map(|c| view::view_name(&c.name))
                .unwrap_or_default(),
            FileChat::Group(_) => f
                .member
                .and_then(|m| self.store.member_by_id(m).ok().flatten())
                .map(|m| view::view_name(&m.name))
                .unwrap_or_default(),
        }
    }

    /// `/fr ID [PATH]`: the file accepted.
    pub(super) fn receive_file(
        &mut self,
        id: i64,
        path: Option<&str>,
    ) -> Result<Option<FileTransfer>, ChatError> {
        let Some(f) = self.store.file(id)?.filter(|f| !f.sent) else {
            self.say(format!("file {id} not found"));
            return Ok(None);
        };
        match f.status {
            FileStatus::New => {}
            FileStatus::Cancelled => {
                self.say(format!("file cancelled: {}", f.file_name));
                return Ok(None);
            }
            _ => {
                self.say(format!("file is already being received: {}", f.file_name));
                return Ok(None);
            }
        }
        let target = match path {
            Some(p) if p.ends_with('/') || Path::new(p).is_dir() => {
                unique_path(Path::new(p), &f.file_name)
            }
            Some(p) if Path::new(p).exists() => {
                self.say(format!("file already exists: {p}"));
                return Ok(None);
            }
            Some(p) => PathBuf::from(p),
            None => unique_path(
                self.files
                    .config
                    .folder
                    .as_deref()
                    .unwrap_or(Path::new(".")),
                &f.file_name,
            ),
        };
        let target = target.to_string_lossy().into_owned();
        self.store.accept_file(id, &target)?;
        self.say(format!(
            "saving file {id} from {} to {target}",
            self.sender_name(&f)
        ));
        if f.descr_complete {
            if let Some(f) = self.store.file(id)? {
                self.start_download(&f);
            }
        }
        Ok(self.store.file(id)?)
    }

    pub(super) fn start_download(&mut self, f: &FileTransfer) {
        let (Some(target), tx, file_id) = (f.path.clone(), self.files.tx.clone(), f.id) else {
            return;
        };
        let desc = match FileDescription::from_yaml_valid(&f.descr) {
            Ok(d) => d,
            Err(e) => {
                let _ = self.store.set_file_status(f.id, FileStatus::Error);
                self.say(format!(
                    "error receiving file {file_id} ({}): {e}",
                    f.file_name
                ));
                self.emit_transfer(file_id, Some(&e.to_string()));
                return;
            }
        };
        self.say(format!(
            "started receiving file {file_id} ({}) from {}",
            f.file_name,
            self.sender_name(f)
        ));
        self.emit_transfer(file_id, None);
        let work = self.files.config.work_dir.join(format!("rcv-{file_id}"));
        let progress = self.files.reporter(file_id);
        let client = self.files.config.client.clone();
        let task = tokio::spawn(async move {
            let result = async {
                std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
                let opts = DownloadOptions {
                    config: client,
                    ..DownloadOptions::default()
                };
                let got = with_retries(|| {
                    xftp_client::download(&desc, &work, &opts, Some(progress.clone()))
                })
                .await
                .map_err(|e| match e {
                    xftp_client::ClientError::Relay(xftp_proto::XftpErrorType::Auth) => {
                        "the file is no longer on the relay (expired or deleted)".to_owned()
                    }
                    e => e.to_string(),
                })?;
                place(&got, Path::new(&target))
            }
            .await;
            let _ = tx.send(FileDone::Downloaded { file_id, result });
        });
        self.files.tasks.insert(f.id, task);
    }

    fn downloaded(
        &mut self,
        file_id: i64,
        result: Result<PathBuf, String>,
    ) -> Result<(), ChatError> {
        stop(&mut self.files, file_id);
        let Some(f) = self.store.file(file_id)? else {
            return Ok(());
        };
        if f.status != FileStatus::Accepted {
            return Ok(());
        }
        match result {
            Ok(p) => {
                self.store.accept_file(file_id, &p.to_string_lossy())?;
                self.store.set_file_status(file_id, FileStatus::Complete)?;
                let _ = std::fs::remove_dir_all(
                    self.files.config.work_dir.join(format!("rcv-{file_id}")),
                );
                self.say(format!(
                    "completed receiving file {file_id} ({}) from {}",
                    f.file_name,
                    self.sender_name(&f)
                ));
                self.emit_transfer(file_id, None);
            }
            Err(e) => {
                self.store.set_file_status(file_id, FileStatus::Error)?;
                self.say(format!(
                    "error receiving file {file_id} ({}): {e}",
                    f.file_name
                ));
                self.emit_transfer(file_id, Some(&e));
            }
        }
        Ok(())
    }

    /// `/fc ID`: the file cancelled.
    pub(super) async fn cancel_file(&mut self, id: i64) -> Result<Option<FileTransfer>, ChatError> {
        let Some(f) = self.store.file(id)? else {
            self.say(format!("file {id} not found"));
            return Ok(None);
        };
        // The sender may cancel after the upload (the recipient may not have it yet).
        if f.status == FileStatus::Cancelled || (!f.sent && f.status == FileStatus::Complete) {
            self.say(format!(
                "file {id} ({}) is already {}",
                f.file_name,
                if f.status == FileStatus::Complete {
                    "complete"
                } else {
                    "cancelled"
                }
            ));
            return Ok(None);
        }
        stop(&mut self.files, id);
        self.store.set_file_status(id, FileStatus::Cancelled)?;
        if f.sent {
            self.delete_from_relays(id);
        }
        let cid = match f.chat {
            FileChat::Contact(cid) => cid,
            // A group's members are told when the sender cancels; a member's cancel of a
            // file it receives is its own affair (as the reference's, for XFTP files).
            FileChat::Group(gid) if f.sent => {
                let m = ChatMessage::new(ChatEvent::File(FileEvent::Cancel {
                    msg_id: f.msg_id.clone(),
                }));
                self.broadcast(gid, &m.to_bytes()).await?;
                self.say(format!("cancelled sending file {id} ({})", f.file_name));
                return Ok(self.store.file(id)?);
            }
            FileChat::Group(_) => {
                let from = self.sender_name(&f);
                self.say(format!(
                    "cancelled receiving file {id} ({}) from {from}",
                    f.file_name
                ));
                return Ok(self.store.file(id)?);
            }
        };
        let Some(c) = self.store.contact_by_id(cid)? else {
            return Ok(self.store.file(id)?);
        };
        let m = ChatMessage::new(ChatEvent::File(FileEvent::Cancel {
            msg_id: f.msg_id.clone(),
        }));
        self.agent.send_message(&c.conn_id, &m.to_bytes()).await?;
        let who = view::view_name(&c.name);
        self.say(if f.sent {
            format!("cancelled sending file {id} ({}) to {who}", f.file_name)
        } else {
            format!("cancelled receiving file {id} ({}) from {who}", f.file_name)
        });
        Ok(self.store.file(id)?)
    }

    fn file_status(&mut self, id: i64) -> Result<(), ChatError> {
        let Some(f) = self.store.file(id)? else {
            self.say(format!("file {id} not found"));
            return Ok(());
        };
        // The reference's `viewFileTransferStatusXFTP`.
        let fstr = format!("file {id} ({})", f.file_name);
        let progress = self.files.progress_of(id, f.file_size);
        let line = match (f.sent, f.status, progress) {
            (true, FileStatus::New, None) => format!("sending {fstr} just started"),
            (true, FileStatus::New, Some(p)) => format!("sending {fstr} in progress {p}"),
            (true, FileStatus::Complete, _) => format!("sending {fstr} complete"),
            (true, FileStatus::Cancelled, _) => format!("sending {fstr} cancelled"),
            (true, _, _) => format!("sending {fstr} error"),
            (false, FileStatus::New, _) => {
                format!("receiving {fstr} not accepted yet, use /fr {id} to receive file")
            }
            (false, FileStatus::Accepted, None) => format!("receiving {fstr} just started"),
            (false, FileStatus::Accepted, Some(p)) => format!("receiving {fstr} progress {p}"),
            (false, FileStatus::Complete, _) => format!(
                "receiving {fstr} complete, path: {}",
                f.path.unwrap_or_default()
            ),
            (false, FileStatus::Cancelled, _) => format!("receiving {fstr} cancelled"),
            (false, FileStatus::Error, _) => format!("receiving {fstr} error"),
        };
        self.say(line);
        Ok(())
    }
}

/// Runs a transfer until it ends or fails for good: while its relay cannot be reached it
/// is tried again, after 1 s, then twice as long each time up to a minute (the transfer's
/// state files make each try go on from where the last one stopped). A restart of the chat
/// starts it again the same way.
async fn with_retries<T, F, Fut>(mut run: F) -> Result<T, xftp_client::ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, xftp_client::ClientError>>,
{
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        match run().await {
            Err(e) if e.is_temporary() => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(60));
            }
            r => return r,
        }
    }
}

/// Moves a downloaded file to `target`, never over an existing file (a free name next to
/// it is taken then); returns where it went.
fn place(got: &Path, target: &Path) -> Result<PathBuf, String> {
    let target = if target.exists() {
        let dir = target.parent().unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        unique_path(dir, &name)
    } else {
        target.to_owned()
    };
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    if std::fs::rename(got, &target).is_err() {
        std::fs::copy(got, &target).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(got);
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_references() {
        assert_eq!(human_size(11), "11 bytes");
        assert_eq!(human_size(272_376), "266.0 KiB");
        assert_eq!(human_size(139_737), "136.5 KiB");
        assert_eq!(human_size(1_042_157), "1017.7 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn progress_reads_as_the_references() {
        let files = Files::default();
        assert_eq!(files.progress_of(1, 5 << 20), None, "nothing reported yet");
        let report = files.reporter(1);
        report(2 << 20, 5 << 20);
        assert_eq!(
            files.progress_of(1, 5 << 20).as_deref(),
            Some("40% of 5.0 MiB")
        );
        report(0, 5 << 20);
        assert_eq!(files.progress_of(1, 5 << 20), None, "nothing moved yet");
        report(1, 0);
        assert_eq!(files.progress_of(1, 5 << 20), None, "no total: no share");
    }

    #[test]
    fn placing_never_overwrites() {
        let d = tempfile::tempdir().expect("tempdir");
        let got = d.path().join("got");
        std::fs::write(&got, b"new").expect("write");
        let target = d.path().join("x.pdf");
        std::fs::write(&target, b"old").expect("write");
        let placed = place(&got, &target).expect("placed");
        assert_eq!(placed, d.path().join("x_1.pdf"));
        assert_eq!(std::fs::read(&target).expect("read"), b"old");
        assert_eq!(std::fs::read(&placed).expect("read"), b"new");
    }
}
