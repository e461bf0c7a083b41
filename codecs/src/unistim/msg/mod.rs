//! UNIStim messages: `[address][length][command][data]`, where the length counts the whole message
//! (address and length bytes included), several messages concatenated in one datagram (unistim.md
//! §3.1; Wireshark `dissect_unistim_message`).
//!
//! The address names the manager and the direction: bit 0x80 set = phone to server. Command tables differ
//! per direction (Basic 0x07 is Assign Terminal ID to the phone, Hardware ID from it), so decoding picks
//! the table from the address, as Wireshark does. A message whose body does not fit its command's layout
//! becomes [`Message::Malformed`] with its bytes, a tail that cannot be framed [`Message::Unframed`]: the
//! rest of the datagram is not lost and re-encoding still reproduces it.

pub mod audio;
pub mod audio_stream;
pub mod basic;
pub mod broadcast;
pub mod display;
pub mod display_write;
pub mod expansion;
pub mod key;
pub mod network;

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Describe, Fields, Value};
use crate::wire::{DecodeError, Reader, bytes_of};

use audio::{AudioPhone, AudioSwitch};
use basic::{BasicPhone, BasicSwitch};
use broadcast::BroadcastSwitch;
use display::{DisplayPhone, DisplaySwitch};
use expansion::{ExpansionPhone, ExpansionSwitch};
use key::{KeyPhone, KeySwitch};
use network::{NetworkPhone, NetworkSwitch};

/// Manager addresses (WS `command_address`). To the phone: 0x09-0x0E expansion modules 1-6, 0x11
/// broadcast, 0x16 audio, 0x17 display, 0x19 key/indicator, 0x1A basic, 0x1E network; the phone's own
/// messages carry the same address with 0x80 set.
pub mod address {
    /// Expansion module 1 (modules 2-6 follow at 0x0A-0x0E).
    pub const EXPANSION_SWITCH_1: u8 = 0x09;
    /// Broadcast manager.
    pub const BROADCAST_SWITCH: u8 = 0x11;
    /// Audio manager.
    pub const AUDIO_SWITCH: u8 = 0x16;
    /// Display manager.
    pub const DISPLAY_SWITCH: u8 = 0x17;
    /// Key/indicator manager.
    pub const KEY_SWITCH: u8 = 0x19;
    /// Basic manager.
    pub const BASIC_SWITCH: u8 = 0x1a;
    /// Network manager.
    pub const NETWORK_SWITCH: u8 = 0x1e;
    /// Expansion module 1, from the phone (modules 2-6 at 0x8A-0x8E).
    pub const EXPANSION_PHONE_1: u8 = 0x89;
    /// Broadcast manager, from the phone.
    pub const BROADCAST_PHONE: u8 = 0x91;
    /// Audio manager, from the phone.
    pub const AUDIO_PHONE: u8 = 0x96;
    /// Display manager, from the phone.
    pub const DISPLAY_PHONE: u8 = 0x97;
    /// Key/indicator manager, from the phone.
    pub const KEY_PHONE: u8 = 0x99;
    /// Basic manager, from the phone.
    pub const BASIC_PHONE: u8 = 0x9a;
    /// Network manager, from the phone.
    pub const NETWORK_PHONE: u8 = 0x9e;

    /// Wireshark's name for an address.
    pub fn name(address: u8) -> Option<&'static str> {
        Some(match address {
            0x09 => "Expansion Module-1 Manager Switch",
            0x0a => "Expansion Module-2 Manager Switch",
            0x0b => "Expansion Module-3 Manager Switch",
            0x0c => "Expansion Module-4 Manager Switch",
            0x0d => "Expansion Module-5 Manager Switch",
            0x0e => "Expansion Module-6 Manager Switch",
            0x10 => "Expansion Module Manager Phone",
            0x11 => "Broadcast Manager Switch",
            0x16 => "Audio Manager Switch",
            0x17 => "Display Manager Switch",
            0x19 => "Key/Indicator Manager Switch",
            0x1a => "Basic Manager Switch",
            0x1e => "Network Manager Switch",
            0x89 => "Expansion Module-1 Manager Phone",
            0x8a => "Expansion Module-2 Manager Phone",
            0x8b => "Expansion Module-3 Manager Phone",
            0x8c => "Expansion Module-4 Manager Phone",
            0x8d => "Expansion Module-5 Manager Phone",
            0x8e => "Expansion Module-6 Manager Phone",
            0x91 => "Broadcast Manager Phone",
            0x96 => "Audio Manager Phone",
            0x97 => "Display Manager Phone",
            0x99 => "Key/Indicator Manager Phone",
            0x9a => "Basic Manager Phone",
            0x9e => "Network Manager Phone",
            _ => return None,
        })
    }
}

