//! Stateful proxy helpers (RFC 3261 §16): request validation (§16.3), route pre-processing (§16.4),
//! building each forwarded copy (§16.6), the response context of a forked request (§16.7, in
//! [`ResponseContext`]) and per-source flood protection ([`RateLimiter`]).
//!
//! The driver's order for a request that is not for the registrar:
//!
//! ```text
//!  RateLimiter::check(src)      Deny → drop (log once per burst)
//!  check_request(&req, &local)  Err(r) → r.response(&req); Ok(AnswerLocally) → OPTIONS answered by us
//!  loose_route(&mut req, &local) → RouteDecision (next_route: Some → forward there unchanged)
//!  caller from our domains?     Challenger::verify(Proxy-Authorization) else 407 (auth module)
//!  target_aor(R-URI, caller)    cross-tenant / unknown → 404; location lookup empty → 480
//!  for (i, binding) in targets: prepare_forward(&req, Some(&uri), &path, &via(branch_for(&req, i)), rr)
//!  ResponseContext              responses, timeouts, CANCELs → what to send upstream
//! ```

mod fork;
mod ratelimit;

use std::hash::{Hash, Hasher};

use bytes::Bytes;

use crate::location::{Aor, Binding};
use crate::msg::text::Decimal;
use crate::msg::{
    HeaderName, Host, HostRef, NameAddr, ParseError, RequestUri, SipMessage, StartLine, Uri,
    UriRef, Via, ViaRef, shown,
};

pub use fork::{ForkAction, ResponseContext};
pub use ratelimit::{RateConfig, RateLimiter, RateVerdict};

/// The addresses this proxy answers on, to recognise its own URIs (Route, Request-URI) and Vias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Local {
    /// Our host names and IP addresses as they appear in Via sent-by, Record-Route and Route.
    pub hosts: Vec<Host>,
    /// Our listening ports; a URI without port means 5060 (`sip:`) or 5061 (`sips:`), RFC 3261 §19.1.2.
    pub ports: Vec<u16>,
}

impl Local {
    /// Whether `host` is one of ours (host names compared without case).
    fn host_is_ours(&self, host: HostRef<'_>) -> bool {
        self.hosts.iter().any(|h| h.view().same_as(host))
    }

    /// Whether `uri` points at this proxy (host and port ours).
    pub fn is_local_uri(&self, uri: &Uri) -> bool {
        self.is_local_parts(&uri.scheme, uri.host.view(), uri.port)
    }

    /// Whether `uri` names this proxy: our host and port, or our host without a port (phones dial
    /// `sip:1002@<proxy IP>`).
    pub fn names_us(&self, uri: &Uri) -> bool {
        self.names_us_parts(&uri.scheme, uri.host.view(), uri.port)
    }

    /// [`Local::names_us`] of a URI borrowed from a message.
    pub fn names_us_ref(&self, uri: &UriRef<'_>) -> bool {
        self.names_us_parts(&uri.scheme, uri.host, uri.port)
    }

    fn names_us_parts(
        &self,
        scheme: &crate::msg::Scheme,
        host: HostRef<'_>,
        port: Option<u16>,
    ) -> bool {
        self.is_local_parts(scheme, host, port)
            || (scheme.is_sip() && port.is_none() && self.host_is_ours(host))
    }

    fn is_local_parts(
        &self,
        scheme: &crate::msg::Scheme,
        host: HostRef<'_>,
        port: Option<u16>,
    ) -> bool {
        let default = if matches!(scheme, crate::msg::Scheme::Sips) {
            5061
        } else {
            5060
        };
        scheme.is_sip() && self.host_is_ours(host) && self.ports.contains(&port.unwrap_or(default))
    }

    /// Whether `via`'s sent-by is this proxy.
    pub fn is_local_via(&self, via: &ViaRef<'_>) -> bool {
        let default = if via.transport.eq_ignore_ascii_case("TLS") {
            5061
        } else {
            5060
        };
        self.host_is_ours(via.host) && self.ports.contains(&via.port.unwrap_or(default))
    }
}

