//! `tftp-storm`: the boot-storm load client of `scripts/bench-tftp.sh`.
//!
//! ```text
//! tftp-storm fleet N                         the fleet CSV of N phones (for crossbar import)
//! tftp-storm prerender HTTP_ADDR N DIR       every file the N phones fetch, from Crossbar's HTTP server, into DIR
//! tftp-storm boot TFTP_ADDR N [EXPECT_DIR]   N phones boot at once; prints one line of results
//! ```
//!
//! Phone `i` has its own source address (127.1.x.y, so per-source limits see 5,000 phones, not one) and a
//! new socket (transfer ID) per file, and fetches what its model fetches at boot
//! (`shared/provisioning-examples/boot-sequences.tsv`): a 7960 `CTLSEP<MAC>.tlv` (missing),
//! `SEP<MAC>.cnf.xml`, `RINGLIST.DAT`; a 7961 also `ITLSEP<MAC>.tlv` and `ITLFile.tlv` (missing); an 1140E
//! `SYSTEM.PRV`, `1140E.PRV`, `<MAC>.PRV`, `1140e.cfg`. Plain RFC 1350 requests (512-byte blocks, no
//! options), as these phones send; 1 s retransmission, 5 tries, as a phone's TFTP client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

const RETRY: Duration = Duration::from_secs(1);
const TRIES: u32 = 5;

#[derive(Clone, Copy)]
enum Model {
    Cisco7960,
    Cisco7961,
    Avaya1140e,
}

impl Model {
    fn of(i: u32) -> Self {
        match i % 5 {
            0 | 1 => Self::Cisco7960,
            2 => Self::Cisco7961,
            _ => Self::Avaya1140e,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Cisco7960 => "cisco-7960",
            Self::Cisco7961 => "cisco-7961",
            Self::Avaya1140e => "avaya-1140e",
        }
    }
}

fn mac(i: u32) -> String {
    let oui = match Model::of(i) {
        Model::Avaya1140e => "001BBA",
        _ => "0004F2",
    };
    format!("{oui}{i:06X}")
}

fn source(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8))
}

/// (file name, whether it exists) in boot order.
fn boot_files(i: u32) -> Vec<(String, bool)> {
    let m = mac(i);
    match Model::of(i) {
        Model::Cisco7960 => vec![
            (format!("CTLSEP{m}.tlv"), false),
            (format!("SEP{m}.cnf.xml"), true),
            ("RINGLIST.DAT".to_owned(), true),
        ],
        Model::Cisco7961 => vec![
            (format!("CTLSEP{m}.tlv"), false),
            (format!("ITLSEP{m}.tlv"), false),
            ("ITLFile.tlv".to_owned(), false),
            (format!("SEP{m}.cnf.xml"), true),
        ],
        Model::Avaya1140e => vec![
            ("SYSTEM.PRV".to_owned(), true),
            ("1140E.PRV".to_owned(), true),
            (format!("{m}.PRV"), true),
            ("1140e.cfg".to_owned(), true),
        ],
    }
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    missing: AtomicU64,
    failed: AtomicU64,
    unexpected: AtomicU64,
    mismatched: AtomicU64,
    retransmits: AtomicU64,
    bytes: AtomicU64,
}

enum Got {
    File(Vec<u8>),
    Error(u16),
    TimedOut,
}

fn rrq(name: &str) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(name.as_bytes());
    p.push(0);
    p.extend_from_slice(b"octet\0");
    p
}

/// One RFC 1350 read: lock-step, ACK of every block, the last ACK retransmitted on a repeated block.
async fn get(ip: IpAddr, server: SocketAddr, name: &str, counts: &Counts) -> std::io::Result<Got> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
    let request = rrq(name);
    let mut last_sent = request.clone();
    let mut peer = server;
    let mut tid: Option<SocketAddr> = None;
    let mut expected: u16 = 1;
    let mut file = Vec::new();
    let mut buf = vec![0u8; 1024];
    let mut tries = 0;
    socket.send_to(&request, peer).await?;
    loop {
        let (len, from) = match tokio::time::timeout(RETRY, socket.recv_from(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                tries += 1;
                if tries >= TRIES {
                    return Ok(Got::TimedOut);
                }
                counts.retransmits.fetch_add(1, Ordering::Relaxed);
                socket.send_to(&last_sent, peer).await?;
                continue;
            }
        };
        if tid.is_some_and(|t| t != from) {
            continue;
        }
        let packet = buf.get(..len).unwrap_or_default();
        let (Some(op), Some(block)) = (packet.get(..2), packet.get(2..4)) else {
            continue;
        };
        let block = u16::from_be_bytes([block[0], block[1]]);
        match op {
            [0, 5] => return Ok(Got::Error(block)),
            [0, 3] => {
                tid = Some(from);
                peer = from;
                if block == expected {
                    tries = 0;
                    let data = packet.get(4..).unwrap_or_default();
                    file.extend_from_slice(data);
                    last_sent = vec![0, 4, (block >> 8) as u8, block as u8];
                    socket.send_to(&last_sent, peer).await?;
                    if data.len() < 512 {
                        return Ok(Got::File(file));
                    }
                    expected = expected.wrapping_add(1);
                } else if block == expected.wrapping_sub(1) {
                    // Our ACK was lost: acknowledge again.
                    socket.send_to(&last_sent, peer).await?;
                }
            }
            _ => {}
        }
    }
}

