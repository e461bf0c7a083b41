//! The media relay over loopback with real UDP sockets: a fake phone and a fake SIP peer exchange RTP
//! through a [`RelayCall`]; RFC 4733 output is checked by tshark, and sipp echoes RTP as a real peer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdSocket};
use std::time::Duration;

use gateway::call::{Codec, Direction, Dtmf, MediaDescription};
use gateway::media::rfc4733::{self, TelephoneEvent};
use gateway::media::rtp::RtpHeader;
use gateway::media::{MediaError, MediaEvent, MediaRelay, RelayCall, RelayOptions};
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep, timeout};

pub(crate) const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub(crate) const TE: u8 = 101;

/// A range of `len` free ports for one test's relay (tests run in parallel; each gets its own block).
pub(crate) fn free_range(len: u16) -> std::ops::RangeInclusive<u16> {
    for _ in 0..200 {
        let probe = StdSocket::bind((LOOPBACK, 0)).expect("probe");
        let base = probe.local_addr().expect("addr").port() & !1;
        drop(probe);
        if base > 1024
            && base.checked_add(len).is_some()
            && (base..base + len).all(|p| StdSocket::bind((LOOPBACK, p)).is_ok())
        {
            return base..=base + len - 1;
        }
    }
    panic!("no free block of {len} ports");
}

pub(crate) fn relay() -> MediaRelay {
    MediaRelay::new(LOOPBACK, free_range(16))
}

pub(crate) fn description(rtp: SocketAddr, direction: Direction) -> MediaDescription {
    MediaDescription {
        rtp,
        codec: Codec::Pcmu,
        payload_type: 0,
        ptime_ms: 20,
        telephone_event: Some(TE),
        direction,
    }
}

/// One end of a call: a socket and its RTP stream.
pub(crate) struct Peer {
    pub(crate) sock: UdpSocket,
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
}

