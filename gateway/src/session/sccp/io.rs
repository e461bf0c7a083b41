//! The session's vocabulary: its settings, the device as the inventory describes it, inputs, outputs,
//! errors.

use std::net::SocketAddr;
use std::time::Duration;

use codecs::sccp::{Message, MessageId};

use super::MAX_VERSION;
use crate::call::phone::{LineFeatures, MediaAction};
use crate::call::{CallRef, Dtmf, LineId, LineIdentity, UaCommand, UaEvent};

/// Settings shared by every session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The keepalive interval given in RegisterAck; a phone silent for twice this is dead.
    pub keepalive: Duration,
    /// The end-of-dialing silence.
    pub interdigit: Duration,
    /// The highest version offered (at most [`MAX_VERSION`]).
    pub max_version: u8,
    /// The name shown as the server in ConfigStat.
    pub server_name: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(30),
            interdigit: Duration::from_millis(4000),
            max_version: MAX_VERSION,
            server_name: "Crossbar".to_owned(),
        }
    }
}

/// One line of a registered device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineConfig {
    /// The line (1-based, line-key order).
    pub id: LineId,
    /// The SIP user behind it.
    pub identity: LineIdentity,
    /// Its key label.
    pub label: String,
    /// Its stored forwarding and do-not-disturb settings.
    pub features: LineFeatures,
}

/// A key of the device other than a line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyConfig {
    /// A line key (its [`LineConfig`] is in [`DeviceConfig::lines`]).
    Line(LineId),
    /// A speed dial.
    SpeedDial {
        /// The label.
        label: String,
        /// The number dialled.
        target: String,
    },
    /// A busy-lamp field (also a speed dial).
    Blf {
        /// The label.
        label: String,
        /// The watched extension, dialled when pressed.
        target: String,
    },
}

/// What the inventory knows of a device, as the session needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// `SEP<MAC>`.
    pub name: String,
    /// The lines.
    pub lines: Vec<LineConfig>,
    /// Every key in position order (lines included).
    pub keys: Vec<KeyConfig>,
    /// The user name shown in ConfigStat (the first line's display name).
    pub user_name: String,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The device is not in the inventory (RegisterReject sent).
    UnknownDevice,
    /// The device name is not `SEP` + 12 hex digits (RegisterReject sent).
    BadDeviceName,
    /// No Register in time.
    RegisterTimeout,
    /// No keepalive in time.
    KeepAliveTimeout,
    /// The phone unregistered.
    Unregistered,
    /// The phone was told to reset.
    Reset,
}

/// What the session is fed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Messages are fed one at a time and moved at once; boxing them would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum Input {
    /// A message from the phone, decoded under [`Session::ctx`](super::Session::ctx).
    FromPhone(Message),
    /// The answer to [`Output::Lookup`]: the device, or `None` when unknown.
    Lookup(Option<Box<DeviceConfig>>),
    /// A line user agent's report.
    Ua(UaEvent),
    /// The answer to [`MediaAction::Allocate`].
    MediaReady {
        /// The call.
        call: CallRef,
        /// The address for our SDP.
        local: SocketAddr,
        /// Where the phone sends RTP (`None`: to the far end, direct mode).
        phone_target: Option<SocketAddr>,
    },
    /// A key from the far end through the relay (RFC 4733).
    RemoteDtmf {
        /// The call.
        call: CallRef,
        /// The key.
        dtmf: Dtmf,
    },
    /// Reset the phone (its configuration changed).
    Reset,
    /// The deadline from [`Session::poll_timeout`](super::Session::poll_timeout) passed.
    Timeout,
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// As for Input: one message at a time, drained at once.
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Send to the phone, encoded under [`Session::ctx`](super::Session::ctx).
    ToPhone(Message),
    /// Look the device up in the inventory; answer with [`Input::Lookup`].
    Lookup {
        /// `SEP<MAC>`.
        name: String,
        /// Its MAC.
        mac: [u8; 6],
        /// The SCCP device type.
        device_type: u32,
        /// The firmware load it reported, if any.
        firmware: String,
    },
    /// The device registered: attach its lines to the user agents.
    Registered {
        /// The device name.
        name: String,
        /// Its lines.
        lines: Vec<(LineId, LineIdentity)>,
    },
    /// To the line user agents.
    Ua(UaCommand),
    /// The phone's codecs from its capabilities, preferred first: incoming offers are agreed
    /// against these (`DeviceUa::set_codecs`).
    Codecs(Vec<crate::call::Codec>),
    /// Media work for the driver (allocate, relay addresses, DTMF, release).
    Media(MediaAction),
    /// Store a line's changed features.
    Features {
        /// The line.
        line: LineId,
        /// Its features now.
        features: LineFeatures,
    },
    /// Close the connection (after sending what came before); detach the lines if registered.
    Close(CloseReason),
}

/// A message that was not handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A message that makes no sense in this state (logged at debug and ignored).
    #[error("{got:?} unexpected while {state}")]
    Unexpected {
        /// The state's name.
        state: &'static str,
        /// The message.
        got: MessageId,
    },
}
