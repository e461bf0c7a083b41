//! Neutral call-logic outputs ([`Show`], media) as UNIStim messages, and the screens Crossbar draws:
//! the idle screen, softkey strips per state, the "not provisioned" screen (unistim.md §3.3, §4).
//!
//! Geometry (unistim.md §5.1, `provisioning/src/models.rs`): text lines are written with control 0x05
//! (cursor move + clear right) at position 0; softkey labels one write per softkey (what CS2K does and
//! chan_unistim's `status_method=1`, which newer firmware needs — the §7 "softkey text missing" pain
//! point); line-key labels as soft labels and the icons beside them as the line lamps.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use codecs::unistim::Text;
use codecs::unistim::msg::Message;
use codecs::unistim::msg::audio::{
    AlertingToneConfiguration, AudioSwitch, CloseAudioStream, ConnectTransducer,
    JitterBufferParameters, StreamBasedToneCadence, StreamBasedToneOff, StreamBasedToneOn,
    TransducerPair, TransducerTone, VisualToneEnable, Vocoder,
};
use codecs::unistim::msg::audio_stream::{
    ConfigureVocoder, FrequencyList, MuteEntry, MuteUnmute, OpenAudioStream, VocoderParam,
};
use codecs::unistim::msg::broadcast::{BroadcastSwitch, TimeAndDate};
use codecs::unistim::msg::display::{CallDurationTimer, DisplaySwitch, TimeAndDateFormat};
use codecs::unistim::msg::display_write::{ClearField, DisplayWrite, WriteAddress};
use codecs::unistim::msg::key::{KeySwitch, LedCadence, LedId, LedUpdate, PhoneIconUpdate, icon};

use crate::call::Codec;
use crate::call::phone::{CallDisplay, Key, KeySet, Lamp, Prompt, Ring, ShownState, ToneKind};

/// The stream every call uses (one call is in the audio path at a time; held calls are closed).
pub(super) const STREAM: u8 = 0;
/// The downloadable stream-based tone id used for every call-progress tone (CS2K used 0x0F).
const TONE_ID: u8 = 0x0f;
/// The audio parameter bank connected with the transducer (CS2K `32 c2 03 00`).
const APB: u8 = 3;

/// What a model's screen and keys look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Text lines (i2002: 1; i2004/1140E: 3).
    pub text_lines: u8,
    /// Characters per text line.
    pub width: u8,
    /// Context-sensitive softkeys under the display.
    pub softkeys: u8,
    /// Programmable (line) keys with labels beside them.
    pub line_keys: u8,
}

impl Geometry {
    /// The geometry of an inventory model (`provisioning::MODELS` names), falling back to the i2004's.
    pub fn for_model(model: &str) -> Self {
        let line_keys = provisioning::MODELS
            .iter()
            .find(|m| m.name == model)
            .map_or(6, |m| m.line_keys);
        let text_lines = if model == "nortel-i2002" || model == "avaya-1120e" {
            // The i2002 and 1120E have a narrow display: chan_unistim drives the i2002 as one line
            // (`height=1`, IT type 0x03); the 1120E shows three short lines, kept to one for labels.
            1
        } else {
            3
        };
        Self {
            text_lines,
            width: 24,
            softkeys: 4,
            line_keys,
        }
    }

    /// The line a prompt (status) goes on.
    fn prompt_line(self) -> u8 {
        if self.text_lines >= 2 { 1 } else { 0 }
    }

    /// The line the parties of a call go on.
    fn info_line(self) -> u8 {
        if self.text_lines >= 3 { 2 } else { 0 }
    }
}

impl Default for Geometry {
    fn default() -> Self {
        Self::for_model("nortel-i2004")
    }
}

/// Phone text from a string: ISO-8859-1 where the character has one, `?` otherwise, cut to `max`.
pub(super) fn text(s: &str, max: usize) -> Text {
    let bytes: Vec<u8> = s
        .chars()
        .map(|c| match u8::try_from(u32::from(c)) {
            Ok(b) if b >= 0x20 && b != 0x7f => b,
            _ => b'?',
        })
        .take(max)
        .collect();
    Text::new(Bytes::from(bytes))
}

