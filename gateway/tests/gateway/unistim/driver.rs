//! The UNIStim driver in the whole in-process gateway (`serve::run`) over loopback UDP, with the
//! scripted phone on a real socket: connection and idle screen, an unknown phone, a call out to a sipp
//! UAS and a call in from sipp with RTP counted both ways through the relay (sipp echoes it), a key
//! during the call sent as RFC 4733 and echoed back as a tone, two phones behind one address, 10% loss
//! and reordering on the phone's side; every datagram Crossbar sent then decoded by tshark.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use captures::write::{PcapWriter, Resolution};
use codecs::unistim::msg::Message;
use codecs::unistim::msg::audio::AudioSwitch;
use codecs::unistim::msg::audio_stream::OpenAudioStream;
use provisioning::Store;
use provisioning::import::{self, ImportOptions};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::harness::Lcg;
use super::phone::{MAC, ScriptedPhone, texts};

const FLEET: &str = "extension,first_name,last_name,password,mac,model,line\n\
    3001,Carol,Dubois,carol-pw,00:13:65:ff:b0:2a,avaya-1140e,1\n\
    3003,Dave,Petit,dave-pw,00:13:65:ff:b0:2b,avaya-1140e,1\n\
    2002,Bob,Dupont,bob-pw,,,\n";

fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sipp")
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The scripted phone on a UDP socket, losing and reordering `loss`% of what it receives and sends.
struct UdpPhone {
    socket: UdpSocket,
    server: SocketAddr,
    phone: ScriptedPhone,
    loss: u32,
    rng: Lcg,
    held: Option<Bytes>,
    /// Everything received from Crossbar, for tshark.
    log: Vec<Bytes>,
}

impl UdpPhone {
    async fn new(server: SocketAddr, mac: [u8; 6], socket: UdpSocket) -> Self {
        Self {
            socket,
            server,
            phone: ScriptedPhone::new(mac),
            loss: 0,
            rng: Lcg(11),
            held: None,
            log: Vec::new(),
        }
    }

    async fn out(&mut self, d: Bytes) {
        if self.loss > 0 {
            if self.rng.chance(self.loss) {
                return;
            }
            if self.rng.chance(self.loss) && self.held.is_none() {
                // Reordered: goes after the next one.
                self.held = Some(d);
                return;
            }
        }
        let _ = self.socket.send_to(&d, self.server).await;
        if let Some(h) = self.held.take() {
            let _ = self.socket.send_to(&h, self.server).await;
        }
    }

    async fn send_all(&mut self, ds: Vec<Bytes>) {
        for d in ds {
            self.out(d).await;
        }
    }

    /// Receives and answers until `pred` holds for a message received (returning those received
    /// meanwhile), re-sending unacknowledged payloads every 500 ms.
    async fn until(&mut self, what: &str, pred: impl Fn(&Message) -> bool) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 2048];
        let mut got = Vec::new();
        loop {
            let fresh = self.phone.take();
            let done = fresh.iter().any(&pred);
            got.extend(fresh);
            if done {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "no {what}; got {:?}",
                texts(&got)
            );
            match tokio::time::timeout(Duration::from_millis(500), self.socket.recv_from(&mut buf))
                .await
            {
                Ok(Ok((n, _))) => {
                    let d = Bytes::copy_from_slice(&buf[..n]);
                    self.log.push(d.clone());
                    if self.loss > 0 && self.rng.chance(self.loss) {
                        continue;
                    }
                    let replies = self.phone.receive(&d);
                    self.send_all(replies).await;
                }
                _ => {
                    let again = self.phone.unacked();
                    self.send_all(again).await;
                    if let Some(h) = self.held.take() {
                        let _ = self.socket.send_to(&h, self.server).await;
                    }
                }
            }
        }
    }

    /// Sends `d` and keeps the conversation going for a moment.
    async fn press(&mut self, d: Bytes) {
        self.out(d).await;
        self.until_quiet(Duration::from_millis(150)).await;
    }

    /// Keeps the conversation going until nothing arrives for `quiet`; what arrived stays fresh.
    async fn until_quiet(&mut self, quiet: Duration) {
        let mut buf = [0u8; 2048];
        loop {
            match tokio::time::timeout(quiet, self.socket.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => {
                    let d = Bytes::copy_from_slice(&buf[..n]);
                    self.log.push(d.clone());
                    if self.loss > 0 && self.rng.chance(self.loss) {
                        continue;
                    }
                    let replies = self.phone.receive(&d);
                    self.send_all(replies).await;
                }
                _ => {
                    let again = self.phone.unacked();
                    if again.is_empty() {
                        return;
                    }
                    self.send_all(again).await;
                }
            }
        }
    }

    async fn connect(&mut self) -> Vec<Message> {
        let hello = self.phone.hello();
        self.out(hello).await;
        self.until("the idle softkeys", |m| {
            texts(std::slice::from_ref(m))
                .iter()
                .any(|t| t == "NewCall")
        })
        .await
    }
}

