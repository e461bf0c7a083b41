//! The SCCP driver over loopback TCP with scripted SCCP phones: registration from the inventory,
//! unknown devices, keepalive timeout, replacement on reconnect, several phones from one address, a
//! malformed frame survived, a call through recording user agents and media; every byte the driver sent
//! is then decoded by tshark.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use codecs::sccp::msg::{Empty, KeypadButton, LineStatReq, OffHook, OnHook};
use codecs::sccp::{Ctx, KeypadKey, Message, MessageId, frame};
use gateway::call::phone::MediaAction;
use gateway::call::{CallRef, CallRefs, Codec, LineId, LineIdentity, UaCommand, UaEvent};
use gateway::driver::sccp::{
    DeviceHandle, LineAgents, MediaLegs, MediaPort, SccpDeps, SccpServer, start,
};
use gateway::session::sccp::SessionConfig;
use provisioning::Store;
use provisioning::import::{self, ImportOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::harness::{far_media, register_req};

const FLEET: &str = "extension,first_name,last_name,password,mac,model,line\n\
    2001,Alice,Martin,alice-pw,00:04:f2:aa:bb:01,cisco-7960,1\n\
    2003,Sales,,sales-pw,00:04:f2:aa:bb:01,cisco-7960,2\n\
    2005,Eve,Moreau,eve-pw,00:04:f2:aa:bb:02,cisco-7960,1\n\
    2002,Bob,Dupont,bob-pw,,,\n";

const ALICE: &str = "SEP0004F2AABB01";
const EVE: &str = "SEP0004F2AABB02";

/// A device attached with its lines.
type Attached = (String, Vec<(LineId, LineIdentity)>);

/// Everything the recording user agents were told.
#[derive(Default)]
struct Agents {
    attached: Mutex<Vec<Attached>>,
    detached: Mutex<Vec<String>>,
    commands: Mutex<Vec<(String, UaCommand)>>,
    handles: Mutex<Vec<DeviceHandle>>,
}

impl LineAgents for Agents {
    fn attach(&self, device: DeviceHandle, lines: Vec<(LineId, LineIdentity)>, _: CallRefs) {
        self.attached
            .lock()
            .unwrap()
            .push((device.name().to_owned(), lines));
        self.handles.lock().unwrap().push(device);
    }
    fn command(&self, device: &str, command: UaCommand) {
        self.commands
            .lock()
            .unwrap()
            .push((device.to_owned(), command));
    }
    fn detach(&self, device: &str) {
        self.detached.lock().unwrap().push(device.to_owned());
    }
}

#[derive(Default)]
struct Media {
    actions: Mutex<Vec<MediaAction>>,
}

impl MediaPort for Media {
    fn allocate(&self, _: &DeviceHandle, _: CallRef) -> std::io::Result<MediaLegs> {
        Ok(MediaLegs {
            sdp: "127.0.0.1:40000".parse().unwrap(),
            phone_target: Some("127.0.0.1:40002".parse().unwrap()),
        })
    }
    fn handle(&self, _: &str, action: MediaAction) {
        self.actions.lock().unwrap().push(action);
    }
}

struct Rig {
    server: SccpServer,
    store: Store,
    agents: Arc<Agents>,
    media: Arc<Media>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    _dir: tempfile::TempDir,
    /// Every byte sent to phones, per connection, for tshark.
    log: Arc<Mutex<Vec<Vec<u8>>>>,
}

async fn rig(keepalive: Duration) -> Rig {
    rig_with(keepalive, None).await
}

async fn rig_with(keepalive: Duration, relay: Option<Arc<dyn MediaPort>>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let url = provisioning::store::sqlite_url(&dir.path().join("crossbar.db"));
    let store = Store::open(&url).await.unwrap();
    let current = store.load_inventory().await.unwrap();
    let plan = import::plan(
        FLEET.as_bytes(),
        &current,
        &ImportOptions {
            default_domain: "acme.example.com".to_owned(),
        },
    )
    .expect("CSV imports");
    store.apply(&plan.changes).await.unwrap();
    let agents = Arc::new(Agents::default());
    let media = Arc::new(Media::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let server = start(
        listener,
        SccpDeps {
            store: store.clone(),
            session: SessionConfig {
                keepalive,
                interdigit: Duration::from_millis(300),
                ..SessionConfig::default()
            },
            agents: Arc::clone(&agents) as Arc<dyn LineAgents>,
            media: relay.unwrap_or_else(|| Arc::clone(&media) as Arc<dyn MediaPort>),
            reset_poll: Duration::from_millis(100),
            also_reset: Vec::new(),
        },
        &tasks,
        shutdown.clone(),
    )
    .unwrap();
    Rig {
        server,
        store,
        agents,
        media,
        shutdown,
        tasks,
        _dir: dir,
        log: Arc::default(),
    }
}

impl Rig {
    async fn stop(self) -> Vec<Vec<u8>> {
        self.shutdown.cancel();
        self.tasks.close();
        tokio::time::timeout(Duration::from_secs(5), self.tasks.wait())
            .await
            .expect("drained in time");
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    async fn wait_registered(&self, n: usize) {
        for _ in 0..200 {
            if self.server.registered() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} registered, expected {n}", self.server.registered());
    }
}

/// A scripted phone.
struct Phone {
    stream: TcpStream,
    buf: BytesMut,
    ctx: Ctx,
    received: Vec<u8>,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.log
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.received));
    }
}

