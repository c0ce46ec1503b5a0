//! The SimpleX agent protocol as bytes and strings: the sans-I/O wire layer of duplex
//! connections, byte-exact with the reference implementation (simplexmq), agent versions 2-7.
//!
//! Owns:
//! - [`link`]: connection links (`simplex:/invitation#/?…`, `simplex:/contact#/?…`, and the
//!   `https://host/…` form), parsed as the reference parses them and printed in its canonical
//!   form, and their binary form;
//! - [`envelope`]: agent envelopes (`C`, `M`, `I`, `R`), agent messages, the private header
//!   with the sequential ID and previous hash, and every `AMessage` of v7;
//! - [`client`]: the per-queue e2e layer around an envelope and the confirmation it yields;
//! - [`short_link`]: short links (`https://host/{i,a,g,c}#…`, `simplex:/…`), parsed and printed
//!   exactly as the reference does, their binary form and [`ConnectionLink`] (full or short);
//! - [`link_data`]: the records behind a short link (fixed and user data, owners);
//! - [`link_crypto`]: the link key, HKDF, signatures and the padded secret boxes of link data,
//!   as pure functions taking keys and an RNG;
//! - [`queue`]: the binary forms of queue addresses inside agent messages;
//! - [`version`]: agent and SMP client versions and the padded payload sizes.
//!
//! Leaves out: all I/O, storage and state (the agent, `simplex-agent`), cryptography (the
//! per-queue crypto_box is `simplex-crypto`'s, the double ratchet `simplex-ratchet`'s), and
//! the SMP commands that store and fetch link data (`smp-proto`). Queue URIs in string form are `smp-proto`'s `SmpQueueUri`.
//!
//! Sits above `simplex-encoding`, `simplex-crypto`, `smp-proto` and `simplex-ratchet`, below
//! the agent. Every decoder returns an error on any input, never panics.

pub mod client;
pub mod envelope;
pub mod error;
pub mod link;
pub mod link_crypto;
pub mod link_data;
pub mod queue;
pub mod short_link;
pub mod version;

pub use client::{ClientMessage, ClientMsgEnvelope, PrivHeader, PubHeader, SmpConfirmation};
pub use envelope::{
    AMessage, AMessageReceipt, APrivHeader, AgentMessage, AgentMessageType, AgentMsgEnvelope,
    E2EParams, QueueAdd, QueueKey,
};
pub use error::{AgentProtoError, LinkDataError, OwnerError};
pub use link::{
    ConnReqUriData, ConnectionMode, ConnectionRequest, ContactRequest, InvitationRequest,
};
pub use link_crypto::{
    contact_short_link_kdf, decrypt_link_data, encode_sign_fixed_data, encode_sign_link_data,
    encode_sign_user_data, encrypt_link_data, encrypt_user_data, inv_short_link_kdf,
    new_owner_auth, sign_owner_auth, validate_link_owners, EncryptedLinkData, SignedLinkData,
};
pub use link_data::{
    ConnLinkData, FixedLinkData, OwnerAuth, UserConnLinkData, UserContactData, UserLinkData,
};
pub use queue::{decode_queue_uri, encode_queue_uri, SmpQueueInfo, SndQAddr};
pub use short_link::{
    reencode_link, ConnectionLink, ContactShortLink, ContactType, InvitationShortLink, LinkKey,
    ShortLink, ShortLinkScheme,
};
pub use version::{e2e_enc_agent_msg_length, e2e_enc_conn_info_length};
