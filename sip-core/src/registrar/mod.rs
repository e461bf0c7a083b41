//! The registrar (RFC 3261 §10.3, Path per RFC 3327), as pure functions over a REGISTER and the AOR's
//! current bindings.
//!
//! The driver runs the steps that need I/O or configuration and calls into this module for the rest:
//!
//! ```text
//!  REGISTER ─► aor_of(req, is_our_domain)          §10.3 steps 1, 5: To AOR in one of our domains (403)
//!           ─► Challenger::verify(realm = aor.domain) §10.3 step 3 (401 on failure; auth module)
//!           ─► authorize(&aor, &authenticated)     §10.3 step 4: the user registers itself only (403)
//!           ─► process_register(req, current, now, &source, &policy)
//!                                                  §10.3 steps 2, 6, 7: Require, Contacts, expiry,
//!                                                  Call-ID/CSeq ordering, q, Path, max contacts
//!           ─► store.replace(aor, outcome.bindings); location.replace(..)
//!           ─► outcome.response(req, now)          §10.3 step 8: 200 listing every binding
//!  any Err(e) ─► e.response(req)                   400 / 403 / 420 / 423 (+Min-Expires) / 500
//! ```
//!
//! Decisions where the RFC leaves a choice: an expiry below `min_expires` (other than 0) is refused
//! with 423 rather than raised; one above `max_expires` is lowered to it; more live contacts than
//! `max_contacts` is refused with 403 (the registration is not applied); a REGISTER whose Call-ID
//! matches a binding with an equal or higher CSeq is refused with 500 (step 7 says only "fails").
//! A REGISTER without Contact is a query and changes nothing.

mod contact;

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::auth::Authenticated;
use crate::location::{Aor, Binding, shared_text, sort_by_q};
use crate::msg::text::{StackText, exact};
use crate::msg::{ContactRef, HeaderName, HostRef, NameAddr, ParseError, SipMessage, Uri, UriRef};
use crate::proxy::local_tag;
use contact::{parse_delta_seconds, parse_q, uri_equivalent};

/// Registrar limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarPolicy {
    /// Shortest accepted non-zero expiry; shorter ones get 423 with `Min-Expires` (§10.3 step 6).
    pub min_expires: u32,
    /// Longest granted expiry; longer requests are lowered to it.
    pub max_expires: u32,
    /// Expiry when neither the contact nor the request names one (§10.2.1.1 leaves it to the server).
    pub default_expires: u32,
    /// Most live contacts one AOR may hold.
    pub max_contacts: usize,
}

impl Default for RegistrarPolicy {
    /// 60 s minimum, 3600 s maximum and default, 10 contacts per AOR.
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
        }
    }
}

/// Where a REGISTER came from, recorded in each binding it creates (borrowed: a binding that already
/// holds the same text keeps its copy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestSource<'a> {
    /// `UDP`, `TCP` or `TLS`.
    pub transport: &'a str,
    /// Source `ip:port` (`[v6]:port` for IPv6).
    pub received: &'a str,
    /// The gateway session owning the binding; empty for SIP devices.
    pub owner: &'a str,
}

