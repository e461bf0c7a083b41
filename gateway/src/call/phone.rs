//! The protocol-neutral call logic of one legacy device: every line and call of a phone, driven by what
//! the user does (hook, keys, soft keys, line keys, digits) and by what the line user agents report
//! ([`UaEvent`]), answering with [`UaCommand`]s, media actions and neutral "show this on the phone"
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

use super::types::{
    CallRef, CallRefs, Codec, Direction, Dtmf, LineId, MediaDescription, MediaOffer, UaCommand,
    UaEvent,
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

/// Feature keys, whatever the phone calls them (SCCP soft keys and stimuli, UNIStim feature keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    /// Call the last number dialled again.
    Redial,
    /// Start a new call (holding the current one).
    NewCall,
    /// Hold the current call.
    Hold,
    /// Resume a held call.
    Resume,
    /// Start or complete a transfer.
    Transfer,
    /// Set or clear call forward all.
    ForwardAll,
    /// Set or clear call forward busy.
    ForwardBusy,
    /// Set or clear call forward no answer.
    ForwardNoAnswer,
    /// End the current call.
    EndCall,
    /// Answer a ringing call.
    Answer,
    /// Toggle do-not-disturb.
    Dnd,
    /// Remove the last digit dialled.
    BackSpace,
    /// Dial what was entered so far.
    Dial,
}

/// Which call forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardKind {
    /// Every call.
    All,
    /// When the line is busy.
    Busy,
    /// When nobody answers.
    NoAnswer,
}

/// A line's forwarding and do-not-disturb settings (kept per line in the store).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFeatures {
    /// Forward every call here.
    pub forward_all: Option<String>,
    /// Forward here when busy.
    pub forward_busy: Option<String>,
    /// Forward here when not answered.
    pub forward_no_answer: Option<String>,
    /// Refuse calls (486) while set.
    pub dnd: bool,
}

impl LineFeatures {
    fn forward_mut(&mut self, kind: ForwardKind) -> &mut Option<String> {
        match kind {
            ForwardKind::All => &mut self.forward_all,
            ForwardKind::Busy => &mut self.forward_busy,
            ForwardKind::NoAnswer => &mut self.forward_no_answer,
        }
    }
}

/// What happens on the phone, in neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneInput {
    /// Handset lifted (or speaker/headset on). `line`/`call` when the phone says which.
    OffHook {
        /// The line, when the phone names one.
        line: Option<LineId>,
        /// The call, when the phone names one.
        call: Option<CallRef>,
    },
    /// Handset down.
    OnHook {
        /// The call, when the phone names one.
        call: Option<CallRef>,
    },
    /// A keypad key.
    Digit {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// The call, when the phone names one.
        call: Option<CallRef>,
    },
    /// A whole number dialled before going off-hook (SCCP EnblocCall).
    Enbloc {
        /// The line, when the phone names one.
        line: Option<LineId>,
        /// The number.
        number: String,
    },
    /// A feature key.
    Key {
        /// Which.
        key: Key,
        /// The line, when the phone names one.
        line: Option<LineId>,
        /// The call, when the phone names one.
        call: Option<CallRef>,
    },
    /// A line key.
    LineKey(LineId),
    /// A speed-dial (or busy-lamp) key with its target.
    SpeedDial(String),
    /// The phone receives the call's RTP here (SCCP OpenReceiveChannelAck).
    PhoneRtp {
        /// The call.
        call: CallRef,
        /// The phone's RTP address.
        addr: SocketAddr,
    },
    /// The answer to [`MediaAction::Allocate`].
    MediaReady {
        /// The call.
        call: CallRef,
        /// The address to put in our SDP (a relay port, or the phone's own address in direct mode).
        local: SocketAddr,
        /// Where the phone must send RTP: a relay port, or `None` (direct mode) for the far end itself.
        phone_target: Option<SocketAddr>,
    },
    /// A key from the far end (RFC 4733 through the relay): played to the phone.
    RemoteDtmf {
        /// The call.
        call: CallRef,
        /// The key.
        dtmf: Dtmf,
    },
    /// A line user agent's report.
    Ua(UaEvent),
}

