//! The box keys of this session's `cbAuthenticate` (commands authorized with X25519 queue
//! keys, SMP v7+), kept per queue key: the X25519 agreement with the relay's session key
//! is the costly part of an authenticator (~40 µs against ~1 µs for the rest of a small
//! command's), and a queue's recipient authorizes every `ACK` with the same key.

use std::collections::HashMap;
use std::sync::Mutex;

use simplex_crypto::nacl::{cb_authenticate_with_key, CbAuthenticator, CbKey, CbNonce};
use simplex_crypto::{dh_x25519, PrivateKeyX25519, PublicKeyX25519};

/// Keys kept at most; all are dropped when one more comes (a client subscribing many
/// queues at once starts over, as the relay's own cache does).
const MAX_KEYS: usize = 1024;

/// The session's box keys by queue key ([`PrivateKeyX25519::key_id`]).
#[derive(Default)]
pub(crate) struct AuthKeys {
    keys: Mutex<HashMap<[u8; 32], CbKey>>,
}

impl AuthKeys {
    /// `cbAuthenticate(server, own, nonce, msg)`, the box key taken from the cache.
    pub(crate) fn authenticate(
        &self,
        server: &PublicKeyX25519,
        own: &PrivateKeyX25519,
        nonce: &CbNonce,
        msg: &[u8],
    ) -> CbAuthenticator {
        let id = own.key_id();
        let kept = self.keys.lock().ok().and_then(|k| k.get(&id).cloned());
        let key = match kept {
            Some(k) => k,
            None => {
                let k = CbKey::from_dh(&dh_x25519(server, own));
                if let Ok(mut keys) = self.keys.lock() {
                    if keys.len() >= MAX_KEYS {
                        keys.clear();
                    }
                    keys.insert(id, k.clone());
                }
                k
            }
        };
        cb_authenticate_with_key(&key, nonce, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_crypto::nacl::{cb_authenticate, cb_verify};

    /// The cached key gives the authenticator of `cb_authenticate`, the first time and
    /// after; another queue key gets its own (the relay's check fails with the wrong one).
    #[test]
    fn cached_authenticators_are_the_plain_ones() {
        let mut rng = rand::rngs::OsRng;
        let server = PrivateKeyX25519::generate(&mut rng);
        let (one, two) = (
            PrivateKeyX25519::generate(&mut rng),
            PrivateKeyX25519::generate(&mut rng),
        );
        let keys = AuthKeys::default();
        for i in 0..3u8 {
            let nonce = CbNonce([i; 24]);
            let msg = [i; 100];
            for own in [&one, &two] {
                let got = keys.authenticate(&server.public_key(), own, &nonce, &msg);
                let want = cb_authenticate(&server.public_key(), own, &nonce, &msg);
                assert_eq!(got.as_bytes(), want.as_bytes());
                assert!(cb_verify(&own.public_key(), &server, &nonce, &got, &msg));
            }
            let two_s = keys.authenticate(&server.public_key(), &two, &nonce, &msg);
            assert!(!cb_verify(&one.public_key(), &server, &nonce, &two_s, &msg));
        }
        assert_eq!(keys.keys.lock().expect("lock").len(), 2);
    }
}
