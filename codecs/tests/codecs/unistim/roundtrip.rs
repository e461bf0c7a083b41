//! Property round trips: anything that decodes re-encodes to the same bytes; typed messages survive
//! encode then decode.

use std::net::Ipv4Addr;

use bytes::Bytes;
use codecs::unistim::msg::audio::{AudioSwitch, Vocoder};
use codecs::unistim::msg::audio_stream::OpenAudioStream;
use codecs::unistim::msg::broadcast::{BroadcastSwitch, TimeAndDate};
use codecs::unistim::msg::display::DisplaySwitch;
use codecs::unistim::msg::display_write::{DisplayWrite, WriteAddress};
use codecs::unistim::msg::key::{
    KeyAction, KeyCode, KeyEvent, KeyPhone, KeySwitch, LedCadence, LedId, LedUpdate,
};
use codecs::unistim::msg::network::{NetworkSwitch, ResetWatchdog};
use codecs::unistim::{Datagram, Message, RudpHeader, Text};
use proptest::prelude::*;

/// Addresses with a table, and a few without.
const ADDRESSES: &[u8] = &[
    0x09, 0x0c, 0x11, 0x16, 0x17, 0x19, 0x1a, 0x1e, 0x89, 0x91, 0x96, 0x97, 0x99, 0x9a, 0x9e, 0x10,
    0x00, 0x55,
];

/// A well-framed message with an arbitrary command and body.
fn framed_message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(ADDRESSES),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(a, c, body)| {
            let mut m = vec![a, (body.len() + 3) as u8, c];
            m.extend(body);
            m
        })
}

fn header() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u32>(),
        prop_oneof![Just(1u8), Just(2u8)],
        any::<u32>(),
    )
        .prop_map(|(seq, pt, tid)| {
            let h = if pt == 1 {
                RudpHeader::server_payload(seq)
            } else {
                RudpHeader::phone_payload(seq, tid)
            };
            Datagram::header_only(h).encode().to_vec()
        })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (0u8..3, 0u8..0x40).prop_map(|(a, k)| KeyPhone::KeyEvent(KeyEvent {
            action: KeyAction(a),
            key: KeyCode(k),
            trailing: Bytes::new()
        })
        .into()),
        (
            0u8..4,
            0u8..8,
            prop::sample::select(vec![0u8, 0x20, 0x40, 0xe0])
        )
            .prop_map(|(l, c, o)| KeySwitch::LedUpdate(LedUpdate {
                led: LedId(l),
                cadence: LedCadence(c),
                other_bits: o,
                trailing: Bytes::new()
            })
            .into()),
        any::<u16>().prop_map(|t| NetworkSwitch::ResetWatchdog(ResetWatchdog::new(t)).into()),
        (any::<u8>(), 1u8..13, 1u8..32, 0u8..24, 0u8..60, 0u8..60).prop_map(
            |(y, mo, d, h, mi, s)| BroadcastSwitch::TimeAndDateDownload(TimeAndDate::new(
                y, mo, d, h, mi, s
            ))
            .into()
        ),
        (
            display_address(),
            prop::option::of(any::<u8>()),
            prop::option::of(any::<u8>()),
            prop::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(address, control, tag, text)| DisplaySwitch::DisplayWrite(
                DisplayWrite {
                    address,
                    control,
                    tag,
                    text: Text(Bytes::from(text))
                }
            )
            .into()),
        (
            any::<[u8; 7]>(),
            any::<[u16; 4]>(),
            prop::option::of(any::<[u8; 4]>())
        )
            .prop_map(|(b, p, ip)| AudioSwitch::OpenAudioStream(OpenAudioStream {
                rx_stream_id: b[0],
                tx_stream_id: b[1],
                rx_vocoder: Vocoder(b[2]),
                tx_vocoder: Vocoder(b[3]),
                frames_per_packet: b[4],
                tos: b[5],
                rtcp_bucket_id: b[6],
                reserved: [0, 0, 0, 2],
                local_rtp_port: p[0],
                local_rtcp_port: p[1],
                far_rtp_port: p[2],
                far_rtcp_port: p[3],
                far_address: ip.map(Ipv4Addr::from),
                trailing: Bytes::new(),
            })
            .into()),
    ]
}

/// A Display Data Write address whose position byte is present exactly when its flags call for one.
fn display_address() -> impl Strategy<Value = Option<WriteAddress>> {
    prop::option::of(
        (any::<u8>(), any::<u8>()).prop_map(|(field, pos)| WriteAddress {
            field,
            position: (field & (WriteAddress::LINE | WriteAddress::SOFT_LABEL) != 0).then_some(pos),
        }),
    )
}

proptest! {
    #[test]
    fn any_bytes_that_decode_reencode_identically(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(d) = Datagram::decode(&bytes) {
            prop_assert_eq!(&d.encode()[..], &bytes[..]);
        }
    }

    #[test]
    fn framed_payloads_split_into_their_messages(h in header(), msgs in prop::collection::vec(framed_message(), 0..12)) {
        let mut bytes = h;
        for m in &msgs {
            bytes.extend_from_slice(m);
        }
        let d = Datagram::decode(&bytes).unwrap();
        prop_assert_eq!(d.messages.len(), msgs.len());
        for (m, raw) in d.messages.iter().zip(&msgs) {
            prop_assert!(!matches!(m, Message::Unframed { .. }), "unframed {:?}", m);
            prop_assert_eq!(m.address(), raw[0]);
            prop_assert_eq!(m.command(), raw[2]);
            prop_assert_eq!(&m.to_bytes()[..], &raw[..]);
        }
        prop_assert_eq!(&d.encode()[..], &bytes[..]);
    }

    #[test]
    fn typed_messages_survive_encode_decode(m in message(), seq in any::<u32>()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(&Message::decode(&bytes).unwrap(), &m);
        let d = Datagram::server_payload(seq, vec![m.clone(), m]);
        prop_assert_eq!(Datagram::decode(&d.encode()).unwrap(), d);
    }
}
