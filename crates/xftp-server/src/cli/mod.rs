//! The operator's command line, as the reference's `xftp-server` (`Server/Main.hs`):
//! `init`, `start`, `delete`; `file-server.ini` ([`ini`]); the certificates and
//! `fingerprint` in the configuration directory (`XFTP_SERVER_CFG_PATH`, default
//! `/etc/opt/simplex-xftp`), the store log in the log directory (`XFTP_SERVER_LOG_PATH`,
//! default `/var/opt/simplex-xftp`). One command per configuration at a time (the lock
//! `xftp-server.lock` in the log directory, as the SMP relay's).

use std::fs;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use simplex_transport::credentials::load_file_fingerprint;
use simplex_transport::{GeneratedCredentials, ServerCredentials, SignAlgorithm};
use smp_proto::BasicAuth;
use smp_server::cli::{
    confirm, parse_host, parse_ip, parse_sign_algorithm, show_ttl, ConfigLock, Ini,
};

pub mod ini;

use crate::config::{Expiration, ServerConfig, DEFAULT_EXPIRE_CHECK};
use ini::{ini_content, Settings};

/// `file-server.ini`.
pub const INI_FILE: &str = "file-server.ini";
/// The store log.
pub const STORE_LOG_FILE: &str = "file-server-store.log";
/// The configuration lock, in the log directory.
pub const LOCK_FILE: &str = "xftp-server.lock";
/// The default port.
pub const DEFAULT_PORT: u16 = 443;
/// The quota `start` uses when it initializes a missing configuration.
pub const AUTO_INIT_QUOTA: u64 = 10 << 30;

/// `SimpleX XFTP server v<version>`.
pub fn server_version() -> String {
    format!(
        "SimpleX XFTP server v{} (simplex-rs)",
        env!("CARGO_PKG_VERSION")
    )
}

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "xftp-server",
    about = "SimpleX XFTP server (simplex-rs)",
    arg_required_else_help = true
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Initialize server - creates the configuration and log directories and files.
    Init(InitOptions),
    /// Start server (initializing it first when there is no configuration).
    Start(StartOptions),
    /// Delete configuration and log files.
    Delete {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes")]
        yes: bool,
    },
}

/// `init` options (the reference's).
#[derive(Debug, Clone, clap::Args)]
pub struct InitOptions {
    /// Disable store log for persistence (enabled by default).
    #[arg(long)]
    pub disable_store_log: bool,
    /// Signature algorithm used for TLS certificates: ED25519, ED448.
    #[arg(short = 'a', long = "sign-algorithm", default_value = "ED448", value_parser = parse_sign_algorithm)]
    pub sign_algorithm: String,
    /// Server IP address, used as Common Name for TLS online certificate if FQDN is not supplied.
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_ip)]
    pub ip: IpAddr,
    /// Server FQDN used as Common Name for TLS online certificate.
    #[arg(short = 'n', long, value_parser = parse_host)]
    pub fqdn: Option<String>,
    /// Path to the directory to store files.
    #[arg(short = 'p', long)]
    pub path: PathBuf,
    /// File storage quota (e.g. 100gb).
    #[arg(short = 'q', long, value_parser = parse_quota)]
    pub quota: u64,
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
}

fn parse_quota(s: &str) -> Result<u64, String> {
    xftp_proto::parse_file_size(s).map_err(|_| "expected a size such as 100gb".to_owned())
}

/// The configuration and log directories.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Configuration.
    pub cfg: PathBuf,
    /// Logs.
    pub log: PathBuf,
}

impl Paths {
    /// From `XFTP_SERVER_CFG_PATH` / `XFTP_SERVER_LOG_PATH`, or the reference's defaults.
    pub fn from_env() -> Paths {
        let env = |name: &str, def: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(def), PathBuf::from)
        };
        Paths {
            cfg: env("XFTP_SERVER_CFG_PATH", "/etc/opt/simplex-xftp"),
            log: env("XFTP_SERVER_LOG_PATH", "/var/opt/simplex-xftp"),
        }
    }
}

fn fail(msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(msg.to_string())
}

/// `xftp://<fingerprint>@<host>[:port]` (no port when 443).
pub fn server_address(fingerprint: &str, host: &str, port: u16) -> String {
    if port == DEFAULT_PORT {
        format!("xftp://{fingerprint}@{host}")
    } else {
        format!("xftp://{fingerprint}@{host}:{port}")
    }
}

