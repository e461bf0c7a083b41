//! One media leg of a simulated call: a UDP socket opened for OpenReceiveChannel, counting the RTP that
//! arrives, and sending G.711 (20 ms, 160-byte payloads, RFC 3550 header with running sequence number,
//! timestamp and a per-leg SSRC) once StartMediaTransmission names the far end. The packet is built
//! once and only its sequence number and timestamp change, so thousands of legs stay cheap.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::stats::Stats;

/// Packets of one leg.
#[derive(Debug, Default)]
pub struct LegCounts {
    /// Sent.
    pub sent: AtomicU64,
    /// Received.
    pub received: AtomicU64,
}

/// RTP packet counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpCounts {
    /// Sent.
    pub sent: u64,
    /// Received.
    pub received: u64,
}

impl LegCounts {
    /// The counts now.
    pub fn get(&self) -> RtpCounts {
        RtpCounts {
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }
}

enum Control {
    Transmit { to: SocketAddr, payload_type: u8 },
    StopTransmit,
}

/// A running leg; dropping it closes the socket.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) local: SocketAddr,
    pub(crate) counts: Arc<LegCounts>,
    control: mpsc::UnboundedSender<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Leg {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The RTP payload type of an SCCP compression type: 0 PCMU for µ-law, 8 PCMA for A-law, 18 G.729,
/// 9 G.722; anything else is sent as PCMU.
pub(crate) fn payload_type_of(compression: u32) -> u8 {
    match compression {
        2 | 3 => 8,
        6..=8 => 9,
        11 | 12 | 15 | 16 => 18,
        _ => 0,
    }
}

impl Leg {
    /// Opens a receive socket on `ip`, port chosen by the kernel.
    pub(crate) async fn open(ip: IpAddr, ssrc: u32, stats: Arc<Stats>) -> std::io::Result<Self> {
        Self::open_at(SocketAddr::new(ip, 0), ssrc, stats).await
    }

    /// Opens a receive socket on `addr` (UNIStim: the port the server chose for the phone).
    pub(crate) async fn open_at(
        addr: SocketAddr,
        ssrc: u32,
        stats: Arc<Stats>,
    ) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        let counts = Arc::new(LegCounts::default());
        let (control, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(socket, rx, ssrc, counts.clone(), stats));
        Ok(Self {
            local,
            counts,
            control,
            task,
        })
    }

    pub(crate) fn transmit(&self, to: SocketAddr, compression: u32) {
        let _ = self.control.send(Control::Transmit {
            to,
            payload_type: payload_type_of(compression),
        });
    }

    /// Sends RTP with this payload type (UNIStim vocoder ids are RTP payload types).
    pub(crate) fn transmit_payload_type(&self, to: SocketAddr, payload_type: u8) {
        let _ = self.control.send(Control::Transmit { to, payload_type });
    }

    pub(crate) fn stop_transmit(&self) {
        let _ = self.control.send(Control::StopTransmit);
    }
}

const PAYLOAD: usize = 160;
const HEADER: usize = 12;

async fn run(
    socket: UdpSocket,
    mut control: mpsc::UnboundedReceiver<Control>,
    ssrc: u32,
    counts: Arc<LegCounts>,
    stats: Arc<Stats>,
) {
    let mut packet = [0xffu8; HEADER + PAYLOAD]; // µ-law silence
    packet[0] = 0x80;
    packet[1] = 0;
    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let mut seq: u16 = (ssrc >> 16) as u16;
    let mut timestamp: u32 = ssrc.rotate_left(7);
    let mut target: Option<SocketAddr> = None;
    let mut ticker = tokio::time::interval_at(Instant::now(), Duration::from_millis(20));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut recv = [0u8; 1500];
    loop {
        tokio::select! {
            c = control.recv() => match c {
                Some(Control::Transmit { to, payload_type }) => {
                    packet[1] = payload_type & 0x7f;
                    if target.is_none() {
                        packet[1] |= 0x80; // marker on the first packet of a talkspurt
                    }
                    target = Some(to);
                    ticker.reset_immediately();
                }
                Some(Control::StopTransmit) => target = None,
                None => return,
            },
            r = socket.recv_from(&mut recv) => {
                if let Ok((n, _)) = r
                    && n >= HEADER
                    && recv[0] >> 6 == 2
                {
                    counts.received.fetch_add(1, Ordering::Relaxed);
                    Stats::add(&stats.rtp_received);
                }
            }
            _ = ticker.tick(), if target.is_some() => {
                let Some(to) = target else { continue };
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
                if socket.send_to(&packet, to).await.is_ok() {
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                    Stats::add(&stats.rtp_sent);
                }
                packet[1] &= 0x7f;
                seq = seq.wrapping_add(1);
                timestamp = timestamp.wrapping_add(PAYLOAD as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a leg sends: RTP version 2, PCMU, 172 bytes, sequence +1 and timestamp +160 per packet,
    /// one SSRC, marker on the first packet only; decoded by tshark as RTP where it is installed.
    #[tokio::test]
    async fn a_leg_sends_well_formed_g711_rtp() {
        let far = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stats = Arc::new(Stats::default());
        let leg = Leg::open(IpAddr::from([127, 0, 0, 1]), 0x1234_5678, stats.clone())
            .await
            .unwrap();
        leg.transmit(far.local_addr().unwrap(), 4);
        let mut packets = Vec::new();
        let mut buf = [0u8; 2048];
        while packets.len() < 5 {
            let (n, from) = far.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, leg.local);
            packets.push(buf[..n].to_vec());
        }
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(p.len(), 172);
            assert_eq!(p[0], 0x80);
            assert_eq!(p[1] & 0x7f, 0, "PCMU");
            assert_eq!(p[1] & 0x80 != 0, i == 0, "marker on the first packet only");
            assert_eq!(&p[8..12], &0x1234_5678u32.to_be_bytes());
        }
        for w in packets.windows(2) {
            let seq = |p: &[u8]| u16::from_be_bytes([p[2], p[3]]);
            let ts = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
            assert_eq!(seq(&w[1]), seq(&w[0]).wrapping_add(1));
            assert_eq!(ts(&w[1]), ts(&w[0]).wrapping_add(160));
        }
        // Packets back to the leg are counted.
        far.send_to(&packets[0], leg.local).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(leg.counts.get().received, 1);
        leg.stop_transmit();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let sent = leg.counts.get().sent;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(leg.counts.get().sent, sent, "stopped");
        assert_eq!(stats.snapshot().rtp_sent, sent);

        if captures::peer::require_tool("tshark").is_none() {
            return;
        }
        let mut w = captures::write::PcapWriter::new(
            captures::LinkType::ETHERNET,
            captures::write::Resolution::Micros,
        );
        let to = far.local_addr().unwrap();
        for p in &packets {
            w.udp(leg.local, to, p);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rtp.pcap");
        w.write_to(&path).unwrap();
        let decode = format!("udp.port=={},rtp", to.port());
        let rows = captures::peer::tshark_fields(
            &path,
            &["-d", &decode],
            "rtp && !_ws.malformed",
            &["rtp.ssrc", "rtp.p_type", "rtp.seq"],
        )
        .unwrap();
        assert_eq!(rows.len(), 5, "{rows:?}");
        assert!(
            rows.iter().all(|r| r[0] == "0x12345678" && r[1] == "0"),
            "{rows:?}"
        );
    }
}
