//! Errors: the wire errors of `ERR` (`protocol/simplex-messaging.md` § Error responses;
//! `ErrorType` and its parts in the reference's `Protocol.hs` and `Transport.hs`), and this
//! crate's local [`ProtoError`], which maps onto a wire error with one `From` impl.
//!
//! The wire errors that exist by SMP v9 are `BLOCK`, `SESSION`, `CMD`, `PROXY`, `AUTH`,
//! `CRYPTO`, `QUOTA`, `NO_MSG`, `LARGE_MSG`, `EXPIRED`, `INTERNAL` and `DUPLICATE_`. The later
//! `BLOCKED` (v12), `SERVICE` and `STORE` are decoded too, because the reference decodes error
//! names without looking at the version; `BLOCKED` is sent as `AUTH` below v12.

use simplex_encoding::{Decode, DecodeError, Encode, LengthError, PadError, Reader, ShortBytes};

/// The first word of the input, up to (not including) a space or the end.
fn word<'a>(r: &mut Reader<'a>) -> &'a [u8] {
    r.take_till(|b| b == b' ')
}

/// `_smpP`: a space, then a value.
fn spaced<T: Decode>(r: &mut Reader<'_>) -> Result<T, DecodeError> {
    r.space()?;
    T::decode(r)
}

/// `ErrorType`: the error carried by `ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorType {
    /// `BLOCK`: the block or transmission could not be parsed, or a bad authorization size.
    Block,
    /// `SESSION`: the session ID in the transmission is not this connection's.
    Session,
    /// `CMD`: the command is unknown, malformed or not allowed.
    Cmd(CommandError),
    /// `PROXY`: an error from or about the relay behind a proxy.
    Proxy(Box<ProxyError>),
    /// `AUTH`: authorization failed or the queue does not exist.
    Auth,
    /// `BLOCKED` (v12+): the entity is blocked; sent as `AUTH` before v12.
    Blocked(BlockingInfo),
    /// `SERVICE` (later versions): a service signature was not allowed.
    Service,
    /// `CRYPTO`: encryption or decryption failed in the proxy protocol.
    Crypto,
    /// `QUOTA`: the queue is full.
    Quota,
    /// `STORE` (later versions): a server storage error, with its text.
    Store(String),
    /// `NO_MSG`: `ACK` without a message to acknowledge.
    NoMsg,
    /// `LARGE_MSG`: the message is larger than the version allows.
    LargeMsg,
    /// `EXPIRED`: the relay's session key has expired.
    Expired,
    /// `INTERNAL`: an internal server error.
    Internal,
    /// `DUPLICATE_`: internal to the reference, never returned by a server.
    Duplicate,
}

/// `CommandError`: why a command was refused (`ERR CMD ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// `UNKNOWN`: the command tag is not known.
    Unknown,
    /// `SYNTAX`: the command's parameters could not be parsed.
    Syntax,
    /// `PROHIBITED`: the command is not allowed here (e.g. `GET` on a subscribed queue).
    Prohibited,
    /// `NO_AUTH`: a required authorization or entity ID is missing.
    NoAuth,
    /// `HAS_AUTH`: an authorization or entity ID is present where none is allowed.
    HasAuth,
    /// `NO_ENTITY`: a required entity ID is missing (also decoded from the old `NO_QUEUE`).
    NoEntity,
}

/// `ProxyError`: errors of proxied sending (`ERR PROXY ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// `PROTOCOL`: the relay answered with `ERR`.
    Protocol(ErrorType),
    /// `BROKER`: the proxy could not talk to the relay.
    Broker(BrokerErrorType),
    /// `BASIC_AUTH`: the proxy's basic-auth password was wrong.
    BasicAuth,
    /// `NO_SESSION`: no session with the relay.
    NoSession,
}

/// `BrokerErrorType`: why the proxy could not use the relay (`ERR PROXY BROKER ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerErrorType {
    /// `RESPONSE`: the relay's response could not be parsed (with a description).
    Response(ShortBytes),
    /// `UNEXPECTED`: the relay's response was not the expected one (with a description).
    Unexpected(ShortBytes),
    /// `NETWORK`: a network error. The reference sends only the word `NETWORK` and reads an
    /// optional detail, defaulting to [`NetworkError::Failed`].
    Network(NetworkError),
    /// `TRANSPORT`: a handshake or transport error.
    Transport(TransportError),
    /// `TIMEOUT`: the relay did not answer in time.
    Timeout,
    /// `HOST`: no compatible relay host.
    Host,
    /// `NO_SERVICE` (later versions): the service is unavailable.
    NoService,
}

