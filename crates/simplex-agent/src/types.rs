//! The agent's configuration and the events it reports.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use smp_client::ClientConfig;
use smp_proto::address::{BasicAuth, SmpServerWithAuth};
use smp_proto::SmpServer;

use crate::store::ConnId;

/// How transport sessions are shared and isolated (the reference's `TransportSessionMode`,
/// the apps' network setting `sessionMode`).
///
/// In every mode but [`TransportIsolation::Entity`] one TLS connection to a relay carries
/// all the agent's queues on it; the modes differ in what a SOCKS proxy with isolate-by-auth
/// credentials (Tor) sees: one username, hence one circuit, per what the mode names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportIsolation {
    /// One circuit for the user's every session, across restarts (`user`).
    User,
    /// One circuit per run of the agent (`session`, the reference's default).
    #[default]
    Session,
    /// One circuit per relay per run (`server`).
    Server,
    /// One TLS connection and circuit per connection's queues on a relay (`entity`).
    Entity,
}

impl TransportIsolation {
    /// The mode's name in the reference's settings.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportIsolation::User => "user",
            TransportIsolation::Session => "session",
            TransportIsolation::Server => "server",
            TransportIsolation::Entity => "entity",
        }
    }

    /// Parses a name of [`TransportIsolation::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::User, Self::Session, Self::Server, Self::Entity]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

impl fmt::Display for TransportIsolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When messages go through a proxy relay (private message routing, `SMPProxyMode`).
///
/// A proxy is one of the agent's own servers; the relay that holds the queue then sees the
/// proxy's address rather than this client's. Only the sender's commands `SEND` and `SKEY`
/// go through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmpProxyMode {
    /// Always, whichever relay holds the queue (`always`).
    Always,
    /// For relays that are not among the agent's own servers, compared by host as the
    /// reference does (`unknown`).
    Unknown,
    /// For unknown relays when the IP address is not protected by a SOCKS proxy or an onion
    /// host (`unprotected`). This agent connects directly only, so it is as
    /// [`SmpProxyMode::Unknown`].
    Unprotected,
    /// Never: always to the queue's relay directly (`never`, the reference agent's default).
    Never,
}

impl SmpProxyMode {
    /// The reference's name of the mode (`always`, `unknown`, `unprotected`, `never`).
    pub fn as_str(self) -> &'static str {
        match self {
            SmpProxyMode::Always => "always",
            SmpProxyMode::Unknown => "unknown",
            SmpProxyMode::Unprotected => "unprotected",
            SmpProxyMode::Never => "never",
        }
    }

    /// Parses [`SmpProxyMode::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "always" => Some(SmpProxyMode::Always),
            "unknown" => Some(SmpProxyMode::Unknown),
            "unprotected" => Some(SmpProxyMode::Unprotected),
            "never" => Some(SmpProxyMode::Never),
            _ => None,
        }
    }
}

impl fmt::Display for SmpProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a command that was to go through a proxy may go directly instead
/// (`SMPProxyFallback`). As in the reference, this applies only when the proxy or the relay
/// cannot serve the proxied command at all (`BROKER HOST`, or an SMP version without private
/// routing: `TRANSPORT VERSION`); when the proxy is unreachable or times out, the command
/// waits and is retried through it whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmpProxyFallback {
    /// Go directly (`yes`, the reference agent's default).
    Allow,
    /// Go directly only when the IP address is protected (SOCKS proxy or onion host,
    /// `protected`). This agent connects directly only, so it is as
    /// [`SmpProxyFallback::Prohibit`].
    AllowProtected,
    /// Never go directly (`no`).
    Prohibit,
}

impl SmpProxyFallback {
    /// The reference's name of the setting (`yes`, `protected`, `no`).
    pub fn as_str(self) -> &'static str {
        match self {
            SmpProxyFallback::Allow => "yes",
            SmpProxyFallback::AllowProtected => "protected",
            SmpProxyFallback::Prohibit => "no",
        }
    }

    /// Parses [`SmpProxyFallback::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "yes" => Some(SmpProxyFallback::Allow),
            "protected" => Some(SmpProxyFallback::AllowProtected),
            "no" => Some(SmpProxyFallback::Prohibit),
            _ => None,
        }
    }
}