/// One UNIStim message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// Basic manager, to the phone (0x1A).
    BasicSwitch(BasicSwitch),
    /// Basic manager, from the phone (0x9A).
    BasicPhone(BasicPhone),
    /// Broadcast manager, to the phone (0x11).
    BroadcastSwitch(BroadcastSwitch),
    /// Audio manager, to the phone (0x16).
    AudioSwitch(AudioSwitch),
    /// Audio manager, from the phone (0x96).
    AudioPhone(AudioPhone),
    /// Display manager, to the phone (0x17).
    DisplaySwitch(DisplaySwitch),
    /// Display manager, from the phone (0x97).
    DisplayPhone(DisplayPhone),
    /// Key/indicator manager, to the phone (0x19).
    KeySwitch(KeySwitch),
    /// Key/indicator manager, from the phone (0x99).
    KeyPhone(KeyPhone),
    /// Network manager, to the phone (0x1E).
    NetworkSwitch(NetworkSwitch),
    /// Network manager, from the phone (0x9E).
    NetworkPhone(NetworkPhone),
    /// An expansion module, to the phone (0x09-0x0E).
    ExpansionSwitch {
        /// Module number, 1-6 (address 0x08 + module).
        module: u8,
        /// The command.
        msg: ExpansionSwitch,
    },
    /// An expansion module, from the phone (0x89-0x8E).
    ExpansionPhone {
        /// Module number, 1-6 (address 0x88 + module).
        module: u8,
        /// The command.
        msg: ExpansionPhone,
    },
    /// A message to an address without a command table here (broadcast from the phone 0x91, 0x10,
    /// anything undocumented), kept as its bytes.
    Unknown {
        /// The address byte.
        address: u8,
        /// The command byte.
        command: u8,
        /// The data after the command byte.
        body: Bytes,
    },
    /// A well-framed message whose data does not fit its command's layout, kept as its bytes.
    Malformed {
        /// The address byte.
        address: u8,
        /// The command byte.
        command: u8,
        /// The data after the command byte.
        body: Bytes,
        /// Why the body did not decode.
        error: DecodeError,
    },
    /// The end of a datagram that cannot be framed as a message (length byte below 3, or beyond the
    /// datagram's end), kept as its bytes.
    Unframed {
        /// The remaining bytes.
        bytes: Bytes,
        /// Why they could not be framed.
        error: DecodeError,
    },
}

macro_rules! dispatch {
    ($self:ident, $m:ident => $e:expr, other => $o:expr) => {
        match $self {
            Message::BasicSwitch($m) => $e,
            Message::BasicPhone($m) => $e,
            Message::BroadcastSwitch($m) => $e,
            Message::AudioSwitch($m) => $e,
            Message::AudioPhone($m) => $e,
            Message::DisplaySwitch($m) => $e,
            Message::DisplayPhone($m) => $e,
            Message::KeySwitch($m) => $e,
            Message::KeyPhone($m) => $e,
            Message::NetworkSwitch($m) => $e,
            Message::NetworkPhone($m) => $e,
            Message::ExpansionSwitch { msg: $m, .. } => $e,
            Message::ExpansionPhone { msg: $m, .. } => $e,
            _ => $o,
        }
    };
}

