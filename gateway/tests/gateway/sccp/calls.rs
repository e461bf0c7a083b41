//! Calls through `SessionHarness`: outgoing and incoming, progress tones, media, DTMF, hold, call
//! waiting, transfers, forwarding and DND.

use std::time::Duration;

use codecs::sccp::msg::{EnblocCall, OpenReceiveChannelAck, StimulusMsg};
use codecs::sccp::types::IpField;
use codecs::sccp::{
    CallState, LampMode, Message, MessageId, RingMode, SoftKeyEvent, Stimulus, Tone,
};
use gateway::call::phone::{LineFeatures, MediaAction, RING_NO_ANSWER};
use gateway::call::{CallRef, Codec, Direction, Dtmf, LineId, UaCommand, UaEvent};
use gateway::session::sccp::Input;

use super::harness::{
    FAR, RELAY_PHONE, RELAY_SIP, SessionHarness, addr, device, far_media, ids, in_order,
};

fn states(ms: &[Message]) -> Vec<CallState> {
    ms.iter()
        .filter_map(|m| match m {
            Message::CallState(s) => Some(s.call_state),
            _ => None,
        })
        .collect()
}

fn tones(ms: &[Message]) -> Vec<Tone> {
    ms.iter()
        .filter_map(|m| match m {
            Message::StartTone(t) => Some(t.tone),
            _ => None,
        })
        .collect()
}

/// An outgoing call to 2002 answered with PCMU; returns its reference.
fn connected_outgoing(h: &mut SessionHarness) -> CallRef {
    h.off_hook();
    h.dial("2002#");
    let (call, _) = h.last_invite().expect("invite");
    h.ua_event(UaEvent::Answered {
        call,
        media: far_media(Codec::Pcmu),
    });
    h.take();
    h.take_ua();
    h.take_media();
    call
}

/// An incoming call from Bob, answered off-hook; returns its reference.
fn connected_incoming(h: &mut SessionHarness) -> CallRef {
    let call = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call,
        line: LineId(1),
        from_name: "Bob Dupont".to_owned(),
        from_number: "2002".to_owned(),
        offer: Some(far_media(Codec::Pcmu)),
        replaces: None,
    });
    h.off_hook();
    h.take();
    h.take_ua();
    h.take_media();
    call
}

