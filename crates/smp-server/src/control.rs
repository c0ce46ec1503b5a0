//! The relay's control port, as the reference's (`Server/Control.hs`, `Server.hs`
//! `runCPClient`): a plain-text line protocol over TCP on **127.0.0.1 only**
//! (`[TRANSPORT] control_port`, 5224 by `init --control-port`), one task per connection.
//!
//! A session starts unauthenticated; `auth <password>` takes the role of the password it
//! matches (`[AUTH] control_port_admin_password` → admin, `control_port_user_password` →
//! user; compared in constant time) and prints `Current role is CPRAdmin|CPRUser|CPRNone`.
//! A command above the session's role prints `AUTH`; a line that does not parse prints
//! `error: …`; neither ends the session. Commands read the relay through a [`RelayView`]
//! (counters, clients, sockets, subscriptions, queues by sender ID); `delete`, `block`,
//! `unblock` (within the daily quota) and `save` are the ones that change anything. The log says only that a role was taken or refused and
//! which command ran, never a password or a queue ID.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use simplex_encoding::Encode as _;
use smp_proto::error::BlockingInfo;
use subtle::ConstantTimeEq;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::server::RelayView;
use crate::store::{QueueStatus, StoreError};

mod format;
mod parse;

pub use format::show_utc;
pub use parse::{ControlCommand, Role};

/// The reference's default control port (`init --control-port` without a port).
pub const DEFAULT_CONTROL_PORT: u16 = 5224;
/// The reference's default `[AUTH] daily_block_queue_quota`.
pub const DEFAULT_DAILY_BLOCK_QUOTA: i64 = 20;
/// The longest line read; longer ones are refused (and skipped to their end).
pub const MAX_LINE: usize = 4096;

/// The greeting, as the reference's.
pub const GREETING: &str = "SMP server control port\n'help' for supported commands\n";

/// The control port's settings (`[AUTH]`). Its `Debug` never shows the passwords.
#[derive(Clone, Default)]
pub struct ControlConfig {
    /// `control_port_admin_password`.
    pub admin_password: Option<String>,
    /// `control_port_user_password`.
    pub user_password: Option<String>,
    /// `daily_block_queue_quota`: queues `block` may block per UTC day; 0 for no limit, a
    /// negative number forbids blocking.
    pub daily_block_quota: i64,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("admin_password", &self.admin_password.as_ref().map(|_| "…"))
            .field("user_password", &self.user_password.as_ref().map(|_| "…"))
            .field("daily_block_quota", &self.daily_block_quota)
            .finish()
    }
}

impl ControlConfig {
    /// The role `password` gives. Both passwords are compared in constant time whatever
    /// matches; the admin's wins when both are the same.
    pub fn role_of(&self, password: &str) -> Role {
        let matches = |p: &Option<String>| -> bool {
            p.as_ref()
                .is_some_and(|p| bool::from(p.as_bytes().ct_eq(password.as_bytes())))
        };
        let (admin, user) = (matches(&self.admin_password), matches(&self.user_password));
        if admin {
            Role::Admin
        } else if user {
            Role::User
        } else {
            Role::None
        }
    }
}

/// Queues blocked today (UTC), for the daily quota (kept by the control port, so that it
/// starts again at 00:00 UTC whether or not daily statistics are logged).
#[derive(Debug, Default)]
struct BlockQuota {
    day: i64,
    count: i64,
}

impl BlockQuota {
    /// Refuses when `quota` queues were blocked on `day` already (0: no limit; negative:
    /// none allowed), in the reference's words.
    fn check(&mut self, day: i64, quota: i64) -> Result<(), String> {
        if self.day != day {
            self.day = day;
            self.count = 0;
        }
        if quota != 0 && self.count >= quota {
            Err(format!("reached limit of {quota} queues blocked daily"))
        } else {
            Ok(())
        }
    }

    /// One more queue blocked today.
    fn blocked(&mut self) {
        self.count += 1;
    }
}

/// The control port's listening socket, bound on 127.0.0.1, with its settings.
pub struct ControlPort {
    listener: TcpListener,
    config: Arc<ControlConfig>,
}

