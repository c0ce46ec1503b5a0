//! XFTP commands (`FileCommand` and `FileInfo` in the reference's `Protocol.hs`).
//!
//! A command is its four-letter tag, then for those with parameters a space and their binary
//! encoding; the tag is everything up to the first space. Parameters are read to the end:
//! trailing bytes are a syntax error (`CMD SYNTAX`), an unknown tag is `CMD UNKNOWN`.

use simplex_crypto::{PublicAuthKey, PublicKeyX25519};
use simplex_encoding::{
    decode_non_empty, encode_list, Decode, DecodeError, Encode, Reader, ShortBytes,
};
use smp_proto::{BasicAuth, CommandError};

use crate::error::{XftpError, XftpErrorType};
use crate::version::Version;

/// Who sends a command: the file's sender or one of its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileParty {
    /// A recipient (`FGET`, `FACK`, `PING`); `recipient` in descriptions.
    Recipient,
    /// The sender (`FNEW`, `FADD`, `FPUT`, `FDEL`); `sender` in descriptions.
    Sender,
}

impl FileParty {
    /// The name used in file descriptions.
    pub fn as_str(self) -> &'static str {
        match self {
            FileParty::Recipient => "recipient",
            FileParty::Sender => "sender",
        }
    }

    /// Parses the name used in file descriptions.
    pub fn parse(s: &str) -> Option<FileParty> {
        match s {
            "recipient" => Some(FileParty::Recipient),
            "sender" => Some(FileParty::Sender),
            _ => None,
        }
    }
}

/// The chunk a sender registers with `FNEW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The key that authorizes the sender's later commands on this chunk.
    pub snd_key: PublicAuthKey,
    /// The chunk size (one of the allowed sizes, else the server answers `SIZE`).
    pub size: u32,
    /// The SHA-256 of the chunk.
    pub digest: ShortBytes,
}

impl Encode for FileInfo {
    fn encode(&self, out: &mut Vec<u8>) {
        self.snd_key.encode(out);
        self.size.encode(out);
        self.digest.encode(out);
    }
}

impl Decode for FileInfo {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FileInfo {
            snd_key: PublicAuthKey::decode(r)?,
            size: u32::decode(r)?,
            digest: ShortBytes::decode(r)?,
        })
    }
}

/// An XFTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCommand {
    /// `FNEW`: register a chunk with its recipients' keys (and the server password if any).
    New {
        /// The chunk.
        file: FileInfo,
        /// One key per recipient, 1–255.
        rcv_keys: Vec<PublicAuthKey>,
        /// The server's basic-auth password for creating files.
        auth: Option<BasicAuth>,
    },
    /// `FADD`: add recipients to a chunk.
    Add {
        /// One key per new recipient, 1–255.
        rcv_keys: Vec<PublicAuthKey>,
    },
    /// `FPUT`: upload the chunk (the body follows the block).
    Put,
    /// `FDEL`: delete the chunk.
    Del,
    /// `FGET`: download the chunk, encrypted for this DH key.
    Get {
        /// The recipient's ephemeral X25519 key.
        rcv_dh_key: PublicKeyX25519,
    },
    /// `FACK`: acknowledge a download (not sent by the apps).
    Ack,
    /// `PING`: keep-alive.
    Ping,
}

impl FileCommand {
    /// The party that sends this command.
    pub fn party(&self) -> FileParty {
        match self {
            FileCommand::New { .. } | FileCommand::Add { .. } | FileCommand::Put => {
                FileParty::Sender
            }
            FileCommand::Del => FileParty::Sender,
            FileCommand::Get { .. } | FileCommand::Ack | FileCommand::Ping => FileParty::Recipient,
        }
    }

