//! What the agent keeps, as typed records, and the [`Store`] trait over it.
//!
//! Reads are single calls; every change goes through [`Store::apply`] with a batch of
//! [`Write`]s applied atomically (one SQLite transaction), so that a ratchet step, the
//! message it decrypted and the counters of the connection are never stored apart.
//! [`MemoryStore`] is the in-memory version for unit tests; [`crate::sqlite::SqliteStore`]
//! the persistent one.

use std::collections::{BTreeMap, HashMap};

use agent_proto::SmpQueueInfo;
use simplex_crypto::{
    DhSecretX25519, PrivateAuthKey, PrivateKeyX25519, PublicAuthKey, PublicKeyX25519,
};
use simplex_ratchet::{KemKeyPair, MsgEncryptKey, Ratchet, SkippedDiff, SkippedKeys, X448};
use smp_proto::SmpServer;

use crate::error::StoreError;
use crate::types::{MsgReceiptStatus, RatchetSyncState, RcvSwitchStatus, SndSwitchStatus};

/// A connection ID (random, 12 bytes as the reference makes them).
pub type ConnId = Vec<u8>;

/// Whether a connection is a conversation or a contact address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    /// A duplex conversation (made by an invitation or by accepting a request).
    Duplex,
    /// A contact address: one receive queue that gets requests.
    Contact,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    /// Created or joined, handshake not complete.
    New,
    /// `CON` was reported.
    Active,
    /// Suspended by the user: its receive queue is off.
    Suspended,
}

/// Whether a queue is new, confirmed, secured or active (`QueueStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStatus {
    /// Created (receive) or known (send), nothing sent.
    New,
    /// A confirmation was received (receive) or sent (send).
    Confirmed,
    /// Secured with the sender's key.
    Secured,
    /// In use: a message after the confirmation went through.
    Active,
    /// Suspended or deleted on the server.
    Disabled,
}

/// A connection and its message counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnRecord {
    /// Its ID.
    pub conn_id: ConnId,
    /// Conversation or address.
    pub kind: ConnKind,
    /// Its status.
    pub status: ConnStatus,
    /// True for the party that created the invitation.
    pub initiator: bool,
    /// The agreed agent version.
    pub agent_version: u16,
    /// Whether PQ encryption is supported on this connection.
    pub pq_support: bool,
    /// Last internal message ID (shared by sent and received messages: the IDs the
    /// application sees).
    pub last_internal_id: i64,
    /// Last sequential ID sent in an agent message header.
    pub last_snd_id: i64,
    /// Hash of the last sent agent message.
    pub last_snd_hash: Vec<u8>,
    /// Last sequential ID received from the peer.
    pub last_rcv_ext_id: i64,
    /// Hash of the last received agent message.
    pub last_rcv_hash: Vec<u8>,
    /// Where the ratchet is in re-synchronisation.
    pub ratchet_sync: RatchetSyncState,
}

impl ConnRecord {
    /// A new connection with zero counters.
    pub fn new(conn_id: ConnId, kind: ConnKind, initiator: bool, agent_version: u16) -> Self {
        ConnRecord {
            conn_id,
            kind,
            status: ConnStatus::New,
            initiator,
            agent_version,
            pq_support: false,
            last_internal_id: 0,
            last_snd_id: 0,
            last_snd_hash: Vec::new(),
            last_rcv_ext_id: 0,
            last_rcv_hash: Vec::new(),
            ratchet_sync: RatchetSyncState::Ok,
        }
    }
}

/// A queue this agent receives from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvQueueRecord {
    /// Its connection.
    pub conn_id: ConnId,
    /// Its server.
    pub server: SmpServer,
    /// The recipient ID.
    pub rcv_id: Vec<u8>,
    /// The recipient's key.
    pub rcv_key: PrivateAuthKey,
    /// The secret for the server-to-recipient encryption.
    pub rcv_dh_secret: DhSecretX25519,
    /// The private key of the per-queue e2e agreement (its public half is in the link).
    pub e2e_priv_key: PrivateKeyX25519,
    /// The per-queue e2e secret, once the sender's key is known.
    pub e2e_dh_secret: Option<DhSecretX25519>,
    /// The sender ID.
    pub snd_id: Vec<u8>,
    /// The sender secures the queue (`SKEY`).
    pub sender_can_secure: bool,
    /// Its status.
    pub status: QueueStatus,
    /// The SMP client version agreed for the queue.
    pub client_version: u16,
    /// Whether it is the connection's main receive queue (`rcv_primary`).
    pub primary: bool,
    /// The recipient ID of the queue this one replaces, while a switch is under way
    /// (`replace_rcv_queue_id`); `None` for the connection's current queue.
    pub replaces: Option<Vec<u8>>,
    /// The switch replacing this queue, if one is under way (`switch_status`).
    pub switch_status: Option<RcvSwitchStatus>,
    /// A redundant queue (`AgentConfig::redundancy`): one of the connection's further
    /// receive queues, on another relay, beside its current one.
    pub extra: bool,
    /// When it was made (Unix seconds; for `AgentConfig::rotate_after`).
    pub created_at: i64,
}

