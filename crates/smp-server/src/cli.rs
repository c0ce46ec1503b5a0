//! The operator's command line and files, as the reference's `smp-server` (`Server/Main.hs`,
//! `Server/Main/Init.hs`, `Server/CLI.hs`): `init`, `start`, `delete`; `smp-server.ini`;
//! `ca.crt`/`ca.key`, `server.crt`/`server.key`, `fingerprint`; the store log and messages
//! file in the log directory.

use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use simplex_transport::credentials::load_file_fingerprint;
use simplex_transport::{GeneratedCredentials, ServerCredentials, SignAlgorithm};

use crate::core::{Core, CoreConfig};
use crate::msg_store::{MsgStore, NtfStore, DEFAULT_NTF_TTL};
use crate::server::{InactiveClients, NetConfig, Server};
use crate::store::QueueStore;
use crate::store_log;

/// `smp-server.ini`.
pub const INI_FILE: &str = "smp-server.ini";
/// The store log file name.
pub const STORE_LOG_FILE: &str = "smp-server-store.log";
/// The saved messages file name.
pub const MESSAGES_FILE: &str = "smp-server-messages.log";
/// The saved notifications file name.
pub const NTFS_FILE: &str = "smp-server-ntfs.log";
/// The default SMP port.
pub const DEFAULT_PORT: u16 = 5223;

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "smp-server", version, about = "SMP server (simplex-rs)")]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Initialize the server: configuration, certificates, fingerprint.
    Init(InitOptions),
    /// Start the server.
    Start(StartOptions),
    /// Delete the configuration and log files.
    Delete {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
    /// Import/export messages to/from journal storage.
    Journal(JournalArgs),
}

/// `journal` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct JournalArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: JournalCommand,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes", global = true)]
    pub yes: bool,
}

/// `journal` subcommands (the reference's `journal import|export|delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum JournalCommand {
    /// Import the message log file into a new journal storage.
    Import,
    /// Export the journal storage to the message log file.
    Export,
    /// Delete the journal storage.
    Delete,
}

/// `init` options.
#[derive(Debug, Clone, clap::Args)]
pub struct InitOptions {
    /// Non-interactive: accept the defaults.
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// The server's IP address (used for the certificate CN and the printed address).
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: String,
    /// The server's FQDN (preferred over the IP in the certificate and address).
    #[arg(short = 'n', long)]
    pub fqdn: Option<String>,
    /// Certificate signature algorithm: ED25519 or ED448.
    #[arg(short = 'a', long = "sign-algorithm", default_value = "ED25519")]
    pub sign_algorithm: String,
    /// Password to create new queues.
    #[arg(long, conflicts_with = "no_password")]
    pub password: Option<String>,
    /// No password to create new queues.
    #[arg(long)]
    pub no_password: bool,
    /// Disable the store log.
    #[arg(long)]
    pub disable_store_log: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            yes: true,
            ip: "127.0.0.1".into(),
            fqdn: None,
            sign_algorithm: "ED25519".into(),
            password: None,
            no_password: true,
            disable_store_log: false,
        }
    }
}

/// `start` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StartOptions {
    /// Listen on this port instead of the INI's (0: any free port; the bound port is printed).
    #[arg(long)]
    pub port: Option<u16>,
    /// Listen on this address (default: all interfaces).
    #[arg(long)]
    pub listen: Option<IpAddr>,
    /// Start even when the saved messages name queues that no longer exist, or end in a
    /// line cut short (those are skipped), as the reference's `--skip-warnings`.
    #[arg(long)]
    pub skip_warnings: bool,
}

/// The configuration and log directories.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Configuration directory.
    pub cfg: PathBuf,
    /// Log directory.
    pub log: PathBuf,
}

fn writable(dir: &Path) -> bool {
    fs::create_dir_all(dir).is_ok() && {
        let probe = dir.join(".smp-server-write-test");
        let ok = fs::write(&probe, b"").is_ok();
        let _ = fs::remove_file(&probe);
        ok
    }
}

