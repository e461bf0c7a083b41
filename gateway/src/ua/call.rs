//! Calls: the UAC and UAS halves of INVITE (RFC 3261 §13), CANCEL and BYE, re-INVITE for hold and
//! resume, INFO for DTMF (`application/dtmf-relay`), REFER and NOTIFY for blind and attended transfer
//! (RFC 3515, RFC 3891), each turned into or out of `UaCommand`/`UaEvent`.
//!
//! ```text
//! outgoing:  Invite ─▶ Outgoing ─1xx▶ Outgoing(provisional) ─2xx▶ Connected ─BYE either way▶ gone
//!                         │  Hangup: CANCEL (at the first 1xx)      ▲
//!                         └─3xx–6xx, 408: Failed ──▶ gone            │
//! incoming:  INVITE ─▶ Incoming ─Answer: 200▶ Connected (2xx resent until ACK)
//!                         └─Reject / Hangup / CANCEL (487): gone
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::msg::{HeaderName, Method, NameAddr, SipMessage, Uri, response_to};
use sip_core::transaction::TransactionKey;

use super::agent::{AppTimer, Core, Pending};
use super::auth::Challenge;
use super::dialog::{Dialog, branch, contact_uri};
use super::sdp::{self, Origin, Sdp};
use crate::call::types::{
    CallRef, Direction, Dtmf, LineId, MediaDescription, MediaOffer, UaCommand, UaEvent,
};

/// The methods a line accepts.
pub(super) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY";
const SUPPORTED: &str = "replaces";

/// Where a call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Our INVITE is out.
    Outgoing {
        invite: TransactionKey,
        provisional: bool,
        /// The session hung up: CANCEL sent (or to send at the first provisional).
        cancel: bool,
        cancel_sent: bool,
    },
    /// An INVITE for us awaits the session's answer.
    Incoming,
    /// Answered.
    Connected,
}

/// One call of one device.
#[derive(Debug)]
pub(crate) struct Call {
    pub(super) line: LineId,
    pub(super) phase: Phase,
    pub(super) dialog: Dialog,
    origin: Origin,
    /// Our current media.
    media: Option<MediaOffer>,
    /// The INVITE we received (UAS) or last sent (UAC, for a digest retry).
    invite: Option<SipMessage>,
    pub(super) server_invite: Option<TransactionKey>,
    /// The far end's offer in its INVITE (UAS).
    remote_offer: Option<Sdp>,
    /// We offered in a 2xx: the answer comes in the ACK.
    offer_in_ok: bool,
    /// Our ACK for the 2xx of our last INVITE (resent on retransmissions).
    ack: Option<(SipMessage, std::net::SocketAddr)>,
    /// Our 2xx awaiting its ACK: message, server transaction, interval, give-up time.
    ok: Option<(SipMessage, TransactionKey, Duration, Instant)>,
    /// CSeq of our pending re-INVITE.
    reinvite_cseq: Option<u32>,
    auth_tries: u8,
    /// Early media of our INVITE (UAC); the far end's media as `Incoming` reported it (UAS).
    early: Option<MediaDescription>,
    /// We sent a REFER on this call and wait for its NOTIFYs.
    referred: bool,
}

impl Call {
    fn new(line: LineId, phase: Phase, dialog: Dialog) -> Self {
        Self {
            line,
            phase,
            dialog,
            origin: Origin::new(rand::random::<u32>().into()),
            media: None,
            invite: None,
            server_invite: None,
            remote_offer: None,
            offer_in_ok: false,
            ack: None,
            ok: None,
            reinvite_cseq: None,
            auth_tries: 0,
            early: None,
            referred: false,
        }
    }
}

/// `%`-escapes a URI header value (RFC 3261 §25.1 `hvalue`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_mul(2));
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Resolves `%XX` escapes.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = s.get(i.saturating_add(1)..i.saturating_add(3))
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i = i.saturating_add(3);
            continue;
        }
        out.push(b);
        i = i.saturating_add(1);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `callid;to-tag=X;from-tag=Y` (RFC 3891 §6.1).
fn parse_replaces(value: &str) -> Option<(String, String, String)> {
    let mut parts = value.split(';').map(str::trim);
    let call_id = parts.next()?.to_owned();
    let (mut to, mut from) = (None, None);
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("to-tag") {
                to = Some(v.trim().to_owned());
            } else if k.trim().eq_ignore_ascii_case("from-tag") {
                from = Some(v.trim().to_owned());
            }
        }
    }
    Some((call_id, to?, from?))
}

/// The key of a DTMF INFO body: `Signal=5` (`application/dtmf-relay`) or a bare digit
/// (`application/dtmf`).
fn parse_dtmf(body: &str) -> Option<Dtmf> {
    let mut digit = None;
    let mut duration = 160u16;
    for line in body.lines() {
        let line = line.trim();
        if let Some((k, v)) = line.split_once('=') {
            match k.trim().to_ascii_lowercase().as_str() {
                "signal" => digit = v.trim().chars().next(),
                "duration" => duration = v.trim().parse().unwrap_or(160),
                _ => {}
            }
        } else if line.len() == 1 {
            digit = line.chars().next();
        }
    }
    let digit = digit?.to_ascii_uppercase();
    matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D').then_some(Dtmf {
        digit,
        duration_ms: duration,
    })
}

impl Core {
    fn line_identity(&self, dev: u64, line: LineId) -> Option<crate::call::types::LineIdentity> {
        self.devices
            .get(&dev)?
            .lines
            .iter()
            .find(|l| l.id == line)
            .map(|l| l.identity.clone())
    }

