//! Short links (`ConnShortLink`, `AConnectionLink` in the reference's `Agent/Protocol.hs`; RFC
//! `rfcs/2025-03-16-smp-queues.md`): the links today's apps share.
//!
//! ```text
//! https://<host>/a#<linkKey>[?h=<more hosts>&p=<port>&c=<key hash>]      contact address
//! https://<host>/i#<linkId>/<linkKey>[?h=…&p=…&c=…]                      one-time invitation
//! simplex:/a#<linkKey>?h=<hosts>[&p=<port>][&c=<key hash>]
//! ```
//!
//! The letter after the host is `i` (invitation) or the contact type: `a` contact address,
//! `g` group, `c` channel, `r` relay (read in either case, printed in lower case). An optional
//! `/` may precede `#`. Binary parts are unpadded base64url when printed. In the `https` form
//! the authority is the server's first host and `h=` lists the others; in the `simplex:` form
//! `h=` lists them all. `p=` and `c=` are left out when the server has no port or an empty key
//! hash: a link to a preset relay names only its host ([`ShortLink::shorten`]), and the
//! joining app fills in the rest from its preset list ([`ShortLink::restore`]).
//!
//! The link key is 32 bytes (the SHA3-256 of the link's fixed data); a link with a key of
//! another length is refused here (the reference reads it, but no data can ever match it).

use std::fmt;

use simplex_encoding::string::{
    base64url_decode, base64url_encode, is_base64url_char, parse_u16, QueryString,
};
use simplex_encoding::{Decode, DecodeError, Encode, Reader};
use smp_proto::address::{SmpServer, TransportHost};
use smp_proto::keys::{parse_key_hash, KeyHash};

use crate::error::AgentProtoError;
use crate::link::{ConnectionMode, ConnectionRequest};

/// The key of a short link: the SHA3-256 of the encoded fixed link data (`LinkKey`). The
/// symmetric key of the link data and, for contact links, the link ID derive from it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkKey(pub [u8; 32]);

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A link key opens the link's data: keep it out of debug output.
        f.write_str("LinkKey(..)")
    }
}

/// Which form a short link was written in (`ShortLinkScheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShortLinkScheme {
    /// `simplex:/…`, the form an app opens directly.
    Simplex,
    /// `https://<server host>/…`, the form shared today (it opens the relay's page).
    Server,
}

/// What a contact short link leads to (`ContactConnType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactType {
    /// `a`: a user's contact address.
    Contact,
    /// `c`: a channel.
    Channel,
    /// `g`: a group link.
    Group,
    /// `r`: a chat relay.
    Relay,
}

impl ContactType {
    /// The upper-case letter of the binary form (`ctTypeChar`); links print it in lower case.
    pub fn letter(self) -> u8 {
        match self {
            ContactType::Contact => b'A',
            ContactType::Channel => b'C',
            ContactType::Group => b'G',
            ContactType::Relay => b'R',
        }
    }

    /// From the upper-case letter.
    pub fn from_letter(b: u8) -> Option<Self> {
        match b {
            b'A' => Some(ContactType::Contact),
            b'C' => Some(ContactType::Channel),
            b'G' => Some(ContactType::Group),
            b'R' => Some(ContactType::Relay),
            _ => None,
        }
    }
}

/// A short link to a one-time invitation: the relay generated its link ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvitationShortLink {
    /// How it is written.
    pub scheme: ShortLinkScheme,
    /// The relay holding the link data.
    pub server: SmpServer,
    /// The link ID on that relay (24 bytes from the reference; at most 255).
    pub link_id: Vec<u8>,
    /// The link key.
    pub link_key: LinkKey,
}

/// A short link to a contact address, group, channel or relay: its link ID derives from the
/// link key ([`crate::link_crypto::contact_short_link_kdf`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContactShortLink {
    /// How it is written.
    pub scheme: ShortLinkScheme,
    /// What it leads to.
    pub contact_type: ContactType,
    /// The relay holding the link data.
    pub server: SmpServer,
    /// The link key.
    pub link_key: LinkKey,
}