impl ControlPort {
    /// Binds `127.0.0.1:port` (0: any free port); the error names the port.
    pub async fn bind(port: u16, config: ControlConfig) -> std::io::Result<ControlPort> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .map_err(|e| {
                std::io::Error::other(format!("Error: cannot listen on control port {port}: {e}"))
            })?;
        Ok(ControlPort {
            listener,
            config: Arc::new(config),
        })
    }

    /// The bound address (always on 127.0.0.1).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts sessions until `stop` changes; the sessions end with it.
    pub(crate) async fn serve(self, view: RelayView, mut stop: watch::Receiver<bool>) {
        let quota = Arc::new(Mutex::new(BlockQuota::default()));
        let mut sessions = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.changed() => break,
            };
            while sessions.try_join_next().is_some() {}
            let Ok((tcp, _addr)) = accepted else {
                // Out of descriptors, say: wait rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let (cfg, view, quota) = (self.config.clone(), view.clone(), quota.clone());
            sessions.spawn(async move {
                let (r, w) = tcp.into_split();
                let mut s = Session {
                    cfg,
                    view,
                    quota,
                    role: Role::None,
                };
                if let Err(e) = s.run(tokio::io::BufReader::new(r), w).await {
                    tracing::debug!(error = %e, "control port session ended");
                }
            });
        }
        sessions.abort_all();
    }
}

/// One control-port connection.
struct Session {
    cfg: Arc<ControlConfig>,
    view: RelayView,
    quota: Arc<Mutex<BlockQuota>>,
    role: Role,
}

/// One line read: its text, or why it cannot be used.
enum Line {
    Text(String),
    TooLong,
    NotText,
}

/// Reads a line of at most [`MAX_LINE`] bytes (a longer one is skipped to its end);
/// `None` at the end of input.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let n = (&mut *r)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
        // Skip the rest of the line.
        loop {
            let mut rest = Vec::new();
            let m = (&mut *r)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut rest)
                .await?;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        return Ok(Some(Line::TooLong));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(match String::from_utf8(buf) {
        Ok(s) => Line::Text(s),
        Err(_) => Line::NotText,
    }))
}

