//! A scripted call manager: enough of CUCM's side (`docs/protocols/sccp.md` §5.4–5.5) to register
//! phonesim phones and play simple calls, so phonesim can be tested, and its own footprint measured,
//! without a gateway.
//!
//! Registration: RegisterAck + CapabilitiesReq, then an answer to every status request; KeepAliveAck;
//! UnregisterAck. Outgoing call: OffHook → CallState OffHook + dial tone; digits until `#` (or
//! EnblocCall) → Proceed, ringback, RingOut; with `answer_outgoing`, at once Connected and an
//! OpenReceiveChannel, then StartMediaTransmission to the phone's own receive port (the phone hears
//! itself, so RTP sent and received match); OnHook tears the call down. Incoming: [`Responder::ring`].
//! Every connection's bytes can be kept ([`ResponderConfig::record`]) and written as a pcap on port 2000.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use captures::write::Side;
use codecs::sccp::msg::{
    ButtonDefinition, ButtonTemplateRes, CallInfo, CallInfoV2, CallStateMsg, CloseReceiveChannel,
    ConfigStatRes, Empty, ForwardStatRes, LineStatRes, LineStatV2Res, OpenReceiveChannel,
    RegisterAck, RegisterReject, SelectSoftKeys, SetRinger, SoftKeyDefinition,
    SoftKeySetDefinition, SoftKeySetRes, SoftKeyTemplateRes, SpeedDialStatRes,
    StartMediaTransmission, StartTone, StopMediaTransmission, StopTone, TimeDateRes, UnregisterAck,
};
use codecs::sccp::types::{IpField, Slots};
use codecs::sccp::{
    ButtonType, CallState, CallType, Ctx, Message, MessageId, PayloadType, RingMode, SoftKeyEvent,
    SoftKeySet, Tone, frame, negotiate,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub use super::wire::Recorded;

/// How the responder behaves.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// RegisterAck keepAliveInterval.
    pub keepalive_secs: u32,
    /// RegisterAck maxProtocolVer.
    pub max_version: u8,
    /// Line buttons in the template.
    pub lines: u32,
    /// Speed-dial buttons in the template.
    pub speed_dials: u32,
    /// Connect outgoing calls at once with media looped back to the caller.
    pub answer_outgoing: bool,
    /// Device names to refuse with RegisterReject.
    pub reject: Vec<String>,
    /// Keep every connection's bytes.
    pub record: bool,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        Self {
            keepalive_secs: 30,
            max_version: 21,
            lines: 1,
            speed_dials: 1,
            answer_outgoing: true,
            reject: Vec::new(),
            record: true,
        }
    }
}

enum Cmd {
    Ring { number: String, name: String },
    HangUp,
}

#[derive(Default)]
struct Shared {
    registered: AtomicUsize,
    devices: Mutex<HashMap<String, mpsc::UnboundedSender<Cmd>>>,
    received: Mutex<HashMap<String, Vec<MessageId>>>,
    recorded: Mutex<Vec<Arc<Mutex<Recorded>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running scripted call manager.
pub struct Responder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Responder {
    /// Listens on `listen` (port 0 for any).
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn start(listen: SocketAddr, config: ResponderConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let config = Arc::new(config);
        let calls = Arc::new(AtomicU32::new(0x0100_0000));
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let conn = Conn::new(s.clone(), config.clone(), calls.clone(), peer);
                tokio::spawn(conn.run(stream));
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// Where phones connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Phones registered (TimeDateReq answered) on live connections.
    pub fn registered(&self) -> usize {
        self.shared.registered.load(Ordering::Relaxed)
    }

    /// Rings `device` (`SEP…`) with a call from `number`/`name`; false if it is not connected.
    pub fn ring(&self, device: &str, number: &str, name: &str) -> bool {
        lock(&self.shared.devices).get(device).is_some_and(|tx| {
            tx.send(Cmd::Ring {
                number: number.to_owned(),
                name: name.to_owned(),
            })
            .is_ok()
        })
    }

    /// Ends `device`'s call from the far side.
    pub fn hang_up(&self, device: &str) -> bool {
        lock(&self.shared.devices)
            .get(device)
            .is_some_and(|tx| tx.send(Cmd::HangUp).is_ok())
    }

    /// The ids of every message `device` sent, in order, over all its connections.
    pub fn received(&self, device: &str) -> Vec<MessageId> {
        lock(&self.shared.received)
            .get(device)
            .cloned()
            .unwrap_or_default()
    }

    /// Every connection's bytes (with [`ResponderConfig::record`]).
    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.shared.recorded)
            .iter()
            .map(|r| lock(r).clone())
            .collect()
    }