impl fmt::Display for SmpProxyFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The servers new queues are created on, one chosen at random per queue.
    pub servers: Vec<SmpServer>,
    /// Sharing of TLS connections.
    pub isolation: TransportIsolation,
    /// Create queues that the sender secures (`SKEY`, the fast handshake) when the agent
    /// versions allow it; `false` gives the standard handshake (`KEY`, `HELLO`).
    pub sender_can_secure: bool,
    /// Offer post-quantum encryption (sntrup761 in the double ratchet).
    pub pq_support: bool,
    /// Settings of each SMP connection.
    pub client: ClientConfig,
    /// First delay before resending after a temporary error; doubles up to `retry_max`.
    pub retry_initial: Duration,
    /// Longest delay between resends and reconnection attempts.
    pub retry_max: Duration,
    /// When `SEND` and `SKEY` go through a proxy relay (default [`SmpProxyMode::Never`], as
    /// the reference agent's `defaultNetworkConfig`).
    pub smp_proxy_mode: SmpProxyMode,
    /// Whether they may go directly when the proxy cannot serve them (default
    /// [`SmpProxyFallback::Allow`], as the reference agent's).
    pub smp_proxy_fallback: SmpProxyFallback,
    /// Passwords of the agent's own servers that require one (`smp://key:password@host`,
    /// the reference's `ProtoServerWithAuth`): sent with `NEW` and with `PRXY` when the server
    /// is the proxy.
    pub server_auth: HashMap<SmpServer, BasicAuth>,
    /// Switch a connection's receive queue by itself once it is this old (automatic queue
    /// rotation; `None`, the default, never: the reference rotates only when asked).
    pub rotate_after: Option<Duration>,
    /// The preset relays a short link may name by host alone (no port, no key hash): the
    /// reference apps' list ([`crate::presets::preset_smp_servers`]) by default. A short link
    /// naming a relay without its key hash whose host is not here is refused.
    pub preset_servers: Vec<SmpServer>,
    /// Queues per direction (default 1, as the reference). With N ≥ 2 a new connection gets
    /// N receive queues on N different relays (as many as there are), the further ones
    /// listed after the first in the invitation and the reply, where a reference peer reads
    /// only the first. Every message is then sent on every queue the peer listed, and the
    /// copies after the first are dropped on arrival: a relay that dies loses nothing.
    /// Needs queues the sender secures (`sender_can_secure`).
    pub redundancy: usize,
    /// Connect to relays through this SOCKS5 proxy (Tor: `127.0.0.1:9050`), the relay's
    /// host name sent to it unresolved. With the default credentials policy each transport
    /// session gets a username as [`TransportIsolation`] says, so Tor keeps sessions on
    /// separate circuits.
    pub socks_proxy: Option<simplex_transport::socks::SocksProxy>,
    /// With a SOCKS proxy: through it to every host (`always`, the default) or to `.onion`
    /// hosts only (`onion`).
    pub socks_mode: smp_client::hosts::SocksMode,
    /// Which of a relay's hosts to try first (default: onion hosts when a SOCKS proxy is
    /// set, public ones otherwise).
    pub host_mode: smp_client::hosts::HostMode,
    /// Use only hosts of the preferred kind: a relay without one is not connected to
    /// ([`AgentError::IncompatibleHost`](crate::AgentError::IncompatibleHost)).
    pub required_host_mode: bool,
    /// Onion hosts only for a relay that has one, any host for one that has none (not in
    /// the reference; the privacy slider's maximum).
    pub onion_where_present: bool,
    /// Noise traffic (not in the reference; off by default): cover messages, each to a
    /// connected contact chosen at random, at random times with this mean gap (exponential
    /// gaps). On the wire and at the relays they are like any message (one 16 KiB block
    /// each); the receiving agent, ours or the reference's, drops them without an event
    /// (module `agent::noise`).
    pub noise_interval: Option<Duration>,
    /// Wait a random time up to this long before sending each message (off by default),
    /// so that its arrival at the relay does not tell when it was written.
    pub send_delay_max: Option<Duration>,
    /// With redundancy: a further receive queue whose relay has been unreachable this long
    /// is replaced by a new one on another relay (default an hour; `None` never).
    pub replace_dead_after: Option<Duration>,
}