/// Why the proxy answers a request itself instead of forwarding it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyReject {
    /// A header the proxy needs does not parse (400, or the parser's own status).
    #[error("malformed request: {0}")]
    Malformed(#[from] ParseError),
    /// The Request-URI scheme is not sip/sips (416, §16.3 step 2).
    #[error("unsupported URI scheme")]
    UnsupportedScheme,
    /// Max-Forwards is 0 (483, §16.3 step 3).
    #[error("Max-Forwards exhausted")]
    TooManyHops,
    /// The request already passed through us unchanged (482, §16.3 step 4).
    #[error("loop detected")]
    LoopDetected,
    /// `Proxy-Require` names extensions we lack (420 with `Unsupported`, §16.3 step 5).
    #[error("unsupported extensions {options:?}")]
    BadExtension {
        /// The option tags we do not support.
        options: Vec<String>,
    },
    /// No such user, or a user of another tenant (404; the two look the same so a tenant cannot probe
    /// another's extensions).
    #[error("no such user")]
    NotFound,
    /// The user exists but has no live binding (480).
    #[error("user not registered")]
    Unavailable,
}

impl ProxyReject {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(e) => e.status_code(),
            Self::UnsupportedScheme => 416,
            Self::TooManyHops => 483,
            Self::LoopDetected => 482,
            Self::BadExtension { .. } => 420,
            Self::NotFound => 404,
            Self::Unavailable => 480,
        }
    }

    /// The response to `req`, with a To tag and `Unsupported` for 420.
    pub fn response(&self, req: &SipMessage) -> SipMessage {
        let mut resp = crate::msg::response_to(req, self.status(), "").with_to_tag(&local_tag(req));
        if let Self::BadExtension { options } = self {
            resp.headers
                .push(HeaderName::UNSUPPORTED, options.join(", "));
        }
        resp
    }
}

/// What [`check_request`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Go on with routing.
    Forward,
    /// An OPTIONS with Max-Forwards 0 addressed to us: the TU answers it (§16.3 step 3, §11).
    AnswerLocally,
}

/// Option tags this proxy supports in `Proxy-Require`: none.
pub const PROXY_SUPPORTED: &[&str] = &[];

/// §16.3 request validation, in the RFC's order: syntax, URI scheme, Max-Forwards, loop detection,
/// Proxy-Require.
///
/// Loop detection follows §16.3 step 4: for every Via whose sent-by is ours and whose branch we
/// made (see [`branch_for`]), the branch hash is recomputed over the request as it is now, with the
/// Via below ours as the "topmost Via" it had when we forwarded it. Equal hashes mean the request came
/// back unchanged (a loop, 482); different ones mean a spiral (e.g. the Request-URI was rewritten),
/// which is forwarded.
///
/// # Errors
/// [`ProxyReject`]: 400/416/483/482/420.
pub fn check_request(req: &SipMessage, local: &Local) -> Result<Checked, ProxyReject> {
    req.validate()?;
    check_validated_request(req, local)
}

/// [`check_request`] for a request that has passed [`SipMessage::validate`] already (the SIP core
/// validates every request on arrival, before the transaction layer): the checks after validation.
///
/// # Errors
/// As [`check_request`], except for the malformed-request cases validation catches.
pub fn check_validated_request(req: &SipMessage, local: &Local) -> Result<Checked, ProxyReject> {
    let uri = match req.request_uri() {
        Some(RequestUri::Parsed(u)) if u.is_sip() => u,
        _ => return Err(ProxyReject::UnsupportedScheme),
    };
    if req.max_forwards()? == Some(0) {
        let options = req.method().is_some_and(|m| m.as_str() == "OPTIONS");
        return if options && local.is_local_uri(uri) {
            Ok(Checked::AnswerLocally)
        } else {
            Err(ProxyReject::TooManyHops)
        };
    }
    // Only a Via with one of our branches can show a loop, and its branch is in the Via's text as
    // it is: without that text anywhere, there is nothing to parse.
    let ours = req
        .headers
        .get_all(&HeaderName::VIA)
        .any(|line| memchr::memmem::find(line.as_bytes(), BRANCH_PREFIX.as_bytes()).is_some());
    let vias = if ours { req.via_refs()? } else { Vec::new() };
    for (i, via) in vias.iter().enumerate() {
        let Some(hash) = via.branch().and_then(|b| b.strip_prefix(BRANCH_PREFIX)) else {
            continue;
        };
        if !local.is_local_via(via) {
            continue;
        }
        let hash = hash.split('.').next().unwrap_or("");
        let below = vias.get(i.saturating_add(1));
        if below.is_some_and(|v| request_hash(req, v) == hash) {
            return Err(ProxyReject::LoopDetected);
        }
    }
    let options: Vec<String> = req
        .option_tags(&HeaderName::PROXY_REQUIRE)
        .into_iter()
        .filter(|o| !PROXY_SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(o)))
        .map(str::to_owned)
        .collect();
    if options.is_empty() {
        Ok(Checked::Forward)
    } else {
        Err(ProxyReject::BadExtension { options })
    }
}

