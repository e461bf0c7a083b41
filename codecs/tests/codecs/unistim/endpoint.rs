//! The RUDP endpoint, driven with a fake clock: the startup capture replayed from the phone side, then
//! loss, reordering, duplication, NAKs, reboot, keep-alives and the retry limit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use codecs::unistim::endpoint::{SendError, next_seq};
use codecs::unistim::msg::display::DisplaySwitch;
use codecs::unistim::msg::display_write::{DisplayWrite, WriteAddress};
use codecs::unistim::msg::network::{NetworkSwitch, ResetWatchdog};
use codecs::unistim::{Config, Datagram, Endpoint, Event, Message, PacketType, RudpHeader, Text};

use super::{STARTUP, datagrams, hex};

/// The fake clock's origin; every instant in these tests is this plus a duration.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

const TID: u32 = 0xd3;

fn phone_payload(seq: u32, msgs: &str) -> Vec<u8> {
    let mut v = Datagram::header_only(RudpHeader::phone_payload(seq, TID))
        .encode()
        .to_vec();
    v.extend(hex(msgs));
    v
}

fn phone_ack(seq: u32, nak: bool) -> Vec<u8> {
    Datagram::header_only(RudpHeader::phone_ack(seq, TID, nak))
        .encode()
        .to_vec()
}

fn hello() -> Vec<u8> {
    hex("ffffffff0202ffffffff9e0308")
}

/// Drains the endpoint: (packet type, seq) of every datagram sent, and the events.
fn drain(ep: &mut Endpoint) -> (Vec<(PacketType, u32)>, Vec<Event>) {
    let mut sent = Vec::new();
    while let Some(d) = ep.poll_transmit() {
        let d = Datagram::decode(&d).unwrap();
        sent.push((d.header.packet_type(), d.header.seq()));
    }
    let mut events = Vec::new();
    while let Some(e) = ep.poll_event() {
        events.push(e);
    }
    (sent, events)
}

fn ack(seq: u32) -> (PacketType, u32) {
    (PacketType::ACK, seq)
}
fn nak(seq: u32) -> (PacketType, u32) {
    (PacketType::NAK, seq)
}
fn payload(seq: u32) -> (PacketType, u32) {
    (PacketType::PAYLOAD, seq)
}

fn text(s: &'static str) -> Message {
    DisplaySwitch::DisplayWrite(DisplayWrite::new(WriteAddress::line(0, 0), Text::from(s))).into()
}

fn config() -> Config {
    Config {
        phone_start_seq: 100,
        first_send_seq: 500,
        keepalive: None,
        ..Config::default()
    }
}

fn connected(cfg: Config) -> (Endpoint, Instant) {
    let now = t0();
    let mut ep = Endpoint::new(cfg);
    ep.handle_datagram(now, &hello()).unwrap();
    let (sent, events) = drain(&mut ep);
    assert_eq!(sent, vec![nak(ep.config().phone_start_seq)]);
    assert_eq!(events, vec![Event::Connected]);
    (ep, now)
}

