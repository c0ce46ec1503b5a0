//! Keys, their X.509 DER forms, signatures and X25519/X448 agreement
//! (`protocol/simplex-messaging.md` § Cryptographic algorithms; `PublicKey`, `PrivateKey`,
//! `sign`, `verify`, `dh'` in the reference's `Crypto.hs`).
//!
//! Public keys are written as a DER `SubjectPublicKeyInfo` and private keys as a PKCS#8
//! `PrivateKeyInfo` (version 0, no attributes, no public key). For these four algorithms
//! both shapes are fixed: a constant prefix naming the algorithm followed by the raw key, so
//! they are written and parsed as prefix ‖ raw bytes, and anything else is rejected.
//!
//! On the wire (`smpEncode`) every public key is its DER in a one-byte-length string.
//!
//! Ed25519 and X25519 use the dalek crates; Ed448 and X448 use OpenSSL.

use std::fmt;
use std::hash::{Hash, Hasher};

use openssl::derive::Deriver;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use rand_core::{CryptoRng, RngCore};
use simplex_encoding::{Decode, DecodeError, Encode, Reader, ShortBytes};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::CryptoError;

/// Raw lengths of the four key types.
const ED25519_LEN: usize = 32;
const X25519_LEN: usize = 32;
const ED448_LEN: usize = 57;
const X448_LEN: usize = 56;

/// `SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (0 unused bits) }` headers.
const SPKI_ED25519: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const SPKI_X25519: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];
const SPKI_ED448: [u8; 12] = [
    0x30, 0x43, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x03, 0x3a, 0x00,
];
const SPKI_X448: [u8; 12] = [
    0x30, 0x42, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f, 0x03, 0x39, 0x00,
];

/// `SEQUENCE { INTEGER 0, SEQUENCE { OID }, OCTET STRING { OCTET STRING raw } }` headers.
const PKCS8_ED25519: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PKCS8_X25519: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];
const PKCS8_ED448: [u8; 16] = [
    0x30, 0x47, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x04, 0x3b, 0x04, 0x39,
];
const PKCS8_X448: [u8; 16] = [
    0x30, 0x46, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f, 0x04, 0x3a, 0x04, 0x38,
];

/// The raw key after `prefix`, if `der` is exactly `prefix ‖ N bytes`.
fn strip_der<const N: usize>(
    der: &[u8],
    prefix: &[u8],
    what: &'static str,
) -> Result<[u8; N], CryptoError> {
    der.strip_prefix(prefix)
        .and_then(|raw| <[u8; N]>::try_from(raw).ok())
        .ok_or(CryptoError::InvalidDer { what })
}

fn join_der(prefix: &[u8], raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + raw.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(raw);
    out
}

fn raw_array<const N: usize>(raw: &[u8], what: &'static str) -> Result<[u8; N], CryptoError> {
    <[u8; N]>::try_from(raw).map_err(|_| CryptoError::InvalidKeyLength {
        what,
        expected: N,
        got: raw.len(),
    })
}

fn hex_fmt(f: &mut fmt::Formatter<'_>, name: &str, raw: &[u8]) -> fmt::Result {
    write!(f, "{name}(")?;
    for b in raw {
        write!(f, "{b:02x}")?;
    }
    write!(f, ")")
}

/// Writes a DER as the one-byte-length string of `smpEncode`. Every DER here is at most 72
/// bytes, so the length always fits.
fn encode_der(der: &[u8], out: &mut Vec<u8>) {
    // Invariant: key DER encodings are at most 72 bytes (< 256).
    ShortBytes::encode_slice(der, out).expect("key DER is shorter than 256 bytes");
}

fn decode_der<T>(
    r: &mut Reader<'_>,
    from_der: impl FnOnce(&[u8]) -> Result<T, CryptoError>,
    what: &'static str,
) -> Result<T, DecodeError> {
    let der = r.short_bytes()?;
    from_der(der).map_err(|_| DecodeError::Invalid(what))
}

