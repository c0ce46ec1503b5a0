//! Queue creation with its later options, and the short-link commands of SMP v15 (the
//! reference's `createSMPQueue`, `addSMPQueueLink`, `deleteSMPQueueLink`,
//! `secureGetSMPQueueLink` and `getSMPQueueLink` in `Client.hs`).
//!
//! The two reads of a link also go through a proxy ([`SmpClient::proxy_secure_get_link`],
//! [`SmpClient::proxy_get_link`]), as apps do when they route privately.
//!
//! A queue created with link data carries a sender ID chosen by the client, which the relay
//! accepts only when it is the first 24 bytes of SHA3-384 of the `NEW` correlation ID (so that
//! creating a queue cannot probe whether an ID exists): [`link_corr_id`] makes such a pair,
//! and [`SmpClient::create_queue_with`] sends `NEW` under that correlation ID. The link data
//! itself is encrypted by the caller (the agent); the relay stores it unread.

use openssl::hash::{hash, MessageDigest};
use rand::RngCore;
use simplex_crypto::PrivateAuthKey;
use simplex_encoding::ShortBytes;
use smp_proto::command::{Command, NewQueueReq, QueueLinkData};
use smp_proto::error::ProtoError;
use smp_proto::response::{QueueIdsKeys, Response};
use smp_proto::transmission::CORR_ID_SIZE;
use smp_proto::version::{NEW_NTF_CREDS_SMP_VERSION, SHORT_LINKS_SMP_VERSION};

use crate::client::{ClientCommand, SmpClient};
use crate::error::ClientError;
use crate::proxy::ProxiedRelay;

/// The sender ID a relay expects for a queue created with link data under `corr_id`: the
/// first 24 bytes of SHA3-384 of the correlation ID.
pub fn link_sender_id(corr_id: &[u8; CORR_ID_SIZE]) -> Result<[u8; 24], ClientError> {
    let digest =
        hash(MessageDigest::sha3_384(), corr_id).map_err(|e| ClientError::Transport(e.into()))?;
    let mut id = [0u8; 24];
    id.copy_from_slice(digest.get(..24).unwrap_or(&[0u8; 24]));
    Ok(id)
}

/// A fresh random correlation ID for `NEW` and the sender ID that goes with it.
pub fn link_corr_id() -> Result<([u8; CORR_ID_SIZE], [u8; 24]), ClientError> {
    let mut corr_id = [0u8; CORR_ID_SIZE];
    rand::thread_rng().fill_bytes(&mut corr_id);
    Ok((corr_id, link_sender_id(&corr_id)?))
}

fn short(id: &[u8]) -> Result<ShortBytes, ClientError> {
    ShortBytes::from_slice(id).map_err(|e| ClientError::Encode(ProtoError::Length(e)))
}

