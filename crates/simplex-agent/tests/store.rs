//! The store: both implementations keep the same records; the SQLite one is encrypted, its
//! schema matches the committed dump, and a wrong passphrase is refused.

use rand::rngs::OsRng;
use simplex_agent::sqlite::Locking;
use simplex_agent::store::*;
use simplex_agent::{
    MemoryStore, MsgReceiptStatus, RatchetSyncState, RcvSwitchStatus, SndSwitchStatus, SqliteStore,
    StoreError,
};
use simplex_crypto::{
    dh_x25519, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519, PrivateKeyX448,
};
use simplex_ratchet::{
    generate_rcv_e2e_params, generate_snd_e2e_params, pq_x3dh_rcv, pq_x3dh_snd, reply_kem,
    KemKeyPair, PqSupport, Ratchet, RatchetVersions, SkippedDiff, X448,
};
use smp_proto::SmpServer;

fn server() -> SmpServer {
    SmpServer::parse_str(b"smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@127.0.0.1:5223")
        .expect("server")
}

/// A sending ratchet and the receiving one, with a message that skips one key.
fn ratchets() -> (Ratchet<X448>, Ratchet<X448>) {
    let rng = &mut OsRng;
    let (rk, rkem, rp) = generate_rcv_e2e_params::<X448>(rng, 3, PqSupport::ON);
    let use_kem = reply_kem(3, rp.kem.as_ref(), PqSupport::ON);
    let (sk, skem, sp) = generate_snd_e2e_params::<X448>(rng, 3, use_kem.as_ref());
    let (sinit, skp) = pq_x3dh_snd(&sk, skem.as_ref(), &rp).expect("snd x3dh");
    let (rinit, rkp) = pq_x3dh_rcv(&rk, rkem.as_ref(), &sp).expect("rcv x3dh");
    let vs = RatchetVersions {
        current: 3,
        max_supported: 3,
    };
    let snd = Ratchet::<X448>::init_snd(vs, rp.key2, PrivateKeyX448::generate(rng), sinit, skp)
        .expect("init snd");
    let rcv = Ratchet::<X448>::init_rcv(vs, rk.key2.clone(), rinit, rkp, PqSupport::ON);
    (snd, rcv)
}

/// A connection's first message, pending.
fn first_message(conn_id: &[u8]) -> SndMsgRecord {
    SndMsgRecord {
        conn_id: conn_id.to_vec(),
        internal_id: 1,
        snd_id: 1,
        kind: SndMsgKind::Message,
        hash: vec![1; 32],
        body: SndBody::Sealed(b"body".to_vec()),
        pending: true,
        receipt: None,
        queue: None,
    }
}

