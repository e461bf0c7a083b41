//! A scripted UNIStim phone made from `codecs::unistim`: it opens with the reset-sequence hello,
//! follows the start-up NAK, acknowledges every server payload (NAKing gaps, re-ACKing duplicates),
//! answers the identification queries as the 1140E of the startup capture did, and keeps every
//! datagram and message it received.

use bytes::Bytes;
use codecs::unistim::msg::Message;
use codecs::unistim::msg::audio::{
    AudioAttributesInfo, AudioPhone, AudioSwitch, OpenAudioStreamReport, StreamResult,
};
use codecs::unistim::msg::basic::{
    BasicPhone, BasicSwitch, FirmwareVersion, HardwareId, ItType, ItTypeReport,
    ProductEngineeringCode, QueryBasicManager,
};
use codecs::unistim::msg::display::DisplaySwitch;
use codecs::unistim::msg::display_write::DisplayWrite;
use codecs::unistim::msg::key::{KeyCode, KeyEvent, KeyPhone};
use codecs::unistim::msg::network::NetworkPhone;
use codecs::unistim::{Datagram, PacketType, RESET_SEQ, RudpHeader};

/// The MAC of the scripted 1140E.
pub(crate) const MAC: [u8; 6] = [0x00, 0x13, 0x65, 0xff, 0xb0, 0x2a];

pub(crate) struct ScriptedPhone {
    pub(crate) mac: [u8; 6],
    pub(crate) tid: u32,
    next_seq: u32,
    expect: Option<u32>,
    unacked: Vec<(u32, Bytes)>,
    /// Every server message delivered, in order, once.
    pub(crate) got: Vec<Message>,
    /// Messages not yet looked at by the test.
    pub(crate) fresh: Vec<Message>,
    /// Every datagram received (duplicates included).
    pub(crate) raw: Vec<Bytes>,
    pub(crate) firmware: &'static str,
    pub(crate) product_code: &'static str,
    pub(crate) vocoders: Vec<u8>,
    /// The IT type reported (0x02 i2004 and the 1100 series, 0x03 i2002).
    pub(crate) it_type: u8,
    /// Answer the identification queries (off: a phone that never says who it is).
    pub(crate) answer_queries: bool,
}

impl ScriptedPhone {
    pub(crate) fn new(mac: [u8; 6]) -> Self {
        Self {
            mac,
            tid: 0xffff_ffff,
            next_seq: RESET_SEQ,
            expect: None,
            unacked: Vec::new(),
            got: Vec::new(),
            fresh: Vec::new(),
            raw: Vec::new(),
            firmware: "0625C8J",
            product_code: "NTYS05BA",
            vocoders: vec![0x00, 0x08, 0x12],
            it_type: 0x02,
            answer_queries: true,
        }
    }

    /// The phone boots: seq 0xFFFFFFFF, terminal id 0xFFFFFFFF, Resume Connection (startup frame 15).
    pub(crate) fn hello(&mut self) -> Bytes {
        self.next_seq = RESET_SEQ;
        self.tid = 0xffff_ffff;
        self.expect = None;
        let bytes = Datagram {
            header: RudpHeader::phone_payload(RESET_SEQ, 0xffff_ffff),
            messages: vec![resume()],
            uftp: None,
            trailing: Bytes::new(),
        }
        .encode();
        // Kept for re-sending until the start-up NAK comes (phones retry their hello).
        self.unacked = vec![(RESET_SEQ, bytes.clone())];
        bytes
    }

    /// One message from the phone in its own payload (as the phones in both captures do).
    pub(crate) fn send(&mut self, m: Message) -> Bytes {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let bytes = Datagram {
            header: RudpHeader::phone_payload(seq, self.tid),
            messages: vec![m],
            uftp: None,
            trailing: Bytes::new(),
        }
        .encode();
        self.unacked.push((seq, bytes.clone()));
        bytes
    }

    pub(crate) fn key(&mut self, key: KeyCode) -> Bytes {
        self.send(Message::KeyPhone(KeyPhone::KeyEvent(KeyEvent::pressed(
            key,
        ))))
    }

    pub(crate) fn off_hook(&mut self) -> Bytes {
        self.send(Message::KeyPhone(KeyPhone::OffHook(Default::default())))
    }

    pub(crate) fn on_hook(&mut self) -> Bytes {
        self.send(Message::KeyPhone(KeyPhone::OnHook(Default::default())))
    }

    /// Digits as key events.
    pub(crate) fn dial(&mut self, digits: &str) -> Vec<Bytes> {
        digits
            .chars()
            .filter_map(|c| {
                let code = match c {
                    '0'..='9' => u8::try_from(c.to_digit(10)?).ok()?,
                    '*' => 0x0a,
                    '#' => 0x0b,
                    _ => return None,
                };
                Some(self.key(KeyCode(code)))
            })
            .collect()
    }

    /// Payloads sent but not acknowledged.
    pub(crate) fn unacked(&self) -> Vec<Bytes> {
        self.unacked.iter().map(|(_, b)| b.clone()).collect()
    }

