//! SIP and SIPS URIs (RFC 3261 §19.1, §25.1 `SIP-URI`), hosts including IPv6 references
//! (RFC 5118), and other schemes kept opaque so a proxy can still answer them with 416.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::{ParseError, bad};
use super::lex::{escaped_with, find_byte, is_unreserved, split_at_byte, unescape};
use super::params::{Params, ParamsRef};
use super::text::{Decimal, DottedQuad};

/// A URI scheme. `sip`, `sips` and `tel` are recognised case-insensitively (RFC 3261 §19.1.4);
/// any other scheme is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:` (RFC 3261 §19.1; TLS on every hop).
    Sips,
    /// `tel:` (RFC 3966), kept opaque.
    Tel,
    /// Any other scheme, e.g. `isbn`, `http` or `soap.beep` (RFC 4475 §3.3.2, §3.3.3).
    Other(String),
}

impl Scheme {
    fn parse(s: &str) -> Result<Self, ParseError> {
        // Nearly every URI is sip: answered before the general check.
        if s.eq_ignore_ascii_case("sip") {
            return Ok(Self::Sip);
        }
        let b = s.as_bytes();
        let ok = b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !ok {
            return Err(bad("URI scheme"));
        }
        Ok(if s.eq_ignore_ascii_case("sip") {
            Self::Sip
        } else if s.eq_ignore_ascii_case("sips") {
            Self::Sips
        } else if s.eq_ignore_ascii_case("tel") {
            Self::Tel
        } else {
            Self::Other(s.to_owned())
        })
    }

    /// Whether this is `sip:` or `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self, Self::Sip | Self::Sips)
    }

    /// The scheme name (lower case for the known ones).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sip => "sip",
            Self::Sips => "sips",
            Self::Tel => "tel",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A host: a domain name, an IPv4 address or an IPv6 address (RFC 3261 §25.1 `host`).
/// `Display` writes IPv6 in brackets (`[2001:db8::1]`), as URIs and Via sent-by require.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name as received (host names compare case-insensitively; this type does not fold case).
    Name(String),
    /// A dotted-quad IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference.
    V6(Ipv6Addr),
}

impl Host {
    /// Parses a host: `[IPv6]`, dotted IPv4 or a host name. With `bare_v6`, an unbracketed IPv6
    /// address is also accepted (Via `received`, RFC 3261 §18.2.1 / RFC 5118 §4.5).
    ///
    /// IPv6 references with the three-colon form `2001:db8:::192.0.2.1`, which the RFC 3261 ABNF
    /// erroneously allows, are read as the two-colon address (RFC 5118 §4.10 asks for robustness).
    ///
    /// # Errors
    /// [`ParseError::Value`] for anything else.
    pub fn parse(s: &str, bare_v6: bool) -> Result<Self, ParseError> {
        HostRef::parse(s, bare_v6).map(|h| h.to_host())
    }

    /// The host borrowed, for comparing with a [`HostRef`].
    pub fn view(&self) -> HostRef<'_> {
        match self {
            Self::Name(n) => HostRef::Name(n),
            Self::V4(a) => HostRef::V4(*a),
            Self::V6(a) => HostRef::V6(*a),
        }
    }

    /// The address, if this host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.view().ip()
    }

    /// The text as `Display` writes it, lower-cased (a domain to look up), in one allocation.
    pub fn to_lowercase(&self) -> String {
        self.view().to_lowercase()
    }
}

/// A [`Host`] borrowed from the text it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostRef<'a> {
    /// A host name as received.
    Name(&'a str),
    /// A dotted-quad IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference.
    V6(Ipv6Addr),
}

impl<'a> HostRef<'a> {
    /// The text as `Display` writes it, lower-cased (a domain to look up), in one allocation.
    pub fn to_lowercase(&self) -> String {
        match self {
            Self::Name(n) => n.to_ascii_lowercase(),
            Self::V4(a) => DottedQuad::new(*a).as_str().to_owned(),
            Self::V6(_) => self.to_string().to_ascii_lowercase(),
        }
    }

