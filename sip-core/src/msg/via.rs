//! Via (RFC 3261 §20.42, §18.2.1; RFC 3581 `rport`; RFC 5118 IPv6 `received`) and CSeq (§20.16).

use std::fmt;
use std::net::IpAddr;

use super::error::{ParseError, bad};
use super::lex::{digits_u64, find_byte, is_token, is_token_byte, is_ws, split_at_byte, trim_ws};
use super::method::Method;
use super::params::{Params, ParamsRef};
use super::text::Decimal;
use super::uri::{Host, HostRef, split_hostport};

/// The branch prefix that marks RFC 3261 transaction identifiers (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/transport sent-by;params`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Via {
    /// Transport token, upper-cased (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an extension).
    pub transport: String,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port.
    pub port: Option<u16>,
    /// Via parameters (`branch`, `received`, `rport`, `maddr`, `ttl`, extensions).
    pub params: Params,
}

impl Via {
    /// A Via for `transport` and sent-by with a branch parameter.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Self {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Self {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        }
    }

    /// Parses one Via list element. LWS is allowed around the slashes, the colon of sent-by and
    /// the parameter separators (RFC 4475 §3.1.1.1 wsinv). Only protocol `SIP/2.0` is accepted; a
    /// `received` parameter must be an IP address, with or without brackets (RFC 5118 §4.5), and
    /// `rport` empty or a port (RFC 3581).
    ///
    /// # Errors
    /// [`ParseError::Version`] for another SIP version, otherwise [`ParseError::Value`].
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        ViaRef::parse(s).map(|v| v.to_via())
    }

    /// The `branch` parameter (the transaction id, RFC 3261 §17.2.3).
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").filter(|b| !b.is_empty())
    }

    /// Whether the branch starts with the RFC 3261 magic cookie (§8.1.1.7).
    pub fn has_magic_cookie(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// The raw `received` parameter (§18.2.1), bracketed or not as received.
    pub fn received(&self) -> Option<&str> {
        self.params.get("received").filter(|r| !r.is_empty())
    }

    /// The `received` address, accepting both `2001:db8::1` and `[2001:db8::1]` (RFC 5118 §4.5).
    pub fn received_ip(&self) -> Option<IpAddr> {
        Host::parse(self.received()?, true).ok()?.ip()
    }

    /// `rport` (RFC 3581): `None` if absent, `Some(None)` if present without value (a request
    /// asking for it), `Some(Some(port))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        let v = self.params.get("rport")?;
        Some(v.parse().ok())
    }
}

/// A [`Via`] borrowed from the text it was parsed from: the same checks, nothing copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViaRef<'a> {
    /// Transport token as received (compare case-insensitively).
    pub transport: &'a str,
    /// The sent-by host.
    pub host: HostRef<'a>,
    /// The sent-by port.
    pub port: Option<u16>,
    /// Via parameters.
    pub params: ParamsRef<'a>,
}

