//! The chat controller: runs commands against the agent and the chat database, and turns
//! agent events into contacts, chat items and printed lines.
//!
//! Connection handshakes (as the reference):
//! - invitation: `/c` creates it; the joiner confirms with `x.info`; the creator's `CONF`
//!   creates the contact and allows with its own `x.info`; the joiner's `INFO` creates its
//!   contact; both get `CON`.
//! - address: the requester joins it with `x.contact`; the owner's `REQ` records a request;
//!   `/ac` joins the requester's invitation with `x.info`; the requester's `CONF` creates the
//!   contact and allows with `x.ok`; both get `CON`.
//!
//! Deleting a contact (as the reference's `/d`, notifying): `x.direct.del` is sent and the
//! contact and its history are deleted at once; its agent connection is deleted only when
//! the relay has accepted `x.direct.del` (`SENT`, or `MERR`: it will never go), so that the
//! notice is not lost with the connection's pending messages — a pending deletion survives
//! restarts in the chat database. The contact's client marks the contact deleted, adds a
//! `contact deleted` item, prints `NAME deleted contact with you` and deletes its side of
//! the connection; sending to it then prints `NAME: not ready`, and `/d` removes it locally.
//!
//! Delivery status of sent messages: see [`crate::view`].

use std::collections::HashSet;

use chrono::Local;
use simplex_agent::{Agent, AgentError, AgentEvent, Event, MsgIntegrity};

use crate::command::{parse, Command};
use crate::protocol::{ChatEvent, ChatMessage, ContactShortLinkData, Profile};
use crate::store::{ChatStore, Contact, PendingKind, StoreError};
use crate::view;

mod address;
mod api;
mod api_files;
mod api_groups;
mod connect;
mod direct;
mod files;
mod group;
mod group_events;
mod group_files;
mod group_link;
mod info;
mod plan;
mod privacy;
mod ratchet;
mod switch;

/// A failure of a command or event, printed and survived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The chat database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The agent failed (printed in words a user understands: [`view::agent_error`]).
    #[error("{}", view::agent_error(.0))]
    Agent(#[from] AgentError),
}

/// Where printed lines go, and the bot API's records.
pub trait Output {
    /// Prints these lines.
    fn lines(&mut self, lines: &[String]);

    /// Takes structured records (the bot API's events): when false, none are built.
    fn structured(&self) -> bool {
        false
    }

    /// Takes one record (an event of the bot API).
    fn record(&mut self, _r: crate::api::response::ChatResponse) {}
}

/// Prints to standard output, flushing after each batch.
#[derive(Debug, Default)]
pub struct Stdout;

impl Output for Stdout {
    fn lines(&mut self, lines: &[String]) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }
}

/// What sending a text did.
#[derive(Debug)]
enum SendOutcome {
    /// Sent: the new item.
    Sent(crate::store::ChatItem),
    /// The contact is not connected, or deleted us.
    NotReady,
    /// Too large for one message.
    TooLarge,
}

/// What the caller does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// `/q`: stop.
    Quit,
}

/// The running chat.
pub struct Chat<O: Output> {
    agent: Agent,
    store: ChatStore,
    user: Profile,
    last_chat: Option<String>,
    out: O,
    /// Connections whose relay the agent reported disconnected (`DOWN` until `UP`).
    down: HashSet<Vec<u8>>,
    /// Items sent while their relay was disconnected: their `SENT` is shown.
    held: HashSet<i64>,
    /// Items up to this row ID were made by an earlier run: their `SENT` is shown.
    earlier_items: i64,
    /// Files: configuration and transfers running (module `files`).
    files: files::Files,
    /// The privacy level and network options in force (module `privacy`).
    privacy: Option<privacy::Settings>,
    /// Contacts accepted automatically, with the reply they get once connected.
    auto_replies: std::collections::HashMap<i64, String>,
    /// What is printed while a bot API command runs console code (its refusal's words).
    capture: Option<Vec<String>>,
}