/// A short link (`AConnShortLink`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ShortLink {
    /// `…/i#<linkId>/<linkKey>`
    Invitation(InvitationShortLink),
    /// `…/{a,c,g,r}#<linkKey>`
    Contact(ContactShortLink),
}

fn link_err(what: &'static str) -> AgentProtoError {
    AgentProtoError::Link(what)
}

/// `base64urlP` at the start of `r`: one or more base64url characters, then any `=`.
fn read_base64url(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    let rest = r.peek_rest();
    let body = rest
        .iter()
        .position(|&b| !is_base64url_char(b))
        .unwrap_or(rest.len());
    let pad = rest
        .get(body..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b'=')
        .count();
    base64url_decode(r.take(body + pad)?)
}

fn link_key_from(bytes: &[u8]) -> Result<LinkKey, AgentProtoError> {
    <[u8; 32]>::try_from(bytes)
        .map(LinkKey)
        .map_err(|_| link_err("link key length"))
}

/// base64url without `=` padding, as short links print binary parts.
pub(crate) fn unpadded(bytes: &[u8]) -> String {
    let mut s = base64url_encode(bytes);
    s.truncate(s.trim_end_matches('=').len());
    s
}

/// A server that is only a host: no port, no key hash (`SMPServerOnlyHost`).
fn only_host(h: TransportHost) -> SmpServer {
    SmpServer {
        hosts: vec![h],
        port: None,
        key_hash: KeyHash::empty(),
    }
}

/// The hosts of `h=`: comma-separated, possibly none (`TransportHosts_`).
fn read_hosts(s: &[u8]) -> Result<Vec<TransportHost>, DecodeError> {
    let mut r = Reader::new(s);
    let mut hosts = Vec::new();
    if r.is_empty() {
        return Ok(hosts);
    }
    hosts.push(TransportHost::read(&mut r)?);
    while r.eat(b",") {
        hosts.push(TransportHost::read(&mut r)?);
    }
    r.finish()?;
    Ok(hosts)
}

/// The server from the query (`serverQueryP`): the authority host of an `https` link first.
fn read_server(
    r: &mut Reader<'_>,
    authority: Option<TransportHost>,
) -> Result<SmpServer, AgentProtoError> {
    if !r.eat(b"?") {
        r.finish().map_err(|_| link_err("trailing characters"))?;
        return authority
            .map(only_host)
            .ok_or(link_err("short link without server"));
    }
    let query = r.take_till(|b| b == b' ' || b == b'\n');
    r.finish().map_err(|_| link_err("trailing characters"))?;
    let query = QueryString::parse(query);
    let mut hosts: Vec<TransportHost> = authority.into_iter().collect();
    if let Some(h) = query.get("h") {
        hosts.extend(read_hosts(h)?);
    }
    if hosts.is_empty() {
        return Err(link_err("short link without server"));
    }
    let port = query.get("p").map(parse_u16).transpose()?;
    let key_hash = match query.get("c") {
        Some(c) => parse_key_hash(c)?,
        None => KeyHash::empty(),
    };
    Ok(SmpServer {
        hosts,
        port,
        key_hash,
    })
}

