//! 16,384-byte transport blocks over a byte stream (`tPutBlock` / `tGetBlock` in the
//! reference's `Transport.hs`; spec § "SMP Transmission and transport block structure").
//!
//! Every block on the wire is exactly [`BLOCK_SIZE`] bytes: a two-byte length, the content,
//! and `#` padding. From SMP v11 a session may encrypt its blocks ([`crate::sbchain`]): the
//! content is then padded to 16,368 bytes and secret-boxed with the next key of the
//! direction's chain, so a block carries at most 16,366 bytes of content. The reader and the
//! writer each hold their direction's chain, and hand out or take the padded plaintext, so
//! callers see the same padded blocks either way.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{read_error, TransportError};
use crate::pool;
use crate::sbchain::{open_block_to, seal_block_to, SbChainKey, ENCRYPTED_PADDED_SIZE};

/// The size of every SMP transport block.
pub const BLOCK_SIZE: usize = 16_384;

/// The largest content of one block (the block minus its two-byte length).
pub const MAX_BLOCK_CONTENT: usize = BLOCK_SIZE - 2;

/// The largest content of one encrypted block (its padded plaintext minus the length).
pub const MAX_ENCRYPTED_BLOCK_CONTENT: usize = ENCRYPTED_PADDED_SIZE - 2;

/// Reads whole blocks from a stream. The block buffer is taken from the thread's pool when a
/// block starts to arrive and given back when the next read starts, so an idle connection
/// holds none.
pub struct BlockReader<R> {
    inner: R,
    /// The last block read (its plaintext, in an encrypted session).
    buf: Option<Vec<u8>>,
    /// The receiving chain of an encrypted session.
    chain: Option<SbChainKey>,
}

impl<R> std::fmt::Debug for BlockReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockReader")
    }
}

impl<R: AsyncRead + Unpin> BlockReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R) -> Self {
        BlockReader {
            inner,
            buf: None,
            chain: None,
        }
    }

    /// Decrypts every block from now on with this receiving chain (v11 block encryption).
    pub fn set_encryption(&mut self, chain: SbChainKey) {
        self.chain = Some(chain);
    }

    /// True when blocks are decrypted.
    pub fn is_encrypted(&self) -> bool {
        self.chain.is_some()
    }

    /// Reads one block and returns its padded content (valid until the next read): the whole
    /// 16,384-byte block, or for an encrypted session the 16,368-byte padded plaintext.
    ///
    /// An end of stream before the first byte or within the block is
    /// [`TransportError::Closed`]; an encrypted block that does not authenticate is
    /// [`TransportError::BlockDecrypt`], after which the connection must be closed.
    pub async fn read_raw(&mut self) -> Result<&[u8], TransportError> {
        // Give the last block's buffer back and wait for the first byte without one.
        if let Some(old) = self.buf.take() {
            pool::give(old);
        }
        let mut first = [0u8; 1];
        self.inner
            .read_exact(&mut first)
            .await
            .map_err(read_error)?;
        let mut raw = pool::take();
        let mut filled = 0;
        if let Some(b) = raw.first_mut() {
            *b = first[0];
            filled = 1;
        }
        while filled < BLOCK_SIZE {
            let rest = raw.get_mut(filled..BLOCK_SIZE).unwrap_or_default();
            let n = self.inner.read(rest).await.map_err(read_error)?;
            if n == 0 {
                return Err(TransportError::Closed);
            }
            filled += n;
        }
        let Some(chain) = &mut self.chain else {
            return Ok(self.buf.insert(raw).as_slice());
        };
        // Decrypt into a second buffer: no copy of the block first.
        let mut plain = pool::take();
        plain.truncate(ENCRYPTED_PADDED_SIZE);
        let opened = open_block_to(chain, &raw, &mut plain);
        pool::give(raw);
        opened.map_err(|()| TransportError::BlockDecrypt)?;
        Ok(self.buf.insert(plain).as_slice())
    }

    /// Reads one block and returns its content, without the length and the padding.
    pub async fn read_block(&mut self) -> Result<&[u8], TransportError> {
        let block = self.read_raw().await?;
        simplex_encoding::unpad(block).map_err(|_| TransportError::BadBlock)
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Gives the underlying stream back.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Writes whole blocks to a stream. The buffers of a block built here are taken from the
/// thread's pool and given back once it is written, so an idle connection holds none.
pub struct BlockWriter<W> {
    inner: W,
    /// The sending chain of an encrypted session.
    chain: Option<SbChainKey>,
}

impl<W> std::fmt::Debug for BlockWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockWriter")
    }
}

