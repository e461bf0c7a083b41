//! One Cisco SCCP phone's session: registration, keepalive and the translation between SCCP messages and
//! the protocol-neutral call logic ([`crate::call::phone::Phone`]).
//!
//! Sans-IO (HOUSE-STYLE §2.3): [`Session::handle_input`] takes the time and one [`Input`]; after each
//! input the driver **drains [`Session::poll_output`] until it returns `None`**, then sleeps until
//! [`Session::poll_timeout`] (feeding [`Input::Timeout`] when it passes). Nothing here touches sockets
//! or clocks; the wall clock (for DefineTimeDate) is derived from the `unix_at_start` given to
//! [`Session::new`].
//!
//! ```text
//!  AwaitingRegister --RegisterReq--> AwaitingLookup --Lookup(Some)--> Registered --UnregisterReq--> Closed
//!         |                               |  Lookup(None): RegisterReject              |  keepalive missed
//!         +--register timeout--> Closed   +--> Closed(UnknownDevice)                   +--> Closed
//! ```
//!
//! In `Registered` every status request is answered (phones wait for each answer, sccp.md §5.6), the
//! capabilities set the phone's codecs, and call-control messages become neutral phone inputs.

mod io;
mod render;

pub use io::{
    CloseReason, DeviceConfig, Input, KeyConfig, LineConfig, Output, SessionConfig, SessionError,
};

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use codecs::sccp::msg::{
    ConfigStatRes, ConfigStatV2Res, Empty, FeatureStatRes, FeatureStatV2Res, ForwardStatRes,
    LineStatRes, LineStatV2Res, RegisterAck, RegisterReject, RegisterReq, Reset, ServiceUrlStatRes,
    SpeedDialStatRes, SpeedDialStatV2Res, UnregisterAck,
};
use codecs::sccp::types::VarText;
use codecs::sccp::{ButtonType, Ctx, Message, MessageId, SoftKeyEvent, Stimulus};

use crate::call::phone::{
    Key, LineFeatures, MediaAction, Phone, PhoneInput, PhoneOutput, Prompt, Show,
};
use crate::call::{CallRef, CallRefs, LineId, UaCommand, UaEvent};

use render::{Button, DYNAMIC};

/// The highest protocol version Crossbar offers.
pub const MAX_VERSION: u8 = 22;

/// How long a connected phone may take to send Register.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);

struct Registered {
    device: DeviceConfig,
    phone: Phone,
    buttons: Vec<Button>,
    speed_dials: Vec<(String, String)>,
    /// The pass-through party id of each call's open media.
    ptids: BTreeMap<CallRef, u32>,
    next_ptid: u32,
}

enum State {
    AwaitingRegister,
    AwaitingLookup { req: Box<RegisterReq> },
    Registered(Box<Registered>),
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::AwaitingRegister => "awaiting Register",
            Self::AwaitingLookup { .. } => "awaiting the inventory",
            Self::Registered(_) => "registered",
            Self::Closed => "closed",
        }
    }
}

