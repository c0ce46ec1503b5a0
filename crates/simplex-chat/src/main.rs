//! The `simplex-chat` binary: the terminal chat client's command line, and the bot API
//! server (`-p PORT`, module `api_mode`).

mod api_mode;

use std::fs::{File, OpenOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use simplex_agent::{Agent, AgentConfig, SqliteStore};
use simplex_chat::chat::{no_servers_hint, Chat, FileDone, FilesConfig, Flow, Output, Stdout};
use simplex_chat::privacy::{Level, NetFlags, Privacy};
use simplex_chat::protocol::Profile;
use simplex_chat::store::{ChatStore, StoreError};
use simplex_chat::term::{self, Input, LineEditor, TermOutput};
use smp_proto::address::SmpServerWithAuth;
use smp_proto::BasicAuth;
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use xftp_proto::XftpServer;
use zeroize::Zeroizing;

/// Chat over SimpleX relays: no user identifiers, connections by one-time links or addresses.
#[derive(Parser)]
#[command(name = "simplex-chat", version)]
struct Opts {
    /// Path prefix of the databases: PREFIX_chat.db and PREFIX_agent.db.
    #[arg(
        short = 'd',
        long = "database",
        default_value = "~/.simplex/simplex_v1"
    )]
    database: String,
    /// SMP servers for new connections, separated by spaces or ';'
    /// (smp://<fingerprint>@<host>[:<port>]); saved for later starts.
    #[arg(short = 's', long = "server")]
    server: Option<String>,
    /// XFTP relays for sending files, separated by ';'
    /// (xftp://<fingerprint>[:<password>]@<host>[:<port>]); saved for later starts.
    #[arg(long = "xftp-servers", value_name = "SERVERS")]
    xftp_servers: Option<String>,
    /// The folder received files are saved in when /fr names none (default: the current
    /// directory).
    #[arg(long = "files-folder", value_name = "FOLDER")]
    files_folder: Option<PathBuf>,
    /// Run one chat command, wait --time seconds for what follows, and exit.
    #[arg(short = 'e', long = "execute")]
    execute: Option<String>,
    /// Seconds to wait after --execute.
    #[arg(short = 't', long = "time", default_value_t = 3)]
    time: u64,
    /// Database passphrase: both databases are encrypted with it (SQLCipher).
    #[arg(long = "key", env = "SIMPLEX_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Queues per direction for new contacts, on as many relays (not in the reference):
    /// with 2 or more, a contact whose client uses them too gets every message over each,
    /// so a relay that is down or loses a message loses nothing. Needs as many -s servers.
    #[arg(
        long = "redundancy",
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u8).range(1..=8)
    )]
    redundancy: u8,
    /// Network and privacy options (module `privacy`).
    #[command(flatten)]
    net: NetFlags,
    /// Serve the bot API (the reference's WebSocket JSON API) on this port instead of the
    /// terminal (5225 when no port is given).
    #[arg(
        short = 'p',
        long = "chat-server-port",
        value_name = "PORT",
        num_args = 0..=1,
        default_missing_value = "5225"
    )]
    chat_server_port: Option<u16>,
    /// With -p: the address to serve the bot API on (not in the reference; default
    /// 127.0.0.1). Any other than loopback needs --api-token.
    #[arg(long = "api-bind", value_name = "ADDR", requires = "chat_server_port")]
    api_bind: Option<std::net::IpAddr>,
    /// With -p: a token clients must send in the WebSocket upgrade request
    /// (`Authorization: Bearer TOKEN` or `?token=TOKEN`); not in the reference.
    #[arg(
        long = "api-token",
        env = "SIMPLEX_API_TOKEN",
        hide_env_values = true,
        requires = "chat_server_port"
    )]
    api_token: Option<String>,
    /// With -p and no user yet: create a bot profile with this display name.
    #[arg(long = "create-bot-display-name", value_name = "NAME")]
    create_bot_display_name: Option<String>,
    /// With --create-bot-display-name: the bot accepts files (recorded; this client's
    /// profiles carry no preferences yet).
    #[arg(long = "create-bot-allow-files", requires = "create_bot_display_name")]
    create_bot_allow_files: bool,
}

fn db_prefix(s: &str) -> PathBuf {
    match s.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(rest),
            None => PathBuf::from(s),
        },
        None => PathBuf::from(s),
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}

