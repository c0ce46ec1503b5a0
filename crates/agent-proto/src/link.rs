//! Connection links (`ConnectionRequestUri`, `ConnReqUriData` in `Agent/Protocol.hs`;
//! `protocol/simplex-uri-request.txt`).
//!
//! ```text
//! simplex:/invitation#/?v=<agent versions>&smp=<queue URI>[;<queue URI>…]&e2e=<X3DH params>[&data=<text>]
//! simplex:/contact#/?v=<agent versions>&smp=<queue URI>[;<queue URI>…][&data=<text>]
//! ```
//!
//! Reading also accepts `https://<host>[:port]/…` in place of `simplex:`, an optional `/`
//! before `#`, parameters in any order, and unknown parameters (ignored). The first of
//! repeated parameters wins. The scheme is not kept: printing always gives the canonical
//! `simplex:/` form, every parameter value percent-escaped (everything but `A-Z a-z 0-9 - _ . ~`),
//! in the order `v`, `smp`, `e2e`, `data`. Queues are separated by `;` because `,` separates
//! hosts inside a queue URI. A contact link's agent versions are raised to the minimum
//! supported (2), as the reference does for old links published online.

use std::fmt;

use simplex_encoding::string::QueryString;
use simplex_encoding::{Decode, DecodeError, Encode, Reader};
use simplex_ratchet::{E2ERatchetParamsUri, RKemParams, X448};
use smp_proto::{QueueMode, SmpQueueUri};

use crate::error::AgentProtoError;
use crate::queue::{decode_queue_uri, encode_queue_uri, put_large, put_list, read_non_empty};
use crate::version::{Version, VersionRange, MIN_SUPPORTED_AGENT_VERSION};

/// Whether a link starts a one-time invitation or contacts an address (`ConnectionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionMode {
    /// `I` / `invitation`: a one-time invitation.
    Invitation,
    /// `C` / `contact`: a long-term contact address.
    Contact,
}

impl Encode for ConnectionMode {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            ConnectionMode::Invitation => b'I',
            ConnectionMode::Contact => b'C',
        })
    }
}

impl Decode for ConnectionMode {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'I' => Ok(ConnectionMode::Invitation),
            b'C' => Ok(ConnectionMode::Contact),
            _ => Err(DecodeError::InvalidTag {
                what: "ConnectionMode",
            }),
        }
    }
}

/// What both kinds of link carry (`ConnReqUriData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnReqUriData {
    /// The agent versions the link's creator supports.
    pub agent_versions: VersionRange,
    /// The queues to reply to, never empty.
    pub smp_queues: Vec<SmpQueueUri>,
    /// Application data (`data=`), e.g. JSON of the chat client.
    pub client_data: Option<String>,
}

/// A one-time invitation: the queues and the creator's X3DH parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRequest {
    /// Versions, queues and client data.
    pub data: ConnReqUriData,
    /// The creator's X3DH keys (X448) and, with PQ, its proposed KEM key (never an accepted
    /// KEM: the link starts the agreement).
    pub e2e: E2ERatchetParamsUri<X448>,
}

/// A contact address: only the queues; the X3DH parameters come in the `AgentInvitation`
/// that a joining party sends to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRequest {
    /// Versions, queues and client data.
    pub data: ConnReqUriData,
}

/// A connection link (`AConnectionRequestUri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionRequest {
    /// `simplex:/invitation#/?…`
    Invitation(InvitationRequest),
    /// `simplex:/contact#/?…`
    Contact(ContactRequest),
}

fn link_err(what: &'static str) -> AgentProtoError {
    AgentProtoError::Link(what)
}

/// The reference types the link's X3DH parameters as "KEM proposed": an accepted KEM there is
/// refused.
fn check_rcv_kem(kem: &Option<RKemParams>) -> Result<(), DecodeError> {
    match kem {
        Some(RKemParams::Accepted(..)) => Err(DecodeError::Invalid("ratchet KEM state")),
        _ => Ok(()),
    }
}

/// Parses the `e2e=` value (already unescaped once): itself a query string.
fn parse_e2e(value: &[u8]) -> Result<E2ERatchetParamsUri<X448>, AgentProtoError> {
    if value.iter().any(|&b| b == b' ' || b == b'\n') {
        return Err(link_err("e2e parameters"));
    }
    // Unescape once more and re-render plainly, so that escaped keys are accepted as the
    // reference's query parser accepts them.
    let inner = QueryString::parse(value).encode_unescaped_values();
    let e2e = E2ERatchetParamsUri::<X448>::from_str_encoding(&inner)?;
    check_rcv_kem(&e2e.kem)?;
    Ok(e2e)
}

/// `https://` authority: a host (no `: # , ; /` or space) and an optional decimal port.
fn skip_authority(r: &mut Reader<'_>) -> Result<(), AgentProtoError> {
    let host = r.take_till(|b| b":#,;/ ".contains(&b));
    if host.is_empty() {
        return Err(link_err("host"));
    }
    if r.eat(b":") {
        let port = r.take_till(|b| !b.is_ascii_digit());
        if port.is_empty() {
            return Err(link_err("port"));
        }
    }
    Ok(())
}

