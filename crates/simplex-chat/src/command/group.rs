//! The group commands, parsed as the reference's `chatCommandP` parses them: a group's name
//! with or without `#`, a member's or contact's with or without `@`.

use super::{name_p, Command, ParseError};
use crate::protocol::MemberRole;

/// A name with an optional prefix (`#` or `@`), and the rest of the line.
fn prefixed_name(s: &str, prefix: char) -> Option<(String, &str)> {
    name_p(s.strip_prefix(prefix).unwrap_or(s))
}

/// The whole line is one name with an optional prefix.
fn only_name(s: &str, prefix: char) -> Option<String> {
    let (n, rest) = prefixed_name(s, prefix)?;
    rest.trim().is_empty().then_some(n)
}

/// A group and a member (or contact), with what follows.
fn group_and_member(s: &str) -> Option<(String, String, &str)> {
    let (g, rest) = prefixed_name(s, '#')?;
    let (m, rest) = prefixed_name(rest.strip_prefix(' ')?.trim_start(), '@')?;
    Some((g, m, rest.trim()))
}

/// `rest` after one of these words (the word alone or followed by a space).
fn after<'a>(line: &'a str, words: &[&str]) -> Option<&'a str> {
    words.iter().find_map(|w| {
        let rest = line.strip_prefix(w)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix(' ').map(str::trim)
        }
    })
}

/// A group command or message; `None` when the line is none (other parsers go on).
pub(super) fn parse(line: &str) -> Option<Result<Command, ParseError>> {
    let bad = || Some(Err(ParseError(line.to_owned())));
    if let Some(rest) = line.strip_prefix('#') {
        let Some((group, text)) = name_p(rest) else {
            return bad();
        };
        let Some(text) = text.strip_prefix(' ').filter(|t| !t.is_empty()) else {
            return bad();
        };
        return Some(Ok(Command::SendGroup {
            group,
            text: text.to_owned(),
        }));
    }
    for (word, cmd) in [
        (
            "/create link",
            Command::CreateGroupLink as fn(String) -> Command,
        ),
        ("/show link", Command::ShowGroupLink),
        ("/delete link", Command::DeleteGroupLink),
    ] {
        if let Some(a) = after(line, &[word]) {
            return Some(
                only_name(a, '#')
                    .map(cmd)
                    .ok_or(ParseError(line.to_owned())),
            );
        }
    }
    if let Some(a) = after(line, &["/info", "/i"]).filter(|a| a.starts_with('#')) {
        if let Some(group) = only_name(a, '#') {
            return Some(Ok(Command::GroupInfo(group)));
        }
        if let Some((group, member, "")) = group_and_member(a) {
            return Some(Ok(Command::GroupMemberInfo { group, member }));
        }
        return None;
    }
    if after(line, &["/groups", "/gs"]).is_some_and(str::is_empty) {
        return Some(Ok(Command::Groups));
    }
    if let Some(a) = after(line, &["/group", "/g"]) {
        if a == "i" || a.starts_with("i ") || a.starts_with("incognito") {
            return Some(Ok(Command::Unsupported("incognito groups".into())));
        }
        let Some((name, full)) = prefixed_name(a, '#') else {
            return bad();
        };
        return Some(Ok(Command::NewGroup {
            name,
            full_name: full.trim().to_owned(),
        }));
    }
    // `/gp team new_name [full name]` (`/group_profile`): the owner renames the group.
    if let Some(a) = after(line, &["/group_profile", "/gp"]) {
        if only_name(a, '#').is_some() {
            // The reference shows the group's profile: not implemented.
            return Some(Ok(Command::Unsupported("/gp <group>".into())));
        }
        let parsed = prefixed_name(a, '#').and_then(|(group, rest)| {
            let (name, full) = name_p(rest.strip_prefix(' ')?.trim_start())?;
            Some((group, name, full.trim().to_owned()))
        });
        let Some((group, name, full_name)) = parsed else {
            return bad();
        };
        return Some(Ok(Command::UpdateGroupProfile {
            group,
            name,
            full_name,
        }));
    }
    if let Some(a) = after(line, &["/add", "/a"]) {
        let Some((group, contact, role)) = group_and_member(a) else {
            return bad();
        };
        let role = if role.is_empty() {
            MemberRole::Member
        } else {
            match MemberRole::parse(role) {
                Some(r) => r,
                None => return bad(),
            }
        };
        return Some(Ok(Command::AddMember {
            group,
            contact,
            role,
        }));
    }
    members(line)
}

