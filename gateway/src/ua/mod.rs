//! The line user agents: every legacy line (SCCP now, UNIStim next) is a SIP user.
//!
//! A phone session attaches its device with [`Agent::attach`] and gets a [`DeviceUa`]: it sends
//! [`UaCommand`]s and receives [`UaEvent`]s, and never sees SIP. Behind the handle, one task owns one UDP
//! socket, the transaction layer of `sip_core::transaction`, and every line's registration and every
//! call's dialog (RFC 3261 §12), and turns commands into SIP and SIP into events. It knows nothing of
//! SCCP or UNIStim.
//!
//! # Where the lines register
//! * [`RegistrarTarget::Local`] (the default): Crossbar's own registrar and proxy, reached over loopback
//!   at the SIP listener. Each line binds `sip:EXT@DOMAIN` to `sip:EXT@UA_IP:UA_PORT;line=TOKEN`, where
//!   TOKEN (`xb-<device>-<line>`) routes incoming requests to the right device and line. The SIP server
//!   trusts requests from the agent's socket ([`Agent::local_addr`] goes into its `trusted` list), so a
//!   line needs no SIP password. Calls go to the same listener as outbound proxy.
//! * [`RegistrarTarget::Upstream`]: another registrar and proxy (`[sip] upstream`); each line registers
//!   there and answers 401/407 with its own digest credentials (MD5 or SHA-256 from the stored HA1), and
//!   all calls go through it.
//!
//! # Bindings of a previous run
//! The agent's port changes from one run to the next, so a binding left by a previous run (a crash, a
//! kill) names a dead contact. The 200 to a line's first REGISTER lists every contact of the AOR; each
//! one carrying the same `line` token but another host or port is removed at once with `expires=0`.
//! Bindings of other devices (a SIP phone sharing the extension) are left alone.
//!
//! # Commands and events
//! The shape of the conversation is in `crate::call::types`. Registration refreshes itself before
//! expiry (at about 85 % of the granted time) and retries with backoff (1 s doubling to 60 s) after a
//! failure, reporting [`UaEvent::Registered`] and [`UaEvent::RegistrationFailed`]. Dropping the
//! [`DeviceUa`] (or [`DeviceUa::detach`]) unregisters its lines (`expires=0`) and ends its calls.

mod agent;
mod auth;
mod call;
mod dialog;
mod register;
pub mod sdp;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sip_core::msg::{Host, Uri};
use sip_core::transaction::Timers;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::call::types::{CallRefs, LineId, LineIdentity, UaCommand, UaEvent};

/// Where the lines register and send their calls.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrarTarget {
    /// Crossbar's own SIP listener (UDP), which trusts the agent's socket.
    Local(SocketAddr),
    /// An upstream registrar and proxy (`[sip] upstream`), with digest credentials per line.
    Upstream(Uri),
}

/// How the line user agents run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UaSettings {
    /// The address the agent's UDP socket binds (port chosen by the kernel).
    pub bind_ip: IpAddr,
    /// Where lines register and calls go.
    pub registrar: RegistrarTarget,
    /// The host written in Via and Contact (the bound IP, or `[sip] advertised_address`).
    pub advertised: Host,
    /// The registration expiry asked for, in seconds.
    pub expires_secs: u32,
    /// The User-Agent header value.
    pub user_agent: String,
    /// Transaction timers (T1, T2, T4).
    pub timers: Timers,
    /// The first retry delay after a failed registration; doubles up to [`UaSettings::retry_max`].
    pub retry_min: Duration,
    /// The longest retry delay.
    pub retry_max: Duration,
}

impl UaSettings {
    /// Settings for lines registering with Crossbar's own listener at `registrar` (the agent binds the
    /// listener's IP, or loopback when the listener is on the wildcard address).
    pub fn local(registrar: SocketAddr) -> Self {
        let ip = if registrar.ip().is_unspecified() {
            match registrar {
                SocketAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
                SocketAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            }
        } else {
            registrar.ip()
        };
        Self {
            bind_ip: ip,
            registrar: RegistrarTarget::Local(SocketAddr::new(ip, registrar.port())),
            advertised: Host::from(ip),
            expires_secs: 3600,
            user_agent: concat!("crossbar-line/", env!("CARGO_PKG_VERSION")).to_owned(),
            timers: Timers::default(),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        }
    }

    /// Settings for lines registering with an upstream registrar, binding `bind_ip` and advertising
    /// `advertised` in Via and Contact.
    pub fn upstream(upstream: Uri, bind_ip: IpAddr, advertised: Host) -> Self {
        Self {
            bind_ip,
            registrar: RegistrarTarget::Upstream(upstream),
            advertised,
            ..Self::local(SocketAddr::new(bind_ip, 5060))
        }
    }

    /// The same settings with another registration expiry.
    #[must_use]
    pub fn with_expires(mut self, secs: u32) -> Self {
        self.expires_secs = secs;
        self
    }
}