/// Implements the DER, raw, Debug, Hash and `Encode`/`Decode` surface of a public key type
/// whose value is `[u8; N]`-like.
macro_rules! public_key_common {
    ($name:ident, $what:literal, $spki:expr) => {
        impl $name {
            /// Parses the DER `SubjectPublicKeyInfo`, rejecting any other shape.
            pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
                let body = der
                    .strip_prefix(&$spki[..])
                    .ok_or(CryptoError::InvalidDer { what: $what })?;
                Self::from_raw(body).map_err(|e| match e {
                    CryptoError::InvalidKeyLength { .. } => CryptoError::InvalidDer { what: $what },
                    other => other,
                })
            }

            /// The DER `SubjectPublicKeyInfo`.
            pub fn to_der(&self) -> Vec<u8> {
                join_der(&$spki, self.as_raw())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                hex_fmt(f, stringify!($name), self.as_raw())
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_raw() == other.as_raw()
            }
        }
        impl Eq for $name {}

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_raw().hash(state);
            }
        }

        /// The DER in a one-byte-length string.
        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                encode_der(&self.to_der(), out);
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                decode_der(r, Self::from_der, concat!($what, " DER"))
            }
        }
    };
}

/// Implements the PKCS#8 surface and a byte-free Debug of a private key type.
macro_rules! private_key_common {
    ($name:ident, $what:literal, $pkcs8:expr, $len:expr) => {
        impl $name {
            /// Parses the DER PKCS#8 `PrivateKeyInfo`, rejecting any other shape.
            pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
                let raw = Zeroizing::new(strip_der::<{ $len }>(der, &$pkcs8, $what)?);
                Self::from_raw(&raw[..])
            }

            /// The DER PKCS#8 `PrivateKeyInfo`. Holds the secret: zeroize it after use.
            pub fn to_der(&self) -> Zeroizing<Vec<u8>> {
                Zeroizing::new(join_der(&$pkcs8, &self.raw_secret()[..]))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        /// Constant-time comparison of the secret bytes.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                bool::from(self.raw_secret()[..].ct_eq(&other.raw_secret()[..]))
            }
        }
        impl Eq for $name {}
    };
}

// ---------------------------------------------------------------------------------------------
// Ed25519

/// An Ed25519 public key.
///
/// Like the reference, any 32 bytes are accepted: bytes that are not a curve point make a
/// key that verifies nothing (so a bad key surfaces as a failed authorization, as there).
///
/// Only the 32 bytes are kept (a server holds millions of these): the point is decompressed
/// when a signature is verified, as the reference's Ed25519 verification does too.
#[derive(Clone, Copy)]
pub struct PublicKeyEd25519 {
    raw: [u8; ED25519_LEN],
}

impl PublicKeyEd25519 {
    /// From the 32 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        let raw = raw_array::<ED25519_LEN>(raw, "Ed25519 public key")?;
        Ok(PublicKeyEd25519 { raw })
    }

    /// The 32 raw bytes.
    pub fn as_raw(&self) -> &[u8] {
        &self.raw
    }

    /// True when the bytes are a curve point (a key that can verify anything).
    pub fn is_valid_point(&self) -> bool {
        ed25519_dalek::VerifyingKey::from_bytes(&self.raw).is_ok()
    }

    /// Verifies an Ed25519 signature of `msg` (as `ed25519-dalek`'s `verify`, the hash by
    /// OpenSSL: [`Sha512Ossl`]).
    pub fn verify(&self, sig: &[u8; 64], msg: &[u8]) -> bool {
        let Ok(point) = ed25519_dalek::VerifyingKey::from_bytes(&self.raw) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        ed25519_dalek::hazmat::raw_verify::<Sha512Ossl>(&point, msg, &sig).is_ok()
    }
}

/// SHA-512 by OpenSSL, for Ed25519's hashes over the message: a `SEND` carries a 16 KiB
/// block that is hashed twice to sign it and once to verify it, and OpenSSL's AVX2 code
/// hashes 16 KiB in ~23 us here against ~38 us for the `sha2` crate. The same function: the
/// signatures are the same bytes (`ed25519_dalek`'s hazmat signing and verification are
/// its own `sign` and `verify`, the digest a parameter).
#[derive(Clone)]
struct Sha512Ossl(openssl::sha::Sha512);

impl Default for Sha512Ossl {
    fn default() -> Self {
        Sha512Ossl(openssl::sha::Sha512::new())
    }
}

impl digest::HashMarker for Sha512Ossl {}

impl digest::OutputSizeUser for Sha512Ossl {
    type OutputSize = digest::consts::U64;
}