#[test]
fn outgoing_call_dial_tone_digits_ringback_answer_media_and_hang_up() {
    let mut h = SessionHarness::registered(20);
    h.off_hook();
    let sent = h.take();
    assert_eq!(
        ids(&sent),
        // Handset lifted: no SetSpeakerMode (the phone knows its own hook state).
        [
            MessageId::SET_LAMP,
            MessageId::CALL_STATE,
            MessageId::SELECT_SOFT_KEYS,
            MessageId::DISPLAY_PROMPT_STATUS_V2,
            MessageId::ACTIVATE_CALL_PLANE,
            MessageId::START_TONE,
        ]
    );
    assert_eq!(states(&sent), [CallState::OFF_HOOK]);
    assert_eq!(tones(&sent), [Tone::INSIDE_DIAL_TONE]);
    h.dial("2");
    assert_eq!(
        h.take_ids(),
        [MessageId::STOP_TONE, MessageId::SELECT_SOFT_KEYS]
    );
    h.dial("002");
    assert!(h.take().is_empty(), "no reply per digit");
    h.dial("#");
    let sent = h.take();
    assert!(in_order(
        &ids(&sent),
        &[
            MessageId::DIALED_NUMBER,
            MessageId::CALL_STATE,
            MessageId::CALL_INFO_V2
        ]
    ));
    assert_eq!(states(&sent), [CallState::PROCEED]);
    let ua = h.take_ua();
    let [
        UaCommand::Invite {
            call,
            line,
            target,
            offer,
        },
    ] = &ua[..]
    else {
        panic!("{ua:?}")
    };
    let call = *call;
    assert_eq!((*line, target.as_str()), (LineId(1), "2002"));
    assert_eq!(
        offer.rtp,
        addr(RELAY_SIP),
        "the relay's SIP leg in the offer"
    );
    assert_eq!(offer.codecs, [Codec::Pcmu, Codec::Pcma, Codec::G729]);
    assert_eq!(offer.direction, Direction::SendRecv);

    h.ua_event(UaEvent::Progress {
        call,
        code: 180,
        media: None,
    });
    let sent = h.take();
    assert_eq!(tones(&sent), [Tone::ALERTING_TONE]);
    assert_eq!(states(&sent), [CallState::RING_OUT]);

    h.ua_event(UaEvent::Answered {
        call,
        media: far_media(Codec::Pcmu),
    });
    let sent = h.take();
    assert!(in_order(
        &ids(&sent),
        // CUCM's order: receive channel, the connected display, then transmission.
        &[
            MessageId::STOP_TONE,
            MessageId::OPEN_RECEIVE_CHANNEL,
            MessageId::CALL_STATE,
            MessageId::SELECT_SOFT_KEYS,
            MessageId::START_MEDIA_TRANSMISSION,
        ]
    ));
    let smt = sent
        .iter()
        .find_map(|m| match m {
            Message::StartMediaTransmission(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (smt.remote_ip_addr.ip(), smt.remote_port_number),
        (addr(RELAY_PHONE).ip(), u32::from(addr(RELAY_PHONE).port())),
        "the phone sends to the relay's phone leg"
    );
    assert_eq!(smt.call_reference, call.0);
    assert_eq!(states(&sent), [CallState::CONNECTED]);
    let media = h.take_media();
    assert!(media.contains(&MediaAction::Remote {
        call,
        media: far_media(Codec::Pcmu)
    }));
    // The phone reports where it receives: handed to the relay.
    let orc_ptid = sent
        .iter()
        .find_map(|m| match m {
            Message::OpenReceiveChannel(o) => Some(o.pass_thru_party_id),
            _ => None,
        })
        .unwrap();
    h.phone(Message::OpenReceiveChannelAck(OpenReceiveChannelAck {
        ip_addr: IpField::from(addr("10.0.0.5:20000").ip()),
        port_number: 20000,
        pass_thru_party_id: orc_ptid,
        call_reference: Some(call.0),
        ..Default::default()
    }));
    assert_eq!(
        h.take_media(),
        [MediaAction::PhoneAddr {
            call,
            addr: addr("10.0.0.5:20000")
        }]
    );

    h.on_hook();
    assert_eq!(h.take_ua(), [UaCommand::Hangup { call }]);
    let sent = h.take();
    assert!(in_order(
        &ids(&sent),
        &[
            MessageId::CLOSE_RECEIVE_CHANNEL,
            MessageId::STOP_MEDIA_TRANSMISSION,
            MessageId::STOP_TONE,
            MessageId::SET_LAMP,
            MessageId::CLEAR_PROMPT_STATUS,
            MessageId::CALL_STATE,
            MessageId::SELECT_SOFT_KEYS,
            MessageId::TIME_DATE_RES,
            MessageId::SET_SPEAKER_MODE,
            MessageId::SET_RINGER,
        ]
    ));
    assert_eq!(states(&sent), [CallState::ON_HOOK]);
    assert!(h.take_media().contains(&MediaAction::Release { call }));
    assert!(h.session.phone().unwrap().calls().next().is_none());
}

#[test]
fn the_interdigit_timer_ends_dialing() {
    let mut h = SessionHarness::registered(20);
    h.off_hook();
    h.dial("2002");
    h.advance(Duration::from_millis(3900));
    assert!(h.last_invite().is_none());
    h.advance(Duration::from_millis(200));
    assert_eq!(h.last_invite().map(|(_, t)| t), Some("2002".to_owned()));
}

#[test]
fn busy_and_failures_play_their_tones_until_on_hook() {
    for (code, tone, state) in [
        (486, Tone::LINE_BUSY_TONE, CallState::BUSY),
        (404, Tone::REORDER_TONE, CallState::CONGESTION),
        (480, Tone::REORDER_TONE, CallState::CONGESTION),
        (503, Tone::REORDER_TONE, CallState::CONGESTION),
    ] {
        let mut h = SessionHarness::registered(20);
        h.off_hook();
        h.dial("2002#");
        let (call, _) = h.last_invite().unwrap();
        h.take();
        h.ua_event(UaEvent::Failed {
            call,
            code,
            reason: "Nope".to_owned(),
        });
        let sent = h.take();
        assert_eq!(tones(&sent), [tone], "{code}");
        assert_eq!(states(&sent), [state], "{code}");
        h.take_ua();
        h.on_hook();
        assert!(h.take_ua().is_empty(), "{code}: nothing to hang up");
        assert_eq!(states(&h.take()), [CallState::ON_HOOK]);
    }
}

#[test]
fn early_media_opens_media_before_the_answer() {
    let mut h = SessionHarness::registered(20);
    h.off_hook();
    h.dial("2002#");
    let (call, _) = h.last_invite().unwrap();
    h.take();
    h.ua_event(UaEvent::Progress {
        call,
        code: 183,
        media: Some(far_media(Codec::Pcma)),
    });
    let sent = h.take();
    assert!(in_order(
        &ids(&sent),
        &[
            MessageId::OPEN_RECEIVE_CHANNEL,
            MessageId::START_MEDIA_TRANSMISSION
        ]
    ));
    assert!(tones(&sent).is_empty(), "no ringback over early media");
    h.ua_event(UaEvent::Answered {
        call,
        media: far_media(Codec::Pcma),
    });
    let sent = h.take();
    assert!(
        !ids(&sent).contains(&MessageId::OPEN_RECEIVE_CHANNEL),
        "same media: not reopened"
    );
    assert_eq!(states(&sent), [CallState::CONNECTED]);
}

#[test]
fn a_remote_hang_up_returns_the_phone_to_idle() {
    let mut h = SessionHarness::registered(20);
    let call = connected_outgoing(&mut h);
    h.ua_event(UaEvent::Ended { call });
    let sent = h.take();
    assert!(in_order(
        &ids(&sent),
        &[
            MessageId::CLOSE_RECEIVE_CHANNEL,
            MessageId::STOP_MEDIA_TRANSMISSION,
            MessageId::CALL_STATE,
            MessageId::SELECT_SOFT_KEYS,
        ]
    ));
    assert!(h.take_ua().is_empty(), "no BYE back");
    assert!(h.take_media().contains(&MediaAction::Release { call }));
}

#[test]
fn incoming_call_rings_with_the_caller_and_is_answered_off_hook() {
    let mut h = SessionHarness::registered(20);
    let call = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call,
        line: LineId(1),
        from_name: "Bob Dupont".to_owned(),
        from_number: "2002".to_owned(),
        offer: Some(far_media(Codec::Pcmu)),
        replaces: None,
    });
    assert_eq!(h.take_ua(), [UaCommand::Ringing { call }]);
    let sent = h.take();
    assert_eq!(states(&sent), [CallState::RING_IN]);
    let info = sent
        .iter()
        .find_map(|m| match m {
            Message::CallInfoV2(i) => Some(i.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(info.calling_party.unwrap().to_string_lossy(), "2002");
    assert_eq!(
        info.calling_party_name.unwrap().to_string_lossy(),
        "Bob Dupont"
    );
    assert!(
        sent.iter()
            .any(|m| matches!(m, Message::SetLamp(l) if l.lamp_mode == LampMode::BLINK))
    );
    assert!(
        sent.iter()
            .any(|m| matches!(m, Message::SetRinger(r) if r.ring_mode == RingMode::INSIDE_RING))
    );

    h.off_hook();
    let ua = h.take_ua();
    let [UaCommand::Answer { call: c, media }] = &ua[..] else {
        panic!("{ua:?}")
    };
    assert_eq!(*c, call);
    assert_eq!(media.rtp, addr(RELAY_SIP));
    let sent = h.take();
    assert!(in_order(
        &ids(&sent),
        &[
            MessageId::SET_RINGER,
            MessageId::SET_LAMP,
            MessageId::CALL_STATE,
            MessageId::ACTIVATE_CALL_PLANE,
            MessageId::STOP_TONE,
            MessageId::OPEN_RECEIVE_CHANNEL,
            MessageId::CALL_STATE,
            MessageId::START_MEDIA_TRANSMISSION,
        ]
    ));
    assert_eq!(states(&sent), [CallState::OFF_HOOK, CallState::CONNECTED]);
}

#[test]
fn answer_soft_key_and_line_key_answer_too() {
    for how in ["softkey", "line"] {
        let mut h = SessionHarness::registered(20);
        let call = h.refs.next();
        h.ua_event(UaEvent::Incoming {
            call,
            line: LineId(2),
            from_name: String::new(),
            from_number: "2002".to_owned(),
            offer: Some(far_media(Codec::G729)),
            replaces: None,
        });
        h.take_ua();
        if how == "softkey" {
            h.soft_key(SoftKeyEvent::ANSWER, 2, call);
        } else {
            h.phone(Message::Stimulus(StimulusMsg {
                stimulus: Stimulus::LINE,
                line_instance: 2,
                ..Default::default()
            }));
        }
        assert!(
            matches!(&h.take_ua()[..], [UaCommand::Answer { call: c, .. }] if *c == call),
            "{how}"
        );
        let orc = h
            .take()
            .into_iter()
            .find_map(|m| match m {
                Message::OpenReceiveChannel(o) => Some(o),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            orc.compression_type,
            codecs::sccp::PayloadType::G729_ANNEX_A
        );
    }
}

#[test]
fn unanswered_calls_get_480_and_cancelled_calls_stop_ringing() {
    let mut h = SessionHarness::registered(20);
    let call = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call,
        line: LineId(1),
        from_name: String::new(),
        from_number: "2002".to_owned(),
        offer: Some(far_media(Codec::Pcmu)),
        replaces: None,
    });
    h.take_ua();
    h.take();
    h.advance(RING_NO_ANSWER + Duration::from_millis(1));
    assert_eq!(h.take_ua(), [UaCommand::Reject { call, code: 480 }]);
    assert_eq!(states(&h.take()), [CallState::ON_HOOK]);

    let call = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call,
        line: LineId(1),
        from_name: String::new(),
        from_number: "2002".to_owned(),
        offer: None,
        replaces: None,
    });
    h.take();
    h.ua_event(UaEvent::Cancelled { call });
    let sent = h.take();
    assert_eq!(states(&sent), [CallState::ON_HOOK]);
    assert!(
        sent.iter()
            .any(|m| matches!(m, Message::SetRinger(r) if r.ring_mode == RingMode::RING_OFF))
    );
    assert!(
        sent.iter()
            .any(|m| matches!(m, Message::SetLamp(l) if l.lamp_mode == LampMode::OFF))
    );
}

