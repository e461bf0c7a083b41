//! Neutral call-logic outputs ([`Show`], [`MediaAction`]) as SCCP messages, and the registration
//! replies (button and soft-key templates, line, speed-dial, forward, feature and configuration status,
//! date and time), for the negotiated version.

use std::net::SocketAddr;

use codecs::sccp::msg::{
    ActivateCallPlane, ButtonDefinition, ButtonTemplateRes, CallInfo, CallInfoV2, CallStateMsg,
    ClearPriNotify, ClearPromptStatus, CloseReceiveChannel, DialedNumber, DisplayPriNotify,
    DisplayPriNotifyV2, DisplayPromptStatus, DisplayPromptStatusV2, OpenReceiveChannel,
    SelectSoftKeys, SetLamp, SetRinger, SetSpeakerMode, SoftKeyDefinition, SoftKeySetDefinition,
    SoftKeySetRes, SoftKeyTemplateRes, StartMediaTransmission, StartTone, StopMediaTransmission,
    StopTone, TimeDateRes, label,
};
use codecs::sccp::types::{IpField, Slots, Text, VarText};
use codecs::sccp::{
    ButtonType, CallState, CallType, Ctx, LampMode, Message, PayloadType, RingMode, SoftKeyEvent,
    SoftKeySet, Stimulus, Tone,
};

use crate::call::Codec;
use crate::call::phone::{KeySet, Lamp, Prompt, Ring, Show, ShownState, ToneKind};

/// From this version on, the dynamic ("V2") display and status messages are used.
pub(super) const DYNAMIC: u8 = 16;

pub(super) fn payload_type(codec: Codec) -> PayloadType {
    match codec {
        Codec::Pcmu => PayloadType::G711_ULAW64K,
        Codec::Pcma => PayloadType::G711_ALAW64K,
        Codec::G729 => PayloadType::G729_ANNEX_A,
        Codec::G722 => PayloadType::G722_64K,
    }
}

/// The codec of a phone capability, if it is one both worlds know.
pub(super) fn codec_of(pt: PayloadType) -> Option<Codec> {
    match pt {
        PayloadType::G711_ULAW64K | PayloadType::G711_ULAW56K => Some(Codec::Pcmu),
        PayloadType::G711_ALAW64K | PayloadType::G711_ALAW56K => Some(Codec::Pcma),
        PayloadType::G729
        | PayloadType::G729_ANNEX_A
        | PayloadType::G729_ANNEX_B
        | PayloadType::G729_ANNEX_AW_ANNEX_B => Some(Codec::G729),
        PayloadType::G722_64K | PayloadType::G722_56K | PayloadType::G722_48K => Some(Codec::G722),
        _ => None,
    }
}

/// A prompt as phone text: the phone's own localised label (0x80 escape) where it has one.
pub(super) fn prompt_bytes(p: &Prompt) -> Vec<u8> {
    let coded = |code: u8, rest: &str| {
        let mut v = label::code(code).to_vec();
        if !rest.is_empty() {
            v.push(b' ');
            v.extend(rest.bytes().filter(|b| *b != 0));
        }
        v
    };
    match p {
        Prompt::Options => coded(label::YOUR_CURRENT_OPTIONS, ""),
        Prompt::EnterNumber => coded(label::ENTER_NUMBER, ""),
        Prompt::RingOut => coded(label::RING_OUT, ""),
        Prompt::Connected => coded(label::CONNECTED, ""),
        Prompt::From(who) => coded(label::FROM, who),
        Prompt::Busy => coded(label::BUSY, ""),
        Prompt::Transfer => coded(label::CALL_TRANSFER, ""),
        Prompt::ForwardedTo(to) => coded(label::FORWARDED_TO, to),
        Prompt::Dnd => coded(label::DND, ""),
        Prompt::Text(t) => t.bytes().filter(|b| *b != 0).collect(),
    }
}

