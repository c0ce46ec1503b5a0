//! Private message routing (SMP v8+, `protocol/simplex-messaging.md` § "Proxying sender
//! commands"; `connectSMPProxiedRelay`, `proxySMPCommand` and `forwardSMPTransmission` in the
//! reference's `Client.hs`): both ends that speak it through an [`SmpClient`].
//!
//! A sender connected to a proxy asks it for a session with the destination relay
//! ([`SmpClient::proxy_session`], `PRXY` → `PKEY`), checks the relay's chain against the
//! relay address's identity and the session key's signature, then sends `SKEY` and `SEND`
//! encrypted for the relay ([`SmpClient::proxy_send`], [`SmpClient::proxy_secure`]): a fresh
//! X25519 key per command, its secret with the relay's session key, the `PFWD` correlation
//! ID as the nonce, the response under the reversed nonce. A proxy connected to a relay with
//! [`SmpClient::connect_as_proxy`] wraps such a command once more in `RFWD`
//! ([`SmpClient::forward`]).

use rand::RngCore;
use simplex_crypto::nacl::{
    cb_authenticate, cb_decrypt, cb_decrypt_no_pad, cb_encrypt, cb_encrypt_no_pad, CbNonce,
};
use simplex_crypto::{dh_x25519, sign, PrivateAuthKey, PrivateKeyX25519, PublicKeyX25519};
use simplex_encoding::{decode_all, Encode, ShortBytes};
use smp_proto::address::SmpServer;
use smp_proto::command::{Command, MsgFlags};
use smp_proto::error::{
    BrokerErrorType, ErrorType, HandshakeError, ProxyError, TransportError as WireTransportError,
};
use smp_proto::proxy::{
    decode_single_batch, encode_single_batch, FwdResponse, FwdTransmission, PADDED_PROXIED_LEN,
};
use smp_proto::response::Response;
use smp_proto::transmission::{decode_client_transmission, TransmissionForAuth, CORR_ID_SIZE};
use smp_proto::version::{Version, VersionRange, CLIENT_VERSIONS, SENDING_PROXY_SMP_VERSION};
use smp_proto::BasicAuth;

use crate::client::SmpClient;
use crate::error::ClientError;

/// A session with a destination relay through a proxy (`ProxiedRelay`), from `PKEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRelay {
    /// The proxy–relay session ID: the entity ID of `PFWD`, and signed into every proxied
    /// transmission.
    pub session_id: Vec<u8>,
    /// The version this client uses with the relay.
    pub version: Version,
    /// The relay's session key, verified against the relay address's identity.
    pub server_key: PublicKeyX25519,
    /// The proxy's password, kept to ask again after `ERR PROXY NO_SESSION`.
    pub basic_auth: Option<BasicAuth>,
}

/// `ERR PROXY BROKER TRANSPORT e`, as the reference reports relay problems it finds itself.
fn broker_transport(e: WireTransportError) -> ClientError {
    ClientError::Server(ErrorType::Proxy(Box::new(ProxyError::Broker(
        BrokerErrorType::Transport(e),
    ))))
}

impl SmpClient {
    /// `PRXY` → `PKEY`: asks this server (the proxy) for a session with `relay`, and checks
    /// what it returns: a version this client shares with the relay, and the relay's chain
    /// and signed session key against `relay`'s identity. A failed check is
    /// `ERR PROXY BROKER TRANSPORT VERSION` or `... HANDSHAKE IDENTITY`, as the reference
    /// reports them; the proxy's own errors come as [`ClientError::Server`].
    pub async fn proxy_session(
        &self,
        relay: &SmpServer,
        basic_auth: Option<BasicAuth>,
    ) -> Result<ProxiedRelay, ClientError> {
        if self.version() < SENDING_PROXY_SMP_VERSION {
            return Err(ClientError::Transport(
                simplex_transport::TransportError::Version,
            ));
        }
        let cmd = Command::Prxy {
            server: relay.clone(),
            basic_auth: basic_auth.clone(),
        };
        let r = self.send_command(None, &[], cmd).await?;
        relay_from_pkey(relay, basic_auth, r)
    }

