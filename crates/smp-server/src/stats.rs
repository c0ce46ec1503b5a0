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
//! Service counters (which this relay does not have) are 0 as well.

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
    // Service entity counts (4) and the receiving and notification services' counters
    // (8 each): this relay has no services.
    f.extend(vec!["0".to_string(); 4 + 8 + 8]);
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

impl StatsData {
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
            s.push_str(&format!(
                "{p}:\nassocNew=0\nassocDuplicate=0\nassocUpdatedt=0\nassocRemoved=0\n\
                 subCount=0\nsubDuplicate=0\nsubQueues=0\nsubEnd=0\n"
            ));
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
                "pRelays" | "pRelaysOwn" | "pMsgFwds" | "pMsgFwdsOwn" if k != "pMsgFwdsRecv" => {
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

/// The Prometheus text at `now` (the reference's metric names, help texts and types, each
/// sample stamped with `now` in milliseconds) for the counters this relay keeps; the
/// reference's real-time section (sockets, threads, delivery times, RTS options) is left out.
pub fn prometheus_text(d: &StatsData, counts: EntityCounts, now: DateTime<Utc>) -> String {
    let ts = now.timestamp_millis();
    let mut out = format!(
        "# Recorded at: {}\n# Stats from: {}\n\n",
        iso8601(now),
        iso8601(d.from_time)
    );
    // (heading, [(name, help, type, [(labels, value, comment)])])
    type Sample<'a> = (&'a str, i64, &'a str);
    let mut section = |title: &str, metrics: &[(&str, &str, &str, Vec<Sample>)]| {
        out.push_str(&format!("# {title}\n# {}\n\n", "-".repeat(title.len())));
        for (name, help, kind, samples) in metrics {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v, comment) in samples {
                out.push_str(&format!("{name}{labels} {v} {ts}\n# {comment}\n"));
            }
            out.push('\n');
        }
    };
    let one = |v: i64, c: &'static str| vec![("", v, c)];
    section(
        "Queues",
        &[
            (
                "simplex_smp_queues_created",
                "Created queues",
                "counter",
                one(d.q_created, "qCreated"),
            ),
            (
                "simplex_smp_queues_secured",
                "Secured queues",
                "counter",
                one(d.q_secured, "qSecured"),
            ),
            (
                "simplex_smp_queues_deleted",
                "Deleted queues",
                "counter",
                vec![
                    ("{type=\"all\"}", d.q_deleted_all, "qDeleted"),
                    ("{type=\"new\"}", d.q_deleted_new, "qDeletedNew"),
                    ("{type=\"secured\"}", d.q_deleted_secured, "qDeletedSecured"),
                ],
            ),
            (
                "simplex_smp_queues_blocked",
                "Deleted queues",
                "counter",
                one(d.q_blocked, "qBlocked"),
            ),
            (
                "simplex_smp_queues_deleted_batch",
                "Batched requests to delete queues",
                "counter",
                one(d.q_deleted_all_b, "qDeletedAllB"),
            ),
            (
                "simplex_smp_queues_total1",
                "Total number of stored queues (first type of count).",
                "gauge",
                one(d.q_count, "qCount"),
            ),
            (
                "simplex_smp_queues_total2",
                "Total number of stored queues (second type of count).",
                "gauge",
                one(counts.queues, "qCount2"),
            ),
            (
                "simplex_smp_queues_daily",
                "Daily active queues.",
                "gauge",
                one(0, "dayMsgQueues"),
            ),
            (
                "simplex_smp_queues_weekly",
                "Weekly active queues.",
                "gauge",
                one(0, "weekMsgQueues"),
            ),
            (
                "simplex_smp_queues_monthly",
                "Monthly active queues.",
                "gauge",
                one(0, "monthMsgQueues"),
            ),
            (
                "simplex_smp_queues_notify_daily",
                "Daily active queues with notifications.",
                "gauge",
                one(0, "dayCountNtf"),
            ),
            (
                "simplex_smp_queues_notify_weekly",
                "Weekly active queues with notifications.",
                "gauge",
                one(0, "weekCountNtf"),
            ),
            (
                "simplex_smp_queues_notify_monthly",
                "Monthly active queues with notifications.",
                "gauge",
                one(0, "monthCountNtf"),
            ),
        ],
    );
    section(
        "Subscriptions",
        &[
            (
                "simplex_smp_subscribtion_successes",
                "Successful subscriptions.",
                "counter",
                one(d.q_sub, "qSub"),
            ),
            (
                "simplex_smp_subscribtion_successes_batch",
                "Batched successful subscriptions.",
                "counter",
                one(d.q_sub_all_b, "qSubAllB"),
            ),
            (
                "simplex_smp_subscribtion_end",
                "Ended subscriptions.",
                "counter",
                one(d.q_sub_end, "qSubEnd"),
            ),
            (
                "simplex_smp_subscribtion_end_batch",
                "Batched ended subscriptions.",
                "counter",
                one(d.q_sub_end_b, "qSubEndB"),
            ),
            (
                "simplex_smp_subscribtion_errors",
                "Subscription errors.",
                "counter",
                vec![
                    ("{type=\"auth\"}", d.q_sub_auth, "qSubAuth"),
                    ("{type=\"duplicate\"}", d.q_sub_duplicate, "qSubDuplicate"),
                    (
                        "{type=\"prohibited\"}",
                        d.q_sub_prohibited,
                        "qSubProhibited",
                    ),
                ],
            ),
        ],
    );
    section(
        "Messages",
        &[
            (
                "simplex_smp_messages_sent",
                "Sent messages.",
                "counter",
                one(d.msg_sent, "msgSent"),
            ),
            (
                "simplex_smp_messages_sent_errors",
                "Total number of messages errors by type.",
                "counter",
                vec![
                    ("{type=\"auth\"}", d.msg_sent_auth, "msgSentAuth"),
                    ("{type=\"quota\"}", d.msg_sent_quota, "msgSentQuota"),
                    ("{type=\"large\"}", d.msg_sent_large, "msgSentLarge"),
                    ("{type=\"block\"}", d.msg_sent_block, "msgSentBlock"),
                ],
            ),
            (
                "simplex_smp_messages_received",
                "Received messages.",
                "counter",
                one(d.msg_recv, "msgRecv"),
            ),
            (
                "simplex_smp_messages_expired",
                "Expired messages.",
                "counter",
                one(d.msg_expired, "msgExpired"),
            ),
            (
                "simplex_smp_messages_total",
                "Total number of messages stored.",
                "gauge",
                one(d.msg_count, "msgCount"),
            ),
        ],
    );
    section(
        "Notification messages (client)",
        &[
            (
                "simplex_smp_messages_notify_sent",
                "Sent messages with notification flag (cleint).",
                "counter",
                one(d.msg_sent_ntf, "msgSentNtf"),
            ),
            (
                "simplex_smp_messages_notify_received",
                "Received messages with notification flag (client).",
                "counter",
                one(d.msg_recv_ntf, "msgRecvNtf"),
            ),
            (
                "simplex_smp_messages_notify_get_sent",
                "Requests to get messages with notification flag (client).",
                "counter",
                one(d.msg_get, "msgGet"),
            ),
            (
                "simplex_smp_messages_notify_get_received",
                "Succesfully received get requests messages with notification flag (client).",
                "counter",
                one(d.msg_recv_get, "msgRecvGet"),
            ),
            (
                "simplex_smp_messages_notify_get_errors",
                "Error events with messages with notification flag (client). ",
                "counter",
                vec![
                    ("{type=\"nomsg\"}", d.msg_get_no_msg, "msgGetNoMsg"),
                    ("{type=\"auth\"}", d.msg_get_auth, "msgGetAuth"),
                    (
                        "{type=\"duplicate\"}",
                        d.msg_get_duplicate,
                        "msgGetDuplicate",
                    ),
                    (
                        "{type=\"prohibited\"}",
                        d.msg_get_prohibited,
                        "msgGetProhibited",
                    ),
                ],
            ),
            (
                "simplex_smp_queues_notify_created",
                "Created queue notification credentials.",
                "counter",
                one(d.ntf_created, "ntfCreated"),
            ),
            (
                "simplex_smp_queues_notify_new_created",
                "Created new queues with notification credentials.",
                "counter",
                one(d.ntf_new_created, "ntfNewCreated"),
            ),
            (
                "simplex_smp_queues_notify_deleted",
                "Deleted queue notification credentials.",
                "counter",
                one(d.ntf_deleted, "ntfDeleted"),
            ),
            (
                "simplex_smp_queues_notify_deleted_batch",
                "Deleted batched queue notification credentials.",
                "counter",
                one(d.ntf_deleted_b, "ntfDeletedB"),
            ),
            (
                "simplex_smp_queues_notify_total1",
                "Total number of stored queues with notification flag (first type of count).",
                "gauge",
                one(d.ntf_count, "ntfCount1"),
            ),
            (
                "simplex_smp_queues_notify_total2",
                "Total number of stored queues with notification flag (second type of count).",
                "gauge",
                one(counts.notifiers, "ntfCount2"),
            ),
        ],
    );
    section(
        "Notifications (server)",
        &[
            (
                "simplex_smp_messages_ntf_successes",
                "Successful events with notification messages (to ntf server). ",
                "counter",
                one(d.msg_ntfs, "msgNtfs"),
            ),
            (
                "simplex_smp_messages_ntf_successes_batch",
                "Successful batched events with notification messages (to ntf server). ",
                "counter",
                one(d.msg_ntfs_b, "msgNtfsB"),
            ),
            (
                "simplex_smp_messages_ntf_errors",
                "Error events with notification messages (to ntf server). ",
                "counter",
                vec![
                    ("{type=\"nosub\"}", d.msg_ntf_no_sub, "msgNtfNoSub"),
                    ("{type=\"lost\"}", d.msg_ntf_lost, "msgNtfLost"),
                    ("{type=\"expired\"}", d.msg_ntf_expired, "msgNtfExpired"),
                ],
            ),
            (
                "simplex_smp_subscription_ntf_requests",
                "Subscription requests with notification flag (from ntf server). ",
                "counter",
                one(d.ntf_sub, "ntfSub"),
            ),
            (
                "simplex_smp_subscription_ntf_requests_batch",
                "Batched subscription requests with notification flag (from ntf server). ",
                "counter",
                one(d.ntf_sub_b, "ntfSubB"),
            ),
            (
                "simplex_smp_subscribtion_ntf_errors",
                "Subscription errors with notification flag (from ntf server). ",
                "counter",
                vec![
                    ("{type=\"auth\"}", d.ntf_sub_auth, "ntfSubAuth"),
                    (
                        "{type=\"duplicate\"}",
                        d.ntf_sub_duplicate,
                        "ntfSubDuplicate",
                    ),
                ],
            ),
        ],
    );
    let by_source = |p: &str, own: &str, k: &str, c: &'static str, co: &'static str| {
        vec![
            (
                "{source=\"all\"}",
                d.field(&format!("{p}:{k}")).unwrap_or(0),
                c,
            ),
            (
                "{source=\"own\"}",
                d.field(&format!("{own}:{k}")).unwrap_or(0),
                co,
            ),
        ]
    };
    let errors = |p: &str, own: &str, cs: [&'static str; 6]| {
        let mut v = Vec::new();
        for (src, pp, names) in [("all", p, &cs[..3]), ("own", own, &cs[3..])] {
            for (k, (t, c)) in ["errorsConnect", "errorsCompat", "errorsOther"]
                .iter()
                .zip(["connect", "compat", "other"].iter().zip(names))
            {
                let labels: &'static str = match (src, *t) {
                    ("all", "connect") => "{source=\"all\",type=\"connect\"}",
                    ("all", "compat") => "{source=\"all\",type=\"compat\"}",
                    ("all", _) => "{source=\"all\",type=\"other\"}",
                    (_, "connect") => "{source=\"own\",type=\"connect\"}",
                    (_, "compat") => "{source=\"own\",type=\"compat\"}",
                    _ => "{source=\"own\",type=\"other\"}",
                };
                v.push((labels, d.field(&format!("{pp}:{k}")).unwrap_or(0), *c));
            }
        }
        v
    };
    section(
        "Relays",
        &[
            (
                "simplex_smp_relay_sessions_requests",
                "Session requests through relay.",
                "counter",
                by_source(
                    "pRelays",
                    "pRelaysOwn",
                    "requests",
                    "pRelays_pRequests",
                    "pRelaysOwn_pRequests",
                ),
            ),
            (
                "simplex_smp_relay_sessions_successes",
                "Successful session events through relay.",
                "counter",
                by_source(
                    "pRelays",
                    "pRelaysOwn",
                    "successes",
                    "pRelays_pSuccesses",
                    "pRelaysOwn_pSuccesses",
                ),
            ),
            (
                "simplex_smp_relay_sessions_errors",
                "Error session events through relay.",
                "counter",
                errors(
                    "pRelays",
                    "pRelaysOwn",
                    [
                        "pRelays_pErrorsConnect",
                        "pRelays_pErrorsCompat",
                        "pRelays_pErrorsOther",
                        "pRelaysOwn_pErrorsConnect",
                        "pRelaysOwn_pErrorsCompat",
                        "pRelaysOwn_pErrorsOther",
                    ],
                ),
            ),
            (
                "simplex_smp_relay_messages_requests",
                "Message requests sent through relay.",
                "counter",
                by_source(
                    "pMsgFwds",
                    "pMsgFwdsOwn",
                    "requests",
                    "pMsgFwds_pRequests",
                    "pMsgFwdsOwn_pRequests",
                ),
            ),
            (
                "simplex_smp_relay_messages_successes",
                "Successful messages sent through relay.",
                "counter",
                by_source(
                    "pMsgFwds",
                    "pMsgFwdsOwn",
                    "successes",
                    "pMsgFwds_pSuccesses",
                    "pMsgFwdsOwn_pSuccesses",
                ),
            ),
            (
                "simplex_smp_relay_messages_errors",
                "Error events with messages sent through relay.",
                "counter",
                errors(
                    "pMsgFwds",
                    "pMsgFwdsOwn",
                    [
                        "pMsgFwds_pErrorsConnect",
                        "pMsgFwds_pErrorsCompat",
                        "pMsgFwds_pErrorsOther",
                        "pMsgFwdsOwn_pErrorsConnect",
                        "pMsgFwdsOwn_pErrorsCompat",
                        "pMsgFwdsOwn_pErrorsOther",
                    ],
                ),
            ),
            (
                "simplex_smp_relay_messages_received",
                "Relay messages statistics.",
                "counter",
                one(d.p_msg_fwds_recv, "pMsgFwdsRecv"),
            ),
        ],
    );
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid time")
    }

    fn sample() -> StatsData {
        StatsData {
            from_time: at(2024, 3, 4, 0),
            q_created: 5,
            q_secured: 4,
            q_deleted_all: 3,
            q_deleted_new: 1,
            q_deleted_secured: 2,
            msg_sent: 10,
            msg_recv: 9,
            msg_sent_ntf: 2,
            msg_recv_ntf: 1,
            q_count: 7,
            msg_count: 1,
            msg_expired: 6,
            p_relays_requests: 11,
            p_msg_fwds_own_errors_other: 12,
            p_msg_fwds_recv: 13,
            q_sub: 14,
            msg_get: 15,
            ntf_count: 16,
            ..StatsData::default()
        }
    }

    #[test]
    fn daily_line_matches_a_line_built_from_the_reference_format() {
        // Taken on a Tuesday that is not the 1st: weekly and monthly counts are empty.
        let line = daily_line(
            &sample(),
            at(2024, 3, 5, 0),
            EntityCounts {
                queues: 8,
                notifiers: 3,
            },
        );
        let expected = "2024-03-04,5,4,3,10,9,0,,,2,1,0,,,7,1,6,1,2,\
            11,0,0,0,0, 0,0,0,0,0, 0,0,0,0,0, 0,0,0,0,12,\
            13,14,0,0,0,0,0,0,0,0,0,0,0,15,0,0,0,0,0,0,0,8,0,0,0,0,0,3,\
            0,0,0,0,0,0,0,0,16,0,0,0,0,\
            0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0"
            .replace(' ', "");
        assert_eq!(line, expected);
        // The reference's line has 19 + 20 + 37 + 4 + 16 fields.
        assert_eq!(line.split(',').count(), 96);
        // On a Monday the 1st both are there.
        let monday_first = daily_line(&sample(), at(2024, 4, 1, 0), EntityCounts::default());
        let f: Vec<&str> = monday_first.split(',').collect();
        assert_eq!(&f[6..9], &["0", "0", "0"]);
        assert_eq!(&f[11..14], &["0", "0", "0"]);
    }

    #[test]
    fn backup_round_trips_and_reads_the_references_layout() {
        let d = sample();
        let text = d.encode_backup();
        assert!(text.starts_with("fromTime=2024-03-04T00:00:00Z\nqCreated=5\nqSecured=4\n"));
        assert!(text.contains("\nactiveQueues:\ndayHashes=\nweekHashes=\nmonthHashes=\n"));
        assert!(text.contains("\npMsgFwdsOwn:\nrequests=0\nsuccesses=0\nerrorsConnect=0\nerrorsCompat=0\nerrorsOther=12\npMsgFwdsRecv=13\n"));
        let back = StatsData::decode_backup(&text).expect("decodes");
        // The gauges are not in the file (the store recounts them at start).
        assert_eq!(
            back,
            StatsData {
                msg_count: 0,
                ntf_count: 0,
                ..d
            }
        );
        // An older file: `qDeleted`, no optional counters.
        let old = "fromTime=2023-01-01T10:11:12.5Z\nqCreated=1\nqSecured=2\nqDeleted=3\n\
                   msgSent=4\nmsgRecv=5\ndayMsgQueues=1\n";
        let o = StatsData::decode_backup(old).expect("old layout");
        assert_eq!((o.q_deleted_all, o.msg_sent, o.msg_recv), (3, 4, 5));
        assert_eq!(iso8601(o.from_time), "2023-01-01T10:11:12.5Z");
        assert!(StatsData::decode_backup("qCreated=1\n").is_err());
        assert!(StatsData::decode_backup("fromTime=x\n").is_err());
        assert!(StatsData::decode_backup(&text.replace("qCreated=5", "qCreated=five")).is_err());
    }

    #[test]
    fn prometheus_text_has_the_reference_names_and_values() {
        let now = at(2024, 3, 5, 12);
        let text = prometheus_text(
            &sample(),
            EntityCounts {
                queues: 8,
                notifiers: 3,
            },
            now,
        );
        let ms = now.timestamp_millis();
        assert!(text.starts_with(
            "# Recorded at: 2024-03-05T12:00:00Z\n# Stats from: 2024-03-04T00:00:00Z\n\n# Queues\n# ------\n\n"
        ));
        assert!(text.contains(&format!(
            "# HELP simplex_smp_queues_created Created queues\n\
             # TYPE simplex_smp_queues_created counter\n\
             simplex_smp_queues_created 5 {ms}\n# qCreated\n\n"
        )));
        assert!(text.contains(&format!(
            "simplex_smp_queues_deleted{{type=\"new\"}} 1 {ms}\n# qDeletedNew\n"
        )));
        assert!(text.contains(&format!("simplex_smp_queues_total2 8 {ms}\n")));
        assert!(text.contains(&format!("simplex_smp_messages_sent 10 {ms}\n")));
        assert!(text.contains(&format!(
            "simplex_smp_relay_messages_errors{{source=\"own\",type=\"other\"}} 12 {ms}\n# pMsgFwdsOwn_pErrorsOther\n"
        )));
        assert!(text.contains(&format!("simplex_smp_relay_messages_received 13 {ms}\n")));
        assert!(text.contains(&format!("simplex_smp_queues_notify_total2 3 {ms}\n")));
        // Every sample line is a name, an optional label set, a number and the time.
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 3, "{line}");
            assert!(parts[0].starts_with("simplex_smp_"), "{line}");
            assert!(parts[1].parse::<i64>().is_ok(), "{line}");
            assert_eq!(parts[2], ms.to_string());
        }
    }

    #[test]
    fn take_resets_counters_but_not_gauges() {
        let s = Stats::default();
        s.start(at(2024, 1, 1, 0));
        inc(&s.msg_sent);
        inc(&s.q_count);
        inc(&s.msg_sent_block);
        let d = s.take(at(2024, 1, 2, 0));
        assert_eq!(
            (d.msg_sent, d.q_count, d.from_time),
            (1, 1, at(2024, 1, 1, 0))
        );
        let d2 = s.snapshot();
        assert_eq!((d2.msg_sent, d2.q_count, d2.msg_sent_block), (0, 1, 1));
        assert_eq!(d2.from_time, at(2024, 1, 2, 0));
    }

    #[test]
    fn first_line_is_at_the_start_time_today_or_tomorrow() {
        let now = at(2024, 1, 1, 1);
        assert_eq!(first_delay(now, 0), Duration::from_secs(23 * 3600));
        assert_eq!(first_delay(now, 7200), Duration::from_secs(3600));
    }
}