/// `NetworkError`: the detail of `NETWORK`, only ever decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkError {
    /// `CONNECT`: connecting failed.
    Connect(ShortBytes),
    /// `TLS`: the TLS handshake failed.
    Tls(ShortBytes),
    /// `UNKNOWNCA`: the relay's certificate did not match its identity.
    UnknownCa,
    /// `FAILED`: an unspecified failure.
    Failed,
    /// `TIMEOUT`: connecting timed out.
    Timeout,
    /// `SUBSCRIBE`: subscribing failed.
    Subscribe(ShortBytes),
}

/// `TransportError`: errors of the block transport and handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// `BLOCK`: a block could not be parsed.
    Block,
    /// `VERSION`: no common version.
    Version,
    /// `LARGE_MSG`: a message does not fit in a block.
    LargeMsg,
    /// `SESSION`: the session ID is wrong.
    Session,
    /// `NO_AUTH`: the server sent no key to authorize commands with.
    NoAuth,
    /// `HANDSHAKE`: the handshake failed.
    Handshake(HandshakeError),
}

/// `HandshakeError`: why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// `PARSE`: a handshake block could not be parsed.
    Parse,
    /// `IDENTITY`: the server identity (CA fingerprint) did not match.
    Identity,
    /// `BAD_AUTH`: the signed session key did not verify.
    BadAuth,
    /// `BAD_SERVICE` (later versions): the service record could not be used.
    BadService,
}

/// `BlockingInfo`: why an entity was blocked (`ERR BLOCKED reason=spam[,notice=json]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingInfo {
    /// Why it was blocked.
    pub reason: BlockingReason,
    /// The notice shown to clients, if any.
    pub notice: Option<ClientNotice>,
}

/// `BlockingReason`: `spam` or `content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockingReason {
    /// `spam`.
    Spam,
    /// `content`.
    Content,
}

/// `ClientNotice`: JSON `{"ttl":seconds}`, the field left out when there is no expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientNotice {
    /// How long the notice holds, in seconds; `None` for ever.
    pub ttl: Option<i64>,
}

impl Encode for ErrorType {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ErrorType::Block => out.extend_from_slice(b"BLOCK"),
            ErrorType::Session => out.extend_from_slice(b"SESSION"),
            ErrorType::Cmd(e) => {
                out.extend_from_slice(b"CMD ");
                e.encode(out);
            }
            ErrorType::Proxy(e) => {
                out.extend_from_slice(b"PROXY ");
                e.encode(out);
            }
            ErrorType::Auth => out.extend_from_slice(b"AUTH"),
            ErrorType::Blocked(info) => {
                out.extend_from_slice(b"BLOCKED ");
                info.encode(out);
            }
            ErrorType::Service => out.extend_from_slice(b"SERVICE"),
            ErrorType::Crypto => out.extend_from_slice(b"CRYPTO"),
            ErrorType::Quota => out.extend_from_slice(b"QUOTA"),
            ErrorType::Store(s) => {
                out.extend_from_slice(b"STORE ");
                out.extend_from_slice(s.as_bytes());
            }
            ErrorType::NoMsg => out.extend_from_slice(b"NO_MSG"),
            ErrorType::LargeMsg => out.extend_from_slice(b"LARGE_MSG"),
            ErrorType::Expired => out.extend_from_slice(b"EXPIRED"),
            ErrorType::Internal => out.extend_from_slice(b"INTERNAL"),
            ErrorType::Duplicate => out.extend_from_slice(b"DUPLICATE_"),
        }
    }
}

