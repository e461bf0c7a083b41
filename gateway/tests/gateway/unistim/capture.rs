//! The phone side of the public CS2K startup capture replayed into a session, and every datagram the
//! session sends in a full script decoded by tshark.
//!
//! Differences from the CS2K server, by design (unistim.md §4.1):
//! - after the 0x5C query we also ask the audio manager for its vocoders (`16/00 01`), to offer only
//!   codecs the set has;
//! - CS2K then asked the undocumented basic 0x0F/0x10, the server list (`1E/04 08`) and downloaded
//!   ~25 audio parameter banks, icons and special characters before a login screen; Crossbar has no
//!   login: it draws the idle screen as soon as the inventory knows the MAC;
//! - the start-up NAK names 0 by default (chan_unistim) — the replay uses CS2K's 0xE554 so the
//!   phone's recorded sequence numbers are the expected ones.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use captures::Transport;
use captures::write::{PcapWriter, Resolution};
use codecs::unistim::endpoint::Config as RudpConfig;
use codecs::unistim::msg::Message;
use codecs::unistim::{Datagram, PacketType};
use gateway::call::{Codec, Direction, LineId, MediaDescription, UaEvent};
use gateway::session::unistim::{Input, Output, Session, SessionConfig};

use super::harness::{FAR, UnistimHarness, addr, device};

fn shared(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel)
}

const STARTUP: &str = "captures/unistim/wiresharkwiki-via-realjimmy__unistim_phone_startup.pcap";

/// The capture's UDP datagrams: (from the phone?, bytes).
fn datagrams() -> Vec<(bool, Vec<u8>)> {
    let capture = captures::read_file(shared(STARTUP)).expect("capture");
    capture
        .frames
        .iter()
        .filter_map(|f| captures::dissect(f).ok().flatten())
        .filter_map(|p| match p.transport {
            Transport::Udp { payload } if p.src.port() == 5000 && p.dst.port() == 5000 => {
                Some((p.src.ip().to_string() == "10.64.50.149", payload.to_vec()))
            }
            _ => None,
        })
        .collect()
}

fn key(m: &Message) -> (u8, u8) {
    (m.address(), m.command())
}

#[test]
fn startup_capture_replayed_gets_the_nortel_sequence() {
    let all = datagrams();
    assert!(all.len() > 40, "{} datagrams", all.len());
    // What CS2K sent after the phone's hello (its retransmissions to the old session excluded).
    let hello_at = all
        .iter()
        .position(|(phone, d)| *phone && d.get(..4) == Some(&[0xff; 4]))
        .expect("the hello");
    let cs2k: Vec<(u8, u8)> = all[hello_at..]
        .iter()
        .filter(|(phone, _)| !*phone)
        .filter_map(|(_, d)| Datagram::decode(d).ok())
        .filter(|d| d.header.packet_type() == PacketType::PAYLOAD)
        .flat_map(|d| d.messages)
        .map(|m| key(&m))
        .collect();
    let config = SessionConfig {
        rudp: RudpConfig {
            phone_start_seq: 0xe554,
            ..RudpConfig::default()
        },
        ..SessionConfig::default()
    };
    let start = Instant::now();
    let mut session = Session::new(
        config,
        gateway::call::CallRefs::new(),
        0xd3,
        "10.64.50.149:5000".parse().unwrap(),
        start,
        1_178_723_584,
    );
    let mut ours = Vec::new();
    let mut lookups = Vec::new();
    let mut now = start;
    for (_, d) in all[hello_at..].iter().filter(|(phone, _)| *phone) {
        now += Duration::from_millis(20);
        session
            .handle_input(now, Input::Datagram(bytes::Bytes::copy_from_slice(d)))
            .expect("the phone's datagrams decode");
        let mut pending = Vec::new();
        while let Some(o) = session.poll_output() {
            match o {
                Output::Transmit(t) => {
                    let d = Datagram::decode(&t).unwrap();
                    assert!(!d.has_malformed());
                    if d.header.packet_type() == PacketType::PAYLOAD {
                        ours.push(d);
                    }
                }
                Output::Lookup {
                    mac,
                    firmware,
                    model_guess,
                } => {
                    lookups.push((mac, firmware, model_guess));
                    pending.push(Input::Lookup(Some(Box::new(device()))));
                }
                _ => {}
            }
        }
        // The lookup's answer registers the lines; the line agents report them registered (the
        // idle screen waits for that), and what that paints is part of the sequence too.
        while let Some(i) = pending.pop() {
            session.handle_input(now, i).unwrap();
            while let Some(o) = session.poll_output() {
                if let Output::Registered { lines, .. } = &o {
                    pending.extend(
                        lines
                            .iter()
                            .map(|(line, _)| Input::Ua(UaEvent::Registered { line: *line })),
                    );
                }
                if let Output::Transmit(t) = o {
                    let d = Datagram::decode(&t).unwrap();
                    if d.header.packet_type() == PacketType::PAYLOAD {
                        ours.push(d);
                    }
                }
            }
        }
    }
    // Distinct payloads (retransmissions of unacknowledged ones dropped: the phone's recorded ACKs
    // are for CS2K's sequence numbers, not ours).
    let mut seen = std::collections::BTreeSet::new();
    let ours: Vec<(u8, u8)> = ours
        .into_iter()
        .filter(|d| seen.insert(d.header.seq()))
        .flat_map(|d| d.messages)
        .map(|m| key(&m))
        .collect();
    // The CS2K opening: query hardware id, watchdog, assign terminal id, query 0x5C.
    let opening = [(0x1a, 0x01), (0x1e, 0x12), (0x1a, 0x07), (0x1a, 0x01)];
    assert_eq!(&cs2k[..4], &opening, "the capture's server opening");
    assert_eq!(&ours[..4], &opening, "ours: {ours:x?}");
    assert_eq!(ours[4], (0x16, 0x00), "then the audio attributes query");
    assert_eq!(
        lookups,
        vec![(
            [0x00, 0x13, 0x65, 0xff, 0xb0, 0x2a],
            "0625C1B".to_owned(),
            Some("avaya-1140e".to_owned())
        )]
    );
    assert!(session.is_registered());
    // Then a screen CS2K also writes: display writes, time and date.
    for k in [(0x17, 0x19), (0x11, 0x02), (0x17, 0x09)] {
        assert!(cs2k.contains(&k) && ours.contains(&k), "{k:x?}");
    }
}

