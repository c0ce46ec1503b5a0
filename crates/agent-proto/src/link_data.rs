//! The data behind a short link, as the relay stores it encrypted (`FixedLinkData`,
//! `ConnLinkData`, `UserConnLinkData`, `UserContactData`, `UserLinkData`, `OwnerAuth` in the
//! reference's `Agent/Protocol.hs`). Their encryption and signatures are in
//! [`crate::link_crypto`].
//!
//! - Fixed data, set once when the link is created: the agent versions, the root Ed25519 key,
//!   the full connection link and optionally an entity ID (appended without a `Maybe` tag).
//!   The link key is the SHA3-256 of its encoding.
//! - User data, which the owners may change: `'I'` or `'C'`, the agent versions, then for an
//!   invitation the user's bytes, for a contact address whether direct connection is allowed,
//!   the owners' authorisations, alternative relay links and the user's bytes.
//!
//! Readers ignore bytes after the last known field of each record (the reference keeps that
//! room for later fields); an owner authorisation is itself length-prefixed for the same
//! reason.

use simplex_crypto::PublicKeyEd25519;
use simplex_encoding::{Decode, DecodeError, Encode, Reader};

use crate::link::{ConnectionMode, ConnectionRequest};
use crate::queue::{put_large, put_list, put_short};
use crate::short_link::ContactShortLink;
use crate::version::VersionRange;

/// The longest owner ID whose authorisation fits its one-byte length: 255 − 45 (key DER with
/// its length) − 65 (signature with its length) − 1 (the ID's length).
pub const MAX_OWNER_ID_LEN: usize = 144;

/// The part of the link data that never changes (`FixedLinkData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedLinkData {
    /// The agent versions of the link's creator.
    pub agent_versions: VersionRange,
    /// The root key: it signs this record and authorises owners.
    pub root_key: PublicKeyEd25519,
    /// The full connection link a joiner connects with.
    pub conn_req: ConnectionRequest,
    /// An application's ID of what the link leads to, if any.
    pub entity_id: Option<Vec<u8>>,
}

impl Encode for FixedLinkData {
    fn encode(&self, out: &mut Vec<u8>) {
        self.agent_versions.encode(out);
        self.root_key.encode(out);
        self.conn_req.encode(out);
        if let Some(id) = &self.entity_id {
            put_short(id, out);
        }
    }
}

impl Decode for FixedLinkData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let agent_versions = VersionRange::decode(r)?;
        let root_key = PublicKeyEd25519::decode(r)?;
        let conn_req = ConnectionRequest::decode(r)?;
        // An entity ID if one can be read; anything after it, or unreadable, is ignored.
        let entity_id = r.short_bytes().ok().map(<[u8]>::to_vec);
        r.rest();
        Ok(FixedLinkData {
            agent_versions,
            root_key,
            conn_req,
            entity_id,
        })
    }
}

/// The application's bytes in the link data (`UserLinkData`): up to 254 bytes with a one-byte
/// length, longer ones as `0xFF` and a two-byte length. More than 65,535 bytes cannot be
/// written (they are cut, and then refused as too large to encrypt).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserLinkData(pub Vec<u8>);

impl Encode for UserLinkData {
    fn encode(&self, out: &mut Vec<u8>) {
        if self.0.len() <= 254 {
            put_short(&self.0, out);
        } else {
            out.push(0xFF);
            put_large(&self.0, out);
        }
    }
}

impl Decode for UserLinkData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.peek() == Some(0xFF) {
            r.u8()?;
            Ok(UserLinkData(r.large_bytes()?.to_vec()))
        } else {
            Ok(UserLinkData(r.short_bytes()?.to_vec()))
        }
    }
}

/// An additional owner of a contact address (`OwnerAuth`): its key, authorised by the root
/// key or an owner listed before it, which signed `owner_id ‖ DER(owner_key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnerAuth {
    /// The application's ID of the owner (a group member ID in chat), unique in the list;
    /// at most [`MAX_OWNER_ID_LEN`] bytes.
    pub owner_id: Vec<u8>,
    /// The owner's Ed25519 key.
    pub owner_key: PublicKeyEd25519,
    /// The Ed25519 signature authorising it.
    pub auth_sig: [u8; 64],
}

impl std::fmt::Debug for OwnerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerAuth")
            .field("owner_id_len", &self.owner_id.len())
            .field("owner_key", &self.owner_key)
            .finish_non_exhaustive()
    }
}

impl OwnerAuth {
    /// The bytes the authorising key signs: the owner ID, then the DER of the owner's key.
    pub fn signed_bytes(owner_id: &[u8], owner_key: &PublicKeyEd25519) -> Vec<u8> {
        let mut b = owner_id.to_vec();
        b.extend_from_slice(&owner_key.to_der());
        b
    }
}

