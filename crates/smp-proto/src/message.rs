//! Messages as the server stores and delivers them (`protocol/simplex-messaging.md`
//! § Deliver queue message; `Message`, `RcvMsgBody`, `encodeRcvMsgBody` and
//! `ClientRcvMsgBody` in the reference's `Protocol.hs`).
//!
//! The server keeps each message with its ID, timestamp and flags. To deliver it, it builds
//! the recipient's plaintext (`timestamp ‖ flags ‖ ' ' ‖ body`, or `QUOTA ‖ ' ' ‖ timestamp`
//! for the marker that says the queue was full), pads it to [`RCV_MSG_BODY_PADDED_LEN`] and
//! boxes it with the queue's DH secret, using the message ID as the nonce (the boxing is the
//! server's job). The result travels in `MSG` as a [`RcvMessage`].

use simplex_encoding::{
    pad_into, Decode, DecodeError, Encode, PadError, Reader, ShortBytes, UnixTime,
};

use crate::command::MsgFlags;

/// The longest message body the server stores (`MaxMessageLen`).
pub const MAX_MESSAGE_LEN: usize = 16088;
/// The longest recipient plaintext: the body plus 16 bytes of timestamp and flags
/// (`MaxRcvMessageLen`).
pub const MAX_RCV_MESSAGE_LEN: usize = MAX_MESSAGE_LEN + 16;
/// The padded length of the recipient plaintext before boxing (`MaxRcvMessageLen + 2`).
pub const RCV_MSG_BODY_PADDED_LEN: usize = MAX_RCV_MESSAGE_LEN + 2;

const QUOTA_TAG: &[u8] = b"QUOTA";

/// A message in a queue, as the server holds it (`Message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A message sent by the sender.
    Data {
        /// Its server-assigned ID (24 bytes; also the nonce of the delivery encryption).
        msg_id: ShortBytes,
        /// When the server received it, in whole seconds.
        ts: UnixTime,
        /// Its flags.
        flags: MsgFlags,
        /// The end-to-end encrypted body, at most [`MAX_MESSAGE_LEN`] bytes.
        body: Vec<u8>,
    },
    /// The marker the server adds when the queue became full (`MessageQuota`).
    Quota {
        /// Its ID.
        msg_id: ShortBytes,
        /// When the queue became full.
        ts: UnixTime,
    },
}

impl Message {
    /// The message ID.
    pub fn msg_id(&self) -> &ShortBytes {
        match self {
            Message::Data { msg_id, .. } | Message::Quota { msg_id, .. } => msg_id,
        }
    }

    /// The timestamp.
    pub fn ts(&self) -> UnixTime {
        match self {
            Message::Data { ts, .. } | Message::Quota { ts, .. } => *ts,
        }
    }

    /// What the recipient will see after decryption.
    pub fn rcv_body(&self) -> RcvMsgBody {
        match self {
            Message::Data {
                ts, flags, body, ..
            } => RcvMsgBody::Data {
                ts: *ts,
                flags: *flags,
                body: body.clone(),
            },
            Message::Quota { ts, .. } => RcvMsgBody::Quota { ts: *ts },
        }
    }

    /// Appends the padded recipient plaintext ([`RCV_MSG_BODY_PADDED_LEN`] bytes), ready to be
    /// boxed with the nonce [`Message::msg_id`]. Fails only for a body over
    /// [`MAX_MESSAGE_LEN`].
    pub fn encode_rcv_body_padded(&self, out: &mut Vec<u8>) -> Result<(), PadError> {
        let mut plain = Vec::with_capacity(RCV_MSG_BODY_PADDED_LEN);
        match self {
            Message::Data {
                ts, flags, body, ..
            } => {
                if body.len() > MAX_MESSAGE_LEN {
                    return Err(PadError::TooLarge {
                        len: body.len(),
                        padded_len: RCV_MSG_BODY_PADDED_LEN,
                    });
                }
                encode_data(*ts, *flags, body, &mut plain);
            }
            Message::Quota { ts, .. } => encode_quota(*ts, &mut plain),
        }
        pad_into(&plain, RCV_MSG_BODY_PADDED_LEN, out)
    }
}

fn encode_data(ts: UnixTime, flags: MsgFlags, body: &[u8], out: &mut Vec<u8>) {
    ts.encode(out);
    flags.encode(out);
    out.push(b' ');
    out.extend_from_slice(body);
}

