//! RTP/RTCP port pairs from `[media] rtp_ports`: an even RTP port and the odd RTCP port above it,
//! handed out round-robin (a port just released is the last to be reused, so late packets of an old
//! call do not reach a new one), never twice at once, and given back when the [`PortPair`] drops.
//! Ports the OS refuses (another program holds them) are skipped.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, PoisonError};

use super::MediaError;

/// Allocates port pairs from a range; cheap to clone (all clones share the pool).
#[derive(Debug, Clone)]
pub struct PortPool {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    bind_ip: IpAddr,
    /// The even RTP ports whose RTCP port is in range too.
    first: u16,
    pairs: u16,
    range: RangeInclusive<u16>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Index of the pair to try next.
    cursor: u16,
    in_use: HashSet<u16>,
}

/// Two bound sockets: RTP on an even port, RTCP on the next. Returns its ports to the pool on drop.
#[derive(Debug)]
pub struct PortPair {
    /// The RTP socket (non-blocking).
    pub rtp: UdpSocket,
    /// The RTCP socket (non-blocking).
    pub rtcp: UdpSocket,
    lease: Lease,
}

impl PortPair {
    /// The RTP socket's local address.
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(self.lease.pool.bind_ip, self.lease.port)
    }

    /// Splits into the sockets and the lease that returns the port when dropped.
    pub fn into_parts(self) -> (UdpSocket, UdpSocket, Lease) {
        (self.rtp, self.rtcp, self.lease)
    }
}

/// The reservation of one pair; dropping it gives the pair back.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    port: u16,
}