/// A queue this agent sends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndQueueRecord {
    /// Its connection.
    pub conn_id: ConnId,
    /// Its server.
    pub server: SmpServer,
    /// The sender ID.
    pub snd_id: Vec<u8>,
    /// The sender's key.
    pub snd_key: PrivateAuthKey,
    /// This side's per-queue e2e public key, sent in the confirmation's clear header.
    pub e2e_pub_key: PublicKeyX25519,
    /// The per-queue e2e secret.
    pub e2e_dh_secret: DhSecretX25519,
    /// The sender secures the queue itself (`SKEY`).
    pub sender_can_secure: bool,
    /// Its status.
    pub status: QueueStatus,
    /// The SMP client version agreed for the queue.
    pub client_version: u16,
    /// Whether messages go to it (`snd_primary`).
    pub primary: bool,
    /// The sender ID of the queue this one replaces, while a switch is under way
    /// (`replace_snd_queue_id`); `None` for the connection's current queue.
    pub replaces: Option<Vec<u8>>,
    /// The switch replacing this queue, if one is under way (`switch_status`).
    pub switch_status: Option<SndSwitchStatus>,
    /// A redundant queue: one of the peer's further queues, every message sent on it too.
    pub extra: bool,
}

/// The creating side's X3DH keys, kept until the confirmation arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X3dhKeys {
    /// First private key.
    pub key1: simplex_crypto::PrivateKeyX448,
    /// Second private key.
    pub key2: simplex_crypto::PrivateKeyX448,
    /// The proposed KEM key pair.
    pub kem: Option<KemKeyPair>,
}

/// A confirmation waiting for `allow_connection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationRecord {
    /// Its ID, given to the application in `CONF`.
    pub conf_id: Vec<u8>,
    /// Its connection.
    pub conn_id: ConnId,
    /// The key to secure the queue with (`None` when the sender secured it).
    pub sender_key: Option<PublicAuthKey>,
    /// The sender's per-queue e2e key.
    pub e2e_pub_key: PublicKeyX25519,
    /// The queues to reply to.
    pub reply_queues: Vec<SmpQueueInfo>,
    /// The sender's SMP client version.
    pub smp_client_version: u16,
}

/// An invitation that came to a contact address, waiting for accept or reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    /// Its ID, given to the application in `REQ`.
    pub inv_id: Vec<u8>,
    /// The address it came to.
    pub contact_conn_id: ConnId,
    /// The invitation link to join.
    pub conn_req: String,
    /// The requester's info.
    pub conn_info: Vec<u8>,
}

/// The short link of a contact address (SMP v15 link data on its queue): what the owner needs
/// to change the link's user data or delete it.
#[derive(Debug, Clone)]
pub struct ShortLinkRecord {
    /// The address's connection.
    pub conn_id: ConnId,
    /// The link ID on the relay (derived from the link key for an address).
    pub link_id: Vec<u8>,
    /// The link key (the SHA3-256 of the fixed data).
    pub link_key: [u8; 32],
    /// The root key that signed the link data.
    pub root_key: PrivateAuthKey,
    /// The short link as given to the application.
    pub short_link: String,
}

/// A one-time invitation's short link whose data this side read (`LKEY`) before joining
/// (the reference's `inv_short_links`): the sender key that secured the queue, kept so that
/// reading again or joining later uses the same key (the relay accepts it again; another
/// key would be refused). Forgotten once the invitation is joined.
#[derive(Debug, Clone)]
pub struct InvShortLinkRecord {
    /// The link ID on the relay.
    pub link_id: Vec<u8>,
    /// The link key (the SHA3-256 of the fixed data).
    pub link_key: [u8; 32],
    /// The sender key given in `LKEY`.
    pub snd_key: PrivateAuthKey,
    /// The queue's sender ID, once the relay answered.
    pub snd_id: Option<Vec<u8>>,
}

/// What a sent message is, for what to do when the server accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SndMsgKind {
    /// A confirmation with conn info (and reply queues).
    Confirmation,
    /// `HELLO`.
    Hello,
    /// An application message (`A_MSG`).
    Message,
    /// Receipts (`A_RCVD`).
    Receipt,
    /// `A_QCONT`.
    QCont,
    /// An invitation to a contact address.
    Invitation,
    /// New ratchet keys (`AgentRatchetKey`), encrypted per queue only.
    RatchetKey,
    /// `EREADY`: the new ratchet is in use.
    EReady,
    /// `QADD`: a new receive queue offered to the peer (queue rotation).
    QAdd,
    /// `QKEY`: this side's key for the peer's new queue.
    QKey,
    /// `QUSE`: the new queue is secured.
    QUse,
    /// `QTEST`: the first message on the new send queue, completing the switch.
    QTest,
    /// A cover message (`QTEST` naming the current queue; module `agent::noise`).
    Noise,
}

