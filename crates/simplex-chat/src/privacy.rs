//! Network and privacy options, and the privacy slider (`--privacy`, `/privacy`; the slider
//! is not in the reference).
//!
//! The options are the reference's (`-x`, `--socks-proxy`, `--socks-mode`, `--host-mode`,
//! `--required-host-mode`, `--smp-proxy`, `--smp-proxy-fallback`) plus ours: the transport
//! isolation mode (the apps' `sessionMode`), noise traffic and send delays. The slider sets
//! them together, as Tor Browser's security level does; an option given on its own
//! overrides the slider for that setting, and `/privacy` shows where one does.
//!
//! | setting | standard (default) | high | maximum |
//! |---|---|---|---|
//! | private routing | unknown relays | always | always |
//! | direct fallback | when IP protected | never | never |
//! | transport isolation | session | entity | entity |
//! | SOCKS proxy | none | none | 127.0.0.1:9050 (Tor) |
//! | relay hosts | onion via SOCKS | onion via SOCKS | onion where the relay has one |
//! | noise traffic | off | off | 1 per 60 s on average |
//! | send delay | off | off | up to 2 s |
//!
//! Post-quantum encryption is on for new contacts at every level.

use std::fmt;
use std::time::Duration;

use simplex_agent::{AgentConfig, SmpProxyFallback, SmpProxyMode, SocksProxy, TransportIsolation};
use smp_client::hosts::{HostMode, SocksMode};

/// A position of the slider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// The reference's defaults.
    #[default]
    Standard,
    /// Private routing always, a transport session per connection.
    High,
    /// High, and through Tor only, onion hosts where relays have them, noise traffic.
    Maximum,
}

impl Level {
    /// The level's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Standard => "standard",
            Level::High => "high",
            Level::Maximum => "maximum",
        }
    }

    /// Parses a name of [`Level::as_str`].
    pub fn parse(s: &str) -> Result<Level, String> {
        [Level::Standard, Level::High, Level::Maximum]
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("invalid privacy level: {s} (standard, high, maximum)"))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The network and privacy options of the command line; each is `None` (or `false`) when
/// not given, so that the slider decides it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetFlags {
    /// Privacy level, setting the options below together (not in the reference):
    /// standard (default), high, maximum; saved for later starts. See /privacy.
    #[arg(long = "privacy", value_name = "LEVEL", value_parser = Level::parse)]
    pub privacy: Option<Level>,
    /// Use private message routing: always, unknown (default), unprotected, never.
    #[arg(long = "smp-proxy", value_name = "SMP_PROXY_MODE", value_parser = parse_proxy_mode)]
    pub smp_proxy: Option<SmpProxyMode>,
    /// Allow downgrade and connect directly: no, [when IP address is] protected (default),
    /// yes.
    #[arg(
        long = "smp-proxy-fallback",
        value_name = "SMP_PROXY_FALLBACK_MODE",
        value_parser = parse_proxy_fallback
    )]
    pub smp_proxy_fallback: Option<SmpProxyFallback>,
    /// Use local SOCKS5 proxy at :9050
    #[arg(short = 'x', conflicts_with = "socks_proxy")]
    pub tor: bool,
    /// Use SOCKS5 proxy at `ipv4:port` or `:port` (`user:password@…` sends these
    /// credentials, `@…` none; by default each session gets its own username, so Tor keeps
    /// them on separate circuits). Relay host names go to the proxy unresolved.
    #[arg(long = "socks-proxy", value_name = "SOCKS5", value_parser = SocksProxy::parse)]
    pub socks_proxy: Option<SocksProxy>,
    /// Use SOCKS5 proxy: always (default), onion (with onion-only relays)
    #[arg(long = "socks-mode", value_name = "SOCKS_MODE", value_parser = parse_socks_mode)]
    pub socks_mode: Option<SocksMode>,
    /// Preferred server host type: onion (when SOCKS proxy with isolate-by-auth is used),
    /// public
    #[arg(long = "host-mode", value_name = "HOST_MODE", value_parser = parse_host_mode)]
    pub host_mode: Option<HostMode>,
    /// Refuse connection if preferred server host type is not available
    #[arg(long = "required-host-mode")]
    pub required_host_mode: bool,
    /// Transport isolation (the apps' session mode): user, session (default), server,
    /// entity (a TLS connection per contact's queue on each relay).
    #[arg(
        long = "transport-isolation",
        value_name = "MODE",
        value_parser = parse_isolation
    )]
    pub transport_isolation: Option<TransportIsolation>,
    /// Noise traffic (not in the reference): a cover message to a random contact every
    /// SECONDS on average (0: off, the default below maximum privacy).
    #[arg(long = "noise", value_name = "SECONDS", value_parser = parse_seconds)]
    pub noise: Option<Duration>,
    /// Wait a random time up to SECONDS before sending each message (0: off).
    #[arg(long = "send-delay", value_name = "SECONDS", value_parser = parse_seconds)]
    pub send_delay: Option<Duration>,
}

