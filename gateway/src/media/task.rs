//! The relay task of one call: a single future polling the call's four sockets, its command channel and
//! one timer (RFC 4733 sending and the expiry of received events).
//!
//! Each socket is drained with `poll_recv_from` into the task's one buffer (at most [`BURST`] packets per
//! wake-up, so a flood on one socket cannot starve the others), the packet is checked and rewritten in
//! place, and sent on with a plain non-blocking `sendto` on a duplicate of the other leg's socket (no
//! readiness bookkeeping: UDP toward a full buffer is dropped and counted, as the network would).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, UdpSocket as StdSocket};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tracing::Instrument;

use super::MediaEvent;
use super::ports::{Lease, PortPair};
use super::relay::RelayOptions;
use super::rfc4733::{self, Receiver, ScheduledPacket, TelephoneEvent};
use super::rtp::{self, RtpHeader};
use super::stats::{Counter, Shared};
use crate::call::{Direction, Dtmf};

/// Packets taken from one socket per wake-up before the task yields.
const BURST: usize = 32;
/// Larger than any RTP packet we relay (an Ethernet MTU); bigger datagrams are cut and dropped.
const BUF_LEN: usize = 1536;

/// What the handle asks of the task.
#[derive(Debug)]
pub(super) enum Command {
    PhoneRemote(SocketAddr),
    PhoneSourceIp(Option<std::net::IpAddr>),
    SipRemote {
        rtp: Option<SocketAddr>,
        telephone_event: Option<u8>,
        direction: Direction,
        /// `(the codec's static payload type, the one the SIP side uses for it)` when they differ.
        payload_map: Option<(u8, u8)>,
    },
    SipDirection(Direction),
    Hold(bool),
    Dtmf(Dtmf),
    /// Answered once every command before it has been applied.
    Applied(tokio::sync::oneshot::Sender<()>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leg {
    Phone = 0,
    Sip = 1,
}

/// Which of a leg's two sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Rtp,
    Rtcp,
}

/// One side of the call: its sockets (a tokio one to receive, a duplicate to send) and where it sends.
#[derive(Debug)]
struct Side {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    rtp_out: StdSocket,
    rtcp_out: StdSocket,
    /// The address announced by signalling (OpenReceiveChannelAck, SDP).
    announced: Option<SocketAddr>,
    /// Where RTP goes now: the announced address until latched.
    remote: Option<SocketAddr>,
    latched: bool,
    rtcp_remote: Option<SocketAddr>,
    rtcp_latched: bool,
    _lease: Lease,
}

impl Side {
    fn new(pair: PortPair) -> io::Result<Self> {
        let (rtp, rtcp, lease) = pair.into_parts();
        let rtp_out = rtp.try_clone()?;
        let rtcp_out = rtcp.try_clone()?;
        Ok(Self {
            rtp: UdpSocket::from_std(rtp)?,
            rtcp: UdpSocket::from_std(rtcp)?,
            rtp_out,
            rtcp_out,
            announced: None,
            remote: None,
            latched: false,
            rtcp_remote: None,
            rtcp_latched: false,
            _lease: lease,
        })
    }

    /// A new announced address: restart latching unless it is the one already announced.
    fn announce(&mut self, addr: Option<SocketAddr>) -> bool {
        if self.announced == addr {
            return false;
        }
        self.reopen(addr);
        true
    }

    /// A (re)opened receive side at `addr`: send there and latch again, even to the address already
    /// announced.
    fn reopen(&mut self, addr: Option<SocketAddr>) {
        self.announced = addr;
        self.remote = addr;
        self.latched = false;
        self.rtcp_remote = addr.map(rtcp_of);
        self.rtcp_latched = false;
    }

