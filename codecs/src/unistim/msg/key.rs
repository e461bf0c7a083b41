//! Key/Indicator manager (address 0x19 to the phone, 0x99 from it): key events, hook state, LEDs
//! (message waiting, speaker, headset, mute) and the icons beside the line keys.
//!
//! Command ids, names and the key-code table from Wireshark's `key.h`; layouts from unistim.md §3.3
//! "Key / Indicator manager", checked against the call capture (handsfree key `99 04 00 5f`, digits
//! `99 04 00 4x`, LED `19 04 00 09`, icon `19 05 0f 00 42`) and startup frame 55 (icon download,
//! user activity timer `0d 0f`).

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::Fields;
use crate::unistim::body::{Body, Empty, Opaque, describe_trailing, fixed, manager, open_u8};
use crate::wire::{DecodeError, Reader, bytes_of};

manager! {
    /// Key/Indicator manager commands sent by the server (WS `key_switch_msgs`).
    KeySwitch => "key.switch" {
        /// 0x00: set one LED.
        0x00 => LedUpdate(LedUpdate) = "LED Update",
        /// 0x01: ask for the hook state.
        0x01 => QueryHookswitch(Empty) = "Query Hookswitch",
        /// 0x02: stop the user activity timer.
        0x02 => UserActivityTimerStop(Empty) = "User Activity Timer Stop",
        /// 0x03: start the user activity timer.
        0x03 => UserActivityTimerStart(Empty) = "User Activity Timer Start",
        /// 0x04: free-form icons from the hard-coded set.
        0x04 => FreeFormIconAccessHardcoded(Empty) = "Downloadable Free Form Icon Access (Hardcoded)",
        /// 0x05: free-form icons from the downloaded set.
        0x05 => FreeFormIconAccessDownloadable(Empty) = "Downloadable Free Form Icon Access (Downloadable)",
        /// 0x06: query the manager (layout not published).
        0x06 => QueryKeyIndicatorManager(Opaque) = "Query Key/Indicator Manager",
        /// 0x07: key options.
        0x07 => KeyIndicatorOptions(KeyIndicatorOptions) = "Key/Indicator Manager Options",
        /// 0x08: map a logical icon.
        0x08 => LogicalIconMapping(LogicalIconMapping) = "Logical Icon Mapping",
        /// 0x09: key repeat timers.
        0x09 => KeyRepeatTimerDownload(KeyRepeatTimer) = "Key Repeat Timer Download",
        /// 0x0A: ask for an LED's state (7 = all).
        0x0a => QueryLedState(QueryLedState) = "Query LED State",
        /// 0x0B: ask for a phone icon's state.
        0x0b => QueryPhoneIconState(QueryPhoneIconState) = "Query Phone Icon State",
        /// 0x0C: (on, off) pairs of the downloadable indicator cadence.
        0x0c => IndicatorCadenceDownload(IndicatorCadence) = "Indicator Cadence Download",
        /// 0x0D: user activity timeout.
        0x0d => UserActivityTimerDownload(UserActivityTimer) = "User Activity Timer Download",
        /// 0x0E: download a free-form icon bitmap.
        0x0e => FreeFormIconDownload(FreeFormIconDownload) = "Free Form Icon Download",
        /// 0x0F: set the icon beside a programmable (line) key.
        0x0f => PhoneIconUpdate(PhoneIconUpdate) = "Phone Icon Update",
        /// 0xFF: reserved.
        0xff => Reserved(Opaque) = "Reserved",
    }
}

