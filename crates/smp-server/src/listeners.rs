//! The relay's listening sockets ([`Listeners`]), bound apart from the server so that
//! `smp-server start` binds every port before it reads or changes its stores.

use std::net::SocketAddr;
use std::sync::Arc;

use simplex_transport::{ServerCredentials, ServerTransport, SmpListener};

/// The relay's listening sockets, bound before anything else is done (`smp-server start`
/// binds every port before it reads or changes its stores, so that a port in use refuses the
/// start with nothing changed).
pub struct Listeners {
    pub(crate) first: SmpListener,
    /// Further ports (`[TRANSPORT] port = 5223,443`), served the same way.
    pub(crate) extra: Vec<SmpListener>,
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
        let transport = Arc::new(
            ServerTransport::new(creds)
                .map_err(std::io::Error::other)?
                .with_versions(versions),
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
        })
    }
}