fn display(m: DisplaySwitch) -> Message {
    Message::DisplaySwitch(m)
}

fn audio(m: AudioSwitch) -> Message {
    Message::AudioSwitch(m)
}

fn key(m: KeySwitch) -> Message {
    Message::KeySwitch(m)
}

/// Writes `s` on text line `line` (control 0x05: cursor move + clear right, as chan_unistim and CS2K).
pub(super) fn write_line(g: Geometry, line: u8, s: &str) -> Message {
    display(DisplaySwitch::DisplayWrite(
        DisplayWrite::new(WriteAddress::line(line, 0), text(s, usize::from(g.width)))
            .with_control(DisplayWrite::CURSOR_MOVE | DisplayWrite::CLEAR_RIGHT),
    ))
}

/// Clears text line `line`.
pub(super) fn clear_line(line: u8) -> Message {
    display(DisplaySwitch::ClearField(ClearField::lines(1 << line)))
}

/// Clears every softkey label.
pub(super) fn clear_softkeys() -> Message {
    display(DisplaySwitch::ClearField(ClearField {
        mask: 0x40,
        lines: None,
        status_bar_icons: None,
        softkeys: Some(0x0f),
        softkey_label: None,
        trailing: Bytes::new(),
    }))
}

/// The context (title) field.
pub(super) fn context(s: &str) -> Message {
    display(DisplaySwitch::DisplayWrite(DisplayWrite::new(
        WriteAddress::context(),
        text(s, 12),
    )))
}