/// One phone's session.
pub struct Session {
    config: SessionConfig,
    refs: CallRefs,
    state: State,
    ctx: Ctx,
    started: Instant,
    unix_at_start: u64,
    now: Instant,
    deadline: Instant,
    out: VecDeque<Output>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state.name())
            .field("version", &self.ctx.version)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for a phone that just connected at `now` (when the wall clock read `unix_at_start`).
    /// Call references for the phone's own calls come from `refs`, shared with its user agents.
    pub fn new(config: SessionConfig, refs: CallRefs, now: Instant, unix_at_start: u64) -> Self {
        Self {
            config,
            refs,
            state: State::AwaitingRegister,
            ctx: Ctx::new(0),
            started: now,
            unix_at_start,
            now,
            deadline: now + REGISTER_TIMEOUT,
            out: VecDeque::new(),
        }
    }

    /// The context to decode the phone's messages and encode ours with.
    pub fn ctx(&self) -> Ctx {
        self.ctx
    }

    /// True once registered (and until closed).
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The device name, once registered.
    pub fn device_name(&self) -> Option<&str> {
        match &self.state {
            State::Registered(r) => Some(&r.device.name),
            State::AwaitingLookup { req } => std::str::from_utf8(req.device_name.as_bytes()).ok(),
            _ => None,
        }
    }

    /// The call logic, once registered (for tests and introspection).
    pub fn phone(&self) -> Option<&Phone> {
        match &self.state {
            State::Registered(r) => Some(&r.phone),
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

    /// When to feed [`Input::Timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Closed => None,
            State::Registered(r) => Some(
                r.phone
                    .poll_timeout()
                    .map_or(self.deadline, |d| d.min(self.deadline)),
            ),
            _ => Some(self.deadline),
        }
    }

    /// The connection dropped: hang up the phone's calls (outputs to drain) and close.
    pub fn handle_disconnect(&mut self) {
        if let State::Registered(r) = &mut self.state {
            r.phone.shutdown();
            Self::drain_phone(&mut self.out, r, self.ctx, self.unix_at_start);
        }
        self.state = State::Closed;
    }

    /// Handles one input.
    ///
    /// # Errors
    /// [`SessionError::Unexpected`] for a message out of place; the session is unaffected.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), SessionError> {
        self.now = now;
        match input {
            Input::FromPhone(m) => {
                if self.is_registered() {
                    self.deadline = now + self.config.keepalive * 2;
                }
                self.on_message(now, m)
            }
            Input::Lookup(device) => {
                self.on_lookup(now, device);
                Ok(())
            }
            Input::Ua(event) => {
                self.feed_phone(now, PhoneInput::Ua(event));
                Ok(())
            }
            Input::MediaReady {
                call,
                local,
                phone_target,
            } => {
                self.feed_phone(
                    now,
                    PhoneInput::MediaReady {
                        call,
                        local,
                        phone_target,
                    },
                );
                Ok(())
            }
            Input::RemoteDtmf { call, dtmf } => {
                self.feed_phone(now, PhoneInput::RemoteDtmf { call, dtmf });
                Ok(())
            }
            Input::Reset => {
                if self.is_registered() {
                    self.send(Message::Reset(Reset {
                        reset_type: 1,
                        ..Default::default()
                    }));
                    self.close(CloseReason::Reset);
                }
                Ok(())
            }
            Input::Timeout => {
                self.on_timeout(now);
                Ok(())
            }
        }
    }

    fn unix_now(&self) -> u64 {
        self.unix_at_start
            .saturating_add(self.now.saturating_duration_since(self.started).as_secs())
    }

    fn send(&mut self, m: Message) {
        self.out.push_back(Output::ToPhone(m));
    }

    fn close(&mut self, reason: CloseReason) {
        let unix = self.unix_now();
        if let State::Registered(r) = &mut self.state {
            r.phone.shutdown();
            Self::drain_phone(&mut self.out, r, self.ctx, unix);
        }
        self.state = State::Closed;
        self.out.push_back(Output::Close(reason));
    }

    fn on_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Closed) {
            return;
        }
        if now >= self.deadline {
            let reason = if self.is_registered() {
                CloseReason::KeepAliveTimeout
            } else {
                CloseReason::RegisterTimeout
            };
            self.close(reason);
            return;
        }
        let unix = self.unix_now();
        if let State::Registered(r) = &mut self.state {
            r.phone.handle_timeout(now);
            Self::drain_phone(&mut self.out, r, self.ctx, unix);
        }
    }

    fn feed_phone(&mut self, now: Instant, input: PhoneInput) {
        let unix = self.unix_now();
        if let State::Registered(r) = &mut self.state {
            r.phone.handle(now, input);
            Self::drain_phone(&mut self.out, r, self.ctx, unix);
        } else if let PhoneInput::Ua(UaEvent::Incoming { call, .. }) = input {
            self.out
                .push_back(Output::Ua(UaCommand::Reject { call, code: 480 }));
        }
    }

    /// Turns the call logic's outputs into SCCP messages and driver work.
    fn drain_phone(out: &mut VecDeque<Output>, r: &mut Registered, ctx: Ctx, unix: u64) {
        while let Some(o) = r.phone.poll_output() {
            match o {
                PhoneOutput::Ua(c) => out.push_back(Output::Ua(c)),
                PhoneOutput::Features { line, features } => {
                    out.push_back(Output::Features {
                        line,
                        features: features.clone(),
                    });
                    if let Some(l) = r.device.lines.iter_mut().find(|l| l.id == line) {
                        l.features = features.clone();
                    }
                    out.push_back(Output::ToPhone(forward_stat(
                        ctx,
                        u32::from(line.0),
                        Some(&features),
                    )));
                }
                PhoneOutput::Show(s) => {
                    for m in render::show(&s, ctx, unix) {
                        out.push_back(Output::ToPhone(m));
                    }
                }
                PhoneOutput::Media(m) => match m {
                    MediaAction::Open {
                        call,
                        codec,
                        ptime_ms,
                        ..
                    } => {
                        let ptid = r.next_ptid;
                        r.next_ptid = r.next_ptid.wrapping_add(1).max(1);
                        r.ptids.insert(call, ptid);
                        let source = SocketAddr::from(([0, 0, 0, 0], 0));
                        out.push_back(Output::ToPhone(render::open_receive(
                            ctx, call.0, ptid, codec, ptime_ms, source,
                        )));
                    }
                    MediaAction::Transmit {
                        call,
                        to,
                        codec,
                        ptime_ms,
                        ..
                    } => {
                        let ptid = r.ptids.get(&call).copied().unwrap_or(0);
                        out.push_back(Output::ToPhone(render::start_transmission(
                            ctx, call.0, ptid, codec, ptime_ms, to,
                        )));
                    }
                    MediaAction::Stop { call, .. } => {
                        let ptid = r.ptids.remove(&call).unwrap_or(0);
                        for m in render::stop_media(call.0, ptid) {
                            out.push_back(Output::ToPhone(m));
                        }
                    }
                    other => out.push_back(Output::Media(other)),
                },
            }
        }
    }

    fn on_lookup(&mut self, now: Instant, device: Option<Box<DeviceConfig>>) {
        let State::AwaitingLookup { req } = std::mem::replace(&mut self.state, State::Closed)
        else {
            return;
        };
        let Some(device) = device else {
            self.send(Message::RegisterReject(RegisterReject {
                text: "Unknown device".into(),
                ..Default::default()
            }));
            self.out
                .push_back(Output::Close(CloseReason::UnknownDevice));
            return;
        };
        let version = codecs::sccp::negotiate(
            req.protocol_version(),
            self.config.max_version.min(MAX_VERSION),
        );
        self.ctx = Ctx::new(version);
        let keepalive = u32::try_from(self.config.keepalive.as_secs()).unwrap_or(30);
        self.send(Message::RegisterAck(RegisterAck {
            keep_alive_interval: keepalive,
            date_template: "M/D/Y".into(),
            alignment_padding: 0,
            secondary_keep_alive_interval: keepalive.saturating_mul(2),
            max_protocol_ver: version,
            ..Default::default()
        }));
        self.send(Message::CapabilitiesReq(Empty::default()));
        let mut buttons = Vec::new();
        let mut speed_dials = Vec::new();
        for key in &device.keys {
            match key {
                KeyConfig::Line(l) => {
                    buttons.push(Button::Line(u8::try_from(l.0).unwrap_or(u8::MAX)));
                }
                KeyConfig::SpeedDial { label, target } => {
                    speed_dials.push((label.clone(), target.clone()));
                    let i = u8::try_from(speed_dials.len()).unwrap_or(u8::MAX);
                    buttons.push(Button::SpeedDial(i));
                }
                KeyConfig::Blf { label, target } => {
                    speed_dials.push((label.clone(), target.clone()));
                    let i = u8::try_from(speed_dials.len()).unwrap_or(u8::MAX);
                    buttons.push(Button::Blf(i));
                }
            }
        }
        let phone = Phone::new(
            device.lines.iter().map(|l| (l.id, l.features.clone())),
            self.refs.clone(),
            self.config.interdigit,
        );
        self.out.push_back(Output::Registered {
            name: device.name.clone(),
            lines: device
                .lines
                .iter()
                .map(|l| (l.id, l.identity.clone()))
                .collect(),
        });
        self.state = State::Registered(Box::new(Registered {
            device: *device,
            phone,
            buttons,
            speed_dials,
            ptids: BTreeMap::new(),
            next_ptid: 1,
        }));
        self.deadline = now + self.config.keepalive * 2;
    }

    fn on_message(&mut self, now: Instant, m: Message) -> Result<(), SessionError> {
        let id = m.id();
        match (&self.state, m) {
            (_, Message::KeepAliveReq(_)) => {
                if matches!(self.state, State::AwaitingRegister | State::Closed) {
                    return Err(self.unexpected(id));
                }
                self.send(Message::KeepAliveAck(Empty::default()));
                Ok(())
            }
            (State::AwaitingRegister, Message::RegisterReq(req)) => {
                let name = req.device_name.to_string_lossy();
                let Some(mac) = req.mac_from_name() else {
                    self.send(Message::RegisterReject(RegisterReject {
                        text: "Bad device name".into(),
                        ..Default::default()
                    }));
                    self.state = State::Closed;
                    self.out
                        .push_back(Output::Close(CloseReason::BadDeviceName));
                    return Ok(());
                };
                self.out.push_back(Output::Lookup {
                    name,
                    mac,
                    device_type: req.device_type.0,
                    firmware: req
                        .extended
                        .as_ref()
                        .map(|e| e.firmware_load_name.to_string_lossy())
                        .unwrap_or_default(),
                });
                self.state = State::AwaitingLookup { req: Box::new(req) };
                Ok(())
            }
            // Alarms and other chatter before registration is complete.
            (
                State::AwaitingRegister | State::AwaitingLookup { .. },
                Message::EnhancedAlarm(_) | Message::Alarm(_) | Message::IpPort(_),
            ) => Ok(()),
            (State::Registered(_), m) => self.on_registered(now, m),
            (_, _) => Err(self.unexpected(id)),
        }
    }

    fn unexpected(&self, got: MessageId) -> SessionError {
        SessionError::Unexpected {
            state: self.state.name(),
            got,
        }
    }

    fn on_registered(&mut self, now: Instant, m: Message) -> Result<(), SessionError> {
        let ctx = self.ctx;
        let v2 = ctx.version >= DYNAMIC;
        let State::Registered(r) = &mut self.state else {
            return Ok(());
        };
        let line_of = |n: Option<u32>| {
            n.filter(|n| *n != 0)
                .and_then(|n| u16::try_from(n).ok())
                .map(LineId)
        };
        let call_of = |n: Option<u32>| n.filter(|n| *n != 0).map(CallRef);
        let input = match m {
            Message::CapabilitiesRes(caps) => {
                let phone_has: Vec<crate::call::Codec> = caps
                    .caps
                    .iter()
                    .filter_map(|c| render::codec_of(c.payload_capability))
                    .collect();
                let codecs = crate::call::Codec::ALL
                    .into_iter()
                    .filter(|c| phone_has.contains(c))
                    .collect::<Vec<_>>();
                if !codecs.is_empty() {
                    self.out.push_back(Output::Codecs(codecs.clone()));
                }
                r.phone.set_codecs(codecs);
                return Ok(());
            }
            Message::ButtonTemplateReq(_) => {
                let t = render::button_template(&r.buttons);
                self.send(Message::ButtonTemplateRes(t));
                return Ok(());
            }
            Message::SoftKeyTemplateReq(_) => {
                self.send(Message::SoftKeyTemplateRes(render::soft_key_template()));
                return Ok(());
            }
            Message::SoftKeySetReq(_) => {
                self.send(Message::SoftKeySetRes(render::soft_key_sets()));
                return Ok(());
            }
            Message::ConfigStatReq(_) => {
                let lines = u32::try_from(r.device.lines.len()).unwrap_or(0);
                let dials = u32::try_from(r.speed_dials.len()).unwrap_or(0);
                let reply = if v2 {
                    Message::ConfigStatV2Res(ConfigStatV2Res {
                        device_name: r.device.name.as_str().into(),
                        reserved_for_future_use: 0,
                        instance: 1,
                        number_of_lines: lines,
                        number_of_speed_dials: dials,
                        user_name: Some(r.device.user_name.as_str().into()),
                        server_name: Some(self.config.server_name.as_str().into()),
                        ..Default::default()
                    })
                } else {
                    Message::ConfigStatRes(ConfigStatRes {
                        device_name: r.device.name.as_str().into(),
                        instance: 1,
                        user_name: r.device.user_name.as_str().into(),
                        server_name: self.config.server_name.as_str().into(),
                        number_of_lines: lines,
                        number_of_speed_dials: dials,
                        ..Default::default()
                    })
                };
                self.send(reply);
                let prompt = render::show(
                    &Show::Keys {
                        line: crate::call::phone::NO_LINE,
                        call: crate::call::phone::NO_CALL,
                        set: crate::call::phone::KeySet::OnHook,
                    },
                    ctx,
                    0,
                );
                for m in prompt {
                    self.send(m);
                }
                for m in render::show(
                    &Show::Prompt {
                        line: crate::call::phone::NO_LINE,
                        call: crate::call::phone::NO_CALL,
                        text: Prompt::Options,
                    },
                    ctx,
                    0,
                ) {
                    self.send(m);
                }
                return Ok(());
            }
            Message::LineStatReq(req) => {
                let n = req.line_number;
                let line = u16::try_from(n)
                    .ok()
                    .and_then(|n| r.device.lines.iter().find(|l| l.id.0 == n));
                let (ext, name, label) = line.map_or_else(Default::default, |l| {
                    (
                        l.identity.extension.clone(),
                        l.identity.display_name.clone(),
                        l.label.clone(),
                    )
                });
                let reply = if v2 {
                    Message::LineStatV2Res(LineStatV2Res {
                        line_number: n,
                        line_type: if line.is_some() { 0xf } else { 0 },
                        line_dir_number: Some(ext.as_str().into()),
                        line_fully_qualified_display_name: Some(name.as_str().into()),
                        line_text_label: Some(label.as_str().into()),
                        ..Default::default()
                    })
                } else {
                    Message::LineStatRes(LineStatRes {
                        line_number: n,
                        line_dir_number: ext.as_str().into(),
                        line_fully_qualified_display_name: name.as_str().into(),
                        line_text_label: label.as_str().into(),
                        line_display_options: 0xf,
                        ..Default::default()
                    })
                };
                self.send(reply);
                return Ok(());
            }
            Message::ForwardStatReq(req) => {
                let features = u16::try_from(req.line_number)
                    .ok()
                    .and_then(|n| r.device.lines.iter().find(|l| l.id.0 == n))
                    .map(|l| l.features.clone());
                self.send(forward_stat(ctx, req.line_number, features.as_ref()));
                return Ok(());
            }
            Message::SpeedDialStatReq(req) => {
                let n = req.speed_dial_number;
                let (label, target) = usize::try_from(n)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| r.speed_dials.get(i))
                    .cloned()
                    .unwrap_or_default();
                let reply = if v2 {
                    Message::SpeedDialStatV2Res(SpeedDialStatV2Res {
                        speed_dial_number: n,
                        speed_dial_dir_number: Some(target.as_str().into()),
                        speed_dial_display_name: Some(label.as_str().into()),
                        ..Default::default()
                    })
                } else {
                    Message::SpeedDialStatRes(SpeedDialStatRes {
                        speed_dial_number: n,
                        speed_dial_dir_number: target.as_str().into(),
                        speed_dial_display_name: label.as_str().into(),
                        ..Default::default()
                    })
                };
                self.send(reply);
                return Ok(());
            }
            Message::FeatureStatReq(req) => {
                let i = req.feature_index;
                let blf = usize::try_from(i)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| r.buttons.get(i))
                    .and_then(|b| match b {
                        Button::Blf(n) => r.speed_dials.get(usize::from(*n).saturating_sub(1)),
                        _ => None,
                    })
                    .cloned();
                let reply = if v2 {
                    Message::FeatureStatV2Res(FeatureStatV2Res {
                        feature_index: i,
                        feature_id: ButtonType::BUSY_LAMP_FIELD_SPEEDDIAL,
                        // BLF state 1 = idle (presence arrives separately).
                        feature_status: u32::from(blf.is_some()),
                        feature_text_label: Some(VarText::from(
                            blf.as_ref().map_or("", |(l, _)| l.as_str()),
                        )),
                        ..Default::default()
                    })
                } else {
                    Message::FeatureStatRes(FeatureStatRes {
                        feature_index: i,
                        feature_id: ButtonType::BUSY_LAMP_FIELD_SPEEDDIAL,
                        feature_text_label: blf.as_ref().map_or("", |(l, _)| l.as_str()).into(),
                        feature_status: u32::from(blf.is_some()),
                        ..Default::default()
                    })
                };
                self.send(reply);
                return Ok(());
            }
            Message::ServiceURLStatReq(req) => {
                self.send(Message::ServiceURLStatRes(ServiceUrlStatRes {
                    service_url_index: req.service_url_index,
                    ..Default::default()
                }));
                return Ok(());
            }
            Message::TimeDateReq(_) => {
                let unix = self.unix_now();
                self.send(Message::TimeDateRes(render::time_date(unix)));
                // Registration is complete (what CUCM does too): the idle prompt.
                for m in render::show(
                    &Show::Prompt {
                        line: crate::call::phone::NO_LINE,
                        call: crate::call::phone::NO_CALL,
                        text: Prompt::Options,
                    },
                    ctx,
                    0,
                ) {
                    self.send(m);
                }
                return Ok(());
            }
            Message::UnregisterReq(_) => {
                self.send(Message::UnregisterAck(UnregisterAck {
                    status: 0,
                    ..Default::default()
                }));
                self.close(CloseReason::Unregistered);
                return Ok(());
            }
            Message::RegisterReq(_) => return Err(self.unexpected(MessageId::REGISTER_REQ)),
            // Accepted and ignored (sccp.md §8).
            Message::RegisterAvailableLines(_)
            | Message::IpPort(_)
            | Message::HeadsetStatus(_)
            | Message::Alarm(_)
            | Message::EnhancedAlarm(_)
            | Message::MediaPathEvent(_)
            | Message::MediaPathCapability(_)
            | Message::UpdateCapabilities(_)
            | Message::MediaResourceNotification(_)
            | Message::StartMediaTransmissionAck(_)
            | Message::ConnectionStatisticsRes(_)
            | Message::VersionReq(_)
            | Message::DeviceToUserData(_)
            | Message::DeviceToUserDataResponse(_)
            | Message::DeviceToUserDataVersion1(_)
            | Message::DeviceToUserDataResponseVersion1(_) => return Ok(()),
            Message::OffHook(h) => PhoneInput::OffHook {
                line: line_of(h.line_instance),
                call: call_of(h.call_reference),
            },
            Message::OnHook(h) => PhoneInput::OnHook {
                call: call_of(h.call_reference),
            },
            Message::HookFlash(h) => PhoneInput::Key {
                key: Key::Transfer,
                line: line_of(h.line_instance),
                call: call_of(h.call_reference),
            },
            Message::KeypadButton(k) => {
                let Some(digit) = k.digit() else {
                    return Ok(());
                };
                PhoneInput::Digit {
                    digit,
                    call: call_of(k.call_reference),
                }
            }
            Message::EnblocCall(e) => PhoneInput::Enbloc {
                line: line_of(e.line_instance),
                number: e.called_party.to_string_lossy(),
            },
            Message::SoftKeyEvent(s) => {
                let Some(key) = soft_key(s.soft_key_event) else {
                    return Ok(());
                };
                PhoneInput::Key {
                    key,
                    line: line_of(s.line_instance),
                    call: call_of(s.call_reference),
                }
            }
            Message::Stimulus(s) => {
                let instance = s.line_instance;
                match s.stimulus {
                    Stimulus::LINE => match line_of(Some(instance)) {
                        Some(line) => PhoneInput::LineKey(line),
                        None => return Ok(()),
                    },
                    Stimulus::SPEED_DIAL | Stimulus::BLF_SPEED_DIAL => {
                        let target = usize::try_from(instance)
                            .ok()
                            .and_then(|i| i.checked_sub(1))
                            .and_then(|i| r.speed_dials.get(i))
                            .map(|(_, t)| t.clone());
                        match target {
                            Some(t) if !t.is_empty() => PhoneInput::SpeedDial(t),
                            _ => return Ok(()),
                        }
                    }
                    other => {
                        let key = match other {
                            Stimulus::LAST_NUMBER_REDIAL => Key::Redial,
                            Stimulus::HOLD => Key::Hold,
                            Stimulus::TRANSFER => Key::Transfer,
                            Stimulus::FORWARD_ALL => Key::ForwardAll,
                            Stimulus::FORWARD_BUSY => Key::ForwardBusy,
                            Stimulus::FORWARD_NO_ANSWER => Key::ForwardNoAnswer,
                            Stimulus::DO_NOT_DISTURB => Key::Dnd,
                            Stimulus::NEW_CALL => Key::NewCall,
                            Stimulus::END_CALL => Key::EndCall,
                            _ => return Ok(()),
                        };
                        PhoneInput::Key {
                            key,
                            line: None,
                            call: call_of(s.call_reference),
                        }
                    }
                }
            }
            Message::OpenReceiveChannelAck(ack) => {
                if ack.media_reception_status.0 != 0 {
                    return Ok(());
                }
                let call = ack
                    .call_reference
                    .filter(|c| *c != 0)
                    .map(CallRef)
                    .or_else(|| {
                        r.ptids
                            .iter()
                            .find(|(_, p)| **p == ack.pass_thru_party_id)
                            .map(|(c, _)| *c)
                    });
                let Some(call) = call else {
                    return Ok(());
                };
                let port = u16::try_from(ack.port_number).unwrap_or(0);
                PhoneInput::PhoneRtp {
                    call,
                    addr: SocketAddr::new(ack.ip_addr.ip(), port),
                }
            }
            other => return Err(self.unexpected(other.id())),
        };
        let unix = self.unix_now();
        if let State::Registered(r) = &mut self.state {
            r.phone.handle(now, input);
            Self::drain_phone(&mut self.out, r, ctx, unix);
        }
        Ok(())
    }
}