#[test]
fn a_codec_the_phone_lacks_is_refused_with_488() {
    let mut h = SessionHarness::registered(20);
    let call = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call,
        line: LineId(1),
        from_name: String::new(),
        from_number: "2002".to_owned(),
        offer: Some(far_media(Codec::G722)),
        replaces: None,
    });
    assert_eq!(h.take_ua(), [UaCommand::Reject { call, code: 488 }]);
    assert!(h.take().is_empty());
}

#[test]
fn a_second_call_while_talking_is_call_waiting() {
    let mut h = SessionHarness::registered(20);
    let first = connected_outgoing(&mut h);
    let second = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call: second,
        line: LineId(1),
        from_name: "Carol".to_owned(),
        from_number: "2004".to_owned(),
        offer: Some(far_media(Codec::Pcmu)),
        replaces: None,
    });
    assert_eq!(h.take_ua(), [UaCommand::Ringing { call: second }]);
    let sent = h.take();
    assert_eq!(tones(&sent), [Tone::CALL_WAITING_TONE]);
    assert!(
        sent.iter()
            .any(|m| matches!(m, Message::SetRinger(r) if r.ring_mode == RingMode::FLASH_ONLY))
    );
    h.soft_key(SoftKeyEvent::ANSWER, 1, second);
    let ua = h.take_ua();
    assert!(
        matches!(&ua[..], [UaCommand::Hold { call, on: true, media }, UaCommand::Answer { call: c2, .. }]
            if *call == first && media.direction == Direction::SendOnly && *c2 == second),
        "{ua:?}"
    );
    // The first call ends from the far end while held: the second stays.
    h.ua_event(UaEvent::Ended { call: first });
    assert_eq!(h.session.phone().unwrap().active(), Some(second));
}

