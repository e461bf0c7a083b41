//! A simulated phone as tests and the CLI hold it: commands in, observations out.
//!
//! [`Phone::spawn`] starts the phone's task (connect, register, keep alive, reconnect; see
//! [`super::session`]). Commands (`off_hook`, `dial`, `answer`, `softkey` ...) are queued to the task and
//! sent in order. What the call manager sends is turned into [`Event`]s: recorded (when
//! [`PhoneConfig::record_events`] is on) for [`Phone::wait_for`], and folded into the state that
//! [`Phone::calls`], [`Phone::call_state`] and [`Phone::rtp_counts`] report.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use codecs::sccp::{CallState, PayloadType, SoftKeyEvent, Stimulus, Tone};
use tokio::sync::{Notify, mpsc};

use captures::write::Side;

use super::fleet::PhoneSpec;
use super::media::{LegCounts, RtpCounts};
use super::stats::Stats;
use super::wire::Recorded;

/// How phones behave; shared by every phone of a fleet.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// The call manager (Crossbar's `[sccp] listen`).
    pub server: SocketAddr,
    /// Local addresses to connect from, used round-robin by [`super::Fleet`] (empty: the kernel picks).
    pub source_ips: Vec<IpAddr>,
    /// After a lost connection, wait a random time up to this before reconnecting.
    pub reconnect_jitter: Duration,
    /// Answer a ringing call after this delay; `None` leaves it to the test.
    pub auto_answer: Option<Duration>,
    /// Keep every event for [`Phone::wait_for`] (tests); off for load runs.
    pub record_events: bool,
    /// Keep the bytes of every connection for [`Phone::write_pcap`] (tests).
    pub record_wire: bool,
    /// How long to wait for RegisterAck before dropping the connection and trying again.
    pub register_wait: Duration,
    /// How long to wait for each answer during registration before going on without it.
    pub step_timeout: Duration,
    /// How long a placed call may take to reach ringback or connected.
    pub setup_timeout: Duration,
    /// UNIStim: drop this share (0.0–1.0) of the phone's datagrams, each direction.
    pub loss: f64,
    /// UNIStim: send this share of the phone's datagrams after the one that follows them.
    pub reorder: f64,
    /// Counters of the fleet.
    pub stats: Arc<Stats>,
}

impl PhoneConfig {
    /// Defaults for a call manager at `server`: reconnect within 2 s, no auto-answer, events recorded.
    pub fn new(server: SocketAddr) -> Self {
        Self {
            server,
            source_ips: Vec::new(),
            reconnect_jitter: Duration::from_secs(2),
            auto_answer: None,
            record_events: true,
            record_wire: false,
            register_wait: Duration::from_secs(10),
            step_timeout: Duration::from_secs(5),
            setup_timeout: Duration::from_secs(10),
            loss: 0.0,
            reorder: 0.0,
            stats: Arc::default(),
        }
    }
}

/// Something the phone saw or did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The TCP connection is up (RegisterReq sent).
    Connected {
        /// The phone's local address.
        local: SocketAddr,
    },
    /// RegisterAck received.
    RegisterAck {
        /// The negotiated protocol version.
        version: u8,
        /// The keepalive interval.
        keepalive_secs: u32,
    },
    /// Registration complete (every status request answered, TimeDateRes received).
    Registered,
    /// RegisterReject received.
    Rejected {
        /// The reason given.
        text: String,
    },
    /// The connection went away.
    Disconnected,
    /// A KeepAliveAck.
    KeepAliveAck,
    /// CallState.
    CallState {
        /// The line.
        line: u32,
        /// The call.
        call_ref: u32,
        /// The state.
        state: CallState,
    },
    /// CallInfo or CallInfoV2.
    CallInfo {
        /// The call.
        call_ref: u32,
        /// Calling number.
        calling: String,
        /// Calling name.
        calling_name: String,
        /// Called number.
        called: String,
    },
    /// StartTone.
    Tone {
        /// The tone.
        tone: Tone,
    },
    /// StopTone.
    StopTone,
    /// A display prompt or notification (DisplayPromptStatus, DisplayNotify, DisplayPriNotify, V2s).
    Display {
        /// The text.
        text: String,
    },
    /// SetRinger.
    Ringer {
        /// The ring mode.
        mode: u32,
    },
    /// SelectSoftKeys.
    SoftKeys {
        /// The soft-key set.
        set: u32,
    },
    /// OpenReceiveChannel answered with this port.
    MediaOpened {
        /// The call.
        call_ref: u32,
        /// The codec asked for.
        codec: PayloadType,
        /// Where the phone receives RTP.
        local: SocketAddr,
    },
    /// StartMediaTransmission: RTP is being sent.
    MediaStarted {
        /// The call.
        call_ref: u32,
        /// Where to.
        remote: SocketAddr,
    },
    /// StopMediaTransmission.
    MediaStopped {
        /// The call.
        call_ref: u32,
    },
    /// CloseReceiveChannel.
    MediaClosed {
        /// The call.
        call_ref: u32,
    },
    /// A placed call reached ringback or connected, this long after the last digit.
    SetupLatency(Duration),
    /// A message phonesim does not act on arrived (counted; `MessageId` value).
    Ignored {
        /// The id.
        id: u32,
    },
    /// A body that did not decode arrived.
    Malformed {
        /// The id.
        id: u32,
    },
}

