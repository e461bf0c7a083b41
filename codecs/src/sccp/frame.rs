//! SCCP framing: the 12-byte little-endian header and the byte stream it cuts into messages.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `length`: bytes after the first eight, i.e. 4 (the message id) + the body |
//! | 4 | 4 | header version: 0 ("basic") or the negotiated protocol version |
//! | 8 | 4 | message id |
//!
//! (Wireshark's dissector computes the PDU length as `length + 8`; chan-sccp-b builds `length` as body + 4;
//! both are described in `docs/protocols/sccp.md` §2.2.) Only a bad `length` is fatal to a stream: once it
//! is wrong, nothing after it can be framed. A body that does not decode is a per-message problem
//! ([`super::BodyError`]) and the stream goes on.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::MessageId;

/// Size of the SCCP header.
pub const HEADER_LEN: usize = 12;

/// The largest `length` accepted (message id + body). The largest messages seen from real phones are
/// EnhancedAlarm (about 2 KB of XML) and UpdateCapabilities (1.8 KB); 16 KiB leaves room for the XML
/// application messages while stopping a garbage length from buffering megabytes.
pub const MAX_LENGTH: u32 = 16 * 1024;

/// A framed message whose body is not decoded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The header version field as received (0 or a protocol version; not to be trusted for layouts).
    pub header_version: u32,
    /// The message id.
    pub id: MessageId,
    /// The body: everything after the 12-byte header.
    pub body: Bytes,
}

impl RawFrame {
    /// The frame's size on the wire.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body.len())
    }

    /// Appends the frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        encode(self.id, self.header_version, &self.body, out);
    }
}

/// A stream that cannot be framed any further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// `length` is smaller than the 4 bytes of the message id.
    #[error("SCCP length {0} is shorter than the message id")]
    TooShort(u32),
    /// `length` is larger than [`MAX_LENGTH`].
    #[error("SCCP length {0} exceeds the maximum of {MAX_LENGTH}")]
    TooLong(u32),
}

/// Cuts the next frame off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not hold a whole frame yet (and reserves room for it, as tokio-util
/// decoders do), `Ok(Some(frame))` when it does.
///
/// # Errors
///
/// [`FrameError`] when the length field is impossible; the stream is then unusable.
pub fn decode(buf: &mut BytesMut) -> Result<Option<RawFrame>, FrameError> {
    let Some(length) = peek_length(buf)? else {
        return Ok(None);
    };
    // length is at most MAX_LENGTH, so this cannot overflow.
    let total = (length as usize).saturating_add(8);
    if buf.len() < total {
        buf.reserve(total.saturating_sub(buf.len()));
        return Ok(None);
    }
    let mut frame = buf.split_to(total);
    frame.advance(4);
    let header_version = frame.get_u32_le();
    let id = MessageId(frame.get_u32_le());
    Ok(Some(RawFrame {
        header_version,
        id,
        body: frame.freeze(),
    }))
}

/// Checks the length field of the frame at the front of `buf`, if its first four bytes are there.
///
/// # Errors
///
/// [`FrameError`] when the length is impossible.
pub fn peek_length(buf: &[u8]) -> Result<Option<u32>, FrameError> {
    let Some(bytes) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let length = u32::from_le_bytes(*bytes);
    if length < 4 {
        return Err(FrameError::TooShort(length));
    }
    if length > MAX_LENGTH {
        return Err(FrameError::TooLong(length));
    }
    Ok(Some(length))
}

/// Appends a frame with this id, header version and body.
///
/// # Panics
///
/// If `body` is longer than `u32::MAX - 4` bytes (an API misuse: no SCCP message is near that size).
pub fn encode(id: MessageId, header_version: u32, body: &[u8], out: &mut BytesMut) {
    let length = u32::try_from(body.len())
        .ok()
        .and_then(|n| n.checked_add(4));
    #[allow(clippy::expect_used)] // documented under # Panics
    let length = length.expect("SCCP body larger than 4 GiB");
    out.reserve(HEADER_LEN.saturating_add(body.len()));
    out.put_u32_le(length);
    out.put_u32_le(header_version);
    out.put_u32_le(id.0);
    out.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_join() {
        // KeepAliveAck then half of a RegisterReject.
        let mut buf = BytesMut::from(
            &[
                4u8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, // KeepAliveAck (0x0100), empty
                8, 0, 0, 0, 0x14, 0, 0, 0, 0x9d, 0, 0, 0,
                b'a', // RegisterReject, 4-byte body, 1 here
            ][..],
        );
        let first = decode(&mut buf).unwrap().unwrap();
        assert_eq!(first.id, MessageId::KEEP_ALIVE_ACK);
        assert!(first.body.is_empty());
        assert_eq!(decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"bc\0");
        let second = decode(&mut buf).unwrap().unwrap();
        assert_eq!(second.header_version, 0x14);
        assert_eq!(&second.body[..], b"abc\0");
        assert!(buf.is_empty());
        let mut out = BytesMut::new();
        first.encode(&mut out);
        second.encode(&mut out);
        assert_eq!(out.len(), first.wire_len() + second.wire_len());
        assert_eq!(decode(&mut out).unwrap().unwrap(), first);
    }

    #[test]
    fn impossible_lengths_are_fatal() {
        let mut buf = BytesMut::from(&[3u8, 0, 0, 0][..]);
        assert_eq!(decode(&mut buf), Err(FrameError::TooShort(3)));
        let mut buf = BytesMut::from(&0x0100_0000u32.to_le_bytes()[..]);
        assert_eq!(decode(&mut buf), Err(FrameError::TooLong(0x0100_0000)));
    }
}
