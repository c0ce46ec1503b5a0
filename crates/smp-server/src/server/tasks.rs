//! The relay's periodic tasks: the statistics (restored at start, the daily line, the
//! metrics file), message and notification expiry, and handing on kept notifications.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::core::{Core, Outgoing, Reply};
use crate::stats::{self, EntityCounts, Stats, StatsConfig, StatsData};

use super::*;

/// The store's counts for the statistics.
pub(super) fn entity_counts(core: &Core) -> EntityCounts {
    EntityCounts {
        queues: i64::try_from(core.queues.len()).unwrap_or(i64::MAX),
        notifiers: i64::try_from(core.queues.notifier_count()).unwrap_or(i64::MAX),
        services: core.queues.service_entity_counts(),
    }
}

/// At start: the counters of the backup file, when there is one (it is then renamed to
/// `.bak`, as the reference does; a file that cannot be read refuses the start), and the
/// stored queue, message and notification counts.
pub(super) fn start_stats(shared: &Shared, config: &StatsConfig) -> std::io::Result<Arc<Stats>> {
    let core = lock(&shared.core);
    let stats = core.stats().clone();
    if let Some(daily) = &config.daily {
        if daily.backup.exists() {
            let text = std::fs::read_to_string(&daily.backup)?;
            let d = StatsData::decode_backup(&text).map_err(std::io::Error::other)?;
            stats.set(&d);
            let mut bak = daily.backup.clone().into_os_string();
            bak.push(".bak");
            std::fs::rename(&daily.backup, bak)?;
            println!("server stats restored from {}", daily.backup.display());
        }
    }
    stats.start(chrono::Utc::now());
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let counts = entity_counts(&core);
    stats.q_count.store(counts.queues, Ordering::Relaxed);
    stats
        .msg_count
        .store(as_i64(core.msgs.total()), Ordering::Relaxed);
    stats
        .ntf_count
        .store(as_i64(core.ntfs.total()), Ordering::Relaxed);
    Ok(stats)
}

/// The daily log and the Prometheus file writers, as configured.
pub(super) fn spawn_stats(
    shared: &Arc<Shared>,
    config: &StatsConfig,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(daily) = config.daily.clone() {
        println!("server stats log enabled: {}", daily.path.display());
        let shared = shared.clone();
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut delay = match daily.start_at {
                Some(at) => stats::first_delay(chrono::Utc::now(), at),
                None => daily.interval,
            };
            loop {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
                delay = daily.interval;
                let now = chrono::Utc::now();
                let (d, counts) = {
                    let core = lock(&shared.core);
                    (core.stats().take(now), entity_counts(&core))
                };
                let line = stats::daily_line(&d, now, counts);
                let written = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&daily.path)
                    .and_then(|mut f| {
                        use std::io::Write;
                        writeln!(f, "{line}")
                    });
                if let Err(e) = written {
                    tracing::error!(error = %e, "writing the stats log failed");
                }
            }
        }));
    }
    if let Some(prom) = config.prometheus.clone() {
        println!(
            "Prometheus metrics saved every {} seconds to {}",
            prom.interval.as_secs(),
            prom.path.display()
        );
        let shared = shared.clone();
        let mut stop = stop;
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(prom.interval) => {}
                    _ = stop.changed() => return,
                }
                let now = chrono::Utc::now();
                let (d, counts) = {
                    let core = lock(&shared.core);
                    (core.stats().snapshot(), entity_counts(&core))
                };
                let text = stats::prometheus_text(&d, counts, now);
                if let Err(e) = std::fs::write(&prom.path, text) {
                    tracing::error!(error = %e, "writing the metrics file failed");
                }
            }
        }));
    }
    tasks
}

pub(super) fn spawn_expiry(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(7200)) => {}
                _ = stop.changed() => return,
            }
            let (n, ntfs) = {
                let mut core = lock(&shared.core);
                (core.expire_messages(now()), core.expire_ntfs(now()))
            };
            tracing::info!(expired = n, expired_ntfs = ntfs, "expired messages");
        }
    })
}

/// Every [`NTF_FLUSH_INTERVAL`], hands kept notifications to their notifiers' connections
/// (those that still do not fit are kept again, in order).
pub(super) fn spawn_ntf_flush(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(NTF_FLUSH_INTERVAL) => {}
                _ = stop.changed() => return,
            }
            let mut core = lock(&shared.core);
            let kept = core.take_kept_ntfs();
            if kept.is_empty() {
                continue;
            }
            let pushes = lock(&shared.pushes);
            for (client, nid, ntfs) in kept {
                for ntf in ntfs {
                    let o = Outgoing {
                        client,
                        corr_id: Vec::new(),
                        entity_id: nid.clone(),
                        reply: Reply::from(ntf),
                    };
                    route_push(&pushes, &mut core, o);
                }
            }
        }
    })
}
