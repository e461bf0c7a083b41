//! SIP digest credentials as the store keeps them: HA1 = H(username ":" realm ":" password), hex, for MD5
//! (RFC 2617/3261) and SHA-256 (RFC 7616, for SIP RFC 8760). The realm is the user's domain and the
//! username its extension, so a password is never kept in clear once imported.
//!
//! The CSV `password` column carries either a clear password or, as `crossbar export` writes it, the stored
//! hashes in the form `ha1:<32 hex MD5>:<64 hex SHA-256>`. The hashes only verify for the same extension
//! and domain they were computed for.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// The two HA1 values kept for a user.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1 {
    /// MD5 HA1, 32 lower-case hex digits.
    pub md5: String,
    /// SHA-256 HA1, 64 lower-case hex digits.
    pub sha256: String,
}

impl std::fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Password-equivalent for its realm: keep it out of logs.
        f.write_str("Ha1(..)")
    }
}

const PREFIX: &str = "ha1:";

impl Ha1 {
    /// Computes both HA1 values from a clear password.
    pub fn compute(username: &str, realm: &str, password: &str) -> Self {
        let input = format!("{username}:{realm}:{password}");
        Self {
            md5: hex::encode(Md5::digest(input.as_bytes())),
            sha256: hex::encode(Sha256::digest(input.as_bytes())),
        }
    }

    /// Reads the `ha1:<md5>:<sha256>` export form; `None` if `text` is not in that form.
    pub fn from_export_form(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        let (md5, sha256) = rest.split_once(':')?;
        let is_hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        (is_hex(md5, 32) && is_hex(sha256, 64)).then(|| Self {
            md5: md5.to_ascii_lowercase(),
            sha256: sha256.to_ascii_lowercase(),
        })
    }

    /// The `ha1:<md5>:<sha256>` form `crossbar export` writes.
    pub fn export_form(&self) -> String {
        format!("{PREFIX}{}:{}", self.md5, self.sha256)
    }

    /// Whether `text` looks like an attempt at the export form (so a malformed one is reported, not taken
    /// as a clear password).
    pub fn looks_like_export_form(text: &str) -> bool {
        text.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_vector() {
        // RFC 2617 §3.5: Mufasa / testrealm@host.com / Circle Of Life.
        let ha1 = Ha1::compute("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(ha1.md5, "939e7578ed9e3c518a452acee763bce9");
    }

    #[test]
    fn rfc_7616_sha256_vector() {
        // RFC 7616 §3.9.1: this HA1 with the RFC's nonce, cnonce and request gives the RFC's response.
        let ha1 = Ha1::compute("Mufasa", "http-auth@example.org", "Circle of Life");
        let h = |s: String| hex::encode(Sha256::digest(s.as_bytes()));
        let ha2 = h("GET:/dir/index.html".to_owned());
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let response = h(format!(
            "{}:{nonce}:00000001:{cnonce}:auth:{ha2}",
            ha1.sha256
        ));
        assert_eq!(
            response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn export_form_round_trips() {
        let ha1 = Ha1::compute("1001", "acme.example.com", "s3cret");
        let text = ha1.export_form();
        assert_eq!(Ha1::from_export_form(&text), Some(ha1));
        assert!(Ha1::from_export_form("ha1:abc:def").is_none());
        assert!(Ha1::looks_like_export_form("ha1:abc:def"));
        assert!(Ha1::from_export_form("s3cret").is_none());
    }
}
