//! Short links of contact addresses and one-time invitations (SMP v15 link data; the
//! reference's `newConn` with a link, `getConnShortLink`, `setConnShortLink`,
//! `deleteConnShortLink`).
//!
//! - Creating an address on a relay at v15 or later puts the link data on the contact queue
//!   in `NEW`: the fixed part (agent versions, a fresh root Ed25519 key, the full address
//!   link) and the user part (the caller's bytes), signed with the root key and encrypted
//!   under keys derived from the link key. The queue's sender ID is chosen before `NEW`
//!   (from its correlation ID) so that the full link can be part of the data. On an older
//!   relay the address has only its full link.
//! - Joining through a short address link reads the data (`LGET`, through a proxy when the
//!   agent routes privately), checks it (hash, signatures, then that the embedded link's
//!   first queue is the queue the short link names: same server host, same sender ID) before
//!   anything is sent, and joins the embedded full link.
//! - An invitation's short link works alike, on a messaging queue whose link ID the relay
//!   makes. Joining it reads the data with `LKEY`, which also secures the queue with the
//!   joiner's new sender key, so the join that follows skips `SKEY` (the reference's
//!   `newSndQueue` with a key).
//! - The owner can replace the user part (`LSET`) or remove the link (`LDEL`); deleting the
//!   address deletes its queue and with it the link.
//! - A link to one of the agent's preset relays names the relay by host alone, as the
//!   reference prints it (`shortenShortLink`); joining restores the rest from the presets
//!   (`restoreShortLink`) and refuses a host-only link to a relay that is not preset.

use std::sync::Arc;

use agent_proto::version::{SUPPORTED_AGENT_VERSIONS, SUPPORTED_SMP_CLIENT_VERSIONS};
use agent_proto::{
    contact_short_link_kdf, decrypt_link_data, encode_sign_link_data, encode_sign_user_data,
    encrypt_link_data, encrypt_user_data, inv_short_link_kdf, ConnReqUriData, ConnectionLink,
    ConnectionMode, ConnectionRequest, ContactRequest, ContactShortLink, ContactType,
    FixedLinkData, InvitationShortLink, LinkKey, ShortLink, ShortLinkScheme, UserConnLinkData,
    UserContactData, UserLinkData,
};
use rand::rngs::OsRng;
use simplex_crypto::{PrivateAuthKey, PrivateKeyEd25519};
use simplex_encoding::{Large, ShortBytes};
use simplex_ratchet::{E2ERatchetParamsUri, X448};
use smp_client::link_corr_id;
use smp_proto::version::SHORT_LINKS_SMP_VERSION;
use smp_proto::{
    ContactLinkReq, MessagingLinkReq, QueueLinkData, QueueMode, QueueReqData, SmpQueueUri,
    SmpServer,
};

use super::connect::{invitation_link, NewRcvKeys};
use super::routing::{SendFail, SndCommand};
use super::{random_id, smp_err, Agent, Inner};
use crate::error::{AgentError, StoreError};
use crate::store::*;

/// The links of a new contact address or invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedLinks {
    /// The full `simplex:/contact` or `simplex:/invitation` link (always).
    pub full: String,
    /// The short link, when the address's relay serves short links (SMP v15+).
    pub short: Option<String>,
}

/// What a short link's data says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortLinkData {
    /// The full connection link the short link stands for.
    pub full: String,
    /// The application's bytes in the link data (the chat's profile).
    pub user_data: Vec<u8>,
}

fn enc_err(_: simplex_encoding::LengthError) -> AgentError {
    AgentError::Link(agent_proto::LinkDataError::TooLarge)
}

impl Agent {
    /// Creates a contact address with a short link carrying `user_data` (`newConn` with a
    /// link): both links when the relay serves short links (SMP v15+), only the full link
    /// otherwise.
    pub async fn create_contact_address_with_link(
        &self,
        user_data: &[u8],
    ) -> Result<(ConnId, CreatedLinks), AgentError> {
        self.inner
            .new_address_with_link(user_data, ContactType::Contact)
            .await
    }

