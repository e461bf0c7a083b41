//! What Crossbar sends, checked by a real peer: messages of every family encoded at several protocol
//! versions, written into a capture on port 2000 and decoded by tshark, which must find no malformed
//! packet and read back the same ids and key fields.

use std::net::SocketAddr;

use bytes::BytesMut;
use captures::write::{PcapWriter, Resolution, Side, TcpConversation};
use codecs::sccp::msg::{
    ButtonDefinition, ButtonTemplateRes, CallInfoV2, CallStateMsg, CloseReceiveChannel,
    DialedNumber, DisplayPromptStatusV2, Empty, FeatureStatV2Res, ForwardStatRes, LineStatV2Res,
    OpenReceiveChannel, RegisterAck, SelectSoftKeys, SetLamp, SetRinger, SoftKeyDefinition,
    SoftKeySetDefinition, SoftKeySetRes, SoftKeyTemplateRes, StartMediaTransmission, StartTone,
    StopMediaTransmission, TimeDateRes,
};
use codecs::sccp::types::{IpField, Slots, VarText};
use codecs::sccp::{
    ButtonType, CallState, Ctx, LampMode, Message, PayloadType, RingMode, SoftKeyEvent, SoftKeySet,
    Stimulus, Tone,
};

/// The messages a call manager sends through registration and one call, with the line and call they
/// carry (0 where the message has none), under `ctx`.
fn script(ctx: Ctx) -> Vec<(Message, u32, u32)> {
    let ip = |s: &str| IpField::from(s.parse::<std::net::IpAddr>().unwrap());
    let (line, call) = (1, 0x0100_0000 + u32::from(ctx.version));
    let mut orc = OpenReceiveChannel {
        conference_id: call,
        pass_thru_party_id: 7,
        millisecond_packet_size: 20,
        compression_type: PayloadType::G711_ULAW64K,
        call_reference: call,
        ..Default::default()
    };
    let mut smt = StartMediaTransmission {
        conference_id: call,
        pass_thru_party_id: 7,
        remote_ip_addr: ip("192.0.2.10"),
        remote_port_number: 16384,
        millisecond_packet_size: 20,
        compression_type: PayloadType::G711_ULAW64K,
        precedence_value: 184,
        call_reference: call,
        mixing_mode: Some(0),
        ..Default::default()
    };
    if ctx.version >= 11 {
        orc.mixing_mode = Some(0);
        orc.party_direction = Some(0);
        orc.source_ip_addr = Some(ip("192.0.2.20"));
        orc.source_port_number = Some(20000);
    }
    if ctx.version >= 15 {
        smt.party_direction = Some(0);
    }
    if ctx.version >= 16 {
        orc.requested_ip_addr_type = Some(0);
    }
    if ctx.version >= 17 {
        orc.audio_level_adjustment = Some(0);
    }
    if ctx.version >= 21 {
        orc.latent_caps_info = Some([0; 36]);
        smt.latent_caps_info = Some([0; 36]);
    }
    let keys = [(1, SoftKeyEvent::REDIAL), (2, SoftKeyEvent::NEW_CALL)];
    vec![
        (
            Message::RegisterAck(RegisterAck {
                keep_alive_interval: 30,
                date_template: "D/M/Y".into(),
                secondary_keep_alive_interval: 60,
                max_protocol_ver: ctx.version,
                ..Default::default()
            }),
            0,
            0,
        ),
        (Message::CapabilitiesReq(Empty::default()), 0, 0),
        (
            Message::ButtonTemplateRes(ButtonTemplateRes {
                button_count: 2,
                total_button_count: 2,
                definition: Slots(vec![
                    ButtonDefinition::new(ButtonType(9), 1),
                    ButtonDefinition::new(ButtonType(0x15), 1),
                ]),
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::SoftKeyTemplateRes(SoftKeyTemplateRes {
                soft_key_count: 2,
                total_soft_key_count: 2,
                definition: Slots(vec![
                    SoftKeyDefinition {
                        soft_key_label: "Redial".into(),
                        soft_key_event: SoftKeyEvent::REDIAL,
                    },
                    SoftKeyDefinition {
                        soft_key_label: "NewCall".into(),
                        soft_key_event: SoftKeyEvent::NEW_CALL,
                    },
                ]),
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::SoftKeySetRes(SoftKeySetRes {
                soft_key_set_count: 1,
                total_soft_key_set_count: 1,
                definition: Slots(vec![SoftKeySetDefinition::new(&keys)]),
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::LineStatV2Res(LineStatV2Res {
                line_number: 1,
                line_type: 0xf,
                line_dir_number: Some("2001".into()),
                line_fully_qualified_display_name: Some("Alice Martin".into()),
                line_text_label: Some("2001".into()),
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::ForwardStatRes(ForwardStatRes {
                active_forward: 1,
                line_number: 1,
                forward_all_active: 1,
                forward_all_dirnum: "3001".into(),
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::TimeDateRes(TimeDateRes {
                w_year: 2026,
                w_month: 12,
                w_day: 1,
                w_hour: 9,
                system_time: 1_796_115_600,
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::FeatureStatV2Res(FeatureStatV2Res {
                feature_index: 2,
                feature_id: ButtonType(0x15),
                feature_status: 2,
                feature_text_label: Some("2002".into()),
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::SetLamp(SetLamp {
                stimulus: Stimulus::VOICE_MAIL,
                stimulus_instance: 0,
                lamp_mode: LampMode::ON,
                ..Default::default()
            }),
            0,
            0,
        ),
        (
            Message::CallState(CallStateMsg {
                call_state: CallState::RING_IN,
                line_instance: line,
                call_reference: call,
                privacy: Some(0),
                precedence_level: Some(4),
                precedence_domain: Some(0),
                ..Default::default()
            }),
            line,
            call,
        ),
        (
            Message::SelectSoftKeys(SelectSoftKeys {
                line_instance: line,
                call_reference: call,
                soft_key_set_index: SoftKeySet::RING_IN,
                valid_key_mask: Some(u32::MAX),
                ..Default::default()
            }),
            line,
            call,
        ),
        (
            Message::DisplayPromptStatusV2(DisplayPromptStatusV2 {
                line_instance: line,
                call_reference: call,
                prompt_status: Some(VarText::from_bytes(&[
                    0x80, 0x27, b' ', b'2', b'0', b'0', b'2',
                ])),
                ..Default::default()
            }),
            line,
            call,
        ),
        (
            Message::CallInfoV2(CallInfoV2 {
                line_instance: line,
                call_reference: call,
                call_type: codecs::sccp::CallType::IN_BOUND_CALL,
                calling_party: Some("2002".into()),
                alternate_calling_party: Some(VarText::default()),
                called_party: Some("2001".into()),
                original_called_party: Some("2001".into()),
                last_redirecting_party: Some(VarText::default()),
                cgpn_voice_mailbox: Some(VarText::default()),
                cdpn_voice_mailbox: Some(VarText::default()),
                original_cdpn_voice_mailbox: Some(VarText::default()),
                last_redirecting_voice_mailbox: Some(VarText::default()),
                calling_party_name: Some("Bob Dupont".into()),
                called_party_name: Some("Alice Martin".into()),
                original_called_party_name: Some(VarText::default()),
                last_redirecting_party_name: Some(VarText::default()),
                hunt_pilot_number: (ctx.version >= 17).then(VarText::default),
                hunt_pilot_name: (ctx.version >= 17).then(VarText::default),
                ..Default::default()
            }),
            line,
            call,
        ),
        (
            Message::SetRinger(SetRinger {
                ring_mode: RingMode::INSIDE_RING,
                ring_duration: 1,
                line_instance: line,
                call_reference: call,
                ..Default::default()
            }),
            line,
            call,
        ),
        (
            Message::StartTone(StartTone {
                tone: Tone::ALERTING_TONE,
                line_instance: Some(line),
                call_reference: Some(call),
                ..Default::default()
            }),
            line,
            call,
        ),
        (
            Message::DialedNumber(DialedNumber {
                dialed_number: "2002".into(),
                line_instance: line,
                call_reference: call,
                ..Default::default()
            }),
            line,
            call,
        ),
        (Message::OpenReceiveChannel(orc), 0, call),
        (Message::StartMediaTransmission(smt), 0, call),
        (
            Message::CloseReceiveChannel(CloseReceiveChannel {
                conference_id: call,
                pass_thru_party_id: 7,
                call_reference: Some(call),
                port_handling_flag: Some(0),
                ..Default::default()
            }),
            0,
            call,
        ),
        (
            Message::StopMediaTransmission(StopMediaTransmission {
                conference_id: call,
                pass_thru_party_id: 7,
                call_reference: Some(call),
                port_handling_flag: Some(0),
                ..Default::default()
            }),
            0,
            call,
        ),
        (Message::KeepAliveAck(Empty::default()), 0, 0),
    ]
}

#[test]
fn tshark_decodes_what_we_send_at_every_version() {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let phone: SocketAddr = "192.0.2.20:51000".parse().unwrap();
    let server: SocketAddr = "192.0.2.1:2000".parse().unwrap();
    let mut w = PcapWriter::new(captures::LinkType::ETHERNET, Resolution::Micros);
    let mut conv = TcpConversation::new(phone, server, 1000, 5000);
    conv.handshake(&mut w);
    let mut expected = Vec::new();
    for version in [5u8, 11, 15, 16, 17, 18, 19, 20, 21, 22] {
        let ctx = Ctx::new(version);
        for (message, line, call) in script(ctx) {
            let mut bytes = BytesMut::new();
            message.encode_frame(ctx, &mut bytes);
            let frame = conv.send(&mut w, Side::Server, &bytes);
            expected.push((frame, message.id().0, line, call, version));
        }
    }
    let dir = tempfile_dir();
    let file = dir.join("crossbar-sends.pcap");
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

    let rows = captures::peer::tshark_fields(
        &file,
        &[],
        "skinny",
        &[
            "frame.number",
            "skinny.messageId",
            "skinny.lineInstance",
            "skinny.callReference",
        ],
    )
    .unwrap();
    assert_eq!(rows.len(), expected.len(), "one SCCP message per frame");
    for (row, (frame, id, line, call, version)) in rows.iter().zip(&expected) {
        let context = format!("v{version} frame {frame} id {id:#06x}");
        assert_eq!(row[0], frame.to_string(), "{context}");
        let got = row[1]
            .strip_prefix("0x")
            .map_or_else(|| row[1].parse(), |h| u32::from_str_radix(h, 16));
        assert_eq!(got.unwrap(), *id, "{context}");
        if *line != 0 {
            assert_eq!(row[2], line.to_string(), "{context}: lineInstance");
        }
        if *call != 0 {
            assert!(
                row[3].split(',').all(|c| c == call.to_string()),
                "{context}: callReference {}",
                row[3]
            );
        }
    }
    // Media addresses and ports, as tshark reads them at each version.
    let media = captures::peer::tshark_fields(
        &file,
        &[],
        "skinny.messageId == 0x8a || skinny.messageId == 0x105",
        &[
            "skinny.remoteIpAddr.ipv4",
            "skinny.remotePortNumber",
            "skinny.sourceIpAddr.ipv4",
            "skinny.sourcePortNumber",
        ],
    )
    .unwrap();
    assert_eq!(media.len(), 20);
    for (row, version) in media
        .chunks(2)
        .zip([5u8, 11, 15, 16, 17, 18, 19, 20, 21, 22])
    {
        let (orc, smt) = (&row[0], &row[1]);
        assert_eq!(
            (smt[0].as_str(), smt[1].as_str()),
            ("192.0.2.10", "16384"),
            "v{version}"
        );
        // The source filter exists from protocol 11 on.
        let source = if version >= 11 {
            ("192.0.2.20", "20000")
        } else {
            ("", "")
        };
        assert_eq!((orc[2].as_str(), orc[3].as_str()), source, "v{version}");
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("crossbar-codecs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