    /// Writes every recorded connection into a pcap, the server side on port 2000 so tshark decodes
    /// SCCP without being told.
    ///
    /// # Errors
    ///
    /// The write error.
    pub fn write_pcap(&self, path: &Path) -> std::io::Result<()> {
        super::wire::write_pcap(path, self.addr.ip(), &self.recorded())
    }
}

struct Call {
    line: u32,
    call_ref: u32,
    state: CallState,
    digits: String,
    pass_thru: u32,
}

struct Conn {
    shared: Arc<Shared>,
    config: Arc<ResponderConfig>,
    calls: Arc<AtomicU32>,
    record: Option<Arc<Mutex<Recorded>>>,
    device: String,
    ctx: Ctx,
    registered: bool,
    out: BytesMut,
    call: Option<Call>,
    phone_rtp: Option<SocketAddr>,
}

impl Conn {
    fn new(
        shared: Arc<Shared>,
        config: Arc<ResponderConfig>,
        calls: Arc<AtomicU32>,
        peer: SocketAddr,
    ) -> Self {
        let record = config.record.then(|| {
            let r = Arc::new(Mutex::new(Recorded {
                client: Some(peer),
                chunks: Vec::new(),
            }));
            lock(&shared.recorded).push(r.clone());
            r
        });
        Self {
            shared,
            config,
            calls,
            record,
            device: String::new(),
            ctx: Ctx::new(0),
            registered: false,
            out: BytesMut::new(),
            call: None,
            phone_rtp: None,
        }
    }

    fn send(&mut self, m: &Message) {
        m.encode_frame(self.ctx, &mut self.out);
    }

