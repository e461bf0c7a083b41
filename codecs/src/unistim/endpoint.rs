//! The server side of UNIStim's reliable-UDP layer for one phone, sans-IO (quinn / str0m style): the
//! driver feeds datagrams and the time in, and takes datagrams, events and the next deadline out. No
//! sockets, no clock.
//!
//! Rules (unistim.md §2.3, checked against the startup capture):
//! - Phone and server number their payloads independently; every payload is acknowledged with its
//!   sequence number; an ACK for N acknowledges everything up to N (cumulative).
//! - Start-up: the phone's first payload (Resume Connection) carries sequence 0xFFFFFFFF; the server
//!   answers with a NAK whose sequence number is the one the phone must start from
//!   ([`Config::phone_start_seq`]); the phone re-sends with it and is acknowledged (frames 15-18:
//!   NAK 0xE554). A reset payload on an established session means the phone rebooted.
//! - A payload below the expected number is a duplicate: it is acknowledged again and not delivered.
//!   One above it means loss: the server NAKs the expected number (go-back-N: the phone re-sends from
//!   there) and keeps the early payload in a small reorder buffer.
//! - A NAK for N from the phone acknowledges everything before N and makes the server re-send
//!   everything unacknowledged from N. At most [`Config::window`] payloads are unacknowledged; more wait
//!   in a queue. Unacknowledged payloads are all re-sent each [`Config::retransmit_timeout`]; after
//!   [`Config::max_retransmits`] timeouts in a row the phone is gone (CS2K re-sent 12 times at
//!   ~0.5 s, frames 1-12; chan_unistim 8 times at 2 s).
//! - When nothing is in flight for [`Config::keepalive`], the server sends Network Reset Watchdog with
//!   [`Config::watchdog_timeout`] seconds (CS2K 120 s).
//!
//! ```text
//!                 phone payload seq=FFFFFFFF / NAK(start), Event::Connected
//!  AwaitingHello ------------------------------------------------------> Connected { expected }
//!       ^                                                                  |   |  payload seq=expected / ACK,
//!       |            phone payload seq=FFFFFFFF after traffic              |   |  Event::Delivered
//!       |            / NAK(start), Event::PhoneRebooted   (stays Connected)|   |  seq<expected / re-ACK
//!       |                                                                  |   |  seq>expected / NAK(expected)
//!       |   retransmit limit reached / Event::PhoneGone                    v   v
//!       +------------------------------------------------------------ Gone (a new hello reconnects)
//! ```
//!
//! **Drain until empty.** After every `handle_datagram`, `handle_timeout` or `send`, the driver calls
//! [`Endpoint::poll_transmit`] until it returns `None` (sending each datagram to the phone), then
//! [`Endpoint::poll_event`] until `None`, then asks [`Endpoint::poll_timeout`] for the next deadline and
//! calls [`Endpoint::handle_timeout`] when it passes. Outputs left undrained are not lost, but deadlines
//! are only recomputed on the next call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::msg::Message;
use super::msg::network::{NetworkSwitch, ResetWatchdog};
use super::rudp_hdr::{PacketType, RESET_SEQ, RudpHeader};
use super::{Datagram, PayloadType};
use crate::wire::DecodeError;

/// Endpoint settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The sequence number the start-up NAK tells the phone to use (CS2K chose 0xE554, chan_unistim 0).
    pub phone_start_seq: u32,
    /// The sequence number of the server's first payload.
    pub first_send_seq: u32,
    /// Most payloads unacknowledged at once (chan_unistim 150).
    pub window: usize,
    /// Most payloads queued behind a full window before [`SendError::QueueFull`].
    pub max_queued: usize,
    /// Time before unacknowledged payloads are re-sent.
    pub retransmit_timeout: Duration,
    /// Re-sends in a row without progress before the phone is declared gone.
    pub max_retransmits: u32,
    /// Idle time before a Reset Watchdog keep-alive is sent; `None` disables keep-alives.
    pub keepalive: Option<Duration>,
    /// The timeout (seconds) written into Reset Watchdog.
    pub watchdog_timeout: u16,
    /// Payloads received ahead of a gap that are kept until the gap is filled.
    pub reorder_buffer: usize,
    /// Largest datagram [`Endpoint::send`] builds; longer batches are split.
    pub max_datagram: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            phone_start_seq: 0,
            first_send_seq: 0,
            window: 64,
            max_queued: 1024,
            retransmit_timeout: Duration::from_millis(500),
            max_retransmits: 12,
            keepalive: Some(Duration::from_secs(30)),
            watchdog_timeout: 120,
            reorder_buffer: 16,
            max_datagram: 1400,
        }
    }
}

