//! The parameters of queue creation and their answers: `NEW`'s request (`NewQueueReq`,
//! `QueueReqData`, `NewNtfCreds`) and the parts of `IDS` and `LNK` that describe a queue
//! (`QueueMode`, link data, `ServerNtfCreds`), as in the reference's `Protocol.hs`.
//!
//! Version gates of `NEW` (encoded by [`crate::command::Command::encode`]): before v9 an
//! optional `A`+password then the subscription mode; v9–14 the password as `Maybe`, the mode
//! and a "sender can secure" flag; v15–16 the queue data (`Maybe QueueReqData`) instead of the
//! flag; from v17 also the notifier credentials.

use simplex_encoding::{Decode, DecodeError, Encode, Large, Reader, ShortBytes};

use crate::address::BasicAuth;
use crate::keys::{PublicAuthKey, PublicKeyX25519};

/// `QueueMode`: a messaging queue (the sender may secure it with `SKEY`) or a contact queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueMode {
    /// `M`: one sender, who secures the queue.
    Messaging,
    /// `C`: a contact address queue, secured by the recipient.
    Contact,
}

impl QueueMode {
    /// `senderCanSecure`: only messaging queues.
    pub fn sender_can_secure(mode: Option<QueueMode>) -> bool {
        mode == Some(QueueMode::Messaging)
    }

    /// The mode a v9 `sender can secure` flag stands for.
    pub fn from_sender_can_secure(can: bool) -> QueueMode {
        if can {
            QueueMode::Messaging
        } else {
            QueueMode::Contact
        }
    }
}

impl Encode for QueueMode {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            QueueMode::Messaging => b'M',
            QueueMode::Contact => b'C',
        })
    }
}

impl Decode for QueueMode {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'M' => Ok(QueueMode::Messaging),
            b'C' => Ok(QueueMode::Contact),
            _ => Err(DecodeError::InvalidTag { what: "QueueMode" }),
        }
    }
}

/// `SubscriptionMode`: whether `NEW` also subscribes the creating connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionMode {
    /// `S`: create and subscribe.
    Subscribe,
    /// `C`: only create.
    OnlyCreate,
}

impl Encode for SubscriptionMode {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            SubscriptionMode::Subscribe => b'S',
            SubscriptionMode::OnlyCreate => b'C',
        })
    }
}

impl Decode for SubscriptionMode {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'S' => Ok(SubscriptionMode::Subscribe),
            b'C' => Ok(SubscriptionMode::OnlyCreate),
            _ => Err(DecodeError::InvalidTag {
                what: "SubscriptionMode",
            }),
        }
    }
}

/// `QueueLinkData`: the encrypted fixed and user parts of a short link's data, each a
/// `Large` string (`EncDataBytes`). The server stores them without reading them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueLinkData {
    /// `EncFixedDataBytes`: set once, with the queue or the first `LSET`.
    pub fixed: Large,
    /// `EncUserDataBytes`: replaced by `LSET`.
    pub user: Large,
}

impl Encode for QueueLinkData {
    fn encode(&self, out: &mut Vec<u8>) {
        self.fixed.encode(out);
        self.user.encode(out);
    }
}

impl Decode for QueueLinkData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(QueueLinkData {
            fixed: Large::decode(r)?,
            user: Large::decode(r)?,
        })
    }
}

/// The link of a contact queue requested in `NEW`: the link ID, the sender ID (which the
/// server checks against the correlation ID) and the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactLinkReq {
    /// The link ID (derived from the link key by the client).
    pub link_id: ShortBytes,
    /// The sender ID: the first 24 bytes of SHA3-384 of the `NEW` correlation ID.
    pub snd_id: ShortBytes,
    /// The encrypted link data.
    pub data: QueueLinkData,
}

/// The link of a messaging queue requested in `NEW` (the server makes the link ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingLinkReq {
    /// The sender ID: the first 24 bytes of SHA3-384 of the `NEW` correlation ID.
    pub snd_id: ShortBytes,
    /// The encrypted link data.
    pub data: QueueLinkData,
}

/// `QueueReqData`: the queue's mode and, optionally, its short link (v15+; from v9 only the
/// mode is sent, as "sender can secure").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueReqData {
    /// `M`: a messaging queue (an invitation), optionally with link data.
    Messaging(Option<MessagingLinkReq>),
    /// `C`: a contact queue (an address), optionally with a link.
    Contact(Option<ContactLinkReq>),
}

impl QueueReqData {
    /// The queue mode (`queueReqMode`).
    pub fn mode(&self) -> QueueMode {
        match self {
            QueueReqData::Messaging(_) => QueueMode::Messaging,
            QueueReqData::Contact(_) => QueueMode::Contact,
        }
    }

