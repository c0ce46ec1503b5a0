//! File descriptions (`Simplex/FileTransfer/Description.hs`): what a recipient needs to
//! download a file (and a sender to delete it), as YAML text.
//!
//! Chunks are printed grouped by server, each replica as a compact string
//! `chunkNo:replicaId:replicaKey[:digest[:size]]`: the digest on a chunk's first replica only,
//! the size there too and only when it differs from the description's `chunkSize`. Several
//! descriptions are joined with a line of 32 `#` ([`FD_SEPARATOR`]). A `redirect` marks a
//! description of a file that holds the real description.

use std::collections::BTreeMap;

use simplex_crypto::{CbNonce, PrivateAuthKey, SbKey};
use simplex_encoding::string::{base64url_decode, base64url_encode};

use crate::address::XftpServer;
use crate::chunks::{file_size_str, parse_file_size};
use crate::command::FileParty;
use crate::error::XftpError;
use crate::yaml::{self, scalar, Node};

/// The separator between several descriptions in one text (`fdSeparator`).
pub const FD_SEPARATOR: &str = "################################\n";
/// The longest link that still fits the QR code size clients aim for (`qrSizeLimit`).
pub const QR_SIZE_LIMIT: usize = 1002;

/// A file description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDescription {
    /// Whose description this is.
    pub party: FileParty,
    /// The encrypted file's size (the sum of its chunks).
    pub size: u64,
    /// The SHA-512 of the encrypted file.
    pub digest: Vec<u8>,
    /// The file's secret-box key.
    pub key: SbKey,
    /// The file's nonce.
    pub nonce: CbNonce,
    /// The default chunk size (of the first chunk).
    pub chunk_size: u32,
    /// The chunks, numbered from 1.
    pub chunks: Vec<FileChunk>,
    /// Present when the described file holds another description.
    pub redirect: Option<RedirectFileInfo>,
}

/// One chunk of a described file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChunk {
    /// Its number, from 1.
    pub chunk_no: u32,
    /// Its size.
    pub chunk_size: u32,
    /// The SHA-256 of the encrypted chunk.
    pub digest: Vec<u8>,
    /// Where it is stored, first replica first.
    pub replicas: Vec<FileChunkReplica>,
}

/// One stored copy of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChunkReplica {
    /// The relay.
    pub server: XftpServer,
    /// The chunk's ID on that relay for this party.
    pub replica_id: Vec<u8>,
    /// The key that authorizes this party's commands on it.
    pub replica_key: PrivateAuthKey,
}

/// The real file behind a redirect description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectFileInfo {
    /// The size of the real (encrypted) file.
    pub size: u64,
    /// Its SHA-512.
    pub digest: Vec<u8>,
}

/// A replica as printed in a server's list.
struct ServerReplica<'a> {
    chunk_no: u32,
    server: &'a XftpServer,
    replica_id: &'a [u8],
    replica_key: &'a PrivateAuthKey,
    digest: Option<&'a [u8]>,
    chunk_size: Option<u32>,
}

impl ServerReplica<'_> {
    fn to_compact(&self) -> String {
        let mut s = format!(
            "{}:{}:{}",
            self.chunk_no,
            base64url_encode(self.replica_id),
            base64url_encode(&self.replica_key.to_der())
        );
        if let Some(d) = self.digest {
            s.push(':');
            s.push_str(&base64url_encode(d));
        }
        if let Some(size) = self.chunk_size {
            s.push(':');
            s.push_str(&file_size_str(u64::from(size)));
        }
        s
    }
}

/// A replica as read from a server's list.
struct ParsedReplica {
    chunk_no: u32,
    replica: FileChunkReplica,
    digest: Option<Vec<u8>>,
    chunk_size: Option<u32>,
}

fn b64(s: &str) -> Result<Vec<u8>, XftpError> {
    base64url_decode(s.as_bytes()).map_err(XftpError::Decode)
}

/// Parses `chunkNo:replicaId:replicaKey[:digest[:size]]`.
fn parse_compact(server: &XftpServer, s: &str) -> Result<ParsedReplica, XftpError> {
    let bad = XftpError::Description("replica");
    let fields: Vec<&str> = s.split(':').collect();
    if !(3..=5).contains(&fields.len()) {
        return Err(bad);
    }
    let no = fields[0];
    if no.is_empty() || !no.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let chunk_no = no.parse().map_err(|_| bad.clone())?;
    let replica_id = b64(fields[1])?;
    let replica_key =
        PrivateAuthKey::from_der(&b64(fields[2])?).map_err(|_| XftpError::Description("key"))?;
    let digest = fields.get(3).map(|d| b64(d)).transpose()?;
    let chunk_size = fields
        .get(4)
        .map(|s| parse_file_size(s).and_then(|n| u32::try_from(n).map_err(|_| bad.clone())))
        .transpose()?;
    Ok(ParsedReplica {
        chunk_no,
        replica: FileChunkReplica {
            server: server.clone(),
            replica_id,
            replica_key,
        },
        digest,
        chunk_size,
    })
}

