//! Provisioning wiring shared by `crossbar serve` and `crossbar render`: the addresses phones are told,
//! the template set, the renderer; for `serve`, binding `[tftp] listen` and `[http] listen` and starting
//! both servers on one file source and one [`Guard`] (so the unknown-file limit of a source counts its
//! misses over both protocols).
//!
//! Phones are told where Crossbar listens as they reach it: a listener bound to a specific address is
//! announced as that address; one bound to the wildcard (`0.0.0.0`, `::`) is announced as
//! `[sip] advertised_address` when set, else as the address this host uses towards the network (the
//! source address the kernel picks for an outbound route; nothing is sent), else `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;

use anyhow::Context as _;
use provisioning::Store;
use provisioning::files::{StaticRoot, WithStatic};
use provisioning::guard::Guard;
use provisioning::http::HttpSettings;
use provisioning::render::{Endpoint, Renderer, ServerAddresses};
use provisioning::tftp::TftpSettings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    Renderer::with_settings(
        store,
        templates,
        server_addresses(config, bound),
        config.provisioning.site.clone(),
    )
    .await
    .context("loading the inventory for provisioning")
}

/// Receive buffer asked for the TFTP listening socket (the kernel caps it at `net.core.rmem_max`).
const TFTP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// The bound provisioning sockets.
#[derive(Debug)]
pub struct ProvisioningListeners {
    /// `[tftp] listen`; `None` when the built-in default port 69 may not be bound by this user (then
    /// TFTP is off with a warning, so `crossbar serve` on its defaults runs without root).
    pub tftp: Option<tokio::net::UdpSocket>,
    /// `[http] listen`.
    pub http: TcpListener,
}

impl ProvisioningListeners {
    /// Binds `[tftp] listen` and `[http] listen`.
    ///
    /// # Errors
    /// The address that cannot be bound, named by its configuration key.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let tftp = match tokio::net::UdpSocket::bind(config.tftp.listen).await {
            Ok(socket) => Some(socket),
            // Port 69 needs root or CAP_NET_BIND_SERVICE. On the built-in defaults (no configuration
            // file) that must not stop a first try of `crossbar serve`; a configured port must bind.
            Err(e)
                if e.kind() == std::io::ErrorKind::PermissionDenied && config.origin.is_none() =>
            {
                tracing::warn!(
                    addr = %config.tftp.listen,
                    "TFTP is off: this user may not bind tftp.listen (port 69 needs root or \
                     CAP_NET_BIND_SERVICE: `setcap cap_net_bind_service=+ep crossbar`, or set [tftp] listen \
                     to a high port in a configuration file)"
                );
                None
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("binding tftp.listen udp {}", config.tftp.listen)));
            }
        };
        // A boot storm sends thousands of requests at once; the default buffer holds a few hundred.
        if let Some(tftp) = &tftp
            && let Err(e) = socket2::SockRef::from(tftp).set_recv_buffer_size(TFTP_RECEIVE_BUFFER)
        {
            tracing::debug!(error = %e, "cannot enlarge the TFTP receive buffer");
        }
        let http = TcpListener::bind(config.http.listen)
            .await
            .with_context(|| format!("binding http.listen tcp {}", config.http.listen))?;
        Ok(Self { tftp, http })
    }

    /// Each bound address, named by its configuration key.
    pub fn addresses(&self) -> Vec<(String, SocketAddr)> {
        let mut out = Vec::new();
        if let Some(Ok(a)) = self.tftp.as_ref().map(tokio::net::UdpSocket::local_addr) {
            out.push(("tftp.listen".to_owned(), a));
        }
        if let Ok(a) = self.http.local_addr() {
            out.push(("http.listen".to_owned(), a));
        }
        out
    }
}

impl Bound {
    /// The configured addresses with those actually bound by `crossbar serve` (`bound`, named by
    /// configuration key as [`crate::serve::Listeners::addresses`] names them) in their place.
    pub fn from_listeners(config: &Config, bound: &[(String, SocketAddr)]) -> Self {
        let configured = Self::configured(config);
        let find = |key: &str, fallback: SocketAddr| {
            bound
                .iter()
                .find(|(k, _)| k == key)
                .map_or(fallback, |(_, a)| *a)
        };
        let sip = bound
            .iter()
            .find(|(k, _)| k == "sip.listen udp")
            .or_else(|| bound.iter().find(|(k, _)| k.starts_with("sip.listen")))
            .map_or(configured.sip, |(_, a)| *a);
        Self {
            sccp: find("sccp.listen", configured.sccp),
            unistim: find("unistim.listen", configured.unistim),
            sip,
            tftp: find("tftp.listen", configured.tftp),
            http: find("http.listen", configured.http),
        }
    }
}

/// Starts the TFTP and HTTP provisioning servers on `tasks`: files rendered per request from the
/// inventory, then static files under `[tftp] root`. They stop when `shutdown` is cancelled.
///
/// # Errors
/// The templates cannot be loaded or the inventory cannot be read.
pub async fn start_provisioning(
    config: &Config,
    listeners: ProvisioningListeners,
    bound: &[(String, SocketAddr)],
    store: &Store,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let renderer = renderer(config, store.clone(), &Bound::from_listeners(config, bound)).await?;
    tracing::info!(
        devices = renderer.catalog().device_count(),
        root = %config.tftp.root.display(),
        "provisioning ready"
    );
    let source = Arc::new(WithStatic::new(
        renderer,
        StaticRoot::new(config.tftp.root.clone()),
    ));
    let guard = Arc::new(Guard::new(config.provisioning.policy()));
    if let Some(tftp) = listeners.tftp {
        tasks.spawn(provisioning::tftp::serve(
            tftp,
            Arc::clone(&source),
            Arc::clone(&guard),
            TftpSettings::default(),
            shutdown.clone(),
        ));
    }
    tasks.spawn(provisioning::http::serve(
        listeners.http,
        source,
        guard,
        HttpSettings::default(),
        shutdown.clone(),
    ));
    Ok(())
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

    #[test]
    fn bound_ports_replace_configured_ones() {
        let config = Config::parse("[sccp]\nlisten = \"127.0.0.1:0\"\n", None).expect("config");
        let bound = Bound::from_listeners(
            &config,
            &[
                (
                    "sip.listen tcp".to_owned(),
                    "127.0.0.1:5071".parse().expect("addr"),
                ),
                (
                    "sip.listen udp".to_owned(),
                    "127.0.0.1:5070".parse().expect("addr"),
                ),
                (
                    "sccp.listen".to_owned(),
                    "127.0.0.1:2001".parse().expect("addr"),
                ),
                (
                    "tftp.listen".to_owned(),
                    "127.0.0.1:6969".parse().expect("addr"),
                ),
            ],
        );
        assert_eq!(bound.sip.port(), 5070);
        assert_eq!(bound.sccp.port(), 2001);
        assert_eq!(bound.tftp.port(), 6969);
        assert_eq!(bound.unistim, config.unistim.listen);
        assert_eq!(bound.http, config.http.listen);
    }
}
