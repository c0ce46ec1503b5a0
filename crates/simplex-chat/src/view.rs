//! What the terminal prints: the reference's lines (`View.hs`) for the commands and events
//! this client supports, plus QR codes of links. Pure functions returning lines.
//!
//! Delivery status of sent messages. The reference's terminal shows only receipts
//! (`⩗ HH:MM @bob text`, and only in its test view); its mobile apps mark every sent
//! message: nothing while sending, ✓ sent, a double check when received, a red ✕ or a
//! warning sign when delivery failed. A terminal cannot redraw a line already printed, so
//! this client shows the same states in two ways, without a line for every event:
//! - `/tail` prefixes each sent item with its status mark (see [`status_mark`]):
//!   `… ` sending, `✓ ` sent (the relay accepted it), `⩗ ` received (`⩗! ` with another
//!   message hash), `✗ ` not delivered. Received items keep the reference's unmarked line.
//! - Live, the receipt prints `⩗ HH:MM @bob text` as the reference does; a failure prints
//!   `✗ HH:MM @bob text` and the reason. `✓` is printed live only for a message that did not
//!   go at once — sent while the agent reported the connection's relay disconnected, or left
//!   from an earlier run — because for a prompt send the echo and the receipt a moment later
//!   already say it, and a third line per message would be noise. (The agent reports the
//!   relay we receive from; a message goes to the contact's relay, the same one when both
//!   use one server. A message held up only by the contact's relay shows `✓` in `/tail`.)

use chrono::{DateTime, Duration, Local, NaiveTime, TimeZone};
use qrcode::{EcLevel, QrCode};
use simplex_agent::{
    AgentCryptoError, AgentError, QueueDirection, RatchetSyncState, RcvQueueInfo, RcvSwitchStatus,
    SndQueueInfo, SndSwitchStatus, SwitchPhase,
};
use smp_client::{ClientError, TransportError};

use crate::protocol::Profile;
use crate::store::{ChatItem, ItemStatus};

pub mod group;

/// A name as the reference shows it: quoted in `'…'` when it contains whitespace.
pub fn view_name(name: &str) -> String {
    if name.chars().any(char::is_whitespace) {
        format!("'{name}'")
    } else {
        name.to_owned()
    }
}

/// Where a plain line goes, as typed: `@bob`, or `#team` for a group (a chat held as
/// `#team`, see [`crate::chat::Chat::last_chat`]).
pub fn chat_ref(chat: &str) -> String {
    match chat.strip_prefix('#') {
        Some(group) => format!("#{}", view_name(group)),
        None => format!("@{}", view_name(chat)),
    }
}

/// `name` or `name (Full Name)` (`ttyFullName`).
pub fn full_name(name: &str, p: &Profile) -> String {
    if p.full_name.is_empty() || p.full_name == name {
        view_name(name)
    } else {
        format!("{} ({})", view_name(name), p.full_name)
    }
}

/// The link as the reference prints it: the `https://simplex.chat/` form of a full
/// `simplex:/invitation…` or `simplex:/contact…` link (`simplexChatInvitation`,
/// `simplexChatContact`). A short link in the `simplex:` form (`simplex:/a#…?h=<hosts>`) is
/// left as it is: in the `https` form its authority would be taken for its relay.
pub fn app_link(link: &str) -> String {
    match link.strip_prefix("simplex:/") {
        Some(rest) if rest.starts_with("invitation") || rest.starts_with("contact") => {
            format!("https://simplex.chat/{rest}")
        }
        _ => link.to_owned(),
    }
}

/// A contact address's or group link's link, full (`…/contact#/?…`) or short (`…/a#…`,
/// `…/g#…`), as opposed to a one-time invitation's (`…/invitation#…`, `…/i#…`).
pub fn is_address_link(link: &str) -> bool {
    let path = match link.strip_prefix("simplex:/") {
        Some(path) => path,
        None => link
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map_or("", |(_, path)| path),
    };
    path.starts_with("contact#") || path.starts_with("a#") || path.starts_with("g#")
}

/// The widest QR code drawn, in columns: an 80-column terminal shows it unwrapped.
pub const QR_MAX_WIDTH: usize = 80;

