//! The cryptography of short links (the reference's `Crypto/ShortLink.hs`), as pure functions:
//! keys and randomness come from the caller, nothing is read or stored.
//!
//! - The link key is the SHA3-256 of the encoded [`FixedLinkData`].
//! - A contact link derives its link ID and secret-box key from the link key:
//!   `HKDF-SHA512(salt "", link key, "SimpleXContactLink", 56)` = link ID (24) ‖ key (32).
//!   An invitation's link ID comes from the relay; its key is
//!   `HKDF-SHA512(salt "", link key, "SimpleXInvLink", 32)`.
//! - Each part is signed: the Ed25519 signature (one-byte length) then the encoded record.
//!   The fixed part is padded to 2,008 bytes, the user part to 13,784, and each is sealed with
//!   the reference's secret box under a fresh nonce: `nonce (24) ‖ tag (16) ‖ ciphertext`, so
//!   2,048 and 13,824 bytes on the relay.
//! - A reader checks, in order: the hash of the fixed part against the link key, the fixed
//!   part's signature by its root key, the owners of a contact address (each authorised by the
//!   root key or an earlier owner), and the user part's signature by the root key or, for a
//!   contact address, any owner. Each failure has its own [`LinkDataError`].

use rand_core::{CryptoRng, RngCore};
use simplex_crypto::{
    hkdf_sha512, sb_decrypt, sb_encrypt, sha3_256, CbNonce, PrivateKeyEd25519, PublicKeyEd25519,
    SbKey,
};
use simplex_encoding::{Decode, DecodeError, Encode, Reader};

use crate::error::{LinkDataError, OwnerError};
use crate::link::{ConnectionMode, ConnectionRequest};
use crate::link_data::{
    read_signature, ConnLinkData, FixedLinkData, OwnerAuth, UserConnLinkData, MAX_OWNER_ID_LEN,
};
use crate::short_link::LinkKey;
use crate::version::VersionRange;

/// The padded size of the fixed part: 2048 − 24 (nonce) − 16 (tag).
pub const FIXED_DATA_PADDED_LEN: usize = 2008;
/// The padded size of the user part: 13824 − 24 − 16.
pub const USER_DATA_PADDED_LEN: usize = 13784;
/// The HKDF info of a contact link's ID and key.
pub const CONTACT_LINK_INFO: &[u8] = b"SimpleXContactLink";
/// The HKDF info of an invitation link's key.
pub const INVITATION_LINK_INFO: &[u8] = b"SimpleXInvLink";

/// The link ID and secret-box key of a contact link (`contactShortLinkKdf`).
pub fn contact_short_link_kdf(link_key: &LinkKey) -> ([u8; 24], SbKey) {
    let mut out = [0u8; 56];
    // Invariant: 56 bytes are within HKDF-SHA512's limit of 255 × 64.
    let okm = hkdf_sha512(b"", &link_key.0, CONTACT_LINK_INFO, out.len())
        .expect("56 bytes is within the HKDF-SHA512 output limit");
    out.copy_from_slice(&okm);
    let (id, key) = out.split_at(24);
    let mut link_id = [0u8; 24];
    link_id.copy_from_slice(id);
    let mut sb = [0u8; 32];
    sb.copy_from_slice(key);
    out.fill(0);
    (link_id, SbKey(sb))
}

/// The secret-box key of an invitation link (`invShortLinkKdf`).
pub fn inv_short_link_kdf(link_key: &LinkKey) -> SbKey {
    // Invariant: 32 bytes are within HKDF-SHA512's limit of 255 × 64.
    let okm = hkdf_sha512(b"", &link_key.0, INVITATION_LINK_INFO, 32)
        .expect("32 bytes is within the HKDF-SHA512 output limit");
    let mut sb = [0u8; 32];
    sb.copy_from_slice(&okm);
    SbKey(sb)
}

/// Both parts, signed and encoded, before encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLinkData {
    /// The signed fixed part.
    pub fixed: Vec<u8>,
    /// The signed user part.
    pub user: Vec<u8>,
}

/// Both parts as the relay stores them (`QueueLinkData`: each `EncDataBytes` is
/// `nonce ‖ secret box`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedLinkData {
    /// The encrypted fixed part (2,048 bytes).
    pub fixed: Vec<u8>,
    /// The encrypted user part (13,824 bytes).
    pub user: Vec<u8>,
}

