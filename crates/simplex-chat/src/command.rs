//! The terminal commands this client understands, parsed as the reference's `chatCommandP`
//! parses them (the subset for direct chats). Names may be quoted (`'bob smith'`).

/// A parsed input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/c` or `/connect`: create an invitation.
    AddContact,
    /// `/c LINK`: join an invitation or send a request to an address.
    Connect(String),
    /// `@NAME text`: send a message.
    Send {
        /// The contact's local name.
        name: String,
        /// The text.
        text: String,
    },
    /// `/ad` or `/address`: create the address.
    CreateAddress,
    /// `/sa` or `/show_address`.
    ShowAddress,
    /// `/da` or `/delete_address`.
    DeleteAddress,
    /// `/ac NAME` or `/accept NAME`.
    Accept(String),
    /// `/rc NAME` or `/reject NAME`.
    Reject(String),
    /// `/contacts`.
    Contacts,
    /// `/d NAME`, `/d @NAME` or `/delete …`.
    Delete(String),
    /// `/p` or `/profile`: show the profile.
    ShowProfile,
    /// `/p NAME`: change the display name.
    UpdateProfile(String),
    /// `/tail [@NAME] [N]` or `/t …`.
    Tail {
        /// One chat, or all.
        name: Option<String>,
        /// How many items (10 by default).
        count: u32,
    },
    /// `/help` or `/h`.
    Help,
    /// `/q`, `/quit` or `/exit`.
    Quit,
    /// Text without a command: continues the last chat.
    Continue(String),
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad chat command: {0}")]
pub struct ParseError(pub String);

/// Splits a display name off the front of `s` (quoted in `'…'`, or up to whitespace or a
/// comma, not starting with `#`, `@` or `'`); returns it and the rest.
fn name_p(s: &str) -> Option<(String, &str)> {
    if let Some(rest) = s.strip_prefix('\'') {
        let end = rest.find('\'')?;
        let name = rest.get(..end)?;
        if name.is_empty() {
            return None;
        }
        return Some((name.to_owned(), rest.get(end + 1..).unwrap_or_default()));
    }
    let first = s.chars().next()?;
    if first <= ' ' || first == '#' || first == '@' {
        return None;
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == ',')
        .unwrap_or(s.len());
    Some((s.get(..end)?.to_owned(), s.get(end..).unwrap_or_default()))
}

/// A whole-line name argument, with an optional `@`.
fn name_arg(s: &str) -> Option<String> {
    let s = s.strip_prefix('@').unwrap_or(s);
    let (name, rest) = name_p(s)?;
    rest.trim().is_empty().then_some(name)
}

/// `rest` of a command word: `None` unless the word ends here or at a space.
fn arg<'a>(line: &'a str, words: &[&str]) -> Option<&'a str> {
    for w in words {
        if let Some(rest) = line.strip_prefix(w) {
            if rest.is_empty() {
                return Some("");
            }
            if let Some(r) = rest.strip_prefix(' ') {
                return Some(r.trim());
            }
        }
    }
    None
}

