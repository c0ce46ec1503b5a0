//! The relay's control port, as the reference's (`Server/Control.hs`, `runCPServer` in
//! `Server.hs`): a plain-text line protocol over TCP on **127.0.0.1 only**
//! (`[TRANSPORT] control_port`). `auth <password>` takes the role of the password it matches
//! (`[AUTH] control_port_admin_password`/`control_port_user_password`, compared in constant
//! time, as the SMP relay's); `delete <recipient ID>` and `block <recipient ID>
//! reason=spam|content[,notice=…]` need a role and answer `ok` or `error: …`; `stats-rts`
//! (the Haskell runtime's statistics) has nothing to show here; `help`, `quit`.
//!
//! The log says which command ran, never a password or a file ID.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use simplex_encoding::string::base64url_decode;
use simplex_encoding::{Decode, Reader};
use smp_proto::BlockingInfo;
use smp_server::control::{ControlConfig, Role};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use xftp_proto::FileParty;

use crate::relay::Relay;

/// The greeting, as the reference's.
pub const GREETING: &str = "XFTP server control port\n'help' for supported commands\n";
/// The reference's default control port.
pub const DEFAULT_CONTROL_PORT: u16 = 5226;

/// Binds `127.0.0.1:port` (0: any free port).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|e| {
            std::io::Error::other(format!("Error: cannot listen on control port {port}: {e}"))
        })
}

/// Serves sessions until dropped.
pub async fn serve(relay: Arc<Relay>, listener: TcpListener, cfg: Arc<ControlConfig>) {
    let mut sessions = JoinSet::new();
    loop {
        while sessions.try_join_next().is_some() {}
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let (relay, cfg) = (relay.clone(), cfg.clone());
        sessions.spawn(async move {
            if let Err(e) = session(&relay, &cfg, tcp).await {
                tracing::debug!("control port session ended: {e}");
            }
        });
    }
}

async fn session(
    relay: &Relay,
    cfg: &ControlConfig,
    tcp: tokio::net::TcpStream,
) -> std::io::Result<()> {
    let (r, mut w) = tcp.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(GREETING.as_bytes()).await?;
    let mut role = Role::None;
    while let Some(line) = lines.next_line().await? {
        let line = line.trim_end_matches('\r');
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let reply = match cmd {
            "" => continue,
            "quit" => break,
            "help" => "commands: stats-rts, delete, help, quit".to_owned(),
            "auth" => {
                let new = cfg.role_of(rest);
                let current = |r: Role| format!("Current role is {}", r.name());
                if role == Role::None {
                    role = new;
                    if new != Role::None {
                        tracing::info!("control port: role {} taken", new.name());
                    }
                    current(new)
                } else if role == new {
                    current(role)
                } else {
                    format!("{}, start new session to change.", current(role))
                }
            }
            "stats-rts" => "stats-rts: not available (no Haskell runtime)".to_owned(),
            "delete" | "block" if role == Role::None => {
                tracing::warn!("Unauthorized control port command");
                "AUTH".to_owned()
            }
            "delete" | "block" => {
                tracing::warn!("ControlPort: {cmd}");
                match run(relay, cmd, rest) {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => format!("error: {e}"),
                }
            }
            _ => "error: bad ControlProtocol command".to_owned(),
        };
        w.write_all(format!("{reply}\n").as_bytes()).await?;
    }
    Ok(())
}

/// `delete <rId>` or `block <rId> <info>`.
fn run(relay: &Relay, cmd: &str, args: &str) -> Result<(), String> {
    let (id, info) = match cmd {
        "block" => args
            .split_once(' ')
            .ok_or("expected a file ID and blocking info")?,
        _ => (args, ""),
    };
    let id = base64url_decode(id.as_bytes()).map_err(|_| "bad file ID".to_owned())?;
    let sid = relay
        .store()
        .get(FileParty::Recipient, &id)
        .map(|(f, _)| f.sender_id.clone())
        .ok_or("AUTH")?;
    if cmd == "block" {
        let mut r = Reader::new(info.as_bytes());
        BlockingInfo::decode(&mut r)
            .ok()
            .filter(|_| r.is_empty())
            .ok_or("bad blocking info")?;
        relay.block_file(&sid, info).map_err(|e| format!("{e:?}"))
    } else {
        match crate::commands::delete_file(relay, &sid) {
            xftp_proto::FileResponse::Ok => Ok(()),
            xftp_proto::FileResponse::Err(e) => Err(format!("{e:?}")),
            _ => Err("INTERNAL".into()),
        }
    }
}
