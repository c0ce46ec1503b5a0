//! The commands bots send (`bots/api/COMMANDS.md`), in their API form (`/_address 1`)
//! and the console aliases bot libraries still use (`/ad`, `/auto_accept on`, …).
//! Everything else goes on to the console parser ([`crate::command`]).

use super::groups::GroupProfile;
use super::types::{AddressSettings, AutoAccept, ComposedMessage, MsgContent, NewUser};
use crate::protocol::group::MemberRole;
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
    /// `/_connect plan N LINK`: what connecting through the link would do.
    ConnectPlan(i64, String),
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
    // Groups (module `crate::chat::api_groups`).
    /// `/_group N[ incognito=off] JSON`.
    NewGroup(Option<i64>, GroupProfile),
    /// `/_add #G CONTACT ROLE`.
    AddMember {
        /// The group.
        group_id: i64,
        /// The contact.
        contact_id: i64,
        /// Its role.
        role: MemberRole,
    },
    /// `/_join #G`.
    JoinGroup(i64),
    /// `/_member role #G ID[,ID...] ROLE`.
    MembersRole {
        /// The group.
        group_id: i64,
        /// The members.
        member_ids: Vec<i64>,
        /// Their new role.
        role: MemberRole,
    },
    /// `/_remove #G ID[,ID...][ messages=off]`.
    RemoveMembers {
        /// The group.
        group_id: i64,
        /// The members.
        member_ids: Vec<i64>,
    },
    /// `/_leave #G`.
    LeaveGroup(i64),
    /// `/_members #G`.
    ListMembers(i64),
    /// `/_groups N`.
    ListGroups(Option<i64>),
    /// `/_group_profile #G JSON`.
    UpdateGroupProfile(i64, GroupProfile),
    /// `/_create link #G ROLE`.
    CreateGroupLink(i64, MemberRole),
    /// `/_set link role #G ROLE`.
    GroupLinkMemberRole(i64, MemberRole),
    /// `/_delete link #G`.
    DeleteGroupLink(i64),
    /// `/_get link #G`.
    GetGroupLink(i64),
    /// `/_send #G [options] json [...]`.
    SendGroupMessages {
        /// The group.
        group_id: i64,
        /// The messages.
        messages: Vec<ComposedMessage>,
    },
    /// `/_get chat #G [count=N]`.
    GetGroupChat {
        /// The group.
        group_id: i64,
        /// How many items.
        count: u32,
    },
    /// `/_delete #G [full|entity|messages] [notify=off]`.
    DeleteGroup(i64),
    // Files (module `crate::chat::api_files`).
    /// `/freceive ID[ approved_relays=on][ encrypt=off][ inline=off][ PATH]`, `/fr ID [PATH]`.
    ReceiveFile {
        /// The file.
        file_id: i64,
        /// Where to save it.
        path: Option<String>,
    },
    /// `/fcancel ID`, `/fc ID`.
    CancelFile(i64),
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
        ("/_create", r) if r.starts_with("link ") => {
            group_and_role(&r[5..]).map(|(g, role)| ApiCommand::CreateGroupLink(g, role))
        }
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
        // Groups and files.
        ("/_delete", r) if r.starts_with('#') => parse_delete(r).map(|c| match c {
            ApiCommand::DeleteChat(id) => ApiCommand::DeleteGroup(id),
            c => c,
        }),
        ("/_delete", r) if r.starts_with("link ") => {
            group_ref(&r[5..]).map(ApiCommand::DeleteGroupLink)
        }
        ("/_group", r) => parse_new_group(r),
        ("/_add", r) => parse_add(r),
        ("/_join", r) => group_ref(r).map(ApiCommand::JoinGroup),
        ("/_member", r) => parse_member_role(r),
        ("/_remove", r) => parse_remove(r),
        ("/_leave", r) => group_ref(r).map(ApiCommand::LeaveGroup),
        ("/_members", r) => group_ref(r).map(ApiCommand::ListMembers),
        ("/_groups", r) => parse_groups(r),
        ("/_group_profile", r) => parse_group_profile(r),
        ("/_set", r) if r.starts_with("link role ") => {
            group_and_role(&r[10..]).map(|(g, role)| ApiCommand::GroupLinkMemberRole(g, role))
        }
        ("/freceive" | "/fr", r) => parse_receive(r),
        ("/fcancel" | "/fc", r) => id(r).map(ApiCommand::CancelFile),
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
    if let Some(rest) = r.strip_prefix("plan ") {
        let mut words = rest.split_whitespace();
        let n = id(words.next().unwrap_or_default())?;
        return match (words.next(), words.next()) {
            (Some(link), None) => Ok(ApiCommand::ConnectPlan(n, link.to_owned())),
            _ => Err("expected: /_connect plan <userId> <link>".to_owned()),
        };
    }
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
    let group = target.starts_with('#');
    let chat_id = match target.strip_prefix('@') {
        Some(n) => id(n)?,
        None if group => group_ref(target)?,
        None => return Err(format!("expected @ID or #ID, got {target:?}")),
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
    Ok(if group {
        ApiCommand::SendGroupMessages {
            group_id: chat_id,
            messages,
        }
    } else {
        ApiCommand::SendMessages {
            contact_id: chat_id,
            messages,
        }
    })
}

