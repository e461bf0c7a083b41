//! Decoding both directions of one SCCP connection from raw TCP bytes, for `crossbar decode`, capture
//! replay and the golden tests: framing per direction, the negotiated version learned from RegisterReq
//! and RegisterAck, and resynchronisation after bytes missing from a capture.

use bytes::BytesMut;

use super::frame::{self, FrameError, HEADER_LEN, RawFrame};
use super::{BodyError, Ctx, Message, MessageId, negotiate};

/// One side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The side that opened the connection (the phone, normally).
    Client,
    /// The side that accepted it (the call manager on port 2000).
    Server,
}

/// A frame cut from the stream with its decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Which side sent it.
    pub side: Side,
    /// The frame as received.
    pub raw: RawFrame,
    /// The context its body was decoded under.
    pub ctx: Ctx,
    /// The decoded body, or why it did not decode.
    pub message: Result<Message, BodyError>,
}

/// What [`Conversation::push`] found besides messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A decoded (or undecodable) message.
    Message(Box<Decoded>),
    /// The stream could not be framed from here on, until bytes are missing and it resynchronises.
    Unframeable {
        /// Which side.
        side: Side,
        /// Why.
        error: FrameError,
    },
}

/// The negotiated protocol version of a session, as far as it has been seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionTracker {
    phone_max: Option<u8>,
    server_max: Option<u8>,
}

impl VersionTracker {
    /// Takes note of a RegisterReq or RegisterAck.
    pub fn observe(&mut self, message: &Message) {
        match message {
            Message::RegisterReq(m) => self.phone_max = Some(m.protocol_version()),
            Message::RegisterAck(m) => self.server_max = Some(m.max_protocol_ver),
            _ => {}
        }
    }

    /// The negotiated version, once both sides' maxima are known.
    pub fn negotiated(&self) -> Option<u8> {
        Some(negotiate(self.phone_max?, self.server_max?))
    }

    /// The context for a received frame: its header version when that is set (what Wireshark uses), and
    /// the negotiated version otherwise (old phones send header version 0 throughout).
    pub fn ctx_for(&self, header_version: u32) -> Ctx {
        if header_version != 0 {
            Ctx::new(u8::try_from(header_version.min(u32::from(super::MAX_VERSION))).unwrap_or(0))
        } else {
            Ctx::new(self.negotiated().unwrap_or(0))
        }
    }
}

#[derive(Debug, Default)]
struct Direction {
    buf: BytesMut,
    unframeable: bool,
}

/// Both directions of one connection.
#[derive(Debug, Default)]
pub struct Conversation {
    version: VersionTracker,
    client: Direction,
    server: Direction,
}

impl Conversation {
    /// A connection seen from its start (or from wherever the bytes begin).
    pub fn new() -> Self {
        Self::default()
    }

    /// The version tracker.
    pub fn version(&self) -> &VersionTracker {
        &self.version
    }

    /// Adds bytes that arrived from `side`. `gap` is true when bytes before these are missing from the
    /// capture: what was buffered is dropped and framing restarts at these bytes if they start with a
    /// plausible header (Wireshark does the same), or at the next chunk that does.
    pub fn push(&mut self, side: Side, data: &[u8], gap: bool) -> Vec<Event> {
        let dir = match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        };
        if gap || dir.unframeable {
            dir.buf.clear();
            dir.unframeable = !looks_like_sccp(data);
            if dir.unframeable {
                return Vec::new();
            }
        }
        dir.buf.extend_from_slice(data);
        let mut events = Vec::new();
        loop {
            let dir = match side {
                Side::Client => &mut self.client,
                Side::Server => &mut self.server,
            };
            match frame::decode(&mut dir.buf) {
                Ok(Some(raw)) => {
                    let ctx = self.version.ctx_for(raw.header_version);
                    let message = Message::from_frame(&raw, ctx);
                    if let Ok(m) = &message {
                        self.version.observe(m);
                    }
                    events.push(Event::Message(Box::new(Decoded {
                        side,
                        raw,
                        ctx,
                        message,
                    })));
                }
                Ok(None) => break,
                Err(error) => {
                    dir.buf.clear();
                    dir.unframeable = true;
                    events.push(Event::Unframeable { side, error });
                    break;
                }
            }
        }
        events
    }
}

/// Whether bytes look like the start of an SCCP frame: a sane length, a header version Wireshark
/// accepts (0, 10, 11, 15–22) and a known message id. Used to find SCCP on ports other than 2000 and to
/// resynchronise after missing bytes.
pub fn looks_like_sccp(data: &[u8]) -> bool {
    let Some(header) = data.first_chunk::<HEADER_LEN>() else {
        return false;
    };
    let word = |i: usize| {
        header
            .get(i..i.saturating_add(4))
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    let version = word(4);
    frame::peek_length(data).is_ok_and(|l| l.is_some())
        && matches!(version, 0 | 10 | 11 | 15..=22)
        && MessageId(word(8)).name().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sccp::msg::{RegisterAck, RegisterReq, RegisterTail};

    #[test]
    fn version_is_learned_and_used() {
        let mut conv = Conversation::new();
        let reg = Message::RegisterReq(RegisterReq {
            device_name: "SEP001122334455".into(),
            tail: Some(RegisterTail {
                protocol_ver: 20,
                ..Default::default()
            }),
            ..Default::default()
        });
        let ack = Message::RegisterAck(RegisterAck {
            keep_alive_interval: 30,
            max_protocol_ver: 17,
            ..Default::default()
        });
        let mut bytes = BytesMut::new();
        reg.encode_frame(Ctx::new(0), &mut bytes);
        // Split the frame in two pushes: nothing comes out of the first.
        let (a, b) = bytes.split_at(7);
        assert!(conv.push(Side::Client, a, false).is_empty());
        assert_eq!(conv.push(Side::Client, b, false).len(), 1);
        let mut bytes = BytesMut::new();
        ack.encode_frame(Ctx::new(0), &mut bytes);
        conv.push(Side::Server, &bytes, false);
        assert_eq!(conv.version().negotiated(), Some(17));
        assert_eq!(conv.version().ctx_for(0), Ctx::new(17));
        assert_eq!(conv.version().ctx_for(0x14), Ctx::new(20));
    }

    #[test]
    fn garbage_is_unframeable_until_a_gap_resyncs() {
        let mut conv = Conversation::new();
        let events = conv.push(Side::Client, &[0xff; 16], false);
        assert!(matches!(events.as_slice(), [Event::Unframeable { .. }]));
        assert!(conv.push(Side::Client, &[1, 2, 3], false).is_empty());
        let mut ka = BytesMut::new();
        Message::KeepAliveReq(Default::default()).encode_frame(Ctx::new(0), &mut ka);
        assert_eq!(conv.push(Side::Client, &ka, true).len(), 1);
        assert!(looks_like_sccp(&ka));
        assert!(!looks_like_sccp(b"GET / HTTP/1.1\r\n"));
    }
}