/// A sent message: pending (with the body to send) or sent (kept for receipts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndMsgRecord {
    /// Its connection.
    pub conn_id: ConnId,
    /// The internal ID (the application's message ID).
    pub internal_id: i64,
    /// The sequential ID in its agent header.
    pub snd_id: i64,
    /// What it is.
    pub kind: SndMsgKind,
    /// SHA-256 of the agent message.
    pub hash: Vec<u8>,
    /// What the SMP body to `SEND` is made from; empty once sent.
    pub body: SndBody,
    /// Whether it still waits to be sent.
    pub pending: bool,
    /// The peer's delivery receipt for it, once one came (application messages only).
    pub receipt: Option<SndMsgReceipt>,
    /// The sender ID of the send queue it is encrypted for, when that is not the
    /// connection's current one (the new queue of a switch, from `QTEST` on).
    pub queue: Option<Vec<u8>>,
}

/// What a pending message's SMP body is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SndBody {
    /// The whole SMP body, sealed for its queue already: handshake messages, messages
    /// stored before [`SndBody::Prepared`] existed, a redundant queue's copy moved in by a
    /// queue's replacement. Empty once sent.
    Sealed(Vec<u8>),
    /// A ratchet message prepared at enqueue time (the reference's `msg_encrypt_key` and
    /// `padded_msg_len`): the ratchet has advanced and this is the message's key and
    /// encrypted header, so delivery makes the same ratchet ciphertext on every attempt
    /// and seals it for the queue it goes to. Stored as a few hundred bytes instead of a
    /// 16 KB sealed block.
    Prepared(PreparedBody),
}

impl SndBody {
    /// What a sent (or failed) message keeps: nothing.
    pub fn none() -> Self {
        SndBody::Sealed(Vec::new())
    }
}

/// A ratchet message waiting to be encrypted at delivery ([`SndBody::Prepared`]). Its
/// `Debug` shows no message content.
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedBody {
    /// The encoded agent message (`AgentMessage`: its private header and the message).
    pub plain: Vec<u8>,
    /// The message key and encrypted header the ratchet gave it.
    pub key: MsgEncryptKey,
    /// The length the message is padded to before encryption.
    pub padded_len: usize,
    /// The agent version of the envelope (`AgentMsgEnvelope`).
    pub agent_version: u16,
}

impl std::fmt::Debug for PreparedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedBody")
            .field("plain_len", &self.plain.len())
            .field("padded_len", &self.padded_len)
            .field("agent_version", &self.agent_version)
            .finish_non_exhaustive()
    }
}

/// A connection's ID and a queue's ID (its sender ID for a send queue).
pub type ConnQueue = (ConnId, Vec<u8>);

/// A copy of a sent message for a redundant send queue, sealed for that queue, kept until
/// its relay accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndCopyRecord {
    /// Its connection.
    pub conn_id: ConnId,
    /// The sender ID of the redundant queue.
    pub queue: Vec<u8>,
    /// The internal ID of the message it copies.
    pub internal_id: i64,
    /// What it is.
    pub kind: SndMsgKind,
    /// The whole SMP body to `SEND`.
    pub body: Vec<u8>,
}

/// The receipt recorded for a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SndMsgReceipt {
    /// The internal ID of the received message that carried it.
    pub rcv_msg_id: i64,
    /// Whether the hash matched.
    pub status: MsgReceiptStatus,
}

/// What a received agent message was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcvMsgKind {
    /// `HELLO`.
    Hello,
    /// An application message (`A_MSG`).
    Message,
    /// Receipts (`A_RCVD`).
    Receipt,
    /// `A_QCONT`.
    QCont,
    /// Anything else (`EREADY`, queue rotation messages).
    Other,
}

/// A received application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvMsgRecord {
    /// Its connection.
    pub conn_id: ConnId,
    /// The internal ID (the application's message ID).
    pub internal_id: i64,
    /// The sender's sequential ID.
    pub ext_snd_id: i64,
    /// SHA-256 of the agent message (sent back in the receipt).
    pub hash: Vec<u8>,
    /// SHA-256 of the encrypted agent message (finds redelivered copies).
    pub enc_hash: Vec<u8>,
    /// The server's message ID (to `ACK`).
    pub srv_msg_id: Vec<u8>,
    /// The recipient ID of the queue it came on (to `ACK` there; `None` in databases from
    /// before queue rotation: the connection's current queue).
    pub rcv_id: Option<Vec<u8>>,
    /// The application body.
    pub body: Vec<u8>,
    /// The integrity verdict, as text.
    pub integrity: String,
    /// What it was.
    pub kind: RcvMsgKind,
    /// Whether the application acknowledged it.
    pub acked: bool,
}

