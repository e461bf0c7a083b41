//! [`Transactions`]: the table of live transactions, matching, and the queues the driver drains.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use crate::msg::{Method, SipMessage};

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::key::{KeyHashing, Role, TransactionKey, client_key, is_rfc3261_branch};
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::timers::{Reliability, Timer, TimerTable, Timers};
use super::{Ctx, Incoming, Rejected, TransactionError, Transmit, TxEvent, TxState, generate};

/// How a [`Transactions`] layer behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// T1, T2 and T4.
    pub timers: Timers,
    /// Whether an INVITE server transaction sends 100 Trying by itself when the TU has not sent a
    /// provisional within 200 ms (RFC 3261 §17.2.1). A proxy wants this; a UAS that always answers at
    /// once may turn it off.
    pub auto_trying: bool,
    /// The most server transactions kept at once; a request beyond it is refused with
    /// [`TransactionError::Full`] so the driver can answer 503.
    pub max_server: usize,
    /// The most client transactions kept at once; [`Transactions::send_request`] refuses beyond it.
    pub max_client: usize,
    /// Transactions the table has room for before it first grows. A table that doubles while
    /// tens of thousands of transactions are live moves and rehashes all of them in one go, a
    /// stall of milliseconds on the thread that owns it; an element that expects that many sizes
    /// it up front (the room costs memory only as it is used).
    pub initial_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timers: Timers::default(),
            auto_trying: true,
            max_server: 65_536,
            max_client: 65_536,
            initial_capacity: 0,
        }
    }
}

/// Every live transaction of one SIP element, with the queues of its output. See the
/// [module documentation](super) for the drain-until-empty rule. `P` is the driver's token for a peer
/// (for example a socket address plus a connection id); the layer only clones it onto [`Transmit`]s.
#[derive(Debug)]
pub struct Transactions<P> {
    pub(super) config: Config,
    /// Boxed: a transaction is some 400 bytes, and a proxy at a few hundred calls a second keeps tens of
    /// thousands alive (Timers J and K hold them for 32 s over UDP). Inline, each doubling of the table
    /// moved and zeroed tens of MiB on the SIP core's thread, stalling every message for 20-40 ms; boxed,
    /// the table holds only keys and pointers.
    pub(super) txns: HashMap<TransactionKey, Box<Txn<P>>, KeyHashing>,
    /// Every transaction with an armed timer, by its earliest deadline (the serial breaks ties).
    deadlines: BTreeMap<(Instant, u64), TransactionKey>,
    transmits: VecDeque<Transmit<P>>,
    events: VecDeque<TxEvent>,
    /// Scratch buffer a machine writes its messages into.
    pub(super) outbox: Vec<Bytes>,
    next_serial: u64,
    pub(super) servers: usize,
    clients: usize,
}

#[derive(Debug)]
pub(super) struct Txn<P> {
    peer: P,
    reliability: Reliability,
    table: TimerTable,
    serial: u64,
    scheduled: Option<Instant>,
    pub(super) machine: Machine,
}

#[derive(Debug)]
pub(super) enum Machine {
    /// The original request is kept for building the ACK and the CANCEL, until the final response:
    /// Timer M keeps an accepted transaction 32 s, and a proxy at 1,000 calls/s would hold 32,000
    /// INVITEs it has no more use for.
    InviteClient(ClientInvite, Option<Box<SipMessage>>),
    NonInviteClient(ClientNonInvite),
    /// The pending automatic 100 Trying, and the To tag of the final response (RFC 2543 ACK matching).
    InviteServer(ServerInvite, Option<Box<SipMessage>>, Option<String>),
    NonInviteServer(ServerNonInvite),
}

