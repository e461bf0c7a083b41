//! `UnistimHarness`: one UNIStim session with a fake clock, wired to a [`ScriptedPhone`] by a lossy,
//! reordering "network" under the test's control, and scripted user-agent and media sides.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use codecs::unistim::msg::Message;
use codecs::unistim::msg::key::KeyCode;
use gateway::call::phone::{LineFeatures, MediaAction};
use gateway::call::{CallRef, CallRefs, LineId, LineIdentity, UaCommand, UaEvent};
use gateway::session::sccp::{DeviceConfig, KeyConfig, LineConfig};
use gateway::session::unistim::{CloseReason, Input, Output, Session, SessionConfig};

use super::phone::{MAC, ScriptedPhone};

pub(crate) const PHONE: &str = "10.64.50.149:5000";
pub(crate) const RELAY_SIP: &str = "192.0.2.1:40000";
pub(crate) const RELAY_PHONE: &str = "192.0.2.1:40002";
pub(crate) const FAR: &str = "198.51.100.7:30000";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Carol's 1140E: line 3001 (Carol Dubois), line 3002 (Support), a speed dial to 2002.
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
        name: "SEP001365FFB02A".to_owned(),
        lines: vec![line(1, "3001", "Carol Dubois"), line(2, "3002", "Support")],
        keys: vec![
            KeyConfig::Line(LineId(1)),
            KeyConfig::Line(LineId(2)),
            KeyConfig::SpeedDial {
                label: "Bob".to_owned(),
                target: "2002".to_owned(),
            },
        ],
        user_name: "Carol Dubois".to_owned(),
    }
}

/// A tiny deterministic generator for loss and reordering.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        u32::try_from(self.0 >> 33).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u32) -> bool {
        self.next() % 100 < percent
    }
}

pub(crate) struct UnistimHarness {
    pub(crate) session: Session,
    pub(crate) phone: ScriptedPhone,
    pub(crate) now: Instant,
    pub(crate) device: Option<DeviceConfig>,
    pub(crate) refs: CallRefs,
    pub(crate) ua: Vec<UaCommand>,
    pub(crate) media: Vec<MediaAction>,
    pub(crate) features: Vec<(LineId, LineFeatures)>,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) registered: Option<Vec<(LineId, LineIdentity)>>,
    pub(crate) unregistered: usize,
    pub(crate) lookups: Vec<([u8; 6], String, Option<String>)>,
    /// Every datagram the session sent, in order.
    pub(crate) sent: Vec<Bytes>,
    pub(crate) direct: bool,
    /// Percent of datagrams lost each way, and reordered.
    pub(crate) loss: u32,
    pub(crate) reorder: u32,
    rng: Lcg,
    /// Datagrams in flight: (to the phone?, bytes).
    wire: VecDeque<(bool, Bytes)>,
    /// The phone is unplugged: nothing reaches it and it sends nothing.
    pub(crate) unplugged: bool,
    /// Report each line registered as soon as the session attaches it (a registrar that answers at
    /// once); off, the test feeds the outcomes.
    pub(crate) lines_register: bool,
}

impl UnistimHarness {
    pub(crate) fn new(device: Option<DeviceConfig>) -> Self {
        Self::with_config(device, SessionConfig::default())
    }

    pub(crate) fn with_config(device: Option<DeviceConfig>, config: SessionConfig) -> Self {
        let now = Instant::now();
        let refs = CallRefs::new();
        Self {
            session: Session::new(config, refs.clone(), 0x106, addr(PHONE), now, 1_796_115_600),
            phone: ScriptedPhone::new(MAC),
            now,
            device,
            refs,
            ua: Vec::new(),
            media: Vec::new(),
            features: Vec::new(),
            closed: None,
            registered: None,
            unregistered: 0,
            lookups: Vec::new(),
            sent: Vec::new(),
            direct: false,
            loss: 0,
            reorder: 0,
            rng: Lcg(7),
            wire: VecDeque::new(),
            unplugged: false,
            lines_register: true,
        }
    }

    /// Seeds the loss and reordering generator.
    pub(crate) fn seed(&mut self, seed: u64) {
        self.rng = Lcg(seed);
    }

    /// A connected, looked-up phone on its idle screen; what it got so far consumed.
    pub(crate) fn connected() -> Self {
        let mut h = Self::new(Some(device()));
        h.connect();
        assert!(h.session.is_registered(), "{:?}", h.session);
        h.phone.take();
        h.ua.clear();
        h
    }

    pub(crate) fn connect(&mut self) {
        let hello = self.phone.hello();
        self.put_on_wire(hello);
        self.settle();
    }

