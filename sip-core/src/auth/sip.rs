//! Digest over SIP messages: which header carries what (RFC 3261 §22.2 for user agents and
//! registrars, §22.3 for proxies), picking the credentials for our realm, and the 401/407 responses.

use std::borrow::Cow;
use std::fmt;

use crate::msg::text::exact;
use crate::msg::{HeaderName, SipMessage, response_to};
use crate::proxy::local_tag;

use super::{AuthError, Authenticated, Challenger, Credentials, DigestRequest, Ha1};

/// Whether `value` prints as `text`, ignoring ASCII case, without building the text.
fn shows_as(value: &impl fmt::Display, text: &str) -> bool {
    /// Compares what is written with what is left of the text; fails at the first difference.
    struct Compare<'a>(&'a [u8]);
    impl fmt::Write for Compare<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let piece = s.as_bytes();
            match (self.0.get(..piece.len()), self.0.get(piece.len()..)) {
                (Some(head), Some(rest)) if head.eq_ignore_ascii_case(piece) => {
                    self.0 = rest;
                    Ok(())
                }
                _ => Err(fmt::Error),
            }
        }
    }
    let mut left = Compare(text.as_bytes());
    fmt::write(&mut left, format_args!("{value}")).is_ok() && left.0.is_empty()
}

/// Who challenges: a registrar/UAS (401) or a proxy (407).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenging {
    /// 401 with `WWW-Authenticate`; credentials in `Authorization`.
    Registrar,
    /// 407 with `Proxy-Authenticate`; credentials in `Proxy-Authorization`.
    Proxy,
}

impl Challenging {
    /// The status code of the challenge.
    pub fn status(self) -> u16 {
        match self {
            Self::Registrar => 401,
            Self::Proxy => 407,
        }
    }

    /// The header the challenge goes in.
    pub fn challenge_header(self) -> HeaderName {
        match self {
            Self::Registrar => HeaderName::WWW_AUTHENTICATE,
            Self::Proxy => HeaderName::PROXY_AUTHENTICATE,
        }
    }

    /// The header the client's credentials come in.
    pub fn credentials_header(self) -> HeaderName {
        match self {
            Self::Registrar => HeaderName::AUTHORIZATION,
            Self::Proxy => HeaderName::PROXY_AUTHORIZATION,
        }
    }
}

/// The credentials in `req` for `realm` (a request may carry one per realm, §22.3).
///
/// # Errors
/// [`AuthError::Missing`] when no header is present or none is for `realm`;
/// [`AuthError::Malformed`] when none parses and at least one header is present.
pub fn credentials_for<'m>(
    req: &'m SipMessage,
    kind: Challenging,
    realm: &str,
) -> Result<Credentials<'m>, AuthError> {
    let name = kind.credentials_header();
    let mut first_error = None;
    for value in req.headers.get_all(&name) {
        match Credentials::parse(value) {
            Ok(c) if c.realm.eq_ignore_ascii_case(realm) => return Ok(c),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.map_or_else(
        || AuthError::Missing {
            realm: realm.to_owned(),
        },
        AuthError::Malformed,
    ))
}

/// Removes the credentials for `realm` from a request before it is forwarded: they answered our own
/// challenge and mean nothing downstream. Credentials for other realms stay, for the proxies they
/// belong to (RFC 3261 §22.3).
pub fn remove_credentials(req: &mut SipMessage, kind: Challenging, realm: &str) {
    let name = kind.credentials_header();
    let keep: Vec<bytes::Bytes> = req
        .headers
        .iter()
        .filter(|h| h.name == name)
        .filter(|h| {
            Credentials::parse(h.value_str()).map_or(true, |c| !c.realm.eq_ignore_ascii_case(realm))
        })
        .map(|h| h.value.clone())
        .collect();
    req.headers.remove_all(&name);
    for v in keep {
        req.headers.push(name.clone(), v);
    }
}

