//! The double ratchet with header encryption, augmented with sntrup761 (`Ratchet`,
//! `initSndRatchet`, `initRcvRatchet`, `rcEncryptHeader`, `rcEncryptMsg`, `rcDecrypt` in
//! `Crypto/Ratchet.hs`; the algorithm is `protocol/pqdr.md`).
//!
//! Wire formats (the current version `v` of the sending ratchet decides them):
//!
//! - header `MsgHeader`: `maxVersion(u16) ‖ dh(DER, 1-byte length) ‖ [v ≥ 3: Maybe
//!   RKemParams] ‖ pn(u32) ‖ ns(u32)`, padded to 88 bytes, or 2310 bytes when the ratchet
//!   supports PQ at `v ≥ 3`, and AES-256-GCM encrypted with the header key, the chain's header
//!   IV and the associated data;
//! - `EncMessageHeader`: `v(u16) ‖ iv(16) ‖ tag(16) ‖ body`, the body with a two-byte length
//!   at `v ≥ 3` and a one-byte length before;
//! - `EncRatchetMessage`: `header ‖ tag(16) ‖ body(rest)`, the header length again two bytes
//!   at `v ≥ 3`. Parsers tell the two apart by the first length byte (below 32 means two
//!   bytes). The body is AES-256-GCM with the message key and AD = associated data ‖ the
//!   encoded `EncMessageHeader`.
//!
//! Decryption is pure: [`Ratchet::decrypt`] borrows the state and the skipped keys and, on
//! success only, returns the next state with a [`SkippedDiff`] to apply.

use std::collections::BTreeMap;

use rand_core::{CryptoRng, RngCore};
use simplex_crypto::{decrypt_aead, encrypt_aead, AesKey, AUTH_TAG_LEN};
use simplex_encoding::{Decode, DecodeError, Encode, Large, Reader, ShortBytes};
use zeroize::Zeroizing;

use crate::dh::DhAlgorithm;
use crate::kem::{KemKeyPair, KemSharedKey};
use crate::keys::{chain_kdf, root_kdf, HeaderKey, Key32, MessageKey};
use crate::source::{InlineKeys, RatchetKeySource};
use crate::version::{
    pq_enable_support, PqEncryption, PqSupport, RatchetVersions, VersionE2E, PQ_RATCHET_E2E_VERSION,
};
use crate::x3dh::{KemAccepted, RKemParams, RatchetInitParams};

use crate::RatchetError;

mod state_codec;
pub use state_codec::RATCHET_STATE_FORMAT;

/// The most message keys one message may make the receiver skip (`maxSkip`).
pub const MAX_SKIP: u32 = 512;

/// The padded header length (`paddedHeaderLen`): 2310 with PQ support from version 3, else 88.
pub fn padded_header_len(v: VersionE2E, support: PqSupport) -> usize {
    if support.0 && v >= PQ_RATCHET_E2E_VERSION {
        2310
    } else {
        88
    }
}

/// The length of an encoded `EncMessageHeader` with its own length prefix inside the message
/// (`fullHeaderLen` plus the extra length byte of version 3).
pub fn full_header_len(v: VersionE2E, support: PqSupport) -> usize {
    let len_bytes = if v >= PQ_RATCHET_E2E_VERSION {
        2 + 2
    } else {
        1 + 1
    };
    len_bytes + 2 + 16 + AUTH_TAG_LEN + padded_header_len(v, support)
}

/// The total length of a ratchet message whose body is padded to `padded_msg_len`.
pub fn full_message_len(v: VersionE2E, support: PqSupport, padded_msg_len: usize) -> usize {
    full_header_len(v, support) + AUTH_TAG_LEN + padded_msg_len
}

/// The largest message `pad` accepts (`maxMsgLen`).
const MAX_MSG_LEN: usize = 65533;

/// True when a message of `msg_len` bytes can be padded to `padded_len` (`canPad`).
pub fn can_pad(msg_len: usize, padded_len: usize) -> bool {
    msg_len <= MAX_MSG_LEN && msg_len + 2 <= padded_len
}

/// The skipped message keys, per header key and message number (`SkippedMsgKeys`).
pub type SkippedKeys = BTreeMap<HeaderKey, BTreeMap<u32, MessageKey>>;

/// How a successful decryption changed the skipped keys (`SkippedMsgDiff`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkippedDiff {
    /// No change.
    NoChange,
    /// The key of this message was used: remove it.
    Remove(HeaderKey, u32),
    /// Keys of skipped messages to add.
    Add(SkippedKeys),
}

