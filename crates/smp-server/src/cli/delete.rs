//! `smp-server delete`: the configuration and log files, after the reference's question
//! (only `Y` deletes; `-y` skips the question) and under the configuration's lock, so that a
//! running relay's files are never deleted under it.

use std::fs;

use super::lock::{ConfigLock, LOCK_FILE};
use super::prompt::confirm;
use super::{Paths, INI_FILE, MESSAGES_FILE, NTFS_FILE, STORE_LOG_FILE};

/// The reference's warning before `delete`.
const WARNING: &str = "WARNING: deleting the server will make all queues inaccessible, \
because the server identity (certificate fingerprint) will change.\nTHIS CANNOT BE UNDONE!";

/// `smp-server delete` (`yes`: `-y`, no question).
pub fn delete(paths: &Paths, yes: bool) -> std::io::Result<()> {
    // No log directory: no relay can be running on it (it would hold the lock there).
    let lock = if paths.log.is_dir() {
        Some(ConfigLock::take(&paths.log, "smp-server delete")?)
    } else {
        None
    };
    confirm(yes, WARNING, "Server NOT deleted")?;
    for f in [
        INI_FILE,
        "ca.crt",
        "ca.key",
        "server.crt",
        "server.key",
        "fingerprint",
    ] {
        let _ = fs::remove_file(paths.cfg.join(f));
    }
    for f in [STORE_LOG_FILE, MESSAGES_FILE, NTFS_FILE] {
        let _ = fs::remove_file(paths.log.join(f));
    }
    if lock.is_some() {
        let _ = fs::remove_file(paths.log.join(LOCK_FILE));
    }
    drop(lock);
    println!("Deleted configuration and log files");
    Ok(())
}
