//! The protocol-neutral call logic of one legacy device: every line and call of a phone, driven by what
//! the user does (hook, keys, soft keys, line keys, digits) and by what the line user agents report
//! ([`UaEvent`](crate::call::UaEvent)), answering with [`UaCommand`]s, media actions and neutral "show this on the phone"
//! outputs that the protocol session (SCCP now, UNIStim next) turns into its own messages.
//!
//! Sans-IO like the sessions: [`Phone::handle`] takes the time and one [`PhoneInput`]; the caller then
//! drains [`Phone::poll_output`] until it returns `None` and sleeps until [`Phone::poll_timeout`].
//!
//! ```text
//!  per call:                 digits, '#' or interdigit
//!   (none) --off-hook--> Dialing{digits} ----------------> Proceeding --180/183--> (ringback / early media)
//!      |                                                       |  2xx
//!      |--Incoming--> Ringing --answer--> Connected <----------+
//!      |                 | no answer / reject / CANCEL   | hold ^ resume
//!      |                 v                               v      |
//!      |              (none)                            Held ---+
//!      |      4xx-6xx on Proceeding --> Releasing (busy/reorder tone until on-hook)
//!   on-hook / BYE from either side --> (none)
//! ```
//!
//! Media: when a call needs our media address (before an INVITE or an answer) the logic asks for it
//! with [`MediaAction::Allocate`]; the driver replies with [`PhoneInput::MediaReady`] (relay ports, or
//! the phone's own address in direct mode). The phone is told to receive ([`MediaAction::Open`]) and to
//! send ([`MediaAction::Transmit`]) once the far end's media is known.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod events;
mod features;
mod io;

pub use io::{
    CallDisplay, ForwardKind, Key, KeySet, Lamp, LineFeatures, MediaAction, PhoneInput,
    PhoneOutput, Prompt, Ring, Show, ShownState, ToneKind,
};

use super::types::{
    CallRef, CallRefs, Codec, Direction, Dtmf, LineId, MediaDescription, MediaOffer, UaCommand,
};

/// "No line": a message for the whole device.
pub const NO_LINE: LineId = LineId(0);
/// "No call".
pub const NO_CALL: CallRef = CallRef(0);

/// How long an incoming call rings before it is forwarded (call forward no answer) or refused with 480.
pub const RING_NO_ANSWER: Duration = Duration::from_secs(30);

/// Packetisation used for every call.
pub const PTIME_MS: u16 = 20;

/// The RFC 4733 payload type Crossbar offers.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// What a call is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallState {
    /// Collecting digits.
    Dialing {
        /// Digits so far.
        digits: String,
    },
    /// Dialled: waiting for media, then for the far end.
    Proceeding {
        /// What was dialled.
        target: String,
        /// Whether the INVITE has gone.
        invited: bool,
    },
    /// Ringing here.
    Ringing {
        /// Answered by the user, waiting for our media address.
        answering: bool,
        /// Ringing as a second call (call waiting).
        waiting: bool,
    },
    /// Talking.
    Connected,
    /// Held by us.
    Held,
    /// Failed or ended; the phone plays a tone until it goes on-hook.
    Releasing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Call,
    Forward(ForwardKind),
}

#[derive(Debug, Clone)]
struct Local {
    sdp: SocketAddr,
    phone_target: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
struct Call {
    line: LineId,
    state: CallState,
    purpose: Purpose,
    display: CallDisplay,
    local: Option<Local>,
    remote: Option<MediaDescription>,
    media_open: bool,
    /// Direct mode: the receive channel was opened in this codec before our SDP (whose address is
    /// the phone's own, from the channel's acknowledgement); the phone has not been told to send yet.
    direct: Option<Codec>,
    direct_transmit_pending: bool,
    remote_hold: bool,
    /// This call is the consultation leg of a transfer of that call.
    transfer_of: Option<CallRef>,
    deadline: Option<Instant>,
}

impl Call {
    fn new(line: LineId, state: CallState) -> Self {
        Self {
            line,
            state,
            purpose: Purpose::Call,
            display: CallDisplay::default(),
            local: None,
            remote: None,
            media_open: false,
            direct: None,
            direct_transmit_pending: false,
            remote_hold: false,
            transfer_of: None,
            deadline: None,
        }
    }
}

/// The calls of one device.
#[derive(Debug)]
pub struct Phone {
    refs: CallRefs,
    interdigit: Duration,
    lines: BTreeMap<LineId, LineFeatures>,
    calls: BTreeMap<CallRef, Call>,
    active: Option<CallRef>,
    off_hook: bool,
    codecs: Vec<Codec>,
    last_dialed: Option<String>,
    out: std::collections::VecDeque<PhoneOutput>,
}

impl Phone {
    /// A phone with these lines (and their stored features), allocating call references from `refs`.
    pub fn new(
        lines: impl IntoIterator<Item = (LineId, LineFeatures)>,
        refs: CallRefs,
        interdigit: Duration,
    ) -> Self {
        Self {
            refs,
            interdigit,
            lines: lines.into_iter().collect(),
            calls: BTreeMap::new(),
            active: None,
            off_hook: false,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            last_dialed: None,
            out: std::collections::VecDeque::new(),
        }
    }

