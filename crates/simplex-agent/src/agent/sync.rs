//! Ratchet re-synchronisation (`synchronizeRatchet`, `newRatchetKey` and `EREADY` in the
//! reference's `Agent.hs`; rfcs/done/2023-06-08-resync-ratchets.md). When the ratchets are
//! out of step (one side restored an old database, say), both sides send new X3DH keys in an
//! `AgentRatchetKey` envelope encrypted only with the queue's key, and each makes a new
//! ratchet from its own keys and the peer's: the side whose keys hash lower a receiving one,
//! the other a sending one, announced with `EREADY` (answered with `EREADY` by the first).
//! A side that gets keys without having started answers with its own at once. The states
//! are module `state`'s.

use std::sync::Arc;

use agent_proto::version::SUPPORTED_AGENT_VERSIONS;
use agent_proto::{AMessage, AgentMessage, AgentMsgEnvelope, E2EParams, PrivHeader};
use rand::rngs::OsRng;
use simplex_crypto::{sha256, PrivateKeyX448};
use simplex_encoding::Encode;
use simplex_ratchet::{
    generate_rcv_e2e_params, pq_x3dh_rcv, pq_x3dh_snd, DhAlgorithm, PqSupport, PrivRKemParams,
    Ratchet, RatchetError, RatchetVersions, X3dhPrivateKeys, CURRENT_E2E_VERSION,
    SUPPORTED_E2E_VERSIONS, X448,
};

use super::receive::AckMode;
use super::send::seal;
use super::state;
use super::switch::send_target;
use super::{crypto_err, Agent, Inner};
use crate::error::AgentError;
use crate::store::*;
use crate::types::*;

impl Agent {
    /// Starts re-synchronising a connection's ratchet (`synchronizeRatchet`): new keys are
    /// sent to the peer and the state becomes `Started`, returned. Allowed after a
    /// decryption error raised `RSYNC` with `Allowed` or `Required`, or in any state with
    /// `force`; refused (`Prohibited`) otherwise and on a connection without both queues.
    pub async fn synchronize_ratchet(
        &self,
        conn_id: &[u8],
        force: bool,
    ) -> Result<RatchetSyncState, AgentError> {
        let inner = &self.inner;
        let _g = inner.lock.lock().await;
        let id = conn_id.to_vec();
        let (conn, rq, sq) = inner
            .db(move |s| Ok((s.conn(&id)?, s.rcv_queue(&id)?, s.snd_queues(&id)?)))
            .await?;
        let mut conn = conn.ok_or(AgentError::NoConnection)?;
        let (Some(_), Some(sq), ConnKind::Duplex) = (rq, send_target(sq), conn.kind) else {
            return Err(AgentError::Prohibited("synchronizeRatchet: not duplex"));
        };
        if !(state::sync_allowed(&conn) || force) {
            return Err(AgentError::Prohibited("synchronizeRatchet: not allowed"));
        }
        let (keys, kem, params) = generate_rcv_e2e_params::<X448>(
            &mut OsRng,
            CURRENT_E2E_VERSION,
            PqSupport(conn.pq_support),
        );
        let rec = ratchet_key_msg(&mut conn, &sq, params)?;
        state::sync_started(&mut conn);
        let keys = X3dhKeys {
            key1: keys.key1,
            key2: keys.key2,
            kem,
        };
        let id = conn_id.to_vec();
        inner
            .db(move |s| {
                s.apply(vec![
                    Write::PutConn(conn),
                    Write::PutSyncKeys(id, keys),
                    Write::PutSndMsg(rec),
                ])
            })
            .await?;
        inner.start_worker(conn_id);
        Ok(RatchetSyncState::Started)
    }

    /// Where a connection's ratchet is in re-synchronisation.
    pub async fn ratchet_sync_state(&self, conn_id: &[u8]) -> Result<RatchetSyncState, AgentError> {
        let id = conn_id.to_vec();
        let conn = self.inner.db(move |s| s.conn(&id)).await?;
        Ok(conn.ok_or(AgentError::NoConnection)?.ratchet_sync)
    }
}