impl Session {
    async fn run<R, W>(&mut self, mut reader: R, mut writer: W) -> std::io::Result<()>
    where
        R: AsyncBufRead + AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        writer.write_all(GREETING.as_bytes()).await?;
        while let Some(line) = read_line(&mut reader).await? {
            let cmd = match line {
                Line::Text(t) => ControlCommand::parse(&t),
                Line::TooLong => Err(format!("line longer than {MAX_LINE} bytes")),
                Line::NotText => Err("not UTF-8 text".to_string()),
            };
            let out = match cmd {
                Ok(ControlCommand::Quit) => break,
                Ok(cmd) => self.process(cmd),
                Err(e) => vec![format!("error: {e}")],
            };
            if !out.is_empty() {
                let mut text = out.join("\n");
                text.push('\n');
                writer.write_all(text.as_bytes()).await?;
            }
        }
        writer.shutdown().await
    }

    /// `AUTH` (and a log line) unless the session has at least `role`.
    fn allowed(&self, role: Role) -> Result<(), Vec<String>> {
        if self.role >= role {
            Ok(())
        } else {
            tracing::warn!("control port: unauthorized command");
            Err(vec!["AUTH".to_string()])
        }
    }

    /// Runs one command; returns the lines to print.
    fn process(&mut self, cmd: ControlCommand) -> Vec<String> {
        use ControlCommand as C;
        if !matches!(cmd, C::Auth(_) | C::Help | C::Skip) {
            tracing::info!(command = cmd.name(), "control port command");
        }
        let need = match &cmd {
            C::Auth(_) | C::Help | C::Skip | C::Quit | C::StatsRts => Role::None,
            C::Stats | C::Sockets | C::ServerInfo | C::Status(_) | C::Block(..) | C::Unblock(_) => {
                Role::User
            }
            C::Suspend
            | C::Resume
            | C::Clients
            | C::Threads
            | C::SocketThreads
            | C::Delete(_)
            | C::Save => Role::Admin,
        };
        if let Err(auth) = self.allowed(need) {
            return auth;
        }
        let admin = self.role == Role::Admin;
        match cmd {
            C::Auth(password) => self.auth(&password),
            C::Suspend => vec!["suspend not implemented".into()],
            C::Resume => vec!["resume not implemented".into()],
            C::StatsRts | C::Threads | C::SocketThreads => {
                vec!["Not available on this server".into()]
            }
            C::Clients => format::clients(&self.view.clients(), now_secs()),
            C::Stats => format::stats(&self.view.stats(), admin),
            C::Sockets => format::sockets(&self.view.sockets()),
            C::ServerInfo => {
                let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
                let subs = self.view.subscribers();
                format::server_info(tasks, self.view.client_count(), &subs, admin)
            }
            C::Delete(sid) => vec![match self.view.delete_queue(&sid) {
                Ok(n) => format!("ok, {n} messages deleted"),
                Err(e) => format!("error: {}", store_error(e)),
            }],
            C::Status(sid) => vec![match self.view.queue_by_sender(&sid) {
                Some(q) => format::status(&q),
                None => "error: AUTH".into(),
            }],
            C::Block(sid, info) => vec![self.block(&sid, &info)],
            C::Unblock(sid) => vec![self.unblock(&sid)],
            C::Save => {
                let mut out = vec!["saving server state...".to_string()];
                match self.view.save() {
                    Ok(_) => out.push("server state saved!".into()),
                    Err(e) => {
                        tracing::error!(error = %e, "control port: saving the server state failed");
                        out.push(format!("error: saving failed: {e}"));
                    }
                }
                out
            }
            C::Help => vec![
                "commands: stats, clients, sockets, server-info, delete, status, block, unblock, save, help, quit"
                    .into(),
            ],
            C::Quit | C::Skip => Vec::new(),
        }
    }

    /// `auth`: the first match sets the role for the session.
    fn auth(&mut self, password: &str) -> Vec<String> {
        if self.role != Role::None {
            let again = self.cfg.role_of(password);
            let note = if again == self.role {
                ""
            } else {
                ", start new session to change."
            };
            return vec![format!("Current role is {}{note}", self.role.name())];
        }
        self.role = self.cfg.role_of(password);
        match self.role {
            Role::Admin => tracing::info!("control port: admin authenticated"),
            Role::User => tracing::info!("control port: user authenticated"),
            Role::None => tracing::warn!("control port: authentication failed"),
        }
        vec![format!("Current role is {}", self.role.name())]
    }

    /// `block`: within the daily quota (counted when an active queue is blocked).
    fn block(&mut self, sid: &[u8], info: &BlockingInfo) -> String {
        let day = now_secs().div_euclid(86_400);
        let mut quota = self.quota.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = quota.check(day, self.cfg.daily_block_quota) {
            return format!("error: {e}");
        }
        let now_blocked = format!("EntityBlocked ({})", format::show_blocking(info));
        // The reference's text form (ASCII).
        let text = String::from_utf8_lossy(&info.to_bytes()).into_owned();
        match self.view.block_queue(sid, &text) {
            Ok(QueueStatus::Active) => {
                quota.blocked();
                crate::stats::inc(&self.view.counters().q_blocked);
                format!("ok, queue blocked: {now_blocked}")
            }
            Ok(_) => format!("ok, already inactive: {now_blocked}"),
            Err(e) => format!("error: {}", store_error(e)),
        }
    }

    /// `unblock`.
    fn unblock(&mut self, sid: &[u8]) -> String {
        match self.view.unblock_queue(sid) {
            Ok(QueueStatus::Blocked(info)) => format!(
                "ok, queue unblocked, reason to block was: {}",
                format::show_stored_blocking(&info)
            ),
            Ok(QueueStatus::Active) => "ok, queue was active".into(),
            Ok(QueueStatus::Off) => "error, queue is inactive".into(),
            Err(e) => format!("error: {}", store_error(e)),
        }
    }
}

/// A store error as the reference's `ErrorType` shows it.
fn store_error(e: StoreError) -> &'static str {
    match e {
        StoreError::NotFound => "AUTH",
        _ => "INTERNAL",
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_block_quota_starts_again_each_day() {
        let mut q = BlockQuota::default();
        for _ in 0..2 {
            assert_eq!(q.check(10, 2), Ok(()));
            q.blocked();
        }
        assert_eq!(
            q.check(10, 2),
            Err("reached limit of 2 queues blocked daily".into())
        );
        assert_eq!(q.check(11, 2), Ok(()), "a new day");
        q.blocked();
        assert_eq!(q.check(11, 0), Ok(()), "0: no limit");
        assert!(q.check(12, -1).is_err(), "-1: no blocking");
    }

    #[test]
    fn roles_by_password() {
        let cfg = ControlConfig {
            admin_password: Some("s3cret-a".into()),
            user_password: Some("s3cret-u".into()),
            daily_block_quota: 20,
        };
        assert_eq!(cfg.role_of("s3cret-a"), Role::Admin);
        assert_eq!(cfg.role_of("s3cret-u"), Role::User);
        assert_eq!(cfg.role_of("s3cret"), Role::None);
        assert_eq!(cfg.role_of(""), Role::None);
        assert!(
            !format!("{cfg:?}").contains("s3cret"),
            "Debug hides passwords"
        );
        assert_eq!(ControlConfig::default().role_of("x"), Role::None);
    }
}
