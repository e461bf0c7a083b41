//! Bounds-checked reads of fixed-width integers from byte slices.

/// Byte order of multi-byte fields.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

/// `n` bytes at `off`, if they are all there.
pub(crate) fn slice(buf: &[u8], off: usize, n: usize) -> Option<&[u8]> {
    buf.get(off..off.checked_add(n)?)
}

pub(crate) fn array<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    slice(buf, off, N).and_then(|s| <[u8; N]>::try_from(s).ok())
}

pub(crate) fn u8_at(buf: &[u8], off: usize) -> Option<u8> {
    buf.get(off).copied()
}

pub(crate) fn u16_at(buf: &[u8], off: usize, e: Endian) -> Option<u16> {
    let a = array::<2>(buf, off)?;
    Some(match e {
        Endian::Little => u16::from_le_bytes(a),
        Endian::Big => u16::from_be_bytes(a),
    })
}

pub(crate) fn u32_at(buf: &[u8], off: usize, e: Endian) -> Option<u32> {
    let a = array::<4>(buf, off)?;
    Some(match e {
        Endian::Little => u32::from_le_bytes(a),
        Endian::Big => u32::from_be_bytes(a),
    })
}

pub(crate) fn be16(buf: &[u8], off: usize) -> Option<u16> {
    u16_at(buf, off, Endian::Big)
}

pub(crate) fn be32(buf: &[u8], off: usize) -> Option<u32> {
    u32_at(buf, off, Endian::Big)
}

/// Rounds up to a multiple of four (pcapng padding), saturating.
pub(crate) fn pad4(n: usize) -> usize {
    n.checked_add(3).map_or(usize::MAX, |v| v & !3)
}