    /// The codecs the phone can use, preferred first (from its capabilities); ignored when empty.
    pub fn set_codecs(&mut self, codecs: Vec<Codec>) {
        if !codecs.is_empty() {
            self.codecs = codecs;
        }
    }

    /// The phone's codecs.
    pub fn codecs(&self) -> &[Codec] {
        &self.codecs
    }

    /// A line's features.
    pub fn features(&self, line: LineId) -> Option<&LineFeatures> {
        self.lines.get(&line)
    }

    /// The state of a call.
    pub fn call_state(&self, call: CallRef) -> Option<&CallState> {
        self.calls.get(&call).map(|c| &c.state)
    }

    /// The device's calls.
    pub fn calls(&self) -> impl Iterator<Item = (CallRef, LineId, &CallState)> {
        self.calls.iter().map(|(r, c)| (*r, c.line, &c.state))
    }

    /// The call the handset is on.
    pub fn active(&self) -> Option<CallRef> {
        self.active
    }

    /// The next output.
    pub fn poll_output(&mut self) -> Option<PhoneOutput> {
        self.out.pop_front()
    }

    /// The earliest deadline of any call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.calls.values().filter_map(|c| c.deadline).min()
    }

    /// Ends every call (the phone went away): hang up what the user agents hold and free media.
    pub fn shutdown(&mut self) {
        let calls: Vec<CallRef> = self.calls.keys().copied().collect();
        for call in calls {
            if let Some(c) = self.calls.remove(&call) {
                self.hangup_ua(call, &c);
                self.media(MediaAction::Release { call });
            }
        }
        self.active = None;
    }