fn exercise(store: &mut dyn Store) {
    let id = b"conn-1".to_vec();
    let mut conn = ConnRecord::new(id.clone(), ConnKind::Duplex, true, 7);
    // Writes that refer to a missing connection fail and leave nothing behind.
    let orphan = first_message(&id);
    assert!(store.apply(vec![Write::PutSndMsg(orphan.clone())]).is_err());
    assert_eq!(store.conn(&id).expect("read"), None);

    conn.last_snd_id = 4;
    conn.last_snd_hash = vec![9; 32];
    let rng = &mut OsRng;
    let e2e = PrivateKeyX25519::generate(rng);
    let srv = PrivateKeyX25519::generate(rng);
    let rq = RcvQueueRecord {
        conn_id: id.clone(),
        server: server(),
        rcv_id: vec![1; 24],
        rcv_key: PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(rng)),
        rcv_dh_secret: dh_x25519(&srv.public_key(), &e2e),
        e2e_priv_key: e2e.clone(),
        e2e_dh_secret: None,
        snd_id: vec![2; 24],
        sender_can_secure: true,
        status: QueueStatus::New,
        client_version: 4,
        primary: true,
        replaces: None,
        switch_status: None,
        created_at: 1_700_000_000,
        extra: false,
    };
    let sq = SndQueueRecord {
        conn_id: id.clone(),
        server: server(),
        snd_id: vec![3; 24],
        snd_key: PrivateAuthKey::X25519(PrivateKeyX25519::generate(rng)),
        e2e_pub_key: srv.public_key(),
        e2e_dh_secret: dh_x25519(&e2e.public_key(), &srv),
        sender_can_secure: false,
        status: QueueStatus::Confirmed,
        client_version: 3,
        primary: true,
        replaces: None,
        switch_status: None,
        extra: false,
    };
    let x3dh = X3dhKeys {
        key1: PrivateKeyX448::generate(rng),
        key2: PrivateKeyX448::generate(rng),
        kem: Some(KemKeyPair::generate(rng)),
    };
    store
        .apply(vec![
            Write::PutConn(conn.clone()),
            Write::PutRcvQueue(rq.clone()),
            Write::PutSndQueue(sq.clone()),
            Write::PutX3dh(id.clone(), x3dh.clone()),
            Write::PutSndMsg(orphan.clone()),
        ])
        .expect("apply");
    assert_eq!(store.conn(&id).expect("read"), Some(conn.clone()));
    assert_eq!(store.conns().expect("read"), vec![conn.clone()]);
    assert_eq!(store.rcv_queue(&id).expect("read"), Some(rq.clone()));
    assert_eq!(store.snd_queue(&id).expect("read"), Some(sq.clone()));
    switch_queues(store, &rq, &sq);
    assert_eq!(store.x3dh(&id).expect("read"), Some(x3dh));
    assert_eq!(store.ratchet(&id).expect("read"), None);
    assert_eq!(
        store.pending_snd_msgs(&id).expect("read"),
        vec![orphan.clone()]
    );

    // The ratchet replaces the X3DH keys; skipped keys come and go with diffs.
    let (snd, rcv) = ratchets();
    let (_m1, snd) = snd.encrypt(None, 3, 100, b"one").expect("enc");
    let (m2, _snd) = snd.encrypt(None, 3, 100, b"two").expect("enc");
    let d = rcv.decrypt(&Default::default(), &m2, rng).expect("dec");
    assert_eq!(d.plaintext, b"two");
    assert!(matches!(d.diff, SkippedDiff::Add(_)));
    store
        .apply(vec![
            Write::PutRatchet(id.clone(), d.ratchet.clone()),
            Write::Skipped(id.clone(), d.diff.clone()),
        ])
        .expect("apply");
    assert_eq!(store.x3dh(&id).expect("read"), None);
    assert_eq!(store.ratchet(&id).expect("read"), Some(d.ratchet));
    let mut expected = Default::default();
    d.diff.apply(&mut expected);
    let skipped = store.skipped(&id).expect("read");
    assert_eq!(skipped, expected);
    assert_eq!(skipped.values().map(|m| m.len()).sum::<usize>(), 1);
    let (hk, n) = skipped
        .iter()
        .flat_map(|(hk, m)| m.keys().map(move |n| (hk.clone(), *n)))
        .next()
        .expect("one key");
    store
        .apply(vec![Write::Skipped(id.clone(), SkippedDiff::Remove(hk, n))])
        .expect("apply");
    assert!(store.skipped(&id).expect("read").is_empty());

    // Messages: sent ones found by header ID, received ones by encrypted hash; duplicates
    // refused and the whole batch with them.
    let mut sent = orphan;
    sent.pending = false;
    sent.body = SndBody::none();
    let rcvd = RcvMsgRecord {
        conn_id: id.clone(),
        internal_id: 2,
        ext_snd_id: 2,
        hash: vec![5; 32],
        enc_hash: vec![6; 32],
        srv_msg_id: vec![7; 24],
        rcv_id: Some(vec![1; 24]),
        body: b"hello".to_vec(),
        integrity: "OK".into(),
        acked: false,
        kind: RcvMsgKind::Receipt,
    };
    store
        .apply(vec![
            Write::PutSndMsg(sent.clone()),
            Write::PutRcvMsg(rcvd.clone()),
        ])
        .expect("apply");
    assert!(store.pending_snd_msgs(&id).expect("read").is_empty());
    assert_eq!(
        store.snd_msg_by_snd_id(&id, 1).expect("read"),
        Some(sent.clone())
    );
    assert_eq!(
        store.rcv_msg_by_enc_hash(&id, &[6; 32]).expect("read"),
        Some(rcvd.clone())
    );
    assert_eq!(
        store.rcv_msg_by_enc_hash(&id, &[8; 32]).expect("read"),
        None
    );
    let mut conn2 = conn.clone();
    conn2.last_internal_id = 99;
    let r = store.apply(vec![Write::PutConn(conn2), Write::PutRcvMsg(rcvd.clone())]);
    assert!(matches!(r, Err(StoreError::Duplicate)));
    store
        .apply(vec![Write::AckRcvMsg(id.clone(), 2)])
        .expect("apply");
    // Acknowledged: the body goes (the application has it), the rest stays.
    let acked = store.rcv_msg(&id, 2).expect("read").expect("msg");
    assert!(acked.acked && acked.body.is_empty());
    assert_eq!(
        (acked.hash, acked.srv_msg_id),
        (rcvd.hash.clone(), rcvd.srv_msg_id.clone())
    );
    // Marked once: not again, nor a message that is not there.
    assert!(!store.ack_rcv_msg_once(&id, 2).expect("mark"));
    assert!(!store.ack_rcv_msg_once(&id, 77).expect("mark"));
    // Unmarked (the relay's `ACK` failed): its body is back for the report to come.
    store
        .apply(vec![Write::UnackRcvMsg(id.clone(), 2, rcvd.body.clone())])
        .expect("apply");
    assert_eq!(store.rcv_msg(&id, 2).expect("read"), Some(rcvd.clone()));
    assert!(store.ack_rcv_msg_once(&id, 2).expect("mark"));
    let acked = store.rcv_msg(&id, 2).expect("read").expect("msg");
    assert!(acked.acked && acked.body.is_empty());
    assert!(!store.ack_rcv_msg_once(&id, 2).expect("mark"));
    // A receipt recorded on a sent message; found by the message that carried it.
    assert!(store.snd_msgs_by_receipt(&id, 2).expect("read").is_empty());
    let mut receipted = sent;
    receipted.receipt = Some(SndMsgReceipt {
        rcv_msg_id: 2,
        status: MsgReceiptStatus::BadMsgHash,
    });
    store
        .apply(vec![Write::PutSndMsg(receipted.clone())])
        .expect("apply");
    assert_eq!(
        store.snd_msgs_by_receipt(&id, 2).expect("read"),
        vec![receipted.clone()]
    );
    assert!(store.snd_msgs_by_receipt(&id, 3).expect("read").is_empty());
    assert_eq!(
        store.snd_msg_by_snd_id(&id, 1).expect("read"),
        Some(receipted.clone())
    );
    // A receipt set on its own changes nothing else of the message, pending or sent.
    let mut later = receipted;
    (later.internal_id, later.snd_id, later.receipt) = (7, 7, None);
    (later.pending, later.body) = (true, SndBody::Sealed(vec![9; 100]));
    store
        .apply(vec![Write::PutSndMsg(later.clone())])
        .expect("apply");
    let ok = SndMsgReceipt {
        rcv_msg_id: 2,
        status: MsgReceiptStatus::Ok,
    };
    store
        .apply(vec![Write::SetSndMsgReceipt(id.clone(), 7, ok)])
        .expect("apply");
    later.receipt = Some(ok);
    assert_eq!(store.snd_msg(&id, 7).expect("read"), Some(later.clone()));
    store
        .apply(vec![Write::MarkSndMsgSent(id.clone(), 7)])
        .expect("apply");
    let bad = SndMsgReceipt {
        rcv_msg_id: 2,
        status: MsgReceiptStatus::BadMsgHash,
    };
    store
        .apply(vec![Write::SetSndMsgReceipt(id.clone(), 7, bad)])
        .expect("apply");
    (later.pending, later.body, later.receipt) = (false, SndBody::none(), Some(bad));
    assert_eq!(store.snd_msg(&id, 7).expect("read"), Some(later));
    store
        .apply(vec![Write::DeleteSndMsg(id.clone(), 7)])
        .expect("apply");

    // Confirmations and invitations.
    let conf = ConfirmationRecord {
        conf_id: b"conf".to_vec(),
        conn_id: id.clone(),
        sender_key: Some(PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(rng)).public_key()),
        e2e_pub_key: e2e.public_key(),
        reply_queues: vec![agent_proto::SmpQueueInfo {
            client_version: smp_proto::version::Version(4),
            server: server(),
            sender_id: vec![4; 24],
            dh_public_key: e2e.public_key(),
            queue_mode: Some(smp_proto::QueueMode::Messaging),
        }],
        smp_client_version: 4,
    };
    let inv = InvitationRecord {
        inv_id: b"inv".to_vec(),
        contact_conn_id: id.clone(),
        conn_req: "simplex:/invitation#/?v=2-7".into(),
        conn_info: b"bob".to_vec(),
    };
    store
        .apply(vec![
            Write::PutConfirmation(conf.clone()),
            Write::PutInvitation(inv.clone()),
        ])
        .expect("apply");
    assert_eq!(store.confirmation(b"conf").expect("read"), Some(conf));
    assert_eq!(store.invitation(b"inv").expect("read"), Some(inv));

    // Deleting the connection deletes everything of it.
    store
        .apply(vec![Write::DeleteConn(id.clone())])
        .expect("apply");
    assert_eq!(store.conn(&id).expect("read"), None);
    assert_eq!(store.rcv_queue(&id).expect("read"), None);
    assert_eq!(store.ratchet(&id).expect("read"), None);
    assert_eq!(store.confirmation(b"conf").expect("read"), None);
    assert_eq!(store.invitation(b"inv").expect("read"), None);
    assert_eq!(store.rcv_msg(&id, 2).expect("read"), None);
}

