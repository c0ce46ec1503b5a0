//! `smp-server start`: the configuration read, the stores restored, the relay served.

use std::fs;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use simplex_transport::credentials::load_file_fingerprint;
use simplex_transport::ServerCredentials;

use super::init::{initialize, InitPlan};
use super::journal::{check_messages_log, LogCheck};
use super::lock::ConfigLock;
use super::settings::Settings;
use super::{
    fail, server_address, server_version, show_ttl, Ini, InitOptions, Paths, StartOptions,
    INI_FILE, MESSAGES_FILE, NTFS_FILE, STORE_LOG_FILE,
};
use crate::control::ControlPort;
use crate::core::Core;
use crate::msg_store::{MsgStore, NtfStore};
use crate::server::{Listeners, NetConfig, Server};
use crate::store::QueueStore;
use crate::store_log;

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
///
/// In this order, so that a refused start changes nothing: the configuration's lock (another
/// command on it refuses), the INI read and checked whole, every port bound; only then are
/// the stores read, the store log compacted and the saved messages renamed.
pub async fn start(paths: &Paths, opts: &StartOptions) -> std::io::Result<()> {
    // Held until the server stops.
    let _lock = ConfigLock::take(&paths.log, "smp-server start")?;
    let ini_path = paths.cfg.join(INI_FILE);
    if !ini_path.exists() {
        initialize(paths, &InitPlan::from_options(&InitOptions::default()))?;
        println!(
            "No configuration found: initialized {} as `smp-server init -y` (CA private key: {}).",
            paths.cfg.display(),
            paths.cfg.join("ca.key").display()
        );
    }
    let settings = Settings::from_ini(&Ini::read(&ini_path)?)?;
    let creds = ServerCredentials::load_dir(&paths.cfg).map_err(fail)?;
    let fp_bytes = load_file_fingerprint(&paths.cfg.join("ca.crt")).map_err(fail)?;
    let fp = simplex_encoding::string::base64url_encode(fp_bytes.as_bytes());
    if let Ok(saved) = fs::read_to_string(paths.cfg.join("fingerprint")) {
        if saved.trim() != fp {
            return Err(fail("Stored fingerprint is invalid."));
        }
    }
    // The reference's INI lists several ports (`port = 5223,443`): serve each of them, unless
    // the command line chose one port.
    let listen_ip = opts.listen.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    let ports = match opts.port {
        Some(p) => vec![p],
        None => settings.ports.clone(),
    };
    let addrs: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::new(listen_ip, *p))
        .collect();
    let listeners = Listeners::bind(&addrs, &creds).await?;
    let control = match settings.control_port {
        Some(port) => Some(ControlPort::bind(port, settings.control.clone()).await?),
        None => None,
    };

    check_msg_store_mode(paths, settings.journal_mode)?;
    let (queues, msgs, ntfs) = restore_stores(paths, &settings, opts)?;
    let ini_port = settings
        .ports
        .first()
        .copied()
        .unwrap_or(super::DEFAULT_PORT);
    println!("{}", server_version());
    println!("Fingerprint: {fp}");
    println!(
        "Server address: {}",
        server_address(&fp, settings.password.as_deref(), &settings.host, ini_port)
    );
    if settings.store_log {
        println!("Store log: {}", paths.log.join(STORE_LOG_FILE).display());
    } else {
        println!("Store log disabled.");
    }
    let net = NetConfig {
        listen: addrs
            .first()
            .copied()
            .unwrap_or(SocketAddr::new(listen_ip, 0)),
        max_connections: 16_384,
        inactive: settings.inactive,
        messages_path: (settings.restore && !settings.journal_mode)
            .then(|| paths.log.join(MESSAGES_FILE)),
        ntfs_path: settings.restore.then(|| paths.log.join(NTFS_FILE)),
        stats: settings.stats(&paths.log),
    };
    let mut core = Core::new(settings.core.clone(), queues, msgs);
    core.ntfs = ntfs;
    let shutdown = shutdown_signal();
    let mut server = Server::with_listeners(listeners, net, core);
    server.set_proxy(crate::proxy::ProxyConfig {
        basic_auth: settings.password.as_ref().map(|p| p.as_bytes().to_vec()),
        client_concurrency: settings.client_concurrency,
        socks_proxy: settings.proxy_route.socks_proxy.clone(),
        socks_mode: settings.proxy_route.socks_mode,
        host_mode: settings.proxy_route.host_mode,
        required_host_mode: settings.proxy_route.required_host_mode,
        ..crate::proxy::ProxyConfig::default()
    });
    if let Some(control) = control {
        println!(
            "Serving control port on {} (local connections only)...",
            control.local_addr()?
        );
        if settings.control.admin_password.is_none() && settings.control.user_password.is_none() {
            println!(
                "Control port: no control_port_admin_password or control_port_user_password in [AUTH], commands other than `help` and `quit` answer AUTH"
            );
        }
        server.set_control(control);
    }
    for addr in server.local_addrs()? {
        println!("Serving SMP protocol on port {} (TLS)...", addr.port());
    }
    match settings.core.message_ttl {
        Some(ttl) => println!("expiring messages after {}", show_ttl(ttl)),
        None => println!("not expiring messages"),
    }
    match settings.inactive {
        Some(c) => println!(
            "expiring clients inactive for {} seconds every {} seconds",
            c.ttl, c.check_interval
        ),
        None => println!("not expiring inactive clients"),
    }
    println!(
        "creating new queues {}",
        match (settings.core.allow_new_queues, &settings.password) {
            (false, _) => "NOT allowed",
            (true, Some(_)) => "requires password",
            (true, None) => "allowed",
        }
    );
    server.run(shutdown).await
}

