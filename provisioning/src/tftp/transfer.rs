//! One read transfer as a sans-IO state machine: options negotiated, blocks windowed, ACKs matched
//! across block-number roll-over, retransmission on the deadline only.
//!
//! ```text
//!   new ──(options acknowledged)──> AwaitingOackAck ──ACK 0──┐
//!    └──(no options)─────────────────────────────────────────┴─> AwaitingAck ──last ACK──> Complete
//!   any state ──deadline × max_retries──> TimedOut;  ──ERROR from peer──> PeerAborted
//! ```
//!
//! The driver feeds [`Transfer::handle_ack`], [`Transfer::handle_timeout`] and drains
//! [`Transfer::poll_output`] until it returns `None` after each input, sleeping until
//! [`Transfer::poll_timeout`]. Time comes in as an argument, so tests use a fake clock.
//!
//! Sorcerer's Apprentice (RFC 1123 §4.2.3.1): a duplicate ACK never triggers a resend; only the deadline
//! does, so a delayed ACK cannot double the traffic for the rest of the transfer. A partial ACK inside a
//! window (RFC 7440: the receiver saw a gap) restarts the window after the acknowledged block.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::packet::RequestOptions;

/// Limits on what clients may negotiate and how hard the server retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `blksize` granted; larger asks get this (RFC 2348 lets the server answer smaller).
    pub max_blksize: u16,
    /// Largest `windowsize` granted.
    pub max_windowsize: u16,
    /// Retransmission interval when the client does not ask for `timeout`.
    pub default_timeout: Duration,
    /// Retransmissions of one window before the transfer is abandoned.
    pub max_retries: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_blksize: 16_384,
            max_windowsize: 64,
            default_timeout: Duration::from_secs(1),
            max_retries: 5,
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send the option acknowledgement with these pairs.
    Oack(Vec<(&'static str, String)>),
    /// Send DATA `block` carrying the file's bytes `offset..offset + len`.
    Data {
        /// Block number on the wire (rolls over from 65535 to 0).
        block: u16,
        /// Byte offset in the file.
        offset: u64,
        /// Payload length; shorter than the block size only for the last block.
        len: usize,
    },
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finished {
    /// The last block was acknowledged.
    Complete,
    /// No acknowledgement after every retry.
    TimedOut,
    /// The client sent an ERROR packet.
    PeerAborted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitingOackAck(Vec<(&'static str, String)>),
    AwaitingAck,
    Finished(Finished),
}

/// One read transfer.
#[derive(Debug)]
pub struct Transfer {
    state: State,
    size: u64,
    blksize: u16,
    windowsize: u16,
    timeout: Duration,
    max_retries: u32,
    /// Blocks in the file: `size / blksize + 1` (a file of whole blocks ends with an empty one).
    total_blocks: u64,
    /// Highest block index acknowledged (0: none yet).
    acked: u64,
    /// Highest block index sent.
    sent: u64,
    retries: u32,
    deadline: Instant,
    out: VecDeque<Output>,
}

impl Transfer {
    /// Starts serving a file of `size` bytes for a request with `options`, at `now`.
    pub fn new(now: Instant, size: u64, options: &RequestOptions, limits: &Limits) -> Self {
        let mut oack: Vec<(&'static str, String)> = Vec::new();
        let blksize = match options.blksize {
            Some(asked) => {
                let granted = asked.min(limits.max_blksize).max(8);
                oack.push(("blksize", granted.to_string()));
                granted
            }
            None => 512,
        };
        let timeout = match options.timeout {
            Some(secs) => {
                oack.push(("timeout", secs.to_string()));
                Duration::from_secs(u64::from(secs))
            }
            None => limits.default_timeout,
        };
        if options.tsize {
            oack.push(("tsize", size.to_string()));
        }
        let windowsize = match options.windowsize {
            Some(asked) => {
                let granted = asked.min(limits.max_windowsize).max(1);
                oack.push(("windowsize", granted.to_string()));
                granted
            }
            None => 1,
        };
        let total_blocks = (size / u64::from(blksize)).saturating_add(1);
        let mut transfer = Self {
            state: State::AwaitingAck,
            size,
            blksize,
            windowsize,
            timeout,
            max_retries: limits.max_retries,
            total_blocks,
            acked: 0,
            sent: 0,
            retries: 0,
            deadline: now + timeout,
            out: VecDeque::new(),
        };
        if oack.is_empty() {
            transfer.send_window();
        } else {
            transfer.out.push_back(Output::Oack(oack.clone()));
            transfer.state = State::AwaitingOackAck(oack);
        }
        transfer
    }

    /// The negotiated block size.
    pub fn blksize(&self) -> u16 {
        self.blksize
    }

    /// The negotiated window size.
    pub fn windowsize(&self) -> u16 {
        self.windowsize
    }

    /// The file size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How the transfer ended, once it has.
    pub fn finished(&self) -> Option<&Finished> {
        match &self.state {
            State::Finished(f) => Some(f),
            _ => None,
        }
    }

    /// The next thing to send.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Transfer::handle_timeout`] is due; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Finished(_) => None,
            _ => Some(self.deadline),
        }
    }

    fn wire_block(index: u64) -> u16 {
        // Block numbers roll over from 65535 to 0, as tftp-hpa, atftp and most phones expect.
        (index & 0xffff) as u16
    }

    /// Queues blocks `acked + 1 ..= acked + windowsize` (within the file) and arms the deadline.
    fn send_window(&mut self) {
        self.out.clear();
        let first = self.acked.saturating_add(1);
        let last = self
            .acked
            .saturating_add(u64::from(self.windowsize))
            .min(self.total_blocks);
        let blksize = u64::from(self.blksize);
        for index in first..=last {
            let offset = (index - 1).saturating_mul(blksize);
            let len = self.size.saturating_sub(offset).min(blksize);
            self.out.push_back(Output::Data {
                block: Self::wire_block(index),
                offset,
                len: usize::try_from(len).unwrap_or(0),
            });
        }
        self.sent = last;
    }

    /// An ACK from the client.
    pub fn handle_ack(&mut self, now: Instant, block: u16) {
        match &self.state {
            State::Finished(_) => {}
            State::AwaitingOackAck(_) => {
                if block == 0 {
                    self.state = State::AwaitingAck;
                    self.retries = 0;
                    self.deadline = now + self.timeout;
                    self.send_window();
                }
            }
            State::AwaitingAck => {
                let delta = u64::from(block.wrapping_sub(Self::wire_block(self.acked)));
                let in_flight = self.sent.saturating_sub(self.acked);
                if delta == 0 || delta > in_flight {
                    // A duplicate or stale ACK: never answer it (Sorcerer's Apprentice).
                    return;
                }
                self.acked += delta;
                self.retries = 0;
                if self.acked >= self.total_blocks {
                    self.out.clear();
                    self.state = State::Finished(Finished::Complete);
                    return;
                }
                // A full ACK opens the next window; a partial one (the client lost a block of the
                // window) resends from the gap.
                self.deadline = now + self.timeout;
                self.send_window();
            }
        }
    }

    /// An ERROR from the client ends the transfer without an answer (RFC 1350 §7).
    pub fn handle_error(&mut self) {
        self.out.clear();
        self.state = State::Finished(Finished::PeerAborted);
    }

    /// The deadline from [`Transfer::poll_timeout`] passed: retransmit the window, or give up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.deadline || matches!(self.state, State::Finished(_)) {
            return;
        }
        if self.retries >= self.max_retries {
            self.out.clear();
            self.state = State::Finished(Finished::TimedOut);
            return;
        }
        self.retries += 1;
        self.deadline = now + self.timeout;
        match &self.state {
            State::AwaitingOackAck(oack) => {
                self.out.clear();
                self.out.push_back(Output::Oack(oack.clone()));
            }
            State::AwaitingAck => self.send_window(),
            State::Finished(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(t: &mut Transfer) -> Vec<Output> {
        std::iter::from_fn(|| t.poll_output()).collect()
    }

    fn blocks(outputs: &[Output]) -> Vec<u16> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Data { block, .. } => Some(*block),
                Output::Oack(_) => None,
            })
            .collect()
    }

    #[test]
    fn lock_step_without_options_ends_with_a_short_block() {
        let t0 = Instant::now();
        let mut t = Transfer::new(t0, 1024, &RequestOptions::default(), &Limits::default());
        assert_eq!(
            drain(&mut t),
            [Output::Data {
                block: 1,
                offset: 0,
                len: 512
            }]
        );
        t.handle_ack(t0, 1);
        assert_eq!(
            drain(&mut t),
            [Output::Data {
                block: 2,
                offset: 512,
                len: 512
            }]
        );
        t.handle_ack(t0, 2);
        // 1024 is a multiple of 512: the file ends with an empty block.
        assert_eq!(
            drain(&mut t),
            [Output::Data {
                block: 3,
                offset: 1024,
                len: 0
            }]
        );
        assert_eq!(t.finished(), None);
        t.handle_ack(t0, 3);
        assert_eq!(t.finished(), Some(&Finished::Complete));
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn options_are_acknowledged_and_capped() {
        let t0 = Instant::now();
        let options = RequestOptions {
            blksize: Some(65464),
            timeout: Some(3),
            tsize: true,
            windowsize: Some(1000),
        };
        let mut t = Transfer::new(t0, 100_000, &options, &Limits::default());
        assert_eq!(
            drain(&mut t),
            [Output::Oack(vec![
                ("blksize", "16384".into()),
                ("timeout", "3".into()),
                ("tsize", "100000".into()),
                ("windowsize", "64".into()),
            ])]
        );
        // Nothing but ACK 0 starts the data.
        t.handle_ack(t0, 5);
        assert!(drain(&mut t).is_empty());
        t.handle_ack(t0, 0);
        // 100000 / 16384 = 6 full blocks + a short 7th.
        assert_eq!(blocks(&drain(&mut t)), [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        t.handle_ack(t0, 7);
        assert_eq!(t.finished(), Some(&Finished::Complete));
    }

    #[test]
    fn duplicate_acks_are_never_answered() {
        let t0 = Instant::now();
        let mut t = Transfer::new(t0, 5000, &RequestOptions::default(), &Limits::default());
        drain(&mut t);
        t.handle_ack(t0, 1);
        assert_eq!(blocks(&drain(&mut t)), [2]);
        // The ACK for block 1 arrives again (delayed duplicate): no resend of block 2.
        t.handle_ack(t0, 1);
        assert!(drain(&mut t).is_empty());
        // An ACK from the future is ignored too.
        t.handle_ack(t0, 9);
        assert!(drain(&mut t).is_empty());
    }

    #[test]
    fn a_lost_ack_is_recovered_by_the_deadline_then_the_transfer_gives_up() {
        let t0 = Instant::now();
        let limits = Limits {
            max_retries: 2,
            ..Limits::default()
        };
        let mut t = Transfer::new(t0, 600, &RequestOptions::default(), &limits);
        drain(&mut t);
        // Before the deadline nothing happens.
        t.handle_timeout(t0 + Duration::from_millis(500));
        assert!(drain(&mut t).is_empty());
        let t1 = t0 + Duration::from_secs(1);
        t.handle_timeout(t1);
        assert_eq!(blocks(&drain(&mut t)), [1]);
        t.handle_ack(t1, 1);
        assert_eq!(blocks(&drain(&mut t)), [2]);
        let t2 = t1 + Duration::from_secs(1);
        t.handle_timeout(t2);
        assert_eq!(blocks(&drain(&mut t)), [2]);
        let t3 = t2 + Duration::from_secs(1);
        t.handle_timeout(t3);
        assert_eq!(blocks(&drain(&mut t)), [2]);
        t.handle_timeout(t3 + Duration::from_secs(1));
        assert!(drain(&mut t).is_empty());
        assert_eq!(t.finished(), Some(&Finished::TimedOut));
    }

    #[test]
    fn a_partial_ack_restarts_the_window_after_the_gap() {
        let t0 = Instant::now();
        let options = RequestOptions {
            windowsize: Some(4),
            ..RequestOptions::default()
        };
        let mut t = Transfer::new(t0, 512 * 10, &options, &Limits::default());
        drain(&mut t);
        t.handle_ack(t0, 0);
        assert_eq!(blocks(&drain(&mut t)), [1, 2, 3, 4]);
        // Block 3 was lost: the client acknowledges 2.
        t.handle_ack(t0, 2);
        assert_eq!(blocks(&drain(&mut t)), [3, 4, 5, 6]);
        t.handle_ack(t0, 6);
        assert_eq!(blocks(&drain(&mut t)), [7, 8, 9, 10]);
        t.handle_ack(t0, 10);
        assert_eq!(blocks(&drain(&mut t)), [11]);
        t.handle_ack(t0, 11);
        assert_eq!(t.finished(), Some(&Finished::Complete));
    }

    #[test]
    fn block_numbers_roll_over_past_65535() {
        let t0 = Instant::now();
        let size = 512 * 70_000 + 3;
        let mut t = Transfer::new(t0, size, &RequestOptions::default(), &Limits::default());
        let mut index: u64 = 0;
        loop {
            let out = drain(&mut t);
            let Some(Output::Data { block, offset, len }) = out.first().cloned() else {
                break;
            };
            index += 1;
            assert_eq!(block, (index % 65536) as u16);
            assert_eq!(offset, (index - 1) * 512);
            t.handle_ack(t0, block);
            if len < 512 {
                assert_eq!(len, 3);
                break;
            }
        }
        assert_eq!(index, 70_001);
        assert_eq!(t.finished(), Some(&Finished::Complete));
    }

    #[test]
    fn an_error_from_the_client_ends_it() {
        let t0 = Instant::now();
        let mut t = Transfer::new(t0, 10, &RequestOptions::default(), &Limits::default());
        t.handle_error();
        assert!(drain(&mut t).is_empty());
        assert_eq!(t.finished(), Some(&Finished::PeerAborted));
        t.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(t.finished(), Some(&Finished::PeerAborted));
    }

    /// A client over a lossy link: receives in order, ACKs each window's last block (or the file's), and
    /// re-ACKs its last good block when nothing arrives. Each packet is lost with probability
    /// `loss_pct`%, drawn from a xorshift generator seeded with `seed`.
    fn simulate(
        size: u64,
        windowsize: u16,
        seed: u64,
        loss_pct: u64,
    ) -> (Option<Finished>, u64, usize) {
        let t0 = Instant::now();
        let options = RequestOptions {
            windowsize: Some(windowsize),
            ..RequestOptions::default()
        };
        let limits = Limits {
            max_retries: 50,
            ..Limits::default()
        };
        let mut t = Transfer::new(t0, size, &options, &limits);
        let mut now = t0;
        let mut state = seed | 1;
        let mut drop = std::iter::from_fn(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            Some(state % 100 < loss_pct)
        });
        let mut received: u64 = 0; // bytes in order
        let mut expected: u16 = 0; // next block wanted once the OACK is acknowledged
        let mut in_window = 0u16;
        let mut sent = 0usize;
        for _ in 0..20_000 {
            let mut acks = Vec::new();
            for out in std::iter::from_fn(|| t.poll_output()) {
                sent += 1;
                if drop.next().unwrap_or(false) {
                    continue;
                }
                match out {
                    Output::Oack(_) => {
                        expected = 1;
                        acks.push(0);
                    }
                    Output::Data { block, offset, len } => {
                        if block == expected && offset == received {
                            received += len as u64;
                            expected = expected.wrapping_add(1);
                            in_window += 1;
                            if in_window == windowsize || len < 512 {
                                in_window = 0;
                                acks.push(block);
                            }
                        }
                    }
                }
            }
            let delivered: Vec<u16> = acks
                .into_iter()
                .filter(|_| !drop.next().unwrap_or(false))
                .collect();
            if delivered.is_empty() {
                // Nothing got through: time passes; the client re-acknowledges its last good block.
                now += Duration::from_secs(1);
                t.handle_timeout(now);
                in_window = 0;
                if expected > 0 && !drop.next().unwrap_or(false) {
                    t.handle_ack(now, expected.wrapping_sub(1));
                }
            } else {
                for a in delivered {
                    t.handle_ack(now, a);
                }
            }
            if t.finished().is_some() {
                break;
            }
        }
        (t.finished().cloned(), received, sent)
    }

    proptest::proptest! {
        #[test]
        fn lossy_links_still_deliver_the_whole_file_in_order(
            size in 0u64..40_000,
            windowsize in 1u16..8,
            seed in proptest::num::u64::ANY,
            loss_pct in 0u64..30,
        ) {
            let (finished, received, sent) = simulate(size, windowsize, seed, loss_pct);
            proptest::prop_assert_eq!(finished, Some(Finished::Complete));
            proptest::prop_assert_eq!(received, size);
            // Retransmission is bounded: no packet storm from duplicate ACKs.
            let blocks = (size / 512 + 1) as usize;
            proptest::prop_assert!(sent <= (blocks + 1) * usize::from(windowsize) * 12, "{} packets for {} blocks", sent, blocks);
        }
    }
}
