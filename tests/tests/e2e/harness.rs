//! A Crossbar running in-process on loopback ports chosen by the kernel, with a fleet imported from CSV,
//! and sipp runs against it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use codecs::sccp::CallState;
use gateway::Config;
use gateway::serve::Listeners;
use provisioning::Store;
use provisioning::import::{self, ImportOptions};
use tests::phonesim::fleet::PhoneSpec;
use tests::phonesim::unistim::{self as usim, Screen, UnistimPhone};
use tests::phonesim::{Event, Phone, PhoneConfig};
use tokio_util::sync::CancellationToken;

use crate::sip::{auth, register_contact};

/// How long a phone event may take to arrive.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The SIP domain of the test fleets.
pub(crate) const DOMAIN: &str = "acme.example.com";

/// The repository's sipp scenarios.
pub(crate) fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sipp")
        .join(name)
}

/// The shared sipp scenarios (`../shared/sip/sipp`).
pub(crate) fn shared_scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/sip/sipp")
        .join(name)
}

/// A running gateway.
pub(crate) struct Gateway {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) sip_udp: SocketAddr,
    /// The TCP listener.
    pub(crate) sip_tcp: SocketAddr,
    /// The gateway's line user agents.
    pub(crate) agent: gateway::ua::Agent,
    /// Every bound listener, named by its configuration key.
    pub(crate) addresses: Vec<(String, SocketAddr)>,
    /// `[sccp] listen`.
    pub(crate) sccp: SocketAddr,
    /// `[unistim] listen`.
    pub(crate) unistim: SocketAddr,
    config_text: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Gateway {
    /// Imports `csv` into a fresh SQLite store and starts the gateway on it.
    pub(crate) async fn start(csv: &str) -> Self {
        Self::start_with(csv, "").await
    }

    /// As [`Gateway::start`], with more `[sip]` keys.
    pub(crate) async fn start_with(csv: &str, sip_extra: &str) -> Self {
        Self::start_full(csv, sip_extra, "").await
    }

    /// As [`Gateway::start_with`], with more `[sccp]` keys too.
    pub(crate) async fn start_full(csv: &str, sip_extra: &str, sccp_extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_text = format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n\
             default_domain = \"acme.example.com\"\n{sip_extra}\n\n\
             [tftp]\nlisten = \"127.0.0.1:0\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
             [sccp]\nlisten = \"127.0.0.1:0\"\n{sccp_extra}\n\n[unistim]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("crossbar.db").display()
        );
        import_into(&config_text, csv).await;
        Self::run(dir, config_text).await
    }

    /// Imports `csv` into the running gateway's store, as `crossbar import` would.
    pub(crate) async fn import(&self, csv: &str) {
        import_into(&self.config_text, csv).await;
    }

    async fn run(dir: tempfile::TempDir, config_text: String) -> Self {
        let config = Config::parse(&config_text, None).expect("config");
        let store = Store::open(&config.store.url).await.expect("store");
        let listeners = Listeners::bind(&config).await.expect("bind");
        let addresses = listeners.addresses();
        let find = |t: &str| {
            addresses
                .iter()
                .find(|(k, _)| k.ends_with(t))
                .map(|(_, a)| *a)
                .expect("listener")
        };
        let (sip_udp, sip_tcp, sccp) = (find("udp"), find("tcp"), find("sccp.listen"));
        let unistim = find("unistim.listen");
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let (agent_tx, agent_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            gateway::serve::run_with(config, listeners, store, token, move |agent| {
                let _ = agent_tx.send(agent);
            })
            .await
            .map_err(|e| format!("{e:#}"))
        });
        let agent = agent_rx
            .await
            .expect("the gateway starts its line user agents");
        Self {
            dir,
            sip_udp,
            sip_tcp,
            agent,
            addresses,
            sccp,
            unistim,
            config_text,
            shutdown,
            task,
        }
    }

    /// The bound address of the listener configured by `key` (`tftp.listen`, `http.listen`, ...).
    pub(crate) fn listener(&self, key: &str) -> Option<SocketAddr> {
        self.addresses
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, a)| *a)
    }

    /// Stops the gateway (draining, so every binding is written) and starts a new one on the same store.
    pub(crate) async fn restart(self) -> Self {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("gateway ran");
        Self::run(self.dir, self.config_text).await
    }

    /// Stops the gateway.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("gateway ran");
    }

    /// Writes the gateway's configuration to `crossbar.toml` in its scratch directory, for `crossbar`
    /// subcommands run against the same store.
    pub(crate) fn config_file(&self) -> PathBuf {
        self.write("crossbar.toml", &self.config_text)
    }

    /// Writes a file in the gateway's scratch directory (sipp injection CSVs).
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

