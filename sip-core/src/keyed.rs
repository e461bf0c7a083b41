//! One secret hash key per process, for the values that must be unpredictable from outside but the
//! same for the same input for as long as the process runs: transaction keys in the maps (so a peer
//! cannot aim requests at one bucket) and the proxy's branches (so a forged response cannot be made
//! to match a branch it never saw).

use std::hash::{BuildHasher, DefaultHasher, RandomState};
use std::sync::OnceLock;

/// The process's keys (SipHash-1-3 with a random key, drawn on first use).
pub(crate) fn keys() -> &'static RandomState {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    KEYS.get_or_init(RandomState::new)
}

/// A hasher with the process's key.
pub(crate) fn hasher() -> DefaultHasher {
    keys().build_hasher()
}
