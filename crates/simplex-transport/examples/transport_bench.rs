//! Measures handshakes and block round trips over loopback TLS (prints numbers only).
//!
//! `cargo run --release -p simplex-transport --example transport_bench`

use std::sync::Arc;
use std::time::Instant;

use simplex_transport::credentials::{GeneratedCredentials, SignAlgorithm};
use simplex_transport::{connect, ClientTransportConfig, ServerTransport, SmpListener};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for alg in [SignAlgorithm::Ed25519, SignAlgorithm::Ed448] {
        let creds = GeneratedCredentials::generate(alg, "localhost")
            .expect("generate")
            .server_credentials()
            .expect("credentials");
        let transport = Arc::new(ServerTransport::new(&creds).expect("transport"));
        let identity = transport.identity().clone();
        let listener = SmpListener::bind("127.0.0.1:0", transport)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let rounds = 10_000;
        tokio::spawn(async move {
            loop {
                let mut conn = listener.accept().await.expect("accept");
                tokio::spawn(async move {
                    while let Ok(block) = conn.reader.read_raw().await {
                        let block = block.to_vec();
                        if conn.writer.write_raw(&block).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let config = ClientTransportConfig::default();
        let n = 200;
        let start = Instant::now();
        for _ in 0..n {
            let c = connect(addr, &identity, &config, None)
                .await
                .expect("connect");
            drop(c);
        }
        let per_handshake = start.elapsed() / n;
        let mut c = connect(addr, &identity, &config, None)
            .await
            .expect("connect");
        let payload = vec![0x42u8; 16_000];
        let start = Instant::now();
        for _ in 0..rounds {
            c.writer.write_block(&payload).await.expect("write");
            c.reader.read_block().await.expect("read");
        }
        let per_round = start.elapsed() / rounds;
        println!(
            "{}: TCP+TLS+SMP handshake {:?}, 16 KiB block round trip {:?} (both ends on one thread)",
            alg.as_str(),
            per_handshake,
            per_round
        );
    }
}
