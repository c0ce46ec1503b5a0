//! `smp-server.ini`: reading it, and the text `init` writes.

use std::collections::HashMap;

use super::DEFAULT_PORT;

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
