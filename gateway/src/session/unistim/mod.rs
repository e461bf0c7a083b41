//! One Nortel/Avaya UNIStim phone's session: the reliable-UDP endpoint, the connection dialogue
//! (resume connection, terminal id, MAC / firmware / type queries, inventory lookup), the screen, and
//! the translation between UNIStim messages and the protocol-neutral call logic
//! ([`crate::call::phone::Phone`]).
//!
//! Sans-IO (HOUSE-STYLE §2.3): [`Session::handle_input`] takes the time and one [`Input`] (a raw
//! datagram from the phone, an inventory answer, a user-agent event ...); the driver then **drains
//! [`Session::poll_output`] until it returns `None`** (sending [`Output::Transmit`] datagrams to the
//! phone) and sleeps until [`Session::poll_timeout`], feeding [`Input::Timeout`] when it passes. The
//! RUDP endpoint ([`codecs::unistim::Endpoint`]) lives inside: ACKs, NAKs, retransmission, watchdog
//! keep-alives and loss detection never reach the driver.
//!
//! ```text
//!  AwaitingHello --Resume(seq FFFFFFFF), NAK, Resume--> Identifying --Hardware ID: TID, queries-->
//!  Identifying --IT type (or 2 s)--> AwaitingLookup --Lookup(Some)--> Ready --phone gone--> Closed
//!                                        |  the idle screen once every line has registered (or failed
//!                                        |  to, or after IN_SERVICE_TIMEOUT)
//!                                        |  Lookup(None): "not provisioned" screen
//!                                        +--> Unprovisioned (keys ignored, kept alive)
//!  any state --phone rebooted (seq FFFFFFFF again)--> lines detached, AwaitingHello
//! ```
//!
//! The sequence follows the real Nortel server (CS2K, unistim.md §4.1) where it differs from
//! chan_unistim: the hardware id is asked first, the watchdog armed and a terminal id assigned (each
//! phone its own, not chan_unistim's fixed 0x13), then firmware, hardware id, IT type and product
//! code asked in one Query Basic Manager 0x5C.

mod render;

pub use render::Geometry;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use codecs::unistim::endpoint::{Config as RudpConfig, Endpoint, Event};
use codecs::unistim::msg::Message;
use codecs::unistim::msg::audio::{AudioPhone, AudioSwitch, QueryAudioManager, TransducerPair};
use codecs::unistim::msg::basic::{
    AssignTerminalId, BasicPhone, BasicSwitch, ItType, QueryBasicManager,
};
use codecs::unistim::msg::key::{KeyCode, KeyPhone, LedId};
use codecs::unistim::msg::network::{NetworkPhone, NetworkSwitch, ResetWatchdog};

use crate::call::phone::{
    Key, KeySet, LineFeatures, MediaAction, Phone, PhoneInput, PhoneOutput, Prompt, Show,
};
use crate::call::{CallRef, CallRefs, Codec, Dtmf, LineId, LineIdentity, UaCommand, UaEvent};
use crate::session::sccp::{DeviceConfig, KeyConfig};

/// How long the phone may take to answer the identification queries before it is looked up anyway.
pub const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the idle screen waits for the lines' first registration outcome before it is shown anyway.
pub const IN_SERVICE_TIMEOUT: Duration = Duration::from_secs(3);

/// The first RTP port the phone is told to receive on (chan_unistim's default `rtp_port`); each call
/// of a phone gets the next even port.
pub const PHONE_RTP_BASE: u16 = 10_000;

/// The phone's RTP port for a call: [`PHONE_RTP_BASE`] plus an even offset from the call reference.
pub fn phone_rtp_port(call: CallRef) -> u16 {
    let slot = u16::try_from(call.0 % 2000).unwrap_or(0);
    PHONE_RTP_BASE + slot * 2
}

/// Settings shared by every session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The end-of-dialing silence.
    pub interdigit: Duration,
    /// The reliable-UDP settings (retransmission, watchdog keep-alives).
    pub rudp: RudpConfig,
    /// The title shown on the idle screen.
    pub server_name: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            interdigit: Duration::from_millis(4000),
            rudp: RudpConfig::default(),
            server_name: "Crossbar".to_owned(),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The phone stopped acknowledging (retransmission limit reached).
    PhoneGone,
    /// The phone was told to reset.
    Reset,
    /// The driver is shutting down.
    Shutdown,
}