    /// The four-letter tag.
    pub fn tag(&self) -> &'static [u8] {
        match self {
            FileCommand::New { .. } => b"FNEW",
            FileCommand::Add { .. } => b"FADD",
            FileCommand::Put => b"FPUT",
            FileCommand::Del => b"FDEL",
            FileCommand::Get { .. } => b"FGET",
            FileCommand::Ack => b"FACK",
            FileCommand::Ping => b"PING",
        }
    }

    /// The command's bytes at version `v` (all versions 1–3 encode commands alike). Fails
    /// when a key list is empty or longer than 255.
    pub fn encode(&self, _v: Version) -> Result<Vec<u8>, XftpError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(self.tag());
        match self {
            FileCommand::New {
                file,
                rcv_keys,
                auth,
            } => {
                out.push(b' ');
                file.encode(&mut out);
                encode_keys(rcv_keys, &mut out)?;
                auth.encode(&mut out);
            }
            FileCommand::Add { rcv_keys } => {
                out.push(b' ');
                encode_keys(rcv_keys, &mut out)?;
            }
            FileCommand::Get { rcv_dh_key } => {
                out.push(b' ');
                rcv_dh_key.encode(&mut out);
            }
            FileCommand::Put | FileCommand::Del | FileCommand::Ack | FileCommand::Ping => {}
        }
        Ok(out)
    }

    /// Parses a command received at version `v` (`parseProtocol`).
    pub fn decode(_v: Version, bytes: &[u8]) -> Result<FileCommand, XftpError> {
        let tag_len = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        let (tag, params) = bytes.split_at(tag_len);
        let mut r = Reader::new(params);
        let syntax = XftpError::Syntax;
        let cmd = match tag {
            b"FNEW" => {
                r.space().map_err(syntax)?;
                let file = FileInfo::decode(&mut r).map_err(syntax)?;
                let rcv_keys = decode_non_empty(&mut r).map_err(syntax)?;
                let auth = Option::<BasicAuth>::decode(&mut r).map_err(syntax)?;
                FileCommand::New {
                    file,
                    rcv_keys,
                    auth,
                }
            }
            b"FADD" => {
                r.space().map_err(syntax)?;
                FileCommand::Add {
                    rcv_keys: decode_non_empty(&mut r).map_err(syntax)?,
                }
            }
            b"FPUT" => FileCommand::Put,
            b"FDEL" => FileCommand::Del,
            b"FGET" => {
                r.space().map_err(syntax)?;
                FileCommand::Get {
                    rcv_dh_key: PublicKeyX25519::decode(&mut r).map_err(syntax)?,
                }
            }
            b"FACK" => FileCommand::Ack,
            b"PING" => FileCommand::Ping,
            _ => return Err(XftpError::UnknownTag),
        };
        r.finish().map_err(syntax)?;
        Ok(cmd)
    }

    /// The reference's `checkCredentials`: `FNEW` needs an authorization and no entity ID,
    /// `PING` neither, and every other command both.
    pub fn check_credentials(&self, has_auth: bool, entity_id: &[u8]) -> Result<(), XftpErrorType> {
        match self {
            FileCommand::New { .. } if !has_auth => Err(XftpErrorType::Cmd(CommandError::NoAuth)),
            FileCommand::New { .. } if !entity_id.is_empty() => {
                Err(XftpErrorType::Cmd(CommandError::HasAuth))
            }
            FileCommand::New { .. } => Ok(()),
            FileCommand::Ping if !has_auth && entity_id.is_empty() => Ok(()),
            FileCommand::Ping => Err(XftpErrorType::Cmd(CommandError::HasAuth)),
            _ if !has_auth || entity_id.is_empty() => Err(XftpErrorType::Cmd(CommandError::NoAuth)),
            _ => Ok(()),
        }
    }
}

fn encode_keys(keys: &[PublicAuthKey], out: &mut Vec<u8>) -> Result<(), XftpError> {
    if keys.is_empty() {
        return Err(XftpError::Length(simplex_encoding::LengthError {
            len: 0,
            max: 255,
        }));
    }
    Ok(encode_list(keys, out)?)
}