impl SkippedDiff {
    /// Applies the diff to a set of skipped keys (`applySMDiff`).
    pub fn apply(&self, keys: &mut SkippedKeys) {
        match self {
            SkippedDiff::NoChange => {}
            SkippedDiff::Remove(hk, n) => {
                if let Some(mks) = keys.get_mut(hk) {
                    mks.remove(n);
                    if mks.is_empty() {
                        keys.remove(hk);
                    }
                }
            }
            SkippedDiff::Add(add) => {
                for (hk, mks) in add {
                    let entry = keys.entry(hk.clone()).or_default();
                    for (n, mk) in mks {
                        entry.entry(*n).or_insert_with(|| mk.clone());
                    }
                }
            }
        }
    }
}

/// Encodes skipped keys for storage: a `u32` count of entries, then each entry as header key,
/// message number, message key.
pub fn encode_skipped_keys(keys: &SkippedKeys, out: &mut Vec<u8>) {
    let count: usize = keys.values().map(BTreeMap::len).sum();
    // The count cannot exceed u32 in practice: each message adds at most MAX_SKIP keys.
    u32::try_from(count).unwrap_or(u32::MAX).encode(out);
    for (hk, mks) in keys {
        for (n, mk) in mks {
            hk.encode(out);
            n.encode(out);
            mk.encode(out);
        }
    }
}

/// Decodes what [`encode_skipped_keys`] wrote.
pub fn decode_skipped_keys(r: &mut Reader<'_>) -> Result<SkippedKeys, DecodeError> {
    let count = r.u32()?;
    let mut keys = SkippedKeys::new();
    for _ in 0..count {
        let hk: HeaderKey = r.read()?;
        let n = r.u32()?;
        let mk: MessageKey = r.read()?;
        keys.entry(hk).or_default().insert(n, mk);
    }
    Ok(keys)
}

/// The ratchet's KEM state (`RatchetKEM`): this side's key pair and, once the peer's key is
/// known, the agreement whose ciphertext goes into headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatchetKem {
    /// This side's current KEM key pair (`rcPQRs`).
    pub pq_rs: KemKeyPair,
    /// The agreement with the peer's last key (`rcKEMs`).
    pub accepted: Option<KemAccepted>,
}

impl RatchetKem {
    fn header_params(&self) -> RKemParams {
        match &self.accepted {
            None => RKemParams::Proposed(self.pq_rs.public.clone()),
            Some(a) => RKemParams::Accepted(a.ciphertext.clone(), self.pq_rs.public.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SndRatchet<A: DhAlgorithm> {
    dh_rr: A::Public,
    ck: Key32,
    hk: HeaderKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RcvRatchet {
    ck: Key32,
    hk: HeaderKey,
}

/// The state of one side of a double ratchet (`Ratchet`).
///
/// Cloned and replaced, never changed in place: every operation that advances it returns the
/// next state. Secrets are zeroized on drop; Debug prints no key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ratchet<A: DhAlgorithm> {
    version: RatchetVersions,
    ad: Vec<u8>,
    dh_rs: A::Private,
    kem: Option<RatchetKem>,
    support_kem: PqSupport,
    enable_kem: PqEncryption,
    snd_kem: PqEncryption,
    rcv_kem: PqEncryption,
    rk: Key32,
    snd: Option<SndRatchet<A>>,
    rcv: Option<RcvRatchet>,
    ns: u32,
    nr: u32,
    pn: u32,
    nhks: HeaderKey,
    nhkr: HeaderKey,
    /// The sending half of the last ratchet step, when not yet taken (see
    /// [`Ratchet::complete_step`]): then `rk` is the root key between the step's two
    /// agreements, and `snd`'s chain key and `nhks` are not yet known (zero).
    pending: Option<PendingStep>,
}

/// What the sending half of a ratchet step needs besides the state: the KEM shared secret
/// of the step's sending chain (PQ), if any. Its agreement is between this side's new key
/// (`dh_rs`) and the peer's (`snd.dh_rr`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingStep {
    kem: Option<KemSharedKey>,
}

/// The message header (`MsgHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgHeader<A: DhAlgorithm> {
    /// The sender's highest supported version.
    pub max_version: VersionE2E,
    /// The sender's current ratchet public key.
    pub dh: A::Public,
    /// KEM parameters (encoded from version 3).
    pub kem: Option<RKemParams>,
    /// Messages in the sender's previous sending chain.
    pub pn: u32,
    /// This message's number in the sending chain.
    pub ns: u32,
}

impl<A: DhAlgorithm> MsgHeader<A> {
    /// `encodeMsgHeader` at version `v` (the current version, not the header's maximum).
    pub fn encode_at(&self, v: VersionE2E, out: &mut Vec<u8>) {
        self.max_version.encode(out);
        self.dh.encode(out);
        if v >= PQ_RATCHET_E2E_VERSION {
            self.kem.encode(out);
        }
        self.pn.encode(out);
        self.ns.encode(out);
    }

    /// `msgHeaderP` at version `v`. Bytes after the header are ignored, as in the reference.
    pub fn decode_at(v: VersionE2E, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let max_version = r.u16()?;
        let dh = r.read()?;
        let kem = if v >= PQ_RATCHET_E2E_VERSION {
            r.read()?
        } else {
            None
        };
        Ok(MsgHeader {
            max_version,
            dh,
            kem,
            pn: r.u32()?,
            ns: r.u32()?,
        })
    }
}

/// Writes `s` with a two-byte length at version 3 and later, a one-byte length before
/// (`encodeLarge`).
fn encode_large_at(v: VersionE2E, s: &[u8], out: &mut Vec<u8>) -> Result<(), RatchetError> {
    if v >= PQ_RATCHET_E2E_VERSION {
        Large::encode_slice(s, out)?;
    } else {
        ShortBytes::encode_slice(s, out)?;
    }
    Ok(())
}

/// Reads a length-prefixed string whose length is two bytes when the first byte is below 32
/// (`largeP`): a header is never shorter than 32 bytes.
fn decode_large_p<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    match r.peek() {
        Some(b) if b < 32 => r.large_bytes(),
        _ => r.short_bytes(),
    }
}

struct EncMessageHeader<'a> {
    version: VersionE2E,
    iv: [u8; 16],
    tag: [u8; AUTH_TAG_LEN],
    body: &'a [u8],
}

