//! Short links over real in-process relays. Contact addresses: an address made on a v15
//! relay has both links and a contact made through the short one (read through a proxy)
//! completes and carries messages; its user data changes (`LSET`) and the link goes
//! (`LDEL`); an address on a v14 relay has only its full link; link data that is altered
//! (hash, signature) or names another queue is refused before anything is sent.
//! One-time invitations: the short link (read with `LKEY` through a proxy, which secures
//! the queue) gives a connection that carries messages both ways; a second join of it fails
//! (`AUTH`) with nothing sent; spoiled invitation link data is refused before anything is
//! sent, as is one whose queue its sender cannot secure (before the reply queue is made);
//! a v14 relay gives only the full link; with PQ on, the link data holds the KEM key.
//! Preset relays: links to a relay in the agent's preset list name it by host alone; such a
//! link is joined by an agent that has the relay as a preset and refused, with nothing sent,
//! by one that does not.

mod common;

use agent_proto::version::{SUPPORTED_AGENT_VERSIONS, SUPPORTED_SMP_CLIENT_VERSIONS};
use agent_proto::{
    contact_short_link_kdf, encode_sign_link_data, encrypt_link_data, inv_short_link_kdf,
    ConnReqUriData, ConnectionRequest, ContactRequest, ContactShortLink, ContactType,
    InvitationRequest, InvitationShortLink, LinkDataError, LinkKey, ShortLink, ShortLinkScheme,
    UserConnLinkData, UserContactData, UserLinkData,
};
use common::*;
use rand::rngs::OsRng;
use rand::RngCore;
use simplex_agent::{AgentError, Event, SmpProxyFallback, SmpProxyMode};
use simplex_crypto::{PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519};
use simplex_encoding::{Large, ShortBytes};
use simplex_ratchet::{
    generate_rcv_e2e_params, E2ERatchetParamsUri, PqSupport, CURRENT_E2E_VERSION,
    SUPPORTED_E2E_VERSIONS, X448,
};
use smp_client::{link_corr_id, ClientConfig, ClientError, SmpClient};
use smp_proto::address::TransportHost;
use smp_proto::version::{Version, VersionRange};
use smp_proto::{
    ContactLinkReq, ErrorType, MessagingLinkReq, NewQueueReq, QueueLinkData, QueueMode,
    QueueReqData, SmpQueueUri, SmpServer, SubscriptionMode,
};
use smp_server::testing::local_address;