/// Reads the stores: the store log (compacted), then the messages (journal, or the saved
/// messages log, checked first) and the kept notifications.
fn restore_stores(
    paths: &Paths,
    settings: &Settings,
    opts: &StartOptions,
) -> std::io::Result<(QueueStore, MsgStore, NtfStore)> {
    let mut queues = QueueStore::new();
    if settings.store_log {
        let log_path = paths.log.join(STORE_LOG_FILE);
        let (writer, stats) = store_log::open_and_compact(&log_path, &mut queues, now_nanos())?;
        queues.set_log(writer);
        if stats.errors > 0 {
            println!(
                "Store log: {} of {} lines could not be applied",
                stats.errors, stats.lines
            );
        }
    }
    let now = i64::try_from(now_nanos() / 1_000_000_000).unwrap_or(0);
    let mut msgs = MsgStore::default();
    let msgs_path = paths.log.join(MESSAGES_FILE);
    // In journal mode the messages file is not there (`check_msg_store_mode`).
    if settings.journal_mode {
        let (journal, restored) = crate::msg_journal::MsgJournal::open(
            &paths.log.join(crate::msg_journal::JOURNAL_DIR),
            queues.queues().map(|q| q.recipient_id),
        )?;
        let mut journaled = 0;
        for (rid, list) in restored {
            for m in list {
                msgs.restore_journaled(&rid, m);
                journaled += 1;
            }
        }
        msgs.set_journal(journal);
        println!("store_messages set to `journal`: {journaled} messages restored");
    } else if settings.restore && msgs_path.exists() {
        check_messages_log(
            &msgs_path,
            &queues,
            LogCheck::Start {
                skip_warnings: opts.skip_warnings,
            },
        )?;
        let expire_before = settings
            .core
            .message_ttl
            .filter(|_| settings.expire_on_start)
            .map(|t| now - t);
        let stats = store_log::restore_messages(&msgs_path, &queues, &mut msgs, expire_before)?;
        println!(
            "messages restored: {}, expired: {}",
            stats.stored, stats.expired
        );
    }
    let mut ntfs = NtfStore::default();
    let ntfs_path = paths.log.join(NTFS_FILE);
    if settings.restore && ntfs_path.exists() {
        let stats = store_log::restore_ntfs(&ntfs_path, &mut ntfs, now - settings.core.ntf_ttl)?;
        println!(
            "notifications restored: {}, expired: {}",
            stats.stored, stats.expired
        );
    }
    Ok((queues, msgs, ntfs))
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
