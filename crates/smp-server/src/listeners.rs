//! The relay's listening sockets ([`Listeners`]), bound apart from the server so that
//! `smp-server start` binds every port before it reads or changes its stores.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use simplex_transport::handshake::ServiceLookup;
use simplex_transport::{ServerCredentials, ServerTransport, SmpListener};

/// Where the running server puts its service look-up (the store lives in the core, made
/// after the ports are bound); until then service clients are refused.
pub(crate) type ServiceSlot = Arc<OnceLock<Arc<ServiceLookup>>>;

/// The relay's listening sockets, bound before anything else is done (`smp-server start`
/// binds every port before it reads or changes its stores, so that a port in use refuses the
/// start with nothing changed).
pub struct Listeners {
    pub(crate) first: SmpListener,
    /// Further ports (`[TRANSPORT] port = 5223,443`), served the same way.
    pub(crate) extra: Vec<SmpListener>,
    /// The service look-up of every port's handshakes, set when the server runs.
    pub(crate) services: ServiceSlot,
}

impl Listeners {
    /// Binds every address of `addrs` (at least one) with the server's credentials; the
    /// error names the port that could not be bound.
    pub async fn bind(
        addrs: &[SocketAddr],
        creds: &ServerCredentials,
    ) -> std::io::Result<Listeners> {
        Listeners::bind_with_versions(addrs, creds, smp_proto::SERVER_VERSIONS).await
    }

    /// As [`Listeners::bind`], offering `versions` to clients that negotiate ALPN (tests of
    /// other version ranges).
    pub async fn bind_with_versions(
        addrs: &[SocketAddr],
        creds: &ServerCredentials,
        versions: smp_proto::VersionRange,
    ) -> std::io::Result<Listeners> {
        let services: ServiceSlot = Arc::default();
        let slot = services.clone();
        let lookup: Arc<ServiceLookup> = Arc::new(
            move |role: smp_proto::ServiceRole, chain: &[Vec<u8>], hash: &[u8; 32]| match slot.get()
            {
                Some(f) => f(role, chain, hash),
                None => Err(()),
            },
        );
        let transport = Arc::new(
            ServerTransport::new(creds)
                .map_err(std::io::Error::other)?
                .with_versions(versions)
                .with_services(lookup),
        );
        let mut bound = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let l = SmpListener::bind(*addr, transport.clone())
                .await
                .map_err(|e| {
                    std::io::Error::other(format!(
                        "Error: cannot listen on port {}: {e}",
                        addr.port()
                    ))
                })?;
            bound.push(l);
        }
        let mut bound = bound.into_iter();
        let first = bound
            .next()
            .ok_or_else(|| std::io::Error::other("no address to listen on"))?;
        Ok(Listeners {
            first,
            extra: bound.collect(),
            services,
        })
    }
}
