//! Persistence in the reference's formats (`Server/StoreLog.hs`, `Server/MsgStore.hs`,
//! `exportMessages`/`importMessages` in `Server.hs`).
//!
//! The store log `smp-server-store.log` is one text line per queue change, appended and
//! flushed at once, so a killed server loses no queue. At start it is replayed and compacted:
//! the file is renamed to `<file>.start`, the current state is written afresh, and the old file
//! is kept as `<file>.<ISO-8601 time>` (a leftover `.start` file means the last compaction
//! was interrupted, and it is used instead). Messages are saved to `smp-server-messages.log`
//! on shutdown and restored (then renamed to `.bak`) at start.

mod file;
mod messages;
mod record;

pub(crate) use file::parse_iso8601;
pub use file::{
    iso8601, open_and_compact, remove_old_backups, replay, ReplayStats, StoreLogWriter,
};
pub use messages::{
    message_line, ntf_line, parse_message_line, parse_ntf_line, restore_messages, restore_ntfs,
    save_messages, save_ntfs, RestoreStats,
};
pub use record::{ParseError, ServiceParty, ServiceRecord, StoreLogRecord};

#[cfg(test)]
mod tests;