    fn socket(&self, port: Port) -> &UdpSocket {
        match port {
            Port::Rtp => &self.rtp,
            Port::Rtcp => &self.rtcp,
        }
    }
}

fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

/// The stream we send toward the SIP side: the phone's, with our RFC 4733 packets spliced in.
#[derive(Debug, Default)]
struct OutStream {
    /// The phone's SSRC (or ours, when keys were sent before the phone's first packet).
    ssrc: Option<u32>,
    /// Added to the phone's sequence numbers: +1 per packet we insert, −1 per phone packet we drop
    /// while sending a key, so the far end sees one gapless sequence.
    offset: u16,
    last_seq: u16,
    /// The phone's last timestamp and when its packet arrived, to place events on its clock.
    clock: Option<(u32, Instant)>,
}

impl OutStream {
    /// The RTP timestamp for `now` on the phone's clock (8 kHz for every codec we relay).
    fn timestamp_at(&self, now: Instant) -> u32 {
        match self.clock {
            Some((ts, at)) => {
                let ms = u32::try_from((now - at).as_millis()).unwrap_or(u32::MAX);
                ts.wrapping_add(ms.wrapping_mul(u32::from(rfc4733::UNITS_PER_MS)))
            }
            None => rand::random(),
        }
    }
}

/// A key press being sent.
#[derive(Debug)]
struct Sending {
    packets: Vec<ScheduledPacket>,
    next: usize,
    started: Instant,
    timestamp: u32,
}

impl Sending {
    fn due(&self) -> Option<Instant> {
        let p = self.packets.get(self.next)?;
        Some(self.started + units(p.at))
    }
}

fn units(at: u32) -> std::time::Duration {
    std::time::Duration::from_micros(u64::from(at) * 1000 / u64::from(rfc4733::UNITS_PER_MS))
}

/// The relay task's state.
pub(super) struct Engine {
    phone: Side,
    sip: Side,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<MediaEvent>,
    shared: std::sync::Arc<Shared>,
    latch_any_sip: bool,
    /// When set, the phone leg latches only to packets from this IP (the phone's signalling address).
    phone_ip: Option<std::net::IpAddr>,
    dtmf_expiry: std::time::Duration,
    held: bool,
    sip_direction: Direction,
    telephone_event: Option<u8>,
    payload_map: Option<(u8, u8)>,
    out: OutStream,
    queue: VecDeque<Dtmf>,
    sending: Option<Sending>,
    receiver: Receiver,
    receive_expiry: Option<Instant>,
    timer: Pin<Box<Sleep>>,
    logged: Logged,
    buf: Box<[u8; BUF_LEN]>,
    /// RTP that reached the SIP leg before any SDP address was known, held for the announcement.
    early: VecDeque<(SocketAddr, Vec<u8>)>,
}

/// How many early packets the SIP leg holds (320 ms of 20 ms audio).
///
/// A far end that answers starts sending at once to the address in our offer, while its 200 (with
/// the SDP that tells us its address) still travels through the proxy and the line user agent; in a
/// call between two of our own phones that is the norm, not the exception. Those packets are
/// legitimate, so they are held until the SDP address comes and then relayed if they came from it
/// (under the usual source rules), and dropped only if they did not.
const EARLY_MAX: usize = 16;

/// Conditions logged once per call.
#[derive(Debug, Default)]
struct Logged {
    malformed: bool,
    unexpected: bool,
}

impl Engine {
    pub(super) fn new(
        phone: PortPair,
        sip: PortPair,
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::Sender<MediaEvent>,
        shared: std::sync::Arc<Shared>,
        options: &RelayOptions,
    ) -> io::Result<Self> {
        Ok(Self {
            phone: Side::new(phone)?,
            sip: Side::new(sip)?,
            commands,
            events,
            shared,
            latch_any_sip: options.latch_any_sip_source,
            phone_ip: None,
            dtmf_expiry: options.dtmf_expiry,
            held: false,
            sip_direction: Direction::SendRecv,
            telephone_event: None,
            payload_map: None,
            out: OutStream::default(),
            queue: VecDeque::new(),
            sending: None,
            receiver: Receiver::new(),
            receive_expiry: None,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            logged: Logged::default(),
            buf: Box::new([0; BUF_LEN]),
            early: VecDeque::new(),
        })
    }

