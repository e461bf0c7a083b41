//! Registration and management: RegisterReq/Ack/Reject, capabilities, templates, time, version,
//! alarms, keepalive-adjacent messages (`docs/protocols/sccp.md` §3.1; layouts from Wireshark's
//! SkinnyProtocolOptimized.xml as tshark 4.0.17 decodes them).

use bytes::{BufMut, Bytes, BytesMut};

use crate::fields::{Describe, Fields};
use crate::sccp::macros::{body, record};
use crate::sccp::types::{Ip4, IpField, Slots, Text, VarText, Wire, read_counted};
use crate::sccp::{ButtonType, Ctx, DeviceType, PayloadType, SoftKeyEvent};
use crate::wire::{DecodeError, Reader, bytes_of};

body! {
    /// 0x0001, phone → Crossbar: "I am SEP<MAC>, this model, speaking up to this protocol version". The
    /// body is 36 bytes on old firmware; a 12-byte tail (protocol version, features) follows when the body
    /// is over 48 bytes, and the MAC, line count, IPv6 address and firmware name when it is over 96. All
    /// versions.
    RegisterReq {
        /// "SEP" and 12 hex digits of the MAC for IP phones.
        device_name: Text<16> => "DeviceName",
        /// Reserved (user id).
        reserved_for_future_use: u32 => "reserved_for_future_use",
        /// The device instance.
        instance: u32 => "instance",
        /// The phone's own idea of its IPv4 address (advisory: NAT rewrites the real one).
        station_ip_addr: Ip4 => "stationIpAddr",
        /// The model.
        device_type: DeviceType => "deviceType",
        /// Concurrent RTP streams the phone can handle.
        max_streams: u32 => "maxStreams",
        /// The rest, present on longer bodies.
        tail: Option<RegisterTail> => "tail",
        /// Present on bodies over 96 bytes.
        extended: Option<RegisterExtended> => "extended",
    }
}

record! {
    /// RegisterReq bytes 36–47.
    RegisterTail [12] {
        /// Active RTP streams.
        active_streams: u32 => "activeStreams",
        /// The highest protocol version the phone speaks.
        protocol_ver: u8 => "protocolVer",
        /// Unknown byte.
        unknown: u8 => "unknown",
        /// Feature bits: 0x0010 UTF-8, 0x0080 dynamic messages, 0x0200 RFC 2833, 0x8000 abbreviated dial.
        phone_features: u16 => "phoneFeatures",
        /// Conferences the phone can host.
        max_conferences: u32 => "maxConferences",
    }
}

record! {
    /// RegisterReq bytes 48–123 (phones from about firmware 8 on).
    RegisterExtended [76] {
        /// Active conferences.
        active_conferences: u32 => "activeConferences",
        /// The MAC address (six bytes) and six more (zero in captures).
        mac_address: [u8; 12] => "macAddress",
        /// IPv4 address scope.
        ip_v4_address_scope: u32 => "ipV4AddressScope",
        /// Lines the phone has keys for.
        max_number_of_lines: u32 => "maxNumberOfLines",
        /// The phone's IPv6 address.
        station_ip_v6_addr: [u8; 16] => "stationIpV6Addr",
        /// IPv6 address scope.
        ip_v6_address_scope: u32 => "ipV6AddressScope",
        /// The firmware load, e.g. "SCCP70.9-2-3S".
        firmware_load_name: Text<32> => "firmwareLoadName",
    }
}

impl RegisterReq {
    /// The highest protocol version the phone offers (0 when its Register is the short, pre-v5 form).
    pub fn protocol_version(&self) -> u8 {
        self.tail.as_ref().map_or(0, |t| t.protocol_ver)
    }

    /// The MAC address, from the name "SEP" + 12 hex digits (what identifies the phone in the inventory).
    pub fn mac_from_name(&self) -> Option<[u8; 6]> {
        let name = self.device_name.as_bytes();
        let hex = name.strip_prefix(b"SEP")?;
        if hex.len() != 12 {
            return None;
        }
        let mut mac = [0u8; 6];
        for (byte, pair) in mac.iter_mut().zip(hex.chunks(2)) {
            let s = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(s, 16).ok()?;
        }
        Some(mac)
    }
}

