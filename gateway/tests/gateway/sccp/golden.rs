//! Conversation goldens: the phone side of real CUCM captures replayed into a session, its answers
//! compared with what CUCM answered, phase by phase (a phase is what follows one phone message or one
//! scripted far-end event).
//!
//! The comparison: in each phase, every message id CUCM sent (each id once, in order of first use)
//! must appear in our answer in the same order, except the ids listed in [`CUCM_ONLY`] with the reason
//! we do not send them. Our answers may hold more (for example SetLamp or SelectSoftKeys that CUCM sends
//! in a neighbouring phase).

use std::path::Path;
use std::time::Duration;

use codecs::sccp::stream::{Conversation, Event, Side};
use codecs::sccp::{CallState, Message, MessageId};
use gateway::call::phone::LineFeatures;
use gateway::call::{Codec, LineId, LineIdentity, UaEvent};
use gateway::session::sccp::{DeviceConfig, KeyConfig, LineConfig};

use super::harness::{SessionHarness, far_media, in_order};

/// What CUCM sends that Crossbar does not, and why.
const CUCM_ONLY: &[(MessageId, &str)] = &[(
    MessageId::USER_TO_DEVICE_DATA_VERSION1,
    "CUCM's <getDeviceCaps/> XML query; Crossbar has no XML applications",
)];

fn shared(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel)
}

/// The capture's messages in order, with their side.
fn messages(file: &str) -> Vec<(Side, Message)> {
    let capture = captures::read_file(shared(&format!("captures/sccp/{file}"))).expect("capture");
    let mut conv = Conversation::new();
    let mut out = Vec::new();
    for p in captures::payloads(&capture) {
        let side = if p.dst.port() == 2000 {
            Side::Client
        } else {
            Side::Server
        };
        for e in conv.push(side, &p.data, false) {
            if let Event::Message(d) = e
                && let Ok(m) = d.message
            {
                out.push((d.side, m));
            }
        }
    }
    out
}

/// The 7970 of the captures: DN 8001 or 8003 on line 1, a second line and six speed dials.
fn cucm_device(ext: &str) -> DeviceConfig {
    let line = |n: u16, e: &str| LineConfig {
        id: LineId(n),
        identity: LineIdentity {
            extension: e.to_owned(),
            domain: "collab.example.com".to_owned(),
            display_name: e.to_owned(),
            ha1: None,
        },
        label: e.to_owned(),
        features: LineFeatures::default(),
    };
    let mut keys = vec![KeyConfig::Line(LineId(1)), KeyConfig::Line(LineId(2))];
    for i in 1..=6 {
        keys.push(KeyConfig::SpeedDial {
            label: format!("SD{i}"),
            target: format!("900{i}"),
        });
    }
    DeviceConfig {
        name: "SEP001E4A34A7B1".to_owned(),
        lines: vec![line(1, ext), line(2, "8002")],
        keys,
        user_name: ext.to_owned(),
    }
}

struct Phase {
    what: String,
    cucm: Vec<MessageId>,
    ours: Vec<MessageId>,
}

/// Replays `file`: phone messages go to the session; `script` may turn a CUCM message into a scripted
/// event (returning true when it opened a new phase).
fn replay(
    file: &str,
    h: &mut SessionHarness,
    mut script: impl FnMut(&mut SessionHarness, &Message) -> Option<String>,
) -> Vec<Phase> {
    let mut phases: Vec<Phase> = Vec::new();
    for (side, m) in messages(file) {
        match side {
            Side::Client => {
                h.phone(m.clone());
                phases.push(Phase {
                    what: format!("phone {}", m.name()),
                    cucm: Vec::new(),
                    ours: h.take_ids(),
                });
            }
            Side::Server => {
                if let Some(what) = script(h, &m) {
                    phases.push(Phase {
                        what,
                        cucm: Vec::new(),
                        ours: h.take_ids(),
                    });
                }
                if let Some(p) = phases.last_mut() {
                    p.cucm.push(m.id());
                }
            }
        }
    }
    phases
}

