//! The relay's counters (`Server/Stats.hs` `FileServerStats`): counted as the reference
//! counts them, readable at any time, and written as one CSV line (the reference's daily
//! stats line, without the period download counts) to the stats file on shutdown.

use std::sync::atomic::{AtomicI64, Ordering};

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// Chunks created (`FNEW`).
    pub files_created: AtomicI64,
    /// Recipients added (`FNEW`, `FADD`).
    pub file_recipients: AtomicI64,
    /// Chunk bodies uploaded.
    pub files_uploaded: AtomicI64,
    /// Chunks expired.
    pub files_expired: AtomicI64,
    /// Chunks deleted (`FDEL`).
    pub files_deleted: AtomicI64,
    /// Downloads started (`FGET`).
    pub file_downloads: AtomicI64,
    /// Downloads acknowledged (`FACK`).
    pub file_download_acks: AtomicI64,
    /// Chunks with a body on disk.
    pub files_count: AtomicI64,
    /// Bytes of chunk bodies on disk.
    pub files_size: AtomicI64,
}

/// A copy of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::files_created`].
    pub files_created: i64,
    /// See [`Stats::file_recipients`].
    pub file_recipients: i64,
    /// See [`Stats::files_uploaded`].
    pub files_uploaded: i64,
    /// See [`Stats::files_expired`].
    pub files_expired: i64,
    /// See [`Stats::files_deleted`].
    pub files_deleted: i64,
    /// See [`Stats::file_downloads`].
    pub file_downloads: i64,
    /// See [`Stats::file_download_acks`].
    pub file_download_acks: i64,
    /// See [`Stats::files_count`].
    pub files_count: i64,
    /// See [`Stats::files_size`].
    pub files_size: i64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicI64, n: i64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicI64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            files_created: g(&self.files_created),
            file_recipients: g(&self.file_recipients),
            files_uploaded: g(&self.files_uploaded),
            files_expired: g(&self.files_expired),
            files_deleted: g(&self.files_deleted),
            file_downloads: g(&self.file_downloads),
            file_download_acks: g(&self.file_download_acks),
            files_count: g(&self.files_count),
            files_size: g(&self.files_size),
        }
    }
}

impl StatsSnapshot {
    /// The CSV line: `created,recipients,uploaded,deleted,downloads,acks,count,size,expired`.
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{}",
            self.files_created,
            self.file_recipients,
            self.files_uploaded,
            self.files_deleted,
            self.file_downloads,
            self.file_download_acks,
            self.files_count,
            self.files_size,
            self.files_expired
        )
    }
}