/// A switch: a second queue of each kind, replacing the current one, is read after it, with
/// the statuses kept; at the end the old ones are deleted by ID and the new ones current. A
/// send queue replacing none takes the current one's place (the contact address's flow).
fn switch_queues(store: &mut dyn Store, rq: &RcvQueueRecord, sq: &SndQueueRecord) {
    let id = rq.conn_id.clone();
    let mut rq1 = rq.clone();
    rq1.switch_status = Some(RcvSwitchStatus::SendingQuse);
    let mut rq2 = rq.clone();
    rq2.rcv_id = vec![9; 24];
    rq2.primary = false;
    rq2.replaces = Some(rq.rcv_id.clone());
    let mut sq1 = sq.clone();
    sq1.switch_status = Some(SndSwitchStatus::SendingQtest);
    let mut sq2 = sq.clone();
    sq2.snd_id = vec![8; 24];
    sq2.primary = false;
    sq2.replaces = Some(sq.snd_id.clone());
    store
        .apply(vec![
            Write::PutRcvQueue(rq2.clone()),
            Write::PutRcvQueue(rq1.clone()),
            Write::PutSndQueue(sq2.clone()),
            Write::PutSndQueue(sq1.clone()),
        ])
        .expect("apply");
    assert_eq!(
        store.rcv_queues(&id).expect("read"),
        vec![rq1.clone(), rq2.clone()]
    );
    assert_eq!(store.rcv_queue(&id).expect("read"), Some(rq1.clone()));
    assert_eq!(
        store.snd_queues(&id).expect("read"),
        vec![sq1.clone(), sq2.clone()]
    );
    // With redundant queues too, and connections before and after this one (one with a
    // receive queue only, one with a send queue only), what the agent loads at start is
    // what it reads.
    let (before, after) = (b"conn-0".to_vec(), b"conn-2".to_vec());
    let mut rq_before = rq.clone();
    rq_before.conn_id = before.clone();
    rq_before.rcv_id = vec![3; 24];
    let mut sq_after = sq.clone();
    sq_after.conn_id = after.clone();
    sq_after.snd_id = vec![4; 24];
    store
        .apply(vec![
            Write::PutConn(ConnRecord::new(before.clone(), ConnKind::Duplex, true, 7)),
            Write::PutConn(ConnRecord::new(after.clone(), ConnKind::Duplex, false, 7)),
            Write::PutRcvQueue(rq_before),
            Write::PutSndQueue(sq_after),
        ])
        .expect("apply");
    let mut rq3 = rq.clone();
    rq3.rcv_id = vec![7; 24];
    rq3.extra = true;
    let mut sq3 = sq.clone();
    sq3.snd_id = vec![6; 24];
    sq3.extra = true;
    store
        .apply(vec![
            Write::PutRcvQueue(rq3.clone()),
            Write::PutSndQueue(sq3.clone()),
        ])
        .expect("apply");
    assert_eq!(
        store.all_rcv_queues(&id).expect("read"),
        vec![rq1.clone(), rq2.clone(), rq3.clone()]
    );
    loads_as_read(store);
    assert_eq!(store.load_conns().expect("load").len(), 3);
    store
        .apply(vec![
            Write::DeleteRcvQueue(id.clone(), rq3.rcv_id),
            Write::DeleteSndQueueId(id.clone(), sq3.snd_id),
            Write::DeleteConn(before),
            Write::DeleteConn(after),
        ])
        .expect("apply");
    rq2.replaces = None;
    rq2.primary = true;
    sq2.replaces = None;
    sq2.primary = true;
    store
        .apply(vec![
            Write::DeleteRcvQueue(id.clone(), rq1.rcv_id.clone()),
            Write::PutRcvQueue(rq2.clone()),
            Write::DeleteSndQueueId(id.clone(), sq1.snd_id.clone()),
            Write::PutSndQueue(sq2.clone()),
        ])
        .expect("apply");
    assert_eq!(store.rcv_queues(&id).expect("read"), vec![rq2.clone()]);
    assert_eq!(store.snd_queues(&id).expect("read"), vec![sq2]);
    store
        .apply(vec![
            Write::PutSndQueue(sq.clone()),
            Write::DeleteRcvQueue(id.clone(), rq2.rcv_id),
            Write::PutRcvQueue(rq.clone()),
        ])
        .expect("apply");
    assert_eq!(store.snd_queues(&id).expect("read"), vec![sq.clone()]);
    assert_eq!(store.rcv_queues(&id).expect("read"), vec![rq.clone()]);
}