impl Peer {
    pub(crate) async fn bind(ip: IpAddr, ssrc: u32) -> Self {
        Self {
            sock: UdpSocket::bind((ip, 0)).await.expect("bind"),
            ssrc,
            seq: 1000,
            ts: 8000,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("addr")
    }

    /// Sends one 20 ms G.711 packet whose payload is filled with `fill`.
    pub(crate) async fn send_audio(&mut self, to: SocketAddr, fill: u8) {
        let pkt = RtpHeader::new(0, self.seq, self.ts, self.ssrc).to_vec(&[fill; 160]);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        self.sock.send_to(&pkt, to).await.expect("send");
    }

    /// The next datagram, or `None` after `wait`.
    pub(crate) async fn recv(&self, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0; 2048];
        let (n, from) = timeout(wait, self.sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        buf.truncate(n);
        Some((buf, from))
    }

    /// Every datagram until `quiet` passes without one.
    pub(crate) async fn drain(&self, quiet: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some((p, _)) = self.recv(quiet).await {
            out.push(p);
        }
        out
    }
}

/// A phone and a SIP peer wired to a fresh call, both remotes announced.
pub(crate) async fn wired(relay: &MediaRelay) -> (RelayCall, Peer, Peer) {
    let call = relay.open().expect("open");
    let phone = Peer::bind(LOOPBACK, 0x1111_1111).await;
    let sip = Peer::bind(LOOPBACK, 0x2222_2222).await;
    call.set_phone_remote(phone.addr());
    call.set_sip_remote(&description(sip.addr(), Direction::SendRecv));
    (call, phone, sip)
}

pub(crate) const WAIT: Duration = Duration::from_secs(2);
pub(crate) const QUIET: Duration = Duration::from_millis(250);

#[tokio::test]
async fn rtp_flows_both_ways_and_the_counts_match() {
    let relay = relay();
    let (call, mut phone, mut sip) = wired(&relay).await;
    for i in 0..50u8 {
        phone.send_audio(call.phone_local(), i).await;
        sip.send_audio(call.sip_local(), i).await;
    }
    let at_sip = sip.drain(QUIET).await;
    let at_phone = phone.drain(QUIET).await;
    assert_eq!((at_sip.len(), at_phone.len()), (50, 50));
    // Untouched: the same header (sequence, SSRC) and payload as sent.
    for (i, p) in at_sip.iter().enumerate() {
        let h = RtpHeader::parse(p).expect("rtp");
        assert_eq!(h.ssrc, 0x1111_1111);
        assert_eq!(usize::from(h.sequence - 1000), i);
        assert_eq!(h.payload(p), [u8::try_from(i).expect("small"); 160]);
    }
    let s = call.stats();
    assert_eq!((s.phone_to_sip.packets, s.sip_to_phone.packets), (50, 50));
    assert_eq!(
        (s.phone_to_sip.bytes, s.sip_to_phone.bytes),
        (50 * 172, 50 * 172)
    );
    assert!(s.first_from_phone.is_some() && s.first_from_sip.is_some());
    assert_eq!(s.dropped, Default::default());
    assert_eq!(
        (s.phone_remote, s.sip_remote),
        (Some(phone.addr()), Some(sip.addr()))
    );
}

#[tokio::test]
async fn the_phone_leg_latches_to_the_real_source() {
    let relay = relay();
    let call = relay.open().expect("open");
    // The phone announced `announced` (its address inside the NAT) but sends from `natted`.
    let announced = Peer::bind(LOOPBACK, 1).await;
    let mut natted = Peer::bind(LOOPBACK, 0xaaaa).await;
    let mut sip = Peer::bind(LOOPBACK, 0xbbbb).await;
    call.set_phone_remote(announced.addr());
    call.set_sip_remote(&description(sip.addr(), Direction::SendRecv));
    // Before the phone's first packet the relay sends to the announced address.
    sip.send_audio(call.sip_local(), 1).await;
    assert!(announced.recv(WAIT).await.is_some());
    natted.send_audio(call.phone_local(), 2).await;
    assert!(sip.recv(WAIT).await.is_some());
    sip.send_audio(call.sip_local(), 3).await;
    let (_, from) = natted.recv(WAIT).await.expect("latched");
    assert_eq!(
        from,
        call.phone_local(),
        "symmetric: sent from the port the phone sends to"
    );
    assert!(announced.recv(QUIET).await.is_none());
    assert_eq!(call.stats().phone_remote, Some(natted.addr()));
    // Anyone else sending to the phone leg now is dropped and counted.
    let mut intruder = Peer::bind(LOOPBACK, 0xdead).await;
    intruder.send_audio(call.phone_local(), 4).await;
    assert!(sip.recv(QUIET).await.is_none());
    assert_eq!(call.stats().dropped.unexpected_source, 1);
    // A new announcement (a reopened receive channel) starts latching again.
    let mut moved = Peer::bind(LOOPBACK, 0xaaaa).await;
    call.set_phone_remote(moved.addr());
    sip.send_audio(call.sip_local(), 5).await;
    assert!(moved.recv(WAIT).await.is_some());
    moved.send_audio(call.phone_local(), 6).await;
    assert!(sip.recv(WAIT).await.is_some());
}

/// The phone's receive side reopened at the address it announced before (a UNIStim phone's audio
/// stream after hold and resume: the gateway names the same port, the phone's new socket may send from
/// another): the leg latches to the new source instead of staying on the old one.
#[tokio::test]
async fn a_phone_stream_reopened_at_the_same_address_latches_again() {
    let relay = relay();
    let call = relay.open().expect("open");
    let announced = Peer::bind(LOOPBACK, 1).await;
    let mut before = Peer::bind(LOOPBACK, 0xaaaa).await;
    let mut sip = Peer::bind(LOOPBACK, 0xbbbb).await;
    call.set_phone_remote(announced.addr());
    call.set_sip_remote(&description(sip.addr(), Direction::SendRecv));
    before.send_audio(call.phone_local(), 1).await;
    assert!(sip.recv(WAIT).await.is_some());
    sip.send_audio(call.sip_local(), 2).await;
    assert!(
        before.recv(WAIT).await.is_some(),
        "latched to the first source"
    );
    // Held, resumed: the same announcement, a new source.
    let mut after = Peer::bind(LOOPBACK, 0xaaab).await;
    call.set_phone_remote(announced.addr());
    after.send_audio(call.phone_local(), 3).await;
    assert!(sip.recv(WAIT).await.is_some(), "the new source is relayed");
    sip.send_audio(call.sip_local(), 4).await;
    assert!(
        after.recv(WAIT).await.is_some(),
        "latched to the new source"
    );
    assert!(before.recv(QUIET).await.is_none());
    assert_eq!(call.stats().phone_remote, Some(after.addr()));
}

#[tokio::test]
async fn the_sip_leg_latches_within_the_sdp_address_only() {
    let relay = relay();
    let call = relay.open().expect("open");
    let mut phone = Peer::bind(LOOPBACK, 0x1).await;
    let sdp = Peer::bind(LOOPBACK, 0x2).await;
    call.set_phone_remote(phone.addr());
    call.set_sip_remote(&description(sdp.addr(), Direction::SendRecv));
    // A peer on another IP (127.0.0.2 is loopback too on Linux) is not the SDP's: dropped.
    let mut stranger = Peer::bind(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0x3).await;
    stranger.send_audio(call.sip_local(), 1).await;
    assert!(phone.recv(QUIET).await.is_none());
    assert_eq!(call.stats().dropped.unexpected_source, 1);
    // The same IP from another port (a SIP peer sending from a different socket) is latched.
    let mut other_port = Peer::bind(LOOPBACK, 0x4).await;
    other_port.send_audio(call.sip_local(), 2).await;
    assert!(phone.recv(WAIT).await.is_some());
    phone.send_audio(call.phone_local(), 3).await;
    assert!(other_port.recv(WAIT).await.is_some());
    assert!(sdp.recv(QUIET).await.is_none());

    // With `latch_any_sip_source` the other IP is accepted.
    let relay = MediaRelay::with_options(
        LOOPBACK,
        free_range(8),
        RelayOptions {
            latch_any_sip_source: true,
            ..RelayOptions::default()
        },
    );
    let call = relay.open().expect("open");
    call.set_phone_remote(phone.addr());
    call.set_sip_remote(&description(sdp.addr(), Direction::SendRecv));
    stranger.send_audio(call.sip_local(), 4).await;
    assert!(phone.recv(WAIT).await.is_some());
    phone.send_audio(call.phone_local(), 5).await;
    assert!(stranger.recv(WAIT).await.is_some());
}

/// One packet each way; whether each arrived (at the SIP peer, at the phone).
async fn exchange(phone: &mut Peer, sip: &mut Peer, call: &RelayCall) -> (bool, bool) {
    call.applied().await;
    phone.send_audio(call.phone_local(), 0).await;
    sip.send_audio(call.sip_local(), 0).await;
    (
        sip.recv(QUIET).await.is_some(),
        phone.recv(QUIET).await.is_some(),
    )
}

#[tokio::test]
async fn hold_and_direction_stop_forwarding_toward_the_held_side() {
    let relay = relay();
    let (call, mut phone, mut sip) = wired(&relay).await;
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (true, true));
    // The far end holds (a=sendonly): its music still reaches the phone, nothing goes to it.
    call.set_sip_direction(Direction::SendOnly);
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (false, true));
    // We are held the other way (a=recvonly from the far end).
    call.set_sip_remote(&description(sip.addr(), Direction::RecvOnly));
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (true, false));
    call.set_sip_direction(Direction::Inactive);
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (false, false));
    call.set_sip_direction(Direction::SendRecv);
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (true, true));
    // The phone holds: nothing either way, then resume.
    call.hold(true);
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (false, false));
    call.hold(false);
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (true, true));
    assert_eq!(call.stats().dropped.held, 6);
    // A rejected stream (port 0) stops sending toward the SIP side.
    call.set_sip_remote(&description(
        SocketAddr::new(LOOPBACK, 0),
        Direction::SendRecv,
    ));
    phone.send_audio(call.phone_local(), 0).await;
    assert!(sip.recv(QUIET).await.is_none());
    assert_eq!(call.stats().dropped.no_destination, 1);
    // RFC 2543 hold (c=0.0.0.0) too; the real address again resumes.
    call.set_sip_remote(&description(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), sip.addr().port()),
        Direction::SendRecv,
    ));
    phone.send_audio(call.phone_local(), 0).await;
    assert!(sip.recv(QUIET).await.is_none());
    assert_eq!(call.stats().dropped.no_destination, 2);
    call.set_sip_remote(&description(sip.addr(), Direction::SendRecv));
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (true, true));
}

