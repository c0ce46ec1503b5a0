//! The group events against JSON written by hand: the reference's own test strings
//! (`tests/ProtocolTests.hs`, decoded here) and the documented shapes
//! (`docs/protocol/simplex-chat.md`, `Protocol.hs` `chatToAppMessage`: what our encoder
//! must produce, compared as JSON values).

use serde_json::{json, Value};

use super::*;
use crate::protocol::{ChatEvent, ChatMessage, Profile};

/// The reference tests' invitation link (`testConnReq`).
const CONN_REQ: &str = "simplex:/invitation#/?v=1&smp=smp%3A%2F%2F1234-w%3D%3D%40smp.simplex.im%3A5223%2F3456-w%3D%3D%23%2F%3Fv%3D1-2%26dh%3DMCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o%253D&e2e=v%3D1-2%26x3dh%3DMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D%2CMEIwBQYDK2VvAzkAmKuSYeQ_m0SixPDS8Wq8VBaTS1cW-Lp0n0h4Diu-kUpR-qXx4SDJ32YGEFoGFGSbGPry5Ychr6U%3D";

/// The reference tests' profile (`testProfile`) as they write it, with the image and
/// preferences this client ignores.
const PROFILE: &str = r#"{"fullName":"Alice","displayName":"alice","image":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAIAQMAAAD+wSzIAAAABlBMVEX///+/v7+jQ3Y5AAAADklEQVQI12P4AIX8EAgALgAD/aNpbtEAAAAASUVORK5CYII=","preferences":{"reactions":{"allow":"yes"},"voice":{"allow":"yes"}}}"#;

fn alice() -> Profile {
    Profile {
        display_name: "alice".into(),
        full_name: "Alice".into(),
        peer_type: None,
    }
}

fn admin_info(v: Option<&str>) -> MemberInfo {
    MemberInfo {
        member_id: "AQIDBA==".into(),
        member_role: MemberRole::Admin,
        v: v.map(str::to_owned),
        profile: alice(),
    }
}

fn intro(direct: bool) -> IntroInvitation {
    IntroInvitation {
        group_conn_req: CONN_REQ.into(),
        direct_conn_req: direct.then(|| CONN_REQ.to_owned()),
    }
}

/// Decodes a reference test string (with `PROFILE` and `CONN_REQ` put in) to its event.
fn decode(s: &str) -> GroupEvent {
    let s = s.replace("$PROFILE", PROFILE).replace("$CONN", CONN_REQ);
    match ChatMessage::decode_one(s.as_bytes())
        .expect("decodes")
        .event
    {
        ChatEvent::Group(g) => g,
        other => panic!("not a group event: {other:?} from {s}"),
    }
}

/// The event's encoding, without the envelope's `v` and `msgId`.
fn encoded(e: GroupEvent) -> Value {
    let m = ChatMessage {
        msg_id: None,
        event: ChatEvent::Group(e),
    };
    let mut v: Value = serde_json::from_str(&m.to_json()).expect("JSON");
    assert_eq!(v.get("v"), Some(&json!("1-8")));
    if let Some(o) = v.as_object_mut() {
        o.remove("v");
    }
    v
}

