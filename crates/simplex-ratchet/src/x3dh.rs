//! The X3DH parameter records and the PQ-augmented key agreement (`E2ERatchetParams`,
//! `E2ERatchetParamsUri`, `RKEMParams`, `PrivRKEMParams`, `generateRcvE2EParams`,
//! `generateSndE2EParams`, `pqX3dhSnd`, `pqX3dhRcv` in `Crypto/Ratchet.hs`).
//!
//! The party that creates the connection ("receiving" side, Bob in the double-ratchet spec)
//! publishes two DH keys and, with PQ support, a KEM key ([`generate_rcv_e2e_params`]). The
//! party that joins ("sending" side, Alice) replies with its own two keys and either accepts
//! the KEM (encapsulating to the published key) or proposes one ([`generate_snd_e2e_params`]).
//! Each side then runs its half of the agreement ([`pq_x3dh_snd`], [`pq_x3dh_rcv`]):
//!
//! - `dh1 = DH(rcv.key1, snd.key2)`, `dh2 = DH(rcv.key2, snd.key1)`, `dh3 = DH(rcv.key2, snd.key2)`;
//! - `(hk, nhk, sk) = HKDF-SHA512(salt = 64 zero bytes, dh1 ‖ dh2 ‖ dh3 [‖ kem_ss], "SimpleXX3DH")`;
//! - the associated data is `raw(snd.key1) ‖ raw(rcv.key1)`.

use rand_core::{CryptoRng, RngCore};
use simplex_encoding::string::{base64url_decode, base64url_encode};
use simplex_encoding::{Decode, DecodeError, Encode, Reader};

use crate::dh::DhAlgorithm;
use crate::kem::{KemCiphertext, KemKeyPair, KemPublicKey, KemSharedKey};
use crate::keys::{x3dh_kdf, HeaderKey, Key32};
use crate::source::{InlineKeys, RatchetKeySource};
use crate::version::{PqSupport, VersionE2E, VersionRangeE2E, PQ_RATCHET_E2E_VERSION};
use crate::RatchetError;

/// The public KEM parameters of an X3DH record or a message header (`RKEMParams`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RKemParams {
    /// Only an encapsulation key: KEM proposed (`RKParamsProposed`, tag `P`).
    Proposed(KemPublicKey),
    /// A ciphertext for the peer's key and this side's next encapsulation key: KEM accepted
    /// (`RKParamsAccepted`, tag `A`).
    Accepted(KemCiphertext, KemPublicKey),
}

impl Encode for RKemParams {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RKemParams::Proposed(k) => {
                out.push(b'P');
                k.encode(out);
            }
            RKemParams::Accepted(ct, k) => {
                out.push(b'A');
                ct.encode(out);
                k.encode(out);
            }
        }
    }
}

impl Decode for RKemParams {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'P' => Ok(RKemParams::Proposed(r.read()?)),
            b'A' => Ok(RKemParams::Accepted(r.read()?, r.read()?)),
            _ => Err(DecodeError::InvalidTag {
                what: "ratchet KEM params",
            }),
        }
    }
}

/// The X3DH parameters sent in a confirmation or a ratchet-resync message
/// (`E2ERatchetParams`): the agreed version, two DH public keys and the optional KEM
/// parameters (carried from version 3 on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2ERatchetParams<A: DhAlgorithm> {
    /// The E2E version.
    pub version: VersionE2E,
    /// The first DH key (also in the associated data).
    pub key1: A::Public,
    /// The second DH key (the receiving side's is its initial ratchet key).
    pub key2: A::Public,
    /// KEM parameters; written only from version 3.
    pub kem: Option<RKemParams>,
}

impl<A: DhAlgorithm> Encode for E2ERatchetParams<A> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.key1.encode(out);
        self.key2.encode(out);
        if self.version >= PQ_RATCHET_E2E_VERSION {
            self.kem.encode(out);
        }
    }
}

impl<A: DhAlgorithm> Decode for E2ERatchetParams<A> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u16()?;
        let key1 = r.read()?;
        let key2 = r.read()?;
        let kem = if version >= PQ_RATCHET_E2E_VERSION {
            r.read()?
        } else {
            None
        };
        Ok(E2ERatchetParams {
            version,
            key1,
            key2,
            kem,
        })
    }
}

