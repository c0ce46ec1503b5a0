//! The control port's output, in the reference's wording (`Server.hs` `processCP`), where
//! operators' scripts read it: `label: value` lines, Haskell's `show` for times, tuples and
//! sets.

use chrono::{DateTime, Timelike, Utc};

use simplex_encoding::decode_all;
use smp_proto::error::{BlockingInfo, BlockingReason};

use crate::core::SubscriberCounts;
use crate::server::{ClientRow, SocketRow, StatsView};
use crate::store::{QueueMode, QueueRecord, QueueStatus};

/// A `UTCTime` as Haskell's `show` prints it: `2026-12-03 02:48:23.5 UTC` (the fraction
/// without trailing zeros, none when whole).
pub fn show_utc(t: DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        s.push('.');
        s.push_str(format!("{nanos:09}").trim_end_matches('0'));
    }
    s.push_str(" UTC");
    s
}

/// `stats`; `admin` adds `ntfCount 2`. Counts this relay does not keep (active queues per
/// day, services) are 0, as in its other statistics.
pub fn stats(v: &StatsView, admin: bool) -> Vec<String> {
    let d = &v.data;
    let mut out = vec![format!("fromTime: {}", show_utc(d.from_time))];
    let mut put = |label: &str, n: i64| out.push(format!("{label}: {n}"));
    put("qCreated", d.q_created);
    put("qSecured", d.q_secured);
    put("qDeletedAll", d.q_deleted_all);
    put("qDeletedAllB", d.q_deleted_all_b);
    put("qDeletedNew", d.q_deleted_new);
    put("qDeletedSecured", d.q_deleted_secured);
    put("daily active queues", 0);
    put("qSub", d.q_sub);
    put("qSubAllB", d.q_sub_all_b);
    put("qSubEnd", d.q_sub_end);
    put("qSubEndB", d.q_sub_end_b);
    out.push(format!(
        "other SUB events (auth, duplicate, prohibited): ({},{},{})",
        d.q_sub_auth, d.q_sub_duplicate, d.q_sub_prohibited
    ));
    let mut put = |label: &str, n: i64| out.push(format!("{label}: {n}"));
    put("msgSent", d.msg_sent);
    put("msgRecv", d.msg_recv);
    put("msgRecvGet", d.msg_recv_get);
    put("msgGet", d.msg_get);
    put("msgGetNoMsg", d.msg_get_no_msg);
    out.push(format!(
        "other GET events (auth, duplicate, prohibited): ({},{},{})",
        d.msg_get_auth, d.msg_get_duplicate, d.msg_get_prohibited
    ));
    let mut put = |label: &str, n: i64| out.push(format!("{label}: {n}"));
    put("msgSentNtf", d.msg_sent_ntf);
    put("msgRecvNtf", d.msg_recv_ntf);
    put("msgNtfs", d.msg_ntfs);
    put("msgNtfsB", d.msg_ntfs_b);
    put("msgNtfExpired", d.msg_ntf_expired);
    put("qCount", d.q_count);
    put("qCount 2", v.counts.queues);
    put("notifiers", v.counts.notifiers);
    put("msgCount", d.msg_count);
    put("ntfCount", d.ntf_count);
    if admin {
        put(
            "ntfCount 2",
            i64::try_from(v.ntfs_stored).unwrap_or(i64::MAX),
        );
    }
    let proxy = |label: &str, p: [i64; 5]| {
        format!(
            "{label}: requests={}, successes={}, errorsConnect={}, errorsCompat={}, errorsOther={}",
            p[0], p[1], p[2], p[3], p[4]
        )
    };
    out.push(proxy(
        "pRelays",
        [
            d.p_relays_requests,
            d.p_relays_successes,
            d.p_relays_errors_connect,
            d.p_relays_errors_compat,
            d.p_relays_errors_other,
        ],
    ));
    out.push(proxy(
        "pRelaysOwn",
        [
            d.p_relays_own_requests,
            d.p_relays_own_successes,
            d.p_relays_own_errors_connect,
            d.p_relays_own_errors_compat,
            d.p_relays_own_errors_other,
        ],
    ));
    out.push(proxy(
        "pMsgFwds",
        [
            d.p_msg_fwds_requests,
            d.p_msg_fwds_successes,
            d.p_msg_fwds_errors_connect,
            d.p_msg_fwds_errors_compat,
            d.p_msg_fwds_errors_other,
        ],
    ));
    out.push(proxy(
        "pMsgFwdsOwn",
        [
            d.p_msg_fwds_own_requests,
            d.p_msg_fwds_own_successes,
            d.p_msg_fwds_own_errors_connect,
            d.p_msg_fwds_own_errors_compat,
            d.p_msg_fwds_own_errors_other,
        ],
    ));
    out.push(format!("pMsgFwdsRecv: {}", d.p_msg_fwds_recv));
    for (label, n) in [
        "rcvServiceCount",
        "ntfServiceCount",
        "rcvServiceQueuesCount",
        "ntfServiceQueuesCount",
    ]
    .into_iter()
    .zip(v.counts.services)
    {
        out.push(format!("{label}: {n}"));
    }
    out
}