/// What the agent loads when it starts ([`Store::load_conns`]) is what it would read
/// connection by connection.
fn loads_as_read(store: &dyn Store) {
    let loaded = store.load_conns().expect("load");
    assert_eq!(loaded.len(), store.conns().expect("read").len());
    for (c, rqs, sq) in loaded {
        assert_eq!(store.conn(&c.conn_id).expect("read"), Some(c.clone()));
        assert_eq!(rqs, store.all_rcv_queues(&c.conn_id).expect("read"));
        assert_eq!(sq, store.snd_queue(&c.conn_id).expect("read"));
    }
}

#[test]
fn memory_store_keeps_records() {
    exercise(&mut MemoryStore::new());
}

#[test]
fn sqlite_store_keeps_records_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.db");
    exercise(&mut SqliteStore::open_with(&path, "secret", Locking::Shared).expect("open"));
    // Reopening with the same passphrase works and runs no migration twice.
    let mut store = SqliteStore::open_with(&path, "secret", Locking::Shared).expect("reopen");
    let conn = ConnRecord::new(b"c2".to_vec(), ConnKind::Contact, true, 7);
    store
        .apply(vec![Write::PutConn(conn.clone())])
        .expect("apply");
    drop(store);
    let store = SqliteStore::open_with(&path, "secret", Locking::Shared).expect("reopen");
    assert_eq!(store.conn(b"c2").expect("read"), Some(conn));
}