/// The prefix of branches we make: the RFC 3261 cookie and `cb` (Crossbar).
const BRANCH_PREFIX: &str = "z9hG4bKcb";

/// 16 hex digits of a keyed hash ([`crate::keyed`]) over the fields §16.6 step 8 names: To tag,
/// From tag, Call-ID, Request-URI, the topmost Via as received (`via`), CSeq number and
/// Proxy-Require. The CSeq method is left out so a CANCEL hashes like the INVITE it cancels;
/// Proxy-Authorization is left out because we remove our realm's credentials before forwarding.
///
/// The key is the process's own, so the value is the same for the same request while the process runs
/// (retransmissions, the CANCEL, a loop coming back) and cannot be computed by anyone else. The
/// parsed Request-URI and sent-by host are hashed as values, not as text, so nothing is printed.
fn request_hash(req: &SipMessage, via: &ViaRef<'_>) -> String {
    /// A field, then a separator no field contains.
    fn text(h: &mut impl Hasher, s: &str) {
        h.write(s.as_bytes());
        h.write_u8(0);
    }
    let mut h = crate::keyed::gathered();
    // The tags as on the wire: the request was validated on arrival, so they parse.
    text(&mut h, req.raw_tag(&HeaderName::TO).unwrap_or(""));
    text(&mut h, req.raw_tag(&HeaderName::FROM).unwrap_or(""));
    text(&mut h, req.call_id().unwrap_or(""));
    req.request_uri().hash(&mut h);
    // Upper case, as the typed Via holds it.
    for b in via.transport.bytes() {
        h.write_u8(b.to_ascii_uppercase());
    }
    h.write_u8(0);
    via.host.hash(&mut h);
    via.port.hash(&mut h);
    text(&mut h, via.branch().unwrap_or(""));
    req.cseq().ok().map(|c| c.seq).hash(&mut h);
    for tag in req.option_tags(&HeaderName::PROXY_REQUIRE) {
        text(&mut h, tag);
    }
    crate::msg::text::hex(&h.finish().to_be_bytes())
}

/// The branch for our Via on the copy of `req` sent to target number `target_index` (§16.6 step 8):
/// `z9hG4bKcb<16 hex>.<index>`, a hash of the request's identifying fields as received. It is
/// deterministic, so a retransmission maps to the same branch, a CANCEL to the INVITE's branch, and a
/// request that loops back is recognised by [`check_request`].
pub fn branch_for(req: &SipMessage, target_index: usize) -> String {
    let hash = req
        .top_via_ref()
        .map(|v| request_hash(req, &v))
        .unwrap_or_default();
    format!("{BRANCH_PREFIX}{hash}.{target_index:x}")
}

