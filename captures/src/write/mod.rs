//! A small classic-pcap writer for tests: Ethernet (optionally VLAN-tagged), Linux cooked v2 or raw
//! IP frames carrying IPv4/IPv6 and TCP/UDP with correct checksums, so tshark reads them without
//! complaint, plus [`TcpConversation`], which tracks both sides' sequence numbers so a test can
//! script handshakes, split data, retransmissions, out-of-order segments and losses.
//!
//! Files follow tcpdump's `pcap-savefile(5)` (version 2.4, little-endian, magic `a1b2c3d4` for
//! microseconds or `a1b23c4d` for nanoseconds).
//!
//! ```
//! use captures::write::{PcapWriter, Resolution, Side, TcpConversation};
//! use captures::LinkType;
//!
//! let mut w = PcapWriter::new(LinkType::ETHERNET, Resolution::Micros);
//! let mut tcp = TcpConversation::new("10.0.0.2:50000".parse().unwrap(), "10.0.0.1:2000".parse().unwrap(), 1000, 5000);
//! tcp.handshake(&mut w);
//! tcp.send(&mut w, Side::Client, b"hello");
//! let capture = captures::parse(w.bytes()).unwrap();
//! assert_eq!(capture.frames.len(), 4);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use crate::{LinkType, TcpFlags, Timestamp};

mod conversation;

pub use conversation::{Segment, Side, TcpConversation};

/// Timestamp unit of a written pcap file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Microseconds (magic `a1b2c3d4`).
    Micros,
    /// Nanoseconds (magic `a1b23c4d`).
    Nanos,
}

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const IPV6_FRAGMENT: u8 = 44;

/// Builds a classic pcap file in memory.
#[derive(Clone, Debug)]
pub struct PcapWriter {
    link: LinkType,
    resolution: Resolution,
    vlans: Vec<u16>,
    buf: Vec<u8>,
    frames: u64,
    clock: Timestamp,
}

impl PcapWriter {
    /// A writer for `link`, which must be [`LinkType::ETHERNET`], [`LinkType::LINUX_SLL2`] or
    /// [`LinkType::RAW`]. Frames are stamped from 2024-01-01T00:00:00Z, one millisecond apart,
    /// unless [`PcapWriter::set_time`] says otherwise.
    ///
    /// # Panics
    /// If `link` is not one of the three supported types.
    pub fn new(link: LinkType, resolution: Resolution) -> Self {
        assert!(
            [LinkType::ETHERNET, LinkType::LINUX_SLL2, LinkType::RAW].contains(&link),
            "PcapWriter supports ETHERNET, LINUX_SLL2 and RAW, not {link:?}"
        );
        let magic: u32 = match resolution {
            Resolution::Micros => 0xa1b2_c3d4,
            Resolution::Nanos => 0xa1b2_3c4d,
        };
        let mut buf = Vec::new();
        buf.extend(magic.to_le_bytes());
        buf.extend(2u16.to_le_bytes());
        buf.extend(4u16.to_le_bytes());
        buf.extend(0i32.to_le_bytes());
        buf.extend(0u32.to_le_bytes());
        buf.extend(262_144u32.to_le_bytes());
        buf.extend(link.0.to_le_bytes());
        Self {
            link,
            resolution,
            vlans: Vec::new(),
            buf,
            frames: 0,
            clock: Timestamp {
                secs: 1_704_067_200,
                nanos: 0,
            },
        }
    }

    /// Adds an 802.1Q tag with VLAN id `vid` to every Ethernet frame written after this (call twice
    /// for QinQ; the first call gives the outer tag, written as 802.1ad).
    pub fn with_vlan(mut self, vid: u16) -> Self {
        self.vlans.push(vid & 0x0fff);
        self
    }

    /// Sets the timestamp of the next frame; later frames follow one millisecond apart.
    pub fn set_time(&mut self, ts: Timestamp) {
        self.clock = ts;
    }

