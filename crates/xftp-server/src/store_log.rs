//! The store log `file-server-store.log` in the reference's format (`Server/StoreLog.hs`):
//! one text line per change, fields separated by spaces, IDs, keys (DER), digests and paths
//! in base64url with padding.
//!
//! - `FNEW <sId> <sndKey> <size> <digest> <createdAt> <status>` (status `active`,
//!   `blocked,<info>` or `off`; absent in old logs, meaning active)
//! - `FPUT <sId> <path>`
//! - `FADD <sId> <rId>:<rKey>[,<rId>:<rKey>…]`
//! - `FDEL <sId>`
//! - `FBLK <sId> <info>`
//! - `FACK <rId>`
//!
//! At start the log is replayed (lines that do not parse or apply are reported and skipped,
//! as the reference does) and compacted: the current state is written to a new file that
//! replaces it, the old one kept as `<file>.bak`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use simplex_crypto::PublicAuthKey;
use simplex_encoding::string::{base64url_decode, base64url_encode};
use simplex_encoding::ShortBytes;
use xftp_proto::FileInfo;

use crate::store::{FileStatus, FileStore};

/// One line of the store log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRecord {
    /// A new chunk.
    AddFile {
        /// Sender ID.
        sender_id: Vec<u8>,
        /// Size, digest, sender key.
        info: FileInfo,
        /// Creation time (rounded Unix seconds).
        created_at: i64,
        /// Status.
        status: FileStatus,
    },
    /// The chunk's body was uploaded to `path`.
    PutFile(Vec<u8>, PathBuf),
    /// Recipients added: (recipient ID, key).
    AddRecipients(Vec<u8>, Vec<(Vec<u8>, PublicAuthKey)>),
    /// The chunk was deleted.
    DeleteFile(Vec<u8>),
    /// The chunk was blocked (info as text).
    BlockFile(Vec<u8>, String),
    /// A recipient acknowledged (and was removed).
    AckFile(Vec<u8>),
}

fn b64(bytes: &[u8]) -> String {
    base64url_encode(bytes)
}

fn status_str(s: &FileStatus) -> String {
    match s {
        FileStatus::Active => "active".into(),
        FileStatus::Blocked(info) => format!("blocked,{info}"),
        FileStatus::Off => "off".into(),
    }
}

impl LogRecord {
    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        match self {
            LogRecord::AddFile {
                sender_id,
                info,
                created_at,
                status,
            } => format!(
                "FNEW {} {} {} {} {} {}",
                b64(sender_id),
                b64(&info.snd_key.to_der()),
                info.size,
                b64(info.digest.as_slice()),
                created_at,
                status_str(status)
            ),
            LogRecord::PutFile(id, path) => format!(
                "FPUT {} {}",
                b64(id),
                b64(path.as_os_str().as_encoded_bytes())
            ),
            LogRecord::AddRecipients(id, rcps) => {
                let list: Vec<String> = rcps
                    .iter()
                    .map(|(r, k)| format!("{}:{}", b64(r), b64(&k.to_der())))
                    .collect();
                format!("FADD {} {}", b64(id), list.join(","))
            }
            LogRecord::DeleteFile(id) => format!("FDEL {}", b64(id)),
            LogRecord::BlockFile(id, info) => format!("FBLK {} {info}", b64(id)),
            LogRecord::AckFile(id) => format!("FACK {}", b64(id)),
        }
    }

    /// Parses a line (without its newline).
    pub fn parse(line: &str) -> Result<LogRecord, &'static str> {
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or_default();
        let mut next = |what: &'static str| words.next().filter(|w| !w.is_empty()).ok_or(what);
        let id = |s: &str| base64url_decode(s.as_bytes()).map_err(|_| "bad base64");
        let key = |s: &str| -> Result<PublicAuthKey, &'static str> {
            PublicAuthKey::from_der(&id(s)?).map_err(|_| "bad key")
        };
        let rec = match tag {
            "FNEW" => {
                let sender_id = id(next("sender ID")?)?;
                let snd_key = key(next("sender key")?)?;
                let size = next("size")?.parse::<u32>().map_err(|_| "bad size")?;
                let digest =
                    ShortBytes::from_slice(&id(next("digest")?)?).map_err(|_| "digest too long")?;
                let created_at = next("time")?.parse::<i64>().map_err(|_| "bad time")?;
                let status = match words.next() {
                    None | Some("active") => FileStatus::Active,
                    Some("off") => FileStatus::Off,
                    Some(s) => FileStatus::Blocked(
                        s.strip_prefix("blocked,").ok_or("bad status")?.to_owned(),
                    ),
                };
                LogRecord::AddFile {
                    sender_id,
                    info: FileInfo {
                        snd_key,
                        size,
                        digest,
                    },
                    created_at,
                    status,
                }
            }
            "FPUT" => {
                let sid = id(next("sender ID")?)?;
                let path = id(next("path")?)?;
                let path = String::from_utf8(path).map_err(|_| "path not UTF-8")?;
                LogRecord::PutFile(sid, PathBuf::from(path))
            }
            "FADD" => {
                let sid = id(next("sender ID")?)?;
                let list = next("recipients")?;
                let rcps = list
                    .split(',')
                    .map(|item| {
                        let (r, k) = item.split_once(':').ok_or("bad recipient")?;
                        Ok((id(r)?, key(k)?))
                    })
                    .collect::<Result<Vec<_>, &'static str>>()?;
                LogRecord::AddRecipients(sid, rcps)
            }
            "FDEL" => LogRecord::DeleteFile(id(next("sender ID")?)?),
            "FBLK" => {
                let sid = id(next("sender ID")?)?;
                LogRecord::BlockFile(sid, next("info")?.to_owned())
            }
            "FACK" => LogRecord::AckFile(id(next("recipient ID")?)?),
            _ => return Err("unknown record"),
        };
        if words.next().is_some() {
            return Err("trailing fields");
        }
        Ok(rec)
    }

    /// Applies the record to the store (replay).
    pub fn apply(self, store: &mut FileStore) -> Result<(), xftp_proto::XftpErrorType> {
        use xftp_proto::XftpErrorType;
        match self {
            LogRecord::AddFile {
                sender_id,
                info,
                created_at,
                status,
            } => {
                if info.size == 0 {
                    return Err(XftpErrorType::Size);
                }
                store.add_file(&sender_id, info, created_at, status)
            }
            LogRecord::PutFile(sid, path) => store.set_path(&sid, path),
            LogRecord::AddRecipients(sid, rcps) => {
                for (r, k) in rcps {
                    store.add_recipient(&sid, &r, k)?;
                }
                Ok(())
            }
            LogRecord::DeleteFile(sid) => store.delete_file(&sid).map(|_| ()),
            LogRecord::BlockFile(sid, info) => store.block_file(&sid, info),
            LogRecord::AckFile(rid) => store.ack_file(&rid),
        }
    }
}

