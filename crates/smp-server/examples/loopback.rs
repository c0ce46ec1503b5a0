//! Rough numbers over real TLS on 127.0.0.1: connections per second (handshake + PING),
//! and SEND → MSG → ACK round trips through one queue, with an in-process server.
//!
//! `cargo run --release -p smp-server --example loopback [clients] [messages]`

use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use simplex_crypto::{dh_x25519, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519};
use smp_client::{ClientConfig, SmpClient};
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_proto::response::Response;
use smp_server::core::CoreConfig;
use smp_server::msg_store::MsgStore;
use smp_server::testing::TestServer;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let server = TestServer::start_with(CoreConfig::default(), MsgStore::default(), 16_384)
        .await
        .expect("server");
    let address = server.address().clone();
    let config = ClientConfig {
        ping_interval: Duration::ZERO,
        ..ClientConfig::default()
    };

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (address, config) = (address.clone(), config.clone());
        tasks.spawn(async move {
            let (c, _events) = SmpClient::connect(&address, config).await.expect("connect");
            c.ping().await.expect("PING");
            c
        });
    }
    let mut open = Vec::with_capacity(clients);
    while let Some(c) = tasks.join_next().await {
        open.push(c.expect("task"));
    }
    let t = started.elapsed();
    println!(
        "{clients} clients connected and PINGed in {t:?} ({:.0}/s)",
        clients as f64 / t.as_secs_f64()
    );
    drop(open);

    let (rcv, mut events) = SmpClient::connect(&address, config.clone())
        .await
        .expect("connect");
    let (snd, _snd_events) = SmpClient::connect(&address, config).await.expect("connect");
    let rcv_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    let snd_key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
    let dh = PrivateKeyX25519::generate(&mut OsRng);
    let ids = rcv
        .create_queue(
            &rcv_key,
            &dh.public_key(),
            None,
            SubscriptionMode::Subscribe,
            true,
        )
        .await
        .expect("NEW");
    let secret = dh_x25519(&ids.rcv_public_dh_key, &dh);
    snd.secure_sender_queue(&snd_key, ids.snd_id.as_slice())
        .await
        .expect("SKEY");
    let body = vec![7u8; 1000];
    let started = Instant::now();
    for _ in 0..messages {
        snd.send_message(
            Some(&snd_key),
            ids.snd_id.as_slice(),
            MsgFlags::default(),
            &body,
        )
        .await
        .expect("SEND");
        let ev = events.recv().await.expect("event");
        let Response::Msg(m) = ev.response else {
            panic!("expected MSG");
        };
        smp_client::decrypt_message(&secret, &m).expect("decrypt");
        rcv.ack(&rcv_key, ids.rcv_id.as_slice(), m.msg_id.as_slice())
            .await
            .expect("ACK");
    }
    let t = started.elapsed();
    println!(
        "{messages} SEND -> MSG -> ACK round trips (1000-byte bodies, signed) in {t:?} ({:.0}/s)",
        messages as f64 / t.as_secs_f64()
    );
    server.stop().await.expect("server stopped");
}
