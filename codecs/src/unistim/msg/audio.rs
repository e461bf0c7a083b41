//! Audio manager (address 0x16 to the phone, 0x96 from it): transducers, ringer, tones, volume and the
//! RTP audio streams.
//!
//! Command ids and names from Wireshark's `audio.h`; layouts from unistim.md §3.3 "Audio manager",
//! checked against the call capture (dial tone `1d 0f 0b33 0e14` / `1e 0f ff` / `1b 0f 00 11` in frame 4,
//! ringer `12 10 78` / `15 00 64 c8` / `10 00` in frame 53, transducer `32 c2 03 00`). The stream and
//! list-shaped bodies live in [`stream`](super::audio_stream).

use std::net::Ipv4Addr;

use bytes::Bytes;

use super::audio_stream::{
    ApbDownload, ConfigureVocoder, FrequencyList, MuteUnmute, OpenAudioStream,
};
use crate::unistim::body::{Empty, Opaque, fixed, manager, open_u8};

manager! {
    /// Audio manager commands sent by the server (WS `audio_switch_msgs`).
    AudioSwitch => "audio.switch" {
        /// 0x00: ask for audio manager items.
        0x00 => QueryAudioManager(QueryAudioManager) = "Query Audio Manager",
        /// 0x01: supervisor headset status.
        0x01 => QuerySupervisorHeadsetStatus(Empty) = "Query Supervisor Headset Status",
        /// 0x02: audio options.
        0x02 => AudioManagerOptions(AudioOptions) = "Audio Manager Options",
        /// 0x04: mute or unmute streams.
        0x04 => MuteUnmute(MuteUnmute) = "Mute/Unmute",
        /// 0x10: start a transducer-based tone (0 = the ringer).
        0x10 => TransducerBasedToneOn(TransducerTone) = "Transducer Based Tone On",
        /// 0x11: stop a transducer-based tone.
        0x11 => TransducerBasedToneOff(TransducerTone) = "Transducer Based Tone Off",
        /// 0x12: ringer melody, routing, volume range and cadence.
        0x12 => AlertingToneConfiguration(AlertingToneConfiguration) = "Alerting Tone Configuration",
        /// 0x13: special tone configuration.
        0x13 => SpecialToneConfiguration(SpecialToneConfiguration) = "Special Tone Configuration",
        /// 0x14: paging tone configuration.
        0x14 => PagingToneConfiguration(PagingToneConfiguration) = "Paging Tone Configuration",
        /// 0x15: the downloadable ringer cadence (CS2K `00 64 c8`).
        0x15 => AlertingToneCadenceDownload(Opaque) = "Alerting Tone Cadence Download",
        /// 0x17: the downloadable paging cadence.
        0x17 => PagingToneCadenceDownload(Opaque) = "Paging Tone Cadence Download",
        /// 0x18: volume of a transducer-based tone.
        0x18 => TransducerBasedToneVolume(TransducerToneVolume) = "Transducer Based Tone Volume Level",
        /// 0x1A: visual ringing (the ring lamp) on or off.
        0x1a => VisualTransducerBasedToneEnable(VisualToneEnable) = "Visual Transducer Based Tone Enable",
        /// 0x1B: play a call-progress tone into a stream (dial tone, ring-back ...).
        0x1b => StreamBasedToneOn(StreamBasedToneOn) = "Stream Based Tone On",
        /// 0x1C: stop a stream-based tone.
        0x1c => StreamBasedToneOff(StreamBasedToneOff) = "Stream Based Tone Off",
        /// 0x1D: the frequencies of a stream-based tone.
        0x1d => StreamBasedToneFrequencyList(FrequencyList) = "Stream Based Tone Frequency Component List Download",
        /// 0x1E: the cadence of a stream-based tone.
        0x1e => StreamBasedToneCadenceDownload(StreamBasedToneCadence) = "Stream Based Tone Cadence Download",
        /// 0x20: select the adjustable rx volume.
        0x20 => SelectAdjustableRxVolume(VolumeId) = "Select Adjustable Rx Volume",
        /// 0x21: set an APB's rx volume (CS2K `03 a0`).
        0x21 => SetApbRxVolumeLevel(SetApbRxVolume) = "Set APB's Rx Volume Level",
        /// 0x22: adjustable rx volume one step quieter.
        0x22 => ChangeAdjustableRxVolumeQuieter(Opaque) = "Change Adjustable Rx Volume (quieter)",
        /// 0x23: adjustable rx volume one step louder.
        0x23 => ChangeAdjustableRxVolumeLouder(Opaque) = "Change Adjustable Rx Volume (louder)",
        /// 0x24: default rx volume quieter.
        0x24 => AdjustDefaultRxVolumeQuieter(VolumeId) = "Adjust Default Rx Volume (quieter)",
        /// 0x25: default rx volume louder.
        0x25 => AdjustDefaultRxVolumeLouder(VolumeId) = "Adjust Default Rx Volume (louder)",
        /// 0x28: an audio parameter bank download.
        0x28 => ApbDownload(ApbDownload) = "APB Download",
        /// 0x30: open an RTP audio stream.
        0x30 => OpenAudioStream(OpenAudioStream) = "Open Audio Stream",
        /// 0x31: close an audio stream.
        0x31 => CloseAudioStream(CloseAudioStream) = "Close Audio Stream",
        /// 0x32: route a transducer (handset, headset, speaker) to streams.
        0x32 => ConnectTransducer(ConnectTransducer) = "Connect Transducer",
        /// 0x34: filter block download (layout not published).
        0x34 => FilterBlockDownload(Opaque) = "Filter Block Download",
        /// 0x37: ask for RTCP statistics.
        0x37 => QueryRtcpStatistics(QueryRtcpStatistics) = "Query RTCP Statistics",
        /// 0x38: vocoder parameters of a stream.
        0x38 => ConfigureVocoderParameters(ConfigureVocoder) = "Configure Vocoder Parameters",
        /// 0x39: ask for an RTCP bucket's SDES information.
        0x39 => QueryRtcpBucketSdes(QueryRtcpBucketSdes) = "Query RTCP Bucket's SDES Information",
        /// 0x3A: jitter buffer parameters.
        0x3a => JitterBufferParameters(JitterBufferParameters) = "Jitter Buffer Parameters Configuration",
        /// 0x3B: resolve a NAT port mapping.
        0x3b => ResolvePortMapping(ResolvePortMapping) = "Resolve Port Mapping",
        /// 0x3C: NAT port mapping discovery.
        0x3c => PortMappingDiscovery(PortMappingDiscovery) = "Port Mapping Discovery",
        /// 0x3D: ask for an audio stream's status.
        0x3d => QueryAudioStreamStatus(QueryAudioStreamStatus) = "Query Audio Stream Status",
        /// 0xFF: reserved.
        0xff => Reserved(Opaque) = "Reserved",
    }
}