impl AgentConfig {
    /// Defaults with these servers.
    pub fn new(servers: Vec<SmpServer>) -> Self {
        AgentConfig {
            servers,
            isolation: TransportIsolation::Session,
            sender_can_secure: true,
            pq_support: false,
            client: ClientConfig::default(),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            smp_proxy_mode: SmpProxyMode::Never,
            smp_proxy_fallback: SmpProxyFallback::Allow,
            server_auth: HashMap::new(),
            rotate_after: None,
            preset_servers: crate::presets::preset_smp_servers(),
            redundancy: 1,
            socks_proxy: None,
            socks_mode: smp_client::hosts::SocksMode::Always,
            host_mode: smp_client::hosts::HostMode::OnionViaSocks,
            required_host_mode: false,
            onion_where_present: false,
            noise_interval: None,
            send_delay_max: None,
            replace_dead_after: Some(Duration::from_secs(3600)),
        }
    }

    /// Defaults with these servers, each with its password if it has one.
    pub fn with_auth(servers: Vec<SmpServerWithAuth>) -> Self {
        let mut config = AgentConfig::new(servers.iter().map(|s| s.server.clone()).collect());
        config.server_auth = servers
            .into_iter()
            .filter_map(|s| Some((s.server, s.auth?)))
            .collect();
        config
    }
}

/// Whether a received message follows the previous one (`MsgIntegrity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgIntegrity {
    /// The next ID and the previous message's hash.
    Ok,
    /// Messages with these sender IDs never arrived.
    Skipped {
        /// First missing ID.
        from: i64,
        /// Last missing ID.
        to: i64,
    },
    /// The ID is lower than one already received.
    BadId(i64),
    /// The same ID again.
    Duplicate,
    /// The previous-message hash does not match.
    BadHash,
}

impl MsgIntegrity {
    /// Compares a message's sequential ID and previous hash with what was received before
    /// (`checkMsgIntegrity`).
    pub fn check(prev_id: i64, prev_hash: &[u8], id: i64, claimed_prev_hash: &[u8]) -> Self {
        if id == prev_id.saturating_add(1) && prev_hash == claimed_prev_hash {
            MsgIntegrity::Ok
        } else if id < prev_id {
            MsgIntegrity::BadId(id)
        } else if id == prev_id {
            MsgIntegrity::Duplicate
        } else if id > prev_id.saturating_add(1) {
            MsgIntegrity::Skipped {
                from: prev_id.saturating_add(1),
                to: id.saturating_sub(1),
            }
        } else {
            MsgIntegrity::BadHash
        }
    }
}

impl fmt::Display for MsgIntegrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgIntegrity::Ok => f.write_str("OK"),
            MsgIntegrity::Skipped { from, to } => write!(f, "NO_ID {from} {to}"),
            MsgIntegrity::BadId(id) => write!(f, "ID {id}"),
            MsgIntegrity::Duplicate => f.write_str("DUPLICATE"),
            MsgIntegrity::BadHash => f.write_str("HASH"),
        }
    }
}

impl MsgIntegrity {
    /// Parses what `Display` wrote.
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.split(' ').collect();
        match parts.as_slice() {
            ["OK"] => Some(MsgIntegrity::Ok),
            ["DUPLICATE"] => Some(MsgIntegrity::Duplicate),
            ["HASH"] => Some(MsgIntegrity::BadHash),
            ["ID", id] => id.parse().ok().map(MsgIntegrity::BadId),
            ["NO_ID", a, b] => Some(MsgIntegrity::Skipped {
                from: a.parse().ok()?,
                to: b.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// What the application learns about a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgMeta {
    /// The agent's ID of the message (for `ack_message`).
    pub msg_id: i64,
    /// The sender's sequential ID.
    pub snd_msg_id: i64,
    /// The integrity verdict.
    pub integrity: MsgIntegrity,
}

/// Whether a delivery receipt's hash matched the sent message (`MsgReceiptStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgReceiptStatus {
    /// The peer's hash of the message is ours.
    Ok,
    /// The peer received something else under this message's ID.
    BadMsgHash,
}

impl MsgReceiptStatus {
    /// The stored text (`ok`, `badMsgHash`, as the reference stores it).
    pub fn as_str(self) -> &'static str {
        match self {
            MsgReceiptStatus::Ok => "ok",
            MsgReceiptStatus::BadMsgHash => "badMsgHash",
        }
    }

    /// Parses what [`MsgReceiptStatus::as_str`] gave.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(MsgReceiptStatus::Ok),
            "badMsgHash" => Some(MsgReceiptStatus::BadMsgHash),
            _ => None,
        }
    }
}

/// A delivery receipt for one of our messages (`MsgReceipt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgReceipt {
    /// Our message's ID (as `send_message` returned it).
    pub msg_id: i64,
    /// Whether the hash matched.
    pub status: MsgReceiptStatus,
}

