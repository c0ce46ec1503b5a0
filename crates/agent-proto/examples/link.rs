//! Reads connection links (`simplex:/…`, `https://host/…`) and `smp://` queue URIs from
//! standard input, one per line, and prints each in the reference's canonical form, or
//! `error: …` for a line it rejects.
//!
//! `cargo run --release --example link < links.txt`

use std::io::{self, BufRead, Write};

use agent_proto::ConnectionRequest;
use smp_proto::SmpQueueUri;

fn canonical(line: &str) -> Result<String, String> {
    if line.starts_with("smp://") {
        SmpQueueUri::parse_str(line.as_bytes())
            .map(|q| q.to_string())
            .map_err(|e| e.to_string())
    } else {
        ConnectionRequest::parse(line.as_bytes())
            .map(|c| c.to_string())
            .map_err(|e| e.to_string())
    }
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        match canonical(line) {
            Ok(s) => writeln!(out, "{s}")?,
            Err(e) => writeln!(out, "error: {e}")?,
        }
    }
    Ok(())
}
