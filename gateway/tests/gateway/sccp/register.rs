//! Registration, status replies, keepalive and unregistration through `SessionHarness`.

use std::time::Duration;

use codecs::sccp::msg::{
    ButtonTemplateReq, Empty, FeatureStatReq, ForwardStatReq, LineStatReq, OffHook,
    SpeedDialStatReq, UnregisterReq,
};
use codecs::sccp::{ButtonType, Message, MessageId};
use gateway::call::{LineId, UaCommand};
use gateway::session::sccp::{CloseReason, Input};

use super::harness::{SessionHarness, device, register_req};

#[test]
fn register_ack_then_capabilities_request_at_the_negotiated_version() {
    for (phone, negotiated) in [(20u8, 20u8), (11, 11), (22, 22), (30, 22), (0, 0)] {
        let mut h = SessionHarness::new(Some(device()));
        h.phone(Message::RegisterReq(register_req("SEP0004F2AABBCC", phone)));
        let sent = h.take();
        assert_eq!(
            super::harness::ids(&sent),
            [MessageId::REGISTER_ACK, MessageId::CAPABILITIES_REQ],
            "phone v{phone}"
        );
        let Message::RegisterAck(ack) = &sent[0] else {
            unreachable!()
        };
        assert_eq!(ack.max_protocol_ver, negotiated, "phone v{phone}");
        assert_eq!(ack.keep_alive_interval, 30);
        assert_eq!(h.ctx().version, negotiated);
        let lines = h.registered.clone().expect("registered");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, LineId(1));
        assert_eq!(lines[0].1.extension, "2001");
        assert!(h.session.is_registered());
    }
}

#[test]
fn unknown_device_is_rejected_and_closed() {
    let mut h = SessionHarness::new(None);
    h.phone(Message::RegisterReq(register_req("SEP0004F2000001", 20)));
    assert_eq!(h.lookups, 1);
    assert_eq!(h.take_ids(), [MessageId::REGISTER_REJECT]);
    assert_eq!(h.closed, Some(CloseReason::UnknownDevice));
    assert!(h.registered.is_none());
}

#[test]
fn a_name_that_is_not_sep_and_a_mac_is_rejected_without_lookup() {
    let mut h = SessionHarness::new(Some(device()));
    h.phone(Message::RegisterReq(register_req("ANC1234", 20)));
    assert_eq!(h.lookups, 0);
    assert_eq!(h.take_ids(), [MessageId::REGISTER_REJECT]);
    assert_eq!(h.closed, Some(CloseReason::BadDeviceName));
}

#[test]
fn every_status_request_is_answered_even_for_unused_instances() {
    let mut h = SessionHarness::registered(20);
    h.phone(Message::ButtonTemplateReq(ButtonTemplateReq {
        total_lines: Some(36),
        ..Default::default()
    }));
    let Message::ButtonTemplateRes(t) = &h.take()[0] else {
        panic!("no button template")
    };
    let kinds: Vec<(u8, u8)> = t
        .definition
        .0
        .iter()
        .map(|d| (d.button_definition, d.instance_number))
        .collect();
    assert_eq!(
        kinds,
        [
            (ButtonType::LINE.0 as u8, 1),
            (ButtonType::LINE.0 as u8, 2),
            (ButtonType::SPEED_DIAL.0 as u8, 1),
            (ButtonType::BUSY_LAMP_FIELD_SPEEDDIAL.0 as u8, 2),
        ]
    );
    h.phone(Message::SoftKeyTemplateReq(Empty::default()));
    h.phone(Message::SoftKeySetReq(Empty::default()));
    h.phone(Message::ConfigStatReq(Empty::default()));
    assert_eq!(
        h.take_ids(),
        [
            MessageId::SOFT_KEY_TEMPLATE_RES,
            MessageId::SOFT_KEY_SET_RES,
            MessageId::CONFIG_STAT_V2_RES,
            MessageId::SELECT_SOFT_KEYS,
            MessageId::DISPLAY_PROMPT_STATUS_V2,
        ]
    );
    for n in [1, 2, 3] {
        h.phone(Message::LineStatReq(LineStatReq {
            line_number: n,
            ..Default::default()
        }));
        h.phone(Message::ForwardStatReq(ForwardStatReq {
            line_number: n,
            ..Default::default()
        }));
    }
    let replies = h.take();
    assert_eq!(
        replies.len(),
        6,
        "one answer per request, unused line 3 included"
    );
    let Message::LineStatV2Res(l1) = &replies[0] else {
        panic!("{replies:?}")
    };
    assert_eq!(
        l1.line_dir_number.as_ref().unwrap().to_string_lossy(),
        "2001"
    );
    assert_eq!(
        l1.line_fully_qualified_display_name
            .as_ref()
            .unwrap()
            .to_string_lossy(),
        "Alice Martin"
    );
    let Message::LineStatV2Res(l3) = &replies[4] else {
        panic!()
    };
    assert_eq!(l3.line_dir_number.as_ref().unwrap().to_string_lossy(), "");
    assert!(matches!(replies[5], Message::ForwardStatRes(_)));
    h.phone(Message::SpeedDialStatReq(SpeedDialStatReq {
        speed_dial_number: 1,
        ..Default::default()
    }));
    h.phone(Message::FeatureStatReq(FeatureStatReq {
        feature_index: 4,
        feature_capabilities: Some(1),
        ..Default::default()
    }));
    h.phone(Message::TimeDateReq(Empty::default()));
    let r = h.take();
    let Message::SpeedDialStatV2Res(sd) = &r[0] else {
        panic!("{r:?}")
    };
    assert_eq!(
        sd.speed_dial_dir_number.as_ref().unwrap().to_string_lossy(),
        "2002"
    );
    let Message::FeatureStatV2Res(f) = &r[1] else {
        panic!("{r:?}")
    };
    assert_eq!(f.feature_id, ButtonType::BUSY_LAMP_FIELD_SPEEDDIAL);
    assert_eq!(
        f.feature_text_label.as_ref().unwrap().to_string_lossy(),
        "Carol"
    );
    let Message::TimeDateRes(t) = &r[2] else {
        panic!("{r:?}")
    };
    // 1_796_115_600 = 2026-12-01 09:00:00 UTC, a Tuesday.
    assert_eq!(
        (t.w_year, t.w_month, t.w_day, t.w_hour, t.w_day_of_week),
        (2026, 12, 1, 9, 2)
    );
}