impl<'a> EncMessageHeader<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u16()?;
        let iv = r.array()?;
        let tag = r.array()?;
        let body = decode_large_p(&mut r)?;
        r.finish()?;
        Ok(EncMessageHeader {
            version,
            iv,
            tag,
            body,
        })
    }
}

struct EncRatchetMessage<'a> {
    header: &'a [u8],
    tag: [u8; AUTH_TAG_LEN],
    body: &'a [u8],
}

impl<'a> EncRatchetMessage<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = decode_large_p(&mut r)?;
        let tag = r.array()?;
        let body = r.rest();
        Ok(EncRatchetMessage { header, tag, body })
    }
}

/// What identifies a ratchet message (`EncRatchetMessage`) without its body: the encrypted
/// header and the body's authentication tag, the tag covering the header and the body
/// under the message's own key. Two messages with the same such part are one message (the
/// header carries its number in its chain and the chain's key), so a receiver can tell a
/// message seen before by a hash of these ~130 bytes instead of the whole padded message
/// (~16 KB). `None` when the bytes do not parse as a ratchet message.
pub fn message_id_part(msg: &[u8]) -> Option<&[u8]> {
    let m = EncRatchetMessage::decode(msg).ok()?;
    msg.get(..msg.len() - m.body.len())
}

/// The key and header of one message, made by [`Ratchet::encrypt_header`] and used by
/// [`MsgEncryptKey::encrypt`] (`MsgEncryptKey`). The agent stores it between the two steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgEncryptKey {
    version: VersionE2E,
    key: MessageKey,
    ad: Vec<u8>,
    enc_header: Vec<u8>,
}

impl MsgEncryptKey {
    /// Encrypts `msg` padded to `padded_len` bytes (`rcEncryptMsg`) and returns the whole
    /// ratchet message.
    pub fn encrypt(&self, padded_len: usize, msg: &[u8]) -> Result<Vec<u8>, RatchetError> {
        if !can_pad(msg.len(), padded_len) {
            return Err(RatchetError::MessageTooLarge);
        }
        let mut aad = Vec::with_capacity(self.ad.len() + self.enc_header.len());
        aad.extend_from_slice(&self.ad);
        aad.extend_from_slice(&self.enc_header);
        let key = AesKey(self.key.key);
        let (tag, body) = encrypt_aead(&key, &self.key.iv, padded_len, &aad, msg)?;
        let mut out = Vec::with_capacity(self.enc_header.len() + 2 + AUTH_TAG_LEN + body.len());
        encode_large_at(self.version, &self.enc_header, &mut out)?;
        out.extend_from_slice(&tag);
        out.extend_from_slice(&body);
        Ok(out)
    }
}