/// The commands about joining, members and the group's life.
fn members(line: &str) -> Option<Result<Command, ParseError>> {
    let bad = || Some(Err(ParseError(line.to_owned())));
    if let Some(a) = after(line, &["/join", "/j"]) {
        return Some(
            only_name(a, '#')
                .map(Command::JoinGroup)
                .ok_or(ParseError(line.to_owned())),
        );
    }
    if let Some(a) = after(line, &["/members", "/ms"]) {
        return Some(
            only_name(a, '#')
                .map(Command::Members)
                .ok_or(ParseError(line.to_owned())),
        );
    }
    if let Some(a) = after(line, &["/leave", "/l"]) {
        return Some(
            only_name(a, '#')
                .map(Command::Leave)
                .ok_or(ParseError(line.to_owned())),
        );
    }
    if let Some(a) = after(line, &["/remove", "/rm"]) {
        return Some(match group_and_member(a) {
            Some((group, member, "")) => Ok(Command::RemoveMember { group, member }),
            _ => Err(ParseError(line.to_owned())),
        });
    }
    if let Some(a) = after(line, &["/member role", "/mr"]) {
        return Some(
            match group_and_member(a).and_then(|(g, m, r)| Some((g, m, MemberRole::parse(r)?))) {
                Some((group, member, role)) => Ok(Command::ChangeRole {
                    group,
                    member,
                    role,
                }),
                None => Err(ParseError(line.to_owned())),
            },
        );
    }
    if let Some(a) = after(line, &["/delete", "/d"]).filter(|a| a.starts_with('#')) {
        return Some(
            only_name(a, '#')
                .map(Command::DeleteGroup)
                .ok_or(ParseError(line.to_owned())),
        );
    }
    if let Some(a) = after(line, &["/tail", "/t"]).filter(|a| a.starts_with('#')) {
        let Some((group, rest)) = prefixed_name(a, '#') else {
            return bad();
        };
        let rest = rest.trim();
        let count = if rest.is_empty() {
            10
        } else {
            match rest.parse() {
                Ok(n) => n,
                Err(_) => return bad(),
            }
        };
        return Some(Ok(Command::GroupTail { group, count }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn group_commands_parse_like_the_reference() {
        let ok = |l: &str| parse(l).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(
            ok("/g team"),
            Command::NewGroup {
                name: "team".into(),
                full_name: String::new()
            }
        );
        assert_eq!(
            ok("/group #team"),
            Command::NewGroup {
                name: "team".into(),
                full_name: String::new()
            }
        );
        let add = |g: &str, c: &str, role| Command::AddMember {
            group: g.into(),
            contact: c.into(),
            role,
        };
        assert_eq!(ok("/a team bob"), add("team", "bob", MemberRole::Member));
        assert_eq!(ok("/i #team"), Command::GroupInfo("team".into()));
        assert_eq!(
            ok("/gp team my_team My Team"),
            Command::UpdateGroupProfile {
                group: "team".into(),
                name: "my_team".into(),
                full_name: "My Team".into()
            }
        );
        assert_eq!(
            ok("/group_profile #team my_team"),
            Command::UpdateGroupProfile {
                group: "team".into(),
                name: "my_team".into(),
                full_name: String::new()
            }
        );
        assert_eq!(ok("/gp team"), Command::Unsupported("/gp <group>".into()));
        assert!(parse("/gp").is_err());
        assert_eq!(
            ok("/a team bob admin"),
            add("team", "bob", MemberRole::Admin)
        );
        assert_eq!(
            ok("/add #team @bob observer"),
            add("team", "bob", MemberRole::Observer)
        );
        assert_eq!(ok("/j team"), Command::JoinGroup("team".into()));
        assert_eq!(ok("/join #team"), Command::JoinGroup("team".into()));
        assert_eq!(
            ok("#team hello there"),
            Command::SendGroup {
                group: "team".into(),
                text: "hello there".into()
            }
        );
        assert_eq!(
            ok("#'my team' hi"),
            Command::SendGroup {
                group: "my team".into(),
                text: "hi".into()
            }
        );
        assert_eq!(ok("/ms team"), Command::Members("team".into()));
        assert_eq!(ok("/members #team"), Command::Members("team".into()));
        assert_eq!(ok("/gs"), Command::Groups);
        assert_eq!(ok("/groups"), Command::Groups);
        assert_eq!(ok("/l team"), Command::Leave("team".into()));
        assert_eq!(ok("/leave #team"), Command::Leave("team".into()));
        let rm = Command::RemoveMember {
            group: "team".into(),
            member: "bob".into(),
        };
        assert_eq!(ok("/rm team bob"), rm);
        assert_eq!(ok("/remove #team @bob"), rm);
        let mr = Command::ChangeRole {
            group: "team".into(),
            member: "bob".into(),
            role: MemberRole::Admin,
        };
        assert_eq!(ok("/mr team bob admin"), mr);
        assert_eq!(ok("/member role #team @bob admin"), mr);
        assert_eq!(ok("/d #team"), Command::DeleteGroup("team".into()));
        assert_eq!(ok("/delete #team"), Command::DeleteGroup("team".into()));
        assert_eq!(
            ok("/tail #team 5"),
            Command::GroupTail {
                group: "team".into(),
                count: 5
            }
        );
        assert_eq!(
            ok("/t #team"),
            Command::GroupTail {
                group: "team".into(),
                count: 10
            }
        );
        assert_eq!(
            ok("/create link #team"),
            Command::CreateGroupLink("team".into())
        );
        assert_eq!(
            ok("/show link #team"),
            Command::ShowGroupLink("team".into())
        );
        assert_eq!(
            ok("/delete link #team"),
            Command::DeleteGroupLink("team".into())
        );
        // Contacts' forms are unchanged.
        assert_eq!(ok("/d bob"), Command::Delete("bob".into()));
        assert!(matches!(ok("/t @bob 3"), Command::Tail { .. }));
    }

    #[test]
    fn bad_group_lines_are_errors() {
        for l in [
            "#team",
            "#team ",
            "/a team",
            "/a team bob king",
            "/mr team bob",
            "/rm team",
            "/j",
            "/t #team x",
        ] {
            assert!(parse(l).is_err(), "{l:?} should not parse");
        }
    }
}
