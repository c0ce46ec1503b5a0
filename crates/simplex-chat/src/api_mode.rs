//! `simplex-chat -p PORT`: the chat serves the bot API instead of the terminal.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use simplex_agent::{Agent, AgentConfig, SqliteStore};
use simplex_chat::api::response::ChatResponse;
use simplex_chat::api::server::{self, ApiOutput, EventHub, PendingCommand, ServerConfig};
use simplex_chat::api::types::{ChatPeerType, User};
use simplex_chat::chat::{Chat, FilesConfig};
use simplex_chat::protocol::Profile;
use simplex_chat::store::ChatStore;
use tokio::sync::mpsc;

use crate::{ctrl_c, fail, Opts};

/// The databases and configuration `main` prepared.
pub struct Prepared {
    pub store: ChatStore,
    pub agent_store: SqliteStore,
    pub config: AgentConfig,
    pub files: FilesConfig,
}

/// Serves the bot API until Ctrl-C: from the start (a command before a user exists gets
/// `noActiveUser`), with the chat running once there is a user.
pub async fn run(opts: &Opts, port: u16, p: Prepared) {
    let hub = EventHub::default();
    let (commands, mut requests) = mpsc::channel::<PendingCommand>(16);
    let ip = opts.api_bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let config = ServerConfig {
        addr: SocketAddr::new(ip, port),
        token: opts.api_token.clone(),
    };
    let local = match server::start(config, hub.clone(), commands).await {
        Ok(a) => a,
        Err(e) => fail(&format!("cannot serve the bot API on {ip}:{port}: {e}")),
    };
    println!("chat API server listening on {local}");
    let user = match p.store.user() {
        Ok(Some(u)) => u,
        Ok(None) => {
            match &opts.create_bot_display_name {
                Some(name) => {
                    if !server::valid_display_name(name) {
                        fail("invalid display name: it cannot be empty, start with @ or # or contain '");
                    }
                    let mut profile = Profile::new(name.trim());
                    profile.peer_type = Some(ChatPeerType::Bot);
                    if !opts.create_bot_allow_files {
                        // The reference's bots refuse files unless allowed; this client's
                        // profiles carry no preferences yet, so files stay allowed.
                        println!("note: files sent to the bot are offered to it as to any user");
                    }
                    if let Err(e) = p.store.set_user(&profile) {
                        fail(&e.to_string());
                    }
                    profile
                }
                None => {
                    println!(
                    "no user profile yet: create it with /_create user JSON or /create bot NAME \
                     through the API, or start with --create-bot-display-name NAME"
                );
                    match wait_for_user(&p.store, &mut requests).await {
                        Some(u) => u,
                        None => return,
                    }
                }
            }
        }
        Err(e) => fail(&e.to_string()),
    };
    let (agent, mut events) = match Agent::start(p.config, Box::new(p.agent_store)).await {
        Ok(a) => a,
        Err(e) => fail(&format!("agent did not start: {e}")),
    };
    println!(
        "Current user: {}",
        simplex_chat::view::full_name(&user.display_name, &user)
    );
    let mut chat = Chat::new(agent.clone(), p.store, user, ApiOutput::new(hub));
    chat.set_files_config(p.files);
    let mut reports = chat
        .take_file_reports()
        .unwrap_or_else(|| fail("file reports"));
    chat.resume().await;
    chat.resume_files();
    let ctrl_c = ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            Some(req) = requests.recv() => {
                let resp = chat.api_command(&req.cmd).await;
                let _ = req.reply.send(resp);
            }
            e = events.recv() => match e {
                Some(e) => chat.event(e).await,
                None => break,
            },
            Some(d) = reports.recv() => chat.file_done(d).await,
            _ = &mut ctrl_c => break,
        }
    }
    while let Ok(e) = events.try_recv() {
        chat.event(e).await;
    }
    agent.stop().await;
}

/// Answers commands until one creates the user; `None` at Ctrl-C.
async fn wait_for_user(
    store: &ChatStore,
    requests: &mut mpsc::Receiver<PendingCommand>,
) -> Option<Profile> {
    let ctrl_c = ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let req = tokio::select! {
            r = requests.recv() => r?,
            _ = &mut ctrl_c => return None,
        };
        match server::before_user(&req.cmd) {
            Ok(profile) => {
                let resp = match store.set_user(&profile) {
                    Ok(()) => ChatResponse::ActiveUser {
                        user: User::of(&profile),
                    },
                    Err(e) => simplex_chat::api::errors::ChatError::from(e).into(),
                };
                let created = matches!(resp, ChatResponse::ActiveUser { .. });
                let _ = req.reply.send(resp);
                if created {
                    return Some(profile);
                }
            }
            Err(resp) => {
                let _ = req.reply.send(*resp);
            }
        }
    }
}