/// What the phone shows a call as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShownState {
    /// Handset up, dialing.
    OffHook,
    /// Idle.
    OnHook,
    /// The far end rings.
    RingOut,
    /// Ringing here.
    RingIn,
    /// Talking.
    Connected,
    /// The far end is busy.
    Busy,
    /// The call failed.
    Congestion,
    /// Held here.
    Hold,
    /// Held by the far end.
    RemoteHold,
    /// Dialled, waiting for the far end.
    Proceed,
}

/// Tones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ToneKind {
    /// Dial tone.
    Dial,
    /// Ringback.
    Ringback,
    /// Busy.
    Busy,
    /// Reorder (fast busy).
    Reorder,
    /// A second call is waiting.
    CallWaiting,
    /// A key from the far end.
    Dtmf(char),
}

/// Ringer modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ring {
    /// Silent.
    Off,
    /// Ringing.
    Inside,
    /// Only the light flashes (call waiting).
    FlashOnly,
}

/// Lamp modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lamp {
    /// Off.
    Off,
    /// On (in use).
    On,
    /// Blinking (ringing).
    Blink,
    /// Winking (held).
    Wink,
}

/// Soft-key sets shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySet {
    /// Idle.
    OnHook,
    /// Talking.
    Connected,
    /// Held.
    OnHold,
    /// Ringing here.
    RingIn,
    /// Dial tone.
    OffHook,
    /// Digits entered.
    DigitsFollowing,
    /// Ringing out.
    RingOut,
}

/// Prompt-line texts; the protocol session picks the phone's own localised label where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prompt {
    /// "Your current options".
    Options,
    /// "Enter number".
    EnterNumber,
    /// "Ring out".
    RingOut,
    /// "Connected".
    Connected,
    /// "From NAME".
    From(String),
    /// "Busy".
    Busy,
    /// "Call transfer".
    Transfer,
    /// "Forwarded to NUMBER".
    ForwardedTo(String),
    /// "DND".
    Dnd,
    /// Anything else.
    Text(String),
}

/// The parties of a call for the phone's display.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallDisplay {
    /// True for a call that came in.
    pub inbound: bool,
    /// The caller's name.
    pub calling_name: String,
    /// The caller's number.
    pub calling_number: String,
    /// The called party's name.
    pub called_name: String,
    /// The called party's number.
    pub called_number: String,
}

/// Something to show or play on the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Show {
    /// A call's state.
    State {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// The state.
        state: ShownState,
    },
    /// Play a tone.
    Tone {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// Which.
        tone: ToneKind,
    },
    /// Stop the tone.
    StopTone {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
    },
    /// Set the ringer.
    Ringer {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// The mode.
        ring: Ring,
    },
    /// A line lamp.
    Lamp {
        /// The line.
        line: LineId,
        /// The mode.
        lamp: Lamp,
    },
    /// Speaker on or off.
    Speaker(bool),
    /// The soft keys.
    Keys {
        /// The line ([`NO_LINE`] for the idle phone).
        line: LineId,
        /// The call ([`NO_CALL`] for the idle phone).
        call: CallRef,
        /// The set.
        set: KeySet,
    },
    /// The prompt line.
    Prompt {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// The text.
        text: Prompt,
    },
    /// Clear the prompt line.
    ClearPrompt {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
    },
    /// A notification on the status line (a few seconds).
    Notify(Prompt),
    /// The parties of a call.
    Info {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// The parties.
        info: CallDisplay,
    },
    /// The number dialled, as the phone should show it.
    Dialed {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// The number.
        number: String,
    },
    /// Make this line the active call plane.
    ActivateLine(LineId),
    /// The idle phone's clock refresh (CUCM sends it after each call).
    Clock,
}