/// `clients`: the reference's CSV. Both activity columns show the last activity in either
/// direction (this relay keeps one time per client).
pub fn clients(rows: &[ClientRow], now: i64) -> Vec<String> {
    use base64::Engine as _;
    let mut out = vec![
        "clientId,sessionId,connected,createdAt,rcvActiveAt,sndActiveAt,age,subscriptions"
            .to_string(),
    ];
    for r in rows {
        let sid = base64::engine::general_purpose::STANDARD.encode(&r.session_id);
        out.push(format!(
            "{},{sid},True,{},{},{},{},{}",
            r.id,
            r.created_at,
            r.active_at,
            r.active_at,
            now - r.created_at,
            r.subscriptions
        ));
    }
    out
}

/// `sockets`: per served port (every connection is accounted for when it closes, so none
/// is leaked).
pub fn sockets(rows: &[SocketRow]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        let active = r.accepted.saturating_sub(r.closed);
        out.push(format!("Sockets for port {}:", r.port));
        out.push(format!("accepted: {}", r.accepted));
        out.push(format!("closed: {}", r.closed));
        out.push(format!("active: {active}"));
        out.push("leaked: 0".to_string());
    }
    out
}

/// Haskell's `show` of a list of client numbers: `[1,2]`.
fn show_list(ids: &std::collections::BTreeSet<u64>) -> String {
    let items: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("[{}]", items.join(","))
}

/// `server-info`; `admin` adds the counts taken from the clients' side. `tasks` is the
/// number of the relay's tasks (the reference counts its threads).
pub fn server_info(tasks: usize, clients: usize, s: &SubscriberCounts, admin: bool) -> Vec<String> {
    let mut out = vec![format!("Threads: {tasks}"), format!("Clients: {clients}")];
    if admin {
        out.push(format!(
            "SMP subscriptions (via clients): {}",
            s.smp_subs_via_clients
        ));
        out.push(format!(
            "SMP subscribed clients (via clients): {}",
            s.smp_clients_via_clients.len()
        ));
        out.push(format!(
            "Ntf subscriptions (via clients): {}",
            s.ntf_subs_via_clients
        ));
        out.push(format!(
            "Ntf subscribed clients (via clients): {}",
            s.ntf_clients_via_clients.len()
        ));
    }
    out.push(format!("SMP subscriptions: {}", s.smp_subs));
    out.push(format!("SMP subscribed clients: {}", s.smp_clients.len()));
    out.push(format!(
        "SMP subscribed clients count 2: {}",
        s.smp_clients_via_clients.len()
    ));
    out.push(format!("Ntf subscriptions: {}", s.ntf_subs));
    out.push(format!(
        "Ntf subscribed clients: {} {}",
        s.ntf_clients.len(),
        show_list(&s.ntf_clients)
    ));
    out.push(format!(
        "Ntf subscribed clients count 2: {} fromList {}",
        s.ntf_clients_via_clients.len(),
        show_list(&s.ntf_clients_via_clients)
    ));
    out
}

