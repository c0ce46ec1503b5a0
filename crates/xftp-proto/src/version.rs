//! XFTP versions and constants (`Simplex/FileTransfer/Transport.hs`, `Protocol.hs`).
//!
//! XFTP versions are their own scope (1–3), but they are encoded like SMP's, so the
//! [`Version`] and [`VersionRange`] types of `smp-proto` are reused.

pub use smp_proto::{Version, VersionRange};

/// v1: the initial version.
pub const INITIAL_XFTP_VERSION: Version = Version(1);
/// v2: command authorization with X25519 authenticators (`authCmdsXFTPVersion`).
pub const AUTH_CMDS_XFTP_VERSION: Version = Version(2);
/// v3: `ERR BLOCKED` (sent as `ERR AUTH` to older clients) (`blockedFilesXFTPVersion`).
pub const BLOCKED_FILES_XFTP_VERSION: Version = Version(3);
/// The newest version this crate speaks.
pub const CURRENT_XFTP_VERSION: Version = Version(3);
/// The versions a server offers (`supportedFileServerVRange`).
pub const XFTP_SERVER_VERSIONS: VersionRange = VersionRange {
    min: INITIAL_XFTP_VERSION,
    max: CURRENT_XFTP_VERSION,
};
/// The ALPN of the native handshake (`xftpALPNv1`).
pub const XFTP_ALPN: &[u8] = b"xftp/1";
/// The ALPN with which a web port also runs the handshake.
pub const HTTP11_ALPN: &[u8] = b"http/1.1";
/// The size of every command and response block (`xftpBlockSize`; the protocol document's
/// 4096 is stale).
pub const XFTP_BLOCK_SIZE: usize = 16_384;
