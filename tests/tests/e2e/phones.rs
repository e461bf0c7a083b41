//! phonesim against the scripted responder (`tests::phonesim::responder`): registration, keepalive,
//! calls both ways with RTP, keys, reconnection and tolerance, with everything the phones sent decoded
//! by tshark.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use codecs::sccp::msg::{CallStateMsg, Empty, RegisterAck, TimeDateRes};
use codecs::sccp::{CallState, Ctx, Message, MessageId, SoftKeyEvent, Tone, frame};
use tests::phonesim::fleet::{self, ModelInfo};
use tests::phonesim::responder::{Responder, ResponderConfig};
use tests::phonesim::{Event, Phone, PhoneConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(5);

const FLEET: &str = "extension,first_name,mac,model,line\n\
                     2001,Ann,00:04:f2:00:00:01,cisco-7960,1\n\
                     2002,Bob,,,\n\
                     2003,Cy,0004f2000002,cisco-7970,1\n";

async fn responder(config: ResponderConfig) -> Responder {
    Responder::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("responder")
}

fn phone_config(responder: &Responder) -> Arc<PhoneConfig> {
    let mut config = PhoneConfig::new(responder.addr());
    config.reconnect_jitter = Duration::from_millis(50);
    Arc::new(config)
}

fn is_state(want: CallState) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::CallState { state, .. } if *state == want)
}

/// The message ids of the phone side (`tcp.dstport == 2000`) of a pcap, as tshark names them, and
/// whether tshark found anything malformed.
fn tshark_phone_messages(path: &std::path::Path) -> Option<(Vec<MessageId>, usize)> {
    captures::peer::require_tool("tshark")?;
    let rows = captures::peer::tshark_fields(
        path,
        &[],
        "skinny && tcp.dstport == 2000",
        &["skinny.messageId"],
    )
    .expect("tshark runs");
    let ids: Vec<MessageId> = rows
        .into_iter()
        .flat_map(|r| {
            r.into_iter()
                .flat_map(|f| f.split(',').map(str::to_owned).collect::<Vec<_>>())
        })
        .filter(|s| !s.is_empty())
        .map(|s| {
            let n = match s.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => s.parse(),
            };
            MessageId(n.expect("tshark prints message ids as numbers"))
        })
        .collect();
    let malformed = captures::peer::tshark_fields(
        path,
        &[],
        "_ws.malformed || _ws.expert.severity >= 0x00800000",
        &[
            "frame.number",
            "tcp.dstport",
            "skinny.messageId",
            "_ws.expert.message",
        ],
    )
    .expect("tshark runs");
    if !malformed.is_empty() {
        let keep = std::env::temp_dir().join(path.file_name().expect("name"));
        let _ = std::fs::copy(path, &keep);
        eprintln!(
            "tshark complaints (capture kept at {}): {malformed:?}",
            keep.display()
        );
    }
    Some((ids, malformed.len()))
}

