//! The UNIStim session's flows through the scripted phone: connection, idle screen, unknown phone,
//! calls both ways with tones, ringing, media and DTMF, hold, a phone that goes away, a reboot, and the
//! reliable-UDP layer under loss and reordering.

use std::time::Duration;

use codecs::unistim::msg::Message;
use codecs::unistim::msg::audio::AudioSwitch;
use codecs::unistim::msg::basic::BasicSwitch;
use codecs::unistim::msg::key::KeyCode;
use codecs::unistim::msg::network::NetworkSwitch;
use gateway::call::phone::MediaAction;
use gateway::call::{CallRef, Codec, Direction, LineId, MediaDescription, UaCommand, UaEvent};
use gateway::session::unistim::{CloseReason, phone_rtp_port};

use super::harness::{FAR, RELAY_PHONE, UnistimHarness, addr, device};
use super::phone::{MAC, has, texts};

fn far_media(codec: Codec) -> MediaDescription {
    MediaDescription {
        rtp: addr(FAR),
        codec,
        payload_type: codec.payload_type(),
        ptime_ms: 20,
        telephone_event: Some(101),
        direction: Direction::SendRecv,
    }
}

fn opened(ms: &[Message]) -> Option<&codecs::unistim::msg::audio_stream::OpenAudioStream> {
    ms.iter().find_map(|m| match m {
        Message::AudioSwitch(AudioSwitch::OpenAudioStream(o)) => Some(o),
        _ => None,
    })
}

fn tone_on(ms: &[Message]) -> bool {
    has(ms, |m| {
        matches!(m, Message::AudioSwitch(AudioSwitch::StreamBasedToneOn(_)))
    })
}

/// Places a call to 2002 and has it answered; returns its reference.
fn answered_call(h: &mut UnistimHarness) -> CallRef {
    h.off_hook();
    h.dial("2002#");
    let (call, target) = h.last_invite().expect("an INVITE");
    assert_eq!(target, "2002");
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Answered {
        call,
        media: far_media(Codec::Pcmu),
    }));
    call
}

#[test]
fn connection_follows_the_nortel_server_and_shows_the_idle_screen() {
    let mut h = UnistimHarness::new(Some(device()));
    h.connect();
    let got = h.take();
    let ids: Vec<(u8, u8)> = got.iter().map(|m| (m.address(), m.command())).collect();
    // CS2K (startup frames 19-25): query hardware id, watchdog, assign terminal id, query 0x5C.
    let pos = |a: u8, c: u8| ids.iter().position(|x| *x == (a, c)).unwrap_or(usize::MAX);
    assert!(pos(0x1a, 0x01) < pos(0x1e, 0x12), "{ids:x?}");
    assert!(pos(0x1e, 0x12) < pos(0x1a, 0x07), "{ids:x?}");
    assert!(has(&got, |m| matches!(
        m,
        Message::BasicSwitch(BasicSwitch::QueryBasicManager(q)) if q.flags == 0x5c
    )));
    assert_eq!(h.phone.tid, 0x106, "the phone carries its own terminal id");
    let (mac, firmware, model) = h.lookups[0].clone();
    assert_eq!(mac, MAC);
    assert_eq!(firmware, "0625C8J");
    assert_eq!(model.as_deref(), Some("avaya-1140e"));
    assert!(h.session.is_registered());
    let lines = h.registered.clone().unwrap();
    assert_eq!(lines.len(), 2);
    let t = texts(&got);
    for want in [
        "Crossbar",
        "3001 Carol Dubois",
        "Ready",
        "3001",
        "3002",
        "Bob",
        "Redial",
        "Forward",
        "DND",
        "NewCall",
    ] {
        assert!(
            t.iter().any(|s| s == want),
            "{want:?} not on the screen: {t:?}"
        );
    }
    assert!(has(&got, |m| matches!(
        m,
        Message::BroadcastSwitch(
            codecs::unistim::msg::broadcast::BroadcastSwitch::TimeAndDateDownload(_)
        )
    )));
    // The 1140E has G.711 and G.729 per its audio attributes.
    assert_eq!(
        h.session.phone().unwrap().codecs(),
        &[Codec::Pcmu, Codec::Pcma, Codec::G729]
    );
}

