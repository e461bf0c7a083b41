//! [`TcpConversation`]: both ends of a scripted TCP connection for synthetic captures.

use std::net::SocketAddr;
use std::ops::Range;

use super::{PcapWriter, len32};
use crate::TcpFlags;

/// Which end of a [`TcpConversation`] sends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// The end that sends the SYN.
    Client,
    /// The end that answers it.
    Server,
}

/// A planned TCP segment of a [`TcpConversation`], which may be emitted later, twice, or never.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The sender.
    pub side: Side,
    /// Sequence number of the first byte.
    pub seq: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Payload.
    pub data: Vec<u8>,
}

impl Segment {
    /// The part of this segment covering `range` of its payload (for overlapping retransmissions).
    pub fn slice(&self, range: Range<usize>) -> Self {
        let start = range.start.min(self.data.len());
        let end = range.end.clamp(start, self.data.len());
        Self {
            side: self.side,
            seq: self.seq.wrapping_add(len32(start)),
            flags: self.flags,
            data: self.data.get(start..end).unwrap_or_default().to_vec(),
        }
    }
}

/// Both ends of one TCP connection, tracking each side's next sequence number. Acknowledgments
/// always cover everything the other side has planned.
#[derive(Clone, Debug)]
pub struct TcpConversation {
    client: SocketAddr,
    server: SocketAddr,
    next: [u32; 2],
}

impl TcpConversation {
    /// A connection from `client` to `server` with the given initial sequence numbers.
    pub fn new(client: SocketAddr, server: SocketAddr, client_isn: u32, server_isn: u32) -> Self {
        Self {
            client,
            server,
            next: [client_isn, server_isn],
        }
    }

    fn idx(side: Side) -> usize {
        match side {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    /// The sequence number `side` will use next.
    pub fn next_seq(&self, side: Side) -> u32 {
        self.next.get(Self::idx(side)).copied().unwrap_or(0)
    }

    fn advance(&mut self, side: Side, n: u32) {
        if let Some(s) = self.next.get_mut(Self::idx(side)) {
            *s = s.wrapping_add(n);
        }
    }

    /// Plans a segment of `data` from `side` (PSH|ACK) at its next sequence number, and advances
    /// past it without writing anything.
    pub fn plan(&mut self, side: Side, data: &[u8]) -> Segment {
        let seg = Segment {
            side,
            seq: self.next_seq(side),
            flags: TcpFlags::PSH | TcpFlags::ACK,
            data: data.to_vec(),
        };
        self.advance(side, len32(data.len()));
        seg
    }

    /// Writes a planned segment (again, if it was written before). Returns its frame number.
    pub fn emit(&self, w: &mut PcapWriter, seg: &Segment) -> u64 {
        let (src, dst, other) = match seg.side {
            Side::Client => (self.client, self.server, Side::Server),
            Side::Server => (self.server, self.client, Side::Client),
        };
        w.tcp(
            src,
            dst,
            seg.seq,
            self.next_seq(other),
            seg.flags,
            &seg.data,
        )
    }

    /// Plans and writes one data segment. Returns its frame number.
    pub fn send(&mut self, w: &mut PcapWriter, side: Side, data: &[u8]) -> u64 {
        let seg = self.plan(side, data);
        self.emit(w, &seg)
    }

    /// Writes `data` from `side` as consecutive segments of the given sizes (the last one takes the
    /// rest). Returns their frame numbers.
    pub fn send_split(
        &mut self,
        w: &mut PcapWriter,
        side: Side,
        data: &[u8],
        sizes: &[usize],
    ) -> Vec<u64> {
        let mut frames = Vec::new();
        let mut rest = data;
        for &n in sizes {
            let (now, later) = rest.split_at(n.min(rest.len()));
            frames.push(self.send(w, side, now));
            rest = later;
        }
        if !rest.is_empty() {
            frames.push(self.send(w, side, rest));
        }
        frames
    }

    /// Writes the three-way handshake: SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self, w: &mut PcapWriter) {
        let syn = self.control(Side::Client, TcpFlags::SYN);
        self.advance(Side::Client, 1);
        self.emit(w, &syn);
        let syn_ack = self.control(Side::Server, TcpFlags::SYN | TcpFlags::ACK);
        self.advance(Side::Server, 1);
        self.emit(w, &syn_ack);
        self.emit(w, &self.control(Side::Client, TcpFlags::ACK));
    }

    /// Writes a FIN|ACK from `side` (which consumes one sequence number). Returns its frame number.
    pub fn fin(&mut self, w: &mut PcapWriter, side: Side) -> u64 {
        let seg = self.control(side, TcpFlags::FIN | TcpFlags::ACK);
        self.advance(side, 1);
        self.emit(w, &seg)
    }

    /// Writes a bare ACK from `side`. Returns its frame number.
    pub fn ack(&mut self, w: &mut PcapWriter, side: Side) -> u64 {
        self.emit(w, &self.control(side, TcpFlags::ACK))
    }

    /// Writes an RST|ACK from `side`. Returns its frame number.
    pub fn rst(&mut self, w: &mut PcapWriter, side: Side) -> u64 {
        self.emit(w, &self.control(side, TcpFlags::RST | TcpFlags::ACK))
    }

    fn control(&self, side: Side, flags: TcpFlags) -> Segment {
        Segment {
            side,
            seq: self.next_seq(side),
            flags,
            data: Vec::new(),
        }
    }
}
