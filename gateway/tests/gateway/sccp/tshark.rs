//! Every message the session sends in a full script (registration, both call directions, hold, call
//! waiting, transfer, forwarding, DND, unregistration) at several protocol versions, written as a TCP
//! conversation on port 2000 and decoded by tshark: no malformed packet, the same message ids in order.

use std::net::SocketAddr;

use bytes::BytesMut;
use captures::write::{PcapWriter, Resolution, Side, TcpConversation};
use codecs::sccp::msg::{
    ButtonTemplateReq, Empty, FeatureStatReq, ForwardStatReq, LineStatReq, SpeedDialStatReq,
    UnregisterReq,
};
use codecs::sccp::{Message, SoftKeyEvent, frame};
use gateway::call::{CallRef, Codec, LineId, UaEvent};

use super::harness::{SessionHarness, far_media};

/// Runs the script; returns the harness with everything it sent.
fn script(version: u8) -> SessionHarness {
    let mut h = SessionHarness::new(Some(super::harness::device()));
    h.register(version);
    h.phone(Message::ButtonTemplateReq(ButtonTemplateReq::default()));
    h.phone(Message::SoftKeyTemplateReq(Empty::default()));
    h.phone(Message::SoftKeySetReq(Empty::default()));
    h.phone(Message::ConfigStatReq(Empty::default()));
    for n in 1..=3 {
        h.phone(Message::LineStatReq(LineStatReq {
            line_number: n,
            ..Default::default()
        }));
        h.phone(Message::ForwardStatReq(ForwardStatReq {
            line_number: n,
            ..Default::default()
        }));
    }
    h.phone(Message::SpeedDialStatReq(SpeedDialStatReq {
        speed_dial_number: 1,
        ..Default::default()
    }));
    h.phone(Message::FeatureStatReq(FeatureStatReq {
        feature_index: 4,
        ..Default::default()
    }));
    h.phone(Message::TimeDateReq(Empty::default()));
    h.phone(Message::KeepAliveReq(Empty::default()));
    // Outgoing, ringback, answer, hold, resume, transfer.
    h.off_hook();
    h.dial("2002#");
    let (a, _) = h.last_invite().unwrap();
    h.ua_event(UaEvent::Progress {
        call: a,
        code: 180,
        media: None,
    });
    h.ua_event(UaEvent::Answered {
        call: a,
        media: far_media(Codec::Pcmu),
    });
    h.soft_key(SoftKeyEvent::HOLD, 1, a);
    h.soft_key(SoftKeyEvent::RESUME, 1, a);
    // Call waiting.
    let b = h.refs.next();
    h.ua_event(UaEvent::Incoming {
        call: b,
        line: LineId(1),
        from_name: "Bob Dupont".to_owned(),
        from_number: "2002".to_owned(),
        offer: Some(far_media(Codec::Pcma)),
        replaces: None,
    });
    h.soft_key(SoftKeyEvent::ANSWER, 1, b);
    h.ua_event(UaEvent::Info {
        call: b,
        dtmf: gateway::call::Dtmf {
            digit: '5',
            duration_ms: 100,
        },
    });
    h.soft_key(SoftKeyEvent::TRANSFER, 1, b);
    h.dial("2004");
    h.soft_key(SoftKeyEvent::TRANSFER, 1, CallRef(0));
    h.ua_event(UaEvent::TransferResult { call: b, code: 200 });
    h.ua_event(UaEvent::Ended { call: a });
    // A failure, forwarding, DND.
    h.off_hook();
    h.dial("9999#");
    let (c, _) = h.last_invite().unwrap();
    h.ua_event(UaEvent::Failed {
        call: c,
        code: 404,
        reason: "Not Found".to_owned(),
    });
    h.on_hook();
    h.soft_key(SoftKeyEvent::CFWD_ALL, 1, CallRef(0));
    h.dial("3001#");
    h.soft_key(SoftKeyEvent::DND, 1, CallRef(0));
    h.phone(Message::UnregisterReq(UnregisterReq::default()));
    h
}

#[test]
fn tshark_decodes_everything_the_session_sends() {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let phone: SocketAddr = "192.0.2.20:51000".parse().unwrap();
    let server: SocketAddr = "192.0.2.1:2000".parse().unwrap();
    let mut w = PcapWriter::new(captures::LinkType::ETHERNET, Resolution::Micros);
    let mut conv = TcpConversation::new(phone, server, 1000, 5000);
    conv.handshake(&mut w);
    let mut expected = Vec::new();
    for version in [5u8, 11, 15, 17, 20, 22] {
        let h = script(version);
        assert!(h.sent.len() > 100, "v{version}: {} messages", h.sent.len());
        // One frame per message, so tshark's rows line up with ours.
        let mut wire = h.wire.clone();
        while let Some(raw) = frame::decode(&mut wire).unwrap() {
            let mut one = BytesMut::new();
            raw.encode(&mut one);
            conv.send(&mut w, Side::Server, &one);
            expected.push((raw.id.0, version));
        }
    }
    let dir = std::env::temp_dir().join(format!("crossbar-sccp-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("session-sends.pcap");
    w.write_to(&file).unwrap();
    let malformed = captures::peer::tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ])
    .unwrap();
    assert!(
        malformed.trim().is_empty(),
        "tshark finds malformed packets:\n{malformed}"
    );
    let rows = captures::peer::tshark_fields(&file, &[], "skinny", &["skinny.messageId"]).unwrap();
    assert_eq!(rows.len(), expected.len());
    for (row, (id, version)) in rows.iter().zip(&expected) {
        let got = row[0]
            .strip_prefix("0x")
            .map_or_else(|| row[0].parse(), |h| u32::from_str_radix(h, 16))
            .unwrap();
        assert_eq!(got, *id, "v{version}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
