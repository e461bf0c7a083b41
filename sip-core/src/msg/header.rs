//! Header names and the ordered header list (RFC 3261 §7.3, §20).
//!
//! Header values stay what the wire carried: a [`Bytes`] slice of the received buffer (a copy only
//! when folded lines had to be joined), so routing a message touches only the headers it reads.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use bytes::Bytes;

use super::lex::split_top;

/// A header field name. Comparison and hashing ignore ASCII case (RFC 3261 §7.3.1). Known names,
/// and the compact forms of RFC 3261 §7.3.3 and later RFCs, are mapped to their canonical long
/// spelling when parsed ([`HeaderName::new`]); unknown names are kept as received.
///
/// A known name is held as its index in the table of known names, so comparing two names (which
/// every header lookup does, for each header it passes) is comparing two small numbers.
#[derive(Debug, Clone)]
pub struct HeaderName(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// One of the names of `KNOWN`.
    Known(Known),
    /// Any other name, as received; never one of the known names in any spelling
    /// ([`HeaderName::new`] maps those to `Known`).
    Other(Box<str>),
}

macro_rules! header_names {
    ($($name:ident => $text:literal $(, $compact:literal)?;)*) => {
        /// The index of a known name in `KNOWN`.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        enum Known { $($name),* }
        impl HeaderName {
            $(#[doc = concat!("`", $text, "`", $(" (compact form `", $compact, "`)",)?)]
            pub const $name: Self = Self(Repr::Known(Known::$name));)*
        }
        /// (known name, canonical spelling, compact form or NUL), in the order of `Known`.
        const KNOWN: &[(Known, &str, char)] = &[$((Known::$name, $text, header_names!(@c $($compact)?))),*];
    };
    (@c $c:literal) => { $c };
    (@c) => { '\0' };
}

header_names! {
    VIA => "Via", 'v';
    FROM => "From", 'f';
    TO => "To", 't';
    CALL_ID => "Call-ID", 'i';
    CSEQ => "CSeq";
    CONTACT => "Contact", 'm';
    MAX_FORWARDS => "Max-Forwards";
    EXPIRES => "Expires";
    MIN_EXPIRES => "Min-Expires";
    CONTENT_LENGTH => "Content-Length", 'l';
    CONTENT_TYPE => "Content-Type", 'c';
    CONTENT_ENCODING => "Content-Encoding", 'e';
    CONTENT_DISPOSITION => "Content-Disposition";
    CONTENT_LANGUAGE => "Content-Language";
    ROUTE => "Route";
    RECORD_ROUTE => "Record-Route";
    PATH => "Path";
    SERVICE_ROUTE => "Service-Route";
    AUTHORIZATION => "Authorization";
    PROXY_AUTHORIZATION => "Proxy-Authorization";
    WWW_AUTHENTICATE => "WWW-Authenticate";
    PROXY_AUTHENTICATE => "Proxy-Authenticate";
    AUTHENTICATION_INFO => "Authentication-Info";
    USER_AGENT => "User-Agent";
    SERVER => "Server";
    SUPPORTED => "Supported", 'k';
    REQUIRE => "Require";
    PROXY_REQUIRE => "Proxy-Require";
    UNSUPPORTED => "Unsupported";
    ALLOW => "Allow";
    ACCEPT => "Accept";
    ACCEPT_ENCODING => "Accept-Encoding";
    ACCEPT_LANGUAGE => "Accept-Language";
    EVENT => "Event", 'o';
    ALLOW_EVENTS => "Allow-Events", 'u';
    SUBSCRIPTION_STATE => "Subscription-State";
    REFER_TO => "Refer-To", 'r';
    REFERRED_BY => "Referred-By", 'b';
    REPLACES => "Replaces";
    DATE => "Date";
    SUBJECT => "Subject", 's';
    SESSION_EXPIRES => "Session-Expires", 'x';
    MIN_SE => "Min-SE";
    REJECT_CONTACT => "Reject-Contact", 'j';
    ACCEPT_CONTACT => "Accept-Contact", 'a';
    REQUEST_DISPOSITION => "Request-Disposition", 'd';
    IDENTITY => "Identity", 'y';
    TIMESTAMP => "Timestamp";
    RETRY_AFTER => "Retry-After";
    WARNING => "Warning";
    RSEQ => "RSeq";
    RACK => "RAck";
    ORGANIZATION => "Organization";
    PRIORITY => "Priority";
    MIME_VERSION => "MIME-Version";
}

impl HeaderName {
    /// Canonicalises a header name from the wire: a compact form or any capitalisation of a known
    /// name becomes the constant; anything else is kept as given. The caller checks token syntax.
    pub fn new(name: &str) -> Self {
        let index = index();
        let bytes = name.as_bytes();
        if let [c] = bytes
            && let Some(k) = letter(*c).and_then(|i| index.compact.get(i).copied().flatten())
        {
            return Self(Repr::Known(k));
        }
        // Only the names with the same first letter are compared.
        let found = bytes
            .first()
            .and_then(|b| letter(*b))
            .and_then(|i| index.long.get(i))
            .and_then(|names| {
                // Nearly every sender spells the names as the RFCs do: an exact comparison (a
                // memcmp) first, the case-blind one only when that fails.
                let text = |k: &&Known| known(**k).map_or("", |(_, text, _)| text);
                names
                    .iter()
                    .find(|k| text(k) == name)
                    .or_else(|| names.iter().find(|k| text(k).eq_ignore_ascii_case(name)))
                    .copied()
            });
        match found {
            Some(k) => Self(Repr::Known(k)),
            None => Self(Repr::Other(name.into())),
        }
    }