/// What the session is fed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// A UDP datagram from the phone.
    Datagram(Bytes),
    /// The answer to [`Output::Lookup`]: the device, or `None` when unknown.
    Lookup(Option<Box<DeviceConfig>>),
    /// A line user agent's report.
    Ua(UaEvent),
    /// The answer to [`MediaAction::Allocate`].
    MediaReady {
        /// The call.
        call: CallRef,
        /// The address for our SDP.
        local: SocketAddr,
        /// Where the phone sends RTP (`None`: to the far end, direct mode).
        phone_target: Option<SocketAddr>,
    },
    /// A key from the far end through the relay (RFC 4733).
    RemoteDtmf {
        /// The call.
        call: CallRef,
        /// The key.
        dtmf: Dtmf,
    },
    /// Reset the phone (its configuration changed).
    Reset,
    /// The deadline from [`Session::poll_timeout`] passed.
    Timeout,
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send this datagram to the phone.
    Transmit(Bytes),
    /// Look the phone up in the inventory; answer with [`Input::Lookup`]. An unknown phone should be
    /// recorded as seen.
    Lookup {
        /// Its MAC.
        mac: [u8; 6],
        /// The firmware version it reported (may be empty).
        firmware: String,
        /// The inventory model its answers suggest (`avaya-1140e` ...), if any.
        model_guess: Option<String>,
    },
    /// The device is known: attach its lines to the user agents.
    Registered {
        /// The device name.
        name: String,
        /// Its lines.
        lines: Vec<(LineId, LineIdentity)>,
    },
    /// The phone rebooted: detach its lines (they are attached again after the new lookup).
    Unregistered,
    /// To the line user agents.
    Ua(UaCommand),
    /// Media work for the driver (allocate, relay addresses, DTMF, release).
    Media(MediaAction),
    /// Store a line's changed features.
    Features {
        /// The line.
        line: LineId,
        /// Its features now.
        features: LineFeatures,
    },
    /// The session is over (after sending what came before); detach the lines if registered.
    Close(CloseReason),
}

/// What the phone said about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Identity {
    mac: Option<[u8; 6]>,
    firmware: String,
    it_type: Option<ItType>,
    product_code: String,
    vocoders: Vec<u8>,
}

impl Identity {
    /// The inventory model the answers suggest: the product engineering code names the set
    /// (NTYS05 = 1140E, NTYS03 = 1120E ...), the firmware prefix the family (unistim.md §5.1).
    fn model_guess(&self) -> Option<String> {
        let by_fw = match self.firmware.get(..5) {
            Some("0604D") => Some("nortel-i2004"),
            Some("0621C") => Some("nortel-i2007"),
            Some("0624C") => Some("avaya-1120e"),
            Some("0625C") => Some("avaya-1140e"),
            Some("0627C") => Some("avaya-1150e"),
            Some("0626C") => Some("avaya-1165e"),
            Some("062AC") => Some("avaya-1230"),
            _ => None,
        };
        let by_code = match self.product_code.get(..6) {
            Some("NTYS05") => Some("avaya-1140e"),
            Some("NTYS03") => Some("avaya-1120e"),
            Some("NTYS06") => Some("avaya-1150e"),
            _ => None,
        };
        let by_type = match self.it_type {
            Some(ItType::I2002) => Some("nortel-i2002"),
            Some(ItType::I2004) => Some("nortel-i2004"),
            _ => None,
        };
        // Phase II firmware (0604D) is shared by the i2001/i2002/i2004: the IT type tells the i2002.
        let i2002 = (self.it_type == Some(ItType::I2002)).then_some("nortel-i2002");
        by_code.or(i2002).or(by_fw).or(by_type).map(str::to_owned)
    }
}

struct Ready {
    device: DeviceConfig,
    phone: Phone,
    geometry: Geometry,
    /// The softkey set shown, to map softkey presses.
    keys: KeySet,
    /// The transducer routed to the call stream, if any.
    transducer: Option<TransducerPair>,
    /// Whether the handset is off its cradle.
    handset_up: bool,
    /// The call whose audio stream is open.
    stream: Option<CallRef>,
    /// Lines whose first REGISTER has no outcome yet. The idle screen (the phone's "in service")
    /// waits for them, so a phone that looks ready can be called: until its line is registered a call
    /// to it gets 480 from the registrar.
    registering: Vec<LineId>,
    /// When the idle screen is shown even if `registering` is not empty; `None` once shown.
    in_service_at: Option<Instant>,
}

enum State {
    AwaitingHello,
    Identifying { id: Identity, assigned: bool },
    AwaitingLookup { id: Identity },
    Unprovisioned,
    Ready(Box<Ready>),
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::AwaitingHello => "awaiting Resume Connection",
            Self::Identifying { .. } => "identifying",
            Self::AwaitingLookup { .. } => "awaiting the inventory",
            Self::Unprovisioned => "not provisioned",
            Self::Ready(_) => "ready",
            Self::Closed => "closed",
        }
    }
}

