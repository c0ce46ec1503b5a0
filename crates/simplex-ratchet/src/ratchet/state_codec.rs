//! The stored form of a [`Ratchet`]: our own versioned record (the reference stores JSON).

use simplex_encoding::{Decode, DecodeError, Encode, Reader, ShortBytes};

use super::{PendingStep, Ratchet, RatchetKem, RcvRatchet, SndRatchet};
use crate::dh::DhAlgorithm;
use crate::version::{PqEncryption, PqSupport};

/// The stored-state format version written by [`Ratchet`]'s `Encode`: 2 adds the pending
/// sending half of the last ratchet step at the end (format 1, without it, still reads).
pub const RATCHET_STATE_FORMAT: u8 = 2;

impl<A: DhAlgorithm> Encode for Ratchet<A> {
    /// Our own versioned record (the reference stores JSON): a format byte, then every field.
    /// Holds secrets: zeroize the bytes after storing them.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(RATCHET_STATE_FORMAT);
        self.version.encode(out);
        ShortBytes::encode_slice(&self.ad, out).expect("AD is shorter than 256 bytes");
        let der = A::private_to_der(&self.dh_rs);
        ShortBytes::encode_slice(&der, out).expect("private key DER is shorter than 256 bytes");
        match &self.kem {
            None => out.push(b'0'),
            Some(k) => {
                out.push(b'1');
                k.pq_rs.encode(out);
                k.accepted.encode(out);
            }
        }
        self.support_kem.0.encode(out);
        self.enable_kem.0.encode(out);
        self.snd_kem.0.encode(out);
        self.rcv_kem.0.encode(out);
        self.rk.encode(out);
        match &self.snd {
            None => out.push(b'0'),
            Some(s) => {
                out.push(b'1');
                s.dh_rr.encode(out);
                s.ck.encode(out);
                s.hk.encode(out);
            }
        }
        match &self.rcv {
            None => out.push(b'0'),
            Some(r) => {
                out.push(b'1');
                r.ck.encode(out);
                r.hk.encode(out);
            }
        }
        self.ns.encode(out);
        self.nr.encode(out);
        self.pn.encode(out);
        self.nhks.encode(out);
        self.nhkr.encode(out);
        match &self.pending {
            None => out.push(b'0'),
            Some(p) => {
                out.push(b'1');
                p.kem.encode(out);
            }
        }
    }
}

impl<A: DhAlgorithm> Decode for Ratchet<A> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let format = r.u8()?;
        if !(1..=RATCHET_STATE_FORMAT).contains(&format) {
            return Err(DecodeError::InvalidTag {
                what: "ratchet state format",
            });
        }
        let version = r.read()?;
        let ad = r.short_bytes()?.to_vec();
        let dh_rs = A::private_from_der(r.short_bytes()?)
            .map_err(|_| DecodeError::Invalid("ratchet private key"))?;
        let kem = match r.u8()? {
            b'0' => None,
            b'1' => Some(RatchetKem {
                pq_rs: r.read()?,
                accepted: r.read()?,
            }),
            _ => return Err(DecodeError::InvalidTag { what: "Maybe" }),
        };
        let support_kem = PqSupport(r.read()?);
        let enable_kem = PqEncryption(r.read()?);
        let snd_kem = PqEncryption(r.read()?);
        let rcv_kem = PqEncryption(r.read()?);
        let rk = r.read()?;
        let snd = match r.u8()? {
            b'0' => None,
            b'1' => Some(SndRatchet {
                dh_rr: r.read()?,
                ck: r.read()?,
                hk: r.read()?,
            }),
            _ => return Err(DecodeError::InvalidTag { what: "Maybe" }),
        };
        let rcv = match r.u8()? {
            b'0' => None,
            b'1' => Some(RcvRatchet {
                ck: r.read()?,
                hk: r.read()?,
            }),
            _ => return Err(DecodeError::InvalidTag { what: "Maybe" }),
        };
        let (ns, nr, pn, nhks, nhkr) = (r.u32()?, r.u32()?, r.u32()?, r.read()?, r.read()?);
        let pending = match format {
            1 => None,
            _ => match r.u8()? {
                b'0' => None,
                b'1' => Some(PendingStep { kem: r.read()? }),
                _ => return Err(DecodeError::InvalidTag { what: "Maybe" }),
            },
        };
        Ok(Ratchet {
            version,
            ad,
            dh_rs,
            kem,
            support_kem,
            enable_kem,
            snd_kem,
            rcv_kem,
            rk,
            snd,
            rcv,
            ns,
            nr,
            pn,
            nhks,
            nhkr,
            pending,
        })
    }
}
