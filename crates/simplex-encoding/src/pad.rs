//! Padding to a fixed size (`pad` / `unPad` and `lazyPad` in the reference's `Crypto.hs`).
//!
//! Strict padding: a two-byte big-endian length, the message, then `#` (0x23) up to the
//! padded size. Lazy (file) padding: the same with an eight-byte `Int64` length.

/// The fill byte.
pub const PAD_BYTE: u8 = b'#';

/// Why a message could not be padded or unpadded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PadError {
    /// The message does not fit in the padded size after its length prefix.
    #[error("message of {len} bytes does not fit in {padded_len} padded bytes")]
    TooLarge {
        /// Message length.
        len: usize,
        /// Requested padded length.
        padded_len: usize,
    },
    /// The padded input is shorter than its length prefix, or than the length it declares.
    #[error("padded message is shorter than its declared length")]
    TooShort,
}

/// Appends `msg` padded to `padded_len` bytes to `out` (strict padding).
pub fn pad_into(msg: &[u8], padded_len: usize, out: &mut Vec<u8>) -> Result<(), PadError> {
    let too_large = PadError::TooLarge {
        len: msg.len(),
        padded_len,
    };
    let len = u16::try_from(msg.len()).map_err(|_| too_large)?;
    if msg.len() + 2 > padded_len {
        return Err(too_large);
    }
    out.reserve(padded_len);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    out.resize(out.len() + padded_len - 2 - msg.len(), PAD_BYTE);
    Ok(())
}

/// `msg` padded to `padded_len` bytes (strict padding).
pub fn pad(msg: &[u8], padded_len: usize) -> Result<Vec<u8>, PadError> {
    let mut out = Vec::with_capacity(padded_len);
    pad_into(msg, padded_len, &mut out)?;
    Ok(out)
}

/// The message inside strictly padded bytes. The fill is not checked, as in the reference.
pub fn unpad(padded: &[u8]) -> Result<&[u8], PadError> {
    let (len, rest) = padded.split_first_chunk::<2>().ok_or(PadError::TooShort)?;
    let len = usize::from(u16::from_be_bytes(*len));
    rest.get(..len).ok_or(PadError::TooShort)
}

/// `msg` padded to `padded_len` bytes with an eight-byte length (lazy/file padding).
pub fn pad_lazy(msg: &[u8], padded_len: u64) -> Result<Vec<u8>, PadError> {
    let padded = usize::try_from(padded_len).map_err(|_| PadError::TooLarge {
        len: msg.len(),
        padded_len: usize::MAX,
    })?;
    if msg.len() + 8 > padded {
        return Err(PadError::TooLarge {
            len: msg.len(),
            padded_len: padded,
        });
    }
    let mut out = Vec::with_capacity(padded);
    // A slice length always fits in i64 on the platforms we build for.
    let len = i64::try_from(msg.len()).map_err(|_| PadError::TooLarge {
        len: msg.len(),
        padded_len: padded,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    out.resize(padded, PAD_BYTE);
    Ok(out)
}

/// The message inside lazily padded bytes.
pub fn unpad_lazy(padded: &[u8]) -> Result<&[u8], PadError> {
    let (len, rest) = padded.split_first_chunk::<8>().ok_or(PadError::TooShort)?;
    let len = usize::try_from(i64::from_be_bytes(*len)).map_err(|_| PadError::TooShort)?;
    rest.get(..len).ok_or(PadError::TooShort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_unpads() {
        let p = pad(b"hello", 10).expect("fits");
        assert_eq!(p, b"\x00\x05hello###");
        assert_eq!(unpad(&p), Ok(&b"hello"[..]));
    }

    #[test]
    fn exact_fit_and_overflow() {
        assert_eq!(pad(b"abc", 5).expect("fits").len(), 5);
        assert_eq!(
            pad(b"abcd", 5),
            Err(PadError::TooLarge {
                len: 4,
                padded_len: 5
            })
        );
        assert!(pad(&vec![0; 70_000], 80_000).is_err());
    }

    #[test]
    fn unpad_rejects_short_input() {
        assert_eq!(unpad(b"\x00"), Err(PadError::TooShort));
        assert_eq!(unpad(b"\x00\x05abc"), Err(PadError::TooShort));
        assert_eq!(
            unpad_lazy(b"\xff\xff\xff\xff\xff\xff\xff\xff##"),
            Err(PadError::TooShort)
        );
    }
}
