//! Property round trips: typed values encode and decode back to themselves in every version band, and
//! any bytes that decode re-encode to the same bytes (the fuzz oracle, also replayed on every fuzz
//! finding kept in `regressions/`).

use bytes::{Bytes, BytesMut};
use codecs::sccp::fuzzing::{VERSION_BANDS, check_stream};
use codecs::sccp::msg::{
    CallInfoV2, DialedNumber, ForwardStatRes, KeypadButton, OpenReceiveChannel, RegisterExtended,
    RegisterReq, RegisterTail, StartMediaTransmission,
};
use codecs::sccp::types::{DirNum, IpField, VarText};
use codecs::sccp::{Ctx, DeviceType, KeypadKey, Message, MessageId, PayloadType};
use proptest::prelude::*;

fn roundtrip(message: &Message, ctx: Ctx) {
    let mut body = BytesMut::new();
    message.encode_body(&mut body, ctx);
    let back = Message::decode(message.id(), &body.freeze(), ctx).unwrap();
    assert_eq!(&back, message, "v{}", ctx.version);
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[ -~]{{0,{max}}}")).unwrap()
}

fn ip(version: u8) -> impl Strategy<Value = IpField> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpField::from(std::net::IpAddr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpField::from(std::net::IpAddr::from(b))),
    ]
    .prop_map(move |f| {
        if version >= 17 {
            f
        } else {
            IpField::from(std::net::IpAddr::from(
                <[u8; 4]>::try_from(&f.bytes[..4]).unwrap(),
            ))
        }
    })
}

