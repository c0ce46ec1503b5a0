//! Dev-only helpers shared by the test suites of the workspace.
//!
//! The reference team's golden bytes live outside this repository, in `../shared/vectors/`
//! beside the checkout (CI lays that folder read-only next to the clone). They are read in
//! place and never copied here. Where the folder is absent, every helper returns `None` after
//! printing a notice, and the tests that need it return early, so a fresh clone elsewhere still
//! passes.

use std::path::PathBuf;

pub mod proxy;
pub mod socks;

/// The environment variable that overrides where the reference vectors are looked for.
pub const VECTORS_ENV: &str = "SIMPLEX_VECTORS_DIR";

/// The folder with `reference-vectors.json` and `fixtures/`, if it is present.
///
/// Looks at `$SIMPLEX_VECTORS_DIR` first, then at `shared/vectors` beside the checkout.
pub fn vectors_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(VECTORS_ENV) {
        let dir = PathBuf::from(dir);
        if dir.join("reference-vectors.json").is_file() {
            return Some(dir);
        }
    }
    // crates/test-support -> workspace root -> its parent holds `shared/`.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidate = root.join("../../../shared/vectors");
    if candidate.join("reference-vectors.json").is_file() {
        return Some(candidate);
    }
    None
}

fn notice(what: &str) {
    eprintln!(
        "NOTICE: reference vectors not found (looked in ${VECTORS_ENV} and ../shared/vectors); \
         skipping {what}"
    );
}

/// The parsed `reference-vectors.json`, or `None` (with a notice on stderr) when absent.
///
/// `what` names the test for the notice.
pub fn reference_vectors(what: &str) -> Option<serde_json::Value> {
    let Some(dir) = vectors_dir() else {
        notice(what);
        return None;
    };
    let text = std::fs::read_to_string(dir.join("reference-vectors.json"))
        .unwrap_or_else(|e| panic!("reading reference-vectors.json: {e}"));
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("parsing reference-vectors.json: {e}")),
    )
}

/// The path of a file directly in the vectors folder (e.g. `"reference-links.tsv"`), or `None`
/// (with a notice) when the folder is absent.
pub fn vector_file(name: &str, what: &str) -> Option<PathBuf> {
    let Some(dir) = vectors_dir() else {
        notice(what);
        return None;
    };
    let path = dir.join(name);
    assert!(path.is_file(), "{name} missing from {}", dir.display());
    Some(path)
}

/// The path of a file under `fixtures/` (e.g. `"ca.crt"`, `"ed25519/server.key"`), or `None`
/// (with a notice) when the vectors folder is absent.
pub fn fixture(name: &str, what: &str) -> Option<PathBuf> {
    let Some(dir) = vectors_dir() else {
        notice(what);
        return None;
    };
    let path = dir.join("fixtures").join(name);
    assert!(
        path.is_file(),
        "fixture {name} missing from {}",
        dir.display()
    );
    Some(path)
}

/// Reads a lowercase or uppercase hex string from a vector field, panicking with the field's
/// name when it is not hex (the vectors are trusted test input).
pub fn hex_field(v: &serde_json::Value, field: &str) -> Vec<u8> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} is not a string: {v}"));
    hex::decode(s).unwrap_or_else(|e| panic!("vector field {field} is not hex: {e}"))
}

/// Reads a string field of a vector, panicking with its name when absent.
pub fn str_field<'a>(v: &'a serde_json::Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} is not a string: {v}"))
}