    /// The canonical long name (or the name as received, if unknown).
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(k) => known(*k).map_or("", |(_, text, _)| text),
            Repr::Other(name) => name,
        }
    }

    /// The compact form (RFC 3261 §7.3.3) of this header, if it has one.
    pub fn compact(&self) -> Option<char> {
        match &self.0 {
            Repr::Known(k) => known(*k)
                .map(|(_, _, compact)| *compact)
                .filter(|c| *c != '\0'),
            Repr::Other(_) => None,
        }
    }
}

/// The list elements of one header line, as [`Headers::values`] gives them, appended to `out`.
pub(crate) fn push_list_values<'a>(line: &'a str, out: &mut Vec<&'a str>) {
    match split_top(line, b',') {
        Some(parts) => out.extend(
            parts
                .into_iter()
                .map(super::lex::trim_ws)
                .filter(|p| !p.is_empty()),
        ),
        None => out.push(line),
    }
}

/// The known names by the first letter of their long spelling, and by their compact form, so that
/// [`HeaderName::new`] compares a name from the wire with a handful of names, not all of them.
struct Index {
    long: [Vec<Known>; 26],
    compact: [Option<Known>; 26],
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = Index {
            long: Default::default(),
            compact: [None; 26],
        };
        for (k, text, compact) in KNOWN {
            if let Some(names) = text
                .as_bytes()
                .first()
                .and_then(|b| letter(*b))
                .and_then(|i| index.long.get_mut(i))
            {
                names.push(*k);
            }
            if let Some(slot) = u8::try_from(*compact)
                .ok()
                .and_then(letter)
                .and_then(|i| index.compact.get_mut(i))
            {
                *slot = Some(*k);
            }
        }
        index
    })
}

/// `a`..`z` (either case) as 0..26.
fn letter(b: u8) -> Option<usize> {
    b.to_ascii_lowercase()
        .checked_sub(b'a')
        .filter(|i| *i < 26)
        .map(usize::from)
}

/// The table entry of a known name.
fn known(k: Known) -> Option<&'static (Known, &'static str, char)> {
    KNOWN.get(usize::from(k as u8))
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Known(a), Repr::Known(b)) => a == b,
            (Repr::Other(a), Repr::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

impl Eq for HeaderName {}

impl Hash for HeaderName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Known(k) => state.write_u8(*k as u8),
            Repr::Other(name) => {
                state.write_u8(u8::MAX);
                for b in name.bytes() {
                    state.write_u8(b.to_ascii_lowercase());
                }
            }
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field: its name and its value, the text after the colon with surrounding white space
/// removed and folded continuation lines joined by a single SP (RFC 3261 §7.3.1). The value is
/// UTF-8 for parsed messages; builders should keep it so.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The (canonical) name.
    pub name: HeaderName,
    /// The raw value.
    pub value: Bytes,
}

impl Header {
    /// Builds a header from a name and a value.
    pub fn new(name: HeaderName, value: impl Into<Bytes>) -> Self {
        Self {
            name,
            value: value.into(),
        }
    }

    /// The value as text; an empty string if it is not UTF-8 (never the case for parsed messages).
    pub fn value_str(&self) -> &str {
        std::str::from_utf8(&self.value).unwrap_or("")
    }
}

