//! The task behind each [`super::UnistimPhone`]: one UDP socket for the phone's life, one reliable-UDP
//! [`Link`] per connection, driven like the 1140E of the startup capture (`docs/protocols/unistim.md`
//! §4.1): hello, the answers to the server's queries (hardware id, firmware, IT type, product code,
//! startup reason, Ethernet address, server list, display/key/audio attributes), the terminal id, the
//! watchdog, then whatever the server paints and plays.
//!
//! ```text
//! hello ──ACK──▶ Up ──Assign Terminal ID──▶ Registered (watchdog armed by each Reset Watchdog)
//! any ── link lost / watchdog expired / Soft or Hard Reset / server reset ──▶ hello again after jitter
//! ```
//! The phone answers each query with one message per datagram, as the captured phone does. Keys go out
//! as Key Events (depressed only; no key-release events unless asked). Open Audio Stream binds the
//! port the server chose for the phone (the kernel's if that one is taken, counted by the far end's
//! latching) and sends G.711 RTP with the transmit vocoder's payload type.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use codecs::unistim::msg::audio::{
    AudioAttributesInfo, AudioPhone, AudioSwitch, OpenAudioStreamReport, StreamResult,
};
use codecs::unistim::msg::basic::{
    BasicPhone, BasicSwitch, EthernetAddress, FirmwareVersion, HardwareId, ItTypeReport,
    ProductEngineeringCode, QueryBasicManager, StartupReason,
};
use codecs::unistim::msg::display::{DisplayAttributesInfo, DisplayPhone, DisplaySwitch};
use codecs::unistim::msg::key::{KeyAttributesInfo, KeyEvent, KeyPhone, KeySwitch};
use codecs::unistim::msg::network::{
    NetworkPhone, NetworkSwitch, ServerEntry, ServerInformationReport,
};
use codecs::unistim::{Empty, Message, Text};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::link::{Link, LinkConfig, LinkEvent};
use super::model::UnistimSpec;
use super::phone::{Key, Shared, UCommand, UnistimEvent};
use super::screen::ToneKind;
use crate::phonesim::media::Leg;
use crate::phonesim::phone::PhoneConfig;
use crate::phonesim::stats::Stats;

/// A small xorshift generator for loss, jitter and SSRCs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        let ms = max.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { self.next() % ms })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingDialTone,
    AwaitingProgress,
    AwaitingAudio,
    Talking,
}

#[derive(Debug)]
struct Outgoing {
    number: String,
    hold: Duration,
    phase: Phase,
    deadline: Instant,
    last_digit_at: Instant,
}

struct Session {
    spec: Arc<UnistimSpec>,
    config: Arc<PhoneConfig>,
    shared: Arc<Shared>,
    stats: Arc<Stats>,
    socket: UdpSocket,
    local: SocketAddr,
    rng: Rng,
    link: Link,
    registered: bool,
    off_hook: bool,
    /// The watchdog: the link is considered lost when it passes without a Reset Watchdog.
    watchdog: Option<Instant>,
    /// A datagram held back to go out after the next one (injected reordering).
    held: Option<Bytes>,
    leg: Option<Leg>,
    answer_at: Option<Instant>,
    outgoing: Option<Outgoing>,
    /// Go silent until then (a dropped connection), then hello again.
    silent_until: Option<Instant>,
    logged_malformed: bool,
}