/// The idle screen tells the user (and a load generator) that the phone can be called, so it waits
/// until every line's first REGISTER has an outcome: before that a call to the line gets 480 from the
/// registrar. (phone -> phone bench: the first calls after 1,000 phones connected failed with 480.)
#[test]
fn the_idle_screen_waits_until_the_lines_have_registered() {
    let idle = |t: &[String]| t.iter().any(|s| s == "3001 Carol Dubois");
    let mut h = UnistimHarness::new(Some(device()));
    h.lines_register = false;
    h.connect();
    assert!(h.session.is_registered());
    assert!(h.registered.is_some(), "lines attached to the user agents");
    let got = h.take();
    assert!(
        !idle(&texts(&got)),
        "idle screen before any line registered: {:?}",
        texts(&got)
    );
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Registered {
        line: LineId(1),
    }));
    assert!(
        !idle(&texts(&h.take())),
        "idle screen with line 2 still registering"
    );
    // A failed registration is an outcome too: the agent retries on its own, the phone is usable.
    h.input(gateway::session::unistim::Input::Ua(
        UaEvent::RegistrationFailed {
            line: LineId(2),
            code: 503,
        },
    ));
    let got = h.take();
    let t = texts(&got);
    assert!(idle(&t) && t.iter().any(|s| s == "Redial"), "{t:?}");
    // Once in service, a re-registration does not repaint the screen.
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Registered {
        line: LineId(1),
    }));
    assert!(h.take().is_empty());

    // A registrar that never answers does not keep the phone dark.
    let mut h = UnistimHarness::new(Some(device()));
    h.lines_register = false;
    h.connect();
    assert!(!idle(&texts(&h.take())));
    h.advance(gateway::session::unistim::IN_SERVICE_TIMEOUT);
    assert!(idle(&texts(&h.take())));
}

#[test]
fn a_call_before_the_lines_registered_is_not_painted_over() {
    let mut h = UnistimHarness::new(Some(device()));
    h.lines_register = false;
    h.connect();
    h.take();
    // The binding of a previous attachment still routes a call here.
    incoming(&mut h, LineId(1), "Bob Dupont", Codec::Pcma);
    let got = h.take();
    assert!(has(&got, |m| matches!(
        m,
        Message::AudioSwitch(AudioSwitch::TransducerBasedToneOn(_))
    )));
    for line in [LineId(1), LineId(2)] {
        h.input(gateway::session::unistim::Input::Ua(UaEvent::Registered {
            line,
        }));
    }
    let got = h.take();
    let t = texts(&got);
    assert!(!t.iter().any(|s| s == "3001 Carol Dubois"), "{t:?}");
    assert!(
        !has(&got, |m| matches!(
            m,
            Message::AudioSwitch(AudioSwitch::TransducerBasedToneOff(_))
        )),
        "the ringer was stopped"
    );
}

#[test]
fn an_unknown_phone_sees_not_provisioned_and_is_ignored() {
    let mut h = UnistimHarness::new(None);
    h.connect();
    assert!(h.session.is_unprovisioned());
    assert!(h.registered.is_none());
    assert_eq!(h.lookups.len(), 1, "looked up once, to be recorded as seen");
    let t = texts(&h.take());
    assert!(t.iter().any(|s| s == "Not provisioned"), "{t:?}");
    assert!(t.iter().any(|s| s == "MAC 001365ffb02a"), "{t:?}");
    h.off_hook();
    h.dial("2002#");
    assert!(h.take_ua().is_empty());
    // Still kept alive: the watchdog keeps coming.
    h.advance(Duration::from_secs(65));
    assert!(!h.session.is_closed());
    assert!(has(&h.take(), |m| matches!(
        m,
        Message::NetworkSwitch(NetworkSwitch::ResetWatchdog(_))
    )));
}

