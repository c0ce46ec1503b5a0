//! The chat protocol's JSON messages (`docs/protocol/simplex-chat.md`, `Protocol.hs`):
//! `{"v":"1-8","msgId":"…","event":"x.msg.new","params":{…}}`.
//!
//! Understood: `x.info` (profile), `x.contact` (request to an address), `x.msg.new` with
//! text content, `x.ok` (handshake), `x.direct.del` (the sender deleted the contact), the
//! file messages of module [`file`] and the group events of module [`group`]. Any other event decodes to
//! [`ChatEvent::Unknown`] and is ignored by the client. A body may be one JSON object, a
//! JSON array of them (the reference's batches), or a compressed batch (`X…`, chat version
//! 8: module [`compressed`]).

mod compressed;
pub mod file;
#[cfg(test)]
mod file_tests;
pub mod group;

pub use file::{FileEvent, MsgNewFile};
pub use group::{GroupEvent, MemberRole};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use simplex_encoding::string::base64url_encode;

/// The chat protocol versions this client speaks, 1 to 8. What each version asks of a
/// client (the named versions in the reference's `Protocol.hs`) and how we meet it:
/// - 1: the initial protocol.
/// - 2 (`groupDirectInvVersion`): introduced members connect without a direct contact
///   (`directConnReq` absent): we never send one and never need one.
/// - 3 (`groupFastLinkJoinVersion`): joining a group link without a contact
///   (`x.grp.link.inv`/`x.grp.link.mem`): the events are understood; group links are not
///   offered by this client yet, so it is never asked to take part.
/// - 4 (`groupForwardVersion`): a host forwards members' messages with
///   `x.grp.msg.forward` until they are connected (`x.grp.mem.con`), and members unwrap
///   them and drop copies by message ID: both done (`chat::group_events`).
/// - 5 (`batchSendVersion`): JSON-array batches are decoded; this client sends one message
///   per body, which any version reads. Group history: a host sends a new member of
///   version 5+ the last 100 messages as forwarded messages after the introductions, and
///   received history is forwarded messages, handled as above (an author we were not
///   introduced to, a member who left, gets an unknown member record).
/// - 6 (`groupHistoryIncludeWelcomeVersion`): the welcome message's place in history:
///   nothing to do for a client without welcome messages.
/// - 7 (`memberProfileUpdateVersion`): `x.info` goes to groups on a profile change, and a
///   member's `x.info` updates its profile: both done.
/// - 8 (`pqEncryptionCompressionVersion`): post-quantum encryption (the agent's, on by
///   default) and compressed bodies, which the reference sends to peers of version 8 and
///   up: decoded here. The reference turns post-quantum encryption on for a contact only
///   at version 8, so a lower claim would leave our contacts with it without it.
/// - 9 (`batchSend2Version`) and later (business chats, reports, …): not claimed.
pub const CHAT_VERSION_RANGE: &str = "1-8";

/// A user's or contact's profile (`Profile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The name others see and address.
    pub display_name: String,
    /// An optional longer name (the reference always sends it, possibly empty).
    #[serde(default)]
    pub full_name: String,
    /// A bot's profile says so (`peerType`, absent for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_type: Option<ChatPeerType>,
}

impl Profile {
    /// A profile with a display name only.
    pub fn new(display_name: &str) -> Self {
        Profile {
            display_name: display_name.to_owned(),
            full_name: String::new(),
            peer_type: None,
        }
    }
}

/// Whether a profile is a person's or a bot's (`ChatPeerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatPeerType {
    /// A person.
    Human,
    /// A bot.
    Bot,
}

/// What a short link's data carries for the app that opens it (`ContactShortLinkData`):
/// the profile to show before connecting, an optional welcome message (left out: this
/// client sends none) and whether it is a business address. Sent as its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactShortLinkData {
    /// The profile of the link's owner.
    pub profile: Profile,
    /// A business address (never, here).
    #[serde(default)]
    pub business: bool,
}

impl ContactShortLinkData {
    /// The link data of a user's invitation or address.
    pub fn of(profile: &Profile) -> Self {
        ContactShortLinkData {
            profile: profile.clone(),
            business: false,
        }
    }

