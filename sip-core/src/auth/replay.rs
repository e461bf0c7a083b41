//! The bounded nonce-count table (RFC 2617 §3.2.2: "the server can detect replays by tracking the nc").
//!
//! For every nonce used with `qop` it keeps the highest `nc` accepted. The table holds at most
//! `capacity` nonces; when full it forgets those past their lifetime first and then the oldest
//! half, and raises a floor: a nonce issued at or before the newest forgotten one is answered as stale,
//! since its count history is gone. A legitimate client then just retries with a fresh nonce, so the
//! bound never opens a replay window.

use std::collections::BTreeMap;

use super::nonce::NonceId;

/// Outcome of presenting a nonce count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// Higher than any seen for this nonce: accepted and recorded.
    Fresh,
    /// Not above the last accepted count.
    Replayed,
    /// The nonce's history was evicted; treat it as stale.
    Forgotten,
}

/// Highest accepted nonce count per nonce, bounded.
#[derive(Debug, Clone)]
pub(crate) struct ReplayTable {
    seen: BTreeMap<NonceId, u32>,
    capacity: usize,
    /// Nonces issued at or before this time that are not in `seen` are [`Count::Forgotten`].
    floor: Option<u64>,
}

impl ReplayTable {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            seen: BTreeMap::new(),
            capacity: capacity.max(2),
            floor: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }

    /// Records `nc` for `id` if it is above the last accepted one. `expired_before` is the issue time
    /// below which nonces are past their lifetime (they may be dropped freely when the table is full).
    pub(crate) fn check(&mut self, id: NonceId, nc: u32, expired_before: u64) -> Count {
        if let Some(last) = self.seen.get_mut(&id) {
            if nc <= *last {
                return Count::Replayed;
            }
            *last = nc;
            return Count::Fresh;
        }
        if self.floor.is_some_and(|floor| id.issued <= floor) {
            return Count::Forgotten;
        }
        if self.seen.len() >= self.capacity {
            self.evict(expired_before);
        }
        self.seen.insert(id, nc);
        Count::Fresh
    }

    fn evict(&mut self, expired_before: u64) {
        self.seen.retain(|id, _| id.issued >= expired_before);
        let target = self.capacity / 2;
        while self.seen.len() > target {
            let Some((id, _)) = self.seen.pop_first() else {
                break;
            };
            self.floor = Some(self.floor.map_or(id.issued, |f| f.max(id.issued)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(issued: u64, seq: u32) -> NonceId {
        NonceId { issued, seq }
    }

    #[test]
    fn counts_must_increase() {
        let mut t = ReplayTable::new(8);
        assert_eq!(t.check(id(10, 0), 1, 0), Count::Fresh);
        assert_eq!(t.check(id(10, 0), 1, 0), Count::Replayed);
        assert_eq!(t.check(id(10, 0), 3, 0), Count::Fresh);
        assert_eq!(t.check(id(10, 0), 2, 0), Count::Replayed);
        assert_eq!(t.check(id(10, 1), 1, 0), Count::Fresh);
    }

    #[test]
    fn bounded_and_forgotten_nonces_are_stale() {
        let mut t = ReplayTable::new(4);
        for seq in 0..4 {
            assert_eq!(t.check(id(100 + u64::from(seq), seq), 1, 0), Count::Fresh);
        }
        // Full: the two oldest are dropped and the floor raised to 101.
        assert_eq!(t.check(id(200, 9), 1, 0), Count::Fresh);
        assert_eq!(t.len(), 3);
        assert_eq!(t.check(id(100, 0), 2, 0), Count::Forgotten);
        assert_eq!(t.check(id(101, 1), 2, 0), Count::Forgotten);
        assert_eq!(t.check(id(102, 2), 1, 0), Count::Replayed);
    }

    #[test]
    fn expired_entries_go_first() {
        let mut t = ReplayTable::new(4);
        for seq in 0..4 {
            t.check(id(10, seq), 1, 0);
        }
        // Everything issued before 50 is expired: all four go, no floor needed above them.
        t.check(id(60, 0), 1, 50);
        assert_eq!(t.len(), 1);
        assert_eq!(t.check(id(55, 1), 1, 50), Count::Fresh);
    }
}