manager! {
    /// Key/Indicator manager commands sent by the phone (WS `key_phone_msgs`).
    KeyPhone => "key.phone" {
        /// 0x00: a key was pressed, released or repeated.
        0x00 => KeyEvent(KeyEvent) = "Key Event",
        /// 0x01: LED status (layout not published).
        0x01 => LedStatusReport(Opaque) = "LED Status Report",
        /// 0x03: the handset went on hook.
        0x03 => OnHook(Empty) = "On Hook",
        /// 0x04: the handset went off hook.
        0x04 => OffHook(Empty) = "Off Hook",
        /// 0x05: the user activity timer expired.
        0x05 => UserActivityTimerExpired(Empty) = "User Activity Timer Expired",
        /// 0x06: hookswitch state: on hook.
        0x06 => HookswitchOnHook(Empty) = "Hookswitch State (on hook)",
        /// 0x07: hookswitch state: off hook.
        0x07 => HookswitchOffHook(Empty) = "Hookswitch State (off hook)",
        /// 0x08: the keys this phone has.
        0x08 => AttributesInfo(KeyAttributesInfo) = "Key/Indicator Manager Attributes Info",
        /// 0x09: key options in force.
        0x09 => OptionsReport(KeyIndicatorOptions) = "Key/Indicator Manager Options Report",
        /// 0x0A: phone icon status (layout not published).
        0x0a => PhoneIconStatusReport(Opaque) = "Phone Icon Status Report",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

open_u8! {
    /// A key code: the low six bits of a Key Event (WS `key_names`).
    KeyCode {
        DIAL_0 = 0x00 => "Dial Pad 0",
        DIAL_1 = 0x01 => "Dial Pad 1",
        DIAL_2 = 0x02 => "Dial Pad 2",
        DIAL_3 = 0x03 => "Dial Pad 3",
        DIAL_4 = 0x04 => "Dial Pad 4",
        DIAL_5 = 0x05 => "Dial Pad 5",
        DIAL_6 = 0x06 => "Dial Pad 6",
        DIAL_7 = 0x07 => "Dial Pad 7",
        DIAL_8 = 0x08 => "Dial Pad 8",
        DIAL_9 = 0x09 => "Dial Pad 9",
        STAR = 0x0a => "Dial Pad *",
        POUND = 0x0b => "Dial Pad #",
        NAV_UP = 0x0c => "Navigation Up",
        NAV_DOWN = 0x0d => "Navigation Down",
        NAV_RIGHT = 0x0e => "Navigation Right",
        NAV_LEFT = 0x0f => "Navigation Left",
        QUIT = 0x10 => "Quit",
        COPY = 0x11 => "Copy",
        VOLUME_UP = 0x12 => "Volume Up",
        VOLUME_DOWN = 0x13 => "Volume Down",
        SOFTKEY_0 = 0x14 => "Soft Key 0",
        SOFTKEY_1 = 0x15 => "Soft Key 1",
        SOFTKEY_2 = 0x16 => "Soft Key 2",
        SOFTKEY_3 = 0x17 => "Soft Key 3",
        SUPERVISOR = 0x1a => "Supervisor Access Key",
        HOLD = 0x1b => "Hold",
        RELEASE = 0x1c => "Release",
        MUTE = 0x1d => "Mute",
        HEADSET = 0x1e => "Headset",
        HANDSFREE = 0x1f => "Handsfree",
        PROG_0 = 0x20 => "Prog Key 0",
        PROG_1 = 0x21 => "Prog Key 1",
        PROG_2 = 0x22 => "Prog Key 2",
        PROG_3 = 0x23 => "Prog Key 3",
        PROG_4 = 0x24 => "Prog Key 4",
        PROG_5 = 0x25 => "Prog Key 5",
        PROG_6 = 0x26 => "Prog Key 6",
        PROG_7 = 0x27 => "Prog Key 7",
        PROG_8 = 0x28 => "Prog Key 8",
        PROG_9 = 0x29 => "Prog Key 9",
        PROG_10 = 0x2a => "Prog Key 10",
        PROG_11 = 0x2b => "Prog Key 11",
        PROG_12 = 0x2c => "Prog Key 12",
        PROG_13 = 0x2d => "Prog Key 13",
        PROG_14 = 0x2e => "Prog Key 14",
        PROG_15 = 0x2f => "Prog Key 15",
        PROG_16 = 0x30 => "Prog Key 16",
        PROG_17 = 0x31 => "Prog Key 17",
        PROG_18 = 0x32 => "Prog Key 18",
        PROG_19 = 0x33 => "Prog Key 19",
        PROG_20 = 0x34 => "Prog Key 20",
        PROG_21 = 0x35 => "Prog Key 21",
        PROG_22 = 0x36 => "Prog Key 22",
        PROG_23 = 0x37 => "Prog Key 23",
        PROG_24 = 0x38 => "Prog Key 24",
        CONSPICUOUS_0 = 0x3b => "Conspicuous Key 0",
        CONSPICUOUS_1 = 0x3c => "Conspicuous Key 1",
        CONSPICUOUS_2 = 0x3d => "Conspicuous Key 2",
        CONSPICUOUS_3 = 0x3e => "Conspicuous Key 3",
        CONSPICUOUS_4 = 0x3f => "Conspicuous Key 4",
    }
}

impl KeyCode {
    /// The digit of a dial-pad key (`*` and `#` included), if it is one.
    pub fn dial_char(self) -> Option<char> {
        match self.0 {
            0x00..=0x09 => char::from_digit(u32::from(self.0), 10),
            0x0a => Some('*'),
            0x0b => Some('#'),
            _ => None,
        }
    }

    /// The programmable (line) key number 0-24, if it is one.
    pub fn programmable(self) -> Option<u8> {
        self.0.checked_sub(0x20).filter(|n| *n <= 24)
    }

    /// The softkey number 0-3, if it is one.
    pub fn softkey(self) -> Option<u8> {
        self.0.checked_sub(0x14).filter(|n| *n <= 3)
    }
}

open_u8! {
    /// What happened to the key: the top two bits of a Key Event (WS `key_cmds`).
    KeyAction {
        RELEASED = 0 => "Key Released",
        DEPRESSED = 1 => "Key Depressed",
        REPEATED = 2 => "Key Repeated",
    }
}

/// Key Event (0x99/0x00): one byte, action in 0xC0 and key code in 0x3F. `0x5F` = handsfree depressed
/// (call capture frame 2), `0x5C` = release depressed (CS2K hang-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// Released, depressed or repeated (two bits; only the low two bits are encoded).
    pub action: KeyAction,
    /// The key (six bits; only the low six bits are encoded).
    pub key: KeyCode,
    /// Bytes after the event byte.
    pub trailing: Bytes,
}

impl KeyEvent {
    /// A key-depressed event.
    pub fn pressed(key: KeyCode) -> Self {
        Self {
            action: KeyAction::DEPRESSED,
            key,
            trailing: Bytes::new(),
        }
    }

    /// The event byte.
    pub fn byte(&self) -> u8 {
        (self.action.0 << 6) | (self.key.0 & 0x3f)
    }
}

impl Body for KeyEvent {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = r.u8("key.name")?;
        Ok(Self {
            action: KeyAction(b >> 6),
            key: KeyCode(b & 0x3f),
            trailing: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.byte());
        out.put_slice(&self.trailing);
    }
    fn describe(&self, out: &mut Fields) {
        out.push("key.name", self.key)
            .push("key.action", self.action);
        describe_trailing(out, &self.trailing);
    }
}

open_u8! {
    /// Which LED (bits 0x18 of LED Update; WS `led_names`).
    LedId {
        MESSAGE_WAITING = 0 => "Message Waiting LED",
        HANDSFREE = 1 => "Handsfree or Supervisor Access* LED",
        HEADSET = 2 => "Headset LED",
        MUTE = 3 => "Mute LED",
    }
}

open_u8! {
    /// An LED cadence (bits 0x07 of LED Update; WS `led_cadences`).
    LedCadence {
        OFF = 0 => "Off",
        ON = 1 => "On",
        FLASH = 2 => "Flash",
        FLICKER = 3 => "Flicker",
                BLINK = 6 => "Blink",
        DOWNLOADED = 7 => "Downloadable cadence",
    }
}

/// LED Update (0x19/0x00): one byte, LED id in 0x18 and cadence in 0x07. The other bits are kept:
/// CS2K also sets 0x20 (`21`/`20` at answer and hang-up, call frames 62 and 94), which is not
/// documented. Message waiting on = `00 01`, off = `00 00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedUpdate {
    /// The LED (two bits).
    pub led: LedId,
    /// The cadence (three bits).
    pub cadence: LedCadence,
    /// The byte's other bits (0xE0), normally zero.
    pub other_bits: u8,
    /// Bytes after the LED byte.
    pub trailing: Bytes,
}

