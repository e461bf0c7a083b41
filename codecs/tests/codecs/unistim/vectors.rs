//! Table vectors `(value, bytes)` per manager, in both directions: decoding the bytes gives the value,
//! encoding the value gives the bytes. Bytes are cut from the two shared captures (frame noted) unless
//! marked "synthetic" (no capture carries that command).

use std::net::Ipv4Addr;

use bytes::Bytes;
use codecs::unistim::msg::audio::*;
use codecs::unistim::msg::audio_stream::*;
use codecs::unistim::msg::basic::*;
use codecs::unistim::msg::broadcast::*;
use codecs::unistim::msg::display::*;
use codecs::unistim::msg::display_write::*;
use codecs::unistim::msg::expansion::*;
use codecs::unistim::msg::key::*;
use codecs::unistim::msg::network::*;
use codecs::unistim::{
    Datagram, Empty, Message, Opaque, PacketType, PayloadType, RudpHeader, Text,
};
use codecs::{DecodeError, Fields};

use super::hex;

fn b(s: &str) -> Bytes {
    Bytes::from(hex(s))
}

/// Checks one vector both ways, plus the name and command field.
fn check(bytes: &str, want: Message, name: &str) {
    let raw = hex(bytes);
    let got = Message::decode(&raw).unwrap_or_else(|e| panic!("{bytes}: {e}"));
    assert_eq!(got, want, "decode {bytes}");
    assert_eq!(&want.to_bytes()[..], &raw[..], "encode {want:?}");
    assert_eq!(want.name(), name, "name of {bytes}");
    assert_eq!(want.address(), raw[0]);
    assert_eq!(want.command(), raw[2]);
    assert!(!Fields::of(&want).is_empty());
}

#[test]
fn basic_manager_both_directions() {
    use BasicPhone as P;
    use BasicSwitch as S;
    check(
        "1a040108",
        S::QueryBasicManager(QueryBasicManager::new(0x08)).into(),
        "Query Basic Manager",
    ); // startup f19
    check(
        "1a04015c",
        S::QueryBasicManager(QueryBasicManager::new(0x5c)).into(),
        "Query Basic Manager",
    ); // f25
    check(
        "1a0707000000d3",
        S::AssignTerminalId(AssignTerminalId::new(0xd3)).into(),
        "Assign Terminal ID",
    ); // f24
    check(
        "1a040f01",
        S::Unknown {
            command: 0x0f,
            body: b("01"),
        }
        .into(),
        "Unknown",
    ); // f39, undocumented
    check(
        "1a060602ff01",
        S::EepromWrite(EepromWrite::new(0x02, b("ff01"))).into(),
        "EEprom Write",
    ); // synthetic
    let hw = HardwareId::new(b("3138001365ffb02a6625"));
    assert_eq!(hw.mac(), Some([0x00, 0x13, 0x65, 0xff, 0xb0, 0x2a]));
    check(
        "9a0d073138001365ffb02a6625",
        P::HardwareId(hw).into(),
        "Hardware ID",
    ); // f21
    check(
        "9a0a0230363235433142",
        P::FirmwareVersion(FirmwareVersion::new(Text::from("0625C1B"))).into(),
        "Firmware Version",
    ); // f30
    check(
        "9a040302",
        P::ItType(ItTypeReport::new(ItType::I2004)).into(),
        "IT Type",
    ); // f32
    check(
        "9a0b084e54595330354141",
        P::ProductEngineeringCode(ProductEngineeringCode::new(Text::from("NTYS05AA"))).into(),
        "Product Engineering Code",
    ); // f33
    check(
        "9a1c0b0101004c61737420726573657420726561736f6e2069732030",
        P::StartupReason(StartupReason::new(
            [1, 1, 0],
            Text::from("Last reset reason is 0"),
        ))
        .into(),
        "Startup reason",
    ); // f29
    check(
        "9a0911001365ffb02a",
        P::EthernetAddress(EthernetAddress::new([0x00, 0x13, 0x65, 0xff, 0xb0, 0x2a])).into(),
        "Phone Ethernet Address",
    ); // f46
    check(
        "9a0610810101",
        P::Unknown {
            command: 0x10,
            body: b("810101"),
        }
        .into(),
        "Unknown",
    ); // f41
    check(
        "9a0600112233",
        P::AttributesInfo(BasicAttributesInfo {
            static_checksum: 0x11,
            dynamic_checksum: 0x22,
            net_config_checksum: 0x33,
            trailing: Bytes::new(),
        })
        .into(),
        "Basic Manager Attributes Info",
    ); // synthetic
}

