//! The `xftp-server` binary: the operator's command line over the `xftp_server` library.

use std::io::IsTerminal;

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = xftp_server::cli::Cli::parse();
    if let Err(e) = xftp_server::cli::main(cli).await {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