/// In place of a QR code that would not fit [`QR_MAX_WIDTH`] columns even with quadrant
/// blocks (a link of more than about 3,000 characters).
pub const QR_TOO_WIDE: &str = "(no QR code: this link is too long for a code that fits 80 columns)";

/// The lines of a QR code of `text`, with the lowest error correction: the smallest code, as
/// a screen is not a worn label. Light modules are drawn as blocks, for terminals with a dark
/// background.
///
/// A code that fits [`QR_MAX_WIDTH`] columns with one module a column (up to 78 modules: a
/// full invitation link without a post-quantum key) is drawn with half blocks, two modules
/// one above the other a character, so each module is square. A wider one (a post-quantum
/// invitation carries a KEM key: about 150 modules) is drawn with quadrant blocks, two by two
/// modules a character: its modules are twice as tall as wide, which scanners correct as they
/// correct any tilt (checked with zbar on a rendering of the characters), and it still fits
/// 80 columns. The quiet zone is the standard 4 modules where that fits, else as wide as fits
/// (at least 1). A code wider still is left out with [`QR_TOO_WIDE`] in its place (the
/// reference's terminal client draws none).
pub fn qr_lines(text: &str) -> Vec<String> {
    let code = match QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L) {
        Ok(code) => code,
        Err(e) => return vec![format!("(no QR code: {e})")],
    };
    let n = code.width();
    let per_col = if n + 2 <= QR_MAX_WIDTH {
        1
    } else if n + 2 <= 2 * QR_MAX_WIDTH {
        2
    } else {
        return vec![QR_TOO_WIDE.to_owned()];
    };
    let quiet = ((per_col * QR_MAX_WIDTH).saturating_sub(n) / 2).clamp(1, 4);
    let colors = code.to_colors();
    let size = n + 2 * quiet;
    // A light ("ink") module at (x, y) of the code with its quiet zone; past the right or
    // bottom edge is the terminal's (dark) background.
    let ink = |x: usize, y: usize| -> bool {
        if x >= size || y >= size {
            return false;
        }
        let in_code = x >= quiet && y >= quiet && x < quiet + n && y < quiet + n;
        !(in_code
            && colors
                .get((y - quiet) * n + (x - quiet))
                .is_some_and(|c| *c == qrcode::Color::Dark))
    };
    (0..size)
        .step_by(2)
        .map(|y| {
            (0..size)
                .step_by(per_col)
                .map(|x| {
                    if per_col == 1 {
                        half_block(ink(x, y), ink(x, y + 1))
                    } else {
                        quadrant(ink(x, y), ink(x + 1, y), ink(x, y + 1), ink(x + 1, y + 1))
                    }
                })
                .collect()
        })
        .collect()
}

/// The character with ink in its top and/or bottom half.
fn half_block(top: bool, bottom: bool) -> char {
    match (top, bottom) {
        (true, true) => '█',
        (true, false) => '▀',
        (false, true) => '▄',
        (false, false) => ' ',
    }
}

/// The character with ink in the given quarters (upper left, upper right, lower left, lower
/// right): Unicode's block elements.
fn quadrant(ul: bool, ur: bool, ll: bool, lr: bool) -> char {
    const BY_BITS: [char; 16] = [
        ' ', '▘', '▝', '▀', '▖', '▌', '▞', '▛', '▗', '▚', '▐', '▜', '▄', '▙', '▟', '█',
    ];
    let i = usize::from(ul) | usize::from(ur) << 1 | usize::from(ll) << 2 | usize::from(lr) << 3;
    BY_BITS[i]
}

/// `/c`: the invitation (`viewConnReqInvitation`) with its QR code before the link, so that
/// the link stays on the screen. With a short link (a relay at SMP v15+, as SimpleX apps
/// 6.4+ make them), the short link and its small code are shown, and the full link for
/// clients without short links (the reference's "for old clients" line) before them.
pub fn invitation(short: Option<&str>, full: &str) -> Vec<String> {
    let intro = "pass this invitation link to your contact (via another channel): ";
    let hints = ["and ask them to connect: /c <invitation_link_above>"];
    link_block(
        intro,
        short,
        full,
        &hints,
        "The invitation link for old clients: ",
    )
}

