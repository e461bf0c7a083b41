//! Goldens: every SCCP message of every shared capture decodes, agrees with tshark on its id and key
//! fields frame by frame, and re-encodes byte for byte; the sccp-rs fixtures meet their manifest.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use bytes::BytesMut;
use codecs::sccp::stream::{Conversation, Event, Side};
use codecs::sccp::{Ctx, Message, MessageId, frame};
use codecs::{Fields, Value};

use super::{decode_exact, flatten, shared};

/// The fields compared with tshark: ours and tshark's name for it.
const KEY_FIELDS: &[(&str, &str)] = &[
    ("DeviceName", "skinny.DeviceName"),
    ("deviceType", "skinny.deviceType"),
    ("protocolVer", "skinny.protocolVer"),
    ("maxProtocolVer", "skinny.maxProtocolVer"),
    ("lineInstance", "skinny.lineInstance"),
    ("callReference", "skinny.callReference"),
    ("passthruPartyID", "skinny.passthruPartyID"),
    ("passthruPartyID", "skinny.passThroughPartyId"),
    ("portNumber", "skinny.portNumber"),
    ("remotePortNumber", "skinny.remotePortNumber"),
    ("sourcePortNumber", "skinny.sourcePortNumber"),
    ("stationIpAddr", "skinny.stationIpAddr"),
    ("ipAddr", "skinny.ipAddr.ipv4"),
    ("remoteIpAddr", "skinny.remoteIpAddr.ipv4"),
    ("sourceIpAddr", "skinny.sourceIpAddr.ipv4"),
    ("transmitIpAddr", "skinny.transmitIpAddr.ipv4"),
];

