//! The agent task: one UDP socket, one transaction layer, every attached device's lines and calls.
//!
//! [`Core`] is driven like the sans-IO machines of sip-core: the task feeds it what arrives (a
//! datagram, a request from a [`super::DeviceUa`], a timer) with the current time, then drains the
//! transaction layer's transmits and events until both are empty, then sleeps until the earlier of the
//! layer's deadline and the agent's own timers (registration refreshes and retries, 2xx retransmission).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::msg::{HeaderName, Method, SipMessage, response_to};
use sip_core::transaction::{
    Config as TxConfig, Incoming, Reliability, TransactionKey, Transactions, TxEvent,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::call::Call;
use super::dialog::ViaOf;
use super::register::{Line, RegJob};
use super::{Request, UaSettings};
use crate::call::types::{CallRef, CallRefs, LineId, UaEvent};

/// Datagrams read in one wake-up beyond the first.
const BATCH: usize = 64;
/// How long the agent waits for its unregistrations to be answered at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// An attached device.
pub(super) struct Device {
    pub(super) name: String,
    pub(super) lines: Vec<Line>,
    pub(super) calls: CallRefs,
    pub(super) events: mpsc::UnboundedSender<UaEvent>,
    /// The device's codecs, preferred first; empty: every codec we know.
    pub(super) codecs: Vec<crate::call::types::Codec>,
}

/// The agent's own timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AppTimer {
    /// Register (refresh or retry) a line; `generation` guards against stale timers.
    Register {
        dev: u64,
        line: LineId,
        generation: u64,
    },
    /// Retransmit the 2xx of an answered incoming call until its ACK (RFC 3261 §13.3.1.4).
    Resend2xx { dev: u64, call: CallRef },
}

/// What a client transaction was for.
pub(super) enum Pending {
    Register(Box<RegJob>),
    Invite {
        dev: u64,
        call: CallRef,
    },
    ReInvite {
        dev: u64,
        call: CallRef,
    },
    Refer {
        dev: u64,
        call: CallRef,
    },
    /// BYE, CANCEL, INFO, NOTIFY, unregistration cleanup: nothing to do with the answer.
    Other,
}

/// The agent's state.
pub(crate) struct Core {
    pub(super) settings: UaSettings,
    pub(super) local: SocketAddr,
    pub(super) outbound: SocketAddr,
    pub(super) via: ViaOf,
    pub(super) txns: Transactions<SocketAddr>,
    pub(super) devices: HashMap<u64, Device>,
    /// Line tokens (`;line=` of our contacts) to their device and line.
    pub(super) tokens: HashMap<String, (u64, LineId)>,
    pub(super) calls: HashMap<(u64, CallRef), Call>,
    /// (Call-ID, our tag) → call.
    pub(super) dialogs: HashMap<(String, String), (u64, CallRef)>,
    /// INVITE server transactions of unanswered incoming calls.
    pub(super) server_invites: HashMap<TransactionKey, (u64, CallRef)>,
    pub(super) pending: HashMap<TransactionKey, Pending>,
    /// Calls a REFER we received asked for: (device, new call) → the call the REFER came on.
    pub(super) transfers: HashMap<(u64, CallRef), CallRef>,
    timers: BTreeMap<(Instant, u64), AppTimer>,
    serial: u64,
    /// Line REGISTER transactions in flight, and lines waiting for a slot.
    pub(super) reg_inflight: usize,
    pub(super) reg_waiting: std::collections::VecDeque<(u64, LineId)>,
    /// Line tokens whose unregistration is in flight: their REGISTER dialog (Call-ID, From tag, last
    /// CSeq), continued by a new attachment of the same line so a late `expires=0` cannot undo it.
    pub(super) retired: HashMap<String, super::register::RegDialog>,
}

impl Core {
    pub(crate) fn new(settings: UaSettings, local: SocketAddr, outbound: SocketAddr) -> Self {
        let via = ViaOf {
            host: settings.advertised.clone(),
            port: local.port(),
        };
        let txns = Transactions::with_config(TxConfig {
            timers: settings.timers,
            auto_trying: true,
            // The line agents' side of every legacy call: thousands live at a few hundred calls/s,
            // so the table is not left to double (and stall the agents) under load.
            initial_capacity: 16_384,
            ..TxConfig::default()
        });
        Self {
            settings,
            local,
            outbound,
            via,
            txns,
            devices: HashMap::new(),
            tokens: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            server_invites: HashMap::new(),
            pending: HashMap::new(),
            transfers: HashMap::new(),
            timers: BTreeMap::new(),
            serial: 0,
            reg_inflight: 0,
            reg_waiting: std::collections::VecDeque::new(),
            retired: HashMap::new(),
        }
    }

