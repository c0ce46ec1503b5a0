//! The short links of contact addresses in SQLite: per address, the link ID on the relay,
//! the link key and the root key that signs the link data (to change the user data with
//! `LSET`), and the link as given to the application.

use rusqlite::{params, Connection, Row};
use simplex_crypto::PrivateAuthKey;
use zeroize::Zeroizing;

use super::{col, corrupt};
use crate::error::StoreError;
use crate::store::ShortLinkRecord;

/// Short links of contact addresses (SMP v15 link data).
pub(super) const SHORT_LINKS: &str = "
CREATE TABLE short_links (
  conn_id BLOB NOT NULL PRIMARY KEY REFERENCES connections ON DELETE CASCADE,
  link_id BLOB NOT NULL,
  link_key BLOB NOT NULL,
  root_private_key BLOB NOT NULL,
  short_link TEXT NOT NULL
) WITHOUT ROWID;
";

pub(super) const SELECT_SHORT_LINK: &str =
    "SELECT conn_id, link_id, link_key, root_private_key, short_link FROM short_links WHERE conn_id = ?1";

pub(super) fn put_short_link(tx: &Connection, l: ShortLinkRecord) -> Result<(), StoreError> {
    let key = l.root_key.to_der();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO short_links (conn_id, link_id, link_key, root_private_key, short_link) VALUES (?1, ?2, ?3, ?4, ?5)"
        )?.execute(
        params![l.conn_id, l.link_id, l.link_key.as_slice(), key.as_slice(), l.short_link],
    )?;
    Ok(())
}

pub(super) fn short_link_row(row: &Row<'_>) -> Result<ShortLinkRecord, StoreError> {
    let link_key: Vec<u8> = col(row, 2)?;
    let key: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 3)?);
    Ok(ShortLinkRecord {
        conn_id: col(row, 0)?,
        link_id: col(row, 1)?,
        link_key: link_key
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("link key"))?,
        root_key: PrivateAuthKey::from_der(&key).map_err(|_| corrupt("root key"))?,
        short_link: col(row, 4)?,
    })
}
