//! XFTP responses (`FileResponse` in the reference's `Protocol.hs`).

use simplex_crypto::{CbNonce, PublicKeyX25519};
use simplex_encoding::{
    decode_non_empty, encode_list, Decode, DecodeError, Encode, Reader, ShortBytes,
};
use smp_proto::CommandError;

use crate::error::{XftpError, XftpErrorType};
use crate::version::Version;

/// An XFTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileResponse {
    /// `SIDS`: the new chunk's sender ID and one ID per recipient key (answers `FNEW`).
    SndIds {
        /// The sender's chunk ID.
        sender_id: ShortBytes,
        /// The recipients' chunk IDs, in the order of their keys.
        recipient_ids: Vec<ShortBytes>,
    },
    /// `RIDS`: the added recipients' IDs (answers `FADD`).
    RcvIds(Vec<ShortBytes>),
    /// `FILE`: the server's DH key and nonce for the chunk body that follows (answers `FGET`).
    File {
        /// The server's ephemeral X25519 key.
        srv_dh_key: PublicKeyX25519,
        /// The nonce of the body's encryption.
        nonce: CbNonce,
    },
    /// `OK`.
    Ok,
    /// `ERR`.
    Err(XftpErrorType),
    /// `PONG` (answers `PING`).
    Pong,
}

impl FileResponse {
    /// The tag.
    pub fn tag(&self) -> &'static [u8] {
        match self {
            FileResponse::SndIds { .. } => b"SIDS",
            FileResponse::RcvIds(_) => b"RIDS",
            FileResponse::File { .. } => b"FILE",
            FileResponse::Ok => b"OK",
            FileResponse::Err(_) => b"ERR",
            FileResponse::Pong => b"PONG",
        }
    }

    /// The response's bytes at version `v`: `ERR BLOCKED` is sent as `ERR AUTH` before v3.
    /// Fails when an ID list is empty or longer than 255.
    pub fn encode(&self, v: Version) -> Result<Vec<u8>, XftpError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(self.tag());
        match self {
            FileResponse::SndIds {
                sender_id,
                recipient_ids,
            } => {
                out.push(b' ');
                sender_id.encode(&mut out);
                encode_ids(recipient_ids, &mut out)?;
            }
            FileResponse::RcvIds(ids) => {
                out.push(b' ');
                encode_ids(ids, &mut out)?;
            }
            FileResponse::File { srv_dh_key, nonce } => {
                out.push(b' ');
                srv_dh_key.encode(&mut out);
                nonce.encode(&mut out);
            }
            FileResponse::Err(e) => {
                out.push(b' ');
                e.for_version(v).encode(&mut out);
            }
            FileResponse::Ok | FileResponse::Pong => {}
        }
        Ok(out)
    }

    /// Parses a response received at version `v`.
    pub fn decode(_v: Version, bytes: &[u8]) -> Result<FileResponse, XftpError> {
        let tag_len = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        let (tag, params) = bytes.split_at(tag_len);
        let mut r = Reader::new(params);
        let syntax = XftpError::Syntax;
        let space = |r: &mut Reader<'_>| r.space().map_err(XftpError::Syntax);
        let resp = match tag {
            b"SIDS" => {
                space(&mut r)?;
                FileResponse::SndIds {
                    sender_id: ShortBytes::decode(&mut r).map_err(syntax)?,
                    recipient_ids: decode_non_empty(&mut r).map_err(syntax)?,
                }
            }
            b"RIDS" => {
                space(&mut r)?;
                FileResponse::RcvIds(decode_non_empty(&mut r).map_err(syntax)?)
            }
            b"FILE" => {
                space(&mut r)?;
                FileResponse::File {
                    srv_dh_key: PublicKeyX25519::decode(&mut r).map_err(syntax)?,
                    nonce: CbNonce::decode(&mut r).map_err(syntax)?,
                }
            }
            b"OK" => FileResponse::Ok,
            b"ERR" => {
                space(&mut r)?;
                FileResponse::Err(XftpErrorType::decode(&mut r).map_err(syntax)?)
            }
            b"PONG" => FileResponse::Pong,
            _ => return Err(XftpError::UnknownTag),
        };
        r.finish().map_err(syntax)?;
        Ok(resp)
    }

    /// The reference's client-side `checkCredentials`: `SIDS` and `PONG` carry no entity ID,
    /// `ERR` may or may not, every other response must.
    pub fn check_entity(&self, entity_id: &[u8]) -> Result<(), XftpErrorType> {
        match self {
            FileResponse::SndIds { .. } | FileResponse::Pong if !entity_id.is_empty() => {
                Err(XftpErrorType::Cmd(CommandError::HasAuth))
            }
            FileResponse::SndIds { .. } | FileResponse::Pong | FileResponse::Err(_) => Ok(()),
            _ if entity_id.is_empty() => Err(XftpErrorType::Cmd(CommandError::NoEntity)),
            _ => Ok(()),
        }
    }
}

fn encode_ids(ids: &[ShortBytes], out: &mut Vec<u8>) -> Result<(), XftpError> {
    if ids.is_empty() {
        return Err(XftpError::Decode(DecodeError::EmptyList));
    }
    Ok(encode_list(ids, out)?)
}
