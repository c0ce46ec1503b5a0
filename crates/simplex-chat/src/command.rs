//! The terminal commands this client understands, parsed as the reference's `chatCommandP`
//! parses them (the subset for direct chats). Names may be quoted (`'bob smith'`).
//!
//! Every other form of the reference's syntax is recognised too, so that it never leaves as a
//! message: a `/command` the reference knows ([`REFERENCE_COMMANDS`], the `/_…` API
//! commands, `//`), group messages (`#team hi`), replies (`> @bob (hi) reply`), edits
//! (`! @bob new`), deletions (`\ @bob text`), reactions (`+1 @bob text`), forwards
//! (`@bob <- @alice hi`) and member-contact messages (`@#team @bob hi`) parse to
//! [`Command::Unsupported`]. Only a line that starts with none of these continues the last
//! chat ([`Command::Continue`]).

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
    /// `/v` or `/version`.
    Version,
    /// `/i NAME` or `/info NAME`: the contact's connection (`ContactInfo`).
    Info(String),
    /// `/switch NAME`: move the queue this side receives the contact's messages on to a
    /// new one (`SwitchContact`).
    Switch(String),
    /// `/abort switch NAME` (`AbortSwitchContact`).
    AbortSwitch(String),
    /// `/sync NAME [force=on]`: re-synchronise the contact's ratchet (the reference's
    /// `SyncContactRatchet`; without `force` only after a decryption error allows it).
    Sync {
        /// The contact's local name.
        name: String,
        /// `force=on`: in any state.
        force: bool,
    },
    /// A form of the reference's syntax this client does not implement yet: nothing is
    /// sent; `<what>: not supported yet` is printed.
    Unsupported(String),
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

/// The first words of the reference's user-facing `/commands` (its `chatCommandP`); the
/// `/_…` API commands and `//` custom commands are recognised by their prefix.
pub const REFERENCE_COMMANDS: &[&str] = &[
    "/?",
    "/a",
    "/abort",
    "/ac",
    "/accept",
    "/ad",
    "/add",
    "/address",
    "/auto_accept",
    "/block",
    "/c",
    "/call",
    "/chats",
    "/clear",
    "/code",
    "/confirm",
    "/connect",
    "/contact_merge",
    "/contacts",
    "/crc",
    "/create",
    "/cs",
    "/d",
    "/da",
    "/db",
    "/debug",
    "/delete",
    "/delete_address",
    "/enable",
    "/exit",
    "/f",
    "/fc",
    "/fcancel",
    "/fd",
    "/fdescription",
    "/feed",
    "/ff",
    "/fforward",
    "/file",
    "/files_folder",
    "/find",
    "/fr",
    "/freceive",
    "/fs",
    "/fstatus",
    "/g",
    "/get",
    "/gp",
    "/group",
    "/group_descr",
    "/group_profile",
    "/groups",
    "/gs",
    "/h",
    "/ha",
    "/hc",
    "/hd",
    "/help",
    "/hf",
    "/hg",
    "/hi",
    "/hide",
    "/hm",
    "/hr",
    "/hs",
    "/i",
    "/image",
    "/image_forward",
    "/img",
    "/imgf",
    "/incognito",
    "/info",
    "/item",
    "/j",
    "/join",
    "/l",
    "/last_item_id",
    "/leave",
    "/list",
    "/live",
    "/m",
    "/markdown",
    "/member",
    "/members",
    "/mr",
    "/ms",
    "/mute",
    "/net",
    "/network",
    "/ntf",
    "/operators",
    "/p",
    "/pa",
    "/profile",
    "/profile_address",
    "/q",
    "/qi",
    "/queue",
    "/quit",
    "/rc",
    "/read",
    "/receipts",
    "/reconnect",
    "/reject",
    "/remote_hosts_folder",
    "/remove",
    "/report",
    "/reset",
    "/rm",
    "/sa",
    "/search",
    "/set",
    "/show",
    "/show_address",
    "/simplex",
    "/smp",
    "/sql",
    "/start",
    "/stop",
    "/store",
    "/switch",
    "/sync",
    "/t",
    "/tail",
    "/ttl",
    "/u",
    "/unblock",
    "/unhide",
    "/unmute",
    "/user",
    "/users",
    "/v",
    "/verify",
    "/version",
    "/w",
    "/welcome",
    "/xftp",
    "/*",
];