/// What a [`DeviceUa`] asks of the agent task.
#[derive(Debug)]
pub(crate) enum Request {
    Attach {
        id: u64,
        device: String,
        lines: Vec<(LineId, LineIdentity)>,
        calls: CallRefs,
        events: mpsc::UnboundedSender<UaEvent>,
    },
    Command {
        id: u64,
        cmd: UaCommand,
    },
    Detach {
        id: u64,
    },
    Codecs {
        id: u64,
        codecs: Vec<crate::call::Codec>,
    },
}

/// The line user agents: a cheap, cloneable handle on the agent task.
#[derive(Debug, Clone)]
pub struct Agent {
    requests: mpsc::UnboundedSender<Request>,
    local: SocketAddr,
    next_id: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Agent {
    /// Binds the agent's UDP socket and starts its task, which runs until `shutdown` (then every line
    /// unregisters, best effort, before the task ends).
    ///
    /// # Errors
    /// The socket cannot be bound, or the upstream registrar's host does not resolve.
    pub async fn start(
        settings: UaSettings,
        shutdown: CancellationToken,
    ) -> io::Result<(Self, JoinHandle<()>)> {
        let socket = tokio::net::UdpSocket::bind(SocketAddr::new(settings.bind_ip, 0)).await?;
        let local = socket.local_addr()?;
        let outbound = match &settings.registrar {
            RegistrarTarget::Local(addr) => *addr,
            RegistrarTarget::Upstream(uri) => resolve(uri).await?,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let core = agent::Core::new(settings, local, outbound);
        let task = tokio::spawn(agent::run(core, socket, rx, shutdown));
        Ok((
            Self {
                requests: tx,
                local,
                next_id: std::sync::Arc::default(),
            },
            task,
        ))
    }

    /// The agent's socket: requests from it are Crossbar's own lines (the SIP server's trust list).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Attaches a device: each of its lines starts registering at once. `device` names it in logs and
    /// line tokens (e.g. `SEP0004F2ABCDEF`); `calls` is the device's call reference counter, from which
    /// the agent allocates references for incoming calls.
    pub fn attach(
        &self,
        device: String,
        lines: Vec<(LineId, LineIdentity)>,
        calls: CallRefs,
    ) -> DeviceUa {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (events, rx) = mpsc::unbounded_channel();
        // If the task has ended the handle stays inert: `recv` returns `None`.
        let _ = self.requests.send(Request::Attach {
            id,
            device,
            lines,
            calls,
            events,
        });
        DeviceUa {
            id,
            requests: self.requests.clone(),
            events: rx,
            attached: true,
        }
    }
}

/// One attached device's side of the line user agents.
#[derive(Debug)]
pub struct DeviceUa {
    id: u64,
    requests: mpsc::UnboundedSender<Request>,
    events: mpsc::UnboundedReceiver<UaEvent>,
    attached: bool,
}

impl DeviceUa {
    /// Queues a command; the agent acts on it in order. Commands for unknown calls are logged and
    /// ignored.
    pub fn send(&self, cmd: UaCommand) {
        let _ = self.requests.send(Request::Command { id: self.id, cmd });
    }

    /// The next event; `None` once the agent has stopped. Cancel-safe, so it can sit in a `select!`.
    pub async fn recv(&mut self) -> Option<UaEvent> {
        self.events.recv().await
    }

    /// The codecs the device can use, preferred first (e.g. from its capabilities). An incoming
    /// offer is then agreed against these, so `Incoming.offer` names the first offered codec the
    /// device has (a caller whose first codec the device lacks is not refused when a later one would
    /// do); an offer with none of them gets 488. Until set (or when empty), every codec Crossbar knows.
    pub fn set_codecs(&self, codecs: Vec<crate::call::Codec>) {
        let _ = self.requests.send(Request::Codecs {
            id: self.id,
            codecs,
        });
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<UaEvent> {
        self.events.try_recv().ok()
    }

    /// Detaches the device: its lines unregister (`expires=0`) and its calls end (CANCEL, BYE or a
    /// final response as their state asks). Dropping the handle does the same.
    pub fn detach(mut self) {
        self.detach_now();
    }

    fn detach_now(&mut self) {
        if self.attached {
            self.attached = false;
            let _ = self.requests.send(Request::Detach { id: self.id });
        }
    }
}

impl Drop for DeviceUa {
    fn drop(&mut self) {
        self.detach_now();
    }
}

/// The socket address of an upstream URI (`maddr`, then the host, resolved; port 5060 by default).
async fn resolve(uri: &Uri) -> io::Result<SocketAddr> {
    let port = uri.port.unwrap_or(5060);
    if let Some(ip) = uri
        .params
        .get("maddr")
        .and_then(|m| m.parse::<IpAddr>().ok())
        .or_else(|| uri.host.ip())
    {
        return Ok(SocketAddr::new(ip, port));
    }
    let name = uri.host.to_string();
    tokio::net::lookup_host((name.as_str(), port))
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{name} does not resolve")))
}
