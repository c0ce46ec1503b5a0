//! Between the wire types of `smp-proto` and the core's [`Request`]/[`Reply`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use simplex_crypto::nacl::CbAuthenticator;
use simplex_encoding::{Large, ShortBytes};
use smp_proto::command::{Command, QueueMode as WireMode, SubscriptionMode};
use smp_proto::error::{BlockingInfo, CommandError, ErrorType};
use smp_proto::message::RcvMessage;
use smp_proto::queue::{QueueLinkData, QueueReqData, ServerNtfCreds};
use smp_proto::response::{
    MsgInfo, QueueIdsKeys, QueueInfo as WireInfo, QueueSub, Response, SubThread,
};
use smp_proto::transmission::{Authorization as WireAuth, ServerTransmission};

use crate::core::{Authorization, Cmd, ErrorKind, NewLink, QueueInfo, Reply, Request};
use crate::store::{QueueLink, QueueMode};

fn mode_in(m: WireMode) -> QueueMode {
    match m {
        WireMode::Messaging => QueueMode::Messaging,
        WireMode::Contact => QueueMode::Contact,
    }
}

/// The link `NEW` asks for, if any.
fn new_link(d: &QueueReqData) -> Option<NewLink> {
    let (link_id, snd_id, data) = match d {
        QueueReqData::Messaging(Some(l)) => (None, &l.snd_id, &l.data),
        QueueReqData::Contact(Some(l)) => (Some(l.link_id.as_slice().to_vec()), &l.snd_id, &l.data),
        _ => return None,
    };
    Some(NewLink {
        snd_id: snd_id.as_slice().to_vec(),
        link_id,
        fixed: data.fixed.as_slice().to_vec(),
        user: data.user.as_slice().to_vec(),
    })
}

/// A transmission refused before the core sees it: the correlation ID and entity ID to answer
/// with, and the error.
pub type Refused = (Vec<u8>, Vec<u8>, ErrorType);

/// The core's request for a decoded transmission (taken by value: a `SEND` body moves into
/// the request without a copy); `Err` is the error to answer with (proxy commands are not
/// served by this relay: `ERR CMD PROHIBITED`).
pub fn request(t: ServerTransmission<'_>, session_id: &[u8]) -> Result<Request, Refused> {
    let corr_id = t.raw.corr_id.to_vec();
    let entity_id = t.raw.entity_id.to_vec();
    let cmd = match t.command {
        Command::New(n) => Cmd::New {
            rcv_auth_key: n.rcv_auth_key,
            rcv_dh_key: n.rcv_dh_key,
            basic_auth: n.basic_auth.as_ref().map(|a| a.as_bytes().to_vec()),
            subscribe: n.sub_mode == SubscriptionMode::Subscribe,
            queue_mode: n.queue_req_data.as_ref().map(|d| mode_in(d.mode())),
            link: n.queue_req_data.as_ref().and_then(new_link).map(Box::new),
            ntf: n
                .ntf_creds
                .map(|c| Box::new((c.notifier_key, c.rcv_ntf_dh_key))),
        },
        Command::LSet { link_id, data } => Cmd::LSet(Box::new(QueueLink {
            link_id: link_id.as_slice().to_vec(),
            fixed: data.fixed.as_slice().to_vec(),
            user: data.user.as_slice().to_vec(),
        })),
        Command::LDel => Cmd::LDel,
        Command::LKey(k) => Cmd::LKey(k),
        Command::LGet => Cmd::LGet,
        Command::Sub => Cmd::Sub,
        Command::Key(k) => Cmd::Key(k),
        Command::SKey(k) => Cmd::SKey(k),
        Command::NKey {
            notifier_key,
            rcv_ntf_dh_key,
        } => Cmd::NKey {
            notifier_key,
            rcv_ntf_dh_key,
        },
        Command::NDel => Cmd::NDel,
        Command::Get => Cmd::Get,
        Command::Ack(id) => Cmd::Ack(id.as_slice().to_vec()),
        Command::Off => Cmd::Off,
        Command::Del => Cmd::Del,
        Command::Que => Cmd::Que,
        Command::Send { flags, body } => Cmd::Send {
            notification: flags.notification,
            body,
        },
        Command::Ping => Cmd::Ping,
        Command::NSub => Cmd::NSub,
        Command::RKey(keys) => Cmd::RKey(keys),
        Command::Subs => Cmd::Subs,
        Command::NSubs => Cmd::NSubs,
        _ => return Err((corr_id, entity_id, ErrorType::Cmd(CommandError::Prohibited))),
    };
    let auth = match &t.authorization {
        None => Authorization::None,
        Some(WireAuth::Signature(s)) => Authorization::Signature(*s),
        Some(WireAuth::Authenticator(a)) => Authorization::Authenticator(CbAuthenticator(*a)),
    };
    Ok(Request {
        corr_id,
        entity_id,
        auth,
        authorized: t.raw.authorized(session_id).into_owned(),
        service_sig: t.raw.service_sig,
        cmd,
    })
}

