//! A fault-injecting TCP proxy for integration tests: it forwards connections accepted on
//! 127.0.0.1 to a target address, and on request cuts every open connection and refuses new
//! ones (accepted and closed at once, so the client sees the connection end during its
//! handshake) until it is restored. The target can be moved, so that a server restarted on
//! another port keeps the address its clients know. It can also stall: stop reading what
//! the target sends (through a small receive buffer, so the target's writes soon block), as
//! a client that stops reading would, until resumed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
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
    /// True while nothing is read from the target.
    stalled: watch::Sender<bool>,
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
        let (stalled, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            link,
            stalled,
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

    /// Stops reading from the target on every connection (what it sends waits in the
    /// kernel's buffers, and then in the target) until [`FaultProxy::resume`].
    pub fn stall(&self) {
        self.shared.stalled.send_replace(true);
    }

    /// Reads from the target again.
    pub fn resume(&self) {
        self.shared.stalled.send_replace(false);
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
            let stalled = shared.stalled.subscribe();
            let Ok(server) = connect_small(target).await else {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                return;
            };
            shared.forwarded.fetch_add(1, Ordering::SeqCst);
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            forward(client, server, &mut watch, stalled, link.generation).await;
        });
    }
}

/// Connects to `target` with a small receive buffer, so that a stall shows at the target
/// after a few kilobytes rather than megabytes.
async fn connect_small(target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_recv_buffer_size(16 * 1024)?;
    socket.connect(target).await
}

/// Copies both ways until either side closes or the link is cut; while stalled, nothing is
/// read from the server.
async fn forward(
    client: TcpStream,
    server: TcpStream,
    watch: &mut watch::Receiver<Link>,
    mut stalled: watch::Receiver<bool>,
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
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_r, &mut server_w).await;
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // Checked before reading (stop draining the socket) and after (a read that
            // was waiting when the stall began holds its bytes until resumed).
            while *stalled.borrow_and_update() {
                if stalled.changed().await.is_err() {
                    return;
                }
            }
            let n = match server_r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            while *stalled.borrow_and_update() {
                if stalled.changed().await.is_err() {
                    return;
                }
            }
            if client_w.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
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
    async fn stalls_and_resumes_what_the_target_sends() {
        let proxy = FaultProxy::start(echo_server().await).await.expect("proxy");
        let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(roundtrip(&mut a, b"one").await.expect("echo"), b"one");
        proxy.stall();
        a.write_all(b"two").await.expect("write");
        let mut buf = [0u8; 3];
        let waited = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            a.read_exact(&mut buf),
        )
        .await;
        assert!(waited.is_err(), "nothing comes back while stalled");
        proxy.resume();
        a.read_exact(&mut buf)
            .await
            .expect("the echo after resuming");
        assert_eq!(&buf, b"two");
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
