//! A minimal RTP header (RFC 3550 §5.1): parsed in place from a received datagram, written into a
//! caller's buffer. Enough for a relay (rewrite sequence numbers, read the payload type) and for the
//! phone simulator (build G.711 packets); no allocation either way.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers (CC × 32)   |
//! | extension: profile (16) | length in words (16) | words ...    |
//! ```

/// The fixed part of an RTP header, in bytes.
pub const FIXED_HEADER_LEN: usize = 12;

/// Why a datagram is not an RTP packet we can relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the header it announces.
    #[error("RTP packet of {len} bytes is shorter than its {needed}-byte header")]
    Truncated {
        /// The datagram length.
        len: usize,
        /// The bytes the header needs (fixed part, CSRCs, extension).
        needed: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// The padding count is zero or exceeds the payload.
    #[error("RTP padding of {padding} bytes does not fit a {payload}-byte payload")]
    Padding {
        /// The announced padding (last byte).
        padding: u8,
        /// The payload bytes available.
        payload: usize,
    },
    /// The caller's buffer cannot hold the header and payload.
    #[error("buffer of {have} bytes cannot hold an RTP packet of {need}")]
    BufferTooSmall {
        /// The buffer length.
        have: usize,
        /// The bytes needed.
        need: usize,
    },
}

/// The fields of an RTP header that Crossbar reads or writes. CSRCs and header extensions are kept in
/// the datagram (skipped by [`RtpHeader::payload_offset`]), never interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// The marker bit (first packet of a talk spurt, first packet of an RFC 4733 event).
    pub marker: bool,
    /// The payload type (7 bits).
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// Where the payload starts (after CSRCs and extension); 12 for a packet we build.
    pub payload_offset: usize,
    /// Where the payload ends (before padding).
    pub payload_end: usize,
}