manager! {
    /// Audio manager commands sent by the phone (WS `audio_phone_msgs`).
    AudioPhone => "audio.phone" {
        /// 0x00: handset connected.
        0x00 => HandsetConnected(Empty) = "Handset Connected",
        /// 0x01: handset disconnected.
        0x01 => HandsetDisconnected(Empty) = "Handset Disconnected",
        /// 0x02: headset connected.
        0x02 => HeadsetConnected(Empty) = "Headset Connected",
        /// 0x03: headset disconnected.
        0x03 => HeadsetDisconnected(Empty) = "Headset Disconnected",
        /// 0x04: supervisor headset connected.
        0x04 => SupervisorHeadsetConnected(Empty) = "Supervisor Headset Connected",
        /// 0x05: supervisor headset disconnected.
        0x05 => SupervisorHeadsetDisconnected(Empty) = "Supervisor Headset Disconnected",
        /// 0x07: handsfree support and the vocoders the phone has.
        0x07 => AttributesInfo(AudioAttributesInfo) = "Audio Manager Attributes Info",
        /// 0x08: audio options in force.
        0x08 => OptionsReport(AudioOptions) = "Audio Manager Options Report",
        /// 0x09: adjustable rx volume report.
        0x09 => AdjustableRxVolumeReport(AdjustableRxVolumeReport) = "Adjustable Rx Volume Report",
        /// 0x0A: adjustable rx volume information.
        0x0a => AdjustableRxVolumeInformation(AdjustableRxVolumeInformation) = "Adjustable Rx Volume Information",
        /// 0x0B: an APB's default rx volume (layout not published).
        0x0b => ApbDefaultRxVolume(Opaque) = "APB's Default Rx Volume Value",
        /// 0x0C: alerting tone selected on the phone.
        0x0c => AlertingToneSelect(AlertingToneSelect) = "Alerting Tone Select",
        /// 0x0E: RTCP statistics (174-byte message at hang-up, call frame 91; layout not published).
        0x0e => RtcpStatisticsReport(Opaque) = "RTCP Statistics Report",
        /// 0x0F: result of Open Audio Stream (call frame 49: `00` = opened).
        0x0f => OpenAudioStreamReport(OpenAudioStreamReport) = "Open Audio Stream Report",
        /// 0x10: SDES information (layout not published).
        0x10 => RtcpBucketSdesReport(Opaque) = "RTCP Bucket SDES Information Report",
        /// 0x11: NAT port mapping discovery (layout not published).
        0x11 => PortMappingDiscoveryReport(Opaque) = "Port Mapping Discovery",
        /// 0x12: NAT port mapping resolved (layout not published).
        0x12 => ResolvePortMappingReport(Opaque) = "Resolve Port Mapping",
        /// 0x13: audio stream status (layout not published).
        0x13 => AudioStreamStatusReport(Opaque) = "Audio Stream Status Report",
        /// 0x14: APB query response (layout not published).
        0x14 => QueryApbResponse(Opaque) = "Query APB Response",
        /// 0xFF: reserved.
        0xff => Reserved(Empty) = "Reserved",
    }
}

