//! Transmissions (`protocol/simplex-messaging.md` § SMP Transmission and transport block
//! structure; `transmissionP`, `encodeTransmissionForAuth`, `tEncode` and `tDecodeServer` in
//! the reference's `Protocol.hs`).
//!
//! Layout: `authorization ‖ [sessionId, before v7] ‖ corrId ‖ entityId ‖ command`, every field
//! but the command with a one-byte length. The authorization covers everything after
//! itself; from v7 the session ID is not sent but still covered: the authorized bytes are then
//! `len(sessionId) ‖ sessionId ‖ corrId ‖ entityId ‖ command`.
//!
//! The authorization is empty, an 80-byte crypto_box authenticator, or a 64- or 114-byte
//! signature. From v16 a non-empty authorization is followed by an optional Ed25519 service
//! signature (`Maybe`: `'0'`, or `'1'` and the signature), which is not covered by the
//! authorization; an empty authorization has nothing after it. Checking either is the
//! server's job; this module hands over the bytes they cover.

use std::borrow::Cow;

use simplex_encoding::{DecodeError, Reader, ShortBytes};

use crate::command::Command;
use crate::error::{ErrorType, ProtoError};
use crate::keys::Signature;
use crate::response::Response;
use crate::version::{Version, AUTH_CMDS_SMP_VERSION, SERVICE_CERTS_SMP_VERSION};

/// Size of a crypto_box authenticator: a box of a SHA-512 hash (64 + 16 bytes).
pub const CB_AUTHENTICATOR_SIZE: usize = 80;
/// Size of correlation IDs sent by clients (they double as nonces).
pub const CORR_ID_SIZE: usize = 24;

/// True when the session ID is signed but not sent (v7 and later).
pub fn implies_session_id(v: Version) -> bool {
    v >= AUTH_CMDS_SMP_VERSION
}

/// True when a non-empty authorization is followed by the optional service signature (v16+).
pub fn has_service_auth(v: Version) -> bool {
    v >= SERVICE_CERTS_SMP_VERSION
}

/// An Ed25519 service signature (64 bytes).
pub type ServiceSignature = [u8; 64];

/// Reads `Maybe ServiceSignature`.
fn service_sig(r: &mut Reader<'_>) -> Result<Option<ServiceSignature>, DecodeError> {
    match r.u8()? {
        b'0' => Ok(None),
        b'1' => {
            let sig = r.short_bytes()?;
            ServiceSignature::try_from(sig)
                .map(Some)
                .map_err(|_| DecodeError::Invalid("service signature length"))
        }
        _ => Err(DecodeError::InvalidTag { what: "Maybe" }),
    }
}

/// A correlation ID as a crypto_box nonce (`cbNonce`): cut or zero-padded to 24 bytes.
pub fn corr_id_nonce(corr_id: &[u8]) -> [u8; 24] {
    let mut n = [0u8; 24];
    let k = corr_id.len().min(24);
    n[..k].copy_from_slice(&corr_id[..k]);
    n
}

/// A decoded authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// An 80-byte crypto_box authenticator (v7+).
    Authenticator([u8; CB_AUTHENTICATOR_SIZE]),
    /// An Ed25519 or Ed448 signature.
    Signature(Signature),
}

impl Authorization {
    /// Decodes authorization bytes (`decodeTAuthBytes`): empty is `None`.
    pub fn decode(bytes: &[u8]) -> Result<Option<Authorization>, ProtoError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        if let Ok(a) = <[u8; CB_AUTHENTICATOR_SIZE]>::try_from(bytes) {
            return Ok(Some(Authorization::Authenticator(a)));
        }
        Signature::from_bytes(bytes)
            .map(|s| Some(Authorization::Signature(s)))
            .map_err(|_| ProtoError::BadAuthorization(bytes.len()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Authorization::Authenticator(a) => a,
            Authorization::Signature(s) => s.as_bytes(),
        }
    }
}

/// A transmission split into its fields, borrowing from the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTransmission<'a> {
    /// The authorization bytes (possibly empty).
    pub authorization: &'a [u8],
    /// v16+: the service signature after a non-empty authorization, if any.
    pub service_sig: Option<ServiceSignature>,
    /// The session ID, sent only before v7.
    pub session_id: Option<&'a [u8]>,
    /// The correlation ID (24 bytes from clients, empty in server notifications).
    pub corr_id: &'a [u8],
    /// The entity (queue or session) ID, 24 bytes or empty.
    pub entity_id: &'a [u8],
    /// The command or response bytes.
    pub command: &'a [u8],
    /// Everything after the authorization.
    signed: &'a [u8],
}