macro_rules! from_table {
    ($($t:ident),*) => {
        $(impl From<$t> for Message {
            fn from(m: $t) -> Self {
                Self::$t(m)
            }
        })*
    };
}
from_table!(
    BasicSwitch,
    BasicPhone,
    BroadcastSwitch,
    AudioSwitch,
    AudioPhone,
    DisplaySwitch,
    DisplayPhone,
    KeySwitch,
    KeyPhone,
    NetworkSwitch,
    NetworkPhone
);

impl Message {
    /// The address byte.
    pub fn address(&self) -> u8 {
        match self {
            Self::BasicSwitch(_) => address::BASIC_SWITCH,
            Self::BasicPhone(_) => address::BASIC_PHONE,
            Self::BroadcastSwitch(_) => address::BROADCAST_SWITCH,
            Self::AudioSwitch(_) => address::AUDIO_SWITCH,
            Self::AudioPhone(_) => address::AUDIO_PHONE,
            Self::DisplaySwitch(_) => address::DISPLAY_SWITCH,
            Self::DisplayPhone(_) => address::DISPLAY_PHONE,
            Self::KeySwitch(_) => address::KEY_SWITCH,
            Self::KeyPhone(_) => address::KEY_PHONE,
            Self::NetworkSwitch(_) => address::NETWORK_SWITCH,
            Self::NetworkPhone(_) => address::NETWORK_PHONE,
            Self::ExpansionSwitch { module, .. } => 0x08u8.wrapping_add(*module),
            Self::ExpansionPhone { module, .. } => 0x88u8.wrapping_add(*module),
            Self::Unknown { address, .. } | Self::Malformed { address, .. } => *address,
            Self::Unframed { bytes, .. } => bytes.first().copied().unwrap_or(0),
        }
    }

    /// The command byte (for [`Message::Unframed`], the third byte if there is one).
    pub fn command(&self) -> u8 {
        dispatch!(self, m => m.command(), other => match self {
            Self::Unknown { command, .. } | Self::Malformed { command, .. } => *command,
            Self::Unframed { bytes, .. } => bytes.get(2).copied().unwrap_or(0),
            _ => 0,
        })
    }

