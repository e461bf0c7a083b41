//! Framing SIP over stream transports (RFC 3261 §18.3): messages are cut at Content-Length;
//! CRLF keep-alives (RFC 5626 §3.5.1, §4.4.1) are consumed between messages.

use bytes::{Bytes, BytesMut};

use super::SipMessage;
use super::error::{FrameError, ParseError};
use super::lex::{digits_u64, trim_ws};

/// Default upper bound for one message (header section plus body) on a stream: 64 KiB.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// One item cut from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete, parsed message.
    Message(SipMessage),
    /// A correctly framed message that does not parse; the stream continues. The driver may
    /// answer 400 if enough of it is readable, or log and drop it.
    Malformed {
        /// Why it failed.
        error: ParseError,
        /// The raw bytes of the message.
        raw: Bytes,
    },
    /// A double-CRLF keep-alive ping (RFC 5626 §4.4.1); answer with a single CRLF pong.
    Ping,
}

/// Incremental framer for one TCP/TLS connection: [`StreamFramer::push`] received bytes, then call
/// [`StreamFramer::next_frame`] until it returns `Ok(None)`.
///
/// A single CRLF between messages is skipped (RFC 3261 §7.5; also an RFC 5626 pong); a double CRLF
/// is a [`Frame::Ping`]. After an `Err(FrameError)` the connection must be closed.
#[derive(Debug, Clone)]
pub struct StreamFramer {
    buf: BytesMut,
    max: usize,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamFramer {
    /// A framer with the [`MAX_MESSAGE`] limit.
    pub fn new() -> Self {
        Self::with_max(MAX_MESSAGE)
    }

    /// A framer with a custom message size limit.
    pub fn with_max(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, `Ok(None)` if more bytes are needed.
    ///
    /// # Errors
    /// [`FrameError`] when the stream cannot be framed: no end of headers within the limit, a
    /// message larger than the limit, or a missing, invalid or conflicting Content-Length.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.buf.as_ref() {
                [b'\r', b'\n', b'\r', b'\n', ..] => {
                    let _ = self.buf.split_to(4);
                    return Ok(Some(Frame::Ping));
                }
                [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return Ok(None),
                [b'\r', b'\n', ..] => {
                    let _ = self.buf.split_to(2);
                }
                [b'\n', ..] => {
                    let _ = self.buf.split_to(1);
                }
                _ => break,
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some(head_len) = head_end(&self.buf) else {
            return if self.buf.len() > self.max {
                Err(FrameError::HeadTooLarge { max: self.max })
            } else {
                Ok(None)
            };
        };
        let body_len = stream_content_length(self.buf.get(..head_len).unwrap_or_default())?;
        let total = head_len.checked_add(body_len).ok_or(FrameError::TooLarge {
            len: usize::MAX,
            max: self.max,
        })?;
        if total > self.max {
            return Err(FrameError::TooLarge {
                len: total,
                max: self.max,
            });
        }
        if self.buf.len() < total {
            self.buf.reserve(total.saturating_sub(self.buf.len()));
            return Ok(None);
        }
        let raw = self.buf.split_to(total).freeze();
        Ok(Some(match SipMessage::parse(raw.clone()) {
            Ok(m) => Frame::Message(m),
            Err(error) => Frame::Malformed { error, raw },
        }))
    }
}

/// Length of the header section including the empty line (CRLF CRLF, or bare LFs).
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0usize;
    while let Some(lf) = buf.get(i..)?.iter().position(|b| *b == b'\n') {
        let after = i.checked_add(lf)?.checked_add(1)?;
        match buf.get(after..)? {
            [b'\n', ..] => return after.checked_add(1),
            [b'\r', b'\n', ..] => return after.checked_add(2),
            _ => i = after,
        }
    }
    None
}

/// Content-Length from a raw header section (also the compact `l`); mandatory on streams.
fn stream_content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<usize> = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let name = std::str::from_utf8(line.get(..colon).unwrap_or_default())
            .map(trim_ws)
            .unwrap_or("");
        if !(name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")) {
            continue;
        }
        let value = std::str::from_utf8(line.get(colon.saturating_add(1)..).unwrap_or_default())
            .unwrap_or("");
        let value = value.trim_end_matches('\r');
        let n = digits_u64(trim_ws(value))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(FrameError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(FrameError::BadContentLength);
        }
        found = Some(n);
    }
    found.ok_or(FrameError::MissingContentLength)
}