/// Where files go: the XFTP relays (with their passwords), the folder for received files
/// and the work directory of transfers (`PREFIX_files_work`).
fn files_config(xftp: &str, opts: &Opts, prefix: &Path) -> Result<FilesConfig, String> {
    let mut config = FilesConfig {
        folder: opts.files_folder.clone(),
        work_dir: with_suffix(prefix, "_files_work"),
        ..FilesConfig::default()
    };
    for a in xftp.split(|c: char| c.is_whitespace() || c == ';') {
        if a.is_empty() {
            continue;
        }
        // A password sits between the fingerprint and `@`; the error names the host only.
        let shown = a.split_once('@').map_or(a, |(_, host)| host);
        let bad = |e: &dyn std::fmt::Display| format!("bad XFTP server address (…@{shown}): {e}");
        let (addr, auth) = match a.strip_prefix("xftp://").and_then(|r| r.split_once('@')) {
            Some((cred, hosts)) => match cred.split_once(':') {
                Some((fp, pw)) => (
                    format!("xftp://{fp}@{hosts}"),
                    Some(BasicAuth::new(pw.as_bytes()).map_err(|e| bad(&e))?),
                ),
                None => (a.to_owned(), None),
            },
            None => (a.to_owned(), None),
        };
        let server = XftpServer::parse_str(addr.as_bytes()).map_err(|e| bad(&e))?;
        if let Some(auth) = auth {
            config.auth.insert(server.to_string(), auth);
        }
        config.servers.push(server);
    }
    Ok(config)
}

/// Server addresses as the reference takes them: `smp://key[:password]@hosts[:port]`, the
/// password (for creating queues there and using it as a proxy) optional.
fn parse_servers(s: &str) -> Result<Vec<SmpServerWithAuth>, String> {
    s.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            SmpServerWithAuth::parse_str(p.as_bytes()).map_err(|e| {
                // The address may hold a password: name the server without it.
                let shown = p.split_once('@').map_or(p, |(_, host)| host);
                format!("bad server address (…@{shown}): {e}")
            })
        })
        .collect()
}

/// Where output goes: standard output, or above the line editor's input line.
enum Out {
    Plain(Stdout),
    Term(TermOutput),
}

impl Output for Out {
    fn lines(&mut self, lines: &[String]) {
        match self {
            Out::Plain(o) => o.lines(lines),
            Out::Term(o) => o.lines(lines),
        }
    }
}

/// A held lock on the databases, released when the process ends.
#[cfg(unix)]
type DbLock = nix::fcntl::Flock<File>;
#[cfg(not(unix))]
type DbLock = File;

/// Takes the databases for this process: a second client on the same databases would
/// receive half of the messages and confuse the agent's state, so it is refused. The lock
/// (`flock` on `PREFIX_chat.db.lock`) is held until the process ends.
fn lock_databases(prefix: &Path) -> Result<DbLock, String> {
    let path = with_suffix(prefix, "_chat.db.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use nix::fcntl::{Flock, FlockArg};
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(format!(
                "database is in use by another simplex-chat process ({})",
                with_suffix(prefix, "_chat.db").display()
            )),
            Err((_, e)) => Err(format!("cannot lock {}: {e}", path.display())),
        }
    }
    #[cfg(not(unix))]
    Ok(file)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with(['@', '#', '\'']) && !s.contains('\'')
}

/// Where input lines come from: the line editor of a terminal, or plain lines (pipes,
/// tests).
enum In {
    Plain(Lines<BufReader<Stdin>>),
    Term(LineEditor),
}

impl In {
    /// One line after this prompt; `None` at the end of input (or Ctrl-C / Ctrl-D).
    async fn line(&mut self, prompt: &str) -> Option<String> {
        match self {
            In::Plain(lines) => {
                {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "{prompt}");
                    let _ = out.flush();
                }
                lines.next_line().await.ok().flatten()
            }
            In::Term(ed) => {
                ed.ask(prompt);
                match ed.next().await {
                    Input::Line(l) => Some(l),
                    Input::Quit => None,
                }
            }
        }
    }
}