impl Paths {
    /// From `SMP_SERVER_CFG_PATH` / `SMP_SERVER_LOG_PATH` (defaults `/etc/opt/simplex`,
    /// `/var/opt/simplex`); when those cannot be written, the XDG directories instead.
    pub fn from_env() -> Paths {
        let env = |name: &str, def: &str| match std::env::var(name) {
            Ok(v) if !v.is_empty() => (PathBuf::from(v), true),
            _ => (PathBuf::from(def), false),
        };
        let home = std::env::var("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("."));
        let xdg = |name: &str, fallback: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(fallback))
                .join("simplex")
        };
        let (mut cfg, cfg_set) = env("SMP_SERVER_CFG_PATH", "/etc/opt/simplex");
        let (mut log, log_set) = env("SMP_SERVER_LOG_PATH", "/var/opt/simplex");
        if !cfg_set && !cfg.join(INI_FILE).exists() && !writable(&cfg) {
            cfg = xdg("XDG_CONFIG_HOME", ".config");
            println!(
                "/etc/opt/simplex is not writable, using {} for configuration",
                cfg.display()
            );
        }
        if !log_set && !writable(&log) {
            log = xdg("XDG_STATE_HOME", ".local/state");
            println!(
                "/var/opt/simplex is not writable, using {} for logs",
                log.display()
            );
        }
        Paths { cfg, log }
    }
}

/// A parsed INI file: section → key → value (comments and blank lines dropped).
#[derive(Debug, Default, Clone)]
pub struct Ini(HashMap<String, HashMap<String, String>>);

impl Ini {
    /// Parses INI text.
    pub fn parse(text: &str) -> Ini {
        let mut ini = Ini::default();
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.trim().to_owned();
            } else if let Some((k, v)) = line.split_once([':', '=']) {
                ini.0
                    .entry(section.clone())
                    .or_default()
                    .insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        ini
    }