pub(crate) async fn run(
    spec: Arc<UnistimSpec>,
    config: Arc<PhoneConfig>,
    source: Option<IpAddr>,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<UCommand>,
) {
    let stats = config.stats.clone();
    let seed = spec.mac.iter().fold(0x9e37_79b9_7f4a_7c15u64, |a, b| {
        a.rotate_left(8) ^ u64::from(*b)
    }) ^ u64::from(std::process::id());
    let bind = SocketAddr::new(
        source.unwrap_or_else(|| {
            if config.server.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            }
        }),
        0,
    );
    let socket = loop {
        match UdpSocket::bind(bind).await {
            Ok(s) if s.connect(config.server).await.is_ok() => break s,
            Ok(_) | Err(_) => {
                Stats::add(&stats.connect_failures);
                tokio::select! {
                    c = commands.recv() => if matches!(c, None | Some(UCommand::Stop)) { return },
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    };
    let local = socket.local_addr().unwrap_or(bind);
    shared.lock().local = Some(local);
    let now = Instant::now();
    let mut s = Session {
        link: Link::new(LinkConfig::default(), now.into_std()),
        spec,
        config,
        shared,
        stats,
        socket,
        local,
        rng: Rng(seed | 1),
        registered: false,
        off_hook: false,
        watchdog: None,
        held: None,
        leg: None,
        answer_at: None,
        outgoing: None,
        silent_until: None,
        logged_malformed: false,
    };
    s.hello_sent();
    s.run(&mut commands).await;
}

impl Session {
    async fn run(&mut self, commands: &mut mpsc::UnboundedReceiver<UCommand>) {
        let mut buf = vec![0u8; 2048];
        loop {
            self.flush().await;
            self.publish_idle();
            let deadline = self.next_deadline();
            tokio::select! {
                r = self.socket.recv(&mut buf) => {
                    if let Ok(n) = r
                        && let Some(bytes) = buf.get(..n)
                    {
                        let bytes = Bytes::copy_from_slice(bytes);
                        self.on_datagram(bytes).await;
                    }
                }
                c = commands.recv() => match c {
                    None => return,
                    Some(UCommand::Stop) => {
                        if self.link.is_up() {
                            let now = Instant::now().into_std();
                            self.link.send(now, &[Message::from(NetworkPhone::SuspendConnection(Empty::default()))]);
                            self.flush().await;
                        }
                        self.close();
                        return;
                    }
                    Some(c) => self.on_command(c).await,
                },
                () = sleep_until(deadline) => self.on_timers().await,
            }
        }
    }

    /// Whether a load run may pair this phone with another now (see [`super::UnistimPhone::is_idle`]).
    fn publish_idle(&self) {
        let idle = !self.off_hook
            && self.outgoing.is_none()
            && self.leg.is_none()
            && self.answer_at.is_none()
            && {
                // In service: the terminal id alone is not enough, the server paints the idle screen
                // (its softkeys) once the phone can be called (Crossbar: once its lines registered).
                let o = self.shared.lock();
                o.registered
                    && !o.screen.ringing
                    && o.screen.softkeys.iter().any(|k| !k.trim().is_empty())
            };
        self.shared
            .idle
            .store(idle, std::sync::atomic::Ordering::Relaxed);
    }

    fn hello_sent(&mut self) {
        Stats::add(&self.stats.connects);
        self.shared.push(UnistimEvent::Hello { local: self.local });
    }

    /// Sends what the link has queued, with the injected loss and reordering.
    async fn flush(&mut self) {
        while let Some(d) = self.link.poll_transmit() {
            if self.silent_until.is_some() {
                continue;
            }
            self.shared.record(true, &d);
            if self.rng.chance(self.config.loss) {
                Stats::add(&self.stats.injected_losses);
                continue;
            }
            if self.held.is_none() && self.rng.chance(self.config.reorder) {
                Stats::add(&self.stats.injected_reorders);
                self.held = Some(d);
                continue;
            }
            let _ = self.socket.send(&d).await;
            if let Some(h) = self.held.take() {
                let _ = self.socket.send(&h).await;
            }
        }
        if let Some(h) = self.held.take() {
            let _ = self.socket.send(&h).await;
        }
        self.drain_events().await;
    }

    async fn drain_events(&mut self) {
        while let Some(e) = self.link.poll_event() {
            match e {
                LinkEvent::Up => self.shared.push(UnistimEvent::LinkUp),
                LinkEvent::Delivered(messages) => {
                    for m in messages {
                        self.on_message(m).await;
                    }
                }
                LinkEvent::ServerReset | LinkEvent::Lost => self.reconnect(Duration::ZERO),
            }
        }
        // Answers queued by the messages go out now.
        self.shared
            .in_flight
            .store(self.link.in_flight(), std::sync::atomic::Ordering::Relaxed);
        while let Some(d) = self.link.poll_transmit() {
            if self.silent_until.is_some() {
                continue;
            }
            self.shared.record(true, &d);
            if self.rng.chance(self.config.loss) {
                Stats::add(&self.stats.injected_losses);
                continue;
            }
            let _ = self.socket.send(&d).await;
        }
    }

    async fn on_datagram(&mut self, bytes: Bytes) {
        if self.silent_until.is_some() {
            return;
        }
        self.shared.record(false, &bytes);
        if self.rng.chance(self.config.loss) {
            Stats::add(&self.stats.injected_losses);
            return;
        }
        let before = self.link.retransmitted;
        if !self.link.handle_datagram(Instant::now().into_std(), &bytes) {
            self.malformed(0, 0);
        }
        self.count_retransmits(before);
    }

    fn count_retransmits(&self, before: u64) {
        let n = self.link.retransmitted.saturating_sub(before);
        if n > 0 {
            self.stats
                .retransmits
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn malformed(&mut self, address: u8, command: u8) {
        Stats::add(&self.stats.malformed);
        if !self.logged_malformed {
            self.logged_malformed = true;
            tracing::warn!(mac = %self.spec.mac_hex(), server = %self.config.server, address, command, "malformed UNIStim datagram or message");
        }
        self.shared
            .push(UnistimEvent::Malformed { address, command });
    }

    fn next_deadline(&self) -> Instant {
        [
            self.link.poll_timeout().map(Instant::from_std),
            self.watchdog,
            self.answer_at,
            self.outgoing.as_ref().map(|o| o.deadline),
            self.silent_until,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    /// Leaves the current connection: counters and the screen's call state back to idle.
    fn close(&mut self) {
        if self.registered {
            self.registered = false;
            Stats::sub(&self.stats.registered);
        }
        if let Some(out) = self.outgoing.take() {
            self.call_failed(&out, "link lost");
        }
        self.leg = None;
        self.watchdog = None;
        self.answer_at = None;
        self.off_hook = false;
        self.shared.lock().registered = false;
        Stats::add(&self.stats.disconnects);
    }

    /// Starts over: a new link (hello) after `after`. The set shows what the i2050's log calls
    /// "Recovering: Server unreachable" (unistim.md §9.3) until the server paints again.
    fn reconnect(&mut self, after: Duration) {
        self.close();
        {
            let model = self.spec.model;
            let mut o = self.shared.lock();
            o.screen = super::screen::Screen::new(model.display_lines, model.softkeys);
            if let Some(l) = o.screen.lines.first_mut() {
                l.push_str("Server unreachable");
            }
        }
        self.shared.push(UnistimEvent::Lost);
        let now = Instant::now();
        if after.is_zero() {
            self.link = Link::new(LinkConfig::default(), now.into_std());
            self.hello_sent();
        } else {
            self.silent_until = Some(now + after);
            // Keep the old link from sending meanwhile.
            self.link = Link::new(LinkConfig::default(), (now + after).into_std());
            while self.link.poll_transmit().is_some() {}
        }
    }

    async fn on_timers(&mut self) {
        let now = Instant::now();
        if self.silent_until.is_some_and(|t| t <= now) {
            self.silent_until = None;
            self.link = Link::new(LinkConfig::default(), now.into_std());
            self.hello_sent();
        }
        if self.watchdog.is_some_and(|t| t <= now) {
            Stats::add(&self.stats.watchdog_expiries);
            let jitter = self.rng.jitter(self.config.reconnect_jitter);
            self.reconnect(jitter);
            return;
        }
        let before = self.link.retransmitted;
        self.link.handle_timeout(now.into_std());
        self.count_retransmits(before);
        if self.answer_at.is_some_and(|t| t <= now) {
            self.answer_at = None;
            self.answer().await;
        }
        if let Some(out) = &mut self.outgoing
            && out.deadline <= now
        {
            match out.phase {
                // No dial tone from this server: dial anyway.
                Phase::AwaitingDialTone => self.dial_out(),
                Phase::Talking => {
                    self.outgoing = None;
                    self.hang_up();
                }
                Phase::AwaitingProgress | Phase::AwaitingAudio => {
                    if let Some(out) = self.outgoing.take() {
                        self.call_failed(&out, "setup timeout");
                    }
                    self.hang_up();
                }
            }
        }
    }

    /// Counts a placed call that failed and says which, how far it got and why (`PHONESIM_LOG=warn`).
    fn call_failed(&self, out: &Outgoing, why: &str) {
        Stats::add(&self.stats.calls_failed);
        tracing::warn!(
            mac = %self.spec.mac_hex(),
            number = %out.number,
            phase = ?out.phase,
            since_last_digit_ms = out.last_digit_at.elapsed().as_millis(),
            "placed call failed: {why}"
        );
    }

    fn send(&mut self, m: impl Into<Message>) {
        self.link.send(Instant::now().into_std(), &[m.into()]);
    }

    fn press(&mut self, key: Key) {
        match key {
            Key::Press(code) => self.send(KeyPhone::KeyEvent(KeyEvent::pressed(code))),
            Key::OffHook => {
                self.off_hook = true;
                self.send(KeyPhone::OffHook(Empty::default()));
            }
            Key::OnHook => {
                self.off_hook = false;
                self.send(KeyPhone::OnHook(Empty::default()));
            }
        }
    }

    fn hang_up(&mut self) {
        self.press(Key::OnHook);
    }

    async fn answer(&mut self) {
        if self.shared.lock().screen.ringing {
            self.press(Key::OffHook);
            Stats::add(&self.stats.calls_answered);
        } else {
            tracing::debug!(mac = %self.spec.mac_hex(), "not answered: the ringer stopped");
        }
    }

    fn dial_out(&mut self) {
        let Some(out) = &mut self.outgoing else {
            return;
        };
        let number = format!("{}#", out.number);
        out.phase = Phase::AwaitingProgress;
        out.deadline = Instant::now() + self.config.setup_timeout;
        for c in number.chars() {
            if let Some(k) = super::phone::dial_key(c) {
                self.press(Key::Press(k));
            }
        }
        if let Some(out) = &mut self.outgoing {
            out.last_digit_at = Instant::now();
        }
    }

    fn progressed(&mut self) {
        if let Some(out) = &mut self.outgoing
            && out.phase == Phase::AwaitingProgress
        {
            let latency = out.last_digit_at.elapsed();
            out.phase = Phase::AwaitingAudio;
            self.stats.record_latency(latency);
            Stats::add(&self.stats.calls_progressed);
            self.shared.push(UnistimEvent::SetupLatency(latency));
        }
    }

    async fn on_command(&mut self, c: UCommand) {
        match c {
            UCommand::Keys(keys) => keys.into_iter().for_each(|k| self.press(k)),
            UCommand::Answer => self.answer().await,
            UCommand::Place { number, hold } => {
                Stats::add(&self.stats.calls_attempted);
                if self.outgoing.is_some() || !self.registered || self.off_hook {
                    Stats::add(&self.stats.calls_failed);
                    tracing::warn!(
                        mac = %self.spec.mac_hex(),
                        number,
                        busy = self.outgoing.is_some(),
                        registered = self.registered,
                        off_hook = self.off_hook,
                        "call not placed: the phone is not free"
                    );
                    return;
                }
                let now = Instant::now();
                self.outgoing = Some(Outgoing {
                    number,
                    hold,
                    phase: Phase::AwaitingDialTone,
                    deadline: now + Duration::from_secs(1),
                    last_digit_at: now,
                });
                self.press(Key::OffHook);
            }
            UCommand::Drop { reconnect_after } => {
                self.reconnect(reconnect_after.max(Duration::from_millis(1)))
            }
            UCommand::Stop => {}
        }
    }

    fn apply_to_screen(&mut self, m: &Message) {
        let changed = self.shared.lock().screen.apply(m);
        if changed {
            self.shared.push(UnistimEvent::Screen);
            if !self.shared.record {
                self.shared.changed.notify_waiters();
            }
        }
    }

    async fn on_message(&mut self, m: Message) {
        self.apply_to_screen(&m);
        match m {
            Message::BasicSwitch(b) => self.on_basic(b),
            Message::Unknown {
                address: 0x1a,
                command,
                ..
            } => {
                // Basic 0x0F / 0x10, seen in the startup capture but not catalogued: the phone answered
                // `9A 10 81 01 01` and its Ethernet address (frames 40-46).
                self.shared.push(UnistimEvent::Queried {
                    address: 0x1a,
                    command,
                });
                match command {
                    0x0f => self.send(Message::Unknown {
                        address: 0x9a,
                        command: 0x10,
                        body: Bytes::from_static(&[0x81, 0x01, 0x01]),
                    }),
                    0x10 => self.send(BasicPhone::EthernetAddress(EthernetAddress::new(
                        self.spec.mac,
                    ))),
                    _ => {}
                }
            }
            Message::NetworkSwitch(n) => self.on_network(n),
            Message::DisplaySwitch(DisplaySwitch::QueryDisplayManager(_)) => {
                self.queried(0x17, 0x0c);
                let model = self.spec.model;
                let lines = ((model.display_lines & 0x07) << 5) | (model.line_width & 0x1f);
                // 7-character softkeys; 10-character key labels, 12-character context.
                let softkeys = ((model.softkeys & 0x07) << 4) | 0x07;
                self.send(DisplayPhone::AttributesInfo(DisplayAttributesInfo::new(
                    lines, softkeys, 0xca, 0x00, 0x00, 0x01,
                )));
            }
            Message::KeySwitch(KeySwitch::QueryKeyIndicatorManager(_)) => {
                self.queried(0x19, 0x06);
                let model = self.spec.model;
                let keys = ((model.softkeys & 0x07) << 5) | (model.prog_keys & 0x1f);
                // Headset, mute, quit, copy keys and the MWI lamp; 4 navigation keys.
                self.send(KeyPhone::AttributesInfo(KeyAttributesInfo::new(
                    keys, 0x1f, 0x02,
                )));
            }
            Message::KeySwitch(KeySwitch::QueryHookswitch(_)) => {
                self.queried(0x19, 0x01);
                if self.off_hook {
                    self.send(KeyPhone::HookswitchOffHook(Empty::default()));
                } else {
                    self.send(KeyPhone::HookswitchOnHook(Empty::default()));
                }
            }
            Message::AudioSwitch(a) => self.on_audio(a).await,
            Message::Malformed {
                address, command, ..
            } => self.malformed(address, command),
            Message::Unframed { .. } => self.malformed(0, 0),
            _ => {}
        }
    }

    fn queried(&mut self, address: u8, command: u8) {
        self.shared.push(UnistimEvent::Queried { address, command });
    }

    fn on_basic(&mut self, b: BasicSwitch) {
        match b {
            BasicSwitch::QueryBasicManager(q) => {
                self.queried(0x1a, 0x01);
                let model = self.spec.model;
                let f = q.flags;
                // The 1140E of the capture answered 0x5C with the startup reason first (frame 29).
                if f & QueryBasicManager::QUERY_PRODUCT_CODE != 0 {
                    self.send(BasicPhone::StartupReason(StartupReason::new(
                        [0x01, 0x01, 0x00],
                        Text::from("Last reset reason is 0"),
                    )));
                }
                if f & QueryBasicManager::QUERY_FIRMWARE != 0 {
                    self.send(BasicPhone::FirmwareVersion(FirmwareVersion::new(
                        Text::from(model.firmware),
                    )));
                }
                if f & QueryBasicManager::QUERY_HARDWARE_ID != 0 {
                    self.send(BasicPhone::HardwareId(HardwareId::new(Bytes::from(
                        model.hardware_id(self.spec.mac),
                    ))));
                }
                if f & QueryBasicManager::QUERY_IT_TYPE != 0 {
                    self.send(BasicPhone::ItType(ItTypeReport::new(model.it_type)));
                }
                if f & QueryBasicManager::QUERY_PRODUCT_CODE != 0 {
                    self.send(BasicPhone::ProductEngineeringCode(
                        ProductEngineeringCode::new(Text::from(model.product_code)),
                    ));
                }
            }
            BasicSwitch::AssignTerminalId(a) => {
                self.link.set_terminal_id(a.terminal_id);
                {
                    let mut o = self.shared.lock();
                    o.registered = true;
                    o.terminal_id = Some(a.terminal_id);
                }
                if !self.registered {
                    self.registered = true;
                    Stats::add(&self.stats.registered);
                    Stats::add(&self.stats.registrations);
                }
                self.shared.push(UnistimEvent::Registered {
                    terminal_id: a.terminal_id,
                });
            }
            _ => {}
        }
    }

    fn on_network(&mut self, n: NetworkSwitch) {
        match n {
            NetworkSwitch::ResetWatchdog(w) => {
                Stats::add(&self.stats.keepalive_acks);
                self.watchdog =
                    Some(Instant::now() + Duration::from_secs(u64::from(w.timeout.max(1))));
                self.shared.push(UnistimEvent::Watchdog {
                    timeout_secs: w.timeout,
                });
            }
            NetworkSwitch::QueryNetworkManager(q) => {
                self.queried(0x1e, 0x04);
                if q.flags & 0x08 != 0 {
                    let address = match self.config.server.ip() {
                        IpAddr::V4(v4) => v4,
                        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                    };
                    let entry = ServerEntry {
                        port: self.config.server.port(),
                        action: 1,
                        retry_count: 3,
                        failover_id: 0,
                        address,
                    };
                    self.send(NetworkPhone::ServerInformationReport(
                        ServerInformationReport {
                            primary_server_id: 0,
                            servers: vec![entry, entry],
                            trailing: Bytes::new(),
                        },
                    ));
                }
            }
            NetworkSwitch::SoftReset(_) | NetworkSwitch::HardReset(_) => {
                self.reconnect(Duration::ZERO);
            }
            _ => {}
        }
    }

    async fn on_audio(&mut self, a: AudioSwitch) {
        match a {
            AudioSwitch::QueryAudioManager(q) => {
                self.queried(0x16, 0x00);
                if q.flags & 0x01 != 0 {
                    self.send(AudioPhone::AttributesInfo(AudioAttributesInfo::new(
                        0x01,
                        Bytes::from_static(self.spec.model.vocoders),
                    )));
                }
            }
            AudioSwitch::StreamBasedToneOn(t) => {
                let id = t.tone & 0x1f;
                // The screen already applied this message: its tone is the one just started.
                let kind = self.shared.lock().screen.tone().unwrap_or(ToneKind::Other);
                self.shared.push(UnistimEvent::Tone { id, kind });
                match kind {
                    ToneKind::Dial
                        if self
                            .outgoing
                            .as_ref()
                            .is_some_and(|o| o.phase == Phase::AwaitingDialTone) =>
                    {
                        self.dial_out();
                    }
                    ToneKind::Ringback => self.progressed(),
                    ToneKind::Busy
                        if self
                            .outgoing
                            .as_ref()
                            .is_some_and(|o| o.phase != Phase::Talking) =>
                    {
                        if let Some(out) = self.outgoing.take() {
                            self.call_failed(&out, "busy or reorder tone");
                        }
                        self.hang_up();
                    }
                    _ => {}
                }
            }
            AudioSwitch::StreamBasedToneOff(_) => self.shared.push(UnistimEvent::ToneOff),
            AudioSwitch::TransducerBasedToneOn(t) if t.tone & 0x07 == 0 => {
                self.shared.push(UnistimEvent::Ringer { on: true });
                if let Some(delay) = self.config.auto_answer
                    && self.answer_at.is_none()
                {
                    self.answer_at = Some(Instant::now() + delay);
                }
            }
            AudioSwitch::TransducerBasedToneOff(t) if t.tone & 0x07 == 0 => {
                self.shared.push(UnistimEvent::Ringer { on: false });
                self.answer_at = None;
            }
            AudioSwitch::OpenAudioStream(o) => {
                let ip = self.local.ip();
                let ip = if ip.is_unspecified() {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    ip
                };
                if self.leg.is_none() {
                    let ssrc = self.rng.next() as u32;
                    let wanted = SocketAddr::new(ip, o.local_rtp_port);
                    let leg = match Leg::open_at(wanted, ssrc, self.stats.clone()).await {
                        Ok(l) => Ok(l),
                        Err(_) => Leg::open(ip, ssrc, self.stats.clone()).await,
                    };
                    match leg {
                        Ok(l) => {
                            self.shared.lock().legs.push(l.counts.clone());
                            self.leg = Some(l);
                        }
                        Err(e) => {
                            tracing::warn!(mac = %self.spec.mac_hex(), "RTP socket: {e}");
                            self.send(AudioPhone::OpenAudioStreamReport(
                                OpenAudioStreamReport::new(StreamResult::LOCAL_PORT_IN_USE),
                            ));
                            return;
                        }
                    }
                }
                let far_ip = o
                    .far_address
                    .map_or_else(|| self.config.server.ip(), IpAddr::V4);
                let remote = (o.tx_stream_id != 0xff && o.far_rtp_port != 0)
                    .then(|| SocketAddr::new(far_ip, o.far_rtp_port));
                let Some(leg) = &self.leg else { return };
                if let Some(to) = remote {
                    leg.transmit_payload_type(to, o.tx_vocoder.0);
                }
                let local = leg.local;
                self.send(AudioPhone::OpenAudioStreamReport(
                    OpenAudioStreamReport::new(StreamResult::OPENED),
                ));
                self.shared.push(UnistimEvent::AudioOpened {
                    local,
                    remote,
                    vocoder: o.tx_vocoder.0,
                });
                if remote.is_some() {
                    self.progressed();
                    if let Some(out) = &mut self.outgoing
                        && out.phase == Phase::AwaitingAudio
                    {
                        out.phase = Phase::Talking;
                        out.deadline = Instant::now() + out.hold;
                        Stats::add(&self.stats.calls_connected);
                    }
                }
            }
            AudioSwitch::CloseAudioStream(_) => {
                self.leg = None;
                self.shared.push(UnistimEvent::AudioClosed);
                if let Some(out) = &self.outgoing
                    && out.phase == Phase::Talking
                {
                    // The far end hung up first.
                    self.outgoing = None;
                    self.hang_up();
                } else if self.off_hook && self.config.auto_answer.is_some() {
                    // A load-run user puts the handset back when the call ends.
                    self.hang_up();
                }
            }
            _ => {}
        }
    }
}