/// `(version, ad as a 1-byte-length string, message key, Large header)`.
impl Encode for MsgEncryptKey {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        // Invariant: the AD is two public keys (at most 112 bytes); the header at most 2346.
        ShortBytes::encode_slice(&self.ad, out).expect("AD is shorter than 256 bytes");
        self.key.encode(out);
        Large::encode_slice(&self.enc_header, out).expect("header is shorter than 65536 bytes");
    }
}

impl Decode for MsgEncryptKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MsgEncryptKey {
            version: r.u16()?,
            ad: r.short_bytes()?.to_vec(),
            key: r.read()?,
            enc_header: r.large_bytes()?.to_vec(),
        })
    }
}

/// The result of a successful decryption.
#[derive(Debug)]
pub struct Decrypted<A: DhAlgorithm> {
    /// The message.
    pub plaintext: Vec<u8>,
    /// The next ratchet state, to replace the old one.
    pub ratchet: Ratchet<A>,
    /// The change to the skipped keys, to apply with the new state.
    pub diff: SkippedDiff,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RatchetStep {
    Advance,
    Same,
}

enum SkippedOutcome<A: DhAlgorithm> {
    Message(Vec<u8>, HeaderKey, u32),
    Header(Option<RatchetStep>, MsgHeader<A>),
    NotFound,
}

fn dh_kdf<A: DhAlgorithm>(
    rk: &Key32,
    public: &A::Public,
    private: &A::Private,
    kem: Option<&KemSharedKey>,
) -> Result<(Key32, Key32, Key32), RatchetError> {
    let dh = A::dh(public, private)?;
    // Sized up front so that no reallocation leaves a copy of the secret behind.
    let mut ikm = Zeroizing::new(Vec::with_capacity(dh.len() + 32));
    ikm.extend_from_slice(&dh);
    if let Some(ss) = kem {
        ikm.extend_from_slice(ss.as_bytes());
    }
    root_kdf(rk, &ikm)
}

impl<A: DhAlgorithm> Ratchet<A> {
    /// The joining side's initial state (`initSndRatchet`): `dh_rr` is the peer's second X3DH
    /// key, `dh_rs` a new key pair of this side, `kem` the key pair from [`pq_x3dh_snd`]. This
    /// side can send at once.
    ///
    /// [`pq_x3dh_snd`]: crate::pq_x3dh_snd
    pub fn init_snd(
        version: RatchetVersions,
        dh_rr: A::Public,
        dh_rs: A::Private,
        init: RatchetInitParams,
        kem: Option<KemKeyPair>,
    ) -> Result<Self, RatchetError> {
        let RatchetInitParams {
            assoc_data,
            ratchet_key,
            snd_hk,
            rcv_next_hk,
            kem_accepted,
        } = init;
        let (rk, cks, nhks) = dh_kdf::<A>(
            &ratchet_key,
            &dh_rr,
            &dh_rs,
            kem_accepted.as_ref().map(|a| &a.shared),
        )?;
        let pq_on = kem.is_some();
        let snd_kem = PqEncryption(kem_accepted.is_some());
        Ok(Ratchet {
            version,
            ad: assoc_data,
            dh_rs,
            kem: kem.map(|pq_rs| RatchetKem {
                pq_rs,
                accepted: kem_accepted,
            }),
            support_kem: PqSupport(pq_on),
            enable_kem: PqEncryption(pq_on),
            snd_kem,
            rcv_kem: PqEncryption::OFF,
            rk,
            snd: Some(SndRatchet {
                dh_rr,
                ck: cks,
                hk: snd_hk,
            }),
            rcv: None,
            ns: 0,
            nr: 0,
            pn: 0,
            nhks,
            nhkr: rcv_next_hk,
            pending: None,
        })
    }

    /// The creating side's initial state (`initRcvRatchet`): `dh_rs` is this side's second
    /// X3DH key, `kem` the key pair from [`pq_x3dh_rcv`]. This side can send only after it
    /// has received.
    ///
    /// [`pq_x3dh_rcv`]: crate::pq_x3dh_rcv
    pub fn init_rcv(
        version: RatchetVersions,
        dh_rs: A::Private,
        init: RatchetInitParams,
        kem: Option<KemKeyPair>,
        support: PqSupport,
    ) -> Self {
        let RatchetInitParams {
            assoc_data,
            ratchet_key,
            snd_hk,
            rcv_next_hk,
            kem_accepted,
        } = init;
        Ratchet {
            version,
            ad: assoc_data,
            dh_rs,
            kem: kem.map(|pq_rs| RatchetKem {
                pq_rs,
                accepted: kem_accepted,
            }),
            support_kem: support,
            enable_kem: support.into(),
            snd_kem: PqEncryption::OFF,
            rcv_kem: PqEncryption::OFF,
            rk: ratchet_key,
            snd: None,
            rcv: None,
            ns: 0,
            nr: 0,
            pn: 0,
            nhks: rcv_next_hk,
            nhkr: snd_hk,
            pending: None,
        }
    }

