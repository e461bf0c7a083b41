//! Typed SCCP message bodies, one family per file, and [`Message`], the enum of them all.
//!
//! Decoding is lenient: optional tails are read only if the body has room, unknown trailing bytes are
//! kept, and an id without a typed body here is kept raw as [`Message::Unknown`]. Encoding a decoded
//! message under the same [`Ctx`] reproduces its body byte for byte.

use bytes::{BufMut, Bytes, BytesMut};

use super::frame::RawFrame;
use super::{Ctx, MessageId};
use crate::fields::{Describe, Fields};
use crate::wire::{DecodeError, Reader};

pub mod call;
pub mod display;
pub mod features;
pub mod media;
pub mod registration;
pub mod status;

pub use call::*;
pub use display::*;
pub use features::*;
pub use media::*;
pub use registration::*;
pub use status::*;

super::macros::body! {
    /// A body with no fields (KeepAliveReq, CapabilitiesReq, ...): anything present is kept as trailing.
    Empty {}
}

/// A body that did not decode: the stream goes on, this one message is reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id}: {error}")]
pub struct BodyError {
    /// The message's id.
    pub id: MessageId,
    /// What was wrong.
    pub error: DecodeError,
}

macro_rules! messages {
    ($( $variant:ident($ty:ty) = $konst:ident, )*) => {
        /// A decoded SCCP message.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        #[allow(missing_docs)] // each variant is the message of the same name (see its body type)
        // Messages are decoded and sent one at a time; boxing the large bodies would cost an
        // allocation per message for no gain.
        #[allow(clippy::large_enum_variant)]
        pub enum Message {
            $( $variant($ty), )*
            /// A message with no typed body here (video, conferencing, QoS ...), kept as received.
            Unknown {
                /// Its id.
                id: MessageId,
                /// Its body.
                body: Bytes,
            },
        }

        impl Message {
            /// The message's id.
            pub fn id(&self) -> MessageId {
                match self {
                    $( Self::$variant(_) => MessageId::$konst, )*
                    Self::Unknown { id, .. } => *id,
                }
            }

            /// Decodes the body of a message with this id.
            ///
            /// # Errors
            ///
            /// [`BodyError`] when a required field is missing or impossible; the stream is unaffected.
            pub fn decode(id: MessageId, body: &Bytes, ctx: Ctx) -> Result<Self, BodyError> {
                let mut r = Reader::new(body);
                let decoded = match id {
                    $( MessageId::$konst => <$ty>::decode_body(&mut r, ctx).map(Self::$variant), )*
                    _ => return Ok(Self::Unknown { id, body: body.clone() }),
                };
                decoded.map_err(|error| BodyError { id, error })
            }

            /// Appends the body (without the header) to `out`.
            pub fn encode_body(&self, out: &mut BytesMut, ctx: Ctx) {
                match self {
                    $( Self::$variant(m) => m.encode_body(out, ctx), )*
                    Self::Unknown { body, .. } => out.put_slice(body),
                }
            }
        }

        impl Describe for Message {
            fn describe(&self, out: &mut Fields) {
                match self {
                    $( Self::$variant(m) => m.describe(out), )*
                    Self::Unknown { body, .. } => {
                        if !body.is_empty() {
                            out.push("body", body.to_vec());
                        }
                    }
                }
            }
        }
    };
}