impl SmpClient {
    /// `NEW` → `IDS` with every option of the negotiated version: the queue's mode and short
    /// link (v15), the notifier credentials (v17). `corr_id` is the correlation ID to send
    /// it under (required when the request has link data: see [`link_corr_id`]); `None`
    /// picks a random one.
    ///
    /// Fails with [`ClientError::Unsupported`] when the request has link data below v15 or
    /// notifier credentials below v17, which the version could not carry.
    pub async fn create_queue_with(
        &self,
        rcv_key: &PrivateAuthKey,
        req: NewQueueReq,
        corr_id: Option<[u8; CORR_ID_SIZE]>,
    ) -> Result<QueueIdsKeys, ClientError> {
        let v = self.version();
        let has_link = req
            .queue_req_data
            .as_ref()
            .is_some_and(|d| d.snd_id().is_some());
        if has_link && v < SHORT_LINKS_SMP_VERSION {
            return Err(ClientError::Unsupported("short links need SMP v15"));
        }
        if req.ntf_creds.is_some() && v < NEW_NTF_CREDS_SMP_VERSION {
            return Err(ClientError::Unsupported(
                "notifier credentials in NEW need SMP v17",
            ));
        }
        let cmd = ClientCommand {
            key: Some(rcv_key),
            entity_id: &[],
            command: Command::New(Box::new(req)),
        };
        let r = self.send_batch_with(vec![cmd], corr_id).await.pop();
        match r.unwrap_or(Err(ClientError::Closed))? {
            Response::Ids(ids) => Ok(ids),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `LSET` (v15): sets the link ID and data of the queue `rcv_id`. The relay refuses
    /// (`AUTH`) another link ID than the queue's, or fixed data that differs from what it
    /// stored.
    pub async fn set_link(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
        link_id: &[u8],
        data: QueueLinkData,
    ) -> Result<(), ClientError> {
        self.require_short_links()?;
        let cmd = Command::LSet {
            link_id: short(link_id)?,
            data,
        };
        self.expect_ok(Some(rcv_key), rcv_id, cmd).await
    }

    /// `LDEL` (v15): deletes the link data of the queue `rcv_id`.
    pub async fn delete_link(
        &self,
        rcv_key: &PrivateAuthKey,
        rcv_id: &[u8],
    ) -> Result<(), ClientError> {
        self.require_short_links()?;
        self.expect_ok(Some(rcv_key), rcv_id, Command::LDel).await
    }

    /// `LKEY` → `LNK` (v15): a sender opening an invitation's short link secures the
    /// messaging queue `link_id` leads to with its own key (as `SKEY`) and gets the queue's
    /// sender ID and link data.
    pub async fn secure_get_link(
        &self,
        snd_key: &PrivateAuthKey,
        link_id: &[u8],
    ) -> Result<(Vec<u8>, QueueLinkData), ClientError> {
        self.require_short_links()?;
        let r = self
            .send_command(Some(snd_key), link_id, Command::LKey(snd_key.public_key()))
            .await?;
        link_response(r)
    }

    /// `LGET` → `LNK` (v15): reads a contact address's link data (unsigned): the queue's
    /// sender ID and the encrypted data.
    pub async fn get_link(&self, link_id: &[u8]) -> Result<(Vec<u8>, QueueLinkData), ClientError> {
        self.require_short_links()?;
        let r = self.send_command(None, link_id, Command::LGet).await?;
        link_response(r)
    }

    /// [`SmpClient::secure_get_link`] through this proxy to `relay`
    /// (`proxySecureGetSMPQueueLink`).
    pub async fn proxy_secure_get_link(
        &self,
        relay: &ProxiedRelay,
        snd_key: &PrivateAuthKey,
        link_id: &[u8],
    ) -> Result<(Vec<u8>, QueueLinkData), ClientError> {
        require_relay_short_links(relay)?;
        let cmd = Command::LKey(snd_key.public_key());
        link_response(
            self.proxy_command(relay, Some(snd_key), link_id, cmd)
                .await?,
        )
    }

    /// [`SmpClient::get_link`] through this proxy to `relay` (`proxyGetSMPQueueLink`).
    pub async fn proxy_get_link(
        &self,
        relay: &ProxiedRelay,
        link_id: &[u8],
    ) -> Result<(Vec<u8>, QueueLinkData), ClientError> {
        require_relay_short_links(relay)?;
        link_response(
            self.proxy_command(relay, None, link_id, Command::LGet)
                .await?,
        )
    }

    fn require_short_links(&self) -> Result<(), ClientError> {
        if self.version() < SHORT_LINKS_SMP_VERSION {
            Err(ClientError::Unsupported("short links need SMP v15"))
        } else {
            Ok(())
        }
    }
}

fn require_relay_short_links(relay: &ProxiedRelay) -> Result<(), ClientError> {
    if relay.version < SHORT_LINKS_SMP_VERSION {
        Err(ClientError::Unsupported("short links need SMP v15"))
    } else {
        Ok(())
    }
}

fn link_response(r: Response) -> Result<(Vec<u8>, QueueLinkData), ClientError> {
    match r {
        Response::Lnk { snd_id, data } => Ok((snd_id.into_vec(), data)),
        r => Err(ClientError::Unexpected(r.tag())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_sender_id_is_sha3_384_of_the_corr_id() {
        // SHA3-384("") (FIPS 202) pins the algorithm the call uses.
        let empty = hash(MessageDigest::sha3_384(), b"").expect("sha3");
        assert_eq!(
            hex_prefix(&empty),
            "0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2a"
        );
        let id = link_sender_id(&[0u8; 24]).expect("hash");
        let full = hash(MessageDigest::sha3_384(), &[0u8; 24]).expect("sha3");
        assert_eq!(&id[..], &full[..24]);
        let (corr, snd) = link_corr_id().expect("ids");
        assert_eq!(link_sender_id(&corr).expect("hash"), snd);
    }

    fn hex_prefix(b: &[u8]) -> String {
        b.iter().take(32).map(|x| format!("{x:02x}")).collect()
    }
}
