//! The sender's commands (`SEND`, `SKEY`, and the link reads `LGET`, `LKEY`) to the relay that holds a queue, directly or
//! through a proxy relay (private message routing; `sendOrProxySMPCommand`,
//! `getSMPProxyClient` in the reference's `Agent/Client.hs`).
//!
//! The proxy is one of the agent's own servers, chosen at random for each destination
//! session (preferring servers on other hosts than the destination's) and kept for it until
//! the connection to the proxy closes or the proxy fails to open a session with the relay.
//! The proxy connection is the agent's ordinary session with that server; over it there is
//! one proxied session (`PRXY` → `PKEY`) per destination relay, made when first needed and
//! reused by every queue on that relay. `ERR PROXY NO_SESSION` drops the session and the
//! command is tried once more through a new one. When the proxy or the relay cannot serve
//! the command at all (`BROKER HOST`, `TRANSPORT VERSION`: the reference's
//! `serverHostError`), the command goes directly if [`SmpProxyFallback::Allow`] says so;
//! every other failure is the caller's to retry or report.

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::OsRng;
use rand::RngCore;
use simplex_crypto::PrivateAuthKey;
use smp_client::{ClientError, ProxiedRelay, SmpClient};
use smp_proto::command::{Command, QueueLinkData};
use smp_proto::error::{BrokerErrorType, ProxyError, TransportError as WireTransportError};
use smp_proto::version::SHORT_LINKS_SMP_VERSION;
use smp_proto::{ErrorType, MsgFlags, Response, SmpServer};

use super::{Inner, SessKey};
use crate::error::AgentError;
use crate::types::{SmpProxyFallback, SmpProxyMode};

/// A sender's command to the relay holding a queue.
pub(super) enum SndCommand<'a> {
    /// `SEND`; `key` is `None` before the queue is secured.
    Send {
        key: Option<&'a PrivateAuthKey>,
        snd_id: &'a [u8],
        flags: MsgFlags,
        body: &'a [u8],
    },
    /// `SKEY`: the sender secures the queue with its key.
    SKey {
        key: &'a PrivateAuthKey,
        snd_id: &'a [u8],
    },
    /// `LGET`: reads a contact address's link data.
    LGet { link_id: &'a [u8] },
    /// `LKEY`: secures an invitation's queue with the sender's key and reads its link data.
    LKey {
        key: &'a PrivateAuthKey,
        link_id: &'a [u8],
    },
}

/// The answer to `LGET`/`LKEY`: the queue's sender ID and its (encrypted) link data.
pub(super) type LinkReply = (Vec<u8>, QueueLinkData);

/// Why a sender's command failed.
#[derive(Debug)]
pub(super) enum SendFail {
    /// The relay's `ERR` (also one sealed in `PRES`), or a failure of the connection the
    /// command went over (to the relay, or to the proxy), or of the proxy's session setup.
    Smp {
        /// The server whose connection or answer failed.
        server: Box<SmpServer>,
        /// What failed.
        error: ClientError,
    },
    /// The proxy's own `ERR` to `PFWD` (`ProxyProtocolError`: the reference's `PROXY` error).
    Proxy {
        /// The proxy.
        proxy: Box<SmpServer>,
        /// The relay the command was for.
        relay: Box<SmpServer>,
        /// The proxy's error.
        error: ErrorType,
    },
    /// The agent has no servers to choose a proxy from, or stopped.
    Agent(AgentError),
}

/// `BROKER NETWORK` or `BROKER TIMEOUT`, as the reference's `tempBrokerError`.
fn temporary_broker(e: &BrokerErrorType) -> bool {
    matches!(e, BrokerErrorType::Network(_) | BrokerErrorType::Timeout)
}

/// `BROKER HOST` or `BROKER TRANSPORT VERSION`, as the reference's `brokerHostError`.
fn host_broker(e: &BrokerErrorType) -> bool {
    matches!(
        e,
        BrokerErrorType::Host | BrokerErrorType::Transport(WireTransportError::Version)
    )
}

/// An `ERR` (the relay's, or a proxy's) that may pass on retry (`temporaryAgentError`).
fn temporary_err(e: &ErrorType) -> bool {
    match e {
        ErrorType::Proxy(p) => match p.as_ref() {
            ProxyError::Broker(b) => temporary_broker(b),
            ProxyError::NoSession => true,
            _ => false,
        },
        _ => false,
    }
}

/// An `ERR` saying the proxy cannot reach or serve the relay at all (`serverHostError`).
fn host_err(e: &ErrorType) -> bool {
    matches!(e, ErrorType::Proxy(p) if matches!(p.as_ref(), ProxyError::Broker(b) if host_broker(b)))
}