impl digest::Update for Sha512Ossl {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
}

impl digest::FixedOutput for Sha512Ossl {
    fn finalize_into(self, out: &mut digest::Output<Self>) {
        out.copy_from_slice(&self.0.finish());
    }
}
public_key_common!(PublicKeyEd25519, "Ed25519 public key", SPKI_ED25519);

/// An Ed25519 private key (the 32-byte seed). Zeroized on drop.
///
/// The signing key with its public half is made on first use: deriving the public key is a
/// scalar multiplication (~20 us), and an agent that starts loads every stored key of every
/// connection while it signs with only the receive queues' (`SUB`). Boxed, so that a key
/// never used takes 48 bytes instead of the signing key's 224.
///
/// Clones share what was made: a store hands out clones of the key it decoded once, and a
/// clone that made its own on every signature paid that multiplication per `SEND` and per
/// `ACK` (about half of each signature's time in an agent's burst).
#[derive(Clone)]
pub struct PrivateKeyEd25519 {
    seed: Zeroizing<[u8; ED25519_LEN]>,
    key: std::sync::Arc<std::sync::OnceLock<Box<ed25519_dalek::SigningKey>>>,
}

impl PrivateKeyEd25519 {
    /// From the 32-byte seed.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        let seed = Zeroizing::new(raw_array::<ED25519_LEN>(raw, "Ed25519 private key")?);
        Ok(PrivateKeyEd25519 {
            seed,
            key: Default::default(),
        })
    }

    /// A new random key.
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let key = ed25519_dalek::SigningKey::generate(rng);
        PrivateKeyEd25519 {
            seed: Zeroizing::new(key.to_bytes()),
            key: std::sync::Arc::new(std::sync::OnceLock::from(Box::new(key))),
        }
    }

    /// The signing key, made from the seed the first time.
    fn signing_key(&self) -> &ed25519_dalek::SigningKey {
        self.key
            .get_or_init(|| Box::new(ed25519_dalek::SigningKey::from_bytes(&self.seed)))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKeyEd25519 {
        PublicKeyEd25519 {
            raw: self.signing_key().verifying_key().to_bytes(),
        }
    }

    /// Signs `msg` (pure Ed25519, deterministic; the hashes by OpenSSL: [`Sha512Ossl`]).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let public = self.signing_key().verifying_key();
        let expanded = ed25519_dalek::hazmat::ExpandedSecretKey::from(&*self.seed);
        ed25519_dalek::hazmat::raw_sign::<Sha512Ossl>(&expanded, msg, &public).to_bytes()
    }

    fn raw_secret(&self) -> Zeroizing<[u8; ED25519_LEN]> {
        self.seed.clone()
    }
}
private_key_common!(
    PrivateKeyEd25519,
    "Ed25519 private key",
    PKCS8_ED25519,
    ED25519_LEN
);
impl ZeroizeOnDrop for PrivateKeyEd25519 {}

// ---------------------------------------------------------------------------------------------
// X25519

/// An X25519 public key (any 32 bytes, as in the reference).
#[derive(Clone, Copy)]
pub struct PublicKeyX25519(x25519_dalek::PublicKey);

impl PublicKeyX25519 {
    /// From the 32 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        let bytes = raw_array::<X25519_LEN>(raw, "X25519 public key")?;
        Ok(PublicKeyX25519(x25519_dalek::PublicKey::from(bytes)))
    }

    /// The 32 raw bytes.
    pub fn as_raw(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
public_key_common!(PublicKeyX25519, "X25519 public key", SPKI_X25519);

/// An X25519 private key (32 bytes, clamped when used). Zeroized on drop.
#[derive(Clone)]
pub struct PrivateKeyX25519(x25519_dalek::StaticSecret);

impl PrivateKeyX25519 {
    /// From the 32 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(raw_array::<X25519_LEN>(raw, "X25519 private key")?);
        Ok(PrivateKeyX25519(x25519_dalek::StaticSecret::from(*bytes)))
    }

    /// A new random key.
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        PrivateKeyX25519(x25519_dalek::StaticSecret::random_from_rng(rng))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKeyX25519 {
        PublicKeyX25519(x25519_dalek::PublicKey::from(&self.0))
    }

    fn raw_secret(&self) -> Zeroizing<[u8; X25519_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// What tells this key apart from others without revealing it (SHA-256 of the secret
    /// with a label), without the scalar multiplication of [`PrivateKeyX25519::public_key`]:
    /// the key of a cache of values derived from it.
    pub fn key_id(&self) -> [u8; 32] {
        let mut h = openssl::sha::Sha256::new();
        h.update(b"simplex-rs X25519 key id");
        h.update(&self.raw_secret()[..]);
        h.finish()
    }
}
private_key_common!(
    PrivateKeyX25519,
    "X25519 private key",
    PKCS8_X25519,
    X25519_LEN
);
impl ZeroizeOnDrop for PrivateKeyX25519 {}

/// The X25519 shared secret (`DhSecretX25519`). Zeroized on drop; Debug prints no bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DhSecretX25519([u8; 32]);

impl DhSecretX25519 {
    /// Wraps 32 bytes as a shared secret (for secrets computed or stored elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DhSecretX25519(bytes)
    }

    /// The 32 bytes of the secret.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DhSecretX25519 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhSecretX25519(..)")
    }
}

