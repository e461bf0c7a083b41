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
use crate::call::{CallRefs, LineId, LineIdentity};
use crate::session::sccp::{
    DeviceConfig, Input, KeyConfig, LineConfig, Output, Session, SessionConfig,
};

mod ports;
mod snapshot;

pub use ports::{
    DeviceEvent, DeviceHandle, DirectMedia, LineAgents, MediaLegs, MediaPort, NoMedia, RelayMedia,
    ResetTarget, SccpDeps, UaAgents,
};
pub use snapshot::{Inventories, Snapshot};

/// How many phones may be connected at once.
pub const MAX_PHONES: usize = 65_536;

/// How often the store is asked for devices to reset.
pub const RESET_POLL: Duration = Duration::from_secs(5);

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
    inventories: Arc<Inventories>,
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

    /// How many devices the in-memory inventory snapshot holds (0 until it is first loaded).
    pub fn snapshot_devices(&self) -> usize {
        self.inventories.current().map_or(0, |s| s.device_count())
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
            None => Arc::new(DirectMedia),
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
        also_reset: Vec::new(),
    }
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
    let inventories = Arc::new(Inventories::default());
    let server = SccpServer {
        registry: Arc::clone(&registry),
        inventories: Arc::clone(&inventories),
        local,
    };
    let deps = Arc::new(deps);
    tasks.spawn(poll_resets(
        deps.store.clone(),
        deps.reset_poll,
        server.clone(),
        deps.also_reset.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(accept_loop(
        listener,
        deps,
        registry,
        inventories,
        tasks.clone(),
        shutdown,
    ));
    Ok(server)
}

async fn accept_loop(
    listener: TcpListener,
    deps: Arc<SccpDeps>,
    registry: Arc<Registry>,
    inventories: Arc<Inventories>,
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
            inventories: Arc::clone(&inventories),
            id,
            peer,
            shutdown: shutdown.clone(),
        };
        tasks.spawn(
            async move {
                conn.run(stream).await;
                drop(permit);
            }
            .instrument(tracing::info_span!("sccp", device = tracing::field::Empty, %peer)),
        );
    }
}

/// Polls the store: reloads the inventory snapshot when it changed, then resets the registered
/// devices whose configuration changed (`crossbar import --reset-changed`), so they come back with it.
async fn poll_resets(
    store: Store,
    every: Duration,
    server: SccpServer,
    others: Vec<ResetTarget>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = server.inventories.refresh(&store).await {
            tracing::warn!(error = %e, "reloading the SCCP inventory snapshot failed");
        }
        for mac in take_reset_requests(&store).await {
            let name = mac.device_name();
            if server.reset(&name) || others.iter().any(|reset| reset(&name)) {
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
    let now = i64::try_from(crate::driver::unix_now()).unwrap_or(i64::MAX);
    if let Err(e) = store.record_seen(&seen, now).await {
        tracing::warn!(%mac, error = %e, "recording the unknown phone failed");
    }
}

/// Builds the session's view of a device from the inventory (the store, query by query; the running
/// driver reads its in-memory [`Inventories`] snapshot instead).
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
    let mut users = HashMap::new();
    let mut features = HashMap::new();
    for key in device.keys.iter().filter(|k| k.kind == KeyKind::Line) {
        let id = UserId::new(device.domain.clone(), key.target.clone());
        if let Some(user) = store.user(&id).await? {
            users.insert(id.clone(), user);
        }
        features.insert(id.clone(), store.line_features(&id).await?);
    }
    Ok(Some(build_config(
        &device,
        |id| users.get(id).cloned(),
        |id| features.get(id).cloned().unwrap_or_default(),
    )))
}

/// The session's view of a device, its users and line features given by the two lookups.
fn build_config(
    device: &provisioning::Device,
    user_of: impl Fn(&UserId) -> Option<provisioning::User>,
    features_of: impl Fn(&UserId) -> provisioning::store::LineFeatures,
) -> DeviceConfig {
    let mut lines = Vec::new();
    let mut keys = Vec::new();
    let mut user_name = String::new();
    for key in &device.keys {
        match key.kind {
            KeyKind::Line => {
                let id = UserId::new(device.domain.clone(), key.target.clone());
                let user = user_of(&id);
                let display_name = user
                    .as_ref()
                    .map_or_else(|| key.target.clone(), provisioning::User::shown_name);
                if user_name.is_empty() {
                    user_name.clone_from(&display_name);
                }
                let stored = features_of(&id);
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
    DeviceConfig {
        name: device.mac.device_name(),
        lines,
        keys,
        user_name,
    }
}

struct Connection {
    deps: Arc<SccpDeps>,
    registry: Arc<Registry>,
    inventories: Arc<Inventories>,
    id: u64,
    peer: SocketAddr,
    shutdown: CancellationToken,
}

/// The buffer size kept per idle phone.
const IDLE_BUFFER: usize = 256;

/// Empties a sent buffer, or drops a grown empty one, so 20,000 idle phones do not each keep the
/// capacity of their largest message.
fn trim(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 4 * IDLE_BUFFER {
        *buf = BytesMut::with_capacity(IDLE_BUFFER);
    } else {
        buf.clear();
    }
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
            crate::driver::unix_now(),
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
        // Small buffers: an idle phone sends a 12-byte keepalive; they grow for the rare large message
        // (EnhancedAlarm, UpdateCapabilities) and shrink back (see `trim`).
        let mut buf = BytesMut::with_capacity(IDLE_BUFFER);
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
                        trim(&mut live.out);
                        // Never clear the read buffer: it may hold the start of the next frame.
                        if buf.is_empty() && buf.capacity() > 4 * IDLE_BUFFER {
                            buf = BytesMut::with_capacity(IDLE_BUFFER);
                        }
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
            trim(&mut live.out);
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
                        // From memory: a storm of registrations does not queue on the store; a
                        // device not in the snapshot (new since the last reload, or unknown) is
                        // read from the store.
                        let found = match self.inventories.device_config(&mac) {
                            Some(found) => Some(found),
                            None => match device_config(&self.deps.store, &mac).await {
                                Ok(found) => found,
                                Err(e) => {
                                    tracing::warn!(device = %name, error = %e, "inventory lookup failed");
                                    None
                                }
                            },
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
                        tracing::Span::current().record("device", name.as_str());
                        tracing::info!(version = live.session.ctx().version, "registered");
                        live.handle = Some(handle);
                    }
                    Output::Codecs(codecs) => {
                        if let Some(h) = &live.handle {
                            self.deps.agents.set_codecs(h.name(), codecs);
                        }
                    }
                    Output::Ua(command) => {
                        if let Some(h) = &live.handle {
                            self.deps.agents.command(h.name(), command);
                        }
                    }
                    Output::Media(MediaAction::Allocate { call }) => {
                        let Some(h) = &live.handle else { continue };
                        pending.push(
                            match super::allocate_media(
                                &*self.deps.media,
                                &*self.deps.agents,
                                h,
                                call,
                            ) {
                                Ok(legs) => Input::MediaReady {
                                    call,
                                    local: legs.sdp,
                                    phone_target: legs.phone_target,
                                },
                                Err(failed) => Input::Ua(failed),
                            },
                        );
                    }
                    Output::Media(action) => {
                        if let Some(h) = &live.handle {
                            self.deps.media.handle(h.name(), action);
                        }
                    }
                    Output::Features { line, features } => {
                        if let Some((_, user)) = live.lines.iter().find(|(l, _)| *l == line) {
                            let stored =
                                super::store_line_features(&self.deps.store, user, &features).await;
                            self.inventories.set_features(user, &stored);
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