/// The X3DH parameters in an invitation link (`E2ERatchetParamsUri`): a version range instead
/// of one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2ERatchetParamsUri<A: DhAlgorithm> {
    /// The supported E2E versions.
    pub versions: VersionRangeE2E,
    /// The first DH key.
    pub key1: A::Public,
    /// The second DH key.
    pub key2: A::Public,
    /// KEM parameters.
    pub kem: Option<RKemParams>,
}

impl<A: DhAlgorithm> E2ERatchetParamsUri<A> {
    /// The parameters at one version (`toVersionT`).
    pub fn at_version(&self, version: VersionE2E) -> E2ERatchetParams<A> {
        E2ERatchetParams {
            version,
            key1: self.key1.clone(),
            key2: self.key2.clone(),
            kem: self.kem.clone(),
        }
    }

    /// The query-string form used in links: `v=2-3&x3dh=<key1>,<key2>` then, when the range
    /// reaches version 3, `&kem_key=<key>` or `&kem_ct=<ct>&kem_key=<key>` (keys as base64url
    /// of their DER, KEM values as base64url of their bytes).
    pub fn to_str_encoding(&self) -> String {
        let der = |k: &A::Public| {
            let mut enc = Vec::new();
            k.encode(&mut enc);
            // The binary encoding is the DER behind a one-byte length.
            base64url_encode(enc.get(1..).unwrap_or_default())
        };
        let mut s = format!(
            "v={}&x3dh={},{}",
            self.versions.to_str_encoding(),
            der(&self.key1),
            der(&self.key2)
        );
        if self.versions.max() >= PQ_RATCHET_E2E_VERSION {
            match &self.kem {
                Some(RKemParams::Proposed(k)) => {
                    s.push_str("&kem_key=");
                    s.push_str(&base64url_encode(k.as_bytes()));
                }
                Some(RKemParams::Accepted(ct, k)) => {
                    s.push_str("&kem_ct=");
                    s.push_str(&base64url_encode(ct.as_bytes()));
                    s.push_str("&kem_key=");
                    s.push_str(&base64url_encode(k.as_bytes()));
                }
                None => {}
            }
        }
        s
    }

    /// Parses the query-string form (parameters in any order; unknown ones ignored).
    pub fn from_str_encoding(s: &str) -> Result<Self, DecodeError> {
        let mut v = None;
        let mut x3dh = None;
        let mut kem_key = None;
        let mut kem_ct = None;
        for pair in s.split('&') {
            let (name, value) = pair
                .split_once('=')
                .ok_or(DecodeError::Invalid("e2e query parameter"))?;
            match name {
                "v" => v = Some(value),
                "x3dh" => x3dh = Some(value),
                "kem_key" => kem_key = Some(value),
                "kem_ct" => kem_ct = Some(value),
                _ => {}
            }
        }
        let versions = VersionRangeE2E::from_str_encoding(v.ok_or(DecodeError::Invalid("e2e v"))?)
            .ok_or(DecodeError::Invalid("e2e version range"))?;
        let (k1, k2) = x3dh
            .and_then(|x| x.split_once(','))
            .ok_or(DecodeError::Invalid("e2e x3dh keys"))?;
        let key = |t: &str| -> Result<A::Public, DecodeError> {
            let der = base64url_decode(t.as_bytes()).map_err(|_| DecodeError::Invalid("base64"))?;
            let mut enc = Vec::with_capacity(der.len() + 1);
            enc.push(u8::try_from(der.len()).map_err(|_| DecodeError::Invalid("key length"))?);
            enc.extend_from_slice(&der);
            simplex_encoding::decode_all(&enc)
        };
        let (key1, key2) = (key(k1)?, key(k2)?);
        let kem = if versions.max() >= PQ_RATCHET_E2E_VERSION {
            let bytes = |t: &str| {
                base64url_decode(t.as_bytes()).map_err(|_| DecodeError::Invalid("base64"))
            };
            match kem_key {
                None => None,
                Some(k) => {
                    let k = KemPublicKey::from_bytes(&bytes(k)?)
                        .ok_or(DecodeError::Invalid("KEM public key"))?;
                    match kem_ct {
                        None => Some(RKemParams::Proposed(k)),
                        Some(ct) => Some(RKemParams::Accepted(
                            KemCiphertext::from_bytes(&bytes(ct)?)
                                .ok_or(DecodeError::Invalid("KEM ciphertext"))?,
                            k,
                        )),
                    }
                }
            }
        } else {
            None
        };
        Ok(E2ERatchetParamsUri {
            versions,
            key1,
            key2,
            kem,
        })
    }
}