impl Decode for ErrorType {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match word(r) {
            b"BLOCK" => ErrorType::Block,
            b"SESSION" => ErrorType::Session,
            b"CMD" => ErrorType::Cmd(spaced(r)?),
            b"PROXY" => ErrorType::Proxy(Box::new(spaced(r)?)),
            b"AUTH" => ErrorType::Auth,
            b"BLOCKED" => ErrorType::Blocked(spaced(r)?),
            b"SERVICE" => ErrorType::Service,
            b"CRYPTO" => ErrorType::Crypto,
            b"QUOTA" => ErrorType::Quota,
            b"STORE" => {
                r.space()?;
                ErrorType::Store(lossy_utf8(r.rest()))
            }
            b"NO_MSG" => ErrorType::NoMsg,
            b"LARGE_MSG" => ErrorType::LargeMsg,
            b"EXPIRED" => ErrorType::Expired,
            b"INTERNAL" => ErrorType::Internal,
            b"DUPLICATE_" => ErrorType::Duplicate,
            _ => return Err(DecodeError::InvalidTag { what: "ErrorType" }),
        })
    }
}

/// UTF-8 with every invalid sequence replaced by `?`, as the reference's `safeDecodeUtf8`.
fn lossy_utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\u{FFFD}', "?")
}

impl ErrorType {
    /// The encoding `ERR` uses at version `v`: before v12 `BLOCKED` becomes `AUTH`, and before
    /// v18 a blocking notice is left out.
    pub fn for_version(&self, v: crate::Version) -> ErrorType {
        match self {
            ErrorType::Blocked(_) if v < crate::version::BLOCKED_ENTITY_SMP_VERSION => {
                ErrorType::Auth
            }
            ErrorType::Blocked(info) if v < crate::Version(18) => {
                ErrorType::Blocked(BlockingInfo {
                    reason: info.reason,
                    notice: None,
                })
            }
            other => other.clone(),
        }
    }
}

impl CommandError {
    fn tag(self) -> &'static [u8] {
        match self {
            CommandError::Unknown => b"UNKNOWN",
            CommandError::Syntax => b"SYNTAX",
            CommandError::Prohibited => b"PROHIBITED",
            CommandError::NoAuth => b"NO_AUTH",
            CommandError::HasAuth => b"HAS_AUTH",
            CommandError::NoEntity => b"NO_ENTITY",
        }
    }
}

impl Encode for CommandError {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag());
    }
}

impl Decode for CommandError {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match word(r) {
            b"UNKNOWN" => CommandError::Unknown,
            b"SYNTAX" => CommandError::Syntax,
            b"PROHIBITED" => CommandError::Prohibited,
            b"NO_AUTH" => CommandError::NoAuth,
            b"HAS_AUTH" => CommandError::HasAuth,
            b"NO_ENTITY" | b"NO_QUEUE" => CommandError::NoEntity,
            _ => {
                return Err(DecodeError::InvalidTag {
                    what: "CommandError",
                })
            }
        })
    }
}

impl Encode for ProxyError {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ProxyError::Protocol(e) => {
                out.extend_from_slice(b"PROTOCOL ");
                e.encode(out);
            }
            ProxyError::Broker(e) => {
                out.extend_from_slice(b"BROKER ");
                e.encode(out);
            }
            ProxyError::BasicAuth => out.extend_from_slice(b"BASIC_AUTH"),
            ProxyError::NoSession => out.extend_from_slice(b"NO_SESSION"),
        }
    }
}

impl Decode for ProxyError {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match word(r) {
            b"PROTOCOL" => ProxyError::Protocol(spaced(r)?),
            b"BROKER" => ProxyError::Broker(spaced(r)?),
            b"BASIC_AUTH" => ProxyError::BasicAuth,
            b"NO_SESSION" => ProxyError::NoSession,
            _ => return Err(DecodeError::InvalidTag { what: "ProxyError" }),
        })
    }
}

impl Encode for BrokerErrorType {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            BrokerErrorType::Response(s) => {
                out.extend_from_slice(b"RESPONSE ");
                s.encode(out);
            }
            BrokerErrorType::Unexpected(s) => {
                out.extend_from_slice(b"UNEXPECTED ");
                s.encode(out);
            }
            BrokerErrorType::Transport(e) => {
                out.extend_from_slice(b"TRANSPORT ");
                e.encode(out);
            }
            // The reference leaves the detail out, for older peers.
            BrokerErrorType::Network(_) => out.extend_from_slice(b"NETWORK"),
            BrokerErrorType::Timeout => out.extend_from_slice(b"TIMEOUT"),
            BrokerErrorType::Host => out.extend_from_slice(b"HOST"),
            BrokerErrorType::NoService => out.extend_from_slice(b"NO_SERVICE"),
        }
    }
}