/// `/ad` and `/sa`: the address (`connReqContact_`), its QR code before the link; with a
/// short link, as [`invitation`].
pub fn address(intro: &str, short: Option<&str>, full: &str) -> Vec<String> {
    let hints = [
        "Anybody can send you contact requests with: /c <contact_link_above>",
        "to show it again: /sa",
        "to delete it: /da (accepted contacts will remain connected)",
    ];
    link_block(
        intro,
        short,
        full,
        &hints,
        "The contact link for old clients: ",
    )
}

/// The intro, the QR code of the link shown (the short one when there is one), the link and
/// the hints; with a short link, the full link for old clients comes first. (The reference
/// prints that line last; a post-quantum full link fills some 30 rows of an 80-column
/// terminal, which would push the short link and its code off the screen.)
pub(crate) fn link_block(
    intro: &str,
    short: Option<&str>,
    full: &str,
    hints: &[&str],
    old_clients: &str,
) -> Vec<String> {
    let full = app_link(full);
    let mut out = Vec::new();
    if short.is_some() {
        out.push(format!("{old_clients}{full}"));
    }
    let shown = short.map_or(full, str::to_owned);
    out.extend([intro.to_owned(), String::new()]);
    out.extend(qr_lines(&shown));
    out.extend([String::new(), shown, String::new()]);
    out.extend(hints.iter().map(|h| (*h).to_owned()));
    out
}

/// `/da`.
pub fn address_deleted() -> Vec<String> {
    vec![
        "Your chat address is deleted - accepted contacts will remain connected.".to_owned(),
        "To create a new chat address use /ad".to_owned(),
    ]
}

/// A request arrived at the address (`viewReceivedContactRequest`).
pub fn contact_request(name: &str, p: &Profile) -> Vec<String> {
    vec![
        format!("{} wants to connect to you!", full_name(name, p)),
        format!("to accept: /ac {}", view_name(name)),
        format!(
            "to reject: /rc {} (the sender will NOT be notified)",
            view_name(name)
        ),
    ]
}

/// The time of an item as the reference shows it (`ttyMsgTime`): `HH:MM` for today (and,
/// before noon, since 18:00 yesterday), else `MM-DD`.
pub fn msg_time(now: DateTime<Local>, ts_ms: i64) -> String {
    let Some(t) = Local.timestamp_millis_opt(ts_ms).single() else {
        return "??:??".to_owned();
    };
    let today = now.date_naive();
    let day = t.date_naive();
    let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default();
    let six_pm = NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default();
    let yesterday_6pm = (today - Duration::days(1)).and_time(six_pm);
    let recent =
        day == today || (now.time() < noon && t.naive_local() >= yesterday_6pm && day < today);
    if recent {
        t.format("%H:%M").to_string()
    } else {
        t.format("%m-%d").to_string()
    }
}

/// An item: `HH:MM @bob text` (sent) or `HH:MM bob> text` (received); further lines of a
/// multi-line text follow unprefixed.
pub fn item(now: DateTime<Local>, contact: &str, it: &ChatItem) -> Vec<String> {
    let who = if it.sent {
        format!("@{} ", view_name(contact))
    } else {
        format!("{}> ", view_name(contact))
    };
    let mut lines = it.text.lines();
    let first = lines.next().unwrap_or_default();
    let mut out = vec![format!("{} {who}{first}", msg_time(now, it.ts_ms))];
    out.extend(lines.map(str::to_owned));
    out
}

/// The mark of a sent item's delivery status (see the module docs); `None` for received
/// items.
pub fn status_mark(status: ItemStatus) -> Option<&'static str> {
    match status {
        ItemStatus::New => Some("…"),
        ItemStatus::Sent => Some("✓"),
        ItemStatus::Rcvd => Some("⩗"),
        ItemStatus::RcvdBadHash => Some("⩗!"),
        ItemStatus::Error => Some("✗"),
        ItemStatus::Rcv | ItemStatus::Event => None,
    }
}