#[test]
fn replays_the_startup_capture_to_the_servers_acknowledgements() {
    let server: std::net::IpAddr = [131, 253, 0, 203].into();
    let frames: Vec<_> = datagrams(STARTUP)
        .into_iter()
        .filter(|(f, ..)| *f >= 15)
        .collect();
    let mut server_payloads = BTreeMap::new();
    let mut server_acks = Vec::new();
    let mut phone_msgs = Vec::new();
    for (_, _, src, data) in &frames {
        let d = Datagram::decode(data).unwrap();
        if src.ip() == server {
            if d.header.is_payload() {
                server_payloads.insert(d.header.seq(), (d.messages, data.clone()));
            } else {
                server_acks.push((d.header.packet_type(), d.header.seq()));
            }
        } else if d.header.is_payload() && d.header.seq() != 0xffff_ffff {
            phone_msgs.push((d.header.seq(), d.messages));
        }
    }
    let mut ep = Endpoint::new(Config {
        phone_start_seq: 0xe554,
        first_send_seq: *server_payloads.keys().next().unwrap(),
        keepalive: None,
        ..Config::default()
    });
    let start = t0();
    let t_first = frames[0].1;
    let mut to_send = server_payloads.clone().into_iter();
    let (mut our_acks, mut delivered, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for (frame, t, src, data) in &frames {
        let now = start + Duration::from_secs_f64(t - t_first);
        if ep.poll_timeout().is_some_and(|d| d <= now) {
            ep.handle_timeout(now);
        }
        if src.ip() == server {
            if Datagram::decode(data).unwrap().header.is_payload() {
                // The server sent its next payload here; send the same messages in sequence order.
                let (seq, (msgs, captured)) = to_send.next().unwrap();
                assert_eq!(ep.send(now, msgs).unwrap(), seq, "frame {frame}");
                let out = ep.poll_transmit().unwrap();
                assert_eq!(
                    &out[..],
                    &captured[..],
                    "payload {seq:#x} re-built byte-identically"
                );
            }
        } else {
            ep.handle_datagram(now, data).unwrap();
        }
        while let Some(out) = ep.poll_transmit() {
            let d = Datagram::decode(&out).unwrap();
            assert!(
                !d.header.is_payload(),
                "no retransmission expected (frame {frame})"
            );
            our_acks.push((d.header.packet_type(), d.header.seq()));
        }
        while let Some(e) = ep.poll_event() {
            match e {
                Event::Delivered(m) => delivered.push(m),
                other => events.push(other),
            }
        }
    }
    assert_eq!(events, vec![Event::Connected]);
    assert_eq!(
        ep.in_flight(),
        0,
        "every server payload was acknowledged by the phone"
    );
    // The phone re-sent 0xE55B (frames 41, 42) and the server acknowledged once (frame 43) after the
    // copy; we acknowledge both copies, the second as a duplicate. Otherwise identical.
    let mut deduped = our_acks.clone();
    deduped.dedup();
    assert_eq!(our_acks.len(), server_acks.len() + 1);
    assert_eq!(deduped, server_acks);
    assert_eq!(server_acks[0], nak(0xe554));
    // Every phone payload delivered once, in order, with its messages.
    let mut unique = phone_msgs.clone();
    unique.dedup_by_key(|(s, _)| *s);
    assert_eq!(
        delivered,
        unique.into_iter().map(|(_, m)| m).collect::<Vec<_>>()
    );
    assert_eq!(delivered.len(), 10);
}

#[test]
fn startup_nak_sets_the_phone_sequence_and_a_repeated_hello_is_not_a_reboot() {
    let (mut ep, now) = connected(config());
    ep.handle_datagram(now, &hello()).unwrap();
    assert_eq!(drain(&mut ep), (vec![nak(100)], vec![]));
    ep.handle_datagram(now, &phone_payload(100, "9e0308"))
        .unwrap();
    let (sent, events) = drain(&mut ep);
    assert_eq!(sent, vec![ack(100)]);
    assert_eq!(events.len(), 1);
    // Payloads before the hello are ignored.
    let mut fresh = Endpoint::new(config());
    fresh
        .handle_datagram(now, &phone_payload(7, "99040048"))
        .unwrap();
    assert_eq!(drain(&mut fresh), (vec![], vec![]));
    assert!(!fresh.is_connected());
}

#[test]
fn duplicates_are_acknowledged_again_but_delivered_once() {
    let (mut ep, now) = connected(config());
    for _ in 0..3 {
        ep.handle_datagram(now, &phone_payload(100, "99040048"))
            .unwrap();
    }
    let (sent, events) = drain(&mut ep);
    assert_eq!(sent, vec![ack(100), ack(100), ack(100)]);
    assert_eq!(events.len(), 1);
}

#[test]
fn loss_and_reordering_give_one_nak_then_in_order_delivery() {
    let (mut ep, now) = connected(config());
    ep.handle_datagram(now, &phone_payload(101, "99040041"))
        .unwrap();
    ep.handle_datagram(now, &phone_payload(102, "99040042"))
        .unwrap();
    assert_eq!(
        drain(&mut ep),
        (vec![nak(100)], vec![]),
        "one NAK for the gap"
    );
    // Still missing after the retransmit timeout: NAK again.
    let later = now + Duration::from_millis(600);
    ep.handle_datagram(later, &phone_payload(102, "99040042"))
        .unwrap();
    assert_eq!(drain(&mut ep).0, vec![nak(100)]);
    // The gap fills: the early payloads follow in order.
    ep.handle_datagram(later, &phone_payload(100, "99040040"))
        .unwrap();
    let (sent, events) = drain(&mut ep);
    assert_eq!(sent, vec![ack(100), ack(101), ack(102)]);
    let keys: Vec<u8> = events
        .iter()
        .map(|e| match e {
            Event::Delivered(m) => m[0].to_bytes()[3],
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(keys, vec![0x40, 0x41, 0x42]);
    // The phone's go-back-N resend of 101/102 are now duplicates.
    ep.handle_datagram(later, &phone_payload(101, "99040041"))
        .unwrap();
    assert_eq!(drain(&mut ep), (vec![ack(101)], vec![]));
}

#[test]
fn cumulative_ack_and_window() {
    let (mut ep, now) = connected(Config {
        window: 2,
        ..config()
    });
    for s in ["a", "b", "c", "d"] {
        ep.send(now, [text(s)]).unwrap();
    }
    assert_eq!(drain(&mut ep).0, vec![payload(500), payload(501)]);
    assert_eq!((ep.in_flight(), ep.queued()), (2, 2));
    // ACK of 501 acknowledges 500 too and opens the window for 502 and 503.
    ep.handle_datagram(now, &phone_ack(501, false)).unwrap();
    assert_eq!(drain(&mut ep).0, vec![payload(502), payload(503)]);
    // A stale or duplicated ACK changes nothing.
    ep.handle_datagram(now, &phone_ack(500, false)).unwrap();
    ep.handle_datagram(now, &phone_ack(501, false)).unwrap();
    assert_eq!((ep.in_flight(), drain(&mut ep).0), (2, vec![]));
    ep.handle_datagram(now, &phone_ack(503, false)).unwrap();
    assert_eq!((ep.in_flight(), ep.poll_timeout()), (0, None));
}

#[test]
fn nak_from_the_phone_goes_back_n() {
    let (mut ep, now) = connected(config());
    for s in ["a", "b", "c"] {
        ep.send(now, [text(s)]).unwrap();
    }
    let first: Vec<Bytes> = std::iter::from_fn(|| ep.poll_transmit()).collect();
    ep.handle_datagram(now, &phone_ack(501, true)).unwrap();
    let again: Vec<Bytes> = std::iter::from_fn(|| ep.poll_transmit()).collect();
    assert_eq!(
        again,
        first[1..].to_vec(),
        "501 and 502 re-sent byte-identically"
    );
    assert_eq!(ep.in_flight(), 2, "the NAK acknowledged 500");
}

#[test]
fn retransmits_on_timeout_then_declares_the_phone_gone() {
    let (mut ep, now) = connected(Config {
        max_retransmits: 3,
        ..config()
    });
    ep.send(now, [text("x")]).unwrap();
    let original = ep.poll_transmit().unwrap();
    let mut t = now;
    for _ in 0..3 {
        let deadline = ep.poll_timeout().unwrap();
        assert_eq!(deadline, t + Duration::from_millis(500));
        ep.handle_timeout(deadline - Duration::from_millis(1));
        assert!(ep.poll_transmit().is_none(), "not before the deadline");
        ep.handle_timeout(deadline);
        assert_eq!(ep.poll_transmit().unwrap(), original);
        t = deadline;
    }
    ep.handle_timeout(ep.poll_timeout().unwrap());
    assert_eq!(drain(&mut ep), (vec![], vec![Event::PhoneGone]));
    assert!(ep.is_gone());
    assert_eq!(ep.poll_timeout(), None);
    assert_eq!(ep.send(t, [text("y")]), Err(SendError::Gone));
    // A new hello reconnects.
    ep.handle_datagram(t, &hello()).unwrap();
    assert_eq!(drain(&mut ep), (vec![nak(100)], vec![Event::Connected]));
}

#[test]
fn an_ack_resets_the_retry_count() {
    let (mut ep, now) = connected(Config {
        max_retransmits: 1,
        ..config()
    });
    ep.send(now, [text("x")]).unwrap();
    ep.send(now, [text("y")]).unwrap();
    drain(&mut ep);
    let d = ep.poll_timeout().unwrap();
    ep.handle_timeout(d);
    ep.handle_datagram(d, &phone_ack(500, false)).unwrap();
    let d = ep.poll_timeout().unwrap();
    ep.handle_timeout(d);
    assert!(!ep.is_gone());
    assert_eq!(
        drain(&mut ep).0,
        vec![payload(500), payload(501), payload(501)]
    );
}

#[test]
fn a_hello_after_traffic_is_a_reboot() {
    let (mut ep, now) = connected(config());
    ep.handle_datagram(now, &phone_payload(100, "9e0308"))
        .unwrap();
    ep.send(now, [text("x")]).unwrap();
    drain(&mut ep);
    ep.handle_datagram(now, &hello()).unwrap();
    assert_eq!(drain(&mut ep), (vec![nak(100)], vec![Event::PhoneRebooted]));
    assert_eq!(ep.in_flight(), 0, "old payloads dropped");
    ep.handle_datagram(now, &phone_payload(100, "9e0308"))
        .unwrap();
    assert_eq!(drain(&mut ep).0, vec![ack(100)], "sequence restarted");
}

#[test]
fn keepalive_sends_reset_watchdog_when_idle() {
    let (mut ep, now) = connected(Config {
        keepalive: Some(Duration::from_secs(10)),
        watchdog_timeout: 120,
        ..config()
    });
    assert_eq!(ep.poll_timeout(), Some(now + Duration::from_secs(10)));
    ep.handle_timeout(now + Duration::from_secs(10));
    let d = Datagram::decode(&ep.poll_transmit().unwrap()).unwrap();
    assert_eq!(d.header.seq(), 500);
    assert_eq!(
        d.messages,
        vec![Message::from(NetworkSwitch::ResetWatchdog(
            ResetWatchdog::new(120)
        ))]
    );
    assert_eq!(
        &d.encode()[6..],
        &hex("1e05120078")[..],
        "the CS2K keep-alive bytes"
    );
    // While it is in flight only the retransmit timer runs.
    assert_eq!(ep.poll_timeout(), Some(now + Duration::from_millis(10_500)));
}

#[test]
fn sequence_numbers_skip_the_reset_value() {
    assert_eq!(next_seq(0xffff_fffe), 0);
    let (mut ep, now) = connected(Config {
        phone_start_seq: 0xffff_fffe,
        first_send_seq: 0xffff_fffe,
        ..config()
    });
    ep.handle_datagram(now, &phone_payload(0xffff_fffe, "99040041"))
        .unwrap();
    ep.handle_datagram(now, &phone_payload(0, "99040042"))
        .unwrap();
    assert_eq!(drain(&mut ep).0, vec![ack(0xffff_fffe), ack(0)]);
    assert_eq!(ep.send(now, [text("a")]), Ok(0xffff_fffe));
    assert_eq!(ep.send(now, [text("b")]), Ok(0));
}

#[test]
fn oversized_messages_and_batches() {
    let (mut ep, now) = connected(Config {
        max_datagram: 40,
        ..config()
    });
    let long = DisplaySwitch::DisplayWrite(DisplayWrite::new(
        WriteAddress::line(0, 0),
        Text(Bytes::from(vec![b'x'; 300])),
    ));
    assert_eq!(
        ep.send(now, [long.into()]),
        Err(SendError::MessageTooLong { len: 305 })
    );
    // Three 30-byte messages do not fit one 40-byte datagram: three datagrams.
    let m = || text("0123456789012345678901234");
    assert_eq!(ep.send(now, [m(), m(), m()]), Ok(502));
    assert_eq!(
        drain(&mut ep).0,
        vec![payload(500), payload(501), payload(502)]
    );
}
