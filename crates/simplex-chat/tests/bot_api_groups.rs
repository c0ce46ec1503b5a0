//! Groups through the bot API end to end: a relay process, three `simplex-chat -p 0`
//! processes and WebSocket clients: a bot creates a group, invites a contact who joins,
//! messages go both ways with their events, roles and the profile change, a third client
//! joins through the group link, is removed; the contact leaves; the group is deleted.

mod common;

use common::ws::*;
use common::*;
use serde_json::{json, Value};

/// Not a test of its own: the relay child process (see `common`).
#[tokio::test]
async fn relay_process() {
    relay_main().await;
}

/// Connects two clients with a one-time invitation: each one's contact ID for the other.
async fn connect(a: &mut Client, b: &mut Client) -> (i64, i64) {
    let r = a.cmd("/_connect 1").await;
    assert_eq!(r["type"], "invitation", "{r}");
    let link = r["connLinkInvitation"]["connFullLink"]
        .as_str()
        .expect("a link")
        .to_owned();
    let r = b.cmd(&format!("/_connect 1 {link}")).await;
    assert_eq!(r["type"], "sentConfirmation", "{r}");
    let ea = a.event("contactConnected").await;
    let eb = b.event("contactConnected").await;
    (
        ea["contact"]["contactId"].as_i64().expect("ID"),
        eb["contact"]["contactId"].as_i64().expect("ID"),
    )
}

fn group_id(v: &Value) -> i64 {
    v["groupInfo"]["groupId"].as_i64().expect("groupId")
}