#[test]
fn a_phone_that_never_identifies_itself_is_asked_again() {
    let mut h = UnistimHarness::new(Some(device()));
    h.phone.answer_queries = false;
    h.connect();
    h.advance(Duration::from_secs(10));
    assert!(h.lookups.is_empty());
    let asked = h
        .phone
        .got
        .iter()
        .filter(|m| matches!(m, Message::BasicSwitch(BasicSwitch::QueryBasicManager(_))))
        .count();
    assert!(asked >= 2, "hardware id asked {asked} times");
    h.phone.answer_queries = true;
    h.advance(Duration::from_secs(10));
    assert!(h.session.is_registered());
}

#[test]
fn outgoing_call_with_tones_media_dtmf_hold_and_hang_up() {
    let mut h = UnistimHarness::connected();
    h.off_hook();
    let got = h.take();
    assert!(tone_on(&got), "dial tone");
    assert!(texts(&got).iter().any(|s| s == "Redial"));
    h.dial("2002#");
    let (call, _) = h.last_invite().unwrap();
    let got = h.take();
    assert!(has(&got, |m| matches!(
        m,
        Message::AudioSwitch(AudioSwitch::StreamBasedToneOff(_))
    )));
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Progress {
        call,
        code: 180,
        media: None,
    }));
    assert!(tone_on(&h.take()), "ring-back played by the phone");
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Answered {
        call,
        media: far_media(Codec::Pcmu),
    }));
    let got = h.take();
    let o = opened(&got).expect("Open Audio Stream");
    assert_eq!(o.local_rtp_port, phone_rtp_port(call));
    assert_eq!(o.far_rtp_port, addr(RELAY_PHONE).port());
    assert_eq!(o.frames_per_packet, 2);
    assert_eq!(o.rx_vocoder.0, 0);
    let t = texts(&got);
    assert!(
        t.iter().any(|s| s == "Hold") && t.iter().any(|s| s == "Transf"),
        "{t:?}"
    );
    assert!(has(&got, |m| matches!(
        m,
        Message::DisplaySwitch(codecs::unistim::msg::display::DisplaySwitch::CallDurationTimer(c)) if c.flags == 0x05
    )));
    let media = h.take_media();
    assert!(media.iter().any(|m| matches!(m, MediaAction::PhoneAddr { addr: a, .. }
        if *a == std::net::SocketAddr::new(addr(super::harness::PHONE).ip(), phone_rtp_port(call)))));
    // Keys during the call become RFC 4733 events through the relay.
    h.dial("5");
    assert!(
        h.take_media()
            .iter()
            .any(|m| matches!(m, MediaAction::SendDtmf { dtmf, .. } if dtmf.digit == '5'))
    );
    // Hold (softkey 0) and resume (the Hold key).
    h.softkey(0);
    assert!(
        h.take_ua()
            .iter()
            .any(|c| matches!(c, UaCommand::Hold { on: true, .. }))
    );
    assert!(has(&h.take(), |m| matches!(
        m,
        Message::AudioSwitch(AudioSwitch::CloseAudioStream(_))
    )));
    h.key(KeyCode::HOLD);
    assert!(
        h.take_ua()
            .iter()
            .any(|c| matches!(c, UaCommand::Hold { on: false, .. }))
    );
    h.on_hook();
    assert!(
        h.take_ua()
            .iter()
            .any(|c| matches!(c, UaCommand::Hangup { call: c } if *c == call))
    );
    let got = h.take();
    assert!(
        texts(&got).iter().any(|s| s == "Redial"),
        "back to the idle softkeys"
    );
    assert!(
        h.take_media()
            .iter()
            .any(|m| matches!(m, MediaAction::Release { .. }))
    );
}

#[test]
fn direct_mode_keys_go_as_sip_info() {
    let mut h = UnistimHarness::connected();
    h.direct = true;
    let call = answered_call(&mut h);
    let got = h.take();
    let o = opened(&got).expect("stream");
    assert_eq!(o.far_rtp_port, addr(FAR).port(), "straight to the far end");
    h.ua.clear();
    h.dial("7");
    assert!(h.take_ua().iter().any(
        |c| matches!(c, UaCommand::Info { call: c, dtmf } if *c == call && dtmf.digit == '7')
    ));
}