messages! {
    // registration and management (registration.rs)
    KeepAliveReq(Empty) = KEEP_ALIVE_REQ,
    KeepAliveAck(Empty) = KEEP_ALIVE_ACK,
    RegisterReq(RegisterReq) = REGISTER_REQ,
    RegisterAck(RegisterAck) = REGISTER_ACK,
    RegisterReject(RegisterReject) = REGISTER_REJECT,
    UnregisterReq(UnregisterReq) = UNREGISTER_REQ,
    UnregisterAck(UnregisterAck) = UNREGISTER_ACK,
    IpPort(IpPort) = IP_PORT,
    CapabilitiesReq(Empty) = CAPABILITIES_REQ,
    CapabilitiesRes(CapabilitiesRes) = CAPABILITIES_RES,
    ButtonTemplateReq(ButtonTemplateReq) = BUTTON_TEMPLATE_REQ,
    ButtonTemplateRes(ButtonTemplateRes) = BUTTON_TEMPLATE_RES,
    SoftKeyTemplateReq(Empty) = SOFT_KEY_TEMPLATE_REQ,
    SoftKeyTemplateRes(SoftKeyTemplateRes) = SOFT_KEY_TEMPLATE_RES,
    SoftKeySetReq(Empty) = SOFT_KEY_SET_REQ,
    SoftKeySetRes(SoftKeySetRes) = SOFT_KEY_SET_RES,
    TimeDateReq(Empty) = TIME_DATE_REQ,
    TimeDateRes(TimeDateRes) = TIME_DATE_RES,
    VersionReq(Empty) = VERSION_REQ,
    VersionRes(VersionRes) = VERSION_RES,
    ServerReq(Empty) = SERVER_REQ,
    ServerRes(ServerRes) = SERVER_RES,
    Reset(Reset) = RESET,
    RegisterAvailableLines(RegisterAvailableLines) = REGISTER_AVAILABLE_LINES,
    Alarm(Alarm) = ALARM,
    EnhancedAlarm(EnhancedAlarm) = ENHANCED_ALARM,
    HeadsetStatus(HeadsetStatus) = HEADSET_STATUS,
    MediaResourceNotification(MediaResourceNotification) = MEDIA_RESOURCE_NOTIFICATION,
    RegisterTokenReq(RegisterTokenReq) = REGISTER_TOKEN_REQ,
    RegisterTokenAck(RegisterTokenAck) = REGISTER_TOKEN_ACK,
    RegisterTokenReject(RegisterTokenReject) = REGISTER_TOKEN_REJECT,
    UpdateCapabilities(Raw) = UPDATE_CAPABILITIES,
    // line, speed-dial, forward and configuration status (status.rs)
    LineStatReq(LineStatReq) = LINE_STAT_REQ,
    LineStatRes(LineStatRes) = LINE_STAT_RES,
    LineStatV2Res(LineStatV2Res) = LINE_STAT_V2_RES,
    SpeedDialStatReq(SpeedDialStatReq) = SPEED_DIAL_STAT_REQ,
    SpeedDialStatRes(SpeedDialStatRes) = SPEED_DIAL_STAT_RES,
    SpeedDialStatV2Res(SpeedDialStatV2Res) = SPEED_DIAL_STAT_V2_RES,
    ForwardStatReq(ForwardStatReq) = FORWARD_STAT_REQ,
    ForwardStatRes(ForwardStatRes) = FORWARD_STAT_RES,
    ConfigStatReq(Empty) = CONFIG_STAT_REQ,
    ConfigStatRes(ConfigStatRes) = CONFIG_STAT_RES,
    ConfigStatV2Res(ConfigStatV2Res) = CONFIG_STAT_V2_RES,
    // call control (call.rs)
    OffHook(OffHook) = OFF_HOOK,
    OnHook(OnHook) = ON_HOOK,
    HookFlash(HookFlash) = HOOK_FLASH,
    OffHookWithCallingPartyNumber(OffHookWithCallingPartyNumber) = OFF_HOOK_WITH_CALLING_PARTY_NUMBER,
    KeypadButton(KeypadButton) = KEYPAD_BUTTON,
    EnblocCall(EnblocCall) = ENBLOC_CALL,
    Stimulus(StimulusMsg) = STIMULUS,
    SoftKeyEvent(SoftKeyEventMsg) = SOFT_KEY_EVENT,
    MediaPathEvent(MediaPathEvent) = MEDIA_PATH_EVENT,
    MediaPathCapability(MediaPathCapability) = MEDIA_PATH_CAPABILITY,
    SetRinger(SetRinger) = SET_RINGER,
    SetLamp(SetLamp) = SET_LAMP,
    SetSpeakerMode(SetSpeakerMode) = SET_SPEAKER_MODE,
    SetMicroMode(SetMicroMode) = SET_MICRO_MODE,
    StartTone(StartTone) = START_TONE,
    StopTone(StopTone) = STOP_TONE,
    CallState(CallStateMsg) = CALL_STATE,
    CallInfo(CallInfo) = CALL_INFO,
    CallInfoV2(CallInfoV2) = CALL_INFO_V2,
    SelectSoftKeys(SelectSoftKeys) = SELECT_SOFT_KEYS,
    ActivateCallPlane(ActivateCallPlane) = ACTIVATE_CALL_PLANE,
    DeactivateCallPlane(Empty) = DEACTIVATE_CALL_PLANE,
    DialedNumber(DialedNumber) = DIALED_NUMBER,
    BackSpaceRes(BackSpaceRes) = BACK_SPACE_RES,
    CallHistoryInfo(CallHistoryInfo) = CALL_HISTORY_INFO,
    CallSelectStatRes(CallSelectStatRes) = CALL_SELECT_STAT_RES,
    ConnectionStatisticsReq(ConnectionStatisticsReq) = CONNECTION_STATISTICS_REQ,
    ConnectionStatisticsRes(ConnectionStatisticsRes) = CONNECTION_STATISTICS_RES,
    // display (display.rs)
    DisplayText(DisplayText) = DISPLAY_TEXT,
    ClearDisplay(Empty) = CLEAR_DISPLAY,
    DisplayPromptStatus(DisplayPromptStatus) = DISPLAY_PROMPT_STATUS,
    DisplayPromptStatusV2(DisplayPromptStatusV2) = DISPLAY_PROMPT_STATUS_V2,
    ClearPromptStatus(ClearPromptStatus) = CLEAR_PROMPT_STATUS,
    DisplayNotify(DisplayNotify) = DISPLAY_NOTIFY,
    DisplayNotifyV2(DisplayNotifyV2) = DISPLAY_NOTIFY_V2,
    ClearNotify(Empty) = CLEAR_NOTIFY,
    DisplayPriNotify(DisplayPriNotify) = DISPLAY_PRI_NOTIFY,
    DisplayPriNotifyV2(DisplayPriNotifyV2) = DISPLAY_PRI_NOTIFY_V2,
    ClearPriNotify(ClearPriNotify) = CLEAR_PRI_NOTIFY,
    UserToDeviceData(UserToDeviceData) = USER_TO_DEVICE_DATA,
    UserToDeviceDataVersion1(UserToDeviceDataVersion1) = USER_TO_DEVICE_DATA_VERSION1,
    DeviceToUserData(UserToDeviceData) = DEVICE_TO_USER_DATA,
    DeviceToUserDataResponse(UserToDeviceData) = DEVICE_TO_USER_DATA_RESPONSE,
    DeviceToUserDataVersion1(UserToDeviceDataVersion1) = DEVICE_TO_USER_DATA_VERSION1,
    DeviceToUserDataResponseVersion1(UserToDeviceDataVersion1) = DEVICE_TO_USER_DATA_RESPONSE_VERSION1,
    // media (media.rs)
    OpenReceiveChannel(OpenReceiveChannel) = OPEN_RECEIVE_CHANNEL,
    OpenReceiveChannelAck(OpenReceiveChannelAck) = OPEN_RECEIVE_CHANNEL_ACK,
    CloseReceiveChannel(CloseReceiveChannel) = CLOSE_RECEIVE_CHANNEL,
    StartMediaTransmission(StartMediaTransmission) = START_MEDIA_TRANSMISSION,
    StartMediaTransmissionAck(StartMediaTransmissionAck) = START_MEDIA_TRANSMISSION_ACK,
    StopMediaTransmission(StopMediaTransmission) = STOP_MEDIA_TRANSMISSION,
    MediaTransmissionFailure(MediaTransmissionFailure) = MEDIA_TRANSMISSION_FAILURE,
    StartMulticastMediaReception(StartMulticastMediaReception) = START_MULTICAST_MEDIA_RECEPTION,
    StartMulticastMediaTransmission(StartMulticastMediaTransmission) = START_MULTICAST_MEDIA_TRANSMISSION,
    StopMulticastMediaReception(StopMulticastMedia) = STOP_MULTICAST_MEDIA_RECEPTION,
    StopMulticastMediaTransmission(StopMulticastMedia) = STOP_MULTICAST_MEDIA_TRANSMISSION,
    PortReq(PortReq) = PORT_REQ,
    PortRes(PortRes) = PORT_RES,
    PortClose(PortClose) = PORT_CLOSE,
    NotifyDtmfTone(DtmfTone) = NOTIFY_DTMF_TONE,
    SendDtmfTone(DtmfTone) = SEND_DTMF_TONE,
    // features: MWI, feature and busy-lamp status, service URLs, subscriptions (features.rs)
    FeatureStatReq(FeatureStatReq) = FEATURE_STAT_REQ,
    FeatureStatRes(FeatureStatRes) = FEATURE_STAT_RES,
    FeatureStatV2Res(FeatureStatV2Res) = FEATURE_STAT_V2_RES,
    ServiceURLStatReq(ServiceUrlStatReq) = SERVICE_URL_STAT_REQ,
    ServiceURLStatRes(ServiceUrlStatRes) = SERVICE_URL_STAT_RES,
    ServiceURLStatV2Res(ServiceUrlStatV2Res) = SERVICE_URL_STAT_V2_RES,
    MwiNotification(MwiNotification) = MWI_NOTIFICATION,
    MwiRes(MwiRes) = MWI_RES,
    SubscriptionStatReq(SubscriptionStatReq) = SUBSCRIPTION_STAT_REQ,
    SubscriptionStatRes(SubscriptionStatRes) = SUBSCRIPTION_STAT_RES,
    Notification(Notification) = NOTIFICATION,
    CallCountReq(CallCountReq) = CALL_COUNT_REQ,
    CallCountResp(CallCountResp) = CALL_COUNT_RESP,
}

