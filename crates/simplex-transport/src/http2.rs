//! HTTP/2 bodies as XFTP moves them (the reference's `Transport/HTTP2.hs`): a request or
//! response body is read as a head of a fixed size (the 16 KiB block) and then the rest as
//! a stream, and a body is sent without ever buffering more than the peer's flow-control
//! window allows.
//!
//! Used by both ends of XFTP on top of the `h2` crate; nothing here knows XFTP.

use bytes::Bytes;
use h2::{RecvStream, SendStream};

/// A received body: its data frames, handed out in pieces of at most the size asked for, the
/// flow-control capacity released as soon as a frame is taken (the receiver keeps at most
/// one frame).
#[derive(Debug)]
pub struct Body {
    recv: RecvStream,
    pending: Bytes,
    ended: bool,
}

impl Body {
    /// Wraps a received stream.
    pub fn new(recv: RecvStream) -> Self {
        Body {
            recv,
            pending: Bytes::new(),
            ended: false,
        }
    }

    async fn fill(&mut self) -> Result<(), h2::Error> {
        while self.pending.is_empty() && !self.ended {
            match self.recv.data().await {
                None => self.ended = true,
                Some(Ok(data)) => {
                    // Releasing capacity fails only when the stream is already closed.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.pending = data;
                }
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next bytes of the body, at most `max` (and at least one unless the body ended:
    /// empty means the end).
    pub async fn read(&mut self, max: usize) -> Result<Bytes, h2::Error> {
        self.fill().await?;
        let n = max.min(self.pending.len());
        Ok(self.pending.split_to(n))
    }

    /// Reads until `n` bytes or the end of the body (the reference's `bodyHead`).
    pub async fn read_head(&mut self, n: usize) -> Result<Vec<u8>, h2::Error> {
        let mut head = Vec::with_capacity(n.min(1 << 16));
        while head.len() < n {
            let piece = self.read(n - head.len()).await?;
            if piece.is_empty() {
                break;
            }
            head.extend_from_slice(&piece);
        }
        Ok(head)
    }

    /// True when nothing follows what was read.
    pub async fn at_end(&mut self) -> Result<bool, h2::Error> {
        self.fill().await?;
        Ok(self.pending.is_empty() && self.ended)
    }
}

/// Sends `data` on `stream`, waiting for the peer's window before each piece, and ends the
/// stream after it when `end` is set.
pub async fn send_all(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> Result<(), h2::Error> {
    if data.is_empty() {
        if end {
            stream.send_data(Bytes::new(), true)?;
        }
        return Ok(());
    }
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let capacity = std::future::poll_fn(|cx| stream.poll_capacity(cx)).await;
        let n = match capacity {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(e),
            // The stream was reset or closed by the peer: the write cannot complete.
            None => return Err(h2::Error::from(h2::Reason::CANCEL)),
        };
        if n == 0 {
            continue;
        }
        let piece = data.split_to(n.min(data.len()));
        stream.send_data(piece, end && data.is_empty())?;
    }
    Ok(())
}

/// HTTP/2 settings both XFTP ends use: a stream window that holds a 4 MiB chunk's pieces in
/// flight and a connection window for several streams.
pub const STREAM_WINDOW: u32 = 1 << 20;
/// See [`STREAM_WINDOW`].
pub const CONNECTION_WINDOW: u32 = 8 << 20;
/// The largest frame either end sends or accepts.
pub const MAX_FRAME: u32 = 1 << 16;