#[test]
fn old_phones_get_the_fixed_layout_replies() {
    let mut h = SessionHarness::registered(11);
    h.phone(Message::LineStatReq(LineStatReq {
        line_number: 1,
        ..Default::default()
    }));
    h.phone(Message::ConfigStatReq(Empty::default()));
    h.phone(Message::SpeedDialStatReq(SpeedDialStatReq {
        speed_dial_number: 1,
        ..Default::default()
    }));
    let ids = h.take_ids();
    assert_eq!(
        ids,
        [
            MessageId::LINE_STAT_RES,
            MessageId::CONFIG_STAT_RES,
            MessageId::SELECT_SOFT_KEYS,
            MessageId::DISPLAY_PROMPT_STATUS,
            MessageId::SPEED_DIAL_STAT_RES,
        ]
    );
}

#[test]
fn keepalives_are_acknowledged_and_a_silent_phone_is_dead() {
    let mut h = SessionHarness::registered(20);
    for _ in 0..4 {
        h.advance(Duration::from_secs(30));
        h.phone(Message::KeepAliveReq(Empty::default()));
        assert_eq!(h.take_ids(), [MessageId::KEEP_ALIVE_ACK]);
        assert!(h.closed.is_none());
    }
    h.advance(Duration::from_secs(59));
    assert!(h.closed.is_none());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.closed, Some(CloseReason::KeepAliveTimeout));
}

#[test]
fn a_phone_that_never_registers_is_closed() {
    let mut h = SessionHarness::new(Some(device()));
    h.advance(Duration::from_secs(31));
    assert_eq!(h.closed, Some(CloseReason::RegisterTimeout));
}

#[test]
fn out_of_state_messages_are_refused_and_survived() {
    let mut h = SessionHarness::new(Some(device()));
    let err = h
        .session
        .handle_input(
            h.now,
            Input::FromPhone(Message::OffHook(OffHook::default())),
        )
        .unwrap_err();
    assert!(err.to_string().contains("awaiting Register"), "{err}");
    assert!(h.take().is_empty());
    h.register(20);
    assert!(h.session.is_registered());
    // A second Register on a registered session is refused, the session stays.
    let err = h
        .session
        .handle_input(
            h.now,
            Input::FromPhone(Message::RegisterReq(register_req("SEP0004F2AABBCC", 20))),
        )
        .unwrap_err();
    assert!(err.to_string().contains("registered"), "{err}");
    assert!(h.session.is_registered());
}

#[test]
fn unregister_hangs_up_and_closes() {
    let mut h = SessionHarness::registered(20);
    h.off_hook();
    h.dial("2002#");
    assert!(h.last_invite().is_some());
    h.phone(Message::UnregisterReq(UnregisterReq::default()));
    let ids = h.take_ids();
    assert_eq!(ids.last(), Some(&MessageId::UNREGISTER_ACK), "{ids:?}");
    assert!(h.ua.iter().any(|c| matches!(c, UaCommand::Hangup { .. })));
    assert_eq!(h.closed, Some(CloseReason::Unregistered));
}

#[test]
fn reset_is_sent_to_a_registered_phone() {
    let mut h = SessionHarness::registered(20);
    h.input(Input::Reset);
    assert_eq!(h.take_ids(), [MessageId::RESET]);
    assert_eq!(h.closed, Some(CloseReason::Reset));
}

#[test]
fn a_closed_session_sends_nothing_more() {
    let mut h = SessionHarness::registered(20);
    h.phone(Message::UnregisterReq(UnregisterReq::default()));
    h.take();
    for m in [
        Message::KeepAliveReq(Empty::default()),
        Message::OffHook(OffHook::default()),
        Message::TimeDateReq(Empty::default()),
    ] {
        let err = h.session.handle_input(h.now, Input::FromPhone(m));
        assert!(err.is_err());
        h.drain();
    }
    h.advance(Duration::from_secs(120));
    assert!(h.take().is_empty());
    assert_eq!(h.session.poll_timeout(), None);
}