fn script() -> UnistimHarness {
    let mut h = UnistimHarness::connected();
    let far = |codec: Codec| MediaDescription {
        rtp: addr(FAR),
        codec,
        payload_type: codec.payload_type(),
        ptime_ms: 20,
        telephone_event: Some(101),
        direction: Direction::SendRecv,
    };
    h.off_hook();
    h.dial("2002#");
    let (a, _) = h.last_invite().unwrap();
    h.input(Input::Ua(UaEvent::Progress {
        call: a,
        code: 180,
        media: None,
    }));
    h.input(Input::Ua(UaEvent::Answered {
        call: a,
        media: far(Codec::G729),
    }));
    h.dial("123");
    h.input(Input::RemoteDtmf {
        call: a,
        dtmf: gateway::call::Dtmf {
            digit: '9',
            duration_ms: 100,
        },
    });
    h.softkey(0);
    h.softkey(0);
    let b = h.refs.next();
    h.input(Input::Ua(UaEvent::Incoming {
        call: b,
        line: LineId(2),
        from_name: "Bob Dupont".to_owned(),
        from_number: "2002".to_owned(),
        offer: Some(far(Codec::Pcma)),
        replaces: None,
    }));
    h.on_hook();
    h.softkey(0);
    h.input(Input::Ua(UaEvent::Ended { call: b }));
    h.off_hook();
    h.dial("9999#");
    let (c, _) = h.last_invite().unwrap();
    h.input(Input::Ua(UaEvent::Failed {
        call: c,
        code: 486,
        reason: "Busy Here".to_owned(),
    }));
    h.on_hook();
    h.softkey(1);
    h.dial("3002#");
    h.softkey(2);
    h.advance(Duration::from_secs(40));
    h
}

#[test]
fn tshark_decodes_every_datagram_the_session_sends() {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let h = script();
    let mut unknown = UnistimHarness::new(None);
    unknown.connect();
    let server: SocketAddr = "192.0.2.1:5000".parse().unwrap();
    let phone: SocketAddr = "10.64.50.149:5000".parse().unwrap();
    let mut w = PcapWriter::new(captures::LinkType::ETHERNET, Resolution::Micros);
    let mut count = 0;
    for d in h.sent.iter().chain(&unknown.sent) {
        w.udp(server, phone, d);
        count += 1;
    }
    assert!(count > 40, "{count} datagrams");
    let dir = std::env::temp_dir().join(format!("crossbar-unistim-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("session-sends.pcap");
    w.write_to(&file).unwrap();
    let f = file.to_str().unwrap();
    let malformed = captures::peer::tshark(&[
        "-r",
        f,
        "-d",
        "udp.port==5000,unistim",
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ])
    .unwrap();
    assert!(
        malformed.trim().is_empty(),
        "tshark finds malformed packets:\n{malformed}"
    );
    let rows = captures::peer::tshark(&["-r", f, "-d", "udp.port==5000,unistim", "-Y", "unistim"])
        .unwrap();
    assert_eq!(
        rows.lines().count(),
        count,
        "every datagram is UNIStim to tshark"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
