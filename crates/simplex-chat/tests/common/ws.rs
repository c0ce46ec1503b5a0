//! A WebSocket client of the bot API for the tests (`tokio-tungstenite`), and the
//! `simplex-chat -p 0` processes it talks to.

use std::collections::VecDeque;
use std::process::Child;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{chat_command, prefix, ChatProc};

/// How long one response or event may take.
pub const WAIT: Duration = Duration::from_secs(60);

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of the bot API: responses by `corrId`, events kept in order.
pub struct Client {
    pub ws: Ws,
    pub next: u64,
    pub events: VecDeque<Value>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect to the bot API");
        Client {
            ws,
            next: 0,
            events: VecDeque::new(),
        }
    }

    /// The next frame, as JSON (text frames only).
    pub async fn frame(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("connection open")
                .expect("frame");
            match m {
                Message::Text(t) => return serde_json::from_str(&t).expect("a JSON frame"),
                Message::Binary(_) => panic!("the server sent a binary frame"),
                _ => {}
            }
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// Sends a command; returns its `resp`, keeping the events that came before it.
    pub async fn cmd(&mut self, cmd: &str) -> Value {
        self.next += 1;
        let id = format!("id-{}", self.next);
        self.send_raw(&json!({"corrId": id, "cmd": cmd, "unknownKey": 1}).to_string())
            .await;
        loop {
            let mut f = self.frame().await;
            let resp = f["resp"].take();
            assert!(resp["type"].is_string(), "every frame has resp.type: {f}");
            match f.get("corrId") {
                Some(c) if c == id.as_str() => return resp,
                Some(other) => panic!("a response for another command: {other}"),
                None => self.events.push_back(resp),
            }
        }
    }

    /// Waits for an event of this type (dropping others before it).
    pub async fn event(&mut self, ty: &str) -> Value {
        while let Some(e) = self.events.pop_front() {
            if e["type"] == ty {
                return e;
            }
        }
        loop {
            let mut f = self.frame().await;
            assert!(f.get("corrId").is_none(), "an event has no corrId key: {f}");
            let e = f["resp"].take();
            if e["type"] == ty {
                return e;
            }
        }
    }
}

/// A `simplex-chat -p 0` process and its WebSocket URL.
pub fn start_api(
    name: &str,
    dir: &std::path::Path,
    relay: &str,
    args: &[&str],
) -> (ChatProc, String) {
    let mut cmd = chat_command(&prefix(dir, name), Some(relay), None);
    cmd.args(["-p", "0"]).args(args);
    let mut p = ChatProc::spawn(name, cmd);
    let line = p.wait_for("the API address", |l| {
        l.starts_with("chat API server listening on ")
    });
    let addr = line
        .trim_start_matches("chat API server listening on ")
        .to_owned();
    (p, format!("ws://{addr}"))
}

pub fn text_of(ev: &Value) -> (&str, &str) {
    let item = &ev["chatItems"][0]["chatItem"];
    (
        item["content"]["type"].as_str().unwrap_or_default(),
        item["content"]["msgContent"]["text"]
            .as_str()
            .unwrap_or_default(),
    )
}

/// A child process killed with the test.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
