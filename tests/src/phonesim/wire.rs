//! The bytes of SCCP connections as recorded by phones and the responder, written as a pcap for tshark.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use captures::LinkType;
use captures::write::{PcapWriter, Resolution, Side, TcpConversation};

/// The bytes of one connection, in order.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The phone's address.
    pub client: Option<SocketAddr>,
    /// What each side sent (the phone is [`Side::Client`]).
    pub chunks: Vec<(Side, Vec<u8>)>,
}

/// Writes the connections into a pcap, the call manager at `server_ip` on port 2000 (so tshark decodes
/// SCCP without being told), segments of at most 1,400 bytes.
///
/// # Errors
///
/// The write error.
pub fn write_pcap(
    path: &Path,
    server_ip: IpAddr,
    conversations: &[Recorded],
) -> std::io::Result<()> {
    let mut w = PcapWriter::new(LinkType::ETHERNET, Resolution::Micros);
    let server = SocketAddr::new(server_ip, 2000);
    for (i, r) in conversations.iter().enumerate() {
        let client = r
            .client
            .unwrap_or_else(|| SocketAddr::new(server_ip, 40000 + u16::try_from(i).unwrap_or(0)));
        let mut conv = TcpConversation::new(client, server, 1000, 5000);
        conv.handshake(&mut w);
        for (side, data) in &r.chunks {
            for chunk in data.chunks(1400) {
                conv.send(&mut w, *side, chunk);
            }
        }
        conv.fin(&mut w, Side::Client);
    }
    w.write_to(path)
}
