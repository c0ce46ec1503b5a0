//! What the terminal prints for groups: the reference's lines (`View.hs`, as its tests in
//! `tests/ChatTests/Groups.hs` show them on each side).

use chrono::{DateTime, Local};

use super::{full_name, msg_time, view_name};
use crate::protocol::group::{GroupProfile, MemberRole};
use crate::store::groups::{Category, Group, GroupItem, Member, Status};

/// `#team` (`ttyGroup`).
pub fn group_ref(name: &str) -> String {
    format!("#{}", view_name(name))
}

/// `#team` or `#team (Full Name)` (`ttyFullGroup`).
pub fn full_group(name: &str, p: &GroupProfile) -> String {
    if p.full_name.is_empty() || p.full_name == name {
        group_ref(name)
    } else {
        format!("{} ({})", group_ref(name), p.full_name)
    }
}

/// What changed in a group's profile (`viewGroupUpdated`): `changed to #new (Full Name)`
/// for a new name, else the full name's change; nothing when nothing changed. `by` names
/// the member who changed it (`alice updated group #team:`), none when it was this user.
pub fn updated(old: &Group, new: &Group, by: Option<&Member>) -> Vec<String> {
    let (p, q) = (&old.profile, &new.profile);
    let change = if p.display_name != q.display_name {
        format!("changed to {}", full_group(&new.name, q))
    } else if p.full_name != q.full_name {
        if q.full_name.is_empty() || q.full_name == q.display_name {
            "full name removed".to_owned()
        } else {
            format!("full name changed to: {}", q.full_name)
        }
    } else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(m) = by {
        out.push(format!(
            "{} updated group {}:",
            member(m),
            group_ref(&old.name)
        ));
    }
    out.push(change);
    out
}

/// `/i #team` (`viewGroupInfo`).
pub fn info(g: &Group, current_members: usize) -> Vec<String> {
    vec![
        format!("group ID: {}", g.id),
        format!("current members: {current_members}"),
    ]
}

/// A member as its name alone (`ttyMember`).
pub fn member(m: &Member) -> String {
    view_name(&m.name)
}

/// A member with its full name (`ttyFullMember`).
pub fn full_member(m: &Member) -> String {
    full_name(&m.name, &m.profile)
}

/// `/g team` (`viewGroupCreated`).
pub fn created(g: &Group) -> Vec<String> {
    vec![
        format!("group {} is created", full_group(&g.name, &g.profile)),
        format!(
            "to add members use /a {} <name> or /create link #{}",
            view_name(&g.name),
            view_name(&g.name)
        ),
    ]
}

/// The inviting side of `/a` (`CRSentGroupInvitation`).
pub fn sent_invitation(g: &Group, contact: &str) -> String {
    format!(
        "invitation to join the group {} sent to {}",
        group_ref(&g.name),
        view_name(contact)
    )
}

/// An invitation came (`viewReceivedGroupInvitation`).
pub fn received_invitation(g: &Group, contact: &str, role: MemberRole) -> Vec<String> {
    vec![
        format!(
            "{}: {} invites you to join the group as {}",
            full_group(&g.name, &g.profile),
            view_name(contact),
            role.as_str()
        ),
        format!("use /j {} to accept", view_name(&g.name)),
    ]
}

/// `#team: <what>`.
pub fn says(g: &Group, what: &str) -> String {
    format!("{}: {what}", group_ref(&g.name))
}

/// A member connected to us, by how it came (`connectedMember`): one that was there
/// before us with its full name, one that came after us without (it was shown with it
/// when announced).
pub fn connected(g: &Group, m: &Member) -> String {
    let who = match m.category {
        Category::Post => format!("new member {}", member(m)),
        Category::Pre => format!("member {}", full_member(m)),
        _ => format!("member {}", member(m)),
    };
    says(g, &format!("{who} is connected"))
}

/// A message in a group: `HH:MM #team text` (ours) or `HH:MM #team bob> text`; one that
/// came forwarded by the host (or as history) ends with ` [>>]`, as the reference shows it.
pub fn item(now: DateTime<Local>, g: &Group, author: Option<&str>, it: &GroupItem) -> Vec<String> {
    let who = match author {
        Some(a) => format!("{} {}> ", group_ref(&g.name), view_name(a)),
        None => format!("{} ", group_ref(&g.name)),
    };
    let mut lines = it.text.lines();
    let first = lines.next().unwrap_or_default();
    let mut out = vec![format!("{} {who}{first}", msg_time(now, it.ts_ms))];
    out.extend(lines.map(str::to_owned));
    if it.forwarded {
        if let Some(last) = out.last_mut() {
            last.push_str(" [>>]");
        }
    }
    out
}