fn short(b: &[u8]) -> ShortBytes {
    // Invariant: IDs made by the server are 24 bytes; IDs echoed back were read as short bytes.
    ShortBytes::from_slice(b).unwrap_or_default()
}

/// The wire error for a core error.
pub fn error(e: ErrorKind) -> ErrorType {
    match e {
        ErrorKind::Auth => ErrorType::Auth,
        // The stored info is the reference's `reason=…[,notice=…]`; anything else is AUTH,
        // which is also what clients below v12 get.
        ErrorKind::Blocked(info) => simplex_encoding::decode_all::<BlockingInfo>(info.as_bytes())
            .map_or(ErrorType::Auth, ErrorType::Blocked),
        ErrorKind::Quota => ErrorType::Quota,
        ErrorKind::NoMsg => ErrorType::NoMsg,
        ErrorKind::LargeMsg => ErrorType::LargeMsg,
        ErrorKind::Internal => ErrorType::Internal,
        ErrorKind::Prohibited => ErrorType::Cmd(CommandError::Prohibited),
        ErrorKind::Service => ErrorType::Service,
    }
}

fn info(i: QueueInfo) -> WireInfo {
    WireInfo {
        has_sender: i.secured,
        has_notifier: i.notifier,
        sub: i.sub.map(|(get, delivered)| QueueSub {
            thread: if get {
                SubThread::ProhibitSub
            } else {
                SubThread::NoSub
            },
            delivered: delivered.map(|d| STANDARD.encode(d)),
        }),
        size: i64::try_from(i.size).unwrap_or(i64::MAX),
        msg: i.first.map(|(id, ts, quota)| MsgInfo {
            msg_id: STANDARD.encode(id),
            ts,
            quota,
        }),
    }
}

/// The wire response for a core reply.
pub fn response(r: Reply) -> Response {
    match r {
        Reply::Ids {
            rcv_id,
            snd_id,
            srv_dh_key,
            queue_mode,
            link_id,
            ntf,
            service_id,
        } => Response::Ids(QueueIdsKeys {
            rcv_id: short(&rcv_id),
            snd_id: short(&snd_id),
            rcv_public_dh_key: srv_dh_key,
            queue_mode: queue_mode.map(|m| match m {
                QueueMode::Messaging => WireMode::Messaging,
                QueueMode::Contact => WireMode::Contact,
            }),
            link_id: link_id.as_deref().map(short),
            service_id: service_id.as_deref().map(short),
            server_ntf_creds: ntf.map(|(id, key)| ServerNtfCreds {
                notifier_id: short(&id),
                srv_ntf_dh_key: key,
            }),
        }),
        Reply::Lnk {
            snd_id,
            fixed,
            user,
        } => Response::Lnk {
            snd_id: short(&snd_id),
            data: QueueLinkData {
                // Invariant: link data came from a `Large` or a store log line whose parser
                // refuses longer data.
                fixed: Large::new(fixed).unwrap_or_default(),
                user: Large::new(user).unwrap_or_default(),
            },
        },
        Reply::Ok => Response::Ok,
        Reply::Sok(sid) => Response::Sok(sid.as_deref().map(short)),
        Reply::Soks(n) => Response::Soks(n),
        Reply::Ends(n) => Response::Ends(n),
        Reply::Msg { msg_id, enc_body } => Response::Msg(RcvMessage {
            msg_id: short(&msg_id),
            enc_body,
        }),
        Reply::End => Response::End,
        Reply::Deld => Response::Deld,
        Reply::Nid {
            notifier_id,
            srv_ntf_dh_key,
        } => Response::Nid {
            notifier_id: short(&notifier_id),
            rcv_ntf_dh_key: srv_ntf_dh_key,
        },
        Reply::NMsg {
            nonce, enc_meta, ..
        } => Response::Nmsg {
            nonce,
            enc_meta: short(&enc_meta),
        },
        Reply::Info(i) => Response::Info(info(i)),
        Reply::Pong => Response::Pong,
        Reply::Err(e) => Response::Err(error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp_proto::error::{BlockingReason, ClientNotice};
    use smp_proto::Version;

    #[test]
    fn a_blocked_queue_answers_blocked_from_v12_and_auth_before() {
        let e = error(ErrorKind::Blocked(
            "reason=content,notice={\"ttl\":60}".into(),
        ));
        assert_eq!(
            e,
            ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Content,
                notice: Some(ClientNotice { ttl: Some(60) }),
            })
        );
        let r = Response::Err(e);
        assert_eq!(r.to_bytes(Version(11)), b"ERR AUTH");
        assert_eq!(r.to_bytes(Version(12)), b"ERR BLOCKED reason=content");
        assert_eq!(
            r.to_bytes(Version(18)),
            b"ERR BLOCKED reason=content,notice={\"ttl\":60}"
        );
        // Stored info that does not parse is AUTH, as for older clients.
        assert_eq!(error(ErrorKind::Blocked("junk".into())), ErrorType::Auth);
    }
}