impl Decode for BrokerErrorType {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match word(r) {
            b"RESPONSE" => BrokerErrorType::Response(spaced(r)?),
            b"UNEXPECTED" => BrokerErrorType::Unexpected(spaced(r)?),
            b"TRANSPORT" => BrokerErrorType::Transport(spaced(r)?),
            b"NETWORK" => {
                // `_smpP <|> pure NEFailedError`: a detail that does not parse is not consumed.
                let mut attempt = r.clone();
                match spaced::<NetworkError>(&mut attempt) {
                    Ok(e) => {
                        *r = attempt;
                        BrokerErrorType::Network(e)
                    }
                    Err(_) => BrokerErrorType::Network(NetworkError::Failed),
                }
            }
            b"TIMEOUT" => BrokerErrorType::Timeout,
            b"HOST" => BrokerErrorType::Host,
            b"NO_SERVICE" => BrokerErrorType::NoService,
            _ => {
                return Err(DecodeError::InvalidTag {
                    what: "BrokerErrorType",
                })
            }
        })
    }
}

impl Encode for NetworkError {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            NetworkError::Connect(s) => {
                out.extend_from_slice(b"CONNECT ");
                s.encode(out);
            }
            NetworkError::Tls(s) => {
                out.extend_from_slice(b"TLS ");
                s.encode(out);
            }
            NetworkError::UnknownCa => out.extend_from_slice(b"UNKNOWNCA"),
            NetworkError::Failed => out.extend_from_slice(b"FAILED"),
            NetworkError::Timeout => out.extend_from_slice(b"TIMEOUT"),
            NetworkError::Subscribe(s) => {
                out.extend_from_slice(b"SUBSCRIBE ");
                s.encode(out);
            }
        }
    }
}

impl Decode for NetworkError {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match word(r) {
            b"CONNECT" => NetworkError::Connect(spaced(r)?),
            b"TLS" => NetworkError::Tls(spaced(r)?),
            b"UNKNOWNCA" => NetworkError::UnknownCa,
            b"FAILED" => NetworkError::Failed,
            b"TIMEOUT" => NetworkError::Timeout,
            b"SUBSCRIBE" => NetworkError::Subscribe(spaced(r)?),
            _ => {
                return Err(DecodeError::InvalidTag {
                    what: "NetworkError",
                })
            }
        })
    }
}

impl Encode for TransportError {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TransportError::Block => out.extend_from_slice(b"BLOCK"),
            TransportError::Version => out.extend_from_slice(b"VERSION"),
            TransportError::LargeMsg => out.extend_from_slice(b"LARGE_MSG"),
            TransportError::Session => out.extend_from_slice(b"SESSION"),
            TransportError::NoAuth => out.extend_from_slice(b"NO_AUTH"),
            TransportError::Handshake(e) => {
                out.extend_from_slice(b"HANDSHAKE ");
                out.extend_from_slice(match e {
                    HandshakeError::Parse => b"PARSE",
                    HandshakeError::Identity => b"IDENTITY",
                    HandshakeError::BadAuth => b"BAD_AUTH",
                    HandshakeError::BadService => b"BAD_SERVICE",
                });
            }
        }
    }
}

impl Decode for TransportError {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match word(r) {
            b"BLOCK" => TransportError::Block,
            b"VERSION" => TransportError::Version,
            b"LARGE_MSG" => TransportError::LargeMsg,
            b"SESSION" => TransportError::Session,
            b"NO_AUTH" => TransportError::NoAuth,
            b"HANDSHAKE" => {
                r.space()?;
                // `parseRead1`: a word up to a space or a newline.
                let w = r.take_till(|b| b == b' ' || b == b'\n');
                TransportError::Handshake(match w {
                    b"PARSE" => HandshakeError::Parse,
                    b"IDENTITY" => HandshakeError::Identity,
                    b"BAD_AUTH" => HandshakeError::BadAuth,
                    b"BAD_SERVICE" => HandshakeError::BadService,
                    _ => {
                        return Err(DecodeError::InvalidTag {
                            what: "HandshakeError",
                        })
                    }
                })
            }
            _ => {
                return Err(DecodeError::InvalidTag {
                    what: "TransportError",
                })
            }
        })
    }
}

