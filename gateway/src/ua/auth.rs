//! The client side of digest authentication (RFC 3261 §22.2–22.3, RFC 8760): reading a 401/407
//! challenge and answering it with the stored HA1 (MD5 or SHA-256), so a legacy line without a clear
//! password can still register upstream.

use sip_core::auth::{Algorithm, request_digest};
use sip_core::msg::{HeaderName, SipMessage};

/// One `Digest` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) opaque: Option<String>,
    pub(crate) algorithm: Algorithm,
    pub(crate) qop_auth: bool,
}

/// `name=value` pairs of a challenge, values unquoted (`\` escapes resolved).
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ',');
        let Some(eq) = rest.find('=') else { break };
        let name = rest.get(..eq).unwrap_or("").trim().to_ascii_lowercase();
        rest = rest.get(eq.saturating_add(1)..).unwrap_or("").trim_start();
        let value;
        if let Some(q) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i.saturating_add(1);
                        break;
                    }
                    _ => v.push(c),
                }
            }
            value = v;
            rest = q.get(end..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest.get(..end).unwrap_or("").trim().to_owned();
            rest = rest.get(end..).unwrap_or("");
        }
        out.push((name, value));
    }
    out
}

impl Challenge {
    /// Parses one `WWW-Authenticate`/`Proxy-Authenticate` value; `None` for another scheme, a missing
    /// realm or nonce, or an algorithm we cannot compute (`-sess` variants).
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let value = value.trim_start();
        let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let p = params(rest);
        let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::from_token(&a)?,
        };
        Some(Self {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm,
            qop_auth: get("qop")
                .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"))),
        })
    }

    /// The challenges of a 401 or 407, best first: SHA-256 before MD5 (RFC 8760 §2.4).
    pub(crate) fn all_of(resp: &SipMessage) -> Vec<Self> {
        let name = if resp.code() == Some(407) {
            HeaderName::PROXY_AUTHENTICATE
        } else {
            HeaderName::WWW_AUTHENTICATE
        };
        let mut all: Vec<Self> = resp
            .headers
            .get_all(&name)
            .filter_map(Self::parse)
            .collect();
        all.sort_by_key(|c| u8::from(c.algorithm != Algorithm::Sha256));
        all
    }

    /// The `Authorization`/`Proxy-Authorization` value answering this challenge for `method` on
    /// `uri` with `username` and the HA1 of the challenge's algorithm.
    pub(crate) fn answer(
        &self,
        username: &str,
        ha1: &provisioning::Ha1,
        method: &str,
        uri: &str,
        nc: u32,
    ) -> String {
        let ha1 = match self.algorithm {
            Algorithm::Sha256 => &*ha1.sha256,
            _ => &*ha1.md5,
        };
        let cnonce = format!("{:016x}", rand::random::<u64>());
        let nc = format!("{nc:08x}");
        let qop = self.qop_auth.then_some((nc.as_str(), cnonce.as_str()));
        let response = request_digest(self.algorithm, ha1, &self.nonce, qop, method, uri);
        let mut v = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
            self.realm,
            self.nonce,
            self.algorithm.token()
        );
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        if self.qop_auth {
            v.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_core::auth::{Challenger, Credentials, DigestRequest, Ha1};

    #[test]
    fn answers_our_own_challenger_with_md5_and_sha256() {
        let mut challenger = Challenger::new([7; 32], 300);
        let stored = provisioning::Ha1::compute("2001", "acme.example.com", "pw");
        let values = challenger.challenge("acme.example.com", 1000, false);
        assert_eq!(values.len(), 2);
        for (nc, value) in (1..).zip(values) {
            let c = Challenge::parse(&value).expect("parses");
            // Both challenges share one nonce: each answer uses the next nonce count.
            let answer = c.answer("2001", &stored, "REGISTER", "sip:acme.example.com", nc);
            let creds = Credentials::parse(&answer).expect("credentials parse");
            let req = DigestRequest {
                method: "REGISTER",
                uri: "sip:acme.example.com",
                realm: "acme.example.com",
                now_unix: 1001,
            };
            let ok = challenger.verify_credentials(&creds, &req, |_| {
                Some(Ha1::compute("2001", "acme.example.com", "pw"))
            });
            assert!(ok.is_ok(), "{value}: {ok:?}");
        }
    }

    #[test]
    fn challenge_parsing() {
        let c = Challenge::parse(
            "Digest realm=\"a\\\"b\", nonce=\"n,1\", qop=\"auth,auth-int\", opaque=\"o\"",
        )
        .unwrap();
        assert_eq!(c.realm, "a\"b");
        assert_eq!(c.nonce, "n,1");
        assert!(c.qop_auth);
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(c.opaque.as_deref(), Some("o"));
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=x, nonce=y, algorithm=MD5-sess").is_none());
        let s = Challenge::parse("Digest realm=x,nonce=y,algorithm=SHA-256").unwrap();
        assert_eq!(s.algorithm, Algorithm::Sha256);
        assert!(!s.qop_auth);
    }
}
