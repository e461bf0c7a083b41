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

use std::sync::{Arc, RwLock};

use sip_core::msg::Host;
use sip_core::proxy::{Local, RateConfig};
use sip_core::registrar::RegistrarPolicy;
use tokio::sync::mpsc;

use crate::cli::CliError;
use crate::config::{Config, Transport};
use crate::provision::{ProvisioningListeners, start_provisioning};
use crate::sip::directory::{Directory, SharedDirectory};
use crate::sip::persist::Persister;
use crate::sip::{SipListeners, SipServer, Transports};

/// Received SIP messages queued for the SIP core; beyond it, readers wait and the kernel buffers.
const INBOUND_QUEUE: usize = 16_384;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long running work may take to finish after shutdown is requested.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Every socket the configured subsystems listen on, bound and ready.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Listeners {
    /// `[sip] listen`.
    pub sip: SipListeners,
    /// `[tftp] listen` and `[http] listen`; `None` serves no provisioning.
    pub provisioning: Option<ProvisioningListeners>,
    /// `[sccp] listen`.
    pub sccp: Option<tokio::net::TcpListener>,
    /// `[unistim] listen`.
    pub unistim: Option<tokio::net::UdpSocket>,
}

/// Listen backlog of the SCCP listener: a registration storm (thousands of phones reconnecting at
/// once) must not lose SYNs to a full accept queue; the kernel caps it at `net.core.somaxconn`.
pub const SCCP_BACKLOG: u32 = 4096;

/// Binds the SCCP listener with [`SCCP_BACKLOG`] (address reuse on, as tokio's own `bind` does).
///
/// # Errors
/// The socket cannot be created, bound or put in the listening state.
pub fn bind_sccp(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(SCCP_BACKLOG)
}

impl Listeners {
    /// Binds the listeners of every subsystem this build has.
    ///
    /// # Errors
    /// The first address that cannot be bound, named by its configuration key.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let sip = SipListeners::bind(&config.sip.listen)
            .await
            .context("binding the SIP listeners")?;
        let provisioning = Some(ProvisioningListeners::bind(config).await?);
        let sccp = bind_sccp(config.sccp.listen)
            .with_context(|| format!("binding [sccp] listen {}", config.sccp.listen))?;
        let unistim = tokio::net::UdpSocket::bind(config.unistim.listen)
            .await
            .with_context(|| format!("binding [unistim] listen {}", config.unistim.listen))?;
        // A reconnect storm of thousands of phones says hello at once; with the default receive buffer
        // the kernel drops most hellos and each phone waits 3.5 s before its next one.
        if let Err(e) = socket2::SockRef::from(&unistim).set_recv_buffer_size(4 << 20) {
            tracing::debug!(error = %e, "cannot enlarge the UNIStim receive buffer");
        }
        Ok(Self {
            sip,
            provisioning,
            sccp: Some(sccp),
            unistim: Some(unistim),
        })
    }

    /// Each bound address, named by its configuration key, for logs and tests.
    pub fn addresses(&self) -> Vec<(String, std::net::SocketAddr)> {
        self.sip
            .addresses()
            .into_iter()
            .map(|(t, a)| (format!("sip.listen {t}"), a))
            .chain(
                self.provisioning
                    .iter()
                    .flat_map(ProvisioningListeners::addresses),
            )
            .chain(
                self.sccp
                    .as_ref()
                    .and_then(|l| l.local_addr().ok())
                    .map(|a| ("sccp.listen".to_owned(), a)),
            )
            .chain(
                self.unistim
                    .as_ref()
                    .and_then(|s| s.local_addr().ok())
                    .map(|a| ("unistim.listen".to_owned(), a)),
            )
            .collect()
    }
}