/// A To tag for responses we generate to `req`: the process's keyed hash ([`crate::keyed`]) of its
/// Call-ID, From and top Via as they are on the wire (so of the From tag and the branch), so a
/// retransmitted request gets the same tag while the process runs. Nothing is parsed: this runs for
/// every challenge and every registration.
pub fn local_tag(req: &SipMessage) -> String {
    let mut h = crate::keyed::gathered();
    for name in [HeaderName::CALL_ID, HeaderName::FROM, HeaderName::VIA] {
        h.write(req.headers.get(&name).unwrap_or("").as_bytes());
        h.write_u8(0);
    }
    let digest = h.finish().to_be_bytes();
    let mut tag = String::with_capacity(14);
    tag.push_str("cb");
    crate::msg::text::push_hex(&mut tag, digest.get(..6).unwrap_or(&[]));
    tag
}

/// What [`loose_route`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    /// The previous hop was a strict router: the Request-URI was our Record-Route URI and has been
    /// replaced by the last Route value (§16.4).
    pub strict_fixup: bool,
    /// How many Route values naming us were removed from the top.
    pub removed: usize,
    /// The Route value now on top, if any: the request is routed there (its Request-URI is not ours to
    /// change, no location lookup).
    pub next_route: Option<NameAddr>,
}

/// §16.4 route information pre-processing, applied to `req` in place.
///
/// # Errors
/// [`ProxyReject::Malformed`] if a Route value does not parse.
pub fn loose_route(req: &mut SipMessage, local: &Local) -> Result<RouteDecision, ProxyReject> {
    let mut routes = req.routes()?;
    let mut strict_fixup = false;
    let ruri_is_our_rr = match req.request_uri() {
        Some(RequestUri::Parsed(u)) => local.is_local_uri(u) && u.params.contains("lr"),
        _ => false,
    };
    if ruri_is_our_rr && let Some(last) = routes.pop() {
        set_request_uri(req, last.uri);
        strict_fixup = true;
    }
    let before = routes.len();
    while routes.first().is_some_and(|r| local.is_local_uri(&r.uri)) {
        routes.remove(0);
    }
    let removed = before.saturating_sub(routes.len());
    if strict_fixup || removed > 0 {
        set_routes(req, &routes);
    }
    Ok(RouteDecision {
        strict_fixup,
        removed,
        next_route: routes.first().cloned(),
    })
}

fn set_request_uri(req: &mut SipMessage, new: Uri) {
    if let StartLine::Request { uri, .. } = &mut req.start {
        *uri = RequestUri::Parsed(new);
    }
}

fn set_routes(req: &mut SipMessage, routes: &[NameAddr]) {
    req.headers.remove_all(&HeaderName::ROUTE);
    for r in routes {
        req.headers.push(HeaderName::ROUTE, shown(r));
    }
}

/// A copy of a request ready to send, and where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The request with our Via on top.
    pub msg: SipMessage,
    /// The next hop (§16.6 step 7): the top Route's URI, or else the Request-URI. For a binding
    /// without Path registered from behind NAT, send to the binding's `received` address instead.
    pub next_hop: Uri,
}