open_u8! {
    /// A vocoder (codec) id; the ids coincide with the static RTP payload types (WS `vocoder_ids`).
    Vocoder {
        PCMU = 0x00 => "G.711, Mu-Law",
        G723 = 0x04 => "G.723",
        PCMA = 0x08 => "G.711, A-Law",
        LINEAR_16 = 0x0a => "16-bit Linear",
        G729 = 0x12 => "G.729",
        LINEAR_8 = 0x60 => "8-bit Linear",
        PCMU_PLP = 0x61 => "G.711, Mu-Law with PLP",
        PCMA_PLP = 0x62 => "G.711, A-Law with PLP",
    }
}

open_u8! {
    /// The result in an Open Audio Stream Report (WS `stream_result`).
    StreamResult {
        OPENED = 0x00 => "Stream opened successfully",
        INVALID_STREAM_ID = 0x01 => "Operation failed: Invalid Stream ID",
        UNSUPPORTED_VOCODER = 0x02 => "Operation failed: Unsupported Vocoder",
        STREAM_IN_USE = 0x03 => "Operation failed: Stream already in use",
        LOCAL_PORT_IN_USE = 0x04 => "Operation failed: Local port already in use",
        NO_STREAMS = 0x05 => "Operation failed: No streams specified",
        PACKET_TOO_LARGE = 0x06 => "Operation failed: Audio packet size too large based on frames per packets",
        INVALID_FPP = 0x07 => "Operation failed: Invalid Frames Per Packet value",
        INVALID_BUCKET = 0x08 => "Operation failed: Invalid Bucket ID",
        RTP_RTCP_SAME_PORT = 0x09 => "Operation failed: RTP and RTCP ports Identical",
        INCONSISTENT_PROMOTION = 0x0a => "Operation failed: Inconsistent Parameters on full duplex promotion",
        NO_EMPTY_VOCODER_BINS = 0x0b => "Operation failed: No Empty Vocoder Bins",
        VOCODERS_NOT_IDENTICAL = 0x0c => "Operation failed: Vocoders Not Identical",
    }
}

fixed! {
    /// Query Audio Manager (0x16/0x00): flags (0x01 attributes, 0x02 options, 0x04 alerting, 0x08
    /// adjustable rx volume, 0x10 default rx volume, 0x40 handset, 0x80 headset) and a volume id.
    QueryAudioManager {
        /// The items asked for.
        flags: u8 => "bit.fields",
        /// The volume id.
        volume_id: u8 => "audio.volume.id",
    }
}

fixed! {
    /// Audio Manager Options (0x16/0x02) and its report (0x96/0x08): 0x01 max tone volume, 0x02 adjust
    /// volume, 0x04 auto rx-volume report, 0x08 handset on-air, 0x10 headset on-air, 0x20 noise squelch.
    AudioOptions {
        /// The option bits.
        flags: u8 => "bit.fields",
    }
}

fixed! {
    /// Transducer Based Tone On / Off (0x16/0x10, 0x11): tone id (0x07: 0 alerting = the ringer,
    /// 1 special, 2 paging) and, for On, attenuated (0x08).
    TransducerTone {
        /// Tone id and attenuation bit.
        tone: u8 => "audio.transducer.on",
    }
}

