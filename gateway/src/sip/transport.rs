//! SIP transports on tokio: the UDP sockets and TCP listeners of `[sip] listen`, one reader task each,
//! a writer task per TCP connection, and a [`Transports`] handle that sends to a [`Peer`].
//!
//! Every received message goes to the SIP core over one channel as an [`Inbound`]. TCP connections are
//! kept by remote address, so responses go back on the connection their request came on and requests to
//! a TCP-registered contact reuse the contact's connection (RFC 3261 §18.2.2, RFC 5923 style reuse).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use sip_core::msg::Frame;

use crate::config::Transport;

/// The receive buffer asked for on SIP UDP sockets (the kernel caps it at `net.core.rmem_max`): a
/// registration storm arrives faster than one task reads for a moment, and a small default buffer
/// drops it, costing retransmissions.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;
/// The largest UDP datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Queued outbound messages per TCP connection before new ones are dropped.
const TCP_QUEUE: usize = 256;

/// The other end of a message: transport, remote address and the local address it came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// UDP or TCP.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// Our local address (which listener).
    pub local: SocketAddr,
}

/// A message received from a peer.
#[derive(Debug)]
pub struct Inbound {
    /// Who sent it.
    pub peer: Peer,
    /// What came.
    pub payload: Payload,
}

/// A whole UDP datagram (parsed by the SIP core), or a message framed and parsed off a TCP stream.
#[derive(Debug)]
pub enum Payload {
    /// A UDP datagram.
    Datagram(Bytes),
    /// A message from a stream.
    Message(Box<sip_core::msg::SipMessage>),
}

/// The bound listeners of `[sip] listen`.
#[derive(Debug, Default)]
pub struct SipListeners {
    /// UDP sockets.
    pub udp: Vec<Arc<UdpSocket>>,
    /// TCP listeners.
    pub tcp: Vec<TcpListener>,
}

impl SipListeners {
    /// Binds every `[sip] listen` entry.
    ///
    /// # Errors
    /// The first address that cannot be bound.
    pub async fn bind(entries: &[crate::config::SipListen]) -> std::io::Result<Self> {
        let mut out = Self::default();
        for entry in entries {
            match entry.transport {
                Transport::Udp => {
                    let socket = UdpSocket::bind(entry.addr)
                        .await
                        .map_err(|e| with_addr(e, "udp", entry.addr))?;
                    if let Err(e) =
                        socket2::SockRef::from(&socket).set_recv_buffer_size(UDP_RECEIVE_BUFFER)
                    {
                        tracing::debug!(error = %e, "cannot enlarge the SIP UDP receive buffer");
                    }
                    out.udp.push(Arc::new(socket));
                }
                Transport::Tcp => {
                    let listener = TcpListener::bind(entry.addr)
                        .await
                        .map_err(|e| with_addr(e, "tcp", entry.addr))?;
                    out.tcp.push(listener);
                }
            }
        }
        Ok(out)
    }

    /// Each bound address with its transport.
    pub fn addresses(&self) -> Vec<(Transport, SocketAddr)> {
        let udp = self
            .udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(|a| (Transport::Udp, a));
        let tcp = self
            .tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| (Transport::Tcp, a));
        udp.chain(tcp).collect()
    }
}

/// A UDP keep-alive (RFC 5626 CRLF pings over UDP are a single CRLF, some phones send empty or NUL
/// datagrams): nothing to answer.
pub(crate) fn is_keepalive(data: &[u8]) -> bool {
    data.iter().all(|b| matches!(b, b'\r' | b'\n' | 0))
}

fn with_addr(e: std::io::Error, transport: &str, addr: SocketAddr) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("sip.listen {transport}:{addr}: {e}"))
}

/// A UDP socket messages are sent on.
#[derive(Debug, Clone)]
enum UdpOut {
    /// A socket read by a reader task of the shared runtime.
    Reactor(Arc<UdpSocket>),
    /// The first socket, which the SIP core reads through a duplicate registered with its own runtime.
    /// This descriptor is registered with no reactor: were it registered with the shared runtime's, every
    /// datagram arriving would wake a worker thread of that runtime for nothing (edge-triggered epoll
    /// reports each arrival on every registered descriptor of the socket), measured at two needless
    /// wake-ups per registration.
    Plain(Arc<std::net::UdpSocket>),
}

impl UdpOut {
    fn send_to(&self, data: &[u8], addr: SocketAddr) -> std::io::Result<usize> {
        match self {
            Self::Reactor(s) => s.try_send_to(data, addr),
            Self::Plain(s) => s.send_to(data, addr),
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Self::Reactor(s) => s.local_addr(),
            Self::Plain(s) => s.local_addr(),
        }
    }
}

/// Sends messages to peers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Transports {
    udp: Arc<HashMap<SocketAddr, UdpOut>>,
    /// The first UDP socket, for peers whose local address is not one of ours (a default route).
    default_udp: Option<UdpOut>,
    tcp: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    tcp_local: Option<SocketAddr>,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
}

