//! Writes a large SCCP capture for side-by-side decode timings (BENCHMARKS.md): every message of the
//! shared SCCP captures, replayed `N` times over `N` distinct TCP connections to port 2000.
//!
//! `cargo run --release -p codecs --example sccp_corpus -- /tmp/sccp-corpus.pcap 200`

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use bytes::BytesMut;
use captures::write::{PcapWriter, Resolution, Side as WireSide, TcpConversation};
use codecs::sccp::stream::{Conversation, Event, Side};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: sccp_corpus OUT.pcap N");
    let n: u16 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/sccp");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("shared/captures/sccp")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    // Each message as it travelled: from the phone or from the server.
    let mut script = Vec::new();
    for file in files {
        let capture = captures::read_file(&file).expect("capture");
        let mut conversations: HashMap<(SocketAddr, SocketAddr), Conversation> = HashMap::new();
        for p in captures::payloads(&capture) {
            let (side, key) = match (p.src.port(), p.dst.port()) {
                (_, 2000) => (Side::Client, (p.src, p.dst)),
                (2000, _) => (Side::Server, (p.dst, p.src)),
                _ => continue,
            };
            for event in conversations
                .entry(key)
                .or_default()
                .push(side, &p.data, p.gap > 0)
            {
                if let Event::Message(d) = event {
                    let mut bytes = BytesMut::new();
                    d.raw.encode(&mut bytes);
                    script.push((side, bytes));
                }
            }
        }
    }
    let mut w = PcapWriter::new(captures::LinkType::ETHERNET, Resolution::Micros);
    let server: SocketAddr = "192.0.2.1:2000".parse().expect("address");
    for k in 0..n {
        let phone = SocketAddr::from(([192, 0, 2, 100], 20000 + k));
        let mut conv = TcpConversation::new(phone, server, 1_000, 50_000);
        conv.handshake(&mut w);
        for (side, bytes) in &script {
            let side = match side {
                Side::Client => WireSide::Client,
                Side::Server => WireSide::Server,
            };
            conv.send(&mut w, side, bytes);
        }
    }
    w.write_to(&out).expect("write");
    eprintln!(
        "{out}: {} frames, {} SCCP messages",
        w.frames(),
        script.len() * usize::from(n)
    );
}
