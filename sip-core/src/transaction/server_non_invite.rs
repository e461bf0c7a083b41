//! The non-INVITE server transaction of RFC 3261 §17.2.2.
//!
//! ```text
//!                  request received: to TU
//!                          |
//!                          v
//!  request again:   +-----------+
//!  absorbed         |  Trying   |
//!                   +-----------+
//!                     |       | TU sends 1xx: send it
//!  TU sends 200-699:  |       v
//!  send it            |  +------------+ request again: resend the last 1xx
//!                     |  | Proceeding | TU sends 1xx: send it
//!                     |  +------------+
//!                     |       | TU sends 200-699: send it
//!                     v       v
//!                   +-----------+ request again: resend the final response
//!                   | Completed |
//!                   +-----------+
//!                         | J fires (64·T1 unreliable, 0 reliable)
//!                         v
//!                   +------------+
//!                   | Terminated |
//!                   +------------+
//! ```

use std::mem;

use bytes::Bytes;

use super::timers::Timer;
use super::{Ctx, TransactionError, TxState};

/// One non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for the TU's first response.
    Trying,
    /// A provisional went out; waiting for the TU's final response.
    Proceeding(Sent),
    /// The final response went out; answering retransmissions with it.
    Completed(Sent),
    /// Done; the layer removes the transaction.
    Terminated,
}

#[derive(Debug)]
struct Sent {
    /// The last response sent, resent on request retransmissions.
    last: Bytes,
}

impl ServerNonInvite {
    /// Creates the transaction for a newly received request.
    pub(crate) fn start() -> Self {
        Self {
            state: State::Trying,
        }
    }

    /// The state, for [`super::Transactions::state`].
    pub(crate) fn state(&self) -> TxState {
        match self.state {
            State::Trying => TxState::Trying,
            State::Proceeding(_) => TxState::Proceeding,
            State::Completed(_) => TxState::Completed,
            State::Terminated => TxState::Terminated,
        }
    }

    /// A retransmission of the request arrived: resend the last response, if any (§17.2.2).
    pub(crate) fn on_retransmission(&mut self, ctx: &mut Ctx<'_>) {
        if let State::Proceeding(sent) | State::Completed(sent) = &self.state {
            ctx.send.push(sent.last.clone());
        }
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
            (State::Trying | State::Proceeding(_), 100..=199) => {
                ctx.send.push(bytes.clone());
                (State::Proceeding(Sent { last: bytes }), Ok(()))
            }
            (State::Trying | State::Proceeding(_), 200..=699) => {
                ctx.send.push(bytes.clone());
                ctx.table.clear();
                let next = if ctx.arm(Timer::J) {
                    State::Completed(Sent { last: bytes })
                } else {
                    State::Terminated
                };
                (next, Ok(()))
            }
            (other, _) => (
                other,
                Err(TransactionError::ResponseNotAllowed { state, code }),
            ),
        };
        self.state = next;
        result
    }

    /// Acts on an expired timer. A non-INVITE server transaction never times out on its own.
    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer) {
        if let (State::Completed(_), Timer::J) = (&self.state, timer) {
            ctx.table.clear();
            self.state = State::Terminated;
        }
    }

    /// Whether the transaction has ended and can be removed.
    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }
}
