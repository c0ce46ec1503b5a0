//! Client commands (`protocol/simplex-messaging.md` § SMP commands; `Command`, its
//! `encodeProtocol` and `protocolP` in the reference's `Protocol.hs`).
//!
//! A command is its tag, then (for commands with parameters) a space and the parameters in
//! the binary encoding. Encoding and parsing take the negotiated version: `NEW` changed at
//! v9, v15 and v17 (see [`crate::queue`]). Tags are not gated by version, as in the
//! reference: a command of a later version parses at any version, and the server decides.

use simplex_encoding::{decode_non_empty, Decode, DecodeError, Encode, Reader, ShortBytes};

use crate::address::{BasicAuth, SmpServer};
use crate::error::{CommandError, ErrorType, ProtoError};
use crate::keys::{PublicAuthKey, PublicKeyX25519};
pub use crate::queue::{
    ContactLinkReq, MessagingLinkReq, NewNtfCreds, NewQueueReq, QueueLinkData, QueueMode,
    QueueReqData, SubscriptionMode,
};
use crate::version::{
    Version, NEW_NTF_CREDS_SMP_VERSION, SHORT_LINKS_SMP_VERSION, SND_AUTH_KEY_SMP_VERSION,
};

/// `MsgFlags`: per-message flags; only `notification` exists. One byte (`T`/`F`) on the
/// wire; a reader skips any further flag bytes up to the next space, for future flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MsgFlags {
    /// Whether the recipient's notification server should be told about the message.
    pub notification: bool,
}

impl Encode for MsgFlags {
    fn encode(&self, out: &mut Vec<u8>) {
        self.notification.encode(out)
    }
}

impl Decode for MsgFlags {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let notification = bool::decode(r)?;
        r.take_till(|b| b == b' ');
        Ok(MsgFlags { notification })
    }
}

/// A command from a client (`Command p` for every party).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `NEW`: create a queue (recipient, no entity ID). Boxed: it is by far the largest.
    New(Box<NewQueueReq>),
    /// `SUB`: subscribe to the queue (recipient).
    Sub,
    /// `SUBS` (v16): subscribe every queue associated with the service; the entity is the
    /// service ID, signed by the service's session key (recipient service).
    Subs,
    /// `KEY`: the recipient secures the queue with the sender's key.
    Key(PublicAuthKey),
    /// `RKEY`: replace the recipient keys of a contact queue (one or more; recipient).
    RKey(Vec<PublicAuthKey>),
    /// `LSET` (v15): set the queue's link ID and data (recipient).
    LSet {
        /// The link ID (must equal the stored one, if any).
        link_id: ShortBytes,
        /// The encrypted link data.
        data: QueueLinkData,
    },
    /// `LDEL` (v15): delete the queue's link data (recipient).
    LDel,
    /// `NKEY`: enable notifications: the notifier's key and the recipient's DH key.
    NKey {
        /// The notifier's authorization key.
        notifier_key: PublicAuthKey,
        /// The recipient's key to agree the notification metadata secret.
        rcv_ntf_dh_key: PublicKeyX25519,
    },
    /// `NDEL`: disable notifications (recipient).
    NDel,
    /// `GET`: get one message without subscribing (recipient).
    Get,
    /// `ACK`: acknowledge the message with this ID (recipient).
    Ack(ShortBytes),
    /// `OFF`: suspend the queue (recipient).
    Off,
    /// `DEL`: delete the queue (recipient).
    Del,
    /// `QUE`: ask for the queue's state, answered by `INFO` (recipient).
    Que,
    /// `SKEY`: the sender secures the queue with its own key (v9).
    SKey(PublicAuthKey),
    /// `LKEY` (v15): secure a messaging queue found by its link ID with the sender's key,
    /// answered by `LNK` (link client; entity = link ID).
    LKey(PublicAuthKey),
    /// `LGET` (v15): read a contact queue's link data, answered by `LNK` (unsigned; entity =
    /// link ID).
    LGet,
    /// `SEND`: send a message (sender).
    Send {
        /// The message flags.
        flags: MsgFlags,
        /// The end-to-end encrypted message.
        body: Vec<u8>,
    },
    /// `PING`: keep-alive (no entity, no authorization).
    Ping,
    /// `NSUB`: subscribe to notifications (notifier).
    NSub,
    /// `NSUBS` (v16): subscribe to the notifications of every queue associated with the
    /// service (notifier service; entity = service ID).
    NSubs,
    /// `PRXY`: ask a proxy for a session with a relay (v8).
    Prxy {
        /// The relay.
        server: SmpServer,
        /// The relay's basic-auth password, if any.
        basic_auth: Option<BasicAuth>,
    },
    /// `PFWD`: a command for the relay, encrypted for it, sent to the proxy (v8).
    Pfwd {
        /// The SMP version the client uses with the relay.
        version: Version,
        /// The client's per-command DH key.
        dh_key: PublicKeyX25519,
        /// The encrypted transmission.
        enc_transmission: Vec<u8>,
    },
    /// `RFWD`: a forwarded command, proxy to relay (v8).
    Rfwd(Vec<u8>),
}

