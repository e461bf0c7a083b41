//! One secret hash key per process, for the values that must be unpredictable from outside but the
//! same for the same input for as long as the process runs: transaction keys in the maps (so a peer
//! cannot aim requests at one bucket) and the proxy's branches (so a forged response cannot be made
//! to match a branch it never saw).

use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};
use std::sync::OnceLock;

/// The process's keys (SipHash-1-3 with a random key, drawn on first use).
fn keys() -> &'static RandomState {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    KEYS.get_or_init(RandomState::new)
}

/// A hasher with the process's key.
fn hasher() -> DefaultHasher {
    keys().build_hasher()
}

/// [`hasher`] behind a small buffer. SipHash pays for every `write`, and a derived `Hash` makes
/// one per field, length prefix and discriminant (about 26 for a proxy's branch); the buffer hands
/// it the same bytes in a few long writes, so the hash is the one the unbuffered hasher gives.
pub(crate) fn gathered() -> Gathered {
    Gathered {
        buf: [0; GATHER],
        len: 0,
        inner: hasher(),
    }
}

const GATHER: usize = 128;

/// See [`gathered`].
pub(crate) struct Gathered {
    buf: [u8; GATHER],
    len: usize,
    inner: DefaultHasher,
}

impl Gathered {
    fn pending(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Hasher for Gathered {
    fn write(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(room) = self.buf.get_mut(self.len..end) {
            room.copy_from_slice(bytes);
            self.len = end;
            return;
        }
        self.inner
            .write(self.buf.get(..self.len).unwrap_or_default());
        self.len = 0;
        match self.buf.get_mut(..bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len = bytes.len();
            }
            None => self.inner.write(bytes),
        }
    }

    fn finish(&self) -> u64 {
        let mut inner = self.inner.clone();
        inner.write(self.pending());
        inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffer changes how the bytes reach SipHash, not which bytes: the same writes give the
    /// unbuffered hash, across the buffer's edge and for writes longer than it.
    #[test]
    fn gathering_gives_the_unbuffered_hash() {
        let long = [7u8; 300];
        let cases: [&[&[u8]]; 5] = [
            &[],
            &[b"a", b"", b"bc"],
            &[&long[..GATHER]],
            &[&long[..GATHER - 1], b"xy", b"z"],
            &[b"head", &long, b"tail", &long[..GATHER + 1], b"!"],
        ];
        for writes in cases {
            let mut plain = hasher();
            let mut buffered = gathered();
            for w in writes {
                plain.write(w);
                buffered.write(w);
            }
            assert_eq!(buffered.finish(), plain.finish(), "{writes:?}");
        }
        let mut a = gathered();
        a.write(b"x");
        assert_ne!(a.finish(), gathered().finish());
    }
}
