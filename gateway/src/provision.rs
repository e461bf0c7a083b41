//! Wiring of the provisioning servers into `crossbar serve`: binding `[tftp] listen` and `[http] listen`,
//! and starting both servers on one file source and one [`Guard`] (so the unknown-file limit of a source
//! counts its misses over both protocols).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use provisioning::Store;
use provisioning::files::StaticRoot;
use provisioning::guard::Guard;
use provisioning::tftp::TftpSettings;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;

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

/// Starts the TFTP and HTTP provisioning servers on `tasks`; they stop when `shutdown` is cancelled.
///
/// # Errors
/// The file source cannot be prepared.
pub fn start_provisioning(
    config: &Config,
    listeners: ProvisioningListeners,
    _store: &Store,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let source = Arc::new(StaticRoot::new(config.tftp.root.clone()));
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