impl Transports {
    /// Starts a reader task per socket and listener but the first UDP socket, a duplicate of which is
    /// returned (non-blocking, registered with no runtime) for the SIP core to read itself; received
    /// messages go to `inbound`.
    ///
    /// # Errors
    /// The first UDP socket cannot be taken off the runtime or duplicated.
    pub fn start(
        listeners: SipListeners,
        inbound: mpsc::Sender<Inbound>,
        shutdown: CancellationToken,
    ) -> std::io::Result<(Self, Option<std::net::UdpSocket>)> {
        let mut udp_sockets = listeners.udp.into_iter();
        let (primary, core_socket) = match udp_sockets.next() {
            Some(first) => match Arc::try_unwrap(first) {
                Ok(socket) => {
                    let plain = socket.into_std()?;
                    let dup = plain.try_clone()?;
                    (Some(UdpOut::Plain(Arc::new(plain))), Some(dup))
                }
                // Shared elsewhere: it stays on the shared runtime and gets a reader task.
                Err(shared) => (Some(UdpOut::Reactor(shared)), None),
            },
            None => (None, None),
        };
        let others: Vec<Arc<UdpSocket>> = udp_sockets.collect();
        let udp: HashMap<_, _> = primary
            .iter()
            .cloned()
            .chain(others.iter().map(|s| UdpOut::Reactor(Arc::clone(s))))
            .filter_map(|s| s.local_addr().ok().map(|a| (a, s)))
            .collect();
        let tcp_local = listeners.tcp.first().and_then(|l| l.local_addr().ok());
        let this = Self {
            default_udp: primary.clone(),
            udp: Arc::new(udp),
            tcp: Arc::new(Mutex::new(HashMap::new())),
            tcp_local,
            inbound,
            shutdown,
        };
        // The first UDP socket is read by the SIP core itself (no channel hop per datagram); any
        // others get a reader task.
        if let Some(UdpOut::Reactor(shared)) = &primary {
            tokio::spawn(this.clone().udp_reader(Arc::clone(shared)));
        }
        for socket in others {
            tokio::spawn(this.clone().udp_reader(socket));
        }
        for listener in listeners.tcp {
            tokio::spawn(this.clone().tcp_acceptor(listener));
        }
        Ok((this, core_socket))
    }

    /// Sends `data` to `peer`: on the UDP socket of `peer.local`, or on the peer's TCP connection, which is
    /// opened if there is none. Failures are logged once per message and dropped: SIP retransmits.
    pub fn send(&self, peer: Peer, data: Bytes) {
        match peer.transport {
            Transport::Udp => {
                let socket = self.udp.get(&peer.local).or(self.default_udp.as_ref());
                if let Some(socket) = socket
                    && let Err(e) = socket.send_to(&data, peer.addr)
                {
                    tracing::debug!(peer = %peer.addr, error = %e, "udp send failed");
                }
            }
            Transport::Tcp => {
                let existing = self
                    .tcp
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&peer.addr).cloned());
                match existing {
                    Some(tx) => {
                        if tx.try_send(data).is_err() {
                            tracing::debug!(peer = %peer.addr, "tcp queue full or closed; message dropped");
                        }
                    }
                    None => {
                        let this = self.clone();
                        tokio::spawn(async move { this.connect_and_send(peer.addr, data).await });
                    }
                }
            }
        }
    }

    async fn connect_and_send(self, addr: SocketAddr, data: Bytes) {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let tx = self.clone().adopt(stream, addr);
                let _ = tx.try_send(data);
            }
            Err(e) => tracing::info!(peer = %addr, error = %e, "cannot open a TCP connection"),
        }
    }

    async fn udp_reader(self, socket: Arc<UdpSocket>) {
        let Ok(local) = socket.local_addr() else {
            return;
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::select! {
                () = self.shutdown.cancelled() => return,
                r = socket.recv_from(&mut buf) => r,
            };
            match received {
                Ok((n, addr)) => {
                    let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    if is_keepalive(&data) {
                        continue;
                    }
                    let peer = Peer {
                        transport: Transport::Udp,
                        addr,
                        local,
                    };
                    let payload = Payload::Datagram(data);
                    if self.inbound.send(Inbound { peer, payload }).await.is_err() {
                        return;
                    }
                }
                // ICMP port unreachable surfaces here on Linux as ECONNREFUSED: not fatal.
                Err(e) => tracing::trace!(error = %e, "udp receive error"),
            }
        }
    }

    async fn tcp_acceptor(self, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                () = self.shutdown.cancelled() => return,
                r = listener.accept() => r,
            };
            match accepted {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    self.clone().adopt(stream, addr);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Registers a connection and starts its reader and writer; returns its send queue.
    fn adopt(self, stream: TcpStream, addr: SocketAddr) -> mpsc::Sender<Bytes> {
        let local = stream.local_addr().ok().or(self.tcp_local).unwrap_or(addr);
        let (mut read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Bytes>(TCP_QUEUE);
        if let Ok(mut map) = self.tcp.lock() {
            map.insert(addr, tx.clone());
        }
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => break,
                    m = rx.recv() => m,
                };
                let Some(data) = next else { break };
                if write.write_all(&data).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        let peer = Peer {
            transport: Transport::Tcp,
            addr,
            local,
        };
        let pong = tx.clone();
        tokio::spawn(async move {
            let tx = pong;
            let mut framer = sip_core::msg::StreamFramer::new();
            let mut buf = BytesMut::with_capacity(8192);
            'read: loop {
                buf.clear();
                let n = tokio::select! {
                    () = self.shutdown.cancelled() => break,
                    r = read.read_buf(&mut buf) => r,
                };
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => framer.push(&buf),
                }
                loop {
                    match framer.next_frame() {
                        Ok(Some(Frame::Message(msg))) => {
                            let payload = Payload::Message(Box::new(msg));
                            if self.inbound.send(Inbound { peer, payload }).await.is_err() {
                                break 'read;
                            }
                        }
                        // RFC 5626 §4.4.1: a double-CRLF ping gets a single-CRLF pong.
                        Ok(Some(Frame::Ping)) => {
                            let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                        }
                        Ok(Some(Frame::Malformed { error, .. })) => {
                            tracing::debug!(peer = %addr, %error, "unparseable SIP message on TCP dropped");
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::info!(peer = %addr, error = %e, "closing TCP connection: unframeable SIP stream");
                            break 'read;
                        }
                    }
                }
            }
            if let Ok(mut map) = self.tcp.lock() {
                map.remove(&addr);
            }
        });
        tx
    }
}
