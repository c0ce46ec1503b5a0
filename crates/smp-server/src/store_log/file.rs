//! The store log file: the appending writer, replay at start, compaction (the current state
//! written afresh, the old file kept as a time-stamped backup) and removal of old backups.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::record::{ParseError, StoreLogRecord};
use crate::store::QueueStore;

/// An open store log, appended to and flushed on every record.
#[derive(Debug)]
pub struct StoreLogWriter {
    path: PathBuf,
    file: File,
}

impl StoreLogWriter {
    /// Opens `path` for appending (or truncates it).
    pub fn open(path: &Path, append: bool) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(path)?;
        Ok(StoreLogWriter {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one record as one `write` and flushes it to the OS.
    pub fn write(&mut self, record: &StoreLogRecord) -> io::Result<()> {
        let mut line = record.to_line();
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the file to disk and closes it.
    pub fn close(self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// What replaying a store log found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStats {
    /// Lines read.
    pub lines: usize,
    /// Lines that did not parse or did not apply (reported, skipped).
    pub errors: usize,
}

/// Replays a store log into `store` (lines that fail are counted and skipped, as the
/// reference does).
pub fn replay(path: &Path, store: &mut QueueStore) -> io::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    let file = File::open(path)?;
    // A `CREATE` line is about 230 bytes: room for that many queues, so that the indexes
    // are not rehashed while they grow (other lines only make this an overestimate).
    let len = file.metadata().map_or(0, |m| m.len());
    store.reserve(usize::try_from(len / 200).unwrap_or(0));
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(512);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        stats.lines += 1;
        let applied = std::str::from_utf8(&line)
            .map_err(|_| ParseError("utf-8"))
            .and_then(StoreLogRecord::parse)
            .map(|r| store.apply(r));
        match applied {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                stats.errors += 1;
                tracing::warn!(error = %e, "store log record did not apply");
            }
            Err(e) => {
                stats.errors += 1;
                tracing::warn!(error = %e, "store log line did not parse");
            }
        }
    }
    Ok(stats)
}

fn write_state(path: &Path, store: &QueueStore) -> io::Result<StoreLogWriter> {
    let mut w = BufWriter::with_capacity(
        1 << 20,
        OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?,
    );
    // Services first, as the reference writes them: queue records refer to them.
    for sr in store.services() {
        w.write_all(StoreLogRecord::NewService(sr.clone()).to_line().as_bytes())?;
        w.write_all(b"\n")?;
    }
    for q in store.queues() {
        w.write_all(
            StoreLogRecord::CreateQueue(Box::new(q))
                .to_line()
                .as_bytes(),
        )?;
        w.write_all(b"\n")?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    StoreLogWriter::open(path, true)
}

/// Reads the store log at `path` into `store`, compacts it as the reference does, and returns
/// the writer to append to (attach it with [`QueueStore::set_log`]). `now` is Unix seconds (for
/// the backup's name).
pub fn open_and_compact(
    path: &Path,
    store: &mut QueueStore,
    now_nanos: i128,
) -> io::Result<(StoreLogWriter, ReplayStats)> {
    let start = with_suffix(path, ".start");
    if start.exists() {
        tracing::warn!(
            "server terminated abnormally on last start, restoring state from the .start backup"
        );
        if path.exists() {
            fs::rename(path, with_suffix(path, ".bak"))?;
        }
        fs::rename(&start, path)?;
    }
    if !path.exists() {
        return Ok((write_state(path, store)?, ReplayStats::default()));
    }
    let stats = replay(path, store)?;
    fs::rename(path, &start)?;
    let writer = write_state(path, store)?;
    let backup = with_suffix(path, &format!(".{}", iso8601(now_nanos)));
    fs::rename(&start, &backup)?;
    remove_old_backups(path, now_nanos);
    Ok((writer, stats))
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Keeps backups of the last 24 hours and 3 older ones; deletes the rest older than 21 days.
pub fn remove_old_backups(path: &Path, now_nanos: i128) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Ok(entries) = fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    let prefix = format!("{name}.");
    let mut times: Vec<(i128, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_owned();
            let t = parse_iso8601(file.strip_prefix(&prefix)?)?;
            Some((t, e.path()))
        })
        .collect();
    times.sort();
    const DAY: i128 = 86_400 * 1_000_000_000;
    let older: Vec<_> = times
        .into_iter()
        .filter(|(t, _)| *t < now_nanos - DAY)
        .collect();
    let removable = older.len().saturating_sub(3);
    for (t, p) in older.into_iter().take(removable) {
        if t < now_nanos - 21 * DAY && fs::remove_file(&p).is_ok() {
            println!("Removed backup: {}", p.display());
        }
    }
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UTC time as ISO 8601 with microseconds, e.g. `2024-05-01T10:20:30.123456Z`.
pub fn iso8601(nanos: i128) -> String {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    let micros = nanos.rem_euclid(1_000_000_000) / 1000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

pub(crate) fn parse_iso8601(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut dp = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, d) = (dp.next()??, dp.next()??, dp.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (tp.next()??, tp.next()??, tp.next()??);
    let mut nanos: i128 = 0;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        nanos = format!("{digits:0<9}").parse().ok()?;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}
