//! UNIStim: vectors per manager, property round trips, the RUDP endpoint and the capture goldens.

mod endpoint;
mod golden;
mod roundtrip;
mod vectors;

use std::path::PathBuf;

/// The shared UNIStim captures (`shared/captures/unistim/`).
pub(crate) fn capture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/captures/unistim")
        .join(name)
}

/// The boot-and-registration capture (61 frames).
pub(crate) const STARTUP: &str = "wiresharkwiki-via-realjimmy__unistim_phone_startup.pcap";
/// The phone-to-phone call capture (105 frames).
pub(crate) const CALL: &str = "wiresharkwiki-via-realjimmy__unistim-call.pcap";

/// Bytes from a hex string (spaces allowed).
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// The UDP datagrams on port 5000 of a capture, with frame number, time (seconds) and whether the phone
/// sent it (source address is a phone: it sends payload type 2 / 10-byte ACKs; identified by the
/// server's address 131.253.0.203 or 64.190.127.18 being the source otherwise).
pub(crate) fn datagrams(name: &str) -> Vec<(u64, f64, std::net::SocketAddr, Vec<u8>)> {
    let cap = captures::read_file(capture_path(name)).unwrap();
    captures::payloads(&cap)
        .into_iter()
        .filter(|p| {
            p.proto == captures::Proto::Udp && (p.src.port() == 5000 || p.dst.port() == 5000)
        })
        .map(|p| {
            let t = p.ts.secs as f64 + f64::from(p.ts.nanos) / 1e9;
            (p.frame, t, p.src, p.data)
        })
        .collect()
}
