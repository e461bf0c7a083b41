//! [`SipMessage::validate`]: the syntax checks a server makes before acting on a message
//! (RFC 3261 §8.2.1–8.2.2, §16.3 step 1, §18.1.2), shaped by the RFC 4475 §3.1.2 invalid set.

use super::error::ParseError;
use super::header::HeaderName;
use super::lex::is_token_byte;
use super::{NameAddrRef, RequestUri, SipMessage, StartLine, Version, ViaRef};

/// What [`SipMessage::validated`] read on the way, for the caller to use instead of parsing it again.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Validated<'a> {
    /// The To value.
    pub to: NameAddrRef<'a>,
}

impl SipMessage {
    /// Checks, in order: version is SIP/2.0 (else [`ParseError::Version`], 505); Via, From, To,
    /// Call-ID and CSeq are present, and From/To/Call-ID/CSeq/Max-Forwards appear once
    /// (RFC 4475 §3.3.9 multi01); every Via, From, To, CSeq, Contact, Route, Record-Route, Path and
    /// Max-Forwards value parses; Call-ID is a `callid`; a request's CSeq method equals its method
    /// (§8.1.1.5, RFC 4475 mismatch01/02); the Request-URI carries no `?headers` (§19.1.1 table,
    /// RFC 4475 escruri); Date, if present, is an RFC 1123 date in GMT (§20.17, RFC 4475 baddate);
    /// Content-Length, if present, equals the body length.
    ///
    /// Checks that are the TU's or proxy's decision are not made here: unknown Request-URI schemes
    /// ([`RequestUri::as_sip`], 416), Require/Proxy-Require (420), Content-Type (415), Accept (406),
    /// Max-Forwards 0 (483), the scheme of To in REGISTER (registrar, 400), Expires range.
    ///
    /// # Errors
    /// The first failing check.
    pub fn validate(&self) -> Result<(), ParseError> {
        self.validated().map(drop)
    }

    /// [`SipMessage::validate`], handing back the To value it parsed.
    ///
    /// # Errors
    /// As [`SipMessage::validate`].
    pub fn validated(&self) -> Result<Validated<'_>, ParseError> {
        let version = self.version();
        if version != Version::SIP_2_0 {
            return Err(ParseError::Version {
                major: version.major,
                minor: version.minor,
            });
        }
        for name in [
            HeaderName::VIA,
            HeaderName::FROM,
            HeaderName::TO,
            HeaderName::CALL_ID,
            HeaderName::CSEQ,
        ] {
            if !self.headers.contains(&name) {
                return Err(ParseError::MissingHeader { name });
            }
        }
        for name in [
            HeaderName::FROM,
            HeaderName::TO,
            HeaderName::CALL_ID,
            HeaderName::CSEQ,
            HeaderName::MAX_FORWARDS,
        ] {
            if self.headers.count(&name) > 1 {
                return Err(ParseError::DuplicateHeader { name });
            }
        }
        // The values are checked where they lie: the typed parsers would copy each into strings.
        self.check_each(&HeaderName::VIA, ViaRef::parse)?;
        self.from_ref()?;
        let to = self.to_ref()?;
        let cseq = self.cseq()?;
        let call_id = self.call_id().unwrap_or("");
        if !is_call_id(call_id) {
            return Err(ParseError::InvalidHeader {
                name: HeaderName::CALL_ID,
                what: "callid",
            });
        }
        self.max_forwards()?;
        self.check_contacts()?;
        for name in [
            HeaderName::ROUTE,
            HeaderName::RECORD_ROUTE,
            HeaderName::PATH,
        ] {
            self.check_each(&name, NameAddrRef::parse)?;
        }
        if let StartLine::Request { method, uri, .. } = &self.start {
            if cseq.method != *method {
                return Err(ParseError::CSeqMismatch {
                    request: method.clone(),
                    cseq: cseq.method,
                });
            }
            if let RequestUri::Parsed(u) = uri
                && u.headers.is_some()
            {
                return Err(ParseError::StartLine {
                    what: "Request-URI must not contain headers",
                });
            }
        }
        if let Some(date) = self.headers.get(&HeaderName::DATE)
            && !is_rfc1123_gmt(date)
        {
            return Err(ParseError::InvalidHeader {
                name: HeaderName::DATE,
                what: "rfc1123-date in GMT",
            });
        }
        if let Some(cl) = self.headers.get(&HeaderName::CONTENT_LENGTH)
            && cl.parse::<usize>().ok() != Some(self.body.len())
        {
            return Err(ParseError::BadContentLength);
        }
        Ok(Validated { to })
    }
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1).
fn is_call_id(s: &str) -> bool {
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes().all(|b| {
                is_token_byte(b)
                    || matches!(
                        b,
                        b'(' | b')'
                            | b'<'
                            | b'>'
                            | b':'
                            | b'\\'
                            | b'"'
                            | b'/'
                            | b'['
                            | b']'
                            | b'?'
                            | b'{'
                            | b'}'
                    )
            })
    };
    match s.split_once('@') {
        Some((a, b)) => word(a) && word(b),
        None => word(s),
    }
}

/// `wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"` (RFC 3261 §25.1).
fn is_rfc1123_gmt(s: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    let Some((day, rest)) = s.split_once(", ") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(' ').collect();
    let [dd, mon, year, time, zone] = parts.as_slice() else {
        return false;
    };
    let t: Vec<&str> = time.split(':').collect();
    DAYS.contains(&day)
        && digits(dd, 2)
        && MONTHS.contains(mon)
        && digits(year, 4)
        && t.len() == 3
        && t.iter().all(|p| digits(p, 2))
        && *zone == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_call_ids() {
        assert!(is_rfc1123_gmt("Sat, 15 Oct 2005 04:44:56 GMT"));
        assert!(!is_rfc1123_gmt("Fri, 01 Jan 2010 16:00:00 EST"));
        assert!(!is_rfc1123_gmt("Sat, 15 Oct 2005 04:44 GMT"));
        assert!(is_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"));
        assert!(!is_call_id("a b"));
        assert!(!is_call_id("a@b@c"));
        assert!(!is_call_id(""));
    }
}