impl Machine {
    fn state(&self) -> TxState {
        match self {
            Self::InviteClient(m, _) => m.state(),
            Self::NonInviteClient(m) => m.state(),
            Self::InviteServer(m, ..) => m.state(),
            Self::NonInviteServer(m) => m.state(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            Self::InviteClient(m, _) => m.is_terminated(),
            Self::NonInviteClient(m) => m.is_terminated(),
            Self::InviteServer(m, ..) => m.is_terminated(),
            Self::NonInviteServer(m) => m.is_terminated(),
        }
    }
}

/// Splits a transaction into its machine and a context over the rest.
pub(super) fn parts<'a, P>(
    txn: &'a mut Txn<P>,
    timers: &'a Timers,
    outbox: &'a mut Vec<Bytes>,
    now: Instant,
) -> (&'a mut Machine, Ctx<'a>) {
    let ctx = Ctx {
        now,
        timers,
        reliability: txn.reliability,
        table: &mut txn.table,
        send: outbox,
    };
    (&mut txn.machine, ctx)
}

impl<P: Clone> Transactions<P> {
    /// An empty layer with the given timers and the defaults of [`Config`] otherwise.
    pub fn new(timers: Timers) -> Self {
        Self::with_config(Config {
            timers,
            ..Config::default()
        })
    }

    /// An empty layer.
    pub fn with_config(config: Config) -> Self {
        Self {
            txns: HashMap::with_capacity_and_hasher(config.initial_capacity, KeyHashing::default()),
            config,
            deadlines: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            outbox: Vec::new(),
            next_serial: 0,
            servers: 0,
            clients: 0,
        }
    }

    /// The number of live transactions, client and server.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    /// Whether there are no live transactions.
    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// The state of a live transaction.
    pub fn state(&self, key: &TransactionKey) -> Option<TxState> {
        self.txns.get(key).map(|t| t.machine.state())
    }

    /// Takes in a message the transport received from `from`, matching it to a transaction (§17.1.3,
    /// §17.2.3) or creating a server transaction for a new request.
    ///
    /// # Errors
    /// The message comes back in [`Rejected`] with [`TransactionError::Malformed`] if it lacks a usable
    /// top Via, CSeq (or, for RFC 2543 matching, From, To or Call-ID), or with [`TransactionError::Full`]
    /// if it would create a server transaction beyond [`Config::max_server`].
    pub fn handle_incoming(
        &mut self,
        now: Instant,
        msg: SipMessage,
        from: P,
        reliability: Reliability,
    ) -> Result<Incoming<P>, Rejected<P>> {
        match msg.method().cloned() {
            Some(method) if method == Method::ACK => self.on_ack(now, msg, from),
            Some(method) => self.on_request(now, msg, method, from, reliability),
            None => self.on_response(now, msg, from),
        }
    }

    /// Starts a client transaction for `msg` towards `to` and queues its first transmission.
    ///
    /// # Errors
    /// [`TransactionError::AckNotATransaction`] for an ACK, [`TransactionError::Malformed`] for a
    /// response or without a top Via or CSeq,
    /// [`TransactionError::MissingBranch`] without an RFC 3261 branch, [`TransactionError::Duplicate`] if
    /// the branch and method are in use, and [`TransactionError::Full`] beyond [`Config::max_client`].
    pub fn send_request(
        &mut self,
        now: Instant,
        msg: SipMessage,
        to: P,
        reliability: Reliability,
    ) -> Result<TransactionKey, TransactionError> {
        let method = msg.method().cloned().ok_or(TransactionError::Malformed {
            header: "request line",
        })?;
        if method == Method::ACK {
            return Err(TransactionError::AckNotATransaction);
        }
        let key = client_key(&msg)?;
        if !key.branch().is_some_and(is_rfc3261_branch) {
            return Err(TransactionError::MissingBranch);
        }
        if self.txns.contains_key(&key) {
            return Err(TransactionError::Duplicate);
        }
        if self.clients >= self.config.max_client {
            return Err(TransactionError::Full {
                limit: self.config.max_client,
            });
        }
        let bytes = msg.to_bytes();
        let mut table = TimerTable::default();
        let mut ctx = Ctx {
            now,
            timers: &self.config.timers,
            reliability,
            table: &mut table,
            send: &mut self.outbox,
        };
        let machine = if method == Method::INVITE {
            Machine::InviteClient(ClientInvite::start(&mut ctx, bytes), Some(Box::new(msg)))
        } else {
            Machine::NonInviteClient(ClientNonInvite::start(&mut ctx, bytes))
        };
        self.clients = self.clients.saturating_add(1);
        self.insert(key.clone(), to, reliability, table, machine);
        Ok(key)
    }