impl LedUpdate {
    /// Set `led` to `cadence`.
    pub fn new(led: LedId, cadence: LedCadence) -> Self {
        Self {
            led,
            cadence,
            other_bits: 0,
            trailing: Bytes::new(),
        }
    }

    /// The message-waiting lamp on or off.
    pub fn message_waiting(on: bool) -> Self {
        Self::new(
            LedId::MESSAGE_WAITING,
            if on { LedCadence::ON } else { LedCadence::OFF },
        )
    }

    /// The LED byte.
    pub fn byte(&self) -> u8 {
        (self.other_bits & 0xe0) | ((self.led.0 & 0x03) << 3) | (self.cadence.0 & 0x07)
    }
}

impl Body for LedUpdate {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = r.u8("key.led.id")?;
        Ok(Self {
            led: LedId((b >> 3) & 0x03),
            cadence: LedCadence(b & 0x07),
            other_bits: b & 0xe0,
            trailing: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.byte());
        out.put_slice(&self.trailing);
    }
    fn describe(&self, out: &mut Fields) {
        out.push("key.led.id", self.led)
            .push("key.led.cadence", self.cadence);
        if self.other_bits != 0 {
            out.push("bit.fields", self.other_bits);
        }
        describe_trailing(out, &self.trailing);
    }
}