fn open_stream(ms: &[Message]) -> Option<OpenAudioStream> {
    ms.iter().find_map(|m| match m {
        Message::AudioSwitch(AudioSwitch::OpenAudioStream(o)) => Some(o.clone()),
        _ => None,
    })
}

/// Sends RTP from the phone's port to the relay and counts what comes back (sipp echoes it).
async fn rtp_both_ways(o: &OpenAudioStream) -> (usize, usize) {
    let rtp = UdpSocket::bind(("127.0.0.1", o.local_rtp_port))
        .await
        .expect("the phone's RTP port is free");
    let to = SocketAddr::new(
        o.far_address
            .map_or_else(|| [127, 0, 0, 1].into(), std::net::IpAddr::V4),
        o.far_rtp_port,
    );
    let (mut sent, mut back) = (0usize, 0usize);
    let mut buf = [0u8; 512];
    for i in 0..100u16 {
        let mut pkt = vec![0x80, 0x00];
        pkt.extend_from_slice(&i.to_be_bytes());
        pkt.extend_from_slice(&(u32::from(i) * 160).to_be_bytes());
        pkt.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        pkt.extend(std::iter::repeat_n(0xffu8, 160));
        rtp.send_to(&pkt, to).await.unwrap();
        sent += 1;
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(15), rtp.recv_from(&mut buf)).await
        {
            if n == 172 {
                back += 1;
            }
        }
    }
    (sent, back)
}

struct Rig {
    dir: tempfile::TempDir,
    sip: SocketAddr,
    unistim: SocketAddr,
    shutdown: CancellationToken,
    run: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\nurl = \"sqlite://{}\"\n\n[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n\
         default_domain = \"acme.example.com\"\n\n[sccp]\nlisten = \"127.0.0.1:0\"\n\n\
         [unistim]\nlisten = \"127.0.0.1:0\"\n\n[tftp]\nlisten = \"127.0.0.1:0\"\n\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\n[media]\nrtp_ports = \"44000-44999\"\n\n\
         [dialplan]\ninterdigit_ms = 500\n",
        dir.path().join("crossbar.db").display()
    );
    let config = gateway::Config::parse(&text, None).unwrap();
    let store = Store::open(&config.store.url).await.unwrap();
    let current = store.load_inventory().await.unwrap();
    let plan = import::plan(
        FLEET.as_bytes(),
        &current,
        &ImportOptions {
            default_domain: "acme.example.com".to_owned(),
        },
    )
    .unwrap();
    store.apply(&plan.changes).await.unwrap();
    let listeners = gateway::serve::Listeners::bind(&config).await.unwrap();
    let find = |k: &str| {
        listeners
            .addresses()
            .into_iter()
            .find(|(n, _)| n.starts_with(k))
            .map(|(_, a)| a)
            .unwrap()
    };
    let (sip, unistim) = (find("sip.listen udp"), find("unistim.listen"));
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(gateway::serve::run(
        config,
        listeners,
        store,
        shutdown.clone(),
    ));
    Rig {
        dir,
        sip,
        unistim,
        shutdown,
        run,
    }
}