/// Why a REGISTER is refused; each variant knows its status code and extra headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// A header needed here does not parse (400).
    #[error("malformed request: {0}")]
    Malformed(#[from] ParseError),
    /// The request breaks a registrar rule (400), e.g. `*` with other contacts or non-zero Expires.
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong (also the reason phrase).
        reason: &'static str,
    },
    /// The To domain is not one of ours (403).
    #[error("domain {domain} is not served here")]
    NotOurDomain {
        /// The To URI's host.
        domain: String,
    },
    /// The authenticated user may not register this AOR (403).
    #[error("{username}@{realm} may not register {aor}")]
    Forbidden {
        /// Who authenticated.
        username: String,
        /// In which realm.
        realm: String,
        /// The AOR they tried to register.
        aor: String,
    },
    /// The request `Require`s extensions we lack (420 with `Unsupported`).
    #[error("unsupported extensions {options:?}")]
    Unsupported {
        /// The option tags not supported.
        options: Vec<String>,
    },
    /// An expiry is below the minimum (423 with `Min-Expires`).
    #[error("expiry {requested} below the minimum {min_expires}")]
    IntervalTooBrief {
        /// The shortest expiry requested.
        requested: u32,
        /// Our minimum.
        min_expires: u32,
    },
    /// The AOR would hold more live contacts than allowed (403).
    #[error("{count} contacts exceed the limit of {max}")]
    TooManyContacts {
        /// Live contacts after the update.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Same Call-ID as a binding but not a higher CSeq: a late retransmission or reordering (500).
    #[error("CSeq {cseq} not above {stored} for Call-ID {call_id}")]
    OutOfOrder {
        /// The Call-ID.
        call_id: String,
        /// The request's CSeq number.
        cseq: u32,
        /// The binding's stored CSeq number.
        stored: u32,
    },
}

impl RegisterError {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(e) => e.status_code(),
            Self::BadRequest { .. } => 400,
            Self::NotOurDomain { .. } | Self::Forbidden { .. } | Self::TooManyContacts { .. } => {
                403
            }
            Self::Unsupported { .. } => 420,
            Self::IntervalTooBrief { .. } => 423,
            Self::OutOfOrder { .. } => 500,
        }
    }

    /// The reason phrase.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "Bad Request",
            Self::BadRequest { reason } => reason,
            Self::NotOurDomain { .. } => "Domain Not Served Here",
            Self::Forbidden { .. } => "Forbidden",
            Self::Unsupported { .. } => "Bad Extension",
            Self::IntervalTooBrief { .. } => "Interval Too Brief",
            Self::TooManyContacts { .. } => "Too Many Contacts",
            Self::OutOfOrder { .. } => "Out Of Order",
        }
    }

    /// Headers the response must carry besides the copied ones: `Min-Expires` for 423 (§10.3
    /// step 6), `Unsupported` for 420 (§8.2.2.3).
    pub fn extra_headers(&self) -> Vec<(HeaderName, String)> {
        match self {
            Self::IntervalTooBrief { min_expires, .. } => {
                vec![(HeaderName::MIN_EXPIRES, min_expires.to_string())]
            }
            Self::Unsupported { options } => vec![(HeaderName::UNSUPPORTED, options.join(", "))],
            _ => Vec::new(),
        }
    }

    /// The complete response to `req`.
    pub fn response(&self, req: &SipMessage) -> SipMessage {
        let mut resp =
            crate::msg::response_to(req, self.status(), self.reason()).with_to_tag(&local_tag(req));
        for (name, value) in self.extra_headers() {
            resp.headers.push(name, value);
        }
        resp
    }
}

/// The option tags this registrar supports (`Require` may name only these).
pub const SUPPORTED: &[&str] = &["path"];

/// §10.3 steps 1 and 5: the AOR named by the To header, if its domain is ours (`is_our_domain` gets the
/// lower-cased host). The user part is unescaped; the domain lower-cased.
///
/// # Errors
/// [`RegisterError::Malformed`] for an unparsable To, [`RegisterError::BadRequest`] for a non-SIP To
/// or one without a user part, [`RegisterError::NotOurDomain`].
pub fn aor_of(
    req: &SipMessage,
    is_our_domain: impl Fn(&str) -> bool,
) -> Result<Aor, RegisterError> {
    aor_of_uri_ref(&req.to_ref()?.uri, is_our_domain)
}

/// [`aor_of`] for a URI borrowed from a message.
///
/// # Errors
/// As [`aor_of`].
pub fn aor_of_uri_ref(
    uri: &UriRef<'_>,
    is_our_domain: impl Fn(&str) -> bool,
) -> Result<Aor, RegisterError> {
    aor_of_parts(uri.is_sip(), uri.user_unescaped(), uri.host, is_our_domain)
}

