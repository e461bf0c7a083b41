//! `SessionHarness`: one SCCP session with a fake clock, a scripted phone and scripted user agent and
//! media sides; every message to the phone is kept (and encoded, so a capture of it can be decoded by
//! tshark).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use codecs::sccp::msg::{CapabilitiesRes, MediaCap, OffHook, OnHook, RegisterReq, RegisterTail};
use codecs::sccp::msg::{KeypadButton, SoftKeyEventMsg};
use codecs::sccp::{Ctx, DeviceType, KeypadKey, Message, MessageId, PayloadType, SoftKeyEvent};
use gateway::call::phone::{LineFeatures, MediaAction};
use gateway::call::{
    CallRef, CallRefs, Codec, Direction, LineId, LineIdentity, MediaDescription, UaCommand, UaEvent,
};
use gateway::session::sccp::{
    CloseReason, DeviceConfig, Input, KeyConfig, LineConfig, Output, Session, SessionConfig,
};

/// The relay ports the scripted media side hands out: SIP leg, phone leg.
pub(crate) const RELAY_SIP: &str = "192.0.2.1:40000";
pub(crate) const RELAY_PHONE: &str = "192.0.2.1:40002";
/// The far end's RTP address.
pub(crate) const FAR: &str = "198.51.100.7:30000";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Alice's 7970 with two lines (2001 Alice, 2003 Sales), a speed dial to Bob and a busy-lamp key for Carol.
pub(crate) fn device() -> DeviceConfig {
    let line = |n: u16, ext: &str, name: &str| LineConfig {
        id: LineId(n),
        identity: LineIdentity {
            extension: ext.to_owned(),
            domain: "acme.example.com".to_owned(),
            display_name: name.to_owned(),
            ha1: None,
        },
        label: ext.to_owned(),
        features: LineFeatures::default(),
    };
    DeviceConfig {
        name: "SEP0004F2AABBCC".to_owned(),
        lines: vec![line(1, "2001", "Alice Martin"), line(2, "2003", "Sales")],
        keys: vec![
            KeyConfig::Line(LineId(1)),
            KeyConfig::Line(LineId(2)),
            KeyConfig::SpeedDial {
                label: "Bob".to_owned(),
                target: "2002".to_owned(),
            },
            KeyConfig::Blf {
                label: "Carol".to_owned(),
                target: "2004".to_owned(),
            },
        ],
        user_name: "Alice Martin".to_owned(),
    }
}

pub(crate) fn far_media(codec: Codec) -> MediaDescription {
    MediaDescription {
        rtp: addr(FAR),
        codec,
        payload_type: codec.payload_type(),
        ptime_ms: 20,
        telephone_event: Some(101),
        direction: Direction::SendRecv,
    }
}

