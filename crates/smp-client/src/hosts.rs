//! Which of a relay's hosts to connect to, and when through the SOCKS proxy: the reference's
//! `HostMode`, `requiredHostMode` and `SocksMode` (`Client.hs` `chooseTransportHost`,
//! `transportClientConfig`), shared by the agent and the relay's proxy role.
//!
//! A relay address may name several hosts, typically a public one and a `.onion` one. The
//! reference picks one host; we try them in the preferred order (the preferred kind first),
//! and only the preferred kind when it is required.

use smp_proto::address::TransportHost;
use smp_proto::SmpServer;

/// Which kind of host is preferred (`HostMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostMode {
    /// Onion hosts when a SOCKS proxy is set, public ones otherwise (`HMOnionViaSocks`,
    /// `--host-mode onion` of the reference's chat).
    #[default]
    OnionViaSocks,
    /// Onion hosts, with or without a SOCKS proxy (`HMOnion`; the relay's `host_mode: onion`).
    Onion,
    /// Public hosts (`HMPublic`, `--host-mode public`).
    Public,
}

impl HostMode {
    /// Whether onion hosts come first, given whether a SOCKS proxy is set.
    pub fn prefers_onion(self, socks: bool) -> bool {
        match self {
            HostMode::OnionViaSocks => socks,
            HostMode::Onion => true,
            HostMode::Public => false,
        }
    }
}

/// When the SOCKS proxy is used (`SocksMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocksMode {
    /// For `.onion` hosts only (`onion`; the relay's default).
    Onion,
    /// For every host (`always`; the client's default).
    Always,
}

impl SocksMode {
    /// Whether a connection to `host` goes through the proxy (when one is set).
    pub fn proxies(self, host: &TransportHost) -> bool {
        self == SocksMode::Always || is_onion(host)
    }
}

/// Whether `host` is a Tor onion address.
pub fn is_onion(host: &TransportHost) -> bool {
    matches!(host, TransportHost::Onion(_))
}

/// The hosts to try, each as a one-host address: the preferred kind first, then the others
/// unless `required`. Empty when `required` and the relay has no host of that kind (the
/// reference's `PCEIncompatibleHost`).
pub fn hosts_by_mode(server: &SmpServer, onion_first: bool, required: bool) -> Vec<SmpServer> {
    let wanted = |h: &TransportHost| is_onion(h) == onion_first;
    let mut hosts: Vec<&TransportHost> = server.hosts.iter().filter(|h| wanted(h)).collect();
    if !required {
        hosts.extend(server.hosts.iter().filter(|h| !wanted(h)));
    }
    hosts
        .into_iter()
        .map(|h| SmpServer {
            hosts: vec![h.clone()],
            ..server.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(s: &SmpServer, onion_first: bool, required: bool) -> Vec<String> {
        hosts_by_mode(s, onion_first, required)
            .iter()
            .map(|one| one.hosts[0].to_string())
            .collect()
    }

    #[test]
    fn order_and_requirement() {
        let onion = "abcdefghij234567.onion";
        let s = SmpServer::parse_str(
            b"smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@example.com,abcdefghij234567.onion",
        )
        .expect("address");
        let public = "example.com".to_string();
        assert_eq!(hosts(&s, false, false), vec![public.clone(), onion.into()]);
        assert_eq!(
            hosts(&s, true, false),
            vec![onion.to_string(), public.clone()]
        );
        assert_eq!(hosts(&s, true, true), vec![onion.to_string()]);
        assert_eq!(hosts(&s, false, true), vec![public]);
        let public_only =
            SmpServer::parse_str(b"smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@example.com")
                .expect("address");
        assert!(hosts(&public_only, true, true).is_empty());
        assert!(HostMode::OnionViaSocks.prefers_onion(true));
        assert!(!HostMode::OnionViaSocks.prefers_onion(false));
        assert!(HostMode::Onion.prefers_onion(false));
        assert!(!HostMode::Public.prefers_onion(true));
        let o = &s.hosts[1];
        assert!(SocksMode::Onion.proxies(o) && !SocksMode::Onion.proxies(&s.hosts[0]));
        assert!(SocksMode::Always.proxies(&s.hosts[0]));
    }
}
