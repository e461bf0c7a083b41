//! IP fragment reassembly (RFC 791 §3.2 for IPv4, RFC 8200 §4.5 for IPv6), bounded in memory.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::ip::{Datagram, Fragment};

/// Datagrams being reassembled at once; the oldest is dropped beyond this.
const MAX_PENDING: usize = 256;
/// Largest reassembled payload accepted (an IPv4 datagram cannot exceed 65 535 bytes).
const MAX_DATAGRAM: usize = 65_535;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug, Default)]
struct Pending {
    /// `(offset, data)` in arrival order; later pieces overwrite earlier ones where they overlap.
    pieces: Vec<(usize, Vec<u8>)>,
    /// Payload length, known once the last fragment (no "more fragments") arrives.
    total: Option<usize>,
    /// Whether a fragment was cut short by the capture, so the datagram can never complete.
    damaged: bool,
}

/// Fragments waiting for the rest of their datagram.
#[derive(Debug, Default)]
pub(crate) struct Fragments {
    pending: HashMap<Key, Pending>,
    order: VecDeque<Key>,
}

impl Fragments {
    /// Adds a fragment; returns the reassembled payload when this one completes its datagram.
    pub(crate) fn add(&mut self, d: &Datagram<'_>, f: Fragment) -> Option<Vec<u8>> {
        let key = Key {
            src: d.src,
            dst: d.dst,
            proto: d.proto,
            id: f.id,
        };
        let end = f.offset.checked_add(d.payload.len())?;
        if end > MAX_DATAGRAM {
            return None;
        }
        if !self.pending.contains_key(&key) {
            if self.order.len() >= MAX_PENDING
                && let Some(old) = self.order.pop_front()
            {
                self.pending.remove(&old);
            }
            self.order.push_back(key.clone());
        }
        let p = self.pending.entry(key.clone()).or_default();
        p.pieces.push((f.offset, d.payload.to_vec()));
        p.damaged |= d.missing != 0;
        if !f.more {
            p.total = Some(end);
        }
        let total = p.total?;
        if p.damaged || !covers(&p.pieces, total) {
            return None;
        }
        let mut out = vec![0u8; total];
        for (off, data) in &p.pieces {
            let n = data.len().min(total.saturating_sub(*off));
            if let (Some(dst), Some(src)) =
                (out.get_mut(*off..off.saturating_add(n)), data.get(..n))
            {
                dst.copy_from_slice(src);
            }
        }
        self.pending.remove(&key);
        self.order.retain(|k| *k != key);
        Some(out)
    }
}

/// Whether the pieces leave no hole in `0..total`.
fn covers(pieces: &[(usize, Vec<u8>)], total: usize) -> bool {
    let mut spans: Vec<(usize, usize)> = pieces
        .iter()
        .map(|(o, d)| (*o, o.saturating_add(d.len())))
        .collect();
    spans.sort_unstable();
    let mut covered = 0usize;
    for (start, end) in spans {
        if start > covered {
            return false;
        }
        covered = covered.max(end);
    }
    covered >= total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn piece(payload: &[u8], offset: usize, more: bool) -> (Datagram<'_>, Fragment) {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        (
            Datagram {
                src: ip,
                dst: ip,
                proto: 17,
                payload,
                missing: 0,
                fragment: None,
            },
            Fragment {
                id: 7,
                offset,
                more,
            },
        )
    }

    #[test]
    fn out_of_order_fragments_complete() {
        let mut t = Fragments::default();
        let (d, f) = piece(b"efgh", 8, false);
        assert_eq!(t.add(&d, f), None);
        let (d, f) = piece(b"abcdefgh", 0, true);
        assert_eq!(t.add(&d, f).as_deref(), Some(&b"abcdefghefgh"[..]));
        assert!(t.pending.is_empty() && t.order.is_empty());
    }

    #[test]
    fn hole_waits() {
        let mut t = Fragments::default();
        let (d, f) = piece(b"abcdefgh", 0, true);
        assert_eq!(t.add(&d, f), None);
        let (d, f) = piece(b"x", 16, false);
        assert_eq!(t.add(&d, f), None);
    }
}
