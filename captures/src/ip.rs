//! IPv4 (RFC 791), IPv6 (RFC 8200) with its extension headers, and the TCP (RFC 9293) and UDP
//! (RFC 768) headers above them. Checksums are not verified: captures taken on the sending host
//! routinely carry offloaded, not-yet-computed checksums.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::bytes::{array, be16, be32, u8_at};
use crate::link::{Network, network};
use crate::{DissectError, Frame, Layer};

pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;

/// A frame's TCP or UDP packet, seen through its link and IP headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The transport header and payload.
    pub transport: Transport<'a>,
}

/// The transport layer of a [`Packet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp {
        /// The datagram's payload (as captured: short if the capture cut the packet off).
        payload: &'a [u8],
    },
}

/// The fields of a TCP segment the reassembler needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sequence number of the first payload byte (of the SYN, if `flags` has SYN).
    pub seq: u32,
    /// Acknowledgment number (meaningful if `flags` has ACK).
    pub ack: u32,
    /// The control bits.
    pub flags: TcpFlags,
    /// The payload after the header and its options (as captured: short if the capture cut the
    /// packet off).
    pub payload: &'a [u8],
}

/// TCP control bits (RFC 9293 §3.1; NS from RFC 3540 in bit 8).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: Self = Self(0x01);
    /// Synchronise sequence numbers.
    pub const SYN: Self = Self(0x02);
    /// Reset the connection.
    pub const RST: Self = Self(0x04);
    /// Push function.
    pub const PSH: Self = Self(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: Self = Self(0x10);
    /// The urgent pointer is significant.
    pub const URG: Self = Self(0x20);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Where a fragment sits in its original datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fragment {
    pub(crate) id: u32,
    /// Byte offset of this fragment's data.
    pub(crate) offset: usize,
    pub(crate) more: bool,
}

/// An IP packet with its header parsed.
#[derive(Clone, Debug)]
pub(crate) struct Datagram<'a> {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    /// The upper-layer protocol (for an IPv6 fragment, the header that follows the fragment header).
    pub(crate) proto: u8,
    pub(crate) payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture does not hold.
    pub(crate) missing: usize,
    pub(crate) fragment: Option<Fragment>,
}

fn short(layer: Layer, needed: usize, available: usize) -> DissectError {
    DissectError::Truncated {
        layer,
        needed,
        available,
    }
}

/// The IP packet of a frame, or `None` if the frame is not IP.
pub(crate) fn datagram(frame: &Frame) -> Result<Option<Datagram<'_>>, DissectError> {
    match network(frame.link, &frame.data)? {
        Network::Ipv4(b) => ipv4(b).map(Some),
        Network::Ipv6(b) => ipv6(b).map(Some),
        Network::Other => Ok(None),
    }
}

fn ipv4(b: &[u8]) -> Result<Datagram<'_>, DissectError> {
    let first = u8_at(b, 0).ok_or_else(|| short(Layer::Ipv4, 20, b.len()))?;
    if first >> 4 != 4 {
        return Err(DissectError::BadIpVersion {
            layer: Layer::Ipv4,
            version: first >> 4,
        });
    }
    let ihl = usize::from(first & 0x0f).saturating_mul(4);
    if ihl < 20 {
        return Err(DissectError::BadHeaderLength {
            layer: Layer::Ipv4,
            length: ihl,
        });
    }
    let header = b
        .get(..ihl)
        .ok_or_else(|| short(Layer::Ipv4, ihl, b.len()))?;
    let field = |at| be16(header, at).unwrap_or_default();
    // A zero total length is what segmentation offload leaves behind; take what was captured.
    let total = match usize::from(field(2)) {
        0 => b.len(),
        t if t < ihl => {
            return Err(DissectError::BadHeaderLength {
                layer: Layer::Ipv4,
                length: t,
            });
        }
        t => t,
    };
    let end = total.min(b.len());
    let frag = field(6);
    let offset = usize::from(frag & 0x1fff).saturating_mul(8);
    let more = frag & 0x2000 != 0;
    Ok(Datagram {
        src: IpAddr::V4(Ipv4Addr::from(array::<4>(header, 12).unwrap_or_default())),
        dst: IpAddr::V4(Ipv4Addr::from(array::<4>(header, 16).unwrap_or_default())),
        proto: u8_at(header, 9).unwrap_or_default(),
        payload: b.get(ihl..end).unwrap_or_default(),
        missing: total.saturating_sub(end),
        fragment: (more || offset != 0).then_some(Fragment {
            id: u32::from(field(4)),
            offset,
            more,
        }),
    })
}

fn ipv6(b: &[u8]) -> Result<Datagram<'_>, DissectError> {
    let header = b.get(..40).ok_or_else(|| short(Layer::Ipv6, 40, b.len()))?;
    let version = u8_at(header, 0).unwrap_or_default() >> 4;
    if version != 6 {
        return Err(DissectError::BadIpVersion {
            layer: Layer::Ipv6,
            version,
        });
    }
    let rest = b.get(40..).unwrap_or_default();
    let len = match usize::from(be16(header, 4).unwrap_or_default()) {
        0 => rest.len(), // jumbogram or offload: take what was captured
        n => n,
    };
    let end = len.min(rest.len());
    let (proto, payload, fragment) = walk_extensions(
        u8_at(header, 6).unwrap_or_default(),
        rest.get(..end).unwrap_or_default(),
    )?;
    Ok(Datagram {
        src: IpAddr::V6(Ipv6Addr::from(array::<16>(header, 8).unwrap_or_default())),
        dst: IpAddr::V6(Ipv6Addr::from(array::<16>(header, 24).unwrap_or_default())),
        proto,
        payload,
        missing: len.saturating_sub(end),
        fragment,
    })
}

