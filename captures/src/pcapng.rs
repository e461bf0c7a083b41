//! pcapng files, as described by the IETF OPSAWG draft "PCAP Next Generation (pcapng) Capture File
//! Format": a sequence of blocks, each `type, total length, body, total length`. A Section Header
//! Block starts each section and fixes its byte order; Interface Description Blocks number the
//! section's interfaces from 0; packets come in Enhanced, Simple or (obsolete) Packet Blocks. Every
//! other block type is skipped by its length.

use crate::bytes::{Endian, array, slice, u8_at, u16_at, u32_at};
use crate::{CaptureError, Frame, LinkType, Timestamp};

/// Block type of the Section Header Block; its bytes read the same in either byte order.
pub(crate) const SHB_TYPE: u32 = 0x0a0d_0d0a;
const IDB_TYPE: u32 = 1;
const PB_TYPE: u32 = 2;
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// What the reader keeps of an Interface Description Block.
#[derive(Copy, Clone, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    units_per_sec: u128,
    ts_offset: i64,
}

struct Reader<'a> {
    bytes: &'a [u8],
    endian: Endian,
    interfaces: Vec<Interface>,
    frames: Vec<Frame>,
}

/// Reads a whole pcapng file: the frames up to the first structural error, and that error.
pub(crate) fn parse(bytes: &[u8]) -> (Vec<Frame>, Option<CaptureError>) {
    let mut r = Reader {
        bytes,
        endian: Endian::Little,
        interfaces: Vec::new(),
        frames: Vec::new(),
    };
    let mut off = 0usize;
    while off < bytes.len() {
        match r.block(off) {
            Ok(next) => off = next,
            Err(err) => return (r.frames, Some(err)),
        }
    }
    (r.frames, None)
}

