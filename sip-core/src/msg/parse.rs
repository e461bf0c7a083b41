//! Splitting a datagram into start line, header lines and body (RFC 3261 §7, §7.3.1, §7.5, §18.3).
//!
//! Tolerances: CRLF before the start line is skipped (§7.5); a bare LF ends a line as well as CRLF;
//! LWS is allowed between a header name and its colon and around the value; lines starting with SP
//! or HTAB continue the previous header (folding, replaced by one SP). The request line, by
//! contrast, must use exactly one SP between its three elements (RFC 4475 §3.1.2.7–3.1.2.9).

use bytes::{Bytes, BytesMut};

use super::error::ParseError;
use super::header::{Header, HeaderName, Headers};
use super::lex::{digits_u64, is_token, is_ws, trim_ws};
use super::method::Method;
use super::uri::Uri;
use super::{RequestUri, SipMessage, StartLine, Version};

/// Byte range of one physical line (without its line ending) and where the next line starts.
fn next_line(buf: &[u8], start: usize) -> Option<(usize, usize, usize)> {
    let rest = buf.get(start..)?;
    if rest.is_empty() {
        return None;
    }
    match memchr::memchr(b'\n', rest) {
        Some(lf) => {
            let end = start.checked_add(lf)?;
            let content_end = if lf > 0 && rest.get(lf.checked_sub(1)?) == Some(&b'\r') {
                end.checked_sub(1)?
            } else {
                end
            };
            Some((start, content_end, end.checked_add(1)?))
        }
        None => Some((start, buf.len(), buf.len())),
    }
}

/// Where the header section starting at `from` ends: just after the line ending of its last header
/// line (where the empty line starts), or the end of `buf` if no empty line follows.
fn head_end(buf: &[u8], from: usize) -> usize {
    let rest = buf.get(from..).unwrap_or_default();
    // The first line ending followed by an empty line (LF or CRLF), in one pass over the line ends.
    memchr::memchr_iter(b'\n', rest)
        .find(|&i| {
            matches!(
                rest.get(i.saturating_add(1)..),
                Some([b'\n', ..] | [b'\r', b'\n', ..])
            )
        })
        .map_or(buf.len(), |i| from.saturating_add(i).saturating_add(1))
}

/// The header section as text, checked as UTF-8 in one pass: the text (up to the first invalid byte,
/// if any) and the number of the line holding that byte, counting the start line as 1.
fn head_text(head: &[u8]) -> (&str, Option<usize>) {
    match std::str::from_utf8(head) {
        Ok(text) => (text, None),
        Err(e) => {
            let valid = head.get(..e.valid_up_to()).unwrap_or_default();
            let line = memchr::memchr_iter(b'\n', valid).count().saturating_add(1);
            (std::str::from_utf8(valid).unwrap_or(""), Some(line))
        }
    }
}

/// Parses one whole message from a datagram (or a frame cut by the stream framer).
pub(crate) fn parse_message(data: Bytes) -> Result<SipMessage, ParseError> {
    let buf: &[u8] = &data;
    let mut pos = 0usize;
    // RFC 3261 §7.5: ignore empty lines before the start line.
    while let Some((s, e, next)) = next_line(buf, pos) {
        if s != e {
            break;
        }
        pos = next;
    }
    // Start line and headers are text (the body need not be): checked once, then cut at line ends
    // and colons, which are ASCII and so always character boundaries.
    let head_start = pos;
    let (head, bad_line) = head_text(
        buf.get(head_start..head_end(buf, head_start))
            .unwrap_or_default(),
    );
    let text_of = |s: usize, e: usize, line: usize| {
        if bad_line == Some(line) {
            return Err(ParseError::NotUtf8 { line });
        }
        head.get(s.saturating_sub(head_start)..e.saturating_sub(head_start))
            .ok_or(ParseError::NotUtf8 { line })
    };
    let (s, e, mut pos) = next_line(buf, pos).ok_or(ParseError::Empty)?;
    let start = parse_start_line(text_of(s, e, 1)?)?;

    // Room for a typical message's headers: growing by doubling from empty cost three `realloc`s
    // per message.
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    // Pending header: name, first value range, continuation pieces.
    let mut pending: Option<Pending> = None;
    let mut line_no = 1usize;
    let mut body_start = None;
    while let Some((s, e, next)) = next_line(buf, pos) {
        line_no = line_no.saturating_add(1);
        pos = next;
        let line = buf.get(s..e).unwrap_or_default();
        if line.is_empty() {
            body_start = Some(next);
            break;
        }
        let text = text_of(s, e, line_no)?;
        if line.first().is_some_and(|b| is_ws(*b)) {
            let (_, _, _, pieces) = pending.as_mut().ok_or(ParseError::HeaderLine {
                line: line_no,
                what: "continuation without header",
            })?;
            pieces.push((s, e));
            continue;
        }
        if let Some(p) = pending.take() {
            headers.push(finish_header(&data, p));
        }
        let colon = memchr::memchr(b':', line).ok_or(ParseError::HeaderLine {
            line: line_no,
            what: "no colon",
        })?;
        // The colon is ASCII, so the text before it is a whole UTF-8 string of its own.
        let name = trim_ws(text.get(..colon).unwrap_or_default());
        if !is_token(name) {
            return Err(ParseError::HeaderLine {
                line: line_no,
                what: "header name is not a token",
            });
        }
        let vstart = s.saturating_add(colon).saturating_add(1);
        pending = Some((HeaderName::new(name), vstart, e, Vec::new()));
    }
    if let Some(p) = pending.take() {
        headers.push(finish_header(&data, p));
    }
    let headers = Headers::from(headers);
    let rest = match body_start {
        Some(b) => data.slice(b.min(data.len())..),
        None => Bytes::new(),
    };
    let body = match content_length(&headers)? {
        Some(len) if len > rest.len() => {
            return Err(ParseError::Truncated {
                declared: len,
                available: rest.len(),
            });
        }
        // RFC 4475 §3.1.1.8 dblreq: octets after Content-Length are not part of this message.
        Some(len) => rest.slice(..len),
        // Datagram without Content-Length: the body is the rest of the datagram (RFC 3261 §18.3).
        None => rest,
    };
    Ok(SipMessage {
        start,
        headers,
        body,
    })
}

