//! The WebSocket server of the bot API (the reference's `apps/simplex-chat/Server.hs`).
//!
//! - One JSON object per text frame. A request `{"corrId":"…","cmd":"…"}` (both strings,
//!   other keys ignored; a binary frame holding JSON is read too) is answered
//!   `{"corrId":"…","resp":{…}}`; events are `{"resp":{…}}` without a `corrId` key. A
//!   frame that is not such a request is answered with the `invalid request` command error,
//!   without a `corrId`.
//! - The commands of one connection run one at a time, in the order they came, while
//!   events keep flowing to it (a reader, a command worker and a writer per connection).
//! - Events go to every connected client (the reference hands each event to one of its
//!   clients; with one bot, as usual, it is the same). While no client is connected they
//!   are kept, up to [`BACKLOG`], for the next one.
//! - Loopback only by default. Another address needs a token, which the WebSocket upgrade
//!   request must carry (`Authorization: Bearer TOKEN`, or `?token=TOKEN` in the path);
//!   without it the upgrade is refused (401).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use super::errors::ChatError;
use super::response::{ApiFrame, ApiRequest, ChatResponse};
use crate::chat::Output;

/// Events kept while no client is connected.
pub const BACKLOG: usize = 1000;

/// A command from a client, waiting for its response.
#[derive(Debug)]
pub struct PendingCommand {
    /// The command line.
    pub cmd: String,
    /// Where its response goes.
    pub reply: oneshot::Sender<ChatResponse>,
}

#[derive(Debug, Default)]
struct HubState {
    clients: Vec<mpsc::UnboundedSender<String>>,
    backlog: VecDeque<String>,
}

/// Hands events to the connected clients.
#[derive(Debug, Clone, Default)]
pub struct EventHub(Arc<Mutex<HubState>>);

impl EventHub {
    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        // A panic while holding this lock cannot leave the lists half-changed: take them.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an event frame to every client, or keeps it for the next one.
    pub fn publish(&self, frame: String) {
        let mut st = self.state();
        st.clients.retain(|c| !c.is_closed());
        if st.clients.is_empty() {
            if st.backlog.len() >= BACKLOG {
                st.backlog.pop_front();
            }
            st.backlog.push_back(frame);
            return;
        }
        for c in &st.clients {
            let _ = c.send(frame.clone());
        }
    }

    fn register(&self, tx: mpsc::UnboundedSender<String>) {
        let mut st = self.state();
        for f in st.backlog.drain(..) {
            let _ = tx.send(f);
        }
        st.clients.push(tx);
    }
}

/// The output of a chat serving the API: lines are dropped (the terminal's text is not
/// shown or logged: it holds contacts' messages), records become events.
#[derive(Debug, Clone)]
pub struct ApiOutput {
    hub: EventHub,
}

impl ApiOutput {
    /// Events go to this hub.
    pub fn new(hub: EventHub) -> Self {
        ApiOutput { hub }
    }
}

impl Output for ApiOutput {
    fn lines(&mut self, _lines: &[String]) {}

    fn structured(&self) -> bool {
        true
    }

    fn record(&mut self, r: ChatResponse) {
        let frame = ApiFrame {
            corr_id: None,
            resp: &r,
        };
        self.hub.publish(frame.to_json());
    }
}

/// Where the server listens and who may connect.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address (loopback unless `--api-bind`).
    pub addr: SocketAddr,
    /// The token required in the upgrade request (required off loopback).
    pub token: Option<String>,
}

/// Starts listening; connections are served in the background, their commands sent to
/// `commands`. Returns the address bound (port 0 picks one).
pub async fn start(
    config: ServerConfig,
    hub: EventHub,
    commands: mpsc::Sender<PendingCommand>,
) -> std::io::Result<SocketAddr> {
    if !config.addr.ip().is_loopback() && config.token.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "serving another address than loopback needs --api-token",
        ));
    }
    let listener = TcpListener::bind(config.addr).await?;
    let local = listener.local_addr()?;
    let token = config.token.map(Arc::new);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors, say: try again a little later.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let (hub, commands, token) = (hub.clone(), commands.clone(), token.clone());
            tokio::spawn(async move {
                serve(stream, hub, commands, token).await;
            });
        }
    });
    Ok(local)
}

/// Same bytes, in time independent of where they differ.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the upgrade request carries the token.
fn authorized(req: &Request, token: &str) -> bool {
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let query = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    [bearer, query]
        .into_iter()
        .flatten()
        .any(|t| same_token(t.as_bytes(), token.as_bytes()))
}