body! {
    /// 0x0081, Crossbar → phone: registration accepted. All versions, 20 bytes.
    RegisterAck {
        /// Seconds between the phone's KeepAlives.
        keep_alive_interval: u32 => "keepAliveInterval",
        /// How the phone shows dates: "M/D/Y", "D/M/Y", "Y.M.D" ... ("A" appended: 12-hour clock).
        date_template: Text<6> => "dateTemplate",
        /// Padding.
        alignment_padding: u16 => "alignmentPadding",
        /// Keepalive interval towards a secondary call manager.
        secondary_keep_alive_interval: u32 => "secondaryKeepAliveInterval",
        /// The highest protocol version the server speaks; the session uses the lower of the two.
        max_protocol_ver: u8 => "maxProtocolVer",
        /// Unknown byte (CUCM sends 0x20).
        unknown: u8 => "unknown",
        /// Feature bits, as in RegisterReq.
        phone_features: u16 => "phoneFeatures",
    }
}

body! {
    /// 0x009D, Crossbar → phone: registration refused, with a reason the phone shows. 32 bytes.
    RegisterReject {
        /// The reason.
        text: Text<32> => "text",
    }
}

body! {
    /// 0x0027, phone → Crossbar: the phone leaves (may be empty).
    UnregisterReq {
        /// 0 unknown, 1 power-save mode.
        un_reg_reason_code: Option<u32> => "unRegReasonCode",
    }
}

body! {
    /// 0x0118, Crossbar → phone: 0 OK, 1 error, 2 NAK (a call is active).
    UnregisterAck {
        /// The status.
        status: u32 => "status",
    }
}

body! {
    /// 0x0002, phone → Crossbar: the phone's RTP port (legacy; superseded by OpenReceiveChannelAck).
    IpPort {
        /// The port.
        rtp_media_port: u32 => "rtpMediaPort",
    }
}

record! {
    /// One audio capability (16 bytes): a payload type, the most frames per packet, and 8 bytes of
    /// per-codec parameters (G.723.1 bit rate, codec parameters or V.150 data).
    MediaCap [16] {
        /// The codec.
        payload_capability: PayloadType => "payloadCapability",
        /// The most milliseconds of audio per packet (Wireshark: maxFramesPerPacket).
        max_frames_per_packet: u32 => "maxFramesPerPacket",
        /// Codec parameters.
        params: [u8; 8] => "params",
    }
}

/// 0x0010, phone → Crossbar: the phone's codecs, up to 18.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapabilitiesRes {
    /// The count field as sent.
    pub cap_count: u32,
    /// The capabilities (at most `cap_count`).
    pub caps: Vec<MediaCap>,
    /// Bytes after them (unused slots of a full-size array).
    pub trailing: Bytes,
}