/// One change; a batch of them is applied atomically.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Write {
    /// Insert or replace a connection.
    PutConn(ConnRecord),
    /// Delete a connection with all its queues, keys and messages.
    DeleteConn(ConnId),
    /// Insert or replace a receive queue of a connection (by its recipient ID).
    PutRcvQueue(RcvQueueRecord),
    /// Delete a receive queue of a connection by its recipient ID.
    DeleteRcvQueue(ConnId, Vec<u8>),
    /// Insert or replace a send queue of a connection by its sender ID; a queue that
    /// replaces none (`replaces == None`) takes the place of the connection's current one.
    PutSndQueue(SndQueueRecord),
    /// Delete the send queues of a connection.
    DeleteSndQueue(ConnId),
    /// Delete a send queue of a connection by its sender ID.
    DeleteSndQueueId(ConnId, Vec<u8>),
    /// Store the X3DH keys of a created invitation.
    PutX3dh(ConnId, X3dhKeys),
    /// Store the ratchet state (and drop the X3DH keys).
    PutRatchet(ConnId, Ratchet<X448>),
    /// Apply a change to the skipped keys.
    Skipped(ConnId, SkippedDiff),
    /// Add a confirmation.
    PutConfirmation(ConfirmationRecord),
    /// Delete a confirmation.
    DeleteConfirmation(Vec<u8>),
    /// Add an invitation.
    PutInvitation(InvitationRecord),
    /// Delete an invitation.
    DeleteInvitation(Vec<u8>),
    /// Insert or replace a sent message.
    PutSndMsg(SndMsgRecord),
    /// Mark a message accepted by the server: no longer pending, its body dropped (the rest
    /// of the record, a receipt recorded meanwhile included, stays as it is).
    MarkSndMsgSent(ConnId, i64),
    /// Record the receipt of a sent message (only that: the rest of the record, whether it
    /// is still pending included, stays as it is).
    SetSndMsgReceipt(ConnId, i64, SndMsgReceipt),
    /// Delete a sent message.
    DeleteSndMsg(ConnId, i64),
    /// Add a copy of a message for a redundant send queue.
    PutSndCopy(SndCopyRecord),
    /// Delete the copy of a message (connection, queue's sender ID, internal ID).
    DeleteSndCopy(ConnId, Vec<u8>, i64),
    /// Insert a received message.
    PutRcvMsg(RcvMsgRecord),
    /// Mark a received message acknowledged by the application, and drop its body: the
    /// application has it, and nothing reports it again (the reference deletes the message
    /// then). Its row shrinks in place, so the leaf where the next messages go fills more
    /// slowly: fewer pages rewritten to make room, each encrypted and logged.
    AckRcvMsg(ConnId, i64),
    /// Mark it unacknowledged again (the server's `ACK` of it failed), its body stored back
    /// (the relay delivers the message again, and it is reported from the store).
    UnackRcvMsg(ConnId, i64, Vec<u8>),
    /// Store the X3DH keys this side sent to re-synchronise the ratchet.
    PutSyncKeys(ConnId, X3dhKeys),
    /// Drop them (the new ratchet is made).
    DeleteSyncKeys(ConnId),
    /// Record the hash of the peer's ratchet keys, processed.
    AddRatchetKeyHash(ConnId, Vec<u8>),
    /// Insert or replace the short link of an address.
    PutShortLink(ShortLinkRecord),
    /// Forget the short link of an address.
    DeleteShortLink(ConnId),
    /// Insert or replace the record of an invitation's short link read before joining.
    PutInvShortLink(InvShortLinkRecord),
    /// Forget it (by link ID).
    DeleteInvShortLink(Vec<u8>),
}