    /// A value.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.0.get(section)?.get(key).map(String::as_str)
    }

    /// An `on`/`off` value.
    pub fn on(&self, section: &str, key: &str, default: bool) -> bool {
        match self.get(section, key) {
            Some("on" | "true" | "yes") => true,
            Some("off" | "false" | "no") => false,
            _ => default,
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// `[STORE_LOG] log_stats` and `prometheus_interval`: the statistics files, in the log
/// directory, at the reference's times.
fn stats_config(ini: &Ini, log_dir: &Path) -> std::io::Result<crate::stats::StatsConfig> {
    use crate::stats::{DailyLogConfig, PrometheusConfig, StatsConfig};
    let daily = ini
        .on("STORE_LOG", "log_stats", false)
        .then(|| DailyLogConfig {
            path: log_dir.join(crate::stats::DAILY_LOG_FILE),
            backup: log_dir.join(crate::stats::BACKUP_FILE),
            interval: crate::stats::DAILY_INTERVAL,
            start_at: Some(0),
        });
    let prometheus = match ini.get("STORE_LOG", "prometheus_interval").map(str::trim) {
        None => None,
        // As the reference, a value that is not a number turns the metrics off.
        Some(v) => match v.parse::<u64>().ok().filter(|n| *n > 0) {
            Some(secs) => Some(PrometheusConfig {
                path: log_dir.join(crate::stats::METRICS_FILE),
                interval: std::time::Duration::from_secs(secs),
            }),
            None => {
                println!("[STORE_LOG] prometheus_interval = {v}: not a number, no metrics");
                None
            }
        },
    };
    if daily.is_some() || prometheus.is_some() {
        fs::create_dir_all(log_dir)?;
    }
    Ok(StatsConfig { daily, prometheus })
}

/// The INI text `init` writes (the reference's sections and keys).
pub fn ini_content(host: &str, password: Option<&str>, store_log: bool) -> String {
    let pw = match password {
        Some(p) => format!("create_password = {p}"),
        None => "# create_password = <printable ASCII, no spaces, '@', ':' or '/'>".into(),
    };
    format!(
        "[INFORMATION]\n\
# source_code = URI\n\n\
[STORE_LOG]\n\
# Queues live in memory. With `enable = on` every queue change is appended to\n\
# smp-server-store.log, replayed and compacted at start, so queues survive restarts.\n\
enable = {sl}\n\n\
store_queues = memory\n\
store_messages = memory\n\n\
# Save undelivered messages on shutdown and load them again at start.\n\
restore_messages = {sl}\n\n\
# How long undelivered messages and notifications are kept.\n\
expire_messages_days = 21\n\
expire_messages_on_start = on\n\
expire_messages_on_send = off\n\
expire_ntfs_hours = 24\n\n\
# Counts only (never who or which queue): `log_stats = on` appends one line a day, at\n\
# 00:00 UTC, to smp-server-stats.daily.log in the log directory, and keeps the running\n\
# counters in smp-server-stats.log across restarts.\n\
log_stats = off\n\n\
# Every N seconds, rewrite smp-server-metrics.txt in the log directory with the same\n\
# counters in Prometheus text format.\n\
# prometheus_interval = 60\n\n\
[AUTH]\n\
# `new_queues = off` refuses every NEW command.\n\
new_queues = on\n\n\
# With a create_password, NEW needs that password, and so does PRXY (using this relay\n\
# as a proxy); clients put it in the server address: smp://<fingerprint>:<password>@<hosts>\n\
{pw}\n\n\
[TRANSPORT]\n\
# `host` only appears in the address printed at start.\n\
host = {host}\n\
port = {DEFAULT_PORT}\n\
log_tls_errors = off\n\
websockets = off\n\n\
[PROXY]\n\
# Senders may use this relay as their proxy to other relays (private message routing);\n\
# the [AUTH] create_password, when set, is required for it too.\n\
# How many proxy commands one client may have in progress at once (more wait).\n\
# client_concurrency = 32\n\
# host_mode = public\n\n\
[INACTIVE_CLIENTS]\n\
# Clients silent for `ttl` seconds are disconnected; checked every `check_interval` seconds.\n\
disconnect = on\n\
ttl = 21600\n\
check_interval = 3600\n",
        sl = on_off(store_log),
    )
}

/// A TTL as the reference's `showTTL` prints it: in the largest whole unit (seconds,
/// minutes, hours, days).
pub fn show_ttl(secs: i64) -> String {
    let (mins, s) = (secs.div_euclid(60), secs.rem_euclid(60));
    let (hours, m) = (mins.div_euclid(60), mins.rem_euclid(60));
    let (days, h) = (hours.div_euclid(24), hours.rem_euclid(24));
    if s != 0 {
        format!("{secs} seconds")
    } else if m != 0 {
        format!("{mins} minutes")
    } else if h != 0 {
        format!("{hours} hours")
    } else {
        format!("{days} days")
    }
}

/// The printed server address.
pub fn server_address(fingerprint: &str, password: Option<&str>, host: &str, port: u16) -> String {
    let auth = password.map(|p| format!(":{p}")).unwrap_or_default();
    let port = if port == DEFAULT_PORT {
        String::new()
    } else {
        format!(":{port}")
    };
    format!("smp://{fingerprint}{auth}@{host}{port}")
}

fn fail(msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(msg.to_string())
}

/// `smp-server init`.
pub fn init(paths: &Paths, opts: &InitOptions) -> std::io::Result<()> {
    let ini_path = paths.cfg.join(INI_FILE);
    if ini_path.exists() {
        return Err(fail(format!(
            "Error: server is already initialized ({} exists).\nRun `smp-server start`.",
            ini_path.display()
        )));
    }
    fs::create_dir_all(&paths.cfg)?;
    fs::create_dir_all(&paths.log)?;
    let alg = SignAlgorithm::parse(&opts.sign_algorithm)
        .ok_or_else(|| fail("bad sign algorithm: ED25519 or ED448"))?;
    let host = opts.fqdn.clone().unwrap_or_else(|| opts.ip.clone());
    let creds = GeneratedCredentials::generate(alg, &host).map_err(fail)?;
    creds.write_to_dir(&paths.cfg).map_err(fail)?;
    let password = if opts.no_password {
        None
    } else {
        opts.password.clone()
    };
    fs::write(
        &ini_path,
        ini_content(&host, password.as_deref(), !opts.disable_store_log),
    )?;
    let fp = fs::read_to_string(paths.cfg.join("fingerprint"))?
        .trim()
        .to_owned();
    println!(
        "Server initialized, please provide additional server information in {}.",
        ini_path.display()
    );
    println!("Run `smp-server start` to start server.");
    println!("----------");
    println!(
        "You should store CA private key securely and delete it from the server.\nCA private key location:\n{}",
        paths.cfg.join("ca.key").display()
    );
    println!("----------");
    println!("SMP server v{} (simplex-rs)", env!("CARGO_PKG_VERSION"));
    println!("Fingerprint: {fp}");
    println!(
        "Server address: {}",
        server_address(&fp, password.as_deref(), &host, DEFAULT_PORT)
    );
    Ok(())
}

/// `smp-server delete`.
pub fn delete(paths: &Paths) -> std::io::Result<()> {
    for f in [
        INI_FILE,
        "ca.crt",
        "ca.key",
        "server.crt",
        "server.key",
        "fingerprint",
    ] {
        let _ = fs::remove_file(paths.cfg.join(f));
    }
    for f in [STORE_LOG_FILE, MESSAGES_FILE, NTFS_FILE] {
        let _ = fs::remove_file(paths.log.join(f));
    }
    println!("Deleted configuration and log files");
    Ok(())
}

fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0))
}