impl ShortLink {
    /// Parses a short link in either scheme; the whole input must be the link.
    pub fn parse(s: &[u8]) -> Result<Self, AgentProtoError> {
        let mut r = Reader::new(s);
        let (scheme, authority) = if r.eat(b"simplex:") {
            (ShortLinkScheme::Simplex, None)
        } else if r.eat(b"https://") {
            let host = TransportHost::read(&mut r)?;
            (ShortLinkScheme::Server, Some(host))
        } else {
            return Err(link_err("bad short link scheme"));
        };
        r.expect(b"/", "short link path")
            .map_err(|_| link_err("path"))?;
        let letter = r.u8().map_err(|_| link_err("unknown short link type"))?;
        let contact_type = ContactType::from_letter(letter.to_ascii_uppercase());
        if contact_type.is_none() && letter != b'i' {
            return Err(link_err("unknown short link type"));
        }
        r.eat(b"/");
        r.expect(b"#", "short link fragment")
            .map_err(|_| link_err("fragment"))?;
        match contact_type {
            None => {
                let link_id = read_base64url(&mut r)?;
                if link_id.len() > 255 {
                    return Err(link_err("link ID length"));
                }
                r.expect(b"/", "link ID separator")
                    .map_err(|_| link_err("link ID"))?;
                let link_key = link_key_from(&read_base64url(&mut r)?)?;
                let server = read_server(&mut r, authority)?;
                Ok(ShortLink::Invitation(InvitationShortLink {
                    scheme,
                    server,
                    link_id,
                    link_key,
                }))
            }
            Some(contact_type) => {
                let link_key = link_key_from(&read_base64url(&mut r)?)?;
                let server = read_server(&mut r, authority)?;
                Ok(ShortLink::Contact(ContactShortLink {
                    scheme,
                    contact_type,
                    server,
                    link_key,
                }))
            }
        }
    }

    /// Invitation or contact.
    pub fn mode(&self) -> ConnectionMode {
        match self {
            ShortLink::Invitation(_) => ConnectionMode::Invitation,
            ShortLink::Contact(_) => ConnectionMode::Contact,
        }
    }

    /// The relay holding the link data.
    pub fn server(&self) -> &SmpServer {
        match self {
            ShortLink::Invitation(l) => &l.server,
            ShortLink::Contact(l) => &l.server,
        }
    }

    /// The link key.
    pub fn link_key(&self) -> &LinkKey {
        match self {
            ShortLink::Invitation(l) => &l.link_key,
            ShortLink::Contact(l) => &l.link_key,
        }
    }

    /// The same link in the `simplex:` form (`simplexShortLink`).
    pub fn to_simplex_scheme(&self) -> ShortLink {
        let mut l = self.clone();
        match &mut l {
            ShortLink::Invitation(i) => i.scheme = ShortLinkScheme::Simplex,
            ShortLink::Contact(c) => c.scheme = ShortLinkScheme::Simplex,
        }
        l
    }

    fn server_mut(&mut self) -> &mut SmpServer {
        match self {
            ShortLink::Invitation(l) => &mut l.server,
            ShortLink::Contact(l) => &mut l.server,
        }
    }

    /// Leaves out the port and key hash of a preset relay (`shortenShortLink`): `presets` are
    /// all the preset relays, never servers a user configured. A server is shortened to its
    /// first host when a preset with the same first host has all its hosts, the same key hash
    /// and the same port (or no port where the link's is 443 or 5223).
    pub fn shorten(&self, presets: &[SmpServer]) -> ShortLink {
        let mut l = self.clone();
        let srv = l.server_mut();
        if is_preset_server(srv, presets) {
            if let Some(h) = srv.hosts.first().cloned() {
                *srv = only_host(h);
            }
        }
        l
    }

    /// Restores the preset relay of a link that names only its host (`restoreShortLink`);
    /// any other link is returned as it is.
    pub fn restore(&self, presets: &[SmpServer]) -> ShortLink {
        let mut l = self.clone();
        let srv = l.server_mut();
        if is_only_host(srv) {
            if let Some(p) = find_preset(srv, presets) {
                *srv = p.clone();
            }
        }
        l
    }
}

fn is_only_host(s: &SmpServer) -> bool {
    s.hosts.len() == 1 && s.port.is_none() && s.key_hash.is_empty()
}

fn find_preset<'a>(s: &SmpServer, presets: &'a [SmpServer]) -> Option<&'a SmpServer> {
    let first = s.hosts.first()?;
    presets.iter().find(|p| p.hosts.first() == Some(first))
}

