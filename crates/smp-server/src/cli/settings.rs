//! The settings `start` (and `journal`) take from `smp-server.ini`, all read and checked at
//! once, before anything on disk is touched: a bad value refuses the command and changes
//! nothing.

use std::path::Path;

use simplex_transport::socks::SocksProxy;

use super::ini::{password_problem, Ini};
use super::DEFAULT_PORT;
use crate::control::{ControlConfig, DEFAULT_DAILY_BLOCK_QUOTA};
use crate::core::CoreConfig;
use crate::msg_store::DEFAULT_NTF_TTL;
use crate::proxy::{HostMode, SocksMode};
use crate::server::InactiveClients;
use crate::stats::{DailyLogConfig, PrometheusConfig, StatsConfig};

/// What `smp-server.ini` configures.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// `[STORE_LOG] enable`.
    pub store_log: bool,
    /// `[STORE_LOG] restore_messages` (the store log's setting when absent).
    pub restore: bool,
    /// `[STORE_LOG] store_messages = journal`.
    pub journal_mode: bool,
    /// `[STORE_LOG] expire_messages_on_start`: messages past their time are dropped as they
    /// are restored.
    pub expire_on_start: bool,
    /// `[STORE_LOG] log_stats`.
    pub log_stats: bool,
    /// `[STORE_LOG] prometheus_interval`, seconds.
    pub prometheus_interval: Option<u64>,
    /// `[AUTH] create_password`.
    pub password: Option<String>,
    /// The core's part: `[AUTH] new_queues`, the expiry times.
    pub core: CoreConfig,
    /// `[TRANSPORT] host` (only printed).
    pub host: String,
    /// `[TRANSPORT] port`: one or more.
    pub ports: Vec<u16>,
    /// `[INACTIVE_CLIENTS]`, when `disconnect = on`.
    pub inactive: Option<InactiveClients>,
    /// `[PROXY] client_concurrency`.
    pub client_concurrency: usize,
    /// `[PROXY] socks_proxy`, `socks_mode`, `host_mode`, `required_host_mode`: how the
    /// proxy role reaches destination relays.
    pub proxy_route: ProxyRoute,
    /// `[TRANSPORT] control_port`: the control port, on 127.0.0.1.
    pub control_port: Option<u16>,
    /// `[AUTH] control_port_admin_password`, `control_port_user_password`,
    /// `daily_block_queue_quota`.
    pub control: ControlConfig,
}

const NOT_SUPPORTED: &str = "PostgreSQL storage is not supported by this server, use `memory`";

impl Settings {
    /// Reads every key the server uses; the first bad value refuses.
    pub fn from_ini(ini: &Ini) -> std::io::Result<Settings> {
        const SL: &str = "STORE_LOG";
        let store_log = ini.flag(SL, "enable", false)?;
        let restore = ini.flag(SL, "restore_messages", store_log)?;
        ini.one_of(
            SL,
            "store_queues",
            &["memory"],
            &[("database", NOT_SUPPORTED)],
        )?;
        let journal_mode = ini.one_of(
            SL,
            "store_messages",
            &["memory", "journal"],
            &[("database", NOT_SUPPORTED)],
        )? == Some("journal");
        let (message_ttl, ntf_ttl) = expiry(ini)?;
        let expire_on_start = ini.flag(SL, "expire_messages_on_start", true)?;
        let expire_on_send = ini.flag(SL, "expire_messages_on_send", true)?;
        let log_stats = ini.flag(SL, "log_stats", false)?;
        let prometheus_interval = ini.number(SL, "prometheus_interval", 1, "seconds")?;

        let allow_new_queues = ini.flag("AUTH", "new_queues", true)?;
        let password = ini.get("AUTH", "create_password").map(str::to_owned);
        if let Some(why) = password.as_deref().and_then(password_problem) {
            return Err(ini.bad("AUTH", "create_password", why));
        }

        let host = ini
            .get("TRANSPORT", "host")
            .unwrap_or("<hostnames>")
            .to_owned();
        let ports = ports(ini)?;
        // Read for their spelling; this server has no TLS error log or websockets to turn on.
        ini.flag("TRANSPORT", "log_tls_errors", false)?;
        if let Some(ws) = ini.get("TRANSPORT", "websockets").filter(|v| *v != "off") {
            return Err(ini.bad(
                "TRANSPORT",
                "websockets",
                &format!("`{ws}`: websockets are not supported by this server, use `off`"),
            ));
        }

        let inactive = inactive_clients(ini)?;
        let (control_port, control) = control(ini)?;

        let client_concurrency = ini
            .number("PROXY", "client_concurrency", 1, "requests")?
            .map_or(crate::proxy::DEFAULT_CLIENT_CONCURRENCY, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });

        let proxy_route = proxy_route(ini)?;

        Ok(Settings {
            store_log,
            restore,
            journal_mode,
            expire_on_start,
            log_stats,
            prometheus_interval,
            core: CoreConfig {
                allow_new_queues,
                create_password: password.as_ref().map(|p| p.as_bytes().to_vec()),
                message_ttl: Some(message_ttl),
                expire_on_send,
                ntf_ttl,
                id_len: 24,
            },
            password,
            host,
            ports,
            inactive,
            client_concurrency,
            proxy_route,
            control_port,
            control,
        })
    }

    /// The statistics files, in the log directory, at the reference's times.
    pub fn stats(&self, log_dir: &Path) -> StatsConfig {
        let daily = self.log_stats.then(|| DailyLogConfig {
            path: log_dir.join(crate::stats::DAILY_LOG_FILE),
            backup: log_dir.join(crate::stats::BACKUP_FILE),
            interval: crate::stats::DAILY_INTERVAL,
            start_at: Some(0),
        });
        let prometheus = self.prometheus_interval.map(|secs| PrometheusConfig {
            path: log_dir.join(crate::stats::METRICS_FILE),
            interval: std::time::Duration::from_secs(secs),
        });
        StatsConfig { daily, prometheus }
    }
}

/// `[STORE_LOG] expire_messages_days` and `expire_ntfs_hours`, in seconds.
fn expiry(ini: &Ini) -> std::io::Result<(i64, i64)> {
    const SL: &str = "STORE_LOG";
    let seconds = |key: &str, unit: &str, per: i64, default: i64| -> std::io::Result<i64> {
        match ini.number(SL, key, 0, unit)? {
            None => Ok(default),
            Some(n) => i64::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(per))
                .ok_or_else(|| ini.bad(SL, key, "too large")),
        }
    };
    Ok((
        seconds("expire_messages_days", "days", 86_400, 21 * 86_400)?,
        seconds("expire_ntfs_hours", "hours", 3600, DEFAULT_NTF_TTL)?,
    ))
}

/// `[TRANSPORT] port`: one or more ports, separated by commas.
fn ports(ini: &Ini) -> std::io::Result<Vec<u16>> {
    let Some(list) = ini.get("TRANSPORT", "port") else {
        return Ok(vec![DEFAULT_PORT]);
    };
    list.split(',')
        .map(|p| {
            let p = p.trim();
            Some(p)
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| {
                    ini.bad(
                        "TRANSPORT",
                        "port",
                        &format!(
                            "invalid port `{p}`, expected port numbers (0 to 65535) separated by commas"
                        ),
                    )
                })
        })
        .collect()
}

/// `[INACTIVE_CLIENTS]`: `ttl` and `check_interval` are checked even when `disconnect` is off.
fn inactive_clients(ini: &Ini) -> std::io::Result<Option<InactiveClients>> {
    const IC: &str = "INACTIVE_CLIENTS";
    let disconnect = ini.flag(IC, "disconnect", false)?;
    let ttl = ini.number(IC, "ttl", 1, "seconds")?.unwrap_or(21_600);
    let check_interval = ini
        .number(IC, "check_interval", 1, "seconds")?
        .unwrap_or(3600);
    Ok(disconnect.then(|| InactiveClients {
        ttl: i64::try_from(ttl).unwrap_or(i64::MAX),
        check_interval,
    }))
}

