//! The short links of contact addresses in SQLite: per address, the link ID on the relay,
//! the link key and the root key that signs the link data (to change the user data with
//! `LSET`), and the link as given to the application.

use rusqlite::{params, Connection, Row};
use simplex_crypto::PrivateAuthKey;
use zeroize::Zeroizing;

use super::{col, corrupt};
use crate::error::StoreError;
use crate::store::{InvShortLinkRecord, ShortLinkRecord};

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

/// Invitations' short links read before joining (the reference's `inv_short_links`).
pub(super) const INV_SHORT_LINKS: &str = "
CREATE TABLE inv_short_links (
  link_id BLOB NOT NULL PRIMARY KEY,
  link_key BLOB NOT NULL,
  snd_private_key BLOB NOT NULL,
  snd_id BLOB
) WITHOUT ROWID;
CREATE INDEX idx_inv_short_links_snd_id ON inv_short_links (snd_id);
";

pub(super) const SELECT_INV_SHORT_LINK: &str =
    "SELECT link_id, link_key, snd_private_key, snd_id FROM inv_short_links";

pub(super) fn put_inv_short_link(tx: &Connection, l: InvShortLinkRecord) -> Result<(), StoreError> {
    let key = l.snd_key.to_der();
    tx.prepare_cached(
        "INSERT OR REPLACE INTO inv_short_links (link_id, link_key, snd_private_key, snd_id) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![l.link_id, l.link_key.as_slice(), key.as_slice(), l.snd_id])?;
    Ok(())
}

pub(super) fn inv_short_link_row(row: &Row<'_>) -> Result<InvShortLinkRecord, StoreError> {
    let link_key: Vec<u8> = col(row, 1)?;
    let key: Zeroizing<Vec<u8>> = Zeroizing::new(col(row, 2)?);
    Ok(InvShortLinkRecord {
        link_id: col(row, 0)?,
        link_key: link_key
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("link key"))?,
        snd_key: PrivateAuthKey::from_der(&key).map_err(|_| corrupt("sender key"))?,
        snd_id: col(row, 3)?,
    })
}