/// Constant-time comparison.
impl PartialEq for DhSecretX25519 {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}
impl Eq for DhSecretX25519 {}

/// X25519 agreement (`dh'`). Like the reference, an all-zero result from a low-order
/// public key is not rejected here.
pub fn dh_x25519(public: &PublicKeyX25519, private: &PrivateKeyX25519) -> DhSecretX25519 {
    DhSecretX25519(private.0.diffie_hellman(&public.0).to_bytes())
}

// ---------------------------------------------------------------------------------------------
// Ed448 and X448 (OpenSSL)

fn ossl_private(raw: &[u8], id: Id, what: &'static str) -> Result<PKey<Private>, CryptoError> {
    PKey::private_key_from_raw_bytes(raw, id).map_err(|_| CryptoError::InvalidKey(what))
}

fn ossl_raw_public<const N: usize>(
    key: &PKey<Private>,
    what: &'static str,
) -> Result<[u8; N], CryptoError> {
    let raw = key
        .raw_public_key()
        .map_err(|_| CryptoError::Library(what))?;
    <[u8; N]>::try_from(raw.as_slice()).map_err(|_| CryptoError::Library(what))
}

/// An Ed448 public key (57 bytes).
#[derive(Clone, Copy)]
pub struct PublicKeyEd448([u8; ED448_LEN]);

impl PublicKeyEd448 {
    /// From the 57 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        raw_array(raw, "Ed448 public key").map(PublicKeyEd448)
    }

    /// The 57 raw bytes.
    pub fn as_raw(&self) -> &[u8] {
        &self.0
    }

    /// Verifies a pure Ed448 signature (empty context) of `msg`.
    pub fn verify(&self, sig: &[u8; 114], msg: &[u8]) -> bool {
        let Ok(key) = PKey::public_key_from_raw_bytes(&self.0, Id::ED448) else {
            return false;
        };
        Verifier::new_without_digest(&key)
            .and_then(|mut v| v.verify_oneshot(sig, msg))
            .unwrap_or(false)
    }
}
public_key_common!(PublicKeyEd448, "Ed448 public key", SPKI_ED448);

/// An Ed448 private key (57 bytes). Zeroized on drop (OpenSSL clears its copy on free).
#[derive(Clone)]
pub struct PrivateKeyEd448 {
    raw: Zeroizing<[u8; ED448_LEN]>,
    key: PKey<Private>,
    public: PublicKeyEd448,
}