/// Bob joins Alice's address through `link`; both sides go through REQ, CONF, INFO and CON.
async fn complete_address_contact(
    a: &mut TestAgent,
    addr_id: &[u8],
    b: &mut TestAgent,
    link: &str,
) -> (Vec<u8>, Vec<u8>, Option<Vec<u8>>) {
    let (ba, user_data) = b
        .agent
        .join_connection_link(link, b"bob's profile")
        .await
        .expect("join");
    let req = a.next().await;
    assert_eq!(req.conn_id, addr_id);
    let Event::Req { inv_id, conn_info } = req.event else {
        panic!("expected REQ, got {req:?}");
    };
    assert_eq!(conn_info, b"bob's profile");
    let ab = a
        .agent
        .accept_contact(&inv_id, b"alice's profile")
        .await
        .expect("accept");
    let conf = b.next().await;
    assert_eq!(conf.conn_id, ba);
    let Event::Conf { conf_id, .. } = conf.event else {
        panic!("expected CONF, got {conf:?}");
    };
    b.agent
        .allow_connection(&conf_id, b"bob again")
        .await
        .expect("allow");
    assert_eq!(a.next().await.event, Event::Info(b"bob again".to_vec()));
    assert_eq!(a.next().await.event, Event::Con);
    assert_eq!(b.next().await.event, Event::Con);
    (ab, ba, user_data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_short_link_through_proxy_then_update_and_delete() {
    let s1 = TestServer::start(128).await.expect("test server");
    let s2 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![s1.address().clone()])).await;
    let mut cb = config(vec![s2.address().clone()]);
    cb.smp_proxy_mode = SmpProxyMode::Always;
    cb.smp_proxy_fallback = SmpProxyFallback::Prohibit;
    let mut b = TestAgent::start(dir.path(), "bob", cb).await;

    let (addr_id, links) = a
        .agent
        .create_contact_address_with_link(b"alice's card")
        .await
        .expect("address");
    assert!(
        links.full.starts_with("simplex:/contact#/?"),
        "{}",
        links.full
    );
    let short = links.short.expect("a short link on a v15 relay");
    assert!(short.starts_with("https://"), "{short}");
    assert!(short.contains("/a#"), "{short}");
    assert_eq!(
        a.agent.address_short_link(&addr_id).await.expect("link"),
        Some(short.clone())
    );

    // The data reads back as the full link and the card, without joining.
    let data = b
        .agent
        .get_short_link_data(&short)
        .await
        .expect("link data");
    assert_eq!(data.full, links.full);
    assert_eq!(data.user_data, b"alice's card");

    let (ab, ba, user_data) = complete_address_contact(&mut a, &addr_id, &mut b, &short).await;
    assert_eq!(user_data.as_deref(), Some(&b"alice's card"[..]));
    // Bob reached Alice's relay only through his own.
    let relays = b.agent.proxied_relays().await;
    assert!(
        relays.iter().any(|(_, r)| r == s1.address()),
        "a proxied session to Alice's relay: {relays:?}"
    );
    exchange(&mut a, &ab, &mut b, &ba, b"hello bob").await;
    exchange(&mut b, &ba, &mut a, &ab, b"hello alice").await;

    // LSET: the card changes, the link stays.
    a.agent
        .set_address_link_data(&addr_id, b"alice's new card")
        .await
        .expect("set link data");
    let data = b
        .agent
        .get_short_link_data(&short)
        .await
        .expect("link data");
    assert_eq!(data.user_data, b"alice's new card");
    assert_eq!(data.full, links.full);

    // LDEL: the short link is gone, the address and its full link stay.
    a.agent.delete_address_link(&addr_id).await.expect("LDEL");
    assert_eq!(
        a.agent.address_short_link(&addr_id).await.expect("link"),
        None
    );
    assert!(b.agent.get_short_link_data(&short).await.is_err());
    assert!(matches!(
        a.agent.set_address_link_data(&addr_id, b"x").await,
        Err(AgentError::Prohibited(_))
    ));
    let c = TestAgent::start(dir.path(), "carol", config(vec![s1.address().clone()])).await;
    c.agent
        .join_connection(&links.full, b"carol")
        .await
        .expect("the full link still works");
    let req = a.next().await;
    assert!(matches!(req.event, Event::Req { .. }), "{req:?}");

    for t in [&a, &b, &c] {
        t.agent.stop().await;
    }
    s1.stop().await.expect("server stopped");
    s2.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_on_a_v14_relay_has_only_the_full_link() {
    let v6_14 = VersionRange::new(Version(6), Version(14)).expect("range");
    let srv = TestServer::start_with_versions(128, v6_14)
        .await
        .expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (addr_id, links) = a
        .agent
        .create_contact_address_with_link(b"alice's card")
        .await
        .expect("address");
    assert_eq!(links.short, None);
    assert!(
        links.full.starts_with("simplex:/contact#/?"),
        "{}",
        links.full
    );
    assert_eq!(
        a.agent.address_short_link(&addr_id).await.expect("link"),
        None
    );
    let (ab, ba, user_data) = complete_address_contact(&mut a, &addr_id, &mut b, &links.full).await;
    assert_eq!(user_data, None);
    exchange(&mut a, &ab, &mut b, &ba, b"over v14").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// How the link data of a crafted address is spoiled.
#[derive(Clone, Copy, Debug)]
enum Tamper {
    /// The short link's key is not the hash of the fixed data.
    Hash,
    /// The fixed data's signature is altered.
    Signature,
    /// The embedded full link names a queue on another relay (another host: the reference
    /// compares hosts, so another port of the same host is the same relay).
    OtherServer,
    /// The embedded full link names another sender ID.
    OtherSender,
    /// The embedded invitation's queue is not one its sender secures (invitations only).
    NotMessaging,
}

/// A contact queue on `server` with link data made by hand and spoiled as `tamper` says;
/// returns the short link, the queue's recipient key and ID.
async fn crafted_address(
    client: &SmpClient,
    server: &SmpServer,
    other: &SmpServer,
    tamper: Tamper,
) -> (String, PrivateAuthKey, Vec<u8>) {
    let (corr_id, snd_id) = link_corr_id().expect("corr id");
    let mut embedded_snd_id = snd_id.to_vec();
    if let Tamper::OtherSender = tamper {
        embedded_snd_id[0] ^= 1;
    }
    let uri = SmpQueueUri {
        client_versions: SUPPORTED_SMP_CLIENT_VERSIONS,
        server: match tamper {
            Tamper::OtherServer => other.clone(),
            _ => server.clone(),
        },
        sender_id: embedded_snd_id,
        dh_public_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        queue_mode: Some(QueueMode::Contact),
    };
    let conn_req = ConnectionRequest::Contact(ContactRequest {
        data: ConnReqUriData {
            agent_versions: SUPPORTED_AGENT_VERSIONS,
            smp_queues: vec![uri],
            client_data: None,
        },
    });
    let root = PrivateKeyEd25519::generate(&mut OsRng);
    let user = UserConnLinkData::Contact(UserContactData {
        direct: true,
        owners: Vec::new(),
        relays: Vec::new(),
        user_data: UserLinkData(b"mallory".to_vec()),
    });
    let (mut link_key, mut signed) =
        encode_sign_link_data(&root, SUPPORTED_AGENT_VERSIONS, &conn_req, None, &user);
    match tamper {
        Tamper::Hash => {
            let mut k = [0u8; 32];
            OsRng.fill_bytes(&mut k);
            link_key = LinkKey(k);
        }
        // The signature follows its one-byte length.
        Tamper::Signature => signed.fixed[1] ^= 1,
        Tamper::OtherServer | Tamper::OtherSender | Tamper::NotMessaging => {}
    }
    let (link_id, sb_key) = contact_short_link_kdf(&link_key);
    let enc = encrypt_link_data(&mut OsRng, &sb_key, &signed).expect("encrypt");
    let rcv_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    let req = NewQueueReq {
        rcv_auth_key: rcv_key.public_key(),
        rcv_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        basic_auth: None,
        sub_mode: SubscriptionMode::OnlyCreate,
        queue_req_data: Some(QueueReqData::Contact(Some(ContactLinkReq {
            link_id: ShortBytes::from_slice(&link_id).expect("id"),
            snd_id: ShortBytes::from_slice(&snd_id).expect("id"),
            data: QueueLinkData {
                fixed: Large::new(enc.fixed).expect("fits"),
                user: Large::new(enc.user).expect("fits"),
            },
        }))),
        ntf_creds: None,
    };
    let ids = client
        .create_queue_with(&rcv_key, req, Some(corr_id))
        .await
        .expect("NEW with link data");
    let short = ShortLink::Contact(ContactShortLink {
        scheme: ShortLinkScheme::Server,
        contact_type: ContactType::Contact,
        server: server.clone(),
        link_key,
    })
    .to_string();
    (short, rcv_key, ids.rcv_id.as_slice().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_link_data_is_refused_before_anything_is_sent() {
    let s1 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let other = SmpServer {
        hosts: vec![TransportHost::Domain("relay.example".into())],
        ..s1.address().clone()
    };
    let b = TestAgent::start(dir.path(), "bob", config(vec![s1.address().clone()])).await;
    let (mallory, _events) = SmpClient::connect(s1.address(), ClientConfig::default())
        .await
        .expect("connect");
    for tamper in [
        Tamper::Hash,
        Tamper::Signature,
        Tamper::OtherServer,
        Tamper::OtherSender,
    ] {
        let (short, rcv_key, rcv_id) =
            crafted_address(&mallory, s1.address(), &other, tamper).await;
        let r = b.agent.join_connection_link(&short, b"bob's profile").await;
        match (tamper, &r) {
            (Tamper::Hash, Err(AgentError::Link(LinkDataError::Hash)))
            | (Tamper::Signature, Err(AgentError::Link(LinkDataError::FixedSignature)))
            | (Tamper::OtherServer, Err(AgentError::LinkAddress))
            | (Tamper::OtherSender, Err(AgentError::LinkAddress)) => {}
            _ => panic!("{tamper:?}: unexpected {r:?}"),
        }
        assert!(
            b.agent.get_short_link_data(&short).await.is_err(),
            "{tamper:?}"
        );
        // Nothing was made or sent: no connection on Bob's side, no message in the queue.
        assert!(
            b.agent.connection_ids().await.expect("ids").is_empty(),
            "{tamper:?}"
        );
        let msg = mallory.get_message(&rcv_key, &rcv_id).await.expect("GET");
        assert!(msg.is_none(), "{tamper:?}: the address got a message");
    }
    b.agent.stop().await;
    s1.stop().await.expect("server stopped");
}

/// Whether `r` is the relay's `AUTH` (a one-time link already used: `LKEY` with another key).
fn is_auth(r: &Result<(Vec<u8>, Option<Vec<u8>>), AgentError>) -> bool {
    matches!(
        r,
        Err(AgentError::Smp {
            error: ClientError::Server(ErrorType::Auth),
            ..
        })
    )
}

/// Bob joins Alice's invitation `ab` through `link`; both sides go through CONF, INFO and
/// CON. Returns Bob's connection ID and the user data the link gave him.
async fn complete_invitation(
    a: &mut TestAgent,
    ab: &[u8],
    b: &mut TestAgent,
    link: &str,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let (ba, user_data) = b
        .agent
        .join_connection_link(link, b"bob's info")
        .await
        .expect("join");
    let conf = a.next().await;
    assert_eq!(conf.conn_id, ab);
    let Event::Conf {
        conf_id, conn_info, ..
    } = conf.event
    else {
        panic!("expected CONF, got {conf:?}");
    };
    assert_eq!(conn_info, b"bob's info");
    a.agent
        .allow_connection(&conf_id, b"alice's info")
        .await
        .expect("allow");
    assert_eq!(b.next().await.event, Event::Info(b"alice's info".to_vec()));
    assert_eq!(b.next().await.event, Event::Con);
    assert_eq!(a.next().await.event, Event::Con);
    (ba, user_data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_over_a_short_link_through_proxy_is_one_time() {
    let s1 = TestServer::start(128).await.expect("test server");
    let s2 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![s1.address().clone()])).await;
    let mut cb = config(vec![s2.address().clone()]);
    cb.smp_proxy_mode = SmpProxyMode::Always;
    cb.smp_proxy_fallback = SmpProxyFallback::Prohibit;
    let mut b = TestAgent::start(dir.path(), "bob", cb).await;

    let (ab, links) = a
        .agent
        .create_connection_with_link(b"alice's card")
        .await
        .expect("invitation");
    assert!(
        links.full.starts_with("simplex:/invitation#/?"),
        "{}",
        links.full
    );
    let short = links.short.expect("a short link on a v15 relay");
    assert!(short.starts_with("https://"), "{short}");
    assert!(short.contains("/i#"), "{short}");
    // Its data can be read before joining (LKEY secures the queue with a key Bob keeps for
    // the join); reading it again uses the same key.
    for _ in 0..2 {
        let d = b.agent.get_short_link_data(&short).await.expect("read");
        assert_eq!(d.user_data, b"alice's card");
        assert_eq!(d.full, links.full);
    }

    // LKEY secured the queue with Bob's key: the join goes on with it (SKEY with a new key
    // would be refused by the relay).
    let (ba, user_data) = complete_invitation(&mut a, &ab, &mut b, &short).await;
    assert_eq!(user_data.as_deref(), Some(&b"alice's card"[..]));
    let relays = b.agent.proxied_relays().await;
    assert!(
        relays.iter().any(|(_, r)| r == s1.address()),
        "a proxied session to Alice's relay: {relays:?}"
    );
    exchange(&mut a, &ab, &mut b, &ba, b"hello bob").await;
    exchange(&mut b, &ba, &mut a, &ab, b"hello alice").await;

    // A one-time link: neither Bob again nor Carol can join it (the queue is secured with
    // Bob's first key), and neither makes a connection.
    let again = b.agent.join_connection_link(&short, b"bob again").await;
    assert!(is_auth(&again), "{again:?}");
    assert_eq!(
        b.agent.connection_ids().await.expect("ids"),
        vec![ba.clone()]
    );
    let c = TestAgent::start(dir.path(), "carol", config(vec![s1.address().clone()])).await;
    let carol = c.agent.join_connection_link(&short, b"carol").await;
    assert!(is_auth(&carol), "{carol:?}");
    assert!(c.agent.connection_ids().await.expect("ids").is_empty());
    // Nothing reached Alice's queue in between: the next thing on it is Bob's message.
    exchange(&mut b, &ba, &mut a, &ab, b"still only bob").await;

    for t in [&a, &b, &c] {
        t.agent.stop().await;
    }
    s1.stop().await.expect("server stopped");
    s2.stop().await.expect("server stopped");
}

/// Reading an invitation's short link data (as a connection plan does) secures its queue with
/// Bob's key; joining the full link from that data later, even after Bob's agent restarts,
/// uses the same key (a new one would be refused: the queue is secured). Nobody else can
/// read the data any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_data_read_before_joining_keeps_the_key_for_the_join() {
    let s1 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![s1.address().clone()])).await;
    let b = TestAgent::start(dir.path(), "bob", config(vec![s1.address().clone()])).await;
    let (ab, links) = a
        .agent
        .create_connection_with_link(b"alice's card")
        .await
        .expect("invitation");
    let short = links.short.expect("a short link on a v15 relay");
    let d = b.agent.get_short_link_data(&short).await.expect("read");
    assert_eq!(d.user_data, b"alice's card");
    let c = TestAgent::start(dir.path(), "carol", config(vec![s1.address().clone()])).await;
    let carol = c.agent.get_short_link_data(&short).await;
    assert!(
        matches!(
            carol,
            Err(AgentError::Smp {
                error: ClientError::Server(ErrorType::Auth),
                ..
            })
        ),
        "{carol:?}"
    );
    c.agent.stop().await;

    b.agent.stop().await;
    drop(b);
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![s1.address().clone()])).await;
    let (ba, user_data) = complete_invitation(&mut a, &ab, &mut b, &d.full).await;
    assert_eq!(user_data, None);
    exchange(&mut a, &ab, &mut b, &ba, b"hello bob").await;
    exchange(&mut b, &ba, &mut a, &ab, b"hello alice").await;

    a.agent.stop().await;
    b.agent.stop().await;
    s1.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_on_a_v14_relay_has_only_the_full_link() {
    let v6_14 = VersionRange::new(Version(6), Version(14)).expect("range");
    let srv = TestServer::start_with_versions(128, v6_14)
        .await
        .expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (ab, links) = a
        .agent
        .create_connection_with_link(b"alice's card")
        .await
        .expect("invitation");
    assert_eq!(links.short, None);
    assert!(
        links.full.starts_with("simplex:/invitation#/?"),
        "{}",
        links.full
    );
    let (ba, user_data) = complete_invitation(&mut a, &ab, &mut b, &links.full).await;
    assert_eq!(user_data, None);
    exchange(&mut a, &ab, &mut b, &ba, b"over v14").await;
    exchange(&mut b, &ba, &mut a, &ab, b"back over v14").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}