#[test]
fn hold_and_resume_from_the_phone() {
    let mut h = SessionHarness::registered(20);
    let call = connected_outgoing(&mut h);
    h.soft_key(SoftKeyEvent::HOLD, 1, call);
    let ua = h.take_ua();
    assert!(
        matches!(&ua[..], [UaCommand::Hold { call: c, on: true, media }] if *c == call && media.direction == Direction::SendOnly),
        "{ua:?}"
    );
    let sent = h.take();
    assert!(in_order(
        &ids(&sent),
        &[
            MessageId::CLOSE_RECEIVE_CHANNEL,
            MessageId::STOP_MEDIA_TRANSMISSION,
            MessageId::CALL_STATE,
            MessageId::SELECT_SOFT_KEYS,
            MessageId::SET_LAMP,
        ]
    ));
    assert_eq!(states(&sent), [CallState::HOLD]);
    let ptid_before = h.sent.iter().find_map(|m| match m {
        Message::OpenReceiveChannel(o) => Some(o.pass_thru_party_id),
        _ => None,
    });
    h.soft_key(SoftKeyEvent::RESUME, 1, call);
    let ua = h.take_ua();
    assert!(
        matches!(&ua[..], [UaCommand::Hold { call: c, on: false, media }] if *c == call && media.direction == Direction::SendRecv),
        "{ua:?}"
    );
    let sent = h.take();
    assert_eq!(states(&sent), [CallState::CONNECTED]);
    let ptid_after = sent.iter().find_map(|m| match m {
        Message::OpenReceiveChannel(o) => Some(o.pass_thru_party_id),
        _ => None,
    });
    assert!(ptid_after.is_some(), "media reopened");
    assert_ne!(
        ptid_before, ptid_after,
        "a new pass-through party id per media leg"
    );
}

