//! Commands, responses, errors, blocks and handshake records: round trips at versions 1–3,
//! every truncation refused, and the server's and client's checks in the reference's order.

use simplex_crypto::{
    CbNonce, KeyHash, PrivateKeyEd25519, PrivateKeyX25519, PrivateSignKey, PublicAuthKey,
    PublicKeyX25519,
};
use simplex_encoding::{Encode, Large, ShortBytes};
use smp_proto::error::{BlockingReason, ClientNotice};
use smp_proto::{BasicAuth, BlockingInfo, CommandError};
use xftp_proto::transmission::{
    decode_client_block, decode_raw_block, decode_server_block, encode_response_block,
    encode_signed_command_block,
};
use xftp_proto::*;

const VERSIONS: [Version; 3] = [Version(1), Version(2), Version(3)];

fn ed_key(n: u8) -> PrivateKeyEd25519 {
    PrivateKeyEd25519::from_raw(&[n; 32]).expect("key")
}

fn auth_key(n: u8) -> PublicAuthKey {
    PublicAuthKey::Ed25519(ed_key(n).public_key())
}

fn dh_key(n: u8) -> PublicKeyX25519 {
    PrivateKeyX25519::from_raw(&[n; 32])
        .expect("key")
        .public_key()
}

fn sb(b: &[u8]) -> ShortBytes {
    ShortBytes::from_slice(b).expect("short")
}

fn all_commands() -> Vec<FileCommand> {
    let file = FileInfo {
        snd_key: auth_key(1),
        size: 65_536,
        digest: sb(&[7; 32]),
    };
    vec![
        FileCommand::New {
            file: file.clone(),
            rcv_keys: vec![auth_key(2)],
            auth: None,
        },
        FileCommand::New {
            file,
            rcv_keys: (3..7).map(auth_key).collect(),
            auth: Some(BasicAuth::new(b"secret").expect("auth")),
        },
        FileCommand::Add {
            rcv_keys: vec![auth_key(8), PublicAuthKey::X25519(dh_key(9))],
        },
        FileCommand::Put,
        FileCommand::Del,
        FileCommand::Get {
            rcv_dh_key: dh_key(10),
        },
        FileCommand::Ack,
        FileCommand::Ping,
    ]
}

fn all_errors() -> Vec<XftpErrorType> {
    let mut v = vec![
        XftpErrorType::Block,
        XftpErrorType::Session,
        XftpErrorType::Handshake,
        XftpErrorType::Auth,
        XftpErrorType::Blocked(BlockingInfo {
            reason: BlockingReason::Spam,
            notice: None,
        }),
        XftpErrorType::Blocked(BlockingInfo {
            reason: BlockingReason::Content,
            notice: Some(ClientNotice { ttl: Some(3600) }),
        }),
        XftpErrorType::Size,
        XftpErrorType::Quota,
        XftpErrorType::Digest,
        XftpErrorType::Crypto,
        XftpErrorType::NoFile,
        XftpErrorType::HasFile,
        XftpErrorType::FileIo,
        XftpErrorType::Timeout,
        XftpErrorType::Internal,
        XftpErrorType::Duplicate,
    ];
    for c in [
        CommandError::Unknown,
        CommandError::Syntax,
        CommandError::Prohibited,
        CommandError::NoAuth,
        CommandError::HasAuth,
        CommandError::NoEntity,
    ] {
        v.push(XftpErrorType::Cmd(c));
    }
    v
}

fn all_responses() -> Vec<FileResponse> {
    let mut v = vec![
        FileResponse::SndIds {
            sender_id: sb(&[1; 24]),
            recipient_ids: vec![sb(&[2; 24]), sb(&[3; 24])],
        },
        FileResponse::RcvIds(vec![sb(&[4; 24])]),
        FileResponse::File {
            srv_dh_key: dh_key(5),
            nonce: CbNonce([6; 24]),
        },
        FileResponse::Ok,
        FileResponse::Pong,
    ];
    v.extend(all_errors().into_iter().map(FileResponse::Err));
    v
}