impl Phone {
    async fn connect(rig: &Rig) -> Self {
        let stream = TcpStream::connect(rig.server.local_addr()).await.unwrap();
        Self {
            stream,
            buf: BytesMut::new(),
            ctx: Ctx::new(0),
            received: Vec::new(),
            log: Arc::clone(&rig.log),
        }
    }

    async fn send(&mut self, m: Message) {
        let mut out = BytesMut::new();
        m.encode_frame(self.ctx, &mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message, or `None` when the server closed the connection.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(raw) = frame::decode(&mut self.buf).unwrap() {
                let mut copy = BytesMut::new();
                raw.encode(&mut copy);
                self.received.extend_from_slice(&copy);
                let m = Message::from_frame(&raw, self.ctx).expect("the server's message decodes");
                if let Message::RegisterAck(a) = &m {
                    self.ctx = Ctx::new(a.max_protocol_ver);
                }
                return Some(m);
            }
            let n =
                tokio::time::timeout(Duration::from_secs(5), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("the server answers in time")
                    .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    /// Messages until one with `id` (inclusive).
    async fn until(&mut self, id: MessageId) -> Vec<Message> {
        let mut got = Vec::new();
        loop {
            let m = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("closed before {id:?}: {got:?}"));
            let done = m.id() == id;
            got.push(m);
            if done {
                return got;
            }
        }
    }

    async fn register(&mut self, name: &str) {
        self.send(Message::RegisterReq(register_req(name, 20)))
            .await;
        self.until(MessageId::CAPABILITIES_REQ).await;
    }

    async fn closed(&mut self) -> bool {
        while self.recv().await.is_some() {}
        true
    }
}

#[tokio::test]
async fn a_phone_in_the_inventory_registers_and_its_lines_are_attached() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut phone = Phone::connect(&rig).await;
    phone
        .send(Message::RegisterReq(register_req(ALICE, 20)))
        .await;
    let first = phone.until(MessageId::CAPABILITIES_REQ).await;
    assert_eq!(
        first.iter().map(Message::id).collect::<Vec<_>>(),
        [MessageId::REGISTER_ACK, MessageId::CAPABILITIES_REQ]
    );
    rig.wait_registered(1).await;
    let attached = rig.agents.attached.lock().unwrap().clone();
    assert_eq!(attached.len(), 1);
    let (name, lines) = &attached[0];
    assert_eq!(name, ALICE);
    let exts: Vec<(u16, &str, &str)> = lines
        .iter()
        .map(|(l, i)| (l.0, i.extension.as_str(), i.display_name.as_str()))
        .collect();
    assert_eq!(exts, [(1, "2001", "Alice Martin"), (2, "2003", "Sales")]);
    assert!(
        lines[0].1.ha1.is_some(),
        "credentials for an upstream registrar"
    );
    phone
        .send(Message::LineStatReq(LineStatReq {
            line_number: 1,
            ..Default::default()
        }))
        .await;
    let Some(Message::LineStatV2Res(l)) = phone.recv().await else {
        panic!("no line status")
    };
    assert_eq!(l.line_dir_number.unwrap().to_string_lossy(), "2001");
    phone.send(Message::KeepAliveReq(Empty::default())).await;
    assert_eq!(
        phone.recv().await.map(|m| m.id()),
        Some(MessageId::KEEP_ALIVE_ACK)
    );
    // Disconnecting detaches the lines.
    drop(phone);
    rig.wait_registered(0).await;
    for _ in 0..100 {
        if !rig.agents.detached.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*rig.agents.detached.lock().unwrap(), [ALICE]);
    rig.stop().await;
}

#[tokio::test]
async fn an_unknown_phone_is_rejected_and_disconnected() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut phone = Phone::connect(&rig).await;
    phone
        .send(Message::RegisterReq(register_req("SEP0004F2000099", 20)))
        .await;
    assert_eq!(
        phone.recv().await.map(|m| m.id()),
        Some(MessageId::REGISTER_REJECT)
    );
    assert!(phone.closed().await);
    assert_eq!(rig.server.registered(), 0);
    assert!(rig.agents.attached.lock().unwrap().is_empty());
    // Recorded for `crossbar devices --unknown`.
    let seen = rig.store.seen_devices(true).await.unwrap();
    let mac: provisioning::Mac = "00:04:f2:00:00:99".parse().unwrap();
    let row = seen.iter().find(|r| r.seen.mac == mac).expect("seen");
    assert_eq!(row.seen.source, provisioning::store::SeenVia::Sccp);
    assert_eq!(row.seen.model_guess.as_deref(), Some("cisco-7970"));
    drop(phone);
    rig.stop().await;
}