impl<W: AsyncWrite + Unpin> BlockWriter<W> {
    /// A writer over `inner`.
    pub fn new(inner: W) -> Self {
        BlockWriter { inner, chain: None }
    }

    /// Encrypts every block from now on with this sending chain (v11 block encryption).
    pub fn set_encryption(&mut self, chain: SbChainKey) {
        self.chain = Some(chain);
    }

    /// True when blocks are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.chain.is_some()
    }

    /// The largest content one block carries on this connection.
    pub fn max_content(&self) -> usize {
        if self.chain.is_some() {
            MAX_ENCRYPTED_BLOCK_CONTENT
        } else {
            MAX_BLOCK_CONTENT
        }
    }

    /// The padded size of a block's plaintext: the whole block, or the part the tag leaves.
    fn padded_size(&self) -> usize {
        if self.chain.is_some() {
            ENCRYPTED_PADDED_SIZE
        } else {
            BLOCK_SIZE
        }
    }

    /// Pads `content` to a block and writes it. Content longer than
    /// [`BlockWriter::max_content`] is [`TransportError::LargeMsg`] and nothing is written.
    pub async fn write_block(&mut self, content: &[u8]) -> Result<(), TransportError> {
        self.write_with(|buf| buf.extend_from_slice(content)).await
    }

    /// Writes a block that is already padded to [`BLOCK_SIZE`] bytes (as `smp-proto` builds
    /// batches). An encrypted session sends its content padded to 16,368 bytes instead: the
    /// block's first 16,368 bytes, when its content fits in them.
    pub async fn write_raw(&mut self, block: &[u8]) -> Result<(), TransportError> {
        if block.len() != BLOCK_SIZE {
            return Err(TransportError::LargeMsg);
        }
        if self.chain.is_none() {
            self.inner.write_all(block).await?;
            self.inner.flush().await?;
            return Ok(());
        }
        let len = simplex_encoding::unpad(block)
            .map_err(|_| TransportError::LargeMsg)?
            .len();
        if len > MAX_ENCRYPTED_BLOCK_CONTENT {
            return Err(TransportError::LargeMsg);
        }
        self.write_plain(block.get(..ENCRYPTED_PADDED_SIZE).unwrap_or_default())
            .await
    }

    /// Builds a block in place: `fill` appends the content to the (cleared) buffer, which is
    /// then padded (and encrypted, in an encrypted session) and written. Avoids a copy when
    /// the content is encoded on the fly.
    pub async fn write_with<F>(&mut self, fill: F) -> Result<(), TransportError>
    where
        F: FnOnce(&mut Vec<u8>),
    {
        let max = self.max_content();
        let padded = self.padded_size();
        let mut buf = pool::take();
        buf.clear();
        buf.extend_from_slice(&[0; 2]);
        fill(&mut buf);
        let len = buf.len() - 2;
        if len > max {
            return Err(TransportError::LargeMsg);
        }
        let len16 = u16::try_from(len).map_err(|_| TransportError::LargeMsg)?;
        if let Some(l) = buf.get_mut(..2) {
            l.copy_from_slice(&len16.to_be_bytes());
        }
        buf.resize(padded, simplex_encoding::pad::PAD_BYTE);
        let written = self.write_plain(&buf).await;
        pool::give(buf);
        written
    }

    /// Writes and flushes a padded plaintext block: as it is, or sealed into a second buffer
    /// in an encrypted session.
    async fn write_plain(&mut self, plain: &[u8]) -> Result<(), TransportError> {
        let Some(chain) = &mut self.chain else {
            self.inner.write_all(plain).await?;
            self.inner.flush().await?;
            return Ok(());
        };
        let mut sealed = pool::take();
        seal_block_to(chain, plain, &mut sealed).map_err(|()| TransportError::LargeMsg)?;
        let written = self.inner.write_all(&sealed).await;
        pool::give(sealed);
        written?;
        self.inner.flush().await?;
        Ok(())
    }

    /// Closes the writing side (for TLS, sends `close_notify`).
    pub async fn shutdown(&mut self) -> Result<(), TransportError> {
        self.inner.shutdown().await?;
        Ok(())
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Gives the underlying stream back.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_arriving_in_small_pieces_are_read_whole_and_in_order() {
        // A 100-byte pipe: every block arrives in many short reads.
        let (a, b) = tokio::io::duplex(100);
        let writer = tokio::spawn(async move {
            let mut w = BlockWriter::new(a);
            for i in 0..3u8 {
                w.write_block(&vec![i; 1000 + usize::from(i)])
                    .await
                    .expect("write");
            }
        });
        let mut r = BlockReader::new(b);
        for i in 0..3u8 {
            let content = r.read_block().await.expect("read");
            assert_eq!(content, vec![i; 1000 + usize::from(i)].as_slice());
        }
        writer.await.expect("writer");
        assert!(matches!(r.read_raw().await, Err(TransportError::Closed)));
    }

    #[tokio::test]
    async fn blocks_round_trip_over_a_pipe() {
        let (a, b) = tokio::io::duplex(4 * BLOCK_SIZE);
        let mut w = BlockWriter::new(a);
        let mut r = BlockReader::new(b);
        w.write_block(b"hello").await.expect("write");
        w.write_with(|buf| buf.extend_from_slice(b"world"))
            .await
            .expect("write");
        let full = vec![7u8; MAX_BLOCK_CONTENT];
        w.write_block(&full).await.expect("largest block");
        assert_eq!(r.read_block().await.expect("read"), b"hello");
        let raw = r.read_raw().await.expect("raw");
        assert_eq!(&raw[..7], b"\x00\x05world");
        assert!(raw[7..].iter().all(|&b| b == b'#'));
        assert_eq!(r.read_block().await.expect("read"), &full[..]);
    }

    #[tokio::test]
    async fn oversized_content_is_refused_before_writing() {
        let (a, b) = tokio::io::duplex(4 * BLOCK_SIZE);
        let mut w = BlockWriter::new(a);
        let too_big = vec![0u8; MAX_BLOCK_CONTENT + 1];
        assert!(matches!(
            w.write_block(&too_big).await,
            Err(TransportError::LargeMsg)
        ));
        let r = w.write_with(|buf| buf.extend_from_slice(&too_big)).await;
        assert!(matches!(r, Err(TransportError::LargeMsg)));
        assert!(matches!(
            w.write_raw(&too_big).await,
            Err(TransportError::LargeMsg)
        ));
        drop(w);
        let mut r = BlockReader::new(b);
        assert!(matches!(r.read_raw().await, Err(TransportError::Closed)));
    }

    #[tokio::test]
    async fn truncated_block_is_closed_and_bad_length_is_bad_block() {
        let (mut a, b) = tokio::io::duplex(4 * BLOCK_SIZE);
        let mut bad = vec![b'#'; BLOCK_SIZE];
        bad[0] = 0xff; // declares 65k of content
        a.write_all(&bad).await.expect("write");
        a.write_all(&[0, 1, 2]).await.expect("write");
        drop(a);
        let mut r = BlockReader::new(b);
        assert!(matches!(
            r.read_block().await,
            Err(TransportError::BadBlock)
        ));
        assert!(matches!(r.read_block().await, Err(TransportError::Closed)));
    }
}