    /// Number of frames written so far (the number of the last one).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The file so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes the file to `path`.
    ///
    /// # Errors
    /// Any I/O error from writing.
    pub fn write_to(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, &self.buf)
    }

    /// Appends a record holding `data` verbatim (already link-framed), with original length
    /// `orig_len` (pass `data.len()` unless simulating a snapshot length). Returns its frame number.
    pub fn record(&mut self, data: &[u8], orig_len: u32) -> u64 {
        let ts = self.clock;
        let frac = match self.resolution {
            Resolution::Micros => ts.nanos / 1000,
            Resolution::Nanos => ts.nanos,
        };
        let secs = u32::try_from(ts.secs).unwrap_or(0);
        self.buf.extend(secs.to_le_bytes());
        self.buf.extend(frac.to_le_bytes());
        self.buf.extend(len32(data.len()).to_le_bytes());
        self.buf.extend(orig_len.to_le_bytes());
        self.buf.extend_from_slice(data);
        let nanos = ts.nanos.saturating_add(1_000_000);
        self.clock = if nanos >= 1_000_000_000 {
            Timestamp {
                secs: ts.secs.saturating_add(1),
                nanos: nanos.saturating_sub(1_000_000_000),
            }
        } else {
            Timestamp {
                secs: ts.secs,
                nanos,
            }
        };
        self.frames = self.frames.saturating_add(1);
        self.frames
    }

    /// Wraps an IP packet in this writer's link layer and appends it. Returns its frame number.
    pub fn ip(&mut self, packet: &[u8]) -> u64 {
        let frame = self.link_frame(packet);
        self.record(&frame, len32(frame.len()))
    }

    /// Like [`PcapWriter::ip`], but keeps only the first `snaplen` bytes of the frame, as a capture
    /// with a snapshot length would.
    pub fn ip_truncated(&mut self, packet: &[u8], snaplen: usize) -> u64 {
        let frame = self.link_frame(packet);
        let kept = frame.get(..snaplen.min(frame.len())).unwrap_or_default();
        self.record(kept, len32(frame.len()))
    }

    /// Appends a TCP segment. Returns its frame number.
    pub fn tcp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> u64 {
        self.ip(&tcp(src, dst, seq, ack, flags, payload))
    }

    /// Appends a UDP datagram. Returns its frame number.
    pub fn udp(&mut self, src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> u64 {
        self.ip(&udp(src, dst, payload))
    }

    fn link_frame(&self, packet: &[u8]) -> Vec<u8> {
        let ethertype: u16 = match packet.first().map(|b| b >> 4) {
            Some(6) => 0x86dd,
            _ => 0x0800,
        };
        let mut out = Vec::with_capacity(packet.len().saturating_add(24));
        match self.link {
            LinkType::LINUX_SLL2 => {
                out.extend(ethertype.to_be_bytes());
                out.extend([0, 0]); // reserved
                out.extend(1u32.to_be_bytes()); // interface index
                out.extend(1u16.to_be_bytes()); // ARPHRD_ETHER
                out.push(4); // PACKET_OUTGOING
                out.push(6);
                out.extend([0x02, 0, 0, 0, 0, 0x01, 0, 0]);
            }
            LinkType::ETHERNET => {
                out.extend([0x02, 0, 0, 0, 0, 0x02]); // destination
                out.extend([0x02, 0, 0, 0, 0, 0x01]); // source
                let outer = self.vlans.len() > 1;
                for (i, vid) in self.vlans.iter().enumerate() {
                    let tpid: u16 = if outer && i == 0 { 0x88a8 } else { 0x8100 };
                    out.extend(tpid.to_be_bytes());
                    out.extend(vid.to_be_bytes());
                }
                out.extend(ethertype.to_be_bytes());
            }
            _ => {}
        }
        out.extend_from_slice(packet);
        out
    }
}

pub(crate) fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn len16(n: usize) -> u16 {
    assert!(n <= 65_535, "packet of {n} bytes does not fit IP");
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// The Internet checksum (RFC 1071) of `parts` laid end to end (each part must have even length
/// except the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            let hi = pair.first().copied().unwrap_or(0);
            let lo = pair.get(1).copied().unwrap_or(0);
            sum = sum.wrapping_add(u32::from(u16::from_be_bytes([hi, lo])));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff).wrapping_add(sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0)
}

/// An IPv4 packet (no options, TTL 64, DF clear) carrying `payload` as protocol `proto`.
///
/// # Panics
/// If the packet would exceed 65 535 bytes.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_piece(src, dst, proto, 1, 0, false, payload)
}

fn ipv4_piece(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    id: u16,
    offset: usize,
    more: bool,
    payload: &[u8],
) -> Vec<u8> {
    let total = len16(payload.len().saturating_add(20));
    let frag = u16::try_from(offset / 8).unwrap_or(0) | if more { 0x2000 } else { 0 };
    let mut h = vec![0x45, 0];
    h.extend(total.to_be_bytes());
    h.extend(id.to_be_bytes());
    h.extend(frag.to_be_bytes());
    h.extend([64, proto, 0, 0]);
    h.extend(src.octets());
    h.extend(dst.octets());
    let sum = checksum(&[&h]);
    if let Some(c) = h.get_mut(10..12) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    h.extend_from_slice(payload);
    h
}

/// IPv4 fragments of one datagram carrying `payload` (the whole transport segment) as `proto`,
/// each holding at most `max_data` payload bytes (rounded down to a multiple of 8, minimum 8).
pub fn ipv4_fragments(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    id: u16,
    payload: &[u8],
    max_data: usize,
) -> Vec<Vec<u8>> {
    let step = (max_data & !7).max(8);
    let n = payload.len().div_ceil(step).max(1);
    (0..n)
        .map(|i| {
            let start = i.saturating_mul(step);
            let end = start.saturating_add(step).min(payload.len());
            let piece = payload.get(start..end).unwrap_or_default();
            ipv4_piece(src, dst, proto, id, start, end < payload.len(), piece)
        })
        .collect()
}

