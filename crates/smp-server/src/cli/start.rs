//! `smp-server start`: the configuration read, the stores restored, the relay served.

use std::fs;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;

use simplex_transport::credentials::load_file_fingerprint;
use simplex_transport::ServerCredentials;

use super::journal::{check_messages_log, LogCheck};
use super::{
    fail, init, server_address, show_ttl, Ini, InitOptions, Paths, StartOptions, DEFAULT_PORT,
    INI_FILE, MESSAGES_FILE, NTFS_FILE, STORE_LOG_FILE,
};
use crate::core::{Core, CoreConfig};
use crate::msg_store::{MsgStore, NtfStore, DEFAULT_NTF_TTL};
use crate::server::{InactiveClients, NetConfig, Server};
use crate::store::QueueStore;
use crate::store_log;

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
    let fp = simplex_encoding::string::base64url_encode(&fp_bytes.0);
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
