use super::*;
use chrono::TimeZone;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("valid time")
}

fn sample() -> StatsData {
    StatsData {
        from_time: at(2024, 3, 4, 0),
        q_created: 5,
        q_secured: 4,
        q_deleted_all: 3,
        q_deleted_new: 1,
        q_deleted_secured: 2,
        msg_sent: 10,
        msg_recv: 9,
        msg_sent_ntf: 2,
        msg_recv_ntf: 1,
        q_count: 7,
        msg_count: 1,
        msg_expired: 6,
        p_relays_requests: 11,
        p_msg_fwds_own_errors_other: 12,
        p_msg_fwds_recv: 13,
        q_sub: 14,
        msg_get: 15,
        ntf_count: 16,
        ..StatsData::default()
    }
}

#[test]
fn daily_line_matches_a_line_built_from_the_reference_format() {
    // Taken on a Tuesday that is not the 1st: weekly and monthly counts are empty.
    let line = daily_line(
        &sample(),
        at(2024, 3, 5, 0),
        EntityCounts {
            queues: 8,
            notifiers: 3,
            services: [0; 4],
        },
    );
    let expected = "2024-03-04,5,4,3,10,9,0,,,2,1,0,,,7,1,6,1,2,\
        11,0,0,0,0, 0,0,0,0,0, 0,0,0,0,0, 0,0,0,0,12,\
        13,14,0,0,0,0,0,0,0,0,0,0,0,15,0,0,0,0,0,0,0,8,0,0,0,0,0,3,\
        0,0,0,0,0,0,0,0,16,0,0,0,0,\
        0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0"
        .replace(' ', "");
    assert_eq!(line, expected);
    // The reference's line has 19 + 20 + 37 + 4 + 16 fields.
    assert_eq!(line.split(',').count(), 96);
    // On a Monday the 1st both are there.
    let monday_first = daily_line(&sample(), at(2024, 4, 1, 0), EntityCounts::default());
    let f: Vec<&str> = monday_first.split(',').collect();
    assert_eq!(&f[6..9], &["0", "0", "0"]);
    assert_eq!(&f[11..14], &["0", "0", "0"]);
}

#[test]
fn backup_round_trips_and_reads_the_references_layout() {
    let d = sample();
    let text = d.encode_backup();
    assert!(text.starts_with("fromTime=2024-03-04T00:00:00Z\nqCreated=5\nqSecured=4\n"));
    assert!(text.contains("\nactiveQueues:\ndayHashes=\nweekHashes=\nmonthHashes=\n"));
    assert!(text.contains("\npMsgFwdsOwn:\nrequests=0\nsuccesses=0\nerrorsConnect=0\nerrorsCompat=0\nerrorsOther=12\npMsgFwdsRecv=13\n"));
    let back = StatsData::decode_backup(&text).expect("decodes");
    // The gauges are not in the file (the store recounts them at start).
    assert_eq!(
        back,
        StatsData {
            msg_count: 0,
            ntf_count: 0,
            ..d
        }
    );
    // An older file: `qDeleted`, no optional counters.
    let old = "fromTime=2023-01-01T10:11:12.5Z\nqCreated=1\nqSecured=2\nqDeleted=3\n\
               msgSent=4\nmsgRecv=5\ndayMsgQueues=1\n";
    let o = StatsData::decode_backup(old).expect("old layout");
    assert_eq!((o.q_deleted_all, o.msg_sent, o.msg_recv), (3, 4, 5));
    assert_eq!(iso8601(o.from_time), "2023-01-01T10:11:12.5Z");
    assert!(StatsData::decode_backup("qCreated=1\n").is_err());
    assert!(StatsData::decode_backup("fromTime=x\n").is_err());
    assert!(StatsData::decode_backup(&text.replace("qCreated=5", "qCreated=five")).is_err());
}

