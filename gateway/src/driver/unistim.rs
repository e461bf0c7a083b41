//! The tokio side of UNIStim: one UDP socket on `[unistim] listen` and one task per phone driving its
//! [`Session`] (whose RUDP endpoint handles ACKs, retransmission and watchdogs).
//!
//! Demultiplexing: datagrams are routed by source address; a phone's first datagram must be the
//! reset-sequence hello (Resume Connection, seq 0xFFFFFFFF), anything else from a stranger is dropped
//! (counted, logged once). Several phones behind one NAT address are told apart by their source ports,
//! each gets its own terminal id (unlike chan_unistim, which keys sessions by IP and gives every phone
//! 0x13 — unistim.md §7); a phone whose NAT binding changes is recognised by the terminal id in its
//! payloads and followed to its new address.
//!
//! The line user agents and the media relay are the SCCP driver's ([`LineAgents`], [`MediaPort`]): a
//! UNIStim phone's lines are SIP users exactly like an SCCP phone's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use codecs::unistim::{Datagram, PayloadType, RESET_SEQ};
use provisioning::{Mac, Store, UserId};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::call::phone::MediaAction;
use crate::call::{CallRef, CallRefs, LineId};
use crate::driver::sccp::{
    DeviceEvent, DeviceHandle, LineAgents, MediaLegs, MediaPort, RelayMedia, UaAgents,
    device_config,
};
use crate::session::unistim::{Input, Output, Session, SessionConfig, phone_rtp_port};

/// How many phones may be connected at once.
pub const MAX_PHONES: usize = 65_536;

/// Datagrams queued for one phone's task before more are dropped (RUDP recovers them).
const PHONE_QUEUE: usize = 256;

/// The first terminal id handed out (CS2K's ids were small numbers too: 0xD3, 0x106).
const FIRST_TERMINAL_ID: u32 = 0x100;

/// Everything the UNIStim side needs.
#[derive(Clone)]
pub struct UnistimDeps {
    /// Session settings.
    pub session: SessionConfig,
    /// The inventory.
    pub store: Store,
    /// The line user agents.
    pub agents: Arc<dyn LineAgents>,
    /// The media relay (or direct media).
    pub media: Arc<dyn MediaPort>,
}

impl std::fmt::Debug for UnistimDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnistimDeps")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// `[media] mode = "direct"` for UNIStim phones: the phone's RTP port is ours to choose (Open Audio
/// Stream carries it), so SDP can name the phone itself — unlike SCCP, where the port is known too late.
#[derive(Debug, Default)]
pub struct DirectMedia;

impl MediaPort for DirectMedia {
    fn allocate(&self, device: &DeviceHandle, call: CallRef) -> std::io::Result<MediaLegs> {
        Ok(MediaLegs {
            sdp: SocketAddr::new(device.peer().ip(), phone_rtp_port(call)),
            phone_target: None,
        })
    }

    fn handle(&self, _: &str, _: MediaAction) {}
}

/// The UNIStim side's dependencies from the configuration and the running line user agents: the
/// media relay on `[media] rtp_ports` bound where `[unistim] listen` is (direct media in direct mode).
pub fn deps(
    config: &crate::Config,
    store: Store,
    agent: crate::ua::Agent,
    sdp_ip: std::net::IpAddr,
) -> UnistimDeps {
    let media: Arc<dyn MediaPort> =
        match crate::media::MediaRelay::for_config(&config.media, config.unistim.listen.ip()) {
            Some(relay) => Arc::new(RelayMedia::new(relay, sdp_ip)),
            None => Arc::new(DirectMedia),
        };
    UnistimDeps {
        session: SessionConfig {
            interdigit: config.dialplan.interdigit,
            ..SessionConfig::default()
        },
        store,
        agents: Arc::new(UaAgents::new(agent)),
        media,
    }
}

/// What the receive loop hands a phone's task.
#[derive(Debug)]
enum FromSocket {
    Datagram(Bytes),
    /// The phone now sends from here (NAT rebinding).
    Moved(SocketAddr),
}

struct Route {
    id: u64,
    terminal_id: u32,
    tx: mpsc::Sender<FromSocket>,
}

