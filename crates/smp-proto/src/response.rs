//! Server responses and pushed messages (`protocol/simplex-messaging.md` § Server messages;
//! `BrokerMsg`, its `encodeProtocol` and `protocolP` in the reference's `Protocol.hs`).
//!
//! Version-dependent parts: `IDS` carries the sender-can-secure flag from v9, the queue mode
//! and link ID from v15, the service ID from v16 and the notifier credentials from v17;
//! `DELD` is sent as `END` before v10; `ERR BLOCKED` is sent as `ERR AUTH` before v12 and
//! without its notice before v18; `SOK` is sent as `OK` before v16. Tags are not gated by
//! version when parsing, as in the reference.

use simplex_encoding::{Decode, DecodeError, Encode, Reader, ShortBytes};

use crate::error::{CommandError, ErrorType, ProtoError};
use crate::handshake::CertChainPubKey;
use crate::keys::PublicKeyX25519;
use crate::message::RcvMessage;
use crate::queue::{QueueLinkData, QueueMode, ServerNtfCreds};
pub use crate::queue_info::{format_utc, parse_utc, MsgInfo, QueueInfo, QueueSub, SubThread};
use crate::version::{
    Version, VersionRange, DELETED_EVENT_SMP_VERSION, NEW_NTF_CREDS_SMP_VERSION,
    SERVICE_CERTS_SMP_VERSION, SHORT_LINKS_SMP_VERSION, SND_AUTH_KEY_SMP_VERSION,
};

/// The answer to `NEW` (`QueueIdsKeys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueIdsKeys {
    /// The recipient's queue ID.
    pub rcv_id: ShortBytes,
    /// The sender's queue ID.
    pub snd_id: ShortBytes,
    /// The server's key for the server-to-recipient encryption.
    pub rcv_public_dh_key: PublicKeyX25519,
    /// From v9: the queue mode, sent as "sender can secure" before v15; `None` before v9.
    pub queue_mode: Option<QueueMode>,
    /// From v15: the link ID the server made or accepted, if the queue has a link.
    pub link_id: Option<ShortBytes>,
    /// From v16: the service the queue was associated with, if any.
    pub service_id: Option<ShortBytes>,
    /// From v17: the notifier credentials, when `NEW` asked for them.
    pub server_ntf_creds: Option<ServerNtfCreds>,
}

/// A response or pushed message from the server (`BrokerMsg`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// `IDS`: the new queue's IDs and the server's DH key.
    Ids(QueueIdsKeys),
    /// `LNK` (v15): the sender ID and the link data, answering `LKEY` and `LGET`.
    Lnk {
        /// The queue's sender ID.
        snd_id: ShortBytes,
        /// The encrypted link data.
        data: QueueLinkData,
    },
    /// `SOK` (v16): `SUB`/`NSUB` succeeded; the service the queue is associated with, if any.
    /// Sent as `OK` before v16.
    Sok(Option<ShortBytes>),
    /// `SOKS` (v16): the number of queues `SUBS`/`NSUBS` subscribed.
    Soks(i64),
    /// `MSG`: a message delivered to the recipient.
    Msg(RcvMessage),
    /// `NID`: the notifier ID and the server's key for notification metadata.
    Nid {
        /// The notifier's queue ID.
        notifier_id: ShortBytes,
        /// The server's DH key for notification metadata.
        rcv_ntf_dh_key: PublicKeyX25519,
    },
    /// `NMSG`: a notification: nonce and encrypted metadata.
    Nmsg {
        /// The 24-byte nonce (raw, no length prefix).
        nonce: [u8; 24],
        /// The encrypted message metadata.
        enc_meta: ShortBytes,
    },
    /// `PKEY`: the relay's session parameters, sent by the proxy (v8).
    Pkey {
        /// The proxy–relay session ID.
        session_id: ShortBytes,
        /// The relay's version range.
        versions: VersionRange,
        /// The relay's chain and signed key.
        cert_key: CertChainPubKey,
    },
    /// `RRES`: an encrypted response, relay to proxy (v8).
    Rres(Vec<u8>),
    /// `PRES`: an encrypted response, proxy to client (v8).
    Pres(Vec<u8>),
    /// `END`: the subscription moved to another connection.
    End,
    /// `ENDS` (v16): the service's subscription of this many queues moved to another
    /// connection.
    Ends(i64),
    /// `DELD` (v10): the queue was deleted on another connection. Sent as `END` before v10.
    Deld,
    /// `INFO`: the queue's state, answering `QUE`.
    Info(QueueInfo),
    /// `OK`.
    Ok,
    /// `ERR`: an error.
    Err(ErrorType),
    /// `PONG`: the answer to `PING`.
    Pong,
}