/// `(versions, key1, key2, Maybe kem)`.
impl<A: DhAlgorithm> Encode for E2ERatchetParamsUri<A> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.versions.encode(out);
        self.key1.encode(out);
        self.key2.encode(out);
        self.kem.encode(out);
    }
}

impl<A: DhAlgorithm> Decode for E2ERatchetParamsUri<A> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(E2ERatchetParamsUri {
            versions: r.read()?,
            key1: r.read()?,
            key2: r.read()?,
            kem: r.read()?,
        })
    }
}

/// The private KEM parameters kept until the agreement completes (`PrivRKEMParams`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivRKemParams {
    /// A KEM was proposed: the key pair whose public key was sent (tag `P`).
    Proposed(KemKeyPair),
    /// A KEM was accepted: the ciphertext sent, the shared key in it, and this side's new key
    /// pair (tag `A`).
    Accepted(KemCiphertext, KemSharedKey, KemKeyPair),
}

impl Encode for PrivRKemParams {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            PrivRKemParams::Proposed(kp) => {
                out.push(b'P');
                kp.encode(out);
            }
            PrivRKemParams::Accepted(ct, ss, kp) => {
                out.push(b'A');
                ct.encode(out);
                ss.encode(out);
                kp.encode(out);
            }
        }
    }
}

impl Decode for PrivRKemParams {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'P' => Ok(PrivRKemParams::Proposed(r.read()?)),
            b'A' => Ok(PrivRKemParams::Accepted(r.read()?, r.read()?, r.read()?)),
            _ => Err(DecodeError::InvalidTag {
                what: "private ratchet KEM params",
            }),
        }
    }
}

/// What the joining side does about the KEM (`UseKEM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UseKem {
    /// Propose a KEM (send an encapsulation key).
    Propose,
    /// Accept the peer's proposal: encapsulate to its key.
    Accept(KemPublicKey),
}

/// The joining side's KEM choice given the peer's proposal and this side's support
/// (`replyKEM_`): accept a proposal, else propose, and nothing below version 3 or without
/// support.
pub fn reply_kem(
    version: VersionE2E,
    proposal: Option<&RKemParams>,
    support: PqSupport,
) -> Option<UseKem> {
    if !support.0 || version < PQ_RATCHET_E2E_VERSION {
        return None;
    }
    Some(match proposal {
        Some(RKemParams::Proposed(k)) => UseKem::Accept(k.clone()),
        _ => UseKem::Propose,
    })
}

/// The two private DH keys of one side of X3DH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X3dhPrivateKeys<A: DhAlgorithm> {
    /// The first private key.
    pub key1: A::Private,
    /// The second private key.
    pub key2: A::Private,
}

/// The output of one side's X3DH (`RatchetInitParams`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatchetInitParams {
    /// The associated data of every ratchet message.
    pub assoc_data: Vec<u8>,
    /// The shared root key.
    pub ratchet_key: Key32,
    /// The joining side's first sending header key.
    pub snd_hk: HeaderKey,
    /// The creating side's first sending (the joining side's next receiving) header key.
    pub rcv_next_hk: HeaderKey,
    /// The KEM agreement, when the KEM was proposed and accepted.
    pub kem_accepted: Option<KemAccepted>,
}

/// An accepted KEM agreement (`RatchetKEMAccepted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KemAccepted {
    /// The peer's encapsulation key received (`rcPQRr`).
    pub peer_key: KemPublicKey,
    /// The shared key (`rcPQRss`).
    pub shared: KemSharedKey,
    /// The ciphertext of the shared key to the peer's earlier key (`rcPQRct`).
    pub ciphertext: KemCiphertext,
}

impl Encode for KemAccepted {
    fn encode(&self, out: &mut Vec<u8>) {
        self.peer_key.encode(out);
        self.shared.encode(out);
        self.ciphertext.encode(out);
    }
}

impl Decode for KemAccepted {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(KemAccepted {
            peer_key: r.read()?,
            shared: r.read()?,
            ciphertext: r.read()?,
        })
    }
}

