//! `smp-server.ini`: reading it strictly, and the text `init` writes.
//!
//! Every value the server reads is checked: a value it does not understand refuses the
//! command with `Error: <file>:<line>: [SECTION] key: <why>` before anything is changed,
//! where the reference exits with its own error too (`iniOnOff`'s "invalid INI setting",
//! `read`'s "no parse"). Spellings are the reference's: `on`/`off` exactly, whole numbers.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{fail, DEFAULT_PORT};

/// A parsed INI file: section → key → (line number, value); comments and blank lines
/// dropped. Remembers its file for error messages.
#[derive(Debug, Default, Clone)]
pub struct Ini {
    path: PathBuf,
    sections: HashMap<String, HashMap<String, (usize, String)>>,
}

impl Ini {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> std::io::Result<Ini> {
        Ini::parse(path, &fs::read_to_string(path)?)
    }

    /// Parses INI text (read from `path`, named in errors). As the reference's INI reader, a
    /// line that is not blank, a comment (`#`, `;`), a `[SECTION]` or `key = value`
    /// (`key: value`) refuses the whole file.
    pub fn parse(path: &Path, text: &str) -> std::io::Result<Ini> {
        let mut ini = Ini {
            path: path.to_path_buf(),
            sections: HashMap::new(),
        };
        let mut section = String::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.trim().to_owned();
            } else if let Some((k, v)) = line.split_once([':', '=']) {
                ini.sections
                    .entry(section.clone())
                    .or_default()
                    .insert(k.trim().to_owned(), (n + 1, v.trim().to_owned()));
            } else {
                return Err(fail(format!(
                    "Error: {}:{}: expected `[SECTION]`, `key = value` or a comment",
                    path.display(),
                    n + 1
                )));
            }
        }
        Ok(ini)
    }

    fn entry(&self, section: &str, key: &str) -> Option<&(usize, String)> {
        self.sections.get(section)?.get(key)
    }

    /// Refuses a section or key not in `known` (section, its keys), naming the first one by
    /// its line: a typo is an error rather than a setting silently left at its default.
    pub fn check_known(&self, known: &[(&str, &[&str])]) -> std::io::Result<()> {
        let mut unknown: Vec<(usize, String)> = Vec::new();
        for (section, keys) in &self.sections {
            let allowed = known.iter().find(|(s, _)| s == section).map(|(_, k)| *k);
            for (key, (line, _)) in keys {
                match allowed {
                    Some(k) if k.contains(&key.as_str()) => {}
                    Some(_) => unknown.push((*line, format!("[{section}] {key}: unknown key"))),
                    None if section.is_empty() => {
                        unknown.push((*line, format!("{key}: key outside any section")))
                    }
                    None => unknown.push((*line, format!("[{section}]: unknown section"))),
                }
            }
        }
        match unknown.into_iter().min() {
            Some((line, what)) => Err(fail(format!(
                "Error: {}:{line}: {what}",
                self.path.display()
            ))),
            None => Ok(()),
        }
    }

    /// A value, as written.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.entry(section, key).map(|(_, v)| v.as_str())
    }

    /// The refusal of `section`/`key`: `Error: <file>:<line>: [SECTION] key: <why>`.
    pub fn bad(&self, section: &str, key: &str, why: &str) -> std::io::Error {
        let line = self.entry(section, key).map_or(0, |(n, _)| *n);
        fail(format!(
            "Error: {}:{line}: [{section}] {key}: {why}",
            self.path.display()
        ))
    }

    fn invalid(&self, section: &str, key: &str, value: &str, expected: &str) -> std::io::Error {
        self.bad(
            section,
            key,
            &format!("invalid value `{value}`, expected {expected}"),
        )
    }

    /// An `on`/`off` value, exactly as the reference's `iniOnOff` spells them (`None`: absent).
    pub fn on_off(&self, section: &str, key: &str) -> std::io::Result<Option<bool>> {
        match self.get(section, key) {
            None => Ok(None),
            Some("on") => Ok(Some(true)),
            Some("off") => Ok(Some(false)),
            Some(v) => Err(self.invalid(section, key, v, "`on` or `off`")),
        }
    }

    /// An `on`/`off` value, `default` when absent.
    pub fn flag(&self, section: &str, key: &str, default: bool) -> std::io::Result<bool> {
        Ok(self.on_off(section, key)?.unwrap_or(default))
    }

    /// A whole number of at least `min` (`None`: absent); `what` names the unit in the error.
    pub fn number(
        &self,
        section: &str,
        key: &str,
        min: u64,
        what: &str,
    ) -> std::io::Result<Option<u64>> {
        let Some(v) = self.get(section, key) else {
            return Ok(None);
        };
        let expected = || {
            if min == 0 {
                format!("a whole number of {what}")
            } else {
                format!("a whole number of {what}, at least {min}")
            }
        };
        let n = Some(v)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n >= min)
            .ok_or_else(|| self.invalid(section, key, v, &expected()))?;
        Ok(Some(n))
    }

    /// One of `allowed` (`None`: absent); `unsupported` values the reference accepts but this
    /// server does not serve are refused with their own reason.
    pub fn one_of(
        &self,
        section: &str,
        key: &str,
        allowed: &[&str],
        unsupported: &[(&str, &str)],
    ) -> std::io::Result<Option<&str>> {
        let Some(v) = self.get(section, key) else {
            return Ok(None);
        };
        if allowed.contains(&v) {
            return Ok(Some(v));
        }
        if let Some((_, why)) = unsupported.iter().find(|(u, _)| *u == v) {
            return Err(self.bad(section, key, &format!("`{v}`: {why}")));
        }
        let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        Err(self.invalid(section, key, v, &list.join(" or ")))
    }
}