/// Refuses to start when messages on disk would not be served, as the reference's
/// `checkMsgStoreMode`: in memory mode a journal directory (`messages/`) would be invisible; in
/// journal mode a messages log (`smp-server-messages.log`, saved by a run in memory mode)
/// would be. The operator moves them with `smp-server journal import|export` first.
///
/// Journal mode refuses the messages log rather than importing it at start (as this server
/// did before): an import at start is not safer — the log is renamed before its messages are
/// all in the journal, so a crash part way leaves them only in the `.bak`; with
/// `restore_messages = off` the log would be silently ignored; and the operator would not see
/// the queues that no longer exist. `smp-server journal import` checks the whole log first.
///
/// The reference's messages advise `journal import` for memory mode and `journal export`
/// for journal mode; each of those refuses in that situation (the directory, or the file,
/// exists), so ours name the command that moves the messages into the configured store.
fn check_msg_store_mode(paths: &Paths, journal_mode: bool) -> std::io::Result<()> {
    let dir = paths.log.join(crate::msg_journal::JOURNAL_DIR);
    let file = paths.log.join(MESSAGES_FILE);
    let (dir_exists, file_exists) = (dir.is_dir(), file.exists());
    let (d, f) = (dir.display(), file.display());
    if dir_exists && file_exists {
        return Err(fail(format!(
            "Error: both {f} file and {d} directory are present.\nConfigure memory storage."
        )));
    }
    if journal_mode && file_exists {
        return Err(fail(format!(
            "Error: store_messages is `journal` with {f} file present.\n\
             Set store_messages to `memory` or use `smp-server journal import` to migrate."
        )));
    }
    if journal_mode && !dir_exists {
        println!("store_messages is `journal`, {d} directory will be created.");
    }
    if !journal_mode && dir_exists {
        return Err(fail(format!(
            "Error: store_messages is `memory` with {d} directory present.\n\
             Set store_messages to `journal` or use `smp-server journal export` to migrate."
        )));
    }
    Ok(())
}

