//! Helpers shared by the integration tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use captures::{Payload, Proto};

/// The shared directory of real captures, outside the repository.
pub(crate) fn shared_captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures")
}

/// Every `.pcap` / `.pcapng` under `shared/captures/<sub>` (all subdirectories if `sub` is empty).
pub(crate) fn capture_files(sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![shared_captures().join(sub)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        !out.is_empty() || !shared_captures().exists(),
        "no captures found under {}",
        shared_captures().display()
    );
    out
}

/// One SCCP-style message: `(frame where its last byte arrived, message id)`.
pub(crate) type Message = (u64, u32);

/// Frames SCCP-style messages (`u32 LE length` of what follows the 8-byte header, `u32` reserved,
/// `u32 LE id`) out of the TCP payloads that touch `port`, attributing each to the frame of its last
/// byte. After a gap the next message boundary is unknown: like tshark, we drop what was buffered
/// and look for a plausible header (length 4..64 KiB, small version word) at the start of each
/// following payload, discarding payloads that do not start with one.
pub(crate) fn sccp_messages(payloads: &[Payload], port: u16) -> Vec<Message> {
    let mut buffers: HashMap<(SocketAddr, SocketAddr), (Vec<u8>, bool)> = HashMap::new();
    let mut out = Vec::new();
    for p in payloads {
        if p.proto != Proto::Tcp || (p.src.port() != port && p.dst.port() != port) {
            continue;
        }
        let (buf, resync) = buffers.entry((p.src, p.dst)).or_default();
        if p.gap != 0 {
            buf.clear();
            *resync = true;
        }
        if *resync {
            let plausible = p.data.len() >= 8 && {
                let len = u32::from_le_bytes(p.data[0..4].try_into().unwrap());
                let version = u32::from_le_bytes(p.data[4..8].try_into().unwrap());
                (4..65536).contains(&len) && version < 0x100
            };
            if !plausible {
                continue;
            }
            *resync = false;
        }
        buf.extend_from_slice(&p.data);
        loop {
            if buf.len() < 12 {
                break;
            }
            let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
            let total = len + 8;
            if buf.len() < total {
                break;
            }
            let id = u32::from_le_bytes(buf[8..12].try_into().unwrap());
            out.push((p.frame, id));
            buf.drain(..total);
        }
    }
    out.sort_by_key(|m| m.0);
    out
}

/// The `(frame, skinny.messageId)` list tshark reports for `file`.
pub(crate) fn tshark_sccp_messages(file: &Path, extra: &[&str]) -> Vec<Message> {
    let rows =
        captures::peer::tshark_fields(file, extra, "skinny", &["frame.number", "skinny.messageId"])
            .unwrap();
    let mut out = Vec::new();
    for row in rows {
        let frame: u64 = row[0].parse().unwrap();
        for id in row[1].split(',').filter(|s| !s.is_empty()) {
            let id = match id.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                None => id.parse().unwrap(),
            };
            out.push((frame, id));
        }
    }
    out
}

/// Per-direction concatenation of TCP payload bytes, each gap written the way tshark's
/// `follow,tcp,raw` writes it: `[N bytes missing in capture file]` and a NUL.
pub(crate) fn tcp_streams(payloads: &[Payload]) -> HashMap<(SocketAddr, SocketAddr), Vec<u8>> {
    let mut out: HashMap<_, Vec<u8>> = HashMap::new();
    for p in payloads.iter().filter(|p| p.proto == Proto::Tcp) {
        let stream = out.entry((p.src, p.dst)).or_default();
        if p.gap != 0 {
            stream.extend(format!("[{} bytes missing in capture file]\0", p.gap).bytes());
        }
        stream.extend(&p.data);
    }
    out
}

/// Decodes lowercase hex.
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