fn generate_e2e_params<A: DhAlgorithm>(
    rng: &mut (impl CryptoRng + RngCore),
    source: &dyn RatchetKeySource,
    version: VersionE2E,
    use_kem: Option<&UseKem>,
) -> (
    X3dhPrivateKeys<A>,
    Option<PrivRKemParams>,
    E2ERatchetParams<A>,
) {
    let key1 = A::take_or_generate(source, rng);
    let key2 = A::take_or_generate(source, rng);
    let (kem, priv_kem) = match use_kem {
        Some(use_kem) if version >= PQ_RATCHET_E2E_VERSION => {
            let kp = source.take_or_generate(rng);
            match use_kem {
                UseKem::Propose => (
                    Some(RKemParams::Proposed(kp.public.clone())),
                    Some(PrivRKemParams::Proposed(kp)),
                ),
                UseKem::Accept(peer) => {
                    let (ct, ss) = peer.encapsulate(rng);
                    (
                        Some(RKemParams::Accepted(ct.clone(), kp.public.clone())),
                        Some(PrivRKemParams::Accepted(ct, ss, kp)),
                    )
                }
            }
        }
        _ => (None, None),
    };
    let params = E2ERatchetParams {
        version,
        key1: A::public_key(&key1),
        key2: A::public_key(&key2),
        kem,
    };
    (X3dhPrivateKeys { key1, key2 }, priv_kem, params)
}

/// The creating side's parameters (`generateRcvE2EParams`): with PQ support (from version 3)
/// a KEM is proposed and its key pair returned.
pub fn generate_rcv_e2e_params<A: DhAlgorithm>(
    rng: &mut (impl CryptoRng + RngCore),
    version: VersionE2E,
    support: PqSupport,
) -> (X3dhPrivateKeys<A>, Option<KemKeyPair>, E2ERatchetParams<A>) {
    generate_rcv_e2e_params_with(rng, &InlineKeys, version, support)
}

/// [`generate_rcv_e2e_params`] taking the X448 keys and the KEM key pair from `source`
/// when it has them.
pub fn generate_rcv_e2e_params_with<A: DhAlgorithm>(
    rng: &mut (impl CryptoRng + RngCore),
    source: &dyn RatchetKeySource,
    version: VersionE2E,
    support: PqSupport,
) -> (X3dhPrivateKeys<A>, Option<KemKeyPair>, E2ERatchetParams<A>) {
    let use_kem = support.0.then_some(UseKem::Propose);
    let (keys, priv_kem, params) = generate_e2e_params(rng, source, version, use_kem.as_ref());
    let kp = match priv_kem {
        Some(PrivRKemParams::Proposed(kp)) => Some(kp),
        _ => None,
    };
    (keys, kp, params)
}

/// The joining side's parameters (`generateSndE2EParams`).
pub fn generate_snd_e2e_params<A: DhAlgorithm>(
    rng: &mut (impl CryptoRng + RngCore),
    version: VersionE2E,
    use_kem: Option<&UseKem>,
) -> (
    X3dhPrivateKeys<A>,
    Option<PrivRKemParams>,
    E2ERatchetParams<A>,
) {
    generate_e2e_params(rng, &InlineKeys, version, use_kem)
}

/// [`generate_snd_e2e_params`] taking the X448 keys and the KEM key pair from `source`
/// when it has them.
pub fn generate_snd_e2e_params_with<A: DhAlgorithm>(
    rng: &mut (impl CryptoRng + RngCore),
    source: &dyn RatchetKeySource,
    version: VersionE2E,
    use_kem: Option<&UseKem>,
) -> (
    X3dhPrivateKeys<A>,
    Option<PrivRKemParams>,
    E2ERatchetParams<A>,
) {
    generate_e2e_params(rng, source, version, use_kem)
}

fn pq_x3dh<A: DhAlgorithm>(
    snd_key1: &A::Public,
    rcv_key1: &A::Public,
    dhs: [&[u8]; 3],
    kem_accepted: Option<KemAccepted>,
) -> Result<RatchetInitParams, RatchetError> {
    let mut assoc_data = A::public_raw(snd_key1).to_vec();
    assoc_data.extend_from_slice(A::public_raw(rcv_key1));
    let mut ikm = zeroize::Zeroizing::new(Vec::with_capacity(3 * 56 + 32));
    for dh in dhs {
        ikm.extend_from_slice(dh);
    }
    if let Some(k) = &kem_accepted {
        ikm.extend_from_slice(k.shared.as_bytes());
    }
    let (hk, nhk, sk) = x3dh_kdf(&ikm)?;
    Ok(RatchetInitParams {
        assoc_data,
        ratchet_key: sk,
        snd_hk: hk,
        rcv_next_hk: nhk,
        kem_accepted,
    })
}