#[test]
fn wrong_passphrase_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.db");
    drop(SqliteStore::open_with(&path, "right", Locking::Shared).expect("create"));
    assert!(matches!(
        SqliteStore::open_with(&path, "wrong", Locking::Shared),
        Err(StoreError::WrongPassphrase)
    ));
    // The file is encrypted: no SQLite header, no table name in clear.
    let bytes = std::fs::read(&path).expect("read file");
    assert!(!bytes.starts_with(b"SQLite format 3"));
    assert!(!bytes.windows(11).any(|w| w == b"connections"));
    assert!(SqliteStore::open_with(&path, "right", Locking::Shared).is_ok());
}

/// The schema equals `tests/schema.sql`; `SIMPLEX_AGENT_WRITE_SCHEMA=1` rewrites it.
#[test]
fn schema_matches_dump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open_with(&dir.path().join("agent.db"), "k", Locking::Shared).expect("open");
    let dump = store.schema_dump().expect("dump");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema.sql");
    if std::env::var_os("SIMPLEX_AGENT_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &dump).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path)
        .expect("tests/schema.sql (write it with SIMPLEX_AGENT_WRITE_SCHEMA=1)");
    assert_eq!(
        dump, committed,
        "schema changed: review and regenerate tests/schema.sql"
    );
}

/// A database made before the receipt migration opens: its messages read with no receipt
/// and as application messages.
#[test]
fn receipt_migration_upgrades_an_older_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    {
        let db = rusqlite::Connection::open(&path).expect("open");
        db.pragma_update(None, "key", "pw").expect("key");
        let (name, sql) = simplex_agent::sqlite::MIGRATIONS[0];
        db.execute_batch("CREATE TABLE migrations (name TEXT PRIMARY KEY, ts INTEGER NOT NULL)")
            .expect("migrations table");
        db.execute_batch(sql).expect("initial schema");
        db.execute("INSERT INTO migrations VALUES (?1, 0)", [name])
            .expect("record");
        db.execute_batch(
            "INSERT INTO connections VALUES (x'01', 'duplex', 'active', 1, 7, 0, 2, 1, x'', 1, x'');
             INSERT INTO snd_messages VALUES (x'01', 1, 1, 'A_MSG', x'05', x'', 0);
             INSERT INTO rcv_messages VALUES (x'01', 2, 1, x'06', x'07', x'08', x'68', 'OK', 0);",
        )
        .expect("rows");
    }
    let store = SqliteStore::open_with(&path, "pw", Locking::Shared).expect("migrated");
    let sent = store
        .snd_msg_by_snd_id(&[1], 1)
        .expect("read")
        .expect("sent");
    assert_eq!(sent.receipt, None);
    let rcvd = store.rcv_msg(&[1], 2).expect("read").expect("received");
    assert_eq!(rcvd.kind, RcvMsgKind::Message);
    assert_eq!(rcvd.body, b"h");
}