/// A messaging queue on `server` with invitation link data made by hand and spoiled as
/// `tamper` says; returns the short link, the queue's recipient key and ID.
async fn crafted_invitation(
    client: &SmpClient,
    server: &SmpServer,
    other: &SmpServer,
    tamper: Tamper,
) -> (String, PrivateAuthKey, Vec<u8>) {
    let (corr_id, snd_id) = link_corr_id().expect("corr id");
    let mut embedded_snd_id = snd_id.to_vec();
    if let Tamper::OtherSender = tamper {
        embedded_snd_id[0] ^= 1;
    }
    let uri = SmpQueueUri {
        client_versions: SUPPORTED_SMP_CLIENT_VERSIONS,
        server: match tamper {
            Tamper::OtherServer => other.clone(),
            _ => server.clone(),
        },
        sender_id: embedded_snd_id,
        dh_public_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        queue_mode: Some(match tamper {
            Tamper::NotMessaging => QueueMode::Contact,
            _ => QueueMode::Messaging,
        }),
    };
    let (_, _, params) =
        generate_rcv_e2e_params::<X448>(&mut OsRng, CURRENT_E2E_VERSION, PqSupport(false));
    let conn_req = ConnectionRequest::Invitation(InvitationRequest {
        data: ConnReqUriData {
            agent_versions: SUPPORTED_AGENT_VERSIONS,
            smp_queues: vec![uri],
            client_data: None,
        },
        e2e: E2ERatchetParamsUri {
            versions: SUPPORTED_E2E_VERSIONS,
            key1: params.key1,
            key2: params.key2,
            kem: params.kem,
        },
    });
    let root = PrivateKeyEd25519::generate(&mut OsRng);
    let user = UserConnLinkData::Invitation(UserLinkData(b"mallory".to_vec()));
    let (mut link_key, mut signed) =
        encode_sign_link_data(&root, SUPPORTED_AGENT_VERSIONS, &conn_req, None, &user);
    match tamper {
        Tamper::Hash => {
            let mut k = [0u8; 32];
            OsRng.fill_bytes(&mut k);
            link_key = LinkKey(k);
        }
        Tamper::Signature => signed.fixed[1] ^= 1,
        Tamper::OtherServer | Tamper::OtherSender | Tamper::NotMessaging => {}
    }
    let enc =
        encrypt_link_data(&mut OsRng, &inv_short_link_kdf(&link_key), &signed).expect("encrypt");
    let rcv_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    let req = NewQueueReq {
        rcv_auth_key: rcv_key.public_key(),
        rcv_dh_key: PrivateKeyX25519::generate(&mut OsRng).public_key(),
        basic_auth: None,
        sub_mode: SubscriptionMode::OnlyCreate,
        queue_req_data: Some(QueueReqData::Messaging(Some(MessagingLinkReq {
            snd_id: ShortBytes::from_slice(&snd_id).expect("id"),
            data: QueueLinkData {
                fixed: Large::new(enc.fixed).expect("fits"),
                user: Large::new(enc.user).expect("fits"),
            },
        }))),
        ntf_creds: None,
    };
    let ids = client
        .create_queue_with(&rcv_key, req, Some(corr_id))
        .await
        .expect("NEW with link data");
    let link_id = ids.link_id.expect("the relay made a link ID");
    let short = ShortLink::Invitation(InvitationShortLink {
        scheme: ShortLinkScheme::Server,
        server: server.clone(),
        link_id: link_id.as_slice().to_vec(),
        link_key,
    })
    .to_string();
    (short, rcv_key, ids.rcv_id.as_slice().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_invitation_link_data_is_refused_before_anything_is_sent() {
    let s1 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let other = SmpServer {
        hosts: vec![TransportHost::Domain("relay.example".into())],
        ..s1.address().clone()
    };
    let b = TestAgent::start(dir.path(), "bob", config(vec![s1.address().clone()])).await;
    let (mallory, _events) = SmpClient::connect(s1.address(), ClientConfig::default())
        .await
        .expect("connect");
    for tamper in [
        Tamper::Hash,
        Tamper::Signature,
        Tamper::OtherServer,
        Tamper::OtherSender,
    ] {
        let (short, rcv_key, rcv_id) =
            crafted_invitation(&mallory, s1.address(), &other, tamper).await;
        let r = b.agent.join_connection_link(&short, b"bob's info").await;
        match (tamper, &r) {
            (Tamper::Hash, Err(AgentError::Link(LinkDataError::Hash)))
            | (Tamper::Signature, Err(AgentError::Link(LinkDataError::FixedSignature)))
            | (Tamper::OtherServer, Err(AgentError::LinkAddress))
            | (Tamper::OtherSender, Err(AgentError::LinkAddress)) => {}
            _ => panic!("{tamper:?}: unexpected {r:?}"),
        }
        // Nothing was made or sent: no connection on Bob's side, no message in the queue.
        assert!(
            b.agent.connection_ids().await.expect("ids").is_empty(),
            "{tamper:?}"
        );
        let msg = mallory.get_message(&rcv_key, &rcv_id).await.expect("GET");
        assert!(msg.is_none(), "{tamper:?}: the queue got a message");
    }
    b.agent.stop().await;
    s1.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_to_a_queue_its_sender_cannot_secure_is_refused_before_the_reply_queue() {
    let s1 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    // Bob's own relay is unreachable: had the join gone on to make its reply queue, it
    // would fail there with a connection error instead.
    let unreachable = local_address(s1.key_hash(), 1);
    let b = TestAgent::start(dir.path(), "bob", config(vec![unreachable])).await;
    let (mallory, _events) = SmpClient::connect(s1.address(), ClientConfig::default())
        .await
        .expect("connect");
    let (short, rcv_key, rcv_id) =
        crafted_invitation(&mallory, s1.address(), s1.address(), Tamper::NotMessaging).await;
    let r = b.agent.join_connection_link(&short, b"bob's info").await;
    assert!(matches!(r, Err(AgentError::BadLink(_))), "{r:?}");
    assert!(b.agent.connection_ids().await.expect("ids").is_empty());
    let msg = mallory.get_message(&rcv_key, &rcv_id).await.expect("GET");
    assert!(msg.is_none(), "the queue got a message");
    b.agent.stop().await;
    s1.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pq_invitation_over_a_short_link() {
    let s1 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ca = config(vec![s1.address().clone()]);
    ca.pq_support = true;
    let cb = ca.clone();
    let mut a = TestAgent::start(dir.path(), "alice", ca).await;
    let mut b = TestAgent::start(dir.path(), "bob", cb).await;
    // The link data holds the invitation with its KEM key (about 1.2 KB) and still fits.
    let (ab, links) = a
        .agent
        .create_connection_with_link(b"alice's card")
        .await
        .expect("invitation");
    assert!(links.full.contains("kem_key"), "{}", links.full);
    let short = links.short.expect("a short link on a v15 relay");
    let (ba, user_data) = complete_invitation(&mut a, &ab, &mut b, &short).await;
    assert_eq!(user_data.as_deref(), Some(&b"alice's card"[..]));
    exchange(&mut a, &ab, &mut b, &ba, b"pq hello").await;
    exchange(&mut b, &ba, &mut a, &ab, b"pq hello back").await;
    a.agent.stop().await;
    b.agent.stop().await;
    s1.stop().await.expect("server stopped");
}

/// `link` as the reference prints it when its relay is one of `presets`: the host alone,
/// without the port (`p=`) and the key hash (`c=`).
fn host_only(link: &str, presets: &[SmpServer]) -> String {
    let short: ShortLink = link.parse().expect("short link");
    let shortened = short.shorten(presets).to_string();
    assert!(
        !shortened.contains("c=") && !shortened.contains("p="),
        "{shortened}"
    );
    shortened
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_link_naming_a_preset_relay_by_host_is_joined_only_when_it_is_preset() {
    let s1 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    // Alice and Bob know the local relay as a preset.
    let mut ca = config(vec![s1.address().clone()]);
    ca.preset_servers.push(s1.address().clone());
    let mut a = TestAgent::start(dir.path(), "alice", ca).await;
    let mut cb = config(vec![s1.address().clone()]);
    cb.preset_servers.push(s1.address().clone());
    let mut b = TestAgent::start(dir.path(), "bob", cb).await;
    // Carol has only the reference's presets: the local relay is not one of them.
    let c = TestAgent::start(dir.path(), "carol", config(vec![s1.address().clone()])).await;

    let (addr_id, links) = a
        .agent
        .create_contact_address_with_link(b"alice's card")
        .await
        .expect("address");
    // Alice's agent prints the link to a preset relay by host alone.
    let short = links.short.expect("a short link on a v15 relay");
    assert_eq!(short, host_only(&short, std::slice::from_ref(s1.address())));
    assert!(short.starts_with("https://127.0.0.1/a#"), "{short}");
    assert_eq!(
        a.agent.address_short_link(&addr_id).await.expect("link"),
        Some(short.clone())
    );

    let refused = c.agent.join_connection_link(&short, b"carol").await;
    assert!(
        matches!(&refused, Err(AgentError::UnknownPresetRelay(h)) if h == "127.0.0.1"),
        "{refused:?}"
    );
    assert!(matches!(
        c.agent.get_short_link_data(&short).await,
        Err(AgentError::UnknownPresetRelay(_))
    ));
    assert!(c.agent.connection_ids().await.expect("ids").is_empty());

    // Bob knows the relay as a preset: its port and key hash are restored and he joins.
    // Alice's first event is his REQ: Carol's attempt sent her nothing.
    let data = b.agent.get_short_link_data(&short).await.expect("data");
    assert_eq!(data.full, links.full);
    let (ab, ba, user_data) = complete_address_contact(&mut a, &addr_id, &mut b, &short).await;
    assert_eq!(user_data.as_deref(), Some(&b"alice's card"[..]));
    exchange(&mut a, &ab, &mut b, &ba, b"hello bob").await;

    for t in [&a, &b, &c] {
        t.agent.stop().await;
    }
    s1.stop().await.expect("server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_link_naming_a_preset_relay_by_host_is_joined_only_when_it_is_preset() {
    let s1 = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![s1.address().clone()])).await;
    let mut cb = config(vec![s1.address().clone()]);
    cb.preset_servers = vec![s1.address().clone()];
    let mut b = TestAgent::start(dir.path(), "bob", cb).await;
    let c = TestAgent::start(dir.path(), "carol", config(vec![s1.address().clone()])).await;

    let (ab, links) = a
        .agent
        .create_connection_with_link(b"alice's card")
        .await
        .expect("invitation");
    // Alice's agent does not know the relay as a preset: her link has its key hash, and
    // the host-only form is made here.
    let full_short = links.short.expect("a short link on a v15 relay");
    assert!(full_short.contains("c="), "{full_short}");
    let short = host_only(&full_short, std::slice::from_ref(s1.address()));

    let refused = c.agent.join_connection_link(&short, b"carol").await;
    assert!(
        matches!(&refused, Err(AgentError::UnknownPresetRelay(h)) if h == "127.0.0.1"),
        "{refused:?}"
    );
    assert!(c.agent.connection_ids().await.expect("ids").is_empty());

    // Had Carol's attempt sent LKEY, the one-time queue would be secured with her key and
    // Bob's LKEY refused (AUTH).
    let (ba, user_data) = complete_invitation(&mut a, &ab, &mut b, &short).await;
    assert_eq!(user_data.as_deref(), Some(&b"alice's card"[..]));
    exchange(&mut b, &ba, &mut a, &ab, b"hello alice").await;
    // Bob knows the relay as a preset: his own invitation names it by host alone.
    let (_, bob_links) = b
        .agent
        .create_connection_with_link(b"bob's card")
        .await
        .expect("invitation");
    let bob_short = bob_links.short.expect("a short link on a v15 relay");
    assert!(
        bob_short.starts_with("https://127.0.0.1/i#") && !bob_short.contains('?'),
        "{bob_short}"
    );

    for t in [&a, &b, &c] {
        t.agent.stop().await;
    }
    s1.stop().await.expect("server stopped");
}

/// A group link (`create_group_link`) is an address whose short link is of the group type
/// (`/g#`): its data reads back, and joining it is a request to the address, as for `/a#`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_link_is_a_group_type_short_link() {
    let srv = TestServer::start(128).await.expect("test server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = TestAgent::start(dir.path(), "alice", config(vec![srv.address().clone()])).await;
    let mut b = TestAgent::start(dir.path(), "bob", config(vec![srv.address().clone()])).await;
    let (addr_id, links) = a
        .agent
        .create_group_link(b"the group's card")
        .await
        .expect("group link");
    assert!(
        links.full.starts_with("simplex:/contact#/?"),
        "{}",
        links.full
    );
    let short = links.short.expect("a short link on a v15 relay");
    assert!(short.contains("/g#"), "{short}");
    let data = b
        .agent
        .get_short_link_data(&short)
        .await
        .expect("link data");
    assert_eq!(data.full, links.full);
    assert_eq!(data.user_data, b"the group's card");
    let (ab, ba, user_data) = complete_address_contact(&mut a, &addr_id, &mut b, &short).await;
    assert_eq!(user_data.as_deref(), Some(&b"the group's card"[..]));
    exchange(&mut a, &ab, &mut b, &ba, b"welcome").await;
    a.agent.stop().await;
    b.agent.stop().await;
    srv.stop().await.expect("server stopped");
}
