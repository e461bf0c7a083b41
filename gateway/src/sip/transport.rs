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

/// Sends messages to peers; cheap to clone.
#[derive(Debug, Clone)]
pub struct Transports {
    udp: Arc<HashMap<SocketAddr, Arc<UdpSocket>>>,
    /// The first UDP socket, for peers whose local address is not one of ours (a default route).
    default_udp: Option<Arc<UdpSocket>>,
    tcp: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    tcp_local: Option<SocketAddr>,
    inbound: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
}

impl Transports {
    /// Starts a reader task per socket and listener but the first UDP socket, which is returned for the
    /// SIP core to read itself; received messages go to `inbound`.
    pub fn start(
        listeners: SipListeners,
        inbound: mpsc::Sender<Inbound>,
        shutdown: CancellationToken,
    ) -> (Self, Option<Arc<UdpSocket>>) {
        let udp: HashMap<_, _> = listeners
            .udp
            .iter()
            .filter_map(|s| s.local_addr().ok().map(|a| (a, Arc::clone(s))))
            .collect();
        let tcp_local = listeners.tcp.first().and_then(|l| l.local_addr().ok());
        let this = Self {
            default_udp: listeners.udp.first().cloned(),
            udp: Arc::new(udp),
            tcp: Arc::new(Mutex::new(HashMap::new())),
            tcp_local,
            inbound,
            shutdown,
        };
        // The first UDP socket is read by the SIP core itself (no channel hop per datagram); any
        // others get a reader task.
        let mut udp = listeners.udp.into_iter();
        let primary = udp.next();
        for socket in udp {
            tokio::spawn(this.clone().udp_reader(socket));
        }
        for listener in listeners.tcp {
            tokio::spawn(this.clone().tcp_acceptor(listener));
        }
        (this, primary)
    }

    /// Sends `data` to `peer`: on the UDP socket of `peer.local`, or on the peer's TCP connection, which is
    /// opened if there is none. Failures are logged once per message and dropped: SIP retransmits.
    pub fn send(&self, peer: Peer, data: Bytes) {
        match peer.transport {
            Transport::Udp => {
                let socket = self.udp.get(&peer.local).or(self.default_udp.as_ref());
                if let Some(socket) = socket
                    && let Err(e) = socket.try_send_to(&data, peer.addr)
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
