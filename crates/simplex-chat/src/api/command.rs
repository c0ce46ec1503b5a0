//! The commands bots send (`bots/api/COMMANDS.md`), in their API form (`/_address 1`)
//! and the console aliases bot libraries still use (`/ad`, `/auto_accept on`, …).
//! Everything else goes on to the console parser ([`crate::command`]).

use super::types::{AddressSettings, AutoAccept, ComposedMessage, MsgContent, NewUser};
use crate::protocol::Profile;

/// A command with a structured response.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiCommand {
    /// `/user`, `/u`.
    ShowActiveUser,
    /// `/_create user JSON`, `/create user NAME`, `/create bot [files=on] NAME`.
    CreateActiveUser(NewUser),
    /// `/users`.
    ListUsers,
    /// `/_address N`, `/address`, `/ad`.
    CreateMyAddress(Option<i64>),
    /// `/_show_address N`, `/show_address`, `/sa`.
    ShowMyAddress(Option<i64>),
    /// `/_delete_address N`, `/delete_address`, `/da`.
    DeleteMyAddress(Option<i64>),
    /// `/_address_settings N JSON`, `/auto_accept on|off [incognito=on] [JSON]`.
    SetAddressSettings(Option<i64>, AddressSettings),
    /// `/_connect N`, `/connect`, `/c`: a one-time invitation.
    AddContact(Option<i64>),
    /// `/_connect N LINK`, `/connect LINK`, `/c LINK`.
    Connect(Option<i64>, String),
    /// `/_accept ID`.
    AcceptContact(i64),
    /// `/_reject ID`.
    RejectContact(i64),
    /// `/_send @ID [live=on] [ttl=N] json [...]`.
    SendMessages {
        /// The contact.
        contact_id: i64,
        /// The messages.
        messages: Vec<ComposedMessage>,
    },
    /// `/_contacts N`.
    ListContacts(Option<i64>),
    /// `/_get chat @ID [count=N]` (also `/_get chat @ID count=N` with other pagination
    /// words, read as the last N).
    GetChat {
        /// The contact.
        contact_id: i64,
        /// How many items.
        count: u32,
    },
    /// `/_get chats N ...`.
    GetChats(Option<i64>),
    /// `/_delete @ID [full|entity|messages] [notify=off]`.
    DeleteChat(i64),
    /// `/version`, `/v`.
    Version,
}

/// Parses a line: `None` when it is not one of these commands (the console parser takes
/// it), `Some(Err(reason))` when it is one but malformed.
pub fn parse_api(line: &str) -> Option<Result<ApiCommand, String>> {
    let line = line.trim();
    let (word, rest) = match line.split_once(' ') {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let cmd = match (word, rest) {
        ("/user" | "/u", "") => Ok(ApiCommand::ShowActiveUser),
        ("/users", "") => Ok(ApiCommand::ListUsers),
        ("/version" | "/v", "") => Ok(ApiCommand::Version),
        ("/_create", r) => match r.strip_prefix("user ") {
            Some(json) => serde_json::from_str(json.trim())
                .map(ApiCommand::CreateActiveUser)
                .map_err(|e| format!("bad NewUser JSON: {e}")),
            None => return None,
        },
        ("/create", r) => return parse_create(r),
        ("/address" | "/ad", "") => Ok(ApiCommand::CreateMyAddress(None)),
        ("/_address", r) => user_id(r, true).map(|id| ApiCommand::CreateMyAddress(Some(id))),
        ("/show_address" | "/sa", "") => Ok(ApiCommand::ShowMyAddress(None)),
        ("/_show_address", r) => user_id(r, false).map(|id| ApiCommand::ShowMyAddress(Some(id))),
        ("/delete_address" | "/da", "") => Ok(ApiCommand::DeleteMyAddress(None)),
        ("/_delete_address", r) => {
            user_id(r, false).map(|id| ApiCommand::DeleteMyAddress(Some(id)))
        }
        ("/_address_settings", r) => parse_address_settings(r),
        ("/auto_accept", r) => parse_auto_accept(r),
        ("/connect" | "/c", "") => Ok(ApiCommand::AddContact(None)),
        ("/connect" | "/c", link) => Ok(ApiCommand::Connect(None, link.to_owned())),
        ("/_connect", r) => parse_connect(r),
        ("/_accept", r) => id(r).map(ApiCommand::AcceptContact),
        ("/_reject", r) => id(r).map(ApiCommand::RejectContact),
        ("/_send", r) => parse_send(r),
        ("/_contacts", r) => user_id(r, false).map(|id| ApiCommand::ListContacts(Some(id))),
        ("/_get", r) => return parse_get(r),
        ("/_delete", r) if r.starts_with('@') => parse_delete(r),
        _ => return None,
    };
    Some(cmd)
}

fn id(s: &str) -> Result<i64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("expected a number, got {s:?}"))
}

