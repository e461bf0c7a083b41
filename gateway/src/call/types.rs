//! The protocol-neutral vocabulary shared by the phone sessions (SCCP now, UNIStim next), the line user
//! agents (`crate::ua`) and the media relay (`crate::media`).
//!
//! A phone session speaks its phone's protocol on one side and these types on the other. The line user
//! agents turn [`UaCommand`]s into SIP and SIP into [`UaEvent`]s; they know nothing of SCCP or UNIStim.
//! Media is described by [`MediaOffer`] (what we can receive, sent in an offer or an answer) and
//! [`MediaDescription`] (what the far end chose and where it receives).

use std::fmt;
use std::net::SocketAddr;

/// A line of a device, 1-based, in line-key order (the `line` column of the CSV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineId(pub u16);

/// One call of one device, unique per device for the device session's life. SCCP uses it as the
/// `callReference`; UNIStim as its own call index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u32);

impl fmt::Display for CallRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// An audio codec both worlds know. The SDP payload type and the legacy protocols' own codec ids are
/// mapped where each protocol is spoken; this is the meeting point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.729 (annex A/B interoperable), static payload type 18.
    G729,
    /// G.722, static payload type 9 (RTP clock 8000 by RFC 3551's historical error).
    G722,
}

impl Codec {
    /// Every codec, in Crossbar's default preference order.
    pub const ALL: [Self; 4] = [Self::Pcmu, Self::Pcma, Self::G722, Self::G729];

    /// The static RTP payload type (RFC 3551).
    pub const fn payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
            Self::G729 => 18,
            Self::G722 => 9,
        }
    }

    /// The codec of a static payload type.
    pub const fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            18 => Some(Self::G729),
            9 => Some(Self::G722),
            _ => None,
        }
    }

    /// The SDP `rtpmap` encoding name.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G729 => "G729",
            Self::G722 => "G722",
        }
    }
}

/// The SDP direction attribute of a media stream, from the sender's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`: the side holding the call.
    SendOnly,
    /// `a=recvonly`: the side held.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

/// What one side can receive: the address RTP must be sent to and the codecs it accepts, in order of
/// preference. In relay mode `rtp` is a relay port of Crossbar; in direct mode the phone's own address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOffer {
    /// Where to send RTP (RTCP is the next port up).
    pub rtp: SocketAddr,
    /// Acceptable codecs, preferred first; never empty.
    pub codecs: Vec<Codec>,
    /// Packetisation in milliseconds (`a=ptime`).
    pub ptime_ms: u16,
    /// RFC 4733 `telephone-event` payload type offered, if any (Crossbar offers 101).
    pub telephone_event: Option<u8>,
    /// Direction.
    pub direction: Direction,
}

/// What the far end chose and where it receives: the outcome of an offer/answer exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Where the far end receives RTP; port 0 means the stream is rejected.
    pub rtp: SocketAddr,
    /// The codec both sides use (the first common one).
    pub codec: Codec,
    /// The payload type the far end uses for it (static, so normally `codec.payload_type()`).
    pub payload_type: u8,
    /// Packetisation in milliseconds.
    pub ptime_ms: u16,
    /// The far end's RFC 4733 payload type, when both sides have it.
    pub telephone_event: Option<u8>,
    /// The far end's direction (`SendOnly` or `Inactive` from the far end means it holds the call).
    pub direction: Direction,
}

/// A legacy line as a SIP user: the identity the line user agent registers and calls as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIdentity {
    /// Its extension (the AOR's user part and the digest username).
    pub extension: String,
    /// Its domain (the AOR's host and the digest realm of our own registrar).
    pub domain: String,
    /// The name shown to the people it calls.
    pub display_name: String,
    /// Its digest credentials, for an upstream registrar or proxy that challenges; `None` when the user has
    /// no SIP password (fine on Crossbar's own registrar, which trusts its own line user agents).
    pub ha1: Option<provisioning::Ha1>,
}

/// A key pressed during a call, sent or received as an RFC 4733 event (or SIP INFO in direct mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtmf {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// How long the key was held, in milliseconds.
    pub duration_ms: u16,
}

