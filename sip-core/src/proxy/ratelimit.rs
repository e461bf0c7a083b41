//! Per-source flood protection: a token bucket per source IP address (Kamailio's `pike` idea), so a
//! scanner hammering the port from one address is dropped while real users elsewhere are served.
//!
//! Each source starts with `burst` tokens, gains `rate_per_sec` tokens a second up to `burst`, and
//! spends one per request. A request finding the bucket empty is denied. The verdict says whether the
//! denial is the first since the source was last allowed, so the driver logs one line per flood burst,
//! not one per packet:
//!
//! ```text
//!            token available                        bucket empty
//!   Allow <───────────────── source ───────────────────────────> Deny{first_in_burst: true}
//!     ^                                                              │ still empty
//!     └──────────── refilled ─────── Deny{first_in_burst: false} <───┘
//! ```
//!
//! Memory is bounded by `max_sources`: when the table is full, sources whose bucket has refilled
//! completely (idle ones: forgetting them changes nothing) are evicted first, then the least recently
//! seen half. Time is milliseconds on any monotonic clock the driver picks.

use std::collections::HashMap;
use std::net::IpAddr;

/// Verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Process the request.
    Allow,
    /// Drop the request (for UDP, silently; a 503 would only feed the flood).
    Deny {
        /// This is the first denial since the source was last allowed: log it (once per burst).
        first_in_burst: bool,
    },
}

/// Token-bucket parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    /// Sustained requests per second per source.
    pub rate_per_sec: u32,
    /// Requests a source may send back to back after being idle.
    pub burst: u32,
    /// Sources tracked at most.
    pub max_sources: usize,
}

impl Default for RateConfig {
    /// 20 requests/s sustained, bursts of 100, 100,000 sources (about 5 MiB): generous for a phone
    /// or a small NAT of phones, far below a scanner's pace.
    fn default() -> Self {
        Self {
            rate_per_sec: 20,
            burst: 100,
            max_sources: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens in thousandths.
    milli_tokens: u64,
    /// Last refill time, ms.
    last_ms: u64,
    /// Whether the last verdict was a denial.
    denying: bool,
}

/// The per-source limiter.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    config: RateConfig,
    sources: HashMap<IpAddr, Bucket>,
    denied: u64,
}

impl RateLimiter {
    /// A limiter with `config` (a `rate_per_sec` or `burst` of 0 is raised to 1).
    pub fn new(config: RateConfig) -> Self {
        let config = RateConfig {
            rate_per_sec: config.rate_per_sec.max(1),
            burst: config.burst.max(1),
            max_sources: config.max_sources.max(2),
        };
        Self {
            config,
            sources: HashMap::new(),
            denied: 0,
        }
    }

    fn capacity(&self) -> u64 {
        u64::from(self.config.burst).saturating_mul(1000)
    }

    fn refill(&self, bucket: &mut Bucket, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(bucket.last_ms);
        let gained = elapsed.saturating_mul(u64::from(self.config.rate_per_sec));
        bucket.milli_tokens = bucket
            .milli_tokens
            .saturating_add(gained)
            .min(self.capacity());
        bucket.last_ms = bucket.last_ms.max(now_ms);
    }

    /// Charges one request from `source` at `now_ms`.
    pub fn check(&mut self, source: IpAddr, now_ms: u64) -> RateVerdict {
        if !self.sources.contains_key(&source) && self.sources.len() >= self.config.max_sources {
            self.evict(now_ms);
        }
        let full = self.capacity();
        let mut bucket = self.sources.get(&source).copied().unwrap_or(Bucket {
            milli_tokens: full,
            last_ms: now_ms,
            denying: false,
        });
        self.refill(&mut bucket, now_ms);
        let verdict = if let Some(left) = bucket.milli_tokens.checked_sub(1000) {
            bucket.milli_tokens = left;
            bucket.denying = false;
            RateVerdict::Allow
        } else {
            let first_in_burst = !bucket.denying;
            bucket.denying = true;
            self.denied = self.denied.saturating_add(1);
            RateVerdict::Deny { first_in_burst }
        };
        self.sources.insert(source, bucket);
        verdict
    }