/// A message that was not handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The datagram's RUDP header did not decode.
    #[error("undecodable datagram: {0}")]
    Datagram(String),
    /// A message did not decode (logged once per phone by the driver, ignored).
    #[error("malformed message {address:#04x}/{command:#04x}")]
    Malformed {
        /// Its address byte.
        address: u8,
        /// Its command byte.
        command: u8,
    },
}

/// One phone's session.
pub struct Session {
    config: SessionConfig,
    refs: CallRefs,
    endpoint: Endpoint,
    terminal_id: u32,
    peer: SocketAddr,
    state: State,
    started: Instant,
    unix_at_start: u64,
    now: Instant,
    identify_deadline: Option<Instant>,
    out: VecDeque<Output>,
    errors: Vec<SessionError>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state.name())
            .field("terminal_id", &self.terminal_id)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for a phone at `peer` that will be given `terminal_id`, created at `now` (when the
    /// wall clock read `unix_at_start`). Call references for its calls come from `refs`.
    pub fn new(
        config: SessionConfig,
        refs: CallRefs,
        terminal_id: u32,
        peer: SocketAddr,
        now: Instant,
        unix_at_start: u64,
    ) -> Self {
        let endpoint = Endpoint::new(config.rudp.clone());
        Self {
            config,
            refs,
            endpoint,
            terminal_id,
            peer,
            state: State::AwaitingHello,
            started: now,
            unix_at_start,
            now,
            identify_deadline: None,
            out: VecDeque::new(),
            errors: Vec::new(),
        }
    }

    /// The terminal id this phone is given.
    pub fn terminal_id(&self) -> u32 {
        self.terminal_id
    }

    /// The phone's address (it may change behind NAT: see [`Session::set_peer`]).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The phone now sends from another address (a NAT rebinding recognised by its terminal id).
    pub fn set_peer(&mut self, peer: SocketAddr) {
        self.peer = peer;
    }

    /// True once the inventory knew the phone (and until it reboots or is gone).
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Ready(_))
    }

    /// True for an unknown phone showing the "not provisioned" screen.
    pub fn is_unprovisioned(&self) -> bool {
        matches!(self.state, State::Unprovisioned)
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The state's name, for logs.
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// The device name, once registered.
    pub fn device_name(&self) -> Option<&str> {
        match &self.state {
            State::Ready(r) => Some(&r.device.name),
            _ => None,
        }
    }

    /// The call logic, once registered (for tests and introspection).
    pub fn phone(&self) -> Option<&Phone> {
        match &self.state {
            State::Ready(r) => Some(&r.phone),
            _ => None,
        }
    }

    /// The screen geometry in use, once registered.
    pub fn geometry(&self) -> Option<Geometry> {
        match &self.state {
            State::Ready(r) => Some(r.geometry),
            _ => None,
        }
    }

    /// The device's call references (shared with its user agents).
    pub fn refs(&self) -> CallRefs {
        self.refs.clone()
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Problems met since the last call (malformed messages ...), for the driver to log.
    pub fn take_errors(&mut self) -> Vec<SessionError> {
        std::mem::take(&mut self.errors)
    }

    /// When to feed [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let (phone, in_service) = match &self.state {
            State::Ready(r) => (r.phone.poll_timeout(), r.in_service_at),
            _ => (None, None),
        };
        [
            self.endpoint.poll_timeout(),
            phone,
            self.identify_deadline,
            in_service,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The driver stops: hang up the phone's calls (outputs to drain) and close.
    pub fn shutdown(&mut self) {
        self.close(CloseReason::Shutdown);
    }

    /// Handles one input.
    ///
    /// # Errors
    /// [`SessionError::Datagram`] for a datagram whose header does not decode; nothing changes then.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), SessionError> {
        self.now = now;
        if self.is_closed() {
            return Ok(());
        }
        match input {
            Input::Datagram(bytes) => {
                self.endpoint
                    .handle_datagram(now, &bytes)
                    .map_err(|e| SessionError::Datagram(e.to_string()))?;
            }
            Input::Lookup(device) => self.on_lookup(now, device),
            Input::Ua(event) => {
                if let UaEvent::Registered { line } | UaEvent::RegistrationFailed { line, .. } =
                    &event
                {
                    self.line_registered(*line);
                }
                self.feed_phone(now, PhoneInput::Ua(event));
            }
            Input::MediaReady {
                call,
                local,
                phone_target,
            } => self.feed_phone(
                now,
                PhoneInput::MediaReady {
                    call,
                    local,
                    phone_target,
                },
            ),
            Input::RemoteDtmf { call, dtmf } => {
                self.feed_phone(now, PhoneInput::RemoteDtmf { call, dtmf });
            }
            Input::Reset => {
                self.send(vec![Message::NetworkSwitch(NetworkSwitch::SoftReset(
                    Default::default(),
                ))]);
                self.pump();
                self.close(CloseReason::Reset);
                return Ok(());
            }
            Input::Timeout => {
                self.endpoint.handle_timeout(now);
                if self.identify_deadline.is_some_and(|d| now >= d) {
                    self.identify_deadline = None;
                    self.lookup_now();
                }
                if let State::Ready(r) = &mut self.state {
                    r.phone.handle_timeout(now);
                    if r.in_service_at.is_some_and(|t| now >= t) {
                        r.registering.clear();
                        self.in_service();
                    }
                }
                self.drain_phone();
            }
        }
        self.pump();
        Ok(())
    }

    fn unix_now(&self) -> u64 {
        self.unix_at_start
            .saturating_add(self.now.saturating_duration_since(self.started).as_secs())
    }

    /// Queues messages for the phone (one datagram, split if long).
    fn send(&mut self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        if let Err(e) = self.endpoint.send(self.now, messages) {
            tracing::debug!(error = %e, "messages for the phone dropped");
        }
    }

    /// Moves the endpoint's datagrams and events out, handling events until quiet.
    fn pump(&mut self) {
        loop {
            while let Some(d) = self.endpoint.poll_transmit() {
                self.out.push_back(Output::Transmit(d));
            }
            let Some(event) = self.endpoint.poll_event() else {
                return;
            };
            match event {
                Event::Delivered(messages) => {
                    for m in messages {
                        self.on_message(m);
                    }
                }
                Event::PhoneRebooted => self.on_reboot(),
                Event::PhoneGone => {
                    self.close(CloseReason::PhoneGone);
                    return;
                }
                _ => {}
            }
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        if let State::Ready(r) = &mut self.state {
            r.phone.shutdown();
        }
        self.drain_phone();
        while let Some(d) = self.endpoint.poll_transmit() {
            self.out.push_back(Output::Transmit(d));
        }
        self.state = State::Closed;
        self.out.push_back(Output::Close(reason));
    }

    fn on_reboot(&mut self) {
        let was_ready = matches!(self.state, State::Ready(_));
        if let State::Ready(r) = &mut self.state {
            r.phone.shutdown();
        }
        self.drain_phone();
        if was_ready {
            self.out.push_back(Output::Unregistered);
        }
        tracing::info!(peer = %self.peer, "phone rebooted; initialising again");
        self.identify_deadline = None;
        self.state = State::AwaitingHello;
    }

    fn on_message(&mut self, m: Message) {
        match m {
            Message::NetworkPhone(NetworkPhone::ResumeConnection(_)) => self.on_resume(),
            Message::Malformed {
                address, command, ..
            } => self
                .errors
                .push(SessionError::Malformed { address, command }),
            Message::Unframed { .. } => self.errors.push(SessionError::Malformed {
                address: 0,
                command: 0,
            }),
            Message::BasicPhone(b) => self.on_basic(b),
            Message::AudioPhone(AudioPhone::AttributesInfo(a)) => {
                let vocoders = a.vocoders.to_vec();
                match &mut self.state {
                    State::Identifying { id, .. } | State::AwaitingLookup { id } => {
                        id.vocoders = vocoders;
                    }
                    State::Ready(r) => r.phone.set_codecs(codecs_of(&vocoders)),
                    _ => {}
                }
            }
            Message::DisplayPhone(codecs::unistim::msg::display::DisplayPhone::AttributesInfo(
                a,
            )) => {
                if let State::Ready(r) = &mut self.state
                    && a.number_of_lines() > 0
                {
                    r.geometry.text_lines = a.number_of_lines().min(3);
                    if a.line_width() > 0 {
                        r.geometry.width = a.line_width();
                    }
                    r.geometry.softkeys = a.number_of_softkeys().clamp(1, 4);
                }
            }
            Message::KeyPhone(k) => self.on_key(k),
            // Reports the session has no use for (open stream results, RTCP statistics, handset
            // connected, server lists ...).
            _ => {}
        }
    }

    /// Resume Connection (after the start-up NAK): ask for the hardware id, as CS2K and chan_unistim.
    fn on_resume(&mut self) {
        if !matches!(self.state, State::AwaitingHello) {
            // A resume on a live session without the reset sequence: start over as well.
            self.on_reboot();
        }
        self.state = State::Identifying {
            id: Identity::default(),
            assigned: false,
        };
        self.identify_deadline = Some(self.now + IDENTIFY_TIMEOUT * 3);
        self.send(vec![Message::BasicSwitch(BasicSwitch::QueryBasicManager(
            QueryBasicManager::new(QueryBasicManager::QUERY_HARDWARE_ID),
        ))]);
    }

    fn on_basic(&mut self, b: BasicPhone) {
        let watchdog = self.config.rudp.watchdog_timeout;
        let tid = self.terminal_id;
        let State::Identifying { id, assigned } = &mut self.state else {
            return;
        };
        let mut lookup = false;
        let mut first_hwid = false;
        match b {
            BasicPhone::HardwareId(h) if id.mac.is_none() => {
                id.mac = h.mac();
                first_hwid = id.mac.is_some() && !*assigned;
            }
            BasicPhone::FirmwareVersion(f) => id.firmware = f.version.to_str_lossy().into_owned(),
            BasicPhone::ItType(t) => {
                id.it_type = Some(t.it_type);
                lookup = *assigned && id.mac.is_some();
            }
            BasicPhone::ProductEngineeringCode(p) => {
                id.product_code = p.code.to_str_lossy().into_owned();
            }
            BasicPhone::EthernetAddress(e) if id.mac.is_none() => id.mac = Some(e.mac),
            _ => {}
        }
        if first_hwid {
            *assigned = true;
            // CS2K (startup frames 22-25): arm the watchdog, assign the terminal id, then ask for
            // firmware, hardware id, IT type and product code at once (0x5C); we also ask the audio
            // manager for its vocoders.
            self.send(vec![
                Message::NetworkSwitch(NetworkSwitch::ResetWatchdog(ResetWatchdog::new(watchdog))),
                Message::BasicSwitch(BasicSwitch::AssignTerminalId(AssignTerminalId::new(tid))),
                Message::BasicSwitch(BasicSwitch::QueryBasicManager(QueryBasicManager::new(
                    QueryBasicManager::QUERY_FIRMWARE
                        | QueryBasicManager::QUERY_HARDWARE_ID
                        | QueryBasicManager::QUERY_IT_TYPE
                        | QueryBasicManager::QUERY_PRODUCT_CODE,
                ))),
                Message::AudioSwitch(AudioSwitch::QueryAudioManager(QueryAudioManager::new(
                    0x01, 0,
                ))),
            ]);
            self.identify_deadline = Some(self.now + IDENTIFY_TIMEOUT);
        }
        if lookup {
            self.lookup_now();
        }
    }

    /// Asks the inventory about the phone (once its MAC is known).
    fn lookup_now(&mut self) {
        let State::Identifying { id, .. } = &mut self.state else {
            return;
        };
        let Some(mac) = id.mac else {
            // No hardware id in time: ask again and wait.
            self.identify_deadline = Some(self.now + IDENTIFY_TIMEOUT);
            self.send(vec![Message::BasicSwitch(BasicSwitch::QueryBasicManager(
                QueryBasicManager::new(QueryBasicManager::QUERY_HARDWARE_ID),
            ))]);
            return;
        };
        let id = std::mem::take(id);
        self.identify_deadline = None;
        self.out.push_back(Output::Lookup {
            mac,
            firmware: id.firmware.clone(),
            model_guess: id.model_guess(),
        });
        self.state = State::AwaitingLookup { id };
    }

    fn on_lookup(&mut self, now: Instant, device: Option<Box<DeviceConfig>>) {
        let State::AwaitingLookup { id } = std::mem::replace(&mut self.state, State::Closed) else {
            return;
        };
        let mac = id.mac.unwrap_or_default();
        let unix = self.unix_now();
        let Some(device) = device else {
            let g = Geometry::for_model(id.model_guess().as_deref().unwrap_or("nortel-i2004"));
            let mac_text: String = mac.iter().map(|b| format!("{b:02x}")).collect();
            let mut m = vec![
                render::disconnect(),
                render::led(LedId::MESSAGE_WAITING, false),
                render::led(LedId::HANDSFREE, false),
                render::context(&self.config.server_name),
                render::clear_line(0),
                render::clear_line(1),
                render::clear_line(2),
                render::write_line(g, 0, "Not provisioned"),
            ];
            if g.text_lines >= 2 {
                m.push(render::write_line(g, 1, &format!("MAC {mac_text}")));
            }
            if g.text_lines >= 3 {
                m.push(render::write_line(g, 2, "Ask your administrator"));
            }
            m.push(render::clear_softkeys());
            m.extend(render::clock(unix));
            self.send(m);
            self.state = State::Unprovisioned;
            return;
        };
        let model = id.model_guess().unwrap_or_default();
        let mut geometry = Geometry::for_model(&model);
        geometry.line_keys = geometry
            .line_keys
            .max(u8::try_from(device.keys.len()).unwrap_or(u8::MAX));
        let mut phone = Phone::new(
            device.lines.iter().map(|l| (l.id, l.features.clone())),
            self.refs.clone(),
            self.config.interdigit,
        );
        if !id.vocoders.is_empty() {
            phone.set_codecs(codecs_of(&id.vocoders));
        } else if model_has_g722(&model) {
            phone.set_codecs(vec![Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::G729]);
        } else {
            phone.set_codecs(vec![Codec::Pcmu, Codec::Pcma, Codec::G729]);
        }
        self.out.push_back(Output::Registered {
            name: device.name.clone(),
            lines: device
                .lines
                .iter()
                .map(|l| (l.id, l.identity.clone()))
                .collect(),
        });
        let registering: Vec<LineId> = device.lines.iter().map(|l| l.id).collect();
        let ready = Ready {
            device: *device,
            phone,
            geometry,
            keys: KeySet::OnHook,
            transducer: None,
            handset_up: false,
            stream: None,
            registering,
            in_service_at: Some(now + IN_SERVICE_TIMEOUT),
        };
        self.state = State::Ready(Box::new(ready));
        self.in_service();
    }

    /// A line's first REGISTER has an outcome (registered, or failed: the agent retries on its own).
    fn line_registered(&mut self, line: LineId) {
        if let State::Ready(r) = &mut self.state
            && r.in_service_at.is_some()
        {
            r.registering.retain(|l| *l != line);
            self.in_service();
        }
    }

    /// Shows the idle screen once no line is still registering (unless a call got there first: the
    /// idle screen then follows its end).
    fn in_service(&mut self) {
        let unix = self.unix_now();
        let State::Ready(r) = &mut self.state else {
            return;
        };
        if r.in_service_at.is_none() || !r.registering.is_empty() {
            return;
        }
        r.in_service_at = None;
        if r.phone.calls().next().is_some() {
            return;
        }
        let screen = idle_screen(r, &self.config.server_name, unix);
        self.send(screen);
    }

    fn on_key(&mut self, k: KeyPhone) {
        let State::Ready(r) = &mut self.state else {
            return;
        };
        let mut pre: Vec<Message> = Vec::new();
        let input = match k {
            KeyPhone::OffHook(_) => {
                r.handset_up = true;
                pre.push(render::connect(TransducerPair::HANDSET));
                r.transducer = Some(TransducerPair::HANDSET);
                Some(PhoneInput::OffHook {
                    line: None,
                    call: None,
                })
            }
            KeyPhone::OnHook(_) => {
                r.handset_up = false;
                if r.transducer == Some(TransducerPair::HANDSET) {
                    // Back to the speaker if the call goes on hands-free? No: on-hook ends the call,
                    // as on every desk phone.
                    r.transducer = None;
                }
                Some(PhoneInput::OnHook { call: None })
            }
            KeyPhone::KeyEvent(e) if e.action.0 == 1 => key_input(r, e.key, &mut pre),
            _ => None,
        };
        self.send(pre);
        if let Some(input) = input {
            let now = self.now;
            self.feed_phone(now, input);
        }
    }

    fn feed_phone(&mut self, now: Instant, input: PhoneInput) {
        if let State::Ready(r) = &mut self.state {
            r.phone.handle(now, input);
            self.drain_phone();
        } else if let PhoneInput::Ua(UaEvent::Incoming { call, .. }) = input {
            self.out
                .push_back(Output::Ua(UaCommand::Reject { call, code: 480 }));
        }
    }

    /// Turns the call logic's outputs into UNIStim messages (one datagram per batch) and driver work.
    fn drain_phone(&mut self) {
        let unix = self.unix_now();
        let peer_ip = self.peer.ip();
        let name = self.config.server_name.clone();
        let mut messages = Vec::new();
        loop {
            let mut again = Vec::new();
            let State::Ready(r) = &mut self.state else {
                break;
            };
            while let Some(o) = r.phone.poll_output() {
                match o {
                    PhoneOutput::Ua(c) => self.out.push_back(Output::Ua(c)),
                    PhoneOutput::Features { line, features } => {
                        if let Some(l) = r.device.lines.iter_mut().find(|l| l.id == line) {
                            l.features = features.clone();
                        }
                        self.out.push_back(Output::Features { line, features });
                    }
                    PhoneOutput::Show(s) => show(r, &s, &name, unix, &mut messages),
                    PhoneOutput::Media(m) => match m {
                        MediaAction::Open { call, .. } => {
                            // UNIStim phones receive where we tell them: the port is ours to choose.
                            again.push(PhoneInput::PhoneRtp {
                                call,
                                addr: SocketAddr::new(peer_ip, phone_rtp_port(call)),
                            });
                        }
                        MediaAction::Transmit {
                            call,
                            to,
                            codec,
                            ptime_ms,
                            ..
                        } => {
                            if r.stream.is_some() {
                                messages.push(render::close_stream());
                            }
                            messages.push(render::tone_off());
                            messages.extend(render::open_stream(
                                codec,
                                ptime_ms,
                                phone_rtp_port(call),
                                to,
                            ));
                            let pair = r.transducer.unwrap_or(TransducerPair::HANDSFREE);
                            if r.transducer.is_none() {
                                messages.push(render::led(LedId::HANDSFREE, true));
                                r.transducer = Some(pair);
                            }
                            messages.push(render::connect(pair));
                            r.stream = Some(call);
                        }
                        MediaAction::Stop { call, .. } => {
                            if r.stream == Some(call) {
                                messages.push(render::close_stream());
                                r.stream = None;
                            }
                        }
                        other => self.out.push_back(Output::Media(other)),
                    },
                }
            }
            if again.is_empty() {
                break;
            }
            let now = self.now;
            for input in again {
                r.phone.handle(now, input);
            }
        }
        self.send(messages);
    }
}

/// The idle screen: title, the first line's identity, date and time, line-key labels and icons,
/// the idle softkeys, transducers and LEDs off (chan_unistim `show_main_page`, in our words).
fn idle_screen(r: &Ready, server_name: &str, unix: u64) -> Vec<Message> {
    let g = r.geometry;
    let mut m = vec![
        render::tone_off(),
        render::disconnect(),
        render::led(LedId::HANDSFREE, false),
        render::led(LedId::HEADSET, false),
        render::led(LedId::MUTE, false),
        render::context(server_name),
        render::clear_line(0),
        render::clear_line(1),
        render::clear_line(2),
    ];
    if let Some(first) = r.device.lines.first() {
        let who = if first.identity.display_name.is_empty()
            || first.identity.display_name == first.identity.extension
        {
            first.identity.extension.clone()
        } else {
            format!(
                "{} {}",
                first.identity.extension, first.identity.display_name
            )
        };
        m.push(render::write_line(g, 0, &who));
    }
    let dnd = r.device.lines.iter().any(|l| l.features.dnd);
    let fwd = r
        .device
        .lines
        .first()
        .and_then(|l| l.features.forward_all.clone());
    if g.text_lines >= 2 {
        let status = match (dnd, fwd) {
            (true, _) => render::prompt_text(&Prompt::Dnd),
            (false, Some(to)) => render::prompt_text(&Prompt::ForwardedTo(to)),
            (false, None) => render::prompt_text(&Prompt::Options),
        };
        m.push(render::write_line(g, 1, &status));
    }
    for (i, k) in r
        .device
        .keys
        .iter()
        .enumerate()
        .take(usize::from(g.line_keys))
    {
        let pos = u8::try_from(i).unwrap_or(0);
        match k {
            KeyConfig::Line(line) => {
                let label = r
                    .device
                    .lines
                    .iter()
                    .find(|l| l.id == *line)
                    .map_or_else(String::new, |l| l.label.clone());
                m.push(render::key_label(pos, &label));
                m.push(render::key_icon(pos, crate::call::phone::Lamp::Off));
            }
            KeyConfig::SpeedDial { label, .. } | KeyConfig::Blf { label, .. } => {
                m.push(render::key_label(pos, label));
            }
        }
    }
    m.extend(render::softkey_strip(g, KeySet::OnHook));
    m.extend(render::clock(unix));
    m
}

/// The key position of a line.
fn line_key(r: &Ready, line: LineId) -> Option<u8> {
    r.device
        .keys
        .iter()
        .position(|k| matches!(k, KeyConfig::Line(l) if *l == line))
        .and_then(|p| u8::try_from(p).ok())
}

/// One neutral show output as UNIStim messages.
fn show(r: &mut Ready, s: &Show, server_name: &str, unix: u64, m: &mut Vec<Message>) {
    let g = r.geometry;
    match s {
        Show::State { state, .. } => {
            if let Some(t) = render::timer(*state) {
                m.push(t);
            }
        }
        Show::Tone { tone, .. } => m.extend(render::tone_on(*tone)),
        Show::StopTone { .. } => m.push(render::tone_off()),
        Show::Ringer { ring, .. } => m.extend(render::ringer(*ring)),
        Show::Lamp { line, lamp } => {
            if let Some(pos) = line_key(r, *line) {
                m.push(render::key_icon(pos, *lamp));
            }
        }
        Show::Speaker(on) => {
            if *on {
                if r.transducer.is_none() {
                    r.transducer = Some(TransducerPair::HANDSFREE);
                    m.push(render::connect(TransducerPair::HANDSFREE));
                    m.push(render::led(LedId::HANDSFREE, true));
                }
            } else {
                r.transducer = None;
                r.handset_up = false;
                m.push(render::disconnect());
                m.push(render::led(LedId::HANDSFREE, false));
            }
        }
        Show::Keys { set, .. } => {
            r.keys = *set;
            if *set == KeySet::OnHook && r.phone.calls().next().is_none() {
                // Back to idle: the whole idle screen.
                m.extend(idle_screen(r, server_name, unix));
            } else {
                m.extend(render::softkey_strip(g, *set));
            }
        }
        Show::Prompt { text, .. } | Show::Notify(text) => m.push(render::prompt(g, text)),
        Show::ClearPrompt { .. } => m.push(render::clear_prompt(g)),
        Show::Info { info, .. } => m.extend(render::info(g, info)),
        Show::Dialed { number, .. } => m.push(render::dialed(g, number)),
        Show::ActivateLine(line) => {
            if let Some(l) = r.device.lines.iter().find(|l| l.id == *line) {
                m.push(render::context(&l.label));
            }
        }
        Show::Clock => m.extend(render::clock(unix)),
    }
}

/// A key press as a neutral input (transducer keys also route audio, in `pre`).
fn key_input(r: &mut Ready, key: KeyCode, pre: &mut Vec<Message>) -> Option<PhoneInput> {
    if let Some(digit) = key.dial_char() {
        return Some(PhoneInput::Digit { digit, call: None });
    }
    if let Some(n) = key.softkey() {
        let (k, _) = render::softkeys(r.keys)
            .get(usize::from(n))
            .copied()
            .flatten()?;
        return Some(PhoneInput::Key {
            key: k,
            line: None,
            call: None,
        });
    }
    if let Some(n) = key.programmable() {
        return match r.device.keys.get(usize::from(n))? {
            KeyConfig::Line(line) => Some(PhoneInput::LineKey(*line)),
            KeyConfig::SpeedDial { target, .. } | KeyConfig::Blf { target, .. } => {
                Some(PhoneInput::SpeedDial(target.clone()))
            }
        };
    }
    let busy = r.phone.calls().next().is_some();
    match key {
        KeyCode::HANDSFREE | KeyCode::HEADSET => {
            let pair = if key == KeyCode::HEADSET {
                TransducerPair::HEADSET
            } else {
                TransducerPair::HANDSFREE
            };
            if r.transducer == Some(pair) && !r.handset_up {
                // Pressing the active speaker/headset key again hangs up.
                r.transducer = None;
                return Some(PhoneInput::OnHook { call: None });
            }
            let led = if pair == TransducerPair::HEADSET {
                LedId::HEADSET
            } else {
                LedId::HANDSFREE
            };
            pre.push(render::connect(pair));
            pre.push(render::led(led, true));
            r.transducer = Some(pair);
            if busy && r.phone.active().is_some() {
                // Switching the audio of a call in progress.
                let ringing = r
                    .phone
                    .calls()
                    .any(|(_, _, s)| matches!(s, crate::call::phone::CallState::Ringing { .. }));
                if !ringing {
                    return None;
                }
            }
            Some(PhoneInput::OffHook {
                line: None,
                call: None,
            })
        }
        KeyCode::RELEASE => Some(PhoneInput::Key {
            key: Key::EndCall,
            line: None,
            call: None,
        }),
        KeyCode::HOLD => {
            let held = r
                .phone
                .active()
                .and_then(|c| r.phone.call_state(c))
                .is_some_and(|s| matches!(s, crate::call::phone::CallState::Held));
            let any_held = r
                .phone
                .calls()
                .any(|(_, _, s)| matches!(s, crate::call::phone::CallState::Held));
            Some(PhoneInput::Key {
                key: if held || (r.phone.active().is_none() && any_held) {
                    Key::Resume
                } else {
                    Key::Hold
                },
                line: None,
                call: None,
            })
        }
        KeyCode::MUTE => {
            // Local mute is the phone's own business; nothing to tell the far end.
            None
        }
        _ => None,
    }
}

fn codecs_of(vocoders: &[u8]) -> Vec<Codec> {
    let has: Vec<Codec> = vocoders
        .iter()
        .filter_map(|v| render::codec_of(*v))
        .collect();
    Codec::ALL.into_iter().filter(|c| has.contains(c)).collect()
}

/// Whether a model has the G.722 wideband vocoder (the 1100/1200 series; not the Phase II i200x).
fn model_has_g722(model: &str) -> bool {
    model.starts_with("avaya-11") || model.starts_with("avaya-12")
}

impl Session {
    /// A one-line summary of the session for logs.
    pub fn describe(&self) -> String {
        format!(
            "{} tid={:#x} {}",
            self.peer,
            self.terminal_id,
            self.state.name()
        )
    }
}