#[test]
fn reference_test_strings_decode() {
    let inv = decode(
        r#"{"v":"1","event":"x.grp.inv","params":{"groupInvitation":{"connRequest":"$CONN","invitedMember":{"memberRole":"member","memberId":"BQYHCA=="},"groupProfile":{"fullName":"Team","displayName":"team","groupPreferences":{"reactions":{"enable":"on"},"voice":{"enable":"on"}}},"fromMember":{"memberRole":"admin","memberId":"AQIDBA=="}, "groupLinkId":"AQIDBA=="}}}"#,
    );
    assert_eq!(
        inv,
        GroupEvent::Inv {
            group_invitation: GroupInvitation {
                from_member: MemberIdRole {
                    member_id: "AQIDBA==".into(),
                    member_role: MemberRole::Admin
                },
                invited_member: MemberIdRole {
                    member_id: "BQYHCA==".into(),
                    member_role: MemberRole::Member
                },
                conn_request: CONN_REQ.into(),
                group_profile: GroupProfile {
                    display_name: "team".into(),
                    full_name: "Team".into()
                },
                group_link_id: Some("AQIDBA==".into()),
                group_size: None,
            }
        }
    );
    assert_eq!(
        decode(r#"{"v":"1","event":"x.grp.acpt","params":{"memberId":"AQIDBA=="}}"#),
        GroupEvent::Acpt {
            member_id: "AQIDBA==".into()
        }
    );
    assert_eq!(
        decode(
            r#"{"v":"1","event":"x.grp.mem.new","params":{"memberInfo":{"memberRole":"admin","memberId":"AQIDBA==","v":"1-5","profile":$PROFILE}}}"#
        ),
        GroupEvent::MemNew {
            member_info: admin_info(Some("1-5")),
            scope: None
        }
    );
    assert_eq!(
        decode(
            r#"{"v":"1","event":"x.grp.mem.intro","params":{"memberInfo":{"memberRole":"admin","memberId":"AQIDBA==","profile":$PROFILE}}}"#
        ),
        GroupEvent::MemIntro {
            member_info: admin_info(None),
            member_restrictions: None
        }
    );
    assert_eq!(
        decode(
            r#"{"v":"1","event":"x.grp.mem.inv","params":{"memberId":"AQIDBA==","memberIntro":{"directConnReq":"$CONN","groupConnReq":"$CONN"}}}"#
        ),
        GroupEvent::MemInv {
            member_id: "AQIDBA==".into(),
            member_intro: intro(true)
        }
    );
    assert_eq!(
        decode(
            r#"{"v":"1","event":"x.grp.mem.fwd","params":{"memberIntro":{"groupConnReq":"$CONN"},"memberInfo":{"memberRole":"admin","memberId":"AQIDBA==","v":"1-5","profile":$PROFILE}}}"#
        ),
        GroupEvent::MemFwd {
            member_info: admin_info(Some("1-5")),
            member_intro: intro(false)
        }
    );
    assert_eq!(
        decode(
            r#"{"v":"1","event":"x.grp.mem.info","params":{"memberId":"AQIDBA==","profile":$PROFILE}}"#
        ),
        GroupEvent::MemInfo {
            member_id: "AQIDBA==".into(),
            profile: alice()
        }
    );
    assert_eq!(
        decode(r#"{"v":"1","event":"x.grp.mem.con","params":{"memberId":"AQIDBA=="}}"#),
        GroupEvent::MemCon {
            member_id: "AQIDBA==".into()
        }
    );
    assert_eq!(
        decode(r#"{"v":"1","event":"x.grp.mem.del","params":{"memberId":"AQIDBA=="}}"#),
        GroupEvent::MemDel {
            member_id: "AQIDBA==".into(),
            messages: None
        }
    );
    assert_eq!(
        decode(r#"{"v":"1","event":"x.grp.leave","params":{}}"#),
        GroupEvent::Leave {}
    );
    assert_eq!(
        decode(r#"{"v":"1","event":"x.grp.del","params":{}}"#),
        GroupEvent::Del {}
    );
}

/// One assertion per event (long by nature: each is the event and its JSON written out).
#[test]
fn our_encoding_is_the_documented_json() {
    assert_eq!(
        encoded(GroupEvent::Inv {
            group_invitation: GroupInvitation {
                from_member: MemberIdRole {
                    member_id: "AQIDBA==".into(),
                    member_role: MemberRole::Owner
                },
                invited_member: MemberIdRole {
                    member_id: "BQYHCA==".into(),
                    member_role: MemberRole::Member
                },
                conn_request: CONN_REQ.into(),
                group_profile: GroupProfile {
                    display_name: "team".into(),
                    full_name: String::new()
                },
                group_link_id: None,
                group_size: Some(1),
            }
        }),
        json!({"event":"x.grp.inv","params":{"groupInvitation":{
            "fromMember":{"memberId":"AQIDBA==","memberRole":"owner"},
            "invitedMember":{"memberId":"BQYHCA==","memberRole":"member"},
            "connRequest":CONN_REQ,
            "groupProfile":{"displayName":"team","fullName":""},
            "groupSize":1}}})
    );
    assert_eq!(
        encoded(GroupEvent::Acpt {
            member_id: "AQIDBA==".into()
        }),
        json!({"event":"x.grp.acpt","params":{"memberId":"AQIDBA=="}})
    );
    assert_eq!(
        encoded(GroupEvent::MemNew {
            member_info: admin_info(Some("1-8")),
            scope: None
        }),
        json!({"event":"x.grp.mem.new","params":{"memberInfo":{"memberId":"AQIDBA==","memberRole":"admin","v":"1-8","profile":{"displayName":"alice","fullName":"Alice"}}}})
    );
    assert_eq!(
        encoded(GroupEvent::MemIntro {
            member_info: admin_info(None),
            member_restrictions: None
        }),
        json!({"event":"x.grp.mem.intro","params":{"memberInfo":{"memberId":"AQIDBA==","memberRole":"admin","profile":{"displayName":"alice","fullName":"Alice"}}}})
    );
    assert_eq!(
        encoded(GroupEvent::MemInv {
            member_id: "AQIDBA==".into(),
            member_intro: intro(false)
        }),
        json!({"event":"x.grp.mem.inv","params":{"memberId":"AQIDBA==","memberIntro":{"groupConnReq":CONN_REQ}}})
    );
    assert_eq!(
        encoded(GroupEvent::MemFwd {
            member_info: admin_info(None),
            member_intro: intro(false)
        }),
        json!({"event":"x.grp.mem.fwd","params":{"memberInfo":{"memberId":"AQIDBA==","memberRole":"admin","profile":{"displayName":"alice","fullName":"Alice"}},"memberIntro":{"groupConnReq":CONN_REQ}}})
    );
    assert_eq!(
        encoded(GroupEvent::MemInfo {
            member_id: "AQIDBA==".into(),
            profile: alice()
        }),
        json!({"event":"x.grp.mem.info","params":{"memberId":"AQIDBA==","profile":{"displayName":"alice","fullName":"Alice"}}})
    );
    assert_eq!(
        encoded(GroupEvent::MemRole {
            member_id: "AQIDBA==".into(),
            role: MemberRole::Observer
        }),
        json!({"event":"x.grp.mem.role","params":{"memberId":"AQIDBA==","role":"observer"}})
    );
    assert_eq!(
        encoded(GroupEvent::MemCon {
            member_id: "AQIDBA==".into()
        }),
        json!({"event":"x.grp.mem.con","params":{"memberId":"AQIDBA=="}})
    );
    assert_eq!(
        encoded(GroupEvent::MemDel {
            member_id: "AQIDBA==".into(),
            messages: None
        }),
        json!({"event":"x.grp.mem.del","params":{"memberId":"AQIDBA=="}})
    );
    assert_eq!(
        encoded(GroupEvent::Leave {}),
        json!({"event":"x.grp.leave","params":{}})
    );
    assert_eq!(
        encoded(GroupEvent::Del {}),
        json!({"event":"x.grp.del","params":{}})
    );
    assert_eq!(
        encoded(GroupEvent::Info {
            group_profile: GroupProfile {
                display_name: "team".into(),
                full_name: "Team".into()
            }
        }),
        json!({"event":"x.grp.info","params":{"groupProfile":{"displayName":"team","fullName":"Team"}}})
    );
    assert_eq!(
        encoded(GroupEvent::LinkInv {
            group_link_invitation: GroupLinkInvitation {
                from_member: MemberIdRole {
                    member_id: "AQIDBA==".into(),
                    member_role: MemberRole::Owner
                },
                from_member_name: "alice".into(),
                invited_member: MemberIdRole {
                    member_id: "BQYHCA==".into(),
                    member_role: MemberRole::Member
                },
                group_profile: GroupProfile {
                    display_name: "team".into(),
                    full_name: String::new()
                },
                group_size: None,
            }
        }),
        json!({"event":"x.grp.link.inv","params":{"groupLinkInvitation":{
            "fromMember":{"memberId":"AQIDBA==","memberRole":"owner"},
            "fromMemberName":"alice",
            "invitedMember":{"memberId":"BQYHCA==","memberRole":"member"},
            "groupProfile":{"displayName":"team","fullName":""}}}})
    );
    assert_eq!(
        encoded(GroupEvent::LinkMem { profile: alice() }),
        json!({"event":"x.grp.link.mem","params":{"profile":{"displayName":"alice","fullName":"Alice"}}})
    );
}

#[test]
fn forwarded_messages_carry_the_original() {
    // As `chatToAppMessage` writes it: memberId, memberName, msgTs and msg (an object).
    let fwd = br#"{"v":"1-16","msgId":"AAAA","event":"x.grp.msg.forward","params":{"memberId":"AQIDBA==","memberName":"bob","msgTs":"2026-01-01T00:00:01.000000001Z","msg":{"v":"1-16","msgId":"BBBB","event":"x.msg.new","params":{"content":{"type":"text","text":"hello"}}}}}"#;
    let m = ChatMessage::decode_one(fwd).expect("decodes");
    let ChatEvent::Group(GroupEvent::MsgForward {
        member_id,
        member_name,
        msg_ts,
        msg,
    }) = m.event
    else {
        panic!("not a forward: {m:?}");
    };
    assert_eq!(member_id.as_deref(), Some("AQIDBA=="));
    assert_eq!(member_name.as_deref(), Some("bob"));
    assert_eq!(msg_ts, "2026-01-01T00:00:01.000000001Z");
    let inner = ChatMessage::from_value(msg.clone()).expect("inner");
    assert_eq!(inner.msg_id.as_deref(), Some("BBBB"));
    assert_eq!(
        inner.event,
        ChatEvent::MsgNew {
            text: "hello".into()
        }
    );
    // Encoding it again gives the same params.
    let again = encoded(GroupEvent::MsgForward {
        member_id: Some("AQIDBA==".into()),
        member_name: Some("bob".into()),
        msg_ts: "2026-01-01T00:00:01.000000001Z".into(),
        msg,
    });
    assert_eq!(
        again,
        json!({"event":"x.grp.msg.forward","params":{"memberId":"AQIDBA==","memberName":"bob","msgTs":"2026-01-01T00:00:01.000000001Z",
            "msg":{"v":"1-16","msgId":"BBBB","event":"x.msg.new","params":{"content":{"type":"text","text":"hello"}}}}})
    );
}

#[test]
fn bad_group_params_are_ignored_not_fatal() {
    // One bad item of a batch does not lose the others.
    let batch = ChatMessage::decode_all(
        br#"[{"event":"x.grp.mem.con","params":{}},{"event":"x.grp.mem.role","params":{"memberId":"AQIDBA==","role":"relay"}},{"event":"x.grp.leave","params":{}}]"#,
    )
    .expect("batch");
    assert_eq!(batch[0].event, ChatEvent::Unknown("x.grp.mem.con".into()));
    assert_eq!(batch[1].event, ChatEvent::Unknown("x.grp.mem.role".into()));
    assert_eq!(batch[2].event, ChatEvent::Group(GroupEvent::Leave {}));
}

#[test]
fn roles_are_ordered_as_the_reference() {
    use MemberRole::*;
    let all = [Observer, Author, Member, Moderator, Admin, Owner];
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    for r in all {
        assert_eq!(MemberRole::parse(r.as_str()), Some(r));
    }
    assert_eq!(MemberRole::parse("relay"), None);
}

#[test]
fn forwarded_events_are_the_references() {
    assert!(is_forwarded("x.msg.new"));
    assert!(is_forwarded("x.grp.leave"));
    assert!(is_forwarded("x.info"));
    assert!(!is_forwarded("x.grp.mem.intro"));
    assert!(!is_forwarded("x.grp.msg.forward"));
    assert!(!is_forwarded("x.grp.mem.con"));
}

#[test]
fn group_link_data_is_the_reference_json() {
    let d = GroupShortLinkData {
        group_profile: GroupProfile {
            display_name: "team".into(),
            full_name: String::new(),
        },
    };
    assert_eq!(
        serde_json::from_slice::<Value>(&d.to_bytes()).expect("JSON"),
        json!({"groupProfile":{"displayName":"team","fullName":""}})
    );
}