#[tokio::test]
async fn phones_from_csv_register_like_the_captured_phones_keep_alive_and_unregister() {
    let responder = responder(ResponderConfig {
        keepalive_secs: 1,
        lines: 1,
        speed_dials: 2,
        ..Default::default()
    })
    .await;
    let specs = fleet::from_csv(FLEET.as_bytes()).unwrap();
    assert_eq!(specs.len(), 2, "the SIP-only user is no phone");
    let config = phone_config(&responder);
    let mut phones: Vec<Phone> = specs
        .into_iter()
        .map(|s| Phone::spawn(s, config.clone(), None))
        .collect();
    for phone in &mut phones {
        assert!(
            phone.wait_registered(WAIT).await,
            "{} registers",
            phone.device_name()
        );
        let ack = phone
            .wait_for(|e| matches!(e, Event::RegisterAck { .. }), WAIT)
            .await;
        let version = phone.spec().version.min(21);
        assert_eq!(
            ack,
            Some(Event::RegisterAck {
                version,
                keepalive_secs: 1
            })
        );
        assert!(
            phone
                .wait_for(|e| *e == Event::KeepAliveAck, Duration::from_secs(3))
                .await
                .is_some(),
            "keepalive answered"
        );
    }
    assert_eq!(responder.registered(), 2);
    let names: Vec<String> = phones.iter().map(Phone::device_name).collect();
    assert_eq!(names, ["SEP0004F2000001", "SEP0004F2000002"]);
    let stats = config.stats.snapshot();
    assert_eq!(stats.registered, 2);
    assert!(stats.keepalives >= 2 && stats.keepalive_acks >= 2);
    for phone in &mut phones {
        phone.stop().await;
    }
    assert_eq!(config.stats.snapshot().registered, 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(responder.registered(), 0, "both left");

    // The captured order: Register, the four pipelined requests, CapabilitiesRes, then one status
    // request at a time, TimeDate, RegisterAvailableLines; keepalives; Unregister last.
    let sent = responder.received("SEP0004F2000002");
    let expected = [
        MessageId::REGISTER_REQ,
        MessageId::BUTTON_TEMPLATE_REQ,
        MessageId::SOFT_KEY_TEMPLATE_REQ,
        MessageId::SOFT_KEY_SET_REQ,
        MessageId::CONFIG_STAT_REQ,
        MessageId::CAPABILITIES_RES,
        MessageId::LINE_STAT_REQ,
        MessageId::FORWARD_STAT_REQ,
        MessageId::SPEED_DIAL_STAT_REQ,
        MessageId::SPEED_DIAL_STAT_REQ,
        MessageId::TIME_DATE_REQ,
        MessageId::REGISTER_AVAILABLE_LINES,
        MessageId::KEEP_ALIVE_REQ,
    ];
    assert_eq!(&sent[..expected.len()], expected, "{sent:?}");
    assert_eq!(sent.last(), Some(&MessageId::UNREGISTER_REQ));

    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("register.pcap");
    responder.write_pcap(&pcap).unwrap();
    let Some((names, malformed)) = tshark_phone_messages(&pcap) else {
        return;
    };
    assert_eq!(malformed, 0, "tshark finds nothing malformed");
    for id in [
        MessageId::REGISTER_REQ,
        MessageId::CAPABILITIES_RES,
        MessageId::LINE_STAT_REQ,
        MessageId::TIME_DATE_REQ,
        MessageId::REGISTER_AVAILABLE_LINES,
        MessageId::KEEP_ALIVE_REQ,
        MessageId::UNREGISTER_REQ,
    ] {
        assert!(names.contains(&id), "{id:?} in {names:?}");
    }
}

#[tokio::test]
async fn an_outgoing_call_connects_sends_and_counts_rtp_and_hangs_up() {
    let responder = responder(ResponderConfig::default()).await;
    let model = ModelInfo::find("cisco-7970").unwrap();
    let spec = fleet::generate(1, [0, 4, 0xf2, 0, 1, 0], model, 2001).remove(0);
    let device = spec.device_name();
    let mut phone = Phone::spawn(spec, phone_config(&responder), None);
    assert!(phone.wait_registered(WAIT).await);

    phone.off_hook();
    let Some(Event::CallState { call_ref, .. }) =
        phone.wait_for(is_state(CallState::OFF_HOOK), WAIT).await
    else {
        panic!("off hook: {:?}", phone.events());
    };
    assert!(
        phone
            .wait_for(
                |e| *e
                    == Event::Tone {
                        tone: Tone::INSIDE_DIAL_TONE
                    },
                WAIT
            )
            .await
            .is_some()
    );
    phone.dial("2002#");
    let info = phone
        .wait_for(|e| matches!(e, Event::CallInfo { .. }), WAIT)
        .await;
    assert!(matches!(info, Some(Event::CallInfo { called, .. }) if called == "2002"));
    assert!(
        phone
            .wait_for(is_state(CallState::RING_OUT), WAIT)
            .await
            .is_some()
    );
    // The responder opens media just before it says Connected, as CUCM does.
    let opened = phone
        .wait_for(|e| matches!(e, Event::MediaOpened { .. }), WAIT)
        .await;
    assert!(matches!(opened, Some(Event::MediaOpened { call_ref: r, .. }) if r == call_ref));
    assert!(
        phone
            .wait_for(is_state(CallState::CONNECTED), WAIT)
            .await
            .is_some()
    );
    assert_eq!(phone.call_state(), Some(CallState::CONNECTED));
    assert!(
        phone
            .wait_for(|e| matches!(e, Event::MediaStarted { .. }), WAIT)
            .await
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = phone.rtp_counts_for(call_ref);
    // 20 ms packets for half a second, looped back by the responder.
    assert!(counts.sent >= 15 && counts.sent <= 30, "{counts:?}");
    assert!(counts.received >= counts.sent - 2, "{counts:?}");

    phone.key('5');
    phone.softkey(SoftKeyEvent::HOLD);
    phone.on_hook();
    // Media torn down first, the call state second (the CUCM captures' order).
    assert!(
        phone
            .wait_for(|e| matches!(e, Event::MediaClosed { .. }), WAIT)
            .await
            .is_some()
    );
    assert!(
        phone
            .wait_for(is_state(CallState::ON_HOOK), WAIT)
            .await
            .is_some()
    );
    assert_eq!(phone.call_state(), None);
    let after = phone.rtp_counts();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(phone.rtp_counts(), after, "RTP stops with the call");

    let sent = responder.received(&device);
    let call: Vec<_> = sent
        .iter()
        .skip_while(|id| **id != MessageId::OFF_HOOK)
        .filter(|id| **id != MessageId::KEEP_ALIVE_REQ)
        .copied()
        .collect();
    let mut expected = vec![MessageId::OFF_HOOK];
    expected.extend([MessageId::KEYPAD_BUTTON; 5]);
    expected.extend([
        MessageId::OPEN_RECEIVE_CHANNEL_ACK,
        MessageId::START_MEDIA_TRANSMISSION_ACK,
        MessageId::KEYPAD_BUTTON,
        MessageId::SOFT_KEY_EVENT,
        MessageId::ON_HOOK,
    ]);
    assert_eq!(call, expected);

    // A placed call as the load generator makes it, and one dialled en bloc: latency recorded.
    phone.place_call("2002", Duration::from_millis(100), false);
    let latency = phone
        .wait_for(|e| matches!(e, Event::SetupLatency(_)), WAIT)
        .await;
    assert!(matches!(latency, Some(Event::SetupLatency(d)) if d < Duration::from_secs(1)));
    assert!(
        phone
            .wait_for(is_state(CallState::ON_HOOK), WAIT)
            .await
            .is_some()
    );
    phone.place_call("2002", Duration::from_millis(100), true);
    assert!(
        phone
            .wait_for(is_state(CallState::CONNECTED), WAIT)
            .await
            .is_some()
    );
    assert!(
        phone
            .wait_for(is_state(CallState::ON_HOOK), WAIT)
            .await
            .is_some()
    );
    assert!(
        responder
            .received(&device)
            .contains(&MessageId::ENBLOC_CALL)
    );

    phone.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("call.pcap");
    responder.write_pcap(&pcap).unwrap();
    let Some((names, malformed)) = tshark_phone_messages(&pcap) else {
        return;
    };
    assert_eq!(malformed, 0, "tshark finds nothing malformed");
    for id in [
        MessageId::OFF_HOOK,
        MessageId::KEYPAD_BUTTON,
        MessageId::OPEN_RECEIVE_CHANNEL_ACK,
        MessageId::START_MEDIA_TRANSMISSION_ACK,
        MessageId::SOFT_KEY_EVENT,
        MessageId::ON_HOOK,
        MessageId::ENBLOC_CALL,
    ] {
        assert!(names.contains(&id), "{id:?} in {names:?}");
    }
}

#[tokio::test]
async fn an_incoming_call_rings_shows_the_caller_and_is_answered() {
    let responder = responder(ResponderConfig::default()).await;
    // A 7960 on protocol 11: fixed CallInfo, short media bodies.
    let model = ModelInfo::find("cisco-7960").unwrap();
    let spec = fleet::generate(1, [0, 4, 0xf2, 0, 2, 0], model, 2001).remove(0);
    let device = spec.device_name();
    let mut phone = Phone::spawn(spec, phone_config(&responder), None);
    assert!(phone.wait_registered(WAIT).await);
    assert!(responder.ring(&device, "2002", "Bob Smith"));
    assert!(
        phone
            .wait_for(is_state(CallState::RING_IN), WAIT)
            .await
            .is_some()
    );
    let info = phone
        .wait_for(|e| matches!(e, Event::CallInfo { .. }), WAIT)
        .await;
    assert!(
        matches!(&info, Some(Event::CallInfo { calling, calling_name, .. }) if calling == "2002" && calling_name == "Bob Smith"),
        "{info:?}"
    );
    let calls = phone.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].calling_name, "Bob Smith");
    assert!(
        phone
            .wait_for(|e| matches!(e, Event::Ringer { mode: 2 }), WAIT)
            .await
            .is_some()
    );
    phone.answer();
    assert!(
        phone
            .wait_for(is_state(CallState::CONNECTED), WAIT)
            .await
            .is_some()
    );
    assert!(
        phone
            .wait_for(|e| matches!(e, Event::MediaStarted { .. }), WAIT)
            .await
            .is_some()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = phone.rtp_counts();
    assert!(counts.sent >= 8 && counts.received >= 6, "{counts:?}");
    assert!(responder.hang_up(&device));
    assert!(
        phone
            .wait_for(is_state(CallState::ON_HOOK), WAIT)
            .await
            .is_some()
    );
    // Protocol 11: no StartMediaTransmissionAck; the answer carries the line and call.
    let sent = responder.received(&device);
    assert!(!sent.contains(&MessageId::START_MEDIA_TRANSMISSION_ACK));
    assert!(sent.contains(&MessageId::OPEN_RECEIVE_CHANNEL_ACK));

    // Auto-answer.
    let mut config = PhoneConfig::new(responder.addr());
    config.auto_answer = Some(Duration::from_millis(20));
    let spec = fleet::generate(1, [0, 4, 0xf2, 0, 3, 0], model, 2005).remove(0);
    let other = spec.device_name();
    let mut auto = Phone::spawn(spec, Arc::new(config), None);
    assert!(auto.wait_registered(WAIT).await);
    assert!(responder.ring(&other, "2001", "Ann"));
    assert!(
        auto.wait_for(is_state(CallState::CONNECTED), WAIT)
            .await
            .is_some()
    );
    phone.stop().await;
    auto.stop().await;
}

#[tokio::test]
async fn a_lost_connection_reconnects_and_a_rejected_phone_retries() {
    let responder = responder(ResponderConfig {
        reject: vec!["SEP0004F2000009".into()],
        ..Default::default()
    })
    .await;
    let config = phone_config(&responder);
    let model = ModelInfo::find("cisco-7962").unwrap();
    let specs = fleet::generate(2, [0, 4, 0xf2, 0, 0, 8], model, 3000);
    let mut phones: Vec<Phone> = specs
        .into_iter()
        .map(|s| Phone::spawn(s, config.clone(), None))
        .collect();
    assert!(phones[0].wait_registered(WAIT).await);
    phones[0].drop_connection(Duration::from_millis(10));
    assert!(
        phones[0]
            .wait_for(|e| *e == Event::Disconnected, WAIT)
            .await
            .is_some()
    );
    assert!(
        phones[0]
            .wait_for(|e| *e == Event::Registered, WAIT)
            .await
            .is_some(),
        "registers again"
    );
    let rejected = phones[1]
        .wait_for(|e| matches!(e, Event::Rejected { .. }), WAIT)
        .await;
    assert_eq!(
        rejected,
        Some(Event::Rejected {
            text: "Device Unknown".into()
        })
    );
    // It tries again after a second or so.
    assert!(
        phones[1]
            .wait_for(|e| matches!(e, Event::Rejected { .. }), WAIT)
            .await
            .is_some()
    );
    let stats = config.stats.snapshot();
    assert_eq!(stats.registrations, 2);
    assert!(stats.rejects >= 2);
    assert_eq!(stats.registered, 1);
    assert!(!phones[1].is_registered());
}

/// A call manager that sends an unknown message, a truncated CallState and garbage around a normal
/// registration: the phone counts them and carries on.
#[tokio::test]
async fn unknown_and_malformed_messages_are_counted_and_survived() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut input = BytesMut::new();
        let ctx = Ctx::new(20);
        let mut keepalives = 0;
        loop {
            if stream.read_buf(&mut input).await.unwrap_or(0) == 0 {
                return keepalives;
            }
            while let Ok(Some(raw)) = frame::decode(&mut input) {
                let mut out = BytesMut::new();
                match raw.id {
                    MessageId::REGISTER_REQ => {
                        Message::RegisterAck(RegisterAck {
                            keep_alive_interval: 1,
                            max_protocol_ver: 20,
                            ..Default::default()
                        })
                        .encode_frame(ctx, &mut out);
                        frame::encode(MessageId(0x7777), 20, b"what", &mut out);
                        // A CallState cut to 2 bytes.
                        frame::encode(MessageId::CALL_STATE, 20, &[5, 0], &mut out);
                        let mut state = BytesMut::new();
                        Message::CallState(CallStateMsg {
                            call_state: CallState::ON_HOOK,
                            line_instance: 1,
                            ..Default::default()
                        })
                        .encode_frame(ctx, &mut state);
                        out.extend_from_slice(&state);
                    }
                    MessageId::TIME_DATE_REQ => {
                        Message::TimeDateRes(TimeDateRes::default()).encode_frame(ctx, &mut out)
                    }
                    MessageId::KEEP_ALIVE_REQ => {
                        keepalives += 1;
                        Message::KeepAliveAck(Empty::default()).encode_frame(ctx, &mut out);
                    }
                    _ => {}
                }
                if stream.write_all(&out).await.is_err() {
                    return keepalives;
                }
            }
        }
    });
    let mut config = PhoneConfig::new(addr);
    config.step_timeout = Duration::from_millis(100); // this server answers no status request
    let config = Arc::new(config);
    let model = ModelInfo::find("cisco-7970").unwrap();
    let spec = fleet::generate(1, [0, 4, 0xf2, 0, 0, 0x10], model, 4000).remove(0);
    let mut phone = Phone::spawn(spec, config.clone(), None);
    assert!(phone.wait_registered(WAIT).await, "{:?}", phone.events());
    assert!(
        phone
            .wait_for(|e| *e == Event::KeepAliveAck, Duration::from_secs(3))
            .await
            .is_some()
    );
    let stats = config.stats.snapshot();
    assert_eq!(stats.unknown, 1);
    assert_eq!(stats.malformed, 1);
    assert!(
        stats.unanswered >= 3,
        "ButtonTemplate, LineStat, ForwardStat went unanswered"
    );
    assert_eq!(stats.disconnects, 0);
    let events = phone.events();
    assert!(events.contains(&Event::Ignored { id: 0x7777 }));
    assert!(events.contains(&Event::Malformed {
        id: MessageId::CALL_STATE.0
    }));
    phone.stop().await;
    assert!(server.await.unwrap() >= 1);
    assert_eq!(config.stats.registered.load(Ordering::Relaxed), 0);
}
