//! The open table of SCCP message ids: every id Wireshark's skinny dissector knows (171, `tshark -G values`
//! field `skinny.messageId`), with its name and the direction it travels in (the `direction` attribute of
//! each message in Wireshark's `tools/SkinnyProtocolOptimized.xml`, corrected where captures show otherwise:
//! StartMediaTransmissionAck, EnhancedAlarm and CallCountResp come from phones). Messages between the call
//! manager and its media resources (conference bridges, MTPs) are [`Direction::Both`]. Ids not in the
//! table are kept as they are.

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Phone ("device") to call manager: to Crossbar.
    DevToCm,
    /// Call manager to phone: from Crossbar.
    CmToDev,
    /// Either way, or between a call manager and its media resources.
    Both,
}

macro_rules! message_ids {
    ($($value:literal $konst:ident $name:literal $dir:ident,)*) => {
        /// An SCCP message id. `Debug` prints its name, or the number in hex if it is unknown.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct MessageId(pub u32);

        impl MessageId {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($value), ")")]
                pub const $konst: Self = Self($value);
            )*

            /// Every id in the table, in numeric order.
            pub const ALL: &'static [Self] = &[$(Self::$konst),*];

            /// Wireshark's name for the id, if it is a known one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($name),)*
                    _ => None,
                }
            }

            /// The direction the id travels in, if it is a known one.
            pub const fn direction(self) -> Option<Direction> {
                match self.0 {
                    $($value => Some(Direction::$dir),)*
                    _ => None,
                }
            }
        }
    };
}

