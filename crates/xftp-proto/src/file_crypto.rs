//! The file encryption format (`encryptFile`/`decryptChunks` in the reference's
//! `FileTransfer/Crypto.hs`, `Crypto/Lazy.hs`) and the transfer encryption of a chunk body
//! (`sendEncFile`/`receiveSbFile` in `FileTransfer/Transport.hs`), as state machines over
//! byte slices: bytes are pushed in as they arrive and come out at once, so no whole file is
//! ever held.
//!
//! An encrypted file is one XSalsa20-Poly1305 secret-box stream of
//! `len (Int64) ‖ header ‖ content ‖ '#' padding`, where `len` counts the header and the
//! content, followed by one 16-byte tag over all of it. Its total size is chosen by the
//! sender (the sum of its chunk sizes, see [`crate::chunks::encrypted_file_sizes`]).
//!
//! A chunk body after `FILE` is the chunk encrypted with the crypto_box stream of the
//! recipient's and the server's DH keys, then its 16-byte tag.
//!
//! Decrypted content is handed out before the tag is checked (as the reference writes it to
//! disk): callers must discard it when `finish` fails.

use simplex_crypto::{CbKey, CbNonce, SbKey, SbStream};
use simplex_encoding::{Decode, DecodeError, Encode, Reader, ShortBytes};

use crate::chunks::{AUTH_TAG_SIZE, FILE_SIZE_LEN};
use crate::error::XftpError;

/// The header is read from at most this many bytes of the content (`parseFileHeader`).
const HEADER_WINDOW: u64 = 1024;
/// Padding is encrypted in pieces of this size.
const PAD_PIECE: usize = 65_536;
const TAG_LEN: usize = 16;

/// The header at the start of an encrypted file (`FileHeader` in `FileTransfer/Types.hs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// The file's name (at most 255 bytes of UTF-8).
    pub file_name: String,
    /// Optional extra data.
    pub file_extra: Option<String>,
}

impl FileHeader {
    /// The header's bytes. Fails when a field is longer than 255 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, XftpError> {
        let mut out = Vec::with_capacity(self.file_name.len() + 2);
        ShortBytes::encode_slice(self.file_name.as_bytes(), &mut out)?;
        match &self.file_extra {
            None => out.push(b'0'),
            Some(e) => {
                out.push(b'1');
                ShortBytes::encode_slice(e.as_bytes(), &mut out)?;
            }
        }
        Ok(out)
    }

    /// Reads a header from the start of `bytes` and returns it with the bytes it took, or
    /// `None` when `bytes` ends inside it. Invalid UTF-8 is replaced, as in the reference.
    pub fn decode_prefix(bytes: &[u8]) -> Result<Option<(FileHeader, usize)>, XftpError> {
        let mut r = Reader::new(bytes);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let read = |r: &mut Reader<'_>| -> Result<FileHeader, DecodeError> {
            let file_name = text(r.short_bytes()?);
            let file_extra = Option::<ShortBytes>::decode(r)?.map(|b| text(&b));
            Ok(FileHeader {
                file_name,
                file_extra,
            })
        };
        match read(&mut r) {
            Ok(h) => Ok(Some((h, r.position()))),
            Err(DecodeError::UnexpectedEnd { .. }) => Ok(None),
            Err(_) => Err(XftpError::FileHeader),
        }
    }
}

impl Encode for FileHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        // Only for headers known to fit; [`FileHeader::encode`] checks.
        if let Ok(b) = FileHeader::encode(self) {
            out.extend_from_slice(&b);
        }
    }
}

fn file_stream(key: &SbKey, nonce: &CbNonce) -> SbStream {
    CbKey::from_sb_key(key).stream(nonce)
}

fn encrypt_into(stream: &mut SbStream, plain: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(plain);
    if let Some(piece) = out.get_mut(start..) {
        stream.encrypt_chunk(piece);
    }
}

/// Encrypts a file as it is read: [`FileEncryptor::new`] emits the encrypted length and
/// header, [`FileEncryptor::push`] each piece of content, [`FileEncryptor::finish`] the
/// padding and the tag.
#[derive(Debug)]
pub struct FileEncryptor {
    stream: SbStream,
    content_left: u64,
    pad_len: u64,
}

impl FileEncryptor {
    /// Starts a file of `content_size` bytes that will encrypt to exactly `enc_size` bytes
    /// (tag included), appending its first bytes to `out`. Fails when it does not fit.
    pub fn new(
        key: &SbKey,
        nonce: &CbNonce,
        header: &FileHeader,
        content_size: u64,
        enc_size: u64,
        out: &mut Vec<u8>,
    ) -> Result<Self, XftpError> {
        let header = header.encode()?;
        let too_small = XftpError::Size("encrypted size too small");
        let file_size = (header.len() as u64)
            .checked_add(content_size)
            .ok_or(too_small.clone())?;
        let pad_len = enc_size
            .checked_sub(AUTH_TAG_SIZE + FILE_SIZE_LEN)
            .and_then(|n| n.checked_sub(file_size))
            .ok_or(too_small.clone())?;
        let len = i64::try_from(file_size).map_err(|_| too_small)?;
        let mut stream = file_stream(key, nonce);
        let mut first = Vec::with_capacity(8 + header.len());
        len.encode(&mut first);
        first.extend_from_slice(&header);
        encrypt_into(&mut stream, &first, out);
        Ok(FileEncryptor {
            stream,
            content_left: content_size,
            pad_len,
        })
    }

