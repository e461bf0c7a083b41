//! The tokio side of SCCP: the `[sccp] listen` TCP listener and one task per phone driving its
//! [`Session`].
//!
//! Each task `select!`s over the socket, the device's mailbox (user agent events, RFC 4733 keys from the
//! relay, reset requests), the session's deadline, a replacement signal and shutdown; it feeds one input,
//! then drains the session's outputs, sending everything for the phone in one write. Sessions are keyed
//! by device name, not address: a phone that reconnects while its old TCP session is half dead replaces
//! it, and many phones may share one NAT address. Accepts are limited by a semaphore; on shutdown the
//! tasks close their sockets and detach their lines within the gateway's drain grace.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use codecs::sccp::{Message, frame};
use provisioning::{KeyKind, Mac, Store, UserId};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::call::phone::{LineFeatures, MediaAction};
use crate::call::{CallRef, CallRefs, Dtmf, LineId, LineIdentity, UaCommand, UaEvent};
use crate::session::sccp::{
    DeviceConfig, Input, KeyConfig, LineConfig, Output, Session, SessionConfig,
};

/// How many phones may be connected at once.
pub const MAX_PHONES: usize = 65_536;

/// How often the store is asked for devices to reset.
pub const RESET_POLL: Duration = Duration::from_secs(5);

/// What a device's task is told from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// From the device's line user agents.
    Ua(UaEvent),
    /// An RFC 4733 key from the far end, through the relay.
    RemoteDtmf {
        /// The call.
        call: CallRef,
        /// The key.
        dtmf: Dtmf,
    },
    /// Reset the phone.
    Reset,
}

/// A registered device's mailbox, given to the line user agents and the media relay.
#[derive(Debug, Clone)]
pub struct DeviceHandle {
    name: Arc<str>,
    peer: SocketAddr,
    local: SocketAddr,
    tx: mpsc::UnboundedSender<DeviceEvent>,
}

impl DeviceHandle {
    /// A handle for a device of another protocol's driver (UNIStim) sharing the agents and the relay.
    pub(crate) fn new(
        name: &str,
        peer: SocketAddr,
        local: SocketAddr,
        tx: mpsc::UnboundedSender<DeviceEvent>,
    ) -> Self {
        Self {
            name: name.into(),
            peer,
            local,
            tx,
        }
    }

    /// `SEP<MAC>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The phone's TCP address (its public address when NATed).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Our address on the phone's TCP connection: the address the phone reaches Crossbar at.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Delivers an event; false when the device is gone.
    pub fn send(&self, event: DeviceEvent) -> bool {
        self.tx.send(event).is_ok()
    }

    /// Delivers a user agent event; false when the device is gone.
    pub fn ua(&self, event: UaEvent) -> bool {
        self.send(DeviceEvent::Ua(event))
    }
}

/// The line user agents as the phone sessions see them (implemented by `gateway::ua`).
pub trait LineAgents: Send + Sync + 'static {
    /// A device registered: its lines become SIP users; their events go to `device`; call references
    /// for calls arriving at it come from `refs`.
    fn attach(&self, device: DeviceHandle, lines: Vec<(LineId, LineIdentity)>, refs: CallRefs);
    /// A command from the device.
    fn command(&self, device: &str, command: UaCommand);
    /// The device is gone: end its calls, unregister its lines.
    fn detach(&self, device: &str);
}

/// Where RTP goes for a call: the answer to an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLegs {
    /// The address for our SDP (the relay's SIP-side port, or the phone's own address in direct mode).
    pub sdp: SocketAddr,
    /// Where the phone sends: the relay's phone-side port, or `None` in direct mode (the far end).
    pub phone_target: Option<SocketAddr>,
}

/// The media relay as the phone sessions see it (implemented over `gateway::media`).
pub trait MediaPort: Send + Sync + 'static {
    /// Media for a new call of `device`.
    ///
    /// # Errors
    /// No ports left, or no relay.
    fn allocate(&self, device: &DeviceHandle, call: CallRef) -> std::io::Result<MediaLegs>;
    /// Relay work: the far end's and the phone's addresses, DTMF to send, release.
    fn handle(&self, device: &str, action: MediaAction);
}

