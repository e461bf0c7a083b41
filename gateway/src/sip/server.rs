//! The SIP core's driver: one task that owns the transaction layer, the location table, the digest
//! challenger, the rate limiter and the proxy's forking contexts, and turns each received message into
//! registrar or proxy work (RFC 3261 §10, §16) with sip-core's sans-IO pieces.
//!
//! Loop: receive one message (or wake for the earliest timer), feed it in, then drain
//! `poll_transmit`/`poll_event` until empty (the drain-until-empty rule of `sip_core::transaction`).
//!
//! Policy, in order, for a new request:
//! 1. flood protection: a source over its rate is dropped, with one log line per burst;
//! 2. REGISTER: the To AOR must be one of our domains (or our own address, taken as the default
//!    domain); digest authentication against the user's HA1 (401, realm = domain); the authenticated user
//!    must be the AOR's; bindings applied, persisted write-behind, and listed in the 200;
//! 3. other requests: §16.3 checks (483, 482, 420, 416), loose routing; in-dialog requests and requests
//!    for other hosts go where their Route or Request-URI says; requests from users of our domains must
//!    authenticate (407); requests for one of our AORs fork in parallel to every live binding (404 for an
//!    unknown user, 480 for one not registered); a caller of one domain never reaches another domain's
//!    users (404); callers from outside our domains (trunks, other servers) may call our users.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use provisioning::store::SetChange;
use sip_core::auth::{Authenticated, Challenger, Challenging};
use sip_core::location::{Aor, AorRef, Binding, Location};
use sip_core::msg::{
    HeaderName, Host, Method, NameAddr, RequestUri, SipMessage, Uri, UriRef, Via, response_to,
    shown, text,
};
use sip_core::proxy::{
    self, Checked, ForkAction, Local, RateConfig, RateLimiter, RateVerdict, ResponseContext,
};
use sip_core::registrar::{self, RegistrarPolicy, RequestSource};
use sip_core::transaction::{
    Config as TransactionConfig, Incoming, KeyHashing, Reliability, TransactionKey, Transactions,
    TxEvent,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::directory::SharedDirectory;
use super::persist::Persister;
use super::transport::{Inbound, Payload, Peer, Transports};
use crate::config::Transport;

/// How often expired bindings are swept from memory and from the store.
const SWEEP: Duration = Duration::from_secs(10);

/// Forks (and their branches) the tables are sized for at start: a proxy at 200 calls a second holds
/// some 13,000 (an INVITE and a BYE a call, each kept 32 s), so the first minutes of load do not pay
/// for the tables doubling.
const FORKS_CAPACITY: usize = 16_384;

/// The most server (and client) transactions kept: a proxied call keeps about four for 64·T1 (32 s)
/// after it ends, so this bounds a 2,000 calls/s load with room to spare; beyond it new requests get 503.
const MAX_TRANSACTIONS: usize = 1 << 20;
/// Datagrams taken from the UDP socket in one wake-up beyond the first.
const UDP_BATCH: usize = 64;
/// Timer deadlines are rounded up to a multiple of this (counted from start-up), so the timers of
/// transactions that end or retransmit within the same few milliseconds fire in one wake-up of the
/// SIP thread, not one each. RFC 3261's timers are 500 ms (T1) and longer; none suffers from firing
/// up to this much late.
const TIMER_GRAIN: Duration = Duration::from_millis(10);
/// Server header value.
const SERVER: &str = concat!("crossbar/", env!("CARGO_PKG_VERSION"));

/// Settings of the SIP core.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The domain a request addressed to our own IP address belongs to.
    pub default_domain: String,
    /// Our sent-by host (advertised address, or the listener's IP).
    pub host: Host,
    /// The port of our first UDP listener (or TCP if none), for Via, Record-Route.
    pub udp_port: Option<u16>,
    /// The port of our first TCP listener.
    pub tcp_port: Option<u16>,
    /// Every host and port that means "us".
    pub local: Local,
    /// Registration policy.
    pub policy: RegistrarPolicy,
    /// Flood protection.
    pub rate: RateConfig,
    /// Whether flood protection is on (`[sip] rate_limit` above 0).
    pub rate_limited: bool,
    /// Timer C (`[sip] invite_timeout_secs`).
    pub timer_c: Duration,
    /// Sources trusted as Crossbar's own line user agents (`crate::ua::Agent::local_addr`): their
    /// requests are neither challenged (401/407) nor rate limited, and a REGISTER from them may bind
    /// any AOR of our domains.
    pub trusted: Vec<SocketAddr>,
}

/// One forked request: the upstream server transaction and its branches.
struct Fork {
    ctx: ResponseContext,
    server: TransactionKey,
    /// Each branch's client transaction and where it was sent.
    branches: Vec<Option<(TransactionKey, Peer)>>,
    /// INVITE only: each branch's Timer C (RFC 3261 §16.6 step 11), `None` once it has a final response.
    timer_c: Vec<Option<TimerC>>,
}

/// A next hop named by a host name, resolved off the SIP core's loop: the request waits in
/// [`Resolved::msg`] until its address is known.
#[derive(Debug)]
struct Resolved {
    /// The server transaction it belongs to.
    server: TransactionKey,
    /// The request, ready to send (our Via on top).
    msg: SipMessage,
    transport: Transport,
    /// The host name looked up, for the log.
    host: String,
    /// The addresses found, in the resolver's order.
    addrs: std::io::Result<Vec<SocketAddr>>,
}

