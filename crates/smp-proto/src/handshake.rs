//! The SMP handshake records (`protocol/simplex-messaging.md` § Transport handshake;
//! `SMPServerHandshake`, `SMPClientHandshake` and `CertChainPubKey` in the reference's
//! `Transport.hs`).
//!
//! After TLS the server sends [`ServerHello`] and the client answers [`ClientHello`], each
//! padded to one 16,384-byte block. From v7 the server also sends its certificate chain and an
//! X25519 key signed by the server certificate's key; the signed object is that key's
//! SubjectPublicKeyInfo wrapped in one more SEQUENCE (`30 2c ‖ SPKI`). A client that offered
//! no ALPN gets the range 6–6 and therefore no key (the legacy v6 handshake). Bytes after the
//! known fields are ignored, so that later versions can add fields.
//!
//! Later fields of the client hello: from v14 whether the client is a proxy (`T`/`F`), from
//! v16 an optional service record (role and a chain with a signed key); a client that sent a
//! service record receives a third block from the server, [`ServerHandshakeResponse`].
//!
//! Verifying the signature and the chain is not done here: [`SignedKey`] exposes the exact
//! signed bytes, the algorithm and the signature.

use simplex_encoding::{
    decode_non_empty, pad, unpad, Decode, DecodeError, Encode, Large, Reader, ShortBytes,
};

use crate::block::BLOCK_SIZE;
use crate::error::{ProtoError, TransportError};
use crate::keys::{KeyHash, PublicKeyX25519, Signature};
use crate::version::{
    Version, VersionRange, AUTH_CMDS_SMP_VERSION, LEGACY_SERVER_VERSIONS,
    PROXY_SERVER_HANDSHAKE_SMP_VERSION, SERVER_VERSIONS, SERVICE_CERTS_SMP_VERSION,
};
use simplex_crypto::PublicKeyEd25519;

const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];

/// The algorithm of a certificate signature on a session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// Ed25519 (OID 1.3.101.112).
    Ed25519,
    /// Ed448 (OID 1.3.101.113).
    Ed448,
}

/// The public key inside a [`SignedKey`]: an X25519 session key (server hellos, `PKEY`) or
/// an Ed25519 session key (a service's hello, v16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedPubKey {
    /// An X25519 key.
    X25519(PublicKeyX25519),
    /// An Ed25519 key.
    Ed25519(PublicKeyEd25519),
}

impl SignedPubKey {
    fn to_der(self) -> Vec<u8> {
        match self {
            SignedPubKey::X25519(k) => k.to_der(),
            SignedPubKey::Ed25519(k) => k.to_der(),
        }
    }
}

/// A public key signed with a certificate's key (`SignedExact PubKey`), kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedKey {
    der: Vec<u8>,
    object_start: usize,
    object_end: usize,
    algorithm: SignatureAlgorithm,
    signature: Signature,
    key: SignedPubKey,
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        // In range, checked above.
        out.push(u8::try_from(len).unwrap_or(0));
    } else if len <= 0xff {
        out.push(0x81);
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        out.push(0x82);
        out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    }
}

fn der_tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    der_len(content.len(), out);
    out.extend_from_slice(content);
}

/// Reads one DER element with tag `tag`, returning (whole element, content).
fn read_tlv<'a>(r: &mut Reader<'a>, tag: u8) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    let start = r.peek_rest();
    if r.u8()? != tag {
        return Err(DecodeError::InvalidTag { what: "DER tag" });
    }
    let len = match r.u8()? {
        n if n < 0x80 => usize::from(n),
        0x81 => match r.u8()? {
            n if n >= 0x80 => usize::from(n),
            _ => return Err(DecodeError::Invalid("non-minimal DER length")),
        },
        0x82 => match r.u16()? {
            n if n >= 0x100 => usize::from(n),
            _ => return Err(DecodeError::Invalid("non-minimal DER length")),
        },
        _ => return Err(DecodeError::Invalid("DER length")),
    };
    let header = start.len() - r.remaining();
    let content = r.take(len)?;
    let whole = start
        .get(..header + len)
        .ok_or(DecodeError::Invalid("DER element"))?;
    Ok((whole, content))
}

impl SignedKey {
    /// Builds the signed object for `key` and signs it with `sign` (which the caller runs with
    /// the server certificate's private key). `sign` must return a signature of `algorithm`.
    pub fn build(
        key: &PublicKeyX25519,
        algorithm: SignatureAlgorithm,
        sign: impl FnOnce(&[u8]) -> Signature,
    ) -> Result<SignedKey, ProtoError> {
        Self::build_key(SignedPubKey::X25519(*key), algorithm, sign)
    }

