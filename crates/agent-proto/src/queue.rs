//! Queue addresses inside agent messages: the binary forms of `SMPQueueUri` and
//! `SMPQueueInfo`, and `SndQAddr` (`Agent/Protocol.hs`).
//!
//! The string form of a queue URI (`smp://…#/?v=…&dh=…`) is `smp_proto::SmpQueueUri`'s. Its
//! binary form here depends on the SMP *client* versions it carries:
//! - a range with minimum ≥ 4 appends the queue mode (`M`/`C`) when there is one;
//! - minimum ≥ 3, or maximum ≥ 3 with a messaging queue, appends `T`/`F` (sender can secure);
//! - otherwise nothing follows the address.
//!
//! `SMPQueueInfo` (one negotiated version) is alike, except that version 1 writes the legacy
//! single-host server form. When reading, an `M`/`C` or `T`/`F` right after the address is
//! taken as the mode, and anything else leaves it unset.

use simplex_encoding::{decode_non_empty, Decode, DecodeError, Encode, Large, Reader, ShortBytes};
use smp_proto::address::{update_smp_server_hosts, SmpServer, TransportHost};
use smp_proto::keys::{KeyHash, PublicKeyX25519};
use smp_proto::{QueueMode, SmpQueueUri};

use crate::version::{
    Version, VersionRange, INITIAL_SMP_CLIENT_VERSION, SHORT_LINKS_SMP_CLIENT_VERSION,
    SND_AUTH_KEY_SMP_CLIENT_VERSION,
};

/// Appends bytes with a one-byte length. Identifiers are at most 255 bytes wherever this crate
/// or `smp-proto` builds them; a longer caller-built value is cut at 255 bytes rather than
/// written with a wrong length.
pub(crate) fn put_short(bytes: &[u8], out: &mut Vec<u8>) {
    let bytes = bytes.get(..ShortBytes::MAX_LEN).unwrap_or(bytes);
    let _ = ShortBytes::encode_slice(bytes, out);
}

/// Appends bytes with a two-byte length, cut at 65,535 bytes (see [`put_short`]).
pub(crate) fn put_large(bytes: &[u8], out: &mut Vec<u8>) {
    let bytes = bytes.get(..Large::MAX_LEN).unwrap_or(bytes);
    let _ = Large::encode_slice(bytes, out);
}

/// Appends a list with its one-byte count; at most 255 items are written (lists of queues
/// and receipts the agent builds are far shorter).
pub(crate) fn put_list<T>(items: &[T], out: &mut Vec<u8>, mut put: impl FnMut(&T, &mut Vec<u8>)) {
    let items = items.get(..255).unwrap_or(items);
    #[allow(clippy::cast_possible_truncation)] // at most 255, cut above
    out.push(items.len() as u8);
    for item in items {
        put(item, out);
    }
}

/// Reads a list with a one-byte count that must not be zero (`NonEmpty`).
pub(crate) fn read_non_empty<T>(
    r: &mut Reader<'_>,
    mut read: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let count = r.u8()?;
    if count == 0 {
        return Err(DecodeError::EmptyList);
    }
    let mut items = Vec::new();
    for _ in 0..count {
        items.push(read(r)?);
    }
    Ok(items)
}

/// `queueModeP`: a mode letter, else a sender-can-secure flag, else nothing (not consumed).
fn read_queue_mode(r: &mut Reader<'_>) -> Option<QueueMode> {
    let mode = match r.peek()? {
        b'M' | b'T' => QueueMode::Messaging,
        b'C' | b'F' => QueueMode::Contact,
        _ => return None,
    };
    let _ = r.u8(); // the byte just peeked

    Some(mode)
}

fn sender_can_secure(mode: Option<QueueMode>) -> bool {
    QueueMode::sender_can_secure(mode)
}

fn put_mode(mode: Option<QueueMode>, out: &mut Vec<u8>) {
    if let Some(m) = mode {
        m.encode(out);
    }
}

/// Appends the binary form of a queue URI (`smpEncode` of `SMPQueueUri`).
pub fn encode_queue_uri(q: &SmpQueueUri, out: &mut Vec<u8>) {
    let (min, max) = (q.client_versions.min, q.client_versions.max);
    q.client_versions.encode(out);
    q.server.encode(out);
    put_short(&q.sender_id, out);
    q.dh_public_key.encode(out);
    let can = sender_can_secure(q.queue_mode);
    if min >= SHORT_LINKS_SMP_CLIENT_VERSION {
        put_mode(q.queue_mode, out);
    } else if min >= SND_AUTH_KEY_SMP_CLIENT_VERSION
        || (max >= SND_AUTH_KEY_SMP_CLIENT_VERSION && can)
    {
        can.encode(out);
    }
}