    /// Parses a host as [`Host::parse`] does.
    ///
    /// # Errors
    /// As [`Host::parse`].
    pub fn parse(s: &'a str, bare_v6: bool) -> Result<Self, ParseError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| bad("IPv6 reference"))?;
            return parse_v6(inner).map(Self::V6);
        }
        if bare_v6 && s.contains(':') {
            return parse_v6(s).map(Self::V6);
        }
        if s.bytes().last().is_some_and(|b| b.is_ascii_digit())
            && let Some(v4) = dotted_quad(s)
        {
            return Ok(Self::V4(v4));
        }
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && !s.starts_with(['.', '-'])
            && !s.contains("..");
        if ok {
            Ok(Self::Name(s))
        } else {
            Err(bad("host"))
        }
    }

    /// Whether both name the same host: names compare case-insensitively (RFC 3261 §19.1.4),
    /// addresses by value.
    pub fn same_as(self, other: HostRef<'_>) -> bool {
        match (self, other) {
            (Self::Name(a), HostRef::Name(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }

    /// The owned host.
    pub fn to_host(self) -> Host {
        match self {
            Self::Name(n) => Host::Name(n.to_owned()),
            Self::V4(a) => Host::V4(a),
            Self::V6(a) => Host::V6(a),
        }
    }

    /// The address, if this host is an IP literal.
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            Self::Name(_) => None,
            Self::V4(a) => Some(IpAddr::V4(a)),
            Self::V6(a) => Some(IpAddr::V6(a)),
        }
    }
}

impl fmt::Display for HostRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::V4(a) => f.write_str(DottedQuad::new(*a).as_str()),
            Self::V6(a) => write!(f, "[{a}]"),
        }
    }
}

fn parse_v6(s: &str) -> Result<Ipv6Addr, ParseError> {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Ok(a);
    }
    // RFC 5118 §4.10: tolerate the 3-colon spelling in front of an embedded IPv4 address.
    if let Some((head, tail)) = s.split_once(":::")
        && tail.contains('.')
        && !tail.contains(':')
        && let Ok(a) = format!("{head}::{tail}").parse::<Ipv6Addr>()
    {
        return Ok(a);
    }
    Err(bad("IPv6 address"))
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.view(), f)
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::V4(a),
            IpAddr::V6(a) => Self::V6(a),
        }
    }
}

/// A URI. For `sip`/`sips` every field is parsed (RFC 3261 §19.1.1); `user`, `password`, parameter
/// values and `headers` keep their `%` escapes as received (use [`Uri::user_unescaped`]).
///
/// For any other scheme the part after the colon is kept verbatim in `host` as a
/// [`Host::Name`] (see [`Uri::opaque`]); the other fields are empty. This keeps the plan's struct
/// shape while letting `tel:`/`isbn:`/`http:` URIs in To, From or Contact parse (RFC 4475 §3.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part, escaped form.
    pub user: Option<String>,
    /// The password (deprecated, RFC 3261 §19.1.1), escaped form.
    pub password: Option<String>,
    /// The host (the opaque remainder for non-SIP schemes).
    pub host: Host,
    /// The port.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params,
    /// The raw header part after `?`, without the `?`.
    pub headers: Option<String>,
}

impl Uri {
    /// A `sip:` URI for `host` with nothing else set.
    pub fn sip(host: Host) -> Self {
        Self {
            scheme: Scheme::Sip,
            user: None,
            password: None,
            host,
            port: None,
            params: Params::new(),
            headers: None,
        }
    }

    /// Parses a URI. No surrounding white space or angle brackets are allowed.
    ///
    /// # Errors
    /// [`ParseError::Value`] naming the component that does not match the grammar.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        UriRef::parse(s).map(|u| u.to_uri())
    }

    /// Whether this is a `sip:` or `sips:` URI (the only schemes this proxy routes).
    pub fn is_sip(&self) -> bool {
        self.scheme.is_sip()
    }

    /// For non-SIP schemes, the verbatim part after the colon.
    pub fn opaque(&self) -> Option<&str> {
        opaque_part(&self.scheme, self.host.view())
    }

    /// The user part with `%` escapes decoded (RFC 3261 §19.1.2).
    pub fn user_unescaped(&self) -> Option<Cow<'_, str>> {
        self.user.as_deref().map(unescaped)
    }
}