fn sign_encoded(key: &PrivateKeyEd25519, data: Vec<u8>) -> Vec<u8> {
    let sig = key.sign(&data);
    let mut out = Vec::with_capacity(65 + data.len());
    out.push(64);
    out.extend_from_slice(&sig);
    out.extend_from_slice(&data);
    out
}

/// Encodes and signs the fixed part with the root key (`encodeSignFixedData`), returning the
/// link key (the SHA3-256 of the unsigned encoding) and the signed bytes.
pub fn encode_sign_fixed_data(
    root_key: &PrivateKeyEd25519,
    agent_versions: VersionRange,
    conn_req: &ConnectionRequest,
    entity_id: Option<&[u8]>,
) -> (LinkKey, Vec<u8>) {
    let fixed = FixedLinkData {
        agent_versions,
        root_key: root_key.public_key(),
        conn_req: conn_req.clone(),
        entity_id: entity_id.map(<[u8]>::to_vec),
    };
    let encoded = fixed.to_bytes();
    let link_key = LinkKey(sha3_256(&encoded));
    (link_key, sign_encoded(root_key, encoded))
}

/// Encodes and signs the user part with the root key or an owner's key
/// (`encodeSignUserData`).
pub fn encode_sign_user_data(
    key: &PrivateKeyEd25519,
    agent_versions: VersionRange,
    data: &UserConnLinkData,
) -> Vec<u8> {
    let record = ConnLinkData {
        agent_versions,
        data: data.clone(),
    };
    sign_encoded(key, record.to_bytes())
}

/// Both parts of a new link, signed with the root key (`encodeSignLinkData`).
pub fn encode_sign_link_data(
    root_key: &PrivateKeyEd25519,
    agent_versions: VersionRange,
    conn_req: &ConnectionRequest,
    entity_id: Option<&[u8]>,
    data: &UserConnLinkData,
) -> (LinkKey, SignedLinkData) {
    let (link_key, fixed) = encode_sign_fixed_data(root_key, agent_versions, conn_req, entity_id);
    let user = encode_sign_user_data(root_key, agent_versions, data);
    (link_key, SignedLinkData { fixed, user })
}

/// Authorises `owner_key` as an owner with `signing_key` (the root key or an earlier owner's).
pub fn sign_owner_auth(
    signing_key: &PrivateKeyEd25519,
    owner_id: &[u8],
    owner_key: PublicKeyEd25519,
) -> Result<OwnerAuth, LinkDataError> {
    if owner_id.len() > MAX_OWNER_ID_LEN {
        return Err(LinkDataError::TooLarge);
    }
    let auth_sig = signing_key.sign(&OwnerAuth::signed_bytes(owner_id, &owner_key));
    Ok(OwnerAuth {
        owner_id: owner_id.to_vec(),
        owner_key,
        auth_sig,
    })
}

/// A new owner key pair and its authorisation by `signing_key` (`newOwnerAuth`).
pub fn new_owner_auth(
    rng: &mut (impl CryptoRng + RngCore),
    owner_id: &[u8],
    signing_key: &PrivateKeyEd25519,
) -> Result<(PrivateKeyEd25519, OwnerAuth), LinkDataError> {
    let owner = PrivateKeyEd25519::generate(rng);
    let auth = sign_owner_auth(signing_key, owner_id, owner.public_key())?;
    Ok((owner, auth))
}