async fn phone(i: u32, server: SocketAddr, expect: Option<Arc<PathBuf>>, counts: Arc<Counts>) {
    let ip = source(i);
    for (name, exists) in boot_files(i) {
        match get(ip, server, &name, &counts).await {
            Ok(Got::File(bytes)) => {
                counts
                    .bytes
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                if !exists {
                    counts.unexpected.fetch_add(1, Ordering::Relaxed);
                } else {
                    counts.ok.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(dir) = &expect
                    && std::fs::read(dir.join(&name)).ok().as_deref() != Some(bytes.as_slice())
                {
                    counts.mismatched.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Got::Error(1)) if !exists => {
                counts.missing.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Got::Error(_)) => {
                counts.unexpected.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Got::TimedOut) | Err(_) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn boot(server: SocketAddr, n: u32, expect: Option<PathBuf>) -> bool {
    let counts = Arc::new(Counts::default());
    let expect = expect.map(Arc::new);
    let started = Instant::now();
    let phones: Vec<_> = (0..n)
        .map(|i| tokio::spawn(phone(i, server, expect.clone(), Arc::clone(&counts))))
        .collect();
    for p in phones {
        let _ = p.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let files: u64 = (0..n).map(|i| boot_files(i).len() as u64).sum();
    println!(
        "phones={n} files={files} ok={} missing={} failed={} unexpected={} mismatched={} retransmits={} bytes={} seconds={secs:.3} files_per_sec={:.0}",
        c(&counts.ok),
        c(&counts.missing),
        c(&counts.failed),
        c(&counts.unexpected),
        c(&counts.mismatched),
        c(&counts.retransmits),
        c(&counts.bytes),
        files as f64 / secs,
    );
    c(&counts.failed) + c(&counts.unexpected) + c(&counts.mismatched) == 0
}

fn fleet(n: u32) {
    println!("extension,display_name,mac,model");
    for i in 0..n {
        println!(
            "{},Phone {i},{},{}",
            10_000 + i,
            mac(i),
            Model::of(i).name()
        );
    }
}

async fn http_get(server: SocketAddr, name: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(server).await?;
    stream
        .write_all(
            format!("GET /provision/{name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    if !out.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "{name}: {}",
            String::from_utf8_lossy(&out[..split])
        )));
    }
    Ok(out.split_off(split + 4))
}

async fn prerender(server: SocketAddr, n: u32, dir: &Path) -> std::io::Result<()> {
    let mut names: Vec<String> = (0..n)
        .flat_map(boot_files)
        .filter(|(name, exists)| *exists && name != "RINGLIST.DAT")
        .map(|(name, _)| name)
        .collect();
    names.sort();
    names.dedup();
    for name in &names {
        let body = http_get(server, name).await?;
        std::fs::write(dir.join(name), body)?;
    }
    eprintln!(
        "tftp-storm: {} files rendered into {}",
        names.len(),
        dir.display()
    );
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: tftp-storm fleet N | prerender HTTP_ADDR N DIR | boot TFTP_ADDR N [EXPECT_DIR]"
    );
    ExitCode::from(64)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let n = |i: usize| arg(i).and_then(|s| s.parse::<u32>().ok());
    let addr = |i: usize| arg(i).and_then(|s| s.parse::<SocketAddr>().ok());
    match (arg(0), args.len()) {
        (Some("fleet"), 2) => {
            let Some(n) = n(1) else { return usage() };
            fleet(n);
            ExitCode::SUCCESS
        }
        (Some("prerender"), 4) => {
            let (Some(server), Some(n)) = (addr(1), n(2)) else {
                return usage();
            };
            match prerender(server, n, Path::new(&args[3])).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("tftp-storm: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        (Some("boot"), 3 | 4) => {
            let (Some(server), Some(n)) = (addr(1), n(2)) else {
                return usage();
            };
            if boot(server, n, arg(3).map(PathBuf::from)).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => usage(),
    }
}