impl<'a> RawTransmission<'a> {
    /// Splits one transmission as sent at version `v` (`transmissionP`).
    pub fn decode(v: Version, bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let authorization = r.short_bytes()?;
        let service_sig = if has_service_auth(v) && !authorization.is_empty() {
            service_sig(&mut r)?
        } else {
            None
        };
        let signed = r.peek_rest();
        let session_id = if implies_session_id(v) {
            None
        } else {
            Some(r.short_bytes()?)
        };
        let corr_id = r.short_bytes()?;
        let entity_id = r.short_bytes()?;
        let command = r.rest();
        Ok(RawTransmission {
            authorization,
            service_sig,
            session_id,
            corr_id,
            entity_id,
            command,
            signed,
        })
    }

    /// The bytes after the authorization, exactly as received.
    pub fn signed_body(&self) -> &'a [u8] {
        self.signed
    }

    /// The exact bytes the authorization covers, for this connection's `session_id`:
    /// borrowed as received before v7, and with the session ID prepended from v7.
    pub fn authorized(&self, session_id: &[u8]) -> Cow<'a, [u8]> {
        if self.session_id.is_some() {
            Cow::Borrowed(self.signed)
        } else {
            let mut out = Vec::with_capacity(1 + session_id.len() + self.signed.len());
            let _ = ShortBytes::encode_slice(session_id, &mut out);
            out.extend_from_slice(self.signed);
            Cow::Owned(out)
        }
    }
}

/// A transmission a server received, checked as `tDecodeServer` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTransmission<'a> {
    /// The fields as received (for the authorized bytes).
    pub raw: RawTransmission<'a>,
    /// The decoded authorization.
    pub authorization: Option<Authorization>,
    /// The parsed command, with its credentials checked.
    pub command: Command,
}

/// The error a server answers for a transmission it could not accept: `ERR` with this
/// correlation ID and entity ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmissionError {
    /// The correlation ID to answer with (empty when the transmission did not parse).
    pub corr_id: Vec<u8>,
    /// The entity ID to answer with.
    pub entity_id: Vec<u8>,
    /// The error.
    pub error: ErrorType,
}

/// Decodes one transmission a server received at version `v` on the connection with
/// `session_id`, checking session, authorization size, command syntax and credentials in the
/// reference's order.
pub fn decode_server_transmission<'a>(
    v: Version,
    session_id: &[u8],
    bytes: &'a [u8],
) -> Result<ServerTransmission<'a>, TransmissionError> {
    let raw = RawTransmission::decode(v, bytes).map_err(|_| TransmissionError {
        corr_id: Vec::new(),
        entity_id: Vec::new(),
        error: ErrorType::Block,
    })?;
    let fail = |error: ErrorType, with_entity: bool| TransmissionError {
        corr_id: raw.corr_id.to_vec(),
        entity_id: if with_entity {
            raw.entity_id.to_vec()
        } else {
            Vec::new()
        },
        error,
    };
    if raw.session_id.is_some_and(|s| s != session_id) {
        return Err(fail(ErrorType::Session, false));
    }
    let authorization =
        Authorization::decode(raw.authorization).map_err(|e| fail(ErrorType::from(&e), false))?;
    let command = Command::decode(v, raw.command).map_err(|e| fail(ErrorType::from(&e), true))?;
    command
        .check_credentials(authorization.is_some(), raw.entity_id)
        .map_err(|e| fail(e, true))?;
    Ok(ServerTransmission {
        raw,
        authorization,
        command,
    })
}

/// A transmission a client received (`tDecodeClient`): the IDs and the parsed response or
/// the error to report for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTransmission {
    /// The correlation ID (empty for pushed `MSG`/`END`, or when the transmission was bad).
    pub corr_id: Vec<u8>,
    /// The entity ID.
    pub entity_id: Vec<u8>,
    /// The response, or why it was refused.
    pub response: Result<Response, ErrorType>,
}

/// Decodes one transmission a client received at version `v` on the connection with
/// `session_id`, checking the session (before v7), the syntax and the entity ID.
pub fn decode_client_transmission(
    v: Version,
    session_id: &[u8],
    bytes: &[u8],
) -> ClientTransmission {
    let Ok(raw) = RawTransmission::decode(v, bytes) else {
        return ClientTransmission {
            corr_id: Vec::new(),
            entity_id: Vec::new(),
            response: Err(ErrorType::Block),
        };
    };
    if raw.session_id.is_some_and(|s| s != session_id) {
        return ClientTransmission {
            corr_id: raw.corr_id.to_vec(),
            entity_id: Vec::new(),
            response: Err(ErrorType::Session),
        };
    }
    let response = Response::decode(v, raw.command)
        .map_err(|e| ErrorType::from(&e))
        .and_then(|r| r.check_entity(raw.entity_id).map(|_| r));
    ClientTransmission {
        corr_id: raw.corr_id.to_vec(),
        entity_id: raw.entity_id.to_vec(),
        response,
    }
}

/// A transmission being built: the bytes to authorize and, inside them, the bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmissionForAuth {
    bytes: Vec<u8>,
    send_from: usize,
    service_auth: bool,
}