impl SendFail {
    /// Failures that may pass on retry: network, time-outs, closed connections, and the
    /// proxy's `BROKER NETWORK`/`TIMEOUT` and `NO_SESSION` (`temporaryAgentError`).
    pub(super) fn is_temporary(&self) -> bool {
        match self {
            SendFail::Smp { error, .. } => {
                error.is_temporary() || matches!(error, ClientError::Server(e) if temporary_err(e))
            }
            SendFail::Proxy { error, .. } => temporary_err(error),
            SendFail::Agent(AgentError::Stopped) => true,
            SendFail::Agent(_) => false,
        }
    }

    /// The proxy or the relay cannot serve the command at all: an incompatible host or an
    /// SMP version without private routing (`serverHostError`). Delivery retries these too.
    pub(super) fn is_host(&self) -> bool {
        match self {
            SendFail::Smp { error, .. } => match error {
                ClientError::Server(e) => host_err(e),
                ClientError::Transport(simplex_transport::TransportError::Version)
                | ClientError::NoHost => true,
                _ => false,
            },
            SendFail::Proxy { error, .. } => host_err(error),
            SendFail::Agent(_) => false,
        }
    }

    /// The relay's `ERR QUOTA`: the queue is full.
    pub(super) fn is_quota(&self) -> bool {
        matches!(
            self,
            SendFail::Smp {
                error: ClientError::Server(ErrorType::Quota),
                ..
            }
        )
    }

    /// As an API error.
    pub(super) fn into_agent_error(self) -> AgentError {
        match self {
            SendFail::Smp { server, error } => AgentError::Smp {
                server: server.to_string(),
                error,
            },
            SendFail::Proxy {
                proxy,
                relay,
                error,
            } => AgentError::Proxy {
                proxy: proxy.to_string(),
                relay: relay.to_string(),
                error,
            },
            SendFail::Agent(e) => e,
        }
    }
}

impl std::fmt::Display for SendFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // As before private routing: the chat shows it in MERR, and matches on AUTH's.
            SendFail::Smp { error, .. } => write!(f, "{error}"),
            SendFail::Proxy {
                proxy,
                relay,
                error,
            } => write!(f, "proxy {proxy} for {relay}: {error:?}"),
            SendFail::Agent(e) => write!(f, "{e}"),
        }
    }
}

/// A proxied session with one relay over one connection to a proxy.
pub(super) struct RelaySlot {
    /// The proxy.
    proxy: SmpServer,
    /// The destination relay.
    relay: SmpServer,
    /// The session ID of the proxy connection the state belongs to.
    proxy_session: Vec<u8>,
    /// The session, or the host error the proxy answered (kept, as the reference keeps it,
    /// until the proxy connection closes).
    state: Option<Result<ProxiedRelay, ErrorType>>,
}

/// The routing state of an agent.
#[derive(Default)]
pub(super) struct Routing {
    /// Destination session → the proxy chosen for it (`smpProxiedRelays`).
    proxies: HashMap<SessKey, SmpServer>,
    /// (proxy session, destination relay) → its proxied session.
    relays: HashMap<(SessKey, String), Arc<tokio::sync::Mutex<RelaySlot>>>,
}