/// `N[ pq_ratchet=on|off]` (the option only where `options` allows it; it is accepted and
/// ignored: post-quantum encryption is always offered).
fn user_id(s: &str, options: bool) -> Result<i64, String> {
    let mut words = s.split_whitespace();
    let n = id(words.next().unwrap_or_default())?;
    for w in words {
        let known = options && matches!(w, "pq_ratchet=on" | "pq_ratchet=off");
        if !known {
            return Err(format!("unexpected {w:?}"));
        }
    }
    Ok(n)
}

/// `/create user NAME`, `/create bot [files=on] NAME`.
fn parse_create(r: &str) -> Option<Result<ApiCommand, String>> {
    let (kind, rest) = r.split_once(' ')?;
    let (bot, rest) = match kind {
        "user" => (false, rest.trim()),
        "bot" => {
            let rest = rest.trim();
            let rest = rest.strip_prefix("files=on ").unwrap_or(rest);
            (true, rest.strip_prefix("files=off ").unwrap_or(rest).trim())
        }
        _ => return None,
    };
    let name = rest.trim_matches('\'');
    if name.is_empty() {
        return Some(Err("a name is required".to_owned()));
    }
    let mut profile = Profile::new(name);
    if bot {
        profile.peer_type = Some(super::types::ChatPeerType::Bot);
    }
    Some(Ok(ApiCommand::CreateActiveUser(NewUser {
        profile: Some(profile),
        past_timestamp: false,
        client_service: false,
    })))
}

/// `N[ pq_ratchet=on|off] JSON`.
fn parse_address_settings(r: &str) -> Result<ApiCommand, String> {
    let (n, rest) = r.split_once(' ').ok_or("expected: N JSON")?;
    let rest = rest.trim();
    let json = rest
        .strip_prefix("pq_ratchet=on ")
        .or_else(|| rest.strip_prefix("pq_ratchet=off "))
        .unwrap_or(rest);
    let settings: AddressSettings =
        serde_json::from_str(json).map_err(|e| format!("bad AddressSettings JSON: {e}"))?;
    Ok(ApiCommand::SetAddressSettings(Some(id(n)?), settings))
}

/// `on[ incognito=on][ json MSGCONTENT]`, `off`, as the reference's console form; the
/// auto-reply may also be bare text after `on` (older clients).
fn parse_auto_accept(r: &str) -> Result<ApiCommand, String> {
    if r == "off" {
        return Ok(ApiCommand::SetAddressSettings(
            None,
            AddressSettings::default(),
        ));
    }
    let rest = r.strip_prefix("on").ok_or("expected: on|off")?.trim();
    let rest = match rest.strip_prefix("incognito=") {
        Some(r) => r
            .strip_prefix("off")
            .map(str::trim)
            .ok_or("incognito profiles are not supported")?,
        None => rest,
    };
    let auto_reply = if rest.is_empty() {
        None
    } else if let Some(json) = rest.strip_prefix("json ") {
        Some(
            serde_json::from_str::<MsgContent>(json.trim())
                .map_err(|e| format!("bad MsgContent JSON: {e}"))?,
        )
    } else {
        Some(MsgContent::Text {
            text: rest.to_owned(),
        })
    };
    Ok(ApiCommand::SetAddressSettings(
        None,
        AddressSettings {
            business_address: false,
            auto_accept: Some(AutoAccept {
                accept_incognito: false,
            }),
            auto_reply,
        },
    ))
}