impl Reader<'_> {
    /// Reads the block at `off` and returns the offset of the next one.
    fn block(&mut self, off: usize) -> Result<usize, CaptureError> {
        let offset = off as u64;
        let available = self.bytes.len().saturating_sub(off);
        let truncated = |needed: usize| CaptureError::Truncated {
            offset,
            what: "pcapng block",
            needed,
            available,
        };
        let ty_bytes = array::<4>(self.bytes, off).ok_or_else(|| truncated(12))?;
        if u32::from_le_bytes(ty_bytes) == SHB_TYPE {
            let magic =
                array::<4>(self.bytes, off.saturating_add(8)).ok_or_else(|| truncated(28))?;
            self.endian = if u32::from_le_bytes(magic) == BYTE_ORDER_MAGIC {
                Endian::Little
            } else if u32::from_be_bytes(magic) == BYTE_ORDER_MAGIC {
                Endian::Big
            } else {
                return Err(CaptureError::BadByteOrderMagic {
                    offset,
                    magic: u32::from_be_bytes(magic),
                });
            };
        }
        let ty = u32_at(self.bytes, off, self.endian).ok_or_else(|| truncated(12))?;
        let length =
            u32_at(self.bytes, off.saturating_add(4), self.endian).ok_or_else(|| truncated(12))?;
        if length < 12 || length % 4 != 0 {
            return Err(CaptureError::BadBlockLength { offset, length });
        }
        let len = length as usize;
        let block = slice(self.bytes, off, len).ok_or_else(|| truncated(len))?;
        let trailing = u32_at(block, len.saturating_sub(4), self.endian).unwrap_or_default();
        if trailing != length {
            return Err(CaptureError::BlockLengthMismatch {
                offset,
                leading: length,
                trailing,
            });
        }
        let body = block.get(8..len.saturating_sub(4)).unwrap_or_default();
        match ty {
            SHB_TYPE => self.section(offset, body)?,
            IDB_TYPE => self.interface(offset, body)?,
            EPB_TYPE => self.enhanced_packet(offset, body)?,
            SPB_TYPE => self.simple_packet(offset, body)?,
            PB_TYPE => self.obsolete_packet(offset, body)?,
            _ => {}
        }
        Ok(off.saturating_add(len))
    }

    fn too_short(offset: u64, what: &'static str, needed: usize, body: &[u8]) -> CaptureError {
        CaptureError::Truncated {
            offset,
            what,
            needed,
            available: body.len(),
        }
    }

    fn section(&mut self, offset: u64, body: &[u8]) -> Result<(), CaptureError> {
        let e = self.endian;
        let (major, minor) = u16_at(body, 4, e)
            .zip(u16_at(body, 6, e))
            .ok_or_else(|| Self::too_short(offset, "section header block", 16, body))?;
        if major != 1 {
            return Err(CaptureError::UnsupportedVersion {
                offset,
                major,
                minor,
            });
        }
        self.interfaces.clear();
        Ok(())
    }

    fn interface(&mut self, offset: u64, body: &[u8]) -> Result<(), CaptureError> {
        let e = self.endian;
        let (link, snaplen) = u16_at(body, 0, e)
            .zip(u32_at(body, 4, e))
            .ok_or_else(|| Self::too_short(offset, "interface description block", 8, body))?;
        let mut iface = Interface {
            link: LinkType(u32::from(link)),
            snaplen,
            units_per_sec: 1_000_000,
            ts_offset: 0,
        };
        for (code, value) in options(body.get(8..).unwrap_or_default(), e) {
            match code {
                OPT_IF_TSRESOL => {
                    let v = u8_at(value, 0).unwrap_or(6);
                    let exp = u32::from(v & 0x7f);
                    let units = if v & 0x80 == 0 {
                        10u128.checked_pow(exp)
                    } else {
                        2u128.checked_pow(exp)
                    };
                    iface.units_per_sec =
                        units.ok_or(CaptureError::BadTimestampResolution { offset, value: v })?;
                }
                OPT_IF_TSOFFSET => {
                    if let Some(a) = array::<8>(value, 0) {
                        iface.ts_offset = match e {
                            Endian::Little => i64::from_le_bytes(a),
                            Endian::Big => i64::from_be_bytes(a),
                        };
                    }
                }
                _ => {}
            }
        }
        self.interfaces.push(iface);
        Ok(())
    }

    fn iface(&self, offset: u64, interface: u32) -> Result<Interface, CaptureError> {
        usize::try_from(interface)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .copied()
            .ok_or(CaptureError::UnknownInterface { offset, interface })
    }

    fn push(&mut self, iface: &Interface, ts: Timestamp, data: &[u8], orig_len: u32) {
        let number = (self.frames.len() as u64).saturating_add(1);
        self.frames.push(Frame {
            number,
            ts,
            link: iface.link,
            data: data.to_vec(),
            orig_len,
        });
    }

    fn stamp(iface: &Interface, hi: u32, lo: u32) -> Timestamp {
        let ticks = (u64::from(hi) << 32) | u64::from(lo);
        let mut ts = Timestamp::from_ticks(ticks, iface.units_per_sec);
        ts.secs = ts.secs.saturating_add(iface.ts_offset);
        ts
    }

    /// Enhanced Packet Block: interface id, 64-bit timestamp, captured and original length, data.
    fn enhanced_packet(&mut self, offset: u64, body: &[u8]) -> Result<(), CaptureError> {
        let e = self.endian;
        let f = |at: usize| u32_at(body, at, e);
        let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig_len)) =
            (f(0), f(4), f(8), f(12), f(16))
        else {
            return Err(Self::too_short(offset, "enhanced packet block", 20, body));
        };
        let iface = self.iface(offset, id)?;
        let data = slice(body, 20, caplen as usize)
            .ok_or(CaptureError::BadCapturedLength { offset, caplen })?;
        self.push(&iface, Self::stamp(&iface, hi, lo), data, orig_len);
        Ok(())
    }

    /// Simple Packet Block: original length and data only, always on interface 0, no timestamp.
    /// The captured length is what the block holds, capped by the interface snaplen. The frame gets
    /// timestamp 0 (tshark leaves `frame.time_epoch` empty for these).
    fn simple_packet(&mut self, offset: u64, body: &[u8]) -> Result<(), CaptureError> {
        let orig_len = u32_at(body, 0, self.endian)
            .ok_or_else(|| Self::too_short(offset, "simple packet block", 4, body))?;
        let iface = self.iface(offset, 0)?;
        let mut caplen = orig_len;
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        let room = body.len().saturating_sub(4);
        let data = body
            .get(4..4usize.saturating_add((caplen as usize).min(room)))
            .unwrap_or_default();
        self.push(&iface, Timestamp::default(), data, orig_len);
        Ok(())
    }

    /// The obsolete Packet Block: 16-bit interface id and drop count, then as the Enhanced one.
    fn obsolete_packet(&mut self, offset: u64, body: &[u8]) -> Result<(), CaptureError> {
        let e = self.endian;
        let f = |at: usize| u32_at(body, at, e);
        let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig_len)) =
            (u16_at(body, 0, e), f(4), f(8), f(12), f(16))
        else {
            return Err(Self::too_short(offset, "packet block", 20, body));
        };
        let iface = self.iface(offset, u32::from(id))?;
        let data = slice(body, 20, caplen as usize)
            .ok_or(CaptureError::BadCapturedLength { offset, caplen })?;
        self.push(&iface, Self::stamp(&iface, hi, lo), data, orig_len);
        Ok(())
    }
}