/// How long a next-hop host name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A branch's Timer C: when it fires, and whether the branch has had a provisional response (then it is
/// cancelled) or was already cancelled by it (then it counts as timed out).
#[derive(Debug, Clone, Copy)]
struct TimerC {
    at: std::time::Instant,
    phase: TimerCPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerCPhase {
    /// No provisional response yet.
    Waiting,
    /// A provisional response came: firing sends CANCEL.
    Provisional,
    /// CANCEL sent on firing: firing again counts the branch as a 408.
    Cancelled,
}

/// After Timer C cancelled a branch, how long its 487 may take before the branch counts as a 408 (64·T1).
const TIMER_C_CANCEL_WAIT: Duration = Duration::from_secs(32);

/// The SIP core.
pub struct SipServer {
    settings: Settings,
    txns: Transactions<Peer>,
    transports: Transports,
    challenger: Challenger,
    location: Location,
    directory: SharedDirectory,
    persister: Persister,
    rate: RateLimiter,
    started: std::time::Instant,
    /// Forks by the server transaction of their request.
    /// Boxed, as the transactions are: a fork lives as long as its server transaction (32 s after the
    /// final response over UDP), so at a few hundred calls a second there are thousands, and an inline
    /// table's growth moved and zeroed megabytes on this thread in one go.
    forks: HashMap<TransactionKey, Box<Fork>, KeyHashing>,
    /// Client transactions of forks: (server transaction, branch index).
    branches: HashMap<TransactionKey, (TransactionKey, usize), KeyHashing>,
    /// The forks that armed a Timer C, by server transaction; an entry goes at the first once-a-second
    /// look that finds none armed. Looking through every fork instead touched each of the tens of
    /// thousands kept for 32 s, every second.
    timed: HashSet<TransactionKey, KeyHashing>,
    /// Next hops whose host name is being resolved report here.
    resolved_tx: mpsc::UnboundedSender<Resolved>,
    resolved_rx: Option<mpsc::UnboundedReceiver<Resolved>>,
    /// Where received REGISTER datagrams are copied (see `on_datagram`).
    register_buf: BytesMut,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn reliability(peer: &Peer) -> Reliability {
    match peer.transport {
        Transport::Udp => Reliability::Unreliable,
        Transport::Tcp => Reliability::Reliable,
    }
}

fn transport_token(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    }
}

impl SipServer {
    /// A SIP core with these parts.
    pub fn new(
        settings: Settings,
        transports: Transports,
        location: Location,
        directory: SharedDirectory,
        persister: Persister,
    ) -> Self {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        Self {
            rate: RateLimiter::new(settings.rate),
            settings,
            txns: Transactions::with_config(TransactionConfig {
                max_server: MAX_TRANSACTIONS,
                max_client: MAX_TRANSACTIONS,
                // About 30,000 live at 200 calls/s (each kept 32 s after its final response).
                initial_capacity: 2 * FORKS_CAPACITY,
                ..TransactionConfig::default()
            }),
            transports,
            // MD5 first: older phones and sipp answer only the first challenge and know only MD5.
            challenger: Challenger::new(secret, 300).md5_first(true),
            location,
            directory,
            persister,
            started: std::time::Instant::now(),
            forks: HashMap::with_capacity_and_hasher(FORKS_CAPACITY, KeyHashing::default()),
            branches: HashMap::with_capacity_and_hasher(FORKS_CAPACITY, KeyHashing::default()),
            timed: HashSet::default(),
            resolved_tx,
            resolved_rx: Some(resolved_rx),
            register_buf: BytesMut::new(),
        }
    }

    /// Runs until `shutdown`, taking messages from `inbound`.
    ///
    /// `udp` is a socket the core reads itself (the first `[sip] listen` UDP socket): a datagram then
    /// costs no channel hop and no task wake-up, and every datagram already queued is taken in one go.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        udp: Option<Arc<UdpSocket>>,
        shutdown: CancellationToken,
    ) {
        let mut sweep = tokio::time::interval(SWEEP);
        let mut timer_c_tick = tokio::time::interval(Duration::from_secs(1));
        let mut resolved = self
            .resolved_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        let local = udp.as_ref().and_then(|s| s.local_addr().ok());
        let mut buf = vec![0u8; 65_535];
        // Made once, not per turn of the loop: a fresh `cancelled()` registers a waiter and a fresh
        // sleep a timer entry, and at a few thousand wake-ups a second both showed.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<tokio::time::Instant> = None;
        loop {
            let deadline = match (self.txns.poll_timeout(), self.persister.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
            .map(|d| tokio::time::Instant::from_std(coarse(d, self.started)));
            if deadline != armed {
                if let Some(d) = deadline {
                    timer.as_mut().reset(d);
                }
                armed = deadline;
            }
            // Timer C is minutes long: its deadline is checked once a second, not polled per message.
            tokio::select! {
                () = &mut cancelled => break,
                m = inbound.recv() => match m {
                    Some(m) => self.on_inbound(m),
                    None => break,
                },
                r = recv_opt(udp.as_deref(), &mut buf) => {
                    if let (Ok((n, addr)), Some(local)) = (r, local) {
                        self.on_datagram(&buf, n, addr, local);
                        // Whatever else is already queued, up to a bound so timers still run.
                        for _ in 0..UDP_BATCH {
                            let Some(socket) = udp.as_deref() else { break };
                            match socket.try_recv_from(&mut buf) {
                                Ok((n, addr)) => self.on_datagram(&buf, n, addr, local),
                                Err(_) => break,
                            }
                        }
                    }
                },
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    let now = std::time::Instant::now();
                    if self.txns.poll_timeout().is_some_and(|t| t <= now) {
                        self.txns.handle_timeout(now);
                    }
                },
                _ = sweep.tick() => self.sweep(),
                Some(r) = resolved.recv() => self.on_resolved(r),
                _ = timer_c_tick.tick() => {
                    let now = std::time::Instant::now();
                    if self.next_timer_c().is_some_and(|t| t <= now) {
                        self.fire_timer_c(now);
                    }
                },
            }
            self.drain();
            self.persister.flush_due(std::time::Instant::now());
        }
        self.persister.flush();
        tracing::info!(
            aors = self.location.aor_count(),
            bindings = self.location.binding_count(),
            "SIP core stopped"
        );
    }

    fn on_datagram(&mut self, buf: &[u8], n: usize, addr: SocketAddr, local: SocketAddr) {
        let data = buf.get(..n).unwrap_or_default();
        if super::transport::is_keepalive(data) {
            return;
        }
        let peer = Peer {
            transport: Transport::Udp,
            addr,
            local,
        };
        // A REGISTER is answered statelessly and nothing keeps its bytes once it is answered: it is
        // copied into one reused buffer, so receiving it allocates nothing. Any other message may be
        // kept by a transaction for 32 s and gets its own allocation; sharing a buffer with it would
        // keep the whole buffer alive.
        let datagram = if data.starts_with(b"REGISTER ") {
            self.register_buf.reserve(data.len());
            self.register_buf.extend_from_slice(data);
            self.register_buf.split().freeze()
        } else {
            Bytes::copy_from_slice(data)
        };
        self.on_inbound(Inbound {
            peer,
            payload: Payload::Datagram(datagram),
        });
        // Keep the transaction layer's queues short inside a batch.
        self.drain();
    }