#[tokio::test]
async fn a_reset_requested_in_the_store_reaches_the_registered_phone() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    rig.wait_registered(1).await;
    let mac: provisioning::Mac = "00:04:f2:aa:bb:01".parse().unwrap();
    rig.store.request_resets(&[mac], 1).await.unwrap();
    let got = phone.until(MessageId::RESET).await;
    let Some(Message::Reset(r)) = got.last() else {
        panic!("{got:?}")
    };
    assert_eq!(r.reset_type, 1);
    assert!(phone.closed().await);
    assert!(rig.store.take_reset_requests().await.unwrap().is_empty());
    drop(phone);
    rig.stop().await;
}

#[tokio::test]
async fn a_silent_phone_is_dropped_after_twice_the_keepalive() {
    let rig = rig(Duration::from_millis(200)).await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    rig.wait_registered(1).await;
    let start = tokio::time::Instant::now();
    assert!(phone.closed().await);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    rig.wait_registered(0).await;
    drop(phone);
    rig.stop().await;
}

#[tokio::test]
async fn a_reconnecting_phone_replaces_its_half_dead_session() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut old = Phone::connect(&rig).await;
    old.register(ALICE).await;
    rig.wait_registered(1).await;
    // The phone reboots; its old TCP session is still open on our side.
    let mut new = Phone::connect(&rig).await;
    new.register(ALICE).await;
    assert!(old.closed().await, "the old session is closed");
    new.send(Message::KeepAliveReq(Empty::default())).await;
    assert_eq!(
        new.recv().await.map(|m| m.id()),
        Some(MessageId::KEEP_ALIVE_ACK)
    );
    assert!(rig.server.is_registered(ALICE));
    assert_eq!(rig.server.registered(), 1);
    // The old session going away does not take the new one's lines with it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(rig.agents.detached.lock().unwrap().is_empty());
    assert_eq!(rig.agents.attached.lock().unwrap().len(), 2);
    drop((old, new));
    rig.stop().await;
}

#[tokio::test]
async fn two_phones_behind_one_address_both_register() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut a = Phone::connect(&rig).await;
    let mut b = Phone::connect(&rig).await;
    a.register(ALICE).await;
    b.register(EVE).await;
    rig.wait_registered(2).await;
    assert!(rig.server.is_registered(ALICE) && rig.server.is_registered(EVE));
    for p in [&mut a, &mut b] {
        p.send(Message::KeepAliveReq(Empty::default())).await;
        assert_eq!(
            p.recv().await.map(|m| m.id()),
            Some(MessageId::KEEP_ALIVE_ACK)
        );
    }
    drop((a, b));
    rig.stop().await;
}