/// Imports `csv` into the store `config_text` names.
async fn import_into(config_text: &str, csv: &str) {
    let config = Config::parse(config_text, None).expect("config");
    let store = Store::open(&config.store.url).await.expect("store");
    let current = store.load_inventory().await.expect("inventory");
    let options = ImportOptions {
        default_domain: config.sip.default_domain.clone(),
    };
    let plan = import::plan(csv.as_bytes(), &current, &options).expect("CSV imports");
    store.apply(&plan.changes).await.expect("import written");
    store.close().await;
}

/// A free UDP port on loopback (for a sipp UAS).
pub(crate) fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

/// The result of one sipp run: its exit status and the messages it traced.
pub(crate) struct SippRun {
    pub(crate) output: Output,
    pub(crate) messages: String,
}

impl SippRun {
    pub(crate) fn ok(&self) -> bool {
        self.output.status.success()
    }

    /// The status lines and request lines of the trace, in order.
    pub(crate) fn first_lines(&self) -> Vec<String> {
        self.messages
            .lines()
            .filter(|l| l.starts_with("SIP/2.0 ") || l.contains(" sip:") && l.ends_with("SIP/2.0"))
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "sipp exit {:?}\n{}\n{}\n--- messages ---\n{}",
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr),
            self.messages
        )
    }
}

/// Whether sipp is there (skips outside CI with a printed reason; fails in CI).
pub(crate) fn have_sipp() -> bool {
    captures::peer::require_tool("sipp").is_some()
}

/// Runs sipp with `args` (plus trace and timeout options) in a blocking thread.
pub(crate) async fn sipp(dir: &Path, tag: &str, args: Vec<String>) -> SippRun {
    let log = dir.join(format!("{tag}-messages.log"));
    let mut all = args;
    all.extend(
        [
            "-nostdin",
            "-timeout",
            "20s",
            "-recv_timeout",
            "10000",
            "-trace_msg",
            "-message_file",
        ]
        .map(str::to_owned),
    );
    all.push(log.display().to_string());
    let cwd = dir.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("sipp")
            .args(&all)
            .current_dir(cwd)
            .output()
            .expect("sipp runs")
    })
    .await
    .expect("join");
    let messages = std::fs::read_to_string(&log).unwrap_or_default();
    SippRun { output, messages }
}

/// A short pause for a sipp UAS to bind before the UAC starts.
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Matches the phone's call-state event `want`.
pub(crate) fn is_state(want: CallState) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::CallState { state, .. } if *state == want)
}

/// A registered phone (recording its wire).
pub(crate) async fn sccp_phone(gw: &Gateway, spec: PhoneSpec) -> Phone {
    let mut config = PhoneConfig::new(gw.sccp);
    config.record_wire = true;
    let mut phone = Phone::spawn(spec, Arc::new(config), None);
    assert!(phone.wait_registered(WAIT).await, "{:?}", phone.events());
    phone
}

/// The phone's next event matching `pred` (within [`WAIT`]), or a panic naming `what`.
pub(crate) async fn expect(
    phone: &mut Phone,
    what: &str,
    pred: impl FnMut(&Event) -> bool,
) -> Event {
    match phone.wait_for(pred, WAIT).await {
        Some(e) => e,
        None => panic!("{}: no {what} in {:?}", phone.device_name(), phone.events()),
    }
}