/// An IPv6 packet (hop limit 64) whose first header after the fixed one is `next`, carrying
/// `payload` (which holds that header onwards).
///
/// # Panics
/// If the payload exceeds 65 535 bytes.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend(len16(payload.len()).to_be_bytes());
    h.extend([next, 64]);
    h.extend(src.octets());
    h.extend(dst.octets());
    h.extend_from_slice(payload);
    h
}

/// IPv6 fragments (RFC 8200 §4.5) of a packet carrying `payload` (the whole transport segment) as
/// `next`, each holding at most `max_data` payload bytes (rounded down to a multiple of 8).
pub fn ipv6_fragments(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: u8,
    id: u32,
    payload: &[u8],
    max_data: usize,
) -> Vec<Vec<u8>> {
    let step = (max_data & !7).max(8);
    let n = payload.len().div_ceil(step).max(1);
    (0..n)
        .map(|i| {
            let start = i.saturating_mul(step);
            let end = start.saturating_add(step).min(payload.len());
            let more = u16::from(end < payload.len());
            let off = u16::try_from(start).unwrap_or(0) & 0xfff8;
            let mut body = vec![next, 0];
            body.extend((off | more).to_be_bytes());
            body.extend(id.to_be_bytes());
            body.extend_from_slice(payload.get(start..end).unwrap_or_default());
            ipv6(src, dst, IPV6_FRAGMENT, &body)
        })
        .collect()
}

/// The pseudo-header sum input for a transport checksum.
fn pseudo(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend(s.octets());
            p.extend(d.octets());
            p.extend([0, proto]);
            p.extend(len16(len).to_be_bytes());
        }
        _ => {
            p.extend(v6(src).octets());
            p.extend(v6(dst).octets());
            p.extend(len32(len).to_be_bytes());
            p.extend([0, 0, 0, proto]);
        }
    }
    p
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// A TCP segment (20-byte header, window 65535) with its checksum, not yet in an IP packet.
pub fn tcp_segment(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    let mut s = Vec::with_capacity(payload.len().saturating_add(20));
    s.extend(src.port().to_be_bytes());
    s.extend(dst.port().to_be_bytes());
    s.extend(seq.to_be_bytes());
    s.extend(ack.to_be_bytes());
    let off_flags = 0x5000u16 | (flags.0 & 0x01ff);
    s.extend(off_flags.to_be_bytes());
    s.extend([0xff, 0xff, 0, 0, 0, 0]);
    s.extend_from_slice(payload);
    let sum = checksum(&[&pseudo(src.ip(), dst.ip(), PROTO_TCP, s.len()), &s]);
    if let Some(c) = s.get_mut(16..18) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    s
}

/// A UDP datagram with its checksum, not yet in an IP packet.
pub fn udp_datagram(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let len = len16(payload.len().saturating_add(8));
    let mut d = Vec::with_capacity(usize::from(len));
    d.extend(src.port().to_be_bytes());
    d.extend(dst.port().to_be_bytes());
    d.extend(len.to_be_bytes());
    d.extend([0, 0]);
    d.extend_from_slice(payload);
    let sum = match checksum(&[&pseudo(src.ip(), dst.ip(), PROTO_UDP, d.len()), &d]) {
        0 => 0xffff,
        s => s,
    };
    if let Some(c) = d.get_mut(6..8) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    d
}

/// Wraps a transport segment in IPv4 or IPv6 according to the addresses.
///
/// # Panics
/// If `src` and `dst` are of different families, or the packet exceeds 65 535 bytes.
pub fn ip_packet(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> Vec<u8> {
    assert_eq!(
        src.is_ipv4(),
        dst.is_ipv4(),
        "mixed address families {src} -> {dst}"
    );
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, proto, segment),
        _ => ipv6(v6(src), v6(dst), proto, segment),
    }
}

/// An IP packet holding a TCP segment.
pub fn tcp(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: &[u8],
) -> Vec<u8> {
    let seg = tcp_segment(src, dst, seq, ack, flags, payload);
    ip_packet(src.ip(), dst.ip(), PROTO_TCP, &seg)
}

/// An IP packet holding a UDP datagram.
pub fn udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    ip_packet(
        src.ip(),
        dst.ip(),
        PROTO_UDP,
        &udp_datagram(src, dst, payload),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is 220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }

    #[test]
    fn ipv4_header_checksum_verifies() {
        let p = ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            17,
            b"x",
        );
        assert_eq!(checksum(&[&p[..20]]), 0);
    }
}