    /// The versions.
    pub fn versions(&self) -> RatchetVersions {
        self.version
    }

    /// Whether PQ is supported (and so large headers are used).
    pub fn pq_support(&self) -> PqSupport {
        self.support_kem
    }

    /// Whether PQ encryption is enabled for the next ratchet steps.
    pub fn pq_enabled(&self) -> PqEncryption {
        self.enable_kem
    }

    /// Whether the current sending chain mixed in a KEM shared key.
    pub fn snd_pq(&self) -> PqEncryption {
        self.snd_kem
    }

    /// Whether the current receiving chain mixed in a KEM shared key.
    pub fn rcv_pq(&self) -> PqEncryption {
        self.rcv_kem
    }

    /// The associated data.
    pub fn associated_data(&self) -> &[u8] {
        &self.ad
    }

    /// True when this side has a sending chain.
    pub fn can_send(&self) -> bool {
        self.snd.is_some()
    }

    /// True when the sending half of the last ratchet step is not yet taken: decryption
    /// takes only the half it needs (the receiving chain's agreement), and the other
    /// agreement (the sending chain's, as costly: X448) waits for [`Ratchet::complete_step`]
    /// or the next encryption, which takes it first. Nothing on the wire changes.
    pub fn step_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The state with the last ratchet step's sending half taken (`None` when it was):
    /// what the next encryption would start from. Taking it ahead, while nothing waits on
    /// it, saves the next message its agreement.
    pub fn complete_step(&self) -> Result<Option<Ratchet<A>>, RatchetError> {
        if self.pending.is_none() {
            return Ok(None);
        }
        let mut next = self.clone();
        next.take_pending_step()?;
        Ok(Some(next))
    }

    /// Takes the pending sending half of the last ratchet step, if any (the second
    /// `KDF_RK` of `ratchetStep`).
    fn take_pending_step(&mut self) -> Result<(), RatchetError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let snd = self.snd.as_mut().ok_or(RatchetError::State)?;
        let (rk2, cks, nhks) = dh_kdf::<A>(&self.rk, &snd.dh_rr, &self.dh_rs, p.kem.as_ref())?;
        self.rk = rk2;
        snd.ck = cks;
        self.nhks = nhks;
        Ok(())
    }

    /// The length of the next message this ratchet sends with a body padded to
    /// `padded_msg_len`, with `pq` as it would be passed to [`Ratchet::encrypt_header`].
    pub fn next_message_len(&self, pq: Option<PqEncryption>, padded_msg_len: usize) -> usize {
        let enable = pq.unwrap_or(self.enable_kem);
        let v = self.version.current;
        full_message_len(
            v,
            pq_enable_support(v, self.support_kem, enable),
            padded_msg_len,
        )
    }

    /// Advances the sending chain and encrypts the next header (`rcEncryptHeader`).
    ///
    /// `pq` turns PQ encryption on or off from the next ratchet step (`None` keeps it);
    /// `supported_version` is this side's highest E2E version, announced in the header.
    /// Returns the key for [`MsgEncryptKey::encrypt`] and the next state.
    pub fn encrypt_header(
        &self,
        pq: Option<PqEncryption>,
        supported_version: VersionE2E,
    ) -> Result<(MsgEncryptKey, Ratchet<A>), RatchetError> {
        match self.complete_step()? {
            Some(completed) => completed.encrypt_complete_header(pq, supported_version),
            None => self.encrypt_complete_header(pq, supported_version),
        }
    }

