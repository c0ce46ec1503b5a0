//! Files through the bot API end to end: an SMP relay process, an XFTP relay process and
//! two `simplex-chat -p 0` processes driven by WebSocket clients: a file sent with
//! `/_send`, offered to the other client in `newChatItems`, received with `/freceive`
//! through `rcvFileDescrReady`, `rcvFileStart` and `rcvFileComplete` (bytes compared),
//! `sndFileCompleteXFTP` on the sender; a file the sender cancels; the errors.

mod common;

use common::ws::*;
use common::*;
use serde_json::json;

/// Not a test of its own: the SMP relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// Not a test of its own: the XFTP relay child process (see `common::xftp`).
#[tokio::test]
async fn xftp_relay_process() {
    xftp_relay_main().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_between_two_bots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let xftp = start_xftp_relay(dir.path());
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let (_a, alice_url) = start_api(
        "alice",
        dir.path(),
        &relay.address,
        &[
            "--create-bot-display-name",
            "alice",
            "--xftp-servers",
            &xftp.address,
        ],
    );
    let (_b, bob_url) = start_api(
        "bob",
        dir.path(),
        &relay.address,
        &[
            "--create-bot-display-name",
            "bob",
            "--files-folder",
            &inbox.to_string_lossy(),
        ],
    );
    let mut alice = Client::connect(&alice_url).await;
    let mut bob = Client::connect(&bob_url).await;
    let r = alice.cmd("/_connect 1").await;
    let link = r["connLinkInvitation"]["connFullLink"]
        .as_str()
        .expect("link")
        .to_owned();
    bob.cmd(&format!("/_connect 1 {link}")).await;
    let bob_id = alice.event("contactConnected").await["contact"]["contactId"]
        .as_i64()
        .expect("ID");
    bob.event("contactConnected").await;

    // A file that is not there.
    let send = |path: &str| {
        format!(
            "/_send @{bob_id} json {}",
            json!([{"filePath": path, "msgContent": {"type": "file", "text": "the report"}}])
        )
    };
    let r = alice.cmd(&send("/no/such/file")).await;
    assert_eq!(r["chatError"]["errorType"]["type"], "fileNotFound", "{r}");

    // 300 KB of varied bytes, sent and received.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let src = dir.path().join("report.bin");
    std::fs::write(&src, &bytes).expect("write");
    let r = alice.cmd(&send(&src.to_string_lossy())).await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    let item = &r["chatItems"][0]["chatItem"];
    assert_eq!(item["content"]["type"], "sndMsgContent");
    assert_eq!(item["content"]["msgContent"]["type"], "file");
    assert_eq!(item["content"]["msgContent"]["text"], "the report");
    assert_eq!(item["file"]["fileName"], "report.bin");
    assert_eq!(item["file"]["fileSize"], 300_000);
    assert_eq!(item["file"]["fileProtocol"], "xftp");
    assert_eq!(item["file"]["fileStatus"]["type"], "sndStored");

    let offer = bob.event("newChatItems").await;
    let item = &offer["chatItems"][0]["chatItem"];
    assert_eq!(item["chatDir"]["type"], "directRcv", "{offer}");
    assert_eq!(item["file"]["fileStatus"]["type"], "rcvInvitation");
    assert_eq!(item["content"]["msgContent"]["text"], "the report");
    assert_eq!(item["file"]["fileName"], "report.bin");
    let file_id = item["file"]["fileId"].as_i64().expect("fileId");
    let r = bob.cmd(&format!("/freceive {file_id}")).await;
    assert_eq!(r["type"], "rcvFileAccepted", "{r}");
    assert_eq!(
        r["chatItem"]["chatItem"]["file"]["fileStatus"]["type"],
        "rcvAccepted"
    );
    let r = bob.cmd(&format!("/freceive {file_id}")).await;
    assert_eq!(
        r["chatError"]["errorType"]["type"], "fileAlreadyReceiving",
        "{r}"
    );
    let ready = bob.event("rcvFileDescrReady").await;
    assert_eq!(ready["rcvFileTransfer"]["fileId"], file_id);
    assert_eq!(ready["rcvFileDescr"]["fileDescrComplete"], true);
    let done = alice.event("sndFileCompleteXFTP").await;
    assert_eq!(done["fileTransferMeta"]["fileName"], "report.bin");
    assert_eq!(
        done["chatItem"]["chatItem"]["file"]["fileStatus"]["type"],
        "sndComplete"
    );
    bob.event("rcvFileStart").await;
    let done = bob.event("rcvFileComplete").await;
    let file = &done["chatItem"]["chatItem"]["file"];
    assert_eq!(file["fileStatus"]["type"], "rcvComplete", "{done}");
    let saved = file["fileSource"]["filePath"].as_str().expect("saved path");
    assert_eq!(std::fs::read(saved).expect("the saved file"), bytes);
    assert!(saved.starts_with(&*inbox.to_string_lossy()), "{saved}");
    // The file is in the chat's history as read through the API, after the messages
    // before it.
    let r = alice.cmd("@bob here it comes").await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    let m = bob.event("newChatItems").await;
    assert_eq!(
        m["chatItems"][0]["chatItem"]["meta"]["itemText"],
        "here it comes"
    );
    let r = alice.cmd(&format!("/_get chat @{bob_id} count=10")).await;
    let items = r["chat"]["chatItems"].as_array().expect("items").clone();
    let last_two: Vec<_> = items[items.len().saturating_sub(2)..]
        .iter()
        .map(|i| (i["file"]["fileName"].clone(), i["meta"]["itemText"].clone()))
        .collect();
    assert_eq!(
        last_two,
        vec![
            (json!("report.bin"), json!("the report")),
            (serde_json::Value::Null, json!("here it comes")),
        ],
        "{r}"
    );

    // The sender cancels a second file; the recipient hears of it.
    let r = alice.cmd(&send(&src.to_string_lossy())).await;
    let second = r["chatItems"][0]["chatItem"]["file"]["fileId"]
        .as_i64()
        .expect("fileId");
    let offer = bob.event("newChatItems").await;
    let bob_second = offer["chatItems"][0]["chatItem"]["file"]["fileId"]
        .as_i64()
        .expect("fileId");
    let r = alice.cmd(&format!("/fcancel {second}")).await;
    assert_eq!(r["type"], "sndFileCancelled", "{r}");
    assert_eq!(r["fileTransferMeta"]["cancelled"], true);
    assert_eq!(r["sndFileTransfers"][0]["recipientDisplayName"], "bob");
    let r = alice.cmd(&format!("/fcancel {second}")).await;
    assert_eq!(r["chatError"]["errorType"]["type"], "fileCancel", "{r}");
    let ev = bob.event("rcvFileSndCancelled").await;
    assert_eq!(ev["rcvFileTransfer"]["fileId"], bob_second);
    assert_eq!(ev["rcvFileTransfer"]["cancelled"], true);
    let r = bob.cmd(&format!("/freceive {bob_second}")).await;
    assert_eq!(r["type"], "rcvFileAcceptedSndCancelled", "{r}");
    // The recipient cancels a third file; the sender hears of it.
    alice.cmd(&send(&src.to_string_lossy())).await;
    let offer = bob.event("newChatItems").await;
    let third = offer["chatItems"][0]["chatItem"]["file"]["fileId"]
        .as_i64()
        .expect("fileId");
    let r = bob.cmd(&format!("/fcancel {third}")).await;
    assert_eq!(r["type"], "rcvFileCancelled", "{r}");
    assert_eq!(r["rcvFileTransfer"]["cancelled"], true);
    let ev = alice.event("sndFileRcvCancelled").await;
    assert_eq!(ev["sndFileTransfer"]["recipientDisplayName"], "bob");
    assert_eq!(ev["sndFileTransfer"]["fileStatus"], "cancelled");
    let r = bob.cmd("/fcancel 999").await;
    assert_eq!(
        r["chatError"],
        json!({"type": "errorStore", "storeError": {"type": "fileNotFound", "fileId": 999}})
    );

    // A file to a group, received by its member.
    let r = alice.cmd(r#"/_group 1 {"displayName":"team"}"#).await;
    let g = r["groupInfo"]["groupId"].as_i64().expect("groupId");
    alice.cmd(&format!("/_add #{g} {bob_id} member")).await;
    let bg = bob.event("receivedGroupInvitation").await["groupInfo"]["groupId"]
        .as_i64()
        .expect("groupId");
    bob.cmd(&format!("/_join #{bg}")).await;
    bob.event("userJoinedGroup").await;
    alice.event("joinedGroupMember").await;
    let small = dir.path().join("minutes.txt");
    std::fs::write(&small, "we met\n".repeat(500)).expect("write");
    let r = alice
        .cmd(&format!(
            "/_send #{g} json {}",
            json!([{"fileSource": {"filePath": small.to_string_lossy()},
                    "msgContent": {"type": "file", "text": ""}}])
        ))
        .await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    assert_eq!(r["chatItems"][0]["chatInfo"]["type"], "group");
    assert_eq!(r["chatItems"][0]["chatItem"]["chatDir"]["type"], "groupSnd");
    let offer = bob.event("newChatItems").await;
    let item = &offer["chatItems"][0]["chatItem"];
    assert_eq!(item["chatDir"]["type"], "groupRcv", "{offer}");
    assert_eq!(
        item["chatDir"]["groupMember"]["memberProfile"]["displayName"],
        "alice"
    );
    let group_file = item["file"]["fileId"].as_i64().expect("fileId");
    let target = dir.path().join("got-minutes.txt");
    let r = bob
        .cmd(&format!(
            "/freceive {group_file} {}",
            target.to_string_lossy()
        ))
        .await;
    assert_eq!(r["type"], "rcvFileAccepted", "{r}");
    let done = bob.event("rcvFileComplete").await;
    assert_eq!(done["chatItem"]["chatInfo"]["type"], "group");
    assert_eq!(
        std::fs::read(&target).expect("saved"),
        std::fs::read(&small).expect("source")
    );
    drop(xftp);
}