/// The agent's storage. Implementations are used from one blocking thread at a time.
pub trait Store: Send {
    /// Applies the writes atomically, in order.
    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// Starts a batch: what is applied until [`Store::end_batch`] is committed together
    /// (each `apply` still all or nothing). By default nothing is grouped.
    fn begin_batch(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Commits the batch; when that fails, none of it stays.
    fn end_batch(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// A connection.
    fn conn(&self, conn_id: &[u8]) -> Result<Option<ConnRecord>, StoreError>;
    /// Every connection.
    fn conns(&self) -> Result<Vec<ConnRecord>, StoreError>;
    /// The receive queues of a connection, the current one first (a second one, replacing
    /// it, during a switch).
    fn rcv_queues(&self, conn_id: &[u8]) -> Result<Vec<RcvQueueRecord>, StoreError>;
    /// The send queues of a connection, the current one first.
    fn snd_queues(&self, conn_id: &[u8]) -> Result<Vec<SndQueueRecord>, StoreError>;
    /// The redundant receive queues of a connection.
    fn extra_rcv_queues(&self, conn_id: &[u8]) -> Result<Vec<RcvQueueRecord>, StoreError>;
    /// The redundant send queues of a connection.
    fn extra_snd_queues(&self, conn_id: &[u8]) -> Result<Vec<SndQueueRecord>, StoreError>;
    /// Every receive queue of a connection: the current (and switching) ones, then the
    /// redundant ones.
    fn all_rcv_queues(&self, conn_id: &[u8]) -> Result<Vec<RcvQueueRecord>, StoreError> {
        let mut qs = self.rcv_queues(conn_id)?;
        qs.extend(self.extra_rcv_queues(conn_id)?);
        Ok(qs)
    }
    /// Every send queue of a connection: the current (and switching) ones, then the
    /// redundant ones.
    fn all_snd_queues(&self, conn_id: &[u8]) -> Result<Vec<SndQueueRecord>, StoreError> {
        let mut qs = self.snd_queues(conn_id)?;
        qs.extend(self.extra_snd_queues(conn_id)?);
        Ok(qs)
    }
    /// The next copies waiting for a redundant send queue, oldest first.
    fn snd_copies(
        &self,
        conn_id: &[u8],
        queue: &[u8],
        limit: usize,
    ) -> Result<Vec<SndCopyRecord>, StoreError>;
    /// The (connection, queue) pairs with copies waiting.
    fn snd_copy_queues(&self) -> Result<Vec<ConnQueue>, StoreError>;
    /// The current receive queue of a connection.
    fn rcv_queue(&self, conn_id: &[u8]) -> Result<Option<RcvQueueRecord>, StoreError> {
        Ok(self.rcv_queues(conn_id)?.into_iter().next())
    }
    /// The current send queue of a connection.
    fn snd_queue(&self, conn_id: &[u8]) -> Result<Option<SndQueueRecord>, StoreError> {
        Ok(self.snd_queues(conn_id)?.into_iter().next())
    }
    /// Every connection with every receive queue of it and its current send queue: what
    /// the agent loads when it starts.
    fn load_conns(&self) -> Result<Vec<LoadedConn>, StoreError> {
        let mut out = Vec::new();
        for c in self.conns()? {
            let rqs = self.all_rcv_queues(&c.conn_id)?;
            let sq = self.snd_queue(&c.conn_id)?;
            out.push((c, rqs, sq));
        }
        Ok(out)
    }
    /// The X3DH keys of a created invitation.
    fn x3dh(&self, conn_id: &[u8]) -> Result<Option<X3dhKeys>, StoreError>;
    /// The X3DH keys this side sent to re-synchronise the ratchet.
    fn sync_keys(&self, conn_id: &[u8]) -> Result<Option<X3dhKeys>, StoreError>;
    /// The short link of an address, if it has one.
    fn short_link(&self, conn_id: &[u8]) -> Result<Option<ShortLinkRecord>, StoreError>;
    /// The record of an invitation's short link read before joining, by its link ID.
    fn inv_short_link(&self, link_id: &[u8]) -> Result<Option<InvShortLinkRecord>, StoreError>;
    /// The same, by the sender ID of the invitation's queue.
    fn inv_short_link_by_snd_id(
        &self,
        snd_id: &[u8],
    ) -> Result<Option<InvShortLinkRecord>, StoreError>;
    /// Whether the peer's ratchet keys with this hash were processed already.
    fn ratchet_key_hash_exists(&self, conn_id: &[u8], hash: &[u8]) -> Result<bool, StoreError>;
    /// The ratchet state.
    fn ratchet(&self, conn_id: &[u8]) -> Result<Option<Ratchet<X448>>, StoreError>;
    /// The skipped message keys.
    fn skipped(&self, conn_id: &[u8]) -> Result<SkippedKeys, StoreError>;
    /// A confirmation.
    fn confirmation(&self, conf_id: &[u8]) -> Result<Option<ConfirmationRecord>, StoreError>;
    /// An invitation.
    fn invitation(&self, inv_id: &[u8]) -> Result<Option<InvitationRecord>, StoreError>;
    /// The pending messages of a connection, oldest first.
    fn pending_snd_msgs(&self, conn_id: &[u8]) -> Result<Vec<SndMsgRecord>, StoreError>;
    /// The oldest pending message of a connection (what its delivery task sends next):
    /// without reading the others, which may be many while a relay is down.
    fn next_pending_snd_msg(&self, conn_id: &[u8]) -> Result<Option<SndMsgRecord>, StoreError> {
        Ok(self.pending_snd_msgs(conn_id)?.into_iter().next())
    }
    /// The oldest pending message of a connection after the one with internal ID `after`
    /// (what its delivery task sends after the one in flight).
    fn next_pending_snd_msg_after(
        &self,
        conn_id: &[u8],
        after: i64,
    ) -> Result<Option<SndMsgRecord>, StoreError> {
        Ok(self
            .pending_snd_msgs(conn_id)?
            .into_iter()
            .find(|m| m.internal_id > after))
    }
    /// A sent message by its sequential header ID.
    fn snd_msg_by_snd_id(
        &self,
        conn_id: &[u8],
        snd_id: i64,
    ) -> Result<Option<SndMsgRecord>, StoreError>;
    /// A sent message by its internal ID.
    fn snd_msg(&self, conn_id: &[u8], internal_id: i64)
        -> Result<Option<SndMsgRecord>, StoreError>;
    /// A received message by internal ID.
    fn rcv_msg(&self, conn_id: &[u8], internal_id: i64)
        -> Result<Option<RcvMsgRecord>, StoreError>;
    /// Marks a received message acknowledged by the application unless it is already:
    /// whether this marked it (`false`: acknowledged before, or no such message). One write
    /// without reads where the store can (the common `ACK`, module `agent::ack`).
    fn ack_rcv_msg_once(&mut self, conn_id: &[u8], internal_id: i64) -> Result<bool, StoreError> {
        match self.rcv_msg(conn_id, internal_id)? {
            Some(m) if !m.acked => {
                self.apply(vec![Write::AckRcvMsg(conn_id.to_vec(), internal_id)])?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    /// A received message by the hash of its encrypted form.
    fn rcv_msg_by_enc_hash(
        &self,
        conn_id: &[u8],
        enc_hash: &[u8],
    ) -> Result<Option<RcvMsgRecord>, StoreError>;
    /// The sent messages whose receipt came in the received message `rcv_msg_id`, by
    /// internal ID.
    fn snd_msgs_by_receipt(
        &self,
        conn_id: &[u8],
        rcv_msg_id: i64,
    ) -> Result<Vec<SndMsgRecord>, StoreError>;
}

/// A connection, every receive queue of it and its current send queue
/// ([`Store::load_conns`]).
pub type LoadedConn = (ConnRecord, Vec<RcvQueueRecord>, Option<SndQueueRecord>);

/// The in-memory store for unit tests.
#[derive(Default)]
pub struct MemoryStore {
    conns: BTreeMap<ConnId, ConnRecord>,
    rcv_queues: HashMap<ConnId, Vec<RcvQueueRecord>>,
    snd_queues: HashMap<ConnId, Vec<SndQueueRecord>>,
    x3dh: HashMap<ConnId, X3dhKeys>,
    sync_keys: HashMap<ConnId, X3dhKeys>,
    ratchet_key_hashes: HashMap<ConnId, Vec<Vec<u8>>>,
    ratchets: HashMap<ConnId, Ratchet<X448>>,
    skipped: HashMap<ConnId, SkippedKeys>,
    confirmations: HashMap<Vec<u8>, ConfirmationRecord>,
    invitations: HashMap<Vec<u8>, InvitationRecord>,
    snd_msgs: BTreeMap<(ConnId, i64), SndMsgRecord>,
    rcv_msgs: BTreeMap<(ConnId, i64), RcvMsgRecord>,
    snd_copies: BTreeMap<(ConnId, Vec<u8>, i64), SndCopyRecord>,
    short_links: HashMap<ConnId, ShortLinkRecord>,
    inv_short_links: HashMap<Vec<u8>, InvShortLinkRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        for w in writes {
            match w {
                Write::PutConn(c) => {
                    self.conns.insert(c.conn_id.clone(), c);
                }
                Write::DeleteConn(id) => {
                    self.conns.remove(&id);
                    self.rcv_queues.remove(&id);
                    self.snd_queues.remove(&id);
                    self.x3dh.remove(&id);
                    self.sync_keys.remove(&id);
                    self.ratchet_key_hashes.remove(&id);
                    self.ratchets.remove(&id);
                    self.skipped.remove(&id);
                    self.confirmations.retain(|_, c| c.conn_id != id);
                    self.invitations.retain(|_, i| i.contact_conn_id != id);
                    self.snd_msgs.retain(|(c, _), _| *c != id);
                    self.snd_copies.retain(|(c, _, _), _| *c != id);
                    self.rcv_msgs.retain(|(c, _), _| *c != id);
                    self.short_links.remove(&id);
                }
                Write::PutRcvQueue(q) => {
                    self.require_conn(&q.conn_id)?;
                    let qs = self.rcv_queues.entry(q.conn_id.clone()).or_default();
                    qs.retain(|x| x.rcv_id != q.rcv_id);
                    qs.push(q);
                    qs.sort_by_key(|x| (x.extra, x.replaces.is_some()));
                }
                Write::DeleteRcvQueue(id, rcv_id) => {
                    if let Some(qs) = self.rcv_queues.get_mut(&id) {
                        qs.retain(|x| x.rcv_id != rcv_id);
                    }
                }
                Write::PutSndQueue(q) => {
                    self.require_conn(&q.conn_id)?;
                    let qs = self.snd_queues.entry(q.conn_id.clone()).or_default();
                    let current = q.replaces.is_none() && !q.extra;
                    qs.retain(|x| {
                        x.snd_id != q.snd_id && !(current && x.replaces.is_none() && !x.extra)
                    });
                    qs.push(q);
                    qs.sort_by_key(|x| (x.extra, x.replaces.is_some()));
                }
                Write::DeleteSndQueueId(id, snd_id) => {
                    if let Some(qs) = self.snd_queues.get_mut(&id) {
                        qs.retain(|x| x.snd_id != snd_id);
                    }
                }
                Write::PutX3dh(id, k) => {
                    self.require_conn(&id)?;
                    self.x3dh.insert(id, k);
                }
                Write::PutRatchet(id, r) => {
                    self.require_conn(&id)?;
                    self.x3dh.remove(&id);
                    self.ratchets.insert(id, r);
                }
                Write::Skipped(id, diff) => {
                    diff.apply(self.skipped.entry(id).or_default());
                }
                Write::PutConfirmation(c) => {
                    self.confirmations.insert(c.conf_id.clone(), c);
                }
                Write::DeleteConfirmation(id) => {
                    self.confirmations.remove(&id);
                }
                Write::PutInvitation(i) => {
                    self.invitations.insert(i.inv_id.clone(), i);
                }
                Write::DeleteInvitation(id) => {
                    self.invitations.remove(&id);
                }
                Write::PutSndMsg(m) => {
                    self.require_conn(&m.conn_id)?;
                    self.snd_msgs.insert((m.conn_id.clone(), m.internal_id), m);
                }
                Write::MarkSndMsgSent(id, n) => {
                    if let Some(m) = self.snd_msgs.get_mut(&(id, n)) {
                        m.pending = false;
                        m.body = SndBody::none();
                    }
                }
                Write::SetSndMsgReceipt(id, n, r) => {
                    if let Some(m) = self.snd_msgs.get_mut(&(id, n)) {
                        m.receipt = Some(r);
                    }
                }
                Write::DeleteSndMsg(id, n) => {
                    self.snd_msgs.remove(&(id, n));
                }
                Write::PutSndCopy(c) => {
                    self.require_conn(&c.conn_id)?;
                    let key = (c.conn_id.clone(), c.queue.clone(), c.internal_id);
                    self.snd_copies.insert(key, c);
                }
                Write::DeleteSndCopy(id, queue, n) => {
                    self.snd_copies.remove(&(id, queue, n));
                }
                Write::DeleteSndQueue(id) => {
                    self.snd_queues.remove(&id);
                }
                Write::PutRcvMsg(m) => {
                    self.require_conn(&m.conn_id)?;
                    let key = (m.conn_id.clone(), m.internal_id);
                    if self.rcv_msgs.contains_key(&key) {
                        return Err(StoreError::Duplicate);
                    }
                    self.rcv_msgs.insert(key, m);
                }
                Write::AckRcvMsg(id, n) => {
                    if let Some(m) = self.rcv_msgs.get_mut(&(id, n)) {
                        m.acked = true;
                        m.body.clear();
                    }
                }
                Write::UnackRcvMsg(id, n, body) => {
                    if let Some(m) = self.rcv_msgs.get_mut(&(id, n)) {
                        m.acked = false;
                        m.body = body;
                    }
                }
                Write::PutSyncKeys(id, k) => {
                    self.require_conn(&id)?;
                    self.sync_keys.insert(id, k);
                }
                Write::DeleteSyncKeys(id) => {
                    self.sync_keys.remove(&id);
                }
                Write::AddRatchetKeyHash(id, h) => {
                    self.require_conn(&id)?;
                    self.ratchet_key_hashes.entry(id).or_default().push(h);
                }
                Write::PutShortLink(l) => {
                    self.require_conn(&l.conn_id)?;
                    self.short_links.insert(l.conn_id.clone(), l);
                }
                Write::DeleteShortLink(id) => {
                    self.short_links.remove(&id);
                }
                Write::PutInvShortLink(l) => {
                    self.inv_short_links.insert(l.link_id.clone(), l);
                }
                Write::DeleteInvShortLink(link_id) => {
                    self.inv_short_links.remove(&link_id);
                }
            }
        }
        Ok(())
    }

    fn conn(&self, conn_id: &[u8]) -> Result<Option<ConnRecord>, StoreError> {
        Ok(self.conns.get(conn_id).cloned())
    }

    fn conns(&self) -> Result<Vec<ConnRecord>, StoreError> {
        Ok(self.conns.values().cloned().collect())
    }

    fn rcv_queues(&self, conn_id: &[u8]) -> Result<Vec<RcvQueueRecord>, StoreError> {
        let qs = self.rcv_queues.get(conn_id).into_iter().flatten();
        Ok(qs.filter(|q| !q.extra).cloned().collect())
    }

    fn snd_queues(&self, conn_id: &[u8]) -> Result<Vec<SndQueueRecord>, StoreError> {
        let qs = self.snd_queues.get(conn_id).into_iter().flatten();
        Ok(qs.filter(|q| !q.extra).cloned().collect())
    }

    fn extra_rcv_queues(&self, conn_id: &[u8]) -> Result<Vec<RcvQueueRecord>, StoreError> {
        let qs = self.rcv_queues.get(conn_id).into_iter().flatten();
        Ok(qs.filter(|q| q.extra).cloned().collect())
    }

    fn extra_snd_queues(&self, conn_id: &[u8]) -> Result<Vec<SndQueueRecord>, StoreError> {
        let qs = self.snd_queues.get(conn_id).into_iter().flatten();
        Ok(qs.filter(|q| q.extra).cloned().collect())
    }

    fn snd_copies(
        &self,
        conn_id: &[u8],
        queue: &[u8],
        limit: usize,
    ) -> Result<Vec<SndCopyRecord>, StoreError> {
        let from = (conn_id.to_vec(), queue.to_vec(), i64::MIN);
        let to = (conn_id.to_vec(), queue.to_vec(), i64::MAX);
        Ok(self
            .snd_copies
            .range(from..=to)
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect())
    }

    fn snd_copy_queues(&self) -> Result<Vec<ConnQueue>, StoreError> {
        let mut out: Vec<ConnQueue> = Vec::new();
        for (c, q, _) in self.snd_copies.keys() {
            if out.last().is_none_or(|(lc, lq)| lc != c || lq != q) {
                out.push((c.clone(), q.clone()));
            }
        }
        Ok(out)
    }

    fn x3dh(&self, conn_id: &[u8]) -> Result<Option<X3dhKeys>, StoreError> {
        Ok(self.x3dh.get(conn_id).cloned())
    }

    fn sync_keys(&self, conn_id: &[u8]) -> Result<Option<X3dhKeys>, StoreError> {
        Ok(self.sync_keys.get(conn_id).cloned())
    }

    fn short_link(&self, conn_id: &[u8]) -> Result<Option<ShortLinkRecord>, StoreError> {
        Ok(self.short_links.get(conn_id).cloned())
    }

    fn inv_short_link(&self, link_id: &[u8]) -> Result<Option<InvShortLinkRecord>, StoreError> {
        Ok(self.inv_short_links.get(link_id).cloned())
    }

    fn inv_short_link_by_snd_id(
        &self,
        snd_id: &[u8],
    ) -> Result<Option<InvShortLinkRecord>, StoreError> {
        Ok(self
            .inv_short_links
            .values()
            .find(|l| l.snd_id.as_deref() == Some(snd_id))
            .cloned())
    }

    fn ratchet_key_hash_exists(&self, conn_id: &[u8], hash: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .ratchet_key_hashes
            .get(conn_id)
            .is_some_and(|hs| hs.iter().any(|h| h == hash)))
    }

    fn ratchet(&self, conn_id: &[u8]) -> Result<Option<Ratchet<X448>>, StoreError> {
        Ok(self.ratchets.get(conn_id).cloned())
    }

    fn skipped(&self, conn_id: &[u8]) -> Result<SkippedKeys, StoreError> {
        Ok(self.skipped.get(conn_id).cloned().unwrap_or_default())
    }

    fn confirmation(&self, conf_id: &[u8]) -> Result<Option<ConfirmationRecord>, StoreError> {
        Ok(self.confirmations.get(conf_id).cloned())
    }

    fn invitation(&self, inv_id: &[u8]) -> Result<Option<InvitationRecord>, StoreError> {
        Ok(self.invitations.get(inv_id).cloned())
    }

    fn pending_snd_msgs(&self, conn_id: &[u8]) -> Result<Vec<SndMsgRecord>, StoreError> {
        Ok(self
            .snd_msgs
            .values()
            .filter(|m| m.conn_id == conn_id && m.pending)
            .cloned()
            .collect())
    }

    fn snd_msg_by_snd_id(
        &self,
        conn_id: &[u8],
        snd_id: i64,
    ) -> Result<Option<SndMsgRecord>, StoreError> {
        Ok(self
            .snd_msgs
            .values()
            .find(|m| m.conn_id == conn_id && m.snd_id == snd_id)
            .cloned())
    }

    fn snd_msg(
        &self,
        conn_id: &[u8],
        internal_id: i64,
    ) -> Result<Option<SndMsgRecord>, StoreError> {
        Ok(self.snd_msgs.get(&(conn_id.to_vec(), internal_id)).cloned())
    }

    fn rcv_msg(
        &self,
        conn_id: &[u8],
        internal_id: i64,
    ) -> Result<Option<RcvMsgRecord>, StoreError> {
        Ok(self.rcv_msgs.get(&(conn_id.to_vec(), internal_id)).cloned())
    }

    fn rcv_msg_by_enc_hash(
        &self,
        conn_id: &[u8],
        enc_hash: &[u8],
    ) -> Result<Option<RcvMsgRecord>, StoreError> {
        Ok(self
            .rcv_msgs
            .values()
            .find(|m| m.conn_id == conn_id && m.enc_hash == enc_hash)
            .cloned())
    }

    fn snd_msgs_by_receipt(
        &self,
        conn_id: &[u8],
        rcv_msg_id: i64,
    ) -> Result<Vec<SndMsgRecord>, StoreError> {
        Ok(self
            .snd_msgs
            .values()
            .filter(|m| {
                m.conn_id == conn_id && m.receipt.is_some_and(|r| r.rcv_msg_id == rcv_msg_id)
            })
            .cloned()
            .collect())
    }
}

impl MemoryStore {
    fn require_conn(&self, id: &[u8]) -> Result<(), StoreError> {
        if self.conns.contains_key(id) {
            Ok(())
        } else {
            Err(StoreError::NoConnection)
        }
    }
}
