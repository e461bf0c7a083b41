//! Broadcast manager (address 0x11, server to phone): date and time, logical icons, character tables.
//!
//! Command ids and names from Wireshark's `broadcast.h`; layouts from unistim.md §3.3 "Broadcast
//! manager"; Time and Date Download checked against startup frame 55 (`11 09 02 57 05 09 0f 0d 04`:
//! year byte 0x57 in 2007, 9 May, 15:13:04).

use crate::unistim::body::{Empty, Opaque, fixed, manager};

manager! {
    /// Broadcast manager commands sent by the server (WS `broadcast_switch_msgs`).
    BroadcastSwitch => "broadcast.switch" {
        /// 0x00: accessory sync update.
        0x00 => AccessorySyncUpdate(Empty) = "Accessory Sync Update",
        /// 0x01: a logical icon's state and cadence.
        0x01 => LogicalIconUpdate(LogicalIconUpdate) = "Logical Icon Update",
        /// 0x02: the date and time the phone shows.
        0x02 => TimeAndDateDownload(TimeAndDate) = "Time and Date Download",
        /// 0x03: character table configuration (layout not published).
        0x03 => SetDefaultCharacterTable(Opaque) = "Set Default Character Table Config",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

fixed! {
    /// Logical Icon Update (0x11/0x01): state (0x1F) and cadence (0xE0).
    LogicalIconUpdate {
        /// State and cadence.
        state: u8 => "icon.state",
    }
}

fixed! {
    /// Time and Date Download (0x11/0x02): year (low seven bits; CS2K sent 0x57 in 2007, chan_unistim a
    /// fixed byte), month, day, hour, minute, second.
    TimeAndDate {
        /// Year byte.
        year: u8 => "broadcast.year",
        /// Month, 1-12.
        month: u8 => "broadcast.month",
        /// Day of the month.
        day: u8 => "broadcast.day",
        /// Hour, 0-23.
        hour: u8 => "broadcast.hour",
        /// Minute.
        minute: u8 => "broadcast.minute",
        /// Second.
        second: u8 => "broadcast.second",
    }
}
