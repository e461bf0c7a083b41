//! Parameter lists: `;name[=value]` after URIs (RFC 3261 §19.1.1 `uri-parameters`) and after header
//! values (§7.3.1 `generic-param`, `via-params`, `contact-params`).

use std::borrow::Cow;
use std::fmt;

use super::error::{ParseError, bad};
use super::lex::{
    escaped_with, is_token, is_token_byte, is_unreserved, quoted_len, trim_ws, unquote,
};

/// An ordered parameter list. Names compare case-insensitively; values are kept exactly as
/// received (quoted strings keep their quotes, URI escapes stay escaped), so printing with
/// `Display` (`;a=b;lr`) reproduces the input apart from white space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params(pub Vec<(String, Option<String>)>);

impl Params {
    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The raw value of the first parameter called `name`: `None` if absent, `Some("")` if present
    /// without a value (`;lr`). Use [`Params::contains`] for flags.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Like [`Params::get`], with a quoted-string value unquoted (e.g. `+sip.instance="<urn:..>"`).
    pub fn get_unquoted(&self, name: &str) -> Option<Cow<'_, str>> {
        let v = self.get(name)?;
        if v.starts_with('"') {
            unquote(v).map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(v))
        }
    }

    /// Whether a parameter called `name` is present (with or without value).
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Sets `name` to `value`, replacing the first existing parameter of that name or appending.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(entry) => entry.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// Removes every parameter called `name`; returns whether any was present.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.0.len() != before
    }

    /// Iterates over `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses header parameters: `s` is everything after the first `;` (or empty). LWS is allowed
    /// around `;` and `=` (RFC 3261 `SEMI`, `EQUAL`); values are tokens, hosts (also bracketed IPv6,
    /// RFC 5118 §4.5) or quoted strings. Empty parameters (`;;`) are errors.
    pub(crate) fn parse_header(s: &str) -> Result<Self, ParseError> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some((item, next)) = next_param(rest)? {
            let (name, value) = match item.find('=') {
                Some(eq) => {
                    let name = trim_ws(item.get(..eq).unwrap_or(""));
                    let value = trim_ws(item.get(eq.saturating_add(1)..).unwrap_or(""));
                    if !is_gen_value(value) {
                        return Err(bad("parameter value"));
                    }
                    (name, Some(value.to_owned()))
                }
                None => (trim_ws(item), None),
            };
            if !is_token(name) {
                return Err(bad("parameter name"));
            }
            out.push((name.to_owned(), value));
            match next {
                Some(n) => rest = n,
                None => break,
            }
        }
        Ok(Self(out))
    }

    /// Parses URI parameters: `s` is everything after the first `;`. No white space; names and
    /// values are `paramchar`s with `%` escapes (RFC 3261 §25.1 `uri-parameter`).
    pub(crate) fn parse_uri(s: &str) -> Result<Self, ParseError> {
        let mut out = Vec::new();
        for item in s.split(';') {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (item, None),
            };
            if name.is_empty() || !escaped_with(name, is_paramchar) {
                return Err(bad("URI parameter name"));
            }
            if let Some(v) = value
                && (v.is_empty() || !escaped_with(v, is_paramchar))
            {
                return Err(bad("URI parameter value"));
            }
            out.push((name.to_owned(), value.map(str::to_owned)));
        }
        Ok(Self(out))
    }
}

/// Splits off the next `;`-separated parameter (outside quoted strings): `(item, rest after ';')`.
fn next_param(s: &str) -> Result<Option<(&str, Option<&str>)>, ParseError> {
    if trim_ws(s).is_empty() {
        return Err(bad("empty parameter"));
    }
    let b = s.as_bytes();
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => {
                let len = s
                    .get(i..)
                    .and_then(quoted_len)
                    .ok_or_else(|| bad("unterminated quoted string"))?;
                i = i.saturating_add(len);
            }
            b';' => {
                let item = s.get(..i).unwrap_or("");
                return Ok(Some((
                    item,
                    Some(s.get(i.saturating_add(1)..).unwrap_or("")),
                )));
            }
            _ => i = i.saturating_add(1),
        }
    }
    Ok(Some((s, None)))
}

/// `gen-value = token / host / quoted-string` (RFC 3261 §25.1).
fn is_gen_value(v: &str) -> bool {
    if v.starts_with('"') {
        return quoted_len(v) == Some(v.len());
    }
    !v.is_empty()
        && v.bytes()
            .all(|b| is_token_byte(b) || matches!(b, b':' | b'[' | b']'))
}

/// `paramchar = param-unreserved / unreserved / escaped`, `param-unreserved = [ ] / : & + $`.
pub(crate) fn is_paramchar(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_params_with_lws() {
        let p = Params::parse_header("   tag    = 1918181833n").unwrap_or_default();
        assert_eq!(p.get("TAG"), Some("1918181833n"));
        let p = Params::parse_header(" newparam = newvalue ; secondparam ; q = 0.33")
            .unwrap_or_default();
        assert_eq!(p.len(), 3);
        assert!(p.contains("secondparam"));
        assert_eq!(p.get("secondparam"), Some(""));
        assert_eq!(p.to_string(), ";newparam=newvalue;secondparam;q=0.33");
        let p =
            Params::parse_header(r#"+sip.instance="<urn:uuid:1;a>";reg-id=1"#).unwrap_or_default();
        assert_eq!(
            p.get_unquoted("+sip.instance").as_deref(),
            Some("<urn:uuid:1;a>")
        );
        assert!(Params::parse_header(";").is_err());
        assert!(Params::parse_header("a;;b").is_err());
        assert!(Params::parse_header("a=").is_err());
        assert!(Params::parse_header("received=[2001:db8::9:255]").is_ok());
    }

    #[test]
    fn uri_params_and_edit() {
        let mut p =
            Params::parse_uri("lr;%6C%72;n%61me=v%61lue%25%34%31;maddr=[::1]").unwrap_or_default();
        assert_eq!(p.len(), 4);
        assert!(Params::parse_uri("a;;b").is_err());
        assert!(Params::parse_uri("a=%zz").is_err());
        p.set("lr", Some("on"));
        assert_eq!(p.get("LR"), Some("on"));
        assert!(p.remove("lr"));
        assert!(!p.remove("lr"));
        p.set("new", None);
        assert_eq!(p.iter().last(), Some(("new", None)));
    }
}
