//! `phonesim`: simulated SCCP phones against a running Crossbar (or any call manager) for load and
//! soak runs. Prints a summary every `--report-secs` and a final one.
//!
//! ```text
//! phonesim --server 127.0.0.1:2000 (--csv fleet.csv | --phones N --mac-base 0004f2000000)
//!          [--calls-per-sec R --call-target EXT|peers --call-secs S] [--duration SECS] [--storm]
//! phonesim --serve-responder --server 127.0.0.1:2000      # the scripted call manager, for self-tests
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tests::phonesim::fleet::{self, ModelInfo, PhoneSpec};
use tests::phonesim::responder::{Responder, ResponderConfig};
use tests::phonesim::unistim::responder as uresponder;
use tests::phonesim::unistim::{self as usim, UnistimFleet, UnistimModel, UnistimSpec};
use tests::phonesim::{Fleet, PhoneConfig, Stats};
use tokio::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "phonesim",
    about = "Simulated Cisco SCCP and Nortel/Avaya UNIStim phones for load tests"
)]
struct Args {
    /// The phones' protocol: `sccp` (Cisco) or `unistim` (Nortel/Avaya, UDP).
    #[arg(long, default_value = "sccp")]
    protocol: String,
    /// The call manager's SCCP address.
    #[arg(long, default_value = "127.0.0.1:2000")]
    server: SocketAddr,
    /// Inventory CSV (the import format): one phone per MAC.
    #[arg(long, conflicts_with = "phones")]
    csv: Option<PathBuf>,
    /// Generate this many phones instead.
    #[arg(long)]
    phones: Option<usize>,
    /// First MAC of generated phones.
    #[arg(long, default_value = "0004f2000000")]
    mac_base: String,
    /// Model of generated phones (default cisco-7970, or avaya-1140e with `--protocol unistim`).
    #[arg(long)]
    model: Option<String>,
    /// UNIStim: drop this percentage of each phone's datagrams, each direction.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// UNIStim: send this percentage of each phone's datagrams after the next one.
    #[arg(long, default_value_t = 0.0)]
    reorder: f64,
    /// First extension of generated phones (one line each).
    #[arg(long, default_value_t = 100_000)]
    ext_base: u64,
    /// Protocol version to offer instead of the model's.
    #[arg(long)]
    protocol_version: Option<u8>,
    /// Local addresses to connect from, round-robin: `127.0.0.2-127.0.0.9` or a comma list.
    #[arg(long)]
    source_ips: Option<String>,
    /// Connect this many phones per second (0: all at once).
    #[arg(long, default_value_t = 0)]
    ramp: u64,
    /// Calls placed per second (0: none).
    #[arg(long, default_value_t = 0.0)]
    calls_per_sec: f64,
    /// Number to call, or `peers`: the first half of the phones calls the second half.
    #[arg(long)]
    call_target: Option<String>,
    /// Talk time of each call.
    #[arg(long, default_value_t = 2.0)]
    call_secs: f64,
    /// Dial with EnblocCall instead of OffHook + digits.
    #[arg(long)]
    enbloc: bool,
    /// Ringing phones answer after this many milliseconds.
    #[arg(long, default_value_t = 50)]
    auto_answer_ms: u64,
    /// Seconds to run after every phone registered (0: until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Once all are registered, drop every connection at once and time the re-registration.
    #[arg(long)]
    storm: bool,
    /// Seconds to stay registered before the storm (steady-state measurements happen here).
    #[arg(long, default_value_t = 1)]
    storm_after: u64,
    /// Seconds between periodic summaries.
    #[arg(long, default_value_t = 5)]
    report_secs: u64,
    /// Seconds a phone waits for RegisterAck before it reconnects.
    #[arg(long, default_value_t = 10)]
    register_wait: u64,
    /// Seconds to wait for all phones to register.
    #[arg(long, default_value_t = 120)]
    register_timeout: u64,
    /// Print the fleet as an import CSV and exit.
    #[arg(long)]
    print_csv: bool,
    /// Run the scripted call manager on `--server` instead of phones.
    #[arg(long)]
    serve_responder: bool,
}