/// The options of a block body, as `(code, value)`, up to `opt_endofopt` or the first option that
/// does not fit (options are informational, so a damaged list ends it quietly).
fn options(mut buf: &[u8], e: Endian) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let code = u16_at(buf, 0, e)?;
        let len = usize::from(u16_at(buf, 2, e)?);
        if code == OPT_END {
            return None;
        }
        let value = slice(buf, 4, len)?;
        buf = buf
            .get(crate::bytes::pad4(len).saturating_add(4)..)
            .unwrap_or_default();
        Some((code, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        let mut out = ty.to_le_bytes().to_vec();
        out.extend(len.to_le_bytes());
        out.extend(body);
        out.resize(len as usize - 4, 0);
        out.extend(len.to_le_bytes());
        out
    }

    fn shb() -> Vec<u8> {
        let mut b = BYTE_ORDER_MAGIC.to_le_bytes().to_vec();
        b.extend(1u16.to_le_bytes());
        b.extend(0u16.to_le_bytes());
        b.extend((-1i64).to_le_bytes());
        block(SHB_TYPE, &b)
    }

    fn idb(tsresol: Option<u8>) -> Vec<u8> {
        let mut b = 1u16.to_le_bytes().to_vec();
        b.extend([0, 0]);
        b.extend(0u32.to_le_bytes());
        if let Some(r) = tsresol {
            b.extend(OPT_IF_TSRESOL.to_le_bytes());
            b.extend(1u16.to_le_bytes());
            b.extend([r, 0, 0, 0]);
            b.extend([0, 0, 0, 0]);
        }
        block(IDB_TYPE, &b)
    }

    fn epb(id: u32, ticks: u64, data: &[u8]) -> Vec<u8> {
        let mut b = id.to_le_bytes().to_vec();
        b.extend(((ticks >> 32) as u32).to_le_bytes());
        b.extend((ticks as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend(data);
        block(EPB_TYPE, &b)
    }

    #[test]
    fn power_of_two_resolution_and_spb() {
        let mut f = shb();
        f.extend(idb(Some(0x80 | 10)));
        f.extend(epb(0, 1024 * 7 + 256, b"x"));
        f.extend(block(SPB_TYPE, &[3, 0, 0, 0, b'a', b'b', b'c']));
        f.extend(block(0x0bad, b"skipped"));
        let (frames, err) = parse(&f);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0].ts,
            Timestamp {
                secs: 7,
                nanos: 250_000_000
            }
        );
        assert_eq!(frames[1].data, b"abc");
        assert_eq!(frames[1].number, 2);
    }

    #[test]
    fn new_section_resets_interfaces() {
        let mut f = shb();
        f.extend(idb(None));
        f.extend(epb(0, 1, b"a"));
        f.extend(shb());
        f.extend(epb(0, 1, b"b"));
        let (frames, err) = parse(&f);
        assert_eq!(frames.len(), 1);
        assert!(matches!(
            err,
            Some(CaptureError::UnknownInterface { interface: 0, .. })
        ));
    }

    #[test]
    fn bad_lengths_name_the_offset() {
        let mut f = shb();
        let at = f.len() as u64;
        let mut bad = idb(None);
        bad[4] = 13;
        f.extend(bad);
        let (_, err) = parse(&f);
        assert!(
            matches!(err, Some(CaptureError::BadBlockLength { offset, length: 13 }) if offset == at)
        );

        let mut f = shb();
        let mut bad = idb(None);
        let n = bad.len();
        bad[n - 4] = 0;
        f.extend(bad);
        let (_, err) = parse(&f);
        assert!(matches!(
            err,
            Some(CaptureError::BlockLengthMismatch { .. })
        ));
    }
}
