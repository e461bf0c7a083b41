//! Key expansion modules (addresses 0x09-0x0E to modules 1-6, 0x89-0x8E from them).
//!
//! Command ids and names from Wireshark's `expansion.h`; layouts from unistim.md §3.3 "Expansion
//! modules", checked against startup frame 55 (`09 05 57 1a 80 00`... label writes and icon updates to
//! modules 1 and 2).

use crate::unistim::body::{Empty, Text, fixed, manager};

manager! {
    /// Expansion module commands sent by the server (WS `expansion_switch_msgs`).
    ExpansionSwitch => "expansion.switch" {
        /// 0x17: the next Display Write is for the expansion module.
        0x17 => NextDisplayWrite(Empty) = "Next Display/Write command regards expansion module",
        /// 0x57: write a key label.
        0x57 => DisplayDataWrite(ExpansionWrite) = "Display Data Write",
        /// 0x59: set a key's icon.
        0x59 => IconUpdate(ExpansionIconUpdate) = "Icon Update",
    }
}

manager! {
    /// Expansion module commands sent by the phone (WS `expansion_phone_msgs`).
    ExpansionPhone => "expansion.phone" {
        /// 0x59: a module key was pressed.
        0x59 => KeyPressed(ExpansionKey) = "Expansion Key Pressed",
    }
}

fixed! {
    /// Expansion Display Data Write (0x57): one undescribed byte, the label number, the text.
    ExpansionWrite {
        /// The first byte (Wireshark skips it).
        unknown: u8 => "generic.data",
        /// Label number.
        label: u8 => "expansion.label.number",
        /// The text (chan_unistim writes 10 characters).
        text: Text => "generic.string_data",
    }
}

fixed! {
    /// Expansion Icon Update (0x59 to the module): one undescribed byte, label number, icon state.
    ExpansionIconUpdate {
        /// The first byte (Wireshark skips it).
        unknown: u8 => "generic.data",
        /// Label number.
        label: u8 => "expansion.label.number",
        /// Icon state and cadence.
        state: u8 => "icon.state",
    }
}

fixed! {
    /// Expansion Key Pressed (0x59 from the module): the key number is the byte minus 64.
    ExpansionKey {
        /// The raw key byte.
        key: u8 => "module.key.number",
    }
}