/// An item with its status mark in front when it is ours: `⩗ HH:MM @bob text`; as
/// [`item`] for received ones. Used by `/tail` and for live status changes (receipts,
/// failures, late sends).
pub fn marked_item(now: DateTime<Local>, contact: &str, it: &ChatItem) -> Vec<String> {
    let mut out = item(now, contact, it);
    if let (true, Some(mark), Some(first)) = (it.sent, status_mark(it.status), out.first_mut()) {
        *first = format!("{mark} {first}");
    }
    out
}

/// Why a message was not delivered (`MERR`). The agent's `AUTH` from the relay means the
/// queue is gone: the apps say "Most likely this connection is deleted".
pub fn delivery_error(contact: &str, err: &str) -> String {
    let hint = if err == "server error: Auth" {
        " (most likely the connection is deleted)"
    } else {
        ""
    };
    format!("{}: message not delivered: {err}{hint}", view_name(contact))
}

/// The host (and port) of a server address `smp://key@host[:port]`.
fn server_host(server: &str) -> &str {
    server.rsplit_once('@').map_or(server, |(_, h)| h)
}

/// An agent error in words a user understands: a relay that cannot be reached is named;
/// anything else is the agent's error.
pub fn agent_error(e: &AgentError) -> String {
    match e {
        // The proxy itself is the problem (down, refusing): say so, not that the relay is.
        AgentError::Smp {
            server,
            error: ClientError::Transport(TransportError::Socks(s)),
        } => format!("cannot reach {}: {s}", server_host(server)),
        AgentError::Smp {
            server,
            error: ClientError::Transport(_) | ClientError::Timeout | ClientError::Closed,
        } => format!(
            "cannot reach {}: the server is not running or not reachable",
            server_host(server)
        ),
        AgentError::Proxy { proxy, .. } => {
            format!(
                "the server {} could not forward the message",
                server_host(proxy)
            )
        }
        // Sending while the ratchet needs re-synchronising, `/sync` when it is not
        // allowed (the reference's `CMD PROHIBITED`).
        AgentError::Prohibited(_) => "error: command is prohibited".to_owned(),
        e => format!("smp agent error: {e}"),
    }
}

/// What `/i NAME` shows.
#[derive(Debug, Default)]
pub struct ContactInfo {
    /// The contact's ID in the chat database.
    pub contact_id: i64,
    /// The queues messages come from ([`rcv_queue_info`]).
    pub rcv_queues: Vec<String>,
    /// The queues messages go to ([`snd_queue_info`]).
    pub snd_queues: Vec<String>,
    /// Whether the connection's double ratchet is post-quantum.
    pub pq: bool,
}

/// The hosts of a server as the reference shows them (`showSMPServer`).
pub fn server_hosts(s: &smp_proto::SmpServer) -> String {
    s.hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `/i NAME` (`viewContactInfo`). Lines of the reference's we leave out: the security
/// code (`/code` is not built) and the peer's chat version range (not kept).
pub fn contact_info(i: &ContactInfo) -> Vec<String> {
    let via = |what: &str, queues: &[String]| {
        (!queues.is_empty()).then(|| format!("{what} messages via: {}", queues.join(", ")))
    };
    let mut out = vec![format!("contact ID: {}", i.contact_id)];
    out.extend(via("receiving", &i.rcv_queues));
    out.extend(via("sending", &i.snd_queues));
    out.push("you've shared main profile with this contact".to_owned());
    if i.pq {
        out.push("quantum resistant end-to-end encryption".to_owned());
    }
    out
}

/// A ratchet re-synchronisation state in the reference's words (`ratchetSyncStatusToText`).
pub fn ratchet_sync_text(state: RatchetSyncState) -> &'static str {
    match state {
        RatchetSyncState::Ok => "connection synchronized",
        RatchetSyncState::Allowed => {
            "decryption error (connection may be out of sync), synchronization allowed"
        }
        RatchetSyncState::Required => {
            "decryption error (connection out of sync), synchronization required"
        }
        RatchetSyncState::Started => "connection synchronization started",
        RatchetSyncState::Agreed => "connection synchronization agreed",
    }
}