    /// [`SignedKey::build`] for any key kind (a service signs an Ed25519 session key).
    pub fn build_key(
        key: SignedPubKey,
        algorithm: SignatureAlgorithm,
        sign: impl FnOnce(&[u8]) -> Signature,
    ) -> Result<SignedKey, ProtoError> {
        let mut object = Vec::with_capacity(46);
        der_tlv(0x30, &key.to_der(), &mut object);
        let signature = sign(&object);
        let expected = match signature {
            Signature::Ed25519(_) => SignatureAlgorithm::Ed25519,
            Signature::Ed448(_) => SignatureAlgorithm::Ed448,
        };
        if expected != algorithm {
            return Err(ProtoError::Decode(DecodeError::Invalid(
                "signature algorithm",
            )));
        }
        let mut content = object.clone();
        let oid = match algorithm {
            SignatureAlgorithm::Ed25519 => OID_ED25519,
            SignatureAlgorithm::Ed448 => OID_ED448,
        };
        der_tlv(0x30, oid, &mut content);
        let mut bits = vec![0u8];
        bits.extend_from_slice(signature.as_bytes());
        der_tlv(0x03, &bits, &mut content);
        let mut der = Vec::with_capacity(content.len() + 3);
        der_tlv(0x30, &content, &mut der);
        let header = der.len() - content.len();
        Ok(SignedKey {
            object_start: header,
            object_end: header + object.len(),
            der,
            algorithm,
            signature,
            key,
        })
    }

    /// Parses the DER of the signed object (strictly: one X25519 or Ed25519 key, signed with
    /// Ed25519 or Ed448).
    pub fn from_der(der: &[u8]) -> Result<SignedKey, DecodeError> {
        let mut outer = Reader::new(der);
        let (_, content) = read_tlv(&mut outer, 0x30)?;
        outer.finish()?;
        let header = der.len() - content.len();
        let mut r = Reader::new(content);
        let (object, object_content) = read_tlv(&mut r, 0x30)?;
        let key = match PublicKeyX25519::from_der(object_content) {
            Ok(k) => SignedPubKey::X25519(k),
            Err(_) => PublicKeyEd25519::from_der(object_content)
                .map(SignedPubKey::Ed25519)
                .map_err(|_| DecodeError::Invalid("signed key"))?,
        };
        let (_, alg) = read_tlv(&mut r, 0x30)?;
        let algorithm = match alg {
            OID_ED25519 => SignatureAlgorithm::Ed25519,
            OID_ED448 => SignatureAlgorithm::Ed448,
            _ => return Err(DecodeError::Invalid("signature algorithm")),
        };
        let (_, bits) = read_tlv(&mut r, 0x03)?;
        r.finish()?;
        let sig = match bits.split_first() {
            Some((0, sig)) => sig,
            _ => return Err(DecodeError::Invalid("signature bit string")),
        };
        let signature =
            Signature::from_bytes(sig).map_err(|_| DecodeError::Invalid("signature length"))?;
        let matches = matches!(
            (algorithm, &signature),
            (SignatureAlgorithm::Ed25519, Signature::Ed25519(_))
                | (SignatureAlgorithm::Ed448, Signature::Ed448(_))
        );
        if !matches {
            return Err(DecodeError::Invalid("signature length for its algorithm"));
        }
        Ok(SignedKey {
            der: der.to_vec(),
            object_start: header,
            object_end: header + object.len(),
            algorithm,
            signature,
            key,
        })
    }

    /// The whole DER, as sent.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The exact bytes the signature covers (`30 2c ‖ SPKI` for X25519).
    pub fn signed_bytes(&self) -> &[u8] {
        self.der
            .get(self.object_start..self.object_end)
            .unwrap_or_default()
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The signed key, when it is an X25519 key (server hellos, `PKEY`).
    pub fn key(&self) -> Option<&PublicKeyX25519> {
        match &self.key {
            SignedPubKey::X25519(k) => Some(k),
            SignedPubKey::Ed25519(_) => None,
        }
    }

    /// The signed key of either kind.
    pub fn signed_key(&self) -> SignedPubKey {
        self.key
    }
}

/// A certificate chain with a key signed by its leaf (`CertChainPubKey`), used in the server
/// hello and in `PKEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChainPubKey {
    /// The certificates as DER, leaf first; never empty.
    pub cert_chain: Vec<Vec<u8>>,
    /// The signed session key.
    pub signed_key: SignedKey,
}

