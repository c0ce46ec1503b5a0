//! The relay's counters (`Server/Stats.hs` `FileServerStats`) and, with `log_stats = on`,
//! the reference's two files: the daily line appended to `file-server-stats.daily.log`
//! (counters since the last line, most reset by it) and the backup of the running counters
//! in `file-server-stats.log`, written on shutdown and restored (then renamed to `.bak`)
//! at start.
//!
//! Only counts: the reference's distinct-files-downloaded per day/week/month are kept as
//! sets of file-ID hashes; this relay keeps no such sets and writes those counts as 0 (and
//! as empty fields where the reference leaves them empty), as the SMP relay does.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};

/// The daily log, in the log directory.
pub const DAILY_LOG_FILE: &str = "file-server-stats.daily.log";
/// The backup of the counters, in the log directory.
pub const BACKUP_FILE: &str = "file-server-stats.log";

/// `log_stats = on`: where and when.
#[derive(Debug, Clone)]
pub struct StatsLogConfig {
    /// The daily log (appended to).
    pub daily: PathBuf,
    /// The backup of the counters.
    pub backup: PathBuf,
    /// Between daily lines (a day; shorter in tests).
    pub interval: Duration,
    /// Seconds after 00:00 UTC of the first line (the reference's 0); `None`: after one
    /// `interval`.
    pub start_at: Option<i64>,
}

macro_rules! counters {
    ($($field:ident => $name:literal, $reset:literal;)*) => {
        /// Counters since start (relaxed atomics).
        #[derive(Debug, Default)]
        pub struct Stats {
            from_time: Mutex<Option<DateTime<Utc>>>,
            $(
                #[doc = concat!("`", $name, "`.")]
                pub $field: AtomicI64,
            )*
        }

        /// A copy of the counters.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $(
                #[doc = concat!("`", $name, "`.")]
                pub $field: i64,
            )*
        }

        impl Stats {
            /// The counters now.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $($field: self.$field.load(Ordering::Relaxed),)*
                }
            }

            /// The counters now, resetting those the daily line resets.
            fn take(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $($field: if $reset {
                        self.$field.swap(0, Ordering::Relaxed)
                    } else {
                        self.$field.load(Ordering::Relaxed)
                    },)*
                }
            }

            fn set(&self, d: &StatsSnapshot) {
                $(self.$field.store(d.$field, Ordering::Relaxed);)*
            }
        }

        impl StatsSnapshot {
            fn field_mut(&mut self, name: &str) -> Option<&mut i64> {
                match name {
                    $($name => Some(&mut self.$field),)*
                    _ => None,
                }
            }
        }
    };
}

