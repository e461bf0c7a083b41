//! SCCP ("Skinny"), the protocol of Cisco desk phones, on TCP port 2000.
//!
//! - [`frame`] cuts a byte stream into [`RawFrame`]s (12-byte header: length, header version, message id);
//!   only an impossible length is fatal to a stream.
//! - [`MessageId`] is the open table of all 171 message ids Wireshark knows, with names and directions.
//! - [`Message`] is the typed body of every message Crossbar handles (registration, call control,
//!   display, media, MWI, feature and busy-lamp status); everything else is kept raw as
//!   [`Message::Unknown`]. Decoding never rejects trailing bytes (newer firmware appends fields): they are
//!   kept in each body's `trailing`, so re-encoding reproduces the frame byte for byte.
//! - Layouts depend on the negotiated protocol version (in [`Ctx`]) and on the body length, never on the
//!   received header version alone: a 7960 keeps sending header version 0 after negotiating 11, and a
//!   7961 on 22 sends a legacy UpdateCapabilities body (`docs/protocols/sccp.md` §2.3).
//!
//! Sources: Wireshark's `tools/SkinnyProtocolOptimized.xml` (layouts per version), chan-sccp-b
//! `src/sccp_protocol.h` (sizes, phone quirks) and the captures in `shared/captures/sccp`; described in our
//! own words in `docs/protocols/sccp.md`.

pub mod enums;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod id;
mod macros;
pub mod msg;
pub mod stream;
pub mod types;

pub use enums::*;
pub use frame::{FrameError, RawFrame};
pub use id::{Direction, MessageId};
pub use msg::{BodyError, Message};

/// The protocol version this codec speaks up to.
pub const MAX_VERSION: u8 = 22;

/// What decoding and encoding a body depends on besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ctx {
    /// The negotiated protocol version (the lower of the phone's and the server's), or 0 before
    /// registration. It picks directory-number widths (24 or 25 bytes from 18) and IP address blocks
    /// (4 bytes, or type + 16 bytes from 17).
    pub version: u8,
}

impl Ctx {
    /// A context for this negotiated version.
    pub const fn new(version: u8) -> Self {
        Self { version }
    }

    /// The header version a sender puts on a message with this id: 0 on RegisterAck, KeepAliveAck and
    /// UnregisterAck and whenever the negotiated version is below 10; the negotiated version otherwise
    /// (what CUCM and CME do, `docs/protocols/sccp.md` §2.3).
    pub fn header_version_for(self, id: MessageId) -> u32 {
        let basic = matches!(
            id,
            MessageId::REGISTER_ACK | MessageId::KEEP_ALIVE_ACK | MessageId::UNREGISTER_ACK
        );
        if basic || self.version < 10 {
            0
        } else {
            u32::from(self.version)
        }
    }
}

/// A negotiated version: the lower of the two sides' maxima, capped at [`MAX_VERSION`].
pub fn negotiate(phone_max: u8, server_max: u8) -> u8 {
    phone_max.min(server_max).min(MAX_VERSION)
}