    /// Its JSON, as the link's user data.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and a bool: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One chat protocol event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// `x.info`: the sender's profile (connection handshake, profile updates).
    Info(Profile),
    /// `x.contact`: a request sent to a contact address, with the requester's profile.
    Contact {
        /// The requester's profile.
        profile: Profile,
        /// Identifies repeated requests (`contactReqId`), base64url.
        contact_req_id: Option<String>,
    },
    /// `x.msg.new` with `text` content.
    MsgNew {
        /// The text.
        text: String,
    },
    /// `x.msg.new` with a file invitation (module [`mod@file`]).
    MsgNewFile(MsgNewFile),
    /// `x.msg.file.descr` or `x.file.cancel` (module [`mod@file`]).
    File(FileEvent),
    /// `x.ok`: sent as the confirmation info when joining through an address.
    Ok,
    /// `x.direct.del` (params `{}`): the sender deleted the contact and its connection.
    DirectDel,
    /// A group event (`x.grp.…`, module [`group`]).
    Group(GroupEvent),
    /// Any other event (or `x.msg.new` with non-text content): ignored.
    Unknown(String),
}

/// A chat message: the event and its shared message ID (`msgId`, base64url of 12 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// The sender's message ID, when present.
    pub msg_id: Option<String>,
    /// The event.
    pub event: ChatEvent,
}

/// A body that is not a chat message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not JSON, or not an object / array of objects.
    #[error("bad JSON: {0}")]
    Json(String),
    /// A compressed batch (`X…`) that does not decode.
    #[error("bad compressed chat message: {0}")]
    Compressed(String),
    /// A known event with missing or wrong parameters.
    #[error("bad parameters of {0}")]
    Params(&'static str),
}

/// A fresh random message ID: base64url of 12 random bytes.
pub fn new_msg_id() -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64url_encode(&b)
}

impl ChatMessage {
    /// A message with a fresh ID.
    pub fn new(event: ChatEvent) -> Self {
        ChatMessage {
            msg_id: Some(new_msg_id()),
            event,
        }
    }

    /// The JSON encoding, without whitespace.
    pub fn to_json(&self) -> String {
        let (event, params) = match &self.event {
            ChatEvent::Info(p) => ("x.info", json!({ "profile": p })),
            ChatEvent::Contact {
                profile,
                contact_req_id,
            } => {
                let mut m = Map::new();
                m.insert("profile".into(), json!(profile));
                if let Some(id) = contact_req_id {
                    m.insert("contactReqId".into(), json!(id));
                }
                ("x.contact", Value::Object(m))
            }
            ChatEvent::MsgNew { text } => (
                "x.msg.new",
                json!({ "content": { "type": "text", "text": text } }),
            ),
            // Serialising these derived types cannot fail.
            ChatEvent::MsgNewFile(m) => ("x.msg.new", serde_json::to_value(m).unwrap_or_default()),
            ChatEvent::File(f) => (
                f.name(),
                serde_json::to_value(f)
                    .ok()
                    .and_then(|mut v| v.get_mut("params").map(Value::take))
                    .unwrap_or_else(|| json!({})),
            ),
            ChatEvent::Ok => ("x.ok", json!({})),
            ChatEvent::DirectDel => ("x.direct.del", json!({})),
            ChatEvent::Group(g) => (
                g.name(),
                // Serialising these derived types cannot fail; the event tag is dropped.
                serde_json::to_value(g)
                    .ok()
                    .and_then(|mut v| v.get_mut("params").map(Value::take))
                    .unwrap_or_else(|| json!({})),
            ),
            ChatEvent::Unknown(e) => (e.as_str(), json!({})),
        };
        let mut m = Map::new();
        m.insert("v".into(), json!(CHAT_VERSION_RANGE));
        if let Some(id) = &self.msg_id {
            m.insert("msgId".into(), json!(id));
        }
        m.insert("event".into(), json!(event));
        m.insert("params".into(), params);
        Value::Object(m).to_string()
    }

