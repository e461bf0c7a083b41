//! The media relay's load figure: `--calls` relayed G.711 calls on loopback, each sending `--pps`
//! packets per second each way (1,000 calls × 50 × 2 = 100,000 packets/s), for `--secs` seconds.
//!
//! The relay runs in a child process (this program with `--relay`), so its CPU is read on its own from
//! `/proc/PID/stat` (utime + stime) over the measured window, after a warm-up. This process is the load:
//! one thread paces the sends (in 2 ms slices), a few tokio tasks count what comes back on
//! `--gen-sockets` sockets per side (each socket stands for many phones or SIP peers; the relay still has
//! four sockets per call). Loss is what was sent minus what came back, per direction.
//!
//! ```text
//! cargo run --release -p gateway --example relay_load -- --calls 1000 --secs 20
//! ```

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gateway::call::{Codec, Direction, MediaDescription};
use gateway::media::ports::Lease;
use gateway::media::rtp::RtpHeader;
use gateway::media::{MediaRelay, RelayCall};

type Res<T> = Result<T, Box<dyn Error>>;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WARMUP: Duration = Duration::from_secs(3);
const SLICES: u32 = 10;

#[derive(Debug, Clone)]
struct Opts {
    relay: bool,
    calls: usize,
    secs: u64,
    pps: u32,
    ports: (u16, u16),
    workers: usize,
    gen_sockets: usize,
    senders: usize,
    /// `relay` (gateway::media) or `naive` (a bare task per RTP socket, for comparison).
    engine: String,
}

impl Opts {
    fn parse() -> Res<Self> {
        let mut o = Self {
            relay: false,
            calls: 1000,
            secs: 20,
            pps: 50,
            ports: (20000, 29999),
            workers: 0,
            gen_sockets: 64,
            senders: 2,
            engine: "relay".to_owned(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
            match a.as_str() {
                "--relay" => o.relay = true,
                "--calls" => o.calls = value()?.parse()?,
                "--secs" => o.secs = value()?.parse()?,
                "--pps" => o.pps = value()?.parse()?,
                "--workers" => o.workers = value()?.parse()?,
                "--engine" => o.engine = value()?,
                "--senders" => o.senders = value()?.parse::<usize>()?.max(1),
                "--gen-sockets" => o.gen_sockets = value()?.parse::<usize>()?.max(1),
                "--ports" => {
                    let v = value()?;
                    let (l, h) = v.split_once('-').ok_or("--ports LOW-HIGH")?;
                    o.ports = (l.parse()?, h.parse()?);
                }
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        Ok(o)
    }

    fn child_args(&self) -> Vec<String> {
        vec![
            "--relay".into(),
            "--ports".into(),
            format!("{}-{}", self.ports.0, self.ports.1),
            "--workers".into(),
            self.workers.to_string(),
            "--engine".into(),
            self.engine.clone(),
        ]
    }
}

fn main() -> Res<()> {
    let o = Opts::parse()?;
    if o.relay {
        relay_main(&o)
    } else {
        driver_main(&o)
    }
}

fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    match workers {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
}

/// The child: reads `CALL phone sip` lines until `GO`, opens a relayed call for each, answers
/// `OPEN phone_local sip_local`, then `READY`; relays until its stdin closes, then prints the sums of
/// the calls' counters.
fn relay_main(o: &Opts) -> Res<()> {
    let rt = runtime(o.workers)?;
    rt.block_on(async {
        let relay = MediaRelay::new(LOOPBACK, o.ports.0..=o.ports.1);
        let mut calls: Vec<RelayCall> = Vec::new();
        let mut leases = Vec::new();
        let stdin = std::io::stdin();
        let mut out = std::io::stdout().lock();
        let mut line = String::new();
        loop {
            line.clear();
            if stdin.lock().read_line(&mut line)? == 0 || line.trim() == "GO" {
                break;
            }
            let mut it = line.split_whitespace().skip(1);
            let phone: SocketAddr = it.next().ok_or("phone")?.parse()?;
            let sip: SocketAddr = it.next().ok_or("sip")?.parse()?;
            if o.engine == "naive" {
                let (p, s, lease) = naive_call(relay.ports(), phone, sip)?;
                writeln!(out, "OPEN {p} {s}")?;
                leases.push(lease);
                continue;
            }
            let call = relay.open()?;
            call.set_phone_remote(phone);
            call.set_sip_remote(&MediaDescription {
                rtp: sip,
                codec: Codec::Pcmu,
                payload_type: 0,
                ptime_ms: 20,
                telephone_event: None,
                direction: Direction::SendRecv,
            });
            writeln!(out, "OPEN {} {}", call.phone_local(), call.sip_local())?;
            calls.push(call);
        }
        writeln!(out, "READY")?;
        out.flush()?;
        drop(out);
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .lock()
                .read_line(&mut sink)
                .is_ok_and(|n| n > 0)
            {}
        })
        .await?;
        let (mut p2s, mut s2p, mut dropped) = (0, 0, 0);
        for c in &calls {
            let s = c.stats();
            p2s += s.phone_to_sip.packets;
            s2p += s.sip_to_phone.packets;
            let d = s.dropped;
            dropped +=
                d.unexpected_source + d.malformed + d.no_destination + d.held + d.send_failed;
        }
        println!("STATS {p2s} {s2p} {dropped}");
        Ok::<_, Box<dyn Error>>(())
    })
}

/// The comparison: one task per RTP socket doing `recv_from().await` then `send_to().await` toward a
/// fixed remote (no latching, no RTCP, no checks): the floor of a per-socket-task design.
fn naive_call(
    pool: &gateway::media::PortPool,
    phone: SocketAddr,
    sip: SocketAddr,
) -> Res<(SocketAddr, SocketAddr, [Lease; 2])> {
    let (a, b) = (pool.allocate()?, pool.allocate()?);
    let (pa, sa) = (a.local(), b.local());
    let (a_rtp, _a_rtcp, a_lease) = a.into_parts();
    let (b_rtp, _b_rtcp, b_lease) = b.into_parts();
    let a = Arc::new(tokio::net::UdpSocket::from_std(a_rtp)?);
    let b = Arc::new(tokio::net::UdpSocket::from_std(b_rtp)?);
    for (from, to, dest) in [(Arc::clone(&a), Arc::clone(&b), sip), (b, a, phone)] {
        tokio::spawn(async move {
            let mut buf = [0u8; 1536];
            while let Ok((n, _)) = from.recv_from(&mut buf).await {
                let _ = to.send_to(&buf[..n], dest).await;
            }
        });
    }
    Ok((pa, sa, [a_lease, b_lease]))
}

/// utime + stime of a process, in seconds.
fn cpu_secs(pid: &str) -> Res<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').ok_or("stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        f.get(11).ok_or("utime")?.parse::<u64>()? + f.get(12).ok_or("stime")?.parse::<u64>()?;
    Ok(ticks as f64 / 100.0)
}