/// The arguments that, after one of our implemented commands, make it a form we do not
/// implement (`/c incognito`, `/delete user …`, `/accept member …`).
fn unsupported_arg(word: &str, arg: &str) -> bool {
    match word {
        "/c" | "/connect" => matches!(arg, "i" | "incognito" | "remote"),
        "/ac" | "/accept" => matches!(arg, "i" | "incognito" | "member"),
        "/delete" => matches!(arg, "user" | "welcome" | "profile" | "link" | "remote"),
        "/switch" => arg == "remote",
        _ => false,
    }
}

/// A forward in the reference's syntax: `<chat> <- @name text` (also `#`, `*`).
fn is_forward(line: &str) -> bool {
    let Some(first) = line.split_whitespace().next() else {
        return false;
    };
    line.get(first.len()..)
        .and_then(|r| r.strip_prefix(" <- "))
        .is_some_and(|r| r.starts_with(['@', '#', '*']))
}

/// The reference's reaction form: `+X <chat> <text>` or `-X <chat> <text>`, X one
/// character (`+1`, `-)`).
fn is_reaction(line: &str) -> bool {
    let mut cs = line.chars();
    matches!(cs.next(), Some('+' | '-'))
        && cs.next().is_some_and(|c| !c.is_whitespace())
        && cs.next() == Some(' ')
        && cs.next().is_some_and(|c| !c.is_whitespace())
}

/// What a line in the reference's syntax that we do not implement is, by its first
/// character; `None` for text.
fn unsupported_form(line: &str) -> Option<&'static str> {
    if is_forward(line) && line.starts_with(['@', '#', '*', ':']) {
        return Some("forwarding");
    }
    match line.chars().next()? {
        '#' => Some("group messages"),
        '>' => Some("replies"),
        '!' => Some("message editing"),
        '\\' => Some("message deletion"),
        '+' => Some("reactions"),
        '-' if is_reaction(line) => Some("reactions"),
        '@' if line.starts_with("@#") => Some("messages to group members"),
        _ => None,
    }
}

/// Parses one input line: a command we implement, a form of the reference's syntax we do
/// not ([`Command::Unsupported`]), or text for the last chat ([`Command::Continue`]).
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let line = line.trim_end();
    if let Some(what) = unsupported_form(line) {
        return Ok(Command::Unsupported(what.to_owned()));
    }
    if !line.starts_with('/') {
        return parse_implemented(line);
    }
    let word = line.split_whitespace().next().unwrap_or(line);
    if word == "/*" || line.starts_with("/* ") {
        return Ok(Command::Unsupported("notes (/*)".to_owned()));
    }
    if line.starts_with("/_") || line.starts_with("//") {
        return Ok(Command::Unsupported(word.to_owned()));
    }
    if matches!(word, "/v" | "/version") && line == word {
        return Ok(Command::Version);
    }
    if matches!(word, "/help" | "/h") {
        return Ok(Command::Help);
    }
    if !REFERENCE_COMMANDS.contains(&word) {
        return parse_implemented(line);
    }
    // A word the reference knows: one of ours, unless its argument is a group, notes, a
    // pending connection or a form we do not implement; else a command we do not have.
    let args = line.get(word.len()..).unwrap_or_default().trim_start();
    let first_arg = args.split_whitespace().next().unwrap_or_default();
    let ours = [
        "/c",
        "/connect",
        "/ad",
        "/address",
        "/sa",
        "/show_address",
        "/da",
        "/delete_address",
        "/ac",
        "/accept",
        "/rc",
        "/reject",
        "/contacts",
        "/d",
        "/delete",
        "/p",
        "/profile",
        "/t",
        "/tail",
        "/q",
        "/quit",
        "/exit",
        "/sync",
        "/i",
        "/info",
        "/switch",
        "/abort",
    ];
    if !ours.contains(&word) {
        return Ok(Command::Unsupported(word.to_owned()));
    }
    let other_chat = first_arg.starts_with(['#', '*', ':']);
    if other_chat || unsupported_arg(word, first_arg) {
        return Ok(Command::Unsupported(format!("{word} {first_arg}")));
    }
    let implemented = parse_implemented(line);
    let mode = args.split_whitespace().nth(1).unwrap_or_default();
    let delete_mode = ["full", "entity", "messages", "notify="]
        .iter()
        .any(|m| mode.starts_with(m));
    if implemented.is_err() && matches!(word, "/d" | "/delete") && delete_mode {
        // `/d @bob full|entity|messages [notify=off]`: deletion modes.
        return Ok(Command::Unsupported(format!("{word} <name> {mode}")));
    }
    if implemented.is_err() && matches!(word, "/p" | "/profile") {
        // `/p <name> <description>`: a profile with a short description.
        return Ok(Command::Unsupported(format!("{word} <name> <description>")));
    }
    implemented
}