/// [`LineAgents`] over the line user agents of [`crate::ua`]: one forwarding task per attached device
/// carries its commands to its [`crate::ua::DeviceUa`] and its events back to the device's mailbox.
#[derive(Debug)]
pub struct UaAgents {
    agent: crate::ua::Agent,
    devices: Mutex<HashMap<String, Attached>>,
}

#[derive(Debug)]
struct Attached {
    commands: mpsc::UnboundedSender<UaCommand>,
    task: tokio::task::JoinHandle<()>,
}

impl UaAgents {
    /// Wraps a running agent.
    pub fn new(agent: crate::ua::Agent) -> Self {
        Self {
            agent,
            devices: Mutex::new(HashMap::new()),
        }
    }
}

impl LineAgents for UaAgents {
    fn attach(&self, device: DeviceHandle, lines: Vec<(LineId, LineIdentity)>, refs: CallRefs) {
        let (commands, mut rx) = mpsc::unbounded_channel::<UaCommand>();
        let agent = self.agent.clone();
        let Ok(mut devices) = self.devices.lock() else {
            return;
        };
        // A device reconnecting replaces its old attachment: the old one is detached first (its lines
        // unregistered), then the new one attached, so the unregistration cannot undo the new binding.
        let old = devices.remove(device.name());
        let name = device.name().to_owned();
        let key = name.clone();
        let task = tokio::spawn(async move {
            if let Some(old) = old {
                drop(old.commands);
                let _ = old.task.await;
            }
            let mut ua = agent.attach(name, lines, refs);
            loop {
                tokio::select! {
                    command = rx.recv() => match command {
                        Some(c) => ua.send(c),
                        None => break,
                    },
                    event = ua.recv() => match event {
                        Some(e) => {
                            if !device.ua(e) {
                                break;
                            }
                        }
                        None => break,
                    },
                }
            }
            ua.detach();
        });
        devices.insert(key, Attached { commands, task });
    }

    fn command(&self, device: &str, command: UaCommand) {
        if let Ok(devices) = self.devices.lock()
            && let Some(a) = devices.get(device)
        {
            let _ = a.commands.send(command);
        }
    }

    fn detach(&self, device: &str) {
        if let Ok(mut devices) = self.devices.lock() {
            // Dropping the sender ends the forwarding task, which detaches the device's lines.
            devices.remove(device);
        }
    }
}

/// Media without a relay: nothing can be allocated. Used in `[media] mode = "direct"`, which SCCP
/// phones do not support yet (their RTP port is only known after OpenReceiveChannel, too late for our
/// SDP offer); their calls fail with 503 and the phone plays reorder.
#[derive(Debug, Default)]
pub struct NoMedia;

impl MediaPort for NoMedia {
    fn allocate(&self, _: &DeviceHandle, _: CallRef) -> std::io::Result<MediaLegs> {
        Err(std::io::Error::other(
            "no media relay ([media] mode = \"direct\" is not supported for SCCP phones)",
        ))
    }

    fn handle(&self, _: &str, _: MediaAction) {}
}

/// [`MediaPort`] over [`crate::media::MediaRelay`]: one relay call (two RTP/RTCP port pairs) per phone
/// call, with a task forwarding RFC 4733 keys from the SIP side to the device.
#[derive(Debug)]
pub struct RelayMedia {
    relay: crate::media::MediaRelay,
    /// The address for SDP when the relay is bound to the wildcard address.
    sdp_ip: std::net::IpAddr,
    calls: Mutex<HashMap<(String, CallRef), RelayLeg>>,
}

#[derive(Debug)]
struct RelayLeg {
    commands: mpsc::UnboundedSender<MediaAction>,
    peer: SocketAddr,
}