#[test]
fn commands_round_trip_and_every_truncation_fails() {
    for v in VERSIONS {
        for cmd in all_commands() {
            let bytes = cmd.encode(v).expect("encodes");
            assert_eq!(FileCommand::decode(v, &bytes).expect("decodes"), cmd);
            for n in 0..bytes.len() {
                assert!(
                    FileCommand::decode(v, &bytes[..n]).is_err(),
                    "{cmd:?} cut at {n} decoded"
                );
            }
            let mut longer = bytes.clone();
            longer.push(b'x');
            assert!(
                FileCommand::decode(v, &longer).is_err(),
                "{cmd:?} with a trailing byte"
            );
        }
    }
}

#[test]
fn responses_round_trip_and_truncations_fail_or_are_shorter_values() {
    for v in VERSIONS {
        for resp in all_responses() {
            let bytes = resp.encode(v).expect("encodes");
            let expected = match &resp {
                FileResponse::Err(e) => FileResponse::Err(e.for_version(v)),
                r => r.clone(),
            };
            assert_eq!(FileResponse::decode(v, &bytes).expect("decodes"), expected);
            for n in 0..bytes.len() {
                // A cut `ERR BLOCKED ...` can read as `ERR BLOCK`, and a cut notice as no
                // notice: then the value must be the one whose bytes those are.
                if let Ok(shorter) = FileResponse::decode(v, &bytes[..n]) {
                    assert_eq!(shorter.encode(v).expect("encodes"), &bytes[..n], "{resp:?}");
                    assert!(
                        matches!(shorter, FileResponse::Err(_)),
                        "{resp:?} cut at {n}"
                    );
                }
            }
        }
    }
}

#[test]
fn blocked_is_auth_before_v3() {
    let blocked = FileResponse::Err(XftpErrorType::Blocked(BlockingInfo {
        reason: BlockingReason::Spam,
        notice: None,
    }));
    assert_eq!(blocked.encode(Version(1)).expect("v1"), b"ERR AUTH");
    assert_eq!(blocked.encode(Version(2)).expect("v2"), b"ERR AUTH");
    assert_eq!(
        blocked.encode(Version(3)).expect("v3"),
        b"ERR BLOCKED reason=spam"
    );
}

#[test]
fn empty_key_and_id_lists_are_refused() {
    assert!(FileCommand::Add { rcv_keys: vec![] }
        .encode(Version(3))
        .is_err());
    assert!(FileResponse::RcvIds(vec![]).encode(Version(3)).is_err());
    // A zero count on the wire is a syntax error.
    assert_eq!(
        FileCommand::decode(Version(3), b"FADD \x00"),
        Err(XftpError::Syntax(simplex_encoding::DecodeError::EmptyList))
    );
}

#[test]
fn unknown_tags_and_garbage() {
    assert_eq!(
        FileCommand::decode(Version(3), b"NEW"),
        Err(XftpError::UnknownTag)
    );
    assert_eq!(
        FileResponse::decode(Version(3), b"MSG x"),
        Err(XftpError::UnknownTag)
    );
    assert!(matches!(
        FileCommand::decode(Version(3), b"FGET garbage"),
        Err(XftpError::Syntax(_))
    ));
    assert!(matches!(
        FileResponse::decode(Version(3), b"ERR NOPE"),
        Err(XftpError::Syntax(_))
    ));
}

fn signer() -> PrivateSignKey {
    PrivateSignKey::Ed25519(ed_key(42))
}

#[test]
fn command_blocks_round_trip_through_the_server_checks() {
    let sess = [9u8; 32];
    for v in VERSIONS {
        for cmd in all_commands() {
            let (auth, entity): (Option<PrivateSignKey>, &[u8]) = match cmd {
                FileCommand::Ping => (None, b""),
                FileCommand::New { .. } => (Some(signer()), b""),
                _ => (Some(signer()), &[5; 24]),
            };
            let block = encode_signed_command_block(v, &sess, b"", entity, &cmd, auth.as_ref())
                .expect("block");
            assert_eq!(block.len(), XFTP_BLOCK_SIZE);
            let t = decode_server_block(v, &sess, &block).expect("accepted");
            assert_eq!(t.command, cmd);
            assert_eq!(t.authorization.is_some(), auth.is_some());
            if let (Some(key), Some(smp_proto::transmission::Authorization::Signature(sig))) =
                (&auth, &t.authorization)
            {
                assert!(simplex_crypto::verify(
                    &key.public_key(),
                    sig,
                    t.raw.signed_body()
                ));
            }
        }
    }
}