/// §16.6 steps 1–8 for one target.
///
/// * `target`: the new Request-URI (a binding's contact), or `None` to keep it (Route-driven
///   forwarding).
/// * `path`: the binding's Path (RFC 3327 §5.4): pushed as Route values on top, in order.
/// * `via`: our Via, whose branch should be [`branch_for`]`(req, index)`.
/// * `record_route`: our Record-Route value if we stay in the dialog path; `;lr` is added if missing.
///
/// Max-Forwards is decremented (or set to 70 when absent). If the top Route then names a strict
/// router (no `lr`), the Request-URI goes to the end of the Route set and that Route becomes the
/// Request-URI (§16.6 step 6).
///
/// # Errors
/// [`ProxyReject::Malformed`] if Max-Forwards or Route do not parse.
pub fn prepare_forward(
    req: &SipMessage,
    target: Option<&Uri>,
    path: &[NameAddr],
    via: &Via,
    record_route: Option<&NameAddr>,
) -> Result<Forwarded, ProxyReject> {
    // The new Request-URI goes straight into the copy's start line (the old one is not copied).
    let start = match (&req.start, target) {
        (
            StartLine::Request {
                method, version, ..
            },
            Some(t),
        ) => StartLine::Request {
            method: method.clone(),
            uri: RequestUri::Parsed(t.clone()),
            version: *version,
        },
        (start, _) => start.clone(),
    };
    let mut msg = SipMessage {
        start,
        headers: req.headers.clone_with_room(4),
        body: req.body.clone(),
    };
    let mf = req.max_forwards()?.map_or(70, |m| m.saturating_sub(1));
    msg.headers.set(
        HeaderName::MAX_FORWARDS,
        Bytes::copy_from_slice(Decimal::new(u64::from(mf)).as_str().as_bytes()),
    );
    if let Some(rr) = record_route {
        let value = if rr.uri.params.contains("lr") {
            shown(rr)
        } else {
            let mut rr = rr.clone();
            rr.uri.params.set("lr", None);
            shown(&rr)
        };
        msg.headers.push_front(HeaderName::RECORD_ROUTE, value);
    }
    let mut routes: Vec<NameAddr> = path.to_vec();
    routes.extend(req.routes()?);
    let top_is_strict = routes.first().is_some_and(|r| !r.uri.params.contains("lr"));
    if top_is_strict && let Some(RequestUri::Parsed(ruri)) = msg.request_uri().cloned() {
        let first = routes.remove(0);
        routes.push(NameAddr::new(ruri));
        set_request_uri(&mut msg, first.uri);
    }
    if !path.is_empty() || top_is_strict {
        set_routes(&mut msg, &routes);
    }
    let next_hop = match (routes.first(), msg.request_uri()) {
        (Some(r), _) if !top_is_strict => r.uri.clone(),
        (_, Some(RequestUri::Parsed(u))) => u.clone(),
        _ => return Err(ProxyReject::UnsupportedScheme),
    };
    msg.headers.push_front(HeaderName::VIA, shown(via));
    Ok(Forwarded { msg, next_hop })
}

/// [`prepare_forward`] to a location binding: its contact becomes the Request-URI and its Path the
/// Route set.
///
/// # Errors
/// [`ProxyReject::Malformed`] if the stored contact or path does not parse.
pub fn forward_to_binding(
    req: &SipMessage,
    binding: &Binding,
    via: &Via,
    record_route: Option<&NameAddr>,
) -> Result<Forwarded, ProxyReject> {
    let uri = Uri::parse(&binding.contact)?;
    let path = crate::registrar::path_routes(binding)?;
    prepare_forward(req, Some(&uri), &path, via, record_route)
}

/// Where a request for `uri` goes, for a caller of `caller_domain` (`None`: a caller not from our
/// domains, e.g. a trunk). `is_our_domain` gets a lower-cased host.
///
/// * host is one of our domains: that domain's AOR, but only if the caller is of the same domain or
///   from outside (a user of one tenant never reaches another's users: [`ProxyReject::NotFound`]);
/// * host is this proxy's own address (phones often dial `sip:1002@<proxy IP>`): the caller's
///   domain (or `NotFound` for an outside caller);
/// * anything else: `Ok(None)`, not ours to resolve (forward by the Request-URI).
///
/// # Errors
/// [`ProxyReject::NotFound`], or [`ProxyReject::UnsupportedScheme`] for a non-SIP URI.
pub fn target_aor(
    uri: &Uri,
    caller_domain: Option<&str>,
    local: &Local,
    is_our_domain: impl Fn(&str) -> bool,
) -> Result<Option<Aor>, ProxyReject> {
    if !uri.is_sip() {
        return Err(ProxyReject::UnsupportedScheme);
    }
    let host = uri.host.to_lowercase();
    let domain = if is_our_domain(&host) {
        if caller_domain.is_some_and(|c| !c.eq_ignore_ascii_case(&host)) {
            return Err(ProxyReject::NotFound);
        }
        host
    } else if local.names_us(uri) {
        caller_domain
            .ok_or(ProxyReject::NotFound)?
            .to_ascii_lowercase()
    } else {
        return Ok(None);
    };
    let user = uri.user_unescaped().ok_or(ProxyReject::NotFound)?;
    Ok(Some(Aor::new(user.into_owned(), &domain)))
}

#[cfg(test)]
mod tests;