    /// Puts a datagram from the phone on the wire and lets the network settle.
    pub(crate) fn phone_sends(&mut self, d: Bytes) {
        self.put_on_wire(d);
        self.settle();
    }

    fn put_on_wire(&mut self, d: Bytes) {
        if self.unplugged {
            return;
        }
        self.wire.push_back((false, d));
    }

    pub(crate) fn key(&mut self, k: KeyCode) {
        let d = self.phone.key(k);
        self.phone_sends(d);
    }

    pub(crate) fn softkey(&mut self, n: u8) {
        self.key(KeyCode(0x14 + n));
    }

    pub(crate) fn off_hook(&mut self) {
        let d = self.phone.off_hook();
        self.phone_sends(d);
    }

    pub(crate) fn on_hook(&mut self) {
        let d = self.phone.on_hook();
        self.phone_sends(d);
    }

    pub(crate) fn dial(&mut self, digits: &str) {
        for d in self.phone.dial(digits) {
            self.phone_sends(d);
        }
    }

    pub(crate) fn input(&mut self, input: Input) {
        let _ = self.session.handle_input(self.now, input);
        self.drain();
        self.settle();
    }

    /// Delivers what is on the wire (losing and reordering some) until it is quiet; the phone re-sends
    /// its unacknowledged payloads every half second of fake time, the session its own on its timer.
    pub(crate) fn settle(&mut self) {
        for _ in 0..10_000 {
            if self.wire.is_empty() {
                // Nothing in flight: let time pass so both sides retransmit, if anything is unacked.
                let pending = !self.phone.unacked().is_empty() && !self.unplugged;
                let due = self
                    .session
                    .poll_timeout()
                    .is_some_and(|t| t <= self.now + Duration::from_millis(600));
                if !pending && !due {
                    return;
                }
                self.now += Duration::from_millis(500);
                if pending {
                    for d in self.phone.unacked() {
                        self.wire.push_back((false, d));
                    }
                }
                self.timeouts();
                continue;
            }
            if self.reorder > 0 && self.wire.len() > 1 && self.rng.chance(self.reorder) {
                self.wire.swap(0, 1);
            }
            let Some((to_phone, d)) = self.wire.pop_front() else {
                continue;
            };
            if self.loss > 0 && self.rng.chance(self.loss) {
                continue;
            }
            if to_phone {
                if self.unplugged {
                    continue;
                }
                for r in self.phone.receive(&d) {
                    self.wire.push_back((false, r));
                }
            } else {
                let _ = self.session.handle_input(self.now, Input::Datagram(d));
                self.drain();
            }
        }
        panic!("the network never settled");
    }

    fn timeouts(&mut self) {
        while let Some(t) = self.session.poll_timeout() {
            if t > self.now {
                break;
            }
            let _ = self.session.handle_input(self.now, Input::Timeout);
            self.drain();
            if self.session.is_closed() {
                break;
            }
        }
    }

    /// Moves the clock, firing timeouts and delivering what they send.
    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.session.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            let _ = self.session.handle_input(self.now, Input::Timeout);
            self.drain();
            self.settle();
            if self.session.is_closed() {
                break;
            }
        }
        self.now = self.now.max(end);
    }

    pub(crate) fn drain(&mut self) {
        let mut pending = Vec::new();
        loop {
            while let Some(o) = self.session.poll_output() {
                match o {
                    Output::Transmit(d) => {
                        self.sent.push(d.clone());
                        self.wire.push_back((true, d));
                    }
                    Output::Lookup {
                        mac,
                        firmware,
                        model_guess,
                    } => {
                        self.lookups.push((mac, firmware, model_guess));
                        pending.push(Input::Lookup(self.device.clone().map(Box::new)));
                    }
                    Output::Registered { lines, .. } => {
                        if self.lines_register {
                            pending.extend(
                                lines.iter().map(|(line, _)| {
                                    Input::Ua(UaEvent::Registered { line: *line })
                                }),
                            );
                        }
                        self.registered = Some(lines);
                    }
                    Output::Unregistered => self.unregistered += 1,
                    Output::Ua(c) => self.ua.push(c),
                    Output::Media(MediaAction::Allocate { call }) => {
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

    pub(crate) fn take(&mut self) -> Vec<Message> {
        self.phone.take()
    }

    pub(crate) fn take_ua(&mut self) -> Vec<UaCommand> {
        std::mem::take(&mut self.ua)
    }

    pub(crate) fn take_media(&mut self) -> Vec<MediaAction> {
        std::mem::take(&mut self.media)
    }

    pub(crate) fn last_invite(&self) -> Option<(CallRef, String)> {
        self.ua.iter().rev().find_map(|c| match c {
            UaCommand::Invite { call, target, .. } => Some((*call, target.clone())),
            _ => None,
        })
    }
}