/// A database made before the ratchet re-synchronisation migration opens: its connections
/// read as in step, with no keys of a re-synchronisation and no processed key hashes; the
/// state, the keys and the hashes written then read back.
#[test]
fn ratchet_sync_migration_upgrades_an_older_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    {
        let db = rusqlite::Connection::open(&path).expect("open");
        db.pragma_update(None, "key", "pw").expect("key");
        db.execute_batch("CREATE TABLE migrations (name TEXT PRIMARY KEY, ts INTEGER NOT NULL)")
            .expect("migrations table");
        for (name, sql) in &simplex_agent::sqlite::MIGRATIONS[..2] {
            db.execute_batch(sql).expect("older schema");
            db.execute("INSERT INTO migrations VALUES (?1, 0)", [name])
                .expect("record");
        }
        db.execute_batch(
            "INSERT INTO connections VALUES (x'01', 'duplex', 'active', 1, 7, 0, 2, 1, x'', 1, x'');",
        )
        .expect("rows");
    }
    let mut store = SqliteStore::open_with(&path, "pw", Locking::Shared).expect("migrated");
    let mut conn = store.conn(&[1]).expect("read").expect("conn");
    assert_eq!(conn.ratchet_sync, RatchetSyncState::Ok);
    assert!(store.sync_keys(&[1]).expect("read").is_none());
    assert!(!store.ratchet_key_hash_exists(&[1], &[9; 32]).expect("read"));
    conn.ratchet_sync = RatchetSyncState::Started;
    let keys = X3dhKeys {
        key1: PrivateKeyX448::generate(&mut OsRng),
        key2: PrivateKeyX448::generate(&mut OsRng),
        kem: None,
    };
    store
        .apply(vec![
            Write::PutConn(conn),
            Write::PutSyncKeys(vec![1], keys.clone()),
            Write::AddRatchetKeyHash(vec![1], vec![9; 32]),
        ])
        .expect("write");
    let conn = store.conn(&[1]).expect("read").expect("conn");
    assert_eq!(conn.ratchet_sync, RatchetSyncState::Started);
    assert_eq!(store.sync_keys(&[1]).expect("read"), Some(keys));
    assert!(store.ratchet_key_hash_exists(&[1], &[9; 32]).expect("read"));
    store
        .apply(vec![Write::DeleteSyncKeys(vec![1])])
        .expect("write");
    assert!(store.sync_keys(&[1]).expect("read").is_none());
}

