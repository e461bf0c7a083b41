//! The audio-manager bodies that are lists or have optional tails: Open Audio Stream, Configure Vocoder
//! Parameters, Mute/Unmute, APB Download and the tone frequency list.
//!
//! Layouts from unistim.md §3.3 "Audio manager" (which follows Wireshark's `audio.h`), checked against
//! the call capture: Open Audio Stream frame 45 (26 bytes, phone 25004/25005 → 131.253.4.134:55278/9),
//! Configure Vocoder frame 45 (`00 00 c0 c2 c5 c7 e0 0050`), Mute/Unmute frame 45 (`01 00 03 00`),
//! APB downloads in startup frames 52-53.

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use super::audio::Vocoder;
use crate::fields::{Fields, Value};
use crate::unistim::body::{Body, Field, describe_trailing};
use crate::wire::{DecodeError, Reader, bytes_of};

/// Open Audio Stream (0x16/0x30): stream ids, vocoders, frames per packet, TOS byte, RTCP bucket, four
/// undocumented bytes, the phone's RTP and RTCP ports, the far end's RTP and RTCP ports and, unless the
/// message stops there, the far end's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAudioStream {
    /// Receive stream id (0xFF = none).
    pub rx_stream_id: u8,
    /// Transmit stream id (0xFF = none).
    pub tx_stream_id: u8,
    /// Receive vocoder.
    pub rx_vocoder: Vocoder,
    /// Transmit vocoder.
    pub tx_vocoder: Vocoder,
    /// Frames per packet (CS2K: 2 frames of 80 bytes of G.711, i.e. 20 ms).
    pub frames_per_packet: u8,
    /// TOS (0x0F), precedence (0x70), FRF.11 (0x80).
    pub tos: u8,
    /// RTCP bucket id.
    pub rtcp_bucket_id: u8,
    /// Four bytes Wireshark leaves undescribed (CS2K `00 00 00 02`; chan_unistim's 22-byte form omits them).
    pub reserved: [u8; 4],
    /// The phone's RTP port.
    pub local_rtp_port: u16,
    /// The phone's RTCP port.
    pub local_rtcp_port: u16,
    /// The far end's RTP port.
    pub far_rtp_port: u16,
    /// The far end's RTCP port.
    pub far_rtcp_port: u16,
    /// The far end's address, if given.
    pub far_address: Option<Ipv4Addr>,
    /// Bytes after the layout (or fewer than four bytes where the address would be).
    pub trailing: Bytes,
}

impl Body for OpenAudioStream {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut s = Self {
            rx_stream_id: r.u8("rx.stream.id")?,
            tx_stream_id: r.u8("tx.stream.id")?,
            rx_vocoder: Vocoder(r.u8("vocoder.id")?),
            tx_vocoder: Vocoder(r.u8("vocoder.id")?),
            frames_per_packet: r.u8("vocoder.frames.per.packet")?,
            tos: r.u8("audio.type.service")?,
            rtcp_bucket_id: r.u8("rtcp.bucket.id")?,
            reserved: r.array("generic.data")?,
            local_rtp_port: r.u16_be("local.rtp.port")?,
            local_rtcp_port: r.u16_be("local.rtcp.port")?,
            far_rtp_port: r.u16_be("far.rtp.port")?,
            far_rtcp_port: r.u16_be("far.rtcp.port")?,
            far_address: None,
            trailing: Bytes::new(),
        };
        if r.left() >= 4 {
            s.far_address = Some(Ipv4Addr::read(r, "far.ip.address")?);
        }
        s.trailing = bytes_of(r.rest());
        Ok(s)
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&[
            self.rx_stream_id,
            self.tx_stream_id,
            self.rx_vocoder.0,
            self.tx_vocoder.0,
            self.frames_per_packet,
            self.tos,
            self.rtcp_bucket_id,
        ]);
        out.put_slice(&self.reserved);
        for p in [
            self.local_rtp_port,
            self.local_rtcp_port,
            self.far_rtp_port,
            self.far_rtcp_port,
        ] {
            out.put_u16(p);
        }
        if let Some(ip) = self.far_address {
            out.put_slice(&ip.octets());
        }
        out.put_slice(&self.trailing);
    }

    fn describe(&self, out: &mut Fields) {
        out.push("rx.stream.id", self.rx_stream_id)
            .push("tx.stream.id", self.tx_stream_id)
            .push("vocoder.id", self.rx_vocoder)
            .push("vocoder.id", self.tx_vocoder)
            .push("vocoder.frames.per.packet", self.frames_per_packet)
            .push("audio.type.service", self.tos & 0x0f)
            .push("audio.precedence", (self.tos >> 4) & 0x07)
            .push("audio.frf.11", self.tos >> 7)
            .push("rtcp.bucket.id", self.rtcp_bucket_id)
            .push("generic.data", self.reserved.to_vec())
            .push("local.rtp.port", self.local_rtp_port)
            .push("local.rtcp.port", self.local_rtcp_port)
            .push("far.rtp.port", self.far_rtp_port)
            .push("far.rtcp.port", self.far_rtcp_port);
        if let Some(ip) = self.far_address {
            out.push("far.ip.address", Value::Ip(ip.into()));
        }
        describe_trailing(out, &self.trailing);
    }
}