/// The records that recreate the store's current state.
pub fn state_records(store: &FileStore) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for f in store.files() {
        out.push(LogRecord::AddFile {
            sender_id: f.sender_id.clone(),
            info: f.info.clone(),
            created_at: f.created_at,
            status: f.status.clone(),
        });
        let rcps: Vec<_> = f
            .recipients
            .iter()
            .filter_map(|r| store.recipient_key(r).map(|k| (r.clone(), k.clone())))
            .collect();
        if !rcps.is_empty() {
            out.push(LogRecord::AddRecipients(f.sender_id.clone(), rcps));
        }
        if let Some(p) = &f.path {
            out.push(LogRecord::PutFile(f.sender_id.clone(), p.clone()));
        }
    }
    out
}

/// Appends records, each flushed at once.
#[derive(Debug)]
pub struct StoreLogWriter {
    file: File,
}

impl StoreLogWriter {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(StoreLogWriter { file })
    }

    /// Writes one record.
    pub fn write(&mut self, rec: &LogRecord) -> io::Result<()> {
        let mut line = rec.to_line();
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()
    }
}

/// What replaying found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStats {
    /// Records applied.
    pub applied: usize,
    /// Lines that did not parse or apply (reported on stderr, skipped).
    pub skipped: usize,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0))
}

fn replay(path: &Path, store: &mut FileStore) -> io::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    let reader = BufReader::new(File::open(path)?);
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        if text.is_empty() {
            continue;
        }
        // The line number only: a line holds chunk and recipient IDs.
        let shown = format!("{}:{}", path.display(), n + 1);
        match LogRecord::parse(text) {
            Err(e) => {
                stats.skipped += 1;
                eprintln!("Log parsing error ({e}) at {shown}");
            }
            Ok(rec) => match rec.apply(store) {
                Ok(()) => stats.applied += 1,
                Err(e) => {
                    stats.skipped += 1;
                    eprintln!("Log processing error ({e:?}) at {shown}");
                }
            },
        }
    }
    store.recompute_used();
    Ok(stats)
}

fn write_state(path: &Path, store: &FileStore) -> io::Result<StoreLogWriter> {
    {
        let mut w = BufWriter::new(File::create(path)?);
        for rec in state_records(store) {
            writeln!(w, "{}", rec.to_line())?;
        }
        w.flush()?;
        w.get_ref().sync_all()?;
    }
    StoreLogWriter::open(path)
}

