//! A fault-injecting TCP proxy for integration tests: it forwards connections accepted on
//! 127.0.0.1 to a target address, and on request cuts every open connection and refuses new
//! ones (accepted and closed at once, so the client sees the connection end during its
//! handshake) until it is restored. The target can be moved, so that a server restarted on
//! another port keeps the address its clients know.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The proxy's switch: `up` and a generation that every cut advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    up: bool,
    generation: u64,
}

struct Shared {
    target: Mutex<SocketAddr>,
    link: watch::Sender<Link>,
    forwarded: AtomicU64,
    refused: AtomicU64,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (link, _) = watch::channel(Link {
            up: true,
            generation: 0,
        });
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            link,
            forwarded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy { addr, shared, task })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every forwarded connection and refuses new ones until [`FaultProxy::restore`].
    pub fn cut(&self) {
        self.shared.link.send_modify(|l| {
            l.up = false;
            l.generation += 1;
        });
    }

    /// Accepts and forwards connections again.
    pub fn restore(&self) {
        self.shared.link.send_modify(|l| l.up = true);
    }

    /// Forwards new connections to `target` from now on (open ones are not moved).
    pub fn set_target(&self, target: SocketAddr) {
        if let Ok(mut t) = self.shared.target.lock() {
            *t = target;
        }
    }

    /// Connections forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    /// Connections refused so far (while cut, or when the target did not answer).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Open connections end too: they watch the switch, whose sender goes with `shared`
        // once the accept loop is gone.
        self.cut();
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let link = *shared.link.borrow();
        if !link.up {
            shared.refused.fetch_add(1, Ordering::SeqCst);
            drop(client);
            continue;
        }
        let target = match shared.target.lock() {
            Ok(t) => *t,
            Err(_) => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut watch = shared.link.subscribe();
            let Ok(server) = TcpStream::connect(target).await else {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                return;
            };
            shared.forwarded.fetch_add(1, Ordering::SeqCst);
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            forward(client, server, &mut watch, link.generation).await;
        });
    }
}

/// Copies both ways until either side closes or the link is cut.
async fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    watch: &mut watch::Receiver<Link>,
    generation: u64,
) {
    let cut = async {
        loop {
            if watch.borrow_and_update().generation != generation {
                return;
            }
            if watch.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        () = cut => {}
    }
    // Dropping both streams closes them: the client sees its connection end.
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut buf = vec![0u8; msg.len()];
        s.read_exact(&mut buf).await?;
        Ok(buf)
    }

    #[tokio::test]
    async fn forwards_cuts_refuses_and_restores() {
        let proxy = FaultProxy::start(echo_server().await).await.expect("proxy");
        let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(roundtrip(&mut a, b"hello").await.expect("echo"), b"hello");
        proxy.cut();
        // The open connection ends.
        let mut buf = [0u8; 1];
        assert_eq!(a.read(&mut buf).await.expect("read after cut"), 0);
        // A new one is accepted and closed at once.
        let mut b = TcpStream::connect(proxy.addr()).await.expect("tcp accept");
        assert!(roundtrip(&mut b, b"x").await.is_err());
        assert_eq!(proxy.refused(), 1);
        proxy.restore();
        let mut c = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(roundtrip(&mut c, b"again").await.expect("echo"), b"again");
        assert_eq!(proxy.forwarded(), 2);
        // A moved target serves new connections.
        proxy.set_target(echo_server().await);
        let mut d = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(roundtrip(&mut d, b"moved").await.expect("echo"), b"moved");
    }
}