/// `chat @ID count=N`, `chats N …`.
fn parse_get(r: &str) -> Option<Result<ApiCommand, String>> {
    let mut words = r.split_whitespace();
    match words.next()? {
        "link" => Some(group_ref(words.next().unwrap_or_default()).map(ApiCommand::GetGroupLink)),
        "chat" => {
            let target = words.next().unwrap_or_default();
            if target.starts_with('#') {
                let count = count_of(r);
                return Some(
                    group_ref(target).map(|group_id| ApiCommand::GetGroupChat { group_id, count }),
                );
            }
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
    let n = id(target.trim_start_matches(['@', '#']))?;
    for w in words {
        if !matches!(w, "full" | "entity" | "notify=off" | "notify=on") {
            return Err(format!("unsupported delete mode {w:?}"));
        }
    }
    Ok(ApiCommand::DeleteChat(n))
}

/// `count=N` among the words (100 without it).
fn count_of(r: &str) -> u32 {
    r.split_whitespace()
        .find_map(|w| w.strip_prefix("count="))
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// `#ID` (a group chat); a member-support scope is not supported.
fn group_ref(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let n = s
        .strip_prefix('#')
        .ok_or_else(|| format!("expected #ID, got {s:?}"))?;
    if n.contains('(') {
        return Err("member support chats are not supported".to_owned());
    }
    id(n)
}

fn role(s: &str) -> Result<MemberRole, String> {
    MemberRole::parse(s.trim()).ok_or_else(|| format!("unknown member role {s:?}"))
}

/// `#ID ROLE`.
fn group_and_role(r: &str) -> Result<(i64, MemberRole), String> {
    let (g, rl) = r.trim().split_once(' ').ok_or("expected: #ID ROLE")?;
    Ok((group_ref(g)?, role(rl)?))
}

/// `ID[,ID...]`.
fn ids(s: &str) -> Result<Vec<i64>, String> {
    s.split(',').map(id).collect()
}

/// `N[ incognito=off] JSON`.
fn parse_new_group(r: &str) -> Result<ApiCommand, String> {
    let (n, rest) = r.split_once(' ').ok_or("expected: N JSON")?;
    let rest = rest.trim();
    if rest.starts_with("incognito=on") {
        return Err("incognito profiles are not supported".to_owned());
    }
    let json = rest.strip_prefix("incognito=off").unwrap_or(rest).trim();
    let p: GroupProfile =
        serde_json::from_str(json).map_err(|e| format!("bad GroupProfile JSON: {e}"))?;
    Ok(ApiCommand::NewGroup(Some(id(n)?), p))
}

/// `#G JSON`.
fn parse_group_profile(r: &str) -> Result<ApiCommand, String> {
    let (g, json) = r.split_once(' ').ok_or("expected: #ID JSON")?;
    let p: GroupProfile =
        serde_json::from_str(json.trim()).map_err(|e| format!("bad GroupProfile JSON: {e}"))?;
    Ok(ApiCommand::UpdateGroupProfile(group_ref(g)?, p))
}

/// `#G CONTACT ROLE`.
fn parse_add(r: &str) -> Result<ApiCommand, String> {
    let w: Vec<&str> = r.split_whitespace().collect();
    let [g, c, rl] = w[..] else {
        return Err("expected: #GROUP CONTACT ROLE".to_owned());
    };
    Ok(ApiCommand::AddMember {
        group_id: group_ref(g)?,
        contact_id: id(c)?,
        role: role(rl)?,
    })
}

/// `role #G ID[,ID...] ROLE`.
fn parse_member_role(r: &str) -> Result<ApiCommand, String> {
    let w: Vec<&str> = r.split_whitespace().collect();
    let ["role", g, ms, rl] = w[..] else {
        return Err("expected: role #GROUP IDS ROLE".to_owned());
    };
    Ok(ApiCommand::MembersRole {
        group_id: group_ref(g)?,
        member_ids: ids(ms)?,
        role: role(rl)?,
    })
}

/// `#G ID[,ID...][ messages=off]`.
fn parse_remove(r: &str) -> Result<ApiCommand, String> {
    let mut w = r.split_whitespace();
    let group_id = group_ref(w.next().unwrap_or_default())?;
    let member_ids = ids(w.next().unwrap_or_default())?;
    match w.next() {
        None | Some("messages=off") => Ok(ApiCommand::RemoveMembers {
            group_id,
            member_ids,
        }),
        Some("messages=on") => Err("removing members' messages is not supported".to_owned()),
        Some(o) => Err(format!("unexpected {o:?}")),
    }
}

/// `N[ @CONTACT][ SEARCH]`: the contact filter and search are not supported.
fn parse_groups(r: &str) -> Result<ApiCommand, String> {
    let mut w = r.split_whitespace();
    let n = id(w.next().unwrap_or_default())?;
    match w.next() {
        None => Ok(ApiCommand::ListGroups(Some(n))),
        Some(_) => Err("filtering groups by contact or search is not supported".to_owned()),
    }
}

/// `ID[ approved_relays=on][ encrypt=on|off][ inline=on|off][ PATH]`.
fn parse_receive(r: &str) -> Result<ApiCommand, String> {
    let (n, mut rest) = match r.trim().split_once(' ') {
        Some((n, rest)) => (n, rest.trim()),
        None => (r.trim(), ""),
    };
    let file_id = id(n)?;
    loop {
        let (word, more) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "approved_relays=on" | "approved_relays=off" | "encrypt=off" | "inline=off" => {}
            "encrypt=on" => return Err("encrypted local files are not supported".to_owned()),
            "inline=on" => return Err("inline files are not supported".to_owned()),
            _ => break,
        }
        rest = more.trim();
    }
    Ok(ApiCommand::ReceiveFile {
        file_id,
        path: (!rest.is_empty()).then(|| rest.to_owned()),
    })
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
        assert_eq!(
            ok("/_connect plan 1 https://smp.example/a#x"),
            ApiCommand::ConnectPlan(1, "https://smp.example/a#x".into())
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
    fn group_and_file_forms() {
        match ok(r#"/_group 1 {"displayName":"team","fullName":"T","image":"x"}"#) {
            ApiCommand::NewGroup(Some(1), p) => assert_eq!(p.display_name, "team"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_api("/_group 1 incognito=on {}"),
            Some(Err(_))
        ));
        assert_eq!(
            ok("/_add #3 7 admin"),
            ApiCommand::AddMember {
                group_id: 3,
                contact_id: 7,
                role: MemberRole::Admin
            }
        );
        assert_eq!(ok("/_join #3"), ApiCommand::JoinGroup(3));
        assert_eq!(
            ok("/_member role #3 4,5 observer"),
            ApiCommand::MembersRole {
                group_id: 3,
                member_ids: vec![4, 5],
                role: MemberRole::Observer
            }
        );
        assert_eq!(
            ok("/_remove #3 4"),
            ApiCommand::RemoveMembers {
                group_id: 3,
                member_ids: vec![4]
            }
        );
        assert!(matches!(
            parse_api("/_remove #3 4 messages=on"),
            Some(Err(_))
        ));
        assert_eq!(ok("/_leave #3"), ApiCommand::LeaveGroup(3));
        assert_eq!(ok("/_members #3"), ApiCommand::ListMembers(3));
        assert_eq!(ok("/_groups 1"), ApiCommand::ListGroups(Some(1)));
        assert_eq!(
            ok("/_create link #3 member"),
            ApiCommand::CreateGroupLink(3, MemberRole::Member)
        );
        assert_eq!(
            ok("/_set link role #3 observer"),
            ApiCommand::GroupLinkMemberRole(3, MemberRole::Observer)
        );
        assert_eq!(ok("/_get link #3"), ApiCommand::GetGroupLink(3));
        assert_eq!(ok("/_delete link #3"), ApiCommand::DeleteGroupLink(3));
        assert_eq!(
            ok("/_delete #3 full notify=off"),
            ApiCommand::DeleteGroup(3)
        );
        assert_eq!(
            ok("/_get chat #3 count=20"),
            ApiCommand::GetGroupChat {
                group_id: 3,
                count: 20
            }
        );
        assert!(matches!(
            ok(r#"/_send #3 json [{"msgContent":{"type":"text","text":"hi"}}]"#),
            ApiCommand::SendGroupMessages { group_id: 3, .. }
        ));
        assert!(matches!(
            parse_api("/_send #3(_support) json []"),
            Some(Err(_))
        ));
        assert_eq!(
            ok("/freceive 5 approved_relays=on encrypt=off /tmp/x y"),
            ApiCommand::ReceiveFile {
                file_id: 5,
                path: Some("/tmp/x y".into())
            }
        );
        assert_eq!(
            ok("/freceive 5"),
            ApiCommand::ReceiveFile {
                file_id: 5,
                path: None
            }
        );
        assert!(matches!(parse_api("/freceive 5 encrypt=on"), Some(Err(_))));
        assert_eq!(ok("/fcancel 5"), ApiCommand::CancelFile(5));
    }

    #[test]
    fn others_go_to_the_console_parser() {
        assert_eq!(parse_api("@bob hi"), None);
        assert_eq!(parse_api("/help"), None);
        assert_eq!(parse_api("/_unknown 1"), None);
        assert!(matches!(parse_api("/_accept x"), Some(Err(_))));
    }
}