#[test]
fn server_checks_in_the_reference_order() {
    let sess = [9u8; 32];
    let v = Version(3);
    let err = |block: &[u8]| {
        decode_server_block(v, &sess, block)
            .map(|_| ())
            .map_err(|e| e.error)
    };
    let ping_signed =
        encode_signed_command_block(v, &sess, b"1", b"", &FileCommand::Ping, Some(&signer()))
            .expect("block");
    assert_eq!(
        err(&ping_signed),
        Err(XftpErrorType::Cmd(CommandError::HasAuth))
    );
    let other_session =
        encode_signed_command_block(v, &[1; 32], b"1", b"", &FileCommand::Ping, None).expect("b");
    assert_eq!(err(&other_session), Err(XftpErrorType::Session));
    let new = all_commands().remove(0);
    let unsigned_new = encode_signed_command_block(v, &sess, b"1", b"", &new, None).expect("b");
    assert_eq!(
        err(&unsigned_new),
        Err(XftpErrorType::Cmd(CommandError::NoAuth))
    );
    let new_with_entity =
        encode_signed_command_block(v, &sess, b"1", &[1; 24], &new, Some(&signer())).expect("b");
    assert_eq!(
        err(&new_with_entity),
        Err(XftpErrorType::Cmd(CommandError::HasAuth))
    );
    let put_no_entity =
        encode_signed_command_block(v, &sess, b"1", b"", &FileCommand::Put, Some(&signer()))
            .expect("b");
    assert_eq!(
        err(&put_no_entity),
        Err(XftpErrorType::Cmd(CommandError::NoAuth))
    );
    assert_eq!(err(b"garbage"), Err(XftpErrorType::Block));
    // Two transmissions in one batch are not XFTP.
    let t =
        encode_signed_command_block(v, &sess, b"1", b"", &FileCommand::Ping, None).expect("block");
    let raw = decode_raw_block(&t).expect("raw");
    let mut one = Vec::new();
    let _ = ShortBytes::encode_slice(raw.authorization, &mut one);
    one.extend_from_slice(raw.signed_body());
    let two = smp_proto::block::encode_block(&[one.clone(), one]).expect("block");
    assert_eq!(err(&two), Err(XftpErrorType::Block));
    // Unknown command: the IDs are kept for the answer.
    let mut bad = Vec::new();
    let _ = ShortBytes::encode_slice(b"", &mut bad);
    let _ = ShortBytes::encode_slice(&sess, &mut bad);
    let _ = ShortBytes::encode_slice(b"7", &mut bad);
    let _ = ShortBytes::encode_slice(&[3; 24], &mut bad);
    bad.extend_from_slice(b"FNOP");
    let block = smp_proto::block::encode_block(&[bad]).expect("block");
    let e = decode_server_block(v, &sess, &block).expect_err("refused");
    assert_eq!(e.error, XftpErrorType::Cmd(CommandError::Unknown));
    assert_eq!(
        (e.corr_id.as_slice(), e.entity_id.as_slice()),
        (&b"7"[..], &[3u8; 24][..])
    );
}

