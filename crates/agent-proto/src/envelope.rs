//! Agent envelopes and agent messages (`AgentMsgEnvelope`, `AgentMessage`, `APrivHeader`,
//! `AMessage`, `AMessageReceipt`, `AgentMessageType` in `Agent/Protocol.hs`;
//! `protocol/agent-protocol.md` § Messages between SMP agents).
//!
//! An envelope is what the per-queue e2e layer carries:
//!
//! ```text
//! C  confirmation:  version 'C' Maybe(X3DH params) Tail(ratchet-encrypted AgentMessage)
//! M  message:       version 'M' Tail(ratchet-encrypted AgentMessage)
//! I  invitation:    version 'I' Large(link string) Tail(conn info)   (to a contact address)
//! R  ratchet key:   version 'R' X3DH params Tail(info)               (ratchet re-sync)
//! ```
//!
//! Inside the ratchet, an [`AgentMessage`] is conn info (`I`), conn info with reply queues
//! (`D`), ratchet info (`R`), or a message (`M`) with the sender's sequential ID, the hash of
//! the previous message, and one [`AMessage`]. No layout depends on the agent version (2-7);
//! the X3DH records follow their E2E version, queue addresses their SMP client version.

use simplex_encoding::{Decode, DecodeError, Encode, Reader};
use simplex_ratchet::{E2ERatchetParams, RKemParams, X448};
use smp_proto::keys::PublicAuthKey;
use smp_proto::SmpQueueUri;

use crate::link::ConnectionRequest;
use crate::queue::{
    decode_queue_uri, encode_queue_uri, put_large, put_list, put_short, read_non_empty,
    read_queue_infos, SmpQueueInfo, SndQAddr,
};
use crate::version::Version;

/// The X3DH parameters of a confirmation or ratchet-key envelope (X448 keys).
pub type E2EParams = E2ERatchetParams<X448>;

/// What an SMP message body carries between agents (`AgentMsgEnvelope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMsgEnvelope {
    /// `C`: the joining party's confirmation, with its X3DH parameters when it starts the
    /// ratchet here (not when accepting a contact's invitation).
    Confirmation {
        /// Agent version.
        agent_version: Version,
        /// The sender's X3DH parameters (KEM proposed, accepted or none).
        e2e_encryption: Option<E2EParams>,
        /// The ratchet-encrypted [`AgentMessage`] (conn info).
        enc_conn_info: Vec<u8>,
    },
    /// `M`: a ratchet-encrypted [`AgentMessage`].
    Message {
        /// Agent version.
        agent_version: Version,
        /// The ratchet-encrypted message.
        enc_agent_message: Vec<u8>,
    },
    /// `I`: an invitation sent to a contact address, encrypted only per queue.
    Invitation {
        /// Agent version.
        agent_version: Version,
        /// The invitation link the contact should join.
        conn_req: crate::link::InvitationRequest,
        /// The sender's profile or other info, in clear inside the per-queue box.
        conn_info: Vec<u8>,
    },
    /// `R`: new X3DH parameters to re-synchronise the ratchet.
    RatchetKey {
        /// Agent version.
        agent_version: Version,
        /// The sender's X3DH parameters (KEM proposed or none).
        e2e_encryption: E2EParams,
        /// The ratchet-encrypted [`AgentMessage::RatchetInfo`].
        info: Vec<u8>,
    },
}

fn check_proposed(p: &E2EParams) -> Result<(), DecodeError> {
    match p.kem {
        Some(RKemParams::Accepted(..)) => Err(DecodeError::Invalid("ratchet KEM state")),
        _ => Ok(()),
    }
}

impl AgentMsgEnvelope {
    /// The agent version in the envelope.
    pub fn agent_version(&self) -> Version {
        match self {
            AgentMsgEnvelope::Confirmation { agent_version, .. }
            | AgentMsgEnvelope::Message { agent_version, .. }
            | AgentMsgEnvelope::Invitation { agent_version, .. }
            | AgentMsgEnvelope::RatchetKey { agent_version, .. } => *agent_version,
        }
    }
}

