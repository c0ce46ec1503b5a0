//! The binary encoding (`smpEncode` / `smpP` in the reference's `Encoding.hs`).
//!
//! All integers are big-endian. Byte strings carry a one-byte length ([`ShortBytes`]) or a
//! two-byte length ([`Large`]); a [`Tail`] takes the rest of the input. `Bool` is `T`/`F`,
//! `Maybe` is `0` or `1` followed by the value, and lists carry a one-byte count.
//!
//! Encoding never fails: the types that have a length limit check it when they are built
//! (`ShortBytes::try_from`, `Large::try_from`), so a value that exists can always be written.

use std::fmt;

/// Why bytes could not be decoded. Carries no input bytes, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("unexpected end of input: needed {needed} more bytes, {available} available")]
    UnexpectedEnd {
        /// Bytes the decoder still needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A complete value was followed by bytes nothing consumed.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A tag byte (Bool, Maybe, a command or response tag...) had no meaning here.
    #[error("invalid {what} tag")]
    InvalidTag {
        /// What was being decoded.
        what: &'static str,
    },
    /// A value was well-formed bytes but not a valid value of its type.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A non-empty list had a count of zero.
    #[error("empty list where a non-empty one is required")]
    EmptyList,
    /// Text was not UTF-8.
    #[error("text is not valid UTF-8")]
    Utf8,
}

/// A value was too long for the length prefix of its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("length {len} exceeds the maximum {max} of its encoding")]
pub struct LengthError {
    /// The length that was offered.
    pub len: usize,
    /// The largest length the encoding can carry.
    pub max: usize,
}

/// A cursor over untrusted input. Every read checks the remaining length.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("pos", &self.pos)
            .field("len", &self.buf.len())
            .finish()
    }
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// How many bytes were read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.remaining();
        if n > available {
            return Err(DecodeError::UnexpectedEnd {
                needed: n - available,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Consumes exactly `N` bytes into an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Consumes everything that is left (a `Tail`).
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// One byte (a `Char` in the reference).
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian `Word16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian `Word32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian two's-complement `Int64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Bytes with a one-byte length prefix, borrowed from the input.
    pub fn short_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u8()?;
        self.take(usize::from(len))
    }

    /// Bytes with a two-byte length prefix, borrowed from the input.
    pub fn large_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// Consumes `expected` if the input starts with it; fails otherwise.
    pub fn expect(&mut self, expected: &[u8], what: &'static str) -> Result<(), DecodeError> {
        if self.take(expected.len())? == expected {
            Ok(())
        } else {
            Err(DecodeError::InvalidTag { what })
        }
    }

    /// Consumes `expected` if the input starts with it, and says whether it did.
    pub fn eat(&mut self, expected: &[u8]) -> bool {
        if self.peek_rest().starts_with(expected) {
            self.pos += expected.len();
            true
        } else {
            false
        }
    }

    /// Consumes one space (the separator of `_smpP` in the reference).
    pub fn space(&mut self) -> Result<(), DecodeError> {
        self.expect(b" ", "space separator")
    }

    /// Bytes up to (not including) the first byte for which `stop` is true, or to the end.
    pub fn take_till(&mut self, stop: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.peek_rest();
        let n = rest.iter().position(|&b| stop(b)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    /// Decodes one value of type `T`.
    pub fn read<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// Fails unless everything was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// A value with a binary encoding. Appends to `out`; never fails.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The encoding of `self` as a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A value that can be read from untrusted bytes.
pub trait Decode: Sized {
    /// Reads one value from the cursor.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Decodes a whole buffer as one `T`, rejecting trailing bytes (`parseAll` in the reference).
pub fn decode_all<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let v = T::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
}

impl Encode for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}
impl Decode for u16 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u16()
    }
}
impl Encode for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}
impl Decode for u32 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32()
    }
}
impl Encode for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}
impl Decode for i64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.i64()
    }
}

/// `Bool`: `T` or `F`.
impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(if *self { b'T' } else { b'F' });
    }
}
impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'T' => Ok(true),
            b'F' => Ok(false),
            _ => Err(DecodeError::InvalidTag { what: "Bool" }),
        }
    }
}

/// `Maybe a`: `0`, or `1` followed by the value.
impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(b'0'),
            Some(v) => {
                out.push(b'1');
                v.encode(out);
            }
        }
    }
}
impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            b'0' => Ok(None),
            b'1' => Ok(Some(T::decode(r)?)),
            _ => Err(DecodeError::InvalidTag { what: "Maybe" }),
        }
    }
}

/// A fixed-size byte array encodes as a `ByteString` (one-byte length prefix) whose length
/// must be exactly `N` when decoded. `N` must be at most 255, checked at compile time.
impl<const N: usize> Encode for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        const { assert!(N <= 255, "a ByteString holds at most 255 bytes") };
        #[allow(clippy::cast_possible_truncation)] // N <= 255, asserted above
        out.push(N as u8);
        out.extend_from_slice(self);
    }
}
impl<const N: usize> Decode for [u8; N] {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.short_bytes()?;
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::Invalid("fixed-length bytes"))
    }
}