#[test]
fn response_blocks_round_trip_through_the_client_checks() {
    let sess = [8u8; 32];
    for v in VERSIONS {
        for resp in all_responses() {
            let entity: &[u8] = match resp {
                FileResponse::SndIds { .. } | FileResponse::Pong => b"",
                _ => &[4; 24],
            };
            let block = encode_response_block(v, &sess, b"c", entity, &resp).expect("block");
            let t = decode_client_block(v, &sess, &block).expect("one transmission");
            let expected = match &resp {
                FileResponse::Err(e) => FileResponse::Err(e.for_version(v)),
                r => r.clone(),
            };
            assert_eq!(t.response, Ok(expected));
            assert_eq!(t.corr_id, b"c");
        }
    }
    let ok_no_entity =
        encode_response_block(Version(3), &sess, b"c", b"", &FileResponse::Ok).expect("block");
    let t = decode_client_block(Version(3), &sess, &ok_no_entity).expect("one");
    assert_eq!(t.response, Err(XftpErrorType::Cmd(CommandError::NoEntity)));
    let pong_entity =
        encode_response_block(Version(3), &sess, b"c", b"e", &FileResponse::Pong).expect("b");
    let t = decode_client_block(Version(3), &sess, &pong_entity).expect("one");
    assert_eq!(t.response, Err(XftpErrorType::Cmd(CommandError::HasAuth)));
    let t = decode_client_block(Version(3), &[0; 32], &ok_no_entity).expect("one");
    assert_eq!(t.response, Err(XftpErrorType::Session));
    assert_eq!(
        decode_client_block(Version(3), &sess, b"x"),
        Err(XftpErrorType::Block)
    );
}

#[test]
fn every_truncated_transmission_is_a_block_error() {
    let sess = [9u8; 32];
    let block = encode_signed_command_block(
        Version(3),
        &sess,
        b"abc",
        &[1; 24],
        &FileCommand::Get {
            rcv_dh_key: dh_key(3),
        },
        Some(&signer()),
    )
    .expect("block");
    let raw = decode_raw_block(&block).expect("raw");
    let mut t = Vec::new();
    let _ = ShortBytes::encode_slice(raw.authorization, &mut t);
    t.extend_from_slice(raw.signed_body());
    for n in 0..t.len() {
        let mut batch = vec![1u8];
        let _ = Large::encode_slice(&t[..n], &mut batch);
        let b = simplex_encoding::pad(&batch, XFTP_BLOCK_SIZE).expect("pad");
        assert!(
            decode_server_block(Version(3), &sess, &b).is_err(),
            "cut at {n}"
        );
    }
}

#[test]
fn handshake_records_round_trip_and_truncations_fail() {
    let ch = XftpClientHandshake {
        version: Version(2),
        key_hash: KeyHash([5; 32]),
    };
    let bytes = ch.to_bytes();
    assert_eq!(XftpClientHandshake::decode(&bytes).expect("decodes"), ch);
    for n in 0..bytes.len() {
        assert!(XftpClientHandshake::decode(&bytes[..n]).is_err());
    }
    // Later versions may add fields: they are ignored.
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"future");
    assert_eq!(XftpClientHandshake::decode(&longer).expect("decodes"), ch);
    // A handshake body must be a whole block.
    assert!(XftpClientHandshake::decode_block(&bytes).is_err());

    for hello in [
        XftpClientHello {
            web_challenge: None,
        },
        XftpClientHello {
            web_challenge: Some([3; 32]),
        },
    ] {
        let bytes = hello.to_bytes();
        assert_eq!(XftpClientHello::decode(&bytes).expect("decodes"), hello);
        for n in 0..bytes.len() {
            assert!(XftpClientHello::decode(&bytes[..n]).is_err());
        }
    }
    // The first request's body: empty from native clients, a padded hello from web ones.
    let web = XftpClientHello {
        web_challenge: Some([3; 32]),
    };
    let block = web.encode_block().expect("block");
    assert_eq!(XftpClientHello::from_request_body(&block, true), Ok(web));
    assert_eq!(
        XftpClientHello::from_request_body(&block, false),
        Err(XftpErrorType::Handshake)
    );
    assert_eq!(
        XftpClientHello::from_request_body(b"", false),
        Ok(XftpClientHello {
            web_challenge: None
        })
    );
    assert_eq!(
        XftpClientHello::from_request_body(b"junk", true),
        Err(XftpErrorType::Handshake)
    );
    // A challenge of another length is refused.
    assert!(XftpClientHello::decode(b"1\x03abc").is_err());
}
