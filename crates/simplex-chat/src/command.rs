//! The terminal commands this client understands, parsed as the reference's `chatCommandP`
//! parses them (the subset for direct chats). Names may be quoted (`'bob smith'`).
//!
//! Every other form of the reference's syntax is recognised too, so that it never leaves as a
//! message: a `/command` the reference knows ([`REFERENCE_COMMANDS`], the `/_…` API
//! commands, `//`), replies (`> @bob (hi) reply`), edits
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
    /// `/_connect plan N LINK`: what connecting through the link would do.
    ConnectPlan(String),
    /// `/pq @NAME on|off`: the reference's former per-contact switch (removed when it made
    /// post-quantum encryption automatic); answered with how it works now.
    SetContactPq(String),
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
    /// `/g NAME [FULL NAME]` or `/group …`: create a group.
    NewGroup {
        /// The group's name.
        name: String,
        /// Its full name (may be empty).
        full_name: String,
    },
    /// `/a GROUP CONTACT [ROLE]` or `/add …`: invite a contact (as `member` by default).
    AddMember {
        /// The group.
        group: String,
        /// The contact.
        contact: String,
        /// The role it is invited as.
        role: crate::protocol::MemberRole,
    },
    /// `/j GROUP` or `/join …`: accept an invitation.
    JoinGroup(String),
    /// `#GROUP text`: send a message to a group.
    SendGroup {
        /// The group.
        group: String,
        /// The text.
        text: String,
    },
    /// `/ms GROUP` or `/members …`.
    Members(String),
    /// `/gs` or `/groups`.
    Groups,
    /// `/l GROUP` or `/leave …`.
    Leave(String),
    /// `/rm GROUP MEMBER` or `/remove …`.
    RemoveMember {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
    /// `/mr GROUP MEMBER ROLE` or `/member role …`.
    ChangeRole {
        /// The group.
        group: String,
        /// The member.
        member: String,
        /// The new role.
        role: crate::protocol::MemberRole,
    },
    /// `/d #GROUP` or `/delete #…`.
    DeleteGroup(String),
    /// `/tail #GROUP [N]` or `/t …`.
    GroupTail {
        /// The group.
        group: String,
        /// How many items (10 by default).
        count: u32,
    },
    /// `/i #GROUP` (`GroupInfo`): the group's ID and current member count.
    GroupInfo(String),
    /// `/gp GROUP NAME [FULL NAME]` (`/group_profile`): the owner renames the group.
    UpdateGroupProfile {
        /// The group.
        group: String,
        /// Its new name.
        name: String,
        /// Its new full name (may be empty).
        full_name: String,
    },
    /// `/i #GROUP MEMBER` or `/info …`: the member's connection.
    GroupMemberInfo {
        /// The group.
        group: String,
        /// The member.
        member: String,
    },
    /// `/create link #GROUP`.
    CreateGroupLink(String),
    /// `/show link #GROUP`.
    ShowGroupLink(String),
    /// `/delete link #GROUP`.
    DeleteGroupLink(String),
    /// `/f @NAME PATH`, `/f #GROUP PATH` or `/file …`: send a file (module `file`).
    SendFile {
        /// `@name` or `#group`, with its prefix.
        to: String,
        /// The file's path, as typed.
        path: String,
    },
    /// `/fr N [PATH]` or `/freceive …`: receive file N into PATH (a folder when it ends
    /// with `/` or is one), else into the files folder.
    ReceiveFile {
        /// The file's number.
        id: i64,
        /// Where to save it.
        path: Option<String>,
    },
    /// `/fc N` or `/fcancel N`: cancel sending or receiving file N.
    CancelFile(i64),
    /// `/fs N` or `/fstatus N`: file N's status.
    FileStatus(i64),
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
    /// `/privacy [LEVEL]` (not in the reference): the privacy level and what it sets, or
    /// a new level for the next start.
    Privacy(Option<crate::privacy::Level>),
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

mod file;
mod group;

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
    if let Some(r) = file::parse(line) {
        return r;
    }
    if let Some(r) = group::parse(line) {
        return r;
    }
    if !line.starts_with('/') {
        return parse_implemented(line);
    }
    let word = line.split_whitespace().next().unwrap_or(line);
    if word == "/*" || line.starts_with("/* ") {
        return Ok(Command::Unsupported("notes (/*)".to_owned()));
    }
    if let Some(rest) = line.strip_prefix("/_connect plan ") {
        // `/_connect plan <userId> <link>`: this client has one user.
        let mut words = rest.split_whitespace();
        let user = words.next().filter(|u| u.parse::<u64>().is_ok());
        return match (user, words.next(), words.next()) {
            (Some(_), Some(link), None) => Ok(Command::ConnectPlan(link.to_owned())),
            _ => Err(ParseError(line.to_owned())),
        };
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
        "/privacy",
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
    if let Some(a) = arg(line, &["/pq"]) {
        let (name, on_off) = a.rsplit_once(' ').ok_or_else(bad)?;
        if !matches!(on_off, "on" | "off") {
            return Err(bad());
        }
        return name_arg(name).map(Command::SetContactPq).ok_or_else(bad);
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
    if let Some(a) = arg(line, &["/privacy"]) {
        if a.is_empty() {
            return Ok(Command::Privacy(None));
        }
        return crate::privacy::Level::parse(a)
            .map(|l| Command::Privacy(Some(l)))
            .map_err(|_| bad());
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
mod tests;
