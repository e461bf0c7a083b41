//! The SIP transaction layer of RFC 3261 §17, sans-IO, with the RFC 6026 treatment of 2xx responses to
//! INVITE.
//!
//! [`Transactions`] holds every client and server transaction of one SIP endpoint or proxy. It never touches
//! a socket or a clock: the driver passes in what arrives ([`Transactions::handle_incoming`]), what the
//! transaction user (TU: the proxy core, registrar or user agent) wants to send
//! ([`Transactions::send_request`], [`Transactions::send_response`]), and the current time; it takes out
//! datagrams to send ([`Transactions::poll_transmit`]), events for the TU ([`Transactions::poll_event`]) and
//! the next deadline ([`Transactions::poll_timeout`]).
//!
//! # The run loop: drain until empty
//!
//! After **every** `handle_*` or `send_*` call the driver must
//!
//! 1. call [`Transactions::poll_transmit`] until it returns `None`, writing each [`Transmit`] to its peer;
//! 2. call [`Transactions::poll_event`] until it returns `None`, giving each [`TxEvent`] to the TU (which
//!    may call `send_*` again, after which the driver drains again);
//! 3. then sleep until [`Transactions::poll_timeout`] (or until the next message arrives), and call
//!    [`Transactions::handle_timeout`] with the time it woke at.
//!
//! The deadline only moves as a consequence of those calls, so a driver that drains fully never misses a
//! timer, and one that calls `handle_timeout` early does no harm.
//!
//! ```text
//! loop {
//!     while let Some(t) = layer.poll_transmit() { socket.send_to(&t.msg, t.to) }
//!     while let Some(e) = layer.poll_event() { tu.on_event(e) }
//!     select! {
//!         msg = socket.recv() => match layer.handle_incoming(now, msg, from, reliability) { .. },
//!         _ = sleep_until(layer.poll_timeout()) => layer.handle_timeout(now),
//!     }
//! }
//! ```
//!
//! # Matching
//!
//! Responses match a client transaction by the branch of their top Via and their CSeq method (§17.1.3).
//! Requests match a server transaction by top-Via branch, sent-by and method, an ACK matching the INVITE
//! whose non-2xx response it acknowledges (§17.2.3). A request whose branch lacks the `z9hG4bK` cookie, or
//! is the bare cookie (RFC 4475 §3.2.1), is matched the RFC 2543 way: Request-URI, To tag, From tag,
//! Call-ID, CSeq and top Via. A CANCEL is a non-INVITE transaction of its own; [`Incoming::Cancel`] also
//! names the INVITE transaction it cancels (§9.2).
//!
//! # The machines
//!
//! Each machine's module documents its state diagram: INVITE client (Calling → Proceeding → Completed /
//! Accepted → Terminated), non-INVITE client (Trying → Proceeding → Completed → Terminated), INVITE
//! server (Proceeding → Completed → Confirmed / Accepted → Terminated) and non-INVITE server (Trying →
//! Proceeding → Completed → Terminated). Timers are named as in the RFCs; see [`Timer`].

use bytes::Bytes;

mod client_invite;
mod client_non_invite;
mod dispatch;
mod generate;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod timers;

pub use key::{KeyHasher, KeyHashing, Role, TransactionKey};
pub use layer::{Config, Transactions};
pub use timers::{AUTO_TRYING_DELAY, Reliability, Timer, Timers};

use crate::msg::SipMessage;
use timers::TimerTable;

/// What [`Transactions::handle_incoming`] made of a message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Incoming<P> {
    /// A new request created a server transaction; the TU must answer it with
    /// [`Transactions::send_response`] under `key`.
    Request {
        /// The new server transaction.
        key: TransactionKey,
        /// The request.
        msg: SipMessage,
        /// Where it came from; responses go back there.
        from: P,
    },
    /// A new CANCEL created its own server transaction (answer it under `key`, §9.2); `invite` is the INVITE
    /// server transaction it cancels, or `None` if there is none (answer the CANCEL with 481).
    Cancel {
        /// The INVITE transaction being cancelled, if it exists.
        invite: Option<TransactionKey>,
        /// The CANCEL's own server transaction.
        key: TransactionKey,
        /// The CANCEL request.
        msg: SipMessage,
        /// Where it came from.
        from: P,
    },
    /// An ACK that is not part of a transaction: the ACK for a 2xx (§17.1.1.3, RFC 6026). It belongs to
    /// the TU, or to a proxy's forwarding logic.
    Ack {
        /// The ACK request.
        msg: SipMessage,
        /// Where it came from.
        from: P,
    },
    /// A response for the client transaction `key`, passed up as the state machine says: provisionals,
    /// the first final response and, per RFC 6026, every 2xx to an INVITE.
    Response {
        /// The client transaction.
        key: TransactionKey,
        /// The response.
        msg: SipMessage,
    },
    /// A response that matches no client transaction. A proxy forwards a stray 2xx to INVITE statelessly
    /// (§16.7 step 1 as amended by RFC 6026 §8.4); anything else is dropped.
    StrayResponse {
        /// The response.
        msg: SipMessage,
        /// Where it came from.
        from: P,
    },
    /// A retransmission or an ACK handled inside the layer; whatever it caused is in
    /// [`Transactions::poll_transmit`].
    Absorbed {
        /// The transaction that absorbed it.
        key: TransactionKey,
    },
}