    /// Handles one input at `now`; drain [`Phone::poll_output`] afterwards.
    pub fn handle(&mut self, now: Instant, input: PhoneInput) {
        match input {
            PhoneInput::OffHook { line, call } => self.on_off_hook(now, line, call),
            PhoneInput::OnHook { call } => self.on_on_hook(call),
            PhoneInput::Digit { digit, call } => self.on_digit(now, digit, call),
            PhoneInput::Enbloc { line, number } => {
                let line = self.line_or_default(line);
                self.place(now, line, number);
            }
            PhoneInput::Key { key, line, call } => self.on_key(now, key, line, call),
            PhoneInput::LineKey(line) => self.on_line_key(now, line),
            PhoneInput::SpeedDial(target) => {
                let line = self.line_or_default(None);
                self.place(now, line, target);
            }
            PhoneInput::PhoneRtp { call, addr } => {
                if let Some(c) = self.calls.get(&call) {
                    let direct_wait = c.direct.is_some() && c.local.is_none();
                    self.media(MediaAction::PhoneAddr { call, addr });
                    if direct_wait {
                        // Direct mode: the phone's own receive address is our SDP's.
                        self.on_media_ready(call, addr, None);
                    }
                }
            }
            PhoneInput::MediaReady {
                call,
                local,
                phone_target,
            } => self.on_media_ready(call, local, phone_target),
            PhoneInput::RemoteDtmf { call, dtmf } => self.play_dtmf(call, dtmf),
            PhoneInput::Ua(event) => self.on_ua(now, event),
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(r, _)| *r)
            .collect();
        for call in due {
            let Some(c) = self.calls.get_mut(&call) else {
                continue;
            };
            c.deadline = None;
            match c.state.clone() {
                CallState::Dialing { digits } if !digits.is_empty() => self.dial_done(call),
                CallState::Ringing { .. } => {
                    let line = c.line;
                    match self.forward_target(line, ForwardKind::NoAnswer) {
                        Some(target) => self.redirect(call, target),
                        None => self.refuse(call, 480),
                    }
                }
                _ => {}
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------

    fn show(&mut self, s: Show) {
        self.out.push_back(PhoneOutput::Show(s));
    }

    fn ua(&mut self, c: UaCommand) {
        self.out.push_back(PhoneOutput::Ua(c));
    }

    fn media(&mut self, m: MediaAction) {
        self.out.push_back(PhoneOutput::Media(m));
    }

    fn line_or_default(&self, line: Option<LineId>) -> LineId {
        line.filter(|l| self.lines.contains_key(l))
            .or_else(|| self.lines.keys().next().copied())
            .unwrap_or(LineId(1))
    }

    fn offer(&self, call: CallRef, direction: Direction) -> Option<MediaOffer> {
        let c = self.calls.get(&call)?;
        let local = c.local.as_ref()?;
        Some(MediaOffer {
            rtp: local.sdp,
            // Direct mode: only the codec the phone's receive channel was opened in.
            codecs: c
                .direct
                .map_or_else(|| self.codecs.clone(), |codec| vec![codec]),
            ptime_ms: PTIME_MS,
            telephone_event: Some(TELEPHONE_EVENT_PT),
            direction,
        })
    }

    fn ringing_call(&self) -> Option<CallRef> {
        self.calls
            .iter()
            .find(|(_, c)| {
                matches!(
                    c.state,
                    CallState::Ringing {
                        answering: false,
                        ..
                    }
                )
            })
            .map(|(r, _)| *r)
    }

    fn forward_target(&self, line: LineId, kind: ForwardKind) -> Option<String> {
        let f = self.lines.get(&line)?;
        match kind {
            ForwardKind::All => f.forward_all.clone(),
            ForwardKind::Busy => f.forward_busy.clone(),
            ForwardKind::NoAnswer => f.forward_no_answer.clone(),
        }
    }

    fn hangup_ua(&mut self, call: CallRef, c: &Call) {
        match &c.state {
            CallState::Dialing { .. } | CallState::Releasing => {}
            CallState::Proceeding { invited: false, .. } => {}
            CallState::Ringing { .. } => self.ua(UaCommand::Reject { call, code: 486 }),
            _ => self.ua(UaCommand::Hangup { call }),
        }
    }

    /// Shows the phone idle after `call` (on `line`) ended, unless other calls remain.
    fn show_call_gone(&mut self, line: LineId, call: CallRef) {
        self.show(Show::StopTone { line, call });
        let line_busy = self.calls.values().any(|c| c.line == line);
        if !line_busy {
            self.show(Show::Lamp {
                line,
                lamp: Lamp::Off,
            });
        }
        let idle = self.calls.is_empty();
        if idle {
            self.show(Show::ClearPrompt { line, call });
        }
        self.show(Show::State {
            line,
            call,
            state: ShownState::OnHook,
        });
        if idle {
            self.show(Show::Keys {
                line: NO_LINE,
                call: NO_CALL,
                set: KeySet::OnHook,
            });
            self.show(Show::Clock);
            self.show(Show::Speaker(false));
            self.show(Show::Ringer {
                line: NO_LINE,
                call: NO_CALL,
                ring: Ring::Off,
            });
        }
    }

    /// Removes a call (already hung up with the user agents, or never known to them).
    fn drop_call(&mut self, call: CallRef) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        if c.media_open {
            self.media(MediaAction::Stop { line: c.line, call });
        }
        self.media(MediaAction::Release { call });
        if self.active == Some(call) {
            self.active = None;
        }
        self.show_call_gone(c.line, call);
        // A ringing call waiting behind the one that ended rings for real now.
        if self.active.is_none()
            && let Some(waiting) = self.ringing_call()
            && let Some(w) = self.calls.get_mut(&waiting)
        {
            w.state = CallState::Ringing {
                answering: false,
                waiting: false,
            };
            let line = w.line;
            self.show(Show::Ringer {
                line,
                call: waiting,
                ring: Ring::Inside,
            });
        }
    }

    fn end(&mut self, call: CallRef) {
        if let Some(c) = self.calls.get(&call).cloned() {
            self.hangup_ua(call, &c);
            self.drop_call(call);
        }
    }

    // ---- placing calls -------------------------------------------------------------------------

    /// Starts dial tone on `line` as a new call (holding any connected one).
    fn new_dialing(&mut self, line: LineId, purpose: Purpose) -> CallRef {
        if let Some(active) = self.active
            && matches!(
                self.calls.get(&active).map(|c| &c.state),
                Some(CallState::Connected)
            )
        {
            self.hold(active);
        }
        let call = self.refs.next();
        let mut c = Call::new(
            line,
            CallState::Dialing {
                digits: String::new(),
            },
        );
        c.purpose = purpose;
        self.calls.insert(call, c);
        self.active = Some(call);
        if !self.off_hook {
            self.show(Show::Speaker(true));
        }
        self.show(Show::Lamp {
            line,
            lamp: Lamp::On,
        });
        self.show(Show::State {
            line,
            call,
            state: ShownState::OffHook,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::OffHook,
        });
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::EnterNumber,
        });
        self.show(Show::ActivateLine(line));
        self.show(Show::Tone {
            line,
            call,
            tone: ToneKind::Dial,
        });
        call
    }

