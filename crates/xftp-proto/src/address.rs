//! `xftp://` server addresses (`ProtocolServer 'PXFTP` in the reference's `Protocol.hs`):
//! `xftp://<key hash>@<host>[,<host>...][:<port>]`.
//!
//! The key hash is any base64url string (the reference does not check its length when it
//! reads descriptions; a server's real identity is the 32-byte SHA-256 of its CA
//! certificate). The port is kept as its digits; absent means 443.

use std::cmp::Ordering;
use std::fmt;

use simplex_encoding::string::{base64url_encode, base64url_prefix};
use simplex_encoding::{DecodeError, Reader};
use smp_proto::TransportHost;

/// The port used when an address has none.
pub const DEFAULT_XFTP_PORT: &str = "443";

/// A file relay's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct XftpServer {
    /// Its hosts, never empty; the first is preferred.
    pub hosts: Vec<TransportHost>,
    /// Its port as digits; `None` means 443.
    pub port: Option<String>,
    /// Its identity (the CA certificate's fingerprint).
    pub key_hash: Vec<u8>,
}

impl XftpServer {
    /// Parses a whole `xftp://` address.
    pub fn parse_str(s: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(s);
        let v = Self::read(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    /// Reads an address from the start of `r`.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.expect(b"xftp://", "xftp server scheme")?;
        let (key_hash, used) = base64url_prefix(r.peek_rest())?;
        r.take(used)?;
        r.expect(b"@", "xftp server '@'")?;
        let mut hosts = vec![TransportHost::read(r)?];
        while r.eat(b",") {
            hosts.push(TransportHost::read(r)?);
        }
        let port = if r.eat(b":") {
            let digits = r.take_till(|b| !b.is_ascii_digit());
            if digits.is_empty() {
                return Err(DecodeError::Invalid("xftp server port"));
            }
            Some(String::from_utf8_lossy(digits).into_owned())
        } else {
            None
        };
        Ok(XftpServer {
            hosts,
            port,
            key_hash,
        })
    }

    /// Parses an address the way the web client does (`parseXFTPServer`): a 32-byte key
    /// hash, then only the first of several hosts, with the port that follows it.
    pub fn parse_web(s: &str) -> Result<Self, DecodeError> {
        let bad = DecodeError::Invalid("xftp server address");
        let rest = s.strip_prefix("xftp://").ok_or(bad.clone())?;
        let (key, hosts) = rest.split_once('@').ok_or(bad.clone())?;
        let key_hash = simplex_encoding::string::base64url_decode(key.as_bytes())?;
        if key_hash.len() != 32 || hosts.is_empty() {
            return Err(bad);
        }
        let first = hosts.split(',').next().unwrap_or_default();
        let (host, port) = match first.rfind(':') {
            Some(i) if i > 0 => (&first[..i], Some(first[i + 1..].to_owned())),
            _ => (first, None),
        };
        Ok(XftpServer {
            hosts: vec![TransportHost::parse_str(host.as_bytes())?],
            port,
            key_hash,
        })
    }

    /// The port to connect to.
    pub fn port_or_default(&self) -> &str {
        self.port.as_deref().unwrap_or(DEFAULT_XFTP_PORT)
    }

    /// The preferred host.
    pub fn first_host(&self) -> Option<&TransportHost> {
        self.hosts.first()
    }

    /// The form the web client prints (`formatXFTPServer`): the first host only, and the
    /// port always, 443 when absent.
    pub fn to_web_string(&self) -> String {
        let host = self
            .hosts
            .first()
            .map(|h| h.to_string())
            .unwrap_or_default();
        format!(
            "xftp://{}@{}:{}",
            base64url_encode(&self.key_hash),
            host,
            self.port_or_default()
        )
    }

    /// The reference's ordering of servers (derived `Ord` of `ProtocolServer`: hosts, then
    /// port, then key hash), used to group replicas in descriptions.
    pub fn ref_cmp(&self, other: &XftpServer) -> Ordering {
        let hosts = |s: &XftpServer| s.hosts.iter().map(host_key).collect::<Vec<_>>();
        hosts(self)
            .cmp(&hosts(other))
            .then_with(|| {
                self.port
                    .as_deref()
                    .unwrap_or("")
                    .cmp(other.port.as_deref().unwrap_or(""))
            })
            .then_with(|| self.key_hash.cmp(&other.key_hash))
    }
}

/// A host's sort key: constructor order (IPv4, IPv6, onion, domain), then its value.
fn host_key(h: &TransportHost) -> (u8, Vec<u8>) {
    match h {
        TransportHost::Ipv4(a) => (0, a.to_vec()),
        TransportHost::Ipv6(a) => (1, a.octets().to_vec()),
        TransportHost::Onion(s) => (2, s.as_bytes().to_vec()),
        TransportHost::Domain(s) => (3, s.as_bytes().to_vec()),
    }
}

impl fmt::Display for XftpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "xftp://{}@", base64url_encode(&self.key_hash))?;
        for (i, h) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{h}")?;
        }
        if let Some(p) = &self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}
