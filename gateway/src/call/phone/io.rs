//! What goes into and out of the call logic: phone inputs, display outputs, media actions.

use std::net::SocketAddr;

use crate::call::types::{CallRef, Codec, Dtmf, LineId, MediaDescription, UaCommand, UaEvent};

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
    pub(super) fn forward_mut(&mut self, kind: ForwardKind) -> &mut Option<String> {
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
        /// The line ([`NO_LINE`](super::NO_LINE) for the idle phone).
        line: LineId,
        /// The call ([`NO_CALL`](super::NO_CALL) for the idle phone).
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
