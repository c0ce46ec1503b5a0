//! The running relay's shared state: configuration, identity, chunk store, store log,
//! statistics; and chunk expiry (`expireServerFiles`).

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use simplex_crypto::{sign, KeyHash, PrivateKeyX25519, PrivateSignKey};
use simplex_transport::{ServerCredentials, TransportError};
use smp_proto::handshake::{CertChainPubKey, SignatureAlgorithm, SignedKey};

use crate::config::ServerConfig;
use crate::stats::Stats;
use crate::store::FileStore;
use crate::store_log::{LogRecord, StoreLogWriter};

/// The server's identity: its certificate chain, the online key that signs session keys,
/// and the CA fingerprint clients pin.
pub struct Identity {
    /// The chain as DER, leaf first.
    pub chain_der: Vec<Vec<u8>>,
    sign_key: PrivateSignKey,
    sign_alg: SignatureAlgorithm,
    /// The CA certificate's SHA-256.
    pub key_hash: KeyHash,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("key_hash", &self.key_hash)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// From the TLS credentials.
    pub fn new(creds: &ServerCredentials) -> Result<Self, TransportError> {
        let sign_key = PrivateSignKey::from_der(&creds.private_key_der()?)
            .map_err(|e| TransportError::Credentials(format!("server key: {e}")))?;
        let sign_alg = match sign_key {
            PrivateSignKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
            PrivateSignKey::Ed448(_) => SignatureAlgorithm::Ed448,
        };
        Ok(Identity {
            chain_der: creds.chain_der()?,
            sign_key,
            sign_alg,
            key_hash: creds.identity()?,
        })
    }

    /// The chain with `key`'s public key signed by the online key.
    pub fn cert_chain_key(&self, key: &PrivateKeyX25519) -> Option<CertChainPubKey> {
        let signed_key = SignedKey::build(&key.public_key(), self.sign_alg, |b| {
            sign(&self.sign_key, b)
        })
        .ok()?;
        Some(CertChainPubKey {
            cert_chain: self.chain_der.clone(),
            signed_key,
        })
    }

    /// Signs `bytes` with the online key (the web identity proof).
    pub fn sign(&self, bytes: &[u8]) -> simplex_crypto::Signature {
        sign(&self.sign_key, bytes)
    }
}

/// Everything the connections share.
#[derive(Debug)]
pub struct Relay {
    /// Configuration.
    pub cfg: ServerConfig,
    /// Identity.
    pub identity: Identity,
    store: Mutex<FileStore>,
    log: Mutex<Option<StoreLogWriter>>,
    /// Counters.
    pub stats: Stats,
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Relay {
    /// A relay with a store (replayed from the log by the caller) and its log writer.
    pub fn new(
        cfg: ServerConfig,
        identity: Identity,
        store: FileStore,
        log: Option<StoreLogWriter>,
    ) -> Self {
        Relay {
            cfg,
            identity,
            store: Mutex::new(store),
            log: Mutex::new(log),
            stats: Stats::default(),
        }
    }

    /// The store, locked. A panic while it was held poisons nothing that matters: the
    /// store's invariants hold between calls, so the guard is taken back.
    pub fn store(&self) -> MutexGuard<'_, FileStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record to the store log, if enabled. A failed write is logged (without
    /// IDs); the change stays in memory.
    pub fn log(&self, rec: &LogRecord) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = log.as_mut() {
            if let Err(e) = w.write(rec) {
                tracing::error!("store log write failed: {e}");
            }
        }
    }

    /// The creation time of a chunk created now.
    pub fn file_time(&self) -> i64 {
        let p = self.cfg.time_precision.max(1);
        now_secs().div_euclid(p) * p
    }

    /// Blocks a chunk (`blockServerFile`): logged, its body deleted; later commands on it
    /// are answered `BLOCKED` (`AUTH` before v3).
    pub fn block_file(&self, sid: &[u8], info: &str) -> Result<(), xftp_proto::XftpErrorType> {
        self.log(&LogRecord::BlockFile(sid.to_vec(), info.to_owned()));
        let body = self
            .store()
            .file(sid)
            .and_then(|f| f.path.clone().map(|p| (p, f.info.size)));
        if let Some((p, size)) = body {
            if p.exists() {
                std::fs::remove_file(&p).map_err(|_| xftp_proto::XftpErrorType::FileIo)?;
                Stats::add(&self.stats.files_count, -1);
                Stats::add(&self.stats.files_size, -i64::from(size));
            }
        }
        self.store().block_file(sid, info.to_owned())?;
        Stats::add(&self.stats.files_blocked, 1);
        Ok(())
    }

    /// Deletes the chunks past their expiry with their bodies; returns how many.
    pub fn expire(&self) -> usize {
        let Some(exp) = self.cfg.expiration else {
            return 0;
        };
        let old = now_secs().saturating_sub(exp.ttl_secs);
        let expired = {
            let store = self.store();
            store.expired(old, self.cfg.time_precision)
        };
        let mut n = 0;
        for sid in expired {
            // As the reference: the body and the counters first, then the record, so that a
            // command refused for a missing record finds the expiry counted.
            let body = self
                .store()
                .file(&sid)
                .map(|f| (f.path.clone(), f.info.size));
            let Some((path, size)) = body else {
                continue;
            };
            if let Some(p) = path.filter(|p| p.exists()) {
                if let Err(e) = std::fs::remove_file(&p) {
                    tracing::error!("failed to remove an expired chunk: {e}");
                }
                Stats::add(&self.stats.files_count, -1);
                Stats::add(&self.stats.files_size, -i64::from(size));
            }
            Stats::add(&self.stats.files_expired, 1);
            self.log(&LogRecord::DeleteFile(sid.clone()));
            if self.store().delete_file(&sid).is_ok() {
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!("expired {n} chunks");
        }
        n
    }
}