/// `smp-server start`: runs until SIGINT/SIGTERM.
pub async fn start(paths: &Paths, opts: &StartOptions) -> std::io::Result<()> {
    let ini_path = paths.cfg.join(INI_FILE);
    if !ini_path.exists() {
        println!(
            "No configuration at {}: running `smp-server init -y` with defaults first.",
            ini_path.display()
        );
        init(paths, &InitOptions::default())?;
    }
    let ini = Ini::parse(&fs::read_to_string(&ini_path)?);
    let creds = ServerCredentials::load_dir(&paths.cfg).map_err(fail)?;
    let fp_bytes = load_file_fingerprint(&paths.cfg.join("ca.crt")).map_err(fail)?;
    let fp = simplex_encoding::string::base64url_encode(fp_bytes.as_bytes());
    if let Ok(saved) = fs::read_to_string(paths.cfg.join("fingerprint")) {
        if saved.trim() != fp {
            return Err(fail("Stored fingerprint is invalid."));
        }
    }
    let store_log_on = ini.on("STORE_LOG", "enable", false);
    let restore = ini.on("STORE_LOG", "restore_messages", store_log_on);
    // `store_messages = journal`: messages on disk as they arrive (see `msg_journal`);
    // `memory` (the default): in memory, saved on shutdown when `restore_messages` is on.
    let journal_mode = match ini.get("STORE_LOG", "store_messages").map(str::trim) {
        None | Some("memory") => false,
        Some("journal") => true,
        Some(other) => {
            return Err(fail(format!(
                "store_messages = {other}: expected `memory` or `journal`"
            )))
        }
    };
    check_msg_store_mode(paths, journal_mode)?;
    let ttl_days: Option<i64> = ini
        .get("STORE_LOG", "expire_messages_days")
        .and_then(|d| d.parse().ok());
    let password = ini.get("AUTH", "create_password").map(str::to_owned);
    let core_config = CoreConfig {
        allow_new_queues: ini.on("AUTH", "new_queues", true),
        create_password: password.as_ref().map(|p| p.as_bytes().to_vec()),
        message_ttl: Some(ttl_days.unwrap_or(21) * 86_400),
        expire_on_send: ini.on("STORE_LOG", "expire_messages_on_send", true),
        ntf_ttl: ini
            .get("STORE_LOG", "expire_ntfs_hours")
            .and_then(|h| h.parse::<i64>().ok())
            .map_or(DEFAULT_NTF_TTL, |h| h * 3600),
        id_len: 24,
    };
    let host = ini
        .get("TRANSPORT", "host")
        .unwrap_or("<hostnames>")
        .to_owned();
    let ini_ports: Vec<u16> = ini
        .get("TRANSPORT", "port")
        .map(|p| p.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_default();
    let ini_port = ini_ports.first().copied().unwrap_or(DEFAULT_PORT);
    let port = opts.port.unwrap_or(ini_port);
    let inactive = if ini.on("INACTIVE_CLIENTS", "disconnect", false) {
        Some(InactiveClients {
            ttl: ini
                .get("INACTIVE_CLIENTS", "ttl")
                .and_then(|v| v.parse().ok())
                .unwrap_or(21_600),
            check_interval: ini
                .get("INACTIVE_CLIENTS", "check_interval")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3600),
        })
    } else {
        None
    };

    let mut queues = QueueStore::new();
    let log_path = paths.log.join(STORE_LOG_FILE);
    if store_log_on {
        fs::create_dir_all(&paths.log)?;
        let (writer, stats) = store_log::open_and_compact(&log_path, &mut queues, now_nanos())?;
        queues.set_log(writer);
        if stats.errors > 0 {
            println!(
                "Store log: {} of {} lines could not be applied",
                stats.errors, stats.lines
            );
        }
    }
    let mut msgs = MsgStore::default();
    let msgs_path = paths.log.join(MESSAGES_FILE);
    // In journal mode the messages file is not there (`check_msg_store_mode`).
    let mut journal = None;
    let mut journaled = 0;
    if journal_mode {
        let (j, restored) = crate::msg_journal::MsgJournal::open(
            &paths.log.join(crate::msg_journal::JOURNAL_DIR),
            queues.queues().map(|q| q.recipient_id),
        )?;
        for (rid, list) in restored {
            for m in list {
                msgs.restore_journaled(&rid, m);
                journaled += 1;
            }
        }
        journal = Some(j);
    }
    if restore && !journal_mode && msgs_path.exists() {
        check_messages_log(
            &msgs_path,
            &queues,
            LogCheck::Start {
                skip_warnings: opts.skip_warnings,
            },
        )?;
        let now = i64::try_from(now_nanos() / 1_000_000_000).unwrap_or(0);
        let stats = store_log::restore_messages(
            &msgs_path,
            &queues,
            &mut msgs,
            core_config.message_ttl.map(|t| now - t),
        )?;
        println!(
            "messages restored: {}, expired: {}",
            stats.stored, stats.expired
        );
    }
    if let Some(j) = journal {
        msgs.set_journal(j);
        println!("store_messages set to `journal`: {journaled} messages restored");
    }
    let mut ntfs = NtfStore::default();
    let ntfs_path = paths.log.join(NTFS_FILE);
    if restore && ntfs_path.exists() {
        let now = i64::try_from(now_nanos() / 1_000_000_000).unwrap_or(0);
        let stats = store_log::restore_ntfs(&ntfs_path, &mut ntfs, now - core_config.ntf_ttl)?;
        println!(
            "notifications restored: {}, expired: {}",
            stats.stored, stats.expired
        );
    }
    println!("SMP server v{} (simplex-rs)", env!("CARGO_PKG_VERSION"));
    println!("Fingerprint: {fp}");
    println!(
        "Server address: {}",
        server_address(&fp, password.as_deref(), &host, ini_port)
    );
    if store_log_on {
        println!("Store log: {}", log_path.display());
    } else {
        println!("Store log disabled.");
    }
    let listen = SocketAddr::new(
        opts.listen.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        port,
    );
    let net = NetConfig {
        listen,
        max_connections: 16_384,
        inactive,
        messages_path: if restore && !journal_mode {
            Some(msgs_path)
        } else {
            None
        },
        ntfs_path: if restore { Some(ntfs_path) } else { None },
        stats: stats_config(&ini, &paths.log)?,
    };
    let message_ttl = core_config.message_ttl;
    let mut core = Core::new(core_config, queues, msgs);
    core.ntfs = ntfs;
    let shutdown = shutdown_signal();
    let mut server = Server::bind(net, &creds, core).await?;
    let client_concurrency = match ini.get("PROXY", "client_concurrency") {
        None => crate::proxy::DEFAULT_CLIENT_CONCURRENCY,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| fail(format!("[PROXY] client_concurrency: bad number {v}")))?,
    };
    server.set_proxy(crate::proxy::ProxyConfig {
        basic_auth: password.as_ref().map(|p| p.as_bytes().to_vec()),
        client_concurrency,
        ..crate::proxy::ProxyConfig::default()
    });
    let bound = server.local_addr()?.port();
    println!("Serving SMP protocol on port {bound} (TLS)...");
    // The reference's INI lists several ports (`port = 5223,443`): serve each of them, unless
    // the command line chose one port.
    if opts.port.is_none() {
        for extra in ini_ports.iter().skip(1) {
            let bound = server
                .also_listen(SocketAddr::new(listen.ip(), *extra))
                .await?;
            println!("Serving SMP protocol on port {} (TLS)...", bound.port());
        }
    }
    match message_ttl {
        Some(ttl) => println!("expiring messages after {}", show_ttl(ttl)),
        None => println!("not expiring messages"),
    }
    match inactive {
        Some(c) => println!(
            "expiring clients inactive for {} seconds every {} seconds",
            c.ttl, c.check_interval
        ),
        None => println!("not expiring inactive clients"),
    }
    server.run(shutdown).await
}

