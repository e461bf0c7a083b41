//! Safe defaults shared by the TFTP and HTTP servers: source-address allow-lists (global and per tenant
//! domain) and a per-source rate limit on requests for unknown files.
//!
//! MAC enumeration is the classic attack on phone provisioning (tftptheft walks `SEP%012X.cnf.xml`): every
//! guess is a miss. Each source has a token bucket of misses; once it is empty, that source's requests
//! are refused without a lookup until the bucket refills, and the start of each such burst is logged once
//! with the peer, so enumeration is both slow and visible. Time comes in as an argument.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// An address block such as `10.1.0.0/16` or `2001:db8::/32`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the block. IPv4-mapped IPv6 addresses match IPv4 blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| {
            "expected an address block such as 10.1.0.0/16 or 2001:db8::/32".to_owned()
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix length must be 0..={max}"))?,
        };
        let cidr = Self { addr, prefix };
        // Host bits set (10.1.2.3/16) usually mean a typo; refuse rather than guess.
        let masked_equal = Self {
            addr: match addr {
                IpAddr::V4(a) => IpAddr::V4(
                    (u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
                        .into(),
                ),
                IpAddr::V6(a) => IpAddr::V6(
                    (u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0))
                        .into(),
                ),
            },
            prefix,
        };
        if masked_equal != cidr {
            return Err(format!("host bits are set; did you mean {masked_equal}?"));
        }
        Ok(cidr)
    }
}

/// The provisioning policy from `[provisioning]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Sources allowed to fetch anything; empty allows every source.
    pub allow: Vec<Cidr>,
    /// Per tenant domain: sources allowed to fetch that domain's device files (in addition to `allow`).
    pub allow_by_domain: Vec<(String, Vec<Cidr>)>,
    /// Misses a source may make at once.
    pub unknown_burst: u32,
    /// Misses a source regains per minute.
    pub unknown_per_minute: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            allow_by_domain: Vec::new(),
            unknown_burst: 20,
            unknown_per_minute: 30,
        }
    }
}

/// Sources tracked at most; beyond it idle (full) buckets are forgotten first.
const MAX_TRACKED: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
    limited: bool,
    refused: u64,
}

/// Why a request is refused before or after its lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The source is not in the allow-list.
    NotAllowed,
    /// The source made too many requests for unknown files.
    RateLimited,
}

/// The policy with its per-source state, shared by both servers.
#[derive(Debug)]
pub struct Guard {
    policy: Policy,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    bursts: AtomicU64,
}