    /// Encrypts the next piece of content, appending it to `out`. Fails (and encrypts
    /// nothing) when the content would exceed the size given to `new`.
    pub fn push(&mut self, content: &[u8], out: &mut Vec<u8>) -> Result<(), XftpError> {
        let n = content.len() as u64;
        if n > self.content_left {
            return Err(XftpError::Size("more content than declared"));
        }
        self.content_left -= n;
        encrypt_into(&mut self.stream, content, out);
        Ok(())
    }

    /// The content still expected.
    pub fn content_left(&self) -> u64 {
        self.content_left
    }

    /// Appends the encrypted padding (less than one chunk) and the tag. Fails when content
    /// is missing.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), XftpError> {
        if self.content_left != 0 {
            return Err(XftpError::Size("less content than declared"));
        }
        let piece = [b'#'; PAD_PIECE];
        let mut left = self.pad_len;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(PAD_PIECE).min(PAD_PIECE);
            encrypt_into(&mut self.stream, &piece[..n], out);
            left -= n as u64;
        }
        out.extend_from_slice(&self.stream.tag());
        Ok(())
    }
}

/// Encrypts a whole file held in memory (small files and tests).
pub fn encrypt_file(
    key: &SbKey,
    nonce: &CbNonce,
    header: &FileHeader,
    content: &[u8],
    enc_size: u64,
) -> Result<Vec<u8>, XftpError> {
    let mut out = Vec::new();
    let mut e = FileEncryptor::new(key, nonce, header, content.len() as u64, enc_size, &mut out)?;
    e.push(content, &mut out)?;
    e.finish(&mut out)?;
    Ok(out)
}

/// Where a [`FileDecryptor`] is in the plaintext.
#[derive(Debug)]
enum Phase {
    /// Reading the eight-byte length.
    Len(Vec<u8>),
    /// Reading the header, `len` bytes declared.
    Header { buf: Vec<u8>, len: u64 },
    /// Handing out content; the rest is padding.
    Content { left: u64 },
}

/// Decrypts a file as its chunks arrive, in order: [`FileDecryptor::push`] appends decrypted
/// content (never the length, header or padding) to `out`; [`FileDecryptor::finish`] checks
/// the size and the tag and returns the header.
#[derive(Debug)]
pub struct FileDecryptor {
    stream: SbStream,
    body_len: u64,
    pos: u64,
    phase: Phase,
    header: Option<FileHeader>,
    tag: Vec<u8>,
}

impl FileDecryptor {
    /// Starts decrypting a file of `enc_size` bytes (tag included).
    pub fn new(key: &SbKey, nonce: &CbNonce, enc_size: u64) -> Result<Self, XftpError> {
        let body_len = enc_size
            .checked_sub(AUTH_TAG_SIZE)
            .filter(|&b| b >= FILE_SIZE_LEN)
            .ok_or(XftpError::Size("encrypted size too small"))?;
        Ok(FileDecryptor {
            stream: file_stream(key, nonce),
            body_len,
            pos: 0,
            phase: Phase::Len(Vec::with_capacity(8)),
            header: None,
            tag: Vec::with_capacity(TAG_LEN),
        })
    }

    /// The header, once its bytes have arrived (not yet authenticated).
    pub fn header(&self) -> Option<&FileHeader> {
        self.header.as_ref()
    }

    /// Decrypts the next encrypted bytes, appending content to `out`.
    pub fn push(&mut self, enc: &[u8], out: &mut Vec<u8>) -> Result<(), XftpError> {
        let body_left = usize::try_from(self.body_len - self.pos).unwrap_or(usize::MAX);
        let (body, tail) = enc.split_at(body_left.min(enc.len()));
        if !body.is_empty() {
            let mut plain = body.to_vec();
            self.stream.decrypt_chunk(&mut plain);
            self.pos += body.len() as u64;
            self.take_plain(&plain, out)?;
        }
        if self.tag.len() + tail.len() > TAG_LEN {
            return Err(XftpError::Size("more data than the encrypted size"));
        }
        self.tag.extend_from_slice(tail);
        Ok(())
    }