impl RelayMedia {
    /// Wraps a relay; `sdp_ip` is the address SIP peers reach us at (for a relay bound to `0.0.0.0`).
    pub fn new(relay: crate::media::MediaRelay, sdp_ip: std::net::IpAddr) -> Self {
        Self {
            relay,
            sdp_ip,
            calls: Mutex::new(HashMap::new()),
        }
    }
}

impl MediaPort for RelayMedia {
    fn allocate(&self, device: &DeviceHandle, call: CallRef) -> std::io::Result<MediaLegs> {
        let mut relay = self.relay.open().map_err(std::io::Error::other)?;
        let fix = |a: SocketAddr, ip: std::net::IpAddr| {
            if a.ip().is_unspecified() {
                SocketAddr::new(ip, a.port())
            } else {
                a
            }
        };
        let legs = MediaLegs {
            sdp: fix(relay.sip_local(), self.sdp_ip),
            phone_target: Some(fix(relay.phone_local(), device.local().ip())),
        };
        let (commands, mut rx) = mpsc::unbounded_channel::<MediaAction>();
        let handle = device.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    action = rx.recv() => match action {
                        Some(MediaAction::Remote { media, .. }) => relay.set_sip_remote(&media),
                        Some(MediaAction::PhoneAddr { addr, .. }) => relay.set_phone_remote(addr),
                        Some(MediaAction::Hold { on, .. }) => relay.hold(on),
                        Some(MediaAction::SendDtmf { dtmf, .. }) => {
                            if let Err(e) = relay.send_dtmf(dtmf) {
                                tracing::debug!(%call, error = %e, "key not sent as RFC 4733");
                            }
                        }
                        Some(_) => {}
                        None => break,
                    },
                    event = relay.next_event() => match event {
                        Some(crate::media::MediaEvent::Dtmf(dtmf)) => {
                            if !handle.send(DeviceEvent::RemoteDtmf { call, dtmf }) {
                                break;
                            }
                        }
                        None => break,
                    },
                }
            }
            relay.close();
        });
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(
                (device.name().to_owned(), call),
                RelayLeg {
                    commands,
                    peer: device.peer(),
                },
            );
        }
        Ok(legs)
    }

    fn handle(&self, device: &str, action: MediaAction) {
        let Ok(mut calls) = self.calls.lock() else {
            return;
        };
        let call = match &action {
            MediaAction::Remote { call, .. }
            | MediaAction::PhoneAddr { call, .. }
            | MediaAction::SendDtmf { call, .. }
            | MediaAction::Release { call }
            | MediaAction::Hold { call, .. }
            | MediaAction::Allocate { call }
            | MediaAction::Open { call, .. }
            | MediaAction::Transmit { call, .. }
            | MediaAction::Stop { call, .. } => *call,
        };
        let key = (device.to_owned(), call);
        match action {
            // Dropping the sender ends the task, which closes the relay call.
            MediaAction::Release { .. } => {
                calls.remove(&key);
            }
            MediaAction::PhoneAddr { call, addr } => {
                if let Some(leg) = calls.get(&key) {
                    // The address inside SCCP is advisory (sccp.md §3.7): behind NAT the phone's TCP
                    // peer address is the one that reaches it; the relay also latches on its first packet.
                    let addr = if addr.ip() == leg.peer.ip() || addr.ip().is_loopback() {
                        addr
                    } else {
                        SocketAddr::new(leg.peer.ip(), addr.port())
                    };
                    let _ = leg.commands.send(MediaAction::PhoneAddr { call, addr });
                }
            }
            other => {
                if let Some(leg) = calls.get(&key) {
                    let _ = leg.commands.send(other);
                }
            }
        }
    }
}

/// Everything the SCCP side needs.
#[derive(Clone)]
pub struct SccpDeps {
    /// Session settings.
    pub session: SessionConfig,
    /// The inventory.
    pub store: Store,
    /// The line user agents.
    pub agents: Arc<dyn LineAgents>,
    /// The media relay.
    pub media: Arc<dyn MediaPort>,
    /// How often the store is asked for devices to reset ([`RESET_POLL`]).
    pub reset_poll: Duration,
}

impl std::fmt::Debug for SccpDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SccpDeps")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