fixed! {
    /// Alerting Tone Configuration (0x16/0x12): warbler (0x07) + routing (0xF8: 0 handset speaker,
    /// 1 headset, 2 handsfree speaker); volume range (0x0F) + cadence (0xF0: 0 "2 s on 4 s off" ...
    /// 7 downloaded). CS2K: `10 78` = handsfree, range 8, downloaded cadence.
    AlertingToneConfiguration {
        /// Warbler select and transducer routing.
        warbler_routing: u8 => "warbler.select",
        /// Volume range and cadence select.
        volume_cadence: u8 => "tone.volume.range",
    }
}

fixed! {
    /// Special Tone Configuration (0x16/0x13): routing, volume range, tone.
    SpecialToneConfiguration {
        /// Transducer routing.
        routing: u8 => "transducer.routing",
        /// Volume range.
        volume_range: u8 => "tone.volume.range",
        /// Special tone select.
        tone: u8 => "special.tone.select",
    }
}

fixed! {
    /// Paging Tone Configuration (0x16/0x14): routing, then volume range with cadence.
    PagingToneConfiguration {
        /// Transducer routing.
        routing: u8 => "transducer.routing",
        /// Volume range and cadence select.
        volume_cadence: u8 => "tone.volume.range",
    }
}

fixed! {
    /// Transducer Based Tone Volume Level (0x16/0x18): tone id (0x07) + level (0xF0).
    TransducerToneVolume {
        /// Tone id and level.
        tone_level: u8 => "audio.tone.level",
    }
}

fixed! {
    /// Visual Transducer Based Tone Enable (0x16/0x1A): 0x01 = ring lamp on.
    VisualToneEnable {
        /// Enable bit.
        enable: u8 => "visual.tones",
    }
}

fixed! {
    /// Stream Based Tone On (0x16/0x1B): tone id (0x1F) + rx/tx (0x40) + mute (0x80), stream id, volume
    /// id. CS2K dial tone on stream 0: `0f 00 11`.
    StreamBasedToneOn {
        /// Tone id and flags.
        tone: u8 => "stream.tone.id",
        /// The stream.
        stream_id: u8 => "audio.stream.id",
        /// The volume.
        volume: u8 => "stream.volume.id",
    }
}

fixed! {
    /// Stream Based Tone Off (0x16/0x1C): tone id + rx/tx, stream id (`0f 00`).
    StreamBasedToneOff {
        /// Tone id and flags.
        tone: u8 => "stream.tone.id",
        /// The stream.
        stream_id: u8 => "audio.stream.id",
    }
}

fixed! {
    /// Stream Based Tone Cadence Download (0x16/0x1E): tone id, then the cadence bytes (CS2K dial tone
    /// `0f ff` = steady, ring-back `0f 64 c8`).
    StreamBasedToneCadence {
        /// The tone id.
        tone: u8 => "stream.tone.id",
        /// The cadence bytes.
        cadence: Bytes => "generic.data",
    }
}

fixed! {
    /// A volume id (Select Adjustable Rx Volume 0x16/0x20, Adjust Default Rx Volume 0x24/0x25).
    VolumeId {
        /// The volume id.
        volume_id: u8 => "audio.volume.id",
    }
}

fixed! {
    /// Set APB's Rx Volume Level (0x16/0x21): APB number and level (CS2K `03 a0`; Wireshark shows the
    /// data raw).
    SetApbRxVolume {
        /// The APB.
        apb: u8 => "audio.apb.number",
        /// The level.
        level: u8 => "generic.data",
    }
}

fixed! {
    /// Close Audio Stream (0x16/0x31): rx and tx stream ids (`00 00`).
    CloseAudioStream {
        /// Receive stream.
        rx_stream_id: u8 => "rx.stream.id",
        /// Transmit stream.
        tx_stream_id: u8 => "tx.stream.id",
    }
}

open_u8! {
    /// A transducer pair (bits 0x3F of Connect Transducer; WS `transducer_pairs`).
    TransducerPair {
        HANDSET = 0x00 => "Handset",
        HEADSET = 0x01 => "Headset",
        HANDSFREE = 0x02 => "Handsfree Speaker/Microphone",
        ALL = 0x3f => "All Transducer Pairs",
    }
}

