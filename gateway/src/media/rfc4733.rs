//! RFC 4733 telephone events (DTMF over RTP): the 4-byte event payload, the digit ↔ event code mapping
//! (§3.2), the packet schedule of one key press, and the receiver's de-duplication of redundant packets.
//! Pure: time comes in as RTP timestamp units (8 kHz) or as an argument.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |     event     |E|R| volume    |          duration             |
//! ```
//!
//! Sending (§2.5.1): every packet of an event carries the RTP timestamp of the event's onset; the first
//! has the marker bit; updates repeat with the duration so far; the end is sent three times with the
//! final duration and the E bit.

use crate::call::Dtmf;

/// The length of one event payload.
pub const EVENT_LEN: usize = 4;

/// Timestamp units per millisecond (telephone-event uses an 8 kHz clock).
pub const UNITS_PER_MS: u16 = 8;

/// The volume Crossbar reports for the events it generates (−10 dBm0, as RFC 4733's example uses).
pub const DEFAULT_VOLUME: u8 = 10;

/// Why an event payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Shorter than one event block.
    #[error("telephone-event payload of {0} bytes, expected at least 4")]
    Truncated(usize),
}

/// One RFC 4733 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (0–15 for DTMF).
    pub event: u8,
    /// The E bit: the last packet(s) of the event.
    pub end: bool,
    /// The volume, 0–63 (−dBm0).
    pub volume: u8,
    /// The duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Decodes the first event block of a payload (later blocks of a multi-event packet, §2.5.1.5, are
    /// ignored: they repeat earlier events).
    ///
    /// # Errors
    /// [`EventError::Truncated`] for fewer than four bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, EventError> {
        let Some(&[event, flags, d0, d1]) = payload.first_chunk::<EVENT_LEN>() else {
            return Err(EventError::Truncated(payload.len()));
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Encodes the event block (the R bit is zero).
    pub fn encode(&self) -> [u8; EVENT_LEN] {
        let [d0, d1] = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d0,
            d1,
        ]
    }
}

