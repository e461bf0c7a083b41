//! Byte vectors per message family, in both directions: decoding the bytes gives the value, encoding
//! the value gives the bytes. Frames come from the shared captures (file and frame named) unless noted.

use bytes::BytesMut;
use codecs::sccp::msg::{
    CallStateMsg, DisplayPromptStatusV2, FeatureStatV2Res, ForwardStatRes, KeypadButton, OffHook,
    OpenReceiveChannelAck, RegisterAck,
};
use codecs::sccp::types::{IpField, VarText};
use codecs::sccp::{ButtonType, CallState, Ctx, KeypadKey, MediaStatus, Message, frame};

/// Checks a whole frame against a value: decode(bytes) == value and encode(value) == bytes.
fn vector(hex: &str, ctx: Ctx, value: Message) {
    let bytes = hex::decode(hex).unwrap();
    let mut buf = BytesMut::from(&bytes[..]);
    let raw = frame::decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    let decoded = Message::from_frame(&raw, ctx).unwrap();
    assert_eq!(decoded, value, "decode {hex}");
    let mut out = BytesMut::new();
    value.encode_frame(ctx, &mut out);
    assert_eq!(hex::encode(&out), hex, "encode {value:?}");
}

#[test]
fn registration_register_ack_from_cucm() {
    // nrusso-collab__sccp_phone_register.pcapng frame 5: keepalive 30, "M/D/Y", secondary 60, v21.
    vector(
        "1800000000000000810000001e0000004d2f442f590000003c0000001520f1ff",
        Ctx::new(20),
        Message::RegisterAck(RegisterAck {
            keep_alive_interval: 30,
            date_template: "M/D/Y".into(),
            secondary_keep_alive_interval: 60,
            max_protocol_ver: 21,
            unknown: 0x20,
            phone_features: 0xfff1,
            ..Default::default()
        }),
    );
}

#[test]
fn call_off_hook_from_a_7970() {
    // nrusso-collab__sccp_outbound_call.pcapng frame 2: line 0, call 0 ("the default line").
    vector(
        "0c00000014000000060000000000000000000000",
        Ctx::new(20),
        Message::OffHook(OffHook {
            line_instance: Some(0),
            call_reference: Some(0),
            ..Default::default()
        }),
    );
}

#[test]
fn call_state_ring_in_from_cucm() {
    // nrusso-collab__sccp_inbound_call.pcapng frame 1.
    vector(
        "1c00000014000000110100000400000001000000720bad01000000000400000000000000",
        Ctx::new(20),
        Message::CallState(CallStateMsg {
            call_state: CallState::RING_IN,
            line_instance: 1,
            call_reference: 28117874,
            privacy: Some(0),
            precedence_level: Some(4),
            precedence_domain: Some(0),
            ..Default::default()
        }),
    );
}

#[test]
fn display_prompt_v2_with_a_label_code_and_padding() {
    // nrusso-collab__sccp_outbound_call.pcapng frame 20: label 0x80 0x16 "Ring Out", NUL, one pad byte.
    vector(
        "1400000014000000450100000000000001000000710bad0180160000",
        Ctx::new(20),
        Message::DisplayPromptStatusV2(DisplayPromptStatusV2 {
            time_out_value: 0,
            line_instance: 1,
            call_reference: 28117873,
            prompt_status: Some(VarText::from_bytes(&[0x80, 0x16])),
            trailing: bytes::Bytes::from_static(b"\0"),
        }),
    )
}

#[test]
fn call_keypad_digit_mid_call() {
    // nrusso-collab__sccp_dtmf_oob.pcapng frame 359: key 1 on line 1 during a call (v21).
    let message = Message::KeypadButton(KeypadButton {
        kp_button: KeypadKey::ONE,
        line_instance: Some(1),
        call_reference: Some(0x01b7_8fcd),
        ..Default::default()
    });
    vector(
        "1000000015000000030000000100000001000000cd8fb701",
        Ctx::new(21),
        message.clone(),
    );
    let Message::KeypadButton(k) = message else {
        unreachable!()
    };
    assert_eq!(k.digit(), Some('1'));
}

#[test]
fn media_open_receive_channel_ack_v17_and_v16() {
    // Built from the layout: status 0, 10.1.2.3:16384, party 7, call 9; IPv4 at v16, type + 16 bytes at v17.
    let ack = Message::OpenReceiveChannelAck(OpenReceiveChannelAck {
        media_reception_status: MediaStatus::OK,
        ip_addr: IpField::from("10.1.2.3".parse::<std::net::IpAddr>().unwrap()),
        port_number: 16384,
        pass_thru_party_id: 7,
        call_reference: Some(9),
        ..Default::default()
    });
    let v17 = [
        "28000000",
        "11000000",
        "22000000", // length 40, header v17, OpenReceiveChannelAck
        "00000000", // status OK
        "00000000",
        "0a010203000000000000000000000000", // IPv4 type, address block
        "00400000",
        "07000000",
        "09000000", // port 16384, party 7, call 9
    ];
    vector(&v17.concat(), Ctx::new(17), ack.clone());
    let v16 = [
        "18000000", "10000000", "22000000", "00000000", "0a010203", "00400000", "07000000",
        "09000000",
    ];
    vector(&v16.concat(), Ctx::new(16), ack);
}

#[test]
fn status_forward_stat_dirnum_width_follows_the_version() {
    let fwd = ForwardStatRes {
        active_forward: 1,
        line_number: 1,
        forward_all_active: 1,
        forward_all_dirnum: "2002".into(),
        ..Default::default()
    };
    for (version, dn) in [(17u8, 24usize), (18, 25)] {
        let ctx = Ctx::new(version);
        let mut out = BytesMut::new();
        Message::ForwardStatRes(fwd.clone()).encode_body(&mut out, ctx);
        assert_eq!(out.len(), 12 + 3 * dn + 8, "v{version}");
        assert_eq!(&out[12..16], b"2002");
        let back = super::decode_exact(codecs::sccp::MessageId::FORWARD_STAT_RES, &out, ctx);
        assert_eq!(back, Message::ForwardStatRes(fwd.clone()));
    }
}

#[test]
fn features_busy_lamp_state() {
    // FeatureStatV2Res for a busy-lamp key in use: index 3, type 0x15, status 2, label "2002".
    let blf = Message::FeatureStatV2Res(FeatureStatV2Res {
        feature_index: 3,
        feature_id: ButtonType(0x15),
        feature_status: 2,
        feature_text_label: Some("2002".into()),
        ..Default::default()
    });
    vector(
        "1500000011000000460100000300000015000000020000003230303200",
        Ctx::new(17),
        blf,
    );
}