/// Media work for the protocol session (tell the phone) or the driver (the relay).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaAction {
    /// Driver: find our media address for `call`; answer with [`PhoneInput::MediaReady`].
    Allocate {
        /// The call.
        call: CallRef,
    },
    /// Phone: open the receive channel with this codec.
    Open {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// The codec.
        codec: Codec,
        /// Packetisation.
        ptime_ms: u16,
    },
    /// Phone: start sending to `to`.
    Transmit {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
        /// Where.
        to: SocketAddr,
        /// The codec.
        codec: Codec,
        /// Packetisation.
        ptime_ms: u16,
    },
    /// Phone: stop sending and close the receive channel.
    Stop {
        /// The line.
        line: LineId,
        /// The call.
        call: CallRef,
    },
    /// Relay: the far end's media for `call`.
    Remote {
        /// The call.
        call: CallRef,
        /// The far end's media.
        media: MediaDescription,
    },
    /// Relay: the phone receives RTP here.
    PhoneAddr {
        /// The call.
        call: CallRef,
        /// The phone's address.
        addr: SocketAddr,
    },
    /// Relay: send this key to the far end as RFC 4733 events.
    SendDtmf {
        /// The call.
        call: CallRef,
        /// The key.
        dtmf: Dtmf,
    },
    /// Relay: the phone holds the call (true) or resumes it; nothing is forwarded while held.
    Hold {
        /// The call.
        call: CallRef,
        /// Held or resumed.
        on: bool,
    },
    /// Driver: the call is over, free its media.
    Release {
        /// The call.
        call: CallRef,
    },
}

/// What the call logic wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneOutput {
    /// To the line user agents.
    Ua(UaCommand),
    /// To the phone's display, lamps and speaker.
    Show(Show),
    /// Media.
    Media(MediaAction),
    /// A line's features changed: store them.
    Features {
        /// The line.
        line: LineId,
        /// Its features now.
        features: LineFeatures,
    },
}

