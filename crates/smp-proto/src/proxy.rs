//! The records of private message routing inside `PFWD`/`RFWD` and `RRES`/`PRES`
//! (`protocol/simplex-messaging.md` § "Proxying sender commands"; `FwdTransmission`,
//! `FwdResponse` and `paddedProxiedTLength` in the reference's `Protocol.hs`).
//!
//! Layers, outside in, for a command: `RFWD` carries `p2r(FwdTransmission)`, boxed with the
//! proxy–relay session secret under the `RFWD` correlation ID; the `FwdTransmission` carries
//! `s2r(batch)`, boxed and padded to [`PADDED_PROXIED_LEN`] with the secret of the sender's
//! per-command key and the relay's session key, under the `PFWD` correlation ID. A response
//! comes back the same way with each nonce byte-reversed (`reverseNonce`; the spec's prose
//! says "+1", the reference reverses). Nothing here encrypts; the callers do.

use simplex_encoding::{Decode, DecodeError, Encode, Large, Reader, ShortBytes};

use crate::error::ProtoError;
use crate::keys::PublicKeyX25519;
use crate::version::{Version, VersionRange, SENDING_PROXY_SMP_VERSION};

/// The padded size of a client's encrypted transmission and of the relay's encrypted
/// response (`paddedProxiedTLength`). The reference used 16242 until its block encryption
/// (v11) and 16226 since; unpadding reads the length prefix, so either side accepts both.
pub const PADDED_PROXIED_LEN: usize = 16_226;

/// The highest version a proxy offers its clients for a relay (`proxiedSMPRelayVersion`):
/// capped below the reference's current one so relays cannot tell client versions apart.
pub const PROXIED_RELAY_MAX_VERSION: Version = Version(17);

/// The versions a proxy passes on in `PKEY`: the relay's range within
/// [`SENDING_PROXY_SMP_VERSION`]..=[`PROXIED_RELAY_MAX_VERSION`] (`proxiedSMPRelayVRange`).
pub const PROXIED_RELAY_VERSIONS: VersionRange = VersionRange {
    min: SENDING_PROXY_SMP_VERSION,
    max: PROXIED_RELAY_MAX_VERSION,
};

/// What the proxy wraps for the relay (`FwdTransmission`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwdTransmission {
    /// The `PFWD` correlation ID: the nonce of the client's encryption.
    pub corr_id: ShortBytes,
    /// The version the client uses with the relay.
    pub version: Version,
    /// The client's per-command X25519 key.
    pub key: PublicKeyX25519,
    /// The client's encrypted, padded transmission (to the end).
    pub enc_transmission: Vec<u8>,
}

impl Encode for FwdTransmission {
    fn encode(&self, out: &mut Vec<u8>) {
        self.corr_id.encode(out);
        self.version.encode(out);
        self.key.encode(out);
        out.extend_from_slice(&self.enc_transmission);
    }
}

impl Decode for FwdTransmission {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let corr_id = ShortBytes::decode(r)?;
        let version = Version::decode(r)?;
        let key = PublicKeyX25519::decode(r)?;
        Ok(FwdTransmission {
            corr_id,
            version,
            key,
            enc_transmission: r.rest().to_vec(),
        })
    }
}

/// What the relay wraps for the proxy (`FwdResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwdResponse {
    /// The `PFWD` correlation ID, echoed.
    pub corr_id: ShortBytes,
    /// The response encrypted for the client (to the end).
    pub enc_response: Vec<u8>,
}

impl Encode for FwdResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        self.corr_id.encode(out);
        out.extend_from_slice(&self.enc_response);
    }
}

impl Decode for FwdResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let corr_id = ShortBytes::decode(r)?;
        Ok(FwdResponse {
            corr_id,
            enc_response: r.rest().to_vec(),
        })
    }
}

/// One transmission as a batch of one, unpadded (what `batchTransmissions` yields before a
/// block is padded): the count 1 and the transmission with its 2-byte length. This is what
/// the client encrypts inside `PFWD` and the relay inside `RRES`.
pub fn encode_single_batch(transmission: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let mut out = Vec::with_capacity(3 + transmission.len());
    out.push(1);
    Large::encode_slice(transmission, &mut out)?;
    Ok(out)
}

/// The one transmission of an unpadded batch. A batch of any other count is
/// [`ProtoError::Decode`] (the relay answers `ERR BLOCK`: only single forwarded transmissions
/// are allowed).
pub fn decode_single_batch(batch: &[u8]) -> Result<&[u8], ProtoError> {
    let mut r = Reader::new(batch);
    if r.u8()? != 1 {
        return Err(ProtoError::Decode(DecodeError::Invalid("batch of one")));
    }
    let t = r.large_bytes()?;
    r.finish()?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_encoding::decode_all;

    fn key() -> PublicKeyX25519 {
        PublicKeyX25519::from_raw(&[9; 32]).expect("32 bytes")
    }

    #[test]
    fn fwd_transmission_layout() {
        let t = FwdTransmission {
            corr_id: ShortBytes::from_slice(&[1; 24]).expect("short"),
            version: Version(9),
            key: key(),
            enc_transmission: b"encrypted".to_vec(),
        };
        let bytes = t.to_bytes();
        // corrId with its length, the version, the key as a length-prefixed X.509 DER
        // (12-byte header + 32), then the rest as is.
        assert_eq!(bytes.first(), Some(&24));
        assert_eq!(bytes.get(25..27), Some(&[0u8, 9][..]));
        assert_eq!(bytes.get(27), Some(&44));
        assert_eq!(bytes.get(72..), Some(&b"encrypted"[..]));
        assert_eq!(decode_all::<FwdTransmission>(&bytes).expect("decode"), t);
        for n in 0..72 {
            let cut = bytes.get(..n).expect("prefix");
            assert!(decode_all::<FwdTransmission>(cut).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn fwd_response_layout() {
        let r = FwdResponse {
            corr_id: ShortBytes::from_slice(&[2; 24]).expect("short"),
            enc_response: vec![7; 40],
        };
        let bytes = r.to_bytes();
        assert_eq!(bytes.len(), 1 + 24 + 40);
        assert_eq!(decode_all::<FwdResponse>(&bytes).expect("decode"), r);
        assert!(decode_all::<FwdResponse>(&[]).is_err());
        assert!(decode_all::<FwdResponse>(&[24, 1, 2]).is_err());
    }

    #[test]
    fn single_batch() {
        let b = encode_single_batch(b"abc").expect("fits");
        assert_eq!(b, [1, 0, 3, b'a', b'b', b'c']);
        assert_eq!(decode_single_batch(&b).expect("one"), b"abc");
        assert!(decode_single_batch(&[2, 0, 1, b'a', 0, 1, b'b']).is_err());
        assert!(decode_single_batch(&[0]).is_err());
        assert!(decode_single_batch(&[1, 0, 4, b'a']).is_err());
        assert!(decode_single_batch(&[1, 0, 1, b'a', b'x']).is_err());
    }
}
