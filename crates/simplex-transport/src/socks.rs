//! SOCKS5 (RFC 1928, with RFC 1929 username/password) for client connections, as the
//! reference's `socksProxy`: a relay's host name goes to the proxy as a name (never
//! resolved here, so no DNS query leaks where a connection goes), and the username asks Tor
//! for a circuit of its own (`SocksIsolateByAuth`: one username per transport session).
//!
//! The proxy's address is written as the reference writes it (`SocksProxyWithAuth`):
//! `[username:password@ | @]host[:port]`, host an IP address (default `127.0.0.1`), port
//! 9050 by default; no prefix isolates by username, `@` sends no credentials.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Tor's SOCKS port, the reference's default.
pub const DEFAULT_SOCKS_PORT: u16 = 9050;

/// What credentials the client gives the proxy (`SocksAuth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksAuth {
    /// A username per transport session, so that Tor isolates each on its own circuit
    /// (the reference's default).
    IsolateByAuth,
    /// No credentials (`@host:port`).
    Null,
    /// These (`user:password@host:port`).
    Username {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
}

/// A SOCKS5 proxy and how to authenticate to it (`SocksProxyWithAuth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksProxy {
    /// The proxy's address.
    pub addr: SocketAddr,
    /// The credentials policy.
    pub auth: SocksAuth,
}

impl Default for SocksProxy {
    /// `127.0.0.1:9050`, isolating by username (the chat's `-x`).
    fn default() -> Self {
        SocksProxy {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_SOCKS_PORT)),
            auth: SocksAuth::IsolateByAuth,
        }
    }
}

impl SocksProxy {
    /// Parses `[user:password@ | @]host[:port]` (host an IPv4 address or a bracketed IPv6
    /// one; both host and port may be left out).
    pub fn parse(s: &str) -> Result<SocksProxy, String> {
        let (auth, rest) = match s.rsplit_once('@') {
            None => (SocksAuth::IsolateByAuth, s),
            Some(("", rest)) => (SocksAuth::Null, rest),
            Some((creds, rest)) => match creds.split_once(':') {
                Some((u, p)) => (
                    SocksAuth::Username {
                        username: u.to_owned(),
                        password: p.to_owned(),
                    },
                    rest,
                ),
                None => return Err("SOCKS credentials are username:password@".into()),
            },
        };
        let (host, port) = split_host_port(rest)?;
        // `localhost` too: the reference's relay INI suggests `localhost:9050` (which its own
        // parser, taking IP addresses only, refuses).
        let ip = match host {
            "" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            h => h
                .parse::<IpAddr>()
                .map_err(|_| "SOCKS5 host should be IPv4 or IPv6 address".to_string())?,
        };
        Ok(SocksProxy {
            addr: SocketAddr::new(ip, port.unwrap_or(DEFAULT_SOCKS_PORT)),
            auth,
        })
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = |_| "bad SOCKS port".to_string();
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed [ in SOCKS host")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p.parse().map_err(bad_port)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err("bad SOCKS address".into()),
        };
    }
    match s.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => Ok((host, Some(p.parse().map_err(bad_port)?))),
        _ => Ok((s, None)),
    }
}

impl fmt::Display for SocksProxy {
    /// The reference's form; a password is not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.auth {
            SocksAuth::IsolateByAuth => {}
            SocksAuth::Null => f.write_str("@")?,
            SocksAuth::Username { username, .. } => write!(f, "{username}:…@")?,
        }
        write!(f, "{}", self.addr)
    }
}

/// Credentials for one connection through the proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct SocksCredentials {
    /// The username (at most 255 bytes are sent).
    pub username: Vec<u8>,
    /// The password (at most 255 bytes are sent).
    pub password: Vec<u8>,
}

impl fmt::Debug for SocksCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SocksCredentials(…)")
    }
}

/// Why a connection through the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum SocksError {
    /// The proxy could not be reached.
    #[error("SOCKS proxy {0} cannot be reached: {1}")]
    Unreachable(SocketAddr, std::io::Error),
    /// The proxy answered something else than SOCKS5.
    #[error("SOCKS proxy {0} does not speak SOCKS5")]
    NotSocks5(SocketAddr),
    /// The proxy accepts none of the offered authentication methods.
    #[error("SOCKS proxy {0} refused the authentication methods offered")]
    NoMethod(SocketAddr),
    /// The proxy refused the username and password.
    #[error("SOCKS proxy {0} refused the credentials")]
    AuthRefused(SocketAddr),
    /// The proxy could not connect to the host (its reply code, RFC 1928 § 6).
    #[error("SOCKS proxy {0} could not connect: {1}")]
    Refused(SocketAddr, &'static str),
    /// A host name longer than SOCKS5 carries (255 bytes).
    #[error("host name too long for SOCKS5")]
    LongName,
    /// The connection broke during the SOCKS exchange.
    #[error("SOCKS proxy {0}: {1}")]
    Io(SocketAddr, std::io::Error),
}

fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

/// The CONNECT request's address: an IP literal as such, anything else as a name.
fn connect_request(host: &str, port: u16) -> Result<Vec<u8>, SocksError> {
    let mut req = vec![5, 1, 0];
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len()).map_err(|_| SocksError::LongName)?;
            req.push(3);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    Ok(req)
}

/// Opens a TCP connection to `host:port` through the SOCKS5 proxy at `proxy`.
pub async fn connect(
    proxy: SocketAddr,
    credentials: Option<&SocksCredentials>,
    host: &str,
    port: u16,
) -> Result<TcpStream, SocksError> {
    let mut s = TcpStream::connect(proxy)
        .await
        .map_err(|e| SocksError::Unreachable(proxy, e))?;
    let io = |e| SocksError::Io(proxy, e);
    let method = if credentials.is_some() { 2 } else { 0 };
    s.write_all(&[5, 1, method]).await.map_err(io)?;
    let mut chosen = [0u8; 2];
    s.read_exact(&mut chosen).await.map_err(io)?;
    if chosen[0] != 5 {
        return Err(SocksError::NotSocks5(proxy));
    }
    if chosen[1] != method {
        return Err(SocksError::NoMethod(proxy));
    }
    if let Some(c) = credentials {
        // RFC 1929 carries at most 255 bytes of each.
        let field = |b: &[u8]| -> Vec<u8> {
            let part = b.get(..b.len().min(255)).unwrap_or(&[]);
            let mut out = vec![u8::try_from(part.len()).unwrap_or(u8::MAX)];
            out.extend_from_slice(part);
            out
        };
        let mut auth = vec![1];
        auth.extend(field(&c.username));
        auth.extend(field(&c.password));
        s.write_all(&auth).await.map_err(io)?;
        let mut status = [0u8; 2];
        s.read_exact(&mut status).await.map_err(io)?;
        if status[1] != 0 {
            return Err(SocksError::AuthRefused(proxy));
        }
    }
    s.write_all(&connect_request(host, port)?)
        .await
        .map_err(io)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.map_err(io)?;
    if head[0] != 5 {
        return Err(SocksError::NotSocks5(proxy));
    }
    if head[1] != 0 {
        return Err(SocksError::Refused(proxy, reply_text(head[1])));
    }
    // The bound address, unused.
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await.map_err(io)?;
            usize::from(len[0]) + 2
        }
        _ => return Err(SocksError::NotSocks5(proxy)),
    };
    let mut bound = vec![0u8; rest];
    s.read_exact(&mut bound).await.map_err(io)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_addresses_as_the_reference_writes_them() {
        let p = SocksProxy::parse("").expect("empty");
        assert_eq!(p, SocksProxy::default());
        let p = SocksProxy::parse("127.0.0.1:9150").expect("port");
        assert_eq!(p.addr, "127.0.0.1:9150".parse().expect("addr"));
        assert_eq!(p.auth, SocksAuth::IsolateByAuth);
        let p = SocksProxy::parse(":9150").expect("port only");
        assert_eq!(p.addr, "127.0.0.1:9150".parse().expect("addr"));
        let p = SocksProxy::parse("@10.0.0.1").expect("null auth");
        assert_eq!((p.auth, p.addr.port()), (SocksAuth::Null, 9050));
        let p = SocksProxy::parse("u:p@[::1]:1080").expect("v6 with creds");
        assert_eq!(p.addr, "[::1]:1080".parse().expect("addr"));
        assert_eq!(
            p.auth,
            SocksAuth::Username {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert!(
            SocksProxy::parse("localhost:9050").is_err(),
            "names refused"
        );
        assert!(SocksProxy::parse("127.0.0.1:x").is_err());
        assert!(SocksProxy::parse("user@127.0.0.1").is_err());
        assert_eq!(
            SocksProxy::parse("u:secret@127.0.0.1")
                .expect("p")
                .to_string(),
            "u:…@127.0.0.1:9050"
        );
    }

    #[test]
    fn names_go_to_the_proxy_as_names() {
        let r = connect_request("relay.example.com", 5223).expect("req");
        assert_eq!(&r[..5], &[5, 1, 0, 3, 17]);
        assert_eq!(&r[5..22], b"relay.example.com");
        assert_eq!(&r[22..], &5223u16.to_be_bytes());
        let r = connect_request("10.1.2.3", 443).expect("v4");
        assert_eq!(r, vec![5, 1, 0, 1, 10, 1, 2, 3, 1, 187]);
        let r = connect_request("[::1]", 1).expect("v6");
        assert_eq!(r[3], 4);
        assert_eq!(r.len(), 4 + 16 + 2);
        let long = "a".repeat(256);
        assert!(matches!(
            connect_request(&long, 1),
            Err(SocksError::LongName)
        ));
    }
}
