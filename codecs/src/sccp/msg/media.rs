//! Media control: receive channels, transmissions, multicast, ports and DTMF
//! (`docs/protocols/sccp.md` §3.3). IP addresses are [`IpField`]s: 4 bytes before protocol 17, type and
//! 16 bytes from 17 on. Layouts are those tshark 4.0.17 decodes (Wireshark's newer XML), e.g.
//! OpenReceiveChannel bodies of 92 (v0–10), 108 (v11–15), 112 (v16), 132 (v17–20) and 168 (v21–22) bytes.

use crate::sccp::macros::{body, record};
use crate::sccp::types::IpField;
use crate::sccp::{MediaStatus, PayloadType, Tone};

record! {
    /// SRTP key material of a media leg (48 bytes; algorithm 0 = no encryption).
    KeyInfo [48] {
        /// The algorithm (0 none, 1 AES_CM_128_HMAC_SHA1_32, 2 ..._80 ...).
        algorithm_id: u32 => "algorithmID",
        /// Key length.
        keylen: u16 => "keylen",
        /// Salt length.
        saltlen: u16 => "saltlen",
        /// The key.
        key: [u8; 16] => "key",
        /// The salt.
        salt: [u8; 16] => "salt",
        /// Whether an MKI is present.
        is_mki_present: u32 => "isMKIPresent",
        /// Key derivation rate.
        key_derivation_rate: u32 => "keyDerivationRate",
    }
}

body! {
    /// 0x0105, Crossbar → phone: open a port to receive RTP with this codec and packet size; the phone
    /// answers with OpenReceiveChannelAck giving its address.
    OpenReceiveChannel {
        /// Conference id (CUCM uses the call reference).
        conference_id: u32 => "conferenceId",
        /// The media leg, allocated by the server.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// Milliseconds of audio per packet.
        millisecond_packet_size: u32 => "milliSecondPacketSize",
        /// The codec.
        compression_type: PayloadType => "compressionType",
        /// Echo cancellation, 0 off or 1 on.
        ec_value: u32 => "ecValue",
        /// G.723.1 bit rate (before 11) or codec parameters (4 bytes).
        codec_params: [u8; 4] => "codecParams",
        /// The call.
        call_reference: u32 => "callReference",
        /// SRTP key material (algorithm, lengths, key, salt, MKI, derivation rate), 48 bytes.
        key_info: KeyInfo => "mRxMediaEncryptionKeyInfo",
        /// Stream pass-through id.
        stream_pass_through_id: u32 => "streamPassThroughId",
        /// Associated stream id.
        associated_stream_id: u32 => "associatedStreamId",
        /// RFC 2833 payload type.
        rfc2833_payload_type: u32 => "RFC2833PayloadType",
        /// DTMF type (CUCM: 10).
        dtmf_type: u32 => "dtmfType",
        /// Mixing mode (protocol 11 and later).
        mixing_mode: Option<u32> => "mixingMode",
        /// Party direction (11 and later).
        party_direction: Option<u32> => "partyDirection",
        /// Where RTP will come from (11 and later; CUCM: the far end; 0 = any).
        source_ip_addr: Option<IpField> => "sourceIpAddr",
        /// Its port.
        source_port_number: Option<u32> => "sourcePortNumber",
        /// The address type wanted (16 and later).
        requested_ip_addr_type: Option<u32> => "requestedIpAddrType",
        /// Audio level adjustment (17 and later).
        audio_level_adjustment: Option<i32> => "audioLevelAdjustment",
        /// Latent capabilities (21 and later), 36 bytes.
        latent_caps_info: Option<[u8; 36]> => "latentCapsInfo",
    }
}

