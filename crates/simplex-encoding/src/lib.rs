//! The reference implementation's encodings, byte for byte.
//!
//! Owns three things every upper layer builds on:
//! - [`binary`]: the length-prefixed binary encoding of SMP and the agent protocol
//!   (`smpEncode` in the reference's `Encoding.hs`), through the [`Encode`] and [`Decode`] traits
//!   and the [`Reader`] cursor;
//! - [`string`]: the textual encoding used in addresses and links (`strEncode` in
//!   `Encoding/String.hs`): base64url, decimal numbers, comma lists, query strings;
//! - [`pad`]: padding messages to a fixed size with a length prefix and `#` fill.
//!
//! No I/O, no allocation beyond the output buffers handed in, and no panics on any input:
//! every decoder returns a [`DecodeError`].

pub mod binary;
pub mod pad;
pub mod string;

pub use binary::{
    decode_all, decode_list, decode_non_empty, encode_list, Decode, DecodeError, Encode, Large,
    LengthError, Reader, ShortBytes, Tail, UnixTime,
};
pub use pad::{pad, pad_into, pad_lazy, unpad, unpad_lazy, PadError};