#[tokio::test]
async fn rtcp_is_relayed_between_the_odd_ports() {
    let relay = relay();
    let call = relay.open().expect("open");
    let phone_rtcp = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    let sip_rtcp = UdpSocket::bind((LOOPBACK, 0)).await.expect("bind");
    // The RTP addresses announced are one below the RTCP sockets (RTCP = RTP + 1).
    let below = |s: &UdpSocket| {
        let a = s.local_addr().expect("addr");
        SocketAddr::new(a.ip(), a.port() - 1)
    };
    call.set_phone_remote(below(&phone_rtcp));
    call.set_sip_remote(&description(below(&sip_rtcp), Direction::SendRecv));
    let rr = [0x80, 201, 0, 1, 0x11, 0x11, 0x11, 0x11]; // an empty receiver report
    let rtcp = |a: SocketAddr| SocketAddr::new(a.ip(), a.port() + 1);
    phone_rtcp
        .send_to(&rr, rtcp(call.phone_local()))
        .await
        .expect("send");
    let mut buf = [0; 64];
    let (n, from) = timeout(WAIT, sip_rtcp.recv_from(&mut buf))
        .await
        .expect("relayed")
        .expect("recv");
    assert_eq!((&buf[..n], from), (&rr[..], rtcp(call.sip_local())));
    sip_rtcp
        .send_to(&rr, rtcp(call.sip_local()))
        .await
        .expect("send");
    let (n, from) = timeout(WAIT, phone_rtcp.recv_from(&mut buf))
        .await
        .expect("relayed")
        .expect("recv");
    assert_eq!((&buf[..n], from), (&rr[..], rtcp(call.phone_local())));
    // RTP on an RTCP port is malformed there.
    phone_rtcp
        .send_to(
            &RtpHeader::new(0, 1, 1, 1).to_vec(&[0; 10]),
            rtcp(call.phone_local()),
        )
        .await
        .expect("send");
    sleep(QUIET).await;
    let s = call.stats();
    assert_eq!(
        (s.rtcp_phone_to_sip.packets, s.rtcp_sip_to_phone.packets),
        (1, 1)
    );
    assert_eq!(s.dropped.malformed, 1);
}