message_ids! {
    0x0000 KEEP_ALIVE_REQ "KeepAliveReq" DevToCm,
    0x0001 REGISTER_REQ "RegisterReq" DevToCm,
    0x0002 IP_PORT "IpPort" DevToCm,
    0x0003 KEYPAD_BUTTON "KeypadButton" DevToCm,
    0x0004 ENBLOC_CALL "EnblocCall" DevToCm,
    0x0005 STIMULUS "Stimulus" DevToCm,
    0x0006 OFF_HOOK "OffHook" DevToCm,
    0x0007 ON_HOOK "OnHook" DevToCm,
    0x0008 HOOK_FLASH "HookFlash" DevToCm,
    0x0009 FORWARD_STAT_REQ "ForwardStatReq" DevToCm,
    0x000A SPEED_DIAL_STAT_REQ "SpeedDialStatReq" DevToCm,
    0x000B LINE_STAT_REQ "LineStatReq" DevToCm,
    0x000C CONFIG_STAT_REQ "ConfigStatReq" DevToCm,
    0x000D TIME_DATE_REQ "TimeDateReq" DevToCm,
    0x000E BUTTON_TEMPLATE_REQ "ButtonTemplateReq" DevToCm,
    0x000F VERSION_REQ "VersionReq" DevToCm,
    0x0010 CAPABILITIES_RES "CapabilitiesRes" DevToCm,
    0x0012 SERVER_REQ "ServerReq" DevToCm,
    0x0020 ALARM "Alarm" DevToCm,
    0x0021 MULTICAST_MEDIA_RECEPTION_ACK "MulticastMediaReceptionAck" DevToCm,
    0x0022 OPEN_RECEIVE_CHANNEL_ACK "OpenReceiveChannelAck" DevToCm,
    0x0023 CONNECTION_STATISTICS_RES "ConnectionStatisticsRes" DevToCm,
    0x0024 OFF_HOOK_WITH_CALLING_PARTY_NUMBER "OffHookWithCallingPartyNumber" DevToCm,
    0x0025 SOFT_KEY_SET_REQ "SoftKeySetReq" DevToCm,
    0x0026 SOFT_KEY_EVENT "SoftKeyEvent" DevToCm,
    0x0027 UNREGISTER_REQ "UnregisterReq" DevToCm,
    0x0028 SOFT_KEY_TEMPLATE_REQ "SoftKeyTemplateReq" DevToCm,
    0x0029 REGISTER_TOKEN_REQ "RegisterTokenReq" DevToCm,
    0x002A MEDIA_TRANSMISSION_FAILURE "MediaTransmissionFailure" DevToCm,
    0x002B HEADSET_STATUS "HeadsetStatus" DevToCm,
    0x002C MEDIA_RESOURCE_NOTIFICATION "MediaResourceNotification" DevToCm,
    0x002D REGISTER_AVAILABLE_LINES "RegisterAvailableLines" DevToCm,
    0x002E DEVICE_TO_USER_DATA "DeviceToUserData" DevToCm,
    0x002F DEVICE_TO_USER_DATA_RESPONSE "DeviceToUserDataResponse" DevToCm,
    0x0030 UPDATE_CAPABILITIES "UpdateCapabilities" DevToCm,
    0x0031 OPEN_MULTI_MEDIA_RECEIVE_CHANNEL_ACK "OpenMultiMediaReceiveChannelAck" DevToCm,
    0x0032 CLEAR_CONFERENCE "ClearConference" DevToCm,
    0x0033 SERVICE_URL_STAT_REQ "ServiceURLStatReq" DevToCm,
    0x0034 FEATURE_STAT_REQ "FeatureStatReq" DevToCm,
    0x0035 CREATE_CONFERENCE_RES "CreateConferenceRes" Both,
    0x0036 DELETE_CONFERENCE_RES "DeleteConferenceRes" Both,
    0x0037 MODIFY_CONFERENCE_RES "ModifyConferenceRes" Both,
    0x0038 ADD_PARTICIPANT_RES "AddParticipantRes" Both,
    0x0039 AUDIT_CONFERENCE_RES "AuditConferenceRes" Both,
    0x0040 AUDIT_PARTICIPANT_RES "AuditParticipantRes" Both,
    0x0041 DEVICE_TO_USER_DATA_VERSION1 "DeviceToUserDataVersion1" DevToCm,
    0x0042 DEVICE_TO_USER_DATA_RESPONSE_VERSION1 "DeviceToUserDataResponseVersion1" DevToCm,
    0x0043 CAPABILITIES_V2_RES "CapabilitiesV2Res" DevToCm,
    0x0044 CAPABILITIES_V3_RES "CapabilitiesV3Res" DevToCm,
    0x0045 PORT_RES "PortRes" DevToCm,
    0x0046 QOS_RESV_NOTIFY "QoSResvNotify" Both,
    0x0047 QOS_ERROR_NOTIFY "QoSErrorNotify" Both,
    0x0048 SUBSCRIPTION_STAT_REQ "SubscriptionStatReq" DevToCm,
    0x0049 MEDIA_PATH_EVENT "MediaPathEvent" DevToCm,
    0x004A MEDIA_PATH_CAPABILITY "MediaPathCapability" DevToCm,
    0x004C MWI_NOTIFICATION "MwiNotification" Both,
    0x0081 REGISTER_ACK "RegisterAck" CmToDev,
    0x0082 START_TONE "StartTone" CmToDev,
    0x0083 STOP_TONE "StopTone" CmToDev,
    0x0085 SET_RINGER "SetRinger" CmToDev,
    0x0086 SET_LAMP "SetLamp" CmToDev,
    0x0087 SET_HOOK_FLASH_DETECT "SetHookFlashDetect" CmToDev,
    0x0088 SET_SPEAKER_MODE "SetSpeakerMode" CmToDev,
    0x0089 SET_MICRO_MODE "SetMicroMode" CmToDev,
    0x008A START_MEDIA_TRANSMISSION "StartMediaTransmission" CmToDev,
    0x008B STOP_MEDIA_TRANSMISSION "StopMediaTransmission" CmToDev,
    0x008F CALL_INFO "CallInfo" CmToDev,
    0x0090 FORWARD_STAT_RES "ForwardStatRes" CmToDev,
    0x0091 SPEED_DIAL_STAT_RES "SpeedDialStatRes" CmToDev,
    0x0092 LINE_STAT_RES "LineStatRes" CmToDev,
    0x0093 CONFIG_STAT_RES "ConfigStatRes" CmToDev,
    0x0094 TIME_DATE_RES "TimeDateRes" CmToDev,
    0x0095 START_SESSION_TRANSMISSION "StartSessionTransmission" Both,
    0x0096 STOP_SESSION_TRANSMISSION "StopSessionTransmission" Both,
    0x0097 BUTTON_TEMPLATE_RES "ButtonTemplateRes" CmToDev,
    0x0098 VERSION_RES "VersionRes" CmToDev,
    0x0099 DISPLAY_TEXT "DisplayText" CmToDev,
    0x009A CLEAR_DISPLAY "ClearDisplay" CmToDev,
    0x009B CAPABILITIES_REQ "CapabilitiesReq" CmToDev,
    0x009D REGISTER_REJECT "RegisterReject" CmToDev,
    0x009E SERVER_RES "ServerRes" CmToDev,
    0x009F RESET "Reset" CmToDev,
    0x0100 KEEP_ALIVE_ACK "KeepAliveAck" CmToDev,
    0x0101 START_MULTICAST_MEDIA_RECEPTION "StartMulticastMediaReception" CmToDev,
    0x0102 START_MULTICAST_MEDIA_TRANSMISSION "StartMulticastMediaTransmission" CmToDev,
    0x0103 STOP_MULTICAST_MEDIA_RECEPTION "StopMulticastMediaReception" CmToDev,
    0x0104 STOP_MULTICAST_MEDIA_TRANSMISSION "StopMulticastMediaTransmission" CmToDev,
    0x0105 OPEN_RECEIVE_CHANNEL "OpenReceiveChannel" CmToDev,
    0x0106 CLOSE_RECEIVE_CHANNEL "CloseReceiveChannel" CmToDev,
    0x0107 CONNECTION_STATISTICS_REQ "ConnectionStatisticsReq" CmToDev,
    0x0108 SOFT_KEY_TEMPLATE_RES "SoftKeyTemplateRes" CmToDev,
    0x0109 SOFT_KEY_SET_RES "SoftKeySetRes" CmToDev,
    0x0110 SELECT_SOFT_KEYS "SelectSoftKeys" CmToDev,
    0x0111 CALL_STATE "CallState" CmToDev,
    0x0112 DISPLAY_PROMPT_STATUS "DisplayPromptStatus" CmToDev,
    0x0113 CLEAR_PROMPT_STATUS "ClearPromptStatus" CmToDev,
    0x0114 DISPLAY_NOTIFY "DisplayNotify" CmToDev,
    0x0115 CLEAR_NOTIFY "ClearNotify" CmToDev,
    0x0116 ACTIVATE_CALL_PLANE "ActivateCallPlane" CmToDev,
    0x0117 DEACTIVATE_CALL_PLANE "DeactivateCallPlane" CmToDev,
    0x0118 UNREGISTER_ACK "UnregisterAck" CmToDev,
    0x0119 BACK_SPACE_RES "BackSpaceRes" CmToDev,
    0x011A REGISTER_TOKEN_ACK "RegisterTokenAck" CmToDev,
    0x011B REGISTER_TOKEN_REJECT "RegisterTokenReject" CmToDev,
    0x011C START_MEDIA_FAILURE_DETECTION "StartMediaFailureDetection" CmToDev,
    0x011D DIALED_NUMBER "DialedNumber" CmToDev,
    0x011E USER_TO_DEVICE_DATA "UserToDeviceData" CmToDev,
    0x011F FEATURE_STAT_RES "FeatureStatRes" CmToDev,
    0x0120 DISPLAY_PRI_NOTIFY "DisplayPriNotify" CmToDev,
    0x0121 CLEAR_PRI_NOTIFY "ClearPriNotify" CmToDev,
    0x0122 START_ANNOUNCEMENT "StartAnnouncement" Both,
    0x0123 STOP_ANNOUNCEMENT "StopAnnouncement" Both,
    0x0124 ANNOUNCEMENT_FINISH "AnnouncementFinish" Both,
    0x0127 NOTIFY_DTMF_TONE "NotifyDtmfTone" CmToDev,
    0x0128 SEND_DTMF_TONE "SendDtmfTone" CmToDev,
    0x0129 SUBSCRIBE_DTMF_PAYLOAD_REQ "SubscribeDtmfPayloadReq" CmToDev,
    0x012A SUBSCRIBE_DTMF_PAYLOAD_RES "SubscribeDtmfPayloadRes" CmToDev,
    0x012B SUBSCRIBE_DTMF_PAYLOAD_ERR "SubscribeDtmfPayloadErr" CmToDev,
    0x012C UNSUBSCRIBE_DTMF_PAYLOAD_REQ "UnSubscribeDtmfPayloadReq" CmToDev,
    0x012D UNSUBSCRIBE_DTMF_PAYLOAD_RES "UnSubscribeDtmfPayloadRes" CmToDev,
    0x012E UNSUBSCRIBE_DTMF_PAYLOAD_ERR "UnSubscribeDtmfPayloadErr" CmToDev,
    0x012F SERVICE_URL_STAT_RES "ServiceURLStatRes" CmToDev,
    0x0130 CALL_SELECT_STAT_RES "CallSelectStatRes" CmToDev,
    0x0131 OPEN_MULTI_MEDIA_RECEIVE_CHANNEL "OpenMultiMediaReceiveChannel" CmToDev,
    0x0132 START_MULTI_MEDIA_TRANSMISSION "StartMultiMediaTransmission" CmToDev,
    0x0133 STOP_MULTI_MEDIA_TRANSMISSION "StopMultiMediaTransmission" CmToDev,
    0x0134 MISCELLANEOUS_COMMAND "MiscellaneousCommand" CmToDev,
    0x0135 FLOW_CONTROL_COMMAND "FlowControlCommand" CmToDev,
    0x0136 CLOSE_MULTI_MEDIA_RECEIVE_CHANNEL "CloseMultiMediaReceiveChannel" CmToDev,
    0x0137 CREATE_CONFERENCE_REQ "CreateConferenceReq" Both,
    0x0138 DELETE_CONFERENCE_REQ "DeleteConferenceReq" Both,
    0x0139 MODIFY_CONFERENCE_REQ "ModifyConferenceReq" Both,
    0x013A ADD_PARTICIPANT_REQ "AddParticipantReq" Both,
    0x013B DROP_PARTICIPANT_REQ "DropParticipantReq" Both,
    0x013C AUDIT_CONFERENCE_REQ "AuditConferenceReq" Both,
    0x013D AUDIT_PARTICIPANT_REQ "AuditParticipantReq" Both,
    0x013E CHANGE_PARTICIPANT_REQ "ChangeParticipantReq" Both,
    0x013F USER_TO_DEVICE_DATA_VERSION1 "UserToDeviceDataVersion1" CmToDev,
    0x0140 VIDEO_DISPLAY_COMMAND "VideoDisplayCommand" CmToDev,
    0x0141 FLOW_CONTROL_NOTIFY "FlowControlNotify" CmToDev,
    0x0142 CONFIG_STAT_V2_RES "ConfigStatV2Res" CmToDev,
    0x0143 DISPLAY_NOTIFY_V2 "DisplayNotifyV2" CmToDev,
    0x0144 DISPLAY_PRI_NOTIFY_V2 "DisplayPriNotifyV2" CmToDev,
    0x0145 DISPLAY_PROMPT_STATUS_V2 "DisplayPromptStatusV2" CmToDev,
    0x0146 FEATURE_STAT_V2_RES "FeatureStatV2Res" CmToDev,
    0x0147 LINE_STAT_V2_RES "LineStatV2Res" CmToDev,
    0x0148 SERVICE_URL_STAT_V2_RES "ServiceURLStatV2Res" CmToDev,
    0x0149 SPEED_DIAL_STAT_V2_RES "SpeedDialStatV2Res" CmToDev,
    0x014A CALL_INFO_V2 "CallInfoV2" CmToDev,
    0x014B PORT_REQ "PortReq" CmToDev,
    0x014C PORT_CLOSE "PortClose" CmToDev,
    0x014D QOS_LISTEN "QoSListen" Both,
    0x014E QOS_PATH "QoSPath" Both,
    0x014F QOS_TEARDOWN "QoSTeardown" Both,
    0x0150 UPDATE_DSCP "UpdateDSCP" Both,
    0x0151 QOS_MODIFY "QoSModify" Both,
    0x0152 SUBSCRIPTION_STAT_RES "SubscriptionStatRes" CmToDev,
    0x0153 NOTIFICATION "Notification" CmToDev,
    0x0154 START_MEDIA_TRANSMISSION_ACK "StartMediaTransmissionAck" DevToCm,
    0x0155 START_MULTI_MEDIA_TRANSMISSION_ACK "StartMultiMediaTransmissionAck" DevToCm,
    0x0156 CALL_HISTORY_INFO "CallHistoryInfo" CmToDev,
    0x0157 LOCATION_INFO "LocationInfo" DevToCm,
    0x0158 MWI_RES "MwiRes" Both,
    0x0159 ADD_ON_DEVICE_CAPABILITIES "AddOnDeviceCapabilities" DevToCm,
    0x015A ENHANCED_ALARM "EnhancedAlarm" DevToCm,
    0x015E CALL_COUNT_REQ "CallCountReq" Both,
    0x015F CALL_COUNT_RESP "CallCountResp" DevToCm,
    0x0160 RECORDING_STATUS "RecordingStatus" CmToDev,
    0x8000 SPCP_REGISTER_TOKEN_REQ "SPCPRegisterTokenReq" DevToCm,
    0x8100 SPCP_REGISTER_TOKEN_ACK "SPCPRegisterTokenAck" CmToDev,
    0x8101 SPCP_REGISTER_TOKEN_REJECT "SPCPRegisterTokenReject" CmToDev,
}

impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "MessageId({:#06x})", self.0),
        }
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#06x})", self.0),
            None => write!(f, "unknown ({:#06x})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_sorted_and_unique() {
        assert_eq!(MessageId::ALL.len(), 171);
        assert!(MessageId::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(format!("{:?}", MessageId(0x0100)), "KeepAliveAck");
        assert_eq!(format!("{:?}", MessageId(0x7777)), "MessageId(0x7777)");
        assert_eq!(
            MessageId::REGISTER_REQ.direction(),
            Some(Direction::DevToCm)
        );
        assert_eq!(
            MessageId::REGISTER_ACK.direction(),
            Some(Direction::CmToDev)
        );
    }
}