impl<'a> ViaRef<'a> {
    /// Parses as [`Via::parse`] does.
    ///
    /// # Errors
    /// As [`Via::parse`].
    pub fn parse(s: &'a str) -> Result<Self, ParseError> {
        let (name, rest) = split_at_byte(s, b'/').ok_or_else(|| bad("Via sent-protocol"))?;
        let (version, rest) = split_at_byte(rest, b'/').ok_or_else(|| bad("Via sent-protocol"))?;
        let (name, version, rest) = (trim_ws(name), trim_ws(version), trim_ws(rest));
        if !name.eq_ignore_ascii_case("SIP") {
            return Err(bad("Via protocol name"));
        }
        if version != "2.0" {
            let (major, minor) = version
                .split_once('.')
                .ok_or_else(|| bad("Via protocol version"))?;
            let num = |s: &str| digits_u64(s).and_then(|v| u16::try_from(v).ok());
            return match (num(major), num(minor)) {
                (Some(major), Some(minor)) => Err(ParseError::Version { major, minor }),
                _ => Err(bad("Via protocol version")),
            };
        }
        let tlen = rest.bytes().take_while(|b| is_token_byte(*b)).count();
        let (transport, rest) = rest.split_at(tlen);
        if transport.is_empty() || !rest.starts_with(is_ws_char) {
            return Err(bad("Via transport"));
        }
        // The parameters with a grammar of their own are picked up in the same pass (the first of
        // each name, as `get` would find).
        let (mut received, mut rport, mut branch) = (None, None, None);
        let (sent_by, params) = match find_byte(rest, b';') {
            Some(semi) => (
                rest.get(..semi).unwrap_or(""),
                ParamsRef::header_each(
                    rest.get(semi.saturating_add(1)..).unwrap_or(""),
                    |name, value| {
                        let slot = if name.eq_ignore_ascii_case("received") {
                            &mut received
                        } else if name.eq_ignore_ascii_case("rport") {
                            &mut rport
                        } else if name.eq_ignore_ascii_case("branch") {
                            &mut branch
                        } else {
                            return;
                        };
                        slot.get_or_insert(value.unwrap_or(""));
                    },
                )?,
            ),
            None => (rest, ParamsRef::default()),
        };
        let (host, port) = split_sent_by(trim_ws(sent_by)).ok_or_else(|| bad("Via sent-by"))??;
        let host = HostRef::parse(host, false)?;
        if let Some(r) = received {
            HostRef::parse(r, true)
                .ok()
                .and_then(HostRef::ip)
                .ok_or_else(|| bad("Via received"))?;
        }
        if let Some(r) = rport
            && !r.is_empty()
            && digits_u64(r).and_then(|p| u16::try_from(p).ok()).is_none()
        {
            return Err(bad("Via rport"));
        }
        if branch.is_some_and(|b| !is_token(b)) {
            return Err(bad("Via branch"));
        }
        Ok(Self {
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter, as [`Via::branch`].
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").filter(|b| !b.is_empty())
    }

    /// The owned Via (transport upper-cased).
    pub fn to_via(&self) -> Via {
        Via {
            transport: self.transport.to_ascii_uppercase(),
            host: self.host.to_host(),
            port: self.port,
            params: self.params.to_params(),
        }
    }
}

/// Splits a trimmed sent-by into host and port, allowing LWS only around the colon
/// (`COLON = SWS ":" SWS`); `None` if white space appears anywhere else.
fn split_sent_by(s: &str) -> Option<Result<(&str, Option<u16>), ParseError>> {
    if !s.bytes().any(is_ws) {
        return Some(split_hostport(s));
    }
    let compact = compact_sent_by(s)?;
    // White space may stand only next to the colon after the host, so the host is where the text
    // starts.
    Some(split_hostport(&compact).and_then(|(host, port)| {
        s.get(..host.len())
            .filter(|h| *h == host)
            .map(|h| (h, port))
            .ok_or_else(|| bad("Via sent-by"))
    }))
}

/// Removes the LWS allowed around the sent-by colon (`COLON = SWS ":" SWS`); `None` if white space
/// appears anywhere else.
fn compact_sent_by(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c == ' ' || c == '\t' {
            let before = b.get(..i)?.iter().rev().find(|x| !is_ws(**x));
            let after = b.get(i..)?.iter().find(|x| !is_ws(**x));
            if before != Some(&b':') && after != Some(&b':') {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn is_ws_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_ws)
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SIP/2.0/")?;
        f.write_str(&self.transport)?;
        f.write_str(" ")?;
        fmt::Display::fmt(&self.host, f)?;
        if let Some(p) = self.port {
            f.write_str(":")?;
            f.write_str(Decimal::new(u64::from(p)).as_str())?;
        }
        fmt::Display::fmt(&self.params, f)
    }
}

impl std::str::FromStr for Via {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

/// `CSeq: seq method` (RFC 3261 §20.16). The number must fit 32 bits (RFC 4475 §3.1.2.5 scalar02).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// Sequence number.
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`.
    ///
    /// # Errors
    /// [`ParseError::Value`] on syntax errors or a number above 2^32 - 1.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let s = trim_ws(s);
        let split = s.find([' ', '\t']).ok_or_else(|| bad("CSeq"))?;
        let (num, method) = s.split_at(split);
        let seq = digits_u64(num)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad("CSeq number"))?;
        Ok(Self {
            seq,
            method: Method::new(trim_ws(method))?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Decimal::new(u64::from(self.seq)).as_str())?;
        f.write_str(" ")?;
        f.write_str(self.method.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_lws_and_ipv6() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (v.transport.as_str(), v.branch()),
            ("UDP", Some("390skdjuw"))
        );
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  ");
        let v = v.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.host, Host::Name("spindle.example.com".into()));
        assert!(v.has_magic_cookie());
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255;rport")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received_ip(), "2001:db8::9:255".parse().ok());
        assert_eq!(v.rport(), Some(None));
        let w = Via::parse(&v.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, w);
        let v = Via::parse("SIP/2.0/tcp host : 5060 ;received=[2001:db8::9:255];rport=7")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (v.port, v.rport(), v.transport.as_str()),
            (Some(5060), Some(Some(7)), "TCP")
        );
        assert!(v.received_ip().is_some());
    }

    #[test]
    fn via_rejects() {
        assert!(matches!(
            Via::parse("SIP/7.0/UDP c.example.com"),
            Err(ParseError::Version { major: 7, minor: 0 })
        ));
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP a b",
            "SIP/2.0/UDP h;received=host",
            "SIP/2.0 UDP h",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cseq() {
        assert_eq!(
            CSeq::parse("0009 INVITE"),
            Ok(CSeq {
                seq: 9,
                method: Method::INVITE
            })
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("INVITE").is_err());
        assert_eq!(
            CSeq::parse("4294967295 ACK").map(|c| c.to_string()),
            Ok("4294967295 ACK".to_owned())
        );
    }
}
