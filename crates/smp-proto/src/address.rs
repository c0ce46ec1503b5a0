//! Server addresses and queue URIs (`protocol/simplex-messaging.md` § SMP queue URI;
//! `ProtocolServer`, `BasicAuth`, `TransportHost` in the reference's `Protocol.hs` and
//! `Transport/Client.hs`, `SMPQueueUri` in `Agent/Protocol.hs`).
//!
//! String form of a server: `smp://<keyhash>[:<password>]@host1,host2[:port]`. Hosts are
//! IPv4, IPv6 (printed without brackets, as the reference does), `.onion` names or domain
//! names. Binary form (in `PRXY`): hosts as a non-empty list of strings, the port as a
//! string (empty for the default), then the key hash.

use std::fmt;
use std::net::Ipv6Addr;

use simplex_encoding::string::{
    base64url_decode, base64url_encode, is_base64url_char, QueryString,
};
use simplex_encoding::{decode_non_empty, Decode, DecodeError, Encode, Reader, ShortBytes};

use crate::keys::{key_hash_from_bytes, KeyHash, PublicKeyX25519};
use crate::version::VersionRange;
use crate::QueueMode;

/// The default SMP port, used when an address has none.
pub const DEFAULT_SMP_PORT: u16 = 5223;

/// One host of a server (`TransportHost`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransportHost {
    /// A dotted IPv4 address.
    Ipv4([u8; 4]),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
    /// A Tor onion name: lowercase letters and digits, then `.onion`.
    Onion(String),
    /// Any other host name.
    Domain(String),
}

impl fmt::Display for TransportHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportHost::Ipv4([a, b, c, d]) => write!(f, "{a}.{b}.{c}.{d}"),
            TransportHost::Ipv6(a) => write!(f, "{a}"),
            TransportHost::Onion(h) | TransportHost::Domain(h) => f.write_str(h),
        }
    }
}

fn digits<'a>(r: &mut Reader<'a>) -> &'a [u8] {
    r.take_till(|b| !b.is_ascii_digit())
}

fn decimal_u8(d: &[u8]) -> Option<u8> {
    if d.is_empty() {
        return None;
    }
    std::str::from_utf8(d).ok()?.parse().ok()
}

impl TransportHost {
    /// Reads one host from the start of `r`, trying IPv4, IPv6, onion and domain in the
    /// reference's order; stops before `,`, `:` (unless IPv6), `/`, `#`, `;` or whitespace.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // IPv4: three numbers each followed by a dot, then a number.
        let mut a = r.clone();
        let mut quad = [0u8; 4];
        let mut ok = true;
        for (i, q) in quad.iter_mut().enumerate() {
            let d = digits(&mut a);
            match decimal_u8(d) {
                Some(n) => *q = n,
                None => {
                    ok = false;
                    break;
                }
            }
            if i < 3 && !a.eat(b".") {
                ok = false;
                break;
            }
        }
        if ok {
            *r = a;
            return Ok(TransportHost::Ipv4(quad));
        }
        // IPv6: bracketed, or hex digits and colons.
        let mut a = r.clone();
        let text = if a.eat(b"[") {
            let t = a.take_till(|b| b == b']');
            a.expect(b"]", "IPv6 bracket")
                .ok()
                .map(|_| t)
                .filter(|t| !t.is_empty())
        } else {
            let t = a.take_till(|b| !(b.is_ascii_hexdigit() || b == b':'));
            (!t.is_empty()).then_some(t)
        };
        if let Some(addr) = text
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.parse::<Ipv6Addr>().ok())
        {
            *r = a;
            return Ok(TransportHost::Ipv6(addr));
        }
        // Onion: lowercase letters and digits, then ".onion".
        let mut a = r.clone();
        let name = a.take_till(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit()));
        if a.eat(b".onion") {
            let mut host = String::from_utf8_lossy(name).into_owned();
            host.push_str(".onion");
            *r = a;
            return Ok(TransportHost::Onion(host));
        }
        // Domain: anything up to a separator, not ending in ".onion".
        let name = r.take_till(|b| b":#,;/ \n\r\t".contains(&b));
        if name.is_empty() {
            return Err(DecodeError::Invalid("host"));
        }
        if name.ends_with(b".onion") {
            return Err(DecodeError::Invalid("onion host"));
        }
        let host = std::str::from_utf8(name).map_err(|_| DecodeError::Utf8)?;
        Ok(TransportHost::Domain(host.to_owned()))
    }

    /// Parses a whole string as one host.
    pub fn parse_str(s: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(s);
        let h = TransportHost::read(&mut r)?;
        r.finish()?;
        Ok(h)
    }
}

