//! Our encoding of each API type against JSON written by hand from the reference's
//! `bots/api/TYPES.md` and the encoding rules of `Server.hs` (not produced by our encoder).

use serde_json::{json, Value};

use super::errors::{AgentErrorType, ChatError, ChatErrorType, StoreError, TypeOnly};
use super::items::*;
use super::response::{ApiFrame, ApiRequest, ChatResponse};
use super::types::*;

fn enc<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("encodes")
}

fn bot() -> Profile {
    let mut p = Profile::new("squaring");
    p.peer_type = Some(ChatPeerType::Bot);
    p
}

const USER: &str = r#"{
  "userId": 1, "agentUserId": "1", "userContactId": 0, "localDisplayName": "squaring",
  "profile": {"profileId": 0, "displayName": "squaring", "fullName": "", "peerType": "bot",
              "localAlias": ""},
  "fullPreferences": {
    "timedMessages": {"allow": "yes"}, "fullDelete": {"allow": "no"},
    "reactions": {"allow": "yes"}, "voice": {"allow": "yes"}, "files": {"allow": "always"},
    "calls": {"allow": "yes"}, "sessions": {"allow": "no"}, "commands": []},
  "activeUser": true, "activeOrder": 1, "showNtfs": true, "sendRcptsContacts": true,
  "sendRcptsSmallGroups": true, "autoAcceptMemberContacts": false, "clientService": false
}"#;

fn user_json() -> Value {
    serde_json::from_str(USER).expect("hand-written JSON")
}

#[test]
fn user_record() {
    assert_eq!(enc(&User::of(&bot())), user_json());
    // A person's profile has no peerType key at all.
    let v = enc(&User::of(&Profile::new("alice")));
    assert!(v["profile"].get("peerType").is_none(), "{v}");
}

#[test]
fn frames_responses_and_events() {
    let resp = ChatResponse::ActiveUser {
        user: User::of(&bot()),
    };
    let frame = ApiFrame {
        corr_id: Some("7"),
        resp: &resp,
    };
    let want = json!({"corrId": "7", "resp": {"type": "activeUser", "user": user_json()}});
    assert_eq!(
        serde_json::from_str::<Value>(&frame.to_json()).expect("json"),
        want
    );
    // An event: no corrId key (not null), and never an Ok/Right wrapper.
    let ev = ChatResponse::HostConnected {
        protocol: "smp",
        transport_host: "127.0.0.1".into(),
    };
    let frame = ApiFrame {
        corr_id: None,
        resp: &ev,
    };
    assert_eq!(
        frame.to_json(),
        r#"{"resp":{"type":"hostConnected","protocol":"smp","transportHost":"127.0.0.1"}}"#
    );
}