#[test]
fn network_manager_both_directions() {
    use NetworkPhone as P;
    use NetworkSwitch as S;
    check(
        "1e05120078",
        S::ResetWatchdog(ResetWatchdog::new(120)).into(),
        "Reset Watchdog",
    ); // startup f1
    check(
        "1e040408",
        S::QueryNetworkManager(QueryNetworkManager::new(0x08)).into(),
        "Query Network Manager",
    ); // f48
    check(
        "1e07130005000a",
        S::SetRecoveryProcedureTimeInterval(SetRecoveryProcedureTimeInterval::new(5, 10)).into(),
        "Set Recovery Procedure Time Interval",
    ); // f52
    check(
        "1e0714000a010a",
        S::TransportReliabilityLayerParameters(Opaque::new(hex("000a010a"))).into(),
        "Transport Reliability Layer Parameters Download",
    ); // f52
    check(
        "1e041501",
        S::Unknown {
            command: 0x15,
            body: b("01"),
        }
        .into(),
        "Unknown",
    ); // f52, undocumented
    check(
        "1e0302",
        S::SoftReset(Empty::default()).into(),
        "Soft Reset",
    ); // synthetic
    check(
        "1e0d0b001388010302c0a80001",
        S::DownloadServerInformation(DownloadServerInformation::new(
            0,
            5000,
            1,
            3,
            2,
            Ipv4Addr::new(192, 168, 0, 1),
        ))
        .into(),
        "Download Server Information",
    ); // synthetic
    check(
        "9e0308",
        P::ResumeConnection(Empty::default()).into(),
        "Resume Connection with Server",
    ); // f15
    let entry = |retry, failover, ip| ServerEntry {
        port: 5000,
        action: 1,
        retry_count: retry,
        failover_id: failover,
        address: ip,
    };
    let cs2k = Ipv4Addr::new(131, 253, 0, 203);
    check(
        "9e1f0c00138801030183fd00cb138801030083fd00cb000001000000000000",
        P::ServerInformationReport(ServerInformationReport {
            primary_server_id: 0,
            servers: vec![
                entry(3, 1, cs2k),
                entry(3, 0, cs2k),
                ServerEntry {
                    port: 0,
                    action: 1,
                    retry_count: 0,
                    failover_id: 0,
                    address: Ipv4Addr::UNSPECIFIED,
                },
            ],
            trailing: Bytes::new(),
        })
        .into(),
        "Server Information Report",
    ); // f50
}