#[tokio::test]
async fn malformed_packets_are_dropped_counted_and_survived() {
    let relay = relay();
    let (call, mut phone, sip) = wired(&relay).await;
    let junk: [&[u8]; 5] = [
        b"",
        b"\x00",
        b"hello, not RTP at all",
        &[0x40; 20],                              // version 1
        &[0x8f, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1], // 15 CSRCs announced, none present
    ];
    for j in junk {
        phone
            .sock
            .send_to(j, call.phone_local())
            .await
            .expect("send");
        sip.sock.send_to(j, call.sip_local()).await.expect("send");
    }
    // A datagram larger than any RTP packet.
    phone
        .sock
        .send_to(
            &RtpHeader::new(0, 1, 1, 1).to_vec(&[0; 4000]),
            call.phone_local(),
        )
        .await
        .expect("send");
    // A truncated telephone-event from the SIP side.
    sip.sock
        .send_to(
            &RtpHeader::new(TE, 1, 1, 2).to_vec(&[1, 2]),
            call.sip_local(),
        )
        .await
        .expect("send");
    phone.send_audio(call.phone_local(), 7).await;
    let got = sip.drain(QUIET).await;
    assert_eq!(got.len(), 1, "only the valid packet went through");
    let s = call.stats();
    assert_eq!(s.dropped.malformed, 12);
    assert_eq!(s.phone_to_sip.packets, 1);
}

/// The RFC 4733 packets of one key press sent by a SIP peer, as [`rfc4733::schedule`] lays them out.
async fn send_press(sip: &mut Peer, to: SocketAddr, digit: char, ms: u16, ts: u32) {
    let event = rfc4733::event_for_digit(digit).expect("digit");
    for p in rfc4733::schedule(event, 10, ms * 8, 400) {
        let mut h = RtpHeader::new(TE, sip.seq, ts, sip.ssrc);
        h.marker = p.marker;
        sip.seq = sip.seq.wrapping_add(1);
        sip.sock
            .send_to(&h.to_vec(&p.event.encode()), to)
            .await
            .expect("send");
    }
}

#[tokio::test]
async fn rfc4733_from_sip_is_reported_once_per_press_and_not_forwarded() {
    let relay = relay();
    let (mut call, phone, mut sip) = wired(&relay).await;
    send_press(&mut sip, call.sip_local(), '5', 200, 1000).await;
    send_press(&mut sip, call.sip_local(), '#', 100, 5000).await;
    // A press whose end packets are lost is reported after the expiry.
    let mut h = RtpHeader::new(TE, sip.seq, 9000, sip.ssrc);
    h.marker = true;
    let start = TelephoneEvent {
        event: 0,
        end: false,
        volume: 10,
        duration: 400,
    };
    sip.sock
        .send_to(&h.to_vec(&start.encode()), call.sip_local())
        .await
        .expect("send");
    let mut got = Vec::new();
    for _ in 0..3 {
        let ev = timeout(Duration::from_secs(2), call.next_event())
            .await
            .expect("event in time");
        got.push(ev.expect("relay alive"));
    }
    let d = |digit, duration_ms| MediaEvent::Dtmf(Dtmf { digit, duration_ms });
    assert_eq!(got, [d('5', 200), d('#', 100), d('0', 50)]);
    assert!(call.try_next_event().is_none());
    assert!(
        phone.recv(QUIET).await.is_none(),
        "events are not sent to the phone"
    );
    assert_eq!(call.stats().dtmf_received, 3);
}

