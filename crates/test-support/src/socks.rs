//! A SOCKS5 server for tests (RFC 1928, no-auth and RFC 1929 username/password): it
//! records each CONNECT — the host as the client sent it (a name stays a name), the port
//! and the username — then connects to the target itself and forwards both ways.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One CONNECT the server got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksRequest {
    /// The host as sent: a name, or an IP address in text.
    pub host: String,
    /// Whether it came as a name (address type 3).
    pub by_name: bool,
    /// The port.
    pub port: u16,
    /// The username, when the client authenticated.
    pub username: Option<String>,
}

/// A running SOCKS5 server on 127.0.0.1; it stops when dropped.
pub struct SocksServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<SocksRequest>>>,
    names: Names,
    task: JoinHandle<()>,
}

impl Drop for SocksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SocksServer {
    /// Starts it on a free port.
    pub async fn start() -> std::io::Result<SocksServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let names: Names = Arc::default();
        let (l, n) = (log.clone(), names.clone());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let (l, n) = (l.clone(), n.clone());
                tokio::spawn(async move {
                    let _ = serve(s, l, n).await;
                });
            }
        });
        Ok(SocksServer {
            addr,
            log,
            names,
            task,
        })
    }

    /// Makes a name (say, an `.onion` host) reach this local address, as Tor reaches an
    /// onion service; the port asked for is ignored for it.
    pub fn map_host(&self, name: &str, to: SocketAddr) {
        if let Ok(mut m) = self.names.lock() {
            m.push((name.to_owned(), to));
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every CONNECT so far, in order.
    pub fn requests(&self) -> Vec<SocksRequest> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

async fn read_bytes(s: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).await?;
    Ok(b)
}

/// Names mapped to local addresses ([`SocksServer::map_host`]).
type Names = Arc<Mutex<Vec<(String, SocketAddr)>>>;

async fn serve(
    mut s: TcpStream,
    log: Arc<Mutex<Vec<SocksRequest>>>,
    names: Names,
) -> std::io::Result<()> {
    let head = read_bytes(&mut s, 2).await?;
    let methods = read_bytes(&mut s, usize::from(head[1])).await?;
    let mut username = None;
    if methods.contains(&2) {
        s.write_all(&[5, 2]).await?;
        let ver_len = read_bytes(&mut s, 2).await?;
        let user = read_bytes(&mut s, usize::from(ver_len[1])).await?;
        let plen = read_bytes(&mut s, 1).await?;
        let _pass = read_bytes(&mut s, usize::from(plen[0])).await?;
        username = Some(String::from_utf8_lossy(&user).into_owned());
        s.write_all(&[1, 0]).await?;
    } else {
        s.write_all(&[5, 0]).await?;
    }
    let req = read_bytes(&mut s, 4).await?;
    let (host, by_name) = match req[3] {
        1 => {
            let b = read_bytes(&mut s, 4).await?;
            (Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(), false)
        }
        4 => {
            let b = read_bytes(&mut s, 16).await?;
            let mut o = [0u8; 16];
            o.copy_from_slice(&b);
            (Ipv6Addr::from(o).to_string(), false)
        }
        _ => {
            let len = read_bytes(&mut s, 1).await?;
            let name = read_bytes(&mut s, usize::from(len[0])).await?;
            (String::from_utf8_lossy(&name).into_owned(), true)
        }
    };
    let p = read_bytes(&mut s, 2).await?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    if let Ok(mut l) = log.lock() {
        l.push(SocksRequest {
            host: host.clone(),
            by_name,
            port,
            username,
        });
    }
    let mapped = names
        .lock()
        .ok()
        .and_then(|m| m.iter().find(|(n, _)| *n == host).map(|(_, a)| *a));
    let target = match (mapped, host.parse::<IpAddr>()) {
        (Some(a), _) => TcpStream::connect(a).await,
        (None, Ok(ip)) => TcpStream::connect(SocketAddr::new(ip, port)).await,
        (None, Err(_)) if host.ends_with(".onion") => {
            Err(std::io::Error::other("unknown onion host"))
        }
        (None, Err(_)) => TcpStream::connect((host.as_str(), port)).await,
    };
    let mut t = match target {
        Ok(t) => t,
        Err(_) => {
            s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut s, &mut t).await?;
    Ok(())
}