/// Who may send a command (`Party` in the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The creator of a queue (`NEW`).
    Creator,
    /// The queue's recipient.
    Recipient,
    /// A recipient service subscribing all its queues (`SUBS`).
    RecipientService,
    /// The queue's sender.
    Sender,
    /// A client of a short link (`LKEY`, `LGET`).
    LinkClient,
    /// Anyone (`PING`).
    IdleClient,
    /// The notification server.
    Notifier,
    /// A notifier service subscribing all its queues (`NSUBS`).
    NotifierService,
    /// A client of a proxy (`PRXY`, `PFWD`).
    ProxiedClient,
    /// A proxy talking to a relay (`RFWD`).
    ProxyService,
}

impl Command {
    /// The wire tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Command::New(_) => "NEW",
            Command::Sub => "SUB",
            Command::Subs => "SUBS",
            Command::Key(_) => "KEY",
            Command::RKey(_) => "RKEY",
            Command::LSet { .. } => "LSET",
            Command::LDel => "LDEL",
            Command::LKey(_) => "LKEY",
            Command::LGet => "LGET",
            Command::NKey { .. } => "NKEY",
            Command::NDel => "NDEL",
            Command::Get => "GET",
            Command::Ack(_) => "ACK",
            Command::Off => "OFF",
            Command::Del => "DEL",
            Command::Que => "QUE",
            Command::SKey(_) => "SKEY",
            Command::Send { .. } => "SEND",
            Command::Ping => "PING",
            Command::NSub => "NSUB",
            Command::NSubs => "NSUBS",
            Command::Prxy { .. } => "PRXY",
            Command::Pfwd { .. } => "PFWD",
            Command::Rfwd(_) => "RFWD",
        }
    }

    /// Who sends this command.
    pub fn party(&self) -> Party {
        match self {
            Command::New(_) => Party::Creator,
            Command::Sub
            | Command::Key(_)
            | Command::RKey(_)
            | Command::LSet { .. }
            | Command::LDel
            | Command::NKey { .. }
            | Command::NDel
            | Command::Get
            | Command::Ack(_)
            | Command::Off
            | Command::Del
            | Command::Que => Party::Recipient,
            Command::SKey(_) | Command::Send { .. } => Party::Sender,
            Command::Ping => Party::IdleClient,
            Command::NSub => Party::Notifier,
            Command::Subs => Party::RecipientService,
            Command::NSubs => Party::NotifierService,
            Command::LKey(_) | Command::LGet => Party::LinkClient,
            Command::Prxy { .. } | Command::Pfwd { .. } => Party::ProxiedClient,
            Command::Rfwd(_) => Party::ProxyService,
        }
    }

    /// Appends the command as it is sent at version `v` (`encodeProtocol v`).
    pub fn encode(&self, v: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_bytes());
        match self {
            Command::New(req) => {
                out.push(b' ');
                encode_new(v, req, out);
            }
            Command::Key(k) | Command::SKey(k) | Command::LKey(k) => {
                out.push(b' ');
                k.encode(out);
            }
            Command::RKey(keys) => {
                out.push(b' ');
                // A list of at most 255 keys; `Command::decode` never yields more.
                out.push(u8::try_from(keys.len()).unwrap_or(u8::MAX));
                for k in keys.iter().take(255) {
                    k.encode(out);
                }
            }
            Command::LSet { link_id, data } => {
                out.push(b' ');
                link_id.encode(out);
                data.encode(out);
            }
            Command::NKey {
                notifier_key,
                rcv_ntf_dh_key,
            } => {
                out.push(b' ');
                notifier_key.encode(out);
                rcv_ntf_dh_key.encode(out);
            }
            Command::Ack(msg_id) => {
                out.push(b' ');
                msg_id.encode(out);
            }
            Command::Send { flags, body } => {
                out.push(b' ');
                flags.encode(out);
                out.push(b' ');
                out.extend_from_slice(body);
            }
            Command::Prxy { server, basic_auth } => {
                out.push(b' ');
                server.encode(out);
                basic_auth.encode(out);
            }
            Command::Pfwd {
                version,
                dh_key,
                enc_transmission,
            } => {
                out.push(b' ');
                version.encode(out);
                dh_key.encode(out);
                out.extend_from_slice(enc_transmission);
            }
            Command::Rfwd(t) => {
                out.push(b' ');
                out.extend_from_slice(t);
            }
            Command::Sub
            | Command::Subs
            | Command::LDel
            | Command::LGet
            | Command::NDel
            | Command::Get
            | Command::Off
            | Command::Del
            | Command::Que
            | Command::Ping
            | Command::NSub
            | Command::NSubs => {}
        }
    }

    /// The command as sent at version `v`, as a new vector.
    pub fn to_bytes(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Parses a whole command at version `v` (`parseProtocol`): an unknown tag is
    /// [`ProtoError::UnknownTag`] (`ERR CMD UNKNOWN`), anything else malformed is
    /// [`ProtoError::Syntax`] (`ERR CMD SYNTAX`).
    pub fn decode(v: Version, bytes: &[u8]) -> Result<Command, ProtoError> {
        let split = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        let (tag, params) = bytes.split_at(split);
        let mut r = Reader::new(params);
        let cmd = match tag {
            b"NEW" => Some(Command::New(Box::new(
                new_queue_req(v, &mut r).map_err(ProtoError::Syntax)?,
            ))),
            b"SUB" => Some(Command::Sub),
            b"SUBS" => Some(Command::Subs),
            b"KEY" => Some(Command::Key(spaced(&mut r)?)),
            b"RKEY" => {
                syntax(r.space())?;
                Some(Command::RKey(syntax(decode_non_empty(&mut r))?))
            }
            b"LSET" => {
                let link_id = spaced(&mut r)?;
                let data = syntax(QueueLinkData::decode(&mut r))?;
                Some(Command::LSet { link_id, data })
            }
            b"LDEL" => Some(Command::LDel),
            b"LKEY" => Some(Command::LKey(spaced(&mut r)?)),
            b"LGET" => Some(Command::LGet),
            b"NKEY" => {
                let notifier_key = spaced(&mut r)?;
                let rcv_ntf_dh_key = PublicKeyX25519::decode(&mut r).map_err(ProtoError::Syntax)?;
                Some(Command::NKey {
                    notifier_key,
                    rcv_ntf_dh_key,
                })
            }
            b"NDEL" => Some(Command::NDel),
            b"GET" => Some(Command::Get),
            b"ACK" => Some(Command::Ack(spaced(&mut r)?)),
            b"OFF" => Some(Command::Off),
            b"DEL" => Some(Command::Del),
            b"QUE" => Some(Command::Que),
            b"SKEY" => Some(Command::SKey(spaced(&mut r)?)),
            b"SEND" => {
                let flags = spaced(&mut r)?;
                r.space().map_err(ProtoError::Syntax)?;
                Some(Command::Send {
                    flags,
                    body: r.rest().to_vec(),
                })
            }
            b"PING" => Some(Command::Ping),
            b"NSUB" => Some(Command::NSub),
            b"NSUBS" => Some(Command::NSubs),
            b"PRXY" => {
                let server = spaced(&mut r)?;
                let basic_auth = Option::<BasicAuth>::decode(&mut r).map_err(ProtoError::Syntax)?;
                Some(Command::Prxy { server, basic_auth })
            }
            b"PFWD" => {
                let version = spaced(&mut r)?;
                let dh_key = PublicKeyX25519::decode(&mut r).map_err(ProtoError::Syntax)?;
                Some(Command::Pfwd {
                    version,
                    dh_key,
                    enc_transmission: r.rest().to_vec(),
                })
            }
            b"RFWD" => {
                r.space().map_err(ProtoError::Syntax)?;
                Some(Command::Rfwd(r.rest().to_vec()))
            }
            _ => None,
        };
        let cmd = cmd.ok_or(ProtoError::UnknownTag)?;
        r.finish().map_err(ProtoError::Syntax)?;
        Ok(cmd)
    }

    /// Checks that the authorization and entity ID are present or absent as the command
    /// requires (`checkCredentials`), giving the `ERR` to answer otherwise.
    pub fn check_credentials(&self, has_auth: bool, entity_id: &[u8]) -> Result<(), ErrorType> {
        let no_entity = entity_id.is_empty();
        let err = |e| Err(ErrorType::Cmd(e));
        match self {
            Command::New(_) if !has_auth => err(CommandError::NoAuth),
            Command::New(_) if !no_entity => err(CommandError::HasAuth),
            Command::New(_) => Ok(()),
            Command::Send { .. } if no_entity => err(CommandError::NoEntity),
            Command::Send { .. } => Ok(()),
            Command::Ping | Command::Prxy { .. } | Command::Rfwd(_) => {
                if !has_auth && no_entity {
                    Ok(())
                } else {
                    err(CommandError::HasAuth)
                }
            }
            Command::Pfwd { .. } | Command::LGet if no_entity => err(CommandError::NoEntity),
            Command::LGet if has_auth => err(CommandError::HasAuth),
            Command::LGet => Ok(()),
            Command::Pfwd { .. } if has_auth => err(CommandError::HasAuth),
            Command::Pfwd { .. } => Ok(()),
            _ if !has_auth || no_entity => err(CommandError::NoAuth),
            _ => Ok(()),
        }
    }
}

