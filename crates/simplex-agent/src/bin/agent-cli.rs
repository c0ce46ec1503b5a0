//! `agent-cli`: one agent on one database, driven by commands on stdin, printing command
//! results and events on stdout, one per line. Made for tests that run agents as separate
//! processes (and kill them), and for trying the agent by hand.
//!
//! ```text
//! agent-cli --db PATH --server smp://<fingerprint>@<host>[:port] [--server …] [--passphrase P]
//!           [--smp-proxy always|unknown|unprotected|never] [--smp-proxy-fallback yes|protected|no]
//!           [--socks-proxy [user:pass@|@]host:port]
//! ```
//!
//! The private routing options take the reference's values; their defaults are the agent's
//! (`never`, `yes`).
//!
//! Connection, confirmation and invitation IDs are base64url. Commands (the last argument
//! takes the rest of the line):
//!
//! ```text
//! create                     → CREATED <conn> <link>
//! join <link> <info>         → JOINED <conn>
//! allow <conf> <info>        → OK allow
//! address                    → ADDRESS <conn> <link>
//! accept <inv> <info>        → ACCEPTED <conn>
//! reject <inv>               → OK reject
//! send <conn> <body>         → MSGID <conn> <msg id>
//! ack <conn> <msg id>        → OK ack <conn> <msg id>
//! ackr <conn> <msg id> <rcpt info>  (the same, with a delivery receipt)
//! sub <conn> | suspend <conn> | delete <conn>  → OK <command>
//! ids                        → IDS <conn>…
//! servers                    → SERVERS <server>…  (open connections)
//! proxied                    → PROXIED <proxy>><relay>…  (proxied sessions)
//! quit                       (stops the agent and exits; so does the end of stdin)
//! ```
//!
//! A failed command prints `CMDERR <command> <error>`. Events print as
//! `EV <conn or -> <event> …`: `CONF <conf> <info>`, `INFO <info>`, `CON`, `SENT <id>`,
//! `MSG <msg id> <sender's id> <integrity, spaces as ':'> <body>`,
//! `RCVD <receipt's msg id> <id> OK|BAD [<id> OK|BAD]…` (acknowledge it with `ack`),
//! `MERR <id> <error>`, `MWARN <id> <error>`, `QCONT`, `END`, `DOWN <server> <conn>…`, `UP <server> <conn>…`,
//! `REQ <inv> <info>`, `ERR <error>` (`ERR A_DUPLICATE` for a message received again).

use std::io::Write;
use std::path::PathBuf;

use simplex_agent::{
    Agent, AgentConfig, AgentEvent, Event, MsgReceiptStatus, SmpProxyFallback, SmpProxyMode,
    SqliteStore,
};
use simplex_encoding::string::{base64url_decode, base64url_encode};
use smp_proto::address::SmpServerWithAuth;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Prints one line and flushes it, so that a reader sees it at once.
fn out(line: &str) {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let _ = writeln!(lock, "{line}");
    let _ = lock.flush();
}

fn id(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "-".into()
    } else {
        base64url_encode(bytes)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\n', " ")
}

fn show(e: &AgentEvent) -> String {
    let what = match &e.event {
        Event::Conf {
            conf_id, conn_info, ..
        } => format!("CONF {} {}", id(conf_id), text(conn_info)),
        Event::Info(i) => format!("INFO {}", text(i)),
        Event::Con => "CON".into(),
        Event::Sent(m) => format!("SENT {m}"),
        Event::Msg { meta, body } => format!(
            "MSG {} {} {} {}",
            meta.msg_id,
            meta.snd_msg_id,
            meta.integrity.to_string().replace(' ', ":"),
            text(body)
        ),
        Event::Rcvd { meta, receipts } => {
            let mut line = format!("RCVD {}", meta.msg_id);
            for r in receipts {
                let status = match r.status {
                    MsgReceiptStatus::Ok => "OK",
                    _ => "BAD",
                };
                line.push_str(&format!(" {} {status}", r.msg_id));
            }
            line
        }
        Event::Merr(m, err) => format!("MERR {m} {err}"),
        Event::Mwarn(m, err) => format!("MWARN {m} {err}"),
        Event::QCont => "QCONT".into(),
        Event::End => "END".into(),
        Event::Down(s, conns) | Event::Up(s, conns) => {
            let tag = if matches!(e.event, Event::Down(..)) {
                "DOWN"
            } else {
                "UP"
            };
            let ids: Vec<String> = conns.iter().map(|c| id(c)).collect();
            format!("{tag} {s} {}", ids.join(" ")).trim_end().to_owned()
        }
        Event::Req { inv_id, conn_info } => format!("REQ {} {}", id(inv_id), text(conn_info)),
        Event::Duplicate { .. } => "ERR A_DUPLICATE".into(),
        Event::Err(err) => format!("ERR {err}"),
        other => format!("OTHER {other:?}"),
    };
    format!("EV {} {what}", id(&e.conn_id))
}