fn is_preset_server(s: &SmpServer, presets: &[SmpServer]) -> bool {
    let Some(p) = find_preset(s, presets) else {
        return false;
    };
    s.hosts.iter().all(|h| p.hosts.contains(h))
        && (s.port == p.port || (p.port.is_none() && matches!(s.port, Some(443 | 5223))))
        && s.key_hash == p.key_hash
}

fn write_short_link(
    scheme: ShortLinkScheme,
    server: &SmpServer,
    letter: u8,
    link_id: &[u8],
    key: &LinkKey,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let (first, rest) = match server.hosts.split_first() {
        Some((h, rest)) => (Some(h), rest),
        None => (None, &[][..]),
    };
    let param_hosts: &[TransportHost] = match scheme {
        ShortLinkScheme::Simplex => {
            f.write_str("simplex:")?;
            &server.hosts
        }
        ShortLinkScheme::Server => {
            f.write_str("https://")?;
            if let Some(h) = first {
                write!(f, "{h}")?;
            }
            rest
        }
    };
    write!(f, "/{}#", char::from(letter.to_ascii_lowercase()))?;
    if !link_id.is_empty() {
        write!(f, "{}/", unpadded(link_id))?;
    }
    f.write_str(&unpadded(&key.0))?;
    let mut q = QueryString::default();
    if !param_hosts.is_empty() {
        let hosts: Vec<String> = param_hosts.iter().map(|h| h.to_string()).collect();
        q.push("h", hosts.join(","));
    }
    if let Some(p) = server.port {
        q.push("p", p.to_string());
    }
    if !server.key_hash.is_empty() {
        q.push("c", unpadded(server.key_hash.as_bytes()));
    }
    if !q.params.is_empty() {
        write!(f, "?{}", q.encode())?;
    }
    Ok(())
}

/// The reference's string form, exactly.
impl fmt::Display for ShortLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShortLink::Invitation(l) => {
                write_short_link(l.scheme, &l.server, b'i', &l.link_id, &l.link_key, f)
            }
            ShortLink::Contact(l) => fmt::Display::fmt(l, f),
        }
    }
}

impl fmt::Display for ContactShortLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_short_link(
            self.scheme,
            &self.server,
            self.contact_type.letter(),
            &[],
            &self.link_key,
            f,
        )
    }
}

impl std::str::FromStr for ShortLink {
    type Err = AgentProtoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShortLink::parse(s.as_bytes())
    }
}

/// The binary form of a contact short link (in the relays of a contact's link data):
/// `'C'`, the type letter, the server, the key. The scheme is not kept: it reads back as
/// [`ShortLinkScheme::Server`].
impl Encode for ContactShortLink {
    fn encode(&self, out: &mut Vec<u8>) {
        ConnectionMode::Contact.encode(out);
        out.push(self.contact_type.letter());
        self.server.encode(out);
        out.push(32);
        out.extend_from_slice(&self.link_key.0);
    }
}

fn decode_link_key(r: &mut Reader<'_>) -> Result<LinkKey, DecodeError> {
    <[u8; 32]>::try_from(r.short_bytes()?)
        .map(LinkKey)
        .map_err(|_| DecodeError::Invalid("link key length"))
}

fn decode_contact_rest(r: &mut Reader<'_>) -> Result<ContactShortLink, DecodeError> {
    let contact_type = ContactType::from_letter(r.u8()?).ok_or(DecodeError::InvalidTag {
        what: "ContactConnType",
    })?;
    let server = SmpServer::decode(r)?;
    let link_key = decode_link_key(r)?;
    Ok(ContactShortLink {
        scheme: ShortLinkScheme::Server,
        contact_type,
        server,
        link_key,
    })
}

