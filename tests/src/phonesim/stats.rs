//! Counters shared by every phone of a run, read by the CLI's summaries and by tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

macro_rules! counters {
    ($( $(#[$m:meta])* $name:ident, )*) => {
        /// Counters of a fleet (relaxed atomics; a snapshot is approximate while phones run).
        #[derive(Debug, Default)]
        pub struct Stats {
            $( $(#[$m])* pub $name: AtomicU64, )*
            latencies_us: Mutex<Vec<u32>>,
        }

        /// A copy of [`Stats`] at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Snapshot {
            $( $(#[$m])* pub $name: u64, )*
        }

        impl Stats {
            /// The counters now.
            pub fn snapshot(&self) -> Snapshot {
                Snapshot { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }
    };
}

counters! {
    /// TCP connections established.
    connects,
    /// Connection attempts that failed.
    connect_failures,
    /// Phones registered right now.
    registered,
    /// Registrations completed (TimeDateRes received), reconnections included.
    registrations,
    /// RegisterReject received.
    rejects,
    /// Connections lost or dropped.
    disconnects,
    /// KeepAlive sent.
    keepalives,
    /// KeepAliveAck received.
    keepalive_acks,
    /// Registration requests that got no answer in time.
    unanswered,
    /// Messages with an id phonesim has no use for.
    unknown,
    /// Messages whose body did not decode.
    malformed,
    /// Calls placed.
    calls_attempted,
    /// Placed calls that reached ringback or connected.
    calls_progressed,
    /// Placed calls that reached Connected.
    calls_connected,
    /// Placed calls that failed (busy, reorder, timeout, dropped).
    calls_failed,
    /// Incoming calls answered.
    calls_answered,
    /// RTP packets sent.
    rtp_sent,
    /// RTP packets received.
    rtp_received,
    /// UNIStim payloads the phones re-sent (RUDP retransmissions).
    retransmits,
    /// UNIStim datagrams dropped on purpose (injected loss, both directions).
    injected_losses,
    /// UNIStim datagrams sent out of order on purpose (injected reordering).
    injected_reorders,
    /// UNIStim watchdogs that expired (no Reset Watchdog from the server in time).
    watchdog_expiries,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records one call-setup latency.
    pub fn record_latency(&self, latency: Duration) {
        let us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        if let Ok(mut v) = self.latencies_us.lock() {
            v.push(us);
        }
    }

    /// Setup latency percentiles (`p` in 0..=100) over every call so far, or `None` before the first.
    pub fn latency_percentiles(&self, ps: &[f64]) -> Option<Vec<Duration>> {
        let mut v = self.latencies_us.lock().ok()?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(
            ps.iter()
                .map(|p| {
                    let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
                    Duration::from_micros(u64::from(v[rank.min(v.len() - 1)]))
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let stats = Stats::default();
        assert!(stats.latency_percentiles(&[50.0]).is_none());
        for ms in 1..=100 {
            stats.record_latency(Duration::from_millis(ms));
        }
        let p = stats.latency_percentiles(&[50.0, 99.0, 100.0]).unwrap();
        assert_eq!(p[0], Duration::from_millis(51));
        assert_eq!(p[1], Duration::from_millis(99));
        assert_eq!(p[2], Duration::from_millis(100));
        Stats::add(&stats.rtp_sent);
        assert_eq!(stats.snapshot().rtp_sent, 1);
    }
}