body! {
    /// 0x0022, phone → Crossbar: the receive port is open; RTP goes to this address.
    OpenReceiveChannelAck {
        /// 0 OK.
        media_reception_status: MediaStatus => "mediaReceptionStatus",
        /// The phone's RTP address (may be a private address behind NAT).
        ip_addr: IpField => "ipAddr",
        /// Its port.
        port_number: u32 => "portNumber",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0106, Crossbar → phone: close the receive port.
    CloseReceiveChannel {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The call.
        call_reference: Option<u32> => "callReference",
        /// 0 close the port, 1 keep it.
        port_handling_flag: Option<u32> => "portHandlingFlag",
    }
}

body! {
    /// 0x008A, Crossbar → phone: send RTP to this address with this codec. Bodies of 112 (v0–14), 116
    /// (v15–16), 132 (v17–20) and 168 (v21–22) bytes.
    StartMediaTransmission {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// Where to send RTP.
        remote_ip_addr: IpField => "remoteIpAddr",
        /// Its port.
        remote_port_number: u32 => "remotePortNumber",
        /// Milliseconds of audio per packet.
        millisecond_packet_size: u32 => "milliSecondPacketSize",
        /// The codec.
        compression_type: PayloadType => "compressionType",
        /// DSCP/precedence (CUCM: 184, EF).
        precedence_value: u32 => "precedenceValue",
        /// Silence suppression, 0 off or 1 on.
        ss_value: u32 => "ssValue",
        /// Frames per packet.
        max_frames_per_packet: u16 => "maxFramesPerPacket",
        /// Padding.
        padding: u16 => "padding",
        /// G.723.1 bit rate (before 11) or codec parameters.
        codec_params: [u8; 4] => "codecParams",
        /// The call.
        call_reference: u32 => "callReference",
        /// SRTP key material, 48 bytes.
        key_info: KeyInfo => "mTxMediaEncryptionKeyInfo",
        /// Stream pass-through id.
        stream_pass_through_id: u32 => "streamPassThroughId",
        /// Associated stream id.
        associated_stream_id: u32 => "associatedStreamId",
        /// RFC 2833 payload type.
        rfc2833_payload_type: u32 => "RFC2833PayloadType",
        /// DTMF type.
        dtmf_type: u32 => "dtmfType",
        /// Mixing mode.
        mixing_mode: Option<u32> => "mixingMode",
        /// Party direction (15 and later).
        party_direction: Option<u32> => "partyDirection",
        /// Latent capabilities (21 and later), 36 bytes.
        latent_caps_info: Option<[u8; 36]> => "latentCapsInfo",
    }
}

body! {
    /// 0x0154, phone → Crossbar: transmission started (optional: IOS analog ports never send it).
    StartMediaTransmissionAck {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The call.
        call_reference: u32 => "callReference",
        /// The address the phone sends from.
        transmit_ip_addr: IpField => "transmitIpAddr",
        /// Its port.
        port_number: u32 => "portNumber",
        /// 0 OK.
        media_transmission_status: Option<MediaStatus> => "mediaTransmissionStatus",
    }
}

body! {
    /// 0x008B, Crossbar → phone: stop sending RTP.
    StopMediaTransmission {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The call.
        call_reference: Option<u32> => "callReference",
        /// 0 close the port, 1 keep it.
        port_handling_flag: Option<u32> => "portHandlingFlag",
    }
}

body! {
    /// 0x002A, phone → Crossbar: transmission failed.
    MediaTransmissionFailure {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The far end.
        remote_ip_addr: IpField => "remoteIpAddr",
        /// Its port.
        remote_port_number: u32 => "remotePortNumber",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0101, Crossbar → phone: join a multicast stream (paging).
    StartMulticastMediaReception {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The group.
        multicast_ip_addr: IpField => "multicastIpAddr",
        /// Its port.
        multicast_port_number: u32 => "multicastPortNumber",
        /// Milliseconds per packet.
        millisecond_packet_size: u32 => "milliSecondPacketSize",
        /// The codec.
        compression_type: PayloadType => "compressionType",
        /// Echo cancellation.
        ec_value: u32 => "ecValue",
        /// Codec parameters.
        codec_params: [u8; 4] => "codecParams",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0102, Crossbar → phone: send to a multicast group (intercom).
    StartMulticastMediaTransmission {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The group.
        multicast_ip_addr: IpField => "multicastIpAddr",
        /// Its port.
        multicast_port_number: u32 => "multicastPortNumber",
        /// Milliseconds per packet.
        millisecond_packet_size: u32 => "milliSecondPacketSize",
        /// The codec.
        compression_type: PayloadType => "compressionType",
        /// DSCP/precedence.
        precedence_value: u32 => "precedenceValue",
        /// Silence suppression.
        ss_value: u32 => "ssValue",
        /// Frames per packet.
        max_frames_per_packet: u16 => "maxFramesPerPacket",
        /// Padding.
        padding: u16 => "padding",
        /// Codec parameters.
        codec_params: [u8; 4] => "codecParams",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x0103 / 0x0104, Crossbar → phone: leave a multicast stream / stop sending to it.
    StopMulticastMedia {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The call.
        call_reference: Option<u32> => "callReference",
    }
}

body! {
    /// 0x014B, Crossbar → phone: reserve a media port.
    PortReq {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The call.
        call_reference: u32 => "callReference",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// 1 RTP, 2 UDP, 3 TCP.
        media_transport_type: u32 => "mediaTransportType",
        /// Address type.
        ip_address_type: u32 => "ipAddressType",
        /// Media type.
        media_type: u32 => "mediaType",
    }
}

body! {
    /// 0x0045, phone → Crossbar: the reserved port.
    PortRes {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The call.
        call_reference: u32 => "callReference",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// The address.
        ip_addr: IpField => "ipAddr",
        /// RTP port.
        port_number: u32 => "portNumber",
        /// RTCP port.
        rtcp_port_number: u32 => "RTCPPortNumber",
        /// Media type (19 and later).
        media_type: Option<u32> => "mediaType",
    }
}

body! {
    /// 0x014C, Crossbar → phone: release a reserved port.
    PortClose {
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The call.
        call_reference: u32 => "callReference",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
        /// Media type.
        media_type: u32 => "mediaType",
    }
}

body! {
    /// 0x0127 NotifyDtmfTone / 0x0128 SendDtmfTone: a DTMF tone out of band.
    DtmfTone {
        /// The tone.
        tone: Tone => "tone",
        /// Conference id.
        conference_id: u32 => "conferenceId",
        /// The media leg.
        pass_thru_party_id: u32 => "passthruPartyID",
    }
}