fn band() -> impl Strategy<Value = u8> {
    proptest::sample::select(VERSION_BANDS.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_body_that_decodes_reencodes_exactly(
        id in proptest::sample::select(MessageId::ALL.to_vec()),
        header in proptest::sample::select(vec![0u32, 11, 17, 20, 22]),
        body in proptest::collection::vec(any::<u8>(), 0..420),
    ) {
        let mut frame = BytesMut::new();
        codecs::sccp::frame::encode(id, header, &body, &mut frame);
        check_stream(&frame);
    }

    #[test]
    fn open_receive_channel_in_every_band(v in band(), conf: u32, party: u32, ms in 10u32..60, codec: u32,
                                          call: u32, src in ip(22), port: u16, level: i32) {
        let mut orc = OpenReceiveChannel {
            conference_id: conf,
            pass_thru_party_id: party,
            millisecond_packet_size: ms,
            compression_type: PayloadType(codec),
            call_reference: call,
            ..Default::default()
        };
        if v >= 11 {
            orc.mixing_mode = Some(0);
            orc.party_direction = Some(0);
            orc.source_ip_addr = Some(if v >= 17 { src } else { IpField::from(std::net::IpAddr::from(<[u8; 4]>::try_from(&src.bytes[..4]).unwrap())) });
            orc.source_port_number = Some(u32::from(port));
        }
        if v >= 16 { orc.requested_ip_addr_type = Some(0); }
        if v >= 17 { orc.audio_level_adjustment = Some(level); }
        if v >= 21 { orc.latent_caps_info = Some([0; 36]); }
        let m = Message::OpenReceiveChannel(orc);
        roundtrip(&m, Ctx::new(v));
        // The body length is the one tshark decodes for the band.
        let mut body = BytesMut::new();
        m.encode_body(&mut body, Ctx::new(v));
        let want = match v { 0..=10 => 92, 11..=15 => 108, 16 => 112, 17..=20 => 132, _ => 168 };
        prop_assert_eq!(body.len(), want);
    }

    #[test]
    fn start_media_transmission_in_every_band(v in band(), remote in ip(22), port: u16, call: u32, frames: u16) {
        let mut smt = StartMediaTransmission {
            remote_ip_addr: if v >= 17 { remote } else { IpField::from(std::net::IpAddr::from(<[u8; 4]>::try_from(&remote.bytes[..4]).unwrap())) },
            remote_port_number: u32::from(port),
            millisecond_packet_size: 20,
            compression_type: PayloadType::G711_ULAW64K,
            max_frames_per_packet: frames,
            call_reference: call,
            mixing_mode: Some(0),
            ..Default::default()
        };
        if v >= 15 { smt.party_direction = Some(0); }
        if v >= 21 { smt.latent_caps_info = Some([0; 36]); }
        let m = Message::StartMediaTransmission(smt);
        roundtrip(&m, Ctx::new(v));
        let mut body = BytesMut::new();
        m.encode_body(&mut body, Ctx::new(v));
        let want = match v { 0..=14 => 112, 15..=16 => 116, 17..=20 => 132, _ => 168 };
        prop_assert_eq!(body.len(), want);
    }

    #[test]
    fn register_req_short_and_full(v in band(), mac: [u8; 6], kind: u32, full: bool, fw in text(31)) {
        let name = format!("SEP{}", mac.iter().map(|b| format!("{b:02X}")).collect::<String>());
        let m = RegisterReq {
            device_name: name.as_str().into(),
            device_type: DeviceType(kind),
            max_streams: 5,
            tail: Some(RegisterTail { protocol_ver: v, phone_features: 0x8090, ..Default::default() }),
            extended: full.then(|| RegisterExtended {
                firmware_load_name: fw.as_str().into(),
                max_number_of_lines: 6,
                ..Default::default()
            }),
            ..Default::default()
        };
        prop_assert_eq!(m.mac_from_name(), Some(mac));
        prop_assert_eq!(m.protocol_version(), v);
        roundtrip(&Message::RegisterReq(m), Ctx::new(0));
    }

    #[test]
    fn directory_numbers_in_every_band(v in band(), number in "[0-9*#+]{0,23}", line: u32, call: u32) {
        roundtrip(&Message::DialedNumber(DialedNumber {
            dialed_number: DirNum::from(number.as_str()),
            line_instance: line,
            call_reference: call,
            ..Default::default()
        }), Ctx::new(v));
        roundtrip(&Message::ForwardStatRes(ForwardStatRes {
            active_forward: 1,
            forward_busy_active: 1,
            forward_busy_dirnum: DirNum::from(number.as_str()),
            ..Default::default()
        }), Ctx::new(v));
    }

    #[test]
    fn call_info_v2_strings(v in band(), calling in text(24), name in text(40), hunt in text(20)) {
        let mut info = CallInfoV2 {
            call_reference: 7,
            calling_party: Some(VarText::from(calling.as_str())),
            alternate_calling_party: Some(VarText::default()),
            called_party: Some("2002".into()),
            original_called_party: Some("2002".into()),
            last_redirecting_party: Some(VarText::default()),
            cgpn_voice_mailbox: Some(VarText::default()),
            cdpn_voice_mailbox: Some(VarText::default()),
            original_cdpn_voice_mailbox: Some(VarText::default()),
            last_redirecting_voice_mailbox: Some(VarText::default()),
            calling_party_name: Some(VarText::from(name.as_str())),
            called_party_name: Some(VarText::default()),
            original_called_party_name: Some(VarText::default()),
            last_redirecting_party_name: Some(VarText::default()),
            ..Default::default()
        };
        if v >= 17 {
            info.hunt_pilot_number = Some(VarText::from(hunt.as_str()));
            info.hunt_pilot_name = Some(VarText::default());
        }
        roundtrip(&Message::CallInfoV2(info), Ctx::new(v));
    }

    #[test]
    fn keypad_buttons_short_and_long(v in band(), key in 0u32..=16, long: bool, call: u32) {
        let k = KeypadButton {
            kp_button: KeypadKey(key),
            line_instance: long.then_some(1),
            call_reference: long.then_some(call),
            ..Default::default()
        };
        prop_assert!(k.digit().is_some());
        roundtrip(&Message::KeypadButton(k), Ctx::new(v));
    }
}

#[test]
fn every_fuzz_finding_stays_fixed() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/codecs/sccp/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        check_stream(&data);
        n += 1;
    }
    assert!(n >= 1);
    let _ = Bytes::new();
}
