//! What the SCCP side needs from the rest of the gateway, as traits ([`LineAgents`], [`MediaPort`])
//! with their implementations over the line user agents ([`UaAgents`]) and the media relay
//! ([`RelayMedia`]), and the device mailbox ([`DeviceHandle`]) both use to reach a phone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use provisioning::Store;
use tokio::sync::mpsc;

use crate::call::phone::MediaAction;
use crate::call::{CallRef, CallRefs, Codec, Dtmf, LineId, LineIdentity, UaCommand, UaEvent};
use crate::session::sccp::SessionConfig;

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
    pub(super) name: Arc<str>,
    pub(super) peer: SocketAddr,
    pub(super) local: SocketAddr,
    pub(super) tx: mpsc::UnboundedSender<DeviceEvent>,
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
    /// The device's codecs, preferred first, for agreeing incoming offers (default: ignored).
    fn set_codecs(&self, device: &str, codecs: Vec<Codec>) {
        let _ = (device, codecs);
    }
}

/// Where RTP goes for a call: the answer to an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLegs {
    /// The address for our SDP: the relay's SIP-side port; port 0 with no `phone_target` is direct
    /// mode (the phone's own address, known once its receive channel is open, goes in the SDP).
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

/// What a device's forwarding task carries to its user agent.
#[derive(Debug)]
enum ToUa {
    Command(UaCommand),
    Codecs(Vec<Codec>),
}

#[derive(Debug)]
struct Attached {
    commands: mpsc::UnboundedSender<ToUa>,
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
        let (commands, mut rx) = mpsc::unbounded_channel::<ToUa>();
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
                        Some(ToUa::Command(c)) => ua.send(c),
                        Some(ToUa::Codecs(c)) => ua.set_codecs(c),
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
            let _ = a.commands.send(ToUa::Command(command));
        }
    }

    fn set_codecs(&self, device: &str, codecs: Vec<Codec>) {
        if let Ok(devices) = self.devices.lock()
            && let Some(a) = devices.get(device)
        {
            let _ = a.commands.send(ToUa::Codecs(codecs));
        }
    }

    fn detach(&self, device: &str) {
        if let Ok(mut devices) = self.devices.lock() {
            // Dropping the sender ends the forwarding task, which detaches the device's lines.
            devices.remove(device);
        }
    }
}

/// `[media] mode = "direct"`: no relay; the phone and the far end exchange RTP themselves. The
/// allocation answers "direct" (an SDP address of port 0, no phone target): the call logic then opens
/// the phone's receive channel before the SDP must go out and puts the phone's own RTP address (from
/// OpenReceiveChannelAck) in it, and StartMediaTransmission goes to the far end's SDP address.
#[derive(Debug, Default)]
pub struct DirectMedia;

impl MediaPort for DirectMedia {
    fn allocate(&self, _: &DeviceHandle, _: CallRef) -> std::io::Result<MediaLegs> {
        Ok(MediaLegs {
            sdp: SocketAddr::from(([0, 0, 0, 0], 0)),
            phone_target: None,
        })
    }

    fn handle(&self, _: &str, _: MediaAction) {}
}

/// Media that can never be allocated: every call fails with 503 and the phone plays reorder.
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
    /// How often the store is asked for devices to reset ([`RESET_POLL`](super::RESET_POLL)).
    pub reset_poll: Duration,
    /// The other phone drivers (UNIStim) a reset request is passed to when the device is not an SCCP
    /// phone registered here: the reset queue is taken once, by this driver's poller, for every driver.
    pub also_reset: Vec<ResetTarget>,
}

/// Resets the registered device of this name if a driver has it; true if it did.
pub type ResetTarget = Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl std::fmt::Debug for SccpDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SccpDeps")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}
