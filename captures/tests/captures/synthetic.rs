//! Captures built with `captures::write`: our reassembly must match what we scripted and, where
//! tshark is installed, what tshark's skinny dissector reports, frame for frame.

use std::net::SocketAddr;
use std::path::PathBuf;

use captures::peer::{require_tool, tshark_fields};
use captures::write::{
    PcapWriter, Resolution, Side, TcpConversation, ipv4_fragments, ipv6_fragments, tcp,
    udp_datagram,
};
use captures::{Format, LinkType, Proto, Reassembler, Timestamp, parse, payloads};

use crate::util::{Message, sccp_messages, tshark_sccp_messages};

const KEEP_ALIVE: u32 = 0x0000;
const ALARM: u32 = 0x0020;
const KEEP_ALIVE_ACK: u32 = 0x0100;

/// An SCCP-framed message; Alarm gets its 92-byte body.
pub(crate) fn msg(id: u32) -> Vec<u8> {
    let body = if id == ALARM { 92 } else { 0 };
    let mut m = (4 + body as u32).to_le_bytes().to_vec();
    m.extend(0u32.to_le_bytes());
    m.extend(id.to_le_bytes());
    m.extend((0..body).map(|i| b'a' + (i % 26) as u8));
    m
}

fn msgs(ids: &[u32]) -> Vec<u8> {
    ids.iter().flat_map(|&id| msg(id)).collect()
}

fn client() -> SocketAddr {
    "10.0.0.2:50000".parse().unwrap()
}

fn server() -> SocketAddr {
    "10.0.0.1:2000".parse().unwrap()
}

fn writer() -> PcapWriter {
    PcapWriter::new(LinkType::ETHERNET, Resolution::Micros)
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("captures-{}-{name}.pcap", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// tshark finds nothing malformed, no bad checksum and no other error in the file, except expert
/// messages containing one of `allowed`.
pub(crate) fn assert_clean_for_tshark(path: &std::path::Path, allowed: &[&str]) {
    let bad = tshark_fields(
        path,
        &[
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ],
        "_ws.malformed || _ws.expert.severity >= error",
        &["frame.number", "_ws.expert.message"],
    )
    .unwrap();
    let bad: Vec<_> = bad
        .into_iter()
        .filter(|row| !allowed.iter().any(|a| row[1].contains(a)))
        .collect();
    assert!(bad.is_empty(), "{}: {bad:?}", path.display());
}

/// Checks our messages against `expected` and, if tshark is there, against tshark (run with
/// out-of-order reassembly on when `ooo`).
fn check(name: &str, w: &PcapWriter, expected: &[Message], ooo: bool) {
    let cap = parse(w.bytes()).unwrap();
    assert_eq!(cap.format, Format::Pcap);
    let ours = sccp_messages(&payloads(&cap), 2000);
    assert_eq!(ours, expected, "{name}: ours");
    if require_tool("tshark").is_none() {
        return;
    }
    let path = temp_file(name, w.bytes());
    let extra: &[&str] = if ooo {
        &["-o", "tcp.reassemble_out_of_order:TRUE"]
    } else {
        &[]
    };
    assert_eq!(tshark_sccp_messages(&path, extra), ours, "{name}: tshark");
    // tshark's reassembly calls a retransmission that overlaps old data and adds new an error;
    // the packets themselves are sound.
    assert_clean_for_tshark(&path, &["New fragment overlaps old data"]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn syn_then_several_messages_in_one_segment() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let f = t.send(
        &mut w,
        Side::Client,
        &msgs(&[KEEP_ALIVE, ALARM, KEEP_ALIVE]),
    );
    let g = t.send(&mut w, Side::Server, &msg(KEEP_ALIVE_ACK));
    let expected = [
        (f, KEEP_ALIVE),
        (f, ALARM),
        (f, KEEP_ALIVE),
        (g, KEEP_ALIVE_ACK),
    ];
    check("several", &w, &expected, false);
}

#[test]
fn one_message_split_across_three_segments() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    // tshark's skinny dissector only claims a stream whose first segment holds a whole header.
    let frames = t.send_split(&mut w, Side::Client, &msg(ALARM), &[20, 50]);
    assert_eq!(frames.len(), 3);
    check("split3", &w, &[(frames[2], ALARM)], false);
}

#[test]
fn message_tail_and_next_message_in_one_segment() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let data = msgs(&[ALARM, KEEP_ALIVE, ALARM]);
    let frames = t.send_split(&mut w, Side::Client, &data, &[30, 90]);
    // Bytes 30..120 complete the first Alarm (at 104) and the KeepAlive (at 116).
    let expected = [
        (frames[1], ALARM),
        (frames[1], KEEP_ALIVE),
        (frames[2], ALARM),
    ];
    check("tail", &w, &expected, false);
}

#[test]
fn out_of_order_segments_wait_for_the_hole() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    t.send(&mut w, Side::Client, &msg(KEEP_ALIVE));
    let a = t.plan(Side::Server, &msg(KEEP_ALIVE_ACK));
    let b = t.plan(Side::Server, &msg(ALARM));
    let c = t.plan(Side::Server, &msg(KEEP_ALIVE_ACK));
    t.emit(&mut w, &c);
    t.emit(&mut w, &b);
    let fa = t.emit(&mut w, &a);
    let expected = [
        (4, KEEP_ALIVE),
        (fa, KEEP_ALIVE_ACK),
        (fa, ALARM),
        (fa, KEEP_ALIVE_ACK),
    ];
    check("ooo", &w, &expected, true);
    let p: Vec<_> = payloads(&parse(w.bytes()).unwrap())
        .into_iter()
        .filter(|p| p.src == server())
        .collect();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].data, msgs(&[KEEP_ALIVE_ACK, ALARM, KEEP_ALIVE_ACK]));
}