#[tokio::test]
async fn a_malformed_message_is_skipped_and_the_session_goes_on() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    // LineStatReq with a 2-byte body (needs 4): a body error, not a framing error.
    let mut bad = BytesMut::new();
    frame::encode(MessageId::LINE_STAT_REQ, 0, &[1, 0], &mut bad);
    phone.send_raw(&bad).await;
    phone.send_raw(&bad).await;
    phone.send(Message::KeepAliveReq(Empty::default())).await;
    assert_eq!(
        phone.recv().await.map(|m| m.id()),
        Some(MessageId::KEEP_ALIVE_ACK)
    );
    assert!(rig.server.is_registered(ALICE));
    // An impossible length ends the stream.
    phone.send_raw(&[2, 0, 0, 0, 0, 0, 0, 0]).await;
    assert!(phone.closed().await);
    drop(phone);
    rig.stop().await;
}

#[tokio::test]
async fn a_call_goes_through_the_user_agents_and_the_relay() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    rig.wait_registered(1).await;
    phone
        .send(Message::OffHook(OffHook {
            line_instance: Some(0),
            call_reference: Some(0),
            ..Default::default()
        }))
        .await;
    phone.until(MessageId::START_TONE).await;
    for d in [2, 0, 0, 2] {
        phone
            .send(Message::KeypadButton(KeypadButton {
                kp_button: KeypadKey(d),
                line_instance: Some(1),
                call_reference: Some(0),
                ..Default::default()
            }))
            .await;
    }
    // Dialing ends on the interdigit timer (300 ms here).
    phone.until(MessageId::DIALED_NUMBER).await;
    let mut call = None;
    for _ in 0..100 {
        call = rig
            .agents
            .commands
            .lock()
            .unwrap()
            .iter()
            .find_map(|(_, c)| match c {
                UaCommand::Invite {
                    call,
                    target,
                    offer,
                    ..
                } if target == "2002"
                    && offer.rtp == "127.0.0.1:40000".parse::<SocketAddr>().unwrap() =>
                {
                    Some(*call)
                }
                _ => None,
            });
        if call.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let call = call.expect("INVITE asked of the user agent");
    let handle = rig.agents.handles.lock().unwrap()[0].clone();
    assert!(handle.ua(UaEvent::Answered {
        call,
        media: far_media(Codec::Pcmu),
    }));
    let got = phone.until(MessageId::START_MEDIA_TRANSMISSION).await;
    let smt = got
        .iter()
        .find_map(|m| match m {
            Message::StartMediaTransmission(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(smt.remote_port_number, 40002, "the relay's phone leg");
    phone
        .send(Message::OnHook(OnHook {
            line_instance: Some(0),
            call_reference: Some(0),
            ..Default::default()
        }))
        .await;
    phone.until(MessageId::SET_RINGER).await;
    for _ in 0..100 {
        if rig
            .agents
            .commands
            .lock()
            .unwrap()
            .iter()
            .any(|(_, c)| *c == UaCommand::Hangup { call })
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        rig.agents
            .commands
            .lock()
            .unwrap()
            .iter()
            .any(|(_, c)| *c == UaCommand::Hangup { call })
    );
    assert!(
        rig.media
            .actions
            .lock()
            .unwrap()
            .contains(&MediaAction::Release { call })
    );
    drop(phone);
    let log = rig.stop().await;
    tshark_check(&log);
}

/// Writes what the driver sent on each connection as a TCP conversation and has tshark decode it.
fn tshark_check(connections: &[Vec<u8>]) {
    use captures::write::{PcapWriter, Resolution, Side, TcpConversation};
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let mut w = PcapWriter::new(captures::LinkType::ETHERNET, Resolution::Micros);
    let server: SocketAddr = "127.0.0.1:2000".parse().unwrap();
    let mut frames = 0;
    for (i, bytes) in connections.iter().enumerate() {
        let phone: SocketAddr = format!("127.0.0.1:{}", 50000 + i).parse().unwrap();
        let mut conv = TcpConversation::new(phone, server, 1000, 5000);
        conv.handshake(&mut w);
        let mut rest = BytesMut::from(&bytes[..]);
        while let Some(raw) = frame::decode(&mut rest).unwrap() {
            let mut one = BytesMut::new();
            raw.encode(&mut one);
            conv.send(&mut w, Side::Server, &one);
            frames += 1;
        }
    }
    assert!(frames > 10, "{frames} frames");
    let dir = std::env::temp_dir().join(format!("crossbar-sccp-driver-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("driver-sends.pcap");
    w.write_to(&file).unwrap();
    let malformed = captures::peer::tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ])
    .unwrap();
    assert!(malformed.trim().is_empty(), "{malformed}");
    let rows = captures::peer::tshark_fields(&file, &[], "skinny", &["skinny.messageId"]).unwrap();
    assert_eq!(rows.len(), frames);
    let _ = std::fs::remove_dir_all(&dir);
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xffu8, 160));
    p
}

#[tokio::test]
async fn a_call_s_rtp_flows_both_ways_through_the_relay() {
    use gateway::driver::sccp::RelayMedia;
    use gateway::media::MediaRelay;
    let relay = RelayMedia::new(
        MediaRelay::new("127.0.0.1".parse().unwrap(), 41000..=41999),
        "127.0.0.1".parse().unwrap(),
    );
    let rig = rig_with(Duration::from_secs(30), Some(Arc::new(relay))).await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    rig.wait_registered(1).await;
    phone.send(Message::OffHook(OffHook::default())).await;
    phone.until(MessageId::START_TONE).await;
    for d in [2, 0, 0, 2, 15] {
        phone
            .send(Message::KeypadButton(KeypadButton {
                kp_button: KeypadKey(d),
                ..Default::default()
            }))
            .await;
    }
    phone.until(MessageId::DIALED_NUMBER).await;
    let mut invite = None;
    for _ in 0..100 {
        invite = rig
            .agents
            .commands
            .lock()
            .unwrap()
            .iter()
            .find_map(|(_, c)| match c {
                UaCommand::Invite { call, offer, .. } => Some((*call, offer.clone())),
                _ => None,
            });
        if invite.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (call, offer) = invite.expect("INVITE");
    assert_eq!(offer.rtp.ip().to_string(), "127.0.0.1");
    assert!((41000..=41999).contains(&offer.rtp.port()), "{}", offer.rtp);
    let far = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut media = far_media(Codec::Pcmu);
    media.rtp = far.local_addr().unwrap();
    let handle = rig.agents.handles.lock().unwrap()[0].clone();
    handle.ua(UaEvent::Answered { call, media });
    let got = phone.until(MessageId::START_MEDIA_TRANSMISSION).await;
    let ptid = got
        .iter()
        .find_map(|m| match m {
            Message::OpenReceiveChannel(o) => Some(o.pass_thru_party_id),
            _ => None,
        })
        .expect("ORC");
    let Some(Message::StartMediaTransmission(smt)) = got.last() else {
        panic!()
    };
    let phone_leg = SocketAddr::new(
        smt.remote_ip_addr.ip(),
        u16::try_from(smt.remote_port_number).unwrap(),
    );
    assert!((41000..=41999).contains(&phone_leg.port()));
    assert_ne!(phone_leg, offer.rtp);
    let here = phone_rtp.local_addr().unwrap();
    phone
        .send(Message::OpenReceiveChannelAck(
            codecs::sccp::msg::OpenReceiveChannelAck {
                ip_addr: codecs::sccp::types::IpField::from(here.ip()),
                port_number: u32::from(here.port()),
                pass_thru_party_id: ptid,
                call_reference: Some(call.0),
                ..Default::default()
            },
        ))
        .await;
    let mut buf = [0u8; 2048];
    // Phone → far end, then far end → phone; retried while the relay learns the addresses.
    let mut up = 0;
    for seq in 0..50u16 {
        phone_rtp.send_to(&rtp(seq), phone_leg).await.unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(20), far.recv_from(&mut buf)).await
        {
            assert_eq!(n, 172);
            up += 1;
            if up >= 3 {
                break;
            }
        }
    }
    assert!(up >= 3, "RTP reached the far end through the relay");
    let mut down = 0;
    for seq in 0..50u16 {
        far.send_to(&rtp(seq), offer.rtp).await.unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(20), phone_rtp.recv_from(&mut buf)).await
        {
            assert_eq!(n, 172);
            down += 1;
            if down >= 3 {
                break;
            }
        }
    }
    assert!(down >= 3, "RTP reached the phone through the relay");
    drop(phone);
    rig.stop().await;
}