struct Entry {
    id: u64,
    replaced: CancellationToken,
    handle: DeviceHandle,
}

/// The registered devices, by name.
#[derive(Default)]
struct Registry {
    devices: Mutex<HashMap<String, Entry>>,
}

impl Registry {
    /// Registers `handle` as connection `id`, replacing (and cancelling) an older session of the device.
    fn insert(&self, id: u64, handle: DeviceHandle, replaced: CancellationToken) {
        let Ok(mut devices) = self.devices.lock() else {
            return;
        };
        let name = handle.name().to_owned();
        if let Some(old) = devices.insert(
            name,
            Entry {
                id,
                replaced,
                handle,
            },
        ) {
            old.replaced.cancel();
        }
    }

    /// Removes connection `id`'s entry if it is still the current one; true if it was.
    fn remove(&self, name: &str, id: u64) -> bool {
        let Ok(mut devices) = self.devices.lock() else {
            return false;
        };
        if devices.get(name).is_some_and(|e| e.id == id) {
            devices.remove(name);
            true
        } else {
            false
        }
    }

    fn handle(&self, name: &str) -> Option<DeviceHandle> {
        self.devices
            .lock()
            .ok()
            .and_then(|d| d.get(name).map(|e| e.handle.clone()))
    }

    fn len(&self) -> usize {
        self.devices.lock().map_or(0, |d| d.len())
    }
}

/// The running SCCP side, for tests and status.
#[derive(Clone)]
pub struct SccpServer {
    registry: Arc<Registry>,
    local: SocketAddr,
}

impl std::fmt::Debug for SccpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SccpServer")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl SccpServer {
    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How many phones are registered.
    pub fn registered(&self) -> usize {
        self.registry.len()
    }

    /// Whether this device is registered.
    pub fn is_registered(&self, name: &str) -> bool {
        self.registry.handle(name).is_some()
    }

    /// Asks a registered phone to reset; false when it is not registered.
    pub fn reset(&self, name: &str) -> bool {
        self.registry
            .handle(name)
            .is_some_and(|h| h.send(DeviceEvent::Reset))
    }
}