/// One message of a flow with the phase it belongs to.
type Tagged = (String, MessageId);

/// The longest common subsequence of two id lists: what is left over on each side is the difference.
fn diff(cucm: &[Tagged], ours: &[Tagged]) -> (Vec<Tagged>, Vec<Tagged>) {
    let (n, m) = (cucm.len(), ours.len());
    let mut t = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i][j] = if cucm[i].1 == ours[j].1 {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let (mut missing, mut extra) = (Vec::new(), Vec::new());
    while i < n && j < m {
        if cucm[i].1 == ours[j].1 {
            i += 1;
            j += 1;
        } else if t[i + 1][j] >= t[i][j + 1] {
            missing.push(cucm[i].clone());
            i += 1;
        } else {
            extra.push(ours[j].clone());
            j += 1;
        }
    }
    missing.extend(cucm[i..].iter().cloned());
    extra.extend(ours[j..].iter().cloned());
    (missing, extra)
}

/// Compares the whole flow: CUCM's messages not in ours (`missing`) and ours not in CUCM's (`extra`)
/// must be exactly the documented differences, each given as (id, reason).
fn check(phases: &[Phase], missing_ok: &[(MessageId, &str)], extra_ok: &[(MessageId, &str)]) {
    let flat = |f: fn(&Phase) -> &Vec<MessageId>| -> Vec<Tagged> {
        phases
            .iter()
            .flat_map(|p| f(p).iter().map(|id| (p.what.clone(), *id)))
            .collect()
    };
    let cucm: Vec<Tagged> = flat(|p| &p.cucm)
        .into_iter()
        .filter(|(_, id)| !CUCM_ONLY.iter().any(|(c, _)| c == id))
        .collect();
    let ours = flat(|p| &p.ours);
    let (missing, extra) = diff(&cucm, &ours);
    let mut report = String::new();
    for p in phases {
        report.push_str(&format!(
            "{}\n  cucm: {:?}\n  ours: {:?}\n",
            p.what, p.cucm, p.ours
        ));
    }
    let ids = |v: &[Tagged]| v.iter().map(|(_, id)| *id).collect::<Vec<_>>();
    let documented = |v: &[(MessageId, &str)]| v.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    assert_eq!(
        (ids(&missing), ids(&extra)),
        (documented(missing_ok), documented(extra_ok)),
        "undocumented differences from CUCM\nCUCM sent, we did not: {missing:?}\nwe sent, CUCM did not: {extra:?}\n{report}"
    );
}

#[test]
fn registration_follows_cucm() {
    let mut h = SessionHarness::new(Some(cucm_device("8001")));
    let phases = replay(
        "nrusso-collab__sccp_phone_register.pcapng",
        &mut h,
        |_, _| None,
    );
    check(&phases, &[], &[]);
    assert!(h.session.is_registered());
    assert_eq!(h.ctx().version, 20, "7970 offers 20; Crossbar up to 22");
    // Every request got its answer: the CUCM reply ids appear in our whole flow in the same order.
    let all_cucm: Vec<MessageId> = phases.iter().flat_map(|p| p.cucm.clone()).collect();
    let all_ours: Vec<MessageId> = phases.iter().flat_map(|p| p.ours.clone()).collect();
    let essential: Vec<MessageId> = all_cucm
        .into_iter()
        .filter(|id| !CUCM_ONLY.iter().any(|(c, _)| c == id))
        .collect();
    assert!(
        in_order(&all_ours, &essential),
        "{all_ours:?}\n{essential:?}"
    );
}

fn registered_at_20(ext: &str) -> SessionHarness {
    let mut h = SessionHarness::new(Some(cucm_device(ext)));
    h.register(20);
    h.take();
    h.take_ua();
    h
}