#[test]
fn display_manager_both_directions() {
    use DisplayPhone as P;
    use DisplaySwitch as S;
    check(
        "170b190820204f6b202020",
        S::DisplayWrite(DisplayWrite::new(
            WriteAddress::softkey(0),
            Text::from("  Ok   "),
        ))
        .into(),
        "Display Data Write",
    ); // startup f54
    check(
        "170b192820436c65617220",
        S::DisplayWrite(DisplayWrite::new(
            WriteAddress::softkey(1),
            Text::from(" Clear "),
        ))
        .into(),
        "Display Data Write",
    ); // f54
    check(
        "170919024c6f67696e",
        S::DisplayWrite(DisplayWrite::new(
            WriteAddress::context(),
            Text::from("Login"),
        ))
        .into(),
        "Display Data Write",
    ); // f54
    check(
        "170e190400557365726e616d653a",
        S::DisplayWrite(DisplayWrite::new(
            WriteAddress::line(0, 0),
            Text::from("Username:"),
        ))
        .into(),
        "Display Data Write",
    ); // f54
    check(
        "17071b04200538",
        S::DisplayWrite(
            DisplayWrite::new(WriteAddress::line(1, 0), Text::from("8")).with_control(0x05),
        )
        .into(),
        "Display Data Write",
    ); // call f11
    check(
        "170f191000646f64656e2020202020",
        S::DisplayWrite(DisplayWrite::new(
            WriteAddress::soft_label(0),
            Text::from("doden     "),
        ))
        .into(),
        "Display Data Write",
    ); // call f1
    check(
        "1705180041",
        S::DisplayWrite(DisplayWrite {
            address: None,
            control: None,
            tag: None,
            text: Text::from("\0A"),
        })
        .into(),
        "Display Data Write",
    ); // synthetic, plain 0x18
    check(
        "17071f04210503",
        S::DisplayWrite(DisplayWrite {
            address: Some(WriteAddress::line(1, 1)),
            control: Some(0x05),
            tag: Some(0x03),
            text: Text::default(),
        })
        .into(),
        "Display Data Write",
    ); // synthetic 0x1f
    check(
        "17050f1001",
        S::ClearField(ClearField::lines(0x01)).into(),
        "Clear Field",
    ); // call f5
    check(
        "17070fd3ffff20",
        S::ClearField(ClearField {
            mask: 0xd3,
            lines: Some(0xff),
            status_bar_icons: None,
            softkeys: Some(0xff),
            softkey_label: Some(0x20),
            trailing: Bytes::new(),
        })
        .into(),
        "Clear Field",
    ); // startup f55
    check(
        "17040f02",
        S::ClearField(ClearField {
            mask: 0x02,
            lines: None,
            status_bar_icons: None,
            softkeys: None,
            softkey_label: None,
            trailing: Bytes::new(),
        })
        .into(),
        "Clear Field",
    ); // f54
    check(
        "170610810420",
        S::CursorControl(CursorControl::to_line(1, 0, true)).into(),
        "Cursor Control",
    ); // call f11
    check(
        "170514013c",
        S::StatusBarIconUpdate(StatusBarIconUpdate::new(1, 0x3c)).into(),
        "Status Bar Icon Update",
    ); // call f5
    check(
        "1709154d61794a756e",
        S::MonthLabelsDownload(Text::from("MayJun")).into(),
        "Month Labels Download",
    ); // startup f55
    check(
        "17041736",
        S::TimeAndDateFormat(TimeAndDateFormat::new(0x36)).into(),
        "Time and Date Format",
    ); // f55
    check(
        "170309",
        S::RestoreTimeAndDate(Empty::default()).into(),
        "Restore Time and Date",
    ); // f55
    check(
        "170922002060e06020",
        S::SpecialCharacterDownload(SpecialCharacterDownload::new(0x00, b("2060e06020"))).into(),
        "Special Character Download",
    ); // f53
    check("17042408", S::Contrast(Contrast::new(8)).into(), "Contrast"); // synthetic (chan_unistim default)
    check(
        "17050b0500",
        S::CallDurationTimer(CallDurationTimer::new(0x05, 0)).into(),
        "Call Duration Timer",
    ); // synthetic (chan_unistim start)
    check("17040400", S::Arrow(Arrow::new(0)).into(), "Arrow"); // synthetic
    check(
        "97040108",
        P::ContrastLevelReport(Contrast::new(8)).into(),
        "Contrast Level Report",
    ); // synthetic
    check(
        "97090058b42a810100",
        P::AttributesInfo(DisplayAttributesInfo::new(
            0x58, 0xb4, 0x2a, 0x81, 0x01, 0x00,
        ))
        .into(),
        "Display Manager Attributes Info",
    ); // synthetic
    check(
        "97030a",
        P::HighlightStatusOff(Empty::default()).into(),
        "Highlight Status Off",
    ); // synthetic
    let attrs = DisplayAttributesInfo::new(0x58, 0xb4, 0x2a, 0x81, 0x01, 0x00);
    assert_eq!(
        (
            attrs.line_width(),
            attrs.number_of_lines(),
            attrs.number_of_softkeys()
        ),
        (24, 2, 3)
    );
}