/// Blocking info as the reference's `show` prints it, e.g.
/// `BlockingInfo {reason = BRSpam, notice = Nothing}`.
pub fn show_blocking(i: &BlockingInfo) -> String {
    let reason = match i.reason {
        BlockingReason::Spam => "BRSpam",
        BlockingReason::Content => "BRContent",
    };
    let notice = match i.notice.as_ref().map(|n| n.ttl) {
        None => "Nothing".to_string(),
        Some(None) => "Just (ClientNotice {ttl = Nothing})".to_string(),
        Some(Some(t)) if t < 0 => format!("Just (ClientNotice {{ttl = Just ({t})}})"),
        Some(Some(t)) => format!("Just (ClientNotice {{ttl = Just {t}}})"),
    };
    format!("BlockingInfo {{reason = {reason}, notice = {notice}}}")
}

/// Stored blocking info text as the reference's `show` prints it (the text itself, quoted,
/// when it does not parse).
pub fn show_stored_blocking(info: &str) -> String {
    match decode_all::<BlockingInfo>(info.as_bytes()) {
        Ok(i) => show_blocking(&i),
        Err(_) => format!("{info:?}"),
    }
}

/// A queue's status as the reference's `show` prints it: `EntityActive`, `EntityOff`,
/// `EntityBlocked (BlockingInfo {…})`.
pub fn show_status(s: &QueueStatus) -> String {
    match s {
        QueueStatus::Active => "EntityActive".into(),
        QueueStatus::Off => "EntityOff".into(),
        QueueStatus::Blocked(info) => format!("EntityBlocked ({})", show_stored_blocking(info)),
    }
}

/// `status <sender ID>`: `status: EntityActive, updatedAt: Just (RoundedSystemTime
/// {roundedSeconds = 1764720000}), queueMode: Just QMMessaging`.
pub fn status(q: &QueueRecord) -> String {
    let updated = match q.updated_at {
        Some(t) => format!("Just (RoundedSystemTime {{roundedSeconds = {t}}})"),
        None => "Nothing".into(),
    };
    let mode = match q.queue_mode {
        Some(QueueMode::Messaging) => "Just QMMessaging",
        Some(QueueMode::Contact) => "Just QMContact",
        None => "Nothing",
    };
    format!(
        "status: {}, updatedAt: {updated}, queueMode: {mode}",
        show_status(&q.status)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_info_as_the_reference_shows_it() {
        assert_eq!(
            show_stored_blocking("reason=content,notice={\"ttl\":86400}"),
            "BlockingInfo {reason = BRContent, notice = Just (ClientNotice {ttl = Just 86400})}"
        );
        assert_eq!(
            show_stored_blocking("reason=spam"),
            "BlockingInfo {reason = BRSpam, notice = Nothing}"
        );
        assert_eq!(
            show_stored_blocking("reason=spam,notice={}"),
            "BlockingInfo {reason = BRSpam, notice = Just (ClientNotice {ttl = Nothing})}"
        );
        assert_eq!(show_stored_blocking("junk"), "\"junk\"");
    }

    #[test]
    fn times_and_sets_as_haskell_shows_them() {
        let t = DateTime::from_timestamp(1_764_729_503, 500_000_000).expect("time");
        assert_eq!(show_utc(t), "2025-12-03 02:38:23.5 UTC");
        let whole = DateTime::from_timestamp(1_764_729_503, 0).expect("time");
        assert_eq!(show_utc(whole), "2025-12-03 02:38:23 UTC");
        let s = SubscriberCounts {
            ntf_clients: [3, 1].into_iter().collect(),
            ntf_clients_via_clients: [1, 3].into_iter().collect(),
            ntf_subs: 2,
            ..SubscriberCounts::default()
        };
        let lines = server_info(7, 2, &s, false);
        assert!(lines.contains(&"Ntf subscribed clients: 2 [1,3]".to_string()));
        assert!(lines.contains(&"Ntf subscribed clients count 2: 2 fromList [1,3]".to_string()));
        assert!(!lines.iter().any(|l| l.contains("via clients")));
        assert!(server_info(7, 2, &s, true)
            .iter()
            .any(|l| l == "Ntf subscribed clients (via clients): 2"));
    }
}
