//! What a simulated UNIStim phone shows: the text lines, the context (info-bar) field, softkey labels,
//! the labels and icons beside the line keys, the LEDs and what the audio side is doing (stream tone,
//! ringer, call timer), kept by applying the server's display, key/indicator and audio commands
//! (`docs/protocols/unistim.md` §3.3) as the set would.
//!
//! Tests read it through [`super::UnistimPhone::screen`]: `screen.contains("3001")`,
//! `screen.softkey(0)`, `screen.label(0)`, `screen.ringing`.

use std::collections::BTreeMap;

use codecs::unistim::Message;
use codecs::unistim::msg::audio::AudioSwitch;
use codecs::unistim::msg::display::DisplaySwitch;
use codecs::unistim::msg::display_write::{DisplayWrite, WriteAddress};
use codecs::unistim::msg::key::KeySwitch;

/// What a stream-based tone is, told by its downloaded frequencies (350+440 Hz dial, 440+480 ringback,
/// 480+620 busy or reorder: North-American call progress, CS2K and the gateway) or, without a download,
/// by the tone id's default meaning (0 dial, 2 busy, 3 reorder, 4 ringback; unistim.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToneKind {
    /// Dial tone.
    Dial,
    /// Audible ringing.
    Ringback,
    /// Busy or reorder.
    Busy,
    /// Anything else (call waiting, DTMF feedback ...).
    Other,
}

impl ToneKind {
    /// Classifies tone `id` given the frequency words downloaded for it (Hz × 8.192).
    pub fn classify(id: u8, words: Option<&[u16]>) -> Self {
        let Some(words) = words.filter(|w| !w.is_empty()) else {
            return match id {
                0 => Self::Dial,
                2 | 3 => Self::Busy,
                4 => Self::Ringback,
                _ => Self::Other,
            };
        };
        let mut hz: Vec<u32> = words
            .iter()
            .map(|w| ((f64::from(*w) / 8.192).round()) as u32)
            .collect();
        hz.sort_unstable();
        let near = |a: u32, b: u32| a.abs_diff(b) <= 5;
        match hz.as_slice() {
            [a, b] if near(*a, 350) && near(*b, 440) => Self::Dial,
            [a, b] if near(*a, 440) && near(*b, 480) => Self::Ringback,
            [a, b] if near(*a, 480) && near(*b, 620) => Self::Busy,
            _ => Self::Other,
        }
    }
}

/// The phone's display and indicators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    /// Text lines, top first (as many as the model has; characters beyond the width are kept).
    pub lines: Vec<String>,
    /// The context field (info-bar title).
    pub context: String,
    /// The numeric field.
    pub numeric: String,
    /// Softkey labels, softkey 0 first.
    pub softkeys: Vec<String>,
    /// Labels beside the programmable (line) keys, by key number.
    pub labels: BTreeMap<u8, String>,
    /// Icon state bytes beside the programmable keys (`0x24` active, `0x42` ringing, `0x66` hold ...).
    pub icons: BTreeMap<u8, u8>,
    /// Status-bar icon states.
    pub status_icons: BTreeMap<u8, u8>,
    /// LED cadences by LED id (0 message waiting, 1 handsfree, 2 headset, 3 mute): 0 off, 1 on, 2 flash.
    pub leds: [u8; 4],
    /// The stream-based tone playing (0 dial, 2 busy, 3 reorder, 4 ringback ...), if any.
    pub stream_tone: Option<u8>,
    /// Frequency words downloaded per tone id (Hz × 8.192).
    pub tone_frequencies: BTreeMap<u8, Vec<u16>>,
    /// The ringer (alerting transducer tone) is on.
    pub ringing: bool,
    /// The call duration timer is shown.
    pub call_timer: bool,
    /// The last Time and Date Download: year byte, month, day, hour, minute.
    pub time_date: Option<[u8; 5]>,
    /// Where text without an address goes: line and column.
    cursor: (usize, usize),
}

fn put(target: &mut String, at: usize, text: &str, clear_left: bool, clear_right: bool) -> usize {
    let mut chars: Vec<char> = target.chars().collect();
    if clear_left {
        for c in chars.iter_mut().take(at) {
            *c = ' ';
        }
    }
    if chars.len() < at {
        chars.resize(at, ' ');
    }
    let mut end = at;
    for c in text.chars() {
        if end < chars.len() {
            chars[end] = c;
        } else {
            chars.push(c);
        }
        end += 1;
    }
    if clear_right {
        chars.truncate(end);
    }
    *target = chars.into_iter().collect();
    end
}