fn rss_kib(pid: &str) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("VmRSS")?.parse()?)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn bind_many(n: usize) -> Res<Vec<UdpSocket>> {
    (0..n)
        .map(|_| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            // As large as the host allows (net.core.rmem_max caps it).
            let _ = s.set_recv_buffer_size(8 << 20);
            s.bind(&SocketAddr::new(LOOPBACK, 0).into())?;
            Ok(UdpSocket::from(s))
        })
        .collect()
}

/// The load: binds the generator sockets, starts the relay child, opens the calls, pushes packets,
/// reads CPU over the window and reports.
fn driver_main(o: &Opts) -> Res<()> {
    let phones = bind_many(o.gen_sockets)?;
    let sips = bind_many(o.gen_sockets)?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(o.child_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id().to_string();
    let mut to_child = child.stdin.take().ok_or("stdin")?;
    let mut from_child = BufReader::new(child.stdout.take().ok_or("stdout")?);
    for i in 0..o.calls {
        let g = i % o.gen_sockets;
        writeln!(
            to_child,
            "CALL {} {}",
            phones[g].local_addr()?,
            sips[g].local_addr()?
        )?;
    }
    writeln!(to_child, "GO")?;
    to_child.flush()?;
    let mut relay_addrs: Vec<(SocketAddr, SocketAddr)> = Vec::with_capacity(o.calls);
    let mut line = String::new();
    loop {
        line.clear();
        if from_child.read_line(&mut line)? == 0 {
            return Err("the relay ended early".into());
        }
        let mut it = line.split_whitespace();
        match it.next() {
            Some("OPEN") => {
                let p = it.next().ok_or("OPEN")?.parse()?;
                let s = it.next().ok_or("OPEN")?.parse()?;
                relay_addrs.push((p, s));
            }
            Some("READY") => break,
            _ => return Err(format!("unexpected from the relay: {line}").into()),
        }
    }
    println!(
        "relay pid {pid}: {} calls open, rss {} KiB, load average {}",
        relay_addrs.len(),
        rss_kib(&pid)?,
        loadavg()
    );

    // Receivers: one tokio task per generator socket, on a small runtime of their own.
    let rx_phone = Arc::new(AtomicU64::new(0));
    let rx_sip = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let rt = runtime(0)?;
    for (socks, counter) in [(&phones, &rx_phone), (&sips, &rx_sip)] {
        for s in socks.iter() {
            let s = s.try_clone()?;
            s.set_nonblocking(true)?;
            let counter = Arc::clone(counter);
            rt.spawn(async move {
                let Ok(s) = tokio::net::UdpSocket::from_std(s) else {
                    return;
                };
                let mut buf = [0u8; 2048];
                while s.recv_from(&mut buf).await.is_ok() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }

    // The sender thread: every call sends one packet each way per 1/pps s, spread over SLICES slices.
    let tx = Arc::new(AtomicU64::new(0));
    let chunk = relay_addrs.len().div_ceil(o.senders.max(1)).max(1);
    let mut senders = Vec::new();
    for (n, part) in relay_addrs.chunks(chunk).enumerate() {
        let (phones, sips) = (clone_all(&phones)?, clone_all(&sips)?);
        let (stop, tx, o, part) = (Arc::clone(&stop), Arc::clone(&tx), o.clone(), part.to_vec());
        senders.push(std::thread::spawn(move || {
            send_loop(&o, &phones, &sips, &part, n * chunk, &stop, &tx)
        }));
    }

    std::thread::sleep(WARMUP);
    let (cpu0, self0, t0, rx0) = (
        cpu_secs(&pid)?,
        cpu_secs("self")?,
        Instant::now(),
        rx_phone.load(Ordering::Relaxed) + rx_sip.load(Ordering::Relaxed),
    );
    let load_before = loadavg();
    std::thread::sleep(Duration::from_secs(o.secs));
    let (cpu1, self1, elapsed, rx1) = (
        cpu_secs(&pid)?,
        cpu_secs("self")?,
        t0.elapsed().as_secs_f64(),
        rx_phone.load(Ordering::Relaxed) + rx_sip.load(Ordering::Relaxed),
    );
    let rss = rss_kib(&pid)?;
    let load_after = loadavg();
    stop.store(true, Ordering::Relaxed);
    let mut sent_each_way = 0;
    for s in senders {
        sent_each_way += s.join().map_err(|_| "sender panicked")?;
    }
    // Let what is queued drain (a relay behind schedule catches up) before counting loss.
    let total = || rx_phone.load(Ordering::Relaxed) + rx_sip.load(Ordering::Relaxed);
    let (mut last, mut still) = (total(), 0);
    let drain_start = Instant::now();
    while still < 3 && drain_start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        let now = total();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    let drained_in = drain_start.elapsed().as_secs_f64() - 0.6;
    drop(to_child);
    line.clear();
    from_child.read_line(&mut line)?;
    child.wait()?;
    let (got_phone, got_sip) = (
        rx_phone.load(Ordering::Relaxed),
        rx_sip.load(Ordering::Relaxed),
    );
    let loss = |sent: u64, got: u64| 100.0 * (sent.saturating_sub(got)) as f64 / sent.max(1) as f64;
    println!(
        "window {elapsed:.1} s: relayed {:.0} packets/s; relay CPU {:.3} cores ({:.1} µs/packet); \
         rss {rss} KiB; load generator CPU {:.3} cores",
        (rx1 - rx0) as f64 / elapsed,
        (cpu1 - cpu0) / elapsed,
        (cpu1 - cpu0) * 1e6 / (rx1 - rx0).max(1) as f64,
        (self1 - self0) / elapsed,
    );
    println!(
        "sent {sent_each_way} each way; phone→SIP received {got_sip} (loss {:.3} %), SIP→phone received \
         {got_phone} (loss {:.3} %); relay counters (p2s s2p dropped): {}",
        loss(sent_each_way, got_sip),
        loss(sent_each_way, got_phone),
        line.trim().trim_start_matches("STATS "),
    );
    println!(
        "load average before {load_before}, after {load_after}; send slices behind schedule: {}; \
         backlog drained {drained_in:.1} s after the senders stopped",
        tx.load(Ordering::Relaxed)
    );
    Ok(())
}

fn clone_all(socks: &[UdpSocket]) -> Res<Vec<UdpSocket>> {
    Ok(socks
        .iter()
        .map(UdpSocket::try_clone)
        .collect::<Result<_, _>>()?)
}

/// Returns the packets sent each way; counts slices that started late in `late`.
fn send_loop(
    o: &Opts,
    phones: &[UdpSocket],
    sips: &[UdpSocket],
    relay: &[(SocketAddr, SocketAddr)],
    base: usize,
    stop: &AtomicBool,
    late: &AtomicU64,
) -> u64 {
    let period = Duration::from_secs(1) / o.pps.max(1);
    let slice = period / SLICES;
    let per_slice = relay.len().div_ceil(SLICES as usize);
    let mut seq = vec![0u16; relay.len()];
    let mut buf = [0u8; 172];
    let mut sent = 0u64;
    let start = Instant::now();
    let mut tick = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let due = start + slice * tick;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > slice {
            late.fetch_add(1, Ordering::Relaxed);
        }
        let part = (tick % SLICES) as usize;
        let round = tick / SLICES;
        let first = part * per_slice;
        for i in first..(first + per_slice).min(relay.len()) {
            let (phone_dst, sip_dst) = relay[i];
            let g = (base + i) % phones.len();
            let ssrc = u32::try_from(base + i).unwrap_or(0);
            let ts = round.wrapping_mul(160);
            let len = RtpHeader::new(0, seq[i], ts, ssrc)
                .write(&[0xd5; 160], &mut buf)
                .unwrap_or(0);
            seq[i] = seq[i].wrapping_add(1);
            let _ = phones[g].send_to(&buf[..len], phone_dst);
            let len = RtpHeader::new(0, seq[i], ts, ssrc ^ 0x8000_0000)
                .write(&[0x55; 160], &mut buf)
                .unwrap_or(0);
            let _ = sips[g].send_to(&buf[..len], sip_dst);
            sent += 1;
        }
        tick += 1;
    }
    sent
}
