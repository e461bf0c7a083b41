//! The SIP message model: a tolerant, zero-copy parser, a serializer and stream framing
//! (RFC 3261 §7, §18.3, §19, §20, §25; RFC 4475 and RFC 5118 torture messages).
//!
//! # Design
//! * [`SipMessage::parse`] splits a datagram into [`StartLine`], [`Headers`] and body. Header
//!   values stay [`bytes::Bytes`] slices of the input; typed values ([`Via`], [`NameAddr`],
//!   [`CSeq`], [`Contact`], ...) are parsed only when an accessor asks for them, so a proxy pays only
//!   for what it reads.
//! * Parsing is liberal where RFC 3261 §7.3.1/§25 allow it (LWS, folding, compact names, case,
//!   extension methods, unknown schemes kept raw) and strict where RFC 4475 expects a rejection.
//!   [`SipMessage::validate`] performs the checks a server makes before acting on a request
//!   (RFC 3261 §8.2, §16.3): required headers, their syntax, CSeq method, version.
//! * [`ParseError::status_code`] says how to answer: 400, 505 (version) or 416 (scheme).
//! * [`StreamFramer`] cuts a TCP/TLS byte stream at Content-Length, answers the RFC 5626 keep-alive
//!   ping and returns [`FrameError`] only when the stream can no longer be framed.
//!
//! We do not use the `rsip` crate: it rejects a large part of the RFC 4475 must-parse set and all
//! RFC 5118 IPv6 messages, ignores compact forms and cannot frame streams
//! (`docs/protocols/sip.md` §1.1); this module is its replacement, depending only on `bytes` and
//! `thiserror`.
//!
//! # Deviations from the shared API plan
//! * URIs with a scheme other than `sip`/`sips` keep their text after the colon in `host` as
//!   [`Host::Name`] (read it with [`Uri::opaque`]); [`Uri::parse`] accepts them so To/From/Contact
//!   with `tel:`/`isbn:` parse. In the Request-URI every non-SIP scheme becomes [`RequestUri::Raw`];
//!   [`RequestUri::as_sip`] returns the 416 error for it.
//! * [`Params::get`] returns `Some("")` for a parameter without value; [`Params::get_unquoted`]
//!   strips quotes. [`Via::received`] is the raw text, [`Via::received_ip`] the address.
//! * Equality of [`SipMessage`] ignores Content-Length headers: [`SipMessage::to_bytes`] always
//!   rewrites Content-Length from the body, so it is not part of the message's identity.
//! * The stream framer's pull method is [`StreamFramer::next_frame`] (a method named `next` on a
//!   non-iterator trips clippy's `should_implement_trait`); it returns [`Frame`] items (`Message`,
//!   `Malformed`, `Ping`).
//! * Extra helpers beyond the plan: [`SipMessage::request_uri`], [`SipMessage::version`],
//!   [`SipMessage::option_tags`], [`SipMessage::content_type`], [`SipMessage::new_request`],
//!   [`SipMessage::new_response`], [`Via::new`], [`Via::has_magic_cookie`], [`Uri::sip`],
//!   [`NameAddr::new`], [`Headers::count`]/[`Headers::contains`], [`HeaderName::compact`].
//! * [`SipMessage::max_forwards`] rejects values above 255 (RFC 3261 §20.22); [`SipMessage::expires`]
//!   rejects values above 2^32 - 1.

mod build;
mod error;
mod framer;
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod lex;
mod method;
mod name_addr;
mod params;
mod parse;
pub mod text;
mod uri;
mod validate;
mod via;

use std::fmt;

use bytes::Bytes;

use text::Decimal;

pub use build::reason_phrase;
pub use build::response_to;
pub use error::{FrameError, ParseError};
pub use framer::{Frame, MAX_MESSAGE, StreamFramer};
pub(crate) use header::push_list_values;
pub use header::{Header, HeaderName, Headers};
pub use method::Method;
pub(crate) use name_addr::raw_header_param;
pub use name_addr::{Contact, ContactRef, NameAddr, NameAddrRef};
pub use params::{Params, ParamsRef};
pub use text::shown;
pub use uri::{Host, HostRef, Scheme, Uri, UriRef};
pub use validate::Validated;
pub use via::{CSeq, MAGIC_COOKIE, Via, ViaRef};

use error::bad;
use lex::digits_u64;