/// sipp as 2002: registered with its digest password at `sip_port`, then running `name` there as a UAS
/// for one call, echoing RTP on `media_port`.
pub(crate) async fn bob_uas(
    gw: &Gateway,
    tag: &str,
    name: &str,
    sip_port: u16,
    media_port: u16,
) -> tokio::task::JoinHandle<SippRun> {
    register_contact(gw, "2002", DOMAIN, "bob-secret", sip_port).await;
    sipp_uas(gw, tag, name, sip_port, media_port).await
}

/// sipp running `name` as a UAS at `sip_port` for one call, echoing RTP on `media_port`, in the
/// background (once it had a moment to bind).
pub(crate) async fn sipp_uas(
    gw: &Gateway,
    tag: &str,
    name: &str,
    sip_port: u16,
    media_port: u16,
) -> tokio::task::JoinHandle<SippRun> {
    let dir = gw.dir.path().to_owned();
    let tag = tag.to_owned();
    let path = scenario(name);
    let task = tokio::spawn(async move {
        sipp(
            &dir,
            &tag,
            vec![
                "-sf".into(),
                path.display().to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                sip_port.to_string(),
                "-mp".into(),
                media_port.to_string(),
                "-rtp_echo".into(),
                "-m".into(),
                "1".into(),
            ],
        )
        .await
    });
    settle().await;
    task
}

/// sipp as 2002 (authenticating) calling `callee` and, once answered, REFERring it to `target`
/// (`ua_uac_refer.xml`: it expects the NOTIFYs of 100, 180 and 200), in the background.
pub(crate) fn bob_refers(
    gw: &Gateway,
    callee: &str,
    target: &str,
) -> tokio::task::JoinHandle<SippRun> {
    let csv = gw.write(
        "bob-refers.csv",
        &format!(
            "SEQUENTIAL\n2002;{DOMAIN};{};{callee};{target}\n",
            auth("2002", "bob-secret")
        ),
    );
    let dir = gw.dir.path().to_owned();
    let to = gw.sip_udp;
    tokio::spawn(async move {
        sipp(
            &dir,
            "bob-refers",
            vec![
                to.to_string(),
                "-sf".into(),
                scenario("ua_uac_refer.xml").display().to_string(),
                "-inf".into(),
                csv.display().to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                free_port().to_string(),
                "-mp".into(),
                free_port().to_string(),
                "-m".into(),
                "1".into(),
            ],
        )
        .await
    })
}

/// sipp as 2002 (authenticating) calling `callee` with scenario `name`, echoing RTP, in the background.
pub(crate) fn bob_calls(
    gw: &Gateway,
    tag: &str,
    name: &str,
    callee: &str,
    extra: &[&str],
) -> tokio::task::JoinHandle<SippRun> {
    let csv = gw.write(
        &format!("{tag}.csv"),
        &format!(
            "SEQUENTIAL\n2002;{DOMAIN};{};{callee}\n",
            auth("2002", "bob-secret")
        ),
    );
    let mut args: Vec<String> = ["-mp", &free_port().to_string(), "-rtp_echo"]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect();
    let sc = scenario(name);
    let target = gw.sip_udp;
    let tag = tag.to_owned();
    // The gateway outlives the task: its directory is only borrowed for the run.
    let gw_dir = gw.dir.path().to_owned();
    args.push("-inf".into());
    args.push(csv.display().to_string());
    tokio::spawn(async move {
        let mut all: Vec<String> = vec![
            target.to_string(),
            "-sf".into(),
            sc.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            free_port().to_string(),
            "-m".into(),
            "1".into(),
            "-key".into(),
            "expires".into(),
            "3600".into(),
        ];
        all.extend(args);
        sipp(&gw_dir, &tag, all).await
    })
}

