//! Checking a request's authorization: the keys it must be checked against (a cheap store
//! look-up) and the costly verification, with dummy keys so that `ERR AUTH` costs the same,
//! and the per-session cache of X25519 box keys.

use std::collections::HashMap;

use simplex_crypto::nacl::{cb_verify, cb_verify_with_key, CbKey, CbNonce};
use simplex_crypto::{
    dh_x25519, verify, PublicAuthKey, PublicKeyEd25519, PublicKeyX25519, PublicSignKey,
};

use super::{Authorization, Cmd, Core, Request, Session};

/// A valid Ed25519 public key to verify against when the queue or key is missing, so the
/// failure takes the same time (the base point's encoding).
const DUMMY_ED25519: [u8; 32] = [
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
];

/// The X25519 public key verified against when the queue or key is missing: X25519 costs
/// the same for every public key, so a fixed one (the base point, `u = 9`) makes `ERR AUTH`
/// cost what a real key costs, without deriving a dummy public key per command.
const DUMMY_X25519: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 9;
    k
};

/// Box keys (HSalsa20 of the X25519 agreement with the session key) of the X25519 auth keys
/// that authorized a command on this session, so that repeated `SEND`/`ACK` skip the
/// agreement.
///
/// Only keys that verified are kept: a hit means this session already proved it holds the
/// key's secret, so the shorter time tells the client nothing it does not know. A missing
/// queue, a wrong key or any first use costs the full agreement, as without the cache. The
/// session key is fixed for a session, so the public auth key alone identifies the box key.
#[derive(Debug, Default)]
pub struct AuthKeyCache {
    keys: HashMap<[u8; 32], CbKey>,
}

/// Keys kept per session at most; the cache is emptied when it fills (a client with more
/// active queues than this pays the agreement again, never more memory).
const AUTH_KEY_CACHE_MAX: usize = 4096;

impl AuthKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys kept.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is kept.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn verify_with(
    key: Option<&PublicAuthKey>,
    session: &Session,
    req: &Request,
    cache: Option<&mut AuthKeyCache>,
) -> bool {
    let signed = super::service::key_signed_bytes(session, req);
    let signed = signed.as_ref();
    match &req.auth {
        Authorization::None => false,
        Authorization::Signature(sig) => match key.and_then(PublicAuthKey::as_sign_key) {
            Some(k) => verify(&k, sig, signed),
            None => {
                if let Ok(k) = PublicKeyEd25519::from_raw(&DUMMY_ED25519) {
                    let _ = verify(&PublicSignKey::Ed25519(k), sig, signed);
                }
                false
            }
        },
        Authorization::Authenticator(a) => {
            let (Some(srv), Ok(nonce)) =
                (&session.server_dh_key, CbNonce::from_slice(&req.corr_id))
            else {
                return false;
            };
            let real = match key {
                Some(PublicAuthKey::X25519(k)) => Some(k),
                _ => None,
            };
            let Some(real) = real else {
                if let Ok(dummy) = PublicKeyX25519::from_raw(&DUMMY_X25519) {
                    let _ = cb_verify(&dummy, srv, &nonce, a, signed);
                }
                return false;
            };
            let mut raw = [0u8; 32];
            raw.copy_from_slice(real.as_raw());
            if let Some(k) = cache.as_deref().and_then(|c| c.keys.get(&raw)) {
                return cb_verify_with_key(k, &nonce, a, signed);
            }
            let cb_key = CbKey::from_dh(&dh_x25519(real, srv));
            let ok = cb_verify_with_key(&cb_key, &nonce, a, signed);
            if let (true, Some(c)) = (ok, cache) {
                if c.keys.len() >= AUTH_KEY_CACHE_MAX {
                    c.keys.clear();
                }
                c.keys.insert(raw, cb_key);
            }
            ok
        }
    }
}

/// The keys a request's authorization is checked against ([`Core::auth_check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    /// No authorization needed (`PING`).
    Nothing,
    /// Must carry no authorization (`SEND` to a queue not secured yet).
    Unsigned,
    /// Must be authorized by one of these keys; none (a missing queue, a refused `SKEY`)
    /// fails after verifying against a dummy key, so that `ERR AUTH` costs the same.
    Keys(Vec<PublicAuthKey>),
    /// Must be signed by the session's service key (`SUBS`, `NSUBS`; v16).
    Service,
}

impl AuthCheck {
    /// Verifies the request against the keys (the costly part; needs no store).
    pub fn verify(&self, session: &Session, req: &Request) -> bool {
        self.verify_inner(session, req, None)
    }

    /// [`AuthCheck::verify`] with the session's cache of X25519 box keys (see
    /// [`AuthKeyCache`]): the same answers, without the X25519 agreement for a key that
    /// already verified on this session.
    pub fn verify_cached(
        &self,
        session: &Session,
        req: &Request,
        cache: &mut AuthKeyCache,
    ) -> bool {
        self.verify_inner(session, req, Some(cache))
    }

    fn verify_inner(
        &self,
        session: &Session,
        req: &Request,
        mut cache: Option<&mut AuthKeyCache>,
    ) -> bool {
        match self {
            AuthCheck::Nothing => true,
            AuthCheck::Service => super::service::verify_service_command(session, req),
            AuthCheck::Unsigned => req.auth == Authorization::None,
            AuthCheck::Keys(keys) if keys.is_empty() => {
                verify_with(None, session, req, None);
                false
            }
            AuthCheck::Keys(keys) => {
                // Every key is tried, so that the time does not tell which one matched.
                let mut ok = false;
                for k in keys {
                    ok |= verify_with(Some(k), session, req, cache.as_deref_mut());
                }
                ok
            }
        }
    }
}

impl Core {
    /// What the request's authorization must be checked against: a cheap look-up, to be done
    /// under the store lock, so that the costly [`AuthCheck::verify`] can run outside it (the
    /// reference, too, verifies a whole batch before processing any of it).
    pub fn auth_check(&self, req: &Request) -> AuthCheck {
        let Some(party) = req.cmd.party() else {
            return match &req.cmd {
                Cmd::New { rcv_auth_key, .. } => AuthCheck::Keys(vec![rcv_auth_key.clone()]),
                Cmd::Subs | Cmd::NSubs => AuthCheck::Service,
                _ => AuthCheck::Nothing,
            };
        };
        match (
            &req.cmd,
            self.queues.find_meta(party, &req.entity_id).map(|(q, _)| q),
        ) {
            (_, None) => AuthCheck::Keys(Vec::new()),
            (Cmd::Send { .. }, Some(q)) => match &q.sender_key {
                None => AuthCheck::Unsigned,
                Some(k) => AuthCheck::Keys(vec![k.clone()]),
            },
            (Cmd::SKey(k) | Cmd::LKey(k), Some(q)) => {
                let allowed =
                    q.sender_can_secure() && q.sender_key.as_ref().is_none_or(|sk| sk == k);
                AuthCheck::Keys(if allowed { vec![k.clone()] } else { Vec::new() })
            }
            (Cmd::LGet, Some(q)) if q.is_contact() => AuthCheck::Unsigned,
            (Cmd::LGet, Some(_)) => AuthCheck::Keys(Vec::new()),
            (Cmd::NSub, Some(q)) => AuthCheck::Keys(
                q.notifier
                    .as_ref()
                    .map(|n| n.notifier_key.clone())
                    .into_iter()
                    .collect(),
            ),
            (_, Some(q)) => AuthCheck::Keys(q.recipient_keys.clone()),
        }
    }
}
