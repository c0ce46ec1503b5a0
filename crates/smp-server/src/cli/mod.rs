//! The operator's command line and files, as the reference's `smp-server` (`Server/Main.hs`,
//! `Server/Main/Init.hs`, `Server/CLI.hs`): `init`, `start`, `delete`; `smp-server.ini`;
//! `ca.crt`/`ca.key`, `server.crt`/`server.key`, `fingerprint`; the store log and messages
//! file in the log directory.

//!
//! By concern: [`ini`] (reading `smp-server.ini` and the text `init` writes), [`init`],
//! [`start`], [`journal`] (and the messages-log check `start` shares), [`delete`].

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

mod delete;
mod ini;
mod init;
mod journal;
mod start;

pub use delete::delete;
pub use ini::{ini_content, Ini};
pub use init::init;
pub use journal::journal;
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

/// Asks the operator to type `Y` (unless `yes`); anything else refuses with `refused`.
pub(super) fn confirm(yes: bool, warning: &str, refused: &str) -> std::io::Result<()> {
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