    fn take_plain(&mut self, mut plain: &[u8], out: &mut Vec<u8>) -> Result<(), XftpError> {
        while !plain.is_empty() {
            match &mut self.phase {
                Phase::Len(buf) => {
                    let n = (8 - buf.len()).min(plain.len());
                    buf.extend_from_slice(&plain[..n]);
                    plain = &plain[n..];
                    if let Ok(bytes) = <[u8; 8]>::try_from(buf.as_slice()) {
                        let len = u64::try_from(i64::from_be_bytes(bytes))
                            .ok()
                            .filter(|&l| l <= self.body_len - FILE_SIZE_LEN)
                            .ok_or(XftpError::Size("declared length"))?;
                        self.phase = Phase::Header {
                            buf: Vec::new(),
                            len,
                        };
                    }
                }
                Phase::Header { buf, len } => {
                    let window = usize::try_from((*len).min(HEADER_WINDOW)).unwrap_or(0);
                    let n = (window - buf.len()).min(plain.len());
                    buf.extend_from_slice(&plain[..n]);
                    plain = &plain[n..];
                    match FileHeader::decode_prefix(buf)? {
                        Some((h, used)) => {
                            let rest = buf.split_off(used);
                            let mut left = *len - used as u64;
                            let k = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                            out.extend_from_slice(&rest[..k]);
                            left -= k as u64;
                            self.header = Some(h);
                            self.phase = Phase::Content { left };
                        }
                        None if buf.len() == window => return Err(XftpError::FileHeader),
                        None => {}
                    }
                }
                Phase::Content { left } => {
                    let k = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(plain.len());
                    out.extend_from_slice(&plain[..k]);
                    *left -= k as u64;
                    // The rest is padding, which is not checked (as in the reference).
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Checks that every byte and the tag arrived and that the tag matches; returns the
    /// header.
    pub fn finish(self) -> Result<FileHeader, XftpError> {
        if self.pos != self.body_len {
            return Err(XftpError::Size("encrypted file ended early"));
        }
        let tag: [u8; TAG_LEN] = self
            .tag
            .as_slice()
            .try_into()
            .map_err(|_| XftpError::BadTag)?;
        if !self.stream.verify_tag(&tag) {
            return Err(XftpError::BadTag);
        }
        self.header.ok_or(XftpError::FileHeader)
    }
}

/// Decrypts a whole encrypted file held in memory: the header and the content.
pub fn decrypt_file(
    key: &SbKey,
    nonce: &CbNonce,
    enc: &[u8],
) -> Result<(FileHeader, Vec<u8>), XftpError> {
    let mut d = FileDecryptor::new(key, nonce, enc.len() as u64)?;
    let mut content = Vec::new();
    d.push(enc, &mut content)?;
    Ok((d.finish()?, content))
}

/// Encrypts a chunk body for sending after `FILE` (the server's side): `push` the chunk's
/// bytes, then `finish` appends the tag.
#[derive(Debug)]
pub struct ChunkEncryptor {
    stream: SbStream,
    left: u64,
}

impl ChunkEncryptor {
    /// Starts a body of `chunk_size` bytes with the DH key of the transfer and the nonce sent
    /// in `FILE`.
    pub fn new(key: &CbKey, nonce: &CbNonce, chunk_size: u64) -> Self {
        ChunkEncryptor {
            stream: key.stream(nonce),
            left: chunk_size,
        }
    }

    /// Encrypts the next bytes of the chunk.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), XftpError> {
        let n = data.len() as u64;
        if n > self.left {
            return Err(XftpError::Size("more data than the chunk size"));
        }
        self.left -= n;
        encrypt_into(&mut self.stream, data, out);
        Ok(())
    }

    /// Appends the tag; fails when the chunk is incomplete.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), XftpError> {
        if self.left != 0 {
            return Err(XftpError::Size("chunk incomplete"));
        }
        out.extend_from_slice(&self.stream.tag());
        Ok(())
    }
}

/// Decrypts a chunk body received after `FILE` (the recipient's side).
#[derive(Debug)]
pub struct ChunkDecryptor {
    stream: SbStream,
    left: u64,
    tag: Vec<u8>,
}

impl ChunkDecryptor {
    /// Starts a body of `chunk_size` bytes (plus the tag).
    pub fn new(key: &CbKey, nonce: &CbNonce, chunk_size: u64) -> Self {
        ChunkDecryptor {
            stream: key.stream(nonce),
            left: chunk_size,
            tag: Vec::with_capacity(TAG_LEN),
        }
    }

    /// Decrypts the next received bytes, appending the chunk's bytes to `out`. More than
    /// the chunk and its tag is `SIZE`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), XftpError> {
        let k = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let (body, tail) = data.split_at(k);
        if self.tag.len() + tail.len() > TAG_LEN {
            return Err(XftpError::Size("more data than the chunk and its tag"));
        }
        let start = out.len();
        out.extend_from_slice(body);
        if let Some(piece) = out.get_mut(start..) {
            self.stream.decrypt_chunk(piece);
        }
        self.left -= k as u64;
        self.tag.extend_from_slice(tail);
        Ok(())
    }

    /// Checks the size (`SIZE` when short) and the tag (`CRYPTO` when wrong or short).
    pub fn finish(self) -> Result<(), XftpError> {
        if self.left != 0 {
            return Err(XftpError::Size("chunk ended early"));
        }
        let tag: [u8; TAG_LEN] = self
            .tag
            .as_slice()
            .try_into()
            .map_err(|_| XftpError::BadTag)?;
        if self.stream.verify_tag(&tag) {
            Ok(())
        } else {
            Err(XftpError::BadTag)
        }
    }
}
