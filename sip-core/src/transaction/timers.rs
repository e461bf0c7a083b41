//! The timer values of RFC 3261 §17 (summarised in its Table 4 and Appendix A) and the fixed per-transaction
//! table of named deadlines.
//!
//! Every timer of the four machines is a [`Timer`] variant. Its starting value is worked out in one place,
//! [`Timer::initial`], from the three base values of [`Timers`] and the reliability of the transport. A
//! [`TimerTable`] keeps at most one deadline per named timer, in a fixed array, the way quinn keeps its
//! connection timers.

use std::time::{Duration, Instant};

/// The base timer values of RFC 3261 §17.1.1.1: T1 (round-trip estimate), T2 (the longest interval between
/// retransmissions of non-INVITE requests and INVITE responses) and T4 (how long a message may stay in the
/// network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// T1, the round-trip time estimate; RFC 3261 recommends 500 ms.
    pub t1: Duration,
    /// T2, the cap on retransmission intervals of non-INVITE requests and INVITE final responses; 4 s.
    pub t2: Duration,
    /// T4, the longest time a message stays in the network; 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1, the lifetime bound used by timers B, F, H, J, L and M.
    pub fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// Whether the transport below a transaction delivers reliably (RFC 3261 §18: TCP, TLS, SCTP) or not (UDP).
/// Only unreliable transports get retransmissions, and several wait timers drop to zero on reliable ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// A datagram transport such as UDP: the transaction layer retransmits.
    Unreliable,
    /// A stream transport such as TCP or TLS: no retransmissions, zero-length wait states.
    Reliable,
}

/// Declares [`Timer`], its table index and its documentation table in one place.
macro_rules! timers {
    ($($(#[$doc:meta])* $name:ident = $idx:literal, $label:literal;)*) => {
        /// The named timers of RFC 3261 §17 and RFC 6026, plus the automatic 100 Trying delay.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Timer {
            $($(#[$doc])* $name,)*
        }

        impl Timer {
            /// Every timer, in table order.
            pub const ALL: [Self; COUNT] = [$(Self::$name,)*];

            fn index(self) -> usize {
                match self {
                    $(Self::$name => $idx,)*
                }
            }

            /// The timer's name as the RFCs spell it (`"A"` … `"M"`; `"Trying"` for the automatic 100).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => $label,)*
                }
            }
        }
    };
}

const COUNT: usize = 13;

timers! {
    /// INVITE client, Calling: retransmit the request (unreliable only), interval doubling from T1 (§17.1.1.2).
    A = 0, "A";
    /// INVITE client, Calling: give up after 64·T1 without any response (§17.1.1.2).
    B = 1, "B";
    /// INVITE client, Completed: absorb final-response retransmissions for 32 s, or 0 on reliable transports.
    D = 2, "D";
    /// Non-INVITE client, Trying/Proceeding: retransmit the request, doubling from T1 up to T2 (§17.1.2.2).
    E = 3, "E";
    /// Non-INVITE client: give up after 64·T1 without a final response (§17.1.2.2).
    F = 4, "F";
    /// INVITE server, Completed: retransmit the final response, doubling from T1 up to T2 (§17.2.1).
    G = 5, "G";
    /// INVITE server, Completed: give up waiting for the ACK after 64·T1 (§17.2.1).
    H = 6, "H";
    /// INVITE server, Confirmed: absorb ACK retransmissions for T4, or 0 on reliable transports (§17.2.1).
    I = 7, "I";
    /// Non-INVITE server, Completed: absorb request retransmissions for 64·T1, or 0 on reliable (§17.2.2).
    J = 8, "J";
    /// Non-INVITE client, Completed: absorb response retransmissions for T4, or 0 on reliable (§17.1.2.2).
    K = 9, "K";
    /// INVITE server, Accepted: absorb INVITE retransmissions after a 2xx for 64·T1 (RFC 6026 §7.1).
    L = 10, "L";
    /// INVITE client, Accepted: pass further 2xx responses up for 64·T1 (RFC 6026 §7.2).
    M = 11, "M";
    /// INVITE server, Proceeding: send 100 Trying if the TU has not answered within 200 ms (§17.2.1).
    Trying = 12, "Trying";
}

/// The delay after which an INVITE server transaction answers 100 Trying on its own (RFC 3261 §17.2.1).
pub const AUTO_TRYING_DELAY: Duration = Duration::from_millis(200);

impl Timer {
    /// The value a timer starts with (RFC 3261 Table 4, RFC 6026 §8.4): retransmission timers start at T1,
    /// lifetime timers at 64·T1, and the wait timers D, I, J and K are zero over reliable transports.
    pub fn initial(self, timers: &Timers, reliability: Reliability) -> Duration {
        let reliable = reliability == Reliability::Reliable;
        match self {
            Self::A | Self::E | Self::G => timers.t1,
            Self::B | Self::F | Self::H | Self::L | Self::M => timers.t1_x64(),
            Self::D if reliable => Duration::ZERO,
            Self::D => Duration::from_secs(32).max(timers.t1_x64()),
            Self::I | Self::K if reliable => Duration::ZERO,
            Self::I | Self::K => timers.t4,
            Self::J if reliable => Duration::ZERO,
            Self::J => timers.t1_x64(),
            Self::Trying => AUTO_TRYING_DELAY,
        }
    }
}

/// Adds a duration to an instant without the possibility of a panic. `None` only if the sum is beyond what
/// the platform's clock can represent, in which case the timer is simply never due.
pub(crate) fn deadline(now: Instant, after: Duration) -> Option<Instant> {
    now.checked_add(after)
}

/// The next retransmission interval: double the last one, capped (RFC 3261 §17.1.2.2 and §17.2.1).
pub(crate) fn doubled(interval: Duration, cap: Option<Duration>) -> Duration {
    let next = interval.saturating_mul(2);
    match cap {
        Some(cap) => next.min(cap),
        None => next,
    }
}

/// One optional deadline per [`Timer`], in a fixed array (quinn `TimerTable`).
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    data: [Option<Instant>; COUNT],
}