impl Response {
    /// The wire tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Response::Ids(_) => "IDS",
            Response::Lnk { .. } => "LNK",
            Response::Sok(_) => "SOK",
            Response::Soks(_) => "SOKS",
            Response::Msg(_) => "MSG",
            Response::Nid { .. } => "NID",
            Response::Nmsg { .. } => "NMSG",
            Response::Pkey { .. } => "PKEY",
            Response::Rres(_) => "RRES",
            Response::Pres(_) => "PRES",
            Response::End => "END",
            Response::Ends(_) => "ENDS",
            Response::Deld => "DELD",
            Response::Info(_) => "INFO",
            Response::Ok => "OK",
            Response::Err(_) => "ERR",
            Response::Pong => "PONG",
        }
    }

    /// The tag sent at version `v`: `DELD` is `END` before v10 and `SOK` is `OK` before v16.
    pub fn tag_at(&self, v: Version) -> &'static str {
        match self {
            Response::Deld if v < DELETED_EVENT_SMP_VERSION => "END",
            Response::Sok(_) if v < SERVICE_CERTS_SMP_VERSION => "OK",
            r => r.tag(),
        }
    }

    /// Appends the response as sent at version `v`.
    pub fn encode(&self, v: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag_at(v).as_bytes());
        match self {
            Response::Ids(ids) => {
                out.push(b' ');
                ids.encode(v, out);
            }
            Response::Lnk { snd_id, data } => {
                out.push(b' ');
                snd_id.encode(out);
                data.encode(out);
            }
            Response::Sok(service_id) => {
                if v >= SERVICE_CERTS_SMP_VERSION {
                    out.push(b' ');
                    service_id.encode(out);
                }
            }
            Response::Soks(n) | Response::Ends(n) => {
                out.push(b' ');
                n.encode(out);
            }
            Response::Msg(m) => {
                out.push(b' ');
                m.msg_id.encode(out);
                out.extend_from_slice(&m.enc_body);
            }
            Response::Nid {
                notifier_id,
                rcv_ntf_dh_key,
            } => {
                out.push(b' ');
                notifier_id.encode(out);
                rcv_ntf_dh_key.encode(out);
            }
            Response::Nmsg { nonce, enc_meta } => {
                out.push(b' ');
                out.extend_from_slice(nonce);
                enc_meta.encode(out);
            }
            Response::Pkey {
                session_id,
                versions,
                cert_key,
            } => {
                out.push(b' ');
                session_id.encode(out);
                versions.encode(out);
                cert_key.encode(out);
            }
            Response::Rres(t) | Response::Pres(t) => {
                out.push(b' ');
                out.extend_from_slice(t);
            }
            Response::Info(info) => {
                out.push(b' ');
                info.encode_json(out);
            }
            Response::Err(e) => {
                out.push(b' ');
                e.for_version(v).encode(out);
            }
            Response::End | Response::Deld | Response::Ok | Response::Pong => {}
        }
    }

    /// The response as sent at version `v`, as a new vector.
    pub fn to_bytes(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Parses a whole response at version `v`.
    pub fn decode(v: Version, bytes: &[u8]) -> Result<Response, ProtoError> {
        let split = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        let (tag, params) = bytes.split_at(split);
        let mut r = Reader::new(params);
        let resp = match tag {
            b"IDS" => {
                syntax(r.space())?;
                Some(Response::Ids(syntax(QueueIdsKeys::decode(v, &mut r))?))
            }
            b"LNK" => {
                let snd_id = spaced(&mut r)?;
                let data = syntax(QueueLinkData::decode(&mut r))?;
                Some(Response::Lnk { snd_id, data })
            }
            b"SOK" => Some(Response::Sok(spaced(&mut r)?)),
            b"SOKS" => Some(Response::Soks(spaced(&mut r)?)),
            b"MSG" => {
                let msg_id = spaced(&mut r)?;
                Some(Response::Msg(RcvMessage {
                    msg_id,
                    enc_body: r.rest().to_vec(),
                }))
            }
            b"NID" => {
                let notifier_id = spaced(&mut r)?;
                let rcv_ntf_dh_key = syntax(PublicKeyX25519::decode(&mut r))?;
                Some(Response::Nid {
                    notifier_id,
                    rcv_ntf_dh_key,
                })
            }
            b"NMSG" => {
                syntax(r.space())?;
                let nonce = syntax(r.take(24))?;
                let mut n = [0u8; 24];
                n.copy_from_slice(nonce);
                let enc_meta = syntax(ShortBytes::decode(&mut r))?;
                Some(Response::Nmsg { nonce: n, enc_meta })
            }
            b"PKEY" => {
                let session_id = spaced(&mut r)?;
                let versions = syntax(VersionRange::decode(&mut r))?;
                let cert_key = syntax(CertChainPubKey::decode(&mut r))?;
                Some(Response::Pkey {
                    session_id,
                    versions,
                    cert_key,
                })
            }
            b"RRES" => {
                syntax(r.space())?;
                Some(Response::Rres(r.rest().to_vec()))
            }
            b"PRES" => {
                syntax(r.space())?;
                Some(Response::Pres(r.rest().to_vec()))
            }
            b"END" => Some(Response::End),
            b"ENDS" => Some(Response::Ends(spaced(&mut r)?)),
            b"DELD" => Some(Response::Deld),
            b"INFO" => {
                syntax(r.space())?;
                Some(Response::Info(syntax(QueueInfo::decode_json(r.rest()))?))
            }
            b"OK" => Some(Response::Ok),
            b"ERR" => Some(Response::Err(spaced(&mut r)?)),
            b"PONG" => Some(Response::Pong),
            _ => None,
        };
        let resp = resp.ok_or(ProtoError::UnknownTag)?;
        syntax(r.finish())?;
        Ok(resp)
    }

    /// Checks the entity ID a client received with this response (`checkCredentials` on
    /// the client side): `PONG`, `PKEY` and `RRES` have none, `IDS` and `ERR` may have one,
    /// everything else must have one.
    pub fn check_entity(&self, entity_id: &[u8]) -> Result<(), ErrorType> {
        match self {
            Response::Ids(_) | Response::Err(_) => Ok(()),
            Response::Pong | Response::Pkey { .. } | Response::Rres(_) => {
                if entity_id.is_empty() {
                    Ok(())
                } else {
                    Err(ErrorType::Cmd(CommandError::HasAuth))
                }
            }
            _ if entity_id.is_empty() => Err(ErrorType::Cmd(CommandError::NoEntity)),
            _ => Ok(()),
        }
    }
}