#[test]
fn outbound_call_follows_cucm() {
    let mut h = registered_at_20("8003");
    let mut answered = false;
    let mut ringing = false;
    let phases = replay(
        "nrusso-collab__sccp_outbound_call.pcapng",
        &mut h,
        |h, m| match m {
            // CUCM's dial plan matched 8001 at the fourth digit; Crossbar waits for the interdigit time.
            Message::DialedNumber(_) if h.last_invite().is_none() => {
                h.advance(Duration::from_secs(5));
                Some("dialing ends (interdigit)".to_owned())
            }
            Message::CallState(s) if s.call_state == CallState::RING_OUT && !ringing => {
                ringing = true;
                let (call, _) = h.last_invite().expect("invite");
                h.ua_event(UaEvent::Progress {
                    call,
                    code: 180,
                    media: None,
                });
                Some("far end: 180".to_owned())
            }
            Message::StopTone(_) if ringing && !answered => {
                answered = true;
                let (call, _) = h.last_invite().expect("invite");
                h.ua_event(UaEvent::Answered {
                    call,
                    media: far_media(Codec::Pcmu),
                });
                Some("far end: 200".to_owned())
            }
            _ => None,
        },
    );
    check(
        &phases,
        &[
            (
                MessageId::SET_RINGER,
                "off-hook: CUCM silences a ringer that is not ringing; Crossbar sends SetRinger only \
                 when something rang",
            ),
            (
                MessageId::SET_SPEAKER_MODE,
                "off-hook: CUCM turns the speaker on although the phone reported its own media path; \
                 Crossbar leaves the phone's choice alone when it went off-hook by itself",
            ),
            (
                MessageId::CALL_INFO_V2,
                "CUCM re-sends CallInfoV2 at ring-out; Crossbar sends it when the parties change",
            ),
            (
                MessageId::STOP_TONE,
                "CUCM sends a second StopTone after the connected display; one is enough",
            ),
            (
                MessageId::CALL_INFO_V2,
                "CUCM re-sends CallInfoV2 after the phone's OpenReceiveChannelAck",
            ),
            (
                MessageId::CLOSE_RECEIVE_CHANNEL,
                "on-hook: Crossbar closes media before the display (CUCM's order on a far-end \
                 hang-up); CUCM put it after ClearPromptStatus here",
            ),
            (MessageId::STOP_MEDIA_TRANSMISSION, "same: media first"),
        ],
        &[
            (MessageId::CLOSE_RECEIVE_CHANNEL, "media first, see above"),
            (MessageId::STOP_MEDIA_TRANSMISSION, "media first, see above"),
        ],
    );
    assert_eq!(h.last_invite().map(|(_, t)| t), Some("8001".to_owned()));
    assert!(
        h.session.phone().unwrap().calls().next().is_none(),
        "idle after on-hook"
    );
}