#[test]
fn key_indicator_manager_both_directions() {
    use KeyPhone as P;
    use KeySwitch as S;
    check(
        "9904005f",
        P::KeyEvent(KeyEvent::pressed(KeyCode::HANDSFREE)).into(),
        "Key Event",
    ); // call f2
    check(
        "99040048",
        P::KeyEvent(KeyEvent::pressed(KeyCode::DIAL_8)).into(),
        "Key Event",
    ); // call f9
    check(
        "9904004b",
        P::KeyEvent(KeyEvent::pressed(KeyCode::POUND)).into(),
        "Key Event",
    ); // call f27
    check(
        "9904005c",
        P::KeyEvent(KeyEvent::pressed(KeyCode::RELEASE)).into(),
        "Key Event",
    ); // call f81
    check(
        "99040060",
        P::KeyEvent(KeyEvent::pressed(KeyCode::PROG_0)).into(),
        "Key Event",
    ); // call f60
    check(
        "99040014",
        P::KeyEvent(KeyEvent {
            action: KeyAction::RELEASED,
            key: KeyCode::SOFTKEY_0,
            trailing: Bytes::new(),
        })
        .into(),
        "Key Event",
    ); // synthetic
    check("990303", P::OnHook(Empty::default()).into(), "On Hook"); // synthetic
    check("990304", P::OffHook(Empty::default()).into(), "Off Hook"); // synthetic
    check(
        "990608481509",
        P::AttributesInfo(KeyAttributesInfo::new(0x48, 0x15, 0x09)).into(),
        "Key/Indicator Manager Attributes Info",
    ); // synthetic
    assert_eq!(KeyCode::DIAL_8.dial_char(), Some('8'));
    assert_eq!(KeyCode::PROG_5.programmable(), Some(5));
    assert_eq!(KeyCode::SOFTKEY_3.softkey(), Some(3));
    assert_eq!(KeyCode::HOLD.dial_char(), None);
    check(
        "19040009",
        S::LedUpdate(LedUpdate::new(LedId::HANDSFREE, LedCadence::ON)).into(),
        "LED Update",
    ); // call f5
    check(
        "19040002",
        S::LedUpdate(LedUpdate::new(LedId::MESSAGE_WAITING, LedCadence::FLASH)).into(),
        "LED Update",
    ); // call f54
    check(
        "19040001",
        S::LedUpdate(LedUpdate::message_waiting(true)).into(),
        "LED Update",
    ); // synthetic (chan_unistim MWI on)
    check(
        "19040021",
        S::LedUpdate(LedUpdate {
            led: LedId::MESSAGE_WAITING,
            cadence: LedCadence::ON,
            other_bits: 0x20,
            trailing: Bytes::new(),
        })
        .into(),
        "LED Update",
    ); // call f62
    check(
        "19050f0042",
        S::PhoneIconUpdate(PhoneIconUpdate::new(0, icon::RINGING)).into(),
        "Phone Icon Update",
    ); // call f54
    check(
        "19050f0024",
        S::PhoneIconUpdate(PhoneIconUpdate::new(0, icon::ACTIVE)).into(),
        "Phone Icon Update",
    ); // call f5
    check(
        "19040d0f",
        S::UserActivityTimerDownload(UserActivityTimer::new(15)).into(),
        "User Activity Timer Download",
    ); // startup f55
    check(
        "190305",
        S::FreeFormIconAccessDownloadable(Empty::default()).into(),
        "Downloadable Free Form Icon Access (Downloadable)",
    ); // f55
    check(
        "19150e00000000000000101038387c7cfe00000000",
        S::FreeFormIconDownload(FreeFormIconDownload::new(
            0,
            b("000000000000101038387c7cfe00000000"),
        ))
        .into(),
        "Free Form Icon Download",
    ); // f53
    check(
        "1905093e0f",
        S::KeyRepeatTimerDownload(KeyRepeatTimer::new(0x3e, 0x0f)).into(),
        "Key Repeat Timer Download",
    ); // synthetic (chan_unistim)
}