/// A header being collected: name, first value range, continuation line ranges.
type Pending = (HeaderName, usize, usize, Vec<(usize, usize)>);

/// Builds the header value: a zero-copy slice for single lines, a joined copy for folded ones.
fn finish_header(data: &Bytes, (name, vs, ve, pieces): Pending) -> Header {
    let trim = |s: usize, e: usize| -> (usize, usize) {
        let b = data.get(s..e).unwrap_or_default();
        let lead = b.iter().take_while(|c| is_ws(**c)).count();
        let trail = b.iter().rev().take_while(|c| is_ws(**c)).count();
        let ns = s.saturating_add(lead);
        (ns, e.saturating_sub(trail).max(ns))
    };
    let first = trim(vs, ve);
    // Nearly every header is one line: its empty list is kept as it is.
    let rest: Vec<(usize, usize)> = if pieces.is_empty() {
        pieces
    } else {
        pieces
            .into_iter()
            .map(|(s, e)| trim(s, e))
            .filter(|(s, e)| s < e)
            .collect()
    };
    if rest.is_empty() {
        return Header {
            name,
            value: data.slice(first.0..first.1),
        };
    }
    let mut v = BytesMut::new();
    for (s, e) in std::iter::once(first).chain(rest) {
        if s >= e {
            continue;
        }
        if !v.is_empty() {
            v.extend_from_slice(b" ");
        }
        v.extend_from_slice(data.get(s..e).unwrap_or_default());
    }
    Header {
        name,
        value: v.freeze(),
    }
}

/// The Content-Length of the headers: `None` if absent; an error if unparsable or inconsistent
/// (RFC 4475 §3.1.2.3 ncl, §3.3.13 mcl01).
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for v in headers.get_all(&HeaderName::CONTENT_LENGTH) {
        let n = digits_u64(v)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(ParseError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

fn parse_version(s: &str) -> Result<Version, ParseError> {
    let bad = ParseError::StartLine { what: "version" };
    let prefix = s.get(..4).ok_or_else(|| bad.clone())?;
    if !prefix.eq_ignore_ascii_case("SIP/") {
        return Err(bad);
    }
    let (major, minor) = s
        .get(4..)
        .unwrap_or("")
        .split_once('.')
        .ok_or_else(|| bad.clone())?;
    let num = |s: &str| digits_u64(s).and_then(|v| u16::try_from(v).ok());
    match (num(major), num(minor)) {
        (Some(major), Some(minor)) => Ok(Version { major, minor }),
        _ => Err(bad),
    }
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = line.split_once(' ').ok_or(ParseError::StartLine {
            what: "status line",
        })?;
        let version = parse_version(version)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 {
            return Err(ParseError::StartLine {
                what: "status code",
            });
        }
        let code = digits_u64(code)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..=699).contains(c))
            .ok_or(ParseError::StartLine {
                what: "status code",
            })?;
        if reason.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(ParseError::StartLine {
                what: "reason phrase",
            });
        }
        return Ok(StartLine::Response {
            version,
            code,
            reason: reason.to_owned(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version, exactly one SP each.
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine {
            what: "request line must be METHOD SP URI SP VERSION",
        });
    };
    let method = Method::new(method).map_err(|_| ParseError::StartLine { what: "method" })?;
    let uri = RequestUri::parse(uri).map_err(|_| ParseError::StartLine {
        what: "Request-URI",
    })?;
    let version = parse_version(version)?;
    Ok(StartLine::Request {
        method,
        uri,
        version,
    })
}

impl RequestUri {
    /// Parses a Request-URI: `sip`/`sips` URIs fully, any other syntactically valid absolute URI as
    /// [`RequestUri::Raw`] (RFC 4475 §3.3.1 unkscm, §3.3.2 novelsc).
    ///
    /// # Errors
    /// [`ParseError::Value`] if it is not a URI at all (e.g. `<sip:...>`, RFC 4475 §3.1.2.6).
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let uri = Uri::parse(s)?;
        Ok(if uri.is_sip() {
            Self::Parsed(uri)
        } else {
            Self::Raw(s.to_owned())
        })
    }
}