    fn line_contact(&self, dev: u64, line: LineId) -> Option<String> {
        let l = self
            .devices
            .get(&dev)?
            .lines
            .iter()
            .find(|l| l.id == line)?;
        Some(format!(
            "<{}>",
            self.contact_uri(&l.identity.extension, &l.token)
        ))
    }

    /// What was dialled, as a URI in the line's domain (or as given when it is a `sip:` URI).
    fn target_uri(&self, target: &str, domain: &str) -> Option<Uri> {
        let t = target.trim();
        if t.starts_with("sip:") || t.starts_with("sips:") {
            return Uri::parse(t).ok();
        }
        Uri::parse(&format!("sip:{t}@{domain}")).ok()
    }

    fn add_common(&self, msg: &mut SipMessage, contact: Option<&str>) {
        if let Some(c) = contact {
            msg.headers.push(HeaderName::CONTACT, c.to_owned());
        }
        msg.headers.push(HeaderName::ALLOW, ALLOW);
        msg.headers.push(HeaderName::SUPPORTED, SUPPORTED);
        msg.headers
            .push(HeaderName::USER_AGENT, self.settings.user_agent.clone());
    }

    fn set_sdp(msg: &mut SipMessage, body: String) {
        msg.headers
            .push(HeaderName::CONTENT_TYPE, "application/sdp");
        msg.body = Bytes::from(body);
    }

    // ---- commands --------------------------------------------------------------------------------

    pub(super) fn command(&mut self, now: Instant, dev: u64, cmd: UaCommand) {
        match cmd {
            UaCommand::Invite {
                call,
                line,
                target,
                offer,
            } => self.invite(now, dev, call, line, &target, offer),
            UaCommand::Ringing { call } => self.provisional(now, dev, call, 180),
            UaCommand::Answer { call, media } => self.answer(now, dev, call, media),
            UaCommand::Reject { call, code } => self.reject(now, dev, call, code),
            UaCommand::Redirect { call, target } => self.redirect(now, dev, call, &target),
            UaCommand::Hangup { call } => self.hangup(now, dev, call),
            UaCommand::Hold { call, on, media } => self.hold(now, dev, call, on, media),
            UaCommand::Info { call, dtmf } => self.info(now, dev, call, dtmf),
            UaCommand::Transfer { call, target } => self.refer(now, dev, call, Some(&target), None),
            UaCommand::TransferAttended { call, consult } => {
                self.refer(now, dev, call, None, Some(consult));
            }
        }
    }