/// Registers the SIGINT and SIGTERM handlers at once — before the port is printed, so that a
/// signal sent as soon as the server says it is serving stops it gracefully instead of killing
/// it — and returns the future that resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut t), Some(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => {}
                        _ = i.recv() => {}
                    }
                }
                (Some(mut t), None) => {
                    let _ = t.recv().await;
                }
                (None, Some(mut i)) => {
                    let _ = i.recv().await;
                }
                (None, None) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Asks the operator to type `Y` (unless `yes`); anything else refuses with `refused`.
fn confirm(yes: bool, warning: &str, refused: &str) -> std::io::Result<()> {
    use std::io::Write;
    if yes {
        println!("{warning}");
        return Ok(());
    }
    print!("{warning}\nContinue (Y/n): ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim_end_matches(['\r', '\n']) == "Y" {
        Ok(())
    } else {
        Err(fail(refused))
    }
}

/// Who checks the messages log ([`check_messages_log`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogCheck {
    /// `journal import`: every problem refuses.
    Import,
    /// `start` in memory mode: a line cut short at the end of the file or a message of a
    /// queue that no longer exists refuses unless `--skip-warnings` (then it is said and
    /// the line skipped); a bad line before the end always refuses. No queue IDs are printed
    /// (start output goes to the service's log): the line number says where.
    Start { skip_warnings: bool },
}

