//! `xftp`: sending and receiving files through XFTP relays from the command line, as the
//! reference's `xftp` (`Client/Main.hs`): `send`, `recv`, `del`, `info`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use simplex_transport::socks::SocksProxy;
use smp_proto::BasicAuth;
use xftp_client::download::unique_path;
use xftp_client::{ClientConfig, ClientError, DownloadOptions, Progress, UploadOptions};
use xftp_proto::description::split_descriptions;
use xftp_proto::uri::encode_web_uri;
use xftp_proto::{file_size_str, FileDescription, FileParty, XftpServer};

/// The reference apps' preset file relays (`defaultXFTPServers`).
const DEFAULT_SERVERS: &[&str] = &[
    "xftp://da1aH3nOT-9G8lV7bWamhxpDYdJ1xmW7j3JpGaDR5Ug=@xftp1.simplex.im,blisztokwh6alt5oem45f2eksm2xdowxszmhjesntcyolmhutoon7sid.onion",
    "xftp://5vog2Imy1ExJB_7zDZrkV1KDWi96jYFyy9CL6fndBVw=@xftp2.simplex.im,jk6jybnel5hin2am5omd7g3hyvb4tfkyl7ea4vx5ldi7gpvz5ogqtcqd.onion",
    "xftp://PYa32DdYNFWi0uZZOprWQoQpIk5qyjRJ3EF7bVpbsn8=@xftp3.simplex.im,pqhchr4bpkzef5wra4hnmzvppn5j5mjrpzkh5ixx6mhylnxxd6lmwnad.onion",
    "xftp://k_GgQl40UZVV0Y4BX9ZTyMVqX5ZewcLW0waQIl7AYDE=@xftp4.simplex.im,q2lrjgiyo2efyweksavwxh3dlsrxetaxjztde2x5nateugrtrwzvmdid.onion",
    "xftp://-bIo6o8wuVc4wpZkZD3tH-rCeYaeER_0lz1ffQcSJDs=@xftp5.simplex.im,2kikdbdhlrluburwt6q6rnoxvezcm2ifx2hj463jlunkeftlzm7hf3qd.onion",
    "xftp://6nSvtY9pJn6PXWTAIMNl95E1Kk1vD7FM2TeOA64CFLg=@xftp6.simplex.im,tg3fmu6houq7vfqlsipm2qqzhtpgxesnuydqozx3khojxydhs53sbbyd.onion",
];