    /// [`Ratchet::encrypt_header`] of a state with no pending step.
    fn encrypt_complete_header(
        &self,
        pq: Option<PqEncryption>,
        supported_version: VersionE2E,
    ) -> Result<(MsgEncryptKey, Ratchet<A>), RatchetError> {
        let snd = self.snd.as_ref().ok_or(RatchetError::State)?;
        let (ck2, mk, header_iv) = chain_kdf(&snd.ck)?;
        let v = self.version.current;
        let enable = pq.unwrap_or(self.enable_kem);
        let support = pq_enable_support(v, self.support_kem, enable);
        let pq_floor = if pq == Some(PqEncryption::ON) {
            PQ_RATCHET_E2E_VERSION
        } else {
            v
        };
        let max_supported = supported_version.max(pq_floor);
        let header = MsgHeader::<A> {
            max_version: max_supported,
            dh: A::public_key(&self.dh_rs),
            kem: self.kem.as_ref().map(RatchetKem::header_params),
            pn: self.pn,
            ns: self.ns,
        };
        let mut plain = Zeroizing::new(Vec::new());
        header.encode_at(v, &mut plain);
        let hk = AesKey(snd.hk.0);
        let (tag, body) = encrypt_aead(
            &hk,
            &header_iv,
            padded_header_len(v, support),
            &self.ad,
            &plain,
        )?;
        let mut enc_header = Vec::with_capacity(36 + body.len());
        v.encode(&mut enc_header);
        enc_header.extend_from_slice(&header_iv);
        enc_header.extend_from_slice(&tag);
        encode_large_at(v, &body, &mut enc_header)?;

        let mut next = self.clone();
        if let Some(s) = next.snd.as_mut() {
            s.ck = ck2;
        }
        next.ns = self.ns.wrapping_add(1);
        next.support_kem = support;
        next.enable_kem = enable;
        next.version.max_supported = max_supported;
        if pq == Some(PqEncryption::OFF) {
            if let Some(k) = next.kem.as_mut() {
                k.accepted = None;
            }
        }
        let key = MsgEncryptKey {
            version: v,
            key: mk,
            ad: self.ad.clone(),
            enc_header,
        };
        Ok((key, next))
    }

    /// [`Ratchet::encrypt_header`] then [`MsgEncryptKey::encrypt`].
    pub fn encrypt(
        &self,
        pq: Option<PqEncryption>,
        supported_version: VersionE2E,
        padded_len: usize,
        msg: &[u8],
    ) -> Result<(Vec<u8>, Ratchet<A>), RatchetError> {
        if !can_pad(msg.len(), padded_len) {
            return Err(RatchetError::MessageTooLarge);
        }
        let (key, next) = self.encrypt_header(pq, supported_version)?;
        Ok((key.encrypt(padded_len, msg)?, next))
    }

    /// Decrypts a ratchet message (`rcDecrypt`): tries the skipped keys, then the current and
    /// the next header key, skipping at most [`MAX_SKIP`] keys and taking a DH (and KEM)
    /// ratchet step when the next header key opens the header. Draws new DH and KEM keys
    /// from `rng` on a ratchet step.
    ///
    /// Neither `self` nor `skipped` is changed: on success the caller stores
    /// [`Decrypted::ratchet`] and applies [`Decrypted::diff`]; on error both stay as they were.
    pub fn decrypt(
        &self,
        skipped: &SkippedKeys,
        msg: &[u8],
        rng: &mut (impl CryptoRng + RngCore),
    ) -> Result<Decrypted<A>, RatchetError> {
        self.decrypt_with_keys(skipped, msg, rng, &InlineKeys)
    }

    /// [`Ratchet::decrypt`], taking a ratchet step's new X448 key and KEM key pair from `source`
    /// (made ahead of time) when it has them, else generating them from `rng`.
    pub fn decrypt_with_keys(
        &self,
        skipped: &SkippedKeys,
        msg: &[u8],
        rng: &mut (impl CryptoRng + RngCore),
        source: &dyn RatchetKeySource,
    ) -> Result<Decrypted<A>, RatchetError> {
        let enc_msg = EncRatchetMessage::decode(msg).map_err(RatchetError::HeaderParse)?;
        let enc_hdr =
            EncMessageHeader::decode(enc_msg.header).map_err(RatchetError::HeaderParse)?;
        match self.try_skipped(skipped, &enc_hdr, &enc_msg)? {
            SkippedOutcome::Message(plaintext, hk, n) => Ok(Decrypted {
                plaintext,
                ratchet: self.clone(),
                diff: SkippedDiff::Remove(hk, n),
            }),
            SkippedOutcome::Header(Some(step), hdr) => {
                self.decrypt_with_chain(step, &hdr, &enc_msg, (rng, source))
            }
            SkippedOutcome::Header(None, _) => Err(RatchetError::Header),
            SkippedOutcome::NotFound => {
                let (step, hdr) = self.decrypt_current_header(&enc_hdr)?;
                self.decrypt_with_chain(step, &hdr, &enc_msg, (rng, source))
            }
        }
    }

