//! Turning frames into application bytes: whole UDP datagrams, and per TCP direction the bytes
//! each frame made newly contiguous.
//!
//! Per direction (source → destination socket address) a TCP stream is, in outline:
//!
//! ```text
//!   (none) --SYN--> open at ISN+1 --data--> open --FIN/RST--> ended --SYN (new ISN)--> open ...
//!   (none) --first segment without SYN--> open at that segment's seq
//! ```
//!
//! Bytes are tracked as offsets from the stream's start, so sequence numbers may wrap. Data at or
//! behind the next expected offset is trimmed (retransmissions and overlaps deliver nothing twice);
//! data ahead of it is held until the hole fills. A hole that never fills is skipped, and reported
//! in [`Payload::gap`], once the held data passes the buffer limit or the capture ends.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use crate::frag::Fragments;
use crate::ip::{self, Packet, Transport};
use crate::{Capture, DissectError, Frame, Timestamp};

/// Default limit on out-of-order bytes held per direction before a hole is skipped: 1 MiB.
pub const DEFAULT_BUFFER_LIMIT: usize = 1 << 20;
/// Out-of-order segments held per direction before a hole is skipped.
const MAX_HELD_SEGMENTS: usize = 4096;
/// A segment on an ended direction this far from its old sequence space starts a new stream (the
/// port was reused and the new SYN was not captured).
const REUSE_DISTANCE: i64 = 1 << 24;

/// The transport protocol of a [`Payload`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Proto {
    /// Bytes of a TCP direction.
    Tcp,
    /// One UDP datagram.
    Udp,
}

/// Application bytes that became available at one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The frame that made these bytes available: for UDP the frame completing the datagram, for TCP
    /// the frame whose segment made them contiguous. This is the frame tshark names for a PDU whose
    /// last byte is in `data`.
    pub frame: u64,
    /// That frame's timestamp.
    pub ts: Timestamp,
    /// TCP or UDP.
    pub proto: Proto,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// For UDP the datagram's payload; for TCP exactly the bytes of the direction that became
    /// contiguous at `frame`, following the previous [`Payload`] of the same direction.
    pub data: Vec<u8>,
    /// For TCP, bytes of the direction that were never captured and were skipped just before `data`
    /// (a consumer should resynchronise its framing). For UDP, bytes of the datagram cut off the end
    /// by the capture's snapshot length. Zero normally.
    pub gap: u64,
}

/// A run of bytes for one direction, before addresses are attached.
#[derive(Debug)]
struct Chunk {
    frame: u64,
    ts: Timestamp,
    gap: u64,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Held {
    data: Vec<u8>,
    frame: u64,
    ts: Timestamp,
}

/// One direction of a TCP connection.
#[derive(Debug)]
struct Stream {
    /// Sequence number of offset 0.
    base: u32,
    /// The SYN's sequence number, to recognise a retransmitted SYN.
    syn: Option<u32>,
    /// Offset of the next byte to deliver.
    next: u64,
    /// Offset at which the sender's FIN (or RST) ended the stream.
    end: Option<u64>,
    /// Out-of-order data by offset.
    held: BTreeMap<u64, Held>,
    held_bytes: usize,
    /// Bytes skipped since the last delivery.
    pending_gap: u64,
    /// Frame of the last delivery, so a direction's frames never go backwards.
    last_frame: u64,
}

impl Stream {
    fn new(base: u32, syn: Option<u32>) -> Self {
        Self {
            base,
            syn,
            next: 0,
            end: None,
            held: BTreeMap::new(),
            held_bytes: 0,
            pending_gap: 0,
            last_frame: 0,
        }
    }

    fn ended(&self) -> bool {
        self.end.is_some_and(|e| self.next >= e)
    }

    /// The offset of sequence number `seq`, unwrapped to lie within 2^31 of `next`.
    fn offset(&self, seq: u32) -> i64 {
        let rel = seq.wrapping_sub(self.base);
        #[allow(clippy::cast_possible_truncation)] // wrapping to the low 32 bits is the point
        let diff = i64::from(rel.wrapping_sub(self.next as u32) as i32);
        i64::try_from(self.next)
            .unwrap_or(i64::MAX)
            .saturating_add(diff)
    }

    fn deliver(&mut self, out: &mut Vec<Chunk>, bytes: &[u8], frame: u64, ts: Timestamp) {
        if bytes.is_empty() {
            return;
        }
        let frame = frame.max(self.last_frame);
        self.next = self.next.saturating_add(bytes.len() as u64);
        self.last_frame = frame;
        match out.last_mut() {
            Some(c) if c.frame == frame && self.pending_gap == 0 => c.data.extend_from_slice(bytes),
            _ => out.push(Chunk {
                frame,
                ts,
                gap: std::mem::take(&mut self.pending_gap),
                data: bytes.to_vec(),
            }),
        }
    }

