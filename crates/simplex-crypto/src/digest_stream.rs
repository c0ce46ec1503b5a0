//! Incremental SHA-256 and SHA-512, for digests of data that arrives in pieces (XFTP's chunk
//! digests and whole-file digests, `LC.sha256Hash`/`LC.sha512Hash` over lazy bytes in the
//! reference). Any split of the input gives the one-shot digest. OpenSSL's, like the one-shot
//! [`crate::sha256`] and [`crate::sha512`].

/// An incremental SHA-256.
#[derive(Clone)]
pub struct Sha256Stream(openssl::sha::Sha256);

impl std::fmt::Debug for Sha256Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256Stream(..)")
    }
}

impl Default for Sha256Stream {
    fn default() -> Self {
        Sha256Stream(openssl::sha::Sha256::new())
    }
}

impl Sha256Stream {
    /// An empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        self.0.finish()
    }
}

/// An incremental SHA-512.
#[derive(Clone)]
pub struct Sha512Stream(openssl::sha::Sha512);

impl std::fmt::Debug for Sha512Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha512Stream(..)")
    }
}

impl Default for Sha512Stream {
    fn default() -> Self {
        Sha512Stream(openssl::sha::Sha512::new())
    }
}

impl Sha512Stream {
    /// An empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 64] {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{sha256, sha512};

    #[test]
    fn any_split_gives_the_one_shot_digest() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for step in [1, 13, 64, 127, 128, 4096, 10_000] {
            let mut a = Sha256Stream::new();
            let mut b = Sha512Stream::new();
            for piece in data.chunks(step) {
                a.update(piece);
                b.update(piece);
            }
            assert_eq!(a.finish(), sha256(&data), "step {step}");
            assert_eq!(b.finish(), sha512(&data), "step {step}");
        }
        assert_ne!(Sha256Stream::new().finish(), sha256(b"x"));
    }
}