fixed! {
    /// Connect Transducer (0x16/0x32): pair (0x3F) + rx enable (0x40) + tx enable (0x80); APB number +
    /// sidetone disable (0x10) + destructive (0x20) + don't force active (0x40); then stream ids.
    /// CS2K: `c2 03 00` (handsfree both ways, APB 3, stream 0), reset `ff 03 ff`.
    ConnectTransducer {
        /// Pair and enable bits.
        pair: u8 => "transducer.pairs",
        /// APB number and flags.
        apb: u8 => "audio.apb.number",
        /// The stream ids.
        streams: Bytes => "audio.stream.id",
    }
}

impl ConnectTransducer {
    /// Connect `pair` both ways to `stream` using `apb`.
    pub fn both_ways(pair: TransducerPair, apb: u8, stream: u8) -> Self {
        Self::new(
            0xc0 | (pair.0 & 0x3f),
            apb,
            Bytes::copy_from_slice(&[stream]),
        )
    }
}

fixed! {
    /// Query RTCP Statistics (0x16/0x37): bucket id (0x0F) + clear (0x10) (CS2K `92`).
    QueryRtcpStatistics {
        /// Bucket and clear bit.
        bucket: u8 => "audio.rtcp.bucket.id",
    }
}

fixed! {
    /// Query RTCP Bucket's SDES Information (0x16/0x39): item (0x0F) + bucket (0xF0).
    QueryRtcpBucketSdes {
        /// Item and bucket.
        item_bucket: u8 => "source.desc.item",
    }
}

fixed! {
    /// Jitter Buffer Parameters Configuration (0x16/0x3A): rx stream, desired jitter, high-water mark,
    /// early and late resync thresholds (1/8000 s).
    JitterBufferParameters {
        /// Receive stream.
        rx_stream_id: u8 => "rx.stream.id",
        /// Desired jitter.
        desired_jitter: u8 => "audio.desired.jitter",
        /// High-water mark.
        high_water_mark: u8 => "high.water.mark",
        /// Early packet threshold.
        early_threshold: u32 => "early.packet.thresh",
        /// Late packet threshold.
        late_threshold: u32 => "late.packet.thresh",
    }
}

fixed! {
    /// Resolve Port Mapping (0x16/0x3B): phone port, far-end port, far-end address.
    ResolvePortMapping {
        /// Phone port.
        phone_port: u16 => "resolve.phone.port",
        /// Far-end port.
        far_port: u16 => "resolve.far.port",
        /// Far-end address.
        far_address: Ipv4Addr => "resolve.far.ip",
    }
}

fixed! {
    /// Port Mapping Discovery (0x16/0x3C): NAT port and address.
    PortMappingDiscovery {
        /// NAT port.
        nat_port: u16 => "audio.nat.port",
        /// NAT address.
        nat_address: Ipv4Addr => "audio.nat.ip",
    }
}

fixed! {
    /// Query Audio Stream Status (0x16/0x3D): direction code, stream id.
    QueryAudioStreamStatus {
        /// Direction code.
        direction: u8 => "audio.direction.codes",
        /// The stream.
        stream_id: u8 => "audio.stream.id",
    }
}

fixed! {
    /// Audio Manager Attributes Info (0x96/0x07): handsfree support (0x01), then the vocoder ids.
    AudioAttributesInfo {
        /// Flags.
        flags: u8 => "handsfree.support",
        /// Supported vocoders.
        vocoders: Bytes => "vocoder.id",
    }
}

fixed! {
    /// Adjustable Rx Volume Report (0x96/0x09): APB (0x1F), volume up (0x20), floor (0x40), ceiling (0x80).
    AdjustableRxVolumeReport {
        /// The report byte.
        report: u8 => "apb.volume.rpt",
    }
}

fixed! {
    /// Adjustable Rx Volume Information (0x96/0x0A): report byte, current level, range.
    AdjustableRxVolumeInformation {
        /// The report byte.
        report: u8 => "current.volume.rpt",
        /// Current level.
        level: u8 => "current.rx.vol.level",
        /// Current range.
        range: u8 => "current.rx.vol.range",
    }
}

fixed! {
    /// Alerting Tone Select (0x96/0x0C): cadence (0x07) + warbler (0x38).
    AlertingToneSelect {
        /// Cadence and warbler.
        select: u8 => "alert.cad.sel",
    }
}

fixed! {
    /// Open Audio Stream Report (0x96/0x0F): the result.
    OpenAudioStreamReport {
        /// The result.
        result: StreamResult => "open.audio.stream.rpt",
    }
}