pub use address::Links;
pub use api::iso_time;
pub use connect::ConnectOutcome;
pub use files::{FileDone, FilesConfig};

impl<O: Output> std::fmt::Debug for Chat<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    Local::now().timestamp_millis()
}

impl<O: Output> Chat<O> {
    /// A chat for this user over a started agent.
    pub fn new(agent: Agent, store: ChatStore, user: Profile, out: O) -> Self {
        let earlier_items = store.last_item_id().unwrap_or(0);
        Chat {
            agent,
            store,
            user,
            last_chat: None,
            out,
            down: HashSet::new(),
            held: HashSet::new(),
            earlier_items,
            files: files::Files::default(),
            privacy: None,
            auto_replies: std::collections::HashMap::new(),
            capture: None,
        }
    }

    /// Finishes what an earlier run left: deletes the connections of deleted contacts whose
    /// `x.direct.del` was sent. Errors are printed.
    pub async fn resume(&mut self) {
        let pending = match self.store.pending_deletions() {
            Ok(p) => p,
            Err(e) => return self.say(e.to_string()),
        };
        for d in pending.into_iter().filter(|d| d.sent) {
            if let Err(e) = self.finish_deletion(&d.conn_id).await {
                self.say(e.to_string());
            }
        }
    }

    /// Deletes the agent connection of a deleted contact; the pending deletion is kept when
    /// the relay cannot be reached (retried on `UP` and at the next start).
    async fn finish_deletion(&mut self, conn: &[u8]) -> Result<(), ChatError> {
        match self.agent.delete_connection(conn).await {
            Ok(()) | Err(AgentError::NoConnection) => {
                self.store.remove_pending_deletion(conn)?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The chat a line without a command continues now (the last one written to or heard
    /// from): a contact's name, or `#name` for a group (names of contacts never begin with
    /// `#`: the command syntax does not allow it).
    pub fn last_chat(&self) -> Option<&str> {
        self.last_chat.as_deref()
    }

    /// The chat database.
    pub fn store(&self) -> &ChatStore {
        &self.store
    }

    fn print(&mut self, lines: Vec<String>) {
        if let Some(c) = &mut self.capture {
            c.extend(lines.iter().cloned());
        }
        self.out.lines(&lines);
    }

    fn say(&mut self, line: impl Into<String>) {
        self.print(vec![line.into()]);
    }

    /// Runs one input line; errors are printed. A line without a command continues the
    /// last chat.
    pub async fn input(&mut self, line: &str) -> Flow {
        let to = self.last_chat.clone();
        self.input_to(line, to.as_deref()).await
    }

    /// Runs one input line; a line without a command goes to `to` (the chat the prompt
    /// showed when it was typed, even if a message from another contact came meanwhile).
    pub async fn input_to(&mut self, line: &str, to: Option<&str>) -> Flow {
        if line.trim().is_empty() {
            return Flow::Continue;
        }
        match parse(line) {
            Ok(Command::Quit) => Flow::Quit,
            Ok(Command::Continue(text)) => {
                let r = match to {
                    Some(chat) => match chat.strip_prefix('#') {
                        Some(g) => self.send_group(g, &text).await.map(drop),
                        None => self.send(chat, &text).await,
                    },
                    // The prompt showed no chat; one began since (a contact connected, a
                    // message came): the line is not sent to it unseen.
                    None => match self.last_chat.clone() {
                        Some(now) => {
                            self.say(format!(
                                "not sent: no chat was open when you typed it; lines now go to {} (Up, Enter to send it)",
                                view::chat_ref(&now)
                            ));
                            Ok(())
                        }
                        None => {
                            self.say("no active chat: use @<name> <message>");
                            Ok(())
                        }
                    },
                };
                if let Err(e) = r {
                    self.say(e.to_string());
                }
                Flow::Continue
            }
            Ok(cmd) => {
                match self.command(cmd).await {
                    Ok(()) => {}
                    Err(ChatError::Agent(AgentError::NoServers)) => self.print(no_servers_hint()),
                    Err(e) => self.say(e.to_string()),
                }
                Flow::Continue
            }
            Err(e) => {
                self.say(e.to_string());
                Flow::Continue
            }
        }
    }

    fn info(&self) -> Vec<u8> {
        ChatMessage::new(ChatEvent::Info(self.user.clone())).to_bytes()
    }

    async fn command(&mut self, cmd: Command) -> Result<(), ChatError> {
        match cmd {
            Command::AddContact => {
                let (_, links) = self.create_invitation().await?;
                self.print(view::invitation(links.short.as_deref(), &links.full));
            }
            Command::Connect(link) => self.connect(&link).await?,
            Command::ConnectPlan(link) => self.show_connection_plan(&link).await?,
            Command::SetContactPq(name) => self.say(crate::view::pq_is_automatic(&name)),
            Command::Send { name, text } => self.send(&name, &text).await?,
            Command::Continue(text) => match self.last_chat.clone() {
                Some(chat) => match chat.strip_prefix('#') {
                    Some(g) => {
                        self.send_group(g, &text).await?;
                    }
                    None => self.send(&chat, &text).await?,
                },
                None => self.say("no active chat: use @<name> <message>"),
            },
            cmd @ (Command::NewGroup { .. }
            | Command::AddMember { .. }
            | Command::JoinGroup(_)
            | Command::SendGroup { .. }
            | Command::Members(_)
            | Command::Groups
            | Command::Leave(_)
            | Command::RemoveMember { .. }
            | Command::ChangeRole { .. }
            | Command::DeleteGroup(_)
            | Command::GroupTail { .. }
            | Command::GroupMemberInfo { .. }
            | Command::GroupInfo(_)
            | Command::UpdateGroupProfile { .. }
            | Command::CreateGroupLink(_)
            | Command::ShowGroupLink(_)
            | Command::DeleteGroupLink(_)) => self.group_command(cmd).await?,
            cmd @ (Command::SendFile { .. }
            | Command::ReceiveFile { .. }
            | Command::CancelFile(_)
            | Command::FileStatus(_)) => self.file_command(cmd).await?,
            Command::Version => self.print(view::version()),
            Command::Info(name) => self.contact_info(&name).await?,
            Command::Switch(name) => self.switch(&name, false).await?,
            Command::Privacy(level) => self.privacy(level)?,
            Command::AbortSwitch(name) => self.switch(&name, true).await?,
            Command::Sync { name, force } => self.sync_ratchet(&name, force).await?,
            Command::Unsupported(what) => self.say(format!("{what}: not supported yet")),
            cmd @ (Command::CreateAddress
            | Command::ShowAddress
            | Command::DeleteAddress
            | Command::Accept(_)
            | Command::Reject(_)) => self.address_command(cmd).await?,
            Command::Contacts => {
                let lines: Vec<String> = self
                    .store
                    .contacts()?
                    .iter()
                    .map(|c| view::full_name(&c.name, &c.profile))
                    .collect();
                self.print(lines);
            }
            Command::Delete(name) => {
                let Some(c) = self.contact(&name)? else {
                    return Ok(());
                };
                self.delete_contact(&c).await?;
                if self.last_chat.as_deref() == Some(c.name.as_str()) {
                    self.last_chat = None;
                }
                self.say(format!("{}: contact is deleted", view::view_name(&c.name)));
            }
            Command::ShowProfile => {
                let lines = view::user_profile(&self.user);
                self.print(lines);
            }
            Command::UpdateProfile(name) => self.update_profile(&name).await?,
            Command::Tail { name, count } => self.tail(name, count)?,
            Command::Help => self.print(view::help()),
            Command::Quit => {}
        }
        Ok(())
    }

    /// `/tail [@NAME] [N]`: the last messages of a contact, or of all direct chats.
    fn tail(&mut self, name: Option<String>, count: u32) -> Result<(), ChatError> {
        let contact = match name {
            Some(n) => match self.contact(&n)? {
                Some(c) => Some(c),
                None => return Ok(()),
            },
            None => None,
        };
        let items = self
            .store
            .last_items(contact.as_ref().map(|c| c.id), count)?;
        let now = Local::now();
        let mut lines = Vec::new();
        for it in &items {
            let cname = match &contact {
                Some(c) => c.name.clone(),
                None => self
                    .store
                    .contact_by_id(it.contact_id)?
                    .map(|c| c.name)
                    .unwrap_or_default(),
            };
            lines.extend(view::marked_item(now, &cname, it));
        }
        self.print(lines);
        Ok(())
    }

    /// The contact, or prints `no contact NAME`.
    fn contact(&mut self, name: &str) -> Result<Option<Contact>, ChatError> {
        let c = self.store.contact_by_name(name)?;
        if c.is_none() {
            self.say(format!("no contact {}", view::view_name(name)));
        }
        Ok(c)
    }

    /// `/d`: tells a connected contact with `x.direct.del` (its connection is deleted once
    /// that is sent), deletes any other connection at once, then the contact.
    async fn delete_contact(&mut self, c: &Contact) -> Result<(), ChatError> {
        if !c.deleted {
            let notice = ChatMessage::new(ChatEvent::DirectDel).to_bytes();
            let sent = if c.ready {
                self.agent.send_message(&c.conn_id, &notice).await.ok()
            } else {
                None
            };
            match sent {
                Some(msg_id) => self.store.add_pending_deletion(&c.conn_id, msg_id)?,
                None => {
                    if let Err(e) = self.agent.delete_connection(&c.conn_id).await {
                        self.say(view::agent_error(&e));
                    }
                }
            }
        }
        self.store.delete_contact(c.id)?;
        Ok(())
    }

    async fn send(&mut self, name: &str, text: &str) -> Result<(), ChatError> {
        let Some(c) = self.contact(name)? else {
            return Ok(());
        };
        match self.send_text(&c, text).await? {
            SendOutcome::Sent(_) => {}
            // The reference answers both a contact still connecting and one that deleted
            // the contact with `NAME: not ready`.
            SendOutcome::NotReady => self.say(view::not_ready(&c.name)),
            SendOutcome::TooLarge => self.say(view::message_too_large(text.chars().count())),
        }
        Ok(())
    }

    /// Sends a text to a contact and prints it.
    async fn send_text(&mut self, c: &Contact, text: &str) -> Result<SendOutcome, ChatError> {
        if c.deleted || !c.ready {
            return Ok(SendOutcome::NotReady);
        }
        let body = ChatMessage::new(ChatEvent::MsgNew {
            text: text.to_owned(),
        })
        .to_bytes();
        let msg_id = match self.agent.send_message(&c.conn_id, &body).await {
            Err(AgentError::Large) => return Ok(SendOutcome::TooLarge),
            r => r?,
        };
        let it = self.store.add_item(c.id, true, text, now_ms(), msg_id)?;
        if self.down.contains(&c.conn_id) {
            self.held.insert(it.id);
        }
        self.last_chat = Some(c.name.clone());
        let lines = view::item(Local::now(), &c.name, &it);
        self.print(lines);
        Ok(SendOutcome::Sent(it))
    }

    async fn update_profile(&mut self, name: &str) -> Result<(), ChatError> {
        if name == self.user.display_name {
            self.say("user profile did not change");
            return Ok(());
        }
        let p = Profile {
            display_name: name.to_owned(),
            full_name: self.user.full_name.clone(),
            peer_type: self.user.peer_type,
        };
        self.store.set_user(&p)?;
        self.user = p;
        self.update_address_link_data().await?;
        let body = self.info();
        let (mut ok, mut failed) = (0u32, 0u32);
        for c in self.store.contacts()?.into_iter().filter(|c| c.ready) {
            match self.agent.send_message(&c.conn_id, &body).await {
                Ok(_) => ok = ok.saturating_add(1),
                Err(_) => failed = failed.saturating_add(1),
            }
        }
        // Members of groups get the new profile too (chat version 7, `x.info` in groups).
        self.store.set_user_in_groups(&self.user)?;
        for g in self.store.groups()? {
            let me = self.store.membership(g.id)?;
            if matches!(
                me.status,
                crate::store::groups::Status::Connected | crate::store::groups::Status::Creator
            ) {
                self.broadcast(g.id, &body).await?;
            }
        }
        let failures = if failed > 0 {
            format!(", {failed} failures")
        } else {
            String::new()
        };
        let line = format!(
            "user profile is changed to {} (your {ok} contacts are notified{failures})",
            view::full_name(name, &self.user)
        );
        self.say(line);
        Ok(())
    }

    /// After a profile change: the profile in the address's short link data is replaced
    /// (`LSET`), as the reference does, so that those who open the link see the new one.
    async fn update_address_link_data(&mut self) -> Result<(), ChatError> {
        let Some((conn_id, _)) = self.store.address()? else {
            return Ok(());
        };
        if self.agent.address_short_link(&conn_id).await?.is_none() {
            return Ok(());
        }
        let data = ContactShortLinkData::of(&self.user).to_bytes();
        if let Err(e) = self.agent.set_address_link_data(&conn_id, &data).await {
            self.say(view::agent_error(&e));
        }
        Ok(())
    }

    /// Handles an agent event; errors are printed.
    pub async fn event(&mut self, e: AgentEvent) {
        if let Err(err) = self.handle_event(e).await {
            self.say(err.to_string());
            self.emit_with(|_| Err(err.into()));
        }
    }

    async fn handle_event(&mut self, e: AgentEvent) -> Result<(), ChatError> {
        let conn = e.conn_id;
        let member_event = matches!(
            e.event,
            Event::Conf { .. }
                | Event::Info(_)
                | Event::Con
                | Event::Msg { .. }
                | Event::Rcvd { .. }
        );
        if member_event {
            if let Some(m) = self.store.member_by_conn(&conn)? {
                return self.member_event(m, e.event).await;
            }
        }
        match e.event {
            Event::Conf {
                conf_id, conn_info, ..
            } => self.conf_event(conn, conf_id, conn_info).await?,
            Event::Info(conn_info) => {
                let joined = self.store.pending(&conn)? == Some(PendingKind::Joined);
                match profile_of(&conn_info) {
                    Some(profile) if joined => {
                        self.store.add_contact(&conn, &profile)?;
                    }
                    _ => {}
                }
            }
            Event::Con => self.con_event(conn).await?,
            Event::Msg { meta, body } => self.msg_event(conn, meta, body).await?,
            Event::Sent(msg_id) => self.sent_event(conn, msg_id).await?,
            Event::Rcvd { meta, receipts } => self.rcvd_event(conn, meta, receipts).await?,
            Event::Req { inv_id, conn_info } => {
                if let Some(l) = self.store.group_link_by_conn(&conn)? {
                    if let Some((profile, _)) = request_of(&conn_info) {
                        self.group_link_request(l, &inv_id, profile).await?;
                    }
                    return Ok(());
                }
                let Some((addr, _)) = self.store.address()? else {
                    return Ok(());
                };
                if addr != conn {
                    return Ok(());
                }
                let Some((profile, req_id)) = request_of(&conn_info) else {
                    return Ok(());
                };
                self.contact_request(&inv_id, &profile, req_id.as_deref())
                    .await?;
            }
            Event::Merr(msg_id, err) => self.merr_event(conn, msg_id, err).await?,
            Event::End => {
                if let Some(c) = self.store.contact_by_conn(&conn)? {
                    self.say(format!(
                        "{}: contact is connected to another client",
                        view::view_name(&c.name)
                    ));
                }
            }
            Event::Down(server, conns) => {
                self.down.extend(conns.iter().cloned());
                self.emit_host(false, &server);
                self.server_event(false, &hosts(&server), &conns)?;
            }
            Event::Up(server, conns) => {
                for id in &conns {
                    self.down.remove(id);
                }
                self.emit_host(true, &server);
                self.server_event(true, &hosts(&server), &conns)?;
                // Deletions that failed while the relay was away.
                for id in &conns {
                    if self.store.pending_deletion(id)?.is_some_and(|d| d.sent) {
                        self.finish_deletion(id).await?;
                    }
                }
            }
            Event::Rsync { state, error } => self.ratchet_sync_event(&conn, state, error)?,
            Event::Switch {
                direction, phase, ..
            } => self.switch_event(&conn, direction, phase)?,
            Event::Err(err) => self.say(format!("smp agent error: {err}")),
            _ => {}
        }
        Ok(())
    }

    fn integrity_error(&mut self, c: &Contact, i: &MsgIntegrity) {
        let what = match i {
            MsgIntegrity::Ok => return,
            MsgIntegrity::Skipped { from, to } if from == to => {
                format!("skipped message ID {from}")
            }
            MsgIntegrity::Skipped { from, to } => format!("skipped message ID {from}..{to}"),
            MsgIntegrity::BadId(id) => format!("unexpected message ID {id}"),
            MsgIntegrity::BadHash => "incorrect message hash".to_owned(),
            MsgIntegrity::Duplicate => "duplicate message ID".to_owned(),
        };
        let time = view::msg_time(Local::now(), now_ms());
        self.say(format!("{time} {}> {what}", view::view_name(&c.name)));
    }

    fn contact_profile(&mut self, c: &Contact, p: &Profile) -> Result<(), ChatError> {
        if *p == c.profile {
            return Ok(());
        }
        let updated = self.store.update_contact_profile(c, p)?;
        if updated.name != c.name {
            if self.last_chat.as_deref() == Some(c.name.as_str()) {
                self.last_chat = Some(updated.name.clone());
            }
            self.print(vec![
                format!(
                    "contact {} changed to {}",
                    view::view_name(&c.name),
                    view::full_name(&updated.name, p)
                ),
                format!(
                    "use @{} <message> to send messages",
                    view::view_name(&updated.name)
                ),
            ]);
        }
        Ok(())
    }

    /// Prints the server connection changes as the reference does (`server disconnected …`).
    fn server_event(&mut self, up: bool, host: &str, conns: &[Vec<u8>]) -> Result<(), ChatError> {
        let mut names = Vec::new();
        for id in conns {
            if let Some(c) = self.store.contact_by_conn(id)? {
                names.push(format!("@{}", view::view_name(&c.name)));
            }
        }
        if !names.is_empty() {
            let what = if up { "connected" } else { "disconnected" };
            self.say(format!("server {what} {host} ({})", names.join(", ")));
        }
        Ok(())
    }
}

fn hosts(s: &smp_proto::SmpServer) -> String {
    view::server_hosts(s)
}

/// A profile from connection info: `x.info` or `x.contact`.
fn profile_of(conn_info: &[u8]) -> Option<Profile> {
    match ChatMessage::decode_one(conn_info).ok()?.event {
        ChatEvent::Info(p) => Some(p),
        ChatEvent::Contact { profile, .. } => Some(profile),
        _ => None,
    }
}

/// The profile and request ID of a request through the address (`x.contact`; `x.info`
/// from older clients has no ID).
fn request_of(conn_info: &[u8]) -> Option<(Profile, Option<String>)> {
    match ChatMessage::decode_one(conn_info).ok()?.event {
        ChatEvent::Info(p) => Some((p, None)),
        ChatEvent::Contact {
            profile,
            contact_req_id,
        } => Some((profile, contact_req_id)),
        _ => None,
    }
}

/// What to do without SMP servers.
pub fn no_servers_hint() -> Vec<String> {
    vec![
        "no SMP servers configured: start a relay in another terminal with".to_owned(),
        "  cargo run --release --bin smp-server -- start".to_owned(),
        "and pass the \"Server address\" it prints: simplex-chat -s smp://<fingerprint>@<host>[:<port>]".to_owned(),
        "(the servers given with -s are saved and used on later starts)".to_owned(),
    ]
}