/// One parameter of [`ConfigureVocoder`]: a byte with the parameter (0x3F) and entity (0xC0: 1 encoder,
/// 2 decoder, 3 both), and for some parameters a value: 0x0A G.729 annex, 0x0B sample rate, 0x0C RTP
/// payload type (one byte each), 0x20 bytes per frame (two bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VocoderParam {
    /// The parameter byte.
    pub param: u8,
    /// The value, present exactly for the parameters that take one.
    pub value: Option<u16>,
}

impl VocoderParam {
    /// How many value bytes follow a parameter byte.
    pub fn value_len(param: u8) -> usize {
        match param & 0x3f {
            0x0a..=0x0c => 1,
            0x20 => 2,
            _ => 0,
        }
    }
}

/// Configure Vocoder Parameters (0x16/0x38): stream id, vocoder, then parameters. CS2K: PCMU, VAD off,
/// BFI off, post-filter, high-pass filter, 80 bytes per frame (call frame 45).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureVocoder {
    /// The stream.
    pub stream_id: u8,
    /// The vocoder.
    pub vocoder: Vocoder,
    /// The parameters, in order.
    pub params: Vec<VocoderParam>,
}

impl Body for ConfigureVocoder {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let stream_id = r.u8("audio.stream.id")?;
        let vocoder = Vocoder(r.u8("vocoder.id")?);
        let mut params = Vec::new();
        while !r.is_empty() {
            let param = r.u8("vocoder.config.param")?;
            let value = match VocoderParam::value_len(param) {
                1 => Some(u16::from(r.u8("vocoder.param.value")?)),
                2 => Some(r.u16_be("audio.bytes.per.frame")?),
                _ => None,
            };
            params.push(VocoderParam { param, value });
        }
        Ok(Self {
            stream_id,
            vocoder,
            params,
        })
    }

    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.stream_id);
        out.put_u8(self.vocoder.0);
        for p in &self.params {
            out.put_u8(p.param);
            match (VocoderParam::value_len(p.param), p.value) {
                (1, Some(v)) => out.put_u8(v.to_be_bytes()[1]),
                (2, Some(v)) => out.put_u16(v),
                _ => {}
            }
        }
    }

    fn describe(&self, out: &mut Fields) {
        out.push("audio.stream.id", self.stream_id)
            .push("vocoder.id", self.vocoder);
        let list = self
            .params
            .iter()
            .map(|p| {
                let mut f = Fields::new();
                f.push("vocoder.config.param", p.param & 0x3f)
                    .push("vocoder.entity", p.param >> 6);
                if let Some(v) = p.value {
                    f.push("value", v);
                }
                Value::Group(f)
            })
            .collect::<Vec<_>>();
        out.push("params", list);
    }
}

/// One entry of [`MuteUnmute`]: flags (0x01 mute, 0x02 rx rather than tx) and the stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuteEntry {
    /// Mute (0x01) and rx (0x02) bits.
    pub flags: u8,
    /// The stream.
    pub stream_id: u8,
}