#[test]
fn prometheus_text_has_the_reference_names_and_values() {
    let now = at(2024, 3, 5, 12);
    let text = prometheus_text(
        &sample(),
        EntityCounts {
            queues: 8,
            notifiers: 3,
            services: [0; 4],
        },
        now,
    );
    let ms = now.timestamp_millis();
    assert!(text.starts_with(
        "# Recorded at: 2024-03-05T12:00:00Z\n# Stats from: 2024-03-04T00:00:00Z\n\n# Queues\n# ------\n\n"
    ));
    assert!(text.contains(&format!(
        "# HELP simplex_smp_queues_created Created queues\n\
         # TYPE simplex_smp_queues_created counter\n\
         simplex_smp_queues_created 5 {ms}\n# qCreated\n\n"
    )));
    assert!(text.contains(&format!(
        "simplex_smp_queues_deleted{{type=\"new\"}} 1 {ms}\n# qDeletedNew\n"
    )));
    assert!(text.contains(&format!("simplex_smp_queues_total2 8 {ms}\n")));
    assert!(text.contains(&format!("simplex_smp_messages_sent 10 {ms}\n")));
    assert!(text.contains(&format!(
        "simplex_smp_relay_messages_errors{{source=\"own\",type=\"other\"}} 12 {ms}\n# pMsgFwdsOwn_pErrorsOther\n"
    )));
    assert!(text.contains(&format!("simplex_smp_relay_messages_received 13 {ms}\n")));
    assert!(text.contains(&format!("simplex_smp_queues_notify_total2 3 {ms}\n")));
    // Every sample line is a name, an optional label set, a number and the time.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(parts[0].starts_with("simplex_smp_"), "{line}");
        assert!(parts[1].parse::<i64>().is_ok(), "{line}");
        assert_eq!(parts[2], ms.to_string());
    }
}

#[test]
fn take_resets_counters_but_not_gauges() {
    let s = Stats::default();
    s.start(at(2024, 1, 1, 0));
    inc(&s.msg_sent);
    inc(&s.q_count);
    inc(&s.msg_sent_block);
    let d = s.take(at(2024, 1, 2, 0));
    assert_eq!(
        (d.msg_sent, d.q_count, d.from_time),
        (1, 1, at(2024, 1, 1, 0))
    );
    let d2 = s.snapshot();
    assert_eq!((d2.msg_sent, d2.q_count, d2.msg_sent_block), (0, 1, 1));
    assert_eq!(d2.from_time, at(2024, 1, 2, 0));
}

#[test]
fn first_line_is_at_the_start_time_today_or_tomorrow() {
    let now = at(2024, 1, 1, 1);
    assert_eq!(first_delay(now, 0), Duration::from_secs(23 * 3600));
    assert_eq!(first_delay(now, 7200), Duration::from_secs(3600));
}

/// Services (v16) are counted in the daily line's last 20 fields (4 entity counts, then
/// the receiving and the notification services' 8 counters each), in the backup's
/// `ntfServices:` section (read back) and in the Prometheus text.
#[test]
fn service_counters_reach_the_daily_line_backup_and_metrics() {
    let stats = Stats::default();
    inc(&stats.ntf_srv_assoc_new);
    inc(&stats.ntf_srv_assoc_new);
    inc(&stats.ntf_srv_sub_queues);
    inc(&stats.rcv_srv_assoc_removed);
    let d = stats.snapshot();
    let counts = EntityCounts {
        queues: 5,
        notifiers: 2,
        services: [1, 2, 3, 4],
    };
    let now = Utc::now();
    let line = daily_line(&d, now, counts);
    let fields: Vec<&str> = line.split(',').collect();
    let tail = &fields[fields.len() - 20..];
    assert_eq!(
        tail,
        [
            "1", "2", "3", "4", // entities
            "0", "0", "0", "1", "0", "0", "0", "0", // receiving
            "2", "0", "0", "0", "0", "0", "1", "0", // notification
        ]
    );
    let backup = d.encode_backup();
    assert!(backup.contains("ntfServices:\nassocNew=2\n"), "{backup}");
    let back = StatsData::decode_backup(&backup).expect("decode");
    assert_eq!(
        back.service_stats("ntfServices"),
        d.service_stats("ntfServices")
    );
    assert_eq!(back.service_stats("rcvServices")[3], 1);
    let text = prometheus::prometheus_text(&d, counts, now);
    assert!(
        text.contains("\nsimplex_smp_ntf_services_assoc_new 2 "),
        "{text}"
    );
    assert!(
        text.contains("\nsimplex_smp_ntf_services_queues_count 4 "),
        "{text}"
    );
}
