//! The two display commands whose layout depends on flags: Display Data Write (0x17/0x18-0x1F), whose
//! command byte says which optional bytes follow, and Clear Field (0x17/0x0F), whose mask does.
//!
//! Layouts from unistim.md §3.3 (Display manager) and Wireshark's `display.h` masks; checked against the
//! startup capture frame 54 (`19 08` softkey 0 "  Ok   ", `19 02` context "Login", `19 04 00` line 0
//! "Username:") and the call capture (`1b 04 20 05 '8'`: line 1 position 0, control 0x05).

use bytes::{BufMut, BytesMut};

use crate::fields::{Fields, Value};
use crate::unistim::body::{Body, Field, Text, describe_trailing};
use crate::wire::{DecodeError, Reader, bytes_of};

/// Where a Display Data Write goes: the address byte and, for a text line or a soft label, the
/// position byte after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteAddress {
    /// Address flags: 0x01 numeric field, 0x02 context field, 0x04 text line, 0x08 softkey (id in 0xE0),
    /// 0x10 soft label (programmable-key label).
    pub field: u8,
    /// For a text line: character position (0x1F) + line number (0xE0); for a soft label: the label id
    /// (0x1F). Present exactly when `field` has 0x04 or 0x10 set.
    pub position: Option<u8>,
}

impl WriteAddress {
    /// Numeric field flag.
    pub const NUMERIC: u8 = 0x01;
    /// Context (info bar title) field flag.
    pub const CONTEXT: u8 = 0x02;
    /// Text line flag.
    pub const LINE: u8 = 0x04;
    /// Softkey flag.
    pub const SOFTKEY: u8 = 0x08;
    /// Soft label flag.
    pub const SOFT_LABEL: u8 = 0x10;

    /// Text line `line` (0-based), starting at character `position`.
    pub fn line(line: u8, position: u8) -> Self {
        Self {
            field: Self::LINE,
            position: Some((line << 5) | (position & 0x1f)),
        }
    }

    /// Softkey `id` (0-7).
    pub fn softkey(id: u8) -> Self {
        Self {
            field: Self::SOFTKEY | (id << 5),
            position: None,
        }
    }

    /// The label beside programmable key `id`.
    pub fn soft_label(id: u8) -> Self {
        Self {
            field: Self::SOFT_LABEL,
            position: Some(id & 0x1f),
        }
    }

    /// The context field (the info bar title).
    pub fn context() -> Self {
        Self {
            field: Self::CONTEXT,
            position: None,
        }
    }

    fn has_position(field: u8) -> bool {
        field & (Self::LINE | Self::SOFT_LABEL) != 0
    }
}

/// Display Data Write (0x17/0x18-0x1F): the command is 0x18 plus 1 if an address is present, 2 if a
/// control byte is and 4 if a tag is; then the address (and position), control and tag bytes that are
/// present, then the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayWrite {
    /// The address, if the command carries one.
    pub address: Option<WriteAddress>,
    /// Control: 0x01 cursor move, 0x02 clear left, 0x04 clear right, 0x08 shift left, 0x10 shift
    /// right, 0x20 highlight (chan_unistim writes lines with 0x05, inverse with 0x25).
    pub control: Option<u8>,
    /// The tag byte, if present.
    pub tag: Option<u8>,
    /// The text.
    pub text: Text,
}

impl DisplayWrite {
    /// Control flag: move the cursor.
    pub const CURSOR_MOVE: u8 = 0x01;
    /// Control flag: clear left of the text.
    pub const CLEAR_LEFT: u8 = 0x02;
    /// Control flag: clear right of the text.
    pub const CLEAR_RIGHT: u8 = 0x04;
    /// Control flag: highlight.
    pub const HIGHLIGHT: u8 = 0x20;

    /// Text at an address, without control or tag.
    pub fn new(address: WriteAddress, text: impl Into<Text>) -> Self {
        Self {
            address: Some(address),
            control: None,
            tag: None,
            text: text.into(),
        }
    }

    /// The same write with a control byte.
    pub fn with_control(mut self, control: u8) -> Self {
        self.control = Some(control);
        self
    }

    /// The command byte this write is sent with.
    pub fn command(&self) -> u8 {
        0x18 | u8::from(self.address.is_some())
            | (u8::from(self.control.is_some()) << 1)
            | (u8::from(self.tag.is_some()) << 2)
    }
}

impl Body for DisplayWrite {
    fn decode(command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let address = if command & 0x01 != 0 {
            let field = r.u8("write.address")?;
            let position = if WriteAddress::has_position(field) {
                Some(r.u8("display.write.address.char.pos")?)
            } else {
                None
            };
            Some(WriteAddress { field, position })
        } else {
            None
        };
        let control = if command & 0x02 != 0 {
            Some(r.u8("display.write.control")?)
        } else {
            None
        };
        let tag = if command & 0x04 != 0 {
            Some(r.u8("display.text.tag")?)
        } else {
            None
        };
        Ok(Self {
            address,
            control,
            tag,
            text: Text(bytes_of(r.rest())),
        })
    }

