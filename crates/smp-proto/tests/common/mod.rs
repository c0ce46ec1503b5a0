//! Fixtures shared by the round-trip, version and fuzz-seed tests: one value of every
//! command, response and record variant, and the versions to check them at.
#![allow(dead_code)]

use simplex_crypto::{
    KeyHash, PrivateKeyEd25519, PrivateKeyEd448, PublicAuthKey, PublicKeyX25519, Signature,
};
use simplex_encoding::ShortBytes;
use smp_proto::address::{BasicAuth, SmpServer, TransportHost};
use smp_proto::command::{
    Command, ContactLinkReq, MessagingLinkReq, MsgFlags, NewNtfCreds, NewQueueReq, QueueLinkData,
    QueueMode, QueueReqData, SubscriptionMode,
};
use smp_proto::error::{CommandError, ErrorType};
use smp_proto::handshake::{CertChainPubKey, SignatureAlgorithm, SignedKey};
use smp_proto::message::RcvMessage;
use smp_proto::queue::ServerNtfCreds;
use smp_proto::response::{MsgInfo, QueueIdsKeys, QueueInfo, QueueSub, Response, SubThread};
use smp_proto::version::Version;

/// Every version this crate speaks (there is no v13 in the reference, but the encodings are
/// defined by "at least" gates, so it is checked too).
pub const VERSIONS: [Version; 13] = [
    Version(6),
    Version(7),
    Version(8),
    Version(9),
    Version(10),
    Version(11),
    Version(12),
    Version(13),
    Version(14),
    Version(15),
    Version(16),
    Version(17),
    Version(18),
];

pub fn link_data() -> QueueLinkData {
    QueueLinkData {
        fixed: simplex_encoding::Large::new(vec![0xf1; 300]).expect("fits"),
        user: simplex_encoding::Large::new(vec![0xe2; 20]).expect("fits"),
    }
}

pub fn queue_req_datas() -> Vec<Option<QueueReqData>> {
    vec![
        None,
        Some(QueueReqData::Messaging(None)),
        Some(QueueReqData::Contact(None)),
        Some(QueueReqData::Messaging(Some(MessagingLinkReq {
            snd_id: sb(&[0x51; 24]),
            data: link_data(),
        }))),
        Some(QueueReqData::Contact(Some(ContactLinkReq {
            link_id: sb(&[0x4c; 24]),
            snd_id: sb(&[0x51; 24]),
            data: link_data(),
        }))),
    ]
}

pub fn sb(b: &[u8]) -> ShortBytes {
    ShortBytes::from_slice(b).expect("short")
}

pub fn x25519(n: u8) -> PublicKeyX25519 {
    PublicKeyX25519::from_raw(&[n; 32]).expect("any 32 bytes")
}

pub fn ed25519() -> PrivateKeyEd25519 {
    PrivateKeyEd25519::from_raw(&[7; 32]).expect("seed")
}

pub fn auth_keys() -> Vec<PublicAuthKey> {
    vec![
        PublicAuthKey::Ed25519(ed25519().public_key()),
        PublicAuthKey::Ed448(
            PrivateKeyEd448::from_raw(&[3; 57])
                .expect("raw")
                .public_key(),
        ),
        PublicAuthKey::X25519(x25519(5)),
    ]
}

pub fn server() -> SmpServer {
    SmpServer {
        hosts: vec![
            TransportHost::Domain("smp.example.com".into()),
            TransportHost::Onion("abcdefgh.onion".into()),
        ],
        port: Some(5223),
        key_hash: KeyHash::from([0x2d; 32]),
    }
}

pub fn signed_key() -> SignedKey {
    let k = ed25519();
    SignedKey::build(&x25519(9), SignatureAlgorithm::Ed25519, |m| {
        Signature::Ed25519(k.sign(m))
    })
    .expect("builds")
}

pub fn cert_key() -> CertChainPubKey {
    CertChainPubKey {
        cert_chain: vec![vec![0x30; 300], vec![0x31; 20]],
        signed_key: signed_key(),
    }
}