    fn decrypt_header(
        &self,
        hk: &HeaderKey,
        enc_hdr: &EncMessageHeader<'_>,
    ) -> Result<MsgHeader<A>, RatchetError> {
        let key = AesKey(hk.0);
        let plain = Zeroizing::new(
            decrypt_aead(&key, &enc_hdr.iv, &self.ad, enc_hdr.body, &enc_hdr.tag)
                .map_err(|_| RatchetError::Header)?,
        );
        MsgHeader::decode_at(enc_hdr.version, &mut Reader::new(&plain))
            .map_err(RatchetError::HeaderParse)
    }

    fn decrypt_body(
        &self,
        mk: &MessageKey,
        enc_msg: &EncRatchetMessage<'_>,
    ) -> Result<Vec<u8>, RatchetError> {
        let mut aad = Vec::with_capacity(self.ad.len() + enc_msg.header.len());
        aad.extend_from_slice(&self.ad);
        aad.extend_from_slice(enc_msg.header);
        let key = AesKey(mk.key);
        Ok(decrypt_aead(
            &key,
            &mk.iv,
            &aad,
            enc_msg.body,
            &enc_msg.tag,
        )?)
    }

    fn try_skipped(
        &self,
        skipped: &SkippedKeys,
        enc_hdr: &EncMessageHeader<'_>,
        enc_msg: &EncRatchetMessage<'_>,
    ) -> Result<SkippedOutcome<A>, RatchetError> {
        for (hk, mks) in skipped {
            let hdr = match self.decrypt_header(hk, enc_hdr) {
                Err(RatchetError::Header) => continue,
                Err(e) => return Err(e),
                Ok(hdr) => hdr,
            };
            return Ok(match mks.get(&hdr.ns) {
                Some(mk) => {
                    let plaintext = self.decrypt_body(mk, enc_msg)?;
                    SkippedOutcome::Message(plaintext, hk.clone(), hdr.ns)
                }
                None => {
                    let step = if self.rcv.as_ref().is_some_and(|r| &r.hk == hk) {
                        Some(RatchetStep::Same)
                    } else if hk == &self.nhkr {
                        Some(RatchetStep::Advance)
                    } else {
                        None
                    };
                    SkippedOutcome::Header(step, hdr)
                }
            });
        }
        Ok(SkippedOutcome::NotFound)
    }