    /// Creates a group link: an address as [`Agent::create_contact_address_with_link`]
    /// whose short link is of the group type (`https://<relay>/g#…`).
    pub async fn create_group_link(
        &self,
        user_data: &[u8],
    ) -> Result<(ConnId, CreatedLinks), AgentError> {
        self.inner
            .new_address_with_link(user_data, ContactType::Group)
            .await
    }

    /// Creates a one-time invitation with a short link carrying `user_data` (`newConn` with
    /// a link): both links when the relay serves short links (SMP v15+) and the agent makes
    /// queues the sender secures, only the full link otherwise.
    pub async fn create_connection_with_link(
        &self,
        user_data: &[u8],
    ) -> Result<(ConnId, CreatedLinks), AgentError> {
        let (conn_id, link, short) = self
            .inner
            .new_invitation_with(None, Some(user_data))
            .await?;
        let full = ConnectionRequest::Invitation(link).to_string();
        Ok((conn_id, CreatedLinks { full, short }))
    }

    /// Reads and checks the data behind a short link (`getConnShortLink`): the full link it
    /// stands for and the application's bytes. Nothing is sent to the address. For a
    /// one-time invitation this secures its queue with a new sender key (`LKEY`), kept for
    /// the join that may follow (reading again uses the same key).
    pub async fn get_short_link_data(&self, link: &str) -> Result<ShortLinkData, AgentError> {
        let ConnectionLink::Short(short) = parse_link(link)? else {
            return Err(AgentError::BadLink("not a short link".into()));
        };
        let (req, user_data, _) = self.inner.read_short_link(&short).await?;
        Ok(ShortLinkData {
            full: req.to_string(),
            user_data,
        })
    }

    /// Joins a full or short link (`joinConn`); for a short link, returns the application's
    /// bytes from its data too. The link data is checked before anything is
    /// sent.
    pub async fn join_connection_link(
        &self,
        link: &str,
        conn_info: &[u8],
    ) -> Result<(ConnId, Option<Vec<u8>>), AgentError> {
        match parse_link(link)? {
            ConnectionLink::Full(ConnectionRequest::Invitation(inv)) => {
                // The key of an earlier read of its short link, if any (the queue is
                // secured with it already).
                let read = self.inner.inv_link_read_before(&inv).await?;
                let snd_key = read.as_ref().map(|r| r.snd_key.clone());
                let id = self.inner.join_invitation(&inv, conn_info, snd_key).await?;
                self.inner.forget_inv_link(read.map(|r| r.link_id)).await;
                Ok((id, None))
            }
            ConnectionLink::Full(ConnectionRequest::Contact(c)) => {
                let id = self.inner.join_contact(&c, conn_info).await?;
                Ok((id, None))
            }
            ConnectionLink::Short(short) => {
                let (req, user_data, snd_key) = self.inner.read_short_link(&short).await?;
                let id = match req {
                    ConnectionRequest::Contact(c) => self.inner.join_contact(&c, conn_info).await?,
                    ConnectionRequest::Invitation(inv) => {
                        let id = self.inner.join_invitation(&inv, conn_info, snd_key).await?;
                        if let ShortLink::Invitation(l) = &short {
                            self.inner.forget_inv_link(Some(l.link_id.clone())).await;
                        }
                        id
                    }
                };
                Ok((id, Some(user_data)))
            }
        }
    }

    /// Whether `link` is a connection link this agent can join (full or short, either
    /// scheme); nothing is sent.
    pub fn check_link(link: &str) -> Result<(), AgentError> {
        parse_link(link).map(|_| ())
    }

    /// Replaces the application's bytes in an address's short link (`LSET`).
    pub async fn set_address_link_data(
        &self,
        conn_id: &[u8],
        user_data: &[u8],
    ) -> Result<(), AgentError> {
        let inner = &self.inner;
        let (link, rq) = inner.address_link(conn_id).await?;
        let link_key = LinkKey(link.link_key);
        let (_, sb_key) = contact_short_link_kdf(&link_key);
        let PrivateAuthKey::Ed25519(root) = &link.root_key else {
            return Err(StoreError::Corrupt("root key").into());
        };
        let signed =
            encode_sign_user_data(root, SUPPORTED_AGENT_VERSIONS, &contact_data(user_data));
        let user = encrypt_user_data(&mut OsRng, &sb_key, &signed)?;
        // The fixed part is set once: the relay keeps the one it has and compares it.
        let fixed = inner.stored_fixed_data(&rq, &link).await?;
        let data = QueueLinkData {
            fixed,
            user: Large::new(user).map_err(enc_err)?,
        };
        let client = inner.client(&rq.server, conn_id).await?;
        client
            .set_link(&rq.rcv_key, &rq.rcv_id, &link.link_id, data)
            .await
            .map_err(|e| smp_err(&rq.server, e))
    }

