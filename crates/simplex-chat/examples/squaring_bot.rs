//! A bot for `simplex-chat -p PORT`, written against the bot API as a bot author would
//! (the reference's `squaring-bot` example): it answers a number with its square.
//!
//! ```text
//! simplex-chat -p 5225 --create-bot-display-name squaring_bot -s smp://…
//! cargo run -p simplex-chat --example squaring_bot -- ws://127.0.0.1:5225
//! ```
//!
//! It makes sure there is a user, an address (printed) and auto-accept with a welcome
//! message, then answers every text message a contact sends.

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client: commands with their correlation IDs, events kept until asked for.
struct Client {
    ws: Ws,
    next_id: u64,
    events: VecDeque<Value>,
}

impl Client {
    async fn connect(url: &str) -> Result<Client, String> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        Ok(Client {
            ws,
            next_id: 0,
            events: VecDeque::new(),
        })
    }

    async fn frame(&mut self) -> Result<Value, String> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(&t).map_err(|e| format!("bad frame: {e}"))
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("connection closed".to_owned()),
            }
        }
    }

    /// Sends a command and waits for its response (`resp`).
    async fn command(&mut self, cmd: &str) -> Result<Value, String> {
        self.next_id += 1;
        let corr_id = self.next_id.to_string();
        let req = json!({ "corrId": corr_id, "cmd": cmd }).to_string();
        self.ws
            .send(Message::text(req))
            .await
            .map_err(|e| format!("send failed: {e}"))?;
        loop {
            let mut f = self.frame().await?;
            match f.get("corrId").and_then(Value::as_str) {
                Some(id) if id == corr_id => return Ok(f["resp"].take()),
                Some(_) => {}
                None => self.events.push_back(f["resp"].take()),
            }
        }
    }

    /// The next event.
    async fn event(&mut self) -> Result<Value, String> {
        if let Some(e) = self.events.pop_front() {
            return Ok(e);
        }
        let mut f = self.frame().await?;
        Ok(f["resp"].take())
    }
}

fn is_error(resp: &Value, chat_error: &str, inner: &str) -> bool {
    resp["type"] == "chatCmdError"
        && resp["chatError"]["type"] == chat_error
        && (resp["chatError"]["errorType"]["type"] == inner
            || resp["chatError"]["storeError"]["type"] == inner)
}

/// The reply to a message: its square, or why there is none.
fn reply(text: &str) -> String {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() => format!("{n} * {n} = {}", n * n),
        _ => "this is not a number".to_owned(),
    }
}

async fn run(url: &str) -> Result<(), String> {
    let mut c = Client::connect(url).await?;
    let mut user = c.command("/user").await?;
    if is_error(&user, "error", "noActiveUser") {
        let profile =
            json!({"profile": {"displayName": "squaring_bot", "fullName": "", "peerType": "bot"}});
        user = c.command(&format!("/_create user {profile}")).await?;
    }
    let user_id = user["user"]["userId"]
        .as_i64()
        .ok_or_else(|| format!("no user: {user}"))?;
    let mut address = c.command(&format!("/_show_address {user_id}")).await?;
    if is_error(&address, "errorStore", "userContactLinkNotFound") {
        let created = c.command(&format!("/_address {user_id}")).await?;
        if created["type"] != "userContactLinkCreated" {
            return Err(format!("cannot create the address: {created}"));
        }
        address = c.command(&format!("/_show_address {user_id}")).await?;
    }
    let settings = json!({
        "businessAddress": false,
        "autoAccept": {"acceptIncognito": false},
        "autoReply": {"type": "text", "text": "Hello! I am a simple squaring bot - if you send me a number, I will calculate its square"},
    });
    let updated = c
        .command(&format!("/_address_settings {user_id} {settings}"))
        .await?;
    if updated["type"] != "userContactLinkUpdated" {
        return Err(format!("cannot turn auto-accept on: {updated}"));
    }
    let link = &address["contactLink"]["connLinkContact"];
    let shown = link["connShortLink"]
        .as_str()
        .or(link["connFullLink"].as_str());
    println!("Bot's contact address is: {}", shown.unwrap_or("?"));
    loop {
        let ev = c.event().await?;
        match ev["type"].as_str() {
            Some("contactConnected") => {
                println!("{} connected", ev["contact"]["profile"]["displayName"]);
            }
            Some("newChatItems") => {
                for ci in ev["chatItems"].as_array().into_iter().flatten() {
                    let content = &ci["chatItem"]["content"];
                    if ci["chatInfo"]["type"] != "direct" || content["type"] != "rcvMsgContent" {
                        continue;
                    }
                    let Some(contact_id) = ci["chatInfo"]["contact"]["contactId"].as_i64() else {
                        continue;
                    };
                    let text = content["msgContent"]["text"].as_str().unwrap_or_default();
                    let msg = json!([{"msgContent": {"type": "text", "text": reply(text)}}]);
                    let sent = c
                        .command(&format!("/_send @{contact_id} json {msg}"))
                        .await?;
                    if sent["type"] != "newChatItems" {
                        eprintln!("reply not sent: {sent}");
                    }
                }
            }
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:5225".to_owned());
    if let Err(e) = run(&url).await {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
