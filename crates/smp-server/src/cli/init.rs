//! `smp-server init`: configuration, certificates, fingerprint. In a terminal without `-y` it
//! asks the reference's questions first (store log, daily statistics, password, host).
//! Values a client could not use are refused before anything is written: the options by
//! their parsers ([`parse_password`], [`parse_ip`], [`parse_host`]), the answers by asking
//! again.

use std::fs;
use std::io::{BufRead, IsTerminal as _, Write};
use std::net::IpAddr;
use std::path::PathBuf;

use simplex_transport::{GeneratedCredentials, SignAlgorithm};
use smp_proto::address::TransportHost;

use super::ini::{password_problem, ControlInit};
use super::prompt::{ask, on_off_prompt};
use super::{
    fail, ini_content_with, server_address, server_version, InitOptions, Paths, DEFAULT_PORT,
    INI_FILE,
};

/// `--password`: as clients read it from the server address.
pub fn parse_password(p: &str) -> Result<String, String> {
    match password_problem(p) {
        None => Ok(p.to_owned()),
        Some(why) => Err(why.to_owned()),
    }
}

/// `--ip`: an IPv4 or IPv6 address.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| "not an IP address (use --fqdn for a host name)".to_owned())
}

/// Why `h` cannot be the server's host (in its certificate and address), or `None`.
fn host_problem(h: &str) -> Option<&'static str> {
    let ok = !h.contains('@') && TransportHost::parse_str(h.as_bytes()).is_ok();
    (!ok).then_some("expected a domain name or an IP address, without spaces, '@', ':', '/' or ','")
}

/// `--fqdn`: a host name (or address) clients can put in the server address.
pub fn parse_host(h: &str) -> Result<String, String> {
    match host_problem(h) {
        None => Ok(h.to_owned()),
        Some(why) => Err(why.to_owned()),
    }
}

/// `--sign-algorithm`.
pub fn parse_sign_algorithm(s: &str) -> Result<String, String> {
    SignAlgorithm::parse(s)
        .map(|_| s.to_owned())
        .ok_or_else(|| "expected ED25519 or ED448".to_owned())
}

/// What `init` writes, from the options or the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InitPlan {
    /// The certificates' signature algorithm (checked by its parser).
    pub sign_algorithm: String,
    /// The certificate's name and the INI's `host`.
    pub host: String,
    /// `[STORE_LOG] enable` and `restore_messages`.
    pub store_log: bool,
    /// `[STORE_LOG] log_stats`.
    pub log_stats: bool,
    /// `[AUTH] create_password`.
    pub password: Option<String>,
    /// The control port and its generated passwords.
    pub control: Option<ControlInit>,
}

impl InitPlan {
    /// The options as given (`-y`, or not in a terminal).
    pub fn from_options(opts: &InitOptions) -> InitPlan {
        InitPlan {
            sign_algorithm: opts.sign_algorithm.clone(),
            host: opts.fqdn.clone().unwrap_or_else(|| opts.ip.to_string()),
            store_log: !opts.disable_store_log,
            log_stats: opts.daily_stats,
            password: if opts.no_password {
                None
            } else {
                opts.password.clone()
            },
            control: opts.control_port.map(|port| ControlInit {
                port,
                admin_password: random_base64url(18),
                user_password: random_base64url(18),
            }),
        }
    }
}

const NOT_INITIALIZED: &str = "Server NOT initialized";

/// 32 random bytes in base64url, as the reference's random password.
fn random_password() -> String {
    random_base64url(32)
}

/// `n` random bytes in base64url (the reference's `randomBase64`; 18 for the control
/// port's passwords).
fn random_base64url(n: usize) -> String {
    use rand::RngCore as _;
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    simplex_encoding::string::base64url_encode(&bytes)
}