/// `[TRANSPORT] control_port` and the control port's `[AUTH]` keys: the passwords as
/// `create_password` (never repeated in an error), the daily block quota a whole number (0:
/// no limit; -1: no blocking).
fn control(ini: &Ini) -> std::io::Result<(Option<u16>, ControlConfig)> {
    let port = match ini.get("TRANSPORT", "control_port") {
        None => None,
        Some(v) => Some(
            Some(v)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u16>().ok())
                .ok_or_else(|| {
                    ini.bad(
                        "TRANSPORT",
                        "control_port",
                        &format!("invalid port `{v}`, expected a port number (0 to 65535)"),
                    )
                })?,
        ),
    };
    let password = |key: &str| -> std::io::Result<Option<String>> {
        let p = ini.get("AUTH", key).map(str::to_owned);
        if let Some(why) = p.as_deref().and_then(password_problem) {
            return Err(ini.bad("AUTH", key, why));
        }
        Ok(p)
    };
    let admin_password = password("control_port_admin_password")?;
    let user_password = password("control_port_user_password")?;
    const QUOTA: &str = "daily_block_queue_quota";
    let daily_block_quota = match ini.get("AUTH", QUOTA) {
        None => DEFAULT_DAILY_BLOCK_QUOTA,
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= -1).ok_or_else(|| {
            ini.bad(
                "AUTH",
                QUOTA,
                &format!(
                    "invalid value `{v}`, expected a whole number of queues (0: no limit, -1: no blocking)"
                ),
            )
        })?,
    };
    Ok((
        port,
        ControlConfig {
            admin_password,
            user_password,
            daily_block_quota,
        },
    ))
}

/// How the relay, as a proxy, reaches destination relays (`[PROXY]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    /// `socks_proxy`.
    pub socks_proxy: Option<SocksProxy>,
    /// `socks_mode`: `onion` (default) or `always`.
    pub socks_mode: SocksMode,
    /// `host_mode`: `public` (default) or `onion`.
    pub host_mode: HostMode,
    /// `required_host_mode`: `off` (default) or `on`.
    pub required_host_mode: bool,
}

fn proxy_route(ini: &Ini) -> std::io::Result<ProxyRoute> {
    const P: &str = "PROXY";
    let socks_proxy = match ini.get(P, "socks_proxy") {
        None => None,
        Some(v) => Some(SocksProxy::parse(v).map_err(|e| ini.bad(P, "socks_proxy", &e))?),
    };
    let socks_mode = match ini.one_of(P, "socks_mode", &["onion", "always"], &[])? {
        Some("always") => SocksMode::Always,
        _ => SocksMode::Onion,
    };
    let host_mode = match ini.one_of(P, "host_mode", &["public", "onion"], &[])? {
        // As the reference (`textToHostMode`): onion hosts first when the SOCKS proxy is set.
        Some("onion") => HostMode::OnionViaSocks,
        _ => HostMode::Public,
    };
    Ok(ProxyRoute {
        socks_proxy,
        socks_mode,
        host_mode,
        required_host_mode: ini.flag(P, "required_host_mode", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(proxy: &str) -> std::io::Result<ProxyRoute> {
        let text = format!("[PROXY]\n{proxy}");
        proxy_route(&Ini::parse(Path::new("/cfg/smp-server.ini"), &text)?)
    }

    #[test]
    fn proxy_route_as_the_reference_reads_it() {
        let none = route("").expect("defaults");
        assert_eq!(none.socks_proxy, None);
        assert_eq!(
            (none.socks_mode, none.host_mode, none.required_host_mode),
            (SocksMode::Onion, HostMode::Public, false)
        );
        let r = route(
            "socks_proxy = localhost:9050\nsocks_mode = always\nhost_mode = onion\n\
             required_host_mode = on\n",
        )
        .expect("all set");
        let p = r.socks_proxy.expect("proxy");
        assert_eq!(p.addr, "127.0.0.1:9050".parse().expect("addr"));
        assert_eq!(
            (r.socks_mode, r.host_mode, r.required_host_mode),
            (SocksMode::Always, HostMode::OnionViaSocks, true)
        );
        let e = route("socks_proxy = tor.example:9050\n").expect_err("a name");
        assert!(
            e.to_string()
                .contains("smp-server.ini:2: [PROXY] socks_proxy: SOCKS5 host should be"),
            "{e}"
        );
        assert!(route("socks_mode = sometimes\n").is_err());
        assert!(route("host_mode = tor\n").is_err());
    }
}