impl PrivateKeyEd448 {
    /// From the 57 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        let raw = Zeroizing::new(raw_array::<ED448_LEN>(raw, "Ed448 private key")?);
        let key = ossl_private(&raw[..], Id::ED448, "Ed448 private key")?;
        let public = PublicKeyEd448(ossl_raw_public(&key, "Ed448 public key")?);
        Ok(PrivateKeyEd448 { raw, key, public })
    }

    /// A new random key.
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let mut raw = Zeroizing::new([0u8; ED448_LEN]);
        rng.fill_bytes(&mut raw[..]);
        // Invariant: OpenSSL accepts any 57 bytes as an Ed448 private key.
        Self::from_raw(&raw[..]).expect("any 57 bytes are an Ed448 private key")
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKeyEd448 {
        self.public
    }

    /// Signs `msg` (pure Ed448, empty context, deterministic).
    pub fn sign(&self, msg: &[u8]) -> [u8; 114] {
        let mut sig = [0u8; 114];
        // Invariant: signing with a valid Ed448 key into a 114-byte buffer cannot fail.
        let n = Signer::new_without_digest(&self.key)
            .and_then(|mut s| s.sign_oneshot(&mut sig, msg))
            .expect("Ed448 signing with a valid key");
        debug_assert_eq!(n, 114);
        sig
    }

    fn raw_secret(&self) -> Zeroizing<[u8; ED448_LEN]> {
        self.raw.clone()
    }
}
private_key_common!(PrivateKeyEd448, "Ed448 private key", PKCS8_ED448, ED448_LEN);
impl ZeroizeOnDrop for PrivateKeyEd448 {}

/// An X448 public key (56 bytes).
#[derive(Clone, Copy)]
pub struct PublicKeyX448([u8; X448_LEN]);

impl PublicKeyX448 {
    /// From the 56 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        raw_array(raw, "X448 public key").map(PublicKeyX448)
    }

    /// The 56 raw bytes.
    pub fn as_raw(&self) -> &[u8] {
        &self.0
    }
}
public_key_common!(PublicKeyX448, "X448 public key", SPKI_X448);

/// An X448 private key (56 bytes). Zeroized on drop.
#[derive(Clone)]
pub struct PrivateKeyX448 {
    raw: Zeroizing<[u8; X448_LEN]>,
    key: PKey<Private>,
    public: PublicKeyX448,
}

impl PrivateKeyX448 {
    /// From the 56 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Self, CryptoError> {
        let raw = Zeroizing::new(raw_array::<X448_LEN>(raw, "X448 private key")?);
        let key = ossl_private(&raw[..], Id::X448, "X448 private key")?;
        let public = PublicKeyX448(ossl_raw_public(&key, "X448 public key")?);
        Ok(PrivateKeyX448 { raw, key, public })
    }

    /// A new random key.
    pub fn generate(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        let mut raw = Zeroizing::new([0u8; X448_LEN]);
        rng.fill_bytes(&mut raw[..]);
        // Invariant: OpenSSL accepts any 56 bytes as an X448 private key.
        Self::from_raw(&raw[..]).expect("any 56 bytes are an X448 private key")
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKeyX448 {
        self.public
    }

    fn raw_secret(&self) -> Zeroizing<[u8; X448_LEN]> {
        self.raw.clone()
    }
}
private_key_common!(PrivateKeyX448, "X448 private key", PKCS8_X448, X448_LEN);
impl ZeroizeOnDrop for PrivateKeyX448 {}

/// The X448 shared secret (56 bytes). Zeroized on drop; Debug prints no bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DhSecretX448([u8; X448_LEN]);

impl DhSecretX448 {
    /// The 56 bytes of the secret.
    pub fn as_bytes(&self) -> &[u8; X448_LEN] {
        &self.0
    }
}

impl fmt::Debug for DhSecretX448 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DhSecretX448(..)")
    }
}