/// The SIP core's settings from the configuration and the bound listeners.
fn sip_settings(config: &Config, listeners: &SipListeners) -> crate::sip::Settings {
    let addresses = listeners.addresses();
    let port_of = |t| {
        addresses
            .iter()
            .find(|(tt, _)| *tt == t)
            .map(|(_, a)| a.port())
    };
    let bound_ip = addresses
        .iter()
        .map(|(_, a)| a.ip())
        .find(|ip| !ip.is_unspecified());
    let host = match (&config.sip.advertised_address, bound_ip) {
        (Some(a), _) => Host::parse(a, true).unwrap_or_else(|_| Host::V4([127, 0, 0, 1].into())),
        (None, Some(ip)) => Host::from(ip),
        (None, None) => {
            tracing::warn!(
                "SIP listens on the wildcard address and [sip] advertised_address is not set: \
                 Via and Record-Route will name 127.0.0.1; set advertised_address to the address phones reach"
            );
            Host::V4([127, 0, 0, 1].into())
        }
    };
    let mut hosts = vec![host.clone()];
    for (_, a) in &addresses {
        let h = Host::from(a.ip());
        if !a.ip().is_unspecified() && !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    if addresses
        .iter()
        .any(|(_, a)| a.ip().is_unspecified() || a.ip().is_loopback())
    {
        for h in [
            Host::V4([127, 0, 0, 1].into()),
            Host::Name("localhost".to_owned()),
        ] {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    let mut ports: Vec<u16> = addresses.iter().map(|(_, a)| a.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    crate::sip::Settings {
        default_domain: config.sip.default_domain.clone(),
        host,
        udp_port: port_of(Transport::Udp).or_else(|| port_of(Transport::Tcp)),
        tcp_port: port_of(Transport::Tcp).or_else(|| port_of(Transport::Udp)),
        local: Local { hosts, ports },
        policy: RegistrarPolicy::default(),
        rate: RateConfig {
            rate_per_sec: config.sip.rate_limit,
            burst: config.sip.rate_limit.saturating_mul(5),
            ..RateConfig::default()
        },
        rate_limited: config.sip.rate_limit > 0,
        timer_c: Duration::from_secs(u64::from(config.sip.invite_timeout_secs)),
        trusted: Vec::new(),
    }
}

/// The line user agents' settings: local mode registers with our first UDP listener (over loopback
/// when it is on the wildcard address); with `[sip] upstream`, lines register there instead.
fn ua_settings(
    config: &Config,
    listeners: &SipListeners,
    host: &Host,
) -> anyhow::Result<crate::ua::UaSettings> {
    let addresses = listeners.addresses();
    let udp = addresses
        .iter()
        .find(|(t, _)| *t == Transport::Udp)
        .or_else(|| addresses.first())
        .map(|(_, a)| *a)
        .context("the line user agents need a [sip] listen address")?;
    Ok(match &config.sip.upstream {
        None => crate::ua::UaSettings::local(udp),
        Some(up) => {
            let uri = sip_core::msg::Uri::parse(up)
                .map_err(|e| anyhow::anyhow!("[sip] upstream {up}: {e}"))?;
            crate::ua::UaSettings::upstream(uri, udp.ip(), host.clone())
        }
    })
}

/// Removes the bindings the line user agents of a previous run left (their contacts carry a
/// `line=xb-...` token and name that run's port, which is gone): the lines register afresh as their
/// devices attach. Returns each AOR changed with the bindings it keeps, to persist.
fn drop_stale_line_bindings(
    location: &mut sip_core::location::Location,
) -> Vec<(sip_core::location::Aor, Vec<sip_core::location::Binding>)> {
    let is_line = |b: &sip_core::location::Binding| {
        sip_core::msg::Uri::parse(&b.contact)
            .is_ok_and(|u| u.params.get("line").is_some_and(|t| t.starts_with("xb-")))
    };
    let changed: Vec<_> = location
        .iter()
        .filter(|(_, bindings)| bindings.iter().any(is_line))
        .map(|(aor, bindings)| {
            let keep: Vec<_> = bindings.iter().filter(|b| !is_line(b)).cloned().collect();
            (aor.clone(), keep)
        })
        .collect();
    for (aor, keep) in &changed {
        location.replace(aor.clone(), keep.clone());
    }
    if !changed.is_empty() {
        tracing::info!(
            aors = changed.len(),
            "removed the bindings of a previous run's line user agents"
        );
    }
    changed
}

/// Runs the gateway on bound `listeners` until `shutdown` is cancelled, then drains.
///
/// # Errors
/// A subsystem that fails to run.
pub async fn run(
    config: Config,
    listeners: Listeners,
    store: Store,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    run_with(config, listeners, store, shutdown, |_| {}).await
}

/// [`run`], handing the running line user agents to `on_agent` once they are up (tests attach devices
/// through it).
///
/// # Errors
/// As [`run`].
pub async fn run_with(
    config: Config,
    listeners: Listeners,
    store: Store,
    shutdown: CancellationToken,
    on_agent: impl FnOnce(crate::ua::Agent),
) -> anyhow::Result<()> {
    let tasks = TaskTracker::new();
    let bound = listeners.addresses();
    for (key, addr) in &bound {
        tracing::info!(%addr, listener = %key, "listening");
    }
    if let Some(provisioning) = listeners.provisioning {
        start_provisioning(&config, provisioning, &bound, &store, &tasks, &shutdown).await?;
    }
    let mut sip_settings = sip_settings(&config, &listeners.sip);
    // The SIP core stops after the line user agents, so their unregistrations are answered.
    let core_shutdown = CancellationToken::new();
    // If this future is dropped before its orderly stop (a runtime shutting down, a test that panicked),
    // the SIP core thread must still stop: the runtime's blocking pool waits for the thread joining it.
    let _core_guard = core_shutdown.clone().drop_guard();
    let ua_settings = ua_settings(&config, &listeners.sip, &sip_settings.host)?;
    let (agent, agent_task) = crate::ua::Agent::start(ua_settings, shutdown.child_token())
        .await
        .context("starting the line user agents")?;
    sip_settings.trusted.push(agent.local_addr());
    tracing::info!(addr = %agent.local_addr(), "line user agents ready");
    let directory = Directory::load(&store)
        .await
        .context("loading users and domains")?;
    let mut location = crate::sip::persist::load(&store, unix_now())
        .await
        .context("loading the location table")?;
    let stale_lines = drop_stale_line_bindings(&mut location);
    tracing::info!(
        users = directory.user_count(),
        aors = location.aor_count(),
        bindings = location.binding_count(),
        "SIP core ready"
    );
    let directory: SharedDirectory = Arc::new(RwLock::new(directory));
    tasks.spawn(crate::sip::directory::refresh(
        store.clone(),
        Arc::clone(&directory),
        shutdown.clone(),
    ));
    let (mut persister, writer) = Persister::start(store.clone());
    for (aor, left) in stale_lines {
        persister.save(&aor, left.into(), provisioning::store::SetChange::Pruned);
    }
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
    let (transports, primary_udp) =
        Transports::start(listeners.sip, inbound_tx, core_shutdown.clone())
            .context("starting the SIP transports")?;
    let server = SipServer::new(sip_settings, transports, location, directory, persister);
    // The SIP core runs on a thread of its own with a single-threaded runtime that also reads the first
    // UDP socket (a duplicate of its descriptor): every datagram is received, handled and answered on
    // that thread, with no wake-up of another one.
    let sip_shutdown = core_shutdown.clone();
    let core = std::thread::Builder::new()
        .name("sip-core".to_owned())
        .spawn(move || -> std::io::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let udp = match primary_udp {
                    Some(socket) => {
                        socket.set_nonblocking(true)?;
                        Some(Arc::new(tokio::net::UdpSocket::from_std(socket)?))
                    }
                    None => None,
                };
                server.run(inbound_rx, udp, sip_shutdown).await;
                Ok(())
            })
        })
        .context("starting the SIP core thread")?;
    tasks.spawn(async move {
        match tokio::task::spawn_blocking(move || core.join()).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "the SIP core could not start"),
            _ => tracing::error!("the SIP core thread ended abnormally"),
        }
        // The server (and with it the Persister) is gone: the writer flushes and ends.
        let _ = writer.await;
    });
    // SDP names the advertised address, else the SIP listener's.
    let sdp_ip = config
        .sip
        .advertised_address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| agent.local_addr().ip());
    // UNIStim first, so the SCCP driver's reset poller (which takes the store's reset queue for every
    // driver) can pass UNIStim devices on to it.
    let mut also_reset: Vec<crate::driver::sccp::ResetTarget> = Vec::new();
    if let Some(socket) = listeners.unistim {
        let unistim = crate::driver::unistim::start(
            socket,
            crate::driver::unistim::deps(&config, store.clone(), agent.clone(), sdp_ip),
            &tasks,
            shutdown.clone(),
        )
        .context("starting the UNIStim listener")?;
        also_reset.push(Arc::new(move |name: &str| unistim.reset(name)));
    }
    if let Some(listener) = listeners.sccp {
        let mut deps = crate::driver::sccp::deps(&config, store.clone(), agent.clone(), sdp_ip);
        deps.also_reset = also_reset;
        crate::driver::sccp::start(listener, deps, &tasks, shutdown.clone())
            .context("starting the SCCP listener")?;
    }
    on_agent(agent);
    tasks.close();
    shutdown.cancelled().await;
    tracing::info!("shutting down");
    if tokio::time::timeout(DRAIN_GRACE, agent_task).await.is_err() {
        tracing::warn!("the line user agents did not stop in time");
    }
    core_shutdown.cancel();
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

/// Installs the SIGINT and SIGTERM handlers at once (so a signal arriving while the gateway starts is not
/// fatal) and returns a future that completes on either.
fn signalled() -> std::io::Result<impl Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            tokio::signal::ctrl_c()
                .await
                .map_or("interrupt", |()| "interrupt")
        })
    }
}

/// `crossbar serve` with a loaded configuration.
///
/// # Errors
/// [`CliError::Runtime`] when the store cannot be opened, a listener cannot be bound, or a subsystem
/// fails.
pub async fn serve(config: Config) -> Result<(), CliError> {
    let signals = signalled().context("installing the SIGINT and SIGTERM handlers")?;
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
        let signal = signals.await;
        tracing::info!(signal, "signal received");
        trigger.cancel();
    });
    run(config, listeners, store, shutdown).await?;
    tracing::info!("crossbar stopped");
    Ok(())
}
