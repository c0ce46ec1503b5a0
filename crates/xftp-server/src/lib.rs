//! The XFTP file relay (`xftp-server`), as a drop-in for the reference's `xftp-server`
//! (simplexmq's `Simplex/FileTransfer/Server*`): chunks are registered (`FNEW`, `FADD`),
//! uploaded (`FPUT`), downloaded encrypted for each recipient (`FGET`), acknowledged and
//! deleted, over TLS 1.3 and HTTP/2.
//!
//! By concern: [`config`] (what a relay runs with), [`store`] (chunk records),
//! [`store_log`] (the reference's persistence format), [`relay`] (shared state, identity,
//! expiry), [`commands`] (one command), [`transport`] (TLS, HTTP/2, the handshake),
//! [`stats`] (counters), [`cli`] (the operator's `init`/`start`/`delete` and
//! `file-server.ini`). The protocol's bytes are `xftp-proto`'s; TLS and HTTP/2 bodies are
//! `simplex-transport`'s.
//!
//! Logs never name a client address, a chunk ID or a key.

pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod metrics;
pub mod relay;
pub mod stats;
pub mod store;
pub mod store_log;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;

use simplex_crypto::KeyHash;
use simplex_transport::ServerCredentials;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{Expiration, InactiveClients, ServerConfig};
pub use relay::Relay;

use crate::store::FileStore;

/// A relay serving on its port.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// The identity clients pin.
    pub key_hash: KeyHash,
    /// The shared state (for tests and statistics).
    pub relay: Arc<Relay>,
    /// The control port's address, when enabled.
    pub control_addr: Option<SocketAddr>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// `xftp://<fingerprint>@<host>:<port>` for this relay on `host`.
    pub fn address(&self, host: &str) -> String {
        format!(
            "xftp://{}@{host}:{}",
            simplex_encoding::string::base64url_encode(self.key_hash.as_bytes()),
            self.addr.port()
        )
    }

    /// Stops accepting, closes every connection and saves the statistics.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        save_stats(&self.relay);
    }

    /// Runs until the relay fails (it does not end by itself).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

fn save_stats(relay: &Relay) {
    if let Some(cfg) = &relay.cfg.stats {
        if let Err(e) = std::fs::write(&cfg.backup, relay.stats.encode_backup()) {
            tracing::error!("saving statistics failed: {e}");
        }
    }
}

/// Restores the counters' backup, if any (renamed to `.bak` after), then sets the file
/// counts from the store.
fn restore_stats(relay: &Relay) -> std::io::Result<()> {
    if let Some(cfg) = &relay.cfg.stats {
        if cfg.backup.exists() {
            let text = std::fs::read_to_string(&cfg.backup)?;
            relay
                .stats
                .restore_backup(&text)
                .map_err(std::io::Error::other)?;
            let mut bak = cfg.backup.clone().into_os_string();
            bak.push(".bak");
            std::fs::rename(&cfg.backup, bak)?;
        }
    }
    let store = relay.store();
    let count = store.files().filter(|f| f.path.is_some()).count();
    relay.stats.files_count.store(
        i64::try_from(count).unwrap_or(i64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
    relay.stats.files_size.store(
        i64::try_from(store.used()).unwrap_or(i64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(())
}

/// Rewrites the metrics file every interval.
async fn metrics(relay: Arc<Relay>) {
    let Some((path, interval)) = relay.cfg.prometheus.clone() else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(interval).await;
        let text = metrics::prometheus_text(&relay.stats, chrono::Utc::now());
        if let Err(e) = std::fs::write(&path, text) {
            tracing::error!("writing the metrics failed: {e}");
        }
    }
}

/// Appends the daily statistics line at its time, every interval.
async fn daily_stats(relay: Arc<Relay>) {
    let Some(cfg) = relay.cfg.stats.clone() else {
        return std::future::pending().await;
    };
    tokio::time::sleep(stats::first_delay(&cfg)).await;
    loop {
        let line = relay.stats.daily_line(chrono::Utc::now());
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cfg.daily)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            tracing::error!("writing the daily statistics failed: {e}");
        }
        tokio::time::sleep(cfg.interval).await;
    }
}

/// Starts a relay: the chunk directory is created, the store log replayed and compacted,
/// expired chunks deleted, then the port bound and served.
pub async fn start(cfg: ServerConfig, creds: &ServerCredentials) -> std::io::Result<RunningServer> {
    let err = |e: simplex_transport::TransportError| std::io::Error::other(e.to_string());
    std::fs::create_dir_all(&cfg.files_path)?;
    let mut store = FileStore::new();
    let log = match &cfg.store_log {
        Some(path) => {
            let (w, stats) = store_log::open_and_compact(path, &mut store)?;
            if stats.skipped > 0 {
                tracing::warn!("store log: {} lines skipped", stats.skipped);
            }
            Some(w)
        }
        None => None,
    };
    let identity = relay::Identity::new(creds).map_err(err)?;
    let key_hash = identity.key_hash.clone();
    let alpn = transport::XFTP_SERVER_ALPN_WIRE;
    let ctx = match &cfg.web_tls {
        None => simplex_transport::tls::server_context_with_alpn(creds, alpn).map_err(err)?,
        Some((cert, key)) => {
            let web = ServerCredentials::load_web(cert, key).map_err(err)?;
            simplex_transport::tls::server_context_with_sni(creds, alpn, &web).map_err(err)?
        }
    };
    let relay = Arc::new(Relay::new(cfg, identity, store, log));
    restore_stats(&relay)?;
    relay.expire();
    let listener = TcpListener::bind(relay.cfg.listen).await?;
    let addr = listener.local_addr()?;
    let control = match &relay.cfg.control {
        Some((port, cfg)) => Some((control::bind(*port).await?, Arc::new(cfg.clone()))),
        None => None,
    };
    let control_addr = match &control {
        Some((l, _)) => Some(l.local_addr()?),
        None => None,
    };
    let r = relay.clone();
    let task = tokio::spawn(async move {
        let expiry = {
            let r = r.clone();
            async move {
                let Some(exp) = r.cfg.expiration else {
                    return std::future::pending::<()>().await;
                };
                loop {
                    tokio::time::sleep(exp.check_interval).await;
                    let r2 = r.clone();
                    let _ = tokio::task::spawn_blocking(move || r2.expire()).await;
                }
            }
        };
        tokio::select! {
            _ = transport::serve(r.clone(), ctx, listener) => {}
            _ = expiry => {}
            _ = daily_stats(r.clone()) => {}
            _ = metrics(r.clone()) => {}
            _ = async move {
                match control {
                    Some((l, cfg)) => control::serve(r, l, cfg).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    });
    Ok(RunningServer {
        addr,
        key_hash,
        relay,
        control_addr,
        task,
    })
}