impl Rig {
    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.run.await;
    }

    fn sipp(&self, args: &[String]) -> std::process::Child {
        Command::new("sipp")
            .args(args)
            .args(["-nostdin", "-timeout", "30s"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp")
    }

    /// Registers 2002 with its Contact at `port` (where a sipp UAS listens).
    fn register_bob(&self, port: u16) {
        let csv = self.dir.path().join("bob.csv");
        std::fs::write(
            &csv,
            "SEQUENTIAL\n2002;acme.example.com;[authentication username=2002 password=bob-pw]\n",
        )
        .unwrap();
        let status = Command::new("sipp")
            .args([
                self.sip.to_string(),
                "-sf".into(),
                sipp_dir()
                    .join("register_contact.xml")
                    .display()
                    .to_string(),
                "-inf".into(),
                csv.display().to_string(),
                "-key".into(),
                "contact_port".into(),
                port.to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                free_port().to_string(),
                "-m".into(),
                "1".into(),
                "-nostdin".into(),
                "-timeout".into(),
                "10s".into(),
            ])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "2002 registered");
    }
}

fn wait(child: &mut std::process::Child, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s.success();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tshark_check(log: &[Bytes], server: SocketAddr) {
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let phone: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let server = SocketAddr::new(server.ip(), 5000);
    let mut w = PcapWriter::new(captures::LinkType::ETHERNET, Resolution::Micros);
    for d in log {
        w.udp(server, phone, d);
    }
    let file = std::env::temp_dir().join(format!(
        "crossbar-unistim-driver-{}-{}.pcap",
        std::process::id(),
        log.len()
    ));
    w.write_to(&file).unwrap();
    let f = file.to_str().unwrap();
    let malformed = captures::peer::tshark(&[
        "-r",
        f,
        "-d",
        "udp.port==5000,unistim",
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ])
    .unwrap();
    assert!(malformed.trim().is_empty(), "tshark: {malformed}");
    let rows = captures::peer::tshark(&["-r", f, "-d", "udp.port==5000,unistim", "-Y", "unistim"])
        .unwrap();
    assert_eq!(rows.lines().count(), log.len());
    let _ = std::fs::remove_file(&file);
}

/// Carol's 1140E (3001) connects, calls 2002 at a sipp UAS and is called by sipp as 2002, RTP both
/// ways each time; then an unknown phone and a second phone from the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_1140e_connects_calls_sipp_and_is_called_back_with_rtp_both_ways() {
    if captures::peer::require_tool("sipp").is_none() {
        return;
    }
    let rig = rig().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut carol = UdpPhone::new(rig.unistim, MAC, socket).await;
    let idle = carol.connect().await;
    let t = texts(&idle);
    assert!(t.iter().any(|s| s == "3001 Carol Dubois"), "{t:?}");
    assert!(
        t.iter().any(|s| s == "Forward") && t.iter().any(|s| s == "DND"),
        "{t:?}"
    );
    // Let line 3001 register (the line user agents' REGISTER over loopback).
    carol.until_quiet(Duration::from_millis(500)).await;

    // Out: 3001 → 2002 at a sipp UAS echoing RTP.
    let uas_port = free_port();
    let media = free_port();
    let mut uas = rig.sipp(&[
        "-sn".into(),
        "uas".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        uas_port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        media.to_string(),
        "-rtp_echo".into(),
        "-m".into(),
        "1".into(),
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.register_bob(uas_port);
    let d = carol.phone.off_hook();
    carol.press(d).await;
    for d in carol.phone.dial("2002#") {
        carol.press(d).await;
    }
    let got = carol
        .until("the audio stream", |m| {
            matches!(m, Message::AudioSwitch(AudioSwitch::OpenAudioStream(_)))
        })
        .await;
    let o = open_stream(&got).unwrap();
    assert!(
        (44000..=44999).contains(&o.far_rtp_port),
        "relay port {}",
        o.far_rtp_port
    );
    let (sent, back) = rtp_both_ways(&o).await;
    assert!(back >= sent / 2, "RTP out {sent}, echoed back {back}");
    let d = carol.phone.on_hook();
    carol.press(d).await;
    assert!(
        tokio::task::block_in_place(|| wait(&mut uas, 15)),
        "sipp UAS saw the call and the BYE"
    );

    // In: sipp as 2002 calls 3001; Carol answers with the Answer softkey.
    let csv = rig.dir.path().join("caller.csv");
    std::fs::write(
        &csv,
        "SEQUENTIAL\n2002;acme.example.com;[authentication username=2002 password=bob-pw];3001\n",
    )
    .unwrap();
    let media = free_port();
    let mut uac = rig.sipp(&[
        rig.sip.to_string(),
        "-sf".into(),
        sipp_dir().join("uac_auth.xml").display().to_string(),
        "-inf".into(),
        csv.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        media.to_string(),
        "-rtp_echo".into(),
        "-m".into(),
        "1".into(),
        "-d".into(),
        "4000".into(),
    ]);
    let ring = carol
        .until("ringing", |m| {
            matches!(
                m,
                Message::AudioSwitch(AudioSwitch::TransducerBasedToneOn(_))
            )
        })
        .await;
    let t = texts(&ring);
    assert!(t.iter().any(|s| s.contains("2002")), "caller shown: {t:?}");
    assert!(t.iter().any(|s| s == "Answer"), "{t:?}");
    let d = carol
        .phone
        .key(codecs::unistim::msg::key::KeyCode::SOFTKEY_0);
    carol.press(d).await;
    let got = carol
        .until("the audio stream", |m| {
            matches!(m, Message::AudioSwitch(AudioSwitch::OpenAudioStream(_)))
        })
        .await;
    let o = open_stream(&got).unwrap();
    let (sent, back) = rtp_both_ways(&o).await;
    assert!(back >= sent / 2, "RTP out {sent}, echoed back {back}");
    // A key: RFC 4733 to sipp (its offer has telephone-event), echoed, played to the phone as a DTMF tone (770 + 1336 Hz).
    let d = carol.phone.dial("5").remove(0);
    carol.press(d).await;
    let five = codecs::unistim::msg::audio_stream::FrequencyList::word_for_hz(1336);
    let got = carol
        .until("the echoed key", |m| matches!(m,
            Message::AudioSwitch(AudioSwitch::StreamBasedToneFrequencyList(f)) if f.frequencies.contains(&five)))
        .await;
    assert!(!got.is_empty());
    // sipp hangs up after its pause: the phone returns to idle.
    carol
        .until("the idle screen", |m| {
            matches!(m, Message::AudioSwitch(AudioSwitch::CloseAudioStream(_)))
        })
        .await;
    assert!(
        tokio::task::block_in_place(|| wait(&mut uac, 20)),
        "sipp UAC call completed"
    );

    // A second phone from the same address (another port: one NAT address), and an unknown phone.
    let dave_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut dave = UdpPhone::new(
        rig.unistim,
        [0x00, 0x13, 0x65, 0xff, 0xb0, 0x2b],
        dave_socket,
    )
    .await;
    let t = texts(&dave.connect().await);
    assert!(t.iter().any(|s| s == "3003 Dave Petit"), "{t:?}");
    assert_ne!(
        dave.phone.tid, carol.phone.tid,
        "each phone its own terminal id"
    );
    let stranger_socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut stranger = UdpPhone::new(
        rig.unistim,
        [0x00, 0x13, 0x65, 0x00, 0x00, 0x01],
        stranger_socket,
    )
    .await;
    let hello = stranger.phone.hello();
    stranger.out(hello).await;
    let got = stranger
        .until("the not-provisioned screen", |m| {
            texts(std::slice::from_ref(m))
                .iter()
                .any(|t| t == "Not provisioned")
        })
        .await;
    assert!(texts(&got).iter().any(|t| t == "MAC 001365000001"));

    let server = rig.unistim;
    rig.stop().await;
    let mut log = carol.log;
    log.extend(dave.log);
    log.extend(stranger.log);
    tshark_check(&log, server);
}

/// The phone's side of the network loses and reorders 10% of datagrams both ways: it still connects,
/// and a call to a sipp UAS still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_completes_under_ten_percent_loss_and_reordering() {
    if captures::peer::require_tool("sipp").is_none() {
        return;
    }
    let rig = rig().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut carol = UdpPhone::new(rig.unistim, MAC, socket).await;
    carol.loss = 10;
    carol.connect().await;
    carol.until_quiet(Duration::from_millis(500)).await;
    let uas_port = free_port();
    let mut uas = rig.sipp(&[
        "-sn".into(),
        "uas".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        uas_port.to_string(),
        "-m".into(),
        "1".into(),
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.register_bob(uas_port);
    let d = carol.phone.off_hook();
    carol.press(d).await;
    for d in carol.phone.dial("2002#") {
        carol.press(d).await;
    }
    carol
        .until("the audio stream", |m| {
            matches!(m, Message::AudioSwitch(AudioSwitch::OpenAudioStream(_)))
        })
        .await;
    let d = carol.phone.on_hook();
    carol.press(d).await;
    carol.until_quiet(Duration::from_millis(700)).await;
    assert!(
        tokio::task::block_in_place(|| wait(&mut uas, 15)),
        "the call and its BYE reached sipp"
    );
    let server = rig.unistim;
    rig.stop().await;
    tshark_check(&carol.log, server);
}

/// A phone whose NAT binding changes (new source port) is followed by its terminal id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_moves_behind_nat_is_followed_by_its_terminal_id() {
    let rig = rig().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut carol = UdpPhone::new(rig.unistim, MAC, socket).await;
    carol.connect().await;
    carol.until_quiet(Duration::from_millis(300)).await;
    carol.phone.take();
    // The NAT gives the phone a new public port.
    carol.socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let d = carol.phone.off_hook();
    carol.out(d).await;
    let got = carol
        .until("dial tone at the new address", |m| {
            matches!(m, Message::AudioSwitch(AudioSwitch::StreamBasedToneOn(_)))
        })
        .await;
    assert!(!got.is_empty());
    let server = rig.unistim;
    rig.stop().await;
    tshark_check(&carol.log, server);
}

/// `crossbar import --reset-changed` queues a reset in the store; the one reset poller (run by the SCCP
/// driver for every driver) hands it to the UNIStim driver, which soft-resets the registered phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_requested_in_the_store_reaches_a_registered_unistim_phone() {
    let rig = rig().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut una = UdpPhone::new(rig.unistim, MAC, socket).await;
    una.connect().await;
    una.until_quiet(Duration::from_millis(300)).await;
    let store = Store::open(&format!(
        "sqlite://{}",
        rig.dir.path().join("crossbar.db").display()
    ))
    .await
    .unwrap();
    let mac: provisioning::Mac = MAC
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .parse()
        .unwrap();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    store.request_resets(&[mac], now).await.unwrap();
    // The poller runs every 5 s (`RESET_POLL`); `until` waits long enough for one round.
    let got = una
        .until("a soft reset", |m| {
            matches!(
                m,
                Message::NetworkSwitch(codecs::unistim::msg::network::NetworkSwitch::SoftReset(_))
            )
        })
        .await;
    assert!(!got.is_empty());
    store.close().await;
    let server = rig.unistim;
    rig.stop().await;
    tshark_check(&una.log, server);
}