impl Inner {
    /// A decryption error whose message was not seen before: `RSYNC` when it moves the
    /// state (the caller holds the lock).
    pub(super) async fn on_sync_error(
        self: &Arc<Self>,
        mut conn: ConnRecord,
        e: AgentCryptoError,
    ) -> Result<(), AgentError> {
        let conn_id = conn.conn_id.clone();
        let Some(event) = state::sync_error(&mut conn, e) else {
            return Ok(());
        };
        self.db(move |s| s.apply(vec![Write::PutConn(conn)]))
            .await?;
        self.emit(conn_id, event);
        Ok(())
    }

    /// The peer's new ratchet keys (`newRatchetKey`). Keys seen before (by their hash) are
    /// ignored. Without keys of its own this side answers with new ones; with them (it
    /// started too) it uses those; after agreeing already it must start again. Then the new
    /// ratchet is made, and `EREADY` sent by the side making a sending one.
    pub(super) async fn on_ratchet_key(
        self: &Arc<Self>,
        mut conn: ConnRecord,
        sq: Option<SndQueueRecord>,
        peer: E2EParams,
    ) -> Result<AckMode, AgentError> {
        let (Some(_), ConnKind::Duplex) = (sq, conn.kind) else {
            return Err(AgentError::Message(
                "ratchet key to a connection without a send queue",
            ));
        };
        let conn_id = conn.conn_id.clone();
        let id = conn_id.clone();
        let sq = send_target(self.db(move |s| s.snd_queues(&id)).await?)
            .ok_or(AgentError::Message("no send queue"))?;
        let peer_hash = key_hash(&peer.key1, &peer.key2);
        let (id, h) = (conn_id.clone(), peer_hash.clone());
        let seen = self
            .db(move |s| {
                let seen = s.ratchet_key_hash_exists(&id, &h)?;
                if !seen {
                    s.apply(vec![Write::AddRatchetKeyHash(id, h)])?;
                }
                Ok(seen)
            })
            .await?;
        if seen {
            return Ok(AckMode::Now);
        }
        if !SUPPORTED_E2E_VERSIONS.contains(peer.version) {
            return Err(AgentError::Version);
        }
        let mut writes = Vec::new();
        let keys = match conn.ratchet_sync {
            RatchetSyncState::Ok | RatchetSyncState::Allowed | RatchetSyncState::Required => {
                let (keys, kem, params) = generate_rcv_e2e_params::<X448>(
                    &mut OsRng,
                    peer.version,
                    PqSupport(conn.pq_support),
                );
                writes.push(Write::PutSndMsg(ratchet_key_msg(&mut conn, &sq, params)?));
                X3dhKeys {
                    key1: keys.key1,
                    key2: keys.key2,
                    kem,
                }
            }
            RatchetSyncState::Started => {
                let id = conn_id.clone();
                self.db(move |s| s.sync_keys(&id))
                    .await?
                    .ok_or(AgentError::Message("no ratchet keys of this side"))?
            }
            RatchetSyncState::Agreed => {
                let event = state::sync_conflict(&mut conn);
                self.db(move |s| s.apply(vec![Write::PutConn(conn)]))
                    .await?;
                self.emit(conn_id, event);
                return Err(crypto_err(AgentCryptoError::RatchetSync));
            }
        };
        let (ratchet, sends_ready) = new_ratchet(&conn, keys, &peer)?;
        let agreed = state::sync_agreed(&mut conn);
        let last_rcv_ext_id = conn.last_rcv_ext_id;
        writes.push(Write::PutConn(conn));
        writes.push(Write::PutRatchet(conn_id.clone(), ratchet));
        writes.push(Write::DeleteSyncKeys(conn_id.clone()));
        self.db(move |s| s.apply(writes)).await?;
        self.start_worker(&conn_id);
        if sends_ready {
            self.enqueue(
                &conn_id,
                AMessage::EReady(last_rcv_ext_id),
                SndMsgKind::EReady,
            )
            .await?;
        }
        self.emit(conn_id, agreed);
        Ok(AckMode::Now)
    }
}

