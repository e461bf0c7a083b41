//! A simulated UNIStim phone as tests and the CLI hold it: key presses in, screen and events out.
//!
//! [`UnistimPhone::spawn`] starts the phone's task (one UDP socket; hello, queries, watchdog,
//! reconnect; see [`super::session`]). What the server paints is folded into a [`Screen`] that
//! [`UnistimPhone::screen`] returns and [`UnistimPhone::wait_screen`] waits on; other observations are
//! [`UnistimEvent`]s (recorded when [`PhoneConfig::record_events`] is on).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use codecs::unistim::msg::key::KeyCode;
use tokio::sync::{Notify, mpsc};

use super::model::UnistimSpec;
use super::screen::{Screen, ToneKind};
use crate::phonesim::media::{LegCounts, RtpCounts};
use crate::phonesim::phone::PhoneConfig;

/// Something a UNIStim phone saw or did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnistimEvent {
    /// A hello went out from this address (first connection or reconnection).
    Hello {
        /// The phone's address.
        local: SocketAddr,
    },
    /// The server acknowledged the hello.
    LinkUp,
    /// Assign Terminal ID: the phone is in service.
    Registered {
        /// The terminal id.
        terminal_id: u32,
    },
    /// The server asked something (Basic, Network, Display, Key or Audio query): address and command.
    Queried {
        /// Manager address.
        address: u8,
        /// Command.
        command: u8,
    },
    /// Reset Watchdog.
    Watchdog {
        /// Its timeout in seconds.
        timeout_secs: u16,
    },
    /// The link was lost (retransmissions exhausted, watchdog expired, or a reset by the server); the
    /// phone says hello again.
    Lost,
    /// Something on the screen changed.
    Screen,
    /// A stream-based tone started.
    Tone {
        /// The tone id.
        id: u8,
        /// What it is.
        kind: ToneKind,
    },
    /// The stream-based tone stopped.
    ToneOff,
    /// The ringer went on or off.
    Ringer {
        /// On.
        on: bool,
    },
    /// Open Audio Stream: RTP is received on `local` and, when `remote` is set, sent there.
    AudioOpened {
        /// Where the phone receives.
        local: SocketAddr,
        /// Where it sends, if it transmits.
        remote: Option<SocketAddr>,
        /// The transmit vocoder (= RTP payload type).
        vocoder: u8,
    },
    /// Close Audio Stream.
    AudioClosed,
    /// A placed call reached ringback or its audio stream, this long after the last digit.
    SetupLatency(Duration),
    /// A message that did not decode arrived (address, command).
    Malformed {
        /// Manager address.
        address: u8,
        /// Command.
        command: u8,
    },
}

#[derive(Debug)]
pub(crate) enum UCommand {
    Keys(Vec<Key>),
    Answer,
    Place { number: String, hold: Duration },
    Drop { reconnect_after: Duration },
    Stop,
}

/// One thing the user does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Key {
    /// A key of the set (dial pad, softkey, line key, handsfree, release ...): a Key Event.
    Press(KeyCode),
    /// The handset lifted (Key/Indicator Off Hook).
    OffHook,
    /// The handset put back (On Hook).
    OnHook,
}

#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) events: Vec<UnistimEvent>,
    pub(crate) registered: bool,
    pub(crate) terminal_id: Option<u32>,
    pub(crate) screen: Screen,
    pub(crate) legs: Vec<Arc<LegCounts>>,
    pub(crate) local: Option<SocketAddr>,
}

/// A recorded datagram: sent by the phone or by the server.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Sent by the phone.
    pub from_phone: bool,
    /// The bytes (as they went on the wire, before injected loss).
    pub bytes: Bytes,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) observed: Mutex<Observed>,
    /// The phone's payloads not yet acknowledged by the server.
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
    /// On hook, not ringing, no call placed and no audio stream: a load run may call it or have it call.
    pub(crate) idle: std::sync::atomic::AtomicBool,
    pub(crate) changed: Notify,
    pub(crate) record: bool,
    pub(crate) wire: Option<Mutex<Vec<Datagram>>>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Observed> {
        self.observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn push(&self, event: UnistimEvent) {
        if self.record {
            self.lock().events.push(event);
            self.changed.notify_waiters();
        }
    }

    pub(crate) fn record(&self, from_phone: bool, bytes: &Bytes) {
        if let Some(w) = &self.wire {
            w.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Datagram {
                    from_phone,
                    bytes: bytes.clone(),
                });
        }
    }
}