fn initialize(paths: &Paths, opts: &InitOptions) -> std::io::Result<(String, String)> {
    let alg = SignAlgorithm::parse(&opts.sign_algorithm)
        .ok_or_else(|| fail("bad sign algorithm: ED25519 or ED448"))?;
    fs::create_dir_all(&paths.cfg)?;
    fs::create_dir_all(&paths.log)?;
    let ip = opts.ip.to_string();
    let cn = opts.fqdn.clone().unwrap_or_else(|| ip.clone());
    let creds = GeneratedCredentials::generate(alg, &cn).map_err(fail)?;
    creds.write_to_dir(&paths.cfg).map_err(fail)?;
    let host = opts.fqdn.clone().unwrap_or_else(|| {
        if ip == "127.0.0.1" {
            "<hostnames>".to_owned()
        } else {
            ip
        }
    });
    fs::write(
        paths.cfg.join(INI_FILE),
        ini_content(
            &host,
            !opts.disable_store_log,
            &opts.path,
            opts.quota,
            &paths.cfg,
        ),
    )?;
    let fp = fs::read_to_string(paths.cfg.join("fingerprint"))?
        .trim()
        .to_owned();
    Ok((fp, host))
}

fn print_service_info(fp: &str, host: &str, port: u16) {
    println!("{}", server_version());
    println!("Fingerprint: {fp}");
    println!("Server address: {}", server_address(fp, host, port));
}

/// `xftp-server init`.
pub fn init(paths: &Paths, opts: &InitOptions) -> std::io::Result<()> {
    let ini_path = paths.cfg.join(INI_FILE);
    if ini_path.exists() {
        return Err(fail(format!(
            "Error: server is already initialized ({} exists).\nRun `xftp-server start`.",
            ini_path.display()
        )));
    }
    let (fp, host) = initialize(paths, opts)?;
    println!(
        "Server initialized, you can modify configuration in {}.\nRun `xftp-server start` to start server.",
        ini_path.display()
    );
    println!("----------");
    println!(
        "You should store CA private key securely and delete it from the server.\nCA private key location:\n{}",
        paths.cfg.join("ca.key").display()
    );
    println!("----------");
    print_service_info(&fp, &host, DEFAULT_PORT);
    Ok(())
}

/// `xftp-server delete`.
pub fn delete(paths: &Paths, yes: bool) -> std::io::Result<()> {
    let lock = if paths.log.is_dir() {
        Some(ConfigLock::take_named(
            &paths.log,
            LOCK_FILE,
            "xftp-server delete",
        )?)
    } else {
        None
    };
    confirm(
        yes,
        "WARNING: deleting the server will make all queues inaccessible, because the server identity (certificate fingerprint) will change.\nTHIS CANNOT BE UNDONE!",
        "Server NOT deleted",
    )?;
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
    // The store log with its backups (`.start`, `.bak`, `.<time>`) and the statistics.
    let ours = [
        STORE_LOG_FILE,
        crate::stats::BACKUP_FILE,
        crate::stats::DAILY_LOG_FILE,
        crate::metrics::METRICS_FILE,
    ];
    if let Ok(entries) = fs::read_dir(&paths.log) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if ours
                .iter()
                .any(|f| name == *f || name.starts_with(&format!("{f}.")))
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    if lock.is_some() {
        let _ = fs::remove_file(paths.log.join(LOCK_FILE));
    }
    drop(lock);
    println!("Deleted configuration and log files");
    Ok(())
}

/// The relay's configuration from the INI's settings.
pub fn server_config(
    paths: &Paths,
    s: &Settings,
    listen: SocketAddr,
) -> std::io::Result<ServerConfig> {
    let mut cfg = ServerConfig::new(listen, s.files_path.clone());
    cfg.quota = s.quota;
    cfg.store_log = s.store_log.then(|| paths.log.join(STORE_LOG_FILE));
    cfg.allow_new_files = s.new_files;
    cfg.create_password = match &s.password {
        Some(p) => Some(BasicAuth::new(p.as_bytes()).map_err(|_| fail("bad create_password"))?),
        None => None,
    };
    cfg.expiration = Some(Expiration {
        ttl_secs: i64::try_from(s.expire_hours.saturating_mul(3600)).unwrap_or(i64::MAX),
        check_interval: DEFAULT_EXPIRE_CHECK,
    });
    cfg.inactive_clients = s.inactive;
    cfg.web_tls = s.web_tls.clone();
    cfg.control = s.control_port.map(|p| (p, s.control.clone()));
    cfg.prometheus = s.prometheus_interval.map(|secs| {
        (
            paths.log.join(crate::metrics::METRICS_FILE),
            Duration::from_secs(secs),
        )
    });
    cfg.stats = s.log_stats.then(|| crate::stats::StatsLogConfig {
        daily: paths.log.join(crate::stats::DAILY_LOG_FILE),
        backup: paths.log.join(crate::stats::BACKUP_FILE),
        interval: Duration::from_secs(86_400),
        start_at: Some(0),
    });
    Ok(cfg)
}