    /// Sends the TU's response `msg` through the server transaction `key`.
    ///
    /// # Errors
    /// [`TransactionError::NotAResponse`], [`TransactionError::UnknownTransaction`],
    /// [`TransactionError::WrongRole`] for a client key, and [`TransactionError::ResponseNotAllowed`] when
    /// the state forbids it (a second final response, or a non-2xx after a 2xx).
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        msg: SipMessage,
    ) -> Result<(), TransactionError> {
        let code = msg
            .code()
            .filter(|c| (100..=699).contains(c))
            .ok_or(TransactionError::NotAResponse)?;
        let txn = self
            .txns
            .get_mut(key)
            .ok_or(TransactionError::UnknownTransaction)?;
        let (machine, mut ctx) = parts(txn, &self.config.timers, &mut self.outbox, now);
        let result = match machine {
            Machine::InviteServer(m, trying, to_tag) => {
                // The TU answered: the automatic 100 Trying is moot (the machine has stopped its
                // timer), and it holds the request's buffer.
                *trying = None;
                if code >= 200 && key.branch().is_none() {
                    *to_tag = msg.to_ref().ok().and_then(|t| t.tag().map(str::to_owned));
                }
                m.on_send(&mut ctx, code, msg.to_bytes())
            }
            Machine::NonInviteServer(m) => m.on_send(&mut ctx, code, msg.to_bytes()),
            Machine::InviteClient(..) | Machine::NonInviteClient(_) => {
                Err(TransactionError::WrongRole)
            }
        };
        self.settle(key);
        result
    }

    /// Queues a message outside any transaction: the TU's ACK for a 2xx, a stateless 503 or 400, or a 2xx
    /// a proxy forwards statelessly (RFC 6026 §8.4).
    pub fn send_stateless(&mut self, msg: &SipMessage, to: P) {
        self.transmits.push_back(Transmit {
            to,
            msg: msg.to_bytes(),
        });
    }

    /// Builds the CANCEL for the INVITE client transaction `key` (RFC 3261 §9.1): same Request-URI,
    /// Call-ID, To, From, CSeq number and top Via, method CANCEL, and the INVITE's Route headers. Send it
    /// with [`Transactions::send_request`]; §9.1 asks to wait for a provisional response first.
    ///
    /// # Errors
    /// [`TransactionError::UnknownTransaction`], or [`TransactionError::WrongRole`] if `key` is not an
    /// INVITE client transaction.
    pub fn build_cancel(&self, key: &TransactionKey) -> Result<SipMessage, TransactionError> {
        match self.txns.get(key).map(|t| &t.machine) {
            Some(Machine::InviteClient(_, Some(request))) => Ok(generate::cancel_for(request)),
            Some(Machine::InviteClient(_, None)) => Err(TransactionError::NotCancellable),
            Some(_) => Err(TransactionError::WrongRole),
            None => Err(TransactionError::UnknownTransaction),
        }
    }

    /// The driver could not deliver a message of transaction `key` (§17.1.4, §17.2.4): the transaction
    /// ends with [`TxEvent::TransportError`].
    pub fn handle_transport_error(&mut self, key: &TransactionKey) {
        if self.txns.contains_key(key) {
            self.events
                .push_back(TxEvent::TransportError { key: key.clone() });
            self.remove(key);
        }
    }

    /// Every transaction towards `peer` failed at the transport (a TCP or TLS connection closed, a
    /// destination unreachable): each ends with [`TxEvent::TransportError`] (§17.1.4, §17.2.4). Scans
    /// all transactions, so it is meant for connection failures, not for every datagram.
    pub fn handle_peer_error(&mut self, peer: &P)
    where
        P: PartialEq,
    {
        let failed: Vec<TransactionKey> = self
            .txns
            .iter()
            .filter(|(_, t)| t.peer == *peer)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &failed {
            self.handle_transport_error(key);
        }
    }

    /// Runs every timer due at `now`: retransmissions, timeouts and the ends of wait states.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        for key in due {
            if let Some(txn) = self.txns.get_mut(&key) {
                txn.scheduled = None;
                let (machine, mut ctx) = parts(txn, &self.config.timers, &mut self.outbox, now);
                for _ in Timer::ALL {
                    let Some(timer) = ctx.table.pop_expired(now) else {
                        break;
                    };
                    let timeout = match machine {
                        Machine::InviteClient(m, _) => m.on_timer(&mut ctx, timer),
                        Machine::NonInviteClient(m) => m.on_timer(&mut ctx, timer),
                        Machine::InviteServer(m, trying, _) => {
                            m.on_timer(&mut ctx, timer, || trying.take().map(|t| t.to_bytes()))
                        }
                        Machine::NonInviteServer(m) => {
                            m.on_timer(&mut ctx, timer);
                            None
                        }
                    };
                    if let Some(timer) = timeout {
                        self.events.push_back(TxEvent::Timeout {
                            key: key.clone(),
                            timer,
                        });
                    }
                    if machine.is_terminated() {
                        break;
                    }
                }
                self.settle(&key);
            }
        }
    }

    /// The next message to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit<P>> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// When [`Transactions::handle_timeout`] must next be called, if any timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first_key_value().map(|((at, _), _)| *at)
    }
}