/// The whole gateway in-process (`serve::run`): two SCCP phones call each other through the line user
/// agents, Crossbar's registrar and proxy, and the media relay.
#[tokio::test]
async fn two_sccp_phones_call_each_other_through_the_whole_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\nurl = \"sqlite://{}\"\n\n[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n\
         default_domain = \"acme.example.com\"\n\n[sccp]\nlisten = \"127.0.0.1:0\"\n\n[unistim]\nlisten = \"127.0.0.1:0\"\n\n\
         [tftp]\nlisten = \"127.0.0.1:0\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
         [media]\nrtp_ports = \"43000-43999\"\n\n[dialplan]\ninterdigit_ms = 500\n",
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
    let sccp = listeners
        .addresses()
        .into_iter()
        .find(|(k, _)| k == "sccp.listen")
        .map(|(_, a)| a)
        .expect("sccp listener");
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(gateway::serve::run(
        config,
        listeners,
        store,
        shutdown.clone(),
    ));
    let log: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let connect = || async {
        Phone {
            stream: TcpStream::connect(sccp).await.unwrap(),
            buf: BytesMut::new(),
            ctx: Ctx::new(0),
            received: Vec::new(),
            log: Arc::clone(&log),
        }
    };
    let mut alice = connect().await;
    let mut eve = connect().await;
    alice.register(ALICE).await;
    eve.register(EVE).await;
    // Let the lines register with the registrar (one REGISTER each over loopback).
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.send(Message::OffHook(OffHook::default())).await;
    alice.until(MessageId::START_TONE).await;
    for d in [2, 0, 0, 5, 15] {
        alice
            .send(Message::KeypadButton(KeypadButton {
                kp_button: KeypadKey(d),
                ..Default::default()
            }))
            .await;
    }
    // Eve's phone rings with Alice as the caller.
    let ring = eve.until(MessageId::SET_RINGER).await;
    let info = ring
        .iter()
        .find_map(|m| match m {
            Message::CallInfoV2(i) => Some(i.clone()),
            _ => None,
        })
        .expect("caller shown");
    assert_eq!(info.calling_party.unwrap().to_string_lossy(), "2001");
    assert_eq!(
        info.calling_party_name.unwrap().to_string_lossy(),
        "Alice Martin"
    );
    let got = alice.until(MessageId::START_TONE).await;
    assert!(
        got.iter().any(
            |m| matches!(m, Message::StartTone(t) if t.tone == codecs::sccp::Tone::ALERTING_TONE)
        ),
        "ringback at Alice: {got:?}"
    );
    eve.send(Message::OffHook(OffHook::default())).await;
    let e = eve.until(MessageId::START_MEDIA_TRANSMISSION).await;
    assert!(e.iter().any(|m| m.id() == MessageId::OPEN_RECEIVE_CHANNEL));
    let a = alice.until(MessageId::START_MEDIA_TRANSMISSION).await;
    assert!(a.iter().any(|m| m.id() == MessageId::OPEN_RECEIVE_CHANNEL));
    let port = |ms: &[Message]| {
        ms.iter()
            .find_map(|m| match m {
                Message::StartMediaTransmission(s) => Some(s.remote_port_number),
                _ => None,
            })
            .unwrap()
    };
    for p in [port(&a), port(&e)] {
        assert!((43000..=43999).contains(&p), "relay port {p}");
    }
    // Alice hangs up: Eve goes back to idle.
    alice.send(Message::OnHook(OnHook::default())).await;
    let idle = eve.until(MessageId::SET_RINGER).await;
    assert!(
        idle.iter()
            .any(|m| matches!(m, Message::CallState(s) if s.call_state == codecs::sccp::CallState::ON_HOOK)),
        "{idle:?}"
    );
    drop((alice, eve));
    shutdown.cancel();
    run.await.unwrap().unwrap();
    let connections = std::mem::take(&mut *log.lock().unwrap());
    tshark_check(&connections);
}