/// The ratchet made from this side's keys and the peer's, and whether it is the sending one
/// (whose side then sends `EREADY`): the side whose public keys hash lower (or equal)
/// receives, as the reference orders them.
fn new_ratchet(
    conn: &ConnRecord,
    keys: X3dhKeys,
    peer: &E2EParams,
) -> Result<(Ratchet<X448>, bool), AgentError> {
    let versions = RatchetVersions {
        current: peer.version,
        max_supported: CURRENT_E2E_VERSION,
    };
    let own_hash = key_hash(&X448::public_key(&keys.key1), &X448::public_key(&keys.key2));
    let x = X3dhPrivateKeys::<X448> {
        key1: keys.key1,
        key2: keys.key2,
    };
    if own_hash <= key_hash(&peer.key1, &peer.key2) {
        let (init, kp) = pq_x3dh_rcv(&x, keys.kem.as_ref(), peer).map_err(crypto_err)?;
        let pq = PqSupport(conn.pq_support);
        Ok((Ratchet::init_rcv(versions, x.key2, init, kp, pq), false))
    } else {
        let kem = keys.kem.map(PrivRKemParams::Proposed);
        let (init, kp) = pq_x3dh_snd(&x, kem.as_ref(), peer).map_err(crypto_err)?;
        let dh_rs = PrivateKeyX448::generate(&mut OsRng);
        let ratchet =
            Ratchet::<X448>::init_snd(versions, peer.key2, dh_rs, init, kp).map_err(crypto_err)?;
        Ok((ratchet, true))
    }
}

/// The hash that orders two sides' ratchet keys and recognises keys seen before
/// (`rkHash`: SHA-256 of both public keys' bytes).
fn key_hash(key1: &<X448 as DhAlgorithm>::Public, key2: &<X448 as DhAlgorithm>::Public) -> Vec<u8> {
    let mut b = X448::public_raw(key1).to_vec();
    b.extend_from_slice(X448::public_raw(key2));
    sha256(&b).to_vec()
}

/// New ratchet keys as a pending message (`AgentRatchetKey`, `storeRatchetKey`): encrypted
/// only with the queue's key, since the ratchet is what is out of step, with this agent's
/// highest version. It takes the next message IDs like any message, its hash being that of
/// the empty ratchet info it carries.
fn ratchet_key_msg(
    conn: &mut ConnRecord,
    (sq, queue): &(SndQueueRecord, Option<Vec<u8>>),
    params: E2EParams,
) -> Result<SndMsgRecord, AgentError> {
    let info = AgentMessage::RatchetInfo(Vec::new()).to_bytes();
    let hash = sha256(&info).to_vec();
    conn.last_internal_id += 1;
    conn.last_snd_id += 1;
    conn.last_snd_hash = hash.clone();
    let env = AgentMsgEnvelope::RatchetKey {
        agent_version: SUPPORTED_AGENT_VERSIONS.max,
        e2e_encryption: params,
        info,
    };
    let body = seal(
        &sq.e2e_dh_secret,
        sq.client_version,
        None,
        PrivHeader::Empty,
        &env,
    )?;
    Ok(SndMsgRecord {
        conn_id: conn.conn_id.clone(),
        internal_id: conn.last_internal_id,
        snd_id: conn.last_snd_id,
        kind: SndMsgKind::RatchetKey,
        hash,
        body: SndBody::Sealed(body),
        pending: true,
        receipt: None,
        queue: queue.clone(),
    })
}

/// The decryption errors that tell the ratchets apart (`cryptoError`, then
/// `cryptoErrToSyncState`); the others are reported as errors.
pub(super) fn sync_error_of(e: &RatchetError) -> Option<AgentCryptoError> {
    match e {
        RatchetError::Header => Some(AgentCryptoError::RatchetHeader),
        RatchetError::TooManySkipped(n) => Some(AgentCryptoError::RatchetSkipped(*n)),
        RatchetError::EarlierMessage(n) => Some(AgentCryptoError::RatchetEarlier(*n)),
        RatchetError::Decrypt => Some(AgentCryptoError::DecryptAes),
        _ => None,
    }
}