/// `N[ incognito=on]` or `N LINK`.
fn parse_connect(r: &str) -> Result<ApiCommand, String> {
    let mut words = r.split_whitespace();
    let n = id(words.next().unwrap_or_default())?;
    match words.next() {
        None | Some("incognito=off") => Ok(ApiCommand::AddContact(Some(n))),
        Some("incognito=on") => Err("incognito profiles are not supported".to_owned()),
        // `CreatedConnLink`'s syntax: the full link, then the short one; either joins.
        Some(link) => Ok(ApiCommand::Connect(Some(n), link.to_owned())),
    }
}

/// `@ID[ live=on][ ttl=N][ sign=on] json [...]`.
fn parse_send(r: &str) -> Result<ApiCommand, String> {
    let (target, rest) = r.split_once(' ').ok_or("expected: @ID json [...]")?;
    let contact_id = match target.strip_prefix('@') {
        Some(n) => id(n)?,
        None if target.starts_with('#') => {
            return Err("sending to groups through the API is not supported yet".to_owned())
        }
        None => return Err(format!("expected @ID, got {target:?}")),
    };
    let mut rest = rest.trim();
    while let Some((opt, more)) = rest.split_once(' ') {
        if opt == "json" {
            break;
        }
        match opt {
            "live=off" | "sign=off" => {}
            o if o.starts_with("ttl=") => {}
            o => return Err(format!("unsupported option {o:?}")),
        }
        rest = more.trim();
    }
    let json = rest.strip_prefix("json ").ok_or("expected: json [...]")?;
    let messages: Vec<ComposedMessage> =
        serde_json::from_str(json.trim()).map_err(|e| format!("bad ComposedMessage JSON: {e}"))?;
    Ok(ApiCommand::SendMessages {
        contact_id,
        messages,
    })
}

/// `chat @ID count=N`, `chats N …`.
fn parse_get(r: &str) -> Option<Result<ApiCommand, String>> {
    let mut words = r.split_whitespace();
    match words.next()? {
        "chat" => {
            let target = words.next().unwrap_or_default();
            let contact_id = match target.strip_prefix('@') {
                Some(n) => match id(n) {
                    Ok(n) => n,
                    Err(e) => return Some(Err(e)),
                },
                None => return Some(Err(format!("only @ID chats are supported, got {target:?}"))),
            };
            let count = words
                .find_map(|w| w.strip_prefix("count="))
                .and_then(|c| c.parse().ok())
                .unwrap_or(100);
            Some(Ok(ApiCommand::GetChat { contact_id, count }))
        }
        "chats" => {
            Some(id(words.next().unwrap_or_default()).map(|n| ApiCommand::GetChats(Some(n))))
        }
        _ => None,
    }
}

