//! `file-server.ini`: the text `init` writes (the reference's, less the PostgreSQL and web
//! lines this relay does not serve) and the settings `start` reads from it, strictly: an
//! unknown section or key, or a value not understood, refuses the start naming its line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use smp_server::cli::{password_problem, Ini};
use xftp_proto::{file_size_str, parse_file_size};

use crate::config::{InactiveClients, DEFAULT_EXPIRE_HOURS};

/// The sections and keys of the reference's `file-server.ini`.
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "INFORMATION",
        &[
            "source_code",
            "usage_conditions",
            "condition_amendments",
            "server_country",
            "operator",
            "operator_country",
            "website",
            "admin_simplex",
            "admin_email",
            "complaints_simplex",
            "complaints_email",
            "hosting",
            "hosting_country",
            "hosting_type",
        ],
    ),
    (
        "STORE_LOG",
        &[
            "enable",
            "store_files",
            "db_connection",
            "db_schema",
            "db_pool_size",
            "db_store_log",
            "expire_files_hours",
            "log_stats",
            "prometheus_interval",
        ],
    ),
    (
        "AUTH",
        &[
            "new_files",
            "create_password",
            "control_port_admin_password",
            "control_port_user_password",
        ],
    ),
    (
        "TRANSPORT",
        &["host", "port", "log_tls_errors", "control_port"],
    ),
    ("FILES", &["path", "storage_quota"]),
    ("INACTIVE_CLIENTS", &["disconnect", "ttl", "check_interval"]),
    ("WEB", &["static_path", "http", "https", "cert", "key"]),
];

/// What `start` takes from the INI.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[STORE_LOG] enable`.
    pub store_log: bool,
    /// `[STORE_LOG] expire_files_hours`.
    pub expire_hours: u64,
    /// `[STORE_LOG] log_stats`.
    pub log_stats: bool,
    /// `[STORE_LOG] prometheus_interval`, seconds.
    pub prometheus_interval: Option<u64>,
    /// `[AUTH] new_files`.
    pub new_files: bool,
    /// `[AUTH] create_password`.
    pub password: Option<String>,
    /// `[TRANSPORT] host` (only printed).
    pub host: String,
    /// `[TRANSPORT] port`.
    pub port: u16,
    /// `[FILES] path`.
    pub files_path: PathBuf,
    /// `[FILES] storage_quota`, bytes.
    pub quota: Option<u64>,
    /// `[TRANSPORT] control_port`.
    pub control_port: Option<u16>,
    /// `[AUTH] control_port_*_password`.
    pub control: smp_server::control::ControlConfig,
    /// `[INACTIVE_CLIENTS]` when `disconnect = on`.
    pub inactive: Option<InactiveClients>,
    /// `[WEB] cert` and `key`: the web certificate for clients that name a host (SNI).
    pub web_tls: Option<(PathBuf, PathBuf)>,
    /// Keys set that this relay accepts but does not act on (warned at start).
    pub ignored: Vec<String>,
}

