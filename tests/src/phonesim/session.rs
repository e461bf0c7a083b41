//! The task behind each [`super::Phone`]: one TCP connection at a time to the call manager, driven like a
//! real phone (`docs/protocols/sccp.md` §5.1, §5.4–5.5).
//!
//! ```text
//! connect ── RegisterReq ──▶ AwaitingAck ── RegisterAck ──▶ AwaitingTemplate ── ButtonTemplateRes ──▶
//!   Stepping (LineStat n, ForwardStat n per line, SpeedDialStat per speed dial, TimeDate: one at a time,
//!   each given `step_timeout`) ── TimeDateRes ──▶ Registered (RegisterAvailableLines sent)
//! any state ── connection lost / 3 KeepAlives unanswered / Reset ──▶ reconnect after jitter
//! ```
//! CapabilitiesReq is answered whenever it comes; ButtonTemplate, SoftKeyTemplate, SoftKeySet and
//! ConfigStat are asked for at once after RegisterAck, as the 7970 of the CUCM capture does. Keepalives go
//! every `keepAliveInterval` from RegisterAck. Messages without a use here are counted and ignored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use captures::write::Side;
use codecs::sccp::msg::{
    ButtonTemplateReq, CapabilitiesRes, Empty, EnblocCall, ForwardStatReq, KeypadButton,
    LineStatReq, MediaCap, OffHook, OnHook, OpenReceiveChannelAck, RegisterAvailableLines,
    RegisterExtended, RegisterReq, RegisterTail, SoftKeyEventMsg, SpeedDialStatReq,
    StartMediaTransmissionAck, StimulusMsg, UnregisterReq,
};
use codecs::sccp::types::{Ip4, IpField};
use codecs::sccp::{
    ButtonType, CallState, Ctx, KeypadKey, MediaStatus, Message, MessageId, PayloadType,
    SoftKeyEvent, Tone, frame, negotiate,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::fleet::PhoneSpec;
use super::media::Leg;
use super::phone::{CallView, Command, Event, PhoneConfig, Shared};
use super::stats::Stats;

/// Why a connection ended.
enum End {
    Lost,
    Stop,
    Reconnect(Duration),
}

/// A small xorshift generator for jitter and SSRCs (no need for a real RNG here).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        let ms = max.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { self.next() % ms })
    }
}

pub(crate) async fn run(
    spec: Arc<PhoneSpec>,
    config: Arc<PhoneConfig>,
    source: Option<IpAddr>,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let seed = spec.mac.iter().fold(0x9e37_79b9_7f4a_7c15u64, |a, b| {
        a.rotate_left(8) ^ u64::from(*b)
    }) ^ u64::from(std::process::id());
    let mut rng = Rng(seed | 1);
    let stats = config.stats.clone();
    loop {
        let wait = match connect(config.server, source).await {
            Ok(stream) => {
                Stats::add(&stats.connects);
                let mut session = Session::new(&spec, &config, &shared, &mut rng, &stream);
                let end = session.run(stream, &mut commands).await;
                session.close();
                Stats::add(&stats.disconnects);
                match end {
                    End::Stop => return,
                    End::Lost => rng.jitter(config.reconnect_jitter),
                    End::Reconnect(after) => after,
                }
            }
            Err(e) => {
                tracing::debug!(device = %spec.device_name(), server = %config.server, "connect: {e}");
                Stats::add(&stats.connect_failures);
                rng.jitter(config.reconnect_jitter)
                    .max(Duration::from_millis(100))
            }
        };
        // Offline: only Stop matters.
        let until = Instant::now() + wait;
        loop {
            tokio::select! {
                c = commands.recv() => match c {
                    None | Some(Command::Stop) => return,
                    Some(_) => {}
                },
                () = sleep_until(until) => break,
            }
        }
    }
}

async fn connect(server: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    LineStat(u32),
    ForwardStat(u32),
    SpeedDial(u32),
    TimeDate,
}

impl Step {
    fn answered_by(self, m: &Message) -> bool {
        match (self, m) {
            (Self::LineStat(n), Message::LineStatRes(r)) => r.line_number == n,
            (Self::LineStat(n), Message::LineStatV2Res(r)) => r.line_number == n,
            (Self::ForwardStat(_), Message::ForwardStatRes(_))
            | (Self::TimeDate, Message::TimeDateRes(_)) => true,
            (Self::SpeedDial(n), Message::SpeedDialStatRes(r)) => r.speed_dial_number == n,
            (Self::SpeedDial(n), Message::SpeedDialStatV2Res(r)) => r.speed_dial_number == n,
            _ => false,
        }
    }

