//! The bounds-checked cursor every decoder in this crate reads through, and the small writer helpers
//! encoders share.
//!
//! Every read returns `Result<_, DecodeError>` naming the field it was reading, so a short or damaged
//! message is reported as "`field` needs N bytes, M left" instead of a panic. There is no indexing and no
//! unchecked arithmetic here (the crate denies both outside tests).

use bytes::{BufMut, Bytes};

/// A message body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body ended before a field was complete.
    #[error("{field}: needs {needed} bytes, {left} left")]
    Short {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        left: usize,
    },
    /// A field holds a value the layout does not allow (a count beyond its array, say).
    #[error("{field}: {value} is out of range (at most {max})")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value read.
        value: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A field holds a value its protocol does not define and that cannot be kept as unknown.
    #[error("{field}: invalid value {value:#x}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value read.
        value: u64,
    },
}

/// A cursor over a message body. Reads advance it; a failed read leaves it where it was.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not read yet.
    pub(crate) fn left(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Short {
                field,
                needed: n,
                left: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Peek at what is left without consuming it.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(field).map(|[b]| b)
    }

    pub(crate) fn u16_le(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_le_bytes)
    }

    pub(crate) fn u16_be(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_be_bytes)
    }

    pub(crate) fn u32_le(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_le_bytes)
    }

    pub(crate) fn i32_le(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_le_bytes)
    }

    pub(crate) fn u32_be(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }
}

/// Writes `bytes` and then zeros up to `width` bytes in all (truncating `bytes` if it is longer).
pub(crate) fn put_padded(out: &mut impl BufMut, bytes: &[u8], width: usize) {
    let n = bytes.len().min(width);
    out.put_slice(bytes.get(..n).unwrap_or_default());
    out.put_bytes(0, width.saturating_sub(n));
}

/// A copy of the bytes as a `Bytes`.
pub(crate) fn bytes_of(slice: &[u8]) -> Bytes {
    Bytes::copy_from_slice(slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_read_names_field_and_keeps_position() {
        let mut r = Reader::new(&[1, 0, 0]);
        assert_eq!(
            r.u32_le("lineInstance"),
            Err(DecodeError::Short {
                field: "lineInstance",
                needed: 4,
                left: 3
            })
        );
        assert_eq!(r.left(), 3);
        assert_eq!(r.u16_le("a"), Ok(1));
        assert_eq!(r.u8("c"), Ok(0));
        assert!(r.is_empty());
    }

    #[test]
    fn padded_writes_truncate_and_fill() {
        let mut out = Vec::new();
        put_padded(&mut out, b"abcdef", 4);
        put_padded(&mut out, b"ab", 4);
        assert_eq!(out, b"abcdab\0\0");
    }
}