#[test]
fn requests_ignore_unknown_keys_and_need_both_fields() {
    let r: ApiRequest =
        serde_json::from_str(r#"{"corrId":"1","cmd":"/u","remoteHostId":null}"#).expect("ok");
    assert_eq!(r.cmd, "/u");
    assert!(serde_json::from_str::<ApiRequest>(r#"{"cmd":"/u"}"#).is_err());
    assert!(serde_json::from_str::<ApiRequest>(r#"{"corrId":1,"cmd":"/u"}"#).is_err());
}

#[test]
fn errors() {
    let cases: Vec<(ChatError, Value)> = vec![
        (
            ChatError::chat(ChatErrorType::NoActiveUser),
            json!({"type": "error", "errorType": {"type": "noActiveUser"}}),
        ),
        (
            ChatError::store(StoreError::UserContactLinkNotFound),
            json!({"type": "errorStore", "storeError": {"type": "userContactLinkNotFound"}}),
        ),
        (
            ChatError::store(StoreError::ContactRequestNotFound {
                contact_request_id: 3,
            }),
            json!({"type": "errorStore", "storeError": {"type": "contactRequestNotFound", "contactRequestId": 3}}),
        ),
        (
            ChatError::store(StoreError::DBException {
                message: "x".into(),
            }),
            json!({"type": "errorStore", "storeError": {"type": "dBException", "message": "x"}}),
        ),
        (
            ChatError::command("invalid request"),
            json!({"type": "error", "errorType": {"type": "commandError", "message": "invalid request"}}),
        ),
        (
            ChatError::chat(ChatErrorType::InvalidDisplayName {
                display_name: "@a".into(),
                valid_name: "a".into(),
            }),
            json!({"type": "error", "errorType": {"type": "invalidDisplayName", "displayName": "@a", "validName": "a"}}),
        ),
        (
            ChatError::ErrorAgent {
                agent_error: AgentErrorType::Cmd {
                    cmd_err: TypeOnly { tag: "LARGE" },
                    err_context: "big".into(),
                },
                agent_conn_id: "AQ".into(),
            },
            json!({"type": "errorAgent", "agentError": {"type": "CMD", "cmdErr": {"type": "LARGE"}, "errContext": "big"}, "agentConnId": "AQ"}),
        ),
        (
            ChatError::ErrorAgent {
                agent_error: AgentErrorType::Smp {
                    server_address: "smp://k@h".into(),
                    smp_err: TypeOnly { tag: "AUTH" },
                },
                agent_conn_id: String::new(),
            },
            json!({"type": "errorAgent", "agentError": {"type": "SMP", "serverAddress": "smp://k@h", "smpErr": {"type": "AUTH"}}, "agentConnId": ""}),
        ),
    ];
    for (e, want) in cases {
        assert_eq!(enc(&e), want);
        let r = ChatResponse::from(e);
        assert_eq!(enc(&r), json!({"type": "chatCmdError", "chatError": want}));
    }
}

#[test]
fn links_and_address() {
    let full_only = CreatedConnLink {
        conn_full_link: "https://simplex.chat/contact#/?v=2".into(),
        conn_short_link: None,
    };
    assert_eq!(
        enc(&full_only),
        json!({"connFullLink": "https://simplex.chat/contact#/?v=2"})
    );
    let a = UserContactLink {
        user_contact_link_id: 1,
        conn_link_contact: CreatedConnLink {
            conn_full_link: "F".into(),
            conn_short_link: Some("S".into()),
        },
        short_link_data_set: true,
        short_link_large_data_set: false,
        address_settings: AddressSettings {
            business_address: false,
            auto_accept: Some(AutoAccept {
                accept_incognito: false,
            }),
            auto_reply: Some(MsgContent::Text { text: "hi".into() }),
        },
    };
    assert_eq!(
        enc(&a),
        json!({"userContactLinkId": 1,
               "connLinkContact": {"connFullLink": "F", "connShortLink": "S"},
               "shortLinkDataSet": true, "shortLinkLargeDataSet": false,
               "addressSettings": {"businessAddress": false,
                                   "autoAccept": {"acceptIncognito": false},
                                   "autoReply": {"type": "text", "text": "hi"}}})
    );
    // Settings as bots send them: missing booleans default, unknown keys are ignored.
    let s: AddressSettings = serde_json::from_str(r#"{"autoAccept":{},"x":1}"#).expect("reads");
    assert_eq!(
        s.auto_accept,
        Some(AutoAccept {
            accept_incognito: false
        })
    );
}

pub(super) fn contact() -> Contact {
    Contact {
        contact_id: 2,
        local_display_name: "bob".into(),
        profile: LocalProfile::of(2, &Profile::new("bob")),
        active_conn: None,
        contact_used: true,
        contact_status: ContactStatus::Active,
        chat_settings: ChatSettings::default(),
        user_preferences: serde_json::Map::new(),
        merged_preferences: ContactUserPreferences::default(),
        created_at: "2026-01-02T03:04:05.678Z".into(),
        updated_at: "2026-01-02T03:04:05.678Z".into(),
        contact_grp_inv_sent: false,
        chat_tags: vec![],
        chat_deleted: false,
    }
}

#[test]
fn contact_record() {
    let on = |allow: &str| {
        json!({"enabled": {"forUser": true, "forContact": true},
               "userPreference": {"type": "user", "preference": {"allow": allow}},
               "contactPreference": {"allow": allow}})
    };
    let off = json!({"enabled": {"forUser": false, "forContact": false},
                     "userPreference": {"type": "user", "preference": {"allow": "no"}},
                     "contactPreference": {"allow": "no"}});
    let want = json!({
        "contactId": 2, "localDisplayName": "bob",
        "profile": {"profileId": 2, "displayName": "bob", "fullName": "", "localAlias": ""},
        "contactUsed": true, "contactStatus": "active",
        "chatSettings": {"enableNtfs": "all", "favorite": false},
        "userPreferences": {},
        "mergedPreferences": {"timedMessages": on("yes"), "fullDelete": off.clone(),
                              "reactions": on("yes"), "voice": on("yes"),
                              "files": on("always"), "calls": on("yes"), "sessions": off},
        "createdAt": "2026-01-02T03:04:05.678Z", "updatedAt": "2026-01-02T03:04:05.678Z",
        "contactGrpInvSent": false, "chatTags": [], "chatDeleted": false
    });
    assert_eq!(enc(&contact()), want);
}

#[test]
fn connection_records() {
    let c = Connection {
        conn_id: 2,
        agent_conn_id: "AQI".into(),
        conn_chat_version: 8,
        peer_chat_v_range: VersionRange::chat(),
        conn_level: 0,
        via_group_link: false,
        conn_type: "contact",
        conn_status: ConnStatus::SndReady,
        contact_conn_initiated: false,
        local_alias: String::new(),
        entity_id: Some(2),
        pq_support: true,
        pq_encryption: false,
        auth_err_counter: 0,
        quota_err_counter: 0,
        created_at: "T".into(),
    };
    assert_eq!(
        enc(&c),
        json!({"connId": 2, "agentConnId": "AQI", "connChatVersion": 8,
               "peerChatVRange": {"minVersion": 1, "maxVersion": 8}, "connLevel": 0,
               "viaGroupLink": false, "connType": "contact", "connStatus": "snd-ready",
               "contactConnInitiated": false, "localAlias": "", "entityId": 2,
               "pqSupport": true, "pqEncryption": false, "authErrCounter": 0,
               "quotaErrCounter": 0, "createdAt": "T"})
    );
    let p = PendingContactConnection {
        pcc_conn_id: 5,
        pcc_agent_conn_id: "AQ".into(),
        pcc_conn_status: ConnStatus::New,
        via_contact_uri: false,
        conn_link_inv: Some(CreatedConnLink {
            conn_full_link: "F".into(),
            conn_short_link: None,
        }),
        local_alias: String::new(),
        created_at: "T".into(),
        updated_at: "T".into(),
    };
    assert_eq!(
        enc(&p),
        json!({"pccConnId": 5, "pccAgentConnId": "AQ", "pccConnStatus": "new",
               "viaContactUri": false, "connLinkInv": {"connFullLink": "F"},
               "localAlias": "", "createdAt": "T", "updatedAt": "T"})
    );
    let r = UserContactRequest {
        contact_request_id: 4,
        agent_invitation_id: "AA".into(),
        user_contact_link_id: 1,
        c_req_chat_v_range: VersionRange::chat(),
        local_display_name: "bob".into(),
        profile_id: 4,
        profile: Profile::new("bob"),
        created_at: "T".into(),
        updated_at: "T".into(),
        pq_support: true,
    };
    assert_eq!(
        enc(&r),
        json!({"contactRequestId": 4, "agentInvitationId": "AA", "userContactLinkId_": 1,
               "cReqChatVRange": {"minVersion": 1, "maxVersion": 8},
               "localDisplayName": "bob", "profileId": 4,
               "profile": {"displayName": "bob", "fullName": ""},
               "createdAt": "T", "updatedAt": "T", "pqSupport": true})
    );
}

#[test]
fn chat_items() {
    let item = ChatItem {
        chat_dir: CIDirection::DirectRcv,
        meta: CIMeta {
            item_id: 9,
            item_ts: "T".into(),
            item_text: "12".into(),
            item_status: CIStatus::RcvNew,
            item_shared_msg_id: None,
            item_edited: false,
            user_mention: false,
            deletable: false,
            editable: false,
            show_group_as_sender: false,
            created_at: "T".into(),
            updated_at: "T".into(),
        },
        content: CIContent::RcvMsgContent {
            msg_content: MsgContent::Text { text: "12".into() },
        },
        mentions: serde_json::Map::new(),
        reactions: vec![],
        file: None,
    };
    let a = AChatItem {
        chat_info: ChatInfo::Direct {
            contact: Box::new(contact()),
        },
        chat_item: item,
    };
    let v = enc(&a);
    assert_eq!(v["chatInfo"]["type"], "direct");
    assert_eq!(v["chatInfo"]["contact"], enc(&contact()));
    assert_eq!(
        v["chatItem"],
        json!({"chatDir": {"type": "directRcv"},
               "meta": {"itemId": 9, "itemTs": "T", "itemText": "12",
                        "itemStatus": {"type": "rcvNew"}, "itemEdited": false,
                        "userMention": false, "deletable": false, "editable": false,
                        "showGroupAsSender": false, "createdAt": "T", "updatedAt": "T"},
               "content": {"type": "rcvMsgContent", "msgContent": {"type": "text", "text": "12"}},
               "mentions": {}, "reactions": []})
    );
    let statuses = [
        (CIStatus::SndNew, json!({"type": "sndNew"})),
        (
            CIStatus::SndSent {
                snd_progress: SndProgress::Complete,
            },
            json!({"type": "sndSent", "sndProgress": "complete"}),
        ),
        (
            CIStatus::SndRcvd {
                msg_rcpt_status: MsgReceiptStatus::BadMsgHash,
                snd_progress: SndProgress::Complete,
            },
            json!({"type": "sndRcvd", "msgRcptStatus": "badMsgHash", "sndProgress": "complete"}),
        ),
        (
            CIStatus::SndError {
                agent_error: SndError::Other {
                    snd_error: "x".into(),
                },
            },
            json!({"type": "sndError", "agentError": {"type": "other", "sndError": "x"}}),
        ),
    ];
    for (s, want) in statuses {
        assert_eq!(enc(&s), want);
    }
    assert_eq!(
        enc(&CIContent::RcvDirectEvent {
            rcv_direct_event: RcvDirectEvent::ContactDeleted
        }),
        json!({"type": "rcvDirectEvent", "rcvDirectEvent": {"type": "contactDeleted"}})
    );
}

#[test]
fn composed_messages_read_leniently() {
    let m: Vec<ComposedMessage> = serde_json::from_str(
        r#"[{"msgContent":{"type":"text","text":"a"}},
            {"filePath":"/tmp/x","msgContent":{"type":"file","text":""},"mentions":{}}]"#,
    )
    .expect("reads");
    assert_eq!(m[0].msg_content, MsgContent::Text { text: "a".into() });
    assert_eq!(m[1].file_path.as_deref(), Some("/tmp/x"));
    let nu: NewUser =
        serde_json::from_str(r#"{"profile":{"displayName":"a","fullName":""},"sameServers":true}"#)
            .expect("reads");
    assert!(!nu.past_timestamp && !nu.client_service);
}

#[test]
fn version_info() {
    let r = ChatResponse::VersionInfo {
        version_info: super::response::CoreVersionInfo::current(),
        chat_migrations: vec![],
        agent_migrations: vec![],
    };
    let v = enc(&r);
    assert_eq!(v["type"], "versionInfo");
    assert_eq!(
        v["versionInfo"]["version"],
        super::response::REFERENCE_CHAT_VERSION
    );
    assert_eq!(
        v["versionInfo"]["simplexRsVersion"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(v["chatMigrations"], json!([]));
}

#[test]
fn iso_times() {
    assert_eq!(
        crate::chat::iso_time(1_767_323_045_678),
        "2026-01-02T03:04:05.678Z"
    );
}