/// Skips IPv6 extension headers (hop-by-hop, routing, destination options, AH) up to the upper
/// layer, stopping after a fragment header: what follows it is the fragment's data.
pub(crate) fn walk_extensions(
    mut next: u8,
    mut buf: &[u8],
) -> Result<(u8, &[u8], Option<Fragment>), DissectError> {
    loop {
        let ext = |n: usize| {
            buf.get(n..)
                .ok_or_else(|| short(Layer::Ipv6Extension, n, buf.len()))
        };
        let hdr_next = u8_at(buf, 0);
        let len_byte = usize::from(u8_at(buf, 1).unwrap_or_default());
        match next {
            0 | 43 | 60 => {
                let len = len_byte.saturating_add(1).saturating_mul(8);
                let rest = ext(len)?;
                next = hdr_next.unwrap_or_default();
                buf = rest;
            }
            51 => {
                let len = len_byte.saturating_add(2).saturating_mul(4);
                let rest = ext(len)?;
                next = hdr_next.unwrap_or_default();
                buf = rest;
            }
            44 => {
                let rest = ext(8)?;
                let off = be16(buf, 2).unwrap_or_default();
                let fragment = Fragment {
                    id: be32(buf, 4).unwrap_or_default(),
                    offset: usize::from(off & 0xfff8),
                    more: off & 1 != 0,
                };
                let next = hdr_next.unwrap_or_default();
                // A lone fragment header (offset 0, no more) is an atomic fragment: no reassembly.
                let fragment = (fragment.more || fragment.offset != 0).then_some(fragment);
                return Ok((next, rest, fragment));
            }
            _ => return Ok((next, buf, None)),
        }
    }
}

/// Parses the TCP or UDP header of an unfragmented (or reassembled) IP payload. Returns the packet
/// and how many payload bytes the headers announce that the capture does not hold.
pub(crate) fn transport<'a>(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    seg: &'a [u8],
    missing: usize,
) -> Result<Option<(Packet<'a>, usize)>, DissectError> {
    let ports = |layer, need| {
        let s = be16(seg, 0).ok_or_else(|| short(layer, need, seg.len()))?;
        let d = be16(seg, 2).ok_or_else(|| short(layer, need, seg.len()))?;
        Ok::<_, DissectError>((SocketAddr::new(src, s), SocketAddr::new(dst, d)))
    };
    match proto {
        PROTO_TCP => {
            if seg.len() < 20 {
                return Err(short(Layer::Tcp, 20, seg.len()));
            }
            let (src, dst) = ports(Layer::Tcp, 20)?;
            let doff = usize::from(u8_at(seg, 12).unwrap_or_default() >> 4).saturating_mul(4);
            if doff < 20 {
                return Err(DissectError::BadHeaderLength {
                    layer: Layer::Tcp,
                    length: doff,
                });
            }
            let payload = seg
                .get(doff..)
                .ok_or_else(|| short(Layer::Tcp, doff, seg.len()))?;
            let flags = be16(seg, 12).unwrap_or_default() & 0x01ff;
            let tcp = TcpSegment {
                seq: be32(seg, 4).unwrap_or_default(),
                ack: be32(seg, 8).unwrap_or_default(),
                flags: TcpFlags(flags),
                payload,
            };
            Ok(Some((
                Packet {
                    src,
                    dst,
                    transport: Transport::Tcp(tcp),
                },
                missing,
            )))
        }
        PROTO_UDP => {
            if seg.len() < 8 {
                return Err(short(Layer::Udp, 8, seg.len()));
            }
            let (src, dst) = ports(Layer::Udp, 8)?;
            let len = match usize::from(be16(seg, 4).unwrap_or_default()) {
                0 => seg.len().saturating_add(missing), // IPv6 jumbogram (RFC 2675)
                n if n < 8 => {
                    return Err(DissectError::BadHeaderLength {
                        layer: Layer::Udp,
                        length: n,
                    });
                }
                n => n,
            };
            let end = len.min(seg.len());
            let payload = seg.get(8..end).unwrap_or_default();
            Ok(Some((
                Packet {
                    src,
                    dst,
                    transport: Transport::Udp { payload },
                },
                len.saturating_sub(end),
            )))
        }
        _ => Ok(None),
    }
}

/// Dissects one frame down to its TCP or UDP header.
///
/// Returns `Ok(None)` for frames that carry neither: ARP, ICMP, other IP protocols, unknown link
/// types, and IP fragments (a single frame cannot be reassembled; [`crate::Reassembler`] does that).
/// A frame cut short by the capture's snapshot length gives a short payload as long as the headers
/// are whole.
///
/// # Errors
/// [`DissectError`] if a link, IP or transport header is truncated or has impossible lengths.
pub fn dissect(frame: &Frame) -> Result<Option<Packet<'_>>, DissectError> {
    let Some(d) = datagram(frame)? else {
        return Ok(None);
    };
    if d.fragment.is_some() {
        return Ok(None);
    }
    Ok(transport(d.src, d.dst, d.proto, d.payload, d.missing)?.map(|(p, _)| p))
}
