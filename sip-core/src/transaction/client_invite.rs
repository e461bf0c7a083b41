//! The INVITE client transaction of RFC 3261 §17.1.1, with the Accepted state of RFC 6026 §7.2.
//!
//! ```text
//!                 send INVITE; A = T1 (unreliable), B = 64·T1
//!                          |
//!                          v
//!   A fires: resend, A*=2 +-----------+ B fires: Timeout event
//!               +-------- |  Calling  | -------------------------+
//!               +-------> +-----------+                          |
//!                          |   |     | 1xx: to TU                |
//!               2xx: to TU |   |     v                           |
//!                          |   |  +------------+ 1xx: to TU      |
//!                          |   |  | Proceeding | ----+           |
//!                          |   |  +------------+ <---+           |
//!                          |   |   |        | 2xx: to TU         |
//!      300-699: to TU, ACK |   |   | 300-699: to TU, send ACK    |
//!                          |   v   v        |                    |
//!                          | +-----------+  |                    |
//!   300-699 again: resend  | | Completed |  |                    |
//!   the ACK (absorbed)     | +-----------+  |                    |
//!                          |   | D fires    v                    |
//!                          |   | (32 s /  +----------+           |
//!                          +---|--0 s)--> | Accepted | 2xx: to TU|
//!                              |          +----------+           |
//!                              |            | M fires (64·T1)    |
//!                              v            v                    |
//!                           +-------------------+                |
//!                           |    Terminated     | <--------------+
//!                           +-------------------+
//! ```
//!
//! Timer A doubles without a cap, as §17.1.1.2 specifies for INVITE (only non-INVITE requests and INVITE
//! responses are capped at T2), so over UDP with default timers the INVITE goes out at 0, 0.5, 1.5, 3.5, 7.5,
//! 15.5 and 31.5 s before timer B fires at 32 s.

use std::mem;
use std::time::Duration;

use bytes::Bytes;

use super::timers::{Reliability, Timer, doubled};
use super::{Ctx, Delivery, TxState};

/// One INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInvite {
    request: Bytes,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for any response; retransmitting over unreliable transports.
    Calling(Calling),
    /// A provisional arrived; waiting for the final response, no more retransmissions.
    Proceeding,
    /// A 300–699 arrived and was ACKed; waiting out retransmissions of it.
    Completed(Completed),
    /// A 2xx arrived (RFC 6026); further 2xx from any fork pass to the TU.
    Accepted,
    /// Done; the layer removes the transaction.
    Terminated,
}

#[derive(Debug)]
struct Calling {
    /// The interval timer A was last armed with.
    interval: Duration,
}

#[derive(Debug)]
struct Completed {
    /// The ACK sent for the final response, resent for each retransmission of it.
    ack: Bytes,
}

impl ClientInvite {
    /// Sends the INVITE and arms timers A (unreliable only) and B.
    pub(crate) fn start(ctx: &mut Ctx<'_>, request: Bytes) -> Self {
        ctx.send.push(request.clone());
        let interval = Timer::A.initial(ctx.timers, ctx.reliability);
        if ctx.reliability == Reliability::Unreliable {
            ctx.table.set(Timer::A, ctx.now, interval);
        }
        ctx.arm(Timer::B);
        Self {
            request,
            state: State::Calling(Calling { interval }),
        }
    }

    /// The state, for [`super::Transactions::state`].
    pub(crate) fn state(&self) -> TxState {
        match self.state {
            State::Calling(_) => TxState::Calling,
            State::Proceeding => TxState::Proceeding,
            State::Completed(_) => TxState::Completed,
            State::Accepted => TxState::Accepted,
            State::Terminated => TxState::Terminated,
        }
    }

    /// Whether the final response has arrived (or the transaction ended without one): the request is
    /// no longer needed for an ACK or a CANCEL.
    pub(crate) fn has_final(&self) -> bool {
        !matches!(self.state, State::Calling(_) | State::Proceeding)
    }

    /// Feeds a matched response with status `code`. `ack` builds the ACK for a 300–699 response from the
    /// original request (RFC 3261 §17.1.1.3); it is called once, on the first such response.
    pub(crate) fn on_response(
        &mut self,
        ctx: &mut Ctx<'_>,
        code: u16,
        ack: impl FnOnce() -> Bytes,
    ) -> Delivery {
        let (next, delivery) = match mem::replace(&mut self.state, State::Terminated) {
            State::Calling(_) | State::Proceeding => match code {
                100..=199 => {
                    ctx.table.stop(Timer::A);
                    ctx.table.stop(Timer::B);
                    (State::Proceeding, Delivery::PassUp)
                }
                200..=299 => (Self::on_accepted(ctx), Delivery::PassUp),
                _ => {
                    let ack = ack();
                    ctx.send.push(ack.clone());
                    (Self::on_completed(ctx, ack), Delivery::PassUp)
                }
            },
            State::Completed(done) => {
                if code >= 300 {
                    ctx.send.push(done.ack.clone());
                }
                (State::Completed(done), Delivery::Absorbed)
            }
            State::Accepted => {
                let delivery = if (200..300).contains(&code) {
                    Delivery::PassUp
                } else {
                    Delivery::Absorbed
                };
                (State::Accepted, delivery)
            }
            State::Terminated => (State::Terminated, Delivery::Absorbed),
        };
        if !matches!(next, State::Calling(_)) {
            // Retransmitted only while Calling (Timer A).
            self.request = Bytes::new();
        }
        self.state = next;
        delivery
    }

    /// Acts on an expired timer; returns the timer if it means the transaction timed out.
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) -> Option<Timer> {
        let (next, timeout) = match (mem::replace(&mut self.state, State::Terminated), timer) {
            (State::Calling(calling), Timer::A) => {
                ctx.send.push(self.request.clone());
                let interval = doubled(calling.interval, None);
                ctx.table.set(Timer::A, ctx.now, interval);
                (State::Calling(Calling { interval }), None)
            }
            (State::Calling(_), Timer::B) => {
                ctx.table.clear();
                (State::Terminated, Some(Timer::B))
            }
            (State::Completed(_), Timer::D) | (State::Accepted, Timer::M) => {
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

    fn on_accepted(ctx: &mut Ctx<'_>) -> State {
        ctx.table.clear();
        ctx.arm(Timer::M);
        State::Accepted
    }

    fn on_completed(ctx: &mut Ctx<'_>, ack: Bytes) -> State {
        ctx.table.clear();
        if ctx.arm(Timer::D) {
            State::Completed(Completed { ack })
        } else {
            State::Terminated
        }
    }
}