async fn ask_display_name(input: &mut In) -> Profile {
    Stdout.lines(&[
        "No user profiles found, it will be created now.".into(),
        "Please choose your display name.".into(),
        "It will be sent to your contacts when you connect.".into(),
        "It is only stored on your device and you can change it later.".into(),
    ]);
    loop {
        match input.line("display name: ").await {
            Some(l) => {
                let name = l.trim();
                if valid_name(name) {
                    return Profile::new(name);
                }
                println!(
                    "invalid display name: it cannot be empty, start with @ or # or contain '"
                );
            }
            None => fail("no display name given"),
        }
    }
}

#[tokio::main]
async fn main() {
    let mut opts = Opts::parse();
    // Moved, not copied, into a buffer wiped on drop.
    let key = Zeroizing::new(opts.key.take().unwrap_or_default());
    let prefix = db_prefix(&opts.database);
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            fail(&format!("cannot create {}: {e}", dir.display()));
        }
    }
    let _lock = lock_databases(&prefix).unwrap_or_else(|e| fail(&e));
    let chat_path = with_suffix(&prefix, "_chat.db");
    let agent_path = with_suffix(&prefix, "_agent.db");
    let wrong_key = |path: &Path| -> ! {
        let hint = if key.is_empty() {
            " (the database is encrypted: pass --key PASSPHRASE or set SIMPLEX_KEY)"
        } else {
            ""
        };
        fail(&format!(
            "error opening database {}: wrong passphrase or invalid database file{hint}",
            path.display()
        ))
    };
    let store = match ChatStore::open(&chat_path, &key) {
        Ok(s) => s,
        Err(StoreError::WrongPassphrase) => wrong_key(&chat_path),
        Err(e) => fail(&format!("error opening {}: {e}", chat_path.display())),
    };
    let agent_store = match SqliteStore::open(&agent_path, &key) {
        Ok(s) => s,
        Err(simplex_agent::StoreError::WrongPassphrase) => wrong_key(&agent_path),
        Err(e) => fail(&format!("error opening {}: {e}", agent_path.display())),
    };
    if key.is_empty() {
        println!(
            "the databases are not encrypted: start with --key PASSPHRASE (or SIMPLEX_KEY) to create encrypted ones"
        );
    }
    let servers = match &opts.server {
        Some(s) => {
            let servers = parse_servers(s).unwrap_or_else(|e| fail(&e));
            if let Err(e) = store.set_setting("smp_servers", s) {
                fail(&e.to_string());
            }
            servers
        }
        None => match store.setting("smp_servers") {
            Ok(Some(s)) => parse_servers(&s).unwrap_or_else(|e| fail(&e)),
            Ok(None) => Vec::new(),
            Err(e) => fail(&e.to_string()),
        },
    };
    if servers.is_empty() {
        Stdout.lines(&no_servers_hint());
    }
    let xftp = match &opts.xftp_servers {
        Some(s) => {
            if let Err(e) = store.set_setting("xftp_servers", s) {
                fail(&e.to_string());
            }
            s.clone()
        }
        None => match store.setting("xftp_servers") {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => fail(&e.to_string()),
        },
    };
    let mut files_config = files_config(&xftp, &opts, &prefix).unwrap_or_else(|e| fail(&e));
    let (config, privacy) = agent_config(&opts, servers, &store);
    // Files go through the same SOCKS proxy as messages (each XFTP relay on its own circuit).
    files_config.client.socks_proxy = config.socks_proxy.clone();
    if let Some(port) = opts.chat_server_port {
        let prepared = api_mode::Prepared {
            store,
            agent_store,
            config,
            files: files_config,
        };
        return api_mode::run(&opts, port, prepared).await;
    }
    // A terminal gets the line editor; pipes (and -e) read plain lines.
    let interactive =
        opts.execute.is_none() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let editor = if interactive {
        LineEditor::start(&store.history().unwrap_or_default()).ok()
    } else {
        None
    };
    let (mut input, out) = match editor {
        Some((ed, out)) => (In::Term(ed), Out::Term(out)),
        None => (
            In::Plain(BufReader::new(tokio::io::stdin()).lines()),
            Out::Plain(Stdout),
        ),
    };
    let user = match store.user() {
        Ok(Some(u)) => u,
        Ok(None) => {
            let p = ask_display_name(&mut input).await;
            if let Err(e) = store.set_user(&p) {
                fail(&e.to_string());
            }
            p
        }
        Err(e) => fail(&e.to_string()),
    };
    if privacy.level != Level::Standard {
        println!("privacy: {} (/privacy shows what it sets)", privacy.level);
    }
    let (agent, mut events) = match Agent::start(config, Box::new(agent_store)).await {
        Ok(a) => a,
        Err(e) => fail(&format!("agent did not start: {e}")),
    };
    println!(
        "Current user: {}",
        simplex_chat::view::full_name(&user.display_name, &user)
    );
    let mut chat = Chat::new(agent.clone(), store, user, out);
    chat.set_files_config(files_config);
    chat.set_privacy(opts.net.clone(), privacy);
    let mut file_reports = chat
        .take_file_reports()
        .unwrap_or_else(|| fail("file reports"));
    chat.resume().await;
    chat.resume_files();
    if let Some(cmd) = &opts.execute {
        if chat.input(cmd).await == Flow::Continue {
            let until = tokio::time::Instant::now() + Duration::from_secs(opts.time);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    e = events.recv() => match e {
                        Some(e) => chat.event(e).await,
                        None => break,
                    },
                    Some(d) = file_reports.recv() => chat.file_done(d).await,
                }
            }
        }
        while let Ok(e) = events.try_recv() {
            chat.event(e).await;
        }
        agent.stop().await;
        return;
    }
    match input {
        In::Term(ed) => run_editor(&mut chat, ed, &mut events, &mut file_reports).await,
        In::Plain(lines) => run_plain(&mut chat, lines, &mut events, &mut file_reports).await,
    }
    // Events already reported are handled before stopping: the agent will not report them
    // again (a SENT that completes a contact's deletion, a receipt).
    while let Ok(e) = events.try_recv() {
        chat.event(e).await;
    }
    agent.stop().await;
}

