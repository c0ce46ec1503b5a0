//! Connects two agents through one SMP server, exchanges messages both ways and prints each
//! event, one per line.
//!
//! ```text
//! cargo run --release --example two_agents -- smp://<fingerprint>@<host>[:port]
//! ```

use std::time::Duration;

use simplex_agent::{Agent, AgentConfig, AgentEvent, Event, SqliteStore};
use simplex_encoding::string::base64url_encode;
use smp_proto::SmpServer;
use tokio::sync::mpsc::UnboundedReceiver;

fn show(who: &str, e: &AgentEvent) {
    let conn = base64url_encode(&e.conn_id);
    let what = match &e.event {
        Event::Conf { conn_info, .. } => format!("CONF {}", String::from_utf8_lossy(conn_info)),
        Event::Info(i) => format!("INFO {}", String::from_utf8_lossy(i)),
        Event::Con => "CON".into(),
        Event::Sent(id) => format!("SENT {id}"),
        Event::Msg { meta, body } => format!(
            "MSG {} {} {}",
            meta.msg_id,
            meta.integrity,
            String::from_utf8_lossy(body)
        ),
        Event::Rcvd { meta, receipts } => {
            let ids: Vec<String> = receipts
                .iter()
                .map(|r| format!("{} {:?}", r.msg_id, r.status))
                .collect();
            format!("RCVD {} {}", meta.msg_id, ids.join(" "))
        }
        Event::Merr(id, e) => format!("MERR {id} {e}"),
        Event::QCont => "QCONT".into(),
        Event::End => "END".into(),
        Event::Down(s, c) => format!("DOWN {s} {}", c.len()),
        Event::Up(s, c) => format!("UP {s} {}", c.len()),
        Event::Req { conn_info, .. } => format!("REQ {}", String::from_utf8_lossy(conn_info)),
        Event::Err(e) => format!("ERR {e}"),
        other => format!("{other:?}"),
    };
    println!("{who} {conn} {what}");
}

async fn next(who: &str, rx: &mut UnboundedReceiver<AgentEvent>) -> Result<AgentEvent, String> {
    let e = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .map_err(|_| format!("{who}: no event in 30 s"))?
        .ok_or_else(|| format!("{who}: agent stopped"))?;
    show(who, &e);
    Ok(e)
}

async fn run(server: SmpServer) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let start = |name: &'static str| {
        let path = dir.path().join(format!("{name}.db"));
        let server = server.clone();
        async move {
            let store = SqliteStore::open(&path, name).map_err(|e| e.to_string())?;
            Agent::start(AgentConfig::new(vec![server]), Box::new(store))
                .await
                .map_err(|e| e.to_string())
        }
    };
    let (alice, mut a_rx) = start("alice").await?;
    let (bob, mut b_rx) = start("bob").await?;
    let (a_conn, link) = alice.create_connection().await.map_err(|e| e.to_string())?;
    println!("alice link {link}");
    let b_conn = bob
        .join_connection(&link, b"bob")
        .await
        .map_err(|e| e.to_string())?;
    let conf = next("alice", &mut a_rx).await?;
    let Event::Conf { conf_id, .. } = conf.event else {
        return Err("expected CONF".into());
    };
    alice
        .allow_connection(&conf_id, b"alice")
        .await
        .map_err(|e| e.to_string())?;
    next("bob", &mut b_rx).await?;
    next("bob", &mut b_rx).await?;
    next("alice", &mut a_rx).await?;
    let peers = [
        ("alice", &alice, &a_conn, "bob", &bob, &b_conn),
        ("bob", &bob, &b_conn, "alice", &alice, &a_conn),
    ];
    for i in 0..3 {
        for (sn, s, sc, rn, r, rc) in peers {
            let body = format!("hello {i} from {sn}");
            s.send_message(sc, body.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let (s_rx, r_rx) = if sn == "alice" {
                (&mut a_rx, &mut b_rx)
            } else {
                (&mut b_rx, &mut a_rx)
            };
            let e = next(rn, r_rx).await?;
            if let Event::Msg { meta, .. } = e.event {
                r.ack_message(rc, meta.msg_id, Some(b""))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            // SENT and RCVD; the receipt is acknowledged like a message.
            for _ in 0..2 {
                if let Event::Rcvd { meta, .. } = next(sn, s_rx).await?.event {
                    s.ack_message(sc, meta.msg_id, None)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    alice.stop().await;
    bob.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: two_agents <smp://fingerprint@host[:port]>");
        std::process::exit(2);
    };
    let server = match SmpServer::parse_str(addr.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bad server address: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(server).await {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
