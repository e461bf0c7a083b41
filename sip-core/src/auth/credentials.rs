//! Parsing of `Authorization` / `Proxy-Authorization` header values (RFC 3261 §25.1 `credentials`,
//! RFC 2617 §3.2.2 `digest-response`).
//!
//! The parser is tolerant in the ways real phones need: parameter names are case-insensitive, parameters
//! may come in any order, values may be tokens or quoted strings (with `\` escapes), white space around
//! `=` and `,` is skipped and unknown parameters are ignored. It is strict where leniency would be
//! unsafe: a known parameter given twice, an unterminated quoted string or a missing mandatory
//! parameter makes the whole value malformed.

use std::borrow::Cow;

use super::MalformedReason;

/// The digest parameters a client sent, borrowed from the header text where no unescaping was needed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials<'a> {
    /// `username`: the extension (the user part of the AOR for a registration).
    pub username: Cow<'a, str>,
    /// `realm`: the domain whose credentials are offered.
    pub realm: Cow<'a, str>,
    /// `nonce`: the server nonce being answered.
    pub nonce: Cow<'a, str>,
    /// `uri`: the digest-uri the client hashed (normally the Request-URI).
    pub uri: Cow<'a, str>,
    /// `response`: the hex digest.
    pub response: Cow<'a, str>,
    /// `algorithm`, if sent (absent means MD5, RFC 2617 §3.2.2).
    pub algorithm: Option<Cow<'a, str>>,
    /// `cnonce`, required with `qop`.
    pub cnonce: Option<Cow<'a, str>>,
    /// `qop`, the quality of protection chosen (`auth`).
    pub qop: Option<Cow<'a, str>>,
    /// `nc`, the nonce count as sent (8 hex digits), required with `qop`.
    pub nc: Option<Cow<'a, str>>,
    /// `opaque`, echoed from the challenge if the server sent one.
    pub opaque: Option<Cow<'a, str>>,
}

impl<'a> Credentials<'a> {
    /// Parses one header value such as
    /// `Digest username="1001", realm="acme.example.com", nonce="…", uri="sip:acme.example.com", response="…"`.
    ///
    /// # Errors
    /// [`MalformedReason`] naming what is wrong: not the `Digest` scheme, bad syntax, a duplicated or a
    /// missing parameter.
    pub fn parse(value: &'a str) -> Result<Self, MalformedReason> {
        let value = value.trim_start();
        let scheme_len = value
            .find(|c: char| c.is_ascii_whitespace())
            .unwrap_or(value.len());
        let (scheme, mut rest) = value.split_at(scheme_len);
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(MalformedReason::NotDigest);
        }
        let mut creds = Self::default();
        let mut seen = Seen::default();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
            if rest.is_empty() {
                break;
            }
            let (name, after) = take_token(rest).ok_or(MalformedReason::Syntax)?;
            let after = after.trim_start();
            let after = after.strip_prefix('=').ok_or(MalformedReason::Syntax)?;
            let (val, after) = take_value(after.trim_start())?;
            rest = after.trim_start();
            if !(rest.is_empty() || rest.starts_with(',')) {
                return Err(MalformedReason::Syntax);
            }
            creds.set(name, val, &mut seen)?;
        }
        for (present, name) in [
            (seen.username, "username"),
            (seen.realm, "realm"),
            (seen.nonce, "nonce"),
            (seen.uri, "uri"),
            (seen.response, "response"),
        ] {
            if !present {
                return Err(MalformedReason::Missing(name));
            }
        }
        if creds.qop.is_some() {
            if creds.cnonce.is_none() {
                return Err(MalformedReason::Missing("cnonce"));
            }
            if creds.nc.is_none() {
                return Err(MalformedReason::Missing("nc"));
            }
        }
        Ok(creds)
    }

    fn set(
        &mut self,
        name: &str,
        val: Cow<'a, str>,
        seen: &mut Seen,
    ) -> Result<(), MalformedReason> {
        // Parameter names compare case-insensitively (RFC 2617 §1.2), without lower-casing a copy.
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        let (flag, slot, static_name): (&mut bool, Slot<'_, 'a>, &'static str) = if is("username") {
            (
                &mut seen.username,
                Slot::Plain(&mut self.username),
                "username",
            )
        } else if is("realm") {
            (&mut seen.realm, Slot::Plain(&mut self.realm), "realm")
        } else if is("nonce") {
            (&mut seen.nonce, Slot::Plain(&mut self.nonce), "nonce")
        } else if is("uri") {
            (&mut seen.uri, Slot::Plain(&mut self.uri), "uri")
        } else if is("response") {
            (
                &mut seen.response,
                Slot::Plain(&mut self.response),
                "response",
            )
        } else if is("algorithm") {
            (
                &mut seen.algorithm,
                Slot::Opt(&mut self.algorithm),
                "algorithm",
            )
        } else if is("cnonce") {
            (&mut seen.cnonce, Slot::Opt(&mut self.cnonce), "cnonce")
        } else if is("qop") {
            (&mut seen.qop, Slot::Opt(&mut self.qop), "qop")
        } else if is("nc") {
            (&mut seen.nc, Slot::Opt(&mut self.nc), "nc")
        } else if is("opaque") {
            (&mut seen.opaque, Slot::Opt(&mut self.opaque), "opaque")
        } else {
            return Ok(());
        };
        if *flag {
            return Err(MalformedReason::Duplicate(static_name));
        }
        *flag = true;
        match slot {
            Slot::Plain(s) => *s = val,
            Slot::Opt(s) => *s = Some(val),
        }
        Ok(())
    }
}