fn syntax<T>(r: Result<T, DecodeError>) -> Result<T, ProtoError> {
    r.map_err(ProtoError::Syntax)
}

/// `_smpP` for a command parameter, with a syntax error on failure.
fn spaced<T: Decode>(r: &mut Reader<'_>) -> Result<T, ProtoError> {
    r.space().map_err(ProtoError::Syntax)?;
    T::decode(r).map_err(ProtoError::Syntax)
}

/// `NEW`'s parameters at version `v` (after the space).
fn encode_new(v: Version, req: &NewQueueReq, out: &mut Vec<u8>) {
    req.rcv_auth_key.encode(out);
    req.rcv_dh_key.encode(out);
    if v >= SHORT_LINKS_SMP_VERSION {
        req.basic_auth.encode(out);
        req.sub_mode.encode(out);
        req.queue_req_data.encode(out);
        if v >= NEW_NTF_CREDS_SMP_VERSION {
            req.ntf_creds.encode(out);
        }
    } else if v >= SND_AUTH_KEY_SMP_VERSION {
        req.basic_auth.encode(out);
        req.sub_mode.encode(out);
        QueueMode::sender_can_secure(req.queue_mode()).encode(out);
    } else {
        if let Some(auth) = &req.basic_auth {
            out.push(b'A');
            auth.encode(out);
        }
        req.sub_mode.encode(out);
    }
}

