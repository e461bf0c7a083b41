//! A small scripted UNIStim server for testing the simulated phones without the gateway, built on the
//! server-side reliable-UDP endpoint of `codecs::unistim`. It does what unistim.md §4.1–4.3 says a server
//! does, and no more:
//!
//! - on a hello: Query Basic Manager (hardware id); on the hardware id: Assign Terminal ID, Query Basic
//!   Manager 0x5C (firmware, IT type, product code), Query Network Manager (server list), Query Display
//!   and Key/Indicator Manager, Query Audio Manager, Reset Watchdog; then the idle screen (context
//!   "Crossbar", the extension on line 0 and beside line key 0, softkeys Redial / Forward / DND) — or
//!   "Not provisioned" for a MAC it was not given;
//! - off hook: dial tone (stream tone 0); digits echoed on line 1; `#`: rings the phone with that
//!   extension (caller on its line 0, ringer on, key icon ringing), ring-back (tone 4) to the caller,
//!   busy (tone 2) if nobody has it; answer: Open Audio Stream on both phones, each sending to the
//!   other's RTP port; on hook / Release: Close Audio Stream on both, idle screens.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use codecs::unistim::msg::audio::{
    AudioPhone, AudioSwitch, StreamBasedToneOff, StreamBasedToneOn, TransducerTone, Vocoder,
};
use codecs::unistim::msg::audio_stream::OpenAudioStream;
use codecs::unistim::msg::basic::{AssignTerminalId, BasicPhone, BasicSwitch, QueryBasicManager};
use codecs::unistim::msg::display::DisplaySwitch;
use codecs::unistim::msg::display_write::{ClearField, DisplayWrite, WriteAddress};
use codecs::unistim::msg::key::{KeyCode, KeyPhone, KeySwitch, PhoneIconUpdate, icon};
use codecs::unistim::msg::network::{NetworkSwitch, QueryNetworkManager, ResetWatchdog};
use codecs::unistim::{Config, Endpoint, Event, Message, Opaque, Text};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// How the responder behaves.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// Extension of each known MAC; others get "Not provisioned".
    pub extensions: HashMap<[u8; 6], String>,
    /// The endpoint's settings (start sequence, keep-alive, retransmission).
    pub endpoint: Config,
    /// Keep every datagram for [`Responder::recorded`].
    pub record: bool,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        Self {
            extensions: HashMap::new(),
            endpoint: Config {
                phone_start_seq: 0xe554,
                first_send_seq: 0x9af9,
                ..Config::default()
            },
            record: true,
        }
    }
}

/// What a phone told the responder about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reported {
    /// MAC from the Hardware ID.
    pub mac: Option<[u8; 6]>,
    /// Firmware Version.
    pub firmware: String,
    /// IT Type byte.
    pub it_type: Option<u8>,
    /// Product Engineering Code.
    pub product_code: String,
    /// Ethernet address or server list, display/key/audio attributes: the names of what was answered.
    pub answers: Vec<&'static str>,
    /// Open Audio Stream Reports with success.
    pub streams_opened: u32,
}

