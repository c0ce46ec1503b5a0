//! Protocol versions and their negotiation (`protocol/simplex-messaging.md` § Transport
//! handshake; `Version.hs` and the version constants of `Transport.hs` in the reference).
//!
//! A version is a `Word16`; a range is two of them (binary) or `v` / `min-max` (string).
//! Both peers pick the highest version inside both ranges.

use std::fmt;

use simplex_encoding::string::parse_u16;
use simplex_encoding::{Decode, DecodeError, Encode, Reader};

/// A protocol version number (`Version`, a `Word16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u16);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Encode for Version {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}

impl Decode for Version {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Version(r.u16()?))
    }
}

/// SMP v6: queues can be created without subscribing (`SubscriptionMode`).
pub const SUB_MODE_SMP_VERSION: Version = Version(6);
/// SMP v7: commands may be authorized with a crypto_box authenticator, and the session ID is
/// signed but no longer sent inside transmissions.
pub const AUTH_CMDS_SMP_VERSION: Version = Version(7);
/// SMP v8: sending through a proxy (`PRXY`, `PFWD`, `RFWD`).
pub const SENDING_PROXY_SMP_VERSION: Version = Version(8);
/// SMP v9: the sender can secure the queue (`SKEY`), announced in `NEW` and `IDS`.
pub const SND_AUTH_KEY_SMP_VERSION: Version = Version(9);
/// SMP v10: `DELD`, sent to a subscriber when its queue is deleted on another connection
/// (`END` before v10).
pub const DELETED_EVENT_SMP_VERSION: Version = Version(10);
/// SMP v11: every block is also secret-box encrypted inside TLS, with a key chain per
/// direction, when the client sent its DH key and is not a proxy.
pub const ENCRYPTED_BLOCK_SMP_VERSION: Version = Version(11);
/// SMP v12: `ERR BLOCKED` (earlier versions receive `ERR AUTH` instead).
pub const BLOCKED_ENTITY_SMP_VERSION: Version = Version(12);
/// SMP v14: the client hello says whether the client is a proxy (which turns block
/// encryption off). There is no v13.
pub const PROXY_SERVER_HANDSHAKE_SMP_VERSION: Version = Version(14);
/// SMP v15: short links: `NEW` with queue data, `IDS` with mode and link ID, `LSET`, `LDEL`,
/// `LKEY`, `LGET`, `LNK`.
pub const SHORT_LINKS_SMP_VERSION: Version = Version(15);
/// SMP v16: service certificates: the optional service signature after a non-empty
/// authorization, `SOK`/`SOKS`/`ENDS`, `SUBS`/`NSUBS`, the hello's service field and the
/// server's third handshake block.
pub const SERVICE_CERTS_SMP_VERSION: Version = Version(16);
/// SMP v17: `NEW` may create the notifier credentials, and `IDS` returns them.
pub const NEW_NTF_CREDS_SMP_VERSION: Version = Version(17);
/// SMP v18: `ERR BLOCKED` may carry a client notice (left out before v18).
pub const CLIENT_NOTICES_SMP_VERSION: Version = Version(18);

/// The lowest SMP version this implementation speaks.
pub const MIN_SMP_VERSION: Version = Version(6);
/// The highest SMP version this implementation encodes and parses (`currentClientSMPRelayVersion`).
pub const MAX_SMP_VERSION: Version = Version(18);
/// The highest version our relay offers (the reference's `supportedServerSMPRelayVRange`):
/// every duty of v10–v18 is served, notifier services of v16 included (recipient services'
/// `SUBS` is answered `CMD PROHIBITED`, as the reference does).
pub const MAX_SERVER_SMP_VERSION: Version = Version(18);
/// The range the relay offers when the client negotiated an ALPN protocol.
pub const SERVER_VERSIONS: VersionRange = VersionRange {
    min: MIN_SMP_VERSION,
    max: MAX_SERVER_SMP_VERSION,
};
/// The range a client offers (`supportedClientSMPRelayVRange`): 6–18.
pub const CLIENT_VERSIONS: VersionRange = VersionRange {
    min: MIN_SMP_VERSION,
    max: MAX_SMP_VERSION,
};
/// The range the server offers when the client sent no ALPN: v6 only (the legacy handshake).
pub const LEGACY_SERVER_VERSIONS: VersionRange = VersionRange {
    min: MIN_SMP_VERSION,
    max: MIN_SMP_VERSION,
};
/// The ALPN protocol name that selects the current handshake.
pub const SMP_ALPN: &[u8] = b"smp/1";
/// The ALPN names a relay accepts, in its order of preference; any of them selects the full
/// version range (apps reach preset relays on port 443 offering `http/1.1`).
pub const SERVER_ALPNS: [&[u8]; 3] = [SMP_ALPN, b"h2", b"http/1.1"];

/// An inclusive range of versions; `min <= max` always holds for a value built through
/// [`VersionRange::new`] or decoded from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The lowest version in the range.
    pub min: Version,
    /// The highest version in the range.
    pub max: Version,
}

/// A version range whose minimum is above its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid version range {min}-{max}")]
pub struct InvalidVersionRange {
    /// The offered minimum.
    pub min: Version,
    /// The offered maximum.
    pub max: Version,
}

impl VersionRange {
    /// A range `min..=max`, or an error when `min > max` (`safeVersionRange`).
    pub fn new(min: Version, max: Version) -> Result<Self, InvalidVersionRange> {
        if min <= max {
            Ok(VersionRange { min, max })
        } else {
            Err(InvalidVersionRange { min, max })
        }
    }

    /// The range holding only `v`.
    pub fn single(v: Version) -> Self {
        VersionRange { min: v, max: v }
    }