pub(crate) fn register_req(name: &str, version: u8) -> RegisterReq {
    RegisterReq {
        device_name: name.into(),
        station_ip_addr: codecs::sccp::types::Ip4([10, 0, 0, 5]),
        device_type: DeviceType(30006),
        max_streams: 5,
        tail: Some(RegisterTail {
            protocol_ver: version,
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) struct SessionHarness {
    pub(crate) session: Session,
    pub(crate) now: Instant,
    pub(crate) device: Option<DeviceConfig>,
    pub(crate) refs: CallRefs,
    /// Every message sent to the phone, in order.
    pub(crate) sent: Vec<Message>,
    /// The encoded bytes of `sent`.
    pub(crate) wire: BytesMut,
    /// Messages not yet looked at by the test.
    pub(crate) fresh: Vec<Message>,
    pub(crate) ua: Vec<UaCommand>,
    pub(crate) media: Vec<MediaAction>,
    pub(crate) features: Vec<(LineId, LineFeatures)>,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) registered: Option<Vec<(LineId, LineIdentity)>>,
    pub(crate) lookups: usize,
    /// Answer MediaAction::Allocate by itself (relay mode).
    pub(crate) auto_media: bool,
    /// Direct mode: no phone target.
    pub(crate) direct: bool,
}

impl SessionHarness {
    pub(crate) fn new(device: Option<DeviceConfig>) -> Self {
        Self::with_config(device, SessionConfig::default())
    }

    pub(crate) fn with_config(device: Option<DeviceConfig>, config: SessionConfig) -> Self {
        let now = Instant::now();
        let refs = CallRefs::new();
        Self {
            session: Session::new(config, refs.clone(), now, 1_796_115_600),
            now,
            device,
            refs,
            sent: Vec::new(),
            wire: BytesMut::new(),
            fresh: Vec::new(),
            ua: Vec::new(),
            media: Vec::new(),
            features: Vec::new(),
            closed: None,
            registered: None,
            lookups: 0,
            auto_media: true,
            direct: false,
        }
    }

    /// A registered phone at `version` with G.711 and G.729, its registration messages consumed.
    pub(crate) fn registered(version: u8) -> Self {
        let mut h = Self::new(Some(device()));
        h.register(version);
        h.take();
        h.ua.clear();
        h
    }

    pub(crate) fn register(&mut self, version: u8) {
        self.phone(Message::RegisterReq(register_req(
            "SEP0004F2AABBCC",
            version,
        )));
        self.phone(Message::CapabilitiesRes(CapabilitiesRes::new(vec![
            MediaCap {
                payload_capability: PayloadType::G711_ULAW64K,
                max_frames_per_packet: 40,
                ..Default::default()
            },
            MediaCap {
                payload_capability: PayloadType::G711_ALAW64K,
                max_frames_per_packet: 40,
                ..Default::default()
            },
            MediaCap {
                payload_capability: PayloadType::G729_ANNEX_A,
                max_frames_per_packet: 60,
                ..Default::default()
            },
        ])));
    }

    /// Feeds a message from the phone, passed through its wire form first.
    pub(crate) fn phone(&mut self, m: Message) {
        let ctx = self.session.ctx();
        let frame = m.to_frame(ctx);
        let m = Message::from_frame(&frame, ctx).expect("the phone's message decodes");
        let _ = self.session.handle_input(self.now, Input::FromPhone(m));
        self.drain();
    }

    pub(crate) fn input(&mut self, input: Input) {
        let _ = self.session.handle_input(self.now, input);
        self.drain();
    }

    pub(crate) fn ua_event(&mut self, e: UaEvent) {
        self.input(Input::Ua(e));
    }

    /// Moves the clock, firing timeouts that fall due.
    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.session.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.input(Input::Timeout);
            if self.session.is_closed() {
                break;
            }
        }
        self.now = end;
    }

    pub(crate) fn drain(&mut self) {
        let mut pending = Vec::new();
        loop {
            while let Some(o) = self.session.poll_output() {
                match o {
                    Output::ToPhone(m) => {
                        m.encode_frame(self.session.ctx(), &mut self.wire);
                        self.sent.push(m.clone());
                        self.fresh.push(m);
                    }
                    Output::Lookup { .. } => {
                        self.lookups += 1;
                        pending.push(Input::Lookup(self.device.clone().map(Box::new)));
                    }
                    Output::Registered { lines, .. } => self.registered = Some(lines),
                    Output::Ua(c) => self.ua.push(c),
                    Output::Media(MediaAction::Allocate { call }) if self.auto_media => {
                        self.media.push(MediaAction::Allocate { call });
                        pending.push(Input::MediaReady {
                            call,
                            local: addr(RELAY_SIP),
                            phone_target: (!self.direct).then(|| addr(RELAY_PHONE)),
                        });
                    }
                    Output::Media(a) => self.media.push(a),
                    Output::Features { line, features } => self.features.push((line, features)),
                    Output::Close(r) => self.closed = Some(r),
                    _ => {}
                }
            }
            if pending.is_empty() {
                return;
            }
            for i in pending.drain(..) {
                let _ = self.session.handle_input(self.now, i);
            }
        }
    }

    /// The fresh messages, consumed.
    pub(crate) fn take(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.fresh)
    }

    /// The ids of the fresh messages, consumed.
    pub(crate) fn take_ids(&mut self) -> Vec<MessageId> {
        self.take().iter().map(Message::id).collect()
    }

    pub(crate) fn take_ua(&mut self) -> Vec<UaCommand> {
        std::mem::take(&mut self.ua)
    }

    pub(crate) fn take_media(&mut self) -> Vec<MediaAction> {
        std::mem::take(&mut self.media)
    }

    pub(crate) fn ctx(&self) -> Ctx {
        self.session.ctx()
    }

    // ---- scripted phone actions ----

    pub(crate) fn off_hook(&mut self) {
        self.phone(Message::OffHook(OffHook {
            line_instance: Some(0),
            call_reference: Some(0),
            ..Default::default()
        }));
    }

    pub(crate) fn on_hook(&mut self) {
        self.phone(Message::OnHook(OnHook {
            line_instance: Some(0),
            call_reference: Some(0),
            ..Default::default()
        }));
    }

    pub(crate) fn dial(&mut self, digits: &str) {
        for d in digits.chars() {
            let key = match d {
                '0'..='9' => KeypadKey(d.to_digit(10).unwrap()),
                '*' => KeypadKey::STAR,
                '#' => KeypadKey::POUND,
                _ => panic!("digit {d}"),
            };
            self.phone(Message::KeypadButton(KeypadButton {
                kp_button: key,
                line_instance: Some(1),
                call_reference: Some(0),
                ..Default::default()
            }));
        }
    }

    pub(crate) fn soft_key(&mut self, event: SoftKeyEvent, line: u32, call: CallRef) {
        self.phone(Message::SoftKeyEvent(SoftKeyEventMsg {
            soft_key_event: event,
            line_instance: Some(line),
            call_reference: Some(call.0),
            ..Default::default()
        }));
    }

    /// The call of the last `UaCommand::Invite`.
    pub(crate) fn last_invite(&self) -> Option<(CallRef, String)> {
        self.ua.iter().rev().find_map(|c| match c {
            UaCommand::Invite { call, target, .. } => Some((*call, target.clone())),
            _ => None,
        })
    }
}

/// The messages' ids.
pub(crate) fn ids(ms: &[Message]) -> Vec<MessageId> {
    ms.iter().map(Message::id).collect()
}

/// True if `needle` occurs in order (not necessarily adjacent) within `hay`.
pub(crate) fn in_order(hay: &[MessageId], needle: &[MessageId]) -> bool {
    let mut it = hay.iter();
    needle.iter().all(|n| it.any(|h| h == n))
}
