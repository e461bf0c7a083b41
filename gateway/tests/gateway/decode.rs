//! `crossbar decode` end to end: the built binary agrees with tshark message by message on every shared
//! capture, and decodes, without flags, a capture recorded with tcpdump on loopback.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::CROSSBAR;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel)
}

fn captures_in(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(shared(dir))
        .expect("shared captures")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files
}

/// `crossbar decode --json FILE [args]`, one parsed object per line.
fn decode_json(file: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(CROSSBAR)
        .arg("decode")
        .arg("--json")
        .arg(file)
        .args(args)
        .output()
        .expect("runs crossbar");
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn by_frame<'a>(
    records: impl Iterator<Item = &'a Value>,
    f: impl Fn(&Value) -> Vec<String>,
) -> BTreeMap<u64, Vec<String>> {
    let mut map: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for r in records {
        map.entry(r["frame"].as_u64().unwrap())
            .or_default()
            .extend(f(r));
    }
    map
}

fn tshark_by_frame(
    file: &Path,
    extra: &[&str],
    filter: &str,
    fields: &[&str],
) -> BTreeMap<u64, Vec<Vec<String>>> {
    let mut names = vec!["frame.number"];
    names.extend(fields);
    let rows = captures::peer::tshark_fields(file, extra, filter, &names).expect("tshark runs");
    rows.into_iter()
        .map(|row| {
            let cols = row[1..]
                .iter()
                .map(|c| {
                    c.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .collect();
            (row[0].parse().unwrap(), cols)
        })
        .collect()
}

fn number(s: &str) -> u64 {
    s.strip_prefix("0x").map_or_else(
        || s.parse().unwrap(),
        |h| u64::from_str_radix(h, 16).unwrap(),
    )
}

#[test]
fn sccp_agrees_with_tshark_on_all_13_captures() {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let files = captures_in("captures/sccp");
    assert_eq!(files.len(), 13);
    for file in files {
        let ours = decode_json(&file, &[]);
        assert!(ours.iter().all(|r| r["proto"] == "sccp"));
        let ids = by_frame(ours.iter(), |r| vec![r["id"].as_u64().unwrap().to_string()]);
        let key = |name: &'static str| {
            move |r: &Value| {
                let mut v: Vec<String> = r["fields"]
                    .get(name)
                    .map(|x| vec![x.to_string().trim_matches('"').to_owned()])
                    .unwrap_or_default();
                v.retain(|s| !s.is_empty());
                v
            }
        };
        let lines = by_frame(ours.iter(), key("lineInstance"));
        let calls = by_frame(ours.iter(), key("callReference"));
        let theirs = tshark_by_frame(
            &file,
            &[],
            "skinny",
            &[
                "skinny.messageId",
                "skinny.lineInstance",
                "skinny.callReference",
            ],
        );
        assert_eq!(
            ids.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{}: frames with SCCP",
            file.display()
        );
        for (frame, cols) in &theirs {
            let want: Vec<String> = cols[0].iter().map(|s| number(s).to_string()).collect();
            assert_eq!(
                ids[frame],
                want,
                "{}: frame {frame}: message ids",
                file.display()
            );
            // Top-level line and call fields, as multisets (tshark lists a frame's values per field).
            for (ours, theirs, name) in [
                (&lines, &cols[1], "lineInstance"),
                (&calls, &cols[2], "callReference"),
            ] {
                let mut a = ours.get(frame).cloned().unwrap_or_default();
                let mut b = theirs.clone();
                a.sort();
                b.sort();
                assert_eq!(a, b, "{}: frame {frame}: {name}", file.display());
            }
        }
        // The text form lists the same messages.
        let text = Command::new(CROSSBAR)
            .arg("decode")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&text.stdout).lines().count(),
            ours.len()
        );
    }
}

