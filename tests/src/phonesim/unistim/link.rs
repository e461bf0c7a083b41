//! The phone's side of UNIStim's reliable UDP (`docs/protocols/unistim.md` §2.2–2.4), sans-IO: datagrams
//! and the time in, datagrams and delivered messages out. The mirror of `codecs::unistim::Endpoint`
//! (the server's side), built from the same header and message codecs.
//!
//! - Hello: Network "Resume Connection" in a payload with sequence 0xFFFFFFFF and terminal id
//!   0xFFFFFFFF; the server's NAK names the sequence to start from; the hello is sent again with it and
//!   the session is up once that is acknowledged (startup capture frames 15-18). Unanswered, the hello is
//!   repeated every `hello_interval` (the i2050 retries every 3.5 s, §9.4).
//! - Every server payload is acknowledged with a 10-byte phone ACK (sequence, type 1, payload type 2,
//!   terminal id). One below the expected number is acknowledged again and dropped; one above it is
//!   NAKed with the expected number (go-back-N) and dropped; the server re-sends from there.
//! - The phone's payloads are kept until acknowledged (an ACK for N acknowledges all up to N), re-sent
//!   every `retransmit_timeout`; after `max_retransmits` re-sends without progress the link is lost.
//!   A NAK for N re-sends everything from N.
//!
//! ```text
//!  Hello{sent_at} --NAK(start)--> Starting --ACK(start)--> Up --retransmit limit--> Lost
//!      ^  hello_interval: hello again                          (the owner starts a new link)
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use codecs::unistim::msg::network::NetworkPhone;
use codecs::unistim::{Datagram, Empty, Message, PacketType, RESET_SEQ, RudpHeader};

/// Timers of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Re-send unacknowledged payloads after this long (the capture's phone: 0.5 s).
    pub retransmit_timeout: Duration,
    /// Re-sends in a row without an acknowledgement before the link is lost.
    pub max_retransmits: u32,
    /// Repeat an unanswered hello after this long.
    pub hello_interval: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            retransmit_timeout: Duration::from_millis(500),
            max_retransmits: 10,
            hello_interval: Duration::from_millis(3500),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hello sent with the reset sequence; waiting for the server's NAK.
    Hello,
    /// Hello re-sent with the server's start sequence; waiting for its ACK.
    Starting,
    Up,
    Lost,
}

/// What the link produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkEvent {
    /// The server acknowledged the hello.
    Up,
    /// The messages of one server payload, in order, once.
    Delivered(Vec<Message>),
    /// The server started over (a payload with the reset sequence after the link was up).
    ServerReset,
    /// Nothing was acknowledged for `max_retransmits` re-sends.
    Lost,
}

/// The phone's reliable-UDP state.
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    state: State,
    terminal_id: u32,
    next_seq: u32,
    /// Sent and not acknowledged: sequence and the messages' bytes (the header is built at each send,
    /// so re-sends carry the terminal id assigned meanwhile).
    unacked: VecDeque<(u32, Bytes)>,
    expected: Option<u32>,
    retransmit_at: Option<Instant>,
    retries: u32,
    transmit: VecDeque<Bytes>,
    events: VecDeque<LinkEvent>,
    /// Payloads re-sent (for the counters).
    pub retransmitted: u64,
}

fn next(seq: u32) -> u32 {
    match seq.wrapping_add(1) {
        RESET_SEQ => 0,
        n => n,
    }
}

fn encode_messages(messages: &[Message]) -> Bytes {
    let mut out = BytesMut::with_capacity(16);
    for m in messages {
        m.encode(&mut out);
    }
    out.freeze()
}

impl Link {
    /// A link that says hello now.
    pub fn new(config: LinkConfig, now: Instant) -> Self {
        let mut link = Self {
            config,
            state: State::Hello,
            terminal_id: RESET_SEQ,
            next_seq: RESET_SEQ,
            unacked: VecDeque::new(),
            expected: None,
            retransmit_at: None,
            retries: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            retransmitted: 0,
        };
        link.hello(now);
        link
    }

    fn hello_bytes() -> Bytes {
        encode_messages(&[Message::from(NetworkPhone::ResumeConnection(
            Empty::default(),
        ))])
    }

    fn hello(&mut self, now: Instant) {
        self.state = State::Hello;
        self.push_payload(RESET_SEQ, &Self::hello_bytes());
        self.retransmit_at = now.checked_add(self.config.hello_interval);
    }

    fn push_payload(&mut self, seq: u32, body: &[u8]) {
        let header =
            Datagram::header_only(RudpHeader::phone_payload(seq, self.terminal_id)).encode();
        let mut out = BytesMut::with_capacity(header.len() + body.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(body);
        self.transmit.push_back(out.freeze());
    }

    fn push_ack(&mut self, seq: u32, nak: bool) {
        let ack = Datagram::header_only(RudpHeader::phone_ack(seq, self.terminal_id, nak)).encode();
        self.transmit.push_back(ack);
    }

    /// Whether the hello was answered and the link is not lost.
    pub fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// Whether the link was lost.
    pub fn is_lost(&self) -> bool {
        self.state == State::Lost
    }

    /// The terminal id put in every datagram (0xFFFFFFFF until the server assigns one).
    pub fn set_terminal_id(&mut self, id: u32) {
        self.terminal_id = id;
    }

    /// The terminal id in use.
    pub fn terminal_id(&self) -> u32 {
        self.terminal_id
    }

    /// Payloads not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.unacked.len()
    }

