//! Line registration (RFC 3261 §10.2): REGISTER with the line's contact, refresh before expiry, retry
//! with backoff, digest answers, removal of a previous run's stale bindings and unregistration.

use std::time::{Duration, Instant};

use sip_core::msg::{Contact, HeaderName, Host, Method, SipMessage, Uri};

use super::agent::{AppTimer, Core, Pending};
use super::auth::Challenge;
use super::dialog::{branch, token};
use crate::call::types::{LineId, LineIdentity, UaEvent};

/// The most line REGISTERs in flight at once; more wait their turn.
const MAX_INFLIGHT: usize = 512;

/// What a REGISTER is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RegKind {
    /// Register or refresh the line's own contact.
    Refresh,
    /// Remove the line's contact (detach, shutdown).
    Unregister,
    /// Remove a stale contact of a previous run.
    Cleanup,
}

/// One attached line.
#[derive(Debug)]
pub(super) struct Line {
    pub(super) id: LineId,
    pub(super) identity: LineIdentity,
    /// The `line` parameter of its contact.
    pub(super) token: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    registered: bool,
    cleaned: bool,
    backoff: Duration,
    generation: u64,
}

impl Line {
    pub(super) fn new(device: &str, id: LineId, identity: LineIdentity) -> Self {
        let safe: String = device
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
            .collect();
        Self {
            id,
            identity,
            token: format!("xb-{safe}-{}", id.0),
            call_id: token(),
            from_tag: token(),
            cseq: 0,
            registered: false,
            cleaned: false,
            backoff: Duration::ZERO,
            generation: 0,
        }
    }
}

/// A line's REGISTER dialog: Call-ID, From tag and the last CSeq used.
#[derive(Debug, Clone)]
pub(crate) struct RegDialog {
    call_id: String,
    from_tag: String,
    cseq: u32,
}

impl Line {
    /// This line's REGISTER dialog.
    pub(super) fn reg_dialog(&self) -> RegDialog {
        RegDialog {
            call_id: self.call_id.clone(),
            from_tag: self.from_tag.clone(),
            cseq: self.cseq,
        }
    }

    /// Continues a previous attachment's REGISTER dialog (same Call-ID, CSeq above any it sent; the
    /// gap leaves room for the unregistration and cleanups it may still send).
    pub(super) fn continue_dialog(&mut self, previous: RegDialog) {
        self.call_id = previous.call_id;
        self.from_tag = previous.from_tag;
        self.cseq = previous.cseq.saturating_add(16);
    }
}

/// One REGISTER in flight, self-contained so its answer can be handled (and a challenge answered)
/// after the device has gone.
#[derive(Debug, Clone)]
pub(crate) struct RegJob {
    dev: u64,
    line: LineId,
    kind: RegKind,
    identity: LineIdentity,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    contact: String,
    auth_tries: u8,
}

impl Core {
    /// Our contact URI for a line.
    pub(super) fn contact_uri(&self, extension: &str, token: &str) -> Uri {
        let mut uri = Uri::sip(self.via.host.clone());
        uri.user = Some(extension.to_owned());
        uri.port = Some(self.local.port());
        uri.params.set("line", Some(token));
        uri
    }

    fn aor(identity: &LineIdentity) -> Uri {
        let mut uri = Uri::sip(
            Host::parse(&identity.domain, false)
                .unwrap_or_else(|_| Host::Name(identity.domain.clone())),
        );
        uri.user = Some(identity.extension.clone());
        uri
    }

    fn build_register(&self, job: &RegJob, auth: Option<(HeaderName, String)>) -> SipMessage {
        let mut registrar = Self::aor(&job.identity);
        registrar.user = None;
        let aor = Self::aor(&job.identity);
        let mut msg = SipMessage::new_request(Method::REGISTER, registrar);
        let h = &mut msg.headers;
        h.push(HeaderName::VIA, self.via.via(&branch()).to_string());
        h.push(HeaderName::MAX_FORWARDS, "70");
        h.push(HeaderName::FROM, format!("<{aor}>;tag={}", job.from_tag));
        h.push(HeaderName::TO, format!("<{aor}>"));
        h.push(HeaderName::CALL_ID, job.call_id.clone());
        h.push(HeaderName::CSEQ, format!("{} REGISTER", job.cseq));
        h.push(HeaderName::CONTACT, format!("<{}>", job.contact));
        h.push(HeaderName::EXPIRES, job.expires.to_string());
        h.push(HeaderName::USER_AGENT, self.settings.user_agent.clone());
        if let Some((name, value)) = auth {
            h.push(name, value);
        }
        msg
    }

    fn send_register(&mut self, now: Instant, job: RegJob, auth: Option<(HeaderName, String)>) {
        let msg = self.build_register(&job, auth);
        let to = self.outbound;
        let refresh = job.kind == RegKind::Refresh;
        let sent = self
            .send_request(now, msg, to, Pending::Register(Box::new(job)))
            .is_some();
        if sent && refresh {
            self.reg_inflight = self.reg_inflight.saturating_add(1);
        }
    }