/// Why a password cannot be a server password (the reference's `BasicAuth`: printable ASCII
/// without whitespace, `@`, `:` and `/`, as clients read it from `smp://<fp>:<password>@…`),
/// or `None` when it can. Never repeats the password.
pub fn password_problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        Some("the password is empty")
    } else if p.len() > 255 {
        Some("the password is longer than 255 characters")
    } else if !p.bytes().all(|b| b.is_ascii_graphic()) {
        Some("only printable ASCII characters without whitespace are allowed")
    } else if p.contains(['@', ':', '/']) {
        Some("'@', ':' and '/' are not allowed")
    } else {
        None
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// The control port `init --control-port` enables, with its generated passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlInit {
    /// `[TRANSPORT] control_port`.
    pub port: u16,
    /// `[AUTH] control_port_admin_password`.
    pub admin_password: String,
    /// `[AUTH] control_port_user_password`.
    pub user_password: String,
}

impl std::fmt::Debug for ControlInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlInit")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The INI text `init` writes (the reference's sections and keys), without a control port.
pub fn ini_content(host: &str, password: Option<&str>, store_log: bool, log_stats: bool) -> String {
    ini_content_with(host, password, store_log, log_stats, None)
}

/// The INI text `init` writes; with `control`, the control port is enabled (otherwise its
/// keys are written commented out, as the reference does).
pub fn ini_content_with(
    host: &str,
    password: Option<&str>,
    store_log: bool,
    log_stats: bool,
    control: Option<&ControlInit>,
) -> String {
    let (cp_admin, cp_user, cp_port) = match control {
        Some(c) => (
            format!("control_port_admin_password = {}", c.admin_password),
            format!("control_port_user_password = {}", c.user_password),
            format!("control_port = {}", c.port),
        ),
        None => (
            "# control_port_admin_password =".into(),
            "# control_port_user_password =".into(),
            format!("# control_port = {}", crate::control::DEFAULT_CONTROL_PORT),
        ),
    };
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
log_stats = {ls}\n\n\
# Every N seconds, rewrite smp-server-metrics.txt in the log directory with the same\n\
# counters in Prometheus text format.\n\
# prometheus_interval = 60\n\n\
[AUTH]\n\
# `new_queues = off` refuses every NEW command.\n\
new_queues = on\n\n\
# With a create_password, NEW needs that password, and so does PRXY (using this relay\n\
# as a proxy); clients put it in the server address: smp://<fingerprint>:<password>@<hosts>\n\
{pw}\n\n\
# Passwords for the control port (`[TRANSPORT] control_port`, on 127.0.0.1 only):\n\
# `auth <password>` there takes the admin or the user role.\n\
{cp_admin}\n\
{cp_user}\n\n\
# The limit for queues that can be blocked via control port per day, resets at 0:00 UTC.\n\
# Set to 0 to disable limit, to -1 to prohibit blocking. Default is 20.\n\
# daily_block_queue_quota = 20\n\n\
[TRANSPORT]\n\
# `host` only appears in the address printed at start.\n\
host = {host}\n\
port = {DEFAULT_PORT}\n\
log_tls_errors = off\n\
websockets = off\n\
# The control port, a plain-text line protocol on 127.0.0.1 (`nc 127.0.0.1 5224`).\n\
{cp_port}\n\n\
[PROXY]\n\
# Senders may use this relay as their proxy to other relays (private message routing);\n\
# the [AUTH] create_password, when set, is required for it too.\n\
# How many proxy commands one client may have in progress at once (more wait).\n\
# client_concurrency = 32\n\
# Which host of a destination relay with several to use first: `public` (default) or\n\
# `onion`; with required_host_mode = on, only those.\n\
# host_mode = public\n\
# required_host_mode = off\n\
# The SOCKS5 proxy for connections to destination relays (Tor: 127.0.0.1:9050), used for\n\
# .onion hosts only (socks_mode = onion, the default) or for all (socks_mode = always).\n\
# socks_proxy = 127.0.0.1:9050\n\
# socks_mode = onion\n\n\
[INACTIVE_CLIENTS]\n\
# Clients silent for `ttl` seconds are disconnected; checked every `check_interval` seconds.\n\
disconnect = on\n\
ttl = 21600\n\
check_interval = 3600\n",
        sl = on_off(store_log),
        ls = on_off(log_stats),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Ini {
        Ini::parse(Path::new("/cfg/smp-server.ini"), text).expect("parses")
    }

    fn err(r: std::io::Result<impl std::fmt::Debug>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn written_ini_reads_back() {
        let ini = parse(&ini_content("smp.example.com", Some("pw"), true, false));
        assert_eq!(ini.on_off("STORE_LOG", "enable").ok(), Some(Some(true)));
        assert_eq!(ini.on_off("STORE_LOG", "log_stats").ok(), Some(Some(false)));
        assert_eq!(ini.get("AUTH", "create_password"), Some("pw"));
        assert_eq!(ini.get("TRANSPORT", "host"), Some("smp.example.com"));
        assert_eq!(
            ini.number("INACTIVE_CLIENTS", "ttl", 1, "seconds").ok(),
            Some(Some(21_600))
        );
        let no_pw = parse(&ini_content("h", None, false, true));
        assert_eq!(no_pw.get("AUTH", "create_password"), None);
        assert_eq!(no_pw.on_off("STORE_LOG", "enable").ok(), Some(Some(false)));
        assert_eq!(
            no_pw.on_off("STORE_LOG", "log_stats").ok(),
            Some(Some(true))
        );
    }

    #[test]
    fn values_are_read_strictly_with_file_and_line() {
        let ini = parse("[STORE_LOG]\nenable = On\n\n[TRANSPORT]\nport: abc\n[X]\nn = -5\nm = 0\n");
        assert_eq!(
            err(ini.on_off("STORE_LOG", "enable")),
            "Error: /cfg/smp-server.ini:2: [STORE_LOG] enable: invalid value `On`, expected `on` or `off`"
        );
        assert_eq!(
            err(ini.number("X", "n", 1, "seconds")),
            "Error: /cfg/smp-server.ini:7: [X] n: invalid value `-5`, expected a whole number of seconds, at least 1"
        );
        assert!(err(ini.number("X", "m", 1, "seconds")).contains(":8: [X] m: invalid value `0`"));
        assert_eq!(ini.number("X", "m", 0, "days").ok(), Some(Some(0)));
        assert_eq!(ini.number("X", "absent", 0, "days").ok(), Some(None));
        assert!(err(ini.one_of("TRANSPORT", "port", &["1"], &[]))
            .starts_with("Error: /cfg/smp-server.ini:5: [TRANSPORT] port: invalid value `abc`"));
        assert_eq!(
            err(Ini::parse(
                Path::new("f.ini"),
                "[A]\nkey = v\nno separator\n"
            )),
            "Error: f.ini:3: expected `[SECTION]`, `key = value` or a comment"
        );
    }

    #[test]
    fn passwords_as_clients_read_them() {
        assert_eq!(password_problem("s3cret-_.=+!"), None);
        for bad in ["", "pa:ss", "pa ss", "a@b", "a/b", "tab\there", "é"] {
            assert!(password_problem(bad).is_some(), "{bad:?}");
        }
    }
}