    /// Sends `messages` in one payload (before the link is up they wait behind the hello).
    pub fn send(&mut self, now: Instant, messages: &[Message]) {
        if self.state == State::Lost || messages.is_empty() {
            return;
        }
        let body = encode_messages(messages);
        let seq = self.next_seq;
        self.next_seq = next(seq);
        if self.state == State::Up {
            self.push_payload(seq, &body);
            if self.retransmit_at.is_none() {
                self.retransmit_at = now.checked_add(self.config.retransmit_timeout);
            }
        }
        self.unacked.push_back((seq, body));
    }

    /// Feeds a datagram from the server. Undecodable ones are ignored and reported as `false`.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> bool {
        let Ok(d) = Datagram::decode(bytes) else {
            return false;
        };
        let seq = d.header.seq();
        match d.header.packet_type() {
            PacketType::NAK => self.on_nak(now, seq),
            PacketType::ACK => self.on_ack(now, seq),
            _ => self.on_payload(seq, d.messages),
        }
        true
    }

    fn on_nak(&mut self, now: Instant, seq: u32) {
        match self.state {
            State::Hello | State::Starting => {
                // The start sequence: the hello again with it, then whatever waited behind it.
                let skip = usize::from(self.state == State::Starting);
                self.state = State::Starting;
                let waiting: Vec<Bytes> =
                    self.unacked.drain(..).skip(skip).map(|(_, b)| b).collect();
                let hello = Self::hello_bytes();
                self.unacked.push_back((seq, hello));
                self.next_seq = next(seq);
                for body in waiting {
                    let s = self.next_seq;
                    self.next_seq = next(s);
                    self.unacked.push_back((s, body));
                }
                self.resend_all();
                self.retransmit_at = now.checked_add(self.config.retransmit_timeout);
            }
            State::Up => {
                if let Some(i) = self.unacked.iter().position(|(s, _)| *s == seq) {
                    self.unacked.drain(..i);
                    self.retries = 0;
                    self.resend_all();
                    self.retransmit_at = now.checked_add(self.config.retransmit_timeout);
                }
            }
            State::Lost => {}
        }
    }

    fn resend_all(&mut self) {
        let pending: Vec<(u32, Bytes)> = self.unacked.iter().cloned().collect();
        for (s, body) in pending {
            self.push_payload(s, &body);
        }
    }

    fn on_ack(&mut self, now: Instant, seq: u32) {
        let Some(i) = self.unacked.iter().position(|(s, _)| *s == seq) else {
            return;
        };
        self.unacked.drain(..=i);
        self.retries = 0;
        if self.state == State::Starting {
            self.state = State::Up;
            self.events.push_back(LinkEvent::Up);
            // Payloads queued behind the hello go out now.
            self.resend_all();
        }
        self.retransmit_at = (!self.unacked.is_empty())
            .then(|| now.checked_add(self.config.retransmit_timeout))
            .flatten();
    }

    fn on_payload(&mut self, seq: u32, messages: Vec<Message>) {
        if self.state == State::Lost {
            return;
        }
        if seq == RESET_SEQ {
            // A server announcing a fail-over or restart: acknowledged, and the owner starts over.
            self.push_ack(seq, false);
            if self.expected.is_some() {
                self.events.push_back(LinkEvent::ServerReset);
            }
            return;
        }
        let expected = *self.expected.get_or_insert(seq);
        let ahead = seq.wrapping_sub(expected);
        if ahead == 0 {
            self.push_ack(seq, false);
            self.expected = Some(next(seq));
            self.events.push_back(LinkEvent::Delivered(messages));
        } else if ahead > 0x8000_0000 {
            self.push_ack(seq, false);
        } else {
            self.push_ack(expected, true);
        }
    }

    /// Time passed: re-send what is unacknowledged, or the hello.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.retransmit_at.is_none_or(|t| now < t) {
            return;
        }
        match self.state {
            State::Hello => self.hello(now),
            State::Starting | State::Up => {
                self.retries += 1;
                if self.retries > self.config.max_retransmits {
                    self.state = State::Lost;
                    self.retransmit_at = None;
                    self.events.push_back(LinkEvent::Lost);
                    return;
                }
                self.retransmitted += self.unacked.len() as u64;
                self.resend_all();
                self.retransmit_at = now.checked_add(self.config.retransmit_timeout);
            }
            State::Lost => self.retransmit_at = None,
        }
    }

    /// When [`Link::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retransmit_at
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::unistim::Endpoint;
    use codecs::unistim::msg::basic::{BasicSwitch, QueryBasicManager};

    /// The link against the server's endpoint of `codecs`, with `drop` deciding which datagrams (by
    /// running count, both directions) are lost.
    fn pump(link: &mut Link, server: &mut Endpoint, now: Instant, drop: &mut impl FnMut() -> bool) {
        for _ in 0..50 {
            let mut moved = false;
            while let Some(d) = link.poll_transmit() {
                moved = true;
                if !drop() {
                    server.handle_datagram(now, &d).unwrap();
                }
            }
            while let Some(d) = server.poll_transmit() {
                moved = true;
                if !drop() {
                    link.handle_datagram(now, &d);
                }
            }
            if !moved {
                return;
            }
        }
    }

    #[test]
    fn hello_follows_the_servers_start_sequence_and_payloads_flow_both_ways() {
        let t0 = Instant::now();
        let mut server = Endpoint::new(codecs::unistim::Config {
            phone_start_seq: 0xe554,
            first_send_seq: 0x9af9,
            ..Default::default()
        });
        let mut link = Link::new(LinkConfig::default(), t0);
        let first = link.poll_transmit().unwrap();
        assert_eq!(
            first.as_ref(),
            [
                0xff, 0xff, 0xff, 0xff, 2, 2, 0xff, 0xff, 0xff, 0xff, 0x9e, 3, 8
            ]
        );
        server.handle_datagram(t0, &first).unwrap();
        let nak = server.poll_transmit().unwrap();
        link.handle_datagram(t0, &nak);
        let again = link.poll_transmit().unwrap();
        // Startup capture frame 17.
        assert_eq!(
            again.as_ref(),
            [0, 0, 0xe5, 0x54, 2, 2, 0xff, 0xff, 0xff, 0xff, 0x9e, 3, 8]
        );
        server.handle_datagram(t0, &again).unwrap();
        pump(&mut link, &mut server, t0, &mut || false);
        assert!(link.is_up());
        assert_eq!(link.poll_event(), Some(LinkEvent::Up));
        let query = Message::from(BasicSwitch::QueryBasicManager(QueryBasicManager::new(8)));
        server.send(t0, [query.clone()]).unwrap();
        pump(&mut link, &mut server, t0, &mut || false);
        assert_eq!(link.poll_event(), Some(LinkEvent::Delivered(vec![query])));
        assert_eq!(server.in_flight(), 0, "acknowledged");
        link.set_terminal_id(0xd3);
        link.send(
            t0,
            &[Message::from(NetworkPhone::SuspendConnection(
                Empty::default(),
            ))],
        );
        let sent = link.poll_transmit().unwrap();
        assert_eq!(&sent[..10], [0, 0, 0xe5, 0x55, 2, 2, 0, 0, 0, 0xd3]);
        server.handle_datagram(t0, &sent).unwrap();
        pump(&mut link, &mut server, t0, &mut || false);
        assert_eq!(link.in_flight(), 0);
    }

    #[test]
    fn loss_both_ways_is_repaired_by_retransmission_and_nak() {
        let mut now = Instant::now();
        let mut server = Endpoint::new(codecs::unistim::Config {
            keepalive: None,
            ..Default::default()
        });
        let mut link = Link::new(LinkConfig::default(), now);
        let mut n = 0u32;
        // Every third datagram is lost.
        let mut drop = || {
            n += 1;
            n.is_multiple_of(3)
        };
        let mut delivered_to_phone = 0;
        let mut delivered_to_server = 0;
        let mut sent = 0;
        for round in 0..200u32 {
            if link.is_up() && round % 4 == 0 && round < 120 {
                sent += 1;
                let q = Message::from(BasicSwitch::QueryBasicManager(QueryBasicManager::new(4)));
                server.send(now, [q]).unwrap();
                link.send(
                    now,
                    &[Message::from(NetworkPhone::SanityOk(Empty::default()))],
                );
            }
            pump(&mut link, &mut server, now, &mut drop);
            while let Some(e) = link.poll_event() {
                if matches!(e, LinkEvent::Delivered(_)) {
                    delivered_to_phone += 1;
                }
                assert_ne!(e, LinkEvent::Lost);
            }
            while let Some(e) = server.poll_event() {
                if let codecs::unistim::Event::Delivered(m) = e {
                    delivered_to_server += m.len();
                }
            }
            now += Duration::from_millis(250);
            link.handle_timeout(now);
            server.handle_timeout(now);
        }
        assert!(link.is_up());
        assert!(sent > 20);
        assert_eq!(delivered_to_phone, sent, "every query exactly once");
        // The hello itself and each payload.
        assert_eq!(delivered_to_server, sent + 1);
        assert!(link.retransmitted > 0);
    }

    #[test]
    fn silence_loses_the_link() {
        let mut now = Instant::now();
        let mut link = Link::new(LinkConfig::default(), now);
        link.handle_datagram(
            now,
            &Datagram::header_only(RudpHeader::server_ack(7, true)).encode(),
        );
        assert!(!link.is_up());
        for _ in 0..12 {
            now += Duration::from_millis(600);
            link.handle_timeout(now);
        }
        assert!(link.is_lost());
        assert!(std::iter::from_fn(|| link.poll_event()).any(|e| e == LinkEvent::Lost));
    }
}
