//! The Prometheus metrics file (`xftp-server-metrics.txt`, rewritten every
//! `[STORE_LOG] prometheus_interval` seconds), in the reference's text
//! (`Server/Prometheus.hs`): each value with the time it was taken, in milliseconds.

use chrono::{DateTime, Utc};

use crate::stats::{Stats, StatsSnapshot};

/// The metrics file, in the log directory.
pub const METRICS_FILE: &str = "xftp-server-metrics.txt";

/// (metric, help, type, value, the stats key in the comment line).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    String,
    &'static str,
);

fn rows(d: &StatsSnapshot, period: &str) -> Vec<Row> {
    vec![
        (
            "files_created",
            "Created files",
            "counter",
            d.files_created.to_string(),
            "filesCreated",
        ),
        (
            "files_recipients",
            "Files recipients",
            "counter",
            d.file_recipients.to_string(),
            "fileRecipients",
        ),
        (
            "files_uploaded",
            "Uploaded files",
            "counter",
            d.files_uploaded.to_string(),
            "filesUploaded",
        ),
        (
            "files_expired",
            "Expired files",
            "counter",
            d.files_expired.to_string(),
            "filesExpired",
        ),
        (
            "files_deleted",
            "Deleted files",
            "counter",
            d.files_deleted.to_string(),
            "filesDeleted",
        ),
        (
            "files_blocked",
            "Blocked files",
            "counter",
            d.files_blocked.to_string(),
            "filesBlocked",
        ),
        (
            "file_downloads",
            "File downloads",
            "counter",
            d.file_downloads.to_string(),
            "fileDownloads",
        ),
        (
            "file_download_acks",
            "File download ACKs",
            "counter",
            d.file_download_acks.to_string(),
            "fileDownloadAcks",
        ),
        (
            "files_count_total",
            "Total files count ",
            "gauge",
            d.files_count.to_string(),
            "filesCount",
        ),
        (
            "files_size",
            "Size of files ",
            "gauge",
            d.files_size.to_string(),
            "filesSize ",
        ),
        (
            "files_count_daily",
            "Daily files count",
            "gauge",
            period.to_owned(),
            "filesDownloaded.dayCount",
        ),
        (
            "files_count_weekly",
            "Weekly files count",
            "gauge",
            period.to_owned(),
            "filesDownloaded.weekCount",
        ),
        (
            "files_count_monthly",
            "Monthly files count",
            "gauge",
            period.to_owned(),
            "filesDownloaded.monthCount",
        ),
    ]
}

/// The file's text at `now` (the distinct-download period counts, not kept, are 0).
pub fn prometheus_text(stats: &Stats, now: DateTime<Utc>) -> String {
    let iso = smp_server::stats::iso8601;
    let ms = now.timestamp_millis();
    let mut s = format!(
        "# Recorded at: {}\n# Stats from: {}\n\n# Files\n# -----\n\n",
        iso(now),
        iso(stats.counting_since())
    );
    for (name, help, kind, value, key) in rows(&stats.snapshot(), "0") {
        s.push_str(&format!(
            "# HELP simplex_xftp_{name} {help}\n# TYPE simplex_xftp_{name} {kind}\n\
             simplex_xftp_{name} {value} {ms}\n# {key}\n\n"
        ));
    }
    s.push_str(&format!(
        "# Info\n# ----\n\n# HELP simplex_xftp_info Server information. RTS options have to be \
         passed via XFTP_RTS_OPTIONS env var\n# TYPE simplex_xftp_info gauge\n\
         simplex_xftp_info{{version=\"{}\",rts_options=\"\"}} 1\n\n",
        env!("CARGO_PKG_VERSION")
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_as_the_reference_lays_it_out() {
        let s = Stats::default();
        Stats::add(&s.files_created, 5);
        Stats::add(&s.files_size, 4_194_304);
        let now = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let text = prometheus_text(&s, now);
        assert!(
            text.starts_with("# Recorded at: 2026-12-03T10:00:00Z\n# Stats from: "),
            "{text}"
        );
        assert!(
            text.contains(
                "# HELP simplex_xftp_files_created Created files\n\
             # TYPE simplex_xftp_files_created counter\n\
             simplex_xftp_files_created 5 1796292000000\n# filesCreated\n\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("simplex_xftp_files_size 4194304 1796292000000\n# filesSize \n"),
            "{text}"
        );
        assert!(text.ends_with("rts_options=\"\"} 1\n\n"), "{text}");
    }
}