/// Parses the forms this client implements.
fn parse_implemented(line: &str) -> Result<Command, ParseError> {
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
    if let Some(a) = arg(line, &["/info", "/i"]) {
        return name_arg(a).map(Command::Info).ok_or_else(bad);
    }
    if let Some(a) = arg(line, &["/switch"]) {
        return name_arg(a).map(Command::Switch).ok_or_else(bad);
    }
    if let Some(a) = arg(line, &["/abort"]).and_then(|a| a.strip_prefix("switch ")) {
        return name_arg(a).map(Command::AbortSwitch).ok_or_else(bad);
    }
    if let Some(a) = arg(line, &["/sync"]) {
        let (a, force) = match a.strip_suffix(" force=on") {
            Some(n) => (n.trim_end(), true),
            None => (a, false),
        };
        let name = name_arg(a).ok_or_else(bad)?;
        return Ok(Command::Sync { name, force });
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
        let sync = |n: &str, force| {
            Ok(Command::Sync {
                name: n.into(),
                force,
            })
        };
        assert_eq!(parse("/sync bob"), sync("bob", false));
        assert_eq!(parse("/sync @bob"), sync("bob", false));
        assert_eq!(parse("/sync 'bob b' force=on"), sync("bob b", true));
        assert_eq!(
            parse("/sync #team bob"),
            Ok(Command::Unsupported("/sync #team".into()))
        );
        assert!(parse("/sync").is_err());
        assert_eq!(parse("/i bob"), Ok(Command::Info("bob".into())));
        assert_eq!(parse("/switch @bob"), Ok(Command::Switch("bob".into())));
        assert_eq!(
            parse("/abort switch bob"),
            Ok(Command::AbortSwitch("bob".into()))
        );
        assert_eq!(
            parse("/switch #team bob"),
            Ok(Command::Unsupported("/switch #team".into()))
        );
        assert_eq!(
            parse("/switch remote host local"),
            Ok(Command::Unsupported("/switch remote".into()))
        );
        assert!(parse("/abort bob").is_err());
        assert_eq!(parse("/info @bob"), Ok(Command::Info("bob".into())));
        assert_eq!(
            parse("/i #team"),
            Ok(Command::Unsupported("/i #team".into()))
        );
        assert_eq!(
            parse("just text"),
            Ok(Command::Continue("just text".into()))
        );
    }

    /// One line of every form of the reference's `chatCommandP` (user-facing and API).
    const REFERENCE_FORMS: &[&str] = &[
        "/mute @bob",
        "/unmute #team",
        "/unmute mentions #team",
        "/receipts @bob on",
        "/block #team @bob",
        "/unblock #team @bob",
        "/_create user {}",
        "/create user bob",
        "/users",
        "/_user 1",
        "/user bob",
        "/u bob",
        "/set receipts all on",
        "/_set receipts contacts 1 on",
        "/set receipts contacts on",
        "/set receipts groups off",
        "/_hide user 1 {}",
        "/hide user pwd",
        "/unhide user pwd",
        "/mute user",
        "/unmute user",
        "/_delete user 1 del_smp=on",
        "/delete user bob",
        "/user",
        "/u",
        "/_start",
        "/_stop",
        "/_app activate",
        "/_resubscribe all",
        "/files_folder /tmp",
        "/remote_hosts_folder /tmp",
        "/set file paths {}",
        "/contact_merge on",
        "/db export",
        "/db encrypt key",
        "/db key a b",
        "/db decrypt key",
        "/db test key k",
        "/sql slow",
        "/sql chat select 1",
        "/sql agent select 1",
        "/_get chats 1",
        "/_send @1 text hi",
        "/report #team @bob spam hi",
        "/_read chat @1",
        "/read user",
        "/_delete @1",
        "/_accept 1",
        "/_reject 1",
        "/call @bob",
        "/call bob",
        "/_profile 1 {}",
        "/smp test smp://a@b",
        "/xftp test xftp://a@b",
        "/ntf test ntf://a@b",
        "/smp smp://a@b",
        "/xftp",
        "/smp",
        "/operators 1:on",
        "/ttl day",
        "/ttl",
        "/ttl @bob week",
        "/network socks=off",
        "/net",
        "/reconnect",
        "/reconnect 1 smp://a@b",
        "/info #team @bob",
        "/i #team",
        "/info @bob",
        "/i bob",
        "/queue info @bob",
        "/qi #team @bob",
        "/switch #team @bob",
        "/switch @bob",
        "/abort switch @bob",
        "/sync @bob",
        "/sync #team @bob force=on",
        "/code @bob",
        "/code #team @bob",
        "/verify @bob 123",
        "/verify #team @bob",
        "/enable @bob",
        "/enable #team @bob",
        "/help files",
        "/hf",
        "/help groups",
        "/hg",
        "/hc",
        "/ha",
        "/hi",
        "/hm",
        "/hr",
        "/hs",
        "/hd",
        "/help",
        "/h",
        "/group #team",
        "/g team",
        "/g i #team",
        "/add #team @bob",
        "/a team bob admin",
        "/join #team",
        "/j team",
        "/accept member #team @bob",
        "/member role #team @bob admin",
        "/mr #team @bob member",
        "/block for all #team @bob",
        "/unblock for all #team @bob",
        "/remove #team @bob",
        "/rm team bob",
        "/leave #team",
        "/l team",
        "/delete #team",
        "/d #team",
        "/delete @bob",
        "/d bob",
        "/delete bob full",
        "/clear *",
        "/clear #team",
        "/clear @bob",
        "/members #team",
        "/ms team",
        "/member support chats #team",
        "/groups",
        "/gs",
        "/group_profile #team new",
        "/gp team",
        "/group_descr #team hi",
        "/set welcome #team hi",
        "/delete welcome #team",
        "/show welcome #team",
        "/create link #team",
        "/set link role #team member",
        "/delete link #team",
        "/show link #team",
        ">#team (quote) reply",
        "> #team @bob (quote) reply",
        "/_contacts 1",
        "/contacts",
        "/_connect plan 1 link",
        "/connect",
        "/c",
        "/c i",
        "/connect incognito",
        "/c https://simplex.chat/invitation#/?v=2",
        "/c i https://simplex.chat/contact#/?v=2",
        "@bob <- @alice hi",
        "#team <- @alice hi",
        "@bob <- #team @alice hi",
        "@bob <- #team hi",
        "* <- * hi",
        "@bob hi",
        "#team hi",
        "/* a note",
        "@#team @bob hi",
        "/live @bob hi",
        ">@bob (hi) reply",
        "> @bob (hi) reply",
        ">>@bob (mine) again",
        ">> @bob (mine) again",
        "\\ @bob hi",
        "\\@bob hi",
        "\\\\ #team @bob hi",
        "! @bob (old) new",
        "!@bob new",
        "! 1 edited",
        "\\ 1",
        "+1 @bob hi",
        "-1 bob hi",
        "+) #team hi",
        "+1",
        "/feed hi all",
        "/chats",
        "/cs all",
        "/tail",
        "/t @bob 5",
        "/tail #team",
        "/t * 3",
        "/search @bob hi",
        "/? hi",
        "/last_item_id",
        "/show",
        "/show on",
        "/show 5",
        "/item info @bob hi",
        "/file @bob /tmp/x",
        "/f bob /tmp/x",
        "/f …",
        "/image @bob /tmp/x.jpg",
        "/img bob x.png",
        "/fforward @bob 1",
        "/ff bob 1",
        "/image_forward @bob 1",
        "/imgf bob 1",
        "/fdescription @bob x",
        "/fd bob x",
        "/freceive 1",
        "/fr 1 /tmp",
        "/fcancel 1",
        "/fc 1",
        "/fstatus 1",
        "/fs 1",
        "/simplex",
        "/simplex i",
        "/address",
        "/ad",
        "/delete_address",
        "/da",
        "/show_address",
        "/sa",
        "/profile_address on",
        "/pa off",
        "/auto_accept on",
        "/accept bob",
        "/ac @bob",
        "/ac i bob",
        "/accept incognito bob",
        "/reject bob",
        "/rc @bob",
        "/markdown",
        "/m",
        "/welcome",
        "/w",
        "/set profile image data:image/png;base64,AA",
        "/delete profile image",
        "/show profile image",
        "/profile bob",
        "/p bob",
        "/p bob my bio",
        "/profile",
        "/p",
        "/set voice #team on",
        "/set voice @bob yes",
        "/set voice yes",
        "/set files #team off",
        "/set history #team on",
        "/set reactions #team on",
        "/set calls @bob no",
        "/set calls yes",
        "/set delete #team on",
        "/set delete @bob always",
        "/set delete no",
        "/set direct #team off",
        "/set disappear #team on day",
        "/set disappear @bob yes",
        "/set disappear yes",
        "/set reports #team on",
        "/set links #team on",
        "/set admission review #team all",
        "/incognito",
        "/incognito on",
        "/set device name pc",
        "/list remote hosts",
        "/switch remote host local",
        "/start remote host new",
        "/stop remote host new",
        "/delete remote host 1",
        "/store remote file 1 /tmp/x",
        "/get remote file 1 {}",
        "/connect remote ctrl xrcp://a",
        "/crc xrcp://a",
        "/find remote ctrl",
        "/confirm remote ctrl 1",
        "/verify remote ctrl 123",
        "/list remote ctrls",
        "/stop remote ctrl",
        "/delete remote ctrl 1",
        "/_upload 1 /tmp/x",
        "/_download info x",
        "/quit",
        "/q",
        "/exit",
        "/version",
        "/v",
        "/debug locks",
        "/debug event {}",
        "/get subs total 1",
        "/get servers summary 1",
        "/reset servers stats",
        "/get subs",
        "/get subs details",
        "/get workers",
        "/get workers details",
        "/get queues",
        "//custom thing",
    ];

    #[test]
    fn every_reference_form_is_recognised_never_sent_as_text() {
        for l in REFERENCE_FORMS {
            match parse(l) {
                Ok(Command::Continue(_)) => panic!("{l:?} would be sent to the last chat"),
                Ok(_) => {}
                Err(e) => panic!("{l:?} is not recognised: {e}"),
            }
        }
        // Whatever follows a reference command word, the line never leaves as text.
        for w in REFERENCE_COMMANDS {
            for l in [
                w.to_string(),
                format!("{w} x"),
                format!("{w} #x y"),
                format!("{w} @x y"),
            ] {
                assert!(
                    !matches!(parse(&l), Ok(Command::Continue(_))),
                    "{l:?} would be sent to the last chat"
                );
            }
        }
    }

    #[test]
    fn forms_we_lack_are_named_and_text_stays_text() {
        let un = |s: &str| Ok(Command::Unsupported(s.into()));
        assert_eq!(parse("#team hi"), un("group messages"));
        assert_eq!(parse("> @bob (hi) reply"), un("replies"));
        assert_eq!(parse("! 1 edited"), un("message editing"));
        assert_eq!(parse("\\ 1"), un("message deletion"));
        assert_eq!(parse("+1"), un("reactions"));
        assert_eq!(parse("-1 @bob hi"), un("reactions"));
        assert_eq!(parse("/f …"), un("/f"));
        assert_eq!(parse("/file @bob x"), un("/file"));
        assert_eq!(parse("@bob <- @alice hi"), un("forwarding"));
        assert_eq!(parse("@#team @bob hi"), un("messages to group members"));
        assert_eq!(parse("/c i"), un("/c i"));
        assert_eq!(parse("/d #team"), un("/d #team"));
        assert_eq!(parse("/delete user bob"), un("/delete user"));
        assert_eq!(parse("/tail #team"), un("/tail #team"));
        assert_eq!(parse("/_send @1 text hi"), un("/_send"));
        assert_eq!(parse("/v"), Ok(Command::Version));
        assert_eq!(parse("/help files"), Ok(Command::Help));
        for text in [
            "hi there",
            "- a list item",
            "--- hr",
            "*bold* text",
            ":) smile",
            "3 + 4",
            "?",
            "a/b",
        ] {
            assert_eq!(parse(text), Ok(Command::Continue(text.into())), "{text:?}");
        }
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