#[test]
fn a_hold_from_the_far_end_is_shown() {
    let mut h = SessionHarness::registered(20);
    let call = connected_incoming(&mut h);
    let mut held = far_media(Codec::Pcmu);
    held.direction = Direction::SendOnly;
    h.ua_event(UaEvent::MediaChanged { call, media: held });
    assert_eq!(states(&h.take()), [CallState::REMOTE_HOLD]);
    h.ua_event(UaEvent::MediaChanged {
        call,
        media: far_media(Codec::Pcmu),
    });
    assert_eq!(states(&h.take()), [CallState::CONNECTED]);
    // A new address: media is moved.
    let mut moved = far_media(Codec::Pcmu);
    moved.rtp = addr("198.51.100.8:31000");
    h.ua_event(UaEvent::MediaChanged { call, media: moved });
    assert!(in_order(
        &h.take_ids(),
        &[
            MessageId::CLOSE_RECEIVE_CHANNEL,
            MessageId::OPEN_RECEIVE_CHANNEL,
            MessageId::START_MEDIA_TRANSMISSION
        ]
    ));
}

#[test]
fn blind_transfer_dials_then_refers() {
    let mut h = SessionHarness::registered(20);
    let call = connected_incoming(&mut h);
    h.soft_key(SoftKeyEvent::TRANSFER, 1, call);
    assert!(matches!(
        &h.take_ua()[..],
        [UaCommand::Hold { on: true, .. }]
    ));
    let sent = h.take();
    assert_eq!(tones(&sent), [Tone::INSIDE_DIAL_TONE]);
    assert_eq!(states(&sent), [CallState::HOLD, CallState::OFF_HOOK]);
    h.dial("2004");
    h.soft_key(SoftKeyEvent::TRANSFER, 1, CallRef(0));
    assert_eq!(
        h.take_ua(),
        [UaCommand::Transfer {
            call,
            target: "2004".to_owned()
        }]
    );
    h.ua_event(UaEvent::TransferResult { call, code: 200 });
    assert_eq!(h.take_ua(), [UaCommand::Hangup { call }]);
    assert!(h.session.phone().unwrap().calls().next().is_none());
}

#[test]
fn attended_transfer_refers_with_the_consultation_call() {
    let mut h = SessionHarness::registered(20);
    let call = connected_incoming(&mut h);
    h.soft_key(SoftKeyEvent::TRANSFER, 1, call);
    h.dial("2004#");
    let (consult, target) = h.last_invite().unwrap();
    assert_eq!(target, "2004");
    h.ua_event(UaEvent::Answered {
        call: consult,
        media: far_media(Codec::Pcmu),
    });
    h.take_ua();
    h.soft_key(SoftKeyEvent::TRANSFER, 1, consult);
    assert_eq!(h.take_ua(), [UaCommand::TransferAttended { call, consult }]);
    h.ua_event(UaEvent::TransferResult { call, code: 202 });
    let ua = h.take_ua();
    assert!(ua.contains(&UaCommand::Hangup { call }), "{ua:?}");
    assert!(ua.contains(&UaCommand::Hangup { call: consult }), "{ua:?}");
}

