//! Serialization and construction: [`SipMessage::to_bytes`], [`response_to`] (RFC 3261 §8.2.6)
//! and the default reason phrases of RFC 3261 §21 and its extensions.

use std::fmt::Write as _;

use bytes::Bytes;

use super::header::{HeaderName, Headers};
use super::method::Method;
use super::text::{Decimal, StackText, shown};
use super::uri::Uri;
use super::{RequestUri, SipMessage, StartLine, Version};

impl SipMessage {
    /// A request with the given method and Request-URI and no headers.
    pub fn new_request(method: Method, uri: Uri) -> Self {
        Self {
            start: StartLine::Request {
                method,
                uri: RequestUri::Parsed(uri),
                version: Version::SIP_2_0,
            },
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// A response with the given code, the default reason phrase if `reason` is empty, and no headers.
    pub fn new_response(code: u16, reason: &str) -> Self {
        let reason = if reason.is_empty() {
            reason_phrase(code)
        } else {
            reason
        };
        Self {
            start: StartLine::Response {
                version: Version::SIP_2_0,
                code,
                reason: reason.to_owned(),
            },
            headers: Headers::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// Serializes the message: start line, headers in order under their canonical names, then a
    /// Content-Length equal to the body length (replacing any Content-Length header, RFC 3261
    /// §20.14; it stays where the first one was, or goes last), the empty line and the body.
    pub fn to_bytes(&self) -> Bytes {
        // The buffer is allocated at its exact final size: a `Bytes` made from a buffer with room to
        // spare allocates a second time for its shared header, once per message sent.
        let mut start = StackText::new();
        let _ = write!(start, "{}", self.start);
        let cl = Decimal::new(u64::try_from(self.body.len()).unwrap_or(u64::MAX));
        let cl_line = [
            b"Content-Length: ".as_slice(),
            cl.as_str().as_bytes(),
            b"\r\n",
        ];
        let line_len =
            |name: &str, value: &[u8]| name.len().saturating_add(value.len()).saturating_add(4);
        let headers: usize = self
            .headers
            .iter()
            .filter(|h| h.name != HeaderName::CONTENT_LENGTH)
            .map(|h| line_len(h.name.as_str(), &h.value))
            .fold(0, usize::saturating_add);
        let total = [
            start.as_str().len(),
            2,
            headers,
            cl_line.iter().map(|p| p.len()).sum(),
            2,
            self.body.len(),
        ]
        .into_iter()
        .fold(0, usize::saturating_add);
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(start.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut wrote_cl = false;
        for h in &self.headers {
            if h.name == HeaderName::CONTENT_LENGTH {
                if !wrote_cl {
                    cl_line.iter().for_each(|p| out.extend_from_slice(p));
                    wrote_cl = true;
                }
                continue;
            }
            put_header(&mut out, h.name.as_str(), &h.value);
        }
        if !wrote_cl {
            cl_line.iter().for_each(|p| out.extend_from_slice(p));
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }

    /// Adds `;tag=` to the To header if it has no tag yet (a UAS answering outside a dialog,
    /// RFC 3261 §8.2.6.2). The original text of the header is kept.
    #[must_use]
    pub fn with_to_tag(mut self, tag: &str) -> Self {
        let Some(to) = self.headers.get(&HeaderName::TO) else {
            return self;
        };
        // Only the tag is needed: the To value was checked when the request was validated.
        if super::raw_header_param(to, "tag").is_some_and(|t| !t.is_empty()) {
            return self;
        }
        let value = shown(&format_args!("{to};tag={tag}"));
        self.headers.set(HeaderName::TO, value);
        self
    }
}

fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Builds a response to `req` per RFC 3261 §8.2.6: the Via headers (all, in order), From, To,
/// Call-ID and CSeq are copied verbatim, and for 100 Trying also Timestamp (§8.2.6.1). An empty
/// `reason` means [`reason_phrase`]`(code)`. Add a To tag with [`SipMessage::with_to_tag`];
/// Record-Route (for dialog-creating responses, §12.1.1) is left to the caller.
pub fn response_to(req: &SipMessage, code: u16, reason: &str) -> SipMessage {
    let mut resp = SipMessage::new_response(code, reason);
    let copy = |resp: &mut SipMessage, name: &HeaderName| {
        for h in req.headers.iter().filter(|h| &h.name == name) {
            resp.headers.push(h.name.clone(), h.value.clone());
        }
    };
    copy(&mut resp, &HeaderName::VIA);
    for name in [
        HeaderName::FROM,
        HeaderName::TO,
        HeaderName::CALL_ID,
        HeaderName::CSEQ,
    ] {
        if let Some(h) = req.headers.iter().find(|h| h.name == name) {
            resp.headers.push(h.name.clone(), h.value.clone());
        }
    }
    if code == 100 {
        copy(&mut resp, &HeaderName::TIMESTAMP);
    }
    resp
}

/// The default reason phrase for a status code (RFC 3261 §21 and the RFCs that added codes);
/// for unknown codes, the phrase of the class (`x00`).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        430 => "Flow Failed",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        608 => "Rejected",
        _ => match code / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Multiple Choices",
            4 => "Bad Request",
            5 => "Server Internal Error",
            6 => "Busy Everywhere",
            _ => "Unknown",
        },
    }
}