fn tone(t: ToneKind) -> Tone {
    match t {
        ToneKind::Dial => Tone::INSIDE_DIAL_TONE,
        ToneKind::Ringback => Tone::ALERTING_TONE,
        ToneKind::Busy => Tone::LINE_BUSY_TONE,
        ToneKind::Reorder => Tone::REORDER_TONE,
        ToneKind::CallWaiting => Tone::CALL_WAITING_TONE,
        ToneKind::Dtmf(d) => match d {
            '1'..='9' => Tone(u32::from(d) - u32::from('0')),
            '0' => Tone::DTMF0,
            '*' => Tone::DTMF_STAR,
            '#' => Tone::DTMF_POUND,
            'A' | 'a' => Tone::DTMF_A,
            'B' | 'b' => Tone::DTMF_B,
            'C' | 'c' => Tone::DTMF_C,
            'D' | 'd' => Tone::DTMF_D,
            _ => Tone::SILENCE,
        },
    }
}

fn state(s: ShownState) -> CallState {
    match s {
        ShownState::OffHook => CallState::OFF_HOOK,
        ShownState::OnHook => CallState::ON_HOOK,
        ShownState::RingOut => CallState::RING_OUT,
        ShownState::RingIn => CallState::RING_IN,
        ShownState::Connected => CallState::CONNECTED,
        ShownState::Busy => CallState::BUSY,
        ShownState::Congestion => CallState::CONGESTION,
        ShownState::Hold => CallState::HOLD,
        ShownState::RemoteHold => CallState::REMOTE_HOLD,
        ShownState::Proceed => CallState::PROCEED,
    }
}

fn key_set(k: KeySet) -> SoftKeySet {
    match k {
        KeySet::OnHook => SoftKeySet::ON_HOOK,
        KeySet::Connected => SoftKeySet::CONNECTED,
        KeySet::OnHold => SoftKeySet::ON_HOLD,
        KeySet::RingIn => SoftKeySet::RING_IN,
        KeySet::OffHook => SoftKeySet::OFF_HOOK,
        KeySet::DigitsFollowing => SoftKeySet::DIGITS_FOLLOWING,
        KeySet::RingOut => SoftKeySet::RING_OUT,
    }
}