impl<P: Clone> Transactions<P> {
    /// Adds a freshly started transaction and settles it.
    pub(super) fn insert(
        &mut self,
        key: TransactionKey,
        peer: P,
        reliability: Reliability,
        table: TimerTable,
        machine: Machine,
    ) {
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        let txn = Txn {
            peer,
            reliability,
            table,
            serial,
            scheduled: None,
            machine,
        };
        self.txns.insert(key.clone(), Box::new(txn));
        self.settle(&key);
    }

    /// After a machine ran: queue what it sent, then remove it if it terminated or re-file its deadline.
    pub(super) fn settle(&mut self, key: &TransactionKey) {
        let Some(txn) = self.txns.get_mut(key) else {
            self.outbox.clear();
            return;
        };
        for msg in self.outbox.drain(..) {
            self.transmits.push_back(Transmit {
                to: txn.peer.clone(),
                msg,
            });
        }
        if txn.machine.is_terminated() {
            self.remove(key);
            return;
        }
        let next = txn.table.next();
        if next != txn.scheduled {
            let old = txn
                .scheduled
                .and_then(|at| self.deadlines.remove(&(at, txn.serial)));
            if let Some(at) = next {
                let entry = old.unwrap_or_else(|| key.clone());
                self.deadlines.insert((at, txn.serial), entry);
            }
            txn.scheduled = next;
        }
    }

    /// Drops a transaction and tells the TU.
    fn remove(&mut self, key: &TransactionKey) {
        let Some(txn) = self.txns.remove(key) else {
            return;
        };
        if let Some(at) = txn.scheduled {
            self.deadlines.remove(&(at, txn.serial));
        }
        match key.role() {
            Role::Client => self.clients = self.clients.saturating_sub(1),
            Role::Server => self.servers = self.servers.saturating_sub(1),
        }
        self.events
            .push_back(TxEvent::Terminated { key: key.clone() });
    }
}