/// `RSYNC` for a contact (`viewContactRatchetSync`): the state, and how to re-synchronise
/// when it may or must be.
pub fn ratchet_sync(contact: &str, state: RatchetSyncState) -> Vec<String> {
    let name = view_name(contact);
    let mut out = vec![format!("{name}: {}", ratchet_sync_text(state))];
    if matches!(
        state,
        RatchetSyncState::Allowed | RatchetSyncState::Required
    ) {
        out.push(format!("use /sync {name} to synchronize"));
    }
    out
}

/// The item kept for a decryption error (`msgDecryptErrorText` of the reference's
/// `agentMsgDecryptError`). The reference counts further failed messages into the same
/// item; our agent reports only the error that changed the state, so the count is that
/// of the error itself.
pub fn decryption_error_text(e: AgentCryptoError) -> String {
    let count = |n: u32| {
        if n == 1 {
            String::new()
        } else {
            format!(", {n} messages")
        }
    };
    let what = match e {
        AgentCryptoError::RatchetHeader => Some("header".to_owned()),
        AgentCryptoError::RatchetSkipped(n) => {
            Some(format!("too many skipped messages{}", count(n)))
        }
        AgentCryptoError::RatchetEarlier(_) => Some("earlier message".to_owned()),
        AgentCryptoError::RatchetSync => Some("synchronization error".to_owned()),
        AgentCryptoError::DecryptAes | AgentCryptoError::DecryptCb => None,
    };
    match what {
        Some(w) => format!("decryption error, possibly due to the device change ({w})"),
        None => "decryption error, possibly due to the device change".to_owned(),
    }
}

/// Joining a one-time link whose queue the relay refuses (`AUTH`): it was used or deleted.
pub const LINK_USED: &str = "this link was already used or deleted";

/// The answer to `/pq @NAME on|off`: the reference removed that switch when it made
/// post-quantum encryption automatic (simplex-chat #4049); so does this client.
pub fn pq_is_automatic(name: &str) -> String {
    format!(
        "post-quantum encryption is automatic where the contact's app has it: see /i {}",
        view_name(name)
    )
}

/// `/c` of our own invitation or address.
pub const CONNECT_TO_YOURSELF: &str = "you cannot connect to yourself";

/// A message longer than a connection can carry: refused, nothing sent. (The agent pads
/// messages to 13,618 bytes on post-quantum connections and 15,840 on others; the chat
/// envelope and the agent's headers take a little of that.)
pub fn message_too_large(chars: usize) -> String {
    format!(
        "message too large ({chars} characters): nothing was sent; send it as several messages of up to about 13,000 bytes"
    )
}

/// `/v` (`viewVersionInfo`).
pub fn version() -> Vec<String> {
    vec![format!(
        "SimpleX Chat v{} (simplex-rs)",
        env!("CARGO_PKG_VERSION")
    )]
}

/// The contact sent `x.direct.del` (`CRContactDeletedByContact`).
pub fn contact_deleted_by_contact(name: &str, p: &Profile) -> String {
    format!("{} deleted contact with you", full_name(name, p))
}

/// Sending to a contact without a connection (`CEContactNotReady`).
pub fn not_ready(name: &str) -> String {
    format!("{}: not ready", view_name(name))
}

/// `/p` without a name (`viewUserProfile`).
pub fn user_profile(p: &Profile) -> Vec<String> {
    vec![
        format!("user profile: {}", full_name(&p.display_name, p)),
        "use /p <display name> to change it".to_owned(),
        "(the updated profile will be sent to all your contacts)".to_owned(),
    ]
}

