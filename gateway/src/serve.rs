//! `crossbar serve`: validated config → store → bind every listener → run until a signal → drain.
//!
//! Binding happens before anything runs, so a port already in use stops the start with a clear message
//! instead of leaving half a gateway running. [`run`] takes the bound [`Listeners`] and a shutdown token,
//! so tests run the whole gateway in-process on port 0.

use std::time::Duration;

use anyhow::Context as _;
use provisioning::Store;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::CliError;
use crate::config::Config;

/// How long running work may take to finish after shutdown is requested.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Every socket the configured subsystems listen on, bound and ready.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Listeners {}

impl Listeners {
    /// Binds the listeners of every subsystem this build has.
    ///
    /// # Errors
    /// The first address that cannot be bound, named by its configuration key.
    pub async fn bind(_config: &Config) -> anyhow::Result<Self> {
        Ok(Self {})
    }

    /// Each bound address, named by its configuration key, for logs and tests.
    pub fn addresses(&self) -> Vec<(String, std::net::SocketAddr)> {
        Vec::new()
    }
}

/// Runs the gateway on bound `listeners` until `shutdown` is cancelled, then drains.
///
/// # Errors
/// A subsystem that fails to run.
pub async fn run(
    _config: Config,
    listeners: Listeners,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tasks = TaskTracker::new();
    for (key, addr) in listeners.addresses() {
        tracing::info!(%addr, listener = %key, "listening");
    }
    tasks.close();
    shutdown.cancelled().await;
    tracing::info!("shutting down");
    if tokio::time::timeout(DRAIN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = DRAIN_GRACE.as_secs(),
            "some work did not finish in time"
        );
    }
    store.close().await;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn signalled() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT"),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map(|()| "interrupt")
    }
}

/// `crossbar serve` with a loaded configuration.
///
/// # Errors
/// [`CliError::Runtime`] when the store cannot be opened, a listener cannot be bound, or a subsystem
/// fails.
pub async fn serve(config: Config) -> Result<(), CliError> {
    let origin = config.origin.as_deref().map_or_else(
        || "built-in defaults".to_owned(),
        |p| p.display().to_string(),
    );
    tracing::info!(config = %origin, version = env!("CARGO_PKG_VERSION"), "crossbar starting");
    let store = Store::open(&config.store.url)
        .await
        .context("opening the store")?;
    tracing::info!(
        store = %provisioning::store::mask_password(&config.store.url),
        backend = ?store.backend(),
        "store ready"
    );
    let listeners = Listeners::bind(&config).await?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        match signalled().await {
            Ok(signal) => tracing::info!(signal, "signal received"),
            Err(error) => tracing::error!(%error, "cannot wait for signals; stopping"),
        }
        trigger.cancel();
    });
    run(config, listeners, store, shutdown).await?;
    tracing::info!("crossbar stopped");
    Ok(())
}
