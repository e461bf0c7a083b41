//! Server-side digest authentication for the registrar (401, `WWW-Authenticate`) and the proxy (407,
//! `Proxy-Authenticate`): RFC 3261 §22.4, RFC 2617 (`qop=auth`, `cnonce`, `nc`) and RFC 8760
//! (`algorithm=SHA-256` for SIP).
//!
//! * **Challenges** offer SHA-256 first and MD5 second (RFC 8760 §2.4: a UAS lists its preferred
//!   algorithm first, and a client picks the first it supports), both with `qop="auth"`.
//! * **Nonces** are stateless (see [`nonce`](self) below): issue time, a sequence number and an
//!   HMAC-SHA256 over them and the realm with a secret the driver supplies. A nonce older than the
//!   configured lifetime, or one whose MAC does not check (another secret, e.g. before a restart), is
//!   answered with `stale=true` **if the response digest itself is right**: RFC 2617 §3.2.1 defines
//!   `stale` as "the digest was valid but the nonce was not", so a phone re-sends with the new nonce
//!   instead of prompting for a password.
//! * **Replays** of a nonce count are caught by a bounded table of the highest `nc` per nonce.
//! * The client's realm must be the realm the caller asked for, which the registrar sets to the AOR's
//!   domain: credentials of `acme.example.com` never authenticate a `globex.example.com` AOR, and the
//!   nonce MAC is bound to the realm as well.
//! * Digests are compared in constant time.
//!
//! Clients that send no `qop` (RFC 2069 style, RFC 3261 §22.4 keeps them legal) are accepted unless
//! [`Challenger::require_qop`] is set; they get no replay protection beyond the nonce lifetime.
//!
//! The stored secrets are HA1 values, H(username ":" realm ":" password), one per algorithm, as the
//! provisioning store keeps them (realm = the user's domain, username = the extension).

mod credentials;
mod hmac;
mod nonce;
mod replay;
mod sip;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use md5::Md5;
use sha2::Sha256;

pub use credentials::Credentials;
use nonce::NonceId;
use replay::{Count, ReplayTable};
pub use sip::{Challenging, credentials_for, remove_credentials};

/// A digest algorithm we verify (RFC 8760 §2.1 names; `-sess` variants are not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5` (RFC 2617), the default when a client names none.
    Md5,
    /// `SHA-256` (RFC 7616, for SIP RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token as written in challenges (`MD5`, `SHA-256`).
    pub fn token(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    /// Reads a client's `algorithm` token, case-insensitively. `SHA256` (no dash, as some stacks wrote
    /// it before RFC 8760 settled the name) is taken as SHA-256: the hash is the same.
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Self::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") || token.eq_ignore_ascii_case("SHA256") {
            Some(Self::Sha256)
        } else {
            None
        }
    }

    /// Lower-case hex of the hash of `parts` joined by `:`.
    pub fn hash_hex(self, parts: &[&str]) -> HexDigest {
        fn run<D: sha2::Digest>(parts: &[&str]) -> HexDigest {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            HexDigest::of(&d.finalize())
        }
        match self {
            Self::Md5 => run::<Md5>(parts),
            Self::Sha256 => run::<Sha256>(parts),
        }
    }
}

/// A digest of up to 32 bytes as lower-case hex, on the stack: a registration computes two (HA2 and
/// the expected response) only to compare them. It prints and compares as its text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexDigest {
    digits: [u8; 64],
    len: usize,
}

impl HexDigest {
    fn of(digest: &[u8]) -> Self {
        let mut digits = [0u8; 64];
        let mut len = 0usize;
        for (pair, b) in digits.chunks_exact_mut(2).zip(digest) {
            if let [hi, lo] = pair {
                *hi = crate::msg::text::hex_digit(b >> 4);
                *lo = crate::msg::text::hex_digit(b & 0x0f);
                len = len.saturating_add(2);
            }
        }
        Self { digits, len }
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.digits.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl std::fmt::Display for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for HexDigest {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A user's stored HA1 values, lower-case hex (MD5: 32 digits, SHA-256: 64). Shared text: the
/// directory hands out a copy for every authenticated request, two reference counts, not two strings.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1 {
    /// H(username:realm:password) with MD5.
    pub md5: Arc<str>,
    /// H(username:realm:password) with SHA-256.
    pub sha256: Arc<str>,
}

impl std::fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Password-equivalent within its realm: never printed.
        f.write_str("Ha1(..)")
    }
}