impl Guard {
    /// A guard enforcing `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            buckets: Mutex::new(HashMap::new()),
            bursts: AtomicU64::new(0),
        }
    }

    /// How many bursts of unknown-file requests were limited (and logged) so far, over all sources.
    pub fn bursts(&self) -> u64 {
        self.bursts.load(Ordering::Relaxed)
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn refill_per_sec(&self) -> f64 {
        f64::from(self.policy.unknown_per_minute) / 60.0
    }

    /// Checked before the lookup: the global allow-list, then whether the source is rate limited.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        if !self.policy.allow.is_empty() && !self.policy.allow.iter().any(|c| c.contains(ip)) {
            return Err(Refusal::NotAllowed);
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = buckets.get_mut(&ip) else {
            return Ok(());
        };
        let burst = f64::from(self.policy.unknown_burst);
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.refill_per_sec()).min(burst);
        bucket.last = now;
        if bucket.limited && bucket.tokens >= burst {
            // The source was quiet long enough to refill: the burst is over.
            tracing::debug!(peer = %ip, refused = bucket.refused, "unknown-file burst over");
            bucket.limited = false;
            bucket.refused = 0;
        }
        if bucket.tokens >= 1.0 {
            Ok(())
        } else {
            bucket.refused = bucket.refused.saturating_add(1);
            Err(Refusal::RateLimited)
        }
    }

    /// Checked after the lookup found a file of `domain`: the domain's allow-list, if it has one.
    pub fn admit_domain(&self, domain: Option<&str>, ip: IpAddr) -> Result<(), Refusal> {
        let Some(domain) = domain else { return Ok(()) };
        match self
            .policy
            .allow_by_domain
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
        {
            Some((_, list)) if !list.iter().any(|c| c.contains(ip)) => Err(Refusal::NotAllowed),
            _ => Ok(()),
        }
    }

    /// Records a miss by `ip`; the miss that empties the bucket logs the start of a burst. A burst lasts
    /// until the bucket is full again, so a sweep slowed to the refill rate stays one burst, one line.
    pub fn record_miss(&self, ip: IpAddr, name: &str, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            let burst = f64::from(self.policy.unknown_burst);
            let rate = self.refill_per_sec();
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
            if buckets.len() >= MAX_TRACKED {
                return;
            }
        }
        let burst = f64::from(self.policy.unknown_burst);
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            last: now,
            limited: false,
            refused: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.refill_per_sec()).min(burst) - 1.0;
        bucket.last = now;
        if bucket.tokens < 1.0 && !bucket.limited {
            bucket.limited = true;
            self.bursts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer = %ip,
                file = name,
                burst = self.policy.unknown_burst,
                per_minute = self.policy.unknown_per_minute,
                "too many requests for unknown files: this source is rate limited (MAC enumeration?)"
            );
        }
    }

    /// How long until a limited source may try again, for HTTP `Retry-After`.
    pub fn retry_after(&self) -> Duration {
        if self.policy.unknown_per_minute == 0 {
            Duration::from_secs(3600)
        } else {
            Duration::from_secs((60 / u64::from(self.policy.unknown_per_minute)).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parses_and_matches() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("10.0.0.1")));
        assert_eq!(net.to_string(), "10.1.0.0/16");
        assert!(
            "10.1.2.3/16"
                .parse::<Cidr>()
                .unwrap_err()
                .contains("10.1.0.0/16")
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("tenant".parse::<Cidr>().is_err());
    }

    #[test]
    fn allow_lists_global_and_per_domain() {
        let guard = Guard::new(Policy {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            allow_by_domain: vec![(
                "acme.example.com".into(),
                vec!["10.1.0.0/16".parse().unwrap()],
            )],
            ..Policy::default()
        });
        let now = Instant::now();
        assert_eq!(guard.admit(ip("192.0.2.1"), now), Err(Refusal::NotAllowed));
        assert_eq!(guard.admit(ip("10.9.0.1"), now), Ok(()));
        assert_eq!(
            guard.admit_domain(Some("acme.example.com"), ip("10.9.0.1")),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            guard.admit_domain(Some("ACME.example.com"), ip("10.1.0.1")),
            Ok(())
        );
        assert_eq!(
            guard.admit_domain(Some("other.example.com"), ip("10.9.0.1")),
            Ok(())
        );
        assert_eq!(guard.admit_domain(None, ip("10.9.0.1")), Ok(()));
    }

    #[test]
    fn misses_are_limited_per_source_and_refill() {
        let guard = Guard::new(Policy {
            unknown_burst: 3,
            unknown_per_minute: 60,
            ..Policy::default()
        });
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        for _ in 0..2 {
            assert_eq!(guard.admit(a, t0), Ok(()));
            guard.record_miss(a, "SEP000000000001.cnf.xml", t0);
        }
        assert_eq!(guard.admit(a, t0), Ok(()));
        guard.record_miss(a, "SEP000000000002.cnf.xml", t0);
        assert_eq!(guard.admit(a, t0), Err(Refusal::RateLimited));
        assert_eq!(
            guard.admit(a, t0 + Duration::from_millis(500)),
            Err(Refusal::RateLimited)
        );
        // Another source is not affected.
        assert_eq!(guard.admit(b, t0), Ok(()));
        // One token per second comes back.
        assert_eq!(guard.admit(a, t0 + Duration::from_secs(2)), Ok(()));
        assert_eq!(guard.retry_after(), Duration::from_secs(1));
    }

    #[test]
    fn each_burst_is_logged_once() {
        let guard = Guard::new(Policy {
            unknown_burst: 2,
            unknown_per_minute: 60,
            ..Policy::default()
        });
        let a = ip("198.51.100.1");
        let t0 = Instant::now();
        {
            // A sweep of 50 guesses in one second: refused after the second, logged once.
            let mut refused = 0;
            for i in 0..50u32 {
                let now = t0 + Duration::from_millis(u64::from(i) * 20);
                if guard.admit(a, now).is_ok() {
                    guard.record_miss(a, &format!("SEP0000000000{i:02}.cnf.xml"), now);
                } else {
                    refused += 1;
                }
            }
            assert!(refused >= 45, "{refused}");
            assert_eq!(guard.bursts(), 1);
            // The sweep goes on at the refill rate for a minute: each regained miss is spent, and it is
            // still the same burst.
            let mut spent = 0;
            for s in 1..=60u64 {
                let now = t0 + Duration::from_secs(s) + Duration::from_millis(1);
                if guard.admit(a, now).is_ok() {
                    guard.record_miss(a, "SEP000000000077.cnf.xml", now);
                    spent += 1;
                }
            }
            assert!(spent >= 55, "{spent}");
            assert_eq!(guard.bursts(), 1);
            // Much later the bucket is full again; a second sweep is a second burst, logged once more.
            let later = t0 + Duration::from_secs(600);
            for i in 0..10u32 {
                let now = later + Duration::from_millis(u64::from(i));
                if guard.admit(a, now).is_ok() {
                    guard.record_miss(a, "SEP000000000099.cnf.xml", now);
                }
            }
            assert_eq!(guard.bursts(), 2);
        }
    }

    #[test]
    fn the_tracked_sources_are_bounded() {
        let guard = Guard::new(Policy {
            unknown_burst: 1,
            unknown_per_minute: 60,
            ..Policy::default()
        });
        let t0 = Instant::now();
        // A sweep from more addresses than are tracked: the table stays bounded.
        for i in 0..(MAX_TRACKED as u32 + 1000) {
            guard.record_miss(IpAddr::from(i.to_be_bytes()), "x", t0);
        }
        let tracked = guard.buckets.lock().unwrap().len();
        assert!(tracked <= MAX_TRACKED, "{tracked}");
        // Once their buckets have refilled, old sources are forgotten to make room for new ones.
        let later = t0 + Duration::from_secs(5);
        let fresh = IpAddr::from([203, 0, 113, 9]);
        guard.record_miss(fresh, "x", later);
        assert_eq!(guard.admit(fresh, later), Err(Refusal::RateLimited));
        assert!(guard.buckets.lock().unwrap().len() < 10);
    }
}
