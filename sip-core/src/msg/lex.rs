//! Character classes and small scanners shared by the typed parsers (RFC 3261 §25.1).
//!
//! Everything here works on `&str` that has already been unfolded (folding replaced by one SP), so
//! linear white space is just SP and HTAB.

/// `token` characters of RFC 3261 §25.1: alphanumerics and `-.!%*_+`'~`.
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

/// [`is_token_byte`] as a table: header names, methods, tags and parameter names are checked one
/// byte at a time, and a lookup is one load where the comparisons were up to a dozen branches.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)] // evaluated at compile time
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    table
};

/// Whether `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// SP or HTAB.
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP and HTAB (not other Unicode white space) from both ends. A byte loop: the values it
/// trims are short, and `trim_matches` with a char set decodes every character it looks at.
pub(crate) fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|c| !is_ws(*c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !is_ws(*c))
        .map_or(start, |i| i.saturating_add(1));
    s.get(start..end.max(start)).unwrap_or("")
}

/// Where the first `b` (an ASCII byte) is in `s`: `memchr` on the bytes, without the set-up of
/// `str::find`'s char searcher, which costs more than these few-byte strings take to scan.
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    memchr::memchr(b, s.as_bytes())
}

/// `s` split around the first `b` (an ASCII byte, so both sides are whole strings), as
/// `str::split_once` with a char but without its searcher.
pub(crate) fn split_at_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, b)?;
    Some((s.get(..i)?, s.get(i.checked_add(1)?..)?))
}

/// `unreserved` of RFC 3261 §25.1: alphanumerics and the marks `-_.!~*'()`.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Whether every `%` in `s` starts a valid `escaped` triplet and every other byte satisfies `ok`.
pub(crate) fn escaped_with(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i.saturating_add(1)) && hex(i.saturating_add(2))) {
                return false;
            }
            i = i.saturating_add(3);
        } else {
            if !ok(c) {
                return false;
            }
            i = i.saturating_add(1);
        }
    }
    true
}

/// Decodes `%XX` escapes; invalid escapes are kept literally and bytes that are not UTF-8 are
/// replaced (RFC 3261 §19.1.2 allows escaping any octet; callers that need exact bytes use the raw form).
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        let decoded = if c == b'%' {
            let hi = b
                .get(i.saturating_add(1))
                .and_then(|h| (*h as char).to_digit(16));
            let lo = b
                .get(i.saturating_add(2))
                .and_then(|h| (*h as char).to_digit(16));
            match (hi, lo) {
                (Some(h), Some(l)) => u8::try_from(h.wrapping_mul(16).wrapping_add(l)).ok(),
                _ => None,
            }
        } else {
            None
        };
        match decoded {
            Some(v) => {
                out.push(v);
                i = i.saturating_add(3);
            }
            None => {
                out.push(c);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Length of the quoted string that starts at the beginning of `s` (which must start with `"`),
/// including both quotes, honouring `\` escapes (`quoted-pair`, RFC 3261 §25.1). `None` if unterminated.
pub(crate) fn quoted_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1usize;
    loop {
        match b.get(i)? {
            b'\\' => i = i.checked_add(2)?,
            b'"' => return i.checked_add(1),
            _ => i = i.checked_add(1)?,
        }
    }
}

/// The content of a complete quoted string (`"..."`), with quoted-pairs resolved.
pub(crate) fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?);
        } else if c == '"' {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Quotes `s` as a `quoted-string`, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits `s` at every `sep` byte that is outside quoted strings and outside `<...>`.
/// `None` if a quoted string is unterminated.
pub(crate) fn split_top(s: &str, sep: u8) -> Option<Vec<&str>> {
    top_parts(s, sep).map(Iterator::collect)
}

/// The parts [`split_top`] gives, without collecting them; `None` if a quoted string is unterminated
/// (checked before the first part is given).
pub(crate) fn top_parts(s: &str, sep: u8) -> Option<TopParts<'_>> {
    let mut parts = TopParts { rest: Some(s), sep };
    // Only a quoted string can be unterminated: without one there is nothing to check up front.
    if !s.as_bytes().contains(&b'"') {
        return Some(parts);
    }
    while let Some(rest) = parts.rest {
        let end = parts.end_of_first(rest)?;
        parts.rest = rest.get(end.checked_add(1)?..);
    }
    parts.rest = Some(s);
    Some(parts)
}

/// Iterator of [`top_parts`].
#[derive(Debug, Clone)]
pub(crate) struct TopParts<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl TopParts<'_> {
    /// Where the first part of `s` ends: the index of its top-level separator or `s.len()`.
    /// `memchr` jumps to the next byte that matters (the separator, a quote, an angle bracket): the
    /// lines scanned here are tens of bytes, nearly all of them ordinary.
    fn end_of_first(&self, s: &str) -> Option<usize> {
        let b = s.as_bytes();
        let mut i = 0usize;
        let mut angle = false;
        loop {
            let rest = b.get(i..)?;
            let next = if angle {
                memchr::memchr2(b'"', b'>', rest)
            } else {
                memchr::memchr3(self.sep, b'"', b'<', rest)
            };
            let Some(at) = next else {
                return Some(s.len());
            };
            i = i.checked_add(at)?;
            match b.get(i)? {
                b'"' => {
                    i = i.checked_add(quoted_len(s.get(i..)?)?)?;
                    continue;
                }
                b'<' => angle = true,
                b'>' => angle = false,
                _ => return Some(i),
            }
            i = i.checked_add(1)?;
        }
    }
}