#[derive(Debug, Parser)]
#[command(name = "xftp", about = "SimpleX XFTP client (simplex-rs)", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Use local SOCKS5 proxy at :9050 (not in the reference's xftp)
    #[arg(short = 'x', global = true, conflicts_with = "socks_proxy")]
    tor: bool,
    /// Use SOCKS5 proxy at `ipv4:port` or `:port` (`user:password@…` or `@…` as the chat's);
    /// each relay gets its own username, relay names are sent to the proxy unresolved
    #[arg(long = "socks-proxy", value_name = "SOCKS5", global = true, value_parser = SocksProxy::parse)]
    socks_proxy: Option<SocksProxy>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send file
    Send {
        /// File to send
        file: PathBuf,
        /// Directory to save file descriptions (default: current directory)
        dir: Option<PathBuf>,
        /// Number of recipients
        #[arg(short = 'n', default_value_t = 1)]
        recipients: usize,
        /// Semicolon-separated list of XFTP server(s) to use
        #[arg(short = 's', long = "servers", value_parser = parse_servers)]
        servers: Option<Servers>,
        /// Number of network retries
        #[arg(short = 'r', long = "retry", default_value_t = 3)]
        retry: usize,
        /// Directory for temporary encrypted file (default: system temp directory)
        #[arg(long = "tmp")]
        tmp: Option<PathBuf>,
        /// Verbose output
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// Receive file
    Recv {
        /// File description file
        description: PathBuf,
        /// Directory to save file (default: ~/Downloads)
        dir: Option<PathBuf>,
        /// Number of network retries
        #[arg(short = 'r', long = "retry", default_value_t = 3)]
        retry: usize,
        /// Verbose output
        #[arg(short = 'v', long)]
        verbose: bool,
        /// Yes to questions
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Delete file from server(s)
    Del {
        /// File description file
        description: PathBuf,
        /// Yes to questions
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Show file description
    Info {
        /// File description file
        description: PathBuf,
    },
}

/// `-s`: relays separated by `;`, each possibly with its password for new files
/// (`xftp://<fingerprint>:<password>@<hosts>`).
#[derive(Debug, Clone)]
struct Servers(Vec<(XftpServer, Option<BasicAuth>)>);

fn parse_server(a: &str) -> Result<(XftpServer, Option<BasicAuth>), String> {
    let a = a.trim();
    let bad = |e: &dyn std::fmt::Display| format!("{a}: {e}");
    // The password sits between the fingerprint and `@`.
    let (addr, auth) = match a.strip_prefix("xftp://").and_then(|r| r.split_once('@')) {
        Some((cred, hosts)) => match cred.split_once(':') {
            Some((fp, pw)) => {
                let auth = BasicAuth::new(pw.as_bytes()).map_err(|e| bad(&e))?;
                (format!("xftp://{fp}@{hosts}"), Some(auth))
            }
            None => (a.to_owned(), None),
        },
        None => (a.to_owned(), None),
    };
    let server = XftpServer::parse_str(addr.as_bytes()).map_err(|e| bad(&e))?;
    Ok((server, auth))
}

fn parse_servers(s: &str) -> Result<Servers, String> {
    s.split(';')
        .map(parse_server)
        .collect::<Result<Vec<_>, _>>()
        .map(Servers)
}

fn bar(what: &'static str) -> (ProgressBar, Progress) {
    let pb = if std::io::stdout().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{percent:>3}}% [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let p = pb.clone();
    let progress: Progress = Arc::new(move |done, total| {
        p.set_length(total);
        p.set_position(done);
    });
    (pb, progress)
}

fn read_description(path: &Path) -> Result<FileDescription, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut all =
        split_descriptions(&text).map_err(|e| format!("Failed to parse file description: {e}"))?;
    match (all.pop(), all.is_empty()) {
        (Some(d), true) => {
            d.validate().map_err(|e| e.to_string())?;
            Ok(d)
        }
        _ => Err("Failed to parse file description: expected one description".into()),
    }
}

fn explain(e: ClientError) -> String {
    match e {
        ClientError::Relay(xftp_proto::XftpErrorType::Auth) => {
            "relay error: AUTH - the file is not on the relay (expired or deleted) or the key is wrong".into()
        }
        e => e.to_string(),
    }
}

fn confirm_delete(yes: bool, fd: &Path) -> std::io::Result<()> {
    let shown = fd.display();
    if yes {
        std::fs::remove_file(fd)?;
        println!("File description {shown} is deleted.");
        return Ok(());
    }
    loop {
        print!("File description {shown} can't be used again. Delete it (Y/n): ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            return Ok(());
        }
        match line.trim().to_lowercase().as_str() {
            "y" | "" => return std::fs::remove_file(fd),
            "n" => return Ok(()),
            _ => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn send(
    file: PathBuf,
    dir: Option<PathBuf>,
    recipients: usize,
    servers: Option<Servers>,
    retry: usize,
    tmp: Option<PathBuf>,
    config: ClientConfig,
) -> Result<(), String> {
    let servers = match servers {
        Some(s) => s.0,
        None => parse_servers(&DEFAULT_SERVERS.join(";"))?.0,
    };
    let auth = servers
        .iter()
        .filter_map(|(s, a)| a.clone().map(|a| (s.to_string(), a)))
        .collect();
    let servers = servers.into_iter().map(|(s, _)| s).collect();
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or("not a file name")?;
    let mut opts = UploadOptions::new(servers, recipients, tmp.unwrap_or_else(std::env::temp_dir));
    opts.retries = retry;
    opts.auth = auth;
    opts.config = config;
    println!("Encrypting file...");
    let (pb, progress) = bar("Uploaded");
    let sent = xftp_client::upload(&file, &opts, Some(progress))
        .await
        .map_err(explain)?;
    pb.finish_and_clear();
    let out = unique_path(
        &dir.unwrap_or_else(|| PathBuf::from(".")),
        &format!("{name}.xftp"),
    );
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut rcv_paths = Vec::new();
    for (i, d) in sent.recipients.iter().enumerate() {
        let p = out.join(format!("rcv{}.xftp", i + 1));
        std::fs::write(&p, d.to_yaml()).map_err(|e| e.to_string())?;
        rcv_paths.push(p);
    }
    let snd = out.join("snd.xftp.private");
    std::fs::write(&snd, sent.sender.to_yaml()).map_err(|e| e.to_string())?;
    println!("File uploaded!");
    println!("Sender file description: {}", snd.display());
    println!("Pass file descriptions to the recipient(s):");
    for p in &rcv_paths {
        println!("{}", p.display());
    }
    if let Some(d) = sent.recipients.first() {
        let host = d
            .chunks
            .first()
            .and_then(|c| c.replicas.first())
            .and_then(|r| r.server.first_host());
        if let Some(host) = host {
            println!("\nWeb link:\nhttps://{host}/#{}", encode_web_uri(d));
        }
    }
    Ok(())
}

async fn recv(
    description: PathBuf,
    dir: Option<PathBuf>,
    retry: usize,
    yes: bool,
    config: ClientConfig,
) -> Result<(), String> {
    let arg = description.to_string_lossy().into_owned();
    let web_link = arg.starts_with("http://") || arg.starts_with("https://");
    let desc = if web_link {
        let fragment = arg.split_once('#').map(|(_, f)| f).unwrap_or_default();
        if fragment.is_empty() {
            return Err("Invalid URL: no fragment".into());
        }
        xftp_proto::uri::decode_web_uri(fragment).map_err(|e| format!("Invalid web link: {e}"))?
    } else {
        read_description(&description)?
    };
    if desc.party != FileParty::Recipient {
        return Err("file description is not for the recipient".into());
    }
    let dir = match dir {
        Some(d) => d,
        None => {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join("Downloads")
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let opts = DownloadOptions {
        retries: retry,
        config: config.clone(),
        ..DownloadOptions::default()
    };
    println!("Downloading file...");
    let (pb, progress) = bar("Downloaded");
    let path = xftp_client::download(&desc, &dir, &opts, Some(progress))
        .await
        .map_err(explain)?;
    pb.finish_and_clear();
    xftp_client::ack(&desc, &config).await.map_err(explain)?;
    println!("File downloaded: {}", path.display());
    if web_link {
        return Ok(());
    }
    confirm_delete(yes, &description).map_err(|e| e.to_string())
}

async fn del(description: PathBuf, yes: bool, config: ClientConfig) -> Result<(), String> {
    let desc = read_description(&description)?;
    if desc.party != FileParty::Sender {
        return Err("file description is not for the sender".into());
    }
    xftp_client::delete(&desc, &config).await.map_err(explain)?;
    println!("File deleted!");
    confirm_delete(yes, &description).map_err(|e| e.to_string())
}

fn info(description: PathBuf) -> Result<(), String> {
    let desc = read_description(&description)?;
    println!(
        "{}",
        match desc.party {
            FileParty::Recipient => "Recipient file description",
            FileParty::Sender => "Sender file description",
        }
    );
    println!("File download size: {}", file_size_str(desc.size));
    println!("File server(s):");
    // Grouped by relay in the reference's order of servers (`groupReplicasByServer`).
    let mut servers: Vec<(&XftpServer, u64)> = Vec::new();
    for c in &desc.chunks {
        for r in &c.replicas {
            match servers.iter_mut().find(|(k, _)| **k == r.server) {
                Some((_, n)) => *n += u64::from(c.chunk_size),
                None => servers.push((&r.server, u64::from(c.chunk_size))),
            }
        }
    }
    servers.sort_by(|a, b| a.0.ref_cmp(b.0));
    for (s, n) in servers {
        println!("{s}: {}", file_size_str(n));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let verbose = matches!(
        cli.command,
        Command::Send { verbose: true, .. } | Command::Recv { verbose: true, .. }
    );
    if verbose {
        tracing_subscriber_init();
    }
    let config = ClientConfig {
        socks_proxy: match (cli.tor, cli.socks_proxy) {
            (true, _) => Some(SocksProxy::default()),
            (false, p) => p,
        },
        ..ClientConfig::default()
    };
    let r = match cli.command {
        Command::Send {
            file,
            dir,
            recipients,
            servers,
            retry,
            tmp,
            ..
        } => send(file, dir, recipients, servers, retry, tmp, config).await,
        Command::Recv {
            description,
            dir,
            retry,
            yes,
            ..
        } => recv(description, dir, retry, yes, config).await,
        Command::Del { description, yes } => del(description, yes, config).await,
        Command::Info { description } => info(description),
    };
    if let Err(e) = r {
        println!("{e}");
        std::process::exit(1);
    }
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(std::io::stderr)
        .init();
}
