//! The compressed body format of chat version 8 (`pqEncryptionCompressionVersion`): `X`,
//! then a count byte and that many items, each `0` + a 1-byte-length string kept as it is
//! (`Passthrough`, the reference's items of up to 180 bytes) or `1` + a 2-byte-length zstd
//! frame (`Compressed`); every item is a body of its own (a JSON object or array). The
//! reference compresses what it sends on connections of version 8 and up; it decodes plain
//! JSON too, so this client sends plain JSON and only decodes this format.
//!
//! A zstd frame must declare its decompressed size and it must be at most
//! [`MAX_DECOMPRESSED`] (the reference's `limitDecompress1` also refuses frames without a
//! size): a small body cannot expand into a large allocation.

use std::io::Read;

use ruzstd::decoding::StreamingDecoder;

use super::ProtocolError;

/// The largest decompressed item accepted: the reference's largest chat message
/// (`maxEncodedMsgLength`, 15,602 bytes) with room to spare.
pub const MAX_DECOMPRESSED: u64 = 65_536;

fn bad(why: &str) -> ProtocolError {
    ProtocolError::Compressed(why.to_owned())
}

/// The bodies in a compressed batch (`s` without its `X`).
pub fn decode(s: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let (&count, mut rest) = s.split_first().ok_or_else(|| bad("no item count"))?;
    if count == 0 {
        return Err(bad("no items"));
    }
    let mut out = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let (&tag, r) = rest.split_first().ok_or_else(|| bad("no item tag"))?;
        let (len, r) = match tag {
            b'0' => {
                let (&n, r) = r.split_first().ok_or_else(|| bad("no length"))?;
                (usize::from(n), r)
            }
            b'1' => match r {
                [hi, lo, r @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), r),
                _ => return Err(bad("no length")),
            },
            _ => return Err(bad("unknown item tag")),
        };
        if r.len() < len {
            return Err(bad("item shorter than its length"));
        }
        let (item, r) = r.split_at(len);
        out.push(if tag == b'0' {
            item.to_vec()
        } else {
            decompress(item)?
        });
        rest = r;
    }
    if !rest.is_empty() {
        return Err(bad("bytes after the last item"));
    }
    Ok(out)
}

fn decompress(frame: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let mut d = StreamingDecoder::new(frame).map_err(|e| bad(&e.to_string()))?;
    let size = d.decoder.content_size();
    if size == 0 || size > MAX_DECOMPRESSED {
        return Err(bad("decompressed size not given or too large"));
    }
    let mut out = Vec::new();
    (&mut d)
        .take(MAX_DECOMPRESSED)
        .read_to_end(&mut out)
        .map_err(|e| bad(&e.to_string()))?;
    if out.len() as u64 != size {
        return Err(bad("decompressed size differs from the frame's"));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes hex (test data).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).expect("hex pair"), 16).expect("hex"))
            .collect()
    }

    /// Frames made by libzstd (the reference's compressor) at level 3, as the reference
    /// compresses: with the decompressed size in the frame header.
    /// `{"event":"x.msg.new","params":{"content":{"type":"text","text":"abab…"}}}`, 400
    /// `ab`s (868 bytes).
    const LONG: &str = "28b52ffd646402450200b4037b226576656e74223a22782e6d73672e6e6577222c22706172616d73223a7b22636f6e747b2274797065223a2274657874222c3a226162227d7d7d03001b73955099ca7129322a282ff9";
    /// 65,537 zero bytes: one more than the limit.
    const BIG: &str = "28b52ffd6401ff5500001000000100fc7f1d6001f3b3ecf6";
    /// 100 `a`s.
    const A100: &str = "28b52ffd246445000010616101003f012cb3cfdeb1";

    pub(crate) fn item(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if tag == b'0' {
            v.push(u8::try_from(body.len()).expect("short item"));
        } else {
            v.extend(u16::try_from(body.len()).expect("item").to_be_bytes());
        }
        v.extend(body);
        v
    }

    #[test]
    fn passthrough_and_zstd_items_decode() {
        let short = br#"{"event":"x.ok","params":{}}"#;
        let long = format!(
            r#"{{"event":"x.msg.new","params":{{"content":{{"type":"text","text":"{}"}}}}}}"#,
            "ab".repeat(400)
        );
        let mut body = vec![2];
        body.extend(item(b'0', short));
        body.extend(item(b'1', &hex(LONG)));
        assert_eq!(
            decode(&body).expect("decodes"),
            vec![short.to_vec(), long.into_bytes()]
        );
        assert_eq!(
            decode(&[vec![1], item(b'1', &hex(A100))].concat()).expect("a100"),
            vec![vec![b'a'; 100]]
        );
    }

    #[test]
    fn bad_batches_are_errors() {
        let frame = hex(A100);
        for b in [
            vec![],
            vec![0],
            vec![1],
            vec![1, b'2', 0],
            vec![1, b'0', 5, b'a'],
            [vec![2], item(b'0', b"{}")].concat(),
            [vec![1], item(b'0', b"{}"), vec![0]].concat(),
            [vec![1], item(b'1', b"not zstd")].concat(),
            [
                vec![1],
                item(b'1', frame.get(..frame.len() - 2).expect("frame")),
            ]
            .concat(),
            // A frame that would expand past the limit: refused before decompressing.
            [vec![1], item(b'1', &hex(BIG))].concat(),
        ] {
            assert!(decode(&b).is_err(), "{b:?}");
        }
        // A frame without its size (as ruzstd's encoder writes them) is refused too.
        let no_size = ruzstd::encoding::compress_to_vec(
            &[b'a'; 100][..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert!(decode(&[vec![1], item(b'1', &no_size)].concat()).is_err());
    }
}