/// A call as the phone shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallView {
    /// The line.
    pub line: u32,
    /// The call reference.
    pub call_ref: u32,
    /// The last CallState.
    pub state: CallState,
    /// Calling number (CallInfo).
    pub calling: String,
    /// Calling name.
    pub calling_name: String,
    /// Called number.
    pub called: String,
}

#[derive(Debug)]
pub(crate) enum Command {
    OffHook,
    OnHook,
    Dial(String),
    Enbloc(String),
    Key(char),
    SoftKey(SoftKeyEvent),
    Stimulus(Stimulus, u32),
    Answer,
    Place {
        number: String,
        hold: Duration,
        enbloc: bool,
    },
    Drop {
        reconnect_after: Duration,
    },
    Stop,
}

#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) events: Vec<Event>,
    pub(crate) registered: bool,
    pub(crate) calls: Vec<CallView>,
    pub(crate) legs: Vec<(u32, Arc<LegCounts>)>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) observed: Mutex<Observed>,
    pub(crate) changed: Notify,
    pub(crate) record: bool,
    /// A call placed with [`Phone::place_call`] is in progress.
    pub(crate) placing: std::sync::atomic::AtomicBool,
    /// The connections' bytes, when recorded.
    pub(crate) wire: Option<Mutex<Vec<Recorded>>>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Observed> {
        self.observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends bytes to the current connection's record.
    pub(crate) fn record_bytes(&self, side: Side, data: &[u8]) {
        if let Some(wire) = &self.wire {
            let mut wire = wire
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(current) = wire.last_mut() {
                current.chunks.push((side, data.to_vec()));
            }
        }
    }

    /// Starts the record of a new connection.
    pub(crate) fn record_connection(&self, client: SocketAddr) {
        if let Some(wire) = &self.wire {
            wire.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Recorded {
                    client: Some(client),
                    chunks: Vec::new(),
                });
        }
    }

    pub(crate) fn push(&self, event: Event) {
        if self.record {
            self.lock().events.push(event);
            self.changed.notify_waiters();
        }
    }
}