impl<'a> Iterator for TopParts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest.take()?;
        // The quotes were checked by `top_parts`, so the end is always found.
        let end = self.end_of_first(rest).unwrap_or(rest.len());
        self.rest = end.checked_add(1).and_then(|n| rest.get(n..));
        rest.get(..end)
    }
}

/// Position of the first `needle` outside quoted strings.
pub(crate) fn find_unquoted(s: &str, needle: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0usize;
    loop {
        i = i.checked_add(memchr::memchr2(needle, b'"', b.get(i..)?)?)?;
        if b.get(i) == Some(&b'"') {
            i = i.checked_add(quoted_len(s.get(i..)?)?)?;
            continue;
        }
        return Some(i);
    }
}

/// Parses `1*DIGIT` into a `u64`; `None` on anything else or overflow.
pub(crate) fn digits_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-at-a-time scanners `end_of_first` and `find_unquoted` replaced, as the oracle.
    fn reference_end_of_first(s: &str, sep: u8) -> Option<usize> {
        let b = s.as_bytes();
        let (mut i, mut angle) = (0usize, false);
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    i += quoted_len(&s[i..])?;
                    continue;
                }
                b'<' => angle = true,
                b'>' => angle = false,
                c if c == sep && !angle => return Some(i),
                _ => {}
            }
            i += 1;
        }
        Some(s.len())
    }

    fn reference_find_unquoted(s: &str, needle: u8) -> Option<usize> {
        let b = s.as_bytes();
        let mut i = 0usize;
        while let Some(&c) = b.get(i) {
            if c == b'"' {
                i += quoted_len(&s[i..])?;
                continue;
            }
            if c == needle {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    proptest! {
        /// Strings of the bytes that matter (and a few that do not) scan as byte by byte.
        #[test]
        fn memchr_scanners_agree_with_the_byte_loops(s in "[a,;<>\"\\\\ é]{0,40}") {
            for sep in [b',', b';', b'"', b'<', b'>'] {
                let parts = TopParts { rest: Some(&s), sep };
                prop_assert_eq!(parts.end_of_first(&s), reference_end_of_first(&s, sep));
                prop_assert_eq!(find_unquoted(&s, sep), reference_find_unquoted(&s, sep));
            }
        }
    }

    /// The byte scanners give what the `str` methods they replace give.
    #[test]
    fn byte_scanners_agree_with_str() {
        for s in [
            "",
            " ",
            "\t \t",
            "a",
            " a ",
            "\ta b\t ",
            "  é ",
            "\u{a0}x\u{a0}",
            "a;b=c",
            "=;",
            "x\r ",
        ] {
            assert_eq!(trim_ws(s), s.trim_matches([' ', '\t']), "{s:?}");
            for b in [b';', b'=', b'a', b' '] {
                let c = char::from(b);
                assert_eq!(find_byte(s, b), s.find(c), "{s:?} {c:?}");
                assert_eq!(split_at_byte(s, b), s.split_once(c), "{s:?} {c:?}");
            }
        }
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(quoted_len(r#""a\"b" rest"#), Some(6));
        assert_eq!(quoted_len(r#""open"#), None);
        assert_eq!(
            unquote(r#""J Rosenberg \\\"""#).as_deref(),
            Some(r#"J Rosenberg \""#)
        );
        assert_eq!(quote(r#"a"b\"#), r#""a\"b\\""#);
    }

    #[test]
    fn top_level_split() {
        let v = split_top(r#"a, "b,c" <sip:x,y>, d"#, b',').unwrap_or_default();
        assert_eq!(v, vec!["a", r#" "b,c" <sip:x,y>"#, " d"]);
        assert!(split_top(r#""a, b"#, b',').is_none());
        assert!(top_parts(r#"a, "b"#, b',').is_none());
        assert_eq!(split_top("a,", b','), Some(vec!["a", ""]));
        assert_eq!(split_top("", b','), Some(vec![""]));
    }

    #[test]
    fn escapes() {
        assert!(escaped_with("a%41b", is_unreserved));
        assert!(!escaped_with("a%4", is_unreserved));
        assert!(!escaped_with("a%ZZ", is_unreserved));
        assert_eq!(unescape("%75se%72"), "user");
        assert_eq!(unescape("null-%00-"), "null-\0-");
        assert_eq!(digits_u64("0068"), Some(68));
        assert_eq!(digits_u64("-1"), None);
    }
}