/// A [`Uri`] borrowed from the text it was parsed from: the same checks, nothing copied (a
/// parameter list is kept as its text). For non-SIP schemes `host` is the opaque remainder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriRef<'a> {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part, escaped form.
    pub user: Option<&'a str>,
    /// The password, escaped form.
    pub password: Option<&'a str>,
    /// The host (the opaque remainder for non-SIP schemes).
    pub host: HostRef<'a>,
    /// The port.
    pub port: Option<u16>,
    /// URI parameters.
    pub params: ParamsRef<'a>,
    /// The raw header part after `?`, without the `?`.
    pub headers: Option<&'a str>,
}

impl<'a> UriRef<'a> {
    /// Parses a URI as [`Uri::parse`] does.
    ///
    /// # Errors
    /// As [`Uri::parse`].
    pub fn parse(s: &'a str) -> Result<Self, ParseError> {
        let (scheme, rest) = split_at_byte(s, b':').ok_or_else(|| bad("URI scheme"))?;
        let scheme = Scheme::parse(scheme)?;
        if !scheme.is_sip() {
            if rest.is_empty() || !escaped_with(rest, is_uric) {
                return Err(bad("opaque URI"));
            }
            return Ok(Self {
                scheme,
                user: None,
                password: None,
                host: HostRef::Name(rest),
                port: None,
                params: ParamsRef::default(),
                headers: None,
            });
        }
        // '@' cannot appear unescaped after the userinfo, but ';', '?' and ':' can appear inside
        // the user part (RFC 4475 §3.1.1.4 intmeth, §3.1.1.10 semiuri), so split there first.
        let (userinfo, hostpart) = match split_at_byte(rest, b'@') {
            Some((ui, host)) => (Some(ui), host),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match split_at_byte(ui, b':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                if u.is_empty() || !escaped_with(u, is_user_char) {
                    return Err(bad("URI user"));
                }
                if let Some(p) = p
                    && !escaped_with(p, is_password_char)
                {
                    return Err(bad("URI password"));
                }
                (Some(u), p)
            }
        };
        let (hostpart, headers) = match split_at_byte(hostpart, b'?') {
            Some((h, q)) => {
                if q.is_empty() || !escaped_with(q, is_header_char) {
                    return Err(bad("URI headers"));
                }
                (h, Some(q))
            }
            None => (hostpart, None),
        };
        let (hostport, params) = match split_at_byte(hostpart, b';') {
            Some((h, p)) => (h, ParamsRef::uri(p)?),
            None => (hostpart, ParamsRef::default()),
        };
        let (host, port) = split_hostport(hostport)?;
        Ok(Self {
            scheme,
            user,
            password,
            host: HostRef::parse(host, false)?,
            port,
            params,
            headers,
        })
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        self.scheme.is_sip()
    }

    /// For non-SIP schemes, the verbatim part after the colon, as [`Uri::opaque`].
    pub fn opaque(&self) -> Option<&'a str> {
        opaque_part(&self.scheme, self.host)
    }

    /// The user part with `%` escapes decoded, as [`Uri::user_unescaped`].
    pub fn user_unescaped(&self) -> Option<Cow<'a, str>> {
        self.user.map(unescaped)
    }

    /// The owned URI.
    pub fn to_uri(&self) -> Uri {
        Uri {
            scheme: self.scheme.clone(),
            user: self.user.map(str::to_owned),
            password: self.password.map(str::to_owned),
            host: self.host.to_host(),
            port: self.port,
            params: self.params.to_params(),
            headers: self.headers.map(str::to_owned),
        }
    }
}

/// For non-SIP schemes the opaque remainder, kept as the host.
fn opaque_part<'a>(scheme: &Scheme, host: HostRef<'a>) -> Option<&'a str> {
    match (scheme.is_sip(), host) {
        (false, HostRef::Name(n)) => Some(n),
        _ => None,
    }
}