#[test]
fn incoming_call_rings_with_caller_and_is_answered_by_softkey() {
    let mut h = UnistimHarness::connected();
    let call = incoming(&mut h, LineId(1), "Bob Dupont", Codec::Pcma);
    let got = h.take();
    assert!(has(&got, |m| matches!(
        m,
        Message::AudioSwitch(AudioSwitch::TransducerBasedToneOn(_))
    )));
    let t = texts(&got);
    assert!(t.iter().any(|s| s == "Bob Dupont 2002"), "{t:?}");
    assert!(t.iter().any(|s| s == "Answer"), "{t:?}");
    assert!(
        h.take_ua()
            .iter()
            .any(|c| matches!(c, UaCommand::Ringing { .. }))
    );
    h.softkey(0);
    let ua = h.take_ua();
    assert!(
        ua.iter()
            .any(|c| matches!(c, UaCommand::Answer { call: c, .. } if *c == call)),
        "{ua:?}"
    );
    let got = h.take();
    assert!(has(&got, |m| matches!(
        m,
        Message::AudioSwitch(AudioSwitch::TransducerBasedToneOff(_))
    )));
    let o = opened(&got).expect("stream");
    assert_eq!(o.rx_vocoder.0, 8, "A-law as offered");
    // The far end hangs up.
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Ended {
        call,
    }));
    assert!(has(&h.take(), |m| matches!(
        m,
        Message::AudioSwitch(AudioSwitch::CloseAudioStream(_))
    )));
}

#[test]
fn a_cancelled_call_stops_ringing() {
    let mut h = UnistimHarness::connected();
    let call = incoming(&mut h, LineId(2), "", Codec::Pcmu);
    h.take();
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Cancelled {
        call,
    }));
    assert!(has(&h.take(), |m| matches!(
        m,
        Message::AudioSwitch(AudioSwitch::TransducerBasedToneOff(_))
    )));
}

#[test]
fn a_phone_that_stops_answering_is_gone_and_its_call_hung_up() {
    let mut h = UnistimHarness::connected();
    let call = answered_call(&mut h);
    h.ua.clear();
    h.unplugged = true;
    h.advance(Duration::from_secs(120));
    assert_eq!(h.closed, Some(CloseReason::PhoneGone));
    assert!(
        h.take_ua()
            .iter()
            .any(|c| matches!(c, UaCommand::Hangup { call: c } if *c == call))
    );
}

#[test]
fn a_reboot_detaches_and_initialises_again() {
    let mut h = UnistimHarness::connected();
    let _ = answered_call(&mut h);
    h.ua.clear();
    let hello = h.phone.hello();
    h.phone_sends(hello);
    assert_eq!(h.unregistered, 1);
    assert!(
        h.take_ua()
            .iter()
            .any(|c| matches!(c, UaCommand::Hangup { .. }))
    );
    assert_eq!(h.lookups.len(), 2);
    assert!(h.session.is_registered());
    assert!(texts(&h.take()).iter().any(|s| s == "3001 Carol Dubois"));
}

#[test]
fn calls_complete_under_ten_percent_loss_and_reordering() {
    for seed in 1..=8u64 {
        let mut h = UnistimHarness::new(Some(device()));
        h.seed(seed);
        h.loss = 10;
        h.reorder = 10;
        h.connect();
        h.advance(Duration::from_secs(5));
        assert!(h.session.is_registered(), "seed {seed}: {:?}", h.session);
        let call = answered_call(&mut h);
        h.advance(Duration::from_secs(3));
        assert!(
            h.phone
                .got
                .iter()
                .any(|m| matches!(m, Message::AudioSwitch(AudioSwitch::OpenAudioStream(_)))),
            "seed {seed}: no stream"
        );
        h.on_hook();
        h.advance(Duration::from_secs(3));
        assert!(
            h.ua.iter()
                .any(|c| matches!(c, UaCommand::Hangup { call: c } if *c == call)),
            "seed {seed}"
        );
        assert!(!h.session.is_closed(), "seed {seed}");
    }
}