/// The sessions by source address and terminal id, and the registered devices by name.
#[derive(Default)]
struct Router {
    by_addr: HashMap<SocketAddr, Route>,
    by_tid: HashMap<u32, SocketAddr>,
}

#[derive(Default)]
struct Registry {
    router: Mutex<Router>,
    devices: Mutex<HashMap<String, (u64, DeviceHandle)>>,
}

impl Registry {
    fn remove_route(&self, id: u64) {
        if let Ok(mut r) = self.router.lock() {
            let addr = r
                .by_addr
                .iter()
                .find(|(_, route)| route.id == id)
                .map(|(a, route)| (*a, route.terminal_id));
            if let Some((addr, tid)) = addr {
                r.by_addr.remove(&addr);
                r.by_tid.remove(&tid);
            }
        }
    }

    fn insert_device(&self, id: u64, handle: DeviceHandle) {
        if let Ok(mut d) = self.devices.lock() {
            let name = handle.name().to_owned();
            if let Some((_, old)) = d.insert(name, (id, handle)) {
                // The same phone under a new session (new address): the old session is closed by
                // its own watchdog; tell it now.
                old.send(DeviceEvent::Reset);
            }
        }
    }

    fn remove_device(&self, name: &str, id: u64) -> bool {
        let Ok(mut d) = self.devices.lock() else {
            return false;
        };
        if d.get(name).is_some_and(|(i, _)| *i == id) {
            d.remove(name);
            true
        } else {
            false
        }
    }

    fn handle(&self, name: &str) -> Option<DeviceHandle> {
        self.devices
            .lock()
            .ok()
            .and_then(|d| d.get(name).map(|(_, h)| h.clone()))
    }
}

/// The running UNIStim side, for tests and status.
#[derive(Clone)]
pub struct UnistimServer {
    registry: Arc<Registry>,
    local: SocketAddr,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for UnistimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnistimServer")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl UnistimServer {
    /// The socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Phones with a session (known or not).
    pub fn sessions(&self) -> usize {
        self.registry.router.lock().map_or(0, |r| r.by_addr.len())
    }