/// A simulated UNIStim phone; dropping it stops the phone abruptly.
#[derive(Debug)]
pub struct UnistimPhone {
    spec: Arc<UnistimSpec>,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<UCommand>,
    cursor: usize,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for UnistimPhone {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl UnistimPhone {
    /// Starts a phone sending from `source` (or the unspecified address) to `config.server`.
    pub fn spawn(spec: UnistimSpec, config: Arc<PhoneConfig>, source: Option<IpAddr>) -> Self {
        let spec = Arc::new(spec);
        let shared = Arc::new(Shared {
            observed: Mutex::new(Observed {
                screen: Screen::new(spec.model.display_lines, spec.model.softkeys),
                ..Default::default()
            }),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            idle: std::sync::atomic::AtomicBool::new(false),
            changed: Notify::new(),
            record: config.record_events,
            wire: config.record_wire.then(Mutex::default),
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(super::session::run(
            spec.clone(),
            config,
            source,
            shared.clone(),
            rx,
        ));
        Self {
            spec,
            shared,
            commands,
            cursor: 0,
            task: Some(task),
        }
    }

    /// The phone's description.
    pub fn spec(&self) -> &UnistimSpec {
        &self.spec
    }

    /// Whether the server assigned a terminal id on the current link.
    pub fn is_registered(&self) -> bool {
        self.shared.lock().registered
    }

    /// The terminal id assigned last.
    pub fn terminal_id(&self) -> Option<u32> {
        self.shared.lock().terminal_id
    }

    /// The phone's UDP address (once it said hello).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.lock().local
    }

    /// Whether the phone is in service and free: its terminal id assigned and softkeys painted (the
    /// idle screen; an unprovisioned set has none), on hook, not ringing, no call being placed, no
    /// audio stream open (what `--call-target peers` waits for before pairing a caller with its callee).
    pub fn is_idle(&self) -> bool {
        self.shared.idle.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The phone's payloads (key events, answers) the server has not acknowledged yet.
    pub fn in_flight(&self) -> usize {
        self.shared
            .in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until the server has acknowledged everything the phone sent; false on timeout.
    pub async fn wait_settled(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.in_flight() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// What the display and indicators show now.
    pub fn screen(&self) -> Screen {
        self.shared.lock().screen.clone()
    }

    /// RTP sent and received over all the phone's audio streams.
    pub fn rtp_counts(&self) -> RtpCounts {
        self.shared
            .lock()
            .legs
            .iter()
            .map(|c| c.get())
            .fold(RtpCounts::default(), |a, b| RtpCounts {
                sent: a.sent + b.sent,
                received: a.received + b.received,
            })
    }

    /// Every event recorded so far.
    pub fn events(&self) -> Vec<UnistimEvent> {
        self.shared.lock().events.clone()
    }

    /// Every datagram sent and received (with [`PhoneConfig::record_wire`]).
    pub fn recorded(&self) -> Vec<Datagram> {
        self.shared.wire.as_ref().map_or_else(Vec::new, |w| {
            w.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }

    /// Writes the recorded datagrams as a pcap between the phone's address and `server`.
    ///
    /// # Errors
    ///
    /// The write error.
    pub fn write_pcap(&self, path: &std::path::Path, server: SocketAddr) -> std::io::Result<()> {
        let local = self
            .local_addr()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5000)));
        let mut w = captures::write::PcapWriter::new(
            captures::LinkType::ETHERNET,
            captures::write::Resolution::Micros,
        );
        for d in self.recorded() {
            if d.from_phone {
                w.udp(local, server, &d.bytes);
            } else {
                w.udp(server, local, &d.bytes);
            }
        }
        w.write_to(path)
    }

    /// Waits for the next event (after the one the previous `wait_for` returned) matching `pred`.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&UnistimEvent) -> bool,
        timeout: Duration,
    ) -> Option<UnistimEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let observed = self.shared.lock();
                if let Some((i, e)) = observed
                    .events
                    .iter()
                    .enumerate()
                    .skip(self.cursor)
                    .find(|(_, e)| pred(e))
                {
                    self.cursor = i + 1;
                    return Some(e.clone());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Waits until the screen satisfies `pred`; the screen then, or `None` on timeout.
    pub async fn wait_screen(
        &self,
        mut pred: impl FnMut(&Screen) -> bool,
        timeout: Duration,
    ) -> Option<Screen> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let observed = self.shared.lock();
                if pred(&observed.screen) {
                    return Some(observed.screen.clone());
                }
            }
            // Screens change without an event when events are not recorded: poll as well.
            let tick = tokio::time::Instant::now() + Duration::from_millis(20);
            if tokio::time::timeout_at(deadline.min(tick), notified)
                .await
                .is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return None;
            }
        }
    }

    /// Waits until the phone is registered.
    pub async fn wait_registered(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_registered() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    fn send(&self, c: UCommand) {
        let _ = self.commands.send(c);
    }

    /// Presses keys in order.
    pub fn keys(&self, keys: &[Key]) {
        self.send(UCommand::Keys(keys.to_vec()));
    }

    /// Presses one key of the set.
    pub fn press(&self, key: KeyCode) {
        self.keys(&[Key::Press(key)]);
    }

    /// Lifts the handset.
    pub fn off_hook(&self) {
        self.keys(&[Key::OffHook]);
    }

    /// Puts the handset back.
    pub fn on_hook(&self) {
        self.keys(&[Key::OnHook]);
    }

    /// Dial-pad keys (`0`-`9`, `*`, `#`; others ignored), one Key Event each.
    pub fn dial(&self, digits: &str) {
        let keys: Vec<Key> = digits
            .chars()
            .filter_map(dial_key)
            .map(Key::Press)
            .collect();
        self.keys(&keys);
    }

    /// Softkey `n` (0-3).
    pub fn softkey(&self, n: u8) {
        self.press(KeyCode(0x14 + (n & 3)));
    }

    /// Programmable (line) key `n` (0-24).
    pub fn line_key(&self, n: u8) {
        self.press(KeyCode(0x20 + n.min(24)));
    }

    /// Answers a ringing call by lifting the handset.
    pub fn answer(&self) {
        self.send(UCommand::Answer);
    }

    /// Places a call as the load generator does: handset off hook, the digits once dial tone plays
    /// (or after a second without it), `#`; talks for `hold` once the audio stream is open, then on hook.
    pub fn place_call(&self, number: &str, hold: Duration) {
        self.send(UCommand::Place {
            number: number.to_owned(),
            hold,
        });
    }

    /// Goes silent (no ACKs, nothing sent) and says hello again after `reconnect_after`, as a set that
    /// rebooted does.
    pub fn drop_connection(&self, reconnect_after: Duration) {
        self.send(UCommand::Drop { reconnect_after });
    }

    /// Ends the phone (Suspend Connection first); what it observed stays readable.
    pub async fn stop(&mut self) {
        self.send(UCommand::Stop);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The key code of a dial-pad character.
pub fn dial_key(c: char) -> Option<KeyCode> {
    match c {
        '0'..='9' => Some(KeyCode(c as u8 - b'0')),
        '*' => Some(KeyCode::STAR),
        '#' => Some(KeyCode::POUND),
        _ => None,
    }
}

/// Many UNIStim phones started together, round-robin over the configured source addresses.
#[derive(Debug)]
pub struct UnistimFleet {
    /// The phones, in spec order.
    pub phones: Vec<UnistimPhone>,
    /// Their shared configuration.
    pub config: Arc<PhoneConfig>,
}

impl UnistimFleet {
    /// Starts one phone per spec.
    pub fn spawn(specs: Vec<UnistimSpec>, config: PhoneConfig) -> Self {
        let config = Arc::new(config);
        let phones = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let source = (!config.source_ips.is_empty())
                    .then(|| config.source_ips[i % config.source_ips.len()]);
                UnistimPhone::spawn(spec, config.clone(), source)
            })
            .collect();
        Self { phones, config }
    }

    /// Phones registered now.
    pub fn registered(&self) -> u64 {
        self.config
            .stats
            .registered
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops every phone.
    pub async fn stop(self) {
        for phone in &self.phones {
            phone.send(UCommand::Stop);
        }
        for mut phone in self.phones {
            phone.stop().await;
        }
    }
}