/// The softkeys of a set, in position order (`None`: blank).
pub(super) fn softkeys(set: KeySet) -> [Option<(Key, &'static str)>; 4] {
    match set {
        KeySet::OnHook => [
            Some((Key::Redial, "Redial")),
            Some((Key::ForwardAll, "Forward")),
            Some((Key::Dnd, "DND")),
            Some((Key::NewCall, "NewCall")),
        ],
        KeySet::OffHook => [
            Some((Key::Redial, "Redial")),
            None,
            None,
            Some((Key::EndCall, "End")),
        ],
        // Transf on the dialing and ring-out sets completes a blind transfer to what is dialed (the
        // consultation call of the first press); on an ordinary call it does nothing. The SCCP sets
        // have it on ring out as well.
        KeySet::DigitsFollowing => [
            Some((Key::Dial, "Dial")),
            Some((Key::BackSpace, "BkSpc")),
            Some((Key::Transfer, "Transf")),
            Some((Key::EndCall, "End")),
        ],
        KeySet::RingOut => [
            None,
            Some((Key::Transfer, "Transf")),
            None,
            Some((Key::EndCall, "End")),
        ],
        KeySet::RingIn => [
            Some((Key::Answer, "Answer")),
            None,
            None,
            Some((Key::EndCall, "End")),
        ],
        KeySet::Connected => [
            Some((Key::Hold, "Hold")),
            Some((Key::Transfer, "Transf")),
            Some((Key::NewCall, "NewCall")),
            Some((Key::EndCall, "End")),
        ],
        KeySet::OnHold => [
            Some((Key::Resume, "Resume")),
            Some((Key::Transfer, "Transf")),
            Some((Key::NewCall, "NewCall")),
            Some((Key::EndCall, "End")),
        ],
    }
}

/// The softkey strip of a set: one 7-character write per softkey (CS2K, startup frame 54).
pub(super) fn softkey_strip(g: Geometry, set: KeySet) -> Vec<Message> {
    softkeys(set)
        .iter()
        .take(usize::from(g.softkeys))
        .enumerate()
        .map(|(i, k)| {
            let label = k.map_or("", |(_, l)| l);
            let id = u8::try_from(i).unwrap_or(0);
            display(DisplaySwitch::DisplayWrite(DisplayWrite::new(
                WriteAddress::softkey(id),
                text(&format!("{label:<7}"), 7),
            )))
        })
        .collect()
}

/// A line key's label (the soft label beside programmable key `pos`).
pub(super) fn key_label(pos: u8, s: &str) -> Message {
    display(DisplaySwitch::DisplayWrite(DisplayWrite::new(
        WriteAddress::soft_label(pos),
        text(s, 10),
    )))
}

/// The icon beside programmable key `pos` (unistim.md §3.3: `20` idle, `24` active, `42` ringing,
/// `66` held).
pub(super) fn key_icon(pos: u8, lamp: Lamp) -> Message {
    let state = match lamp {
        Lamp::On => icon::ACTIVE,
        Lamp::Blink => icon::RINGING,
        Lamp::Wink => icon::HOLD,
        _ => 0x20,
    };
    key(KeySwitch::PhoneIconUpdate(PhoneIconUpdate::new(pos, state)))
}

/// An LED.
pub(super) fn led(id: LedId, on: bool) -> Message {
    key(KeySwitch::LedUpdate(LedUpdate::new(
        id,
        if on { LedCadence::ON } else { LedCadence::OFF },
    )))
}

/// The wall clock as Broadcast Time and Date (year byte = years since 1920, startup frame 55:
/// 0x57 in 2007), then Restore Time and Date so the phone shows it.
pub(super) fn clock(unix: u64) -> Vec<Message> {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    let byte = |v: i64| u8::try_from(v).unwrap_or(0);
    vec![
        display(DisplaySwitch::TimeAndDateFormat(TimeAndDateFormat::new(
            // Use the time and date formats, 24 h, day-month ("16Sep").
            0x30 | 0x02,
        ))),
        Message::BroadcastSwitch(BroadcastSwitch::TimeAndDateDownload(TimeAndDate::new(
            byte((y - 1920).clamp(0, 127)),
            byte(m),
            byte(d),
            byte(i64::try_from(secs / 3600).unwrap_or(0)),
            byte(i64::try_from(secs % 3600 / 60).unwrap_or(0)),
            byte(i64::try_from(secs % 60).unwrap_or(0)),
        ))),
        display(DisplaySwitch::RestoreTimeAndDate(Default::default())),
    ]
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A prompt's text.
pub(super) fn prompt_text(p: &Prompt) -> String {
    match p {
        Prompt::Options => "Ready".to_owned(),
        Prompt::EnterNumber => "Enter number".to_owned(),
        Prompt::RingOut => "Ringing...".to_owned(),
        Prompt::Connected => "Connected".to_owned(),
        Prompt::From(who) => format!("From {who}"),
        Prompt::Busy => "Busy".to_owned(),
        Prompt::Transfer => "Transfer".to_owned(),
        Prompt::ForwardedTo(to) => format!("Fwd to {to}"),
        Prompt::Dnd => "Do not disturb".to_owned(),
        Prompt::Text(t) => t.clone(),
    }
}

/// The prompt (status) line.
pub(super) fn prompt(g: Geometry, p: &Prompt) -> Message {
    write_line(g, g.prompt_line(), &prompt_text(p))
}

/// Clears the prompt line.
pub(super) fn clear_prompt(g: Geometry) -> Message {
    clear_line(g.prompt_line())
}

/// The parties of a call: the caller's name and number while ringing, the called party otherwise.
pub(super) fn info(g: Geometry, info: &CallDisplay) -> Vec<Message> {
    let (name, number) = if info.inbound {
        (&info.calling_name, &info.calling_number)
    } else {
        (&info.called_name, &info.called_number)
    };
    let who = match (name.is_empty(), number.is_empty()) {
        (false, false) if name != number => format!("{name} {number}"),
        (false, _) => name.clone(),
        (true, _) => number.clone(),
    };
    if who.is_empty() {
        return Vec::new();
    }
    vec![write_line(g, g.info_line(), &who)]
}

/// The number dialled so far.
pub(super) fn dialed(g: Geometry, number: &str) -> Message {
    write_line(g, g.info_line(), number)
}

/// The call timer: started on a connected call (mode + display, chan_unistim `05 00`), reset otherwise.
pub(super) fn timer(state: ShownState) -> Option<Message> {
    let flags = match state {
        ShownState::Connected => 0x05,
        ShownState::OnHook => 0x02,
        _ => return None,
    };
    Some(display(DisplaySwitch::CallDurationTimer(
        CallDurationTimer::new(flags, 0),
    )))
}

/// Frequencies (Hz) and cadence (on, off in 20 ms steps; `0xFF` = steady) of each tone
/// (North-American values; CS2K: dial 350+440 steady, ring-back 440+480 2 s / 4 s).
fn tone_spec(t: ToneKind) -> (Vec<u32>, [u8; 2]) {
    match t {
        ToneKind::Dial => (vec![350, 440], [0xff, 0x00]),
        ToneKind::Ringback => (vec![440, 480], [0x64, 0xc8]),
        ToneKind::Busy => (vec![480, 620], [0x19, 0x19]),
        ToneKind::Reorder => (vec![480, 620], [0x0c, 0x0c]),
        ToneKind::CallWaiting => (vec![440], [0x0f, 0xff]),
        ToneKind::Dtmf(c) => {
            let (lo, hi) = dtmf_pair(c);
            (vec![lo, hi], [0x05, 0xff])
        }
    }
}

fn dtmf_pair(c: char) -> (u32, u32) {
    let row = |r: usize| [697, 770, 852, 941][r];
    let col = |c: usize| [1209, 1336, 1477, 1633][c];
    let (r, k) = match c {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        _ => (3, 3),
    };
    (row(r), col(k))
}

/// A call-progress tone played by the phone into its audio path (Stream Based Tone: frequencies,
/// cadence, on), as CS2K does (call capture frame 4).
pub(super) fn tone_on(t: ToneKind) -> Vec<Message> {
    let (hz, cadence) = tone_spec(t);
    vec![
        audio(AudioSwitch::StreamBasedToneOff(StreamBasedToneOff::new(
            TONE_ID, STREAM,
        ))),
        audio(AudioSwitch::StreamBasedToneFrequencyList(FrequencyList {
            tone: TONE_ID,
            frequencies: hz.into_iter().map(FrequencyList::word_for_hz).collect(),
            trailing: Bytes::new(),
        })),
        audio(AudioSwitch::StreamBasedToneCadenceDownload(
            StreamBasedToneCadence::new(TONE_ID, Bytes::copy_from_slice(&cadence)),
        )),
        audio(AudioSwitch::StreamBasedToneOn(StreamBasedToneOn::new(
            TONE_ID, STREAM, 0x11,
        ))),
    ]
}

/// Stops the tone.
pub(super) fn tone_off() -> Message {
    audio(AudioSwitch::StreamBasedToneOff(StreamBasedToneOff::new(
        TONE_ID, STREAM,
    )))
}

/// The ringer: configuration (handsfree speaker, cadence 0 = 2 s on / 4 s off) and the alerting tone,
/// with the visual indicator; `FlashOnly` (call waiting) only the visual indicator.
pub(super) fn ringer(ring: Ring) -> Vec<Message> {
    match ring {
        Ring::Inside => vec![
            audio(AudioSwitch::VisualTransducerBasedToneEnable(
                VisualToneEnable::new(1),
            )),
            audio(AudioSwitch::AlertingToneConfiguration(
                AlertingToneConfiguration::new(0x10, 0x08),
            )),
            audio(AudioSwitch::TransducerBasedToneOn(TransducerTone::new(0))),
        ],
        Ring::FlashOnly => vec![audio(AudioSwitch::VisualTransducerBasedToneEnable(
            VisualToneEnable::new(1),
        ))],
        _ => vec![
            audio(AudioSwitch::VisualTransducerBasedToneEnable(
                VisualToneEnable::new(0),
            )),
            audio(AudioSwitch::TransducerBasedToneOff(TransducerTone::new(0))),
        ],
    }
}

/// Routes a transducer (handset, headset, speaker) to the call stream, both ways.
pub(super) fn connect(pair: TransducerPair) -> Message {
    audio(AudioSwitch::ConnectTransducer(
        ConnectTransducer::both_ways(pair, APB, STREAM),
    ))
}

/// Disconnects every transducer (CS2K `32 ff 03 ff`).
pub(super) fn disconnect() -> Message {
    audio(AudioSwitch::ConnectTransducer(ConnectTransducer::new(
        0xff,
        APB,
        Bytes::from_static(&[0xff]),
    )))
}

/// The vocoder id of a codec (the static RTP payload type, unistim.md §3.3; G.722 = 9 as chan_unistim
/// fills the field with the payload type).
pub(super) fn vocoder(codec: Codec) -> Vocoder {
    match codec {
        Codec::Pcma => Vocoder::PCMA,
        Codec::G729 => Vocoder::G729,
        Codec::G722 => Vocoder(9),
        _ => Vocoder::PCMU,
    }
}

/// The codec of a vocoder id the phone reports.
pub(super) fn codec_of(v: u8) -> Option<Codec> {
    match v {
        0x00 | 0x61 => Some(Codec::Pcmu),
        0x08 | 0x62 => Some(Codec::Pcma),
        0x12 => Some(Codec::G729),
        0x09 => Some(Codec::G722),
        _ => None,
    }
}

/// Bytes in one 10 ms frame of a codec.
fn frame_bytes(codec: Codec) -> u16 {
    match codec {
        Codec::G729 => 10,
        _ => 80,
    }
}

/// Opens the call's audio stream both ways: vocoder parameters (VAD off, 10 ms frames), jitter buffer,
/// mute, Open Audio Stream (the phone's RTP port chosen by us, the far end `to`), unmute — the order
/// CS2K used at answer (call capture f72: `16/38`, `16/04`, `16/30`, then `16/04` unmute).
pub(super) fn open_stream(
    codec: Codec,
    ptime_ms: u16,
    local_port: u16,
    to: SocketAddr,
) -> Vec<Message> {
    let v = vocoder(codec);
    let mut params = vec![VocoderParam {
        // VAD off, both directions.
        param: 0xc0,
        value: None,
    }];
    params.push(VocoderParam {
        // Bytes per frame, both directions.
        param: 0xe0,
        value: Some(frame_bytes(codec)),
    });
    let far_address = match to.ip() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    let fpp = u8::try_from((ptime_ms / 10).clamp(1, 6)).unwrap_or(2);
    let mute = |flags: u8| MuteUnmute {
        entries: vec![
            MuteEntry {
                flags,
                stream_id: STREAM,
            },
            MuteEntry {
                flags: flags | 0x02,
                stream_id: STREAM,
            },
        ],
        trailing: Bytes::new(),
    };
    vec![
        audio(AudioSwitch::ConfigureVocoderParameters(ConfigureVocoder {
            stream_id: STREAM,
            vocoder: v,
            params,
        })),
        audio(AudioSwitch::JitterBufferParameters(
            JitterBufferParameters::new(STREAM, 2, 4, 16_000, 16_000),
        )),
        audio(AudioSwitch::MuteUnmute(mute(0x01))),
        audio(AudioSwitch::OpenAudioStream(OpenAudioStream {
            rx_stream_id: STREAM,
            tx_stream_id: STREAM,
            rx_vocoder: v,
            tx_vocoder: v,
            frames_per_packet: fpp,
            tos: 0,
            rtcp_bucket_id: 0,
            reserved: [0, 0, 0, 2],
            local_rtp_port: local_port,
            local_rtcp_port: local_port.saturating_add(1),
            far_rtp_port: to.port(),
            far_rtcp_port: to.port().saturating_add(1),
            far_address,
            trailing: Bytes::new(),
        })),
        audio(AudioSwitch::MuteUnmute(mute(0x00))),
    ]
}

/// Closes the call's audio stream.
pub(super) fn close_stream() -> Message {
    audio(AudioSwitch::CloseAudioStream(CloseAudioStream::new(
        STREAM, STREAM,
    )))
}
