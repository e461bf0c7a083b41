//! HMAC-SHA256 (RFC 2104 with the SHA-256 block size of 64 bytes), used to sign the stateless nonces.

use sha2::{Digest as _, Sha256};

/// SHA-256 processes 64-byte blocks; RFC 2104 pads the key to this length.
const BLOCK: usize = 64;

/// HMAC-SHA256 over the concatenation of `parts` (RFC 2104 §2: H(K ^ opad, H(K ^ ipad, text))).
///
/// A key longer than a block is first hashed, as RFC 2104 requires; a shorter one is padded with zeros.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut padded = [0u8; BLOCK];
    if key.len() > BLOCK {
        let hashed: [u8; 32] = Sha256::digest(key).into();
        padded.iter_mut().zip(hashed).for_each(|(d, s)| *d = s);
    } else {
        padded.iter_mut().zip(key).for_each(|(d, s)| *d = *s);
    }
    let mut inner = Sha256::new();
    inner.update(padded.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let inner: [u8; 32] = inner.finalize().into();
    let mut outer = Sha256::new();
    outer.update(padded.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Compares two byte strings in time that depends only on their lengths (which are public here:
/// a hex digest's length follows from the algorithm).
/// [`constant_time_eq`] of `expected` (lower case) and `got` lower-cased (ASCII) on the fly.
pub(crate) fn constant_time_eq_lowercased(expected: &[u8], got: &[u8]) -> bool {
    if expected.len() != got.len() {
        return false;
    }
    expected
        .iter()
        .zip(got)
        .fold(0u8, |acc, (x, y)| acc | (x ^ y.to_ascii_lowercase()))
        == 0
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            crate::msg::text::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rfc_4231_case_6_long_key_is_hashed() {
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            crate::msg::text::hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn a_response_in_upper_case_hex_matches() {
        assert!(constant_time_eq_lowercased(b"0a9f", b"0A9F"));
        assert!(constant_time_eq_lowercased(b"0a9f", b"0a9f"));
        assert!(!constant_time_eq_lowercased(b"0a9f", b"0a9e"));
        assert!(!constant_time_eq_lowercased(b"0a9f", b"0a9"));
    }
}