/// X448 agreement. Fails when the peer's key is rejected by OpenSSL (for example a
/// low-order point giving an all-zero secret).
pub fn dh_x448(
    public: &PublicKeyX448,
    private: &PrivateKeyX448,
) -> Result<DhSecretX448, CryptoError> {
    let peer: PKey<Public> = PKey::public_key_from_raw_bytes(&public.0, Id::X448)
        .map_err(|_| CryptoError::InvalidKey("X448 public key"))?;
    let mut out = DhSecretX448([0u8; X448_LEN]);
    let n = Deriver::new(&private.key)
        .and_then(|mut d| {
            d.set_peer(&peer)?;
            d.derive(&mut out.0)
        })
        .map_err(|_| CryptoError::InvalidKey("X448 public key"))?;
    if n != X448_LEN {
        return Err(CryptoError::Library("X448 derive"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Algorithm-tagged keys

/// Implements DER and `Encode`/`Decode` for an enum of public keys by trying each variant's
/// exact DER shape.
macro_rules! public_enum {
    ($name:ident, $what:literal, $($variant:ident($ty:ident)),+) => {
        impl $name {
            /// Parses a DER `SubjectPublicKeyInfo`; its algorithm decides the variant.
            pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
                $(
                    if let Ok(k) = $ty::from_der(der) {
                        return Ok($name::$variant(k));
                    }
                )+
                Err(CryptoError::InvalidDer { what: $what })
            }

            /// The DER `SubjectPublicKeyInfo`.
            pub fn to_der(&self) -> Vec<u8> {
                match self {
                    $($name::$variant(k) => k.to_der(),)+
                }
            }

            /// The raw key bytes.
            pub fn as_raw(&self) -> &[u8] {
                match self {
                    $($name::$variant(k) => k.as_raw(),)+
                }
            }
        }

        $(
            impl From<$ty> for $name {
                fn from(k: $ty) -> Self {
                    $name::$variant(k)
                }
            }
        )+

        /// The DER in a one-byte-length string.
        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                encode_der(&self.to_der(), out);
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                decode_der(r, Self::from_der, concat!($what, " DER"))
            }
        }
    };
}

/// Implements PKCS#8 DER and `public_key` for an enum of private keys.
macro_rules! private_enum {
    ($name:ident, $public:ident, $what:literal, $($variant:ident($ty:ident)),+) => {
        impl $name {
            /// Parses a DER PKCS#8 `PrivateKeyInfo`; its algorithm decides the variant.
            pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
                $(
                    if let Ok(k) = $ty::from_der(der) {
                        return Ok($name::$variant(k));
                    }
                )+
                Err(CryptoError::InvalidDer { what: $what })
            }

            /// The DER PKCS#8 `PrivateKeyInfo`.
            pub fn to_der(&self) -> Zeroizing<Vec<u8>> {
                match self {
                    $($name::$variant(k) => k.to_der(),)+
                }
            }

            /// The matching public key.
            pub fn public_key(&self) -> $public {
                match self {
                    $($name::$variant(k) => $public::$variant(k.public_key()),)+
                }
            }
        }

        $(
            impl From<$ty> for $name {
                fn from(k: $ty) -> Self {
                    $name::$variant(k)
                }
            }
        )+
    };
}

/// A key that authorizes commands (`APublicAuthKey`: recipient, sender and notifier keys).
/// Ed25519/Ed448 keys sign; an X25519 key authorizes with a crypto_box authenticator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublicAuthKey {
    /// Ed25519 signature key.
    Ed25519(PublicKeyEd25519),
    /// Ed448 signature key.
    Ed448(PublicKeyEd448),
    /// X25519 key for `cbAuthenticate`.
    X25519(PublicKeyX25519),
}
public_enum!(
    PublicAuthKey,
    "auth public key",
    Ed25519(PublicKeyEd25519),
    Ed448(PublicKeyEd448),
    X25519(PublicKeyX25519)
);

/// The private half of a [`PublicAuthKey`] (`APrivateAuthKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivateAuthKey {
    /// Ed25519 signature key.
    Ed25519(PrivateKeyEd25519),
    /// Ed448 signature key.
    Ed448(PrivateKeyEd448),
    /// X25519 key for `cbAuthenticate`.
    X25519(PrivateKeyX25519),
}
private_enum!(
    PrivateAuthKey,
    PublicAuthKey,
    "auth private key",
    Ed25519(PrivateKeyEd25519),
    Ed448(PrivateKeyEd448),
    X25519(PrivateKeyX25519)
);

/// A signature verification key (`APublicVerifyKey`): certificates, handshake, Ed auth keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublicSignKey {
    /// Ed25519.
    Ed25519(PublicKeyEd25519),
    /// Ed448.
    Ed448(PublicKeyEd448),
}
public_enum!(
    PublicSignKey,
    "signature public key",
    Ed25519(PublicKeyEd25519),
    Ed448(PublicKeyEd448)
);

/// A signing key (`APrivateSignKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivateSignKey {
    /// Ed25519.
    Ed25519(PrivateKeyEd25519),
    /// Ed448.
    Ed448(PrivateKeyEd448),
}
private_enum!(
    PrivateSignKey,
    PublicSignKey,
    "signature private key",
    Ed25519(PrivateKeyEd25519),
    Ed448(PrivateKeyEd448)
);