/// A host in binary form is its string form with a one-byte length.
impl Encode for TransportHost {
    fn encode(&self, out: &mut Vec<u8>) {
        let s = self.to_string();
        // Host names longer than 255 bytes cannot be built by `read`, but `Domain` is public:
        // cut at the limit rather than panic; such a host is not a valid DNS name anyway.
        let bytes = s.as_bytes();
        let bytes = bytes.get(..ShortBytes::MAX_LEN).unwrap_or(bytes);
        let _ = ShortBytes::encode_slice(bytes, out);
    }
}

impl Decode for TransportHost {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        TransportHost::parse_str(r.short_bytes()?)
    }
}

/// A basic-auth password for creating queues (`BasicAuth`): printable, no spaces, and none
/// of `@ : /`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BasicAuth(ShortBytes);

impl BasicAuth {
    /// Checks the characters and length.
    pub fn new(bytes: &[u8]) -> Result<Self, DecodeError> {
        let valid = |b: u8| b.is_ascii_graphic() && !matches!(b, b'@' | b':' | b'/') || b >= 0xA1;
        if !bytes.iter().all(|&b| valid(b)) {
            return Err(DecodeError::Invalid("character in BasicAuth"));
        }
        ShortBytes::from_slice(bytes)
            .map(BasicAuth)
            .map_err(|_| DecodeError::Invalid("BasicAuth length"))
    }

    /// The password bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth(..)")
    }
}

impl Encode for BasicAuth {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}

impl Decode for BasicAuth {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        BasicAuth::new(r.short_bytes()?)
    }
}

/// An SMP server address (`ProtocolServer 'PSMP`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmpServer {
    /// Its hosts, never empty; the first is preferred.
    pub hosts: Vec<TransportHost>,
    /// Its port; `None` means the default ([`DEFAULT_SMP_PORT`]).
    pub port: Option<u16>,
    /// Its identity: the fingerprint of its CA certificate (empty in a short link to a preset
    /// relay, whose identity the app knows).
    pub key_hash: KeyHash,
}

/// An SMP server address with an optional basic-auth password (`ProtoServerWithAuth`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmpServerWithAuth {
    /// The server.
    pub server: SmpServer,
    /// The password for creating queues, if any.
    pub auth: Option<BasicAuth>,
}

impl SmpServer {
    /// The port to connect to.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_SMP_PORT)
    }

    fn write_str(&self, auth: Option<&BasicAuth>, out: &mut String) {
        out.push_str("smp://");
        out.push_str(&self.key_hash.to_string());
        if let Some(a) = auth {
            out.push(':');
            out.push_str(&String::from_utf8_lossy(a.as_bytes()));
        }
        out.push('@');
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&h.to_string());
        }
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(&p.to_string());
        }
    }

    /// Reads `smp://keyhash[:auth]@hosts[:port]` from the start of `r` (`serverStrP`).
    fn read_str(r: &mut Reader<'_>) -> Result<SmpServerWithAuth, DecodeError> {
        let scheme = r.take_till(|b| b == b':' || b == b' ');
        if scheme != b"smp" {
            return Err(DecodeError::Invalid("server scheme"));
        }
        r.expect(b"://", "server scheme separator")?;
        let key_hash = key_hash_from_bytes(&read_base64url(r)?)?;
        let auth = if r.eat(b":") {
            Some(BasicAuth::new(r.take_till(|b| b == b'@'))?)
        } else {
            None
        };
        r.expect(b"@", "server host separator")?;
        let mut hosts = vec![TransportHost::read(r)?];
        while r.eat(b",") {
            hosts.push(TransportHost::read(r)?);
        }
        let mut a = r.clone();
        let port = if a.eat(b":") {
            let d = digits(&mut a);
            if d.is_empty() {
                None
            } else {
                *r = a;
                Some(
                    simplex_encoding::string::parse_u16(d)
                        .map_err(|_| DecodeError::Invalid("port"))?,
                )
            }
        } else {
            None
        };
        Ok(SmpServerWithAuth {
            server: SmpServer {
                hosts,
                port,
                key_hash,
            },
            auth,
        })
    }

    /// Parses the string form; a password is refused (use [`SmpServerWithAuth::parse_str`]).
    pub fn parse_str(s: &[u8]) -> Result<Self, DecodeError> {
        let with = SmpServerWithAuth::parse_str(s)?;
        if with.auth.is_some() {
            return Err(DecodeError::Invalid("server address with basic auth"));
        }
        Ok(with.server)
    }
}