/// The joining side's X3DH (`pqX3dhSnd`), with its private keys and KEM parameters and the
/// creating side's published parameters. Returns the init parameters and the KEM key pair for
/// the ratchet, if any.
///
/// The published parameters must not carry an accepted KEM; a private "accepted" state needs
/// a published proposal ([`RatchetError::KemState`] otherwise).
pub fn pq_x3dh_snd<A: DhAlgorithm>(
    keys: &X3dhPrivateKeys<A>,
    kem: Option<&PrivRKemParams>,
    rcv_params: &E2ERatchetParams<A>,
) -> Result<(RatchetInitParams, Option<KemKeyPair>), RatchetError> {
    let E2ERatchetParams {
        version,
        key1: rk1,
        key2: rk2,
        kem: rcv_kem,
    } = rcv_params;
    if matches!(rcv_kem, Some(RKemParams::Accepted(..))) {
        return Err(RatchetError::KemState);
    }
    let (kp, accepted) = match kem {
        Some(p) if *version >= PQ_RATCHET_E2E_VERSION => match (p, rcv_kem) {
            (PrivRKemParams::Accepted(ct, ss, kp), Some(RKemParams::Proposed(k))) => (
                Some(kp.clone()),
                Some(KemAccepted {
                    peer_key: k.clone(),
                    shared: ss.clone(),
                    ciphertext: ct.clone(),
                }),
            ),
            // Both sides may propose (for example when a ratchet is renegotiated).
            (PrivRKemParams::Proposed(kp), _) => (Some(kp.clone()), None),
            _ => return Err(RatchetError::KemState),
        },
        _ => (None, None),
    };
    let dh1 = A::dh(rk1, &keys.key2)?;
    let dh2 = A::dh(rk2, &keys.key1)?;
    let dh3 = A::dh(rk2, &keys.key2)?;
    let snd_key1 = A::public_key(&keys.key1);
    let init = pq_x3dh::<A>(&snd_key1, rk1, [&dh1, &dh2, &dh3], accepted)?;
    Ok((init, kp))
}

/// The creating side's X3DH (`pqX3dhRcv`), with its private keys and proposed KEM key pair
/// and the joining side's reply. When the reply accepted the KEM the shared key is
/// decapsulated and the key pair is returned for the ratchet.
pub fn pq_x3dh_rcv<A: DhAlgorithm>(
    keys: &X3dhPrivateKeys<A>,
    kem: Option<&KemKeyPair>,
    snd_params: &E2ERatchetParams<A>,
) -> Result<(RatchetInitParams, Option<KemKeyPair>), RatchetError> {
    let E2ERatchetParams {
        version,
        key1: sk1,
        key2: sk2,
        kem: snd_kem,
    } = snd_params;
    let accepted = match snd_kem {
        Some(RKemParams::Accepted(ct, k)) if *version >= PQ_RATCHET_E2E_VERSION => match kem {
            Some(kp) => {
                let shared = kp.secret.decapsulate(ct);
                Some((
                    kp.clone(),
                    KemAccepted {
                        peer_key: k.clone(),
                        shared,
                        ciphertext: ct.clone(),
                    },
                ))
            }
            None => return Err(RatchetError::KemState),
        },
        // A proposal in the reply is not an agreement yet.
        _ => None,
    };
    let dh1 = A::dh(sk2, &keys.key1)?;
    let dh2 = A::dh(sk1, &keys.key2)?;
    let dh3 = A::dh(sk2, &keys.key2)?;
    let rcv_key1 = A::public_key(&keys.key1);
    let (kp, accepted) = match accepted {
        Some((kp, a)) => (Some(kp), Some(a)),
        None => (None, None),
    };
    let init = pq_x3dh::<A>(sk1, &rcv_key1, [&dh1, &dh2, &dh3], accepted)?;
    Ok((init, kp))
}