    /// Fires every Timer C that is due: a branch with a provisional response is cancelled; one without
    /// (or already cancelled by Timer C and still unanswered) counts as a 408 (RFC 3261 §16.8).
    fn fire_timer_c(&mut self, now: std::time::Instant) {
        let mut due = Vec::new();
        for server in &self.timed {
            let Some(fork) = self.forks.get(server) else {
                continue;
            };
            for (index, slot) in fork.timer_c.iter().enumerate() {
                if let Some(t) = slot
                    && t.at <= now
                {
                    due.push((server.clone(), index, t.phase));
                }
            }
        }
        for (server, index, phase) in due {
            let Some(fork) = self.forks.get_mut(&server) else {
                continue;
            };
            let branch = fork.branches.get(index).cloned().flatten();
            let Some(slot) = fork.timer_c.get_mut(index) else {
                continue;
            };
            if phase == TimerCPhase::Provisional {
                *slot = Some(TimerC {
                    at: now + TIMER_C_CANCEL_WAIT,
                    phase: TimerCPhase::Cancelled,
                });
                tracing::debug!(
                    branch = index,
                    "Timer C: no final response in time, branch cancelled"
                );
                if let Some((client, peer)) = branch
                    && let Ok(cancel) = self.txns.build_cancel(&client)
                {
                    let _ = self
                        .txns
                        .send_request(now, cancel, peer, reliability(&peer));
                }
            } else {
                *slot = None;
                fork.ctx.handle_timeout(index);
                self.run_fork(now, &server);
            }
        }
    }

    /// The earliest Timer C of any fork; forks with none armed any more leave [`SipServer::timed`].
    fn next_timer_c(&mut self) -> Option<std::time::Instant> {
        let forks = &self.forks;
        let mut next = None;
        self.timed.retain(|server| {
            let earliest = forks
                .get(server)
                .and_then(|f| f.timer_c.iter().flatten().map(|t| t.at).min());
            next = next.into_iter().chain(earliest).min();
            earliest.is_some()
        });
        next
    }

