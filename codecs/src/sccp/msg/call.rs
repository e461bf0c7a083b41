//! Call control: hook and key events from the phone; ringer, lamps, tones, call state and call
//! information to it (`docs/protocols/sccp.md` §3.2, §5.2–5.6).

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Describe, Fields};
use crate::sccp::macros::body;
use crate::sccp::types::{DirNum, Text, VarText};
use crate::sccp::{
    CallSecurityStatus, CallState, CallType, Ctx, KeypadKey, LampMode, MediaPath, RingMode,
    SoftKeyEvent, SoftKeySet, Stimulus, Tone,
};
use crate::wire::{DecodeError, Reader, bytes_of};

body! {
    /// 0x0006, phone → Crossbar: handset lifted (or speaker/headset pressed). Newer phones send line 0 and
    /// call 0 ("the default line"); IOS analog ports fill both; some send no body.
    OffHook {
        /// The line, or 0.
        line_instance: Option<u32> => "lineInstance",
        /// The call, or 0.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0007, phone → Crossbar: hung up. Same shape as OffHook.
    OnHook {
        /// The line, or 0.
        line_instance: Option<u32> => "lineInstance",
        /// The call, or 0.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0008, phone → Crossbar: a hook flash (6901/6911 transfer without a transfer key).
    HookFlash {
        /// The line.
        line_instance: Option<u32> => "lineInstance",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0024, phone → Crossbar: off hook with the calling number (voice-gateway ports).
    OffHookWithCallingPartyNumber {
        /// The calling number.
        calling_party_number: DirNum => "callingPartyNumber",
        /// Its voice mailbox.
        cgpn_voice_mailbox: DirNum => "cgpnVoiceMailbox",
        /// The line.
        line_instance: Option<u32> => "lineInstance",
    }
}

body! {
    /// 0x0003, phone → Crossbar: a keypad key. Protocol 11 and later (and any phone whose body is
    /// longer than 4 bytes) add the line and call: mid-call digits arrive this way.
    KeypadButton {
        /// The key.
        kp_button: KeypadKey => "kpButton",
        /// The line (before protocol 11: the button index).
        line_instance: Option<u32> => "lineInstance",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

impl KeypadButton {
    /// The key as a dialled character: `0`–`9`, `A`–`D`, `*`, `#`, `+`.
    pub fn digit(&self) -> Option<char> {
        match self.kp_button.0 {
            n @ 0..=9 => char::from_digit(n, 10),
            n @ 10..=13 => char::from_u32(u32::from(b'A').saturating_add(n).saturating_sub(10)),
            14 => Some('*'),
            15 => Some('#'),
            16 => Some('+'),
            _ => None,
        }
    }
}

body! {
    /// 0x0004, phone → Crossbar: a number dialled before going off hook. Protocol 17 and later add the
    /// line.
    EnblocCall {
        /// The number.
        called_party: DirNum => "calledParty",
        /// The line.
        line_instance: Option<u32> => "lineInstance",
    }
}

body! {
    /// 0x0005, phone → Crossbar: a feature or line button. A 7960 on protocol 11 sends 12 bytes (no
    /// status).
    StimulusMsg {
        /// The button's kind.
        stimulus: Stimulus => "stimulus",
        /// Its instance (the line for line buttons).
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: Option<u32> => "callReference",
        /// Status.
        stimulus_status: Option<u32> => "stimulusStatus",
    }
}

body! {
    /// 0x0026, phone → Crossbar: a soft key.
    SoftKeyEventMsg {
        /// The key's event (as the template defines it).
        soft_key_event: SoftKeyEvent => "softKeyEvent",
        /// The line.
        line_instance: Option<u32> => "lineInstance",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0049, phone → Crossbar: an audio path turned on (1) or off (2).
    MediaPathEvent {
        /// The path.
        media_path_id: MediaPath => "mediaPathID",
        /// On or off.
        media_path_event: u32 => "mediaPathEvent",
    }
}

body! {
    /// 0x004A, phone → Crossbar: an audio path enabled, disabled or monitored.
    MediaPathCapability {
        /// The path.
        media_path_id: MediaPath => "mediaPathID",
        /// 1 enable, 2 disable, 3 monitor.
        media_path_capabilities: u32 => "mediaPathCapabilities",
    }
}

body! {
    /// 0x0085, Crossbar → phone: ring (or stop ringing).
    SetRinger {
        /// How to ring.
        ring_mode: RingMode => "ringMode",
        /// 1 normal, 2 single.
        ring_duration: u32 => "ringDuration",
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
    }
}

body! {
    /// 0x0086, Crossbar → phone: light a button's lamp (VoiceMail instance 0 is the message-waiting lamp).
    SetLamp {
        /// The button's kind.
        stimulus: Stimulus => "stimulus",
        /// Its instance.
        stimulus_instance: u32 => "stimulusInstance",
        /// How to light it.
        lamp_mode: LampMode => "lampMode",
    }
}

body! {
    /// 0x0088, Crossbar → phone: speaker on (1) or off (2).
    SetSpeakerMode {
        /// The mode.
        speaker_mode: u32 => "speakerMode",
    }
}

body! {
    /// 0x0089, Crossbar → phone: microphone on (1) or off (2).
    SetMicroMode {
        /// The mode.
        mic_mode: u32 => "micMode",
    }
}

body! {
    /// 0x0082, Crossbar → phone: play a tone.
    StartTone {
        /// The tone.
        tone: Tone => "tone",
        /// 0 to the user, 1 to the network, 2 both.
        tone_output_direction: u32 => "tone.output.direction",
        /// The line.
        line_instance: Option<u32> => "lineInstance",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0083, Crossbar → phone: stop a tone; protocol 11 adds which.
    StopTone {
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
        /// The tone.
        tone: Option<Tone> => "tone",
    }
}

body! {
    /// 0x0111, Crossbar → phone: a call's state.
    CallStateMsg {
        /// The state.
        call_state: CallState => "callState",
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
        /// 0 none, 1 limited, 2 full.
        privacy: Option<u32> => "privacy",
        /// MLPP precedence level (CUCM sends 4).
        precedence_level: Option<u32> => "precedenceLevel",
        /// MLPP precedence domain.
        precedence_domain: Option<u32> => "precedenceDomain",
    }
}

body! {
    /// 0x008F, Crossbar → phone: who is calling whom, fixed layout (384 bytes): names 40 bytes, numbers 24
    /// at every version. Phones from protocol 8 on take [`CallInfoV2`].
    CallInfo {
        /// Calling name.
        calling_party_name: Text<40> => "callingPartyName",
        /// Calling number.
        calling_party: Text<24> => "callingParty",
        /// Called name.
        called_party_name: Text<40> => "calledPartyName",
        /// Called number.
        called_party: Text<24> => "calledParty",
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
        /// Inbound, outbound or forwarded.
        call_type: CallType => "callType",
        /// Original called name.
        original_called_party_name: Text<40> => "originalCalledPartyName",
        /// Original called number.
        original_called_party: Text<24> => "originalCalledParty",
        /// Last redirecting name.
        last_redirecting_party_name: Text<40> => "lastRedirectingPartyName",
        /// Last redirecting number.
        last_redirecting_party: Text<24> => "lastRedirectingParty",
        /// Why the original called party redirected.
        original_cdpn_redirect_reason: u32 => "originalCdpnRedirectReason",
        /// Why the last redirect happened.
        last_redirecting_reason: u32 => "lastRedirectingReason",
        /// Calling voice mailbox.
        cgpn_voice_mailbox: Text<24> => "cgpnVoiceMailbox",
        /// Called voice mailbox.
        cdpn_voice_mailbox: Text<24> => "cdpnVoiceMailbox",
        /// Original called voice mailbox.
        original_cdpn_voice_mailbox: Text<24> => "originalCdpnVoiceMailbox",
        /// Last redirecting voice mailbox.
        last_redirecting_voice_mailbox: Text<24> => "lastRedirectingVoiceMailbox",
        /// The call's instance on the line.
        call_instance: u32 => "callInstance",
        /// Security status.
        call_security_status: CallSecurityStatus => "callSecurityStatus",
        /// Presentation restriction bits.
        party_pi_restriction_bits: u32 => "partyPIRestrictionBits",
    }
}

body! {
    /// 0x014A, Crossbar → phone: who is calling whom, as variable strings (empty ones a single NUL). The
    /// hunt pilot strings exist from protocol 17 on; CUCM re-sends this after each call-state change.
    CallInfoV2 {
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
        /// Inbound, outbound or forwarded.
        call_type: CallType => "callType",
        /// Why the original called party redirected.
        original_cdpn_redirect_reason: u32 => "originalCdpnRedirectReason",
        /// Why the last redirect happened.
        last_redirecting_reason: u32 => "lastRedirectingReason",
        /// The call's instance on the line.
        call_instance: u32 => "callInstance",
        /// Security status.
        call_security_status: CallSecurityStatus => "callSecurityStatus",
        /// Presentation restriction bits.
        party_pi_restriction_bits: u32 => "partyPIRestrictionBits",
        /// Calling number.
        calling_party: Option<VarText> => "callingParty",
        /// Alternate calling number.
        alternate_calling_party: Option<VarText> => "AlternateCallingParty",
        /// Called number.
        called_party: Option<VarText> => "calledParty",
        /// Original called number.
        original_called_party: Option<VarText> => "originalCalledParty",
        /// Last redirecting number.
        last_redirecting_party: Option<VarText> => "lastRedirectingParty",
        /// Calling voice mailbox.
        cgpn_voice_mailbox: Option<VarText> => "cgpnVoiceMailbox",
        /// Called voice mailbox.
        cdpn_voice_mailbox: Option<VarText> => "cdpnVoiceMailbox",
        /// Original called voice mailbox.
        original_cdpn_voice_mailbox: Option<VarText> => "originalCdpnVoiceMailbox",
        /// Last redirecting voice mailbox.
        last_redirecting_voice_mailbox: Option<VarText> => "lastRedirectingVoiceMailbox",
        /// Calling name.
        calling_party_name: Option<VarText> => "callingPartyName",
        /// Called name.
        called_party_name: Option<VarText> => "calledPartyName",
        /// Original called name.
        original_called_party_name: Option<VarText> => "originalCalledPartyName",
        /// Last redirecting name.
        last_redirecting_party_name: Option<VarText> => "lastRedirectingPartyName",
        /// Hunt pilot number (protocol 17 and later).
        hunt_pilot_number: Option<VarText> => "HuntPilotNumber",
        /// Hunt pilot name (protocol 17 and later).
        hunt_pilot_name: Option<VarText> => "HuntPilotName",
    }
}

body! {
    /// 0x0110, Crossbar → phone: which soft-key set to show, and which of its keys are enabled.
    SelectSoftKeys {
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
        /// The set.
        soft_key_set_index: SoftKeySet => "softKeySetIndex",
        /// Bit n enables key n+1.
        valid_key_mask: Option<u32> => "validKeyMask",
    }
}

body! {
    /// 0x0116, Crossbar → phone: show this line's call plane.
    ActivateCallPlane {
        /// The line.
        line_instance: u32 => "lineInstance",
    }
}

body! {
    /// 0x011D, Crossbar → phone: the number being dialled, as the phone should show it.
    DialedNumber {
        /// The number.
        dialed_number: DirNum => "dialedNumber",
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
    }
}

body! {
    /// 0x0119, Crossbar → phone: remove the last dialled digit.
    BackSpaceRes {
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
    }
}

body! {
    /// 0x0156, Crossbar → phone: file the call under placed (1), received (2) or missed (3).
    CallHistoryInfo {
        /// The disposition.
        call_history_disposition: u32 => "callHistoryDisposition",
        /// The line.
        line_instance: u32 => "lineInstance",
        /// The call.
        call_reference: u32 => "callReference",
    }
}

body! {
    /// 0x0130, Crossbar → phone: a call selected or deselected (for join/transfer lists).
    CallSelectStatRes {
        /// Selected or not.
        call_select_stat: u32 => "callSelectStat",
        /// The call.
        call_reference: u32 => "callReference",
        /// The line.
        line_instance: u32 => "lineInstance",
    }
}

/// The directory-number field of ConnectionStatisticsReq/Res: 24 bytes up to protocol 17 and 28 from 18
/// on (Wireshark's newer layout, checked against tshark 4.0.17).
fn stats_dn_width(ctx: Ctx) -> usize {
    if ctx.version >= 18 { 28 } else { 24 }
}

fn read_stats_dn(r: &mut Reader<'_>, ctx: Ctx) -> Result<Text<28>, DecodeError> {
    let raw = r.take("directoryNum", stats_dn_width(ctx))?;
    Ok(Text::from_raw(raw))
}

fn write_stats_dn(dn: &Text<28>, out: &mut BytesMut, ctx: Ctx) {
    crate::wire::put_padded(out, dn.0.raw(), stats_dn_width(ctx));
}

/// 0x0107, Crossbar → phone: report (and optionally clear) a call's RTP statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionStatisticsReq {
    /// The line's directory number.
    pub directory_num: Text<28>,
    /// The call.
    pub call_reference: u32,
    /// 0 clear, 1 keep.
    pub stats_processing_mode: u32,
    /// Bytes after the known fields.
    pub trailing: Bytes,
}

impl ConnectionStatisticsReq {
    pub(crate) fn decode_body(r: &mut Reader<'_>, ctx: Ctx) -> Result<Self, DecodeError> {
        Ok(Self {
            directory_num: read_stats_dn(r, ctx)?,
            call_reference: r.u32_le("callReference")?,
            stats_processing_mode: r.u32_le("statsProcessingMode")?,
            trailing: bytes_of(r.rest()),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut, ctx: Ctx) {
        write_stats_dn(&self.directory_num, out, ctx);
        out.put_u32_le(self.call_reference);
        out.put_u32_le(self.stats_processing_mode);
        out.put_slice(&self.trailing);
    }
}

impl Describe for ConnectionStatisticsReq {
    fn describe(&self, out: &mut Fields) {
        out.push("directoryNum", self.directory_num.to_string_lossy())
            .push("callReference", self.call_reference)
            .push("statsProcessingMode", self.stats_processing_mode);
    }
}

/// 0x0023, phone → Crossbar: a call's RTP statistics. From protocol 18 the mode is one byte and the
/// counters follow unaligned; newer phones append a text (MOS and the like).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionStatisticsRes {
    /// The line's directory number.
    pub directory_num: Text<28>,
    /// The call.
    pub call_reference: u32,
    /// 0 clear, 1 keep.
    pub stats_processing_mode: u32,
    /// Packets sent, octets sent, packets received, octets received, packets lost, jitter, latency.
    pub counters: [u32; 7],
    /// The appended text, where present.
    pub data: Option<Bytes>,
    /// Bytes after the known fields.
    pub trailing: Bytes,
}

const STATS_COUNTERS: [&str; 7] = [
    "numberPacketsSent",
    "numberOctetsSent",
    "numberPacketsReceived",
    "numberOctetsReceived",
    "numberPacketsLost",
    "jitter",
    "latency",
];

impl ConnectionStatisticsRes {
    pub(crate) fn decode_body(r: &mut Reader<'_>, ctx: Ctx) -> Result<Self, DecodeError> {
        let directory_num = read_stats_dn(r, ctx)?;
        let call_reference = r.u32_le("callReference")?;
        let stats_processing_mode = if ctx.version >= 18 {
            u32::from(r.u8("statsProcessingMode")?)
        } else {
            r.u32_le("statsProcessingMode")?
        };
        let mut counters = [0u32; 7];
        for (slot, name) in counters.iter_mut().zip(STATS_COUNTERS) {
            *slot = r.u32_le(name)?;
        }
        let data = if r.left() >= 4 {
            let size = r.u32_le("dataSize")?;
            let n = usize::try_from(size).unwrap_or(usize::MAX);
            Some(bytes_of(r.take("data", n)?))
        } else {
            None
        };
        Ok(Self {
            directory_num,
            call_reference,
            stats_processing_mode,
            counters,
            data,
            trailing: bytes_of(r.rest()),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut, ctx: Ctx) {
        write_stats_dn(&self.directory_num, out, ctx);
        out.put_u32_le(self.call_reference);
        if ctx.version >= 18 {
            out.put_u8(u8::try_from(self.stats_processing_mode).unwrap_or(u8::MAX));
        } else {
            out.put_u32_le(self.stats_processing_mode);
        }
        self.counters.iter().for_each(|c| out.put_u32_le(*c));
        if let Some(data) = &self.data {
            out.put_u32_le(u32::try_from(data.len()).unwrap_or(u32::MAX));
            out.put_slice(data);
        }
        out.put_slice(&self.trailing);
    }
}

impl Describe for ConnectionStatisticsRes {
    fn describe(&self, out: &mut Fields) {
        out.push("directoryNum", self.directory_num.to_string_lossy())
            .push("callReference", self.call_reference)
            .push("statsProcessingMode", self.stats_processing_mode);
        for (value, name) in self.counters.iter().zip(STATS_COUNTERS) {
            out.push(name, *value);
        }
        if let Some(data) = &self.data {
            out.push("data", String::from_utf8_lossy(data).into_owned());
        }
    }
}