    /// A call to `number` without dial tone (redial, speed dial, enbloc).
    fn place(&mut self, _now: Instant, line: LineId, number: String) {
        if number.is_empty() {
            return;
        }
        let call = match self.active {
            Some(a)
                if matches!(
                    self.calls.get(&a).map(|c| &c.state),
                    Some(CallState::Dialing { .. })
                ) =>
            {
                a
            }
            _ => self.new_dialing(line, Purpose::Call),
        };
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Dialing { digits: number };
        }
        let line = self.calls.get(&call).map_or(line, |c| c.line);
        self.show(Show::StopTone { line, call });
        self.dial_done(call);
    }

    /// Dialing ended ('#', the interdigit timer, Dial, or a whole number).
    fn dial_done(&mut self, call: CallRef) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let CallState::Dialing { digits } = &c.state else {
            return;
        };
        let digits = digits.clone();
        c.deadline = None;
        let line = c.line;
        if let Purpose::Forward(kind) = c.purpose {
            // The number entered is the forward target.
            self.calls.remove(&call);
            self.active = None;
            self.set_forward(line, kind, Some(digits.clone()));
            self.show_call_gone(line, call);
            self.show(Show::Notify(Prompt::ForwardedTo(digits)));
            return;
        }
        c.state = CallState::Proceeding {
            target: digits.clone(),
            invited: false,
        };
        c.display = CallDisplay {
            inbound: false,
            called_number: digits.clone(),
            ..CallDisplay::default()
        };
        let display = c.display.clone();
        self.last_dialed = Some(digits.clone());
        self.show(Show::Dialed {
            line,
            call,
            number: digits,
        });
        self.show(Show::State {
            line,
            call,
            state: ShownState::Proceed,
        });
        self.show(Show::Info {
            line,
            call,
            info: display,
        });
        self.media(MediaAction::Allocate { call });
    }

    fn on_media_ready(
        &mut self,
        call: CallRef,
        local: SocketAddr,
        phone_target: Option<SocketAddr>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            // The call ended before its media was ready.
            self.media(MediaAction::Release { call });
            return;
        };
        if phone_target.is_none() && local.port() == 0 {
            // Direct mode: the phone's RTP port is only known once its receive channel is open, so
            // open it now, before the SDP must go out (before the INVITE, or the 200), in the codec
            // the far end offered or else the phone's preferred one; its acknowledgement
            // (`PhoneRtp`) carries the address for our SDP.
            let codec = c
                .remote
                .as_ref()
                .map(|r| r.codec)
                .or_else(|| self.codecs.first().copied())
                .unwrap_or(Codec::Pcmu);
            if matches!(
                c.state,
                CallState::Ringing {
                    answering: false,
                    ..
                }
            ) {
                // Not while it rings: answering asks again, and the channel opens then.
                return;
            }
            if c.direct.is_none() {
                c.direct = Some(codec);
                c.media_open = true;
                c.direct_transmit_pending = true;
                let line = c.line;
                self.media(MediaAction::Open {
                    line,
                    call,
                    codec,
                    ptime_ms: PTIME_MS,
                });
            }
            return;
        }
        c.local = Some(Local {
            sdp: local,
            phone_target,
        });
        let line = c.line;
        match c.state.clone() {
            CallState::Proceeding {
                target,
                invited: false,
            } => {
                c.state = CallState::Proceeding {
                    target: target.clone(),
                    invited: true,
                };
                if let Some(offer) = self.offer(call, Direction::SendRecv) {
                    self.ua(UaCommand::Invite {
                        call,
                        line,
                        target,
                        offer,
                    });
                }
            }
            CallState::Ringing {
                answering: true, ..
            } => self.connect_answered(call),
            _ => {}
        }
    }

    /// Tells the phone to receive and send the call's media, once both ends are known.
    fn open_media(&mut self, call: CallRef) {
        if self.open_receive(call) || self.take_direct_transmit(call) {
            self.open_transmit(call);
        }
    }

    /// Direct mode: the receive channel opened before the SDP, and the far end now known; true once.
    fn take_direct_transmit(&mut self, call: CallRef) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let ready = c.direct_transmit_pending
            && c.local.is_some()
            && c.remote.as_ref().is_some_and(|r| r.rtp.port() != 0);
        if ready {
            c.direct_transmit_pending = false;
        }
        ready
    }

    /// The receive half (OpenReceiveChannel); true if it was opened now.
    fn open_receive(&mut self, call: CallRef) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let (Some(_), Some(remote)) = (&c.local, &c.remote) else {
            return false;
        };
        if c.media_open || remote.rtp.port() == 0 {
            return false;
        }
        c.media_open = true;
        let (line, codec, ptime_ms) = (c.line, remote.codec, remote.ptime_ms);
        self.media(MediaAction::Open {
            line,
            call,
            codec,
            ptime_ms,
        });
        true
    }

    /// The send half (StartMediaTransmission), and the far end's address to the relay.
    fn open_transmit(&mut self, call: CallRef) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let (Some(local), Some(remote)) = (c.local.clone(), c.remote.clone()) else {
            return;
        };
        let line = c.line;
        self.media(MediaAction::Remote {
            call,
            media: remote.clone(),
        });
        self.media(MediaAction::Transmit {
            line,
            call,
            to: local.phone_target.unwrap_or(remote.rtp),
            codec: remote.codec,
            ptime_ms: remote.ptime_ms,
        });
    }

    fn close_media(&mut self, call: CallRef) {
        if let Some(c) = self.calls.get_mut(&call)
            && c.media_open
        {
            c.media_open = false;
            c.direct_transmit_pending = false;
            let line = c.line;
            self.media(MediaAction::Stop { line, call });
        }
    }

    // ---- phone inputs ---------------------------------------------------------------------------

    fn on_off_hook(&mut self, now: Instant, line: Option<LineId>, call: Option<CallRef>) {
        self.off_hook = true;
        if let Some(call) = call.filter(|c| self.calls.contains_key(c)) {
            if matches!(
                self.calls.get(&call).map(|c| &c.state),
                Some(CallState::Ringing { .. })
            ) {
                self.answer(call);
            }
            return;
        }
        if self.active.is_some() {
            return;
        }
        if let Some(ringing) = self.ringing_call() {
            self.answer(ringing);
            return;
        }
        let line = self.line_or_default(line);
        let _ = now;
        self.new_dialing(line, Purpose::Call);
    }

    fn on_on_hook(&mut self, call: Option<CallRef>) {
        self.off_hook = false;
        let target = call.filter(|c| self.calls.contains_key(c)).or(self.active);
        match target {
            Some(call)
                if !matches!(
                    self.calls.get(&call).map(|c| &c.state),
                    Some(CallState::Ringing { .. })
                ) =>
            {
                self.end(call);
            }
            _ => {
                if self.calls.is_empty() {
                    self.show(Show::Speaker(false));
                }
            }
        }
    }

    fn on_digit(&mut self, now: Instant, digit: char, call: Option<CallRef>) {
        let target = call.filter(|c| self.calls.contains_key(c)).or(self.active);
        let Some(call) = target else {
            // On-hook dialing: the first digit opens a call on the default line.
            let line = self.line_or_default(None);
            let call = self.new_dialing(line, Purpose::Call);
            self.add_digit(now, call, digit);
            return;
        };
        match self.calls.get(&call).map(|c| c.state.clone()) {
            Some(CallState::Dialing { .. }) => self.add_digit(now, call, digit),
            Some(CallState::Connected | CallState::Proceeding { .. }) => {
                let dtmf = Dtmf {
                    digit,
                    duration_ms: 100,
                };
                let relayed = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.local.as_ref())
                    .is_some_and(|l| l.phone_target.is_some());
                if relayed {
                    self.media(MediaAction::SendDtmf { call, dtmf });
                } else {
                    self.ua(UaCommand::Info { call, dtmf });
                }
            }
            _ => {}
        }
    }

    fn add_digit(&mut self, now: Instant, call: CallRef, digit: char) {
        let interdigit = self.interdigit;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let CallState::Dialing { digits } = &mut c.state else {
            return;
        };
        let first = digits.is_empty();
        let line = c.line;
        if digit == '#' && !first {
            c.deadline = None;
            self.dial_done(call);
            return;
        }
        digits.push(digit);
        c.deadline = Some(now + interdigit);
        if first {
            self.show(Show::StopTone { line, call });
            self.show(Show::Keys {
                line,
                call,
                set: KeySet::DigitsFollowing,
            });
        }
    }

    fn on_key(&mut self, now: Instant, key: Key, line: Option<LineId>, call: Option<CallRef>) {
        let call = call.filter(|c| self.calls.contains_key(c));
        match key {
            Key::Redial => {
                if let Some(number) = self.last_dialed.clone() {
                    let line = self.line_or_default(line);
                    self.place(now, line, number);
                }
            }
            Key::NewCall => {
                if self
                    .active
                    .and_then(|a| self.calls.get(&a))
                    .is_some_and(|c| matches!(c.state, CallState::Dialing { .. }))
                {
                    return;
                }
                let line = self.line_or_default(line);
                self.new_dialing(line, Purpose::Call);
            }
            Key::Hold => {
                if let Some(call) = call.or(self.active) {
                    self.hold(call);
                }
            }
            Key::Resume => {
                let held = call.or_else(|| {
                    self.calls
                        .iter()
                        .find(|(_, c)| c.state == CallState::Held)
                        .map(|(r, _)| *r)
                });
                if let Some(call) = held {
                    self.resume(call);
                }
            }
            Key::Transfer => self.transfer(now, call.or(self.active)),
            Key::ForwardAll => self.forward_key(line, ForwardKind::All),
            Key::ForwardBusy => self.forward_key(line, ForwardKind::Busy),
            Key::ForwardNoAnswer => self.forward_key(line, ForwardKind::NoAnswer),
            Key::EndCall => {
                if let Some(call) = call.or(self.active) {
                    self.end(call);
                }
            }
            Key::Answer => {
                if let Some(call) = call
                    .filter(|c| {
                        matches!(
                            self.calls.get(c).map(|c| &c.state),
                            Some(CallState::Ringing { .. })
                        )
                    })
                    .or_else(|| self.ringing_call())
                {
                    self.answer(call);
                }
            }
            Key::Dnd => self.toggle_dnd(),
            Key::BackSpace => {
                if let Some(call) = call.or(self.active)
                    && let Some(c) = self.calls.get_mut(&call)
                    && let CallState::Dialing { digits } = &mut c.state
                {
                    digits.pop();
                }
            }
            Key::Dial => {
                if let Some(call) = call.or(self.active) {
                    self.dial_done(call);
                }
            }
        }
    }

    fn on_line_key(&mut self, now: Instant, line: LineId) {
        let on_line: Vec<(CallRef, CallState)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.line == line)
            .map(|(r, c)| (*r, c.state.clone()))
            .collect();
        if let Some((call, _)) = on_line.iter().find(|(_, s)| {
            matches!(
                s,
                CallState::Ringing {
                    answering: false,
                    ..
                }
            )
        }) {
            self.answer(*call);
        } else if let Some((call, _)) = on_line.iter().find(|(_, s)| *s == CallState::Held) {
            self.resume(*call);
        } else if on_line.is_empty() {
            let _ = now;
            self.new_dialing(line, Purpose::Call);
        }
    }

    fn play_dtmf(&mut self, call: CallRef, dtmf: Dtmf) {
        if let Some(c) = self.calls.get(&call) {
            let line = c.line;
            self.show(Show::Tone {
                line,
                call,
                tone: ToneKind::Dtmf(dtmf.digit),
            });
        }
    }
}