    fn sweep(&mut self) {
        let now = unix_now();
        let expired = self.location.sweep(now);
        let mut aors: Vec<Aor> = expired.into_iter().map(|(aor, _)| aor).collect();
        aors.dedup();
        for aor in aors {
            let left = self.location.shared(&aor);
            self.persister.save(&aor, left, SetChange::Pruned);
        }
    }

    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.txns.poll_transmit() {
                self.transports.send(t.to, t.msg);
                progressed = true;
            }
            while let Some(event) = self.txns.poll_event() {
                self.on_tx_event(event);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        let Inbound { peer, payload } = inbound;
        let msg = match payload {
            Payload::Datagram(data) => match SipMessage::parse(data) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(peer = %peer.addr, error = %e, "unparseable SIP datagram dropped");
                    return;
                }
            },
            Payload::Message(m) => *m,
        };
        let now = std::time::Instant::now();
        let trusted = self.is_trusted(&peer);
        if msg.is_request() && self.settings.rate_limited && !trusted {
            let ms =
                u64::try_from(now.duration_since(self.started).as_millis()).unwrap_or(u64::MAX);
            if let RateVerdict::Deny { first_in_burst } = self.rate.check(peer.addr.ip(), ms) {
                if first_in_burst {
                    tracing::warn!(peer = %peer.addr, "request flood: dropping this source's requests for now");
                }
                return;
            }
        }
        let mut msg = msg;
        if msg.is_request() {
            // A REGISTER's AOR comes from the To value the checks have just parsed.
            let aor = match msg.validated() {
                Ok(checked) => (msg.method() == Some(&Method::REGISTER))
                    .then(|| self.register_aor(&checked.to.uri)),
                Err(e) => {
                    let code = e.status_code();
                    tracing::debug!(peer = %peer.addr, error = %e, code, "malformed request answered");
                    if msg.method() != Some(&Method::ACK) && msg.top_via_ref().is_ok() {
                        let resp = response_to(&msg, code, sip_core::msg::reason_phrase(code));
                        self.txns.send_stateless(&resp, peer);
                    }
                    return;
                }
            };
            stamp_received(&mut msg, &peer);
            if let Some(aor) = aor {
                let mut resp = self.register(&msg, aor, &peer);
                resp.headers.push(HeaderName::SERVER, SERVER);
                self.txns.send_stateless(&resp, peer);
                return;
            }
        }
        match self
            .txns
            .handle_incoming(now, msg, peer, reliability(&peer))
        {
            Ok(incoming) => self.on_incoming(now, incoming),
            Err(rejected) => {
                let code = match rejected.error {
                    sip_core::transaction::TransactionError::Full { .. } => 503,
                    _ => 400,
                };
                if rejected.msg.is_request() && rejected.msg.method() != Some(&Method::ACK) {
                    let resp = response_to(&rejected.msg, code, sip_core::msg::reason_phrase(code));
                    self.txns.send_stateless(&resp, rejected.from);
                }
            }
        }
    }

    fn on_incoming(&mut self, now: std::time::Instant, incoming: Incoming<Peer>) {
        match incoming {
            // REGISTER never gets here: it is answered before the transaction layer.
            Incoming::Request { key, msg, from } => {
                let trusted = self.is_trusted(&from);
                self.proxy(now, &key, msg, trusted);
            }
            Incoming::Cancel {
                invite,
                key,
                msg,
                from: _,
            } => {
                let code = if invite.is_some() { 200 } else { 481 };
                self.respond(now, &key, &msg, code);
                if let Some(invite) = invite
                    && let Some(fork) = self.forks.get_mut(&invite)
                {
                    fork.ctx.handle_cancel();
                    self.run_fork(now, &invite);
                }
            }
            Incoming::Ack { msg, from } => self.forward_ack(msg, from),
            Incoming::Response { key, msg } => {
                if let Some((server, branch)) = self.branches.get(&key).cloned()
                    && let Some(fork) = self.forks.get_mut(&server)
                {
                    if let Some(slot) = fork.timer_c.get_mut(branch) {
                        let provisional = msg.code().is_some_and(|c| c < 200);
                        *slot = match (*slot, provisional) {
                            (Some(t), true) if t.phase != TimerCPhase::Cancelled => Some(TimerC {
                                at: now + self.settings.timer_c,
                                phase: TimerCPhase::Provisional,
                            }),
                            (t, true) => t,
                            (_, false) => None,
                        };
                    }
                    fork.ctx.handle_response(branch, msg);
                    self.run_fork(now, &server);
                }
            }
            Incoming::StrayResponse { msg, from: _ } => self.forward_stray(msg),
            _ => {}
        }
    }

    fn on_tx_event(&mut self, event: TxEvent) {
        let now = std::time::Instant::now();
        match event {
            TxEvent::Timeout { key, .. } | TxEvent::TransportError { key } => {
                if let Some((server, branch)) = self.branches.get(&key).cloned()
                    && let Some(fork) = self.forks.get_mut(&server)
                {
                    fork.ctx.handle_timeout(branch);
                    self.run_fork(now, &server);
                }
            }
            TxEvent::Terminated { key } => {
                self.branches.remove(&key);
                if let Some(fork) = self.forks.remove(&key) {
                    for (client, _) in fork.branches.into_iter().flatten() {
                        self.branches.remove(&client);
                    }
                }
            }
            _ => {}
        }
    }

    /// Sends a response with `code` to the request of server transaction `key`.
    fn respond(
        &mut self,
        now: std::time::Instant,
        key: &TransactionKey,
        req: &SipMessage,
        code: u16,
    ) {
        let mut resp = response_to(req, code, sip_core::msg::reason_phrase(code));
        // Requests reach here validated: the To tag is read where it lies, without a parse.
        if code > 100 && req.raw_tag(&HeaderName::TO).is_none() {
            resp = resp.with_to_tag(&proxy::local_tag(req));
        }
        self.send_response(now, key, resp);
    }

    fn send_response(
        &mut self,
        now: std::time::Instant,
        key: &TransactionKey,
        mut resp: SipMessage,
    ) {
        if !resp.headers.contains(&HeaderName::SERVER) {
            resp.headers.push(HeaderName::SERVER, SERVER);
        }
        if let Err(e) = self.txns.send_response(now, key, resp) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    /// Whether `peer` is one of Crossbar's own line user agents (UDP, exact source address).
    fn is_trusted(&self, peer: &Peer) -> bool {
        peer.transport == Transport::Udp && self.settings.trusted.contains(&peer.addr)
    }

    // ---- registrar -------------------------------------------------------------------------------

    /// The AOR a REGISTER is for: its To URI, with our own address meaning the default domain.
    fn register_aor(&self, uri: &UriRef<'_>) -> Result<Aor, registrar::RegisterError> {
        let directory = self.directory.read().ok();
        let is_ours = |d: &str| directory.as_ref().is_some_and(|dir| dir.is_our_domain(d));
        if self.settings.local.names_us_ref(uri) {
            let user = uri
                .user_unescaped()
                .map(|u| u.into_owned())
                .unwrap_or_default();
            return Ok(Aor::new(user, &self.settings.default_domain));
        }
        registrar::aor_of_uri_ref(uri, is_ours)
    }

    fn is_our_address(&self, uri: &Uri) -> bool {
        self.settings.local.names_us(uri)
    }

    /// Answers a REGISTER. The registrar keeps no transaction (as Kamailio's does): a retransmitted
    /// REGISTER is answered again (a new challenge, or the same bindings: `process_register` recognises
    /// the Call-ID and CSeq that made them), so a registration storm does not fill the transaction table
    /// for 64·T1.
    fn register(
        &mut self,
        req: &SipMessage,
        aor: Result<Aor, registrar::RegisterError>,
        from: &Peer,
    ) -> SipMessage {
        let now_unix = unix_now();
        let aor = match aor {
            Ok(aor) => aor,
            Err(e) => return e.response(req),
        };
        let who = if self.is_trusted(from) {
            Authenticated {
                username: aor.user.clone(),
                realm: aor.domain.clone(),
                algorithm: sip_core::auth::Algorithm::Md5,
            }
        } else {
            match self.authenticate(req, Challenging::Registrar, &aor.domain, now_unix) {
                Ok(who) => who,
                Err(resp) => return *resp,
            }
        };
        if let Err(e) = registrar::authorize(&aor, &who) {
            return e.response(req);
        }
        let mut received = String::with_capacity(47);
        text::push_socket_addr(&mut received, from.addr);
        let source = RequestSource {
            transport: transport_token(from.transport),
            received: &received,
            owner: "",
        };
        let current = self.location.bindings(&aor);
        match registrar::process_register(req, current, now_unix, &source, &self.settings.policy) {
            Ok(outcome) => {
                let resp = outcome.response(req, now_unix);
                if outcome.changed {
                    tracing::debug!(%aor, bindings = outcome.bindings.len(), "registered");
                    let change = if outcome.removed {
                        SetChange::Pruned
                    } else if outcome.refreshed {
                        SetChange::Refreshed
                    } else {
                        SetChange::Upserted
                    };
                    let set = self.location.replace_shared(&aor, outcome.bindings);
                    self.persister.save(&aor, set, change);
                }
                resp
            }
            Err(e) => e.response(req),
        }
    }

    /// Digest authentication against the directory: the authenticated user, or the response to send
    /// (a challenge when credentials are missing or stale, 403 when they are wrong).
    fn authenticate(
        &mut self,
        req: &SipMessage,
        kind: Challenging,
        realm: &str,
        now_unix: u64,
    ) -> Result<Authenticated, Box<SipMessage>> {
        use sip_core::auth::AuthError;
        let directory = self.directory.read().ok();
        let lookup = |user: &str| {
            directory
                .as_ref()
                .map(|d| {
                    d.ha1s(AorRef {
                        user,
                        domain: realm,
                    })
                })
                .unwrap_or_default()
        };
        // Credentials whose digest uri names us are accepted too (sipp puts our address there).
        let local = &self.settings.local;
        let names_us = |uri: &str| Uri::parse(uri).is_ok_and(|u| local.is_local_uri(&u));
        let verdict = self
            .challenger
            .verify_request_with_any(req, kind, realm, now_unix, names_us, lookup);
        match verdict {
            Ok(who) => Ok(who),
            Err(
                e @ (AuthError::UnknownUser { .. }
                | AuthError::WrongResponse { .. }
                | AuthError::Replay { .. }),
            ) => {
                tracing::info!(realm, error = %e, "authentication failed");
                let resp = response_to(req, 403, "Forbidden").with_to_tag(&proxy::local_tag(req));
                Err(Box::new(resp))
            }
            Err(e) => {
                tracing::debug!(realm, error = %e, "challenging");
                let stale = e.is_stale();
                Err(Box::new(
                    self.challenger
                        .challenge_response(req, kind, realm, now_unix, stale),
                ))
            }
        }
    }

    // ---- proxy -----------------------------------------------------------------------------------

    fn proxy(
        &mut self,
        now: std::time::Instant,
        key: &TransactionKey,
        mut req: SipMessage,
        trusted: bool,
    ) {
        let is_invite = req.method() == Some(&Method::INVITE);
        if is_invite {
            self.respond(now, key, &req, 100);
        }
        // Validated on arrival (on_inbound).
        match proxy::check_validated_request(&req, &self.settings.local) {
            Ok(Checked::Forward) => {}
            Ok(Checked::AnswerLocally) => return self.answer_options(now, key, &req),
            Err(reject) => return self.send_response(now, key, reject.response(&req)),
        }
        let decision = match proxy::loose_route(&mut req, &self.settings.local) {
            Ok(d) => d,
            Err(reject) => return self.send_response(now, key, reject.response(&req)),
        };
        let ruri = match req.request_uri() {
            Some(RequestUri::Parsed(u)) => u.clone(),
            _ => return self.respond(now, key, &req, 416),
        };
        let in_dialog = req.raw_tag(&HeaderName::TO).is_some();
        // Routed or in-dialog requests for another host go where they say.
        if decision.next_route.is_some() || (in_dialog && !self.is_local_target(&ruri)) {
            return self.forward_stateful(now, key, &req);
        }
        if req.method() == Some(&Method::OPTIONS)
            && ruri.user.is_none()
            && self.is_our_address(&ruri)
        {
            return self.answer_options(now, key, &req);
        }
        let caller_domain = self.caller_domain(&req);
        if let Some(domain) = caller_domain.clone()
            && !in_dialog
            && !trusted
        {
            match self.authenticate(&req, Challenging::Proxy, &domain, unix_now()) {
                Ok(who) => {
                    let caller = req
                        .from()
                        .ok()
                        .and_then(|f| f.uri.user_unescaped().map(|u| u.into_owned()));
                    if caller.as_deref() != Some(who.username.as_str()) {
                        tracing::info!(user = %who.username, "caller identity does not match the credentials");
                        return self.respond(now, key, &req, 403);
                    }
                    sip_core::auth::remove_credentials(&mut req, Challenging::Proxy, &domain);
                }
                Err(resp) => return self.send_response(now, key, *resp),
            }
        }
        let target = {
            let directory = self.directory.read().ok();
            let is_ours = |d: &str| directory.as_ref().is_some_and(|dir| dir.is_our_domain(d));
            let caller = caller_domain.as_deref().or_else(|| {
                self.is_our_address(&ruri)
                    .then_some(self.settings.default_domain.as_str())
            });
            proxy::target_aor(&ruri, caller, &self.settings.local, is_ours)
        };
        match target {
            Ok(Some(aor)) => self.fork_to_aor(now, key, &req, &aor),
            Ok(None) if caller_domain.is_some() || in_dialog => {
                self.forward_stateful(now, key, &req)
            }
            // No open relay: an outside caller reaches only our users.
            Ok(None) => self.respond(now, key, &req, 403),
            Err(reject) => self.send_response(now, key, reject.response(&req)),
        }
    }

    fn is_local_target(&self, uri: &Uri) -> bool {
        if self.is_our_address(uri) {
            return true;
        }
        let host = uri.host.to_lowercase();
        self.directory.read().is_ok_and(|d| d.is_our_domain(&host))
    }

    /// The caller's domain if the From URI is in one of our domains (then the caller must authenticate).
    fn caller_domain(&self, req: &SipMessage) -> Option<String> {
        let host = req.from_ref().ok()?.uri.host.to_lowercase();
        let directory = self.directory.read().ok()?;
        directory.is_our_domain(&host).then_some(host)
    }

    fn answer_options(&mut self, now: std::time::Instant, key: &TransactionKey, req: &SipMessage) {
        let mut resp = response_to(req, 200, "OK").with_to_tag(&proxy::local_tag(req));
        resp.headers.push(
            HeaderName::new("Allow"),
            "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, REFER, NOTIFY, SUBSCRIBE, MESSAGE, UPDATE, PRACK",
        );
        resp.headers
            .push(HeaderName::new("Accept"), "application/sdp");
        self.send_response(now, key, resp);
    }

    fn our_via(&self, transport: Transport, branch: &str) -> Via {
        let port = match transport {
            Transport::Udp => self.settings.udp_port,
            Transport::Tcp => self.settings.tcp_port,
        };
        Via::new(
            transport_token(transport),
            self.settings.host.clone(),
            port,
            branch,
        )
    }

    fn record_route(&self, transport: Transport) -> NameAddr {
        let mut uri = Uri::sip(self.settings.host.clone());
        uri.port = match transport {
            Transport::Udp => self.settings.udp_port,
            Transport::Tcp => self.settings.tcp_port,
        };
        if transport == Transport::Tcp {
            uri.params.set("transport", Some("tcp"));
        }
        uri.params.set("lr", None);
        NameAddr::new(uri)
    }

    fn fork_to_aor(
        &mut self,
        now: std::time::Instant,
        key: &TransactionKey,
        req: &SipMessage,
        aor: &Aor,
    ) {
        let bindings: Vec<Binding> = self
            .location
            .lookup(aor, unix_now())
            .into_iter()
            .cloned()
            .collect();
        if bindings.is_empty() {
            let known = self.directory.read().is_ok_and(|d| d.has_user(aor));
            let code = if known { 480 } else { 404 };
            return self.respond(now, key, req, code);
        }
        let dialog_creating =
            matches!(req.method(), Some(m) if *m == Method::INVITE || *m == Method::SUBSCRIBE);
        let mut fork = Box::new(Fork {
            ctx: ResponseContext::new(req),
            server: key.clone(),
            branches: Vec::new(),
            timer_c: Vec::new(),
        });
        for binding in &bindings {
            let Some(index) = fork.ctx.add_branch() else {
                break;
            };
            let transport = binding_transport(binding);
            let branch = proxy::branch_for(req, index);
            let via = self.our_via(transport, &branch);
            let rr = dialog_creating.then(|| self.record_route(transport));
            let sent = proxy::forward_to_binding(req, binding, &via, rr.as_ref())
                .ok()
                .and_then(|fwd| {
                    let peer = self.binding_peer(binding, &fwd.next_hop, transport)?;
                    let client = self
                        .txns
                        .send_request(now, fwd.msg, peer, reliability(&peer))
                        .ok()?;
                    Some((client, peer))
                });
            self.record_branch(&mut fork, index, sent);
        }
        self.forks.insert(key.clone(), fork);
        self.run_fork(now, key);
    }

    /// Notes a branch's client transaction, or counts a branch that could not be sent as timed out
    /// (408 in the best-response choice).
    fn record_branch(
        &mut self,
        fork: &mut Fork,
        index: usize,
        sent: Option<(TransactionKey, Peer)>,
    ) {
        let invite = *fork.server.method() == Method::INVITE;
        match &sent {
            Some((client, _)) => {
                self.branches
                    .insert(client.clone(), (fork.server.clone(), index));
            }
            None => fork.ctx.handle_timeout(index),
        }
        let armed = invite && sent.is_some();
        fork.timer_c.push(armed.then(|| TimerC {
            at: std::time::Instant::now() + self.settings.timer_c,
            phase: TimerCPhase::Waiting,
        }));
        if armed {
            self.timed.insert(fork.server.clone());
        }
        fork.branches.push(sent);
    }

    /// Where a request to `binding` goes: the address the REGISTER came from when the device is behind
    /// NAT (its Contact names another IP) or on TCP (connection reuse), else the Contact's own address.
    fn binding_peer(
        &self,
        binding: &Binding,
        next_hop: &Uri,
        transport: Transport,
    ) -> Option<Peer> {
        let received: Option<SocketAddr> = binding.received.parse().ok();
        let contact = uri_socket(next_hop);
        let addr = match (received, contact) {
            (Some(r), _) if transport == Transport::Tcp && binding.path.is_empty() => r,
            (Some(r), Some(c)) if binding.path.is_empty() && r.ip() != c.ip() => r,
            (_, Some(c)) => c,
            (Some(r), None) => r,
            (None, None) => return None,
        };
        Some(self.peer_for(transport, addr))
    }

    fn peer_for(&self, transport: Transport, addr: SocketAddr) -> Peer {
        let port = match transport {
            Transport::Udp => self.settings.udp_port,
            Transport::Tcp => self.settings.tcp_port,
        };
        let ip = self
            .settings
            .host
            .ip()
            .unwrap_or_else(|| IpAddr::from([127, 0, 0, 1]));
        Peer {
            transport,
            addr,
            local: SocketAddr::new(ip, port.unwrap_or(5060)),
        }
    }

    /// Forwards a request statefully to its top Route or Request-URI (one branch).
    fn forward_stateful(
        &mut self,
        now: std::time::Instant,
        key: &TransactionKey,
        req: &SipMessage,
    ) {
        let mut fork = Box::new(Fork {
            ctx: ResponseContext::new(req),
            server: key.clone(),
            branches: Vec::new(),
            timer_c: Vec::new(),
        });
        let Some(index) = fork.ctx.add_branch() else {
            return;
        };
        let branch = proxy::branch_for(req, index);
        let probe = self.our_via(Transport::Udp, &branch);
        let Ok(fwd) = proxy::prepare_forward(req, None, &[], &probe, None) else {
            self.record_branch(&mut fork, index, None);
            self.forks.insert(key.clone(), fork);
            return self.run_fork(now, key);
        };
        let transport = uri_transport(&fwd.next_hop);
        let mut msg = fwd.msg;
        if transport != Transport::Udp {
            // Our Via names the transport actually used.
            msg.headers.remove_first(&HeaderName::VIA);
            msg.headers
                .push_front(HeaderName::VIA, shown(&self.our_via(transport, &branch)));
        }
        let sent = match uri_socket(&fwd.next_hop) {
            Some(addr) => self.send_branch(now, msg, transport, addr),
            None => match next_hop_name(&fwd.next_hop) {
                Some((host, port)) => {
                    // The branch is sent once the name resolves (on_resolved).
                    self.forks.insert(key.clone(), fork);
                    self.resolve(key.clone(), msg, transport, host, port);
                    return;
                }
                None => None,
            },
        };
        self.record_branch(&mut fork, index, sent);
        self.forks.insert(key.clone(), fork);
        self.run_fork(now, key);
    }

    fn send_branch(
        &mut self,
        now: std::time::Instant,
        msg: SipMessage,
        transport: Transport,
        addr: SocketAddr,
    ) -> Option<(TransactionKey, Peer)> {
        let peer = self.peer_for(transport, addr);
        let client = self
            .txns
            .send_request(now, msg, peer, reliability(&peer))
            .ok()?;
        Some((client, peer))
    }

    /// Looks `host` up (A/AAAA through the system resolver, which also reads /etc/hosts) off the loop;
    /// the answer comes back to [`SipServer::on_resolved`].
    fn resolve(
        &self,
        server: TransactionKey,
        msg: SipMessage,
        transport: Transport,
        host: String,
        port: u16,
    ) {
        let tx = self.resolved_tx.clone();
        tokio::spawn(async move {
            let lookup = tokio::net::lookup_host((host.as_str(), port));
            let addrs = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(found)) => Ok(found.collect::<Vec<_>>()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer in time",
                )),
            };
            let _ = tx.send(Resolved {
                server,
                msg,
                transport,
                host,
                addrs,
            });
        });
    }

    /// A next hop's name has resolved (or not): the waiting branch is sent to the first address, IPv4
    /// preferred since our listeners are usually IPv4, or counted as failed (the caller gets 408 or a
    /// better response of another branch).
    fn on_resolved(&mut self, resolved: Resolved) {
        let now = std::time::Instant::now();
        let Resolved {
            server,
            msg,
            transport,
            host,
            addrs,
        } = resolved;
        if !self.forks.contains_key(&server) {
            return;
        }
        let addr = match &addrs {
            Ok(found) => found
                .iter()
                .find(|a| a.is_ipv4())
                .or_else(|| found.first())
                .copied(),
            Err(_) => None,
        };
        let Some(addr) = addr else {
            match &addrs {
                Err(e) => tracing::info!(host = %host, error = %e, "next hop does not resolve"),
                Ok(_) => tracing::info!(host = %host, "next hop resolves to no address"),
            }
            // The branch ends as if the next hop had answered 478 (RFC 3261 §21.4.20), which
            // tells the caller what went wrong better than a 408 would.
            if let Some(fork) = self.forks.get_mut(&server) {
                let index = fork.branches.len();
                fork.branches.push(None);
                fork.timer_c.push(None);
                fork.ctx
                    .handle_response(index, response_to(&msg, 478, "Unresolvable destination"));
            }
            return self.run_fork(now, &server);
        };
        let sent = self.send_branch(now, msg, transport, addr);
        let Some(mut fork) = self.forks.remove(&server) else {
            return;
        };
        let index = fork.branches.len();
        self.record_branch(&mut fork, index, sent);
        self.forks.insert(server.clone(), fork);
        self.run_fork(now, &server);
    }

    fn run_fork(&mut self, now: std::time::Instant, server: &TransactionKey) {
        loop {
            let Some(fork) = self.forks.get_mut(server) else {
                return;
            };
            let Some(action) = fork.ctx.poll_action() else {
                break;
            };
            match action {
                ForkAction::Forward(resp) => {
                    let key = fork.server.clone();
                    self.send_response(now, &key, *resp);
                }
                ForkAction::Cancel(branch) => {
                    let Some(Some((client, peer))) = fork.branches.get(branch).cloned() else {
                        continue;
                    };
                    if let Ok(cancel) = self.txns.build_cancel(&client) {
                        let _ = self
                            .txns
                            .send_request(now, cancel, peer, reliability(&peer));
                    }
                }
            }
        }
    }

    /// An ACK for a 2xx: end to end, forwarded statelessly by its Route or Request-URI (§16.11 style).
    fn forward_ack(&mut self, mut ack: SipMessage, _from: Peer) {
        if proxy::loose_route(&mut ack, &self.settings.local).is_err() {
            return;
        }
        let Some(RequestUri::Parsed(ruri)) = ack.request_uri().cloned() else {
            return;
        };
        let branch = proxy::branch_for(&ack, 0);
        // A Route-less ACK to our own address (some UAs ignore Record-Route): the callee's binding.
        if ack.routes().is_ok_and(|r| r.is_empty()) && self.is_local_target(&ruri) {
            let aor = self.register_aor_for_uri(&ruri);
            let binding = aor.and_then(|a| {
                self.location
                    .lookup(&a, unix_now())
                    .into_iter()
                    .next()
                    .cloned()
            });
            if let Some(b) = binding {
                let transport = binding_transport(&b);
                let via = self.our_via(transport, &branch);
                if let Ok(fwd) = proxy::forward_to_binding(&ack, &b, &via, None)
                    && let Some(peer) = self.binding_peer(&b, &fwd.next_hop, transport)
                {
                    self.txns.send_stateless(&fwd.msg, peer);
                }
            }
            return;
        }
        let via = self.our_via(Transport::Udp, &branch);
        if let Ok(fwd) = proxy::prepare_forward(&ack, None, &[], &via, None) {
            let transport = uri_transport(&fwd.next_hop);
            if let Some(addr) = uri_socket(&fwd.next_hop) {
                let peer = self.peer_for(transport, addr);
                self.txns.send_stateless(&fwd.msg, peer);
            }
        }
    }

    fn register_aor_for_uri(&self, uri: &Uri) -> Option<Aor> {
        let user = uri.user_unescaped()?.into_owned();
        if self.is_our_address(uri) {
            return Some(Aor::new(user, &self.settings.default_domain));
        }
        Some(Aor::new(user, &uri.host.to_string()))
    }

    /// A response that matches no transaction (a retransmitted 2xx to an INVITE whose transaction has
    /// ended): forwarded statelessly to the next Via (RFC 6026 §8.4). Anything else is dropped.
    fn forward_stray(&mut self, mut resp: SipMessage) {
        let is_invite_2xx = resp.code().is_some_and(|c| (200..300).contains(&c))
            && resp.cseq().is_ok_and(|c| c.method == Method::INVITE);
        if !is_invite_2xx {
            return;
        }
        if !resp
            .top_via_ref()
            .is_ok_and(|ours| self.settings.local.is_local_via(&ours))
        {
            return;
        }
        let Ok(vias) = resp.vias() else { return };
        let Some(next) = vias.get(1) else { return };
        let transport = if next.transport.eq_ignore_ascii_case("TCP") {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let ip = next.received_ip().or_else(|| next.host.ip());
        let port = next.rport().flatten().or(next.port).unwrap_or(5060);
        let Some(ip) = ip else { return };
        resp.headers.remove_all(&HeaderName::VIA);
        for v in vias.iter().skip(1) {
            resp.headers.push(HeaderName::VIA, v.to_string());
        }
        let peer = self.peer_for(transport, SocketAddr::new(ip, port));
        self.txns.send_stateless(&resp, peer);
    }
}

