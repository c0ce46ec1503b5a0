//! The per-queue e2e layer around an agent envelope, and the confirmation it yields
//! (`ClientMsgEnvelope`, `PubHeader`, `ClientMessage`, `PrivHeader` in `Protocol.hs`;
//! `SMPConfirmation` in `Agent/Protocol.hs`).
//!
//! ```text
//! ClientMsgEnvelope = PubHeader(client version, Maybe e2e DH key) nonce(24) Tail(crypto_box)
//! ClientMessage     = PrivHeader('K' sender key | '_') Tail(AgentMsgEnvelope)
//! ```
//!
//! The crypto_box itself (padding to the SMP e2e lengths, the DH secret) is the agent's.

use simplex_crypto::CbNonce;
use simplex_encoding::{Decode, DecodeError, Encode, Reader};
use smp_proto::keys::{PublicAuthKey, PublicKeyX25519};

use crate::envelope::AgentMessage;
use crate::queue::SmpQueueInfo;
use crate::version::Version;

/// The clear header of a per-queue encrypted message (`PubHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubHeader {
    /// The sender's SMP client version.
    pub version: Version,
    /// The sender's DH key, present in confirmations and invitations.
    pub e2e_pub_dh_key: Option<PublicKeyX25519>,
}

impl Encode for PubHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.e2e_pub_dh_key.encode(out);
    }
}

impl Decode for PubHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PubHeader {
            version: r.read()?,
            e2e_pub_dh_key: r.read()?,
        })
    }
}

/// A per-queue encrypted message as sent in `SEND` (`ClientMsgEnvelope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsgEnvelope {
    /// The clear header.
    pub header: PubHeader,
    /// The crypto_box nonce.
    pub nonce: CbNonce,
    /// The crypto_box of a padded [`ClientMessage`].
    pub enc_body: Vec<u8>,
}

impl Encode for ClientMsgEnvelope {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        self.nonce.encode(out);
        out.extend_from_slice(&self.enc_body);
    }
}

impl Decode for ClientMsgEnvelope {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ClientMsgEnvelope {
            header: r.read()?,
            nonce: r.read()?,
            enc_body: r.rest().to_vec(),
        })
    }
}

/// The private header inside the per-queue box (`PrivHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // short-lived, decoded once per message
pub enum PrivHeader {
    /// `K`: a confirmation carrying the key the recipient secures the queue with.
    Confirmation(PublicAuthKey),
    /// `_`: nothing (messages, and confirmations on queues the sender secures itself).
    Empty,
}

impl Encode for PrivHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            PrivHeader::Confirmation(k) => {
                out.push(b'K');
                k.encode(out);
            }
            PrivHeader::Empty => out.push(b'_'),
        }
    }
}

impl Decode for PrivHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'K' => Ok(PrivHeader::Confirmation(r.read()?)),
            b'_' => Ok(PrivHeader::Empty),
            _ => Err(DecodeError::InvalidTag { what: "PrivHeader" }),
        }
    }
}

/// The plaintext of the per-queue box (`ClientMessage`): the private header and the encoded
/// agent envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// The private header.
    pub header: PrivHeader,
    /// The encoded [`crate::AgentMsgEnvelope`].
    pub body: Vec<u8>,
}

impl Encode for ClientMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        out.extend_from_slice(&self.body);
    }
}

impl Decode for ClientMessage {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ClientMessage {
            header: r.read()?,
            body: r.rest().to_vec(),
        })
    }
}

/// A confirmation as the receiving agent sees it (`SMPConfirmation`). It has no encoding of
/// its own: it is assembled from the clear header, the private header and the decrypted
/// agent message of a confirmation ([`SmpConfirmation::from_parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmpConfirmation {
    /// The key to secure the queue with, when the sender did not secure it itself.
    pub sender_key: Option<PublicAuthKey>,
    /// The sender's DH key for the per-queue e2e encryption.
    pub e2e_pub_key: PublicKeyX25519,
    /// The sender's conn info.
    pub conn_info: Vec<u8>,
    /// The reply queues (agent v2+ duplex handshake), possibly none.
    pub smp_reply_queues: Vec<SmpQueueInfo>,
    /// The sender's SMP client version.
    pub smp_client_version: Version,
}

impl SmpConfirmation {
    /// Assembles a confirmation; `None` when the parts are not one (no DH key in the clear
    /// header, or an agent message other than conn info).
    pub fn from_parts(
        pub_header: &PubHeader,
        priv_header: &PrivHeader,
        agent_message: &AgentMessage,
    ) -> Option<Self> {
        let sender_key = match priv_header {
            PrivHeader::Confirmation(k) => Some(k.clone()),
            PrivHeader::Empty => None,
        };
        let (conn_info, smp_reply_queues) = match agent_message {
            AgentMessage::ConnInfo(info) => (info.clone(), Vec::new()),
            AgentMessage::ConnInfoReply {
                smp_queues,
                conn_info,
            } => (conn_info.clone(), smp_queues.clone()),
            _ => return None,
        };
        Some(SmpConfirmation {
            sender_key,
            e2e_pub_key: pub_header.e2e_pub_dh_key?,
            conn_info,
            smp_reply_queues,
            smp_client_version: pub_header.version,
        })
    }

    /// The parts a sender writes for this confirmation: the clear header, the private header
    /// and the agent message (conn info, with the reply queues when there are any).
    pub fn to_parts(&self) -> (PubHeader, PrivHeader, AgentMessage) {
        let pub_header = PubHeader {
            version: self.smp_client_version,
            e2e_pub_dh_key: Some(self.e2e_pub_key),
        };
        let priv_header = match &self.sender_key {
            Some(k) => PrivHeader::Confirmation(k.clone()),
            None => PrivHeader::Empty,
        };
        let msg = if self.smp_reply_queues.is_empty() {
            AgentMessage::ConnInfo(self.conn_info.clone())
        } else {
            AgentMessage::ConnInfoReply {
                smp_queues: self.smp_reply_queues.clone(),
                conn_info: self.conn_info.clone(),
            }
        };
        (pub_header, priv_header, msg)
    }
}