/// Where a connection's double ratchet is in re-synchronisation (`RatchetSyncState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RatchetSyncState {
    /// In step (or healed).
    #[default]
    Ok,
    /// A decryption error that may be healed by re-synchronising: it may be started.
    Allowed,
    /// A decryption error that needs re-synchronising: sending is refused until it is done.
    Required,
    /// This side sent new ratchet keys and waits for the peer's.
    Started,
    /// Both sides' keys are known and a new ratchet made; done when a message decrypts.
    Agreed,
}

impl RatchetSyncState {
    /// Whether sending messages is refused in this state (`ratchetSyncSendProhibited`).
    pub fn send_prohibited(self) -> bool {
        matches!(
            self,
            RatchetSyncState::Required | RatchetSyncState::Started | RatchetSyncState::Agreed
        )
    }

    /// The reference's name (`ok`, `allowed`, `required`, `started`, `agreed`).
    pub fn as_str(self) -> &'static str {
        match self {
            RatchetSyncState::Ok => "ok",
            RatchetSyncState::Allowed => "allowed",
            RatchetSyncState::Required => "required",
            RatchetSyncState::Started => "started",
            RatchetSyncState::Agreed => "agreed",
        }
    }

    /// Parses [`RatchetSyncState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => RatchetSyncState::Ok,
            "allowed" => RatchetSyncState::Allowed,
            "required" => RatchetSyncState::Required,
            "started" => RatchetSyncState::Started,
            "agreed" => RatchetSyncState::Agreed,
            _ => return None,
        })
    }
}

/// A decryption error that tells the ratchets apart (`AgentCryptoError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentCryptoError {
    /// The message body failed authentication (`DECRYPT_AES`).
    DecryptAes,
    /// The per-queue box failed (`DECRYPT_CB`).
    DecryptCb,
    /// No header key opened the header (`RATCHET_HEADER`).
    RatchetHeader,
    /// A message number lower than expected, with no skipped key (`RATCHET_EARLIER`).
    RatchetEarlier(u32),
    /// Too many messages skipped (`RATCHET_SKIPPED`).
    RatchetSkipped(u32),
    /// The peer's new ratchet keys came after both were agreed (`RATCHET_SYNC`).
    RatchetSync,
}

impl AgentCryptoError {
    /// The re-synchronisation state this error calls for (`cryptoErrToSyncState`).
    pub fn sync_state(self) -> RatchetSyncState {
        match self {
            AgentCryptoError::DecryptAes
            | AgentCryptoError::DecryptCb
            | AgentCryptoError::RatchetEarlier(_) => RatchetSyncState::Allowed,
            AgentCryptoError::RatchetHeader
            | AgentCryptoError::RatchetSkipped(_)
            | AgentCryptoError::RatchetSync => RatchetSyncState::Required,
        }
    }
}

impl std::fmt::Display for AgentCryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentCryptoError::DecryptAes => f.write_str("DECRYPT_AES"),
            AgentCryptoError::DecryptCb => f.write_str("DECRYPT_CB"),
            AgentCryptoError::RatchetHeader => f.write_str("RATCHET_HEADER"),
            AgentCryptoError::RatchetEarlier(n) => write!(f, "RATCHET_EARLIER {n}"),
            AgentCryptoError::RatchetSkipped(n) => write!(f, "RATCHET_SKIPPED {n}"),
            AgentCryptoError::RatchetSync => f.write_str("RATCHET_SYNC"),
        }
    }
}

/// Which of a connection's queues a switch replaces (`QueueDirection`): this side's receive
/// queue (`Rcv`, the side that started it) or its send queue (`Snd`, the peer's switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueDirection {
    /// This side's receive queue (`QDRcv`).
    Rcv,
    /// This side's send queue (`QDSnd`).
    Snd,
}

/// How far a queue switch went (`SwitchPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchPhase {
    /// The new queue is made (receive side) or known (send side).
    Started,
    /// The sender's key for the new queue is known (`QKEY`).
    Confirmed,
    /// The new queue is secured (`KEY`, then `QUSE`).
    Secured,
    /// The old queue is gone: the new one is the connection's.
    Completed,
}

