//! XFTP, the SimpleX file relay protocol, as bytes: the sans-I/O core shared by the file
//! relay, its client and the `xftp` command line, byte-exact with the reference (simplexmq's
//! `Simplex/FileTransfer/*`).
//!
//! Owns:
//! - [`version`]: XFTP versions 1–3 and the block size;
//! - [`command`], [`response`] and [`error`]: `FNEW FADD FPUT FDEL FGET FACK PING`,
//!   `SIDS RIDS FILE OK PONG ERR` and every error, encoded for a negotiated version;
//! - [`transmission`]: the one-transmission blocks commands and responses travel in (SMP's
//!   framing, reused from `smp-proto`, with the session ID always sent);
//! - [`handshake`]: the server and client handshake records, native and web (challenge and
//!   identity proof);
//! - [`address`]: `xftp://` server addresses;
//! - [`chunks`]: chunk sizes as the reference chooses them, and the `26mb` size notation;
//! - [`description`], [`yaml`] and [`uri`]: file descriptions, their exact YAML, the
//!   separated multi-description text and the `simplex:/file` and web links;
//! - [`file_crypto`]: the file encryption format (length, header, content, padding, one tail
//!   tag) and the transfer encryption of chunk bodies, as push-bytes state machines.
//!
//! Leaves out: HTTP/2 and TLS, files and the file system, clocks and randomness (keys, IDs and
//! nonces are passed in), and store semantics.
//!
//! Sits above `simplex-encoding`, `simplex-crypto` and `smp-proto` (whose transmission,
//! block, authorization, version and handshake primitives it reuses). Every decoder returns a
//! typed error on any input, never panics.

pub mod address;
pub mod chunks;
pub mod command;
pub mod description;
pub mod error;
pub mod file_crypto;
pub mod handshake;
pub mod response;
pub mod transmission;
pub mod uri;
pub mod version;
pub mod yaml;

pub use address::XftpServer;
pub use chunks::{
    file_size_str, parse_file_size, prepare_chunk_sizes, prepare_chunk_specs, single_chunk_size,
    ChunkSpec, SERVER_CHUNK_SIZES,
};
pub use command::{FileCommand, FileInfo, FileParty};
pub use description::{
    FileChunk, FileChunkReplica, FileDescription, RedirectFileInfo, FD_SEPARATOR,
};
pub use error::{XftpError, XftpErrorType};
pub use file_crypto::{ChunkDecryptor, ChunkEncryptor, FileDecryptor, FileEncryptor, FileHeader};
pub use handshake::{XftpClientHandshake, XftpClientHello, XftpServerHandshake};
pub use response::FileResponse;
pub use transmission::{ClientTransmission, ServerTransmission, TransmissionError};
pub use uri::FileDescriptionUri;
pub use version::*;
