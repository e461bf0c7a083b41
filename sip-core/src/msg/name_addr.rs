//! `name-addr` / `addr-spec` header values (RFC 3261 §20.10, §25.1): From, To, Contact, Route,
//! Record-Route, Path, Refer-To.

use std::fmt;

use super::error::{ParseError, bad};
use super::lex::{
    find_byte, find_unquoted, is_token, is_ws, quote, quoted_len, split_at_byte, trim_ws, unquote,
};
use super::params::{Params, ParamsRef};
use super::uri::{Uri, UriRef};

/// An address with optional display name and header parameters (`tag`, `expires`, `q`, ...).
///
/// In the `addr-spec` form (no angle brackets) everything after the first `;` is a header
/// parameter, not a URI parameter (RFC 3261 §20.10); such a URI may not contain `,`, `?` or `;`
/// (RFC 4475 §3.1.2.14 regbadct). `Display` always writes the `name-addr` form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameAddr {
    /// The display name, unquoted (quoted-pairs resolved) or the token sequence as received.
    pub display: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address.
    pub params: Params,
}

impl NameAddr {
    /// An address without display name or parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display: None,
            uri,
            params: Params::new(),
        }
    }

    /// Parses one `name-addr` or `addr-spec` followed by parameters. Surrounding LWS is ignored;
    /// LWS inside `<...>` is not allowed (RFC 4475 §3.1.2.15 badaspec).
    ///
    /// # Errors
    /// [`ParseError::Value`] naming the failing part.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        NameAddrRef::parse(s)?.to_name_addr()
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").filter(|t| !t.is_empty())
    }
}

/// A [`NameAddr`] borrowed from the text it was parsed from: the same checks, nothing copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddrRef<'a> {
    /// The display name as written: a quoted string with its quotes, or the token sequence.
    pub display: Option<&'a str>,
    /// The address.
    pub uri: UriRef<'a>,
    /// Header parameters after the address.
    pub params: ParamsRef<'a>,
}

impl<'a> NameAddrRef<'a> {
    /// Parses as [`NameAddr::parse`] does.
    ///
    /// # Errors
    /// As [`NameAddr::parse`].
    pub fn parse(s: &'a str) -> Result<Self, ParseError> {
        let s = trim_ws(s);
        let (display, after_display) = if s.starts_with('"') {
            let len = quoted_len(s).ok_or_else(|| bad("unterminated display name"))?;
            let (q, rest) = s.split_at(len);
            let rest = trim_ws(rest);
            if !rest.starts_with('<') {
                return Err(bad("display name without <addr-spec>"));
            }
            (Some(q), rest)
        } else {
            match find_unquoted(s, b'<') {
                Some(lt) => {
                    let d = trim_ws(s.get(..lt).unwrap_or(""));
                    let ok = d.split([' ', '\t']).filter(|t| !t.is_empty()).all(is_token);
                    if !ok {
                        return Err(bad("display name"));
                    }
                    ((!d.is_empty()).then_some(d), s.get(lt..).unwrap_or(""))
                }
                None => (None, s),
            }
        };
        if let Some(inner) = after_display.strip_prefix('<') {
            let gt = find_byte(inner, b'>').ok_or_else(|| bad("missing >"))?;
            let uri = UriRef::parse(inner.get(..gt).unwrap_or(""))?;
            let rest = trim_ws(inner.get(gt.saturating_add(1)..).unwrap_or(""));
            return Ok(Self {
                display,
                uri,
                params: header_params(rest)?,
            });
        }
        // addr-spec: the URI runs to the first ';'.
        let (uri_text, rest) = match find_byte(s, b';') {
            Some(semi) => (
                trim_ws(s.get(..semi).unwrap_or("")),
                s.get(semi..).unwrap_or(""),
            ),
            None => (s, ""),
        };
        if uri_text
            .bytes()
            .any(|b| is_ws(b) || matches!(b, b',' | b'?' | b'>' | b'"'))
        {
            return Err(bad("addr-spec containing , ? or white space must use <>"));
        }
        Ok(Self {
            display: None,
            uri: UriRef::parse(uri_text)?,
            params: header_params(rest)?,
        })
    }

    /// The `tag` parameter, as [`NameAddr::tag`].
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").filter(|t| !t.is_empty())
    }

    /// The owned address (a quoted display name unquoted).
    ///
    /// # Errors
    /// A quoted display name with a stray quote inside.
    pub fn to_name_addr(&self) -> Result<NameAddr, ParseError> {
        let display = match self.display {
            Some(q) if q.starts_with('"') => Some(unquote(q).ok_or_else(|| bad("display name"))?),
            d => d.map(str::to_owned),
        };
        Ok(NameAddr {
            display,
            uri: self.uri.to_uri(),
            params: self.params.to_params(),
        })
    }
}