    /// Wireshark's name for the command ("Display Data Write", "Key Event" ...); "Unknown",
    /// "Malformed" or "Unframed" for those variants.
    pub fn name(&self) -> &'static str {
        dispatch!(self, m => m.name(), other => match self {
            Self::Malformed { address, command, .. } => {
                command_name(*address, *command).unwrap_or("Malformed")
            }
            Self::Unframed { .. } => "Unframed",
            _ => "Unknown",
        })
    }

    /// The Wireshark field (minus `unistim.`) that carries the command byte for this message's address,
    /// e.g. `display.switch`; `None` where Wireshark shows the command only as data.
    pub fn command_field(&self) -> Option<&'static str> {
        command_field(self.address())
    }

    /// Whether the message travels from the phone to the server (address bit 0x80).
    pub fn from_phone(&self) -> bool {
        self.address() & 0x80 != 0
    }

    /// Decodes one message from `body` (the data after the command byte) of `address`/`command`; a body
    /// that does not fit gives [`Message::Malformed`].
    pub fn from_parts(address: u8, command: u8, body: &[u8]) -> Self {
        let typed = match address {
            address::BASIC_SWITCH => BasicSwitch::decode(command, body).map(Self::BasicSwitch),
            address::BASIC_PHONE => BasicPhone::decode(command, body).map(Self::BasicPhone),
            address::BROADCAST_SWITCH => {
                BroadcastSwitch::decode(command, body).map(Self::BroadcastSwitch)
            }
            address::AUDIO_SWITCH => AudioSwitch::decode(command, body).map(Self::AudioSwitch),
            address::AUDIO_PHONE => AudioPhone::decode(command, body).map(Self::AudioPhone),
            address::DISPLAY_SWITCH => {
                DisplaySwitch::decode(command, body).map(Self::DisplaySwitch)
            }
            address::DISPLAY_PHONE => DisplayPhone::decode(command, body).map(Self::DisplayPhone),
            address::KEY_SWITCH => KeySwitch::decode(command, body).map(Self::KeySwitch),
            address::KEY_PHONE => KeyPhone::decode(command, body).map(Self::KeyPhone),
            address::NETWORK_SWITCH => {
                NetworkSwitch::decode(command, body).map(Self::NetworkSwitch)
            }
            address::NETWORK_PHONE => NetworkPhone::decode(command, body).map(Self::NetworkPhone),
            0x09..=0x0e => {
                ExpansionSwitch::decode(command, body).map(|msg| Self::ExpansionSwitch {
                    module: address.wrapping_sub(0x08),
                    msg,
                })
            }
            0x89..=0x8e => ExpansionPhone::decode(command, body).map(|msg| Self::ExpansionPhone {
                module: address.wrapping_sub(0x88),
                msg,
            }),
            _ => Ok(Self::Unknown {
                address,
                command,
                body: bytes_of(body),
            }),
        };
        typed.unwrap_or_else(|error| Self::Malformed {
            address,
            command,
            body: bytes_of(body),
            error,
        })
    }

    /// Decodes exactly one whole message (address, length, command, data).
    ///
    /// # Errors
    /// If the bytes cannot be framed as one message, or hold more than one. A body that does not fit its
    /// command is not an error: it comes back as [`Message::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let n = frame_len(bytes)?;
        if n != bytes.len() {
            return Err(DecodeError::Invalid {
                field: "len",
                value: n as u64,
            });
        }
        Ok(Self::from_framed(bytes))
    }

    /// Decodes a message whose framing [`frame_len`] has checked.
    fn from_framed(bytes: &[u8]) -> Self {
        let mut r = Reader::new(bytes);
        let (Ok(address), Ok(_len), Ok(command)) = (r.u8("add"), r.u8("len"), r.u8("cmd")) else {
            return Self::Unframed {
                bytes: bytes_of(bytes),
                error: DecodeError::Short {
                    field: "len",
                    needed: 3,
                    left: bytes.len(),
                },
            };
        };
        Self::from_parts(address, command, r.rest())
    }

    /// The number of bytes [`Message::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let mut out = BytesMut::new();
        self.encode_unchecked(&mut out);
        out.len()
    }

    /// Appends the message's bytes.
    ///
    /// # Panics
    /// If a framed message is longer than 255 bytes, which its one-byte length cannot express (API
    /// misuse: every decoded message fits; check [`Message::encoded_len`] before building long texts).
    /// [`Message::Unframed`] bytes are written as they are, whatever their length.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        self.encode_unchecked(out);
        let len = out.len().saturating_sub(start);
        let framed = !matches!(self, Self::Unframed { .. });
        assert!(
            !framed || len <= 255,
            "UNIStim message of {len} bytes exceeds the one-byte length"
        );
    }

    fn encode_unchecked(&self, out: &mut BytesMut) {
        if let Self::Unframed { bytes, .. } = self {
            out.put_slice(bytes);
            return;
        }
        let start = out.len();
        out.put_u8(self.address());
        out.put_u8(0);
        out.put_u8(self.command());
        dispatch!(self, m => m.encode_body(out), other => match self {
            Self::Unknown { body, .. } | Self::Malformed { body, .. } => out.put_slice(body),
            _ => {}
        });
        let len = u8::try_from(out.len().saturating_sub(start)).unwrap_or(u8::MAX);
        if let Some(slot) = out.get_mut(start.saturating_add(1)) {
            *slot = len;
        }
    }

    /// The message's bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

/// The length of the message at the start of `rest`, checked against the bytes there.
pub(crate) fn frame_len(rest: &[u8]) -> Result<usize, DecodeError> {
    let len = *rest.get(1).ok_or(DecodeError::Short {
        field: "len",
        needed: 2,
        left: rest.len(),
    })?;
    if len < 3 {
        return Err(DecodeError::Invalid {
            field: "len",
            value: u64::from(len),
        });
    }
    let len = usize::from(len);
    if len > rest.len() {
        return Err(DecodeError::Short {
            field: "len",
            needed: len,
            left: rest.len(),
        });
    }
    Ok(len)
}