/// `/ms team` (`viewGroupMembers`): this user first, then the others still in.
pub fn members(me: &Member, others: &[Member]) -> Vec<String> {
    std::iter::once(me)
        .chain(others.iter())
        .filter(|m| m.status.is_current() || m.status == Status::Unknown)
        .map(|m| {
            let mut parts = vec![m.role.as_str()];
            match m.category {
                Category::User => parts.push("you"),
                Category::Invitee => parts.push("invited"),
                Category::Host => parts.push("host"),
                _ => {}
            }
            match m.status {
                Status::Invited => parts.push("not yet joined"),
                Status::Connected => parts.push("connected"),
                Status::Creator => parts.push("created group"),
                Status::Unknown => parts.push("status unknown"),
                _ => {}
            }
            format!("{}: {}", full_member(m), parts.join(", "))
        })
        .collect()
}

/// One line of `/gs` (`viewGroupsList`): `#team (3 members)`, an invitation, or a group
/// this user is no longer in.
pub fn list_line(g: &Group, me: &Member, current_members: usize) -> String {
    let n = view_name(&g.name);
    let delete = |why: &str| format!(" ({why}, delete local copy: /d #{n})");
    match me.status {
        Status::Invited => format!(
            "{}{} - you are invited (/j {n} to join, /d #{n} to delete invitation)",
            group_ref(&g.name),
            if g.profile.full_name.is_empty() || g.profile.full_name == g.name {
                String::new()
            } else {
                format!(" ({})", g.profile.full_name)
            }
        ),
        Status::Removed => format!(
            "{}{}",
            full_group(&g.name, &g.profile),
            delete("you are removed")
        ),
        Status::Left => format!("{}{}", full_group(&g.name, &g.profile), delete("you left")),
        Status::GroupDeleted => {
            format!(
                "{}{}",
                full_group(&g.name, &g.profile),
                delete("group deleted")
            )
        }
        _ => format!(
            "{} ({current_members} member{})",
            full_group(&g.name, &g.profile),
            if current_members == 1 { "" } else { "s" }
        ),
    }
}

/// `/a` for a contact who is in the group already.
pub fn already_member(contact: &str) -> String {
    format!("contact {} is already in the group", view_name(contact))
}

/// The required role for an action the user's role does not allow.
pub fn insufficient(g: &Group, required: MemberRole) -> String {
    says(
        g,
        &format!(
            "you have insufficient permissions for this action, the required role is {}",
            required.as_str()
        ),
    )
}

/// A role change as the member who made it sees it.
pub fn role_changed_by_you(g: &Group, m: &Member, to: MemberRole) -> String {
    says(
        g,
        &format!("you changed the role of {} to {}", member(m), to.as_str()),
    )
}

/// A role change as others see it (`viewMemberRoleChanged`); `m` `None`: ours.
pub fn role_changed(
    g: &Group,
    by: &Member,
    m: Option<&Member>,
    from: MemberRole,
    to: MemberRole,
) -> String {
    let whose = match m {
        None => "your role".to_owned(),
        Some(m) if m.id == by.id => "the role".to_owned(),
        Some(m) => format!("the role of {}", member(m)),
    };
    says(
        g,
        &format!(
            "{} changed {whose} from {} to {}",
            member(by),
            from.as_str(),
            to.as_str()
        ),
    )
}

/// `use /d #team to delete the group` (`groupPreserved`).
pub fn preserved(g: &Group) -> String {
    format!("use /d #{} to delete the group", view_name(&g.name))
}

/// The group was deleted by a member (`CRGroupDeleted`).
pub fn deleted_by(g: &Group, by: &Member) -> Vec<String> {
    vec![
        says(g, &format!("{} deleted the group", member(by))),
        format!(
            "use /d #{} to delete the local copy of the group",
            view_name(&g.name)
        ),
    ]
}

/// `/create link #team` and `/show link #team` (`groupLink_`), laid out as the address
/// (`view::address`): with a short link, the full one for old clients first.
pub fn link(
    intro: &str,
    g: &Group,
    role: MemberRole,
    short: Option<&str>,
    full: &str,
) -> Vec<String> {
    let n = view_name(&g.name);
    let hints = [
        format!(
            "Anybody can connect to you and join group as {} with: /c <group_link_above>",
            role.as_str()
        ),
        format!("to show it again: /show link #{n}"),
        format!("to delete it: /delete link #{n} (joined members will remain connected to you)"),
    ];
    let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
    super::link_block(
        intro,
        short,
        full,
        &hints,
        "The group link for old clients: ",
    )
}

/// `/delete link #team` (`viewGroupLinkDeleted`).
pub fn link_deleted(g: &Group) -> Vec<String> {
    vec![
        "Group link is deleted - joined members will remain connected.".to_owned(),
        format!(
            "To create a new group link use /create link #{}",
            view_name(&g.name)
        ),
    ]
}
