//! Opening a database file: the agent's and the chat's.
//!
//! SQLCipher encrypts every page with AES-256-CBC and authenticates it with an HMAC, on
//! every page written (each commit) and every page read into the cache. Files this code
//! creates use HMAC-SHA256 in place of SQLCipher's default HMAC-SHA512: SHA-256 runs on the
//! processor's SHA extensions where it has them, and the HMAC was the larger half of the
//! page crypto in the agent's profile (~5 % of a burst's samples against ~3 % for AES).
//! The key is still derived with SQLCipher's default PBKDF2-HMAC-SHA512. A file made with
//! SQLCipher's defaults (by an earlier version) opens as before: when the first page does
//! not authenticate with SHA-256, the file is opened again with the defaults. Going back
//! is not supported: a version before this one reads a new file as a wrong passphrase. To
//! open a new file with the `sqlcipher` shell, give `PRAGMA cipher_hmac_algorithm =
//! HMAC_SHA256` after `PRAGMA key`.

use std::path::Path;

use rusqlite::Connection;

/// The page HMAC of the files this code creates.
const PAGE_HMAC: &str = "HMAC_SHA256";

/// Why [`open_database`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The passphrase does not open the file (or it is not a database).
    #[error("wrong passphrase or invalid database file")]
    WrongPassphrase,
    /// Another connection holds the file ([`Locking::Exclusive`]): another process uses it.
    #[error("the database is in use by another process")]
    InUse,
    /// SQLite failed otherwise.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Who may use a database file at the same time as the connection opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// Other connections may read and write it too (SQLite's default).
    Shared,
    /// This connection alone, from its first read until it closes (`locking_mode =
    /// EXCLUSIVE`, set before the file is first read): the write-ahead log's index then
    /// lives in this process's memory, so a transaction takes no file locks and touches no
    /// shared memory. Each transaction otherwise cost about seven `fcntl` calls; without
    /// them a burst's agents spend ~20 µs less per message. Another connection opening the
    /// file meanwhile gets "database is locked".
    Exclusive,
}

/// Opens (or creates) a SQLite file with a SQLCipher passphrase — an empty one opens a plain
/// file, since SQLCipher refuses an empty key — checks the key at once by reading the first
/// page, and turns on foreign keys and WAL. Shared by the agent's and the chat's databases.
pub fn open_database(
    path: &Path,
    passphrase: &str,
    locking: Locking,
) -> Result<Connection, OpenError> {
    let db = if passphrase.is_empty() {
        let db = Connection::open(path)?;
        lock(&db, locking)?;
        check(&db)?;
        db
    } else {
        // A missing or empty file (and no write-ahead log of one) is made with the cheaper
        // HMAC; an existing one may be either kind (a wrong passphrase costs two key
        // derivations).
        let non_empty = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let exists = non_empty(path) || non_empty(Path::new(&wal));
        match open_keyed(path, passphrase, Some(PAGE_HMAC), locking) {
            Err(OpenError::WrongPassphrase) if exists => {
                open_keyed(path, passphrase, None, locking)?
            }
            r => r?,
        }
    };
    db.pragma_update(None, "foreign_keys", true)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    Ok(db)
}

/// The file opened with the key and, if given, the page HMAC (else SQLCipher's default).
fn open_keyed(
    path: &Path,
    passphrase: &str,
    hmac: Option<&str>,
    locking: Locking,
) -> Result<Connection, OpenError> {
    let db = Connection::open(path)?;
    db.pragma_update(None, "key", passphrase)?;
    if let Some(h) = hmac {
        db.pragma_update(None, "cipher_hmac_algorithm", h)?;
    }
    lock(&db, locking)?;
    check(&db)?;
    Ok(db)
}

/// Sets the locking mode, before anything reads the file (see [`Locking::Exclusive`]).
fn lock(db: &Connection, locking: Locking) -> Result<(), OpenError> {
    if locking == Locking::Exclusive {
        db.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    }
    Ok(())
}

/// The key is only checked when the first page is read.
fn check(db: &Connection) -> Result<(), OpenError> {
    match db.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(OpenError::WrongPassphrase)
        }
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            Err(OpenError::InUse)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one value of the test table `t`.
    fn read_x(db: &Connection) -> i64 {
        db.query_row("SELECT x FROM t", [], |r| r.get(0))
            .expect("read")
    }

    /// A new file uses the cheaper HMAC (SQLCipher's defaults do not open it), and a file
    /// made with the defaults still opens; a wrong passphrase is refused for both.
    #[test]
    fn new_files_use_sha256_and_old_ones_still_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let new = dir.path().join("new.db");
        let db = open_database(&new, "pw", Locking::Shared).expect("create");
        db.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);")
            .expect("write");
        drop(db);
        let defaults = Connection::open(&new).expect("open");
        defaults.pragma_update(None, "key", "pw").expect("key");
        assert!(check(&defaults).is_err(), "SQLCipher's defaults open it");
        drop(defaults);
        let db = open_database(&new, "pw", Locking::Shared).expect("reopen");
        assert_eq!(read_x(&db), 7);
        drop(db);

        let old = dir.path().join("old.db");
        let db = Connection::open(&old).expect("open");
        db.pragma_update(None, "key", "pw").expect("key");
        db.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (8);")
            .expect("write");
        drop(db);
        let db = open_database(&old, "pw", Locking::Shared).expect("open with the defaults");
        assert_eq!(read_x(&db), 8);
        drop(db);

        for path in [&new, &old] {
            assert!(matches!(
                open_database(path, "wrong", Locking::Shared),
                Err(OpenError::WrongPassphrase)
            ));
        }
    }

    /// A file opened for one connection alone refuses every other until it is closed,
    /// new or already in WAL mode, with or without a passphrase. (Each refusal comes after
    /// SQLite's busy timeout, 5 s: two of them here.)
    #[test]
    fn an_exclusive_file_is_in_use_for_others_until_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let attempts = [
            ("plain.db", "", Some(Locking::Shared)),
            ("keyed.db", "pw", None),
            ("keyed.db", "pw", Some(Locking::Exclusive)),
        ];
        for (name, passphrase, other) in attempts {
            let path = dir.path().join(name);
            let db = open_database(&path, passphrase, Locking::Exclusive).expect("open");
            db.execute_batch("CREATE TABLE IF NOT EXISTS t (x INTEGER); INSERT INTO t VALUES (1);")
                .expect("write");
            if let Some(locking) = other {
                assert!(matches!(
                    open_database(&path, passphrase, locking),
                    Err(OpenError::InUse)
                ));
            }
            drop(db);
            let db = open_database(&path, passphrase, Locking::Shared).expect("closed");
            assert!(read_count(&db) >= 1);
        }
    }

    fn read_count(db: &Connection) -> i64 {
        db.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read")
    }
}
