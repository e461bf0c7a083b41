//! The protocol-neutral call logic on its own, as the UNIStim session will drive it: no SCCP anywhere.

use std::time::{Duration, Instant};

use gateway::call::phone::{
    Key, LineFeatures, MediaAction, Phone, PhoneInput, PhoneOutput, Show, ShownState, ToneKind,
};
use gateway::call::{CallRefs, Codec, Direction, LineId, MediaDescription, UaCommand, UaEvent};

fn drain(p: &mut Phone) -> Vec<PhoneOutput> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

#[test]
fn a_call_placed_and_answered_in_neutral_terms() {
    let now = Instant::now();
    let mut p = Phone::new(
        [(LineId(1), LineFeatures::default())],
        CallRefs::new(),
        Duration::from_secs(4),
    );
    p.set_codecs(vec![Codec::Pcma]);
    p.handle(
        now,
        PhoneInput::OffHook {
            line: None,
            call: None,
        },
    );
    let out = drain(&mut p);
    assert!(out.contains(&PhoneOutput::Show(Show::Tone {
        line: LineId(1),
        call: p.active().unwrap(),
        tone: ToneKind::Dial
    })));
    for d in "2002".chars() {
        p.handle(
            now,
            PhoneInput::Digit {
                digit: d,
                call: None,
            },
        );
    }
    drain(&mut p);
    assert!(p.poll_timeout().is_some(), "the interdigit timer runs");
    p.handle(
        now,
        PhoneInput::Key {
            key: Key::Dial,
            line: None,
            call: None,
        },
    );
    let call = p.active().unwrap();
    let out = drain(&mut p);
    assert!(out.contains(&PhoneOutput::Media(MediaAction::Allocate { call })));
    p.handle(
        now,
        PhoneInput::MediaReady {
            call,
            local: "192.0.2.1:40000".parse().unwrap(),
            phone_target: None,
        },
    );
    let out = drain(&mut p);
    let Some(PhoneOutput::Ua(UaCommand::Invite { target, offer, .. })) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(target, "2002");
    assert_eq!(offer.codecs, [Codec::Pcma]);
    let media = MediaDescription {
        rtp: "198.51.100.7:30000".parse().unwrap(),
        codec: Codec::Pcma,
        payload_type: 8,
        ptime_ms: 20,
        telephone_event: None,
        direction: Direction::SendRecv,
    };
    p.handle(now, PhoneInput::Ua(UaEvent::Answered { call, media }));
    let out = drain(&mut p);
    assert!(out.contains(&PhoneOutput::Show(Show::State {
        line: LineId(1),
        call,
        state: ShownState::Connected
    })));
    // Direct mode (no phone target): the phone sends to the far end itself.
    assert!(out.iter().any(|o| matches!(o,
        PhoneOutput::Media(MediaAction::Transmit { to, .. }) if to.port() == 30000)));
    p.handle(now, PhoneInput::OnHook { call: None });
    let out = drain(&mut p);
    assert!(out.contains(&PhoneOutput::Ua(UaCommand::Hangup { call })));
    assert!(p.calls().next().is_none());
}