impl RtpHeader {
    /// A header for a packet we build: no CSRC, extension or padding.
    pub const fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32) -> Self {
        Self {
            marker: false,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            payload_offset: FIXED_HEADER_LEN,
            payload_end: FIXED_HEADER_LEN,
        }
    }

    /// Parses the header of `packet`.
    ///
    /// # Errors
    /// [`RtpError`] when the version is not 2 or the packet is shorter than its header says.
    pub fn parse(packet: &[u8]) -> Result<Self, RtpError> {
        let truncated = |needed| RtpError::Truncated {
            len: packet.len(),
            needed,
        };
        let Some(fixed) = packet.first_chunk::<FIXED_HEADER_LEN>() else {
            return Err(truncated(FIXED_HEADER_LEN));
        };
        let [b0, b1, s0, s1, t0, t1, t2, t3, r0, r1, r2, r3] = *fixed;
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let csrc_count = usize::from(b0 & 0x0f);
        let mut offset = FIXED_HEADER_LEN + 4 * csrc_count;
        if b0 & 0x10 != 0 {
            let ext = packet
                .get(offset..offset + 4)
                .ok_or_else(|| truncated(offset + 4))?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            offset += 4 + 4 * words;
        }
        if packet.len() < offset {
            return Err(truncated(offset));
        }
        let mut end = packet.len();
        if b0 & 0x20 != 0 {
            let padding = packet.last().copied().unwrap_or(0);
            let payload = end - offset;
            if padding == 0 || usize::from(padding) > payload {
                return Err(RtpError::Padding { padding, payload });
            }
            end -= usize::from(padding);
        }
        Ok(Self {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7f,
            sequence: u16::from_be_bytes([s0, s1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([r0, r1, r2, r3]),
            payload_offset: offset,
            payload_end: end,
        })
    }

    /// The payload of `packet`, whose header this is.
    pub fn payload<'a>(&self, packet: &'a [u8]) -> &'a [u8] {
        packet
            .get(self.payload_offset..self.payload_end)
            .unwrap_or_default()
    }

    /// Writes a 12-byte header (no CSRC, extension or padding) followed by `payload` into `out`, and
    /// returns the packet length.
    ///
    /// # Errors
    /// [`RtpError::BufferTooSmall`] when `out` cannot hold the packet.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
        let need = FIXED_HEADER_LEN + payload.len();
        let Some(dst) = out.get_mut(..need) else {
            return Err(RtpError::BufferTooSmall {
                have: out.len(),
                need,
            });
        };
        let (head, body) = dst.split_at_mut(FIXED_HEADER_LEN);
        head[0] = 0x80;
        head[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        head[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        head[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        head[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        body.copy_from_slice(payload);
        Ok(need)
    }

    /// The packet as a new vector (for simulators and tests; the relay writes into its own buffer).
    pub fn to_vec(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0; FIXED_HEADER_LEN + payload.len()];
        // The buffer is sized for the packet, so writing cannot fail.
        let _ = self.write(payload, &mut out);
        out
    }
}

/// Rewrites the sequence number of a packet already checked by [`RtpHeader::parse`]; does nothing to a
/// shorter buffer.
pub fn set_sequence(packet: &mut [u8], sequence: u16) {
    if let Some(field) = packet.get_mut(2..4) {
        field.copy_from_slice(&sequence.to_be_bytes());
    }
}

/// Whether a datagram looks like RTCP (RFC 5761 §4: version 2, packet type 192–223) rather than garbage;
/// the relay forwards RTCP without interpreting it further.
pub fn is_rtcp(packet: &[u8]) -> bool {
    matches!(packet, [b0, pt, _, _, ..] if b0 >> 6 == 2 && (192..=223).contains(pt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_a_built_packet() {
        let mut h = RtpHeader::new(0, 0xfffe, 0x1234_5678, 0xdead_beef);
        h.marker = true;
        let pkt = h.to_vec(&[1, 2, 3]);
        assert_eq!(
            pkt,
            [
                0x80, 0x80, 0xff, 0xfe, 0x12, 0x34, 0x56, 0x78, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3
            ]
        );
        let parsed = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(
            parsed,
            RtpHeader {
                payload_end: 15,
                ..h
            }
        );
        assert_eq!(parsed.payload(&pkt), [1, 2, 3]);
    }

    #[test]
    fn csrc_extension_and_padding_are_skipped() {
        // V=2 P=1 X=1 CC=1, PT 8, then one CSRC, a one-word extension, payload [9, 9], padding of 2.
        let pkt = [
            0xb1, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, // fixed
            0, 0, 0, 4, // CSRC
            0xbe, 0xde, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd, // extension
            9, 9, 0, 2, // payload + padding
        ];
        let h = RtpHeader::parse(&pkt).unwrap();
        assert_eq!((h.payload_type, h.sequence, h.ssrc), (8, 1, 3));
        assert_eq!(h.payload(&pkt), [9, 9]);
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(
            RtpHeader::parse(&[0x80, 0]),
            Err(RtpError::Truncated { len: 2, needed: 12 })
        );
        let mut v1 = RtpHeader::new(0, 1, 2, 3).to_vec(&[]);
        v1[0] = 0x40;
        assert_eq!(RtpHeader::parse(&v1), Err(RtpError::Version(1)));
        let mut cc = RtpHeader::new(0, 1, 2, 3).to_vec(&[0; 4]);
        cc[0] = 0x82; // two CSRCs announced, one word present
        assert_eq!(
            RtpHeader::parse(&cc),
            Err(RtpError::Truncated {
                len: 16,
                needed: 20
            })
        );
        let mut ext = RtpHeader::new(0, 1, 2, 3).to_vec(&[0, 0]);
        ext[0] = 0x90;
        assert!(matches!(
            RtpHeader::parse(&ext),
            Err(RtpError::Truncated { .. })
        ));
        let mut pad = RtpHeader::new(0, 1, 2, 3).to_vec(&[1, 9]);
        pad[0] = 0xa0;
        assert_eq!(
            RtpHeader::parse(&pad),
            Err(RtpError::Padding {
                padding: 9,
                payload: 2
            })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_parsed_bounds_hold() {
        // A deterministic xorshift stream of datagrams 0..64 bytes long, biased toward version 2.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = usize::try_from(next() % 64).unwrap();
            let mut pkt: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
            if let Some(b0) = pkt.first_mut() {
                *b0 = (*b0 & 0x3f) | 0x80;
            }
            if let Ok(h) = RtpHeader::parse(&pkt) {
                assert!(h.payload_offset <= h.payload_end && h.payload_end <= pkt.len());
                let _ = h.payload(&pkt);
            }
            let _ = super::super::rfc4733::TelephoneEvent::decode(&pkt);
            let _ = is_rtcp(&pkt);
        }
    }

    #[test]
    fn write_refuses_a_small_buffer() {
        let mut out = [0; 13];
        assert_eq!(
            RtpHeader::new(0, 0, 0, 0).write(&[0; 2], &mut out),
            Err(RtpError::BufferTooSmall { have: 13, need: 14 })
        );
    }

    #[test]
    fn sequence_rewrite_and_rtcp_sniffing() {
        let mut pkt = RtpHeader::new(0, 7, 0, 0).to_vec(&[]);
        set_sequence(&mut pkt, 0x0102);
        assert_eq!(RtpHeader::parse(&pkt).unwrap().sequence, 0x0102);
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&[0x80, 0, 0, 6]));
        assert!(!is_rtcp(&[0x80]));
    }
}
