//! A service client's side of SMP v16 (the reference's `Client.hs` service paths): a client
//! connected with service credentials ([`ClientTransportConfig::service`]) signs `NEW`,
//! `SUB` and `NSUB` with its session key as well as the queue key, and subscribes all the
//! service's notifiers at once with `NSUBS`.
//!
//! [`ClientTransportConfig::service`]: simplex_transport::handshake::ClientTransportConfig

use simplex_crypto::PrivateAuthKey;
use simplex_transport::handshake::ClientService;
use smp_proto::command::Command;
use smp_proto::response::Response;

use crate::client::SmpClient;
use crate::error::ClientError;

impl SmpClient {
    /// The service ID the server gave this session, when it is a service session.
    pub fn service_id(&self) -> Option<&[u8]> {
        self.service().map(|s| s.service_id.as_slice())
    }

    fn service(&self) -> Option<&ClientService> {
        self.shared().service.as_ref()
    }

    /// The service keys a command is signed with: in a service session, `NEW`, `SUB` and
    /// `NSUB` (the reference's `useServiceAuth`).
    pub(crate) fn service_signing(&self, cmd: &Command) -> Option<&ClientService> {
        match cmd {
            Command::New(_) | Command::Sub | Command::NSub => self.service(),
            _ => None,
        }
    }

    /// `NSUB` answering with the service the queue is now associated with (`SOK`; `None`
    /// outside a service session).
    pub async fn subscribe_notifications_as_service(
        &self,
        ntf_key: &PrivateAuthKey,
        ntf_id: &[u8],
    ) -> Result<Option<Vec<u8>>, ClientError> {
        match self
            .send_command(Some(ntf_key), ntf_id, Command::NSub)
            .await?
        {
            Response::Sok(sid) => Ok(sid.map(|s| s.as_slice().to_vec())),
            Response::Ok => Ok(None),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `NSUBS`: subscribes the notifications of every queue associated with this notifier
    /// service; returns their number (`SOKS`). The service key signs it, with the service ID
    /// as the entity.
    pub async fn subscribe_service_notifications(&self) -> Result<i64, ClientError> {
        let svc = self.service().ok_or(ClientError::NoService)?;
        let key = PrivateAuthKey::Ed25519(svc.key.clone());
        let id = svc.service_id.clone();
        match self.send_command(Some(&key), &id, Command::NSubs).await? {
            Response::Soks(n) => Ok(n),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `SUBS`: subscribes every queue of this messaging service (the reference's relay
    /// answers `ERR CMD PROHIBITED`).
    pub async fn subscribe_service_queues(&self) -> Result<i64, ClientError> {
        let svc = self.service().ok_or(ClientError::NoService)?;
        let key = PrivateAuthKey::Ed25519(svc.key.clone());
        let id = svc.service_id.clone();
        match self.send_command(Some(&key), &id, Command::Subs).await? {
            Response::Soks(n) => Ok(n),
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }
}