/// `(owner ID, key, signature)` wrapped in a one-byte-length string.
impl Encode for OwnerAuth {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut inner = Vec::new();
        put_short(&self.owner_id, &mut inner);
        self.owner_key.encode(&mut inner);
        put_short(&self.auth_sig, &mut inner);
        // Invariant: within MAX_OWNER_ID_LEN the whole fits; a longer caller-built ID is cut.
        put_short(&inner, out);
    }
}

impl Decode for OwnerAuth {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut inner = Reader::new(r.short_bytes()?);
        let owner_id = inner.short_bytes()?.to_vec();
        let owner_key = PublicKeyEd25519::decode(&mut inner)?;
        let auth_sig = read_signature(&mut inner)?;
        // Later fields of an extended authorisation are ignored.
        Ok(OwnerAuth {
            owner_id,
            owner_key,
            auth_sig,
        })
    }
}

/// An Ed25519 signature in a one-byte-length string.
pub(crate) fn read_signature(r: &mut Reader<'_>) -> Result<[u8; 64], DecodeError> {
    <[u8; 64]>::try_from(r.short_bytes()?).map_err(|_| DecodeError::Invalid("signature length"))
}

/// The changeable data of a contact address (`UserContactData`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserContactData {
    /// Whether a joiner may connect directly through the fixed data's connection link.
    pub direct: bool,
    /// Additional owners' keys, which may also sign this data.
    pub owners: Vec<OwnerAuth>,
    /// Alternative addresses of chat relays that receive requests for this address.
    pub relays: Vec<ContactShortLink>,
    /// The application's bytes.
    pub user_data: UserLinkData,
}

impl Encode for UserContactData {
    fn encode(&self, out: &mut Vec<u8>) {
        self.direct.encode(out);
        put_list(&self.owners, out, Encode::encode);
        put_list(&self.relays, out, Encode::encode);
        self.user_data.encode(out);
    }
}

impl Decode for UserContactData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let direct = bool::decode(r)?;
        let owners = simplex_encoding::decode_list(r)?;
        let relays = simplex_encoding::decode_list(r)?;
        let user_data = UserLinkData::decode(r)?;
        r.rest();
        Ok(UserContactData {
            direct,
            owners,
            relays,
            user_data,
        })
    }
}

/// The changeable data as an application gives it (`UserConnLinkData`): the mode letter, then
/// the invitation's bytes or the contact address's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserConnLinkData {
    /// The data of a one-time invitation.
    Invitation(UserLinkData),
    /// The data of a contact address.
    Contact(UserContactData),
}

impl UserConnLinkData {
    /// Invitation or contact.
    pub fn mode(&self) -> ConnectionMode {
        match self {
            UserConnLinkData::Invitation(_) => ConnectionMode::Invitation,
            UserConnLinkData::Contact(_) => ConnectionMode::Contact,
        }
    }

    /// The application's bytes.
    pub fn user_data(&self) -> &UserLinkData {
        match self {
            UserConnLinkData::Invitation(d) => d,
            UserConnLinkData::Contact(c) => &c.user_data,
        }
    }
}

impl Encode for UserConnLinkData {
    fn encode(&self, out: &mut Vec<u8>) {
        self.mode().encode(out);
        match self {
            UserConnLinkData::Invitation(d) => d.encode(out),
            UserConnLinkData::Contact(c) => c.encode(out),
        }
    }
}

impl Decode for UserConnLinkData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match ConnectionMode::decode(r)? {
            ConnectionMode::Invitation => {
                let d = UserLinkData::decode(r)?;
                r.rest();
                Ok(UserConnLinkData::Invitation(d))
            }
            ConnectionMode::Contact => Ok(UserConnLinkData::Contact(UserContactData::decode(r)?)),
        }
    }
}

/// The changeable data as it is signed and stored (`ConnLinkData`): the mode letter, the
/// agent versions of the signer, then the invitation's bytes or the contact address's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLinkData {
    /// The agent versions of the owner who signed it.
    pub agent_versions: VersionRange,
    /// The data.
    pub data: UserConnLinkData,
}

impl ConnLinkData {
    /// Invitation or contact.
    pub fn mode(&self) -> ConnectionMode {
        self.data.mode()
    }
}

impl Encode for ConnLinkData {
    fn encode(&self, out: &mut Vec<u8>) {
        self.mode().encode(out);
        self.agent_versions.encode(out);
        match &self.data {
            UserConnLinkData::Invitation(d) => d.encode(out),
            UserConnLinkData::Contact(c) => c.encode(out),
        }
    }
}

impl Decode for ConnLinkData {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mode = ConnectionMode::decode(r)?;
        let agent_versions = VersionRange::decode(r)?;
        let data = match mode {
            ConnectionMode::Invitation => {
                let d = UserLinkData::decode(r)?;
                r.rest();
                UserConnLinkData::Invitation(d)
            }
            ConnectionMode::Contact => UserConnLinkData::Contact(UserContactData::decode(r)?),
        };
        Ok(ConnLinkData {
            agent_versions,
            data,
        })
    }
}
