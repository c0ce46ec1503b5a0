//! XFTP transmissions and their blocks (`xftpEncodeAuthTransmission`, `xftpEncodeBatch1`,
//! `xftpDecodeTServer` and `xftpDecodeTClient` in the reference's `Protocol.hs`).
//!
//! Each HTTP/2 request and response body starts with one 16,384-byte block: SMP's padded
//! batch holding exactly one transmission, `auth ‖ sessionId ‖ corrId ‖ entityId ‖ command`,
//! each field but the command with a one-byte length. Unlike SMP from v7, XFTP always sends
//! the session ID (`implySessId = False`), and the authorization covers everything after
//! itself. The framing, the authorization forms (empty, an Ed25519/Ed448 signature, or an
//! 80-byte crypto_box authenticator) and the padding are `smp-proto`'s.

use simplex_crypto::{sign, PrivateSignKey};
use smp_proto::block::{decode_block, encode_block};
use smp_proto::transmission::{Authorization, RawTransmission, TransmissionForAuth};

use crate::command::FileCommand;
use crate::error::{XftpError, XftpErrorType};
use crate::response::FileResponse;
use crate::version::Version;

/// The SMP layout XFTP uses: the one in which the session ID is sent (SMP before v7).
const LAYOUT: smp_proto::Version = smp_proto::Version(6);

/// Lays out a command for authorization: the returned value gives the bytes to sign
/// ([`TransmissionForAuth::for_auth`]) and, with the authorization, the block
/// ([`encode_transmission_block`]).
pub fn command_for_auth(
    v: Version,
    session_id: &[u8],
    corr_id: &[u8],
    entity_id: &[u8],
    command: &FileCommand,
) -> Result<TransmissionForAuth, XftpError> {
    let body = command.encode(v)?;
    Ok(TransmissionForAuth::new(
        LAYOUT, session_id, corr_id, entity_id, &body,
    )?)
}

/// The padded block carrying one transmission with `authorization` (none for `PING` and
/// responses).
pub fn encode_transmission_block(
    t: &TransmissionForAuth,
    authorization: Option<&[u8]>,
) -> Result<Vec<u8>, XftpError> {
    let bytes = t.encode(authorization)?;
    encode_block(&[bytes]).map_err(|_| XftpError::TooLarge)
}

/// A command block signed with an Ed25519 or Ed448 key (the sender's or a recipient's).
/// X25519 authorization keys need the server's key: use [`command_for_auth`] with
/// `simplex_crypto::cb_authenticate` instead.
pub fn encode_signed_command_block(
    v: Version,
    session_id: &[u8],
    corr_id: &[u8],
    entity_id: &[u8],
    command: &FileCommand,
    key: Option<&PrivateSignKey>,
) -> Result<Vec<u8>, XftpError> {
    let t = command_for_auth(v, session_id, corr_id, entity_id, command)?;
    let signature = key.map(|k| sign(k, t.for_auth()));
    encode_transmission_block(&t, signature.as_ref().map(|s| s.as_bytes()))
}

/// A response block (responses are not authorized).
pub fn encode_response_block(
    v: Version,
    session_id: &[u8],
    corr_id: &[u8],
    entity_id: &[u8],
    response: &FileResponse,
) -> Result<Vec<u8>, XftpError> {
    let body = response.encode(v)?;
    let t = TransmissionForAuth::new(LAYOUT, session_id, corr_id, entity_id, &body)?;
    encode_transmission_block(&t, None)
}

/// Unpads a block and returns its single transmission's fields. A block that does not unpad,
/// or holds no or several transmissions, or whose transmission does not split, is an error
/// (`BLOCK`).
pub fn decode_raw_block(block: &[u8]) -> Result<RawTransmission<'_>, XftpError> {
    let ts = decode_block(block).map_err(|_| XftpError::Block("batch"))?;
    match ts.as_slice() {
        [t] => Ok(RawTransmission::decode(LAYOUT, t)?),
        _ => Err(XftpError::Block("not exactly one transmission")),
    }
}

/// A command a server accepted for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTransmission<'a> {
    /// The fields as received; `raw.signed_body()` are the authorized bytes.
    pub raw: RawTransmission<'a>,
    /// The decoded authorization.
    pub authorization: Option<Authorization>,
    /// The parsed command, its credentials checked.
    pub command: FileCommand,
}

/// What a server answers for a block it could not accept: `ERR` with these IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransmissionError {
    /// The correlation ID to answer with (empty when the transmission did not parse).
    pub corr_id: Vec<u8>,
    /// The entity ID to answer with.
    pub entity_id: Vec<u8>,
    /// The error.
    pub error: XftpErrorType,
}

/// Decodes a command block a server received at version `v` on the connection with
/// `session_id`, checking in the reference's order: block, session, authorization size,
/// command syntax, credentials. Verifying the authorization is the server's job.
pub fn decode_server_block<'a>(
    v: Version,
    session_id: &[u8],
    block: &'a [u8],
) -> Result<ServerTransmission<'a>, TransmissionError> {
    let raw = decode_raw_block(block).map_err(|_| TransmissionError {
        corr_id: Vec::new(),
        entity_id: Vec::new(),
        error: XftpErrorType::Block,
    })?;
    let fail = |error: XftpErrorType, with_entity: bool| TransmissionError {
        corr_id: raw.corr_id.to_vec(),
        entity_id: if with_entity {
            raw.entity_id.to_vec()
        } else {
            Vec::new()
        },
        error,
    };
    if raw.session_id != Some(session_id) {
        return Err(fail(XftpErrorType::Session, false));
    }
    let authorization =
        Authorization::decode(raw.authorization).map_err(|_| fail(XftpErrorType::Block, false))?;
    let command =
        FileCommand::decode(v, raw.command).map_err(|e| fail(XftpErrorType::from(&e), true))?;
    command
        .check_credentials(authorization.is_some(), raw.entity_id)
        .map_err(|e| fail(e, true))?;
    Ok(ServerTransmission {
        raw,
        authorization,
        command,
    })
}

/// A response a client received: the IDs and the response or why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTransmission {
    /// The correlation ID.
    pub corr_id: Vec<u8>,
    /// The entity ID.
    pub entity_id: Vec<u8>,
    /// The response, or the error to report for it.
    pub response: Result<FileResponse, XftpErrorType>,
}

/// Decodes a response block a client received at version `v` on the connection with
/// `session_id`. A block that does not hold one transmission is `Err(BLOCK)`.
pub fn decode_client_block(
    v: Version,
    session_id: &[u8],
    block: &[u8],
) -> Result<ClientTransmission, XftpErrorType> {
    let raw = decode_raw_block(block).map_err(|_| XftpErrorType::Block)?;
    if raw.session_id != Some(session_id) {
        return Ok(ClientTransmission {
            corr_id: raw.corr_id.to_vec(),
            entity_id: Vec::new(),
            response: Err(XftpErrorType::Session),
        });
    }
    let response = FileResponse::decode(v, raw.command)
        .map_err(|e| XftpErrorType::from(&e))
        .and_then(|r| r.check_entity(raw.entity_id).map(|_| r));
    Ok(ClientTransmission {
        corr_id: raw.corr_id.to_vec(),
        entity_id: raw.entity_id.to_vec(),
        response,
    })
}