/// A body kept as bytes even though its id is known: messages Crossbar accepts and ignores whose layout
/// is large and of no use to a gateway (UpdateCapabilities with its video and data capabilities).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Raw(pub Bytes);

impl Raw {
    pub(crate) fn decode_body(r: &mut Reader<'_>, _: Ctx) -> Result<Self, DecodeError> {
        Ok(Self(crate::wire::bytes_of(r.rest())))
    }
    pub(crate) fn encode_body(&self, out: &mut BytesMut, _: Ctx) {
        out.put_slice(&self.0);
    }
}

impl Describe for Raw {
    fn describe(&self, out: &mut Fields) {
        out.push("length", self.0.len() as u64);
    }
}

impl Message {
    /// Decodes a framed message under `ctx`.
    ///
    /// # Errors
    ///
    /// [`BodyError`] when its body does not decode.
    pub fn from_frame(frame: &RawFrame, ctx: Ctx) -> Result<Self, BodyError> {
        Self::decode(frame.id, &frame.body, ctx)
    }

    /// The message as a frame, with the header version a sender uses under `ctx`
    /// ([`Ctx::header_version_for`]).
    pub fn to_frame(&self, ctx: Ctx) -> RawFrame {
        let id = self.id();
        self.to_frame_with_header(ctx.header_version_for(id), ctx)
    }

