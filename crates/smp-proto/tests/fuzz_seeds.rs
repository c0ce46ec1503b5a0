//! The fuzz targets' seed corpus, made from the shared fixtures and checked on every run.

use simplex_crypto::KeyHash;
use simplex_encoding::{pad, Encode};
use smp_proto::command::{Command, MsgFlags};
use smp_proto::handshake::{ClientHello, ServerHello};
use smp_proto::response::Response;
use smp_proto::transmission::{encode_transmission, RawTransmission, TransmissionForAuth};
use smp_proto::version::Version;
use smp_proto::{decode_block, encode_block};

mod common;
use common::*;

/// The versions seeds are made at: every version whose encodings differ from the one below.
const SEED_VERSIONS: [Version; 11] = [
    Version(6),
    Version(7),
    Version(8),
    Version(9),
    Version(10),
    Version(12),
    Version(14),
    Version(15),
    Version(16),
    Version(17),
    Version(18),
];

/// The fuzz targets' first byte: `6 + b % 13` (see `fuzz/fuzz_targets/common.rs`).
fn seed_version(b: u8) -> Version {
    Version(6 + u16::from(b % 13))
}

fn version_byte(v: Version) -> u8 {
    u8::try_from(v.0 - 6).expect("a version from 6 to 18")
}

/// One `NEW` per queue-data and notifier-credential shape is enough for seeds.
fn seed_command(c: &Command) -> bool {
    match c {
        Command::New(req) => {
            req.basic_auth.is_none()
                && matches!(req.rcv_auth_key, simplex_crypto::PublicAuthKey::X25519(_))
                && req.sub_mode == smp_proto::SubscriptionMode::Subscribe
        }
        _ => true,
    }
}

