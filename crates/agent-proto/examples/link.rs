//! Reads connection links — full (`simplex:/invitation#/?…`, `simplex:/contact#/?…`, and their
//! `https://host/…` forms), short (`https://host/{i,a,g,c}#…`, `simplex:/a#…?h=…`) — and
//! `smp://` queue URIs from standard input, one per line, and prints each in the reference's
//! canonical form, or `error: …` for a line it rejects.
//!
//! `cargo run --release --example link < links.txt`

use std::io::{self, BufRead, Write};

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
        match agent_proto::reencode_link(line) {
            Ok(s) => writeln!(out, "{s}")?,
            Err(e) => writeln!(out, "error: {e}")?,
        }
    }
    Ok(())
}