impl Settings {
    /// Reads and checks every key.
    pub fn from_ini(ini: &Ini) -> std::io::Result<Settings> {
        ini.check_known(KNOWN_KEYS)?;
        const SL: &str = "STORE_LOG";
        let store_log = ini.flag(SL, "enable", false)?;
        ini.one_of(
            SL,
            "store_files",
            &["memory"],
            &[(
                "database",
                "PostgreSQL storage is not supported by this server, use `memory`",
            )],
        )?;
        let expire_hours = ini
            .number(SL, "expire_files_hours", 1, "hours")?
            .unwrap_or(DEFAULT_EXPIRE_HOURS);
        let log_stats = ini.flag(SL, "log_stats", false)?;
        let prometheus_interval = ini.number(SL, "prometheus_interval", 1, "seconds")?;
        let new_files = ini.flag("AUTH", "new_files", true)?;
        let password = match ini.get("AUTH", "create_password") {
            None => None,
            Some(p) => match password_problem(p) {
                None => Some(p.to_owned()),
                Some(why) => return Err(ini.bad("AUTH", "create_password", why)),
            },
        };
        ini.flag("TRANSPORT", "log_tls_errors", false)?;
        let control_port = ini.number("TRANSPORT", "control_port", 1, "port")?;
        let control_port = control_port
            .map(|p| {
                u16::try_from(p).map_err(|_| ini.bad("TRANSPORT", "control_port", "not a TCP port"))
            })
            .transpose()?;
        let control_password = |key: &str| match ini.get("AUTH", key) {
            None => Ok(None),
            Some(p) => match password_problem(p) {
                None => Ok(Some(p.to_owned())),
                Some(why) => Err(ini.bad("AUTH", key, why)),
            },
        };
        let control = smp_server::control::ControlConfig {
            admin_password: control_password("control_port_admin_password")?,
            user_password: control_password("control_port_user_password")?,
            daily_block_quota: 0,
        };
        let host = ini
            .get("TRANSPORT", "host")
            .unwrap_or("<hostnames>")
            .to_owned();
        let port = ini
            .number("TRANSPORT", "port", 0, "port")?
            .ok_or_else(|| ini.bad("TRANSPORT", "port", "missing"))?;
        let port =
            u16::try_from(port).map_err(|_| ini.bad("TRANSPORT", "port", "not a TCP port"))?;
        let files_path = ini
            .get("FILES", "path")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| ini.bad("FILES", "path", "missing"))?;
        let quota = match ini.get("FILES", "storage_quota") {
            None => None,
            Some(q) => Some(parse_file_size(q).map_err(|_| {
                ini.bad(
                    "FILES",
                    "storage_quota",
                    &format!("invalid value `{q}`, expected a size such as 100gb"),
                )
            })?),
        };
        let inactive = inactive_clients(ini)?;
        let web_tls = match (ini.get("WEB", "cert"), ini.get("WEB", "key")) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            (Some(_), None) => return Err(ini.bad("WEB", "cert", "set `key` too")),
            (None, Some(_)) => return Err(ini.bad("WEB", "key", "set `cert` too")),
        };
        let mut ignored = Vec::new();
        for (section, key) in [("WEB", "static_path"), ("WEB", "http"), ("WEB", "https")] {
            if ini.get(section, key).is_some() {
                ignored.push(format!("[{section}] {key}"));
            }
        }
        Ok(Settings {
            store_log,
            expire_hours,
            log_stats,
            prometheus_interval,
            new_files,
            password,
            host,
            port,
            files_path,
            quota,
            inactive,
            control_port,
            control,
            web_tls,
            ignored,
        })
    }
}