#[test]
fn audio_manager_both_directions() {
    use AudioPhone as P;
    use AudioSwitch as S;
    check(
        "16081d0f0b330e14",
        S::StreamBasedToneFrequencyList(FrequencyList {
            tone: 0x0f,
            frequencies: vec![0x0b33, 0x0e14],
            trailing: Bytes::new(),
        })
        .into(),
        "Stream Based Tone Frequency Component List Download",
    ); // call f4
    assert_eq!(
        (
            FrequencyList::word_for_hz(350),
            FrequencyList::word_for_hz(440)
        ),
        (0x0b33, 0x0e14)
    );
    check(
        "16051e0fff",
        S::StreamBasedToneCadenceDownload(StreamBasedToneCadence::new(0x0f, b("ff"))).into(),
        "Stream Based Tone Cadence Download",
    ); // f4
    check(
        "16061b0f0011",
        S::StreamBasedToneOn(StreamBasedToneOn::new(0x0f, 0, 0x11)).into(),
        "Stream Based Tone On",
    ); // f4
    check(
        "16051c0f00",
        S::StreamBasedToneOff(StreamBasedToneOff::new(0x0f, 0)).into(),
        "Stream Based Tone Off",
    ); // f12
    check(
        "16041100",
        S::TransducerBasedToneOff(TransducerTone::new(0)).into(),
        "Transducer Based Tone Off",
    ); // f12
    check(
        "16041000",
        S::TransducerBasedToneOn(TransducerTone::new(0)).into(),
        "Transducer Based Tone On",
    ); // f53
    check(
        "1605121078",
        S::AlertingToneConfiguration(AlertingToneConfiguration::new(0x10, 0x78)).into(),
        "Alerting Tone Configuration",
    ); // f53
    check(
        "1606150064c8",
        S::AlertingToneCadenceDownload(Opaque::new(hex("0064c8"))).into(),
        "Alerting Tone Cadence Download",
    ); // f53
    check(
        "16052103a0",
        S::SetApbRxVolumeLevel(SetApbRxVolume::new(3, 0xa0)).into(),
        "Set APB's Rx Volume Level",
    ); // f5
    check(
        "160632c20300",
        S::ConnectTransducer(ConnectTransducer::both_ways(
            TransducerPair::HANDSFREE,
            3,
            0,
        ))
        .into(),
        "Connect Transducer",
    ); // f5
    check(
        "160632ff03ff",
        S::ConnectTransducer(ConnectTransducer::new(0xff, 3, b("ff"))).into(),
        "Connect Transducer",
    ); // f69
    check(
        "160c380000c0c2c5c7e00050",
        S::ConfigureVocoderParameters(ConfigureVocoder {
            stream_id: 0,
            vocoder: Vocoder::PCMU,
            params: [0xc0, 0xc2, 0xc5, 0xc7]
                .map(|param| VocoderParam { param, value: None })
                .into_iter()
                .chain([VocoderParam {
                    param: 0xe0,
                    value: Some(80),
                }])
                .collect(),
        })
        .into(),
        "Configure Vocoder Parameters",
    ); // f45
    check(
        "16070401000300",
        S::MuteUnmute(MuteUnmute {
            entries: vec![
                MuteEntry {
                    flags: 1,
                    stream_id: 0,
                },
                MuteEntry {
                    flags: 3,
                    stream_id: 0,
                },
            ],
            trailing: Bytes::new(),
        })
        .into(),
        "Mute/Unmute",
    ); // f45
    check(
        "161a30000000000200000000000261ac61add7eed7ef83fd0486",
        S::OpenAudioStream(OpenAudioStream {
            rx_stream_id: 0,
            tx_stream_id: 0,
            rx_vocoder: Vocoder::PCMU,
            tx_vocoder: Vocoder::PCMU,
            frames_per_packet: 2,
            tos: 0,
            rtcp_bucket_id: 0,
            reserved: [0, 0, 0, 2],
            local_rtp_port: 25004,
            local_rtcp_port: 25005,
            far_rtp_port: 55278,
            far_rtcp_port: 55279,
            far_address: Some(Ipv4Addr::new(131, 253, 4, 134)),
            trailing: Bytes::new(),
        })
        .into(),
        "Open Audio Stream",
    ); // f45
    check(
        "1605310000",
        S::CloseAudioStream(CloseAudioStream::new(0, 0)).into(),
        "Close Audio Stream",
    ); // f87
    check(
        "16043792",
        S::QueryRtcpStatistics(QueryRtcpStatistics::new(0x92)).into(),
        "Query RTCP Statistics",
    ); // f87
    check(
        "16072804590100",
        S::ApbDownload(ApbDownload {
            apb: 4,
            ops: vec![ApbOp {
                op: 0x59,
                data: Some(b("00")),
            }],
        })
        .into(),
        "APB Download",
    ); // startup f52
    check(
        "160628020112",
        S::ApbDownload(ApbDownload {
            apb: 2,
            ops: vec![
                ApbOp {
                    op: 0x01,
                    data: None,
                },
                ApbOp {
                    op: 0x12,
                    data: None,
                },
            ],
        })
        .into(),
        "APB Download",
    ); // synthetic
    check(
        "96040f00",
        P::OpenAudioStreamReport(OpenAudioStreamReport::new(StreamResult::OPENED)).into(),
        "Open Audio Stream Report",
    ); // call f49
    check(
        "960300",
        P::HandsetConnected(Empty::default()).into(),
        "Handset Connected",
    ); // synthetic
    check(
        "960607010008",
        P::AttributesInfo(AudioAttributesInfo::new(1, b("0008"))).into(),
        "Audio Manager Attributes Info",
    ); // synthetic
}

