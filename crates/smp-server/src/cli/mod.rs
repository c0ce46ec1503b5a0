//! The operator's command line and files, as the reference's `smp-server` (`Server/Main.hs`,
//! `Server/Main/Init.hs`, `Server/CLI.hs`): `init`, `start`, `delete`, `journal`;
//! `smp-server.ini`; `ca.crt`/`ca.key`, `server.crt`/`server.key`, `fingerprint`; the store
//! log and messages file in the log directory.
//!
//! By concern: `ini` (reading `smp-server.ini` strictly, and the text `init` writes),
//! `settings` (what `start` takes from it), [`init`] (options, questions), [`start`],
//! [`journal`] (and the messages-log check `start` shares), [`delete`], `lock` (one command
//! per configuration at a time), `prompt` (the operator's answers).

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

mod delete;
mod ini;
mod init;
mod journal;
mod lock;
mod prompt;
mod settings;
mod start;

pub use delete::delete;
pub use ini::{ini_content, ini_content_with, password_problem, ControlInit, Ini};
pub use init::{init, parse_host, parse_ip, parse_password, parse_sign_algorithm};
pub use journal::journal;
pub use lock::{ConfigLock, LOCK_FILE};
pub use prompt::confirm;
pub use start::start;

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

/// `SMP server v<version>`, as `-v` and the start banner print it.
pub fn server_version() -> String {
    format!("SMP server v{} (simplex-rs)", env!("CARGO_PKG_VERSION"))
}

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "smp-server",
    about = "SMP server (simplex-rs)",
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Show version.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Initialize the server: configuration, certificates, fingerprint.
    Init(InitOptions),
    /// Start the server (initializing it with `init -y`'s defaults when not initialized).
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
    /// Non-interactive: use the options without asking (in a terminal, `init` asks).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// The server's IP address (used for the certificate CN and the printed address).
    #[arg(long, default_value = "127.0.0.1", value_parser = init::parse_ip)]
    pub ip: IpAddr,
    /// The server's FQDN (preferred over the IP in the certificate and address).
    #[arg(short = 'n', long, value_parser = init::parse_host)]
    pub fqdn: Option<String>,
    /// Certificate signature algorithm: ED25519 or ED448.
    #[arg(
        short = 'a',
        long = "sign-algorithm",
        default_value = "ED25519",
        value_parser = init::parse_sign_algorithm
    )]
    pub sign_algorithm: String,
    /// Password to create new queues (printable ASCII without whitespace, '@', ':' and '/').
    #[arg(long, conflicts_with = "no_password", value_parser = init::parse_password)]
    pub password: Option<String>,
    /// No password to create new queues.
    #[arg(long)]
    pub no_password: bool,
    /// Disable the store log.
    #[arg(long)]
    pub disable_store_log: bool,
    /// Log daily server statistics.
    #[arg(short = 's', long = "daily-stats")]
    pub daily_stats: bool,
    /// Enable the control port on 127.0.0.1 (5224 without a port), with generated admin
    /// and user passwords in the INI.
    #[arg(
        long = "control-port",
        value_name = "PORT",
        num_args = 0..=1,
        default_missing_value = "5224"
    )]
    pub control_port: Option<u16>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            yes: true,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            fqdn: None,
            sign_algorithm: "ED25519".into(),
            password: None,
            no_password: true,
            disable_store_log: false,
            daily_stats: false,
            control_port: None,
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

pub(super) fn fail(msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(msg.to_string())
}

/// Runs the command line.
pub async fn main(cli: Cli) -> std::io::Result<()> {
    let command = match cli.command {
        Some(c) if !cli.version => c,
        _ => {
            println!("{}", server_version());
            return Ok(());
        }
    };
    let paths = Paths::from_env();
    match command {
        Command::Init(opts) => init(&paths, &opts),
        Command::Start(opts) => start(&paths, &opts).await,
        Command::Delete { yes } => delete(&paths, yes),
        Command::Journal(args) => journal(&paths, args.command, args.yes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_address() {
        assert_eq!(show_ttl(21 * 86_400), "21 days");
        assert_eq!(show_ttl(90_000), "25 hours");
        assert_eq!(show_ttl(120), "2 minutes");
        assert_eq!(show_ttl(61), "61 seconds");
        assert_eq!(
            server_address("FP=", Some("pw"), "h", 5223),
            "smp://FP=:pw@h"
        );
        assert_eq!(server_address("FP=", None, "h", 7000), "smp://FP=@h:7000");
    }
}
