//! The non-INVITE client transaction of RFC 3261 §17.1.2.
//!
//! ```text
//!               send request; E = T1 (unreliable), F = 64·T1
//!                          |
//!                          v
//!  E fires: resend,  +-----------+  F fires: Timeout event
//!  E = min(2E, T2)   |  Trying   | ------------------------------+
//!             +----- |           |                               |
//!             +----> +-----------+                               |
//!                     |        | 1xx: to TU                      |
//!  200-699: to TU     |        v                                 |
//!                     |   +------------+  E fires: resend, E = T2|
//!                     |   | Proceeding | <----+                  |
//!                     |   |            | -----+ 1xx: to TU       |
//!                     |   +------------+ ------------------------+
//!                     |        | 200-699: to TU   F fires: Timeout
//!                     v        v
//!                   +-----------+  responses absorbed
//!                   | Completed |
//!                   +-----------+
//!                         | K fires (T4 unreliable, 0 reliable)
//!                         v
//!                   +------------+
//!                   | Terminated |
//!                   +------------+
//! ```

use std::mem;
use std::time::Duration;

use bytes::Bytes;

use super::timers::{Reliability, Timer, doubled};
use super::{Ctx, Delivery, TxState};

/// One non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    request: Bytes,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for any response; retransmitting with a doubling interval.
    Trying(Retransmitting),
    /// A provisional arrived; retransmitting every T2 until the final response.
    Proceeding(Retransmitting),
    /// The final response arrived; absorbing its retransmissions.
    Completed,
    /// Done; the layer removes the transaction.
    Terminated,
}

#[derive(Debug)]
struct Retransmitting {
    /// The interval timer E was last armed with.
    interval: Duration,
}

impl ClientNonInvite {
    /// Sends the request and arms timers E (unreliable only) and F.
    pub(crate) fn start(ctx: &mut Ctx<'_>, request: Bytes) -> Self {
        ctx.send.push(request.clone());
        let interval = Timer::E.initial(ctx.timers, ctx.reliability);
        if ctx.reliability == Reliability::Unreliable {
            ctx.table.set(Timer::E, ctx.now, interval);
        }
        ctx.arm(Timer::F);
        Self {
            request,
            state: State::Trying(Retransmitting { interval }),
        }
    }

    /// The state, for [`super::Transactions::state`].
    pub(crate) fn state(&self) -> TxState {
        match self.state {
            State::Trying(_) => TxState::Trying,
            State::Proceeding(_) => TxState::Proceeding,
            State::Completed => TxState::Completed,
            State::Terminated => TxState::Terminated,
        }
    }

    /// Feeds a matched response with status `code`.
    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, code: u16) -> Delivery {
        let (next, delivery) = match mem::replace(&mut self.state, State::Terminated) {
            State::Trying(r) | State::Proceeding(r) if code < 200 => {
                (State::Proceeding(r), Delivery::PassUp)
            }
            State::Trying(_) | State::Proceeding(_) => {
                ctx.table.clear();
                let next = if ctx.arm(Timer::K) {
                    State::Completed
                } else {
                    State::Terminated
                };
                (next, Delivery::PassUp)
            }
            State::Completed => (State::Completed, Delivery::Absorbed),
            State::Terminated => (State::Terminated, Delivery::Absorbed),
        };
        self.state = next;
        delivery
    }

    /// Acts on an expired timer; returns the timer if it means the transaction timed out.
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) -> Option<Timer> {
        let (next, timeout) = match (mem::replace(&mut self.state, State::Terminated), timer) {
            (State::Trying(r), Timer::E) => {
                ctx.send.push(self.request.clone());
                let interval = doubled(r.interval, Some(ctx.timers.t2));
                ctx.table.set(Timer::E, ctx.now, interval);
                (State::Trying(Retransmitting { interval }), None)
            }
            (State::Proceeding(_), Timer::E) => {
                // §17.1.2.2: in Proceeding, retransmissions go out every T2.
                ctx.send.push(self.request.clone());
                let interval = ctx.timers.t2;
                ctx.table.set(Timer::E, ctx.now, interval);
                (State::Proceeding(Retransmitting { interval }), None)
            }
            (State::Trying(_) | State::Proceeding(_), Timer::F) => {
                ctx.table.clear();
                (State::Terminated, Some(Timer::F))
            }
            (State::Completed, Timer::K) => {
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