/// Something the driver should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The phone opened a session (its reset-sequence hello was answered).
    Connected,
    /// The messages of one payload, in order, exactly once.
    Delivered(Vec<Message>),
    /// The phone started over on an established session: it rebooted or lost its state. Payloads not yet
    /// acknowledged were dropped; the session above should register it afresh.
    PhoneRebooted,
    /// The retransmission limit was reached: the phone is considered gone.
    PhoneGone,
}

/// Why [`Endpoint::send`] refused messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The phone is gone.
    #[error("the phone is gone")]
    Gone,
    /// A message is longer than the 255 bytes its length byte can express.
    #[error("message of {len} bytes exceeds 255")]
    MessageTooLong {
        /// Its encoded length.
        len: usize,
    },
    /// The queue behind the window is full.
    #[error("{queued} payloads already queued")]
    QueueFull {
        /// Payloads queued.
        queued: usize,
    },
}

/// Waiting for the phone's reset-sequence hello.
#[derive(Debug)]
struct AwaitingHello;

/// A session is open.
#[derive(Debug)]
struct Connected {
    /// The next phone sequence number to deliver.
    expected: u32,
    /// Whether a payload was delivered since the last hello (a later hello is then a reboot).
    delivered_any: bool,
    /// The expected number last NAKed and when, so a burst of early payloads gives one NAK.
    last_nak: Option<(u32, Instant)>,
    /// Early payloads, by sequence number.
    early: Vec<(u32, Vec<Message>)>,
}

#[derive(Debug)]
enum State {
    AwaitingHello(AwaitingHello),
    Connected(Connected),
    Gone,
}

/// The reliable-UDP endpoint for one phone. See the module docs for the rules and the drive loop.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    state: State,
    next_seq: u32,
    /// Sent and not yet acknowledged, oldest first.
    unacked: VecDeque<(u32, Bytes)>,
    /// Built but held back by the window.
    queued: VecDeque<(u32, Bytes)>,
    transmit: VecDeque<Bytes>,
    events: VecDeque<Event>,
    retransmit_at: Option<Instant>,
    retries: u32,
    /// When the last payload was sent or the session opened: keep-alives count from here.
    last_activity: Option<Instant>,
}

/// The sequence number after `seq`, skipping the reserved reset value.
pub fn next_seq(seq: u32) -> u32 {
    match seq.wrapping_add(1) {
        RESET_SEQ => 0,
        n => n,
    }
}

fn ack(seq: u32, nak: bool) -> Bytes {
    Datagram::header_only(RudpHeader::server_ack(seq, nak)).encode()
}

