//! Basic manager (address 0x1A to the phone, 0x9A from it): identification and the terminal id.
//!
//! Command ids and names are those of Wireshark's `basic.h` tables; layouts are described in
//! unistim.md §3.3 "Basic manager" and checked against the startup capture (frames 19-46).

use bytes::Bytes;

use crate::unistim::body::{Empty, Opaque, Text, fixed, manager, open_u8};

manager! {
    /// Basic manager commands sent by the server (WS `basic_switch_msgs`).
    BasicSwitch => "basic.switch" {
        /// 0x01: ask the phone for the items flagged (attributes, firmware, hardware id ...).
        0x01 => QueryBasicManager(QueryBasicManager) = "Query Basic Manager",
        /// 0x02: set the basic manager's options (the secure bit).
        0x02 => BasicManagerOptions(BasicManagerOptions) = "Basic Manager Options",
        /// 0x06: write an EEPROM element.
        0x06 => EepromWrite(EepromWrite) = "EEprom Write",
        /// 0x07: assign the terminal id every later phone datagram carries.
        0x07 => AssignTerminalId(AssignTerminalId) = "Assign Terminal ID",
        /// 0x08: an encapsulated command (layout not published).
        0x08 => EncapsulateCommand(Opaque) = "Encapsulate Command",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

manager! {
    /// Basic manager commands sent by the phone (WS `basic_phone_msgs`).
    BasicPhone => "basic.phone" {
        /// 0x00: EEPROM checksums.
        0x00 => AttributesInfo(BasicAttributesInfo) = "Basic Manager Attributes Info",
        /// 0x01: the options in force (secure bit).
        0x01 => OptionsReport(BasicOptionsReport) = "Basic Manager Options Report",
        /// 0x02: firmware version, ASCII (`0625C1B` from an 1140E, startup capture frame 30).
        0x02 => FirmwareVersion(FirmwareVersion) = "Firmware Version",
        /// 0x03: the phone type.
        0x03 => ItType(ItTypeReport) = "IT Type",
        /// 0x07: hardware id; bytes 2-7 are the MAC (frame 21).
        0x07 => HardwareId(HardwareId) = "Hardware ID",
        /// 0x08: product engineering code, ASCII (`NTYS05AA`, frame 33).
        0x08 => ProductEngineeringCode(ProductEngineeringCode) = "Product Engineering Code",
        /// 0x09: grey market information (layout not published).
        0x09 => GreyMarketInfo(Opaque) = "Grey Market Info",
        /// 0x0A: an encapsulated command (layout not published).
        0x0a => EncapsulateCommand(Opaque) = "Encapsulate Command",
        /// 0x0B: why the phone last reset: three bytes, then ASCII text (frame 29).
        0x0b => StartupReason(StartupReason) = "Startup reason",
        /// 0x11: the phone's Ethernet address (frame 46).
        0x11 => EthernetAddress(EthernetAddress) = "Phone Ethernet Address",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

fixed! {
    /// Query Basic Manager (0x1A/0x01): one flag byte, see the `QUERY_*` consts. CS2K sends `0x08`
    /// (hardware id) and later `0x5C` (startup capture frames 19, 25).
    QueryBasicManager {
        /// The items asked for.
        flags: u8 => "basic.query",
    }
}

impl QueryBasicManager {
    /// Attributes (EEPROM checksums).
    pub const QUERY_ATTRIBUTES: u8 = 0x01;
    /// Options.
    pub const QUERY_OPTIONS: u8 = 0x02;
    /// Firmware version.
    pub const QUERY_FIRMWARE: u8 = 0x04;
    /// Hardware id (carries the MAC).
    pub const QUERY_HARDWARE_ID: u8 = 0x08;
    /// IT (phone) type.
    pub const QUERY_IT_TYPE: u8 = 0x10;
    /// Product engineering code.
    pub const QUERY_PRODUCT_CODE: u8 = 0x40;
    /// Grey market information.
    pub const QUERY_GREY_MARKET: u8 = 0x80;
}

fixed! {
    /// Basic Manager Options (0x1A/0x02): bit 0x01 = secure.
    BasicManagerOptions {
        /// The option bits.
        flags: u8 => "basic.secure",
    }
}

fixed! {
    /// EEPROM Write (0x1A/0x06): element id, then the element's data.
    EepromWrite {
        /// Which element.
        element_id: u8 => "basic.element.id",
        /// The data written.
        data: Bytes => "basic.eeprom.data",
    }
}

fixed! {
    /// Assign Terminal ID (0x1A/0x07): four bytes, big-endian. CS2K assigned 0xD3 (startup frame 24)
    /// and 0x106; the phone then carries it in every payload it sends (payload type 2).
    AssignTerminalId {
        /// The terminal id.
        terminal_id: u32 => "switch.terminal.id",
    }
}

fixed! {
    /// Basic Manager Attributes Info (0x9A/0x00): three EEPROM checksums.
    BasicAttributesInfo {
        /// Static area checksum.
        static_checksum: u8 => "static.cksum",
        /// Dynamic area checksum.
        dynamic_checksum: u8 => "dynam.cksum",
        /// Network configuration checksum.
        net_config_checksum: u8 => "netconfig.cksum",
    }
}

fixed! {
    /// Basic Manager Options Report (0x9A/0x01): bit 0x01 = secure.
    BasicOptionsReport {
        /// The option bits.
        flags: u8 => "basic.secure",
    }
}

fixed! {
    /// Firmware Version (0x9A/0x02): the version as ASCII, e.g. `0625C1B`.
    FirmwareVersion {
        /// The version text.
        version: Text => "basic.fw.ver",
    }
}

open_u8! {
    /// The IT (phone) type a phone reports in Basic 0x03 (WS `it_types`; an 1140E reports 0x02).
    ItType {
        I2004 = 0x02 => "i2004",
        I2002 = 0x03 => "i2002 Basic Etherset",
        POLYCOM_2033 = 0x04 => "Nortel Conference phone 2033 (polycom)",
        JUNIPER_7308 = 0x10 => "Juniper 7308",
        I2050 = 0x11 => "i2050 Softphone",
        MERIDIAN_M6350 = 0x30 => "Meridian M6350",
    }
}

fixed! {
    /// IT Type (0x9A/0x03): the phone type.
    ItTypeReport {
        /// The type.
        it_type: ItType => "it.type",
    }
}

fixed! {
    /// Hardware ID (0x9A/0x07): opaque bytes; from an 1140E ten bytes, `31 38` + the 6-byte MAC + two
    /// more (startup frame 21). chan_unistim takes the MAC from bytes 2-7 the same way.
    HardwareId {
        /// The id as sent.
        id: Bytes => "basic.hw.id",
    }
}

impl HardwareId {
    /// The MAC address inside the id (bytes 2-7), if the id is long enough.
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.id.get(2..8).and_then(|m| <[u8; 6]>::try_from(m).ok())
    }
}

fixed! {
    /// Product Engineering Code (0x9A/0x08): ASCII, e.g. `NTYS05AA` for an 1140E.
    ProductEngineeringCode {
        /// The code.
        code: Text => "basic.eng.code",
    }
}

fixed! {
    /// Startup reason (0x9A/0x0B, not in the Nortel document Wireshark used): three bytes, then ASCII
    /// text such as "Last reset reason is 0" (startup frame 29: `01 01 00` + text).
    StartupReason {
        /// The three leading bytes.
        code: [u8; 3] => "generic.data",
        /// The text.
        text: Text => "generic.string_data",
    }
}

fixed! {
    /// Phone Ethernet Address (0x9A/0x11): the MAC.
    EthernetAddress {
        /// The MAC address.
        mac: [u8; 6] => "phone.ether",
    }
}