/// Writes what `sink` received into a pcap and decodes it with tshark as RTP on its port.
fn tshark_events(packets: &[(Vec<u8>, SocketAddr)], to: SocketAddr) -> Option<Vec<Vec<String>>> {
    captures::peer::require_tool("tshark")?;
    let mut w = captures::write::PcapWriter::new(
        captures::LinkType::RAW,
        captures::write::Resolution::Micros,
    );
    for (p, from) in packets {
        w.udp(*from, to, p);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rtp.pcap");
    w.write_to(&file).expect("write pcap");
    let decode = format!("udp.port=={},rtp", to.port());
    let rows = captures::peer::tshark_fields(
        &file,
        &["-d", &decode],
        "rtp",
        &[
            "rtp.p_type",
            "rtp.marker",
            "rtp.seq",
            "rtp.timestamp",
            "rtp.ssrc",
            "rtpevent.event_id",
            "rtpevent.end_of_event",
            "rtpevent.duration",
        ],
    )
    .expect("tshark");
    Some(rows)
}

#[tokio::test]
async fn dtmf_toward_sip_is_a_correct_rfc4733_sequence_spliced_into_the_phone_stream() {
    let relay = relay();
    let (call, mut phone, sip) = wired(&relay).await;
    let sip_addr = sip.addr();
    // The phone talks every 20 ms; a key is pressed in the middle of it.
    let talker = tokio::spawn(async move {
        let to = call.phone_local();
        let start = Instant::now();
        let mut pressed = false;
        for i in 0..40u32 {
            tokio::time::sleep_until(start + Duration::from_millis(20 * u64::from(i))).await;
            phone.send_audio(to, 0x55).await;
            if i == 10 && !pressed {
                pressed = true;
                call.send_dtmf(Dtmf {
                    digit: '7',
                    duration_ms: 160,
                })
                .expect("telephone-event negotiated");
            }
        }
        call
    });
    let mut received = Vec::new();
    let mut arrivals = Vec::new();
    while let Some(p) = sip.recv(Duration::from_millis(600)).await {
        received.push(p);
        arrivals.push(Instant::now());
    }
    let call = talker.await.expect("talker");
    // Paced in real time: three 50 ms steps from the first event packet to the first end packet, then
    // two 20 ms gaps. These are arrival times on this side, and a late read of the first packet shortens
    // a gap (CI once measured under 145 ms for the 150), so the bounds leave room for that; packets sent
    // without pacing would arrive within a millisecond of each other.
    let event_times: Vec<Instant> = received
        .iter()
        .zip(&arrivals)
        .filter(|((p, _), _)| p.get(1).is_some_and(|b| b & 0x7f == TE))
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(event_times.len(), 6);
    assert!(event_times[3] - event_times[0] >= Duration::from_millis(100));
    assert!(event_times[5] - event_times[3] >= Duration::from_millis(20));
    // Own checks: one SSRC, gapless sequence numbers, and the event run.
    let headers: Vec<RtpHeader> = received
        .iter()
        .map(|(p, _)| RtpHeader::parse(p).expect("rtp"))
        .collect();
    assert!(headers.iter().all(|h| h.ssrc == 0x1111_1111));
    for w in headers.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence.wrapping_add(1), "gapless");
    }
    let events: Vec<(RtpHeader, TelephoneEvent)> = received
        .iter()
        .zip(&headers)
        .filter(|(_, h)| h.payload_type == TE)
        .map(|((p, _), h)| (*h, TelephoneEvent::decode(h.payload(p)).expect("event")))
        .collect();
    // 160 ms = 1280 units in 400-unit steps: updates at 400, 800, 1200, the end ×3 with 1280.
    let shape: Vec<_> = events
        .iter()
        .map(|(h, e)| (h.marker, e.event, e.end, e.duration))
        .collect();
    assert_eq!(
        shape,
        [
            (true, 7, false, 400),
            (false, 7, false, 800),
            (false, 7, false, 1200),
            (false, 7, true, 1280),
            (false, 7, true, 1280),
            (false, 7, true, 1280),
        ]
    );
    let ts = events[0].0.timestamp;
    assert!(events.iter().all(|(h, _)| h.timestamp == ts));
    // The event starts on the phone's clock: after the audio before it, before the audio after it.
    let first_event = headers
        .iter()
        .position(|h| h.payload_type == TE)
        .expect("event");
    let before = headers[first_event - 1].timestamp;
    let after = headers
        .iter()
        .skip(first_event)
        .find(|h| h.payload_type == 0)
        .expect("audio after")
        .timestamp;
    assert!(ts >= before && ts < after, "{before} <= {ts} < {after}");
    let s = call.stats();
    assert_eq!(s.dtmf_packets_sent, 6);
    assert_eq!(
        s.phone_to_sip.packets + s.dropped.during_dtmf,
        40 + 6,
        "every phone packet forwarded or replaced"
    );
    assert!(s.dropped.during_dtmf >= 8);

    // tshark's reading of the same packets.
    let Some(rows) = tshark_events(&received, sip_addr) else {
        return;
    };
    let ev_rows: Vec<_> = rows.iter().filter(|r| r[0] == TE.to_string()).collect();
    assert_eq!(ev_rows.len(), 6, "{rows:?}");
    let decoded: Vec<(&str, &str, &str, &str)> = ev_rows
        .iter()
        .map(|r| (r[1].as_str(), r[5].as_str(), r[6].as_str(), r[7].as_str()))
        .collect();
    assert_eq!(
        decoded,
        [
            ("1", "7", "0", "400"),
            ("0", "7", "0", "800"),
            ("0", "7", "0", "1200"),
            ("0", "7", "1", "1280"),
            ("0", "7", "1", "1280"),
            ("0", "7", "1", "1280"),
        ]
    );
    assert!(ev_rows.iter().all(|r| r[3] == ts.to_string()));
}