/// The group item's text and who wrote it (`groupSnd`, or the member's display name).
fn group_text(ev: &Value) -> (String, String) {
    let ci = &ev["chatItems"][0];
    assert_eq!(ci["chatInfo"]["type"], "group", "{ev}");
    let item = &ci["chatItem"];
    let who = match item["chatDir"]["type"].as_str() {
        Some("groupRcv") => item["chatDir"]["groupMember"]["memberProfile"]["displayName"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        other => other.unwrap_or_default().to_owned(),
    };
    (
        who,
        item["content"]["msgContent"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn send_json(text: &str) -> String {
    json!([{"msgContent": {"type": "text", "text": text}}]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_runs_a_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let relay = start_relay(&dir.path().join("relay"));
    let mut procs = Vec::new();
    let mut clients = Vec::new();
    for name in ["alice", "bob", "cath"] {
        let (p, url) = start_api(
            name,
            dir.path(),
            &relay.address,
            &["--create-bot-display-name", name],
        );
        procs.push(p);
        clients.push(Client::connect(&url).await);
    }
    let mut cath = clients.pop().expect("cath");
    let mut bob = clients.pop().expect("bob");
    let mut alice = clients.pop().expect("alice");
    let (bob_id, alice_id) = connect(&mut alice, &mut bob).await;

    // The bot creates the group and invites its contact.
    let r = alice
        .cmd(r#"/_group 1 {"displayName":"team","fullName":"The Team","image":"x"}"#)
        .await;
    assert_eq!(r["type"], "groupCreated", "{r}");
    assert_eq!(r["groupInfo"]["groupProfile"]["displayName"], "team");
    assert_eq!(r["groupInfo"]["membership"]["memberRole"], "owner");
    assert_eq!(r["groupInfo"]["membership"]["memberStatus"], "creator");
    assert_eq!(r["groupInfo"]["groupSummary"]["currentMembers"], 1);
    let g = group_id(&r);
    let r = alice.cmd("/_members #99").await;
    assert_eq!(
        r["chatError"],
        json!({"type": "errorStore", "storeError": {"type": "groupNotFound", "groupId": 99}})
    );
    let r = alice.cmd(&format!("/_add #{g} {bob_id} member")).await;
    assert_eq!(r["type"], "sentGroupInvitation", "{r}");
    assert_eq!(r["contact"]["contactId"], bob_id);
    assert_eq!(r["member"]["memberStatus"], "invited");
    assert_eq!(r["member"]["memberRole"], "member");
    let bob_member = r["member"]["groupMemberId"].as_i64().expect("member ID");
    // A second invitation of the same contact is refused with the console's words.
    let r = alice.cmd(&format!("/_add #{g} {bob_id} member")).await;
    assert_eq!(r["chatError"]["errorType"]["type"], "commandError", "{r}");
    assert!(
        r["chatError"]["errorType"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already invited")),
        "{r}"
    );

    // The contact sees the invitation and joins.
    let inv = bob.event("receivedGroupInvitation").await;
    assert_eq!(inv["contact"]["contactId"], alice_id);
    assert_eq!(inv["fromMemberRole"], "owner");
    assert_eq!(inv["memberRole"], "member");
    assert_eq!(inv["groupInfo"]["membership"]["memberStatus"], "invited");
    let bg = group_id(&inv);
    let r = bob
        .cmd(&format!("/_send #{bg} json {}", send_json("too early")))
        .await;
    assert_eq!(r["chatError"]["errorType"]["type"], "groupNotJoined", "{r}");
    let r = bob.cmd(&format!("/_join #{bg}")).await;
    assert_eq!(r["type"], "userAcceptedGroupSent", "{r}");
    assert_eq!(r["hostContact"]["contactId"], alice_id);
    let j = bob.event("userJoinedGroup").await;
    assert_eq!(group_id(&j), bg);
    assert_eq!(j["hostMember"]["memberStatus"], "connected");
    assert_eq!(j["hostMember"]["memberProfile"]["displayName"], "alice");
    let j = alice.event("joinedGroupMember").await;
    assert_eq!(j["member"]["groupMemberId"], bob_member);
    assert_eq!(j["member"]["memberStatus"], "connected");
    assert_eq!(j["groupInfo"]["groupSummary"]["currentMembers"], 2);

    let r = alice.cmd(&format!("/_add #{g} {bob_id} member")).await;
    assert_eq!(
        r["chatError"]["errorType"],
        json!({"type": "groupDuplicateMember", "contactName": "bob"})
    );

    // A member may not make the group's link.
    let r = bob.cmd(&format!("/_create link #{bg} member")).await;
    assert_eq!(r["chatError"]["errorType"]["type"], "groupUserRole", "{r}");
    assert_eq!(r["chatError"]["errorType"]["requiredRole"], "admin", "{r}");

    // Messages both ways: the API form and the console form.
    let r = alice
        .cmd(&format!("/_send #{g} json {}", send_json("hello team")))
        .await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    assert_eq!(group_text(&r), ("groupSnd".into(), "hello team".into()));
    let ev = bob.event("newChatItems").await;
    assert_eq!(group_text(&ev), ("alice".into(), "hello team".into()));
    assert_eq!(
        ev["chatItems"][0]["chatItem"]["content"]["type"],
        "rcvMsgContent"
    );
    let r = bob.cmd("#team hi alice").await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    let ev = alice.event("newChatItems").await;
    assert_eq!(group_text(&ev), ("bob".into(), "hi alice".into()));
    assert_eq!(
        ev["chatItems"][0]["chatItem"]["chatDir"]["groupMember"]["groupMemberId"],
        bob_member
    );
    let r = alice.cmd(&format!("/_get chat #{g} count=10")).await;
    assert_eq!(r["type"], "apiChat", "{r}");
    assert_eq!(r["chat"]["chatItems"].as_array().map(Vec::len), Some(2));
    let r = alice.cmd("/_get chats 1 pcc=off count=10").await;
    assert_eq!(r["type"], "apiChats", "{r}");
    let kinds: Vec<&str> = r["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .map(|c| c["chatInfo"]["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["direct", "group"]);

    // Lists.
    let r = alice.cmd(&format!("/_members #{g}")).await;
    assert_eq!(r["type"], "groupMembers", "{r}");
    assert_eq!(r["group"]["members"][0]["groupMemberId"], bob_member);
    assert_eq!(r["group"]["members"][0]["memberStatus"], "connected");
    let r = alice.cmd("/_groups 1").await;
    assert_eq!(r["type"], "groupsList", "{r}");
    assert_eq!(r["groups"].as_array().map(Vec::len), Some(1));

    // Role and profile changes reach the member as events.
    let r = alice
        .cmd(&format!("/_member role #{g} {bob_member} admin"))
        .await;
    assert_eq!(r["type"], "membersRoleUser", "{r}");
    assert_eq!(r["members"][0]["memberRole"], "admin");
    assert_eq!(r["toRole"], "admin");
    let ev = bob.event("memberRole").await;
    assert_eq!(
        (ev["fromRole"].clone(), ev["toRole"].clone()),
        (json!("member"), json!("admin"))
    );
    assert_eq!(ev["byMember"]["memberProfile"]["displayName"], "alice");
    let r = alice
        .cmd(&format!(
            r#"/_group_profile #{g} {{"displayName":"team","fullName":"Our Team"}}"#
        ))
        .await;
    assert_eq!(r["type"], "groupUpdated", "{r}");
    assert_eq!(r["fromGroup"]["groupProfile"]["fullName"], "The Team");
    assert_eq!(r["toGroup"]["groupProfile"]["fullName"], "Our Team");
    let ev = bob.event("groupUpdated").await;
    assert_eq!(ev["toGroup"]["groupProfile"]["fullName"], "Our Team");
    assert_eq!(ev["member_"]["memberProfile"]["displayName"], "alice");

    // The group link: cath joins through it.
    let r = alice.cmd(&format!("/_get link #{g}")).await;
    assert_eq!(
        r["chatError"]["storeError"]["type"], "groupLinkNotFound",
        "{r}"
    );
    let r = alice.cmd(&format!("/_create link #{g} member")).await;
    assert_eq!(r["type"], "groupLinkCreated", "{r}");
    assert_eq!(r["groupLink"]["acceptMemberRole"], "member");
    let link = r["groupLink"]["connLinkContact"]["connFullLink"]
        .as_str()
        .expect("link")
        .to_owned();
    let r = alice.cmd(&format!("/_set link role #{g} observer")).await;
    assert_eq!(r["type"], "groupLink", "{r}");
    assert_eq!(r["groupLink"]["acceptMemberRole"], "observer");
    let r = alice.cmd(&format!("/_set link role #{g} member")).await;
    assert_eq!(r["groupLink"]["acceptMemberRole"], "member");
    let r = cath.cmd(&format!("/_connect 1 {link}")).await;
    assert_eq!(r["chatError"], Value::Null, "{r}");
    let c = cath.event("groupLinkConnecting").await;
    assert_eq!(c["hostMember"]["memberProfile"]["displayName"], "alice");
    let j = cath.event("userJoinedGroup").await;
    assert_eq!(j["groupInfo"]["groupProfile"]["displayName"], "team");
    let cg = group_id(&j);
    let a = alice.event("acceptingGroupJoinRequestMember").await;
    assert_eq!(a["member"]["memberProfile"]["displayName"], "cath", "{a}");
    assert_eq!(a["groupInfo"]["groupId"], g, "{a}");
    let j = alice.event("joinedGroupMember").await;
    assert_eq!(j["member"]["memberProfile"]["displayName"], "cath");
    let cath_member = j["member"]["groupMemberId"].as_i64().expect("ID");
    let c = bob.event("joinedGroupMemberConnecting").await;
    assert_eq!(c["member"]["memberProfile"]["displayName"], "cath");
    assert_eq!(c["hostMember"]["memberProfile"]["displayName"], "alice");
    let c = bob.event("connectedToGroupMember").await;
    assert_eq!(c["member"]["memberProfile"]["displayName"], "cath");
    let c = cath.event("connectedToGroupMember").await;
    assert_eq!(c["member"]["memberProfile"]["displayName"], "bob");
    let r = cath
        .cmd(&format!("/_send #{cg} json {}", send_json("hi all")))
        .await;
    assert_eq!(r["type"], "newChatItems", "{r}");
    assert_eq!(
        group_text(&bob.event("newChatItems").await),
        ("cath".into(), "hi all".into())
    );
    let r = alice.cmd(&format!("/_delete link #{g}")).await;
    assert_eq!(r["type"], "groupLinkDeleted", "{r}");

    // Removing a member; a member who does not exist.
    let r = alice.cmd(&format!("/_remove #{g} 999")).await;
    assert_eq!(
        r["chatError"],
        json!({"type": "errorStore", "storeError": {"type": "groupMemberNotFound", "groupMemberId": 999}})
    );
    let r = alice.cmd(&format!("/_remove #{g} {cath_member}")).await;
    assert_eq!(r["type"], "userDeletedMembers", "{r}");
    assert_eq!(r["members"][0]["memberStatus"], "removed");
    let ev = cath.event("deletedMemberUser").await;
    assert_eq!(ev["member"]["memberProfile"]["displayName"], "alice");
    let ev = bob.event("deletedMember").await;
    assert_eq!(ev["deletedMember"]["memberProfile"]["displayName"], "cath");
    assert_eq!(ev["byMember"]["memberProfile"]["displayName"], "alice");

    // The contact leaves; the bot deletes the group.
    let r = bob.cmd(&format!("/_leave #{bg}")).await;
    assert_eq!(r["type"], "leftMemberUser", "{r}");
    assert_eq!(r["groupInfo"]["membership"]["memberStatus"], "left");
    let ev = alice.event("leftMember").await;
    assert_eq!(ev["member"]["memberStatus"], "left");
    let r = alice.cmd(&format!("/_delete #{g}")).await;
    assert_eq!(r["type"], "groupDeletedUser", "{r}");
    assert_eq!(r["localDeletion"], false);
    let r = alice.cmd("/_groups 1").await;
    assert_eq!(r["groups"], json!([]));
    drop(procs);
}