#[tokio::test]
async fn frames_split_across_segments_and_large_messages_are_reassembled() {
    let rig = rig(Duration::from_secs(30)).await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    let mut bytes = BytesMut::new();
    Message::KeepAliveReq(Empty::default()).encode_frame(phone.ctx, &mut bytes);
    Message::TimeDateReq(Empty::default()).encode_frame(phone.ctx, &mut bytes);
    // A large EnhancedAlarm first (grows the read buffer), then the two frames cut in odd places.
    let mut alarm = BytesMut::new();
    frame::encode(MessageId::ENHANCED_ALARM, 20, &[b'x'; 2000], &mut alarm);
    phone.send_raw(&alarm).await;
    for chunk in bytes.chunks(5) {
        phone.send_raw(chunk).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        phone.recv().await.map(|m| m.id()),
        Some(MessageId::KEEP_ALIVE_ACK)
    );
    assert_eq!(
        phone.recv().await.map(|m| m.id()),
        Some(MessageId::TIME_DATE_RES)
    );
    drop(phone);
    rig.stop().await;
}

/// Registrations are served from the in-memory inventory snapshot: once it is loaded, a phone
/// registers with its lines even when the store cannot be reached at all (in a storm, no registration
/// queues on the store's pool).
#[tokio::test]
async fn registrations_are_served_from_the_inventory_snapshot_without_the_store() {
    let rig = rig(Duration::from_secs(30)).await;
    for _ in 0..200 {
        if rig.server.snapshot_devices() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        rig.server.snapshot_devices(),
        2,
        "the snapshot holds both phones"
    );
    rig.store.close().await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    rig.wait_registered(1).await;
    let attached = rig.agents.attached.lock().unwrap().clone();
    assert_eq!(attached.len(), 1);
    let (name, lines) = &attached[0];
    assert_eq!(name, ALICE);
    let extensions: Vec<&str> = lines.iter().map(|(_, l)| l.extension.as_str()).collect();
    assert_eq!(extensions, ["2001", "2003"]);
    assert_eq!(lines[0].1.display_name, "Alice Martin");
    drop(phone);
    rig.stop().await;
}