    /// Removes an address's short link (`LDEL`); the address and its full link stay.
    pub async fn delete_address_link(&self, conn_id: &[u8]) -> Result<(), AgentError> {
        let inner = &self.inner;
        let (_, rq) = inner.address_link(conn_id).await?;
        let client = inner.client(&rq.server, conn_id).await?;
        client
            .delete_link(&rq.rcv_key, &rq.rcv_id)
            .await
            .map_err(|e| smp_err(&rq.server, e))?;
        let id = conn_id.to_vec();
        inner
            .db(move |s| s.apply(vec![Write::DeleteShortLink(id)]))
            .await?;
        Ok(())
    }

    /// The short link of an address, if it has one.
    pub async fn address_short_link(&self, conn_id: &[u8]) -> Result<Option<String>, AgentError> {
        let id = conn_id.to_vec();
        let link = self.inner.db(move |s| s.short_link(&id)).await?;
        Ok(link.map(|l| l.short_link))
    }
}

fn is_auth(e: &AgentError) -> bool {
    matches!(
        e,
        AgentError::Smp {
            error: smp_client::ClientError::Server(smp_proto::ErrorType::Auth),
            ..
        }
    )
}

fn parse_link(link: &str) -> Result<ConnectionLink, AgentError> {
    ConnectionLink::parse(link.trim().as_bytes()).map_err(|e| AgentError::BadLink(e.to_string()))
}

fn contact_data(user_data: &[u8]) -> UserConnLinkData {
    UserConnLinkData::Contact(UserContactData {
        direct: true,
        owners: Vec::new(),
        relays: Vec::new(),
        user_data: UserLinkData(user_data.to_vec()),
    })
}

impl Inner {
    async fn new_address_with_link(
        self: &Arc<Self>,
        user_data: &[u8],
        contact_type: ContactType,
    ) -> Result<(ConnId, CreatedLinks), AgentError> {
        let server = self.pick_server()?;
        let conn_id = random_id();
        let conn = ConnRecord::new(
            conn_id.clone(),
            ConnKind::Contact,
            true,
            SUPPORTED_AGENT_VERSIONS.max.0,
        );
        let client = self.client(&server, &conn_id).await?;
        if client.version() < SHORT_LINKS_SMP_VERSION {
            // As the reference: an address on an older relay has only its full link.
            let (rq, uri) = self.create_rcv_queue(&conn_id, &server, false).await?;
            self.db(move |s| s.apply(vec![Write::PutConn(conn), Write::PutRcvQueue(rq)]))
                .await?;
            let full = contact_link(uri).to_string();
            return Ok((conn_id, CreatedLinks { full, short: None }));
        }
        let keys = NewRcvKeys::generate(client.version());
        let (corr_id, snd_id) = link_corr_id().map_err(|e| smp_err(&server, e))?;
        let uri = SmpQueueUri {
            client_versions: SUPPORTED_SMP_CLIENT_VERSIONS,
            server: server.clone(),
            sender_id: snd_id.to_vec(),
            dh_public_key: keys.e2e.public_key(),
            queue_mode: Some(QueueMode::Contact),
        };
        let conn_req = contact_link(uri);
        let root = PrivateKeyEd25519::generate(&mut OsRng);
        let (link_key, signed) = encode_sign_link_data(
            &root,
            SUPPORTED_AGENT_VERSIONS,
            &conn_req,
            None,
            &contact_data(user_data),
        );
        let (link_id, sb_key) = contact_short_link_kdf(&link_key);
        let enc = encrypt_link_data(&mut OsRng, &sb_key, &signed)?;
        let req = QueueReqData::Contact(Some(ContactLinkReq {
            link_id: ShortBytes::from_slice(&link_id).map_err(enc_err)?,
            snd_id: ShortBytes::from_slice(&snd_id).map_err(enc_err)?,
            data: QueueLinkData {
                fixed: Large::new(enc.fixed).map_err(enc_err)?,
                user: Large::new(enc.user).map_err(enc_err)?,
            },
        }));
        let (rq, _) = self
            .create_rcv_queue_with(&conn_id, &server, keys, req, Some(corr_id))
            .await?;
        if rq.snd_id != snd_id {
            // The relay must take the sender ID the link names; it did not.
            return Err(AgentError::Message("relay changed the address's sender ID"));
        }
        let short = ShortLink::Contact(ContactShortLink {
            scheme: ShortLinkScheme::Server,
            contact_type,
            server: server.clone(),
            link_key,
        })
        .shorten(&self.config.preset_servers)
        .to_string();
        let link = ShortLinkRecord {
            conn_id: conn_id.clone(),
            link_id: link_id.to_vec(),
            link_key: link_key.0,
            root_key: PrivateAuthKey::Ed25519(root),
            short_link: short.clone(),
        };
        self.db(move |s| {
            s.apply(vec![
                Write::PutConn(conn),
                Write::PutRcvQueue(rq),
                Write::PutShortLink(link),
            ])
        })
        .await?;
        let links = CreatedLinks {
            full: conn_req.to_string(),
            short: Some(short),
        };
        Ok((conn_id, links))
    }