/// The header parameter `name` of a From, To or Contact value as it is on the wire, without parsing
/// the address: the raw value (`""` for a flag), or `None`. Parameters start after the `>` of a
/// name-addr, or at the first `;` of an addr-spec (RFC 3261 §20.10: those are header parameters).
/// For hot paths that need one parameter of a value whose syntax is checked elsewhere (a To tag).
pub(crate) fn raw_header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let start = match find_unquoted(value, b'<') {
        Some(lt) => lt.checked_add(find_byte(value.get(lt..)?, b'>')?)?,
        None => find_byte(value, b';')?,
    };
    let mut rest = value.get(start..)?;
    while let Some(semi) = find_unquoted(rest, b';') {
        rest = rest.get(semi.checked_add(1)?..)?;
        let end = find_unquoted(rest, b';').unwrap_or(rest.len());
        let item = rest.get(..end)?;
        let (n, v) = match split_at_byte(item, b'=') {
            Some((n, v)) => (trim_ws(n), trim_ws(v)),
            None => (trim_ws(item), ""),
        };
        if n.eq_ignore_ascii_case(name) {
            return Some(v);
        }
    }
    None
}

/// `*( SEMI generic-param )` with `s` trimmed: empty, or starting with `;`.
fn header_params(s: &str) -> Result<ParamsRef<'_>, ParseError> {
    if s.is_empty() {
        return Ok(ParamsRef::default());
    }
    let after = s
        .strip_prefix(';')
        .ok_or_else(|| bad("junk after address"))?;
    ParamsRef::header(after)
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

impl std::str::FromStr for NameAddr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

/// One Contact value (RFC 3261 §20.10): an address, or `*` (remove all bindings, §10.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Contact {
    /// `Contact: *`
    Star,
    /// A contact address with its parameters (`expires`, `q`, `+sip.instance`, ...).
    Addr(NameAddr),
}

impl Contact {
    /// Parses one Contact list element.
    ///
    /// # Errors
    /// As [`NameAddr::parse`].
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        ContactRef::parse(s)?.to_contact()
    }
}

/// A [`Contact`] borrowed from the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef<'a> {
    /// `Contact: *`
    Star,
    /// A contact address.
    Addr(NameAddrRef<'a>),
}

impl<'a> ContactRef<'a> {
    /// Parses as [`Contact::parse`] does.
    ///
    /// # Errors
    /// As [`NameAddr::parse`].
    pub fn parse(s: &'a str) -> Result<Self, ParseError> {
        if trim_ws(s) == "*" {
            Ok(Self::Star)
        } else {
            NameAddrRef::parse(s).map(Self::Addr)
        }
    }

    /// The owned contact.
    ///
    /// # Errors
    /// As [`NameAddrRef::to_name_addr`].
    pub fn to_contact(&self) -> Result<Contact, ParseError> {
        match self {
            Self::Star => Ok(Contact::Star),
            Self::Addr(a) => a.to_name_addr().map(Contact::Addr),
        }
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Star => f.write_str("*"),
            Self::Addr(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{Host, Scheme};

    #[test]
    fn raw_header_param_agrees_with_the_parser() {
        let values = [
            "<sip:a@b;tag=uri>;tag=hdr",
            "\"x;tag=<no>\" <sip:a@b>;x=1;TAG = t2 ;y",
            "sip:a@b;tag=addr-spec;lr",
            "<sip:a@b;tag=only-in-uri>",
            "sip:a@b",
            "<sip:a@b>;lr;tag",
            "\"q\\\"<\" <sip:a@b>;tag=after-escaped-quote",
        ];
        for v in values {
            let parsed = NameAddr::parse(v).unwrap();
            assert_eq!(raw_header_param(v, "tag"), parsed.params.get("tag"), "{v}");
        }
    }

    #[test]
    fn forms() {
        let a = NameAddr::parse(
            r#" "J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        );
        let a = a.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(a.tag(), Some("98asjd8"));
        let b = NameAddr::parse(&a.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);

        let c = NameAddr::parse("caller<sip:caller@example.com>;tag=323")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.display.as_deref(), Some("caller"));
        let d = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(d.params.contains("unknownparam") && d.uri.params.is_empty());
        let e = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(e.uri.params.contains("unknownparam") && e.params.is_empty());
        let t = NameAddr::parse("isbn:2983792873").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.uri.scheme, Scheme::Other("isbn".into()));
        assert_eq!(t.uri.opaque(), Some("2983792873"));
        assert_eq!(t.uri.host, Host::Name("2983792873".into()));
    }

    #[test]
    fn rejects() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "< sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
            "<sip:a@b> junk",
            "",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Contact::parse(" * "), Ok(Contact::Star));
    }
}