impl Ha1 {
    /// Computes both values from a clear password (tests and tools; the store keeps only the hashes).
    pub fn compute(username: &str, realm: &str, password: &str) -> Self {
        Self {
            md5: Algorithm::Md5
                .hash_hex(&[username, realm, password])
                .as_str()
                .into(),
            sha256: Algorithm::Sha256
                .hash_hex(&[username, realm, password])
                .as_str()
                .into(),
        }
    }

    fn for_algorithm(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.md5,
            Algorithm::Sha256 => &self.sha256,
        }
    }
}

/// The `request-digest` of RFC 2617 §3.2.2.1 for `qop=auth` (with `Some((nc, cnonce))`) or for the
/// RFC 2069 form without qop (`None`): H(HA1 ":" nonce [":" nc ":" cnonce ":" "auth"] ":" HA2) with
/// HA2 = H(method ":" digest-uri).
pub fn request_digest(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
    method: &str,
    uri: &str,
) -> HexDigest {
    let ha2 = alg.hash_hex(&[method, uri]);
    match qop {
        Some((nc, cnonce)) => alg.hash_hex(&[ha1, nonce, nc, cnonce, "auth", ha2.as_str()]),
        None => alg.hash_hex(&[ha1, nonce, ha2.as_str()]),
    }
}

/// Why a credentials value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedReason {
    /// The scheme is not `Digest` (e.g. `Basic`, forbidden by RFC 3261 §22.1).
    #[error("not a Digest credential")]
    NotDigest,
    /// Something other than `name=value` pairs separated by commas.
    #[error("bad parameter syntax")]
    Syntax,
    /// A quoted string runs to the end of the value.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A parameter we interpret appears twice.
    #[error("parameter {0} given twice")]
    Duplicate(&'static str),
    /// A mandatory parameter is absent.
    #[error("parameter {0} missing")]
    Missing(&'static str),
    /// `nc` is not 8 hex digits.
    #[error("nc is not 8 hex digits")]
    BadNonceCount,
}

/// Why credentials were not accepted. Every variant is answered with a fresh challenge (401/407);
/// [`AuthError::is_stale`] says whether it carries `stale=true`. The variants are distinct for the log,
/// not for the peer: an unknown user and a wrong password look the same on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials for our realm in the request.
    #[error("no credentials for realm {realm}")]
    Missing {
        /// The realm we looked for.
        realm: String,
    },
    /// The header value could not be parsed.
    #[error("malformed credentials: {0}")]
    Malformed(MalformedReason),
    /// The credentials are for another realm than the one required (the AOR's domain).
    #[error("credentials for realm {got}, expected {expected}")]
    RealmMismatch {
        /// The realm we require.
        expected: String,
        /// The realm the client used.
        got: String,
    },
    /// `algorithm` is neither MD5 nor SHA-256.
    #[error("unsupported digest algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// `qop` is not `auth` (e.g. `auth-int`), or absent while qop is required.
    #[error("unsupported qop {0:?}")]
    UnsupportedQop(Option<String>),
    /// The `uri` parameter is not the request's Request-URI (RFC 2617 §3.2.2.5).
    #[error("digest uri {got} does not match the request URI {expected}")]
    UriMismatch {
        /// The Request-URI.
        expected: String,
        /// The digest-uri in the credentials.
        got: String,
    },
    /// The username is not a user of this realm (or has no SIP password).
    #[error("unknown user {username}")]
    UnknownUser {
        /// The username sent.
        username: String,
    },
    /// The response digest is wrong: wrong password (or tampered parameters).
    #[error("wrong digest response for {username}")]
    WrongResponse {
        /// The username sent.
        username: String,
    },
    /// The digest was right but the nonce is expired or not ours any more.
    #[error("stale nonce for {username}")]
    Stale {
        /// The username sent.
        username: String,
    },
    /// The digest was right but the nonce count was already used.
    #[error("replayed nonce count {nc:#010x} for {username}")]
    Replay {
        /// The username sent.
        username: String,
        /// The count presented.
        nc: u32,
    },
}

impl AuthError {
    /// Whether the challenge answering this error should say `stale=true`: the client proved it knows
    /// the password, only the nonce must be renewed.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Stale { .. } | Self::Replay { .. })
    }
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The digest username (the extension).
    pub username: String,
    /// The realm (a domain of ours).
    pub realm: String,
    /// The algorithm the client used.
    pub algorithm: Algorithm,
}

/// What the request being authenticated looks like.
#[derive(Debug, Clone, Copy)]
pub struct DigestRequest<'a> {
    /// The request method (`REGISTER`, `INVITE`, …), part of HA2.
    pub method: &'a str,
    /// The Request-URI as text; the credentials' `uri` must equal it (ASCII case-insensitively).
    pub uri: &'a str,
    /// The realm required: the AOR's domain for REGISTER, the caller's domain for the proxy.
    pub realm: &'a str,
    /// Now, Unix seconds.
    pub now_unix: u64,
}