/// Parses one input line.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let line = line.trim_end();
    let bad = || ParseError(line.to_owned());
    if let Some(rest) = line.strip_prefix('@') {
        let (name, text) = name_p(rest).ok_or_else(bad)?;
        let text = text.strip_prefix(' ').ok_or_else(bad)?;
        if text.is_empty() {
            return Err(bad());
        }
        return Ok(Command::Send {
            name,
            text: text.to_owned(),
        });
    }
    if !line.starts_with('/') {
        if line.trim().is_empty() {
            return Err(bad());
        }
        return Ok(Command::Continue(line.to_owned()));
    }
    if let Some(a) = arg(line, &["/connect", "/c"]) {
        return Ok(if a.is_empty() {
            Command::AddContact
        } else {
            Command::Connect(a.to_owned())
        });
    }
    if arg(line, &["/contacts"]).is_some_and(str::is_empty) {
        return Ok(Command::Contacts);
    }
    for (words, cmd) in [
        (&["/address", "/ad"][..], Command::CreateAddress),
        (&["/show_address", "/sa"][..], Command::ShowAddress),
        (&["/delete_address", "/da"][..], Command::DeleteAddress),
        (&["/help", "/h"][..], Command::Help),
        (&["/quit", "/q", "/exit"][..], Command::Quit),
    ] {
        if arg(line, words).is_some_and(str::is_empty) {
            return Ok(cmd);
        }
    }
    if let Some(a) = arg(line, &["/accept", "/ac"]) {
        return name_arg(a).map(Command::Accept).ok_or_else(bad);
    }
    if let Some(a) = arg(line, &["/reject", "/rc"]) {
        return name_arg(a).map(Command::Reject).ok_or_else(bad);
    }
    if let Some(a) = arg(line, &["/delete", "/d"]) {
        return name_arg(a).map(Command::Delete).ok_or_else(bad);
    }
    if let Some(a) = arg(line, &["/profile", "/p"]) {
        if a.is_empty() {
            return Ok(Command::ShowProfile);
        }
        return name_arg(a).map(Command::UpdateProfile).ok_or_else(bad);
    }
    if let Some(a) = arg(line, &["/tail", "/t"]) {
        let mut rest = a;
        let mut name = None;
        if let Some(r) = rest.strip_prefix('@') {
            let (n, r) = name_p(r).ok_or_else(bad)?;
            name = Some(n);
            rest = r.trim();
        }
        let count = if rest.is_empty() {
            10
        } else {
            rest.parse().map_err(|_| bad())?
        };
        return Ok(Command::Tail { name, count });
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(n: &str, t: &str) -> Command {
        Command::Send {
            name: n.into(),
            text: t.into(),
        }
    }

    #[test]
    fn commands_parse_like_the_reference() {
        assert_eq!(parse("/c"), Ok(Command::AddContact));
        assert_eq!(parse("/connect"), Ok(Command::AddContact));
        assert_eq!(
            parse("/c https://simplex.chat/invitation#/?v=1"),
            Ok(Command::Connect(
                "https://simplex.chat/invitation#/?v=1".into()
            ))
        );
        assert_eq!(parse("@bob hello there"), Ok(send("bob", "hello there")));
        assert_eq!(parse("@'bob smith' hi"), Ok(send("bob smith", "hi")));
        assert_eq!(parse("/ad"), Ok(Command::CreateAddress));
        assert_eq!(parse("/address"), Ok(Command::CreateAddress));
        assert_eq!(parse("/sa"), Ok(Command::ShowAddress));
        assert_eq!(parse("/da"), Ok(Command::DeleteAddress));
        assert_eq!(parse("/ac bob"), Ok(Command::Accept("bob".into())));
        assert_eq!(parse("/ac @bob"), Ok(Command::Accept("bob".into())));
        assert_eq!(parse("/rc bob"), Ok(Command::Reject("bob".into())));
        assert_eq!(parse("/contacts"), Ok(Command::Contacts));
        assert_eq!(parse("/d bob"), Ok(Command::Delete("bob".into())));
        assert_eq!(parse("/delete @bob"), Ok(Command::Delete("bob".into())));
        assert_eq!(parse("/p"), Ok(Command::ShowProfile));
        assert_eq!(
            parse("/p alice2"),
            Ok(Command::UpdateProfile("alice2".into()))
        );
        assert_eq!(
            parse("/tail"),
            Ok(Command::Tail {
                name: None,
                count: 10
            })
        );
        assert_eq!(
            parse("/tail @bob 5"),
            Ok(Command::Tail {
                name: Some("bob".into()),
                count: 5
            })
        );
        assert_eq!(
            parse("/t 3"),
            Ok(Command::Tail {
                name: None,
                count: 3
            })
        );
        assert_eq!(parse("/help"), Ok(Command::Help));
        assert_eq!(parse("/q"), Ok(Command::Quit));
        assert_eq!(
            parse("just text"),
            Ok(Command::Continue("just text".into()))
        );
    }

    #[test]
    fn bad_lines_are_errors() {
        for l in [
            "",
            "@",
            "@bob",
            "@bob ",
            "/x",
            "/ac",
            "/ac a b",
            "/tail @bob x",
            "/cx",
            "/da now",
            "@'bob hi",
        ] {
            assert!(parse(l).is_err(), "{l:?} should not parse");
        }
    }
}
