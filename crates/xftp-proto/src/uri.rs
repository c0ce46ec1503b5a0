//! Links that carry a file description: the app link `simplex:/file#/?desc=<escaped YAML>`
//! (`FileDescriptionURI` in the reference's `Description.hs`) and the web page's fragment,
//! base64url of the raw-DEFLATE-compressed YAML (`encodeWebURI`/`decodeWebURI` in
//! `Client/Main.hs`, `encodeDescriptionURI` in xftp-web).

use std::io::{Read, Write};

use simplex_encoding::string::{base64url_decode, base64url_encode, QueryString};

use crate::command::FileParty;
use crate::description::FileDescription;
use crate::error::XftpError;

/// The largest YAML a web link is inflated to (a description of a 5 GB file with many
/// replicas stays far below).
const MAX_WEB_YAML: u64 = 1 << 20;

/// The link's scheme (`ServiceScheme`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkScheme {
    /// `simplex:`.
    Simplex,
    /// `https://<host>[:<port>]`.
    Https(String),
}

/// A recipient's description as a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDescriptionUri {
    /// The scheme.
    pub scheme: LinkScheme,
    /// The validated recipient description.
    pub description: FileDescription,
    /// Optional JSON extensions (`data=`).
    pub client_data: Option<String>,
}

impl FileDescriptionUri {
    /// A `simplex:` link for a recipient description (`fileDescriptionURI`).
    pub fn new(description: FileDescription) -> Self {
        FileDescriptionUri {
            scheme: LinkScheme::Simplex,
            description,
            client_data: None,
        }
    }

    /// The link text.
    pub fn to_uri(&self) -> String {
        let mut q = QueryString::default();
        q.push("desc", self.description.to_yaml().into_bytes());
        if let Some(d) = &self.client_data {
            q.push("data", d.clone().into_bytes());
        }
        let scheme = match &self.scheme {
            LinkScheme::Simplex => "simplex:".to_owned(),
            LinkScheme::Https(host) => format!("https://{host}"),
        };
        format!("{scheme}/file#/?{}", q.encode())
    }

    /// Parses a link; the description must be a valid recipient description.
    pub fn parse(s: &str) -> Result<Self, XftpError> {
        let bad = XftpError::Description("link");
        let (scheme, rest) = if let Some(rest) = s.strip_prefix("simplex:") {
            (LinkScheme::Simplex, rest)
        } else if let Some(rest) = s.strip_prefix("https://") {
            let end = rest
                .find([':', '#', ',', ';', '/', ' '])
                .unwrap_or(rest.len());
            let mut host_end = end;
            if rest[end..].starts_with(':') {
                let digits = rest[end + 1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len() - end - 1);
                if digits == 0 {
                    return Err(bad);
                }
                host_end = end + 1 + digits;
            }
            if end == 0 {
                return Err(bad);
            }
            (
                LinkScheme::Https(rest[..host_end].to_owned()),
                &rest[host_end..],
            )
        } else {
            return Err(bad);
        };
        let rest = rest.strip_prefix("/file").ok_or(bad.clone())?;
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let query = rest.strip_prefix("#/?").ok_or(bad.clone())?;
        let query = query.split([' ', '\n']).next().unwrap_or_default();
        let q = QueryString::parse(query.as_bytes());
        let desc = q.get("desc").ok_or(bad.clone())?;
        let desc = std::str::from_utf8(desc).map_err(|_| bad.clone())?;
        let description = recipient_description(desc)?;
        let client_data = q
            .get("data")
            .map(|d| String::from_utf8_lossy(d).into_owned());
        Ok(FileDescriptionUri {
            scheme,
            description,
            client_data,
        })
    }
}

fn recipient_description(yaml: &str) -> Result<FileDescription, XftpError> {
    let fd = FileDescription::from_yaml_valid(yaml)?;
    if fd.party != FileParty::Recipient {
        return Err(XftpError::Description("party"));
    }
    Ok(fd)
}

/// The web link fragment for a recipient description: base64url (padded) of the raw
/// DEFLATE of its YAML at the default level.
pub fn encode_web_uri(description: &FileDescription) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(description.to_yaml().as_bytes());
    base64url_encode(&enc.finish().unwrap_or_default())
}

/// Reads a web link fragment back into a valid recipient description.
pub fn decode_web_uri(fragment: &str) -> Result<FileDescription, XftpError> {
    let compressed = base64url_decode(fragment.as_bytes())?;
    let mut yaml = String::new();
    flate2::read::DeflateDecoder::new(compressed.as_slice())
        .take(MAX_WEB_YAML)
        .read_to_string(&mut yaml)
        .map_err(|_| XftpError::Description("web link compression"))?;
    recipient_description(&yaml)
}