/// The user agent commands recorded so far that `pick` selects, waiting up to a second for one.
async fn wait_command<T>(rig: &Rig, mut pick: impl FnMut(&UaCommand) -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(found) = rig
            .agents
            .commands
            .lock()
            .unwrap()
            .iter()
            .find_map(|(_, c)| pick(c))
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no such command: {:?}", rig.agents.commands.lock().unwrap());
}

/// The pass-through id of the OpenReceiveChannel among `got`.
fn orc_ptid(got: &[Message]) -> u32 {
    got.iter()
        .find_map(|m| match m {
            Message::OpenReceiveChannel(o) => Some(o.pass_thru_party_id),
            _ => None,
        })
        .expect("OpenReceiveChannel")
}

fn orc_ack(ptid: u32, call: CallRef, at: SocketAddr) -> Message {
    Message::OpenReceiveChannelAck(codecs::sccp::msg::OpenReceiveChannelAck {
        ip_addr: codecs::sccp::types::IpField::from(at.ip()),
        port_number: u32::from(at.port()),
        pass_thru_party_id: ptid,
        call_reference: Some(call.0),
        ..Default::default()
    })
}

/// `[media] mode = "direct"`: the phone's receive channel is opened before the SDP goes out (before
/// the INVITE of an outgoing call, before the 200 of an incoming one), the phone's own RTP address is
/// in our SDP, StartMediaTransmission goes to the far end's SDP address, and keys go as SIP INFO.
#[tokio::test]
async fn direct_media_puts_the_phone_s_own_address_in_the_sdp_both_ways() {
    use gateway::driver::sccp::DirectMedia;
    let rig = rig_with(Duration::from_secs(30), Some(Arc::new(DirectMedia))).await;
    let mut phone = Phone::connect(&rig).await;
    phone.register(ALICE).await;
    rig.wait_registered(1).await;
    let here: SocketAddr = "10.0.0.5:24000".parse().unwrap();

    // Outgoing: off hook, 2002, the interdigit timer; the receive channel opens before any INVITE.
    phone
        .send(Message::OffHook(OffHook {
            line_instance: Some(0),
            call_reference: Some(0),
            ..Default::default()
        }))
        .await;
    phone.until(MessageId::START_TONE).await;
    for d in [2, 0, 0, 2] {
        phone
            .send(Message::KeypadButton(KeypadButton {
                kp_button: KeypadKey(d),
                line_instance: Some(1),
                call_reference: Some(0),
                ..Default::default()
            }))
            .await;
    }
    let got = phone.until(MessageId::OPEN_RECEIVE_CHANNEL).await;
    let ptid = orc_ptid(&got);
    assert!(
        !rig.agents
            .commands
            .lock()
            .unwrap()
            .iter()
            .any(|(_, c)| matches!(c, UaCommand::Invite { .. })),
        "no INVITE before the phone's address is known"
    );
    let Some(Message::OpenReceiveChannel(orc)) = got.last() else {
        panic!("{got:?}")
    };
    let call = CallRef(orc.call_reference);
    phone.send(orc_ack(ptid, call, here)).await;
    let offer = wait_command(&rig, |c| match c {
        UaCommand::Invite { call: c, offer, .. } if *c == call => Some(offer.clone()),
        _ => None,
    })
    .await;
    assert_eq!(offer.rtp, here, "the phone's own RTP address in the SDP");
    assert_eq!(
        offer.codecs,
        [Codec::Pcmu],
        "the codec the channel was opened in"
    );
    let handle = rig.agents.handles.lock().unwrap()[0].clone();
    assert!(handle.ua(UaEvent::Answered {
        call,
        media: far_media(Codec::Pcmu),
    }));
    let got = phone.until(MessageId::START_MEDIA_TRANSMISSION).await;
    let Some(Message::StartMediaTransmission(smt)) = got.last() else {
        panic!()
    };
    let to = SocketAddr::new(
        smt.remote_ip_addr.ip(),
        u16::try_from(smt.remote_port_number).unwrap(),
    );
    assert_eq!(to, far_media(Codec::Pcmu).rtp, "straight to the far end");
    assert!(
        !got.iter()
            .any(|m| matches!(m, Message::OpenReceiveChannel(_))),
        "the channel is not opened twice"
    );
    // A key during the call: SIP INFO (no relay to carry RFC 4733).
    phone
        .send(Message::KeypadButton(KeypadButton {
            kp_button: KeypadKey(5),
            line_instance: Some(1),
            call_reference: Some(call.0),
            ..Default::default()
        }))
        .await;
    let dtmf = wait_command(&rig, |c| match c {
        UaCommand::Info { call: c, dtmf } if *c == call => Some(dtmf.digit),
        _ => None,
    })
    .await;
    assert_eq!(dtmf, '5');
    phone
        .send(Message::OnHook(OnHook {
            line_instance: Some(0),
            call_reference: Some(0),
            ..Default::default()
        }))
        .await;
    phone.until(MessageId::SET_RINGER).await;

    // Incoming: rings without media; answering opens the channel, and the 200 carries its address.
    let incoming = CallRef(77);
    assert!(handle.ua(UaEvent::Incoming {
        call: incoming,
        line: LineId(1),
        from_name: "Bob".to_owned(),
        from_number: "2002".to_owned(),
        offer: Some(far_media(Codec::Pcma)),
        replaces: None,
    }));
    let got = phone.until(MessageId::SET_RINGER).await;
    assert!(
        !got.iter()
            .any(|m| matches!(m, Message::OpenReceiveChannel(_)))
    );
    phone
        .send(Message::OffHook(OffHook {
            line_instance: Some(1),
            call_reference: Some(incoming.0),
            ..Default::default()
        }))
        .await;
    let got = phone.until(MessageId::OPEN_RECEIVE_CHANNEL).await;
    let Some(Message::OpenReceiveChannel(orc)) = got.last() else {
        panic!()
    };
    assert_eq!(orc.call_reference, incoming.0);
    let there: SocketAddr = "10.0.0.5:24002".parse().unwrap();
    phone
        .send(orc_ack(orc.pass_thru_party_id, incoming, there))
        .await;
    let answer = wait_command(&rig, |c| match c {
        UaCommand::Answer { call: c, media } if *c == incoming => Some(media.clone()),
        _ => None,
    })
    .await;
    assert_eq!(answer.rtp, there);
    assert_eq!(answer.codecs, [Codec::Pcma], "the caller's codec");
    let got = phone.until(MessageId::START_MEDIA_TRANSMISSION).await;
    let Some(Message::StartMediaTransmission(smt)) = got.last() else {
        panic!()
    };
    assert_eq!(
        u16::try_from(smt.remote_port_number).unwrap(),
        far_media(Codec::Pcma).rtp.port()
    );
    drop(phone);
    // (tshark reads these messages in the relay-mode tests; they share one capture path per run.)
    rig.stop().await;
}