    /// A line's REGISTER transaction ended (final response or timeout): its slot is free, and lines
    /// waiting for one go out.
    fn register_done(&mut self, now: Instant, job: &RegJob) {
        if job.kind != RegKind::Refresh {
            return;
        }
        self.reg_inflight = self.reg_inflight.saturating_sub(1);
        while self.reg_inflight < MAX_INFLIGHT {
            let Some((dev, lid)) = self.reg_waiting.pop_front() else {
                break;
            };
            self.register_line(now, dev, lid);
        }
    }

    fn line_mut(&mut self, dev: u64, line: LineId) -> Option<&mut Line> {
        self.devices
            .get_mut(&dev)?
            .lines
            .iter_mut()
            .find(|l| l.id == line)
    }

    /// Sends (or refreshes) a line's registration.
    pub(super) fn register_line(&mut self, now: Instant, dev: u64, lid: LineId) {
        let expires = self.settings.expires_secs;
        if self.line_mut(dev, lid).is_none() {
            return;
        }
        if self.reg_inflight >= MAX_INFLIGHT {
            // A storm (thousands of phones attaching at once): pace it rather than flood the registrar
            // and pay for retransmissions.
            self.reg_waiting.push_back((dev, lid));
            return;
        }
        let Some(line) = self.line_mut(dev, lid) else {
            return;
        };
        line.cseq = line.cseq.saturating_add(1);
        line.generation = line.generation.wrapping_add(1);
        let (identity, token, call_id, from_tag, cseq) = (
            line.identity.clone(),
            line.token.clone(),
            line.call_id.clone(),
            line.from_tag.clone(),
            line.cseq,
        );
        let contact = self.contact_uri(&identity.extension, &token).to_string();
        let job = RegJob {
            dev,
            line: lid,
            kind: RegKind::Refresh,
            identity,
            call_id,
            from_tag,
            cseq,
            expires,
            contact,
            auth_tries: 0,
        };
        self.send_register(now, job, None);
    }

    /// Unregisters a detached line (`expires=0`), best effort.
    pub(super) fn unregister(&mut self, now: Instant, line: Line) {
        self.retired.insert(
            line.token.clone(),
            RegDialog {
                call_id: line.call_id.clone(),
                from_tag: line.from_tag.clone(),
                cseq: line.cseq.saturating_add(1),
            },
        );
        let contact = self
            .contact_uri(&line.identity.extension, &line.token)
            .to_string();
        let job = RegJob {
            dev: u64::MAX,
            line: line.id,
            kind: RegKind::Unregister,
            identity: line.identity,
            call_id: line.call_id,
            from_tag: line.from_tag,
            cseq: line.cseq.saturating_add(1),
            expires: 0,
            contact,
            auth_tries: 0,
        };
        self.send_register(now, job, None);
    }

    pub(super) fn on_register_timer(
        &mut self,
        now: Instant,
        dev: u64,
        lid: LineId,
        generation: u64,
    ) {
        if self
            .line_mut(dev, lid)
            .is_some_and(|l| l.generation == generation)
        {
            self.register_line(now, dev, lid);
        }
    }

    fn schedule(&mut self, dev: u64, lid: LineId, at: Instant) {
        let Some(line) = self.line_mut(dev, lid) else {
            return;
        };
        line.generation = line.generation.wrapping_add(1);
        let generation = line.generation;
        self.arm(
            at,
            AppTimer::Register {
                dev,
                line: lid,
                generation,
            },
        );
    }

    /// An unregistration ended: its line's dialog need not be remembered any more.
    fn unregister_done(&mut self, job: &RegJob) {
        if job.kind != RegKind::Unregister {
            return;
        }
        let token = Uri::parse(&job.contact)
            .ok()
            .and_then(|u| u.params.get("line").map(str::to_owned));
        if let Some(token) = token
            && self
                .retired
                .get(&token)
                .is_some_and(|d| d.call_id == job.call_id && d.cseq <= job.cseq)
        {
            self.retired.remove(&token);
        }
    }

    pub(super) fn on_register_timeout(&mut self, now: Instant, job: RegJob) {
        self.unregister_done(&job);
        self.register_done(now, &job);
        self.register_failed(now, &job, 408);
    }

    fn register_failed(&mut self, now: Instant, job: &RegJob, code: u16) {
        if job.kind != RegKind::Refresh {
            return;
        }
        let (min, max) = (self.settings.retry_min, self.settings.retry_max);
        let Some(line) = self.line_mut(job.dev, job.line) else {
            return;
        };
        if line.call_id != job.call_id {
            return;
        }
        line.registered = false;
        line.backoff = if line.backoff.is_zero() {
            min
        } else {
            line.backoff.saturating_mul(2).min(max)
        };
        let retry = line.backoff;
        tracing::info!(line = %job.contact, code, retry_secs = retry.as_secs_f32(), "line registration failed");
        self.emit(
            job.dev,
            UaEvent::RegistrationFailed {
                line: job.line,
                code,
            },
        );
        self.schedule(job.dev, job.line, now + retry);
    }

