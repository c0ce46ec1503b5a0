//! The XFTP handshake records (`XFTPClientHello`, `XFTPServerHandshake` and
//! `XFTPClientHandshake` in the reference's `FileTransfer/Transport.hs`).
//!
//! Native (ALPN `xftp/1`, or `http/1.1` on a web port): the client POSTs an empty body, the
//! server answers a padded [`XftpServerHandshake`], the client POSTs a padded
//! [`XftpClientHandshake`] and the server answers with an empty body.
//!
//! Web (SNI with `h2`): the first POST carries the `xftp-web-hello` header and a padded
//! [`XftpClientHello`] with a 32-byte challenge; the server's record then carries its
//! identity proof, the certificate key's signature of `challenge ‖ sessionId`. The handshake
//! POST carries the `xftp-handshake` header. Bytes after the known fields are ignored in
//! every record, for later versions.

use simplex_crypto::{verify, KeyHash, PublicSignKey, Signature};
use simplex_encoding::{pad, unpad, Decode, DecodeError, Encode, Reader, ShortBytes};
use smp_proto::CertChainPubKey;

use crate::error::{XftpError, XftpErrorType};
use crate::version::{Version, VersionRange, XFTP_BLOCK_SIZE};

/// The request header that marks a web client's hello.
pub const WEB_HELLO_HEADER: &str = "xftp-web-hello";
/// The request header that marks a web client's handshake.
pub const WEB_HANDSHAKE_HEADER: &str = "xftp-handshake";
/// The length of a web challenge.
pub const WEB_CHALLENGE_LEN: usize = 32;

fn to_block(bytes: &[u8]) -> Result<Vec<u8>, XftpError> {
    pad(bytes, XFTP_BLOCK_SIZE).map_err(|_| XftpError::TooLarge)
}

/// A web client's first request (`XFTPClientHello`); native clients send an empty body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XftpClientHello {
    /// The challenge the server must sign to prove its identity.
    pub web_challenge: Option<[u8; WEB_CHALLENGE_LEN]>,
}

impl Encode for XftpClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.web_challenge.encode(out)
    }
}

impl XftpClientHello {
    /// Decodes the record; a challenge must be 32 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, XftpError> {
        let mut r = Reader::new(bytes);
        let web_challenge = Option::<[u8; WEB_CHALLENGE_LEN]>::decode(&mut r)?;
        Ok(XftpClientHello { web_challenge })
    }

    /// The padded block.
    pub fn encode_block(&self) -> Result<Vec<u8>, XftpError> {
        to_block(&self.to_bytes())
    }

    /// Decodes a padded block.
    pub fn decode_block(block: &[u8]) -> Result<Self, XftpError> {
        Self::decode(unpad(block)?)
    }

    /// The hello in the body of a connection's first request, as the server reads it: an
    /// empty body is a native client's (no challenge); otherwise a padded record, accepted
    /// only from web clients (`sni_used`), else `HANDSHAKE`.
    pub fn from_request_body(body: &[u8], sni_used: bool) -> Result<Self, XftpErrorType> {
        if body.is_empty() {
            return Ok(XftpClientHello {
                web_challenge: None,
            });
        }
        if !sni_used {
            return Err(XftpErrorType::Handshake);
        }
        Self::decode_block(body).map_err(|_| XftpErrorType::Handshake)
    }
}

/// The server's handshake record (`XFTPServerHandshake`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XftpServerHandshake {
    /// The versions the server offers.
    pub versions: VersionRange,
    /// The session ID (TLS `tls-unique`).
    pub session_id: ShortBytes,
    /// The certificate chain (leaf first) and the X25519 key signed by the leaf's key, for
    /// command authenticators.
    pub auth_pub_key: CertChainPubKey,
    /// The signature of `challenge ‖ sessionId` when the client sent a web challenge.
    pub web_identity_proof: Option<Signature>,
}

impl Encode for XftpServerHandshake {
    fn encode(&self, out: &mut Vec<u8>) {
        self.versions.encode(out);
        self.session_id.encode(out);
        self.auth_pub_key.encode(out);
        // The proof is a byte string, empty when there is none.
        let proof = self
            .web_identity_proof
            .as_ref()
            .map(|s| s.as_bytes())
            .unwrap_or_default();
        // Signatures are 64 or 114 bytes, always within a one-byte length.
        let _ = ShortBytes::encode_slice(proof, out);
    }
}

impl XftpServerHandshake {
    /// Decodes the record. A proof that is absent, empty or not a signature reads as none,
    /// as in the reference.
    pub fn decode(bytes: &[u8]) -> Result<Self, XftpError> {
        let mut r = Reader::new(bytes);
        let versions = VersionRange::decode(&mut r)?;
        let session_id = ShortBytes::decode(&mut r)?;
        let auth_pub_key = CertChainPubKey::decode(&mut r)?;
        let mut attempt = r.clone();
        let web_identity_proof = attempt
            .short_bytes()
            .ok()
            .and_then(|b| Signature::from_bytes(b).ok());
        Ok(XftpServerHandshake {
            versions,
            session_id,
            auth_pub_key,
            web_identity_proof,
        })
    }

    /// The padded block.
    pub fn encode_block(&self) -> Result<Vec<u8>, XftpError> {
        to_block(&self.to_bytes())
    }

    /// Decodes a padded block.
    pub fn decode_block(block: &[u8]) -> Result<Self, XftpError> {
        Self::decode(unpad(block)?)
    }

    /// Checks the identity proof against `challenge` with the leaf certificate's key (which
    /// the caller takes from `auth_pub_key.cert_chain[0]`). False when there is no proof.
    pub fn verify_identity_proof(&self, challenge: &[u8], cert_key: &PublicSignKey) -> bool {
        self.web_identity_proof.as_ref().is_some_and(|sig| {
            verify(
                cert_key,
                sig,
                &identity_proof_bytes(challenge, self.session_id.as_slice()),
            )
        })
    }
}

/// The bytes the server's certificate key signs for a web client: `challenge ‖ sessionId`.
pub fn identity_proof_bytes(challenge: &[u8], session_id: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(challenge.len() + session_id.len());
    m.extend_from_slice(challenge);
    m.extend_from_slice(session_id);
    m
}

/// The client's handshake record (`XFTPClientHandshake`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XftpClientHandshake {
    /// The chosen version.
    pub version: Version,
    /// The server identity the client expects (CA certificate fingerprint).
    pub key_hash: KeyHash,
}

impl Encode for XftpClientHandshake {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.key_hash.encode(out);
    }
}

impl XftpClientHandshake {
    /// Decodes the record.
    pub fn decode(bytes: &[u8]) -> Result<Self, XftpError> {
        let mut r = Reader::new(bytes);
        Ok(XftpClientHandshake {
            version: Version::decode(&mut r)?,
            key_hash: KeyHash::decode(&mut r)?,
        })
    }

    /// The padded block.
    pub fn encode_block(&self) -> Result<Vec<u8>, XftpError> {
        to_block(&self.to_bytes())
    }

    /// Decodes a padded block; the server also requires the body to be a whole block.
    pub fn decode_block(block: &[u8]) -> Result<Self, XftpError> {
        if block.len() != XFTP_BLOCK_SIZE {
            return Err(XftpError::Decode(DecodeError::Invalid(
                "handshake block size",
            )));
        }
        Self::decode(unpad(block)?)
    }
}