impl FileDescription {
    /// The reference's `validateFileDescription`: chunks numbered 1, 2, ... and their sizes
    /// adding up to the file size.
    pub fn validate(&self) -> Result<(), XftpError> {
        if !self
            .chunks
            .iter()
            .enumerate()
            .all(|(i, c)| usize::try_from(c.chunk_no).ok() == Some(i + 1))
        {
            return Err(XftpError::Description("chunk numbers are not sequential"));
        }
        let total: u64 = self.chunks.iter().map(|c| u64::from(c.chunk_size)).sum();
        if total != self.size {
            return Err(XftpError::Description(
                "chunks total size is different than file size",
            ));
        }
        Ok(())
    }

    /// The replicas grouped by server in the reference's order (`groupReplicasByServer`).
    fn grouped_replicas(&self) -> Vec<Vec<ServerReplica<'_>>> {
        let mut flat: Vec<ServerReplica<'_>> = Vec::new();
        for c in &self.chunks {
            for (i, r) in c.replicas.iter().enumerate() {
                let first = i == 0;
                flat.push(ServerReplica {
                    chunk_no: c.chunk_no,
                    server: &r.server,
                    replica_id: &r.replica_id,
                    replica_key: &r.replica_key,
                    digest: first.then_some(c.digest.as_slice()),
                    chunk_size: (first && c.chunk_size != self.chunk_size).then_some(c.chunk_size),
                });
            }
        }
        // Stable, so each server keeps its replicas in chunk order.
        flat.sort_by(|a, b| a.server.ref_cmp(b.server));
        let mut groups: Vec<Vec<ServerReplica<'_>>> = Vec::new();
        for r in flat {
            match groups.last_mut() {
                Some(g) if g.first().is_some_and(|f| f.server == r.server) => g.push(r),
                _ => groups.push(vec![r]),
            }
        }
        groups
    }

    /// The YAML text, byte for byte as the reference prints it.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&scalar(v));
            out.push('\n');
        };
        line("chunkSize", &file_size_str(u64::from(self.chunk_size)));
        line("digest", &base64url_encode(&self.digest));
        line("key", &base64url_encode(self.key.as_bytes()));
        line("nonce", &base64url_encode(self.nonce.as_bytes()));
        line("party", self.party.as_str());
        if let Some(r) = &self.redirect {
            out.push_str("redirect:\n  digest: ");
            out.push_str(&scalar(&base64url_encode(&r.digest)));
            out.push_str(&format!("\n  size: {}\n", r.size));
        }
        let groups = self.grouped_replicas();
        if groups.is_empty() {
            out.push_str("replicas: []\n");
        } else {
            out.push_str("replicas:\n");
            for g in &groups {
                out.push_str("- chunks:\n");
                for r in g {
                    out.push_str("  - ");
                    out.push_str(&scalar(&r.to_compact()));
                    out.push('\n');
                }
                if let Some(first) = g.first() {
                    out.push_str("  server: ");
                    out.push_str(&scalar(&first.server.to_string()));
                    out.push('\n');
                }
            }
        }
        out.push_str("size: ");
        out.push_str(&scalar(&file_size_str(self.size)));
        out.push('\n');
        out
    }

    /// Parses a description (the reference's `strDecode` of `AFileDescription`: not yet
    /// validated, see [`FileDescription::validate`]).
    pub fn from_yaml(text: &str) -> Result<FileDescription, XftpError> {
        let doc = yaml::parse(text)?;
        let field = |k: &'static str| {
            doc.get(k)
                .and_then(Node::as_str)
                .ok_or(XftpError::Description(k))
        };
        let party = FileParty::parse(field("party")?).ok_or(XftpError::Description("party"))?;
        let size = parse_file_size(field("size")?)?;
        let digest = b64(field("digest")?)?;
        let key =
            SbKey::from_slice(&b64(field("key")?)?).map_err(|_| XftpError::Description("key"))?;
        let nonce = CbNonce::from_slice(&b64(field("nonce")?)?)
            .map_err(|_| XftpError::Description("nonce"))?;
        let chunk_size = u32::try_from(parse_file_size(field("chunkSize")?)?)
            .map_err(|_| XftpError::Description("chunkSize"))?;
        let redirect = match doc.get("redirect") {
            None => None,
            Some(Node::Scalar(s)) if s.is_empty() || s == "null" || s == "~" => None,
            Some(r) => Some(parse_redirect(r)?),
        };
        let mut replicas = Vec::new();
        let groups = match doc.get("replicas") {
            Some(Node::Seq(items)) => items,
            _ => return Err(XftpError::Description("replicas")),
        };
        for g in groups {
            let server = g
                .get("server")
                .and_then(Node::as_str)
                .ok_or(XftpError::Description("server"))?;
            let server = XftpServer::parse_str(server.as_bytes())?;
            let chunks = match g.get("chunks") {
                Some(Node::Seq(items)) => items,
                _ => return Err(XftpError::Description("chunks")),
            };
            for c in chunks {
                let s = c.as_str().ok_or(XftpError::Description("replica"))?;
                replicas.push(parse_compact(&server, s)?);
            }
        }
        Ok(FileDescription {
            party,
            size,
            digest,
            key,
            nonce,
            chunk_size,
            chunks: fold_replicas(chunk_size, replicas)?,
            redirect,
        })
    }

    /// Parses and validates.
    pub fn from_yaml_valid(text: &str) -> Result<FileDescription, XftpError> {
        let fd = Self::from_yaml(text)?;
        fd.validate()?;
        Ok(fd)
    }
}