/// Where the switch of a receive queue is, kept with the queue being replaced
/// (`RcvSwitchStatus`, stored as the reference's strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcvSwitchStatus {
    /// `switch_connection` was called; the new queue may not exist yet.
    SwitchStarted,
    /// The new queue exists and `QADD` is sent (or pending).
    SendingQadd,
    /// The new queue is secured and `QUSE` is sent (or pending).
    SendingQuse,
    /// A message came on the new queue: this one is being deleted.
    ReceivedMessage,
}

impl RcvSwitchStatus {
    /// The reference's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RcvSwitchStatus::SwitchStarted => "switch_started",
            RcvSwitchStatus::SendingQadd => "sending_qadd",
            RcvSwitchStatus::SendingQuse => "sending_quse",
            RcvSwitchStatus::ReceivedMessage => "received_message",
        }
    }

    /// Parses [`RcvSwitchStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "switch_started" => RcvSwitchStatus::SwitchStarted,
            "sending_qadd" => RcvSwitchStatus::SendingQadd,
            "sending_quse" => RcvSwitchStatus::SendingQuse,
            "received_message" => RcvSwitchStatus::ReceivedMessage,
            _ => return None,
        })
    }

    /// Whether `abort_switch` may stop the switch (`canAbortRcvSwitch`): only before the
    /// peer can have used the new queue.
    pub fn can_abort(self) -> bool {
        matches!(
            self,
            RcvSwitchStatus::SwitchStarted | RcvSwitchStatus::SendingQadd
        )
    }
}

/// Where the switch of a send queue is, kept with the queue being replaced
/// (`SndSwitchStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SndSwitchStatus {
    /// The new queue is known and `QKEY` is sent (or pending).
    SendingQkey,
    /// The peer secured the new queue and `QTEST` is sent on it (or pending).
    SendingQtest,
}

impl SndSwitchStatus {
    /// The reference's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SndSwitchStatus::SendingQkey => "sending_qkey",
            SndSwitchStatus::SendingQtest => "sending_qtest",
        }
    }

    /// Parses [`SndSwitchStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sending_qkey" => SndSwitchStatus::SendingQkey,
            "sending_qtest" => SndSwitchStatus::SendingQtest,
            _ => return None,
        })
    }
}

/// A receive queue of a connection, as [`ConnectionStats`] shows it (`RcvQueueInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvQueueInfo {
    /// Its relay.
    pub server: SmpServer,
    /// Whether it is the connection's main queue (a new queue becomes it when the first
    /// message arrives on it).
    pub primary: bool,
    /// The switch replacing it, if one is under way.
    pub switch_status: Option<RcvSwitchStatus>,
    /// Whether `abort_switch` would be allowed now.
    pub can_abort_switch: bool,
}

/// A send queue of a connection, as [`ConnectionStats`] shows it (`SndQueueInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndQueueInfo {
    /// Its relay.
    pub server: SmpServer,
    /// Whether messages go to it (a new queue becomes it once `QTEST` went through).
    pub primary: bool,
    /// The switch replacing it, if one is under way.
    pub switch_status: Option<SndSwitchStatus>,
}

/// A connection's queues and ratchet state (`ConnectionStats`): what `/i NAME` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStats {
    /// The agreed agent version.
    pub agent_version: u16,
    /// Its receive queues, the current one first (two during a switch), then its
    /// redundant ones (`AgentConfig::redundancy`).
    pub rcv_queues: Vec<RcvQueueInfo>,
    /// Its send queues, the current one first (two during a switch), then its redundant
    /// ones.
    pub snd_queues: Vec<SndQueueInfo>,
    /// Where the ratchet is in re-synchronisation.
    pub ratchet_sync: RatchetSyncState,
    /// Whether the connection supports post-quantum key exchange in its ratchet.
    pub pq_support: bool,
}