enum Slot<'s, 'a> {
    Plain(&'s mut Cow<'a, str>),
    Opt(&'s mut Option<Cow<'a, str>>),
}

#[derive(Default)]
struct Seen {
    username: bool,
    realm: bool,
    nonce: bool,
    uri: bool,
    response: bool,
    algorithm: bool,
    cnonce: bool,
    qop: bool,
    nc: bool,
    opaque: bool,
}

/// RFC 3261 §25.1 `token` characters.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn take_token(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// A quoted string (unescaped) or a bare value running to the next comma or white space.
fn take_value(s: &str) -> Result<(Cow<'_, str>, &str), MalformedReason> {
    let Some(body) = s.strip_prefix('"') else {
        let end = s
            .find(|c: char| c == ',' || c.is_ascii_whitespace())
            .unwrap_or(s.len());
        let (val, rest) = s.split_at(end);
        if val.is_empty() || val.contains('"') {
            return Err(MalformedReason::Syntax);
        }
        return Ok((Cow::Borrowed(val), rest));
    };
    // The common case, no quoted-pair: borrowed.
    if let Some(end) = body.find(['"', '\\'])
        && body.as_bytes().get(end) == Some(&b'"')
    {
        let (val, rest) = body.split_at(end);
        return Ok((Cow::Borrowed(val), rest.get(1..).unwrap_or("")));
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let rest = body.get(i.saturating_add(1)..).unwrap_or("");
                return Ok((Cow::Owned(out), rest));
            }
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => break,
            },
            _ => out.push(c),
        }
    }
    Err(MalformedReason::UnterminatedQuote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_2617_example() {
        let v = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = Credentials::parse(v).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.qop.as_deref(), Some("auth"));
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
    }

    #[test]
    fn any_order_case_and_unknown_params() {
        let v = r#"digest RESPONSE="ab",Foo=bar, URI = "sip:a" ,Realm="r", x="q\"uoted, with comma",NONCE=n,username="u\\x""#;
        let c = Credentials::parse(v).unwrap();
        assert_eq!(c.username, "u\\x");
        assert_eq!(c.uri, "sip:a");
        assert_eq!(c.nonce, "n");
        assert_eq!(c.algorithm, None);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(
            Credentials::parse("Basic dXNlcjpwYXNz"),
            Err(MalformedReason::NotDigest)
        );
        assert_eq!(Credentials::parse(""), Err(MalformedReason::NotDigest));
        assert_eq!(
            Credentials::parse(r#"Digest username="u, realm=r"#),
            Err(MalformedReason::UnterminatedQuote)
        );
        assert_eq!(
            Credentials::parse(
                r#"Digest username="a", username="b", realm=r, nonce=n, uri=u, response=x"#
            ),
            Err(MalformedReason::Duplicate("username"))
        );
        assert_eq!(
            Credentials::parse(r#"Digest username="a", nonce=n, uri=u, response=x"#),
            Err(MalformedReason::Missing("realm"))
        );
        assert_eq!(
            Credentials::parse(
                r#"Digest username="a", realm=r, nonce=n, uri=u, response=x, qop=auth, nc=00000001"#
            ),
            Err(MalformedReason::Missing("cnonce"))
        );
        assert_eq!(
            Credentials::parse("Digest username"),
            Err(MalformedReason::Syntax)
        );
        assert_eq!(
            Credentials::parse("Digest a=b c=d"),
            Err(MalformedReason::Syntax)
        );
        assert_eq!(
            Credentials::parse("Digest a=\"b\"c"),
            Err(MalformedReason::Syntax)
        );
    }
}