impl Encode for AgentMsgEnvelope {
    fn encode(&self, out: &mut Vec<u8>) {
        self.agent_version().encode(out);
        match self {
            AgentMsgEnvelope::Confirmation {
                e2e_encryption,
                enc_conn_info,
                ..
            } => {
                out.push(b'C');
                e2e_encryption.encode(out);
                out.extend_from_slice(enc_conn_info);
            }
            AgentMsgEnvelope::Message {
                enc_agent_message, ..
            } => {
                out.push(b'M');
                out.extend_from_slice(enc_agent_message);
            }
            AgentMsgEnvelope::Invitation {
                conn_req,
                conn_info,
                ..
            } => {
                out.push(b'I');
                let link = ConnectionRequest::Invitation(conn_req.clone()).to_string();
                // A link is a few KB; one over 64 KiB cannot be sent and would be cut.
                put_large(link.as_bytes(), out);
                out.extend_from_slice(conn_info);
            }
            AgentMsgEnvelope::RatchetKey {
                e2e_encryption,
                info,
                ..
            } => {
                out.push(b'R');
                e2e_encryption.encode(out);
                out.extend_from_slice(info);
            }
        }
    }
}

impl Decode for AgentMsgEnvelope {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let agent_version = Version::decode(r)?;
        match r.u8()? {
            b'C' => Ok(AgentMsgEnvelope::Confirmation {
                agent_version,
                e2e_encryption: r.read()?,
                enc_conn_info: r.rest().to_vec(),
            }),
            b'M' => Ok(AgentMsgEnvelope::Message {
                agent_version,
                enc_agent_message: r.rest().to_vec(),
            }),
            b'I' => {
                let link = r.large_bytes()?;
                let conn_req = match ConnectionRequest::parse(link) {
                    Ok(ConnectionRequest::Invitation(i)) => i,
                    _ => return Err(DecodeError::Invalid("invitation link")),
                };
                Ok(AgentMsgEnvelope::Invitation {
                    agent_version,
                    conn_req,
                    conn_info: r.rest().to_vec(),
                })
            }
            b'R' => {
                let e2e_encryption: E2EParams = r.read()?;
                check_proposed(&e2e_encryption)?;
                Ok(AgentMsgEnvelope::RatchetKey {
                    agent_version,
                    e2e_encryption,
                    info: r.rest().to_vec(),
                })
            }
            _ => Err(DecodeError::InvalidTag {
                what: "AgentMsgEnvelope",
            }),
        }
    }
}

/// The sequential ID and previous-message hash of every agent message (`APrivHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct APrivHeader {
    /// The ID the sending agent gave this message, one more than the previous one's.
    pub snd_msg_id: i64,
    /// The hash (SHA-256) of the previous message sent on the connection, empty for the first.
    pub prev_msg_hash: Vec<u8>,
}

impl Encode for APrivHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.snd_msg_id.encode(out);
        put_short(&self.prev_msg_hash, out);
    }
}

impl Decode for APrivHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(APrivHeader {
            snd_msg_id: r.i64()?,
            prev_msg_hash: r.short_bytes()?.to_vec(),
        })
    }
}

/// A message after ratchet decryption (`AgentMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage {
    /// `I`: the initiating party's conn info when confirming the reply queue.
    ConnInfo(Vec<u8>),
    /// `D` ("duplex", v2+): the joining party's reply queues and conn info.
    ConnInfoReply {
        /// The reply queues, never empty.
        smp_queues: Vec<SmpQueueInfo>,
        /// The conn info (e.g. a profile).
        conn_info: Vec<u8>,
    },
    /// `R`: the info of a ratchet re-synchronisation.
    RatchetInfo(Vec<u8>),
    /// `M`: an agent message with its header.
    Message {
        /// Sequential ID and previous hash.
        header: APrivHeader,
        /// The message.
        message: AMessage,
    },
}

impl Encode for AgentMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            AgentMessage::ConnInfo(info) => {
                out.push(b'I');
                out.extend_from_slice(info);
            }
            AgentMessage::ConnInfoReply {
                smp_queues,
                conn_info,
            } => {
                out.push(b'D');
                put_list(smp_queues, out, |q, out| q.encode(out));
                out.extend_from_slice(conn_info);
            }
            AgentMessage::RatchetInfo(info) => {
                out.push(b'R');
                out.extend_from_slice(info);
            }
            AgentMessage::Message { header, message } => {
                out.push(b'M');
                header.encode(out);
                message.encode(out);
            }
        }
    }
}

impl Decode for AgentMessage {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'I' => Ok(AgentMessage::ConnInfo(r.rest().to_vec())),
            b'D' => Ok(AgentMessage::ConnInfoReply {
                smp_queues: read_queue_infos(r)?,
                conn_info: r.rest().to_vec(),
            }),
            b'R' => Ok(AgentMessage::RatchetInfo(r.rest().to_vec())),
            b'M' => Ok(AgentMessage::Message {
                header: r.read()?,
                message: r.read()?,
            }),
            _ => Err(DecodeError::InvalidTag {
                what: "AgentMessage",
            }),
        }
    }
}