impl Challenger {
    /// Verifies the credentials of `req` for `realm` at `now_unix`: the method and Request-URI come from
    /// the request.
    ///
    /// # Errors
    /// [`AuthError`]; answer with [`Challenger::challenge_response`].
    pub fn verify_request(
        &mut self,
        req: &SipMessage,
        kind: Challenging,
        realm: &str,
        now_unix: u64,
        lookup: impl FnOnce(&str) -> Option<Ha1>,
    ) -> Result<Authenticated, AuthError> {
        self.verify_request_with(req, kind, realm, now_unix, |_| false, lookup)
    }

    /// [`Challenger::verify_request`], also accepting credentials whose `uri` differs from the
    /// Request-URI when `accept_uri` says it names us. RFC 2617 §3.2.2.5 asks the server to check the
    /// `uri`; some user agents (sipp among them) put the server's address there instead of the
    /// Request-URI. The response still covers the `uri` the client sent, and nonce and nonce-count
    /// checks still apply, so only a request addressed to us can be authorised this way.
    ///
    /// # Errors
    /// As [`Challenger::verify`].
    pub fn verify_request_with(
        &mut self,
        req: &SipMessage,
        kind: Challenging,
        realm: &str,
        now_unix: u64,
        accept_uri: impl Fn(&str) -> bool,
        lookup: impl FnOnce(&str) -> Option<Ha1>,
    ) -> Result<Authenticated, AuthError> {
        self.verify_request_with_any(req, kind, realm, now_unix, accept_uri, |user| {
            lookup(user).into_iter().collect()
        })
    }

    /// [`Challenger::verify_request_with`] for users with several accepted passwords: `lookup` gives
    /// every HA1 of the user (empty if there is no such user); see [`Challenger::verify_credentials_any`].
    ///
    /// # Errors
    /// As [`Challenger::verify`].
    pub fn verify_request_with_any(
        &mut self,
        req: &SipMessage,
        kind: Challenging,
        realm: &str,
        now_unix: u64,
        accept_uri: impl Fn(&str) -> bool,
        lookup: impl FnOnce(&str) -> Vec<Ha1>,
    ) -> Result<Authenticated, AuthError> {
        let creds = credentials_for(req, kind, realm)?;
        // The digest uri is normally the Request-URI: compared as printed, without printing it.
        let names_ruri = req.request_uri().is_some_and(|u| shows_as(u, &creds.uri));
        let uri: Cow<'_, str> = if names_ruri || accept_uri(&creds.uri) {
            Cow::Borrowed(creds.uri.as_ref())
        } else {
            Cow::Owned(req.request_uri().map(|u| u.to_string()).unwrap_or_default())
        };
        let method = req.method().map(|m| m.as_str()).unwrap_or("");
        let digest_req = DigestRequest {
            method,
            uri: &uri,
            realm,
            now_unix,
        };
        self.verify_credentials_any(&creds, &digest_req, lookup)
    }

    /// The 401/407 for `req` with a fresh SHA-256 and MD5 challenge for `realm` (`stale` from
    /// [`AuthError::is_stale`]) and a To tag.
    pub fn challenge_response(
        &self,
        req: &SipMessage,
        kind: Challenging,
        realm: &str,
        now_unix: u64,
        stale: bool,
    ) -> SipMessage {
        let mut resp = response_to(req, kind.status(), "").with_to_tag(&local_tag(req));
        for value in self.challenge(realm, now_unix, stale) {
            resp.headers.push(kind.challenge_header(), exact(value));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::shows_as;
    use crate::msg::Uri;

    #[test]
    fn a_value_shows_as_its_text_in_any_case() {
        let uri =
            Uri::parse("sip:Acme.Example.com;transport=udp").unwrap_or_else(|e| panic!("{e}"));
        assert!(shows_as(&uri, "sip:acme.example.com;TRANSPORT=UDP"));
        assert!(!shows_as(&uri, "sip:acme.example.com"), "a prefix");
        assert!(
            !shows_as(&uri, "sip:acme.example.com;transport=udp;lr"),
            "longer"
        );
        assert!(!shows_as(&uri, "sip:acme.example.org;transport=udp"));
        assert!(shows_as(&"", ""));
    }
}