#[test]
fn exact_retransmission_delivers_nothing() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let s = t.plan(Side::Client, &msgs(&[KEEP_ALIVE, ALARM]));
    let f = t.emit(&mut w, &s);
    t.emit(&mut w, &s);
    let g = t.send(&mut w, Side::Client, &msg(KEEP_ALIVE));
    check(
        "retx",
        &w,
        &[(f, KEEP_ALIVE), (f, ALARM), (g, KEEP_ALIVE)],
        false,
    );
    let frames: Vec<u64> = payloads(&parse(w.bytes()).unwrap())
        .iter()
        .map(|p| p.frame)
        .collect();
    assert_eq!(frames, [f, g]);
}

#[test]
fn overlapping_retransmission_delivers_only_new_bytes() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let s = t.plan(Side::Client, &msgs(&[KEEP_ALIVE, ALARM, KEEP_ALIVE]));
    let f1 = t.emit(&mut w, &s.slice(0..40));
    let f2 = t.emit(&mut w, &s.slice(30..116));
    let f3 = t.emit(&mut w, &s.slice(12..128));
    let expected = [(f1, KEEP_ALIVE), (f2, ALARM), (f3, KEEP_ALIVE)];
    // tshark 4.0 agrees only with out-of-order reassembly on; with its default it calls the
    // overlapping segments out-of-order and reports a reassembly error.
    check("overlap", &w, &expected, true);
    let p = payloads(&parse(w.bytes()).unwrap());
    let lens: Vec<usize> = p.iter().map(|p| p.data.len()).collect();
    assert_eq!(lens, [40, 76, 12]);
}

#[test]
fn sequence_numbers_wrap() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), u32::MAX - 20, u32::MAX);
    t.handshake(&mut w);
    let f = t.send_split(&mut w, Side::Client, &msgs(&[KEEP_ALIVE, ALARM]), &[12, 8]);
    assert!(t.next_seq(Side::Client) < 1000, "the test must cross 2^32");
    let g = t.send(&mut w, Side::Server, &msg(KEEP_ALIVE_ACK));
    check(
        "wrap",
        &w,
        &[(f[0], KEEP_ALIVE), (f[2], ALARM), (g, KEEP_ALIVE_ACK)],
        false,
    );
}

#[test]
fn missing_segment_is_reported_as_a_gap() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let f = t.send(&mut w, Side::Client, &msg(KEEP_ALIVE));
    let lost = t.plan(Side::Client, &msg(ALARM));
    let g = t.send(&mut w, Side::Client, &msg(KEEP_ALIVE));
    // tshark without out-of-order reassembly starts afresh after the hole, as our consumer does.
    check("gap", &w, &[(f, KEEP_ALIVE), (g, KEEP_ALIVE)], false);
    let p = payloads(&parse(w.bytes()).unwrap());
    assert_eq!(p.len(), 2);
    assert_eq!((p[1].frame, p[1].gap), (g, lost.data.len() as u64));
}