impl CapabilitiesRes {
    /// A response listing these capabilities.
    pub fn new(caps: Vec<MediaCap>) -> Self {
        Self {
            cap_count: u32::try_from(caps.len()).unwrap_or(u32::MAX),
            caps,
            trailing: Bytes::new(),
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>, ctx: Ctx) -> Result<Self, DecodeError> {
        let cap_count = r.u32_le("capCount")?;
        let caps = read_counted(r, ctx, "caps", cap_count, 18)?;
        Ok(Self {
            cap_count,
            caps,
            trailing: bytes_of(r.rest()),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut, ctx: Ctx) {
        out.put_u32_le(self.cap_count);
        self.caps.iter().for_each(|c| c.write(out, ctx));
        out.put_slice(&self.trailing);
    }
}

impl Describe for CapabilitiesRes {
    fn describe(&self, out: &mut Fields) {
        out.push("capCount", self.cap_count);
        crate::sccp::types::describe_list(&self.caps, "caps", out);
    }
}

body! {
    /// 0x000E, phone → Crossbar: asks for the button template. Empty in the protocol, but 7962 and 7970
    /// firmware send their line count here.
    ButtonTemplateReq {
        /// The phone's line count, where sent.
        total_lines: Option<u32> => "totalLines",
    }
}

record! {
    /// One button of the template: its instance (line 1, speed dial 3 ...) and kind.
    ButtonDefinition [2] {
        /// The button's instance number within its kind.
        instance_number: u8 => "instanceNumber",
        /// The kind (a [`ButtonType`] value).
        button_definition: u8 => "buttonDefinition",
    }
}

impl ButtonDefinition {
    /// A button of this kind and instance.
    pub fn new(kind: ButtonType, instance: u8) -> Self {
        Self {
            instance_number: instance,
            button_definition: u8::try_from(kind.0).unwrap_or(0xff),
        }
    }
}

body! {
    /// 0x0097, Crossbar → phone: what each programmable button is. Real servers send all 42 slots
    /// (unused ones `ButtonType` 0xFF); the array is the last field, so a shorter body is valid too.
    ButtonTemplateRes {
        /// Index of the first button in this message.
        button_offset: u32 => "buttonOffset",
        /// Buttons in this message.
        button_count: u32 => "buttonCount",
        /// Buttons in all.
        total_button_count: u32 => "totalButtonCount",
        /// The definitions.
        definition: Slots<ButtonDefinition, 42> => "definition",
    }
}

record! {
    /// One soft key of the template: its label (text or a 0x80-escaped label code) and the event it sends.
    SoftKeyDefinition [20] {
        /// The label.
        soft_key_label: Text<16> => "softKeyLabel",
        /// The event number.
        soft_key_event: SoftKeyEvent => "softKeyEvent",
    }
}

body! {
    /// 0x0108, Crossbar → phone: the soft-key template, up to 32 keys.
    SoftKeyTemplateRes {
        /// Index of the first key in this message.
        soft_key_offset: u32 => "softKeyOffset",
        /// Keys in this message.
        soft_key_count: u32 => "softKeyCount",
        /// Keys in all.
        total_soft_key_count: u32 => "totalSoftKeyCount",
        /// The keys.
        definition: Slots<SoftKeyDefinition, 32> => "definition",
    }
}

record! {
    /// One soft-key set: which template keys (1-based, 0 none) are shown in this call state, and their
    /// info indexes (300 + event).
    SoftKeySetDefinition [48] {
        /// Template indexes of the 16 positions.
        soft_key_template_index: [u8; 16] => "softKeyTemplateIndex",
        /// Info indexes of the 16 positions, little-endian u16 each.
        soft_key_info_index: [u8; 32] => "softKeyInfoIndex",
    }
}

impl SoftKeySetDefinition {
    /// A set showing these template indexes (1-based) with their events' info indexes.
    pub fn new(keys: &[(u8, SoftKeyEvent)]) -> Self {
        let mut set = Self::default();
        for (i, (index, event)) in keys.iter().take(16).enumerate() {
            if let Some(slot) = set.soft_key_template_index.get_mut(i) {
                *slot = *index;
            }
            let info = u16::try_from(event.0).unwrap_or(0).saturating_add(300);
            let at = i.saturating_mul(2);
            if let Some(slot) = set.soft_key_info_index.get_mut(at..at.saturating_add(2)) {
                slot.copy_from_slice(&info.to_le_bytes());
            }
        }
        set
    }
}

body! {
    /// 0x0109, Crossbar → phone: the soft-key sets, indexed by [`crate::sccp::SoftKeySet`].
    SoftKeySetRes {
        /// Index of the first set in this message.
        soft_key_set_offset: u32 => "softKeySetOffset",
        /// Sets in this message.
        soft_key_set_count: u32 => "softKeySetCount",
        /// Sets in all.
        total_soft_key_set_count: u32 => "totalSoftKeySetCount",
        /// The sets.
        definition: Slots<SoftKeySetDefinition, 16> => "definition",
    }
}

body! {
    /// 0x0094, Crossbar → phone: the date and time (answer to TimeDateReq; CUCM also sends it at the end
    /// of every call). 36 bytes.
    TimeDateRes {
        /// Year.
        w_year: u32 => "wYear",
        /// Month, 1–12.
        w_month: u32 => "wMonth",
        /// Day of the week, 0 Sunday.
        w_day_of_week: u32 => "wDayOfWeek",
        /// Day of the month.
        w_day: u32 => "wDay",
        /// Hour.
        w_hour: u32 => "wHour",
        /// Minute.
        w_minute: u32 => "wMinute",
        /// Second.
        w_second: u32 => "wSecond",
        /// Milliseconds.
        w_milliseconds: u32 => "wMilliseconds",
        /// Seconds since 1970 (UTC).
        system_time: u32 => "systemTime",
    }
}

body! {
    /// 0x0098, Crossbar → phone: the firmware version the phone should run.
    VersionRes {
        /// The load name.
        version_str: Text<16> => "versionStr",
    }
}

/// 0x009E, Crossbar → phone: the five call managers the phone may use. The addresses are plain IPv4
/// in a 280-byte body and IPv4-or-IPv6 blocks in a 360-byte one (protocol 17 and later).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerRes {
    /// Server names.
    pub server_name: Slots<Text<48>, 5>,
    /// Their TCP ports.
    pub server_tcp_listen_port: Slots<u32, 5>,
    /// Their addresses.
    pub server_ip_addr: Vec<IpField>,
    /// Whether the addresses are type + 16-byte blocks (a 360-byte body at protocol 17 or later) rather
    /// than plain IPv4.
    pub wide_addresses: bool,
    /// Bytes after them.
    pub trailing: Bytes,
}

impl ServerRes {
    fn ip_ctx(wide: bool) -> Ctx {
        if wide { Ctx::new(17) } else { Ctx::new(0) }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>, ctx: Ctx) -> Result<Self, DecodeError> {
        let server_name = Slots::read(r, ctx, "serverName")?;
        let server_tcp_listen_port = Slots::read(r, ctx, "serverTcpListenPort")?;
        // Wireshark picks by length: five 20-byte blocks need 100 bytes.
        let wide_addresses = ctx.version >= 17 && r.left() >= 100;
        let server_ip_addr = read_counted(r, Self::ip_ctx(wide_addresses), "serverIpAddr", 5, 5)?;
        Ok(Self {
            server_name,
            server_tcp_listen_port,
            server_ip_addr,
            wide_addresses,
            trailing: bytes_of(r.rest()),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut, ctx: Ctx) {
        self.server_name.write(out, ctx);
        self.server_tcp_listen_port.write(out, ctx);
        let ip_ctx = Self::ip_ctx(self.wide_addresses);
        self.server_ip_addr
            .iter()
            .for_each(|ip| ip.write(out, ip_ctx));
        out.put_slice(&self.trailing);
    }
}

impl Describe for ServerRes {
    fn describe(&self, out: &mut Fields) {
        self.server_name.describe("serverName", out);
        self.server_tcp_listen_port
            .describe("serverTcpListenPort", out);
        crate::sccp::types::describe_list(&self.server_ip_addr, "serverIpAddr", out);
    }
}

body! {
    /// 0x009F, Crossbar → phone: reset (1), restart (2) or apply the new configuration (3).
    Reset {
        /// The kind of reset.
        reset_type: u32 => "resetType",
    }
}

body! {
    /// 0x002D, phone → Crossbar: how many lines the phone will use.
    RegisterAvailableLines {
        /// The line count.
        max_num_of_avail_lines: u32 => "maxNumOfAvailLines",
    }
}

body! {
    /// 0x0020, phone → Crossbar: an alarm. 92 bytes.
    Alarm {
        /// Severity.
        alarm_severity: crate::sccp::AlarmSeverity => "alarmSeverity",
        /// Text.
        text: Text<80> => "text",
        /// Parameter 1.
        parm1: u32 => "parm1",
        /// Parameter 2.
        parm2: u32 => "parm2",
    }
}

body! {
    /// 0x015A, phone → Crossbar: an XML alarm (after a reboot: why the phone was out of service), sent
    /// before RegisterReq.
    EnhancedAlarm {
        /// The XML text.
        alarm_info: VarText => "alarmInfo",
    }
}

body! {
    /// 0x002B, phone → Crossbar: headset plugged (1) or unplugged (2).
    HeadsetStatus {
        /// The status.
        headset_status: u32 => "headsetStatus",
    }
}

body! {
    /// 0x002C, media resource → call manager: stream counts of a conference bridge or transcoder.
    MediaResourceNotification {
        /// The resource's device type.
        device_type: DeviceType => "deviceType",
        /// Streams in service.
        number_of_in_service_streams: u32 => "numberOfInServiceStreams",
        /// Streams per conference.
        max_streams_per_conf: u32 => "maxStreamsPerConf",
        /// Streams out of service.
        number_of_out_of_service_streams: u32 => "numberOfOutOfServiceStreams",
    }
}

body! {
    /// 0x0029, phone → server: asks for a registration token (fallback/failover).
    RegisterTokenReq {
        /// "SEP" + MAC.
        device_name: Text<16> => "DeviceName",
        /// Reserved.
        reserved_for_future_use: u32 => "reserved_for_future_use",
        /// Instance.
        instance: u32 => "instance",
        /// The station's IPv4 address as a little-endian integer.
        station_ip_addr: u32 => "stationIpAddr",
        /// The model.
        device_type: DeviceType => "deviceType",
        /// The station's address block.
        station_ip_v6_addr: Option<IpField> => "stationIpV6Addr",
    }
}

body! {
    /// 0x011A, server → phone: token granted.
    RegisterTokenAck {}
}

body! {
    /// 0x011B, server → phone: token refused; try again after this many seconds.
    RegisterTokenReject {
        /// Seconds to wait.
        wait_time_before_next_req: u32 => "waitTimeBeforeNextReq",
    }
}
