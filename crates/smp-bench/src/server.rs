//! The relay under test as a child process on a fresh temporary configuration, and what
//! `/proc` says about it (CPU time, resident memory).

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use smp_proto::SmpServer;

/// Set in the environment of a child started from this very executable: run as `smp-server`.
pub const SERVE_ENV: &str = "SMP_BENCH_SERVE";

/// Which executable runs the relay.
#[derive(Debug, Clone)]
pub struct ServerBin {
    path: PathBuf,
    /// The path is this executable, which turns into the relay when [`SERVE_ENV`] is set.
    is_self: bool,
}

impl ServerBin {
    /// `--server-bin`: a path, or `self` for the relay linked into this executable; without
    /// it, `smp-server` next to this executable if there is one, else `self`.
    pub fn resolve(arg: Option<&str>) -> io::Result<ServerBin> {
        let me = std::env::current_exe()?;
        let own = ServerBin {
            path: me.clone(),
            is_self: true,
        };
        match arg {
            Some("self") => Ok(own),
            Some(p) => Ok(ServerBin {
                path: PathBuf::from(p),
                is_self: false,
            }),
            None => {
                let sibling = me.with_file_name("smp-server");
                if sibling.is_file() {
                    Ok(ServerBin {
                        path: sibling,
                        is_self: false,
                    })
                } else {
                    Ok(own)
                }
            }
        }
    }

    /// What to print about it.
    pub fn describe(&self) -> String {
        if self.is_self {
            format!("{} (relay linked into smp-bench)", self.path.display())
        } else {
            self.path.display().to_string()
        }
    }
}

/// A relay process with its own configuration and log directories.
pub struct ServerProc {
    bin: ServerBin,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The port it listens on (changes on every start).
    pub port: u16,
    /// Its identity (certificate fingerprint).
    pub fingerprint: String,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn lines_until(
    child: &mut Child,
    mut stop: impl FnMut(&str) -> bool,
) -> io::Result<(Vec<String>, bool)> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let mut reader = BufReader::new(stdout);
    let mut printed = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok((printed, false));
        }
        let l = line.trim_end().to_owned();
        let done = stop(&l);
        printed.push(l);
        if done {
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while matches!(reader.read_line(&mut sink), Ok(n) if n > 0) {
                    sink.clear();
                }
            });
            return Ok((printed, true));
        }
    }
}

impl ServerProc {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin.path);
        c.args(args)
            .env("SMP_SERVER_CFG_PATH", self.dir.path().join("cfg"))
            .env("SMP_SERVER_LOG_PATH", self.dir.path().join("log"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if self.bin.is_self {
            c.env(SERVE_ENV, "1");
        }
        c
    }

    /// `init -y` on a fresh temporary directory, then [`ServerProc::start`].
    pub fn init_and_start(bin: ServerBin) -> io::Result<ServerProc> {
        let mut s = ServerProc {
            bin,
            dir: tempfile::Builder::new().prefix("smp-bench-").tempdir()?,
            child: None,
            port: 0,
            fingerprint: String::new(),
        };
        let out = s.command(&["init", "-y", "--ip", "127.0.0.1"]).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "smp-server init failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        s.fingerprint = text
            .lines()
            .find_map(|l| l.strip_prefix("Fingerprint: "))
            .ok_or_else(|| io::Error::other("init printed no fingerprint"))?
            .trim()
            .to_owned();
        s.start()?;
        Ok(s)
    }

    /// `start --port 0 --listen 127.0.0.1`; returns once it printed the bound port.
    pub fn start(&mut self) -> io::Result<()> {
        let mut child = self
            .command(&["start", "--port", "0", "--listen", "127.0.0.1"])
            .spawn()?;
        let mut port = None;
        let r = lines_until(&mut child, |l| {
            port = l
                .strip_prefix("Serving SMP protocol on port ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|p| p.parse().ok());
            port.is_some()
        });
        match (r, port) {
            (Ok((_, true)), Some(p)) => {
                self.port = p;
                self.child = Some(child);
                Ok(())
            }
            (r, _) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "smp-server did not print its port: {r:?}"
                )))
            }
        }
    }

    /// The child's process ID while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM (through `kill`) and wait for the exit.
    pub fn terminate(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !status.success() {
            let _ = child.kill();
        }
        let exit = child.wait()?;
        if exit.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("smp-server exited with {exit}")))
        }
    }

    /// `smp://fingerprint@127.0.0.1:port`.
    pub fn address(&self) -> io::Result<SmpServer> {
        let s = format!("smp://{}@127.0.0.1:{}", self.fingerprint, self.port);
        SmpServer::parse_str(s.as_bytes())
            .map_err(|e| io::Error::other(format!("bad address {s}: {e}")))
    }

    /// The size of the store log.
    pub fn store_log_bytes(&self) -> Option<u64> {
        let p = self
            .dir
            .path()
            .join("log")
            .join(smp_server::cli::STORE_LOG_FILE);
        std::fs::metadata(p).ok().map(|m| m.len())
    }

    /// The configuration and log directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs as `smp-server` (its command line from the arguments): what a benchmark binary
/// does when started with [`SERVE_ENV`] set, as the relay linked into it.
pub fn serve_as_relay() {
    use clap::Parser as _;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let cli = smp_server::cli::Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(smp_server::cli::main(cli)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn clock_ticks_per_s() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// User plus system CPU seconds of `pid` so far (`/proc/<pid>/stat` utime + stime).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_s())
}

/// Resident memory of `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_of_this_process() {
        let me = std::process::id();
        let rss = rss_bytes(me).expect("VmRSS");
        assert!(rss > 100_000, "rss {rss}");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let cpu = cpu_seconds(me).expect("stat");
        assert!(cpu >= 0.0 && cpu.is_finite());
        assert!(cpu_seconds(u32::MAX).is_none());
    }
}
