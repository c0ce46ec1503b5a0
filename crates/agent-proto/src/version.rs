//! Agent protocol versions (`VersionSMPA` in the reference's `Agent/Protocol.hs`), the SMP
//! *client* versions that shape queue addresses (`VersionSMPC` in `Protocol.hs`), and the
//! padded sizes of encrypted agent payloads.
//!
//! Agent versions: 2 duplex handshake, 3 ratchet re-synchronisation, 4 delivery receipts,
//! 5 post-quantum double ratchet, 6 reply queues secured with the sender's key, 7 ratchet
//! initialised when the confirmation is processed. None of them changes a byte layout of this
//! crate; the agent uses them to decide what to send.

pub use simplex_ratchet::PqSupport;
pub use smp_proto::version::{Version, VersionRange};

/// Agent v2: the duplex handshake (reply queues in the confirmation).
pub const DUPLEX_HANDSHAKE_AGENT_VERSION: Version = Version(2);
/// Agent v3: ratchet re-synchronisation (`AgentRatchetKey`, `EREADY`).
pub const RATCHET_SYNC_AGENT_VERSION: Version = Version(3);
/// Agent v4: delivery receipts (`A_RCVD`).
pub const DELIVERY_RCPTS_AGENT_VERSION: Version = Version(4);
/// Agent v5: the post-quantum double ratchet.
pub const PQDR_AGENT_VERSION: Version = Version(5);
/// Agent v6: the sender secures reply queues with keys it provides.
pub const SND_AUTH_KEY_AGENT_VERSION: Version = Version(6);
/// Agent v7: the ratchet is initialised when the confirmation is processed.
pub const RATCHET_ON_CONF_AGENT_VERSION: Version = Version(7);
/// The lowest agent version supported (contact links are raised to it when parsed).
pub const MIN_SUPPORTED_AGENT_VERSION: Version = DUPLEX_HANDSHAKE_AGENT_VERSION;
/// The current agent version.
pub const CURRENT_AGENT_VERSION: Version = RATCHET_ON_CONF_AGENT_VERSION;
/// The supported agent versions, 2 to 7.
pub const SUPPORTED_AGENT_VERSIONS: VersionRange = VersionRange {
    min: MIN_SUPPORTED_AGENT_VERSION,
    max: CURRENT_AGENT_VERSION,
};

/// SMP client v1: the first, single-host queue addresses.
pub const INITIAL_SMP_CLIENT_VERSION: Version = Version(1);
/// SMP client v2: several hosts in server addresses.
pub const SRV_HOSTNAMES_SMP_CLIENT_VERSION: Version = Version(2);
/// SMP client v3: the sender may secure the queue (a flag after the address).
pub const SND_AUTH_KEY_SMP_CLIENT_VERSION: Version = Version(3);
/// SMP client v4: short links; the queue mode replaces the flag.
pub const SHORT_LINKS_SMP_CLIENT_VERSION: Version = Version(4);
/// The current SMP client version.
pub const CURRENT_SMP_CLIENT_VERSION: Version = SHORT_LINKS_SMP_CLIENT_VERSION;
/// The supported SMP client versions, 1 to 4.
pub const SUPPORTED_SMP_CLIENT_VERSIONS: VersionRange = VersionRange {
    min: INITIAL_SMP_CLIENT_VERSION,
    max: CURRENT_SMP_CLIENT_VERSION,
};

/// The padded size of a confirmation's connection info before ratchet encryption
/// (`e2eEncConnInfoLength`): smaller with PQ from agent v5, leaving room for the KEM material
/// in the ratchet header and in the reply link.
pub fn e2e_enc_conn_info_length(v: Version, pq_support: PqSupport) -> usize {
    if pq_support.0 && v >= PQDR_AGENT_VERSION {
        11106
    } else {
        14832
    }
}

/// The padded size of an agent message before ratchet encryption (`e2eEncAgentMsgLength`):
/// smaller with PQ from agent v5, by the growth of the ratchet header.
pub fn e2e_enc_agent_msg_length(v: Version, pq_support: PqSupport) -> usize {
    if pq_support.0 && v >= PQDR_AGENT_VERSION {
        13618
    } else {
        15840
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_lengths_shrink_only_with_pq_from_v5() {
        for v in 2..=7 {
            let v = Version(v);
            assert_eq!(e2e_enc_conn_info_length(v, PqSupport(false)), 14832);
            assert_eq!(e2e_enc_agent_msg_length(v, PqSupport(false)), 15840);
            let pq = v >= PQDR_AGENT_VERSION;
            assert_eq!(
                e2e_enc_conn_info_length(v, PqSupport(true)),
                if pq { 11106 } else { 14832 }
            );
            assert_eq!(
                e2e_enc_agent_msg_length(v, PqSupport(true)),
                if pq { 13618 } else { 15840 }
            );
        }
        assert_eq!(SUPPORTED_AGENT_VERSIONS.to_string(), "2-7");
    }
}
