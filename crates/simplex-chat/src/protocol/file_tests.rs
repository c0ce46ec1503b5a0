//! The file messages against hand-written JSON in the reference's shape (`Protocol.hs`:
//! `xftpFileInvitation`, `FileDescr`, `appJsonToCM`'s `x.msg.file.descr`/`x.file.cancel`).

use serde_json::{json, Value};

use super::file::{FileContent, FileDescr, FileEvent, FileInvitation, InlineFileMode};
use super::{ChatEvent, ChatMessage, MsgNewFile};

fn json_of(m: &ChatMessage) -> Value {
    serde_json::from_str(&m.to_json()).expect("our JSON parses")
}

#[test]
fn xftp_invitation_is_the_references() {
    let m = ChatMessage {
        msg_id: Some("AQIDBAUGBwgJCgsM".into()),
        event: ChatEvent::MsgNewFile(MsgNewFile {
            content: FileContent::File {
                text: String::new(),
            },
            file: FileInvitation::xftp("x.pdf", 272_376),
        }),
    };
    // What `/f @bob x.pdf` sends: no digest, no connection link, no inline mode.
    assert_eq!(
        json_of(&m),
        json!({"v":"1-8","msgId":"AQIDBAUGBwgJCgsM","event":"x.msg.new","params":{
            "content":{"type":"file","text":""},
            "file":{"fileName":"x.pdf","fileSize":272376,
                    "fileDescr":{"fileDescrText":"","fileDescrPartNo":0,"fileDescrComplete":false}}}})
    );
    let back = ChatMessage::decode_one(&m.to_bytes()).expect("decodes");
    assert_eq!(back, m);
}

#[test]
fn reference_file_messages_decode() {
    // An app's picture: content `image` with its preview, quote and extra fields ignored.
    let m = ChatMessage::decode_one(
        br#"{"v":"1-16","msgId":"YWJj","event":"x.msg.new","params":{"content":{"type":"image","text":"look","image":"data:image/jpg;base64,/9j/"},"file":{"fileName":"IMG_1.jpg","fileSize":5242880,"fileDigest":"3q2-7w","fileDescr":{"fileDescrText":"","fileDescrPartNo":0,"fileDescrComplete":false}},"ttl":null,"live":false}}"#,
    )
    .expect("image");
    assert_eq!(m.msg_id.as_deref(), Some("YWJj"));
    let ChatEvent::MsgNewFile(f) = m.event else {
        panic!("not a file message: {:?}", m.event)
    };
    assert_eq!(
        f.content,
        FileContent::Image {
            text: "look".into(),
            image: "data:image/jpg;base64,/9j/".into()
        }
    );
    assert_eq!(f.content.text(), "look");
    assert_eq!(f.file.file_name, "IMG_1.jpg");
    assert_eq!(f.file.file_size, 5_242_880);
    assert_eq!(f.file.file_digest.as_deref(), Some("3q2-7w"));
    assert_eq!(f.file.file_descr, Some(FileDescr::pending()));

    // A voice note, and an old-style inline offer (no description).
    let m = ChatMessage::decode_one(
        br#"{"event":"x.msg.new","params":{"content":{"type":"voice","text":"","duration":7},"file":{"fileName":"voice.m4a","fileSize":9000,"fileInline":"sent"}}}"#,
    )
    .expect("voice");
    let ChatEvent::MsgNewFile(f) = m.event else {
        panic!("not a file message")
    };
    assert_eq!(
        f.content,
        FileContent::Voice {
            text: String::new(),
            duration: 7
        }
    );
    assert_eq!(f.file.file_inline, Some(InlineFileMode::Sent));
    assert_eq!(f.file.file_descr, None);

    // A file with a content type we do not show still is a file.
    let m = ChatMessage::decode_one(
        br#"{"event":"x.msg.new","params":{"content":{"type":"link","text":"x","preview":{}},"file":{"fileName":"a","fileSize":1}}}"#,
    )
    .expect("other");
    assert!(matches!(
        m.event,
        ChatEvent::MsgNewFile(MsgNewFile {
            content: FileContent::Other,
            ..
        })
    ));
    // `"file":null` is a text message.
    let m = ChatMessage::decode_one(
        br#"{"event":"x.msg.new","params":{"content":{"type":"text","text":"hi"},"file":null}}"#,
    )
    .expect("text");
    assert_eq!(m.event, ChatEvent::MsgNew { text: "hi".into() });
}

#[test]
fn descr_and_cancel_are_the_references() {
    let descr = ChatMessage {
        msg_id: Some("bmV3".into()),
        event: ChatEvent::File(FileEvent::Descr {
            msg_id: "AQIDBAUGBwgJCgsM".into(),
            file_descr: FileDescr {
                file_descr_text: "(version: 1\n".into(),
                file_descr_part_no: 2,
                file_descr_complete: true,
            },
        }),
    };
    assert_eq!(
        json_of(&descr),
        json!({"v":"1-8","msgId":"bmV3","event":"x.msg.file.descr","params":{
            "msgId":"AQIDBAUGBwgJCgsM",
            "fileDescr":{"fileDescrText":"(version: 1\n","fileDescrPartNo":2,"fileDescrComplete":true}}})
    );
    assert_eq!(
        ChatMessage::decode_one(&descr.to_bytes()).expect("decodes"),
        descr
    );
    let cancel = ChatMessage {
        msg_id: Some("bmV3".into()),
        event: ChatEvent::File(FileEvent::Cancel {
            msg_id: "AQIDBAUGBwgJCgsM".into(),
        }),
    };
    assert_eq!(
        json_of(&cancel),
        json!({"v":"1-8","msgId":"bmV3","event":"x.file.cancel","params":{"msgId":"AQIDBAUGBwgJCgsM"}})
    );
    // As an app sends it, in a batch with a bad part that must not spoil the others.
    let batch = ChatMessage::decode_all(
        br#"[{"v":"1-16","msgId":"eHl6","event":"x.file.cancel","params":{"msgId":"YWJj"}},{"event":"x.msg.file.descr","params":{"msgId":"YWJj"}}]"#,
    )
    .expect("batch");
    assert_eq!(
        batch[0].event,
        ChatEvent::File(FileEvent::Cancel {
            msg_id: "YWJj".into()
        })
    );
    assert_eq!(
        batch[1].event,
        ChatEvent::Unknown("x.msg.file.descr".into())
    );
}

#[test]
fn descriptions_split_into_parts_of_14000_characters_from_1() {
    assert_eq!(
        FileDescr::parts(""),
        vec![FileDescr {
            file_descr_text: String::new(),
            file_descr_part_no: 1,
            file_descr_complete: true
        }]
    );
    let one = FileDescr::parts("abc");
    assert_eq!(one.len(), 1);
    assert!(one[0].file_descr_complete);
    // 14,000 characters exactly: one part; one more: two.
    assert_eq!(FileDescr::parts(&"a".repeat(14_000)).len(), 1);
    // Multi-byte characters are counted as characters and never cut.
    let text = format!("{}{}", "é".repeat(14_000), "xy");
    let parts = FileDescr::parts(&text);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].file_descr_text.chars().count(), 14_000);
    assert_eq!(
        (parts[0].file_descr_part_no, parts[0].file_descr_complete),
        (1, false)
    );
    assert_eq!(parts[1].file_descr_text, "xy");
    assert_eq!(
        (parts[1].file_descr_part_no, parts[1].file_descr_complete),
        (2, true)
    );
    let joined: String = parts.iter().map(|p| p.file_descr_text.as_str()).collect();
    assert_eq!(joined, text);
}