#[test]
fn buffer_limit_skips_a_hole_before_the_end() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let _lost = t.plan(Side::Client, &msg(KEEP_ALIVE));
    let frames: Vec<u64> = (0..3)
        .map(|_| t.send(&mut w, Side::Client, &msg(ALARM)))
        .collect();
    let cap = parse(w.bytes()).unwrap();
    let mut r = Reassembler::with_buffer_limit(150);
    let mut early = Vec::new();
    for f in &cap.frames {
        r.handle_frame(f).unwrap();
        early.extend(std::iter::from_fn(|| r.poll_payload()));
    }
    // The second Alarm pushed the held bytes past 150: the hole is skipped without waiting for the
    // end, each held segment keeping its own frame, and the third Alarm is in order again.
    let got: Vec<_> = early
        .iter()
        .map(|p| (p.frame, p.gap, p.data.len()))
        .collect();
    assert_eq!(
        got,
        [
            (frames[0], 12, 104),
            (frames[1], 0, 104),
            (frames[2], 0, 104)
        ]
    );
    r.finish();
    assert_eq!(r.poll_payload(), None);
}

#[test]
fn fin_then_new_syn_on_the_same_ports_is_a_new_stream() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let f = t.send(&mut w, Side::Client, &msg(KEEP_ALIVE));
    t.fin(&mut w, Side::Client);
    t.fin(&mut w, Side::Server);
    t.ack(&mut w, Side::Client);
    let mut t2 = TcpConversation::new(client(), server(), 777_777, 888_888);
    t2.handshake(&mut w);
    let g = t2.send(&mut w, Side::Client, &msg(ALARM));
    let h = t2.send(&mut w, Side::Server, &msg(KEEP_ALIVE_ACK));
    t2.rst(&mut w, Side::Server);
    check(
        "reuse",
        &w,
        &[(f, KEEP_ALIVE), (g, ALARM), (h, KEEP_ALIVE_ACK)],
        false,
    );
}

#[test]
fn stream_starting_mid_capture() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 123_456, 5000);
    // No handshake: the first segment seen starts the stream.
    let f = t.send(&mut w, Side::Client, &msgs(&[KEEP_ALIVE, ALARM]));
    let g = t.send(&mut w, Side::Server, &msg(KEEP_ALIVE_ACK));
    check(
        "midstream",
        &w,
        &[(f, KEEP_ALIVE), (f, ALARM), (g, KEEP_ALIVE_ACK)],
        false,
    );
}

fn conversation_on(mut w: PcapWriter, c: SocketAddr, s: SocketAddr, name: &str) {
    let mut t = TcpConversation::new(c, s, 1000, 5000);
    t.handshake(&mut w);
    let frames = t.send_split(&mut w, Side::Client, &msgs(&[KEEP_ALIVE, ALARM]), &[12, 40]);
    let g = t.send(&mut w, Side::Server, &msg(KEEP_ALIVE_ACK));
    let cap = parse(w.bytes()).unwrap();
    for f in &cap.frames {
        let p = captures::dissect(f).unwrap().unwrap();
        assert!((p.src, p.dst) == (c, s) || (p.src, p.dst) == (s, c));
    }
    let expected = [
        (frames[0], KEEP_ALIVE),
        (frames[2], ALARM),
        (g, KEEP_ALIVE_ACK),
    ];
    check(name, &w, &expected, false);
}

#[test]
fn ipv6_conversation() {
    let c = "[2001:db8::2]:50000".parse().unwrap();
    let s = "[2001:db8::1]:2000".parse().unwrap();
    conversation_on(writer(), c, s, "ipv6");
}

#[test]
fn vlan_and_qinq_tagged_frames() {
    conversation_on(writer().with_vlan(100), client(), server(), "vlan");
    conversation_on(
        writer().with_vlan(10).with_vlan(20),
        client(),
        server(),
        "qinq",
    );
}

#[test]
fn linux_cooked_v2() {
    let w = PcapWriter::new(LinkType::LINUX_SLL2, Resolution::Micros);
    conversation_on(w, client(), server(), "sll2");
}

#[test]
fn raw_ip_link_type() {
    let w = PcapWriter::new(LinkType::RAW, Resolution::Micros);
    conversation_on(w, client(), server(), "raw");
}