/// Checks every line of the messages log before it is loaded: as the reference's
/// `importMessages`, which exits on a line that does not parse and, without
/// `--skip-warnings`, on a message of a queue the store log does not have or a bad last line.
/// The reference exits part way (for `journal import`, with the journal directory half
/// written, so that a second import refuses because the directory exists); checking first
/// leaves nothing to clean up, and the log is untouched.
fn check_messages_log(file: &Path, queues: &QueueStore, check: LogCheck) -> std::io::Result<()> {
    use base64::Engine as _;
    use std::io::BufRead as _;
    let reader = std::io::BufReader::new(fs::File::open(file)?);
    let mut lines = reader.split(b'\n').enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let last = lines.peek().is_none();
        let parsed = std::str::from_utf8(&line)
            .map_err(|e| e.to_string())
            .and_then(|l| store_log::parse_message_line(l).map_err(|e| e.to_string()));
        let what = match parsed {
            Ok((rid, _)) if queues.find(crate::store::Party::Recipient, &rid).is_none() => {
                match check {
                    LogCheck::Import => {
                        let id = base64::engine::general_purpose::STANDARD.encode(&rid);
                        format!("queue {id} does not exist")
                    }
                    LogCheck::Start { .. } => "the queue does not exist".to_owned(),
                }
            }
            Ok(_) => continue,
            Err(e) => match check {
                LogCheck::Import => {
                    let start =
                        String::from_utf8_lossy(line.get(..100).unwrap_or(&line)).into_owned();
                    format!("parsing error ({e}): {start}")
                }
                LogCheck::Start { .. } if !last => {
                    return Err(fail(format!(
                        "error restoring messages: {} line {}: parsing error ({e})",
                        file.display(),
                        n + 1
                    )));
                }
                LogCheck::Start { .. } => format!("parsing error ({e})"),
            },
        };
        match check {
            LogCheck::Import => {
                return Err(fail(format!(
                    "error restoring messages: {} line {}: {what}\nMessages not imported.",
                    file.display(),
                    n + 1
                )))
            }
            LogCheck::Start {
                skip_warnings: true,
            } => eprintln!(
                "warning restoring messages: {} line {}: {what} (skipped: --skip-warnings)",
                file.display(),
                n + 1
            ),
            LogCheck::Start {
                skip_warnings: false,
            } => {
                return Err(fail(format!(
                    "warning restoring messages: {} line {}: {what}, start with --skip-warnings option to ignore this error",
                    file.display(),
                    n + 1
                )))
            }
        }
    }
    Ok(())
}

