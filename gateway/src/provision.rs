//! Wiring of the provisioning servers into `crossbar serve`: binding `[tftp] listen` and `[http] listen`,
//! and starting both servers on one file source and one [`Guard`] (so the unknown-file limit of a source
//! counts its misses over both protocols).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use provisioning::Store;
use provisioning::files::{StaticRoot, WithStatic};
use provisioning::guard::Guard;
use provisioning::render::{Endpoint, Renderer, ServerAddresses};
use provisioning::tftp::TftpSettings;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;

/// Receive buffer asked for the TFTP listening socket (the kernel caps it at `net.core.rmem_max`).
const TFTP_RECEIVE_BUFFER: usize = 4 * 1024 * 1024;

/// The bound provisioning sockets.
#[derive(Debug)]
pub struct ProvisioningListeners {
    /// `[tftp] listen`.
    pub tftp: UdpSocket,
    /// `[http] listen`.
    pub http: TcpListener,
}

impl ProvisioningListeners {
    /// Binds `[tftp] listen` and `[http] listen`.
    ///
    /// # Errors
    /// The address that cannot be bound, named by its configuration key.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let tftp = UdpSocket::bind(config.tftp.listen)
            .await
            .with_context(|| format!("binding tftp.listen udp {}", config.tftp.listen))?;
        // A boot storm sends thousands of requests at once; the default buffer holds a few hundred.
        if let Err(e) = socket2::SockRef::from(&tftp).set_recv_buffer_size(TFTP_RECEIVE_BUFFER) {
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
        if let Ok(a) = self.tftp.local_addr() {
            out.push(("tftp.listen".to_owned(), a));
        }
        if let Ok(a) = self.http.local_addr() {
            out.push(("http.listen".to_owned(), a));
        }
        out
    }
}

/// The address phones are told for a listener: `[sip] advertised_address` when set, else the bound
/// address, else (bound to the wildcard) the address this host uses towards the outside world.
fn host_for(config: &Config, addr: SocketAddr) -> String {
    if let Some(advertised) = &config.sip.advertised_address {
        return advertised.clone();
    }
    if !addr.ip().is_unspecified() {
        return addr.ip().to_string();
    }
    // A connected UDP socket learns the source address routing would pick; nothing is sent.
    let probe = std::net::UdpSocket::bind((addr.ip(), 0)).and_then(|s| {
        let target: SocketAddr = if addr.is_ipv4() {
            SocketAddr::from(([192, 0, 2, 1], 9))
        } else {
            SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 9))
        };
        s.connect(target)?;
        s.local_addr()
    });
    match probe {
        Ok(local) if !local.ip().is_unspecified() => local.ip().to_string(),
        _ => {
            tracing::warn!(
                "provisioning files name 127.0.0.1 as the server: listeners are on the wildcard \
                 address and no route was found; set [sip] advertised_address"
            );
            "127.0.0.1".to_owned()
        }
    }
}

/// The addresses phones are told, from the bound listeners (`bound`, named by configuration key as
/// [`crate::serve::Listeners::addresses`] names them) and, for listeners not bound here, the configuration.
pub fn server_addresses(config: &Config, bound: &[(String, SocketAddr)]) -> ServerAddresses {
    let find = |key: &str, fallback: SocketAddr| {
        bound
            .iter()
            .find(|(k, _)| k == key || k.starts_with(&format!("{key} ")))
            .map_or(fallback, |(_, a)| *a)
    };
    let endpoint = |addr: SocketAddr| Endpoint {
        host: host_for(config, addr),
        port: addr.port(),
    };
    let sip_fallback = config
        .sip
        .listen
        .first()
        .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060)), |l| l.addr);
    ServerAddresses {
        sccp: endpoint(find("sccp.listen", config.sccp.listen)),
        unistim: endpoint(find("unistim.listen", config.unistim.listen)),
        sip: endpoint(find("sip.listen", sip_fallback)),
        tftp: endpoint(find("tftp.listen", config.tftp.listen)),
        http: endpoint(find("http.listen", config.http.listen)),
    }
}

/// Starts the TFTP and HTTP provisioning servers on `tasks`: files rendered per request from the
/// inventory, then static files under `[tftp] root`. They stop when `shutdown` is cancelled.
///
/// # Errors
/// The inventory cannot be loaded or the templates do not compile.
pub async fn start_provisioning(
    config: &Config,
    listeners: ProvisioningListeners,
    bound: &[(String, SocketAddr)],
    store: &Store,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let templates = templates::Templates::builtin().context("loading the built-in templates")?;
    let renderer = Renderer::new(store.clone(), templates, server_addresses(config, bound))
        .await
        .context("loading the inventory for provisioning")?;
    tracing::info!(
        devices = renderer.catalog().device_count(),
        root = %config.tftp.root.display(),
        "provisioning ready"
    );
    let source = Arc::new(WithStatic::new(
        renderer,
        StaticRoot::new(config.tftp.root.clone()),
    ));
    let guard = Arc::new(Guard::new(config.provisioning.clone()));
    tasks.spawn(provisioning::tftp::serve(
        listeners.tftp,
        Arc::clone(&source),
        Arc::clone(&guard),
        TftpSettings::default(),
        shutdown.clone(),
    ));
    tasks.spawn(provisioning::http::serve(
        listeners.http,
        source,
        guard,
        shutdown.clone(),
    ));
    Ok(())
}