fn parse_proxy_mode(s: &str) -> Result<SmpProxyMode, String> {
    SmpProxyMode::parse(s).ok_or_else(|| "Invalid SMP proxy mode".to_string())
}

fn parse_proxy_fallback(s: &str) -> Result<SmpProxyFallback, String> {
    SmpProxyFallback::parse(s).ok_or_else(|| "Invalid SMP proxy fallback mode".to_string())
}

fn parse_socks_mode(s: &str) -> Result<SocksMode, String> {
    match s {
        "always" => Ok(SocksMode::Always),
        "onion" => Ok(SocksMode::Onion),
        _ => Err("Invalid SOCKS mode".to_string()),
    }
}

fn parse_host_mode(s: &str) -> Result<HostMode, String> {
    // As the reference's `textToHostMode`: `onion` prefers onion hosts via SOCKS.
    match s {
        "onion" => Ok(HostMode::OnionViaSocks),
        "public" => Ok(HostMode::Public),
        _ => Err(format!("Invalid host_mode: {s}")),
    }
}

fn parse_isolation(s: &str) -> Result<TransportIsolation, String> {
    TransportIsolation::parse(s)
        .ok_or_else(|| format!("invalid transport isolation: {s} (user, session, server, entity)"))
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s}"))?;
    if !(0.0..=86_400.0).contains(&v) {
        return Err(format!("seconds out of range (0 to 86400): {s}"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// One setting's effective value and whether an option overrides the slider for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// What it is, in words.
    pub name: &'static str,
    /// Its value, in words.
    pub value: String,
    /// The option that set it, when one did.
    pub option: Option<&'static str>,
}

/// The level and every setting it and the options give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privacy {
    /// The slider's position.
    pub level: Level,
    /// The settings in the order `/privacy` prints them.
    pub settings: Vec<Setting>,
}

/// Sets `config`'s network and privacy settings from the level and the options (options
/// win), and returns what was set.
pub fn apply(level: Level, f: &NetFlags, config: &mut AgentConfig) -> Privacy {
    let (high, max) = (level != Level::Standard, level == Level::Maximum);
    let mut settings = Vec::new();
    let mut put = |name, value: String, option: Option<&'static str>| {
        settings.push(Setting {
            name,
            value,
            option,
        })
    };

    let proxy_default = if high {
        SmpProxyMode::Always
    } else {
        SmpProxyMode::Unknown
    };
    config.smp_proxy_mode = f.smp_proxy.unwrap_or(proxy_default);
    put(
        "private routing",
        config.smp_proxy_mode.to_string(),
        f.smp_proxy.map(|_| "--smp-proxy"),
    );
    let fallback_default = if high {
        SmpProxyFallback::Prohibit
    } else {
        SmpProxyFallback::AllowProtected
    };
    config.smp_proxy_fallback = f.smp_proxy_fallback.unwrap_or(fallback_default);
    put(
        "direct fallback",
        config.smp_proxy_fallback.to_string(),
        f.smp_proxy_fallback.map(|_| "--smp-proxy-fallback"),
    );

    let iso_default = if high {
        TransportIsolation::Entity
    } else {
        TransportIsolation::Session
    };
    config.isolation = f.transport_isolation.unwrap_or(iso_default);
    put(
        "transport isolation",
        config.isolation.to_string(),
        f.transport_isolation.map(|_| "--transport-isolation"),
    );

    let (socks, socks_option) = match (f.tor, &f.socks_proxy) {
        (true, _) => (Some(SocksProxy::default()), Some("-x")),
        (false, Some(p)) => (Some(p.clone()), Some("--socks-proxy")),
        (false, None) => (max.then(SocksProxy::default), None),
    };
    config.socks_proxy = socks;
    let socks_text = match &config.socks_proxy {
        Some(p) => p.addr.to_string(),
        None => "none".to_string(),
    };
    put("SOCKS proxy", socks_text, socks_option);
    config.socks_mode = f.socks_mode.unwrap_or(SocksMode::Always);
    if config.socks_proxy.is_some() {
        let text = match config.socks_mode {
            SocksMode::Always => "every relay",
            SocksMode::Onion => "onion hosts only",
        };
        put(
            "SOCKS proxy for",
            text.to_string(),
            f.socks_mode.map(|_| "--socks-mode"),
        );
    }

    // The reference's default: onion hosts via a SOCKS proxy that isolates by username.
    let isolating = matches!(
        config.socks_proxy.as_ref().map(|p| &p.auth),
        Some(simplex_agent::SocksAuth::IsolateByAuth)
    );
    let host_default = if isolating || max {
        HostMode::OnionViaSocks
    } else {
        HostMode::Public
    };
    config.host_mode = f.host_mode.unwrap_or(host_default);
    config.required_host_mode = f.required_host_mode;
    config.onion_where_present = max && !f.required_host_mode && f.host_mode.is_none();
    let onion = config.host_mode.prefers_onion(config.socks_proxy.is_some());
    let hosts = match (onion, config.required_host_mode, config.onion_where_present) {
        (true, true, _) => "onion only",
        (true, false, true) => "onion where the relay has one",
        (true, false, false) => "onion first",
        (false, true, _) => "public only",
        (false, false, _) => "public first",
    };
    let host_option = if f.required_host_mode {
        Some("--required-host-mode")
    } else {
        f.host_mode.map(|_| "--host-mode")
    };
    put("relay hosts", hosts.to_string(), host_option);

    let noise_default = max.then_some(Duration::from_secs(60));
    config.noise_interval = f.noise.or(noise_default).filter(|d| !d.is_zero());
    let noise_text = match config.noise_interval {
        Some(d) => format!("1 message per {} s on average", d.as_secs_f64()),
        None => "off".to_string(),
    };
    put("noise traffic", noise_text, f.noise.map(|_| "--noise"));
    let delay_default = max.then_some(Duration::from_secs(2));
    config.send_delay_max = f.send_delay.or(delay_default).filter(|d| !d.is_zero());
    let delay_text = match config.send_delay_max {
        Some(d) => format!("up to {} s", d.as_secs_f64()),
        None => "off".to_string(),
    };
    put(
        "send delay",
        delay_text,
        f.send_delay.map(|_| "--send-delay"),
    );

    config.pq_support = true;
    put("post-quantum encryption", "on".to_string(), None);
    Privacy { level, settings }
}