#[test]
fn inbound_call_follows_cucm() {
    let mut h = registered_at_20("8001");
    let call = h.refs.next();
    let mut rang = false;
    let mut answered = false;
    let mut ended = false;
    let phases = replay(
        "nrusso-collab__sccp_inbound_call.pcapng",
        &mut h,
        |h, m| match m {
            Message::CallState(s) if s.call_state == CallState::RING_IN && !rang => {
                rang = true;
                h.ua_event(UaEvent::Incoming {
                    call,
                    line: LineId(1),
                    from_name: String::new(),
                    from_number: "8003".to_owned(),
                    offer: Some(far_media(Codec::Pcmu)),
                    replaces: None,
                });
                Some("far end: INVITE".to_owned())
            }
            // The trimmed capture lacks the phone's own OffHook: CUCM's SetRinger Off is its answer.
            Message::SetRinger(r)
                if rang && !answered && r.ring_mode == codecs::sccp::RingMode::RING_OFF =>
            {
                answered = true;
                h.off_hook();
                Some("phone OffHook (not in the capture)".to_owned())
            }
            Message::CloseReceiveChannel(_) if answered && !ended => {
                ended = true;
                h.ua_event(UaEvent::Ended { call });
                Some("far end: BYE".to_owned())
            }
            _ => None,
        },
    );
    check(
        &phases,
        &[
            (
                MessageId::SET_SPEAKER_MODE,
                "answer: CUCM turns the speaker on; the phone went off-hook by itself, so Crossbar \
                 leaves its media path alone",
            ),
            (
                MessageId::SET_RINGER,
                "answer: CUCM silences the ringer twice; once is enough",
            ),
            (
                MessageId::STOP_TONE,
                "answer: CUCM sends a second StopTone after the receive channel; once is enough",
            ),
            (
                MessageId::CALL_INFO_V2,
                "CUCM re-sends CallInfoV2 after the phone's OpenReceiveChannelAck",
            ),
        ],
        &[],
    );
    // CUCM sent StartMediaTransmission only after the phone's ack; Crossbar knows the far end's
    // address from the INVITE and sends it at once (sccp.md §5.6 rule 6), so it comes earlier.
    assert!(ended);
    assert!(h.session.phone().unwrap().calls().next().is_none());
}

/// IOS CME and a 7962 that offers 22: the phone pipelines its line and forward requests for six lines
/// before any answer. With Crossbar offering at most 17 (what CME offered), the version is 17 and every
/// request gets exactly one answer of the matching kind, in the order asked.
#[test]
fn cme_registration_every_pipelined_request_is_answered_in_order() {
    let mut device = cucm_device("1001");
    for n in 3..=6u16 {
        device.lines.push(LineConfig {
            id: LineId(n),
            identity: LineIdentity {
                extension: format!("100{n}"),
                domain: "cme.example.com".to_owned(),
                display_name: String::new(),
                ha1: None,
            },
            label: String::new(),
            features: LineFeatures::default(),
        });
        device.keys.push(KeyConfig::Line(LineId(n)));
    }
    let mut h = SessionHarness::with_config(
        Some(device),
        gateway::session::sccp::SessionConfig {
            max_version: 17,
            ..Default::default()
        },
    );
    let mut asked = Vec::new();
    let mut answered = Vec::new();
    for (side, m) in messages("nrusso-collab__sccp_cme_init.pcapng") {
        if side != Side::Client {
            continue;
        }
        let expect = match m.id() {
            MessageId::REGISTER_REQ => Some(MessageId::REGISTER_ACK),
            MessageId::BUTTON_TEMPLATE_REQ => Some(MessageId::BUTTON_TEMPLATE_RES),
            MessageId::SOFT_KEY_TEMPLATE_REQ => Some(MessageId::SOFT_KEY_TEMPLATE_RES),
            MessageId::SOFT_KEY_SET_REQ => Some(MessageId::SOFT_KEY_SET_RES),
            MessageId::CONFIG_STAT_REQ => Some(MessageId::CONFIG_STAT_V2_RES),
            MessageId::LINE_STAT_REQ => Some(MessageId::LINE_STAT_V2_RES),
            MessageId::FORWARD_STAT_REQ => Some(MessageId::FORWARD_STAT_RES),
            MessageId::TIME_DATE_REQ => Some(MessageId::TIME_DATE_RES),
            _ => None,
        };
        asked.extend(expect);
        h.phone(m);
        answered.extend(h.take_ids().into_iter().filter(|id| {
            ![
                MessageId::CAPABILITIES_REQ,
                MessageId::SELECT_SOFT_KEYS,
                MessageId::DISPLAY_PROMPT_STATUS_V2,
            ]
            .contains(id)
        }));
    }
    assert_eq!(h.ctx().version, 17, "the 7962 offers 22, Crossbar 17 here");
    assert_eq!(answered, asked);
    assert_eq!(
        asked
            .iter()
            .filter(|id| **id == MessageId::LINE_STAT_V2_RES)
            .count(),
        6
    );
}