impl SndCommand<'_> {
    async fn direct(&self, client: &SmpClient) -> Result<Option<LinkReply>, ClientError> {
        match *self {
            SndCommand::Send {
                key,
                snd_id,
                flags,
                body,
            } => client
                .send_message(key, snd_id, flags, body)
                .await
                .map(|_| None),
            SndCommand::SKey { key, snd_id } => {
                client.secure_sender_queue(key, snd_id).await.map(|_| None)
            }
            SndCommand::LGet { link_id } => client.get_link(link_id).await.map(Some),
            SndCommand::LKey { key, link_id } => {
                client.secure_get_link(key, link_id).await.map(Some)
            }
        }
    }

    /// Through the proxy: the outer error is the relay's or the connection's, the inner
    /// `Err` the proxy's own.
    async fn via(
        &self,
        client: &SmpClient,
        relay: &ProxiedRelay,
    ) -> Result<Result<Option<LinkReply>, ErrorType>, ClientError> {
        let (key, snd_id, cmd) = match *self {
            SndCommand::Send {
                key,
                snd_id,
                flags,
                body,
            } => (
                key,
                snd_id,
                Command::Send {
                    flags,
                    body: body.to_vec(),
                },
            ),
            SndCommand::SKey { key, snd_id } => {
                (Some(key), snd_id, Command::SKey(key.public_key()))
            }
            SndCommand::LGet { link_id } => (None, link_id, Command::LGet),
            SndCommand::LKey { key, link_id } => {
                (Some(key), link_id, Command::LKey(key.public_key()))
            }
        };
        if matches!(cmd, Command::LGet | Command::LKey(_))
            && relay.version < SHORT_LINKS_SMP_VERSION
        {
            return Err(ClientError::Unsupported("short links need SMP v15"));
        }
        match client.proxy_command_split(relay, key, snd_id, cmd).await? {
            Ok(Response::Ok) => Ok(Ok(None)),
            Ok(Response::Lnk { snd_id, data }) => Ok(Ok(Some((snd_id.into_vec(), data)))),
            Ok(r) => Err(ClientError::Unexpected(r.tag())),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl Inner {
    /// Whether commands to `dest` go through a proxy (`shouldUseProxy`).
    fn should_proxy(&self, dest: &SmpServer) -> bool {
        match self.config.smp_proxy_mode {
            SmpProxyMode::Always => true,
            // No SOCKS proxy or onion hosts here: the IP address is never protected.
            SmpProxyMode::Unknown | SmpProxyMode::Unprotected => !self.known_server(dest),
            SmpProxyMode::Never => false,
        }
    }

    /// A relay is known when one of its hosts is a host of one of the agent's servers (the
    /// reference compares hosts, not ports or identities).
    fn known_server(&self, dest: &SmpServer) -> bool {
        self.config
            .servers
            .iter()
            .any(|s| s.hosts.iter().any(|h| dest.hosts.contains(h)))
    }

    /// Whether a command may go directly after the proxy could not serve it.
    fn direct_allowed(&self) -> bool {
        // SPFAllowProtected needs a protected IP address, which this agent never has.
        self.config.smp_proxy_fallback == SmpProxyFallback::Allow
    }

    /// Sends a sender's command to the relay `dest` for `conn_id`'s queue, through a proxy
    /// when the mode says so. Returns the proxy it went through, if any.
    pub(super) async fn send_or_proxy(
        self: &Arc<Self>,
        dest: &SmpServer,
        conn_id: &[u8],
        cmd: SndCommand<'_>,
    ) -> Result<Option<SmpServer>, SendFail> {
        self.command_or_proxy(dest, conn_id, cmd)
            .await
            .map(|(proxy, _)| proxy)
    }

    /// [`Inner::send_or_proxy`] with the relay's link data when the command reads it
    /// (`LGET`, `LKEY`).
    pub(super) async fn command_or_proxy(
        self: &Arc<Self>,
        dest: &SmpServer,
        conn_id: &[u8],
        cmd: SndCommand<'_>,
    ) -> Result<(Option<SmpServer>, Option<LinkReply>), SendFail> {
        if self.should_proxy(dest) {
            match self.send_via_proxy(dest, conn_id, &cmd).await {
                Ok((proxy, reply)) => return Ok((Some(proxy), reply)),
                Err(e) if e.is_host() && self.direct_allowed() => {
                    tracing::debug!("proxy cannot serve {dest}, sending directly: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        let client = self
            .client(dest, conn_id)
            .await
            .map_err(|e| client_fail(dest, e))?;
        let reply = cmd.direct(&client).await.map_err(|error| SendFail::Smp {
            server: Box::new(dest.clone()),
            error,
        })?;
        Ok((None, reply))
    }

    async fn send_via_proxy(
        self: &Arc<Self>,
        dest: &SmpServer,
        conn_id: &[u8],
        cmd: &SndCommand<'_>,
    ) -> Result<(SmpServer, Option<LinkReply>), SendFail> {
        let dest_key = self.sess_key(dest, conn_id);
        let mut again = false;
        loop {
            let proxy = self.proxy_for(&dest_key, dest)?;
            let proxy_key = self.sess_key(&proxy, conn_id);
            let client = self
                .client_for(&proxy_key, &proxy)
                .await
                .map_err(|e| client_fail(&proxy, e))?;
            let relay = self
                .proxied_relay(&proxy_key, &proxy, &client, &dest_key, dest)
                .await?;
            match cmd.via(&client, &relay).await {
                Ok(Ok(reply)) => return Ok((proxy, reply)),
                Ok(Err(ErrorType::Proxy(p))) if *p == ProxyError::NoSession && !again => {
                    // The proxy lost the session: a new one through the same proxy, once.
                    self.forget_relay(&proxy_key, dest, &relay.session_id).await;
                    again = true;
                }
                Ok(Err(error)) => {
                    if matches!(&error, ErrorType::Proxy(p) if **p == ProxyError::NoSession) {
                        self.forget_relay(&proxy_key, dest, &relay.session_id).await;
                    }
                    return Err(SendFail::Proxy {
                        proxy: Box::new(proxy),
                        relay: Box::new(dest.clone()),
                        error,
                    });
                }
                Err(error) => {
                    return Err(SendFail::Smp {
                        server: Box::new(dest.clone()),
                        error,
                    })
                }
            }
        }
    }

    /// The proxy for a destination session: the one chosen before, or one of the agent's
    /// servers at random, preferring those that share no host with the destination (as the
    /// reference's `getNextServer`) and, among the others, any but the destination itself.
    fn proxy_for(&self, dest_key: &SessKey, dest: &SmpServer) -> Result<SmpServer, SendFail> {
        let mut routing = self
            .routing
            .lock()
            .map_err(|_| SendFail::Agent(AgentError::Stopped))?;
        if let Some(p) = routing.proxies.get(dest_key) {
            return Ok(p.clone());
        }
        let servers = &self.config.servers;
        let other_hosts: Vec<&SmpServer> = servers
            .iter()
            .filter(|s| s.hosts.iter().all(|h| !dest.hosts.contains(h)))
            .collect();
        let candidates = if !other_hosts.is_empty() {
            other_hosts
        } else {
            let not_dest: Vec<&SmpServer> = servers.iter().filter(|s| *s != dest).collect();
            if not_dest.is_empty() {
                servers.iter().collect()
            } else {
                not_dest
            }
        };
        let n = candidates.len() as u64;
        if n == 0 {
            return Err(SendFail::Agent(AgentError::NoServers));
        }
        let i = usize::try_from(OsRng.next_u64() % n).unwrap_or(0);
        let proxy = candidates
            .get(i)
            .map(|s| (*s).clone())
            .ok_or(SendFail::Agent(AgentError::NoServers))?;
        routing.proxies.insert(dest_key.clone(), proxy.clone());
        Ok(proxy)
    }

    /// The proxied session with `dest` over this proxy connection, asking for one
    /// (`PRXY`) when there is none yet; concurrent callers wait for the one asking.
    async fn proxied_relay(
        &self,
        proxy_key: &SessKey,
        proxy: &SmpServer,
        client: &SmpClient,
        dest_key: &SessKey,
        dest: &SmpServer,
    ) -> Result<ProxiedRelay, SendFail> {
        let slot = {
            let mut routing = self
                .routing
                .lock()
                .map_err(|_| SendFail::Agent(AgentError::Stopped))?;
            routing
                .relays
                .entry((proxy_key.clone(), dest.to_string()))
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(RelaySlot {
                        proxy: proxy.clone(),
                        relay: dest.clone(),
                        proxy_session: Vec::new(),
                        state: None,
                    }))
                })
                .clone()
        };
        let mut slot = slot.lock().await;
        if slot.proxy_session != client.session_id() {
            slot.proxy_session = client.session_id().to_vec();
            slot.state = None;
        }
        match &slot.state {
            Some(Ok(r)) => return Ok(r.clone()),
            Some(Err(e)) => {
                return Err(SendFail::Smp {
                    server: Box::new(proxy.clone()),
                    error: ClientError::Server(e.clone()),
                })
            }
            None => {}
        }
        match client
            .proxy_session(dest, self.config.server_auth.get(proxy).cloned())
            .await
        {
            Ok(r) => {
                slot.state = Some(Ok(r.clone()));
                Ok(r)
            }
            Err(error) => {
                let fail = SendFail::Smp {
                    server: Box::new(proxy.clone()),
                    error,
                };
                if fail.is_host() {
                    slot.state = Some(Err(host_error_type(&fail)));
                } else if let Ok(mut routing) = self.routing.lock() {
                    // Another proxy may be chosen next time.
                    routing.proxies.remove(dest_key);
                }
                Err(fail)
            }
        }
    }

    /// Drops a proxied session the proxy no longer has.
    async fn forget_relay(&self, proxy_key: &SessKey, dest: &SmpServer, session_id: &[u8]) {
        let slot = self.routing.lock().ok().and_then(|r| {
            r.relays
                .get(&(proxy_key.clone(), dest.to_string()))
                .cloned()
        });
        if let Some(slot) = slot {
            let mut slot = slot.lock().await;
            if matches!(&slot.state, Some(Ok(r)) if r.session_id == session_id) {
                slot.state = None;
            }
        }
    }

    /// After the connection of `proxy_key` closed: its proxied sessions are gone, and the
    /// destinations it served choose a proxy again (as the reference's
    /// `smpClientDisconnected`).
    pub(super) fn proxy_closed(&self, proxy_key: &SessKey) {
        let Ok(mut routing) = self.routing.lock() else {
            return;
        };
        let dests: Vec<String> = routing
            .relays
            .keys()
            .filter(|(p, _)| p == proxy_key)
            .map(|(_, d)| d.clone())
            .collect();
        for d in dests {
            routing.relays.remove(&(proxy_key.clone(), d.clone()));
            let dest_key = (d, proxy_key.1.clone());
            if routing
                .proxies
                .get(&dest_key)
                .is_some_and(|p| p.to_string() == proxy_key.0)
            {
                routing.proxies.remove(&dest_key);
            }
        }
    }

    /// The proxied sessions over open proxy connections: (proxy, relay) pairs.
    pub(super) async fn proxied_relays(&self) -> Vec<(SmpServer, SmpServer)> {
        let slots: Vec<(SessKey, Arc<tokio::sync::Mutex<RelaySlot>>)> = match self.routing.lock() {
            Ok(r) => r
                .relays
                .iter()
                .map(|((k, _), s)| (k.clone(), s.clone()))
                .collect(),
            Err(_) => return Vec::new(),
        };
        let open: HashMap<SessKey, Vec<u8>> = self
            .clients
            .lock()
            .await
            .iter()
            .filter(|(_, c)| !c.is_closed())
            .map(|(k, c)| (k.clone(), c.session_id().to_vec()))
            .collect();
        let mut out = Vec::new();
        for (key, slot) in slots {
            let slot = slot.lock().await;
            if matches!(slot.state, Some(Ok(_))) && open.get(&key) == Some(&slot.proxy_session) {
                out.push((slot.proxy.clone(), slot.relay.clone()));
            }
        }
        out.sort_by_key(|(p, r)| (p.to_string(), r.to_string()));
        out.dedup();
        out
    }
}

/// A failure to get a server's connection as a send failure.
fn client_fail(server: &SmpServer, e: AgentError) -> SendFail {
    match e {
        AgentError::Smp { error, .. } => SendFail::Smp {
            server: Box::new(server.clone()),
            error,
        },
        e => SendFail::Agent(e),
    }
}

/// A host error, kept as the `ERR` it stands for.
fn host_error_type(fail: &SendFail) -> ErrorType {
    match fail {
        SendFail::Smp {
            error: ClientError::Server(e),
            ..
        }
        | SendFail::Proxy { error: e, .. } => e.clone(),
        SendFail::Smp {
            error: ClientError::NoHost,
            ..
        } => ErrorType::Proxy(Box::new(ProxyError::Broker(BrokerErrorType::Host))),
        _ => ErrorType::Proxy(Box::new(ProxyError::Broker(BrokerErrorType::Transport(
            WireTransportError::Version,
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> Box<SmpServer> {
        let a = b"smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@a.example";
        Box::new(SmpServer::parse_str(a).expect("address"))
    }

    fn fail(e: ErrorType) -> SendFail {
        SendFail::Smp {
            server: addr(),
            error: ClientError::Server(e),
        }
    }

    fn proxy(p: ProxyError) -> ErrorType {
        ErrorType::Proxy(Box::new(p))
    }

    #[test]
    fn proxy_errors_classified_as_the_reference() {
        let net = proxy(ProxyError::Broker(BrokerErrorType::Timeout));
        assert!(fail(net.clone()).is_temporary());
        assert!(!fail(net).is_host());
        let no_session = fail(proxy(ProxyError::NoSession));
        assert!(no_session.is_temporary() && !no_session.is_host());
        let host = fail(proxy(ProxyError::Broker(BrokerErrorType::Host)));
        assert!(host.is_host() && !host.is_temporary());
        let version = fail(proxy(ProxyError::Broker(BrokerErrorType::Transport(
            WireTransportError::Version,
        ))));
        assert!(version.is_host() && !version.is_temporary());
        let auth = fail(proxy(ProxyError::BasicAuth));
        assert!(!auth.is_host() && !auth.is_temporary());
        let relay_auth = fail(ErrorType::Auth);
        assert!(!relay_auth.is_host() && !relay_auth.is_temporary() && !relay_auth.is_quota());
        assert!(fail(ErrorType::Quota).is_quota());
        let old_proxy = SendFail::Smp {
            server: addr(),
            error: ClientError::Transport(simplex_transport::TransportError::Version),
        };
        assert!(old_proxy.is_host());
        assert!(fail(host_error_type(&old_proxy)).is_host());
    }
}