impl Endpoint {
    /// A new endpoint, waiting for the phone's hello.
    pub fn new(config: Config) -> Self {
        Self {
            next_seq: config.first_send_seq,
            config,
            state: State::AwaitingHello(AwaitingHello),
            unacked: VecDeque::new(),
            queued: VecDeque::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            retransmit_at: None,
            retries: 0,
            last_activity: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether a session is open.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    /// Whether the phone was declared gone.
    pub fn is_gone(&self) -> bool {
        matches!(self.state, State::Gone)
    }

    /// Payloads sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.unacked.len()
    }

    /// Payloads waiting behind the window.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// The sequence number the next payload will carry.
    pub fn next_send_seq(&self) -> u32 {
        self.next_seq
    }

    /// Queues `messages` for the phone, as one datagram (or several if longer than
    /// [`Config::max_datagram`]). Returns the sequence number of the last datagram.
    ///
    /// # Errors
    /// [`SendError::Gone`] after [`Event::PhoneGone`]; [`SendError::MessageTooLong`] for a message over
    /// 255 bytes (nothing is queued then); [`SendError::QueueFull`] when the queue is full.
    pub fn send(
        &mut self,
        now: Instant,
        messages: impl IntoIterator<Item = Message>,
    ) -> Result<u32, SendError> {
        if self.is_gone() {
            return Err(SendError::Gone);
        }
        let mut batches: Vec<Vec<Message>> = vec![Vec::new()];
        let mut size = 0usize;
        for m in messages {
            let len = m.encoded_len();
            if len > 255 {
                return Err(SendError::MessageTooLong { len });
            }
            let room = self.config.max_datagram.saturating_sub(6);
            if size.saturating_add(len) > room && size > 0 {
                batches.push(Vec::new());
                size = 0;
            }
            size = size.saturating_add(len);
            if let Some(b) = batches.last_mut() {
                b.push(m);
            }
        }
        let wanted = self.queued.len().saturating_add(batches.len());
        if self.unacked.len().saturating_add(wanted)
            > self.config.window.saturating_add(self.config.max_queued)
        {
            return Err(SendError::QueueFull {
                queued: self.queued.len(),
            });
        }
        let mut last = self.next_seq;
        for batch in batches {
            let seq = self.next_seq;
            self.next_seq = next_seq(seq);
            let bytes = Datagram::server_payload(seq, batch).encode();
            self.queued.push_back((seq, bytes));
            last = seq;
        }
        self.fill_window(now);
        Ok(last)
    }

    /// Moves queued payloads into the window and onto the wire.
    fn fill_window(&mut self, now: Instant) {
        while self.unacked.len() < self.config.window.max(1) {
            let Some((seq, bytes)) = self.queued.pop_front() else {
                break;
            };
            self.transmit.push_back(bytes.clone());
            self.unacked.push_back((seq, bytes));
            self.last_activity = Some(now);
            if self.retransmit_at.is_none() {
                self.retransmit_at = now.checked_add(self.config.retransmit_timeout);
            }
        }
    }

    /// Feeds one datagram received from the phone.
    ///
    /// # Errors
    /// If its RUDP header does not decode (nothing changes then).
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> Result<(), DecodeError> {
        let d = Datagram::decode(bytes)?;
        let seq = d.header.seq();
        match d.header.packet_type() {
            PacketType::ACK => self.on_ack(now, seq),
            PacketType::NAK => self.on_nak(now, seq),
            _ => self.on_payload(now, seq, d),
        }
        Ok(())
    }

    fn on_ack(&mut self, now: Instant, seq: u32) {
        if let Some(i) = self.unacked.iter().position(|(s, _)| *s == seq) {
            self.unacked.drain(..=i);
            self.progress(now);
        }
    }

    fn on_nak(&mut self, now: Instant, seq: u32) {
        if let Some(i) = self.unacked.iter().position(|(s, _)| *s == seq) {
            self.unacked.drain(..i);
            self.progress(now);
            self.transmit
                .extend(self.unacked.iter().map(|(_, b)| b.clone()));
        }
    }

    /// The phone acknowledged something: reset the retry count and the timer, refill the window.
    fn progress(&mut self, now: Instant) {
        self.retries = 0;
        self.retransmit_at = None;
        self.fill_window(now);
        if !self.unacked.is_empty() {
            self.retransmit_at = now.checked_add(self.config.retransmit_timeout);
        }
    }

    fn on_payload(&mut self, now: Instant, seq: u32, d: Datagram) {
        if !matches!(
            d.header.payload_type(),
            Some(
                PayloadType::UNISTIM
                    | PayloadType::UNISTIM_WITH_TERMINAL_ID
                    | PayloadType::FREE_FORM
            )
        ) {
            return;
        }
        let start = self.config.phone_start_seq;
        let state = std::mem::replace(&mut self.state, State::Gone);
        self.state = match state {
            State::AwaitingHello(_) | State::Gone if seq == RESET_SEQ => {
                self.events.push_back(Event::Connected);
                self.transmit.push_back(ack(start, true));
                self.last_activity = Some(now);
                State::Connected(Connected::new(start))
            }
            s @ (State::AwaitingHello(_) | State::Gone) => s,
            State::Connected(c) => {
                State::Connected(self.on_connected_payload(now, c, seq, d.messages))
            }
        };
    }

    fn on_connected_payload(
        &mut self,
        now: Instant,
        mut c: Connected,
        seq: u32,
        messages: Vec<Message>,
    ) -> Connected {
        let start = self.config.phone_start_seq;
        if seq == RESET_SEQ {
            if c.delivered_any {
                self.events.push_back(Event::PhoneRebooted);
                self.unacked.clear();
                self.queued.clear();
                self.retransmit_at = None;
                self.retries = 0;
                c = Connected::new(start);
            }
            self.transmit.push_back(ack(start, true));
            return c;
        }
        let ahead = seq.wrapping_sub(c.expected);
        if ahead == 0 {
            self.transmit.push_back(ack(seq, false));
            self.events.push_back(Event::Delivered(messages));
            c.delivered_any = true;
            c.expected = next_seq(seq);
            c.last_nak = None;
            while let Some(i) = c.early.iter().position(|(s, _)| *s == c.expected) {
                let (s, msgs) = c.early.swap_remove(i);
                self.transmit.push_back(ack(s, false));
                self.events.push_back(Event::Delivered(msgs));
                c.expected = next_seq(s);
            }
        } else if ahead > 0x8000_0000 {
            // Behind the expected number: a duplicate. Acknowledge it again.
            self.transmit.push_back(ack(seq, false));
        } else {
            let window =
                u32::try_from(self.config.reorder_buffer.saturating_mul(4)).unwrap_or(u32::MAX);
            if ahead <= window
                && c.early.len() < self.config.reorder_buffer
                && !c.early.iter().any(|(s, _)| *s == seq)
            {
                c.early.push((seq, messages));
            }
            let due = match c.last_nak {
                Some((n, at)) => {
                    n != c.expected
                        || at
                            .checked_add(self.config.retransmit_timeout)
                            .is_some_and(|t| now >= t)
                }
                None => true,
            };
            if due {
                self.transmit.push_back(ack(c.expected, true));
                c.last_nak = Some((c.expected, now));
            }
        }
        c
    }

    /// Tells the endpoint that time passed; call it when [`Endpoint::poll_timeout`]'s deadline is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_gone() {
            return;
        }
        if self.retransmit_at.is_some_and(|t| now >= t) {
            self.retries = self.retries.saturating_add(1);
            if self.retries > self.config.max_retransmits {
                self.declare_gone();
                return;
            }
            self.transmit
                .extend(self.unacked.iter().map(|(_, b)| b.clone()));
            self.retransmit_at = now.checked_add(self.config.retransmit_timeout);
        }
        if self.keepalive_at().is_some_and(|t| now >= t) {
            let ping =
                NetworkSwitch::ResetWatchdog(ResetWatchdog::new(self.config.watchdog_timeout));
            // A one-message batch is never too long and the queue is empty here.
            let _ = self.send(now, [Message::from(ping)]);
        }
    }

    fn declare_gone(&mut self) {
        self.state = State::Gone;
        self.unacked.clear();
        self.queued.clear();
        self.retransmit_at = None;
        self.retries = 0;
        self.events.push_back(Event::PhoneGone);
    }

    fn keepalive_at(&self) -> Option<Instant> {
        let idle = self.unacked.is_empty() && self.queued.is_empty() && self.is_connected();
        match (self.config.keepalive, idle) {
            (Some(k), true) => self.last_activity?.checked_add(k),
            _ => None,
        }
    }

    /// The next datagram to send to the phone.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.retransmit_at, self.keepalive_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Connected {
    fn new(expected: u32) -> Self {
        Self {
            expected,
            delivered_any: false,
            last_nak: None,
            early: Vec::new(),
        }
    }
}
