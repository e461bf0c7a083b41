//! Parameter lists: `;name[=value]` after URIs (RFC 3261 §19.1.1 `uri-parameters`) and after header
//! values (§7.3.1 `generic-param`, `via-params`, `contact-params`).

use std::borrow::Cow;
use std::fmt;

use super::error::{ParseError, bad};
use super::lex::{
    escaped_with, find_byte, find_unquoted, is_token, is_token_byte, is_unreserved, quoted_len,
    split_at_byte, trim_ws, unquote,
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
}

/// A parameter list as it is on the wire, its syntax checked as [`Params`] checks it but nothing
/// copied: what the checks of [`crate::msg::SipMessage::validate`] and the hot paths read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParamsRef<'a> {
    /// The text after the first `;` (empty for no parameters).
    raw: &'a str,
    /// URI parameters rather than header parameters.
    uri: bool,
}

impl<'a> ParamsRef<'a> {
    /// Checks header parameters: `raw` is everything after the first `;`. LWS is allowed around `;`
    /// and `=` (RFC 3261 `SEMI`, `EQUAL`); values are tokens, hosts (also bracketed IPv6, RFC 5118
    /// §4.5) or quoted strings. Empty parameters (`;;`) are errors.
    pub(crate) fn header(raw: &'a str) -> Result<Self, ParseError> {
        Self::header_each(raw, |_, _| {})
    }

    /// [`ParamsRef::header`], handing each `(name, value)` to `each` on the way (one pass for a
    /// caller that checks some values).
    pub(crate) fn header_each(
        raw: &'a str,
        mut each: impl FnMut(&'a str, Option<&'a str>),
    ) -> Result<Self, ParseError> {
        header_items(raw).try_for_each(|item| item.map(|(n, v)| each(n, v)))?;
        Ok(Self { raw, uri: false })
    }

    /// Header parameters taken as they are, for a lookup that needs no checking (its caller says
    /// why): [`ParamsRef::get`] on it finds what it would on the checked list.
    pub(crate) fn header_unchecked(raw: &'a str) -> Self {
        Self { raw, uri: false }
    }

    /// Checks URI parameters: `raw` is everything after the first `;`. No white space; names and
    /// values are `paramchar`s with `%` escapes (RFC 3261 §25.1 `uri-parameter`).
    pub(crate) fn uri(raw: &'a str) -> Result<Self, ParseError> {
        raw.split(';')
            .try_for_each(|item| uri_item(item).map(drop))?;
        Ok(Self { raw, uri: true })
    }

    /// The `(name, value)` pairs, values as received.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + use<'a> {
        // Checked when made: only split here.
        let uri = self.uri;
        let mut rest = (!self.raw.is_empty()).then_some(self.raw);
        std::iter::from_fn(move || {
            let current = rest.take()?;
            let end = if uri {
                find_byte(current, b';')
            } else {
                find_unquoted(current, b';')
            };
            let item = match end {
                Some(i) => {
                    rest = current.get(i.saturating_add(1)..);
                    current.get(..i).unwrap_or("")
                }
                None => current,
            };
            Some(match split_at_byte(item, b'=') {
                Some((n, v)) if uri => (n, Some(v)),
                Some((n, v)) => (trim_ws(n), Some(trim_ws(v))),
                None if uri => (item, None),
                None => (trim_ws(item), None),
            })
        })
    }

    /// The raw value of the first parameter called `name`, as [`Params::get`].
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }

    /// Whether a parameter called `name` is present, as [`Params::contains`].
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The owned list.
    pub fn to_params(&self) -> Params {
        Params(
            self.iter()
                .map(|(n, v)| (n.to_owned(), v.map(str::to_owned)))
                .collect(),
        )
    }
}

/// The header parameters of `s` one by one, each checked; an error ends the list.
fn header_items(
    s: &str,
) -> impl Iterator<Item = Result<(&str, Option<&str>), ParseError>> + use<'_> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let current = rest.take()?;
        Some(next_param(current).and_then(|(item, next)| {
            rest = next;
            header_item(item)
        }))
    })
}

/// One `generic-param`: `name [ EQUAL gen-value ]`.
fn header_item(item: &str) -> Result<(&str, Option<&str>), ParseError> {
    let (name, value) = match find_byte(item, b'=') {
        Some(eq) => {
            let name = trim_ws(item.get(..eq).unwrap_or(""));
            let value = trim_ws(item.get(eq.saturating_add(1)..).unwrap_or(""));
            if !is_gen_value(value) {
                return Err(bad("parameter value"));
            }
            (name, Some(value))
        }
        None => (trim_ws(item), None),
    };
    if !is_token(name) {
        return Err(bad("parameter name"));
    }
    Ok((name, value))
}

/// One `uri-parameter`.
fn uri_item(item: &str) -> Result<(&str, Option<&str>), ParseError> {
    let (name, value) = match split_at_byte(item, b'=') {
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
    Ok((name, value))
}

/// Splits off the next `;`-separated parameter (outside quoted strings): `(item, rest after ';')`.
fn next_param(s: &str) -> Result<(&str, Option<&str>), ParseError> {
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
                return Ok((item, Some(s.get(i.saturating_add(1)..).unwrap_or(""))));
            }
            _ => i = i.saturating_add(1),
        }
    }
    Ok((s, None))
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
        write_params(f, self.iter())
    }
}

impl fmt::Display for ParamsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_params(f, self.iter())
    }
}

/// `;name=value;flag`, as both lists print.
fn write_params<'a>(
    f: &mut fmt::Formatter<'_>,
    items: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) -> fmt::Result {
    for (n, v) in items {
        f.write_str(";")?;
        f.write_str(n)?;
        if let Some(v) = v {
            f.write_str("=")?;
            f.write_str(v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> Result<Params, ParseError> {
        ParamsRef::header(s).map(|p| p.to_params())
    }

    fn uri(s: &str) -> Result<Params, ParseError> {
        ParamsRef::uri(s).map(|p| p.to_params())
    }

    #[test]
    fn header_params_with_lws() {
        let p = header("   tag    = 1918181833n").unwrap_or_default();
        assert_eq!(p.get("TAG"), Some("1918181833n"));
        let p = header(" newparam = newvalue ; secondparam ; q = 0.33").unwrap_or_default();
        assert_eq!(p.len(), 3);
        assert!(p.contains("secondparam"));
        assert_eq!(p.get("secondparam"), Some(""));
        assert_eq!(p.to_string(), ";newparam=newvalue;secondparam;q=0.33");
        let p = header(r#"+sip.instance="<urn:uuid:1;a>";reg-id=1"#).unwrap_or_default();
        assert_eq!(
            p.get_unquoted("+sip.instance").as_deref(),
            Some("<urn:uuid:1;a>")
        );
        assert!(header(";").is_err());
        assert!(header("a;;b").is_err());
        assert!(header("a=").is_err());
        assert!(header("received=[2001:db8::9:255]").is_ok());
    }

    #[test]
    fn uri_params_and_edit() {
        let mut p = uri("lr;%6C%72;n%61me=v%61lue%25%34%31;maddr=[::1]").unwrap_or_default();
        assert_eq!(p.len(), 4);
        assert!(uri("a;;b").is_err());
        assert!(uri("a=%zz").is_err());
        p.set("lr", Some("on"));
        assert_eq!(p.get("LR"), Some("on"));
        assert!(p.remove("lr"));
        assert!(!p.remove("lr"));
        p.set("new", None);
        assert_eq!(p.iter().last(), Some(("new", None)));
    }
}
