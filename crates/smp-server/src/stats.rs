//! The relay's statistics for operators, as the reference keeps them: counters of queue,
//! subscription, message and notification events ([`Stats`], atomics shared by the core, the
//! proxy and the network layer), the daily line appended to `smp-server-stats.daily.log`
//! ([`daily_line`]), the backup of the running counters in `smp-server-stats.log` across
//! restarts ([`StatsData::encode_backup`], [`StatsData::decode_backup`]), and the
//! Prometheus text rewritten to `smp-server-metrics.txt` ([`prometheus_text`]).
//!
//! Only counts are kept: nothing here names a client, a queue or a message. The reference's
//! active-queue counts (distinct queues per day/week/month, kept as sets of queue-ID hashes)
//! are not kept: they cost a set insert per message and keep queue-derived values on disk;
//! they are written as 0 (and as empty fields on the days the reference leaves them empty).
//! Services (v16) are counted as the reference counts them: their entities and, per role,
//! queue associations and service subscriptions (`rcvServices:*`, `ntfServices:*`; the
//! backup's key `assocUpdatedt` is the reference's spelling).

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The daily statistics log, inside the log directory.
pub const DAILY_LOG_FILE: &str = "smp-server-stats.daily.log";
/// The running counters saved on shutdown and restored at start, inside the log directory.
pub const BACKUP_FILE: &str = "smp-server-stats.log";
/// The Prometheus metrics file, inside the log directory.
pub const METRICS_FILE: &str = "smp-server-metrics.txt";
/// The daily log's interval (the reference's `logStatsInterval`).
pub const DAILY_INTERVAL: Duration = Duration::from_secs(86_400);