#[test]
fn broadcast_manager() {
    check(
        "1109025705090f0d04",
        BroadcastSwitch::TimeAndDateDownload(TimeAndDate::new(0x57, 5, 9, 15, 13, 4)).into(),
        "Time and Date Download",
    ); // startup f55
    check(
        "110300",
        BroadcastSwitch::AccessorySyncUpdate(Empty::default()).into(),
        "Accessory Sync Update",
    ); // synthetic
    // Bytes after a fixed layout are kept as trailing (synthetic).
    check(
        "11040001",
        BroadcastSwitch::AccessorySyncUpdate(Empty { trailing: b("01") }).into(),
        "Accessory Sync Update",
    );
    check(
        "11050142ff",
        BroadcastSwitch::LogicalIconUpdate(LogicalIconUpdate {
            state: 0x42,
            trailing: b("ff"),
        })
        .into(),
        "Logical Icon Update",
    );
}

#[test]
fn expansion_modules() {
    let w = |module| Message::ExpansionSwitch {
        module,
        msg: ExpansionSwitch::DisplayDataWrite(ExpansionWrite::new(0x1a, 0x80, Text::default())),
    };
    check("0905571a80", w(1), "Display Data Write"); // startup f55
    check("0a05571a80", w(2), "Display Data Write"); // f55
    check(
        "090659058000",
        Message::ExpansionSwitch {
            module: 1,
            msg: ExpansionSwitch::IconUpdate(ExpansionIconUpdate::new(5, 0x80, 0)),
        },
        "Icon Update",
    ); // f55
    check(
        "89045945",
        Message::ExpansionPhone {
            module: 1,
            msg: ExpansionPhone::KeyPressed(ExpansionKey::new(0x45)),
        },
        "Expansion Key Pressed",
    ); // synthetic
}

#[test]
fn malformed_and_unknown_keep_their_bytes() {
    // Assign Terminal ID needs four bytes; two are there.
    let m = Message::decode(&hex("1a05070000")).unwrap();
    assert!(
        matches!(
            &m,
            Message::Malformed {
                address: 0x1a,
                command: 0x07,
                error: DecodeError::Short {
                    field: "switch.terminal.id",
                    ..
                },
                ..
            }
        ),
        "{m:?}"
    );
    assert_eq!(&m.to_bytes()[..], &hex("1a05070000")[..]);
    assert_eq!(m.name(), "Assign Terminal ID");
    // An address without a table.
    let m = Message::decode(&hex("910400aa")).unwrap();
    assert_eq!(
        m,
        Message::Unknown {
            address: 0x91,
            command: 0,
            body: b("aa")
        }
    );
    assert_eq!(m.command_field(), None);
    // Framing errors are not messages.
    assert!(Message::decode(&hex("1a02")).is_err());
    assert!(Message::decode(&hex("1a0a0108")).is_err());
    assert!(Message::decode(&hex("1a04010800")).is_err());
}