/// `s` with `%` escapes decoded, borrowed when it has none.
fn unescaped(s: &str) -> Cow<'_, str> {
    if s.contains('%') {
        Cow::Owned(unescape(s))
    } else {
        Cow::Borrowed(s)
    }
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 reference.
pub(crate) fn split_hostport(s: &str) -> Result<(&str, Option<u16>), ParseError> {
    let (host, port) = if s.starts_with('[') {
        let end = find_byte(s, b']').ok_or_else(|| bad("IPv6 reference"))?;
        let (h, rest) = s.split_at(end.saturating_add(1));
        match rest {
            "" => (h, None),
            r => (h, Some(r.strip_prefix(':').ok_or_else(|| bad("port"))?)),
        }
    } else {
        match split_at_byte(s, b':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(port_number(p).ok_or_else(|| bad("port"))?),
    };
    Ok((host, port))
}

/// A port: 1 to 5 digits (leading zeros allowed) of a value up to 65535.
fn port_number(p: &str) -> Option<u16> {
    if p.is_empty() {
        return None;
    }
    p.bytes().try_fold(0u16, |n, b| {
        let digit = b
            .is_ascii_digit()
            .then(|| u16::from(b.wrapping_sub(b'0')))?;
        n.checked_mul(10)?.checked_add(digit)
    })
}

/// A dotted quad as `Ipv4Addr`'s parser reads one: four decimal octets of at most 255, no
/// leading zeros (`010` is not octal ten, it is no address).
fn dotted_quad(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut slot = octets.iter_mut();
    let mut current = slot.next()?;
    // Digits of the octet being read; a value is kept as it grows.
    let mut digits = 0u8;
    for &b in s.as_bytes() {
        if b == b'.' {
            if digits == 0 {
                return None;
            }
            current = slot.next()?;
            digits = 0;
        } else if b.is_ascii_digit() {
            // No leading zero, at most three digits, at most 255.
            if digits > 0 && *current == 0 {
                return None;
            }
            *current = current.checked_mul(10)?.checked_add(b.wrapping_sub(b'0'))?;
            digits = digits.checked_add(1).filter(|d| *d <= 3)?;
        } else {
            return None;
        }
    }
    (digits > 0 && slot.next().is_none()).then(|| Ipv4Addr::from(octets))
}

/// `user = 1*( unreserved / escaped / user-unreserved )`, `user-unreserved = & = + $ , ; ? /`.
fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

/// `password = *( unreserved / escaped / & = + $ , )`.
fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

/// `hname`/`hvalue` characters plus the `=` and `&` separators.
fn is_header_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&'
        )
}

/// `uric` (RFC 2396 via RFC 3261 §25.1 `absoluteURI`): reserved / unreserved / escaped, plus `#`,
/// `[` and `]` which real schemes use.
fn is_uric(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b';' | b'/'
                | b'?'
                | b':'
                | b'@'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
                | b'#'
                | b'['
                | b']'
        )
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_uri(
            f,
            &self.scheme,
            self.opaque(),
            (self.user.as_deref(), self.password.as_deref()),
            (&self.host, self.port),
            &self.params,
            self.headers.as_deref(),
        )
    }
}

/// Writes a URI as [`Uri`]'s and [`UriRef`]'s `Display` do (the same text for the same URI).
fn write_uri(
    f: &mut fmt::Formatter<'_>,
    scheme: &Scheme,
    opaque: Option<&str>,
    (user, password): (Option<&str>, Option<&str>),
    (host, port): (&dyn fmt::Display, Option<u16>),
    params: &dyn fmt::Display,
    headers: Option<&str>,
) -> fmt::Result {
    f.write_str(scheme.as_str())?;
    f.write_str(":")?;
    if let Some(opaque) = opaque {
        return f.write_str(opaque);
    }
    if let Some(u) = user {
        f.write_str(u)?;
        if let Some(p) = password {
            f.write_str(":")?;
            f.write_str(p)?;
        }
        f.write_str("@")?;
    }
    fmt::Display::fmt(host, f)?;
    if let Some(p) = port {
        f.write_str(":")?;
        f.write_str(Decimal::new(u64::from(p)).as_str())?;
    }
    fmt::Display::fmt(params, f)?;
    if let Some(h) = headers {
        f.write_str("?")?;
        f.write_str(h)?;
    }
    Ok(())
}