macro_rules! counters {
    ($($field:ident => $name:literal, $reset:literal;)*) => {
        /// The live counters, incremented where the events happen (relaxed atomics).
        #[derive(Debug, Default)]
        pub struct Stats {
            from_time: Mutex<Option<DateTime<Utc>>>,
            $(
                #[doc = concat!("`", $name, "`.")]
                pub $field: AtomicI64,
            )*
        }

        /// A snapshot of [`Stats`].
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct StatsData {
            /// When counting started (the last daily log, or the first start).
            pub from_time: DateTime<Utc>,
            $(
                #[doc = concat!("`", $name, "`.")]
                pub $field: i64,
            )*
        }

        impl Stats {
            /// The current values.
            pub fn snapshot(&self) -> StatsData {
                StatsData {
                    from_time: self.from_time(),
                    $($field: self.$field.load(Ordering::Relaxed),)*
                }
            }

            /// The current values; the counters the reference resets at each daily line
            /// start again from 0, and counting starts again from `now`.
            pub fn take(&self, now: DateTime<Utc>) -> StatsData {
                let from_time = {
                    let mut t = self.from_time.lock().unwrap_or_else(|e| e.into_inner());
                    t.replace(now).unwrap_or(now)
                };
                StatsData {
                    from_time,
                    $($field: if $reset {
                        self.$field.swap(0, Ordering::Relaxed)
                    } else {
                        self.$field.load(Ordering::Relaxed)
                    },)*
                }
            }

            /// Sets every counter (at start, from the backup file).
            pub fn set(&self, d: &StatsData) {
                *self.from_time.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.from_time);
                $(self.$field.store(d.$field, Ordering::Relaxed);)*
            }
        }

        /// The backup file's `key=value` names, in its order.
        const BACKUP_KEYS: &[&str] = &[$($name),*];

        impl StatsData {
            fn field_mut(&mut self, key: &str) -> Option<&mut i64> {
                match key {
                    $($name => Some(&mut self.$field),)*
                    _ => None,
                }
            }

            fn field(&self, key: &str) -> Option<i64> {
                match key {
                    $($name => Some(self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

// Name in the reference's files, and whether the daily line resets it.
counters! {
    q_created => "qCreated", true;
    q_secured => "qSecured", true;
    q_deleted_all => "qDeletedAll", true;
    q_deleted_new => "qDeletedNew", true;
    q_deleted_secured => "qDeletedSecured", true;
    q_deleted_all_b => "qDeletedAllB", true;
    q_blocked => "qBlocked", true;
    q_count => "qCount", false;
    q_sub => "qSub", true;
    q_sub_all_b => "qSubAllB", true;
    q_sub_auth => "qSubAuth", true;
    q_sub_duplicate => "qSubDuplicate", true;
    q_sub_prohibited => "qSubProhibited", true;
    q_sub_end => "qSubEnd", true;
    q_sub_end_b => "qSubEndB", true;
    ntf_created => "ntfCreated", true;
    ntf_new_created => "ntfNewCreated", false;
    ntf_deleted => "ntfDeleted", true;
    ntf_deleted_b => "ntfDeletedB", true;
    ntf_sub => "ntfSub", true;
    ntf_sub_b => "ntfSubB", true;
    ntf_sub_auth => "ntfSubAuth", true;
    ntf_sub_duplicate => "ntfSubDuplicate", true;
    msg_sent => "msgSent", true;
    msg_sent_auth => "msgSentAuth", true;
    msg_sent_quota => "msgSentQuota", true;
    msg_sent_large => "msgSentLarge", true;
    msg_sent_block => "msgSentBlock", false;
    msg_recv => "msgRecv", true;
    msg_recv_get => "msgRecvGet", true;
    msg_get => "msgGet", true;
    msg_get_no_msg => "msgGetNoMsg", true;
    msg_get_auth => "msgGetAuth", true;
    msg_get_duplicate => "msgGetDuplicate", true;
    msg_get_prohibited => "msgGetProhibited", true;
    msg_expired => "msgExpired", true;
    msg_sent_ntf => "msgSentNtf", true;
    msg_recv_ntf => "msgRecvNtf", true;
    msg_ntfs => "msgNtfs", true;
    msg_ntfs_b => "msgNtfsB", true;
    msg_ntf_no_sub => "msgNtfNoSub", true;
    msg_ntf_lost => "msgNtfLost", true;
    msg_ntf_expired => "msgNtfExpired", true;
    p_relays_requests => "pRelays:requests", true;
    p_relays_successes => "pRelays:successes", true;
    p_relays_errors_connect => "pRelays:errorsConnect", true;
    p_relays_errors_compat => "pRelays:errorsCompat", true;
    p_relays_errors_other => "pRelays:errorsOther", true;
    p_relays_own_requests => "pRelaysOwn:requests", true;
    p_relays_own_successes => "pRelaysOwn:successes", true;
    p_relays_own_errors_connect => "pRelaysOwn:errorsConnect", true;
    p_relays_own_errors_compat => "pRelaysOwn:errorsCompat", true;
    p_relays_own_errors_other => "pRelaysOwn:errorsOther", true;
    p_msg_fwds_requests => "pMsgFwds:requests", true;
    p_msg_fwds_successes => "pMsgFwds:successes", true;
    p_msg_fwds_errors_connect => "pMsgFwds:errorsConnect", true;
    p_msg_fwds_errors_compat => "pMsgFwds:errorsCompat", true;
    p_msg_fwds_errors_other => "pMsgFwds:errorsOther", true;
    p_msg_fwds_own_requests => "pMsgFwdsOwn:requests", true;
    p_msg_fwds_own_successes => "pMsgFwdsOwn:successes", true;
    p_msg_fwds_own_errors_connect => "pMsgFwdsOwn:errorsConnect", true;
    p_msg_fwds_own_errors_compat => "pMsgFwdsOwn:errorsCompat", true;
    p_msg_fwds_own_errors_other => "pMsgFwdsOwn:errorsOther", true;
    p_msg_fwds_recv => "pMsgFwdsRecv", true;
    msg_count => "msgCount", false;
    ntf_count => "ntfCount", false;
    rcv_srv_assoc_new => "rcvServices:assocNew", true;
    rcv_srv_assoc_duplicate => "rcvServices:assocDuplicate", true;
    rcv_srv_assoc_updated => "rcvServices:assocUpdatedt", true;
    rcv_srv_assoc_removed => "rcvServices:assocRemoved", true;
    rcv_srv_sub_count => "rcvServices:subCount", true;
    rcv_srv_sub_duplicate => "rcvServices:subDuplicate", true;
    rcv_srv_sub_queues => "rcvServices:subQueues", true;
    rcv_srv_sub_end => "rcvServices:subEnd", true;
    ntf_srv_assoc_new => "ntfServices:assocNew", true;
    ntf_srv_assoc_duplicate => "ntfServices:assocDuplicate", true;
    ntf_srv_assoc_updated => "ntfServices:assocUpdatedt", true;
    ntf_srv_assoc_removed => "ntfServices:assocRemoved", true;
    ntf_srv_sub_count => "ntfServices:subCount", true;
    ntf_srv_sub_duplicate => "ntfServices:subDuplicate", true;
    ntf_srv_sub_queues => "ntfServices:subQueues", true;
    ntf_srv_sub_end => "ntfServices:subEnd", true;
}

/// Adds one to a counter.
#[inline]
pub fn inc(c: &AtomicI64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` (possibly negative) to a counter.
#[inline]
pub fn add(c: &AtomicI64, n: i64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    /// When counting started; `now` when it was never set (see [`Stats::start`]).
    pub fn from_time(&self) -> DateTime<Utc> {
        self.from_time
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(Utc::now)
    }

    /// Starts counting at `now` unless a restored backup already set the start.
    pub fn start(&self, now: DateTime<Utc>) {
        let mut t = self.from_time.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_none() {
            *t = Some(now);
        }
    }
}

/// Counts the store knows (the reference's `EntityCounts`): read when a line or the
/// metrics are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntityCounts {
    /// Stored queues.
    pub queues: i64,
    /// Stored queues with notifier credentials.
    pub notifiers: i64,
    /// Services (v16) and their queues: messaging services, notifier services, queues
    /// associated with a messaging service, notifiers associated with a notifier service.
    pub services: [i64; 4],
}

/// `UTCTime` as the reference shows it (ISO 8601): seconds, then a fraction without its
/// trailing zeros (none when whole), then `Z`.
pub fn iso8601(t: DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The daily log's line (without its newline), for counters taken at `now` (the reference
/// leaves the weekly count empty except on Mondays and the monthly one except on the 1st).
pub fn daily_line(d: &StatsData, now: DateTime<Utc>, counts: EntityCounts) -> String {
    // Active-queue counts are not kept (see the module's note): 0 where the reference
    // writes a count.
    let day = "0".to_string();
    let week = if now.weekday() == chrono::Weekday::Mon {
        "0".to_string()
    } else {
        String::new()
    };
    let month = if now.day() == 1 {
        "0".to_string()
    } else {
        String::new()
    };
    let n = |v: i64| v.to_string();
    let mut f: Vec<String> = vec![
        d.from_time.format("%Y-%m-%d").to_string(),
        n(d.q_created),
        n(d.q_secured),
        n(d.q_deleted_all),
        n(d.msg_sent),
        n(d.msg_recv),
        day.clone(),
        week.clone(),
        month.clone(),
        n(d.msg_sent_ntf),
        n(d.msg_recv_ntf),
        day,
        week,
        month,
        n(d.q_count),
        n(d.msg_count),
        n(d.msg_expired),
        n(d.q_deleted_new),
        n(d.q_deleted_secured),
    ];
    for p in ["pRelays", "pRelaysOwn", "pMsgFwds", "pMsgFwdsOwn"] {
        for k in [
            "requests",
            "successes",
            "errorsConnect",
            "errorsCompat",
            "errorsOther",
        ] {
            f.push(n(d.field(&format!("{p}:{k}")).unwrap_or(0)));
        }
    }
    f.extend([
        n(d.p_msg_fwds_recv),
        n(d.q_sub),
        n(d.q_sub_auth),
        n(d.q_sub_duplicate),
        n(d.q_sub_prohibited),
        n(d.msg_sent_auth),
        n(d.msg_sent_quota),
        n(d.msg_sent_large),
        n(d.msg_ntfs),
        n(d.msg_ntf_no_sub),
        n(d.msg_ntf_lost),
        "0".into(), // subscriptions without messages: no longer counted by the reference
        n(d.msg_recv_get),
        n(d.msg_get),
        n(d.msg_get_no_msg),
        n(d.msg_get_auth),
        n(d.msg_get_duplicate),
        n(d.msg_get_prohibited),
        "0".into(), // subscribed queues per day/week/month: no longer counted either
        "0".into(),
        "0".into(),
        n(counts.queues),
        n(d.ntf_created),
        n(d.ntf_deleted),
        n(d.ntf_sub),
        n(d.ntf_sub_auth),
        n(d.ntf_sub_duplicate),
        n(counts.notifiers),
        n(d.q_deleted_all_b),
        n(d.q_sub_all_b),
        n(d.q_sub_end),
        n(d.q_sub_end_b),
        n(d.ntf_deleted_b),
        n(d.ntf_sub_b),
        n(d.msg_ntfs_b),
        n(d.msg_ntf_expired),
        n(d.ntf_count),
    ]);
    // Service entity counts, then the receiving and notification services' counters.
    f.extend(counts.services.iter().map(|v| n(*v)));
    f.extend(d.service_stats("rcvServices").into_iter().map(n));
    f.extend(d.service_stats("ntfServices").into_iter().map(n));
    f.join(",")
}

/// Why a backup file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A required line is missing.
    #[error("stats backup: missing {0}")]
    Missing(&'static str),
    /// A line is not `key=value` with a number (or time) as the reference writes it.
    #[error("stats backup: bad line {0}")]
    BadLine(usize),
}

/// A service role's counters in the reference's order (`ServiceStatsData`), as its backup
/// file names them.
const SERVICE_KEYS: [&str; 8] = [
    "assocNew",
    "assocDuplicate",
    "assocUpdatedt",
    "assocRemoved",
    "subCount",
    "subDuplicate",
    "subQueues",
    "subEnd",
];

impl StatsData {
    /// A service role's counters (`rcvServices` or `ntfServices`) in the reference's order.
    pub fn service_stats(&self, role: &str) -> [i64; 8] {
        SERVICE_KEYS.map(|k| self.field(&format!("{role}:{k}")).unwrap_or(0))
    }

    /// The backup file's text (the reference's `ServerStatsData` encoding; the active-queue
    /// and service sections are written empty).
    pub fn encode_backup(&self) -> String {
        let mut s = format!("fromTime={}\n", iso8601(self.from_time));
        let scalar = |k: &str| !k.contains(':') && k != "msgCount" && k != "ntfCount";
        let before_proxy = |k: &str| k != "pMsgFwdsRecv";
        for k in BACKUP_KEYS.iter().filter(|k| scalar(k) && before_proxy(k)) {
            s.push_str(&format!("{k}={}\n", self.field(k).unwrap_or(0)));
        }
        for p in ["activeQueues", "activeQueuesNtf"] {
            s.push_str(&format!("{p}:\ndayHashes=\nweekHashes=\nmonthHashes=\n"));
        }
        for p in ["pRelays", "pRelaysOwn", "pMsgFwds", "pMsgFwdsOwn"] {
            s.push_str(&format!("{p}:\n"));
            let ks = [
                "requests",
                "successes",
                "errorsConnect",
                "errorsCompat",
                "errorsOther",
            ];
            let lines: Vec<String> = ks
                .iter()
                .map(|k| format!("{k}={}", self.field(&format!("{p}:{k}")).unwrap_or(0)))
                .collect();
            s.push_str(&lines.join("\n"));
            s.push('\n');
        }
        s.push_str(&format!("pMsgFwdsRecv={}\n", self.p_msg_fwds_recv));
        for p in ["rcvServices", "ntfServices"] {
            s.push_str(&format!("{p}:\n"));
            for (k, v) in SERVICE_KEYS.iter().zip(self.service_stats(p)) {
                s.push_str(&format!("{k}={v}\n"));
            }
        }
        s
    }

    /// Reads a backup file's text: `key=value` lines, sections opened by `name:` lines.
    /// Keys this relay does not keep (active-queue hashes, services, old names) are skipped;
    /// `fromTime`, `qCreated`, `qSecured`, `msgSent` and `msgRecv` must be there, as the
    /// reference requires them.
    pub fn decode_backup(text: &str) -> Result<StatsData, BackupError> {
        let mut d = StatsData::default();
        let mut section = String::new();
        let mut seen_time = false;
        let mut seen = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_suffix(':') {
                section = name.to_string();
                continue;
            }
            let (k, v) = line.split_once('=').ok_or(BackupError::BadLine(i + 1))?;
            if k == "fromTime" {
                d.from_time = DateTime::parse_from_rfc3339(v)
                    .map_err(|_| BackupError::BadLine(i + 1))?
                    .with_timezone(&Utc);
                seen_time = true;
                continue;
            }
            let key = match section.as_str() {
                "pRelays" | "pRelaysOwn" | "pMsgFwds" | "pMsgFwdsOwn" | "rcvServices"
                | "ntfServices"
                    if k != "pMsgFwdsRecv" =>
                {
                    format!("{section}:{k}")
                }
                _ => k.to_string(),
            };
            // The old single `qDeleted` counter is `qDeletedAll`.
            let key = if key == "qDeleted" {
                "qDeletedAll".to_string()
            } else {
                key
            };
            if let Some(f) = d.field_mut(&key) {
                *f = v.parse().map_err(|_| BackupError::BadLine(i + 1))?;
                seen.push(key);
            }
        }
        if !seen_time {
            return Err(BackupError::Missing("fromTime"));
        }
        for k in ["qCreated", "qSecured", "msgSent", "msgRecv"] {
            if !seen.iter().any(|s| s == k) {
                return Err(BackupError::Missing(k));
            }
        }
        Ok(d)
    }
}

/// `[STORE_LOG] log_stats = on`: where and when the daily line is written.
#[derive(Debug, Clone)]
pub struct DailyLogConfig {
    /// The daily log (appended to).
    pub path: PathBuf,
    /// The backup of the running counters (read and renamed to `.bak` at start, written on
    /// shutdown).
    pub backup: PathBuf,
    /// Between lines: [`DAILY_INTERVAL`], shorter in tests.
    pub interval: Duration,
    /// Seconds after 00:00 UTC of the first line (the reference's `logStatsStartTime`, 0);
    /// `None`: the first line after one `interval` (for tests).
    pub start_at: Option<i64>,
}

/// `[STORE_LOG] prometheus_interval = N`: the metrics file, rewritten every `interval`.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// The metrics file.
    pub path: PathBuf,
    /// Between rewrites.
    pub interval: Duration,
}

/// Both statistics outputs; neither by default.
#[derive(Debug, Clone, Default)]
pub struct StatsConfig {
    /// The daily log and its backup.
    pub daily: Option<DailyLogConfig>,
    /// The Prometheus metrics file.
    pub prometheus: Option<PrometheusConfig>,
}

/// How long until the first daily line: until `start_at` seconds after midnight UTC, today
/// or (when that has passed) tomorrow.
pub fn first_delay(now: DateTime<Utc>, start_at: i64) -> Duration {
    let secs_of_day = i64::from(now.num_seconds_from_midnight());
    let d = start_at - secs_of_day;
    let d = if d < 0 { d + 86_400 } else { d };
    Duration::from_secs(u64::try_from(d).unwrap_or(0))
}

mod prometheus;
pub use prometheus::prometheus_text;

#[cfg(test)]
mod tests;