/// Replays `path` (if it exists) into `store`, compacts it and opens it for appending, as
/// the reference's `readWriteStoreLog`: the old log is first renamed to `<file>.start`, the
/// state written afresh, then the old log kept as `<file>.<ISO 8601 time>` (backups of the
/// last day and 3 older ones are kept, older than 21 days removed). A `.start` file left by
/// an interrupted compaction is used instead of the log (kept as `.bak`).
pub fn open_and_compact(
    path: &Path,
    store: &mut FileStore,
) -> io::Result<(StoreLogWriter, ReplayStats)> {
    let start = with_suffix(path, ".start");
    if start.exists() {
        eprintln!(
            "Server terminated abnormally on last start, restoring state from {}",
            start.display()
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
    let now = now_nanos();
    fs::rename(
        &start,
        with_suffix(path, &format!(".{}", smp_server::store_log::iso8601(now))),
    )?;
    smp_server::store_log::remove_old_backups(path, now);
    Ok((writer, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_crypto::PrivateKeyEd25519;

    fn key() -> PublicAuthKey {
        PublicAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut rand::rngs::OsRng).public_key())
    }

    #[test]
    fn records_print_and_parse_back() {
        let info = FileInfo {
            snd_key: key(),
            size: 65536,
            digest: ShortBytes::from_slice(&[7u8; 32]).expect("32 bytes"),
        };
        let recs = vec![
            LogRecord::AddFile {
                sender_id: vec![1; 16],
                info,
                created_at: 1_700_000_000,
                status: FileStatus::Active,
            },
            LogRecord::AddRecipients(
                vec![1; 16],
                vec![(vec![2; 16], key()), (vec![3; 16], key())],
            ),
            LogRecord::PutFile(vec![1; 16], PathBuf::from("/srv/files/AQEB")),
            LogRecord::BlockFile(vec![1; 16], "reason=spam".into()),
            LogRecord::AckFile(vec![2; 16]),
            LogRecord::DeleteFile(vec![1; 16]),
        ];
        for r in recs {
            let line = r.to_line();
            assert_eq!(LogRecord::parse(&line), Ok(r), "{line}");
        }
        let with_status = LogRecord::AddFile {
            sender_id: vec![1; 16],
            info: FileInfo {
                snd_key: key(),
                size: 65536,
                digest: ShortBytes::from_slice(&[7u8; 32]).expect("32 bytes"),
            },
            created_at: 1_700_000_000,
            status: FileStatus::Active,
        }
        .to_line();
        let line = with_status.strip_suffix(" active").expect("status last");
        match LogRecord::parse(line) {
            Ok(LogRecord::AddFile { status, info, .. }) => {
                assert_eq!(status, FileStatus::Active, "old logs have no status");
                assert_eq!(info.size, 65536);
            }
            other => panic!("{other:?}"),
        }
        assert!(LogRecord::parse("FDEL").is_err());
        assert!(LogRecord::parse("FDEL !!").is_err());
        assert!(LogRecord::parse("FXXX AQ==").is_err());
    }

    #[test]
    fn compaction_keeps_the_state_and_a_timed_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file-server-store.log");
        let add = |id: u8| LogRecord::AddFile {
            sender_id: vec![id; 16],
            info: FileInfo {
                snd_key: key(),
                size: 65536,
                digest: ShortBytes::from_slice(&[id; 32]).expect("32 bytes"),
            },
            created_at: 1_700_000_000,
            status: FileStatus::Active,
        };
        let lines = [
            add(1).to_line(),
            add(2).to_line(),
            LogRecord::DeleteFile(vec![1; 16]).to_line(),
            "FNEW garbage".to_owned(),
        ];
        fs::write(&path, lines.join("\n") + "\n").expect("write");
        let mut store = FileStore::new();
        let (_, stats) = open_and_compact(&path, &mut store).expect("compacts");
        assert_eq!((stats.applied, stats.skipped), (3, 1));
        assert_eq!(store.len(), 1);
        let text = fs::read_to_string(&path).expect("log");
        let recs: Vec<_> = text.lines().map(LogRecord::parse).collect();
        assert_eq!(recs.len(), 1, "{text}");
        assert!(
            matches!(&recs[0], Ok(LogRecord::AddFile { sender_id, .. }) if sender_id == &vec![2u8; 16]),
            "{text}"
        );
        let backups: Vec<String> = fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("file-server-store.log.20"))
            .collect();
        assert_eq!(backups.len(), 1, "{backups:?}");

        // A compaction cut short leaves `.start`: it is used, the incomplete log kept as .bak.
        fs::write(with_suffix(&path, ".start"), add(3).to_line() + "\n").expect("write");
        let mut store = FileStore::new();
        open_and_compact(&path, &mut store).expect("recovers");
        assert_eq!(store.len(), 1);
        assert!(store.file(&[3; 16]).is_some());
        assert!(with_suffix(&path, ".bak").exists());
        assert!(!with_suffix(&path, ".start").exists());
    }
}