    /// The message as a frame with this header version.
    pub fn to_frame_with_header(&self, header_version: u32, ctx: Ctx) -> RawFrame {
        let mut body = BytesMut::new();
        self.encode_body(&mut body, ctx);
        RawFrame {
            header_version,
            id: self.id(),
            body: body.freeze(),
        }
    }

    /// Appends the whole frame (header and body) to `out`, with the header version a sender uses.
    pub fn encode_frame(&self, ctx: Ctx, out: &mut BytesMut) {
        let start = out.len();
        out.put_bytes(0, super::frame::HEADER_LEN);
        self.encode_body(out, ctx);
        let body_len = out
            .len()
            .saturating_sub(start)
            .saturating_sub(super::frame::HEADER_LEN);
        let length = u32::try_from(body_len)
            .unwrap_or(u32::MAX)
            .saturating_add(4);
        let mut header = [0u8; 12];
        let id = self.id();
        for (dst, src) in header.iter_mut().zip(
            length
                .to_le_bytes()
                .into_iter()
                .chain(ctx.header_version_for(id).to_le_bytes())
                .chain(id.0.to_le_bytes()),
        ) {
            *dst = src;
        }
        if let Some(slot) = out.get_mut(start..start.saturating_add(12)) {
            slot.copy_from_slice(&header);
        }
    }

    /// Wireshark's name for the message (or "Unknown").
    pub fn name(&self) -> &'static str {
        self.id().name().unwrap_or("Unknown")
    }
}