/// Default size of the nonce-count table (about 3 MiB at capacity).
pub const DEFAULT_REPLAY_CAPACITY: usize = 65_536;

/// Issues challenges and verifies credentials. One per process; it holds the nonce secret and the
/// replay table.
#[derive(Debug)]
pub struct Challenger {
    secret: [u8; 32],
    lifetime: u64,
    seq: AtomicU32,
    require_qop: bool,
    replay: ReplayTable,
    order: [Algorithm; 2],
}

impl Challenger {
    /// A challenger with a random `secret` from the driver and a nonce lifetime in seconds (RFC 2617
    /// leaves it to the server; 300 s is common). Nonces made with another secret are not accepted.
    pub fn new(secret: [u8; 32], nonce_lifetime_secs: u64) -> Self {
        Self {
            secret,
            lifetime: nonce_lifetime_secs,
            seq: AtomicU32::new(0),
            require_qop: false,
            replay: ReplayTable::new(DEFAULT_REPLAY_CAPACITY),
            order: [Algorithm::Sha256, Algorithm::Md5],
        }
    }

    /// Bounds the nonce-count table to `capacity` nonces (minimum 2).
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay = ReplayTable::new(capacity);
        self
    }

    /// Offers the MD5 challenge before the SHA-256 one when `yes`. RFC 8760 §2.4 asks for the preferred
    /// algorithm first, but many deployed user agents (older phones, sipp) answer only the first
    /// challenge and know only MD5; both are always offered.
    pub fn md5_first(mut self, yes: bool) -> Self {
        self.order = if yes {
            [Algorithm::Md5, Algorithm::Sha256]
        } else {
            [Algorithm::Sha256, Algorithm::Md5]
        };
        self
    }

    /// Rejects credentials without `qop` (RFC 2069 style) when `yes`.
    pub fn require_qop(mut self, yes: bool) -> Self {
        self.require_qop = yes;
        self
    }

    /// How many nonces the replay table currently tracks (for metrics).
    pub fn tracked_nonces(&self) -> usize {
        self.replay.len()
    }

    /// The nonce lifetime in seconds.
    pub fn nonce_lifetime(&self) -> u64 {
        self.lifetime
    }

    /// The header values of a challenge for `realm`: one SHA-256 and one MD5 challenge, in that order
    /// (RFC 8760 §2.4) unless [`Challenger::md5_first`], each `Digest realm="…", nonce="…", algorithm=…, qop="auth"[, stale=true]`.
    /// Put them in `WWW-Authenticate` headers for a 401 (registrar) or `Proxy-Authenticate` for a
    /// 407 (proxy), one header per value.
    pub fn challenge(&self, realm: &str, now_unix: u64, stale: bool) -> Vec<String> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let nonce = nonce::encode(
            &self.secret,
            NonceId {
                issued: now_unix,
                seq,
            },
            realm,
        );
        // The realm's quoted-string contents: a copy only if it has `"` or `\` to escape.
        let realm: std::borrow::Cow<'_, str> = if realm.contains(['"', '\\']) {
            escape_quoted(realm).into()
        } else {
            realm.into()
        };
        let stale = if stale { ", stale=true" } else { "" };
        self.order
            .iter()
            .map(|alg| {
                // Pieces into a string of exactly their length (a challenge is sent as it is).
                let pieces = [
                    "Digest realm=\"",
                    &realm,
                    "\", nonce=\"",
                    &nonce,
                    "\", algorithm=",
                    alg.token(),
                    ", qop=\"auth\"",
                    stale,
                ];
                let mut value = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
                pieces.iter().for_each(|p| value.push_str(p));
                value
            })
            .collect()
    }

    /// Verifies one `Authorization`/`Proxy-Authorization` header value for `req`. `lookup` maps the
    /// username to the user's HA1 in `req.realm` (`None` if there is no such user).
    ///
    /// # Errors
    /// [`AuthError`]; answer with [`Challenger::challenge`]`(realm, now, err.is_stale())`.
    pub fn verify(
        &mut self,
        header_value: &str,
        req: &DigestRequest<'_>,
        lookup: impl FnOnce(&str) -> Option<Ha1>,
    ) -> Result<Authenticated, AuthError> {
        let creds = Credentials::parse(header_value).map_err(AuthError::Malformed)?;
        self.verify_credentials(&creds, req, lookup)
    }

    /// [`Challenger::verify`] for credentials already parsed (e.g. picked by realm among several).
    ///
    /// # Errors
    /// As [`Challenger::verify`].
    pub fn verify_credentials(
        &mut self,
        creds: &Credentials<'_>,
        req: &DigestRequest<'_>,
        lookup: impl FnOnce(&str) -> Option<Ha1>,
    ) -> Result<Authenticated, AuthError> {
        self.verify_credentials_any(creds, req, |user| lookup(user).into_iter().collect())
    }

    /// [`Challenger::verify_credentials`] for a user with several accepted passwords: `lookup` gives
    /// every HA1 of the user (empty if there is no such user), and the response may match any of them.
    ///
    /// # Errors
    /// As [`Challenger::verify`].
    pub fn verify_credentials_any(
        &mut self,
        creds: &Credentials<'_>,
        req: &DigestRequest<'_>,
        lookup: impl FnOnce(&str) -> Vec<Ha1>,
    ) -> Result<Authenticated, AuthError> {
        if !creds.realm.eq_ignore_ascii_case(req.realm) {
            return Err(AuthError::RealmMismatch {
                expected: req.realm.to_owned(),
                got: creds.realm.to_string(),
            });
        }
        let alg = match &creds.algorithm {
            None => Algorithm::Md5,
            Some(t) => Algorithm::from_token(t)
                .ok_or_else(|| AuthError::UnsupportedAlgorithm(t.to_string()))?,
        };
        let qop = match (&creds.qop, &creds.cnonce, &creds.nc) {
            (Some(q), Some(cnonce), Some(nc)) if q.eq_ignore_ascii_case("auth") => {
                Some((nc.as_ref(), cnonce.as_ref(), parse_nc(nc)?))
            }
            (None, _, _) if !self.require_qop => None,
            (q, _, _) => return Err(AuthError::UnsupportedQop(q.as_deref().map(str::to_owned))),
        };
        if !creds.uri.trim().eq_ignore_ascii_case(req.uri.trim()) {
            return Err(AuthError::UriMismatch {
                expected: req.uri.to_owned(),
                got: creds.uri.to_string(),
            });
        }
        let username = || creds.username.to_string();
        let candidates = lookup(&creds.username);
        if candidates.is_empty() {
            return Err(AuthError::UnknownUser {
                username: username(),
            });
        }
        let got = creds.response.as_bytes();
        // Every candidate is compared (no early exit), so the time taken does not tell which matched.
        let matched = candidates.iter().fold(false, |matched, ha1| {
            let expected = request_digest(
                alg,
                ha1.for_algorithm(alg),
                &creds.nonce,
                qop.map(|(nc, cnonce, _)| (nc, cnonce)),
                req.method,
                &creds.uri,
            );
            hmac::constant_time_eq_lowercased(expected.as_str().as_bytes(), got) | matched
        });
        if !matched {
            return Err(AuthError::WrongResponse {
                username: username(),
            });
        }
        let id = nonce::decode(&self.secret, &creds.nonce, req.realm).ok_or_else(|| {
            AuthError::Stale {
                username: username(),
            }
        })?;
        let expired_before = req.now_unix.saturating_sub(self.lifetime);
        // A nonce from the future (clock stepped back, or forged) is as unusable as an old one.
        if id.issued < expired_before || id.issued > req.now_unix.saturating_add(5) {
            return Err(AuthError::Stale {
                username: username(),
            });
        }
        if let Some((_, _, nc)) = qop {
            match self.replay.check(id, nc, expired_before) {
                Count::Fresh => {}
                Count::Replayed => {
                    return Err(AuthError::Replay {
                        username: username(),
                        nc,
                    });
                }
                Count::Forgotten => {
                    return Err(AuthError::Stale {
                        username: username(),
                    });
                }
            }
        }
        Ok(Authenticated {
            username: creds.username.to_string(),
            realm: creds.realm.to_string(),
            algorithm: alg,
        })
    }
}

fn parse_nc(nc: &str) -> Result<u32, AuthError> {
    if nc.len() != 8 {
        return Err(AuthError::Malformed(MalformedReason::BadNonceCount));
    }
    u32::from_str_radix(nc, 16).map_err(|_| AuthError::Malformed(MalformedReason::BadNonceCount))
}

/// A quoted-string (RFC 3261 §25.1) for `s`, escaping `"` and `\`.
#[cfg(test)]
fn quote(s: &str) -> String {
    format!("\"{}\"", escape_quoted(s))
}

/// The contents of a quoted-string for `s`: `"` and `\` escaped.
fn escape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