impl Encode for BlockingInfo {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"reason=");
        out.extend_from_slice(match self.reason {
            BlockingReason::Spam => b"spam",
            BlockingReason::Content => b"content",
        });
        if let Some(notice) = &self.notice {
            out.extend_from_slice(b",notice=");
            match notice.ttl {
                Some(ttl) => out.extend_from_slice(format!("{{\"ttl\":{ttl}}}").as_bytes()),
                None => out.extend_from_slice(b"{}"),
            }
        }
    }
}

impl Decode for BlockingInfo {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.expect(b"reason=", "BlockingInfo")?;
        let reason = if r.eat(b"spam") {
            BlockingReason::Spam
        } else if r.eat(b"content") {
            BlockingReason::Content
        } else {
            return Err(DecodeError::InvalidTag {
                what: "BlockingReason",
            });
        };
        let mut attempt = r.clone();
        let notice = if attempt.eat(b",notice=") {
            match parse_notice(attempt.peek_rest()) {
                Some(n) => {
                    attempt.rest();
                    *r = attempt;
                    Some(n)
                }
                None => None,
            }
        } else {
            None
        };
        Ok(BlockingInfo { reason, notice })
    }
}

fn parse_notice(json: &[u8]) -> Option<ClientNotice> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let obj = v.as_object()?;
    let ttl = match obj.get("ttl") {
        None | Some(serde_json::Value::Null) => None,
        Some(t) => Some(t.as_i64()?),
    };
    Some(ClientNotice { ttl })
}

