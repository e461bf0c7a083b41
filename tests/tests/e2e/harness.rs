//! A Crossbar running in-process on loopback ports chosen by the kernel, with a fleet imported from CSV,
//! and sipp runs against it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use gateway::Config;
use gateway::serve::Listeners;
use provisioning::Store;
use provisioning::import::{self, ImportOptions};
use tokio_util::sync::CancellationToken;

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
        let config = Config::parse(&config_text, None).expect("config");
        let store = Store::open(&config.store.url).await.expect("store");
        let current = store.load_inventory().await.expect("inventory");
        let options = ImportOptions {
            default_domain: config.sip.default_domain.clone(),
        };
        let plan = import::plan(csv.as_bytes(), &current, &options).expect("CSV imports");
        store.apply(&plan.changes).await.expect("import written");
        store.close().await;
        Self::run(dir, config_text).await
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