/// Reads the binary form of a queue URI.
pub fn decode_queue_uri(r: &mut Reader<'_>) -> Result<SmpQueueUri, DecodeError> {
    let client_versions = VersionRange::decode(r)?;
    let server = SmpServer::decode(r)?;
    let sender_id = r.short_bytes()?.to_vec();
    let dh_public_key = PublicKeyX25519::decode(r)?;
    let queue_mode = read_queue_mode(r);
    Ok(SmpQueueUri {
        client_versions,
        server,
        sender_id,
        dh_public_key,
        queue_mode,
    })
}

/// A queue address at one negotiated SMP client version (`SMPQueueInfo`): reply queues in
/// confirmations, and new queues in `QKEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmpQueueInfo {
    /// The negotiated SMP client version.
    pub client_version: Version,
    /// The queue's server.
    pub server: SmpServer,
    /// The sender's queue ID.
    pub sender_id: Vec<u8>,
    /// The recipient's key for the per-queue DH agreement.
    pub dh_public_key: PublicKeyX25519,
    /// Messaging or contact queue, when known.
    pub queue_mode: Option<QueueMode>,
}

impl SmpQueueInfo {
    /// The queue of `uri` at `version` (`toVersionT`).
    pub fn from_uri(uri: &SmpQueueUri, version: Version) -> Self {
        SmpQueueInfo {
            client_version: version,
            server: uri.server.clone(),
            sender_id: uri.sender_id.clone(),
            dh_public_key: uri.dh_public_key,
            queue_mode: uri.queue_mode,
        }
    }

    /// The queue as a URI offering `versions` (`toVersionRangeT`).
    pub fn to_uri(&self, versions: VersionRange) -> SmpQueueUri {
        SmpQueueUri {
            client_versions: versions,
            server: self.server.clone(),
            sender_id: self.sender_id.clone(),
            dh_public_key: self.dh_public_key,
            queue_mode: self.queue_mode,
        }
    }
}

impl Encode for SmpQueueInfo {
    fn encode(&self, out: &mut Vec<u8>) {
        let v = self.client_version;
        v.encode(out);
        if v > INITIAL_SMP_CLIENT_VERSION {
            self.server.encode(out);
        } else {
            // The legacy form: the first host, the port and the key hash.
            match self.server.hosts.first() {
                Some(h) => h.encode(out),
                None => out.push(0),
            }
            put_port(self.server.port, out);
            self.server.key_hash.encode(out);
        }
        put_short(&self.sender_id, out);
        self.dh_public_key.encode(out);
        if v >= SHORT_LINKS_SMP_CLIENT_VERSION {
            put_mode(self.queue_mode, out);
        } else if v >= SND_AUTH_KEY_SMP_CLIENT_VERSION && sender_can_secure(self.queue_mode) {
            true.encode(out);
        }
    }
}

impl Decode for SmpQueueInfo {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let client_version = Version::decode(r)?;
        let server = if client_version > INITIAL_SMP_CLIENT_VERSION {
            SmpServer::decode(r)?
        } else {
            let host = TransportHost::decode(r)?;
            let port = read_port(r)?;
            let key_hash = KeyHash::decode(r)?;
            let mut server = SmpServer {
                hosts: vec![host],
                port,
                key_hash,
            };
            update_smp_server_hosts(&mut server);
            server
        };
        let sender_id = r.short_bytes()?.to_vec();
        let dh_public_key = PublicKeyX25519::decode(r)?;
        let queue_mode = read_queue_mode(r);
        Ok(SmpQueueInfo {
            client_version,
            server,
            sender_id,
            dh_public_key,
            queue_mode,
        })
    }
}

/// The port as a string with a one-byte length, empty for the default.
fn put_port(port: Option<u16>, out: &mut Vec<u8>) {
    match port {
        Some(p) => put_short(p.to_string().as_bytes(), out),
        None => out.push(0),
    }
}

fn read_port(r: &mut Reader<'_>) -> Result<Option<u16>, DecodeError> {
    let p = r.short_bytes()?;
    if p.is_empty() {
        Ok(None)
    } else {
        simplex_encoding::string::parse_u16(p).map(Some)
    }
}

/// The address of a send queue (`SndQAddr`): its server and sender ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndQAddr {
    /// The server.
    pub server: SmpServer,
    /// The sender's queue ID.
    pub sender_id: Vec<u8>,
}

impl Encode for SndQAddr {
    fn encode(&self, out: &mut Vec<u8>) {
        self.server.encode(out);
        put_short(&self.sender_id, out);
    }
}

impl Decode for SndQAddr {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SndQAddr {
            server: SmpServer::decode(r)?,
            sender_id: r.short_bytes()?.to_vec(),
        })
    }
}

/// Reads a non-empty list of queue infos (the reply queues of a duplex confirmation).
pub(crate) fn read_queue_infos(r: &mut Reader<'_>) -> Result<Vec<SmpQueueInfo>, DecodeError> {
    decode_non_empty(r)
}
