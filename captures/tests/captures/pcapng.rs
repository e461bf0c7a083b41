//! pcapng files built by hand, block by block, in both byte orders.

use std::net::SocketAddr;

use captures::peer::{require_tool, tshark_fields};
use captures::write::udp;
use captures::{Format, LinkType, dissect, parse};

use crate::synthetic::assert_clean_for_tshark;

/// Writes pcapng blocks in one byte order.
struct Blocks {
    big: bool,
    out: Vec<u8>,
}

impl Blocks {
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn block(&mut self, ty: u32, body: &[u8]) {
        let len = 12 + body.len().next_multiple_of(4) as u32;
        let (t, l) = (self.u32(ty), self.u32(len));
        self.out.extend(t);
        self.out.extend(l);
        self.out.extend(body);
        self.out.resize(
            self.out.len() + body.len().next_multiple_of(4) - body.len(),
            0,
        );
        self.out.extend(l);
    }

    fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend(self.u16(code));
        body.extend(self.u16(value.len() as u16));
        body.extend(value);
        body.resize(
            body.len() + value.len().next_multiple_of(4) - value.len(),
            0,
        );
    }

    fn shb(&mut self) {
        let mut b = self.u32(0x1a2b_3c4d).to_vec();
        b.extend(self.u16(1));
        b.extend(self.u16(0));
        b.extend((-1i64).to_le_bytes());
        self.option(&mut b, 4, b"captures test"); // shb_userappl
        b.extend([0, 0, 0, 0]);
        self.block(0x0a0d_0d0a, &b);
    }

    fn idb(&mut self, link: LinkType, tsresol: Option<u8>, tsoffset: Option<i64>) {
        let mut b = self.u16(link.0 as u16).to_vec();
        b.extend([0, 0]);
        b.extend(self.u32(0));
        if let Some(r) = tsresol {
            self.option(&mut b, 9, &[r]);
        }
        if let Some(o) = tsoffset {
            let v = if self.big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            self.option(&mut b, 14, &v);
        }
        b.extend([0, 0, 0, 0]);
        self.block(1, &b);
    }

    fn epb(&mut self, iface: u32, ticks: u64, data: &[u8]) {
        let mut b = self.u32(iface).to_vec();
        b.extend(self.u32((ticks >> 32) as u32));
        b.extend(self.u32(ticks as u32));
        b.extend(self.u32(data.len() as u32));
        b.extend(self.u32(data.len() as u32));
        b.extend(data);
        b.resize(b.len().next_multiple_of(4), 0);
        self.option(&mut b, 1, b"a comment");
        b.extend([0, 0, 0, 0]);
        self.block(6, &b);
    }

    fn spb(&mut self, data: &[u8]) {
        let mut b = self.u32(data.len() as u32).to_vec();
        b.extend(data);
        self.block(3, &b);
    }

    fn obsolete_pb(&mut self, iface: u16, ticks: u64, data: &[u8]) {
        let mut b = self.u16(iface).to_vec();
        b.extend(self.u16(0));
        b.extend(self.u32((ticks >> 32) as u32));
        b.extend(self.u32(ticks as u32));
        b.extend(self.u32(data.len() as u32));
        b.extend(self.u32(data.len() as u32));
        b.extend(data);
        self.block(2, &b);
    }
}

fn ethernet(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend(ip);
    f
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two sections: little-endian with nanosecond ticks, then big-endian with 2^-20 ticks and an
/// offset; every packet block type; unknown blocks in between.
fn two_sections() -> Vec<u8> {
    let mut le = Blocks {
        big: false,
        out: Vec::new(),
    };
    le.shb();
    le.idb(LinkType::ETHERNET, Some(9), None);
    le.idb(LinkType::RAW, Some(9), None);
    let p1 = udp(addr("10.0.0.2:5000"), addr("10.0.0.1:5000"), b"first");
    le.epb(0, 1_318_083_853_123_456_789, &ethernet(&p1));
    le.block(0x0bad_cafe, b"custom block, skipped"); // unknown type
    le.block(5, &[0; 16]); // interface statistics, skipped
    let p2 = udp(
        addr("[2001:db8::2]:5000"),
        addr("[2001:db8::1]:5000"),
        b"second",
    );
    le.epb(1, 1_318_083_854_000_000_001, &p2);

    let mut be = Blocks {
        big: true,
        out: le.out,
    };
    be.shb();
    be.idb(LinkType::RAW, Some(0x80 | 20), Some(100));
    let p3 = udp(addr("10.0.0.3:6000"), addr("10.0.0.4:7000"), b"third");
    be.epb(0, (1_700_000_000u64 << 20) + (1 << 19), &p3);
    be.spb(&p3);
    be.obsolete_pb(0, 5 << 20, &p3);
    be.out
}

#[test]
fn hand_built_pcapng_two_sections() {
    let bytes = two_sections();
    let cap = parse(&bytes).unwrap();
    assert_eq!(cap.format, Format::PcapNg);
    let got: Vec<_> = cap
        .frames
        .iter()
        .map(|f| (f.number, f.link, f.ts.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (1, LinkType::ETHERNET, "1318083853.123456789".to_owned()),
            (2, LinkType::RAW, "1318083854.000000001".to_owned()),
            (3, LinkType::RAW, "1700000100.500000000".to_owned()),
            (4, LinkType::RAW, "0.000000000".to_owned()),
            (5, LinkType::RAW, "105.000000000".to_owned()),
        ]
    );
    let dst: Vec<_> = cap
        .frames
        .iter()
        .map(|f| dissect(f).unwrap().unwrap().dst)
        .collect();
    assert_eq!(dst[1], addr("[2001:db8::1]:5000"));
    assert_eq!(dst[4], addr("10.0.0.4:7000"));

    if require_tool("tshark").is_none() {
        return;
    }
    let path = std::env::temp_dir().join(format!("captures-{}-hand.pcapng", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let rows = tshark_fields(
        &path,
        &[],
        "frame",
        &["frame.number", "frame.time_epoch", "udp.dstport"],
    )
    .unwrap();
    let ours: Vec<Vec<String>> = cap
        .frames
        .iter()
        .zip(&dst)
        .map(|(f, d)| {
            // A Simple Packet Block has no timestamp: we say 0, tshark leaves the field empty.
            let ts = if f.number == 4 {
                String::new()
            } else {
                f.ts.to_string()
            };
            vec![f.number.to_string(), ts, d.port().to_string()]
        })
        .collect();
    assert_eq!(rows, ours);
    assert_clean_for_tshark(&path, &[]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn damaged_blocks_are_errors_naming_the_offset() {
    let bytes = two_sections();
    // The first IDB starts right after the SHB; break its trailing length.
    let shb_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let idb_len = u32::from_le_bytes(bytes[shb_len + 4..shb_len + 8].try_into().unwrap()) as usize;
    let mut bad = bytes.clone();
    bad[shb_len + idb_len - 4] ^= 0xff;
    let err = parse(&bad).unwrap_err();
    assert!(
        err.to_string().contains(&format!("offset {shb_len}")),
        "{err}"
    );
    // A block length that is not a multiple of four.
    let mut bad = bytes.clone();
    bad[shb_len + 4] = 0x1d;
    assert!(matches!(
        parse(&bad),
        Err(captures::CaptureError::BadBlockLength { .. })
    ));
    // Cut in the middle of a block: the frames before it survive in parse_partial.
    let (cap, err) = captures::parse_partial(&bytes[..bytes.len() - 10]).unwrap();
    assert_eq!(cap.frames.len(), 4);
    assert!(matches!(
        err,
        Some(captures::CaptureError::Truncated { .. })
    ));
}