/// Pads `signed` to `padded_len` and seals it under `nonce`: `nonce ‖ secret box`.
pub fn encrypt_data_with_nonce(
    key: &SbKey,
    nonce: &CbNonce,
    padded_len: usize,
    signed: &[u8],
) -> Result<Vec<u8>, LinkDataError> {
    let sealed = sb_encrypt(key, nonce, signed, padded_len).map_err(|_| LinkDataError::TooLarge)?;
    let mut out = Vec::with_capacity(24 + sealed.len());
    out.extend_from_slice(nonce.as_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Encrypts both parts under fresh nonces (`encryptLinkData`).
pub fn encrypt_link_data(
    rng: &mut (impl CryptoRng + RngCore),
    key: &SbKey,
    signed: &SignedLinkData,
) -> Result<EncryptedLinkData, LinkDataError> {
    let fixed_nonce = CbNonce::random(rng);
    let fixed = encrypt_data_with_nonce(key, &fixed_nonce, FIXED_DATA_PADDED_LEN, &signed.fixed)?;
    let user = encrypt_user_data(rng, key, &signed.user)?;
    Ok(EncryptedLinkData { fixed, user })
}

/// Encrypts a new user part, to replace the stored one (`encryptUserData`).
pub fn encrypt_user_data(
    rng: &mut (impl CryptoRng + RngCore),
    key: &SbKey,
    signed_user: &[u8],
) -> Result<Vec<u8>, LinkDataError> {
    let nonce = CbNonce::random(rng);
    encrypt_data_with_nonce(key, &nonce, USER_DATA_PADDED_LEN, signed_user)
}

/// Opens one part: the signature and the signed bytes.
fn decrypt_part(key: &SbKey, enc: &[u8]) -> Result<([u8; 64], Vec<u8>), LinkDataError> {
    let mut r = Reader::new(enc);
    let nonce = CbNonce(r.array::<24>()?);
    let plain = sb_decrypt(key, &nonce, r.rest()).map_err(|_| LinkDataError::Decrypt)?;
    let mut r = Reader::new(&plain);
    let sig = read_signature(&mut r)?;
    Ok((sig, r.rest().to_vec()))
}

fn decode_exact<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    simplex_encoding::decode_all(bytes)
}

/// Opens and verifies the link data of a link of `mode` (`decryptLinkData`); see the module
/// documentation for the order of the checks.
pub fn decrypt_link_data(
    mode: ConnectionMode,
    link_key: &LinkKey,
    key: &SbKey,
    enc: &EncryptedLinkData,
) -> Result<(FixedLinkData, ConnLinkData), LinkDataError> {
    let (fixed_sig, fixed_bytes) = decrypt_part(key, &enc.fixed)?;
    let (user_sig, user_bytes) = decrypt_part(key, &enc.user)?;
    let fixed: FixedLinkData = decode_exact(&fixed_bytes)?;
    let user: ConnLinkData = decode_exact(&user_bytes)?;
    if fixed.conn_req.mode() != mode || user.mode() != mode {
        return Err(LinkDataError::Decode(DecodeError::Invalid(
            "bad connection mode",
        )));
    }
    if sha3_256(&fixed_bytes) != link_key.0 {
        return Err(LinkDataError::Hash);
    }
    if !fixed.root_key.verify(&fixed_sig, &fixed_bytes) {
        return Err(LinkDataError::FixedSignature);
    }
    let signed_by = |k: &PublicKeyEd25519| k.verify(&user_sig, &user_bytes);
    let user_ok = match &user.data {
        UserConnLinkData::Invitation(_) => signed_by(&fixed.root_key),
        UserConnLinkData::Contact(c) => {
            validate_link_owners(&fixed.root_key, &c.owners)?;
            signed_by(&fixed.root_key) || c.owners.iter().any(|o| signed_by(&o.owner_key))
        }
    };
    if !user_ok {
        return Err(LinkDataError::UserSignature);
    }
    Ok((fixed, user))
}

/// Checks the owners of a contact address in order (`validateLinkOwners`): no owner has the
/// root key, no two share an ID or a key, and each is authorised by the root key or an owner
/// listed before it.
pub fn validate_link_owners(
    root_key: &PublicKeyEd25519,
    owners: &[OwnerAuth],
) -> Result<(), OwnerError> {
    for (i, o) in owners.iter().enumerate() {
        let prev = owners.get(..i).unwrap_or_default();
        let id = o.owner_id.clone();
        if o.owner_key == *root_key {
            return Err(OwnerError::RootKey { owner_id: id });
        }
        if prev
            .iter()
            .any(|p| p.owner_id == o.owner_id || p.owner_key == o.owner_key)
        {
            return Err(OwnerError::Duplicate { owner_id: id });
        }
        let signed = OwnerAuth::signed_bytes(&o.owner_id, &o.owner_key);
        let signed_by = |k: &PublicKeyEd25519| k.verify(&o.auth_sig, &signed);
        if !(signed_by(root_key) || prev.iter().any(|p| signed_by(&p.owner_key))) {
            return Err(OwnerError::Unauthorized { owner_id: id });
        }
    }
    Ok(())
}
