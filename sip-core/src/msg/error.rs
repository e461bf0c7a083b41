//! The error types of the message layer: [`ParseError`] (one message or one header is bad; the
//! message can be answered or dropped) and [`FrameError`] (a byte stream can no longer be framed).

use super::header::HeaderName;
use super::method::Method;

/// Why a message, a header value or a URI could not be accepted.
///
/// [`ParseError::status_code`] gives the response a server sends back for a request that fails this
/// way (RFC 3261 §8.2: 400 by default, 505 for an unsupported version, 416 for an unsupported
/// Request-URI scheme). Responses that fail are simply discarded (RFC 3261 §18.1.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but empty lines.
    #[error("empty message")]
    Empty,
    /// The request line or status line is malformed (RFC 3261 §7.1, §7.2).
    #[error("malformed start line: {what}")]
    StartLine {
        /// Which part was wrong.
        what: &'static str,
    },
    /// A version other than SIP/2.0 (answered 505 Version Not Supported, RFC 3261 §21.5.7).
    #[error("unsupported SIP version {major}.{minor}")]
    Version {
        /// Major version number as received.
        major: u16,
        /// Minor version number as received.
        minor: u16,
    },
    /// A header line without a colon, with a bad name, or a continuation line with nothing to continue.
    #[error("malformed header line {line}: {what}")]
    HeaderLine {
        /// 1-based line number within the message (the start line is line 1).
        line: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The start line or a header line is not UTF-8 (RFC 3261 §7.3.1 TEXT-UTF8).
    #[error("line {line} is not UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// Content-Length is not a number, or several Content-Length headers disagree (RFC 3261 §20.14).
    #[error("invalid or conflicting Content-Length")]
    BadContentLength,
    /// Content-Length announces more body than the datagram holds (RFC 3261 §18.3).
    #[error("Content-Length {declared} exceeds the {available} bytes available")]
    Truncated {
        /// The announced body length.
        declared: usize,
        /// The bytes actually present after the header section.
        available: usize,
    },
    /// A header a request or response must carry is absent (RFC 3261 §8.1.1).
    #[error("missing {name} header")]
    MissingHeader {
        /// The missing header.
        name: HeaderName,
    },
    /// A header that may appear once appears several times (RFC 3261 §7.3.1).
    #[error("{name} appears more than once")]
    DuplicateHeader {
        /// The repeated header.
        name: HeaderName,
    },
    /// A header value does not match its grammar.
    #[error("invalid {name} header: {what}")]
    InvalidHeader {
        /// The header whose value is malformed.
        name: HeaderName,
        /// The grammar element that failed.
        what: &'static str,
    },
    /// A stand-alone value (URI, name-addr, Via, CSeq, ...) does not match its grammar.
    #[error("invalid value: {what}")]
    Value {
        /// The grammar element that failed.
        what: &'static str,
    },
    /// The Request-URI uses a scheme other than sip/sips (answered 416, RFC 3261 §8.2.2.1).
    #[error("unsupported URI scheme {scheme:?}")]
    UnsupportedScheme {
        /// The scheme as received.
        scheme: String,
    },
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method {cseq} does not match request method {request}")]
    CSeqMismatch {
        /// The method of the request line.
        request: Method,
        /// The method in CSeq.
        cseq: Method,
    },
}

impl ParseError {
    /// The status code a server answers a request failing this way with: 505 for
    /// [`ParseError::Version`], 416 for [`ParseError::UnsupportedScheme`], otherwise 400.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Version { .. } => 505,
            Self::UnsupportedScheme { .. } => 416,
            _ => 400,
        }
    }

    /// Attaches a header name to a [`ParseError::Value`] error.
    pub(crate) fn in_header(self, name: &HeaderName) -> Self {
        match self {
            Self::Value { what } => Self::InvalidHeader {
                name: name.clone(),
                what,
            },
            other => other,
        }
    }
}

/// Shorthand for a [`ParseError::Value`].
pub(crate) fn bad(what: &'static str) -> ParseError {
    ParseError::Value { what }
}

/// A stream-fatal framing failure (RFC 3261 §18.3): the byte stream cannot be split into messages any
/// more, so the connection must be closed. A single malformed message inside a well-framed stream is
/// not a `FrameError`; it comes back as [`super::Frame::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// No end of the header section within the size limit.
    #[error("header section longer than {max} bytes")]
    HeadTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The header section plus the announced body exceed the size limit.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Header section plus Content-Length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A message on a stream without Content-Length (mandatory on streams, RFC 3261 §18.3).
    #[error("message on a stream has no Content-Length")]
    MissingContentLength,
    /// Content-Length that is not a number or conflicting values: the body end is unknowable.
    #[error("invalid or conflicting Content-Length on a stream")]
    BadContentLength,
}