    /// The mode alone, without link data (what a v9–14 `NEW` carries).
    pub fn of_mode(mode: QueueMode) -> Self {
        match mode {
            QueueMode::Messaging => QueueReqData::Messaging(None),
            QueueMode::Contact => QueueReqData::Contact(None),
        }
    }

    /// The sender ID the client chose, when link data is present.
    pub fn snd_id(&self) -> Option<&ShortBytes> {
        match self {
            QueueReqData::Messaging(Some(l)) => Some(&l.snd_id),
            QueueReqData::Contact(Some(l)) => Some(&l.snd_id),
            _ => None,
        }
    }
}

impl Encode for QueueReqData {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            QueueReqData::Messaging(link) => {
                out.push(b'M');
                match link {
                    None => out.push(b'0'),
                    Some(l) => {
                        out.push(b'1');
                        l.snd_id.encode(out);
                        l.data.encode(out);
                    }
                }
            }
            QueueReqData::Contact(link) => {
                out.push(b'C');
                match link {
                    None => out.push(b'0'),
                    Some(l) => {
                        out.push(b'1');
                        l.link_id.encode(out);
                        l.snd_id.encode(out);
                        l.data.encode(out);
                    }
                }
            }
        }
    }
}

/// `Maybe`'s tag: `'0'` for none, `'1'` for some.
fn maybe_tag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        b'0' => Ok(false),
        b'1' => Ok(true),
        _ => Err(DecodeError::InvalidTag { what: "Maybe" }),
    }
}

impl Decode for QueueReqData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'M' => {
                let link = if maybe_tag(r)? {
                    Some(MessagingLinkReq {
                        snd_id: ShortBytes::decode(r)?,
                        data: QueueLinkData::decode(r)?,
                    })
                } else {
                    None
                };
                Ok(QueueReqData::Messaging(link))
            }
            b'C' => {
                let link = if maybe_tag(r)? {
                    Some(ContactLinkReq {
                        link_id: ShortBytes::decode(r)?,
                        snd_id: ShortBytes::decode(r)?,
                        data: QueueLinkData::decode(r)?,
                    })
                } else {
                    None
                };
                Ok(QueueReqData::Contact(link))
            }
            _ => Err(DecodeError::InvalidTag {
                what: "QueueReqData",
            }),
        }
    }
}

/// `NewNtfCreds` (v17): the notifier's key and the recipient's DH key for notification
/// metadata, so that `NEW` also enables notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNtfCreds {
    /// The notifier's authorization key.
    pub notifier_key: PublicAuthKey,
    /// The recipient's key to agree the notification metadata secret.
    pub rcv_ntf_dh_key: PublicKeyX25519,
}

impl Encode for NewNtfCreds {
    fn encode(&self, out: &mut Vec<u8>) {
        self.notifier_key.encode(out);
        self.rcv_ntf_dh_key.encode(out);
    }
}

impl Decode for NewNtfCreds {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NewNtfCreds {
            notifier_key: PublicAuthKey::decode(r)?,
            rcv_ntf_dh_key: PublicKeyX25519::decode(r)?,
        })
    }
}

/// `ServerNtfCreds` (v17): what `IDS` returns for [`NewNtfCreds`]: the notifier ID and the
/// server's DH key for notification metadata (as `NID` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNtfCreds {
    /// The notifier's queue ID.
    pub notifier_id: ShortBytes,
    /// The server's DH key for notification metadata.
    pub srv_ntf_dh_key: PublicKeyX25519,
}

impl Encode for ServerNtfCreds {
    fn encode(&self, out: &mut Vec<u8>) {
        self.notifier_id.encode(out);
        self.srv_ntf_dh_key.encode(out);
    }
}

impl Decode for ServerNtfCreds {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ServerNtfCreds {
            notifier_id: ShortBytes::decode(r)?,
            srv_ntf_dh_key: PublicKeyX25519::decode(r)?,
        })
    }
}

/// The parameters of `NEW` (`NewQueueReq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQueueReq {
    /// The recipient's key that authorizes its commands (Ed25519, Ed448 or X25519 from v7).
    pub rcv_auth_key: PublicAuthKey,
    /// The recipient's key for the server-to-recipient message encryption.
    pub rcv_dh_key: PublicKeyX25519,
    /// The server's password for creating queues, if it has one.
    pub basic_auth: Option<BasicAuth>,
    /// Whether to subscribe at once.
    pub sub_mode: SubscriptionMode,
    /// The queue's mode and link (v9+: only the mode is sent before v15, as "sender can
    /// secure", and `None` is sent as a contact queue). Decoded as `None` before v9.
    pub queue_req_data: Option<QueueReqData>,
    /// v17+: create the notifier credentials with the queue (not sent before v17).
    pub ntf_creds: Option<NewNtfCreds>,
}

impl NewQueueReq {
    /// The requested queue mode, if any.
    pub fn queue_mode(&self) -> Option<QueueMode> {
        self.queue_req_data.as_ref().map(QueueReqData::mode)
    }
}