    /// The bytes to hand to the agent.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_json().into_bytes()
    }

    /// Decodes a body: one message, a batch (JSON array) or a compressed batch whose items
    /// are either (not compressed again).
    pub fn decode_all(body: &[u8]) -> Result<Vec<ChatMessage>, ProtocolError> {
        Ok(Self::decode_all_raw(body)?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// As [`ChatMessage::decode_all`], each message with the JSON object it came as (what a
    /// host forwards).
    pub fn decode_all_raw(body: &[u8]) -> Result<Vec<(ChatMessage, Value)>, ProtocolError> {
        match body.split_first() {
            Some((b'X', rest)) => {
                let mut out = Vec::new();
                for item in compressed::decode(rest)? {
                    if item.first() == Some(&b'X') {
                        return Err(ProtocolError::Compressed("compressed twice".into()));
                    }
                    out.extend(Self::decode_json(&item)?);
                }
                Ok(out)
            }
            _ => Self::decode_json(body),
        }
    }

    /// One message or a JSON array of them.
    fn decode_json(body: &[u8]) -> Result<Vec<(ChatMessage, Value)>, ProtocolError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| ProtocolError::Json(e.to_string()))?;
        let with_raw = |v: Value| Ok((Self::from_value(v.clone())?, v));
        match v {
            Value::Array(items) => items.into_iter().map(with_raw).collect(),
            other => Ok(vec![with_raw(other)?]),
        }
    }

    /// Decodes a body that must hold exactly one message (connection info).
    pub fn decode_one(body: &[u8]) -> Result<ChatMessage, ProtocolError> {
        let mut all = Self::decode_all(body)?;
        match (all.pop(), all.is_empty()) {
            (Some(m), true) => Ok(m),
            _ => Err(ProtocolError::Json("expected one message".into())),
        }
    }

    /// A message from its JSON object (also a forwarded one, `x.grp.msg.forward`'s `msg`).
    pub fn from_value(v: Value) -> Result<ChatMessage, ProtocolError> {
        let Value::Object(mut m) = v else {
            return Err(ProtocolError::Json("not an object".into()));
        };
        let msg_id = match m.remove("msgId") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let event = match m.remove("event") {
            Some(Value::String(s)) => s,
            _ => return Err(ProtocolError::Json("no event".into())),
        };
        let params = m.remove("params").unwrap_or(Value::Object(Map::new()));
        let event = match event.as_str() {
            "x.info" => {
                ChatEvent::Info(profile_param(&params).ok_or(ProtocolError::Params("x.info"))?)
            }
            "x.contact" => ChatEvent::Contact {
                profile: profile_param(&params).ok_or(ProtocolError::Params("x.contact"))?,
                contact_req_id: params
                    .get("contactReqId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            "x.msg.new" if params.get("file").is_some_and(|f| !f.is_null()) => {
                // A file we cannot read is ignored like an unknown message.
                match serde_json::from_value(params) {
                    Ok(m) => ChatEvent::MsgNewFile(m),
                    Err(_) => ChatEvent::Unknown(event),
                }
            }
            "x.msg.new" => {
                let content = params
                    .get("content")
                    .ok_or(ProtocolError::Params("x.msg.new"))?;
                match (
                    content.get("type").and_then(Value::as_str),
                    content.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => ChatEvent::MsgNew { text: t.to_owned() },
                    (_, Some(_)) => ChatEvent::Unknown(event),
                    _ => return Err(ProtocolError::Params("x.msg.new")),
                }
            }
            "x.ok" => ChatEvent::Ok,
            "x.direct.del" => ChatEvent::DirectDel,
            name if FileEvent::NAMES.contains(&name) => {
                let tagged = json!({ "event": name, "params": params });
                // As group events: unreadable parameters make it an unknown event.
                match serde_json::from_value(tagged) {
                    Ok(f) => ChatEvent::File(f),
                    Err(_) => ChatEvent::Unknown(event),
                }
            }
            name if GroupEvent::NAMES.contains(&name) => {
                let tagged = json!({ "event": name, "params": params });
                // A group event with parameters we cannot read is ignored like an unknown
                // one, not failing the other messages of its batch.
                match serde_json::from_value(tagged) {
                    Ok(g) => ChatEvent::Group(g),
                    Err(_) => ChatEvent::Unknown(event),
                }
            }
            _ => ChatEvent::Unknown(event),
        };
        Ok(ChatMessage { msg_id, event })
    }
}