macro_rules! bounded_bytes {
    ($(#[$doc:meta])* $name:ident, $max:expr, $prefix:ty, $read:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// The largest length this type holds.
            pub const MAX_LEN: usize = $max;

            /// Builds the value, checking the length.
            pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, LengthError> {
                let bytes = bytes.into();
                if bytes.len() > Self::MAX_LEN {
                    Err(LengthError { len: bytes.len(), max: Self::MAX_LEN })
                } else {
                    Ok($name(bytes))
                }
            }

            /// Copies a slice, checking the length.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, LengthError> {
                Self::new(bytes.to_vec())
            }

            /// The bytes.
            pub fn as_slice(&self) -> &[u8] {
                &self.0
            }

            /// The bytes, owned.
            pub fn into_vec(self) -> Vec<u8> {
                self.0
            }

            /// The number of bytes.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// True when there are no bytes.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Appends `bytes` with this type's length prefix, checking the length.
            pub fn encode_slice(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), LengthError> {
                let len = <$prefix>::try_from(bytes.len())
                    .map_err(|_| LengthError { len: bytes.len(), max: Self::MAX_LEN })?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(bytes);
                Ok(())
            }
        }

        impl TryFrom<Vec<u8>> for $name {
            type Error = LengthError;
            fn try_from(bytes: Vec<u8>) -> Result<Self, LengthError> {
                Self::new(bytes)
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = LengthError;
            fn try_from(bytes: &[u8]) -> Result<Self, LengthError> {
                Self::from_slice(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = [u8];
            fn deref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({} bytes)", stringify!($name), self.0.len())
            }
        }

        impl Encode for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                #[allow(clippy::cast_possible_truncation)] // length checked when built
                let len = self.0.len() as $prefix;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&self.0);
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name(r.$read()?.to_vec()))
            }
        }
    };
}

bounded_bytes!(
    /// A `ByteString` in the reference: at most 255 bytes after a one-byte length.
    ShortBytes,
    255,
    u8,
    short_bytes
);
bounded_bytes!(
    /// `Large` in the reference: at most 65,535 bytes after a two-byte big-endian length.
    Large,
    65535,
    u16,
    large_bytes
);

/// `Tail` in the reference: all the remaining bytes, with no length.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Tail(pub Vec<u8>);

impl fmt::Debug for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tail({} bytes)", self.0.len())
    }
}

impl Encode for Tail {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}
impl Decode for Tail {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Tail(r.rest().to_vec()))
    }
}

/// `Text`/`String` in the reference: UTF-8 in a [`ShortBytes`]. Building one longer than 255
/// bytes is refused by [`ShortBytes::new`]; this impl is for text that is known to fit.
impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.short_bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Utf8)
    }
}

/// `SystemTime` in the reference: whole seconds since the Unix epoch as an `Int64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub i64);

impl Encode for UnixTime {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}
impl Decode for UnixTime {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(UnixTime(r.i64()?))
    }
}

macro_rules! tuple_impls {
    ($($name:ident)+) => {
        impl<$($name: Encode),+> Encode for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
        }
        impl<$($name: Decode),+> Decode for ($($name,)+) {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(($($name::decode(r)?,)+))
            }
        }
    };
}
tuple_impls!(A B);
tuple_impls!(A B C);
tuple_impls!(A B C D);
tuple_impls!(A B C D E);
tuple_impls!(A B C D E F);

/// Appends a list with its one-byte count (`smpEncodeList`). Fails on more than 255 items.
pub fn encode_list<T: Encode>(items: &[T], out: &mut Vec<u8>) -> Result<(), LengthError> {
    let count = u8::try_from(items.len()).map_err(|_| LengthError {
        len: items.len(),
        max: 255,
    })?;
    out.push(count);
    for item in items {
        item.encode(out);
    }
    Ok(())
}

/// Reads a list with a one-byte count (`smpListP`).
pub fn decode_list<T: Decode>(r: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
    let count = r.u8()?;
    // Never pre-allocate from the count alone: it is untrusted, even if small.
    let mut items = Vec::new();
    for _ in 0..count {
        items.push(T::decode(r)?);
    }
    Ok(items)
}

/// Reads a `NonEmpty` list: a one-byte count that must not be zero.
pub fn decode_non_empty<T: Decode>(r: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
    if r.peek() == Some(0) {
        return Err(DecodeError::EmptyList);
    }
    decode_list(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian() {
        assert_eq!(42u16.to_bytes(), [0, 42]);
        assert_eq!(100_000u32.to_bytes(), [0, 1, 0x86, 0xa0]);
        assert_eq!(
            (-42i64).to_bytes(),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xd6]
        );
    }

    #[test]
    fn short_bytes_refuses_256() {
        assert!(ShortBytes::new(vec![0; 255]).is_ok());
        assert_eq!(
            ShortBytes::new(vec![0; 256]),
            Err(LengthError { len: 256, max: 255 })
        );
        assert!(Large::new(vec![0; 65536]).is_err());
    }

    #[test]
    fn maybe_rejects_other_tags() {
        assert_eq!(
            decode_all::<Option<ShortBytes>>(b"2"),
            Err(DecodeError::InvalidTag { what: "Maybe" })
        );
    }

    #[test]
    fn fixed_array_checks_length() {
        let mut r = Reader::new(&[3, 1, 2, 3]);
        assert_eq!(r.read::<[u8; 3]>(), Ok([1, 2, 3]));
        assert!(decode_all::<[u8; 2]>(&[3, 1, 2, 3]).is_err());
    }

    #[test]
    fn non_empty_rejects_zero() {
        let mut r = Reader::new(&[0]);
        assert_eq!(
            decode_non_empty::<ShortBytes>(&mut r),
            Err(DecodeError::EmptyList)
        );
    }

    #[test]
    fn trailing_bytes_rejected() {
        assert_eq!(
            decode_all::<u16>(&[0, 1, 2]),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn truncation_is_an_error() {
        assert_eq!(
            decode_all::<u32>(&[0, 1]),
            Err(DecodeError::UnexpectedEnd {
                needed: 2,
                available: 2
            })
        );
        assert!(decode_all::<ShortBytes>(&[5, 1]).is_err());
    }
}