    fn skip(&mut self, n: u64) {
        self.next = self.next.saturating_add(n);
        self.pending_gap = self.pending_gap.saturating_add(n);
    }

    /// Delivers held segments that now touch `next`. With `at`, they are attributed to that frame
    /// (the one that unblocked them); without, to their own frames.
    fn drain(&mut self, out: &mut Vec<Chunk>, at: Option<(u64, Timestamp)>) {
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let start = *entry.key();
            let held = entry.remove();
            self.held_bytes = self.held_bytes.saturating_sub(held.data.len());
            let skip = usize::try_from(self.next.saturating_sub(start)).unwrap_or(usize::MAX);
            let (frame, ts) = at.unwrap_or((held.frame, held.ts));
            if let Some(new) = held.data.get(skip..) {
                self.deliver(out, new, frame, ts);
            }
        }
    }

    /// Skips the first hole and delivers what follows it.
    fn skip_hole(&mut self, out: &mut Vec<Chunk>) {
        if let Some((&start, _)) = self.held.first_key_value() {
            self.skip(start.saturating_sub(self.next));
            self.drain(out, None);
        }
    }

    /// Takes in `data` at offset `off`, followed by `missing` bytes the capture did not hold.
    fn segment(
        &mut self,
        out: &mut Vec<Chunk>,
        off: i64,
        data: &[u8],
        missing: usize,
        (frame, ts): (u64, Timestamp),
        limit: usize,
    ) {
        // Bytes before the stream's start are not part of it.
        let (off, data) = if off < 0 {
            let cut = usize::try_from(off.unsigned_abs()).unwrap_or(usize::MAX);
            (0u64, data.get(cut..).unwrap_or_default())
        } else {
            (off.unsigned_abs(), data)
        };
        // Nor are bytes after its FIN.
        let data = match self.end {
            Some(end) => {
                let room = usize::try_from(end.saturating_sub(off)).unwrap_or(usize::MAX);
                data.get(..room.min(data.len())).unwrap_or_default()
            }
            None => data,
        };
        let captured_end = off.saturating_add(data.len() as u64);
        if off <= self.next {
            let skip = usize::try_from(self.next.saturating_sub(off)).unwrap_or(usize::MAX);
            if let Some(new) = data.get(skip..) {
                self.deliver(out, new, frame, ts);
            }
            let wire_end = captured_end.saturating_add(missing as u64);
            if missing != 0 && wire_end > self.next {
                // Cut off by the snapshot length: those bytes are lost for good.
                self.skip(wire_end.saturating_sub(self.next.max(captured_end)));
            }
            self.drain(out, Some((frame, ts)));
        } else if !data.is_empty() {
            let longer = self
                .held
                .get(&off)
                .is_none_or(|h| h.data.len() < data.len());
            if longer {
                let old = self.held.insert(
                    off,
                    Held {
                        data: data.to_vec(),
                        frame,
                        ts,
                    },
                );
                let old_len = old.map_or(0, |h| h.data.len());
                self.held_bytes = self
                    .held_bytes
                    .saturating_add(data.len())
                    .saturating_sub(old_len);
            }
        }
        while self.held_bytes > limit || self.held.len() > MAX_HELD_SEGMENTS {
            self.skip_hole(out);
        }
    }

    /// Delivers everything held, skipping holes (end of capture, or the stream was reset).
    fn flush(&mut self, out: &mut Vec<Chunk>) {
        while !self.held.is_empty() {
            self.skip_hole(out);
        }
    }
}