    /// Phones registered (known to the inventory, lines attached).
    pub fn registered(&self) -> usize {
        self.registry.devices.lock().map_or(0, |d| d.len())
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

    /// Datagrams dropped: from strangers that did not open with a hello, or beyond a phone's queue.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the UNIStim side on a bound socket: the receive loop, tracked by `tasks`, ending (with every
/// phone's task) when `shutdown` is cancelled.
pub fn start(
    socket: UdpSocket,
    deps: UnistimDeps,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> std::io::Result<UnistimServer> {
    let local = socket.local_addr()?;
    let server = UnistimServer {
        registry: Arc::new(Registry::default()),
        local,
        dropped: Arc::new(AtomicU64::new(0)),
    };
    tasks.spawn(receive_loop(
        Arc::new(socket),
        Arc::new(deps),
        server.clone(),
        tasks.clone(),
        shutdown,
    ));
    Ok(server)
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    deps: Arc<UnistimDeps>,
    server: UnistimServer,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    let local = server.local;
    let ids = AtomicU64::new(1);
    let tids = AtomicU32::new(FIRST_TERMINAL_ID);
    let mut buf = vec![0u8; 2048];
    let mut strangers = 0u64;
    loop {
        let (n, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port unreachable from a phone that went away shows up here on some systems.
                    tracing::debug!(error = %e, "UNIStim receive failed");
                    continue;
                }
            },
        };
        let bytes = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
        let routed = {
            let Ok(router) = server.registry.router.lock() else {
                return;
            };
            match router.by_addr.get(&peer) {
                Some(route) => {
                    if route
                        .tx
                        .try_send(FromSocket::Datagram(bytes.clone()))
                        .is_err()
                    {
                        server.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    true
                }
                None => false,
            }
        };
        if routed {
            // The phone's task was just woken onto this worker: let it run now rather than after
            // the next datagrams (up to the coop budget) have been read and routed.
            tokio::task::yield_now().await;
            continue;
        }
        let Ok(mut router) = server.registry.router.lock() else {
            return;
        };
        let header = Datagram::decode(&bytes).ok().map(|d| d.header);
        // A known terminal id from a new address: the phone's NAT binding changed.
        let moved = header
            .filter(|h| h.payload_type() == Some(PayloadType::UNISTIM_WITH_TERMINAL_ID))
            .and_then(|h| h.terminal_id())
            .and_then(|tid| router.by_tid.get(&tid).copied().map(|old| (tid, old)));
        if let Some((tid, old)) = moved
            && let Some(route) = router.by_addr.remove(&old)
        {
            tracing::info!(%old, new = %peer, tid, "phone moved (NAT rebinding)");
            let _ = route.tx.try_send(FromSocket::Moved(peer));
            let _ = route.tx.try_send(FromSocket::Datagram(bytes));
            router.by_tid.insert(tid, peer);
            router.by_addr.insert(peer, route);
            continue;
        }
        let hello = header.is_some_and(|h| h.is_payload() && h.seq() == RESET_SEQ);
        if !hello || router.by_addr.len() >= MAX_PHONES {
            if strangers == 0 {
                tracing::warn!(%peer, len = n, "datagram from an unknown phone that is not a hello: dropped");
            }
            strangers += 1;
            server.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let tid = tids.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(PHONE_QUEUE);
        let _ = tx.try_send(FromSocket::Datagram(bytes));
        router.by_addr.insert(
            peer,
            Route {
                id,
                terminal_id: tid,
                tx,
            },
        );
        router.by_tid.insert(tid, peer);
        drop(router);
        let phone = PhoneTask {
            deps: Arc::clone(&deps),
            registry: Arc::clone(&server.registry),
            socket: Arc::clone(&socket),
            id,
            local,
            shutdown: shutdown.clone(),
        };
        tasks.spawn(
            async move {
                phone.run(rx, tid, peer).await;
            }
            .instrument(tracing::info_span!("unistim", %peer, tid)),
        );
    }
}

struct PhoneTask {
    deps: Arc<UnistimDeps>,
    registry: Arc<Registry>,
    socket: Arc<UdpSocket>,
    id: u64,
    local: SocketAddr,
    shutdown: CancellationToken,
}

struct Live {
    session: Session,
    peer: SocketAddr,
    handle: Option<DeviceHandle>,
    lines: Vec<(LineId, UserId)>,
    tx: mpsc::UnboundedSender<DeviceEvent>,
    malformed: u64,
    closed: bool,
}

impl PhoneTask {
    async fn run(self, mut datagrams: mpsc::Receiver<FromSocket>, tid: u32, peer: SocketAddr) {
        let refs = CallRefs::new();
        let session = Session::new(
            self.deps.session.clone(),
            refs,
            tid,
            peer,
            Instant::now().into_std(),
            super::unix_now(),
        );
        let (tx, mut events) = mpsc::unbounded_channel();
        let mut live = Live {
            session,
            peer,
            handle: None,
            lines: Vec::new(),
            tx,
            malformed: 0,
            closed: false,
        };
        while !live.closed {
            let deadline = live.session.poll_timeout().map_or_else(
                || Instant::now() + Duration::from_secs(3600),
                Instant::from_std,
            );
            let input = tokio::select! {
                () = self.shutdown.cancelled() => {
                    live.session.shutdown();
                    self.drain(&mut live).await;
                    break;
                }
                () = tokio::time::sleep_until(deadline) => Input::Timeout,
                event = events.recv() => match event {
                    Some(DeviceEvent::Ua(e)) => Input::Ua(e),
                    Some(DeviceEvent::RemoteDtmf { call, dtmf }) => Input::RemoteDtmf { call, dtmf },
                    Some(DeviceEvent::Reset) => Input::Reset,
                    None => continue,
                },
                d = datagrams.recv() => match d {
                    Some(FromSocket::Datagram(b)) => Input::Datagram(b),
                    Some(FromSocket::Moved(addr)) => {
                        live.peer = addr;
                        live.session.set_peer(addr);
                        continue;
                    }
                    None => break,
                },
            };
            self.feed(&mut live, input).await;
        }
        if live.malformed > 1 {
            tracing::warn!(
                count = live.malformed,
                "malformed UNIStim messages ignored in all"
            );
        }
        self.registry.remove_route(self.id);
        self.unregister(&mut live);
    }

    fn unregister(&self, live: &mut Live) {
        if let Some(handle) = live.handle.take()
            && self.registry.remove_device(handle.name(), self.id)
        {
            self.deps.agents.detach(handle.name());
            tracing::info!(device = handle.name(), "unregistered");
        }
    }

    async fn feed(&self, live: &mut Live, input: Input) {
        if let Err(e) = live.session.handle_input(Instant::now().into_std(), input) {
            if live.malformed == 0 {
                tracing::warn!(peer = %live.peer, error = %e, "bad UNIStim datagram ignored");
            }
            live.malformed += 1;
        }
        self.drain(live).await;
    }

    async fn drain(&self, live: &mut Live) {
        loop {
            for e in live.session.take_errors() {
                if live.malformed == 0 {
                    tracing::warn!(peer = %live.peer, error = %e, "malformed UNIStim message ignored");
                }
                live.malformed += 1;
            }
            let mut pending = Vec::new();
            while let Some(output) = live.session.poll_output() {
                match output {
                    Output::Transmit(bytes) => {
                        if let Err(e) = self.socket.send_to(&bytes, live.peer).await {
                            tracing::debug!(error = %e, "UNIStim send failed");
                        }
                    }
                    Output::Lookup {
                        mac,
                        firmware,
                        model_guess,
                    } => {
                        let mac = Mac::from_octets(mac);
                        let found = match device_config(&self.deps.store, &mac).await {
                            Ok(found) => found,
                            Err(e) => {
                                tracing::warn!(%mac, error = %e, "inventory lookup failed");
                                None
                            }
                        };
                        if found.is_none() {
                            record_seen(&self.deps.store, mac, model_guess, live.peer, &firmware)
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
                        let handle = DeviceHandle::new(
                            &name,
                            live.peer,
                            self.local_for(live.peer),
                            live.tx.clone(),
                        );
                        self.registry.insert_device(self.id, handle.clone());
                        self.deps
                            .agents
                            .attach(handle.clone(), lines, live.session.refs());
                        tracing::info!(device = %name, tid = live.session.terminal_id(), "registered");
                        live.handle = Some(handle);
                    }
                    Output::Unregistered => self.unregister(live),
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
                            super::store_line_features(&self.deps.store, user, &features).await;
                        }
                    }
                    Output::Close(reason) => {
                        tracing::info!(?reason, "UNIStim session closed");
                        live.closed = true;
                    }
                }
            }
            if pending.is_empty() {
                return;
            }
            for input in pending {
                if let Err(e) = live.session.handle_input(Instant::now().into_std(), input) {
                    tracing::debug!(error = %e, "input ignored");
                }
            }
        }
    }

    /// Our address as the phone reaches it: the socket's, or (bound to the wildcard) the address
    /// that routes to the phone.
    fn local_for(&self, peer: SocketAddr) -> SocketAddr {
        if !self.local.ip().is_unspecified() {
            return self.local;
        }
        let probe = std::net::UdpSocket::bind(SocketAddr::new(self.local.ip(), 0))
            .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()));
        match probe {
            Ok(a) => SocketAddr::new(a.ip(), self.local.port()),
            Err(_) => self.local,
        }
    }
}

/// Records a phone that is not in the inventory, for `crossbar devices --unknown`.
async fn record_seen(
    store: &Store,
    mac: Mac,
    model_guess: Option<String>,
    peer: SocketAddr,
    firmware: &str,
) {
    tracing::info!(%mac, %peer, firmware, "unknown UNIStim phone: not provisioned");
    let seen = provisioning::store::SeenDevice {
        mac,
        model_guess,
        protocol: Some(provisioning::Protocol::Unistim),
        address: Some(peer.to_string()),
        source: provisioning::store::SeenVia::Unistim,
        user_agent: (!firmware.is_empty()).then(|| firmware.to_owned()),
    };
    let now = i64::try_from(super::unix_now()).unwrap_or(i64::MAX);
    if let Err(e) = store.record_seen(&seen, now).await {
        tracing::warn!(%mac, error = %e, "recording the unknown phone failed");
    }
}
