//! The Prometheus text rewritten to `smp-server-metrics.txt`, with the reference's metric
//! names, help texts and types.

use chrono::{DateTime, Utc};

use super::{iso8601, EntityCounts, StatsData};

/// The Prometheus text at `now` (the reference's metric names, help texts and types, each
/// sample stamped with `now` in milliseconds) for the counters this relay keeps; the
/// reference's real-time section (sockets, threads, delivery times, RTS options) is left out.
// Over ~100 lines: a table of the reference's metrics, one entry per metric; split, it would
// only scatter the table.
pub fn prometheus_text(d: &StatsData, counts: EntityCounts, now: DateTime<Utc>) -> String {
    let ts = now.timestamp_millis();
    let mut out = format!(
        "# Recorded at: {}\n# Stats from: {}\n\n",
        iso8601(now),
        iso8601(d.from_time)
    );
    // (heading, [(name, help, type, [(labels, value, comment)])])
    type Sample<'a> = (&'a str, i64, &'a str);
    let mut section = |title: &str, metrics: &[(&str, &str, &str, Vec<Sample>)]| {
        out.push_str(&format!("# {title}\n# {}\n\n", "-".repeat(title.len())));
        for (name, help, kind, samples) in metrics {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v, comment) in samples {
                out.push_str(&format!("{name}{labels} {v} {ts}\n# {comment}\n"));
            }
            out.push('\n');
        }
    };
    let one = |v: i64, c: &'static str| vec![("", v, c)];
    section(
        "Queues",
        &[
            (
                "simplex_smp_queues_created",
                "Created queues",
                "counter",
                one(d.q_created, "qCreated"),
            ),
            (
                "simplex_smp_queues_secured",
                "Secured queues",
                "counter",
                one(d.q_secured, "qSecured"),
            ),
            (
                "simplex_smp_queues_deleted",
                "Deleted queues",
                "counter",
                vec![
                    ("{type=\"all\"}", d.q_deleted_all, "qDeleted"),
                    ("{type=\"new\"}", d.q_deleted_new, "qDeletedNew"),
                    ("{type=\"secured\"}", d.q_deleted_secured, "qDeletedSecured"),
                ],
            ),
            (
                "simplex_smp_queues_blocked",
                "Deleted queues",
                "counter",
                one(d.q_blocked, "qBlocked"),
            ),
            (
                "simplex_smp_queues_deleted_batch",
                "Batched requests to delete queues",
                "counter",
                one(d.q_deleted_all_b, "qDeletedAllB"),
            ),
            (
                "simplex_smp_queues_total1",
                "Total number of stored queues (first type of count).",
                "gauge",
                one(d.q_count, "qCount"),
            ),
            (
                "simplex_smp_queues_total2",
                "Total number of stored queues (second type of count).",
                "gauge",
                one(counts.queues, "qCount2"),
            ),
            (
                "simplex_smp_queues_daily",
                "Daily active queues.",
                "gauge",
                one(0, "dayMsgQueues"),
            ),
            (
                "simplex_smp_queues_weekly",
                "Weekly active queues.",
                "gauge",
                one(0, "weekMsgQueues"),
            ),
            (
                "simplex_smp_queues_monthly",
                "Monthly active queues.",
                "gauge",
                one(0, "monthMsgQueues"),
            ),
            (
                "simplex_smp_queues_notify_daily",
                "Daily active queues with notifications.",
                "gauge",
                one(0, "dayCountNtf"),
            ),
            (
                "simplex_smp_queues_notify_weekly",
                "Weekly active queues with notifications.",
                "gauge",
                one(0, "weekCountNtf"),
            ),
            (
                "simplex_smp_queues_notify_monthly",
                "Monthly active queues with notifications.",
                "gauge",
                one(0, "monthCountNtf"),
            ),
        ],
    );
    section(
        "Subscriptions",
        &[
            (
                "simplex_smp_subscribtion_successes",
                "Successful subscriptions.",
                "counter",
                one(d.q_sub, "qSub"),
            ),
            (
                "simplex_smp_subscribtion_successes_batch",
                "Batched successful subscriptions.",
                "counter",
                one(d.q_sub_all_b, "qSubAllB"),
            ),
            (
                "simplex_smp_subscribtion_end",
                "Ended subscriptions.",
                "counter",
                one(d.q_sub_end, "qSubEnd"),
            ),
            (
                "simplex_smp_subscribtion_end_batch",
                "Batched ended subscriptions.",
                "counter",
                one(d.q_sub_end_b, "qSubEndB"),
            ),
            (
                "simplex_smp_subscribtion_errors",
                "Subscription errors.",
                "counter",
                vec![
                    ("{type=\"auth\"}", d.q_sub_auth, "qSubAuth"),
                    ("{type=\"duplicate\"}", d.q_sub_duplicate, "qSubDuplicate"),
                    (
                        "{type=\"prohibited\"}",
                        d.q_sub_prohibited,
                        "qSubProhibited",
                    ),
                ],
            ),
        ],
    );
    section(
        "Messages",
        &[
            (
                "simplex_smp_messages_sent",
                "Sent messages.",
                "counter",
                one(d.msg_sent, "msgSent"),
            ),
            (
                "simplex_smp_messages_sent_errors",
                "Total number of messages errors by type.",
                "counter",
                vec![
                    ("{type=\"auth\"}", d.msg_sent_auth, "msgSentAuth"),
                    ("{type=\"quota\"}", d.msg_sent_quota, "msgSentQuota"),
                    ("{type=\"large\"}", d.msg_sent_large, "msgSentLarge"),
                    ("{type=\"block\"}", d.msg_sent_block, "msgSentBlock"),
                ],
            ),
            (
                "simplex_smp_messages_received",
                "Received messages.",
                "counter",
                one(d.msg_recv, "msgRecv"),
            ),
            (
                "simplex_smp_messages_expired",
                "Expired messages.",
                "counter",
                one(d.msg_expired, "msgExpired"),
            ),
            (
                "simplex_smp_messages_total",
                "Total number of messages stored.",
                "gauge",
                one(d.msg_count, "msgCount"),
            ),
        ],
    );
    section(
        "Notification messages (client)",
        &[
            (
                "simplex_smp_messages_notify_sent",
                "Sent messages with notification flag (cleint).",
                "counter",
                one(d.msg_sent_ntf, "msgSentNtf"),
            ),
            (
                "simplex_smp_messages_notify_received",
                "Received messages with notification flag (client).",
                "counter",
                one(d.msg_recv_ntf, "msgRecvNtf"),
            ),
            (
                "simplex_smp_messages_notify_get_sent",
                "Requests to get messages with notification flag (client).",
                "counter",
                one(d.msg_get, "msgGet"),
            ),
            (
                "simplex_smp_messages_notify_get_received",
                "Succesfully received get requests messages with notification flag (client).",
                "counter",
                one(d.msg_recv_get, "msgRecvGet"),
            ),
            (
                "simplex_smp_messages_notify_get_errors",
                "Error events with messages with notification flag (client). ",
                "counter",
                vec![
                    ("{type=\"nomsg\"}", d.msg_get_no_msg, "msgGetNoMsg"),
                    ("{type=\"auth\"}", d.msg_get_auth, "msgGetAuth"),
                    (
                        "{type=\"duplicate\"}",
                        d.msg_get_duplicate,
                        "msgGetDuplicate",
                    ),
                    (
                        "{type=\"prohibited\"}",
                        d.msg_get_prohibited,
                        "msgGetProhibited",
                    ),
                ],
            ),
            (
                "simplex_smp_queues_notify_created",
                "Created queue notification credentials.",
                "counter",
                one(d.ntf_created, "ntfCreated"),
            ),
            (
                "simplex_smp_queues_notify_new_created",
                "Created new queues with notification credentials.",
                "counter",
                one(d.ntf_new_created, "ntfNewCreated"),
            ),
            (
                "simplex_smp_queues_notify_deleted",
                "Deleted queue notification credentials.",
                "counter",
                one(d.ntf_deleted, "ntfDeleted"),
            ),
            (
                "simplex_smp_queues_notify_deleted_batch",
                "Deleted batched queue notification credentials.",
                "counter",
                one(d.ntf_deleted_b, "ntfDeletedB"),
            ),
            (
                "simplex_smp_queues_notify_total1",
                "Total number of stored queues with notification flag (first type of count).",
                "gauge",
                one(d.ntf_count, "ntfCount1"),
            ),
            (
                "simplex_smp_queues_notify_total2",
                "Total number of stored queues with notification flag (second type of count).",
                "gauge",
                one(counts.notifiers, "ntfCount2"),
            ),
        ],
    );
    section(
        "Notifications (server)",
        &[
            (
                "simplex_smp_messages_ntf_successes",
                "Successful events with notification messages (to ntf server). ",
                "counter",
                one(d.msg_ntfs, "msgNtfs"),
            ),
            (
                "simplex_smp_messages_ntf_successes_batch",
                "Successful batched events with notification messages (to ntf server). ",
                "counter",
                one(d.msg_ntfs_b, "msgNtfsB"),
            ),
            (
                "simplex_smp_messages_ntf_errors",
                "Error events with notification messages (to ntf server). ",
                "counter",
                vec![
                    ("{type=\"nosub\"}", d.msg_ntf_no_sub, "msgNtfNoSub"),
                    ("{type=\"lost\"}", d.msg_ntf_lost, "msgNtfLost"),
                    ("{type=\"expired\"}", d.msg_ntf_expired, "msgNtfExpired"),
                ],
            ),
            (
                "simplex_smp_subscription_ntf_requests",
                "Subscription requests with notification flag (from ntf server). ",
                "counter",
                one(d.ntf_sub, "ntfSub"),
            ),
            (
                "simplex_smp_subscription_ntf_requests_batch",
                "Batched subscription requests with notification flag (from ntf server). ",
                "counter",
                one(d.ntf_sub_b, "ntfSubB"),
            ),
            (
                "simplex_smp_subscribtion_ntf_errors",
                "Subscription errors with notification flag (from ntf server). ",
                "counter",
                vec![
                    ("{type=\"auth\"}", d.ntf_sub_auth, "ntfSubAuth"),
                    (
                        "{type=\"duplicate\"}",
                        d.ntf_sub_duplicate,
                        "ntfSubDuplicate",
                    ),
                ],
            ),
        ],
    );
    let by_source = |p: &str, own: &str, k: &str, c: &'static str, co: &'static str| {
        vec![
            (
                "{source=\"all\"}",
                d.field(&format!("{p}:{k}")).unwrap_or(0),
                c,
            ),
            (
                "{source=\"own\"}",
                d.field(&format!("{own}:{k}")).unwrap_or(0),
                co,
            ),
        ]
    };
    let errors = |p: &str, own: &str, cs: [&'static str; 6]| {
        let mut v = Vec::new();
        for (src, pp, names) in [("all", p, &cs[..3]), ("own", own, &cs[3..])] {
            for (k, (t, c)) in ["errorsConnect", "errorsCompat", "errorsOther"]
                .iter()
                .zip(["connect", "compat", "other"].iter().zip(names))
            {
                let labels: &'static str = match (src, *t) {
                    ("all", "connect") => "{source=\"all\",type=\"connect\"}",
                    ("all", "compat") => "{source=\"all\",type=\"compat\"}",
                    ("all", _) => "{source=\"all\",type=\"other\"}",
                    (_, "connect") => "{source=\"own\",type=\"connect\"}",
                    (_, "compat") => "{source=\"own\",type=\"compat\"}",
                    _ => "{source=\"own\",type=\"other\"}",
                };
                v.push((labels, d.field(&format!("{pp}:{k}")).unwrap_or(0), *c));
            }
        }
        v
    };
    section(
        "Relays",
        &[
            (
                "simplex_smp_relay_sessions_requests",
                "Session requests through relay.",
                "counter",
                by_source(
                    "pRelays",
                    "pRelaysOwn",
                    "requests",
                    "pRelays_pRequests",
                    "pRelaysOwn_pRequests",
                ),
            ),
            (
                "simplex_smp_relay_sessions_successes",
                "Successful session events through relay.",
                "counter",
                by_source(
                    "pRelays",
                    "pRelaysOwn",
                    "successes",
                    "pRelays_pSuccesses",
                    "pRelaysOwn_pSuccesses",
                ),
            ),
            (
                "simplex_smp_relay_sessions_errors",
                "Error session events through relay.",
                "counter",
                errors(
                    "pRelays",
                    "pRelaysOwn",
                    [
                        "pRelays_pErrorsConnect",
                        "pRelays_pErrorsCompat",
                        "pRelays_pErrorsOther",
                        "pRelaysOwn_pErrorsConnect",
                        "pRelaysOwn_pErrorsCompat",
                        "pRelaysOwn_pErrorsOther",
                    ],
                ),
            ),
            (
                "simplex_smp_relay_messages_requests",
                "Message requests sent through relay.",
                "counter",
                by_source(
                    "pMsgFwds",
                    "pMsgFwdsOwn",
                    "requests",
                    "pMsgFwds_pRequests",
                    "pMsgFwdsOwn_pRequests",
                ),
            ),
            (
                "simplex_smp_relay_messages_successes",
                "Successful messages sent through relay.",
                "counter",
                by_source(
                    "pMsgFwds",
                    "pMsgFwdsOwn",
                    "successes",
                    "pMsgFwds_pSuccesses",
                    "pMsgFwdsOwn_pSuccesses",
                ),
            ),
            (
                "simplex_smp_relay_messages_errors",
                "Error events with messages sent through relay.",
                "counter",
                errors(
                    "pMsgFwds",
                    "pMsgFwdsOwn",
                    [
                        "pMsgFwds_pErrorsConnect",
                        "pMsgFwds_pErrorsCompat",
                        "pMsgFwds_pErrorsOther",
                        "pMsgFwdsOwn_pErrorsConnect",
                        "pMsgFwdsOwn_pErrorsCompat",
                        "pMsgFwdsOwn_pErrorsOther",
                    ],
                ),
            ),
            (
                "simplex_smp_relay_messages_received",
                "Relay messages statistics.",
                "counter",
                one(d.p_msg_fwds_recv, "pMsgFwdsRecv"),
            ),
        ],
    );
    let services = [
        (
            "simplex_smp_rcv_services_count",
            "The count of receiving services.",
            counts.services[0],
            "rcvServiceCount",
        ),
        (
            "simplex_smp_rcv_services_queues_count",
            "The count of queues associated with receiving services.",
            counts.services[2],
            "rcv.rcvServiceQueuesCount",
        ),
        (
            "simplex_smp_ntf_services_count",
            "The count of notification services.",
            counts.services[1],
            "ntfServiceCount",
        ),
        (
            "simplex_smp_ntf_services_queues_count",
            "The count of queues associated with notification services.",
            counts.services[3],
            "ntfServiceQueuesCount",
        ),
    ];
    let gauges: Vec<_> = services
        .iter()
        .map(|(n, h, v, c)| (*n, *h, "gauge", one(*v, c)))
        .collect();
    let mut per_role = Vec::new();
    for (pfx, role, name) in [
        ("rcv", "rcvServices", "receiving"),
        ("ntf", "ntfServices", "notification"),
    ] {
        let v = d.service_stats(role);
        let what = [
            (
                "assoc_new",
                "New queue associations with",
                "counter",
                "srvAssocNew",
            ),
            (
                "assoc_duplicate",
                "Duplicate queue associations with",
                "counter",
                "srvAssocDuplicate",
            ),
            (
                "assoc_updated",
                "Updated queue associations with",
                "counter",
                "srvAssocUpdated",
            ),
            (
                "assoc_removed",
                "Removed queue associations with",
                "counter",
                "srvAssocRemoved",
            ),
            (
                "sub_count",
                "Service subscriptions by",
                "counter",
                "srvSubCount",
            ),
            (
                "sub_duplicate",
                "Duplicate service subscriptions by",
                "counter",
                "srvSubDuplicate",
            ),
            (
                "sub_queues",
                "Queues subscribed by",
                "gauge",
                "srvSubQueues",
            ),
            ("sub_end", "Ended subscriptions with", "gauge", "srvSubEnd"),
        ];
        for ((m, help, kind, c), v) in what.into_iter().zip(v) {
            per_role.push((
                format!("simplex_smp_{pfx}_services_{m}"),
                format!("{help} {name} services."),
                kind,
                v,
                format!("{pfx}.{c}"),
            ));
        }
    }
    let role_metrics: Vec<_> = per_role
        .iter()
        .map(|(n, h, k, v, c)| (n.as_str(), h.as_str(), *k, vec![("", *v, c.as_str())]))
        .collect();
    let mut all = gauges;
    all.extend(role_metrics);
    section("Services", &all);
    out
}