impl ConnectionRequest {
    /// Parses a link in either scheme. The whole input must be the link.
    pub fn parse(s: &[u8]) -> Result<Self, AgentProtoError> {
        let mut r = Reader::new(s);
        if !r.eat(b"simplex:") {
            if !r.eat(b"https://") {
                return Err(link_err("scheme"));
            }
            // The host of an https link is not kept: the link prints as `simplex:`.
            skip_authority(&mut r)?;
        }
        r.expect(b"/", "link path").map_err(|_| link_err("path"))?;
        let mode = if r.eat(b"invitation") {
            ConnectionMode::Invitation
        } else if r.eat(b"contact") {
            ConnectionMode::Contact
        } else {
            return Err(link_err("mode"));
        };
        r.eat(b"/");
        if !r.eat(b"#/?") {
            return Err(link_err("fragment"));
        }
        let query = r.take_till(|b| b == b' ' || b == b'\n');
        if !r.is_empty() {
            return Err(link_err("trailing characters"));
        }
        let query = QueryString::parse(query);
        let v = query.get("v").ok_or(link_err("no v parameter"))?;
        let agent_versions = VersionRange::parse_str(v)?;
        let smp = query.get("smp").ok_or(link_err("no smp parameter"))?;
        let smp_queues = smp
            .split(|&b| b == b';')
            .map(SmpQueueUri::parse_str)
            .collect::<Result<Vec<_>, _>>()?;
        let client_data = query
            .get("data")
            .map(|d| String::from_utf8_lossy(d).into_owned());
        let data = ConnReqUriData {
            agent_versions,
            smp_queues,
            client_data,
        };
        match mode {
            ConnectionMode::Invitation => {
                let e2e = parse_e2e(query.get("e2e").ok_or(link_err("no e2e parameter"))?)?;
                Ok(ConnectionRequest::Invitation(InvitationRequest {
                    data,
                    e2e,
                }))
            }
            ConnectionMode::Contact => {
                let mut data = data;
                data.agent_versions = raise_to_supported(data.agent_versions);
                Ok(ConnectionRequest::Contact(ContactRequest { data }))
            }
        }
    }

    /// Invitation or contact.
    pub fn mode(&self) -> ConnectionMode {
        match self {
            ConnectionRequest::Invitation(_) => ConnectionMode::Invitation,
            ConnectionRequest::Contact(_) => ConnectionMode::Contact,
        }
    }

    /// The versions, queues and client data.
    pub fn data(&self) -> &ConnReqUriData {
        match self {
            ConnectionRequest::Invitation(i) => &i.data,
            ConnectionRequest::Contact(c) => &c.data,
        }
    }
}

/// Contact links are raised to the minimum supported agent version (`adjustAgentVRange`).
fn raise_to_supported(vr: VersionRange) -> VersionRange {
    let min = vr.min.max(MIN_SUPPORTED_AGENT_VERSION);
    let max: Version = vr.max.max(min);
    VersionRange::new(min, max).unwrap_or(vr)
}

fn write_link(
    mode: &str,
    data: &ConnReqUriData,
    e2e: Option<&E2ERatchetParamsUri<X448>>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let mut q = QueryString::default();
    q.push("v", data.agent_versions.to_string());
    let queues: Vec<String> = data.smp_queues.iter().map(|q| q.to_string()).collect();
    q.push("smp", queues.join(";"));
    if let Some(e2e) = e2e {
        q.push("e2e", e2e.to_str_encoding());
    }
    if let Some(d) = &data.client_data {
        q.push("data", d.as_bytes());
    }
    write!(f, "simplex:/{mode}#/?{}", q.encode())
}

/// The canonical form, as the reference prints it.
impl fmt::Display for ConnectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionRequest::Invitation(i) => write_link("invitation", &i.data, Some(&i.e2e), f),
            ConnectionRequest::Contact(c) => write_link("contact", &c.data, None, f),
        }
    }
}

impl std::str::FromStr for ConnectionRequest {
    type Err = AgentProtoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConnectionRequest::parse(s.as_bytes())
    }
}

/// `(versions, queues, Maybe (Large text))`. Queues without a mode read as contact queues:
/// the reference's patch for the mode that client versions below 3 do not write.
impl Encode for ConnReqUriData {
    fn encode(&self, out: &mut Vec<u8>) {
        self.agent_versions.encode(out);
        put_list(&self.smp_queues, out, encode_queue_uri);
        match &self.client_data {
            None => out.push(b'0'),
            Some(d) => {
                out.push(b'1');
                put_large(d.as_bytes(), out);
            }
        }
    }
}

impl Decode for ConnReqUriData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let agent_versions = VersionRange::decode(r)?;
        let mut smp_queues = read_non_empty(r, decode_queue_uri)?;
        for q in &mut smp_queues {
            if q.queue_mode.is_none() {
                q.queue_mode = Some(QueueMode::Contact);
            }
        }
        let client_data = match r.u8()? {
            b'0' => None,
            b'1' => Some(String::from_utf8_lossy(r.large_bytes()?).into_owned()),
            _ => return Err(DecodeError::InvalidTag { what: "Maybe" }),
        };
        Ok(ConnReqUriData {
            agent_versions,
            smp_queues,
            client_data,
        })
    }
}

/// The binary form (used inside short-link data): the mode letter, the data, and for an
/// invitation its X3DH parameters.
impl Encode for ConnectionRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        self.mode().encode(out);
        match self {
            ConnectionRequest::Invitation(i) => {
                i.data.encode(out);
                i.e2e.encode(out);
            }
            ConnectionRequest::Contact(c) => c.data.encode(out),
        }
    }
}

impl Decode for ConnectionRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match ConnectionMode::decode(r)? {
            ConnectionMode::Invitation => {
                let data = ConnReqUriData::decode(r)?;
                let e2e = E2ERatchetParamsUri::<X448>::decode(r)?;
                check_rcv_kem(&e2e.kem)?;
                Ok(ConnectionRequest::Invitation(InvitationRequest {
                    data,
                    e2e,
                }))
            }
            ConnectionMode::Contact => Ok(ConnectionRequest::Contact(ContactRequest {
                data: ConnReqUriData::decode(r)?,
            })),
        }
    }
}