/// tshark capturing UDP to `port` on loopback for `secs` seconds, in the background.
pub(crate) struct Capture {
    task: tokio::task::JoinHandle<Output>,
    path: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Capture {
    pub(crate) async fn start(port: u16, secs: u32) -> Option<Self> {
        captures::peer::require_tool("tshark")?;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rtp.pcapng");
        let args = vec![
            "-i".to_owned(),
            "lo".into(),
            "-f".into(),
            format!("udp dst port {port}"),
            "-a".into(),
            format!("duration:{secs}"),
            "-w".into(),
            path.display().to_string(),
        ];
        let task = tokio::task::spawn_blocking(move || {
            Command::new("tshark")
                .args(&args)
                .output()
                .expect("tshark runs")
        });
        // tshark needs a moment before it captures.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Some(Self {
            task,
            path,
            port,
            _dir: dir,
        })
    }

    /// The RFC 4733 event ids (one per packet) in the capture, once it ended.
    pub(crate) async fn events(self) -> Vec<u32> {
        let out = self.task.await.expect("join");
        assert!(
            self.path.exists(),
            "tshark captured: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decode = format!("udp.port=={},rtp", self.port);
        captures::peer::tshark_fields(
            &self.path,
            &["-d", &decode],
            "rtpevent",
            &["rtpevent.event_id"],
        )
        .expect("tshark reads the capture")
        .into_iter()
        .flatten()
        .filter_map(|f| f.parse().ok())
        .collect()
    }
}

/// The ids with repeats (one event spans several packets) collapsed.
pub(crate) fn runs_of(ids: &[u32]) -> Vec<u32> {
    let mut distinct: Vec<u32> = ids.to_vec();
    distinct.dedup();
    distinct
}

/// A UNIStim phone's settings against `gw` (recording its wire; quick to reconnect).
pub(crate) fn unistim_config(
    gw: &Gateway,
    tweak: impl FnOnce(&mut PhoneConfig),
) -> Arc<PhoneConfig> {
    let mut c = PhoneConfig::new(gw.unistim);
    c.reconnect_jitter = Duration::from_millis(100);
    c.record_wire = true;
    tweak(&mut c);
    Arc::new(c)
}

/// The UNIStim phone of extension `ext` in the CSV `fleet`, started.
pub(crate) fn unistim_phone(fleet: &str, ext: &str, config: Arc<PhoneConfig>) -> UnistimPhone {
    let specs = usim::model::from_csv(fleet.as_bytes()).expect("fleet");
    let spec = specs
        .into_iter()
        .find(|s| s.extension() == Some(ext))
        .expect("phone in the fleet");
    UnistimPhone::spawn(spec, config, None)
}

/// The idle screen of extension `ext`, fully painted (the softkeys come after the text lines).
pub(crate) fn unistim_idle(ext: &str) -> impl Fn(&Screen) -> bool + '_ {
    move |s| {
        s.contains(ext)
            && !s.ringing
            && s.stream_tone.is_none()
            && s.softkeys.iter().any(|k| !k.trim().is_empty())
    }
}

/// tshark on a UNIStim capture with the server on `port`: (datagrams matching `direction`, e.g.
/// `udp.srcport` for the server's, decoded as UNIStim; malformed frames). `None` without tshark.
pub(crate) fn tshark_unistim(path: &Path, port: u16, direction: &str) -> Option<(usize, usize)> {
    captures::peer::require_tool("tshark")?;
    let decode = format!("udp.port=={port},unistim");
    let matching = captures::peer::tshark_fields(
        path,
        &["-d", &decode],
        &format!("unistim && {direction} == {port}"),
        &["unistim.num"],
    )
    .expect("tshark runs");
    let malformed =
        captures::peer::tshark_fields(path, &["-d", &decode], "_ws.malformed", &["frame.number"])
            .expect("tshark runs");
    Some((matching.len(), malformed.len()))
}

/// tshark on the datagrams `phone` exchanged with the gateway (written as a pcap in `dir`): (datagrams
/// from the gateway decoded as UNIStim, malformed frames).
pub(crate) fn tshark_gateway(
    phone: &UnistimPhone,
    gw: &Gateway,
    dir: &Path,
) -> Option<(usize, usize)> {
    captures::peer::require_tool("tshark")?;
    let path = dir.join(format!("unistim-{}.pcap", phone.spec().mac_hex()));
    phone.write_pcap(&path, gw.unistim).expect("pcap");
    tshark_unistim(&path, gw.unistim.port(), "udp.srcport")
}