impl TransmissionForAuth {
    /// Lays out `corr_id ‖ entity_id ‖ command` for version `v` (`encodeTransmissionForAuth`).
    /// `command` is the already-encoded command or response.
    pub fn new(
        v: Version,
        session_id: &[u8],
        corr_id: &[u8],
        entity_id: &[u8],
        command: &[u8],
    ) -> Result<Self, ProtoError> {
        let mut bytes = Vec::with_capacity(
            3 + session_id.len() + corr_id.len() + entity_id.len() + command.len(),
        );
        ShortBytes::encode_slice(session_id, &mut bytes)?;
        let send_from = if implies_session_id(v) {
            bytes.len()
        } else {
            0
        };
        ShortBytes::encode_slice(corr_id, &mut bytes)?;
        ShortBytes::encode_slice(entity_id, &mut bytes)?;
        bytes.extend_from_slice(command);
        Ok(TransmissionForAuth {
            bytes,
            send_from,
            service_auth: has_service_auth(v),
        })
    }

    /// The bytes the authorization must cover (always including the session ID).
    pub fn for_auth(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes that are sent after the authorization.
    pub fn to_send(&self) -> &[u8] {
        self.bytes.get(self.send_from..).unwrap_or_default()
    }

    /// The whole transmission: the authorization (empty for none) and the bytes to send
    /// (`tEncode`); from v16 a non-empty authorization is followed by "no service signature".
    pub fn encode(&self, authorization: Option<&[u8]>) -> Result<Vec<u8>, ProtoError> {
        self.encode_with_service(authorization, None)
    }

    /// [`TransmissionForAuth::encode`] with a service signature after the authorization
    /// (sent only from v16 and only with a non-empty authorization; otherwise dropped).
    pub fn encode_with_service(
        &self,
        authorization: Option<&[u8]>,
        service_sig: Option<&ServiceSignature>,
    ) -> Result<Vec<u8>, ProtoError> {
        let auth = authorization.unwrap_or_default();
        let mut out = Vec::with_capacity(67 + auth.len() + self.to_send().len());
        ShortBytes::encode_slice(auth, &mut out)?;
        if self.service_auth && !auth.is_empty() {
            match service_sig {
                None => out.push(b'0'),
                Some(sig) => {
                    out.push(b'1');
                    ShortBytes::encode_slice(sig, &mut out)?;
                }
            }
        }
        out.extend_from_slice(self.to_send());
        Ok(out)
    }
}

/// Encodes a whole unauthorized transmission (responses, `PING`, unsecured `SEND`).
pub fn encode_transmission(
    v: Version,
    session_id: &[u8],
    corr_id: &[u8],
    entity_id: &[u8],
    command: &[u8],
) -> Result<Vec<u8>, ProtoError> {
    TransmissionForAuth::new(v, session_id, corr_id, entity_id, command)?.encode(None)
}

/// Appends the same bytes as [`encode_transmission`] to `out`, with the command or response
/// written in place by `command` (no intermediate buffers: the relay encodes its responses
/// straight into one buffer per batch). On error `out` is left as it was.
pub fn encode_transmission_into(
    v: Version,
    session_id: &[u8],
    corr_id: &[u8],
    entity_id: &[u8],
    out: &mut Vec<u8>,
    command: impl FnOnce(&mut Vec<u8>),
) -> Result<(), ProtoError> {
    let start = out.len();
    // No authorization: an empty short string (and so no service signature either).
    out.push(0);
    let ids = (|| {
        if !implies_session_id(v) {
            ShortBytes::encode_slice(session_id, out)?;
        }
        ShortBytes::encode_slice(corr_id, out)?;
        ShortBytes::encode_slice(entity_id, out)
    })();
    if let Err(e) = ids {
        out.truncate(start);
        return Err(e.into());
    }
    command(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_encoding_is_encode_transmission_at_every_version() {
        let sid = [7u8; 32];
        let corr = [1u8; 24];
        let entity = [2u8; 24];
        let cmd = b"MSG some bytes";
        for v in 6..=18 {
            let v = Version(v);
            let whole = encode_transmission(v, &sid, &corr, &entity, cmd).expect("encodes");
            let mut out = b"before".to_vec();
            encode_transmission_into(v, &sid, &corr, &entity, &mut out, |o| {
                o.extend_from_slice(cmd)
            })
            .expect("encodes");
            assert_eq!(out.get(..6), Some(&b"before"[..]));
            assert_eq!(out.get(6..), Some(whole.as_slice()), "version {}", v.0);
        }
        // An ID too long for a short string leaves the buffer as it was.
        let mut out = b"x".to_vec();
        let long = vec![0u8; 256];
        let r =
            encode_transmission_into(Version(18), &sid, &long, &entity, &mut out, |o| o.push(1));
        assert!(r.is_err());
        assert_eq!(out, b"x");
    }
}