    fn message(self) -> Message {
        match self {
            Self::LineStat(n) => Message::LineStatReq(LineStatReq {
                line_number: n,
                ..Default::default()
            }),
            Self::ForwardStat(n) => Message::ForwardStatReq(ForwardStatReq {
                line_number: n,
                ..Default::default()
            }),
            Self::SpeedDial(n) => Message::SpeedDialStatReq(SpeedDialStatReq {
                speed_dial_number: n,
                ..Default::default()
            }),
            Self::TimeDate => Message::TimeDateReq(Empty::default()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reg {
    AwaitingAck,
    AwaitingTemplate,
    Stepping,
    Registered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingDialTone,
    AwaitingProgress,
    AwaitingConnect,
    Talking,
}

#[derive(Debug)]
struct Outgoing {
    number: String,
    hold: Duration,
    phase: Phase,
    deadline: Instant,
    last_digit_at: Instant,
    call_ref: Option<u32>,
}

struct Session<'a> {
    spec: &'a PhoneSpec,
    config: &'a PhoneConfig,
    shared: &'a Shared,
    stats: &'a Stats,
    rng: &'a mut Rng,
    local_ip: IpAddr,
    ctx: Ctx,
    out: BytesMut,
    reg: Reg,
    lines: u32,
    steps: Vec<Step>,
    step_deadline: Option<Instant>,
    keepalive_every: Duration,
    next_keepalive: Option<Instant>,
    unacked_keepalives: u8,
    /// Active calls: line, call reference, state.
    calls: Vec<(u32, u32, CallState)>,
    /// Media legs: passThruPartyID, call reference, leg.
    legs: Vec<(u32, u32, Leg)>,
    answer_at: Option<(Instant, u32, u32)>,
    outgoing: Option<Outgoing>,
    logged_malformed: bool,
}

impl<'a> Session<'a> {
    fn new(
        spec: &'a PhoneSpec,
        config: &'a PhoneConfig,
        shared: &'a Shared,
        rng: &'a mut Rng,
        stream: &TcpStream,
    ) -> Self {
        let local_ip = stream
            .local_addr()
            .map_or_else(|_| IpAddr::from([127, 0, 0, 1]), |a| a.ip());
        Self {
            spec,
            config,
            shared,
            stats: &config.stats,
            rng,
            local_ip,
            ctx: Ctx::new(0),
            out: BytesMut::with_capacity(256),
            reg: Reg::AwaitingAck,
            lines: 0,
            steps: Vec::new(),
            step_deadline: None,
            keepalive_every: Duration::from_secs(30),
            next_keepalive: None,
            unacked_keepalives: 0,
            calls: Vec::new(),
            legs: Vec::new(),
            answer_at: None,
            outgoing: None,
            logged_malformed: false,
        }
    }

    fn send(&mut self, message: &Message) {
        let header = if self.spec.model.header_zero {
            0
        } else {
            self.ctx.header_version_for(message.id())
        };
        message
            .to_frame_with_header(header, self.ctx)
            .encode(&mut self.out);
    }

    fn register_req(&self) -> Message {
        let ip = match self.local_ip {
            IpAddr::V4(v4) => v4.octets(),
            IpAddr::V6(_) => [0; 4],
        };
        let mut mac = [0u8; 12];
        mac[..6].copy_from_slice(&self.spec.mac);
        let lines = u32::try_from(self.spec.lines.len().max(1)).unwrap_or(1);
        let extended = (!self.spec.model.header_zero).then(|| RegisterExtended {
            mac_address: mac,
            max_number_of_lines: lines,
            firmware_load_name: self.spec.model.firmware.into(),
            ..Default::default()
        });
        Message::RegisterReq(RegisterReq {
            device_name: self.spec.device_name().as_str().into(),
            station_ip_addr: Ip4(ip),
            device_type: self.spec.model.device_type,
            max_streams: 5,
            tail: Some(RegisterTail {
                protocol_ver: self.spec.version,
                phone_features: 0x0080 | 0x0200,
                max_conferences: 0,
                ..Default::default()
            }),
            extended,
            ..Default::default()
        })
    }

    async fn run(
        &mut self,
        mut stream: TcpStream,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> End {
        if let Ok(local) = stream.local_addr() {
            self.shared.record_connection(local);
            self.shared.push(Event::Connected { local });
        }
        let register = self.register_req();
        self.send(&register);
        self.step_deadline = Some(Instant::now() + self.config.step_timeout);
        let mut input = BytesMut::with_capacity(512);
        loop {
            if !self.out.is_empty() {
                self.shared.record_bytes(Side::Client, &self.out);
                if stream.write_all(&self.out).await.is_err() {
                    return End::Lost;
                }
                self.out.clear();
            }
            let deadline = self.next_deadline();
            let end = tokio::select! {
                r = stream.read_buf(&mut input) => match r {
                    Ok(0) | Err(_) => Some(End::Lost),
                    Ok(n) => {
                        if let Some(new) = input.get(input.len() - n..) {
                            self.shared.record_bytes(Side::Server, new);
                        }
                        self.on_bytes(&mut input).await
                    }
                },
                c = commands.recv() => match c {
                    None | Some(Command::Stop) => {
                        self.unregister(&mut stream, &mut input).await;
                        Some(End::Stop)
                    }
                    Some(Command::Drop { reconnect_after }) => Some(End::Reconnect(reconnect_after)),
                    Some(c) => { self.on_command(c); None }
                },
                () = sleep_until(deadline) => self.on_timers(Instant::now()),
            };
            if let Some(end) = end {
                if matches!(end, End::Reconnect(_)) && !self.out.is_empty() {
                    self.shared.record_bytes(Side::Client, &self.out);
                    let _ = stream.write_all(&self.out).await;
                }
                return end;
            }
        }
    }

    async fn unregister(&mut self, stream: &mut TcpStream, input: &mut BytesMut) {
        self.send(&Message::UnregisterReq(UnregisterReq {
            un_reg_reason_code: Some(0),
            ..Default::default()
        }));
        self.shared.record_bytes(Side::Client, &self.out);
        if stream.write_all(&self.out).await.is_err() {
            return;
        }
        self.out.clear();
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read_buf(input)).await {
            if n == 0 {
                return;
            }
            if let Some(new) = input.get(input.len() - n..) {
                self.shared.record_bytes(Side::Server, new);
            }
            while let Ok(Some(raw)) = frame::decode(input) {
                if raw.id == MessageId::UNREGISTER_ACK {
                    return;
                }
            }
        }
    }

    /// Leaves the session: counters and observed state back to "not connected".
    fn close(&mut self) {
        if self.reg == Reg::Registered {
            Stats::sub(&self.stats.registered);
        }
        if self.outgoing.take().is_some() {
            Stats::add(&self.stats.calls_failed);
        }
        self.legs.clear();
        {
            let mut observed = self.shared.lock();
            observed.registered = false;
            observed.calls.clear();
        }
        self.shared.push(Event::Disconnected);
    }

    fn next_deadline(&self) -> Instant {
        [
            self.step_deadline,
            self.next_keepalive,
            self.answer_at.map(|(t, ..)| t),
            self.outgoing.as_ref().map(|o| o.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    async fn on_bytes(&mut self, input: &mut BytesMut) -> Option<End> {
        loop {
            match frame::decode(input) {
                Ok(Some(raw)) => {
                    let ctx = if raw.header_version != 0 {
                        Ctx::new(u8::try_from(raw.header_version.min(22)).unwrap_or(0))
                    } else {
                        self.ctx
                    };
                    match Message::from_frame(&raw, ctx) {
                        Ok(m) => {
                            if let Some(end) = self.on_message(m).await {
                                return Some(end);
                            }
                        }
                        Err(e) => {
                            Stats::add(&self.stats.malformed);
                            if !self.logged_malformed {
                                self.logged_malformed = true;
                                tracing::warn!(device = %self.spec.device_name(), server = %self.config.server, "malformed message: {e}");
                            }
                            self.shared.push(Event::Malformed { id: raw.id.0 });
                        }
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(device = %self.spec.device_name(), server = %self.config.server, "unframeable stream: {e}");
                    Stats::add(&self.stats.malformed);
                    return Some(End::Lost);
                }
            }
        }
    }

    fn capabilities() -> Message {
        let cap = |p: PayloadType| MediaCap {
            payload_capability: p,
            max_frames_per_packet: 40,
            params: [0; 8],
        };
        let caps = vec![
            cap(PayloadType::G711_ULAW64K),
            cap(PayloadType::G711_ALAW64K),
            cap(PayloadType::G729),
            cap(PayloadType::G722_64K),
        ];
        Message::CapabilitiesRes(CapabilitiesRes {
            cap_count: caps.len() as u32,
            caps,
            ..Default::default()
        })
    }

    fn start_steps(&mut self, lines: u32, speed_dials: u32) {
        self.lines = lines.max(1);
        self.steps.clear();
        for n in 1..=self.lines {
            self.steps.push(Step::LineStat(n));
            self.steps.push(Step::ForwardStat(n));
        }
        self.steps.extend((1..=speed_dials).map(Step::SpeedDial));
        self.steps.push(Step::TimeDate);
        self.steps.reverse();
        self.reg = Reg::Stepping;
        self.next_step();
    }

    fn next_step(&mut self) {
        if let Some(step) = self.steps.last().copied() {
            self.send(&step.message());
            self.step_deadline = Some(Instant::now() + self.config.step_timeout);
        } else {
            self.step_deadline = None;
            self.send(&Message::RegisterAvailableLines(RegisterAvailableLines {
                max_num_of_avail_lines: self.lines,
                ..Default::default()
            }));
            self.reg = Reg::Registered;
            Stats::add(&self.stats.registered);
            Stats::add(&self.stats.registrations);
            self.shared.lock().registered = true;
            self.shared.push(Event::Registered);
        }
    }

    async fn on_message(&mut self, m: Message) -> Option<End> {
        if self.reg == Reg::Stepping
            && let Some(step) = self.steps.last().copied()
            && step.answered_by(&m)
        {
            self.steps.pop();
            self.next_step();
            return None;
        }
        match m {
            Message::KeepAliveAck(_) => {
                self.unacked_keepalives = 0;
                Stats::add(&self.stats.keepalive_acks);
                self.shared.push(Event::KeepAliveAck);
            }
            Message::KeepAliveReq(_) => self.send(&Message::KeepAliveAck(Empty::default())),
            Message::RegisterAck(ack) => {
                let version = negotiate(self.spec.version, ack.max_protocol_ver);
                self.ctx = Ctx::new(version);
                let secs = if ack.keep_alive_interval == 0 {
                    30
                } else {
                    ack.keep_alive_interval
                };
                self.keepalive_every = Duration::from_secs(u64::from(secs));
                self.next_keepalive = Some(Instant::now() + self.keepalive_every);
                self.shared.push(Event::RegisterAck {
                    version,
                    keepalive_secs: secs,
                });
                self.send(&Message::ButtonTemplateReq(ButtonTemplateReq::default()));
                self.send(&Message::SoftKeyTemplateReq(Empty::default()));
                self.send(&Message::SoftKeySetReq(Empty::default()));
                self.send(&Message::ConfigStatReq(Empty::default()));
                self.reg = Reg::AwaitingTemplate;
                self.step_deadline = Some(Instant::now() + self.config.step_timeout);
            }
            Message::RegisterReject(r) => {
                Stats::add(&self.stats.rejects);
                self.shared.push(Event::Rejected {
                    text: r.text.to_string_lossy(),
                });
                let wait = self.rng.jitter(self.config.reconnect_jitter) + Duration::from_secs(1);
                return Some(End::Reconnect(wait));
            }
            Message::CapabilitiesReq(_) => self.send(&Self::capabilities()),
            Message::ButtonTemplateRes(b) if self.reg == Reg::AwaitingTemplate => {
                let count = usize::try_from(b.button_count).unwrap_or(0);
                let kinds = b
                    .definition
                    .0
                    .iter()
                    .take(count)
                    .map(|d| u32::from(d.button_definition));
                let (mut lines, mut speeds) = (0u32, 0u32);
                for kind in kinds {
                    match ButtonType(kind) {
                        ButtonType::LINE => lines += 1,
                        ButtonType::SPEED_DIAL => speeds += 1,
                        _ => {}
                    }
                }
                if lines == 0 {
                    lines = u32::try_from(self.spec.lines.len()).unwrap_or(1);
                }
                self.start_steps(lines, speeds);
            }
            Message::Reset(_) => return Some(End::Reconnect(Duration::from_millis(100))),
            Message::CallState(c) => {
                self.on_call_state(c.line_instance, c.call_reference, c.call_state)
            }
            Message::StartTone(t) => {
                self.on_tone(t.tone);
                self.shared.push(Event::Tone { tone: t.tone });
            }
            Message::StopTone(_) => self.shared.push(Event::StopTone),
            Message::CallInfo(i) => self.on_call_info(
                i.call_reference,
                i.calling_party.to_string_lossy(),
                i.calling_party_name.to_string_lossy(),
                i.called_party.to_string_lossy(),
            ),
            Message::CallInfoV2(i) => {
                let s = |t: &Option<codecs::sccp::types::VarText>| {
                    t.as_ref().map(|t| t.to_string_lossy()).unwrap_or_default()
                };
                self.on_call_info(
                    i.call_reference,
                    s(&i.calling_party),
                    s(&i.calling_party_name),
                    s(&i.called_party),
                );
            }
            Message::DisplayPromptStatus(d) => self.display(d.prompt_status.to_string_lossy()),
            Message::DisplayPromptStatusV2(d) => self.display(var(&d.prompt_status)),
            Message::DisplayNotify(d) => self.display(d.notify.to_string_lossy()),
            Message::DisplayNotifyV2(d) => self.display(var(&d.notify)),
            Message::DisplayPriNotify(d) => self.display(d.notify.to_string_lossy()),
            Message::DisplayPriNotifyV2(d) => self.display(var(&d.notify)),
            Message::SetRinger(r) => self.shared.push(Event::Ringer {
                mode: r.ring_mode.0,
            }),
            Message::SelectSoftKeys(s) => self.shared.push(Event::SoftKeys {
                set: s.soft_key_set_index.0,
            }),
            Message::OpenReceiveChannel(o) => {
                self.open_receive(o.pass_thru_party_id, o.call_reference, o.compression_type)
                    .await;
            }
            Message::StartMediaTransmission(s) => {
                let remote = SocketAddr::new(
                    s.remote_ip_addr.ip(),
                    u16::try_from(s.remote_port_number).unwrap_or(0),
                );
                let found = self
                    .legs
                    .iter()
                    .position(|(p, r, _)| *p == s.pass_thru_party_id || *r == s.call_reference);
                let index = match found {
                    Some(i) => Some(i),
                    None => {
                        // Transmit-only leg: open one for the counts.
                        self.open_leg(s.pass_thru_party_id, s.call_reference).await
                    }
                };
                if let Some((_, _, leg)) = index.and_then(|i| self.legs.get(i)) {
                    leg.transmit(remote, s.compression_type.0);
                    let local = leg.local;
                    if self.ctx.version >= 17 {
                        self.send(&Message::StartMediaTransmissionAck(
                            StartMediaTransmissionAck {
                                conference_id: s.conference_id,
                                pass_thru_party_id: s.pass_thru_party_id,
                                call_reference: s.call_reference,
                                transmit_ip_addr: IpField::from(local.ip()),
                                port_number: u32::from(local.port()),
                                media_transmission_status: Some(MediaStatus::OK),
                                ..Default::default()
                            },
                        ));
                    }
                }
                self.shared.push(Event::MediaStarted {
                    call_ref: s.call_reference,
                    remote,
                });
            }
            Message::StopMediaTransmission(s) => {
                let call_ref = s.call_reference.unwrap_or(0);
                for (p, r, leg) in &self.legs {
                    if *p == s.pass_thru_party_id || *r == call_ref {
                        leg.stop_transmit();
                    }
                }
                self.shared.push(Event::MediaStopped { call_ref });
            }
            Message::CloseReceiveChannel(c) => {
                let call_ref = c.call_reference.unwrap_or(0);
                self.legs
                    .retain(|(p, r, _)| *p != c.pass_thru_party_id && *r != call_ref);
                self.shared.push(Event::MediaClosed { call_ref });
            }
            Message::Unknown { id, .. } => {
                Stats::add(&self.stats.unknown);
                self.shared.push(Event::Ignored { id: id.0 });
            }
            _ => {}
        }
        None
    }

    fn display(&self, text: String) {
        self.shared.push(Event::Display { text });
    }

    fn on_call_info(&self, call_ref: u32, calling: String, calling_name: String, called: String) {
        {
            let mut observed = self.shared.lock();
            if let Some(c) = observed.calls.iter_mut().find(|c| c.call_ref == call_ref) {
                c.calling.clone_from(&calling);
                c.calling_name.clone_from(&calling_name);
                c.called.clone_from(&called);
            }
        }
        self.shared.push(Event::CallInfo {
            call_ref,
            calling,
            calling_name,
            called,
        });
    }

    async fn open_leg(&mut self, pass_thru: u32, call_ref: u32) -> Option<usize> {
        let ssrc = self.rng.next() as u32;
        match Leg::open(self.local_ip, ssrc, self.config.stats.clone()).await {
            Ok(leg) => {
                self.shared.lock().legs.push((call_ref, leg.counts.clone()));
                self.legs.push((pass_thru, call_ref, leg));
                Some(self.legs.len() - 1)
            }
            Err(e) => {
                tracing::warn!(device = %self.spec.device_name(), "RTP socket: {e}");
                None
            }
        }
    }

    async fn open_receive(&mut self, pass_thru: u32, call_ref: u32, codec: PayloadType) {
        let existing = self
            .legs
            .iter()
            .position(|(p, r, _)| *p == pass_thru && *r == call_ref);
        let index = match existing {
            Some(i) => Some(i),
            None => self.open_leg(pass_thru, call_ref).await,
        };
        let local = index
            .and_then(|i| self.legs.get(i))
            .map(|(_, _, l)| l.local);
        let (status, ip, port) = match local {
            Some(a) => (MediaStatus::OK, a.ip(), a.port()),
            None => (MediaStatus::UNKNOWN, self.local_ip, 0),
        };
        self.send(&Message::OpenReceiveChannelAck(OpenReceiveChannelAck {
            media_reception_status: status,
            ip_addr: IpField::from(ip),
            port_number: u32::from(port),
            pass_thru_party_id: pass_thru,
            call_reference: Some(call_ref),
            ..Default::default()
        }));
        if let Some(local) = local {
            self.shared.push(Event::MediaOpened {
                call_ref,
                codec,
                local,
            });
        }
    }

    fn on_call_state(&mut self, line: u32, call_ref: u32, state: CallState) {
        let now = Instant::now();
        let ended = matches!(state, CallState::ON_HOOK | CallState::IDLE);
        if ended {
            self.calls.retain(|(_, r, _)| *r != call_ref);
            self.legs.retain(|(_, r, _)| *r != call_ref);
        } else if let Some(c) = self.calls.iter_mut().find(|(_, r, _)| *r == call_ref) {
            c.2 = state;
        } else {
            self.calls.push((line, call_ref, state));
        }
        {
            let mut observed = self.shared.lock();
            if ended {
                observed.calls.retain(|c| c.call_ref != call_ref);
            } else if let Some(i) = observed.calls.iter().position(|c| c.call_ref == call_ref) {
                let mut c = observed.calls.remove(i);
                c.state = state;
                observed.calls.push(c);
            } else {
                observed.calls.push(CallView {
                    line,
                    call_ref,
                    state,
                    ..Default::default()
                });
            }
        }
        self.shared.push(Event::CallState {
            line,
            call_ref,
            state,
        });
        if state == CallState::RING_IN
            && let Some(delay) = self.config.auto_answer
            && self.answer_at.is_none()
        {
            self.answer_at = Some((now + delay, line, call_ref));
        }
        if ended && self.answer_at.is_some_and(|(_, _, r)| r == call_ref) {
            self.answer_at = None;
        }
        let Some(out) = &mut self.outgoing else {
            return;
        };
        if out.call_ref.is_some_and(|r| r != call_ref) {
            return;
        }
        match state {
            CallState::OFF_HOOK if out.phase == Phase::AwaitingDialTone => {
                out.call_ref = Some(call_ref);
                self.dial_out(line, call_ref);
            }
            CallState::RING_OUT if out.phase == Phase::AwaitingProgress => self.progressed(now),
            CallState::CONNECTED => {
                if out.phase == Phase::AwaitingProgress {
                    self.progressed(now);
                }
                if let Some(out) = &mut self.outgoing
                    && out.phase != Phase::Talking
                {
                    out.phase = Phase::Talking;
                    out.deadline = now + out.hold;
                    Stats::add(&self.stats.calls_connected);
                }
            }
            CallState::BUSY | CallState::CONGESTION | CallState::INVALID_NUMBER => {
                self.fail_outgoing();
            }
            CallState::ON_HOOK | CallState::IDLE if out.call_ref.is_some() => {
                if out.phase != Phase::Talking {
                    Stats::add(&self.stats.calls_failed);
                }
                self.outgoing = None;
            }
            _ => {}
        }
    }

    fn on_tone(&mut self, tone: Tone) {
        let now = Instant::now();
        let Some(out) = &self.outgoing else { return };
        match tone {
            Tone::INSIDE_DIAL_TONE | Tone::OUTSIDE_DIAL_TONE
                if out.phase == Phase::AwaitingDialTone =>
            {
                let (line, call_ref) = self.active().unwrap_or((1, 0));
                if let Some(out) = &mut self.outgoing {
                    out.call_ref = out.call_ref.or_else(|| (call_ref != 0).then_some(call_ref));
                }
                self.dial_out(line, call_ref);
            }
            Tone::ALERTING_TONE if out.phase == Phase::AwaitingProgress => self.progressed(now),
            Tone::LINE_BUSY_TONE | Tone::REORDER_TONE if out.phase != Phase::Talking => {
                self.fail_outgoing();
            }
            _ => {}
        }
    }

    fn progressed(&mut self, now: Instant) {
        if let Some(out) = &mut self.outgoing {
            let latency = now.saturating_duration_since(out.last_digit_at);
            out.phase = Phase::AwaitingConnect;
            self.stats.record_latency(latency);
            Stats::add(&self.stats.calls_progressed);
            self.shared.push(Event::SetupLatency(latency));
        }
    }

    fn fail_outgoing(&mut self) {
        if self.outgoing.take().is_some() {
            Stats::add(&self.stats.calls_failed);
            self.hang_up();
        }
    }

    fn dial_out(&mut self, line: u32, call_ref: u32) {
        let Some(out) = &mut self.outgoing else {
            return;
        };
        let number = format!("{}#", out.number);
        out.phase = Phase::AwaitingProgress;
        out.deadline = Instant::now() + self.config.setup_timeout;
        for c in number.chars() {
            self.keypad(c, line, call_ref);
        }
        if let Some(out) = &mut self.outgoing {
            out.last_digit_at = Instant::now();
        }
    }

    fn keypad(&mut self, c: char, line: u32, call_ref: u32) {
        let Some(key) = keypad_key(c) else { return };
        let tail = self.ctx.version >= 11;
        self.send(&Message::KeypadButton(KeypadButton {
            kp_button: key,
            line_instance: tail.then_some(line),
            call_reference: tail.then_some(call_ref),
            ..Default::default()
        }));
    }

    /// The line and reference of the call the phone is on (the most recent one).
    fn active(&self) -> Option<(u32, u32)> {
        self.calls.last().map(|(l, r, _)| (*l, *r))
    }

    fn hang_up(&mut self) {
        let (line, call_ref) = self.active().unwrap_or((0, 0));
        // Phones from protocol 15 on send 0/0 (CUCM capture); older ones name the call.
        let (line, call_ref) = if self.ctx.version >= 15 {
            (0, 0)
        } else {
            (line, call_ref)
        };
        self.send(&Message::OnHook(OnHook {
            line_instance: Some(line),
            call_reference: Some(call_ref),
            ..Default::default()
        }));
    }

    fn on_command(&mut self, command: Command) {
        let (line, call_ref) = self.active().unwrap_or((1, 0));
        match command {
            Command::OffHook => self.send(&Message::OffHook(OffHook {
                line_instance: Some(0),
                call_reference: Some(0),
                ..Default::default()
            })),
            Command::OnHook => self.hang_up(),
            Command::Dial(digits) => {
                for c in digits.chars() {
                    self.keypad(c, line, call_ref);
                }
            }
            Command::Key(c) => self.keypad(c, line, call_ref),
            Command::Enbloc(number) => self.enbloc(&number),
            Command::SoftKey(event) => {
                let (line, call_ref) = if event == SoftKeyEvent::NEW_CALL {
                    (1, 0)
                } else {
                    (line, call_ref)
                };
                self.send(&Message::SoftKeyEvent(SoftKeyEventMsg {
                    soft_key_event: event,
                    line_instance: Some(line),
                    call_reference: Some(call_ref),
                    ..Default::default()
                }));
            }
            Command::Stimulus(stimulus, instance) => {
                self.send(&Message::Stimulus(StimulusMsg {
                    stimulus,
                    line_instance: instance,
                    call_reference: Some(call_ref),
                    stimulus_status: Some(0),
                    ..Default::default()
                }));
            }
            Command::Answer => self.answer(),
            Command::Place {
                number,
                hold,
                enbloc,
            } => {
                Stats::add(&self.stats.calls_attempted);
                if self.outgoing.is_some() || self.reg != Reg::Registered {
                    Stats::add(&self.stats.calls_failed);
                    return;
                }
                let now = Instant::now();
                self.outgoing = Some(Outgoing {
                    number: number.clone(),
                    hold,
                    phase: if enbloc {
                        Phase::AwaitingProgress
                    } else {
                        Phase::AwaitingDialTone
                    },
                    deadline: now + self.config.setup_timeout,
                    last_digit_at: now,
                    call_ref: None,
                });
                if enbloc {
                    self.enbloc(&number);
                } else {
                    self.on_command(Command::OffHook);
                }
            }
            Command::Drop { .. } | Command::Stop => {}
        }
    }

    fn enbloc(&mut self, number: &str) {
        self.send(&Message::EnblocCall(EnblocCall {
            called_party: number.into(),
            line_instance: (self.ctx.version >= 17).then_some(1),
            ..Default::default()
        }));
    }

    fn answer(&mut self) {
        let ringing = self
            .calls
            .iter()
            .rev()
            .find(|(_, _, s)| *s == CallState::RING_IN)
            .map(|(l, r, _)| (*l, *r));
        if let Some((line, call_ref)) = ringing {
            self.send(&Message::OffHook(OffHook {
                line_instance: Some(line),
                call_reference: Some(call_ref),
                ..Default::default()
            }));
            Stats::add(&self.stats.calls_answered);
        }
    }

    fn on_timers(&mut self, now: Instant) -> Option<End> {
        if self.step_deadline.is_some_and(|t| t <= now) {
            Stats::add(&self.stats.unanswered);
            match self.reg {
                Reg::AwaitingAck => {
                    // No RegisterAck: try again on a new connection.
                    self.step_deadline = None;
                    return Some(End::Lost);
                }
                Reg::AwaitingTemplate => {
                    let lines = u32::try_from(self.spec.lines.len()).unwrap_or(1);
                    self.start_steps(lines, 0);
                }
                Reg::Stepping => {
                    self.steps.pop();
                    self.next_step();
                }
                Reg::Registered => self.step_deadline = None,
            }
        }
        if self.next_keepalive.is_some_and(|t| t <= now) {
            if self.unacked_keepalives >= 3 {
                return Some(End::Lost);
            }
            self.send(&Message::KeepAliveReq(Empty::default()));
            self.unacked_keepalives += 1;
            Stats::add(&self.stats.keepalives);
            self.next_keepalive = Some(now + self.keepalive_every);
        }
        if let Some((at, line, call_ref)) = self.answer_at
            && at <= now
        {
            self.answer_at = None;
            if self
                .calls
                .iter()
                .any(|(l, r, s)| *l == line && *r == call_ref && *s == CallState::RING_IN)
            {
                self.answer();
            }
        }
        if let Some(out) = &self.outgoing
            && out.deadline <= now
        {
            if out.phase != Phase::Talking {
                Stats::add(&self.stats.calls_failed);
            }
            self.outgoing = None;
            self.hang_up();
        }
        None
    }
}

fn var(t: &Option<codecs::sccp::types::VarText>) -> String {
    t.as_ref().map(|t| t.to_string_lossy()).unwrap_or_default()
}

fn keypad_key(c: char) -> Option<KeypadKey> {
    let n = match c {
        '0'..='9' => u32::from(c) - u32::from('0'),
        'A'..='D' => u32::from(c) - u32::from('A') + 10,
        'a'..='d' => u32::from(c) - u32::from('a') + 10,
        '*' => 14,
        '#' => 15,
        '+' => 16,
        _ => return None,
    };
    Some(KeypadKey(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_keypad_codes() {
        let codes: Vec<_> = "0129*#A+d"
            .chars()
            .map(|c| keypad_key(c).map(|k| k.0))
            .collect();
        let want = [0, 1, 2, 9, 14, 15, 10, 16, 13].map(Some);
        assert_eq!(codes, want);
        assert_eq!(keypad_key('x'), None);
    }

    #[test]
    fn jitter_stays_below_its_bound() {
        let mut rng = Rng(12345);
        let max = Duration::from_millis(100);
        assert!((0..1000).all(|_| rng.jitter(max) < max));
        assert_eq!(rng.jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn registration_steps_match_their_answers() {
        use codecs::sccp::msg::{LineStatV2Res, SpeedDialStatRes};
        let line2 = Message::LineStatV2Res(LineStatV2Res {
            line_number: 2,
            ..Default::default()
        });
        assert!(Step::LineStat(2).answered_by(&line2));
        assert!(!Step::LineStat(1).answered_by(&line2));
        let sd = Message::SpeedDialStatRes(SpeedDialStatRes {
            speed_dial_number: 3,
            ..Default::default()
        });
        assert!(Step::SpeedDial(3).answered_by(&sd));
        assert!(!Step::TimeDate.answered_by(&sd));
        assert_eq!(Step::TimeDate.message().id(), MessageId::TIME_DATE_REQ);
    }
}