/// Streaming reassembly: feed frames in capture order with [`Reassembler::handle_frame`], take
/// results with [`Reassembler::poll_payload`] until it returns `None`, and call
/// [`Reassembler::finish`] at the end of the capture to release data held behind holes.
///
/// Memory is bounded: per TCP direction by the buffer limit, and for IP fragments by a fixed number
/// of datagrams in progress.
#[derive(Debug)]
pub struct Reassembler {
    limit: usize,
    streams: BTreeMap<(SocketAddr, SocketAddr), Stream>,
    fragments: Fragments,
    out: VecDeque<Payload>,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembler {
    /// A reassembler holding up to [`DEFAULT_BUFFER_LIMIT`] out-of-order bytes per direction.
    pub fn new() -> Self {
        Self::with_buffer_limit(DEFAULT_BUFFER_LIMIT)
    }

    /// A reassembler holding up to `limit` out-of-order bytes per direction before it skips a hole.
    pub fn with_buffer_limit(limit: usize) -> Self {
        Self {
            limit,
            streams: BTreeMap::new(),
            fragments: Fragments::default(),
            out: VecDeque::new(),
        }
    }

    /// Takes in the next frame of the capture.
    ///
    /// Frames that are not TCP or UDP are ignored.
    ///
    /// # Errors
    /// [`DissectError`] if the frame's headers are malformed; the frame is then ignored and the
    /// reassembler's state is unchanged, so the caller may log and continue.
    pub fn handle_frame(&mut self, frame: &Frame) -> Result<(), DissectError> {
        let Some(d) = ip::datagram(frame)? else {
            return Ok(());
        };
        let parsed;
        let (payload, proto) = match d.fragment {
            None => (d.payload, d.proto),
            Some(f) => {
                let Some(whole) = self.fragments.add(&d, f) else {
                    return Ok(());
                };
                parsed = whole;
                if d.src.is_ipv6() {
                    let (proto, rest, again) = ip::walk_extensions(d.proto, &parsed)?;
                    if again.is_some() {
                        return Ok(());
                    }
                    (rest, proto)
                } else {
                    (&parsed[..], d.proto)
                }
            }
        };
        let Some((packet, missing)) = ip::transport(d.src, d.dst, proto, payload, d.missing)?
        else {
            return Ok(());
        };
        self.on_packet(frame, packet, missing);
        Ok(())
    }

    fn on_packet(&mut self, frame: &Frame, packet: Packet<'_>, missing: usize) {
        let Packet {
            src,
            dst,
            transport,
        } = packet;
        let seg = match transport {
            Transport::Udp { payload } => {
                self.out.push_back(Payload {
                    frame: frame.number,
                    ts: frame.ts,
                    proto: Proto::Udp,
                    src,
                    dst,
                    data: payload.to_vec(),
                    gap: missing as u64,
                });
                return;
            }
            Transport::Tcp(seg) => seg,
        };
        let syn = seg.flags.contains(crate::TcpFlags::SYN);
        let data_seq = if syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let mut chunks = Vec::new();
        let key = (src, dst);
        let stream = match self.streams.get_mut(&key) {
            Some(s) if syn && s.syn == Some(seg.seq) => s,
            Some(s) if syn => {
                s.flush(&mut chunks);
                *s = Stream::new(data_seq, Some(seg.seq));
                s
            }
            Some(s) => {
                let off = s.offset(data_seq);
                let far = off
                    .saturating_sub(i64::try_from(s.next).unwrap_or(i64::MAX))
                    .saturating_abs()
                    > REUSE_DISTANCE;
                if s.ended() && !seg.payload.is_empty() && far {
                    s.flush(&mut chunks);
                    *s = Stream::new(data_seq, None);
                }
                s
            }
            None => self
                .streams
                .entry(key)
                .or_insert_with(|| Stream::new(data_seq, syn.then_some(seg.seq))),
        };
        let off = stream.offset(data_seq);
        let at = (frame.number, frame.ts);
        stream.segment(&mut chunks, off, seg.payload, missing, at, self.limit);
        let wire_len = (seg.payload.len() as u64).saturating_add(missing as u64);
        if seg.flags.contains(crate::TcpFlags::FIN) && stream.end.is_none() {
            let end = u64::try_from(off).unwrap_or(0).saturating_add(wire_len);
            stream.end = Some(end);
        }
        if seg.flags.contains(crate::TcpFlags::RST) {
            stream.flush(&mut chunks);
            stream.end = Some(stream.next);
        }
        self.push_chunks(src, dst, chunks);
    }

    fn push_chunks(&mut self, src: SocketAddr, dst: SocketAddr, chunks: Vec<Chunk>) {
        self.out.extend(chunks.into_iter().map(|c| Payload {
            frame: c.frame,
            ts: c.ts,
            proto: Proto::Tcp,
            src,
            dst,
            data: c.data,
            gap: c.gap,
        }));
    }

    /// The next available payload, if any.
    pub fn poll_payload(&mut self) -> Option<Payload> {
        self.out.pop_front()
    }

    /// Ends the capture: data still held behind holes is delivered (with its gaps), ordered by frame.
    pub fn finish(&mut self) {
        let mut all = Vec::new();
        let keys: Vec<_> = self.streams.keys().copied().collect();
        for (src, dst) in keys {
            let mut chunks = Vec::new();
            if let Some(s) = self.streams.get_mut(&(src, dst)) {
                s.flush(&mut chunks);
            }
            all.extend(chunks.into_iter().map(|c| (src, dst, c)));
        }
        // Stable: each direction's chunks are already in frame order.
        all.sort_by_key(|(_, _, c)| c.frame);
        for (src, dst, c) in all {
            self.push_chunks(src, dst, vec![c]);
        }
    }
}

/// Everything a capture carries, in capture order: one [`Payload`] per UDP datagram and per frame
/// that made new TCP bytes contiguous. Frames with malformed headers are skipped.
pub fn payloads(capture: &Capture) -> Vec<Payload> {
    let mut r = Reassembler::new();
    let mut out = Vec::new();
    for frame in &capture.frames {
        let _ = r.handle_frame(frame);
        while let Some(p) = r.poll_payload() {
            out.push(p);
        }
    }
    r.finish();
    while let Some(p) = r.poll_payload() {
        out.push(p);
    }
    out
}