/// [`aor_of`] for a URI already at hand (the proxy uses it on the Request-URI).
///
/// # Errors
/// As [`aor_of`].
pub fn aor_of_uri(uri: &Uri, is_our_domain: impl Fn(&str) -> bool) -> Result<Aor, RegisterError> {
    aor_of_parts(
        uri.is_sip(),
        uri.user_unescaped(),
        uri.host.view(),
        is_our_domain,
    )
}

fn aor_of_parts(
    is_sip: bool,
    user: Option<Cow<'_, str>>,
    host: HostRef<'_>,
    is_our_domain: impl Fn(&str) -> bool,
) -> Result<Aor, RegisterError> {
    if !is_sip {
        return Err(RegisterError::BadRequest {
            reason: "AOR Is Not A SIP URI",
        });
    }
    let user = user.ok_or(RegisterError::BadRequest {
        reason: "AOR Without User",
    })?;
    let domain = host.to_lowercase();
    if !is_our_domain(&domain) {
        return Err(RegisterError::NotOurDomain { domain });
    }
    // Lower-cased already, as `Aor::new` would make it.
    Ok(Aor {
        user: user.into_owned(),
        domain,
    })
}

/// §10.3 step 4: only the AOR's own user, authenticated in the AOR's domain, may change its bindings.
///
/// # Errors
/// [`RegisterError::Forbidden`].
pub fn authorize(aor: &Aor, who: &Authenticated) -> Result<(), RegisterError> {
    if who.username == aor.user && who.realm.eq_ignore_ascii_case(&aor.domain) {
        Ok(())
    } else {
        Err(RegisterError::Forbidden {
            username: who.username.clone(),
            realm: who.realm.clone(),
            aor: aor.to_string(),
        })
    }
}

/// The result of an accepted REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// The AOR's complete new binding set (live only, highest q first). Persist it (replacing the AOR's
    /// rows) and put it in the [`crate::location::Location`] table.
    pub bindings: Vec<Binding>,
    /// False for a query (no Contact header): nothing to persist. True otherwise, since even an
    /// identical refresh moves `expires_at`.
    pub changed: bool,
    /// Whether a contact the AOR had is missing from `bindings` (removed, expired, or rewritten to
    /// another text): the store then holds rows of the AOR to delete. False for a refresh that keeps
    /// every contact, and whenever `changed` is false.
    pub removed: bool,
    /// Whether `bindings` are the AOR's current bindings, all of them live, each only refreshed (see
    /// [`Binding::refreshes`]): a store then needs only their expiry, Call-ID and CSeq written. False
    /// whenever `changed` is false.
    pub refreshed: bool,
    /// The request's Path values, echoed in the 200 when the UA sent `Supported: path` (RFC 3327 §5.3).
    pub path_echo: Vec<String>,
}

impl RegisterOutcome {
    /// The Contact header values of the 200 OK: every binding with its remaining seconds, and its q when
    /// not 1 (§10.3 step 8).
    pub fn response_contacts(&self, now_unix: u64) -> Vec<String> {
        self.bindings
            .iter()
            .map(|b| {
                let mut v = String::with_capacity(b.contact.len().saturating_add(32));
                let _ = write!(v, "<{}>;expires={}", b.contact, b.remaining(now_unix));
                if b.q != 1000 {
                    v.push_str(";q=");
                    b.push_q(&mut v);
                }
                v
            })
            .collect()
    }

    /// The 200 OK for `req` (§10.3 step 8), with a To tag, the bindings' Contacts and the Path echo.
    pub fn response(&self, req: &SipMessage, now_unix: u64) -> SipMessage {
        let mut resp = crate::msg::response_to(req, 200, "OK").with_to_tag(&local_tag(req));
        for c in self.response_contacts(now_unix) {
            resp.headers.push(HeaderName::CONTACT, exact(c));
        }
        for p in &self.path_echo {
            resp.headers.push(HeaderName::PATH, p.clone());
        }
        if !self.path_echo.is_empty() {
            resp.headers.push(HeaderName::SUPPORTED, "path");
        }
        resp
    }
}