impl Encode for CertChainPubKey {
    fn encode(&self, out: &mut Vec<u8>) {
        // Invariants: a chain has 1 to 4 certificates, each far below 64 KiB, and the
        // signed key is under 200 bytes; oversized input is truncated rather than panicking.
        let n = self.cert_chain.len().min(255);
        out.push(u8::try_from(n).unwrap_or(u8::MAX));
        for cert in self.cert_chain.iter().take(n) {
            let _ = Large::encode_slice(cert.get(..Large::MAX_LEN).unwrap_or(cert), out);
        }
        let _ = Large::encode_slice(self.signed_key.der(), out);
    }
}

impl Decode for CertChainPubKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let cert_chain = decode_non_empty::<Large>(r)?
            .into_iter()
            .map(Large::into_vec)
            .collect();
        let signed_key = SignedKey::from_der(r.large_bytes()?)?;
        Ok(CertChainPubKey {
            cert_chain,
            signed_key,
        })
    }
}

/// The server's handshake block (`SMPServerHandshake`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The versions the server offers.
    pub versions: VersionRange,
    /// The session ID (`tls-unique`).
    pub session_id: ShortBytes,
    /// The chain and signed key; sent only when `versions.max >= 7`.
    pub cert_key: Option<CertChainPubKey>,
}

impl ServerHello {
    /// The hello our relay sends: its range ([`SERVER_VERSIONS`]) and the key when the client
    /// negotiated an ALPN protocol (`smp/1`, `h2` or `http/1.1`), otherwise the legacy v6
    /// hello.
    pub fn for_alpn(alpn: bool, session_id: ShortBytes, cert_key: CertChainPubKey) -> Self {
        if alpn {
            ServerHello {
                versions: SERVER_VERSIONS,
                session_id,
                cert_key: Some(cert_key),
            }
        } else {
            ServerHello {
                versions: LEGACY_SERVER_VERSIONS,
                session_id,
                cert_key: None,
            }
        }
    }

    /// Decodes the record, ignoring any bytes after the known fields.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let versions = VersionRange::decode(&mut r)?;
        let session_id = ShortBytes::decode(&mut r)?;
        let cert_key = if versions.max >= AUTH_CMDS_SMP_VERSION && !r.is_empty() {
            Some(CertChainPubKey::decode(&mut r)?)
        } else {
            None
        };
        Ok(ServerHello {
            versions,
            session_id,
            cert_key,
        })
    }

    /// The padded 16,384-byte block.
    pub fn encode_block(&self) -> Result<Vec<u8>, ProtoError> {
        Ok(pad(&self.to_bytes(), BLOCK_SIZE)?)
    }

    /// Decodes a padded block.
    pub fn decode_block(block: &[u8]) -> Result<Self, ProtoError> {
        Ok(ServerHello::decode(unpad(block)?)?)
    }
}

impl Encode for ServerHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.versions.encode(out);
        self.session_id.encode(out);
        if self.versions.max >= AUTH_CMDS_SMP_VERSION {
            if let Some(ck) = &self.cert_key {
                ck.encode(out);
            }
        }
    }
}

/// The role of a service client (`SMPServiceRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceRole {
    /// `M`: a messaging service (chat relay, high-volume bot).
    Messaging,
    /// `N`: a notification server.
    Notifier,
    /// `P`: a proxy.
    Proxy,
}

impl Encode for ServiceRole {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            ServiceRole::Messaging => b'M',
            ServiceRole::Notifier => b'N',
            ServiceRole::Proxy => b'P',
        })
    }
}

impl Decode for ServiceRole {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'M' => Ok(ServiceRole::Messaging),
            b'N' => Ok(ServiceRole::Notifier),
            b'P' => Ok(ServiceRole::Proxy),
            _ => Err(DecodeError::InvalidTag {
                what: "SMPServiceRole",
            }),
        }
    }
}

/// A service's record in the client hello (`SMPClientHandshakeService`, v16): its role and
/// its TLS client chain with a session Ed25519 key signed by the chain's leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHelloService {
    /// The service's role.
    pub role: ServiceRole,
    /// The chain and the signed session key.
    pub cert_key: CertChainPubKey,
}

