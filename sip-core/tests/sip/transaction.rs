//! The transaction layer (RFC 3261 §17, RFC 6026) driven by a fake clock and scripted peers: every
//! transmission is recorded with the offset it went out at, so retransmission schedules are checked to
//! the millisecond.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::msg::{HeaderName, SipMessage};
use sip_core::transaction::{
    Config, Incoming, Reliability, TransactionKey, Transactions, TxEvent, TxState,
};

mod client;
mod pair;
mod server;

const UDP: Reliability = Reliability::Unreliable;
const TCP: Reliability = Reliability::Reliable;

/// The peer token: which scripted party a datagram goes to.
type Peer = &'static str;

/// The origin of the fake clock. Only offsets from it matter; it is read once per test.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One transaction layer, a fake clock and a log of what went on the wire.
struct Harness {
    layer: Transactions<Peer>,
    start: Instant,
    now: Instant,
    /// (offset from the start, peer, message) of every transmission so far.
    wire: Vec<(Duration, Peer, Bytes)>,
    events: Vec<TxEvent>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(Config::default())
    }

    fn with_config(config: Config) -> Self {
        let start = origin();
        Self {
            layer: Transactions::with_config(config),
            start,
            now: start,
            wire: Vec::new(),
            events: Vec::new(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.now.duration_since(self.start)
    }

    /// The drain-until-empty rule.
    fn drain(&mut self) {
        let at = self.elapsed();
        while let Some(t) = self.layer.poll_transmit() {
            self.wire.push((at, t.to, t.msg));
        }
        while let Some(e) = self.layer.poll_event() {
            self.events.push(e);
        }
    }

    /// Sleeps until `offset` from the start, waking for every deadline on the way.
    fn run_until(&mut self, offset: Duration) {
        let until = self.start + offset;
        while let Some(deadline) = self.layer.poll_timeout() {
            if deadline > until {
                break;
            }
            assert!(deadline >= self.now, "deadline in the past");
            self.now = deadline;
            self.layer.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
    }

    fn receive(&mut self, text: &str, from: Peer, rel: Reliability) -> Incoming<Peer> {
        let out = self
            .layer
            .handle_incoming(self.now, msg(text), from, rel)
            .unwrap_or_else(|r| panic!("rejected: {:?}", r.error));
        self.drain();
        out
    }

    fn send_request(&mut self, text: &str, to: Peer, rel: Reliability) -> TransactionKey {
        let key = self
            .layer
            .send_request(self.now, msg(text), to, rel)
            .expect("send_request");
        self.drain();
        key
    }

    fn respond(&mut self, key: &TransactionKey, text: &str) {
        self.layer
            .send_response(self.now, key, msg(text))
            .expect("send_response");
        self.drain();
    }

    /// Offsets (ms) of the transmissions whose first line starts with `start_line`.
    fn sent_at(&self, start_line: &str) -> Vec<u128> {
        self.wire
            .iter()
            .filter(|(_, _, m)| m.starts_with(start_line.as_bytes()))
            .map(|(at, _, _)| at.as_millis())
            .collect()
    }

    fn take_wire(&mut self) -> Vec<Bytes> {
        self.wire.drain(..).map(|(_, _, m)| m).collect()
    }

    fn take_events(&mut self) -> Vec<TxEvent> {
        std::mem::take(&mut self.events)
    }

    fn state(&self, key: &TransactionKey) -> Option<TxState> {
        self.layer.state(key)
    }
}

/// Parses a message written with `\n` (or `\r\n`) line ends.
fn msg(text: &str) -> SipMessage {
    let wire = text
        .trim_start()
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    SipMessage::parse(Bytes::from(wire)).expect("test message parses")
}

fn parse(bytes: &Bytes) -> SipMessage {
    SipMessage::parse(bytes.clone()).expect("transmitted message parses")
}

fn header(m: &SipMessage, name: &HeaderName) -> String {
    m.headers.get(name).unwrap_or("").to_owned()
}

/// A request in the style of RFC 3665. `via` is the whole top Via value.
fn request(method: &str, via: &str, call_id: &str, cseq: u32, to_tag: Option<&str>) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0
Via: {via}
Max-Forwards: 70
Route: <sip:p1.example.com;lr>
Route: <sip:p2.example.com;lr>
To: Bob <sip:bob@biloxi.example.com>{to_tag}
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:alice@client.atlanta.example.com>
Content-Length: 0

"
    )
}

fn invite(branch: &str) -> String {
    request(
        "INVITE",
        &format!("SIP/2.0/UDP client.atlanta.example.com:5060;branch={branch}"),
        "3848276298220188511@atlanta.example.com",
        1,
        None,
    )
}

fn options(branch: &str) -> String {
    request(
        "OPTIONS",
        &format!("SIP/2.0/UDP client.atlanta.example.com:5060;branch={branch}"),
        "opt-1@atlanta.example.com",
        7,
        None,
    )
}

/// A response to the request text `req`: its Via lines, From, To (plus `to_tag`), Call-ID and CSeq.
fn response(req: &str, code: u16, reason: &str, to_tag: Option<&str>) -> String {
    let req = msg(req);
    let mut out = format!("SIP/2.0 {code} {reason}\n");
    for via in req.headers.get_all(&HeaderName::VIA) {
        out.push_str(&format!("Via: {via}\n"));
    }
    let to = header(&req, &HeaderName::TO);
    let to = match to_tag {
        Some(tag) if !to.contains(";tag=") => format!("{to};tag={tag}"),
        _ => to,
    };
    out.push_str(&format!(
        "From: {}\nTo: {to}\nCall-ID: {}\nCSeq: {}\nContent-Length: 0\n\n",
        header(&req, &HeaderName::FROM),
        header(&req, &HeaderName::CALL_ID),
        header(&req, &HeaderName::CSEQ),
    ));
    out
}

fn terminated(key: &TransactionKey) -> TxEvent {
    TxEvent::Terminated { key: key.clone() }
}