/// Mute/Unmute (0x16/0x04): (flags, stream) pairs. CS2K mutes tx and rx before opening a stream
/// (`01 00 03 00`) and unmutes after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteUnmute {
    /// The entries.
    pub entries: Vec<MuteEntry>,
    /// A byte left over after the last pair.
    pub trailing: Bytes,
}

impl Body for MuteUnmute {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut entries = Vec::new();
        while r.left() >= 2 {
            entries.push(MuteEntry {
                flags: r.u8("audio.mute")?,
                stream_id: r.u8("audio.stream.id")?,
            });
        }
        Ok(Self {
            entries,
            trailing: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        for e in &self.entries {
            out.put_u8(e.flags);
            out.put_u8(e.stream_id);
        }
        out.put_slice(&self.trailing);
    }
    fn describe(&self, out: &mut Fields) {
        for e in &self.entries {
            out.push("audio.mute", e.flags & 0x01)
                .push("audio.rx.tx", (e.flags >> 1) & 0x01)
                .push("audio.stream.id", e.stream_id);
        }
        describe_trailing(out, &self.trailing);
    }
}

/// Stream Based Tone Frequency Component List Download (0x16/0x1D): tone id, then 16-bit frequency words
/// (Hz × 8.192: 350 Hz = 0x0B33, 440 Hz = 0x0E14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyList {
    /// The tone id.
    pub tone: u8,
    /// The frequency words.
    pub frequencies: Vec<u16>,
    /// A byte left over after the last word.
    pub trailing: Bytes,
}

impl FrequencyList {
    /// The wire word for a frequency in hertz (Hz × 8.192, rounded down), saturating at 0xFFFF.
    pub fn word_for_hz(hz: u32) -> u16 {
        let scaled = u64::from(hz).saturating_mul(8192) / 1000;
        u16::try_from(scaled).unwrap_or(u16::MAX)
    }
}

impl Body for FrequencyList {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tone = r.u8("stream.tone.id")?;
        let mut frequencies = Vec::new();
        while r.left() >= 2 {
            frequencies.push(r.u16_be("frequency")?);
        }
        Ok(Self {
            tone,
            frequencies,
            trailing: bytes_of(r.rest()),
        })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.tone);
        for f in &self.frequencies {
            out.put_u16(*f);
        }
        out.put_slice(&self.trailing);
    }
    fn describe(&self, out: &mut Fields) {
        out.push("stream.tone.id", self.tone);
        let list = self
            .frequencies
            .iter()
            .map(|f| Value::U(u64::from(*f)))
            .collect::<Vec<_>>();
        out.push("frequencies", list);
        describe_trailing(out, &self.trailing);
    }
}

/// One operation of an [`ApbDownload`]: op-codes above 0x39 carry a length byte and that many data bytes
/// (the rule Wireshark applies), smaller ones stand alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApbOp {
    /// The op-code.
    pub op: u8,
    /// The data, present exactly for op-codes above 0x39 (at most 255 bytes).
    pub data: Option<Bytes>,
}

/// APB (Audio Parameter Bank) Download (0x16/0x28): the APB number, then operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApbDownload {
    /// The APB.
    pub apb: u8,
    /// The operations.
    pub ops: Vec<ApbOp>,
}

impl Body for ApbDownload {
    fn decode(_command: u8, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let apb = r.u8("audio.apb.number")?;
        let mut ops = Vec::new();
        while !r.is_empty() {
            let op = r.u8("audio.apb.op.code")?;
            let data = if op > 0x39 {
                let n = r.u8("apb.param.len")?;
                Some(bytes_of(r.take("apb.operation.data", usize::from(n))?))
            } else {
                None
            };
            ops.push(ApbOp { op, data });
        }
        Ok(Self { apb, ops })
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.apb);
        for o in &self.ops {
            out.put_u8(o.op);
            if let Some(d) = &o.data {
                let n = d.len().min(255);
                out.put_u8(u8::try_from(n).unwrap_or(u8::MAX));
                out.put_slice(d.get(..n).unwrap_or_default());
            }
        }
    }
    fn describe(&self, out: &mut Fields) {
        out.push("audio.apb.number", self.apb);
        for o in &self.ops {
            out.push("audio.apb.op.code", o.op);
            if let Some(d) = &o.data {
                out.push("apb.operation.data", d.to_vec());
            }
        }
    }
}