#[test]
fn a_refer_from_the_far_end_places_the_new_call() {
    let mut h = SessionHarness::registered(20);
    let call = connected_incoming(&mut h);
    let new_call = h.refs.next();
    h.ua_event(UaEvent::TransferRequested {
        call,
        new_call,
        target: "sip:2005@acme.example.com".to_owned(),
    });
    let ua = h.take_ua();
    assert!(
        matches!(&ua[..], [UaCommand::Invite { call: c, target, .. }] if *c == new_call && target == "sip:2005@acme.example.com"),
        "{ua:?}"
    );
    h.ua_event(UaEvent::Ended { call });
    assert_eq!(h.session.phone().unwrap().active(), Some(new_call));
}

#[test]
fn an_attended_transfer_arriving_replaces_the_call_without_ringing() {
    let mut h = SessionHarness::registered(20);
    let old = connected_incoming(&mut h);
    let new = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call: new,
        line: LineId(1),
        from_name: "Dave".to_owned(),
        from_number: "2005".to_owned(),
        offer: Some(far_media(Codec::Pcmu)),
        replaces: Some(old),
    });
    let ua = h.take_ua();
    assert!(
        matches!(&ua[..], [UaCommand::Answer { call, .. }] if *call == new),
        "{ua:?}"
    );
    let sent = h.take();
    assert!(
        !sent
            .iter()
            .any(|m| matches!(m, Message::SetRinger(r) if r.ring_mode == RingMode::INSIDE_RING))
    );
    assert_eq!(h.session.phone().unwrap().active(), Some(new));
}

#[test]
fn forward_all_from_the_phone_redirects_incoming_calls_and_is_stored() {
    let mut h = SessionHarness::registered(20);
    h.soft_key(SoftKeyEvent::CFWD_ALL, 1, CallRef(0));
    assert_eq!(tones(&h.take()), [Tone::INSIDE_DIAL_TONE]);
    h.dial("3001#");
    assert_eq!(
        h.features,
        [(
            LineId(1),
            LineFeatures {
                forward_all: Some("3001".to_owned()),
                ..LineFeatures::default()
            }
        )]
    );
    let sent = h.take();
    let fwd = sent
        .iter()
        .find_map(|m| match m {
            Message::ForwardStatRes(f) => Some(f.clone()),
            _ => None,
        })
        .expect("forward status pushed");
    assert_eq!(fwd.forward_all_active, 1);
    assert_eq!(fwd.forward_all_dirnum.to_string_lossy(), "3001");
    assert!(h.take_ua().is_empty(), "setting a forward places no call");
    let call = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call,
        line: LineId(1),
        from_name: String::new(),
        from_number: "2002".to_owned(),
        offer: None,
        replaces: None,
    });
    assert_eq!(
        h.take_ua(),
        [UaCommand::Redirect {
            call,
            target: "3001".to_owned()
        }]
    );
    // Pressed again: cleared.
    h.soft_key(SoftKeyEvent::CFWD_ALL, 1, CallRef(0));
    assert_eq!(h.features.last().unwrap().1, LineFeatures::default());
}

#[test]
fn stored_forward_no_answer_and_busy_apply() {
    let mut d = device();
    d.lines[0].features.forward_no_answer = Some("4000".to_owned());
    d.lines[0].features.forward_busy = Some("4001".to_owned());
    let mut h = SessionHarness::new(Some(d));
    h.register(20);
    h.take_ua();
    let call = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call,
        line: LineId(1),
        from_name: String::new(),
        from_number: "2002".to_owned(),
        offer: None,
        replaces: None,
    });
    h.take_ua();
    h.advance(RING_NO_ANSWER + Duration::from_secs(1));
    assert_eq!(
        h.take_ua(),
        [UaCommand::Redirect {
            call,
            target: "4000".to_owned()
        }]
    );
    connected_outgoing(&mut h);
    let busy = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call: busy,
        line: LineId(1),
        from_name: String::new(),
        from_number: "2002".to_owned(),
        offer: None,
        replaces: None,
    });
    assert_eq!(
        h.take_ua(),
        [UaCommand::Redirect {
            call: busy,
            target: "4001".to_owned()
        }]
    );
}

