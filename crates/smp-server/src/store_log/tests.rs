use std::fs;

use simplex_encoding::string::base64url_decode;

use super::record::{b64, b64_into};
use super::*;
use crate::msg_store::{Message, MessageKind, MsgNtf, MsgStore, NtfStore};
use crate::store::tests::{ed, record, x};
use crate::store::{NtfCreds, QueueMode, QueueStatus, QueueStore};
use simplex_crypto::DhSecretX25519;

#[test]
fn create_line_matches_reference_layout_and_round_trips() {
    let mut q = record(1);
    let line = StoreLogRecord::CreateQueue(Box::new(q.clone())).to_line();
    let rid = b64(&q.recipient_id);
    assert!(
        line.starts_with(&format!("CREATE rid={rid} rk=MCowBQYDK2VwAyEA")),
        "{line}"
    );
    assert!(line.contains(" sk= queue_mode=M"), "{line}");
    assert_eq!(
        StoreLogRecord::parse(&line),
        Ok(StoreLogRecord::CreateQueue(Box::new(q.clone())))
    );
    q.notifier = Some(NtfCreds {
        notifier_id: vec![5; 24],
        notifier_key: x(6),
        rcv_ntf_dh_secret: DhSecretX25519::from_bytes([7; 32]),
        ntf_service: None,
    });
    q.sender_key = Some(x(8));
    q.status = QueueStatus::Off;
    q.updated_at = Some(1_700_006_400);
    let line = StoreLogRecord::CreateQueue(Box::new(q.clone())).to_line();
    assert!(
        line.ends_with(" updated_at=1700006400 status=off"),
        "{line}"
    );
    assert_eq!(
        StoreLogRecord::parse(&line),
        Ok(StoreLogRecord::CreateQueue(Box::new(q)))
    );
}

#[test]
fn legacy_snd_secure_and_other_records_parse() {
    let q = record(2);
    let line = StoreLogRecord::CreateQueue(Box::new(q.clone()))
        .to_line()
        .replace(" queue_mode=M", " sndSecure=T");
    assert_eq!(
        StoreLogRecord::parse(&line),
        Ok(StoreLogRecord::CreateQueue(Box::new(q.clone())))
    );
    let rid = q.recipient_id.clone();
    for r in [
        StoreLogRecord::SecureQueue(rid.clone(), ed(1)),
        StoreLogRecord::SuspendQueue(rid.clone()),
        StoreLogRecord::DeleteQueue(rid.clone()),
        StoreLogRecord::DeleteNotifier(rid.clone()),
        StoreLogRecord::UpdateTime(rid.clone(), 86_400),
        StoreLogRecord::BlockQueue(rid.clone(), "reason=spam".into()),
        StoreLogRecord::UnblockQueue(rid.clone()),
    ] {
        assert_eq!(StoreLogRecord::parse(&r.to_line()), Ok(r));
    }
    assert!(StoreLogRecord::parse("CREATE rid=AAAA").is_err());
    assert!(StoreLogRecord::parse("FROB AAAA").is_err());
    assert!(StoreLogRecord::parse("").is_err());
}