impl TimerTable {
    /// Arms `timer` to fire `after` from `now`.
    pub(crate) fn set(&mut self, timer: Timer, now: Instant, after: Duration) {
        if let Some(slot) = self.data.get_mut(timer.index()) {
            *slot = deadline(now, after);
        }
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        if let Some(slot) = self.data.get_mut(timer.index()) {
            *slot = None;
        }
    }

    /// Disarms every timer.
    pub(crate) fn clear(&mut self) {
        self.data = [None; COUNT];
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.data.get(timer.index()).copied().flatten()
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.data.iter().flatten().min().copied()
    }

    /// The armed timer with the earliest deadline at or before `now`, disarmed as it is returned.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).filter(|at| *at <= now).map(|at| (at, t)))
            .min_by_key(|(at, _)| *at)
            .map(|(_, t)| t)?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_values_follow_rfc3261_table4() {
        let t = Timers::default();
        let u = Reliability::Unreliable;
        let r = Reliability::Reliable;
        assert_eq!(Timer::A.initial(&t, u), Duration::from_millis(500));
        assert_eq!(Timer::B.initial(&t, u), Duration::from_secs(32));
        assert_eq!(Timer::D.initial(&t, u), Duration::from_secs(32));
        assert_eq!(Timer::D.initial(&t, r), Duration::ZERO);
        assert_eq!(Timer::I.initial(&t, u), Duration::from_secs(5));
        assert_eq!(Timer::I.initial(&t, r), Duration::ZERO);
        assert_eq!(Timer::J.initial(&t, u), Duration::from_secs(32));
        assert_eq!(Timer::J.initial(&t, r), Duration::ZERO);
        assert_eq!(Timer::K.initial(&t, u), Duration::from_secs(5));
        assert_eq!(Timer::K.initial(&t, r), Duration::ZERO);
        assert_eq!(Timer::L.initial(&t, r), Duration::from_secs(32));
        assert_eq!(Timer::M.initial(&t, u), Duration::from_secs(32));
        assert_eq!(Timer::Trying.initial(&t, u), Duration::from_millis(200));
        // D is at least 64·T1 when T1 is raised (RFC 3261 §17.1.1.2).
        let slow = Timers {
            t1: Duration::from_secs(1),
            ..t
        };
        assert_eq!(Timer::D.initial(&slow, u), Duration::from_secs(64));
    }

    #[test]
    fn names_and_indices_are_distinct() {
        for (i, t) in Timer::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
        }
        assert_eq!(Timer::Trying.name(), "Trying");
        assert_eq!(Timer::H.name(), "H");
    }

    #[test]
    fn doubling_caps_at_t2() {
        let t2 = Some(Duration::from_secs(4));
        assert_eq!(doubled(Duration::from_secs(2), t2), Duration::from_secs(4));
        assert_eq!(doubled(Duration::from_secs(4), t2), Duration::from_secs(4));
        assert_eq!(
            doubled(Duration::from_secs(4), None),
            Duration::from_secs(8)
        );
        assert_eq!(doubled(Duration::MAX, None), Duration::MAX);
    }

    #[test]
    // The table only compares instants; any origin will do, and there is no other way to get one.
    #[allow(clippy::disallowed_methods)]
    fn table_pops_earliest_expired_first() {
        let now = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::B, now, Duration::from_secs(32));
        table.set(Timer::A, now, Duration::from_millis(500));
        assert_eq!(table.next(), now.checked_add(Duration::from_millis(500)));
        assert_eq!(table.pop_expired(now), None);
        let late = now + Duration::from_secs(40);
        assert_eq!(table.pop_expired(late), Some(Timer::A));
        assert_eq!(table.pop_expired(late), Some(Timer::B));
        assert_eq!(table.pop_expired(late), None);
        assert_eq!(table.next(), None);
    }
}