    fn invite(
        &mut self,
        now: Instant,
        dev: u64,
        call: CallRef,
        line: LineId,
        target: &str,
        offer: MediaOffer,
    ) {
        let (Some(identity), Some(contact)) =
            (self.line_identity(dev, line), self.line_contact(dev, line))
        else {
            tracing::debug!(%call, ?line, "Invite for an unknown line");
            return self.emit(
                dev,
                UaEvent::Failed {
                    call,
                    code: 404,
                    reason: "Unknown line".to_owned(),
                },
            );
        };
        let Some(mut ruri) = self.target_uri(target, &identity.domain) else {
            return self.emit(
                dev,
                UaEvent::Failed {
                    call,
                    code: 484,
                    reason: "Address Incomplete".to_owned(),
                },
            );
        };
        // Refer-To targets carry `?Replaces=...` (attended transfer): it becomes a header.
        let replaces = ruri.headers.take().and_then(|h| {
            h.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                k.eq_ignore_ascii_case("Replaces").then(|| unescape(v))
            })
        });
        let mut aor = Uri::parse(&format!("sip:{}@{}", identity.extension, identity.domain))
            .unwrap_or_else(|_| ruri.clone());
        aor.params = sip_core::msg::Params::new();
        let mut local = NameAddr::new(aor);
        if !identity.display_name.is_empty() {
            local.display = Some(identity.display_name);
        }
        let mut to_uri = ruri.clone();
        to_uri.params = sip_core::msg::Params::new();
        let dialog = Dialog::uac(local, NameAddr::new(to_uri), ruri);
        let mut c = Call::new(line, Phase::Incoming, dialog);
        let mut msg = c.dialog.request(Method::INVITE, 1, &self.via);
        self.add_common(&mut msg, Some(&contact));
        if let Some(r) = replaces {
            msg.headers.push(HeaderName::REPLACES, r);
        }
        Self::set_sdp(&mut msg, sdp::offer(&mut c.origin, &offer));
        c.media = Some(offer);
        c.invite = Some(msg.clone());
        let to = self.outbound;
        let Some(key) = self.send_request(now, msg, to, Pending::Invite { dev, call }) else {
            return self.emit(
                dev,
                UaEvent::Failed {
                    call,
                    code: 503,
                    reason: "Service Unavailable".to_owned(),
                },
            );
        };
        c.phase = Phase::Outgoing {
            invite: key,
            provisional: false,
            cancel: false,
            cancel_sent: false,
        };
        self.dialogs.insert(
            (c.dialog.call_id.clone(), c.dialog.local_tag.clone()),
            (dev, call),
        );
        self.calls.insert((dev, call), c);
    }

    fn provisional(&mut self, now: Instant, dev: u64, call: CallRef, code: u16) {
        let contact = self
            .calls
            .get(&(dev, call))
            .and_then(|c| self.line_contact(dev, c.line));
        let Some(c) = self.calls.get(&(dev, call)) else {
            return;
        };
        let (Phase::Incoming, Some(req), Some(key)) = (&c.phase, &c.invite, &c.server_invite)
        else {
            return;
        };
        let mut resp = self.response(req, code, &c.dialog.local_tag);
        self.add_common(&mut resp, contact.as_deref());
        let key = key.clone();
        self.respond(now, &key, resp);
    }

    /// A response to a request of the far end within a (would-be) dialog: our tag, Record-Route
    /// copied for dialog-creating INVITE responses (§12.1.1).
    fn response(&self, req: &SipMessage, code: u16, tag: &str) -> SipMessage {
        let mut resp = response_to(req, code, "").with_to_tag(tag);
        if req.method() == Some(&Method::INVITE) && (101..300).contains(&code) {
            for rr in req
                .headers
                .iter()
                .filter(|h| h.name == HeaderName::RECORD_ROUTE)
            {
                resp.headers
                    .push(HeaderName::RECORD_ROUTE, rr.value.clone());
            }
        }
        resp
    }

    fn answer(&mut self, now: Instant, dev: u64, call: CallRef, media: MediaOffer) {
        let Some(contact) = self
            .calls
            .get(&(dev, call))
            .and_then(|c| self.line_contact(dev, c.line))
        else {
            return;
        };
        let t1 = self.settings.timers.t1;
        let giveup = now + self.settings.timers.t1_x64();
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        let (Phase::Incoming, Some(req), Some(key)) =
            (&c.phase, c.invite.clone(), c.server_invite.clone())
        else {
            return;
        };
        let mut changed = None;
        let body = match &c.remote_offer {
            Some(offer) => match sdp::answer(&mut c.origin, offer, &media) {
                Ok((agreed, body)) => {
                    // `Incoming` described the offer against the device's codecs (every codec we
                    // know until the device said); the session's media may have chosen another.
                    if c.early.as_ref() != Some(&agreed) {
                        changed = Some(agreed);
                    }
                    body
                }
                Err(e) => {
                    tracing::info!(%call, error = %e, "cannot answer the offer");
                    let resp = response_to(&req, 488, "").with_to_tag(&c.dialog.local_tag);
                    self.respond(now, &key, resp);
                    return self.end_call(dev, call, true);
                }
            },
            None => {
                c.offer_in_ok = true;
                sdp::offer(&mut c.origin, &media)
            }
        };
        let mut resp = response_to(&req, 200, "").with_to_tag(&c.dialog.local_tag);
        for rr in req
            .headers
            .iter()
            .filter(|h| h.name == HeaderName::RECORD_ROUTE)
        {
            resp.headers
                .push(HeaderName::RECORD_ROUTE, rr.value.clone());
        }
        c.media = Some(media);
        c.phase = Phase::Connected;
        c.ok = Some((resp.clone(), key.clone(), t1, giveup));
        self.server_invites.remove(&key);
        self.add_common(&mut resp, Some(&contact));
        Self::set_sdp(&mut resp, body);
        if let Some(c) = self.calls.get_mut(&(dev, call))
            && let Some(ok) = c.ok.as_mut()
        {
            ok.0 = resp.clone();
        }
        self.respond(now, &key, resp);
        self.arm(now + t1, AppTimer::Resend2xx { dev, call });
        if let Some(media) = changed {
            self.emit(dev, UaEvent::MediaChanged { call, media });
        }
    }

    pub(super) fn on_resend_2xx(&mut self, now: Instant, dev: u64, call: CallRef) {
        let t2 = self.settings.timers.t2;
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        let Some((resp, key, interval, giveup)) = c.ok.clone() else {
            return;
        };
        if now >= giveup {
            // No ACK (§13.3.1.4): the call is over.
            c.ok = None;
            tracing::info!(%call, "no ACK for our 2xx: ending the call");
            self.send_bye(now, dev, call);
            return self.end_call(dev, call, true);
        }
        let next = interval.saturating_mul(2).min(t2);
        c.ok = Some((resp.clone(), key.clone(), next, giveup));
        self.respond(now, &key, resp);
        // The last wait ends at the give-up time, not after it.
        self.arm((now + next).min(giveup), AppTimer::Resend2xx { dev, call });
    }

    fn reject(&mut self, now: Instant, dev: u64, call: CallRef, code: u16) {
        let Some(c) = self.calls.get(&(dev, call)) else {
            return;
        };
        let (Phase::Incoming, Some(req), Some(key)) = (&c.phase, &c.invite, &c.server_invite)
        else {
            return;
        };
        let code = if (300..700).contains(&code) {
            code
        } else {
            486
        };
        let resp = response_to(req, code, "").with_to_tag(&c.dialog.local_tag);
        let key = key.clone();
        self.respond(now, &key, resp);
        self.end_call(dev, call, false);
    }

    /// Call forwarding: 302 with the target as Contact (RFC 3261 §21.3.3), the caller places the call.
    fn redirect(&mut self, now: Instant, dev: u64, call: CallRef, target: &str) {
        let Some(c) = self.calls.get(&(dev, call)) else {
            return;
        };
        let (Phase::Incoming, Some(req), Some(key)) = (&c.phase, &c.invite, &c.server_invite)
        else {
            return;
        };
        let domain = self
            .line_identity(dev, c.line)
            .map(|i| i.domain)
            .unwrap_or_default();
        let Some(uri) = self.target_uri(target, &domain) else {
            return self.reject(now, dev, call, 480);
        };
        let mut resp = response_to(req, 302, "").with_to_tag(&c.dialog.local_tag);
        resp.headers.push(HeaderName::CONTACT, format!("<{uri}>"));
        let key = key.clone();
        self.respond(now, &key, resp);
        self.end_call(dev, call, false);
    }

    pub(super) fn hangup(&mut self, now: Instant, dev: u64, call: CallRef) {
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        match &mut c.phase {
            Phase::Outgoing {
                invite,
                provisional,
                cancel,
                cancel_sent,
            } => {
                *cancel = true;
                if *provisional && !*cancel_sent {
                    *cancel_sent = true;
                    let invite = invite.clone();
                    self.send_cancel(now, &invite);
                }
            }
            Phase::Incoming => self.reject(now, dev, call, 480),
            Phase::Connected => {
                self.send_bye(now, dev, call);
                self.end_call(dev, call, false);
            }
        }
    }

    fn send_cancel(&mut self, now: Instant, invite: &TransactionKey) {
        if let Ok(mut cancel) = self.txns.build_cancel(invite) {
            cancel
                .headers
                .push(HeaderName::new("Reason"), "SIP;cause=487;text=\"Hung up\"");
            // Our INVITEs all go to the outbound proxy, and a CANCEL goes where its INVITE went (§9.1).
            let to = self.outbound;
            self.send_request(now, cancel, to, Pending::Other);
        }
    }

    /// A request within `call`'s dialog, sent to its next hop.
    fn in_dialog(
        &mut self,
        now: Instant,
        dev: u64,
        call: CallRef,
        method: Method,
        build: impl FnOnce(&mut SipMessage),
        pending: Pending,
    ) -> Option<u32> {
        let outbound = self.outbound;
        let c = self.calls.get_mut(&(dev, call))?;
        let cseq = c.dialog.next_cseq();
        let mut msg = c.dialog.request(method, cseq, &self.via);
        let to = c.dialog.next_hop(outbound);
        build(&mut msg);
        self.send_request(now, msg, to, pending);
        Some(cseq)
    }

    fn send_bye(&mut self, now: Instant, dev: u64, call: CallRef) {
        let ua = self.settings.user_agent.clone();
        self.in_dialog(
            now,
            dev,
            call,
            Method::BYE,
            |m| m.headers.push(HeaderName::USER_AGENT, ua),
            Pending::Other,
        );
    }

    fn hold(&mut self, now: Instant, dev: u64, call: CallRef, on: bool, mut media: MediaOffer) {
        let Some(contact) = self
            .calls
            .get(&(dev, call))
            .and_then(|c| self.line_contact(dev, c.line))
        else {
            return;
        };
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        if c.phase != Phase::Connected {
            return;
        }
        media.direction = match (on, media.direction) {
            (true, Direction::Inactive) => Direction::Inactive,
            (true, _) => Direction::SendOnly,
            (false, _) => Direction::SendRecv,
        };
        let body = sdp::offer(&mut c.origin, &media);
        c.media = Some(media);
        let ua = self.settings.user_agent.clone();
        let cseq = self.in_dialog(
            now,
            dev,
            call,
            Method::INVITE,
            |m| {
                m.headers.push(HeaderName::CONTACT, contact);
                m.headers.push(HeaderName::ALLOW, ALLOW);
                m.headers.push(HeaderName::USER_AGENT, ua);
                Self::set_sdp(m, body);
            },
            Pending::ReInvite { dev, call },
        );
        if let Some(c) = self.calls.get_mut(&(dev, call)) {
            c.reinvite_cseq = cseq;
        }
    }

    fn info(&mut self, now: Instant, dev: u64, call: CallRef, dtmf: Dtmf) {
        if self
            .calls
            .get(&(dev, call))
            .is_none_or(|c| c.phase != Phase::Connected)
        {
            return;
        }
        self.in_dialog(
            now,
            dev,
            call,
            Method::INFO,
            |m| {
                m.headers
                    .push(HeaderName::CONTENT_TYPE, "application/dtmf-relay");
                m.body = Bytes::from(format!(
                    "Signal={}\r\nDuration={}\r\n",
                    dtmf.digit, dtmf.duration_ms
                ));
            },
            Pending::Other,
        );
    }

    fn refer(
        &mut self,
        now: Instant,
        dev: u64,
        call: CallRef,
        target: Option<&str>,
        consult: Option<CallRef>,
    ) {
        let fail = |core: &Self| core.emit(dev, UaEvent::TransferResult { call, code: 481 });
        let Some(c) = self.calls.get(&(dev, call)) else {
            return fail(self);
        };
        if c.phase != Phase::Connected {
            return fail(self);
        }
        let line = c.line;
        let referred_by = c.dialog.local.to_string();
        let refer_to = match (target, consult) {
            (Some(t), _) => {
                let domain = self
                    .line_identity(dev, line)
                    .map(|i| i.domain)
                    .unwrap_or_default();
                match self.target_uri(t, &domain) {
                    Some(u) => format!("<{u}>"),
                    None => return fail(self),
                }
            }
            (None, Some(consult)) => {
                let Some(k) = self.calls.get(&(dev, consult)) else {
                    return fail(self);
                };
                let Some(remote_tag) = &k.dialog.remote_tag else {
                    return fail(self);
                };
                // The target's view of the consultation dialog: its local tag is our remote tag.
                let replaces = format!(
                    "{};to-tag={};from-tag={}",
                    k.dialog.call_id, remote_tag, k.dialog.local_tag
                );
                let mut target = k.dialog.remote_target.clone();
                target.headers = Some(format!("Replaces={}", escape(&replaces)));
                format!("<{target}>")
            }
            (None, None) => return fail(self),
        };
        let contact = self.line_contact(dev, line);
        let ua = self.settings.user_agent.clone();
        self.in_dialog(
            now,
            dev,
            call,
            Method::REFER,
            |m| {
                m.headers.push(HeaderName::REFER_TO, refer_to);
                m.headers.push(HeaderName::REFERRED_BY, referred_by);
                if let Some(c) = contact {
                    m.headers.push(HeaderName::CONTACT, c);
                }
                m.headers.push(HeaderName::USER_AGENT, ua);
            },
            Pending::Refer { dev, call },
        );
        if let Some(c) = self.calls.get_mut(&(dev, call)) {
            c.referred = true;
        }
    }

    // ---- responses to our requests ---------------------------------------------------------------

    pub(super) fn on_invite_response(
        &mut self,
        now: Instant,
        dev: u64,
        call: CallRef,
        resp: &SipMessage,
    ) {
        let code = resp.code().unwrap_or(500);
        let outbound = self.outbound;
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        match code {
            100 => {}
            101..=199 => {
                c.dialog.on_response(resp);
                let media = c
                    .media
                    .as_ref()
                    .filter(|_| !resp.body.is_empty())
                    .and_then(|ours| {
                        sdp::read_answer(&String::from_utf8_lossy(&resp.body), ours).ok()
                    });
                if media.is_some() {
                    c.early.clone_from(&media);
                }
                let mut cancel_now = None;
                let mut cancelled = false;
                if let Phase::Outgoing {
                    invite,
                    provisional,
                    cancel,
                    cancel_sent,
                } = &mut c.phase
                {
                    *provisional = true;
                    cancelled = *cancel;
                    if *cancel && !*cancel_sent {
                        *cancel_sent = true;
                        cancel_now = Some(invite.clone());
                    }
                }
                if let Some(invite) = cancel_now {
                    self.send_cancel(now, &invite);
                }
                if !cancelled {
                    let code = if code == 183 { 183 } else { 180 };
                    self.emit(dev, UaEvent::Progress { call, code, media });
                    self.notify_transfer(
                        now,
                        dev,
                        call,
                        code,
                        if code == 183 {
                            "Session Progress"
                        } else {
                            "Ringing"
                        },
                    );
                }
            }
            200..=299 => {
                let tag = resp.to_ref().ok().and_then(|t| t.tag().map(str::to_owned));
                if let Some((ack, to)) = &c.ack {
                    if tag == c.dialog.remote_tag {
                        // A retransmission: our ACK was lost.
                        let (ack, to) = (ack.clone(), *to);
                        self.txns.send_stateless(&ack, to);
                    } else {
                        // Another fork answered too: ACK and end that dialog.
                        self.ack_and_bye_fork(now, resp);
                    }
                    return;
                }
                c.dialog.on_response(resp);
                let cseq = resp.cseq().map_or(1, |s| s.seq);
                let ack = c.dialog.request(Method::ACK, cseq, &self.via);
                let to = c.dialog.next_hop(outbound);
                self.txns.send_stateless(&ack, to);
                c.ack = Some((ack, to));
                let cancelled = matches!(c.phase, Phase::Outgoing { cancel: true, .. });
                if cancelled {
                    // The answer crossed our CANCEL: hang up properly.
                    self.send_bye(now, dev, call);
                    return self.end_call(dev, call, false);
                }
                let media = match &c.media {
                    Some(ours) if !resp.body.is_empty() => {
                        sdp::read_answer(&String::from_utf8_lossy(&resp.body), ours).ok()
                    }
                    _ => c.early.clone(),
                };
                let Some(media) = media else {
                    tracing::info!(%call, "2xx without a usable SDP answer: hanging up");
                    self.send_bye(now, dev, call);
                    self.emit(
                        dev,
                        UaEvent::Failed {
                            call,
                            code: 488,
                            reason: "Not Acceptable Here".to_owned(),
                        },
                    );
                    self.notify_transfer(now, dev, call, 488, "Not Acceptable Here");
                    return self.end_call(dev, call, false);
                };
                c.phase = Phase::Connected;
                self.emit(dev, UaEvent::Answered { call, media });
                self.notify_transfer(now, dev, call, 200, "OK");
            }
            401 | 407 if c.auth_tries < 2 => {
                let (line, invite) = (c.line, c.invite.clone());
                let ha1 = self
                    .line_identity(dev, line)
                    .and_then(|i| i.ha1.map(|h| (i.extension, h)));
                let challenge = Challenge::all_of(resp).into_iter().next();
                let (Some((user, ha1)), Some(challenge), Some(mut msg)) = (ha1, challenge, invite)
                else {
                    return self.on_invite_failed(now, dev, call, code, &reason_of(resp));
                };
                let Some(c) = self.calls.get_mut(&(dev, call)) else {
                    return;
                };
                c.auth_tries = c.auth_tries.saturating_add(1);
                let cseq = c.dialog.next_cseq();
                let uri = msg
                    .request_uri()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let name = if code == 407 {
                    HeaderName::PROXY_AUTHORIZATION
                } else {
                    HeaderName::AUTHORIZATION
                };
                msg.headers.remove_all(&name);
                msg.headers
                    .push(name, challenge.answer(&user, &ha1, "INVITE", &uri, 1));
                msg.headers.set(HeaderName::CSEQ, format!("{cseq} INVITE"));
                msg.headers.remove_first(&HeaderName::VIA);
                msg.headers
                    .push_front(HeaderName::VIA, self.via.via(&branch()).to_string());
                c.invite = Some(msg.clone());
                let to = self.outbound;
                match self.send_request(now, msg, to, Pending::Invite { dev, call }) {
                    Some(new_key) => {
                        if let Some(c) = self.calls.get_mut(&(dev, call))
                            && let Phase::Outgoing { invite, .. } = &mut c.phase
                        {
                            *invite = new_key;
                        }
                    }
                    None => self.on_invite_failed(now, dev, call, 503, "Service Unavailable"),
                }
            }
            _ => self.on_invite_failed(now, dev, call, code, &reason_of(resp)),
        }
    }

    /// Our INVITE failed with `code` (a final response, or 408 on timeout).
    pub(super) fn on_invite_failed(
        &mut self,
        now: Instant,
        dev: u64,
        call: CallRef,
        code: u16,
        reason: &str,
    ) {
        let Some(c) = self.calls.get(&(dev, call)) else {
            return;
        };
        let cancelled = matches!(c.phase, Phase::Outgoing { cancel: true, .. });
        if !matches!(c.phase, Phase::Outgoing { .. }) {
            return;
        }
        if !cancelled {
            self.emit(
                dev,
                UaEvent::Failed {
                    call,
                    code,
                    reason: reason.to_owned(),
                },
            );
        }
        self.notify_transfer(now, dev, call, code, reason);
        self.end_call(dev, call, false);
    }

    fn ack_and_bye_fork(&mut self, now: Instant, resp: &SipMessage) {
        let Ok(to) = resp.to() else { return };
        let Ok(from) = resp.from() else { return };
        let (Some(call_id), Ok(cseq)) = (resp.call_id(), resp.cseq()) else {
            return;
        };
        let (Some(local_tag), Some(remote_tag)) = (from.tag(), to.tag()) else {
            return;
        };
        let mut remote = to.clone();
        remote.params.remove("tag");
        let mut local = from.clone();
        local.params.remove("tag");
        let Some(target) = contact_uri(resp) else {
            return;
        };
        let mut rr = resp.record_routes().unwrap_or_default();
        rr.reverse();
        let d = Dialog {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: Some(remote_tag.to_owned()),
            local,
            remote,
            remote_target: target,
            route: rr,
            local_cseq: cseq.seq,
            remote_cseq: None,
        };
        let to = d.next_hop(self.outbound);
        let ack = d.request(Method::ACK, cseq.seq, &self.via);
        self.txns.send_stateless(&ack, to);
        let bye = d.request(Method::BYE, cseq.seq.saturating_add(1), &self.via);
        self.send_request(now, bye, to, Pending::Other);
    }

    pub(super) fn on_reinvite_response(
        &mut self,
        _now: Instant,
        dev: u64,
        call: CallRef,
        resp: &SipMessage,
    ) {
        let code = resp.code().unwrap_or(500);
        if !(200..300).contains(&code) {
            if code >= 300 {
                tracing::info!(%call, code, "re-INVITE refused");
            }
            return;
        }
        let outbound = self.outbound;
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        let cseq = resp
            .cseq()
            .map_or_else(|_| c.reinvite_cseq.unwrap_or(1), |s| s.seq);
        if let Some(t) = contact_uri(resp) {
            c.dialog.remote_target = t;
        }
        let ack = c.dialog.request(Method::ACK, cseq, &self.via);
        let to = c.dialog.next_hop(outbound);
        self.txns.send_stateless(&ack, to);
        let first = c.reinvite_cseq.take().is_some();
        if first
            && let Some(ours) = &c.media
            && let Ok(media) = sdp::read_answer(&String::from_utf8_lossy(&resp.body), ours)
        {
            self.emit(dev, UaEvent::MediaChanged { call, media });
        }
    }

    /// A 2xx to INVITE whose transaction has ended: re-ACK it if it is one of our calls.
    pub(super) fn on_stray(
        &mut self,
        _now: Instant,
        resp: &SipMessage,
        _from: std::net::SocketAddr,
    ) {
        let is_invite_2xx = resp.code().is_some_and(|c| (200..300).contains(&c))
            && resp.cseq().is_ok_and(|c| c.method == Method::INVITE);
        if !is_invite_2xx {
            return;
        }
        let (Some(call_id), Ok(from)) = (resp.call_id(), resp.from()) else {
            return;
        };
        let Some(tag) = from.tag() else { return };
        if let Some(id) = self.dialogs.get(&(call_id.to_owned(), tag.to_owned()))
            && let Some(c) = self.calls.get(id)
            && let Some((ack, to)) = &c.ack
        {
            let (ack, to) = (ack.clone(), *to);
            self.txns.send_stateless(&ack, to);
        }
    }

    // ---- requests from the far end ---------------------------------------------------------------

    pub(super) fn on_request(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: SipMessage,
        _from: std::net::SocketAddr,
    ) {
        let method = req.method().cloned().unwrap_or(Method::OPTIONS);
        let to_tag = req.to_ref().ok().and_then(|t| t.tag().map(str::to_owned));
        let Some(to_tag) = to_tag else {
            return match method {
                m if m == Method::INVITE => self.on_new_invite(now, &key, req),
                m if m == Method::OPTIONS => self.reply(now, &key, &req, 200),
                m if m == Method::BYE
                    || m == Method::INFO
                    || m == Method::REFER
                    || m == Method::NOTIFY =>
                {
                    self.reply(now, &key, &req, 481);
                }
                _ => self.reply(now, &key, &req, 405),
            };
        };
        let id = req
            .call_id()
            .and_then(|cid| self.dialogs.get(&(cid.to_owned(), to_tag.clone())))
            .copied();
        let Some((dev, call)) = id else {
            return self.reply(now, &key, &req, 481);
        };
        if let Some(c) = self.calls.get_mut(&(dev, call)) {
            let seq = req.cseq().map_or(0, |s| s.seq);
            if c.dialog.remote_cseq.is_some_and(|r| seq < r) {
                return self.reply(now, &key, &req, 500);
            }
            c.dialog.remote_cseq = Some(seq);
        }
        match method {
            m if m == Method::BYE => {
                self.reply_in_dialog(now, &key, &req, 200);
                self.notify_transfer(now, dev, call, 487, "Request Terminated");
                self.end_call(dev, call, true);
            }
            m if m == Method::INVITE => self.on_reinvite(now, dev, call, &key, &req),
            m if m == Method::INFO => {
                self.reply_in_dialog(now, &key, &req, 200);
                if let Some(dtmf) = parse_dtmf(&String::from_utf8_lossy(&req.body)) {
                    self.emit(dev, UaEvent::Info { call, dtmf });
                }
            }
            m if m == Method::REFER => self.on_refer(now, dev, call, &key, &req),
            m if m == Method::NOTIFY => {
                self.reply_in_dialog(now, &key, &req, 200);
                let frag = String::from_utf8_lossy(&req.body);
                let code = frag
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("SIP/2.0 "))
                    .and_then(|l| l.get(..3))
                    .and_then(|c| c.parse::<u16>().ok());
                if let Some(c) = self.calls.get_mut(&(dev, call))
                    && c.referred
                    && let Some(code) = code.filter(|c| *c >= 200)
                {
                    c.referred = false;
                    self.emit(dev, UaEvent::TransferResult { call, code });
                }
            }
            m if m == Method::OPTIONS => self.reply_in_dialog(now, &key, &req, 200),
            _ => self.reply_in_dialog(now, &key, &req, 501),
        }
    }

    fn reply_in_dialog(&mut self, now: Instant, key: &TransactionKey, req: &SipMessage, code: u16) {
        let mut resp = response_to(req, code, "");
        if code == 501 || code == 200 && req.method() == Some(&Method::OPTIONS) {
            resp.headers.push(HeaderName::ALLOW, ALLOW);
        }
        self.respond(now, key, resp);
    }

    fn on_new_invite(&mut self, now: Instant, key: &TransactionKey, req: SipMessage) {
        let Some((dev, line)) = self.line_for(&req) else {
            tracing::debug!(uri = ?req.request_uri().map(ToString::to_string), "INVITE for no line of ours");
            return self.reply(now, key, &req, 404);
        };
        let replaces = match req.headers.get(&HeaderName::REPLACES) {
            None => None,
            Some(v) => {
                let found = parse_replaces(v).and_then(|(cid, to_tag, from_tag)| {
                    let id = self.dialogs.get(&(cid, to_tag))?;
                    let c = self.calls.get(id)?;
                    (id.0 == dev && c.dialog.remote_tag.as_deref() == Some(from_tag.as_str()))
                        .then_some(id.1)
                });
                match found {
                    Some(c) => Some(c),
                    None => return self.reply(now, key, &req, 481),
                }
            }
        };
        let offer = if req.body.is_empty() {
            None
        } else {
            match Sdp::parse(&String::from_utf8_lossy(&req.body)) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::info!(error = %e, "INVITE with unusable SDP");
                    return self.reply(now, key, &req, 488);
                }
            }
        };
        let remote = match &offer {
            None => None,
            Some(s) => match s.remote_audio() {
                Ok(a) => {
                    // Described with the device's codecs (ours when it has not said), so the
                    // session sees what it will get, even when the offer's first codec is not one
                    // of the device's.
                    let codecs = self
                        .devices
                        .get(&dev)
                        .map(|d| d.codecs.clone())
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| crate::call::types::Codec::ALL.to_vec());
                    let all = MediaOffer {
                        rtp: a.rtp,
                        codecs,
                        ptime_ms: a.ptime_ms,
                        telephone_event: Some(101),
                        direction: Direction::SendRecv,
                    };
                    match a.agree(&all) {
                        Ok(m) => Some(m),
                        Err(_) => return self.reply(now, key, &req, 488),
                    }
                }
                Err(_) => return self.reply(now, key, &req, 488),
            },
        };
        let Some(dialog) = Dialog::uas(&req) else {
            return self.reply(now, key, &req, 400);
        };
        let Some(device) = self.devices.get(&dev) else {
            return self.reply(now, key, &req, 480);
        };
        let call = device.calls.next();
        let identity = req
            .headers
            .get(&HeaderName::new("P-Asserted-Identity"))
            .and_then(|v| NameAddr::parse(v.split(',').next().unwrap_or(v)).ok())
            .or_else(|| req.from().ok());
        let (from_name, from_number) = identity.map_or_else(Default::default, |a| {
            (
                a.display.clone().unwrap_or_default(),
                a.uri
                    .user_unescaped()
                    .map_or_else(|| a.uri.host.to_string(), |u| u.into_owned()),
            )
        });
        let mut c = Call::new(line, Phase::Incoming, dialog);
        c.remote_offer = offer;
        c.early.clone_from(&remote);
        c.invite = Some(req);
        c.server_invite = Some(key.clone());
        self.dialogs.insert(
            (c.dialog.call_id.clone(), c.dialog.local_tag.clone()),
            (dev, call),
        );
        self.server_invites.insert(key.clone(), (dev, call));
        self.calls.insert((dev, call), c);
        self.emit(
            dev,
            UaEvent::Incoming {
                call,
                line,
                from_name,
                from_number,
                offer: remote,
                replaces,
            },
        );
    }

    fn on_reinvite(
        &mut self,
        now: Instant,
        dev: u64,
        call: CallRef,
        key: &TransactionKey,
        req: &SipMessage,
    ) {
        let contact = self
            .calls
            .get(&(dev, call))
            .and_then(|c| self.line_contact(dev, c.line));
        let t1 = self.settings.timers.t1;
        let giveup = now + self.settings.timers.t1_x64();
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        if c.phase != Phase::Connected || c.ok.is_some() || c.reinvite_cseq.is_some() {
            return self.reply_in_dialog(now, key, req, 491);
        }
        let Some(ours) = c.media.clone() else {
            return self.reply_in_dialog(now, key, req, 488);
        };
        if let Some(t) = contact_uri(req) {
            c.dialog.remote_target = t;
        }
        let (body, changed) = if req.body.is_empty() {
            c.offer_in_ok = true;
            (sdp::offer(&mut c.origin, &ours), None)
        } else {
            let parsed = Sdp::parse(&String::from_utf8_lossy(&req.body));
            match parsed.and_then(|s| sdp::answer(&mut c.origin, &s, &ours)) {
                Ok((media, body)) => (body, Some(media)),
                Err(_) => return self.reply_in_dialog(now, key, req, 488),
            }
        };
        let mut resp = response_to(req, 200, "");
        if let Some(contact) = contact {
            resp.headers.push(HeaderName::CONTACT, contact);
        }
        resp.headers.push(HeaderName::ALLOW, ALLOW);
        Self::set_sdp(&mut resp, body);
        c.ok = Some((resp.clone(), key.clone(), t1, giveup));
        self.respond(now, key, resp);
        self.arm(now + t1, AppTimer::Resend2xx { dev, call });
        if let Some(media) = changed {
            self.emit(dev, UaEvent::MediaChanged { call, media });
        }
    }

    pub(super) fn on_ack(&mut self, _now: Instant, ack: &SipMessage) {
        let (Some(call_id), Ok(to)) = (ack.call_id(), ack.to()) else {
            return;
        };
        let Some(tag) = to.tag() else { return };
        let Some((dev, call)) = self
            .dialogs
            .get(&(call_id.to_owned(), tag.to_owned()))
            .copied()
        else {
            return;
        };
        let Some(c) = self.calls.get_mut(&(dev, call)) else {
            return;
        };
        c.ok = None;
        if c.offer_in_ok {
            c.offer_in_ok = false;
            if let Some(ours) = &c.media
                && let Ok(media) = sdp::read_answer(&String::from_utf8_lossy(&ack.body), ours)
            {
                self.emit(dev, UaEvent::MediaChanged { call, media });
            }
        }
    }

    pub(super) fn on_cancel(
        &mut self,
        now: Instant,
        invite: Option<TransactionKey>,
        key: TransactionKey,
        req: &SipMessage,
    ) {
        let Some(invite) = invite else {
            return self.reply(now, &key, req, 481);
        };
        self.reply_in_dialog(now, &key, req, 200);
        let Some((dev, call)) = self.server_invites.remove(&invite) else {
            return;
        };
        if let Some(c) = self.calls.get(&(dev, call))
            && let Some(inv) = &c.invite
        {
            let resp = response_to(inv, 487, "").with_to_tag(&c.dialog.local_tag);
            self.respond(now, &invite, resp);
        }
        self.emit(dev, UaEvent::Cancelled { call });
        self.end_call(dev, call, false);
    }

    fn on_refer(
        &mut self,
        now: Instant,
        dev: u64,
        call: CallRef,
        key: &TransactionKey,
        req: &SipMessage,
    ) {
        let target = req
            .headers
            .get(&HeaderName::REFER_TO)
            .and_then(|v| NameAddr::parse(v).ok())
            .map(|a| a.uri.to_string());
        let Some(target) = target else {
            return self.reply_in_dialog(now, key, req, 400);
        };
        let Some(new_call) = self.devices.get(&dev).map(|d| d.calls.next()) else {
            return self.reply_in_dialog(now, key, req, 480);
        };
        self.reply_in_dialog(now, key, req, 202);
        self.transfers.insert((dev, new_call), call);
        self.emit(
            dev,
            UaEvent::TransferRequested {
                call,
                new_call,
                target,
            },
        );
        self.notify_refer(now, dev, call, 100, "Trying");
    }

    /// Reports the progress of a call placed for a REFER to the referrer (NOTIFY with a sipfrag).
    fn notify_transfer(
        &mut self,
        now: Instant,
        dev: u64,
        new_call: CallRef,
        code: u16,
        reason: &str,
    ) {
        let Some(orig) = self.transfers.get(&(dev, new_call)).copied() else {
            return;
        };
        if code >= 200 {
            self.transfers.remove(&(dev, new_call));
        }
        self.notify_refer(now, dev, orig, code, reason);
    }

    fn notify_refer(&mut self, now: Instant, dev: u64, call: CallRef, code: u16, reason: &str) {
        let state = if code >= 200 {
            "terminated;reason=noresource".to_owned()
        } else {
            "active;expires=60".to_owned()
        };
        let contact = self
            .calls
            .get(&(dev, call))
            .and_then(|c| self.line_contact(dev, c.line));
        let body = format!("SIP/2.0 {code} {reason}\r\n");
        self.in_dialog(
            now,
            dev,
            call,
            Method::NOTIFY,
            |m| {
                m.headers.push(HeaderName::EVENT, "refer");
                m.headers.push(HeaderName::SUBSCRIPTION_STATE, state);
                if let Some(c) = contact {
                    m.headers.push(HeaderName::CONTACT, c);
                }
                m.headers
                    .push(HeaderName::CONTENT_TYPE, "message/sipfrag;version=2.0");
                m.body = Bytes::from(body);
            },
            Pending::Other,
        );
    }
}

fn reason_of(resp: &SipMessage) -> String {
    match &resp.start {
        sip_core::msg::StartLine::Response { reason, .. } => reason.clone(),
        sip_core::msg::StartLine::Request { .. } => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_escaping_round_trips() {
        let r = "abc@host;to-tag=1;from-tag=2";
        assert_eq!(unescape(&escape(r)), r);
        assert_eq!(
            parse_replaces(&unescape(&escape(r))),
            Some(("abc@host".into(), "1".into(), "2".into()))
        );
        assert_eq!(parse_replaces("abc;to-tag=1"), None);
    }

    #[test]
    fn dtmf_bodies() {
        assert_eq!(
            parse_dtmf("Signal=5\r\nDuration=160\r\n"),
            Some(Dtmf {
                digit: '5',
                duration_ms: 160
            })
        );
        assert_eq!(
            parse_dtmf("Signal= #\nDuration=250").map(|d| d.duration_ms),
            Some(250)
        );
        assert_eq!(parse_dtmf("*").map(|d| d.digit), Some('*'));
        assert_eq!(parse_dtmf("Signal=x"), None);
        assert_eq!(parse_dtmf(""), None);
    }
}