fn syntax<T>(r: Result<T, DecodeError>) -> Result<T, ProtoError> {
    r.map_err(ProtoError::Syntax)
}

fn spaced<T: Decode>(r: &mut Reader<'_>) -> Result<T, ProtoError> {
    syntax(r.space())?;
    syntax(T::decode(r))
}

impl QueueIdsKeys {
    /// Appends the fields as sent at version `v` (after `IDS `).
    pub fn encode(&self, v: Version, out: &mut Vec<u8>) {
        self.rcv_id.encode(out);
        self.snd_id.encode(out);
        self.rcv_public_dh_key.encode(out);
        if v >= SHORT_LINKS_SMP_VERSION {
            self.queue_mode.encode(out);
            self.link_id.encode(out);
            if v >= SERVICE_CERTS_SMP_VERSION {
                self.service_id.encode(out);
            }
            if v >= NEW_NTF_CREDS_SMP_VERSION {
                self.server_ntf_creds.encode(out);
            }
        } else if v >= SND_AUTH_KEY_SMP_VERSION {
            QueueMode::sender_can_secure(self.queue_mode).encode(out);
        }
    }

    /// Reads the fields as sent at version `v`; the fields of later versions are `None`.
    pub fn decode(v: Version, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let rcv_id = ShortBytes::decode(r)?;
        let snd_id = ShortBytes::decode(r)?;
        let rcv_public_dh_key = PublicKeyX25519::decode(r)?;
        let mut ids = QueueIdsKeys {
            rcv_id,
            snd_id,
            rcv_public_dh_key,
            queue_mode: None,
            link_id: None,
            service_id: None,
            server_ntf_creds: None,
        };
        if v >= SHORT_LINKS_SMP_VERSION {
            ids.queue_mode = Option::<QueueMode>::decode(r)?;
            ids.link_id = Option::<ShortBytes>::decode(r)?;
            if v >= SERVICE_CERTS_SMP_VERSION {
                ids.service_id = Option::<ShortBytes>::decode(r)?;
            }
            if v >= NEW_NTF_CREDS_SMP_VERSION {
                ids.server_ntf_creds = Option::<ServerNtfCreds>::decode(r)?;
            }
        } else if v >= SND_AUTH_KEY_SMP_VERSION {
            ids.queue_mode = Some(QueueMode::from_sender_can_secure(bool::decode(r)?));
        }
        Ok(ids)
    }
}