struct Args {
    db: PathBuf,
    servers: Vec<SmpServerWithAuth>,
    passphrase: String,
    smp_proxy: SmpProxyMode,
    smp_proxy_fallback: SmpProxyFallback,
    socks_proxy: Option<simplex_agent::SocksProxy>,
}

/// What `--help` prints: the options and the commands read from standard input.
const HELP: &str = "\
agent-cli: one SimpleX agent on one database, driven by commands on standard input;
command results and events are printed on standard output, one per line.

usage: agent-cli --db PATH --server smp://<fingerprint>[:<password>]@<host>[:<port>] [--server ...]
                 [--passphrase P] [--smp-proxy always|unknown|unprotected|never]
                 [--smp-proxy-fallback yes|protected|no] [--socks-proxy SOCKS5]
       agent-cli --help

options:
  --db PATH                the agent's database (created when absent)
  --server ADDRESS         an SMP server for new queues (repeat for more)
  --passphrase P           the database passphrase (default: agent-cli)
  --smp-proxy MODE         private message routing: always, unknown, unprotected, never (default)
  --smp-proxy-fallback M   when a proxy fails: yes (default), protected, no
  --socks-proxy SOCKS5     every relay connection through this SOCKS5 proxy (Tor:
                           127.0.0.1:9050), relay names unresolved, a username per session
  -h, --help               print this help and exit

commands (IDs are base64url; the last argument takes the rest of the line):
  create                   create an invitation       -> CREATED <conn> <link>
  join <link> <info>       join an invitation or address -> JOINED <conn>
  allow <conf> <info>      allow a confirmation       -> OK allow
  address                  create a contact address   -> ADDRESS <conn> <link>
  accept <inv> <info>      accept a request           -> ACCEPTED <conn>
  reject <inv>             reject a request           -> OK reject
  send <conn> <body>       send a message             -> MSGID <conn> <msg id>
  ack <conn> <msg id>      acknowledge a message      -> OK ack <conn> <msg id>
  ackr <conn> <msg id> <receipt info>  the same, with a delivery receipt
  sub <conn> | suspend <conn> | delete <conn>         -> OK <command>
  ids                      connection IDs             -> IDS <conn>...
  servers                  open server connections    -> SERVERS <server>...
  proxied                  proxied sessions           -> PROXIED <proxy>><relay>...
  quit                     stop the agent and exit (so does the end of standard input)

A failed command prints CMDERR <command> <error>; events print as EV <conn or -> <event> ...
";

fn parse_args() -> Result<Option<Args>, String> {
    let mut db = None;
    let mut servers = Vec::new();
    let mut passphrase = "agent-cli".to_owned();
    let mut smp_proxy = SmpProxyMode::Never;
    let mut smp_proxy_fallback = SmpProxyFallback::Allow;
    let mut socks_proxy = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--db" => db = Some(PathBuf::from(value()?)),
            "--server" => {
                let v = value()?;
                // `smp://key[:password]@host`: the password is not repeated in errors.
                let shown = v.split_once('@').map_or(v.as_str(), |(_, h)| h).to_owned();
                servers.push(
                    SmpServerWithAuth::parse_str(v.as_bytes())
                        .map_err(|e| format!("bad server address (…@{shown}): {e}"))?,
                );
            }
            "--passphrase" => passphrase = value()?,
            "--smp-proxy" => {
                let v = value()?;
                smp_proxy = SmpProxyMode::parse(&v).ok_or(format!("bad SMP proxy mode {v}"))?;
            }
            "--smp-proxy-fallback" => {
                let v = value()?;
                smp_proxy_fallback = SmpProxyFallback::parse(&v)
                    .ok_or(format!("bad SMP proxy fallback mode {v}"))?;
            }
            "--socks-proxy" => {
                let v = value()?;
                socks_proxy = Some(simplex_agent::SocksProxy::parse(&v)?);
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(Args {
        db: db.ok_or("--db is required")?,
        servers,
        passphrase,
        smp_proxy,
        smp_proxy_fallback,
        socks_proxy,
    }))
}

fn decode_id(s: &str) -> Result<Vec<u8>, String> {
    base64url_decode(s.as_bytes()).map_err(|_| format!("bad ID {s}"))
}