    /// Runs until the handle drops.
    pub(super) async fn run(mut self) {
        let span = tracing::debug_span!(
            "media",
            phone = ?self.phone.rtp.local_addr().ok(),
            sip = ?self.sip.rtp.local_addr().ok(),
        );
        async move {
            poll_fn(|cx| self.poll(cx)).await;
            tracing::debug!(stats = ?self.shared.snapshot(), "relay closed");
        }
        .instrument(span)
        .await;
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            loop {
                match self.commands.poll_recv(cx) {
                    Poll::Ready(Some(c)) => self.on_command(c),
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => break,
                }
            }
            let mut busy = false;
            for (leg, port) in [
                (Leg::Phone, Port::Rtp),
                (Leg::Sip, Port::Rtp),
                (Leg::Phone, Port::Rtcp),
                (Leg::Sip, Port::Rtcp),
            ] {
                busy |= self.drain(cx, leg, port);
            }
            let now = Instant::now();
            self.on_timer(now);
            if busy {
                // A socket still had packets after a burst: let other tasks run, then come back.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let Some(deadline) = self.deadline() else {
                return Poll::Pending;
            };
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// Receives up to [`BURST`] packets from one socket; true if it may have more.
    fn drain(&mut self, cx: &mut Context<'_>, leg: Leg, port: Port) -> bool {
        for _ in 0..BURST {
            let side = match leg {
                Leg::Phone => &self.phone,
                Leg::Sip => &self.sip,
            };
            let mut rb = ReadBuf::new(&mut self.buf[..]);
            match side.socket(port).poll_recv_from(cx, &mut rb) {
                Poll::Pending => return false,
                Poll::Ready(Ok(from)) => {
                    let len = rb.filled().len();
                    let now = Instant::now();
                    match port {
                        Port::Rtp => self.on_rtp(leg, len, from, now),
                        Port::Rtcp => self.on_rtcp(leg, len, from),
                    }
                }
                Poll::Ready(Err(e)) => {
                    // ICMP port unreachable from an earlier send surfaces here on Linux; harmless.
                    tracing::trace!(error = %e, "RTP socket error");
                }
            }
        }
        true
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::PhoneSourceIp(ip) => self.phone_ip = ip,
            Command::PhoneRemote(addr) => {
                // Each announcement is a reopened receive side (OpenReceiveChannelAck, a UNIStim Open
                // Audio Stream after hold), and the phone may now send from another source: a new
                // socket, a new NAT mapping. Latch again even when the address is unchanged, or the
                // leg stays latched to the old source and drops the phone's RTP.
                self.phone.reopen(Some(addr));
                self.shared.set_remote(Leg::Phone, Some(addr));
            }
            Command::SipRemote {
                rtp,
                telephone_event,
                direction,
                payload_map,
            } => {
                if self.sip.announce(rtp) {
                    self.shared.set_remote(Leg::Sip, rtp);
                    // A new peer: its event timestamps have nothing to do with the old one's.
                    if let Some(dtmf) = self.receiver.expire() {
                        self.report(dtmf);
                    }
                    self.receiver = Receiver::new();
                    self.receive_expiry = None;
                }
                self.telephone_event = telephone_event;
                self.sip_direction = direction;
                self.payload_map = payload_map;
                self.replay_early();
            }
            Command::SipDirection(d) => self.sip_direction = d,
            Command::Hold(on) => self.held = on,
            Command::Applied(done) => {
                let _ = done.send(());
            }
            Command::Dtmf(d) => {
                self.queue.push_back(d);
                if self.sending.is_none() {
                    self.start_next_key(Instant::now());
                }
            }
        }
    }

    fn to_sip_allowed(&self) -> bool {
        !self.held
            && matches!(
                self.sip_direction,
                Direction::SendRecv | Direction::RecvOnly
            )
    }

    fn to_phone_allowed(&self) -> bool {
        !self.held
            && matches!(
                self.sip_direction,
                Direction::SendRecv | Direction::SendOnly
            )
    }

