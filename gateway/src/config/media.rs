//! `[media]`: how RTP flows between phones.

use std::ops::RangeInclusive;

use super::reader::Section;

/// Whether Crossbar relays media or lets phones send it to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaMode {
    /// RTP passes through Crossbar (works through NAT, hides phone addresses).
    Relay,
    /// Phones send RTP straight to their peer.
    Direct,
}

/// Which first packet the relay's SIP leg latches to (sends back to) instead of the SDP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SipLatching {
    /// Only a packet from the SDP's IP address (any port): the safe default.
    #[default]
    SameIp,
    /// A packet from anywhere: for SIP peers behind NAT that put a private address in SDP.
    Any,
}

/// The validated `[media]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Relay or direct.
    pub mode: MediaMode,
    /// UDP ports the relay may use.
    pub rtp_ports: RangeInclusive<u16>,
    /// How the relay's SIP leg latches (`sip_latching = "same-ip" | "any"`).
    pub sip_latching: SipLatching,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            mode: MediaMode::Relay,
            rtp_ports: 16384..=32767,
            sip_latching: SipLatching::SameIp,
        }
    }
}

/// Parses `LOW-HIGH`: unprivileged ports, at least one RTP/RTCP pair.
pub(super) fn port_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| "expected LOW-HIGH, such as 16384-32767".to_owned())?;
    let port = |s: &str| {
        s.trim()
            .parse::<u16>()
            .map_err(|_| format!("{:?} is not a port number", s.trim()))
    };
    let (low, high) = (port(low)?, port(high)?);
    if low < 1024 {
        return Err("ports below 1024 are privileged".to_owned());
    }
    if high <= low {
        return Err("the range must hold at least two ports (one RTP/RTCP pair)".to_owned());
    }
    Ok(low..=high)
}

pub(super) fn read(mut s: Section<'_, '_>) -> MediaConfig {
    let default = MediaConfig::default();
    let config = MediaConfig {
        mode: s
            .parsed("mode", |mode| match mode {
                "relay" => Ok(MediaMode::Relay),
                "direct" => Ok(MediaMode::Direct),
                _ => Err("expected \"relay\" or \"direct\"".to_owned()),
            })
            .unwrap_or(default.mode),
        rtp_ports: s
            .parsed("rtp_ports", port_range)
            .unwrap_or(default.rtp_ports),
        sip_latching: s
            .parsed("sip_latching", |text| match text {
                "same-ip" => Ok(SipLatching::SameIp),
                "any" => Ok(SipLatching::Any),
                _ => Err("expected \"same-ip\" or \"any\"".to_owned()),
            })
            .unwrap_or(default.sip_latching),
    };
    s.finish();
    config
}