/// Runs one command line; `Ok(None)` means quit.
async fn command(agent: &Agent, line: &str) -> Result<Option<String>, String> {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let (arg1, rest1) = rest.split_once(' ').unwrap_or((rest, ""));
    let err = |e: simplex_agent::AgentError| e.to_string();
    let reply = match cmd {
        "create" => {
            let (c, link) = agent.create_connection().await.map_err(err)?;
            format!("CREATED {} {link}", id(&c))
        }
        "join" => {
            let c = agent
                .join_connection(arg1, rest1.as_bytes())
                .await
                .map_err(err)?;
            format!("JOINED {}", id(&c))
        }
        "allow" => {
            agent
                .allow_connection(&decode_id(arg1)?, rest1.as_bytes())
                .await
                .map_err(err)?;
            "OK allow".into()
        }
        "address" => {
            let (c, link) = agent.create_contact_address().await.map_err(err)?;
            format!("ADDRESS {} {link}", id(&c))
        }
        "accept" => {
            let c = agent
                .accept_contact(&decode_id(arg1)?, rest1.as_bytes())
                .await
                .map_err(err)?;
            format!("ACCEPTED {}", id(&c))
        }
        "reject" => {
            agent.reject_contact(&decode_id(arg1)?).await.map_err(err)?;
            "OK reject".into()
        }
        "send" => {
            let m = agent
                .send_message(&decode_id(arg1)?, rest1.as_bytes())
                .await
                .map_err(err)?;
            format!("MSGID {arg1} {m}")
        }
        "ack" | "ackr" => {
            let (n, info) = rest1.split_once(' ').unwrap_or((rest1, ""));
            let m: i64 = n.parse().map_err(|_| format!("bad message ID {n}"))?;
            let receipt = (cmd == "ackr").then_some(info.as_bytes());
            agent
                .ack_message(&decode_id(arg1)?, m, receipt)
                .await
                .map_err(err)?;
            format!("OK ack {arg1} {m}")
        }
        "sub" => {
            agent
                .subscribe_connections(&[decode_id(arg1)?])
                .await
                .map_err(err)?;
            "OK sub".into()
        }
        "suspend" => {
            agent
                .suspend_connection(&decode_id(arg1)?)
                .await
                .map_err(err)?;
            "OK suspend".into()
        }
        "delete" => {
            agent
                .delete_connection(&decode_id(arg1)?)
                .await
                .map_err(err)?;
            "OK delete".into()
        }
        "ids" => {
            let ids: Vec<String> = agent
                .connection_ids()
                .await
                .map_err(err)?
                .iter()
                .map(|c| id(c))
                .collect();
            format!("IDS {}", ids.join(" ")).trim_end().to_owned()
        }
        "servers" => {
            let s: Vec<String> = agent
                .connected_servers()
                .await
                .iter()
                .map(|s| s.to_string())
                .collect();
            format!("SERVERS {}", s.join(" ")).trim_end().to_owned()
        }
        "proxied" => {
            let s: Vec<String> = agent
                .proxied_relays()
                .await
                .iter()
                .map(|(p, r)| format!("{p}>{r}"))
                .collect();
            format!("PROXIED {}", s.join(" ")).trim_end().to_owned()
        }
        "quit" => return Ok(None),
        other => return Err(format!("unknown command {other}")),
    };
    Ok(Some(reply))
}

async fn run(args: Args) -> Result<(), String> {
    let store = SqliteStore::open(&args.db, &args.passphrase).map_err(|e| e.to_string())?;
    let mut config = AgentConfig::with_auth(args.servers);
    config.smp_proxy_mode = args.smp_proxy;
    config.smp_proxy_fallback = args.smp_proxy_fallback;
    config.socks_proxy = args.socks_proxy;
    let (agent, mut events) = Agent::start(config, Box::new(store))
        .await
        .map_err(|e| e.to_string())?;
    let printer = tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            out(&show(&e));
        }
    });
    out("READY");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let cmd = line.split(' ').next().unwrap_or("");
        match command(&agent, line).await {
            Ok(Some(reply)) => out(&reply),
            Ok(None) => break,
            Err(e) => out(&format!("CMDERR {cmd} {e}")),
        }
    }
    agent.stop().await;
    printer.abort();
    Ok(())
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return;
        }
        Err(e) => {
            eprintln!("agent-cli: {e}");
            eprintln!(
                "usage: agent-cli --db PATH --server smp://<fingerprint>@<host>[:port] [--passphrase P] (agent-cli --help for more)"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("agent-cli: {e}");
        std::process::exit(1);
    }
}