    /// Whether a packet from `from` on `leg`'s RTP port is acceptable, latching if it is the first.
    fn accept_rtp_source(&mut self, leg: Leg, from: SocketAddr) -> bool {
        let latch_any = match leg {
            Leg::Phone => self.phone_ip.is_none_or(|ip| ip == from.ip()),
            Leg::Sip => self.latch_any_sip,
        };
        let side = match leg {
            Leg::Phone => &mut self.phone,
            Leg::Sip => &mut self.sip,
        };
        if side.latched {
            return side.remote == Some(from);
        }
        let fits = match side.remote {
            Some(r) => r == from || r.ip() == from.ip() || latch_any,
            None => latch_any,
        };
        if !fits {
            return false;
        }
        if side.remote != Some(from) {
            tracing::info!(leg = ?leg, announced = ?side.announced, source = %from, "RTP latched to its source");
        }
        side.remote = Some(from);
        side.latched = true;
        if !side.rtcp_latched {
            side.rtcp_remote = Some(rtcp_of(from));
        }
        self.shared.set_remote(leg, Some(from));
        true
    }

    fn count_unexpected(&mut self, leg: Leg, from: SocketAddr) {
        self.shared.add(Counter::UnexpectedSource, 1);
        if !self.logged.unexpected {
            self.logged.unexpected = true;
            tracing::warn!(leg = ?leg, source = %from, "dropping media from an unexpected source (logged once per call)");
        }
    }

    fn count_malformed(&mut self, leg: Leg, from: SocketAddr, why: &dyn std::fmt::Display) {
        self.shared.add(Counter::Malformed, 1);
        if !self.logged.malformed {
            self.logged.malformed = true;
            tracing::warn!(leg = ?leg, source = %from, error = %why, "dropping malformed media (logged once per call)");
        }
    }

    fn on_rtp(&mut self, leg: Leg, len: usize, from: SocketAddr, now: Instant) {
        let Some(packet) = self.buf.get(..len) else {
            return;
        };
        let header = match RtpHeader::parse(packet) {
            Ok(h) if len < BUF_LEN => h,
            Ok(_) => return self.count_malformed(leg, from, &"oversized datagram"),
            Err(e) => return self.count_malformed(leg, from, &e),
        };
        if !self.accept_rtp_source(leg, from) {
            if leg == Leg::Sip && self.sip.announced.is_none() && self.early.len() < EARLY_MAX {
                tracing::debug!(source = %from, "RTP before the far end's SDP, held");
                let held = self.buf.get(..len).unwrap_or_default().to_vec();
                self.early.push_back((from, held));
                return;
            }
            return self.count_unexpected(leg, from);
        }
        match leg {
            Leg::Phone => self.on_phone_rtp(header, len, now),
            Leg::Sip => self.on_sip_rtp(header, len, from, now),
        }
    }

    /// The SIP leg's address is known: the packets that came before it go through the source rules
    /// again (relayed if from the announced peer, counted as unexpected otherwise).
    fn replay_early(&mut self) {
        if self.sip.announced.is_none() {
            return;
        }
        let now = Instant::now();
        while let Some((from, packet)) = self.early.pop_front() {
            let len = packet.len();
            let Some(slot) = self.buf.get_mut(..len) else {
                continue;
            };
            slot.copy_from_slice(&packet);
            self.on_rtp(Leg::Sip, len, from, now);
        }
    }