pub fn all_commands() -> Vec<Command> {
    let mut cmds = Vec::new();
    for k in auth_keys() {
        for basic_auth in [None, Some(BasicAuth::new(b"pass").expect("valid"))] {
            for sub_mode in [SubscriptionMode::Subscribe, SubscriptionMode::OnlyCreate] {
                for queue_req_data in queue_req_datas() {
                    for ntf_creds in [
                        None,
                        Some(NewNtfCreds {
                            notifier_key: k.clone(),
                            rcv_ntf_dh_key: x25519(6),
                        }),
                    ] {
                        cmds.push(Command::New(Box::new(NewQueueReq {
                            rcv_auth_key: k.clone(),
                            rcv_dh_key: x25519(1),
                            basic_auth: basic_auth.clone(),
                            sub_mode,
                            queue_req_data: queue_req_data.clone(),
                            ntf_creds,
                        })));
                    }
                }
            }
        }
        cmds.push(Command::Key(k.clone()));
        cmds.push(Command::SKey(k.clone()));
        cmds.push(Command::LKey(k.clone()));
        cmds.push(Command::NKey {
            notifier_key: k,
            rcv_ntf_dh_key: x25519(2),
        });
    }
    cmds.push(Command::RKey(vec![PublicAuthKey::X25519(x25519(5))]));
    cmds.push(Command::RKey(auth_keys()));
    cmds.extend([
        Command::Sub,
        Command::Subs,
        Command::NSubs,
        Command::LDel,
        Command::LGet,
        Command::LSet {
            link_id: sb(&[0x4c; 24]),
            data: link_data(),
        },
        Command::LSet {
            link_id: sb(&[0x4c; 24]),
            data: QueueLinkData::default(),
        },
        Command::NDel,
        Command::Get,
        Command::Ack(sb(&[4; 24])),
        Command::Off,
        Command::Del,
        Command::Que,
        Command::Send {
            flags: MsgFlags { notification: true },
            body: b"hello".to_vec(),
        },
        Command::Send {
            flags: MsgFlags {
                notification: false,
            },
            body: Vec::new(),
        },
        Command::Ping,
        Command::NSub,
        Command::Prxy {
            server: server(),
            basic_auth: None,
        },
        Command::Prxy {
            server: server(),
            basic_auth: Some(BasicAuth::new(b"x").expect("ok")),
        },
        Command::Pfwd {
            version: Version(9),
            dh_key: x25519(3),
            enc_transmission: vec![1; 50],
        },
        Command::Rfwd(vec![2; 40]),
    ]);
    cmds
}

pub fn all_responses() -> Vec<Response> {
    let mut rs = Vec::new();
    for queue_mode in [None, Some(QueueMode::Messaging), Some(QueueMode::Contact)] {
        for (link_id, service_id, server_ntf_creds) in [
            (None, None, None),
            (
                Some(sb(&[0x4c; 24])),
                Some(sb(&[0x53; 32])),
                Some(ServerNtfCreds {
                    notifier_id: sb(&[0x4e; 24]),
                    srv_ntf_dh_key: x25519(8),
                }),
            ),
        ] {
            rs.push(Response::Ids(QueueIdsKeys {
                rcv_id: sb(&[1; 24]),
                snd_id: sb(&[2; 24]),
                rcv_public_dh_key: x25519(4),
                queue_mode,
                link_id,
                service_id,
                server_ntf_creds,
            }));
        }
    }
    rs.extend([
        Response::Lnk {
            snd_id: sb(&[2; 24]),
            data: link_data(),
        },
        Response::Sok(None),
        Response::Sok(Some(sb(&[0x53; 32]))),
        Response::Soks(0),
        Response::Soks(1_234_567_890_123),
        Response::Ends(-1),
        Response::Deld,
    ]);
    rs.extend([
        Response::Msg(RcvMessage {
            msg_id: sb(&[5; 24]),
            enc_body: vec![6; 100],
        }),
        Response::Nid {
            notifier_id: sb(&[7; 24]),
            rcv_ntf_dh_key: x25519(8),
        },
        Response::Nmsg {
            nonce: [9; 24],
            enc_meta: sb(&[10; 60]),
        },
        Response::Pkey {
            session_id: sb(&[11; 32]),
            versions: smp_proto::SERVER_VERSIONS,
            cert_key: cert_key(),
        },
        Response::Rres(vec![12; 30]),
        Response::Pres(vec![13; 30]),
        Response::End,
        Response::Info(QueueInfo {
            has_sender: false,
            has_notifier: true,
            sub: None,
            size: 0,
            msg: None,
        }),
        Response::Info(QueueInfo {
            has_sender: true,
            has_notifier: false,
            sub: Some(QueueSub {
                thread: SubThread::SubPending,
                delivered: None,
            }),
            size: 3,
            msg: Some(MsgInfo {
                msg_id: "AQ==".into(),
                ts: 1_700_000_000,
                quota: true,
            }),
        }),
        Response::Ok,
        Response::Pong,
    ]);
    for e in [
        ErrorType::Block,
        ErrorType::Session,
        ErrorType::Auth,
        ErrorType::Quota,
        ErrorType::NoMsg,
        ErrorType::LargeMsg,
        ErrorType::Crypto,
        ErrorType::Expired,
        ErrorType::Internal,
        ErrorType::Duplicate,
        ErrorType::Cmd(CommandError::Syntax),
        ErrorType::Cmd(CommandError::Prohibited),
        ErrorType::Service,
        ErrorType::Store("db".into()),
        ErrorType::Blocked(smp_proto::BlockingInfo {
            reason: smp_proto::error::BlockingReason::Spam,
            notice: None,
        }),
        ErrorType::Blocked(smp_proto::BlockingInfo {
            reason: smp_proto::error::BlockingReason::Content,
            notice: Some(smp_proto::error::ClientNotice { ttl: Some(3600) }),
        }),
        ErrorType::Blocked(smp_proto::BlockingInfo {
            reason: smp_proto::error::BlockingReason::Spam,
            notice: Some(smp_proto::error::ClientNotice { ttl: None }),
        }),
    ] {
        rs.push(Response::Err(e));
    }
    rs
}