/// An event for the application (`AEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The joining party confirmed: call `allow_connection(conf_id, …)`.
    Conf {
        /// The confirmation.
        conf_id: Vec<u8>,
        /// The servers of the peer's reply queues.
        servers: Vec<SmpServer>,
        /// The peer's info.
        conn_info: Vec<u8>,
    },
    /// The initiating party's info, on the joining side.
    Info(Vec<u8>),
    /// The connection is established.
    Con,
    /// The server accepted the message with this ID. With redundant queues: when the first
    /// relay accepts a copy, and possibly again when the current queue's copy goes.
    Sent(i64),
    /// A message.
    Msg {
        /// ID and integrity.
        meta: MsgMeta,
        /// The body.
        body: Vec<u8>,
    },
    /// Delivery receipts from the peer for our messages (`RCVD`). The receipt message is
    /// acknowledged like a message: `ack_message(meta.msg_id, None)` (a receipt on it is
    /// refused); the server delivers the next message only then. A receipt for a message
    /// whose receipt was OK already is not reported again.
    Rcvd {
        /// The receipt message's own ID (for `ack_message`) and integrity.
        meta: MsgMeta,
        /// Our messages it is about, never empty.
        receipts: Vec<MsgReceipt>,
    },
    /// The message with this ID could not be sent and will not be retried.
    Merr(i64, String),
    /// The message with this ID (or a handshake message) could not be sent yet because the
    /// proxy or the relay cannot serve it (`MWARN`: `BROKER HOST` or `TRANSPORT VERSION`,
    /// say a proxy below SMP v8 while the fallback prohibits sending directly); it is
    /// retried.
    Mwarn(i64, String),
    /// The peer's queue has room again.
    QCont,
    /// Another client subscribed to the connection's queue: this agent no longer receives.
    End,
    /// The server went away; these connections are not receiving.
    Down(SmpServer, Vec<ConnId>),
    /// The server is back; these connections are subscribed again.
    Up(SmpServer, Vec<ConnId>),
    /// A contact request came to an address: `accept_contact(inv_id, …)` or reject it.
    Req {
        /// The invitation.
        inv_id: Vec<u8>,
        /// The requester's info.
        conn_info: Vec<u8>,
    },
    /// A message that was received before came again and was acknowledged to the server
    /// without being delivered (`ERR A_DUPLICATE`): a copy under another server message ID
    /// (the server replaying or injecting it, or the sender resending after losing the
    /// server's reply), or one the ratchet reports as repeated whose hash is not known.
    /// The server's redelivery of a message under the same server message ID (after a
    /// lost `ACK` or a reconnection) is not reported.
    Duplicate {
        /// The agent's ID of the earlier copy, when its hash is known (of the ratchet
        /// message's header and tag, which identify it: a copy whose body was altered is
        /// known as a copy too).
        msg_id: Option<i64>,
    },
    /// The ratchet's re-synchronisation state changed (`RSYNC`): to `Allowed` or `Required`
    /// by a decryption error (given), to `Agreed` when both sides' new keys are known, to
    /// `Ok` when a message decrypted again. Starting it is `synchronize_ratchet`.
    Rsync {
        /// The new state.
        state: RatchetSyncState,
        /// The decryption error that caused it.
        error: Option<AgentCryptoError>,
    },
    /// A queue switch moved on (`SWITCH`): `Rcv` on the side that called
    /// `switch_connection` (`Started` when it returns, `Confirmed` and `Secured` when the
    /// peer's key came and the new queue is secured, `Completed` when the old queue is
    /// deleted), `Snd` on the peer (`Started` on `QADD`, `Confirmed` when `QKEY` is sent,
    /// `Secured` on `QUSE`, `Completed` when `QTEST` went through the new queue).
    Switch {
        /// Which queue is replaced.
        direction: QueueDirection,
        /// How far it went.
        phase: SwitchPhase,
        /// The connection's queues after this step.
        stats: ConnectionStats,
    },
    /// Something failed in the background.
    Err(String),
}

/// An event with the connection it is about (empty for server events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEvent {
    /// The connection.
    pub conn_id: ConnId,
    /// The event.
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_verdicts() {
        let h = [1u8; 32];
        let g = [2u8; 32];
        assert_eq!(MsgIntegrity::check(4, &h, 5, &h), MsgIntegrity::Ok);
        assert_eq!(
            MsgIntegrity::check(4, &h, 8, &g),
            MsgIntegrity::Skipped { from: 5, to: 7 }
        );
        assert_eq!(MsgIntegrity::check(4, &h, 4, &h), MsgIntegrity::Duplicate);
        assert_eq!(MsgIntegrity::check(4, &h, 2, &h), MsgIntegrity::BadId(2));
        assert_eq!(MsgIntegrity::check(4, &h, 5, &g), MsgIntegrity::BadHash);
        for v in [
            MsgIntegrity::Ok,
            MsgIntegrity::Skipped { from: 5, to: 7 },
            MsgIntegrity::Duplicate,
            MsgIntegrity::BadId(2),
            MsgIntegrity::BadHash,
        ] {
            assert_eq!(MsgIntegrity::parse(&v.to_string()), Some(v));
        }
    }
}