    fn decrypt_current_header(
        &self,
        enc_hdr: &EncMessageHeader<'_>,
    ) -> Result<(RatchetStep, MsgHeader<A>), RatchetError> {
        if let Some(rcv) = &self.rcv {
            match self.decrypt_header(&rcv.hk, enc_hdr) {
                Ok(hdr) => return Ok((RatchetStep::Same, hdr)),
                Err(RatchetError::Header) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((
            RatchetStep::Advance,
            self.decrypt_header(&self.nhkr, enc_hdr)?,
        ))
    }

    fn decrypt_with_chain(
        &self,
        step: RatchetStep,
        hdr: &MsgHeader<A>,
        enc_msg: &EncRatchetMessage<'_>,
        rng: (&mut (impl CryptoRng + RngCore), &dyn RatchetKeySource),
    ) -> Result<Decrypted<A>, RatchetError> {
        let mut rc = self.clone();
        let cur = rc.version.current;
        if hdr.max_version > cur {
            rc.version.current = cur.max(hdr.max_version.min(rc.version.max_supported));
        }
        let mut added = SkippedKeys::new();
        if step == RatchetStep::Advance {
            rc.skip_message_keys(hdr.pn, &mut added)?;
            rc.ratchet_step(hdr, self.ns, rng)?;
        }
        rc.skip_message_keys(hdr.ns, &mut added)?;
        let rcv = rc.rcv.as_mut().ok_or(RatchetError::State)?;
        let (ck2, mk, _) = chain_kdf(&rcv.ck)?;
        let plaintext = self.decrypt_body(&mk, enc_msg)?;
        rcv.ck = ck2;
        rc.nr = rc.nr.wrapping_add(1);
        let diff = if added.is_empty() {
            SkippedDiff::NoChange
        } else {
            SkippedDiff::Add(added)
        };
        Ok(Decrypted {
            plaintext,
            ratchet: rc,
            diff,
        })
    }

    /// Derives the keys of messages `nr..until` of the receiving chain into `out`.
    fn skip_message_keys(&mut self, until: u32, out: &mut SkippedKeys) -> Result<(), RatchetError> {
        let nr = self.nr;
        let Some(rcv) = self.rcv.as_mut() else {
            return Ok(());
        };
        let (nr64, until64) = (u64::from(nr), u64::from(until));
        if nr64 > until64 + 1 {
            return Err(RatchetError::EarlierMessage(nr - until - 1));
        }
        if nr64 == until64 + 1 {
            return Err(RatchetError::DuplicateMessage);
        }
        if nr64 + u64::from(MAX_SKIP) < until64 {
            return Err(RatchetError::TooManySkipped(until - nr + 1));
        }
        if nr == until {
            return Ok(());
        }
        let mut mks = BTreeMap::new();
        let mut ck = rcv.ck.clone();
        for n in nr..until {
            let (ck2, mk, _) = chain_kdf(&ck)?;
            mks.insert(n, mk);
            ck = ck2;
        }
        rcv.ck = ck;
        out.entry(rcv.hk.clone()).or_default().extend(mks);
        self.nr = until;
        Ok(())
    }

    /// The DH ratchet step with the PQ KEM step (`ratchetStep`, `DHRatchetPQ2HE`), its
    /// sending half left pending ([`Ratchet::step_pending`]): the state keeps the root key
    /// between the two agreements and the sending chain's KEM secret, and the second
    /// agreement, `KDF_RK` and header key follow when needed.
    fn ratchet_step(
        &mut self,
        hdr: &MsgHeader<A>,
        prev_ns: u32,
        (rng, source): (&mut (impl CryptoRng + RngCore), &dyn RatchetKeySource),
    ) -> Result<(), RatchetError> {
        // A step before this side sent after its last one: that one is completed first.
        self.take_pending_step()?;
        let (rcv_ss, snd_ss, kem) = self.pq_ratchet_step(hdr.kem.as_ref(), rng, source)?;
        let dh_rs2 = A::take_or_generate(source, rng);
        let (rk1, ckr, nhkr) = dh_kdf::<A>(&self.rk, &hdr.dh, &self.dh_rs, rcv_ss.as_ref())?;
        let snd_kem = snd_ss.is_some();
        let rcv_kem = rcv_ss.is_some();
        let enable = PqEncryption(snd_kem || rcv_kem || kem.is_some());
        self.support_kem = pq_enable_support(self.version.current, self.support_kem, enable);
        self.enable_kem = enable;
        self.snd_kem = PqEncryption(snd_kem);
        self.rcv_kem = PqEncryption(rcv_kem);
        self.dh_rs = dh_rs2;
        self.kem = kem;
        self.rk = rk1;
        self.snd = Some(SndRatchet {
            dh_rr: hdr.dh.clone(),
            ck: Key32::from_bytes([0; 32]),
            hk: self.nhks.clone(),
        });
        self.pending = Some(PendingStep { kem: snd_ss });
        self.rcv = Some(RcvRatchet {
            ck: ckr,
            hk: self.nhkr.clone(),
        });
        self.pn = prev_ns;
        self.ns = 0;
        self.nr = 0;
        self.nhks = Key32::from_bytes([0; 32]);
        self.nhkr = nhkr;
        Ok(())
    }

    /// The KEM half of a ratchet step (`pqRatchetStep`). Returns the shared key for the
    /// receiving chain, the shared key for the sending chain and the next KEM state.
    #[allow(clippy::type_complexity)]
    fn pq_ratchet_step(
        &self,
        hdr_kem: Option<&RKemParams>,
        rng: &mut (impl CryptoRng + RngCore),
        source: &dyn RatchetKeySource,
    ) -> Result<
        (
            Option<KemSharedKey>,
            Option<KemSharedKey>,
            Option<RatchetKem>,
        ),
        RatchetError,
    > {
        let pq_on = self.enable_kem.0 && self.version.current >= PQ_RATCHET_E2E_VERSION;
        let Some(params) = hdr_kem else {
            // No KEM in the header: propose one if this side enabled PQ and has no KEM yet.
            return Ok(match &self.kem {
                None if pq_on => (
                    None,
                    None,
                    Some(RatchetKem {
                        pq_rs: source.take_or_generate(rng),
                        accepted: None,
                    }),
                ),
                _ => (None, None, None),
            });
        };
        let (rcv_ss, peer_key) = match params {
            RKemParams::Proposed(k) => (None, k),
            RKemParams::Accepted(ct, k) => {
                let kem = self.kem.as_ref().ok_or(RatchetError::KemState)?;
                (Some(kem.pq_rs.secret.decapsulate(ct)), k)
            }
        };
        if !pq_on {
            return Ok((rcv_ss, None, None));
        }
        let (ct, ss) = peer_key.encapsulate(rng);
        let kem = RatchetKem {
            pq_rs: source.take_or_generate(rng),
            accepted: Some(KemAccepted {
                peer_key: peer_key.clone(),
                shared: ss.clone(),
                ciphertext: ct,
            }),
        };
        Ok((rcv_ss, Some(ss), Some(kem)))
    }
}