/// `[INACTIVE_CLIENTS]`: `ttl` and `check_interval` are needed with `disconnect = on`.
fn inactive_clients(ini: &Ini) -> std::io::Result<Option<InactiveClients>> {
    const IC: &str = "INACTIVE_CLIENTS";
    Ok(if ini.flag(IC, "disconnect", false)? {
        let ttl = ini
            .number(IC, "ttl", 1, "seconds")?
            .ok_or_else(|| ini.bad(IC, "ttl", "missing (needed with disconnect = on)"))?;
        let check = ini
            .number(IC, "check_interval", 1, "seconds")?
            .ok_or_else(|| {
                ini.bad(
                    IC,
                    "check_interval",
                    "missing (needed with disconnect = on)",
                )
            })?;
        Some(InactiveClients {
            ttl: Duration::from_secs(ttl),
            check_interval: Duration::from_secs(check),
        })
    } else {
        None
    })
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// The INI `init` writes.
pub fn ini_content(
    host: &str,
    store_log: bool,
    files_path: &Path,
    quota: u64,
    cfg_dir: &Path,
) -> String {
    format!(
        "[INFORMATION]
# AGPLv3 license requires that you make any source code modifications
# available to the end users of the server.
# LICENSE: https://github.com/simplex-chat/simplexmq/blob/stable/LICENSE
# Include correct source code URI in case the server source code is modified in any way.
# source_code = https://github.com/simplex-chat/simplexmq

# Declaring all below information is optional, any of these fields can be omitted.
# server_country = ISO-3166 2-letter code
# operator = entity (organization or person name)
# operator_country = ISO-3166 2-letter code
# website =
# admin_simplex = SimpleX address
# admin_email =
# complaints_simplex = SimpleX address
# complaints_email =
# hosting = entity (organization or person name)
# hosting_country = ISO-3166 2-letter code
# hosting_type = virtual

[STORE_LOG]
# The server uses memory for persistence,
# that will be lost on restart (e.g., as with redis).
# This option enables saving memory to append only log,
# and restoring it when the server is started.
# Log is compacted on start (deleted objects are removed).
enable = {store_log}

# File storage mode: only `memory` is supported by this server.
store_files = memory

# Expire files after the specified number of hours.
expire_files_hours = {DEFAULT_EXPIRE_HOURS}

log_stats = off

[AUTH]
# Set new_files option to off to completely prohibit uploading new files.
# This can be useful when you want to decommission the server, but still allow downloading the existing files.
new_files = on

# Use create_password option to enable basic auth to upload new files.
# The password should be used as part of server address in client configuration:
# xftp://fingerprint:password@host1,host2
# The password will not be shared with file recipients, you must share it only
# with the users who you want to allow uploading files to your server.
# create_password = password to upload files (any printable ASCII characters without whitespace, '@', ':' and '/')

# control_port_admin_password =
# control_port_user_password =

[TRANSPORT]
# host is only used to print server address on start
host = {host}
port = 443
log_tls_errors = off
# control_port = 5226

[FILES]
path = {files}
storage_quota = {quota}

[WEB]
# TLS credentials for web clients (browsers) on the same port as XFTP: served to clients
# that name a host (SNI), whose answers then carry CORS headers. Static pages are not served.
# cert = {cfg}/web.crt
# key = {cfg}/web.key

[INACTIVE_CLIENTS]
# TTL and interval to check inactive clients
disconnect = off
# ttl = 21600
# check_interval = 3600
",
        store_log = on_off(store_log),
        files = files_path.display(),
        cfg = cfg_dir.display(),
        quota = file_size_str(quota),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::io::Result<Settings> {
        Settings::from_ini(&Ini::parse(Path::new("file-server.ini"), text)?)
    }

    #[test]
    fn the_written_ini_reads_back() {
        let text = ini_content(
            "files.example.com",
            true,
            Path::new("/srv/xftp"),
            10 << 30,
            Path::new("/etc/opt/simplex-xftp"),
        );
        let s = parse(&text).expect("reads");
        assert!(s.store_log && s.new_files && !s.log_stats);
        assert_eq!(s.port, 443);
        assert_eq!(s.host, "files.example.com");
        assert_eq!(s.files_path, PathBuf::from("/srv/xftp"));
        assert_eq!(s.quota, Some(10 << 30));
        assert_eq!(s.expire_hours, 48);
        assert!(s.inactive.is_none() && s.password.is_none());
        assert!(text.contains("storage_quota = 10gb\n"), "{text}");
        assert!(s.web_tls.is_none());
        assert!(
            text.contains("# cert = /etc/opt/simplex-xftp/web.crt\n"),
            "{text}"
        );
        let on = text
            .replace("# cert = ", "cert = ")
            .replace("# key = ", "key = ");
        let s = parse(&on).expect("web");
        assert_eq!(
            s.web_tls,
            Some((
                PathBuf::from("/etc/opt/simplex-xftp/web.crt"),
                PathBuf::from("/etc/opt/simplex-xftp/web.key")
            ))
        );
        assert!(s.ignored.is_empty(), "{:?}", s.ignored);
        let half = text.replace("# cert = ", "cert = ");
        let e = parse(&half).expect_err("cert alone").to_string();
        assert!(e.contains("[WEB] cert: set `key` too"), "{e}");
    }

    #[test]
    fn typos_and_bad_values_are_refused_by_line() {
        let base = ini_content("h", true, Path::new("/srv/xftp"), 1 << 30, Path::new("/c"));
        let typo = base.replace("new_files = on", "new_file = on");
        let e = parse(&typo).expect_err("typo").to_string();
        assert!(e.contains("[AUTH] new_file: unknown key"), "{e}");
        assert!(e.starts_with("Error: file-server.ini:"), "{e}");
        let e = parse(&format!("{base}[FILE]\npath = x\n"))
            .expect_err("section")
            .to_string();
        assert!(e.contains("[FILE]: unknown section"), "{e}");
        let e = parse(&base.replace("storage_quota = 1gb", "storage_quota = lots"))
            .expect_err("quota")
            .to_string();
        assert!(e.contains("storage_quota: invalid value `lots`"), "{e}");
        let e = parse(&base.replace("enable = on", "enable = yes"))
            .expect_err("on/off")
            .to_string();
        assert!(e.contains("[STORE_LOG] enable"), "{e}");
        let e = parse(&base.replace("store_files = memory", "store_files = database"))
            .expect_err("database")
            .to_string();
        assert!(e.contains("not supported"), "{e}");
        let e = parse(&base.replace("disconnect = off", "disconnect = on"))
            .expect_err("ttl needed")
            .to_string();
        assert!(e.contains("[INACTIVE_CLIENTS] ttl"), "{e}");
        let pw = base.replace("# create_password = password", "create_password = pa:ss\n#");
        let e = parse(&pw).expect_err("password").to_string();
        assert!(e.contains("create_password"), "{e}");
        assert!(!e.contains("pa:ss"), "the password is not repeated: {e}");
    }
}