fn source_ips(text: &str) -> Result<Vec<IpAddr>, String> {
    if let Some((a, b)) = text.split_once('-') {
        let (a, b): (std::net::Ipv4Addr, std::net::Ipv4Addr) = (
            a.trim().parse().map_err(|e| format!("{a}: {e}"))?,
            b.trim().parse().map_err(|e| format!("{b}: {e}"))?,
        );
        Ok((u32::from(a)..=u32::from(b))
            .map(|n| IpAddr::from(std::net::Ipv4Addr::from(n)))
            .collect())
    } else {
        text.split(',')
            .map(|s| s.trim().parse().map_err(|e| format!("{s}: {e}")))
            .collect()
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn summary(label: &str, started: Instant, stats: &Stats, phones: usize, all_at: Option<Duration>) {
    let s = stats.snapshot();
    let lat = stats.latency_percentiles(&[50.0, 99.0]).map_or_else(
        || "-".to_owned(),
        |p| format!("{:.2}/{:.2} ms", ms(p[0]), ms(p[1])),
    );
    println!(
        "{label} t={:.1}s phones={phones} registered={} all_registered_at={} registrations={} \
         rejects={} disconnects={} keepalives={}/{} calls attempted={} progressed={} connected={} \
         failed={} answered={} setup_p50/p99={lat} rtp sent={} received={} unknown={} malformed={} \
         unanswered={} connect_failures={} retransmits={} injected_losses={} injected_reorders={} \
         watchdog_expiries={} rss={} KiB",
        started.elapsed().as_secs_f64(),
        s.registered,
        all_at.map_or_else(|| "-".to_owned(), |d| format!("{:.3}s", d.as_secs_f64())),
        s.registrations,
        s.rejects,
        s.disconnects,
        s.keepalives,
        s.keepalive_acks,
        s.calls_attempted,
        s.calls_progressed,
        s.calls_connected,
        s.calls_failed,
        s.calls_answered,
        s.rtp_sent,
        s.rtp_received,
        s.unknown,
        s.malformed,
        s.unanswered,
        s.connect_failures,
        s.retransmits,
        s.injected_losses,
        s.injected_reorders,
        s.watchdog_expiries,
        rss_kib(),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn specs(args: &Args) -> Result<Vec<PhoneSpec>, String> {
    let mut specs = if let Some(path) = &args.csv {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        fleet::from_csv(file).map_err(|e| format!("{}: {e}", path.display()))?
    } else if let Some(n) = args.phones {
        let mac = fleet::parse_mac(&args.mac_base).ok_or("bad --mac-base")?;
        let model = ModelInfo::find(args.model.as_deref().unwrap_or("cisco-7970"))
            .ok_or("unknown --model")?;
        fleet::generate(n, mac, model, args.ext_base)
    } else {
        return Err("give --csv FILE or --phones N".into());
    };
    if let Some(v) = args.protocol_version {
        specs.iter_mut().for_each(|s| s.version = v);
    }
    Ok(specs)
}

fn unistim_specs(args: &Args) -> Result<Vec<UnistimSpec>, String> {
    if let Some(path) = &args.csv {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        usim::model::from_csv(file).map_err(|e| format!("{}: {e}", path.display()))
    } else if let Some(n) = args.phones {
        let mac = fleet::parse_mac(&args.mac_base).ok_or("bad --mac-base")?;
        let model = UnistimModel::find(args.model.as_deref().unwrap_or("avaya-1140e"))
            .ok_or("unknown --model for --protocol unistim")?;
        Ok(usim::model::generate(n, mac, model, args.ext_base))
    } else {
        Err("give --csv FILE or --phones N".into())
    }
}

/// The running phones of either protocol.
enum Sim {
    Sccp(Fleet),
    Unistim(UnistimFleet),
}

impl Sim {
    fn registered(&self) -> u64 {
        match self {
            Self::Sccp(f) => f.registered(),
            Self::Unistim(f) => f.registered(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Sccp(f) => f.phones.len(),
            Self::Unistim(f) => f.phones.len(),
        }
    }

    fn extension(&self, i: usize) -> String {
        match self {
            Self::Sccp(f) => f.phones[i]
                .spec()
                .extension()
                .unwrap_or_default()
                .to_owned(),
            Self::Unistim(f) => f.phones[i]
                .spec()
                .extension()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    /// Whether phone `i` has no call.
    fn is_idle(&self, i: usize) -> bool {
        match self {
            Self::Sccp(f) => f.phones[i].is_idle(),
            Self::Unistim(f) => f.phones[i].is_idle(),
        }
    }

    fn place_call(&self, i: usize, target: &str, hold: Duration, enbloc: bool) {
        match self {
            Self::Sccp(f) => f.phones[i].place_call(target, hold, enbloc),
            Self::Unistim(f) => f.phones[i].place_call(target, hold),
        }
    }

    fn drop_all(&self) {
        match self {
            Self::Sccp(f) => f
                .phones
                .iter()
                .for_each(|p| p.drop_connection(Duration::ZERO)),
            Self::Unistim(f) => f
                .phones
                .iter()
                .for_each(|p| p.drop_connection(Duration::ZERO)),
        }
    }

    async fn stop(self) {
        match self {
            Self::Sccp(f) => f.stop().await,
            Self::Unistim(f) => f.stop().await,
        }
    }
}

/// Starts the phones, `ramp` per second (0: all at once).
async fn spawn_sim(args: &Args, config: PhoneConfig) -> Result<Sim, String> {
    let config = Arc::new(config);
    let source = |i: usize| {
        (!config.source_ips.is_empty()).then(|| config.source_ips[i % config.source_ips.len()])
    };
    let batch = usize::try_from((args.ramp / 10).max(1)).unwrap_or(1);
    let pause = |i: usize| async move {
        if args.ramp > 0 && i > 0 && i.is_multiple_of(batch) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if args.protocol.eq_ignore_ascii_case("unistim") {
        let specs = unistim_specs(args)?;
        let mut phones = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            pause(i).await;
            phones.push(usim::UnistimPhone::spawn(spec, config.clone(), source(i)));
        }
        Ok(Sim::Unistim(UnistimFleet { phones, config }))
    } else {
        let specs = specs(args)?;
        let mut phones = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            pause(i).await;
            phones.push(tests::phonesim::Phone::spawn(
                spec,
                config.clone(),
                source(i),
            ));
        }
        Ok(Sim::Sccp(Fleet { phones, config }))
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PHONESIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let unistim = args.protocol.eq_ignore_ascii_case("unistim");
    if !unistim && !args.protocol.eq_ignore_ascii_case("sccp") {
        eprintln!("phonesim: --protocol is sccp or unistim");
        std::process::exit(64);
    }
    if unistim && args.serve_responder {
        let extensions = match unistim_specs(&args) {
            Ok(specs) => specs
                .into_iter()
                .filter_map(|s| Some((s.mac, s.extension()?.to_owned())))
                .collect(),
            Err(e) => {
                eprintln!("phonesim: {e}");
                std::process::exit(64);
            }
        };
        let config = uresponder::ResponderConfig {
            extensions,
            record: false,
            ..Default::default()
        };
        match uresponder::Responder::start(args.server, config).await {
            Ok(r) => {
                println!("UNIStim responder listening on {}", r.addr());
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            Err(e) => {
                eprintln!("phonesim: {}: {e}", args.server);
                std::process::exit(1);
            }
        }
    }
    if args.serve_responder {
        let config = ResponderConfig {
            record: false,
            ..Default::default()
        };
        match Responder::start(args.server, config).await {
            Ok(r) => {
                println!("responder listening on {}", r.addr());
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            Err(e) => {
                eprintln!("phonesim: {}: {e}", args.server);
                std::process::exit(1);
            }
        }
    }
    if args.print_csv {
        if unistim {
            match unistim_specs(&args) {
                Ok(specs) => print!("{}", usim::model::to_csv(&specs)),
                Err(e) => {
                    eprintln!("phonesim: {e}");
                    std::process::exit(64);
                }
            }
        } else {
            match specs(&args) {
                Ok(specs) => print!("{}", fleet::to_csv(&specs)),
                Err(e) => {
                    eprintln!("phonesim: {e}");
                    std::process::exit(64);
                }
            }
        }
        return;
    }
    let mut config = PhoneConfig::new(args.server);
    config.record_events = false;
    config.register_wait = Duration::from_secs(args.register_wait.max(1));
    config.auto_answer = Some(Duration::from_millis(args.auto_answer_ms));
    config.loss = (args.loss / 100.0).clamp(0.0, 1.0);
    config.reorder = (args.reorder / 100.0).clamp(0.0, 1.0);
    if let Some(ips) = &args.source_ips {
        match source_ips(ips) {
            Ok(ips) => config.source_ips = ips,
            Err(e) => {
                eprintln!("phonesim: --source-ips: {e}");
                std::process::exit(64);
            }
        }
    }
    let stats = config.stats.clone();
    let rss_before = rss_kib();
    let started = Instant::now();
    let fleet = match spawn_sim(&args, config).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("phonesim: {e}");
            std::process::exit(64);
        }
    };
    let n = fleet.len();
    println!("phonesim: {n} phones -> {}", args.server);
    let report = Duration::from_secs(args.report_secs.max(1));
    let mut next_report = Instant::now() + report;
    let deadline = started + Duration::from_secs(args.register_timeout);
    let mut all_at = None;
    while all_at.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if fleet.registered() >= n as u64 {
            all_at = Some(started.elapsed());
        }
        if Instant::now() >= next_report {
            summary("progress", started, &stats, n, all_at);
            next_report += report;
        }
    }
    next_report = Instant::now() + report;
    let rss_registered = rss_kib();
    summary("registered", started, &stats, n, all_at);
    println!(
        "phonesim footprint: rss {rss_before} KiB before, {rss_registered} KiB registered, {:.1} KiB/phone",
        (rss_registered.saturating_sub(rss_before)) as f64 / n.max(1) as f64
    );
    if args.storm && all_at.is_some() {
        let settle = Instant::now() + Duration::from_secs(args.storm_after);
        while Instant::now() < settle {
            tokio::time::sleep_until(next_report.min(settle)).await;
            if Instant::now() >= next_report {
                summary("progress", started, &stats, n, all_at);
                next_report += report;
            }
        }
        println!("storm: dropping {n} connections");
        next_report = Instant::now() + report;
        let before = stats.snapshot().registrations;
        let t0 = Instant::now();
        fleet.drop_all();
        let mut done = None;
        while done.is_none() && t0.elapsed() < Duration::from_secs(args.register_timeout) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if stats.snapshot().registrations >= before + n as u64 {
                done = Some(t0.elapsed());
            }
        }
        match done {
            Some(d) => println!(
                "storm: {n} phones re-registered in {:.3} s",
                d.as_secs_f64()
            ),
            None => println!(
                "storm: only {} of {n} re-registered within {} s",
                stats.snapshot().registrations - before,
                args.register_timeout
            ),
        }
    }
    // Calls start once every phone is idle (a UNIStim set: its idle screen painted, which the
    // gateway shows once the lines have registered). Calls placed before then waited in the phones'
    // start-up and left together, a burst of a score of calls within 2 ms at the start of every run.
    if args.calls_per_sec > 0.0 && args.call_target.is_some() {
        let t0 = Instant::now();
        let limit = Duration::from_secs(args.register_timeout);
        while !(0..n).all(|i| fleet.is_idle(i)) && t0.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let idle = (0..n).filter(|&i| fleet.is_idle(i)).count();
        println!(
            "settled: {idle} of {n} phones idle {:.3} s after registering",
            t0.elapsed().as_secs_f64()
        );
    }
    let run_until =
        (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
    let hold = Duration::from_secs_f64(args.call_secs.max(0.0));
    // Late ticks are not made up in a burst (tokio's default): a loop that fell behind at the start
    // placed a score of calls within 2 ms, ten thousand calls a second for a moment, and the
    // setup latency measured then was that burst's queue, not the rate asked for.
    let mut call_tick = (args.calls_per_sec > 0.0 && args.call_target.is_some()).then(|| {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.calls_per_sec));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    });
    let peers = args.call_target.as_deref() == Some("peers");
    let callers = if peers { n / 2 } else { n };
    let mut next_caller = 0usize;
    let mut skipped = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let until_report = tokio::time::sleep_until(next_report);
        tokio::select! {
            _ = &mut ctrl_c => break,
            () = until_report => {
                summary("progress", started, &stats, n, all_at);
                next_report = Instant::now() + report;
            }
            () = async {
                match call_tick.as_mut() {
                    Some(t) => { t.tick().await; }
                    None => std::future::pending().await,
                }
            } => {
                // The next idle caller (and, calling peers, its idle callee).
                let free = (0..callers).map(|k| (next_caller + k) % callers).find(|&i| {
                    fleet.is_idle(i) && (!peers || fleet.is_idle(i + n / 2))
                });
                match free {
                    Some(i) => {
                        next_caller = i + 1;
                        let target = if peers {
                            fleet.extension(i + n / 2)
                        } else {
                            args.call_target.clone().unwrap_or_default()
                        };
                        fleet.place_call(i, &target, hold, args.enbloc);
                    }
                    None => skipped += 1,
                }
            }
            () = async { match run_until { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => break,
        }
    }
    // Let calls in progress finish.
    tokio::time::sleep(hold + Duration::from_millis(500)).await;
    summary("final", started, &stats, n, all_at);
    if skipped > 0 {
        println!("calls not placed: {skipped} (no idle phone at the time)");
    }
    fleet.stop().await;
}