    /// `SEND` to the relay through this proxy; `snd_key` is `None` before the queue is
    /// secured. The relay's `ERR` comes as [`ClientError::Server`].
    pub async fn proxy_send(
        &self,
        relay: &ProxiedRelay,
        snd_key: Option<&PrivateAuthKey>,
        snd_id: &[u8],
        flags: MsgFlags,
        body: &[u8],
    ) -> Result<(), ClientError> {
        let cmd = Command::Send {
            flags,
            body: body.to_vec(),
        };
        expect_ok(self.proxy_command(relay, snd_key, snd_id, cmd).await?)
    }

    /// `SKEY` (v9) to the relay through this proxy: the sender secures the queue with
    /// `snd_key`.
    pub async fn proxy_secure(
        &self,
        relay: &ProxiedRelay,
        snd_key: &PrivateAuthKey,
        snd_id: &[u8],
    ) -> Result<(), ClientError> {
        let cmd = Command::SKey(snd_key.public_key());
        expect_ok(
            self.proxy_command(relay, Some(snd_key), snd_id, cmd)
                .await?,
        )
    }

    /// Any sender command to the relay through this proxy (`proxySMPCommand`): the relay's
    /// response, its `ERR` (and the proxy's own) as [`ClientError::Server`].
    pub async fn proxy_command(
        &self,
        relay: &ProxiedRelay,
        key: Option<&PrivateAuthKey>,
        entity_id: &[u8],
        command: Command,
    ) -> Result<Response, ClientError> {
        match self
            .proxy_command_split(relay, key, entity_id, command)
            .await?
        {
            Ok(r) => Ok(r),
            Err(e) => Err(ClientError::Server(e)),
        }
    }