    /// Reads a short link's data, through a proxy when the agent routes so: `LGET` for a
    /// contact address, `LKEY` with a new sender key for an invitation (the key is
    /// returned: the queue is secured with it). Then the data's checks; returns the full
    /// link it holds and the application's bytes.
    pub(super) async fn read_short_link(
        self: &Arc<Self>,
        short: &ShortLink,
    ) -> Result<(ConnectionRequest, Vec<u8>, Option<PrivateAuthKey>), AgentError> {
        let short = &self.restore_preset(short)?;
        // Not tied to a connection: a session of its own (as a new connection's).
        let session = random_id();
        let (mode, server, link_key, sb_key, snd_key, reply) = match short {
            ShortLink::Contact(c) => {
                // A group link is an address too (its requests join the group).
                if !matches!(c.contact_type, ContactType::Contact | ContactType::Group) {
                    return Err(AgentError::BadLink("not a contact address".into()));
                }
                let (link_id, sb_key) = contact_short_link_kdf(&c.link_key);
                let cmd = SndCommand::LGet { link_id: &link_id };
                let (_, reply) = self
                    .command_or_proxy(&c.server, &session, cmd)
                    .await
                    .map_err(SendFail::into_agent_error)?;
                (
                    ConnectionMode::Contact,
                    &c.server,
                    &c.link_key,
                    sb_key,
                    None,
                    reply,
                )
            }
            ShortLink::Invitation(l) => {
                let key = self.inv_link_key(l).await?;
                let cmd = SndCommand::LKey {
                    key: &key,
                    link_id: &l.link_id,
                };
                let reply = match self.command_or_proxy(&l.server, &session, cmd).await {
                    Ok((_, reply)) => reply,
                    Err(e) => {
                        let e = e.into_agent_error();
                        if is_auth(&e) {
                            // Used by someone else, or deleted: the key is of no use.
                            self.forget_inv_link(Some(l.link_id.clone())).await;
                        }
                        return Err(e);
                    }
                };
                if let Some((snd_id, _)) = &reply {
                    let r = InvShortLinkRecord {
                        link_id: l.link_id.clone(),
                        link_key: l.link_key.0,
                        snd_key: key.clone(),
                        snd_id: Some(snd_id.clone()),
                    };
                    self.db(move |s| s.apply(vec![Write::PutInvShortLink(r)]))
                        .await?;
                }
                let sb_key = inv_short_link_kdf(&l.link_key);
                (
                    ConnectionMode::Invitation,
                    &l.server,
                    &l.link_key,
                    sb_key,
                    Some(key),
                    reply,
                )
            }
        };
        let (snd_id, data) = reply.ok_or(AgentError::Message("no link data"))?;
        let enc = agent_proto::EncryptedLinkData {
            fixed: data.fixed.into_vec(),
            user: data.user.into_vec(),
        };
        let (fixed, user) = decrypt_link_data(mode, link_key, &sb_key, &enc)?;
        let req = check_link_address(server, &snd_id, fixed)?;
        Ok((req, user.data.user_data().0.clone(), snd_key))
    }

