//! Contact-level rules of RFC 3261 §10.3 step 6–7: URI equivalence (§19.1.4), q-values (§20.10) and
//! expiry selection (§10.2.1.1, §10.3 step 6).

use crate::msg::UriRef;

/// URI comparison per RFC 3261 §19.1.4, as the registrar uses it to tell whether a Contact refreshes
/// an existing binding: same scheme; user and password equal case-sensitively after unescaping; host
/// case-insensitive; ports equal (an absent port differs from an explicit 5060); the parameters
/// `user`, `ttl`, `method`, `maddr` and `transport` equal if either side has them; any other
/// parameter present on both sides equal (case-insensitively); URI headers equal.
pub(crate) fn uri_equivalent(a: &UriRef<'_>, b: &UriRef<'_>) -> bool {
    if a.scheme != b.scheme || a.port != b.port || !a.host.same_as(b.host) {
        return false;
    }
    if a.user_unescaped() != b.user_unescaped() || a.password != b.password {
        return false;
    }
    for name in ["user", "ttl", "method", "maddr", "transport"] {
        let (x, y) = (a.params.get(name), b.params.get(name));
        if !opt_eq_ci(x, y) {
            return false;
        }
    }
    for (name, x) in a.params.iter() {
        if let Some(y) = b.params.get(name)
            && !x.unwrap_or("").eq_ignore_ascii_case(y)
        {
            return false;
        }
    }
    a.headers == b.headers
}

fn opt_eq_ci(x: Option<&str>, y: Option<&str>) -> bool {
    match (x, y) {
        (None, None) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

/// Reads a q-value (`qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, RFC 3261 §25.1)
/// into thousandths. `None` if it does not match the grammar.
pub(crate) fn parse_q(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, scale) in [100u16, 10, 1].into_iter().enumerate() {
        let digit = frac
            .as_bytes()
            .get(i)
            .map_or(0, |d| u16::from(d.saturating_sub(b'0')));
        thousandths = thousandths.saturating_add(digit.saturating_mul(scale));
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Reads a delta-seconds value (RFC 3261 §25.1) for `Expires` or the `expires` parameter; values above
/// 2³²−1 are taken as 2³²−1 (§20.19). `None` if it is not a digit string.
pub(crate) fn parse_delta_seconds(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        text.parse::<u64>()
            .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> UriRef<'_> {
        UriRef::parse(s).unwrap()
    }

    #[test]
    fn rfc_3261_19_1_4_equivalences() {
        // The RFC's equivalent pairs.
        assert!(uri_equivalent(
            &u("sip:%61lice@atlanta.com;transport=TCP"),
            &u("sip:alice@AtLanTa.CoM;Transport=tcp")
        ));
        assert!(uri_equivalent(
            &u("sip:carol@chicago.com"),
            &u("sip:carol@chicago.com;newparam=5")
        ));
        assert!(uri_equivalent(
            &u("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com"),
            &u("sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com")
        ));
        // The RFC's non-equivalent pairs.
        assert!(!uri_equivalent(
            &u("SIP:ALICE@AtLanTa.CoM;Transport=udp"),
            &u("sip:alice@AtLanTa.CoM;Transport=UDP")
        ));
        assert!(!uri_equivalent(
            &u("sip:bob@biloxi.com"),
            &u("sip:bob@biloxi.com:5060")
        ));
        assert!(!uri_equivalent(
            &u("sip:bob@biloxi.com"),
            &u("sip:bob@biloxi.com;transport=udp")
        ));
        assert!(!uri_equivalent(
            &u("sip:carol@chicago.com;security=on"),
            &u("sip:carol@chicago.com;security=off")
        ));
        assert!(!uri_equivalent(
            &u("sip:1001@10.0.0.1:5060"),
            &u("sips:1001@10.0.0.1:5060")
        ));
    }

    #[test]
    fn q_values() {
        for (t, q) in [
            ("1", 1000),
            ("1.0", 1000),
            ("1.000", 1000),
            ("0", 0),
            ("0.5", 500),
            ("0.25", 250),
            ("0.001", 1),
            ("0.", 0),
        ] {
            assert_eq!(parse_q(t), Some(q), "{t}");
        }
        for t in ["1.5", "2", "0.1234", "-0.5", "", ".5", "0.x", "1.001"] {
            assert_eq!(parse_q(t), None, "{t}");
        }
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_delta_seconds("3600"), Some(3600));
        assert_eq!(parse_delta_seconds(" 0 "), Some(0));
        assert_eq!(
            parse_delta_seconds("99999999999999999999999"),
            Some(u32::MAX)
        );
        assert_eq!(parse_delta_seconds("-1"), None);
        assert_eq!(parse_delta_seconds("1h"), None);
    }
}