impl fmt::Display for SmpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_str(None, &mut s);
        f.write_str(&s)
    }
}

impl SmpServerWithAuth {
    /// Parses `smp://keyhash[:password]@hosts[:port]`.
    pub fn parse_str(s: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(s);
        let v = SmpServer::read_str(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

impl fmt::Display for SmpServerWithAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.server.write_str(self.auth.as_ref(), &mut s);
        f.write_str(&s)
    }
}

/// `base64urlP`: letters, digits, `-`, `_`, then any `=`; at least one character.
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
    let bytes = base64url_decode(r.take(body + pad)?)?;
    Ok(bytes)
}

impl Encode for SmpServer {
    fn encode(&self, out: &mut Vec<u8>) {
        // Invariant: at most 255 hosts is checked when decoding; a caller-built list longer
        // than that is cut, which never happens for a real server.
        let hosts = self.hosts.get(..255).unwrap_or(&self.hosts);
        let _ = simplex_encoding::encode_list(hosts, out);
        match self.port {
            Some(p) => {
                let s = p.to_string();
                let _ = ShortBytes::encode_slice(s.as_bytes(), out);
            }
            None => out.push(0),
        }
        self.key_hash.encode(out);
    }
}

impl Decode for SmpServer {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let hosts = decode_non_empty::<TransportHost>(r)?;
        let port = r.short_bytes()?;
        let port = if port.is_empty() {
            None
        } else {
            Some(simplex_encoding::string::parse_u16(port)?)
        };
        let key_hash = KeyHash::decode(r)?;
        Ok(SmpServer {
            hosts,
            port,
            key_hash,
        })
    }
}

/// A queue address given to a sender out of band (`SMPQueueUri`):
/// `smp://keyhash@hosts[:port]/<senderId>#/?v=<range>&dh=<key>[&q=m|c][&k=s]`.
/// The version range is of the SMP *client* protocol (1–4), not of the relay protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmpQueueUri {
    /// The client versions the recipient supports.
    pub client_versions: VersionRange,
    /// The queue's server.
    pub server: SmpServer,
    /// The sender's queue ID.
    pub sender_id: Vec<u8>,
    /// The recipient's key for the end-to-end DH agreement.
    pub dh_public_key: PublicKeyX25519,
    /// Whether this is a messaging queue (sender may secure it) or a contact queue.
    pub queue_mode: Option<QueueMode>,
}

/// The onion hosts the reference adds to old single-host addresses of its preset servers
/// (`extraSMPServerHosts`): a queue URI or queue info of client version 1 names only the
/// public host, and the second host is implied.
pub const EXTRA_SMP_SERVER_HOSTS: [(&str, &str); 6] = [
    (
        "smp4.simplex.im",
        "o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion",
    ),
    (
        "smp5.simplex.im",
        "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion",
    ),
    (
        "smp6.simplex.im",
        "bylepyau3ty4czmn77q4fglvperknl4bi2eb2fdy2bh4jxtf32kf73yd.onion",
    ),
    (
        "smp8.simplex.im",
        "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion",
    ),
    (
        "smp9.simplex.im",
        "jssqzccmrcws6bhmn77vgmhfjmhwlyr3u7puw4erkyoosywgl67slqqd.onion",
    ),
    (
        "smp10.simplex.im",
        "rb2pbttocvnbrngnwziclp2f4ckjq65kebafws6g4hy22cdaiv5dwjqd.onion",
    ),
];