/// What a call is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
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
                if self.calls.contains_key(&call) {
                    self.media(MediaAction::PhoneAddr { call, addr });
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
        let local = self.calls.get(&call)?.local.as_ref()?;
        Some(MediaOffer {
            rtp: local.sdp,
            codecs: self.codecs.clone(),
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
        if self.open_receive(call) {
            self.open_transmit(call);
        }
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

    // ---- features ------------------------------------------------------------------------------

    fn answer(&mut self, call: CallRef) {
        if let Some(active) = self.active.filter(|a| *a != call) {
            match self.calls.get(&active).map(|c| c.state.clone()) {
                Some(CallState::Connected) => self.hold(active),
                Some(_) => self.end(active),
                None => {}
            }
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.deadline = None;
        c.state = CallState::Ringing {
            answering: true,
            waiting: false,
        };
        let line = c.line;
        self.active = Some(call);
        self.show(Show::Ringer {
            line,
            call,
            ring: Ring::Off,
        });
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
        self.show(Show::ActivateLine(line));
        self.show(Show::StopTone { line, call });
        if self.calls.get(&call).is_some_and(|c| c.local.is_some()) {
            self.connect_answered(call);
        } else {
            // Allocation still pending: MediaReady finishes the answer.
            self.media(MediaAction::Allocate { call });
        }
    }

    /// An answered incoming call whose media address is known: 200 to the caller, the phone connected.
    fn connect_answered(&mut self, call: CallRef) {
        let Some(media) = self.offer(call, Direction::SendRecv) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Connected;
        let line = c.line;
        let display = c.display.clone();
        self.ua(UaCommand::Answer { call, media });
        let opened = self.open_receive(call);
        self.show(Show::State {
            line,
            call,
            state: ShownState::Connected,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::Connected,
        });
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::Connected,
        });
        self.show(Show::Info {
            line,
            call,
            info: display,
        });
        if opened {
            self.open_transmit(call);
        }
    }

    fn hold(&mut self, call: CallRef) {
        if self.calls.get(&call).map(|c| &c.state) != Some(&CallState::Connected) {
            return;
        }
        let Some(media) = self.offer(call, Direction::SendOnly) else {
            return;
        };
        self.ua(UaCommand::Hold {
            call,
            on: true,
            media,
        });
        self.media(MediaAction::Hold { call, on: true });
        self.close_media(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Held;
        let line = c.line;
        if self.active == Some(call) {
            self.active = None;
        }
        self.show(Show::State {
            line,
            call,
            state: ShownState::Hold,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::OnHold,
        });
        self.show(Show::Lamp {
            line,
            lamp: Lamp::Wink,
        });
    }

    fn resume(&mut self, call: CallRef) {
        if self.calls.get(&call).map(|c| &c.state) != Some(&CallState::Held) {
            return;
        }
        if let Some(active) = self.active.filter(|a| *a != call) {
            match self.calls.get(&active).map(|c| c.state.clone()) {
                Some(CallState::Connected) => self.hold(active),
                Some(_) => self.end(active),
                None => {}
            }
        }
        let Some(media) = self.offer(call, Direction::SendRecv) else {
            return;
        };
        self.ua(UaCommand::Hold {
            call,
            on: false,
            media,
        });
        self.media(MediaAction::Hold { call, on: false });
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Connected;
        let line = c.line;
        let remote_hold = c.remote_hold;
        self.active = Some(call);
        self.show(Show::Lamp {
            line,
            lamp: Lamp::On,
        });
        self.show(Show::ActivateLine(line));
        self.show(Show::State {
            line,
            call,
            state: if remote_hold {
                ShownState::RemoteHold
            } else {
                ShownState::Connected
            },
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::Connected,
        });
        self.open_media(call);
    }

    fn transfer(&mut self, now: Instant, call: Option<CallRef>) {
        let Some(call) = call else {
            return;
        };
        let Some(c) = self.calls.get(&call).cloned() else {
            return;
        };
        match (c.transfer_of, &c.state) {
            // First press on a connected call: hold it and dial the target.
            (None, CallState::Connected) => {
                let line = c.line;
                let consult = self.new_dialing(line, Purpose::Call);
                if let Some(k) = self.calls.get_mut(&consult) {
                    k.transfer_of = Some(call);
                }
                self.show(Show::Prompt {
                    line,
                    call: consult,
                    text: Prompt::Transfer,
                });
            }
            // Second press: complete.
            (Some(original), CallState::Dialing { digits }) if !digits.is_empty() => {
                let target = digits.clone();
                self.calls.remove(&call);
                self.active = None;
                self.show_call_gone(c.line, call);
                self.ua(UaCommand::Transfer {
                    call: original,
                    target,
                });
            }
            (Some(original), CallState::Proceeding { target, .. }) => {
                let target = target.clone();
                self.end(call);
                self.ua(UaCommand::Transfer {
                    call: original,
                    target,
                });
            }
            (Some(original), CallState::Connected) => {
                self.ua(UaCommand::TransferAttended {
                    call: original,
                    consult: call,
                });
            }
            _ => {
                let _ = now;
            }
        }
    }

    fn forward_key(&mut self, line: Option<LineId>, kind: ForwardKind) {
        let line = self.line_or_default(line);
        if self.forward_target(line, kind).is_some() {
            self.set_forward(line, kind, None);
            self.show(Show::Notify(Prompt::Text(String::new())));
            return;
        }
        if self.active.is_some() {
            return;
        }
        self.new_dialing(line, Purpose::Forward(kind));
    }

    fn set_forward(&mut self, line: LineId, kind: ForwardKind, target: Option<String>) {
        if let Some(f) = self.lines.get_mut(&line) {
            *f.forward_mut(kind) = target;
            let features = f.clone();
            self.out.push_back(PhoneOutput::Features { line, features });
        }
    }

    fn toggle_dnd(&mut self) {
        let on = !self.lines.values().any(|f| f.dnd);
        let lines: Vec<LineId> = self.lines.keys().copied().collect();
        for line in lines {
            if let Some(f) = self.lines.get_mut(&line) {
                f.dnd = on;
                let features = f.clone();
                self.out.push_back(PhoneOutput::Features { line, features });
            }
        }
        self.show(Show::Notify(if on {
            Prompt::Dnd
        } else {
            Prompt::Text(String::new())
        }));
    }

    fn redirect(&mut self, call: CallRef, target: String) {
        self.ua(UaCommand::Redirect { call, target });
        if self.calls.contains_key(&call) {
            self.drop_call(call);
        }
    }

    fn refuse(&mut self, call: CallRef, code: u16) {
        self.ua(UaCommand::Reject { call, code });
        if self.calls.contains_key(&call) {
            self.drop_call(call);
        }
    }

    // ---- user agent events ---------------------------------------------------------------------

    fn on_ua(&mut self, now: Instant, event: UaEvent) {
        match event {
            UaEvent::Incoming {
                call,
                line,
                from_name,
                from_number,
                offer,
                replaces,
            } => self.on_incoming(now, call, line, from_name, from_number, offer, replaces),
            UaEvent::Progress { call, code, media } => self.on_progress(call, code, media),
            UaEvent::Answered { call, media } => self.on_answered(call, media),
            UaEvent::Failed { call, code, reason } => self.on_failed(call, code, reason),
            UaEvent::Cancelled { call } | UaEvent::Ended { call } => {
                // A consultation call ending leaves the held original alone.
                if self.calls.contains_key(&call) {
                    self.drop_call(call);
                }
            }
            UaEvent::MediaChanged { call, media } => self.on_media_changed(call, media),
            UaEvent::Info { call, dtmf } => self.play_dtmf(call, dtmf),
            UaEvent::TransferRequested {
                call,
                new_call,
                target,
            } => self.on_transfer_requested(call, new_call, target),
            UaEvent::TransferResult { call, code } => {
                if (200..300).contains(&code) {
                    // The transferee reached the target: our part of both calls is over.
                    let consults: Vec<CallRef> = self
                        .calls
                        .iter()
                        .filter(|(_, c)| c.transfer_of == Some(call))
                        .map(|(r, _)| *r)
                        .collect();
                    for consult in consults {
                        self.end(consult);
                    }
                    self.end(call);
                } else if let Some(c) = self.calls.get(&call) {
                    let line = c.line;
                    self.show(Show::Prompt {
                        line,
                        call,
                        text: Prompt::Text(format!("Transfer failed ({code})")),
                    });
                }
            }
            UaEvent::Registered { .. } | UaEvent::RegistrationFailed { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_incoming(
        &mut self,
        now: Instant,
        call: CallRef,
        line: LineId,
        from_name: String,
        from_number: String,
        offer: Option<MediaDescription>,
        replaces: Option<CallRef>,
    ) {
        let Some(features) = self.lines.get(&line).cloned() else {
            self.ua(UaCommand::Reject { call, code: 404 });
            return;
        };
        if let Some(offer) = &offer
            && !self.codecs.contains(&offer.codec)
        {
            self.ua(UaCommand::Reject { call, code: 488 });
            return;
        }
        let display = CallDisplay {
            inbound: true,
            calling_name: from_name.clone(),
            calling_number: from_number.clone(),
            ..CallDisplay::default()
        };
        if let Some(old) = replaces.filter(|r| self.calls.contains_key(r)) {
            // Attended transfer arriving here: the new call takes the old one's place, unrung.
            let old_line = self.calls.get(&old).map_or(line, |c| c.line);
            let was_active = self.active == Some(old);
            self.close_media(old);
            self.calls.remove(&old);
            self.media(MediaAction::Release { call: old });
            let mut c = Call::new(
                old_line,
                CallState::Ringing {
                    answering: false,
                    waiting: false,
                },
            );
            c.display = display;
            c.remote = offer;
            self.calls.insert(call, c);
            if was_active {
                self.active = None;
            }
            self.answer(call);
            return;
        }
        if let Some(target) = features.forward_all {
            self.ua(UaCommand::Redirect { call, target });
            return;
        }
        if features.dnd {
            self.ua(UaCommand::Reject { call, code: 486 });
            return;
        }
        let busy = self.active.is_some();
        if busy {
            if let Some(target) = features.forward_busy {
                self.ua(UaCommand::Redirect { call, target });
                return;
            }
            if self.calls.values().filter(|c| c.line == line).count() >= 2 {
                self.ua(UaCommand::Reject { call, code: 486 });
                return;
            }
        }
        let mut c = Call::new(
            line,
            CallState::Ringing {
                answering: false,
                waiting: busy,
            },
        );
        c.display = display.clone();
        c.remote = offer;
        c.deadline = Some(now + RING_NO_ANSWER);
        self.calls.insert(call, c);
        self.ua(UaCommand::Ringing { call });
        // Media is found while the phone rings, so answering opens it at once.
        self.media(MediaAction::Allocate { call });
        self.show(Show::State {
            line,
            call,
            state: ShownState::RingIn,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::RingIn,
        });
        let who = if from_name.is_empty() {
            from_number
        } else {
            from_name
        };
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::From(who.clone()),
        });
        self.show(Show::Notify(Prompt::From(who)));
        self.show(Show::Info {
            line,
            call,
            info: display,
        });
        self.show(Show::Lamp {
            line,
            lamp: Lamp::Blink,
        });
        if busy {
            if let Some(active) = self.active
                && let Some(a) = self.calls.get(&active)
            {
                let aline = a.line;
                self.show(Show::Tone {
                    line: aline,
                    call: active,
                    tone: ToneKind::CallWaiting,
                });
            }
            self.show(Show::Ringer {
                line,
                call,
                ring: Ring::FlashOnly,
            });
        } else {
            self.show(Show::Ringer {
                line,
                call,
                ring: Ring::Inside,
            });
        }
    }

    fn on_progress(&mut self, call: CallRef, code: u16, media: Option<MediaDescription>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Proceeding { .. }) {
            return;
        }
        let line = c.line;
        match media {
            Some(media) if code == 183 || c.remote.is_none() => {
                c.remote = Some(media);
                self.show(Show::StopTone { line, call });
                self.open_media(call);
            }
            _ if code == 180 => {
                self.show(Show::Tone {
                    line,
                    call,
                    tone: ToneKind::Ringback,
                });
            }
            _ => return,
        }
        self.show(Show::State {
            line,
            call,
            state: ShownState::RingOut,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::RingOut,
        });
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::RingOut,
        });
    }

    fn on_answered(&mut self, call: CallRef, media: MediaDescription) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match c.state {
            CallState::Proceeding { .. } => {}
            // INVITE without SDP: the answer came in the ACK.
            CallState::Connected => {
                self.on_media_changed(call, media);
                return;
            }
            _ => return,
        }
        c.state = CallState::Connected;
        let line = c.line;
        let changed = c.remote.as_ref() != Some(&media);
        let display = c.display.clone();
        c.remote = Some(media);
        self.show(Show::StopTone { line, call });
        if changed {
            self.close_media(call);
        }
        let opened = self.open_receive(call);
        self.show(Show::State {
            line,
            call,
            state: ShownState::Connected,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::Connected,
        });
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::Connected,
        });
        self.show(Show::Info {
            line,
            call,
            info: display,
        });
        if opened {
            self.open_transmit(call);
        }
    }

    fn on_failed(&mut self, call: CallRef, code: u16, reason: String) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Proceeding { .. }) {
            self.drop_call(call);
            return;
        }
        c.state = CallState::Releasing;
        let line = c.line;
        self.close_media(call);
        self.media(MediaAction::Release { call });
        let (tone, state) = if matches!(code, 486 | 600) {
            (ToneKind::Busy, ShownState::Busy)
        } else {
            (ToneKind::Reorder, ShownState::Congestion)
        };
        self.show(Show::Tone { line, call, tone });
        self.show(Show::State { line, call, state });
        self.show(Show::Prompt {
            line,
            call,
            text: if state == ShownState::Busy {
                Prompt::Busy
            } else {
                Prompt::Text(format!("{code} {reason}"))
            },
        });
    }

    fn on_media_changed(&mut self, call: CallRef, media: MediaDescription) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let line = c.line;
        let held_by_far_end = matches!(media.direction, Direction::SendOnly | Direction::Inactive);
        let moved = c
            .remote
            .as_ref()
            .is_some_and(|r| r.rtp != media.rtp || r.codec != media.codec);
        let was_remote_hold = c.remote_hold;
        c.remote_hold = held_by_far_end;
        c.remote = Some(media.clone());
        let connected = c.state == CallState::Connected;
        if moved {
            self.close_media(call);
        }
        if connected {
            self.open_media(call);
            self.media(MediaAction::Remote { call, media });
            if held_by_far_end != was_remote_hold {
                self.show(Show::State {
                    line,
                    call,
                    state: if held_by_far_end {
                        ShownState::RemoteHold
                    } else {
                        ShownState::Connected
                    },
                });
            }
        }
    }

    fn on_transfer_requested(&mut self, call: CallRef, new_call: CallRef, target: String) {
        let line = self
            .calls
            .get(&call)
            .map_or_else(|| self.line_or_default(None), |c| c.line);
        // The referred call is over for us once the new one is placed; its far end sends BYE.
        self.close_media(call);
        if self.active == Some(call) {
            self.active = None;
        }
        let mut c = Call::new(
            line,
            CallState::Proceeding {
                target: target.clone(),
                invited: false,
            },
        );
        c.display = CallDisplay {
            inbound: false,
            called_number: target,
            ..CallDisplay::default()
        };
        let display = c.display.clone();
        self.calls.insert(new_call, c);
        self.active = Some(new_call);
        self.show(Show::State {
            line,
            call: new_call,
            state: ShownState::Proceed,
        });
        self.show(Show::Info {
            line,
            call: new_call,
            info: display,
        });
        self.media(MediaAction::Allocate { call: new_call });
    }
}