/// The fuzz targets' seed corpus (`fuzz/corpus/<target>/seed-*`) is made from the variant
/// lists of the fixtures: `WRITE_FUZZ_SEEDS=1 cargo test -p smp-proto --test fuzz_seeds`
/// (re)writes it. Every run checks that each committed seed still decodes as its target
/// expects, so the corpus cannot silently rot when an encoding changes.
#[test]
fn fuzz_seeds_decode() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let session = [7u8; 32];
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    for v in SEED_VERSIONS.iter() {
        let vbyte = version_byte(*v);
        for cmd in all_commands().into_iter().filter(seed_command) {
            let mut out = vec![vbyte];
            cmd.encode(*v, &mut out);
            seeds.push(("command", out));
        }
        for resp in all_responses() {
            let mut out = vec![vbyte];
            resp.encode(*v, &mut out);
            seeds.push(("command", out));
        }
        let ping = encode_transmission(*v, &session, &[1; 24], b"", b"PING").expect("fits");
        seeds.push(("transmission", [&[vbyte][..], &ping].concat()));
        let mut send = Vec::new();
        Command::Send {
            flags: MsgFlags { notification: true },
            body: b"hello".to_vec(),
        }
        .encode(*v, &mut send);
        let t = TransmissionForAuth::new(*v, &session, &[2; 24], &[3; 24], &send)
            .expect("fits")
            .encode(Some(&[9; 64]))
            .expect("fits");
        seeds.push(("transmission", [&[vbyte][..], &t].concat()));
        // Block seeds hold the unpadded batch: the target pads it into a block itself.
        let block = encode_block(&[ping.clone(), t.clone()]).expect("fits");
        let batch = simplex_encoding::unpad(&block).expect("own block unpads");
        seeds.push(("block", [&[vbyte][..], batch].concat()));
    }
    seeds.push((
        "handshake",
        ServerHello::for_alpn(true, sb(&session), cert_key()).to_bytes(),
    ));
    seeds.push((
        "handshake",
        ServerHello::for_alpn(false, sb(&session), cert_key()).to_bytes(),
    ));
    for v in SEED_VERSIONS {
        let hello = ClientHello {
            version: v,
            key_hash: KeyHash::from([1; 32]),
            dh_key: Some(x25519(3)),
            proxy_server: false,
            client_service: None,
        };
        seeds.push(("handshake", hello.to_bytes()));
    }
    let service = ClientHello {
        version: Version(16),
        key_hash: KeyHash::from([1; 32]),
        dh_key: None,
        proxy_server: true,
        client_service: Some(smp_proto::ClientHelloService {
            role: smp_proto::ServiceRole::Notifier,
            cert_key: cert_key(),
        }),
    };
    seeds.push(("handshake", service.to_bytes()));

    // Forwarded records: a FwdTransmission, a FwdResponse, and (version byte first) a
    // single-transmission batch of a SEND.
    let fwd = smp_proto::proxy::FwdTransmission {
        corr_id: sb(&[4; 24]),
        version: Version(9),
        key: x25519(6),
        enc_transmission: vec![0x77; 40],
    };
    seeds.push(("forwarded", fwd.to_bytes()));
    let fwd_resp = smp_proto::proxy::FwdResponse {
        corr_id: sb(&[4; 24]),
        enc_response: vec![0x66; 40],
    };
    seeds.push(("forwarded", fwd_resp.to_bytes()));
    for v in SEED_VERSIONS.iter() {
        let vbyte = version_byte(*v);
        let mut send = Vec::new();
        Command::Send {
            flags: MsgFlags {
                notification: false,
            },
            body: b"via proxy".to_vec(),
        }
        .encode(*v, &mut send);
        let t = TransmissionForAuth::new(*v, &session, &[2; 24], &[3; 24], &send)
            .expect("fits")
            .encode(None)
            .expect("fits");
        let batch = smp_proto::proxy::encode_single_batch(&t).expect("fits");
        seeds.push(("forwarded", [&[vbyte][..], &batch].concat()));
    }

    let mut seen = std::collections::HashSet::new();
    seeds.retain(|s| seen.insert(s.clone()));
    if std::env::var_os("WRITE_FUZZ_SEEDS").is_some() {
        for target in ["command", "transmission", "block", "handshake", "forwarded"] {
            for entry in std::fs::read_dir(corpus.join(target)).into_iter().flatten() {
                let path = entry.expect("dir entry").path();
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
                {
                    std::fs::remove_file(path).expect("remove old seed");
                }
            }
        }
        for (i, (target, bytes)) in seeds.iter().enumerate() {
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            std::fs::write(dir.join(format!("seed-{i:03}")), bytes).expect("write seed");
        }
    }

    let mut checked = 0;
    for target in ["command", "transmission", "block", "handshake", "forwarded"] {
        let Ok(entries) = std::fs::read_dir(corpus.join(target)) else {
            panic!("fuzz/corpus/{target} is missing: run with WRITE_FUZZ_SEEDS=1");
        };
        for entry in entries {
            let entry = entry.expect("dir entry");
            if !entry.file_name().to_string_lossy().starts_with("seed-") {
                continue;
            }
            let data = std::fs::read(entry.path()).expect("read seed");
            let name = entry.path().display().to_string();
            match target {
                "command" => {
                    let (v, body) = (seed_version(data[0]), &data[1..]);
                    assert!(
                        Command::decode(v, body).is_ok() || Response::decode(v, body).is_ok(),
                        "{name}"
                    );
                }
                "transmission" => {
                    let v = seed_version(data[0]);
                    assert!(RawTransmission::decode(v, &data[1..]).is_ok(), "{name}");
                }
                "block" => {
                    let block = pad(&data[1..], 16384).expect("fits");
                    assert!(decode_block(&block).is_ok(), "{name}");
                }
                "forwarded" => {
                    use simplex_encoding::decode_all;
                    use smp_proto::proxy::{decode_single_batch, FwdResponse, FwdTransmission};
                    let batch = data.get(1..).map(decode_single_batch);
                    assert!(
                        decode_all::<FwdTransmission>(&data).is_ok()
                            || decode_all::<FwdResponse>(&data).is_ok()
                            || batch.is_some_and(|b| b.is_ok()),
                        "{name}"
                    );
                }
                _ => assert!(
                    ServerHello::decode(&data).is_ok() || ClientHello::decode(&data).is_ok(),
                    "{name}"
                ),
            }
            checked += 1;
        }
    }
    assert!(
        checked >= seeds.len(),
        "corpus has {checked} seeds, expected {}",
        seeds.len()
    );
}
