//! Provisioning wiring shared by `crossbar serve` and `crossbar render`: the addresses phones are told,
//! the template set, the renderer.
//!
//! Phones are told where Crossbar listens as they reach it: a listener bound to a specific address is
//! announced as that address; one bound to the wildcard (`0.0.0.0`, `::`) is announced as
//! `[sip] advertised_address` when set, else as the address this host uses towards the network (the
//! source address the kernel picks for an outbound route; nothing is sent), else `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use anyhow::Context as _;
use provisioning::Store;
use provisioning::render::{Endpoint, Renderer, ServerAddresses};

use crate::config::{Config, Transport};

/// The bound (or configured) address of each listener phones are told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// `[sccp] listen`.
    pub sccp: SocketAddr,
    /// `[unistim] listen`.
    pub unistim: SocketAddr,
    /// The first UDP `[sip] listen` entry (else the first of any transport).
    pub sip: SocketAddr,
    /// `[tftp] listen`.
    pub tftp: SocketAddr,
    /// `[http] listen`.
    pub http: SocketAddr,
}

impl Bound {
    /// The configured addresses, for commands that bind nothing (`crossbar render`). `serve` fills in
    /// the ports actually bound instead (port 0 in tests).
    pub fn configured(config: &Config) -> Self {
        let sip = config
            .sip
            .listen
            .iter()
            .find(|l| l.transport == Transport::Udp)
            .or_else(|| config.sip.listen.first())
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060)), |l| l.addr);
        Self {
            sccp: config.sccp.listen,
            unistim: config.unistim.listen,
            sip,
            tftp: config.tftp.listen,
            http: config.http.listen,
        }
    }
}

/// The address this host uses towards the network: the local address of a UDP socket "connected" to a
/// documentation address (connect on UDP sends nothing).
fn outbound_ip(v6: bool) -> Option<IpAddr> {
    let (bind, peer): (SocketAddr, SocketAddr) = if v6 {
        ("[::]:0".parse().ok()?, "[2001:db8::1]:9".parse().ok()?)
    } else {
        ("0.0.0.0:0".parse().ok()?, "192.0.2.1:9".parse().ok()?)
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(peer).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// What phones are told for listeners bound at `bound`.
pub fn server_addresses(config: &Config, bound: &Bound) -> ServerAddresses {
    let wildcard_host = |addr: &SocketAddr| {
        config.sip.advertised_address.clone().unwrap_or_else(|| {
            outbound_ip(addr.is_ipv6())
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .to_string()
        })
    };
    let endpoint = |addr: SocketAddr| Endpoint {
        host: if addr.ip().is_unspecified() {
            wildcard_host(&addr)
        } else {
            addr.ip().to_string()
        },
        port: addr.port(),
    };
    ServerAddresses {
        sccp: endpoint(bound.sccp),
        unistim: endpoint(bound.unistim),
        sip: endpoint(bound.sip),
        tftp: endpoint(bound.tftp),
        http: endpoint(bound.http),
    }
}

/// The template set: the built-in one with `[provisioning] templates` overrides.
///
/// # Errors
/// An override directory that cannot be read, or a template in it that is misnamed or does not compile.
pub fn templates(config: &Config) -> anyhow::Result<templates::Templates> {
    Ok(match &config.provisioning.templates {
        Some(dir) => templates::Templates::with_overrides(dir)
            .with_context(|| format!("loading provisioning.templates {}", dir.display()))?,
        None => templates::Templates::builtin().context("loading the built-in templates")?,
    })
}

/// The renderer for `config`, telling phones the listeners at `bound`.
///
/// # Errors
/// Templates that cannot be loaded, or an inventory that cannot be read.
pub async fn renderer(config: &Config, store: Store, bound: &Bound) -> anyhow::Result<Renderer> {
    let templates = templates(config)?;
    Renderer::new(store, templates, server_addresses(config, bound))
        .await
        .context("loading the inventory for provisioning")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_addresses_are_announced_as_bound_and_wildcards_as_advertised() {
        let mut config =
            Config::parse("[sccp]\nlisten = \"198.51.100.7:2000\"\n", None).expect("config");
        config.sip.advertised_address = Some("192.0.2.10".to_owned());
        let servers = server_addresses(&config, &Bound::configured(&config));
        assert_eq!(servers.sccp.host, "198.51.100.7");
        assert_eq!(servers.sccp.port, 2000);
        assert_eq!(servers.unistim.host, "192.0.2.10");
        assert_eq!(servers.unistim.port, 5000);
        assert_eq!(
            (servers.tftp.port, servers.http.port, servers.sip.port),
            (69, 8080, 5060)
        );
    }
}