/// The agent's configuration from the command line.
/// The agent's settings from the options, with the privacy level: given (and saved for
/// later starts), or saved, or standard. The level also turns post-quantum encryption on for
/// new contacts, as the reference (`IKPQOn`, `PQSupportOn`): our invitations carry a KEM
/// key, and we use the one in an invitation we join.
fn agent_config(
    opts: &Opts,
    servers: Vec<SmpServerWithAuth>,
    store: &ChatStore,
) -> (AgentConfig, Privacy) {
    let mut config = AgentConfig::with_auth(servers);
    let level = match opts.net.privacy {
        Some(l) => {
            if let Err(e) = store.set_setting("privacy", l.as_str()) {
                fail(&e.to_string());
            }
            l
        }
        None => match store.setting("privacy") {
            Ok(Some(s)) => Level::parse(&s).unwrap_or_default(),
            Ok(None) => Level::default(),
            Err(e) => fail(&e.to_string()),
        },
    };
    let privacy = simplex_chat::privacy::apply(level, &opts.net, &mut config);
    config.redundancy = usize::from(opts.redundancy);
    if config.redundancy > 1 && config.redundancy > config.servers.len() {
        eprintln!(
            "warning: --redundancy {} with {} server(s): new contacts get at most {} queue(s) \
             per direction, one per server",
            config.redundancy,
            config.servers.len(),
            config.servers.len()
        );
    }
    (config, privacy)
}

type Events = tokio::sync::mpsc::UnboundedReceiver<simplex_agent::AgentEvent>;
/// What file transfers report (`Chat::file_done`).
type Reports = tokio::sync::mpsc::UnboundedReceiver<FileDone>;

/// Resolves at Ctrl-C (`SIGINT`). The listener is registered when this is called, for the
/// whole loop: a fresh `tokio::signal::ctrl_c()` per loop turn would miss a signal that
/// came while a command or an event was being handled.
fn ctrl_c() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        match sigint.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reads plain lines (pipes, tests) until `/q`; without input the chat still receives, and
/// Ctrl-C ends it.
async fn run_plain(
    chat: &mut Chat<Out>,
    mut lines: Lines<BufReader<Stdin>>,
    events: &mut Events,
    reports: &mut Reports,
) {
    let mut stdin_open = true;
    let ctrl_c = ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            l = lines.next_line(), if stdin_open => match l {
                Ok(Some(l)) => {
                    if chat.input(&l).await == Flow::Quit {
                        break;
                    }
                }
                _ => stdin_open = false,
            },
            e = events.recv() => match e {
                Some(e) => chat.event(e).await,
                None => break,
            },
            Some(d) = reports.recv() => chat.file_done(d).await,
            _ = &mut ctrl_c => break,
        }
    }
}