/// tshark names the media leg `passThroughPartyId` in some messages and `passthruPartyID` in others:
/// both are compared as one.
fn canonical_name(tshark: &'static str) -> &'static str {
    if tshark == "skinny.passThroughPartyId" {
        "skinny.passthruPartyID"
    } else {
        tshark
    }
}

/// What we decoded in one frame: message ids and, per key field, the values in order.
#[derive(Debug, Default, PartialEq, Eq)]
struct FrameView {
    ids: Vec<u32>,
    fields: BTreeMap<&'static str, Vec<String>>,
}

fn render(value: &Value) -> String {
    match value {
        Value::U(n) => n.to_string(),
        Value::I(n) => n.to_string(),
        Value::Enum(n, _) => n.to_string(),
        Value::Str(s) => s.clone(),
        Value::Ip(ip) => ip.to_string(),
        other => other.to_string(),
    }
}

fn add_fields(view: &mut FrameView, fields: &Fields) {
    for (name, value) in flatten(fields) {
        let Some((_, tshark)) = KEY_FIELDS.iter().find(|(ours, _)| *ours == name) else {
            continue;
        };
        let tshark = canonical_name(tshark);
        // tshark lists an address under .ipv4 or .ipv6 by its kind.
        if let (Value::Ip(IpAddr::V6(_)), true) = (&value, tshark.ends_with(".ipv4")) {
            continue;
        }
        // tshark does not show empty strings.
        if matches!(&value, Value::Str(s) if s.is_empty()) {
            continue;
        }
        view.fields.entry(tshark).or_default().push(render(&value));
    }
}

/// Decodes the SCCP streams of a capture our way: frame number → what completed in it.
fn decode_capture(path: &Path) -> (BTreeMap<u64, FrameView>, usize) {
    let capture = captures::read_file(path).expect("capture reads");
    let mut conversations: HashMap<(SocketAddr, SocketAddr), Conversation> = HashMap::new();
    let mut frames: BTreeMap<u64, FrameView> = BTreeMap::new();
    let mut count = 0;
    for payload in captures::payloads(&capture) {
        if payload.proto != captures::Proto::Tcp {
            continue;
        }
        let (side, key) = if payload.dst.port() == 2000 {
            (Side::Client, (payload.src, payload.dst))
        } else if payload.src.port() == 2000 {
            (Side::Server, (payload.dst, payload.src))
        } else {
            continue;
        };
        let conv = conversations.entry(key).or_default();
        for event in conv.push(side, &payload.data, payload.gap > 0) {
            let Event::Message(decoded) = event else {
                panic!(
                    "{}: frame {}: stream unframeable",
                    path.display(),
                    payload.frame
                );
            };
            let message = decoded
                .message
                .as_ref()
                .unwrap_or_else(|e| panic!("{}: frame {}: {e}", path.display(), payload.frame));
            // Byte-identical re-encoding, header included.
            let again = message.to_frame_with_header(decoded.raw.header_version, decoded.ctx);
            assert_eq!(
                again,
                decoded.raw,
                "{}: frame {}: re-encoding differs",
                path.display(),
                payload.frame
            );
            let view = frames.entry(payload.frame).or_default();
            view.ids.push(decoded.raw.id.0);
            add_fields(view, &Fields::of(message));
            count += 1;
        }
    }
    (frames, count)
}

fn parse_u32(s: &str) -> u32 {
    s.strip_prefix("0x")
        .map(|h| u32::from_str_radix(h, 16))
        .unwrap_or_else(|| s.parse())
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// tshark's view of the same capture.
fn tshark_capture(path: &Path) -> BTreeMap<u64, FrameView> {
    let mut names = vec!["frame.number", "skinny.messageId"];
    names.extend(KEY_FIELDS.iter().map(|(_, t)| *t));
    let rows = captures::peer::tshark_fields(path, &[], "skinny", &names).expect("tshark runs");
    let mut frames = BTreeMap::new();
    for row in rows {
        let number: u64 = row[0].parse().expect("frame number");
        let mut view = FrameView {
            ids: row[1].split(',').map(parse_u32).collect(),
            ..FrameView::default()
        };
        for ((_, tshark), cell) in KEY_FIELDS.iter().zip(&row[2..]) {
            if cell.is_empty() {
                continue;
            }
            let values: Vec<String> = cell
                .split(',')
                .map(|v| {
                    if v.starts_with("0x") {
                        parse_u32(v).to_string()
                    } else {
                        v.to_owned()
                    }
                })
                .collect();
            view.fields
                .entry(canonical_name(tshark))
                .or_default()
                .extend(values);
        }
        frames.insert(number, view);
    }
    frames
}

fn sccp_captures() -> Vec<std::path::PathBuf> {
    let dir = shared("captures/sccp");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 13, "the 13 shared SCCP captures");
    files
}

#[test]
fn every_capture_decodes_and_reencodes_byte_for_byte() {
    let mut total = 0;
    for file in sccp_captures() {
        let (frames, count) = decode_capture(&file);
        assert!(count > 0, "{}: no SCCP found", file.display());
        assert!(!frames.is_empty());
        total += count;
    }
    // tshark counts 531 SCCP messages in these files (`tshark -Y skinny -T fields -e skinny.messageId`).
    assert_eq!(total, 531);
}

#[test]
fn every_capture_agrees_with_tshark_frame_by_frame() {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    for file in sccp_captures() {
        let (ours, _) = decode_capture(&file);
        let theirs = tshark_capture(&file);
        let frames: Vec<_> = ours
            .keys()
            .chain(theirs.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for frame in frames {
            let (a, b) = (ours.get(frame), theirs.get(frame));
            assert_eq!(
                a.map(|v| &v.ids),
                b.map(|v| &v.ids),
                "{}: frame {frame}: message ids",
                file.display()
            );
            let (Some(a), Some(b)) = (a, b) else { continue };
            // The key fields: every field that either side shows must agree (as a multiset: tshark
            // lists a frame's values per field, not per message).
            let sorted = |v: Option<&Vec<String>>| {
                let mut v = v.cloned().unwrap_or_default();
                v.sort();
                v
            };
            for (_, name) in KEY_FIELDS {
                assert_eq!(
                    sorted(a.fields.get(*name)),
                    sorted(b.fields.get(*name)),
                    "{}: frame {frame}: {name} (ids {:x?})",
                    file.display(),
                    a.ids
                );
            }
        }
    }
}

/// The sccp-rs fixtures: single frames from real phones, with what each must decode to.
#[test]
fn sccp_rs_fixtures_meet_their_manifest() {
    let dir = shared("captures/sccp/sccp-rs_golden");
    let manifest: toml::Table = std::fs::read_to_string(dir.join("manifest.toml"))
        .expect("manifest")
        .parse()
        .expect("manifest parses");
    let fixtures = manifest["fixture"].as_array().expect("fixtures");
    assert!(fixtures.len() >= 13);
    for fixture in fixtures {
        let name = fixture["name"].as_str().expect("name");
        let file = dir.join(fixture["file"].as_str().expect("file"));
        let Ok(text) = std::fs::read_to_string(&file) else {
            // One fixture is byte-identical to another and was not copied (shared/captures/README.md).
            assert_eq!(name, "open_receive_7961_v22_no_ack_wildcard");
            continue;
        };
        let bytes = hex::decode(text.split_whitespace().collect::<String>()).expect("hex");
        let mut buf = BytesMut::from(&bytes[..]);
        let raw = frame::decode(&mut buf)
            .expect("frames")
            .expect("whole frame");
        assert!(buf.is_empty(), "{name}: one frame");
        assert_eq!(
            i64::from(raw.id.0),
            fixture["message_id"].as_integer().unwrap(),
            "{name}"
        );
        assert_eq!(
            i64::from(raw.header_version),
            fixture["header_protocol"].as_integer().unwrap()
        );
        let version = u8::try_from(fixture["decode_protocol"].as_integer().unwrap()).unwrap();
        let ctx = Ctx::new(version);
        let message = decode_exact(raw.id, &raw.body, ctx);
        let expect = fixture["expect"].as_table().expect("expect");
        assert_eq!(expect["result"].as_str(), Some("decoded"));
        // Canonical form: what our encoder sends under the negotiated version.
        let mut canonical = BytesMut::new();
        message.encode_frame(ctx, &mut canonical);
        match expect["canonical"].as_str() {
            Some("exact") => assert_eq!(&canonical[..], &bytes[..], "{name}: canonical"),
            Some("normalized") => {
                let twin =
                    std::fs::read_to_string(dir.join(expect["canonical_file"].as_str().unwrap()))
                        .unwrap();
                let twin = hex::decode(twin.split_whitespace().collect::<String>()).unwrap();
                assert_eq!(&canonical[..], &twin[..], "{name}: canonical twin");
            }
            other => panic!("{name}: canonical {other:?}"),
        }
        check_semantic(
            name,
            &message,
            expect["semantic"].as_table().expect("semantic"),
        );
    }
}

fn check_semantic(name: &str, message: &Message, semantic: &toml::Table) {
    let fields = flatten(&Fields::of(message));
    let get = |ours: &str| -> String {
        fields
            .iter()
            .find(|(k, _)| *k == ours)
            .map(|(_, v)| render(v))
            .unwrap_or_else(|| panic!("{name}: no field {ours} in {fields:?}"))
    };
    for (key, want) in semantic {
        let want = match want {
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::String(s) => s.clone(),
            _ => continue, // nested wire details and lists are checked below or by the byte comparison
        };
        let ours = match (key.as_str(), message) {
            ("type" | "variant" | "wire", _) => continue,
            ("call_reference", _) => get("callReference"),
            ("conference_id", _) => get("conferenceId"),
            ("passthrough_party_id", _) => get("passthruPartyID"),
            ("packet_ms", _) => get("milliSecondPacketSize"),
            ("codec", _) => get("compressionType"),
            ("echo_cancellation", _) => get("ecValue"),
            ("telephone_event_payload", _) => get("RFC2833PayloadType"),
            ("source_address", _) => get("sourceIpAddr"),
            ("source_port", _) => get("sourcePortNumber"),
            ("silence_suppression", _) => get("ssValue"),
            ("max_frames_per_packet", _) => get("maxFramesPerPacket"),
            ("status", Message::OpenReceiveChannelAck(_)) => get("mediaReceptionStatus"),
            ("status", _) => get("mediaTransmissionStatus"),
            ("address", Message::StartMediaTransmission(_)) => get("remoteIpAddr"),
            ("address", Message::OpenReceiveChannelAck(_)) => get("ipAddr"),
            ("address", _) => get("transmitIpAddr"),
            ("rtp_port", _) => get("remotePortNumber"),
            // RTCP goes to the RTP port + 1; SCCP carries no field for it.
            ("rtcp_port", _) => (get("remotePortNumber").parse::<u32>().unwrap() + 1).to_string(),
            ("port", _) => get("portNumber"),
            ("instance", Message::LineStatV2Res(_)) => get("lineNumber"),
            ("instance", _) => get("lineInstance"),
            ("directory_number", _) => get("lineDirNumber"),
            ("fully_qualified_display_name", _) => get("lineFullyQualifiedDisplayName"),
            ("display_label", _) => get("lineTextLabel"),
            ("index", _) => get("featureIndex"),
            ("capabilities", _) => get("featureCapabilities"),
            ("stimulus", _) => get("stimulus"),
            ("payload_bytes", Message::UpdateCapabilities(raw)) => raw.0.len().to_string(),
            (
                "rtp_payload_format" | "video_count" | "data_count",
                Message::UpdateCapabilities(raw),
            ) => {
                let word =
                    |i: usize| u32::from_le_bytes(raw.0[i..i + 4].try_into().unwrap()).to_string();
                match key.as_str() {
                    "rtp_payload_format" => word(12),
                    "video_count" => word(4),
                    _ => word(8),
                }
            }
            (other, _) => panic!("{name}: unchecked expectation {other}"),
        };
        assert_eq!(ours, want, "{name}: {key}");
    }
    if let (Some(toml::Value::Array(codecs)), Message::UpdateCapabilities(raw)) =
        (semantic.get("audio_codecs"), message)
    {
        // The legacy layout: 5 counts and formats, 6 custom picture formats, conference resources, then
        // the audio capabilities, 16 bytes each.
        let count = u32::from_le_bytes(raw.0[0..4].try_into().unwrap()) as usize;
        assert_eq!(count, codecs.len(), "{name}: audio count");
    }
    let _ = MessageId::ALL;
}