/// `@ID[ full|entity|messages][ notify=off]`: every mode deletes the contact here.
fn parse_delete(r: &str) -> Result<ApiCommand, String> {
    let mut words = r.split_whitespace();
    let target = words.next().unwrap_or_default();
    let n = id(target.trim_start_matches('@'))?;
    for w in words {
        if !matches!(w, "full" | "entity" | "notify=off" | "notify=on") {
            return Err(format!("unsupported delete mode {w:?}"));
        }
    }
    Ok(ApiCommand::DeleteChat(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> ApiCommand {
        match parse_api(s) {
            Some(Ok(c)) => c,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn documented_forms() {
        assert_eq!(ok("/u"), ApiCommand::ShowActiveUser);
        assert_eq!(ok("/user"), ApiCommand::ShowActiveUser);
        assert_eq!(ok("/_address 1"), ApiCommand::CreateMyAddress(Some(1)));
        assert_eq!(
            ok("/_address 1 pq_ratchet=on"),
            ApiCommand::CreateMyAddress(Some(1))
        );
        assert_eq!(ok("/ad"), ApiCommand::CreateMyAddress(None));
        assert_eq!(ok("/_show_address 1"), ApiCommand::ShowMyAddress(Some(1)));
        assert_eq!(ok("/sa"), ApiCommand::ShowMyAddress(None));
        assert_eq!(ok("/_connect 1"), ApiCommand::AddContact(Some(1)));
        assert_eq!(ok("/c"), ApiCommand::AddContact(None));
        assert_eq!(
            ok("/_connect 1 https://simplex.chat/contact#x"),
            ApiCommand::Connect(Some(1), "https://simplex.chat/contact#x".into())
        );
        assert_eq!(ok("/_accept 7"), ApiCommand::AcceptContact(7));
        assert_eq!(ok("/_contacts 1"), ApiCommand::ListContacts(Some(1)));
        assert_eq!(ok("/_delete @3 full notify=off"), ApiCommand::DeleteChat(3));
        assert_eq!(ok("/v"), ApiCommand::Version);
        assert_eq!(
            ok("/_get chat @2 count=5"),
            ApiCommand::GetChat {
                contact_id: 2,
                count: 5
            }
        );
    }

    #[test]
    fn send_and_settings_json() {
        let c = ok(
            r#"/_send @2 live=off ttl=30 json [{"msgContent":{"type":"text","text":"hi"},"mentions":{}}]"#,
        );
        match c {
            ApiCommand::SendMessages {
                contact_id: 2,
                messages,
            } => {
                assert_eq!(messages.len(), 1);
                assert_eq!(messages[0].msg_content.text(), "hi");
            }
            other => panic!("{other:?}"),
        }
        // `mentions` may be missing; unknown keys are ignored.
        assert!(matches!(
            ok(r#"/_send @2 json [{"msgContent":{"type":"text","text":"x"},"extra":1}]"#),
            ApiCommand::SendMessages { .. }
        ));
        assert!(matches!(parse_api("/_send @2 json nope"), Some(Err(_))));
        match ok(
            r#"/_address_settings 1 {"businessAddress":false,"autoAccept":{"acceptIncognito":false}}"#,
        ) {
            ApiCommand::SetAddressSettings(Some(1), s) => assert!(s.auto_accept.is_some()),
            other => panic!("{other:?}"),
        }
        match ok("/auto_accept on") {
            ApiCommand::SetAddressSettings(None, s) => {
                assert!(s.auto_accept.is_some() && s.auto_reply.is_none())
            }
            other => panic!("{other:?}"),
        }
        match ok("/auto_accept off") {
            ApiCommand::SetAddressSettings(None, s) => assert!(s.auto_accept.is_none()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_user_forms() {
        match ok(
            r#"/_create user {"profile":{"displayName":"sq","fullName":""},"sameServers":true,"pastTimestamp":false}"#,
        ) {
            ApiCommand::CreateActiveUser(u) => {
                assert_eq!(u.profile.map(|p| p.display_name), Some("sq".into()))
            }
            other => panic!("{other:?}"),
        }
        match ok("/create bot files=on squaring") {
            ApiCommand::CreateActiveUser(u) => {
                let p = u.profile.expect("profile");
                assert_eq!(p.display_name, "squaring");
                assert_eq!(p.peer_type, Some(super::super::types::ChatPeerType::Bot));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn others_go_to_the_console_parser() {
        assert_eq!(parse_api("@bob hi"), None);
        assert_eq!(parse_api("/help"), None);
        assert_eq!(parse_api("/_unknown 1"), None);
        assert!(matches!(parse_api("/_accept x"), Some(Err(_))));
    }
}
