//! The INVITE server transaction of RFC 3261 §17.2.1, with the Accepted state of RFC 6026 §7.1.
//!
//! ```text
//!                    INVITE received: to TU; Trying = 200 ms (if enabled)
//!                          |
//!                          v
//!  INVITE again: resend +------------+ Trying fires: send 100 Trying
//!  the last 1xx         | Proceeding | TU sends 1xx: send it
//!               +------ |            | ------+
//!               +-----> +------------+ <-----+
//!                         |        |  TU sends 2xx: send it, L = 64·T1
//!   TU sends 300-699:     |        +-----------------------+
//!   send it, G = T1       v                                v
//!   (unreliable),  +-----------+ G fires: resend,    +----------+ INVITE again: absorbed
//!   H = 64·T1      | Completed | G = min(2G, T2)     | Accepted | TU sends 2xx: send it
//!  INVITE again:   |           | ---+                |          | ACK: to TU
//!  resend final    +-----------+ <--+                +----------+
//!                    |       | ACK: I = T4 / 0            | L fires
//!      H fires:      |       v                            |
//!      Timeout event |  +-----------+ ACK: absorbed       |
//!                    |  | Confirmed |                     |
//!                    |  +-----------+                     |
//!                    |       | I fires                    |
//!                    v       v                            v
//!                  +------------------------------------------+
//!                  |                Terminated                |
//!                  +------------------------------------------+
//! ```

use std::mem;
use std::time::Duration;

use bytes::Bytes;

use super::timers::{Reliability, Timer, doubled};
use super::{Ctx, Delivery, TransactionError, TxState};

/// One INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInvite {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for the TU's final response; provisionals may go out meanwhile.
    Proceeding(Proceeding),
    /// A 300–699 went out; waiting for the ACK, retransmitting the response over unreliable transports.
    Completed(Completed),
    /// The ACK arrived; absorbing its retransmissions.
    Confirmed,
    /// A 2xx went out (RFC 6026); absorbing INVITE retransmissions, passing the TU's 2xx retransmissions.
    Accepted,
    /// Done; the layer removes the transaction.
    Terminated,
}

#[derive(Debug)]
struct Proceeding {
    /// The most recent provisional response, resent when the INVITE is retransmitted.
    last: Option<Bytes>,
}

#[derive(Debug)]
struct Completed {
    /// The final response, resent on timer G and on INVITE retransmissions.
    response: Bytes,
    /// The interval timer G was last armed with.
    interval: Duration,
}

impl ServerInvite {
    /// Creates the transaction for a new INVITE; arms the automatic 100 Trying if `auto_trying`.
    pub(crate) fn start(ctx: &mut Ctx<'_>, auto_trying: bool) -> Self {
        if auto_trying {
            ctx.arm(Timer::Trying);
        }
        Self {
            state: State::Proceeding(Proceeding { last: None }),
        }
    }

    /// The state, for [`super::Transactions::state`].
    pub(crate) fn state(&self) -> TxState {
        match self.state {
            State::Proceeding(_) => TxState::Proceeding,
            State::Completed(_) => TxState::Completed,
            State::Confirmed => TxState::Confirmed,
            State::Accepted => TxState::Accepted,
            State::Terminated => TxState::Terminated,
        }
    }

    /// A retransmission of the INVITE arrived: resend the last response where §17.2.1 says so.
    pub(crate) fn on_retransmission(&mut self, ctx: &mut Ctx<'_>) {
        match &self.state {
            State::Proceeding(Proceeding { last: Some(last) }) => ctx.send.push(last.clone()),
            State::Completed(done) => ctx.send.push(done.response.clone()),
            _ => {}
        }
    }

    /// An ACK matched this transaction. In Completed it confirms the final response; in Accepted it is an
    /// ACK for the 2xx and goes to the TU.
    pub(crate) fn on_ack(&mut self, ctx: &mut Ctx<'_>) -> Delivery {
        let (next, delivery) = match mem::replace(&mut self.state, State::Terminated) {
            State::Completed(_) => {
                ctx.table.clear();
                let next = if ctx.arm(Timer::I) {
                    State::Confirmed
                } else {
                    State::Terminated
                };
                (next, Delivery::Absorbed)
            }
            State::Accepted => (State::Accepted, Delivery::PassUp),
            state => (state, Delivery::Absorbed),
        };
        self.state = next;
        delivery
    }

    /// The TU sends a response with status `code`, serialized as `bytes`.
    pub(crate) fn on_send(
        &mut self,
        ctx: &mut Ctx<'_>,
        code: u16,
        bytes: Bytes,
    ) -> Result<(), TransactionError> {
        let state = self.state();
        let (next, result) = match (mem::replace(&mut self.state, State::Terminated), code) {
            (State::Proceeding(_), 100..=199) => {
                ctx.table.stop(Timer::Trying);
                ctx.send.push(bytes.clone());
                (State::Proceeding(Proceeding { last: Some(bytes) }), Ok(()))
            }
            (State::Proceeding(_), 200..=299) => {
                ctx.send.push(bytes);
                ctx.table.clear();
                ctx.arm(Timer::L);
                (State::Accepted, Ok(()))
            }
            (State::Proceeding(_), 300..=699) => {
                ctx.send.push(bytes.clone());
                ctx.table.clear();
                let interval = Timer::G.initial(ctx.timers, ctx.reliability);
                if ctx.reliability == Reliability::Unreliable {
                    ctx.table.set(Timer::G, ctx.now, interval);
                }
                ctx.arm(Timer::H);
                let completed = Completed {
                    response: bytes,
                    interval,
                };
                (State::Completed(completed), Ok(()))
            }
            (State::Accepted, 200..=299) => {
                ctx.send.push(bytes);
                (State::Accepted, Ok(()))
            }
            (other, _) => (
                other,
                Err(TransactionError::ResponseNotAllowed { state, code }),
            ),
        };
        self.state = next;
        result
    }

    /// Acts on an expired timer; returns the timer if it means the transaction timed out. `trying` builds
    /// the automatic 100 Trying.
    pub(crate) fn on_timer(
        &mut self,
        ctx: &mut Ctx<'_>,
        timer: Timer,
        trying: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Timer> {
        let (next, timeout) = match (mem::replace(&mut self.state, State::Terminated), timer) {
            (State::Proceeding(p), Timer::Trying) => match (p.last, trying()) {
                (None, Some(trying)) => {
                    ctx.send.push(trying.clone());
                    (State::Proceeding(Proceeding { last: Some(trying) }), None)
                }
                (last, _) => (State::Proceeding(Proceeding { last }), None),
            },
            (State::Completed(done), Timer::G) => {
                ctx.send.push(done.response.clone());
                let interval = doubled(done.interval, Some(ctx.timers.t2));
                ctx.table.set(Timer::G, ctx.now, interval);
                let completed = Completed {
                    response: done.response,
                    interval,
                };
                (State::Completed(completed), None)
            }
            (State::Completed(_), Timer::H) => {
                ctx.table.clear();
                (State::Terminated, Some(Timer::H))
            }
            (State::Confirmed, Timer::I) | (State::Accepted, Timer::L) => {
                ctx.table.clear();
                (State::Terminated, None)
            }
            (state, _) => (state, None),
        };
        self.state = next;
        timeout
    }

    /// Whether the transaction has ended and can be removed.
    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }
}