/// Reads lines with the editor until `/q`, Ctrl-C or Ctrl-D. The prompt shows the chat a
/// line without a command goes to, and such a line goes there even when a message from
/// someone else arrived while it was typed. Lines are kept in the history.
async fn run_editor(
    chat: &mut Chat<Out>,
    mut ed: LineEditor,
    events: &mut Events,
    reports: &mut Reports,
) {
    // The chat shown by the prompt being edited, once a line was asked for.
    let mut asked: Option<Option<String>> = None;
    // Ctrl-C while the editor is not reading (a command running) is a signal.
    let ctrl_c = ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if asked.is_none() {
            let to = chat.last_chat().map(str::to_owned);
            ed.ask(&term::prompt(to.as_deref()));
            asked = Some(to);
        }
        tokio::select! {
            i = ed.next() => {
                let to = asked.take().flatten();
                match i {
                    Input::Line(l) => {
                        if !l.trim().is_empty() {
                            let _ = chat.store().add_history(&l);
                        }
                        if chat.input_to(&l, to.as_deref()).await == Flow::Quit {
                            break;
                        }
                    }
                    Input::Quit => break,
                }
            }
            e = events.recv() => match e {
                Some(e) => chat.event(e).await,
                None => break,
            },
            Some(d) = reports.recv() => chat.file_done(d).await,
            _ = &mut ctrl_c => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_agent::{SmpProxyFallback, SmpProxyMode};

    #[test]
    fn paths_and_servers() {
        assert_eq!(
            with_suffix(Path::new("/tmp/x/alice"), "_chat.db"),
            PathBuf::from("/tmp/x/alice_chat.db")
        );
        assert!(parse_servers("").expect("empty").is_empty());
        assert!(parse_servers("nonsense").is_err());
        let fp = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI";
        let two = parse_servers(&format!(
            "smp://{fp}:secret@a.example smp://{fp}@b.example:5224"
        ))
        .expect("two servers");
        assert_eq!(two.len(), 2);
        let config = AgentConfig::with_auth(two);
        assert_eq!(config.servers.len(), 2);
        assert_eq!(config.server_auth.len(), 1, "only the first has a password");
        assert_eq!(
            config
                .server_auth
                .get(&config.servers[0])
                .map(|a| a.as_bytes().to_vec()),
            Some(b"secret".to_vec())
        );
        let bad = parse_servers(&format!("smp://{fp}:secret@")).expect_err("no host");
        assert!(!bad.contains("secret"), "{bad}");
        assert!(valid_name("alice"));
        assert!(!valid_name("@alice"));
        assert!(!valid_name(""));
    }

    #[test]
    fn proxy_options_as_the_reference() {
        let o = Opts::parse_from(["simplex-chat"]);
        assert_eq!((o.net.smp_proxy, o.net.smp_proxy_fallback), (None, None));
        let o = Opts::parse_from([
            "simplex-chat",
            "--smp-proxy",
            "always",
            "--smp-proxy-fallback",
            "no",
        ]);
        assert_eq!(o.net.smp_proxy, Some(SmpProxyMode::Always));
        assert_eq!(o.net.smp_proxy_fallback, Some(SmpProxyFallback::Prohibit));
        let o = Opts::parse_from([
            "simplex-chat",
            "--smp-proxy=never",
            "--smp-proxy-fallback=yes",
        ]);
        assert_eq!(o.net.smp_proxy, Some(SmpProxyMode::Never));
        assert_eq!(o.net.smp_proxy_fallback, Some(SmpProxyFallback::Allow));
        for (mode, name) in [
            (SmpProxyMode::Always, "always"),
            (SmpProxyMode::Unknown, "unknown"),
            (SmpProxyMode::Unprotected, "unprotected"),
            (SmpProxyMode::Never, "never"),
        ] {
            let o = Opts::parse_from(["simplex-chat", "--smp-proxy", name]);
            assert_eq!(o.net.smp_proxy, Some(mode));
        }
        assert!(Opts::try_parse_from(["simplex-chat", "--smp-proxy", "sometimes"]).is_err());
        assert!(Opts::try_parse_from(["simplex-chat", "--smp-proxy-fallback", "maybe"]).is_err());
    }
}