/// A message to put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit<P> {
    /// The peer chosen by the driver when the transaction was created (the request's source for a server
    /// transaction, the destination passed to [`Transactions::send_request`] for a client one).
    pub to: P,
    /// The serialized message.
    pub msg: Bytes,
}

/// Something the TU should know about, out of [`Transactions::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxEvent {
    /// The transaction gave up: timer B or F for a client transaction (the TU acts as if it received a 408,
    /// §8.1.3.1), or timer H for an INVITE server transaction (the ACK never came, §17.2.1).
    Timeout {
        /// The transaction.
        key: TransactionKey,
        /// Which timer fired.
        timer: Timer,
    },
    /// The driver reported that the transport failed for this transaction (§17.1.4, §17.2.4); the TU treats
    /// it like a 503 for a client transaction.
    TransportError {
        /// The transaction.
        key: TransactionKey,
    },
    /// The transaction has ended and was removed; its key is no longer valid.
    Terminated {
        /// The transaction.
        key: TransactionKey,
    },
}

/// The state of a transaction, as named in RFC 3261 §17 and RFC 6026.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxState {
    /// INVITE client: the request is out, no response yet.
    Calling,
    /// Non-INVITE client or server: no response yet.
    Trying,
    /// A provisional response was received (client) or the request awaits its final response (server).
    Proceeding,
    /// A final response was received (client) or sent (server); retransmissions are absorbed.
    Completed,
    /// INVITE server: the ACK for a 300–699 response arrived.
    Confirmed,
    /// INVITE client or server after a 2xx (RFC 6026).
    Accepted,
    /// Finished.
    Terminated,
}

/// Why the transaction layer refused a call or a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The message lacks a header the transaction layer needs, or has it malformed; the driver answers a
    /// request with 400 and drops a response.
    #[error("malformed {header} header")]
    Malformed {
        /// The header's name.
        header: &'static str,
    },
    /// A request passed to [`Transactions::send_request`] has no RFC 3261 branch of its own in its top Via.
    #[error(
        "the top Via of an outgoing request needs a branch starting with z9hG4bK and longer than it"
    )]
    MissingBranch,
    /// ACK is not sent through a transaction (the ACK for a 2xx is the TU's; the ACK for a non-2xx is
    /// generated by the layer); use [`Transactions::send_stateless`].
    #[error("ACK does not create a client transaction")]
    AckNotATransaction,
    /// A transaction with this key already exists.
    #[error("a transaction with this key already exists")]
    Duplicate,
    /// There are already `limit` transactions of this role; the driver answers a new request with 503
    /// (§21.5.4) and the TU treats a refused outgoing request the same way.
    #[error("transaction limit of {limit} reached")]
    Full {
        /// The configured limit.
        limit: usize,
    },
    /// No transaction has this key (it may have terminated already).
    #[error("no such transaction")]
    UnknownTransaction,
    /// The INVITE client transaction has its final response: there is nothing left to cancel (§9.1),
    /// and it no longer keeps the request a CANCEL is built from.
    #[error("the INVITE has its final response; nothing to cancel")]
    NotCancellable,
    /// The message given to [`Transactions::send_response`] is not a response, or its status is outside
    /// 100–699.
    #[error("not a response with a status code between 100 and 699")]
    NotAResponse,
    /// The transaction cannot send a response with this code in its current state (a second final
    /// response, or anything but a 2xx after a 2xx).
    #[error("cannot send a {code} response in state {state:?}")]
    ResponseNotAllowed {
        /// The transaction's state.
        state: TxState,
        /// The refused status code.
        code: u16,
    },
    /// The key names a client transaction where a server one is needed, or the reverse.
    #[error("the transaction has the wrong role for this call")]
    WrongRole,
}

/// A message [`Transactions::handle_incoming`] could not take, handed back so the driver can answer it
/// statelessly (400 for [`TransactionError::Malformed`], 503 for [`TransactionError::Full`]).
#[derive(Debug)]
pub struct Rejected<P> {
    /// Why.
    pub error: TransactionError,
    /// The message (boxed: refusals are rare, and this keeps the `Result` small).
    pub msg: Box<SipMessage>,
    /// Where it came from.
    pub from: P,
}

impl<P> Rejected<P> {
    pub(crate) fn new(error: TransactionError, msg: SipMessage, from: P) -> Self {
        Self {
            error,
            msg: Box::new(msg),
            from,
        }
    }
}

/// Whether a machine passed a message up to the TU or absorbed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    PassUp,
    Absorbed,
}

/// What a machine may touch while handling one input: the time, the timer table of its transaction, and a
/// buffer of messages for its peer.
pub(crate) struct Ctx<'a> {
    pub(crate) now: std::time::Instant,
    pub(crate) timers: &'a Timers,
    pub(crate) reliability: Reliability,
    pub(crate) table: &'a mut TimerTable,
    pub(crate) send: &'a mut Vec<Bytes>,
}

impl Ctx<'_> {
    /// Arms `timer` with its value from the table. Returns `false`, arming nothing, if that value is zero
    /// (a wait state skipped on reliable transports): the caller moves straight to Terminated.
    pub(crate) fn arm(&mut self, timer: Timer) -> bool {
        let after = timer.initial(self.timers, self.reliability);
        if after.is_zero() {
            return false;
        }
        self.table.set(timer, self.now, after);
        true
    }
}
