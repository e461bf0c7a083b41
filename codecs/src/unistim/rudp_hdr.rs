//! The reliable-UDP header in front of every UNIStim datagram (unistim.md §2.2; Wireshark
//! `dissect_unistim`): a 32-bit big-endian sequence number, the packet type (NAK, ACK, payload), for a
//! payload the payload type and, for payload type 2 ("with terminal id", used by the phone), the
//! terminal id.
//!
//! ACK and NAK shapes seen on the wire: the server's are 6 bytes (`seq, 01|00, 00`), the phone's 10
//! (`seq, 01, 02, terminal id`) (both captures). A 5-byte ACK/NAK without the payload-type byte is also
//! accepted, since Wireshark reads only the first five.

use bytes::{BufMut, BytesMut};

use crate::fields::{Describe, Fields};
use crate::unistim::body::open_u8;
use crate::wire::{DecodeError, Reader};

/// The reserved sequence number: a phone opens a session with it, a server signals fail-over with it.
pub const RESET_SEQ: u32 = 0xffff_ffff;

open_u8! {
    /// RUDP packet type (WS `packet_names`).
    PacketType {
        NAK = 0 => "NAK",
        ACK = 1 => "ACK",
        PAYLOAD = 2 => "Payload",
    }
}

open_u8! {
    /// Payload type (WS `payload_names`): 1 from the server, 2 from the phone (with its terminal id),
    /// 3 file transfer.
    PayloadType {
        NULL = 0x00 => "NULL Protocol",
        UNISTIM = 0x01 => "Aggregate Unistim",
        UNISTIM_WITH_TERMINAL_ID = 0x02 => "Aggregate Unistim with Terminal ID",
        UFTP = 0x03 => "UFTP",
        FREE_FORM = 0xff => "Free Form Protocol",
    }
}

/// The RUDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RudpHeader {
    seq: u32,
    packet_type: PacketType,
    payload_type: Option<PayloadType>,
    terminal_id: Option<u32>,
}

impl RudpHeader {
    /// A server payload header (payload type 1).
    pub fn server_payload(seq: u32) -> Self {
        Self {
            seq,
            packet_type: PacketType::PAYLOAD,
            payload_type: Some(PayloadType::UNISTIM),
            terminal_id: None,
        }
    }

    /// A phone payload header (payload type 2 with the terminal id).
    pub fn phone_payload(seq: u32, terminal_id: u32) -> Self {
        Self {
            seq,
            packet_type: PacketType::PAYLOAD,
            payload_type: Some(PayloadType::UNISTIM_WITH_TERMINAL_ID),
            terminal_id: Some(terminal_id),
        }
    }

    /// The server's 6-byte ACK (`seq 01 00`) or NAK (`seq 00 00`).
    pub fn server_ack(seq: u32, nak: bool) -> Self {
        Self {
            seq,
            packet_type: if nak {
                PacketType::NAK
            } else {
                PacketType::ACK
            },
            payload_type: Some(PayloadType::NULL),
            terminal_id: None,
        }
    }

    /// The phone's 10-byte ACK (`seq 01 02 terminal-id`) or NAK.
    pub fn phone_ack(seq: u32, terminal_id: u32, nak: bool) -> Self {
        Self {
            seq,
            packet_type: if nak {
                PacketType::NAK
            } else {
                PacketType::ACK
            },
            payload_type: Some(PayloadType::UNISTIM_WITH_TERMINAL_ID),
            terminal_id: Some(terminal_id),
        }
    }

    /// A header from its parts; `terminal_id` is written only when `payload_type` is 2, and the payload
    /// type only when given.
    pub fn new(
        seq: u32,
        packet_type: PacketType,
        payload_type: Option<PayloadType>,
        terminal_id: Option<u32>,
    ) -> Self {
        let terminal_id = match payload_type {
            Some(PayloadType::UNISTIM_WITH_TERMINAL_ID) => Some(terminal_id.unwrap_or(RESET_SEQ)),
            _ => None,
        };
        Self {
            seq,
            packet_type,
            payload_type,
            terminal_id,
        }
    }

    /// The sequence number.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// NAK, ACK or payload.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// The payload type (for an ACK/NAK, the byte in the same place, if sent).
    pub fn payload_type(&self) -> Option<PayloadType> {
        self.payload_type
    }

    /// The terminal id (payload type 2 only; 0xFFFFFFFF before the server assigned one).
    pub fn terminal_id(&self) -> Option<u32> {
        self.terminal_id
    }

    /// Whether this is a payload.
    pub fn is_payload(&self) -> bool {
        self.packet_type == PacketType::PAYLOAD
    }

    /// The header's length on the wire.
    pub fn encoded_len(&self) -> usize {
        let tid = if self.terminal_id.is_some() { 4 } else { 0 };
        5usize
            .saturating_add(usize::from(self.payload_type.is_some()))
            .saturating_add(tid)
    }

    /// Reads the header.
    ///
    /// # Errors
    /// Short datagrams, an unknown packet type (Wireshark's heuristic rejects those as not UNIStim), a
    /// payload without its payload type, or payload type 2 without the four terminal-id bytes.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let seq = r.u32_be("num")?;
        let packet_type = PacketType(r.u8("type")?);
        let payload_type = match packet_type {
            PacketType::PAYLOAD => Some(PayloadType(r.u8("pay")?)),
            PacketType::ACK | PacketType::NAK => {
                if r.is_empty() {
                    None
                } else {
                    Some(PayloadType(r.u8("pay")?))
                }
            }
            other => {
                return Err(DecodeError::Invalid {
                    field: "type",
                    value: u64::from(other.0),
                });
            }
        };
        let terminal_id = match payload_type {
            Some(PayloadType::UNISTIM_WITH_TERMINAL_ID) => Some(r.u32_be("terminal.id")?),
            _ => None,
        };
        Ok(Self {
            seq,
            packet_type,
            payload_type,
            terminal_id,
        })
    }

    /// Appends the header.
    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.seq);
        out.put_u8(self.packet_type.0);
        if let Some(p) = self.payload_type {
            out.put_u8(p.0);
        }
        if let Some(t) = self.terminal_id {
            out.put_u32(t);
        }
    }
}

impl Describe for RudpHeader {
    fn describe(&self, out: &mut Fields) {
        out.push("num", self.seq).push("type", self.packet_type);
        if let Some(p) = self.payload_type {
            out.push("pay", p);
        }
        if let Some(t) = self.terminal_id {
            out.push("terminal.id", t);
        }
    }
}