/// A database made before the switch migration opens: its queues read as primary, replacing
/// none and not switching, its pending messages as for the current queue; a second queue of
/// each kind with a switch status can then be written.
#[test]
fn switch_migration_upgrades_an_older_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    let rng = &mut OsRng;
    let rcv_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(rng));
    let snd_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(rng));
    let e2e = PrivateKeyX25519::generate(rng);
    let secret = dh_x25519(&e2e.public_key(), &e2e);
    {
        let db = rusqlite::Connection::open(&path).expect("open");
        db.pragma_update(None, "key", "pw").expect("key");
        db.execute_batch("CREATE TABLE migrations (name TEXT PRIMARY KEY, ts INTEGER NOT NULL)")
            .expect("migrations table");
        for (name, sql) in &simplex_agent::sqlite::MIGRATIONS[..3] {
            db.execute_batch(sql).expect("older schema");
            db.execute("INSERT INTO migrations VALUES (?1, 0)", [name])
                .expect("record");
        }
        db.execute_batch(
            "INSERT INTO connections VALUES (x'01', 'duplex', 'active', 1, 7, 0, 2, 1, x'', 1, x'', 'ok');
             INSERT INTO snd_messages VALUES (x'01', 1, 1, 'A_MSG', x'05', x'06', 1, NULL, NULL);",
        )
        .expect("rows");
        db.execute(
            "INSERT INTO rcv_queues VALUES (x'01', ?1, x'0202', ?2, ?3, ?4, NULL, x'0303', 1, 'active', 4)",
            rusqlite::params![
                server().to_string(),
                &rcv_key.to_der()[..],
                &secret.as_bytes()[..],
                &e2e.to_der()[..]
            ],
        )
        .expect("rcv queue");
        db.execute(
            "INSERT INTO snd_queues VALUES (x'01', ?1, x'0404', ?2, ?3, ?4, 1, 'active', 4)",
            rusqlite::params![
                server().to_string(),
                &snd_key.to_der()[..],
                simplex_encoding::Encode::to_bytes(&e2e.public_key()),
                &secret.as_bytes()[..]
            ],
        )
        .expect("snd queue");
    }
    let mut store = SqliteStore::open_with(&path, "pw", Locking::Shared).expect("migrated");
    let rq = store.rcv_queue(&[1]).expect("read").expect("rcv queue");
    assert_eq!(rq.rcv_id, vec![2, 2]);
    assert!(rq.primary);
    assert_eq!((rq.replaces.clone(), rq.switch_status), (None, None));
    assert!(rq.created_at > 1_700_000_000, "counted from the upgrade");
    let sq = store.snd_queue(&[1]).expect("read").expect("snd queue");
    assert_eq!(sq.snd_id, vec![4, 4]);
    assert!(sq.primary);
    assert_eq!((sq.replaces.clone(), sq.switch_status), (None, None));
    let pending = store.pending_snd_msgs(&[1]).expect("read");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].queue, None);
    let mut rq2 = rq.clone();
    rq2.rcv_id = vec![5, 5];
    rq2.replaces = Some(rq.rcv_id.clone());
    let mut rq1 = rq;
    rq1.switch_status = Some(RcvSwitchStatus::SwitchStarted);
    let mut sq2 = sq.clone();
    sq2.snd_id = vec![6, 6];
    sq2.replaces = Some(sq.snd_id.clone());
    let mut sq1 = sq;
    sq1.switch_status = Some(SndSwitchStatus::SendingQkey);
    let mut msg = pending[0].clone();
    msg.queue = Some(sq2.snd_id.clone());
    store
        .apply(vec![
            Write::PutRcvQueue(rq1.clone()),
            Write::PutRcvQueue(rq2.clone()),
            Write::PutSndQueue(sq1.clone()),
            Write::PutSndQueue(sq2.clone()),
            Write::PutSndMsg(msg.clone()),
        ])
        .expect("write");
    assert_eq!(store.rcv_queues(&[1]).expect("read"), vec![rq1, rq2]);
    assert_eq!(store.snd_queues(&[1]).expect("read"), vec![sq1, sq2]);
    assert_eq!(store.pending_snd_msgs(&[1]).expect("read"), vec![msg]);
}

/// A database made before the ratchet moved into the connection's row opens: a connection's
/// ratchet reads back from where it was, an invitation's X3DH keys stay, and making the
/// invitation's ratchet drops its keys.
#[test]
fn ratchet_row_migration_upgrades_an_older_database() {
    use simplex_encoding::Encode;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    let (snd, rcv) = ratchets();
    let (k1, k2) = (
        PrivateKeyX448::generate(&mut OsRng),
        PrivateKeyX448::generate(&mut OsRng),
    );
    {
        let db = rusqlite::Connection::open(&path).expect("open");
        db.pragma_update(None, "key", "pw").expect("key");
        db.execute_batch("CREATE TABLE migrations (name TEXT PRIMARY KEY, ts INTEGER NOT NULL)")
            .expect("migrations table");
        let before = simplex_agent::sqlite::MIGRATIONS
            .iter()
            .position(|(n, _)| *n == "m20250109_ratchet_in_conn")
            .expect("the migration");
        for (name, sql) in &simplex_agent::sqlite::MIGRATIONS[..before] {
            db.execute_batch(sql).expect("older schema");
            db.execute("INSERT INTO migrations VALUES (?1, 0)", [name])
                .expect("record");
        }
        db.execute_batch(
            "INSERT INTO connections VALUES (x'01', 'duplex', 'active', 1, 7, 0, 2, 1, x'', 1, x'', 'ok');
             INSERT INTO connections VALUES (x'02', 'duplex', 'new', 1, 7, 0, 0, 0, x'', 0, x'', 'ok');",
        )
        .expect("connections");
        db.execute(
            "INSERT INTO ratchets VALUES (x'01', NULL, NULL, NULL, ?1)",
            [snd.to_bytes()],
        )
        .expect("ratchet");
        db.execute(
            "INSERT INTO ratchets VALUES (x'02', ?1, ?2, NULL, NULL)",
            [k1.to_der().to_vec(), k2.to_der().to_vec()],
        )
        .expect("x3dh keys");
    }
    let mut store = SqliteStore::open_with(&path, "pw", Locking::Shared).expect("migrated");
    assert_eq!(store.ratchet(&[1]).expect("read"), Some(snd));
    assert!(store.x3dh(&[1]).expect("read").is_none());
    let keys = X3dhKeys {
        key1: k1,
        key2: k2,
        kem: None,
    };
    assert_eq!(store.x3dh(&[2]).expect("read"), Some(keys));
    assert_eq!(store.ratchet(&[2]).expect("read"), None);
    store
        .apply(vec![Write::PutRatchet(vec![2], rcv.clone())])
        .expect("write");
    drop(store);
    let mut store = SqliteStore::open_with(&path, "pw", Locking::Shared).expect("reopen");
    assert_eq!(store.ratchet(&[2]).expect("read"), Some(rcv));
    assert!(store.x3dh(&[2]).expect("read").is_none());
    // A ratchet for a connection that is not there is refused, as before.
    let (other, _) = ratchets();
    assert!(store
        .apply(vec![Write::PutRatchet(vec![3], other)])
        .is_err());
}