/// What `/privacy` prints: the level, then each setting, with the option that overrides
/// the slider where one does.
pub fn lines(p: &Privacy) -> Vec<String> {
    let mut out = vec![format!("privacy: {}", p.level)];
    for s in &p.settings {
        let mut l = format!("  {}: {}", s.name, s.value);
        if let Some(o) = s.option {
            l.push_str(&format!(" (set by {o})"));
        }
        out.push(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        net: NetFlags,
    }

    fn flags(args: &[&str]) -> NetFlags {
        let mut v = vec!["simplex-chat"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).expect("parse").net
    }

    fn applied(level: Level, args: &[&str]) -> (AgentConfig, Privacy) {
        let mut c = AgentConfig::new(Vec::new());
        let p = apply(level, &flags(args), &mut c);
        (c, p)
    }

    #[test]
    fn standard_is_the_reference_cli_defaults() {
        let (c, p) = applied(Level::Standard, &[]);
        assert_eq!(c.smp_proxy_mode, SmpProxyMode::Unknown);
        assert_eq!(c.smp_proxy_fallback, SmpProxyFallback::AllowProtected);
        assert_eq!(c.isolation, TransportIsolation::Session);
        assert!(c.socks_proxy.is_none());
        assert_eq!(c.host_mode, HostMode::Public);
        assert!(c.noise_interval.is_none() && c.send_delay_max.is_none());
        assert!(c.pq_support);
        assert!(p.settings.iter().all(|s| s.option.is_none()));
        // -x alone: onion hosts first, as the reference's defaultHostMode.
        let (c, _) = applied(Level::Standard, &["-x"]);
        assert_eq!(c.host_mode, HostMode::OnionViaSocks);
        assert_eq!(
            c.socks_proxy.map(|p| p.addr.to_string()).as_deref(),
            Some("127.0.0.1:9050")
        );
    }

    #[test]
    fn high_and_maximum_set_what_they_say() {
        let (c, _) = applied(Level::High, &[]);
        assert_eq!(c.smp_proxy_mode, SmpProxyMode::Always);
        assert_eq!(c.smp_proxy_fallback, SmpProxyFallback::Prohibit);
        assert_eq!(c.isolation, TransportIsolation::Entity);
        assert!(c.socks_proxy.is_none() && c.noise_interval.is_none());
        let (c, p) = applied(Level::Maximum, &[]);
        assert_eq!(c.smp_proxy_mode, SmpProxyMode::Always);
        assert_eq!(c.isolation, TransportIsolation::Entity);
        assert_eq!(
            c.socks_proxy
                .as_ref()
                .map(|p| p.addr.to_string())
                .as_deref(),
            Some("127.0.0.1:9050")
        );
        assert_eq!(c.socks_mode, SocksMode::Always);
        assert_eq!(c.host_mode, HostMode::OnionViaSocks);
        assert!(c.onion_where_present && !c.required_host_mode);
        assert_eq!(c.noise_interval, Some(Duration::from_secs(60)));
        assert_eq!(c.send_delay_max, Some(Duration::from_secs(2)));
        assert_eq!(
            lines(&p),
            vec![
                "privacy: maximum",
                "  private routing: always",
                "  direct fallback: no",
                "  transport isolation: entity",
                "  SOCKS proxy: 127.0.0.1:9050",
                "  SOCKS proxy for: every relay",
                "  relay hosts: onion where the relay has one",
                "  noise traffic: 1 message per 60 s on average",
                "  send delay: up to 2 s",
                "  post-quantum encryption: on",
            ]
        );
    }

    #[test]
    fn options_override_the_slider_and_say_so() {
        let (c, p) = applied(
            Level::Maximum,
            &[
                "--smp-proxy",
                "unknown",
                "--socks-proxy",
                "127.0.0.1:9150",
                "--noise",
                "0",
                "--transport-isolation",
                "server",
            ],
        );
        assert_eq!(c.smp_proxy_mode, SmpProxyMode::Unknown);
        assert_eq!(c.isolation, TransportIsolation::Server);
        assert!(c.noise_interval.is_none());
        let l = lines(&p);
        assert!(l.contains(&"  private routing: unknown (set by --smp-proxy)".to_string()));
        assert!(l.contains(&"  SOCKS proxy: 127.0.0.1:9150 (set by --socks-proxy)".to_string()));
        assert!(l.contains(&"  noise traffic: off (set by --noise)".to_string()));
        assert!(l.contains(&"  direct fallback: no".to_string()));
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--privacy", "extreme"][..],
            &["--host-mode", "tor"],
            &["--socks-mode", "sometimes"],
            &["--transport-isolation", "circuit"],
            &["--noise", "-1"],
            &["--send-delay", "soon"],
            &["-x", "--socks-proxy", "127.0.0.1:9050"],
        ] {
            let mut v = vec!["simplex-chat"];
            v.extend_from_slice(args);
            assert!(Cli::try_parse_from(v).is_err(), "{args:?}");
        }
    }
}