/// A key-agreement public key (`APublicDhKey`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PublicDhKey {
    /// X25519.
    X25519(PublicKeyX25519),
    /// X448.
    X448(PublicKeyX448),
}
public_enum!(
    PublicDhKey,
    "DH public key",
    X25519(PublicKeyX25519),
    X448(PublicKeyX448)
);

/// A key-agreement private key (`APrivateDhKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivateDhKey {
    /// X25519.
    X25519(PrivateKeyX25519),
    /// X448.
    X448(PrivateKeyX448),
}
private_enum!(
    PrivateDhKey,
    PublicDhKey,
    "DH private key",
    X25519(PrivateKeyX25519),
    X448(PrivateKeyX448)
);

impl PublicAuthKey {
    /// The signature key inside, if this is an Ed25519 or Ed448 key.
    pub fn as_sign_key(&self) -> Option<PublicSignKey> {
        match self {
            PublicAuthKey::Ed25519(k) => Some(PublicSignKey::Ed25519(*k)),
            PublicAuthKey::Ed448(k) => Some(PublicSignKey::Ed448(*k)),
            PublicAuthKey::X25519(_) => None,
        }
    }
}

impl PrivateAuthKey {
    /// The signing key inside, if this is an Ed25519 or Ed448 key.
    pub fn as_sign_key(&self) -> Option<PrivateSignKey> {
        match self {
            PrivateAuthKey::Ed25519(k) => Some(PrivateSignKey::Ed25519(k.clone())),
            PrivateAuthKey::Ed448(k) => Some(PrivateSignKey::Ed448(k.clone())),
            PrivateAuthKey::X25519(_) => None,
        }
    }
}

impl From<PublicSignKey> for PublicAuthKey {
    fn from(k: PublicSignKey) -> Self {
        match k {
            PublicSignKey::Ed25519(k) => PublicAuthKey::Ed25519(k),
            PublicSignKey::Ed448(k) => PublicAuthKey::Ed448(k),
        }
    }
}

impl From<PrivateSignKey> for PrivateAuthKey {
    fn from(k: PrivateSignKey) -> Self {
        match k {
            PrivateSignKey::Ed25519(k) => PrivateAuthKey::Ed25519(k),
            PrivateSignKey::Ed448(k) => PrivateAuthKey::Ed448(k),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// A raw signature (`ASignature`); on the wire a one-byte-length string of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signature {
    /// 64-byte Ed25519 signature.
    Ed25519([u8; 64]),
    /// 114-byte Ed448 signature.
    Ed448([u8; 114]),
}

impl Signature {
    /// From raw bytes; the length (64 or 114) decides the algorithm.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(s) = <[u8; 64]>::try_from(bytes) {
            Ok(Signature::Ed25519(s))
        } else if let Ok(s) = <[u8; 114]>::try_from(bytes) {
            Ok(Signature::Ed448(s))
        } else {
            Err(CryptoError::InvalidSignatureLength(bytes.len()))
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Signature::Ed25519(s) => s,
            Signature::Ed448(s) => s,
        }
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex_fmt(f, "Signature", self.as_bytes())
    }
}

impl Encode for Signature {
    fn encode(&self, out: &mut Vec<u8>) {
        // Invariant: signatures are at most 114 bytes.
        ShortBytes::encode_slice(self.as_bytes(), out).expect("signature shorter than 256 bytes");
    }
}

impl Decode for Signature {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.short_bytes()?;
        Signature::from_bytes(bytes).map_err(|_| DecodeError::Invalid("signature length"))
    }
}

/// Signs `msg` with Ed25519 or Ed448 (deterministic).
pub fn sign(key: &PrivateSignKey, msg: &[u8]) -> Signature {
    match key {
        PrivateSignKey::Ed25519(k) => Signature::Ed25519(k.sign(msg)),
        PrivateSignKey::Ed448(k) => Signature::Ed448(k.sign(msg)),
    }
}

/// Verifies `sig` over `msg`; false when the signature's algorithm is not the key's.
pub fn verify(key: &PublicSignKey, sig: &Signature, msg: &[u8]) -> bool {
    match (key, sig) {
        (PublicSignKey::Ed25519(k), Signature::Ed25519(s)) => k.verify(s, msg),
        (PublicSignKey::Ed448(k), Signature::Ed448(s)) => k.verify(s, msg),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