/// Asks the reference's questions, the options giving the defaults; an answer that cannot be
/// used is asked again, the end of input gives up (nothing written).
pub(super) fn ask_plan(
    opts: &InitOptions,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<InitPlan> {
    let mut plan = InitPlan::from_options(opts);
    writeln!(out, "Use `smp-server init -h` for available options.")?;
    ask(
        input,
        out,
        "SMP server will be initialized (press Enter)",
        NOT_INITIALIZED,
    )?;
    plan.store_log = on_off_prompt(
        input,
        out,
        "Enable store log to restore queues and messages on server restart",
        plan.store_log,
        NOT_INITIALIZED,
    )?;
    plan.log_stats = on_off_prompt(
        input,
        out,
        "Enable logging daily statistics",
        plan.log_stats,
        NOT_INITIALIZED,
    )?;
    writeln!(out, "Require a password to create new messaging queues?")?;
    plan.password = loop {
        let answer = ask(
            input,
            out,
            "'r' for random (default), 'n' - no password (recommended for public servers), or enter password: ",
            NOT_INITIALIZED,
        )?;
        match answer.as_str() {
            "" | "r" => break Some(random_password()),
            "n" => break None,
            p if password_problem(p).is_none() => break Some(p.to_owned()),
            _ => writeln!(
                out,
                "Invalid password. Only latin letters, digits and symbols other than '@', ':' and '/' are allowed"
            )?,
        }
    };
    plan.host = loop {
        let answer = ask(
            input,
            out,
            &format!(
                "Enter server FQDN or IP address for certificate ({}): ",
                plan.host
            ),
            NOT_INITIALIZED,
        )?;
        if answer.is_empty() {
            break plan.host;
        }
        match host_problem(&answer) {
            None => break answer,
            Some(why) => writeln!(out, "Invalid host: {why}")?,
        }
    };
    Ok(plan)
}

/// What `initialize` made.
pub(super) struct Initialized {
    /// The CA certificate's fingerprint.
    pub fingerprint: String,
    /// The INI file.
    pub ini_path: PathBuf,
}

/// Writes the configuration of `plan`: directories, certificates, fingerprint, INI.
pub(super) fn initialize(paths: &Paths, plan: &InitPlan) -> std::io::Result<Initialized> {
    let ini_path = paths.cfg.join(INI_FILE);
    let alg = SignAlgorithm::parse(&plan.sign_algorithm)
        .ok_or_else(|| fail("bad sign algorithm: ED25519 or ED448"))?;
    fs::create_dir_all(&paths.cfg)?;
    fs::create_dir_all(&paths.log)?;
    let creds = GeneratedCredentials::generate(alg, &plan.host).map_err(fail)?;
    creds.write_to_dir(&paths.cfg).map_err(fail)?;
    fs::write(
        &ini_path,
        ini_content_with(
            &plan.host,
            plan.password.as_deref(),
            plan.store_log,
            plan.log_stats,
            plan.control.as_ref(),
        ),
    )?;
    let fingerprint = fs::read_to_string(paths.cfg.join("fingerprint"))?
        .trim()
        .to_owned();
    Ok(Initialized {
        fingerprint,
        ini_path,
    })
}

/// Refuses when `smp-server.ini` exists.
pub(super) fn check_not_initialized(paths: &Paths) -> std::io::Result<()> {
    let ini_path = paths.cfg.join(INI_FILE);
    if ini_path.exists() {
        return Err(fail(format!(
            "Error: server is already initialized ({} exists).\nRun `smp-server start`.",
            ini_path.display()
        )));
    }
    Ok(())
}

/// `smp-server init`.
pub fn init(paths: &Paths, opts: &InitOptions) -> std::io::Result<()> {
    check_not_initialized(paths)?;
    let plan = if !opts.yes && std::io::stdin().is_terminal() {
        ask_plan(opts, &mut std::io::stdin().lock(), &mut std::io::stdout())?
    } else {
        InitPlan::from_options(opts)
    };
    let done = initialize(paths, &plan)?;
    println!(
        "Server initialized, please provide additional server information in {}.",
        done.ini_path.display()
    );
    if let Some(c) = &plan.control {
        println!(
            "Control port enabled on 127.0.0.1:{}, its passwords are in [AUTH] of {}.",
            c.port,
            done.ini_path.display()
        );
    }
    println!("Run `smp-server start` to start server.");
    println!("----------");
    println!(
        "You should store CA private key securely and delete it from the server.\nCA private key location:\n{}",
        paths.cfg.join("ca.key").display()
    );
    println!("----------");
    println!("{}", server_version());
    println!("Fingerprint: {}", done.fingerprint);
    println!(
        "Server address: {}",
        server_address(
            &done.fingerprint,
            plan.password.as_deref(),
            &plan.host,
            DEFAULT_PORT
        )
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> InitOptions {
        InitOptions {
            yes: false,
            no_password: false,
            ..InitOptions::default()
        }
    }

    fn answers(typed: &str) -> (std::io::Result<InitPlan>, String) {
        let mut out = Vec::new();
        let plan = ask_plan(&opts(), &mut typed.as_bytes(), &mut out);
        (plan, String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn enter_to_every_question_takes_the_defaults_and_a_random_password() {
        let (plan, out) = answers("\n\n\n\n\n");
        let plan = plan.expect("answered");
        assert!(plan.store_log && !plan.log_stats);
        assert_eq!(plan.host, "127.0.0.1");
        let pw = plan.password.expect("random password by default");
        assert_eq!(pw.len(), 44, "32 bytes in base64url: {pw}");
        assert_eq!(password_problem(&pw), None);
        assert_eq!(
            out,
            "Use `smp-server init -h` for available options.\n\
             SMP server will be initialized (press Enter)\
             Enable store log to restore queues and messages on server restart (Yn): \
             Enable logging daily statistics (yN): \
             Require a password to create new messaging queues?\n\
             'r' for random (default), 'n' - no password (recommended for public servers), or enter password: \
             Enter server FQDN or IP address for certificate (127.0.0.1): "
        );
    }

    #[test]
    fn answers_are_taken_and_bad_ones_asked_again() {
        let (plan, out) = answers("\nn\ny\npa:ss\npa ss\ns3cret\nsmp host\nsmp.example.com\n");
        assert_eq!(
            plan.expect("answered"),
            InitPlan {
                sign_algorithm: "ED25519".into(),
                host: "smp.example.com".into(),
                store_log: false,
                log_stats: true,
                password: Some("s3cret".into()),
                control: None,
            }
        );
        assert_eq!(out.matches("Invalid password.").count(), 2, "{out}");
        assert_eq!(out.matches("Invalid host:").count(), 1, "{out}");
        assert!(!out.contains("s3cret"), "the password is not echoed: {out}");
        let (plan, _) = answers("\n\n\nn\n\n");
        assert_eq!(plan.expect("answered").password, None);
    }

    #[test]
    fn no_answer_initializes_nothing() {
        let (plan, _) = answers("\n\n");
        assert_eq!(plan.expect_err("end of input").to_string(), NOT_INITIALIZED);
    }

    #[test]
    fn option_parsers_refuse_what_clients_cannot_use() {
        assert!(parse_password("pa:ss").is_err() && parse_password("pa ss").is_err());
        assert!(parse_password("").is_err() && parse_password("a@b").is_err());
        assert_eq!(parse_password("s3cret"), Ok("s3cret".into()));
        assert!(parse_ip("not-an-ip").is_err() && parse_ip("1.2.3").is_err());
        assert!(parse_ip("::1").is_ok() && parse_ip("192.0.2.7").is_ok());
        for bad in ["a b", "a:1", "a/b", "a@b", "a,b", ""] {
            assert!(parse_host(bad).is_err(), "{bad:?}");
        }
        assert!(parse_host("smp.example.com").is_ok());
        assert!(parse_sign_algorithm("ED448").is_ok() && parse_sign_algorithm("RSA").is_err());
    }
}