#[test]
fn unistim_agrees_with_tshark_on_both_captures() {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let files = captures_in("captures/unistim");
    assert_eq!(files.len(), 2);
    for file in files {
        let ours = decode_json(&file, &[]);
        assert!(ours.iter().all(|r| r["proto"] == "unistim"));
        let addresses = by_frame(ours.iter(), |r| {
            r["id"]
                .as_str()
                .map(|id| number(id.split('/').next().unwrap()).to_string())
                .into_iter()
                .collect()
        });
        let theirs = tshark_by_frame(
            &file,
            &["-d", "udp.port==5000,unistim"],
            "udp.port==5000",
            &["unistim.add"],
        );
        assert_eq!(
            addresses.len(),
            theirs.len(),
            "{}: datagrams",
            file.display()
        );
        for (frame, cols) in &theirs {
            let want: Vec<String> = cols[0].iter().map(|s| number(s).to_string()).collect();
            assert_eq!(
                addresses[frame],
                want,
                "{}: frame {frame}: addresses",
                file.display()
            );
        }
        // Another port finds nothing; the right one given explicitly finds the same.
        assert!(decode_json(&file, &["--unistim-port", "4100"]).is_empty());
        assert_eq!(
            decode_json(&file, &["--unistim-port", "4100", "--unistim-port", "5000"]).len(),
            ours.len()
        );
    }
}

/// The bytes of one shared SCCP conversation, phone side and server side in order.
fn conversation() -> Vec<(bool, Vec<u8>)> {
    let capture = captures::read_file(shared(
        "captures/sccp/nrusso-collab__sccp_phone_register.pcapng",
    ))
    .unwrap();
    captures::payloads(&capture)
        .into_iter()
        .filter(|p| p.proto == captures::Proto::Tcp && p.gap == 0)
        .map(|p| (p.dst.port() == 2000, p.data))
        .collect()
}

/// A phone and a server exchanging the captured registration over loopback while tcpdump records it;
/// `crossbar decode` with no flags lists the same messages as the original capture.
#[test]
fn decodes_a_capture_recorded_with_tcpdump() {
    let Some(tcpdump) = captures::peer::require_tool("tcpdump") else {
        return;
    };
    // Port 2000 if free (the common case), else any port: both are found without flags.
    let listener = TcpListener::bind("127.0.0.1:2000")
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phone.pcap");
    let mut dump = Command::new(tcpdump)
        .args([
            "-i",
            "lo",
            "-U",
            "--immediate-mode",
            "-B",
            "8192",
            "-n",
            "-w",
        ])
        .arg(&file)
        .arg(format!("tcp port {port}"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // tcpdump reports "listening on lo" once it captures.
    let mut stderr = dump.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("listening on") {
        assert_eq!(
            stderr.read(&mut byte).unwrap(),
            1,
            "tcpdump exited: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.push(byte[0]);
    }
    // "listening on" comes as the capture starts; give the kernel filter a moment to attach.
    std::thread::sleep(Duration::from_millis(1000));
    let script = conversation();
    let server_script = script.clone();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        play(&mut s, &server_script, false);
    });
    let mut phone = TcpStream::connect(("127.0.0.1", port)).unwrap();
    play(&mut phone, &script, true);
    server.join().unwrap();
    drop(phone);
    std::thread::sleep(Duration::from_millis(1000));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(dump.id().to_string())
        .status();
    dump.wait().unwrap();
    // tcpdump's closing statistics: a loaded machine can make it drop packets.
    let mut closing = String::new();
    let _ = stderr.read_to_string(&mut closing);
    let dropped = !closing.contains(" 0 packets dropped by kernel");

    let recorded = decode_json(&file, &[]);
    let original = decode_json(
        &shared("captures/sccp/nrusso-collab__sccp_phone_register.pcapng"),
        &[],
    );
    let names = |v: &[Value]| {
        v.iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // The same messages in the same order (the segment missing from the original capture carried no
    // complete message, and the script replays only what the capture has) - or, when tcpdump itself
    // dropped packets, the original's messages minus some, still in order.
    let (ours, theirs) = (names(&recorded), names(&original));
    if dropped {
        let mut rest = theirs.iter();
        assert!(
            ours.iter().all(|n| rest.any(|t| t == n)),
            "{closing}\n{ours:?}\n{theirs:?}"
        );
    } else {
        assert_eq!(ours, theirs, "{closing}");
    }
    assert_eq!(
        recorded
            .iter()
            .filter(|r| r["name"] == "RegisterReq")
            .count(),
        1
    );
    assert!(
        recorded
            .iter()
            .any(|r| r["name"] == "RegisterAck" && r["fields"]["maxProtocolVer"] == 21)
    );
}

/// Sends this side's chunks in order, reading the other side's chunks in between, so the wire order of
/// the captured conversation is kept.
fn play(stream: &mut TcpStream, script: &[(bool, Vec<u8>)], phone: bool) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for (from_phone, data) in script {
        if *from_phone == phone {
            stream.write_all(data).unwrap();
        } else {
            let mut buf = vec![0; data.len()];
            stream.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, data);
        }
    }
}