    /// The sender key for `LKEY` of an invitation's short link: the one of an earlier read
    /// of the same link (the relay accepts the same key again), or a new one, recorded
    /// before it is sent so that a lost answer does not lose the key that secured the queue.
    async fn inv_link_key(&self, l: &InvitationShortLink) -> Result<PrivateAuthKey, AgentError> {
        let link_id = l.link_id.clone();
        let known = self.db(move |s| s.inv_short_link(&link_id)).await?;
        if let Some(r) = known.filter(|r| r.link_key == l.link_key.0) {
            return Ok(r.snd_key);
        }
        let key = PrivateAuthKey::Ed25519(PrivateKeyEd25519::generate(&mut OsRng));
        let r = InvShortLinkRecord {
            link_id: l.link_id.clone(),
            link_key: l.link_key.0,
            snd_key: key.clone(),
            snd_id: None,
        };
        self.db(move |s| s.apply(vec![Write::PutInvShortLink(r)]))
            .await?;
        Ok(key)
    }

    /// The record of an earlier read of this invitation's short link (its queue secured with
    /// the key in it), found by the invitation's first queue.
    pub(super) async fn inv_link_read_before(
        &self,
        inv: &agent_proto::InvitationRequest,
    ) -> Result<Option<InvShortLinkRecord>, AgentError> {
        let Some(q) = inv.data.smp_queues.first() else {
            return Ok(None);
        };
        let snd_id = q.sender_id.clone();
        self.db(move |s| s.inv_short_link_by_snd_id(&snd_id)).await
    }

    /// Forgets the read of an invitation's short link once the invitation is joined (the
    /// reference's `deleteInvShortLink`); a failure leaves only a stale record.
    pub(super) async fn forget_inv_link(&self, link_id: Option<Vec<u8>>) {
        if let Some(id) = link_id {
            let _ = self
                .db(move |s| s.apply(vec![Write::DeleteInvShortLink(id)]))
                .await;
        }
    }

    /// The link with its relay's port and key hash filled in from the preset relays when it
    /// names the relay by host alone (`restoreShortLink`); refused when it still has no key
    /// hash (a host that is not preset, or one with a port), before anything is sent.
    fn restore_preset(&self, short: &ShortLink) -> Result<ShortLink, AgentError> {
        let restored = short.restore(&self.config.preset_servers);
        let server = restored.server();
        if server.key_hash.is_empty() {
            let host = server.hosts.first().map(|h| h.to_string());
            return Err(AgentError::UnknownPresetRelay(host.unwrap_or_default()));
        }
        Ok(restored)
    }

