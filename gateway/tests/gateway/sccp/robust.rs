//! Random phone messages and user agent events in random order never panic the session, and every
//! output it produces still encodes and decodes (a structured fuzz run, deterministic by seed).

use std::time::Duration;

use bytes::Bytes;
use codecs::sccp::{Message, MessageId};
use gateway::call::{CallRef, Codec, Direction, Dtmf, LineId, UaEvent};
use gateway::session::sccp::Input;

use super::harness::{SessionHarness, far_media};

/// A small xorshift generator: the run is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PHONE_IDS: &[MessageId] = &[
    MessageId::KEEP_ALIVE_REQ,
    MessageId::OFF_HOOK,
    MessageId::ON_HOOK,
    MessageId::HOOK_FLASH,
    MessageId::KEYPAD_BUTTON,
    MessageId::ENBLOC_CALL,
    MessageId::STIMULUS,
    MessageId::SOFT_KEY_EVENT,
    MessageId::OPEN_RECEIVE_CHANNEL_ACK,
    MessageId::START_MEDIA_TRANSMISSION_ACK,
    MessageId::LINE_STAT_REQ,
    MessageId::FORWARD_STAT_REQ,
    MessageId::SPEED_DIAL_STAT_REQ,
    MessageId::FEATURE_STAT_REQ,
    MessageId::BUTTON_TEMPLATE_REQ,
    MessageId::CAPABILITIES_RES,
    MessageId::TIME_DATE_REQ,
    MessageId::REGISTER_REQ,
    MessageId(0x7777),
];

fn event(rng: &mut Rng, call: CallRef) -> UaEvent {
    let mut media =
        far_media([Codec::Pcmu, Codec::Pcma, Codec::G729, Codec::G722][rng.below(4) as usize]);
    media.direction = [
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::Inactive,
    ][rng.below(3) as usize];
    match rng.below(10) {
        0 => UaEvent::Incoming {
            call,
            line: LineId(1 + rng.below(3) as u16),
            from_name: "X".to_owned(),
            from_number: "2002".to_owned(),
            offer: (rng.below(2) == 0).then_some(media),
            replaces: (rng.below(4) == 0).then(|| CallRef(1 + rng.below(8) as u32)),
        },
        1 => UaEvent::Progress {
            call,
            code: [180, 183][rng.below(2) as usize],
            media: (rng.below(2) == 0).then_some(media),
        },
        2 => UaEvent::Answered { call, media },
        3 => UaEvent::Failed {
            call,
            code: [404, 486, 503][rng.below(3) as usize],
            reason: String::new(),
        },
        4 => UaEvent::Cancelled { call },
        5 => UaEvent::Ended { call },
        6 => UaEvent::MediaChanged { call, media },
        7 => UaEvent::Info {
            call,
            dtmf: Dtmf {
                digit: '5',
                duration_ms: 100,
            },
        },
        8 => UaEvent::TransferRequested {
            call,
            new_call: CallRef(100 + rng.below(8) as u32),
            target: "2009".to_owned(),
        },
        _ => UaEvent::TransferResult {
            call,
            code: [200, 603][rng.below(2) as usize],
        },
    }
}

#[test]
fn random_inputs_never_panic_the_session() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    for round in 0..40 {
        let version = [5u8, 11, 17, 20, 22][round % 5];
        let mut h = SessionHarness::registered(version);
        for _ in 0..300 {
            match rng.below(4) {
                0 | 1 => {
                    let id = PHONE_IDS[rng.below(PHONE_IDS.len() as u64) as usize];
                    let len = rng.below(48) as usize;
                    let body: Vec<u8> = (0..len).map(|_| (rng.below(16)) as u8).collect();
                    if let Ok(m) = Message::decode(id, &Bytes::from(body), h.ctx()) {
                        decoded += 1;
                        let _ = h.session.handle_input(h.now, Input::FromPhone(m));
                        h.drain();
                    }
                }
                2 => {
                    let call = CallRef(1 + rng.below(8) as u32);
                    let e = event(&mut rng, call);
                    h.ua_event(e);
                }
                _ => h.advance(Duration::from_millis(rng.below(8000))),
            }
            if h.session.is_closed() {
                break;
            }
        }
        // Everything sent re-decodes under the session's version.
        let mut wire = h.wire.clone();
        while let Some(raw) = codecs::sccp::frame::decode(&mut wire).unwrap() {
            Message::from_frame(&raw, h.ctx()).expect("our own message decodes");
        }
    }
    assert!(decoded > 1000, "{decoded} messages decoded and fed");
}