/// Lines as the reference's `StoreLogRecord` encoder writes them (`strEncode`: IDs, keys
/// and secrets in padded base64url, keys as DER SubjectPublicKeyInfo, the record tag, then
/// `rid=…` and the `QueueRec` fields in its order, `sk=` left empty when unsecured,
/// `queue_mode=` as the one-letter `smpEncode`, older `sndSecure=T|F`, or none at all
/// for v5-era queues; `NOTIFIER` as `<rid> <nid> <key> <dh secret>`), written here by
/// hand (the base64 computed outside this code base) and replayed.
#[test]
fn replays_a_log_in_the_reference_format() {
    const RID1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    const SID1: &str = "AgICAgICAgICAgICAgICAgICAgICAgIC";
    const RID2: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMD";
    const SID2: &str = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
    const RID3: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJ";
    const SID3: &str = "CgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoK";
    const NID: &str = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUF";
    const LNK: &str = "CwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsL";
    const ED11: &str = "MCowBQYDK2VwAyEAERERERERERERERERERERERERERERERERERERERERERE=";
    const ED13: &str = "MCowBQYDK2VwAyEAExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTExM=";
    const X12: &str = "MCowBQYDK2VuAyEAEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhI=";
    const RDH: &str = "ISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISE=";
    const NDH: &str = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=";
    let log = [
        format!("CREATE rid={RID1} rk={ED11} rdh={RDH} sid={SID1} sk= queue_mode=M notifier={NID} {X12} {NDH} updated_at=1700006400"),
        format!("CREATE rid={RID2} rk={ED11} rdh={RDH} sid={SID2} sk={ED13}"),
        format!("CREATE rid={RID3} rk={ED11},{ED13} rdh={RDH} sid={SID3} sk= sndSecure=F link_id={LNK} queue_data=Zml4ZWQtZGF0YQ== dQ== updated_at=1700006400 status=blocked,reason=spam"),
        format!("SECURE {RID1} {ED13}"),
        format!("TIME {RID1} 1700092800"),
        format!("NDELETE {RID1}"),
        format!("NOTIFIER {RID2} {NID} {X12} {NDH}"),
        format!("SUSPEND {RID2}"),
        format!("UNBLOCK {RID3}"),
        format!("LDELETE {RID3}"),
    ]
    .join("\n")
        + "\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smp-server-store.log");
    fs::write(&path, log).expect("write");
    let mut s = QueueStore::new();
    let (_w, stats) = open_and_compact(&path, &mut s, 0).expect("replay");
    assert_eq!(
        stats,
        ReplayStats {
            lines: 10,
            errors: 0
        }
    );
    use crate::store::Party;
    let q1 = s
        .find(Party::Sender, &[2; 24])
        .expect("queue 1 by sender ID");
    assert_eq!(q1.recipient_id, vec![1; 24]);
    assert_eq!(q1.rcv_dh_secret.as_bytes(), &[0x21; 32]);
    assert_eq!(q1.sender_key, Some(ed(0x13)));
    assert_eq!(q1.queue_mode, Some(QueueMode::Messaging));
    assert_eq!(
        (q1.notifier.is_none(), q1.updated_at),
        (true, Some(1_700_092_800))
    );
    let q2 = s
        .find(Party::Notifier, &[5; 24])
        .expect("queue 2 by notifier ID");
    assert_eq!(q2.recipient_id, vec![3; 24]);
    assert_eq!((q2.queue_mode, &q2.status), (None, &QueueStatus::Off));
    let n = q2.notifier.as_ref().expect("notifier");
    assert_eq!(n.notifier_key, x(0x12));
    assert_eq!(n.rcv_ntf_dh_secret.as_bytes(), &[0x22; 32]);
    let q3 = s.find(Party::Recipient, &[9; 24]).expect("queue 3");
    assert_eq!(q3.recipient_keys, vec![ed(0x11), ed(0x13)]);
    assert_eq!(q3.queue_mode, Some(QueueMode::Contact));
    assert_eq!((&q3.status, &q3.link), (&QueueStatus::Active, &None));
    // The compacted log is in the same layout, so the reference can load it back.
    let compacted = fs::read_to_string(&path).expect("read");
    let expected1 = format!(
        "CREATE rid={RID1} rk={ED11} rdh={RDH} sid={SID1} sk={ED13} queue_mode=M updated_at=1700092800"
    );
    let expected2 = format!(
        "CREATE rid={RID2} rk={ED11} rdh={RDH} sid={SID2} sk={ED13} notifier={NID} {X12} {NDH} status=off"
    );
    let expected3 = format!(
        "CREATE rid={RID3} rk={ED11},{ED13} rdh={RDH} sid={SID3} sk= queue_mode=C updated_at=1700006400"
    );
    for e in [expected1, expected2, expected3] {
        assert!(
            compacted.lines().any(|l| l == e),
            "{e}\nnot in\n{compacted}"
        );
    }
}