/// `smp-server journal import|export|delete`, as the reference's: `import` moves the messages
/// log (`smp-server-messages.log`, renamed to `.bak`) into a new journal directory, `export`
/// writes the journal's pending messages to the messages log (the journal stays), `delete`
/// removes the journal directory. The store log must be enabled and present (the queues).
pub fn journal(paths: &Paths, command: JournalCommand, yes: bool) -> std::io::Result<()> {
    use crate::msg_journal::{MsgJournal, JOURNAL_DIR};
    let ini_path = paths.cfg.join(INI_FILE);
    if !ini_path.exists() {
        return Err(fail(format!(
            "Error: server is not initialized ({} does not exist).\nRun `smp-server init`.",
            ini_path.display()
        )));
    }
    let ini = Ini::parse(&fs::read_to_string(&ini_path)?);
    let dir = paths.log.join(JOURNAL_DIR);
    let file = paths.log.join(MESSAGES_FILE);
    let (dir_exists, file_exists) = (dir.is_dir(), file.exists());
    let (d, f) = (dir.display(), file.display());
    if !ini.on("STORE_LOG", "enable", false) {
        return Err(fail("Store log disabled, see `[STORE_LOG] enable`"));
    }
    let store_log = paths.log.join(STORE_LOG_FILE);
    if !store_log.exists() {
        return Err(fail(format!(
            "Store log file {} not found",
            store_log.display()
        )));
    }
    let both = || {
        fail(format!(
            "Error: both {f} file and {d} directory are present.\nConfigure memory storage."
        ))
    };
    let journal_mode = ini.get("STORE_LOG", "store_messages").map(str::trim) == Some("journal");
    let load_queues = || -> std::io::Result<QueueStore> {
        let mut queues = QueueStore::new();
        store_log::replay(&store_log, &mut queues)?;
        Ok(queues)
    };
    match command {
        JournalCommand::Import => {
            if file_exists && dir_exists {
                return Err(both());
            }
            if dir_exists {
                return Err(fail(format!("{d} directory already exists.")));
            }
            if !file_exists {
                return Err(fail(format!("{f} file does not exist.")));
            }
            confirm(
                yes,
                &format!("WARNING: message log file {f} will be imported to journal directory {d}"),
                "Messages not imported",
            )?;
            let queues = load_queues()?;
            check_messages_log(&file, &queues, LogCheck::Import)?;
            let mut msgs = MsgStore::default();
            let stats = store_log::restore_messages(&file, &queues, &mut msgs, None)?;
            let (mut journal, _) = MsgJournal::open(&dir, [])?;
            for (rid, list) in msgs.all() {
                for m in list {
                    journal.append(rid, m)?;
                }
            }
            println!("Import completed");
            println!(
                "Messages stored: {}, skipped: {}, queues: {}",
                stats.stored,
                stats.skipped,
                queues.len()
            );
            println!(
                "{}",
                if journal_mode {
                    "store_messages set to `journal`"
                } else {
                    "store_messages set to `memory`, update it to `journal` in INI file"
                }
            );
        }
        JournalCommand::Export => {
            if file_exists && dir_exists {
                return Err(both());
            }
            if file_exists {
                return Err(fail(format!("{f} file already exists.")));
            }
            confirm(
                yes,
                &format!("WARNING: journal directory {d} will be exported to message log file {f}"),
                "Journal not exported",
            )?;
            let queues = load_queues()?;
            let restored = if dir_exists {
                MsgJournal::open(&dir, queues.queues().map(|q| q.recipient_id))?.1
            } else {
                Vec::new()
            };
            let mut text = String::new();
            let mut n = 0;
            for (rid, list) in &restored {
                for m in list {
                    text.push_str(&store_log::message_line(rid, m));
                    text.push('\n');
                    n += 1;
                }
            }
            fs::write(&file, text)?;
            println!("messages saved: {n}");
            println!("Export completed");
            println!(
                "{}",
                if journal_mode {
                    "store_messages set to `journal`, update it to `memory` in INI file"
                } else {
                    "store_messages set to `memory`, start the server."
                }
            );
        }
        JournalCommand::Delete => {
            if !dir_exists {
                return Err(fail(format!("{d} directory does not exist.")));
            }
            confirm(
                yes,
                &format!(
                    "WARNING: journal directory {d} will be permanently deleted.\nTHIS CANNOT BE UNDONE!"
                ),
                "Messages NOT deleted",
            )?;
            fs::remove_dir_all(&dir)?;
            println!("Deleted all messages in journal {d}");
        }
    }
    Ok(())
}

/// Runs the command line.
pub async fn main(cli: Cli) -> std::io::Result<()> {
    let paths = Paths::from_env();
    match cli.command {
        Command::Init(opts) => init(&paths, &opts),
        Command::Start(opts) => start(&paths, &opts).await,
        Command::Delete { yes } => {
            if !yes {
                println!("Deleting configuration and log files (use -y to skip this notice)");
            }
            delete(&paths)
        }
        Command::Journal(args) => journal(&paths, args.command, args.yes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_round_trip_and_address() {
        assert_eq!(show_ttl(21 * 86_400), "21 days");
        assert_eq!(show_ttl(90_000), "25 hours");
        assert_eq!(show_ttl(120), "2 minutes");
        assert_eq!(show_ttl(61), "61 seconds");
        let text = ini_content("smp.example.com", Some("pw"), true);
        let ini = Ini::parse(&text);
        assert!(ini.on("STORE_LOG", "enable", false));
        assert_eq!(ini.get("AUTH", "create_password"), Some("pw"));
        assert_eq!(ini.get("TRANSPORT", "host"), Some("smp.example.com"));
        assert_eq!(ini.get("INACTIVE_CLIENTS", "ttl"), Some("21600"));
        let no_pw = Ini::parse(&ini_content("h", None, false));
        assert_eq!(no_pw.get("AUTH", "create_password"), None);
        assert!(!no_pw.on("STORE_LOG", "enable", true));
        assert_eq!(
            server_address("FP=", Some("pw"), "h", 5223),
            "smp://FP=:pw@h"
        );
        assert_eq!(server_address("FP=", None, "h", 7000), "smp://FP=@h:7000");
    }
}