    async fn run(mut self, mut stream: TcpStream) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mine = tx.clone();
        let mut tx = Some(tx);
        let mut input = BytesMut::with_capacity(512);
        loop {
            let closing = tokio::select! {
                r = stream.read_buf(&mut input) => match r {
                    Ok(0) | Err(_) => true,
                    Ok(n) => {
                        if let Some(rec) = &self.record {
                            let start = input.len() - n;
                            lock(rec).chunks.push((Side::Client, input[start..].to_vec()));
                        }
                        self.on_bytes(&mut input, &mut tx)
                    }
                },
                Some(cmd) = rx.recv() => { self.on_cmd(cmd); false }
            };
            if !self.out.is_empty() {
                if let Some(rec) = &self.record {
                    lock(rec).chunks.push((Side::Server, self.out.to_vec()));
                }
                if stream.write_all(&self.out).await.is_err() {
                    break;
                }
                self.out.clear();
            }
            if closing {
                break;
            }
        }
        if self.registered {
            self.shared.registered.fetch_sub(1, Ordering::Relaxed);
        }
        let mut devices = lock(&self.shared.devices);
        if devices
            .get(&self.device)
            .is_some_and(|t| t.same_channel(&mine))
        {
            devices.remove(&self.device);
        }
    }

    fn on_bytes(
        &mut self,
        input: &mut BytesMut,
        tx: &mut Option<mpsc::UnboundedSender<Cmd>>,
    ) -> bool {
        loop {
            match frame::decode(input) {
                Ok(Some(raw)) => {
                    if !self.device.is_empty() {
                        lock(&self.shared.received)
                            .entry(self.device.clone())
                            .or_default()
                            .push(raw.id);
                    }
                    let Ok(m) = Message::from_frame(&raw, self.ctx) else {
                        continue;
                    };
                    if let Message::RegisterReq(r) = &m {
                        self.device = r.device_name.to_string_lossy();
                        lock(&self.shared.received)
                            .entry(self.device.clone())
                            .or_default()
                            .push(raw.id);
                        if self.config.reject.contains(&self.device) {
                            self.send(&Message::RegisterReject(RegisterReject {
                                text: "Device Unknown".into(),
                                ..Default::default()
                            }));
                            return true;
                        }
                        if let Some(tx) = tx.take() {
                            lock(&self.shared.devices).insert(self.device.clone(), tx);
                        }
                        let version = negotiate(r.protocol_version(), self.config.max_version);
                        self.send(&Message::RegisterAck(RegisterAck {
                            keep_alive_interval: self.config.keepalive_secs,
                            date_template: "M/D/Y".into(),
                            secondary_keep_alive_interval: 60,
                            max_protocol_ver: self.config.max_version,
                            ..Default::default()
                        }));
                        self.ctx = Ctx::new(version);
                        self.send(&Message::CapabilitiesReq(Empty::default()));
                        continue;
                    }
                    if self.on_message(m) {
                        return true;
                    }
                }
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    fn on_message(&mut self, m: Message) -> bool {
        let v = self.ctx.version;
        match m {
            Message::KeepAliveReq(_) => self.send(&Message::KeepAliveAck(Empty::default())),
            Message::ButtonTemplateReq(_) => {
                let mut defs: Vec<_> = (1..=self.config.lines)
                    .map(|n| ButtonDefinition::new(ButtonType::LINE, n as u8))
                    .collect();
                defs.extend(
                    (1..=self.config.speed_dials)
                        .map(|n| ButtonDefinition::new(ButtonType::SPEED_DIAL, n as u8)),
                );
                let n = defs.len() as u32;
                self.send(&Message::ButtonTemplateRes(ButtonTemplateRes {
                    button_count: n,
                    total_button_count: n,
                    definition: Slots(defs),
                    ..Default::default()
                }));
            }
            Message::SoftKeyTemplateReq(_) => {
                let keys = [
                    ("NewCall", SoftKeyEvent::NEW_CALL),
                    ("EndCall", SoftKeyEvent::END_CALL),
                    ("Answer", SoftKeyEvent::ANSWER),
                    ("Hold", SoftKeyEvent::HOLD),
                ];
                self.send(&Message::SoftKeyTemplateRes(SoftKeyTemplateRes {
                    soft_key_count: keys.len() as u32,
                    total_soft_key_count: keys.len() as u32,
                    definition: Slots(
                        keys.iter()
                            .map(|(l, e)| SoftKeyDefinition {
                                soft_key_label: (*l).into(),
                                soft_key_event: *e,
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }));
            }
            Message::SoftKeySetReq(_) => {
                let sets = vec![
                    SoftKeySetDefinition::new(&[(1, SoftKeyEvent::NEW_CALL)]),
                    SoftKeySetDefinition::new(&[
                        (4, SoftKeyEvent::HOLD),
                        (2, SoftKeyEvent::END_CALL),
                    ]),
                ];
                self.send(&Message::SoftKeySetRes(SoftKeySetRes {
                    soft_key_set_count: sets.len() as u32,
                    total_soft_key_set_count: sets.len() as u32,
                    definition: Slots(sets),
                    ..Default::default()
                }));
            }
            Message::ConfigStatReq(_) => {
                let device = self.device.as_str().into();
                self.send(&Message::ConfigStatRes(ConfigStatRes {
                    device_name: device,
                    user_name: "phonesim".into(),
                    server_name: "responder".into(),
                    number_of_lines: self.config.lines,
                    number_of_speed_dials: self.config.speed_dials,
                    ..Default::default()
                }));
            }
            Message::LineStatReq(l) => {
                let number = format!("{}", 1000 + l.line_number);
                if v >= 17 {
                    self.send(&Message::LineStatV2Res(LineStatV2Res {
                        line_number: l.line_number,
                        line_type: 0xf,
                        line_dir_number: Some(number.as_str().into()),
                        line_fully_qualified_display_name: Some("phonesim".into()),
                        line_text_label: Some(number.as_str().into()),
                        ..Default::default()
                    }));
                } else {
                    self.send(&Message::LineStatRes(LineStatRes {
                        line_number: l.line_number,
                        line_dir_number: number.as_str().into(),
                        line_fully_qualified_display_name: "phonesim".into(),
                        line_text_label: number.as_str().into(),
                        ..Default::default()
                    }));
                }
            }
            Message::ForwardStatReq(f) => self.send(&Message::ForwardStatRes(ForwardStatRes {
                line_number: f.line_number,
                ..Default::default()
            })),
            Message::SpeedDialStatReq(s) => {
                self.send(&Message::SpeedDialStatRes(SpeedDialStatRes {
                    speed_dial_number: s.speed_dial_number,
                    speed_dial_dir_number: "2002".into(),
                    speed_dial_display_name: "Bob".into(),
                    ..Default::default()
                }));
            }
            Message::TimeDateReq(_) => {
                self.send(&Message::TimeDateRes(TimeDateRes {
                    w_year: 2026,
                    w_month: 12,
                    w_day: 1,
                    system_time: 1_796_115_600,
                    ..Default::default()
                }));
                if !self.registered {
                    self.registered = true;
                    self.shared.registered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Message::UnregisterReq(_) => {
                self.send(&Message::UnregisterAck(UnregisterAck::default()));
                return true;
            }
            Message::OffHook(_) => {
                if self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.state == CallState::RING_IN)
                {
                    self.connect();
                } else if self.call.is_none() {
                    let call_ref = self.calls.fetch_add(1, Ordering::Relaxed);
                    self.call = Some(Call {
                        line: 1,
                        call_ref,
                        state: CallState::OFF_HOOK,
                        digits: String::new(),
                        pass_thru: call_ref,
                    });
                    self.state(CallState::OFF_HOOK);
                    self.send(&Message::StartTone(StartTone {
                        tone: Tone::INSIDE_DIAL_TONE,
                        line_instance: Some(1),
                        call_reference: Some(call_ref),
                        ..Default::default()
                    }));
                }
            }
            Message::SoftKeyEvent(s)
                if s.soft_key_event == SoftKeyEvent::ANSWER
                    && self
                        .call
                        .as_ref()
                        .is_some_and(|c| c.state == CallState::RING_IN) =>
            {
                self.connect();
            }
            Message::KeypadButton(k) => {
                let Some(call) = &mut self.call else {
                    return false;
                };
                if call.state != CallState::OFF_HOOK {
                    return false;
                }
                let (line, call_ref, first) = (call.line, call.call_ref, call.digits.is_empty());
                match k.digit() {
                    Some('#') => self.dialed(),
                    Some(d) => {
                        call.digits.push(d);
                        if first {
                            let tone = (v >= 11).then_some(Tone::INSIDE_DIAL_TONE);
                            self.send(&Message::StopTone(StopTone {
                                line_instance: line,
                                call_reference: call_ref,
                                tone,
                                ..Default::default()
                            }));
                        }
                    }
                    None => {}
                }
            }
            Message::EnblocCall(e) if self.call.is_none() => {
                let call_ref = self.calls.fetch_add(1, Ordering::Relaxed);
                self.call = Some(Call {
                    line: 1,
                    call_ref,
                    state: CallState::OFF_HOOK,
                    digits: e.called_party.to_string_lossy(),
                    pass_thru: call_ref,
                });
                self.state(CallState::OFF_HOOK);
                self.dialed();
            }
            Message::OpenReceiveChannelAck(a) => {
                let addr = SocketAddr::new(a.ip_addr.ip(), a.port_number as u16);
                self.phone_rtp = Some(addr);
                if let Some(call) = &self.call {
                    let (call_ref, pass_thru) = (call.call_ref, call.pass_thru);
                    self.send(&Message::StartMediaTransmission(smt(
                        self.ctx, call_ref, pass_thru, addr,
                    )));
                }
            }
            Message::OnHook(_) => self.tear_down(),
            Message::SoftKeyEvent(s) if s.soft_key_event == SoftKeyEvent::END_CALL => {
                self.tear_down();
            }
            _ => {}
        }
        false
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Ring { number, name } => {
                if self.call.is_some() {
                    return;
                }
                let call_ref = self.calls.fetch_add(1, Ordering::Relaxed);
                self.call = Some(Call {
                    line: 1,
                    call_ref,
                    state: CallState::RING_IN,
                    digits: String::new(),
                    pass_thru: call_ref,
                });
                self.state(CallState::RING_IN);
                self.info(CallType::IN_BOUND_CALL, &number, &name, "1001");
                self.send(&Message::SetRinger(SetRinger {
                    ring_mode: RingMode::INSIDE_RING,
                    ring_duration: 1,
                    line_instance: 1,
                    call_reference: call_ref,
                    ..Default::default()
                }));
            }
            Cmd::HangUp => self.tear_down(),
        }
    }

    fn state(&mut self, state: CallState) {
        let Some(call) = &mut self.call else { return };
        call.state = state;
        let (line, call_ref) = (call.line, call.call_ref);
        self.send(&Message::CallState(CallStateMsg {
            call_state: state,
            line_instance: line,
            call_reference: call_ref,
            privacy: Some(0),
            precedence_level: Some(4),
            precedence_domain: Some(0),
            ..Default::default()
        }));
        let set = match state {
            CallState::OFF_HOOK => SoftKeySet::OFF_HOOK,
            CallState::RING_IN => SoftKeySet::RING_IN,
            CallState::RING_OUT => SoftKeySet::RING_OUT,
            CallState::CONNECTED => SoftKeySet::CONNECTED,
            _ => SoftKeySet::ON_HOOK,
        };
        self.send(&Message::SelectSoftKeys(SelectSoftKeys {
            line_instance: line,
            call_reference: call_ref,
            soft_key_set_index: set,
            valid_key_mask: Some(u32::MAX),
            ..Default::default()
        }));
    }

    fn info(&mut self, call_type: CallType, calling: &str, calling_name: &str, called: &str) {
        let Some(call) = &self.call else { return };
        let (line, call_ref) = (call.line, call.call_ref);
        if self.ctx.version >= 8 {
            self.send(&Message::CallInfoV2(CallInfoV2 {
                line_instance: line,
                call_reference: call_ref,
                call_type,
                calling_party: Some(calling.into()),
                alternate_calling_party: Some("".into()),
                called_party: Some(called.into()),
                original_called_party: Some("".into()),
                last_redirecting_party: Some("".into()),
                cgpn_voice_mailbox: Some("".into()),
                cdpn_voice_mailbox: Some("".into()),
                original_cdpn_voice_mailbox: Some("".into()),
                last_redirecting_voice_mailbox: Some("".into()),
                calling_party_name: Some(calling_name.into()),
                called_party_name: Some("".into()),
                original_called_party_name: Some("".into()),
                last_redirecting_party_name: Some("".into()),
                hunt_pilot_number: (self.ctx.version >= 17).then(|| "".into()),
                hunt_pilot_name: (self.ctx.version >= 17).then(|| "".into()),
                ..Default::default()
            }));
        } else {
            self.send(&Message::CallInfo(CallInfo {
                calling_party: calling.into(),
                calling_party_name: calling_name.into(),
                called_party: called.into(),
                line_instance: line,
                call_reference: call_ref,
                call_type,
                ..Default::default()
            }));
        }
    }

    fn dialed(&mut self) {
        let Some(call) = &self.call else { return };
        let (line, call_ref, number) = (call.line, call.call_ref, call.digits.clone());
        self.state(CallState::PROCEED);
        self.info(CallType::OUT_BOUND_CALL, "1001", "phonesim", &number);
        self.send(&Message::StartTone(StartTone {
            tone: Tone::ALERTING_TONE,
            line_instance: Some(line),
            call_reference: Some(call_ref),
            ..Default::default()
        }));
        self.state(CallState::RING_OUT);
        if self.config.answer_outgoing {
            let tone = (self.ctx.version >= 11).then_some(Tone::ALERTING_TONE);
            self.send(&Message::StopTone(StopTone {
                line_instance: line,
                call_reference: call_ref,
                tone,
                ..Default::default()
            }));
            self.connect();
        }
    }

    fn connect(&mut self) {
        let Some(call) = &self.call else { return };
        let (call_ref, pass_thru, ringing) = (
            call.call_ref,
            call.pass_thru,
            call.state == CallState::RING_IN,
        );
        if ringing {
            self.send(&Message::SetRinger(SetRinger {
                ring_mode: RingMode::RING_OFF,
                ring_duration: 1,
                ..Default::default()
            }));
            self.state(CallState::OFF_HOOK);
        }
        self.send(&Message::OpenReceiveChannel(orc(
            self.ctx, call_ref, pass_thru,
        )));
        self.state(CallState::CONNECTED);
    }

    fn tear_down(&mut self) {
        let Some(call) = &self.call else { return };
        let (call_ref, pass_thru) = (call.call_ref, call.pass_thru);
        self.send(&Message::CloseReceiveChannel(CloseReceiveChannel {
            conference_id: call_ref,
            pass_thru_party_id: pass_thru,
            call_reference: Some(call_ref),
            port_handling_flag: Some(0),
            ..Default::default()
        }));
        self.send(&Message::StopMediaTransmission(StopMediaTransmission {
            conference_id: call_ref,
            pass_thru_party_id: pass_thru,
            call_reference: Some(call_ref),
            port_handling_flag: Some(0),
            ..Default::default()
        }));
        self.state(CallState::ON_HOOK);
        self.call = None;
        self.phone_rtp = None;
    }
}

/// OpenReceiveChannel for G.711 µ-law, 20 ms, with the optional fields of `ctx`'s version.
fn orc(ctx: Ctx, call_ref: u32, pass_thru: u32) -> OpenReceiveChannel {
    let v = ctx.version;
    let any = IpField::from(std::net::IpAddr::from([0, 0, 0, 0]));
    OpenReceiveChannel {
        conference_id: call_ref,
        pass_thru_party_id: pass_thru,
        millisecond_packet_size: 20,
        compression_type: PayloadType::G711_ULAW64K,
        call_reference: call_ref,
        dtmf_type: 10,
        mixing_mode: (v >= 11).then_some(0),
        party_direction: (v >= 11).then_some(0),
        source_ip_addr: (v >= 11).then_some(any),
        source_port_number: (v >= 11).then_some(0),
        requested_ip_addr_type: (v >= 16).then_some(0),
        audio_level_adjustment: (v >= 17).then_some(0),
        latent_caps_info: (v >= 21).then_some([0; 36]),
        ..Default::default()
    }
}

/// StartMediaTransmission of G.711 µ-law, 20 ms, to `to`.
fn smt(ctx: Ctx, call_ref: u32, pass_thru: u32, to: SocketAddr) -> StartMediaTransmission {
    let v = ctx.version;
    StartMediaTransmission {
        conference_id: call_ref,
        pass_thru_party_id: pass_thru,
        remote_ip_addr: IpField::from(to.ip()),
        remote_port_number: u32::from(to.port()),
        millisecond_packet_size: 20,
        compression_type: PayloadType::G711_ULAW64K,
        precedence_value: 184,
        max_frames_per_packet: 1,
        call_reference: call_ref,
        dtmf_type: 10,
        mixing_mode: Some(0),
        party_direction: (v >= 15).then_some(0),
        latent_caps_info: (v >= 21).then_some([0; 36]),
        ..Default::default()
    }
}
