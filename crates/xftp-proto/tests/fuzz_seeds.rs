//! The seed corpus of the XFTP fuzz targets (`fuzz/corpus/xftp_protocol/seed-*` and
//! `fuzz/corpus/xftp_description/seed-*`), made here from known-good values:
//! `WRITE_FUZZ_SEEDS=1 cargo test -p xftp-proto --test fuzz_seeds` (re)writes it, and every
//! run checks that each committed seed still decodes as its target expects.

use simplex_crypto::{
    CbNonce, KeyHash, PrivateAuthKey, PrivateKeyEd25519, PrivateKeyX25519, PrivateSignKey,
    PublicAuthKey, SbKey,
};
use simplex_encoding::{Encode, ShortBytes};
use smp_proto::{BasicAuth, CommandError};
use xftp_proto::transmission::{decode_raw_block, encode_signed_command_block};
use xftp_proto::*;

fn sb(b: &[u8]) -> ShortBytes {
    ShortBytes::from_slice(b).expect("short")
}

fn ed(n: u8) -> PrivateKeyEd25519 {
    PrivateKeyEd25519::from_raw(&[n; 32]).expect("key")
}

fn protocol_seeds() -> Vec<Vec<u8>> {
    let dh = PrivateKeyX25519::from_raw(&[4; 32])
        .expect("key")
        .public_key();
    let commands = vec![
        FileCommand::New {
            file: FileInfo {
                snd_key: PublicAuthKey::Ed25519(ed(1).public_key()),
                size: 65_536,
                digest: sb(&[7; 32]),
            },
            rcv_keys: vec![PublicAuthKey::Ed25519(ed(2).public_key())],
            auth: Some(BasicAuth::new(b"pwd").expect("auth")),
        },
        FileCommand::Add {
            rcv_keys: vec![PublicAuthKey::X25519(dh)],
        },
        FileCommand::Put,
        FileCommand::Get { rcv_dh_key: dh },
        FileCommand::Ping,
    ];
    let responses = vec![
        FileResponse::SndIds {
            sender_id: sb(&[1; 24]),
            recipient_ids: vec![sb(&[2; 24])],
        },
        FileResponse::File {
            srv_dh_key: dh,
            nonce: CbNonce([3; 24]),
        },
        FileResponse::Err(XftpErrorType::Cmd(CommandError::Syntax)),
        FileResponse::Ok,
    ];
    let v = Version(3);
    // Selector byte: version 3 is `2 % 3`; kind k is `k * 3 + 2`.
    let mut seeds = Vec::new();
    for c in &commands {
        seeds.push([&[2u8][..], &c.encode(v).expect("encodes")].concat());
    }
    for r in &responses {
        seeds.push([&[2u8][..], &r.encode(v).expect("encodes")].concat());
    }
    let records = [
        XftpClientHandshake {
            version: v,
            key_hash: KeyHash([5; 32]),
        }
        .to_bytes(),
        XftpClientHello {
            web_challenge: Some([6; 32]),
        }
        .to_bytes(),
    ];
    for r in records {
        seeds.push([&[5u8][..], &r].concat());
    }
    let key = PrivateSignKey::Ed25519(ed(9));
    let block =
        encode_signed_command_block(v, &[7; 32], b"", &[1; 24], &FileCommand::Put, Some(&key))
            .expect("block");
    let batch = simplex_encoding::unpad(&block).expect("unpads");
    seeds.push([&[8u8][..], batch].concat());
    seeds.push([&[11u8][..], &block].concat());
    seeds
}

fn description_seeds() -> Vec<Vec<u8>> {
    let server =
        XftpServer::parse_str(b"xftp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@a.example:443")
            .expect("server");
    let fd = FileDescription {
        party: FileParty::Recipient,
        size: 65_536 + 262_144,
        digest: vec![1; 64],
        key: SbKey([2; 32]),
        nonce: CbNonce([3; 24]),
        chunk_size: 262_144,
        chunks: vec![
            FileChunk {
                chunk_no: 1,
                chunk_size: 262_144,
                digest: vec![4; 32],
                replicas: vec![FileChunkReplica {
                    server: server.clone(),
                    replica_id: vec![5; 24],
                    replica_key: PrivateAuthKey::Ed25519(ed(6)),
                }],
            },
            FileChunk {
                chunk_no: 2,
                chunk_size: 65_536,
                digest: vec![7; 32],
                replicas: vec![FileChunkReplica {
                    server,
                    replica_id: vec![8; 24],
                    replica_key: PrivateAuthKey::Ed25519(ed(9)),
                }],
            },
        ],
        redirect: None,
    };
    let mut redirect = fd.clone();
    redirect.redirect = Some(RedirectFileInfo {
        size: 1000,
        digest: vec![1; 64],
    });
    vec![
        fd.to_yaml().into_bytes(),
        redirect.to_yaml().into_bytes(),
        FileDescriptionUri::new(fd.clone()).to_uri().into_bytes(),
        xftp_proto::uri::encode_web_uri(&fd).into_bytes(),
    ]
}

#[test]
fn fuzz_seeds_decode() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let sets = [
        ("xftp_protocol", protocol_seeds()),
        ("xftp_description", description_seeds()),
    ];
    if std::env::var_os("WRITE_FUZZ_SEEDS").is_some() {
        for (target, seeds) in &sets {
            let dir = corpus.join(target);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            for (i, s) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:03}")), s).expect("write seed");
            }
        }
    }
    let mut checked = 0;
    for (target, _) in &sets {
        let entries = std::fs::read_dir(corpus.join(target)).unwrap_or_else(|_| {
            panic!("fuzz/corpus/{target} is missing: run with WRITE_FUZZ_SEEDS=1")
        });
        for entry in entries {
            let entry = entry.expect("dir entry");
            if !entry.file_name().to_string_lossy().starts_with("seed-") {
                continue;
            }
            let bytes = std::fs::read(entry.path()).expect("seed");
            let name = entry.file_name().to_string_lossy().into_owned();
            check_seed(target, &bytes, &name);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} seeds");
}

fn check_seed(target: &str, bytes: &[u8], name: &str) {
    if target == "xftp_description" {
        let text = std::str::from_utf8(bytes).expect("utf-8");
        let ok = FileDescription::from_yaml(text).is_ok()
            || FileDescriptionUri::parse(text).is_ok()
            || xftp_proto::uri::decode_web_uri(text).is_ok();
        assert!(ok, "{target}/{name} does not parse");
        return;
    }
    let (&first, body) = bytes.split_first().expect("selector");
    let v = Version(1 + u16::from(first % 3));
    let ok = match first / 3 % 4 {
        0 => FileCommand::decode(v, body).is_ok() || FileResponse::decode(v, body).is_ok(),
        1 => XftpClientHandshake::decode(body).is_ok() || XftpClientHello::decode(body).is_ok(),
        2 => simplex_encoding::pad(body, XFTP_BLOCK_SIZE)
            .ok()
            .is_some_and(|b| decode_raw_block(&b).is_ok()),
        _ => decode_raw_block(body).is_ok(),
    };
    assert!(ok, "{target}/{name} does not decode");
}