#[tokio::test]
async fn dtmf_needs_a_telephone_event_and_a_dtmf_key() {
    let relay = relay();
    let call = relay.open().expect("open");
    let d = |digit| Dtmf {
        digit,
        duration_ms: 100,
    };
    assert!(matches!(
        call.send_dtmf(d('1')),
        Err(MediaError::NoTelephoneEvent)
    ));
    let mut desc = description(SocketAddr::new(LOOPBACK, 9), Direction::SendRecv);
    call.set_sip_remote(&desc);
    assert!(matches!(
        call.send_dtmf(d('x')),
        Err(MediaError::NotDtmf('x'))
    ));
    assert!(call.send_dtmf(d('1')).is_ok());
    desc.telephone_event = None;
    call.set_sip_remote(&desc);
    assert!(matches!(
        call.send_dtmf(d('1')),
        Err(MediaError::NoTelephoneEvent)
    ));
}

#[tokio::test]
async fn keys_before_the_phone_talks_use_a_stream_of_their_own() {
    let relay = relay();
    let (call, _phone, sip) = wired(&relay).await;
    for digit in ['1', '2'] {
        call.send_dtmf(Dtmf {
            digit,
            duration_ms: 50,
        })
        .expect("dtmf");
    }
    let got = sip.drain(Duration::from_millis(600)).await;
    let parsed: Vec<_> = got
        .iter()
        .map(|p| {
            let h = RtpHeader::parse(p).expect("rtp");
            (h, TelephoneEvent::decode(h.payload(p)).expect("event"))
        })
        .collect();
    // Two presses of three end packets each (shorter than one step), queued one after the other.
    assert_eq!(parsed.len(), 6);
    assert_eq!(
        parsed.iter().map(|(_, e)| e.event).collect::<Vec<_>>(),
        [1, 1, 1, 2, 2, 2]
    );
    assert!(parsed.iter().all(|(h, _)| h.ssrc == parsed[0].0.ssrc));
    assert!(parsed[3].0.timestamp > parsed[0].0.timestamp);
    assert!(parsed[0].0.marker && parsed[3].0.marker && !parsed[1].0.marker);
    for w in parsed.windows(2) {
        assert_eq!(w[1].0.sequence, w[0].0.sequence.wrapping_add(1));
    }
}