/// Why this crate could not decode or build something. Carries no input bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// Peer fault: the bytes are malformed.
    #[error("malformed: {0}")]
    Decode(#[from] DecodeError),
    /// Peer fault: the command or response tag is not known at this version.
    #[error("unknown command or response tag")]
    UnknownTag,
    /// Peer fault: the tag is known but its parameters are malformed.
    #[error("bad syntax: {0}")]
    Syntax(DecodeError),
    /// Peer fault: an authorization was neither empty, an 80-byte authenticator nor a signature.
    #[error("authorization of {0} bytes is neither a signature nor an authenticator")]
    BadAuthorization(usize),
    /// Peer fault: a v6 transmission carried another session's ID.
    #[error("session ID does not match the connection")]
    SessionMismatch,
    /// Peer fault: the block's padding is malformed.
    #[error("bad padding: {0}")]
    Pad(#[from] PadError),
    /// Caller fault: a transmission does not fit in one block.
    #[error("transmission of {len} bytes does not fit in a block (at most {max})")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The largest that fits.
        max: usize,
    },
    /// Caller fault: a value exceeded the length its encoding can carry.
    #[error("{0}")]
    Length(#[from] LengthError),
}

/// How each local error is reported to a peer in `ERR`.
impl From<&ProtoError> for ErrorType {
    fn from(e: &ProtoError) -> Self {
        match e {
            ProtoError::UnknownTag => ErrorType::Cmd(CommandError::Unknown),
            ProtoError::Syntax(_) => ErrorType::Cmd(CommandError::Syntax),
            ProtoError::SessionMismatch => ErrorType::Session,
            ProtoError::TooLarge { .. } => ErrorType::LargeMsg,
            ProtoError::Decode(_)
            | ProtoError::BadAuthorization(_)
            | ProtoError::Pad(_)
            | ProtoError::Length(_) => ErrorType::Block,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_encoding::decode_all;

    fn sb(s: &[u8]) -> ShortBytes {
        ShortBytes::from_slice(s).expect("short")
    }

    /// Every error value, for round-trip and truncation tests elsewhere too.
    pub(crate) fn all_error_types() -> Vec<ErrorType> {
        let cmd = [
            CommandError::Unknown,
            CommandError::Syntax,
            CommandError::Prohibited,
            CommandError::NoAuth,
            CommandError::HasAuth,
            CommandError::NoEntity,
        ];
        let transport = [
            TransportError::Block,
            TransportError::Version,
            TransportError::LargeMsg,
            TransportError::Session,
            TransportError::NoAuth,
            TransportError::Handshake(HandshakeError::Parse),
            TransportError::Handshake(HandshakeError::Identity),
            TransportError::Handshake(HandshakeError::BadAuth),
            TransportError::Handshake(HandshakeError::BadService),
        ];
        let mut broker = vec![
            BrokerErrorType::Response(sb(b"bad response")),
            BrokerErrorType::Unexpected(sb(b"")),
            BrokerErrorType::Network(NetworkError::Failed),
            BrokerErrorType::Timeout,
            BrokerErrorType::Host,
            BrokerErrorType::NoService,
        ];
        broker.extend(transport.iter().map(|t| BrokerErrorType::Transport(*t)));
        let mut all = vec![
            ErrorType::Block,
            ErrorType::Session,
            ErrorType::Auth,
            ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Spam,
                notice: None,
            }),
            ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Content,
                notice: Some(ClientNotice { ttl: Some(86400) }),
            }),
            ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Spam,
                notice: Some(ClientNotice { ttl: None }),
            }),
            ErrorType::Service,
            ErrorType::Crypto,
            ErrorType::Quota,
            ErrorType::Store("disk full".into()),
            ErrorType::NoMsg,
            ErrorType::LargeMsg,
            ErrorType::Expired,
            ErrorType::Internal,
            ErrorType::Duplicate,
        ];
        all.extend(cmd.iter().map(|c| ErrorType::Cmd(*c)));
        all.extend(
            broker
                .into_iter()
                .map(|b| ErrorType::Proxy(Box::new(ProxyError::Broker(b)))),
        );
        all.push(ErrorType::Proxy(Box::new(ProxyError::BasicAuth)));
        all.push(ErrorType::Proxy(Box::new(ProxyError::NoSession)));
        all.push(ErrorType::Proxy(Box::new(ProxyError::Protocol(
            ErrorType::Cmd(CommandError::Syntax),
        ))));
        all.push(ErrorType::Proxy(Box::new(ProxyError::Protocol(
            ErrorType::Auth,
        ))));
        all
    }

    #[test]
    fn every_error_round_trips() {
        for e in all_error_types() {
            let bytes = e.to_bytes();
            let back = decode_all::<ErrorType>(&bytes).expect("decodes");
            assert_eq!(back, e, "{}", String::from_utf8_lossy(&bytes));
            assert_eq!(back.to_bytes(), bytes);
        }
    }

    #[test]
    fn every_truncation_fails_or_is_a_shorter_value() {
        // Error names are not self-delimiting (`BLOCK` is a prefix of `BLOCKED`, and `STORE`
        // ends in free text), so a prefix may be another valid error; it must then encode
        // back to exactly that prefix.
        for e in all_error_types() {
            let bytes = e.to_bytes();
            for n in 0..bytes.len() {
                if let Ok(v) = decode_all::<ErrorType>(&bytes[..n]) {
                    assert_eq!(v.to_bytes(), &bytes[..n], "prefix {n} of {e:?}");
                }
            }
        }
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            ErrorType::Cmd(CommandError::Syntax).to_bytes(),
            b"CMD SYNTAX"
        );
        assert_eq!(
            ErrorType::Proxy(Box::new(ProxyError::Broker(BrokerErrorType::Response(sb(
                b"x"
            )))))
            .to_bytes(),
            b"PROXY BROKER RESPONSE \x01x"
        );
        assert_eq!(
            ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Content,
                notice: Some(ClientNotice { ttl: Some(5) })
            })
            .to_bytes(),
            b"BLOCKED reason=content,notice={\"ttl\":5}"
        );
        assert_eq!(
            decode_all::<ErrorType>(b"CMD NO_QUEUE"),
            Ok(ErrorType::Cmd(CommandError::NoEntity))
        );
        assert_eq!(
            decode_all::<ErrorType>(b"PROXY BROKER NETWORK CONNECT \x02no"),
            Ok(ErrorType::Proxy(Box::new(ProxyError::Broker(
                BrokerErrorType::Network(NetworkError::Connect(sb(b"no")))
            ))))
        );
        assert!(decode_all::<ErrorType>(b"AUTH ").is_err());
        assert!(decode_all::<ErrorType>(b"NOPE").is_err());
    }

    #[test]
    fn blocked_is_auth_before_v12() {
        let blocked = ErrorType::Blocked(BlockingInfo {
            reason: BlockingReason::Spam,
            notice: Some(ClientNotice { ttl: None }),
        });
        assert_eq!(blocked.for_version(crate::Version(9)), ErrorType::Auth);
        assert_eq!(
            blocked.for_version(crate::Version(12)),
            ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Spam,
                notice: None
            })
        );
        assert_eq!(blocked.for_version(crate::Version(18)), blocked);
    }
}
