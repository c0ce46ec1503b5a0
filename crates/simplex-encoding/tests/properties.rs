//! Property tests of the binary encoding's primitives: every value round-trips, and every
//! strict prefix of an encoding fails to decode with an error (never a panic).

use proptest::prelude::*;
use simplex_encoding::{decode_all, Decode, Encode, Large, ShortBytes, Tail, UnixTime};

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: &T) {
    let bytes = v.to_bytes();
    let back = decode_all::<T>(&bytes).expect("own encoding decodes");
    assert_eq!(&back, v);
    assert_eq!(back.to_bytes(), bytes);
}

fn prefixes_fail<T: Encode + Decode + std::fmt::Debug>(v: &T) {
    let bytes = v.to_bytes();
    for n in 0..bytes.len() {
        assert!(
            decode_all::<T>(&bytes[..n]).is_err(),
            "prefix {n} of {v:?} decoded"
        );
    }
}

proptest! {
    #[test]
    fn words(a: u16, b: u32, c: i64) {
        round_trip(&a); prefixes_fail(&a);
        round_trip(&b); prefixes_fail(&b);
        round_trip(&c); prefixes_fail(&c);
        round_trip(&UnixTime(c));
    }

    #[test]
    fn byte_strings(s in proptest::collection::vec(any::<u8>(), 0..=255),
                    l in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let s = ShortBytes::new(s).expect("<= 255");
        round_trip(&s); prefixes_fail(&s);
        let l = Large::new(l).expect("< 65536");
        round_trip(&l); prefixes_fail(&l);
        round_trip(&Tail(l.into_vec()));
    }

    #[test]
    fn composites(a: Option<bool>, b in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), n: u16) {
        round_trip(&a); prefixes_fail(&a);
        let b = b.map(|b| ShortBytes::new(b).expect("short"));
        round_trip(&b); prefixes_fail(&b);
        let t = (n, b.clone(), a);
        round_trip(&t); prefixes_fail(&t);
    }

    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_all::<(Option<ShortBytes>, Large, bool, i64)>(&bytes);
        let _ = decode_all::<[u8; 24]>(&bytes);
        let _ = simplex_encoding::unpad(&bytes);
        let _ = simplex_encoding::unpad_lazy(&bytes);
        let _ = simplex_encoding::string::base64url_decode(&bytes);
        let _ = simplex_encoding::string::QueryString::parse(&bytes);
    }
}