/// Adds the implied onion host to a single-host address of a preset server
/// (`updateSMPServerHosts`); any other address is left as it is.
pub fn update_smp_server_hosts(server: &mut SmpServer) {
    if let [TransportHost::Domain(h)] = server.hosts.as_slice() {
        if let Some((_, onion)) = EXTRA_SMP_SERVER_HOSTS.iter().find(|(d, _)| d == h) {
            server.hosts.push(TransportHost::Onion((*onion).to_owned()));
        }
    }
}

/// The longest sender ID a queue URI may carry: its binary form (`EntityId`) has a one-byte
/// length. Real IDs are 24 bytes.
pub const MAX_SENDER_ID_LEN: usize = 255;

/// SMP client version 2: several hosts in server addresses.
const SRV_HOSTNAMES_CLIENT_VERSION: u16 = 2;
/// SMP client version 4: short links; `k=s` is no longer written.
const SHORT_LINKS_CLIENT_VERSION: u16 = 4;

impl fmt::Display for SmpQueueUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let legacy = self.client_versions.min.0 < SRV_HOSTNAMES_CLIENT_VERSION;
        let mut s = String::new();
        if legacy {
            let first = SmpServer {
                hosts: self.server.hosts.iter().take(1).cloned().collect(),
                port: self.server.port,
                key_hash: self.server.key_hash.clone(),
            };
            first.write_str(None, &mut s);
        } else {
            self.server.write_str(None, &mut s);
        }
        s.push('/');
        s.push_str(&base64url_encode(&self.sender_id));
        s.push_str("#/?");
        let mut q = QueryString::default();
        q.push("v", self.client_versions.to_string());
        q.push("dh", base64url_encode(&self.dh_public_key.to_der()));
        match self.queue_mode {
            Some(QueueMode::Messaging) => q.push("q", "m"),
            Some(QueueMode::Contact) => q.push("q", "c"),
            None => {}
        }
        if self.queue_mode == Some(QueueMode::Messaging)
            && self.client_versions.min.0 < SHORT_LINKS_CLIENT_VERSION
        {
            q.push("k", "s");
        }
        if legacy && self.server.hosts.len() > 1 {
            let rest: Vec<String> = self
                .server
                .hosts
                .iter()
                .skip(1)
                .map(|h| h.to_string())
                .collect();
            q.push("srv", rest.join(","));
        }
        s.push_str(&q.encode());
        f.write_str(&s)
    }
}

impl SmpQueueUri {
    /// Parses the versioned form, and the old unversioned `...#<dhKey>` form as version 1.
    /// An address of client version 1 naming one preset host gets its implied onion host
    /// ([`update_smp_server_hosts`]). Sender IDs over [`MAX_SENDER_ID_LEN`] bytes are refused
    /// (the reference reads them but cannot encode them in binary).
    pub fn parse_str(s: &[u8]) -> Result<Self, DecodeError> {
        let mut uri = Self::parse_str_raw(s)?;
        if uri.sender_id.len() > MAX_SENDER_ID_LEN {
            return Err(DecodeError::Invalid("sender ID length"));
        }
        if uri.client_versions.max.0 < SRV_HOSTNAMES_CLIENT_VERSION {
            update_smp_server_hosts(&mut uri.server);
        }
        Ok(uri)
    }