#[derive(Debug, Default)]
struct Observed {
    recorded: Vec<(SocketAddr, bool, Bytes)>,
    reported: HashMap<SocketAddr, Reported>,
    calls_answered: u64,
    hellos: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CallState {
    Idle,
    Dialing(String),
    Calling(SocketAddr),
    Ringing(SocketAddr),
    Talking(SocketAddr),
}

struct Peer {
    ep: Endpoint,
    index: u16,
    extension: Option<String>,
    state: CallState,
}

/// The running responder; dropping it stops it.
#[derive(Debug)]
pub struct Responder {
    addr: SocketAddr,
    observed: Arc<Mutex<Observed>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Responder {
    /// Binds `addr` (port 0 for any) and serves.
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn start(addr: SocketAddr, config: ResponderConfig) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        let addr = socket.local_addr()?;
        let observed = Arc::new(Mutex::new(Observed::default()));
        let task = tokio::spawn(serve(socket, config, observed.clone()));
        Ok(Self {
            addr,
            observed,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Observed> {
        self.observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the phone at `peer` reported.
    pub fn reported(&self, peer: SocketAddr) -> Option<Reported> {
        self.lock().reported.get(&peer).cloned()
    }

    /// Calls answered so far.
    pub fn calls_answered(&self) -> u64 {
        self.lock().calls_answered
    }

    /// Hellos (new sessions and reboots) seen so far.
    pub fn hellos(&self) -> u64 {
        self.lock().hellos
    }

    /// Every datagram: the phone's address, whether the phone sent it, the bytes.
    pub fn recorded(&self) -> Vec<(SocketAddr, bool, Bytes)> {
        self.lock().recorded.clone()
    }

    /// Writes what the phones sent and received as a pcap, the responder on `server_port` so that
    /// `tshark -d udp.port==PORT,unistim` decodes it.
    ///
    /// # Errors
    ///
    /// The write error.
    pub fn write_pcap(&self, path: &std::path::Path) -> std::io::Result<()> {
        let mut w = captures::write::PcapWriter::new(
            captures::LinkType::ETHERNET,
            captures::write::Resolution::Micros,
        );
        let server = if self.addr.ip().is_unspecified() {
            SocketAddr::new(IpAddr::from([127, 0, 0, 1]), self.addr.port())
        } else {
            self.addr
        };
        for (peer, from_phone, bytes) in self.recorded() {
            if from_phone {
                w.udp(peer, server, &bytes);
            } else {
                w.udp(server, peer, &bytes);
            }
        }
        w.write_to(path)
    }
}

fn write(address: WriteAddress, text: &str) -> Message {
    Message::from(DisplaySwitch::DisplayWrite(
        DisplayWrite::new(address, Text::new(text.to_owned()))
            .with_control(DisplayWrite::CURSOR_MOVE | DisplayWrite::CLEAR_RIGHT),
    ))
}

fn idle_screen(extension: Option<&str>) -> Vec<Message> {
    let mut m = vec![
        Message::from(DisplaySwitch::ClearField(ClearField::lines(0x07))),
        Message::from(AudioSwitch::StreamBasedToneOff(StreamBasedToneOff::new(
            0, 0,
        ))),
        Message::from(AudioSwitch::TransducerBasedToneOff(TransducerTone::new(0))),
    ];
    match extension {
        Some(ext) => {
            m.push(write(WriteAddress::context(), "Crossbar"));
            m.push(write(WriteAddress::line(0, 0), ext));
            m.push(write(WriteAddress::soft_label(0), ext));
            m.push(write(WriteAddress::softkey(0), "Redial"));
            m.push(write(WriteAddress::softkey(1), "Forward"));
            m.push(write(WriteAddress::softkey(2), "DND"));
            m.push(Message::from(KeySwitch::PhoneIconUpdate(
                PhoneIconUpdate::new(0, icon::NONE),
            )));
        }
        None => {
            m.push(write(WriteAddress::context(), "Crossbar"));
            m.push(write(WriteAddress::line(0, 0), "Not provisioned"));
        }
    }
    m
}

fn stream(to: SocketAddr, local_port: u16) -> Message {
    let far = match to.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
    };
    Message::from(AudioSwitch::OpenAudioStream(OpenAudioStream {
        rx_stream_id: 0,
        tx_stream_id: 0,
        rx_vocoder: Vocoder(0),
        tx_vocoder: Vocoder(0),
        frames_per_packet: 2,
        tos: 0,
        rtcp_bucket_id: 0,
        reserved: [0, 0, 0, 2],
        local_rtp_port: local_port,
        local_rtcp_port: local_port.wrapping_add(1),
        far_rtp_port: to.port(),
        far_rtcp_port: to.port().wrapping_add(1),
        far_address: Some(far),
        trailing: Bytes::new(),
    }))
}

async fn serve(socket: UdpSocket, config: ResponderConfig, observed: Arc<Mutex<Observed>>) {
    let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut next_tid = 0x100u32;
    let mut next_index = 0u16;
    let rtp_base = 20_000u16;
    let lock = || {
        observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    // Timers are checked on a 10 ms tick rather than by computing the earliest deadline of every
    // endpoint after each datagram, which cost O(phones) per datagram.
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let mut touched: Vec<SocketAddr> = Vec::new();
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                let Some(bytes) = buf.get(..n) else { continue };
                if config.record {
                    lock().recorded.push((from, true, Bytes::copy_from_slice(bytes)));
                }
                let peer = peers.entry(from).or_insert_with(|| {
                    next_index = next_index.wrapping_add(1);
                    Peer { ep: Endpoint::new(config.endpoint.clone()), index: next_index, extension: None, state: CallState::Idle }
                });
                let _ = peer.ep.handle_datagram(Instant::now().into_std(), bytes);
                touched.push(from);
            }
            _ = tick.tick() => {
                let now = Instant::now().into_std();
                for (addr, p) in &mut peers {
                    if p.ep.poll_timeout().is_some_and(|t| t <= now) {
                        p.ep.handle_timeout(now);
                        touched.push(*addr);
                    }
                }
            }
        }
        // Events may make the responder write to other phones too (the called party).
        let mut i = 0;
        while let Some(addr) = touched.get(i).copied() {
            i += 1;
            let events: Vec<Event> = match peers.get_mut(&addr) {
                Some(p) => std::iter::from_fn(|| p.ep.poll_event()).collect(),
                None => continue,
            };
            for e in events {
                let out = on_event(
                    &mut peers,
                    addr,
                    e,
                    &config,
                    &mut next_tid,
                    rtp_base,
                    &observed,
                );
                for (to, msgs) in out {
                    if let Some(p) = peers.get_mut(&to) {
                        let _ = p.ep.send(Instant::now().into_std(), msgs);
                        touched.push(to);
                    }
                }
            }
            if let Some(p) = peers.get_mut(&addr) {
                while let Some(d) = p.ep.poll_transmit() {
                    if config.record {
                        lock().recorded.push((addr, false, d.clone()));
                    }
                    let _ = socket.send_to(&d, addr).await;
                }
            }
        }
    }
}

type Outbox = Vec<(SocketAddr, Vec<Message>)>;

fn on_event(
    peers: &mut HashMap<SocketAddr, Peer>,
    addr: SocketAddr,
    event: Event,
    config: &ResponderConfig,
    next_tid: &mut u32,
    rtp_base: u16,
    observed: &Mutex<Observed>,
) -> Outbox {
    let lock = || {
        observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let query = |flags| {
        Message::from(BasicSwitch::QueryBasicManager(QueryBasicManager::new(
            flags,
        )))
    };
    match event {
        Event::Connected | Event::PhoneRebooted => {
            {
                let mut o = lock();
                o.hellos += 1;
                // A new session: the phone is identified and registered again.
                if let Some(r) = o.reported.get_mut(&addr) {
                    r.mac = None;
                }
            }
            if let Some(p) = peers.get_mut(&addr) {
                p.state = CallState::Idle;
            }
            vec![(addr, vec![query(QueryBasicManager::QUERY_HARDWARE_ID)])]
        }
        Event::PhoneGone => Vec::new(),
        Event::Delivered(messages) => {
            let mut out = Outbox::new();
            for m in messages {
                out.extend(on_message(
                    peers, addr, m, config, next_tid, rtp_base, observed,
                ));
            }
            out
        }
        _ => Vec::new(),
    }
}

fn on_message(
    peers: &mut HashMap<SocketAddr, Peer>,
    addr: SocketAddr,
    m: Message,
    config: &ResponderConfig,
    next_tid: &mut u32,
    rtp_base: u16,
    observed: &Mutex<Observed>,
) -> Outbox {
    let lock = || {
        observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let port_of = |peers: &HashMap<SocketAddr, Peer>, a: SocketAddr| {
        peers
            .get(&a)
            .map_or(rtp_base, |p| rtp_base.wrapping_add(p.index.wrapping_mul(2)))
    };
    match m {
        Message::BasicPhone(BasicPhone::HardwareId(h)) => {
            let Some(mac) = h.mac() else {
                return Vec::new();
            };
            let first = {
                let mut o = lock();
                let r = o.reported.entry(addr).or_default();
                let first = r.mac.is_none();
                r.mac = Some(mac);
                first
            };
            if !first {
                return Vec::new();
            }
            let extension = config.extensions.get(&mac).cloned();
            if let Some(p) = peers.get_mut(&addr) {
                p.extension.clone_from(&extension);
            }
            *next_tid = next_tid.wrapping_add(1);
            let mut msgs = vec![
                Message::from(BasicSwitch::AssignTerminalId(AssignTerminalId::new(
                    *next_tid,
                ))),
                Message::from(BasicSwitch::QueryBasicManager(QueryBasicManager::new(0x5c))),
                Message::from(NetworkSwitch::QueryNetworkManager(
                    QueryNetworkManager::new(0x08),
                )),
                Message::from(DisplaySwitch::QueryDisplayManager(Opaque::new(
                    Bytes::from_static(&[0x01]),
                ))),
                Message::from(KeySwitch::QueryKeyIndicatorManager(Opaque::new(
                    Bytes::from_static(&[0x01]),
                ))),
                Message::from(AudioSwitch::QueryAudioManager(
                    codecs::unistim::msg::audio::QueryAudioManager::new(0x01, 0),
                )),
                Message::from(NetworkSwitch::ResetWatchdog(ResetWatchdog::new(
                    config.endpoint.watchdog_timeout,
                ))),
            ];
            msgs.extend(idle_screen(extension.as_deref()));
            vec![(addr, msgs)]
        }
        Message::BasicPhone(b) => {
            let mut o = lock();
            let r = o.reported.entry(addr).or_default();
            match b {
                BasicPhone::FirmwareVersion(f) => {
                    r.firmware = f.version.to_str_lossy().into_owned()
                }
                BasicPhone::ItType(t) => r.it_type = Some(t.it_type.0),
                BasicPhone::ProductEngineeringCode(c) => {
                    r.product_code = c.code.to_str_lossy().into_owned();
                }
                BasicPhone::StartupReason(_) => r.answers.push("startup reason"),
                BasicPhone::EthernetAddress(_) => r.answers.push("ethernet address"),
                _ => {}
            }
            Vec::new()
        }
        Message::NetworkPhone(
            codecs::unistim::msg::network::NetworkPhone::ServerInformationReport(_),
        ) => {
            lock()
                .reported
                .entry(addr)
                .or_default()
                .answers
                .push("server information");
            Vec::new()
        }
        Message::DisplayPhone(codecs::unistim::msg::display::DisplayPhone::AttributesInfo(_)) => {
            lock()
                .reported
                .entry(addr)
                .or_default()
                .answers
                .push("display attributes");
            Vec::new()
        }
        Message::KeyPhone(KeyPhone::AttributesInfo(_)) => {
            lock()
                .reported
                .entry(addr)
                .or_default()
                .answers
                .push("key attributes");
            Vec::new()
        }
        Message::AudioPhone(AudioPhone::AttributesInfo(_)) => {
            lock()
                .reported
                .entry(addr)
                .or_default()
                .answers
                .push("audio attributes");
            Vec::new()
        }
        Message::AudioPhone(AudioPhone::OpenAudioStreamReport(r)) => {
            if r.result.0 == 0 {
                lock().reported.entry(addr).or_default().streams_opened += 1;
            }
            Vec::new()
        }
        Message::KeyPhone(KeyPhone::OffHook(_)) => off_hook(peers, addr, port_of, observed),
        Message::KeyPhone(KeyPhone::KeyEvent(k)) if k.action.0 == 1 => match k.key {
            KeyCode::HANDSFREE => off_hook(peers, addr, port_of, observed),
            KeyCode::RELEASE => on_hook(peers, addr),
            key => match key.dial_char() {
                Some(c) => digit(peers, addr, c),
                None => Vec::new(),
            },
        },
        Message::KeyPhone(KeyPhone::OnHook(_)) => on_hook(peers, addr),
        _ => Vec::new(),
    }
}

fn off_hook(
    peers: &mut HashMap<SocketAddr, Peer>,
    addr: SocketAddr,
    port_of: impl Fn(&HashMap<SocketAddr, Peer>, SocketAddr) -> u16,
    observed: &Mutex<Observed>,
) -> Outbox {
    let Some(p) = peers.get(&addr) else {
        return Vec::new();
    };
    match p.state.clone() {
        CallState::Idle if p.extension.is_some() => {
            if let Some(p) = peers.get_mut(&addr) {
                p.state = CallState::Dialing(String::new());
            }
            vec![(
                addr,
                vec![
                    Message::from(DisplaySwitch::ClearField(ClearField::lines(0x06))),
                    write(WriteAddress::line(1, 0), "Number:"),
                    Message::from(AudioSwitch::StreamBasedToneOn(StreamBasedToneOn::new(
                        0, 0, 0x11,
                    ))),
                    Message::from(KeySwitch::PhoneIconUpdate(PhoneIconUpdate::new(
                        0,
                        icon::ACTIVE,
                    ))),
                ],
            )]
        }
        CallState::Ringing(caller) => {
            if let Some(p) = peers.get_mut(&addr) {
                p.state = CallState::Talking(caller);
            }
            if let Some(c) = peers.get_mut(&caller) {
                c.state = CallState::Talking(addr);
            }
            observed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .calls_answered += 1;
            let (my_port, their_port) = (port_of(peers, addr), port_of(peers, caller));
            vec![
                (
                    addr,
                    vec![
                        Message::from(AudioSwitch::TransducerBasedToneOff(TransducerTone::new(0))),
                        Message::from(KeySwitch::PhoneIconUpdate(PhoneIconUpdate::new(
                            0,
                            icon::ACTIVE,
                        ))),
                        stream(SocketAddr::new(caller.ip(), their_port), my_port),
                    ],
                ),
                (
                    caller,
                    vec![
                        Message::from(AudioSwitch::StreamBasedToneOff(StreamBasedToneOff::new(
                            4, 0,
                        ))),
                        write(WriteAddress::line(2, 0), "Connected"),
                        stream(SocketAddr::new(addr.ip(), my_port), their_port),
                    ],
                ),
            ]
        }
        _ => Vec::new(),
    }
}

fn digit(peers: &mut HashMap<SocketAddr, Peer>, addr: SocketAddr, c: char) -> Outbox {
    let Some(CallState::Dialing(mut number)) = peers.get(&addr).map(|p| p.state.clone()) else {
        return Vec::new();
    };
    if c != '#' {
        let first = number.is_empty();
        number.push(c);
        if let Some(p) = peers.get_mut(&addr) {
            p.state = CallState::Dialing(number.clone());
        }
        let mut msgs = vec![write(
            WriteAddress::line(1, 0),
            &format!("Number: {number}"),
        )];
        if first {
            msgs.insert(
                0,
                Message::from(AudioSwitch::StreamBasedToneOff(StreamBasedToneOff::new(
                    0, 0,
                ))),
            );
        }
        return vec![(addr, msgs)];
    }
    let caller_ext = peers
        .get(&addr)
        .and_then(|p| p.extension.clone())
        .unwrap_or_default();
    let target = peers
        .iter()
        .find(|(a, p)| **a != addr && p.extension.as_deref() == Some(number.as_str()))
        .map(|(a, p)| (*a, p.state == CallState::Idle));
    match target {
        Some((callee, true)) => {
            if let Some(p) = peers.get_mut(&addr) {
                p.state = CallState::Calling(callee);
            }
            if let Some(p) = peers.get_mut(&callee) {
                p.state = CallState::Ringing(addr);
            }
            vec![
                (
                    addr,
                    vec![
                        write(WriteAddress::line(2, 0), "Ringing"),
                        Message::from(AudioSwitch::StreamBasedToneOn(StreamBasedToneOn::new(
                            4, 0, 0x11,
                        ))),
                    ],
                ),
                (
                    callee,
                    vec![
                        write(WriteAddress::line(1, 0), &format!("From {caller_ext}")),
                        Message::from(AudioSwitch::TransducerBasedToneOn(TransducerTone::new(0))),
                        Message::from(KeySwitch::PhoneIconUpdate(PhoneIconUpdate::new(
                            0,
                            icon::RINGING,
                        ))),
                    ],
                ),
            ]
        }
        _ => vec![(
            addr,
            vec![
                write(WriteAddress::line(2, 0), "Busy"),
                Message::from(AudioSwitch::StreamBasedToneOn(StreamBasedToneOn::new(
                    2, 0, 0x11,
                ))),
            ],
        )],
    }
}

fn on_hook(peers: &mut HashMap<SocketAddr, Peer>, addr: SocketAddr) -> Outbox {
    let Some(p) = peers.get_mut(&addr) else {
        return Vec::new();
    };
    let state = std::mem::replace(&mut p.state, CallState::Idle);
    let mine = p.extension.clone();
    let close = Message::from(AudioSwitch::CloseAudioStream(
        codecs::unistim::msg::audio::CloseAudioStream::new(0, 0),
    ));
    let mut me = vec![close.clone()];
    me.extend(idle_screen(mine.as_deref()));
    let mut out = vec![(addr, me)];
    if let CallState::Calling(other) | CallState::Ringing(other) | CallState::Talking(other) = state
        && let Some(o) = peers.get_mut(&other)
    {
        o.state = CallState::Idle;
        let mut them = vec![close];
        them.extend(idle_screen(o.extension.clone().as_deref()));
        out.push((other, them));
    }
    out
}