impl Decode for ContactShortLink {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match ConnectionMode::decode(r)? {
            ConnectionMode::Contact => decode_contact_rest(r),
            ConnectionMode::Invitation => Err(DecodeError::Invalid("bad connection mode")),
        }
    }
}

/// `'I'`, the server, the link ID, the key; or a contact link's form.
impl Encode for ShortLink {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ShortLink::Invitation(l) => {
                ConnectionMode::Invitation.encode(out);
                l.server.encode(out);
                // Invariant: the parser and decoder keep link IDs within 255 bytes.
                let id = l.link_id.get(..255).unwrap_or(&l.link_id);
                out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(id);
                out.push(32);
                out.extend_from_slice(&l.link_key.0);
            }
            ShortLink::Contact(l) => l.encode(out),
        }
    }
}

impl Decode for ShortLink {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match ConnectionMode::decode(r)? {
            ConnectionMode::Invitation => {
                let server = SmpServer::decode(r)?;
                let link_id = r.short_bytes()?.to_vec();
                let link_key = decode_link_key(r)?;
                Ok(ShortLink::Invitation(InvitationShortLink {
                    scheme: ShortLinkScheme::Server,
                    server,
                    link_id,
                    link_key,
                }))
            }
            ConnectionMode::Contact => decode_contact_rest(r).map(ShortLink::Contact),
        }
    }
}

/// A full or a short connection link (`AConnectionLink`): what a user pastes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionLink {
    /// `simplex:/invitation#/?…`, `simplex:/contact#/?…` and their `https` forms.
    Full(ConnectionRequest),
    /// `https://host/{i,a,g,c,r}#…` and `simplex:/{i,a,g,c,r}#…`.
    Short(ShortLink),
}

impl ConnectionLink {
    /// Parses a full link, or failing that a short link (the reference's order). The error is
    /// the short link's when the input looks like one (a single letter after the scheme's
    /// path), else the full link's.
    pub fn parse(s: &[u8]) -> Result<Self, AgentProtoError> {
        match ConnectionRequest::parse(s) {
            Ok(c) => Ok(ConnectionLink::Full(c)),
            Err(full_err) => match ShortLink::parse(s) {
                Ok(l) => Ok(ConnectionLink::Short(l)),
                Err(short_err) if looks_short(s) => Err(short_err),
                Err(_) => Err(full_err),
            },
        }
    }

    /// Invitation or contact.
    pub fn mode(&self) -> ConnectionMode {
        match self {
            ConnectionLink::Full(c) => c.mode(),
            ConnectionLink::Short(l) => l.mode(),
        }
    }
}

/// True when the path is one letter followed by `#` or `/#`.
fn looks_short(s: &[u8]) -> bool {
    let path = if let Some(rest) = s.strip_prefix(b"simplex:/") {
        rest
    } else if let Some(rest) = s.strip_prefix(b"https://") {
        match rest.iter().position(|&b| b == b'/') {
            Some(i) => rest.get(i + 1..).unwrap_or_default(),
            None => return false,
        }
    } else {
        return false;
    };
    matches!(path.get(1..2), Some(b"#") | Some(b"/"))
}

impl fmt::Display for ConnectionLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionLink::Full(c) => fmt::Display::fmt(c, f),
            ConnectionLink::Short(l) => fmt::Display::fmt(l, f),
        }
    }
}

impl std::str::FromStr for ConnectionLink {
    type Err = AgentProtoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConnectionLink::parse(s.as_bytes())
    }
}

/// What the `link` example prints for one input line: an `smp://` queue URI, a full link or
/// a short link re-encoded in the reference's canonical form.
pub fn reencode_link(line: &str) -> Result<String, AgentProtoError> {
    if line.starts_with("smp://") {
        Ok(smp_proto::SmpQueueUri::parse_str(line.as_bytes())?.to_string())
    } else {
        Ok(ConnectionLink::parse(line.as_bytes())?.to_string())
    }
}