    fn on_phone_rtp(&mut self, header: RtpHeader, len: usize, now: Instant) {
        self.shared.mark_first(Counter::FirstFromPhone, now);
        if self.out.ssrc != Some(header.ssrc) {
            // A new source (or the phone's first packet after keys sent under our own SSRC).
            self.out.ssrc = Some(header.ssrc);
            self.out.offset = 0;
        }
        self.out.clock = Some((header.timestamp, now));
        if self.sending.is_some() {
            self.out.offset = self.out.offset.wrapping_sub(1);
            self.shared.add(Counter::DuringDtmf, 1);
            return;
        }
        if !self.to_sip_allowed() {
            return self.shared.add(Counter::Held, 1);
        }
        let Some(dest) = self.sip.remote else {
            return self.shared.add(Counter::NoDestination, 1);
        };
        let seq = header.sequence.wrapping_add(self.out.offset);
        self.out.last_seq = seq;
        if self.out.offset != 0 {
            rtp::set_sequence(&mut self.buf[..len], seq);
        }
        if let Some((phone_pt, sip_pt)) = self.payload_map
            && header.payload_type == phone_pt
        {
            rtp::set_payload_type(&mut self.buf[..len], sip_pt);
        }
        self.send_counted(
            &self.sip.rtp_out,
            self.buf.get(..len),
            dest,
            Counter::PhoneToSipPackets,
            Counter::PhoneToSipBytes,
        );
    }

    fn on_sip_rtp(&mut self, header: RtpHeader, len: usize, from: SocketAddr, now: Instant) {
        self.shared.mark_first(Counter::FirstFromSip, now);
        if self.telephone_event == Some(header.payload_type) {
            let payload = header.payload(self.buf.get(..len).unwrap_or_default());
            let event = match TelephoneEvent::decode(payload) {
                Ok(e) => e,
                Err(e) => return self.count_malformed(Leg::Sip, from, &e),
            };
            for dtmf in self
                .receiver
                .handle(header.timestamp, event)
                .into_iter()
                .flatten()
            {
                self.report(dtmf);
            }
            self.receive_expiry = self.receiver.pending().then(|| now + self.dtmf_expiry);
            return;
        }
        if !self.to_phone_allowed() {
            return self.shared.add(Counter::Held, 1);
        }
        let Some(dest) = self.phone.remote else {
            return self.shared.add(Counter::NoDestination, 1);
        };
        if let Some((phone_pt, sip_pt)) = self.payload_map
            && header.payload_type == sip_pt
        {
            rtp::set_payload_type(&mut self.buf[..len], phone_pt);
        }
        self.send_counted(
            &self.phone.rtp_out,
            self.buf.get(..len),
            dest,
            Counter::SipToPhonePackets,
            Counter::SipToPhoneBytes,
        );
    }

    fn on_rtcp(&mut self, leg: Leg, len: usize, from: SocketAddr) {
        if !self.buf.get(..len).is_some_and(rtp::is_rtcp) {
            return self.count_malformed(leg, from, &"not RTCP on an RTCP port");
        }
        let latch_any = leg == Leg::Sip && self.latch_any_sip;
        let side = match leg {
            Leg::Phone => &mut self.phone,
            Leg::Sip => &mut self.sip,
        };
        let ok = if side.rtcp_latched {
            side.rtcp_remote == Some(from)
        } else {
            // The first RTCP comes from the RTP peer's IP (any port: NAT may map it anywhere).
            let ip_ok = side.remote.is_some_and(|r| r.ip() == from.ip())
                || (leg == Leg::Phone
                    && side.remote.is_none()
                    && self.phone_ip.is_none_or(|ip| ip == from.ip()))
                || latch_any;
            if ip_ok {
                side.rtcp_remote = Some(from);
                side.rtcp_latched = true;
            }
            ip_ok
        };
        if !ok {
            return self.count_unexpected(leg, from);
        }
        let (other, packets, bytes) = match leg {
            Leg::Phone => (
                &self.sip,
                Counter::RtcpPhoneToSipPackets,
                Counter::RtcpPhoneToSipBytes,
            ),
            Leg::Sip => (
                &self.phone,
                Counter::RtcpSipToPhonePackets,
                Counter::RtcpSipToPhoneBytes,
            ),
        };
        let Some(dest) = other.rtcp_remote else {
            return self.shared.add(Counter::NoDestination, 1);
        };
        self.send_counted(&other.rtcp_out, self.buf.get(..len), dest, packets, bytes);
    }