/// `at` rounded up to the next multiple of [`TIMER_GRAIN`] after `origin` (see there).
fn coarse(at: std::time::Instant, origin: std::time::Instant) -> std::time::Instant {
    let grain = TIMER_GRAIN.as_nanos();
    let since = at.saturating_duration_since(origin).as_nanos();
    let rounded = since.div_ceil(grain).saturating_mul(grain);
    u64::try_from(rounded)
        .ok()
        .and_then(|n| origin.checked_add(Duration::from_nanos(n)))
        .unwrap_or(at)
}

async fn recv_opt(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// RFC 3581 and RFC 3261 §18.2.1: a request's top Via gets `received` when its sent-by is not the source
/// address, and `rport` filled in when the client asked for it.
fn stamp_received(msg: &mut SipMessage, peer: &Peer) {
    if let Some(line) = msg.headers.get(&HeaderName::VIA) {
        match stamp_simple_via(line, peer.addr) {
            Some(None) => return,
            Some(Some(value)) => {
                msg.headers.set_first(&HeaderName::VIA, value);
                return;
            }
            None => {}
        }
    }
    let Ok(mut top) = msg.top_via() else { return };
    let ip = peer.addr.ip();
    let asked_rport = top.rport().is_some();
    if top.host.ip() == Some(ip) && !asked_rport {
        // The common case: nothing to add, the message is left as it came.
        return;
    }
    top.params.set("received", Some(&ip.to_string()));
    if asked_rport {
        top.params.set("rport", Some(&peer.addr.port().to_string()));
    }
    let first_line_has_one = msg
        .headers
        .get(&HeaderName::VIA)
        .is_some_and(|line| !line.contains(','));
    if first_line_has_one {
        // Only the top Via changes; the others stay as they are on the wire.
        msg.headers.remove_first(&HeaderName::VIA);
        msg.headers.push_front(HeaderName::VIA, top.to_string());
        return;
    }
    // Several Vias on the first line: rebuild them, one per line.
    let Ok(mut vias) = msg.vias() else { return };
    if let Some(first) = vias.first_mut() {
        *first = top;
    }
    msg.headers.remove_all(&HeaderName::VIA);
    for v in &vias {
        msg.headers.push(HeaderName::VIA, v.to_string());
    }
}

/// [`stamp_received`] without parsing, for the common first Via line: one Via, `PROTOCOL SENT-BY`
/// with no other white space, no quoted parameter values. `None`: not such a line (the caller parses
/// it); `Some(None)`: nothing to add; `Some(Some(line))`: the line with `received` (and `rport`) set.
/// Every REGISTER goes through here; parsing and printing the Via again was 8 % of the SIP core's time.
fn stamp_simple_via(line: &str, source: SocketAddr) -> Option<Option<String>> {
    if line.contains([',', '"']) {
        return None;
    }
    let (sent, params) = line.split_once(';').unwrap_or((line, ""));
    let mut words = sent.split_ascii_whitespace();
    let (protocol, sent_by) = (words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    let host = match sent_by.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => sent_by.split_once(':').map_or(sent_by, |(h, _)| h),
    };
    let host_ip = host.parse::<IpAddr>().ok();
    let mut asked_rport = false;
    let mut kept = String::with_capacity(params.len().saturating_add(40));
    for item in params.split(';').filter(|i| !i.trim().is_empty()) {
        let name = item.split_once('=').map_or(item, |(n, _)| n).trim();
        if name.eq_ignore_ascii_case("rport") {
            asked_rport = true;
        } else if !name.eq_ignore_ascii_case("received") {
            kept.push(';');
            kept.push_str(item.trim());
        }
    }
    if host_ip == Some(source.ip()) && !asked_rport {
        return Some(None);
    }
    let mut out = String::with_capacity(line.len().saturating_add(48));
    out.push_str(protocol);
    out.push(' ');
    out.push_str(sent_by);
    out.push_str(&kept);
    out.push_str(";received=");
    text::push_ip(&mut out, source.ip());
    if asked_rport {
        out.push_str(";rport=");
        out.push_str(text::Decimal::new(u64::from(source.port())).as_str());
    }
    Some(Some(out))
}

fn binding_transport(binding: &Binding) -> Transport {
    let from_contact = binding
        .contact
        .to_ascii_lowercase()
        .contains("transport=tcp");
    if from_contact || binding.transport.eq_ignore_ascii_case("TCP") {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

fn uri_transport(uri: &Uri) -> Transport {
    match uri.params.get("transport") {
        Some(t) if t.eq_ignore_ascii_case("tcp") => Transport::Tcp,
        _ => Transport::Udp,
    }
}

/// The socket address of a URI with an IP host (hosts needing DNS are not resolved here).
/// The host name and port of a next hop that is not an IP literal (RFC 3263 §4.2 without NAPTR and
/// SRV: the name's A/AAAA records at the URI's port, or 5060).
fn next_hop_name(uri: &Uri) -> Option<(String, u16)> {
    match &uri.host {
        Host::Name(name) => Some((name.clone(), uri.port.unwrap_or(5060))),
        _ => None,
    }
}

fn uri_socket(uri: &Uri) -> Option<SocketAddr> {
    let ip = uri
        .params
        .get("maddr")
        .and_then(|m| m.parse().ok())
        .or_else(|| uri.host.ip())?;
    Some(SocketAddr::new(ip, uri.port.unwrap_or(5060)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deadlines move later to the grain, never earlier, and by less than one grain.
    #[test]
    fn timer_deadlines_round_up_to_the_grain() {
        let origin = std::time::Instant::now();
        for ms in [0u64, 1, 9, 10, 11, 499, 500, 32_001] {
            let at = origin + Duration::from_millis(ms);
            let c = coarse(at, origin);
            let since = c.duration_since(origin).as_nanos();
            assert_eq!(since % TIMER_GRAIN.as_nanos(), 0, "{ms} ms");
            assert!(c >= at && c - at < TIMER_GRAIN, "{ms} ms");
        }
        let at = origin + Duration::from_nanos(10_000_001);
        assert_eq!(coarse(at, origin), origin + Duration::from_millis(20));
        // A deadline before the origin (cannot happen: the origin is start-up) is left alone.
        if let Some(before) = origin.checked_sub(Duration::from_millis(3)) {
            assert!(coarse(before, origin) >= before);
        }
    }

    /// The fast path stamps a Via exactly as parsing it, setting the parameters and printing it does.
    #[test]
    fn simple_via_stamping_agrees_with_the_parser() {
        let source: SocketAddr = "192.0.2.7:5099".parse().unwrap();
        let lines = [
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport",
            "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bK2;rport",
            "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bK3",
            "SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK3b",
            "SIP/2.0/TCP host.example.com;branch=z9hG4bK4;received=1.2.3.4;rport=1",
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK5;RPORT;ttl=3",
            "SIP/2.0/UDP 10.0.0.1",
        ];
        for line in lines {
            let fast = stamp_simple_via(line, source).expect("a simple Via line");
            let mut via = Via::parse(line).unwrap();
            let asked_rport = via.rport().is_some();
            if via.host.ip() == Some(source.ip()) && !asked_rport {
                assert_eq!(fast, None, "{line}");
                continue;
            }
            let stamped = Via::parse(fast.as_deref().expect(line)).unwrap();
            via.params.set("received", Some(&source.ip().to_string()));
            if asked_rport {
                via.params.set("rport", Some(&source.port().to_string()));
            }
            assert_eq!(stamped.transport, via.transport, "{line}");
            assert_eq!(stamped.host, via.host, "{line}");
            assert_eq!(stamped.port, via.port, "{line}");
            let mut want: Vec<_> = via
                .params
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.map(str::to_owned)))
                .collect();
            let mut got: Vec<_> = stamped
                .params
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.map(str::to_owned)))
                .collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{line}");
        }
    }

    /// Lines the fast path does not take are left to the parser.
    #[test]
    fn unusual_via_lines_take_the_parser() {
        let source: SocketAddr = "192.0.2.7:5099".parse().unwrap();
        for line in [
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2",
            "SIP / 2.0 / UDP a.example.com;branch=z9hG4bK1",
            "SIP/2.0/UDP a.example.com : 5060;branch=z9hG4bK1",
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x=\"q\"",
        ] {
            assert_eq!(stamp_simple_via(line, source), None, "{line}");
        }
    }
}
