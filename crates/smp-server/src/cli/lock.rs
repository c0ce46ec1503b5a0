//! One relay per configuration: `start`, `journal import|export|delete` and `delete` hold an
//! exclusive lock on `smp-server.lock` in the log directory while they run, taken before any
//! other file there is read or written. A second command on the same directory is refused,
//! naming the lock and the process holding it, instead of compacting and renaming the store
//! log under a running relay (which would go on appending to the renamed file).
//!
//! The operating system releases the lock when its process ends, however it ends (`kill -9`
//! included), so a lock file left behind never blocks the next start. The file itself stays;
//! it holds the last holder's process ID and command, only for the message.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use super::fail;

/// The lock file's name, in the log directory.
pub const LOCK_FILE: &str = "smp-server.lock";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct ConfigLock {
    _file: File,
}

impl ConfigLock {
    /// Takes the lock of `log_dir` (created if missing) for `command` (as the operator typed
    /// it, e.g. `smp-server start`), or refuses when another process holds it.
    pub fn take(log_dir: &Path, command: &str) -> std::io::Result<ConfigLock> {
        ConfigLock::take_named(log_dir, LOCK_FILE, command)
    }

    /// [`ConfigLock::take`] with another lock file name (the XFTP relay's own), the program
    /// named in the refusal being the first word of `command`.
    pub fn take_named(
        log_dir: &Path,
        lock_file: &str,
        command: &str,
    ) -> std::io::Result<ConfigLock> {
        fs::create_dir_all(log_dir)?;
        let path = log_dir.join(lock_file);
        let program = command.split(' ').next().unwrap_or(command);
        // Not truncated on open: the holder's line must survive a refused attempt.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match try_lock(&file) {
            Ok(true) => {}
            Ok(false) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.lines().next().unwrap_or("").trim();
                let who = match holder.split_once(' ') {
                    Some((pid, cmd)) => format!("process {pid} (`{cmd}`)"),
                    None if !holder.is_empty() => format!("process {holder}"),
                    None => "another process".to_owned(),
                };
                return Err(fail(format!(
                    "Error: log directory {} is in use by {who}, which holds the lock {}.\n\
                     Stop it first: only one {program} command runs on a configuration at a time.",
                    log_dir.display(),
                    path.display()
                )));
            }
            Err(e) => {
                return Err(fail(format!("Error: cannot lock {}: {e}", path.display())));
            }
        }
        file.set_len(0)?;
        writeln!(file, "{} {command}", std::process::id())?;
        Ok(ConfigLock { _file: file })
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file holds it. (std's
/// `File::try_lock` needs Rust 1.89, above this workspace's `rust-version`.)
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Without `flock`, no lock: the ports bound first still refuse a second relay on them.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ConfigLock::take(dir.path(), "smp-server start").expect("first");
        let e = ConfigLock::take(dir.path(), "smp-server delete")
            .expect_err("second refused")
            .to_string();
        let pid = std::process::id();
        assert!(
            e.starts_with(&format!(
                "Error: log directory {} is in use by process {pid} (`smp-server start`), \
                 which holds the lock {}.",
                dir.path().display(),
                dir.path().join(LOCK_FILE).display()
            )),
            "{e}"
        );
        drop(first);
        let again = ConfigLock::take(dir.path(), "smp-server delete").expect("free again");
        let text = fs::read_to_string(dir.path().join(LOCK_FILE)).expect("lock file");
        drop(again);
        assert_eq!(text, format!("{pid} smp-server delete\n"));
    }
}