/// A SIP protocol version (`SIP/2.0`, RFC 3261 §7.1). Others parse, and are refused by
/// [`SipMessage::validate`] with 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major number.
    pub major: u16,
    /// Minor number.
    pub minor: u16,
}

impl Version {
    /// SIP/2.0.
    pub const SIP_2_0: Self = Self { major: 2, minor: 0 };
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SIP/")?;
        f.write_str(Decimal::new(u64::from(self.major)).as_str())?;
        f.write_str(".")?;
        f.write_str(Decimal::new(u64::from(self.minor)).as_str())
    }
}

/// The Request-URI: a SIP/SIPS URI, or the raw text of any other scheme (answered 416).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestUri {
    /// A `sip:` or `sips:` URI.
    Parsed(Uri),
    /// Another scheme, verbatim (`nobodyKnowsThisScheme:totallyopaquecontent`).
    Raw(String),
}

impl RequestUri {
    /// The SIP URI, or [`ParseError::UnsupportedScheme`] (416, RFC 3261 §8.2.2.1) for a raw one.
    ///
    /// # Errors
    /// As described.
    pub fn as_sip(&self) -> Result<&Uri, ParseError> {
        match self {
            Self::Parsed(u) => Ok(u),
            Self::Raw(r) => Err(ParseError::UnsupportedScheme {
                scheme: r.split(':').next().unwrap_or("").to_owned(),
            }),
        }
    }
}

impl fmt::Display for RequestUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parsed(u) => u.fmt(f),
            Self::Raw(r) => f.write_str(r),
        }
    }
}