fn soft_key(e: SoftKeyEvent) -> Option<Key> {
    Some(match e {
        SoftKeyEvent::REDIAL => Key::Redial,
        SoftKeyEvent::NEW_CALL => Key::NewCall,
        SoftKeyEvent::HOLD => Key::Hold,
        SoftKeyEvent::TRANSFER => Key::Transfer,
        SoftKeyEvent::CFWD_ALL => Key::ForwardAll,
        SoftKeyEvent::CFWD_BUSY => Key::ForwardBusy,
        SoftKeyEvent::CFWD_NO_ANSWER => Key::ForwardNoAnswer,
        SoftKeyEvent::BACK_SPACE => Key::BackSpace,
        SoftKeyEvent::END_CALL => Key::EndCall,
        SoftKeyEvent::RESUME => Key::Resume,
        SoftKeyEvent::ANSWER => Key::Answer,
        SoftKeyEvent::DND => Key::Dnd,
        SoftKeyEvent::DIAL => Key::Dial,
        _ => return None,
    })
}

fn forward_stat(_ctx: Ctx, line: u32, f: Option<&LineFeatures>) -> Message {
    let on = |o: Option<&String>| (u32::from(o.is_some()), o.map_or("", String::as_str).into());
    let (all, all_to) = on(f.and_then(|f| f.forward_all.as_ref()));
    let (busy, busy_to) = on(f.and_then(|f| f.forward_busy.as_ref()));
    let (na, na_to) = on(f.and_then(|f| f.forward_no_answer.as_ref()));
    Message::ForwardStatRes(ForwardStatRes {
        active_forward: u32::from(all + busy + na > 0),
        line_number: line,
        forward_all_active: all,
        forward_all_dirnum: all_to,
        forward_busy_active: busy,
        forward_busy_dirnum: busy_to,
        forward_no_answer_active: na,
        forward_no_answer_dirnum: na_to,
        ..Default::default()
    })
}