fixed! {
    /// Key/Indicator Manager Options (0x19/0x07) and its report (0x99/0x09): 0x01 send key releases,
    /// 0x02 enable volume control, 0x08 conspicuous = programmable, 0x10 ACD supervisor control,
    /// 0x60 local keypad feedback (0 none, 1 click, 2 DTMF tone).
    KeyIndicatorOptions {
        /// The option bits.
        flags: u8 => "bit.fields",
    }
}

fixed! {
    /// Logical Icon Mapping (0x19/0x08): icon id with admin command (0xE0), then a 16-bit logical id.
    LogicalIconMapping {
        /// Icon id and admin command.
        icon: u8 => "key.icon.id",
        /// Logical icon id.
        logical_icon_id: u16 => "keys.logical.icon.id",
    }
}

fixed! {
    /// Key Repeat Timer Download (0x19/0x09): two timer values (chan_unistim `3E 0F`).
    KeyRepeatTimer {
        /// First timer.
        timer_one: u8 => "keys.repeat.time.one",
        /// Second timer.
        timer_two: u8 => "keys.repeat.time.two",
    }
}

fixed! {
    /// Query LED State (0x19/0x0A): the LED id (7 = all).
    QueryLedState {
        /// The LED.
        led_id: u8 => "keys.led.id",
    }
}

fixed! {
    /// Query Phone Icon State (0x19/0x0B): the icon id.
    QueryPhoneIconState {
        /// The icon.
        icon_id: u8 => "keys.phone.icon.id",
    }
}

fixed! {
    /// Indicator Cadence Download (0x19/0x0C): (on, off) time pairs.
    IndicatorCadence {
        /// The pairs as bytes.
        pairs: Bytes => "keys.cadence.on.time",
    }
}

fixed! {
    /// User Activity Timer Download (0x19/0x0D): the timeout (CS2K 15).
    UserActivityTimer {
        /// The timeout.
        timeout: u8 => "keys.user.timeout.value",
    }
}

fixed! {
    /// Free Form Icon Download (0x19/0x0E): icon id, then the bitmap (18 bytes from CS2K).
    FreeFormIconDownload {
        /// Icon id.
        icon_id: u8 => "key.icon.id",
        /// The bitmap.
        bitmap: Bytes => "generic.data",
    }
}

/// The state byte of an icon (Phone Icon Update, Status Bar Icon Update, Logical Icon Update): state in
/// 0x1F (0 I-Idle, 1 U-Idle, 2 I-Ring, 3 U-Ring, 4 I-Active, 5 U-Active, 6 I-Hold, 7 U-Hold ...) and
/// cadence in 0xE0 (0 off, 1 on, 2 flash, 3 flicker, 4 wink, 7 downloaded). CS2K: ringing `0x42`,
/// active `0x24`, none `0x00`.
pub mod icon {
    /// No icon.
    pub const NONE: u8 = 0x00;
    /// Steady "active" icon (CS2K at answer).
    pub const ACTIVE: u8 = 0x24;
    /// Flashing "ringing" icon.
    pub const RINGING: u8 = 0x42;
    /// Slowly blinking "hold" icon (chan_unistim).
    pub const HOLD: u8 = 0x66;
}

fixed! {
    /// Phone Icon Update (0x19/0x0F): the icon beside programmable key `icon_id`, and its state byte
    /// (see [`icon`]).
    PhoneIconUpdate {
        /// The key position.
        icon_id: u8 => "key.icon.id",
        /// State (0x1F) and cadence (0xE0).
        state: u8 => "icon.state",
    }
}

fixed! {
    /// Key/Indicator Manager Attributes Info (0x99/0x08): programmable keys (0x1F) and softkeys (0xE0);
    /// key flags (headset 0x01, mute 0x02, quit 0x04, copy 0x08, MWI lamp 0x10); navigation (0x03) and
    /// conspicuous (0x1C) keys.
    KeyAttributesInfo {
        /// Programmable keys and softkeys.
        keys: u8 => "num.prog.keys",
        /// Which fixed keys exist.
        flags: u8 => "bit.fields",
        /// Navigation and conspicuous keys.
        other_keys: u8 => "num.nav.keys",
    }
}