fn encode_quota(ts: UnixTime, out: &mut Vec<u8>) {
    out.extend_from_slice(QUOTA_TAG);
    out.push(b' ');
    ts.encode(out);
}

/// The recipient's plaintext of a delivered message, unpadded (`ClientRcvMsgBody`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcvMsgBody {
    /// A message: `timestamp ‖ flags ‖ ' ' ‖ body`.
    Data {
        /// The server's timestamp.
        ts: UnixTime,
        /// The flags.
        flags: MsgFlags,
        /// The end-to-end encrypted body.
        body: Vec<u8>,
    },
    /// The quota marker: `QUOTA ‖ ' ' ‖ timestamp`.
    Quota {
        /// The server's timestamp.
        ts: UnixTime,
    },
}

impl Encode for RcvMsgBody {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RcvMsgBody::Data { ts, flags, body } => encode_data(*ts, *flags, body, out),
            RcvMsgBody::Quota { ts } => encode_quota(*ts, out),
        }
    }
}

impl Decode for RcvMsgBody {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut q = r.clone();
        if q.eat(QUOTA_TAG) {
            if let Ok(ts) = q.space().and_then(|_| UnixTime::decode(&mut q)) {
                *r = q;
                return Ok(RcvMsgBody::Quota { ts });
            }
        }
        let ts = UnixTime::decode(r)?;
        let flags = MsgFlags::decode(r)?;
        r.space()?;
        Ok(RcvMsgBody::Data {
            ts,
            flags,
            body: r.rest().to_vec(),
        })
    }
}

/// The payload of `MSG`: the message ID and the body boxed for the recipient
/// (`RcvMessage` with `EncRcvMsgBody`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvMessage {
    /// The message ID, also the nonce of the box.
    pub msg_id: ShortBytes,
    /// The boxed, padded [`RcvMsgBody`].
    pub enc_body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_encoding::{decode_all, unpad};

    fn id() -> ShortBytes {
        ShortBytes::new(vec![7; 24]).expect("24 bytes")
    }

    #[test]
    fn data_body_layout() {
        let m = Message::Data {
            msg_id: id(),
            ts: UnixTime(0x0102030405060708),
            flags: MsgFlags { notification: true },
            body: b"hello".to_vec(),
        };
        let mut out = Vec::new();
        m.encode_rcv_body_padded(&mut out).expect("fits");
        assert_eq!(out.len(), 16106);
        let plain = unpad(&out).expect("unpads");
        assert_eq!(plain, b"\x01\x02\x03\x04\x05\x06\x07\x08T hello");
        assert_eq!(decode_all::<RcvMsgBody>(plain), Ok(m.rcv_body()));
    }

    #[test]
    fn quota_layout() {
        let m = Message::Quota {
            msg_id: id(),
            ts: UnixTime(1),
        };
        let mut out = Vec::new();
        m.encode_rcv_body_padded(&mut out).expect("fits");
        let plain = unpad(&out).expect("unpads");
        assert_eq!(plain, b"QUOTA \0\0\0\0\0\0\0\x01");
        assert_eq!(
            decode_all::<RcvMsgBody>(plain),
            Ok(RcvMsgBody::Quota { ts: UnixTime(1) })
        );
    }

    #[test]
    fn largest_body_fits_and_one_more_does_not() {
        let mk = |n| Message::Data {
            msg_id: id(),
            ts: UnixTime(0),
            flags: MsgFlags::default(),
            body: vec![0; n],
        };
        let mut out = Vec::new();
        assert!(mk(MAX_MESSAGE_LEN).encode_rcv_body_padded(&mut out).is_ok());
        assert!(mk(MAX_MESSAGE_LEN + 1)
            .encode_rcv_body_padded(&mut Vec::new())
            .is_err());
    }

    #[test]
    fn future_flags_are_skipped() {
        let body = decode_all::<RcvMsgBody>(b"\0\0\0\0\0\0\0\x05FXYZ body").expect("decodes");
        assert_eq!(
            body,
            RcvMsgBody::Data {
                ts: UnixTime(5),
                flags: MsgFlags {
                    notification: false
                },
                body: b"body".to_vec()
            }
        );
    }
}
