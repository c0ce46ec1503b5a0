//! E2E encryption versions (`VersionE2E` in `Crypto/Ratchet.hs`).
//!
//! 1 was the first binary encoding; 2 added the KDF to X3DH; 3 added the PQ KEM (the KEM
//! parameters in X3DH records and message headers, and two-byte lengths in the envelope).
//! Versions 2 to 3 are supported.

use simplex_encoding::{Decode, DecodeError, Encode, Reader};

/// An E2E encryption version.
pub type VersionE2E = u16;

/// The version that introduced the KDF in X3DH (`kdfX3DHE2EEncryptVersion`).
pub const KDF_X3DH_E2E_VERSION: VersionE2E = 2;
/// The version that introduced the PQ KEM (`pqRatchetE2EEncryptVersion`).
pub const PQ_RATCHET_E2E_VERSION: VersionE2E = 3;
/// The current version (`currentE2EEncryptVersion`).
pub const CURRENT_E2E_VERSION: VersionE2E = 3;
/// The supported range (`supportedE2EEncryptVRange`).
pub const SUPPORTED_E2E_VERSIONS: VersionRangeE2E = VersionRangeE2E {
    min: KDF_X3DH_E2E_VERSION,
    max: CURRENT_E2E_VERSION,
};

/// A range of E2E versions, `min <= max` (`VersionRangeE2E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRangeE2E {
    min: VersionE2E,
    max: VersionE2E,
}

impl VersionRangeE2E {
    /// The range `min..=max`, or `None` when `min > max`.
    pub fn new(min: VersionE2E, max: VersionE2E) -> Option<Self> {
        (min <= max).then_some(VersionRangeE2E { min, max })
    }

    /// The lowest version.
    pub fn min(&self) -> VersionE2E {
        self.min
    }

    /// The highest version.
    pub fn max(&self) -> VersionE2E {
        self.max
    }

    /// True when `v` is in the range.
    pub fn contains(&self, v: VersionE2E) -> bool {
        self.min <= v && v <= self.max
    }

    /// The highest version in both ranges, if they overlap (`compatibleVersion`).
    pub fn compatible(&self, other: &VersionRangeE2E) -> Option<VersionE2E> {
        let max = self.max.min(other.max);
        (max >= self.min.max(other.min)).then_some(max)
    }

    /// The textual form: `3` when `min == max`, else `2-3`.
    pub fn to_str_encoding(&self) -> String {
        if self.min == self.max {
            self.min.to_string()
        } else {
            format!("{}-{}", self.min, self.max)
        }
    }

    /// Parses the textual form.
    pub fn from_str_encoding(s: &str) -> Option<Self> {
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a, b),
            None => (s, s),
        };
        let parse = |t: &str| {
            if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
                None
            } else {
                t.parse::<u16>().ok()
            }
        };
        VersionRangeE2E::new(parse(a)?, parse(b)?)
    }
}

/// Two `Word16`s.
impl Encode for VersionRangeE2E {
    fn encode(&self, out: &mut Vec<u8>) {
        self.min.encode(out);
        self.max.encode(out);
    }
}

impl Decode for VersionRangeE2E {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let min = r.u16()?;
        let max = r.u16()?;
        VersionRangeE2E::new(min, max).ok_or(DecodeError::Invalid("version range"))
    }
}

/// The versions a ratchet works with (`RatchetVersions`): the current one, used to encode
/// headers, and the highest one this side supports, announced in every header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatchetVersions {
    /// The version used for encoding now.
    pub current: VersionE2E,
    /// The highest supported version, sent in headers.
    pub max_supported: VersionE2E,
}

impl Encode for RatchetVersions {
    fn encode(&self, out: &mut Vec<u8>) {
        self.current.encode(out);
        self.max_supported.encode(out);
    }
}

impl Decode for RatchetVersions {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RatchetVersions {
            current: r.u16()?,
            max_supported: r.u16()?,
        })
    }
}

/// Whether PQ encryption is to be used (`PQEncryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PqEncryption(pub bool);

impl PqEncryption {
    /// `PQEncOn`.
    pub const ON: PqEncryption = PqEncryption(true);
    /// `PQEncOff`.
    pub const OFF: PqEncryption = PqEncryption(false);

    /// The textual form, `pq=enable` or `pq=disable`.
    pub fn to_str_encoding(self) -> &'static str {
        if self.0 {
            "pq=enable"
        } else {
            "pq=disable"
        }
    }
}

/// Whether PQ is supported, which decides the header size (`PQSupport`). Once on, a ratchet
/// keeps it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PqSupport(pub bool);

impl PqSupport {
    /// `PQSupportOn`.
    pub const ON: PqSupport = PqSupport(true);
    /// `PQSupportOff`.
    pub const OFF: PqSupport = PqSupport(false);

    /// Both sides support PQ (`pqSupportAnd`).
    pub fn and(self, other: PqSupport) -> PqSupport {
        PqSupport(self.0 && other.0)
    }
}

impl From<PqSupport> for PqEncryption {
    fn from(s: PqSupport) -> Self {
        PqEncryption(s.0)
    }
}

impl From<PqEncryption> for PqSupport {
    fn from(e: PqEncryption) -> Self {
        PqSupport(e.0)
    }
}

/// Support stays on once on, and turns on when PQ encryption is enabled at a version that has
/// it (`pqEnableSupport`).
pub fn pq_enable_support(v: VersionE2E, support: PqSupport, enc: PqEncryption) -> PqSupport {
    PqSupport(support.0 || (v >= PQ_RATCHET_E2E_VERSION && enc.0))
}