/// Splits a payload into messages, appending them to `out`.
pub(crate) fn decode_messages(buf: &[u8], out: &mut Vec<Message>) {
    let mut rest = buf;
    while !rest.is_empty() {
        match frame_len(rest) {
            Ok(n) => {
                let (msg, tail) = rest.split_at(n);
                out.push(Message::from_framed(msg));
                rest = tail;
            }
            Err(error) => {
                out.push(Message::Unframed {
                    bytes: bytes_of(rest),
                    error,
                });
                return;
            }
        }
    }
}

/// The Wireshark field carrying the command byte for `address` (see [`Message::command_field`]).
pub fn command_field(address: u8) -> Option<&'static str> {
    Some(match address {
        address::BASIC_SWITCH => BasicSwitch::COMMAND_FIELD,
        address::BASIC_PHONE => BasicPhone::COMMAND_FIELD,
        address::BROADCAST_SWITCH => BroadcastSwitch::COMMAND_FIELD,
        address::AUDIO_SWITCH => AudioSwitch::COMMAND_FIELD,
        address::AUDIO_PHONE => AudioPhone::COMMAND_FIELD,
        address::DISPLAY_SWITCH => DisplaySwitch::COMMAND_FIELD,
        address::DISPLAY_PHONE => DisplayPhone::COMMAND_FIELD,
        address::KEY_SWITCH => KeySwitch::COMMAND_FIELD,
        address::KEY_PHONE => KeyPhone::COMMAND_FIELD,
        address::NETWORK_SWITCH => NetworkSwitch::COMMAND_FIELD,
        address::NETWORK_PHONE => NetworkPhone::COMMAND_FIELD,
        0x09..=0x0e => ExpansionSwitch::COMMAND_FIELD,
        0x89..=0x8e => ExpansionPhone::COMMAND_FIELD,
        _ => return None,
    })
}

/// Wireshark's name for a command of an address, if both are known.
pub fn command_name(address: u8, command: u8) -> Option<&'static str> {
    match address {
        address::BASIC_SWITCH => BasicSwitch::name_of(command),
        address::BASIC_PHONE => BasicPhone::name_of(command),
        address::BROADCAST_SWITCH => BroadcastSwitch::name_of(command),
        address::AUDIO_SWITCH => AudioSwitch::name_of(command),
        address::AUDIO_PHONE => AudioPhone::name_of(command),
        address::DISPLAY_SWITCH => DisplaySwitch::name_of(command),
        address::DISPLAY_PHONE => DisplayPhone::name_of(command),
        address::KEY_SWITCH => KeySwitch::name_of(command),
        address::KEY_PHONE => KeyPhone::name_of(command),
        address::NETWORK_SWITCH => NetworkSwitch::name_of(command),
        address::NETWORK_PHONE => NetworkPhone::name_of(command),
        0x09..=0x0e => ExpansionSwitch::name_of(command),
        0x89..=0x8e => ExpansionPhone::name_of(command),
        _ => None,
    }
}

impl Describe for Message {
    fn describe(&self, out: &mut Fields) {
        let address = self.address();
        out.push_enum("add", u64::from(address), address::name(address));
        let command = Value::Enum(
            u64::from(self.command()),
            command_name(address, self.command()),
        );
        match self {
            Self::Unframed { bytes, error } => {
                out.push("generic.data", bytes.to_vec())
                    .push("error", error.to_string());
            }
            Self::Unknown { body, .. } => {
                out.push(self.command_field().unwrap_or("cmd"), command)
                    .push("generic.data", body.to_vec());
            }
            Self::Malformed { body, error, .. } => {
                out.push(self.command_field().unwrap_or("cmd"), command)
                    .push("generic.data", body.to_vec())
                    .push("error", error.to_string());
            }
            _ => {
                out.push(self.command_field().unwrap_or("cmd"), command);
                dispatch!(self, m => m.describe(out), other => ());
            }
        }
    }
}
