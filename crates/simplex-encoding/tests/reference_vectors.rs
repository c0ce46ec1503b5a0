//! Known-answer tests against the reference team's golden bytes (`encoding`,
//! `encoding_negative` and `padding` sections of `../shared/vectors/reference-vectors.json`).

use serde_json::Value;
use simplex_encoding::{
    decode_all, decode_list, decode_non_empty, encode_list, pad, pad_lazy, unpad, unpad_lazy,
    Encode, Large, Reader, ShortBytes, Tail,
};
use test_support::{hex_field, reference_vectors, str_field};

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn usize_field(v: &Value, field: &str) -> usize {
    let n = v[field].as_u64().expect("a number field");
    usize::try_from(n).expect("fits in usize")
}

fn vectors() -> Option<Value> {
    reference_vectors("simplex-encoding reference vectors")
}

fn utf8_list(v: &Value) -> Vec<Vec<u8>> {
    v["value_utf8"]
        .as_array()
        .expect("value_utf8 list")
        .iter()
        .map(|s| s.as_str().expect("string item").as_bytes().to_vec())
        .collect()
}

/// Encodes the vector's value as its type says and returns the bytes, checking that decoding
/// them gives the value back.
fn encode_case(case: &Value) -> Vec<u8> {
    let ty = str_field(case, "type");
    match ty {
        "Word16" => {
            let v = u16::try_from(case["value"].as_u64().expect("u64")).expect("u16");
            let b = v.to_bytes();
            assert_eq!(decode_all::<u16>(&b), Ok(v));
            b
        }
        "Word32" => {
            let v = u32::try_from(case["value"].as_u64().expect("u64")).expect("u32");
            let b = v.to_bytes();
            assert_eq!(decode_all::<u32>(&b), Ok(v));
            b
        }
        "Int64" => {
            let v: i64 = str_field(case, "value").parse().expect("i64");
            let b = v.to_bytes();
            assert_eq!(decode_all::<i64>(&b), Ok(v));
            b
        }
        "ByteString" => {
            let v = ShortBytes::new(str_field(case, "value_utf8").as_bytes()).expect("short");
            let b = v.to_bytes();
            assert_eq!(decode_all::<ShortBytes>(&b).as_ref(), Ok(&v));
            b
        }
        "ByteString(255 x 0x61)" => {
            let v = ShortBytes::new(vec![0x61; 255]).expect("255 fits");
            let b = v.to_bytes();
            assert_eq!(b.len(), usize_field(case, "len"));
            assert_eq!(decode_all::<ShortBytes>(&b).as_ref(), Ok(&v));
            b
        }
        "String/Text (utf8 ByteString)" => {
            let s = str_field(case, "value");
            let b = ShortBytes::new(s.as_bytes()).expect("short").to_bytes();
            assert_eq!(decode_all::<String>(&b).as_deref(), Ok(s));
            b
        }
        "Large" => {
            let v = Large::new(str_field(case, "value_utf8").as_bytes()).expect("large");
            let b = v.to_bytes();
            assert_eq!(decode_all::<Large>(&b).as_ref(), Ok(&v));
            b
        }
        "Large(300 x 0x62) prefix" => {
            let v = Large::new(vec![0x62; 300]).expect("fits");
            let b = v.to_bytes();
            assert_eq!(b.len(), usize_field(case, "len"));
            assert_eq!(decode_all::<Large>(&b).as_ref(), Ok(&v));
            b
        }
        "Tail" => {
            let v = Tail(str_field(case, "value_utf8").as_bytes().to_vec());
            let b = v.to_bytes();
            assert_eq!(decode_all::<Tail>(&b), Ok(v));
            b
        }
        "Bool" => {
            let v = case["value"].as_bool().expect("bool");
            let b = v.to_bytes();
            assert_eq!(decode_all::<bool>(&b), Ok(v));
            b
        }
        "Maybe ByteString" => {
            let v = case["value_utf8"]
                .as_str()
                .map(|s| ShortBytes::new(s.as_bytes()).expect("short"));
            let b = v.to_bytes();
            assert_eq!(decode_all::<Option<ShortBytes>>(&b), Ok(v));
            b
        }
        "[ByteString] (smpEncodeList)" => {
            let items: Vec<ShortBytes> = utf8_list(case)
                .into_iter()
                .map(|b| ShortBytes::new(b).expect("short"))
                .collect();
            let mut b = Vec::new();
            encode_list(&items, &mut b).expect("few items");
            let mut r = Reader::new(&b);
            assert_eq!(decode_list::<ShortBytes>(&mut r), Ok(items));
            assert!(r.is_empty());
            b
        }
        "NonEmpty ByteString" => {
            let items: Vec<ShortBytes> = utf8_list(case)
                .into_iter()
                .map(|b| ShortBytes::new(b).expect("short"))
                .collect();
            let mut b = Vec::new();
            encode_list(&items, &mut b).expect("few items");
            assert_eq!(
                decode_non_empty::<ShortBytes>(&mut Reader::new(&b)),
                Ok(items)
            );
            b
        }
        "NonEmpty Large" => {
            let items: Vec<Large> = utf8_list(case)
                .into_iter()
                .map(|b| Large::new(b).expect("large"))
                .collect();
            let mut b = Vec::new();
            encode_list(&items, &mut b).expect("few items");
            assert_eq!(decode_non_empty::<Large>(&mut Reader::new(&b)), Ok(items));
            b
        }
        "(Word16, ByteString) tuple = concat" => {
            // The vector is (3, [1,2,3,4]) judging by its bytes; check that reading gives a
            // value that writes back identically.
            let bytes = hex_field(case, "hex");
            let (n, s) = decode_all::<(u16, ShortBytes)>(&bytes).expect("tuple decodes");
            (n, s).to_bytes()
        }
        other => panic!("vector type {other} is not covered by this test"),
    }
}

