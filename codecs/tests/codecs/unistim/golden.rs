//! Goldens: every UNIStim datagram of both shared captures decodes without a malformed message,
//! re-encodes byte-identically, and gives the same per-frame (address, command) sequence as tshark.

use codecs::Fields;
use codecs::unistim::msg::command_field;
use codecs::unistim::{Datagram, Message};

use super::{CALL, STARTUP, capture_path, datagrams};

/// The Wireshark fields that carry a command byte, one per manager and direction.
const COMMAND_FIELDS: &[&str] = &[
    "basic.switch",
    "basic.phone",
    "broadcast.switch",
    "audio.switch",
    "audio.phone",
    "display.switch",
    "display.phone",
    "key.switch",
    "key.phone",
    "network.switch",
    "network.phone",
    "expansion.switch",
    "expansion.phone",
];

#[test]
fn every_datagram_decodes_and_reencodes_identically() {
    // Frame and message counts as tshark reports them (`-e unistim.add`).
    for (name, expect_frames, expect_messages) in [(STARTUP, 59, 91), (CALL, 105, 224)] {
        let mut frames = 0;
        let mut messages = 0;
        for (frame, _, _, data) in datagrams(name) {
            let d = Datagram::decode(&data).unwrap_or_else(|e| panic!("{name} frame {frame}: {e}"));
            assert!(!d.has_malformed(), "{name} frame {frame}: {:?}", d.messages);
            assert!(
                d.trailing.is_empty() && d.uftp.is_none(),
                "{name} frame {frame}"
            );
            for m in &d.messages {
                assert!(
                    !matches!(m, Message::Unknown { .. }),
                    "{name} frame {frame}: address without a table: {m:?}"
                );
                assert!(!Fields::of(m).is_empty());
            }
            assert_eq!(
                &d.encode()[..],
                &data[..],
                "{name} frame {frame} re-encodes identically"
            );
            assert!(!Fields::of(&d).to_string().is_empty());
            frames += 1;
            messages += d.messages.len();
        }
        assert_eq!(
            (frames, messages),
            (expect_frames, expect_messages),
            "{name}"
        );
    }
}

#[test]
fn address_and_command_sequences_match_tshark() {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let mut fields = vec!["frame.number", "unistim.num", "unistim.type", "unistim.add"];
    let prefixed: Vec<String> = COMMAND_FIELDS
        .iter()
        .map(|f| format!("unistim.{f}"))
        .collect();
    fields.extend(prefixed.iter().map(String::as_str));
    for name in [STARTUP, CALL] {
        let rows = captures::peer::tshark_fields(
            &capture_path(name),
            &["-d", "udp.port==5000,unistim"],
            "udp.port==5000",
            &fields,
        )
        .unwrap_or_else(|e| panic!("tshark on {name}: {e}"));
        let ours = datagrams(name);
        assert_eq!(rows.len(), ours.len(), "{name}: frame count");
        for (row, (frame, _, _, data)) in rows.iter().zip(&ours) {
            let d = Datagram::decode(data).unwrap();
            assert_eq!(row[0], frame.to_string());
            let mut want = vec![
                row[0].clone(),
                format!("{:#010x}", d.header.seq()),
                d.header.packet_type().0.to_string(),
                join(d.messages.iter().map(Message::address)),
            ];
            for field in COMMAND_FIELDS {
                want.push(join(
                    d.messages
                        .iter()
                        .filter(|m| command_field(m.address()) == Some(field))
                        .map(Message::command),
                ));
            }
            assert_eq!(
                row,
                &want,
                "{name} frame {frame}: [frame, num, type, add, {}]",
                COMMAND_FIELDS.join(", ")
            );
        }
    }
}

fn join(values: impl Iterator<Item = u8>) -> String {
    values
        .map(|v| format!("{v:#04x}"))
        .collect::<Vec<_>>()
        .join(",")
}