/// The first line of a message (RFC 3261 §7.1, §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP-Version`
    Request {
        /// The method.
        method: Method,
        /// The Request-URI.
        uri: RequestUri,
        /// The version.
        version: Version,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`
    Response {
        /// The version.
        version: Version,
        /// Status code, 100..=699.
        code: u16,
        /// Reason phrase (may be empty, RFC 4475 §3.1.1.13 noreason).
        reason: String,
    },
}

impl fmt::Display for StartLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request {
                method,
                uri,
                version,
            } => {
                f.write_str(method.as_str())?;
                f.write_str(" ")?;
                fmt::Display::fmt(uri, f)?;
                f.write_str(" ")?;
                fmt::Display::fmt(version, f)
            }
            Self::Response {
                version,
                code,
                reason,
            } => {
                fmt::Display::fmt(version, f)?;
                f.write_str(" ")?;
                f.write_str(Decimal::new(u64::from(*code)).as_str())?;
                f.write_str(" ")?;
                f.write_str(reason)
            }
        }
    }
}

/// A SIP request or response.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// Request line or status line.
    pub start: StartLine,
    /// Header lines in order.
    pub headers: Headers,
    /// The body (exactly Content-Length bytes when that header is present).
    pub body: Bytes,
}

impl PartialEq for SipMessage {
    /// Start line, body and all headers except Content-Length (which is derived from the body).
    fn eq(&self, other: &Self) -> bool {
        let non_cl = |m: &Self| {
            m.headers
                .iter()
                .filter(|h| h.name != HeaderName::CONTENT_LENGTH)
                .cloned()
                .collect::<Vec<_>>()
        };
        self.start == other.start && self.body == other.body && non_cl(self) == non_cl(other)
    }
}

impl Eq for SipMessage {}

impl SipMessage {
    /// Parses one message from a datagram. Octets after Content-Length bytes of body are ignored
    /// (RFC 4475 §3.1.1.8 dblreq); without Content-Length the body is the rest of the datagram.
    ///
    /// # Errors
    /// [`ParseError`] if the start line or a header line is malformed, the head is not UTF-8, or
    /// Content-Length is invalid, conflicting or larger than the data.
    pub fn parse(datagram: Bytes) -> Result<Self, ParseError> {
        parse::parse_message(datagram)
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method (`None` for responses; use [`SipMessage::cseq`] there).
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&RequestUri> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The protocol version of the start line.
    pub fn version(&self) -> Version {
        match &self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => *version,
        }
    }

    fn single(&self, name: &HeaderName) -> Result<&str, ParseError> {
        self.headers
            .get(name)
            .ok_or_else(|| ParseError::MissingHeader { name: name.clone() })
    }

    fn list<'a, T>(
        &'a self,
        name: &HeaderName,
        f: impl Fn(&'a str) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut out = Vec::new();
        self.each(name, f, |v| out.push(v))?;
        Ok(out)
    }

    /// Parses every value of every `name` line with `f`, handing each to `sink`.
    fn each<'a, T>(
        &'a self,
        name: &HeaderName,
        mut f: impl FnMut(&'a str) -> Result<T, ParseError>,
        mut sink: impl FnMut(T),
    ) -> Result<(), ParseError> {
        for line in self.headers.get_all(name) {
            let parts = lex::top_parts(line, b',').ok_or_else(|| ParseError::InvalidHeader {
                name: name.clone(),
                what: "unterminated quoted string",
            })?;
            for part in parts {
                sink(f(part).map_err(|e| e.in_header(name))?);
            }
        }
        Ok(())
    }

    /// Checks every value of every `name` line with `f`; returns how many there are.
    pub(crate) fn check_each<'a, T>(
        &'a self,
        name: &HeaderName,
        f: impl FnMut(&'a str) -> Result<T, ParseError>,
    ) -> Result<usize, ParseError> {
        let mut n = 0usize;
        self.each(name, f, |_| n = n.saturating_add(1))?;
        Ok(n)
    }

    /// All Via values, top first (RFC 3261 §20.42).
    ///
    /// # Errors
    /// [`ParseError::InvalidHeader`] (or [`ParseError::Version`]) if any Via is malformed.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.list(&HeaderName::VIA, Via::parse)
    }

    /// All Via values borrowed from the message, top first.
    ///
    /// # Errors
    /// As [`SipMessage::vias`].
    pub fn via_refs(&self) -> Result<Vec<ViaRef<'_>>, ParseError> {
        self.list(&HeaderName::VIA, ViaRef::parse)
    }

    /// The topmost Via.
    ///
    /// # Errors
    /// [`ParseError::MissingHeader`] if there is none, otherwise as [`SipMessage::vias`] for the first.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        self.top_via_ref().map(|v| v.to_via())
    }

    /// The topmost Via, borrowed from the message.
    ///
    /// # Errors
    /// As [`SipMessage::top_via`].
    pub fn top_via_ref(&self) -> Result<ViaRef<'_>, ParseError> {
        let line = self.single(&HeaderName::VIA)?;
        let first = lex::top_parts(line, b',')
            .and_then(|mut p| p.next())
            .unwrap_or(line);
        ViaRef::parse(first).map_err(|e| e.in_header(&HeaderName::VIA))
    }

    /// The `branch` of the topmost Via, found without checking the rest of that Via: the same text
    /// as `top_via_ref()?.branch()` whenever the Via is well formed. For matching a response to the
    /// client transaction that sent it (RFC 3261 §17.1.3), where the branch is ours and the Via is
    /// removed before the response goes on, and for keying a request we built.
    pub fn top_via_branch(&self) -> Option<&str> {
        let line = self.headers.get(&HeaderName::VIA)?;
        let first = lex::top_parts(line, b',')
            .and_then(|mut p| p.next())
            .unwrap_or(line);
        let params = first.get(lex::find_byte(first, b';')?.checked_add(1)?..)?;
        ParamsRef::header_unchecked(params)
            .get("branch")
            .filter(|b| !b.is_empty())
    }

    /// The From header (RFC 3261 §20.20).
    ///
    /// # Errors
    /// Missing or malformed header.
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.single(&HeaderName::FROM)?).map_err(|e| e.in_header(&HeaderName::FROM))
    }

    /// The To header (RFC 3261 §20.39).
    ///
    /// # Errors
    /// Missing or malformed header.
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.single(&HeaderName::TO)?).map_err(|e| e.in_header(&HeaderName::TO))
    }

    /// The From header, borrowed from the message.
    ///
    /// # Errors
    /// As [`SipMessage::from`].
    pub fn from_ref(&self) -> Result<NameAddrRef<'_>, ParseError> {
        NameAddrRef::parse(self.single(&HeaderName::FROM)?)
            .map_err(|e| e.in_header(&HeaderName::FROM))
    }

    /// The To header, borrowed from the message.
    ///
    /// # Errors
    /// As [`SipMessage::to`].
    pub fn to_ref(&self) -> Result<NameAddrRef<'_>, ParseError> {
        NameAddrRef::parse(self.single(&HeaderName::TO)?).map_err(|e| e.in_header(&HeaderName::TO))
    }

    /// The `tag` parameter of the From or To header (`name`) as it is on the wire, without parsing
    /// the address; `None` when absent or empty. For hot paths on a validated message.
    pub fn raw_tag(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| raw_header_param(v, "tag"))
            .filter(|t| !t.is_empty())
    }

    /// The Call-ID (RFC 3261 §20.8), as received.
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get(&HeaderName::CALL_ID)
    }

    /// The CSeq (RFC 3261 §20.16).
    ///
    /// # Errors
    /// Missing or malformed header.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.single(&HeaderName::CSEQ)?).map_err(|e| e.in_header(&HeaderName::CSEQ))
    }

    /// All Contact values over all Contact lines (RFC 3261 §20.10); `*` must stand alone.
    ///
    /// # Errors
    /// A malformed value, or `*` mixed with other contacts (RFC 3261 §10.3 step 6).
    pub fn contacts(&self) -> Result<Vec<Contact>, ParseError> {
        self.contact_refs()?
            .iter()
            .map(|c| {
                c.to_contact()
                    .map_err(|e| e.in_header(&HeaderName::CONTACT))
            })
            .collect()
    }

    /// All Contact values, borrowed from the message; as [`SipMessage::contacts`].
    ///
    /// # Errors
    /// As [`SipMessage::contacts`].
    pub fn contact_refs(&self) -> Result<Vec<ContactRef<'_>>, ParseError> {
        let v = self.list(&HeaderName::CONTACT, ContactRef::parse)?;
        star_alone(v.len(), v.contains(&ContactRef::Star))?;
        Ok(v)
    }

    /// Checks the Contact values as [`SipMessage::contacts`] does, copying nothing.
    pub(crate) fn check_contacts(&self) -> Result<(), ParseError> {
        let mut star = false;
        let n = self.check_each(&HeaderName::CONTACT, |s| {
            ContactRef::parse(s).map(|c| star |= c == ContactRef::Star)
        });
        star_alone(n?, star)
    }

    /// Max-Forwards (RFC 3261 §20.22), 0..=255.
    ///
    /// # Errors
    /// A value that is not a number in range.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        self.number(&HeaderName::MAX_FORWARDS, 255)
    }

    /// Expires (RFC 3261 §20.19), delta-seconds up to 2^32 - 1.
    ///
    /// # Errors
    /// A value that is not a number in range (RFC 4475 §3.1.2.5: a registrar may use its default).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.number(&HeaderName::EXPIRES, u64::from(u32::MAX))
    }

    fn number(&self, name: &HeaderName, max: u64) -> Result<Option<u32>, ParseError> {
        let Some(v) = self.headers.get(name) else {
            return Ok(None);
        };
        digits_u64(v)
            .filter(|n| *n <= max)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad("number out of range").in_header(name))
    }

    /// Route values, first hop first (RFC 3261 §20.34).
    ///
    /// # Errors
    /// A malformed value.
    pub fn routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.list(&HeaderName::ROUTE, NameAddr::parse)
    }

    /// Record-Route values (RFC 3261 §20.30).
    ///
    /// # Errors
    /// A malformed value.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.list(&HeaderName::RECORD_ROUTE, NameAddr::parse)
    }

    /// Path values (RFC 3327).
    ///
    /// # Errors
    /// A malformed value.
    pub fn paths(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.list(&HeaderName::PATH, NameAddr::parse)
    }

    /// Option tags of a Require / Proxy-Require / Supported / Unsupported header (RFC 3261 §20.32),
    /// for the 420 check of RFC 3261 §8.2.2.3 and §16.3 step 5.
    pub fn option_tags(&self, name: &HeaderName) -> Vec<&str> {
        self.headers.values(name)
    }

    /// The Content-Type value (the UAS answers 415 for types it does not understand, §8.2.3).
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(&HeaderName::CONTENT_TYPE)
    }
}

/// `*` must be the only Contact value (RFC 3261 §10.3 step 6).
fn star_alone(count: usize, star: bool) -> Result<(), ParseError> {
    if count > 1 && star {
        return Err(ParseError::InvalidHeader {
            name: HeaderName::CONTACT,
            what: "* with other contacts",
        });
    }
    Ok(())
}