    /// Arms an agent timer.
    pub(super) fn arm(&mut self, at: Instant, timer: AppTimer) {
        self.serial = self.serial.wrapping_add(1);
        self.timers.insert((at, self.serial), timer);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let app = self.timers.first_key_value().map(|((at, _), _)| *at);
        match (app, self.txns.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends an event to a device, if it is still attached.
    pub(super) fn emit(&self, dev: u64, event: UaEvent) {
        if let Some(d) = self.devices.get(&dev) {
            let _ = d.events.send(event);
        }
    }

    /// Starts a client transaction to `to`, remembering what it is for.
    pub(super) fn send_request(
        &mut self,
        now: Instant,
        msg: SipMessage,
        to: SocketAddr,
        pending: Pending,
    ) -> Option<TransactionKey> {
        match self
            .txns
            .send_request(now, msg, to, Reliability::Unreliable)
        {
            Ok(key) => {
                self.pending.insert(key.clone(), pending);
                Some(key)
            }
            Err(e) => {
                tracing::warn!(error = %e, "request not sent");
                None
            }
        }
    }

    /// Sends a response through server transaction `key`.
    pub(super) fn respond(&mut self, now: Instant, key: &TransactionKey, resp: SipMessage) {
        if let Err(e) = self.txns.send_response(now, key, resp) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    /// Answers `req` with `code` (a To tag added for final responses outside a dialog).
    pub(super) fn reply(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &SipMessage,
        code: u16,
    ) {
        let mut resp = response_to(req, code, "");
        if code > 100 {
            resp = resp.with_to_tag(&super::dialog::token());
        }
        if code == 405 || code == 200 && req.method() == Some(&Method::OPTIONS) {
            resp.headers.push(HeaderName::ALLOW, super::call::ALLOW);
        }
        self.respond(now, key, resp);
    }

    /// In local mode every request for a line comes through Crossbar's own proxy (the lines' bindings
    /// point at the agent, and the proxy record-routes), so requests from any other host are refused:
    /// nobody reaches a phone around the proxy's policy. In upstream mode the upstream decides.
    fn accepts_requests_from(&self, from: SocketAddr) -> bool {
        match self.settings.registrar {
            super::RegistrarTarget::Local(_) => from.ip() == self.outbound.ip(),
            super::RegistrarTarget::Upstream(_) => true,
        }
    }

    // ---- inputs ----------------------------------------------------------------------------------

    pub(crate) fn handle_request(&mut self, now: Instant, request: Request) {
        match request {
            Request::Attach {
                id,
                device,
                lines,
                calls,
                events,
            } => self.attach(now, id, device, lines, calls, events),
            Request::Command { id, cmd } => self.command(now, id, cmd),
            Request::Detach { id } => self.detach(now, id),
            Request::Codecs { id, codecs } => {
                if let Some(d) = self.devices.get_mut(&id) {
                    d.codecs = codecs;
                }
            }
        }
    }

    pub(crate) fn handle_datagram(&mut self, now: Instant, data: Bytes, from: SocketAddr) {
        if data.iter().all(u8::is_ascii_whitespace) {
            return; // keep-alive
        }
        let msg = match SipMessage::parse(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(peer = %from, error = %e, "unparseable SIP datagram dropped");
                return;
            }
        };
        if msg.is_request()
            && let Err(e) = msg.validate()
        {
            tracing::debug!(peer = %from, error = %e, "malformed request answered");
            if msg.method() != Some(&Method::ACK) && msg.top_via_ref().is_ok() {
                let code = e.status_code();
                self.txns.send_stateless(&response_to(&msg, code, ""), from);
            }
            return;
        }
        if msg.is_request() && !self.accepts_requests_from(from) {
            tracing::debug!(peer = %from, "request from outside Crossbar's SIP server refused");
            if msg.method() != Some(&Method::ACK) {
                self.txns.send_stateless(&response_to(&msg, 403, ""), from);
            }
            return;
        }
        match self
            .txns
            .handle_incoming(now, msg, from, Reliability::Unreliable)
        {
            Ok(incoming) => self.on_incoming(now, incoming),
            Err(rejected) => {
                tracing::debug!(peer = %from, error = %rejected.error, "message refused by the transaction layer");
                if rejected.msg.is_request() && rejected.msg.method() != Some(&Method::ACK) {
                    let resp = response_to(&rejected.msg, 400, "");
                    self.txns.send_stateless(&resp, rejected.from);
                }
            }
        }
    }

    fn on_incoming(&mut self, now: Instant, incoming: Incoming<SocketAddr>) {
        match incoming {
            Incoming::Request { key, msg, from } => self.on_request(now, key, msg, from),
            Incoming::Cancel {
                invite, key, msg, ..
            } => self.on_cancel(now, invite, key, &msg),
            Incoming::Ack { msg, .. } => self.on_ack(now, &msg),
            Incoming::Response { key, msg } => self.on_response(now, key, msg),
            Incoming::StrayResponse { msg, from } => self.on_stray(now, &msg, from),
            _ => {}
        }
    }

    fn on_response(&mut self, now: Instant, key: TransactionKey, msg: SipMessage) {
        let code = msg.code().unwrap_or(500);
        let final_ = code >= 200;
        // INVITE client transactions pass every 2xx up (RFC 6026): keep the purpose until it ends.
        let keep = !final_ || (key.method() == &Method::INVITE && code < 300);
        let pending = if keep {
            self.pending.get(&key).map(Pending::peek)
        } else {
            self.pending.remove(&key)
        };
        match pending {
            Some(Pending::Register(job)) => self.on_register_response(now, *job, &msg),
            Some(Pending::Invite { dev, call }) => self.on_invite_response(now, dev, call, &msg),
            Some(Pending::ReInvite { dev, call }) => {
                self.on_reinvite_response(now, dev, call, &msg)
            }
            Some(Pending::Refer { dev, call }) => {
                if code >= 300 {
                    self.emit(dev, UaEvent::TransferResult { call, code });
                }
            }
            Some(Pending::Other) | None => {}
        }
    }

    fn on_tx_event(&mut self, now: Instant, event: TxEvent) {
        match event {
            TxEvent::Timeout { key, .. } | TxEvent::TransportError { key } => {
                match self.pending.remove(&key) {
                    Some(Pending::Register(job)) => self.on_register_timeout(now, *job),
                    Some(Pending::Invite { dev, call }) => {
                        self.on_invite_failed(now, dev, call, 408, "Request Timeout")
                    }
                    Some(Pending::ReInvite { .. }) | Some(Pending::Other) | None => {}
                    Some(Pending::Refer { dev, call }) => {
                        self.emit(dev, UaEvent::TransferResult { call, code: 408 });
                    }
                }
                if let Some((dev, call)) = self.server_invites.remove(&key) {
                    // Timer H: the ACK for our final response never came; or the transport failed.
                    self.end_call(dev, call, true);
                }
            }
            TxEvent::Terminated { key } => {
                self.pending.remove(&key);
                self.server_invites.remove(&key);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, now: Instant, timer: AppTimer) {
        match timer {
            AppTimer::Register {
                dev,
                line,
                generation,
            } => self.on_register_timer(now, dev, line, generation),
            AppTimer::Resend2xx { dev, call } => self.on_resend_2xx(now, dev, call),
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.txns.handle_timeout(now);
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.on_timer(now, timer);
        }
    }

    /// Drains the transaction layer: transmits out, events in, until both are empty.
    fn drain(&mut self, now: Instant, socket: &UdpSocket) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.txns.poll_transmit() {
                if let Err(e) = socket.try_send_to(&t.msg, t.to) {
                    tracing::debug!(peer = %t.to, error = %e, "SIP datagram not sent");
                }
                progressed = true;
            }
            while let Some(event) = self.txns.poll_event() {
                self.on_tx_event(now, event);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    // ---- devices ---------------------------------------------------------------------------------

    fn attach(
        &mut self,
        now: Instant,
        id: u64,
        name: String,
        lines: Vec<(LineId, crate::call::types::LineIdentity)>,
        calls: CallRefs,
        events: mpsc::UnboundedSender<UaEvent>,
    ) {
        let lines: Vec<Line> = lines
            .into_iter()
            .map(|(lid, identity)| {
                let mut line = Line::new(&name, lid, identity);
                // The same line attached again (a phone reconnecting or re-registering) continues the
                // REGISTER dialog of its previous attachment, whether that one is still attached (its
                // detach not yet processed) or its `expires=0` is in flight: with the same Call-ID and
                // a higher CSeq, the registrar refuses the old `expires=0` if it arrives after the new
                // REGISTER (RFC 3261 §10.3 step 7) instead of removing the new binding.
                let previous = self
                    .tokens
                    .get(&line.token)
                    .and_then(|(dev, l)| self.devices.get(dev)?.lines.iter().find(|x| x.id == *l))
                    .map(Line::reg_dialog)
                    .or_else(|| self.retired.get(&line.token).cloned());
                if let Some(previous) = previous {
                    line.continue_dialog(previous);
                }
                self.tokens.insert(line.token.clone(), (id, lid));
                line
            })
            .collect();
        let ids: Vec<LineId> = lines.iter().map(|l| l.id).collect();
        tracing::debug!(device = %name, lines = ids.len(), "device attached");
        self.devices.insert(
            id,
            Device {
                name,
                lines,
                calls,
                events,
                codecs: Vec::new(),
            },
        );
        for lid in ids {
            self.register_line(now, id, lid);
        }
    }

    fn detach(&mut self, now: Instant, id: u64) {
        let refs: Vec<CallRef> = self
            .calls
            .keys()
            .filter(|(d, _)| *d == id)
            .map(|(_, c)| *c)
            .collect();
        for call in refs {
            self.hangup(now, id, call);
        }
        if let Some(device) = self.devices.remove(&id) {
            tracing::debug!(device = %device.name, "device detached");
            for line in device.lines {
                if self.tokens.get(&line.token).is_some_and(|(d, _)| *d == id) {
                    self.tokens.remove(&line.token);
                    self.unregister(now, line);
                } else {
                    // A newer attachment of the same line took it over: its registration replaces
                    // this one; unregistering now would remove the new binding (same contact).
                    tracing::debug!(line = %line.token, "detached line already re-attached");
                }
            }
        }
    }

    /// Unregisters every line (shutdown).
    fn detach_all(&mut self, now: Instant) {
        let ids: Vec<u64> = self.devices.keys().copied().collect();
        for id in ids {
            self.detach(now, id);
        }
    }

    /// The device and line a request is for: the `line` token of its Request-URI, else a line whose
    /// extension is the Request-URI's user.
    pub(super) fn line_for(&self, req: &SipMessage) -> Option<(u64, LineId)> {
        let uri = req.request_uri()?.as_sip().ok()?;
        if let Some(t) = uri.params.get("line")
            && let Some(found) = self.tokens.get(t)
        {
            return Some(*found);
        }
        let user = uri.user_unescaped()?;
        self.devices.iter().find_map(|(id, d)| {
            d.lines
                .iter()
                .find(|l| l.identity.extension == user)
                .map(|l| (*id, l.id))
        })
    }

    /// Forgets a call: its dialog and transaction mappings. With `ended`, tells the device.
    pub(super) fn end_call(&mut self, dev: u64, call: CallRef, ended: bool) {
        if let Some(c) = self.calls.remove(&(dev, call)) {
            self.dialogs
                .remove(&(c.dialog.call_id.clone(), c.dialog.local_tag.clone()));
            if let Some(k) = &c.server_invite {
                self.server_invites.remove(k);
            }
            self.transfers.remove(&(dev, call));
            if ended {
                self.emit(dev, UaEvent::Ended { call });
            }
        }
    }
}

impl Pending {
    /// A copy of what is needed to handle a provisional or a 2xx to INVITE while keeping the entry.
    fn peek(&self) -> Self {
        match self {
            Self::Register(job) => Self::Register(job.clone()),
            Self::Invite { dev, call } => Self::Invite {
                dev: *dev,
                call: *call,
            },
            Self::ReInvite { dev, call } => Self::ReInvite {
                dev: *dev,
                call: *call,
            },
            Self::Refer { dev, call } => Self::Refer {
                dev: *dev,
                call: *call,
            },
            Self::Other => Self::Other,
        }
    }
}

/// The agent task.
pub(crate) async fn run(
    mut core: Core,
    socket: UdpSocket,
    mut requests: mpsc::UnboundedReceiver<Request>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; 65_535];
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now().into_std();
        core.drain(now, &socket);
        let deadline = core.next_deadline().map(tokio::time::Instant::from_std);
        let deadline = match (deadline, closing) {
            (Some(d), Some(c)) => Some(d.min(c)),
            (d, c) => d.or(c),
        };
        // Closing ends once every unregistration is answered (BYEs and CANCELs are already out).
        if let Some(c) = closing
            && (!core
                .pending
                .values()
                .any(|p| matches!(p, Pending::Register(_)))
                || tokio::time::Instant::now() >= c)
        {
            break;
        }
        tokio::select! {
            () = shutdown.cancelled(), if closing.is_none() => {
                core.detach_all(tokio::time::Instant::now().into_std());
                closing = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
            }
            r = requests.recv(), if closing.is_none() => match r {
                Some(r) => {
                    core.handle_request(tokio::time::Instant::now().into_std(), r);
                    while let Ok(r) = requests.try_recv() {
                        core.handle_request(tokio::time::Instant::now().into_std(), r);
                        core.drain(tokio::time::Instant::now().into_std(), &socket);
                    }
                }
                None => {
                    closing = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                }
            },
            r = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    let now = tokio::time::Instant::now().into_std();
                    core.handle_datagram(now, Bytes::copy_from_slice(buf.get(..n).unwrap_or_default()), from);
                    for _ in 0..BATCH {
                        core.drain(now, &socket);
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, from)) => core.handle_datagram(now, Bytes::copy_from_slice(buf.get(..n).unwrap_or_default()), from),
                            Err(_) => break,
                        }
                    }
                }
            }
            () = sleep_until(deadline) => core.handle_timeout(tokio::time::Instant::now().into_std()),
        }
    }
    tracing::debug!("line user agents stopped");
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