/// §10.3 steps 2, 6 and 7 for one REGISTER whose AOR (from [`aor_of`]) has the stored bindings
/// `current` (lapsed ones are dropped here).
///
/// # Errors
/// [`RegisterError`] with the status to answer; nothing is applied then.
pub fn process_register(
    req: &SipMessage,
    current: &[Binding],
    now_unix: u64,
    source: &RequestSource<'_>,
    policy: &RegistrarPolicy,
) -> Result<RegisterOutcome, RegisterError> {
    let unsupported: Vec<String> = req
        .headers
        .values(&HeaderName::REQUIRE)
        .into_iter()
        .filter(|o| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(o)))
        .map(str::to_owned)
        .collect();
    if !unsupported.is_empty() {
        return Err(RegisterError::Unsupported {
            options: unsupported,
        });
    }
    let contacts = req.contact_refs()?;
    let call_id = req.call_id().ok_or(RegisterError::BadRequest {
        reason: "Missing Call-ID",
    })?;
    let cseq = req.cseq()?.seq;
    let header_expires = match req.headers.get(&HeaderName::EXPIRES) {
        None => None,
        Some(v) => Some(parse_delta_seconds(v).ok_or(RegisterError::BadRequest {
            reason: "Bad Expires",
        })?),
    };
    let path: Vec<String> = req
        .headers
        .values(&HeaderName::PATH)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let path_supported = req
        .headers
        .values(&HeaderName::SUPPORTED)
        .iter()
        .any(|o| o.eq_ignore_ascii_case("path"));
    let path_echo = if path_supported {
        path.clone()
    } else {
        Vec::new()
    };
    // Borrowed until the outcome is known: a refresh replaces them, so copying them first was waste.
    let live: Vec<&Binding> = current.iter().filter(|b| b.is_live(now_unix)).collect();

    // A retransmission of the REGISTER that last refreshed a binding (same Call-ID and CSeq) gets the
    // current bindings again and changes nothing, so a registrar can answer REGISTER without keeping a
    // transaction (as Kamailio's does): a lost 200 retransmitted by the phone is answered, not refused.
    let retransmission = live
        .iter()
        .any(|b| *b.call_id == *call_id && b.cseq == cseq);
    if contacts.is_empty() || retransmission {
        return Ok(RegisterOutcome {
            bindings: live.into_iter().cloned().collect(),
            changed: false,
            removed: false,
            refreshed: false,
            path_echo,
        });
    }
    let out_of_order = |b: &Binding| {
        (*b.call_id == *call_id && cseq <= b.cseq).then(|| RegisterError::OutOfOrder {
            call_id: call_id.to_owned(),
            cseq,
            stored: b.cseq,
        })
    };
    if contacts.iter().any(|c| matches!(c, ContactRef::Star)) {
        if contacts.len() != 1 || header_expires != Some(0) {
            return Err(RegisterError::BadRequest {
                reason: "Contact * Needs Expires 0 And No Other Contact",
            });
        }
        if let Some(err) = live.iter().find_map(|b| out_of_order(b)) {
            return Err(err);
        }
        return Ok(RegisterOutcome {
            bindings: Vec::new(),
            changed: true,
            removed: !current.is_empty(),
            refreshed: false,
            path_echo,
        });
    }

    // Validate every contact before changing anything (423 and 400 abort the whole request).
    let mut wanted = Vec::with_capacity(contacts.len());
    for c in &contacts {
        let ContactRef::Addr(addr) = c else { continue };
        let expires = addr
            .params
            .get("expires")
            .and_then(parse_delta_seconds)
            .or(header_expires)
            .unwrap_or(policy.default_expires);
        if expires != 0 && expires < policy.min_expires {
            return Err(RegisterError::IntervalTooBrief {
                requested: expires,
                min_expires: policy.min_expires,
            });
        }
        let q = match addr.params.get("q") {
            None => 1000,
            Some(t) => parse_q(t).ok_or(RegisterError::BadRequest {
                reason: "Bad q-value",
            })?,
        };
        wanted.push((addr, expires.min(policy.max_expires), q));
    }

    let user_agent = req.headers.get(&HeaderName::USER_AGENT).unwrap_or("");
    // (binding, refreshed by this request)
    let mut set: Vec<(Cow<'_, Binding>, bool)> = live
        .into_iter()
        .map(|b| (Cow::Borrowed(b), false))
        .collect();
    for (addr, expires, q) in wanted {
        let mut contact = StackText::new();
        let _ = write!(contact, "{}", addr.uri);
        // The same text is the same URI: a phone refreshing its own contact needs no parse of it.
        let found = set.iter().position(|(b, _)| {
            *b.contact == *contact.as_str() || same_contact(&b.contact, &addr.uri)
        });
        if let Some((b, false)) = found.and_then(|i| set.get(i))
            && let Some(err) = out_of_order(b)
        {
            return Err(err);
        }
        // A refresh keeps the text that did not change: the same allocations, not copies.
        let kept = found.and_then(|i| set.get(i)).map(|(b, _)| &**b);
        let binding = Binding {
            contact: shared_text(kept.map(|b| &b.contact), contact.as_str()),
            expires_at: now_unix.saturating_add(u64::from(expires)),
            q,
            call_id: shared_text(kept.map(|b| &b.call_id), call_id),
            cseq,
            path: path.clone(),
            transport: shared_text(kept.map(|b| &b.transport), source.transport),
            received: shared_text(kept.map(|b| &b.received), source.received),
            user_agent: shared_text(kept.map(|b| &b.user_agent), user_agent),
            owner: shared_text(kept.map(|b| &b.owner), source.owner),
        };
        match (found, expires) {
            (Some(i), 0) => {
                set.remove(i);
            }
            (Some(i), _) => {
                if let Some(slot) = set.get_mut(i) {
                    *slot = (Cow::Owned(binding), true);
                }
            }
            (None, 0) => {}
            (None, _) => set.push((Cow::Owned(binding), true)),
        }
    }
    let mut bindings: Vec<Binding> = set.into_iter().map(|(b, _)| b.into_owned()).collect();
    if bindings.len() > policy.max_contacts {
        return Err(RegisterError::TooManyContacts {
            count: bindings.len(),
            max: policy.max_contacts,
        });
    }
    sort_by_q(&mut bindings);
    let removed = current
        .iter()
        .any(|old| !bindings.iter().any(|b| b.contact == old.contact));
    // Nothing removed and as many bindings as before: each refreshes one of the current ones.
    let refreshed = !removed
        && bindings.len() == current.len()
        && bindings
            .iter()
            .all(|b| current.iter().any(|old| b.refreshes(old)));
    Ok(RegisterOutcome {
        bindings,
        changed: true,
        removed,
        refreshed,
        path_echo,
    })
}

/// Whether a stored contact text names the same URI as `uri` (§19.1.4); an unparsable stored text
/// only matches itself.
fn same_contact(stored: &str, uri: &UriRef<'_>) -> bool {
    match UriRef::parse(stored) {
        Ok(s) => uri_equivalent(&s, uri),
        Err(_) => stored == uri.to_string(),
    }
}

/// Reads the Path values of a binding back as name-addrs (for the proxy's Route set).
///
/// # Errors
/// The first value that does not parse.
pub fn path_routes(binding: &Binding) -> Result<Vec<NameAddr>, ParseError> {
    binding.path.iter().map(|p| NameAddr::parse(p)).collect()
}

#[cfg(test)]
mod tests;
