//! UNIStim, the protocol of Nortel/Avaya IP desk phones (i2002/i2004/i2007, 1120E/1140E/1150E/1165E,
//! 1220/1230), over its reliable-UDP layer on UDP port 5000.
//!
//! - [`RudpHeader`]: sequence number, NAK/ACK/payload, payload type and terminal id (unistim.md §2.2).
//! - [`Message`]: `[address][length][command][data]`, typed per manager and direction in [`msg`]
//!   (Basic, Network, Display, Key/Indicator, Audio, Broadcast, expansion modules), unknown commands
//!   kept raw (§3).
//! - [`Datagram`]: a header and the messages after it; `Datagram::decode(bytes)?.encode() == bytes`
//!   for every datagram that decodes.
//! - [`Endpoint`]: the sans-IO reliable-UDP endpoint a server keeps per phone (§2.3): start-up, ACKs,
//!   NAK/go-back-N, retransmission, keep-alives, reboot and loss detection.
//!
//! Facts come from Wireshark's UNIStim plugin (`plugins/epan/unistim/*.h`, its value tables via
//! `tshark -G values`), chan_unistim and the two public CS2K captures, as collected in
//! `docs/protocols/unistim.md`; no code is taken from either.

pub(crate) mod body;
pub mod endpoint;
#[doc(hidden)]
pub mod fuzzing;
pub mod msg;
pub mod rudp_hdr;
pub mod uftp;

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Describe, Fields, Value};
use crate::wire::{DecodeError, Reader, bytes_of};

pub use body::{Empty, Opaque, Text};
pub use endpoint::{Config, Endpoint, Event};
pub use msg::Message;
pub use rudp_hdr::{PacketType, PayloadType, RESET_SEQ, RudpHeader};
pub use uftp::{Uftp, UftpCommand};

/// One UDP datagram: the RUDP header and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The header.
    pub header: RudpHeader,
    /// The UNIStim messages (payload types 1, 2 and 0xFF; empty for ACK and NAK).
    pub messages: Vec<Message>,
    /// The file-transfer command of a UFTP payload (payload type 3).
    pub uftp: Option<Uftp>,
    /// Bytes after the header that are neither messages nor UFTP: extra bytes of an ACK/NAK, or the body
    /// of a NULL or unknown payload type. Empty in both captures.
    pub trailing: Bytes,
}

impl Datagram {
    /// A server payload (payload type 1) carrying `messages`.
    pub fn server_payload(seq: u32, messages: Vec<Message>) -> Self {
        Self {
            header: RudpHeader::server_payload(seq),
            messages,
            uftp: None,
            trailing: Bytes::new(),
        }
    }

    /// A datagram that is only a header (ACK or NAK).
    pub fn header_only(header: RudpHeader) -> Self {
        Self {
            header,
            messages: Vec::new(),
            uftp: None,
            trailing: Bytes::new(),
        }
    }

    /// Decodes a datagram. Message bodies that do not fit their layout come back as
    /// [`Message::Malformed`] / [`Message::Unframed`] inside an `Ok`.
    ///
    /// # Errors
    /// Only if the RUDP header itself is short or invalid (see [`RudpHeader`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = RudpHeader::decode(&mut r)?;
        let rest = r.rest();
        let mut d = Self::header_only(header);
        if !header.is_payload() {
            d.trailing = bytes_of(rest);
            return Ok(d);
        }
        match header.payload_type() {
            Some(
                PayloadType::UNISTIM
                | PayloadType::UNISTIM_WITH_TERMINAL_ID
                | PayloadType::FREE_FORM,
            ) => {
                d.messages.reserve(rest.len() / 6);
                msg::decode_messages(rest, &mut d.messages);
            }
            Some(PayloadType::UFTP) if !rest.is_empty() => d.uftp = Uftp::decode(rest),
            _ => d.trailing = bytes_of(rest),
        }
        Ok(d)
    }

    /// The datagram's bytes: identical to the bytes it was decoded from.
    ///
    /// # Panics
    /// If a message is longer than 255 bytes (see [`Message::encode`]).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len_hint());
        self.encode_into(&mut out);
        out.freeze()
    }

    /// Appends the datagram's bytes.
    ///
    /// # Panics
    /// As [`Datagram::encode`].
    pub fn encode_into(&self, out: &mut BytesMut) {
        self.header.encode(out);
        for m in &self.messages {
            m.encode(out);
        }
        if let Some(u) = &self.uftp {
            u.encode(out);
        }
        out.put_slice(&self.trailing);
    }

    fn encoded_len_hint(&self) -> usize {
        self.header
            .encoded_len()
            .saturating_add(self.messages.len().saturating_mul(16))
    }

    /// Whether the datagram holds a message that did not decode.
    pub fn has_malformed(&self) -> bool {
        self.messages
            .iter()
            .any(|m| matches!(m, Message::Malformed { .. } | Message::Unframed { .. }))
    }
}

impl Describe for Datagram {
    fn describe(&self, out: &mut Fields) {
        self.header.describe(out);
        if !self.messages.is_empty() {
            let list = self
                .messages
                .iter()
                .map(|m| Value::Group(Fields::of(m)))
                .collect::<Vec<_>>();
            out.push("messages", list);
        }
        if let Some(u) = &self.uftp {
            u.describe(out);
        }
        if !self.trailing.is_empty() {
            out.push("generic.data", self.trailing.to_vec());
        }
    }
}