fn refused() -> ErrorResponse {
    let mut r = ErrorResponse::new(Some("a valid token is required".to_owned()));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// The frame answering a request that is not one.
pub fn invalid_request() -> String {
    let resp = ChatResponse::from(ChatError::command("invalid request"));
    ApiFrame {
        corr_id: None,
        resp: &resp,
    }
    .to_json()
}

/// Serves one client until it goes.
// The upgrade callback's error type is tungstenite's HTTP response: large, not ours to box.
#[allow(clippy::result_large_err)]
async fn serve(
    stream: TcpStream,
    hub: EventHub,
    commands: mpsc::Sender<PendingCommand>,
    token: Option<Arc<String>>,
) {
    let check = |req: &Request, resp: Response| match &token {
        Some(t) if !authorized(req, t) => Err(refused()),
        _ => Ok(resp),
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    println!("client connected");
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    // Commands of this client, run in order by one worker.
    let (queue_tx, mut queue_rx) = mpsc::unbounded_channel::<ApiRequest>();
    let worker_out = out_tx.clone();
    let worker = tokio::spawn(async move {
        while let Some(req) = queue_rx.recv().await {
            let (reply, rx) = oneshot::channel();
            let sent = commands
                .send(PendingCommand {
                    cmd: req.cmd,
                    reply,
                })
                .await;
            let resp = match (sent, rx.await) {
                (Ok(()), Ok(r)) => r,
                _ => break,
            };
            let frame = ApiFrame {
                corr_id: Some(&req.corr_id),
                resp: &resp,
            };
            if worker_out.send(frame.to_json()).is_err() {
                break;
            }
        }
    });
    hub.register(out_tx.clone());
    while let Some(msg) = source.next().await {
        let bytes = match msg {
            Ok(Message::Text(t)) => t.as_bytes().to_vec(),
            Ok(Message::Binary(b)) => b.to_vec(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        match serde_json::from_slice::<ApiRequest>(&bytes) {
            Ok(req) => {
                if queue_tx.send(req).is_err() {
                    break;
                }
            }
            Err(_) => {
                let _ = out_tx.send(invalid_request());
            }
        }
    }
    drop(queue_tx);
    worker.abort();
    drop(out_tx);
    writer.abort();
}

/// A command before a user exists: the profile to create, or the response (the reference
/// answers `noActiveUser` to what needs a user).
pub fn before_user(cmd: &str) -> Result<crate::protocol::Profile, Box<ChatResponse>> {
    use super::command::{parse_api, ApiCommand};
    use super::errors::ChatErrorType;
    let answer = |r: ChatResponse| Err(Box::new(r));
    match parse_api(cmd) {
        Some(Ok(ApiCommand::CreateActiveUser(nu))) => match nu.profile {
            Some(p) if valid_display_name(&p.display_name) => Ok(p),
            Some(p) => answer(
                ChatError::chat(ChatErrorType::InvalidDisplayName {
                    valid_name: p
                        .display_name
                        .trim_start_matches(['@', '#'])
                        .replace('\'', ""),
                    display_name: p.display_name,
                })
                .into(),
            ),
            None => answer(ChatError::command("a profile is required").into()),
        },
        Some(Ok(ApiCommand::Version)) => answer(ChatResponse::VersionInfo {
            version_info: super::response::CoreVersionInfo::current(),
            chat_migrations: Vec::new(),
            agent_migrations: Vec::new(),
        }),
        Some(Err(message)) => answer(ChatError::command(message).into()),
        _ => answer(ChatError::chat(ChatErrorType::NoActiveUser).into()),
    }
}

/// A display name the console's commands can address: not empty, not starting with `@`
/// or `#`, without `'`.
pub fn valid_display_name(s: &str) -> bool {
    !s.trim().is_empty() && !s.starts_with(['@', '#']) && !s.contains('\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"secret", b"secret"));
        assert!(!same_token(b"secret", b"secreT"));
        assert!(!same_token(b"secret", b"secret2"));
        assert!(!same_token(b"", b"x"));
    }

    #[test]
    fn events_wait_for_a_client() {
        let hub = EventHub::default();
        for i in 0..BACKLOG + 2 {
            hub.publish(i.to_string());
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        hub.register(tx);
        // The oldest two were dropped.
        assert_eq!(rx.try_recv().ok().as_deref(), Some("2"));
        hub.publish("new".into());
        let mut last = None;
        while let Ok(f) = rx.try_recv() {
            last = Some(f);
        }
        assert_eq!(last.as_deref(), Some("new"));
    }
}
