//! How a call's writes reach the file: all or nothing, by a transaction of their own or by
//! a savepoint inside the store thread's batch, with the statements that open and close
//! them prepared once (rusqlite's `transaction()` and `savepoint()` parse theirs at every
//! call, twice per message on each side); and a connection's row and its ratchet, when a
//! call writes both, by one statement.

use rusqlite::Connection;

use super::{ratchets, SqliteStore};
use crate::error::StoreError;
use crate::store::Write;

/// The statements of one kind of all-or-nothing scope.
struct Scope {
    open: &'static str,
    close: &'static str,
    undo: &'static [&'static str],
}

/// A call's own transaction.
const TRANSACTION: Scope = Scope {
    open: "BEGIN",
    close: "COMMIT",
    undo: &["ROLLBACK"],
};

/// A call's writes inside the batch's transaction.
const SAVEPOINT: Scope = Scope {
    open: "SAVEPOINT call",
    close: "RELEASE call",
    undo: &["ROLLBACK TO call", "RELEASE call"],
};

fn run(db: &Connection, sql: &str) -> Result<(), StoreError> {
    db.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// An open scope, undone when dropped before it was closed (an error, a failed commit, or
/// a panic unwinding through the call).
struct Open<'a> {
    db: &'a Connection,
    scope: &'static Scope,
    closed: bool,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if !self.closed {
            for sql in self.scope.undo {
                let _ = run(self.db, sql);
            }
        }
    }
}

/// `writes` applied in order, all or nothing: by a savepoint when the batch's transaction is
/// open (`in_batch`), else by a transaction committed here.
pub(super) fn all_or_nothing(
    db: &Connection,
    in_batch: bool,
    writes: Vec<Write>,
) -> Result<(), StoreError> {
    let scope = match in_batch {
        true => &SAVEPOINT,
        false => &TRANSACTION,
    };
    within(db, scope, || write_all(db, writes))
}

/// `f` inside `scope`: closed when `f` succeeds, undone otherwise.
fn within(
    db: &Connection,
    scope: &'static Scope,
    f: impl FnOnce() -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    run(db, scope.open)?;
    let mut open = Open {
        db,
        scope,
        closed: false,
    };
    f()?;
    run(db, scope.close)?;
    open.closed = true;
    Ok(())
}

/// Opens the store thread's batch: one transaction for the calls that come together.
pub(super) fn begin_batch(db: &Connection) -> Result<(), StoreError> {
    run(db, TRANSACTION.open)
}

/// Commits the batch; when that fails, nothing of it stays.
pub(super) fn end_batch(db: &Connection) -> Result<(), StoreError> {
    run(db, TRANSACTION.close).inspect_err(|_| {
        let _ = run(db, "ROLLBACK");
    })
}

/// The writes in order; a connection's row and its ratchet, when written together, by one
/// statement where the first of them was (`ratchets::paired_at`).
fn write_all(db: &Connection, mut writes: Vec<Write>) -> Result<(), StoreError> {
    let mut paired = ratchets::paired_at(&mut writes);
    for (i, w) in writes.into_iter().enumerate() {
        let Some((_, other)) = paired.take_if(|(at, _)| *at == i) else {
            SqliteStore::write(db, w)?;
            continue;
        };
        let joined = match (&w, &other) {
            (Write::PutConn(c), Write::PutRatchet(_, r))
            | (Write::PutRatchet(_, r), Write::PutConn(c)) => {
                ratchets::put_conn_with_ratchet(db, c, r)?
            }
            _ => false,
        };
        if !joined {
            SqliteStore::write(db, w)?;
            SqliteStore::write(db, other)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(db: &Connection, x: i64) -> Result<(), StoreError> {
        db.execute("INSERT INTO t VALUES (?1)", [x])?;
        Ok(())
    }

    fn rows(db: &Connection) -> Vec<i64> {
        let mut st = db.prepare("SELECT x FROM t ORDER BY x").expect("prepare");
        let xs = st.query_map([], |r| r.get(0)).expect("query");
        xs.map(|x| x.expect("row")).collect()
    }

    /// Inside a batch, a call's writes stay when it succeeds and go when it fails or panics,
    /// and the batch goes on; a transaction of its own is committed or left out whole.
    #[test]
    fn each_scope_keeps_all_or_nothing() {
        let db = Connection::open_in_memory().expect("open");
        db.execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("table");
        begin_batch(&db).expect("begin");
        within(&db, &SAVEPOINT, || insert(&db, 1)).expect("kept");
        let failed = within(&db, &SAVEPOINT, || {
            insert(&db, 2)?;
            Err(StoreError::NoConnection)
        });
        assert!(failed.is_err());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            within(&db, &SAVEPOINT, || {
                insert(&db, 3)?;
                panic!("a call that panics");
            })
        }));
        assert!(panicked.is_err());
        within(&db, &SAVEPOINT, || insert(&db, 4)).expect("kept");
        end_batch(&db).expect("commit");
        assert_eq!(rows(&db), vec![1, 4]);
        assert!(db.is_autocommit(), "nothing left open");
        let failed = within(&db, &TRANSACTION, || {
            insert(&db, 5)?;
            Err(StoreError::NoConnection)
        });
        assert!(failed.is_err());
        within(&db, &TRANSACTION, || insert(&db, 6)).expect("committed");
        assert_eq!(rows(&db), vec![1, 4, 6]);
        assert!(db.is_autocommit());
    }
}
