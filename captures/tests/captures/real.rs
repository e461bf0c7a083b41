//! The real captures in `shared/captures`, read by us and by tshark.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use captures::peer::{require_tool, tshark, tshark_fields};
use captures::{LinkType, Transport, dissect, payloads, read_file};

use crate::util::{capture_files, sccp_messages, tcp_streams, tshark_sccp_messages, unhex};

#[test]
fn every_capture_parses() {
    for file in capture_files("") {
        let cap = read_file(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!cap.frames.is_empty(), "{}", file.display());
        for (i, f) in cap.frames.iter().enumerate() {
            assert_eq!(f.number, i as u64 + 1);
            assert!(
                [LinkType::ETHERNET, LinkType::RAW].contains(&f.link),
                "{}: {:?}",
                file.display(),
                f.link
            );
        }
    }
}

#[test]
fn read_file_names_the_path() {
    let err = read_file("/nonexistent/capture.pcap").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/capture.pcap"),
        "{err}"
    );
}

/// Frame count, timestamps, link type and addresses agree with tshark frame by frame.
#[test]
fn frames_match_tshark() {
    if require_tool("tshark").is_none() {
        return;
    }
    let fields = [
        "frame.number",
        "frame.time_epoch",
        "frame.protocols",
        "ip.src",
        "ipv6.src",
        "ip.dst",
        "ipv6.dst",
        "tcp.srcport",
        "udp.srcport",
        "tcp.dstport",
        "udp.dstport",
    ];
    for file in capture_files("") {
        let name = file.display();
        let cap = read_file(&file).unwrap();
        let rows = tshark_fields(&file, &[], "frame", &fields).unwrap();
        assert_eq!(rows.len(), cap.frames.len(), "{name}: frame count");
        for (frame, row) in cap.frames.iter().zip(&rows) {
            let n = frame.number;
            assert_eq!(row[0], n.to_string(), "{name}");
            assert_eq!(row[1], frame.ts.to_string(), "{name} frame {n}: time");
            let first_proto = row[2].split(':').next().unwrap();
            let expect_link = match first_proto {
                "eth" => LinkType::ETHERNET,
                "raw" => LinkType::RAW,
                other => panic!("{name}: unexpected encapsulation {other}"),
            };
            assert_eq!(frame.link, expect_link, "{name} frame {n}");
            let first = |s: &String| s.split(',').next().unwrap_or("").to_owned();
            let pick = |a: &String, b: &String| if a.is_empty() { first(b) } else { first(a) };
            match dissect(frame).unwrap_or_else(|e| panic!("{name} frame {n}: {e}")) {
                Some(p) => {
                    let src: SocketAddr = format!(
                        "{}:{}",
                        bracket(&pick(&row[3], &row[4])),
                        pick(&row[7], &row[8])
                    )
                    .parse()
                    .unwrap_or_else(|e| panic!("{name} frame {n}: {e} {row:?}"));
                    let dst: SocketAddr = format!(
                        "{}:{}",
                        bracket(&pick(&row[5], &row[6])),
                        pick(&row[9], &row[10])
                    )
                    .parse()
                    .unwrap();
                    assert_eq!((p.src, p.dst), (src, dst), "{name} frame {n}");
                    let is_tcp = matches!(p.transport, Transport::Tcp(_));
                    assert_eq!(is_tcp, !row[7].is_empty(), "{name} frame {n}: tcp?");
                }
                None => {
                    let ports = [&row[7], &row[8]].iter().any(|s| !s.is_empty());
                    assert!(
                        !ports || row[2].contains("icmp"),
                        "{name} frame {n}: tshark sees ports, we see none: {row:?}"
                    );
                }
            }
        }
    }
}

fn bracket(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    }
}

/// For every SCCP capture, messages framed from our TCP payloads complete in the frames where
/// tshark's skinny dissector reports them.
#[test]
fn sccp_message_frames_match_tshark() {
    if require_tool("tshark").is_none() {
        return;
    }
    for file in capture_files("sccp") {
        let cap = read_file(&file).unwrap();
        let ours = sccp_messages(&payloads(&cap), 2000);
        let theirs = tshark_sccp_messages(&file, &[]);
        assert!(!theirs.is_empty(), "{}", file.display());
        assert_eq!(ours, theirs, "{}", file.display());
    }
}

/// For every TCP stream of every SCCP capture, our per-direction bytes equal tshark's
/// `follow,tcp,raw`.
#[test]
fn sccp_stream_bytes_match_tshark_follow() {
    if require_tool("tshark").is_none() {
        return;
    }
    for file in capture_files("sccp") {
        let name = file.display();
        let cap = read_file(&file).unwrap();
        let ours = tcp_streams(&payloads(&cap));
        let path = file.to_string_lossy();
        let ids: BTreeSet<String> = tshark_fields(&file, &[], "tcp", &["tcp.stream"])
            .unwrap()
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        for id in ids {
            let z = format!("follow,tcp,raw,{id}");
            let out = tshark(&["-r", &path, "-n", "-q", "-z", &z]).unwrap();
            let (mut nodes, mut bytes) = (Vec::new(), [String::new(), String::new()]);
            for line in out.lines() {
                if let Some(addr) = line
                    .strip_prefix("Node 0: ")
                    .or_else(|| line.strip_prefix("Node 1: "))
                {
                    nodes.push(addr.parse::<SocketAddr>().unwrap());
                } else if nodes.len() == 2 && !line.starts_with('=') {
                    match line.strip_prefix('\t') {
                        Some(hex) => bytes[1].push_str(hex),
                        None => bytes[0].push_str(line),
                    }
                }
            }
            for (from, to, hex) in [(0, 1, &bytes[0]), (1, 0, &bytes[1])] {
                let got = ours
                    .get(&(nodes[from], nodes[to]))
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    got == unhex(hex),
                    "{name} stream {id} {}->{}: {} bytes ours, {} tshark",
                    nodes[from],
                    nodes[to],
                    got.len(),
                    hex.len() / 2
                );
            }
        }
    }
}

/// Every UDP datagram of every capture (the UNIStim ones especially) is one payload, at the frame
/// and with the length tshark reports.
#[test]
fn udp_datagrams_match_tshark() {
    if require_tool("tshark").is_none() {
        return;
    }
    for file in capture_files("") {
        let cap = read_file(&file).unwrap();
        let ours: Vec<Vec<String>> = payloads(&cap)
            .iter()
            .filter(|p| p.proto == captures::Proto::Udp)
            .map(|p| vec![p.frame.to_string(), (p.data.len() + 8).to_string()])
            .collect();
        let theirs =
            tshark_fields(&file, &[], "udp && !icmp", &["frame.number", "udp.length"]).unwrap();
        assert_eq!(ours, theirs, "{}", file.display());
    }
}
