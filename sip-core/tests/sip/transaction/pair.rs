//! Two layers wired back to back over a lossy fake link (quinn `Pair` style): the ACK one layer
//! generates must be matched by the other, and loss in either direction is repaired by the timers.

use std::collections::VecDeque;

use super::*;

/// A UAC layer and a UAS layer; datagrams in flight arrive at the next step unless dropped.
struct Pair {
    uac: Transactions<Peer>,
    uas: Transactions<Peer>,
    now: Instant,
    start: Instant,
    /// Datagrams in flight towards the UAS and the UAC.
    to_uas: VecDeque<Bytes>,
    to_uac: VecDeque<Bytes>,
    /// How many more datagrams to drop in each direction.
    drop_to_uas: usize,
    drop_to_uac: usize,
    uac_got: Vec<Incoming<Peer>>,
    uas_got: Vec<Incoming<Peer>>,
    events: Vec<(&'static str, TxEvent)>,
}

impl Pair {
    fn new() -> Self {
        let start = origin();
        let config = Config {
            auto_trying: false,
            ..Config::default()
        };
        Self {
            uac: Transactions::with_config(config),
            uas: Transactions::with_config(config),
            now: start,
            start,
            to_uas: VecDeque::new(),
            to_uac: VecDeque::new(),
            drop_to_uas: 0,
            drop_to_uac: 0,
            uac_got: Vec::new(),
            uas_got: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Moves every queued transmission onto the link, dropping as scripted, then delivers.
    fn step(&mut self) {
        loop {
            while let Some(t) = self.uac.poll_transmit() {
                assert_eq!(t.to, "uas");
                if self.drop_to_uas > 0 {
                    self.drop_to_uas -= 1;
                } else {
                    self.to_uas.push_back(t.msg);
                }
            }
            while let Some(t) = self.uas.poll_transmit() {
                assert_eq!(t.to, "uac");
                if self.drop_to_uac > 0 {
                    self.drop_to_uac -= 1;
                } else {
                    self.to_uac.push_back(t.msg);
                }
            }
            while let Some(e) = self.uac.poll_event() {
                self.events.push(("uac", e));
            }
            while let Some(e) = self.uas.poll_event() {
                self.events.push(("uas", e));
            }
            if self.to_uas.is_empty() && self.to_uac.is_empty() {
                return;
            }
            while let Some(m) = self.to_uas.pop_front() {
                let got = self.uas.handle_incoming(self.now, parse(&m), "uac", UDP);
                self.uas_got
                    .push(got.unwrap_or_else(|r| panic!("{:?}", r.error)));
            }
            while let Some(m) = self.to_uac.pop_front() {
                let got = self.uac.handle_incoming(self.now, parse(&m), "uas", UDP);
                self.uac_got
                    .push(got.unwrap_or_else(|r| panic!("{:?}", r.error)));
            }
        }
    }

    /// Runs both clocks to `offset`, waking at every deadline of either layer.
    fn run_until(&mut self, offset: Duration) {
        let until = self.start + offset;
        loop {
            let next = [self.uac.poll_timeout(), self.uas.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= until => {
                    self.now = at;
                    self.uac.handle_timeout(at);
                    self.uas.handle_timeout(at);
                    self.step();
                }
                _ => break,
            }
        }
        self.now = until;
    }
}

#[test]
fn lost_invites_a_lost_486_and_a_lost_ack_are_all_repaired() {
    let mut p = Pair::new();
    p.drop_to_uas = 2; // the INVITE and its first retransmission
    let ckey = p
        .uac
        .send_request(p.now, msg(&invite("z9hG4bKpair1")), "uas", UDP)
        .expect("send");
    p.step();
    p.run_until(ms(1_500));
    // The third transmission (1.5 s) got through.
    let Some(Incoming::Request {
        key: skey,
        msg: inv,
        ..
    }) = p.uas_got.pop()
    else {
        panic!("UAS saw no INVITE: {:?}", p.uas_got);
    };
    let busy = response(
        &String::from_utf8_lossy(&inv.to_bytes()),
        486,
        "Busy Here",
        Some("uas1"),
    );
    // The 486 is lost once; the UAS's timer G repeats it, and the UAC's ACK for it is lost once too.
    p.drop_to_uac = 1;
    p.uas.send_response(p.now, &skey, msg(&busy)).expect("486");
    p.step();
    assert_eq!(p.uas.state(&skey), Some(TxState::Completed));
    p.drop_to_uas = 1;
    p.run_until(ms(1_500 + 500));
    // The UAC passed the 486 up exactly once and ACKed it; the ACK was dropped.
    let passed = p
        .uac_got
        .iter()
        .filter(|i| matches!(i, Incoming::Response { .. }))
        .count();
    assert_eq!(passed, 1);
    assert_eq!(p.uas.state(&skey), Some(TxState::Completed));
    // Next G retransmission (1 s later): the UAC absorbs it and re-sends the ACK, which now matches.
    p.run_until(ms(1_500 + 1_500));
    assert_eq!(p.uas.state(&skey), Some(TxState::Confirmed));
    assert!(matches!(p.uas_got.last(), Some(Incoming::Absorbed { key }) if *key == skey));
    assert_eq!(p.uac.state(&ckey), Some(TxState::Completed));

    // Both sides wind down: timer I (5 s) on the UAS, timer D (32 s) on the UAC; no timeouts.
    p.run_until(ms(60_000));
    assert!(p.uac.is_empty() && p.uas.is_empty());
    assert_eq!(
        p.events,
        vec![("uas", terminated(&skey)), ("uac", terminated(&ckey))]
    );
}

#[test]
fn a_2xx_and_its_end_to_end_ack_cross_both_layers() {
    let mut p = Pair::new();
    let ckey = p
        .uac
        .send_request(p.now, msg(&invite("z9hG4bKpair2")), "uas", UDP)
        .expect("send");
    p.step();
    let Some(Incoming::Request {
        key: skey,
        msg: inv,
        ..
    }) = p.uas_got.pop()
    else {
        panic!("UAS saw no INVITE");
    };
    let ok = response(
        &String::from_utf8_lossy(&inv.to_bytes()),
        200,
        "OK",
        Some("uas2"),
    );
    p.uas.send_response(p.now, &skey, msg(&ok)).expect("200");
    p.step();
    assert_eq!(p.uac.state(&ckey), Some(TxState::Accepted));
    assert_eq!(p.uas.state(&skey), Some(TxState::Accepted));
    // The UAS core retransmits its 2xx (§13.3.1.4); the UAC layer passes each one up (RFC 6026).
    p.run_until(ms(500));
    p.uas
        .send_response(p.now, &skey, msg(&ok))
        .expect("200 again");
    p.step();
    let passed = p
        .uac_got
        .iter()
        .filter(|i| matches!(i, Incoming::Response { .. }))
        .count();
    assert_eq!(passed, 2);
    // The UAC core's ACK is a new transaction-less request with its own branch.
    let ack = request(
        "ACK",
        "SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bKpair2ack",
        "3848276298220188511@atlanta.example.com",
        1,
        Some("uas2"),
    );
    p.uac.send_stateless(&msg(&ack), "uas");
    p.step();
    assert!(matches!(p.uas_got.last(), Some(Incoming::Ack { .. })));
    p.run_until(ms(40_000));
    assert!(p.uac.is_empty() && p.uas.is_empty());
}