#[test]
fn encoding_vectors() {
    let Some(v) = vectors() else { return };
    let cases = v["encoding"].as_array().expect("encoding list");
    assert!(!cases.is_empty());
    for case in cases {
        let ours = encode_case(case);
        let expected = str_field(case, "hex");
        if let Some(prefix) = expected.strip_suffix("...") {
            assert!(
                hex::encode(&ours).starts_with(prefix),
                "{}: {} does not start with {prefix}",
                case["type"],
                hex::encode(&ours)
            );
        } else if case.get("len").is_some() {
            // A "prefix" vector: the hex is the first bytes, the length is the total.
            assert!(hex::encode(&ours).starts_with(expected), "{}", case["type"]);
        } else {
            assert_eq!(hex::encode(&ours), expected, "{}", case["type"]);
        }
    }
}

#[test]
fn encoding_negative_vectors() {
    let Some(v) = vectors() else { return };
    for case in v["encoding_negative"].as_array().expect("list") {
        let what = str_field(case, "what");
        assert!(what.contains("Maybe"), "uncovered negative vector: {what}");
        assert!(case["rejected"].as_bool().expect("bool"));
        assert!(decode_all::<Option<ShortBytes>>(b"\x32\x00").is_err());
    }
}

#[test]
fn padding_vectors() {
    let Some(v) = vectors() else { return };
    let p = &v["padding"];

    let c = &p["strict_pad"];
    let msg = str_field(c, "msg_utf8").as_bytes();
    let padded = pad(msg, usize_field(c, "padded_len")).expect("fits");
    assert_eq!(hex::encode(&padded), str_field(c, "hex"));
    assert_eq!(unpad(&padded), Ok(msg));

    let c = &p["strict_pad_256"];
    let msg = str_field(c, "msg_utf8").as_bytes();
    let padded = pad(msg, usize_field(c, "padded_len")).expect("fits");
    assert_eq!(sha256_hex(&padded), str_field(c, "sha256"));
    assert!(hex::encode(&padded).starts_with(str_field(c, "head_hex")));

    let c = &p["lazy_pad"];
    let msg = str_field(c, "msg_utf8").as_bytes();
    let padded = pad_lazy(msg, c["padded_len"].as_u64().expect("n")).expect("fits");
    assert_eq!(hex::encode(&padded), str_field(c, "hex"));
    assert_eq!(unpad_lazy(&padded), Ok(msg));

    for name in ["xftp_block_16384", "empty_block_16384"] {
        let c = &p[name];
        let msg = str_field(c, "msg_utf8").as_bytes();
        let padded = pad(msg, usize_field(c, "len")).expect("fits");
        assert_eq!(sha256_hex(&padded), str_field(c, "sha256"), "{name}");
        assert!(hex::encode(&padded).starts_with(str_field(c, "head_hex")));
        assert_eq!(padded.last(), Some(&0x23));
        assert_eq!(unpad(&padded), Ok(msg));
    }
}