/// A [`Show`] as the SCCP messages that do it. `unix_secs` is the wall clock for [`Show::Clock`].
pub(super) fn show(s: &Show, ctx: Ctx, unix_secs: u64) -> Vec<Message> {
    let v2 = ctx.version >= DYNAMIC;
    match s {
        Show::State {
            line,
            call,
            state: st,
        } => vec![Message::CallState(CallStateMsg {
            call_state: state(*st),
            line_instance: u32::from(line.0),
            call_reference: call.0,
            privacy: Some(0),
            precedence_level: Some(4),
            precedence_domain: Some(0),
            ..Default::default()
        })],
        Show::Tone {
            line,
            call,
            tone: t,
        } => vec![Message::StartTone(StartTone {
            tone: tone(*t),
            tone_output_direction: 0,
            line_instance: Some(u32::from(line.0)),
            call_reference: Some(call.0),
            ..Default::default()
        })],
        // With the tone field, as CUCM sends it (Wireshark wants it at every version).
        Show::StopTone { line, call } => vec![Message::StopTone(StopTone {
            line_instance: u32::from(line.0),
            call_reference: call.0,
            tone: Some(Tone::SILENCE),
            ..Default::default()
        })],
        Show::Ringer { line, call, ring } => vec![Message::SetRinger(SetRinger {
            ring_mode: match ring {
                Ring::Inside => RingMode::INSIDE_RING,
                Ring::FlashOnly => RingMode::FLASH_ONLY,
                _ => RingMode::RING_OFF,
            },
            ring_duration: 1,
            line_instance: u32::from(line.0),
            call_reference: call.0,
            ..Default::default()
        })],
        Show::Lamp { line, lamp } => vec![Message::SetLamp(SetLamp {
            stimulus: Stimulus::LINE,
            stimulus_instance: u32::from(line.0),
            lamp_mode: match lamp {
                Lamp::On => LampMode::ON,
                Lamp::Blink => LampMode::BLINK,
                Lamp::Wink => LampMode::WINK,
                _ => LampMode::OFF,
            },
            ..Default::default()
        })],
        Show::Speaker(on) => vec![Message::SetSpeakerMode(SetSpeakerMode {
            speaker_mode: if *on { 1 } else { 2 },
            ..Default::default()
        })],
        Show::Keys { line, call, set } => vec![Message::SelectSoftKeys(SelectSoftKeys {
            line_instance: u32::from(line.0),
            call_reference: call.0,
            soft_key_set_index: key_set(*set),
            valid_key_mask: Some(u32::MAX),
            ..Default::default()
        })],
        Show::Prompt { line, call, text } => {
            let bytes = prompt_bytes(text);
            if v2 {
                vec![Message::DisplayPromptStatusV2(DisplayPromptStatusV2 {
                    time_out_value: 0,
                    line_instance: u32::from(line.0),
                    call_reference: call.0,
                    prompt_status: Some(VarText::from_bytes(&bytes)),
                    ..Default::default()
                })]
            } else {
                vec![Message::DisplayPromptStatus(DisplayPromptStatus {
                    time_out_value: 0,
                    prompt_status: Text::from_raw(&bytes[..bytes.len().min(32)]),
                    line_instance: u32::from(line.0),
                    call_reference: call.0,
                    ..Default::default()
                })]
            }
        }
        Show::ClearPrompt { line, call } => vec![Message::ClearPromptStatus(ClearPromptStatus {
            line_instance: u32::from(line.0),
            call_reference: call.0,
            ..Default::default()
        })],
        Show::Notify(text) => {
            let bytes = prompt_bytes(text);
            if bytes.is_empty() {
                vec![Message::ClearPriNotify(ClearPriNotify {
                    priority: 5,
                    ..Default::default()
                })]
            } else if v2 {
                vec![Message::DisplayPriNotifyV2(DisplayPriNotifyV2 {
                    time_out_value: 10,
                    priority: 5,
                    notify: Some(VarText::from_bytes(&bytes)),
                    ..Default::default()
                })]
            } else {
                vec![Message::DisplayPriNotify(DisplayPriNotify {
                    time_out_value: 10,
                    priority: 5,
                    notify: Text::from_raw(&bytes[..bytes.len().min(32)]),
                    ..Default::default()
                })]
            }
        }
        Show::Info { line, call, info } => {
            let call_type = if info.inbound {
                CallType::IN_BOUND_CALL
            } else {
                CallType::OUT_BOUND_CALL
            };
            if v2 {
                let t = |s: &str| Some(VarText::from(s));
                vec![Message::CallInfoV2(CallInfoV2 {
                    line_instance: u32::from(line.0),
                    call_reference: call.0,
                    call_type,
                    calling_party: t(&info.calling_number),
                    alternate_calling_party: t(""),
                    called_party: t(&info.called_number),
                    original_called_party: t(&info.called_number),
                    last_redirecting_party: t(""),
                    cgpn_voice_mailbox: t(""),
                    cdpn_voice_mailbox: t(""),
                    original_cdpn_voice_mailbox: t(""),
                    last_redirecting_voice_mailbox: t(""),
                    calling_party_name: t(&info.calling_name),
                    called_party_name: t(&info.called_name),
                    original_called_party_name: t(""),
                    last_redirecting_party_name: t(""),
                    hunt_pilot_number: (ctx.version >= 17).then(VarText::default),
                    hunt_pilot_name: (ctx.version >= 17).then(VarText::default),
                    ..Default::default()
                })]
            } else {
                vec![Message::CallInfo(CallInfo {
                    calling_party_name: info.calling_name.as_str().into(),
                    calling_party: info.calling_number.as_str().into(),
                    called_party_name: info.called_name.as_str().into(),
                    called_party: info.called_number.as_str().into(),
                    line_instance: u32::from(line.0),
                    call_reference: call.0,
                    call_type,
                    original_called_party: info.called_number.as_str().into(),
                    ..Default::default()
                })]
            }
        }
        Show::Dialed { line, call, number } => vec![Message::DialedNumber(DialedNumber {
            dialed_number: number.as_str().into(),
            line_instance: u32::from(line.0),
            call_reference: call.0,
            ..Default::default()
        })],
        Show::ActivateLine(line) => vec![Message::ActivateCallPlane(ActivateCallPlane {
            line_instance: u32::from(line.0),
            ..Default::default()
        })],
        Show::Clock => vec![Message::TimeDateRes(time_date(unix_secs))],
    }
}