#[tokio::test]
async fn ports_come_back_when_a_call_closes() {
    // Room for exactly one call (two pairs).
    let relay = MediaRelay::new(LOOPBACK, free_range(4));
    let call = relay.open().expect("first");
    let err = relay.open().expect_err("range exhausted");
    assert!(matches!(err, MediaError::PortsExhausted { .. }), "{err}");
    let (phone_port, sip_port) = (call.phone_local().port(), call.sip_local().port());
    call.close();
    let deadline = Instant::now() + Duration::from_secs(2);
    while relay.ports().in_use() > 0 {
        assert!(Instant::now() < deadline, "ports not released");
        sleep(Duration::from_millis(5)).await;
    }
    let again = relay.open().expect("ports released");
    let mut ports = [again.phone_local().port(), again.sip_local().port()];
    ports.sort_unstable();
    let mut before = [phone_port, sip_port];
    before.sort_unstable();
    assert_eq!(ports, before);
}

#[test]
fn direct_mode_builds_no_relay() {
    use gateway::config::{MediaConfig, MediaMode};
    let relay =
        MediaRelay::for_config(&MediaConfig::default(), LOOPBACK).expect("relay by default");
    // 16384-32767: 8192 RTP/RTCP pairs, two per call.
    assert_eq!(relay.ports().capacity(), 8192);
    let direct = MediaConfig {
        mode: MediaMode::Direct,
        ..MediaConfig::default()
    };
    assert!(MediaRelay::for_config(&direct, LOOPBACK).is_none());
    assert!(!relay.options().latch_any_sip_source);
    let any = MediaConfig {
        sip_latching: gateway::config::SipLatching::Any,
        ..MediaConfig::default()
    };
    let relay = MediaRelay::for_config(&any, LOOPBACK).expect("relay");
    assert!(relay.options().latch_any_sip_source);
}

/// A flood of packets from a stranger on the phone leg costs the call nothing: the SIP side's audio
/// keeps reaching the phone, every flood packet is dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_a_stranger_is_dropped_without_starving_the_call() {
    let relay = relay();
    let (call, mut phone, mut sip) = wired(&relay).await;
    phone.send_audio(call.phone_local(), 0).await; // latch the phone leg
    assert!(sip.recv(WAIT).await.is_some());
    let target = call.phone_local();
    let flooder = tokio::spawn(async move {
        let s = StdSocket::bind((LOOPBACK, 0)).expect("bind");
        let pkt = RtpHeader::new(0, 1, 1, 0xbad).to_vec(&[0; 160]);
        let mut sent = 0u64;
        for _ in 0..20_000 {
            if s.send_to(&pkt, target).is_ok() {
                sent += 1;
            }
        }
        sent
    });
    for i in 0..20u8 {
        sip.send_audio(call.sip_local(), i).await;
        sleep(Duration::from_millis(5)).await;
    }
    let flooded = flooder.await.expect("flooder");
    let got = phone.drain(QUIET).await;
    assert_eq!(got.len(), 20, "the call's audio got through");
    let s = call.stats();
    assert!(s.dropped.unexpected_source > 0);
    // What the kernel did not drop for a full buffer was counted as from an unexpected source.
    assert!(s.dropped.unexpected_source <= flooded);
    assert_eq!(s.phone_to_sip.packets, 1);
}

#[tokio::test]
async fn ipv6_calls_relay_too() {
    let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    if StdSocket::bind((v6, 0)).is_err() {
        eprintln!("skipping: no IPv6 loopback");
        return;
    }
    let relay = MediaRelay::new(v6, free_range(8));
    let call = relay.open().expect("open");
    let (mut phone, mut sip) = (Peer::bind(v6, 1).await, Peer::bind(v6, 2).await);
    call.set_phone_remote(phone.addr());
    call.set_sip_remote(&description(sip.addr(), Direction::SendRecv));
    assert!(call.sip_local().is_ipv6());
    assert_eq!(exchange(&mut phone, &mut sip, &call).await, (true, true));
}