/// The DTMF event code of a key (§3.2: `0`–`9` are 0–9, `*` 10, `#` 11, `A`–`D` 12–15).
pub const fn event_for_digit(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// The key of a DTMF event code, `None` for codes above 15 (flash and the non-DTMF events).
pub const fn digit_for_event(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// One packet of a key press's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledPacket {
    /// When to send it, in timestamp units after the key press.
    pub at: u32,
    /// The marker bit (the first packet only).
    pub marker: bool,
    /// The payload.
    pub event: TelephoneEvent,
}

/// The packets of one key press: an update every `step` units reporting the duration so far (the first
/// at `step`, with the marker bit, duration `step`), then the end three times, `step / 2.5` apart
/// (20 ms for a 50 ms step), with the full duration. `total` is at least one `step` and at most
/// `u16::MAX` (longer presses would need §2.5.1.3 segments; they are cut instead).
pub fn schedule(
    event: u8,
    volume: u8,
    total: u16,
    step: u16,
) -> impl Iterator<Item = ScheduledPacket> {
    let step = step.max(1);
    let total = total.max(step);
    let updates = total.div_ceil(step);
    let end_gap = u32::from(step) * 2 / 5;
    (1..=updates + 2).map(move |i| {
        let elapsed = u32::from(i.min(updates)) * u32::from(step);
        let end = i >= updates;
        let at = if end {
            elapsed + u32::from(i - updates) * end_gap
        } else {
            elapsed
        };
        let duration = if end {
            total
        } else {
            u16::try_from(elapsed).unwrap_or(u16::MAX)
        };
        ScheduledPacket {
            at,
            marker: i == 1,
            event: TelephoneEvent {
                event,
                end,
                volume,
                duration,
            },
        }
    })
}

/// The schedule of a [`Dtmf`] key press with 50 ms updates, or `None` for a key with no event code.
pub fn schedule_dtmf(dtmf: Dtmf) -> Option<impl Iterator<Item = ScheduledPacket>> {
    let event = event_for_digit(dtmf.digit)?;
    let total = dtmf.duration_ms.saturating_mul(UNITS_PER_MS);
    Some(schedule(event, DEFAULT_VOLUME, total, 50 * UNITS_PER_MS))
}

/// Turns the redundant packets of received events into one report per key press.
///
/// A press is reported when its first end packet arrives, or, if its end packets were all lost, when a
/// packet of a later press arrives or [`Receiver::expire`] is called. Packets of a press already
/// reported (the repeated ends) are ignored.
#[derive(Debug, Default, Clone)]
pub struct Receiver {
    current: Option<Press>,
}

#[derive(Debug, Clone, Copy)]
struct Press {
    timestamp: u32,
    event: u8,
    duration: u16,
    reported: bool,
}

impl Press {
    fn dtmf(&self) -> Option<Dtmf> {
        Some(Dtmf {
            digit: digit_for_event(self.event)?,
            duration_ms: self.duration / UNITS_PER_MS,
        })
    }
}

impl Receiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one event packet (its RTP timestamp and payload block); returns up to two presses to report:
    /// an unfinished earlier one this packet supersedes, and this one if it just ended. Non-DTMF events
    /// (codes above 15) are tracked for de-duplication but never reported.
    pub fn handle(&mut self, timestamp: u32, ev: TelephoneEvent) -> [Option<Dtmf>; 2] {
        let mut out = [None, None];
        match &mut self.current {
            Some(p) if p.timestamp == timestamp => {
                p.duration = p.duration.max(ev.duration);
                if ev.end && !p.reported {
                    p.reported = true;
                    out[1] = p.dtmf();
                }
            }
            previous => {
                // A late packet of an older press (timestamp behind the current one) is stale.
                if let Some(p) = previous {
                    if (timestamp.wrapping_sub(p.timestamp) as i32) < 0 {
                        return out;
                    }
                    if !p.reported {
                        out[0] = p.dtmf();
                    }
                }
                let p = previous.insert(Press {
                    timestamp,
                    event: ev.event,
                    duration: ev.duration,
                    reported: ev.end,
                });
                if ev.end {
                    out[1] = p.dtmf();
                }
            }
        }
        out
    }

    /// Reports the current press if it was never ended (its end packets lost and nothing followed).
    pub fn expire(&mut self) -> Option<Dtmf> {
        let p = self.current.as_mut().filter(|p| !p.reported)?;
        p.reported = true;
        p.dtmf()
    }

    /// Whether a press is in progress (started, not yet reported).
    pub fn pending(&self) -> bool {
        self.current.is_some_and(|p| !p.reported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_vectors() {
        // RFC 4733 §2.3 layout: the end of digit "1" at volume 10 after 1600 units (200 ms).
        let end = TelephoneEvent {
            event: 1,
            end: true,
            volume: 10,
            duration: 1600,
        };
        assert_eq!(end.encode(), [0x01, 0x8a, 0x06, 0x40]);
        assert_eq!(TelephoneEvent::decode(&[0x01, 0x8a, 0x06, 0x40]), Ok(end));
        // An update of "#" (11) at volume 63, 400 units; the R bit is ignored on decode.
        let upd = TelephoneEvent {
            event: 11,
            end: false,
            volume: 63,
            duration: 400,
        };
        assert_eq!(upd.encode(), [0x0b, 0x3f, 0x01, 0x90]);
        assert_eq!(TelephoneEvent::decode(&[0x0b, 0x7f, 0x01, 0x90]), Ok(upd));
        // A second block (multi-event packet) is ignored.
        assert_eq!(
            TelephoneEvent::decode(&[0x01, 0x8a, 0x06, 0x40, 9, 9, 9, 9]),
            Ok(end)
        );
        assert_eq!(
            TelephoneEvent::decode(&[1, 2, 3]),
            Err(EventError::Truncated(3))
        );
    }

    #[test]
    fn digit_codes_follow_section_3_2() {
        let keys = "0123456789*#ABCD";
        for (code, key) in keys.chars().enumerate() {
            let code = u8::try_from(code).unwrap();
            assert_eq!(event_for_digit(key), Some(code));
            assert_eq!(digit_for_event(code), Some(key));
        }
        assert_eq!(event_for_digit('b'), Some(13));
        assert_eq!(event_for_digit('E'), None);
        assert_eq!(digit_for_event(16), None); // flash
    }

    #[test]
    fn schedule_of_a_200ms_press() {
        // 1600 units in 400-unit steps: updates at 400, 800, 1200, then end ×3 at 1600, 1760, 1920.
        let got: Vec<_> = schedule(9, 10, 1600, 400)
            .map(|p| (p.at, p.marker, p.event.end, p.event.duration))
            .collect();
        assert_eq!(
            got,
            [
                (400, true, false, 400),
                (800, false, false, 800),
                (1200, false, false, 1200),
                (1600, false, true, 1600),
                (1760, false, true, 1600),
                (1920, false, true, 1600),
            ]
        );
    }

    #[test]
    fn schedule_of_short_and_uneven_presses() {
        // Shorter than a step: one start-and-end, marker on the first end packet.
        let got: Vec<_> = schedule(1, 10, 100, 400)
            .map(|p| (p.at, p.marker, p.event.end, p.event.duration))
            .collect();
        assert_eq!(
            got,
            [
                (400, true, true, 400),
                (560, false, true, 400),
                (720, false, true, 400)
            ]
        );
        // 1000 units: updates at 400 and 800, end at 1200 with the exact duration 1000.
        let ends: Vec<_> = schedule(1, 10, 1000, 400)
            .filter(|p| p.event.end)
            .map(|p| (p.at, p.event.duration))
            .collect();
        assert_eq!(ends, [(1200, 1000), (1360, 1000), (1520, 1000)]);
        // Every packet of a schedule keeps the event and volume.
        assert!(schedule(5, 7, u16::MAX, 400).all(|p| p.event.event == 5 && p.event.volume == 7));
        assert!(
            schedule_dtmf(Dtmf {
                digit: 'x',
                duration_ms: 100
            })
            .is_none()
        );
    }

    #[test]
    fn receiver_reports_each_press_once() {
        let mut rx = Receiver::new();
        let mut reports = Vec::new();
        for p in schedule(5, 10, 1600, 400) {
            reports.extend(rx.handle(1000, p.event).into_iter().flatten());
        }
        assert_eq!(
            reports,
            [Dtmf {
                digit: '5',
                duration_ms: 200
            }]
        );
        // A late duplicate of the ended press is ignored; so is an older timestamp.
        assert_eq!(
            rx.handle(1000, schedule(5, 10, 1600, 400).last().unwrap().event),
            [None, None]
        );
        assert_eq!(
            rx.handle(
                900,
                TelephoneEvent {
                    event: 1,
                    end: true,
                    volume: 10,
                    duration: 400
                }
            ),
            [None, None]
        );
        assert!(!rx.pending());
    }

    #[test]
    fn receiver_reports_a_press_whose_end_was_lost() {
        let mut rx = Receiver::new();
        let start = |event, duration| TelephoneEvent {
            event,
            end: false,
            volume: 10,
            duration,
        };
        assert_eq!(rx.handle(100, start(3, 400)), [None, None]);
        assert_eq!(rx.handle(100, start(3, 800)), [None, None]);
        assert!(rx.pending());
        // The next press supersedes it; it ends at once (a single end packet).
        let next = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        let d = |digit, duration_ms| Some(Dtmf { digit, duration_ms });
        assert_eq!(rx.handle(2000, next), [d('3', 100), d('#', 100)]);
        // A press that never ends is reported on expiry, once.
        assert_eq!(rx.handle(5000, start(0, 400)), [None, None]);
        assert_eq!(rx.expire(), d('0', 50));
        assert_eq!(rx.expire(), None);
        // Flash (16) is never reported.
        assert_eq!(
            rx.handle(
                9000,
                TelephoneEvent {
                    event: 16,
                    end: true,
                    volume: 0,
                    duration: 800
                }
            ),
            [None, None]
        );
    }
}