#[test]
fn datagram_headers_in_every_shape() {
    // Phone hello: seq FFFFFFFF, payload type 2, terminal id FFFFFFFF, Resume Connection (startup f15).
    let hello = Datagram::decode(&hex("ffffffff0202ffffffff9e0308")).unwrap();
    assert_eq!(
        hello.header,
        RudpHeader::phone_payload(0xffff_ffff, 0xffff_ffff)
    );
    assert_eq!(
        hello.messages,
        vec![Message::from(NetworkPhone::ResumeConnection(
            Empty::default()
        ))]
    );
    assert_eq!(hello.header.terminal_id(), Some(0xffff_ffff));
    // Server NAK and ACK: 6 bytes (f16, f18); phone ACK: 10 bytes (f20).
    for (bytes, header) in [
        ("0000e5540000", RudpHeader::server_ack(0xe554, true)),
        ("0000e5540100", RudpHeader::server_ack(0xe554, false)),
        (
            "00009af90102ffffffff",
            RudpHeader::phone_ack(0x9af9, 0xffff_ffff, false),
        ),
        (
            "00009af90102000000d3",
            RudpHeader::phone_ack(0x9af9, 0xd3, false),
        ),
        (
            "0000000101",
            RudpHeader::new(1, PacketType::ACK, None, None),
        ),
    ] {
        let d = Datagram::decode(&hex(bytes)).unwrap();
        assert_eq!(d, Datagram::header_only(header), "{bytes}");
        assert!(d.messages.is_empty());
        assert_eq!(&d.encode()[..], &hex(bytes)[..]);
        assert_eq!(header.encoded_len(), hex(bytes).len());
    }
    // Server payload with two messages (call f12).
    let d = Datagram::decode(&hex("00009b38020116051c0f0016041100")).unwrap();
    assert_eq!(d.header.seq(), 0x9b38);
    assert_eq!(d.header.payload_type(), Some(PayloadType::UNISTIM));
    assert_eq!(d.messages.len(), 2);
    assert_eq!(d, Datagram::server_payload(0x9b38, d.messages.clone()));
    // UFTP connection details: block size, limit, file name (synthetic).
    let d = Datagram::decode(&hex("0000000102038104000866696c65")).unwrap();
    let u = d.uftp.clone().unwrap();
    assert_eq!(u.details(), Some((0x0400, 8, &b"file"[..])));
    assert_eq!(&d.encode()[..], &hex("0000000102038104000866696c65")[..]);
    // A NULL payload and ACK extras are kept as trailing bytes.
    for bytes in ["000000010200abcd", "0000e55401000102"] {
        let d = Datagram::decode(&hex(bytes)).unwrap();
        assert_eq!(&d.trailing[..], &hex(bytes)[hex(bytes).len() - 2..]);
        assert_eq!(&d.encode()[..], &hex(bytes)[..]);
    }
    // A message running past the end becomes Unframed and keeps its bytes; the one before survives.
    let raw = hex("00009b38020116051c0f00160a1100");
    let d = Datagram::decode(&raw).unwrap();
    assert!(matches!(
        d.messages[0],
        Message::AudioSwitch(AudioSwitch::StreamBasedToneOff(_))
    ));
    assert!(matches!(
        &d.messages[1],
        Message::Unframed {
            error: DecodeError::Short {
                field: "len",
                needed: 10,
                left: 4
            },
            ..
        }
    ));
    assert!(d.has_malformed());
    assert_eq!(&d.encode()[..], &raw[..]);
    // Regression (fuzz finding): an unframeable tail longer than 255 bytes re-encodes as it came.
    let mut raw = hex("00009b380201 1702");
    raw.extend(std::iter::repeat_n(0x41, 300));
    let d = Datagram::decode(&raw).unwrap();
    assert!(matches!(
        &d.messages[..],
        [Message::Unframed {
            error: DecodeError::Invalid {
                field: "len",
                value: 2
            },
            ..
        }]
    ));
    assert_eq!(&d.encode()[..], &raw[..]);
    // Header errors.
    assert!(matches!(
        Datagram::decode(&hex("0000000105")),
        Err(DecodeError::Invalid {
            field: "type",
            value: 5
        })
    ));
    assert!(matches!(
        Datagram::decode(&hex("00000001")),
        Err(DecodeError::Short { field: "type", .. })
    ));
    assert!(matches!(
        Datagram::decode(&hex("0000000102")),
        Err(DecodeError::Short { field: "pay", .. })
    ));
    assert!(matches!(
        Datagram::decode(&hex("00000001020200")),
        Err(DecodeError::Short {
            field: "terminal.id",
            ..
        })
    ));
}