/// A delivery receipt (`AMessageReceipt`, agent v4+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AMessageReceipt {
    /// The sender's ID of the message being acknowledged.
    pub agent_msg_id: i64,
    /// The hash of that message.
    pub msg_hash: Vec<u8>,
    /// Application data about the receipt.
    pub rcpt_info: Vec<u8>,
}

impl Encode for AMessageReceipt {
    fn encode(&self, out: &mut Vec<u8>) {
        self.agent_msg_id.encode(out);
        put_short(&self.msg_hash, out);
        put_large(&self.rcpt_info, out);
    }
}

impl Decode for AMessageReceipt {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AMessageReceipt {
            agent_msg_id: r.i64()?,
            msg_hash: r.short_bytes()?.to_vec(),
            rcpt_info: r.large_bytes()?.to_vec(),
        })
    }
}

/// A queue offered in `QADD`, with the address of the queue it replaces, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAdd {
    /// The new queue.
    pub queue: SmpQueueUri,
    /// The queue it replaces.
    pub replaces: Option<SndQAddr>,
}

/// A queue confirmed in `QKEY`, with the key to secure it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKey {
    /// The queue at the negotiated client version.
    pub queue: SmpQueueInfo,
    /// The sender's key to authorize its commands.
    pub sender_key: PublicAuthKey,
}

/// Messages between agents once a queue is secured (`AMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AMessage {
    /// `H`: the first message, confirming the queue is secured.
    Hello,
    /// `M`: a client message body.
    AMsg(Vec<u8>),
    /// `V`: delivery receipts (v4+), never empty.
    ARcvd(Vec<AMessageReceipt>),
    /// `QC`: continue sending after a full queue (`A_QCONT`).
    AQCont(SndQAddr),
    /// `QA`: queues added by the recipient (queue rotation), never empty.
    QAdd(Vec<QueueAdd>),
    /// `QK`: keys for the added queues, from the sender, never empty.
    QKey(Vec<QueueKey>),
    /// `QU`: the queues are ready (with whether the sender should use them), never empty.
    QUse(Vec<(SndQAddr, bool)>),
    /// `QT`: test messages on new queues, completing the switch, never empty.
    QTest(Vec<SndQAddr>),
    /// `E`: ratchet re-synchronisation complete, with the last decrypted sender message ID.
    EReady(i64),
}

impl AMessage {
    /// The tag of the message.
    pub fn tag(&self) -> &'static [u8] {
        match self {
            AMessage::Hello => b"H",
            AMessage::AMsg(_) => b"M",
            AMessage::ARcvd(_) => b"V",
            AMessage::AQCont(_) => b"QC",
            AMessage::QAdd(_) => b"QA",
            AMessage::QKey(_) => b"QK",
            AMessage::QUse(_) => b"QU",
            AMessage::QTest(_) => b"QT",
            AMessage::EReady(_) => b"E",
        }
    }
}

impl Encode for AMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag());
        match self {
            AMessage::Hello => {}
            AMessage::AMsg(body) => out.extend_from_slice(body),
            AMessage::ARcvd(rs) => put_list(rs, out, |r, out| r.encode(out)),
            AMessage::AQCont(a) => a.encode(out),
            AMessage::QAdd(qs) => put_list(qs, out, |q, out| {
                encode_queue_uri(&q.queue, out);
                q.replaces.encode(out);
            }),
            AMessage::QKey(qs) => put_list(qs, out, |q, out| {
                q.queue.encode(out);
                q.sender_key.encode(out);
            }),
            AMessage::QUse(qs) => put_list(qs, out, |q, out| q.encode(out)),
            AMessage::QTest(qs) => put_list(qs, out, |q, out| q.encode(out)),
            AMessage::EReady(id) => id.encode(out),
        }
    }
}

impl Decode for AMessage {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bad = DecodeError::InvalidTag { what: "AMsgType" };
        match r.u8()? {
            b'H' => Ok(AMessage::Hello),
            b'M' => Ok(AMessage::AMsg(r.rest().to_vec())),
            b'V' => Ok(AMessage::ARcvd(read_non_empty(r, AMessageReceipt::decode)?)),
            b'E' => Ok(AMessage::EReady(r.i64()?)),
            b'Q' => match r.u8()? {
                b'C' => Ok(AMessage::AQCont(r.read()?)),
                b'A' => Ok(AMessage::QAdd(read_non_empty(r, |r| {
                    Ok(QueueAdd {
                        queue: decode_queue_uri(r)?,
                        replaces: r.read()?,
                    })
                })?)),
                b'K' => Ok(AMessage::QKey(read_non_empty(r, |r| {
                    Ok(QueueKey {
                        queue: r.read()?,
                        sender_key: r.read()?,
                    })
                })?)),
                b'U' => Ok(AMessage::QUse(read_non_empty(
                    r,
                    <(SndQAddr, bool)>::decode,
                )?)),
                b'T' => Ok(AMessage::QTest(read_non_empty(r, SndQAddr::decode)?)),
                _ => Err(bad),
            },
            _ => Err(bad),
        }
    }
}