#[test]
fn dnd_refuses_calls_on_every_line() {
    let mut h = SessionHarness::registered(20);
    h.soft_key(SoftKeyEvent::DND, 1, CallRef(0));
    assert_eq!(h.features.len(), 2);
    assert!(h.features.iter().all(|(_, f)| f.dnd));
    for line in [1, 2] {
        let call = h.refs.next();
        h.ua_event(UaEvent::Incoming {
            call,
            line: LineId(line),
            from_name: String::new(),
            from_number: "2002".to_owned(),
            offer: None,
            replaces: None,
        });
        assert_eq!(h.take_ua(), [UaCommand::Reject { call, code: 486 }]);
    }
}

#[test]
fn keys_during_a_call_go_to_the_relay_or_as_info_in_direct_mode() {
    let mut h = SessionHarness::registered(20);
    let call = connected_outgoing(&mut h);
    h.dial("5");
    assert_eq!(
        h.take_media(),
        [MediaAction::SendDtmf {
            call,
            dtmf: Dtmf {
                digit: '5',
                duration_ms: 100
            }
        }]
    );
    // From the far end: played to the phone.
    h.input(Input::RemoteDtmf {
        call,
        dtmf: Dtmf {
            digit: '#',
            duration_ms: 100,
        },
    });
    assert_eq!(tones(&h.take()), [Tone::DTMF_POUND]);
    h.ua_event(UaEvent::Info {
        call,
        dtmf: Dtmf {
            digit: '7',
            duration_ms: 100,
        },
    });
    assert_eq!(tones(&h.take()), [Tone::DTMF7]);

    let mut h = SessionHarness::registered(20);
    h.direct = true;
    let call = connected_outgoing(&mut h);
    let smt = h.sent.iter().rev().find_map(|m| match m {
        Message::StartMediaTransmission(s) => Some(s.clone()),
        _ => None,
    });
    assert_eq!(
        smt.map(|s| s.remote_port_number),
        Some(u32::from(addr(FAR).port())),
        "direct: the phone sends to the far end"
    );
    h.dial("9");
    assert_eq!(
        h.take_ua(),
        [UaCommand::Info {
            call,
            dtmf: Dtmf {
                digit: '9',
                duration_ms: 100
            }
        }]
    );
}

#[test]
fn redial_enbloc_line_and_speed_dial_keys_place_calls() {
    let mut h = SessionHarness::registered(20);
    let call = connected_outgoing(&mut h);
    h.on_hook();
    h.take_ua();
    h.soft_key(SoftKeyEvent::REDIAL, 1, CallRef(0));
    let (again, target) = h.last_invite().unwrap();
    assert_ne!(again, call);
    assert_eq!(target, "2002");
    h.on_hook();
    h.take_ua();

    h.phone(Message::EnblocCall(EnblocCall {
        called_party: "2010".into(),
        line_instance: Some(2),
        ..Default::default()
    }));
    let ua = h.take_ua();
    assert!(
        matches!(&ua[..], [UaCommand::Invite { line, target, .. }] if *line == LineId(2) && target == "2010"),
        "{ua:?}"
    );
    h.on_hook();
    h.take_ua();

    h.phone(Message::Stimulus(StimulusMsg {
        stimulus: Stimulus::LINE,
        line_instance: 2,
        ..Default::default()
    }));
    h.dial("2011#");
    let ua = h.take_ua();
    assert!(
        matches!(&ua[..], [UaCommand::Invite { line, target, .. }] if *line == LineId(2) && target == "2011"),
        "{ua:?}"
    );
    h.on_hook();
    h.take_ua();

    for (stimulus, instance, target) in [
        (Stimulus::SPEED_DIAL, 1, "2002"),
        (Stimulus::BLF_SPEED_DIAL, 2, "2004"),
    ] {
        h.phone(Message::Stimulus(StimulusMsg {
            stimulus,
            line_instance: instance,
            ..Default::default()
        }));
        assert_eq!(h.last_invite().map(|(_, t)| t), Some(target.to_owned()));
        h.on_hook();
        h.take_ua();
    }
}

#[test]
fn the_phone_s_own_offer_in_direct_mode_names_the_allocated_address() {
    let mut h = SessionHarness::registered(20);
    h.direct = true;
    h.off_hook();
    h.dial("2002#");
    let ua = h.take_ua();
    let [UaCommand::Invite { offer, .. }] = &ua[..] else {
        panic!("{ua:?}")
    };
    assert_eq!(offer.rtp, addr(RELAY_SIP));
    assert_eq!(offer.telephone_event, Some(101));
}