fn new_queue_req(v: Version, r: &mut Reader<'_>) -> Result<NewQueueReq, DecodeError> {
    r.space()?;
    let rcv_auth_key = PublicAuthKey::decode(r)?;
    let rcv_dh_key = PublicKeyX25519::decode(r)?;
    let basic_auth = if v >= SND_AUTH_KEY_SMP_VERSION {
        Option::<BasicAuth>::decode(r)?
    } else if r.eat(b"A") {
        Some(BasicAuth::decode(r)?)
    } else {
        None
    };
    let sub_mode = SubscriptionMode::decode(r)?;
    let queue_req_data = if v >= SHORT_LINKS_SMP_VERSION {
        Option::<QueueReqData>::decode(r)?
    } else if v >= SND_AUTH_KEY_SMP_VERSION {
        let mode = QueueMode::from_sender_can_secure(bool::decode(r)?);
        Some(QueueReqData::of_mode(mode))
    } else {
        None
    };
    let ntf_creds = if v >= NEW_NTF_CREDS_SMP_VERSION {
        Option::<NewNtfCreds>::decode(r)?
    } else {
        None
    };
    Ok(NewQueueReq {
        rcv_auth_key,
        rcv_dh_key,
        basic_auth,
        sub_mode,
        queue_req_data,
        ntf_creds,
    })
}