    fn parse_str_raw(s: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(s);
        let SmpServerWithAuth { server, auth } = SmpServer::read_str(&mut r)?;
        if auth.is_some() {
            return Err(DecodeError::Invalid("queue URI with basic auth"));
        }
        let mut server = server;
        r.expect(b"/", "queue URI path")?;
        let sender_id = read_base64url(&mut r)?;
        r.eat(b"/");
        r.expect(b"#", "queue URI fragment")?;
        let dh_before = if r.peek().is_some_and(is_base64url_char) {
            Some(read_base64url(&mut r)?)
        } else {
            None
        };
        let parse_dh = |der: &[u8]| {
            PublicKeyX25519::from_der(der).map_err(|_| DecodeError::Invalid("queue DH key"))
        };
        if r.is_empty() {
            // Unversioned: `#<dhKey>` and nothing more.
            let der = dh_before.ok_or(DecodeError::Invalid("queue URI without key"))?;
            return Ok(SmpQueueUri {
                client_versions: VersionRange::single(crate::Version(1)),
                server,
                sender_id,
                dh_public_key: parse_dh(&der)?,
                queue_mode: None,
            });
        }
        r.eat(b"/");
        r.expect(b"?", "queue URI query")?;
        let query = QueryString::parse(r.take_till(|b| b == b' ' || b == b'\n'));
        r.finish()?;
        let v = query
            .get("v")
            .ok_or(DecodeError::Invalid("queue URI without v"))?;
        let client_versions = VersionRange::parse_str(v)?;
        let dh = match dh_before {
            Some(der) => der,
            None => base64url_decode(
                query
                    .get("dh")
                    .ok_or(DecodeError::Invalid("queue URI without dh"))?,
            )?,
        };
        if let Some(srv) = query.get("srv") {
            let mut sr = Reader::new(srv);
            if !sr.is_empty() {
                server.hosts.push(TransportHost::read(&mut sr)?);
                while sr.eat(b",") {
                    server.hosts.push(TransportHost::read(&mut sr)?);
                }
                sr.finish()?;
            }
        }
        let queue_mode = match query.get("q") {
            Some(b"m") => Some(QueueMode::Messaging),
            Some(b"c") => Some(QueueMode::Contact),
            _ if query.get("k") == Some(b"s") => Some(QueueMode::Messaging),
            _ => None,
        };
        Ok(SmpQueueUri {
            client_versions,
            server,
            sender_id,
            dh_public_key: parse_dh(&dh)?,
            queue_mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_encoding::decode_all;

    fn kh() -> KeyHash {
        crate::keys::parse_key_hash(b"LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=")
            .expect("key hash")
    }

    #[test]
    fn several_hosts_password_and_port() {
        let s = "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=:s3cret@smp.example.com,abcdefghij234567.onion,10.0.0.1:5224";
        let parsed = SmpServerWithAuth::parse_str(s.as_bytes()).expect("parses");
        assert_eq!(
            parsed.server.hosts,
            vec![
                TransportHost::Domain("smp.example.com".into()),
                TransportHost::Onion("abcdefghij234567.onion".into()),
                TransportHost::Ipv4([10, 0, 0, 1]),
            ]
        );
        assert_eq!(parsed.server.port, Some(5224));
        assert_eq!(parsed.server.key_hash, kh());
        assert_eq!(
            parsed.auth.as_ref().map(|a| a.as_bytes()),
            Some(&b"s3cret"[..])
        );
        assert_eq!(parsed.to_string(), s);
        assert!(
            SmpServer::parse_str(s.as_bytes()).is_err(),
            "auth refused in plain server"
        );
    }

    #[test]
    fn key_hash_of_any_length_as_the_reference_has_it() {
        let s = b"smp://1234-w==@smp.simplex.im:5223";
        let srv = SmpServer::parse_str(s).expect("a 4-byte key hash parses");
        assert_eq!(srv.key_hash.as_bytes(), &[0xd7, 0x6d, 0xf8, 0xfb][..]);
        assert_eq!(srv.to_string().as_bytes(), s);
        assert_eq!(decode_all::<SmpServer>(&srv.to_bytes()), Ok(srv));
        assert!(SmpServer::parse_str(b"smp://@smp.simplex.im").is_err());
    }

    #[test]
    fn unpadded_key_hash_prints_padded_and_no_default_port() {
        let s = b"smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI@localhost";
        let srv = SmpServer::parse_str(s).expect("parses");
        assert_eq!(srv.port, None);
        assert_eq!(srv.port_or_default(), 5223);
        assert_eq!(
            srv.to_string(),
            "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost"
        );
    }

    #[test]
    fn hosts_parse_like_the_reference() {
        assert_eq!(
            TransportHost::parse_str(b"1.2.3.4"),
            Ok(TransportHost::Ipv4([1, 2, 3, 4]))
        );
        assert_eq!(
            TransportHost::parse_str(b"::1"),
            Ok(TransportHost::Ipv6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(
            TransportHost::parse_str(b"[fe80::0:1]").map(|h| h.to_string()),
            Ok("fe80::1".to_string())
        );
        assert_eq!(
            TransportHost::parse_str(b"deadbeef"),
            Ok(TransportHost::Domain("deadbeef".into()))
        );
        assert!(TransportHost::parse_str(b"Upper.onion").is_err());
        assert!(TransportHost::parse_str(b"1.2.3.4.example").is_err());
        // The reference wraps the last number into a byte (1.2.3.0); we never build such an
        // address and read it as a (useless) domain name instead.
        assert!(!matches!(
            TransportHost::parse_str(b"1.2.3.256"),
            Ok(TransportHost::Ipv4(_))
        ));
        assert!(TransportHost::parse_str(b"").is_err());
    }

    #[test]
    fn binary_form_round_trips() {
        let srv = SmpServer {
            hosts: vec![
                TransportHost::Domain("a.b".into()),
                TransportHost::Ipv4([1, 2, 3, 4]),
            ],
            port: Some(443),
            key_hash: kh(),
        };
        let bytes = srv.to_bytes();
        assert_eq!(&bytes[..17], b"\x02\x03a.b\x071.2.3.4\x03443");
        assert_eq!(decode_all::<SmpServer>(&bytes), Ok(srv.clone()));
        for n in 0..bytes.len() {
            assert!(decode_all::<SmpServer>(&bytes[..n]).is_err());
        }
        let no_port = SmpServer { port: None, ..srv };
        assert_eq!(decode_all::<SmpServer>(&no_port.to_bytes()), Ok(no_port));
    }

    #[test]
    fn v1_queue_uri_of_a_preset_server_gets_its_onion_host() {
        let dh = "MCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o=";
        let kh = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=";
        let v1 = format!("smp://{kh}@smp5.simplex.im/3456-w==#/?v=1&dh={dh}");
        let uri = SmpQueueUri::parse_str(v1.as_bytes()).expect("v1 URI");
        assert_eq!(
            uri.server.hosts,
            vec![
                TransportHost::Domain("smp5.simplex.im".into()),
                TransportHost::Onion(
                    "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion".into()
                ),
            ]
        );
        // Legacy printing keeps the first host in the authority and the rest in `srv=`.
        assert!(uri
            .to_string()
            .ends_with("&srv=jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"));
        // From client version 2 on, or for other hosts, nothing is added.
        let v2 = format!("smp://{kh}@smp5.simplex.im/3456-w==#/?v=1-2&dh={dh}");
        let uri = SmpQueueUri::parse_str(v2.as_bytes()).expect("v1-2 URI");
        assert_eq!(uri.server.hosts.len(), 1);
        let other = format!("smp://{kh}@smp.simplex.im/3456-w==#/?v=1&dh={dh}");
        let uri = SmpQueueUri::parse_str(other.as_bytes()).expect("other host");
        assert_eq!(uri.server.hosts.len(), 1);
    }

    #[test]
    fn queue_uri_sender_id_fits_its_binary_form() {
        let dh = "MCowBQYDK2VuAyEAjiswwI3O_NlS8Fk3HJUW870EY2bAwmttMBsvRB9eV3o=";
        let kh = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=";
        let id = |n: usize| simplex_encoding::string::base64url_encode(&vec![7u8; n]);
        let ok = format!("smp://{kh}@h/{}#/?v=4&dh={dh}", id(255));
        assert!(SmpQueueUri::parse_str(ok.as_bytes()).is_ok());
        let long = format!("smp://{kh}@h/{}#/?v=4&dh={dh}", id(256));
        assert_eq!(
            SmpQueueUri::parse_str(long.as_bytes()),
            Err(DecodeError::Invalid("sender ID length"))
        );
    }

    #[test]
    fn bad_basic_auth_refused() {
        assert!(BasicAuth::new(b"a b").is_err());
        assert!(BasicAuth::new(b"a/b").is_err());
        assert!(BasicAuth::new(b"ok-pass_1").is_ok());
    }
}
