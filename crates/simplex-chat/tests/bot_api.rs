//! The bot API end to end: a relay process, two `simplex-chat -p 0` processes and a
//! WebSocket client (`tokio-tungstenite`) that drives them as bots do: the user made
//! through the API (and the error before it exists), the address with auto-accept,
//! connecting, `contactConnected` on both sides, texts both ways, the error paths (a
//! request that is not JSON, a command that does not parse, a contact that does not
//! exist), and the squaring example bot run with `cargo run --example`.

mod common;

use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::ws::*;
use common::*;
use serde_json::json;

/// Not a test of its own: the relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_and_a_client_connect_and_talk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let (_alice_proc, alice_url) = start_api("alice", dir.path(), &relay.address, &[]);
    let (_bob_proc, bob_url) = start_api(
        "bob",
        dir.path(),
        &relay.address,
        &["--create-bot-display-name", "bob"],
    );
    let mut alice = Client::connect(&alice_url).await;
    let mut bob = Client::connect(&bob_url).await;

    // Before a user exists.
    let r = alice.cmd("/u").await;
    assert_eq!(
        r,
        json!({"type": "chatCmdError", "chatError": {"type": "error", "errorType": {"type": "noActiveUser"}}})
    );
    let r = alice
        .cmd(r#"/_create user {"profile":{"displayName":"alice","fullName":"Alice A"},"sameServers":true,"pastTimestamp":false}"#)
        .await;
    assert_eq!(r["type"], "activeUser", "{r}");
    assert_eq!(r["user"]["userId"], 1);
    assert_eq!(r["user"]["agentUserId"], "1");
    assert_eq!(r["user"]["profile"]["displayName"], "alice");
    let r = bob.cmd("/user").await;
    assert_eq!(r["type"], "activeUser", "{r}");
    assert_eq!(r["user"]["profile"]["peerType"], "bot");

    // Error paths: not JSON, a command that does not parse, a missing contact.
    alice.send_raw("not json").await;
    let f = alice.frame().await;
    assert_eq!(
        f,
        json!({"resp": {"type": "chatCmdError", "chatError": {"type": "error", "errorType": {"type": "commandError", "message": "invalid request"}}}})
    );
    alice.send_raw(r#"{"cmd":"/u"}"#).await;
    assert!(alice.frame().await.get("corrId").is_none());
    let r = alice.cmd("/_send @nobody json []").await;
    assert_eq!(r["type"], "chatCmdError", "{r}");
    assert_eq!(r["chatError"]["errorType"]["type"], "commandError", "{r}");
    let r = alice
        .cmd("/_send @99 json [{\"msgContent\":{\"type\":\"text\",\"text\":\"x\"}}]")
        .await;
    assert_eq!(
        r["chatError"],
        json!({"type": "errorStore", "storeError": {"type": "contactNotFound", "contactId": 99}})
    );
    let r = alice.cmd("/v").await;
    assert_eq!(r["type"], "versionInfo", "{r}");
    assert!(r["versionInfo"]["version"].is_string());

    // Alice's address.
    let r = alice.cmd("/_show_address 1").await;
    assert_eq!(
        r["chatError"],
        json!({"type": "errorStore", "storeError": {"type": "userContactLinkNotFound"}})
    );
    let r = alice.cmd("/_address 1").await;
    assert_eq!(r["type"], "userContactLinkCreated", "{r}");
    let link = r["connLinkContact"]["connShortLink"]
        .as_str()
        .or(r["connLinkContact"]["connFullLink"].as_str())
        .expect("a link")
        .to_owned();
    // Bob's plan names whose address it is before anything reaches Alice.
    let r = bob.cmd(&format!("/_connect plan 1 {link}")).await;
    assert_eq!(r["type"], "connectionPlan", "{r}");
    let plan = &r["connectionPlan"];
    assert_eq!(plan["type"], "contactAddress", "{r}");
    assert_eq!(plan["contactAddressPlan"]["type"], "ok", "{r}");
    if link.contains("/a#") {
        let data = &plan["contactAddressPlan"]["contactSLinkData_"];
        assert_eq!(data["profile"]["displayName"], "alice", "{r}");
        assert_eq!(r["connLink"]["connShortLink"], link.as_str());
        assert!(r["connLink"]["connFullLink"]
            .as_str()
            .is_some_and(|l| l.contains("/contact")));
    }
    let r = alice.cmd(&format!("/_connect plan 1 {link}")).await;
    assert_eq!(
        r["connectionPlan"]["contactAddressPlan"]["type"], "ownLink",
        "{r}"
    );
    let r = bob.cmd("/_connect plan 1 nonsense").await;
    assert_eq!(r["type"], "chatCmdError", "{r}");
    // Bob asks; without auto-accept Alice sees the request and accepts it by its ID.
    let r = bob.cmd(&format!("/_connect 1 {link}")).await;
    assert_eq!(r["type"], "sentInvitation", "{r}");
    assert!(r.get("customUserProfile").is_none());
    let req = alice.event("receivedContactRequest").await;
    assert_eq!(req["contactRequest"]["profile"]["displayName"], "bob");
    let req_id = req["contactRequest"]["contactRequestId"]
        .as_i64()
        .expect("request ID");
    let r = alice.cmd(&format!("/_accept {req_id}")).await;
    assert_eq!(r["type"], "acceptingContactRequest", "{r}");
    assert_eq!(r["contact"]["profile"]["displayName"], "bob");
    let r = alice.cmd(&format!("/_accept {req_id}")).await;
    assert_eq!(
        r["chatError"],
        json!({"type": "errorStore", "storeError": {"type": "contactRequestNotFound", "contactRequestId": req_id}})
    );
    // Auto-accept (used by the squaring bot's test below) is a setting of the address.
    let r = alice
        .cmd(r#"/_address_settings 1 {"businessAddress":false,"autoAccept":{"acceptIncognito":false}}"#)
        .await;
    assert_eq!(r["type"], "userContactLinkUpdated", "{r}");
    assert_eq!(
        r["contactLink"]["addressSettings"],
        json!({"businessAddress": false, "autoAccept": {"acceptIncognito": false}})
    );
    let a_conn = alice.event("contactConnected").await;
    let b_conn = bob.event("contactConnected").await;
    let bob_id = a_conn["contact"]["contactId"].as_i64().expect("bob's ID");
    let alice_id = b_conn["contact"]["contactId"].as_i64().expect("alice's ID");
    assert_eq!(b_conn["contact"]["profile"]["fullName"], "Alice A");
    let r = bob.cmd(&format!("/_connect 1 {link}")).await;
    assert_eq!(r["type"], "contactAlreadyExists", "{r}");

    // Texts both ways.
    let r = bob
        .cmd(&format!(
            r#"/_send @{alice_id} json [{{"msgContent":{{"type":"text","text":"hello alice"}}}}]"#
        ))
        .await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    assert_eq!(text_of(&r), ("sndMsgContent", "hello alice"));
    let ev = alice.event("newChatItems").await;
    assert_eq!(text_of(&ev), ("rcvMsgContent", "hello alice"));
    assert_eq!(ev["chatItems"][0]["chatInfo"]["type"], "direct");
    assert_eq!(
        ev["chatItems"][0]["chatItem"]["chatDir"]["type"],
        "directRcv"
    );
    let r = alice.cmd("@bob hi bob").await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    let ev = bob.event("newChatItems").await;
    assert_eq!(text_of(&ev), ("rcvMsgContent", "hi bob"));
    let r = alice.cmd("/_contacts 1").await;
    assert_eq!(r["type"], "contactsList", "{r}");
    assert_eq!(r["contacts"][0]["contactId"], bob_id);
    let r = alice.cmd(&format!("/_get chat @{bob_id} count=10")).await;
    assert_eq!(r["type"], "apiChat", "{r}");
    assert_eq!(r["chat"]["chatItems"].as_array().map(Vec::len), Some(2));

    // Bob knows Alice through her address now.
    let r = bob.cmd(&format!("/_connect plan 1 {link}")).await;
    let known = &r["connectionPlan"]["contactAddressPlan"];
    assert_eq!(known["type"], "known", "{r}");
    assert_eq!(known["contact"]["profile"]["displayName"], "alice", "{r}");

    // A one-time invitation: `invitation`, then `sentConfirmation`, then connected.
    let r = alice.cmd("/_connect 1").await;
    assert_eq!(r["type"], "invitation", "{r}");
    assert_eq!(r["connection"]["pccConnStatus"], "new");
    let inv = r["connLinkInvitation"]["connShortLink"]
        .as_str()
        .or(r["connLinkInvitation"]["connFullLink"].as_str())
        .expect("an invitation link")
        .to_owned();
    let r = bob.cmd(&format!("/c {inv}")).await;
    assert_eq!(r["type"], "sentConfirmation", "{r}");
    let a = alice.event("contactConnected").await;
    let b = bob.event("contactConnected").await;
    assert_eq!(a["contact"]["profile"]["displayName"], "bob");
    assert_eq!(b["contact"]["profile"]["displayName"], "alice");
    assert_ne!(a["contact"]["contactId"], bob_id, "a second contact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_squaring_example_bot_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let (_bot_proc, bot_url) = start_api(
        "bot",
        dir.path(),
        &relay.address,
        &["--create-bot-display-name", "squaring_bot"],
    );
    let (_user_proc, user_url) = start_api(
        "user",
        dir.path(),
        &relay.address,
        &["--create-bot-display-name", "user"],
    );
    // The example, as its docs say to run it.
    let bot = Command::new(env!("CARGO"))
        .args([
            "run",
            "-q",
            "-p",
            "simplex-chat",
            "--example",
            "squaring_bot",
            "--",
        ])
        .arg(&bot_url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cargo run the example");
    let mut bot = Kill(bot);
    let out = bot.0.stdout.take().expect("stdout");
    // The bot's output is read to its end (a closed pipe would stop it).
    let (link_tx, link_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut link_tx = Some(link_tx);
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if let Some(link) = l.strip_prefix("Bot's contact address is: ") {
                if let Some(tx) = link_tx.take() {
                    let _ = tx.send(link.to_owned());
                }
            }
        }
    });
    // Long enough for cargo to build the example first.
    let link = tokio::time::timeout(Duration::from_secs(600), link_rx)
        .await
        .expect("the bot's address in time")
        .expect("the bot printed its address");
    let mut user = Client::connect(&user_url).await;
    // The bot prints its address once auto-accept is on.
    let r = user.cmd(&format!("/c {link}")).await;
    assert_eq!(r["type"], "sentInvitation", "{r}");
    let conn = user.event("contactConnected").await;
    let bot_id = conn["contact"]["contactId"].as_i64().expect("bot's ID");
    let welcome = user.event("newChatItems").await;
    assert!(text_of(&welcome).1.contains("squaring bot"), "{welcome}");
    let r = user
        .cmd(&format!(
            r#"/_send @{bot_id} json [{{"msgContent":{{"type":"text","text":"12"}}}}]"#
        ))
        .await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    let answer = user.event("newChatItems").await;
    assert_eq!(text_of(&answer), ("rcvMsgContent", "12 * 12 = 144"));
    user.cmd(&format!(
        r#"/_send @{bot_id} json [{{"msgContent":{{"type":"text","text":"twelve"}}}}]"#
    ))
    .await;
    let answer = user.event("newChatItems").await;
    assert_eq!(text_of(&answer).1, "this is not a number");
    drop(bot);
}

/// `--api-bind` off loopback needs `--api-token`; with a token, the upgrade request must
/// carry it (header or query), else it is refused with 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_the_api() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error as WsError;
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    // Refused before anything is bound: no token for a non-loopback address.
    let out = chat_command(&prefix(dir.path(), "open"), Some(&relay.address), None)
        .args(["-p", "0", "--api-bind", "0.0.0.0"])
        .args(["--create-bot-display-name", "open"])
        .stdin(Stdio::null())
        .output()
        .expect("run simplex-chat");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs --api-token"), "{err}");

    let (_p, url) = start_api(
        "guarded",
        dir.path(),
        &relay.address,
        &[
            "--api-bind",
            "127.0.0.1",
            "--api-token",
            "s3cret",
            "--create-bot-display-name",
            "guarded",
        ],
    );
    for bad in [url.clone(), format!("{url}/?token=wrong")] {
        match tokio_tungstenite::connect_async(bad.as_str()).await {
            Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), 401),
            Err(e) => panic!("refused otherwise: {e}"),
            Ok(_) => panic!("connected without the token: {bad}"),
        }
    }
    let mut c = Client::connect(&format!("{url}/?token=s3cret")).await;
    assert_eq!(c.cmd("/u").await["type"], "activeUser");
    let mut req = url.as_str().into_client_request().expect("request");
    req.headers_mut().insert(
        "Authorization",
        "Bearer s3cret".parse().expect("header value"),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("the header's token is accepted");
    let mut c = Client {
        ws,
        next: 0,
        events: VecDeque::new(),
    };
    assert_eq!(c.cmd("/u").await["type"], "activeUser");
}
