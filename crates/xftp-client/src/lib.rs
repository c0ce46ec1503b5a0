//! The XFTP client: connections to file relays and whole-file transfers, byte-compatible
//! with the reference's (`Simplex/FileTransfer/Client.hs`, `Client/Main.hs`).
//!
//! - [`client`]: one connection (TLS pinned to the relay's fingerprint, HTTP/2, the XFTP
//!   handshake) and each command as an async function;
//! - [`upload`]: a file encrypted, cut into chunks, spread over relays, several in flight,
//!   one description per recipient; resumable from a state file;
//! - [`download`]: a file received from its description, every chunk and the file checked
//!   against their digests; resumable; acknowledging and deleting;
//! - [`pool`]: a connection per relay with retries, and the state files.
//!
//! The protocol's bytes and the file formats are `xftp-proto`'s.

pub mod client;
pub mod download;
pub mod error;
pub mod pool;
pub mod upload;

pub use client::{ChunkBody, ClientConfig, XftpClient};
pub use download::{ack, delete, download, DownloadOptions};
pub use error::ClientError;
pub use upload::{upload, upload_redirect, Progress, UploadOptions, Uploaded};