/// A connection's row and its ratchet written by one call, as every message writes them
/// (the SQLite store joins the two into one statement): both kept, in either order, for a
/// new connection and an existing one; the invitation's X3DH keys dropped; and a ratchet for
/// a connection that is not there yet refused with nothing left behind, as before.
fn conn_and_ratchet_together(store: &mut dyn Store) {
    let (snd, rcv) = ratchets();
    let id = b"paired".to_vec();
    let mut conn = ConnRecord::new(id.clone(), ConnKind::Duplex, true, 7);
    let msg = first_message(&id);
    // New: the row made first, then the message that refers to it.
    store
        .apply(vec![
            Write::PutConn(conn.clone()),
            Write::PutRatchet(id.clone(), snd.clone()),
            Write::PutSndMsg(msg.clone()),
        ])
        .expect("new connection");
    assert_eq!(store.conn(&id).expect("read"), Some(conn.clone()));
    assert_eq!(store.ratchet(&id).expect("read"), Some(snd));
    assert_eq!(store.pending_snd_msgs(&id).expect("read"), vec![msg]);
    // Existing, the ratchet first (as a received message writes them), after X3DH keys.
    let keys = X3dhKeys {
        key1: PrivateKeyX448::generate(&mut OsRng),
        key2: PrivateKeyX448::generate(&mut OsRng),
        kem: None,
    };
    store
        .apply(vec![Write::PutX3dh(id.clone(), keys)])
        .expect("x3dh");
    conn.last_internal_id = 5;
    conn.last_rcv_ext_id = 4;
    conn.last_rcv_hash = vec![9; 32];
    store
        .apply(vec![
            Write::PutRatchet(id.clone(), rcv.clone()),
            Write::Skipped(id.clone(), SkippedDiff::NoChange),
            Write::PutConn(conn.clone()),
        ])
        .expect("existing connection");
    assert_eq!(store.conn(&id).expect("read"), Some(conn));
    assert_eq!(store.ratchet(&id).expect("read"), Some(rcv));
    assert_eq!(store.x3dh(&id).expect("read"), None);
    // Missing, the ratchet first: refused, and the row is not made either.
    let (other, _) = ratchets();
    let missing = b"missing".to_vec();
    let r = store.apply(vec![
        Write::PutRatchet(missing.clone(), other),
        Write::PutConn(ConnRecord::new(missing.clone(), ConnKind::Duplex, true, 7)),
    ]);
    assert!(r.is_err());
    assert_eq!(store.conn(&missing).expect("read"), None);
}

#[test]
fn memory_store_writes_conn_and_ratchet_together() {
    conn_and_ratchet_together(&mut MemoryStore::new());
}

#[test]
fn sqlite_store_writes_conn_and_ratchet_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.db");
    let mut store = SqliteStore::open_with(&path, "secret", Locking::Shared).expect("open");
    conn_and_ratchet_together(&mut store);
    let want = (
        store.conn(b"paired").expect("read"),
        store.ratchet(b"paired").expect("read"),
    );
    drop(store);
    // What the file holds, not the cache.
    let store = SqliteStore::open_with(&path, "secret", Locking::Shared).expect("reopen");
    let got = (
        store.conn(b"paired").expect("read"),
        store.ratchet(b"paired").expect("read"),
    );
    assert_eq!(got, want);
    assert!(got.0.is_some_and(|c| c.last_internal_id == 5));
}