    /// Sends one packet and counts it. The counters go up before it leaves: whoever receives it (a
    /// test, a monitor reading the stats on another thread) never sees it uncounted. A failed send is
    /// taken back and counted as failed.
    fn send_counted(
        &self,
        socket: &StdSocket,
        packet: Option<&[u8]>,
        dest: SocketAddr,
        packets: Counter,
        bytes: Counter,
    ) -> bool {
        let len = packet.map_or(0, |p| p.len() as u64);
        self.shared.add(packets, 1);
        self.shared.add(bytes, len);
        let sent = send(socket, packet, dest);
        if !sent {
            self.shared.sub(packets, 1);
            self.shared.sub(bytes, len);
            self.shared.add(Counter::SendFailed, 1);
        }
        sent
    }

    fn report(&mut self, dtmf: Dtmf) {
        self.shared.add(Counter::DtmfReceived, 1);
        tracing::debug!(digit = %dtmf.digit, duration_ms = dtmf.duration_ms, "RFC 4733 key received");
        if self.events.try_send(MediaEvent::Dtmf(dtmf)).is_err() {
            tracing::debug!("media event dropped: the session is not reading them");
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let send = self.sending.as_ref().and_then(Sending::due);
        match (send, self.receive_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, now: Instant) {
        if self.receive_expiry.is_some_and(|t| t <= now) {
            self.receive_expiry = None;
            if let Some(dtmf) = self.receiver.expire() {
                self.report(dtmf);
            }
        }
        while let Some(sending) = &mut self.sending {
            let Some(due) = sending.due() else {
                self.sending = None;
                self.start_next_key(now);
                continue;
            };
            if due > now {
                break;
            }
            let (p, timestamp) = (
                sending.packets.get(sending.next).copied(),
                sending.timestamp,
            );
            sending.next += 1;
            if let Some(p) = p {
                self.send_event(p, timestamp);
            }
        }
    }

    fn start_next_key(&mut self, now: Instant) {
        let Some(dtmf) = self.queue.pop_front() else {
            return;
        };
        let Some(packets) = rfc4733::schedule_dtmf(dtmf) else {
            return;
        };
        if self.out.ssrc.is_none() {
            // Keys before the phone's first packet: a stream of our own, on a clock of our own.
            self.out.ssrc = Some(rand::random());
            self.out.last_seq = rand::random();
            self.out.clock = Some((rand::random(), now));
        }
        self.sending = Some(Sending {
            packets: packets.collect(),
            next: 0,
            started: now,
            timestamp: self.out.timestamp_at(now),
        });
    }

    fn send_event(&mut self, p: ScheduledPacket, timestamp: u32) {
        let (Some(pt), Some(dest)) = (self.telephone_event, self.sip.remote) else {
            return self.shared.add(Counter::NoDestination, 1);
        };
        if !self.to_sip_allowed() {
            return self.shared.add(Counter::Held, 1);
        }
        let seq = self.out.last_seq.wrapping_add(1);
        self.out.last_seq = seq;
        self.out.offset = self.out.offset.wrapping_add(1);
        let mut header = RtpHeader::new(pt, seq, timestamp, self.out.ssrc.unwrap_or(0));
        header.marker = p.marker;
        let mut packet = [0; rtp::FIXED_HEADER_LEN + rfc4733::EVENT_LEN];
        let len = header.write(&p.event.encode(), &mut packet).unwrap_or(0);
        if self.send_counted(
            &self.sip.rtp_out,
            packet.get(..len),
            dest,
            Counter::PhoneToSipPackets,
            Counter::PhoneToSipBytes,
        ) {
            self.shared.add(Counter::DtmfSent, 1);
        }
    }
}

/// One non-blocking `sendto`; false if the packet was not sent.
fn send(socket: &StdSocket, packet: Option<&[u8]>, dest: SocketAddr) -> bool {
    let Some(packet) = packet else { return false };
    match socket.send_to(packet, dest) {
        Ok(_) => true,
        Err(e) => {
            tracing::trace!(error = %e, %dest, "RTP send failed");
            false
        }
    }
}