impl fmt::Display for UriRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_uri(
            f,
            &self.scheme,
            self.opaque(),
            (self.user, self.password),
            (&self.host, self.port),
            &self.params,
            self.headers,
        )
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_quads_are_read_as_the_standard_parser_reads_them() {
        for s in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4a",
            "1234.1.1.1",
            "",
            "1.2.3.+4",
            "10.0.0.00",
            "192.168.1.100",
        ] {
            assert_eq!(dotted_quad(s), s.parse::<Ipv4Addr>().ok(), "{s:?}");
        }
    }

    #[test]
    fn ports_are_read_as_the_standard_parser_reads_digits() {
        for p in [
            "5060", "0", "05060", "65535", "65536", "99999", "", "50a", "+50", "-1",
        ] {
            let std = (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten();
            assert_eq!(port_number(p), std, "{p:?}");
        }
    }

    fn uri(s: &str) -> Uri {
        Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn sip_uris_round_trip() {
        for s in [
            "sip:alice@atlanta.example.com",
            "sips:alice:secret@[2001:db8::10]:5061;transport=tls;lr?subject=x&priority=urgent",
            "sip:user;par=u%40example.net@example.com",
            "sip:192.0.2.1:5060;maddr=[::1]",
            "sip:%61lice@host",
        ] {
            let u = uri(s);
            assert_eq!(u.to_string(), s);
            assert_eq!(uri(&u.to_string()), u);
        }
        let u = uri("SIP:bob@HOST.example.com:0065");
        assert_eq!((u.scheme.clone(), u.port), (Scheme::Sip, Some(65)));
        assert_eq!(u.host, Host::Name("HOST.example.com".into()));
        assert_eq!(
            uri("sip:%61lice@host").user_unescaped().as_deref(),
            Some("alice")
        );
        assert_eq!(uri("sip:[2001:db8::10:5070]").port, None);
        assert_eq!(
            uri("sip:[2001:db8:::192.0.2.1]").host,
            Host::V6(
                "2001:db8::c000:201"
                    .parse()
                    .unwrap_or(Ipv6Addr::UNSPECIFIED)
            )
        );
    }

    #[test]
    fn other_schemes_are_opaque() {
        let t = uri("tel:+1-201-555-0123;phone-context=example.com");
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(
            t.opaque(),
            Some("+1-201-555-0123;phone-context=example.com")
        );
        assert_eq!(
            t.to_string(),
            "tel:+1-201-555-0123;phone-context=example.com"
        );
        assert!(!t.is_sip());
        assert_eq!(
            uri("soap.beep://192.0.2.103:3002").scheme,
            Scheme::Other("soap.beep".into())
        );
    }

    #[test]
    fn rejects() {
        for s in [
            "sip:2001:db8::10",
            "sip:",
            "sip:@host",
            "sip:host:",
            "sip:host:99999",
            "sip:host;",
            "sip:host;a;;b",
            "sip:ho st",
            "sip:a%zz@host",
            "sip:host?",
            "<sip:a@b>",
            "1sip:a",
            "foo:",
            "foo:a b",
            "sip:[2001:db8::1",
            "sip:[2001:db8::1]x",
        ] {
            assert!(Uri::parse(s).is_err(), "{s}");
        }
        assert!(Host::parse("2001:db8::1", true).is_ok_and(|h| h.ip().is_some()));
        assert!(Host::parse("2001:db8::1", false).is_err());
        assert_eq!(
            Host::parse("192.0.2.1", false).map(|h| h.to_string()),
            Ok("192.0.2.1".to_owned())
        );
    }
}