    fn encode(&self, out: &mut BytesMut) {
        if let Some(a) = self.address {
            out.put_u8(a.field);
            if let Some(p) = a.position {
                out.put_u8(p);
            }
        }
        if let Some(c) = self.control {
            out.put_u8(c);
        }
        if let Some(t) = self.tag {
            out.put_u8(t);
        }
        out.put_slice(self.text.as_bytes());
    }

    fn describe(&self, out: &mut Fields) {
        if let Some(a) = self.address {
            let f = a.field;
            out.push("write.address.numeric", f & 0x01)
                .push("write.address.context", (f >> 1) & 1)
                .push("write.address.line", (f >> 2) & 1)
                .push("write.address.softkey", (f >> 3) & 1)
                .push("write.address.softkey.label", (f >> 4) & 1);
            if f & WriteAddress::SOFTKEY != 0 {
                out.push("write.address.softkey.id", f >> 5);
            }
            if let Some(p) = a.position {
                out.push("display.write.address.char.pos", p & 0x1f);
                if f & WriteAddress::LINE != 0 {
                    out.push("write.address.line.number", p >> 5);
                }
            }
        }
        if let Some(c) = self.control {
            out.push("display.cursor.move", c & 0x01)
                .push("display.clear.left", (c >> 1) & 1)
                .push("display.clear.right", (c >> 2) & 1)
                .push("display.shift.left", (c >> 3) & 1)
                .push("display.shift.right", (c >> 4) & 1)
                .push("display.highlight", (c >> 5) & 1);
        }
        if let Some(t) = self.tag {
            out.push("display.text.tag", t);
        }
        out.push("generic.string_data", self.text.value());
    }

    fn command_override(&self) -> Option<u8> {
        Some(self.command())
    }
}

/// Clear Field (0x17/0x0F): a mask (0x01 numeric, 0x02 context, 0x04 date, 0x08 time, 0x10 line,
/// 0x20 status-bar icon, 0x40 softkey, 0x80 softkey label), then one bitmap byte for each of the last
/// four that is set, in that order. CS2K clears one line at a time (`0f 10 01`, `0f 10 02`, `0f 10 ff`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearField {
    /// The mask.
    pub mask: u8,
    /// Lines to clear (bit 0 = line 1 ... bit 7 = line 8); present when the mask has 0x10.
    pub lines: Option<u8>,
    /// Status bar icons to clear; present when the mask has 0x20.
    pub status_bar_icons: Option<u8>,
    /// Softkeys to clear; present when the mask has 0x40.
    pub softkeys: Option<u8>,
    /// Softkey label id (0x1F) and "all" (0x20); present when the mask has 0x80.
    pub softkey_label: Option<u8>,
    /// Bytes after the layout.
    pub trailing: bytes::Bytes,
}

impl ClearField {
    /// Clear text lines: bit 0 = the first line.
    pub fn lines(bitmap: u8) -> Self {
        Self {
            mask: 0x10,
            lines: Some(bitmap),
            status_bar_icons: None,
            softkeys: None,
            softkey_label: None,
            trailing: bytes::Bytes::new(),
        }
    }
}

const CLEAR_PARTS: [(u8, &str); 4] = [
    (0x10, "display.clear.line"),
    (0x20, "display.clear.sbar.icon"),
    (0x40, "display.clear.softkey"),
    (0x80, "display.clear.sk.label.id"),
];

impl Body for ClearField {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mask = r.u8("bit.fields")?;
        let mut parts = [None; 4];
        for (slot, (bit, name)) in parts.iter_mut().zip(CLEAR_PARTS) {
            if mask & bit != 0 {
                *slot = Some(r.u8(name)?);
            }
        }
        let [lines, status_bar_icons, softkeys, softkey_label] = parts;
        Ok(Self {
            mask,
            lines,
            status_bar_icons,
            softkeys,
            softkey_label,
            trailing: bytes_of(r.rest()),
        })
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.mask);
        for b in [
            self.lines,
            self.status_bar_icons,
            self.softkeys,
            self.softkey_label,
        ]
        .into_iter()
        .flatten()
        {
            out.put_u8(b);
        }
        out.put_slice(&self.trailing);
    }

    fn describe(&self, out: &mut Fields) {
        out.push("bit.fields", Value::U(u64::from(self.mask)));
        let values = [
            self.lines,
            self.status_bar_icons,
            self.softkeys,
            self.softkey_label,
        ];
        for (v, (_, name)) in values.into_iter().zip(CLEAR_PARTS) {
            if let Some(v) = v {
                out.push(name, v);
            }
        }
        describe_trailing(out, &self.trailing);
    }
}