    fn evict(&mut self, now_ms: u64) {
        let full = self.capacity();
        let rate = u64::from(self.config.rate_per_sec);
        self.sources.retain(|_, b| {
            let elapsed = now_ms.saturating_sub(b.last_ms);
            b.milli_tokens.saturating_add(elapsed.saturating_mul(rate)) < full
        });
        let limit = self.config.max_sources / 2;
        if self.sources.len() <= limit {
            return;
        }
        let mut seen: Vec<u64> = self.sources.values().map(|b| b.last_ms).collect();
        let cut = seen.len().saturating_sub(limit);
        let (_, threshold, _) = seen.select_nth_unstable(cut);
        let threshold = *threshold;
        self.sources.retain(|_, b| b.last_ms > threshold);
    }

    /// Sources currently tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Requests denied since the limiter was made (for metrics).
    pub fn denied_total(&self) -> u64 {
        self.denied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn burst_then_rate_then_recovery() {
        let mut l = RateLimiter::new(RateConfig {
            rate_per_sec: 10,
            burst: 5,
            max_sources: 10,
        });
        let scanner = ip(1);
        for _ in 0..5 {
            assert_eq!(l.check(scanner, 0), RateVerdict::Allow);
        }
        assert_eq!(
            l.check(scanner, 0),
            RateVerdict::Deny {
                first_in_burst: true
            }
        );
        assert_eq!(
            l.check(scanner, 50),
            RateVerdict::Deny {
                first_in_burst: false
            }
        );
        // 100 ms at 10/s is one token.
        assert_eq!(l.check(scanner, 100), RateVerdict::Allow);
        assert_eq!(
            l.check(scanner, 100),
            RateVerdict::Deny {
                first_in_burst: true
            }
        );
        assert_eq!(l.denied_total(), 3);
        // Meanwhile another source is unaffected.
        assert_eq!(l.check(ip(2), 100), RateVerdict::Allow);
        // After a long pause the bucket is full again, no more than `burst`.
        for _ in 0..5 {
            assert_eq!(l.check(scanner, 60_000), RateVerdict::Allow);
        }
        assert!(matches!(l.check(scanner, 60_000), RateVerdict::Deny { .. }));
    }

    #[test]
    fn memory_is_bounded_and_flooders_are_kept() {
        let mut l = RateLimiter::new(RateConfig {
            rate_per_sec: 1,
            burst: 2,
            max_sources: 100,
        });
        let flooder = ip(0xdead);
        for t in 0..3 {
            l.check(flooder, t);
        }
        assert!(matches!(l.check(flooder, 3), RateVerdict::Deny { .. }));
        for n in 0..10_000u32 {
            l.check(ip(n), 10 + u64::from(n));
            assert!(l.tracked() <= 100);
        }
        // A spoofed sweep may push the flooder out eventually; the table never exceeds its bound.
        assert!(l.tracked() <= 100);
    }

    #[test]
    fn idle_sources_are_evicted_first() {
        let mut l = RateLimiter::new(RateConfig {
            rate_per_sec: 1000,
            burst: 2,
            max_sources: 4,
        });
        let busy = ip(99);
        l.check(busy, 1_000);
        l.check(busy, 1_000);
        for n in 0..3 {
            l.check(ip(n), 0);
        }
        // At 1,000 ms sources 0..3 have refilled (idle) and go; the busy one keeps its empty bucket.
        l.check(ip(50), 1_000);
        assert_eq!(l.tracked(), 2);
        assert!(matches!(
            l.check(busy, 1_000),
            RateVerdict::Deny {
                first_in_burst: true
            }
        ));
    }
}