#[test]
fn nanosecond_pcap_timestamps() {
    let mut w = PcapWriter::new(LinkType::ETHERNET, Resolution::Nanos);
    w.set_time(Timestamp {
        secs: 1_318_083_853,
        nanos: 123_456_789,
    });
    w.udp(client(), server(), b"one");
    w.udp(client(), server(), b"two");
    let cap = parse(w.bytes()).unwrap();
    let stamps: Vec<String> = cap.frames.iter().map(|f| f.ts.to_string()).collect();
    assert_eq!(stamps, ["1318083853.123456789", "1318083853.124456789"]);
    if require_tool("tshark").is_none() {
        return;
    }
    let path = temp_file("ns", w.bytes());
    let rows = tshark_fields(&path, &[], "frame", &["frame.time_epoch"]).unwrap();
    assert_eq!(
        rows,
        stamps.iter().map(|s| vec![s.clone()]).collect::<Vec<_>>()
    );
    assert_clean_for_tshark(&path, &[]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn fragmented_udp_is_reassembled() {
    let body: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let mut w = writer();
    let (c4, s4): (SocketAddr, SocketAddr) = (
        "10.0.0.2:5000".parse().unwrap(),
        "10.0.0.1:5000".parse().unwrap(),
    );
    let (std::net::IpAddr::V4(ca), std::net::IpAddr::V4(sa)) = (c4.ip(), s4.ip()) else {
        unreachable!()
    };
    let dgram = udp_datagram(c4, s4, &body);
    let mut frags = ipv4_fragments(ca, sa, 17, 42, &dgram, 1480);
    frags.swap(0, 1); // fragments may arrive in any order
    for f in &frags {
        w.ip(f);
    }
    let last4 = w.frames();
    let (c6, s6): (SocketAddr, SocketAddr) = (
        "[2001:db8::2]:5000".parse().unwrap(),
        "[2001:db8::1]:5000".parse().unwrap(),
    );
    let (std::net::IpAddr::V6(ca), std::net::IpAddr::V6(sa)) = (c6.ip(), s6.ip()) else {
        unreachable!()
    };
    for f in ipv6_fragments(ca, sa, 17, 7, &udp_datagram(c6, s6, &body), 1232) {
        w.ip(&f);
    }
    let last6 = w.frames();
    // An unfragmented datagram and a TCP segment for good measure.
    w.udp(c4, s4, b"small");
    w.ip(&tcp(c4, s4, 1, 0, captures::TcpFlags::SYN, b""));
    let cap = parse(w.bytes()).unwrap();
    let p = payloads(&cap);
    let udp: Vec<_> = p.iter().filter(|p| p.proto == Proto::Udp).collect();
    assert_eq!(udp.len(), 3);
    assert_eq!((udp[0].frame, udp[0].src, &udp[0].data), (last4, c4, &body));
    assert_eq!((udp[1].frame, udp[1].src, &udp[1].data), (last6, c6, &body));
    assert_eq!(udp[2].data, b"small");
    if require_tool("tshark").is_none() {
        return;
    }
    let path = temp_file("frag", w.bytes());
    let rows = tshark_fields(&path, &[], "udp", &["frame.number", "udp.length"]).unwrap();
    let ours: Vec<Vec<String>> = udp
        .iter()
        .map(|p| vec![p.frame.to_string(), (p.data.len() + 8).to_string()])
        .collect();
    assert_eq!(rows, ours);
    assert_clean_for_tshark(&path, &[]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn snaplen_truncated_segment_is_a_gap() {
    let mut w = writer();
    let mut t = TcpConversation::new(client(), server(), 1000, 5000);
    t.handshake(&mut w);
    let s = t.plan(Side::Client, &msgs(&[ALARM, KEEP_ALIVE]));
    let packet = tcp(client(), server(), s.seq, 5001, s.flags, &s.data);
    // Ethernet 14 + IP 20 + TCP 20 + 30 payload bytes kept.
    let f = w.ip_truncated(&packet, 84);
    let g = t.send(&mut w, Side::Client, &msg(KEEP_ALIVE));
    let p = payloads(&parse(w.bytes()).unwrap());
    assert_eq!(p.len(), 2);
    assert_eq!((p[0].frame, p[0].data.len(), p[0].gap), (f, 30, 0));
    assert_eq!((p[1].frame, p[1].gap), (g, (s.data.len() - 30) as u64));
}