    pub(super) fn on_register_response(
        &mut self,
        now: Instant,
        mut job: RegJob,
        resp: &SipMessage,
    ) {
        let code = resp.code().unwrap_or(500);
        if code >= 200 && !matches!(code, 401 | 407 | 423) {
            self.unregister_done(&job);
        }
        if code >= 200 {
            self.register_done(now, &job);
        }
        match code {
            100..=199 => {}
            200..=299 => self.on_registered(now, &job, resp),
            401 | 407 => {
                let challenge = Challenge::all_of(resp).into_iter().next();
                let (Some(ha1), Some(challenge)) = (job.identity.ha1.clone(), challenge) else {
                    return self.register_failed(now, &job, code);
                };
                if job.auth_tries >= 2 {
                    return self.register_failed(now, &job, 403);
                }
                job.auth_tries = job.auth_tries.saturating_add(1);
                job.cseq = job.cseq.saturating_add(1);
                if let Some(line) = self.line_mut(job.dev, job.line)
                    && line.call_id == job.call_id
                {
                    line.cseq = job.cseq;
                }
                let uri = {
                    let mut r = Self::aor(&job.identity);
                    r.user = None;
                    r.to_string()
                };
                let value = challenge.answer(
                    &job.identity.extension,
                    &ha1,
                    "REGISTER",
                    &uri,
                    u32::from(job.auth_tries),
                );
                let name = if code == 407 {
                    HeaderName::PROXY_AUTHORIZATION
                } else {
                    HeaderName::AUTHORIZATION
                };
                self.send_register(now, job, Some((name, value)));
            }
            423 => {
                let min = resp
                    .headers
                    .get(&HeaderName::MIN_EXPIRES)
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match min {
                    Some(min) if job.kind == RegKind::Refresh && min > job.expires => {
                        job.expires = min;
                        job.cseq = job.cseq.saturating_add(1);
                        if let Some(line) = self.line_mut(job.dev, job.line) {
                            line.cseq = job.cseq;
                        }
                        self.send_register(now, job, None);
                    }
                    _ => self.register_failed(now, &job, code),
                }
            }
            _ => self.register_failed(now, &job, code),
        }
    }

    fn on_registered(&mut self, now: Instant, job: &RegJob, resp: &SipMessage) {
        if job.kind != RegKind::Refresh {
            return;
        }
        let ours = Uri::parse(&job.contact).ok();
        let contacts: Vec<_> = resp
            .contacts()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c {
                Contact::Addr(a) => Some(a),
                Contact::Star => None,
            })
            .collect();
        let same_place = |u: &Uri| {
            ours.as_ref()
                .is_some_and(|o| o.host == u.host && o.port == u.port)
        };
        let token = ours
            .as_ref()
            .and_then(|o| o.params.get("line").map(str::to_owned))
            .unwrap_or_default();
        let granted = contacts
            .iter()
            .find(|a| same_place(&a.uri) && a.uri.params.get("line") == Some(token.as_str()))
            .and_then(|a| a.params.get("expires").and_then(|e| e.parse::<u32>().ok()))
            .or_else(|| resp.expires().ok().flatten())
            .unwrap_or(job.expires);
        let stale: Vec<String> = contacts
            .iter()
            .filter(|a| a.uri.params.get("line") == Some(token.as_str()) && !same_place(&a.uri))
            .map(|a| a.uri.to_string())
            .collect();
        let Some(line) = self.line_mut(job.dev, job.line) else {
            return;
        };
        if line.call_id != job.call_id {
            return;
        }
        let newly = !line.registered;
        line.registered = true;
        line.backoff = Duration::ZERO;
        let clean = !line.cleaned;
        line.cleaned = true;
        let (cseq, call_id, from_tag) = (line.cseq, line.call_id.clone(), line.from_tag.clone());
        // Refresh at 85 % of the granted time (at least one second from now).
        let refresh = Duration::from_millis(u64::from(granted.max(2)).saturating_mul(850));
        self.schedule(job.dev, job.line, now + refresh.max(Duration::from_secs(1)));
        if newly {
            tracing::debug!(line = %job.contact, granted, "line registered");
            self.emit(job.dev, UaEvent::Registered { line: job.line });
        }
        if clean {
            for (i, contact) in stale.into_iter().enumerate() {
                tracing::info!(%contact, "removing a stale binding of a previous run");
                let cleanup = RegJob {
                    kind: RegKind::Cleanup,
                    call_id: call_id.clone(),
                    from_tag: from_tag.clone(),
                    // A distinct Call-ID would also do; the same one with a higher CSeq is simplest.
                    cseq: cseq
                        .saturating_add(1)
                        .saturating_add(u32::try_from(i).unwrap_or(0)),
                    expires: 0,
                    contact,
                    auth_tries: 0,
                    ..job.clone()
                };
                if let Some(line) = self.line_mut(job.dev, job.line) {
                    line.cseq = cleanup.cseq;
                }
                self.send_register(now, cleanup, None);
            }
        }
    }
}
