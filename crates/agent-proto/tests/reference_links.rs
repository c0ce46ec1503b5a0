//! Every link of `reference-links.tsv` (the reference's own link tests: full and short links,
//! queue URIs, host syntax), read in place from the shared vectors folder, goes through the
//! function the `link` example uses: a re-encoding must equal the reference's byte for byte,
//! `PARSE` must decode and `REJECT` must not.

use agent_proto::{reencode_link, ConnectionLink, ShortLink};
use simplex_encoding::{decode_all, Encode};

/// The number of cases in the file: none may be skipped.
const CASES: usize = 107;

#[test]
fn every_reference_link_re_encodes_as_the_reference_does() {
    let Some(path) = test_support::vector_file(
        "reference-links.tsv",
        "every_reference_link_re_encodes_as_the_reference_does",
    ) else {
        return;
    };
    let text = std::fs::read_to_string(&path).expect("read reference-links.tsv");
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, input, expected] = fields[..] else {
            panic!("not three tab-separated fields: {line}");
        };
        checked += 1;
        let got = reencode_link(input);
        let ok = match expected {
            "REJECT" => got.is_err(),
            "PARSE" => got.is_ok(),
            want => got.as_deref() == Ok(want),
        };
        if !ok {
            failures.push(format!("{name}\n  want {expected}\n  got  {got:?}"));
        }
        // A short link's canonical form also survives its binary form (scheme aside).
        if let Ok(ConnectionLink::Short(l)) = ConnectionLink::parse(input.as_bytes()) {
            let back: ShortLink = decode_all(&l.to_bytes()).expect("binary round trip");
            assert_eq!(back.to_simplex_scheme(), l.to_simplex_scheme(), "{name}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, CASES, "cases in {}", path.display());
}