fn profile_param(params: &Value) -> Option<Profile> {
    let p = params.get("profile")?;
    let display_name = p.get("displayName")?.as_str()?.to_owned();
    let full_name = p
        .get("fullName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let peer_type = p
        .get("peerType")
        .and_then(|t| serde_json::from_value(t.clone()).ok());
    Some(Profile {
        display_name,
        full_name,
        peer_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: ChatEvent) {
        let m = ChatMessage::new(e);
        let back = ChatMessage::decode_one(&m.to_bytes()).expect("decodes");
        assert_eq!(back, m);
    }

    #[test]
    fn events_round_trip() {
        round_trip(ChatEvent::Info(Profile::new("alice")));
        round_trip(ChatEvent::Contact {
            profile: Profile {
                display_name: "bob".into(),
                full_name: "Bob B".into(),
                peer_type: None,
            },
            contact_req_id: Some("AAAA".into()),
        });
        round_trip(ChatEvent::MsgNew {
            text: "hello \"there\"\n😀".into(),
        });
        round_trip(ChatEvent::Ok);
        round_trip(ChatEvent::DirectDel);
    }

    #[test]
    fn envelope_layout_is_the_references() {
        let m = ChatMessage {
            msg_id: Some("AQIDBAUGBwgJCgsM".into()),
            event: ChatEvent::MsgNew { text: "hi".into() },
        };
        let v: Value = serde_json::from_str(&m.to_json()).expect("json");
        assert_eq!(
            v,
            json!({"v":"1-8","msgId":"AQIDBAUGBwgJCgsM","event":"x.msg.new",
                   "params":{"content":{"type":"text","text":"hi"}}})
        );
        assert!(!m.to_json().contains(' '), "no whitespace");
        let info = ChatMessage {
            msg_id: None,
            event: ChatEvent::Info(Profile::new("alice")),
        };
        let v: Value = serde_json::from_str(&info.to_json()).expect("json");
        assert_eq!(
            v,
            json!({"v":"1-8","event":"x.info","params":{"profile":{"displayName":"alice","fullName":""}}})
        );
        let del = ChatMessage {
            msg_id: Some("AQIDBAUGBwgJCgsM".into()),
            event: ChatEvent::DirectDel,
        };
        let v: Value = serde_json::from_str(&del.to_json()).expect("json");
        assert_eq!(
            v,
            json!({"v":"1-8","msgId":"AQIDBAUGBwgJCgsM","event":"x.direct.del","params":{}})
        );
    }

    #[test]
    fn reference_messages_decode() {
        // As the reference sends them: extra fields, no fullName, a batch.
        let m = ChatMessage::decode_one(
            br#"{"v":"1-16","msgId":"abcd","event":"x.info","params":{"profile":{"displayName":"bob","image":"data:","preferences":{}}}}"#,
        )
        .expect("x.info");
        assert_eq!(m.event, ChatEvent::Info(Profile::new("bob")));
        let batch = ChatMessage::decode_all(
            br#"[{"event":"x.msg.new","params":{"content":{"type":"text","text":"a"}}},{"event":"x.msg.new","params":{"content":{"type":"link","text":"b","preview":{}}}},{"event":"x.grp.inv","params":{}}]"#,
        )
        .expect("batch");
        assert_eq!(batch.len(), 3);
        assert_eq!(batch[0].event, ChatEvent::MsgNew { text: "a".into() });
        assert_eq!(batch[1].event, ChatEvent::Unknown("x.msg.new".into()));
        assert_eq!(batch[2].event, ChatEvent::Unknown("x.grp.inv".into()));
    }

    #[test]
    fn compressed_batches_decode() {
        // As the reference sends to version 8: `X`, one item, passthrough.
        let json = br#"{"v":"1-16","msgId":"abcd","event":"x.msg.new","params":{"content":{"type":"text","text":"hi"}}}"#;
        let mut body = vec![b'X', 1, b'0', u8::try_from(json.len()).expect("short")];
        body.extend(json);
        let m = ChatMessage::decode_all(&body).expect("compressed batch");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].event, ChatEvent::MsgNew { text: "hi".into() });
        // A zstd item (made by libzstd) holding a JSON array: 2,000 `q`s in `x.msg.new`,
        // then `x.direct.del`.
        let text = "q".repeat(2000);
        let frame = compressed::tests::hex("28b52ffd643b07a5020092c40f169059079c2d2a21add86ec8b901d95ddb246aae7f5002c12e7154f49c0d0877d78613adeeeaf457a27eaa8ae3976ec930b38c46ae8ad052714eabfa713f2005001b801cc200e434f3b83fa860ed681519aaf34bac");
        let body = [vec![b'X', 1], compressed::tests::item(b'1', &frame)].concat();
        let m = ChatMessage::decode_all(&body).expect("zstd batch");
        assert_eq!(m[0].event, ChatEvent::MsgNew { text });
        assert_eq!(m[1].event, ChatEvent::DirectDel);
    }

    #[test]
    fn short_link_data_is_the_reference_json() {
        let d = ContactShortLinkData::of(&Profile::new("alice"));
        assert_eq!(
            String::from_utf8(d.to_bytes()).expect("utf-8"),
            r#"{"profile":{"displayName":"alice","fullName":""},"business":false}"#
        );
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(matches!(
            ChatMessage::decode_all(b"X\x00\x01"),
            Err(ProtocolError::Compressed(_))
        ));
        // A compressed batch of one passthrough item holding a compressed batch.
        assert!(matches!(
            ChatMessage::decode_all(b"X\x010\x03X\x010"),
            Err(ProtocolError::Compressed(_))
        ));
        assert!(ChatMessage::decode_all(b"").is_err());
        assert!(ChatMessage::decode_all(b"{").is_err());
        assert!(ChatMessage::decode_all(b"42").is_err());
        assert!(ChatMessage::decode_all(br#"{"params":{}}"#).is_err());
        assert_eq!(
            ChatMessage::decode_all(br#"{"event":"x.info","params":{}}"#),
            Err(ProtocolError::Params("x.info"))
        );
        assert!(ChatMessage::decode_one(br#"[]"#).is_err());
    }
}