/// A SIP side using a dynamic payload type for the codec: rewritten both ways, the phone sees PT 0.
#[tokio::test]
async fn a_non_static_payload_type_is_mapped_both_ways() {
    let relay = relay();
    let (call, mut phone, sip) = wired(&relay).await;
    call.set_sip_remote(&MediaDescription {
        payload_type: 96,
        ..description(sip.addr(), Direction::SendRecv)
    });
    phone.send_audio(call.phone_local(), 1).await;
    let (p, _) = sip.recv(WAIT).await.expect("to sip");
    assert_eq!(RtpHeader::parse(&p).expect("rtp").payload_type, 96);
    let mut h = RtpHeader::new(96, 5, 5, 5);
    h.marker = true;
    sip.sock
        .send_to(&h.to_vec(&[0; 160]), call.sip_local())
        .await
        .expect("send");
    let (p, _) = phone.recv(WAIT).await.expect("to phone");
    let got = RtpHeader::parse(&p).expect("rtp");
    assert_eq!((got.payload_type, got.marker), (0, true));
}

#[test]
fn handles_can_move_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MediaRelay>();
    send_sync::<RelayCall>();
}

/// A re-INVITE moving the call to another SIP peer: media goes to the new one, the old one is a stranger.
#[tokio::test]
async fn a_new_sip_peer_replaces_the_old_one() {
    let relay = relay();
    let (call, mut phone, mut old) = wired(&relay).await;
    assert_eq!(exchange(&mut phone, &mut old, &call).await, (true, true));
    let mut new = Peer::bind(LOOPBACK, 0x3333).await;
    call.set_sip_remote(&description(new.addr(), Direction::SendRecv));
    assert_eq!(exchange(&mut phone, &mut new, &call).await, (true, true));
    old.send_audio(call.sip_local(), 9).await;
    assert!(phone.recv(QUIET).await.is_none());
    assert!(old.recv(QUIET).await.is_none());
    let s = call.stats();
    assert_eq!(s.dropped.unexpected_source, 1);
    assert_eq!(s.sip_remote, Some(new.addr()));
}

/// With the phone's signalling IP given, a stranger on another IP cannot take the phone leg first.
#[tokio::test]
async fn the_phone_leg_can_be_held_to_the_phones_ip() {
    let relay = relay();
    let call = relay.open().expect("open");
    let mut phone = Peer::bind(LOOPBACK, 0x1).await;
    let mut sip = Peer::bind(LOOPBACK, 0x2).await;
    call.set_phone_source_ip(Some(LOOPBACK));
    call.set_sip_remote(&description(sip.addr(), Direction::SendRecv));
    let mut stranger = Peer::bind(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0x3).await;
    stranger.send_audio(call.phone_local(), 1).await;
    assert!(sip.recv(QUIET).await.is_none());
    assert_eq!(call.stats().dropped.unexpected_source, 1);
    // The phone, from its own IP but a port nobody announced, is latched.
    phone.send_audio(call.phone_local(), 2).await;
    assert!(sip.recv(WAIT).await.is_some());
    sip.send_audio(call.sip_local(), 3).await;
    assert!(phone.recv(WAIT).await.is_some());
    assert!(stranger.recv(QUIET).await.is_none());
}

/// RTP from the far end arriving before its SDP answer (it answered and started sending while the
/// 200 was still on its way): held, then relayed to the phone once the SDP names its sender; what
/// came from anyone else is dropped then. Nothing legitimate is lost or logged as unexpected.
#[tokio::test]
async fn rtp_arriving_before_the_far_end_s_sdp_is_held_and_relayed() {
    let relay = relay();
    let call = relay.open().expect("open");
    let phone = Peer::bind(LOOPBACK, 0x1).await;
    let mut far = Peer::bind(LOOPBACK, 0x2).await;
    let mut stranger = Peer::bind(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0x3).await;
    call.set_phone_remote(phone.addr());
    for i in 0..3u8 {
        far.send_audio(call.sip_local(), i).await;
    }
    stranger.send_audio(call.sip_local(), 9).await;
    assert!(
        phone.recv(QUIET).await.is_none(),
        "nothing relayed before the SDP"
    );
    call.set_sip_remote(&description(far.addr(), Direction::SendRecv));
    let got = phone.drain(QUIET).await;
    let fills: Vec<u8> = got
        .iter()
        .map(|p| {
            let h = RtpHeader::parse(p).expect("rtp");
            h.payload(p)[0]
        })
        .collect();
    assert_eq!(
        fills,
        [0, 1, 2],
        "the early packets, in order, the stranger's not"
    );
    let s = call.stats();
    assert_eq!(s.dropped.unexpected_source, 1, "only the stranger's");
    assert_eq!(s.sip_to_phone.packets, 3);
    // Later packets flow as usual.
    far.send_audio(call.sip_local(), 3).await;
    assert!(phone.recv(WAIT).await.is_some());
}