#[test]
fn a_one_line_i2002_gets_status_and_caller_on_its_single_line() {
    let mut h = UnistimHarness::new(Some(device()));
    h.phone.firmware = "0604DCN";
    h.phone.product_code = "NTDU76AA";
    h.phone.it_type = 0x03;
    h.connect();
    assert_eq!(h.lookups[0].2.as_deref(), Some("nortel-i2002"));
    let g = h.session.geometry().unwrap();
    assert_eq!(g.text_lines, 1);
    let got = h.take();
    let lines: Vec<u8> = got
        .iter()
        .filter_map(|m| match m {
            Message::DisplaySwitch(codecs::unistim::msg::display::DisplaySwitch::DisplayWrite(
                w,
            )) => w
                .address
                .filter(|a| a.field == 0x04)
                .and_then(|a| a.position)
                .map(|p| p >> 5),
            _ => None,
        })
        .collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| *l == 0),
        "only line 0 written: {lines:?}"
    );
    incoming(&mut h, LineId(1), "Bob Dupont", Codec::Pcmu);
    assert!(texts(&h.take()).iter().any(|s| s == "Bob Dupont 2002"));
}

#[test]
fn random_and_mangled_datagrams_never_panic_a_session() {
    let mut h = UnistimHarness::connected();
    let mut rng = super::harness::Lcg(99);
    // A valid key-event payload to mangle.
    let valid = h.phone.key(KeyCode(0x05)).to_vec();
    for i in 0..5_000u32 {
        let mut d: Vec<u8> = if i % 2 == 0 {
            let len = rng.next() as usize % 40;
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut v = valid.clone();
            let at = rng.next() as usize % v.len();
            v[at] = rng.next() as u8;
            v.truncate(rng.next() as usize % (v.len() + 1));
            v
        };
        if i % 7 == 0 {
            d.extend(std::iter::repeat_n(0xff, 3));
        }
        let _ = h
            .session
            .handle_input(h.now, gateway::session::unistim::Input::Datagram(d.into()));
        let _ = h.session.take_errors();
        while h.session.poll_output().is_some() {}
    }
    assert!(!h.session.is_closed());
}

/// Transf, then the target dialed: the Transf softkey is there while dialing and while the target
/// rings, and pressing it asks the user agent for a blind transfer of the held call.
#[test]
fn the_transf_softkey_completes_a_blind_transfer_while_dialing_or_ringing() {
    for ring_out in [false, true] {
        let mut h = UnistimHarness::connected();
        let call = answered_call(&mut h);
        h.take();
        h.take_ua();
        // Connected: Hold, Transf, NewCall, End.
        h.softkey(1);
        assert!(
            h.take_ua()
                .iter()
                .any(|c| matches!(c, UaCommand::Hold { on: true, .. }))
        );
        h.take();
        h.dial("2");
        let mut target = "2";
        let n = if ring_out {
            h.dial("003#");
            target = "2003";
            let (consult, _) = h.last_invite().expect("the consultation INVITE");
            assert_ne!(consult, call);
            h.input(gateway::session::unistim::Input::Ua(UaEvent::Progress {
                call: consult,
                code: 180,
                media: None,
            }));
            // Ring out: -, Transf, -, End.
            1
        } else {
            // Digits following: Dial, BkSpc, Transf, End.
            2
        };
        let t = texts(&h.take());
        assert!(
            t.iter().any(|s| s == "Transf"),
            "ring out {ring_out}: {t:?}"
        );
        h.take_ua();
        h.softkey(n);
        let ua = h.take_ua();
        assert!(
            ua.iter()
                .any(|c| matches!(c, UaCommand::Transfer { call: c, target: t }
                if *c == call && t == target)),
            "ring out {ring_out}: {ua:?}"
        );
    }
}

/// A call from 2002 (display name `name`) arriving on `line`, offering `codec`.
fn incoming(h: &mut UnistimHarness, line: LineId, name: &str, codec: Codec) -> CallRef {
    let call = h.refs.next();
    h.input(gateway::session::unistim::Input::Ua(UaEvent::Incoming {
        call,
        line,
        from_name: name.to_owned(),
        from_number: "2002".to_owned(),
        offer: Some(far_media(codec)),
        replaces: None,
    }));
    call
}