/// `xftp-server start`: runs until SIGINT/SIGTERM.
pub async fn start(paths: &Paths, opts: &StartOptions) -> std::io::Result<()> {
    let _lock = ConfigLock::take_named(&paths.log, LOCK_FILE, "xftp-server start")?;
    let ini_path = paths.cfg.join(INI_FILE);
    if !ini_path.exists() {
        let files = paths.log.join("files");
        let init_opts = InitOptions {
            disable_store_log: false,
            sign_algorithm: "ED448".into(),
            ip: IpAddr::from([127, 0, 0, 1]),
            fqdn: None,
            path: files.clone(),
            quota: AUTO_INIT_QUOTA,
        };
        initialize(paths, &init_opts)?;
        println!(
            "No configuration found: initialized {} as `xftp-server init -p {} -q {}` (CA private key: {}).",
            paths.cfg.display(),
            files.display(),
            xftp_proto::file_size_str(AUTO_INIT_QUOTA),
            paths.cfg.join("ca.key").display()
        );
    }
    let settings = Settings::from_ini(&Ini::read(&ini_path)?)?;
    let creds = ServerCredentials::load_dir(&paths.cfg).map_err(fail)?;
    let fp = load_file_fingerprint(&paths.cfg.join("ca.crt")).map_err(fail)?;
    let fp = simplex_encoding::string::base64url_encode(fp.as_bytes());
    if let Ok(saved) = fs::read_to_string(paths.cfg.join("fingerprint")) {
        if saved.trim() != fp {
            return Err(fail("Stored fingerprint is invalid."));
        }
    }
    let listen_ip = opts.listen.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    let port = opts.port.unwrap_or(settings.port);
    let cfg = server_config(paths, &settings, SocketAddr::new(listen_ip, port))?;
    print_service_info(&fp, &settings.host, settings.port);
    for key in &settings.ignored {
        println!("Note: {key} is not supported by this server and is ignored.");
    }
    match &cfg.store_log {
        Some(f) => println!("Store log: {}", f.display()),
        None => println!("Store log disabled."),
    }
    let ttl = i64::try_from(settings.expire_hours * 3600).unwrap_or(i64::MAX);
    println!("expiring files after {}", show_ttl(ttl));
    match cfg.inactive_clients {
        Some(i) => println!(
            "expiring clients inactive for {} seconds every {} seconds",
            i.ttl.as_secs(),
            i.check_interval.as_secs()
        ),
        None => println!("not expiring inactive clients"),
    }
    println!(
        "Uploading new files {}",
        match (cfg.allow_new_files, cfg.create_password.is_some()) {
            (false, _) => "NOT allowed.",
            (true, true) => "requires password.",
            (true, false) => "allowed.",
        }
    );
    if let Some(st) = &cfg.stats {
        println!("server stats log enabled: {}", st.daily.display());
    }
    if let Some((path, every)) = &cfg.prometheus {
        println!(
            "Prometheus metrics saved every {} seconds to {}",
            every.as_secs(),
            path.display()
        );
    }
    let server = crate::start(cfg, &creds).await?;
    if let Some(a) = server.control_addr {
        println!("Control port: {a}");
    }
    println!("Listening on port {}...", server.addr.port());
    tokio::select! {
        _ = shutdown_signal() => {
            println!("Stopping server...");
        }
    }
    server.stop().await;
    println!("Server stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the command line.
pub async fn main(cli: Cli) -> std::io::Result<()> {
    let paths = Paths::from_env();
    match cli.command {
        Command::Init(opts) => init(&paths, &opts),
        Command::Start(opts) => start(&paths, &opts).await,
        Command::Delete { yes } => delete(&paths, yes),
    }
}
