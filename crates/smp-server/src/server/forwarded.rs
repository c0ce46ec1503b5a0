//! Private message routing on a client connection: `PRXY`/`PFWD` handed to the proxy agent,
//! and `RFWD` opened before the core runs it and its answer sealed in `RRES`.

use simplex_crypto::DhSecretX25519;
use smp_proto::command::Command;
use smp_proto::error::{CommandError, ErrorType};
use smp_proto::response::Response;
use smp_proto::transmission::{decode_server_transmission, encode_transmission};

use crate::core::{Request, Session};
use crate::forward::{self, Opened};
use crate::proxy::ProxyAgent;
use crate::stats::{inc, Stats};
use crate::wire;

use super::*;

/// `PRXY` or `PFWD`, answered by the proxy agent.
pub(super) async fn proxy_command(
    proxy: &ProxyAgent,
    stats: &Stats,
    corr_id: &[u8],
    entity_id: &[u8],
    cmd: Command,
) -> Response {
    use smp_proto::error::{BrokerErrorType, ProxyError, TransportError};
    // As the reference: a version mismatch is a compatibility error, a failed connection
    // (or, for `PFWD`, no session) a connection error, an `ERR` of the destination relay a
    // success. Whether the destination is this relay itself (the `own` counters) is not
    // known here: those stay 0.
    let compat = |e: &ErrorType| {
        matches!(e, ErrorType::Proxy(p) if matches!(**p,
            ProxyError::Broker(BrokerErrorType::Transport(TransportError::Version))))
    };
    match cmd {
        Command::Prxy { server, basic_auth } => {
            let r = proxy
                .prxy(
                    &server,
                    basic_auth.as_ref().map(smp_proto::BasicAuth::as_bytes),
                )
                .await;
            let basic_auth_failed = matches!(&r, Response::Err(ErrorType::Proxy(p))
                if matches!(**p, ProxyError::BasicAuth));
            if !basic_auth_failed {
                inc(&stats.p_relays_requests);
                inc(match &r {
                    Response::Err(e) if compat(e) => &stats.p_relays_errors_compat,
                    Response::Err(ErrorType::Proxy(p))
                        if matches!(
                            **p,
                            ProxyError::Broker(
                                BrokerErrorType::Network(_)
                                    | BrokerErrorType::Timeout
                                    | BrokerErrorType::Host
                            )
                        ) =>
                    {
                        &stats.p_relays_errors_connect
                    }
                    Response::Err(_) => &stats.p_relays_errors_other,
                    _ => &stats.p_relays_successes,
                });
            }
            r
        }
        Command::Pfwd {
            version,
            dh_key,
            enc_transmission,
        } => {
            let r = proxy
                .pfwd(entity_id, corr_id, version, dh_key, enc_transmission)
                .await;
            inc(&stats.p_msg_fwds_requests);
            inc(match &r {
                Response::Err(e) if compat(e) => &stats.p_msg_fwds_errors_compat,
                Response::Err(ErrorType::Proxy(p)) => match **p {
                    ProxyError::NoSession => &stats.p_msg_fwds_errors_connect,
                    ProxyError::Protocol(_) => &stats.p_msg_fwds_successes,
                    _ => &stats.p_msg_fwds_errors_other,
                },
                Response::Err(_) => &stats.p_msg_fwds_errors_other,
                _ => &stats.p_msg_fwds_successes,
            });
            r
        }
        _ => Response::Err(ErrorType::Internal),
    }
}

/// A request for the core (with what seals its answer when it was forwarded), or an
/// answer already.
pub(super) type Prepared = Result<(Request, Option<Forwarded>), Box<Wire>>;

/// A forwarded command, opened: the outer correlation ID and what seals the answer.
pub(super) struct Forwarded {
    corr_id: Vec<u8>,
    pub(super) opened: Opened,
}

/// Opens `RFWD` and parses the forwarded transmission: the core's request, or the answer
/// already (an `ERR` to `RFWD` itself, or a sealed `ERR` for the forwarded command).
pub(super) fn open_forwarded(
    session: &Session,
    session_id: &[u8],
    secret: Option<&DhSecretX25519>,
    corr_id: Vec<u8>,
    enc: &[u8],
) -> Result<(Request, Forwarded), Box<Wire>> {
    let outer_err = |corr_id: Vec<u8>, e: ErrorType| {
        Box::new(Wire {
            corr_id,
            entity_id: Vec::new(),
            resp: Response::Err(e),
        })
    };
    let (Some(secret), Some(server_key)) = (secret, session.server_dh_key.as_ref()) else {
        return Err(outer_err(corr_id, forward::no_session_secret()));
    };
    let opened = match forward::open(secret, server_key, &corr_id, enc) {
        Ok(o) => o,
        Err(e) => return Err(outer_err(corr_id, e)),
    };
    let t = match opened.transmission() {
        Ok(t) => t,
        Err(e) => return Err(outer_err(corr_id, e)),
    };
    let fwd = |opened| Forwarded { corr_id, opened };
    let inner = match decode_server_transmission(opened.version, session_id, t) {
        Err(te) => Err((te.corr_id, te.entity_id, te.error)),
        // Only the sender's commands may be forwarded (and the link client's, v15).
        Ok(st)
            if !matches!(
                st.command,
                Command::Send { .. } | Command::SKey(_) | Command::LKey(_) | Command::LGet
            ) =>
        {
            Err((
                st.raw.corr_id.to_vec(),
                st.raw.entity_id.to_vec(),
                ErrorType::Cmd(CommandError::Prohibited),
            ))
        }
        Ok(st) => wire::request(st, session_id),
    };
    match inner {
        Ok(req) => Ok((req, fwd(opened))),
        Err((c, e, error)) => {
            let f = fwd(opened);
            Err(Box::new(seal_forwarded(
                session_id,
                secret,
                f,
                &c,
                &e,
                &Response::Err(error),
            )))
        }
    }
}

/// The answer to `RFWD`: `RRES` with the forwarded command's response, or `ERR` when it
/// cannot be sealed.
pub(super) fn seal_forwarded(
    session_id: &[u8],
    secret: &DhSecretX25519,
    f: Forwarded,
    corr_id: &[u8],
    entity_id: &[u8],
    resp: &Response,
) -> Wire {
    let v = f.opened.version;
    let sealed = encode_transmission(v, session_id, corr_id, entity_id, &resp.to_bytes(v))
        .map_err(|_| ErrorType::Block)
        .and_then(|t| f.opened.seal(secret, &t));
    Wire {
        corr_id: f.corr_id,
        entity_id: Vec::new(),
        resp: match sealed {
            Ok(r) => Response::Rres(r),
            Err(e) => Response::Err(e),
        },
    }
}
