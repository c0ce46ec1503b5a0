//! The line editor's history, kept in the chat database: encrypted with it when it is, and
//! never in a plain file beside it.

use super::{ChatStore, StoreError};

/// How many lines are kept.
pub const HISTORY_LIMIT: u32 = 500;

pub(super) const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS input_history (id INTEGER PRIMARY KEY, line TEXT NOT NULL);";

impl ChatStore {
    /// The last [`HISTORY_LIMIT`] input lines, oldest first.
    pub fn history(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self.db.prepare(
            "SELECT line FROM (SELECT id, line FROM input_history ORDER BY id DESC LIMIT ?1)
             ORDER BY id",
        )?;
        let rows = st.query_map([HISTORY_LIMIT], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds an input line, forgetting the oldest past [`HISTORY_LIMIT`].
    pub fn add_history(&self, line: &str) -> Result<(), StoreError> {
        self.db
            .execute("INSERT INTO input_history (line) VALUES (?1)", [line])?;
        self.db.execute(
            "DELETE FROM input_history WHERE id <= (SELECT max(id) FROM input_history) - ?1",
            [HISTORY_LIMIT],
        )?;
        Ok(())
    }
}