/// The SCCP side's dependencies from the configuration and the running line user agents: the media
/// relay on `[media] rtp_ports` (bound where `[sccp] listen` is), SDP naming `sdp_ip`.
pub fn deps(
    config: &crate::Config,
    store: Store,
    agent: crate::ua::Agent,
    sdp_ip: std::net::IpAddr,
) -> SccpDeps {
    let media: Arc<dyn MediaPort> =
        match crate::media::MediaRelay::for_config(&config.media, config.sccp.listen.ip()) {
            Some(relay) => Arc::new(RelayMedia::new(relay, sdp_ip)),
            None => Arc::new(NoMedia),
        };
    SccpDeps {
        session: SessionConfig {
            keepalive: config.sccp.keepalive,
            interdigit: config.dialplan.interdigit,
            ..SessionConfig::default()
        },
        store,
        agents: Arc::new(UaAgents::new(agent)),
        media,
        reset_poll: RESET_POLL,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Starts the SCCP side on a bound listener: the accept loop and the reset poller, tracked by `tasks`,
/// both ending when `shutdown` is cancelled.
pub fn start(
    listener: TcpListener,
    deps: SccpDeps,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> std::io::Result<SccpServer> {
    let local = listener.local_addr()?;
    let registry = Arc::new(Registry::default());
    let server = SccpServer {
        registry: Arc::clone(&registry),
        local,
    };
    let deps = Arc::new(deps);
    tasks.spawn(poll_resets(
        deps.store.clone(),
        deps.reset_poll,
        server.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(accept_loop(
        listener,
        deps,
        registry,
        tasks.clone(),
        shutdown,
    ));
    Ok(server)
}

async fn accept_loop(
    listener: TcpListener,
    deps: Arc<SccpDeps>,
    registry: Arc<Registry>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(MAX_PHONES));
    let ids = AtomicU64::new(1);
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => return,
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "SCCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let conn = Connection {
            deps: Arc::clone(&deps),
            registry: Arc::clone(&registry),
            id,
            peer,
            shutdown: shutdown.clone(),
        };
        tasks.spawn(
            async move {
                conn.run(stream).await;
                drop(permit);
            }
            .instrument(tracing::info_span!("sccp", %peer)),
        );
    }
}

/// Polls the store for devices whose configuration changed (`crossbar import --reset-changed`) and
/// resets those that are registered.
async fn poll_resets(
    store: Store,
    every: Duration,
    server: SccpServer,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for mac in take_reset_requests(&store).await {
            let name = mac.device_name();
            if server.reset(&name) {
                tracing::info!(device = %name, "reset sent");
            }
        }
    }
}

/// The devices waiting for a reset (`crossbar import --reset-changed` queues them, migration 0003).
async fn take_reset_requests(store: &Store) -> Vec<Mac> {
    match store.take_reset_requests().await {
        Ok(macs) => macs,
        Err(e) => {
            tracing::warn!(error = %e, "reading reset requests failed");
            Vec::new()
        }
    }
}

/// The model of an SCCP device type, from the model table.
fn model_of(device_type: u32) -> Option<String> {
    provisioning::MODELS
        .iter()
        .find(|m| {
            matches!(m.family, provisioning::models::Family::CiscoSccp { device_type: t, .. } if t == device_type)
        })
        .map(|m| m.name.to_owned())
}

/// Records a phone that is not in the inventory, for `crossbar devices --unknown` (migration 0002).
async fn record_seen(store: &Store, mac: Mac, device_type: u32, peer: SocketAddr, firmware: &str) {
    tracing::info!(%mac, device_type, %peer, firmware, "unknown SCCP phone refused");
    let seen = provisioning::store::SeenDevice {
        mac,
        model_guess: model_of(device_type),
        protocol: Some(provisioning::Protocol::Sccp),
        address: Some(peer.to_string()),
        source: provisioning::store::SeenVia::Sccp,
        user_agent: (!firmware.is_empty()).then(|| firmware.to_owned()),
    };
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    if let Err(e) = store.record_seen(&seen, now).await {
        tracing::warn!(%mac, error = %e, "recording the unknown phone failed");
    }
}

/// Builds the session's view of a device from the inventory.
///
/// # Errors
/// The store's.
pub async fn device_config(
    store: &Store,
    mac: &Mac,
) -> Result<Option<DeviceConfig>, provisioning::StoreError> {
    let Some(device) = store.device(mac).await? else {
        return Ok(None);
    };
    let mut lines = Vec::new();
    let mut keys = Vec::new();
    let mut user_name = String::new();
    for key in &device.keys {
        match key.kind {
            KeyKind::Line => {
                let id = UserId::new(device.domain.clone(), key.target.clone());
                let user = store.user(&id).await?;
                let display_name = user
                    .as_ref()
                    .map_or_else(|| key.target.clone(), provisioning::User::shown_name);
                if user_name.is_empty() {
                    user_name.clone_from(&display_name);
                }
                let stored = store.line_features(&id).await?;
                let line = LineId(key.line);
                lines.push(LineConfig {
                    id: line,
                    identity: LineIdentity {
                        extension: key.target.clone(),
                        domain: device.domain.clone(),
                        display_name,
                        ha1: user.and_then(|u| u.ha1),
                    },
                    label: if key.label.is_empty() {
                        key.target.clone()
                    } else {
                        key.label.clone()
                    },
                    features: LineFeatures {
                        forward_all: stored.forward_all,
                        forward_busy: stored.forward_busy,
                        forward_no_answer: stored.forward_no_answer,
                        dnd: stored.dnd,
                    },
                });
                keys.push(KeyConfig::Line(line));
            }
            KeyKind::SpeedDial => keys.push(KeyConfig::SpeedDial {
                label: if key.label.is_empty() {
                    key.target.clone()
                } else {
                    key.label.clone()
                },
                target: key.target.clone(),
            }),
            KeyKind::Blf => keys.push(KeyConfig::Blf {
                label: if key.label.is_empty() {
                    key.target.clone()
                } else {
                    key.label.clone()
                },
                target: key.target.clone(),
            }),
        }
    }
    Ok(Some(DeviceConfig {
        name: mac.device_name(),
        lines,
        keys,
        user_name,
    }))
}

struct Connection {
    deps: Arc<SccpDeps>,
    registry: Arc<Registry>,
    id: u64,
    peer: SocketAddr,
    shutdown: CancellationToken,
}

/// What a drained batch of outputs asks of the task.
enum Next {
    Continue,
    Close,
}

struct Live {
    session: Session,
    handle: Option<DeviceHandle>,
    lines: Vec<(LineId, UserId)>,
    tx: mpsc::UnboundedSender<DeviceEvent>,
    replaced: CancellationToken,
    out: BytesMut,
    local: SocketAddr,
}

impl Connection {
    async fn run(self, mut stream: TcpStream) {
        let refs = CallRefs::new();
        let now = Instant::now();
        let session = Session::new(
            self.deps.session.clone(),
            refs.clone(),
            now.into_std(),
            unix_now(),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut live = Live {
            session,
            handle: None,
            lines: Vec::new(),
            tx,
            replaced: CancellationToken::new(),
            out: BytesMut::new(),
            local: stream
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
        };
        let mut buf = BytesMut::with_capacity(4096);
        let mut malformed = 0u64;
        loop {
            let deadline = live.session.poll_timeout().map_or_else(
                || Instant::now() + Duration::from_secs(3600),
                Instant::from_std,
            );
            let input = tokio::select! {
                () = self.shutdown.cancelled() => break,
                () = live.replaced.cancelled() => {
                    tracing::info!("replaced by a newer connection of the same device");
                    break;
                }
                () = tokio::time::sleep_until(deadline) => Input::Timeout,
                event = rx.recv() => match event {
                    Some(DeviceEvent::Ua(e)) => Input::Ua(e),
                    Some(DeviceEvent::RemoteDtmf { call, dtmf }) => Input::RemoteDtmf { call, dtmf },
                    Some(DeviceEvent::Reset) => Input::Reset,
                    None => continue,
                },
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) => break,
                    Ok(_) => {
                        let mut closed = false;
                        loop {
                            let raw = match frame::decode(&mut buf) {
                                Ok(Some(raw)) => raw,
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::warn!(error = %e, "unframeable SCCP stream, closing");
                                    closed = true;
                                    break;
                                }
                            };
                            let message = match Message::from_frame(&raw, live.session.ctx()) {
                                Ok(m) => m,
                                Err(e) => {
                                    if malformed == 0 {
                                        tracing::warn!(error = %e, "malformed SCCP message ignored");
                                    }
                                    malformed += 1;
                                    continue;
                                }
                            };
                            if let Next::Close = self.feed(&mut live, Input::FromPhone(message)).await {
                                closed = true;
                                break;
                            }
                        }
                        if !live.out.is_empty() && stream.write_all(&live.out).await.is_err() {
                            break;
                        }
                        live.out.clear();
                        if closed {
                            break;
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "SCCP read failed");
                        break;
                    }
                },
            };
            let next = self.feed(&mut live, input).await;
            if !live.out.is_empty() && stream.write_all(&live.out).await.is_err() {
                break;
            }
            live.out.clear();
            if let Next::Close = next {
                break;
            }
        }
        if malformed > 1 {
            tracing::warn!(count = malformed, "malformed SCCP messages ignored in all");
        }
        // Hang up what the phone still had, then let its lines go.
        live.session.handle_disconnect();
        let _ = self.drain(&mut live).await;
        let _ = stream.shutdown().await;
        if let Some(handle) = &live.handle
            && self.registry.remove(handle.name(), self.id)
        {
            self.deps.agents.detach(handle.name());
            tracing::info!(device = handle.name(), "unregistered");
        }
    }

    /// Feeds one input and drains what follows from it.
    async fn feed(&self, live: &mut Live, input: Input) -> Next {
        if let Err(e) = live.session.handle_input(Instant::now().into_std(), input) {
            tracing::debug!(error = %e, "SCCP message ignored");
        }
        self.drain(live).await
    }

    async fn drain(&self, live: &mut Live) -> Next {
        let mut next = Next::Continue;
        // Inputs produced while draining (lookups, media allocations) are fed back until quiet.
        loop {
            let mut pending = Vec::new();
            while let Some(output) = live.session.poll_output() {
                match output {
                    Output::ToPhone(m) => m.encode_frame(live.session.ctx(), &mut live.out),
                    Output::Lookup {
                        name,
                        mac,
                        device_type,
                        firmware,
                    } => {
                        let mac = Mac::from_octets(mac);
                        let found = match device_config(&self.deps.store, &mac).await {
                            Ok(found) => found,
                            Err(e) => {
                                tracing::warn!(device = %name, error = %e, "inventory lookup failed");
                                None
                            }
                        };
                        if found.is_none() {
                            record_seen(&self.deps.store, mac, device_type, self.peer, &firmware)
                                .await;
                        }
                        if let Some(d) = &found {
                            live.lines = d
                                .lines
                                .iter()
                                .map(|l| {
                                    (
                                        l.id,
                                        UserId::new(
                                            l.identity.domain.clone(),
                                            l.identity.extension.clone(),
                                        ),
                                    )
                                })
                                .collect();
                        }
                        pending.push(Input::Lookup(found.map(Box::new)));
                    }
                    Output::Registered { name, lines } => {
                        let handle = DeviceHandle {
                            name: name.as_str().into(),
                            peer: self.peer,
                            local: live.local,
                            tx: live.tx.clone(),
                        };
                        self.registry
                            .insert(self.id, handle.clone(), live.replaced.clone());
                        self.deps
                            .agents
                            .attach(handle.clone(), lines, live.session_refs());
                        tracing::info!(device = %name, version = live.session.ctx().version, "registered");
                        live.handle = Some(handle);
                    }
                    Output::Ua(command) => {
                        if let Some(h) = &live.handle {
                            self.deps.agents.command(h.name(), command);
                        }
                    }
                    Output::Media(MediaAction::Allocate { call }) => {
                        let Some(h) = &live.handle else { continue };
                        match self.deps.media.allocate(h, call) {
                            Ok(legs) => pending.push(Input::MediaReady {
                                call,
                                local: legs.sdp,
                                phone_target: legs.phone_target,
                            }),
                            Err(e) => {
                                tracing::warn!(%call, error = %e, "no media for the call");
                                self.deps
                                    .agents
                                    .command(h.name(), UaCommand::Hangup { call });
                                pending.push(Input::Ua(UaEvent::Failed {
                                    call,
                                    code: 503,
                                    reason: "No media".to_owned(),
                                }));
                            }
                        }
                    }
                    Output::Media(action) => {
                        if let Some(h) = &live.handle {
                            self.deps.media.handle(h.name(), action);
                        }
                    }
                    Output::Features { line, features } => {
                        if let Some((_, user)) = live.lines.iter().find(|(l, _)| *l == line) {
                            let stored = provisioning::store::LineFeatures {
                                forward_all: features.forward_all,
                                forward_busy: features.forward_busy,
                                forward_no_answer: features.forward_no_answer,
                                dnd: features.dnd,
                            };
                            let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
                            if let Err(e) =
                                self.deps.store.set_line_features(user, &stored, now).await
                            {
                                tracing::warn!(line = %user, error = %e, "line features not stored");
                            }
                        }
                    }
                    Output::Close(reason) => {
                        tracing::debug!(?reason, "closing");
                        next = Next::Close;
                    }
                }
            }
            if pending.is_empty() {
                return next;
            }
            for input in pending {
                if let Err(e) = live.session.handle_input(Instant::now().into_std(), input) {
                    tracing::debug!(error = %e, "input ignored");
                }
            }
        }
    }
}

impl Live {
    fn session_refs(&self) -> CallRefs {
        self.session.refs()
    }
}
