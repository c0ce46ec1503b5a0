//! Our encoding of the group and file types against JSON written by hand from the
//! reference's `bots/api/TYPES.md`, `COMMANDS.md` and `EVENTS.md` (not produced by our
//! encoder).

use serde_json::{json, Value};

use super::files::*;
use super::groups::*;
use super::items::{AChatItem, CIContent, CIDirection, CIMeta, CIStatus, ChatInfo, ChatItem};
use super::response::ChatResponse;
use super::types::{
    ChatSettings, ConnStatus, Connection, CreatedConnLink, LocalProfile, MsgContent, Profile, User,
    VersionRange,
};
use crate::protocol::group::MemberRole;

fn enc<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("encodes")
}

fn member(id: i64, name: &str, category: &'static str, status: &'static str) -> GroupMember {
    GroupMember {
        group_member_id: id,
        group_id: 1,
        index_in_group: id,
        member_id: "AQID".into(),
        member_role: MemberRole::Member,
        member_category: category,
        member_status: status,
        member_settings: GroupMemberSettings {
            show_messages: true,
        },
        blocked_by_admin: false,
        invited_by: InvitedBy::User,
        invited_by_group_member_id: Some(1),
        local_display_name: name.into(),
        member_profile: LocalProfile::of(id, &Profile::new(name)),
        member_contact_id: None,
        member_contact_profile_id: id,
        active_conn: None,
        member_chat_v_range: VersionRange::chat(),
        created_at: "T".into(),
        updated_at: "T".into(),
    }
}

const BOB: &str = r#"{
  "groupMemberId": 2, "groupId": 1, "indexInGroup": 2, "memberId": "AQID",
  "memberRole": "member", "memberCategory": "invitee", "memberStatus": "connected",
  "memberSettings": {"showMessages": true}, "blockedByAdmin": false,
  "invitedBy": {"type": "user"}, "invitedByGroupMemberId": 1, "localDisplayName": "bob",
  "memberProfile": {"profileId": 2, "displayName": "bob", "fullName": "", "localAlias": ""},
  "memberContactProfileId": 2, "memberChatVRange": {"minVersion": 1, "maxVersion": 8},
  "createdAt": "T", "updatedAt": "T"
}"#;

fn group_info() -> GroupInfo {
    let mut me = member(1, "alice", "user", "creator");
    me.member_role = MemberRole::Owner;
    me.invited_by = InvitedBy::Unknown;
    me.invited_by_group_member_id = None;
    GroupInfo {
        group_id: 1,
        use_relays: false,
        local_display_name: "team".into(),
        group_profile: GroupProfile {
            display_name: "team".into(),
            full_name: "The Team".into(),
        },
        local_alias: String::new(),
        full_group_preferences: FullGroupPreferences::default(),
        membership: me,
        chat_settings: ChatSettings::default(),
        created_at: "T".into(),
        updated_at: "T".into(),
        chat_tags: vec![],
        group_summary: GroupSummary { current_members: 2 },
        members_require_attention: 0,
    }
}

const GROUP_INFO: &str = r#"{
  "groupId": 1, "useRelays": false, "localDisplayName": "team",
  "groupProfile": {"displayName": "team", "fullName": "The Team"}, "localAlias": "",
  "fullGroupPreferences": {
    "timedMessages": {"enable": "off"}, "directMessages": {"enable": "off"},
    "fullDelete": {"enable": "off"}, "reactions": {"enable": "off"},
    "voice": {"enable": "off"}, "files": {"enable": "on"},
    "simplexLinks": {"enable": "on"}, "reports": {"enable": "off"},
    "history": {"enable": "on"}, "commands": []},
  "membership": {
    "groupMemberId": 1, "groupId": 1, "indexInGroup": 1, "memberId": "AQID",
    "memberRole": "owner", "memberCategory": "user", "memberStatus": "creator",
    "memberSettings": {"showMessages": true}, "blockedByAdmin": false,
    "invitedBy": {"type": "unknown"}, "localDisplayName": "alice",
    "memberProfile": {"profileId": 1, "displayName": "alice", "fullName": "", "localAlias": ""},
    "memberContactProfileId": 1, "memberChatVRange": {"minVersion": 1, "maxVersion": 8},
    "createdAt": "T", "updatedAt": "T"},
  "chatSettings": {"enableNtfs": "all", "favorite": false},
  "createdAt": "T", "updatedAt": "T", "chatTags": [],
  "groupSummary": {"currentMembers": 2}, "membersRequireAttention": 0
}"#;

fn parse(s: &str) -> Value {
    serde_json::from_str(s).expect("hand-written JSON")
}