/// The receive channel for a call, laid out for the negotiated version (the sizes the captures and
/// fixtures show: 108 bytes before 11, 132 at 20, 168 from 21).
pub(super) fn open_receive(
    ctx: Ctx,
    call: u32,
    ptid: u32,
    codec: Codec,
    ptime_ms: u16,
    source: SocketAddr,
) -> Message {
    let mut orc = OpenReceiveChannel {
        conference_id: call,
        pass_thru_party_id: ptid,
        millisecond_packet_size: u32::from(ptime_ms),
        compression_type: payload_type(codec),
        call_reference: call,
        rfc2833_payload_type: u32::from(crate::call::phone::TELEPHONE_EVENT_PT),
        ..Default::default()
    };
    if ctx.version >= 11 {
        orc.mixing_mode = Some(0);
        orc.party_direction = Some(0);
        orc.source_ip_addr = Some(IpField::from(source.ip()));
        orc.source_port_number = Some(u32::from(source.port()));
    }
    if ctx.version >= 16 {
        orc.requested_ip_addr_type = Some(0);
    }
    if ctx.version >= 17 {
        orc.audio_level_adjustment = Some(0);
    }
    if ctx.version >= 21 {
        orc.latent_caps_info = Some([0; 36]);
    }
    Message::OpenReceiveChannel(orc)
}

/// Start sending to `to`.
pub(super) fn start_transmission(
    ctx: Ctx,
    call: u32,
    ptid: u32,
    codec: Codec,
    ptime_ms: u16,
    to: SocketAddr,
) -> Message {
    let mut smt = StartMediaTransmission {
        conference_id: call,
        pass_thru_party_id: ptid,
        remote_ip_addr: IpField::from(to.ip()),
        remote_port_number: u32::from(to.port()),
        millisecond_packet_size: u32::from(ptime_ms),
        compression_type: payload_type(codec),
        precedence_value: 184,
        max_frames_per_packet: 1,
        call_reference: call,
        rfc2833_payload_type: u32::from(crate::call::phone::TELEPHONE_EVENT_PT),
        mixing_mode: Some(0),
        ..Default::default()
    };
    if ctx.version >= 15 {
        smt.party_direction = Some(0);
    }
    if ctx.version >= 21 {
        smt.latent_caps_info = Some([0; 36]);
    }
    Message::StartMediaTransmission(smt)
}

/// Close the receive channel and stop sending.
pub(super) fn stop_media(call: u32, ptid: u32) -> [Message; 2] {
    [
        Message::CloseReceiveChannel(CloseReceiveChannel {
            conference_id: call,
            pass_thru_party_id: ptid,
            call_reference: Some(call),
            port_handling_flag: Some(0),
            ..Default::default()
        }),
        Message::StopMediaTransmission(StopMediaTransmission {
            conference_id: call,
            pass_thru_party_id: ptid,
            call_reference: Some(call),
            port_handling_flag: Some(0),
            ..Default::default()
        }),
    ]
}

/// DefineTimeDate for a Unix time (UTC).
pub(super) fn time_date(unix_secs: u64) -> TimeDateRes {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(0);
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let u = |n: i64| u32::try_from(n).unwrap_or(0);
    TimeDateRes {
        w_year: u(year),
        w_month: u(month),
        // 1970-01-01 was a Thursday (4).
        w_day_of_week: u((days + 4).rem_euclid(7)),
        w_day: u(day),
        w_hour: u32::try_from(secs / 3600).unwrap_or(0),
        w_minute: u32::try_from(secs % 3600 / 60).unwrap_or(0),
        w_second: u32::try_from(secs % 60).unwrap_or(0),
        w_milliseconds: 0,
        system_time: u32::try_from(unix_secs).unwrap_or(u32::MAX),
        ..Default::default()
    }
}