impl Encode for ClientHelloService {
    fn encode(&self, out: &mut Vec<u8>) {
        self.role.encode(out);
        self.cert_key.encode(out);
    }
}

impl Decode for ClientHelloService {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ClientHelloService {
            role: ServiceRole::decode(r)?,
            cert_key: CertChainPubKey::decode(r)?,
        })
    }
}

/// The client's handshake block (`SMPClientHandshake`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The chosen version: the highest in both ranges.
    pub version: Version,
    /// The server identity the client expects (CA fingerprint).
    pub key_hash: KeyHash,
    /// From v7, a DH key for a session secret: with it the server encrypts blocks from v11
    /// (unless `proxy_server`), and a proxy's `RFWD` uses the secret.
    pub dh_key: Option<PublicKeyX25519>,
    /// From v14: the client is a proxy (no block encryption). Decoded as `false` before v14.
    pub proxy_server: bool,
    /// From v16: the service record of a service client, if any.
    pub client_service: Option<ClientHelloService>,
}

impl ClientHello {
    /// Decodes the record, ignoring any bytes after the known fields.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = Version::decode(&mut r)?;
        let key_hash = KeyHash::decode(&mut r)?;
        // `optional smpP`: a key that does not parse is not consumed (from v14 the proxy
        // flag follows, with or without a key).
        let dh_key = if version >= AUTH_CMDS_SMP_VERSION {
            let mut attempt = r.clone();
            match PublicKeyX25519::decode(&mut attempt) {
                Ok(k) => {
                    r = attempt;
                    Some(k)
                }
                Err(_) => None,
            }
        } else {
            None
        };
        let proxy_server = if version >= PROXY_SERVER_HANDSHAKE_SMP_VERSION {
            bool::decode(&mut r)?
        } else {
            false
        };
        let client_service = if version >= SERVICE_CERTS_SMP_VERSION {
            Option::<ClientHelloService>::decode(&mut r)?
        } else {
            None
        };
        Ok(ClientHello {
            version,
            key_hash,
            dh_key,
            proxy_server,
            client_service,
        })
    }

    /// The padded 16,384-byte block.
    pub fn encode_block(&self) -> Result<Vec<u8>, ProtoError> {
        Ok(pad(&self.to_bytes(), BLOCK_SIZE)?)
    }

    /// Decodes a padded block.
    pub fn decode_block(block: &[u8]) -> Result<Self, ProtoError> {
        Ok(ClientHello::decode(unpad(block)?)?)
    }
}

impl Encode for ClientHello {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.key_hash.encode(out);
        if self.version >= AUTH_CMDS_SMP_VERSION {
            if let Some(k) = &self.dh_key {
                k.encode(out);
            }
        }
        if self.version >= PROXY_SERVER_HANDSHAKE_SMP_VERSION {
            self.proxy_server.encode(out);
        }
        if self.version >= SERVICE_CERTS_SMP_VERSION {
            self.client_service.encode(out);
        }
    }
}

/// The server's third handshake block, sent only to a client whose hello carried a service
/// record (`SMPServerHandshakeResponse`, v16): the service ID, or why the service was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerHandshakeResponse {
    /// `R`: the service's ID on this server.
    ServiceId(ShortBytes),
    /// `E`: the handshake error.
    Error(TransportError),
}

impl Encode for ServerHandshakeResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ServerHandshakeResponse::ServiceId(id) => {
                out.push(b'R');
                id.encode(out);
            }
            ServerHandshakeResponse::Error(e) => {
                out.push(b'E');
                e.encode(out);
            }
        }
    }
}

impl Decode for ServerHandshakeResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'R' => Ok(ServerHandshakeResponse::ServiceId(ShortBytes::decode(r)?)),
            b'E' => Ok(ServerHandshakeResponse::Error(TransportError::decode(r)?)),
            _ => Err(DecodeError::InvalidTag {
                what: "SMPServerHandshakeResponse",
            }),
        }
    }
}

impl ServerHandshakeResponse {
    /// The padded 16,384-byte block.
    pub fn encode_block(&self) -> Result<Vec<u8>, ProtoError> {
        Ok(pad(&self.to_bytes(), BLOCK_SIZE)?)
    }

    /// Decodes a padded block, ignoring bytes after the record.
    pub fn decode_block(block: &[u8]) -> Result<Self, ProtoError> {
        let mut r = Reader::new(unpad(block)?);
        Ok(ServerHandshakeResponse::decode(&mut r)?)
    }
}