#[test]
fn group_records() {
    assert_eq!(enc(&member(2, "bob", "invitee", "connected")), parse(BOB));
    assert_eq!(enc(&group_info()), parse(GROUP_INFO));
    assert_eq!(
        enc(&InvitedBy::Contact { by_contact_id: 3 }),
        json!({"type": "contact", "byContactId": 3})
    );
    let mut with_conn = member(2, "bob", "invitee", "connected");
    with_conn.active_conn = Some(Connection {
        conn_id: 2,
        agent_conn_id: "YWJj".into(),
        conn_chat_version: 8,
        peer_chat_v_range: VersionRange::chat(),
        conn_level: 0,
        via_group_link: false,
        conn_type: "member",
        conn_status: ConnStatus::Ready,
        contact_conn_initiated: false,
        local_alias: String::new(),
        entity_id: Some(2),
        pq_support: false,
        pq_encryption: false,
        auth_err_counter: 0,
        quota_err_counter: 0,
        created_at: "T".into(),
    });
    let v = enc(&with_conn);
    assert_eq!(v["activeConn"]["connType"], "member");
    assert_eq!(v["activeConn"]["connStatus"], "ready");
    let link = GroupLink {
        user_contact_link_id: 1,
        conn_link_contact: CreatedConnLink {
            conn_full_link: "https://simplex.chat/contact#/?v=2".into(),
            conn_short_link: None,
        },
        short_link_data_set: false,
        short_link_large_data_set: false,
        group_link_id: "YWJj".into(),
        accept_member_role: MemberRole::Observer,
    };
    assert_eq!(
        enc(&link),
        json!({"userContactLinkId": 1,
               "connLinkContact": {"connFullLink": "https://simplex.chat/contact#/?v=2"},
               "shortLinkDataSet": false, "shortLinkLargeDataSet": false,
               "groupLinkId": "YWJj", "acceptMemberRole": "observer"})
    );
    // A group's profile as bots send it: unknown fields are ignored, fullName may be missing.
    let p: GroupProfile =
        serde_json::from_str(r#"{"displayName":"t","image":"data:x","groupPreferences":{}}"#)
            .expect("reads");
    assert_eq!(p.full_name, "");
}

#[test]
fn group_items_and_responses() {
    let user = User::of(&Profile::new("alice"));
    let item = AChatItem {
        chat_info: ChatInfo::Group {
            group_info: Box::new(group_info()),
        },
        chat_item: ChatItem {
            chat_dir: CIDirection::GroupRcv {
                group_member: Box::new(member(2, "bob", "invitee", "connected")),
            },
            meta: CIMeta {
                item_id: 5,
                item_ts: "T".into(),
                item_text: "hi".into(),
                item_status: CIStatus::RcvNew,
                item_shared_msg_id: Some("AQID".into()),
                item_edited: false,
                user_mention: false,
                deletable: false,
                editable: false,
                show_group_as_sender: false,
                created_at: "T".into(),
                updated_at: "T".into(),
            },
            content: CIContent::RcvMsgContent {
                msg_content: MsgContent::Text { text: "hi".into() },
            },
            mentions: serde_json::Map::new(),
            reactions: vec![],
            file: None,
        },
    };
    let v = enc(&item);
    assert_eq!(
        v["chatInfo"],
        json!({"type": "group", "groupInfo": parse(GROUP_INFO)})
    );
    assert_eq!(
        v["chatItem"]["chatDir"],
        json!({"type": "groupRcv", "groupMember": parse(BOB)})
    );
    assert_eq!(v["chatItem"]["meta"]["itemSharedMsgId"], "AQID");
    assert_eq!(enc(&CIDirection::GroupSnd), json!({"type": "groupSnd"}));

    let r = enc(&ChatResponse::GroupUpdated {
        user: user.clone(),
        from_group: group_info(),
        to_group: group_info(),
        member: Some(member(2, "bob", "invitee", "connected")),
    });
    assert_eq!(r["type"], "groupUpdated");
    assert_eq!(r["member_"], parse(BOB));
    let r = enc(&ChatResponse::GroupUpdated {
        user: user.clone(),
        from_group: group_info(),
        to_group: group_info(),
        member: None,
    });
    assert!(r.get("member_").is_none(), "{r}");
    let r = enc(&ChatResponse::MembersRoleUser {
        user: user.clone(),
        group_info: group_info(),
        members: vec![],
        to_role: MemberRole::Admin,
        msg_signed: false,
    });
    assert_eq!(
        (&r["type"], &r["toRole"], &r["msgSigned"]),
        (&json!("membersRoleUser"), &json!("admin"), &json!(false))
    );
    let r = enc(&ChatResponse::ReceivedGroupInvitation {
        user: user.clone(),
        group_info: group_info(),
        contact: super::tests::contact(),
        from_member_role: MemberRole::Owner,
        member_role: MemberRole::Member,
    });
    assert_eq!(r["type"], "receivedGroupInvitation");
    assert_eq!(
        (&r["fromMemberRole"], &r["memberRole"]),
        (&json!("owner"), &json!("member"))
    );
    let r = enc(&ChatResponse::UserAcceptedGroupSent {
        user,
        group_info: group_info(),
        host_contact: None,
    });
    assert!(r.get("hostContact").is_none(), "{r}");
}

#[test]
fn file_records() {
    let f = CIFile {
        file_id: 3,
        file_name: "a.bin".into(),
        file_size: 10,
        file_source: Some(LocalFile {
            file_path: "/tmp/a.bin".into(),
        }),
        file_status: CIFileStatus::RcvTransfer {
            rcv_progress: 4,
            rcv_total: 10,
        },
        file_protocol: "xftp",
    };
    assert_eq!(
        enc(&f),
        json!({"fileId": 3, "fileName": "a.bin", "fileSize": 10,
               "fileSource": {"filePath": "/tmp/a.bin"},
               "fileStatus": {"type": "rcvTransfer", "rcvProgress": 4, "rcvTotal": 10},
               "fileProtocol": "xftp"})
    );
    let statuses = [
        (CIFileStatus::SndStored, json!({"type": "sndStored"})),
        (CIFileStatus::SndComplete, json!({"type": "sndComplete"})),
        (
            CIFileStatus::RcvInvitation,
            json!({"type": "rcvInvitation"}),
        ),
        (
            CIFileStatus::SndError {
                snd_file_error: FileError::Other {
                    file_error: "x".into(),
                },
            },
            json!({"type": "sndError", "sndFileError": {"type": "other", "fileError": "x"}}),
        ),
    ];
    for (s, want) in statuses {
        assert_eq!(enc(&s), want);
    }
    let meta = FileTransferMeta {
        file_id: 3,
        file_name: "a.bin".into(),
        file_path: "/tmp/a.bin".into(),
        file_size: 10,
        chunk_size: CHUNK_SIZE,
        cancelled: false,
    };
    assert_eq!(
        enc(&meta),
        json!({"fileId": 3, "fileName": "a.bin", "filePath": "/tmp/a.bin", "fileSize": 10,
               "chunkSize": 15780, "cancelled": false})
    );
    let rcv = RcvFileTransfer {
        file_id: 3,
        file_invitation: FileInvitation {
            file_name: "a.bin".into(),
            file_size: 10,
        },
        file_status: RcvFileStatus::Cancelled { file_path: None },
        sender_display_name: "bob".into(),
        chunk_size: CHUNK_SIZE,
        cancelled: true,
        grp_member_id: None,
    };
    assert_eq!(
        enc(&rcv),
        json!({"fileId": 3, "fileInvitation": {"fileName": "a.bin", "fileSize": 10},
               "fileStatus": {"type": "cancelled"}, "senderDisplayName": "bob",
               "chunkSize": 15780, "cancelled": true})
    );
    assert_eq!(
        enc(&RcvFileStatus::Accepted {
            file_path: "/x".into()
        }),
        json!({"type": "accepted", "filePath": "/x"})
    );
    let snd = SndFileTransfer {
        file_id: 3,
        file_name: "a.bin".into(),
        file_path: "/tmp/a.bin".into(),
        file_size: 10,
        chunk_size: CHUNK_SIZE,
        recipient_display_name: "bob".into(),
        conn_id: 2,
        agent_conn_id: "YWJj".into(),
        group_member_id: None,
        file_status: FileStatus::Cancelled,
    };
    assert_eq!(
        enc(&snd),
        json!({"fileId": 3, "fileName": "a.bin", "filePath": "/tmp/a.bin", "fileSize": 10,
               "chunkSize": 15780, "recipientDisplayName": "bob", "connId": 2,
               "agentConnId": "YWJj", "fileStatus": "cancelled"})
    );
    assert_eq!(
        enc(&RcvFileDescr {
            file_descr_id: 3,
            file_descr_text: "y".into(),
            file_descr_part_no: 1,
            file_descr_complete: true
        }),
        json!({"fileDescrId": 3, "fileDescrText": "y", "fileDescrPartNo": 1,
               "fileDescrComplete": true})
    );
    let user = User::of(&Profile::new("alice"));
    let r = enc(&ChatResponse::SndFileCompleteXftp {
        user: user.clone(),
        chat_item: AChatItem {
            chat_info: ChatInfo::Direct {
                contact: Box::new(super::tests::contact()),
            },
            chat_item: ChatItem {
                chat_dir: CIDirection::DirectSnd,
                meta: CIMeta {
                    item_id: -3,
                    item_ts: "T".into(),
                    item_text: String::new(),
                    item_status: CIStatus::SndNew,
                    item_shared_msg_id: None,
                    item_edited: false,
                    user_mention: false,
                    deletable: false,
                    editable: false,
                    show_group_as_sender: false,
                    created_at: "T".into(),
                    updated_at: "T".into(),
                },
                content: CIContent::SndMsgContent {
                    msg_content: MsgContent::File {
                        text: String::new(),
                    },
                },
                mentions: serde_json::Map::new(),
                reactions: vec![],
                file: Some(f),
            },
        },
        file_transfer_meta: meta.clone(),
    });
    assert_eq!(r["type"], "sndFileCompleteXFTP");
    assert_eq!(r["chatItem"]["chatItem"]["file"]["fileId"], 3);
    let r = enc(&ChatResponse::SndFileCancelled {
        user,
        chat_item: None,
        file_transfer_meta: meta,
        snd_file_transfers: vec![snd],
    });
    assert_eq!(r["type"], "sndFileCancelled");
    assert!(
        r.get("chatItem_").is_none() && r.get("chatItem").is_none(),
        "{r}"
    );
    assert_eq!(r["sndFileTransfers"][0]["recipientDisplayName"], "bob");
}