// Name in the reference's files, and whether the daily line resets it.
counters! {
    files_created => "filesCreated", true;
    file_recipients => "fileRecipients", true;
    files_uploaded => "filesUploaded", true;
    files_expired => "filesExpired", true;
    files_deleted => "filesDeleted", true;
    files_blocked => "filesBlocked", true;
    file_downloads => "fileDownloads", true;
    file_download_acks => "fileDownloadAcks", true;
    files_count => "filesCount", false;
    files_size => "filesSize", false;
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicI64, n: i64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// When counting started (the last daily line, or the start).
    pub fn counting_since(&self) -> DateTime<Utc> {
        let mut t = self.from_time.lock().unwrap_or_else(|e| e.into_inner());
        *t.get_or_insert_with(Utc::now)
    }

    fn set_from_time(&self, t: DateTime<Utc>) {
        *self.from_time.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }

    /// The daily line for `now` (the counters since the last line, which it resets): date,
    /// created, recipients, uploaded, deleted, the three download period counts, downloads,
    /// acknowledgements, files, bytes, expired.
    pub fn daily_line(&self, now: DateTime<Utc>) -> String {
        let from = self.counting_since();
        self.set_from_time(now);
        let d = self.take();
        let week = if now.weekday() == chrono::Weekday::Mon {
            "0"
        } else {
            ""
        };
        let month = if now.day() == 1 { "0" } else { "" };
        format!(
            "{},{},{},{},{},0,{week},{month},{},{},{},{},{}",
            from.format("%Y-%m-%d"),
            d.files_created,
            d.file_recipients,
            d.files_uploaded,
            d.files_deleted,
            d.file_downloads,
            d.file_download_acks,
            d.files_count,
            d.files_size,
            d.files_expired
        )
    }

    /// The backup's text (`FileServerStatsData`'s encoding).
    pub fn encode_backup(&self) -> String {
        let d = self.snapshot();
        format!(
            "fromTime={}\nfilesCreated={}\nfileRecipients={}\nfilesUploaded={}\nfilesExpired={}\n\
             filesDeleted={}\nfilesBlocked={}\nfilesCount={}\nfilesSize={}\nfilesDownloaded:\n\
             dayHashes=\nweekHashes=\nmonthHashes=\nfileDownloads={}\nfileDownloadAcks={}\n",
            smp_server::stats::iso8601(self.counting_since()),
            d.files_created,
            d.file_recipients,
            d.files_uploaded,
            d.files_expired,
            d.files_deleted,
            d.files_blocked,
            d.files_count,
            d.files_size,
            d.file_downloads,
            d.file_download_acks
        )
    }

    /// Restores a backup's counters (the file and byte counts are then taken from the store
    /// by the caller). Unknown keys and the period hashes are skipped; `fromTime`,
    /// `filesCreated`, `fileRecipients`, `filesUploaded`, `filesDeleted`, `fileDownloads`
    /// and `fileDownloadAcks` must be there, as the reference requires them.
    pub fn restore_backup(&self, text: &str) -> Result<(), String> {
        let mut d = StatsSnapshot::default();
        let mut from = None;
        let mut seen = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.ends_with(':') {
                continue;
            }
            let bad = || format!("stats backup: bad line {}", i + 1);
            let (k, v) = line.split_once('=').ok_or_else(bad)?;
            if k == "fromTime" {
                let t = DateTime::parse_from_rfc3339(v).map_err(|_| bad())?;
                from = Some(t.with_timezone(&Utc));
            } else if let Some(f) = d.field_mut(k) {
                *f = v.parse().map_err(|_| bad())?;
                seen.push(k.to_owned());
            }
        }
        let from = from.ok_or("stats backup: missing fromTime")?;
        for k in [
            "filesCreated",
            "fileRecipients",
            "filesUploaded",
            "filesDeleted",
            "fileDownloads",
            "fileDownloadAcks",
        ] {
            if !seen.iter().any(|s| s == k) {
                return Err(format!("stats backup: missing {k}"));
            }
        }
        self.set(&d);
        self.set_from_time(from);
        Ok(())
    }
}

/// How long until the first daily line.
pub fn first_delay(cfg: &StatsLogConfig) -> Duration {
    match cfg.start_at {
        Some(at) => smp_server::stats::first_delay(Utc::now(), at),
        None => cfg.interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_round_trips_and_daily_line_resets_event_counters() {
        let s = Stats::default();
        Stats::add(&s.files_created, 3);
        Stats::add(&s.file_recipients, 12);
        Stats::add(&s.files_count, 2);
        Stats::add(&s.files_size, 131_072);
        let text = s.encode_backup();
        assert!(text.starts_with("fromTime="), "{text}");
        assert!(
            text.contains("\nfilesCreated=3\nfileRecipients=12\n"),
            "{text}"
        );
        assert!(text.contains("\nfilesDownloaded:\ndayHashes=\n"), "{text}");
        let r = Stats::default();
        r.restore_backup(&text).expect("restores");
        assert_eq!(r.snapshot(), s.snapshot());
        assert!(r.restore_backup("fromTime=2026-01-01T00:00:00Z\n").is_err());

        let now = DateTime::parse_from_rfc3339("2026-12-07T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let line = r.daily_line(now);
        assert!(
            line.ends_with(",3,12,0,0,0,0,,0,0,2,131072,0"),
            "Monday: {line}"
        );
        let line = r.daily_line(now);
        assert!(line.starts_with("2026-12-07,0,0,0,0,"), "reset: {line}");
        assert!(line.ends_with(",2,131072,0"), "counts stay: {line}");
    }
}