impl Screen {
    /// An empty screen of `lines` text lines and `softkeys` softkeys.
    pub fn new(lines: u8, softkeys: u8) -> Self {
        Self {
            lines: vec![String::new(); usize::from(lines.max(1))],
            softkeys: vec![String::new(); usize::from(softkeys.max(1))],
            ..Default::default()
        }
    }

    /// Text line `i`, trailing blanks removed ("" past the last line).
    pub fn line(&self, i: usize) -> &str {
        self.lines.get(i).map_or("", |l| l.trim_end())
    }

    /// Softkey `i`'s label, trimmed.
    pub fn softkey(&self, i: usize) -> &str {
        self.softkeys.get(i).map_or("", |l| l.trim())
    }

    /// The label beside programmable key `key`, trimmed.
    pub fn label(&self, key: u8) -> &str {
        self.labels.get(&key).map_or("", |l| l.trim())
    }

    /// What the stream tone playing now is.
    pub fn tone(&self) -> Option<ToneKind> {
        self.stream_tone
            .map(|id| ToneKind::classify(id, self.tone_frequencies.get(&id).map(Vec::as_slice)))
    }

    /// Everything shown as text, one field a line: context, text lines, softkeys, key labels.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        out.push(self.context.trim().to_owned());
        out.extend(self.lines.iter().map(|l| l.trim_end().to_owned()));
        out.extend(self.softkeys.iter().map(|l| l.trim().to_owned()));
        out.extend(self.labels.values().map(|l| l.trim().to_owned()));
        out.join("\n")
    }

    /// Whether `needle` is shown anywhere (context, lines, softkeys, key labels).
    pub fn contains(&self, needle: &str) -> bool {
        self.context.contains(needle)
            || self.numeric.contains(needle)
            || self.lines.iter().any(|l| l.contains(needle))
            || self.softkeys.iter().any(|l| l.contains(needle))
            || self.labels.values().any(|l| l.contains(needle))
    }

    /// Applies one message from the server; `true` if anything shown changed.
    pub fn apply(&mut self, message: &Message) -> bool {
        let before = self.clone();
        match message {
            Message::DisplaySwitch(d) => self.on_display(d),
            Message::KeySwitch(KeySwitch::PhoneIconUpdate(i)) => {
                self.icons.insert(i.icon_id, i.state);
            }
            Message::KeySwitch(KeySwitch::LedUpdate(l)) => {
                if let Some(slot) = self.leds.get_mut(usize::from(l.led.0)) {
                    *slot = l.cadence.0;
                }
            }
            Message::AudioSwitch(a) => self.on_audio(a),
            Message::BroadcastSwitch(
                codecs::unistim::msg::broadcast::BroadcastSwitch::TimeAndDateDownload(t),
            ) => self.time_date = Some([t.year, t.month, t.day, t.hour, t.minute]),
            _ => {}
        }
        *self != before
    }

    fn on_audio(&mut self, a: &AudioSwitch) {
        match a {
            AudioSwitch::StreamBasedToneOn(t) => self.stream_tone = Some(t.tone & 0x1f),
            AudioSwitch::StreamBasedToneOff(_) => self.stream_tone = None,
            AudioSwitch::TransducerBasedToneOn(t) if t.tone & 0x07 == 0 => self.ringing = true,
            AudioSwitch::TransducerBasedToneOff(t) if t.tone & 0x07 == 0 => self.ringing = false,
            AudioSwitch::StreamBasedToneFrequencyList(f) => {
                self.tone_frequencies
                    .insert(f.tone & 0x1f, f.frequencies.clone());
            }
            _ => {}
        }
    }

    fn on_display(&mut self, d: &DisplaySwitch) {
        match d {
            DisplaySwitch::DisplayWrite(w) => self.write(w),
            DisplaySwitch::ClearField(c) => {
                if c.mask & 0x01 != 0 {
                    self.numeric.clear();
                }
                if c.mask & 0x02 != 0 {
                    self.context.clear();
                }
                if let Some(bits) = c.lines {
                    for (i, l) in self.lines.iter_mut().enumerate() {
                        if i < 8 && bits & (1 << i) != 0 {
                            l.clear();
                        }
                    }
                }
                if let Some(bits) = c.softkeys {
                    for (i, l) in self.softkeys.iter_mut().enumerate() {
                        if i < 8 && bits & (1 << i) != 0 {
                            l.clear();
                        }
                    }
                }
                if let Some(id) = c.softkey_label {
                    if id & 0x1f == 0x1f {
                        self.labels.clear();
                    } else {
                        self.labels.remove(&(id & 0x1f));
                    }
                }
                if let Some(bits) = c.status_bar_icons {
                    self.status_icons
                        .retain(|i, _| *i >= 8 || bits & (1 << i) == 0);
                }
            }
            DisplaySwitch::StatusBarIconUpdate(s) => {
                self.status_icons.insert(s.icon_id & 0x1f, s.state);
            }
            DisplaySwitch::CallDurationTimer(t) => {
                // Display bit on: shown; reset without display: stopped.
                self.call_timer = t.flags & 0x04 != 0;
            }
            _ => {}
        }
    }

    fn write(&mut self, w: &DisplayWrite) {
        let text: String = w.text.as_bytes().iter().map(|&b| char::from(b)).collect();
        let control = w.control.unwrap_or(0);
        let (clear_left, clear_right) = (
            control & DisplayWrite::CLEAR_LEFT != 0,
            control & DisplayWrite::CLEAR_RIGHT != 0,
        );
        let Some(address) = w.address else {
            let (line, col) = self.cursor;
            if let Some(l) = self.lines.get_mut(line) {
                let end = put(l, col, &text, clear_left, clear_right);
                self.cursor = (line, end);
            }
            return;
        };
        let field = address.field;
        if field & WriteAddress::LINE != 0 {
            let p = address.position.unwrap_or(0);
            let (line, col) = (usize::from(p >> 5), usize::from(p & 0x1f));
            if let Some(l) = self.lines.get_mut(line) {
                let end = put(l, col, &text, clear_left, clear_right);
                self.cursor = (line, end);
            }
        } else if field & WriteAddress::SOFTKEY != 0 {
            let id = usize::from(field >> 5);
            if let Some(l) = self.softkeys.get_mut(id) {
                l.clone_from(&text);
            }
        } else if field & WriteAddress::SOFT_LABEL != 0 {
            let id = address.position.unwrap_or(0) & 0x1f;
            self.labels.insert(id, text);
        } else if field & WriteAddress::CONTEXT != 0 {
            self.context = text;
        } else if field & WriteAddress::NUMERIC != 0 {
            self.numeric = text;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::unistim::msg::display_write::ClearField;

    fn write(address: WriteAddress, text: &str, control: u8) -> Message {
        Message::from(DisplaySwitch::DisplayWrite(
            DisplayWrite::new(address, codecs::unistim::Text::new(text.to_owned()))
                .with_control(control),
        ))
    }

    #[test]
    fn writes_land_in_their_fields_and_clears_empty_them() {
        let mut s = Screen::new(3, 4);
        assert!(s.apply(&write(WriteAddress::line(0, 0), "3001", 0x05)));
        assert!(s.apply(&write(WriteAddress::line(1, 4), "2002", 0x05)));
        s.apply(&write(WriteAddress::softkey(1), "Redial ", 0));
        s.apply(&write(WriteAddress::soft_label(0), "3001", 0));
        s.apply(&write(WriteAddress::context(), "Crossbar", 0));
        assert_eq!(s.line(0), "3001");
        assert_eq!(s.line(1), "    2002");
        assert_eq!(s.softkey(1), "Redial");
        assert_eq!(s.label(0), "3001");
        assert!(s.contains("Crossbar") && s.contains("2002"));
        // Overwrite in the middle without clearing the rest, then with clear-right.
        s.apply(&write(WriteAddress::line(1, 0), "ab", 0));
        assert_eq!(s.line(1), "ab  2002");
        s.apply(&write(WriteAddress::line(1, 0), "ab", 0x04));
        assert_eq!(s.line(1), "ab");
        assert!(s.apply(&Message::from(DisplaySwitch::ClearField(
            ClearField::lines(0x01)
        ))));
        assert_eq!(s.line(0), "");
        assert!(!s.apply(&Message::from(DisplaySwitch::ClearField(
            ClearField::lines(0x01)
        ))));
    }
}
