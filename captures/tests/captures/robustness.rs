//! Damaged input: never a panic, only errors or frames.

use captures::{Reassembler, dissect, parse, parse_partial, payloads};
use proptest::prelude::*;

use crate::util::capture_files;

fn exercise(bytes: &[u8]) {
    let _ = parse(bytes);
    if let Ok((cap, _)) = parse_partial(bytes) {
        for f in &cap.frames {
            let _ = dissect(f);
        }
        let _ = payloads(&cap);
    }
}

#[test]
fn every_truncation_of_real_files() {
    for file in capture_files("") {
        let bytes = std::fs::read(&file).unwrap();
        // Every cut in the first 2 KiB, then every 97th byte (the files are up to 350 KB).
        let cuts = (0..bytes.len().min(2048)).chain((2048..bytes.len()).step_by(97));
        for cut in cuts {
            let head = &bytes[..cut];
            let _ = parse(head);
            if let Ok((cap, _)) = parse_partial(head) {
                let _ = payloads(&cap);
            }
        }
        exercise(&bytes);
    }
}

#[test]
fn every_frame_truncated_dissects_or_errors() {
    for file in capture_files("") {
        let cap = captures::read_file(&file).unwrap();
        let mut r = Reassembler::new();
        for f in &cap.frames {
            for cut in 0..f.data.len() {
                let mut short = f.clone();
                short.data.truncate(cut);
                let _ = dissect(&short);
                let _ = r.handle_frame(&short);
            }
        }
        r.finish();
        while r.poll_payload().is_some() {}
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn random_after_pcap_magic(tail in proptest::collection::vec(any::<u8>(), 0..2048), ns in any::<bool>(), be in any::<bool>()) {
        let magic: u32 = if ns { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut bytes = if be { magic.to_be_bytes().to_vec() } else { magic.to_le_bytes().to_vec() };
        bytes.extend(tail);
        exercise(&bytes);
    }

    #[test]
    fn random_after_pcapng_shb(tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
        bytes.extend([0xff; 8]);
        bytes.extend([28, 0, 0, 0]);
        bytes.extend(tail);
        exercise(&bytes);
    }

    #[test]
    fn random_frames_dissect(data in proptest::collection::vec(any::<u8>(), 0..200), link in 0u32..300) {
        let f = captures::Frame { number: 1, ts: captures::Timestamp::default(), link: captures::LinkType(link), data, orig_len: 0 };
        let _ = dissect(&f);
        let mut r = Reassembler::new();
        let _ = r.handle_frame(&f);
        r.finish();
    }
}
