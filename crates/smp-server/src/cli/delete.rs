//! `smp-server delete`: the configuration and log files.

use std::fs;

use super::{Paths, INI_FILE, MESSAGES_FILE, NTFS_FILE, STORE_LOG_FILE};

/// `smp-server delete`.
pub fn delete(paths: &Paths) -> std::io::Result<()> {
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
    println!("Deleted configuration and log files");
    Ok(())
}