    /// A messaging queue for a new invitation with its link data in `NEW` (the relay makes
    /// the link ID); a queue without a link when the relay or the configuration cannot.
    pub(super) async fn inv_queue_with_link(
        self: &Arc<Self>,
        conn_id: &[u8],
        server: &SmpServer,
        e2e: &E2ERatchetParamsUri<X448>,
        user_data: &[u8],
        extra: &[SmpQueueUri],
    ) -> Result<(RcvQueueRecord, SmpQueueUri, Option<String>), AgentError> {
        let client = self.client(server, conn_id).await?;
        if client.version() < SHORT_LINKS_SMP_VERSION || !self.config.sender_can_secure {
            let (rq, uri) = self
                .create_rcv_queue(conn_id, server, self.config.sender_can_secure)
                .await?;
            return Ok((rq, uri, None));
        }
        let keys = NewRcvKeys::generate(client.version());
        let (corr_id, snd_id) = link_corr_id().map_err(|e| smp_err(server, e))?;
        let uri = SmpQueueUri {
            client_versions: SUPPORTED_SMP_CLIENT_VERSIONS,
            server: server.clone(),
            sender_id: snd_id.to_vec(),
            dh_public_key: keys.e2e.public_key(),
            queue_mode: Some(QueueMode::Messaging),
        };
        let mut inv = invitation_link(uri.clone(), e2e.clone());
        inv.data.smp_queues.extend(extra.iter().cloned());
        let conn_req = ConnectionRequest::Invitation(inv);
        let root = PrivateKeyEd25519::generate(&mut OsRng);
        let data = UserConnLinkData::Invitation(UserLinkData(user_data.to_vec()));
        let (link_key, signed) =
            encode_sign_link_data(&root, SUPPORTED_AGENT_VERSIONS, &conn_req, None, &data);
        let sb_key = inv_short_link_kdf(&link_key);
        let enc = encrypt_link_data(&mut OsRng, &sb_key, &signed)?;
        let req = QueueReqData::Messaging(Some(MessagingLinkReq {
            snd_id: ShortBytes::from_slice(&snd_id).map_err(enc_err)?,
            data: QueueLinkData {
                fixed: Large::new(enc.fixed).map_err(enc_err)?,
                user: Large::new(enc.user).map_err(enc_err)?,
            },
        }));
        let (rq, link_id) = self
            .create_rcv_queue_with(conn_id, server, keys, req, Some(corr_id))
            .await?;
        let link_id = link_id.ok_or(AgentError::Message("relay made no link ID"))?;
        if rq.snd_id != snd_id || !rq.sender_can_secure {
            return Err(AgentError::Message("relay changed the invitation's queue"));
        }
        let short = ShortLink::Invitation(InvitationShortLink {
            scheme: ShortLinkScheme::Server,
            server: server.clone(),
            link_id,
            link_key,
        })
        .shorten(&self.config.preset_servers)
        .to_string();
        Ok((rq, uri, Some(short)))
    }

    async fn address_link(
        self: &Arc<Self>,
        conn_id: &[u8],
    ) -> Result<(ShortLinkRecord, RcvQueueRecord), AgentError> {
        let id = conn_id.to_vec();
        let (link, rq) = self
            .db(move |s| Ok((s.short_link(&id)?, s.rcv_queue(&id)?)))
            .await?;
        let rq = rq.ok_or(AgentError::NoConnection)?;
        let link = link.ok_or(AgentError::Prohibited("the address has no short link"))?;
        Ok((link, rq))
    }

    /// The fixed part as the relay has it (read back with `LGET`: the relay refuses an
    /// `LSET` whose fixed part differs from the stored one).
    async fn stored_fixed_data(
        self: &Arc<Self>,
        rq: &RcvQueueRecord,
        link: &ShortLinkRecord,
    ) -> Result<Large, AgentError> {
        let client = self.client(&rq.server, &rq.conn_id).await?;
        let (_, data) = client
            .get_link(&link.link_id)
            .await
            .map_err(|e| smp_err(&rq.server, e))?;
        Ok(data.fixed)
    }
}

fn contact_link(uri: SmpQueueUri) -> ConnectionRequest {
    ConnectionRequest::Contact(ContactRequest {
        data: ConnReqUriData {
            agent_versions: SUPPORTED_AGENT_VERSIONS,
            smp_queues: vec![uri],
            client_data: None,
        },
    })
}

/// The reference's check after decryption: the embedded link's first queue is on the short
/// link's server (its first host among the queue server's hosts) with the sender ID the
/// relay answered; a queue on another form of the same server is given the short link's.
fn check_link_address(
    server: &SmpServer,
    snd_id: &[u8],
    fixed: FixedLinkData,
) -> Result<ConnectionRequest, AgentError> {
    let mut req = fixed.conn_req;
    let data = match &mut req {
        ConnectionRequest::Contact(c) => &mut c.data,
        ConnectionRequest::Invitation(i) => &mut i.data,
    };
    let q = data.smp_queues.first_mut().ok_or(AgentError::LinkAddress)?;
    let same_host = server
        .hosts
        .first()
        .is_some_and(|h| q.server.hosts.contains(h));
    if !same_host || q.sender_id != snd_id {
        return Err(AgentError::LinkAddress);
    }
    if q.server != *server {
        q.server = server.clone();
    }
    Ok(req)
}