impl Lease {
    /// The RTP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.lock().in_use.remove(&self.port);
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PortPool {
    /// A pool over the even ports of `ports` (and the odd port above each), bound on `bind_ip`.
    pub fn new(bind_ip: IpAddr, ports: RangeInclusive<u16>) -> Self {
        let (low, high) = (*ports.start(), *ports.end());
        let first = low.saturating_add(low % 2);
        let pairs = if high > first {
            (high - 1 - first) / 2 + 1
        } else {
            0
        };
        Self {
            inner: Arc::new(Pool {
                bind_ip,
                first,
                pairs,
                range: ports,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The address the sockets bind to.
    pub fn bind_ip(&self) -> IpAddr {
        self.inner.bind_ip
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        usize::from(self.inner.pairs)
    }

    /// How many pairs are leased now.
    pub fn in_use(&self) -> usize {
        self.inner.lock().in_use.len()
    }

    /// Binds the next free pair.
    ///
    /// # Errors
    /// [`MediaError::PortsExhausted`] when every pair is leased or refused by the OS;
    /// [`MediaError::Bind`] when binding fails for another reason than the port being taken (such as an
    /// address not on this host).
    pub fn allocate(&self) -> Result<PortPair, MediaError> {
        let pool = &self.inner;
        let mut state = pool.lock();
        for _ in 0..pool.pairs {
            let index = state.cursor;
            state.cursor = if index + 1 >= pool.pairs {
                0
            } else {
                index + 1
            };
            let port = pool.first + 2 * index;
            if state.in_use.contains(&port) {
                continue;
            }
            match bind_pair(pool.bind_ip, port) {
                Ok((rtp, rtcp)) => {
                    state.in_use.insert(port);
                    return Ok(PortPair {
                        rtp,
                        rtcp,
                        lease: Lease {
                            pool: Arc::clone(pool),
                            port,
                        },
                    });
                }
                Err(e) if refused(&e) => {
                    tracing::debug!(port, error = %e, "RTP port refused by the OS, trying the next");
                }
                Err(source) => {
                    return Err(MediaError::Bind {
                        addr: SocketAddr::new(pool.bind_ip, port),
                        source,
                    });
                }
            }
        }
        Err(MediaError::PortsExhausted {
            range: pool.range.clone(),
            in_use: state.in_use.len(),
        })
    }
}

fn refused(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
    )
}

fn bind_pair(ip: IpAddr, port: u16) -> io::Result<(UdpSocket, UdpSocket)> {
    let rtp = UdpSocket::bind(SocketAddr::new(ip, port))?;
    let rtcp = UdpSocket::bind(SocketAddr::new(ip, port + 1))?;
    rtp.set_nonblocking(true)?;
    rtcp.set_nonblocking(true)?;
    Ok((rtp, rtcp))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A free even-aligned block of `len` ports, found by binding port 0 and looking around it.
    fn free_block(len: u16) -> u16 {
        for _ in 0..100 {
            let probe = UdpSocket::bind((LOOPBACK, 0)).unwrap();
            let base = probe.local_addr().unwrap().port() & !1;
            drop(probe);
            if base > 1024
                && base.checked_add(len).is_some()
                && (base..base + len).all(|p| UdpSocket::bind((LOOPBACK, p)).is_ok())
            {
                return base;
            }
        }
        panic!("no free block of {len} ports");
    }

    #[test]
    fn capacity_counts_whole_pairs() {
        let cap = |r| PortPool::new(LOOPBACK, r).capacity();
        assert_eq!(cap(16384..=16387), 2);
        assert_eq!(cap(16385..=16388), 1); // 16386/16387 only; 16388 has no RTCP port
        assert_eq!(cap(16384..=16384), 0);
        assert_eq!(cap(16384..=16385), 1);
        assert_eq!(cap(16384..=32767), 8192);
        assert_eq!(cap(65534..=65535), 1);
    }

    #[test]
    fn pairs_are_even_distinct_and_exhaust_with_an_error() {
        let base = free_block(8);
        let pool = PortPool::new(LOOPBACK, base..=base + 7);
        let pairs: Vec<_> = (0..4).map(|_| pool.allocate().unwrap()).collect();
        let ports: HashSet<u16> = pairs.iter().map(|p| p.local().port()).collect();
        assert_eq!(ports.len(), 4);
        for p in &pairs {
            let port = p.local().port();
            assert_eq!(port % 2, 0);
            assert_eq!(p.rtcp.local_addr().unwrap().port(), port + 1);
            assert_eq!(p.rtp.local_addr().unwrap().port(), port);
        }
        assert_eq!(pool.in_use(), 4);
        let err = pool.allocate().unwrap_err();
        assert!(
            matches!(err, MediaError::PortsExhausted { in_use: 4, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&format!("{base}-{}", base + 7)));
    }

    #[test]
    fn released_pairs_are_reused_last() {
        let base = free_block(6);
        let pool = PortPool::new(LOOPBACK, base..=base + 5);
        let a = pool.allocate().unwrap();
        let a_port = a.local().port();
        drop(a);
        assert_eq!(pool.in_use(), 0);
        // Round-robin: the next two are the other pairs, then the first comes back.
        let b = pool.allocate().unwrap();
        let c = pool.allocate().unwrap();
        assert_ne!(b.local().port(), a_port);
        assert_ne!(c.local().port(), a_port);
        let d = pool.allocate().unwrap();
        assert_eq!(d.local().port(), a_port);
    }

    #[test]
    fn ports_taken_by_others_are_skipped() {
        let base = free_block(6);
        // Someone else holds the RTCP port of the first pair and the RTP port of the second.
        let _squat1 = UdpSocket::bind((LOOPBACK, base + 1)).unwrap();
        let _squat2 = UdpSocket::bind((LOOPBACK, base + 2)).unwrap();
        let pool = PortPool::new(LOOPBACK, base..=base + 5);
        let only = pool.allocate().unwrap();
        assert_eq!(only.local().port(), base + 4);
        assert!(matches!(
            pool.allocate(),
            Err(MediaError::PortsExhausted { in_use: 1, .. })
        ));
    }

    #[test]
    fn an_address_not_on_this_host_is_a_bind_error() {
        // TEST-NET-1 (RFC 5737) is never a local address.
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 20000..=20003);
        assert!(matches!(pool.allocate(), Err(MediaError::Bind { .. })));
    }
}