    /// [`SmpClient::proxy_command`] with the two servers' errors apart, as the reference's
    /// `proxySMPCommand` keeps them: the relay's `ERR` (sealed in `PRES`) and failures of this
    /// connection are the outer [`ClientError`]; the proxy's own `ERR` to `PFWD` (say,
    /// `PROXY NO_SESSION` or `PROXY BROKER NETWORK`) is the inner `Err`.
    pub async fn proxy_command_split(
        &self,
        relay: &ProxiedRelay,
        key: Option<&PrivateAuthKey>,
        entity_id: &[u8],
        command: Command,
    ) -> Result<Result<Response, ErrorType>, ClientError> {
        let mut rng = rand::rngs::OsRng;
        let cmd_key = PrivateKeyX25519::generate(&mut rng);
        let secret = dh_x25519(&relay.server_key, &cmd_key);
        let mut corr_id = [0u8; CORR_ID_SIZE];
        rng.fill_bytes(&mut corr_id);
        let nonce = CbNonce(corr_id);
        let v = relay.version;
        let body = command.to_bytes(v);
        let tfa = TransmissionForAuth::new(v, &relay.session_id, &corr_id, entity_id, &body)
            .map_err(ClientError::Encode)?;
        let auth = match key {
            None => None,
            Some(PrivateAuthKey::X25519(own)) => Some(
                cb_authenticate(&relay.server_key, own, &nonce, tfa.for_auth())
                    .as_bytes()
                    .to_vec(),
            ),
            Some(k) => {
                let sign_key = k.as_sign_key().ok_or(ClientError::NoServerAuth)?;
                Some(sign(&sign_key, tfa.for_auth()).as_bytes().to_vec())
            }
        };
        let t = tfa.encode(auth.as_deref()).map_err(ClientError::Encode)?;
        let batch = encode_single_batch(&t).map_err(ClientError::Encode)?;
        let enc_transmission =
            cb_encrypt(&secret, &nonce, &batch, PADDED_PROXIED_LEN).map_err(|_| {
                ClientError::Encode(smp_proto::ProtoError::TooLarge {
                    len: batch.len(),
                    max: PADDED_PROXIED_LEN - 2,
                })
            })?;
        let pfwd = Command::Pfwd {
            version: v,
            dh_key: cmd_key.public_key(),
            enc_transmission,
        };
        let response = match self
            .send_with_corr_id(corr_id, &relay.session_id, pfwd)
            .await
        {
            Ok(r) => r,
            Err(ClientError::Server(e)) => return Ok(Err(e)),
            Err(e) => return Err(e),
        };
        match response {
            Response::Pres(er) => {
                let plain = cb_decrypt(&secret, &nonce.reversed(), &er)
                    .map_err(|_| ClientError::Decrypt)?;
                let t = decode_single_batch(&plain).map_err(ClientError::BadResponse)?;
                let ct = decode_client_transmission(v, &relay.session_id, t);
                match ct.response {
                    Ok(Response::Err(e)) | Err(e) => Err(ClientError::Server(e)),
                    Ok(r) => Ok(Ok(r)),
                }
            }
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }

    /// `RFWD` → `RRES` (`forwardSMPTransmission`), on a connection made with
    /// [`SmpClient::connect_as_proxy`]: wraps a client's `PFWD` (its correlation ID, version,
    /// key and encrypted transmission) for this relay and returns the response encrypted
    /// for the client (the body of `PRES`). The relay's `ERR` comes as
    /// [`ClientError::Server`]; a response that does not open is [`ClientError::Decrypt`].
    pub async fn forward(
        &self,
        fwd_corr_id: &[u8],
        version: Version,
        key: PublicKeyX25519,
        enc_transmission: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        let secret = self.session_secret().ok_or(ClientError::NoServerAuth)?;
        let corr_id = ShortBytes::from_slice(fwd_corr_id)
            .map_err(|e| ClientError::Encode(smp_proto::ProtoError::Length(e)))?;
        let fwd = FwdTransmission {
            corr_id,
            version,
            key,
            enc_transmission,
        };
        let mut nonce = [0u8; CORR_ID_SIZE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = CbNonce(nonce);
        let enc = cb_encrypt_no_pad(secret, &nonce, &fwd.to_bytes());
        match self
            .send_with_corr_id(nonce.0, &[], Command::Rfwd(enc))
            .await?
        {
            Response::Rres(efr) => {
                let plain = cb_decrypt_no_pad(secret, &nonce.reversed(), &efr)
                    .map_err(|_| ClientError::Decrypt)?;
                let r = decode_all::<FwdResponse>(&plain)
                    .map_err(|e| ClientError::BadResponse(smp_proto::ProtoError::Decode(e)))?;
                Ok(r.enc_response)
            }
            r => Err(ClientError::Unexpected(r.tag())),
        }
    }
}

/// Checks a proxy's answer to `PRXY relay` (what [`SmpClient::proxy_session`] does with
/// it): `PKEY` with a version this client shares with the relay, and the relay's chain and
/// signed session key valid for `relay`'s identity. A failed check is
/// `ERR PROXY BROKER TRANSPORT VERSION` or `... HANDSHAKE IDENTITY`, as the reference
/// reports them; another response is [`ClientError::Unexpected`].
pub fn relay_from_pkey(
    relay: &SmpServer,
    basic_auth: Option<BasicAuth>,
    response: Response,
) -> Result<ProxiedRelay, ClientError> {
    match response {
        Response::Pkey {
            session_id,
            versions,
            cert_key,
        } => {
            let version = client_relay_versions()
                .compatible_version(&versions)
                .ok_or_else(|| broker_transport(WireTransportError::Version))?;
            let server_key = simplex_transport::verify_relay_key(&cert_key, &relay.key_hash)
                .map_err(|_| {
                    broker_transport(WireTransportError::Handshake(HandshakeError::Identity))
                })?;
            Ok(ProxiedRelay {
                session_id: session_id.into_vec(),
                version,
                server_key,
                basic_auth,
            })
        }
        r => Err(ClientError::Unexpected(r.tag())),
    }
}

/// The versions this client uses with relays it reaches through a proxy.
fn client_relay_versions() -> VersionRange {
    CLIENT_VERSIONS
}

fn expect_ok(r: Response) -> Result<(), ClientError> {
    match r {
        Response::Ok => Ok(()),
        r => Err(ClientError::Unexpected(r.tag())),
    }
}
