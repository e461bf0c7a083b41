//! Classic pcap files, as described by tcpdump's `pcap-savefile(5)` and the IETF OPSAWG draft
//! "PCAP Capture File Format": a 24-byte file header, then records of a 16-byte header and the
//! captured bytes. The magic number gives both the byte order and the timestamp unit
//! (`a1b2c3d4` microseconds, `a1b23c4d` nanoseconds).

use crate::bytes::{Endian, slice, u16_at, u32_at};
use crate::{CaptureError, Frame, LinkType, Timestamp};

/// Largest captured length accepted in one record (Wireshark's limit for ordinary link types is 256 KiB;
/// this allows more, for oversized offload captures).
const MAX_RECORD: u32 = 16 * 1024 * 1024;

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// The parts of the file header the reader needs.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Header {
    endian: Endian,
    units_per_sec: u64,
    link: LinkType,
}

impl Header {
    /// Whether four bytes are one of the four pcap magics.
    pub(crate) fn is_magic(m: [u8; 4]) -> bool {
        Self::from_magic(m).is_some()
    }

    fn from_magic(m: [u8; 4]) -> Option<(Endian, u64)> {
        match (u32::from_le_bytes(m), u32::from_be_bytes(m)) {
            (MAGIC_US, _) => Some((Endian::Little, 1_000_000)),
            (_, MAGIC_US) => Some((Endian::Big, 1_000_000)),
            (MAGIC_NS, _) => Some((Endian::Little, 1_000_000_000)),
            (_, MAGIC_NS) => Some((Endian::Big, 1_000_000_000)),
            _ => None,
        }
    }

    fn parse(bytes: &[u8]) -> Result<Self, CaptureError> {
        let truncated = CaptureError::Truncated {
            offset: 0,
            what: "pcap file header",
            needed: 24,
            available: bytes.len(),
        };
        let head = slice(bytes, 0, 24).ok_or(truncated)?;
        let magic = crate::bytes::array::<4>(head, 0).unwrap_or_default();
        let (endian, units_per_sec) =
            Self::from_magic(magic).ok_or_else(|| CaptureError::UnknownMagic {
                magic: u32::from_be_bytes(magic),
            })?;
        // The link-type field keeps the type in its low 16 bits; the top bits may carry FCS
        // information, which the reader does not need.
        let network = u32_at(head, 20, endian).unwrap_or_default();
        let _version = u16_at(head, 4, endian);
        Ok(Self {
            endian,
            units_per_sec,
            link: LinkType(network & 0xffff),
        })
    }
}

/// Reads a whole pcap file: the frames up to the first structural error, and that error.
pub(crate) fn parse(bytes: &[u8]) -> Result<(Vec<Frame>, Option<CaptureError>), CaptureError> {
    let header = Header::parse(bytes)?;
    let mut frames = Vec::new();
    let mut off: usize = 24;
    let mut number: u64 = 0;
    while off < bytes.len() {
        match record(bytes, off, &header) {
            Ok((frame_parts, next)) => {
                number = number.saturating_add(1);
                let (ts, data, orig_len) = frame_parts;
                frames.push(Frame {
                    number,
                    ts,
                    link: header.link,
                    data,
                    orig_len,
                });
                off = next;
            }
            Err(err) => return Ok((frames, Some(err))),
        }
    }
    Ok((frames, None))
}

type Parts = (Timestamp, Vec<u8>, u32);

fn record(bytes: &[u8], off: usize, h: &Header) -> Result<(Parts, usize), CaptureError> {
    let offset = off as u64;
    let available = bytes.len().saturating_sub(off);
    let rec = slice(bytes, off, 16).ok_or(CaptureError::Truncated {
        offset,
        what: "pcap record header",
        needed: 16,
        available,
    })?;
    let field = |at: usize| u32_at(rec, at, h.endian).unwrap_or_default();
    let (secs, frac, incl_len, orig_len) = (field(0), field(4), field(8), field(12));
    if incl_len > MAX_RECORD {
        return Err(CaptureError::RecordTooLarge { offset, incl_len });
    }
    let len = incl_len as usize;
    let start = off.saturating_add(16);
    let data = slice(bytes, start, len).ok_or_else(|| CaptureError::Truncated {
        offset,
        what: "pcap record data",
        needed: len.saturating_add(16),
        available,
    })?;
    let ts = Timestamp::from_parts(i64::from(secs), u64::from(frac), h.units_per_sec);
    Ok(((ts, data.to_vec(), orig_len), start.saturating_add(len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(magic: u32, big: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend(w32(magic));
        out.extend(w16(2));
        out.extend(w16(4));
        out.extend(w32(0));
        out.extend(w32(0));
        out.extend(w32(65535));
        out.extend(w32(1));
        for (s, f, d) in records {
            out.extend(w32(*s));
            out.extend(w32(*f));
            out.extend(w32(d.len() as u32));
            out.extend(w32(d.len() as u32 + 10));
            out.extend(*d);
        }
        out
    }

    #[test]
    fn all_four_magics() {
        for (magic, big, nanos) in [
            (MAGIC_US, false, 7_000),
            (MAGIC_US, true, 7_000),
            (MAGIC_NS, false, 7),
            (MAGIC_NS, true, 7),
        ] {
            let bytes = file(magic, big, &[(100, 7, b"abc"), (101, 0, b"")]);
            let (frames, err) = parse(&bytes).unwrap();
            assert!(err.is_none());
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].ts, Timestamp { secs: 100, nanos });
            assert_eq!(frames[0].data, b"abc");
            assert_eq!(frames[0].orig_len, 13);
            assert_eq!(frames[1].number, 2);
            assert_eq!(frames[0].link, LinkType::ETHERNET);
        }
    }

    #[test]
    fn truncated_record_keeps_earlier_frames() {
        let mut bytes = file(MAGIC_US, false, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        bytes.truncate(bytes.len() - 1);
        let (frames, err) = parse(&bytes).unwrap();
        assert_eq!(frames.len(), 1);
        assert!(matches!(
            err,
            Some(CaptureError::Truncated { offset: 44, .. })
        ));
    }
}