fn parse_redirect(node: &Node) -> Result<RedirectFileInfo, XftpError> {
    let bad = XftpError::Description("redirect");
    let size = node.get("size").and_then(Node::as_str).ok_or(bad.clone())?;
    if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let size = size.parse().map_err(|_| bad.clone())?;
    let digest = b64(node.get("digest").and_then(Node::as_str).ok_or(bad)?)?;
    Ok(RedirectFileInfo { size, digest })
}

/// The reference's `foldReplicasToChunks`: a chunk's digest and size come from whichever of
/// its replicas carries them (they must agree), and every chunk needs a digest.
fn fold_replicas(
    default_size: u32,
    replicas: Vec<ParsedReplica>,
) -> Result<Vec<FileChunk>, XftpError> {
    let conflict = XftpError::Description("different size or digest in chunk replicas");
    let mut sizes: BTreeMap<u32, u32> = BTreeMap::new();
    let mut digests: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for r in &replicas {
        if let Some(s) = r.chunk_size {
            if *sizes.entry(r.chunk_no).or_insert(s) != s {
                return Err(conflict);
            }
        }
        if let Some(d) = &r.digest {
            if *digests.entry(r.chunk_no).or_insert_with(|| d.clone()) != *d {
                return Err(conflict);
            }
        }
    }
    let mut chunks: BTreeMap<u32, FileChunk> = BTreeMap::new();
    for r in replicas {
        if let Some(c) = chunks.get_mut(&r.chunk_no) {
            c.replicas.push(r.replica);
            continue;
        }
        let digest = digests
            .get(&r.chunk_no)
            .cloned()
            .ok_or(XftpError::Description("no digest for chunk"))?;
        chunks.insert(
            r.chunk_no,
            FileChunk {
                chunk_no: r.chunk_no,
                chunk_size: sizes.get(&r.chunk_no).copied().unwrap_or(default_size),
                digest,
                replicas: vec![r.replica],
            },
        );
    }
    Ok(chunks.into_values().collect())
}

/// Joins descriptions into one text, with [`FD_SEPARATOR`] between them.
pub fn join_descriptions(descriptions: &[FileDescription]) -> String {
    descriptions
        .iter()
        .map(FileDescription::to_yaml)
        .collect::<Vec<_>>()
        .join(FD_SEPARATOR)
}

/// Splits a text of descriptions joined by [`FD_SEPARATOR`] and parses each.
pub fn split_descriptions(text: &str) -> Result<Vec<FileDescription>, XftpError> {
    let mut parts = vec![String::new()];
    for line in text.split_inclusive('\n') {
        if line == FD_SEPARATOR || line == FD_SEPARATOR.trim_end() {
            parts.push(String::new());
        } else if let Some(p) = parts.last_mut() {
            p.push_str(line);
        }
    }
    parts
        .iter()
        .map(|p| FileDescription::from_yaml(p))
        .collect()
}