/// `/help`.
pub fn help() -> Vec<String> {
    [
        "Using SimpleX Chat",
        "Follow these steps to set up a connection:",
        "",
        "Step 1: /c - Alice adds a contact: an invitation link is shown (with its QR code",
        "        when that fits the terminal).",
        "        Alice sends the link to Bob over any channel (it is one-time).",
        "Step 2: /c <link> - Bob connects with it.",
        "        Both see \"<name>: contact is connected\" when the connection is ready.",
        "",
        "Or: /ad - create your long-term address; anybody can send you requests with",
        "    /c <address>; /sa - show it, /da - delete it, /ac <name> - accept a request,",
        "    /rc <name> - reject it",
        "",
        "@<name> <message> - send a message; a line without a command continues the",
        "                    last chat",
        "/contacts         - list contacts",
        "/tail [@<name>] [<count>] - show the last messages (10 by default); yours are",
        "                    marked … sending, ✓ sent, ⩗ received, ✗ not delivered",
        "/d <name>         - delete a contact and its messages (the contact is told)",
        "/i <name>         - the contact's servers and encryption",
        "/switch <name>    - move to a new queue for the contact's messages",
        "                    (/abort switch <name>)",
        "/sync <name> [force=on] - repair a connection after a decryption error",
        "/p [<name>]       - show or change your display name (sent to your contacts)",
        "/privacy [standard|high|maximum] - what the privacy level sets, or change it",
        "",
        "Files: /f @<name> <path> or /f #<group> <path> - send a file;",
        "    /fr <n> [<dir>/ | <path>] - receive it; /fc <n> - cancel; /fs <n> - status",
        "",
        "Groups: /g <group> - create; /a <group> <contact> [<role>] - invite;",
        "    /j <group> - join; #<group> <message> - send; /ms <group> - members;",
        "    /gs - groups; /l <group> - leave; /rm <group> <member>;",
        "    /mr <group> <member> <role>; /d #<group>; /tail #<group>; /i #<group>;",
        "    /gp <group> <new name> [<full name>] - rename (owner);",
        "    /create link #<group> (/show link, /delete link) - a link anyone joins",
        "    with /c",
        "",
        "/version          - this client's version",
        "/help             - this help",
        "/q                - quit",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// A step of a queue switch (`viewContactSwitch`): the line printed and the text of the
/// item kept (`sndConnEventToText` / `rcvConnEventToText`), for the start and the end only.
pub fn switch_progress(
    contact: &str,
    direction: QueueDirection,
    phase: SwitchPhase,
) -> Option<(String, &'static str)> {
    let name = view_name(contact);
    let (what, ours, theirs) = match phase {
        SwitchPhase::Started => (
            "started changing address",
            "started changing address...",
            "started changing address for you...",
        ),
        SwitchPhase::Completed => (
            "changed address",
            "you changed address",
            "changed address for you",
        ),
        SwitchPhase::Confirmed | SwitchPhase::Secured => return None,
    };
    Some(match direction {
        QueueDirection::Rcv => (format!("{name}: you {what}"), ours),
        QueueDirection::Snd => (format!("{name} {what} for you"), theirs),
    })
}

/// A receive queue in `/i` (`viewRcvQueuesInfo`): its hosts, and the switch under way.
pub fn rcv_queue_info(q: &RcvQueueInfo) -> String {
    let host = server_hosts(&q.server);
    let Some(s) = q.switch_status else {
        return host;
    };
    let status = match s {
        RcvSwitchStatus::SwitchStarted | RcvSwitchStatus::SendingQadd => "switch started",
        RcvSwitchStatus::SendingQuse => "switch confirmed",
        RcvSwitchStatus::ReceivedMessage => "switch secured",
    };
    let abort = if q.can_abort_switch {
        ", can be aborted"
    } else {
        ""
    };
    format!("{host} ({status}{abort})")
}

/// A send queue in `/i` (`viewSndQueuesInfo`).
pub fn snd_queue_info(q: &SndQueueInfo) -> String {
    let host = server_hosts(&q.server);
    match q.switch_status {
        None => host,
        Some(SndSwitchStatus::SendingQkey) => format!("{host} (switch started)"),
        Some(SndSwitchStatus::SendingQtest) => format!("{host} (switch secured)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratchet_sync_lines_are_the_references() {
        assert_eq!(
            ratchet_sync("bob", RatchetSyncState::Allowed),
            [
                "bob: decryption error (connection may be out of sync), synchronization allowed",
                "use /sync bob to synchronize"
            ]
        );
        assert_eq!(
            ratchet_sync("bob b", RatchetSyncState::Agreed),
            ["'bob b': connection synchronization agreed"]
        );
        assert_eq!(
            ratchet_sync("bob", RatchetSyncState::Ok),
            ["bob: connection synchronized"]
        );
        let d = "decryption error, possibly due to the device change";
        assert_eq!(decryption_error_text(AgentCryptoError::DecryptAes), d);
        assert_eq!(
            decryption_error_text(AgentCryptoError::RatchetSkipped(3)),
            format!("{d} (too many skipped messages, 3 messages)")
        );
        assert_eq!(
            decryption_error_text(AgentCryptoError::RatchetEarlier(2)),
            format!("{d} (earlier message)")
        );
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("unambiguous local time")
    }

    #[test]
    fn times_follow_the_recent_rule() {
        let now = at(2024, 5, 10, 9, 0);
        let ms = |t: DateTime<Local>| t.timestamp_millis();
        assert_eq!(msg_time(now, ms(at(2024, 5, 10, 8, 30))), "08:30");
        // Before noon, yesterday evening still shows the time.
        assert_eq!(msg_time(now, ms(at(2024, 5, 9, 19, 5))), "19:05");
        assert_eq!(msg_time(now, ms(at(2024, 5, 9, 17, 5))), "05-09");
        let afternoon = at(2024, 5, 10, 13, 0);
        assert_eq!(msg_time(afternoon, ms(at(2024, 5, 9, 19, 5))), "05-09");
    }

    #[test]
    fn items_and_receipts() {
        let now = at(2024, 5, 10, 9, 0);
        let it = ChatItem {
            id: 1,
            contact_id: 1,
            sent: true,
            text: "hi\nthere".into(),
            ts_ms: at(2024, 5, 10, 8, 1).timestamp_millis(),
            agent_msg_id: 1,
            status: ItemStatus::New,
        };
        assert_eq!(item(now, "bob", &it), ["08:01 @bob hi", "there"]);
        let marks = [
            (ItemStatus::New, "… 08:01 @bob hi"),
            (ItemStatus::Sent, "✓ 08:01 @bob hi"),
            (ItemStatus::Rcvd, "⩗ 08:01 @bob hi"),
            (ItemStatus::RcvdBadHash, "⩗! 08:01 @bob hi"),
            (ItemStatus::Error, "✗ 08:01 @bob hi"),
        ];
        for (status, line) in marks {
            let it = ChatItem {
                status,
                ..it.clone()
            };
            assert_eq!(marked_item(now, "bob", &it), [line, "there"]);
        }
        let rcv = ChatItem {
            sent: false,
            text: "yo".into(),
            status: ItemStatus::Rcv,
            ..it
        };
        assert_eq!(item(now, "bob smith", &rcv), ["08:01 'bob smith'> yo"]);
        assert_eq!(
            marked_item(now, "bob smith", &rcv),
            ["08:01 'bob smith'> yo"]
        );
        let ev = ChatItem {
            text: "contact deleted".into(),
            status: ItemStatus::Event,
            ..rcv
        };
        assert_eq!(marked_item(now, "bob", &ev), ["08:01 bob> contact deleted"]);
        assert_eq!(
            delivery_error("bob", "server error: Auth"),
            "bob: message not delivered: server error: Auth (most likely the connection is deleted)"
        );
        assert_eq!(
            delivery_error("bob b", "server error: Quota"),
            "'bob b': message not delivered: server error: Quota"
        );
        assert_eq!(
            contact_deleted_by_contact(
                "alice",
                &Profile {
                    display_name: "alice".into(),
                    full_name: "Alice".into(),
                    peer_type: None,
                }
            ),
            "alice (Alice) deleted contact with you"
        );
        assert_eq!(not_ready("alice"), "alice: not ready");
    }

    #[test]
    fn agent_errors_in_words() {
        let down = AgentError::Smp {
            server: "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@127.0.0.1:5223".into(),
            error: ClientError::Timeout,
        };
        assert_eq!(
            agent_error(&down),
            "cannot reach 127.0.0.1:5223: the server is not running or not reachable"
        );
        let proxy: std::net::SocketAddr = "127.0.0.1:9050".parse().expect("addr");
        let socks = AgentError::Smp {
            server: "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@relay.example".into(),
            error: ClientError::Transport(TransportError::Socks(
                simplex_agent::SocksError::AuthRefused(proxy),
            )),
        };
        assert_eq!(
            agent_error(&socks),
            "cannot reach relay.example: SOCKS proxy 127.0.0.1:9050 refused the credentials"
        );
        assert_eq!(
            agent_error(&AgentError::NoConnection),
            "smp agent error: no such connection"
        );
        assert_eq!(version().len(), 1);
        assert!(help().iter().any(|l| l.starts_with("/version")));
        // It fits an 80-column terminal.
        for l in help() {
            assert!(l.chars().count() <= 80, "{l}");
        }
    }

    #[test]
    fn links_names_and_qr() {
        assert_eq!(
            app_link("simplex:/invitation#/?v=2-7&smp=x"),
            "https://simplex.chat/invitation#/?v=2-7&smp=x"
        );
        assert_eq!(
            full_name(
                "bob",
                &Profile {
                    display_name: "bob".into(),
                    full_name: "Bob B".into(),
                    peer_type: None,
                }
            ),
            "bob (Bob B)"
        );
        assert_eq!(
            contact_request("bob", &Profile::new("bob")),
            [
                "bob wants to connect to you!",
                "to accept: /ac bob",
                "to reject: /rc bob (the sender will NOT be notified)"
            ]
        );
        assert_eq!(
            app_link("simplex:/a#key?h=smp.example.com"),
            "simplex:/a#key?h=smp.example.com"
        );
        assert!(is_address_link("https://simplex.chat/contact#/?v=2-7"));
        assert!(is_address_link("simplex:/contact#/?v=2-7"));
        assert!(is_address_link("https://127.0.0.1/a#key?p=5223"));
        assert!(!is_address_link("https://127.0.0.1/i#id/key?p=5223"));
        assert!(!is_address_link("https://simplex.chat/invitation#/?v=2-7"));
        let inv = invitation(None, "simplex:/invitation#/?v=2-7");
        assert_eq!(
            inv[0],
            "pass this invitation link to your contact (via another channel): "
        );
        let n = inv.len();
        assert_eq!(inv[n - 3], "https://simplex.chat/invitation#/?v=2-7");
        assert_eq!(
            inv[n - 1],
            "and ask them to connect: /c <invitation_link_above>"
        );
        let qr = &inv[2..n - 4];
        assert!(qr.len() > 10, "a QR code is drawn before the link");
        let width = qr[0].chars().count();
        assert!(
            qr.iter().all(|l| l.chars().count() == width),
            "square block"
        );
        // With a short link: its (small) code and the link, the full one for old clients
        // after the hint.
        let short = "https://127.0.0.1/i#abc/def?p=5223&c=xyz";
        let inv = invitation(Some(short), "simplex:/invitation#/?v=2-7");
        let n = inv.len();
        assert_eq!(
            inv[0],
            "The invitation link for old clients: https://simplex.chat/invitation#/?v=2-7"
        );
        assert_eq!(
            inv[1],
            "pass this invitation link to your contact (via another channel): "
        );
        assert_eq!(inv[n - 3], short);
        assert_eq!(
            inv[n - 1],
            "and ask them to connect: /c <invitation_link_above>"
        );
        assert_eq!(inv[3..n - 4], qr_lines(short)[..]);
        // A link as long as an invitation's (version 15, 77 modules) fits 80 columns.
        let long = "x".repeat(500);
        let qr = qr_lines(&long);
        assert!(
            qr[0].chars().count() <= QR_MAX_WIDTH,
            "{}",
            qr[0].chars().count()
        );
        assert_eq!(qr.len(), qr[0].chars().count().div_ceil(2));
        // A post-quantum invitation's (about 2,300 characters) is drawn with quadrant blocks
        // and fits too; only a much longer link gets no code.
        let pq = qr_lines(&"x".repeat(2300));
        assert!(
            pq[0].chars().count() <= QR_MAX_WIDTH,
            "{}",
            pq[0].chars().count()
        );
        assert!(pq[0].chars().count() > 70, "two modules a column");
        assert!(pq
            .iter()
            .flat_map(|l| l.chars())
            .any(|c| c == '▚' || c == '▞'));
        assert_eq!(qr_lines(&"x".repeat(2900)), [QR_TOO_WIDE]);
        // A short one keeps the standard quiet zone.
        let short = qr_lines("hi");
        assert_eq!(short[0].chars().count(), 21 + 8);
    }
}