/// The kind of an agent message, as the agent stores it (`AgentMessageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentMessageType {
    /// `C`: conn info.
    ConnInfo,
    /// `D`: conn info with reply queues.
    ConnInfoReply,
    /// `S`: ratchet info.
    RatchetInfo,
    /// `H`: `HELLO`.
    Hello,
    /// `M`: `A_MSG`.
    AMsg,
    /// `V`: `A_RCVD`.
    ARcvd,
    /// `QC`: `A_QCONT`.
    QCont,
    /// `QA`: `QADD`.
    QAdd,
    /// `QK`: `QKEY`.
    QKey,
    /// `QU`: `QUSE`.
    QUse,
    /// `QT`: `QTEST`.
    QTest,
    /// `E`: `EREADY`.
    EReady,
}

impl AgentMessageType {
    /// Every type, in the reference's order.
    pub const ALL: [AgentMessageType; 12] = [
        AgentMessageType::ConnInfo,
        AgentMessageType::ConnInfoReply,
        AgentMessageType::RatchetInfo,
        AgentMessageType::Hello,
        AgentMessageType::AMsg,
        AgentMessageType::ARcvd,
        AgentMessageType::QCont,
        AgentMessageType::QAdd,
        AgentMessageType::QKey,
        AgentMessageType::QUse,
        AgentMessageType::QTest,
        AgentMessageType::EReady,
    ];

    /// The stored tag.
    pub fn tag(self) -> &'static [u8] {
        match self {
            AgentMessageType::ConnInfo => b"C",
            AgentMessageType::ConnInfoReply => b"D",
            AgentMessageType::RatchetInfo => b"S",
            AgentMessageType::Hello => b"H",
            AgentMessageType::AMsg => b"M",
            AgentMessageType::ARcvd => b"V",
            AgentMessageType::QCont => b"QC",
            AgentMessageType::QAdd => b"QA",
            AgentMessageType::QKey => b"QK",
            AgentMessageType::QUse => b"QU",
            AgentMessageType::QTest => b"QT",
            AgentMessageType::EReady => b"E",
        }
    }

    /// The type of a message (`agentMessageType`).
    pub fn of(msg: &AgentMessage) -> Self {
        match msg {
            AgentMessage::ConnInfo(_) => AgentMessageType::ConnInfo,
            AgentMessage::ConnInfoReply { .. } => AgentMessageType::ConnInfoReply,
            AgentMessage::RatchetInfo(_) => AgentMessageType::RatchetInfo,
            AgentMessage::Message { message, .. } => match message {
                AMessage::Hello => AgentMessageType::Hello,
                AMessage::AMsg(_) => AgentMessageType::AMsg,
                AMessage::ARcvd(_) => AgentMessageType::ARcvd,
                AMessage::AQCont(_) => AgentMessageType::QCont,
                AMessage::QAdd(_) => AgentMessageType::QAdd,
                AMessage::QKey(_) => AgentMessageType::QKey,
                AMessage::QUse(_) => AgentMessageType::QUse,
                AMessage::QTest(_) => AgentMessageType::QTest,
                AMessage::EReady(_) => AgentMessageType::EReady,
            },
        }
    }
}

impl Encode for AgentMessageType {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag());
    }
}

impl Decode for AgentMessageType {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bad = DecodeError::InvalidTag {
            what: "AgentMessageType",
        };
        let first = r.u8()?;
        let t = match first {
            b'C' => AgentMessageType::ConnInfo,
            b'D' => AgentMessageType::ConnInfoReply,
            b'S' => AgentMessageType::RatchetInfo,
            b'H' => AgentMessageType::Hello,
            b'M' => AgentMessageType::AMsg,
            b'V' => AgentMessageType::ARcvd,
            b'E' => AgentMessageType::EReady,
            b'Q' => match r.u8()? {
                b'C' => AgentMessageType::QCont,
                b'A' => AgentMessageType::QAdd,
                b'K' => AgentMessageType::QKey,
                b'U' => AgentMessageType::QUse,
                b'T' => AgentMessageType::QTest,
                _ => return Err(bad),
            },
            _ => return Err(bad),
        };
        Ok(t)
    }
}