/// The soft keys Crossbar offers, in template order (index 1 first), with the events they send.
pub(super) const SOFT_KEYS: [(&[u8], SoftKeyEvent); 13] = [
    (&label::code(label::REDIAL), SoftKeyEvent::REDIAL),
    (&label::code(label::NEW_CALL), SoftKeyEvent::NEW_CALL),
    (&label::code(label::HOLD), SoftKeyEvent::HOLD),
    (&label::code(label::TRANSFER), SoftKeyEvent::TRANSFER),
    (&label::code(label::CFWD_ALL), SoftKeyEvent::CFWD_ALL),
    (&label::code(label::CFWD_BUSY), SoftKeyEvent::CFWD_BUSY),
    (
        &label::code(label::CFWD_NO_ANSWER),
        SoftKeyEvent::CFWD_NO_ANSWER,
    ),
    (&label::code(label::BACKSPACE), SoftKeyEvent::BACK_SPACE),
    (&label::code(label::END_CALL), SoftKeyEvent::END_CALL),
    (&label::code(label::RESUME), SoftKeyEvent::RESUME),
    (&label::code(label::ANSWER), SoftKeyEvent::ANSWER),
    (&label::code(label::DND), SoftKeyEvent::DND),
    (b"Dial", SoftKeyEvent::DIAL),
];

pub(super) fn soft_key_template() -> SoftKeyTemplateRes {
    let definition: Vec<SoftKeyDefinition> = SOFT_KEYS
        .iter()
        .map(|(label, event)| SoftKeyDefinition {
            soft_key_label: Text::from_raw(label),
            soft_key_event: *event,
        })
        .collect();
    let n = u32::try_from(definition.len()).unwrap_or(0);
    SoftKeyTemplateRes {
        soft_key_offset: 0,
        soft_key_count: n,
        total_soft_key_count: n,
        definition: Slots(definition),
        ..Default::default()
    }
}

/// The soft-key sets, indexed by [`SoftKeySet`] 0..=10.
pub(super) fn soft_key_sets() -> SoftKeySetRes {
    use SoftKeyEvent as E;
    let index = |e: SoftKeyEvent| {
        SOFT_KEYS
            .iter()
            .position(|(_, k)| *k == e)
            .and_then(|i| u8::try_from(i + 1).ok())
            .unwrap_or(0)
    };
    let set = |events: &[SoftKeyEvent]| {
        let keys: Vec<(u8, SoftKeyEvent)> = events.iter().map(|e| (index(*e), *e)).collect();
        SoftKeySetDefinition::new(&keys)
    };
    let sets = vec![
        // 0 on hook
        set(&[E::REDIAL, E::NEW_CALL, E::CFWD_ALL, E::DND]),
        // 1 connected
        set(&[E::HOLD, E::END_CALL, E::TRANSFER]),
        // 2 on hold
        set(&[E::RESUME, E::NEW_CALL, E::END_CALL]),
        // 3 ring in
        set(&[E::ANSWER, E::END_CALL]),
        // 4 off hook
        set(&[E::REDIAL, E::END_CALL, E::CFWD_ALL]),
        // 5 connected transferable
        set(&[E::HOLD, E::END_CALL, E::TRANSFER]),
        // 6 digits following
        set(&[E::DIAL, E::BACK_SPACE, E::END_CALL]),
        // 7 connected conference
        set(&[E::HOLD, E::END_CALL]),
        // 8 ring out
        set(&[E::END_CALL, E::TRANSFER]),
        // 9 off hook with features
        set(&[E::REDIAL, E::END_CALL]),
        // 10 in use hint
        set(&[E::NEW_CALL]),
    ];
    let n = u32::try_from(sets.len()).unwrap_or(0);
    SoftKeySetRes {
        soft_key_set_offset: 0,
        soft_key_set_count: n,
        total_soft_key_set_count: n,
        definition: Slots(sets),
        ..Default::default()
    }
}

/// A button of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Button {
    Line(u8),
    SpeedDial(u8),
    Blf(u8),
}

pub(super) fn button_template(buttons: &[Button]) -> ButtonTemplateRes {
    let definition: Vec<ButtonDefinition> = buttons
        .iter()
        .take(42)
        .map(|b| match b {
            Button::Line(i) => ButtonDefinition::new(ButtonType::LINE, *i),
            Button::SpeedDial(i) => ButtonDefinition::new(ButtonType::SPEED_DIAL, *i),
            Button::Blf(i) => ButtonDefinition::new(ButtonType::BUSY_LAMP_FIELD_SPEEDDIAL, *i),
        })
        .collect();
    let n = u32::try_from(definition.len()).unwrap_or(0);
    ButtonTemplateRes {
        button_offset: 0,
        button_count: n,
        total_button_count: n,
        definition: Slots(definition),
        ..Default::default()
    }
}
