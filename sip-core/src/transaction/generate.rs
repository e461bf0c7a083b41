//! The messages the transaction layer writes itself: the ACK for a 300–699 response (RFC 3261 §17.1.1.3),
//! the automatic 100 Trying (§17.2.1 with §8.2.6.1) and, for the TU's convenience, a CANCEL (§9.1).
//!
//! They are built from header lines of the messages they answer, cloned as they are (the values are
//! `Bytes` slices, so nothing is re-parsed or copied but the top Via).

use bytes::Bytes;

use crate::msg::{HeaderName, Headers, Method, SipMessage, StartLine};

/// Copies every line of the headers named in `names` from `from`, in their original order.
fn copy_lines(from: &Headers, to: &mut Headers, names: &[&HeaderName]) {
    for header in from.iter() {
        if names.contains(&&header.name) {
            to.push(header.name.clone(), header.value.clone());
        }
    }
}

/// The first Via value of `msg` (a header line may hold several, comma-separated).
fn top_via(msg: &SipMessage) -> Option<Bytes> {
    msg.headers
        .values(&HeaderName::VIA)
        .first()
        .map(|v| Bytes::copy_from_slice(v.as_bytes()))
}

/// A request with `method` that shares the original request's identity: its Request-URI, one Via (the
/// original's top one), From, Call-ID, CSeq number, Max-Forwards and Route set (§9.1, §17.1.1.3). `to`
/// is the To header value to use.
fn sibling(request: &SipMessage, method: Method, to: Option<Bytes>) -> SipMessage {
    let mut headers = Headers::new();
    if let Some(via) = top_via(request) {
        headers.push(HeaderName::VIA, via);
    }
    copy_lines(&request.headers, &mut headers, &[&HeaderName::MAX_FORWARDS]);
    if !headers.contains(&HeaderName::MAX_FORWARDS) {
        headers.push(HeaderName::MAX_FORWARDS, Bytes::from_static(b"70"));
    }
    copy_lines(&request.headers, &mut headers, &[&HeaderName::FROM]);
    match to {
        Some(to) => headers.push(HeaderName::TO, to),
        None => copy_lines(&request.headers, &mut headers, &[&HeaderName::TO]),
    }
    copy_lines(&request.headers, &mut headers, &[&HeaderName::CALL_ID]);
    if let Ok(cseq) = request.cseq() {
        headers.push(HeaderName::CSEQ, format!("{} {method}", cseq.seq));
    }
    copy_lines(&request.headers, &mut headers, &[&HeaderName::ROUTE]);
    let start = match &request.start {
        StartLine::Request { uri, version, .. } => StartLine::Request {
            method,
            uri: uri.clone(),
            version: *version,
        },
        other => other.clone(),
    };
    SipMessage {
        start,
        headers,
        body: Bytes::new(),
    }
}

/// The ACK for a 300–699 `response` to the INVITE `request` (§17.1.1.3): the request's identity, with
/// the To header of the response (it carries the UAS's tag).
pub(crate) fn ack_for(request: &SipMessage, response: &SipMessage) -> SipMessage {
    let to = response
        .headers
        .iter()
        .find(|h| h.name == HeaderName::TO)
        .map(|h| h.value.clone());
    sibling(request, Method::ACK, to)
}

/// The CANCEL for the INVITE `request` (§9.1): the request's identity with the method CANCEL.
pub(crate) fn cancel_for(request: &SipMessage) -> SipMessage {
    sibling(request, Method::CANCEL, None)
}

/// The 100 Trying for `request` (§8.2.6.1): its Via lines, From, To (no tag is added), Call-ID, CSeq and
/// Timestamp.
pub(crate) fn trying_for(request: &SipMessage) -> SipMessage {
    let timestamp = HeaderName::new("Timestamp");
    let mut headers = Headers::new();
    let names = [
        &HeaderName::VIA,
        &HeaderName::FROM,
        &HeaderName::TO,
        &HeaderName::CALL_ID,
        &HeaderName::CSEQ,
        &timestamp,
    ];
    copy_lines(&request.headers, &mut headers, &names);
    let version = match &request.start {
        StartLine::Request { version, .. } | StartLine::Response { version, .. } => *version,
    };
    SipMessage {
        start: StartLine::Response {
            version,
            code: 100,
            reason: "Trying".to_owned(),
        },
        headers,
        body: Bytes::new(),
    }
}
