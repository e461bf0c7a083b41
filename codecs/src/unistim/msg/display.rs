//! Display manager (address 0x17 to the phone, 0x97 from it): text lines, softkey labels, the context
//! field, date/time, cursor and contrast.
//!
//! Command ids and names from Wireshark's `display.h`; layouts from unistim.md §3.3 "Display manager",
//! checked against both captures (softkeys "Ok/Clear/Bkspc" and "Username:" in startup frame 54,
//! digit echo `17 07 1b 04 2n 05 d` in call frames 11-29). Data Write and Clear Field live in
//! [`write`](super::display_write).

use bytes::Bytes;

use super::display_write::{ClearField, DisplayWrite};
use crate::unistim::body::{Empty, Opaque, Text, fixed, manager};

manager! {
    /// Display manager commands sent by the server (WS `display_switch_msgs`).
    DisplaySwitch => "display.switch" {
        /// 0x01: back to the default character table.
        0x01 => RestoreDefaultCharacterTable(Empty) = "Restore Default Character Table Configuration",
        /// 0x04: show an arrow.
        0x04 => Arrow(Arrow) = "Arrow",
        /// 0x05: query a status bar icon (layout not published).
        0x05 => QueryStatusBarIcon(Opaque) = "Query Status Bar Icon",
        /// 0x06: highlight off.
        0x06 => HighlightOff(Empty) = "Highlight Off",
        /// 0x07: highlight on.
        0x07 => HighlightOn(Empty) = "Highlight On",
        /// 0x09: show the date and time again (startup frame 55).
        0x09 => RestoreTimeAndDate(Empty) = "Restore Time and Date",
        /// 0x0A: hide the date and time.
        0x0a => ClearTimeAndDate(Empty) = "Clear Time and Date",
        /// 0x0B: start, stop or reset the call duration timer.
        0x0b => CallDurationTimer(CallDurationTimer) = "Call Duration Timer",
        /// 0x0C: query the display manager (layout not published).
        0x0c => QueryDisplayManager(Opaque) = "Query Display Manager",
        /// 0x0D: call duration timer delay (layout not published).
        0x0d => DownloadCallDurationTimerDelay(Opaque) = "Download Call Duration Timer Delay",
        /// 0x0E: disable a display field (layout not published).
        0x0e => DisableDisplayField(Opaque) = "Disable Display Field",
        /// 0x0F: clear fields, lines, icons or softkeys.
        0x0f => ClearField(ClearField) = "Clear Field",
        /// 0x10: move, show or hide the cursor.
        0x10 => CursorControl(CursorControl) = "Cursor Control",
        /// 0x12: scroll, text before.
        0x12 => ScrollWithDataBefore(Text) = "Display Scroll with Data (before)",
        /// 0x13: scroll, text after.
        0x13 => ScrollWithDataAfter(Text) = "Display Scroll with Data (after)",
        /// 0x14: set one status bar icon.
        0x14 => StatusBarIconUpdate(StatusBarIconUpdate) = "Status Bar Icon Update",
        /// 0x15: month names, three characters each ("MayJun", startup frame 55).
        0x15 => MonthLabelsDownload(Text) = "Month Labels Download",
        /// 0x16: the call duration timer's label.
        0x16 => CallDurationTimerLabel(Text) = "Call Duration Timer Label Download",
        /// 0x17: time and date format.
        0x17 => TimeAndDateFormat(TimeAndDateFormat) = "Time and Date Format",
        /// 0x18-0x1F: write text to a line, softkey, soft label, context or numeric field.
        0x18 ..= 0x1f => DisplayWrite(DisplayWrite) = "Display Data Write",
        /// 0x20: context info bar format.
        0x20 => ContextInfoBarFormat(ContextInfoBarFormat) = "Context Info Bar Format",
        /// 0x21: character table configuration (ISO 2022 escapes in chan_unistim; layout not published).
        0x21 => SetDefaultCharacterTable(Opaque) = "Set Default Character Table Configuration",
        /// 0x22: download a character bitmap (startup frame 53).
        0x22 => SpecialCharacterDownload(SpecialCharacterDownload) = "Special Character Download",
        /// 0x23: define a highlighted field.
        0x23 => HighlightedFieldDefinition(HighlightedFieldDefinition) = "Highlighted Field Definition",
        /// 0x24: contrast level.
        0x24 => Contrast(Contrast) = "Contrast",
        /// 0x25: caller log entry.
        0x25 => CallerLogDownload(CallerLogDownload) = "Caller Log Download",
        /// 0x30: text of one softkey layer.
        0x30 => LayeredSoftkeyTextDownload(LayeredSoftkeyText) = "Layered Softkey Text Download",
        /// 0x31: clear a softkey layer.
        0x31 => LayeredSoftkeyClear(SoftkeyLayer) = "Layered Softkey Clear",
        /// 0x32: show a softkey layer.
        0x32 => SetVisibleSoftkeyLayer(SoftkeyLayer) = "Set Visible Softkey Layer",
        /// 0x33: cadence of softkey layers.
        0x33 => LayeredSoftkeyCadenceDownload(LayeredSoftkeyCadence) = "Layered Softkey Cadence Download",
        /// 0x34: start layer cadencing.
        0x34 => LayeredSoftkeyCadencingOn(SoftkeyId) = "Layered Softkey Cadencing On",
        /// 0x35: stop layer cadencing.
        0x35 => LayeredSoftkeyCadencingOff(SoftkeyId) = "Layered Softkey Cadencing Off",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

manager! {
    /// Display manager commands sent by the phone (WS `display_phone_msgs`).
    DisplayPhone => "display.phone" {
        /// 0x00: the display's geometry.
        0x00 => AttributesInfo(DisplayAttributesInfo) = "Display Manager Attributes Info",
        /// 0x01: contrast level.
        0x01 => ContrastLevelReport(Contrast) = "Contrast Level Report",
        /// 0x02: where the cursor is.
        0x02 => CursorLocationReport(CursorLocationReport) = "Cursor Location Report",
        /// 0x03: highlight status on (layout as Highlighted Field Definition, kept raw).
        0x03 => HighlightStatusOn(Opaque) = "Highlight Status On",
        /// 0x04: current character table (layout not published).
        0x04 => CurrentCharacterTableStatus(Opaque) = "Current Character Table Configuration Status",
        /// 0x05: default character table (layout not published).
        0x05 => DefaultCharacterTableStatus(Opaque) = "Default Character Table Configuration Status",
        /// 0x06: time and date format in force.
        0x06 => TimeAndDateFormatReport(TimeAndDateFormat) = "Timer And Date Format Report",
        /// 0x07: one status bar icon's state.
        0x07 => StatusBarIconStateReport(StatusBarIconUpdate) = "Status Bar Icon State Report",
        /// 0x0A: highlight status off.
        0x0a => HighlightStatusOff(Empty) = "Highlight Status Off",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

fixed! {
    /// Arrow (0x17/0x04): 0 down, 1 up, 2 right, 3 left.
    Arrow {
        /// The direction.
        direction: u8 => "arrow.direction",
    }
}

fixed! {
    /// Call Duration Timer (0x17/0x0B): flags 0x01 mode, 0x02 reset, 0x04 display, 0x08 delay, then the
    /// timer id (0x3F). chan_unistim starts with `05 00` and stops with `02 00`.
    CallDurationTimer {
        /// The flags.
        flags: u8 => "bit.fields",
        /// The timer id.
        timer_id: u8 => "display.call.timer.id",
    }
}

fixed! {
    /// Cursor Control (0x17/0x10): a movement byte (command in 0x0F: 0 home, 1 to an address, 2/3 left or
    /// right by one, 4/5 by n, 6 on, 7 off; 0x80 blink) and its arguments: for command 1 an address
    /// byte and a position byte as in Display Data Write (`10 81 04 20`, call frame 11).
    CursorControl {
        /// The movement byte.
        movement: u8 => "cursor.move.cmd",
        /// The argument bytes.
        args: Bytes => "generic.data",
    }
}

impl CursorControl {
    /// Move the cursor to a text line position (movement 1), optionally blinking.
    pub fn to_line(line: u8, position: u8, blink: bool) -> Self {
        let movement = if blink { 0x81 } else { 0x01 };
        let pos = (line << 5) | (position & 0x1f);
        Self::new(movement, Bytes::copy_from_slice(&[0x04, pos]))
    }
}

fixed! {
    /// Status Bar Icon Update (0x17/0x14) and the phone's Status Bar Icon State Report (0x97/0x07): icon id
    /// (0x1F), then the state (0x1F) with the cadence (0xE0).
    StatusBarIconUpdate {
        /// The icon id.
        icon_id: u8 => "icon.id",
        /// State in the low five bits, cadence in the top three.
        state: u8 => "icon.state",
    }
}

fixed! {
    /// Time and Date Format (0x17/0x17, report 0x97/0x06): time format 0x03 (0 12-hour, 1 French,
    /// 2 24-hour), date format 0x0C, 0x10 use the time format, 0x20 use the date format (CS2K `36`).
    TimeAndDateFormat {
        /// The format byte.
        format: u8 => "bit.fields",
    }
}

fixed! {
    /// Context Info Bar Format (0x17/0x20): one byte per field, format in 0x0F and field in 0x30.
    ContextInfoBarFormat {
        /// The format bytes.
        formats: Bytes => "display.context.format",
    }
}

fixed! {
    /// Special Character Download (0x17/0x22): the character's address, then its bitmap.
    SpecialCharacterDownload {
        /// Character address.
        char_address: u8 => "display.char.address",
        /// Bitmap bytes.
        bitmap: Bytes => "generic.data",
    }
}

fixed! {
    /// Highlighted Field Definition (0x17/0x23): field flags, start and end positions, then an optional
    /// position/line byte and further data.
    HighlightedFieldDefinition {
        /// Field flags (numeric 0x01, context 0x02, text line 0x04, softkey 0x08, softkey id 0xE0).
        field: u8 => "bit.fields",
        /// First highlighted position.
        start: u8 => "hilite.start.pos",
        /// Last highlighted position.
        end: u8 => "hilite.end.pos",
        /// The rest (position/line byte when the field is a text line).
        rest: Bytes => "generic.data",
    }
}

fixed! {
    /// Contrast (0x17/0x24) and Contrast Level Report (0x97/0x01): the level (chan_unistim 0-15).
    Contrast {
        /// The level.
        level: u8 => "phone.contrast.level",
    }
}

fixed! {
    /// Caller Log Download (0x17/0x25): hour, minute, then the entry.
    CallerLogDownload {
        /// Hour.
        hour: u8 => "broadcast.hour",
        /// Minute.
        minute: u8 => "broadcast.minute",
        /// The entry.
        data: Bytes => "generic.data",
    }
}

fixed! {
    /// Layered Softkey Text Download (0x17/0x30): softkey id, layer, text.
    LayeredSoftkeyText {
        /// Softkey id (0x07).
        softkey_id: u8 => "layer.softkey.id",
        /// Layer number.
        layer: u8 => "softkey.layer.num",
        /// The label.
        text: Text => "generic.string_data",
    }
}

fixed! {
    /// Layered Softkey Clear (0x17/0x31) and Set Visible Softkey Layer (0x17/0x32): softkey id (0x80 = all
    /// softkeys), layer.
    SoftkeyLayer {
        /// Softkey id (0x07) and the all-softkeys bit (0x80).
        softkey_id: u8 => "layer.softkey.id",
        /// Layer number.
        layer: u8 => "softkey.layer.num",
    }
}

fixed! {
    /// Layered Softkey Cadence Download (0x17/0x33): softkey id with once/cyclic (0x80), then
    /// (layer, duration in 20 ms steps) pairs.
    LayeredSoftkeyCadence {
        /// Softkey id and once/cyclic bit.
        softkey_id: u8 => "layer.softkey.id",
        /// The (layer, duration) pairs as bytes.
        steps: Bytes => "generic.data",
    }
}

fixed! {
    /// Layered Softkey Cadencing On/Off (0x17/0x34, 0x35): the softkey id.
    SoftkeyId {
        /// Softkey id.
        softkey_id: u8 => "layer.softkey.id",
    }
}

fixed! {
    /// Display Manager Attributes Info (0x97/0x00): six bytes of geometry.
    DisplayAttributesInfo {
        /// Line width (0x1F) and number of lines (0xE0).
        lines: u8 => "line.width",
        /// Softkey width (0x0F), number of softkeys (0x70), icon type (0x80).
        softkeys: u8 => "softkey.width",
        /// Soft-label key width (0x0F), context width (0xF0).
        labels: u8 => "softlabel.key.width",
        /// Numeric (0x03), time (0x1C) and date (0xE0) widths.
        widths: u8 => "numeric.width",
        /// Downloadable characters (0x0F), free-form icons (0x70), icon types (0x80).
        downloads: u8 => "number.dload.chars",
        /// Character sets (0x0F).
        charsets: u8 => "phone.charsets",
    }
}

impl DisplayAttributesInfo {
    /// Characters per text line.
    pub fn line_width(&self) -> u8 {
        self.lines & 0x1f
    }
    /// Number of text lines.
    pub fn number_of_lines(&self) -> u8 {
        self.lines >> 5
    }
    /// Number of softkeys.
    pub fn number_of_softkeys(&self) -> u8 {
        (self.softkeys >> 4) & 0x07
    }
}

fixed! {
    /// Cursor Location Report (0x97/0x02): field flags, then position (0x1F) and line (0xE0).
    CursorLocationReport {
        /// Field flags.
        field: u8 => "bit.fields",
        /// Position and line.
        position: u8 => "phone.char.pos",
    }
}