/// The headers of a message in wire order. Several lines with the same name are kept as separate
/// entries; [`Headers::values`] additionally splits comma-separated lists (RFC 3261 §7.3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty header list with room for `n` headers.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// A copy with room for `extra` more headers (a proxy's Via and Record-Route on a forwarded
    /// copy), so adding them does not reallocate.
    pub fn clone_with_room(&self, extra: usize) -> Self {
        let mut out = Vec::with_capacity(self.0.len().saturating_add(extra));
        out.extend_from_slice(&self.0);
        Self(out)
    }

    /// The value of the first header named `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| &h.name == name)
            .map(Header::value_str)
    }

    /// The values of all headers named `name`, one per header line, in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n HeaderName,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |h| &h.name == name)
            .map(Header::value_str)
    }

    /// All list elements of the headers named `name`: each line split at commas that are outside
    /// quoted strings and `<...>`, trimmed, empty elements dropped. Only meaningful for headers whose
    /// grammar is a comma-separated list (Via, Contact, Route, Require, Allow, ...): not for
    /// WWW-Authenticate, Authorization or Date, whose values contain commas.
    pub fn values(&self, name: &HeaderName) -> Vec<&str> {
        let mut out = Vec::new();
        for v in self
            .0
            .iter()
            .filter(|h| &h.name == name)
            .map(Header::value_str)
        {
            push_list_values(v, &mut out);
        }
        out
    }

    /// How many header lines are named `name`.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.0.iter().filter(|h| &h.name == name).count()
    }

    /// Whether any header is named `name`.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.0.iter().any(|h| &h.name == name)
    }

    /// Appends a header line.
    pub fn push(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        self.0.push(Header::new(name, value));
    }

    /// Inserts a header line before all others (a proxy's own Via or Record-Route, RFC 3261 §16.6).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        self.0.insert(0, Header::new(name, value));
    }

    /// Replaces all headers named `name` by one line with `value`, at the position of the first one
    /// (or at the end if there was none).
    pub fn set(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let value = value.into();
        match self.0.iter().position(|h| h.name == name) {
            Some(pos) => {
                let mut i = 0usize;
                self.0.retain(|h| {
                    let keep = i == pos || h.name != name;
                    i = i.saturating_add(1);
                    keep
                });
                if let Some(h) = self.0.get_mut(pos) {
                    h.value = value;
                }
            }
            None => self.0.push(Header { name, value }),
        }
    }

    /// Replaces the value of the first header named `name` where it stands; `false` if there is none.
    pub fn set_first(&mut self, name: &HeaderName, value: impl Into<Bytes>) -> bool {
        match self.0.iter_mut().find(|h| &h.name == name) {
            Some(h) => {
                h.value = value.into();
                true
            }
            None => false,
        }
    }

    /// Removes every header named `name`; returns how many were removed.
    pub fn remove_all(&mut self, name: &HeaderName) -> usize {
        let before = self.0.len();
        self.0.retain(|h| &h.name != name);
        before.saturating_sub(self.0.len())
    }

    /// Removes and returns the first header named `name` (a proxy popping its Route, RFC 3261 §16.4).
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<Header> {
        let pos = self.0.iter().position(|h| &h.name == name)?;
        Some(self.0.remove(pos))
    }

    /// All header lines in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Header>> for Headers {
    fn from(v: Vec<Header>) -> Self {
        Self(v)
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_canonicalise() {
        assert_eq!(HeaderName::new("v").as_str(), "Via");
        assert_eq!(HeaderName::new("I").as_str(), "Call-ID");
        assert_eq!(HeaderName::new("cALL-id").as_str(), "Call-ID");
        assert_eq!(HeaderName::new("y"), HeaderName::IDENTITY);
        assert_eq!(
            HeaderName::new("NewFangledHeader").as_str(),
            "NewFangledHeader"
        );
        assert_eq!(
            HeaderName::new("newfangledheader"),
            HeaderName::new("NewFangledHeader")
        );
        assert_eq!(HeaderName::new("C%6Fntact").as_str(), "C%6Fntact");
        assert_eq!(HeaderName::CONTACT.compact(), Some('m'));
        assert_eq!(HeaderName::CSEQ.compact(), None);
        assert_eq!(HeaderName::new("q").as_str(), "q");
    }

    /// Every known name, in every spelling the index is asked for, finds its own entry.
    #[test]
    fn every_known_name_is_found_in_any_case_and_by_its_compact_form() {
        for (k, text, compact) in KNOWN {
            let want = HeaderName(Repr::Known(*k));
            for spelling in [
                text.to_string(),
                text.to_ascii_lowercase(),
                text.to_ascii_uppercase(),
            ] {
                assert_eq!(HeaderName::new(&spelling), want, "{spelling}");
                assert_eq!(HeaderName::new(&spelling).as_str(), *text);
            }
            if *compact != '\0' {
                assert_eq!(HeaderName::new(&compact.to_string()), want, "{compact}");
                assert_eq!(
                    HeaderName::new(&compact.to_ascii_uppercase().to_string()),
                    want
                );
            }
        }
        for other in ["", "1", "-x", "Vi", "Viaa", "Call-IDs", "_Via", "\u{e9}"] {
            assert!(
                matches!(HeaderName::new(other).0, Repr::Other(_)),
                "{other}"
            );
        }
    }

    #[test]
    fn list_operations() {
        let mut h = Headers::new();
        h.push(HeaderName::VIA, "SIP/2.0/UDP a, SIP/2.0/UDP b");
        h.push(HeaderName::TO, "<sip:x@y>");
        h.push(HeaderName::VIA, "SIP/2.0/UDP c");
        h.push_front(HeaderName::VIA, "SIP/2.0/UDP first");
        assert_eq!(h.values(&HeaderName::VIA).len(), 4);
        assert_eq!(h.get(&HeaderName::VIA), Some("SIP/2.0/UDP first"));
        assert_eq!(h.count(&HeaderName::new("VIA")), 3);
        h.set(HeaderName::VIA, "SIP/2.0/TCP only");
        assert_eq!(
            h.get_all(&HeaderName::VIA).collect::<Vec<_>>(),
            vec!["SIP/2.0/TCP only"]
        );
        assert_eq!(
            h.iter().next().map(|x| x.name.clone()),
            Some(HeaderName::VIA)
        );
        assert!(h.remove_first(&HeaderName::TO).is_some());
        assert_eq!(h.remove_all(&HeaderName::VIA), 1);
        assert!(h.is_empty());
    }
}