/// The reference's service records (v16): `NEW_SERVICE` read and written back first on
/// compaction, `QUEUE_SERVICE` setting `rsrv=`/`nsrv=` of the queue record and the
/// service's queues.
#[test]
fn service_records_of_a_reference_log_are_kept() {
    const RID: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    const SID: &str = "AgICAgICAgICAgICAgICAgICAgICAgIC";
    const NID: &str = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUF";
    const SRV: &str = "DQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0N";
    const ED11: &str = "MCowBQYDK2VwAyEAERERERERERERERERERERERERERERERERERERERERERE=";
    const X12: &str = "MCowBQYDK2VuAyEAEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhI=";
    const RDH: &str = "ISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISE=";
    const NDH: &str = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=";
    let service =
        format!("service_id={SRV} role=N cert=Y2VydA== cert_hash=aGFzaA== created_at=1735689600");
    let log = [
        format!("NEW_SERVICE {service}"),
        format!("CREATE rid={RID} rk={ED11} rdh={RDH} sid={SID} sk= queue_mode=C notifier={NID} {X12} {NDH}"),
        format!("QUEUE_SERVICE {RID} N {SRV}"),
        format!("QUEUE_SERVICE {RID} R {SRV}"),
        format!("QUEUE_SERVICE {RID} R "),
        format!("QUEUE_SERVICE {RID} R {SRV}"),
    ]
    .join("\n")
        + "\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smp-server-store.log");
    fs::write(&path, log).expect("write");
    let mut s = QueueStore::new();
    let (_w, stats) = open_and_compact(&path, &mut s, 0).expect("replay");
    assert_eq!(stats.errors, 0);
    let q = s
        .find(crate::store::Party::Recipient, &[1; 24])
        .expect("queue");
    let srv = vec![13u8; 24];
    assert_eq!(q.rcv_service.as_ref(), Some(&srv));
    let n = q.notifier.expect("notifier");
    assert_eq!(n.ntf_service.as_ref(), Some(&srv));
    let sr = s.services().next().expect("the service");
    assert_eq!(
        (
            sr.role,
            sr.cert.clone(),
            sr.cert_hash.clone(),
            sr.created_at
        ),
        (
            smp_proto::ServiceRole::Notifier,
            vec![b"cert".to_vec()],
            b"hash".to_vec(),
            1_735_689_600
        )
    );
    use crate::store_log::ServiceParty;
    assert_eq!(s.service_queue_count(&srv, ServiceParty::Notifier), Some(1));
    assert_eq!(
        s.service_queue_count(&srv, ServiceParty::Recipient),
        Some(1)
    );
    // The control port's counts: no messaging service, one notifier service, one queue
    // associated as recipient and one as notifier.
    assert_eq!(s.service_entity_counts(), [0, 1, 1, 1]);
    let compacted = fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = compacted.lines().collect();
    assert_eq!(
        lines,
        [
            format!("NEW_SERVICE {service}"),
            format!("CREATE rid={RID} rk={ED11} rdh={RDH} sid={SID} sk= queue_mode=C notifier={NID} {X12} {NDH} nsrv={SRV} rsrv={SRV}"),
        ]
    );
}

#[test]
fn log_replay_and_compaction_keep_state_and_a_backup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smp-server-store.log");
    let mut s = QueueStore::new();
    let (w, _) = open_and_compact(&path, &mut s, 0).expect("open");
    s.set_log(w);
    let (a, b) = (record(1), record(2));
    s.add(a.clone()).expect("add");
    s.add(b.clone()).expect("add");
    s.secure(&a.recipient_id, ed(3)).expect("secure");
    s.delete(&b.recipient_id).expect("delete");
    drop(s);
    let mut s2 = QueueStore::new();
    let (_w, stats) = open_and_compact(&path, &mut s2, 1_700_000_000_000_000_000).expect("reopen");
    assert_eq!(
        stats,
        ReplayStats {
            lines: 4,
            errors: 0
        }
    );
    assert_eq!(s2.len(), 1);
    let got = s2
        .find(crate::store::Party::Recipient, &a.recipient_id)
        .expect("a");
    assert_eq!(got.sender_key, Some(ed(3)));
    let compacted = fs::read_to_string(&path).expect("read");
    assert_eq!(compacted.lines().count(), 1);
    assert!(dir
        .path()
        .join("smp-server-store.log.2023-11-14T22:13:20.000000Z")
        .exists());
}