    /// Handles a datagram from the server; returns what the phone sends back.
    pub(crate) fn receive(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        self.raw.push(Bytes::copy_from_slice(bytes));
        let d = Datagram::decode(bytes).expect("the server's datagram decodes");
        assert!(
            !d.has_malformed(),
            "malformed message from the server: {d:?}"
        );
        let seq = d.header.seq();
        let mut out = Vec::new();
        match d.header.packet_type() {
            PacketType::NAK => {
                if self.next_seq == RESET_SEQ {
                    // The start-up NAK names our first sequence number: re-send the hello with it.
                    self.next_seq = seq;
                    self.unacked.clear();
                    out.push(self.send(resume()));
                } else if let Some(i) = self.unacked.iter().position(|(s, _)| *s == seq) {
                    self.unacked.drain(..i);
                    out.extend(self.unacked.iter().map(|(_, b)| b.clone()));
                }
            }
            PacketType::ACK => {
                if let Some(i) = self.unacked.iter().position(|(s, _)| *s == seq) {
                    self.unacked.drain(..=i);
                }
            }
            _ => {
                let expect = *self.expect.get_or_insert(seq);
                if seq == expect {
                    out.push(self.ack(seq, false));
                    self.expect = Some(seq.wrapping_add(1));
                    for m in d.messages {
                        out.extend(self.answer(&m));
                        self.got.push(m.clone());
                        self.fresh.push(m);
                    }
                } else if seq.wrapping_sub(expect) > 0x8000_0000 {
                    out.push(self.ack(seq, false));
                } else {
                    out.push(self.ack(expect, true));
                }
            }
        }
        out
    }

    fn ack(&self, seq: u32, nak: bool) -> Bytes {
        Datagram::header_only(RudpHeader::phone_ack(seq, self.tid, nak)).encode()
    }

    /// What the phone answers to a server message.
    fn answer(&mut self, m: &Message) -> Vec<Bytes> {
        let mut replies = Vec::new();
        match m {
            Message::BasicSwitch(BasicSwitch::AssignTerminalId(t)) => self.tid = t.terminal_id,
            Message::BasicSwitch(BasicSwitch::QueryBasicManager(q)) if self.answer_queries => {
                let f = q.flags;
                // The order of startup frames 29-33: firmware, hardware id, IT type, product code.
                if f & QueryBasicManager::QUERY_FIRMWARE != 0 {
                    replies.push(Message::BasicPhone(BasicPhone::FirmwareVersion(
                        FirmwareVersion::new(self.firmware.into()),
                    )));
                }
                if f & QueryBasicManager::QUERY_HARDWARE_ID != 0 {
                    let mut id = vec![0x31, 0x38];
                    id.extend_from_slice(&self.mac);
                    id.extend_from_slice(&[0x00, 0x00]);
                    replies.push(Message::BasicPhone(BasicPhone::HardwareId(
                        HardwareId::new(Bytes::from(id)),
                    )));
                }
                if f & QueryBasicManager::QUERY_IT_TYPE != 0 {
                    replies.push(Message::BasicPhone(BasicPhone::ItType(ItTypeReport::new(
                        ItType(self.it_type),
                    ))));
                }
                if f & QueryBasicManager::QUERY_PRODUCT_CODE != 0 {
                    replies.push(Message::BasicPhone(BasicPhone::ProductEngineeringCode(
                        ProductEngineeringCode::new(self.product_code.into()),
                    )));
                }
            }
            Message::AudioSwitch(AudioSwitch::QueryAudioManager(q)) if q.flags & 1 != 0 => {
                replies.push(Message::AudioPhone(AudioPhone::AttributesInfo(
                    AudioAttributesInfo::new(1, Bytes::from(self.vocoders.clone())),
                )));
            }
            Message::AudioSwitch(AudioSwitch::OpenAudioStream(_)) => {
                replies.push(Message::AudioPhone(AudioPhone::OpenAudioStreamReport(
                    OpenAudioStreamReport::new(StreamResult::OPENED),
                )));
            }
            _ => {}
        }
        replies.into_iter().map(|m| self.send(m)).collect()
    }

    pub(crate) fn take(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.fresh)
    }
}

fn resume() -> Message {
    Message::NetworkPhone(NetworkPhone::ResumeConnection(Default::default()))
}

/// The texts written on the display (lines, softkeys, labels, context), in order.
pub(crate) fn texts(ms: &[Message]) -> Vec<String> {
    ms.iter()
        .filter_map(|m| match m {
            Message::DisplaySwitch(DisplaySwitch::DisplayWrite(DisplayWrite { text, .. })) => {
                Some(text.to_str_lossy().trim_end().to_owned())
            }
            _ => None,
        })
        .collect()
}

/// Whether any message matches.
pub(crate) fn has(ms: &[Message], f: impl Fn(&Message) -> bool) -> bool {
    ms.iter().any(f)
}
