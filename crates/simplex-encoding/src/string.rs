//! The string encoding (`strEncode` / `strP` in the reference's `Encoding/String.hs`), used
//! in server addresses, queue URIs and connection links.
//!
//! Byte strings are base64url *with* `=` padding when printed; the parser accepts them with
//! or without padding. Numbers are decimal. Lists are comma-separated. Version ranges print as
//! `v` or `min-max`. Query strings are `k=v&k2=v2` with percent-escaping.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::binary::DecodeError;

/// base64url with `=` padding, as the reference prints byte strings.
pub fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// True for the bytes a base64url body may contain (before any `=` padding).
pub fn is_base64url_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Decodes base64url, with or without `=` padding. Empty input is rejected, as by the
/// reference's `base64urlP`.
pub fn base64url_decode(s: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let body_len = s
        .iter()
        .position(|&b| !is_base64url_char(b))
        .unwrap_or(s.len());
    if body_len == 0 {
        return Err(DecodeError::Invalid("base64url: empty"));
    }
    let (body, pad) = s.split_at(body_len);
    if !pad.iter().all(|&b| b == b'=') || pad.len() > 2 {
        return Err(DecodeError::Invalid("base64url: bad character or padding"));
    }
    if !pad.is_empty() && s.len() % 4 != 0 {
        return Err(DecodeError::Invalid("base64url: bad padding"));
    }
    URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| DecodeError::Invalid("base64url"))
}

/// Reads base64url from the start of `s` (letters, digits, `-`, `_`, then any `=`), returning
/// the decoded bytes and the number of input bytes consumed.
pub fn base64url_prefix(s: &[u8]) -> Result<(Vec<u8>, usize), DecodeError> {
    let body = s
        .iter()
        .position(|&b| !is_base64url_char(b))
        .unwrap_or(s.len());
    let pad = s[body..].iter().take_while(|&&b| b == b'=').count();
    let used = body + pad;
    Ok((base64url_decode(&s[..used])?, used))
}

/// A decimal `Word16`, as `strP` reads it: one or more ASCII digits that fit.
pub fn parse_u16(s: &[u8]) -> Result<u16, DecodeError> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(DecodeError::Invalid("decimal number"));
    }
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(DecodeError::Invalid("decimal number"))
}

/// Escapes a query-string key or value: everything but `A-Z a-z 0-9 - _ . ~` as `%XX`.
pub fn percent_encode(s: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// Undoes [`percent_encode`]; `+` reads as a space, and a malformed escape is kept as it is
/// (the lenient behaviour of the reference's query parser).
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (
                    s.get(i + 1).copied().and_then(hex),
                    s.get(i + 2).copied().and_then(hex),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Query-string parameters in their order (`QueryStringParams`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryString {
    /// `(name, value)` pairs, unescaped.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

impl QueryString {
    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Appends a parameter.
    pub fn push(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.params.push((name.as_bytes().to_vec(), value.into()));
    }

    /// Parses `k=v&k2=v2` (also `;` as a separator, a leading `?` ignored, a key without `=`
    /// has an empty value), unescaping both sides.
    pub fn parse(s: &[u8]) -> QueryString {
        let s = s.strip_prefix(b"?").unwrap_or(s);
        let params = s
            .split(|&b| b == b'&' || b == b';')
            .filter(|part| !part.is_empty())
            .map(|part| match part.iter().position(|&b| b == b'=') {
                Some(i) => (percent_decode(&part[..i]), percent_decode(&part[i + 1..])),
                None => (percent_decode(part), Vec::new()),
            })
            .collect();
        QueryString { params }
    }

    /// Prints with every key and value escaped (`QEscape`).
    pub fn encode(&self) -> String {
        self.encode_with(true)
    }

    /// Prints with values as they are and keys escaped (`QNoEscaping`), for values that are
    /// already URI-safe, such as comma lists of server addresses.
    pub fn encode_unescaped_values(&self) -> String {
        self.encode_with(false)
    }

    fn encode_with(&self, escape_values: bool) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            percent_encode(k, &mut out);
            out.push('=');
            if escape_values {
                percent_encode(v, &mut out);
            } else {
                out.push_str(&String::from_utf8_lossy(v));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_padded_and_not() {
        assert_eq!(base64url_encode(b"ab"), "YWI=");
        assert_eq!(base64url_decode(b"YWI=").expect("padded"), b"ab");
        assert_eq!(base64url_decode(b"YWI").expect("unpadded"), b"ab");
        assert!(base64url_decode(b"").is_err());
        assert!(base64url_decode(b"YW=I").is_err());
        assert!(base64url_decode(b"Y+I=").is_err());
    }

    #[test]
    fn base64url_prefix_stops_at_separator() {
        let (v, n) = base64url_prefix(b"YWI=@host").expect("prefix");
        assert_eq!((v.as_slice(), n), (&b"ab"[..], 4));
    }

    #[test]
    fn query_string_round_trip() {
        let q = QueryString::parse(b"v=1-4&smp=a%2Cb&x");
        assert_eq!(q.get("v"), Some(&b"1-4"[..]));
        assert_eq!(q.get("smp"), Some(&b"a,b"[..]));
        assert_eq!(q.get("x"), Some(&b""[..]));
        assert_eq!(q.encode(), "v=1-4&smp=a%2Cb&x=");
        assert_eq!(q.encode_unescaped_values(), "v=1-4&smp=a,b&x=");
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_u16(b"5223"), Ok(5223));
        assert!(parse_u16(b"65536").is_err());
        assert!(parse_u16(b"-1").is_err());
        assert!(parse_u16(b"").is_err());
    }
}