#[test]
fn base64_without_allocation_accepts_what_base64url_decode_accepts() {
    let cases = [
        "AQID",
        "AQI",
        "AQI=",
        "AQ==",
        "AQ",
        "",
        "=",
        "==",
        "AQ===",
        "AQI==",
        "AQ=I",
        "A+/B",
        "AQ-_",
        "AQ\u{e9}",
        "ISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISE=",
    ];
    for c in cases {
        let mut buf = [0u8; 96];
        assert_eq!(
            b64_into(c, &mut buf).ok().map(<[u8]>::to_vec),
            base64url_decode(c.as_bytes()).ok(),
            "{c:?}"
        );
    }
}

#[test]
fn iso_time_round_trip() {
    let t = 1_700_000_000_123_456_000;
    assert_eq!(iso8601(t), "2023-11-14T22:13:20.123456Z");
    assert_eq!(parse_iso8601(&iso8601(t)), Some(t));
    assert_eq!(
        parse_iso8601("2023-11-14T22:13:20Z"),
        Some(1_700_000_000_000_000_000)
    );
}

#[test]
fn messages_save_and_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("smp-server-messages.log");
    let mut qs = QueueStore::new();
    let q = record(1);
    qs.add(q.clone()).expect("add");
    let mut ms = MsgStore::new(2);
    let rid = q.recipient_id.clone();
    let m = |n: u8, ts| Message {
        id: vec![n; 24],
        ts,
        kind: MessageKind::Message {
            notification: n == 1,
            body: vec![n; 3],
        },
    };
    ms.write(&rid, m(1, 100));
    ms.write(&rid, m(2, 200));
    ms.write(&rid, m(3, 300));
    ms.write(&[9; 24], m(4, 300));
    assert_eq!(save_messages(&path, &ms).expect("save"), 4);
    let text = fs::read_to_string(&path).expect("read");
    assert!(
        text.contains(&format!(
            "v3 {} {} 100 flags=T AQEB\n",
            b64(&rid),
            b64(&[1; 24])
        )),
        "{text}"
    );
    assert!(text.contains(" 300 quota\n"), "{text}");
    let mut ms2 = MsgStore::new(2);
    let stats = restore_messages(&path, &qs, &mut ms2, Some(150)).expect("restore");
    assert_eq!(
        stats,
        RestoreStats {
            stored: 2,
            expired: 1,
            skipped: 1
        }
    );
    assert_eq!(ms2.peek(&rid).map(|m| m.ts), Some(200));
    assert!(!path.exists());
    assert!(dir.path().join("smp-server-messages.log.bak").exists());
}

#[test]
fn notifications_file_round_trip_and_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ntfs.log");
    let mut ntfs = NtfStore::default();
    let ntf = |n: u8, ts| MsgNtf {
        msg_id: vec![n; 24],
        ts,
        nonce: [n; 24],
        enc_meta: vec![n; 144],
    };
    ntfs.store(&[1; 24], ntf(1, 1000));
    ntfs.store(&[1; 24], ntf(2, 2000));
    ntfs.store(&[2; 24], ntf(3, 10));
    let line = ntf_line(&[1; 24], &ntf(1, 1000));
    assert!(line
        .starts_with("v1 AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB 1000 "));
    assert_eq!(parse_ntf_line(&line), Ok((vec![1; 24], ntf(1, 1000))));
    assert!(parse_ntf_line("v2 x").is_err());
    assert!(parse_ntf_line(&format!("{line} extra")).is_err());
    assert_eq!(save_ntfs(&path, &ntfs).expect("save"), 3);
    let mut restored = NtfStore::default();
    let stats = restore_ntfs(&path, &mut restored, 100).expect("restore");
    assert_eq!((stats.stored, stats.expired, stats.skipped), (2, 1, 0));
    assert_eq!(restored.take(&[1; 24]), vec![ntf(1, 1000), ntf(2, 2000)]);
    assert!(!path.exists(), "renamed to .bak");
}