/// A simulated SCCP phone; dropping it stops the phone abruptly (use [`Phone::stop`] to unregister).
#[derive(Debug)]
pub struct Phone {
    spec: Arc<PhoneSpec>,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    cursor: usize,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Phone {
    /// Starts a phone connecting from `source` (or any address) to `config.server`.
    pub fn spawn(spec: PhoneSpec, config: Arc<PhoneConfig>, source: Option<IpAddr>) -> Self {
        let spec = Arc::new(spec);
        let shared = Arc::new(Shared {
            observed: Mutex::default(),
            changed: Notify::new(),
            record: config.record_events,
            placing: std::sync::atomic::AtomicBool::new(false),
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
    pub fn spec(&self) -> &PhoneSpec {
        &self.spec
    }

    /// `SEP<MAC>`.
    pub fn device_name(&self) -> String {
        self.spec.device_name()
    }

    /// Whether the phone is registered now.
    pub fn is_registered(&self) -> bool {
        self.shared.lock().registered
    }

    /// The calls the phone has (not yet back on hook).
    pub fn calls(&self) -> Vec<CallView> {
        self.shared.lock().calls.clone()
    }

    /// Whether the phone is registered and has no call (neither placed nor shown): free to place one.
    pub fn is_idle(&self) -> bool {
        !self
            .shared
            .placing
            .load(std::sync::atomic::Ordering::Relaxed)
            && {
                let observed = self.shared.lock();
                observed.registered && observed.calls.is_empty()
            }
    }

    /// The state of the most recently changed call, `None` when there is none.
    pub fn call_state(&self) -> Option<CallState> {
        self.shared.lock().calls.last().map(|c| c.state)
    }

    /// RTP sent and received over all the phone's calls (since it started).
    pub fn rtp_counts(&self) -> RtpCounts {
        self.shared
            .lock()
            .legs
            .iter()
            .map(|(_, c)| c.get())
            .fold(RtpCounts::default(), |a, b| RtpCounts {
                sent: a.sent + b.sent,
                received: a.received + b.received,
            })
    }

    /// RTP sent and received on one call.
    pub fn rtp_counts_for(&self, call_ref: u32) -> RtpCounts {
        self.shared
            .lock()
            .legs
            .iter()
            .filter(|(r, _)| *r == call_ref)
            .map(|(_, c)| c.get())
            .fold(RtpCounts::default(), |a, b| RtpCounts {
                sent: a.sent + b.sent,
                received: a.received + b.received,
            })
    }

    /// Every connection's bytes (with [`PhoneConfig::record_wire`]).
    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.wire.as_ref().map_or_else(Vec::new, |w| {
            w.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }

    /// Writes every recorded connection as a pcap with the call manager on port 2000.
    ///
    /// # Errors
    ///
    /// The write error.
    pub fn write_pcap(&self, path: &std::path::Path, server_ip: IpAddr) -> std::io::Result<()> {
        super::wire::write_pcap(path, server_ip, &self.recorded())
    }

    /// Every event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.shared.lock().events.clone()
    }

    /// Waits for the next event (after the one the previous `wait_for` returned) matching `pred`;
    /// `None` on timeout.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&Event) -> bool,
        timeout: Duration,
    ) -> Option<Event> {
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

    /// Waits until the phone is registered.
    pub async fn wait_registered(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_registered() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Lifts the handset (OffHook on the default line).
    pub fn off_hook(&self) {
        self.send(Command::OffHook);
    }

    /// Hangs up (OnHook).
    pub fn on_hook(&self) {
        self.send(Command::OnHook);
    }

    /// Presses keypad keys (`0`–`9`, `*`, `#`, `A`–`D`, `+`), one KeypadButton each.
    pub fn dial(&self, digits: &str) {
        self.send(Command::Dial(digits.to_owned()));
    }

    /// Presses one keypad key (during a call: a DTMF digit).
    pub fn key(&self, key: char) {
        self.send(Command::Key(key));
    }

    /// Dials a number before going off hook (EnblocCall).
    pub fn enbloc(&self, number: &str) {
        self.send(Command::Enbloc(number.to_owned()));
    }

    /// Presses a soft key (Hold, Resume, Transfer, EndCall, CFwdAll, DND, NewCall, Answer ...) on the
    /// current call.
    pub fn softkey(&self, event: SoftKeyEvent) {
        self.send(Command::SoftKey(event));
    }

    /// Presses a feature or line button.
    pub fn stimulus(&self, stimulus: Stimulus, instance: u32) {
        self.send(Command::Stimulus(stimulus, instance));
    }

    /// Answers the ringing call by lifting the handset.
    pub fn answer(&self) {
        self.send(Command::Answer);
    }

    /// Places a call the way the load generator does: OffHook, wait for the off-hook state, the digits
    /// and `#` (or EnblocCall when `enbloc`), talk for `hold` once connected, then OnHook. Setup
    /// latency goes to [`Stats`] and as [`Event::SetupLatency`].
    pub fn place_call(&self, number: &str, hold: Duration, enbloc: bool) {
        self.send(Command::Place {
            number: number.to_owned(),
            hold,
            enbloc,
        });
    }

    /// Drops the TCP connection without unregistering (a dead phone or network), reconnecting after
    /// `reconnect_after`.
    pub fn drop_connection(&self, reconnect_after: Duration) {
        self.send(Command::Drop { reconnect_after });
    }

    /// Unregisters (Unregister, waiting up to a second for UnregisterAck) and ends the phone; what it
    /// observed stays readable.
    pub async fn stop(&mut self) {
        self.send(Command::Stop);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Many phones started together, connecting round-robin from the configured source addresses.
#[derive(Debug)]
pub struct Fleet {
    /// The phones, in spec order.
    pub phones: Vec<Phone>,
    /// Their shared configuration.
    pub config: Arc<PhoneConfig>,
}

impl Fleet {
    /// Starts one phone per spec.
    pub fn spawn(specs: Vec<PhoneSpec>, config: PhoneConfig) -> Self {
        let config = Arc::new(config);
        let phones = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let source = (!config.source_ips.is_empty())
                    .then(|| config.source_ips[i % config.source_ips.len()]);
                Phone::spawn(spec, config.clone(), source)
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

    /// Waits until every phone is registered; false on timeout.
    pub async fn wait_registered(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.registered() < self.phones.len() as u64 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Unregisters and stops every phone.
    pub async fn stop(self) {
        for phone in &self.phones {
            phone.send(Command::Stop);
        }
        for mut phone in self.phones {
            phone.stop().await;
        }
    }
}