/// What a phone session asks of the line user agents. Every command names the call by the device's own
/// [`CallRef`]; the user agent keeps the SIP dialog(s) behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UaCommand {
    /// Place a call from `line` to `target` (digits dialled, or a full `sip:` URI).
    Invite {
        /// The device's call.
        call: CallRef,
        /// The calling line.
        line: LineId,
        /// What was dialled.
        target: String,
        /// Our media.
        offer: MediaOffer,
    },
    /// The phone is ringing for an incoming call: send 180.
    Ringing {
        /// The call.
        call: CallRef,
    },
    /// Answer an incoming call with 200 and this media.
    Answer {
        /// The call.
        call: CallRef,
        /// Our media.
        media: MediaOffer,
    },
    /// Refuse an incoming call (486 busy, 480 no answer, 603 declined).
    Reject {
        /// The call.
        call: CallRef,
        /// The SIP status code.
        code: u16,
    },
    /// End the call whatever its state: CANCEL before an answer, BYE after, a final response for an
    /// unanswered incoming call.
    Hangup {
        /// The call.
        call: CallRef,
    },
    /// Put the call on hold (re-INVITE, our media `sendonly`) or resume it (`sendrecv`).
    Hold {
        /// The call.
        call: CallRef,
        /// True to hold, false to resume.
        on: bool,
        /// Our media for the re-INVITE.
        media: MediaOffer,
    },
    /// A key pressed during the call, sent as SIP INFO (`application/dtmf-relay`); used in direct mode,
    /// where RTP does not pass through Crossbar.
    Info {
        /// The call.
        call: CallRef,
        /// The key.
        dtmf: Dtmf,
    },
    /// Blind transfer: REFER the far end of `call` to `target`.
    Transfer {
        /// The call being transferred.
        call: CallRef,
        /// What was dialled.
        target: String,
    },
    /// Redirect an unanswered incoming call to `target` (call forward all, busy or no answer): the user
    /// agent answers 302 with the target as Contact.
    Redirect {
        /// The incoming call.
        call: CallRef,
        /// Where it goes (digits or a `sip:` URI).
        target: String,
    },
    /// Attended transfer: REFER the far end of `call` to the far end of `consult`, with `Replaces` naming
    /// the consultation dialog (RFC 3891).
    TransferAttended {
        /// The call being transferred (normally held).
        call: CallRef,
        /// The consultation call, connected to the transfer target.
        consult: CallRef,
    },
}

/// What the line user agents report to a phone session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UaEvent {
    /// The line is registered (Crossbar's registrar or the upstream one).
    Registered {
        /// The line.
        line: LineId,
    },
    /// The line could not register; the user agent retries on its own.
    RegistrationFailed {
        /// The line.
        line: LineId,
        /// The final SIP status, or 408 for no answer.
        code: u16,
    },
    /// A call for `line` arrived. The session answers with `Ringing`, `Answer` or `Reject`.
    Incoming {
        /// The [`CallRef`] the user agent allocated for it (from [`CallRefs`]).
        call: CallRef,
        /// The called line.
        line: LineId,
        /// The caller's display name, possibly empty.
        from_name: String,
        /// The caller's user part (a number or a name).
        from_number: String,
        /// The caller's media (an INVITE without SDP gets our offer in the 200 and the answer in the ACK).
        offer: Option<MediaDescription>,
        /// When the INVITE carries `Replaces` for one of this device's calls: that call (attended transfer
        /// arriving at us). The session connects the new call in its place without ringing.
        replaces: Option<CallRef>,
    },
    /// 1xx from the far end: 180 (ringback) or 183 (early media when `media` is set).
    Progress {
        /// The call.
        call: CallRef,
        /// 180 or 183.
        code: u16,
        /// Early media, from an SDP answer in the provisional response.
        media: Option<MediaDescription>,
    },
    /// The far end answered (2xx) with this media.
    Answered {
        /// The call.
        call: CallRef,
        /// The far end's media.
        media: MediaDescription,
    },
    /// The call failed before an answer (4xx–6xx, or 408 on timeout).
    Failed {
        /// The call.
        call: CallRef,
        /// The final SIP status.
        code: u16,
        /// Its reason phrase, for the phone's prompt line.
        reason: String,
    },
    /// The far end cancelled an unanswered incoming call.
    Cancelled {
        /// The call.
        call: CallRef,
    },
    /// The far end hung up (BYE), or an answered call died (no ACK, transport failure).
    Ended {
        /// The call.
        call: CallRef,
    },
    /// The far end changed the media of a connected call (re-INVITE or UPDATE): hold (`sendonly` /
    /// `inactive`), resume, or a new address or codec.
    MediaChanged {
        /// The call.
        call: CallRef,
        /// The far end's new media.
        media: MediaDescription,
    },
    /// A key from the far end as SIP INFO (RFC 4733 events come through the media relay instead).
    Info {
        /// The call.
        call: CallRef,
        /// The key.
        dtmf: Dtmf,
    },
    /// The far end asked us to transfer (REFER received on `call`): the session places a new call to
    /// `target` from the same line; the user agent reports its progress to the referrer (NOTIFY sipfrag) by
    /// itself as the new call's events pass through it.
    TransferRequested {
        /// The call the REFER arrived on.
        call: CallRef,
        /// The new call the user agent has allocated for it.
        new_call: CallRef,
        /// The Refer-To target (a `sip:` URI, possibly with `Replaces`).
        target: String,
    },
    /// Our REFER ended: accepted (the transferee reached the target, 2xx sipfrag) or refused.
    TransferResult {
        /// The transferred call.
        call: CallRef,
        /// The final status of the transferee's call to the target (or of the REFER itself when refused).
        code: u16,
    },
}

/// Hands out [`CallRef`]s for one device: sessions allocate them for calls the phone places, user agents
/// for calls that arrive, from the same counter so they never clash.
#[derive(Debug, Clone, Default)]
pub struct CallRefs(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl CallRefs {
    /// A fresh counter (the first reference is 1; 0 means "no call" in SCCP).
    pub fn new() -> Self {
        Self::default()
    }

    /// The next reference.
    pub fn next(&self) -> CallRef {
        CallRef(
            self.0
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .wrapping_add(1),
        )
    }
}