    /// True when `v` lies in the range.
    pub fn contains(&self, v: Version) -> bool {
        self.min <= v && v <= self.max
    }

    /// True when the two ranges overlap (`isCompatibleRange`).
    pub fn overlaps(&self, other: &VersionRange) -> bool {
        self.min <= other.max && other.min <= self.max
    }

    /// The highest version in both ranges, or `None` when they do not overlap
    /// (`compatibleVersion`).
    pub fn compatible_version(&self, other: &VersionRange) -> Option<Version> {
        self.overlaps(other).then(|| self.max.min(other.max))
    }

    /// The intersection of the two ranges, if any (`compatibleVRange`).
    pub fn intersect(&self, other: &VersionRange) -> Option<VersionRange> {
        VersionRange::new(self.min.max(other.min), self.max.min(other.max)).ok()
    }

    /// This range capped at `v`, if `v` is not above the maximum (`compatibleVRange'`, which
    /// the server uses to check the client's chosen version).
    pub fn capped_at(&self, v: Version) -> Option<VersionRange> {
        if v <= self.max {
            VersionRange::new(self.min, v).ok()
        } else {
            None
        }
    }

    /// The string form: `v` when `min == max`, else `min-max`.
    pub fn to_str_encoding(&self) -> String {
        self.to_string()
    }

    /// Parses the string form (`v` or `min-max`), rejecting `min > max`.
    pub fn parse_str(s: &[u8]) -> Result<Self, DecodeError> {
        let (min, max) = match s.iter().position(|&b| b == b'-') {
            Some(i) => (parse_u16(&s[..i])?, parse_u16(&s[i + 1..])?),
            None => {
                let v = parse_u16(s)?;
                (v, v)
            }
        };
        VersionRange::new(Version(min), Version(max))
            .map_err(|_| DecodeError::Invalid("version range"))
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

impl Encode for VersionRange {
    fn encode(&self, out: &mut Vec<u8>) {
        self.min.encode(out);
        self.max.encode(out);
    }
}

impl Decode for VersionRange {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let min = Version::decode(r)?;
        let max = Version::decode(r)?;
        VersionRange::new(min, max).map_err(|_| DecodeError::Invalid("version range"))
    }
}

/// The largest message body a `SEND` may carry at version `v` (`maxMessageLength`).
pub fn max_message_length(v: Version) -> usize {
    if v >= ENCRYPTED_BLOCK_SMP_VERSION {
        16048
    } else if v >= SENDING_PROXY_SMP_VERSION {
        16064
    } else {
        16088
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_encoding::decode_all;

    /// The v6–v9 range (the relay's until v10+ is served).
    const V6_9: VersionRange = VersionRange {
        min: Version(6),
        max: Version(9),
    };

    #[test]
    fn binary_encoding_is_two_words() {
        assert_eq!(V6_9.to_bytes(), [0, 6, 0, 9]);
        assert_eq!(decode_all::<VersionRange>(&[0, 6, 0, 9]), Ok(V6_9));
        assert!(decode_all::<VersionRange>(&[0, 9, 0, 6]).is_err());
        assert!(decode_all::<VersionRange>(&[0, 9, 0]).is_err());
    }

    #[test]
    fn string_encoding() {
        assert_eq!(V6_9.to_string(), "6-9");
        assert_eq!(VersionRange::single(Version(4)).to_string(), "4");
        assert_eq!(VersionRange::parse_str(b"6-9"), Ok(V6_9));
        assert_eq!(
            VersionRange::parse_str(b"4"),
            Ok(VersionRange::single(Version(4)))
        );
        assert!(VersionRange::parse_str(b"9-6").is_err());
        assert!(VersionRange::parse_str(b"6-").is_err());
        assert!(VersionRange::parse_str(b"").is_err());
        assert!(VersionRange::parse_str(b"x").is_err());
    }

    #[test]
    fn client_range_is_6_to_18_and_negotiates_down_to_the_relay() {
        assert_eq!(CLIENT_VERSIONS.to_string(), "6-18");
        assert_eq!(
            SERVER_VERSIONS.compatible_version(&CLIENT_VERSIONS),
            Some(MAX_SERVER_SMP_VERSION)
        );
        assert_eq!(V6_9.compatible_version(&CLIENT_VERSIONS), Some(Version(9)));
        assert_eq!(
            CLIENT_VERSIONS.compatible_version(&CLIENT_VERSIONS),
            Some(Version(18))
        );
    }

    #[test]
    fn negotiation_picks_highest_common() {
        let client = VersionRange::new(Version(6), Version(18)).expect("valid");
        assert_eq!(V6_9.compatible_version(&client), Some(Version(9)));
        let old = VersionRange::new(Version(1), Version(5)).expect("valid");
        assert_eq!(V6_9.compatible_version(&old), None);
        let seven = VersionRange::new(Version(4), Version(7)).expect("valid");
        assert_eq!(V6_9.compatible_version(&seven), Some(Version(7)));
        assert_eq!(
            V6_9.intersect(&seven),
            Some(VersionRange {
                min: Version(6),
                max: Version(7)
            })
        );
        assert_eq!(V6_9.capped_at(Version(8)).map(|r| r.max), Some(Version(8)));
        assert_eq!(V6_9.capped_at(Version(10)), None);
    }

    #[test]
    fn message_length_by_version() {
        assert_eq!(max_message_length(Version(6)), 16088);
        assert_eq!(max_message_length(Version(7)), 16088);
        assert_eq!(max_message_length(Version(8)), 16064);
        assert_eq!(max_message_length(Version(9)), 16064);
        assert_eq!(max_message_length(Version(10)), 16064);
        assert_eq!(max_message_length(Version(11)), 16048);
        assert_eq!(max_message_length(Version(18)), 16048);
    }
}
